//! General reading rules: line ends, keys, the window, unreadable events,
//! overrides and exclusions.

use super::*;

pub(super) fn summary(ev: &[SourceEvent]) -> Vec<(SourceKey, EventTime, EventTime, String, bool)> {
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

#[test]
fn every_event_carries_its_uid_and_an_occurrence_its_series() {
    let file = format!(
        "{}{}",
        one_event("UID:one@example.org\nDTSTART:20261002T090000Z\nSUMMARY:single"),
        one_event(
            "UID:weekly@example.org\nDTSTART:20261005T090000Z\nRRULE:FREQ=WEEKLY;COUNT=3\n\
             SUMMARY:weekly"
        )
    );
    let events = read(file.as_bytes());
    assert_eq!(
        subject(&events, "single").ical_uid.as_deref(),
        Some("one@example.org")
    );
    let weekly = of_series(&events, "weekly@example.org");
    assert_eq!(weekly.len(), 3);
    for ev in weekly {
        assert_eq!(ev.ical_uid.as_deref(), Some("weekly@example.org"));
        assert!(ev.key.original_start().is_some());
    }
}
