//! Delta queries over a calendar view.

use super::*;

#[tokio::test]
async fn calendar_view_delta_rounds() {
    let w = World::new().await;
    let day = |d: u32, subject: &str| {
        timed(
            subject,
            &format!("2030-02-{d:02}T10:00:00"),
            &format!("2030-02-{d:02}T11:00:00"),
            "UTC",
        )
    };
    let a = w.fake.insert_event(MAILBOX, &w.calendar, day(1, "A"));
    let b = w.fake.insert_event(MAILBOX, &w.calendar, day(2, "B"));
    let c = w.fake.insert_event(MAILBOX, &w.calendar, day(3, "C"));
    w.fake
        .insert_event(MAILBOX, &w.calendar, day(20, "Outside"));
    let first = format!(
        "/users/{MAILBOX}/calendars/{}/calendarView/delta?startDateTime=2030-02-01T00:00:00Z&endDateTime=2030-02-10T00:00:00Z",
        w.calendar
    );
    let page_of_2 = [("Prefer", "odata.maxpagesize=2")];
    let p1 = w.send("GET", &first, &page_of_2, None).await;
    assert_eq!(p1.status, 200, "{}", p1.body);
    assert_eq!(
        p1.body["@odata.context"],
        format!("{}/$metadata#Collection(event)", w.fake.graph_url())
    );
    assert_eq!(p1.body["value"].as_array().unwrap().len(), 2);
    let next = p1.body["@odata.nextLink"].as_str().unwrap();
    assert!(next.contains("$skiptoken="), "{next}");
    let p2 = w.send("GET", next, &page_of_2, None).await;
    assert_eq!(p2.body["value"].as_array().unwrap().len(), 1);
    let delta_link = p2.body["@odata.deltaLink"].as_str().unwrap().to_string();
    assert!(delta_link.contains("$deltatoken="));

    let quiet = w.get(&delta_link).await;
    assert_eq!(quiet.body["value"], json!([]));
    let delta_link = quiet.body["@odata.deltaLink"].as_str().unwrap().to_string();

    w.fake.update_event(MAILBOX, &a, json!({"subject": "A2"}));
    w.fake.delete_event(MAILBOX, &b);
    w.fake.update_event(MAILBOX, &c, json!({"start": {"dateTime": "2030-02-25T10:00:00", "timeZone": "UTC"}, "end": {"dateTime": "2030-02-25T11:00:00", "timeZone": "UTC"}}));
    w.fake.insert_event(MAILBOX, &w.calendar, day(4, "D"));
    let round = w.get(&delta_link).await;
    let value = round.body["value"].as_array().unwrap();
    let full: HashSet<&str> = value
        .iter()
        .filter(|e| e.get("@removed").is_none())
        .map(|e| e["subject"].as_str().unwrap())
        .collect();
    assert_eq!(full, HashSet::from(["A2", "D"]));
    let removed: HashSet<&str> = value
        .iter()
        .filter(|e| e.get("@removed").is_some())
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(removed, HashSet::from([b.as_str(), c.as_str()]));
    assert!(
        value
            .iter()
            .all(|e| e["@odata.type"] == "#microsoft.graph.event")
    );

    let bad = w.get(&format!("{first}&$select=subject")).await;
    assert_eq!(bad.status, 400);
    w.fake.invalidate_delta_tokens();
    let gone = w
        .get(round.body["@odata.deltaLink"].as_str().unwrap())
        .await;
    assert_eq!((gone.status, gone.code()), (410, "SyncStateNotFound"));
}

fn of_type<'a>(items: &'a [Value], kind: &str) -> Vec<&'a Value> {
    items.iter().filter(|i| i["type"] == kind).collect()
}

fn removed_ids(items: &[Value]) -> HashSet<&str> {
    items
        .iter()
        .filter(|i| i.get("@removed").is_some())
        .map(|i| i["id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn delta_sends_bare_occurrences_and_lists_their_master() {
    let w = World::new().await;
    // Mondays 2030-03-04 .. 2030-04-01, 18:00Z.
    let series = w.fake.insert_event(
        MAILBOX,
        &w.calendar,
        weekly_series("Choir", "2030-03-04", 5),
    );
    let single = w.fake.insert_event(
        MAILBOX,
        &w.calendar,
        timed("Fair", "2030-03-06T10:00:00", "2030-03-06T11:00:00", "UTC"),
    );
    w.fake.modify_occurrence(
        MAILBOX,
        &series,
        utc("2030-03-11T18:00:00Z"),
        json!({"subject": "Choir (moved)"}),
    );
    let first = format!(
        "/users/{MAILBOX}/calendars/{}/calendarView/delta?startDateTime=2030-03-01T00:00:00Z&endDateTime=2030-05-01T00:00:00Z",
        w.calendar
    );
    let (items, link) = delta_round(&w, &first, &[]).await;
    let occurrences = of_type(&items, "occurrence");
    assert_eq!(occurrences.len(), 4, "{items:#?}");
    for o in &occurrences {
        assert_eq!(
            keys(o),
            [
                "@odata.etag",
                "@odata.type",
                "end",
                "id",
                "seriesMasterId",
                "start",
                "type"
            ]
        );
        assert_eq!(o["seriesMasterId"], series.as_str());
        assert_eq!(o["@odata.type"], "#microsoft.graph.event");
    }
    let exception = of_type(&items, "exception");
    assert_eq!(exception.len(), 1);
    assert_eq!(exception[0]["subject"], "Choir (moved)");
    assert_eq!(
        exception[0]["originalStart"],
        "2030-03-11T18:00:00.0000000Z"
    );
    let masters = of_type(&items, "seriesMaster");
    assert_eq!(masters.len(), 1);
    let master = masters[0];
    assert_eq!(master["id"], series.as_str());
    assert_eq!(master["subject"], "Choir");
    assert_eq!(master["sensitivity"], "normal");
    assert_eq!(master["recurrence"]["pattern"]["type"], "weekly");
    assert_eq!(master["@odata.type"], "#microsoft.graph.event");
    let singles = of_type(&items, "singleInstance");
    assert_eq!(singles.len(), 1);
    assert_eq!(singles[0]["id"], single.as_str());
    assert_eq!(singles[0]["subject"], "Fair");
    assert_eq!(items.len(), 7);

    // Nothing changed: nothing sent.
    let (quiet, link) = delta_round(&w, &link, &[]).await;
    assert_eq!(quiet, Vec::<Value>::new());

    // Modifying one occurrence changes the series: the master and the new
    // exception come, the other occurrences do not.
    let before = master["@odata.etag"].clone();
    w.fake.modify_occurrence(
        MAILBOX,
        &series,
        utc("2030-03-18T18:00:00Z"),
        json!({"subject": "Choir (guest)"}),
    );
    let (items, link) = delta_round(&w, &link, &[]).await;
    assert_eq!(items.len(), 2, "{items:#?}");
    let master = of_type(&items, "seriesMaster")[0];
    assert_ne!(master["@odata.etag"], before);
    assert_eq!(of_type(&items, "exception")[0]["subject"], "Choir (guest)");

    // Cancelling one: @removed for it, and the master again.
    let cancelled = occurrences
        .iter()
        .find(|o| o["start"]["dateTime"] == "2030-03-25T18:00:00.0000000")
        .map(|o| o["id"].as_str().unwrap().to_string())
        .unwrap();
    w.fake
        .cancel_occurrence(MAILBOX, &series, utc("2030-03-25T18:00:00Z"));
    let (items, link) = delta_round(&w, &link, &[]).await;
    assert_eq!(items.len(), 2, "{items:#?}");
    assert_eq!(removed_ids(&items), HashSet::from([cancelled.as_str()]));
    assert_eq!(
        items.iter().find(|i| i.get("@removed").is_some()).unwrap(),
        &json!({"@odata.type": "#microsoft.graph.event", "id": cancelled, "@removed": {"reason": "deleted"}})
    );
    assert_eq!(of_type(&items, "seriesMaster").len(), 1);

    // Editing the master brings every unmodified occurrence back, bare.
    w.fake
        .update_event(MAILBOX, &series, json!({"subject": "Choir rehearsal"}));
    let (items, link) = delta_round(&w, &link, &[]).await;
    assert_eq!(of_type(&items, "occurrence").len(), 2, "{items:#?}");
    assert!(
        of_type(&items, "occurrence")
            .iter()
            .all(|o| o.get("subject").is_none())
    );
    assert_eq!(
        of_type(&items, "seriesMaster")[0]["subject"],
        "Choir rehearsal"
    );
    assert!(of_type(&items, "exception").is_empty());

    // The whole series deleted: @removed for the master and each instance.
    w.fake.delete_event(MAILBOX, &series);
    let (items, _) = delta_round(&w, &link, &[]).await;
    assert_eq!(items.len(), 5, "{items:#?}");
    assert!(removed_ids(&items).contains(series.as_str()));
    assert_eq!(removed_ids(&items).len(), 5);
}

#[tokio::test]
async fn delta_can_leave_deleted_occurrences_unsignalled() {
    let w = World::new().await;
    w.fake.set_behaviour(Behaviour {
        delta_signals_deleted_occurrences: false,
        ..Behaviour::default()
    });
    let series = w.fake.insert_event(
        MAILBOX,
        &w.calendar,
        weekly_series("Choir", "2030-03-04", 5),
    );
    let other = w
        .fake
        .insert_event(MAILBOX, &w.calendar, weekly_series("Band", "2030-03-05", 2));
    let first = format!(
        "/users/{MAILBOX}/calendar/calendarView/delta?startDateTime=2030-03-01T00:00:00Z&endDateTime=2030-05-01T00:00:00Z"
    );
    let (items, link) = delta_round(&w, &first, &[]).await;
    assert_eq!(items.len(), 5 + 2 + 2);

    w.fake
        .cancel_occurrence(MAILBOX, &series, utc("2030-03-25T18:00:00Z"));
    let (items, link) = delta_round(&w, &link, &[]).await;
    // No item for the cancelled occurrence; its master comes as it changed.
    assert_eq!(items.len(), 1, "{items:#?}");
    assert_eq!(items[0]["type"], "seriesMaster");
    assert_eq!(items[0]["id"], series.as_str());

    // A deleted series: only its master is @removed.
    w.fake.delete_event(MAILBOX, &other);
    let (items, link) = delta_round(&w, &link, &[]).await;
    assert_eq!(removed_ids(&items), HashSet::from([other.as_str()]));
    assert_eq!(items.len(), 1);

    // An exception moved out of the window is still signalled: it left.
    w.fake.modify_occurrence(
        MAILBOX,
        &series,
        utc("2030-04-01T18:00:00Z"),
        json!({"start": {"dateTime": "2030-06-01T18:00:00", "timeZone": "UTC"},
               "end": {"dateTime": "2030-06-01T19:00:00", "timeZone": "UTC"}}),
    );
    let (items, _) = delta_round(&w, &link, &[]).await;
    assert_eq!(removed_ids(&items).len(), 1, "{items:#?}");
    assert_eq!(of_type(&items, "seriesMaster").len(), 1);
}

#[tokio::test]
async fn delta_full_occurrences_as_documented() {
    let w = World::new().await;
    w.fake.set_behaviour(Behaviour {
        delta_occurrences: DeltaOccurrences::Full,
        ..Behaviour::default()
    });
    let series = w.fake.insert_event(
        MAILBOX,
        &w.calendar,
        weekly_series("Choir", "2030-03-04", 3),
    );
    let first = format!(
        "/users/{MAILBOX}/calendarView/delta?startDateTime=2030-03-01T00:00:00Z&endDateTime=2030-05-01T00:00:00Z"
    );
    let (items, link) = delta_round(
        &w,
        &first,
        &[("Prefer", "outlook.timezone=\"Pacific Standard Time\"")],
    )
    .await;
    assert_eq!(items.len(), 3, "no master: {items:#?}");
    for o in &items {
        assert_eq!(o["type"], "occurrence");
        assert_eq!(o["subject"], "Choir");
        assert_eq!(o["sensitivity"], "normal");
        assert_eq!(o["categories"], json!(["Public"]));
        assert!(o["originalStart"].is_string());
        assert_eq!(o["isCancelled"], false);
        assert_eq!(o["start"]["timeZone"], "Pacific Standard Time");
    }
    // One occurrence modified: just it comes; no master.
    w.fake.modify_occurrence(
        MAILBOX,
        &series,
        utc("2030-03-11T18:00:00Z"),
        json!({"subject": "Choir (moved)"}),
    );
    let (items, link) = delta_round(&w, &link, &[]).await;
    assert_eq!(items.len(), 1, "{items:#?}");
    assert_eq!(items[0]["type"], "exception");
    // Cancelling: @removed.
    w.fake
        .cancel_occurrence(MAILBOX, &series, utc("2030-03-18T18:00:00Z"));
    let (items, _) = delta_round(&w, &link, &[]).await;
    assert_eq!(removed_ids(&items).len(), 1, "{items:#?}");
    assert_eq!(items.len(), 1);
}

#[tokio::test]
async fn delta_keeps_a_series_on_one_page() {
    let w = World::new().await;
    let series = w.fake.insert_event(
        MAILBOX,
        &w.calendar,
        weekly_series("Choir", "2030-03-04", 6),
    );
    for d in 1..=3 {
        w.fake.insert_event(
            MAILBOX,
            &w.calendar,
            timed(
                &format!("S{d}"),
                &format!("2030-03-0{d}T10:00:00"),
                &format!("2030-03-0{d}T11:00:00"),
                "UTC",
            ),
        );
    }
    let mut url = format!(
        "/users/{MAILBOX}/calendars/{}/calendarView/delta?startDateTime=2030-03-01T00:00:00Z&endDateTime=2030-05-01T00:00:00Z",
        w.calendar
    );
    let mut pages = Vec::new();
    loop {
        let got = w
            .send("GET", &url, &[("Prefer", "odata.maxpagesize=2")], None)
            .await;
        let value = got.body["value"].as_array().unwrap().clone();
        pages.push(value);
        match got.body["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_string(),
            None => break,
        }
    }
    let with_series: Vec<&Vec<Value>> = pages
        .iter()
        .filter(|p| {
            p.iter()
                .any(|i| i["seriesMasterId"] == series.as_str() || i["id"] == series.as_str())
        })
        .collect();
    assert_eq!(with_series.len(), 1, "{pages:#?}");
    assert_eq!(with_series[0].len(), 7);
    assert_eq!(pages.iter().map(Vec::len).sum::<usize>(), 10);
}
