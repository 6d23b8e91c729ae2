//! `calsync validate` end to end: a good sync, then the fake's target calendar
//! is tampered with as a person (or a bug) might, and validate must say what
//! is wrong, write nothing, and exit 4.

use crate::common::*;
use serde_json::{Value, json};

/// A world with a good sync behind it: two public events and a private one.
fn synced() -> World {
    let w = World::new();
    w.add_source(public_event("Open day", 3, 10));
    w.add_source(public_event("Concert", 5, 18));
    w.add_source(secret_event("private", 4, 9));
    w.sync();
    w
}

/// The id of the managed copy with this subject.
fn copy_id(w: &World, subject: &str) -> String {
    w.managed()
        .into_iter()
        .find(|(_, e)| e["subject"] == subject)
        .and_then(|(_, e)| e["id"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no copy named {subject}: {:#?}", w.target_events()))
}

/// The id of the source event with this subject.
fn source_id(w: &World, subject: &str) -> String {
    w.fake
        .events(MAILBOX, &w.source_id)
        .into_iter()
        .find(|e| e["subject"] == subject)
        .and_then(|e| e["id"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no source event named {subject}"))
}

/// Runs `validate --json`, checks it wrote nothing to Graph and printed one
/// JSON document, and returns the exit code and the document.
fn validate(w: &World) -> (i32, Value, Run) {
    let writes = w.fake.writes_applied();
    w.fake.clear_requests();
    let run = w.run(&["validate", "--json"]);
    assert_eq!(w.fake.writes_applied(), writes, "validate wrote:\n{run}");
    let graph_writes: Vec<String> = w
        .fake
        .requests()
        .iter()
        .filter(|r| !r.path.contains("oauth2") && r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(graph_writes.is_empty(), "{graph_writes:?}");
    let doc = run.json();
    (run.code, doc, run)
}

/// The problems of one kind.
fn of_kind<'a>(doc: &'a Value, kind: &str) -> Vec<&'a Value> {
    doc["problems"]
        .as_array()
        .expect("a problems array")
        .iter()
        .filter(|p| p["kind"] == kind)
        .collect()
}

fn assert_only(doc: &Value, kind: &str, n: usize) {
    assert_eq!(doc["counts"][kind], n, "{doc:#}");
    assert_eq!(doc["counts"]["total"], n, "{doc:#}");
    assert_eq!(doc["clean"], false);
}

#[test]
fn a_clean_calendar_validates_with_exit_0_and_no_write() {
    let w = synced();
    // A copy calsync made long ago, now in the past: left alone, not a problem.
    let mut old = public_event("Last year's fair", -300, 10);
    old["singleValueExtendedProperties"] = json!([
        {"id": "String {5d2c6a0e-8b1f-4e5a-9c3d-7a41f02b6e19} Name calsyncSourceKey", "value": "i:gone-long-ago"},
        {"id": "String {5d2c6a0e-8b1f-4e5a-9c3d-7a41f02b6e19} Name calsyncContentHash", "value": "0"}
    ]);
    old["body"] = json!({"contentType": "text", "content": ""});
    old["location"] = json!({"displayName": ""});
    w.add_target(old);
    // An event added to the public calendar by hand is none of calsync's business.
    w.add_target(public_event("Added by hand", 3, 12));

    let (code, doc, run) = validate(&w);
    assert_eq!(code, 0, "{run}");
    assert_eq!(doc["clean"], true);
    assert_eq!(doc["counts"]["total"], 0);
    assert_eq!(doc["problems"], json!([]));
    assert_eq!(doc["checked"]["public_source_events"], 2);
    assert_eq!(doc["checked"]["non_public_source_events"], 1);
    assert_eq!(doc["checked"]["managed_in_window"], 2);
    assert_eq!(doc["checked"]["managed_copies"], 3);

    let text = w.run(&["validate"]);
    assert_eq!(text.code, 0, "{text}");
    assert!(text.stdout.contains("no problems"), "{text}");
    Exposed::new()
        .target(&w)
        .run("validate --json", &run)
        .run("validate", &text)
        .assert_free_of(&[CANARY]);

    let history = std::fs::read_to_string(w.state_dir().join("history.jsonl")).unwrap();
    let last: Value = serde_json::from_str(history.lines().last().unwrap()).unwrap();
    assert_eq!(last["command"], "validate");
    assert_eq!(last["outcome"], "clean");
}

/// Tampers with the target of a [`synced`] world; validate must then exit 4
/// with exactly one problem, of `kind`, whose fields include `expected`'s.
/// Returns the world, the problem and the run, for what a case checks more.
fn finds_one_problem(tamper: fn(&World), kind: &str, expected: Value) -> (World, Value, Run) {
    let w = synced();
    tamper(&w);
    let (code, doc, run) = validate(&w);
    assert_eq!(code, 4, "{run}");
    assert_only(&doc, kind, 1);
    let p = of_kind(&doc, kind)[0].clone();
    for (field, value) in expected.as_object().expect("an object") {
        assert_eq!(&p[field], value, "{field} of {p:#}");
    }
    (w, p, run)
}

/// [`finds_one_problem`], for cases that check nothing more.
fn one_problem(tamper: fn(&World), kind: &str, expected: Value) {
    finds_one_problem(tamper, kind, expected);
}

test_cases! { one_problem;
    a_copy_edited_by_hand_is_stale: (
        |w| {
            w.fake.update_event(
                MAILBOX,
                &copy_id(w, "Open day"),
                json!({"subject": "Open day (cancelled?)", "showAs": "free"}),
            );
        },
        "stale",
        json!({"subject": "Open day", "fields": ["subject", "show_as"]}),
    ),
    a_copy_whose_source_was_deleted_is_an_orphan: (
        |w| w.fake.delete_event(MAILBOX, &source_id(w, "Concert")),
        "orphan",
        json!({"subject": "Concert"}),
    ),
    a_second_copy_of_one_source_is_a_duplicate: (
        |w| {
            let (_, original) = w
                .managed()
                .into_iter()
                .find(|(_, e)| e["subject"] == "Open day")
                .unwrap();
            let mut twin = json!({});
            for k in [
                "subject",
                "start",
                "end",
                "isAllDay",
                "showAs",
                "singleValueExtendedProperties",
            ] {
                twin[k] = original[k].clone();
            }
            twin["body"] = json!({"contentType": "text", "content": ""});
            twin["location"] = json!({"displayName": ""});
            w.add_target(twin);
        },
        "duplicate",
        json!({"subject": "Open day"}),
    ),
}

#[test]
fn a_deleted_copy_is_missing() {
    let (w, p, _) = finds_one_problem(
        |w| w.fake.delete_event(MAILBOX, &copy_id(w, "Concert")),
        "missing",
        json!({"subject": "Concert"}),
    );
    let start = p["start"].as_str().unwrap();
    assert!(
        start.starts_with(&date(5).format("%Y-%m-%d").to_string()) && start.ends_with("T18:00:00Z"),
        "{start}"
    );
    // A full sync fixes it (incremental runs trust their own record of the
    // target until the next full reconciliation), and validate agrees.
    let full = w.run(&["sync", "--full"]);
    assert_eq!(full.code, 0, "{full}");
    assert_eq!(validate(&w).0, 0);
}

#[test]
fn a_copy_of_an_event_made_private_is_a_leak_without_its_subject() {
    let (w, p, run) = finds_one_problem(
        |w| {
            w.fake.update_event(
                MAILBOX,
                &source_id(w, "Concert"),
                json!({"sensitivity": "private", "subject": format!("{CANARY} concert")}),
            );
        },
        "leak",
        json!({"subject": null}),
    );
    assert!(p["detail"].as_str().unwrap().contains("not public"), "{p}");
    let text = w.run(&["validate"]);
    assert_eq!(text.code, 4, "{text}");
    assert!(text.stdout.contains("leak"), "{text}");
    assert!(text.stdout.contains("(not public)"), "{text}");
    Exposed::new()
        .run("validate --json", &run)
        .run("validate", &text)
        .assert_free_of(&[CANARY]);
}

#[test]
fn a_copy_holding_forbidden_fields_is_a_leak_naming_them() {
    let (_, _, run) = finds_one_problem(
        |w| {
            w.fake.update_event(
                MAILBOX,
                &copy_id(w, "Open day"),
                json!({
                    "body": {"contentType": "html", "content": format!("<p>{CANARY} door code</p>")},
                    "location": {"displayName": format!("{CANARY} back office")},
                    "attendees": [{"type": "required", "emailAddress": {"name": "Chair", "address": "chair@contoso.example"}}],
                    "isOnlineMeeting": true,
                }),
            );
        },
        "leak",
        json!({
            "subject": "Open day",
            "fields": ["body", "location", "attendees", "online_meeting"],
        }),
    );
    // The leaked content itself is never printed.
    Exposed::new()
        .run("validate --json", &run)
        .assert_free_of(&[CANARY, "chair@contoso"]);
}

#[test]
fn a_copy_stranded_outside_the_window_is_out_of_window() {
    // A copy made while the window reached further back...
    let w = World::new();
    let source = w.add_source(public_event("Open day", -2, 10));
    let wide = w.config_file("past_days = 5\n");
    let run = w.run(&["--config", wide.to_str().unwrap(), "sync"]);
    assert_eq!(run.code, 0, "{run}");
    let stranded = copy_id(&w, "Open day");
    // ...whose source then moves into today's window: sync never touches
    // the old copy again, so the event would show twice.
    let new_start = day(3) + chrono::Duration::hours(10);
    let fmt = |t: chrono::DateTime<chrono::Utc>| json!({"dateTime": t.format("%Y-%m-%dT%H:%M:%S").to_string(), "timeZone": "UTC"});
    w.fake.update_event(
        MAILBOX,
        &source,
        json!({"start": fmt(new_start), "end": fmt(new_start + chrono::Duration::hours(1))}),
    );
    let (code, doc, run) = validate(&w);
    assert_eq!(code, 4, "{run}");
    assert_eq!(doc["counts"]["out_of_window"], 1, "{doc:#}");
    assert_eq!(doc["counts"]["missing"], 1, "{doc:#}");
    let p = of_kind(&doc, "out_of_window")[0];
    assert_eq!(p["subject"], "Open day");
    assert_eq!(p["target_id"], stranded.as_str());
    let old_start = day(-2) + chrono::Duration::hours(10);
    assert_eq!(
        p["start"],
        old_start.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    );
    // After a sync, the stranded copy is all that is left to report.
    w.sync();
    let (code, doc, _) = validate(&w);
    assert_eq!(code, 4);
    assert_only(&doc, "out_of_window", 1);
}

#[test]
fn the_text_report_lists_each_problem_and_a_summary() {
    let w = synced();
    w.fake.delete_event(MAILBOX, &copy_id(&w, "Concert"));
    w.fake.update_event(
        MAILBOX,
        &copy_id(&w, "Open day"),
        json!({"subject": "Open"}),
    );
    let run = w.run(&["validate"]);
    assert_eq!(run.code, 4, "{run}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("stale") && l.contains("Open day")),
        "{run}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("missing") && l.contains("Concert")),
        "{run}"
    );
    assert!(
        run.stdout.contains("2 problems: 1 missing, 1 stale"),
        "{run}"
    );
    let history = std::fs::read_to_string(w.state_dir().join("history.jsonl")).unwrap();
    let last: Value = serde_json::from_str(history.lines().last().unwrap()).unwrap();
    assert_eq!(last["outcome"], "problems");
    assert_eq!(last["error"], "2 problems: 1 missing, 1 stale");
}

#[test]
fn validate_reads_with_the_same_policy_as_sync() {
    // With locations copied, a copy's location is expected, not a leak.
    let w = World::new();
    w.add_source(public_event("Open day", 3, 10));
    let config = w.config_file("[copy]\nlocation = true\n");
    let cfg = config.to_str().unwrap();
    let run = w.run(&["--config", cfg, "sync"]);
    assert_eq!(run.code, 0, "{run}");
    let ok = w.run(&["--config", cfg, "validate", "--json"]);
    assert_eq!(ok.code, 0, "{ok}");
    // Without that setting the same calendar leaks the location.
    let (code, doc, run) = validate(&w);
    assert_eq!(code, 4, "{run}");
    assert_only(&doc, "leak", 1);
    assert_eq!(of_kind(&doc, "leak")[0]["fields"], json!(["location"]));
}

#[test]
fn an_unreachable_graph_fails_with_exit_1_and_is_recorded() {
    let w = World::new();
    let mut cmd = w.command(&["validate", "--json"]);
    cmd.env("CALSYNC_GRAPH_URL", "http://127.0.0.1:9/v1.0");
    let run = Run::from(cmd.output().unwrap());
    assert_eq!(run.code, 1, "{run}");
    assert!(run.json()["error"].is_string(), "{run}");
    let history = std::fs::read_to_string(w.state_dir().join("history.jsonl")).unwrap();
    let last: Value = serde_json::from_str(history.lines().last().unwrap()).unwrap();
    assert_eq!(last["command"], "validate");
    assert_eq!(last["outcome"], "failed");
}
