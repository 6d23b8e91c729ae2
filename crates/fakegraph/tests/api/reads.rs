//! Reading users, calendars and events: views, paging, series and time
//! zones.

use super::*;

#[tokio::test]
async fn users_and_calendars() {
    let w = World::new().await;
    let got = w.get("/users/Nobody@Contoso.example/calendars").await;
    assert_eq!((got.status, got.code()), (404, "ErrorInvalidUser"));
    assert_eq!(
        got.body["error"]["message"],
        "The requested user 'Nobody@Contoso.example' is invalid."
    );

    // UPNs are case-insensitive.
    let got = w.get("/users/EVENTS@contoso.example/calendar").await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["name"], "Calendar");
    assert_eq!(got.body["isDefaultCalendar"], true);
    assert_eq!(got.body["owner"]["address"], MAILBOX);

    for i in 0..11 {
        w.fake.add_calendar(MAILBOX, &format!("Extra {i}"));
    }
    let first = w.get(&format!("/users/{MAILBOX}/calendars")).await;
    assert_eq!(first.body["value"].as_array().unwrap().len(), 10);
    let next = first.body["@odata.nextLink"].as_str().unwrap();
    assert!(next.ends_with("$skip=10"), "{next}");
    let second = w.get(next).await;
    assert_eq!(second.body["value"].as_array().unwrap().len(), 2);
    assert!(second.body.get("@odata.nextLink").is_none());

    let malformed = w
        .get(&format!("/users/{MAILBOX}/calendars/not-an-id!/events"))
        .await;
    assert_eq!(
        (malformed.status, malformed.code()),
        (400, "ErrorInvalidIdMalformed")
    );
    let unknown_segment = w.get(&format!("/users/{MAILBOX}/contacts")).await;
    assert_eq!(unknown_segment.status, 400);
}

#[tokio::test]
async fn calendar_view_bounds_and_paging() {
    let w = World::new().await;
    for i in 0..25 {
        let start = format!("2030-01-{:02}T09:00:00", i + 1);
        let end = format!("2030-01-{:02}T10:00:00", i + 1);
        w.fake.insert_event(
            MAILBOX,
            &w.calendar,
            timed(&format!("E{i:02}"), &start, &end, "UTC"),
        );
    }
    let base = format!("/users/{MAILBOX}/calendars/{}/calendarView", w.calendar);
    let got = w.get(&base).await;
    assert_eq!((got.status, got.code()), (400, "ErrorInvalidParameter"));
    let got = w
        .get(&format!("{base}?startDateTime=2030-01-01T00:00:00Z"))
        .await;
    assert_eq!(got.status, 400);
    let got = w
        .get(&w.view_path("2026-01-01T00:00:00Z", "2031-01-01T00:00:00Z"))
        .await;
    assert_eq!((got.status, got.code()), (400, "ErrorInvalidRequest"));
    assert!(
        got.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Maximum number of days: 1825")
    );
    for top in ["0", "1001"] {
        let got = w
            .get(&format!(
                "{}&$top={top}",
                w.view_path("2030-01-01", "2030-02-01")
            ))
            .await;
        assert_eq!(got.status, 400, "$top={top}");
    }

    // Names are case-insensitive; default page 10; nextLink adds $skip.
    let mut url = format!(
        "{}/users/{MAILBOX}/calendars/{}/calendarview?startdatetime=2030-01-01T00:00:00Z&ENDDATETIME=2030-02-01T00:00:00Z",
        w.fake.graph_url(),
        w.calendar
    );
    let mut subjects = Vec::new();
    let mut pages = 0;
    loop {
        let got = w.get(&url).await;
        assert_eq!(got.status, 200, "{}", got.body);
        pages += 1;
        subjects.extend(
            got.body["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["subject"].as_str().unwrap().to_string()),
        );
        match got.body["@odata.nextLink"].as_str() {
            Some(next) => {
                assert!(next.contains("$skip="), "{next}");
                url = next.to_string();
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(subjects.len(), 25);
    assert_eq!(subjects.iter().collect::<HashSet<_>>().len(), 25);

    // The offset decides the instant: 10:00+01:00 is 09:00Z, so E00 (09:00-10:00Z) overlaps.
    let got = w
        .get(&format!(
            "{}&$top=1000&$select=subject&$orderby=start/dateTime desc",
            w.view_path("2030-01-01T10:30:00%2B01:00", "2030-01-02T00:00:00")
        ))
        .await;
    let value = got.body["value"].as_array().unwrap();
    assert_eq!(value.len(), 1, "{}", got.body);
    assert_eq!(value[0]["subject"], "E00");
    assert!(
        value[0]["@odata.etag"]
            .as_str()
            .unwrap()
            .starts_with("W/\"")
    );
    assert!(value[0]["id"].is_string());
    assert!(value[0].get("start").is_none());

    let got = w
        .get(&format!(
            "{}&$top=3&$orderby=start/dateTime desc",
            w.view_path("2030-01-01", "2030-02-01")
        ))
        .await;
    assert_eq!(got.body["value"][0]["subject"], "E24");
    assert!(
        got.body["@odata.nextLink"]
            .as_str()
            .unwrap()
            .contains("$skip=3")
    );
}

#[tokio::test]
async fn series_expand_into_occurrences_and_exceptions() {
    let w = World::new().await;
    let series = w.fake.insert_event(
        MAILBOX,
        &w.calendar,
        json!({
            "subject": "Choir", "sensitivity": "normal",
            "start": {"dateTime": "2030-03-04T18:00:00", "timeZone": "W. Europe Standard Time"},
            "end": {"dateTime": "2030-03-04T20:00:00", "timeZone": "W. Europe Standard Time"},
            "recurrence": {
                "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"], "firstDayOfWeek": "monday"},
                "range": {"type": "numbered", "startDate": "2030-03-04", "numberOfOccurrences": 5}
            }
        }),
    );
    // 2030-03-18 18:00 in Berlin is 17:00Z; the 25th is moved and renamed; April 1st is cancelled.
    w.fake.modify_occurrence(
        MAILBOX,
        &series,
        utc("2030-03-25T17:00:00Z"),
        json!({"subject": "Choir (late)", "start": {"dateTime": "2030-03-25T19:00:00", "timeZone": "W. Europe Standard Time"},
               "end": {"dateTime": "2030-03-25T21:00:00", "timeZone": "W. Europe Standard Time"}}),
    );
    // After the DST change (March 31st) 18:00 in Berlin is 16:00Z.
    w.fake
        .cancel_occurrence(MAILBOX, &series, utc("2030-04-01T16:00:00Z"));

    let path = format!(
        "{}&$top=50",
        w.view_path("2030-03-01T00:00:00Z", "2030-05-01T00:00:00Z")
    );
    let got = w.get(&path).await;
    let value = got.body["value"].as_array().unwrap().clone();
    let kinds: Vec<&str> = value.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["occurrence", "occurrence", "occurrence", "exception"],
        "{}",
        got.body
    );
    for e in &value {
        assert_eq!(e["seriesMasterId"], series.as_str());
        assert_ne!(e["id"], series.as_str());
    }
    let originals: Vec<&str> = value
        .iter()
        .map(|e| e["originalStart"].as_str().unwrap())
        .collect();
    assert_eq!(
        originals,
        [
            "2030-03-04T17:00:00.0000000Z",
            "2030-03-11T17:00:00.0000000Z",
            "2030-03-18T17:00:00.0000000Z",
            "2030-03-25T17:00:00.0000000Z"
        ]
    );
    assert_eq!(value[3]["subject"], "Choir (late)");
    assert_eq!(
        value[3]["start"],
        json!({"dateTime": "2030-03-25T18:00:00.0000000", "timeZone": "UTC"})
    );
    let last = &value[2];
    assert_eq!(last["start"]["dateTime"], "2030-03-18T17:00:00.0000000");
    let icals: HashSet<&str> = value
        .iter()
        .map(|e| e["iCalUId"].as_str().unwrap())
        .collect();
    assert_eq!(icals.len(), 4, "iCalUId differs per occurrence");

    // /events lists the master, not its instances.
    let listed = w.get(&w.events_path()).await;
    assert_eq!(listed.body["value"].as_array().unwrap().len(), 1);
    assert_eq!(listed.body["value"][0]["type"], "seriesMaster");
    assert_eq!(
        listed.body["value"][0]["recurrence"]["range"]["numberOfOccurrences"],
        5
    );

    // Occurrence ids can be read, and are re-issued.
    let occ_id = value[0]["id"].as_str().unwrap().to_string();
    let one = w.get(&format!("/users/{MAILBOX}/events/{occ_id}")).await;
    assert_eq!(
        (one.status, one.body["type"].as_str()),
        (200, Some("occurrence"))
    );
    w.fake.reissue_occurrence_ids();
    let again = w.get(&path).await;
    let new_ids: HashSet<&str> = again.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert!(!new_ids.contains(occ_id.as_str()));
    assert_eq!(
        again.body["value"][0]["originalStart"],
        value[0]["originalStart"]
    );
    assert_eq!(
        w.get(&format!("/users/{MAILBOX}/events/{occ_id}"))
            .await
            .status,
        404
    );

    // Patching an occurrence makes it an exception.
    let second = again.body["value"][1]["id"].as_str().unwrap().to_string();
    let patched = w
        .send(
            "PATCH",
            &format!("/users/{MAILBOX}/events/{second}"),
            &[],
            Some(json!({"subject": "Choir (moved)"})),
        )
        .await;
    assert_eq!(
        (patched.status, patched.body["type"].as_str()),
        (200, Some("exception"))
    );
}

#[tokio::test]
async fn time_zone_and_body_preferences() {
    let w = World::new().await;
    w.fake.insert_event(
        MAILBOX,
        &w.calendar,
        json!({"subject": "Talk", "body": {"contentType": "text", "content": "Hello <world>"},
               "start": {"dateTime": "2030-06-01T09:00:00", "timeZone": "Tokyo Standard Time"},
               "end": {"dateTime": "2030-06-01T10:00:00", "timeZone": "Tokyo Standard Time"}}),
    );
    w.fake.insert_event(
        MAILBOX,
        &w.calendar,
        json!({"subject": "Holiday", "isAllDay": true,
               "start": {"dateTime": "2030-06-02T00:00:00", "timeZone": "UTC"},
               "end": {"dateTime": "2030-06-03T00:00:00", "timeZone": "UTC"}}),
    );
    let path = format!(
        "{}&$orderby=start/dateTime",
        w.view_path("2030-05-31T00:00:00Z", "2030-06-05T00:00:00Z")
    );
    let utc_view = w.get(&path).await;
    let talk = &utc_view.body["value"][0];
    assert_eq!(
        talk["start"],
        json!({"dateTime": "2030-06-01T00:00:00.0000000", "timeZone": "UTC"})
    );
    assert_eq!(talk["body"]["contentType"], "html");
    assert!(
        talk["body"]["content"]
            .as_str()
            .unwrap()
            .contains("Hello &lt;world&gt;")
    );
    assert_eq!(talk["bodyPreview"], "Hello <world>");
    assert_eq!(talk["originalStartTimeZone"], "Tokyo Standard Time");

    let pacific = w
        .send(
            "GET",
            &path,
            &[(
                "Prefer",
                "outlook.timezone=\"Pacific Standard Time\", outlook.body-content-type=\"text\"",
            )],
            None,
        )
        .await;
    assert_eq!(
        pacific.header("preference-applied"),
        Some("outlook.body-content-type=\"text\"")
    );
    let value = pacific.body["value"].as_array().unwrap();
    assert_eq!(
        value[0]["start"],
        json!({"dateTime": "2030-05-31T17:00:00.0000000", "timeZone": "Pacific Standard Time"})
    );
    assert_eq!(
        value[0]["body"],
        json!({"contentType": "text", "content": "Hello <world>"})
    );
    // All-day events stay midnight to midnight; only the label changes.
    assert_eq!(
        value[1]["start"],
        json!({"dateTime": "2030-06-02T00:00:00.0000000", "timeZone": "Pacific Standard Time"})
    );
    assert_eq!(value[1]["end"]["dateTime"], "2030-06-03T00:00:00.0000000");

    let iana = w
        .send(
            "GET",
            &path,
            &[("Prefer", "outlook.timezone=\"Europe/Paris\"")],
            None,
        )
        .await;
    assert_eq!(
        iana.body["value"][0]["start"]["dateTime"],
        "2030-06-01T02:00:00.0000000"
    );
    let bad = w
        .send(
            "GET",
            &path,
            &[("Prefer", "outlook.timezone=\"Atlantis\"")],
            None,
        )
        .await;
    assert_eq!(bad.status, 400);

    // ImmutableId is recorded.
    w.send("GET", &path, &[("Prefer", "IdType=\"ImmutableId\"")], None)
        .await;
    assert!(w.fake.requests().last().unwrap().immutable_id);
}

#[tokio::test]
async fn instances_of_a_series() {
    let w = World::new().await;
    let series = w.fake.insert_event(
        MAILBOX,
        &w.calendar,
        weekly_series("Choir", "2030-03-04", 12),
    );
    w.fake.modify_occurrence(
        MAILBOX,
        &series,
        utc("2030-03-11T18:00:00Z"),
        json!({"subject": "Choir (moved)", "sensitivity": "private"}),
    );
    w.fake
        .cancel_occurrence(MAILBOX, &series, utc("2030-03-18T18:00:00Z"));
    let range = "startDateTime=2030-03-01T00:00:00Z&endDateTime=2030-06-01T00:00:00Z";
    let base = format!("/users/{MAILBOX}/events/{series}/instances");

    // Default page 10, nextLink with $skip; 11 instances (12 less one cancelled).
    let got = w.get(&format!("{base}?{range}")).await;
    assert_eq!(got.status, 200, "{}", got.body);
    let value = got.body["value"].as_array().unwrap();
    assert_eq!(value.len(), 10);
    let next = got.body["@odata.nextLink"].as_str().unwrap();
    assert!(next.contains("$skip=10"), "{next}");
    let rest = w.get(next).await;
    assert_eq!(rest.body["value"].as_array().unwrap().len(), 1);
    assert!(rest.body.get("@odata.nextLink").is_none());
    let first = &value[0];
    assert_eq!(first["type"], "occurrence");
    assert_eq!(first["seriesMasterId"], series.as_str());
    assert_eq!(first["originalStart"], "2030-03-04T18:00:00.0000000Z");
    assert_eq!(first["subject"], "Choir");
    assert_eq!(first["sensitivity"], "normal");
    assert_eq!(first["isCancelled"], false);
    assert_eq!(value[1]["type"], "exception");
    assert_eq!(value[1]["subject"], "Choir (moved)");
    assert_eq!(value[1]["originalStart"], "2030-03-11T18:00:00.0000000Z");
    assert_eq!(value[2]["originalStart"], "2030-03-25T18:00:00.0000000Z");

    // $top, $select, Prefer: outlook.timezone and IdType.
    let got = w
        .send(
            "GET",
            &format!("{base}?{range}&$top=3&$select=subject,originalStart,start"),
            &[(
                "Prefer",
                "outlook.timezone=\"W. Europe Standard Time\", IdType=\"ImmutableId\"",
            )],
            None,
        )
        .await;
    let value = got.body["value"].as_array().unwrap();
    assert_eq!(value.len(), 3);
    assert_eq!(
        keys(&value[0]),
        ["@odata.etag", "id", "originalStart", "start", "subject"]
    );
    assert_eq!(
        value[0]["start"],
        json!({"dateTime": "2030-03-04T19:00:00.0000000", "timeZone": "W. Europe Standard Time"})
    );
    assert!(
        got.body["@odata.nextLink"]
            .as_str()
            .unwrap()
            .contains("$skip=3")
    );
    assert!(w.fake.requests().last().unwrap().immutable_id);
    let got = w.get(&format!("{base}?{range}&$top=1001")).await;
    assert_eq!(got.status, 400);

    // The other paths to the same series.
    for path in [
        format!(
            "/users/{MAILBOX}/calendars/{}/events/{series}/instances",
            w.calendar
        ),
        format!("/users/{MAILBOX}/calendar/events/{series}/instances"),
    ] {
        let got = w.get(&format!("{path}?{range}&$top=20")).await;
        assert_eq!(got.status, 200, "{path}");
        assert_eq!(got.body["value"].as_array().unwrap().len(), 11);
    }
    let other = w.fake.add_calendar(MAILBOX, "Other");
    let got = w
        .get(&format!(
            "/users/{MAILBOX}/calendars/{other}/events/{series}/instances?{range}"
        ))
        .await;
    assert_eq!((got.status, got.code()), (404, "ErrorItemNotFound"));

    // Bounds: both required, at most 1825 days.
    let got = w.get(&base).await;
    assert_eq!((got.status, got.code()), (400, "ErrorInvalidParameter"));
    let got = w
        .get(&format!("{base}?startDateTime=2030-03-01T00:00:00Z"))
        .await;
    assert_eq!(got.status, 400);
    let got = w
        .get(&format!(
            "{base}?startDateTime=2030-01-01T00:00:00Z&endDateTime=2035-01-02T00:00:00Z"
        ))
        .await;
    assert_eq!((got.status, got.code()), (400, "ErrorInvalidRequest"));

    // Inside a batch.
    let got = w
        .post(
            "/$batch",
            json!({"requests": [batch_get("1", &format!("{base}?{range}&$top=50&$select=originalStart"))]}),
        )
        .await;
    assert_eq!(got.body["responses"][0]["status"], 200);
    assert_eq!(
        got.body["responses"][0]["body"]["value"]
            .as_array()
            .unwrap()
            .len(),
        11
    );

    // A master that does not exist, or no longer does.
    let missing = "AAMkAGVtaXNzaW5nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==";
    let got = w
        .get(&format!(
            "/users/{MAILBOX}/events/{missing}/instances?{range}"
        ))
        .await;
    assert_eq!((got.status, got.code()), (404, "ErrorItemNotFound"));
    w.fake.delete_event(MAILBOX, &series);
    let got = w.get(&format!("{base}?{range}")).await;
    assert_eq!((got.status, got.code()), (404, "ErrorItemNotFound"));
}
