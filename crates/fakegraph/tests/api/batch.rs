//! JSON batching and the latency model.

use super::*;

#[tokio::test]
async fn batch_limits_order_and_dependencies() {
    let w = World::new().await;
    let calendars = format!("/users/{MAILBOX}/calendars");
    let many: Vec<Value> = (0..21)
        .map(|i| batch_get(&i.to_string(), &calendars))
        .collect();
    let got = w.post("/$batch", json!({"requests": many})).await;
    assert_eq!(got.status, 400);
    assert_eq!(
        got.body["error"]["message"],
        "Number of requests inside batch exceed the limit"
    );

    let no_type = json!({"requests": [{"id": "1", "method": "POST", "url": w.events_path(), "body": {"subject": "x"}}]});
    let got = w.post("/$batch", no_type).await;
    assert_eq!(got.status, 400);
    assert!(
        got.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Content-Type")
    );
    let dup = json!({"requests": [batch_get("1", &calendars), batch_get("1", &calendars)]});
    assert_eq!(w.post("/$batch", dup).await.status, 400);
    let missing = json!({"requests": [{"id": "1", "url": calendars}]});
    assert_eq!(w.post("/$batch", missing).await.status, 400);

    w.fake.clear_requests();
    let reqs: Vec<Value> = (0..12)
        .map(|i| batch_get(&i.to_string(), &calendars))
        .collect();
    let got = w.post("/$batch", json!({"requests": reqs})).await;
    assert_eq!(got.status, 200);
    let ids: Vec<String> = got.body["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    let sorted: Vec<String> = (0..12).map(|i| i.to_string()).collect();
    assert_eq!(
        ids.iter().collect::<HashSet<_>>(),
        sorted.iter().collect::<HashSet<_>>()
    );
    assert_ne!(ids, sorted, "responses come back shuffled");
    let recorded = w.fake.requests();
    assert_eq!(recorded.len(), 13);
    assert_eq!(
        (recorded[0].path.as_str(), recorded[0].in_batch),
        ("/$batch", false)
    );
    assert!(
        recorded[1..]
            .iter()
            .all(|r| r.in_batch && r.path == calendars && r.status == 200)
    );
    assert!(
        recorded[1..]
            .iter()
            .all(|r| r.authorization == recorded[0].authorization)
    );

    // A failed dependency gives 424; the batch is still 200.
    let event = timed(
        "Batched",
        "2030-10-01T10:00:00",
        "2030-10-01T11:00:00",
        "UTC",
    );
    let got = w
        .post(
            "/$batch",
            json!({"requests": [
                {"id": "a", "method": "GET", "url": format!("/users/{MAILBOX}/events/AAMkAGVtaXNzaW5nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==")},
                {"id": "b", "method": "POST", "url": w.events_path(), "dependsOn": ["a"],
                 "headers": {"Content-Type": "application/json"}, "body": event},
                {"id": "c", "method": "POST", "url": w.events_path(),
                 "headers": {"Content-Type": "application/json"}, "body": event},
            ]}),
        )
        .await;
    assert_eq!(got.status, 200);
    let status = |id: &str| {
        got.body["responses"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .map(|r| r["status"].as_u64().unwrap())
            .unwrap()
    };
    assert_eq!((status("a"), status("b"), status("c")), (404, 424, 201));
    assert_eq!(w.fake.events(MAILBOX, &w.calendar).len(), 1);
    assert_eq!(w.fake.writes_applied(), 1);
}

#[tokio::test]
async fn batch_inner_requests_are_throttled_individually() {
    let w = World::new().await;
    w.fake.set_faults(Faults {
        throttle_fraction: 1.0,
        retry_after_secs: 7,
        ..Faults::default()
    });
    let calendars = format!("/users/{MAILBOX}/calendars");
    let got = w
        .post(
            "/$batch",
            json!({"requests": [batch_get("1", &calendars), batch_get("2", &calendars)]}),
        )
        .await;
    assert_eq!(got.status, 200);
    for r in got.body["responses"].as_array().unwrap() {
        assert_eq!(r["status"], 429);
        assert_eq!(r["headers"]["Retry-After"], "7");
        assert_eq!(r["body"]["error"]["code"], "TooManyRequests");
    }
}

#[tokio::test]
async fn latency_model_holds_slots_and_refuses_a_fifth_operation() {
    let w = World::new().await;
    w.fake.set_faults(Faults::graph_like(20));
    let calendars = format!("/users/{MAILBOX}/calendars");
    let batch = |n: usize| json!({"requests": (0..n).map(|i| batch_get(&i.to_string(), &calendars)).collect::<Vec<_>>()});
    // One batch of 20 runs 4 at a time: never over the mailbox's limit.
    let got = w.post("/$batch", batch(20)).await;
    let statuses = |a: &Answer| -> Vec<u64> {
        a.body["responses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["status"].as_u64().unwrap())
            .collect()
    };
    assert!(
        statuses(&got).iter().all(|s| *s == 200),
        "{:?}",
        statuses(&got)
    );
    let t = w.fake.throttling();
    assert_eq!(
        (t.over_concurrency, t.over_rate, t.peak_in_flight),
        (0, 0, 4)
    );

    // Two at once would run 8: Outlook refuses what is over 4.
    let (a, b) = tokio::join!(w.post("/$batch", batch(20)), w.post("/$batch", batch(20)));
    let refused = statuses(&a)
        .into_iter()
        .chain(statuses(&b))
        .filter(|s| *s == 429)
        .count();
    assert!(refused > 0);
    let t = w.fake.throttling();
    assert_eq!(t.over_concurrency, refused);
    assert!(t.peak_in_flight > 4);

    // The rate limit counts admitted operations only.
    w.fake.set_faults(Faults {
        rate_limit: Some((3, Duration::from_secs(30))),
        ..Faults::graph_like(20)
    });
    let got = w.post("/$batch", batch(5)).await;
    let mut s = statuses(&got);
    s.sort_unstable();
    assert_eq!(s, [200, 200, 200, 429, 429]);
    assert_eq!(w.fake.throttling().over_rate, 2);
}

#[tokio::test]
async fn peak_outstanding_counts_a_batch_as_at_most_four() {
    let w = World::new().await;
    let other = "other@contoso.example";
    w.fake.add_mailbox(other);
    let slow = || Faults {
        latency: Duration::from_millis(150),
        ..Faults::default()
    };
    let calendars = format!("/users/{MAILBOX}/calendars");
    let batch = |n: usize| json!({"requests": (0..n).map(|i| batch_get(&i.to_string(), &calendars)).collect::<Vec<_>>()});

    // One batch of 5 holds 4, whatever its size.
    w.fake.set_faults(slow());
    w.post("/$batch", batch(5)).await;
    let t = w.fake.throttling();
    assert_eq!((t.peak_outstanding, t.peak_in_flight), (4, 4), "{t:?}");

    // A batch of 2 and two requests at once: 4.
    w.fake.set_faults(slow());
    tokio::join!(
        w.post("/$batch", batch(2)),
        w.get(&calendars),
        w.get(&calendars)
    );
    assert_eq!(w.fake.throttling().peak_outstanding, 4);

    // A batch of 3 and two requests: 5, more than a client may hold.
    w.fake.set_faults(slow());
    tokio::join!(
        w.post("/$batch", batch(3)),
        w.get(&calendars),
        w.get(&calendars)
    );
    assert_eq!(w.fake.throttling().peak_outstanding, 5);

    // Counted per mailbox: 2 on one and 3 on the other.
    w.fake.set_faults(slow());
    let mixed: Vec<Value> = (0..5)
        .map(|i| {
            let upn = if i < 2 { MAILBOX } else { other };
            batch_get(&i.to_string(), &format!("/users/{upn}/calendars"))
        })
        .collect();
    let got = w.post("/$batch", json!({"requests": mixed})).await;
    assert_eq!(got.status, 200);
    assert_eq!(w.fake.throttling().peak_outstanding, 3);

    // Nothing is outstanding afterwards.
    w.fake.set_faults(Faults::default());
    w.get(&calendars).await;
    assert_eq!(w.fake.throttling().peak_outstanding, 1);
}

#[tokio::test]
async fn operation_times_vary_around_the_model() {
    let w = World::new().await;
    let spread = OperationTime::Spread {
        median: Duration::from_millis(20),
        p95: Duration::from_millis(60),
    };
    assert!(spread.mean() > Duration::from_millis(20) && spread.mean() < Duration::from_millis(30));
    w.fake.set_faults(Faults {
        model: Some(LatencyModel {
            round_trip: Duration::ZERO,
            operation: spread,
        }),
        seed: 7,
        ..Faults::default()
    });
    let path = format!("/users/{MAILBOX}/calendars");
    let mut times = Vec::new();
    for _ in 0..30 {
        let t = std::time::Instant::now();
        assert_eq!(w.get(&path).await.status, 200);
        times.push(t.elapsed());
    }
    times.sort_unstable();
    let (min, median, max) = (times[0], times[15], times[29]);
    assert!(max - min > Duration::from_millis(15), "{times:?}");
    assert!(
        median > Duration::from_millis(12) && median < Duration::from_millis(40),
        "{times:?}"
    );
    assert_eq!(
        LatencyModel::GRAPH.operation,
        OperationTime::Spread {
            median: Duration::from_millis(10),
            p95: Duration::from_millis(25)
        }
    );
    assert_eq!(Faults::graph_like(20).model, Some(LatencyModel::GRAPH));
}
