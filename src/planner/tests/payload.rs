//! `payload`: what a copy holds of its source event.

use super::*;

#[test]
fn payload_copies_only_what_the_policy_allows() {
    let src = SourceEvent {
        categories: cats(&["Public", "Outreach"]),
        ..ev("a", "2024-05-10T09:00:00Z")
    };
    for bits in 0..8u8 {
        let copy = CopyPolicy {
            location: bits & 1 != 0,
            body: bits & 2 != 0,
            categories: bits & 4 != 0,
        };
        let p = payload(&src, &copy);
        assert_eq!(p.subject, src.subject);
        assert_eq!(p.start, src.start);
        assert_eq!(p.end, src.end);
        assert_eq!(p.is_all_day, src.is_all_day);
        assert_eq!(p.show_as, src.show_as);
        assert_eq!(
            p.location,
            if copy.location {
                src.location.clone()
            } else {
                String::new()
            }
        );
        assert_eq!(
            p.body,
            if copy.body {
                src.body.clone()
            } else {
                Body::default()
            }
        );
        assert_eq!(
            p.categories,
            if copy.categories {
                src.categories.clone()
            } else {
                vec![]
            }
        );
    }
}

#[test]
fn payload_of_all_day_event_keeps_dates() {
    let src = all_day("a", "2024-05-20");
    let p = payload(&src, &CopyPolicy::default());
    assert_eq!(p.start, EventTime::Date(day("2024-05-20")));
    assert_eq!(p.end, EventTime::Date(day("2024-05-21")));
    assert!(p.is_all_day);
}
