//! Outlook's exports: Windows time zone names, busy status, a series with
//! exceptions.

use super::*;

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
