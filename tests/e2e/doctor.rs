//! `calsync doctor` end to end: the built binary against the fake Graph, as
//! an operator runs it once before the first sync.

use crate::common::*;
use fakegraph::{Behaviour, DeltaOccurrences, DevicePoll, DuplicateTransactionId};
use serde_json::{Value, json};
use std::process::Command;

const PROBE_SUBJECT: &str = "calsync doctor probe (safe to delete)";

/// A source with a public event, private ones and a private weekly meeting
/// in the next weeks, each holding the canary where it is not public.
/// A healthy tenant: the app may also read the mailbox's time zone.
fn seeded() -> World {
    let w = World::new();
    w.fake.set_app_roles(
        TENANT,
        CLIENT_ID,
        &["Calendars.ReadWrite", "MailboxSettings.Read"],
    );
    w.fake
        .set_mailbox_time_zone(MAILBOX, "W. Europe Standard Time");
    w.add_source(public_event("Open day", 3, 10));
    w.add_source(secret_event("private", 4, 9));
    w.add_source(secret_event("confidential", 5, 9));
    let first = day(2) + chrono::Duration::hours(17);
    let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%S").to_string();
    w.add_source(json!({
        "subject": format!("{CANARY} weekly board meeting"),
        "sensitivity": "private",
        "body": {"contentType": "text", "content": format!("{CANARY} agenda")},
        "start": {"dateTime": fmt(first), "timeZone": "UTC"},
        "end": {"dateTime": fmt(first + chrono::Duration::hours(1)), "timeZone": "UTC"},
        "recurrence": {
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": [first.format("%A").to_string().to_lowercase()], "firstDayOfWeek": "monday"},
            "range": {"type": "numbered", "startDate": date(2).format("%Y-%m-%d").to_string(), "numberOfOccurrences": 4}
        }
    }));
    // Made by hand in the target: never to be shown.
    w.add_target(secret_event("normal", 6, 12));
    w
}

/// The text lines of the checklist (those starting with a status tag).
fn check_lines(run: &Run) -> Vec<&str> {
    run.stdout.lines().filter(|l| l.starts_with('[')).collect()
}

/// The line of one check and the `fix:` line under it, if any.
fn line_of<'a>(run: &'a Run, title: &str) -> (&'a str, Option<&'a str>) {
    let lines: Vec<&str> = run.stdout.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with('[') && l[7..].starts_with(&format!("{title}: ")))
        .unwrap_or_else(|| panic!("no check \"{title}\":\n{run}"));
    let fix = lines
        .get(at + 1)
        .filter(|l| l.starts_with("       fix: "))
        .copied();
    (lines[at], fix)
}

/// No token, secret or canary in anything the run printed. (The target is
/// not searched: [`seeded`] puts the canary into an event made there by hand.)
#[track_caller]
fn assert_nothing_leaked(w: &World, run: &Run) {
    let mut needles = w.fake.issued_tokens();
    needles.push(CANARY.to_string());
    Exposed::new().run("doctor", run).assert_free_of(&needles);
}

/// The state dir holds nothing but the token cache: no lock, no history.
fn assert_state_untouched(w: &World) {
    if let Ok(entries) = std::fs::read_dir(w.state_dir()) {
        let names: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "tokens.json")
            .collect();
        assert!(names.is_empty(), "doctor wrote to the state dir: {names:?}");
    }
}

#[test]
fn a_healthy_app_only_tenant_passes_and_nothing_is_written() {
    let w = seeded();
    let run = w.run(&["doctor"]);
    assert_eq!(run.code, 0, "{run}");
    let lines = check_lines(&run);
    assert!(lines.len() >= 12, "{run}");
    for l in &lines {
        assert!(
            l.starts_with("[ok]   ") || l.starts_with("[info] "),
            "not ok: {l}\n{run}"
        );
    }
    let (config, _) = line_of(&run, "Configuration");
    assert!(config.contains("app-only sign-in"), "{config}");
    let (perm, _) = line_of(&run, "Permissions");
    assert!(perm.contains("Calendars.ReadWrite"), "{perm}");
    let (source, _) = line_of(&run, "Source calendar");
    assert!(
        source.contains("\"Calendar\" (the default calendar)"),
        "{source}"
    );
    assert!(source.contains(&format!("id:{}", w.source_id)), "{source}");
    let (target, _) = line_of(&run, "Target calendar");
    assert!(target.contains("\"Public Calendar\""), "{target}");
    assert!(target.contains(&format!("owner {MAILBOX}")), "{target}");
    assert!(target.contains("can edit"), "{target}");
    let (delta, _) = line_of(&run, "Delta and recurring meetings");
    assert!(
        delta.contains("occurrences arrive bare (only id, type, seriesMasterId, start, end)")
            && delta.contains("series masters are listed"),
        "{delta}"
    );
    let (zone, _) = line_of(&run, "Mailbox time zone");
    assert!(zone.contains("\"W. Europe Standard Time\""), "{zone}");
    let (probe, _) = line_of(&run, "Write probe");
    assert!(probe.contains("--write-probe"), "{probe}");
    assert!(
        run.stdout
            .trim_end()
            .lines()
            .last()
            .unwrap_or_default()
            .starts_with("Ready for `calsync sync`"),
        "{run}"
    );
    assert_eq!(
        w.fake.writes_applied(),
        0,
        "doctor wrote without --write-probe"
    );
    assert_nothing_leaked(&w, &run);
    assert_state_untouched(&w);
}

#[test]
fn the_mailbox_time_zone_shows_where_it_may_be_read() {
    let w = seeded();
    let run = w.run(&["doctor"]);
    assert_eq!(run.code, 0, "{run}");
    let (zone, _) = line_of(&run, "Mailbox time zone");
    assert!(zone.contains("\"W. Europe Standard Time\""), "{zone}");
    assert!(zone.contains("all-day copies"), "{zone}");
    let (optional, _) = line_of(&run, "Optional permissions");
    assert!(
        optional.contains("MailboxSettings.Read granted"),
        "{optional}"
    );
    // Without the permission sync still works, but all-day copies are
    // written in UTC: a warning, with what to grant.
    w.fake
        .set_app_roles(TENANT, CLIENT_ID, &["Calendars.ReadWrite"]);
    let run = w.run(&["doctor"]);
    assert_eq!(run.code, 0, "{run}");
    let (zone, fix) = line_of(&run, "Mailbox time zone");
    assert!(zone.starts_with("[warn]") && zone.contains("UTC"), "{zone}");
    assert!(
        fix.is_some_and(|f| f.contains("MailboxSettings.Read application permission")),
        "{run}"
    );
}

#[test]
fn occurrences_sent_whole_are_told_apart() {
    let w = seeded();
    w.fake.set_behaviour(Behaviour {
        delta_occurrences: DeltaOccurrences::Full,
        ..Behaviour::default()
    });
    let run = w.run(&["doctor"]);
    assert_eq!(run.code, 0, "{run}");
    let (delta, _) = line_of(&run, "Delta and recurring meetings");
    assert!(delta.contains("occurrences arrive whole"), "{delta}");
    assert!(!delta.contains("bare"), "{delta}");
    assert_nothing_leaked(&w, &run);
}

#[test]
fn without_a_recurring_meeting_there_is_nothing_to_tell() {
    let w = World::new();
    w.add_source(public_event("Open day", 3, 10));
    let run = w.run(&["doctor"]);
    assert_eq!(run.code, 0, "{run}");
    let (delta, _) = line_of(&run, "Delta and recurring meetings");
    assert!(
        delta.contains("no recurring meeting in the next 60 days"),
        "{delta}"
    );
}

/// Runs `doctor --write-probe` under one answer to a repeated
/// `transactionId`, and checks that only the probe's create and delete were
/// applied and that no probe is left.
fn probe_under(answer: DuplicateTransactionId) -> Run {
    let w = seeded();
    w.fake.set_behaviour(Behaviour {
        duplicate_transaction_id: answer,
        ..Behaviour::default()
    });
    let before = w.target_events().len();
    let run = w.run(&["doctor", "--write-probe"]);
    assert_eq!(run.code, 0, "{run}");
    let (create, _) = line_of(&run, "Write probe");
    assert!(create.starts_with("[ok]"), "{create}");
    assert!(create.contains(PROBE_SUBJECT), "{create}");
    let (deleted, _) = line_of(&run, "Probe deleted");
    assert!(deleted.starts_with("[ok]"), "{deleted}");
    assert!(deleted.contains("no probe is left"), "{deleted}");
    let events = w.target_events();
    assert_eq!(events.len(), before, "{events:?}");
    assert!(
        !serde_json::to_string(&events)
            .unwrap()
            .contains(PROBE_SUBJECT),
        "a probe is left: {events:?}"
    );
    assert_eq!(w.fake.writes_applied(), 2, "create and delete only");
    // The probe went as sync's creates go: in a batch, with a
    // transactionId, calsync's marker and no attendees.
    let posts: Vec<_> = w
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.in_batch && r.method == "POST")
        .collect();
    assert_eq!(posts.len(), 2, "{posts:?}");
    let first: Value = serde_json::from_str(&posts[0].body).unwrap();
    let second: Value = serde_json::from_str(&posts[1].body).unwrap();
    assert_eq!(first, second);
    assert!(
        first["transactionId"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    assert_eq!(first["sensitivity"], "normal");
    assert!(first.get("attendees").is_none());
    assert!(
        first.to_string().contains("calsyncSourceKey") && first.to_string().contains("probe:"),
        "{first}"
    );
    assert_eq!(w.fake.invites_sent(), 0);
    assert_nothing_leaked(&w, &run);
    assert_state_untouched(&w);
    run
}

/// The probe under one answer to a repeated `transactionId`, and what the
/// check of that answer must say.
fn write_probe_with_a_repeat(answer: DuplicateTransactionId, says: &[&str]) {
    let run = probe_under(answer);
    let (repeat, _) = line_of(&run, "Repeated transactionId");
    assert!(repeat.starts_with("[ok]"), "{repeat}");
    for words in says {
        assert!(repeat.contains(words), "{words:?} missing: {repeat}");
    }
}

test_cases! { write_probe_with_a_repeat;
    write_probe_with_a_repeat_refused_400_naming_the_event: (
        DuplicateTransactionId::Error400,
        &[
            "HTTP 400 ErrorDuplicateTransactionId",
            "naming the event made the first time in @event.existingEventId",
        ],
    ),
    write_probe_with_a_repeat_refused_409: (
        DuplicateTransactionId::Error409,
        &["HTTP 409 ErrorDuplicateTransactionId", "finds the copy by its marker"],
    ),
    write_probe_with_a_repeat_answered_201_with_the_first_event: (
        DuplicateTransactionId::Created201,
        &["HTTP 201", "Graph returned the event made the first time"],
    ),
}

#[test]
fn an_app_without_calendars_read_write_fails_with_exit_3() {
    let w = seeded();
    w.fake
        .set_app_roles(TENANT, CLIENT_ID, &["Calendars.Read", "User.Read.All"]);
    let run = w.run(&["doctor"]);
    assert_eq!(run.code, 3, "{run}");
    let (perm, fix) = line_of(&run, "Permissions");
    assert!(perm.starts_with("[FAIL]"), "{perm}");
    assert!(perm.contains("Calendars.ReadWrite"), "{perm}");
    assert!(
        perm.contains("granted: Calendars.Read, User.Read.All"),
        "{perm}"
    );
    let fix = fix.unwrap_or_else(|| panic!("no fix:\n{run}"));
    assert!(
        fix.contains("Application permissions > Calendars.ReadWrite")
            && fix.contains("admin consent"),
        "{fix}"
    );
    assert!(run.stdout.contains("Not ready for `calsync sync`"), "{run}");
    assert!(run.stderr.contains("Permissions"), "{run}");
    assert_nothing_leaked(&w, &run);
}

#[test]
fn an_unknown_target_name_is_a_configuration_error_listing_the_calendars() {
    let w = seeded();
    let mut cmd = w.command(&["doctor"]);
    cmd.env("CALSYNC_TARGET_CALENDAR", "Public Calender");
    let run = Run::from(cmd.output().unwrap());
    assert_eq!(run.code, 2, "{run}");
    let (target, fix) = line_of(&run, "Target calendar");
    assert!(target.starts_with("[FAIL]"), "{target}");
    assert!(
        target.contains("no calendar named \"Public Calender\""),
        "{target}"
    );
    let fix = fix.unwrap_or_else(|| panic!("no fix:\n{run}"));
    assert!(
        fix.contains("\"Public Calendar\"") && fix.contains("\"Calendar\" (the default calendar)"),
        "{fix}"
    );
    assert!(fix.contains("`target_calendar`"), "{fix}");
    // The ids too, for `id:`.
    assert!(run.stdout.contains(&format!("id:{}", w.target_id)), "{run}");
    // What needs the target is not checked; the source still is.
    let (marker, _) = line_of(&run, "Marker query");
    assert!(
        marker.starts_with("[info]") && marker.contains("not checked"),
        "{marker}"
    );
    let (source, _) = line_of(&run, "Source readable");
    assert!(source.starts_with("[ok]"), "{source}");
    assert_nothing_leaked(&w, &run);
}

#[test]
fn source_and_target_must_differ() {
    let w = World::new();
    let mut cmd = w.command(&["doctor"]);
    cmd.env("CALSYNC_TARGET_CALENDAR", format!("id:{}", w.source_id));
    let run = Run::from(cmd.output().unwrap());
    assert_eq!(run.code, 2, "{run}");
    let (target, fix) = line_of(&run, "Target calendar");
    assert!(target.contains("name the same calendar"), "{target}");
    assert!(fix.is_some_and(|f| f.contains("target_calendar")), "{run}");
}

fn delegated_world() -> World {
    let w = seeded();
    w.fake.allow_public_client_flows(TENANT, CLIENT_ID);
    w.fake.set_device_code_interval(0);
    w
}

/// A command for a delegated sign-in (no client secret) to `mailbox`.
fn delegated(w: &World, mailbox: Option<&str>, args: &[&str]) -> Command {
    let mut cmd = w.command(args);
    cmd.env_remove("CALSYNC_CLIENT_SECRET")
        .env_remove("CALSYNC_MAILBOX");
    if let Some(m) = mailbox {
        cmd.env("CALSYNC_MAILBOX", m);
    }
    cmd
}

fn run(cmd: &mut Command) -> Run {
    Run::from(cmd.output().expect("the calsync binary runs"))
}

#[test]
fn a_delegate_refused_listing_is_told_to_use_default_or_an_id() {
    let w = delegated_world();
    let ada = "ada@contoso.example";
    w.fake.add_user(ada);
    w.fake.script_device_flow(ada, &[DevicePoll::Approve]);
    let login = run(&mut delegated(&w, Some(MAILBOX), &["login"]));
    assert_eq!(login.code, 0, "{login}");

    let out = run(&mut delegated(&w, Some(MAILBOX), &["doctor"]));
    assert_eq!(out.code, 3, "{out}");
    let (config, _) = line_of(&out, "Configuration");
    assert!(config.contains("delegated sign-in"), "{config}");
    let (sign_in, _) = line_of(&out, "Sign-in");
    assert!(
        sign_in.contains(&format!("delegated token of {ada}")),
        "{sign_in}"
    );
    let (perm, _) = line_of(&out, "Permissions");
    assert!(
        perm.starts_with("[ok]") && perm.contains("Calendars.ReadWrite.Shared"),
        "{perm}"
    );
    // The default calendar is reached without listing.
    let (source, _) = line_of(&out, "Source calendar");
    assert!(source.starts_with("[ok]"), "{source}");
    let (target, fix) = line_of(&out, "Target calendar");
    assert!(target.starts_with("[FAIL]"), "{target}");
    assert!(target.contains("refused to list the calendars"), "{target}");
    assert!(target.contains("ErrorAccessDenied"), "{target}");
    let fix = fix.unwrap_or_else(|| panic!("no fix:\n{out}"));
    assert!(
        fix.contains("target_calendar") && fix.contains("`default`") && fix.contains("`id:`"),
        "{fix}"
    );
    // A delegate may not read another mailbox's settings.
    let (zone, _) = line_of(&out, "Mailbox time zone");
    assert!(zone.contains("only their own mailbox's settings"), "{zone}");
    assert_nothing_leaked(&w, &out);

    // Named by its id, the target is reached and the checklist passes.
    let mut cmd = delegated(&w, Some(MAILBOX), &["doctor", "--write-probe"]);
    cmd.env("CALSYNC_TARGET_CALENDAR", format!("id:{}", w.target_id));
    let out = run(&mut cmd);
    assert_eq!(out.code, 0, "{out}");
    assert!(w.target_events().len() == 1, "{:?}", w.target_events());
    assert_nothing_leaked(&w, &out);
}

#[test]
fn a_delegated_sign_in_to_ones_own_mailbox_passes() {
    let w = delegated_world();
    w.fake.script_device_flow(MAILBOX, &[DevicePoll::Approve]);
    let login = run(&mut delegated(&w, None, &["login"]));
    assert_eq!(login.code, 0, "{login}");
    let out = run(&mut delegated(&w, None, &["doctor"]));
    assert_eq!(out.code, 0, "{out}");
    let (perm, _) = line_of(&out, "Permissions");
    assert!(
        perm.contains("delegated permission Calendars.ReadWrite"),
        "{perm}"
    );
    let (optional, _) = line_of(&out, "Optional permissions");
    assert!(optional.contains("User.Read not granted"), "{optional}");
    let (source, _) = line_of(&out, "Source calendar");
    assert!(source.contains("the signed-in user's mailbox"), "{source}");
    assert_nothing_leaked(&w, &out);
}

#[test]
fn without_a_sign_in_the_fix_is_calsync_login() {
    let w = delegated_world();
    let out = run(&mut delegated(&w, None, &["doctor"]));
    assert_eq!(out.code, 3, "{out}");
    let (sign_in, fix) = line_of(&out, "Sign-in");
    assert!(
        sign_in.starts_with("[FAIL]") && sign_in.contains("Not signed in"),
        "{sign_in}"
    );
    assert!(fix.is_some_and(|f| f.contains("calsync login")), "{out}");
    // The clock is read all the same.
    let (clock, _) = line_of(&out, "Clock");
    assert!(clock.starts_with("[ok]"), "{clock}");
    let (target, _) = line_of(&out, "Target calendar");
    assert!(target.contains("not checked"), "{target}");
}

#[test]
fn a_wrong_secret_fails_with_exit_3() {
    let w = seeded();
    let mut cmd = w.command(&["doctor"]);
    cmd.env("CALSYNC_CLIENT_SECRET", "not-the-secret");
    let out = run(&mut cmd);
    assert_eq!(out.code, 3, "{out}");
    let (sign_in, fix) = line_of(&out, "Sign-in");
    assert!(sign_in.starts_with("[FAIL]"), "{sign_in}");
    assert!(fix.is_some_and(|f| f.contains("client_secret")), "{out}");
    Exposed::new()
        .run("doctor", &out)
        .assert_free_of(&["not-the-secret"]);
    assert_nothing_leaked(&w, &out);
}

#[test]
fn a_missing_key_is_a_configuration_error() {
    let w = World::new();
    let mut cmd = w.command(&["doctor"]);
    cmd.env_remove("CALSYNC_TENANT_ID");
    let out = run(&mut cmd);
    assert_eq!(out.code, 2, "{out}");
    let (config, fix) = line_of(&out, "Configuration");
    assert!(
        config.starts_with("[FAIL]") && config.contains("`tenant_id`"),
        "{config}"
    );
    assert!(
        fix.is_some_and(|f| f.contains("CALSYNC_TENANT_ID")),
        "{out}"
    );
    assert!(
        w.fake.requests().is_empty(),
        "configuration errors come before any request"
    );
}

#[test]
fn with_no_graph_side_there_is_nothing_to_check() {
    let w = World::new();
    let mut cmd = w.command(&["doctor"]);
    cmd.env("CALSYNC_SOURCE_KIND", "ics")
        .env("CALSYNC_SOURCE_PATH", w.home.path().join("internal.ics"))
        .env("CALSYNC_TARGET_KIND", "ics")
        .env("CALSYNC_TARGET_PATH", w.home.path().join("public.ics"));
    let out = run(&mut cmd);
    assert_eq!(out.code, 0, "{out}");
    let (config, _) = line_of(&out, "Configuration");
    assert!(
        config.contains("neither side is a Microsoft 365 calendar"),
        "{config}"
    );
    assert_eq!(check_lines(&out).len(), 1, "{out}");
    assert!(w.fake.requests().is_empty());
}

#[test]
fn an_ics_target_is_named_and_left_alone() {
    let w = seeded();
    let mut cmd = w.command(&["doctor", "--write-probe"]);
    cmd.env("CALSYNC_TARGET_KIND", "ics")
        .env("CALSYNC_TARGET_PATH", w.home.path().join("public.ics"));
    let out = run(&mut cmd);
    assert_eq!(out.code, 0, "{out}");
    let (target, _) = line_of(&out, "Target calendar");
    assert!(
        target.contains("not a Graph calendar, nothing to check"),
        "{target}"
    );
    assert!(!out.stdout.contains("Marker query"), "{out}");
    assert_eq!(w.fake.writes_applied(), 0);
}

#[test]
fn a_clock_ten_minutes_off_fails_and_two_minutes_off_warns() {
    let w = seeded();
    w.fake.set_clock_offset(chrono::Duration::minutes(10));
    let out = w.run(&["doctor"]);
    assert_eq!(out.code, 1, "{out}");
    let (clock, fix) = line_of(&out, "Clock");
    assert!(clock.starts_with("[FAIL]"), "{clock}");
    assert!(clock.contains("10 min behind Graph's"), "{clock}");
    assert!(fix.is_some_and(|f| f.contains("NTP")), "{out}");

    w.fake.set_clock_offset(chrono::Duration::minutes(-2));
    let out = w.run(&["doctor"]);
    assert_eq!(out.code, 0, "{out}");
    let (clock, fix) = line_of(&out, "Clock");
    assert!(clock.starts_with("[warn]"), "{clock}");
    assert!(clock.contains("2 min ahead of Graph's"), "{clock}");
    assert!(fix.is_some(), "{out}");
    assert!(out.stdout.contains("see the warnings above"), "{out}");
}

#[test]
fn json_is_one_document_with_every_check() {
    let w = seeded();
    let out = w.run(&["doctor", "--json", "--write-probe"]);
    assert_eq!(out.code, 0, "{out}");
    let doc = out.json();
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["exit_code"], 0);
    assert_eq!(doc["write_probe"], true);
    assert_eq!(doc["graph_url"], w.fake.graph_url());
    let checks = doc["checks"].as_array().unwrap();
    let ids: Vec<&str> = checks.iter().filter_map(|c| c["id"].as_str()).collect();
    assert_eq!(
        ids,
        [
            "configuration",
            "sign_in",
            "permissions",
            "optional_permissions",
            "source_calendar",
            "target_calendar",
            "clock",
            "source_readable",
            "delta_occurrences",
            "marker_query",
            "mailbox_time_zone",
            "write_probe",
            "repeated_transaction_id",
            "probe_deleted",
        ]
    );
    for c in checks {
        let status = c["status"].as_str().unwrap();
        assert!(["ok", "info"].contains(&status), "{c}");
        assert!(c["summary"].as_str().is_some_and(|s| !s.is_empty()), "{c}");
        assert!(c.get("fix").is_none(), "{c}");
        for key in c.as_object().unwrap().keys() {
            assert!(
                ["id", "status", "summary", "fix", "details"].contains(&key.as_str()),
                "{key} in {c}"
            );
        }
    }
    let delta = &checks[8]["details"];
    assert_eq!(delta["occurrences"], "bare");
    assert_eq!(delta["series_masters_listed"], true);
    assert_eq!(checks[5]["details"]["id"], w.target_id.as_str());
    assert_eq!(checks[5]["details"]["canEdit"], true);
    assert_eq!(doc["counts"]["fail"], 0);
    assert!(out.stderr.is_empty(), "{out}");
    assert_nothing_leaked(&w, &out);

    // A failure is one document too, with its fix and exit code.
    w.fake.set_app_roles(TENANT, CLIENT_ID, &[]);
    let out = w.run(&["doctor", "--json"]);
    assert_eq!(out.code, 3, "{out}");
    let doc = out.json();
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["exit_code"], 3);
    let perm = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "permissions")
        .unwrap();
    assert_eq!(perm["status"], "fail");
    assert!(
        perm["fix"]
            .as_str()
            .unwrap()
            .contains("Calendars.ReadWrite")
    );
    assert_nothing_leaked(&w, &out);
}

#[test]
fn an_unreadable_config_is_the_first_finding() {
    let w = World::new();
    let out = w.run(&["-c", "/nonexistent/calsync.toml", "doctor", "--json"]);
    assert_eq!(out.code, 2, "{out}");
    let doc = out.json();
    assert_eq!(doc["checks"][0]["id"], "configuration");
    assert_eq!(doc["checks"][0]["status"], "fail");
    assert!(doc["checks"][0]["fix"].is_string(), "{doc}");
}

#[test]
fn a_probe_that_cannot_be_deleted_is_named_by_its_id() {
    let w = seeded();
    // Every DELETE of an event (`/users/{mailbox}/events/{id}`) is refused.
    w.fake.set_faults(fakegraph::Faults {
        fail_path: Some((format!("{MAILBOX}/events/"), 403, 100)),
        ..fakegraph::Faults::default()
    });
    let out = w.run(&["doctor", "--write-probe"]);
    assert_eq!(out.code, 3, "{out}");
    let probe = w
        .target_events()
        .into_iter()
        .find(|e| e["subject"] == PROBE_SUBJECT)
        .unwrap_or_else(|| panic!("the fault did not keep the probe:\n{out}"));
    let id = probe["id"].as_str().unwrap();
    let (deleted, fix) = line_of(&out, "Probe deleted");
    assert!(deleted.starts_with("[FAIL]"), "{deleted}");
    assert!(deleted.contains(id), "{deleted}");
    let fix = fix.unwrap_or_else(|| panic!("no fix:\n{out}"));
    assert!(
        fix.contains(id) && fix.contains("calsync sync --full"),
        "{fix}"
    );
    // The create and its repeat were still reported.
    let (repeat, _) = line_of(&out, "Repeated transactionId");
    assert!(repeat.starts_with("[ok]"), "{repeat}");
    assert_nothing_leaked(&w, &out);

    // As said: the probe carries calsync's marker, so a full sync removes it.
    w.fake.set_faults(fakegraph::Faults::default());
    w.sync();
    assert_eq!(
        w.target_subjects()
            .iter()
            .filter(|s| *s == PROBE_SUBJECT)
            .count(),
        0
    );
}

#[test]
fn a_target_that_refuses_writes_fails_the_probe() {
    let w = seeded();
    // The target's events collection refuses everything (its listing too).
    w.fake.set_faults(fakegraph::Faults {
        fail_path: Some((format!("{}/events", w.target_id), 403, 100)),
        ..fakegraph::Faults::default()
    });
    let out = w.run(&["doctor", "--write-probe"]);
    assert_eq!(out.code, 3, "{out}");
    let (create, fix) = line_of(&out, "Write probe");
    assert!(
        create.starts_with("[FAIL]") && create.contains("403"),
        "{create}"
    );
    assert!(fix.is_some_and(|f| f.contains("edit rights")), "{out}");
    let (deleted, _) = line_of(&out, "Probe deleted");
    assert!(deleted.contains("nothing to delete"), "{deleted}");
    assert_eq!(w.fake.writes_applied(), 0);
}
