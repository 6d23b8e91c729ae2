//! Creating, changing and deleting events, and extended properties.

use super::*;

#[tokio::test]
async fn create_sets_server_fields_and_transaction_ids_dedupe() {
    let w = World::new().await;
    let mut body = timed(
        "Fair",
        "2030-07-01T10:00:00",
        "2030-07-01T11:00:00",
        "Eastern Standard Time",
    );
    body["transactionId"] = json!("tx-1");
    body["singleValueExtendedProperties"] = json!([{"id": PROP, "value": "i:abc"}]);
    body["body"] = json!({"contentType": "text", "content": "Agenda"});
    let created = w.post(&w.events_path(), body.clone()).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let e = &created.body;
    let id = e["id"].as_str().unwrap().to_string();
    assert!(
        e["@odata.context"]
            .as_str()
            .unwrap()
            .contains("$metadata#users(")
    );
    assert_eq!(
        e["@odata.etag"],
        format!("W/\"{}\"", e["changeKey"].as_str().unwrap())
    );
    assert_eq!(e["type"], "singleInstance");
    assert_eq!(e["sensitivity"], "normal");
    assert_eq!(e["showAs"], "busy");
    assert_eq!(e["importance"], "normal");
    assert_eq!(e["isReminderOn"], true);
    assert_eq!(e["reminderMinutesBeforeStart"], 15);
    assert_eq!(
        e["responseStatus"],
        json!({"response": "organizer", "time": "0001-01-01T00:00:00Z"})
    );
    assert_eq!(e["organizer"]["emailAddress"]["address"], MAILBOX);
    assert_eq!(e["isOrganizer"], true);
    assert_eq!(e["transactionId"], "tx-1");
    assert_eq!(
        e["start"],
        json!({"dateTime": "2030-07-01T14:00:00.0000000", "timeZone": "UTC"})
    );
    assert!(
        e["body"]["content"]
            .as_str()
            .unwrap()
            .starts_with("<html><head>")
    );
    assert!(
        e["iCalUId"]
            .as_str()
            .unwrap()
            .starts_with("040000008200E00074C5B7101A82E008")
    );
    let created_at = e["createdDateTime"].as_str().unwrap();
    assert_eq!(
        created_at.len(),
        "2030-07-01T14:00:00.0000000Z".len(),
        "{created_at}"
    );
    assert!(
        e.get("singleValueExtendedProperties").is_none(),
        "not echoed on writes"
    );

    // By default a repeated transactionId is refused (see
    // repeated_transaction_ids for the other answers).
    let again = w.post(&w.events_path(), body).await;
    assert_eq!(
        (again.status, again.code()),
        (400, "ErrorDuplicateTransactionId")
    );
    assert_eq!(again.body["error"]["@event.existingEventId"], id.as_str());
    assert_eq!(w.fake.events(MAILBOX, &w.calendar).len(), 1);
    assert_eq!(w.fake.writes_applied(), 1);

    let stored = &w.fake.events(MAILBOX, &w.calendar)[0];
    assert_eq!(
        stored["singleValueExtendedProperties"],
        json!([{"id": PROP, "value": "i:abc"}])
    );
    assert_eq!(stored["transactionId"], "tx-1");

    let plain = w
        .post(
            &w.events_path(),
            timed("No tx", "2030-07-02T10:00:00", "2030-07-02T11:00:00", "UTC"),
        )
        .await;
    assert!(plain.body.get("transactionId").is_none());

    let invited = w.post(
        &format!("/users/{MAILBOX}/events"),
        json!({"subject": "Meeting", "start": {"dateTime": "2030-07-03T10:00:00", "timeZone": "UTC"},
               "end": {"dateTime": "2030-07-03T11:00:00", "timeZone": "UTC"},
               "attendees": [{"type": "required", "emailAddress": {"address": "a@x.example"}},
                             {"emailAddress": {"address": "b@x.example", "name": "B"}}]}),
    )
    .await;
    assert_eq!(invited.status, 201);
    assert_eq!(invited.body["attendees"][0]["status"]["response"], "none");
    assert_eq!(w.fake.invites_sent(), 2);
}

#[tokio::test]
async fn repeated_transaction_ids() {
    let w = World::new().await;
    assert_eq!(w.fake.behaviour(), Behaviour::default());
    let with_tx = |subject: &str, tx: &str| {
        let mut e = timed(subject, "2030-07-05T10:00:00", "2030-07-05T11:00:00", "UTC");
        e["transactionId"] = json!(tx);
        e
    };
    let first = w.post(&w.events_path(), with_tx("One", "tx-a")).await;
    assert_eq!(first.status, 201);
    let first_id = first.body["id"].as_str().unwrap().to_string();

    // Default: 400 with the id of the event first created, nothing created.
    let again = w.post(&w.events_path(), with_tx("Two", "tx-a")).await;
    assert_eq!(
        (again.status, again.code()),
        (400, "ErrorDuplicateTransactionId")
    );
    assert_eq!(
        again.body["error"]["message"],
        "The TransactionId specified in the request has already been used to create a different event."
    );
    assert_eq!(
        again.body["error"]["@event.existingEventId"],
        first_id.as_str()
    );
    assert!(again.body["error"]["innerError"]["request-id"].is_string());
    // The key is per mailbox, not per calendar.
    let other = w.fake.add_calendar(MAILBOX, "Other");
    let elsewhere = w
        .post(
            &format!("/users/{MAILBOX}/calendars/{other}/events"),
            with_tx("Three", "tx-a"),
        )
        .await;
    assert_eq!(elsewhere.status, 400);

    w.fake.set_behaviour(Behaviour {
        duplicate_transaction_id: DuplicateTransactionId::Error409,
        ..Behaviour::default()
    });
    let again = w.post(&w.events_path(), with_tx("Two", "tx-a")).await;
    assert_eq!(
        (again.status, again.code()),
        (409, "ErrorDuplicateTransactionId")
    );
    assert!(again.body["error"].get("@event.existingEventId").is_none());

    w.fake.set_behaviour(Behaviour {
        duplicate_transaction_id: DuplicateTransactionId::Created201,
        ..Behaviour::default()
    });
    let again = w.post(&w.events_path(), with_tx("Two", "tx-a")).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.body["id"], first_id.as_str());
    assert_eq!(again.body["subject"], "One");
    assert_eq!(w.fake.events(MAILBOX, &w.calendar).len(), 1);
    assert_eq!(w.fake.writes_applied(), 1);

    // After the first event is deleted the key is still remembered: the
    // error still names the deleted event; 201 creates a new one.
    w.fake.delete_event(MAILBOX, &first_id);
    w.fake.set_behaviour(Behaviour::default());
    let again = w.post(&w.events_path(), with_tx("Two", "tx-a")).await;
    assert_eq!(again.status, 400);
    assert_eq!(
        again.body["error"]["@event.existingEventId"],
        first_id.as_str()
    );
    assert!(w.fake.events(MAILBOX, &w.calendar).is_empty());
    w.fake.set_behaviour(Behaviour {
        duplicate_transaction_id: DuplicateTransactionId::Created201,
        ..Behaviour::default()
    });
    let anew = w.post(&w.events_path(), with_tx("Two", "tx-a")).await;
    assert_eq!(anew.status, 201);
    assert_ne!(anew.body["id"], first_id.as_str());
    assert_eq!(anew.body["subject"], "Two");
    assert_eq!(w.fake.writes_applied(), 2);

    // Inside a batch the inner request gets the error.
    w.fake.set_behaviour(Behaviour::default());
    let got = w
        .post(
            "/$batch",
            json!({"requests": [{"id": "1", "method": "POST", "url": w.events_path(),
                "headers": {"Content-Type": "application/json"}, "body": with_tx("Four", "tx-a")}]}),
        )
        .await;
    assert_eq!(got.body["responses"][0]["status"], 400);
    assert_eq!(
        got.body["responses"][0]["body"]["error"]["code"],
        "ErrorDuplicateTransactionId"
    );
    assert_eq!(w.fake.writes_applied(), 2);
}

#[tokio::test]
async fn create_validates_like_graph() {
    let w = World::new().await;
    let path = w.events_path();
    let all_day = |start: &str, end: &str| json!({"subject": "x", "isAllDay": true, "start": {"dateTime": start, "timeZone": "UTC"}, "end": {"dateTime": end, "timeZone": "UTC"}});
    let got = w
        .post(&path, all_day("2030-01-01T10:00:00", "2030-01-02T10:00:00"))
        .await;
    assert_eq!(got.status, 400);
    let got = w
        .post(&path, all_day("2030-01-01T00:00:00", "2030-01-01T00:00:00"))
        .await;
    assert_eq!(got.status, 400);
    assert!(
        got.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at least 24 hours")
    );
    assert_eq!(
        w.post(&path, all_day("2030-01-01T00:00:00", "2030-01-03T00:00:00"))
            .await
            .status,
        201
    );

    let got = w
        .post(
            &path,
            timed(
                "x",
                "2030-01-01T10:00:00",
                "2030-01-01T11:00:00",
                "Mars Standard Time",
            ),
        )
        .await;
    assert_eq!(
        (got.status, got.code()),
        (400, "TimeZoneNotSupportedException")
    );
    let got = w.post(&path, json!({"subject": "no times"})).await;
    assert_eq!(got.status, 400);
    let got = w.post(&path, json!({"subjcet": "typo"})).await;
    assert_eq!((got.status, got.code()), (400, "RequestBodyRead"));

    let raw = w
        .http
        .post(w.url(&path))
        .bearer_auth(&w.token)
        .header("content-type", "application/json")
        .body("{\"subject\": ")
        .send()
        .await
        .unwrap();
    let got = answer(raw).await;
    assert_eq!(got.status, 400);
    assert!(got.body["error"]["innerError"]["request-id"].is_string());
    assert_eq!(w.fake.writes_applied(), 1);
}

#[tokio::test]
async fn patch_and_delete() {
    let w = World::new().await;
    let mut body = timed("Draft", "2030-08-01T10:00:00", "2030-08-01T11:00:00", "UTC");
    body["categories"] = json!(["A", "B"]);
    body["singleValueExtendedProperties"] = json!([{"id": PROP, "value": "one"}]);
    let created = w.post(&w.events_path(), body).await;
    let id = created.body["id"].as_str().unwrap().to_string();
    let key = created.body["changeKey"].as_str().unwrap().to_string();
    let item = format!("/users/{MAILBOX}/events/{id}");

    let patch = json!({"subject": "Final", "categories": ["C"],
        "singleValueExtendedProperties": [{"id": PROP.replace("5d2c6a0e", "5D2C6A0E"), "value": "two"}]});
    let stale = w
        .send(
            "PATCH",
            &item,
            &[("If-Match", "W/\"stale\"")],
            Some(patch.clone()),
        )
        .await;
    assert_eq!(
        (stale.status, stale.code()),
        (412, "ErrorIrresolvableConflict")
    );
    let etag = format!("W/\"{key}\"");
    let patched = w
        .send("PATCH", &item, &[("If-Match", &etag)], Some(patch))
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["subject"], "Final");
    assert_eq!(patched.body["categories"], json!(["C"]));
    assert_eq!(
        patched.body["start"]["dateTime"],
        "2030-08-01T10:00:00.0000000"
    );
    assert_ne!(patched.body["changeKey"], key.as_str());
    let stored = &w.fake.events(MAILBOX, &w.calendar)[0];
    assert_eq!(
        stored["singleValueExtendedProperties"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "merged by id"
    );
    assert_eq!(stored["singleValueExtendedProperties"][0]["value"], "two");

    // The calendar form of the path works too; another calendar's path does not.
    let other = w.fake.add_calendar(MAILBOX, "Other");
    assert_eq!(
        w.get(&format!("{}/{id}", w.events_path())).await.status,
        200
    );
    assert_eq!(
        w.get(&format!("/users/{MAILBOX}/calendars/{other}/events/{id}"))
            .await
            .status,
        404
    );

    assert_eq!(w.send("DELETE", &item, &[], None).await.status, 204);
    let gone = w.send("DELETE", &item, &[], None).await;
    assert_eq!((gone.status, gone.code()), (404, "ErrorItemNotFound"));
    assert_eq!(
        gone.body["error"]["message"],
        "The specified object was not found in the store."
    );
    let bad = w.get(&format!("/users/{MAILBOX}/events/bad*id")).await;
    assert_eq!((bad.status, bad.code()), (400, "ErrorInvalidIdMalformed"));
    assert_eq!(w.fake.writes_applied(), 3);
}

#[tokio::test]
async fn extended_property_filter_and_expand() {
    let w = World::new().await;
    for (i, key) in ["i:Alpha", "i:beta", ""].iter().enumerate() {
        let mut e = timed(
            &format!("E{i}"),
            "2030-09-01T10:00:00",
            "2030-09-01T11:00:00",
            "UTC",
        );
        if !key.is_empty() {
            e["singleValueExtendedProperties"] = json!([{"id": PROP, "value": key}]);
        }
        w.fake.insert_event(MAILBOX, &w.calendar, e);
    }
    let enc = |s: &str| -> String { form_urlencoded::byte_serialize(s.as_bytes()).collect() };
    let expand = enc(&format!(
        "singleValueExtendedProperties($filter=id eq '{}')",
        PROP.to_uppercase()
    ));
    let filter = |cond: &str| {
        enc(&format!(
            "singleValueExtendedProperties/Any(ep: ep/id eq '{PROP}' and {cond})"
        ))
    };

    let got = w
        .get(&format!(
            "{}?$filter={}&$expand={expand}",
            w.events_path(),
            filter("ep/value eq 'I:ALPHA'")
        ))
        .await;
    assert_eq!(got.status, 200, "{}", got.body);
    let value = got.body["value"].as_array().unwrap();
    assert_eq!(value.len(), 1);
    assert_eq!(
        value[0]["singleValueExtendedProperties"],
        json!([{"id": PROP, "value": "i:Alpha"}])
    );

    let got = w
        .get(&format!(
            "{}?$filter={}",
            w.events_path(),
            filter("startswith(ep/value, 'i:')")
        ))
        .await;
    assert_eq!(got.body["value"].as_array().unwrap().len(), 2);
    assert!(
        got.body["value"][0]
            .get("singleValueExtendedProperties")
            .is_none(),
        "not without $expand"
    );
    let got = w
        .get(&format!(
            "{}?$filter={}",
            w.events_path(),
            filter("contains(ep/value, 'ET')")
        ))
        .await;
    assert_eq!(got.body["value"].as_array().unwrap().len(), 1);
    let got = w
        .get(&format!(
            "{}?$filter={}",
            w.events_path(),
            filter("ep/value ne 'i:beta'")
        ))
        .await;
    assert_eq!(got.body["value"].as_array().unwrap().len(), 1);

    // The name part of the id is case-sensitive in $filter.
    let lower_name = enc(&format!(
        "singleValueExtendedProperties/Any(ep: ep/id eq '{}' and ep/value eq 'i:beta')",
        PROP.replace("calsyncSourceKey", "CALSYNCSOURCEKEY")
    ));
    let got = w
        .get(&format!("{}?$filter={lower_name}", w.events_path()))
        .await;
    assert_eq!(got.body["value"].as_array().unwrap().len(), 0);

    // $expand on calendarView and on one item; absent when nothing matches.
    let got = w
        .get(&format!(
            "{}&$expand={expand}",
            w.view_path("2030-09-01", "2030-09-02")
        ))
        .await;
    let with: Vec<bool> = got.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.get("singleValueExtendedProperties").is_some())
        .collect();
    assert_eq!(with.iter().filter(|b| **b).count(), 2);
    let id = got.body["value"][0]["id"].as_str().unwrap();
    let one = w
        .get(&format!("/users/{MAILBOX}/events/{id}?$expand={expand}"))
        .await;
    assert_eq!(one.status, 200);

    let got = w
        .get(&format!(
            "{}?$filter={}",
            w.events_path(),
            enc("nosuchfield eq 'x'")
        ))
        .await;
    assert_eq!(got.status, 400);
    let got = w
        .get(&format!(
            "{}?$filter={}",
            w.events_path(),
            enc("subject eq")
        ))
        .await;
    assert_eq!(got.status, 400);
}
