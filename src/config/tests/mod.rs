//! The loader's behaviour: precedence, the file, every kind of bad value and
//! the messages that name it.

use super::*;
use crate::model::{Sensitivity, ShowAs};
use crate::policy::CopyPolicy;
use secrecy::ExposeSecret;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

mod fingerprint;
mod pairs;
mod registry;
mod sides;

/// An environment with a HOME and whatever pairs are given.
fn env_of(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    let mut m: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    m.entry("HOME".to_owned())
        .or_insert_with(|| "/nonexistent-home".to_owned());
    m
}

fn load_with(flags: &FlagOverrides, env: &HashMap<String, String>) -> anyhow::Result<Settings> {
    load(flags, &|k| env.get(k).cloned())
}

struct TempConfig {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn file_with(text: &str) -> TempConfig {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).unwrap();
    TempConfig { _dir: dir, path }
}

fn with_file(path: &Path) -> FlagOverrides {
    FlagOverrides {
        config: Some(path.to_path_buf()),
        ..FlagOverrides::default()
    }
}

/// The message of a config failure; panics on success or another kind.
fn config_failure(r: anyhow::Result<Settings>) -> String {
    let err = match r {
        Ok(s) => panic!("expected a config error, got {s:?}"),
        Err(e) => e,
    };
    match err.downcast_ref::<Failure>() {
        Some(Failure::Config(msg)) => {
            assert!(!msg.contains('\n'), "not one paragraph: {msg}");
            msg.clone()
        }
        other => panic!("expected Failure::Config, got {other:?} ({err:#})"),
    }
}

#[test]
fn defaults_with_no_file() {
    let s = load_with(&FlagOverrides::default(), &env_of(&[])).unwrap();
    assert_eq!(s.config_path, None);
    assert_eq!(s.tenant_id, None);
    assert_eq!(s.source_calendar, "Calendar");
    assert_eq!(s.target_calendar, "Public Calendar");
    assert_eq!((s.past_days, s.cutoff_days), (0, 1825));
    assert!(!s.dry_run);
    assert_eq!(s.cloud, Cloud::Global);
    assert_eq!(s.graph_url.as_str(), "https://graph.microsoft.com/v1.0");
    assert_eq!(s.graph_base(), "https://graph.microsoft.com/v1.0");
    assert_eq!(s.authority_base(), "https://login.microsoftonline.com");
    assert_eq!(s.token_store, TokenStore::Keyring);
    assert_eq!(
        s.state_dir,
        PathBuf::from("/nonexistent-home/.local/state/calsync")
    );
    assert_eq!(s.max_delete_fraction, 0.25);
    assert_eq!(s.full_sync_interval, DEFAULT_FULL_SYNC_INTERVAL);
    assert_eq!(s.policy.filter.sensitivity, vec![Sensitivity::Normal]);
    assert!(s.policy.filter.skip_cancelled);
    assert_eq!(s.policy.copy, CopyPolicy::default());
    assert_eq!(s.mailbox_or_me(), "me");
    assert_eq!(s.target_mailbox_or_source(), "me");
    assert!(!s.uses_client_credentials());
    for key in [
        "config",
        "tenant_id",
        "past_days",
        "graph_url",
        "state_dir",
        "filter.sensitivity",
        "copy.body",
    ] {
        assert_eq!(s.origins.get(key), Some(&Origin::Default), "{key}");
    }
    assert_eq!(s.origins.get("client_secret"), Some(&Origin::Default));
    assert_eq!(s.origins.len(), KEYS.len() + 1);
    assert_eq!(s.source, SourceSpec::Graph);
    assert_eq!(s.target, TargetSpec::Graph);
    assert!(s.uses_graph());
}

#[test]
fn precedence_table() {
    let cfg = file_with(
        r#"
tenant_id = "file-tenant"
client_id = "file-client"
mailbox = "file@example.org"
source_calendar = "File Source"
past_days = 3
cutoff_days = 30
dry_run = false
token_store = "file"

[filter]
sensitivity = ["normal", "personal"]

[copy]
location = true
"#,
    );
    let env = env_of(&[
        // CALSYNC_ name wins over the seed name.
        ("CALSYNC_TENANT_ID", "env-tenant"),
        ("TENANT_ID", "seed-tenant"),
        // Seed name alone beats the file.
        ("CLIENT_ID", "seed-client"),
        // An empty CALSYNC_ value is unset, so the seed applies.
        ("CALSYNC_MAILBOX", ""),
        ("SHARED_MAILBOX", "seed@example.org"),
        ("CALSYNC_CUTOFF_DAYS", "60"),
        ("SYNC_CUTOFF_DAYS", "90"),
        ("DRY_RUN_MODE", "Yes"),
        ("TARGET_CALENDAR", "Seed Target"),
        // Empty values are unset.
        ("CALSYNC_PAST_DAYS", ""),
    ]);
    let flags = FlagOverrides {
        config: Some(cfg.path.clone()),
        dry_run: Some(false),
        ..FlagOverrides::default()
    };
    let s = load_with(&flags, &env).unwrap();
    let o = |k: &str| s.origins.get(k).copied();

    let table: [(&str, String, Option<Origin>); 13] = [
        (
            "tenant_id",
            format!("{:?}", s.tenant_id),
            Some(Origin::Env("CALSYNC_TENANT_ID")),
        ),
        (
            "client_id",
            format!("{:?}", s.client_id),
            Some(Origin::Env("CLIENT_ID")),
        ),
        (
            "mailbox",
            format!("{:?}", s.mailbox),
            Some(Origin::Env("SHARED_MAILBOX")),
        ),
        (
            "source_calendar",
            s.source_calendar.clone(),
            Some(Origin::File),
        ),
        (
            "target_calendar",
            s.target_calendar.clone(),
            Some(Origin::Env("TARGET_CALENDAR")),
        ),
        ("past_days", s.past_days.to_string(), Some(Origin::File)),
        (
            "cutoff_days",
            s.cutoff_days.to_string(),
            Some(Origin::Env("CALSYNC_CUTOFF_DAYS")),
        ),
        ("dry_run", s.dry_run.to_string(), Some(Origin::Flag)),
        ("token_store", s.token_store.to_string(), Some(Origin::File)),
        ("cloud", s.cloud.to_string(), Some(Origin::Default)),
        (
            "filter.sensitivity",
            format!("{:?}", s.policy.filter.sensitivity),
            Some(Origin::File),
        ),
        (
            "copy.location",
            s.policy.copy.location.to_string(),
            Some(Origin::File),
        ),
        (
            "config",
            s.config_path.is_some().to_string(),
            Some(Origin::Flag),
        ),
    ];
    let expected = [
        "Some(\"env-tenant\")",
        "Some(\"seed-client\")",
        "Some(\"seed@example.org\")",
        "File Source",
        "Seed Target",
        "3",
        "60",
        "false",
        "file",
        "global",
        "[Normal, Personal]",
        "true",
        "true",
    ];
    for ((key, got, origin), want) in table.iter().zip(expected) {
        assert_eq!(got, want, "value of {key}");
        assert_eq!(&o(key), origin, "origin of {key}");
    }
    assert!(!s.policy.copy.body);
    assert_eq!(o("copy.body"), Some(Origin::Default));

    // Without the flag, the env seed DRY_RUN_MODE=Yes applies.
    let flags = with_file(&cfg.path);
    let s = load_with(&flags, &env).unwrap();
    assert!(s.dry_run);
    assert_eq!(s.origins["dry_run"], Origin::Env("DRY_RUN_MODE"));
    // CALSYNC_DRY_RUN beats the seed.
    let mut env2 = env.clone();
    env2.insert("CALSYNC_DRY_RUN".into(), "off".into());
    let s = load_with(&flags, &env2).unwrap();
    assert!(!s.dry_run);
    assert_eq!(s.origins["dry_run"], Origin::Env("CALSYNC_DRY_RUN"));
}

#[test]
fn file_from_env_and_default_location() {
    let cfg = file_with("tenant_id = \"t\"\n");
    let env = env_of(&[("CALSYNC_CONFIG", cfg.path.to_str().unwrap())]);
    let s = load_with(&FlagOverrides::default(), &env).unwrap();
    assert_eq!(s.tenant_id.as_deref(), Some("t"));
    assert_eq!(s.config_path.as_deref(), Some(cfg.path.as_path()));
    assert_eq!(s.origins["config"], Origin::Env("CALSYNC_CONFIG"));

    // The default file under XDG_CONFIG_HOME is read when present.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("calsync")).unwrap();
    std::fs::write(
        dir.path().join("calsync/config.toml"),
        "client_id = \"c\"\n",
    )
    .unwrap();
    let env = env_of(&[
        ("XDG_CONFIG_HOME", dir.path().to_str().unwrap()),
        ("XDG_STATE_HOME", "/state"),
    ]);
    let s = load_with(&FlagOverrides::default(), &env).unwrap();
    assert_eq!(s.client_id.as_deref(), Some("c"));
    assert_eq!(s.origins["config"], Origin::Default);
    assert_eq!(s.state_dir, PathBuf::from("/state/calsync"));
    assert_eq!(s.origins["client_id"], Origin::File);
}

#[test]
fn missing_named_file_is_an_error_missing_default_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.toml");

    let msg = config_failure(load_with(&with_file(&missing), &env_of(&[])));
    assert!(
        msg.contains("nope.toml") && msg.contains("--config"),
        "{msg}"
    );

    let env = env_of(&[("CALSYNC_CONFIG", missing.to_str().unwrap())]);
    let msg = config_failure(load_with(&FlagOverrides::default(), &env));
    assert!(
        msg.contains("nope.toml") && msg.contains("CALSYNC_CONFIG"),
        "{msg}"
    );

    // The default location, empty: fine.
    let env = env_of(&[("XDG_CONFIG_HOME", dir.path().to_str().unwrap())]);
    let s = load_with(&FlagOverrides::default(), &env).unwrap();
    assert_eq!(s.config_path, None);
}

#[test]
fn unreadable_file_is_an_error() {
    // A directory where the file should be cannot be read: an error even
    // at the default location, never "missing".
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("calsync/config.toml")).unwrap();
    let env = env_of(&[("XDG_CONFIG_HOME", dir.path().to_str().unwrap())]);
    let msg = config_failure(load_with(&FlagOverrides::default(), &env));
    assert!(msg.contains("Cannot read config file"), "{msg}");

    let cfg = file_with("");
    std::fs::write(&cfg.path, [0xff, 0xfe, 0x00]).unwrap();
    let msg = config_failure(load_with(&with_file(&cfg.path), &env_of(&[])));
    assert!(msg.contains("config.toml"), "{msg}");
}

#[test]
fn unknown_keys_are_named() {
    let cases = [
        (
            "cuttoff_days = 3\n",
            "`cuttoff_days`",
            "Did you mean `cutoff_days`?",
        ),
        (
            "[filter]\nsensitivty = []\n",
            "`filter.sensitivty`",
            "`sensitivity`",
        ),
        (
            "[copy]\nattendees = true\n",
            "`copy.attendees`",
            "location, body, categories",
        ),
        (
            "[filter]\ntenant_id = \"x\"\n",
            "`filter.tenant_id`",
            "top-level key",
        ),
        (
            "skip_cancelled = true\n",
            "`skip_cancelled`",
            "[filter] table",
        ),
        ("[fliter]\n", "`fliter`", "Did you mean `[filter]`?"),
    ];
    for (text, named, hint) in cases {
        let cfg = file_with(text);
        let msg = config_failure(load_with(&with_file(&cfg.path), &env_of(&[])));
        assert!(msg.contains(named), "{text:?}: {msg}");
        assert!(msg.contains(hint), "{text:?}: {msg}");
        assert!(msg.contains("line "), "{text:?}: {msg}");
        assert!(msg.contains(cfg.path.to_str().unwrap()), "{text:?}: {msg}");
    }
}

#[test]
fn syntax_errors_give_file_and_line() {
    let cfg = file_with("tenant_id = \"a\"\npast_days = = 3\n");
    let msg = config_failure(load_with(&with_file(&cfg.path), &env_of(&[])));
    assert!(msg.contains("line 2"), "{msg}");
    assert!(msg.contains(cfg.path.to_str().unwrap()), "{msg}");

    let cfg = file_with("filter = 3\n");
    let msg = config_failure(load_with(&with_file(&cfg.path), &env_of(&[])));
    assert!(msg.contains("[filter] table"), "{msg}");
}

#[test]
fn bad_values_name_the_key() {
    // (file text, key named, words expected in the message)
    let file_cases: &[(&str, &str, &str)] = &[
        ("past_days = -1", "past_days", "from 0 to 36500"),
        ("past_days = \"3\"", "past_days", "whole number"),
        ("cutoff_days = 0", "cutoff_days", "from 1 to 36500"),
        ("cutoff_days = 1.5", "cutoff_days", "whole number"),
        (
            "max_delete_fraction = 1.5",
            "max_delete_fraction",
            "from 0 to 1",
        ),
        (
            "max_delete_fraction = -0.1",
            "max_delete_fraction",
            "from 0 to 1",
        ),
        (
            "max_delete_fraction = nan",
            "max_delete_fraction",
            "from 0 to 1",
        ),
        ("full_sync_interval = 3600", "full_sync_interval", "24h"),
        (
            "full_sync_interval = \"0s\"",
            "full_sync_interval",
            "duration",
        ),
        (
            "full_sync_interval = \"1 day\"",
            "full_sync_interval",
            "units",
        ),
        (
            "cloud = \"azure\"",
            "cloud",
            "global, usgov, usgov-dod, china",
        ),
        ("token_store = \"vault\"", "token_store", "keyring, file"),
        ("dry_run = \"yes\"", "dry_run", "true or false"),
        ("tenant_id = \"a b\"", "tenant_id", "without spaces"),
        ("client_id = \"\"", "client_id", "empty"),
        ("tenant_id = 42", "tenant_id", "string"),
        ("source_calendar = \" \"", "source_calendar", "empty"),
        ("graph_url = \"not a url\"", "graph_url", "does not parse"),
        (
            "graph_url = \"https://graph.microsoft.com\"",
            "graph_url",
            "/v1.0",
        ),
        (
            "graph_url = \"ftp://graph.microsoft.com/v1.0\"",
            "graph_url",
            "https://",
        ),
        (
            "graph_url = \"https://graph.microsoft.com/v1.0?x=1\"",
            "graph_url",
            "query",
        ),
        (
            "authority_url = \"https://u:p@login.example\"",
            "authority_url",
            "password",
        ),
        ("state_dir = \"\"", "state_dir", "empty"),
        (
            "[filter]\nsensitivity = [\"public\"]",
            "filter.sensitivity",
            "normal, personal",
        ),
        (
            "[filter]\nsensitivity = []",
            "filter.sensitivity",
            "non-empty array",
        ),
        (
            "[filter]\nsensitivity = \"normal\"",
            "filter.sensitivity",
            "array",
        ),
        (
            "[filter]\nshow_as = [\"busy\", \"away\"]",
            "filter.show_as",
            "\"away\"",
        ),
        (
            "[filter]\nsubject_exclude = \"(unclosed\"",
            "filter.subject_exclude",
            "regular expression",
        ),
        (
            "[filter]\ninclude_categories = [\"\"]",
            "filter.include_categories",
            "non-empty strings",
        ),
        (
            "[filter]\nexclude_categories = [1]",
            "filter.exclude_categories",
            "strings",
        ),
        (
            "[filter]\nskip_cancelled = 1",
            "filter.skip_cancelled",
            "true or false",
        ),
        ("[copy]\nbody = \"no\"", "copy.body", "true or false"),
        (
            "past_days = 20000\ncutoff_days = 20000",
            "past_days",
            "36500",
        ),
        (
            "source_calendar = \"Cal\"\ntarget_calendar = \"cal\"",
            "target_calendar",
            "onto itself",
        ),
    ];
    for (text, key, words) in file_cases {
        let cfg = file_with(text);
        let msg = config_failure(load_with(&with_file(&cfg.path), &env_of(&[])));
        assert!(msg.contains(&format!("`{key}`")), "{text:?}: {msg}");
        assert!(msg.contains(words), "{text:?}: {msg}");
    }

    let env_cases: &[(&str, &str, &str, &str)] = &[
        ("CALSYNC_PAST_DAYS", "x", "past_days", "CALSYNC_PAST_DAYS"),
        ("SYNC_CUTOFF_DAYS", "0", "cutoff_days", "SYNC_CUTOFF_DAYS"),
        ("CALSYNC_CUTOFF_DAYS", "-5", "cutoff_days", "whole number"),
        ("DRY_RUN_MODE", "maybe", "dry_run", "DRY_RUN_MODE"),
        (
            "CALSYNC_MAX_DELETE_FRACTION",
            "25%",
            "max_delete_fraction",
            "from 0 to 1",
        ),
        ("CALSYNC_CLOUD", "mars", "cloud", "usgov-dod"),
        ("CALSYNC_TOKEN_STORE", "x", "token_store", "keyring"),
        (
            "CALSYNC_GRAPH_URL",
            "http://graph.example.org/v1.0",
            "graph_url",
            "loopback",
        ),
        (
            "CALSYNC_AUTHORITY_URL",
            "http://10.0.0.1",
            "authority_url",
            "https://",
        ),
        ("TENANT_ID", "a\tb", "tenant_id", "TENANT_ID"),
        ("CALSYNC_CLIENT_ID", " x", "client_id", "without spaces"),
    ];
    for (var, value, key, words) in env_cases {
        let env = env_of(&[(var, value)]);
        let msg = config_failure(load_with(&FlagOverrides::default(), &env));
        assert!(msg.contains(&format!("`{key}`")), "{var}={value}: {msg}");
        assert!(msg.contains(words), "{var}={value}: {msg}");
        assert!(msg.contains(var), "{var}={value}: {msg}");
    }
}

#[test]
fn bad_file_value_is_reported_even_when_env_overrides_it() {
    let cfg = file_with("past_days = \"ten\"\n");
    let env = env_of(&[("CALSYNC_PAST_DAYS", "3")]);
    let msg = config_failure(load_with(&with_file(&cfg.path), &env));
    assert!(
        msg.contains("`past_days`") && msg.contains("line 1, column 13"),
        "{msg}"
    );
}

#[test]
fn env_booleans() {
    for (text, want) in [
        ("true", true),
        ("TRUE", true),
        ("1", true),
        ("yes", true),
        ("On", true),
        ("false", false),
        ("0", false),
        ("No", false),
        ("off", false),
        ("FaLsE", false),
    ] {
        let s = load_with(
            &FlagOverrides::default(),
            &env_of(&[("CALSYNC_DRY_RUN", text)]),
        )
        .unwrap();
        assert_eq!(s.dry_run, want, "{text}");
    }
}

#[test]
fn http_only_on_loopback() {
    for ok in [
        "http://127.0.0.1:8080/v1.0",
        "http://127.10.0.3/v1.0",
        "http://localhost:9/v1.0/",
        "http://LOCALHOST/v1.0",
        "http://[::1]:8080/v1.0",
        "https://graph.example.org/beta",
    ] {
        let s = load_with(
            &FlagOverrides::default(),
            &env_of(&[("CALSYNC_GRAPH_URL", ok)]),
        )
        .unwrap_or_else(|e| panic!("{ok}: {e}"));
        assert!(!s.graph_base().ends_with('/'), "{ok}");
        assert_eq!(s.origins["graph_url"], Origin::Env("CALSYNC_GRAPH_URL"));
    }
    for bad in [
        "http://graph.microsoft.com/v1.0",
        "http://128.0.0.1/v1.0",
        "http://[::2]/v1.0",
        "http://localhost.example.org/v1.0",
        "http://10.0.0.1/v1.0",
    ] {
        let msg = config_failure(load_with(
            &FlagOverrides::default(),
            &env_of(&[("CALSYNC_GRAPH_URL", bad)]),
        ));
        assert!(
            msg.contains("`graph_url`") && msg.contains("loopback"),
            "{bad}: {msg}"
        );
    }
    // Trailing slashes are stripped.
    let s = load_with(
        &FlagOverrides::default(),
        &env_of(&[
            ("CALSYNC_GRAPH_URL", "http://127.0.0.1:3000/v1.0///"),
            ("CALSYNC_AUTHORITY_URL", "http://127.0.0.1:3000/"),
        ]),
    )
    .unwrap();
    assert_eq!(s.graph_url.as_str(), "http://127.0.0.1:3000/v1.0");
    assert_eq!(s.authority_base(), "http://127.0.0.1:3000");
    let s = load_with(
        &FlagOverrides::default(),
        &env_of(&[("CALSYNC_AUTHORITY_URL", "http://127.0.0.1:3000/auth/")]),
    )
    .unwrap();
    assert_eq!(s.authority_base(), "http://127.0.0.1:3000/auth");
}

#[test]
fn cloud_endpoints() {
    let cases = [
        (
            Cloud::Global,
            "https://graph.microsoft.com/v1.0",
            "https://login.microsoftonline.com",
        ),
        (
            Cloud::UsGov,
            "https://graph.microsoft.us/v1.0",
            "https://login.microsoftonline.us",
        ),
        (
            Cloud::UsGovDod,
            "https://dod-graph.microsoft.us/v1.0",
            "https://login.microsoftonline.us",
        ),
        (
            Cloud::China,
            "https://microsoftgraph.chinacloudapi.cn/v1.0",
            "https://login.chinacloudapi.cn",
        ),
    ];
    for (cloud, graph, login) in cases {
        let env = env_of(&[("CALSYNC_CLOUD", cloud.as_str())]);
        let s = load_with(&FlagOverrides::default(), &env).unwrap();
        assert_eq!(s.cloud, cloud);
        assert_eq!(s.graph_base(), graph);
        assert_eq!(s.authority_base(), login);
        assert_eq!(s.origins["graph_url"], Origin::Env("CALSYNC_CLOUD"));
    }
    // An explicit endpoint from a lower layer still beats the cloud's.
    let cfg = file_with("graph_url = \"https://graph.example.test/v1.0\"\n");
    let env = env_of(&[("CALSYNC_CLOUD", "USGov")]);
    let s = load_with(&with_file(&cfg.path), &env).unwrap();
    assert_eq!(s.cloud, Cloud::UsGov);
    assert_eq!(s.graph_base(), "https://graph.example.test/v1.0");
    assert_eq!(s.authority_base(), "https://login.microsoftonline.us");
    assert_eq!(s.origins["graph_url"], Origin::File);
}

#[test]
fn state_dir_rules() {
    // Relative to the file when given in the file.
    let cfg = file_with("state_dir = \"state\"\n");
    let s = load_with(&with_file(&cfg.path), &env_of(&[])).unwrap();
    assert_eq!(s.state_dir, cfg.path.parent().unwrap().join("state"));
    // A relative XDG_STATE_HOME is ignored (XDG spec): HOME applies.
    let s = load_with(
        &FlagOverrides::default(),
        &env_of(&[("XDG_STATE_HOME", "rel"), ("HOME", "/h")]),
    )
    .unwrap();
    assert_eq!(s.state_dir, PathBuf::from("/h/.local/state/calsync"));
    // No XDG_STATE_HOME and no HOME: ask for state_dir.
    let msg = config_failure(load(&FlagOverrides::default(), &|_| None));
    assert!(
        msg.contains("`state_dir`") && msg.contains("CALSYNC_STATE_DIR"),
        "{msg}"
    );
    let s = load(&FlagOverrides::default(), &|k| {
        (k == "CALSYNC_STATE_DIR").then(|| "/var/lib/calsync".to_owned())
    })
    .unwrap();
    assert_eq!(s.state_dir, PathBuf::from("/var/lib/calsync"));
}

#[test]
fn timeouts_follow_flag_env_file_default() {
    use std::time::Duration;
    let cfg = file_with("request_timeout = \"20s\"\nrun_timeout = \"10m\"\n");
    let file = load_with(&with_file(&cfg.path), &env_of(&[])).unwrap();
    assert_eq!(file.request_timeout, Duration::from_secs(20));
    assert_eq!(file.run_timeout, Duration::from_secs(600));
    assert_eq!(file.origins["run_timeout"], Origin::File);
    let env = env_of(&[
        ("CALSYNC_REQUEST_TIMEOUT", "5s"),
        ("CALSYNC_RUN_TIMEOUT", "2m"),
    ]);
    let from_env = load_with(&with_file(&cfg.path), &env).unwrap();
    assert_eq!(from_env.request_timeout, Duration::from_secs(5));
    assert_eq!(from_env.run_timeout, Duration::from_secs(120));
    assert_eq!(
        from_env.origins["request_timeout"],
        Origin::Env("CALSYNC_REQUEST_TIMEOUT")
    );
    let flags = FlagOverrides {
        request_timeout: Some(Duration::from_secs(1)),
        run_timeout: Some(Duration::from_secs(3)),
        ..with_file(&cfg.path)
    };
    let from_flags = load_with(&flags, &env).unwrap();
    assert_eq!(from_flags.request_timeout, Duration::from_secs(1));
    assert_eq!(from_flags.run_timeout, Duration::from_secs(3));
    assert_eq!(from_flags.origins["run_timeout"], Origin::Flag);
    let defaults = load_with(&FlagOverrides::default(), &env_of(&[])).unwrap();
    assert_eq!(defaults.request_timeout, DEFAULT_REQUEST_TIMEOUT);
    assert_eq!(defaults.run_timeout, DEFAULT_RUN_TIMEOUT);
    // A bad value names the key, even when a flag overrides it.
    let bad = file_with("run_timeout = 30\n");
    let msg = config_failure(load_with(&with_file(&bad.path), &env_of(&[])));
    assert!(
        msg.contains("run_timeout") && msg.contains("\"90m\""),
        "{msg}"
    );
}

#[test]
fn full_file_is_accepted() {
    let cfg = file_with(
        r#"
tenant_id = "contoso.onmicrosoft.com"
client_id = "00000000-0000-0000-0000-000000000001"
client_secret = "s3cr3t-value-that-is-long"
mailbox = "events@contoso.org"
source_calendar = "Calendar"
target_calendar = "Public"
target_mailbox = "public@contoso.org"
past_days = 7
cutoff_days = 365
dry_run = true
cloud = "china"
graph_url = "https://graph.example.test/v1.0/"
authority_url = "https://login.example.test"
token_store = "file"
state_dir = "/var/lib/calsync"
max_delete_fraction = 1
full_sync_interval = "6h30m"
request_timeout = "45s"
run_timeout = "1h"
metrics_file = "/var/lib/node_exporter/textfile/calsync.prom"
metrics_push_url = "http://pushgateway.example.test:9091"
ping_url = "https://hc-ping.example.test/0f9a"

[filter]
sensitivity = ["normal", "personal"]
include_categories = ["Public"]
exclude_categories = ["Internal"]
skip_cancelled = false
show_as = ["busy", "workingElsewhere", "OOF"]
subject_exclude = '(?i)^\s*private:'

[copy]
location = true
body = true
categories = false

[publish]
html = "/var/www/agenda/index.html"
json = "events.json"
title = "Contoso public events"
time_zone = "Europe/Berlin"
subscribe_url = "https://calendar.contoso.org/public.ics"
days = 30
template = "agenda.html"
"#,
    );
    let s = load_with(&with_file(&cfg.path), &env_of(&[])).unwrap();
    assert_eq!(
        s.publish.html.as_deref(),
        Some(std::path::Path::new("/var/www/agenda/index.html"))
    );
    assert_eq!(
        s.publish.json,
        cfg.path.parent().map(|d| d.join("events.json"))
    );
    assert_eq!(s.publish_title(), "Contoso public events");
    assert_eq!(s.publish.time_zone, chrono_tz::Europe::Berlin);
    assert_eq!(s.publish.days, 30);
    assert!(s.publish.enabled());
    assert_eq!(
        s.client_secret.as_ref().map(|x| x.expose_secret()),
        Some("s3cr3t-value-that-is-long")
    );
    assert!(s.uses_client_credentials());
    s.require_graph().unwrap();
    assert_eq!(s.target_mailbox_or_source(), "public@contoso.org");
    assert_eq!(s.max_delete_fraction, 1.0);
    assert_eq!(
        s.full_sync_interval,
        std::time::Duration::from_secs(6 * 3600 + 1800)
    );
    assert_eq!(s.request_timeout, std::time::Duration::from_secs(45));
    assert_eq!(s.run_timeout, std::time::Duration::from_secs(3600));
    assert_eq!(s.graph_base(), "https://graph.example.test/v1.0");
    let f = &s.policy.filter;
    assert_eq!(f.include_categories, ["Public"]);
    assert_eq!(f.exclude_categories, ["Internal"]);
    assert!(!f.skip_cancelled);
    assert_eq!(
        f.show_as.as_deref(),
        Some(&[ShowAs::Busy, ShowAs::WorkingElsewhere, ShowAs::Oof][..])
    );
    assert!(
        f.subject_exclude
            .as_ref()
            .is_some_and(|r| r.is_match("Private: x"))
    );
    assert!(s.policy.copy.location && s.policy.copy.body && !s.policy.copy.categories);
    for k in keys_of(Table::Top) {
        assert_eq!(s.origins.get(k.name), Some(&Origin::File), "{}", k.name);
    }

    // The secret never shows in Debug.
    let debug = format!("{s:?}");
    assert!(!debug.contains("s3cr3t"), "{debug}");
}

#[test]
fn secret_never_in_errors() {
    let cfg = file_with("client_secret = 12345\n");
    let msg = config_failure(load_with(&with_file(&cfg.path), &env_of(&[])));
    assert!(msg.contains("`client_secret`"), "{msg}");
    let cfg = file_with("client_secret = \"hunter2-secret\"\nfoo = 1\n");
    let msg = config_failure(load_with(&with_file(&cfg.path), &env_of(&[])));
    assert!(!msg.contains("hunter2"), "{msg}");
}

#[test]
fn require_graph_rules() {
    let ok_env = [("CALSYNC_TENANT_ID", "t"), ("CALSYNC_CLIENT_ID", "c")];
    let s = load_with(&FlagOverrides::default(), &env_of(&ok_env)).unwrap();
    s.require_graph().unwrap();

    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("CALSYNC_CLIENT_ID", "c")], "CALSYNC_TENANT_ID"),
        (&[("CALSYNC_TENANT_ID", "t")], "CALSYNC_CLIENT_ID"),
        (
            &[
                ("TENANT_ID", "t"),
                ("CLIENT_ID", "c"),
                ("CLIENT_SECRET", "x"),
            ],
            "CALSYNC_MAILBOX",
        ),
        (
            &[
                ("TENANT_ID", "t"),
                ("CLIENT_ID", "c"),
                ("CLIENT_SECRET", "x"),
                ("CALSYNC_MAILBOX", "me"),
            ],
            "`mailbox`",
        ),
        (
            &[
                ("TENANT_ID", "common"),
                ("CLIENT_ID", "c"),
                ("CLIENT_SECRET", "x"),
                ("SHARED_MAILBOX", "a@b.c"),
            ],
            "real tenant",
        ),
    ];
    for (pairs, words) in cases {
        let s = load_with(&FlagOverrides::default(), &env_of(pairs)).unwrap();
        let err = s.require_graph().unwrap_err();
        let msg = match err.downcast_ref::<Failure>() {
            Some(Failure::Config(m)) => m.clone(),
            other => panic!("{other:?}"),
        };
        assert!(msg.contains(words), "{pairs:?}: {msg}");
    }
}

#[test]
fn mask_hides_secrets() {
    assert_eq!(mask("abcdefghijklmnopqrstuvwxyz"), "abc…(masked)");
    assert_eq!(mask("short"), "(masked)");
    assert_eq!(mask(""), "(masked)");
}

#[test]
fn env_var_names_cover_seeds() {
    let names = env_var_names();
    for n in [
        "CALSYNC_CONFIG",
        "CALSYNC_TENANT_ID",
        "TENANT_ID",
        "SHARED_MAILBOX",
        "DRY_RUN_MODE",
    ] {
        assert!(names.contains(&n), "{n}");
    }
}

/// A table's name given a plain value says what was found and how to write
/// the table, whatever the value's kind.
#[test]
fn a_value_where_a_table_belongs_says_what_it_is() {
    for (text, found, table) in [
        ("copy = 1979-05-27\n", "`copy` is a date-time", "[copy]"),
        (
            "filter = [1]\n",
            "`filter` is an array of 1 value",
            "[filter]",
        ),
        ("source = \"x\"\n", "`source` is a string", "[source]"),
        ("target = 3\n", "`target` is an integer", "[target]"),
    ] {
        let f = file_with(text);
        let msg = config_failure(load_with(&with_file(&f.path), &HashMap::new()));
        assert!(msg.contains(found), "{text}: {msg}");
        assert!(
            msg.contains(&format!("under a `{table}` line")),
            "{text}: {msg}"
        );
        assert!(!msg.contains("$__toml"), "{text}: {msg}");
    }
}

#[test]
fn publish_defaults_and_bad_values() {
    let s = load_with(
        &FlagOverrides::default(),
        &env_of(&[("CALSYNC_STATE_DIR", "/tmp/x")]),
    )
    .unwrap();
    assert!(!s.publish.enabled());
    assert_eq!(s.publish.time_zone, chrono_tz::UTC);
    assert_eq!(s.publish.days, 60);
    let bad = load_with(
        &FlagOverrides::default(),
        &env_of(&[
            ("CALSYNC_STATE_DIR", "/tmp/x"),
            ("CALSYNC_PUBLISH_TIME_ZONE", "Mars/Olympus"),
        ]),
    )
    .unwrap_err()
    .to_string();
    assert!(bad.contains("publish.time_zone"), "{bad}");
    assert!(bad.contains("CALSYNC_PUBLISH_TIME_ZONE"), "{bad}");
    let bad = load_with(
        &FlagOverrides::default(),
        &env_of(&[
            ("CALSYNC_STATE_DIR", "/tmp/x"),
            ("CALSYNC_PUBLISH_SUBSCRIBE_URL", "http://example.org/a.ics"),
        ]),
    )
    .unwrap_err()
    .to_string();
    assert!(bad.contains("publish.subscribe_url"), "{bad}");
}
