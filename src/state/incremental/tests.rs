use super::*;
use crate::model::{EventTime, Sensitivity, ShowAs, SourceEvent};
use crate::planner;
use crate::policy::{CopyPolicy, FilterPolicy, Policy};
use crate::provider::{Applied, SourceChange};
use chrono::{Duration, NaiveDate, TimeZone};
use proptest::prelude::*;

fn window() -> Window {
    Window::around(NaiveDate::from_ymd_opt(2030, 1, 1).unwrap(), 0, 100)
}

fn range(w: &Window) -> PieceRange {
    PieceRange {
        start: w.start,
        end: w.end + Duration::seconds(1),
    }
}

/// An occurrence of series `series` on `day`, public unless `private`.
fn occurrence(series: &str, day: i64, private: bool) -> SourceEvent {
    let mut ev = event(
        "x",
        day,
        if private {
            Sensitivity::Private
        } else {
            Sensitivity::Normal
        },
        false,
        &[],
        ShowAs::Busy,
        "Weekly open hour",
        false,
    );
    ev.key = SourceKey::occurrence(series, ev.start.as_utc());
    ev
}

/// A public one-hour event on day `day`, with nothing else set.
fn open(key: &str, day: i64, subject: &str) -> SourceEvent {
    event(
        key,
        day,
        Sensitivity::Normal,
        false,
        &[],
        ShowAs::Busy,
        subject,
        false,
    )
}

#[allow(clippy::too_many_arguments)]
fn event(
    key: &str,
    day: i64,
    sensitivity: Sensitivity,
    cancelled: bool,
    categories: &[&str],
    show_as: ShowAs,
    subject: &str,
    all_day: bool,
) -> SourceEvent {
    let base = Utc.with_ymd_and_hms(2030, 1, 1, 9, 0, 0).unwrap() + Duration::days(day);
    let (start, end) = if all_day {
        (
            EventTime::Date(base.date_naive()),
            EventTime::Date(base.date_naive() + Duration::days(1)),
        )
    } else {
        (
            EventTime::Instant(base),
            EventTime::Instant(base + Duration::hours(1)),
        )
    };
    SourceEvent {
        key: SourceKey::single(key),
        ical_uid: None,
        subject: subject.to_string(),
        start,
        end,
        is_all_day: all_day,
        show_as,
        sensitivity,
        is_cancelled: cancelled,
        categories: categories.iter().map(|c| c.to_string()).collect(),
        location: "Room 1".into(),
        body: Body {
            content_type: crate::model::BodyType::Text,
            content: "Agenda".into(),
        },
    }
}

fn upserts(events: &[SourceEvent]) -> Vec<SourceChange> {
    events
        .iter()
        .enumerate()
        .map(|(i, e)| SourceChange::Upsert {
            item_id: format!("id-{i}"),
            event: Some(e.clone()),
        })
        .collect()
}

fn strict_policy() -> Policy {
    Policy {
        filter: FilterPolicy {
            sensitivity: vec![Sensitivity::Normal, Sensitivity::Personal],
            include_categories: vec!["Public".into()],
            exclude_categories: vec!["Internal".into()],
            skip_cancelled: true,
            show_as: Some(vec![ShowAs::Busy, ShowAs::Free]),
            subject_exclude: Some(regex::Regex::new("(?i)^secret").unwrap()),
        },
        copy: CopyPolicy {
            location: true,
            body: false,
            categories: false,
        },
    }
}

proptest! {
    /// Planning from what the state keeps gives the plan the planner
    /// gives for the events themselves, whatever the policy.
    #[test]
    fn kept_items_plan_like_the_events_they_stand_for(
        specs in proptest::collection::vec(
            (0u8..6, -3i64..110, 0usize..4, any::<bool>(), 0usize..4, 0usize..3, any::<bool>(), any::<bool>()),
            0..25,
        ),
        strict in any::<bool>(),
    ) {
        let w = window();
        let policy = if strict { strict_policy() } else { Policy::default() };
        let cats: [&[&str]; 4] = [&[], &["Public"], &["Internal", "Public"], &["Other"]];
        let shows = [ShowAs::Busy, ShowAs::Free, ShowAs::Tentative];
        let events: Vec<SourceEvent> = specs
            .iter()
            .map(|(k, day, sens, cancelled, cat, show, secret, all_day)| {
                event(
                    &format!("k{k}"),
                    *day,
                    Sensitivity::ALL[*sens],
                    *cancelled,
                    cats[*cat],
                    shows[*show],
                    if *secret { "Secret plans" } else { "Open day" },
                    *all_day,
                )
            })
            .collect();
        // Dedupe by key as a source read does (first wins).
        let mut seen = std::collections::HashSet::new();
        let events: Vec<SourceEvent> =
            events.into_iter().filter(|e| seen.insert(e.key.clone())).collect();
        let mut items = BTreeMap::new();
        ingest(&mut items, upserts(&events), Vec::new(), &policy, &w);
        let pieces = vec![Piece { range: range(&w), cursor: "c".into(), items }];
        let direct = planner::plan(&events, &[], &policy, &w);
        let mut kept = planner::plan(&source_events(&pieces, &w), &[], &stand_in_policy(), &w);
        // The stand-ins read as private; the items know why each is not public.
        kept.skipped = skipped_by_reason(&pieces);
        prop_assert_eq!(direct, kept);
    }
}

#[test]
fn series_signalled_or_removed_are_read_again() {
    let w = window();
    let mut items = BTreeMap::new();
    ingest(
        &mut items,
        vec![
            SourceChange::Upsert {
                item_id: "o1".into(),
                event: Some(occurrence("M", 1, false)),
            },
            SourceChange::Upsert {
                item_id: "single".into(),
                event: Some(open("s", 2, "S")),
            },
        ],
        Vec::new(),
        &Policy::default(),
        &w,
    );
    let changes = vec![
        SourceChange::SeriesChanged {
            series_id: "N".into(),
        },
        SourceChange::Remove {
            item_id: "M".into(),
        },
        SourceChange::Remove {
            item_id: "single".into(),
        },
        SourceChange::SeriesChanged {
            series_id: "N".into(),
        },
        SourceChange::Remove {
            item_id: "unknown".into(),
        },
    ];
    // A removed id is a series only when an item belongs to it.
    assert_eq!(series_to_read(&items, &changes), vec!["N", "M"]);
}

#[test]
fn a_series_read_again_replaces_everything_kept_of_it() {
    let w = window();
    let mut items = BTreeMap::new();
    let first: Vec<SourceChange> = (1..=3)
        .map(|d| SourceChange::Upsert {
            item_id: format!("m{d}"),
            event: Some(occurrence("M", d, false)),
        })
        .chain((1..=2).map(|d| SourceChange::Upsert {
            item_id: format!("n{d}"),
            event: Some(occurrence("N", d, false)),
        }))
        .collect();
    ingest(&mut items, first, Vec::new(), &Policy::default(), &w);
    assert_eq!(items.len(), 5);
    // Series M: the 2nd occurrence is gone, the 3rd turned private, a
    // 4th is new and a 5th starts before the window. Series N is gone.
    let mut early = occurrence("M", 5, false);
    early.start = EventTime::Instant(w.start - Duration::days(1));
    let series = vec![
        (
            "M".to_owned(),
            Some(vec![
                ("m1".to_owned(), occurrence("M", 1, false)),
                ("m3".to_owned(), occurrence("M", 3, true)),
                ("m4".to_owned(), occurrence("M", 4, false)),
                ("m5".to_owned(), early),
            ]),
        ),
        ("N".to_owned(), None),
    ];
    ingest(
        &mut items,
        vec![SourceChange::SeriesChanged {
            series_id: "M".into(),
        }],
        series,
        &Policy::default(),
        &w,
    );
    let kept: Vec<(&str, bool)> = items
        .iter()
        .map(|(id, item)| (id.as_str(), matches!(item, Item::Public { .. })))
        .collect();
    assert_eq!(kept, vec![("m1", true), ("m3", false), ("m4", true)]);
}

#[test]
fn states_of_the_earlier_version_still_load() {
    // Written before skipped events were counted by reason.
    let settled: Settled =
        serde_json::from_str(r#"{"unchanged": 2, "skipped_non_public": 1}"#).unwrap();
    assert!(settled.skipped.is_empty());
    let item = Item::NotPublic {
        key: SourceKey::single("p1"),
        reason: None,
    };
    let text = serde_json::to_string(&item).unwrap();
    assert!(!text.contains("reason"), "{text}");
    assert_eq!(serde_json::from_str::<Item>(&text).unwrap(), item);
    let pieces = vec![Piece {
        range: range(&window()),
        cursor: "c".into(),
        items: BTreeMap::from([("a".to_owned(), item)]),
    }];
    assert!(skipped_by_reason(&pieces).is_empty());
}

#[test]
fn nothing_of_a_private_event_is_kept_but_its_key() {
    let w = window();
    let secret = event(
        "p1",
        3,
        Sensitivity::Private,
        false,
        &["CANARY-cat"],
        ShowAs::Busy,
        "CANARY subject",
        false,
    );
    let mut items = BTreeMap::new();
    ingest(
        &mut items,
        upserts(&[secret]),
        Vec::new(),
        &Policy::default(),
        &w,
    );
    let text = serde_json::to_string(&items).unwrap();
    assert!(!text.contains("CANARY"), "{text}");
    assert!(!text.contains("Room") && !text.contains("Agenda") && !text.contains("2030"));
    assert_eq!(
        items.values().next(),
        Some(&Item::NotPublic {
            key: SourceKey::single("p1"),
            reason: Some(SkipReason::Private),
        })
    );
}

#[test]
fn removals_and_moves_out_of_the_window_drop_items() {
    let w = window();
    let a = open("a", 3, "A");
    let mut items = BTreeMap::new();
    ingest(
        &mut items,
        upserts(&[a.clone(), a.clone()]),
        Vec::new(),
        &Policy::default(),
        &w,
    );
    assert_eq!(items.len(), 2);
    let mut moved = a.clone();
    moved.start = EventTime::Instant(w.start - Duration::days(2));
    ingest(
        &mut items,
        vec![
            SourceChange::Remove {
                item_id: "id-0".into(),
            },
            SourceChange::Upsert {
                item_id: "id-1".into(),
                event: Some(moved),
            },
            SourceChange::Remove {
                item_id: "never-seen".into(),
            },
        ],
        Vec::new(),
        &Policy::default(),
        &w,
    );
    assert!(items.is_empty(), "{items:?}");
}

#[test]
fn writes_update_the_copies_and_failures_leave_them() {
    let w = window();
    let events = [open("a", 3, "A"), open("b", 4, "B")];
    let plan = planner::plan(&events, &[], &Policy::default(), &w);
    assert_eq!(plan.creates.len(), 2);
    let done = vec![Applied::Created {
        target_id: "t-a".into(),
        marker: plan.creates[0].marker.clone(),
    }];
    let copies = after_writes(Vec::new(), &plan, &done, &w);
    assert_eq!(copies.len(), 1);
    assert_eq!(copies[0].target_id, "t-a");
    assert_eq!(copies[0].current.subject, "A");
    // Planning again from them creates only what failed.
    let again = planner::plan(&events, &managed_events(&copies), &Policy::default(), &w);
    assert_eq!(again.creates.len(), 1);
    assert_eq!(again.creates[0].payload.subject, "B");
    assert_eq!(again.unchanged, 1);
}

#[test]
fn state_and_cache_files_round_trip_atomically_and_privately() {
    let dir = tempfile::tempdir().unwrap();
    assert!(load(dir.path()).is_none());
    // Two public items; one copy as written, one edited by hand.
    let mut piece = Piece {
        range: range(&window()),
        cursor: "cursor-1".into(),
        items: BTreeMap::new(),
    };
    let events = [
        event(
            "a",
            1,
            Sensitivity::Normal,
            false,
            &["Public"],
            ShowAs::Busy,
            "A",
            false,
        ),
        event(
            "b",
            2,
            Sensitivity::Normal,
            false,
            &["Public"],
            ShowAs::Busy,
            "B",
            false,
        ),
    ];
    ingest(
        &mut piece.items,
        upserts(&events),
        Vec::new(),
        &strict_policy(),
        &window(),
    );
    let copy = |key: &str, subject: &str| {
        let ev = events.iter().find(|e| e.key.as_str() == key).unwrap();
        let mut payload = planner::payload(ev, &strict_policy().copy);
        let marker = Marker {
            source_key: ev.key.clone(),
            content_hash: planner::content_hash(&payload),
        };
        payload.subject = subject.to_string();
        Copy {
            target_id: format!("t-{key}"),
            marker,
            current: payload,
        }
    };
    let state = SyncState {
        version: STATE_VERSION,
        fingerprint: "f".into(),
        window: window(),
        last_full: Utc::now(),
        target_trusted: true,
        settled: Some(Settled {
            unchanged: 2,
            skipped_non_public: 1,
            skipped: BTreeMap::from([(SkipReason::Cancelled, 1)]),
        }),
        pieces: vec![piece],
        copies: vec![copy("i:a", "A"), copy("i:b", "B (edited)")],
    };
    save(dir.path(), &state).unwrap();
    let back = load(dir.path()).unwrap();
    assert_eq!(back.fingerprint, "f");
    assert_eq!(back.pieces[0].cursor, "cursor-1");
    assert_eq!(back.pieces[0].items, state.pieces[0].items);
    assert_eq!(back.copies, state.copies);
    assert_eq!(back.settled, state.settled);
    // The copy that holds its item's payload is stored without it.
    let snapshot = std::fs::read_to_string(snapshot_path(dir.path())).unwrap();
    assert_eq!(snapshot.matches("\"current\"").count(), 1, "{snapshot}");
    assert!(snapshot.contains("B (edited)"));

    // The head alone can move on; the snapshot still belongs to it.
    let mut head = load_head(dir.path()).unwrap();
    head.cursors = vec!["cursor-2".into()];
    save_head(dir.path(), &head).unwrap();
    assert_eq!(load(dir.path()).unwrap().pieces[0].cursor, "cursor-2");

    mark_writing(dir.path()).unwrap();
    let marked = load(dir.path()).unwrap();
    assert!(!marked.target_trusted);
    assert_eq!(marked.settled, None);

    // A head that names another snapshot (a run stopped between the
    // two writes) is not used.
    let old_head = std::fs::read(state_path(dir.path())).unwrap();
    save(dir.path(), &state).unwrap();
    std::fs::write(state_path(dir.path()), &old_head).unwrap();
    assert!(load_head(dir.path()).is_some());
    assert!(load(dir.path()).is_none());

    std::fs::write(state_path(dir.path()), b"{\"version\":2,\"trunc").unwrap();
    assert!(load(dir.path()).is_none());

    let mut cache = CalendarCache::default();
    cache.put("g", "Events@Contoso.example", " Calendar ", "id-1");
    cache.put("g", "events@contoso.example", "Calendar", "id-2");
    cache.save(dir.path()).unwrap();
    let cache = CalendarCache::load(dir.path());
    assert_eq!(cache.calendars.len(), 1);
    assert_eq!(
        cache.get("g", "EVENTS@contoso.example", "Calendar"),
        Some("id-2")
    );
    assert_eq!(
        cache.get("other", "events@contoso.example", "Calendar"),
        None
    );
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in [STATE_FILE, SNAPSHOT_FILE, CALENDARS_FILE] {
            let mode = std::fs::metadata(dir.path().join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
    }
    CalendarCache::forget(dir.path());
    assert!(CalendarCache::load(dir.path()).calendars.is_empty());
}
