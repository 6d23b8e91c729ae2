//! Apple's exports: quoted `TZID`s, `DURATION`, `RDATE`s and `EXDATE`s.

use super::*;

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
