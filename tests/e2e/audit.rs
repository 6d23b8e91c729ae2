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
