//! Reading real-world-shaped exports (`tests/fixtures/ics/`: Outlook, Google,
//! Apple), writing the target file, and the providers on real files.

use super::*;
use crate::model::{
    Body, BodyType, EventPayload, EventTime, Marker, Sensitivity, ShowAs, SourceEvent, SourceKey,
    Window,
};
use crate::planner::{self, Create, Delete, DeleteReason, Plan, Update};
use crate::policy::Policy;
use crate::provider::{Applied, InspectableTarget, SourceProvider, TargetProvider};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;

const OUTLOOK: &[u8] = include_bytes!("../../../tests/fixtures/ics/outlook.ics");
const GOOGLE: &[u8] = include_bytes!("../../../tests/fixtures/ics/google.ics");
const APPLE: &[u8] = include_bytes!("../../../tests/fixtures/ics/apple.ics");
const TARGET_WITH_HAND_MADE: &[u8] =
    include_bytes!("../../../tests/fixtures/ics/target-with-hand-made.ics");

const OUTLOOK_SERIES: &str = "040000008200E00074C5B7101A82E00800000000D0A1E2B3C4D5DA01000000000000000010000000A1B2C3D4E5F60718293A4B5C6D7E8F90";
const GOOGLE_STANDUP: &str = "0a1b2c3d4e5f6g7h8i9j0k1l2m@google.com";

fn utc(y: i32, m: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, mi, 0).unwrap()
}

fn at(y: i32, m: u32, d: u32, h: u32, mi: u32) -> EventTime {
    EventTime::Instant(utc(y, m, d, h, mi))
}

fn day(y: i32, m: u32, d: u32) -> EventTime {
    EventTime::Date(NaiveDate::from_ymd_opt(y, m, d).unwrap())
}

/// Autumn 2026, across the end of daylight-saving time in Europe (25
/// October) and North America (1 November).
fn window() -> Window {
    Window {
        start: utc(2026, 10, 1, 0, 0),
        end: utc(2026, 12, 31, 0, 0),
    }
}

fn read(input: &[u8]) -> Vec<SourceEvent> {
    let read = parse_events(input, &window(), "test.ics").unwrap();
    assert!(
        read.unreadable.is_empty(),
        "unreadable events: {:?}",
        read.unreadable
    );
    read.events
}

fn subject<'a>(events: &'a [SourceEvent], s: &str) -> &'a SourceEvent {
    let found: Vec<&SourceEvent> = events.iter().filter(|e| e.subject == s).collect();
    assert_eq!(found.len(), 1, "events with subject {s:?}");
    found[0]
}

fn key<'a>(events: &'a [SourceEvent], k: &SourceKey) -> &'a SourceEvent {
    events
        .iter()
        .find(|e| &e.key == k)
        .unwrap_or_else(|| panic!("no event with key {k}"))
}

fn of_series<'a>(events: &'a [SourceEvent], uid: &str) -> Vec<&'a SourceEvent> {
    let prefix = format!("s:{uid}@");
    events
        .iter()
        .filter(|e| e.key.as_str().starts_with(&prefix))
        .collect()
}

mod apple;
mod google;
mod outlook;
mod properties;
mod providers;
mod rules;
mod target;
