use super::*;
use crate::model::{Body, BodyType, Marker, Sensitivity, ShowAs};
use crate::planner::{content_hash, payload};
use crate::policy::CopyPolicy;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use proptest::prelude::*;

const SECRET: &str = "SECRET-board-dismissal";

fn ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// `[2024-05-01T00:00Z, 2024-05-31T00:00Z]`.
fn window() -> Window {
    Window::around(NaiveDate::from_ymd_opt(2024, 5, 1).unwrap(), 0, 30)
}

fn ev(k: &str, start: &str) -> SourceEvent {
    let start = ts(start);
    SourceEvent {
        key: SourceKey::single(k),
        ical_uid: None,
        subject: format!("Event {k}"),
        start: EventTime::Instant(start),
        end: EventTime::Instant(start + Duration::hours(1)),
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

fn private(k: &str, start: &str) -> SourceEvent {
    SourceEvent {
        subject: SECRET.into(),
        sensitivity: Sensitivity::Private,
        ..ev(k, start)
    }
}

/// A managed copy that is exactly what `policy` wants for `src`.
fn copy_of(src: &SourceEvent, policy: &Policy, id: &str) -> InspectedCopy {
    let p = payload(src, &policy.copy);
    InspectedCopy::plain(ManagedEvent {
        target_id: id.into(),
        marker: Marker {
            source_key: src.key.clone(),
            content_hash: content_hash(&p),
        },
        current: p,
    })
}

/// `copy` moved to `start` (one hour long), as by a hand edit.
fn moved(mut copy: InspectedCopy, start: &str) -> InspectedCopy {
    let start = ts(start);
    copy.managed.current.start = EventTime::Instant(start);
    copy.managed.current.end = EventTime::Instant(start + Duration::hours(1));
    copy
}

fn pol() -> Policy {
    Policy::default()
}

fn run(source: &[SourceEvent], target: &[InspectedCopy]) -> Validation {
    validate(source, target, &pol(), &window())
}

fn kinds(v: &Validation) -> Vec<ProblemKind> {
    v.problems.iter().map(|p| p.kind).collect()
}

fn only(v: &Validation) -> &Problem {
    assert_eq!(v.problems.len(), 1, "{:#?}", v.problems);
    &v.problems[0]
}

#[test]
fn an_exact_mirror_is_clean_and_counts_what_was_checked() {
    let a = ev("a", "2024-05-02T10:00:00Z");
    let b = ev("b", "2024-05-03T10:00:00Z");
    let p = private("p", "2024-05-04T10:00:00Z");
    // An ordinary past copy: its source is no longer read.
    let old = moved(
        copy_of(&ev("old", "2024-04-01T10:00:00Z"), &pol(), "t-old"),
        "2024-04-01T10:00:00Z",
    );
    let v = run(
        &[a.clone(), b.clone(), p],
        &[copy_of(&a, &pol(), "t-a"), copy_of(&b, &pol(), "t-b"), old],
    );
    assert!(v.is_clean(), "{:#?}", v.problems);
    assert_eq!(v.counts, ProblemCounts::default());
    assert_eq!(
        v.checked,
        Checked {
            public_source_events: 2,
            non_public_source_events: 1,
            managed_copies: 3,
            managed_in_window: 2,
        }
    );
    assert_eq!(v.counts.summary(), "no problems");
}

#[test]
fn a_public_event_without_copy_is_missing_a_private_one_is_not() {
    let a = ev("a", "2024-05-02T10:00:00Z");
    let v = run(&[a, private("p", "2024-05-04T10:00:00Z")], &[]);
    let p = only(&v);
    assert_eq!(p.kind, ProblemKind::Missing);
    assert_eq!(p.subject.as_deref(), Some("Event a"));
    assert_eq!(start_text(&p.start), "2024-05-02T10:00:00Z");
    assert_eq!(p.target_id, None);
    assert_eq!(v.counts.missing, 1);
    assert_eq!(v.counts.total, 1);
}

#[test]
fn events_outside_the_window_are_not_missing() {
    let v = run(
        &[
            ev("past", "2024-04-30T23:59:59Z"),
            ev("far", "2024-05-31T00:00:01Z"),
        ],
        &[],
    );
    assert!(v.is_clean(), "{:#?}", v.problems);
}

#[test]
fn an_edited_copy_is_stale_naming_the_fields() {
    let a = ev("a", "2024-05-02T10:00:00Z");
    let mut c = copy_of(&a, &pol(), "t-a");
    c.managed.current.subject = "Event a (edited)".into();
    c.managed.current.show_as = ShowAs::Free;
    let v = run(&[a], &[c]);
    let p = only(&v);
    assert_eq!(p.kind, ProblemKind::Stale);
    assert_eq!(p.fields, ["subject", "show_as"]);
    assert_eq!(
        p.subject.as_deref(),
        Some("Event a"),
        "the source's subject"
    );
    assert_eq!(p.target_id.as_deref(), Some("t-a"));
}

#[test]
fn a_moved_source_makes_its_copy_stale_at_the_new_start() {
    let a = ev("a", "2024-05-02T10:00:00Z");
    let c = copy_of(&a, &pol(), "t-a");
    let a2 = SourceEvent {
        start: EventTime::Instant(ts("2024-05-03T09:00:00Z")),
        end: EventTime::Instant(ts("2024-05-03T10:00:00Z")),
        ..a
    };
    let v = run(&[a2], &[c]);
    let p = only(&v);
    assert_eq!(p.kind, ProblemKind::Stale);
    assert_eq!(p.fields, ["start", "end"]);
    assert_eq!(start_text(&p.start), "2024-05-03T09:00:00Z");
    assert!(p.detail.contains("2024-05-02 10:00Z"), "{}", p.detail);
}

#[test]
fn a_changed_hidden_field_is_stale_through_the_hash() {
    let a = ev("a", "2024-05-02T10:00:00Z");
    let mut c = copy_of(&a, &pol(), "t-a");
    c.managed.marker.content_hash = "0".repeat(32);
    let v = run(&[a], &[c]);
    assert_eq!(only(&v).fields, ["content_hash"]);
}

#[test]
fn a_copy_whose_source_is_gone_is_an_orphan() {
    let a = ev("a", "2024-05-02T10:00:00Z");
    let gone = ev("gone", "2024-05-05T10:00:00Z");
    let v = run(
        std::slice::from_ref(&a),
        &[copy_of(&a, &pol(), "t-a"), copy_of(&gone, &pol(), "t-g")],
    );
    let p = only(&v);
    assert_eq!(p.kind, ProblemKind::Orphan);
    assert_eq!(
        p.subject.as_deref(),
        Some("Event gone"),
        "what the target shows"
    );
    assert_eq!(p.target_id.as_deref(), Some("t-g"));
}

#[test]
fn copies_are_orphans_even_when_the_source_reads_as_empty() {
    // sync withholds these deletions; validate still reports them.
    let a = ev("a", "2024-05-02T10:00:00Z");
    let b = ev("b", "2024-05-03T10:00:00Z");
    let v = run(
        &[],
        &[
            copy_of(&a, &pol(), "t-a"),
            copy_of(&b, &pol(), "t-b"),
            copy_of(&b, &pol(), "t-b2"),
        ],
    );
    assert_eq!(kinds(&v), [ProblemKind::Orphan; 3]);
    assert_eq!(v.counts.orphan, 3);
}

#[test]
fn extra_copies_of_a_public_event_are_duplicates() {
    let a = ev("a", "2024-05-02T10:00:00Z");
    let v = run(
        std::slice::from_ref(&a),
        &[
            copy_of(&a, &pol(), "t-1"),
            copy_of(&a, &pol(), "t-2"),
            copy_of(&a, &pol(), "t-3"),
        ],
    );
    assert_eq!(kinds(&v), [ProblemKind::Duplicate; 2]);
    assert!(
        v.problems
            .iter()
            .all(|p| p.subject.as_deref() == Some("Event a"))
    );
    // The same copy listed twice by the target is one copy, not a duplicate.
    let c = copy_of(&a, &pol(), "t-1");
    assert!(run(&[a], &[c.clone(), c]).is_clean());
}

#[test]
fn a_copy_of_a_private_event_is_a_leak_without_its_subject() {
    let now_private = private("p", "2024-05-02T10:00:00Z");
    let was_public = ev("p", "2024-05-02T10:00:00Z");
    let v = run(
        &[now_private],
        &[
            copy_of(&was_public, &pol(), "t-1"),
            copy_of(&was_public, &pol(), "t-2"),
        ],
    );
    assert_eq!(
        kinds(&v),
        [ProblemKind::Leak; 2],
        "every copy leaks; none is a mere duplicate"
    );
    for p in &v.problems {
        assert_eq!(p.subject, None);
        assert!(p.fields.is_empty());
        assert!(p.detail.contains("not public"), "{}", p.detail);
    }
    assert!(!serde_json::to_string(&v).unwrap().contains(SECRET));
}

#[test]
fn cancelled_or_filtered_out_sources_leak_too() {
    let mut cancelled = ev("c", "2024-05-02T10:00:00Z");
    let c = copy_of(&cancelled, &pol(), "t-c");
    cancelled.is_cancelled = true;
    let mut policy = pol();
    policy.filter.exclude_categories = vec!["public".into()];
    let a = ev("a", "2024-05-03T10:00:00Z");
    let ca = copy_of(&a, &pol(), "t-a");
    let v = validate(&[cancelled, a], &[c, ca], &policy, &window());
    assert_eq!(kinds(&v), [ProblemKind::Leak, ProblemKind::Leak]);
}

#[test]
fn attendees_and_online_meetings_are_leaks_anywhere() {
    let a = ev("a", "2024-05-02T10:00:00Z");
    let mut c = copy_of(&a, &pol(), "t-a");
    c.attendees = 2;
    c.online_meeting = true;
    let mut old = moved(
        copy_of(&ev("old", "2024-04-01T10:00:00Z"), &pol(), "t-old"),
        "2024-04-01T10:00:00Z",
    );
    old.attendees = 1;
    let v = run(&[a], &[c, old]);
    assert_eq!(kinds(&v), [ProblemKind::Leak, ProblemKind::Leak]);
    assert_eq!(v.problems[0].fields, ["attendees"]);
    assert_eq!(v.problems[0].subject.as_deref(), Some("Event old"));
    assert_eq!(v.problems[1].fields, ["attendees", "online_meeting"]);
    assert_eq!(v.problems[1].subject.as_deref(), Some("Event a"));
    assert!(v.problems[1].detail.contains("attendees, online_meeting"));
}

#[test]
fn body_and_location_leak_only_where_the_policy_forbids_them() {
    let a = ev("a", "2024-05-02T10:00:00Z");
    let mut c = copy_of(&a, &pol(), "t-a");
    c.has_body = true;
    c.managed.current.location = "Room 4, badge 7731".into();
    let v = run(std::slice::from_ref(&a), &[c]);
    // One leak naming both fields; the location is not also "stale".
    let p = only(&v);
    assert_eq!(p.kind, ProblemKind::Leak);
    assert_eq!(p.fields, ["body", "location"]);

    let allowed = Policy {
        copy: CopyPolicy {
            location: true,
            body: true,
            categories: false,
        },
        ..pol()
    };
    let mut c = copy_of(&a, &allowed, "t-a");
    c.has_body = true;
    assert!(validate(&[a], &[c], &allowed, &window()).is_clean());
}

#[test]
fn a_forbidden_location_and_another_edit_are_a_leak_and_stale() {
    let a = ev("a", "2024-05-02T10:00:00Z");
    let mut c = copy_of(&a, &pol(), "t-a");
    c.managed.current.location = "Room 4".into();
    c.managed.current.subject = "Edited".into();
    let v = run(&[a], &[c]);
    assert_eq!(kinds(&v), [ProblemKind::Leak, ProblemKind::Stale]);
    assert_eq!(v.problems[1].fields, ["subject", "location"]);
}

#[test]
fn past_copies_keep_what_an_earlier_policy_allowed() {
    let old = ev("old", "2024-04-01T10:00:00Z");
    let mut c = moved(copy_of(&old, &pol(), "t-old"), "2024-04-01T10:00:00Z");
    c.has_body = true;
    c.managed.current.location = "Main hall".into();
    assert!(run(&[], &[c]).is_clean());
}

#[test]
fn a_copy_left_outside_the_window_by_a_moved_source_is_out_of_window() {
    let a = ev("a", "2024-05-02T10:00:00Z");
    // The copy still sits at the source's old time, yesterday.
    let stranded = moved(copy_of(&a, &pol(), "t-old"), "2024-04-30T10:00:00Z");
    let v = run(std::slice::from_ref(&a), std::slice::from_ref(&stranded));
    assert_eq!(kinds(&v), [ProblemKind::OutOfWindow, ProblemKind::Missing]);
    assert_eq!(v.problems[0].subject.as_deref(), Some("Event a"));
    assert_eq!(v.problems[0].target_id.as_deref(), Some("t-old"));
    assert!(v.problems[0].detail.contains("2024-05-02 10:00Z"));
    // Once sync has made the copy in the window, the stranded one remains.
    let v = run(
        std::slice::from_ref(&a),
        &[stranded, copy_of(&a, &pol(), "t-new")],
    );
    assert_eq!(kinds(&v), [ProblemKind::OutOfWindow]);
}

#[test]
fn a_copy_after_the_window_end_is_out_of_window() {
    let far = moved(
        copy_of(&ev("far", "2024-05-02T10:00:00Z"), &pol(), "t-far"),
        "2024-06-15T10:00:00Z",
    );
    let v = run(
        &[ev("x", "2024-05-02T10:00:00Z")],
        &[
            far,
            copy_of(&ev("x", "2024-05-02T10:00:00Z"), &pol(), "t-x"),
        ],
    );
    let p = only(&v);
    assert_eq!(p.kind, ProblemKind::OutOfWindow);
    assert_eq!(p.subject.as_deref(), Some("Event far"));
    assert!(p.detail.contains("after the window's end"));
}

#[test]
fn a_stranded_copy_of_a_now_private_event_is_a_leak() {
    let was_public = ev("p", "2024-05-02T10:00:00Z");
    let stranded = moved(copy_of(&was_public, &pol(), "t-p"), "2024-04-20T10:00:00Z");
    let v = run(&[private("p", "2024-05-02T10:00:00Z")], &[stranded]);
    let p = only(&v);
    assert_eq!(p.kind, ProblemKind::Leak);
    assert_eq!(p.subject, None);
    assert!(p.detail.contains("outside the window"));
}

#[test]
fn problems_are_sorted_by_start_and_counted() {
    let a = ev("a", "2024-05-09T10:00:00Z");
    let b = ev("b", "2024-05-02T10:00:00Z");
    let gone = ev("gone", "2024-05-05T10:00:00Z");
    let all_day = SourceEvent {
        start: EventTime::Date(NaiveDate::from_ymd_opt(2024, 5, 7).unwrap()),
        end: EventTime::Date(NaiveDate::from_ymd_opt(2024, 5, 8).unwrap()),
        is_all_day: true,
        ..ev("d", "2024-05-07T00:00:00Z")
    };
    let v = run(&[a, b, all_day], &[copy_of(&gone, &pol(), "t-g")]);
    let starts: Vec<String> = v.problems.iter().map(|p| start_text(&p.start)).collect();
    assert_eq!(
        starts,
        [
            "2024-05-02T10:00:00Z",
            "2024-05-05T10:00:00Z",
            "2024-05-07",
            "2024-05-09T10:00:00Z"
        ]
    );
    assert_eq!(v.counts.missing, 3);
    assert_eq!(v.counts.orphan, 1);
    assert_eq!(v.counts.summary(), "4 problems: 3 missing, 1 orphan");
    let json = serde_json::to_value(&v.problems[0]).unwrap();
    assert_eq!(json["kind"], "missing");
    assert_eq!(json["start"], "2024-05-02T10:00:00Z");
}

#[test]
fn no_private_subject_reaches_any_problem() {
    let was_public = ev("p", "2024-05-02T10:00:00Z");
    let mut leaky = copy_of(&was_public, &pol(), "t-p");
    leaky.attendees = 3;
    let v = run(
        &[
            private("p", "2024-05-02T10:00:00Z"),
            private("q", "2024-05-03T10:00:00Z"),
        ],
        &[
            leaky,
            copy_of(&was_public, &pol(), "t-p2"),
            moved(copy_of(&was_public, &pol(), "t-p3"), "2024-04-02T10:00:00Z"),
        ],
    );
    assert_eq!(v.counts.leak, 3, "{:#?}", v.problems);
    let text = serde_json::to_string(&v).unwrap();
    assert!(!text.contains(SECRET));
    assert!(v.problems.iter().all(|p| p.subject.is_none()));
}

// ------------------------------------------------- agreement with sync

fn arb_source() -> impl Strategy<Value = SourceEvent> {
    (0..6u8, -3..33i64, any::<bool>(), any::<bool>()).prop_map(|(k, d, public, alt)| {
        let start = ts("2024-05-01T10:00:00Z") + Duration::days(d);
        let mut e = ev(&format!("k{k}"), &start.to_rfc3339());
        if !public {
            e.sensitivity = Sensitivity::Private;
        }
        if alt {
            e.subject.push_str(" (v2)");
        }
        e
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Inside the window, validate and the planner agree: every write the
    /// next sync would make is a problem, and a clean calendar needs none.
    #[test]
    fn validate_agrees_with_the_planner(
        source in proptest::collection::vec(arb_source(), 0..8),
        copied in proptest::collection::vec((arb_source(), 0..4u8), 0..8),
    ) {
        let target: Vec<InspectedCopy> = copied
            .iter()
            .enumerate()
            .map(|(i, (src, _))| {
                let mut public = src.clone();
                public.sensitivity = Sensitivity::Normal;
                copy_of(&public, &pol(), &format!("t{i}"))
            })
            .collect();
        let v = run(&source, &target);
        let managed: Vec<ManagedEvent> = target.iter().map(|c| c.managed.clone()).collect();
        let plan = planner::plan(&source, &managed, &pol(), &window());
        prop_assert_eq!(v.counts.missing, plan.creates.len());
        prop_assert_eq!(v.counts.stale, plan.updates.len());
        let removals = v
            .problems
            .iter()
            .filter(|p| {
                matches!(p.kind, ProblemKind::Orphan | ProblemKind::Duplicate | ProblemKind::Leak)
                    && window().contains(&p.start)
            })
            .count();
        prop_assert_eq!(removals, plan.deletes.len() + plan.deletions_withheld);
        if v.is_clean() {
            prop_assert!(plan.is_empty());
        }
    }
}
