//! `[publish]`: the agenda web page and JSON feed written after each
//! successful sync, from the events the target holds, and never anything
//! the target may not carry.

use crate::common::*;
use fakegraph::Faults;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A config publishing `page.html` and `feed.json` beside it, copying the
/// location, body and categories.
fn publishing(w: &World) -> PathBuf {
    w.config_file(
        "[copy]\nlocation = true\nbody = true\ncategories = true\n\n[publish]\n\
         html = \"page.html\"\njson = \"feed.json\"\ntitle = \"Contoso <events>\"\n\
         time_zone = \"Europe/Berlin\"\n",
    )
}

fn sync_with(w: &World, config: &Path) -> Run {
    let out = w
        .command(&["sync", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    Run::from(out)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn a_sync_publishes_the_page_and_feed_and_a_second_leaves_them_as_they_are() {
    let w = World::new();
    w.add_source(public_event("Open day", 2, 9));
    w.add_source(public_event("Concert <live>", 40, 18));
    for sensitivity in ["private", "confidential", "personal"] {
        w.add_source(secret_event(sensitivity, 3, 10));
    }
    let config = publishing(&w);
    let dir = config.parent().unwrap().to_path_buf();
    let run = sync_with(&w, &config);
    assert_eq!(run.code, 0, "{run}");
    let page = read(&dir.join("page.html"));
    let feed = read(&dir.join("feed.json"));
    assert!(page.contains("<html lang=\"en\">"));
    assert!(page.contains("<h1>Contoso &lt;events&gt;</h1>"), "{page}");
    assert!(
        page.contains("Open day") && page.contains("Concert &lt;live&gt;"),
        "{page}"
    );
    assert!(page.contains("Town hall"), "the copied location is shown");
    assert!(page.contains("<time datetime=\""));
    let doc: serde_json::Value = serde_json::from_str(&feed).unwrap();
    assert_eq!(doc["title"], "Contoso <events>");
    assert_eq!(doc["time_zone"], "Europe/Berlin");
    let events = doc["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{feed}");
    assert_eq!(events[0]["subject"], "Open day");
    assert_eq!(events[0]["location"], "Town hall");
    assert_eq!(events[0]["description"], "Agenda for Open day");
    Exposed::new()
        .text("page", page.clone())
        .text("feed", feed.clone())
        .assert_free_of(&[CANARY]);

    // Nothing changed (an incremental run): byte for byte the same files.
    let again = sync_with(&w, &config);
    assert_eq!(again.code, 0, "{again}");
    assert_eq!(read(&dir.join("page.html")), page);
    assert_eq!(read(&dir.join("feed.json")), feed);

    // A change in the source: the next run publishes it.
    w.add_source(public_event("Late addition", 5, 14));
    let third = sync_with(&w, &config);
    assert_eq!(third.code, 0, "{third}");
    assert!(read(&dir.join("page.html")).contains("Late addition"));
    assert!(read(&dir.join("feed.json")).contains("Late addition"));
}

#[test]
fn a_failed_run_publishes_nothing_new() {
    let w = World::new();
    w.add_source(public_event("Open day", 2, 9));
    let config = publishing(&w);
    let dir = config.parent().unwrap().to_path_buf();
    assert_eq!(sync_with(&w, &config).code, 0);
    let page = read(&dir.join("page.html"));
    let feed = read(&dir.join("feed.json"));

    w.add_source(public_event("Not yet", 4, 9));
    w.fake.set_faults(Faults {
        fail_path: Some(("calendarView".into(), 500, 100)),
        ..Faults::default()
    });
    let failed = w.run(&["sync", "--full", "--config", config.to_str().unwrap()]);
    assert_ne!(failed.code, 0, "{failed}");
    assert_eq!(read(&dir.join("page.html")), page);
    assert_eq!(read(&dir.join("feed.json")), feed);
    w.fake.set_faults(Faults::default());
}

#[test]
fn a_dry_run_publishes_nothing() {
    let w = World::new();
    w.add_source(public_event("Open day", 2, 9));
    let config = publishing(&w);
    let dir = config.parent().unwrap().to_path_buf();
    let run = w.run(&["sync", "--dry-run", "--config", config.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{run}");
    assert!(!dir.join("page.html").exists());
    assert!(!dir.join("feed.json").exists());
}

#[test]
fn without_copy_keys_the_feed_has_no_optional_fields() {
    let w = World::new();
    w.add_source(public_event("Open day", 2, 9));
    let config = w.config_file("[publish]\njson = \"feed.json\"\n");
    let run = sync_with(&w, &config);
    assert_eq!(run.code, 0, "{run}");
    let feed = read(&config.parent().unwrap().join("feed.json"));
    let doc: serde_json::Value = serde_json::from_str(&feed).unwrap();
    let e = &doc["events"][0];
    assert_eq!(e["subject"], "Open day");
    for key in ["location", "description", "categories"] {
        assert!(e.get(key).is_none(), "{key} in {feed}");
    }
    assert!(!feed.contains("Town hall") && !feed.contains("Agenda for"));
}

#[test]
fn the_demo_publishes_a_page_and_feed_of_its_public_events() {
    let copy = tempfile::tempdir().unwrap();
    for file in ["config.toml", "internal.ics"] {
        std::fs::copy(
            root().join("examples/demo").join(file),
            copy.path().join(file),
        )
        .unwrap();
    }
    let demo = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_calsync"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", copy.path().join("home"))
            .env("CALSYNC_TODAY", "2027-01-01")
            .current_dir(std::env::temp_dir())
            .arg("sync")
            .arg("--config")
            .arg(copy.path().join("config.toml"))
            .output()
            .unwrap();
        Run::from(out)
    };
    let run = demo();
    assert_eq!(run.code, 0, "{run}");
    let page = read(&copy.path().join("public.html"));
    let feed = read(&copy.path().join("public.json"));
    assert!(page.contains("Example Org public events"));
    assert!(page.contains("Subscribe"));
    assert!(page.contains("<h2>"), "{page}");
    let doc: serde_json::Value = serde_json::from_str(&feed).unwrap();
    assert!(!doc["events"].as_array().unwrap().is_empty(), "{feed}");
    for secret in [
        "1:1 with the director",
        "Doctor",
        "Board meeting",
        "Team offsite planning",
    ] {
        assert!(!page.contains(secret), "{secret} on the page");
        assert!(!feed.contains(secret), "{secret} in the feed");
    }
    let again = demo();
    assert_eq!(again.code, 0, "{again}");
    assert_eq!(read(&copy.path().join("public.html")), page);
    assert_eq!(read(&copy.path().join("public.json")), feed);
}
