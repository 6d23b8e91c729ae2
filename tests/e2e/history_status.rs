//! `calsync history` and `calsync status` end to end: the built binary over a
//! state directory written by real runs or by hand.

use crate::common::*;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

/// One history line as calsync writes it.
fn line(id: &str, command: &str, outcome: &str, finished: DateTime<Utc>) -> String {
    json!({
        "id": id,
        "command": command,
        "started": (finished - Duration::seconds(2)).to_rfc3339(),
        "finished": finished.to_rfc3339(),
        "duration_ms": 2000,
        "outcome": outcome,
        "counts": {"created": 1, "updated": 2, "deleted": 3, "unchanged": 4, "skipped_non_public": 0, "failed": 0},
        "error": if outcome == "failed" { json!("Graph is unavailable") } else { Value::Null },
        "metrics": {"requests": 4, "operations": 4, "retries": 0, "throttled": 0, "mean_latency_ms": 12.5, "p95_latency_ms": 30.0}
    })
    .to_string()
}

fn write_history(w: &World, lines: &[String]) {
    std::fs::create_dir_all(w.state_dir()).unwrap();
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(w.state_dir().join("history.jsonl"), text).unwrap();
}

fn ids(doc: &Value) -> Vec<String> {
    doc.as_array()
        .expect("a JSON array")
        .iter()
        .map(|e| e["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

// ------------------------------------------------------------------ history

#[test]
fn history_lists_runs_newest_first_with_a_limit() {
    let w = World::new();
    let now = Utc::now();
    let lines: Vec<String> = (0..30)
        .map(|i| {
            line(
                &format!("run-{i:02}"),
                "sync",
                "success",
                now - Duration::minutes(60 - i),
            )
        })
        .collect();
    write_history(&w, &lines);

    let all = w.run(&["history", "--json"]);
    assert_eq!(all.code, 0, "{all}");
    let got = ids(&all.json());
    assert_eq!(got.len(), 20, "the default limit is 20");
    assert_eq!(got[0], "run-29");
    assert_eq!(got[19], "run-10");

    let two = w.run(&["history", "--limit", "2", "--json"]);
    assert_eq!(ids(&two.json()), ["run-29", "run-28"]);
    let many = w.run(&["history", "--limit", "500", "--json"]);
    assert_eq!(ids(&many.json()).len(), 30);

    let bad = w.run(&["history", "--limit", "0"]);
    assert_eq!(bad.code, 2, "{bad}");
}

#[test]
fn history_table_is_aligned_and_shows_what_each_run_did() {
    let w = World::new();
    w.add_source(public_event("Open day", 3, 10));
    w.sync();
    assert_eq!(w.run(&["validate"]).code, 0);
    let mut cmd = w.command(&["validate"]);
    cmd.env("CALSYNC_GRAPH_URL", "http://127.0.0.1:9/v1.0");
    assert_eq!(cmd.output().unwrap().status.code(), Some(1));

    let run = w.run(&["history"]);
    assert_eq!(run.code, 0, "{run}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{run}");
    let header = lines[0];
    for h in [
        "STARTED (UTC)",
        "COMMAND",
        "OUTCOME",
        "DURATION",
        "CREATED",
        "UPDATED",
        "DELETED",
        "ERROR",
    ] {
        assert!(header.contains(h), "{header}");
    }
    // Newest first: the failed validate, the clean one, then the sync.
    assert!(
        lines[1].contains("validate") && lines[1].contains("failed"),
        "{run}"
    );
    assert!(
        lines[2].contains("validate") && lines[2].contains("clean"),
        "{run}"
    );
    assert!(
        lines[3].contains("sync") && lines[3].contains("success"),
        "{run}"
    );
    // Columns line up: each heading starts where its cells start.
    let outcome_col = header.find("OUTCOME").unwrap();
    for l in &lines[1..] {
        assert_eq!(&l[outcome_col - 2..outcome_col], "  ", "{run}");
        assert_ne!(&l[outcome_col..=outcome_col], " ", "{run}");
    }
    let created_end = header.find("CREATED").unwrap() + "CREATED".len();
    assert_eq!(&lines[3][created_end - 1..created_end], "1", "{run}");
    // The failure's first line is summarised in the last column.
    let error_col = header.find("ERROR").unwrap();
    assert!(lines[1].len() > error_col, "{run}");
}

#[test]
fn a_torn_or_corrupt_history_line_is_skipped_with_a_warning() {
    let w = World::new();
    let now = Utc::now();
    let mut lines = vec![
        line("first", "sync", "success", now - Duration::minutes(30)),
        "this is not json".to_string(),
        line("second", "sync", "failed", now - Duration::minutes(20)),
    ];
    lines.push(r#"{"id":"torn","command":"sy"#.to_string());
    write_history(&w, &lines);
    // Leave the torn line without its newline, as a crash would.
    let path = w.state_dir().join("history.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.trim_end()).unwrap();

    let run = w.run(&["history", "--json"]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(ids(&run.json()), ["second", "first"]);
    assert!(run.stderr.contains("skipping"), "{run}");
    let table = w.run(&["history"]);
    assert_eq!(table.code, 0, "{table}");
    assert!(table.stdout.contains("Graph is unavailable"), "{table}");

    // The next run's line is not glued to the torn one.
    w.add_source(public_event("Open day", 3, 10));
    w.sync();
    let after = w.run(&["history", "--json"]);
    assert_eq!(ids(&after.json()).len(), 3, "{after}");
    assert_eq!(after.json()[0]["command"], "sync");
    let status = w.run(&["status", "--json"]);
    assert_eq!(status.code, 0, "{status}");
}

#[test]
fn history_keeps_only_the_newest_thousand_runs() {
    let w = World::new();
    let now = Utc::now();
    let lines: Vec<String> = (0..1000)
        .map(|i| {
            line(
                &format!("old-{i:04}"),
                "sync",
                "success",
                now - Duration::minutes(2000 - i),
            )
        })
        .collect();
    write_history(&w, &lines);
    w.add_source(public_event("Open day", 3, 10));
    w.sync();
    assert_eq!(w.run(&["validate"]).code, 0);

    let text = std::fs::read_to_string(w.state_dir().join("history.jsonl")).unwrap();
    assert_eq!(text.lines().count(), 1000);
    let doc = w.run(&["history", "--limit", "5000", "--json"]).json();
    let got = ids(&doc);
    assert_eq!(got.len(), 1000);
    assert_eq!(doc[0]["command"], "validate");
    assert_eq!(doc[1]["command"], "sync");
    assert_eq!(got[999], "old-0002", "the two oldest runs made room");
}

#[test]
fn history_needs_no_sign_in_configuration() {
    let w = World::new();
    let mut cmd = w.command(&["history"]);
    cmd.env_remove("CALSYNC_TENANT_ID")
        .env_remove("CALSYNC_CLIENT_ID");
    let run = Run::from(cmd.output().unwrap());
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.contains("No runs recorded yet"), "{run}");
    let json = w.run(&["history", "--json"]);
    assert_eq!(json.json(), json!([]));
}

// ------------------------------------------------------------------- status

fn setting<'a>(doc: &'a Value, key: &str) -> &'a Value {
    doc["config"]
        .as_array()
        .expect("a config array")
        .iter()
        .find(|s| s["key"] == key)
        .unwrap_or_else(|| panic!("no setting {key} in {doc:#}"))
}

#[test]
fn status_json_reports_each_origin_and_no_secret() {
    let w = World::new();
    let config = w.config_file("past_days = 7\n[copy]\nlocation = true\n");
    let mut cmd = w.command(&["--config", config.to_str().unwrap(), "status", "--json"]);
    cmd.env("TARGET_CALENDAR", "Website");
    let run = Run::from(cmd.output().unwrap());
    assert_eq!(run.code, 0, "{run}");
    Exposed::new()
        .run("status --json", &run)
        .assert_free_of(&[SECRET]);
    let doc = run.json();

    let secret = setting(&doc, "client_secret");
    assert_eq!(secret["origin"], "env");
    assert_eq!(secret["variable"], "CALSYNC_CLIENT_SECRET");
    assert!(
        secret["value"].as_str().unwrap().contains("masked"),
        "{secret}"
    );

    let config_setting = setting(&doc, "config");
    assert_eq!(config_setting["origin"], "flag");
    assert_eq!(config_setting["value"], config.to_str().unwrap());

    let tenant = setting(&doc, "tenant_id");
    assert_eq!(tenant["origin"], "env");
    assert_eq!(tenant["variable"], "CALSYNC_TENANT_ID");
    assert_eq!(tenant["value"], TENANT);

    // The seed service's name is accepted and reported as such.
    let target = setting(&doc, "target_calendar");
    assert_eq!(target["origin"], "env");
    assert_eq!(target["variable"], "TARGET_CALENDAR");
    assert_eq!(target["value"], "Website");

    assert_eq!(setting(&doc, "past_days")["origin"], "file");
    assert_eq!(setting(&doc, "past_days")["value"], 7);
    assert_eq!(setting(&doc, "copy.location")["origin"], "file");
    assert_eq!(setting(&doc, "copy.location")["value"], true);
    let cloud = setting(&doc, "cloud");
    assert_eq!(cloud["origin"], "default");
    assert!(cloud.get("variable").is_none());
    assert_eq!(setting(&doc, "source_calendar")["value"], "Calendar");

    assert_eq!(doc["missing"], json!([]));
    assert_eq!(doc["auth"]["method"], "client_credentials");
    assert_eq!(doc["lock"]["held"], false);
    assert_eq!(doc["last_run"], Value::Null);

    // The text form hides the secret too and names the origins.
    let mut cmd = w.command(&["--config", config.to_str().unwrap(), "status"]);
    cmd.env("TARGET_CALENDAR", "Website");
    let text = Run::from(cmd.output().unwrap());
    assert_eq!(text.code, 0, "{text}");
    Exposed::new()
        .run("status", &text)
        .assert_free_of(&[SECRET]);
    assert!(
        text.stdout.contains("environment (TARGET_CALENDAR)"),
        "{text}"
    );
    assert!(text.stdout.contains("config file"), "{text}");
}

#[test]
fn status_works_without_sign_in_settings_and_says_what_is_missing() {
    let w = World::new();
    let mut cmd = w.command(&["status", "--json"]);
    cmd.env_remove("CALSYNC_TENANT_ID")
        .env_remove("CALSYNC_CLIENT_ID")
        .env_remove("CALSYNC_CLIENT_SECRET");
    let run = Run::from(cmd.output().unwrap());
    assert_eq!(run.code, 0, "{run}");
    let doc = run.json();
    assert_eq!(doc["missing"], json!(["tenant_id", "client_id"]));
    assert_eq!(setting(&doc, "tenant_id")["value"], Value::Null);
    assert_eq!(setting(&doc, "client_secret")["origin"], "default");
    assert!(w.fake.requests().is_empty(), "status sent a request");
}

#[test]
fn status_shows_the_last_runs_recent_summary_and_the_lock_holder() {
    let w = World::new();
    w.add_source(public_event("Open day", 3, 10));
    w.sync();
    assert_eq!(w.run(&["validate"]).code, 0);
    w.fake.clear_requests();

    let lock = calsync::state::Lock::acquire(&w.state_dir(), "run-in-progress").unwrap();
    let run = w.run(&["status", "--json"]);
    assert_eq!(run.code, 0, "{run}");
    assert!(w.fake.requests().is_empty(), "status sent a request");
    let doc = run.json();
    assert_eq!(doc["last_run"]["command"], "validate");
    assert_eq!(doc["last_sync"]["outcome"], "success");
    assert_eq!(doc["last_success"]["command"], "sync");
    let age = doc["last_success"]["age_seconds"].as_i64().unwrap();
    assert!((0..60).contains(&age), "{age}");
    assert_eq!(doc["recent"]["runs"], 1);
    assert_eq!(doc["recent"]["success_rate"], 1.0);
    assert!(doc["recent"]["median_duration_ms"].is_u64());
    assert_eq!(doc["lock"]["held"], true);
    assert_eq!(doc["lock"]["holder"]["run_id"], "run-in-progress");
    assert_eq!(doc["lock"]["holder"]["pid"], std::process::id());

    let text = w.run(&["status"]);
    assert!(text.stdout.contains("run-in-progress"), "{text}");
    drop(lock);
    let free = w.run(&["status", "--json"]).json();
    assert_eq!(free["lock"]["held"], false);
    assert_eq!(free["lock"]["holder"], Value::Null);
    // Probing the lock never blocks a sync.
    w.sync();
}

fn max_age(w: &World, limit: &str) -> (i32, Value) {
    let run = w.run(&["status", "--json", "--max-age", limit]);
    (run.code, run.json())
}

#[test]
fn max_age_checks_the_last_successful_sync() {
    let w = World::new();
    let now = Utc::now();
    // The last success is 90 minutes old; what came after does not count.
    write_history(
        &w,
        &[
            line("s1", "sync", "success", now - Duration::minutes(300)),
            line("s2", "sync", "success", now - Duration::minutes(90)),
            line("f1", "sync", "failed", now - Duration::minutes(60)),
            line(
                "d1",
                "sync --dry-run",
                "dry_run",
                now - Duration::minutes(30),
            ),
            line("v1", "validate", "clean", now - Duration::minutes(10)),
            line("p1", "sync", "partial", now - Duration::minutes(5)),
        ],
    );
    let (code, doc) = max_age(&w, "2h");
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["max_age"]["ok"], true);
    assert_eq!(doc["max_age"]["limit_seconds"], 7200);
    assert_eq!(doc["last_success"]["id"], "s2");
    assert_eq!(doc["last_run"]["id"], "p1");

    // A minute either side of the boundary.
    assert_eq!(max_age(&w, "91m").0, 0);
    let (code, doc) = max_age(&w, "89m");
    assert_eq!(code, 4, "{doc:#}");
    assert_eq!(doc["max_age"]["ok"], false);
    let age = doc["max_age"]["last_success_age_seconds"].as_i64().unwrap();
    assert!((5400..5460).contains(&age), "{age}");
    assert_eq!(max_age(&w, "1h").0, 4);

    let text = w.run(&["status", "--max-age", "1h"]);
    assert_eq!(text.code, 4, "{text}");
    assert!(text.stderr.contains("--max-age 1h."), "{text}");
    assert!(!text.all_output().contains("1h 00m"), "{text}");
    assert_eq!(w.run(&["status", "--max-age", "1h30m1s"]).code, 0);

    // As a monitoring check runs it: one line, the limit as it was given.
    let check = w.run(&["-q", "status", "--max-age", "1h"]);
    assert_eq!(check.code, 4, "{check}");
    assert_eq!(check.stderr, "", "{check}");
    assert_eq!(check.stdout.lines().count(), 1, "{check}");
    assert!(
        check
            .stdout
            .starts_with("Last successful sync 1h 30m ago: OLDER than --max-age 1h."),
        "{check}"
    );
    let check = w.run(&["-q", "status", "--max-age", "1h45m"]);
    assert_eq!(check.code, 0, "{check}");
    assert_eq!(check.stdout.lines().count(), 1, "{check}");
    assert!(check.stdout.contains("within --max-age 1h45m."), "{check}");
}

#[test]
fn max_age_fails_when_no_sync_ever_succeeded() {
    let w = World::new();
    assert_eq!(max_age(&w, "1d").0, 4, "an empty history is too old");
    write_history(
        &w,
        &[
            line("f1", "sync", "failed", Utc::now() - Duration::minutes(1)),
            line("d1", "sync --dry-run", "dry_run", Utc::now()),
        ],
    );
    let (code, doc) = max_age(&w, "1w");
    assert_eq!(code, 4);
    assert_eq!(doc["max_age"]["last_success_age_seconds"], Value::Null);
    assert_eq!(doc["last_success"], Value::Null);
    // A real, successful sync satisfies it.
    w.add_source(public_event("Open day", 3, 10));
    w.sync();
    assert_eq!(max_age(&w, "1m").0, 0);
    let bad = w.run(&["status", "--max-age", "soon"]);
    assert_eq!(bad.code, 2, "{bad}");
}

#[test]
fn state_files_hold_no_secret_after_every_command() {
    let w = World::new();
    w.add_source(public_event("Open day", 3, 10));
    w.add_source(secret_event("private", 4, 9));
    w.sync();
    let mut exposed = Exposed::new();
    for args in [
        &["validate", "--json"][..],
        &["history", "--json"],
        &["status", "--json"],
        &["status"],
    ] {
        exposed = exposed.run(&args.join(" "), &w.run(args));
    }
    // No state file holds a token: app-only tokens are never persisted.
    let mut needles = vec![SECRET.to_string(), CANARY.to_string()];
    needles.extend(w.fake.issued_tokens());
    exposed.state(&w.state_dir()).assert_free_of(&needles);
}
