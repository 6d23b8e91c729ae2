//! Bad input: a one-paragraph error naming the cause and the fix,
//! the contract's exit code, and no write — for configuration errors, not
//! even a request.

use crate::common::*;

fn assert_config_error(w: &World, run: &Run, mentions: &[&str]) {
    assert_eq!(run.code, 2, "{run}");
    for m in mentions {
        assert!(
            run.stderr.contains(m),
            "the error should mention {m:?}:\n{run}"
        );
    }
    assert!(
        w.fake.requests().is_empty(),
        "a configuration error still sent {} requests",
        w.fake.requests().len()
    );
    assert!(!run.stderr.contains("panicked"), "{run}");
}

#[test]
fn malformed_toml_names_the_file_and_line() {
    let w = World::new();
    let path = w.config_file("past_days = 3\ncutoff_days = [\n");
    let run = w.run(&["--config", path.to_str().unwrap(), "sync"]);
    assert_config_error(&w, &run, &["calsync.toml"]);
}

#[test]
fn unknown_key_is_named() {
    let w = World::new();
    let path = w.config_file("source_calender = \"Calendar\"\n");
    let run = w.run(&["--config", path.to_str().unwrap(), "sync"]);
    assert_config_error(&w, &run, &["source_calender"]);
}

#[test]
fn bad_values_name_the_key_and_what_was_expected() {
    for (text, key) in [
        ("past_days = -1\n", "past_days"),
        ("cutoff_days = \"soon\"\n", "cutoff_days"),
        ("max_delete_fraction = 1.5\n", "max_delete_fraction"),
        ("cloud = \"mars\"\n", "cloud"),
        ("token_store = \"plaintext\"\n", "token_store"),
        ("[filter]\nsensitivity = [\"public\"]\n", "sensitivity"),
        (
            "[filter]\nsubject_exclude = \"([unclosed\"\n",
            "subject_exclude",
        ),
        ("[copy]\nattendees = true\n", "attendees"),
    ] {
        let w = World::new();
        let path = w.config_file(text);
        let run = w.run(&["--config", path.to_str().unwrap(), "sync"]);
        assert_config_error(&w, &run, &[key]);
    }
}

#[test]
fn bad_environment_values_name_the_variable_or_key() {
    let w = World::new();
    let mut cmd = w.command(&["sync"]);
    cmd.env("CALSYNC_PAST_DAYS", "yesterday");
    let run = Run::from(cmd.output().unwrap());
    assert_config_error(&w, &run, &["past_days"]);
}

#[test]
fn plain_http_is_refused_for_a_non_loopback_endpoint() {
    let w = World::new();
    let mut cmd = w.command(&["sync"]);
    cmd.env("CALSYNC_GRAPH_URL", "http://graph.example.org/v1.0");
    let run = Run::from(cmd.output().unwrap());
    assert_config_error(&w, &run, &["graph_url", "https"]);
}

#[test]
fn a_missing_named_config_file_is_an_error_but_a_missing_default_is_not() {
    let w = World::new();
    let run = w.run(&["--config", "/nonexistent/calsync.toml", "sync", "--dry-run"]);
    assert_config_error(&w, &run, &["/nonexistent/calsync.toml"]);
    let mut cmd = w.command(&["sync", "--dry-run"]);
    cmd.env("CALSYNC_CONFIG", "/nonexistent/env.toml");
    let run = Run::from(cmd.output().unwrap());
    assert_config_error(&w, &run, &["/nonexistent/env.toml", "CALSYNC_CONFIG"]);
    // No file at the default place is fine.
    let ok = w.run(&["sync", "--dry-run"]);
    assert_eq!(ok.code, 0, "{ok}");
}

#[test]
fn missing_required_settings_are_named() {
    let w = World::new();
    let mut cmd = w.command(&["sync"]);
    cmd.env_remove("CALSYNC_TENANT_ID");
    let run = Run::from(cmd.output().unwrap());
    assert_config_error(&w, &run, &["tenant_id", "CALSYNC_TENANT_ID"]);

    let mut cmd = w.command(&["sync"]);
    cmd.env_remove("CALSYNC_MAILBOX");
    let run = Run::from(cmd.output().unwrap());
    assert_config_error(&w, &run, &["mailbox"]);
}

#[test]
fn seed_service_variable_names_are_accepted() {
    let w = World::new();
    w.add_source(public_event("Open day", 3, 10));
    let mut cmd = w.command(&["sync"]);
    cmd.env_remove("CALSYNC_TENANT_ID")
        .env_remove("CALSYNC_CLIENT_ID")
        .env_remove("CALSYNC_CLIENT_SECRET")
        .env_remove("CALSYNC_MAILBOX")
        .env("TENANT_ID", TENANT)
        .env("CLIENT_ID", CLIENT_ID)
        .env("CLIENT_SECRET", SECRET)
        .env("SHARED_MAILBOX", MAILBOX)
        .env("TARGET_CALENDAR", TARGET);
    let run = Run::from(cmd.output().unwrap());
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(w.target_subjects(), ["Open day"]);
}

#[test]
fn an_unknown_calendar_lists_the_names_that_exist() {
    let w = World::new();
    w.add_source(public_event("Open day", 3, 10));
    let mut cmd = w.command(&["sync"]);
    cmd.env("CALSYNC_TARGET_CALENDAR", "Pubic Calendar");
    let run = Run::from(cmd.output().unwrap());
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("Pubic Calendar"), "{run}");
    assert!(run.stderr.contains("\"Public Calendar\""), "{run}");
    assert!(run.stderr.contains("target_calendar"), "{run}");
    assert_eq!(w.fake.writes_applied(), 0);
}

#[test]
fn wrong_secret_is_an_authentication_error() {
    let w = World::new();
    let mut cmd = w.command(&["sync"]);
    cmd.env("CALSYNC_CLIENT_SECRET", "not-the-secret");
    let run = Run::from(cmd.output().unwrap());
    assert_eq!(run.code, 3, "{run}");
    assert!(run.stderr.contains("client_secret"), "{run}");
    assert_eq!(w.fake.writes_applied(), 0);
}

#[test]
fn unreachable_graph_is_exit_1_naming_the_endpoint() {
    let w = World::new();
    // A loopback port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = w.command(&["sync"]);
    cmd.env("CALSYNC_GRAPH_URL", format!("http://127.0.0.1:{port}/v1.0"));
    let run = Run::from(cmd.output().unwrap());
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stderr.contains(&format!("127.0.0.1:{port}")), "{run}");
}

#[test]
fn json_errors_are_one_document_on_stdout() {
    let w = World::new();
    let mut cmd = w.command(&["sync", "--json"]);
    cmd.env_remove("CALSYNC_TENANT_ID");
    let run = Run::from(cmd.output().unwrap());
    assert_eq!(run.code, 2, "{run}");
    let doc = run.json();
    assert_eq!(doc["exit_code"], 2);
    assert!(doc["error"].as_str().unwrap().contains("tenant_id"));
}

#[test]
fn with_json_logs_the_error_is_one_json_log_line() {
    let w = World::new();
    let mut cmd = w.command(&["--log-format", "json", "sync"]);
    cmd.env_remove("CALSYNC_TENANT_ID");
    let run = Run::from(cmd.output().unwrap());
    assert_eq!(run.code, 2, "{run}");
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 1, "{run}");
    let line: serde_json::Value = serde_json::from_str(lines[0]).expect("a JSON log line");
    assert_eq!(line["level"], "ERROR");
    assert_eq!(line["exit_code"], 2);
    assert!(
        line["message"].as_str().unwrap().contains("tenant_id"),
        "{run}"
    );
}
