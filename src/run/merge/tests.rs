use super::*;
use crate::model::{EventTime, ManagedEvent, Marker, Sensitivity, ShowAs};
use crate::planner::{self, DeleteReason, check_deletion_guard, content_hash, payload};
use crate::policy::{Policy, SkipReason};
use chrono::{DateTime, Duration, NaiveDate, Utc};

fn window() -> Window {
    Window::around(NaiveDate::from_ymd_opt(2026, 5, 1).unwrap(), 0, 30)
}

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(2026, 5, day)
        .unwrap()
        .and_hms_opt(hour, 0, 0)
        .unwrap()
        .and_utc()
}

/// A public single event at 09:00 on 10 May.
fn single(id: &str, uid: Option<&str>, subject: &str) -> SourceEvent {
    let start = at(10, 9);
    SourceEvent {
        key: SourceKey::single(id),
        ical_uid: uid.map(str::to_owned),
        subject: subject.to_owned(),
        start: EventTime::Instant(start),
        end: EventTime::Instant(start + Duration::hours(1)),
        is_all_day: false,
        show_as: ShowAs::Busy,
        sensitivity: Sensitivity::Normal,
        is_cancelled: false,
        categories: Vec::new(),
        location: String::new(),
        body: Body::default(),
    }
}

/// A public occurrence of the series `series` (UID `uid`) on `day`.
fn occurrence(series: &str, uid: &str, day: u32) -> SourceEvent {
    let start = at(day, 9);
    SourceEvent {
        key: SourceKey::occurrence(series, start),
        start: EventTime::Instant(start),
        end: EventTime::Instant(start + Duration::hours(1)),
        ..single("unused", Some(uid), "Weekly")
    }
}

fn private(ev: SourceEvent) -> SourceEvent {
    SourceEvent {
        sensitivity: Sensitivity::Private,
        ..ev
    }
}

fn keys(events: &[SourceEvent]) -> Vec<&str> {
    events.iter().map(|e| e.key.as_str()).collect()
}

fn plan(source: &[SourceEvent], managed: &[ManagedEvent]) -> planner::Plan {
    planner::plan(source, managed, &Policy::default(), &window())
}

/// The copy a sync would have made of `ev`.
fn copy_of(ev: &SourceEvent, id: &str) -> ManagedEvent {
    let p = payload(ev, &Policy::default().copy);
    ManagedEvent {
        target_id: id.to_owned(),
        marker: Marker {
            source_key: ev.key.clone(),
            content_hash: content_hash(&p),
        },
        current: p,
    }
}

#[test]
fn every_key_is_namespaced_and_equal_ids_do_not_meet() {
    let unreadable = SourceEvent {
        key: SourceKey::unreadable("x#3#0"),
        ..single("x", None, "")
    };
    let merged = merge(vec![
        ("work", vec![single("1", None, "A"), unreadable.clone()]),
        ("home", vec![single("1", None, "B")]),
    ]);
    assert_eq!(keys(&merged), ["work/i:1", "u:work/x#3#0", "home/i:1"]);
    assert!(merged[1].key.is_unreadable());
    let plan = plan(&merged, &[]);
    assert_eq!(plan.creates.len(), 2);
    assert_eq!(plan.skipped.get(&SkipReason::Unreadable), Some(&1));
    // One member is namespaced too: its keys do not change when another
    // joins.
    let alone = merge(vec![("work", vec![single("1", None, "A")])]);
    assert_eq!(keys(&alone), ["work/i:1"]);
}

#[test]
fn namespaced_keys_never_meet_the_keys_of_one_source() {
    for kind in ["i", "s", "u"] {
        assert!(check_name(kind).is_ok());
        let key = namespaced(kind, &SourceKey::single("x"));
        assert!(!key.as_str().starts_with(&format!("{kind}:")), "{key}");
    }
    for bad in ["", "a/b", "i:", "tab\there"] {
        assert!(check_name(bad).is_err(), "{bad:?}");
    }
    assert!(Merged::new(vec![("a".to_owned(), ()), ("a".to_owned(), ())]).is_err());
    assert!(Merged::<()>::new(Vec::new()).is_err());
}

#[test]
fn a_meeting_in_two_members_is_published_once_from_the_first() {
    let a = single("AAMk-a", Some("meeting-1"), "From work");
    let b = single("AAMk-b", Some("meeting-1"), "From home");
    let merged = merge(vec![("work", vec![a.clone()]), ("home", vec![b.clone()])]);
    assert_eq!(keys(&merged), ["work/i:AAMk-a", "work/i:AAMk-a"]);
    let p = plan(&merged, &[]);
    assert_eq!(p.creates.len(), 1);
    assert_eq!(p.creates[0].payload.subject, "From work");
    // The order of the list decides.
    let merged = merge(vec![("home", vec![b]), ("work", vec![a])]);
    let p = plan(&merged, &[]);
    assert_eq!(p.creates.len(), 1);
    assert_eq!(p.creates[0].key.as_str(), "home/i:AAMk-b");
    assert_eq!(p.creates[0].payload.subject, "From home");
}

#[test]
fn occurrences_meet_only_at_the_same_original_start() {
    let merged = merge(vec![
        (
            "work",
            vec![
                occurrence("M1", "weekly", 4),
                occurrence("M1", "weekly", 11),
            ],
        ),
        (
            "home",
            vec![
                occurrence("M2", "weekly", 11),
                occurrence("M2", "weekly", 18),
            ],
        ),
    ]);
    let p = plan(&merged, &[]);
    let created: Vec<&str> = p.creates.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(
        created,
        [
            "work/s:M1@20260504T090000Z",
            "work/s:M1@20260511T090000Z",
            "home/s:M2@20260518T090000Z",
        ]
    );
}

#[test]
fn a_reading_that_is_not_public_in_any_member_hides_the_meeting() {
    let public = single("a", Some("meeting-1"), "Open");
    let hidden = [
        private(single("b", Some("meeting-1"), "Secret")),
        SourceEvent {
            is_cancelled: true,
            ..single("b", Some("meeting-1"), "Open")
        },
    ];
    for other in hidden {
        // Whichever member is first.
        for members in [
            vec![
                ("work", vec![public.clone()]),
                ("home", vec![other.clone()]),
            ],
            vec![
                ("home", vec![other.clone()]),
                ("work", vec![public.clone()]),
            ],
        ] {
            let winner = format!(
                "{}/i:{}",
                members[0].0,
                if members[0].0 == "work" { "a" } else { "b" }
            );
            let merged = merge(members);
            let copy = copy_of(
                &SourceEvent {
                    key: SourceKey(winner.clone()),
                    ..public.clone()
                },
                "T1",
            );
            let p = plan(&merged, &[copy]);
            assert!(p.creates.is_empty() && p.updates.is_empty(), "{winner}");
            assert_eq!(p.skipped_non_public, 1);
            assert_eq!(p.deletes.len(), 1);
            assert_eq!(p.deletes[0].reason, DeleteReason::NotPublic);
        }
    }
}

#[test]
fn a_meeting_a_member_cannot_read_is_published_by_none() {
    let garbled = SourceEvent {
        key: SourceKey::unreadable("weekly#12#0"),
        ..single("x", Some("weekly"), "")
    };
    let merged = merge(vec![
        (
            "work",
            vec![
                occurrence("M1", "weekly", 4),
                single("z", Some("other"), "Kept"),
            ],
        ),
        ("file", vec![garbled]),
    ]);
    let p = plan(&merged, &[]);
    let created: Vec<&str> = p.creates.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(created, ["work/i:z"]);
    assert_eq!(p.skipped.get(&SkipReason::Unreadable), Some(&2));
    assert!(
        merged
            .iter()
            .all(|e| e.subject.is_empty() || e.subject == "Kept")
    );
}

#[test]
fn events_without_a_uid_are_never_taken_for_another() {
    let merged = merge(vec![
        ("work", vec![single("a", None, "One")]),
        (
            "home",
            vec![single("a", None, "Two"), single("b", Some(""), "Three")],
        ),
    ]);
    assert_eq!(plan(&merged, &[]).creates.len(), 3);
}

/// A member that answers with fixed events, or fails.
struct Fixed(Result<Vec<SourceEvent>, &'static str>);

impl SourceProvider for Fixed {
    async fn read(&self, _: &Window) -> anyhow::Result<Vec<SourceEvent>> {
        self.0.clone().map_err(|e| anyhow::anyhow!(e))
    }
}

#[tokio::test]
async fn a_member_that_fails_fails_the_read() {
    let merged = Merged::new(vec![
        ("work".to_owned(), Fixed(Ok(vec![single("a", None, "One")]))),
        ("home".to_owned(), Fixed(Err("the file is gone"))),
    ])
    .unwrap();
    let err = merged.read(&window()).await.unwrap_err();
    assert!(
        format!("{err:#}").contains("reading the source `home`"),
        "{err:#}"
    );
    let merged = Merged::new(vec![
        ("work".to_owned(), Fixed(Ok(vec![single("a", None, "One")]))),
        ("home".to_owned(), Fixed(Ok(vec![single("a", None, "Two")]))),
    ])
    .unwrap();
    let events = merged.read(&window()).await.unwrap();
    assert_eq!(keys(&events), ["work/i:a", "home/i:a"]);
}

#[test]
fn removing_a_member_deletes_exactly_its_copies_under_the_guard() {
    let work: Vec<SourceEvent> = (0..3)
        .map(|i| single(&format!("w{i}"), None, "Work"))
        .collect();
    let home: Vec<SourceEvent> = (0..12)
        .map(|i| single(&format!("h{i}"), None, "Home"))
        .collect();
    let both = merge(vec![("work", work.clone()), ("home", home)]);
    let copies: Vec<ManagedEvent> = both
        .iter()
        .enumerate()
        .map(|(i, ev)| copy_of(ev, &format!("T{i:02}")))
        .collect();
    assert!(plan(&both, &copies).is_empty());
    let p = plan(&merge(vec![("work", work)]), &copies);
    assert!(p.creates.is_empty() && p.updates.is_empty());
    assert_eq!(p.unchanged, 3);
    assert_eq!(p.deletes.len(), 12);
    assert!(
        p.deletes.iter().all(|d| {
            d.key.as_str().starts_with("home/") && d.reason == DeleteReason::SourceGone
        })
    );
    // 12 of 15 is more than half.
    let refusal = check_deletion_guard(&p, 0.5).unwrap_err();
    assert_eq!((refusal.deletes, refusal.managed), (12, 15));
}

#[test]
fn turning_one_source_into_a_merged_one_replaces_each_copy_once() {
    let events: Vec<SourceEvent> = (0..4)
        .map(|i| single(&format!("e{i}"), Some(&format!("uid-{i}")), "Event"))
        .collect();
    let copies: Vec<ManagedEvent> = events
        .iter()
        .enumerate()
        .map(|(i, ev)| copy_of(ev, &format!("T{i}")))
        .collect();
    assert!(plan(&events, &copies).is_empty());
    let p = plan(&merge(vec![("work", events)]), &copies);
    assert_eq!((p.creates.len(), p.deletes.len()), (4, 4));
    assert!(p.deletes.iter().all(|d| d.key.as_str().starts_with("i:")));
    assert!(
        p.creates
            .iter()
            .all(|c| c.key.as_str().starts_with("work/i:"))
    );
}

/// A calendar file of `events`, each given as its lines.
fn ics_file(dir: &std::path::Path, name: &str, events: &[&str]) -> crate::ics::IcsSource {
    let mut text = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//test//EN\r\n");
    for ev in events {
        text.push_str("BEGIN:VEVENT\r\n");
        text.push_str(&ev.trim().replace('\n', "\r\n"));
        text.push_str("\r\nEND:VEVENT\r\n");
    }
    text.push_str("END:VCALENDAR\r\n");
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    crate::ics::IcsSource::new(crate::ics::IcsLocation::Path(path))
}

#[tokio::test]
async fn two_files_merged_into_a_published_file() {
    use crate::provider::TargetProvider;
    let dir = tempfile::tempdir().unwrap();
    let work = ics_file(
        dir.path(),
        "work.ics",
        &[
            "UID:shared@example.org\nDTSTART:20260510T090000Z\nDTEND:20260510T100000Z\n\
             SUMMARY:Open day\nCLASS:PUBLIC",
            "UID:weekly@example.org\nDTSTART:20260504T090000Z\nDTEND:20260504T100000Z\n\
             RRULE:FREQ=WEEKLY;COUNT=2\nSUMMARY:Weekly\nCLASS:PUBLIC",
            "UID:hidden@example.org\nDTSTART:20260512T090000Z\nDTEND:20260512T100000Z\n\
             SUMMARY:Board\nCLASS:PUBLIC",
        ],
    );
    let home = ics_file(
        dir.path(),
        "home.ics",
        &[
            "UID:shared@example.org\nDTSTART:20260510T090000Z\nDTEND:20260510T100000Z\n\
             SUMMARY:Open day (home copy)\nCLASS:PUBLIC",
            "UID:hidden@example.org\nDTSTART:20260512T090000Z\nDTEND:20260512T100000Z\n\
             SUMMARY:Board (salaries)\nCLASS:PRIVATE",
            "UID:weekly@example.org\nDTSTART:20260504T090000Z\nDTEND:20260504T100000Z\n\
             RRULE:FREQ=WEEKLY;COUNT=2\nSUMMARY:Weekly\nCLASS:PUBLIC",
        ],
    );
    let merged = Merged::new(vec![("work".to_owned(), work), ("home".to_owned(), home)]).unwrap();
    let events = merged.read(&window()).await.unwrap();
    let p = plan(&events, &[]);
    let mut created: Vec<(&str, &str)> = p
        .creates
        .iter()
        .map(|c| (c.key.as_str(), c.payload.subject.as_str()))
        .collect();
    created.sort();
    assert_eq!(
        created,
        [
            ("work/i:shared@example.org", "Open day"),
            ("work/s:weekly@example.org@20260504T090000Z", "Weekly"),
            ("work/s:weekly@example.org@20260511T090000Z", "Weekly"),
        ]
    );
    assert_eq!(p.skipped.get(&SkipReason::Private), Some(&1));
    let published = dir.path().join("public.ics");
    let target = crate::ics::IcsTarget::new(&published, "Public");
    target.apply(&p).await.unwrap();
    let text = std::fs::read_to_string(&published).unwrap();
    assert_eq!(text.matches("BEGIN:VEVENT").count(), 3);
    assert!(!text.contains("Board") && !text.contains("home copy"));
    // The copies read back carry the namespaced keys: a second run writes
    // nothing.
    let managed = target.read_managed(&window()).await.unwrap();
    assert!(plan(&events, &managed).is_empty());
}
