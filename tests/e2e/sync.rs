//! `calsync sync` end to end: the built binary against the fake Graph over
//! loopback HTTP. What it copies and how; runs that meet failures are in
//! `sync_recovery`.

use crate::common::*;
use chrono::{Duration, Utc};
use serde_json::json;
use std::collections::HashSet;

#[test]
fn copies_public_events_and_nothing_private() {
    let w = World::new();
    w.add_source(public_event("Open day", 3, 10));
    w.add_source(public_event("Board meeting (public)", 5, 14));
    for (i, s) in ["private", "confidential", "personal"].iter().enumerate() {
        w.add_source(secret_event(s, 2 + i as i64, 9));
    }
    // A cancelled public meeting, as an attendee's copy lingers after cancellation.
    let mut cancelled = public_event(&format!("Canceled: {CANARY} concert"), 4, 18);
    cancelled["isCancelled"] = json!(true);
    w.add_source(cancelled);

    let dry = w.run(&["sync", "--dry-run", "-vv"]);
    assert_eq!(dry.code, 0, "{dry}");
    let json_run = w.run(&["sync", "--dry-run", "--json", "-vvv"]);
    assert_eq!(json_run.code, 0, "{json_run}");
    let run = w.run(&["-vvv", "sync"]);
    assert_eq!(run.code, 0, "{run}");

    assert_eq!(w.target_subjects(), ["Board meeting (public)", "Open day"]);
    let history = std::fs::read_to_string(w.state_dir().join("history.jsonl")).unwrap();
    Exposed::new()
        .target(&w)
        .run("the dry run", &dry)
        .run("the --json dry run", &json_run)
        .run("sync", &run)
        .text("the history", history)
        .state(&w.state_dir())
        .assert_free_of(&[CANARY]);
    // Bodies and locations are not copied by default; no invitation was sent.
    for e in w.target_events() {
        assert!(
            !e["body"]["content"]
                .as_str()
                .unwrap_or_default()
                .contains("Agenda")
        );
        assert_eq!(
            e["location"]["displayName"].as_str().unwrap_or_default(),
            ""
        );
        assert!(e["attendees"].as_array().is_none_or(|a| a.is_empty()));
    }
    assert_eq!(w.fake.invites_sent(), 0);
}

#[test]
fn copy_policy_and_filter_rules_from_the_config_file() {
    let w = World::new();
    let mut tagged = public_event("Festival", 2, 10);
    tagged["categories"] = json!(["Public events"]);
    w.add_source(tagged);
    w.add_source(public_event("Internal drill", 3, 10));
    let mut free = public_event("Holiday reminder", 4, 10);
    free["showAs"] = json!("free");
    free["categories"] = json!(["Public events"]);
    w.add_source(free);
    let config = w.config_file(
        r#"
[filter]
include_categories = ["public events"]
show_as = ["busy"]

[copy]
location = true
body = true
categories = true
"#,
    );
    let run = w.run(&["--config", config.to_str().unwrap(), "sync"]);
    assert_eq!(run.code, 0, "{run}");
    let events = w.target_events();
    assert_eq!(events.len(), 1, "{events:#?}");
    let e = &events[0];
    assert_eq!(e["subject"], "Festival");
    assert_eq!(e["location"]["displayName"], "Town hall");
    assert!(
        e["body"]["content"]
            .as_str()
            .unwrap()
            .contains("Agenda for Festival")
    );
    assert_eq!(e["categories"], json!(["Public events"]));
}

#[test]
fn all_day_multi_day_and_other_time_zone_events_are_copied_exactly() {
    let w = World::new();
    let d = date(6).format("%Y-%m-%d").to_string();
    let d1 = date(7).format("%Y-%m-%d").to_string();
    let d3 = date(9).format("%Y-%m-%d").to_string();
    w.add_source(json!({
        "subject": "Founders' day", "isAllDay": true, "sensitivity": "normal",
        "start": {"dateTime": format!("{d}T00:00:00"), "timeZone": "Tokyo Standard Time"},
        "end": {"dateTime": format!("{d1}T00:00:00"), "timeZone": "Tokyo Standard Time"},
    }));
    w.add_source(json!({
        "subject": "Conference", "isAllDay": true, "sensitivity": "normal", "showAs": "oof",
        "start": {"dateTime": format!("{d}T00:00:00"), "timeZone": "Pacific Standard Time"},
        "end": {"dateTime": format!("{d3}T00:00:00"), "timeZone": "Pacific Standard Time"},
    }));
    // 09:30 in New York; the copy must be the same instant.
    w.add_source(json!({
        "subject": "Webinar", "sensitivity": "normal",
        "start": {"dateTime": format!("{d}T09:30:00"), "timeZone": "Eastern Standard Time"},
        "end": {"dateTime": format!("{d}T11:00:00"), "timeZone": "America/New_York"},
    }));
    // Spans three days, timed, in Central Europe.
    w.add_source(json!({
        "subject": "Retreat", "sensitivity": "normal",
        "start": {"dateTime": format!("{d}T18:00:00"), "timeZone": "W. Europe Standard Time"},
        "end": {"dateTime": format!("{d3}T12:00:00"), "timeZone": "W. Europe Standard Time"},
    }));
    w.sync();

    let by_subject = |s: &str| {
        w.target_events()
            .into_iter()
            .find(|e| e["subject"] == s)
            .unwrap_or_else(|| panic!("{s} was not copied"))
    };
    let utc = |e: &serde_json::Value, k: &str| {
        let tz = e[k]["timeZone"].as_str().unwrap().to_string();
        let dt = e[k]["dateTime"].as_str().unwrap().to_string();
        (dt[..19].to_string(), tz)
    };
    let founders = by_subject("Founders' day");
    assert_eq!(founders["isAllDay"], true);
    assert_eq!(utc(&founders, "start").0, format!("{d}T00:00:00"));
    assert_eq!(utc(&founders, "end").0, format!("{d1}T00:00:00"));
    let conf = by_subject("Conference");
    assert_eq!(conf["isAllDay"], true);
    assert_eq!(conf["showAs"], "oof");
    assert_eq!(utc(&conf, "start").0, format!("{d}T00:00:00"));
    assert_eq!(utc(&conf, "end").0, format!("{d3}T00:00:00"));

    let instant = |local: &str, zone: chrono_tz::Tz| {
        chrono::NaiveDateTime::parse_from_str(local, "%Y-%m-%dT%H:%M:%S")
            .unwrap()
            .and_local_timezone(zone)
            .single()
            .unwrap()
            .with_timezone(&Utc)
            .format("%Y-%m-%dT%H:%M:%S")
            .to_string()
    };
    let web = by_subject("Webinar");
    assert_eq!(web["isAllDay"], false);
    assert_eq!(
        utc(&web, "start"),
        (
            instant(&format!("{d}T09:30:00"), chrono_tz::America::New_York),
            "UTC".into()
        )
    );
    assert_eq!(
        utc(&web, "end").0,
        instant(&format!("{d}T11:00:00"), chrono_tz::America::New_York)
    );
    let retreat = by_subject("Retreat");
    assert_eq!(
        utc(&retreat, "start").0,
        instant(&format!("{d}T18:00:00"), chrono_tz::Europe::Berlin)
    );
    assert_eq!(
        utc(&retreat, "end").0,
        instant(&format!("{d3}T12:00:00"), chrono_tz::Europe::Berlin)
    );
}

#[test]
fn second_run_writes_nothing_and_updates_keep_the_target_id() {
    let w = World::new();
    let talk = w.add_source(public_event("Talk", 2, 10));
    w.add_source(public_event("Fair", 3, 10));
    w.sync();
    let before = w.fake.writes_applied();
    let ids: HashSet<String> = w
        .target_events()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();

    w.sync();
    assert_eq!(w.fake.writes_applied(), before, "an unchanged run wrote");

    w.fake
        .update_event(MAILBOX, &talk, json!({"subject": "Talk (moved to room 2)"}));
    w.sync();
    assert_eq!(w.fake.writes_applied(), before + 1);
    let after: HashSet<String> = w
        .target_events()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, after, "the update must patch in place");
    assert_eq!(w.target_subjects(), ["Fair", "Talk (moved to room 2)"]);

    // A hand edit of a managed copy is repaired.
    let (_, fair) = w
        .managed()
        .into_iter()
        .find(|(_, e)| e["subject"] == "Fair")
        .unwrap();
    w.fake.update_event(
        MAILBOX,
        fair["id"].as_str().unwrap(),
        json!({"subject": "Fair (edited by hand)"}),
    );
    // Incremental runs trust their record of the target; a full
    // reconciliation (--full, or the periodic one) repairs hand edits.
    let full = w.run(&["sync", "--full"]);
    assert_eq!(full.code, 0, "{full}");
    assert_eq!(w.target_subjects(), ["Fair", "Talk (moved to room 2)"]);
}

#[test]
fn deleted_or_now_private_source_events_are_removed_from_the_target() {
    let w = World::new();
    w.add_source(public_event("Stays", 2, 10));
    let b = w.add_source(public_event("Gets deleted", 3, 10));
    let c = w.add_source(public_event("Becomes private", 4, 10));
    w.sync();
    assert_eq!(w.target_events().len(), 3);
    w.fake.delete_event(MAILBOX, &b);
    w.fake
        .update_event(MAILBOX, &c, json!({"sensitivity": "private"}));
    let run = w.sync();
    assert_eq!(w.target_subjects(), ["Stays"], "{run}");
}

#[test]
fn hand_made_and_out_of_window_target_events_are_untouched() {
    let w = World::new();
    w.add_source(public_event("Public", 2, 10));
    let by_hand = w.add_target(public_event("Added by hand", 2, 12));
    // A copy calsync made long ago, now in the past and out of the window.
    let mut old = public_event("Last year's fair", -300, 10);
    old["singleValueExtendedProperties"] = json!([
        {"id": "String {5d2c6a0e-8b1f-4e5a-9c3d-7a41f02b6e19} Name calsyncSourceKey", "value": "i:gone-long-ago"},
        {"id": "String {5d2c6a0e-8b1f-4e5a-9c3d-7a41f02b6e19} Name calsyncContentHash", "value": "0"}
    ]);
    let old_id = w.add_target(old);
    w.sync();
    let events = w.target_events();
    let ids: Vec<&str> = events.iter().filter_map(|e| e["id"].as_str()).collect();
    assert!(ids.contains(&by_hand.as_str()));
    assert!(ids.contains(&old_id.as_str()));
    assert_eq!(events.len(), 3);
    let hand = events.iter().find(|e| e["id"] == by_hand.as_str()).unwrap();
    assert_eq!(hand["subject"], "Added by hand");
}

#[test]
fn dry_run_prints_the_plan_and_writes_nothing() {
    let w = World::new();
    w.add_source(public_event("Open day", 3, 10));
    let run = w.run(&["sync", "--dry-run"]);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.contains("create"), "{run}");
    assert!(run.stdout.contains("Open day"), "{run}");
    assert_eq!(w.fake.writes_applied(), 0);
    assert!(w.target_events().is_empty());

    let json_run = w.run(&["sync", "--dry-run", "--json"]);
    assert_eq!(json_run.code, 0, "{json_run}");
    let doc = json_run.json();
    assert_eq!(doc["dry_run"], true);
    assert_eq!(doc["plan"]["create"][0]["subject"], "Open day");
    assert_eq!(doc["counts"]["created"], 1);
    assert_eq!(w.fake.writes_applied(), 0);

    // The seed service's variable turns every run into a dry run too.
    let mut cmd = w.command(&["sync"]);
    cmd.env("DRY_RUN_MODE", "true");
    let out = cmd.output().unwrap();
    assert!(out.status.success());
    assert_eq!(w.fake.writes_applied(), 0);
}

#[test]
fn recurring_occurrences_keep_their_copies_when_graph_reissues_ids() {
    let w = World::new();
    let first = day(1) + Duration::hours(17);
    let series = w.add_source(json!({
        "subject": "Choir rehearsal", "sensitivity": "normal",
        "start": {"dateTime": first.format("%Y-%m-%dT%H:%M:%S").to_string(), "timeZone": "UTC"},
        "end": {"dateTime": (first + Duration::hours(2)).format("%Y-%m-%dT%H:%M:%S").to_string(), "timeZone": "UTC"},
        "recurrence": {
            "pattern": {"type": "daily", "interval": 7},
            "range": {"type": "numbered", "startDate": date(1).format("%Y-%m-%d").to_string(), "numberOfOccurrences": 4}
        }
    }));
    // The third rehearsal moves an hour later; the fourth is cancelled.
    w.fake.modify_occurrence(
        MAILBOX,
        &series,
        first + Duration::days(14),
        json!({"subject": "Choir rehearsal (late)",
               "start": {"dateTime": (first + Duration::days(14) + Duration::hours(1)).format("%Y-%m-%dT%H:%M:%S").to_string(), "timeZone": "UTC"},
               "end": {"dateTime": (first + Duration::days(14) + Duration::hours(3)).format("%Y-%m-%dT%H:%M:%S").to_string(), "timeZone": "UTC"}}),
    );
    w.fake
        .cancel_occurrence(MAILBOX, &series, first + Duration::days(21));
    w.sync();
    assert_eq!(
        w.target_subjects(),
        [
            "Choir rehearsal",
            "Choir rehearsal",
            "Choir rehearsal (late)"
        ]
    );
    let before = w.fake.writes_applied();
    w.fake.reissue_occurrence_ids();
    w.sync();
    assert_eq!(
        w.fake.writes_applied(),
        before,
        "re-issued ids caused writes"
    );
}

#[test]
fn tokens_and_secrets_never_appear_in_output() {
    let w = World::new();
    w.add_source(public_event("Open day", 3, 10));
    let mut exposed = Exposed::new();
    for args in [
        vec!["sync", "--dry-run"],
        vec!["-v", "sync"],
        vec!["-vv", "sync", "--json"],
        vec!["-vvv", "sync"],
        vec!["-vvv", "--log-format", "json", "sync", "--dry-run"],
    ] {
        let run = w.run(&args);
        assert_eq!(run.code, 0, "{run}");
        exposed = exposed.run(&format!("{args:?}"), &run);
    }
    // A refused secret must not be echoed either.
    let mut bad = w.command(&["-vvv", "sync"]);
    bad.env("CALSYNC_CLIENT_SECRET", "wrong-secret-Kx81");
    let bad = Run::from(bad.output().unwrap());
    assert_eq!(bad.code, 3, "{bad}");
    let tokens = w.fake.issued_tokens();
    assert!(!tokens.is_empty());
    // An app-only access token is never persisted, so no state file, the
    // token store included, holds one.
    assert!(
        !w.state_dir().join("tokens.json").exists(),
        "an app-only run wrote a token file"
    );
    let mut needles = vec![SECRET.to_string(), "wrong-secret-Kx81".to_string()];
    needles.extend(tokens);
    exposed
        .run("the run with a wrong secret", &bad)
        .state(&w.state_dir())
        .assert_free_of(&needles);
}

#[test]
fn first_and_unchanged_sync_request_counts_for_1000_events() {
    let w = World::new();
    for i in 0..1000 {
        w.add_source(public_event(
            &format!("Event {i:04}"),
            1 + i / 10,
            8 + i % 10,
        ));
    }
    w.sync();
    let first = w.fake.requests();
    w.fake.clear_requests();
    w.sync();
    let second = w.fake.requests();
    let top = |r: &[fakegraph::RecordedRequest]| r.iter().filter(|r| !r.in_batch).count();
    let ops = |r: &[fakegraph::RecordedRequest]| {
        r.iter()
            .filter(|r| r.path != "/$batch" && !r.path.contains("/oauth2/"))
            .count()
    };
    let kinds = |r: &[fakegraph::RecordedRequest]| {
        let mut k = std::collections::BTreeMap::new();
        for r in r.iter().filter(|r| !r.in_batch) {
            let kind = r.path.rsplit('/').next().unwrap_or_default().to_string();
            *k.entry(format!("{} {kind}", r.method)).or_insert(0) += 1;
        }
        k
    };
    eprintln!(
        "1000 public events: first sync {} HTTP requests ({} Graph operations) {:?}; \
         unchanged second sync {} HTTP requests {:?}",
        top(&first),
        ops(&first),
        kinds(&first),
        top(&second),
        kinds(&second)
    );
    assert_eq!(w.managed().len(), 1000);
    // token + 2 calendar lookups + reads + ceil(1000 / 20) batches + one
    // small batch that times Graph, and one more batch for each answer Graph
    // throttled (on a busy machine the fake's own timing varies).
    let throttled = first
        .iter()
        .filter(|r| r.in_batch && r.status == 429)
        .count();
    assert!(
        top(&first) <= 1 + 2 + 4 + 50 + 1 + throttled,
        "first sync made {} requests ({throttled} throttled)",
        top(&first)
    );
    assert!(
        top(&second) <= 1 + 2 + 4,
        "second sync made {} requests",
        top(&second)
    );
}

/// The bodies of the events calsync created, by subject.
fn created_bodies(w: &World) -> std::collections::HashMap<String, serde_json::Value> {
    w.fake
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/events"))
        .filter_map(|r| serde_json::from_str::<serde_json::Value>(&r.body).ok())
        .map(|b| (b["subject"].as_str().unwrap_or_default().to_string(), b))
        .collect()
}

#[test]
fn all_day_copies_are_written_in_the_target_mailbox_zone() {
    let w = World::new();
    w.fake.set_app_roles(
        TENANT,
        CLIENT_ID,
        &["Calendars.ReadWrite", "MailboxSettings.Read"],
    );
    w.fake
        .set_mailbox_time_zone(MAILBOX, "W. Europe Standard Time");
    let d = date(6).format("%Y-%m-%d").to_string();
    let d1 = date(7).format("%Y-%m-%d").to_string();
    w.add_source(json!({
        "subject": "Founders' day", "isAllDay": true, "sensitivity": "normal",
        "start": {"dateTime": format!("{d}T00:00:00"), "timeZone": "Tokyo Standard Time"},
        "end": {"dateTime": format!("{d1}T00:00:00"), "timeZone": "Tokyo Standard Time"},
    }));
    w.add_source(public_event("Webinar", 6, 9));
    let first = w.run(&["sync"]);
    assert_eq!(first.code, 0, "{first}");
    let bodies = created_bodies(&w);
    // Midnight to midnight where the public calendar's people are, so that
    // Outlook shows it on its one day; timed copies stay instants in UTC.
    assert_eq!(
        bodies["Founders' day"]["start"],
        json!({"dateTime": format!("{d}T00:00:00"), "timeZone": "W. Europe Standard Time"})
    );
    assert_eq!(
        bodies["Founders' day"]["end"],
        json!({"dateTime": format!("{d1}T00:00:00"), "timeZone": "W. Europe Standard Time"})
    );
    assert_eq!(bodies["Webinar"]["start"]["timeZone"], "UTC");
    assert!(!first.stderr.contains("MailboxSettings.Read"), "{first}");
    // Read back, the copy is the same day: nothing to do, nothing wrong.
    let again = w.run(&["sync", "--full", "--json"]);
    assert_eq!(again.json()["counts"]["unchanged"], 2, "{again}");
    assert_eq!(w.run(&["validate"]).code, 0);

    // Without the permission the copy is written in UTC, and the operator
    // is told what that means and what to grant, once.
    let w = World::new();
    w.add_source(json!({
        "subject": "Founders' day", "isAllDay": true, "sensitivity": "normal",
        "start": {"dateTime": format!("{d}T00:00:00"), "timeZone": "UTC"},
        "end": {"dateTime": format!("{d1}T00:00:00"), "timeZone": "UTC"},
    }));
    let run = w.run(&["sync"]);
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stderr.contains("MailboxSettings.Read") && run.stderr.contains("two days"),
        "{run}"
    );
    assert_eq!(
        created_bodies(&w)["Founders' day"]["start"]["timeZone"],
        "UTC"
    );
    let d8 = date(8).format("%Y-%m-%d").to_string();
    let d9 = date(9).format("%Y-%m-%d").to_string();
    w.add_source(json!({
        "subject": "Harvest day", "isAllDay": true, "sensitivity": "normal",
        "start": {"dateTime": format!("{d8}T00:00:00"), "timeZone": "UTC"},
        "end": {"dateTime": format!("{d9}T00:00:00"), "timeZone": "UTC"},
    }));
    w.fake.clear_requests();
    let next = w.run(&["sync"]);
    assert_eq!(next.code, 0, "{next}");
    assert!(!next.stderr.contains("MailboxSettings.Read"), "{next}");
    assert!(
        !w.fake
            .requests()
            .iter()
            .any(|r| r.path.contains("mailboxSettings")),
        "the answer is remembered"
    );
    // A calendar without all-day events never asks.
    let w = World::new();
    w.add_source(public_event("Webinar", 6, 9));
    w.sync();
    assert!(
        !w.fake
            .requests()
            .iter()
            .any(|r| r.path.contains("mailboxSettings"))
    );
}

// Every test above, once more under each switch of the fake that changes
// what a sync sees.
under_each_graph_behaviour!(
    copies_public_events_and_nothing_private,
    copy_policy_and_filter_rules_from_the_config_file,
    all_day_multi_day_and_other_time_zone_events_are_copied_exactly,
    second_run_writes_nothing_and_updates_keep_the_target_id,
    deleted_or_now_private_source_events_are_removed_from_the_target,
    hand_made_and_out_of_window_target_events_are_untouched,
    dry_run_prints_the_plan_and_writes_nothing,
    recurring_occurrences_keep_their_copies_when_graph_reissues_ids,
    tokens_and_secrets_never_appear_in_output,
    first_and_unchanged_sync_request_counts_for_1000_events,
    all_day_copies_are_written_in_the_target_mailbox_zone,
);
