//! Properties of planning over generated sources, copies and policies.

use super::hash::{canonical_time, chrono_time};
use super::*;

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
                    ical_uid: None,
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
