//! Incremental syncs: the source read through calendarView delta, the target
//! known from the state the previous run left, and the full reconciliation
//! that repairs what that cannot see.

use crate::common::*;
use fakegraph::{Faults, RecordedRequest};
use serde_json::{Value, json};
use std::collections::HashSet;

/// HTTP requests of a run to Graph (a `$batch` counts once). The one token
/// request of every app-only run is left out: an app-only access token is
/// never kept between runs ([`each_app_only_run_asks_for_one_token_and_keeps_it_nowhere`]).
fn http_requests(w: &World) -> Vec<RecordedRequest> {
    w.fake
        .requests()
        .into_iter()
        .filter(|r| !r.in_batch && !r.path.contains("/oauth2/"))
        .collect()
}

/// The token requests among the fake's requests.
fn token_requests(w: &World) -> usize {
    w.fake
        .requests()
        .iter()
        .filter(|r| r.path.contains("/oauth2/"))
        .count()
}

fn describe(requests: &[RecordedRequest]) -> String {
    requests
        .iter()
        .map(|r| format!("{} {}?{}", r.method, r.path, r.query))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs `sync` alone and returns its HTTP requests.
fn counted_sync(w: &World) -> (Run, Vec<RecordedRequest>) {
    w.fake.clear_requests();
    let run = w.run(&["sync", "--json"]);
    assert_eq!(run.code, 0, "{run}");
    (run, http_requests(w))
}

fn copy_id(w: &World, subject: &str) -> String {
    w.managed()
        .into_iter()
        .find(|(_, e)| e["subject"] == subject)
        .and_then(|(_, e)| e["id"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no copy of {subject}"))
}

fn assert_no_duplicates(w: &World) {
    let managed = w.managed();
    let keys: HashSet<&String> = managed.iter().map(|(k, _)| k).collect();
    assert_eq!(keys.len(), managed.len(), "duplicate copies in the target");
}

#[test]
fn unchanged_runs_cost_two_requests_and_changes_arrive_by_delta() {
    let w = World::new();
    let mut ids = Vec::new();
    for i in 0..60 {
        ids.push(w.add_source(public_event(&format!("Event {i:02}"), 1 + i / 3, 8 + i % 3)));
    }
    for (i, s) in ["private", "confidential"].iter().enumerate() {
        w.add_source(secret_event(s, 2 + i as i64, 15));
    }
    let first = w.run(&["sync", "--json"]);
    assert_eq!(first.code, 0, "{first}");
    assert_eq!(first.json()["mode"], "full");
    assert_eq!(w.managed().len(), 60);

    // Unchanged: no token request, no calendar lookup, no target read, no
    // write; one delta request per piece of the five-year window.
    for _ in 0..2 {
        let writes = w.fake.writes_applied();
        let (run, requests) = counted_sync(&w);
        assert_eq!(run.json()["mode"], "incremental", "{run}");
        assert!(
            requests.len() <= 2,
            "an unchanged run made {} requests:\n{}",
            requests.len(),
            describe(&requests)
        );
        assert!(
            requests
                .iter()
                .all(|r| r.path.ends_with("/calendarView/delta")),
            "{}",
            describe(&requests)
        );
        assert_eq!(w.fake.writes_applied(), writes, "an unchanged run wrote");
        assert_eq!(run.json()["counts"]["skipped_non_public"], 2);
        // The settled state keeps why they were skipped.
        assert_eq!(
            run.json()["counts"]["skipped"],
            json!({"private": 1, "confidential": 1})
        );
    }

    // k changes: updates, deletions and creations, all by delta.
    let talk_copy = copy_id(&w, "Event 00");
    w.fake
        .update_event(MAILBOX, &ids[0], json!({"subject": "Event 00 (moved)"}));
    w.fake.update_event(
        MAILBOX,
        &ids[1],
        json!({"sensitivity": "private", "subject": format!("{CANARY} now private")}),
    );
    w.fake.delete_event(MAILBOX, &ids[2]);
    w.add_source(public_event("New talk", 30, 9));
    w.add_source(public_event("New fair", 31, 9));
    let k: usize = 5;
    let (run, requests) = counted_sync(&w);
    let doc = run.json();
    assert!(
        requests.len() <= 3 + k.div_ceil(20),
        "a run after {k} changes made {} requests:\n{}",
        requests.len(),
        describe(&requests)
    );
    assert_eq!(doc["counts"]["created"], 2, "{run}");
    assert_eq!(doc["counts"]["updated"], 1, "{run}");
    assert_eq!(doc["counts"]["deleted"], 2, "{run}");
    let subjects = w.target_subjects();
    assert!(subjects.contains(&"Event 00 (moved)".to_string()));
    assert!(subjects.contains(&"New talk".to_string()));
    assert!(subjects.contains(&"New fair".to_string()));
    assert!(!subjects.contains(&"Event 01".to_string()));
    assert!(!subjects.contains(&"Event 02".to_string()));
    assert_eq!(w.managed().len(), 60 - 2 + 2);
    assert_eq!(
        copy_id(&w, "Event 00 (moved)"),
        talk_copy,
        "updated in place"
    );
    Exposed::new()
        .target(&w)
        .run("the run after 5 changes", &run)
        .assert_free_of(&[CANARY]);

    // 1% of a larger change set: 25 updates.
    for id in &ids[10..35] {
        w.fake
            .update_event(MAILBOX, id, json!({"showAs": "tentative"}));
    }
    let (run, requests) = counted_sync(&w);
    assert_eq!(run.json()["counts"]["updated"], 25, "{run}");
    assert!(
        requests.len() <= 3 + 25usize.div_ceil(20),
        "a run after 25 changes made {} requests:\n{}",
        requests.len(),
        describe(&requests)
    );
    assert_eq!(validate_code(&w), 0);
}

fn validate_code(w: &World) -> i32 {
    let run = w.run(&["validate"]);
    assert!(run.code == 0 || run.code == 4, "{run}");
    run.code
}

/// An unchanged run of a settled state leaves the snapshot (megabytes on a
/// large calendar) alone, and a run that changes something brings it up to
/// date; either way the next run plans from the right picture.
#[test]
fn unchanged_runs_rewrite_only_the_small_state_file() {
    let w = World::new();
    let a = w.add_source(public_event("Open day", 3, 10));
    w.add_source(public_event("Fair", 4, 10));
    w.add_source(secret_event("private", 5, 9));
    w.sync();
    let snapshot = w.state_dir().join("sync-snapshot.json");
    let head = w.state_dir().join("sync-state.json");
    let before = std::fs::read(&snapshot).unwrap();
    let head_before = std::fs::read(&head).unwrap();
    let (run, _) = counted_sync(&w);
    let doc = run.json();
    assert_eq!(doc["counts"]["unchanged"], 2, "{run}");
    assert_eq!(doc["counts"]["skipped_non_public"], 1, "{run}");
    assert_eq!(std::fs::read(&snapshot).unwrap(), before);
    assert_ne!(
        std::fs::read(&head).unwrap(),
        head_before,
        "the new delta links were not saved"
    );

    // A change: the snapshot follows, and the next unchanged run is quiet
    // again with the new counts.
    w.fake
        .update_event(MAILBOX, &a, json!({"subject": "Open day (new title)"}));
    let (run, _) = counted_sync(&w);
    assert_eq!(run.json()["counts"]["updated"], 1, "{run}");
    assert_eq!(run.json()["counts"]["skipped"], json!({"private": 1}));
    assert_ne!(std::fs::read(&snapshot).unwrap(), before);
    let after_change = std::fs::read(&snapshot).unwrap();
    let (run, requests) = counted_sync(&w);
    assert_eq!(run.json()["counts"]["unchanged"], 2, "{run}");
    assert_eq!(run.json()["counts"]["skipped"], json!({"private": 1}));
    // The text summary of such a run says why, too.
    let text = w.run(&["sync"]);
    assert!(
        text.stdout
            .starts_with("Created 0, updated 0, deleted 0, 2 unchanged, 1 skipped (1 private);"),
        "{text}"
    );
    assert!(requests.len() <= 2, "{}", describe(&requests));
    assert_eq!(std::fs::read(&snapshot).unwrap(), after_change);

    // A copy deleted by hand is not seen by unchanged runs, but `--full`
    // repairs it and the state settles again.
    w.fake.delete_event(MAILBOX, &copy_id(&w, "Fair"));
    let full = w.run(&["sync", "--full", "--json"]);
    assert_eq!(full.json()["counts"]["created"], 1, "{full}");
    let (run, _) = counted_sync(&w);
    assert_eq!(run.json()["counts"]["unchanged"], 2, "{run}");
    assert_eq!(w.target_subjects(), ["Fair", "Open day (new title)"]);
}

/// A state whose last plan withheld deletions (the source read as empty) is
/// not settled: every run plans again and says so, until the source has
/// events again.
#[test]
fn withheld_deletions_are_reported_on_every_run() {
    let w = World::new();
    let a = w.add_source(public_event("Open day", 3, 10));
    w.sync();
    w.fake.delete_event(MAILBOX, &a);
    for _ in 0..2 {
        let run = w.run(&["sync", "--json"]);
        assert_eq!(run.code, 0, "{run}");
        assert_eq!(run.json()["deletions_withheld"], 1, "{run}");
        assert_eq!(w.managed().len(), 1);
    }
}

#[test]
fn recurring_series_changes_and_reissued_ids_arrive_by_delta() {
    let w = World::new();
    let first = day(1) + chrono::Duration::hours(17);
    let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let series = w.add_source(json!({
        "subject": "Choir", "sensitivity": "normal",
        "start": {"dateTime": fmt(first), "timeZone": "UTC"},
        "end": {"dateTime": fmt(first + chrono::Duration::hours(2)), "timeZone": "UTC"},
        "recurrence": {
            "pattern": {"type": "daily", "interval": 7},
            "range": {"type": "numbered", "startDate": date(1).format("%Y-%m-%d").to_string(), "numberOfOccurrences": 4}
        }
    }));
    w.sync();
    assert_eq!(w.managed().len(), 4);
    // Graph re-issues every occurrence id: the copies stay as they are.
    let writes = w.fake.writes_applied();
    w.fake.reissue_occurrence_ids();
    w.sync();
    assert_eq!(
        w.fake.writes_applied(),
        writes,
        "re-issued ids caused writes"
    );
    // One occurrence is cancelled, another moved.
    w.fake
        .cancel_occurrence(MAILBOX, &series, first + chrono::Duration::days(21));
    w.fake.modify_occurrence(
        MAILBOX,
        &series,
        first + chrono::Duration::days(7),
        json!({"subject": "Choir (moved)",
               "start": {"dateTime": fmt(first + chrono::Duration::days(8)), "timeZone": "UTC"},
               "end": {"dateTime": fmt(first + chrono::Duration::days(8) + chrono::Duration::hours(2)), "timeZone": "UTC"}}),
    );
    let (run, _) = counted_sync(&w);
    assert_eq!(run.json()["mode"], "incremental");
    assert_eq!(w.target_subjects(), ["Choir", "Choir", "Choir (moved)"]);
    assert_no_duplicates(&w);
    assert_eq!(validate_code(&w), 0);
}

#[test]
fn an_expired_delta_token_falls_back_to_a_full_read() {
    let w = World::new();
    let a = w.add_source(public_event("Stays", 2, 10));
    let b = w.add_source(public_event("Goes", 3, 10));
    w.sync();
    w.fake.invalidate_delta_tokens();
    w.fake.delete_event(MAILBOX, &b);
    w.fake
        .update_event(MAILBOX, &a, json!({"subject": "Stays (renamed)"}));
    w.add_source(public_event("Arrives", 4, 10));
    let run = w.run(&["-v", "sync", "--json"]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(run.json()["mode"], "full");
    assert!(
        run.stderr.contains("falling back to a full read"),
        "the fallback was not logged at info:\n{run}"
    );
    assert_eq!(w.target_subjects(), ["Arrives", "Stays (renamed)"]);
    // The fallback saved fresh cursors: the next run is cheap again.
    let (run, requests) = counted_sync(&w);
    assert_eq!(run.json()["mode"], "incremental");
    assert!(requests.len() <= 2, "{}", describe(&requests));
}

#[test]
fn the_window_moving_by_a_day_creates_entering_events_and_keeps_past_ones() {
    let w = World::new();
    let two_days_ago = date(-2).format("%Y-%m-%d").to_string();
    // In the window of two days ago, in the past today.
    w.add_source(public_event("Yesterday's talk", -1, 10));
    // Beyond the window of two days ago; inside today's.
    w.add_source(public_event("Far future", 1824, 10));
    w.add_source(public_event("Next week", 7, 10));
    let mut cmd = w.command(&["sync"]);
    cmd.env("CALSYNC_TODAY", &two_days_ago);
    let then = Run::from(cmd.output().unwrap());
    assert_eq!(then.code, 0, "{then}");
    assert_eq!(w.target_subjects(), ["Next week", "Yesterday's talk"]);

    let (run, requests) = counted_sync(&w);
    let doc = run.json();
    assert_eq!(doc["mode"], "incremental", "{run}");
    assert_eq!(doc["counts"]["created"], 1, "{run}");
    assert_eq!(doc["counts"]["deleted"], 0, "{run}");
    assert_eq!(
        w.target_subjects(),
        ["Far future", "Next week", "Yesterday's talk"]
    );
    // The source was read afresh for the new window; the target was not read.
    assert!(
        !requests
            .iter()
            .any(|r| r.method == "GET" && r.path.ends_with("/events")),
        "{}",
        describe(&requests)
    );
    // And the day after that is incremental again.
    let (run, requests) = counted_sync(&w);
    assert_eq!(run.json()["counts"]["created"], 0);
    assert!(requests.len() <= 2, "{}", describe(&requests));
    assert_eq!(validate_code(&w), 0);
}

#[test]
fn a_run_killed_while_writing_converges_on_the_next_run() {
    let w = World::new();
    for i in 0..5 {
        w.add_source(public_event(&format!("Old {i}"), 1 + i, 8));
    }
    w.sync();
    for i in 0..80 {
        w.add_source(public_event(&format!("New {i:02}"), 10 + i / 8, 8 + i % 8));
    }
    let before = w.fake.writes_applied();
    w.fake.set_faults(Faults {
        latency: std::time::Duration::from_millis(150),
        ..Faults::default()
    });
    let mut child = w.command(&["sync"]).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while w.fake.writes_applied() == before {
        assert!(std::time::Instant::now() < deadline, "no write started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    let _ = child.wait();
    assert!(
        w.managed().len() < 85,
        "the run finished before it was killed"
    );
    w.fake.set_faults(Faults::default());
    w.sync();
    assert_eq!(w.managed().len(), 85);
    assert_no_duplicates(&w);
    let writes = w.fake.writes_applied();
    let (_, requests) = counted_sync(&w);
    assert_eq!(w.fake.writes_applied(), writes);
    assert!(requests.len() <= 2, "{}", describe(&requests));
}

#[test]
fn writes_done_but_state_not_saved_converges_without_duplicates() {
    let w = World::new();
    let a = w.add_source(public_event("Updated", 2, 10));
    let b = w.add_source(public_event("Deleted", 3, 10));
    w.sync();
    // The run below writes, then its state is lost, as if it had stopped
    // just before saving: the next run sees the same changes again.
    let files = ["sync-state.json", "sync-snapshot.json"];
    let saved: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(w.state_dir().join(f)).unwrap())
        .collect();
    w.fake
        .update_event(MAILBOX, &a, json!({"subject": "Updated (new title)"}));
    w.fake.delete_event(MAILBOX, &b);
    for i in 0..3 {
        w.add_source(public_event(&format!("Created {i}"), 4 + i, 10));
    }
    w.sync();
    for (f, bytes) in files.iter().zip(&saved) {
        std::fs::write(w.state_dir().join(f), bytes).unwrap();
    }
    // What such a run leaves: the old state, marked before the first write
    // as not to be trusted. Creates carry a transactionId of their own run
    // only, so it is that mark that makes the next run find the copies
    // already made (by their marker) instead of making them again.
    let head_path = w.state_dir().join("sync-state.json");
    let mut head: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&head_path).unwrap()).unwrap();
    head["target_trusted"] = json!(false);
    std::fs::write(&head_path, serde_json::to_vec(&head).unwrap()).unwrap();
    let run = w.sync();
    assert_eq!(
        w.target_subjects(),
        ["Created 0", "Created 1", "Created 2", "Updated (new title)"],
        "{run}"
    );
    assert_no_duplicates(&w);
    assert_eq!(validate_code(&w), 0);
}

#[test]
fn drift_in_the_target_is_repaired_by_the_full_reconciliation() {
    let w = World::new();
    for s in ["Concert", "Fair", "Talk"] {
        w.add_source(public_event(s, 3, 10));
    }
    w.sync();
    w.fake.delete_event(MAILBOX, &copy_id(&w, "Concert"));
    w.fake.update_event(
        MAILBOX,
        &copy_id(&w, "Fair"),
        json!({"subject": "Fair (edited by hand)"}),
    );
    // An incremental run reads only the source's changes: it does not see this.
    let (run, _) = counted_sync(&w);
    assert_eq!(run.json()["mode"], "incremental");
    assert_eq!(w.target_subjects(), ["Fair (edited by hand)", "Talk"]);
    // --full reconciles both calendars.
    let full = w.run(&["sync", "--full", "--json"]);
    assert_eq!(full.code, 0, "{full}");
    assert_eq!(full.json()["mode"], "full");
    assert_eq!(w.target_subjects(), ["Concert", "Fair", "Talk"]);

    // So does a run whose last full reconciliation is older than
    // full_sync_interval.
    w.fake.delete_event(MAILBOX, &copy_id(&w, "Talk"));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let mut cmd = w.command(&["sync", "--json"]);
    cmd.env("CALSYNC_FULL_SYNC_INTERVAL", "1s");
    let aged = Run::from(cmd.output().unwrap());
    assert_eq!(aged.code, 0, "{aged}");
    assert_eq!(aged.json()["mode"], "full");
    assert_eq!(w.target_subjects(), ["Concert", "Fair", "Talk"]);
}

/// Copies edited or deleted by hand: `validate` finds them (exit 4), and its
/// advice is what happens: the next sync reads both calendars in full and
/// repairs them, after which validate is clean and runs are incremental
/// again. A dry run in between shows the repair and leaves the request.
#[test]
fn validate_problems_make_the_next_sync_repair_them() {
    let w = World::new();
    for s in ["Concert", "Fair", "Talk"] {
        w.add_source(public_event(s, 3, 10));
    }
    w.sync();
    let (run, _) = counted_sync(&w);
    assert_eq!(run.json()["mode"], "incremental");
    w.fake.delete_event(MAILBOX, &copy_id(&w, "Concert"));
    w.fake.update_event(
        MAILBOX,
        &copy_id(&w, "Fair"),
        json!({"subject": "Fair (edited by hand)"}),
    );
    let request = w.state_dir().join("full-sync-request.json");

    let check = w.run(&["validate"]);
    assert_eq!(check.code, 4, "{check}");
    assert!(check.stdout.contains("1 missing, 1 stale"), "{check}");
    assert!(
        check.stderr.contains("The next `calsync sync`")
            && check.stderr.contains("reads both calendars in full"),
        "{check}"
    );
    assert!(request.exists(), "validate asked for no repair");
    let asked = std::fs::read_to_string(&request).unwrap();
    assert!(
        !asked.contains("Fair"),
        "the request names an event: {asked}"
    );

    let dry = w.run(&["sync", "--dry-run", "--json"]);
    assert_eq!(dry.code, 0, "{dry}");
    assert_eq!(dry.json()["mode"], "full", "{dry}");
    assert_eq!(dry.json()["counts"]["created"], 1, "{dry}");
    assert_eq!(dry.json()["counts"]["updated"], 1, "{dry}");
    assert!(request.exists(), "a dry run took the request");

    let repair = w.run(&["-q", "sync", "--json"]);
    assert_eq!(repair.code, 0, "{repair}");
    assert_eq!(repair.json()["mode"], "full", "{repair}");
    assert_eq!(w.target_subjects(), ["Concert", "Fair", "Talk"]);
    assert!(!request.exists(), "the repair left the request");
    assert_no_duplicates(&w);
    assert_eq!(validate_code(&w), 0);
    let (after, requests) = counted_sync(&w);
    assert_eq!(after.json()["mode"], "incremental", "{after}");
    assert!(requests.len() <= 2, "{}", describe(&requests));
}

#[test]
fn failed_writes_are_retried_by_the_next_run() {
    let w = World::new();
    let talk = w.add_source(public_event("Talk", 2, 10));
    w.sync();
    let copy = copy_id(&w, "Talk");
    w.fake
        .update_event(MAILBOX, &talk, json!({"subject": "Talk (new time)"}));
    w.fake.set_faults(Faults {
        fail_path: Some((copy, 400, 100)),
        ..Faults::default()
    });
    assert_eq!(w.run(&["sync"]).code, 5);
    w.fake.set_faults(Faults::default());
    w.sync();
    assert_eq!(w.target_subjects(), ["Talk (new time)"]);
    let (run, _) = counted_sync(&w);
    assert_eq!(run.json()["counts"]["updated"], 0);
}

#[test]
fn the_state_dir_holds_nothing_of_private_events() {
    let w = World::new();
    w.add_source(public_event("Open day", 3, 10));
    let private = w.add_source(secret_event("private", 4, 9));
    w.add_source(secret_event("confidential", 5, 9));
    let config = w.config_file("[copy]\nbody = true\nlocation = true\n");
    let cfg = config.to_str().unwrap();
    let first = w.run(&["--config", cfg, "sync"]);
    assert_eq!(first.code, 0, "{first}");
    // A change to a private event arrives by delta in full; none of it is kept.
    w.fake.update_event(
        MAILBOX,
        &private,
        json!({"subject": format!("{CANARY} rescheduled"), "body": {"contentType": "text", "content": format!("{CANARY} new body")}}),
    );
    let second = w.run(&["--config", cfg, "sync"]);
    assert_eq!(second.code, 0, "{second}");
    let dry = w.run(&["--config", cfg, "sync", "--dry-run"]);
    assert_eq!(dry.code, 0, "{dry}");
    let state = state_files_but_tokens(&w.state_dir());
    assert!(
        state.contains("Open day"),
        "the state holds no public event"
    );
    // Copied fields of public events may be kept (they are published anyway).
    assert!(state.contains("Agenda for Open day"));
    Exposed::new()
        .target(&w)
        .text("the state dir (but tokens.json)", state.as_str())
        .run("the first sync", &first)
        .run("the second sync", &second)
        .run("the dry run", &dry)
        .assert_free_of(&[CANARY]);
    assert!(!state.contains("ceo@contoso.example"));
}

#[test]
fn a_dry_run_leaves_the_incremental_state_alone() {
    let w = World::new();
    w.add_source(public_event("Open day", 3, 10));
    w.sync();
    let read_state = || {
        ["sync-state.json", "sync-snapshot.json"]
            .map(|f| std::fs::read(w.state_dir().join(f)).unwrap())
    };
    let saved = read_state();
    for _ in 0..2 {
        let dry = w.run(&["sync", "--dry-run", "--json"]);
        assert_eq!(dry.code, 0, "{dry}");
        assert!(read_state() == saved, "a dry run changed the state");
    }
    w.add_source(public_event("Concert", 4, 10));
    for _ in 0..2 {
        let dry = w.run(&["sync", "--dry-run", "--json"]);
        assert_eq!(dry.code, 0, "{dry}");
        assert_eq!(dry.json()["plan"]["create"][0]["subject"], "Concert");
        assert!(read_state() == saved, "a dry run changed the state");
    }
    let run = w.run(&["sync", "--json"]);
    assert_eq!(run.json()["counts"]["created"], 1, "{run}");
    assert_eq!(w.target_subjects(), ["Concert", "Open day"]);
}

#[test]
fn a_remembered_calendar_that_is_gone_is_looked_up_again() {
    let w = World::new();
    w.add_source(public_event("Open day", 3, 10));
    w.sync();
    // The cache names a calendar this mailbox does not have (as after the
    // public calendar was deleted and created again).
    let elsewhere = fakegraph::FakeGraph::start();
    elsewhere.add_mailbox(MAILBOX);
    let gone = elsewhere.add_calendar(MAILBOX, TARGET);
    let path = w.state_dir().join("calendars.json");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(&w.target_id), "{text}");
    std::fs::write(&path, text.replace(&w.target_id, &gone)).unwrap();
    w.add_source(public_event("Concert", 4, 10));
    let run = w.run(&["-v", "sync"]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(w.target_subjects(), ["Concert", "Open day"]);
    assert_no_duplicates(&w);
    let cache: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(cache.to_string().contains(&w.target_id), "{cache}");
    // And runs are back to spending nothing on lookups.
    let (_, requests) = counted_sync(&w);
    assert!(
        !requests.iter().any(|r| r.path.ends_with("/calendars")),
        "{}",
        describe(&requests)
    );
}

/// The contract never lets an app-only access token be persisted: each run
/// obtains one (one request to the token endpoint), keeps it in memory, and
/// leaves no token file behind, whatever the token store says.
#[test]
fn each_app_only_run_asks_for_one_token_and_keeps_it_nowhere() {
    let w = World::new();
    w.add_source(public_event("Open day", 3, 10));
    w.sync();
    for _ in 0..2 {
        w.fake.clear_requests();
        let (_, requests) = counted_sync(&w);
        assert_eq!(token_requests(&w), 1, "{}", describe(&requests));
    }
    assert!(
        !w.state_dir().join("tokens.json").exists(),
        "an app-only run wrote a token file"
    );
    Exposed::new()
        .state(&w.state_dir())
        .assert_free_of(&w.fake.issued_tokens());
}

/// A weekly or daily series starting `days` from today at `hour`:00 UTC.
fn series(subject: &str, sensitivity: &str, days: i64, hour: i64, every: i64, count: u32) -> Value {
    let start = day(days) + chrono::Duration::hours(hour);
    let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%S").to_string();
    json!({
        "subject": subject, "sensitivity": sensitivity, "showAs": "busy",
        "body": {"contentType": "text", "content": format!("{CANARY} notes")},
        "start": {"dateTime": fmt(start), "timeZone": "UTC"},
        "end": {"dateTime": fmt(start + chrono::Duration::hours(1)), "timeZone": "UTC"},
        "recurrence": {
            "pattern": {"type": "daily", "interval": every},
            "range": {"type": "numbered", "startDate": date(days).format("%Y-%m-%d").to_string(),
                      "numberOfOccurrences": count}
        }
    })
}

/// Runs an incremental sync after `series` series and `singles` single
/// events changed, and checks that it stayed within 3 + ⌈singles / 20⌉ +
/// ⌈series / 20⌉ HTTP requests (the delta pieces, one batch of the changed
/// series' instances, and the batches of writes), or 2 when nothing changed.
fn sync_after_changes(w: &World, series: usize, singles: usize) -> Value {
    let (run, requests) = counted_sync(w);
    let doc = run.json();
    assert_eq!(doc["mode"], "incremental", "{run}");
    let bound = if series + singles == 0 {
        2
    } else {
        3 + singles.div_ceil(20) + series.div_ceil(20)
    };
    assert!(
        requests.len() <= bound,
        "after {series} series and {singles} single events changed, a run made {} requests \
         (at most {bound}):\n{}",
        requests.len(),
        describe(&requests)
    );
    assert_no_duplicates(w);
    Exposed::new()
        .target(w)
        .run("the incremental sync", &run)
        .assert_free_of(&[CANARY]);
    doc
}

#[test]
fn recurring_series_stay_exact_through_delta_runs() {
    let w = World::new();
    let first = day(1) + chrono::Duration::hours(17);
    let choir = w.add_source(series("Choir", "normal", 1, 17, 7, 6));
    let fair = w.add_source(series("Fair", "normal", 2, 9, 1, 3));
    w.add_source(series(&format!("{CANARY} board"), "private", 1, 8, 7, 4));
    w.add_source(public_event("Open day", 5, 10));
    let run = w.run(&["sync", "--json"]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(run.json()["counts"]["created"], 10, "{run}");
    assert_eq!(
        run.json()["counts"]["skipped"],
        json!({"private": 4}),
        "{run}"
    );
    Exposed::new()
        .target(&w)
        .run("the first sync", &run)
        .assert_free_of(&[CANARY]);

    // Nothing changed: the delta pieces only.
    let writes = w.fake.writes_applied();
    sync_after_changes(&w, 0, 0);
    assert_eq!(w.fake.writes_applied(), writes, "an unchanged run wrote");

    // An occurrence edited and moved (an exception), another cancelled.
    w.fake.modify_occurrence(
        MAILBOX,
        &choir,
        first + chrono::Duration::days(7),
        json!({"subject": "Choir (moved)",
               "start": {"dateTime": (first + chrono::Duration::days(8)).format("%Y-%m-%dT%H:%M:%S").to_string(), "timeZone": "UTC"},
               "end": {"dateTime": (first + chrono::Duration::days(8) + chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%S").to_string(), "timeZone": "UTC"}}),
    );
    w.fake
        .cancel_occurrence(MAILBOX, &choir, first + chrono::Duration::days(21));
    let doc = sync_after_changes(&w, 1, 0);
    assert_eq!(
        (&doc["counts"]["updated"], &doc["counts"]["deleted"]),
        (&json!(1), &json!(1)),
        "{doc}"
    );
    let moved = w
        .managed()
        .into_iter()
        .find(|(_, e)| e["subject"] == "Choir (moved)")
        .expect("the moved occurrence has a copy");
    let moved_start = moved.1["start"]["dateTime"].as_str().unwrap_or_default();
    let expected = (first + chrono::Duration::days(8))
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    assert!(
        moved_start.starts_with(&expected),
        "{moved_start} is not {expected}"
    );

    // A series made private, and a new single event beside it.
    w.fake.update_event(
        MAILBOX,
        &fair,
        json!({"sensitivity": "private", "subject": format!("{CANARY} fair")}),
    );
    w.add_source(public_event("Concert", 6, 19));
    let doc = sync_after_changes(&w, 1, 1);
    assert_eq!(
        (&doc["counts"]["created"], &doc["counts"]["deleted"]),
        (&json!(1), &json!(3)),
        "{doc}"
    );

    // A whole series deleted.
    w.fake.delete_event(MAILBOX, &choir);
    let doc = sync_after_changes(&w, 1, 0);
    assert_eq!(doc["counts"]["deleted"], 5, "{doc}");
    assert_eq!(w.target_subjects(), ["Concert", "Open day"]);
    assert_eq!(validate_code(&w), 0);

    // What the incremental runs kept is what a full read finds.
    let full = w.run(&["sync", "--full", "--json"]);
    assert_eq!(full.code, 0, "{full}");
    let counts = &full.json()["counts"];
    assert_eq!(
        (&counts["created"], &counts["updated"], &counts["deleted"]),
        (&json!(0), &json!(0), &json!(0)),
        "{full}"
    );
    Exposed::new()
        .target(&w)
        .state_but_tokens(&w.state_dir())
        .assert_free_of(&[CANARY]);
}

// Every test above, once more under each switch of the fake that changes
// what a sync sees.
under_each_graph_behaviour!(
    unchanged_runs_cost_two_requests_and_changes_arrive_by_delta,
    unchanged_runs_rewrite_only_the_small_state_file,
    withheld_deletions_are_reported_on_every_run,
    recurring_series_changes_and_reissued_ids_arrive_by_delta,
    an_expired_delta_token_falls_back_to_a_full_read,
    the_window_moving_by_a_day_creates_entering_events_and_keeps_past_ones,
    a_run_killed_while_writing_converges_on_the_next_run,
    writes_done_but_state_not_saved_converges_without_duplicates,
    drift_in_the_target_is_repaired_by_the_full_reconciliation,
    validate_problems_make_the_next_sync_repair_them,
    failed_writes_are_retried_by_the_next_run,
    the_state_dir_holds_nothing_of_private_events,
    a_dry_run_leaves_the_incremental_state_alone,
    a_remembered_calendar_that_is_gone_is_looked_up_again,
    each_app_only_run_asks_for_one_token_and_keeps_it_nowhere,
    recurring_series_stay_exact_through_delta_runs,
);
