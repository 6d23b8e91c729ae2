use super::*;
use crate::model::{Body, BodyType, Sensitivity, ShowAs};
use crate::policy::FilterPolicy;
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

// ------------------------------------------------------------ is_public

#[test]
fn filter_sensitivity() {
    let default = FilterPolicy::default();
    let personal_too =
        filter_with(|f| f.sensitivity = vec![Sensitivity::Normal, Sensitivity::Personal]);
    let none = filter_with(|f| f.sensitivity.clear());
    let cases = [
        (Sensitivity::Normal, &default, true),
        (Sensitivity::Personal, &default, false),
        (Sensitivity::Private, &default, false),
        (Sensitivity::Confidential, &default, false),
        (Sensitivity::Normal, &personal_too, true),
        (Sensitivity::Personal, &personal_too, true),
        (Sensitivity::Private, &personal_too, false),
        (Sensitivity::Confidential, &personal_too, false),
        (Sensitivity::Normal, &none, false),
    ];
    for (s, f, want) in cases {
        let e = SourceEvent {
            sensitivity: s,
            ..ev("a", "2024-05-10T09:00:00Z")
        };
        assert_eq!(is_public(&e, f), want, "{s:?} with {:?}", f.sensitivity);
    }
}

#[test]
fn filter_cancelled() {
    let skip = FilterPolicy::default();
    let keep = filter_with(|f| f.skip_cancelled = false);
    for (cancelled, f, want) in [
        (false, &skip, true),
        (true, &skip, false),
        (false, &keep, true),
        (true, &keep, true),
    ] {
        let e = SourceEvent {
            is_cancelled: cancelled,
            ..ev("a", "2024-05-10T09:00:00Z")
        };
        assert_eq!(is_public(&e, f), want, "cancelled={cancelled}");
    }
}

#[test]
fn filter_include_categories() {
    let all = FilterPolicy::default();
    let public = filter_with(|f| f.include_categories = cats(&["Public", "Outreach"]));
    let umlaut = filter_with(|f| f.include_categories = cats(&["öffentlich"]));
    let cases: [(&[&str], &FilterPolicy, bool); 10] = [
        (&[], &all, true),
        (&["Anything"], &all, true),
        (&["Public"], &public, true),
        (&["public"], &public, true),
        (&["PUBLIC"], &public, true),
        (&["Other", "outreach"], &public, true),
        (&["Other"], &public, false),
        (&[], &public, false),
        (&["ÖFFENTLICH"], &umlaut, true),
        (&["Public "], &public, false),
    ];
    for (c, f, want) in cases {
        let e = SourceEvent {
            categories: cats(c),
            ..ev("a", "2024-05-10T09:00:00Z")
        };
        assert_eq!(is_public(&e, f), want, "categories {c:?}");
    }
}

#[test]
fn filter_exclude_categories() {
    let f = filter_with(|f| f.exclude_categories = cats(&["Internal", "HR"]));
    let both = filter_with(|f| {
        f.include_categories = cats(&["Public"]);
        f.exclude_categories = cats(&["Internal"]);
    });
    let cases: [(&[&str], &FilterPolicy, bool); 8] = [
        (&[], &f, true),
        (&["Public"], &f, true),
        (&["Internal"], &f, false),
        (&["INTERNAL"], &f, false),
        (&["Public", "hr"], &f, false),
        (&["Public"], &both, true),
        (&["Public", "internal"], &both, false),
        (&["Internal"], &both, false),
    ];
    for (c, f, want) in cases {
        let e = SourceEvent {
            categories: cats(c),
            ..ev("a", "2024-05-10T09:00:00Z")
        };
        assert_eq!(is_public(&e, f), want, "categories {c:?}");
    }
}

#[test]
fn filter_show_as() {
    let any = FilterPolicy::default();
    let busy = filter_with(|f| f.show_as = Some(vec![ShowAs::Busy, ShowAs::Tentative]));
    let nothing = filter_with(|f| f.show_as = Some(vec![]));
    for s in ShowAs::ALL {
        let e = SourceEvent {
            show_as: s,
            ..ev("a", "2024-05-10T09:00:00Z")
        };
        assert!(is_public(&e, &any), "{s:?} with no allow-list");
        assert_eq!(
            is_public(&e, &busy),
            matches!(s, ShowAs::Busy | ShowAs::Tentative),
            "{s:?}"
        );
        assert!(!is_public(&e, &nothing), "{s:?} with an empty allow-list");
    }
}

#[test]
fn filter_subject_exclude() {
    let f = filter_with(|f| {
        f.subject_exclude = Some(Regex::new(r"(?i)^canceled:|\[internal\]").unwrap())
    });
    for (subject, want) in [
        ("Town hall", true),
        ("Canceled: Town hall", false),
        ("canceled: canceled: Town hall", false),
        ("Town hall (canceled: no)", true),
        ("Budget [internal] review", false),
        ("Budget [INTERNAL]", false),
        ("", true),
    ] {
        let e = SourceEvent {
            subject: subject.into(),
            ..ev("a", "2024-05-10T09:00:00Z")
        };
        assert_eq!(is_public(&e, &f), want, "{subject:?}");
        assert!(
            is_public(&e, &FilterPolicy::default()),
            "{subject:?} with no regex"
        );
    }
}

#[test]
fn filter_rules_combine_with_and() {
    let f = FilterPolicy {
        sensitivity: vec![Sensitivity::Normal],
        include_categories: cats(&["Public"]),
        exclude_categories: cats(&["Internal"]),
        skip_cancelled: true,
        show_as: Some(vec![ShowAs::Busy]),
        subject_exclude: Some(Regex::new("^Draft").unwrap()),
    };
    let good = ev("a", "2024-05-10T09:00:00Z");
    assert!(is_public(&good, &f));
    let breakers: Vec<SourceEvent> = vec![
        SourceEvent {
            sensitivity: Sensitivity::Private,
            ..good.clone()
        },
        SourceEvent {
            is_cancelled: true,
            ..good.clone()
        },
        SourceEvent {
            categories: cats(&["Other"]),
            ..good.clone()
        },
        SourceEvent {
            categories: cats(&["Public", "Internal"]),
            ..good.clone()
        },
        SourceEvent {
            show_as: ShowAs::Free,
            ..good.clone()
        },
        SourceEvent {
            subject: "Draft plan".into(),
            ..good.clone()
        },
    ];
    for (i, e) in breakers.iter().enumerate() {
        assert!(!is_public(e, &f), "breaker {i}");
    }
}

// ------------------------------------------------------------- payload

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

// -------------------------------------------------------- content_hash

#[test]
fn content_hash_is_stable_and_hex() {
    let h = content_hash(&sample_payload());
    assert_eq!(h.len(), 32);
    assert!(
        h.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    assert_eq!(h, content_hash(&sample_payload().clone()));
    // Pinned: changing the canonical form would rewrite every managed event.
    assert_eq!(h, GOLDEN_CONTENT_HASH);
}

const GOLDEN_CONTENT_HASH: &str = "9be7e77d6fd0ccbe44e822609be239dd";

#[test]
fn content_hash_changes_with_every_field() {
    let base = sample_payload();
    let h = content_hash(&base);
    let edits: Vec<Edit> = vec![
        ("subject", Box::new(|p| p.subject.push('!'))),
        (
            "start",
            Box::new(|p| p.start = at(ts("2024-05-10T09:00:01Z"))),
        ),
        ("end", Box::new(|p| p.end = at(ts("2024-05-10T17:30:00Z")))),
        ("all-day", Box::new(|p| p.is_all_day = true)),
        ("show_as", Box::new(|p| p.show_as = ShowAs::Free)),
        ("location", Box::new(|p| p.location.clear())),
        (
            "body type",
            Box::new(|p| p.body.content_type = BodyType::Text),
        ),
        (
            "body",
            Box::new(|p| p.body.content = "<p>Welcome!</p>".into()),
        ),
        (
            "categories",
            Box::new(|p| {
                p.categories.pop();
            }),
        ),
        ("category order", Box::new(|p| p.categories.reverse())),
        (
            "category text",
            Box::new(|p| p.categories[0] = "public".into()),
        ),
        // Field boundaries are unambiguous.
        (
            "boundary",
            Box::new(|p| {
                p.subject = "Open dayMain hall".into();
                p.location.clear();
            }),
        ),
        (
            "category split",
            Box::new(|p| p.categories = cats(&["PublicOutreach"])),
        ),
        (
            "date vs midnight instant",
            Box::new(|p| {
                p.start = EventTime::Date(day("2024-05-10"));
            }),
        ),
    ];
    let mut seen = HashSet::from([h.clone()]);
    for (what, edit) in edits {
        let mut p = base.clone();
        edit(&mut p);
        let h2 = content_hash(&p);
        assert_ne!(h2, h, "{what} must change the hash");
        assert!(seen.insert(h2), "{what} collides with another edit");
    }
}

#[test]
fn content_hash_date_and_midnight_instant_differ() {
    let mut a = sample_payload();
    a.start = EventTime::Date(day("2024-05-10"));
    let mut b = sample_payload();
    b.start = at(ts("2024-05-10T00:00:00Z"));
    assert_ne!(content_hash(&a), content_hash(&b));
}

/// The field `Canonical::time` writes for `t`.
fn canonical_time(t: &EventTime) -> String {
    let mut c = Canonical::new();
    c.time(t);
    String::from_utf8(c.0).unwrap()
}

/// The same field from chrono's own formatting, the canonical form's definition.
fn chrono_time(t: &EventTime) -> String {
    let text = match t {
        EventTime::Date(d) => format!("date {}", d.format("%Y-%m-%d")),
        EventTime::Instant(i) => format!(
            "instant {}",
            i.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        ),
    };
    format!("{}:{text};", text.len())
}

#[test]
fn canonical_times_are_chrono_text() {
    let instants = [
        "2024-05-10T09:00:00Z",
        "2024-05-10T09:00:00.5Z",
        "2024-05-10T09:00:00.123456Z",
        "2024-05-10T09:00:00.000000001Z",
        "0000-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999999Z",
        "+10000-01-01T00:00:00Z",
        "-0001-12-31T23:59:59Z",
    ];
    for s in instants {
        let t = at(DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|_| s.parse().unwrap()));
        assert_eq!(canonical_time(&t), chrono_time(&t), "{s}");
    }
    // A leap second reads as second 60.
    let leap = NaiveDate::from_ymd_opt(2016, 12, 31)
        .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_250_000_000))
        .unwrap()
        .and_utc();
    assert_eq!(
        canonical_time(&at(leap)),
        "32:instant 2016-12-31T23:59:60.250Z;"
    );
    assert_eq!(canonical_time(&at(leap)), chrono_time(&at(leap)));
    for d in [day("2024-05-10"), day("0001-01-01")]
        .into_iter()
        .chain(NaiveDate::from_ymd_opt(-44, 3, 15))
        .chain(NaiveDate::from_ymd_opt(12_345, 6, 7))
    {
        let t = EventTime::Date(d);
        assert_eq!(canonical_time(&t), chrono_time(&t), "{d}");
    }
}

// ---------------------------------------------------------------- plan

#[test]
fn creates_missing_public_events() {
    let p = pol();
    let src = [
        ev("b", "2024-05-12T09:00:00Z"),
        ev("a", "2024-05-10T09:00:00Z"),
    ];
    let plan = plan(&src, &[], &p, &window());
    assert_eq!(plan.creates.len(), 2);
    assert!(plan.updates.is_empty() && plan.deletes.is_empty());
    // Sorted by start.
    assert_eq!(plan.creates[0].key, key("a"));
    assert_eq!(plan.creates[1].key, key("b"));
    for c in &plan.creates {
        let s = src.iter().find(|s| s.key == c.key).unwrap();
        assert_eq!(c.payload, payload(s, &p.copy));
        assert_eq!(c.marker.source_key, c.key);
        assert_eq!(c.marker.content_hash, content_hash(&c.payload));
    }
    assert_eq!(plan.writes(), 2);
    assert!(!plan.is_empty());
}

#[test]
fn up_to_date_copy_is_unchanged() {
    for p in [pol(), copy_all()] {
        let src = [ev("a", "2024-05-10T09:00:00Z")];
        let m = [copy_of(&src[0], &p, "t1")];
        let plan = plan(&src, &m, &p, &window());
        assert!(plan.is_empty(), "{plan:?}");
        assert_eq!(plan.unchanged, 1);
        assert_eq!(plan.managed_in_window, 1);
        assert_eq!(plan.writes(), 0);
    }
}

#[test]
fn source_change_updates_same_target() {
    let p = copy_all();
    let old = ev("a", "2024-05-10T09:00:00Z");
    let m = [copy_of(&old, &p, "t1")];
    let changes: Vec<(&str, SourceEvent)> = vec![
        (
            "subject",
            SourceEvent {
                subject: "New".into(),
                ..old.clone()
            },
        ),
        (
            "start",
            SourceEvent {
                start: at(ts("2024-05-11T09:00:00Z")),
                ..old.clone()
            },
        ),
        (
            "end",
            SourceEvent {
                end: at(ts("2024-05-10T12:00:00Z")),
                ..old.clone()
            },
        ),
        (
            "show_as",
            SourceEvent {
                show_as: ShowAs::Free,
                ..old.clone()
            },
        ),
        (
            "location",
            SourceEvent {
                location: "Annex".into(),
                ..old.clone()
            },
        ),
        (
            "categories",
            SourceEvent {
                categories: cats(&["Public", "Fun"]),
                ..old.clone()
            },
        ),
        // Bodies are covered by the marker's hash.
        (
            "body",
            SourceEvent {
                body: Body {
                    content_type: BodyType::Html,
                    content: "<p>New</p>".into(),
                },
                ..old.clone()
            },
        ),
    ];
    for (what, new) in changes {
        let plan = plan(std::slice::from_ref(&new), &m, &p, &window());
        assert_eq!(plan.updates.len(), 1, "{what}");
        assert!(plan.creates.is_empty() && plan.deletes.is_empty(), "{what}");
        let u = &plan.updates[0];
        assert_eq!(u.target_id, "t1");
        assert_eq!(u.payload, payload(&new, &p.copy));
        assert_eq!(u.marker.content_hash, content_hash(&u.payload));
        assert_eq!(u.marker.source_key, key("a"));
    }
}

#[test]
fn hand_edits_of_copied_fields_are_repaired() {
    let p = copy_all();
    let src = ev("a", "2024-05-10T09:00:00Z");
    let good = copy_of(&src, &p, "t1");
    let edits: Vec<Edit> = vec![
        ("subject", Box::new(|c| c.subject = "Edited".into())),
        (
            "start",
            Box::new(|c| c.start = at(ts("2024-05-10T08:00:00Z"))),
        ),
        ("end", Box::new(|c| c.end = at(ts("2024-05-10T11:00:00Z")))),
        ("all-day", Box::new(|c| c.is_all_day = true)),
        ("show_as", Box::new(|c| c.show_as = ShowAs::Oof)),
        ("location", Box::new(|c| c.location = "Elsewhere".into())),
        (
            "categories",
            Box::new(|c| c.categories.push("Extra".into())),
        ),
        ("categories removed", Box::new(|c| c.categories.clear())),
    ];
    for (what, edit) in edits {
        let mut m = good.clone();
        edit(&mut m.current);
        let plan = plan(std::slice::from_ref(&src), &[m], &p, &window());
        assert_eq!(plan.updates.len(), 1, "{what}");
        assert_eq!(plan.updates[0].target_id, "t1");
        assert_eq!(plan.updates[0].payload, good.current, "{what}");
    }
}

#[test]
fn forbidden_fields_left_on_a_copy_are_cleared() {
    // A copy written under a looser policy still holds location and categories.
    let loose = copy_all();
    let strict = pol();
    let src = ev("a", "2024-05-10T09:00:00Z");
    let mut m = copy_of(&src, &loose, "t1");
    // Even with a marker that claims the strict content.
    m.marker.content_hash = content_hash(&payload(&src, &strict.copy));
    let plan = plan(std::slice::from_ref(&src), &[m], &strict, &window());
    assert_eq!(plan.updates.len(), 1);
    let u = &plan.updates[0].payload;
    assert!(u.location.is_empty() && u.categories.is_empty() && u.body == Body::default());
}

#[test]
fn bodies_and_category_order_alone_do_not_update() {
    let p = copy_all();
    let src = SourceEvent {
        categories: cats(&["Public", "Outreach"]),
        ..ev("a", "2024-05-10T09:00:00Z")
    };
    let mut m = copy_of(&src, &p, "t1");
    // The server rewrote the HTML and returned the categories in another order.
    m.current.body.content = "<html><body><p>Agenda</p></body></html>\r\n".into();
    m.current.categories.reverse();
    let plan = plan(&[src], &[m], &p, &window());
    assert!(plan.is_empty(), "{plan:?}");
    assert_eq!(plan.unchanged, 1);
}

#[test]
fn duplicates_keep_the_up_to_date_copy() {
    let p = pol();
    let src = ev("a", "2024-05-10T09:00:00Z");
    let good = copy_of(&src, &p, "t3");
    let mut stale1 = copy_of(&src, &p, "t1");
    stale1.current.subject = "old".into();
    let mut stale2 = copy_of(&src, &p, "t2");
    stale2.marker.content_hash = "0".repeat(32);
    let plan = plan(
        std::slice::from_ref(&src),
        &[stale2, good, stale1],
        &p,
        &window(),
    );
    assert!(plan.creates.is_empty() && plan.updates.is_empty());
    assert_eq!(plan.unchanged, 1);
    let ids: Vec<_> = plan
        .deletes
        .iter()
        .map(|d| (d.target_id.as_str(), d.reason))
        .collect();
    assert_eq!(
        ids,
        [
            ("t1", DeleteReason::Duplicate),
            ("t2", DeleteReason::Duplicate)
        ]
    );
}

#[test]
fn duplicates_all_stale_keep_smallest_id_and_update_it() {
    let p = pol();
    let src = ev("a", "2024-05-10T09:00:00Z");
    let mut ms: Vec<ManagedEvent> = ["t9", "t10", "t2"]
        .iter()
        .map(|id| copy_of(&src, &p, id))
        .collect();
    for m in &mut ms {
        m.current.subject = "old".into();
    }
    let plan = plan(std::slice::from_ref(&src), &ms, &p, &window());
    assert_eq!(plan.updates.len(), 1);
    assert_eq!(
        plan.updates[0].target_id, "t10",
        "smallest id, compared as text"
    );
    let del: Vec<_> = plan.deletes.iter().map(|d| d.target_id.as_str()).collect();
    assert_eq!(del, ["t2", "t9"]);
    assert!(
        plan.deletes
            .iter()
            .all(|d| d.reason == DeleteReason::Duplicate)
    );
}

#[test]
fn gone_and_not_public_sources_are_deleted() {
    let p = pol();
    let kept = ev("keep", "2024-05-09T09:00:00Z");
    let gone = ev("gone", "2024-05-10T09:00:00Z");
    let private = ev("priv", "2024-05-11T09:00:00Z");
    let cancelled = ev("canc", "2024-05-12T09:00:00Z");
    let managed = [
        copy_of(&kept, &p, "t1"),
        copy_of(&gone, &p, "t2"),
        copy_of(&private, &p, "t3"),
        copy_of(&cancelled, &p, "t4"),
        copy_of(&cancelled, &p, "t5"),
    ];
    let now_private = SourceEvent {
        sensitivity: Sensitivity::Private,
        ..private.clone()
    };
    let now_cancelled = SourceEvent {
        is_cancelled: true,
        ..cancelled.clone()
    };
    let plan = plan(&[kept, now_private, now_cancelled], &managed, &p, &window());
    let del: Vec<_> = plan
        .deletes
        .iter()
        .map(|d| (d.target_id.as_str(), d.reason))
        .collect();
    assert_eq!(
        del,
        [
            ("t2", DeleteReason::SourceGone),
            ("t3", DeleteReason::NotPublic),
            ("t4", DeleteReason::NotPublic),
            ("t5", DeleteReason::Duplicate),
        ]
    );
    assert_eq!(plan.skipped_non_public, 2);
    assert_eq!(plan.unchanged, 1);
    assert_eq!(plan.managed_in_window, 5);
    assert_eq!(plan.deletions_withheld, 0);
    // A delete names what the target shows.
    assert_eq!(plan.deletes[0].subject, "Event gone");
    assert_eq!(plan.deletes[0].start, at(ts("2024-05-10T09:00:00Z")));
    assert_eq!(plan.deletes[0].key, key("gone"));
}

#[test]
fn empty_source_never_deletes_except_duplicates() {
    let p = pol();
    let a = ev("a", "2024-05-10T09:00:00Z");
    let b = ev("b", "2024-05-11T09:00:00Z");
    let managed = [
        copy_of(&a, &p, "t1"),
        copy_of(&b, &p, "t2"),
        copy_of(&b, &p, "t3"),
    ];
    // Nothing at all, or only events outside the window.
    let outside = ev("c", "2024-06-05T09:00:00Z");
    for source in [vec![], vec![outside]] {
        let plan = plan(&source, &managed, &p, &window());
        assert!(plan.creates.is_empty() && plan.updates.is_empty());
        let del: Vec<_> = plan
            .deletes
            .iter()
            .map(|d| (d.target_id.as_str(), d.reason))
            .collect();
        assert_eq!(del, [("t3", DeleteReason::Duplicate)]);
        assert_eq!(plan.deletions_withheld, 2);
        assert_eq!(plan.managed_in_window, 3);
    }
}

#[test]
fn non_public_only_source_is_not_empty() {
    // The source read fine: it holds one private event, so the public copy of
    // another, vanished event is really gone.
    let p = pol();
    let gone = ev("gone", "2024-05-10T09:00:00Z");
    let private = SourceEvent {
        sensitivity: Sensitivity::Private,
        ..ev("priv", "2024-05-11T09:00:00Z")
    };
    let plan = plan(&[private], &[copy_of(&gone, &p, "t1")], &p, &window());
    assert_eq!(plan.deletes.len(), 1);
    assert_eq!(plan.deletes[0].reason, DeleteReason::SourceGone);
    assert_eq!(plan.deletions_withheld, 0);
    assert_eq!(plan.skipped_non_public, 1);
}

#[test]
fn source_window_edges() {
    let p = pol();
    let w = window();
    let cases = [
        (at(w.start), true),
        (at(w.end), true),
        (at(w.start - Duration::seconds(1)), false),
        (at(w.end + Duration::seconds(1)), false),
        (at(w.start + Duration::seconds(1)), true),
        (at(w.end - Duration::seconds(1)), true),
        (EventTime::Date(day("2024-05-01")), true),
        (EventTime::Date(day("2024-05-31")), true),
        (EventTime::Date(day("2024-04-30")), false),
        (EventTime::Date(day("2024-06-01")), false),
    ];
    for (start, inside) in cases {
        let src = SourceEvent {
            start,
            end: start,
            is_all_day: matches!(start, EventTime::Date(_)),
            ..ev("a", "2024-05-10T09:00:00Z")
        };
        let plan = plan(std::slice::from_ref(&src), &[], &p, &w);
        assert_eq!(plan.creates.len(), usize::from(inside), "{start}");
        // An outside event does not even count as a source event: a managed
        // copy of another key is withheld, not deleted.
        let other = copy_of(&ev("z", "2024-05-20T09:00:00Z"), &p, "t1");
        let plan2 = super::plan(std::slice::from_ref(&src), &[other], &p, &w);
        assert_eq!(plan2.deletions_withheld, usize::from(!inside), "{start}");
        assert_eq!(plan2.deletes.len(), usize::from(inside), "{start}");
    }
}

#[test]
fn managed_window_edges() {
    let p = pol();
    let w = window();
    let cases = [
        (at(w.start), true),
        (at(w.end), true),
        (at(w.start - Duration::seconds(1)), false),
        (at(w.end + Duration::seconds(1)), false),
        (EventTime::Date(day("2024-05-01")), true),
        (EventTime::Date(day("2024-05-31")), true),
        (EventTime::Date(day("2024-04-30")), false),
        (EventTime::Date(day("2024-06-01")), false),
    ];
    // Some other source event exists, so gone copies in the window are deleted.
    let other = ev("other", "2024-05-15T09:00:00Z");
    for (start, inside) in cases {
        let mut m = copy_of(&ev("gone", "2024-05-10T09:00:00Z"), &p, "t1");
        m.current.start = start;
        let plan = plan(std::slice::from_ref(&other), &[m], &p, &w);
        assert_eq!(plan.managed_in_window, usize::from(inside), "{start}");
        assert_eq!(plan.deletes.len(), usize::from(inside), "{start}");
        assert_eq!(plan.creates.len(), 1);
    }
}

#[test]
fn copies_outside_the_window_are_left_alone() {
    let p = pol();
    let w = window();
    // The source event moved into the window; its old copy is in the past.
    let src = ev("a", "2024-05-10T09:00:00Z");
    let mut old = copy_of(&src, &p, "t-old");
    old.current.start = at(ts("2024-04-01T09:00:00Z"));
    old.current.end = at(ts("2024-04-01T10:00:00Z"));
    // A private source event whose copy is outside the window.
    let private = SourceEvent {
        sensitivity: Sensitivity::Private,
        ..ev("p", "2024-05-11T09:00:00Z")
    };
    let mut private_copy = copy_of(&ev("p", "2024-05-11T09:00:00Z"), &p, "t-priv");
    private_copy.current.start = at(ts("2024-07-01T09:00:00Z"));
    let plan = plan(&[src, private], &[old, private_copy], &p, &w);
    assert_eq!(plan.creates.len(), 1);
    assert!(plan.updates.is_empty() && plan.deletes.is_empty());
    assert_eq!(plan.managed_in_window, 0);
}

#[test]
fn all_day_events_plan_and_converge() {
    let p = pol();
    let src = all_day("a", "2024-05-31");
    let plan1 = plan(std::slice::from_ref(&src), &[], &p, &window());
    assert_eq!(plan1.creates.len(), 1);
    let applied = apply(&[], &plan1, &mut 0);
    let plan2 = plan(std::slice::from_ref(&src), &applied, &p, &window());
    assert!(plan2.is_empty());
    // A timed copy of an all-day event is repaired.
    let mut timed = applied[0].clone();
    timed.current.start = at(ts("2024-05-31T00:00:00Z"));
    let plan3 = plan(std::slice::from_ref(&src), &[timed], &p, &window());
    assert_eq!(plan3.updates.len(), 1);
}

#[test]
fn first_source_event_of_a_key_wins() {
    let p = pol();
    let first = ev("a", "2024-05-10T09:00:00Z");
    let second = SourceEvent {
        subject: "second".into(),
        ..first.clone()
    };
    let plan1 = plan(&[first.clone(), second.clone()], &[], &p, &window());
    assert_eq!(plan1.creates.len(), 1);
    assert_eq!(plan1.creates[0].payload.subject, "Event a");
    // A private first event hides a public second one with the same key.
    let private_first = SourceEvent {
        sensitivity: Sensitivity::Private,
        ..first.clone()
    };
    let plan2 = plan(
        &[private_first, second],
        &[copy_of(&first, &p, "t1")],
        &p,
        &window(),
    );
    assert!(plan2.creates.is_empty());
    assert_eq!(plan2.deletes.len(), 1);
    assert_eq!(plan2.deletes[0].reason, DeleteReason::NotPublic);
    // An out-of-window event of the same key does not count as the first.
    let outside = SourceEvent {
        subject: "outside".into(),
        start: at(ts("2024-07-01T09:00:00Z")),
        ..first.clone()
    };
    let plan3 = plan(&[outside, first.clone()], &[], &p, &window());
    assert_eq!(plan3.creates[0].payload.subject, "Event a");
    // A public first event with a private second one of the same key (a
    // source's other reading of it) is not public: any doubt means not.
    let private_second = SourceEvent {
        sensitivity: Sensitivity::Private,
        subject: "second".into(),
        ..first.clone()
    };
    let plan4 = plan(
        &[first.clone(), private_second],
        &[copy_of(&first, &p, "t1")],
        &p,
        &window(),
    );
    assert!(plan4.creates.is_empty());
    assert_eq!(plan4.deletes.len(), 1);
    assert_eq!(plan4.deletes[0].reason, DeleteReason::NotPublic);
    assert_eq!(plan4.skipped_non_public, 1);
    assert_eq!(plan4.skipped.get(&SkipReason::Private), Some(&1));
    // An unreadable event is skipped as such, whatever its fields say.
    let unreadable = SourceEvent {
        key: SourceKey::unreadable("x#3"),
        ..ev("u", "2024-05-10T09:00:00Z")
    };
    assert_eq!(
        skip_reason(&unreadable, &p.filter),
        Some(SkipReason::Unreadable)
    );
}

#[test]
fn repeated_target_id_is_planned_once() {
    let p = pol();
    let src = ev("a", "2024-05-10T09:00:00Z");
    let gone = ev("b", "2024-05-11T09:00:00Z");
    let m = [
        copy_of(&gone, &p, "t1"),
        copy_of(&gone, &p, "t1"),
        copy_of(&src, &p, "t2"),
    ];
    let plan = plan(std::slice::from_ref(&src), &m, &p, &window());
    assert_eq!(plan.managed_in_window, 2);
    assert_eq!(plan.deletes.len(), 1);
    assert_eq!(plan.deletes[0].reason, DeleteReason::SourceGone);
}

#[test]
fn output_is_sorted_by_utc_start_then_key() {
    let p = pol();
    let src = [
        ev("c", "2024-05-12T09:00:00Z"),
        all_day("d", "2024-05-12"),
        ev("b", "2024-05-10T09:00:00Z"),
        ev("a", "2024-05-10T09:00:00Z"),
        all_day("e", "2024-05-02"),
    ];
    let plan1 = plan(&src, &[], &p, &window());
    let keys: Vec<_> = plan1.creates.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(keys, ["i:e", "i:a", "i:b", "i:d", "i:c"]);
    let mut reversed = src.clone();
    reversed.reverse();
    assert_eq!(plan(&reversed, &[], &p, &window()), plan1);
}

#[test]
fn delete_reason_names() {
    for (r, s) in [
        (DeleteReason::SourceGone, "source_gone"),
        (DeleteReason::NotPublic, "not_public"),
        (DeleteReason::Duplicate, "duplicate"),
    ] {
        assert_eq!(r.as_str(), s);
        assert_eq!(r.to_string(), s);
        assert_eq!(serde_json::to_value(r).unwrap(), serde_json::json!(s));
    }
}

#[test]
fn plan_serializes_to_json() {
    let p = pol();
    let src = [ev("a", "2024-05-10T09:00:00Z")];
    let gone = copy_of(&ev("b", "2024-05-11T09:00:00Z"), &p, "t1");
    let plan = plan(&src, &[gone], &p, &window());
    let v = serde_json::to_value(&plan).unwrap();
    assert_eq!(v["creates"][0]["key"], "i:a");
    assert_eq!(v["deletes"][0]["reason"], "source_gone");
    assert_eq!(v["deletes"][0]["target_id"], "t1");
    assert_eq!(v["managed_in_window"], 1);
    assert_eq!(v["deletions_withheld"], 0);
}

// ---------------------------------------------------------------- guard

fn plan_with(deletes: usize, managed: usize) -> Plan {
    let d = Delete {
        target_id: "t".into(),
        key: key("k"),
        start: at(ts("2024-05-10T09:00:00Z")),
        subject: "s".into(),
        reason: DeleteReason::SourceGone,
    };
    Plan {
        deletes: vec![d; deletes],
        managed_in_window: managed,
        ..Plan::default()
    }
}

#[test]
fn deletion_guard_table() {
    let cases = [
        // (deletes, managed, fraction, allowed)
        (0, 0, 0.25, true),
        (10, 10, 0.25, true),  // 10 or fewer are always fine
        (11, 11, 0.25, false), // all of them
        (11, 44, 0.25, true),  // exactly 25%: not more
        (12, 44, 0.25, false),
        (11, 40, 0.25, false),
        (100, 1000, 0.25, true),
        (251, 1000, 0.25, false),
        (11, 11, 1.0, true),
        (11, 100, 0.0, false),
        (10, 100, 0.0, true),
        (11, 11, f64::NAN, false),
        (5, 5, f64::NAN, true),
    ];
    for (deletes, managed, fraction, allowed) in cases {
        let r = check_deletion_guard(&plan_with(deletes, managed), fraction);
        assert_eq!(r.is_ok(), allowed, "{deletes}/{managed} at {fraction}");
        if let Err(e) = r {
            assert_eq!(e.deletes, deletes);
            assert_eq!(e.managed, managed);
        }
    }
}

#[test]
fn guard_refusal_explains_the_way_out() {
    let e = check_deletion_guard(&plan_with(30, 40), 0.25).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("30"), "{msg}");
    assert!(msg.contains("40"), "{msg}");
    assert!(msg.contains("--force"), "{msg}");
    assert!(msg.contains("max_delete_fraction"), "{msg}");
    assert!(!msg.contains('\n'), "one paragraph: {msg}");
}

// ------------------------------------------------------------ properties

const CANARY: &str = "CANARY";
const KEYS: usize = 8;
const SUBJECTS: [&str; 5] = [
    "Town hall",
    "Internal: budget",
    "Canceled: Lunch",
    "internal: offsite",
    "Sprint review",
];
const LOCATIONS: [&str; 3] = ["", "Main hall", "Room 4"];
const CATEGORIES: [&str; 6] = [
    "Public",
    "public",
    "Internal",
    "INTERNAL",
    "Social",
    "Öffentlich",
];

/// Starts and ends around `window()`, including its edges and all-day dates.
fn arb_times() -> impl Strategy<Value = (EventTime, EventTime, bool)> {
    let w = window();
    let instant = prop_oneof![
        Just(w.start),
        Just(w.end),
        Just(w.start - Duration::seconds(1)),
        Just(w.end + Duration::seconds(1)),
        (-5 * 86_400i64..36 * 86_400).prop_map(move |s| w.start + Duration::seconds(s)),
    ];
    let timed =
        (instant, 0i64..600).prop_map(|(s, mins)| (at(s), at(s + Duration::minutes(mins)), false));
    let dated = (-3i64..34, 1i64..3).prop_map(|(d, len)| {
        let start = day("2024-05-01") + Duration::days(d);
        (
            EventTime::Date(start),
            EventTime::Date(start + Duration::days(len)),
            true,
        )
    });
    prop_oneof![3 => timed, 1 => dated]
}

fn arb_source() -> impl Strategy<Value = SourceEvent> {
    (
        0..KEYS,
        arb_times(),
        prop_oneof![
            3 => Just(Sensitivity::Normal),
            1 => prop::sample::select(Sensitivity::ALL.to_vec()),
        ],
        prop::bool::weighted(0.2),
        prop::sample::subsequence(CATEGORIES.to_vec(), 0..=3),
        prop::sample::select(ShowAs::ALL.to_vec()),
        prop::sample::select(SUBJECTS.to_vec()),
        prop::sample::select(LOCATIONS.to_vec()),
        any::<bool>(),
        "[a-z ]{0,8}",
    )
        .prop_map(
            |(
                k,
                (start, end, is_all_day),
                sensitivity,
                is_cancelled,
                c,
                show_as,
                subject,
                location,
                html,
                body,
            )| {
                SourceEvent {
                    key: key(&format!("k{k}")),
                    subject: subject.into(),
                    start,
                    end,
                    is_all_day,
                    show_as,
                    sensitivity,
                    is_cancelled,
                    categories: cats(&c),
                    location: location.into(),
                    body: Body {
                        content_type: if html { BodyType::Html } else { BodyType::Text },
                        content: body,
                    },
                }
            },
        )
}

fn arb_policy() -> impl Strategy<Value = Policy> {
    (
        prop_oneof![
            3 => Just(vec![Sensitivity::Normal]),
            1 => prop::sample::subsequence(Sensitivity::ALL.to_vec(), 0..=4),
        ],
        prop_oneof![
            3 => Just(vec![]),
            1 => prop::sample::subsequence(vec!["public", "ÖFFENTLICH", "Board"], 1..=2),
        ],
        prop_oneof![
            2 => Just(vec![]),
            1 => prop::sample::subsequence(vec!["internal", "SOCIAL"], 1..=2),
        ],
        any::<bool>(),
        prop::option::weighted(0.25, prop::sample::subsequence(ShowAs::ALL.to_vec(), 0..=6)),
        prop::option::weighted(
            0.3,
            prop::sample::select(vec!["^(?i)internal:", "^Canceled: "]),
        ),
        (any::<bool>(), any::<bool>(), any::<bool>()),
    )
        .prop_map(|(sens, inc, exc, skip, show_as, re, (l, b, c))| Policy {
            filter: FilterPolicy {
                sensitivity: sens,
                include_categories: cats(&inc),
                exclude_categories: cats(&exc),
                skip_cancelled: skip,
                show_as,
                subject_exclude: re.map(|r| Regex::new(r).unwrap()),
            },
            copy: CopyPolicy {
                location: l,
                body: b,
                categories: c,
            },
        })
}

/// How a managed event is made from the generated source events.
#[derive(Debug, Clone)]
enum MSpec {
    /// A copy of `source[i % len]` as the policy wants it, then edited.
    Mirror { i: usize, edit: u8 },
    /// An arbitrary managed event, possibly for a key the source lacks.
    Random {
        key: usize,
        times: (EventTime, EventTime, bool),
        subject: &'static str,
        show_as: ShowAs,
        location: &'static str,
        good_marker: bool,
    },
}

fn arb_mspec() -> impl Strategy<Value = MSpec> {
    prop_oneof![
        2 => (any::<usize>(), 0u8..8).prop_map(|(i, edit)| MSpec::Mirror { i, edit }),
        1 => (
            0..KEYS + 2,
            arb_times(),
            prop::sample::select(SUBJECTS.to_vec()),
            prop::sample::select(ShowAs::ALL.to_vec()),
            prop::sample::select(LOCATIONS.to_vec()),
            any::<bool>(),
        )
            .prop_map(|(key, times, subject, show_as, location, good_marker)| MSpec::Random {
                key,
                times,
                subject,
                show_as,
                location,
                good_marker,
            }),
    ]
}

fn build_managed(specs: &[MSpec], source: &[SourceEvent], policy: &Policy) -> Vec<ManagedEvent> {
    let mut out = Vec::new();
    for (n, spec) in specs.iter().enumerate() {
        let target_id = format!("t{n:03}");
        let m = match spec {
            MSpec::Mirror { i, edit } if !source.is_empty() => {
                let mut m = copy_of(&source[i % source.len()], policy, &target_id);
                match edit {
                    0 => m.current.subject.push_str(" (edited)"),
                    1 => m.current.location = "Hand-typed".into(),
                    2 => m.current.body.content.push_str(" rewritten by the server"),
                    3 => m.marker.content_hash = "stale".into(),
                    4 => m.current.categories.reverse(),
                    5 => m.current.show_as = ShowAs::Unknown,
                    _ => {}
                }
                m
            }
            MSpec::Mirror { .. } => continue,
            MSpec::Random {
                key: k,
                times: (start, end, is_all_day),
                subject,
                show_as,
                location,
                good_marker,
            } => {
                let current = EventPayload {
                    subject: subject.to_string(),
                    start: *start,
                    end: *end,
                    is_all_day: *is_all_day,
                    show_as: *show_as,
                    location: location.to_string(),
                    body: Body::default(),
                    categories: vec![],
                };
                ManagedEvent {
                    target_id,
                    marker: Marker {
                        source_key: key(&format!("k{k}")),
                        content_hash: if *good_marker {
                            content_hash(&current)
                        } else {
                            "stale".into()
                        },
                    },
                    current,
                }
            }
        };
        out.push(m);
    }
    out
}

/// The filter written out again, as the reference for `is_public`.
fn oracle_public(ev: &SourceEvent, f: &FilterPolicy) -> bool {
    let has = |list: &[String]| {
        list.iter().any(|want| {
            ev.categories
                .iter()
                .any(|c| c.to_lowercase() == want.to_lowercase())
        })
    };
    f.sensitivity.contains(&ev.sensitivity)
        && !(f.skip_cancelled && ev.is_cancelled)
        && (f.include_categories.is_empty() || has(&f.include_categories))
        && !has(&f.exclude_categories)
        && f.show_as.as_ref().is_none_or(|l| l.contains(&ev.show_as))
        && f.subject_exclude
            .as_ref()
            .is_none_or(|r| !r.is_match(&ev.subject))
}

/// Source events as a run would read them, and their managed copies. Non-public
/// events carry the canary in subject, body and location; copies are built
/// before the canary goes in, so the target never holds it.
fn scenario(
    base: Vec<SourceEvent>,
    specs: &[MSpec],
    policy: &Policy,
) -> (Vec<SourceEvent>, Vec<ManagedEvent>) {
    let managed = build_managed(specs, &base, policy);
    let source = base
        .into_iter()
        .map(|mut e| {
            if !oracle_public(&e, &policy.filter) {
                e.subject = format!("{} {CANARY}", e.subject);
                e.location = format!("{CANARY} room");
                e.body.content = format!("secret {CANARY} notes");
            }
            e
        })
        .collect();
    (source, managed)
}

/// The first in-window source event of each key.
fn first_in_window<'a>(
    source: &'a [SourceEvent],
    w: &Window,
) -> BTreeMap<SourceKey, &'a SourceEvent> {
    let mut out = BTreeMap::new();
    for e in source.iter().filter(|e| w.contains(&e.start)) {
        out.entry(e.key.clone()).or_insert(e);
    }
    out
}

proptest! {

    #[test]
    fn prop_plan(
        base in prop::collection::vec(arb_source(), 0..14),
        policy in arb_policy(),
        specs in prop::collection::vec(arb_mspec(), 0..14),
    ) {
        let w = window();
        let (source, managed) = scenario(base, &specs, &policy);
        for e in &source {
            prop_assert_eq!(is_public(e, &policy.filter), oracle_public(e, &policy.filter));
        }
        let first = first_in_window(&source, &w);
        // A key is public when every event of it in the window is; its
        // first gives the content.
        let public: BTreeMap<&SourceKey, &SourceEvent> = first
            .iter()
            .filter(|(k, _)| {
                source
                    .iter()
                    .filter(|e| &e.key == *k && w.contains(&e.start))
                    .all(|e| oracle_public(e, &policy.filter))
            })
            .map(|(k, e)| (k, *e))
            .collect();

        let plan1 = plan(&source, &managed, &policy, &w);

        // 1. Nothing that fails the filter is created or updated; the canary
        //    appears nowhere in the plan.
        let written = plan1
            .creates
            .iter()
            .map(|c| (&c.key, &c.payload, &c.marker))
            .chain(plan1.updates.iter().map(|u| (&u.key, &u.payload, &u.marker)));
        for (k, p, marker) in written {
            let src = public.get(k);
            prop_assert!(src.is_some(), "{} written without a public source", k);
            if let Some(src) = src {
                prop_assert_eq!(p, &payload(src, &policy.copy));
            }
            prop_assert_eq!(&marker.source_key, k);
            prop_assert_eq!(&marker.content_hash, &content_hash(p));
        }
        let json = serde_json::to_string(&plan1).unwrap();
        prop_assert!(!json.contains(CANARY), "canary leaked: {}", json);

        // 3. Only in-window managed target ids, each at most once.
        let in_window: HashSet<&str> = managed
            .iter()
            .filter(|m| w.contains(&m.current.start))
            .map(|m| m.target_id.as_str())
            .collect();
        let mut touched = HashSet::new();
        for id in plan1
            .updates
            .iter()
            .map(|u| &u.target_id)
            .chain(plan1.deletes.iter().map(|d| &d.target_id))
        {
            prop_assert!(in_window.contains(id.as_str()), "{} is not an in-window managed id", id);
            prop_assert!(touched.insert(id.clone()), "{} planned twice", id);
        }

        // Accounting.
        prop_assert_eq!(plan1.managed_in_window, in_window.len());
        prop_assert_eq!(
            plan1.managed_in_window,
            plan1.updates.len() + plan1.deletes.len() + plan1.unchanged + plan1.deletions_withheld
        );
        prop_assert_eq!(plan1.creates.len() + plan1.updates.len() + plan1.unchanged, public.len());
        prop_assert_eq!(plan1.skipped_non_public, first.len() - public.len());
        if first.is_empty() {
            prop_assert!(plan1.deletes.iter().all(|d| d.reason == DeleteReason::Duplicate));
        } else {
            prop_assert_eq!(plan1.deletions_withheld, 0);
        }

        // Deterministic: the order of the managed input does not matter.
        let mut reversed = managed.clone();
        reversed.reverse();
        prop_assert_eq!(&plan(&source, &reversed, &policy, &w), &plan1);

        // 2. Applying the plan, then planning again, gives an empty plan.
        let mut next = 0;
        let applied = apply(&managed, &plan1, &mut next);
        let plan2 = plan(&source, &applied, &policy, &w);
        prop_assert!(plan2.is_empty(), "second plan not empty: {:?}", plan2);
        prop_assert_eq!(plan2.unchanged, public.len());

        // 3. Managed events outside the window are untouched.
        let outside = |ms: &[ManagedEvent]| -> Vec<ManagedEvent> {
            ms.iter().filter(|m| !w.contains(&m.current.start)).cloned().collect()
        };
        prop_assert_eq!(outside(&applied), outside(&managed));

        // 4. Each public key has exactly one copy in the window, as wanted;
        //    nothing else remains unless the source read as empty.
        let mut copies: HashMap<&SourceKey, Vec<&ManagedEvent>> = HashMap::new();
        for m in applied.iter().filter(|m| w.contains(&m.current.start)) {
            copies.entry(&m.marker.source_key).or_default().push(m);
        }
        for (k, src) in &public {
            let c = copies.get(k).map(Vec::as_slice).unwrap_or_default();
            prop_assert_eq!(c.len(), 1, "{} has {} copies", k, c.len());
            let want = payload(src, &policy.copy);
            prop_assert_eq!(&c[0].marker.content_hash, &content_hash(&want));
            prop_assert_eq!(&c[0].current.subject, &want.subject);
            prop_assert_eq!(c[0].current.start, want.start);
        }
        for (k, c) in &copies {
            if !public.contains_key(*k) {
                prop_assert!(first.is_empty(), "{} kept {} copies", k, c.len());
                prop_assert_eq!(c.len(), 1, "{} has duplicates", k);
            }
        }
    }

    #[test]
    fn prop_strict_copy_policy_copies_nothing_optional(
        base in prop::collection::vec(arb_source(), 0..14),
        policy in arb_policy(),
        specs in prop::collection::vec(arb_mspec(), 0..14),
    ) {
        let policy = Policy { copy: CopyPolicy::default(), ..policy };
        let (source, managed) = scenario(base, &specs, &policy);
        for e in &source {
            let p = payload(e, &policy.copy);
            prop_assert!(p.location.is_empty());
            prop_assert_eq!(&p.body, &Body::default());
            prop_assert!(p.categories.is_empty());
        }
        let plan = plan(&source, &managed, &policy, &window());
        for p in plan
            .creates
            .iter()
            .map(|c| &c.payload)
            .chain(plan.updates.iter().map(|u| &u.payload))
        {
            prop_assert!(p.location.is_empty());
            prop_assert_eq!(&p.body, &Body::default());
            prop_assert!(p.categories.is_empty());
        }
    }

    #[test]
    fn prop_hash_equal_iff_payload_equal(a in arb_source(), b in arb_source(), l: bool, c: bool) {
        let copy = CopyPolicy { location: l, body: true, categories: c };
        let (pa, pb) = (payload(&a, &copy), payload(&b, &copy));
        prop_assert_eq!(pa == pb, content_hash(&pa) == content_hash(&pb));
    }
}

proptest! {
    #[test]
    fn prop_canonical_times_are_chrono_text(
        secs in prop_oneof![
            3 => -62_167_219_200i64..253_402_300_800,
            1 => -8_200_000_000_000i64..8_200_000_000_000,
        ],
        nanos in prop_oneof![
            Just(0u32),
            (0u32..1_000).prop_map(|n| n * 1_000_000),
            (0u32..1_000_000).prop_map(|n| n * 1_000),
            0u32..2_000_000_000,
        ],
        days in -100_000_000i32..100_000_000,
    ) {
        // Leap nanoseconds are valid only in the last second of a minute.
        let secs = if nanos >= 1_000_000_000 { secs - secs.rem_euclid(60) + 59 } else { secs };
        if let Some(t) = DateTime::<Utc>::from_timestamp(secs, nanos) {
            prop_assert_eq!(canonical_time(&at(t)), chrono_time(&at(t)));
        }
        if let Some(d) = NaiveDate::from_num_days_from_ce_opt(days) {
            let t = EventTime::Date(d);
            prop_assert_eq!(canonical_time(&t), chrono_time(&t));
        }
    }
}

// ---------------------------------------------------------------- skip reasons

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
