//! Pairs end to end (docs/pairs.md): several internal calendars merged into
//! one public one, many pairs in one config, each with its own guard, state
//! and failures, chosen by name. Shards are in `pairs_shards`.

use crate::common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// A second mailbox: the chair's, a source of its own.
pub(super) const CHAIR: &str = "chair@contoso.example";

/// Canaries of the other sources, so that a leak names the source it came from.
const CHAIR_CANARY: &str = "CANARY-chair-5d1a70";
const FILE_CANARY: &str = "CANARY-file-c83e14";
/// In the public reading of a meeting that another source holds as private.
const SPLIT_CANARY: &str = "CANARY-split-2b96f0";

/// Adds a mailbox and returns the id of its default calendar ("Calendar").
pub(super) fn add_mailbox(w: &World, upn: &str) -> String {
    w.fake.add_mailbox(upn);
    w.fake
        .calendar_id(upn, SOURCE)
        .expect("the fake creates the default calendar")
}

/// [`secret_event`] with another canary in every text field.
fn secret_with(canary: &str, sensitivity: &str, days: i64, hour: i64) -> Value {
    let text = secret_event(sensitivity, days, hour)
        .to_string()
        .replace(CANARY, canary);
    serde_json::from_str(&text).expect("json")
}

/// Sorted subjects of a calendar of any mailbox of the fake.
pub(super) fn subjects(w: &World, mailbox: &str, calendar_id: &str) -> Vec<String> {
    let mut s: Vec<String> = w
        .fake
        .events(mailbox, calendar_id)
        .iter()
        .map(|e| e["subject"].as_str().unwrap_or_default().to_string())
        .collect();
    s.sort();
    s
}

/// The `iCalUId` Graph gives an event of the world's source calendar.
fn ical_uid(w: &World, mailbox: &str, calendar_id: &str, id: &str) -> String {
    w.fake
        .events(mailbox, calendar_id)
        .into_iter()
        .find(|e| e["id"] == id)
        .and_then(|e| e["iCalUId"].as_str().map(str::to_string))
        .expect("the event has an iCalUId")
}

/// An iCalendar instant `days` from today at `hour`:00 UTC.
fn ics_time(days: i64, hour: i64) -> String {
    (day(days) + chrono::Duration::hours(hour))
        .format("%Y%m%dT%H%M%SZ")
        .to_string()
}

/// A one-hour event of a file; `class` is its `CLASS` (`""`: none, public).
fn vevent(uid: &str, summary: &str, days: i64, hour: i64, class: &str) -> String {
    let class = if class.is_empty() {
        String::new()
    } else {
        format!("CLASS:{class}\n")
    };
    format!(
        "BEGIN:VEVENT\nUID:{uid}\nDTSTAMP:20260101T000000Z\nSUMMARY:{summary}\n\
         DESCRIPTION:Notes on {summary}\nLOCATION:Room of {summary}\n{class}\
         DTSTART:{}\nDTEND:{}\nEND:VEVENT\n",
        ics_time(days, hour),
        ics_time(days, hour + 1)
    )
}

fn vcalendar(events: &[String]) -> String {
    format!(
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//Example//calsync tests//EN\n{}END:VCALENDAR\n",
        events.concat()
    )
}

/// Writes a file beside the config (where a pair's relative paths point).
fn home_file(w: &World, name: &str, text: &str) -> PathBuf {
    let path = w.home.path().join(name);
    std::fs::write(&path, text).expect("write a file");
    path
}

/// Runs calsync with the world's config file (`calsync.toml` in its home).
pub(super) fn run(w: &World, args: &[&str]) -> Run {
    let config = w.home.path().join("calsync.toml");
    let mut all = vec!["--config", config.to_str().expect("utf-8 path")];
    all.extend_from_slice(args);
    w.run(&all)
}

/// The names of the pairs a `--json` document reports, in its order.
pub(super) fn pair_names(doc: &Value) -> Vec<String> {
    doc["pairs"]
        .as_array()
        .unwrap_or_else(|| panic!("no \"pairs\" array: {doc:#}"))
        .iter()
        .map(|p| p["pair"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The entry of one pair in a `--json` document.
fn pair_entry<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["pairs"]
        .as_array()
        .and_then(|a| a.iter().find(|p| p["pair"] == name))
        .unwrap_or_else(|| panic!("no pair {name:?} in {doc:#}"))
}

/// The one line of the text summary that names a pair that did not succeed.
fn failure_line<'a>(run: &'a Run, name: &str) -> &'a str {
    let prefix = format!("  {name}: ");
    run.stdout
        .lines()
        .chain(run.stderr.lines())
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no line for the pair {name} that failed:\n{run}"))
}

// ------------------------------------------------------------ merged sources

#[test]
fn merged_sources_publish_each_public_meeting_once_and_nothing_private() {
    let w = World::new();
    let chair = add_mailbox(&w, CHAIR);

    // The events calendar: public, private and a meeting the file holds too.
    w.add_source(public_event("Open day", 2, 10));
    w.add_source(secret_event("private", 3, 9));
    w.add_source(secret_event("confidential", 4, 9));
    let joint = w.add_source(public_event("Joint concert", 5, 18));
    let joint_uid = ical_uid(&w, MAILBOX, &w.source_id, &joint);

    // The chair's calendar: public, personal, and a meeting private here that
    // the file calls public.
    w.fake
        .insert_event(CHAIR, &chair, public_event("Chair's lecture", 3, 15));
    w.fake
        .insert_event(CHAIR, &chair, secret_with(CHAIR_CANARY, "personal", 4, 11));
    let split = w
        .fake
        .insert_event(CHAIR, &chair, secret_with(CHAIR_CANARY, "private", 6, 14));
    let split_uid = ical_uid(&w, CHAIR, &chair, &split);

    // The file: public, private, confidential, and both shared meetings.
    home_file(
        &w,
        "holidays.ics",
        &vcalendar(&[
            vevent("bank-holiday@test", "Bank holiday", 7, 0, ""),
            vevent(
                "private@test",
                &format!("{FILE_CANARY} private"),
                3,
                12,
                "PRIVATE",
            ),
            vevent(
                "confidential@test",
                &format!("{FILE_CANARY} confidential"),
                4,
                12,
                "CONFIDENTIAL",
            ),
            vevent(
                &joint_uid,
                "Joint concert (as the file has it)",
                5,
                18,
                "PUBLIC",
            ),
            vevent(
                &split_uid,
                &format!("{SPLIT_CANARY} split meeting"),
                6,
                14,
                "PUBLIC",
            ),
        ]),
    );
    w.config_file(&format!(
        r#"
[[pair]]
name = "board"
target_mailbox = "{MAILBOX}"
target_calendar = "{TARGET}"

[[pair.sources]]
name = "events"
mailbox = "{MAILBOX}"

[[pair.sources]]
name = "chair"
mailbox = "{CHAIR}"

[[pair.sources]]
name = "holidays"
kind = "ics"
path = "holidays.ics"
"#
    ));

    let dry = run(&w, &["sync", "--dry-run"]);
    assert_eq!(dry.code, 0, "{dry}");
    assert!(w.target_events().is_empty(), "a dry run wrote:\n{dry}");
    let first = run(&w, &["-vv", "sync"]);
    assert_eq!(first.code, 0, "{first}");
    // The shared meeting once, from the first source listed that holds it;
    // the split one by none, since one source says it is private.
    assert_eq!(
        w.target_subjects(),
        [
            "Bank holiday",
            "Chair's lecture",
            "Joint concert",
            "Open day"
        ],
        "{first}"
    );
    let history = w.state_dir().join("pairs/board/history.jsonl");
    assert!(history.is_file(), "no history at {}", history.display());

    let writes = w.fake.writes_applied();
    let second = run(&w, &["sync", "--json"]);
    assert_eq!(second.code, 0, "{second}");
    assert_eq!(w.fake.writes_applied(), writes, "an unchanged run wrote");
    let doc = second.json();
    assert_eq!(pair_names(&doc), ["board"], "{second}");
    assert_eq!(doc["counts"]["created"], 0, "{second}");
    assert_eq!(doc["counts"]["unchanged"], 4, "{second}");

    Exposed::new()
        .target(&w)
        .run("the dry run", &dry)
        .run("the first sync", &first)
        .run("the second sync", &second)
        .state(&w.state_dir())
        .assert_free_of(&[CANARY, CHAIR_CANARY, FILE_CANARY, SPLIT_CANARY]);
}

/// A pair of two Graph sources, `main` (the events calendar) and `extra`
/// (the chair's), with `extra` left out when `with_extra` is false.
fn two_source_config(w: &World, with_extra: bool) {
    let extra = if with_extra {
        format!("\n[[pair.sources]]\nname = \"extra\"\nmailbox = \"{CHAIR}\"\n")
    } else {
        String::new()
    };
    w.config_file(&format!(
        r#"
[[pair]]
name = "board"
target_mailbox = "{MAILBOX}"
target_calendar = "{TARGET}"
max_delete_fraction = 0.1

[[pair.sources]]
name = "main"
mailbox = "{MAILBOX}"
{extra}"#
    ));
}

#[test]
fn removing_a_source_removes_its_copies_under_the_deletion_guard() {
    let w = World::new();
    let chair = add_mailbox(&w, CHAIR);
    for i in 0..20 {
        w.add_source(public_event(&format!("Main {i:02}"), 1 + i / 4, 9 + i % 4));
    }
    for i in 0..12 {
        w.fake.insert_event(
            CHAIR,
            &chair,
            public_event(&format!("Extra {i:02}"), 1 + i / 4, 14 + i % 4),
        );
    }
    two_source_config(&w, true);
    let first = run(&w, &["sync"]);
    assert_eq!(first.code, 0, "{first}");
    assert_eq!(w.managed().len(), 32, "{first}");
    let main_ids = |w: &World| -> BTreeSet<String> {
        w.target_events()
            .iter()
            .filter(|e| {
                e["subject"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("Main")
            })
            .map(|e| e["id"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let kept = main_ids(&w);

    // 12 of 32 copies would go: more than a tenth, so the guard refuses.
    two_source_config(&w, false);
    let writes = w.fake.writes_applied();
    let refused = run(&w, &["sync"]);
    assert_eq!(refused.code, 6, "{refused}");
    assert_eq!(
        w.fake.writes_applied(),
        writes,
        "the guard let writes through"
    );
    assert_eq!(w.managed().len(), 32);
    assert!(
        failure_line(&refused, "board").ends_with("(exit 6)"),
        "{refused}"
    );

    let forced = run(&w, &["sync", "--force"]);
    assert_eq!(forced.code, 0, "{forced}");
    let expected: Vec<String> = (0..20).map(|i| format!("Main {i:02}")).collect();
    assert_eq!(w.target_subjects(), expected, "{forced}");
    assert_eq!(
        main_ids(&w),
        kept,
        "the copies of the kept source were replaced"
    );
    // The refusal says the way out, as a pair's own run does.
    assert!(
        failure_line(&refused, "board").contains("--force"),
        "{refused}"
    );
}

// ------------------------------------------------------- many pairs in one run

/// Two pairs, each one source to one target: `alpha` from the events
/// calendar to the world's target (guarded at a tenth), `beta` from the
/// chair's calendar to the chair's public calendar. Returns the id of the
/// chair's default and public calendars.
fn alpha_and_beta(w: &World) -> (String, String) {
    let chair = add_mailbox(w, CHAIR);
    let chair_public = w.fake.add_calendar(CHAIR, TARGET);
    w.config_file(&format!(
        r#"
[[pair]]
name = "alpha"
mailbox = "{MAILBOX}"
target_mailbox = "{MAILBOX}"
target_calendar = "{TARGET}"
max_delete_fraction = 0.1

[[pair]]
name = "beta"
mailbox = "{CHAIR}"
target_mailbox = "{CHAIR}"
target_calendar = "{TARGET}"
"#
    ));
    (chair, chair_public)
}

#[test]
fn one_pairs_guard_refuses_while_the_other_pair_syncs() {
    let w = World::new();
    let (chair, chair_public) = alpha_and_beta(&w);
    let alpha: Vec<String> = (0..14)
        .map(|i| w.add_source(public_event(&format!("Alpha {i:02}"), 1 + i / 4, 9 + i % 4)))
        .collect();
    for i in 0..3 {
        w.fake
            .insert_event(CHAIR, &chair, public_event(&format!("Beta {i}"), 2 + i, 10));
    }
    let first = run(&w, &["sync"]);
    assert_eq!(first.code, 0, "{first}");
    assert_eq!(w.managed().len(), 14, "{first}");
    assert_eq!(subjects(&w, CHAIR, &chair_public).len(), 3, "{first}");

    // alpha's source loses 12 of its 14 events; beta gains one.
    for id in &alpha[..12] {
        w.fake.delete_event(MAILBOX, id);
    }
    w.fake
        .insert_event(CHAIR, &chair, public_event("Beta 3", 6, 10));

    let json = run(&w, &["sync", "--json"]);
    assert_eq!(json.code, 6, "{json}");
    let doc = json.json();
    assert_eq!(doc["exit_code"], 6, "{json}");
    assert_eq!(doc["shard"], Value::Null, "{json}");
    assert_eq!(pair_names(&doc), ["alpha", "beta"], "{json}");
    let a = pair_entry(&doc, "alpha");
    assert_eq!(a["exit_code"], 6, "{json}");
    assert_eq!(a["outcome"], "refused", "{json}");
    assert!(
        a["error"].as_str().is_some_and(|e| e.contains("--force")),
        "{json}"
    );
    let b = pair_entry(&doc, "beta");
    assert_eq!(b["exit_code"], 0, "{json}");
    assert_eq!(b["outcome"], "success", "{json}");
    assert_eq!(b["report"]["counts"]["created"], 1, "{json}");
    assert_eq!(doc["counts"]["created"], 1, "{json}");

    assert_eq!(w.managed().len(), 14, "the refused pair wrote");
    assert_eq!(
        subjects(&w, CHAIR, &chair_public),
        ["Beta 0", "Beta 1", "Beta 2", "Beta 3"]
    );

    // The text report: a summary of both, and the one that did not succeed.
    let text = run(&w, &["sync"]);
    assert_eq!(text.code, 6, "{text}");
    assert!(
        text.stdout
            .lines()
            .any(|l| l.starts_with("2 pairs: created 0, updated 0,")),
        "{text}"
    );
    assert!(
        text.all_output().contains("1 of 2 pairs did not succeed:"),
        "{text}"
    );
    assert!(failure_line(&text, "alpha").ends_with("(exit 6)"), "{text}");
    assert_eq!(w.managed().len(), 14, "the refused pair wrote");
}

/// A config of two healthy pairs (`alpha`, `beta` as in [`alpha_and_beta`])
/// and a broken one, `broken`, writing the events mailbox's "Broken
/// (public)": `broken` is the `[[pair]]` table's body.
fn a_failing_pair_does_not_stop_the_others(broken: &str, exit: i32, words: &[&str]) {
    let w = World::new();
    let (chair, chair_public) = alpha_and_beta(&w);
    let broken_target = w.fake.add_calendar(MAILBOX, "Broken (public)");
    let config = w.home.path().join("calsync.toml");
    let mut text = std::fs::read_to_string(&config).expect("the config");
    text.push_str(&format!(
        "\n[[pair]]\nname = \"broken\"\ntarget_mailbox = \"{MAILBOX}\"\n\
         target_calendar = \"Broken (public)\"\n{broken}"
    ));
    std::fs::write(&config, text).expect("write the config");
    w.add_source(public_event("Alpha", 2, 10));
    w.fake
        .insert_event(CHAIR, &chair, public_event("Beta", 3, 10));

    let run1 = run(&w, &["sync"]);
    assert_eq!(run1.code, exit, "{run1}");
    assert_eq!(w.target_subjects(), ["Alpha"], "{run1}");
    assert_eq!(subjects(&w, CHAIR, &chair_public), ["Beta"], "{run1}");
    assert!(w.fake.events(MAILBOX, &broken_target).is_empty());
    assert!(
        run1.all_output().contains("1 of 3 pairs did not succeed:"),
        "{run1}"
    );
    let line = failure_line(&run1, "broken");
    assert!(line.ends_with(&format!("(exit {exit})")), "{run1}");
    for word in words {
        assert!(line.contains(word), "{word:?} missing:\n{run1}");
    }

    let json = run(&w, &["sync", "--json"]);
    assert_eq!(json.code, exit, "{json}");
    let doc = json.json();
    assert_eq!(doc["exit_code"], exit, "{json}");
    assert_eq!(pair_names(&doc), ["alpha", "beta", "broken"], "{json}");
    let b = pair_entry(&doc, "broken");
    assert_eq!(b["exit_code"], exit, "{json}");
    assert_eq!(b["outcome"], "failed", "{json}");
    for name in ["alpha", "beta"] {
        let p = pair_entry(&doc, name);
        assert_eq!(p["exit_code"], 0, "{json}");
        assert_eq!(p["outcome"], "success", "{json}");
    }
}

mod a_failing_pair_beside_healthy_ones {
    use super::*;

    test_cases! {
        a_failing_pair_does_not_stop_the_others;
        source_calendar_not_found: (
            "source_calendar = \"No Such Calendar\"\n",
            2,
            &["No Such Calendar"],
        ),
        source_file_missing: (
            "[pair.source]\nkind = \"ics\"\npath = \"gone.ics\"\n",
            2,
            &["gone.ics"],
        ),
    }
}

// ----------------------------------------------------------------- selection

/// [`alpha_and_beta`] with one event each; returns the chair's public
/// calendar.
fn alpha_and_beta_with_events(w: &World) -> String {
    let (chair, chair_public) = alpha_and_beta(w);
    w.add_source(public_event("Alpha", 2, 10));
    w.fake
        .insert_event(CHAIR, &chair, public_event("Beta", 3, 10));
    chair_public
}

#[test]
fn sync_runs_only_the_pairs_named() {
    let w = World::new();
    let chair_public = alpha_and_beta_with_events(&w);

    let beta = run(&w, &["sync", "beta"]);
    assert_eq!(beta.code, 0, "{beta}");
    assert_eq!(subjects(&w, CHAIR, &chair_public), ["Beta"], "{beta}");
    assert!(
        w.target_events().is_empty(),
        "sync beta wrote alpha's target"
    );

    let writes = w.fake.writes_applied();
    let unknown = run(&w, &["sync", "gamma"]);
    assert_eq!(unknown.code, 2, "{unknown}");
    for name in ["gamma", "alpha", "beta"] {
        assert!(unknown.stderr.contains(name), "{name} missing:\n{unknown}");
    }
    assert_eq!(w.fake.writes_applied(), writes, "an unknown name wrote");

    let both = run(&w, &["sync"]);
    assert_eq!(both.code, 0, "{both}");
    assert_eq!(w.target_subjects(), ["Alpha"], "{both}");
}

#[test]
fn history_names_the_pair_of_each_run() {
    let w = World::new();
    alpha_and_beta_with_events(&w);
    assert_eq!(run(&w, &["sync", "beta"]).code, 0);
    assert_eq!(run(&w, &["sync"]).code, 0);
    // Each pair's history is its own, and says whose it is.
    for name in ["alpha", "beta"] {
        let path = w.state_dir().join("pairs").join(name).join("history.jsonl");
        let text = std::fs::read_to_string(&path).expect("a history per pair");
        for line in text.lines() {
            let entry: Value = serde_json::from_str(line).expect("a JSON line");
            assert_eq!(entry["pair"], name, "{line}");
        }
    }
    let history = run(&w, &["history"]);
    assert_eq!(history.code, 0, "{history}");
    let lines: Vec<&str> = history.stdout.lines().collect();
    assert!(
        lines.iter().filter(|l| l.contains("beta")).count() >= 2,
        "{history}"
    );
    assert!(lines.iter().any(|l| l.contains("alpha")), "{history}");
    let history = run(&w, &["history", "alpha"]);
    assert_eq!(history.code, 0, "{history}");
    assert!(history.stdout.contains("alpha"), "{history}");
    assert!(!history.stdout.contains("beta"), "{history}");
    let unknown = run(&w, &["history", "gamma"]);
    assert_eq!(unknown.code, 2, "{unknown}");
}

#[test]
fn status_takes_a_pair_name() {
    let w = World::new();
    alpha_and_beta_with_events(&w);
    assert_eq!(run(&w, &["sync"]).code, 0);
    let status = run(&w, &["status", "beta", "--json"]);
    assert_eq!(status.code, 0, "{status}");
    let doc = status.json();
    assert!(doc.to_string().contains("\"beta\""), "{status}");
    assert!(!doc.to_string().contains("\"alpha\""), "{status}");
    let unknown = run(&w, &["status", "gamma", "--json"]);
    assert_eq!(unknown.code, 2, "{unknown}");
}

// ------------------------------------------------- a config without [[pair]]

/// A report with what differs between two runs of one plan (durations,
/// request counts, run ids) blanked out.
fn steady(text: &str) -> String {
    let secs = regex::Regex::new(r"\d+\.\d+ s\b").expect("regex");
    let requests = regex::Regex::new(r"\d+ requests").expect("regex");
    let text = secs.replace_all(text, "T s");
    requests.replace_all(&text, "R requests").into_owned()
}

/// A `--json` document with what differs between two runs blanked out.
fn steady_json(mut doc: Value) -> Value {
    if let Some(map) = doc.as_object_mut() {
        for key in ["run_id", "duration_ms", "metrics", "window"] {
            if map.contains_key(key) {
                map.insert(key.to_string(), Value::Null);
            }
        }
    }
    doc
}

#[test]
fn a_config_without_pairs_is_the_pair_named_default() {
    let seed = |w: &World| {
        w.add_source(public_event("Open day", 2, 10));
        w.add_source(public_event("Fair", 3, 10));
        w.add_source(secret_event("private", 4, 10));
    };
    let plain = World::new();
    let named = World::new();
    seed(&plain);
    seed(&named);

    let a = plain.run(&["sync"]);
    let b = named.run(&["sync", "default"]);
    assert_eq!(a.code, 0, "{a}");
    assert_eq!(b.code, 0, "{b}");
    assert_eq!(steady(&b.stdout), steady(&a.stdout), "{a}\n{b}");
    assert_eq!(steady(&b.stderr), steady(&a.stderr), "{a}\n{b}");
    assert_eq!(named.target_subjects(), ["Fair", "Open day"]);
    assert!(named.state_dir().join("history.jsonl").is_file());
    assert!(!named.state_dir().join("pairs").exists());

    named.add_source(public_event("Concert", 5, 10));
    plain.add_source(public_event("Concert", 5, 10));
    let a = plain.run(&["sync", "--json"]);
    let b = named.run(&["sync", "default", "--json"]);
    assert_eq!(a.code, 0, "{a}");
    assert_eq!(b.code, 0, "{b}");
    assert_eq!(steady_json(b.json()), steady_json(a.json()), "{a}\n{b}");
    assert!(b.json().get("pairs").is_none(), "{b}");

    let unknown = named.run(&["sync", "board"]);
    assert_eq!(unknown.code, 2, "{unknown}");
    assert!(unknown.stderr.contains("default"), "{unknown}");
}

// ------------------------------------------- one meeting in two Graph sources

/// The config of one pair, `board`, writing the world's target from the
/// sources given as (name, body of its `[[pair.sources]]` table), in order.
fn board_config(w: &World, sources: &[(&str, String)]) {
    let mut text = format!(
        "[[pair]]\nname = \"board\"\ntarget_mailbox = \"{MAILBOX}\"\n\
         target_calendar = \"{TARGET}\"\n"
    );
    for (name, body) in sources {
        text.push_str(&format!("\n[[pair.sources]]\nname = \"{name}\"\n{body}\n"));
    }
    w.config_file(&text);
}

/// The `[[pair.sources]]` body of a mailbox's default calendar.
fn graph_member(mailbox: &str) -> String {
    format!("mailbox = \"{mailbox}\"")
}

/// A meeting the events mailbox and the chair's both hold (one iCalUId),
/// each with its own subject, beside one event of each alone. Returns the
/// id of the events mailbox's copy of the meeting.
fn one_meeting_in_two_mailboxes(w: &World) -> String {
    let chair = add_mailbox(w, CHAIR);
    let meeting = w.add_source(public_event("Joint meeting (events)", 3, 10));
    w.fake.insert_meeting_copy(
        MAILBOX,
        &meeting,
        CHAIR,
        &chair,
        public_event("Joint meeting (chair)", 3, 10),
    );
    assert_eq!(
        ical_uid(w, MAILBOX, &w.source_id, &meeting),
        w.fake
            .events(CHAIR, &chair)
            .iter()
            .find(|e| e["subject"] == "Joint meeting (chair)")
            .and_then(|e| e["iCalUId"].as_str().map(str::to_string))
            .expect("the chair's copy"),
        "the fake gave the two copies of one meeting two iCalUIds"
    );
    w.add_source(public_event("Open day", 2, 10));
    w.fake
        .insert_event(CHAIR, &chair, public_event("Chair's lecture", 4, 15));
    meeting
}

/// The copies in the target of the shared meeting: (source key, event id).
fn joint_copies(w: &World) -> Vec<(String, String)> {
    w.managed()
        .into_iter()
        .filter(|(_, e)| {
            e["subject"]
                .as_str()
                .unwrap_or_default()
                .starts_with("Joint meeting")
        })
        .map(|(k, e)| (k, e["id"].as_str().unwrap_or_default().to_string()))
        .collect()
}

#[test]
fn a_meeting_in_two_sources_is_published_from_the_first_and_not_once_private_there() {
    let w = World::new();
    let meeting = one_meeting_in_two_mailboxes(&w);
    board_config(
        &w,
        &[
            ("events", graph_member(MAILBOX)),
            ("chair", graph_member(CHAIR)),
        ],
    );

    let first = run(&w, &["sync"]);
    assert_eq!(first.code, 0, "{first}");
    assert_eq!(
        w.target_subjects(),
        ["Chair's lecture", "Joint meeting (events)", "Open day"],
        "{first}"
    );
    let joint = joint_copies(&w);
    assert_eq!(joint.len(), 1, "{first}");
    assert!(joint[0].0.starts_with("events/"), "{joint:?}");

    // The first source's copy of the meeting turns private; the chair's
    // stays public, but one source calling it private is enough.
    w.fake.update_event(
        MAILBOX,
        &meeting,
        serde_json::json!({
            "sensitivity": "private",
            "subject": format!("{CANARY} joint meeting"),
            "body": {"contentType": "text", "content": format!("{CANARY} agenda")},
            "location": {"displayName": format!("{CANARY} room")},
        }),
    );
    let private = run(&w, &["-v", "sync", "--json"]);
    assert_eq!(private.code, 0, "{private}");
    assert_eq!(
        w.target_subjects(),
        ["Chair's lecture", "Open day"],
        "{private}"
    );
    assert!(joint_copies(&w).is_empty(), "{private}");
    let doc = private.json();
    assert_eq!(doc["counts"]["deleted"], 1, "{private}");
    assert_eq!(doc["counts"]["created"], 0, "{private}");

    let again = run(&w, &["-vv", "sync"]);
    assert_eq!(again.code, 0, "{again}");
    assert_eq!(w.target_subjects(), ["Chair's lecture", "Open day"]);
    let dry = run(&w, &["sync", "--dry-run", "--json"]);
    assert_eq!(dry.code, 0, "{dry}");

    Exposed::new()
        .target(&w)
        .run("the first sync", &first)
        .run("the sync after the meeting turned private", &private)
        .run("the sync after that", &again)
        .run("the dry run", &dry)
        .state(&w.state_dir())
        .assert_free_of(&[CANARY]);
}

#[test]
fn reordering_the_sources_replaces_a_shared_meetings_copy_once() {
    let w = World::new();
    one_meeting_in_two_mailboxes(&w);
    board_config(
        &w,
        &[
            ("events", graph_member(MAILBOX)),
            ("chair", graph_member(CHAIR)),
        ],
    );
    let first = run(&w, &["sync"]);
    assert_eq!(first.code, 0, "{first}");
    let before = joint_copies(&w);
    assert_eq!(before.len(), 1, "{first}");
    assert!(before[0].0.starts_with("events/"), "{before:?}");
    let id_of = |w: &World, subject: &str| -> String {
        w.target_events()
            .into_iter()
            .find(|e| e["subject"] == subject)
            .and_then(|e| e["id"].as_str().map(str::to_string))
            .unwrap_or_else(|| panic!("no copy of {subject}"))
    };
    let others = [id_of(&w, "Open day"), id_of(&w, "Chair's lecture")];

    board_config(
        &w,
        &[
            ("chair", graph_member(CHAIR)),
            ("events", graph_member(MAILBOX)),
        ],
    );
    let reordered = run(&w, &["sync", "--json"]);
    assert_eq!(reordered.code, 0, "{reordered}");
    assert_eq!(
        w.target_subjects(),
        ["Chair's lecture", "Joint meeting (chair)", "Open day"],
        "{reordered}"
    );
    let after = joint_copies(&w);
    assert_eq!(after.len(), 1, "two copies of one meeting:\n{reordered}");
    assert!(after[0].0.starts_with("chair/"), "{after:?}");
    assert_ne!(after[0].1, before[0].1, "the old copy was kept");
    let doc = reordered.json();
    assert_eq!(doc["counts"]["created"], 1, "{reordered}");
    assert_eq!(doc["counts"]["deleted"], 1, "{reordered}");
    assert_eq!(doc["counts"]["updated"], 0, "{reordered}");
    // The other copies keep their keys, so they stay as they were.
    assert_eq!(
        [id_of(&w, "Open day"), id_of(&w, "Chair's lecture")],
        others,
        "reordering replaced copies of events only one source holds"
    );

    let writes = w.fake.writes_applied();
    let steady = run(&w, &["sync"]);
    assert_eq!(steady.code, 0, "{steady}");
    assert_eq!(
        w.fake.writes_applied(),
        writes,
        "a third run wrote:\n{steady}"
    );
    assert_eq!(joint_copies(&w), after);
}

// ------------------------------------- a member that reads as empty, alone

/// Empties the chair's calendar of the window: each event in `ids` deleted,
/// or moved two months ahead, past the window's 30 days.
fn delete_all(w: &World, ids: &[String]) {
    for id in ids {
        w.fake.delete_event(CHAIR, id);
    }
}

fn move_out_of_the_window(w: &World, ids: &[String]) {
    for (i, id) in ids.iter().enumerate() {
        let later = public_event("Later", 60 + i as i64, 15);
        w.fake.update_event(
            CHAIR,
            id,
            serde_json::json!({"start": later["start"], "end": later["end"]}),
        );
    }
}

/// A pair of two members, `events` and `chair`; after a first sync the
/// chair's calendar reads as empty (`empty` makes it so) while the events
/// calendar does not: the chair's copies stay until `chair` leaves `sources`.
fn an_empty_member_keeps_its_copies(empty: fn(&World, &[String])) {
    let w = World::new();
    let chair = add_mailbox(&w, CHAIR);
    for i in 0..3 {
        w.add_source(public_event(&format!("Main {i}"), 2 + i, 10));
    }
    let chairs: Vec<String> = (0..3)
        .map(|i| {
            w.fake.insert_event(
                CHAIR,
                &chair,
                public_event(&format!("Chair {i}"), 2 + i, 15),
            )
        })
        .collect();
    let config = |sources: &[(&str, String)]| {
        board_config(&w, sources);
        let path = w.home.path().join("calsync.toml");
        let text = std::fs::read_to_string(&path).expect("the config");
        std::fs::write(&path, format!("cutoff_days = 30\n\n{text}")).expect("the config");
    };
    config(&[
        ("events", graph_member(MAILBOX)),
        ("chair", graph_member(CHAIR)),
    ]);
    let first = run(&w, &["sync"]);
    assert_eq!(first.code, 0, "{first}");
    let all = [
        "Chair 0", "Chair 1", "Chair 2", "Main 0", "Main 1", "Main 2",
    ];
    assert_eq!(w.target_subjects(), all, "{first}");
    let ids = |w: &World| -> BTreeSet<String> {
        w.target_events()
            .iter()
            .map(|e| e["id"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let kept = ids(&w);

    empty(&w, &chairs);
    let writes = w.fake.writes_applied();
    let json = run(&w, &["sync", "--json"]);
    assert_eq!(json.code, 0, "{json}");
    assert_eq!(w.target_subjects(), all, "{json}");
    assert_eq!(ids(&w), kept, "{json}");
    assert_eq!(w.fake.writes_applied(), writes, "{json}");
    let doc = json.json();
    let board = pair_entry(&doc, "board");
    assert_eq!(board["outcome"], "success", "{json}");
    assert_eq!(board["report"]["deletions_withheld"], 3, "{json}");
    assert_eq!(board["report"]["counts"]["deleted"], 0, "{json}");
    let warned = |run: &Run| {
        run.stderr
            .lines()
            .any(|l| l.contains("WARN") && l.contains("chair") && l.contains("sources"))
    };
    assert!(warned(&json), "no warning names the empty source:\n{json}");

    let text = run(&w, &["sync"]);
    assert_eq!(text.code, 0, "{text}");
    assert_eq!(ids(&w), kept, "{text}");
    assert!(warned(&text), "no warning names the empty source:\n{text}");

    // Leaving `sources` is what deletes them: 3 deletions are below the
    // guard's floor, so no --force.
    config(&[("events", graph_member(MAILBOX))]);
    let removed = run(&w, &["sync", "--json"]);
    assert_eq!(removed.code, 0, "{removed}");
    assert_eq!(
        w.target_subjects(),
        ["Main 0", "Main 1", "Main 2"],
        "{removed}"
    );
    let doc = removed.json();
    assert_eq!(doc["counts"]["deleted"], 3, "{removed}");
    assert_eq!(
        pair_entry(&doc, "board")["report"]["deletions_withheld"],
        0,
        "{removed}"
    );
    assert!(
        ids(&w).is_subset(&kept),
        "the kept source's copies were replaced"
    );
}

mod an_empty_member_beside_a_full_one {
    use super::*;

    test_cases! {
        an_empty_member_keeps_its_copies;
        deleted: (delete_all),
        moved_out_of_the_window: (move_out_of_the_window),
    }
}

// ------------------------------------------- a merged source's member fails

/// A config of two pairs: `beta` (the chair's default calendar to the
/// chair's public one) and `board`, merging the events calendar with the
/// member `extra` (`extra` is its `[[pair.sources]]` body) into the
/// world's target.
fn beta_and_board(w: &World, extra: &str) {
    w.config_file(&format!(
        r#"
[[pair]]
name = "beta"
mailbox = "{CHAIR}"
target_mailbox = "{CHAIR}"
target_calendar = "{TARGET}"

[[pair]]
name = "board"
target_mailbox = "{MAILBOX}"
target_calendar = "{TARGET}"

[[pair.sources]]
name = "events"
mailbox = "{MAILBOX}"

[[pair.sources]]
name = "extra"
{extra}
"#
    ));
}

/// `board`'s member `extra` reads well (`good`), then fails (`broken`):
/// the pair fails with `exit`, its target is left as it was (the events
/// calendar's copies neither deleted nor created, nor the member's), and
/// `beta` syncs.
fn a_failing_member_fails_its_pair(good: &str, broken: &str, exit: i32, words: &[&str]) {
    let w = World::new();
    let chair = add_mailbox(&w, CHAIR);
    let chair_public = w.fake.add_calendar(CHAIR, TARGET);
    let lectures = w.fake.add_calendar(CHAIR, "Lectures");
    w.fake
        .insert_event(CHAIR, &lectures, public_event("Lecture", 4, 10));
    home_file(
        &w,
        "extra.ics",
        &vcalendar(&[vevent("lecture@test", "Lecture", 4, 10, "")]),
    );
    let gone = w.add_source(public_event("Open day", 2, 10));
    w.add_source(public_event("Fair", 3, 10));
    w.fake
        .insert_event(CHAIR, &chair, public_event("Beta", 5, 10));
    beta_and_board(&w, good);
    let first = run(&w, &["sync"]);
    assert_eq!(first.code, 0, "{first}");
    assert_eq!(
        w.target_subjects(),
        ["Fair", "Lecture", "Open day"],
        "{first}"
    );
    let before = w.target_events();

    // Now the member fails, while the events calendar loses one event and
    // gains another, and beta's source gains one.
    beta_and_board(&w, broken);
    w.fake.delete_event(MAILBOX, &gone);
    w.add_source(public_event("Concert", 6, 18));
    w.fake
        .insert_event(CHAIR, &chair, public_event("Beta 2", 6, 10));

    let failed = run(&w, &["sync"]);
    assert_eq!(failed.code, exit, "{failed}");
    assert_eq!(
        w.target_events(),
        before,
        "the failed pair wrote:\n{failed}"
    );
    assert_eq!(
        subjects(&w, CHAIR, &chair_public),
        ["Beta", "Beta 2"],
        "{failed}"
    );
    let line = failure_line(&failed, "board");
    assert!(line.ends_with(&format!("(exit {exit})")), "{failed}");
    for word in words {
        assert!(line.contains(word), "{word:?} missing:\n{failed}");
    }

    let json = run(&w, &["sync", "--json"]);
    assert_eq!(json.code, exit, "{json}");
    assert_eq!(w.target_events(), before, "the failed pair wrote:\n{json}");
    let doc = json.json();
    let board = pair_entry(&doc, "board");
    assert_eq!(board["exit_code"], exit, "{json}");
    assert_eq!(board["outcome"], "failed", "{json}");
    let beta = pair_entry(&doc, "beta");
    assert_eq!(beta["exit_code"], 0, "{json}");
    assert_eq!(beta["outcome"], "success", "{json}");
}

mod a_merged_source_with_a_failing_member {
    use super::*;

    test_cases! {
        a_failing_member_fails_its_pair;
        graph_calendar_not_found: (
            &format!("mailbox = \"{CHAIR}\"\ncalendar = \"Lectures\""),
            &format!("mailbox = \"{CHAIR}\"\ncalendar = \"No Such Calendar\""),
            2,
            &["No Such Calendar"],
        ),
        ics_file_missing: (
            "kind = \"ics\"\npath = \"extra.ics\"",
            "kind = \"ics\"\npath = \"gone.ics\"",
            2,
            &["gone.ics"],
        ),
    }
}

// ------------------------------------------------------ validate of pairs

#[test]
fn validate_names_the_pair_with_problems_beside_a_clean_one() {
    let w = World::new();
    let chair_public = alpha_and_beta_with_events(&w);
    let chair = w
        .fake
        .calendar_id(CHAIR, SOURCE)
        .expect("the chair's calendar");
    w.fake
        .insert_event(CHAIR, &chair, public_event("Beta lecture", 4, 15));
    let synced = run(&w, &["sync"]);
    assert_eq!(synced.code, 0, "{synced}");
    assert_eq!(
        subjects(&w, CHAIR, &chair_public),
        ["Beta", "Beta lecture"],
        "{synced}"
    );
    let clean = run(&w, &["validate", "--json"]);
    assert_eq!(clean.code, 0, "{clean}");

    // A copy of beta's deleted by hand.
    let copy = w
        .fake
        .events(CHAIR, &chair_public)
        .into_iter()
        .find(|e| e["subject"] == "Beta lecture")
        .and_then(|e| e["id"].as_str().map(str::to_string))
        .expect("the copy");
    w.fake.delete_event(CHAIR, &copy);

    let writes = w.fake.writes_applied();
    let json = run(&w, &["validate", "--json"]);
    assert_eq!(json.code, 4, "{json}");
    let doc = json.json();
    assert_eq!(doc["exit_code"], 4, "{json}");
    assert_eq!(pair_names(&doc), ["alpha", "beta"], "{json}");
    let alpha = pair_entry(&doc, "alpha");
    assert_eq!(alpha["outcome"], "clean", "{json}");
    assert_eq!(alpha["exit_code"], 0, "{json}");
    let beta = pair_entry(&doc, "beta");
    assert_eq!(beta["outcome"], "problems", "{json}");
    assert_eq!(beta["exit_code"], 4, "{json}");
    assert_eq!(beta["report"]["counts"]["missing"], 1, "{json}");
    assert_eq!(beta["report"]["counts"]["total"], 1, "{json}");

    let text = run(&w, &["validate"]);
    assert_eq!(text.code, 4, "{text}");
    assert!(failure_line(&text, "beta").ends_with("(exit 4)"), "{text}");
    assert!(
        !text
            .all_output()
            .lines()
            .any(|l| l.starts_with("  alpha: ")),
        "the clean pair is named as one with problems:\n{text}"
    );
    assert_eq!(w.fake.writes_applied(), writes, "validate wrote");
}
