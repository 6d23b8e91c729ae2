//! One run of a command that reads both calendars, `calsync sync` or
//! `calsync validate`: what the two share (the run id, the window, the stop
//! on a signal or `run_timeout`, the history line) and, in [`sides`], the
//! one place that opens the source and the target the settings name.

mod incremental;
pub mod progress;
pub mod report;
pub mod sides;
pub mod sync;

pub use progress::RunProgress;
pub use report::{PlanLine, PlanView, SyncReport, render_text};
pub use sides::{check_files, graph_client, open_calendars, resolve_role, role_calendar};
pub use sync::{SyncOptions, run};

use crate::config::{CalendarRef, Origin, Settings, SourceSpec, TargetSpec};
use crate::error::Failure;
use crate::graph::client::{self, ClientOptions, GraphClient, Metrics, http_client};
use crate::graph::provider::{CalendarRole, GraphCalendar, resolve_calendar};
use crate::ics::{IcsLocation, IcsSource, IcsTarget};
use crate::model::Window;
use crate::planner::{self, Plan};
use crate::policy::skipped_summary;
use crate::provider::{
    ApplyReport, CursorExpired, IncrementalSource, PieceChanges, PieceRange, SourceProvider,
    TargetProvider, WriteFailure,
};
use crate::state::incremental::{CalendarCache, Copy, Head, Piece, Settled, SyncState};
use crate::state::{self, Counts, HistoryEntry, Lock, RunMetrics};
use anyhow::Context;
use chrono::{DateTime, Utc};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::Serialize;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::Instrument;

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
pub(super) enum Stop {
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

pub(super) fn run_metrics(m: &Metrics) -> RunMetrics {
    RunMetrics {
        requests: m.requests,
        operations: m.operations,
        retries: m.retries,
        throttled: m.throttled,
        mean_latency_ms: round1(m.mean_latency_ms()),
        p95_latency_ms: round1(m.p95_latency_ms()),
    }
}

pub(super) fn round1(ms: f64) -> f64 {
    (ms * 10.0).round() / 10.0
}

/// What an operator reads when a run's history line could not be written.
pub fn unrecorded(err: &anyhow::Error) -> String {
    format!(
        "This run was not recorded in the history, so `calsync history` and `calsync status \
         --max-age` do not see it and a monitoring check may report no recent sync: {err:#}"
    )
}

pub(super) fn first_line(s: &str) -> String {
    s.lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect()
}

/// The sync window for today. `CALSYNC_TODAY=YYYY-MM-DD`
/// sets "today", for tests.
pub fn window(settings: &Settings) -> Window {
    let today = std::env::var("CALSYNC_TODAY")
        .ok()
        .and_then(|d| chrono::NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").ok())
        .unwrap_or_else(|| Utc::now().date_naive());
    Window::around(today, settings.past_days, settings.cutoff_days)
}
