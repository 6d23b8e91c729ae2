//! The state directory as operators get it wrong: unwritable, owned by
//! someone else, open to other users, links and directories where its files
//! belong, and a history that cannot be written. Each is refused with exit 2
//! and a message naming the path and the fix, before anything is sent to
//! Graph; a run that did its work but could not be recorded exits non-zero,
//! with a message, even under `-q`.
#![cfg(unix)]

use crate::common::*;
use std::os::unix::fs::PermissionsExt;

fn world() -> World {
    let w = World::new();
    w.add_source(public_event("Open day", 3, 10));
    w
}

fn chmod(path: &std::path::Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn refused(w: &World, run: &Run, words: &[&str]) {
    assert_eq!(run.code, 2, "{run}");
    assert_eq!(run.stderr.lines().count(), 1, "one paragraph: {run}");
    for word in words {
        assert!(run.stderr.contains(word), "{word:?} missing: {run}");
    }
    assert!(
        w.fake.requests().is_empty(),
        "a request was sent before the state dir was checked"
    );
}

#[test]
fn an_existing_but_unwritable_state_dir_is_a_configuration_error() {
    let w = world();
    let dir = w.state_dir();
    std::fs::create_dir(&dir).unwrap();
    for args in [&["-q", "sync"][..], &["validate"]] {
        let mut cmd = w.command(args);
        let uid = as_unprivileged(&w, &mut cmd);
        give(&dir, uid);
        chmod(&dir, 0o500);
        let run = Run::from(cmd.output().unwrap());
        refused(
            &w,
            &run,
            &[
                &dir.display().to_string(),
                "not writable",
                "chmod 700",
                "CALSYNC_STATE_DIR",
            ],
        );
    }
}

#[test]
fn a_state_dir_of_another_user_or_open_to_others_is_refused() {
    let w = world();
    let dir = w.state_dir();
    std::fs::create_dir(&dir).unwrap();
    chmod(&dir, 0o777);
    let run = w.run(&["sync"]);
    refused(
        &w,
        &run,
        &[&dir.display().to_string(), "every user", "chmod go-w"],
    );
    chmod(&dir, 0o700);

    // Another user's directory (only root can hand one over here).
    if rustix::process::geteuid().is_root() {
        give(&dir, 65534);
        let run = w.run(&["sync"]);
        refused(&w, &run, &["belongs to another user", "chown -R 0"]);
        give(&dir, 0);
    }
    w.sync();
}

#[test]
fn links_and_directories_where_state_files_belong_are_refused() {
    let w = world();
    w.sync();
    w.fake.clear_requests();
    let dir = w.state_dir();
    let precious = w.home.path().join("precious.txt");
    std::fs::write(&precious, "not calsync's").unwrap();
    let lock = dir.join("lock");
    let history = dir.join("history.jsonl");
    // What is planted where: a directory, or a link to the given file.
    let cases: [(&std::path::Path, Option<&std::path::Path>, &str); 4] = [
        (&lock, None, "is a directory"),
        (
            &lock,
            Some(std::path::Path::new("/dev/null")),
            "symbolic link",
        ),
        (&lock, Some(&precious), "symbolic link"),
        (&history, Some(&precious), "symbolic link"),
    ];
    let saved_history = std::fs::read(&history).unwrap();
    for (path, link_to, what) in cases {
        let _ = std::fs::remove_file(path);
        let _ = std::fs::remove_dir(path);
        match link_to {
            Some(target) => std::os::unix::fs::symlink(target, path).unwrap(),
            None => std::fs::create_dir(path).unwrap(),
        }
        for args in [&["-q", "sync"][..], &["validate"]] {
            let run = w.run(args);
            refused(&w, &run, &[&path.display().to_string(), what, "rm -r"]);
        }
        assert_eq!(std::fs::read_to_string(&precious).unwrap(), "not calsync's");
        let _ = std::fs::remove_file(path);
        let _ = std::fs::remove_dir(path);
    }
    std::fs::write(&history, saved_history).unwrap();
    w.sync();
}

#[test]
fn a_run_that_cannot_be_recorded_fails_loudly_even_under_quiet() {
    let w = world();
    let dir = w.state_dir();
    std::fs::create_dir(&dir).unwrap();
    chmod(&dir, 0o700);
    let history = dir.join("history.jsonl");
    for args in [&["-q", "sync"][..], &["-q", "validate"]] {
        let mut cmd = w.command(args);
        let uid = as_unprivileged(&w, &mut cmd);
        give(&dir, uid);
        // A history file the user may not write (root's, when the tests
        // run as root).
        std::fs::write(&history, "").unwrap();
        chmod(&history, 0o444);
        let run = Run::from(cmd.output().unwrap());
        assert_eq!(run.code, 2, "{args:?}: {run}");
        assert!(run.stderr.contains("not recorded in the history"), "{run}");
        assert!(run.stderr.contains(&history.display().to_string()), "{run}");
        assert!(run.stderr.contains("status --max-age"), "{run}");
        std::fs::remove_file(&history).unwrap();
    }
    // The sync itself did its work, and says so on stdout.
    assert_eq!(w.target_subjects(), ["Open day"]);
}
