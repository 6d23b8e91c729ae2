//! Logs as an operator meets them: JSON lines that a collector can parse,
//! each naming its run; quiet scheduled runs; levels from -v, -q and RUST_LOG.

use crate::common::*;
use serde_json::Value;

fn world() -> World {
    let w = World::new();
    w.add_source(public_event("Open day", 3, 10));
    w.add_source(public_event("Concert", 4, 19));
    w.add_source(secret_event("confidential", 5, 9));
    w
}

/// The history line of the last run.
fn last_history(w: &World) -> Value {
    let text = std::fs::read_to_string(w.state_dir().join("history.jsonl")).unwrap();
    serde_json::from_str(text.lines().last().unwrap()).unwrap()
}

#[test]
fn json_log_lines_parse_and_carry_the_run_id() {
    let w = world();
    let run = w.run(&["--log-format", "json", "-vv", "sync", "--json"]);
    assert_eq!(run.code, 0, "{run}");
    let run_id = run.json()["run_id"].as_str().unwrap().to_string();
    assert_eq!(last_history(&w)["id"], run_id.as_str());

    let lines: Vec<Value> = run
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}\n{run}")))
        .collect();
    assert!(lines.len() >= 5, "{run}");
    for l in &lines {
        assert_eq!(l["run_id"], run_id.as_str(), "line without the run id: {l}");
        for key in ["timestamp", "level", "target", "message"] {
            assert!(l[key].is_string(), "{key} missing: {l}");
        }
        assert!(
            chrono::DateTime::parse_from_rfc3339(l["timestamp"].as_str().unwrap()).is_ok(),
            "{l}"
        );
    }
    let find = |message: &str| {
        lines
            .iter()
            .find(|l| l["message"] == message)
            .unwrap_or_else(|| panic!("no {message:?} line in\n{}", run.stderr))
    };
    // Counts as numbers, not inside the text.
    let plan = find("plan ready");
    assert_eq!(plan["creates"], 2);
    assert_eq!(plan["skipped_non_public"], 1);
    let done = find("sync finished");
    assert_eq!(done["created"], 2);
    assert_eq!(done["outcome"], "success");
    assert!(done["requests"].as_u64().unwrap() > 0);
    assert!(done["duration_ms"].is_u64());
    // Graph requests are logged with Graph's request id at debug.
    let graph: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "graph request")
        .collect();
    assert!(!graph.is_empty(), "{run}");
    assert!(
        graph
            .iter()
            .all(|l| l["status"].is_u64() && l["request_id"].is_string()),
        "{graph:?}"
    );
    assert!(graph.iter().any(|l| l["request_id"] != ""), "{graph:?}");
    // Nothing private, and no secret, at debug level either.
    Exposed::new()
        .target(&w)
        .run("the debug run", &run)
        .assert_free_of(&[CANARY, SECRET]);
}

#[test]
fn text_logs_name_the_run_too() {
    let w = world();
    let run = w.run(&["-v", "sync"]);
    assert_eq!(run.code, 0, "{run}");
    let id = last_history(&w)["id"].as_str().unwrap().to_string();
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert!(!lines.is_empty(), "{run}");
    assert!(
        lines.iter().all(|l| l.contains(&format!("run_id={id}"))),
        "{run}"
    );
    assert!(
        !run.stderr.contains('\u{1b}'),
        "colour codes in a pipe: {run}"
    );
}

#[test]
fn scheduled_runs_are_quiet_but_for_the_summary() {
    let w = world();
    for args in [&["sync"][..], &["-q", "sync"]] {
        let run = w.run(args);
        assert_eq!(run.code, 0, "{run}");
        assert_eq!(run.stderr, "", "{args:?} logged: {run}");
        let summary: Vec<&str> = run.stdout.lines().collect();
        assert_eq!(summary.len(), 1, "{run}");
        let s = summary[0];
        for part in [
            "Created ",
            "updated ",
            "deleted ",
            " unchanged",
            " skipped (1 confidential)",
            " s, ",
            " requests to Graph",
        ] {
            assert!(s.contains(part), "{part:?} missing from the summary: {s}");
        }
    }
    // RUST_LOG is honoured without -v/-q, and -q beats it.
    let run = w.run_with_env(&["sync"], &[("RUST_LOG", "calsync=info")]);
    assert!(run.stderr.contains("sync finished"), "{run}");
    let run = w.run_with_env(&["-q", "sync"], &[("RUST_LOG", "calsync=info")]);
    assert_eq!(run.stderr, "", "{run}");
}

trait RunWithEnv {
    fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run;
}

impl RunWithEnv for World {
    fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = self.command(args);
        cmd.envs(env.iter().copied());
        Run::from(cmd.output().expect("the calsync binary runs"))
    }
}

/// What a log collector or a script reads: the final error as one JSON line
/// with its causes as an array and the run's id; times in RFC 3339;
/// `CALSYNC_LOG_FORMAT` as good as the flag; and under `--json` one JSON
/// document on stdout even for a command line clap refuses.
#[test]
fn machine_output_is_machine_readable_throughout() {
    let w = world();
    // A run that fails inside (the token endpoint refuses the secret).
    let run = w.run_with_env(
        &["sync"],
        &[
            ("CALSYNC_LOG_FORMAT", "json"),
            ("CALSYNC_CLIENT_SECRET", "not-the-secret"),
        ],
    );
    assert_eq!(run.code, 3, "{run}");
    let lines: Vec<Value> = run
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}\n{run}")))
        .collect();
    let error = lines.last().unwrap();
    assert_eq!(error["level"], "ERROR", "{run}");
    assert_eq!(error["exit_code"], 3, "{run}");
    assert!(
        error["causes"].is_array(),
        "causes is not an array: {error}"
    );
    assert_eq!(error["run_id"], last_history(&w)["id"], "{error}");

    // Times as RFC 3339, in every field that holds one.
    let run = w.run(&["--log-format", "json", "-vv", "sync", "--full"]);
    assert_eq!(run.code, 0, "{run}");
    let mut times = 0;
    for line in run.stderr.lines() {
        let l: Value = serde_json::from_str(line).unwrap();
        for key in ["window_start", "window_end"] {
            if let Some(t) = l[key].as_str() {
                chrono::DateTime::parse_from_rfc3339(t)
                    .unwrap_or_else(|e| panic!("{key} {t:?} is not RFC 3339 ({e})"));
                times += 1;
            }
        }
    }
    assert!(times >= 2, "{run}");

    // A usage error under --json.
    let run = w.run(&["sync", "--json", "--dryrun"]);
    assert_eq!(run.code, 2, "{run}");
    let doc: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{run}"));
    assert_eq!(doc["exit_code"], 2, "{run}");
    assert!(doc["error"].as_str().unwrap().contains("--dryrun"), "{run}");
    assert!(run.stderr.contains("Usage:"), "{run}");
    // Without --json, clap's message alone, and nothing on stdout.
    let run = w.run(&["sync", "--dryrun"]);
    assert_eq!(run.code, 2, "{run}");
    assert_eq!(run.stdout, "", "{run}");

    // The flag beats the variable; an empty one is unset, a wrong one is
    // a usage error naming it.
    let run = w.run_with_env(
        &["--log-format", "text", "-v", "sync"],
        &[("CALSYNC_LOG_FORMAT", "json")],
    );
    assert_eq!(run.code, 0, "{run}");
    assert!(!run.stderr.starts_with('{'), "{run}");
    let run = w.run_with_env(&["-v", "sync"], &[("CALSYNC_LOG_FORMAT", "")]);
    assert_eq!(run.code, 0, "{run}");
    assert!(!run.stderr.starts_with('{'), "{run}");
    let run = w.run_with_env(&["sync"], &[("CALSYNC_LOG_FORMAT", "xml")]);
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("CALSYNC_LOG_FORMAT"), "{run}");
}
