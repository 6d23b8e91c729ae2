use super::*;
use crate::model::{Body, BodyType, Sensitivity, ShowAs};
pub(super) use crate::policy::FilterPolicy;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use proptest::prelude::*;
use regex::Regex;
use std::collections::{BTreeMap, HashMap};

// ---------------------------------------------------------------- helpers

fn ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// `[2024-05-01T00:00Z, 2024-05-31T00:00Z]`.
fn window() -> Window {
    Window::around(day("2024-05-01"), 0, 30)
}

fn at(t: DateTime<Utc>) -> EventTime {
    EventTime::Instant(t)
}

fn key(k: &str) -> SourceKey {
    SourceKey::single(k)
}

/// A public (by default policy) timed source event of one hour.
fn ev(k: &str, start: &str) -> SourceEvent {
    let start = ts(start);
    SourceEvent {
        key: key(k),
        ical_uid: None,
        subject: format!("Event {k}"),
        start: at(start),
        end: at(start + Duration::hours(1)),
        is_all_day: false,
        show_as: ShowAs::Busy,
        sensitivity: Sensitivity::Normal,
        is_cancelled: false,
        categories: vec!["Public".into()],
        location: "Main hall".into(),
        body: Body {
            content_type: BodyType::Html,
            content: "<p>Agenda</p>".into(),
        },
    }
}

fn all_day(k: &str, date: &str) -> SourceEvent {
    let d = day(date);
    SourceEvent {
        start: EventTime::Date(d),
        end: EventTime::Date(d + Duration::days(1)),
        is_all_day: true,
        ..ev(k, "2024-05-10T00:00:00Z")
    }
}

/// A managed copy that is exactly what `policy` wants for `src`.
fn copy_of(src: &SourceEvent, policy: &Policy, id: &str) -> ManagedEvent {
    let p = payload(src, &policy.copy);
    ManagedEvent {
        target_id: id.into(),
        marker: Marker {
            source_key: src.key.clone(),
            content_hash: content_hash(&p),
        },
        current: p,
    }
}

fn pol() -> Policy {
    Policy::default()
}

fn copy_all() -> Policy {
    Policy {
        copy: CopyPolicy {
            location: true,
            body: true,
            categories: true,
        },
        ..Policy::default()
    }
}

fn filter_with(f: impl FnOnce(&mut FilterPolicy)) -> FilterPolicy {
    let mut filter = FilterPolicy::default();
    f(&mut filter);
    filter
}

fn cats(c: &[&str]) -> Vec<String> {
    c.iter().map(|s| s.to_string()).collect()
}

/// A named change to a payload.
type Edit = (&'static str, Box<dyn Fn(&mut EventPayload)>);

fn sample_payload() -> EventPayload {
    EventPayload {
        subject: "Open day".into(),
        start: at(ts("2024-05-10T09:00:00Z")),
        end: at(ts("2024-05-10T17:00:00Z")),
        is_all_day: false,
        show_as: ShowAs::Busy,
        location: "Main hall".into(),
        body: Body {
            content_type: BodyType::Html,
            content: "<p>Welcome</p>".into(),
        },
        categories: cats(&["Public", "Outreach"]),
    }
}

/// Simulates the orchestrator applying `plan` to the target, every write
/// succeeding.
fn apply(managed: &[ManagedEvent], plan: &Plan, next_id: &mut usize) -> Vec<ManagedEvent> {
    let mut out: Vec<ManagedEvent> = managed.to_vec();
    for d in &plan.deletes {
        out.retain(|m| m.target_id != d.target_id);
    }
    for u in &plan.updates {
        for m in out.iter_mut().filter(|m| m.target_id == u.target_id) {
            m.current = u.payload.clone();
            m.marker = u.marker.clone();
        }
    }
    for c in &plan.creates {
        *next_id += 1;
        out.push(ManagedEvent {
            target_id: format!("new{next_id:04}"),
            marker: c.marker.clone(),
            current: c.payload.clone(),
        });
    }
    out
}

mod filter;
mod guard;
mod hash;
mod payload;
mod plan;
mod properties;
mod skip;
