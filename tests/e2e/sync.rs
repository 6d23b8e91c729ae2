//! `calsync sync` end to end: the built binary against the fake Graph over
//! loopback HTTP.

use crate::common::*;
use chrono::{Duration, Utc};
use fakegraph::Faults;
use serde_json::json;
use std::collections::HashSet;

#[test]
fn copies_public_events_and_nothing_private() {
    let w = World::new();
    w.add_source(public_event("Open day", 3, 10));
    w.add_source(public_event("Board meeting (public)", 5, 14));
    for (i, s) in ["private", "confidential", "personal"].iter().enumerate() {
        w.add_source(secret_event(s, 2 + i as i64, 9));
    }
    // A cancelled public meeting, as an attendee's copy lingers after cancellation.
    let mut cancelled = public_event(&format!("Canceled: {CANARY} concert"), 4, 18);
    cancelled["isCancelled"] = json!(true);
    w.add_source(cancelled);

    let dry = w.run(&["sync", "--dry-run", "-vv"]);
    assert_eq!(dry.code, 0, "{dry}");
    let json_run = w.run(&["sync", "--dry-run", "--json", "-vvv"]);
    assert_eq!(json_run.code, 0, "{json_run}");
    let run = w.run(&["-vvv", "sync"]);
    assert_eq!(run.code, 0, "{run}");

    assert_eq!(w.target_subjects(), ["Board meeting (public)", "Open day"]);
    let history = std::fs::read_to_string(w.state_dir().join("history.jsonl")).unwrap();
    Exposed::new()
        .target(&w)
        .run("the dry run", &dry)
        .run("the --json dry run", &json_run)
        .run("sync", &run)
        .text("the history", history)
        .state(&w.state_dir())
        .assert_free_of(&[CANARY]);
    // Bodies and locations are not copied by default; no invitation was sent.
    for e in w.target_events() {
        assert!(
            !e["body"]["content"]
                .as_str()
                .unwrap_or_default()
                .contains("Agenda")
        );
        assert_eq!(
            e["location"]["displayName"].as_str().unwrap_or_default(),
            ""
        );
        assert!(e["attendees"].as_array().is_none_or(|a| a.is_empty()));
    }
    assert_eq!(w.fake.invites_sent(), 0);
}

#[test]
fn copy_policy_and_filter_rules_from_the_config_file() {
    let w = World::new();
    let mut tagged = public_event("Festival", 2, 10);
    tagged["categories"] = json!(["Public events"]);
    w.add_source(tagged);
    w.add_source(public_event("Internal drill", 3, 10));
    let mut free = public_event("Holiday reminder", 4, 10);
    free["showAs"] = json!("free");
    free["categories"] = json!(["Public events"]);
    w.add_source(free);
    let config = w.config_file(
        r#"
[filter]
include_categories = ["public events"]
show_as = ["busy"]

[copy]
location = true
body = true
categories = true
"#,
    );
    let run = w.run(&["--config", config.to_str().unwrap(), "sync"]);
    assert_eq!(run.code, 0, "{run}");
    let events = w.target_events();
    assert_eq!(events.len(), 1, "{events:#?}");
    let e = &events[0];
    assert_eq!(e["subject"], "Festival");
    assert_eq!(e["location"]["displayName"], "Town hall");
    assert!(
        e["body"]["content"]
            .as_str()
            .unwrap()
            .contains("Agenda for Festival")
    );
    assert_eq!(e["categories"], json!(["Public events"]));
}

#[test]
fn all_day_multi_day_and_other_time_zone_events_are_copied_exactly() {
    let w = World::new();
    let d = date(6).format("%Y-%m-%d").to_string();
    let d1 = date(7).format("%Y-%m-%d").to_string();
    let d3 = date(9).format("%Y-%m-%d").to_string();
    w.add_source(json!({
        "subject": "Founders' day", "isAllDay": true, "sensitivity": "normal",
        "start": {"dateTime": format!("{d}T00:00:00"), "timeZone": "Tokyo Standard Time"},
        "end": {"dateTime": format!("{d1}T00:00:00"), "timeZone": "Tokyo Standard Time"},
    }));
    w.add_source(json!({
        "subject": "Conference", "isAllDay": true, "sensitivity": "normal", "showAs": "oof",
        "start": {"dateTime": format!("{d}T00:00:00"), "timeZone": "Pacific Standard Time"},
        "end": {"dateTime": format!("{d3}T00:00:00"), "timeZone": "Pacific Standard Time"},
    }));
    // 09:30 in New York; the copy must be the same instant.
    w.add_source(json!({
        "subject": "Webinar", "sensitivity": "normal",
        "start": {"dateTime": format!("{d}T09:30:00"), "timeZone": "Eastern Standard Time"},
        "end": {"dateTime": format!("{d}T11:00:00"), "timeZone": "America/New_York"},
    }));
    // Spans three days, timed, in Central Europe.
    w.add_source(json!({
        "subject": "Retreat", "sensitivity": "normal",
        "start": {"dateTime": format!("{d}T18:00:00"), "timeZone": "W. Europe Standard Time"},
        "end": {"dateTime": format!("{d3}T12:00:00"), "timeZone": "W. Europe Standard Time"},
    }));
    w.sync();

    let by_subject = |s: &str| {
        w.target_events()
            .into_iter()
            .find(|e| e["subject"] == s)
            .unwrap_or_else(|| panic!("{s} was not copied"))
    };
    let utc = |e: &serde_json::Value, k: &str| {
        let tz = e[k]["timeZone"].as_str().unwrap().to_string();
        let dt = e[k]["dateTime"].as_str().unwrap().to_string();
        (dt[..19].to_string(), tz)
    };
    let founders = by_subject("Founders' day");
    assert_eq!(founders["isAllDay"], true);
    assert_eq!(utc(&founders, "start").0, format!("{d}T00:00:00"));
    assert_eq!(utc(&founders, "end").0, format!("{d1}T00:00:00"));
    let conf = by_subject("Conference");
    assert_eq!(conf["isAllDay"], true);
    assert_eq!(conf["showAs"], "oof");
    assert_eq!(utc(&conf, "start").0, format!("{d}T00:00:00"));
    assert_eq!(utc(&conf, "end").0, format!("{d3}T00:00:00"));

    let instant = |local: &str, zone: chrono_tz::Tz| {
        chrono::NaiveDateTime::parse_from_str(local, "%Y-%m-%dT%H:%M:%S")
            .unwrap()
            .and_local_timezone(zone)
            .single()
            .unwrap()
            .with_timezone(&Utc)
            .format("%Y-%m-%dT%H:%M:%S")
            .to_string()
    };
    let web = by_subject("Webinar");
    assert_eq!(web["isAllDay"], false);
    assert_eq!(
        utc(&web, "start"),
        (
            instant(&format!("{d}T09:30:00"), chrono_tz::America::New_York),
            "UTC".into()
        )
    );
    assert_eq!(
        utc(&web, "end").0,
        instant(&format!("{d}T11:00:00"), chrono_tz::America::New_York)
    );
    let retreat = by_subject("Retreat");
    assert_eq!(
        utc(&retreat, "start").0,
        instant(&format!("{d}T18:00:00"), chrono_tz::Europe::Berlin)
    );
    assert_eq!(
        utc(&retreat, "end").0,
        instant(&format!("{d3}T12:00:00"), chrono_tz::Europe::Berlin)
    );
}

#[test]
fn second_run_writes_nothing_and_updates_keep_the_target_id() {
    let w = World::new();
    let talk = w.add_source(public_event("Talk", 2, 10));
    w.add_source(public_event("Fair", 3, 10));
    w.sync();
    let before = w.fake.writes_applied();
    let ids: HashSet<String> = w
        .target_events()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();

    w.sync();
    assert_eq!(w.fake.writes_applied(), before, "an unchanged run wrote");

    w.fake
        .update_event(MAILBOX, &talk, json!({"subject": "Talk (moved to room 2)"}));
    w.sync();
    assert_eq!(w.fake.writes_applied(), before + 1);
    let after: HashSet<String> = w
        .target_events()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, after, "the update must patch in place");
    assert_eq!(w.target_subjects(), ["Fair", "Talk (moved to room 2)"]);

    // A hand edit of a managed copy is repaired.
    let (_, fair) = w
        .managed()
        .into_iter()
        .find(|(_, e)| e["subject"] == "Fair")
        .unwrap();
    w.fake.update_event(
        MAILBOX,
        fair["id"].as_str().unwrap(),
        json!({"subject": "Fair (edited by hand)"}),
    );
    // Incremental runs trust their record of the target; a full
    // reconciliation (--full, or the periodic one) repairs hand edits.
    let full = w.run(&["sync", "--full"]);
    assert_eq!(full.code, 0, "{full}");
    assert_eq!(w.target_subjects(), ["Fair", "Talk (moved to room 2)"]);
}

#[test]
fn deleted_or_now_private_source_events_are_removed_from_the_target() {
    let w = World::new();
    w.add_source(public_event("Stays", 2, 10));
    let b = w.add_source(public_event("Gets deleted", 3, 10));
    let c = w.add_source(public_event("Becomes private", 4, 10));
    w.sync();
    assert_eq!(w.target_events().len(), 3);
    w.fake.delete_event(MAILBOX, &b);
    w.fake
        .update_event(MAILBOX, &c, json!({"sensitivity": "private"}));
    let run = w.sync();
    assert_eq!(w.target_subjects(), ["Stays"], "{run}");
}

#[test]
fn hand_made_and_out_of_window_target_events_are_untouched() {
    let w = World::new();
    w.add_source(public_event("Public", 2, 10));
    let by_hand = w.add_target(public_event("Added by hand", 2, 12));
    // A copy calsync made long ago, now in the past and out of the window.
    let mut old = public_event("Last year's fair", -300, 10);
    old["singleValueExtendedProperties"] = json!([
        {"id": "String {5d2c6a0e-8b1f-4e5a-9c3d-7a41f02b6e19} Name calsyncSourceKey", "value": "i:gone-long-ago"},
        {"id": "String {5d2c6a0e-8b1f-4e5a-9c3d-7a41f02b6e19} Name calsyncContentHash", "value": "0"}
    ]);
    let old_id = w.add_target(old);
    w.sync();
    let events = w.target_events();
    let ids: Vec<&str> = events.iter().filter_map(|e| e["id"].as_str()).collect();
    assert!(ids.contains(&by_hand.as_str()));
    assert!(ids.contains(&old_id.as_str()));
    assert_eq!(events.len(), 3);
    let hand = events.iter().find(|e| e["id"] == by_hand.as_str()).unwrap();
    assert_eq!(hand["subject"], "Added by hand");
}

#[test]
fn dry_run_prints_the_plan_and_writes_nothing() {
    let w = World::new();
    w.add_source(public_event("Open day", 3, 10));
    let run = w.run(&["sync", "--dry-run"]);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.contains("create"), "{run}");
    assert!(run.stdout.contains("Open day"), "{run}");
    assert_eq!(w.fake.writes_applied(), 0);
    assert!(w.target_events().is_empty());

    let json_run = w.run(&["sync", "--dry-run", "--json"]);
    assert_eq!(json_run.code, 0, "{json_run}");
    let doc = json_run.json();
    assert_eq!(doc["dry_run"], true);
    assert_eq!(doc["plan"]["create"][0]["subject"], "Open day");
    assert_eq!(doc["counts"]["created"], 1);
    assert_eq!(w.fake.writes_applied(), 0);

    // The seed service's variable turns every run into a dry run too.
    let mut cmd = w.command(&["sync"]);
    cmd.env("DRY_RUN_MODE", "true");
    let out = cmd.output().unwrap();
    assert!(out.status.success());
    assert_eq!(w.fake.writes_applied(), 0);
}

#[test]
fn recurring_occurrences_keep_their_copies_when_graph_reissues_ids() {
    let w = World::new();
    let first = day(1) + Duration::hours(17);
    let series = w.add_source(json!({
        "subject": "Choir rehearsal", "sensitivity": "normal",
        "start": {"dateTime": first.format("%Y-%m-%dT%H:%M:%S").to_string(), "timeZone": "UTC"},
        "end": {"dateTime": (first + Duration::hours(2)).format("%Y-%m-%dT%H:%M:%S").to_string(), "timeZone": "UTC"},
        "recurrence": {
            "pattern": {"type": "daily", "interval": 7},
            "range": {"type": "numbered", "startDate": date(1).format("%Y-%m-%d").to_string(), "numberOfOccurrences": 4}
        }
    }));
    // The third rehearsal moves an hour later; the fourth is cancelled.
    w.fake.modify_occurrence(
        MAILBOX,
        &series,
        first + Duration::days(14),
        json!({"subject": "Choir rehearsal (late)",
               "start": {"dateTime": (first + Duration::days(14) + Duration::hours(1)).format("%Y-%m-%dT%H:%M:%S").to_string(), "timeZone": "UTC"},
               "end": {"dateTime": (first + Duration::days(14) + Duration::hours(3)).format("%Y-%m-%dT%H:%M:%S").to_string(), "timeZone": "UTC"}}),
    );
    w.fake
        .cancel_occurrence(MAILBOX, &series, first + Duration::days(21));
    w.sync();
    assert_eq!(
        w.target_subjects(),
        [
            "Choir rehearsal",
            "Choir rehearsal",
            "Choir rehearsal (late)"
        ]
    );
    let before = w.fake.writes_applied();
    w.fake.reissue_occurrence_ids();
    w.sync();
    assert_eq!(
        w.fake.writes_applied(),
        before,
        "re-issued ids caused writes"
    );
}

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
fn tokens_and_secrets_never_appear_in_output() {
    let w = World::new();
    w.add_source(public_event("Open day", 3, 10));
    let mut exposed = Exposed::new();
    for args in [
        vec!["sync", "--dry-run"],
        vec!["-v", "sync"],
        vec!["-vv", "sync", "--json"],
        vec!["-vvv", "sync"],
        vec!["-vvv", "--log-format", "json", "sync", "--dry-run"],
    ] {
        let run = w.run(&args);
        assert_eq!(run.code, 0, "{run}");
        exposed = exposed.run(&format!("{args:?}"), &run);
    }
    // A refused secret must not be echoed either.
    let mut bad = w.command(&["-vvv", "sync"]);
    bad.env("CALSYNC_CLIENT_SECRET", "wrong-secret-Kx81");
    let bad = Run::from(bad.output().unwrap());
    assert_eq!(bad.code, 3, "{bad}");
    let tokens = w.fake.issued_tokens();
    assert!(!tokens.is_empty());
    // An app-only access token is never persisted, so no state file, the
    // token store included, holds one.
    assert!(
        !w.state_dir().join("tokens.json").exists(),
        "an app-only run wrote a token file"
    );
    let mut needles = vec![SECRET.to_string(), "wrong-secret-Kx81".to_string()];
    needles.extend(tokens);
    exposed
        .run("the run with a wrong secret", &bad)
        .state(&w.state_dir())
        .assert_free_of(&needles);
}

#[test]
fn first_and_unchanged_sync_request_counts_for_1000_events() {
    let w = World::new();
    for i in 0..1000 {
        w.add_source(public_event(
            &format!("Event {i:04}"),
            1 + i / 10,
            8 + i % 10,
        ));
    }
    w.sync();
    let first = w.fake.requests();
    w.fake.clear_requests();
    w.sync();
    let second = w.fake.requests();
    let top = |r: &[fakegraph::RecordedRequest]| r.iter().filter(|r| !r.in_batch).count();
    let ops = |r: &[fakegraph::RecordedRequest]| {
        r.iter()
            .filter(|r| r.path != "/$batch" && !r.path.contains("/oauth2/"))
            .count()
    };
    let kinds = |r: &[fakegraph::RecordedRequest]| {
        let mut k = std::collections::BTreeMap::new();
        for r in r.iter().filter(|r| !r.in_batch) {
            let kind = r.path.rsplit('/').next().unwrap_or_default().to_string();
            *k.entry(format!("{} {kind}", r.method)).or_insert(0) += 1;
        }
        k
    };
    eprintln!(
        "1000 public events: first sync {} HTTP requests ({} Graph operations) {:?}; \
         unchanged second sync {} HTTP requests {:?}",
        top(&first),
        ops(&first),
        kinds(&first),
        top(&second),
        kinds(&second)
    );
    assert_eq!(w.managed().len(), 1000);
    // token + 2 calendar lookups + reads + ceil(1000 / 20) batches + one
    // small batch that times Graph, and one more batch for each answer Graph
    // throttled (on a busy machine the fake's own timing varies).
    let throttled = first
        .iter()
        .filter(|r| r.in_batch && r.status == 429)
        .count();
    assert!(
        top(&first) <= 1 + 2 + 4 + 50 + 1 + throttled,
        "first sync made {} requests ({throttled} throttled)",
        top(&first)
    );
    assert!(
        top(&second) <= 1 + 2 + 4,
        "second sync made {} requests",
        top(&second)
    );
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

/// The bodies of the events calsync created, by subject.
fn created_bodies(w: &World) -> std::collections::HashMap<String, serde_json::Value> {
    w.fake
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/events"))
        .filter_map(|r| serde_json::from_str::<serde_json::Value>(&r.body).ok())
        .map(|b| (b["subject"].as_str().unwrap_or_default().to_string(), b))
        .collect()
}

#[test]
fn all_day_copies_are_written_in_the_target_mailbox_zone() {
    let w = World::new();
    w.fake.set_app_roles(
        TENANT,
        CLIENT_ID,
        &["Calendars.ReadWrite", "MailboxSettings.Read"],
    );
    w.fake
        .set_mailbox_time_zone(MAILBOX, "W. Europe Standard Time");
    let d = date(6).format("%Y-%m-%d").to_string();
    let d1 = date(7).format("%Y-%m-%d").to_string();
    w.add_source(json!({
        "subject": "Founders' day", "isAllDay": true, "sensitivity": "normal",
        "start": {"dateTime": format!("{d}T00:00:00"), "timeZone": "Tokyo Standard Time"},
        "end": {"dateTime": format!("{d1}T00:00:00"), "timeZone": "Tokyo Standard Time"},
    }));
    w.add_source(public_event("Webinar", 6, 9));
    let first = w.run(&["sync"]);
    assert_eq!(first.code, 0, "{first}");
    let bodies = created_bodies(&w);
    // Midnight to midnight where the public calendar's people are, so that
    // Outlook shows it on its one day; timed copies stay instants in UTC.
    assert_eq!(
        bodies["Founders' day"]["start"],
        json!({"dateTime": format!("{d}T00:00:00"), "timeZone": "W. Europe Standard Time"})
    );
    assert_eq!(
        bodies["Founders' day"]["end"],
        json!({"dateTime": format!("{d1}T00:00:00"), "timeZone": "W. Europe Standard Time"})
    );
    assert_eq!(bodies["Webinar"]["start"]["timeZone"], "UTC");
    assert!(!first.stderr.contains("MailboxSettings.Read"), "{first}");
    // Read back, the copy is the same day: nothing to do, nothing wrong.
    let again = w.run(&["sync", "--full", "--json"]);
    assert_eq!(again.json()["counts"]["unchanged"], 2, "{again}");
    assert_eq!(w.run(&["validate"]).code, 0);

    // Without the permission the copy is written in UTC, and the operator
    // is told what that means and what to grant, once.
    let w = World::new();
    w.add_source(json!({
        "subject": "Founders' day", "isAllDay": true, "sensitivity": "normal",
        "start": {"dateTime": format!("{d}T00:00:00"), "timeZone": "UTC"},
        "end": {"dateTime": format!("{d1}T00:00:00"), "timeZone": "UTC"},
    }));
    let run = w.run(&["sync"]);
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stderr.contains("MailboxSettings.Read") && run.stderr.contains("two days"),
        "{run}"
    );
    assert_eq!(
        created_bodies(&w)["Founders' day"]["start"]["timeZone"],
        "UTC"
    );
    let d8 = date(8).format("%Y-%m-%d").to_string();
    let d9 = date(9).format("%Y-%m-%d").to_string();
    w.add_source(json!({
        "subject": "Harvest day", "isAllDay": true, "sensitivity": "normal",
        "start": {"dateTime": format!("{d8}T00:00:00"), "timeZone": "UTC"},
        "end": {"dateTime": format!("{d9}T00:00:00"), "timeZone": "UTC"},
    }));
    w.fake.clear_requests();
    let next = w.run(&["sync"]);
    assert_eq!(next.code, 0, "{next}");
    assert!(!next.stderr.contains("MailboxSettings.Read"), "{next}");
    assert!(
        !w.fake
            .requests()
            .iter()
            .any(|r| r.path.contains("mailboxSettings")),
        "the answer is remembered"
    );
    // A calendar without all-day events never asks.
    let w = World::new();
    w.add_source(public_event("Webinar", 6, 9));
    w.sync();
    assert!(
        !w.fake
            .requests()
            .iter()
            .any(|r| r.path.contains("mailboxSettings"))
    );
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
    copies_public_events_and_nothing_private,
    copy_policy_and_filter_rules_from_the_config_file,
    all_day_multi_day_and_other_time_zone_events_are_copied_exactly,
    second_run_writes_nothing_and_updates_keep_the_target_id,
    deleted_or_now_private_source_events_are_removed_from_the_target,
    hand_made_and_out_of_window_target_events_are_untouched,
    dry_run_prints_the_plan_and_writes_nothing,
    recurring_occurrences_keep_their_copies_when_graph_reissues_ids,
    throttled_graph_still_converges_without_duplicates,
    a_run_killed_mid_write_converges_on_the_next_run,
    mass_deletion_guard_refuses_and_force_overrides,
    an_empty_or_failing_source_never_deletes,
    a_second_concurrent_run_exits_75_naming_the_holder,
    malformed_graph_json_fails_without_deleting,
    tokens_and_secrets_never_appear_in_output,
    first_and_unchanged_sync_request_counts_for_1000_events,
    failed_writes_exit_5_and_the_json_report_lists_them,
    a_create_whose_answer_was_lost_is_made_once,
    a_copy_deleted_by_hand_is_made_again_the_same_day,
    all_day_copies_are_written_in_the_target_mailbox_zone,
    a_range_graph_keeps_failing_is_read_in_halves,
    a_signal_stops_the_run_at_a_safe_point_and_leaves_a_trace,
    a_silent_graph_is_given_up_on_in_bounded_time,
);
