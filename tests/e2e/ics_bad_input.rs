//! The `.ics` sides end to end, through the built binary: input they refuse
//! or survive. A malformed, truncated or missing file and a config naming no
//! usable one are refused with nothing written; a hostile or broken event is
//! skipped or repaired without leaking anything private.

use super::ics::{Files, internal_ics};
use crate::common::*;
use serde_json::json;
use std::process::{Command, Stdio};

// ------------------------------------------------------------ bad input

fn assert_clean_failure(f: &Files, run: &Run, code: i32, mentions: &[&str]) {
    assert_eq!(run.code, code, "{run}");
    assert!(run.stderr.starts_with("calsync: "), "{run}");
    assert!(!run.stderr.contains("panicked"), "{run}");
    assert_eq!(run.stdout, "", "{run}");
    for m in mentions {
        assert!(run.stderr.contains(m), "{m:?} missing:\n{run}");
    }
    assert!(!f.target_path().exists(), "a failed run wrote the target");
    Exposed::new()
        .run("the failed run", run)
        .assert_free_of(&[CANARY]);
}

/// A source that is not a whole calendar: refused with exit 1, the error
/// mentioning each of `words`, and nothing written.
fn refuses_source(text: &str, words: &[&str]) {
    let f = Files::new(text);
    let run = f.run(&["sync"]);
    assert_clean_failure(&f, &run, 1, words);
    assert!(run.stderr.contains("nothing was written"), "{run}");
    // The same with --json: one error document.
    let run = f.run(&["sync", "--json"]);
    assert_eq!(run.json()["exit_code"], 1, "{run}");
    assert!(!f.target_path().exists());
}

mod a_malformed_or_truncated_source_is_refused_and_nothing_is_written {
    use super::{internal_ics, refuses_source};

    test_cases! { refuses_source;
        not_a_calendar: (
            "This is a spreadsheet, not a calendar.\n",
            &["internal.ics", "line 1"],
        ),
        // Cut off in the middle of an event.
        cut_off_in_an_event: (
            &internal_ics()[..internal_ics().find("UID:tokyo@test").unwrap()],
            &["internal.ics"],
        ),
        // An event left open when the calendar ends: unbalanced.
        an_event_never_closed: (
            &internal_ics().replace(
                "BEGIN:VEVENT\nUID:tokyo@test",
                "BEGIN:VEVENT\nBEGIN:VEVENT\nUID:tokyo@test",
            ),
            &["internal.ics", "never closed"],
        ),
    }
}

#[test]
fn a_missing_source_file_or_target_directory_is_a_configuration_error() {
    let f = Files::new(&internal_ics());
    std::fs::remove_file(f.path("internal.ics")).unwrap();
    let run = f.run(&["sync"]);
    assert_clean_failure(
        &f,
        &run,
        2,
        &["internal.ics", "`source.path`", "does not exist"],
    );
    assert_eq!(run.stderr.lines().count(), 1, "{run}");

    let f = Files::new(&internal_ics());
    std::fs::remove_dir(f.path("out")).unwrap();
    let run = f.run(&["sync"]);
    assert_eq!(run.code, 2, "{run}");
    assert!(
        run.stderr.contains(&format!("{}", f.path("out").display())),
        "{run}"
    );
    assert!(run.stderr.contains("`target.path`"), "{run}");
    assert!(!f.path("out").exists(), "calsync created the directory");
    let run = f.run(&["validate"]);
    assert_eq!(run.code, 2, "{run}");
}

/// A config file (its `.ics` sides) refused with exit 2 in one paragraph
/// mentioning each of `words`.
fn refuses_config(config: &str, words: &[&str]) {
    let f = Files::with_config(&internal_ics(), config);
    let run = f.run(&["sync"]);
    assert_clean_failure(&f, &run, 2, words);
    assert_eq!(run.stderr.lines().count(), 1, "one paragraph: {run}");
}

mod bad_kinds_and_missing_locations_name_the_key {
    use super::*;

    test_cases! { refuses_config;
        unknown_source_kind: (
            "[source]\nkind = \"caldav\"\npath = \"internal.ics\"\n",
            &["`source.kind`", "line 2", "\"ics\""],
        ),
        source_without_path_or_url: (
            "[source]\nkind = \"ics\"\n[target]\nkind = \"ics\"\npath = \"out/public.ics\"\n",
            &["`source.path`", "`source.url`"],
        ),
        target_without_path: (
            "[source]\nkind = \"ics\"\npath = \"internal.ics\"\n[target]\nkind = \"ics\"\n",
            &["`target.path`"],
        ),
        plain_http_source_url_off_loopback: (
            "[source]\nkind = \"ics\"\nurl = \"http://calendars.example.org/feed.ics\"\n",
            &["`source.url`", "loopback"],
        ),
    }

    #[test]
    fn unknown_target_kind_from_the_environment() {
        let f = Files::new(&internal_ics());
        let mut cmd = f.command(&["sync"]);
        cmd.env("CALSYNC_TARGET_KIND", "sharepoint");
        let run = Run::from(cmd.output().unwrap());
        assert_clean_failure(&f, &run, 2, &["`target.kind`", "CALSYNC_TARGET_KIND"]);
    }
}

// ------------------------------------------------ hostile and broken input

/// Runs a command, failing the test if it has not ended within `secs`.
fn run_within(mut cmd: Command, secs: u64) -> Run {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return Run::from(child.wait_with_output().unwrap());
        }
        if started.elapsed() > std::time::Duration::from_secs(secs) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("calsync did not end within {secs} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn one_bad_event_is_skipped_counted_as_unreadable_and_its_copy_removed() {
    let f = Files::new(&internal_ics());
    f.sync();
    assert!(f.target().contains("Workshop in Tokyo"));
    // One event's start cannot be read any more, another's zone is
    // Outlook's "Customized Time Zone" without its VTIMEZONE.
    f.set_source(
        &internal_ics()
            .replace(
                "DTSTART;TZID=Asia/Tokyo:20270501T090000",
                "DTSTART;TZID=Asia/Tokyo:2027-05-01 9am",
            )
            .replace(
                "DTSTART;TZID=Europe/Berlin:20270310T090000",
                "DTSTART;TZID=Customized Time Zone:20270310T090000",
            ),
    );
    let run = f.run(&["sync"]);
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stdout.starts_with(
            "Created 0, updated 0, deleted 2, 5 unchanged, 6 skipped (2 unreadable, 2 private, \
             1 confidential, 1 cancelled);"
        ),
        "{run}"
    );
    // One warning each, naming the event and its line, quoting nothing.
    let warnings: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("unreadable"))
        .collect();
    assert_eq!(warnings.len(), 2, "{run}");
    assert!(run.stderr.contains("UID \"tokyo@test\""), "{run}");
    assert!(run.stderr.contains("UID \"berlin@test\""), "{run}");
    assert!(run.stderr.contains("Customized Time Zone"), "{run}");
    assert!(!run.stderr.contains("Bring the new scores"), "{run}");
    let text = f.target();
    assert!(!text.contains("Workshop in Tokyo") && !text.contains("Rehearsal in Berlin"));
    assert!(text.contains("Concert in New York"));
    let json = f.run(&["sync", "--dry-run", "--json"]).json();
    assert_eq!(
        json["counts"]["skipped"],
        json!({"unreadable": 2, "private": 2, "confidential": 1, "cancelled": 1})
    );
    let history = f.run(&["history", "--json"]).json();
    let synced = history
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["command"] == "sync")
        .unwrap();
    assert_eq!(synced["counts"]["skipped"]["unreadable"], 2, "{synced}");
    // validate agrees that nothing is missing.
    let run = f.run(&["validate"]);
    assert_eq!(run.code, 0, "{run}");
}

#[test]
fn a_private_event_with_cr_line_ends_in_an_lf_file_leaks_nowhere() {
    let private = "BEGIN:VEVENT\rUID:cr@test\rDTSTART:20270312T090000Z\rCLASS:PRIVATE\r\
                   SUMMARY:CANARY-9f4e2b cr summary\rDESCRIPTION:CANARY-9f4e2b cr notes\r\
                   END:VEVNT\r";
    let source = internal_ics().replace("END:VCALENDAR\n", &format!("{private}END:VCALENDAR\n"));
    let f = Files::new(&source);
    let mut exposed = Exposed::new();
    let mut outputs = Vec::new();
    for args in [
        &["-vv", "sync"][..],
        &["sync", "--json"],
        &["validate", "--json"],
    ] {
        let run = f.run(args);
        assert!(run.code == 0 || run.code == 4, "{run}");
        exposed = exposed.run(&format!("{args:?}"), &run);
        outputs.push(run.all_output());
    }
    assert!(
        outputs[0].contains("cr@test"),
        "the event is named: {}",
        outputs[0]
    );
    exposed
        .text("the target file", f.target())
        .state(&f.path("state"))
        .assert_free_of(&[CANARY]);
}

#[test]
fn a_copy_an_earlier_version_wrote_past_9999_is_repaired() {
    let f = Files::new(&internal_ics());
    f.sync();
    let broken = f
        .target()
        .replace("DTEND:20270310T093000Z\r\n", "DTEND:+102401119T100000Z\r\n");
    assert_ne!(broken, f.target());
    f.set_target(&broken);
    let run = f.run(&["validate", "--json"]);
    assert_eq!(run.code, 4, "a problem, not a failure: {run}");
    assert_eq!(run.json()["counts"]["stale"], 1, "{run}");
    let run = f.sync();
    assert!(
        run.stdout.starts_with("Created 0, updated 1, deleted 0"),
        "{run}"
    );
    assert!(f.target().contains("DTEND:20270310T093000Z\r\n"));
    assert_eq!(f.run(&["validate"]).code, 0);
}

#[test]
fn temporary_files_of_killed_runs_are_removed() {
    let f = Files::new(&internal_ics());
    f.sync();
    // A process that has ended, as a killed run has.
    let mut gone = Command::new("true").spawn().unwrap();
    let pid = gone.id();
    gone.wait().unwrap();
    let leftover = f.path(&format!("out/.public.ics.{pid}.1234567.tmp"));
    std::fs::write(&leftover, "BEGIN:VCALENDAR\r\n").unwrap();
    let other = f.path("out/.public.ics.notes");
    std::fs::write(&other, "mine").unwrap();
    f.set_source(&internal_ics().replace("Workshop in Tokyo", "Workshop in Osaka"));
    f.sync();
    assert!(!leftover.exists(), "the leftover is still there");
    assert!(other.exists(), "a file calsync did not write was removed");
}

#[test]
fn a_control_character_in_a_public_summary_is_copied_once() {
    let f = Files::new(&internal_ics().replace(
        "SUMMARY:Concert in New York",
        "SUMMARY:Concert\u{7} in New York\u{1b}",
    ));
    f.sync();
    assert!(f.target().contains("SUMMARY:Concert in New York\r\n"));
    let run = f.sync();
    assert!(
        run.stdout
            .starts_with("Created 0, updated 0, deleted 0, 7 unchanged"),
        "{run}"
    );
    let run = f.run(&["validate"]);
    assert_eq!(run.code, 0, "{run}");
}

#[cfg(unix)]
#[test]
fn a_source_that_is_a_pipe_or_a_device_is_refused_at_once() {
    let f = Files::new(&internal_ics());
    let fifo = f.path("pipe.ics");
    let status = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(status.success());
    for path in [fifo.display().to_string(), "/dev/zero".to_string()] {
        let mut cmd = f.command(&["sync"]);
        cmd.env("CALSYNC_SOURCE_PATH", &path);
        let run = run_within(cmd, 30);
        assert_eq!(run.code, 2, "{run}");
        assert!(run.stderr.contains("not a regular file"), "{run}");
        assert!(run.stderr.contains("`source.path`"), "{run}");
        assert!(!f.target_path().exists());
    }
}
