//! The target file: rendered, read back, and a plan applied to it.

use super::*;

pub(super) fn payload(subject: &str, start: EventTime, end: EventTime) -> EventPayload {
    EventPayload {
        subject: subject.to_string(),
        start,
        end,
        is_all_day: matches!(start, EventTime::Date(_)),
        show_as: ShowAs::Busy,
        location: String::new(),
        body: Body::default(),
        categories: vec![],
    }
}

pub(super) fn copy_of(key: &str, p: EventPayload) -> IcsCopy {
    let key = SourceKey(key.to_string());
    IcsCopy {
        uid: copy_uid(&key),
        marker: Marker {
            content_hash: planner::content_hash(&p),
            source_key: key,
        },
        payload: p,
        dtstamp: utc(2026, 9, 1, 12, 0),
        sequence: 0,
    }
}

fn sample_copies() -> Vec<IcsCopy> {
    let mut rich = payload(
        "Ünïcödé summary that is long enough to need folding, with; commas, and \\ backslashes",
        at(2026, 11, 5, 17, 0),
        at(2026, 11, 5, 19, 0),
    );
    rich.location = "Main Hall, Building 2\nBerlin".into();
    rich.body = Body {
        content_type: BodyType::Html,
        content: "<p>Talks &amp; demos</p><p>€ 5 entry – «all» welcome</p>".into(),
    };
    rich.categories = vec!["Public".into(), "Talks, demos".into()];
    rich.show_as = ShowAs::Tentative;
    let mut free = payload("Holiday", day(2026, 12, 24), day(2026, 12, 27));
    free.show_as = ShowAs::Free;
    let mut unknown = payload("Odd", at(2026, 10, 2, 8, 0), at(2026, 10, 2, 9, 0));
    unknown.show_as = ShowAs::Unknown;
    unknown.body = Body {
        content_type: BodyType::Text,
        content: "Line one\nLine two".into(),
    };
    vec![
        copy_of("i:open-evening", rich),
        copy_of("s:series@20261224T000000Z", free),
        copy_of("i:odd", unknown),
    ]
}

pub(super) fn calendar(copies: &[IcsCopy]) -> TargetCalendar {
    let mut cal = TargetCalendar::new();
    for c in copies {
        cal.insert(c.clone());
    }
    cal
}

#[test]
fn rendered_target_is_rfc_5545_shaped() {
    let text = calendar(&sample_copies()).render("Public events");
    assert!(text.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calsync//calsync "));
    assert!(
        text.contains("\r\nCALSCALE:GREGORIAN\r\nMETHOD:PUBLISH\r\nX-WR-CALNAME:Public events\r\n")
    );
    assert!(text.ends_with("END:VCALENDAR\r\n"));
    for line in text.split_inclusive('\n') {
        assert!(line.ends_with("\r\n"), "{line:?}");
        assert!(line.len() - 2 <= 75, "{} octets: {line:?}", line.len() - 2);
    }
    let doc = doc::Document::parse(text.as_bytes(), "t").unwrap();
    let events: Vec<_> = doc
        .items
        .iter()
        .filter(|i| i.name == "VEVENT")
        .map(|i| doc::Document::component(text.as_bytes(), i))
        .collect();
    assert_eq!(events.len(), 3);
    for e in &events {
        for required in ["UID", "DTSTAMP", "DTSTART", "DTEND", "SUMMARY", "SEQUENCE"] {
            assert!(e.prop(required).is_some(), "{required}");
        }
        assert!(e.value("UID").unwrap().ends_with("@calsync"));
    }
    // The crate's strict parser accepts it too.
    let unfolded = icalendar::parser::unfold(&text);
    let parsed = icalendar::parser::read_calendar(&unfolded).unwrap();
    assert_eq!(parsed.components.len(), 3);
    // Sorted by start: the 2 October copy comes first.
    assert!(text.find("SUMMARY:Odd").unwrap() < text.find("SUMMARY:Ünïcödé").unwrap());
    assert!(text.contains("DTSTART;VALUE=DATE:20261224\r\nDTEND;VALUE=DATE:20261227\r\n"));
    assert!(text.contains("DTSTART:20261002T080000Z\r\n"));
    assert!(text.contains("X-ALT-DESC;FMTTYPE=text/html:"));
    assert!(text.contains("CATEGORIES:Public,Talks\\, demos\r\n"));
    assert!(text.contains("TRANSP:TRANSPARENT\r\n"));
}

#[test]
fn fields_the_payload_leaves_empty_are_not_written() {
    let text = calendar(&[copy_of(
        "i:x",
        payload(
            "Only a subject",
            at(2026, 10, 2, 8, 0),
            at(2026, 10, 2, 9, 0),
        ),
    )])
    .render("c");
    for absent in [
        "LOCATION",
        "DESCRIPTION",
        "X-ALT-DESC",
        "CATEGORIES",
        "ATTENDEE",
        "ORGANIZER",
    ] {
        assert!(!text.contains(absent), "{absent}");
    }
}

#[test]
fn round_trip_render_then_read_back() {
    let copies = sample_copies();
    let text = calendar(&copies).render("Public events");
    let back = TargetCalendar::parse(text.as_bytes(), "t").unwrap();
    let mut want: Vec<IcsCopy> = copies.clone();
    want.sort_by_key(|c| (c.payload.start.as_utc(), c.uid.clone()));
    let got: Vec<IcsCopy> = back.copies().into_iter().cloned().collect();
    assert_eq!(got, want);
    let managed = back.managed();
    assert_eq!(managed.len(), 3);
    for (m, c) in managed.iter().zip(&want) {
        assert_eq!(m.target_id, c.uid);
        assert_eq!(m.marker, c.marker);
        assert_eq!(m.current, c.payload);
    }
    // What validate sees of them.
    let inspected = back.inspected();
    assert!(
        inspected
            .iter()
            .all(|i| i.attendees == 0 && !i.online_meeting)
    );
    assert_eq!(
        inspected.iter().filter(|i| i.has_body).count(),
        2,
        "the HTML and the text body"
    );
}

#[test]
fn rendering_is_deterministic_and_a_re_read_renders_the_same_bytes() {
    let copies = sample_copies();
    let mut reversed = copies.clone();
    reversed.reverse();
    let a = calendar(&copies).render("Public events");
    let b = calendar(&reversed).render("Public events");
    assert_eq!(a, b);
    let again = TargetCalendar::parse(a.as_bytes(), "t")
        .unwrap()
        .render("Public events");
    assert_eq!(a, again);
}

#[test]
fn copy_uids_are_stable_and_distinct() {
    let k = SourceKey::single("abc");
    assert_eq!(copy_uid(&k), copy_uid(&SourceKey::single("abc")));
    assert_ne!(copy_uid(&k), copy_uid(&SourceKey::single("abd")));
    assert_eq!(copy_uid(&k).len(), 32 + "@calsync".len());
}

pub(super) fn create(key: &str, p: EventPayload) -> Create {
    let key = SourceKey(key.to_string());
    let hash = planner::content_hash(&p);
    Create {
        key: key.clone(),
        payload: p,
        marker: Marker {
            source_key: key,
            content_hash: hash,
        },
    }
}

#[test]
fn apply_reports_each_write_and_stamps_only_what_it_rewrites() {
    let copies = sample_copies();
    let mut cal = calendar(&copies);
    let text = cal.render("c");
    cal = TargetCalendar::parse(text.as_bytes(), "t").unwrap();
    let now = utc(2026, 10, 3, 7, 30);
    let new = create(
        "i:new",
        payload("New", at(2026, 10, 20, 10, 0), at(2026, 10, 20, 11, 0)),
    );
    let mut changed = copies[0].payload.clone();
    changed.subject = "Open evening (moved)".into();
    let plan = Plan {
        creates: vec![new.clone()],
        updates: vec![Update {
            target_id: copies[0].uid.clone(),
            key: copies[0].marker.source_key.clone(),
            marker: Marker {
                source_key: copies[0].marker.source_key.clone(),
                content_hash: planner::content_hash(&changed),
            },
            payload: changed.clone(),
        }],
        deletes: vec![
            Delete {
                target_id: copies[2].uid.clone(),
                key: copies[2].marker.source_key.clone(),
                start: copies[2].payload.start,
                subject: copies[2].payload.subject.clone(),
                reason: DeleteReason::SourceGone,
            },
            Delete {
                target_id: "gone@calsync".into(),
                key: SourceKey::single("gone"),
                start: at(2026, 10, 9, 0, 0),
                subject: "Gone".into(),
                reason: DeleteReason::SourceGone,
            },
        ],
        ..Plan::default()
    };
    let report = cal.apply(&plan, now);
    assert_eq!((report.created, report.updated, report.deleted), (1, 1, 2));
    assert!(report.failures.is_empty());
    assert_eq!(
        report.done,
        vec![
            Applied::Created {
                target_id: copy_uid(&new.key),
                marker: new.marker.clone()
            },
            Applied::Updated {
                target_id: copies[0].uid.clone(),
                marker: plan.updates[0].marker.clone()
            },
            Applied::Deleted {
                target_id: copies[2].uid.clone(),
                key: copies[2].marker.source_key.clone()
            },
            Applied::Deleted {
                target_id: "gone@calsync".into(),
                key: SourceKey::single("gone")
            },
        ]
    );
    let after = TargetCalendar::parse(cal.render("c").as_bytes(), "t").unwrap();
    let by_uid = |uid: &str| {
        after
            .copies()
            .into_iter()
            .find(|c| c.uid == uid)
            .cloned()
            .unwrap()
    };
    let updated = by_uid(&copies[0].uid);
    assert_eq!((updated.sequence, updated.dtstamp), (1, now));
    assert_eq!(updated.payload, changed);
    let created = by_uid(&copy_uid(&new.key));
    assert_eq!((created.sequence, created.dtstamp), (0, now));
    let untouched = by_uid(&copies[1].uid);
    assert_eq!(
        (untouched.sequence, untouched.dtstamp),
        (0, utc(2026, 9, 1, 12, 0))
    );
    assert_eq!(after.copies().len(), 3);

    // An update of a copy that is no longer there fails, and writes nothing.
    let mut again = after.clone();
    let mut stale = plan.updates[0].clone();
    stale.target_id = "missing@calsync".into();
    let report = again.apply(
        &Plan {
            updates: vec![stale],
            ..Plan::default()
        },
        now,
    );
    assert_eq!(report.updated, 0);
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.failures[0].action, "update");
    assert_eq!(again.render("c"), after.render("c"));
}

#[test]
fn a_created_copy_replaces_its_own_out_of_window_copy_but_never_a_hand_made_event() {
    let hand_uid = copy_uid(&SourceKey::single("clash"));
    let file = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:{hand_uid}\r\nDTSTART:20261101T090000Z\r\n\
         SUMMARY:By hand\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    let mut cal = TargetCalendar::parse(file.as_bytes(), "t").unwrap();
    let old = copy_of(
        "i:moved",
        payload("Moved", at(2026, 1, 5, 9, 0), at(2026, 1, 5, 10, 0)),
    );
    cal.insert(IcsCopy {
        sequence: 4,
        ..old.clone()
    });
    let plan = Plan {
        creates: vec![
            create(
                "i:clash",
                payload("Clash", at(2026, 11, 2, 9, 0), at(2026, 11, 2, 10, 0)),
            ),
            create(
                "i:moved",
                payload("Moved", at(2026, 11, 3, 9, 0), at(2026, 11, 3, 10, 0)),
            ),
        ],
        ..Plan::default()
    };
    let report = cal.apply(&plan, utc(2026, 10, 3, 0, 0));
    let ids: Vec<String> = report
        .done
        .iter()
        .map(|d| match d {
            Applied::Created { target_id, .. } => target_id.clone(),
            _ => panic!("only creates"),
        })
        .collect();
    assert_ne!(ids[0], hand_uid);
    assert!(ids[0].ends_with("-2@calsync"), "{}", ids[0]);
    assert_eq!(ids[1], old.uid);
    let copies = cal.copies();
    assert_eq!(copies.len(), 2);
    let moved = copies.iter().find(|c| c.uid == old.uid).unwrap();
    assert_eq!(moved.sequence, 5);
    assert_eq!(moved.payload.start, at(2026, 11, 3, 9, 0));
    assert!(cal.render("c").contains("SUMMARY:By hand\r\n"));
}

#[test]
fn hand_made_events_are_never_managed() {
    let cal = TargetCalendar::parse(TARGET_WITH_HAND_MADE, "target.ics").unwrap();
    let managed = cal.managed();
    assert_eq!(managed.len(), 1);
    assert_eq!(managed[0].marker.source_key, SourceKey::single("managed-1"));
    assert_eq!(managed[0].current.start, at(2026, 11, 5, 17, 0));
    // The copy someone added an attendee and a meeting link to, by hand.
    let inspected = cal.inspected();
    assert_eq!(inspected[0].attendees, 1);
    assert!(inspected[0].online_meeting);
    assert!(!inspected[0].has_body);
}

#[test]
fn managed_in_filters_by_start() {
    let cal = calendar(&sample_copies());
    let w = Window {
        start: utc(2026, 10, 3, 0, 0),
        end: utc(2026, 12, 24, 0, 0),
    };
    let starts: Vec<EventTime> = cal.managed_in(&w).iter().map(|m| m.current.start).collect();
    assert_eq!(starts, vec![at(2026, 11, 5, 17, 0), day(2026, 12, 24)]);
}
