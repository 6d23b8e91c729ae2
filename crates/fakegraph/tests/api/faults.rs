//! Throttling, injected faults, the service clock, and the fake used from
//! plain tests with a seed.

use super::*;

#[tokio::test]
async fn throttling_sends_retry_after() {
    let w = World::new().await;
    let path = format!("/users/{MAILBOX}/calendars");
    w.fake.set_faults(Faults {
        throttle_fraction: 1.0,
        ..Faults::default()
    });
    let got = w.get(&path).await;
    assert_eq!((got.status, got.code()), (429, "TooManyRequests"));
    assert_eq!(got.header("retry-after"), Some("1"));
    assert_eq!(got.body["error"]["innerError"]["status"], "429");

    // More than 4 concurrent requests per mailbox: ApplicationThrottled.
    w.fake.set_faults(Faults {
        latency: Duration::from_millis(300),
        ..Faults::default()
    });
    let all = futures_util::future::join_all((0..6).map(|_| w.get(&path))).await;
    let throttled: Vec<&Answer> = all.iter().filter(|a| a.status == 429).collect();
    assert_eq!(
        throttled.len(),
        2,
        "{:?}",
        all.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    assert_eq!(throttled[0].code(), "ApplicationThrottled");
    assert_eq!(
        throttled[0].body["error"]["message"],
        "Application is over its MailboxConcurrency limit."
    );
    assert!(throttled[0].header("retry-after").is_some());

    w.fake.set_faults(Faults {
        rate_limit: Some((2, Duration::from_secs(30))),
        ..Faults::default()
    });
    let statuses = [
        w.get(&path).await.status,
        w.get(&path).await.status,
        w.get(&path).await.status,
    ];
    assert_eq!(statuses, [200, 200, 429]);
}

#[tokio::test]
async fn injected_faults() {
    let w = World::new().await;
    let path = format!("/users/{MAILBOX}/calendars");
    w.fake.set_faults(Faults {
        fail_path: Some(("calendars".into(), 503, 2)),
        retry_after_secs: 3,
        ..Faults::default()
    });
    let first = w.get(&path).await;
    assert_eq!(
        (first.status, first.header("retry-after")),
        (503, Some("3"))
    );
    assert_eq!(w.get(&path).await.status, 503);
    assert_eq!(w.get(&path).await.status, 200);

    w.fake.set_faults(Faults {
        fail_504_fraction: 1.0,
        ..Faults::default()
    });
    let got = w.get(&path).await;
    assert_eq!((got.status, got.code()), (504, "UnknownError"));
    assert!(got.header("retry-after").is_none());

    w.fake.set_faults(Faults {
        malformed_json: 1,
        ..Faults::default()
    });
    let resp = w
        .http
        .get(w.url(&path))
        .bearer_auth(&w.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let text = resp.text().await.unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");
    assert_eq!(w.get(&path).await.status, 200);

    // A dropped connection after the write was applied.
    w.fake.set_faults(Faults {
        drop_connections: 1,
        ..Faults::default()
    });
    let event = timed(
        "Dropped",
        "2030-11-01T10:00:00",
        "2030-11-01T11:00:00",
        "UTC",
    );
    let sent = w
        .http
        .post(w.url(&w.events_path()))
        .bearer_auth(&w.token)
        .json(&event)
        .send()
        .await;
    let failed = match sent {
        Err(_) => true,
        Ok(resp) => resp.text().await.is_err(),
    };
    assert!(failed, "the connection should have been dropped");
    assert_eq!(w.fake.writes_applied(), 1);
    assert!(w.fake.requests().last().unwrap().dropped);
    assert_eq!(w.post(&w.events_path(), event).await.status, 201);
}

#[tokio::test]
async fn responses_carry_the_service_clock() {
    let w = World::new().await;
    let path = format!("/users/{MAILBOX}/calendars");
    let date = |a: &Answer| {
        assert_eq!(a.headers.get_all("date").iter().count(), 1);
        let raw = a.header("date").unwrap().to_string();
        assert!(raw.ends_with(" GMT"), "{raw}");
        DateTime::parse_from_rfc2822(&raw)
            .unwrap()
            .with_timezone(&Utc)
    };
    let got = w.get(&path).await;
    assert!((date(&got) - Utc::now()).num_seconds().abs() <= 2);

    w.fake.set_clock_offset(chrono::Duration::minutes(-10));
    let got = w.get(&path).await;
    let skew = (date(&got) - Utc::now()).num_seconds();
    assert!((-602..=-598).contains(&skew), "{skew}");
    // Error bodies' innerError.date too (and the token endpoint's Date).
    let missing = w
        .get(&format!(
            "/users/{MAILBOX}/events/AAMkAGVtaXNzaW5nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="
        ))
        .await;
    assert_eq!(missing.status, 404);
    let inner = missing.body["error"]["innerError"]["date"]
        .as_str()
        .unwrap();
    let inner = chrono::NaiveDateTime::parse_from_str(inner, "%Y-%m-%dT%H:%M:%S")
        .unwrap()
        .and_utc();
    assert!(
        ((inner - Utc::now()).num_seconds() + 600).abs() <= 2,
        "{inner}"
    );
    let token = token_request(&w.fake, &w.http, TENANT, client_credentials(SECRET)).await;
    assert!(((date(&token) - Utc::now()).num_seconds() + 600).abs() <= 2);
}

#[tokio::test]
async fn long_ranges_fail_when_asked_to() {
    let w = World::new().await;
    for i in 0..3 {
        w.fake.insert_event(
            MAILBOX,
            &w.calendar,
            timed(
                &format!("E{i}"),
                &format!("2030-01-0{}T10:00:00", i + 1),
                &format!("2030-01-0{}T11:00:00", i + 1),
                "UTC",
            ),
        );
    }
    let long_delta = format!(
        "/users/{MAILBOX}/calendars/{}/calendarView/delta?startDateTime=2030-01-01T00:00:00Z&endDateTime=2031-06-01T00:00:00Z",
        w.calendar
    );
    // A round started before the fault: its next page fails once it is on.
    let page = [("Prefer", "odata.maxpagesize=1")];
    let first = w.send("GET", &long_delta, &page, None).await;
    assert_eq!(first.status, 200);
    let next = first.body["@odata.nextLink"].as_str().unwrap().to_string();

    w.fake.set_faults(Faults {
        fail_long_ranges: Some((365, 504)),
        ..Faults::default()
    });
    for _ in 0..2 {
        let got = w.send("GET", &next, &page, None).await;
        assert_eq!((got.status, got.code()), (504, "UnknownError"));
        assert_eq!(got.body["error"]["message"], "");
        assert!(got.header("retry-after").is_none());
    }
    let got = w.get(&long_delta).await;
    assert_eq!(got.status, 504);
    let got = w
        .get(&w.view_path("2030-01-01T00:00:00Z", "2031-06-01T00:00:00Z"))
        .await;
    assert_eq!((got.status, got.code()), (504, "UnknownError"));
    // Shorter ranges work.
    let got = w
        .get(&w.view_path("2030-01-01T00:00:00Z", "2030-12-01T00:00:00Z"))
        .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["value"].as_array().unwrap().len(), 3);
    let short_delta = long_delta.replace("2031-06-01", "2030-06-01");
    let (items, _) = delta_round(&w, &short_delta, &[]).await;
    assert_eq!(items.len(), 3);

    w.fake.set_faults(Faults {
        fail_long_ranges: Some((365, 503)),
        retry_after_secs: 4,
        ..Faults::default()
    });
    let got = w.get(&long_delta).await;
    assert_eq!((got.status, got.header("retry-after")), (503, Some("4")));
}

#[test]
fn usable_from_plain_tests_and_seedable() {
    let fake = FakeGraph::start();
    let seed: Value = serde_json::from_str(include_str!("../../examples/seed.json")).unwrap();
    let summary = fake.load_seed(&seed).unwrap();
    assert!(!summary.apps.is_empty());
    let source = fake
        .calendar_id("events@contoso.example", "Calendar")
        .unwrap();
    let target = fake
        .calendar_id("events@contoso.example", "Public Calendar")
        .unwrap();
    assert!(fake.events("events@contoso.example", &target).is_empty());
    let events = fake.events("events@contoso.example", &source);
    assert_eq!(events.len(), summary.events);
    let today = Utc::now().date_naive();
    assert!(events.iter().all(|e| {
        let start =
            NaiveDate::parse_from_str(&e["start"]["dateTime"].as_str().unwrap()[..10], "%Y-%m-%d")
                .unwrap();
        start >= today - chrono::Duration::days(30)
    }));
    assert!(fake.graph_url().ends_with("/v1.0"));
    // A mailbox whose default calendar has a localized name.
    let kalender = fake
        .default_calendar_id("veranstaltungen@contoso.example")
        .unwrap();
    assert_eq!(
        fake.calendar_id("veranstaltungen@contoso.example", "Kalender"),
        Some(kalender)
    );
    assert!(
        fake.calendar_id("veranstaltungen@contoso.example", "Öffentlicher Kalender")
            .is_some()
    );
}
