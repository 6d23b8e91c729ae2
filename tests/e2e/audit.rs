//! The audit trail end to end: `changes.jsonl`, `calsync history RUN_ID`
//! and `calsync explain`, and that no private content reaches any of them.

use crate::common::*;
use serde_json::{Value, json};

fn run_id(run: &Run) -> String {
    let doc = w_json(run);
    doc["run_id"].as_str().expect("a run id").to_string()
}

fn w_json(run: &Run) -> Value {
    run.json()
}

fn sync_json(w: &World, args: &[&str]) -> String {
    let mut all = vec!["sync", "--json"];
    all.extend_from_slice(args);
    let run = w.run(&all);
    assert_eq!(run.code, 0, "{run}");
    run_id(&run)
}

/// (action, subject) of each change of a `history RUN_ID --json` document.
fn actions(doc: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = doc["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            (
                c["action"].as_str().unwrap_or_default().to_string(),
                c["subject"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn history_of_a_run_lists_exactly_the_changes_it_applied() {
    let w = World::new();
    let talk = w.add_source(public_event("Talk", 2, 10));
    let gone = w.add_source(public_event("Gets deleted", 3, 10));
    let turns = w.add_source(public_event("Becomes private", 4, 10));
    w.add_source(secret_event("private", 5, 10));
    let first = sync_json(&w, &[]);

    w.fake
        .update_event(MAILBOX, &talk, json!({"subject": "Talk (room 2)"}));
    w.fake.delete_event(MAILBOX, &gone);
    w.fake.update_event(
        MAILBOX,
        &turns,
        json!({"sensitivity": "private", "subject": format!("{CANARY} now private")}),
    );
    let second = sync_json(&w, &[]);
    let dry = w.run(&["sync", "--dry-run", "--json"]);
    assert_eq!(dry.code, 0, "{dry}");

    let one = w.run(&["history", &first, "--json"]);
    assert_eq!(one.code, 0, "{one}");
    let doc = one.json();
    assert_eq!(doc["run"]["id"], first.as_str());
    assert_eq!(
        actions(&doc),
        [
            ("create".to_string(), "Becomes private".to_string()),
            ("create".to_string(), "Gets deleted".to_string()),
            ("create".to_string(), "Talk".to_string()),
        ]
    );
    let managed = w.managed();
    for c in doc["changes"].as_array().unwrap() {
        let id = c["target_id"].as_str().unwrap();
        assert!(
            c["source_key"].as_str().is_some_and(|k| !k.is_empty()),
            "{c}"
        );
        if c["subject"] == "Talk" {
            assert!(managed.iter().any(|(_, e)| e["id"] == id), "{c}");
        }
    }

    let two = w.run(&["history", &second, "--json"]);
    assert_eq!(two.code, 0, "{two}");
    let doc = two.json();
    assert_eq!(
        actions(&doc),
        [
            ("delete".to_string(), "Becomes private".to_string()),
            ("delete".to_string(), "Gets deleted".to_string()),
            ("update".to_string(), "Talk (room 2)".to_string()),
        ]
    );
    let update = doc["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["action"] == "update")
        .unwrap();
    assert_eq!(update["changed"][0]["field"], "subject", "{update}");
    assert_eq!(update["changed"][0]["old"], "Talk", "{update}");

    let table = w.run(&["history", &second]);
    assert_eq!(table.code, 0, "{table}");
    assert!(table.stdout.contains("ACTION"), "{table}");
    assert!(table.stdout.contains("Talk (room 2)"), "{table}");
    assert!(table.stdout.contains("subject"), "{table}");

    // The dry run recorded no change.
    let trail = std::fs::read_to_string(w.state_dir().join("changes.jsonl")).unwrap();
    assert_eq!(trail.lines().count(), 6, "{trail}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(w.state_dir().join("changes.jsonl"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let missing = w.run(&["history", "0123456789abcdef"]);
    assert_eq!(missing.code, 2, "{missing}");
    assert!(missing.stderr.contains("0123456789abcdef"), "{missing}");

    Exposed::new()
        .run("history of the first run", &one)
        .run("history of the second run", &two)
        .run("the table", &table)
        .state_but_tokens(&w.state_dir())
        .assert_free_of(&[CANARY]);
}

#[test]
fn explain_says_why_an_event_is_not_published_and_which_run_made_a_copy() {
    let w = World::new();
    w.add_source(public_event("Open day", 2, 10));
    let mut cancelled = public_event("Board dinner", 3, 10);
    cancelled["isCancelled"] = json!(true);
    w.add_source(cancelled);
    w.add_source(secret_event("private", 4, 10));
    let created = sync_json(&w, &[]);

    let open = w.run(&["explain", "open DAY", "--json"]);
    assert_eq!(open.code, 0, "{open}");
    let doc = open.json();
    let found = &doc["pairs"][0]["found"];
    assert_eq!(found.as_array().unwrap().len(), 1, "{doc}");
    assert_eq!(found[0]["status"], "public");
    assert_eq!(found[0]["runs"][0]["run"], created.as_str(), "{doc}");
    assert_eq!(found[0]["runs"][0]["action"], "create", "{doc}");
    assert!(found[0]["target_id"].is_string(), "{doc}");

    let dinner = w.run(&["explain", "dinner"]);
    assert_eq!(dinner.code, 0, "{dinner}");
    assert!(dinner.stdout.contains("cancelled"), "{dinner}");
    assert!(!dinner.stdout.contains("Board dinner"), "{dinner}");

    // TEXT that matches the private subject finds nothing; --at finds the
    // event by its time, with the reason only.
    let probe = w.run(&["explain", CANARY]);
    assert_eq!(probe.code, 0, "{probe}");
    assert!(probe.stdout.contains("Nothing matched"), "{probe}");
    let day = date(4).format("%Y-%m-%d").to_string();
    let at = w.run(&["explain", "--at", &day, "--json"]);
    assert_eq!(at.code, 0, "{at}");
    let doc = at.json();
    assert_eq!(doc["pairs"][0]["found"][0]["status"], "not_public", "{doc}");
    assert_eq!(doc["pairs"][0]["found"][0]["reason"], "private", "{doc}");
    let at_text = w.run(&["explain", "--at", &day]);
    assert!(at_text.stdout.contains("non-public event"), "{at_text}");

    Exposed::new()
        .run("explain open day", &open)
        .run("explain dinner", &dinner)
        .run("explain the canary", &probe)
        .run("explain --at", &at)
        .run("explain --at (text)", &at_text)
        .state_but_tokens(&w.state_dir())
        .assert_free_of(&[CANARY]);
}
