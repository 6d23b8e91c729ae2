//! Writes against a fake with Graph's latency and limits: the sync keeps the
//! mailbox within 4 operations in flight and under its rate limit, so Graph
//! never has to refuse anything, and the copy is complete.

use crate::common::{Run, World, public_event, secret_event};
use fakegraph::Faults;
use std::collections::HashSet;

/// Seeds `public` public events and a fifth as many private ones.
fn seed(w: &World, public: usize) {
    for i in 0..public {
        let i = i64::try_from(i).expect("small");
        w.add_source(public_event(
            &format!("Event {i:04}"),
            1 + i / 10,
            8 + i % 10,
        ));
    }
    for i in 0..public / 5 {
        let i = i64::try_from(i).expect("small");
        w.add_source(secret_event("private", 1 + i / 10, 19));
    }
}

fn assert_nothing_refused(w: &World) {
    let refused: Vec<String> = w
        .fake
        .requests()
        .iter()
        .filter(|r| r.status == 429)
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(refused.is_empty(), "Graph refused {refused:?}");
    let t = w.fake.throttling();
    assert_eq!((t.over_concurrency, t.over_rate), (0, 0), "{t:?}");
    assert!(t.peak_in_flight <= 4, "{t:?}");
    // What calsync held: a batch counts min(4, its size) from sending to
    // its answer.
    assert!(t.peak_outstanding <= 4, "{t:?}");
}

#[test]
fn first_sync_keeps_within_the_mailbox_concurrency_limit() {
    let w = World::new();
    seed(&w, 300);
    w.fake.set_faults(Faults::graph_like(20));
    let run = w.run(&["sync", "--json"]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(run.json()["counts"]["created"], 300);
    assert_nothing_refused(&w);
    let t = w.fake.throttling();
    // The batches kept the mailbox busy with 4 at a time.
    assert_eq!(t.peak_in_flight, 4, "{t:?}");
    assert_eq!(t.peak_outstanding, 4, "{t:?}");
    let keys: HashSet<String> = w.managed().into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys.len(), 300);
    assert_eq!(w.target_events().len(), 300);
}

#[test]
fn sync_waits_for_the_rate_limit_instead_of_being_refused() {
    let w = World::new();
    seed(&w, 150);
    // 60 operations per second: the 150 creates need three windows.
    w.fake.set_faults(Faults {
        rate_limit: Some((60, std::time::Duration::from_secs(1))),
        ..Faults::graph_like(20)
    });
    let run = w
        .command(&["sync", "--json"])
        .env("CALSYNC_GRAPH_RATE_LIMIT", "60/1")
        .output()
        .expect("the calsync binary runs");
    let run = Run::from(run);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(run.json()["counts"]["created"], 150);
    assert_nothing_refused(&w);
    assert_eq!(w.managed().len(), 150);
    let writes = w
        .fake
        .requests()
        .iter()
        .filter(|r| r.in_batch && r.method == "POST")
        .count();
    assert_eq!(writes, 150, "each event created once");
    assert_eq!(w.fake.writes_applied(), 150);
}

/// `pairs` pairs, each from its own calendar of the world's mailbox into its
/// own public calendar of one other mailbox, with `events` public events
/// each. Returns the config file.
fn pairs_into_one_mailbox(w: &World, pairs: usize, events: usize) -> String {
    const PUBLIC: &str = "public@contoso.example";
    w.fake.add_mailbox(PUBLIC);
    let mut config = String::new();
    for p in 0..pairs {
        let source = w
            .fake
            .add_calendar(crate::common::MAILBOX, &format!("Team {p}"));
        w.fake.add_calendar(PUBLIC, &format!("Team {p} (public)"));
        for i in 0..events {
            let i = i64::try_from(i).expect("small");
            w.fake.insert_event(
                crate::common::MAILBOX,
                &source,
                public_event(&format!("Team {p} event {i:03}"), 1 + i / 10, 8 + i % 10),
            );
        }
        config.push_str(&format!(
            "[[pair]]\nname = \"team-{p}\"\nsource_calendar = \"Team {p}\"\n\
             target_mailbox = \"{PUBLIC}\"\ntarget_calendar = \"Team {p} (public)\"\n\n"
        ));
    }
    w.config_file(&config).display().to_string()
}

#[test]
fn pairs_writing_one_mailbox_share_its_four_slots() {
    let w = World::new();
    let config = pairs_into_one_mailbox(&w, 6, 50);
    w.fake.set_faults(Faults::graph_like(20));
    let run = w.run(&["--config", &config, "sync", "--json"]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(run.json()["counts"]["created"], 300, "{run}");
    // Six pairs, each of which alone would keep 4 operations in flight,
    // kept the one mailbox they write at 4 together.
    assert_nothing_refused(&w);
    assert_eq!(w.fake.throttling().peak_outstanding, 4);
    // Each mailbox's calendars were listed once for all the pairs that
    // look a calendar up in it.
    let listings = |mailbox: &str| {
        w.fake
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path.ends_with(&format!("{mailbox}/calendars")))
            .count()
    };
    assert_eq!(listings("public@contoso.example"), 1);
    assert_eq!(listings(crate::common::MAILBOX), 1);
}

#[test]
fn pairs_writing_one_mailbox_share_its_rate_limit() {
    let w = World::new();
    let config = pairs_into_one_mailbox(&w, 3, 40);
    // 60 operations per second for the mailbox, whichever pair sends them.
    w.fake.set_faults(Faults {
        rate_limit: Some((60, std::time::Duration::from_secs(1))),
        ..Faults::graph_like(20)
    });
    let run = w
        .command(&["--config", &config, "sync", "--json"])
        .env("CALSYNC_GRAPH_RATE_LIMIT", "60/1")
        .output()
        .expect("the calsync binary runs");
    let run = Run::from(run);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(run.json()["counts"]["created"], 120, "{run}");
    assert_nothing_refused(&w);
}
