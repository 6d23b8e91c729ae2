//! The `.ics` sides end to end, through the built binary: an iCalendar file
//! as the source and as the target in every combination with Graph (the
//! fake Graph standing in), and `validate` on them. Bad input is in
//! `ics_bad_input`.

use crate::common::*;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The day the window of the file-only tests is built around.
const TODAY: &str = "2027-01-04";

/// An internal calendar: public events in three time zones, an all-day
/// event, a weekly series with an exclusion, a moved instance and a private
/// instance, and private, confidential and cancelled events carrying the
/// canary in every text field.
pub(super) fn internal_ics() -> String {
    format!(
        "BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Example//calsync tests//EN
BEGIN:VEVENT
UID:berlin@test
DTSTAMP:20261201T000000Z
SUMMARY:Rehearsal in Berlin
DESCRIPTION:Bring the new scores.
LOCATION:Hall 2
DTSTART;TZID=Europe/Berlin:20270310T090000
DTEND;TZID=Europe/Berlin:20270310T103000
END:VEVENT
BEGIN:VEVENT
UID:newyork@test
DTSTAMP:20261201T000000Z
SUMMARY:Concert in New York
DTSTART;TZID=America/New_York:20270704T100000
DTEND;TZID=America/New_York:20270704T110000
END:VEVENT
BEGIN:VEVENT
UID:tokyo@test
DTSTAMP:20261201T000000Z
SUMMARY:Workshop in Tokyo
DTSTART;TZID=Asia/Tokyo:20270501T090000
DTEND;TZID=Asia/Tokyo:20270501T100000
END:VEVENT
BEGIN:VEVENT
UID:allday@test
DTSTAMP:20261201T000000Z
SUMMARY:Christmas market
DTSTART;VALUE=DATE:20271224
DTEND;VALUE=DATE:20271226
END:VEVENT
BEGIN:VEVENT
UID:weekly@test
DTSTAMP:20261201T000000Z
SUMMARY:Evening class
DTSTART;TZID=Europe/Berlin:20270315T180000
DTEND;TZID=Europe/Berlin:20270315T193000
RRULE:FREQ=WEEKLY;COUNT=5
EXDATE;TZID=Europe/Berlin:20270322T180000
END:VEVENT
BEGIN:VEVENT
UID:weekly@test
DTSTAMP:20261201T000000Z
RECURRENCE-ID;TZID=Europe/Berlin:20270405T180000
SUMMARY:Evening class (moved to Tuesday)
DTSTART;TZID=Europe/Berlin:20270406T190000
DTEND;TZID=Europe/Berlin:20270406T203000
END:VEVENT
BEGIN:VEVENT
UID:weekly@test
DTSTAMP:20261201T000000Z
RECURRENCE-ID;TZID=Europe/Berlin:20270412T180000
SUMMARY:{CANARY} private instance
DESCRIPTION:{CANARY} private instance notes
LOCATION:{CANARY} room
CLASS:PRIVATE
DTSTART;TZID=Europe/Berlin:20270412T180000
DTEND;TZID=Europe/Berlin:20270412T193000
END:VEVENT
BEGIN:VEVENT
UID:private@test
DTSTAMP:20261201T000000Z
SUMMARY:{CANARY} private summary
DESCRIPTION:{CANARY} private description
LOCATION:{CANARY} private location
CATEGORIES:{CANARY}-category
CLASS:PRIVATE
DTSTART:20270311T120000Z
DTEND:20270311T130000Z
END:VEVENT
BEGIN:VEVENT
UID:confidential@test
DTSTAMP:20261201T000000Z
SUMMARY:{CANARY} confidential summary
DESCRIPTION:{CANARY} confidential description
LOCATION:{CANARY} confidential location
CLASS:CONFIDENTIAL
DTSTART;TZID=America/New_York:20270312T120000
DTEND;TZID=America/New_York:20270312T130000
END:VEVENT
BEGIN:VEVENT
UID:cancelled@test
DTSTAMP:20261201T000000Z
SUMMARY:{CANARY} cancelled summary
DESCRIPTION:{CANARY} cancelled description
LOCATION:{CANARY} cancelled location
STATUS:CANCELLED
DTSTART;VALUE=DATE:20270313
DTEND;VALUE=DATE:20270314
END:VEVENT
END:VCALENDAR
"
    )
}

/// A directory holding a config file (both sides `.ics`, state beside it),
/// the source file and a folder for the target.
pub(super) struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    pub(super) fn new(source: &str) -> Files {
        Files::with_config(
            source,
            r#"state_dir = "state"

[source]
kind = "ics"
path = "internal.ics"

[target]
kind = "ics"
path = "out/public.ics"
name = "Choir (public)"
"#,
        )
    }

    pub(super) fn with_config(source: &str, config: &str) -> Files {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("out")).unwrap();
        std::fs::write(dir.path().join("internal.ics"), source).unwrap();
        std::fs::write(dir.path().join("config.toml"), config).unwrap();
        Files { dir }
    }

    pub(super) fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub(super) fn target_path(&self) -> PathBuf {
        self.path("out/public.ics")
    }

    pub(super) fn target(&self) -> String {
        std::fs::read_to_string(self.target_path()).unwrap()
    }

    pub(super) fn set_source(&self, text: &str) {
        std::fs::write(self.path("internal.ics"), text).unwrap();
    }

    pub(super) fn set_target(&self, text: &str) {
        std::fs::write(self.target_path(), text).unwrap();
    }

    /// `calsync --config <dir>/config.toml <args>`, run from another
    /// directory (relative paths in the file are relative to the file), with
    /// an environment that holds nothing of calsync's.
    pub(super) fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_calsync"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.path("home"))
            .env("XDG_CONFIG_HOME", self.path("home/config"))
            .env("XDG_STATE_HOME", self.path("home/state"))
            .env("RUST_BACKTRACE", "0")
            .env("CALSYNC_TODAY", TODAY)
            .current_dir(std::env::temp_dir())
            .arg("--config")
            .arg(self.path("config.toml"))
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    pub(super) fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command(args).output().unwrap())
    }

    pub(super) fn sync(&self) -> Run {
        let run = self.run(&["sync"]);
        assert_eq!(run.code, 0, "{run}");
        run
    }
}

/// The `VEVENT`s of an iCalendar text, each as its unfolded lines.
fn vevents(text: &str) -> Vec<Vec<String>> {
    let mut lines: Vec<String> = Vec::new();
    for raw in text.split('\n') {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        match (raw.strip_prefix(' '), lines.last_mut()) {
            (Some(rest), Some(last)) => last.push_str(rest),
            _ => lines.push(raw.to_string()),
        }
    }
    let mut out = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for l in lines {
        if l == "BEGIN:VEVENT" {
            current = Some(Vec::new());
        } else if l == "END:VEVENT" {
            out.extend(current.take());
        } else if let Some(c) = current.as_mut() {
            c.push(l);
        }
    }
    out
}

/// The value of a property of an event (the text after its first colon).
fn prop<'a>(event: &'a [String], name: &str) -> Option<&'a str> {
    event.iter().find_map(|l| {
        let (head, value) = l.split_once(':')?;
        let prop_name = head.split(';').next()?;
        (prop_name == name).then_some(value)
    })
}

fn by_summary<'a>(events: &'a [Vec<String>], summary: &str) -> &'a Vec<String> {
    events
        .iter()
        .find(|e| prop(e, "SUMMARY") == Some(summary))
        .unwrap_or_else(|| panic!("no event {summary:?} in {events:#?}"))
}

fn has_line(event: &[String], line: &str) -> bool {
    event.iter().any(|l| l == line)
}

#[test]
fn ics_to_ics_writes_the_public_events_at_their_exact_times() {
    let f = Files::new(&internal_ics());
    let run = f.sync();
    assert!(
        run.stdout.starts_with(
            "Created 7, updated 0, deleted 0, 0 unchanged, 4 skipped (2 private, 1 \
             confidential, 1 cancelled); "
        ),
        "{run}"
    );
    assert!(
        run.stdout.ends_with(&format!(
            " s. Public calendar: {}\n",
            f.target_path().display()
        )),
        "{run}"
    );
    assert_eq!(run.stderr, "", "{run}");

    let text = f.target();
    assert!(text.starts_with("BEGIN:VCALENDAR\r\n"), "{text}");
    assert!(
        text.contains("\r\nX-WR-CALNAME:Choir (public)\r\n"),
        "{text}"
    );
    let events = vevents(&text);
    assert_eq!(events.len(), 7, "{text}");
    let expect = [
        (
            "Rehearsal in Berlin",
            "DTSTART:20270310T080000Z",
            "DTEND:20270310T093000Z",
        ),
        (
            "Concert in New York",
            "DTSTART:20270704T140000Z",
            "DTEND:20270704T150000Z",
        ),
        (
            "Workshop in Tokyo",
            "DTSTART:20270501T000000Z",
            "DTEND:20270501T010000Z",
        ),
        (
            "Christmas market",
            "DTSTART;VALUE=DATE:20271224",
            "DTEND;VALUE=DATE:20271226",
        ),
        (
            "Evening class (moved to Tuesday)",
            "DTSTART:20270406T170000Z",
            "DTEND:20270406T183000Z",
        ),
    ];
    for (summary, start, end) in expect {
        let e = by_summary(&events, summary);
        assert!(has_line(e, start), "{summary}: no {start} in {e:#?}");
        assert!(has_line(e, end), "{summary}: no {end} in {e:#?}");
        assert!(has_line(e, "CLASS:PUBLIC"), "{e:#?}");
        // Copy policy by default: no location, no description.
        assert!(prop(e, "LOCATION").is_none() && prop(e, "DESCRIPTION").is_none());
    }
    // The weekly series: before the change to summer time, after it, the
    // exclusion left out and the private instance not copied.
    let mut class_starts: Vec<&str> = events
        .iter()
        .filter(|e| prop(e, "SUMMARY") == Some("Evening class"))
        .filter_map(|e| prop(e, "DTSTART"))
        .collect();
    class_starts.sort_unstable();
    assert_eq!(class_starts, ["20270315T170000Z", "20270329T160000Z"]);
    // Each copy is marked and has a stable UID of calsync's.
    for e in &events {
        assert!(
            prop(e, "UID").is_some_and(|u| u.ends_with("@calsync")),
            "{e:#?}"
        );
        assert!(prop(e, "X-CALSYNC-SOURCE-KEY").is_some(), "{e:#?}");
        assert_eq!(prop(e, "SEQUENCE"), Some("0"));
    }

    let json = f.run(&["sync", "--dry-run", "--json"]).json();
    assert_eq!(
        json["counts"]["skipped"],
        json!({"private": 2, "confidential": 1, "cancelled": 1})
    );
    assert_eq!(json["mode"], "full");
    assert_eq!(json["target_file"], f.target_path().display().to_string());
}

#[test]
fn nothing_private_reaches_the_target_the_output_or_the_state() {
    let f = Files::new(&internal_ics());
    let mut exposed = Exposed::new();
    let mut outputs = Vec::new();
    for args in [
        &["-vv", "sync", "--dry-run"][..],
        &["-vvv", "sync"],
        &["-vv", "--log-format", "json", "sync", "--json"],
        &["-vv", "validate"],
        &["-vv", "validate", "--json"],
        &["status"],
        &["status", "--json"],
        &["history", "--json"],
    ] {
        let run = f.run(args);
        assert!(run.code == 0, "{args:?}: {run}");
        exposed = exposed.run(&format!("{args:?}"), &run);
        outputs.push(run.all_output());
    }
    let target = f.target();
    assert!(target.contains("Rehearsal in Berlin"));
    exposed
        .text("the target file", target)
        .state(&f.path("state"))
        .assert_free_of(&[CANARY, "private summary", "Bring the new scores", "Hall 2"]);
    // The dry run lists public subjects only.
    assert!(outputs[0].contains("Rehearsal in Berlin"), "{}", outputs[0]);
}

#[test]
fn a_second_run_leaves_the_file_byte_for_byte_and_writes_nothing() {
    let f = Files::new(&internal_ics());
    f.sync();
    let before = std::fs::read(f.target_path()).unwrap();
    #[cfg(unix)]
    let inode = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(f.target_path()).unwrap().ino()
    };
    let run = f.run(&["sync", "--json"]);
    assert_eq!(run.code, 0, "{run}");
    let counts = &run.json()["counts"];
    assert_eq!(
        (&counts["created"], &counts["updated"], &counts["deleted"]),
        (&json!(0), &json!(0), &json!(0)),
        "{run}"
    );
    assert_eq!(counts["unchanged"], 7);
    assert_eq!(std::fs::read(f.target_path()).unwrap(), before);
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let now = std::fs::metadata(f.target_path()).unwrap().ino();
        assert_eq!(now, inode, "an unchanged run replaced the file");
    }
    let text = f.sync();
    assert!(
        text.stdout
            .starts_with("Created 0, updated 0, deleted 0, 7 unchanged"),
        "{text}"
    );
    // Not a Graph run: no request count in the summary.
    assert!(!text.stdout.contains("Graph"), "{text}");
}

#[test]
fn edits_update_copies_in_place_removals_remove_them_and_hand_made_events_stay() {
    let f = Files::new(&internal_ics());
    f.sync();
    let events = vevents(&f.target());
    let uid = prop(by_summary(&events, "Rehearsal in Berlin"), "UID")
        .unwrap()
        .to_string();

    // An event added to the target by hand, in the target's own style.
    let hand = "BEGIN:VEVENT\r\nUID:hand-made@example.org\r\nDTSTAMP:20270101T000000Z\r\n\
                DTSTART:20270320T100000Z\r\nDTEND:20270320T110000Z\r\n\
                SUMMARY:Open rehearsal (added by hand)\r\nEND:VEVENT\r\n";
    let target = f
        .target()
        .replace("END:VCALENDAR\r\n", &format!("{hand}END:VCALENDAR\r\n"));
    f.set_target(&target);

    let source = internal_ics()
        .replace(
            "SUMMARY:Rehearsal in Berlin",
            "SUMMARY:Rehearsal in Berlin (new room)",
        )
        .replace(
            "BEGIN:VEVENT\nUID:newyork@test\nDTSTAMP:20261201T000000Z\nSUMMARY:Concert in New York\nDTSTART;TZID=America/New_York:20270704T100000\nDTEND;TZID=America/New_York:20270704T110000\nEND:VEVENT\n",
            "",
        );
    assert!(!source.contains("newyork@test"));
    f.set_source(&source);
    let run = f.sync();
    assert!(
        run.stdout
            .starts_with("Created 0, updated 1, deleted 1, 5 unchanged"),
        "{run}"
    );
    let text = f.target();
    let events = vevents(&text);
    let edited = by_summary(&events, "Rehearsal in Berlin (new room)");
    assert_eq!(
        prop(edited, "UID"),
        Some(uid.as_str()),
        "same UID: {edited:#?}"
    );
    assert_eq!(prop(edited, "SEQUENCE"), Some("1"));
    assert!(has_line(edited, "DTSTART:20270310T080000Z"));
    assert!(!text.contains("Concert in New York"), "{text}");
    assert!(text.contains(hand), "the hand-made event changed:\n{text}");
    assert_eq!(events.len(), 7, "6 copies and the hand-made event");

    // Every copy removed from the source but one: more than 10 deletions are
    // not at stake, so the run goes ahead; the hand-made event still stays.
    f.set_source(
        &internal_ics()
            .split("BEGIN:VEVENT\nUID:newyork@test")
            .next()
            .map(|head| format!("{head}END:VCALENDAR\n"))
            .unwrap(),
    );
    let run = f.sync();
    assert!(
        run.stdout.starts_with("Created 0, updated 1, deleted 5"),
        "{run}"
    );
    let events = vevents(&f.target());
    assert_eq!(events.len(), 2, "{events:#?}");
    by_summary(&events, "Open rehearsal (added by hand)");
}

#[test]
fn a_dry_run_writes_nothing() {
    let f = Files::new(&internal_ics());
    let run = f.run(&["sync", "--dry-run"]);
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stdout.starts_with("Dry run: nothing was written."),
        "{run}"
    );
    assert!(
        run.stdout.contains("Would create 7, update 0, delete 0"),
        "{run}"
    );
    assert!(run.stdout.contains("Workshop in Tokyo"), "{run}");
    assert!(
        !f.target_path().exists(),
        "a dry run created the target file"
    );

    f.sync();
    let before = f.target();
    f.set_source(&internal_ics().replace("Workshop in Tokyo", "Workshop in Osaka"));
    let run = f.run(&["sync", "--dry-run"]);
    assert!(
        run.stdout.contains("Would create 0, update 1, delete 0"),
        "{run}"
    );
    assert_eq!(f.target(), before);
}

#[test]
fn the_mass_deletion_guard_keeps_the_file_unless_forced() {
    let series = "BEGIN:VEVENT\nUID:series@test\nSUMMARY:Weekly tour\n\
                  DTSTART;TZID=Europe/Berlin:20270301T100000\nRRULE:FREQ=WEEKLY;COUNT=12\n\
                  END:VEVENT\n";
    let f =
        Files::new(&internal_ics().replace("END:VCALENDAR\n", &format!("{series}END:VCALENDAR\n")));
    let run = f.sync();
    assert!(run.stdout.starts_with("Created 19,"), "{run}");
    let before = f.target();
    f.set_source(&internal_ics());
    let run = f.run(&["sync"]);
    assert_eq!(run.code, 6, "{run}");
    assert!(run.stderr.contains("--force"), "{run}");
    assert_eq!(f.target(), before, "a refused run wrote");
    let run = f.run(&["sync", "--force"]);
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stdout.starts_with("Created 0, updated 0, deleted 12"),
        "{run}"
    );
}

#[test]
fn a_source_with_no_public_event_still_publishes_a_calendar() {
    let f =
        Files::new("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Example//EN\r\nEND:VCALENDAR\r\n");
    let run = f.run(&["sync", "--dry-run"]);
    assert_eq!(run.code, 0, "{run}");
    assert!(!f.target_path().exists());
    let run = f.sync();
    assert!(
        run.stdout
            .starts_with("Created 0, updated 0, deleted 0, 0 unchanged, 0 skipped;"),
        "{run}"
    );
    let text = f.target();
    assert!(
        text.starts_with("BEGIN:VCALENDAR\r\n") && text.ends_with("END:VCALENDAR\r\n"),
        "{text}"
    );
    assert!(vevents(&text).is_empty());
    f.sync();
    assert_eq!(f.target(), text);
}

#[test]
fn validate_finds_a_tampered_target_and_sync_repairs_it() {
    let f = Files::new(&internal_ics());
    // Before the first sync: every public event is missing.
    let run = f.run(&["validate", "--json"]);
    assert_eq!(run.code, 4, "{run}");
    assert_eq!(run.json()["counts"]["missing"], 7);
    f.sync();
    let run = f.run(&["validate"]);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.contains("no problems"), "{run}");

    // A copy edited by hand, a copy given a description while copy.body is
    // false, and a copy duplicated.
    let text = f.target();
    let events = vevents(&text);
    let tokyo_uid = prop(by_summary(&events, "Workshop in Tokyo"), "UID")
        .unwrap()
        .to_string();
    let mut tampered = text.replace(
        "SUMMARY:Rehearsal in Berlin\r\n",
        "SUMMARY:Rehearsal in Berlin (edited)\r\n",
    );
    tampered = tampered.replace(
        &format!("UID:{tokyo_uid}\r\n"),
        &format!("UID:{tokyo_uid}\r\nDESCRIPTION:Internal notes\r\n"),
    );
    let start = tampered.find("SUMMARY:Concert in New York").unwrap();
    let begin = tampered[..start].rfind("BEGIN:VEVENT").unwrap();
    let end = start + tampered[start..].find("END:VEVENT\r\n").unwrap() + "END:VEVENT\r\n".len();
    let block = tampered[begin..end].to_string();
    let uid_line = block.lines().find(|l| l.starts_with("UID:")).unwrap();
    let copy = block.replace(uid_line, "UID:a-second-copy@calsync");
    tampered.insert_str(end, &copy);
    f.set_target(&tampered);

    let run = f.run(&["validate", "--json"]);
    assert_eq!(run.code, 4, "{run}");
    let doc = run.json();
    assert_eq!(doc["counts"]["stale"], 1, "{doc}");
    assert_eq!(doc["counts"]["leak"], 1, "{doc}");
    assert_eq!(doc["counts"]["duplicate"], 1, "{doc}");
    assert_eq!(doc["counts"]["total"], 3, "{doc}");
    let leak = doc["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "leak")
        .unwrap();
    assert_eq!(leak["fields"], json!(["body"]));
    assert_eq!(leak["target_id"], tokyo_uid.as_str());
    assert!(!run.stdout.contains("Internal notes"), "{run}");
    let text = f.run(&["validate"]);
    assert_eq!(text.code, 4);
    for kind in ["stale", "leak", "duplicate"] {
        assert!(text.stdout.contains(kind), "{kind}: {text}");
    }
    assert!(text.stderr.contains("3 problems"), "{text}");

    // sync repairs what it can: the edit, the duplicate; a description is
    // overwritten by the rewrite of an update only, so that copy is left.
    f.sync();
    let run = f.run(&["validate", "--json"]);
    let doc = run.json();
    assert_eq!(doc["counts"]["stale"], 0, "{doc}");
    assert_eq!(doc["counts"]["duplicate"], 0, "{doc}");
}

// ------------------------------------------------------------ commands

#[test]
fn sign_in_is_not_needed_and_status_shows_the_sides() {
    let f = Files::new(&internal_ics());
    for cmd in ["login", "logout"] {
        let run = f.run(&[cmd]);
        assert_eq!(run.code, 0, "{run}");
        assert!(run.stdout.contains("No sign-in is needed"), "{run}");
    }
    let run = f.run(&["status", "--json"]);
    assert_eq!(run.code, 0, "{run}");
    let doc = run.json();
    let setting = |key: &str| -> Value {
        doc["config"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == key)
            .cloned()
            .unwrap_or_else(|| panic!("no {key}"))
    };
    assert_eq!(setting("source.kind")["value"], "ics");
    assert_eq!(setting("source.kind")["origin"], "file");
    assert_eq!(
        setting("source.path")["value"],
        f.path("internal.ics").display().to_string()
    );
    assert_eq!(setting("target.name")["value"], "Choir (public)");
    assert_eq!(doc["missing"], json!([]));
    assert_eq!(doc["state_dir"], f.path("state").display().to_string());

    // A URL from the environment, shown without its secret parts.
    let mut cmd = f.command(&["status"]);
    cmd.env(
        "CALSYNC_SOURCE_URL",
        "https://calendar.example.org/feeds/s3cret-path/basic.ics?token=s3cret-query",
    );
    let run = Run::from(cmd.output().unwrap());
    assert_eq!(run.code, 0, "{run}");
    Exposed::new()
        .text("stdout of status", run.stdout.as_str())
        .assert_free_of(&["s3cret"]);
    assert!(
        run.stdout
            .contains("https://calendar.example.org/…/basic.ics?…"),
        "{run}"
    );
    assert!(
        run.stdout.contains("environment (CALSYNC_SOURCE_URL)"),
        "{run}"
    );
}

/// Serves `body` over plain HTTP on loopback to any number of requests.
fn serve(body: String) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/calendar\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://127.0.0.1:{port}")
}

#[test]
fn a_source_url_is_read_and_its_token_never_shown() {
    let base = serve(internal_ics());
    let f = Files::with_config(
        "",
        &format!(
            "state_dir = \"state\"\n[source]\nkind = \"ics\"\n\
             url = \"{base}/feeds/s3cret-path/internal.ics?token=s3cret-query\"\n\
             [target]\nkind = \"ics\"\npath = \"out/public.ics\"\n"
        ),
    );
    let run = f.run(&["-vv", "sync"]);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.starts_with("Created 7,"), "{run}");
    let second = f.run(&["-vv", "sync"]);
    let status = f.run(&["status", "--json"]);
    Exposed::new()
        .run("the first sync", &run)
        .run("the second sync", &second)
        .run("status --json", &status)
        .state(&f.path("state"))
        .text("the target file", f.target())
        .assert_free_of(&["s3cret"]);
    // The target's name defaults to target_calendar.
    assert!(f.target().contains("X-WR-CALNAME:Public Calendar\r\n"));
}

// ------------------------------------------------------------ with Graph

fn ics_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// An internal calendar of events a few days from today.
fn ics_near_today() -> String {
    let at = |days: i64, hour: i64| day(days) + chrono::Duration::hours(hour);
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Example//calsync tests//EN\r\n\
         BEGIN:VEVENT\r\nUID:talk@test\r\nSUMMARY:Public talk\r\nDTSTART:{}\r\nDTEND:{}\r\nEND:VEVENT\r\n\
         BEGIN:VEVENT\r\nUID:fair@test\r\nSUMMARY:Book fair\r\nDTSTART;VALUE=DATE:{}\r\nEND:VEVENT\r\n\
         BEGIN:VEVENT\r\nUID:secret@test\r\nSUMMARY:{CANARY} board\r\nDESCRIPTION:{CANARY} notes\r\n\
         LOCATION:{CANARY} room\r\nCLASS:CONFIDENTIAL\r\nDTSTART:{}\r\nDTEND:{}\r\nEND:VEVENT\r\n\
         END:VCALENDAR\r\n",
        ics_time(at(3, 10)),
        ics_time(at(3, 11)),
        date(4).format("%Y%m%d"),
        ics_time(at(5, 9)),
        ics_time(at(5, 10)),
    )
}

#[test]
fn graph_to_ics_publishes_the_public_events_of_a_graph_calendar() {
    let w = World::new();
    w.add_source(public_event("Open day", 3, 10));
    w.add_source(public_event("Concert", 4, 19));
    w.add_source(secret_event("private", 5, 9));
    w.add_source(secret_event("confidential", 6, 9));
    let target = w.home.path().join("public.ics");
    let config = w.config_file(&format!(
        "[target]\nkind = \"ics\"\npath = \"{}\"\nname = \"Town events\"\n",
        target.display()
    ));
    let config = config.to_str().unwrap();
    let run = w.run(&["--config", config, "-vv", "sync"]);
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stdout.starts_with(
            "Created 2, updated 0, deleted 0, 0 unchanged, 2 skipped (1 private, 1 confidential);"
        ),
        "{run}"
    );
    assert!(run.stdout.contains("requests to Graph"), "{run}");
    let text = std::fs::read_to_string(&target).unwrap();
    let events = vevents(&text);
    assert_eq!(events.len(), 2);
    by_summary(&events, "Open day");
    by_summary(&events, "Concert");
    assert!(w.target_events().is_empty(), "the Graph target was written");

    let second = w.run(&["--config", config, "-vv", "sync"]);
    assert_eq!(second.code, 0, "{second}");
    assert!(
        second
            .stdout
            .starts_with("Created 0, updated 0, deleted 0, 2 unchanged")
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), text);
    let validate = w.run(&["--config", config, "validate"]);
    assert_eq!(validate.code, 0, "{validate}");

    Exposed::new()
        .run("the first sync", &run)
        .run("the second sync", &second)
        .run("validate", &validate)
        .text("the target file", text)
        .assert_free_of(&[CANARY, SECRET]);
    Exposed::new()
        .state_but_tokens(&w.state_dir())
        .assert_free_of(&[CANARY]);
}

#[test]
fn ics_to_graph_creates_copies_in_the_graph_calendar_once() {
    let w = World::new();
    let source = w.home.path().join("internal.ics");
    std::fs::write(&source, ics_near_today()).unwrap();
    // A copy made by hand in the Graph target stays.
    w.add_target(public_event("Made by hand", 2, 12));
    let config = w.config_file(&format!(
        "[source]\nkind = \"ics\"\npath = \"{}\"\n",
        source.display()
    ));
    let config = config.to_str().unwrap();
    let run = w.run(&["--config", config, "-vv", "sync"]);
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stdout.starts_with(
            "Created 2, updated 0, deleted 0, 0 unchanged, 1 skipped (1 confidential);"
        ),
        "{run}"
    );
    assert_eq!(
        w.target_subjects(),
        ["Book fair", "Made by hand", "Public talk"]
    );
    let fair = w
        .target_events()
        .into_iter()
        .find(|e| e["subject"] == "Book fair")
        .unwrap();
    assert_eq!(fair["isAllDay"], true, "{fair}");
    assert_eq!(w.managed().len(), 2);

    let writes = w.fake.writes_applied();
    let second = w.run(&["--config", config, "sync"]);
    assert_eq!(second.code, 0, "{second}");
    assert!(
        second
            .stdout
            .starts_with("Created 0, updated 0, deleted 0, 2 unchanged"),
        "{second}"
    );
    assert_eq!(w.fake.writes_applied(), writes, "a second run wrote");
    let validate = w.run(&["--config", config, "validate"]);
    assert_eq!(validate.code, 0, "{validate}");

    // An edit in the file updates the Graph copy in place.
    let talk_id = w
        .managed()
        .into_iter()
        .find(|(_, e)| e["subject"] == "Public talk")
        .map(|(_, e)| e["id"].clone())
        .unwrap();
    std::fs::write(
        &source,
        ics_near_today().replace("SUMMARY:Public talk", "SUMMARY:Public talk (new speaker)"),
    )
    .unwrap();
    let third = w.run(&["--config", config, "sync"]);
    assert!(
        third.stdout.starts_with("Created 0, updated 1, deleted 0"),
        "{third}"
    );
    let talk = w
        .managed()
        .into_iter()
        .find(|(_, e)| e["id"] == talk_id)
        .map(|(_, e)| e)
        .unwrap();
    assert_eq!(talk["subject"], "Public talk (new speaker)");

    Exposed::new()
        .run("the first sync", &run)
        .run("the second sync", &second)
        .run("validate", &validate)
        .target(&w)
        .assert_free_of(&[CANARY]);
}

#[test]
fn the_graph_side_of_a_mixed_run_still_needs_its_keys() {
    let w = World::new();
    let source = w.home.path().join("internal.ics");
    std::fs::write(&source, ics_near_today()).unwrap();
    let config = w.config_file(&format!(
        "[source]\nkind = \"ics\"\npath = \"{}\"\n",
        source.display()
    ));
    let mut cmd = w.command(&["--config", config.to_str().unwrap(), "sync"]);
    cmd.env_remove("CALSYNC_TENANT_ID");
    let run = Run::from(cmd.output().unwrap());
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("`tenant_id`"), "{run}");
    assert!(w.fake.requests().is_empty());
    assert!(Path::new(&source).exists());
}
