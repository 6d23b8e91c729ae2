//! Progress bars: drawn on stderr when it is a terminal, and never into a
//! pipe, a `--json` run, JSON logs or a `-q` run. Each run here has stderr on
//! a pseudo-terminal or on a pipe, and stdout on a pipe.
#![cfg(unix)]

use crate::common::*;
use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::process::{Command, Stdio};

/// A terminal that can draw (with TERM unset or "dumb" nothing is drawn).
const TERM: &str = "xterm-256color";

/// What the progress display draws while reading and while writing.
const MARKERS: [&str; 2] = ["reading the calendars", "applying the plan"];

/// Runs the command with stderr on a fresh pseudo-terminal; returns the run
/// with everything the terminal received as its stderr.
fn run_on_terminal(mut cmd: Command) -> Run {
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).expect("a pseudo-terminal");
    grantpt(&master).expect("grantpt");
    unlockpt(&master).expect("unlockpt");
    let name = ptsname(&master, Vec::new()).expect("ptsname");
    let path = name.to_str().expect("a UTF-8 terminal path").to_owned();
    let terminal = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .expect("open the terminal side");
    cmd.env("TERM", TERM)
        .stdout(Stdio::piped())
        .stderr(Stdio::from(terminal));
    let mut child = cmd.spawn().expect("calsync starts");
    // Drop the parent's copy of the terminal side, so that reading ends when
    // the child is done with it.
    drop(cmd);
    let mut stdout = child.stdout.take().expect("stdout");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let mut master = File::from(master);
    let mut screen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match master.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => screen.extend_from_slice(&buf[..n]),
            // Linux answers EIO once no process holds the terminal side.
            Err(_) => break,
        }
    }
    let status = child.wait().expect("calsync ends");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: out_reader.join().expect("stdout reader"),
        stderr: String::from_utf8_lossy(&screen).into_owned(),
    }
}

fn world_with_events() -> World {
    let w = World::new();
    for i in 0..30 {
        w.add_source(public_event(&format!("Open day {i}"), 1 + i, 10));
    }
    w.add_source(secret_event("private", 2, 9));
    w
}

fn shows_progress(stderr: &str) -> bool {
    MARKERS.iter().any(|m| stderr.contains(m))
}

#[test]
fn progress_is_drawn_on_a_terminal_only() {
    let w = world_with_events();
    let tty = run_on_terminal(w.command(&["sync"]));
    assert_eq!(tty.code, 0, "{tty}");
    assert!(
        tty.stderr.contains("reading the calendars"),
        "no reading spinner on the terminal:\n{tty}"
    );
    assert!(
        tty.stderr.contains("applying the plan"),
        "no write progress on the terminal:\n{tty}"
    );
    // The summary is on stdout, untouched by the bars.
    assert!(
        tty.stdout
            .starts_with("Created 30, updated 0, deleted 0, 0 unchanged, 1 skipped (1 private)"),
        "{tty}"
    );
    assert_eq!(tty.stdout.lines().count(), 1, "{tty}");
    Exposed::new()
        .target(&w)
        .run("the run on a terminal", &tty)
        .assert_free_of(&[CANARY]);

    // Into a pipe: the same kind of work, and not a trace of a bar.
    w.add_source(public_event("Late addition", 40, 10));
    let piped = Run::from(
        w.command(&["sync"])
            .env("TERM", TERM)
            .output()
            .expect("calsync runs"),
    );
    assert_eq!(piped.code, 0, "{piped}");
    assert!(piped.stdout.starts_with("Created 1,"), "{piped}");
    assert!(!shows_progress(&piped.stderr), "{piped}");
    assert!(
        !piped.stderr.contains('\u{1b}'),
        "escape codes in a pipe: {piped}"
    );
}

#[test]
fn no_progress_on_a_terminal_under_json_json_logs_or_quiet() {
    let w = world_with_events();
    for args in [
        &["sync", "--dry-run", "--json"][..],
        &["--log-format", "json", "sync", "--dry-run"],
        &["-q", "sync", "--dry-run"],
    ] {
        let run = run_on_terminal(w.command(args));
        assert_eq!(run.code, 0, "{args:?}: {run}");
        assert!(!shows_progress(&run.stderr), "{args:?}: {run}");
        if args.contains(&"--json") {
            let doc: serde_json::Value = serde_json::from_str(&run.stdout)
                .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {run}"));
            assert_eq!(doc["counts"]["created"], 30, "{run}");
        }
    }
    // The same dry run with nothing turning it off does draw.
    let run = run_on_terminal(w.command(&["sync", "--dry-run"]));
    assert!(shows_progress(&run.stderr), "{run}");
}

/// Whether text holds a colour (an SGR escape: ESC [ … m). Progress bars move
/// the cursor and clear lines, but never colour.
fn coloured(text: &str) -> bool {
    regex::Regex::new(r"\x1b\[[0-9;]*m")
        .expect("a valid pattern")
        .is_match(text)
}

/// Log lines on a terminal are coloured unless NO_COLOR is set or
/// `--color never` says so; `--color always` colours even a pipe.
#[test]
fn no_color_and_the_color_flag_decide_the_colours() {
    let w = world_with_events();
    let args = ["-v", "sync", "--dry-run"];
    let plain = run_on_terminal(w.command(&args));
    assert_eq!(plain.code, 0, "{plain}");
    assert!(coloured(&plain.stderr), "no colour on a terminal:\n{plain}");

    let mut cmd = w.command(&args);
    cmd.env("NO_COLOR", "1");
    let run = run_on_terminal(cmd);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stderr.contains("INFO"), "{run}");
    assert!(!coloured(&run.stderr), "NO_COLOR ignored:\n{run}");

    let run = run_on_terminal(w.command(&["--color", "never", "-v", "sync", "--dry-run"]));
    assert!(run.stderr.contains("INFO"), "{run}");
    assert!(!coloured(&run.stderr), "--color never ignored:\n{run}");

    let mut cmd = w.command(&["--color", "always", "-v", "sync", "--dry-run"]);
    cmd.env("NO_COLOR", "1");
    let piped = Run::from(cmd.output().expect("calsync runs"));
    assert!(coloured(&piped.stderr), "--color always ignored:\n{piped}");
}
