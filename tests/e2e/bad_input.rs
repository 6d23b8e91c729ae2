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

/// Runs `sync` with this config file, which must be refused as a
/// configuration error mentioning each of `mentions`.
fn refuses_config_file(text: &str, mentions: &[&str]) {
    let w = World::new();
    let path = w.config_file(text);
    let run = w.run(&["--config", path.to_str().unwrap(), "sync"]);
    assert_config_error(&w, &run, mentions);
}

test_cases! { refuses_config_file;
    malformed_toml_names_the_file_and_line: ("past_days = 3\ncutoff_days = [\n", &["calsync.toml"]),
    unknown_key_is_named: ("source_calender = \"Calendar\"\n", &["source_calender"]),
}

/// A known key with a value it cannot take: the error names the key.
mod bad_values_name_the_key_and_what_was_expected {
    test_cases! { super::refuses_config_file;
        past_days: ("past_days = -1\n", &["past_days"]),
        cutoff_days: ("cutoff_days = \"soon\"\n", &["cutoff_days"]),
        max_delete_fraction: ("max_delete_fraction = 1.5\n", &["max_delete_fraction"]),
        cloud: ("cloud = \"mars\"\n", &["cloud"]),
        token_store: ("token_store = \"plaintext\"\n", &["token_store"]),
        filter_sensitivity: ("[filter]\nsensitivity = [\"public\"]\n", &["sensitivity"]),
        filter_subject_exclude: (
            "[filter]\nsubject_exclude = \"([unclosed\"\n",
            &["subject_exclude"],
        ),
        copy_attendees: ("[copy]\nattendees = true\n", &["attendees"]),
    }
}

/// Runs `sync` with these variables set and these removed, which must be
/// refused as a configuration error mentioning each of `mentions`.
fn refuses_environment(set: &[(&str, &str)], remove: &[&str], mentions: &[&str]) {
    let w = World::new();
    let mut cmd = w.command(&["sync"]);
    for (name, value) in set {
        cmd.env(name, value);
    }
    for name in remove {
        cmd.env_remove(name);
    }
    let run = Run::from(cmd.output().unwrap());
    assert_config_error(&w, &run, mentions);
}

test_cases! { refuses_environment;
    bad_environment_values_name_the_variable_or_key: (
        &[("CALSYNC_PAST_DAYS", "yesterday")],
        &[],
        &["past_days"],
    ),
    plain_http_is_refused_for_a_non_loopback_endpoint: (
        &[("CALSYNC_GRAPH_URL", "http://graph.example.org/v1.0")],
        &[],
        &["graph_url", "https"],
    ),
}

mod missing_required_settings_are_named {
    test_cases! { super::refuses_environment;
        tenant_id: (&[], &["CALSYNC_TENANT_ID"], &["tenant_id", "CALSYNC_TENANT_ID"]),
        mailbox: (&[], &["CALSYNC_MAILBOX"], &["mailbox"]),
    }
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
