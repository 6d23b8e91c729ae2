//! One run of a command that reads both calendars, `calsync sync`
//! ([`sync`]) or `calsync validate` ([`validate`]), and what the two share:
//! the [`Run`] (its id, clock, window, Graph metrics and history line), the
//! stop on a signal or `run_timeout` ([`until_stopped`]), and the one place
//! that opens the source and the target the settings name ([`sides`]).

pub mod incremental;
pub mod merge;
pub mod pairs;
pub mod pairs_report;
pub mod progress;
pub mod report;
pub mod sides;
pub mod sync;
pub mod validate;

pub use progress::RunProgress;
pub use report::{SyncReport, ValidateReport};
pub use sync::{SyncOptions, run};

use crate::config::{Origin, Settings};
use crate::error::Failure;
use crate::graph::client::{GraphClient, Metrics};
use crate::model::Window;
use crate::state::{self, Counts, HistoryEntry, RunMetrics};
use chrono::{DateTime, Utc};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Instant;

/// One run of `sync` or `validate`: the id of its history line, when it
/// started, the window it covers and the Graph client whose requests it
/// counts.
pub struct Run {
    pub id: String,
    pub started: DateTime<Utc>,
    clock: Instant,
    pub window: Window,
    state_dir: PathBuf,
    /// The `[[pair]]` the run is of, for its history line.
    pair: Option<String>,
    graph: Option<GraphClient>,
}

/// How long a run took and what it asked of Graph.
pub struct Done {
    pub duration_ms: u64,
    pub metrics: RunMetrics,
}

/// What the history line of a run says happened.
pub struct Outcome<'a> {
    /// `sync`, `sync --dry-run` or `validate`.
    pub command: &'a str,
    pub outcome: &'a str,
    pub counts: Counts,
    pub error: Option<String>,
}

impl Run {
    /// Checks what the settings name before anything is read or written
    /// (a Graph side's sign-in settings, the `.ics` files), prepares the
    /// state dir and names the run, so that every log line can carry its id.
    pub fn start(settings: &Settings) -> anyhow::Result<Run> {
        if settings.uses_graph() {
            settings.require_graph()?;
        }
        sides::check_files(settings)?;
        state::ensure_dir(&settings.state_dir)?;
        let id = state::new_run_id();
        if settings.pair.is_none() {
            // The one run of the process (the error line names it).
            crate::logging::note_run_id(&id);
        }
        Ok(Run {
            id,
            started: Utc::now(),
            clock: Instant::now(),
            window: window(settings),
            state_dir: settings.state_dir.clone(),
            pair: settings.pair.clone(),
            graph: None,
        })
    }

    /// Builds the Graph client when a side is a Graph calendar: one of its
    /// own, or a sibling of `shared`, the client of every pair of the
    /// process ([`GraphClient::sibling`]). Apart from [`start`](Self::start):
    /// a sync takes its lock first.
    pub fn connect(
        &mut self,
        settings: &Settings,
        shared: Option<&GraphClient>,
    ) -> anyhow::Result<()> {
        if settings.uses_graph() {
            self.graph = Some(match shared {
                Some(c) => c.sibling(),
                None => sides::graph_client(settings)?,
            });
        }
        Ok(())
    }

    /// The Graph client, when a side is a Graph calendar.
    pub fn graph(&self) -> Option<&GraphClient> {
        self.graph.as_ref()
    }

    /// How long the run has taken and what it asked of Graph so far.
    pub fn done(&self) -> Done {
        let metrics = self
            .graph
            .as_ref()
            .map(|c| run_metrics(&c.metrics()))
            .unwrap_or_default();
        let duration_ms = u64::try_from(self.clock.elapsed().as_millis()).unwrap_or(u64::MAX);
        Done {
            duration_ms,
            metrics,
        }
    }

    /// Appends the run's line to the history.
    pub fn record(&self, done: &Done, outcome: Outcome<'_>) -> anyhow::Result<()> {
        let entry = HistoryEntry {
            pair: self.pair.clone(),
            id: self.id.clone(),
            command: outcome.command.to_string(),
            started: self.started,
            finished: Utc::now(),
            duration_ms: done.duration_ms,
            outcome: outcome.outcome.to_string(),
            counts: outcome.counts,
            error: outcome.error,
            metrics: done.metrics.clone(),
        };
        state::append_history(&self.state_dir, &entry)
    }
}

/// A future that resolves when a run must stop before it is done, with
/// the name and number of the signal that asked for it.
pub struct Interrupt(pub Pin<Box<dyn Future<Output = StopSignal> + Send>>);

impl std::fmt::Debug for Interrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Interrupt")
    }
}

/// The signal that stopped a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopSignal {
    /// `SIGINT`, `SIGTERM`, `SIGHUP`.
    pub name: &'static str,
    pub number: u8,
}

/// Why a run stopped before it was done.
#[derive(Debug, Clone, Copy)]
enum Stop {
    Signal(StopSignal),
    /// `run_timeout` passed.
    Deadline,
}

/// A run stopped by `run_timeout` (exit 1; history outcome `timed_out`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RunTimedOut(String);

/// Runs `work` until it is done, a signal arrives (`interrupt`) or
/// `settings.run_timeout` passes. Stopping drops `work` where it waits:
/// an answer not yet read is abandoned, which the contract allows at any
/// point (a sync marks its state untrusted before its first write, and a
/// create is found again by its marker). The error says what `command` was
/// doing (`tracker`) and what that leaves.
pub async fn until_stopped<T>(
    settings: &Settings,
    command: &str,
    interrupt: Option<Interrupt>,
    tracker: &RunProgress,
    work: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let interrupted = async {
        match interrupt {
            Some(i) => i.0.await,
            None => std::future::pending().await,
        }
    };
    let stop = tokio::select! {
        done = work => return done,
        signal = interrupted => Stop::Signal(signal),
        () = tokio::time::sleep(settings.run_timeout) => Stop::Deadline,
    };
    let (doing, left) = tracker.where_stopped();
    Err(match stop {
        Stop::Signal(s) => Failure::Interrupted {
            message: format!(
                "{command} was stopped by {} while {doing}: {left}. The run is recorded in the \
                 history as interrupted.",
                s.name
            ),
            exit_code: 128 + s.number,
        }
        .into(),
        Stop::Deadline => {
            let origin = settings
                .origins
                .get("run_timeout")
                .copied()
                .unwrap_or(Origin::Default);
            RunTimedOut(format!(
                "{command} did not finish within run_timeout ({}, from {origin}) and stopped \
                 while {doing}: {left}. If Graph is slow, `calsync -v` shows each retry; if runs \
                 need longer (a first sync of a very large calendar), raise run_timeout \
                 (--run-timeout, CALSYNC_RUN_TIMEOUT or the config file).",
                crate::cli::format_duration(settings.run_timeout)
            ))
            .into()
        }
    })
}

/// The history outcome of a run that failed with `e`.
pub fn failed_outcome(e: &anyhow::Error) -> &'static str {
    let failure = e.downcast_ref::<Failure>().or_else(|| {
        e.downcast_ref::<crate::error::Detailed>()
            .map(|d| &d.failure)
    });
    match failure {
        Some(Failure::Guard(_)) => "refused",
        Some(Failure::Interrupted { .. }) => "interrupted",
        _ if e.downcast_ref::<RunTimedOut>().is_some() => "timed_out",
        _ => "failed",
    }
}

fn run_metrics(m: &Metrics) -> RunMetrics {
    RunMetrics {
        requests: m.requests,
        operations: m.operations,
        retries: m.retries,
        throttled: m.throttled,
        mean_latency_ms: round1(m.mean_latency_ms()),
        p95_latency_ms: round1(m.p95_latency_ms()),
    }
}

fn round1(ms: f64) -> f64 {
    (ms * 10.0).round() / 10.0
}

/// What an operator reads when a run's history line could not be written.
pub fn unrecorded(err: &anyhow::Error) -> String {
    format!(
        "This run was not recorded in the history, so `calsync history` and `calsync status \
         --max-age` do not see it and a monitoring check may report no recent sync: {err:#}"
    )
}

fn first_line(s: &str) -> String {
    s.lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect()
}

/// The sync window for today, or for the day `CALSYNC_TODAY` names
/// (read by config, for tests).
pub fn window(settings: &Settings) -> Window {
    let today = settings
        .hidden
        .today
        .unwrap_or_else(|| Utc::now().date_naive());
    Window::around(today, settings.past_days, settings.cutoff_days)
}
