//! `calsync login` / `logout` and delegated runs end to end: the built
//! binary against the fake identity platform and Graph over loopback HTTP.
//! Tokens go to `tokens.json` (token_store = "file"); the keyring path is
//! covered by unit tests through the keyring crate's mock store.

use crate::common::*;
use fakegraph::DevicePoll;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The signed-in user owns the mailbox, so `me` is the source mailbox.
const USER: &str = MAILBOX;
const DEVICE_CODE_GRANT: &str = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code";

fn delegated_world() -> World {
    let w = World::new();
    w.fake.allow_public_client_flows(TENANT, CLIENT_ID);
    w.fake.set_device_code_interval(0);
    w
}

/// A command for delegated sign-in: no client secret, mailbox `me`.
fn delegated(w: &World, args: &[&str]) -> Command {
    let mut cmd = w.command(args);
    cmd.env_remove("CALSYNC_CLIENT_SECRET")
        .env_remove("CALSYNC_MAILBOX");
    cmd
}

fn run(cmd: &mut Command) -> Run {
    Run::from(cmd.output().expect("the calsync binary runs"))
}

fn login(w: &World) -> Run {
    w.fake
        .script_device_flow(USER, &[DevicePoll::Pending, DevicePoll::Approve]);
    let out = run(&mut delegated(w, &["login"]));
    assert_eq!(out.code, 0, "login failed:\n{out}");
    out
}

fn token_file(w: &World) -> std::path::PathBuf {
    w.state_dir().join("tokens.json")
}

/// Paths of requests that reached Graph (not the identity platform).
fn graph_requests(w: &World) -> Vec<String> {
    w.fake
        .requests()
        .into_iter()
        .map(|r| r.path)
        .filter(|p| !p.contains("/oauth2/"))
        .collect()
}

fn token_requests(w: &World) -> Vec<String> {
    w.fake
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/oauth2/v2.0/token"))
        .map(|r| r.body)
        .collect()
}

/// No token the fake issued in any of the places.
#[track_caller]
fn assert_no_token(w: &World, exposed: Exposed) {
    let secrets = w.fake.issued_tokens();
    assert!(!secrets.is_empty());
    exposed.assert_free_of(&secrets);
}

#[test]
fn device_code_login_then_sync_as_the_signed_in_user() {
    let w = delegated_world();
    w.add_source(public_event("Open day", 3, 10));
    w.fake.script_device_flow(
        USER,
        &[
            DevicePoll::Pending,
            DevicePoll::Pending,
            DevicePoll::Approve,
        ],
    );
    let out = run(&mut delegated(&w, &["login"]));
    assert_eq!(out.code, 0, "{out}");
    // The person signing in sees the server's message, URL and code.
    assert!(
        out.stderr.contains("To sign in, use a web browser"),
        "{out}"
    );
    assert!(
        out.stderr.contains("https://microsoft.com/devicelogin"),
        "{out}"
    );
    let code_line = out
        .stderr
        .lines()
        .find(|l| l.starts_with("Code: "))
        .unwrap_or_else(|| panic!("no code shown:\n{out}"));
    assert_eq!(code_line.trim_start_matches("Code: ").len(), 9, "{out}");
    assert!(
        out.stdout.contains(&format!("Signed in as {USER}")),
        "{out}"
    );
    assert!(out.stdout.contains("Calendars.ReadWrite"), "{out}");

    // Scopes: a refresh token, an id token, the calendar permission on the
    // configured Graph host.
    let device = w
        .fake
        .requests()
        .into_iter()
        .find(|r| r.path == format!("/{TENANT}/oauth2/v2.0/devicecode"))
        .expect("a device code request");
    for scope in ["offline_access", "openid", "Calendars.ReadWrite"] {
        assert!(device.body.contains(scope), "{}", device.body);
    }
    assert!(!device.body.contains("Shared"), "{}", device.body);
    assert_eq!(
        token_requests(&w)
            .iter()
            .filter(|b| b.contains(DEVICE_CODE_GRANT))
            .count(),
        3,
        "polled until approved"
    );

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(token_file(&w))
            .expect("tokens.json written")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // The first run uses the access token login obtained: no token request.
    w.fake.clear_requests();
    let sync = run(&mut delegated(&w, &["sync"]));
    assert_eq!(sync.code, 0, "{sync}");
    assert_eq!(w.target_subjects(), ["Open day"]);
    assert!(token_requests(&w).is_empty(), "{:?}", token_requests(&w));
    assert!(
        graph_requests(&w).iter().all(|p| !p.contains("/users/")),
        "delegated runs address /me: {:?}",
        graph_requests(&w)
    );
}

#[test]
fn a_shared_mailbox_asks_for_the_shared_permission() {
    let w = delegated_world();
    w.fake.add_user("ada@contoso.example");
    w.add_source(public_event("Concert", 2, 19));
    // A series, whose occurrences the delegate reads again by their master.
    let first = day(4) + chrono::Duration::hours(18);
    let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%S").to_string();
    w.add_source(serde_json::json!({
        "subject": "Rehearsal", "sensitivity": "normal",
        "start": {"dateTime": fmt(first), "timeZone": "UTC"},
        "end": {"dateTime": fmt(first + chrono::Duration::hours(1)), "timeZone": "UTC"},
        "recurrence": {
            "pattern": {"type": "daily", "interval": 7},
            "range": {"type": "numbered", "startDate": date(4).format("%Y-%m-%d").to_string(), "numberOfOccurrences": 2}
        }
    }));
    w.fake
        .script_device_flow("ada@contoso.example", &[DevicePoll::Approve]);
    let shared = |args: &[&str]| {
        let mut cmd = delegated(&w, args);
        cmd.env("CALSYNC_MAILBOX", MAILBOX);
        run(&mut cmd)
    };
    let out = shared(&["login"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stdout.contains("Signed in as ada@contoso.example"),
        "{out}"
    );
    assert!(out.stdout.contains("Calendars.ReadWrite.Shared"), "{out}");
    // A delegate reaches the shared mailbox's default calendar, and a
    // calendar by its id, but may not list its calendars to find one by
    // name (concepts/outlook-get-shared-events-calendars.md): the run says
    // which form to use and writes nothing.
    let by_name = shared(&["sync"]);
    assert_eq!(by_name.code, 3, "{by_name}");
    assert!(
        by_name.stderr.contains("refused to list the calendars")
            && by_name.stderr.contains("`target_calendar`")
            && by_name.stderr.contains("`id:`"),
        "{by_name}"
    );
    assert!(w.target_subjects().is_empty());
    let by_id = format!("id:{}", w.target_id);
    let mut cmd = delegated(&w, &["sync"]);
    cmd.env("CALSYNC_MAILBOX", MAILBOX)
        .env("CALSYNC_TARGET_CALENDAR", &by_id);
    let sync = run(&mut cmd);
    assert_eq!(sync.code, 0, "{sync}");
    assert_eq!(w.target_subjects(), ["Concert", "Rehearsal", "Rehearsal"]);
    // Where the tenant lets delegates list calendars, the name works too.
    w.fake.set_behaviour(fakegraph::Behaviour {
        delegate_can_list_calendars: true,
        ..fakegraph::Behaviour::default()
    });
    w.add_source(public_event("Recital", 3, 19));
    let sync = shared(&["sync"]);
    assert_eq!(sync.code, 0, "{sync}");
    assert_eq!(
        w.target_subjects(),
        ["Concert", "Recital", "Rehearsal", "Rehearsal"]
    );
}

/// A sign-in that ends in `outcome` after a pending poll: exit 3 with the
/// error `code` and `words`, and nothing stored.
fn device_code_outcome(outcome: DevicePoll, code: &str, words: &str) {
    let w = delegated_world();
    w.fake
        .script_device_flow(USER, &[DevicePoll::Pending, outcome]);
    let out = run(&mut delegated(&w, &["login"]));
    assert_eq!(out.code, 3, "{code}:\n{out}");
    assert!(out.stderr.contains(code), "{out}");
    assert!(out.stderr.contains(words), "{out}");
    assert!(out.stderr.contains("calsync login"), "{out}");
    assert!(out.stdout.is_empty(), "{out}");
    assert!(!token_file(&w).exists(), "{code}: nothing is stored");
    assert_no_token(&w, Exposed::new().run(code, &out));
}

mod each_device_code_outcome_ends_clearly_and_stores_nothing {
    use super::*;

    test_cases! { device_code_outcome;
        declined: (DevicePoll::Decline, "authorization_declined", "declined"),
        expired: (DevicePoll::Expire, "expired_token", "expired"),
        bad_code: (
            DevicePoll::BadCode,
            "bad_verification_code",
            "did not recognise the device code",
        ),
    }
}

#[test]
fn polls_at_the_server_interval_and_slows_down_when_asked() {
    let w = delegated_world();
    w.fake.set_device_code_interval(1);
    w.fake.script_device_flow(
        USER,
        &[
            DevicePoll::Pending,
            DevicePoll::SlowDown,
            DevicePoll::Approve,
        ],
    );
    let started = Instant::now();
    let out = run(&mut delegated(&w, &["login", "--device-code"]));
    assert_eq!(out.code, 0, "{out}");
    let polls: Vec<Instant> = w
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.body.contains(DEVICE_CODE_GRANT))
        .map(|r| r.received)
        .collect();
    assert_eq!(polls.len(), 3);
    let gap = |i: usize| polls[i + 1] - polls[i];
    assert!(gap(0) >= Duration::from_secs(1), "pending: {:?}", gap(0));
    assert!(gap(0) < Duration::from_secs(3), "pending: {:?}", gap(0));
    // slow_down: the interval grows by 5 seconds (1 + 5).
    assert!(gap(1) >= Duration::from_secs(6), "slow_down: {:?}", gap(1));
    assert!(started.elapsed() < Duration::from_secs(15));
}

#[test]
fn public_client_flows_must_be_allowed() {
    let w = World::new();
    w.fake.set_device_code_interval(0);
    w.fake.script_device_flow(USER, &[DevicePoll::Approve]);
    let out = run(&mut delegated(&w, &["login"]));
    assert_eq!(out.code, 3, "{out}");
    assert!(out.stderr.contains("AADSTS7000218"), "{out}");
    assert!(out.stderr.contains("Allow public client flows"), "{out}");
}

#[cfg(unix)]
#[test]
fn ctrl_c_cancels_the_sign_in() {
    let w = delegated_world();
    // Nobody approves: the code stays pending.
    w.fake.set_device_code_interval(1);
    let mut child = delegated(&w, &["login"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("calsync starts");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.starts_with("Waiting for the sign-in") {
                let _ = tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("login shows the code and waits");
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let out = child.wait_with_output().expect("calsync ends");
    let stderr = reader.join().expect("reader");
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("cancelled"), "{stderr}");
    assert!(stderr.contains("calsync login"), "{stderr}");
    assert!(!token_file(&w).exists());
}

/// A short access-token lifetime makes every run after a pause refresh; with
/// strict rotation a run that lost the rotated refresh token would fail.
#[test]
fn rotated_refresh_token_is_kept_across_runs_and_nothing_leaks() {
    let w = delegated_world();
    w.fake.set_token_lifetime(2);
    w.fake.set_strict_refresh_rotation(true);
    w.add_source(public_event("Open day", 3, 10));
    w.fake
        .script_device_flow(USER, &[DevicePoll::Pending, DevicePoll::Approve]);
    let login_run = run(&mut delegated(&w, &["-vv", "login"]));
    assert_eq!(login_run.code, 0, "{login_run}");

    let mut exposed = Exposed::new().run("login", &login_run);
    for round in 0..2 {
        std::thread::sleep(Duration::from_millis(1100));
        let out = run(&mut delegated(&w, &["-vv", "sync"]));
        assert_eq!(out.code, 0, "round {round}:\n{out}");
        exposed = exposed.run(&format!("sync round {round}"), &out);
    }
    let presented = w.fake.refresh_tokens_presented();
    assert_eq!(presented.len(), 2, "each run refreshed once");
    assert_ne!(
        presented[0], presented[1],
        "the second run used the rotated token"
    );
    assert_eq!(w.target_subjects(), ["Open day"]);
    let stored = std::fs::read_to_string(token_file(&w)).expect("tokens.json");
    assert!(
        !presented.iter().any(|t| stored.contains(t.as_str())),
        "only the newest refresh token is kept"
    );

    let logout = run(&mut delegated(&w, &["-vv", "logout"]));
    assert_eq!(logout.code, 0, "{logout}");
    let history = std::fs::read_to_string(w.state_dir().join("history.jsonl")).unwrap_or_default();
    let exposed = exposed
        .run("logout", &logout)
        .text("the history", history)
        .state(&w.state_dir());
    assert_no_token(&w, exposed);
}

#[test]
fn revoked_sign_in_exits_3_without_calling_graph() {
    let w = delegated_world();
    w.fake.set_token_lifetime(2);
    login(&w);
    std::thread::sleep(Duration::from_millis(1100));
    w.fake.revoke_refresh_tokens();
    w.fake.clear_requests();
    let out = run(&mut delegated(&w, &["sync"]));
    assert_eq!(out.code, 3, "{out}");
    assert!(out.stderr.contains("invalid_grant"), "{out}");
    assert!(out.stderr.contains("calsync login"), "{out}");
    assert!(graph_requests(&w).is_empty(), "{:?}", graph_requests(&w));
    assert_eq!(token_requests(&w).len(), 1);
    assert_no_token(&w, Exposed::new().run("the refused run", &out));
}

#[test]
fn logout_removes_the_sign_in_and_says_what_it_removed() {
    let w = delegated_world();
    login(&w);
    assert!(token_file(&w).exists());
    let out = run(&mut delegated(&w, &["logout"]));
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains(&format!("Signed out {USER}")), "{out}");
    assert!(out.stdout.contains("tokens.json"), "{out}");
    assert!(!token_file(&w).exists());

    let again = run(&mut delegated(&w, &["logout"]));
    assert_eq!(again.code, 0, "{again}");
    assert!(again.stdout.contains("nothing was removed"), "{again}");

    w.fake.clear_requests();
    let sync = run(&mut delegated(&w, &["sync"]));
    assert_eq!(sync.code, 3, "{sync}");
    assert!(sync.stderr.contains("Not signed in"), "{sync}");
    assert!(sync.stderr.contains("calsync login"), "{sync}");
    assert!(w.fake.requests().is_empty());
}

#[cfg(unix)]
#[test]
fn a_token_file_others_can_read_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let w = delegated_world();
    login(&w);
    std::fs::set_permissions(token_file(&w), std::fs::Permissions::from_mode(0o644))
        .expect("chmod");
    w.fake.clear_requests();
    let out = run(&mut delegated(&w, &["sync"]));
    assert_eq!(out.code, 3, "{out}");
    assert!(out.stderr.contains("chmod 600"), "{out}");
    assert!(w.fake.requests().is_empty());
    // login refuses too, before anyone signs in.
    let again = run(&mut delegated(&w, &["login"]));
    assert_eq!(again.code, 3, "{again}");
    assert!(!again.stderr.contains("devicelogin"), "{again}");
}

#[test]
fn without_a_keyring_the_error_names_the_file_store() {
    let w = delegated_world();
    let keyring = |args: &[&str]| {
        let mut cmd = delegated(&w, args);
        // A dead session bus: no real keyring is ever reached.
        cmd.env("CALSYNC_TOKEN_STORE", "keyring").env(
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path={}", w.home.path().join("no-bus").display()),
        );
        run(&mut cmd)
    };
    for args in [&["login"][..], &["sync"], &["logout"]] {
        let out = keyring(args);
        assert_eq!(out.code, 3, "{args:?}:\n{out}");
        assert!(out.stderr.contains("OS keyring"), "{out}");
        assert!(out.stderr.contains("token_store = \"file\""), "{out}");
        assert!(out.stderr.contains("CALSYNC_TOKEN_STORE=file"), "{out}");
    }
    assert!(
        w.fake.requests().is_empty(),
        "no sign-in starts without a place to keep it"
    );
}

#[test]
fn client_credentials_check_reports_the_granted_roles() {
    let w = World::new();
    let out = w.run(&["login", "--client-credentials"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("The app secret works"), "{out}");
    assert!(
        out.stdout
            .contains("Application permissions granted: Calendars.ReadWrite."),
        "{out}"
    );
    assert!(!token_file(&w).exists());

    w.fake.set_app_roles(TENANT, CLIENT_ID, &["User.Read.All"]);
    let out = w.run(&["login", "--client-credentials"]);
    assert_eq!(out.code, 3, "{out}");
    assert!(out.stderr.contains("no Calendars.ReadWrite"), "{out}");
    assert!(out.stderr.contains("admin consent"), "{out}");

    let mut wrong = w.command(&["login", "--client-credentials"]);
    wrong.env("CALSYNC_CLIENT_SECRET", "not-the-secret");
    let out = run(&mut wrong);
    assert_eq!(out.code, 3, "{out}");
    assert!(out.stderr.contains("AADSTS7000215"), "{out}");

    // A device-code login makes no sense while client_secret is set.
    let out = w.run(&["login"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("--client-credentials"), "{out}");
    assert_no_token(&w, Exposed::new().run("the refused run", &out));
}

/// A command whose keyring is out of reach: a dead session bus.
fn without_keyring(w: &World, mut cmd: Command) -> Command {
    cmd.env("CALSYNC_TOKEN_STORE", "keyring").env(
        "DBUS_SESSION_BUS_ADDRESS",
        format!("unix:path={}", w.home.path().join("no-bus").display()),
    );
    cmd
}

/// `env -u CALSYNC_CLIENT_SECRET calsync sync`: the message names what each
/// way of signing in lacks, the app secret's variable included.
#[test]
fn with_no_secret_and_no_sign_in_both_ways_are_named() {
    let w = World::new();
    let mut cmd = w.command(&["sync"]);
    cmd.env_remove("CALSYNC_CLIENT_SECRET");
    for (store, mut cmd) in [
        ("keyring", without_keyring(&w, w.command(&["sync"]))),
        ("file", cmd),
    ] {
        cmd.env_remove("CALSYNC_CLIENT_SECRET");
        let out = run(&mut cmd);
        assert_eq!(out.code, 3, "{store}: {out}");
        let err = &out.stderr;
        assert_eq!(err.lines().count(), 1, "one paragraph: {out}");
        assert!(err.contains("As a user"), "{out}");
        assert!(err.contains("calsync login"), "{out}");
        assert!(err.contains("As the application"), "{out}");
        assert!(err.contains("CALSYNC_CLIENT_SECRET"), "{out}");
        if store == "keyring" {
            assert!(err.contains("OS keyring"), "{out}");
            assert!(err.contains("token_store = \"file\""), "{out}");
        } else {
            assert!(err.contains("holds no sign-in"), "{out}");
        }
    }
    assert!(w.fake.requests().is_empty(), "nothing was sent anywhere");
}

/// App-only runs use no token store: with the default store (the keyring)
/// and no keyring, they say nothing about one; `status` says no token is
/// kept; and nothing holding a token is written, even with the file store.
#[test]
fn app_only_runs_need_no_token_store_and_persist_no_token() {
    let w = World::new();
    w.add_source(public_event("Open day", 3, 10));
    for _ in 0..2 {
        let out = run(&mut without_keyring(&w, w.command(&["sync"])));
        assert_eq!(out.code, 0, "{out}");
        assert_eq!(out.stderr, "", "an app-only run warned:\n{out}");
    }
    // A failing run's error carries no keyring advice either.
    let mut wrong = without_keyring(&w, w.command(&["sync"]));
    wrong.env("CALSYNC_CLIENT_SECRET", "not-the-secret");
    let out = run(&mut wrong);
    assert_eq!(out.code, 3, "{out}");
    assert!(!out.stderr.contains("keyring"), "{out}");
    assert!(!out.stderr.contains("calsync login"), "{out}");

    let status = run(&mut without_keyring(&w, w.command(&["status", "--json"])));
    assert_eq!(status.code, 0, "{status}");
    let auth = &status.json()["auth"];
    assert_eq!(auth["method"], "client_credentials");
    assert!(auth["token_store"].is_null(), "{status}");
    assert!(auth["access_token_expires"].is_null(), "{status}");
    assert!(auth["token_location"].is_null(), "{status}");
    let note = auth["note"].as_str().unwrap_or_default();
    assert!(note.contains("no token store"), "{status}");
    assert!(!note.contains("cached"), "{status}");
    // The text form names no store either.
    let text = run(&mut without_keyring(&w, w.command(&["status"])));
    assert!(
        text.stdout.contains("method client_credentials\n"),
        "{text}"
    );
    assert!(!text.stdout.contains("token store keyring"), "{text}");

    // token_store = "file": still no token file, and one that an earlier
    // version left with an app-only token in it loses the token.
    let legacy = r#"{"version":1,"sign_ins":{},"app_tokens":{"k":{"token":"old-app-token-Xy7","expires":"2099-01-01T00:00:00Z","obtained":"2026-01-01T00:00:00Z","scope":"s","credential":"c"}}}"#;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    std::io::Write::write_all(
        &mut options.open(token_file(&w)).unwrap(),
        legacy.as_bytes(),
    )
    .unwrap();
    w.sync();
    assert!(!token_file(&w).exists(), "the old app-only token was kept");
    w.sync();
    assert!(!token_file(&w).exists());
    Exposed::new()
        .state(&w.state_dir())
        .assert_free_of(&w.fake.issued_tokens());
}
