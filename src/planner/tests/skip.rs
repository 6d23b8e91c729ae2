//! Why an event is skipped, and how skips are counted.

use super::*;

#[test]
fn skip_reason_names_the_first_rule_an_event_fails() {
    let filter = FilterPolicy {
        sensitivity: vec![Sensitivity::Normal, Sensitivity::Personal],
        include_categories: vec!["Public".into(), "Open".into()],
        exclude_categories: vec!["Internal".into()],
        skip_cancelled: true,
        show_as: Some(vec![ShowAs::Busy, ShowAs::Tentative]),
        subject_exclude: Some(Regex::new("(?i)^draft").unwrap()),
    };
    let base = ev("a", "2024-05-10T09:00:00Z");
    assert_eq!(skip_reason(&base, &filter), None);
    assert!(is_public(&base, &filter));
    let cases = [
        (
            SourceEvent {
                sensitivity: Sensitivity::Private,
                is_cancelled: true,
                ..base.clone()
            },
            SkipReason::Private,
        ),
        (
            SourceEvent {
                sensitivity: Sensitivity::Confidential,
                ..base.clone()
            },
            SkipReason::Confidential,
        ),
        (
            SourceEvent {
                is_cancelled: true,
                categories: vec!["Internal".into()],
                ..base.clone()
            },
            SkipReason::Cancelled,
        ),
        (
            SourceEvent {
                categories: vec!["Other".into()],
                ..base.clone()
            },
            SkipReason::CategoryNotIncluded,
        ),
        (
            SourceEvent {
                categories: vec!["open".into(), "INTERNAL".into()],
                ..base.clone()
            },
            SkipReason::CategoryExcluded,
        ),
        (
            SourceEvent {
                show_as: ShowAs::Free,
                ..base.clone()
            },
            SkipReason::ShowAs,
        ),
        (
            SourceEvent {
                subject: "Draft: agenda".into(),
                ..base.clone()
            },
            SkipReason::SubjectExcluded,
        ),
    ];
    for (event, reason) in cases {
        assert_eq!(skip_reason(&event, &filter), Some(reason), "{reason:?}");
        assert!(!is_public(&event, &filter));
    }
    let only_personal = FilterPolicy {
        sensitivity: vec![Sensitivity::Personal],
        ..FilterPolicy::default()
    };
    assert_eq!(skip_reason(&base, &only_personal), Some(SkipReason::Normal));
}

#[test]
fn plan_counts_skipped_events_by_reason_once_per_key() {
    let private = SourceEvent {
        sensitivity: Sensitivity::Private,
        ..ev("p", "2024-05-10T09:00:00Z")
    };
    let cancelled = SourceEvent {
        is_cancelled: true,
        ..ev("c", "2024-05-11T09:00:00Z")
    };
    let plan = plan(
        &[
            private.clone(),
            // A second event of one key counts once.
            private,
            cancelled.clone(),
            // Outside the window: not counted.
            SourceEvent {
                key: key("late"),
                ..SourceEvent {
                    start: at(ts("2024-07-01T09:00:00Z")),
                    ..cancelled
                }
            },
            ev("a", "2024-05-12T09:00:00Z"),
        ],
        &[],
        &pol(),
        &window(),
    );
    assert_eq!(plan.skipped_non_public, 2);
    assert_eq!(
        plan.skipped,
        BTreeMap::from([(SkipReason::Private, 1), (SkipReason::Cancelled, 1)])
    );
    assert_eq!(plan.creates.len(), 1);
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(
        json["skipped"],
        serde_json::json!({"private": 1, "cancelled": 1})
    );
}
