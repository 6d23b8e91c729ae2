//! The state directory: the run lock and the history of runs (README, "State").
//!
//! `state_dir` holds:
//! - `lock` (mode 0600): held (with an OS file lock) by the one sync running;
//!   it names the holder. The kernel frees it when the process dies, even by
//!   SIGKILL, so a crashed run never blocks the next one.
//! - `history.jsonl`: one JSON object per run, appended when the run ends,
//!   newest last. It keeps the newest [`MAX_HISTORY`] runs: an append that
//!   takes it past that rewrites it (to a temporary file, then renamed over
//!   it) without the oldest runs.
//! - `changes.jsonl` (mode 0600): the audit trail, what each sync run
//!   changed in the target, tagged with the run's id ([`audit`]); it drops
//!   the changes of the runs the history drops.
//! - `history.lock`: held briefly by each append, so that two commands ending
//!   at once (a `validate` beside a `sync`) neither lose a line nor interleave
//!   one with a rotation.
//!
//! - `sync-state.json`, `sync-snapshot.json` and `calendars.json`: what the
//!   last sync knew of both calendars and the calendar ids, so that the next
//!   one reads only what changed ([`incremental`]); `full-sync-request.json`,
//!   left by a `validate` that found problems, makes the next sync read both
//!   calendars in full.
//!
//! Deleting the directory loses the history, and makes the next sync read
//! both calendars in full; nothing else.
//!
//! The directory must belong to the user calsync runs as and be closed to
//! other users, and nothing in it is opened through a link ([`files`]).

pub mod audit;
pub mod files;
pub mod incremental;

use crate::error::Failure;
use crate::fs::{FileMode, private_file_options, replace_file};
use crate::policy::SkipReason;
use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Creates the state directory (mode 0700 on Unix) if it does not exist,
/// and checks it and the files in it ([`files::prepare_dir`]).
pub fn ensure_dir(dir: &Path) -> anyhow::Result<()> {
    files::prepare_dir(dir)
}

/// Who holds the lock, as written into the lock file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    pub run_id: String,
    pub started: DateTime<Utc>,
}

/// The run lock. Released when dropped (or when the process dies).
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

impl Lock {
    /// Takes the lock of `dir`, or fails at once with [`Failure::Locked`]
    /// naming the holder.
    pub fn acquire(dir: &Path, run_id: &str) -> anyhow::Result<Lock> {
        let path = dir.join("lock");
        let role = "the run lock";
        let mut file = files::no_follow(
            private_file_options()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false),
        )
        .open(&path)
        .map_err(|e| files::failure(&path, role, &e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                // The holder may be mid-write; a partial read only weakens the message.
                let _ = file.read_to_string(&mut text);
                let holder = serde_json::from_str::<Holder>(text.trim())
                    .map(|h| {
                        format!(
                            "process {} on {} (run {}, started {})",
                            h.pid,
                            h.host,
                            h.run_id,
                            h.started.format("%Y-%m-%d %H:%M:%SZ")
                        )
                    })
                    .unwrap_or_else(|_| "another process".to_string());
                return Err(anyhow::Error::new(Failure::Locked(format!(
                    "Another calsync sync is running: {holder} holds the lock {}. \
                     This run did nothing; the next scheduled run will catch up.",
                    path.display()
                ))));
            }
            Err(TryLockError::Error(e)) => {
                return Err(Failure::Config(format!(
                    "Cannot lock {} ({e}). Keep the state directory on a local file system \
                     that supports file locks (not NFS), or set `state_dir` \
                     (CALSYNC_STATE_DIR) to one.",
                    path.display()
                ))
                .into());
            }
        }
        let holder = Holder {
            pid: std::process::id(),
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            run_id: run_id.to_string(),
            started: Utc::now(),
        };
        let written = (|| -> std::io::Result<()> {
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            serde_json::to_writer(&mut file, &holder)?;
            file.flush()
        })();
        written.map_err(|e| files::failure(&path, role, &e))?;
        Ok(Lock { _file: file })
    }
}

/// Whether a run holds the lock of a state directory, and who.
#[derive(Debug, Clone)]
pub enum LockState {
    /// No run holds it.
    Free,
    /// A run holds it; the holder as it wrote itself into the lock file,
    /// `None` when that cannot be read (the holder may be mid-write).
    Held(Option<Holder>),
}

/// Tells whether a run holds the lock of `dir`, without waiting and without
/// keeping anything: a shared lock is tried on a separate handle and, when it
/// is granted, dropped at once. (In the instant it is held a starting sync
/// would find the lock taken; that instant is a few system calls long.)
pub fn lock_state(dir: &Path) -> anyhow::Result<LockState> {
    let path = dir.join("lock");
    let mut file = match files::no_follow(OpenOptions::new().read(true)).open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(LockState::Free),
        Err(e) => return Err(files::failure(&path, "the run lock", &e)),
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(LockState::Free),
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            Ok(LockState::Held(serde_json::from_str(text.trim()).ok()))
        }
        Err(TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot inspect the lock {}", path.display()))
        }
    }
}

/// What a run did, by count.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub created: usize,
    pub updated: usize,
    pub deleted: usize,
    pub unchanged: usize,
    pub skipped_non_public: usize,
    /// The skipped events by the first filter rule each failed.
    #[serde(default)]
    pub skipped: BTreeMap<SkipReason, usize>,
    pub failed: usize,
}

/// Graph traffic of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunMetrics {
    pub requests: u64,
    pub operations: u64,
    pub retries: u64,
    pub throttled: u64,
    pub mean_latency_ms: f64,
    pub p95_latency_ms: f64,
}

/// One line of `history.jsonl`. Holds no token, secret or event content.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub id: String,
    /// The `[[pair]]` the run was of; absent for a config without pairs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pair: Option<String>,
    pub command: String,
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    pub duration_ms: u64,
    /// `success`, `dry_run`, `partial`, `refused`, `failed`, `interrupted`
    /// (a signal stopped it) or `timed_out` (`run_timeout` did); for
    /// `validate`, `clean`, `problems`, `failed`, `interrupted` or
    /// `timed_out`.
    pub outcome: String,
    pub counts: Counts,
    pub error: Option<String>,
    pub metrics: RunMetrics,
}

/// The history file of a state directory.
pub fn history_path(dir: &Path) -> PathBuf {
    dir.join("history.jsonl")
}

/// How many runs the history keeps.
pub const MAX_HISTORY: usize = 1000;

/// Below this size the history cannot hold more than [`MAX_HISTORY`] runs
/// (every line is far longer than 64 bytes), so an append need not count.
const ROTATION_CHECK_BYTES: u64 = 64 * MAX_HISTORY as u64;

/// Takes the history's append lock, waiting for another append to finish.
/// `None` when the file system does not support locks: the append then goes
/// ahead unguarded, as it did before locks.
fn history_lock(dir: &Path) -> Option<File> {
    let path = dir.join("history.lock");
    let file = files::no_follow(
        private_file_options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false),
    )
    .open(&path)
    .ok()?;
    match file.lock() {
        Ok(()) => Some(file),
        Err(e) => {
            tracing::debug!(file = %path.display(), "cannot lock the history: {e}");
            None
        }
    }
}

/// Appends whole lines to a private (0600) JSON-lines file of the state
/// dir, `role` naming it in errors, and returns the file's new length. A
/// run killed while writing leaves a line without its newline: it is ended
/// first, so that only the torn line is lost and not these too.
pub(crate) fn append_lines(path: &Path, role: &str, mut lines: Vec<u8>) -> anyhow::Result<u64> {
    let mut file = files::no_follow(private_file_options().create(true).read(true).append(true))
        .open(path)
        .map_err(|e| files::failure(path, role, &e))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len > 0 {
        let mut last = [0u8; 1];
        file.seek(SeekFrom::Start(len - 1))?;
        file.read_exact(&mut last)?;
        if last[0] != b'\n' {
            lines.insert(0, b'\n');
        }
    }
    file.write_all(&lines)
        .map_err(|e| files::failure(path, role, &e))?;
    Ok(file.metadata().map(|m| m.len()).unwrap_or(0))
}

/// Appends one entry as a single line (one `write` call, so a crash tears at
/// most this line), then keeps the newest [`MAX_HISTORY`] runs.
pub fn append_history(dir: &Path, entry: &HistoryEntry) -> anyhow::Result<()> {
    let _guard = history_lock(dir);
    let path = history_path(dir);
    let mut line = serde_json::to_vec(entry)?;
    line.push(b'\n');
    let len = append_lines(&path, "the run history", line)?;
    if len > ROTATION_CHECK_BYTES {
        rotate_history(dir, MAX_HISTORY)?;
    }
    Ok(())
}

/// Rewrites the history without its oldest runs when it holds more than
/// `keep`: the newest `keep` readable lines go to a temporary file, which is
/// then renamed over the history, so a reader sees either file whole. Lines
/// that do not parse are dropped. The caller holds the append lock.
fn rotate_history(dir: &Path, keep: usize) -> anyhow::Result<()> {
    let path = history_path(dir);
    let text =
        files::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    // Counting lines is cheap; parsing them is done only when over the cap.
    if text.lines().filter(|l| !l.trim().is_empty()).count() <= keep {
        return Ok(());
    }
    let mut kept: Vec<&str> = Vec::with_capacity(keep);
    let mut ids: Vec<String> = Vec::with_capacity(keep);
    for l in text.lines().rev() {
        if kept.len() == keep {
            break;
        }
        if let Ok(e) = serde_json::from_str::<HistoryEntry>(l) {
            kept.push(l);
            ids.push(e.id);
        }
    }
    kept.reverse();
    let mut out = String::with_capacity(kept.iter().map(|l| l.len() + 1).sum());
    for l in &kept {
        out.push_str(l);
        out.push('\n');
    }
    let written = replace_file(&path, FileMode::Private, |w| w.write_all(out.as_bytes()));
    if let Err(e) = written {
        return Err(e).with_context(|| format!("cannot rotate {}", path.display()));
    }
    // The changes of the runs dropped go too.
    let ids: std::collections::HashSet<&str> = ids.iter().map(String::as_str).collect();
    audit::prune(dir, &ids)
}

/// Reads the history, oldest first, skipping (with a warning) lines that do
/// not parse, such as a line torn by a crash.
pub fn read_history(dir: &Path) -> anyhow::Result<Vec<HistoryEntry>> {
    let path = history_path(dir);
    let text = match files::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(files::failure(&path, "the run history", &e)),
    };
    let mut entries = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(line) {
            Ok(e) => entries.push(e),
            Err(_) => tracing::warn!(
                file = %path.display(),
                line = n + 1,
                "skipping an unreadable history line (a run may have been interrupted while writing it)"
            ),
        }
    }
    Ok(entries)
}

/// A short random id for a run.
pub fn new_run_id() -> String {
    format!("{:016x}", fastrand::u64(..))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_refused_with_holder_named_and_freed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let first = Lock::acquire(dir.path(), "run-one").unwrap();
        let err = Lock::acquire(dir.path(), "run-two").unwrap_err();
        let failure = err.downcast_ref::<Failure>().unwrap();
        assert_eq!(failure.exit_code(), 75);
        assert!(err.to_string().contains("run-one"), "{err}");
        drop(first);
        assert!(Lock::acquire(dir.path(), "run-three").is_ok());
    }

    #[test]
    fn torn_history_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let entry = HistoryEntry {
            pair: None,
            id: "a".into(),
            command: "sync".into(),
            started: Utc::now(),
            finished: Utc::now(),
            duration_ms: 5,
            outcome: "success".into(),
            counts: Counts::default(),
            error: None,
            metrics: RunMetrics::default(),
        };
        append_history(dir.path(), &entry).unwrap();
        let mut f = OpenOptions::new()
            .append(true)
            .open(history_path(dir.path()))
            .unwrap();
        f.write_all(b"{\"id\":\"torn\",\"comm").unwrap();
        let read = read_history(dir.path()).unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].id, "a");
        let mut next = entry.clone();
        next.id = "b".into();
        append_history(dir.path(), &next).unwrap();
        let ids: Vec<_> = read_history(dir.path())
            .unwrap()
            .into_iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(ids, ["a", "b"]);
    }

    fn entry(id: &str) -> HistoryEntry {
        HistoryEntry {
            pair: None,
            id: id.into(),
            command: "sync".into(),
            started: Utc::now(),
            finished: Utc::now(),
            duration_ms: 5,
            outcome: "success".into(),
            counts: Counts::default(),
            error: None,
            metrics: RunMetrics::default(),
        }
    }

    #[test]
    fn history_keeps_the_newest_thousand_runs() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..MAX_HISTORY + 7 {
            append_history(dir.path(), &entry(&i.to_string())).unwrap();
        }
        let read = read_history(dir.path()).unwrap();
        assert_eq!(read.len(), MAX_HISTORY);
        assert_eq!(read[0].id, "7");
        assert_eq!(read[MAX_HISTORY - 1].id, (MAX_HISTORY + 6).to_string());
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(history_path(dir.path()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn rotation_drops_the_changes_of_the_runs_it_drops() {
        let dir = tempfile::tempdir().unwrap();
        let change = |run: &str| audit::Change {
            run: run.into(),
            action: "create".into(),
            target_id: format!("t-{run}"),
            source_key: "k".into(),
            start: "2026-03-02".into(),
            subject: "s".into(),
            changed: Vec::new(),
            reason: None,
        };
        for i in 0..MAX_HISTORY + 3 {
            let id = i.to_string();
            append_history(dir.path(), &entry(&id)).unwrap();
            if i % 2 == 0 {
                audit::append_changes(dir.path(), &[change(&id)]).unwrap();
            }
        }
        let runs: Vec<String> = audit::read_changes(dir.path())
            .unwrap()
            .into_iter()
            .map(|c| c.run)
            .collect();
        // Runs 0 to 2 left the history; run 0 and 2 had changes.
        assert_eq!(runs.first().map(String::as_str), Some("4"));
        assert_eq!(runs.len(), (MAX_HISTORY + 3) / 2 + 1 - 2);
    }

    #[test]
    fn concurrent_appends_lose_no_line_across_rotations() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..990 {
            append_history(dir.path(), &entry(&format!("seed-{i}"))).unwrap();
        }
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let d = dir.path().to_path_buf();
                std::thread::spawn(move || {
                    for i in 0..25 {
                        append_history(&d, &entry(&format!("t{t}-{i}"))).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let text = std::fs::read_to_string(history_path(dir.path())).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), MAX_HISTORY);
        assert!(
            lines
                .iter()
                .all(|l| serde_json::from_str::<HistoryEntry>(l).is_ok())
        );
        // All 100 concurrent runs survive; the oldest seeds made room.
        let concurrent = lines.iter().filter(|l| l.contains("\"id\":\"t")).count();
        assert_eq!(concurrent, 100);
    }

    #[test]
    fn lock_state_names_the_holder_only_while_held() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(lock_state(dir.path()).unwrap(), LockState::Free));
        let lock = Lock::acquire(dir.path(), "run-held").unwrap();
        match lock_state(dir.path()).unwrap() {
            LockState::Held(Some(h)) => {
                assert_eq!(h.run_id, "run-held");
                assert_eq!(h.pid, std::process::id());
            }
            other => panic!("expected a named holder, got {other:?}"),
        }
        // Probing does not keep the lock: the holder is undisturbed, and
        // after it lets go a new run may take it.
        drop(lock);
        assert!(matches!(lock_state(dir.path()).unwrap(), LockState::Free));
        assert!(Lock::acquire(dir.path(), "next").is_ok());
    }
}
