//! `calsync calendars` end to end: the built binary against the fake Graph,
//! as an operator runs it to choose `source_calendar` and `target_calendar`.

use crate::common::*;
use serde_json::Value;

const CHAIR: &str = "chair@contoso.example";

/// The line of the table row of a calendar, by name.
fn row<'a>(run: &'a Run, name: &str) -> &'a str {
    run.stdout
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no row for \"{name}\":\n{run}"))
}

#[test]
fn lists_both_calendars_of_the_mailbox_with_the_default_marked() {
    let w = World::new();
    let run = w.run(&["calendars"]);
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stdout
            .starts_with(&format!("Calendars of {MAILBOX}:\n")),
        "{run}"
    );
    let source = row(&run, SOURCE);
    assert!(source.contains("default"), "{source}");
    assert!(source.contains(&format!("id:{}", w.source_id)), "{source}");
    assert!(source.contains("source"), "{source}");
    assert!(source.contains(MAILBOX), "{source}");
    let target = row(&run, TARGET);
    assert!(!target.contains("default"), "{target}");
    assert!(target.contains("yes"), "{target}");
    assert!(target.contains("target"), "{target}");
    assert!(target.contains(&format!("id:{}", w.target_id)), "{target}");
    // Listed once though both sides are there.
    assert_eq!(run.stdout.matches("Calendars of").count(), 1, "{run}");
}

#[test]
fn a_localized_mailbox_shows_its_default_calendar_by_its_own_name() {
    let w = World::new();
    w.fake.add_mailbox_localized(CHAIR, "Kalender");
    let run = w.run(&["calendars", "--mailbox", CHAIR]);
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stdout.starts_with(&format!("Calendars of {CHAIR}:\n")),
        "{run}"
    );
    let kalender = row(&run, "Kalender");
    assert!(kalender.contains("default"), "{kalender}");
    assert!(kalender.contains(CHAIR), "{kalender}");
    assert!(!run.stdout.contains(MAILBOX), "{run}");
}

#[test]
fn json_gives_one_document_with_each_calendar() {
    let w = World::new();
    let run = w.run(&["calendars", "--json"]);
    assert_eq!(run.code, 0, "{run}");
    let doc = run.json();
    let mailboxes = doc["mailboxes"].as_array().expect("mailboxes");
    assert_eq!(mailboxes.len(), 1, "{doc}");
    assert_eq!(mailboxes[0]["mailbox"], MAILBOX);
    let cals = mailboxes[0]["calendars"].as_array().expect("calendars");
    assert_eq!(cals.len(), 2, "{doc}");
    let by_name = |n: &str| -> &Value {
        cals.iter()
            .find(|c| c["name"] == n)
            .unwrap_or_else(|| panic!("no {n}: {doc}"))
    };
    let source = by_name(SOURCE);
    assert_eq!(source["id"], w.source_id.as_str());
    assert_eq!(source["default"], true);
    assert_eq!(source["can_edit"], true);
    assert_eq!(source["owner"], MAILBOX);
    assert_eq!(source["role"], "source");
    let target = by_name(TARGET);
    assert_eq!(target["id"], w.target_id.as_str());
    assert_eq!(target["default"], false);
    assert_eq!(target["role"], "target");
    assert_eq!(doc["files"], Value::Array(Vec::new()));
}

#[test]
fn an_unknown_mailbox_is_a_configuration_error_naming_it() {
    let w = World::new();
    let run = w.run(&["calendars", "--mailbox", "nobody@contoso.example"]);
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("nobody@contoso.example"), "{run}");
    assert!(run.stdout.is_empty(), "{run}");
}

#[test]
fn an_ics_source_file_is_described() {
    let w = World::new();
    let fmt = |days: i64, hour: i64| {
        (day(days) + chrono::Duration::hours(hour))
            .format("%Y%m%dT%H%M%S")
            .to_string()
    };
    let file = w.home.path().join("internal.ics");
    std::fs::write(
        &file,
        format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n\
             BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:STANDARD\r\n\
             DTSTART:19701025T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\n\
             END:STANDARD\r\nEND:VTIMEZONE\r\n\
             BEGIN:VEVENT\r\nUID:a@test\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Open day\r\n\
             DTSTART;TZID=Europe/Berlin:{}\r\nDTEND;TZID=Europe/Berlin:{}\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:b@test\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Fair\r\n\
             DTSTART:{}Z\r\nDTEND:{}Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
            fmt(3, 10),
            fmt(3, 11),
            fmt(9, 10),
            fmt(9, 11)
        ),
    )
    .unwrap();
    let config = w.config_file(&format!(
        "[source]\nkind = \"ics\"\npath = \"{}\"\n",
        file.display()
    ));
    let config = config.to_str().unwrap();
    let run = w.run(&["--config", config, "calendars"]);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.contains("The source file"), "{run}");
    assert!(run.stdout.contains("2 events"), "{run}");
    assert!(run.stdout.contains("Europe/Berlin"), "{run}");
    let range = format!("dates: {} to {}", date(3), date(9));
    assert!(run.stdout.contains(&range), "{run}");
    // The target mailbox is still listed.
    assert!(row(&run, TARGET).contains("target"), "{run}");

    let run = w.run(&["--config", config, "calendars", "--json"]);
    assert_eq!(run.code, 0, "{run}");
    let doc = run.json();
    let files = doc["files"].as_array().expect("files");
    assert_eq!(files.len(), 1, "{doc}");
    assert_eq!(files[0]["role"], "source");
    assert_eq!(files[0]["events"], 2);
    assert_eq!(files[0]["first"], date(3).to_string());
    assert_eq!(files[0]["last"], date(9).to_string());
    assert_eq!(files[0]["time_zones"][0], "Europe/Berlin");
}

#[test]
fn a_pairs_config_lists_each_mailbox_once() {
    let w = World::new();
    w.fake.add_mailbox(CHAIR);
    let chair_public = w.fake.add_calendar(CHAIR, TARGET);
    let board = w.fake.add_calendar(CHAIR, "Board");
    let config = w.config_file(&format!(
        r#"
[[pair]]
name = "alpha"
mailbox = "{MAILBOX}"
target_mailbox = "{MAILBOX}"
target_calendar = "{TARGET}"

[[pair]]
name = "beta"
mailbox = "{CHAIR}"
target_mailbox = "{CHAIR}"
target_calendar = "{TARGET}"

[[pair]]
name = "board"
target_mailbox = "{CHAIR}"
target_calendar = "Board"

[[pair.sources]]
name = "events"
mailbox = "{MAILBOX}"

[[pair.sources]]
name = "chair"
mailbox = "{CHAIR}"
"#
    ));
    let config = config.to_str().unwrap();
    let run = w.run(&["--config", config, "calendars", "--json"]);
    assert_eq!(run.code, 0, "{run}");
    let doc = run.json();
    let names: Vec<&str> = doc["mailboxes"]
        .as_array()
        .expect("mailboxes")
        .iter()
        .filter_map(|m| m["mailbox"].as_str())
        .collect();
    assert_eq!(names, [MAILBOX, CHAIR], "{doc}");
    let chair = &doc["mailboxes"][1]["calendars"];
    let public = chair
        .as_array()
        .expect("calendars")
        .iter()
        .find(|c| c["id"] == chair_public.as_str())
        .expect("the chair's public calendar");
    assert_eq!(public["role"], "target");
    let board_row = chair
        .as_array()
        .expect("calendars")
        .iter()
        .find(|c| c["id"] == board.as_str())
        .expect("the board calendar");
    assert_eq!(board_row["role"], "target");
    // The chair's default calendar is the source of "beta" and of "board".
    let default = chair
        .as_array()
        .expect("calendars")
        .iter()
        .find(|c| c["default"] == true)
        .expect("a default calendar");
    assert_eq!(default["role"], "source");

    // One pair: only its mailboxes.
    let run = w.run(&["--config", config, "calendars", "--pair", "alpha"]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(run.stdout.matches("Calendars of").count(), 1, "{run}");
    assert!(!run.stdout.contains(CHAIR), "{run}");
}
