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

// ------------------------------------------------------------------ Outlook

#[test]
fn outlook_windows_tzids_resolve_to_exact_instants() {
    let ev = read(OUTLOOK);
    let tokyo = subject(&ev, "Supplier call (Tokyo)");
    assert_eq!(tokyo.start, at(2026, 11, 10, 9, 0));
    assert_eq!(tokyo.end, at(2026, 11, 10, 10, 0));
    let pacific = subject(&ev, "CANARY-OUTLOOK-CONFIDENTIAL-SUBJECT");
    // 08:00 PDT, a week before the US change.
    assert_eq!(pacific.start, at(2026, 10, 20, 15, 0));
    let berlin = subject(&ev, "Lunch talk");
    assert_eq!(berlin.start, at(2026, 12, 1, 11, 0));
    assert_eq!(
        berlin.key,
        SourceKey::single(
            "040000008200E00074C5B7101A82E0080000000058A9B0C1D2E3DA010000000000000000100000008899001122334455AABBCCDDEEFF0066"
        )
    );
    assert!(!berlin.is_all_day);
}

#[test]
fn outlook_customized_time_zone_is_read_from_its_vtimezone_rules() {
    let ev = read(OUTLOOK);
    // +03:00 before the last Sunday of October, +02:00 after it.
    assert_eq!(
        subject(&ev, "Helsinki office visit").start,
        at(2026, 10, 20, 7, 0)
    );
    assert_eq!(
        subject(&ev, "Helsinki office visit (second day)").start,
        at(2026, 10, 30, 8, 0)
    );
}

#[test]
fn outlook_busy_status_refines_show_as() {
    let ev = read(OUTLOOK);
    assert_eq!(
        subject(&ev, "Supplier call (Tokyo)").show_as,
        ShowAs::Tentative
    );
    assert_eq!(subject(&ev, "Office closed").show_as, ShowAs::Oof);
    assert_eq!(
        subject(&ev, "Facilities team at the Hamburg site").show_as,
        ShowAs::WorkingElsewhere
    );
    assert_eq!(subject(&ev, "Lunch talk").show_as, ShowAs::Free);
    assert_eq!(subject(&ev, "Helsinki office visit").show_as, ShowAs::Busy);
}

#[test]
fn outlook_class_private_and_confidential_are_not_public() {
    let ev = read(OUTLOOK);
    assert_eq!(
        subject(&ev, "CANARY-OUTLOOK-PRIVATE-SUBJECT").sensitivity,
        Sensitivity::Private
    );
    assert_eq!(
        subject(&ev, "CANARY-OUTLOOK-CONFIDENTIAL-SUBJECT").sensitivity,
        Sensitivity::Confidential
    );
    assert_eq!(subject(&ev, "Lunch talk").sensitivity, Sensitivity::Normal);
}

#[test]
fn outlook_all_day_event_is_a_date_range() {
    let ev = read(OUTLOOK);
    let closed = subject(&ev, "Office closed");
    assert!(closed.is_all_day);
    assert_eq!(closed.start, day(2026, 12, 24));
    assert_eq!(closed.end, day(2026, 12, 27));
}

#[test]
fn outlook_series_with_exdates_moved_cancelled_and_moved_in_and_out_instances() {
    let ev = read(OUTLOOK);
    let series = of_series(&ev, OUTLOOK_SERIES);
    let got: Vec<(String, EventTime, &str, bool)> = series
        .iter()
        .map(|e| {
            (
                e.key.as_str().rsplit('@').next().unwrap().to_string(),
                e.start,
                e.subject.as_str(),
                e.is_cancelled,
            )
        })
        .collect();
    let update = "Facilities update";
    assert_eq!(
        got,
        vec![
            // Moved into the window from 28 September.
            (
                "20260928T070000Z".into(),
                at(2026, 10, 2, 8, 0),
                "Facilities update (Friday)",
                false
            ),
            (
                "20261005T070000Z".into(),
                at(2026, 10, 5, 7, 0),
                update,
                false
            ),
            (
                "20261012T070000Z".into(),
                at(2026, 10, 12, 7, 0),
                update,
                false
            ),
            (
                "20261019T070000Z".into(),
                at(2026, 10, 19, 7, 0),
                update,
                false
            ),
            // 09:00 local after the change: 08:00Z.
            (
                "20261026T080000Z".into(),
                at(2026, 10, 26, 8, 0),
                update,
                false
            ),
            // 2 and 9 November are EXDATEs; 16 November moved to Tuesday.
            (
                "20261116T080000Z".into(),
                at(2026, 11, 17, 13, 0),
                "Facilities update (Tuesday)",
                false
            ),
            (
                "20261123T080000Z".into(),
                at(2026, 11, 23, 8, 0),
                "Canceled: Facilities update",
                true
            ),
            (
                "20261130T080000Z".into(),
                at(2026, 11, 30, 8, 0),
                update,
                false
            ),
            (
                "20261207T080000Z".into(),
                at(2026, 12, 7, 8, 0),
                update,
                false
            ),
            (
                "20261214T080000Z".into(),
                at(2026, 12, 14, 8, 0),
                update,
                false
            ),
            // 21 December moved to 5 January, out of the window.
        ]
    );
    let first = key(
        &ev,
        &SourceKey::occurrence(OUTLOOK_SERIES, utc(2026, 10, 5, 7, 0)),
    );
    assert_eq!(first.end, at(2026, 10, 5, 8, 0));
    assert_eq!(first.location, "Room 4.12");
    assert_eq!(first.categories, ["Blue Category", "Public"]);
    assert_eq!(
        first.body,
        Body {
            content_type: BodyType::Text,
            content: "Weekly facilities update.\nAgenda in the shared folder.\n".into()
        }
    );
}

#[test]
fn weekly_berlin_meeting_stays_at_nine_local_across_the_dst_change() {
    let ev = read(GOOGLE);
    let berlin = chrono_tz::Europe::Berlin;
    let standup: Vec<&SourceEvent> = of_series(&ev, GOOGLE_STANDUP)
        .into_iter()
        .filter(|e| e.subject == "Public stand-up")
        .collect();
    assert!(standup.len() >= 5);
    for e in &standup {
        let EventTime::Instant(t) = e.start else {
            panic!("timed")
        };
        assert_eq!(
            t.with_timezone(&berlin).format("%H:%M").to_string(),
            "09:00"
        );
    }
    assert_eq!(standup[0].start, at(2026, 10, 5, 7, 0));
    assert_eq!(standup[1].start, at(2026, 10, 26, 8, 0));
}

// ------------------------------------------------------------------ Google

#[test]
fn google_utc_until_and_utc_exdate() {
    let ev = read(GOOGLE);
    let starts: Vec<EventTime> = of_series(&ev, GOOGLE_STANDUP)
        .iter()
        .map(|e| e.start)
        .collect();
    assert_eq!(
        starts,
        vec![
            at(2026, 10, 5, 7, 0),
            // 12 October (EXDATE with TZID) and 19 October (EXDATE in UTC) are gone.
            at(2026, 10, 26, 8, 0),
            at(2026, 11, 3, 9, 0),
            at(2026, 11, 9, 8, 0),
            at(2026, 11, 16, 8, 0),
            at(2026, 11, 23, 8, 0),
            at(2026, 11, 30, 8, 0),
            // UNTIL=20261214T075959Z ends the series before 14 December 08:00Z.
            at(2026, 12, 7, 8, 0),
        ]
    );
}

#[test]
fn google_override_and_cancelled_instance() {
    let ev = read(GOOGLE);
    let moved = key(
        &ev,
        &SourceKey::occurrence(GOOGLE_STANDUP, utc(2026, 11, 2, 8, 0)),
    );
    assert_eq!(moved.subject, "Public stand-up (Tuesday this week)");
    assert_eq!(moved.start, at(2026, 11, 3, 9, 0));
    assert_eq!(moved.end, at(2026, 11, 3, 9, 30));
    let cancelled = key(
        &ev,
        &SourceKey::occurrence(GOOGLE_STANDUP, utc(2026, 11, 9, 8, 0)),
    );
    assert!(cancelled.is_cancelled);
    let cancelled_single = subject(&ev, "CANARY-GOOGLE-CANCELLED-SUBJECT");
    assert!(cancelled_single.is_cancelled);
    assert_eq!(cancelled_single.sensitivity, Sensitivity::Normal);
}

#[test]
fn google_x_wr_timezone_applies_to_floating_times() {
    let ev = read(GOOGLE);
    let market = subject(&ev, "Christmas market visit");
    assert_eq!(market.start, at(2026, 12, 1, 17, 0));
    assert_eq!(market.end, at(2026, 12, 1, 19, 0));
}

#[test]
fn google_escaped_commas_and_folded_lines() {
    let ev = read(GOOGLE);
    let open = subject(&ev, "Open evening, autumn edition");
    assert_eq!(
        open.key,
        SourceKey::single("5k2j3h4g5f6d7s8a9p0o1i2u3y@google.com")
    );
    assert_eq!(open.location, "Main Hall, Building 2, 10115 Berlin");
    assert_eq!(
        open.body.content,
        "Talks, demos and drinks – Café Grüße from the whole team. Bring a friend!\n\
         Registration: https://example.org/register?event=open-evening&lang=en\n\nAll welcome; no fee."
    );
    assert_eq!(open.start, at(2026, 11, 5, 17, 0));
    assert_eq!(open.end, at(2026, 11, 5, 19, 0));
}

#[test]
fn google_all_day_events_and_yearly_series_keyed_at_midnight_utc() {
    let ev = read(GOOGLE);
    let unity = subject(&ev, "Day of German Unity (centre closed)");
    assert!(unity.is_all_day);
    assert_eq!(
        (unity.start, unity.end),
        (day(2026, 10, 3), day(2026, 10, 4))
    );
    assert_eq!(unity.show_as, ShowAs::Free);
    let eve = subject(&ev, "Christmas Eve");
    assert_eq!(
        eve.key,
        SourceKey::occurrence(
            "7x8y9z0a1b2c3d4e5f6g7h8i9j@google.com",
            utc(2026, 12, 24, 0, 0)
        )
    );
    assert_eq!((eve.start, eve.end), (day(2026, 12, 24), day(2026, 12, 25)));
    assert_eq!(
        subject(&ev, "CANARY-GOOGLE-PRIVATE-SUBJECT").sensitivity,
        Sensitivity::Private
    );
}

// ------------------------------------------------------------------ Apple

#[test]
fn apple_quoted_tzid_and_lf_line_ends() {
    let ev = read(APPLE);
    let bake = subject(&ev, "Bake sale");
    // 10:00 EST, after the US change on 1 November.
    assert_eq!(bake.start, at(2026, 11, 7, 15, 0));
    assert_eq!(bake.end, at(2026, 11, 7, 17, 0));
    assert_eq!(bake.location, "Community Center\n42 Main St, Springfield");
    assert_eq!(
        bake.key,
        SourceKey::single("3F2504E0-4F89-11D3-9A0C-0305E82C3301")
    );
}

#[test]
fn apple_repeated_categories_are_one_list() {
    let ev = read(APPLE);
    assert_eq!(
        subject(&ev, "Bake sale").categories,
        ["Club", "Food", "Outdoor"]
    );
}

#[test]
fn apple_duration_for_timed_and_all_day_events() {
    let ev = read(APPLE);
    let concert = subject(&ev, "Autumn concert");
    assert_eq!(concert.start, at(2026, 10, 21, 23, 0));
    assert_eq!(concert.end, at(2026, 10, 22, 0, 30));
    // Folded with a tab.
    assert_eq!(
        concert.body.content,
        "Program: Brahms, Fauré.\nDoors open 18:30."
    );
    let retreat = subject(&ev, "Choir retreat");
    assert!(retreat.is_all_day);
    assert_eq!(
        (retreat.start, retreat.end),
        (day(2026, 11, 28), day(2026, 11, 30))
    );
    assert_eq!(retreat.show_as, ShowAs::Free);
}

#[test]
fn all_day_event_without_dtend_lasts_one_day() {
    let ev = read(APPLE);
    let sale = subject(&ev, "Ticket sale opens");
    assert_eq!((sale.start, sale.end), (day(2026, 12, 1), day(2026, 12, 2)));
}

#[test]
fn apple_all_day_series_with_rdate_and_exdate_value_date() {
    let ev = read(APPLE);
    let uid = "C3D4E5F6-A7B8-4911-AA00-CCDDEEFF0011";
    let got: Vec<(SourceKey, EventTime, EventTime)> = of_series(&ev, uid)
        .iter()
        .map(|e| (e.key.clone(), e.start, e.end))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                SourceKey::occurrence(uid, utc(2026, 10, 5, 0, 0)),
                day(2026, 10, 5),
                day(2026, 10, 6)
            ),
            (
                SourceKey::occurrence(uid, utc(2026, 11, 20, 0, 0)),
                day(2026, 11, 20),
                day(2026, 11, 21)
            ),
            (
                SourceKey::occurrence(uid, utc(2026, 12, 5, 0, 0)),
                day(2026, 12, 5),
                day(2026, 12, 6)
            ),
        ]
    );
}

#[test]
fn apple_count_series_and_rdate_period() {
    let ev = read(APPLE);
    let uid = "D4E5F6A7-B8C9-4A11-BB00-DDEEFF001122";
    let got: Vec<(EventTime, EventTime)> = of_series(&ev, uid)
        .iter()
        .map(|e| (e.start, e.end))
        .collect();
    assert_eq!(
        got,
        vec![
            (at(2026, 10, 6, 23, 0), at(2026, 10, 7, 1, 0)),
            (at(2026, 10, 13, 23, 0), at(2026, 10, 14, 1, 0)),
            (at(2026, 10, 20, 23, 0), at(2026, 10, 21, 1, 0)),
            // The RDATE period keeps its own end.
            (at(2026, 12, 15, 23, 0), at(2026, 12, 16, 2, 0)),
        ]
    );
}

#[test]
fn custom_tzid_through_x_lic_location_and_slash_prefixed_tzid() {
    let ev = read(APPLE);
    assert_eq!(subject(&ev, "Board meeting").start, at(2026, 11, 12, 23, 0));
    assert_eq!(
        subject(&ev, "Sheet music swap").start,
        at(2026, 10, 19, 22, 30)
    );
}

#[test]
fn unknown_class_is_never_public() {
    let ev = read(APPLE);
    assert_eq!(
        subject(&ev, "CANARY-APPLE-XCLASS-SUBJECT").sensitivity,
        Sensitivity::Private
    );
    assert_eq!(subject(&ev, "Bake sale").sensitivity, Sensitivity::Normal);
}

// ------------------------------------------------------------ general rules

fn summary(ev: &[SourceEvent]) -> Vec<(SourceKey, EventTime, EventTime, String, bool)> {
    ev.iter()
        .map(|e| {
            (
                e.key.clone(),
                e.start,
                e.end,
                e.subject.clone(),
                e.is_cancelled,
            )
        })
        .collect()
}

#[test]
fn crlf_and_lf_files_read_the_same() {
    let crlf = read(OUTLOOK);
    let lf = String::from_utf8(OUTLOOK.to_vec())
        .unwrap()
        .replace("\r\n", "\n");
    assert!(!lf.contains('\r'));
    assert_eq!(summary(&crlf), summary(&read(lf.as_bytes())));
    let apple_crlf = String::from_utf8(APPLE.to_vec())
        .unwrap()
        .replace('\n', "\r\n");
    assert_eq!(summary(&read(APPLE)), summary(&read(apple_crlf.as_bytes())));
}

#[test]
fn keys_are_stable_across_re_exports() {
    // A new export: other stamps, sequence numbers and event order.
    let text = String::from_utf8(OUTLOOK.to_vec()).unwrap();
    let first = text.find("BEGIN:VEVENT").unwrap();
    let end = text.find("END:VCALENDAR").unwrap();
    let mut blocks: Vec<String> = text[first..end]
        .split_inclusive("END:VEVENT\r\n")
        .map(str::to_string)
        .collect();
    blocks.reverse();
    let again = format!("{}{}END:VCALENDAR\r\n", &text[..first], blocks.concat())
        .replace("DTSTAMP:20260901T120000Z", "DTSTAMP:20261002T081500Z")
        .replace("SEQUENCE:1", "SEQUENCE:4");
    let mut a: Vec<SourceKey> = read(OUTLOOK).into_iter().map(|e| e.key).collect();
    let mut b: Vec<SourceKey> = read(again.as_bytes()).into_iter().map(|e| e.key).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
}

fn one_event(lines: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//test//EN\r\nBEGIN:VEVENT\r\n{}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        lines.trim().replace('\n', "\r\n")
    )
}

#[test]
fn window_ends_are_both_included() {
    let file = format!(
        "{}{}",
        one_event("UID:a\nDTSTART:20261001T000000Z\nSUMMARY:at start"),
        one_event(
            "UID:b\nDTSTART:20261231T000000Z\nSUMMARY:at end\nEND:VEVENT\nBEGIN:VEVENT\n\
             UID:c\nDTSTART:20261231T000001Z\nSUMMARY:after end\nEND:VEVENT\nBEGIN:VEVENT\n\
             UID:d\nDTSTART:20260930T235959Z\nSUMMARY:before start"
        )
    );
    let ev = read(file.as_bytes());
    let subjects: Vec<&str> = ev.iter().map(|e| e.subject.as_str()).collect();
    assert_eq!(subjects, ["at start", "at end"]);
    // A timed event without DTEND or DURATION lasts no time.
    assert_eq!(ev[0].end, ev[0].start);
}

/// The one unreadable event of a file, which must hold nothing else.
fn only_unreadable(file: &str, origin: &str) -> IcsError {
    let read = parse_events(file.as_bytes(), &window(), origin).unwrap();
    assert!(read.events.is_empty(), "{:?}", read.events);
    assert_eq!(read.unreadable.len(), 1, "{:?}", read.unreadable);
    read.unreadable.into_iter().next().unwrap()
}

#[test]
fn unknown_tzid_makes_the_event_unreadable_naming_the_tzid_and_line() {
    let file =
        one_event("UID:x\nDTSTART;TZID=Mars/Olympus_Mons:20261101T090000\nSUMMARY:CANARY-SECRET");
    let e = only_unreadable(&file, "mars.ics");
    let text = e.to_string();
    assert_eq!(e.line, Some(6), "{text}");
    assert!(text.starts_with("mars.ics, line 6"), "{text}");
    assert!(text.contains("Mars/Olympus_Mons"), "{text}");
    assert!(text.contains("UID \"x\""), "{text}");
    assert!(!text.contains("CANARY"), "{text}");
}

#[test]
fn an_event_without_dtstart_or_uid_is_unreadable_naming_its_uid_or_line() {
    let e = only_unreadable(
        &one_event("UID:no-start\nSUMMARY:CANARY-SECRET\nDESCRIPTION:CANARY-BODY"),
        "f.ics",
    );
    assert_eq!(e.uid.as_deref(), Some("no-start"));
    assert!(e.to_string().contains("DTSTART"), "{e}");
    assert!(!e.to_string().contains("CANARY"), "{e}");
    let e = only_unreadable(
        &one_event("UID:bad-start\nDTSTART:soon\nSUMMARY:CANARY-SECRET"),
        "f.ics",
    );
    assert_eq!(e.line, Some(6));
    assert!(!e.to_string().contains("CANARY"), "{e}");
    let e = only_unreadable(
        &one_event("DTSTART:20261101T090000Z\nSUMMARY:CANARY-SECRET"),
        "f.ics",
    );
    assert!(e.to_string().contains("no UID"), "{e}");
    assert_eq!(e.line, Some(4));
    assert_eq!(e.uid, None);
}

#[test]
fn a_file_that_is_not_icalendar_is_an_error() {
    let e = parse_events(
        b"<html><body>Sign in</body></html>",
        &window(),
        "https://x/cal.ics",
    )
    .unwrap_err();
    assert_eq!(e.line, Some(1));
    assert!(e.to_string().contains("not an iCalendar file"), "{e}");
    let e = parse_events(b"", &window(), "empty.ics").unwrap_err();
    assert!(e.to_string().contains("empty"), "{e}");
    // Truncated in the middle of an event.
    let cut = &GOOGLE[..GOOGLE.len() / 2];
    let e = parse_events(cut, &window(), "google.ics").unwrap_err();
    assert!(e.to_string().contains("truncated"), "{e}");
}

#[test]
fn a_rule_without_end_is_bounded() {
    let file = one_event("UID:dense\nDTSTART:19900101T000000Z\nRRULE:FREQ=SECONDLY\nSUMMARY:x");
    let e = only_unreadable(&file, "f.ics");
    assert_eq!(e.uid.as_deref(), Some("dense"));
    assert_eq!(e.line, Some(7), "the RRULE's own line: {e}");
    assert!(e.to_string().contains("instances"), "{e}");
    // A daily rule from long ago with no end is fine: it stops at the window.
    let file = one_event("UID:daily\nDTSTART:19900101T090000Z\nRRULE:FREQ=DAILY\nSUMMARY:x");
    assert_eq!(read(file.as_bytes()).len(), 91);
}

#[test]
fn a_cancelled_series_gives_cancelled_instances_and_an_override_takes_the_series_class() {
    let file = one_event(
        "UID:s\nDTSTART:20261001T090000Z\nRRULE:FREQ=DAILY;COUNT=3\nCLASS:PRIVATE\nSTATUS:CANCELLED\n\
         SUMMARY:x\nEND:VEVENT\nBEGIN:VEVENT\nUID:s\nRECURRENCE-ID:20261002T090000Z\n\
         DTSTART:20261002T100000Z\nSUMMARY:y",
    );
    let ev = read(file.as_bytes());
    assert_eq!(ev.len(), 3);
    assert!(ev.iter().all(|e| e.sensitivity == Sensitivity::Private));
    assert!(ev[0].is_cancelled && ev[2].is_cancelled);
    assert!(!ev[1].is_cancelled);
    // Without its own DTEND the override lasts as long as the series.
    assert_eq!(ev[1].start, at(2026, 10, 2, 10, 0));
    assert_eq!(ev[1].end, ev[1].start);
}

// ------------------------------------------------------------------ target

fn payload(subject: &str, start: EventTime, end: EventTime) -> EventPayload {
    EventPayload {
        subject: subject.to_string(),
        start,
        end,
        is_all_day: matches!(start, EventTime::Date(_)),
        show_as: ShowAs::Busy,
        location: String::new(),
        body: Body::default(),
        categories: vec![],
    }
}

fn copy_of(key: &str, p: EventPayload) -> IcsCopy {
    let key = SourceKey(key.to_string());
    IcsCopy {
        uid: copy_uid(&key),
        marker: Marker {
            content_hash: planner::content_hash(&p),
            source_key: key,
        },
        payload: p,
        dtstamp: utc(2026, 9, 1, 12, 0),
        sequence: 0,
    }
}

fn sample_copies() -> Vec<IcsCopy> {
    let mut rich = payload(
        "Ünïcödé summary that is long enough to need folding, with; commas, and \\ backslashes",
        at(2026, 11, 5, 17, 0),
        at(2026, 11, 5, 19, 0),
    );
    rich.location = "Main Hall, Building 2\nBerlin".into();
    rich.body = Body {
        content_type: BodyType::Html,
        content: "<p>Talks &amp; demos</p><p>€ 5 entry – «all» welcome</p>".into(),
    };
    rich.categories = vec!["Public".into(), "Talks, demos".into()];
    rich.show_as = ShowAs::Tentative;
    let mut free = payload("Holiday", day(2026, 12, 24), day(2026, 12, 27));
    free.show_as = ShowAs::Free;
    let mut unknown = payload("Odd", at(2026, 10, 2, 8, 0), at(2026, 10, 2, 9, 0));
    unknown.show_as = ShowAs::Unknown;
    unknown.body = Body {
        content_type: BodyType::Text,
        content: "Line one\nLine two".into(),
    };
    vec![
        copy_of("i:open-evening", rich),
        copy_of("s:series@20261224T000000Z", free),
        copy_of("i:odd", unknown),
    ]
}

fn calendar(copies: &[IcsCopy]) -> TargetCalendar {
    let mut cal = TargetCalendar::new();
    for c in copies {
        cal.insert(c.clone());
    }
    cal
}

#[test]
fn rendered_target_is_rfc_5545_shaped() {
    let text = calendar(&sample_copies()).render("Public events");
    assert!(text.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calsync//calsync "));
    assert!(
        text.contains("\r\nCALSCALE:GREGORIAN\r\nMETHOD:PUBLISH\r\nX-WR-CALNAME:Public events\r\n")
    );
    assert!(text.ends_with("END:VCALENDAR\r\n"));
    for line in text.split_inclusive('\n') {
        assert!(line.ends_with("\r\n"), "{line:?}");
        assert!(line.len() - 2 <= 75, "{} octets: {line:?}", line.len() - 2);
    }
    let doc = doc::Document::parse(text.as_bytes(), "t").unwrap();
    let events: Vec<_> = doc
        .items
        .iter()
        .filter(|i| i.name == "VEVENT")
        .map(|i| doc::Document::component(text.as_bytes(), i))
        .collect();
    assert_eq!(events.len(), 3);
    for e in &events {
        for required in ["UID", "DTSTAMP", "DTSTART", "DTEND", "SUMMARY", "SEQUENCE"] {
            assert!(e.prop(required).is_some(), "{required}");
        }
        assert!(e.value("UID").unwrap().ends_with("@calsync"));
    }
    // The crate's strict parser accepts it too.
    let unfolded = icalendar::parser::unfold(&text);
    let parsed = icalendar::parser::read_calendar(&unfolded).unwrap();
    assert_eq!(parsed.components.len(), 3);
    // Sorted by start: the 2 October copy comes first.
    assert!(text.find("SUMMARY:Odd").unwrap() < text.find("SUMMARY:Ünïcödé").unwrap());
    assert!(text.contains("DTSTART;VALUE=DATE:20261224\r\nDTEND;VALUE=DATE:20261227\r\n"));
    assert!(text.contains("DTSTART:20261002T080000Z\r\n"));
    assert!(text.contains("X-ALT-DESC;FMTTYPE=text/html:"));
    assert!(text.contains("CATEGORIES:Public,Talks\\, demos\r\n"));
    assert!(text.contains("TRANSP:TRANSPARENT\r\n"));
}

#[test]
fn fields_the_payload_leaves_empty_are_not_written() {
    let text = calendar(&[copy_of(
        "i:x",
        payload(
            "Only a subject",
            at(2026, 10, 2, 8, 0),
            at(2026, 10, 2, 9, 0),
        ),
    )])
    .render("c");
    for absent in [
        "LOCATION",
        "DESCRIPTION",
        "X-ALT-DESC",
        "CATEGORIES",
        "ATTENDEE",
        "ORGANIZER",
    ] {
        assert!(!text.contains(absent), "{absent}");
    }
}

#[test]
fn round_trip_render_then_read_back() {
    let copies = sample_copies();
    let text = calendar(&copies).render("Public events");
    let back = TargetCalendar::parse(text.as_bytes(), "t").unwrap();
    let mut want: Vec<IcsCopy> = copies.clone();
    want.sort_by_key(|c| (c.payload.start.as_utc(), c.uid.clone()));
    let got: Vec<IcsCopy> = back.copies().into_iter().cloned().collect();
    assert_eq!(got, want);
    let managed = back.managed();
    assert_eq!(managed.len(), 3);
    for (m, c) in managed.iter().zip(&want) {
        assert_eq!(m.target_id, c.uid);
        assert_eq!(m.marker, c.marker);
        assert_eq!(m.current, c.payload);
    }
    // What validate sees of them.
    let inspected = back.inspected();
    assert!(
        inspected
            .iter()
            .all(|i| i.attendees == 0 && !i.online_meeting)
    );
    assert_eq!(
        inspected.iter().filter(|i| i.has_body).count(),
        2,
        "the HTML and the text body"
    );
}

#[test]
fn rendering_is_deterministic_and_a_re_read_renders_the_same_bytes() {
    let copies = sample_copies();
    let mut reversed = copies.clone();
    reversed.reverse();
    let a = calendar(&copies).render("Public events");
    let b = calendar(&reversed).render("Public events");
    assert_eq!(a, b);
    let again = TargetCalendar::parse(a.as_bytes(), "t")
        .unwrap()
        .render("Public events");
    assert_eq!(a, again);
}

#[test]
fn copy_uids_are_stable_and_distinct() {
    let k = SourceKey::single("abc");
    assert_eq!(copy_uid(&k), copy_uid(&SourceKey::single("abc")));
    assert_ne!(copy_uid(&k), copy_uid(&SourceKey::single("abd")));
    assert_eq!(copy_uid(&k).len(), 32 + "@calsync".len());
}

fn create(key: &str, p: EventPayload) -> Create {
    let key = SourceKey(key.to_string());
    let hash = planner::content_hash(&p);
    Create {
        key: key.clone(),
        payload: p,
        marker: Marker {
            source_key: key,
            content_hash: hash,
        },
    }
}

#[test]
fn apply_reports_each_write_and_stamps_only_what_it_rewrites() {
    let copies = sample_copies();
    let mut cal = calendar(&copies);
    let text = cal.render("c");
    cal = TargetCalendar::parse(text.as_bytes(), "t").unwrap();
    let now = utc(2026, 10, 3, 7, 30);
    let new = create(
        "i:new",
        payload("New", at(2026, 10, 20, 10, 0), at(2026, 10, 20, 11, 0)),
    );
    let mut changed = copies[0].payload.clone();
    changed.subject = "Open evening (moved)".into();
    let plan = Plan {
        creates: vec![new.clone()],
        updates: vec![Update {
            target_id: copies[0].uid.clone(),
            key: copies[0].marker.source_key.clone(),
            marker: Marker {
                source_key: copies[0].marker.source_key.clone(),
                content_hash: planner::content_hash(&changed),
            },
            payload: changed.clone(),
        }],
        deletes: vec![
            Delete {
                target_id: copies[2].uid.clone(),
                key: copies[2].marker.source_key.clone(),
                start: copies[2].payload.start,
                subject: copies[2].payload.subject.clone(),
                reason: DeleteReason::SourceGone,
            },
            Delete {
                target_id: "gone@calsync".into(),
                key: SourceKey::single("gone"),
                start: at(2026, 10, 9, 0, 0),
                subject: "Gone".into(),
                reason: DeleteReason::SourceGone,
            },
        ],
        ..Plan::default()
    };
    let report = cal.apply(&plan, now);
    assert_eq!((report.created, report.updated, report.deleted), (1, 1, 2));
    assert!(report.failures.is_empty());
    assert_eq!(
        report.done,
        vec![
            Applied::Created {
                target_id: copy_uid(&new.key),
                marker: new.marker.clone()
            },
            Applied::Updated {
                target_id: copies[0].uid.clone(),
                marker: plan.updates[0].marker.clone()
            },
            Applied::Deleted {
                target_id: copies[2].uid.clone(),
                key: copies[2].marker.source_key.clone()
            },
            Applied::Deleted {
                target_id: "gone@calsync".into(),
                key: SourceKey::single("gone")
            },
        ]
    );
    let after = TargetCalendar::parse(cal.render("c").as_bytes(), "t").unwrap();
    let by_uid = |uid: &str| {
        after
            .copies()
            .into_iter()
            .find(|c| c.uid == uid)
            .cloned()
            .unwrap()
    };
    let updated = by_uid(&copies[0].uid);
    assert_eq!((updated.sequence, updated.dtstamp), (1, now));
    assert_eq!(updated.payload, changed);
    let created = by_uid(&copy_uid(&new.key));
    assert_eq!((created.sequence, created.dtstamp), (0, now));
    let untouched = by_uid(&copies[1].uid);
    assert_eq!(
        (untouched.sequence, untouched.dtstamp),
        (0, utc(2026, 9, 1, 12, 0))
    );
    assert_eq!(after.copies().len(), 3);

    // An update of a copy that is no longer there fails, and writes nothing.
    let mut again = after.clone();
    let mut stale = plan.updates[0].clone();
    stale.target_id = "missing@calsync".into();
    let report = again.apply(
        &Plan {
            updates: vec![stale],
            ..Plan::default()
        },
        now,
    );
    assert_eq!(report.updated, 0);
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.failures[0].action, "update");
    assert_eq!(again.render("c"), after.render("c"));
}

#[test]
fn a_created_copy_replaces_its_own_out_of_window_copy_but_never_a_hand_made_event() {
    let hand_uid = copy_uid(&SourceKey::single("clash"));
    let file = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:{hand_uid}\r\nDTSTART:20261101T090000Z\r\n\
         SUMMARY:By hand\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    let mut cal = TargetCalendar::parse(file.as_bytes(), "t").unwrap();
    let old = copy_of(
        "i:moved",
        payload("Moved", at(2026, 1, 5, 9, 0), at(2026, 1, 5, 10, 0)),
    );
    cal.insert(IcsCopy {
        sequence: 4,
        ..old.clone()
    });
    let plan = Plan {
        creates: vec![
            create(
                "i:clash",
                payload("Clash", at(2026, 11, 2, 9, 0), at(2026, 11, 2, 10, 0)),
            ),
            create(
                "i:moved",
                payload("Moved", at(2026, 11, 3, 9, 0), at(2026, 11, 3, 10, 0)),
            ),
        ],
        ..Plan::default()
    };
    let report = cal.apply(&plan, utc(2026, 10, 3, 0, 0));
    let ids: Vec<String> = report
        .done
        .iter()
        .map(|d| match d {
            Applied::Created { target_id, .. } => target_id.clone(),
            _ => panic!("only creates"),
        })
        .collect();
    assert_ne!(ids[0], hand_uid);
    assert!(ids[0].ends_with("-2@calsync"), "{}", ids[0]);
    assert_eq!(ids[1], old.uid);
    let copies = cal.copies();
    assert_eq!(copies.len(), 2);
    let moved = copies.iter().find(|c| c.uid == old.uid).unwrap();
    assert_eq!(moved.sequence, 5);
    assert_eq!(moved.payload.start, at(2026, 11, 3, 9, 0));
    assert!(cal.render("c").contains("SUMMARY:By hand\r\n"));
}

#[test]
fn hand_made_events_are_never_managed() {
    let cal = TargetCalendar::parse(TARGET_WITH_HAND_MADE, "target.ics").unwrap();
    let managed = cal.managed();
    assert_eq!(managed.len(), 1);
    assert_eq!(managed[0].marker.source_key, SourceKey::single("managed-1"));
    assert_eq!(managed[0].current.start, at(2026, 11, 5, 17, 0));
    // The copy someone added an attendee and a meeting link to, by hand.
    let inspected = cal.inspected();
    assert_eq!(inspected[0].attendees, 1);
    assert!(inspected[0].online_meeting);
    assert!(!inspected[0].has_body);
}

#[test]
fn managed_in_filters_by_start() {
    let cal = calendar(&sample_copies());
    let w = Window {
        start: utc(2026, 10, 3, 0, 0),
        end: utc(2026, 12, 24, 0, 0),
    };
    let starts: Vec<EventTime> = cal.managed_in(&w).iter().map(|m| m.current.start).collect();
    assert_eq!(starts, vec![at(2026, 11, 5, 17, 0), day(2026, 12, 24)]);
}

// ------------------------------------------------------------- providers

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn fixture_source(dir: &std::path::Path, name: &str, bytes: &[u8]) -> IcsSource {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    IcsSource::new(IcsLocation::Path(path))
}

/// One sync run as the product does it: read both sides, plan with the
/// default policy, apply.
fn sync_once(source: &IcsSource, target: &IcsTarget) -> Plan {
    runtime().block_on(async {
        let w = window();
        let events = source.read(&w).await.unwrap();
        let managed = target.read_managed(&w).await.unwrap();
        let plan = planner::plan(&events, &managed, &Policy::default(), &w);
        let report = target.apply(&plan).await.unwrap();
        assert!(report.failures.is_empty());
        assert_eq!(
            report.created + report.updated + report.deleted,
            plan.writes()
        );
        plan
    })
}

#[test]
fn a_second_run_with_no_change_writes_nothing_and_leaves_the_file_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let source = fixture_source(dir.path(), "google.ics", GOOGLE);
    let path = dir.path().join("public.ics");
    let target = IcsTarget::new(&path, "Community events");
    let first = sync_once(&source, &target);
    assert!(first.creates.len() > 10, "{}", first.creates.len());
    let bytes = std::fs::read(&path).unwrap();
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let second = sync_once(&source, &target);
    assert!(second.is_empty(), "{second:?}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        modified
    );
    // The copies read back as exactly what was planned.
    let cal = TargetCalendar::parse(&bytes, "public.ics").unwrap();
    let mut planned: Vec<(SourceKey, EventPayload)> = first
        .creates
        .iter()
        .map(|c| (c.key.clone(), c.payload.clone()))
        .collect();
    let mut read_back: Vec<(SourceKey, EventPayload)> = cal
        .managed()
        .into_iter()
        .map(|m| (m.marker.source_key, m.current))
        .collect();
    planned.sort_by(|a, b| a.0.cmp(&b.0));
    read_back.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(planned, read_back);
}

#[test]
fn an_empty_plan_does_not_touch_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("public.ics");
    std::fs::write(&path, TARGET_WITH_HAND_MADE).unwrap();
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let report = runtime()
        .block_on(IcsTarget::new(&path, "Other name").apply(&Plan::default()))
        .unwrap();
    assert!(report.done.is_empty());
    assert_eq!(std::fs::read(&path).unwrap(), TARGET_WITH_HAND_MADE);
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        modified
    );
}

/// The component of `kind` that holds `needle`, with its last line break.
fn block<'a>(text: &'a str, needle: &str, kind: &str) -> &'a str {
    let at = text.find(needle).unwrap();
    let start = text[..at].rfind(&format!("BEGIN:{kind}")).unwrap();
    let end_tag = format!("END:{kind}");
    let end = at + text[at..].find(&end_tag).unwrap() + end_tag.len();
    let rest = &text[end..];
    let term = if rest.starts_with("\r\n") {
        2
    } else {
        usize::from(rest.starts_with('\n'))
    };
    &text[start..end + term]
}

#[test]
fn hand_made_events_survive_an_apply_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("public.ics");
    std::fs::write(&path, TARGET_WITH_HAND_MADE).unwrap();
    let source = fixture_source(dir.path(), "apple.ics", APPLE);
    let plan = sync_once(&source, &IcsTarget::new(&path, "Choir"));
    // The old copy's source is gone: it is deleted; the hand-made ones stay.
    assert_eq!(plan.deletes.len(), 1);
    let after = String::from_utf8(std::fs::read(&path).unwrap()).unwrap();
    let before = String::from_utf8(TARGET_WITH_HAND_MADE.to_vec()).unwrap();
    for (needle, kind) in [
        ("TZID:Europe/Berlin", "VTIMEZONE"),
        ("UID:hand-made-1", "VEVENT"),
        ("UID:hand-made-2", "VEVENT"),
        ("UID:todo-1", "VTODO"),
    ] {
        let raw = block(&before, needle, kind);
        assert!(after.contains(raw), "{needle} was not kept verbatim");
    }
    assert!(after.contains("X-WR-TIMEZONE:Europe/Berlin\r\n"));
    assert!(after.contains("X-WR-CALNAME:Choir\r\n"));
    assert!(!after.contains("managed-1"));
    let cal = TargetCalendar::parse(after.as_bytes(), "t").unwrap();
    assert!(
        cal.managed()
            .iter()
            .all(|m| m.target_id.ends_with("@calsync"))
    );
}

#[test]
fn privacy_canary_never_reaches_the_target_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("public.ics");
    for (name, bytes) in [
        ("outlook.ics", OUTLOOK),
        ("google.ics", GOOGLE),
        ("apple.ics", APPLE),
    ] {
        // Every canary event is in the window and read.
        let events = parse_events(bytes, &window(), name).unwrap().events;
        assert!(
            events.iter().any(|e| e.subject.contains("CANARY")),
            "{name}"
        );
        let source = fixture_source(dir.path(), name, bytes);
        let target = IcsTarget::new(&path, "Public");
        let plan = sync_once(&source, &target);
        assert!(plan.skipped_non_public >= 1, "{name}");
        let written = std::fs::read_to_string(&path).unwrap();
        assert!(!written.contains("CANARY"), "{name} leaked into the target");
    }
}

#[test]
fn a_missing_target_file_is_empty_and_created_by_the_first_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.ics");
    let target = IcsTarget::new(&path, "New");
    let managed = runtime().block_on(target.read_managed(&window())).unwrap();
    assert!(managed.is_empty());
    assert!(!path.exists());
    let inspected = runtime().block_on(target.read_for_validation()).unwrap();
    assert!(inspected.is_empty());
    sync_once(&fixture_source(dir.path(), "apple.ics", APPLE), &target);
    assert!(path.exists());
    // No temporary file is left behind.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
}

#[test]
fn a_target_in_a_missing_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let target = IcsTarget::new(dir.path().join("no/such/dir/public.ics"), "x");
    let e = runtime()
        .block_on(target.read_managed(&window()))
        .unwrap_err();
    assert!(format!("{e:#}").contains("does not exist"), "{e:#}");
}

#[test]
fn a_target_that_is_not_icalendar_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.ics");
    std::fs::write(&path, "my notes\n").unwrap();
    let target = IcsTarget::new(&path, "x");
    let plan = Plan {
        creates: vec![create(
            "i:a",
            payload("A", at(2026, 11, 1, 9, 0), at(2026, 11, 1, 10, 0)),
        )],
        ..Plan::default()
    };
    let e = runtime().block_on(target.apply(&plan)).unwrap_err();
    assert!(format!("{e:#}").contains("does not overwrite"), "{e:#}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "my notes\n");
}

#[cfg(unix)]
#[test]
fn a_rewrite_keeps_the_file_mode() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("public.ics");
    std::fs::write(&path, TARGET_WITH_HAND_MADE).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    sync_once(
        &fixture_source(dir.path(), "apple.ics", APPLE),
        &IcsTarget::new(&path, "x"),
    );
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
}

#[test]
fn a_missing_source_file_names_the_path() {
    let e = runtime()
        .block_on(IcsSource::new(IcsLocation::Path("/no/such/calendar.ics".into())).read(&window()))
        .unwrap_err();
    let text = format!("{e:#}");
    assert!(text.contains("/no/such/calendar.ics"), "{text}");
    assert!(text.contains("does not exist"), "{text}");
}

/// Serves one HTTP response on a loopback port; returns the URL.
fn serve_once(status: &str, body: Vec<u8>) -> (String, std::thread::JoinHandle<()>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let status = status.to_string();
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let mut request = Vec::new();
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buf[..n]);
        }
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/calendar\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(&body);
    });
    (
        format!("http://127.0.0.1:{port}/calendar/private-0123456789/basic.ics"),
        handle,
    )
}

#[test]
fn a_url_source_is_downloaded() {
    let (url, server) = serve_once("200 OK", GOOGLE.to_vec());
    let source = IcsSource::new(IcsLocation::parse(&url).unwrap());
    let events = runtime().block_on(source.read_events(&window())).unwrap();
    server.join().unwrap();
    assert_eq!(summary(&events.events), summary(&read(GOOGLE)));
}

#[test]
fn a_failed_download_names_the_url_without_its_secret() {
    let (url, server) = serve_once("404 Not Found", b"gone".to_vec());
    let source = IcsSource::new(IcsLocation::parse(&url).unwrap());
    let e = runtime().block_on(source.read(&window())).unwrap_err();
    server.join().unwrap();
    let text = format!("{e:#}");
    assert!(text.contains("404"), "{text}");
    assert!(text.contains("http://127.0.0.1:"), "{text}");
    assert!(!text.contains("private-0123456789"), "{text}");
}

#[test]
fn a_download_larger_than_the_cap_is_refused() {
    let (url, server) = serve_once("200 OK", GOOGLE.to_vec());
    let source = IcsSource::new(IcsLocation::parse(&url).unwrap()).with_max_bytes(1000);
    let e = runtime().block_on(source.read(&window())).unwrap_err();
    server.join().unwrap();
    assert!(format!("{e:#}").contains("larger than"), "{e:#}");
}

// -------------------------------------------------------------- properties

fn text_strategy() -> impl Strategy<Value = String> {
    // Printable text with what TEXT must escape, non-ASCII and line breaks.
    proptest::string::string_regex("[ -~äöüß€–\u{1F600}\n\t,;\\\\:]{0,120}").unwrap()
}

fn time_pair() -> impl Strategy<Value = (EventTime, EventTime)> {
    prop_oneof![
        (0i64..4_000_000_000, 0i64..200_000).prop_map(|(s, d)| {
            let start = Utc.timestamp_opt(s, 0).unwrap();
            (
                EventTime::Instant(start),
                EventTime::Instant(start + chrono::Duration::seconds(d)),
            )
        }),
        (0i64..50_000, 1i64..30).prop_map(|(n, len)| {
            let start = NaiveDate::from_ymd_opt(1990, 1, 1).unwrap() + chrono::Duration::days(n);
            (
                EventTime::Date(start),
                EventTime::Date(start + chrono::Duration::days(len)),
            )
        }),
    ]
}

fn payload_strategy() -> impl Strategy<Value = EventPayload> {
    (
        text_strategy(),
        time_pair(),
        any::<bool>(),
        proptest::sample::select(ShowAs::ALL.to_vec()),
        text_strategy(),
        prop_oneof![
            text_strategy().prop_map(|content| Body {
                content_type: BodyType::Text,
                content
            }),
            "[a-z<>/& ]{1,60}".prop_map(|content| Body {
                content_type: BodyType::Html,
                content
            }),
        ],
        proptest::collection::vec(text_strategy(), 0..4),
    )
        .prop_map(
            |(subject, (start, end), is_all_day, show_as, location, body, categories)| {
                EventPayload {
                    subject,
                    start,
                    end,
                    is_all_day,
                    show_as,
                    location,
                    body,
                    categories,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_public_events_render_and_read_back_equal(
        payloads in proptest::collection::vec(payload_strategy(), 0..6),
        keys in proptest::collection::hash_set("[a-zA-Z0-9@._:-]{1,40}", 6),
    ) {
        let copies: Vec<IcsCopy> = payloads
            .into_iter()
            .zip(keys)
            .map(|(p, k)| copy_of(&k, p))
            .collect();
        let cal = calendar(&copies);
        let text = cal.render("Random ; name, with \\ escapes");
        for line in text.split_inclusive('\n') {
            prop_assert!(line.ends_with("\r\n") && line.len() - 2 <= 75);
        }
        let back = TargetCalendar::parse(text.as_bytes(), "random.ics").unwrap();
        let mut want = copies.clone();
        want.sort_by(|a, b| (a.payload.start.as_utc(), a.payload.start, &a.uid)
            .cmp(&(b.payload.start.as_utc(), b.payload.start, &b.uid)));
        let got: Vec<IcsCopy> = back.copies().into_iter().cloned().collect();
        prop_assert_eq!(got, want);
        prop_assert_eq!(back.render("Random ; name, with \\ escapes"), text);
    }
}

#[test]
fn an_all_day_override_with_a_date_time_recurrence_id_replaces_its_date() {
    let file = one_event(
        "UID:d\nDTSTART;VALUE=DATE:20261005\nRRULE:FREQ=DAILY;COUNT=3\nSUMMARY:x\nEND:VEVENT\n\
         BEGIN:VEVENT\nUID:d\nRECURRENCE-ID:20261006T000000\nDTSTART;VALUE=DATE:20261010\n\
         SUMMARY:moved",
    );
    let ev = read(file.as_bytes());
    let got: Vec<(SourceKey, EventTime, &str)> = ev
        .iter()
        .map(|e| (e.key.clone(), e.start, e.subject.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                SourceKey::occurrence("d", utc(2026, 10, 5, 0, 0)),
                day(2026, 10, 5),
                "x"
            ),
            (
                SourceKey::occurrence("d", utc(2026, 10, 7, 0, 0)),
                day(2026, 10, 7),
                "x"
            ),
            (
                SourceKey::occurrence("d", utc(2026, 10, 6, 0, 0)),
                day(2026, 10, 10),
                "moved"
            ),
        ]
    );
}

#[test]
fn exdate_as_a_date_or_without_its_zone_still_removes_the_instance() {
    // A timed series: one EXDATE;VALUE=DATE (the whole day), and one written
    // without the TZID of its DTSTART, which means the series' zone.
    let file = one_event(
        "UID:t\nDTSTART;TZID=Europe/Berlin:20261005T090000\nRRULE:FREQ=DAILY;COUNT=4\n\
         EXDATE;VALUE=DATE:20261006\nEXDATE:20261007T090000\nSUMMARY:x",
    );
    let starts: Vec<EventTime> = read(file.as_bytes()).iter().map(|e| e.start).collect();
    assert_eq!(starts, vec![at(2026, 10, 5, 7, 0), at(2026, 10, 8, 7, 0)]);
}
