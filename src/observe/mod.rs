//! Watching calsync from outside: after each `sync` and `validate` the
//! run's metrics go to a file for node_exporter's textfile collector
//! (`metrics_file`, [`metrics`]) and to a Prometheus Pushgateway
//! (`metrics_push_url`, [`push`]); a `sync` pings a dead-man's switch when
//! it starts and ends (`ping_url`, [`ping`]).
//!
//! None of this decides the exit code: a metrics file that cannot be
//! written, a push or a ping that fails is one warning line, and the run's
//! own outcome stands. Nothing sent holds event content, a token or an
//! error message (which may quote an event): counts, outcomes and times
//! only.

pub mod metrics;
pub mod ping;
pub mod push;

use crate::config::Settings;
use crate::run::report::{SyncReport, ValidateReport};
use metrics::{Group, Sample};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// How long a push or a ping may take before it is given up.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// What a run came to, as the metrics and the pings tell it.
pub struct RunEnd<'a> {
    /// The history-style outcome: `success`, `partial`, `clean`, `failed`…
    pub outcome: &'a str,
    pub exit_code: u8,
    /// When the run ended, in seconds since the Unix epoch.
    pub finished: f64,
    pub duration_seconds: f64,
    pub detail: Detail<'a>,
}

/// The report of a run that ended with one.
pub enum Detail<'a> {
    /// The run returned an error: no counts.
    Failed,
    Sync(&'a SyncReport),
    Validate(&'a ValidateReport),
}

/// One pair's part of a run: its name (`None` for a config without
/// `[[pair]]` tables), its state dir (whose history holds its last
/// success) and how it ended.
pub struct PairEnd<'a> {
    pub pair: Option<&'a str>,
    pub state_dir: PathBuf,
    pub end: RunEnd<'a>,
}

/// The monitoring a run does, as the settings ask for it.
pub struct Observer {
    command: &'static str,
    metrics_file: Option<PathBuf>,
    push_url: Option<url::Url>,
    ping: Option<ping::Pinger>,
    client: Option<reqwest::Client>,
    clock: Instant,
}

impl Observer {
    /// The observer of a `command` run with `settings` (the run's keys are
    /// the same for every pair). Pings are sent for `sync` only.
    pub fn new(settings: &Settings, command: &'static str) -> Observer {
        let wants_http = settings.metrics_push_url.is_some()
            || (command == "sync" && settings.ping_url.is_some());
        let client = if wants_http {
            match crate::graph::client::http_client(TIMEOUT) {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!(
                        "calsync cannot push metrics or send pings in this run, as its HTTP \
                         client could not be set up ({e:#}); the run itself goes on."
                    );
                    None
                }
            }
        } else {
            None
        };
        let ping = match (command, &settings.ping_url) {
            ("sync", Some(url)) => Some(ping::Pinger::new(url.clone())),
            _ => None,
        };
        Observer {
            command,
            metrics_file: settings.metrics_file.clone(),
            push_url: settings.metrics_push_url.clone(),
            ping,
            client,
            clock: Instant::now(),
        }
    }

    /// The seconds since the observer was made (the run's duration).
    pub fn elapsed_seconds(&self) -> f64 {
        self.clock.elapsed().as_secs_f64()
    }

    /// Pings the start of the run, if a ping URL is set.
    pub async fn started(&self) {
        if let (Some(p), Some(c)) = (&self.ping, &self.client) {
            p.send(c, ping::State::Start).await;
        }
    }

    /// Writes and pushes the metrics of the pairs that ran, then pings the
    /// end of the run with its exit code and a one-line summary of counts.
    pub async fn finished(&self, ends: &[PairEnd<'_>], exit_code: u8) {
        if self.metrics_file.is_some() || self.push_url.is_some() {
            let samples = self.samples(ends);
            if let Some(path) = &self.metrics_file {
                write_file(path, &samples);
            }
            if let (Some(url), Some(client)) = (&self.push_url, &self.client) {
                push::push_all(client, url, &samples).await;
            }
        }
        if let (Some(p), Some(c)) = (&self.ping, &self.client) {
            let state = if exit_code == 0 {
                ping::State::Success
            } else {
                ping::State::Fail(exit_code)
            };
            p.send_with(c, state, &summary(self.command, ends, exit_code))
                .await;
        }
    }

    /// Every pair's samples, each with its last success: this run's end
    /// when it succeeded, else the newest of the metrics file's value and
    /// the pair's history.
    fn samples(&self, ends: &[PairEnd<'_>]) -> Vec<Sample> {
        let previous = self
            .metrics_file
            .as_deref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .map(|t| metrics::parse(&t))
            .unwrap_or_default();
        let mut out = Vec::new();
        for e in ends {
            let group = Group {
                command: self.command.to_owned(),
                pair: e.pair.map(str::to_owned),
            };
            let last_success = if metrics::is_success(e.end.outcome) {
                Some(e.end.finished)
            } else {
                let kept = previous
                    .iter()
                    .filter(|s| {
                        s.group == group && s.name == "calsync_last_success_timestamp_seconds"
                    })
                    .map(|s| s.value)
                    .fold(None, |a: Option<f64>, v| Some(a.map_or(v, |a| a.max(v))));
                let recorded = history_success(&e.state_dir, self.command, e.pair);
                match (kept, recorded) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                }
            };
            out.extend(metrics::samples(&e.end, &group, last_success));
        }
        out
    }
}

/// When the newest successful run of `command` for `pair` in the history
/// of `state_dir` ended, in seconds since the Unix epoch.
fn history_success(state_dir: &Path, command: &str, pair: Option<&str>) -> Option<f64> {
    let history = crate::state::read_history(state_dir).ok()?;
    history
        .iter()
        .rev()
        .find(|h| {
            h.command == command && h.pair.as_deref() == pair && metrics::is_success(&h.outcome)
        })
        .map(|h| h.finished.timestamp_millis() as f64 / 1000.0)
}

/// Replaces the metrics file with this run's samples and those of the
/// other commands and pairs the file held (a `validate` keeps the series of
/// the last `sync`; a shard keeps the other shards' pairs). Atomic: the
/// textfile collector never reads half a file. A failure is a warning.
fn write_file(path: &Path, samples: &[Sample]) {
    let mut all: Vec<Sample> = std::fs::read_to_string(path)
        .map(|t| metrics::parse(&t))
        .unwrap_or_default()
        .into_iter()
        .filter(|old| !samples.iter().any(|new| new.group == old.group))
        .collect();
    all.extend(samples.iter().cloned());
    let text = metrics::render(&all);
    let written = crate::fs::replace_file(path, crate::fs::FileMode::KeepExisting, |w| {
        std::io::Write::write_all(w, text.as_bytes())
    });
    if let Err(e) = written {
        tracing::warn!(
            "calsync could not write its metrics to {} ({e}), so the textfile collector still \
             shows the previous run. Make the directory writable by the user calsync runs as, \
             or set `metrics_file` (CALSYNC_METRICS_FILE) to a path it can write; the run's \
             own outcome is unaffected.",
            path.display()
        );
    }
}

/// The line a ping carries: the command, outcome and counts, never event
/// content, e.g. `calsync sync: exit 0; 2 created, 1 updated, 0 deleted, 9
/// unchanged`.
pub fn summary(command: &str, ends: &[PairEnd<'_>], exit_code: u8) -> String {
    if let [one] = ends
        && one.pair.is_none()
    {
        let counts = match &one.end.detail {
            Detail::Sync(r) => format!(
                "; {} created, {} updated, {} deleted, {} unchanged, {} failed",
                r.counts.created,
                r.counts.updated,
                r.counts.deleted,
                r.counts.unchanged,
                r.counts.failed
            ),
            Detail::Validate(r) => format!("; {} problems", r.counts.total),
            Detail::Failed => String::new(),
        };
        return format!(
            "calsync {command}: {}, exit {exit_code}{counts}",
            one.end.outcome
        );
    }
    let failed = ends
        .iter()
        .filter(|e| !metrics::is_success(e.end.outcome) && e.end.outcome != "dry_run")
        .count();
    format!(
        "calsync {command}: {} pairs, {failed} not successful, exit {exit_code}",
        ends.len()
    )
}

/// Seconds since the Unix epoch, now.
pub fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
