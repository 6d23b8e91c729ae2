//! `plan`: creates, updates and deletes for a source and its copies.

use super::*;

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
