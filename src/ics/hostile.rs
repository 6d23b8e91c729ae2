//! One test per cause of issue 13: sources from the real world and from
//! hostile hands. Each file here is small and of our own making
//! (`tests/fixtures/ics/README.md` says which public test suites showed
//! each shape); the property tests over mutated files are in `fuzz`.

use super::limits::{MAX_DATES_PER_EVENT, MAX_INSTANCES_PER_EVENT};
use super::target::TargetCalendar;
use super::{IcsError, SourceRead, parse_events};
use crate::model::{EventTime, Sensitivity, SourceKey, Window};
use crate::planner;
use crate::policy::{FilterPolicy, Policy, SkipReason};
use chrono::{DateTime, TimeZone, Utc};
use std::time::{Duration, Instant};

const THISANDFUTURE: &[u8] = include_bytes!("../../tests/fixtures/ics/thisandfuture.ics");
const VERSIONS: &[u8] = include_bytes!("../../tests/fixtures/ics/versions.ics");
const OVERRIDES: &[u8] = include_bytes!("../../tests/fixtures/ics/overrides.ics");
const DUPLICATES: &[u8] = include_bytes!("../../tests/fixtures/ics/duplicates.ics");
const ONE_BAD_EVENT: &[u8] = include_bytes!("../../tests/fixtures/ics/one-bad-event.ics");
const CONFLUENCE: &[u8] = include_bytes!("../../tests/fixtures/ics/confluence-deleted.ics");
const CR_ONLY: &[u8] = include_bytes!("../../tests/fixtures/ics/cr-only-event.ics");

fn utc(y: i32, m: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, mi, 0).unwrap()
}

fn at(y: i32, m: u32, d: u32, h: u32, mi: u32) -> EventTime {
    EventTime::Instant(utc(y, m, d, h, mi))
}

/// Autumn 2026.
fn window() -> Window {
    Window {
        start: utc(2026, 10, 1, 0, 0),
        end: utc(2026, 12, 31, 0, 0),
    }
}

fn parse(input: &[u8]) -> SourceRead {
    parse_events(input, &window(), "test.ics").unwrap()
}

fn one_event(lines: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//test//EN\r\nBEGIN:VEVENT\r\n{}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        lines.trim().replace('\n', "\r\n")
    )
}

/// The keys the planner publishes with `filter`, with their subjects.
fn published(read: SourceRead, filter: FilterPolicy) -> Vec<(String, String)> {
    let policy = Policy {
        filter,
        ..Policy::default()
    };
    let w = window();
    let plan = planner::plan(&read.into_source_events(&w), &[], &policy, &w);
    plan.creates
        .into_iter()
        .map(|c| (c.key.0, c.payload.subject))
        .collect()
}

fn published_default(read: SourceRead) -> Vec<(String, String)> {
    published(read, FilterPolicy::default())
}

/// Runs `f`, failing if it takes longer than `limit` (generous: debug
/// builds on a loaded machine).
fn within<T>(limit: Duration, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = f();
    let took = started.elapsed();
    assert!(took < limit, "took {took:?}, more than {limit:?}");
    out
}

fn unreadable_uids(read: &SourceRead) -> Vec<String> {
    let mut v: Vec<String> = read
        .unreadable
        .iter()
        .map(|e| {
            e.uid
                .clone()
                .unwrap_or_else(|| format!("line {:?}", e.line))
        })
        .collect();
    v.sort();
    v
}

fn all_messages(read: &SourceRead) -> String {
    read.unreadable
        .iter()
        .chain(&read.notes)
        .map(IcsError::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

// ----------------------------------------- 1. never panic or overflow

#[test]
fn huge_durations_and_periods_never_panic_and_never_end_past_9999() {
    for (duration, readable) in [
        ("P3000000D", false),
        ("P99999999W", false),
        ("PT9999999999S", true),
        ("-P99999999999999999999D", false),
        ("P9223372036854775807W", false),
    ] {
        let read = parse(
            one_event(&format!(
                "UID:d\nDTSTART:20261101T090000Z\nDURATION:{duration}\nSUMMARY:x"
            ))
            .as_bytes(),
        );
        assert_eq!(read.events.len(), usize::from(readable), "{duration}");
        assert_eq!(read.unreadable.len(), usize::from(!readable), "{duration}");
        for e in &read.events {
            assert!(e.end.as_utc() < utc(9999, 12, 31, 23, 59), "{duration}");
        }
        if !readable {
            assert_eq!(
                read.unreadable[0].line,
                Some(7),
                "{duration}: the DURATION line"
            );
        }
    }
    for period in [
        "20261101T090000Z/P99999999D",
        "20261101T090000Z/P3000000D",
        "20261101T090000Z/+102401119T100000Z",
        "20261101/20261102",
        "99991231T230000Z/PT9999999999S",
    ] {
        let read = parse(
            one_event(&format!(
                "UID:p\nDTSTART:20261005T090000Z\nRDATE;VALUE=PERIOD:{period}\nSUMMARY:x"
            ))
            .as_bytes(),
        );
        for e in &read.events {
            assert!(
                e.end.as_utc().format("%Y").to_string().len() == 4,
                "{period}"
            );
        }
    }
}

#[test]
fn untrusted_rule_text_is_checked_before_expansion() {
    for rule in [
        "FREQ=WEEKLY;BYDAY=1€",
        "FREQ=MONTHLY;BYDAY=€MO",
        "FREQ=DAILY;INTERVAL=4294967296",
        "FREQ=DAILY;BYMONTHDAY=99999999999",
        "FREQ=YEARLY;BYWEEKNO=-999",
        "FREQ=DAILY;COUNT=99999999999999999999999999",
        "",
    ] {
        let read = parse(
            one_event(&format!(
                "UID:r\nDTSTART:20261005T090000Z\nRRULE:{rule}\nSUMMARY:x"
            ))
            .as_bytes(),
        );
        if rule.contains("COUNT") {
            assert_eq!(read.events.len(), 87, "{rule}");
            continue;
        }
        assert!(read.events.is_empty(), "{rule}");
        let e = &read.unreadable[0];
        assert_eq!(e.line, Some(7), "{rule}: the RRULE's own line");
        assert!(e.to_string().contains("RRULE"), "{e}");
        assert!(!e.to_string().contains('€'), "{e}");
    }
}

#[test]
fn deep_nesting_neither_overflows_nor_refuses_more_than_it_must() {
    // Never closed: a truncated file, refused; no stack overflow.
    let open = format!("BEGIN:VCALENDAR\r\n{}", "BEGIN:VEVENT\r\n".repeat(15_000));
    assert!(parse_events(open.as_bytes(), &window(), "t.ics").is_err());
    // Closed again: only that event is unreadable.
    let closed = format!(
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:deep\r\nDTSTART:20261101T090000Z\r\n{}{}END:VEVENT\r\n{}END:VCALENDAR\r\n",
        "BEGIN:X\r\n".repeat(15_000),
        "END:X\r\n".repeat(15_000),
        "BEGIN:VEVENT\r\nUID:fine\r\nDTSTART:20261102T090000Z\r\nEND:VEVENT\r\n"
    );
    let read = parse(closed.as_bytes());
    assert_eq!(unreadable_uids(&read), ["deep"]);
    assert_eq!(read.events.len(), 1);
}

// ------------------------------------------ 2. hangs and memory

#[test]
fn a_minutely_rule_with_a_huge_count_is_refused_at_once() {
    let read = within(Duration::from_secs(10), || {
        parse(
            one_event(
                "UID:m\nDTSTART:20261001T000000Z\nRRULE:FREQ=MINUTELY;COUNT=199999\nSUMMARY:x",
            )
            .as_bytes(),
        )
    });
    assert!(read.events.is_empty());
    let e = read.unreadable[0].to_string();
    assert!(e.contains("more instances"), "{e}");
    assert!(e.contains("UID \"m\""), "{e}");
}

#[test]
fn thousands_of_exdates_are_cheap_and_too_many_are_refused() {
    let dates: Vec<String> = (0..15_000)
        .map(|i| {
            (utc(2000, 1, 1, 9, 0) + chrono::Duration::days(i))
                .format("%Y%m%dT%H%M%SZ")
                .to_string()
        })
        .collect();
    let file = one_event(&format!(
        "UID:x\nDTSTART:20000101T090000Z\nRRULE:FREQ=DAILY\nCLASS:PRIVATE\nEXDATE:{}\nSUMMARY:x",
        dates.join(",")
    ));
    let read = within(Duration::from_secs(10), || parse(file.as_bytes()));
    // The exclusions end in 2041: no instance in the window is left.
    assert!(read.events.is_empty());
    assert!(read.unreadable.is_empty());
    let many = one_event(&format!(
        "UID:y\nDTSTART:20000101T090000Z\nRRULE:FREQ=DAILY\nEXDATE:{}\nEXDATE:{}\nSUMMARY:x",
        dates.join(","),
        dates.join(",")
    ));
    let read = within(Duration::from_secs(10), || parse(many.as_bytes()));
    assert!(read.events.is_empty());
    let e = read.unreadable[0].to_string();
    assert!(e.contains(&MAX_DATES_PER_EVENT.to_string()), "{e}");
}

#[test]
fn many_rules_and_dense_rules_are_bounded() {
    let rules = "RRULE:FREQ=SECONDLY\n".repeat(200);
    let read = within(Duration::from_secs(10), || {
        parse(
            one_event(&format!(
                "UID:r\nDTSTART:20261001T000000Z\n{rules}SUMMARY:x"
            ))
            .as_bytes(),
        )
    });
    assert!(read.events.is_empty());
    assert!(read.unreadable[0].to_string().contains("RRULE"));
    // A yearly rule with every hour, minute and second: 31 million
    // candidates a year, refused without collecting them.
    let all = |n: u32| (0..n).map(|i| i.to_string()).collect::<Vec<_>>().join(",");
    let dense = format!(
        "UID:y\nDTSTART:20261001T000000Z\nRRULE:FREQ=YEARLY;BYYEARDAY={};BYHOUR={};BYMINUTE={};BYSECOND={}\nSUMMARY:x",
        (1..=366)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(","),
        all(24),
        all(60),
        all(60)
    );
    let read = within(Duration::from_secs(20), || {
        parse(one_event(&dense).as_bytes())
    });
    assert!(read.events.is_empty());
    assert_eq!(read.unreadable.len(), 1);
    // Daily for 50 years is fine.
    let read = parse(
        one_event("UID:d\nDTSTART:19800101T090000Z\nRRULE:FREQ=DAILY;COUNT=20000\nSUMMARY:x")
            .as_bytes(),
    );
    assert_eq!(read.events.len(), 91);
    const { assert!(MAX_INSTANCES_PER_EVENT >= 18_250) };
}

#[test]
fn a_huge_vtimezone_is_refused_cheaply() {
    let mut file = String::from("BEGIN:VCALENDAR\r\nBEGIN:VTIMEZONE\r\nTZID:Huge\r\n");
    for y in 0..12_000 {
        file.push_str(&format!(
            "BEGIN:STANDARD\r\nDTSTART:{:04}0101T000000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0100\r\nRRULE:FREQ=YEARLY\r\nEND:STANDARD\r\n",
            1000 + y % 8000
        ));
    }
    file.push_str("END:VTIMEZONE\r\nBEGIN:VEVENT\r\nUID:h\r\nDTSTART;TZID=Huge:20261101T090000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n");
    assert!(file.len() > 1_000_000);
    let read = within(Duration::from_secs(20), || parse(file.as_bytes()));
    assert!(read.events.is_empty());
    let e = read.unreadable[0].to_string();
    assert!(e.contains("TZID=\"Huge\""), "{e}");
    assert!(e.contains("its VTIMEZONE (line 2) cannot be read"), "{e}");
    // Fewer lines, still too many observances.
    let cut = file
        .match_indices("BEGIN:STANDARD")
        .nth(1_500)
        .map(|(i, _)| i)
        .unwrap();
    let small = format!(
        "{}END:VTIMEZONE{}",
        &file[..cut],
        &file[file.find("\r\nBEGIN:VEVENT").unwrap()..]
    );
    let read = within(Duration::from_secs(20), || parse(small.as_bytes()));
    let e = read.unreadable[0].to_string();
    assert!(
        e.contains("more than 1000 STANDARD and DAYLIGHT observances"),
        "{e}"
    );
}

#[test]
fn the_file_as_a_whole_is_capped() {
    // 13 events of 20,000 instances each pass the per-event cap and reach
    // the per-file one: refused, not published in part.
    let mut file = String::from("BEGIN:VCALENDAR\r\n");
    for i in 0..13 {
        file.push_str(&format!(
            "BEGIN:VEVENT\r\nUID:e{i}\r\nDTSTART:20261001T000000Z\r\nRRULE:FREQ=MINUTELY;INTERVAL=6;COUNT=19999\r\nEND:VEVENT\r\n"
        ));
    }
    file.push_str("END:VCALENDAR\r\n");
    let e = within(Duration::from_secs(30), || {
        parse_events(file.as_bytes(), &window(), "t.ics").unwrap_err()
    });
    assert!(e.to_string().contains("more than 250000 events"), "{e}");
}

#[test]
fn many_overrides_versions_and_readings_stay_cheap() {
    // A daily series with 3,000 overrides, every other one THISANDFUTURE.
    let mut file = String::from(
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:s\r\nDTSTART:20200101T090000Z\r\nRRULE:FREQ=DAILY\r\nSUMMARY:Daily\r\nEND:VEVENT\r\n",
    );
    for i in 0..3_000i64 {
        let day = utc(2020, 1, 2, 9, 0) + chrono::Duration::days(i * 2);
        let range = if i % 2 == 0 {
            ";RANGE=THISANDFUTURE"
        } else {
            ""
        };
        file.push_str(&format!(
            "BEGIN:VEVENT\r\nUID:s\r\nRECURRENCE-ID{range}:{}\r\nDTSTART:{}\r\nSUMMARY:Moved\r\nEND:VEVENT\r\n",
            day.format("%Y%m%dT%H%M%SZ"),
            (day + chrono::Duration::hours(1)).format("%Y%m%dT%H%M%SZ"),
        ));
    }
    file.push_str("END:VCALENDAR\r\n");
    let read = within(Duration::from_secs(20), || parse(file.as_bytes()));
    assert!(read.unreadable.is_empty(), "{:?}", read.unreadable);
    assert_eq!(read.events.len(), 91);
    // 15,000 events nested in one another, closed again: reported, fast.
    let nested = format!(
        "BEGIN:VCALENDAR\r\nBEGIN:VTODO\r\n{}{}END:VTODO\r\nEND:VCALENDAR\r\n",
        "BEGIN:VEVENT\r\nUID:n\r\n".repeat(15_000),
        "END:VEVENT\r\n".repeat(15_000)
    );
    let read = within(Duration::from_secs(20), || parse(nested.as_bytes()));
    assert_eq!(read.unreadable.len(), 15_000);
    // An event read in more ways than are weighed together: unreadable.
    let summaries: String = (0..100).map(|i| format!("SUMMARY:Reading {i}\n")).collect();
    let read =
        parse(one_event(&format!("UID:r\nDTSTART:20261101T090000Z\n{summaries}")).as_bytes());
    assert!(read.events.is_empty() && read.witnesses.is_empty());
    assert!(
        read.unreadable[0].to_string().contains("readings"),
        "{:?}",
        read.unreadable
    );
}

#[test]
fn text_copied_into_every_instance_is_capped() {
    // 1.5 MB of description on a daily series: 91 instances in the window
    // would hold 136 MB.
    let long = "x".repeat(1_500_000);
    let file = one_event(&format!(
        "UID:long\nDTSTART:20261001T090000Z\nRRULE:FREQ=DAILY\nSUMMARY:Daily\nDESCRIPTION:{long}"
    ));
    let read = within(Duration::from_secs(20), || parse(file.as_bytes()));
    assert!(read.events.is_empty());
    assert!(
        read.unreadable[0].to_string().contains("MiB"),
        "{:?}",
        read.unreadable
    );
    // A weekly one is fine: 13 instances.
    let file = file.replace("FREQ=DAILY", "FREQ=WEEKLY");
    assert_eq!(parse(file.as_bytes()).events.len(), 13);
}

// --------------------------------------------- 3. linear writes

#[test]
fn applying_a_plan_costs_in_proportion_to_it() {
    use crate::model::{Body, EventPayload, Marker, ShowAs};
    use crate::planner::{Create, Plan};
    let plan_of = |n: usize| Plan {
        creates: (0..n)
            .map(|i| {
                let start = utc(2026, 10, 1, 0, 0) + chrono::Duration::minutes(i as i64);
                let payload = EventPayload {
                    subject: format!("Event {i}"),
                    start: EventTime::Instant(start),
                    end: EventTime::Instant(start),
                    is_all_day: false,
                    show_as: ShowAs::Busy,
                    location: String::new(),
                    body: Body::default(),
                    categories: Vec::new(),
                };
                Create {
                    key: SourceKey::single(&format!("e{i}")),
                    marker: Marker {
                        source_key: SourceKey::single(&format!("e{i}")),
                        content_hash: planner::content_hash(&payload),
                    },
                    payload,
                }
            })
            .collect(),
        ..Plan::default()
    };
    let time = |n: usize| {
        let plan = plan_of(n);
        let started = Instant::now();
        let mut cal = TargetCalendar::new();
        cal.apply(&plan, utc(2026, 10, 1, 0, 0));
        let text = cal.render("Public");
        assert_eq!(text.matches("BEGIN:VEVENT").count(), n);
        started.elapsed()
    };
    // Quadratic, 8 times the writes would take 64 times as long.
    let small = time(5_000);
    let large = time(40_000);
    assert!(
        large < small * 25 + Duration::from_secs(1),
        "5,000 writes: {small:?}; 40,000: {large:?}"
    );
}

// ---------------------------------------- 4. never write past 9999

#[test]
fn a_copy_written_past_9999_is_repaired_not_refused() {
    let target = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:0123@calsync\r\n\
                  DTSTAMP:20260101T000000Z\r\nDTSTART:20261101T100000Z\r\n\
                  DTEND:+102401119T100000Z\r\nSUMMARY:Long\r\nX-CALSYNC-SOURCE-KEY:i:long\r\n\
                  X-CALSYNC-CONTENT-HASH:abc\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:0124@calsync\r\n\
                  DTSTAMP:20260101T000000Z\r\nDTSTART:+20261101T100000Z\r\nSUMMARY:Gone\r\n\
                  X-CALSYNC-SOURCE-KEY:i:gone\r\nX-CALSYNC-CONTENT-HASH:abc\r\nEND:VEVENT\r\n\
                  END:VCALENDAR\r\n";
    let cal = TargetCalendar::parse(target.as_bytes(), "public.ics").unwrap();
    let managed = cal.managed_in(&window());
    assert_eq!(managed.len(), 2);
    for m in &managed {
        assert!(window().contains(&m.current.start), "{m:?}");
        assert_eq!(
            m.marker.content_hash, "",
            "a broken copy always needs a rewrite"
        );
    }
    // The source now says a valid end: the plan updates one and deletes the
    // other, and the file written reads back whole.
    let source = parse(
        one_event("UID:long\nDTSTART:20261101T100000Z\nDURATION:PT2H\nSUMMARY:Long").as_bytes(),
    );
    let policy = Policy::default();
    let plan = planner::plan(
        &source.into_source_events(&window()),
        &managed,
        &policy,
        &window(),
    );
    assert_eq!((plan.updates.len(), plan.deletes.len()), (1, 1), "{plan:?}");
    let mut cal = cal;
    cal.apply(&plan, utc(2026, 10, 1, 0, 0));
    let text = cal.render("Public");
    assert!(text.contains("DTEND:20261101T120000Z\r\n"), "{text}");
    assert!(!text.contains("+1024"), "{text}");
    let again = TargetCalendar::parse(text.as_bytes(), "public.ics").unwrap();
    assert_eq!(
        again.managed_in(&window())[0].current.end,
        at(2026, 11, 1, 12, 0)
    );
}

// ---------------------------------------- 5. RDATE periods

#[test]
fn a_date_period_on_a_timed_series_ends_as_a_date_time() {
    let read = parse(
        one_event(
            "UID:p\nDTSTART;TZID=Europe/Berlin:20261005T090000\nDTEND;TZID=Europe/Berlin:20261005T100000\n\
             RRULE:FREQ=WEEKLY;COUNT=2\nRDATE;VALUE=PERIOD:20261101/20261102\nSUMMARY:Course",
        )
        .as_bytes(),
    );
    assert_eq!(read.events.len(), 3);
    for e in &read.events {
        assert!(
            matches!(
                (e.start, e.end),
                (EventTime::Instant(_), EventTime::Instant(_))
            ),
            "{e:?} {:?}",
            e.end
        );
    }
    let last = read.events.last().unwrap();
    // Midnight in Berlin, to the next midnight.
    assert_eq!(last.start, at(2026, 10, 31, 23, 0));
    assert_eq!(last.end, at(2026, 11, 1, 23, 0));
}

// ---------------------------------------------- 7. versions

#[test]
fn versions_take_the_highest_sequence_and_any_private_one_wins() {
    let read = parse(VERSIONS);
    let board = read
        .events
        .iter()
        .find(|e| e.key == SourceKey::single("board@example.org"))
        .unwrap();
    assert_eq!(
        board.sensitivity,
        Sensitivity::Private,
        "the highest SEQUENCE"
    );
    // The latest DTSTAMP of equal SEQUENCEs gives the content.
    let talk = read
        .events
        .iter()
        .find(|e| e.key == SourceKey::single("talk@example.org"))
        .unwrap();
    assert_eq!(talk.subject, "Talk (new title)");
    assert_eq!(talk.start, at(2026, 11, 12, 18, 0));
    // An older confidential version keeps a later public one unpublished.
    let out = published_default(parse(VERSIONS));
    assert_eq!(
        out,
        [(
            "i:talk@example.org".to_string(),
            "Talk (new title)".to_string()
        )]
    );
}

// ----------------------------------------------- 8. overrides

#[test]
fn a_moved_instance_is_published_only_if_its_series_is_too() {
    let filter = FilterPolicy {
        exclude_categories: vec!["internal".into()],
        ..FilterPolicy::default()
    };
    let out = published(parse(OVERRIDES), filter);
    let subjects: Vec<&str> = out.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(
        subjects,
        [
            "Open studio",
            "Open studio (Friday this week)",
            "Open studio"
        ]
    );
    // The private series' moved instance takes its CLASS.
    let read = parse(OVERRIDES);
    let moved = read
        .events
        .iter()
        .find(|e| e.subject.ends_with("(later)"))
        .unwrap();
    assert_eq!(moved.sensitivity, Sensitivity::Private);
}

// -------------------------------------- 9. duplicate properties

#[test]
fn duplicated_privacy_properties_mean_not_public() {
    let filter = FilterPolicy {
        subject_exclude: Some(regex::Regex::new(r"\[internal\]").unwrap()),
        ..FilterPolicy::default()
    };
    let out = published(parse(DUPLICATES), filter);
    assert_eq!(
        out,
        [(
            "i:plain@example.org".to_string(),
            "Plain public event".to_string()
        )]
    );
    let read = parse(DUPLICATES);
    let by_uid = |uid: &str| {
        read.events
            .iter()
            .find(|e| e.key == SourceKey::single(uid))
            .unwrap()
    };
    assert_eq!(
        by_uid("two-classes@example.org").sensitivity,
        Sensitivity::Private
    );
    assert!(by_uid("two-statuses@example.org").is_cancelled);
    assert!(by_uid("spaced-status@example.org").is_cancelled);
    assert_eq!(
        by_uid("lower-case-class@example.org").sensitivity,
        Sensitivity::Private
    );
}

// -------------------------------------------- 10. no content in messages

#[test]
fn a_cr_only_event_in_an_lf_file_is_read_and_never_quoted() {
    let read = parse(CR_ONLY);
    assert!(read.unreadable.is_empty(), "{:?}", read.unreadable);
    let cr = read
        .events
        .iter()
        .find(|e| e.key == SourceKey::single("cr-event@example.org"))
        .unwrap();
    assert_eq!(cr.sensitivity, Sensitivity::Private);
    assert_eq!(published_default(parse(CR_ONLY)).len(), 1);
    // Broken in every way that used to quote it: still no content.
    for broken in [
        String::from_utf8_lossy(CR_ONLY).replace("END:VEVENT\r", "END:VEVNT\r"),
        String::from_utf8_lossy(CR_ONLY).replace("\rDTSTART:20261111T090000Z", ""),
        String::from_utf8_lossy(CR_ONLY).replace('\r', " "),
        String::from_utf8_lossy(CR_ONLY).replace("BEGIN:VEVENT\r", "BEGIN:VEVENT "),
    ] {
        match parse_events(broken.as_bytes(), &window(), "t.ics") {
            Ok(read) => assert!(
                !all_messages(&read).contains("CANARY"),
                "{}",
                all_messages(&read)
            ),
            Err(e) => assert!(!e.to_string().contains("CANARY"), "{e}"),
        }
    }
}

// ------------------------------------------- 11. THISANDFUTURE

#[test]
fn thisandfuture_applies_to_the_following_instances() {
    let read = parse(THISANDFUTURE);
    assert!(read.unreadable.is_empty(), "{:?}", read.unreadable);
    let uid = "rehearsals@example.org";
    let got: Vec<(EventTime, EventTime, &str)> = read
        .events
        .iter()
        .filter(|e| e.key.series_id() == Some(uid))
        .map(|e| (e.start, e.end, e.subject.as_str()))
        .collect();
    let mut want = Vec::new();
    for d in [1, 3, 5, 7, 9, 11] {
        want.push((at(2026, 10, d, 12, 0), at(2026, 10, d, 14, 0), "Rehearsal"));
    }
    want.push((
        at(2026, 10, 13, 9, 0),
        at(2026, 10, 13, 16, 0),
        "Rehearsal (mornings)",
    ));
    // The RDATE after it moves 3 hours earlier too.
    want.push((
        at(2026, 10, 14, 6, 0),
        at(2026, 10, 14, 13, 0),
        "Rehearsal (mornings)",
    ));
    want.push((
        at(2026, 10, 15, 17, 0),
        at(2026, 10, 15, 19, 0),
        "Rehearsal (evening)",
    ));
    for d in [17, 19] {
        want.push((
            at(2026, 10, d, 9, 0),
            at(2026, 10, d, 16, 0),
            "Rehearsal (mornings)",
        ));
    }
    for (m, d) in [(10, 22), (10, 24), (10, 26), (10, 28), (10, 30), (11, 1)] {
        want.push((
            at(2026, m, d, 14, 22),
            at(2026, m, d, 16, 13),
            "Rehearsal (afternoons)",
        ));
    }
    assert_eq!(got, want);
    // Keys stay those of the original instances.
    assert!(read.events.iter().any(|e| e.key
        == SourceKey::occurrence(uid, utc(2026, 10, 23, 12, 0))
        && e.start == at(2026, 10, 24, 14, 22)));
    // A private THISANDFUTURE override makes the rest of its series private.
    let out = published_default(parse(THISANDFUTURE));
    let tours: Vec<&str> = out
        .iter()
        .filter(|(k, _)| k.starts_with("s:tours@"))
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(tours.len(), 3, "{tours:?}");
}

// ---------------------------------------- 12. UNTIL before DTSTART

#[test]
fn a_series_whose_rules_end_before_it_starts_has_no_instance() {
    let read = parse(CONFLUENCE);
    let uids: Vec<Option<&str>> = read.events.iter().map(|e| e.key.series_id()).collect();
    assert_eq!(uids, vec![Some("living-series@confluence.example.org"); 3]);
    let read = parse(
        one_event("UID:c\nDTSTART:20261005T100000Z\nRRULE:FREQ=DAILY;COUNT=0\nSUMMARY:x")
            .as_bytes(),
    );
    assert!(read.events.is_empty() && read.unreadable.is_empty());
}

// --------------------------------------------- 13. sub-daily rules

#[test]
fn minutely_rules_with_by_parts_expand_as_dateutil_does() {
    let read = parse(
        one_event(
            "UID:m\nDTSTART:20261005T090000Z\nRRULE:FREQ=MINUTELY;INTERVAL=15;BYDAY=MO;BYHOUR=9;BYMINUTE=0\nSUMMARY:x",
        )
        .as_bytes(),
    );
    let starts: Vec<EventTime> = read.events.iter().take(4).map(|e| e.start).collect();
    assert_eq!(
        starts,
        [
            at(2026, 10, 5, 9, 0),
            at(2026, 10, 12, 9, 0),
            at(2026, 10, 19, 9, 0),
            at(2026, 10, 26, 9, 0)
        ],
        "every Monday, not every third"
    );
    assert_eq!(read.events.len(), 13);
}

// ------------------------------------------ 14. control characters

#[test]
fn text_is_read_as_a_copy_holds_it() {
    let read = parse(
        one_event("UID:c\nDTSTART:20261105T100000Z\nSUMMARY:Choir\u{7} concert\u{1b}[0m\\, part 2\nLOCATION:Hall\u{0}")
            .as_bytes(),
    );
    assert_eq!(read.events[0].subject, "Choir concert[0m, part 2");
    assert_eq!(read.events[0].location, "Hall");
}

// ---------------------------------- one bad event never blocks the rest

#[test]
fn one_bad_event_is_skipped_with_a_warning_and_the_rest_is_read() {
    let read = parse(ONE_BAD_EVENT);
    let good: Vec<(&str, EventTime)> = read
        .events
        .iter()
        .map(|e| (e.subject.as_str(), e.start))
        .collect();
    assert_eq!(
        good,
        [
            ("Open rehearsal", at(2026, 11, 4, 9, 0)),
            ("Concert in Stockholm", at(2026, 11, 6, 18, 0)),
            ("Members' evening", at(2026, 11, 9, 9, 0)),
        ]
    );
    assert_eq!(
        unreadable_uids(&read),
        [
            "bad-rule@example.org",
            "customized@example.org",
            "empty-rule@example.org",
            "line Some(32)",
            "nested@example.org",
        ]
    );
    let text = all_messages(&read);
    assert!(!text.contains("CANARY"), "{text}");
    assert!(text.contains("Customized Time Zone"), "{text}");
    assert!(text.contains("nested"), "{text}");
    assert!(text.contains("no UID"), "{text}");
    // The text after END:VCALENDAR is a note, not an event.
    assert_eq!(read.notes.len(), 1, "{:?}", read.notes);
    // Each unreadable event counts once, as unreadable.
    let w = window();
    let plan = planner::plan(&read.into_source_events(&w), &[], &Policy::default(), &w);
    assert_eq!(plan.creates.len(), 3);
    assert_eq!(plan.skipped.get(&SkipReason::Unreadable), Some(&5));
}

#[test]
fn an_unreadable_override_hides_its_instance_but_not_the_series() {
    let read = parse(
        one_event(
            "UID:s\nDTSTART:20261005T090000Z\nRRULE:FREQ=WEEKLY;COUNT=3\nSUMMARY:Class\nEND:VEVENT\n\
             BEGIN:VEVENT\nUID:s\nRECURRENCE-ID:20261012T090000Z\nDTSTART;TZID=Nowhere:20261012T100000\n\
             CLASS:PRIVATE\nSUMMARY:CANARY-X",
        )
        .as_bytes(),
    );
    let starts: Vec<EventTime> = read.events.iter().map(|e| e.start).collect();
    assert_eq!(starts, [at(2026, 10, 5, 9, 0), at(2026, 10, 19, 9, 0)]);
    assert_eq!(read.unreadable.len(), 1);
    // One whose RECURRENCE-ID cannot be read makes the whole series so.
    let read = parse(
        one_event(
            "UID:s\nDTSTART:20261005T090000Z\nRRULE:FREQ=WEEKLY;COUNT=3\nSUMMARY:Class\nEND:VEVENT\n\
             BEGIN:VEVENT\nUID:s\nRECURRENCE-ID:someday\nDTSTART:20261012T100000Z\nSUMMARY:y",
        )
        .as_bytes(),
    );
    assert!(read.events.is_empty());
    assert_eq!(read.unreadable[0].line, Some(12));
}

#[test]
fn a_hidden_event_with_the_uid_of_a_visible_one_is_doubt_enough() {
    let file = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:twin\r\nDTSTART:20261105T100000Z\r\n\
                SUMMARY:Public\r\nEND:VEVENT\r\nEND:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:twin\r\n\
                DTSTART:20261105T100000Z\r\nCLASS:PRIVATE\r\nEND:VEVENT\r\n";
    let read = parse(file.as_bytes());
    assert_eq!(read.unreadable.len(), 2, "{:?}", read.unreadable);
    assert!(read.events.is_empty());
}
