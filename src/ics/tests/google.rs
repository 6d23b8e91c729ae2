//! Google's exports: UTC rules, overrides, `X-WR-TIMEZONE`, escapes.

use super::*;

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
