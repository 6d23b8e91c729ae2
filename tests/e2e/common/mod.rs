//! Shared helpers for the integration tests: a fake Graph per test, a
//! hermetic environment for the `calsync` binary, and event builders.
#![allow(dead_code)]

use chrono::{DateTime, Duration, NaiveDate, Utc};
use fakegraph::FakeGraph;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const TENANT: &str = "contoso-tenant";
pub const CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";
pub const SECRET: &str = "app-secret-Zq8~vT3pL0xW";
pub const MAILBOX: &str = "events@contoso.example";
pub const SOURCE: &str = "Calendar";
pub const TARGET: &str = "Public Calendar";
/// Put into every non-public event; must never reach the target or any output.
pub const CANARY: &str = "CANARY-9f4e2b";

/// One test's world: a fake Graph with a source and a target calendar, and a
/// private home and state directory for the binary.
pub struct World {
    pub fake: FakeGraph,
    pub home: tempfile::TempDir,
    pub source_id: String,
    pub target_id: String,
}

thread_local! {
    /// How the fake of the current test behaves where Graph's docs and its
    /// users' reports disagree; the reported behaviour unless a test runs
    /// under another ([`under_each_graph_behaviour!`]).
    static BEHAVIOUR: std::cell::RefCell<fakegraph::Behaviour> =
        std::cell::RefCell::new(fakegraph::Behaviour::default());
}

/// Runs a test with the fake behaving as `switch` says (see
/// [`under_each_graph_behaviour!`]).
pub fn with_behaviour(switch: &str, test: fn()) {
    use fakegraph::{Behaviour, DeltaOccurrences, DuplicateTransactionId};
    let reported = Behaviour::default();
    let behaviour = match switch {
        "full_occurrences" => Behaviour {
            delta_occurrences: DeltaOccurrences::Full,
            ..reported
        },
        "silent_occurrence_deletes" => Behaviour {
            delta_signals_deleted_occurrences: false,
            ..reported
        },
        "duplicate_transaction_409" => Behaviour {
            duplicate_transaction_id: DuplicateTransactionId::Error409,
            ..reported
        },
        "duplicate_transaction_201" => Behaviour {
            duplicate_transaction_id: DuplicateTransactionId::Created201,
            ..reported
        },
        other => panic!("no such behaviour switch: {other}"),
    };
    BEHAVIOUR.with(|b| *b.borrow_mut() = behaviour);
    test();
}

/// Runs the named tests (functions of the calling module, each also a
/// `#[test]` against the fake's default, Graph as its users report it) once
/// more under each switch of the fake that changes what a sync sees: delta
/// sending occurrences whole (as documented) instead of bare, delta saying
/// nothing of a deleted occurrence, and a repeated `transactionId` answered
/// 409 or 201 instead of 400.
#[macro_export]
macro_rules! under_each_graph_behaviour {
    ($($test:ident),* $(,)?) => {
        $crate::under_each_graph_behaviour!(@switch full_occurrences; $($test),*);
        $crate::under_each_graph_behaviour!(@switch silent_occurrence_deletes; $($test),*);
        $crate::under_each_graph_behaviour!(@switch duplicate_transaction_409; $($test),*);
        $crate::under_each_graph_behaviour!(@switch duplicate_transaction_201; $($test),*);
    };
    (@switch $switch:ident; $($test:ident),*) => {
        mod $switch {
            $(
                #[test]
                fn $test() {
                    $crate::common::with_behaviour(stringify!($switch), super::$test);
                }
            )*
        }
    };
}

/// A table of cases: one `#[test]` per row, named by the row, calling the
/// check with the row's arguments. A failing case is named by its test, and
/// the other rows still run.
#[macro_export]
macro_rules! test_cases {
    ($check:path; $($case:ident: ($($arg:expr),* $(,)?)),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $check($($arg),*);
            }
        )*
    };
}

impl World {
    pub fn new() -> World {
        let fake = FakeGraph::start();
        fake.set_behaviour(BEHAVIOUR.with(|b| b.borrow().clone()));
        fake.add_app(TENANT, CLIENT_ID, SECRET);
        fake.add_mailbox(MAILBOX);
        let source_id = fake
            .calendar_id(MAILBOX, SOURCE)
            .expect("the fake creates the default calendar");
        let target_id = fake.add_calendar(MAILBOX, TARGET);
        World {
            fake,
            home: tempfile::tempdir().expect("temp dir"),
            source_id,
            target_id,
        }
    }

    pub fn state_dir(&self) -> PathBuf {
        self.home.path().join("state")
    }

    /// A `calsync` command with a clean environment pointing at the fake.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_calsync"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join("config"))
            .env("XDG_STATE_HOME", self.home.path().join("xdg-state"))
            .env("RUST_BACKTRACE", "0")
            .env("CALSYNC_TENANT_ID", TENANT)
            .env("CALSYNC_CLIENT_ID", CLIENT_ID)
            .env("CALSYNC_CLIENT_SECRET", SECRET)
            .env("CALSYNC_MAILBOX", MAILBOX)
            .env("CALSYNC_GRAPH_URL", self.fake.graph_url())
            .env("CALSYNC_AUTHORITY_URL", self.fake.authority_url())
            .env("CALSYNC_STATE_DIR", self.state_dir())
            .env("CALSYNC_TOKEN_STORE", "file")
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let out = self
            .command(args)
            .output()
            .expect("the calsync binary runs");
        Run::from(out)
    }

    /// Runs `sync` and insists that it succeeded.
    pub fn sync(&self) -> Run {
        let run = self.run(&["sync"]);
        assert_eq!(run.code, 0, "sync failed:\n{run}");
        run
    }

    pub fn add_source(&self, event: Value) -> String {
        self.fake.insert_event(MAILBOX, &self.source_id, event)
    }

    pub fn add_target(&self, event: Value) -> String {
        self.fake.insert_event(MAILBOX, &self.target_id, event)
    }

    pub fn target_events(&self) -> Vec<Value> {
        self.fake.events(MAILBOX, &self.target_id)
    }

    /// Target events carrying calsync's marker, with their source keys.
    pub fn managed(&self) -> Vec<(String, Value)> {
        self.target_events()
            .into_iter()
            .filter_map(|e| source_key_of(&e).map(|k| (k, e)))
            .collect()
    }

    /// Subjects of the target calendar, sorted.
    pub fn target_subjects(&self) -> Vec<String> {
        let mut s: Vec<String> = self
            .target_events()
            .iter()
            .map(|e| e["subject"].as_str().unwrap_or_default().to_string())
            .collect();
        s.sort();
        s
    }

    pub fn config_file(&self, text: &str) -> PathBuf {
        let path = self.home.path().join("calsync.toml");
        std::fs::write(&path, text).expect("write config");
        path
    }
}

/// No test may see calsync put more than 4 operations on a mailbox at once
/// (a batch counting min(4, its size) from sending to its answer): Outlook
/// refuses the fifth (`concepts/throttling-limits.md`).
impl Drop for World {
    fn drop(&mut self) {
        let t = self.fake.throttling();
        if !std::thread::panicking() {
            assert!(
                t.peak_outstanding <= 4,
                "calsync had {} operations outstanding on one mailbox: {t:?}",
                t.peak_outstanding
            );
        }
    }
}

/// The source key in a target event's calsync marker, if it has one.
pub fn source_key_of(event: &Value) -> Option<String> {
    event["singleValueExtendedProperties"]
        .as_array()?
        .iter()
        .find(|p| {
            p["id"]
                .as_str()
                .is_some_and(|id| id.ends_with("Name calsyncSourceKey"))
        })
        .and_then(|p| p["value"].as_str())
        .map(str::to_string)
}

/// The output of one run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Run {
    pub fn all_output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{self}"))
    }
}

/// Midnight UTC of today plus `days`.
pub fn day(days: i64) -> DateTime<Utc> {
    Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        + Duration::days(days)
}

pub fn date(days: i64) -> NaiveDate {
    day(days).date_naive()
}

fn graph_time(t: DateTime<Utc>) -> Value {
    json!({ "dateTime": t.format("%Y-%m-%dT%H:%M:%S").to_string(), "timeZone": "UTC" })
}

/// A timed, public event `days` from today at `hour`:00 UTC, one hour long.
pub fn public_event(subject: &str, days: i64, hour: i64) -> Value {
    let start = day(days) + Duration::hours(hour);
    json!({
        "subject": subject,
        "start": graph_time(start),
        "end": graph_time(start + Duration::hours(1)),
        "sensitivity": "normal",
        "showAs": "busy",
        "body": { "contentType": "text", "content": format!("Agenda for {subject}") },
        "location": { "displayName": "Town hall" },
    })
}

/// An event with the given sensitivity whose every text field holds the canary.
pub fn secret_event(sensitivity: &str, days: i64, hour: i64) -> Value {
    let start = day(days) + Duration::hours(hour);
    json!({
        "subject": format!("{CANARY} {sensitivity} subject"),
        "start": graph_time(start),
        "end": graph_time(start + Duration::hours(1)),
        "sensitivity": sensitivity,
        "body": { "contentType": "html", "content": format!("<p>{CANARY} body</p>") },
        "location": { "displayName": format!("{CANARY} room") },
        "categories": [format!("{CANARY}-category")],
        "attendees": [{ "type": "required", "emailAddress": { "name": CANARY, "address": "ceo@contoso.example" } }],
    })
}

/// The state files that must hold no token: all but the token store, which
/// must be private to its owner.
pub fn state_files_but_tokens(dir: &Path) -> String {
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(dir.join("tokens.json")) {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            meta.permissions().mode() & 0o777,
            0o600,
            "tokens.json is not 0600"
        );
    }
    read_tree_except(dir, &["tokens.json"])
}

/// Where private content, secrets and tokens must never be found: the
/// target calendar, what the runs printed, the history and the other state
/// files. Each place is gathered with a name, so that a failed check says
/// where the leak is, and [`Exposed::assert_free_of`] looks for every
/// needle in every place.
#[derive(Default)]
pub struct Exposed {
    places: Vec<(String, String)>,
}

impl Exposed {
    pub fn new() -> Exposed {
        Exposed::default()
    }

    /// A text under a name for the failure message.
    pub fn text(mut self, place: impl Into<String>, text: impl Into<String>) -> Exposed {
        self.places.push((place.into(), text.into()));
        self
    }

    /// What a run printed, stdout and stderr.
    pub fn run(self, name: &str, run: &Run) -> Exposed {
        self.text(format!("stdout of {name}"), run.stdout.as_str())
            .text(format!("stderr of {name}"), run.stderr.as_str())
    }

    /// The events of the world's Graph target calendar, as Graph lists them.
    pub fn target(self, world: &World) -> Exposed {
        let events = serde_json::to_string(&world.target_events()).expect("json");
        self.text("the target calendar", events)
    }

    /// Every file of a state directory, the token store included.
    pub fn state(self, dir: &Path) -> Exposed {
        let text = read_tree(dir);
        self.text(format!("the state dir {}", dir.display()), text)
    }

    /// Every file of a state directory but the token store, which holds the
    /// tokens of a delegated sign-in by design ([`state_files_but_tokens`]).
    pub fn state_but_tokens(self, dir: &Path) -> Exposed {
        let text = state_files_but_tokens(dir);
        self.text(
            format!("the state dir {} (but tokens.json)", dir.display()),
            text,
        )
    }

    /// Asserts that no needle occurs in any place gathered.
    #[track_caller]
    pub fn assert_free_of<S: AsRef<str>>(&self, needles: &[S]) {
        assert!(!self.places.is_empty(), "no place to look for leaks in");
        assert!(!needles.is_empty(), "nothing to look for");
        for needle in needles {
            let needle = needle.as_ref();
            // "" is in every text: it would fail every check, not find a leak.
            assert!(!needle.is_empty(), "an empty needle");
            for (place, text) in &self.places {
                assert!(
                    !text.contains(needle),
                    "{needle:?} leaked into {place}:\n{text}"
                );
            }
        }
    }
}

/// Every file under a directory, concatenated, for leak checks of state.
pub fn read_tree(dir: &Path) -> String {
    read_tree_except(dir, &[])
}

/// Like [`read_tree`], leaving out files with these names. The token store
/// (`tokens.json`, mode 0600) holds tokens by design; every other state file
/// must not.
pub fn read_tree_except(dir: &Path, skip: &[&str]) -> String {
    let mut all = String::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if skip.iter().any(|n| p.file_name().is_some_and(|f| f == *n)) {
                continue;
            }
            if p.is_dir() {
                all.push_str(&read_tree_except(&p, skip));
            } else if let Ok(text) = std::fs::read(&p) {
                all.push_str(&String::from_utf8_lossy(&text));
            }
        }
    }
    all
}

/// Makes `cmd` run as a user that file permissions bind: unchanged when the
/// tests run as an ordinary user, else (root ignores permissions) as the
/// `nobody` user, with the world's home opened so that it can reach its
/// state dir. Returns the uid the command runs as, to give it files.
#[cfg(unix)]
pub fn as_unprivileged(world: &World, cmd: &mut Command) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let me = rustix::process::geteuid().as_raw();
    if me != 0 {
        return me;
    }
    const NOBODY: u32 = 65534;
    std::fs::set_permissions(world.home.path(), std::fs::Permissions::from_mode(0o755))
        .expect("open the home");
    cmd.uid(NOBODY).gid(NOBODY);
    NOBODY
}

/// Gives `path` to `uid` (and its group of the same number).
#[cfg(unix)]
pub fn give(path: &Path, uid: u32) {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).expect("stat");
    if meta.uid() != uid {
        std::os::unix::fs::chown(path, Some(uid), Some(uid)).expect("chown");
    }
}

/// The leak check can fail: a needle in any place gathered is found, and
/// named with that place.
#[test]
#[should_panic(expected = "\"CANARY-9f4e2b\" leaked into stderr of a run")]
fn the_leak_check_finds_a_needle() {
    let run = Run {
        code: 0,
        stdout: "Created 1".to_string(),
        stderr: format!("WARN skipping \"{CANARY} board\""),
    };
    Exposed::new()
        .text("the target calendar", "[]")
        .run("a run", &run)
        .assert_free_of(&[SECRET, CANARY]);
}
