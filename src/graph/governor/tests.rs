use super::*;
use crate::graph::client::ClientOptions;
use crate::graph::test_support::client_with;
use url::Url;

fn named(id: &str) -> Mailbox {
    Mailbox::Named(id.to_owned())
}

#[test]
fn requests_count_against_the_mailbox_their_path_addresses() {
    assert_eq!(
        Mailbox::of_path("/users/Events@Contoso.example/calendars/C1/events?$top=5"),
        named("events@contoso.example")
    );
    assert_eq!(
        Mailbox::of_path("users/EVENTS%40contoso.example/events/E1"),
        named("events@contoso.example")
    );
    assert_eq!(
        Mailbox::of_path("/users('events%40contoso.example')/calendar"),
        named("events@contoso.example")
    );
    assert_eq!(Mailbox::of_path("/me/calendars"), named("me"));
    assert_eq!(Mailbox::of_path("/ME"), named("me"));
    assert_eq!(Mailbox::of_path("/organization"), Mailbox::Unnamed);
    assert_eq!(Mailbox::of_path("/users"), Mailbox::Unnamed);
    assert_eq!(Mailbox::of_path("/users/"), Mailbox::Unnamed);
    assert_eq!(Mailbox::of_path("/$batch"), Mailbox::Unnamed);

    // Absolute links (next and delta links) are read relative to the root.
    let url = Url::parse("https://graph.microsoft.com/v1.0").unwrap();
    let (c, _) = client_with(&url, ClientOptions::new(url.clone()));
    let of = |link: &str| c.mailbox_of(&Url::parse(link).unwrap());
    assert_eq!(
        of("https://graph.microsoft.com/v1.0/users/A@b.example/calendarView/delta?$deltatoken=x"),
        named("a@b.example")
    );
    assert_eq!(
        of("https://graph.microsoft.com/beta/me/events"),
        named("me")
    );
    assert_eq!(
        of("https://graph.microsoft.com/v1.0/$batch"),
        Mailbox::Unnamed
    );
}

#[test]
fn cost_of_requests_and_batches() {
    let one = Cost::single(named("a"));
    assert_eq!((one.ops(), slots(one.ops())), (1, 1));
    let small = Cost::batch([named("a"), named("a")]);
    assert_eq!(small, Cost(vec![(named("a"), 2)]));
    assert_eq!(slots(2), 2);
    let full = Cost::batch(std::iter::repeat_n(named("a"), 20));
    assert_eq!((full.ops(), slots(20)), (20, 4));
    // A batch addressing two mailboxes counts against each.
    let mixed = Cost::batch([named("a"), named("b"), named("a"), Mailbox::Unnamed]);
    assert_eq!(
        mixed.0,
        [(named("a"), 2), (named("b"), 1), (Mailbox::Unnamed, 1)]
    );
    assert_eq!(mixed.ops(), 4);
}

#[test]
fn governor_keeps_four_operations_per_mailbox_until_answered() {
    let g = Governor::new(4, None);
    let now = Instant::now();
    let mut st = g.lock();
    let a = |n| Cost::batch(std::iter::repeat_n(named("a"), n));
    g.try_take(&mut st, &a(20), now).unwrap();
    // The batch may have 4 running at any time until its answer: nothing
    // more for that mailbox, however long ago it was sent.
    let later = now + Duration::from_secs(60);
    assert_eq!(
        g.try_take(&mut st, &Cost::single(named("a")), later),
        Err(None)
    );
    assert_eq!(g.try_take(&mut st, &a(3), later), Err(None));
    // Other mailboxes have their own 4, and so do requests to none.
    g.try_take(&mut st, &Cost::batch([named("b"), named("b")]), now)
        .unwrap();
    g.try_take(&mut st, &Cost::single(named("b")), now).unwrap();
    g.try_take(&mut st, &Cost::single(named("b")), now).unwrap();
    assert_eq!(
        g.try_take(&mut st, &Cost::single(named("b")), now),
        Err(None)
    );
    for _ in 0..4 {
        g.try_take(&mut st, &Cost::single(Mailbox::Unnamed), now)
            .unwrap();
    }
    assert_eq!(
        g.try_take(&mut st, &Cost::single(Mailbox::Unnamed), now),
        Err(None)
    );
    // A batch to c and b takes nothing while b is full, then both.
    let mixed = Cost::batch([named("c"), named("c"), named("b")]);
    assert_eq!(g.try_take(&mut st, &mixed, now), Err(None));
    assert_eq!(st.get(&named("c")).map_or(0, |m| m.in_flight), 0);
    st.get_mut(&named("b")).unwrap().in_flight -= 1;
    g.try_take(&mut st, &mixed, now).unwrap();
    assert_eq!(st[&named("c")].in_flight, 2);
    assert_eq!(st[&named("b")].in_flight, 4);
}

#[tokio::test]
async fn a_lease_holds_its_slots_until_dropped() {
    let g = Arc::new(Governor::new(4, None));
    let batch = g
        .acquire(&Cost::batch(std::iter::repeat_n(named("a"), 20)))
        .await;
    let one = Cost::single(named("a"));
    let waiter = g.acquire(&one);
    tokio::pin!(waiter);
    assert!(
        tokio::time::timeout(Duration::from_millis(50), waiter.as_mut())
            .await
            .is_err()
    );
    // Another mailbox is not held up.
    let other = g.acquire(&Cost::single(named("b"))).await;
    drop(batch);
    let single = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .unwrap();
    assert_eq!(g.lock()[&named("a")].in_flight, 1);
    drop((single, other));
    assert!(g.lock().values().all(|m| m.in_flight == 0));
}

#[test]
fn governor_counts_operations_against_each_mailbox_rate_window() {
    let window = Duration::from_secs(10);
    let g = Governor::new(100, Some((10, window)));
    let t0 = Instant::now();
    let mut st = g.lock();
    let a = |n| Cost::batch(std::iter::repeat_n(named("a"), n));
    g.try_take(&mut st, &a(4), t0).unwrap();
    let t1 = t0 + Duration::from_secs(1);
    g.try_take(&mut st, &a(4), t1).unwrap();
    // 8 sent; 4 more would make 12 of 10: wait until the first 4 have
    // left the window (lengthened by a second for Graph's later count).
    let later = g.try_take(&mut st, &a(4), t1).unwrap_err().unwrap();
    assert_eq!(later, t0 + window + Duration::from_secs(1));
    // Another mailbox has a window of its own.
    g.try_take(
        &mut st,
        &Cost::batch(std::iter::repeat_n(named("b"), 10)),
        t1,
    )
    .unwrap();
    g.try_take(&mut st, &a(2), t1).unwrap();
    g.try_take(&mut st, &a(4), later).unwrap();
}

#[tokio::test]
async fn retry_after_pauses_its_mailbox_and_the_waiters_wake() {
    let g = Arc::new(Governor::new(4, None));
    g.back_off([&named("a")], Duration::from_millis(200));
    {
        let mut st = g.lock();
        let now = Instant::now();
        assert!(matches!(
            g.try_take(&mut st, &Cost::single(named("a")), now),
            Err(Some(_))
        ));
        // Graph asked only that mailbox to wait.
        g.try_take(&mut st, &Cost::single(named("b")), now).unwrap();
    }
    let started = Instant::now();
    let lease = g.acquire(&Cost::single(named("a"))).await;
    assert!(started.elapsed() >= Duration::from_millis(150));
    drop(lease);
}
