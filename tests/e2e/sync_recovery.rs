//! `calsync sync` end to end when things go wrong: a throttled, silent,
//! failing or malformed Graph, runs killed or interrupted while they write,
//! a second run at once, writes that fail or whose answer is lost, a copy
//! deleted by hand, and the guards that keep a bad source from deleting
//! copies.

use crate::common::*;
use fakegraph::Faults;
use serde_json::json;
use std::collections::HashSet;

#[test]
fn throttled_graph_still_converges_without_duplicates() {
    let w = World::new();
    for i in 0..45 {
        w.add_source(public_event(&format!("Event {i:02}"), 1 + i / 4, 8 + i % 4));
    }
    w.fake.set_faults(Faults {
        throttle_fraction: 0.3,
        retry_after_secs: 1,
        seed: 7,
        ..Faults::default()
    });
    let run = w.run(&["sync"]);
    assert_eq!(run.code, 0, "{run}");
    let managed = w.managed();
    let keys: HashSet<&String> = managed.iter().map(|(k, _)| k).collect();
    assert_eq!(managed.len(), 45, "{run}");
    assert_eq!(keys.len(), 45, "duplicates in the target");
    let throttled: Vec<_> = w
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.status == 429)
        .collect();
    assert!(!throttled.is_empty(), "the fault did not fire");
    // Retry-After: 1 was honoured: every throttled operation was sent again
    // (the same method, path and body) no sooner than a second later.
    let requests = w.fake.requests();
    for (i, r) in requests.iter().enumerate().filter(|(_, r)| r.status == 429) {
        let retry = requests[i + 1..]
            .iter()
            .find(|n| n.method == r.method && n.path == r.path && n.body == r.body)
            .unwrap_or_else(|| panic!("{} {} was never retried", r.method, r.path));
        let waited = retry.received.duration_since(r.received);
        assert!(
            waited >= std::time::Duration::from_millis(990),
            "{} {} retried after {waited:?}, before its Retry-After",
            r.method,
            r.path
        );
    }
    w.fake.set_faults(Faults::default());
    let before = w.fake.writes_applied();
    w.sync();
    assert_eq!(w.fake.writes_applied(), before);
}

#[test]
fn a_run_killed_mid_write_converges_on_the_next_run() {
    let w = World::new();
    for i in 0..100 {
        w.add_source(public_event(&format!("Event {i:03}"), 1 + i / 8, 8 + i % 8));
    }
    w.fake.set_faults(Faults {
        latency: std::time::Duration::from_millis(150),
        ..Faults::default()
    });
    let mut child = w.command(&["sync"]).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while w.fake.writes_applied() == 0 {
        assert!(std::time::Instant::now() < deadline, "no write started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    let _ = child.wait();
    let partial = w.managed().len();
    assert!(partial < 100, "the run finished before it was killed");
    w.fake.set_faults(Faults::default());
    w.sync();
    let managed = w.managed();
    let keys: HashSet<&String> = managed.iter().map(|(k, _)| k).collect();
    assert_eq!(managed.len(), 100);
    assert_eq!(keys.len(), 100);
}

/// The last line of the history.
fn last_history(w: &World) -> serde_json::Value {
    let text = std::fs::read_to_string(w.state_dir().join("history.jsonl")).unwrap();
    serde_json::from_str(text.lines().last().unwrap()).unwrap()
}

/// Sends `signal` to a running calsync.
#[cfg(unix)]
fn send(child: &std::process::Child, signal: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_child(child);
    rustix::process::kill_process(pid, signal).expect("signal sent");
}

/// SIGTERM (systemd, `kill`) or SIGINT (Ctrl-C, a cancelled CI job) while a
/// sync writes: it stops at once with one line and the signal's exit code,
/// records the run as interrupted, and the next run makes the rest, with
/// no duplicate. A signal while it reads (Graph silent) does the same.
#[cfg(unix)]
#[test]
fn a_signal_stops_the_run_at_a_safe_point_and_leaves_a_trace() {
    use rustix::process::Signal;
    let w = World::new();
    for i in 0..100 {
        w.add_source(public_event(&format!("Event {i:03}"), 1 + i / 8, 8 + i % 8));
    }
    for (signal, name, code) in [(Signal::TERM, "SIGTERM", 143), (Signal::INT, "SIGINT", 130)] {
        w.fake.set_faults(Faults {
            latency: std::time::Duration::from_millis(150),
            ..Faults::default()
        });
        let before = w.fake.writes_applied();
        let mut cmd = w.command(&["-q", "sync"]);
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let child = cmd.spawn().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while w.fake.writes_applied() == before {
            assert!(std::time::Instant::now() < deadline, "no write started");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        send(&child, signal);
        let run = Run::from(child.wait_with_output().unwrap());
        assert_eq!(run.code, code, "{run}");
        assert_eq!(run.stdout, "", "{run}");
        assert_eq!(run.stderr.lines().count(), 1, "one line: {run}");
        assert!(run.stderr.contains(name), "{run}");
        assert!(run.stderr.contains("applying its plan"), "{run}");
        assert!(run.stderr.contains("interrupted"), "{run}");
        let entry = last_history(&w);
        assert_eq!(entry["outcome"], "interrupted", "{entry}");
        assert!(entry["error"].as_str().unwrap().contains(name), "{entry}");
        assert!(
            w.managed().len() < 100,
            "the run finished before the signal"
        );
        w.fake.set_faults(Faults::default());
    }
    w.sync();
    let managed = w.managed();
    let keys: HashSet<&String> = managed.iter().map(|(k, _)| k).collect();
    assert_eq!(managed.len(), 100);
    assert_eq!(keys.len(), 100);
    assert_eq!(w.run(&["validate"]).code, 0);

    // While reading, from a Graph that does not answer; under --json the
    // one document on stdout is the error, with the signal's exit code.
    w.fake.set_faults(Faults {
        never_answer: Some("/calendarView".to_string()),
        ..Faults::default()
    });
    w.fake.clear_requests();
    let mut cmd = w.command(&["sync", "--full", "--json"]);
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !w
        .fake
        .requests()
        .iter()
        .any(|r| r.path.contains("/calendarView"))
    {
        assert!(std::time::Instant::now() < deadline, "no read started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    send(&child, Signal::TERM);
    let run = Run::from(child.wait_with_output().unwrap());
    assert_eq!(run.code, 143, "{run}");
    assert_eq!(run.json()["exit_code"], 143, "{run}");
    assert!(run.stderr.contains("reading the calendars"), "{run}");
    assert!(run.stderr.contains("nothing was written"), "{run}");
    assert_eq!(last_history(&w)["outcome"], "interrupted");
}

/// A Graph that accepts connections and never answers: each request gives
/// up after request_timeout and is retried at most twice, the first retry
/// said at the default level; the whole run stops at run_timeout. Both come
/// from flag > environment > file > default.
#[test]
fn a_silent_graph_is_given_up_on_in_bounded_time() {
    let w = World::new();
    w.add_source(public_event("Open day", 3, 10));
    w.sync();
    w.fake.set_faults(Faults {
        never_answer: Some("/".to_string()),
        ..Faults::default()
    });
    let started = std::time::Instant::now();
    let mut cmd = w.command(&["sync", "--full", "--request-timeout", "1s"]);
    cmd.env("CALSYNC_REQUEST_TIMEOUT", "1h");
    let run = Run::from(cmd.output().unwrap());
    let took = started.elapsed();
    assert_eq!(run.code, 1, "{run}");
    assert!(
        took < std::time::Duration::from_secs(20),
        "took {took:?}: {run}"
    );
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert!(lines[0].contains("WARN"), "{run}");
    assert!(
        lines[0].contains("did not answer") && lines[0].contains("within 1 s (request_timeout)"),
        "{run}"
    );
    assert!(lines[0].contains("retrying in"), "{run}");
    assert!(
        lines[0].contains("further retries are logged with -v"),
        "{run}"
    );
    // The second retry is at info, not shown by default.
    assert_eq!(run.stderr.matches("retrying in").count(), 1, "{run}");
    assert!(run.stderr.contains("3 attempts"), "{run}");
    assert!(run.stderr.contains("raise request_timeout"), "{run}");
    assert_eq!(last_history(&w)["outcome"], "failed");

    // The run's deadline, from the environment, beats a long request timeout.
    let started = std::time::Instant::now();
    let mut cmd = w.command(&["-q", "sync", "--full", "--request-timeout", "1h"]);
    cmd.env("CALSYNC_RUN_TIMEOUT", "2s");
    let run = Run::from(cmd.output().unwrap());
    let took = started.elapsed();
    assert_eq!(run.code, 1, "{run}");
    assert!(
        took < std::time::Duration::from_secs(15),
        "took {took:?}: {run}"
    );
    assert_eq!(run.stderr.lines().count(), 1, "{run}");
    assert!(
        run.stderr.contains(
            "did not finish within run_timeout (2s, from environment (CALSYNC_RUN_TIMEOUT))"
        ),
        "{run}"
    );
    let entry = last_history(&w);
    assert_eq!(entry["outcome"], "timed_out", "{entry}");

    // validate is bounded the same way.
    let mut cmd = w.command(&["validate", "--run-timeout", "2s"]);
    cmd.env("CALSYNC_RUN_TIMEOUT", "1h");
    let run = Run::from(cmd.output().unwrap());
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stderr
            .contains("validate did not finish within run_timeout (2s, from command line)"),
        "{run}"
    );
    assert_eq!(last_history(&w)["outcome"], "timed_out");
    w.fake.set_faults(Faults::default());
    w.sync();
}

#[test]
fn mass_deletion_guard_refuses_and_force_overrides() {
    let w = World::new();
    let ids: Vec<String> = (0..40)
        .map(|i| w.add_source(public_event(&format!("Event {i:02}"), 1 + i / 4, 9 + i % 4)))
        .collect();
    w.sync();
    for id in &ids[..20] {
        w.fake.delete_event(MAILBOX, id);
    }
    let before = w.fake.writes_applied();
    let refused = w.run(&["sync"]);
    assert_eq!(refused.code, 6, "{refused}");
    assert!(refused.stderr.contains("--force"), "{refused}");
    assert_eq!(
        w.fake.writes_applied(),
        before,
        "the guard let writes through"
    );
    assert_eq!(w.managed().len(), 40);
    // Under --json the one document is the error, with what was refused.
    let refused = w.run(&["sync", "--json"]);
    assert_eq!(refused.code, 6, "{refused}");
    let doc = refused.json();
    assert_eq!(doc["exit_code"], 6, "{refused}");
    assert_eq!(doc["counts"]["deleted"], 20, "{refused}");
    assert_eq!(doc["counts"]["unchanged"], 20, "{refused}");
    assert_eq!(doc["guard"]["deletes"], 20, "{refused}");
    assert_eq!(doc["guard"]["managed_in_window"], 40, "{refused}");
    assert_eq!(doc["guard"]["max_delete_fraction"], 0.25, "{refused}");
    assert_eq!(w.managed().len(), 40);

    let forced = w.run(&["sync", "--force"]);
    assert_eq!(forced.code, 0, "{forced}");
    assert_eq!(w.managed().len(), 20);
}

#[test]
fn an_empty_or_failing_source_never_deletes() {
    let w = World::new();
    let ids: Vec<String> = (0..5)
        .map(|i| w.add_source(public_event(&format!("Event {i}"), 1 + i, 9)))
        .collect();
    w.sync();
    let before = w.fake.writes_applied();

    // The source read fails (after retries): exit 1, nothing written.
    w.fake.set_faults(Faults {
        fail_path: Some(("calendarView".into(), 500, 100)),
        ..Faults::default()
    });
    let failed = w.run(&["sync"]);
    assert_eq!(failed.code, 1, "{failed}");
    assert_eq!(w.fake.writes_applied(), before);
    w.fake.set_faults(Faults::default());

    // The source reads as empty: the public calendar is kept.
    for id in &ids {
        w.fake.delete_event(MAILBOX, id);
    }
    let empty = w.run(&["sync"]);
    assert_eq!(empty.code, 0, "{empty}");
    assert_eq!(w.fake.writes_applied(), before);
    assert_eq!(w.managed().len(), 5);
    assert!(empty.stderr.contains("withheld"), "{empty}");
}

#[test]
fn a_second_concurrent_run_exits_75_naming_the_holder() {
    let w = World::new();
    for i in 0..10 {
        w.add_source(public_event(&format!("Event {i}"), 1 + i, 9));
    }
    w.fake.set_faults(Faults {
        latency: std::time::Duration::from_millis(300),
        ..Faults::default()
    });
    let mut first = w.command(&["sync"]).spawn().unwrap();
    let lock = w.state_dir().join("lock");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::fs::read_to_string(&lock).map_or(true, |s| s.is_empty()) {
        assert!(
            std::time::Instant::now() < deadline,
            "first run never locked"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let second = w.run(&["sync"]);
    assert_eq!(second.code, 75, "{second}");
    // The message names the holder: the first run's process id.
    assert!(
        second.stderr.contains(&format!("process {} ", first.id())),
        "{second}"
    );
    assert!(first.wait().unwrap().success());
}

#[test]
fn malformed_graph_json_fails_without_deleting() {
    let w = World::new();
    for i in 0..3 {
        w.add_source(public_event(&format!("Event {i}"), 1 + i, 9));
    }
    w.sync();
    let before = w.fake.writes_applied();
    w.fake.set_faults(Faults {
        malformed_json: 1000,
        ..Faults::default()
    });
    let run = w.run(&["sync"]);
    assert_ne!(run.code, 0, "{run}");
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stderr.contains("malformed"), "{run}");
    assert_eq!(w.fake.writes_applied(), before);
}

#[test]
fn failed_writes_exit_5_and_the_json_report_lists_them() {
    let w = World::new();
    let talk = w.add_source(public_event("Talk", 2, 10));
    w.add_source(public_event("Fair", 3, 10));
    w.sync();
    let (_, copy) = w
        .managed()
        .into_iter()
        .find(|(_, e)| e["subject"] == "Talk")
        .unwrap();
    let copy_id = copy["id"].as_str().unwrap().to_string();
    w.fake
        .update_event(MAILBOX, &talk, json!({"subject": "Talk (new time)"}));
    w.add_source(public_event("Concert", 4, 10));
    // Graph refuses the update of this one copy; the create still goes through.
    w.fake.set_faults(Faults {
        fail_path: Some((copy_id, 400, 100)),
        ..Faults::default()
    });
    let run = w.run(&["sync", "--json"]);
    assert_eq!(run.code, 5, "{run}");
    let doc = run.json();
    assert_eq!(doc["counts"]["created"], 1);
    assert_eq!(doc["counts"]["failed"], 1);
    assert_eq!(doc["failures"][0]["action"], "update");
    assert!(w.target_subjects().contains(&"Concert".to_string()));

    let text = w.run(&["sync"]);
    assert_eq!(text.code, 5, "{text}");
    assert!(text.stdout.contains("failed to update"), "{text}");
    assert!(text.stderr.contains("next run retries"), "{text}");

    w.fake.set_faults(Faults::default());
    w.sync();
    assert!(w.target_subjects().contains(&"Talk (new time)".to_string()));
}

#[test]
fn a_create_whose_answer_was_lost_is_made_once() {
    let w = World::new();
    w.sync();
    for i in 0..3 {
        w.add_source(public_event(&format!("Talk {i}"), 2 + i, 10));
    }
    // The writes are made, but their answer never arrives: the batch is sent
    // again with the same transactionIds, and Graph answers that they were
    // used (400 or 409 ErrorDuplicateTransactionId) or with the events made
    // (201), as it is reported to do either way.
    w.fake.set_faults(Faults {
        drop_path: Some(("$batch".into(), 1)),
        ..Faults::default()
    });
    let run = w.run(&["sync", "--json"]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(run.json()["counts"]["created"], 3, "{run}");
    let posts: Vec<String> = w
        .fake
        .requests()
        .iter()
        .filter(|r| r.in_batch && r.method == "POST")
        .map(|r| {
            serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["transactionId"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(posts.len(), 6, "each create sent twice");
    let (mut sent, mut resent) = (posts[..3].to_vec(), posts[3..].to_vec());
    sent.sort();
    resent.sort();
    assert_eq!(sent, resent, "a retry repeats the transactionIds");
    assert_eq!(w.fake.writes_applied(), 3);
    assert_eq!(w.target_subjects(), ["Talk 0", "Talk 1", "Talk 2"]);
    // The run knew the copies it made: the next one has nothing to do.
    let again = w.run(&["sync", "--json"]);
    assert_eq!(again.json()["counts"]["unchanged"], 3, "{again}");
    assert_eq!(w.run(&["validate"]).code, 0);
}

#[test]
fn a_copy_deleted_by_hand_is_made_again_the_same_day() {
    let w = World::new();
    w.add_source(public_event("Open day", 3, 10));
    w.sync();
    let (_, copy) = w.managed().pop().expect("a copy");
    w.fake
        .delete_event(MAILBOX, copy["id"].as_str().expect("an id"));
    assert!(w.managed().is_empty());
    // A full run sees the copy missing and makes it again, though Graph
    // still remembers the transactionId the first one was made with.
    let run = w.run(&["sync", "--full", "--json"]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(run.json()["counts"]["created"], 1, "{run}");
    assert_eq!(w.target_subjects(), ["Open day"]);
}

#[test]
fn a_range_graph_keeps_failing_is_read_in_halves() {
    let w = World::new();
    for (subject, days) in [("Soon", 2), ("Next year", 500), ("Far ahead", 1700)] {
        w.add_source(public_event(subject, days, 10));
    }
    w.add_source(secret_event("private", 900, 10));
    // Graph answers 504 to any calendarView or delta over 400 days, as it
    // does for long windows with many series.
    w.fake.set_faults(Faults {
        fail_long_ranges: Some((400, 504)),
        ..Faults::default()
    });
    let run = w.run(&["sync", "--json"]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(run.json()["counts"]["created"], 3, "{run}");
    assert_eq!(w.target_subjects(), ["Far ahead", "Next year", "Soon"]);
    Exposed::new()
        .target(&w)
        .run("sync", &run)
        .assert_free_of(&[CANARY]);
    let answered: Vec<String> = w
        .fake
        .requests()
        .iter()
        .filter(|r| r.path.contains("calendarView") && r.status == 200)
        .map(|r| r.query.clone())
        .collect();
    assert!(!answered.is_empty());
    // Each long range was asked for twice at most (a try and one retry)
    // before it was split, never as often as a plain outage is retried.
    let mut refused: std::collections::HashMap<String, usize> = Default::default();
    for r in w.fake.requests().iter().filter(|r| r.status == 504) {
        *refused.entry(r.query.clone()).or_default() += 1;
    }
    assert!(!refused.is_empty());
    assert!(refused.values().all(|n| *n <= 2), "{refused:#?}");
    // The next run follows the delta links of the pieces read.
    let again = w.run(&["sync", "--json"]);
    assert_eq!(again.code, 0, "{again}");
    assert_eq!(again.json()["counts"]["unchanged"], 3, "{again}");
    // validate reads the source through calendarView, split the same way.
    let validate = w.run(&["validate"]);
    assert_eq!(validate.code, 0, "{validate}");
}

// Every test above, once more under each switch of the fake that changes
// what a sync sees.
under_each_graph_behaviour!(
    throttled_graph_still_converges_without_duplicates,
    a_run_killed_mid_write_converges_on_the_next_run,
    mass_deletion_guard_refuses_and_force_overrides,
    an_empty_or_failing_source_never_deletes,
    a_second_concurrent_run_exits_75_naming_the_holder,
    malformed_graph_json_fails_without_deleting,
    failed_writes_exit_5_and_the_json_report_lists_them,
    a_create_whose_answer_was_lost_is_made_once,
    a_copy_deleted_by_hand_is_made_again_the_same_day,
    a_range_graph_keeps_failing_is_read_in_halves,
    a_signal_stops_the_run_at_a_safe_point_and_leaves_a_trace,
    a_silent_graph_is_given_up_on_in_bounded_time,
);
