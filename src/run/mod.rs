//! One run of `calsync sync`: lock, read both sides, plan, guard, apply, record.
//!
//! Everything a run logs happens inside a `run` span carrying its `run_id`
//! (the id of its history line), so each log line names its run. A run given
//! a progress display ([`SyncOptions::progress`]) shows a spinner while it
//! reads and a bar while it applies the plan.
//!
//! # Full and incremental runs
//!
//! A run is *full* (a reconciliation of both calendars) when there is no
//! usable incremental state ([`crate::state::incremental`]: first run, the
//! settings changed, a file of another version), with `--full`, after a
//! `validate` that found problems in the target (it leaves a request in the
//! state dir, which the full run clears once its plan is applied), when the
//! last full run is older than `full_sync_interval` (default 24 h), and when the
//! source no longer accepts the stored change cursor (Graph: `410
//! SyncStateNotFound`; logged at info). It reads the whole window of the source
//! (through calendarView delta, which also yields the cursors for the next
//! run) and every managed copy in the target, and repairs whatever drifted,
//! such as a copy deleted or edited by hand.
//!
//! Any other run is *incremental*: it asks the source only for what changed
//! since the cursors (one request per piece of the window when nothing did)
//! and takes the target to be as the previous run left it, so it reads
//! nothing else. When the day has changed since, the window has moved, and
//! the source is read in full for the new window (new cursors) while the
//! copies are still taken from the state: events entering the window are
//! created, and copies passing into the past stay. The target is read too
//! when the state says it cannot be trusted: the last run failed some writes,
//! or stopped while writing.
//!
//! Either way the plan is made from the kept picture of both sides after the
//! reads, and the state is saved only after the writes (a dry run or a run the
//! deletion guard refuses saves nothing): a run stopped before that leaves the
//! old cursors, so the next run sees the same changes again, and the flag that
//! makes it read the target. Calendar ids are resolved by name once and then
//! taken from `calendars.json`, until Graph answers that a calendar is gone.
//!
//! # Runs with an `.ics` side
//!
//! When either side is an iCalendar file (`[source]`/`[target]` `kind =
//! "ics"`), every run is full: the source is read whole
//! ([`SourceProvider::read`]), the target's copies through
//! [`TargetProvider::read_managed`], and the plan is made with the real
//! policy. There is no incremental state for such runs; a Graph side among
//! them is still opened by its cached calendar id. The lock, the deletion
//! guard, the history line, the report and the exit codes are the same.
//!
//! For tests, `CALSYNC_TODAY=YYYY-MM-DD` sets the day the window is built
//! around.

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
use crate::state::incremental::{self, CalendarCache, Copy, Head, Piece, Settled, SyncState};
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

/// What the command line asked of this run.
#[derive(Debug, Default)]
pub struct SyncOptions {
    pub dry_run: bool,
    pub force: bool,
    /// Read both calendars in full, whatever the incremental state says.
    pub full: bool,
    /// Where to draw progress bars; `None` draws none (not a terminal,
    /// `--json`, JSON logs, `-q`).
    pub progress: Option<MultiProgress>,
    /// Resolves when the run must stop early (a signal); `None`: never.
    pub interrupt: Option<Interrupt>,
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

/// The outcome of a run that got as far as a plan.
#[derive(Debug, Serialize)]
pub struct SyncReport {
    pub run_id: String,
    pub dry_run: bool,
    /// `full` (both calendars read in full) or `incremental`.
    pub mode: &'static str,
    pub window: Window,
    pub plan: PlanView,
    pub counts: Counts,
    pub failures: Vec<WriteFailure>,
    /// Set when the mass-deletion guard would refuse this plan (dry run only;
    /// a real run stops with exit 6 instead).
    pub guard_warning: Option<String>,
    /// Deletions not planned because the source read as empty.
    pub deletions_withheld: usize,
    pub duration_ms: u64,
    pub metrics: RunMetrics,
    /// The `.ics` file written, when the target is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_file: Option<std::path::PathBuf>,
    /// Whether a side is a Graph calendar (the summary then counts requests).
    #[serde(skip)]
    pub uses_graph: bool,
    /// Set when the run could not be recorded in the history: why, and what
    /// to do. The run then exits non-zero even though it did its work.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history_error: Option<String>,
    /// The exit code for `history_error`.
    #[serde(skip)]
    pub history_exit_code: u8,
}

/// The plan as shown to the operator: when and what, never private data
/// (only public events ever reach a plan).
#[derive(Debug, Serialize)]
pub struct PlanView {
    pub create: Vec<PlanLine>,
    pub update: Vec<PlanLine>,
    pub delete: Vec<PlanLine>,
}

#[derive(Debug, Serialize)]
pub struct PlanLine {
    pub start: String,
    pub subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl PlanView {
    fn of(plan: &Plan) -> PlanView {
        PlanView {
            create: plan
                .creates
                .iter()
                .map(|c| PlanLine {
                    start: c.payload.start.to_string(),
                    subject: c.payload.subject.clone(),
                    reason: None,
                })
                .collect(),
            update: plan
                .updates
                .iter()
                .map(|u| PlanLine {
                    start: u.payload.start.to_string(),
                    subject: u.payload.subject.clone(),
                    reason: None,
                })
                .collect(),
            delete: plan
                .deletes
                .iter()
                .map(|d| PlanLine {
                    start: d.start.to_string(),
                    subject: d.subject.clone(),
                    reason: Some(d.reason.to_string()),
                })
                .collect(),
        }
    }
}

/// The Graph client for a run.
pub fn graph_client(settings: &Settings) -> anyhow::Result<GraphClient> {
    let http = http_client(settings.request_timeout)?;
    let tokens = crate::auth::token_source(settings, &http)?;
    Ok(GraphClient::new(
        http,
        tokens,
        ClientOptions {
            timeout: settings.request_timeout,
            ..ClientOptions::new(settings.graph_url.clone())
        },
    ))
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

/// Runs one sync and records it in the history, whatever its outcome.
pub async fn run(settings: &Settings, opts: SyncOptions) -> anyhow::Result<SyncReport> {
    if settings.uses_graph() {
        settings.require_graph()?;
    }
    check_files(settings)?;
    state::ensure_dir(&settings.state_dir)?;
    let run_id = state::new_run_id();
    crate::logging::note_run_id(&run_id);
    // At error level so that the span, and its run id, is there whenever
    // anything at all is logged.
    let span = tracing::error_span!("run", run_id = %run_id);
    run_in_span(settings, opts, run_id).instrument(span).await
}

async fn run_in_span(
    settings: &Settings,
    opts: SyncOptions,
    run_id: String,
) -> anyhow::Result<SyncReport> {
    let started = Utc::now();
    let clock = Instant::now();
    let dry_run = opts.dry_run || settings.dry_run;

    // A dry run writes nothing, so it may run beside a real one.
    let lock = if dry_run {
        None
    } else {
        Some(Lock::acquire(&settings.state_dir, &run_id)?)
    };

    // A validate that found problems asked for this run to read both
    // calendars in full (see `full_reason`); seen under the lock, so that
    // only this request is cleared when the run is done.
    let repair = incremental::full_sync_request(&settings.state_dir);

    let client = if settings.uses_graph() {
        Some(graph_client(settings)?)
    } else {
        None
    };
    let progress = RunProgress::new(opts.progress);
    if let Some(c) = &client {
        c.set_progress(Some(progress.clone()));
    }
    let work = async {
        progress.begin();
        match (&settings.source, &settings.target, &client) {
            (SourceSpec::Graph, TargetSpec::Graph, Some(client)) => {
                sync_once(
                    settings,
                    client,
                    &run_id,
                    dry_run,
                    opts.force,
                    opts.full,
                    Some(&progress),
                )
                .await
            }
            _ => {
                let run = FullRun {
                    settings,
                    run_id: &run_id,
                    dry_run,
                    force: opts.force,
                    progress: Some(&progress),
                };
                sync_full(&run, client.as_ref()).await
            }
        }
    };
    let result = until_stopped(settings, "The sync", opts.interrupt, &progress, work).await;
    progress.clear();
    let metrics = client
        .as_ref()
        .map(|c| run_metrics(&c.metrics()))
        .unwrap_or_default();
    let duration_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);

    if let (Some(request), Ok(report)) = (&repair, &result)
        && !dry_run
        && report.mode == "full"
        && report.failures.is_empty()
    {
        tracing::info!(
            requested_by = %request.run_id,
            "the full sync validate asked for is done"
        );
        incremental::clear_full_sync_request(&settings.state_dir, request);
    }

    let (outcome, counts, error) = match &result {
        Ok(report) if dry_run => ("dry_run", report.counts.clone(), None),
        Ok(report) if !report.failures.is_empty() => (
            "partial",
            report.counts.clone(),
            Some(format!("{} writes failed", report.failures.len())),
        ),
        Ok(report) => ("success", report.counts.clone(), None),
        Err(e) => (
            failed_outcome(e),
            Counts::default(),
            Some(first_line(&format!("{e:#}"))),
        ),
    };
    let entry = HistoryEntry {
        id: run_id.clone(),
        command: if dry_run { "sync --dry-run" } else { "sync" }.to_string(),
        started,
        finished: Utc::now(),
        duration_ms,
        outcome: outcome.to_string(),
        counts,
        error,
        metrics: metrics.clone(),
    };
    let recorded = state::append_history(&settings.state_dir, &entry);
    drop(lock);
    if let (Err(e), Err(_)) = (&recorded, &result) {
        // The run's own error is what the funnel reports; this one must
        // not go unseen, even under -q.
        tracing::error!("{}", unrecorded(e));
    }

    let mut report = result?;
    if let Err(e) = &recorded {
        report.history_error = Some(unrecorded(e));
        report.history_exit_code = crate::error::code_of(e);
    }
    report.duration_ms = duration_ms;
    report.metrics = metrics;
    report.uses_graph = settings.uses_graph();
    if let TargetSpec::Ics { path, .. } = &settings.target {
        report.target_file = Some(path.clone());
    }
    let c = &report.counts;
    tracing::info!(
        outcome,
        created = c.created,
        updated = c.updated,
        deleted = c.deleted,
        unchanged = c.unchanged,
        skipped_non_public = c.skipped_non_public,
        failed = c.failed,
        duration_ms,
        requests = report.metrics.requests,
        retries = report.metrics.retries,
        throttled = report.metrics.throttled,
        "sync finished"
    );
    Ok(report)
}

/// What an operator reads when a run's history line could not be written.
pub fn unrecorded(err: &anyhow::Error) -> String {
    format!(
        "This run was not recorded in the history, so `calsync history` and `calsync status \
         --max-age` do not see it and a monitoring check may report no recent sync: {err:#}"
    )
}

/// Where a run is (reading, writing and how far), for the message of a run
/// stopped early, and its progress bars when it has a terminal, fed by the
/// Graph client as pages arrive and batched writes finish.
pub struct RunProgress {
    bars: Option<MultiProgress>,
    reading: Mutex<Option<ProgressBar>>,
    writing: Mutex<Option<ProgressBar>>,
    items: AtomicUsize,
    pages: AtomicUsize,
    phase: AtomicU8,
    writes_planned: AtomicUsize,
    writes_done: AtomicUsize,
}

const STARTING: u8 = 0;
const READING: u8 = 1;
const WRITING: u8 = 2;

impl RunProgress {
    /// A tracker, drawing in `bars` when given.
    pub fn new(bars: Option<MultiProgress>) -> Arc<RunProgress> {
        Arc::new(RunProgress {
            bars,
            reading: Mutex::new(None),
            writing: Mutex::new(None),
            items: AtomicUsize::new(0),
            pages: AtomicUsize::new(0),
            phase: AtomicU8::new(STARTING),
            writes_planned: AtomicUsize::new(0),
            writes_done: AtomicUsize::new(0),
        })
    }

    /// What the run was doing, and what stopping there leaves.
    fn where_stopped(&self) -> (String, String) {
        let done = self.writes_done.load(Ordering::Relaxed);
        let planned = self.writes_planned.load(Ordering::Relaxed);
        match self.phase.load(Ordering::Relaxed) {
            WRITING => (
                format!("applying its plan, after {done} of {planned} writes"),
                "the writes made stay, and the next run finds them and makes the rest, with no \
                 duplicate"
                    .to_string(),
            ),
            READING => (
                "reading the calendars".to_string(),
                "nothing was written; the next run starts again".to_string(),
            ),
            _ => (
                "starting".to_string(),
                "nothing was read or written".to_string(),
            ),
        }
    }

    /// The run has begun talking to the calendars (before the spinner of
    /// [`start_reading`](Self::start_reading), while calendars are looked up).
    fn begin(&self) {
        let _ =
            self.phase
                .compare_exchange(STARTING, READING, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// A spinner while both calendars are read.
    pub fn start_reading(&self) {
        self.phase.store(READING, Ordering::Relaxed);
        let Some(bars) = &self.bars else {
            return;
        };
        let bar = bars.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message("reading the calendars: 0 events");
        bar.enable_steady_tick(Duration::from_millis(120));
        Self::replace(&self.reading, Some(bar));
    }

    /// A bar over the plan's writes while they are applied.
    fn start_writing(&self, total: usize) {
        self.writes_planned.store(total, Ordering::Relaxed);
        self.phase.store(WRITING, Ordering::Relaxed);
        Self::replace(&self.reading, None);
        let Some(bars) = &self.bars else {
            return;
        };
        let bar = bars.add(ProgressBar::new(total as u64));
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} applying the plan [{bar:30}] {pos}/{len} writes",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        Self::replace(&self.writing, Some(bar));
    }

    /// Removes every bar from the terminal.
    fn clear(&self) {
        Self::replace(&self.reading, None);
        Self::replace(&self.writing, None);
    }

    fn replace(slot: &Mutex<Option<ProgressBar>>, bar: Option<ProgressBar>) {
        if let Ok(mut slot) = slot.lock()
            && let Some(old) = std::mem::replace(&mut *slot, bar)
        {
            old.finish_and_clear();
        }
    }
}

impl client::Progress for RunProgress {
    fn page_read(&self, items: usize) {
        let total = self.items.fetch_add(items, Ordering::Relaxed) + items;
        let pages = self.pages.fetch_add(1, Ordering::Relaxed) + 1;
        if let Ok(slot) = self.reading.lock()
            && let Some(bar) = slot.as_ref()
        {
            let unit = if pages == 1 { "page" } else { "pages" };
            bar.set_message(format!(
                "reading the calendars: {total} events in {pages} {unit}"
            ));
        }
    }

    fn writes_done(&self, count: usize) {
        self.writes_done.fetch_add(count, Ordering::Relaxed);
        if let Ok(slot) = self.writing.lock()
            && let Some(bar) = slot.as_ref()
        {
            bar.inc(count as u64);
        }
    }
}

fn first_line(s: &str) -> String {
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

/// The calendar ids of a run and whether they came from the cache.
struct CalendarIds {
    source: String,
    target: String,
    cached: bool,
}

/// Resolves both calendars, from `calendars.json` when it knows them (no
/// request), else through Graph (and then remembers them).
async fn calendar_ids(settings: &Settings, client: &GraphClient) -> anyhow::Result<CalendarIds> {
    let (source, source_cached) = graph_calendar_id(settings, client, CalendarRole::Source).await?;
    let (target, target_cached) = graph_calendar_id(settings, client, CalendarRole::Target).await?;
    Ok(CalendarIds {
        source,
        target,
        cached: source_cached && target_cached,
    })
}

/// The mailbox of the source or target calendar, and how the settings name
/// the calendar in it.
pub fn role_calendar(settings: &Settings, role: CalendarRole) -> (&str, CalendarRef) {
    match role {
        CalendarRole::Source => (settings.mailbox_or_me(), settings.source_calendar_ref()),
        CalendarRole::Target => (
            settings.target_mailbox_or_source(),
            settings.target_calendar_ref(),
        ),
    }
}

/// Looks the source or target calendar up through Graph (no cache).
pub async fn resolve_role(
    settings: &Settings,
    client: &GraphClient,
    role: CalendarRole,
) -> anyhow::Result<String> {
    let (mailbox, calendar) = role_calendar(settings, role);
    resolve_calendar(client, mailbox, &calendar, role).await
}

/// Whether a failure says that a calendar the run addressed by id is gone.
fn calendar_gone(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<client::GraphError>().is_some_and(|g| {
            g.status == Some(404)
                && g.code.eq_ignore_ascii_case("ErrorItemNotFound")
                && g.request.contains("/calendars/")
        })
    })
}

/// Resolves the source and target calendars (no cache) and opens both.
pub async fn open_calendars(
    settings: &Settings,
    client: &GraphClient,
) -> anyhow::Result<(GraphCalendar, GraphCalendar)> {
    let source_id = resolve_role(settings, client, CalendarRole::Source).await?;
    let target_id = resolve_role(settings, client, CalendarRole::Target).await?;
    calendars(settings, client, &source_id, &target_id)
}

/// Opens both calendars by id, refusing a source that is also the target.
fn calendars(
    settings: &Settings,
    client: &GraphClient,
    source_id: &str,
    target_id: &str,
) -> anyhow::Result<(GraphCalendar, GraphCalendar)> {
    let source_mailbox = settings.mailbox_or_me();
    let target_mailbox = settings.target_mailbox_or_source();
    if source_mailbox.eq_ignore_ascii_case(target_mailbox) && source_id == target_id {
        return Err(Failure::Config(format!(
            "source_calendar and target_calendar name the same calendar ({} of {}, id {}). \
             Set target_calendar to the public calendar.",
            settings.source_calendar_ref(),
            source_mailbox,
            source_id
        ))
        .into());
    }
    let copy = settings.policy.copy;
    Ok((
        GraphCalendar::new(client.clone(), source_mailbox, source_id, copy),
        GraphCalendar::new(client.clone(), target_mailbox, target_id, copy),
    ))
}

async fn sync_once(
    settings: &Settings,
    client: &GraphClient,
    run_id: &str,
    dry_run: bool,
    force: bool,
    full: bool,
    progress: Option<&Arc<RunProgress>>,
) -> anyhow::Result<SyncReport> {
    let ids = calendar_ids(settings, client).await?;
    let first = sync_with(
        settings, client, &ids, run_id, dry_run, force, full, progress,
    )
    .await;
    match first {
        Err(e) if ids.cached && calendar_gone(&e) => {
            tracing::info!(
                "Graph says a calendar calsync remembered is gone; looking the calendars up by \
                 name again"
            );
            CalendarCache::forget(&settings.state_dir);
            let ids = calendar_ids(settings, client).await?;
            sync_with(
                settings, client, &ids, run_id, dry_run, force, full, progress,
            )
            .await
        }
        other => other,
    }
}

/// What a run that reads both calendars in full needs to know.
struct FullRun<'a> {
    settings: &'a Settings,
    run_id: &'a str,
    dry_run: bool,
    force: bool,
    progress: Option<&'a Arc<RunProgress>>,
}

/// A sync in which a side is an `.ics` file: both calendars are read in
/// full every run (a file cannot say what changed), with the Graph side, if
/// any, opened by id as a Graph-to-Graph run opens it.
async fn sync_full(run: &FullRun<'_>, client: Option<&GraphClient>) -> anyhow::Result<SyncReport> {
    let settings = run.settings;
    let copy = settings.policy.copy;
    match (&settings.source, &settings.target) {
        (SourceSpec::Ics(location), TargetSpec::Ics { path, name }) => {
            let target = IcsTarget::new(path, name);
            let report = run_full(run, &IcsSource::new(location.clone()), &target).await?;
            published(run, &target)?;
            Ok(report)
        }
        (SourceSpec::Ics(location), TargetSpec::Graph) => {
            let client = client.ok_or_else(no_client)?;
            let source = IcsSource::new(location.clone());
            let mut retried = false;
            loop {
                let (id, cached) =
                    graph_calendar_id(settings, client, CalendarRole::Target).await?;
                let target = GraphCalendar::new(
                    client.clone(),
                    settings.target_mailbox_or_source(),
                    &id,
                    copy,
                )
                .for_run(run.run_id)
                .all_day_in(known_zone(settings).as_ref().map(Option::as_deref));
                if !run.dry_run {
                    // A later Graph-to-Graph run must not trust what it kept
                    // of this calendar: this run may change it.
                    incremental::mark_writing(&settings.state_dir)
                        .context("cannot update the incremental state before writing")?;
                }
                let result = run_full(run, &source, &target).await;
                remember_zone(settings, &target);
                match result {
                    Err(e) if cached && !retried && calendar_gone(&e) => {
                        forget_calendar_ids(settings);
                        retried = true;
                    }
                    other => return other,
                }
            }
        }
        (SourceSpec::Graph, TargetSpec::Ics { path, name }) => {
            let client = client.ok_or_else(no_client)?;
            let target = IcsTarget::new(path, name);
            let mut retried = false;
            loop {
                let (id, cached) =
                    graph_calendar_id(settings, client, CalendarRole::Source).await?;
                let source =
                    GraphCalendar::new(client.clone(), settings.mailbox_or_me(), &id, copy);
                match run_full(run, &source, &target).await {
                    Err(e) if cached && !retried && calendar_gone(&e) => {
                        forget_calendar_ids(settings);
                        retried = true;
                    }
                    Ok(report) => {
                        published(run, &target)?;
                        return Ok(report);
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        (SourceSpec::Graph, TargetSpec::Graph) => Err(anyhow::anyhow!(
            "internal error: a Graph-to-Graph sync runs incrementally"
        )),
    }
}

/// After a real run, a target file that still does not exist (nothing to
/// write yet) is created empty: subscribers find a calendar, and the
/// summary's "Public calendar: …" names a file that is there.
fn published(run: &FullRun<'_>, target: &IcsTarget) -> anyhow::Result<()> {
    if !run.dry_run && target.create_if_missing()? {
        tracing::info!(
            path = %target.path().display(),
            "no public event to write yet; published an empty calendar"
        );
    }
    Ok(())
}

fn no_client() -> anyhow::Error {
    anyhow::anyhow!("internal error: a Graph side without a Graph client")
}

fn forget_calendar_ids(settings: &Settings) {
    tracing::info!("Graph says a calendar calsync remembered is gone; looking it up by name again");
    CalendarCache::forget(&settings.state_dir);
}

/// The id of the source or target calendar, from `calendars.json` when it
/// knows it (no request), else through Graph (and then remembered); and
/// whether it came from the cache.
async fn graph_calendar_id(
    settings: &Settings,
    client: &GraphClient,
    role: CalendarRole,
) -> anyhow::Result<(String, bool)> {
    let dir = &settings.state_dir;
    let graph = settings.graph_base();
    let (mailbox, calendar) = role_calendar(settings, role);
    let key = calendar.cache_key();
    let mut cache = CalendarCache::load(dir);
    if let Some(id) = cache.get(graph, mailbox, &key) {
        return Ok((id.to_string(), true));
    }
    let id = resolve_calendar(client, mailbox, &calendar, role).await?;
    cache.put(graph, mailbox, &key, &id);
    if let Err(e) = cache.save(dir) {
        tracing::warn!(
            "could not remember the calendar id ({e:#}); the next run looks it up again"
        );
    }
    Ok((id, false))
}

/// The time zone all-day copies are written in, as `calendars.json` knows
/// it for the target mailbox (see [`GraphCalendar::all_day_in`]).
fn known_zone(settings: &Settings) -> Option<Option<String>> {
    CalendarCache::load(&settings.state_dir)
        .zone(settings.graph_base(), settings.target_mailbox_or_source())
        .map(|z| z.map(str::to_owned))
}

/// Keeps the zone the target read from its mailbox's settings during the
/// run, if it did, and tells the operator, once, when Graph would not say.
fn remember_zone(settings: &Settings, target: &GraphCalendar) {
    let Some(zone) = target.zone_read() else {
        return;
    };
    let mailbox = settings.target_mailbox_or_source();
    if zone.is_none() {
        tracing::warn!(
            mailbox,
            "Graph does not let calsync read this mailbox's time zone, so all-day copies are \
             written in UTC, and Outlook shows them across two days to people in other zones. \
             Grant the app MailboxSettings.Read to have them written in the mailbox's zone."
        );
    }
    let mut cache = CalendarCache::load(&settings.state_dir);
    cache.put_zone(settings.graph_base(), mailbox, zone.as_deref());
    if let Err(e) = cache.save(&settings.state_dir) {
        tracing::warn!("could not remember the mailbox's time zone ({e:#})");
    }
}

/// One run over any source and target: read both in full, plan with the
/// filter and copy policy, guard, apply (not on a dry run).
async fn run_full<S: SourceProvider, T: TargetProvider>(
    run: &FullRun<'_>,
    source: &S,
    target: &T,
) -> anyhow::Result<SyncReport> {
    let settings = run.settings;
    let window = window(settings);
    if let Some(p) = run.progress {
        p.start_reading();
    }
    tracing::info!(
        window_start = %crate::logging::rfc3339(window.start),
        window_end = %crate::logging::rfc3339(window.end),
        "reading both calendars in full"
    );
    let (source_events, managed) =
        tokio::try_join!(source.read(&window), target.read_managed(&window))?;
    if let Some(p) = run.progress {
        p.clear();
    }
    let plan = planner::plan(&source_events, &managed, &settings.policy, &window);
    drop(source_events);
    drop(managed);
    log_plan(&plan);
    let guard_warning = guard(&plan, settings, run.dry_run, run.force)?;
    let applied = if run.dry_run || plan.is_empty() {
        ApplyReport::default()
    } else {
        if let Some(p) = run.progress {
            p.start_writing(plan.writes());
        }
        target
            .apply(&plan)
            .await
            .context("applying the plan to the target calendar")?
    };
    Ok(report_of(
        run.run_id,
        run.dry_run,
        "full",
        window,
        &plan,
        applied,
        guard_warning,
    ))
}

/// Checks the `.ics` files the settings name before anything is read or
/// written: the source file exists and is a file, the target's directory
/// exists and the target is not a directory, and they are not one file.
/// Each failure is a configuration error (exit 2) naming the key.
pub fn check_files(settings: &Settings) -> anyhow::Result<()> {
    let origin = |key: &str| {
        settings
            .origins
            .get(key)
            .copied()
            .unwrap_or(Origin::Default)
    };
    if let SourceSpec::Ics(IcsLocation::Path(path)) = &settings.source {
        let shown = path.display();
        let from = origin("source.path");
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => {
                return Err(Failure::Config(format!(
                    "The source calendar {shown} (`source.path`, from {from}) is a directory. \
                     Set `source.path` to the .ics file to read."
                ))
                .into());
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Failure::Config(format!(
                    "The source calendar file {shown} (`source.path`, from {from}) does not \
                     exist. Fix `source.path` (a relative path in the config file is relative to \
                     the file's directory, one in CALSYNC_SOURCE_PATH to the working directory), \
                     or export the calendar there; nothing was written."
                ))
                .into());
            }
            // Reading it says what is wrong (permissions, say).
            Err(_) => {}
        }
    }
    if let TargetSpec::Ics { path, .. } = &settings.target {
        let shown = path.display();
        let from = origin("target.path");
        if path.is_dir() {
            return Err(Failure::Config(format!(
                "The target file {shown} (`target.path`, from {from}) is a directory. Set \
                 `target.path` to the .ics file calsync publishes, e.g. {}.",
                path.join("public.ics").display()
            ))
            .into());
        }
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        if !dir.is_dir() {
            return Err(Failure::Config(format!(
                "The directory {} of the target file {shown} (`target.path`, from {from}) does \
                 not exist. Create it (calsync creates the file, not its directory), or fix \
                 `target.path`; nothing was written.",
                dir.display()
            ))
            .into());
        }
        if let SourceSpec::Ics(IcsLocation::Path(source)) = &settings.source
            && let (Ok(a), Ok(b)) = (std::fs::canonicalize(source), std::fs::canonicalize(path))
            && a == b
        {
            return Err(Failure::Config(format!(
                "`source.path` (from {}) and `target.path` (from {from}) are the same file, \
                 {shown}, so calsync would publish into the file it reads. Set `target.path` \
                 to the public calendar's file.",
                origin("source.path")
            ))
            .into());
        }
    }
    Ok(())
}

/// Why a run reads both calendars in full, if it does.
fn full_reason(
    settings: &Settings,
    full: bool,
    prior: Option<&Head>,
    fingerprint: &str,
) -> Option<&'static str> {
    let Some(prior) = prior else {
        return Some("there is no incremental state yet");
    };
    if full {
        return Some("--full was given");
    }
    if incremental::full_sync_request(&settings.state_dir).is_some() {
        return Some(
            "calsync validate found problems in the target calendar, which a full read repairs",
        );
    }
    if prior.fingerprint != fingerprint {
        return Some("the settings changed since the last run");
    }
    let age = Utc::now().signed_duration_since(prior.last_full);
    let interval =
        chrono::Duration::from_std(settings.full_sync_interval).unwrap_or(chrono::Duration::MAX);
    if age >= interval {
        return Some("the last full reconciliation is older than full_sync_interval");
    }
    None
}

/// Fresh pieces from a full read of the source.
async fn fresh_pieces<S: IncrementalSource>(
    source: &S,
    read: Vec<PieceChanges>,
    settings: &Settings,
    window: &Window,
) -> anyhow::Result<Vec<Piece>> {
    let mut pieces: Vec<Piece> = read
        .iter()
        .map(|p| Piece {
            range: p.range,
            cursor: String::new(),
            items: Default::default(),
        })
        .collect();
    apply_changes(source, &mut pieces, read, settings, window).await?;
    Ok(pieces)
}

/// Applies the source's changes to the kept pieces (one entry of `changes`
/// per piece, in order), first reading again, in one go, every series the
/// changes name without its content.
async fn apply_changes<S: IncrementalSource>(
    source: &S,
    pieces: &mut [Piece],
    changes: Vec<PieceChanges>,
    settings: &Settings,
    window: &Window,
) -> anyhow::Result<()> {
    let mut wanted: Vec<(usize, String)> = Vec::new();
    for (i, (piece, changed)) in pieces.iter().zip(&changes).enumerate() {
        for series in incremental::series_to_read(&piece.items, &changed.changes) {
            wanted.push((i, series));
        }
    }
    let mut reads: Vec<Vec<incremental::SeriesRead>> = pieces.iter().map(|_| Vec::new()).collect();
    if !wanted.is_empty() {
        tracing::info!(
            series = wanted.len(),
            "reading the instances of changed recurring series"
        );
        let asked: Vec<(PieceRange, String)> = wanted
            .iter()
            .map(|(i, series)| (pieces[*i].range, series.clone()))
            .collect();
        let answers = source.read_series(&asked).await?;
        if answers.len() != wanted.len() {
            anyhow::bail!("internal error: the source answered for another number of series");
        }
        for ((i, series), instances) in wanted.into_iter().zip(answers) {
            reads[i].push((series, instances));
        }
    }
    for ((piece, changed), series) in pieces.iter_mut().zip(changes).zip(reads) {
        piece.cursor = changed.cursor;
        incremental::ingest(
            &mut piece.items,
            changed.changes,
            series,
            &settings.policy,
            window,
        );
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn sync_with(
    settings: &Settings,
    client: &GraphClient,
    ids: &CalendarIds,
    run_id: &str,
    dry_run: bool,
    force: bool,
    full: bool,
    progress: Option<&Arc<RunProgress>>,
) -> anyhow::Result<SyncReport> {
    let (source, target) = calendars(settings, client, &ids.source, &ids.target)?;
    let zone = known_zone(settings);
    let target = target
        .for_run(run_id)
        .all_day_in(zone.as_ref().map(Option::as_deref));
    let window = window(settings);
    let fingerprint = incremental::fingerprint(settings, &ids.source, &ids.target);
    let head = incremental::load_head(&settings.state_dir);
    let mut reason = full_reason(settings, full, head.as_ref(), &fingerprint);
    let prior_last_full = head.as_ref().map(|p| p.last_full);
    if let Some(p) = progress {
        p.start_reading();
        client.set_progress(Some(p.clone()));
    }

    // The source: its changes since the stored cursors, when they are for
    // this window.
    let mut prior: Option<SyncState> = None;
    let mut pieces: Option<Vec<Piece>> = None;
    if reason.is_none()
        && let Some(head) = head
    {
        if head.window == window {
            tracing::info!(
                window_start = %crate::logging::rfc3339(window.start),
                window_end = %crate::logging::rfc3339(window.end),
                "reading what changed in the source calendar"
            );
            let cursors: Vec<(PieceRange, String)> = head
                .ranges
                .iter()
                .copied()
                .zip(head.cursors.iter().cloned())
                .collect();
            match source.read_changes(&cursors).await {
                Ok(changes) => {
                    if let Some(settled) = head.settled.clone()
                        && head.target_trusted
                        && changes.iter().all(|c| c.changes.is_empty())
                    {
                        return settled_run(settings, head, changes, settled, run_id, dry_run);
                    }
                    match incremental::load_snapshot(&settings.state_dir, head) {
                        Some(mut state) => {
                            let mut kept = std::mem::take(&mut state.pieces);
                            apply_changes(&source, &mut kept, changes, settings, &window).await?;
                            pieces = Some(kept);
                            prior = Some(state);
                        }
                        None => reason = Some("the incremental snapshot is missing or stale"),
                    }
                }
                Err(e)
                    if e.chain()
                        .any(|c| c.downcast_ref::<CursorExpired>().is_some()) =>
                {
                    tracing::info!("{e:#}; falling back to a full read of both calendars");
                    reason = Some("the source refused the stored change cursor");
                }
                Err(e) => return Err(e),
            }
        } else {
            match incremental::load_snapshot(&settings.state_dir, head) {
                Some(state) => {
                    tracing::info!(
                        window_start = %crate::logging::rfc3339(window.start),
                        window_end = %crate::logging::rfc3339(window.end),
                        "the window moved since the last run; reading the source's new window in full"
                    );
                    let read = source.read_all(&window).await?;
                    pieces = Some(fresh_pieces(&source, read, settings, &window).await?);
                    prior = Some(state);
                }
                None => reason = Some("the incremental snapshot is missing or stale"),
            }
        }
    }
    let is_full = reason.is_some();

    // The target: as the last run left it, unless that cannot be trusted.
    let trusted_copies = match (prior.as_mut(), is_full) {
        (Some(p), false) if p.target_trusted => Some(std::mem::take(&mut p.copies)),
        _ => None,
    };
    drop(prior);
    let (pieces, copies) = match (pieces, trusted_copies) {
        (Some(pieces), Some(copies)) => (pieces, copies),
        (pieces, _) => {
            match reason {
                Some(why) => tracing::info!(
                    window_start = %crate::logging::rfc3339(window.start),
                    window_end = %crate::logging::rfc3339(window.end),
                    "reading both calendars in full: {why}"
                ),
                None => tracing::info!(
                    "reading the target calendar: the last run did not finish its writes"
                ),
            }
            let (pieces, managed) = match pieces {
                Some(pieces) => (pieces, target.read_managed(&window).await?),
                None => {
                    let (read, managed) =
                        tokio::try_join!(source.read_all(&window), target.read_managed(&window))?;
                    (
                        fresh_pieces(&source, read, settings, &window).await?,
                        managed,
                    )
                }
            };
            (pieces, incremental::copies_of(&managed))
        }
    };
    if let Some(p) = progress {
        p.clear();
    }

    let source_events = incremental::source_events(&pieces, &window);
    let managed = incremental::managed_events(&copies);
    let mut plan = planner::plan(
        &source_events,
        &managed,
        &incremental::stand_in_policy(),
        &window,
    );
    drop(source_events);
    drop(managed);
    // The stand-ins of non-public items all read as private; the items know
    // the rule each failed.
    plan.skipped = incremental::skipped_by_reason(&pieces);
    log_plan(&plan);
    let guard_warning = guard(&plan, settings, dry_run, force)?;
    let applied = if dry_run || plan.is_empty() {
        ApplyReport::default()
    } else {
        if let Some(p) = progress {
            p.start_writing(plan.writes());
        }
        // Should this run stop while writing, the next reads the target.
        incremental::mark_writing(&settings.state_dir)
            .context("cannot update the incremental state before writing")?;
        let applied = target.apply(&plan).await;
        remember_zone(settings, &target);
        applied.context("applying the plan to the target calendar")?
    };
    if !dry_run {
        let accounted = applied.done.len() == applied.created + applied.updated + applied.deleted;
        let target_trusted = applied.failures.is_empty() && accounted;
        let copies = incremental::after_writes(copies, &plan, &applied.done, &window);
        let settled = if !target_trusted || plan.deletions_withheld > 0 {
            None
        } else if plan.is_empty() {
            Some(Settled {
                unchanged: plan.unchanged,
                skipped_non_public: plan.skipped_non_public,
                skipped: plan.skipped.clone(),
            })
        } else {
            // Whether the writes left nothing to do, as they should have.
            settled_after(&pieces, &copies, &window)
        };
        let state = SyncState {
            version: incremental::STATE_VERSION,
            fingerprint,
            window,
            last_full: match (prior_last_full, is_full) {
                (Some(t), false) => t,
                _ => Utc::now(),
            },
            target_trusted,
            settled,
            pieces,
            copies,
        };
        if let Err(e) = incremental::save(&settings.state_dir, &state) {
            // The writes are done; the next run reads in full instead.
            tracing::warn!(
                "could not save the incremental state ({e:#}); the next run reads both calendars in full"
            );
            incremental::remove(&settings.state_dir);
        }
    }
    Ok(report_of(
        run_id,
        dry_run,
        if is_full { "full" } else { "incremental" },
        window,
        &plan,
        applied,
        guard_warning,
    ))
}

/// The report of a run that got as far as a plan: what it planned and, unless
/// it was a dry run, what applying it achieved.
fn report_of(
    run_id: &str,
    dry_run: bool,
    mode: &'static str,
    window: Window,
    plan: &Plan,
    applied: ApplyReport,
    guard_warning: Option<String>,
) -> SyncReport {
    let mut counts = Counts {
        unchanged: plan.unchanged,
        skipped_non_public: plan.skipped_non_public,
        skipped: plan.skipped.clone(),
        ..Counts::default()
    };
    if dry_run {
        counts.created = plan.creates.len();
        counts.updated = plan.updates.len();
        counts.deleted = plan.deletes.len();
    } else {
        counts.created = applied.created;
        counts.updated = applied.updated;
        counts.deleted = applied.deleted;
        counts.failed = applied.failures.len();
    }
    SyncReport {
        run_id: run_id.to_string(),
        dry_run,
        mode,
        window,
        plan: PlanView::of(plan),
        counts,
        failures: applied.failures,
        guard_warning,
        deletions_withheld: plan.deletions_withheld,
        duration_ms: 0,
        metrics: RunMetrics::default(),
        // Set by the caller, which knows the settings.
        target_file: None,
        uses_graph: false,
        history_error: None,
        history_exit_code: 0,
    }
}

/// Logs a plan's counts (info) and each planned write (debug).
fn log_plan(plan: &Plan) {
    tracing::info!(
        creates = plan.creates.len(),
        updates = plan.updates.len(),
        deletes = plan.deletes.len(),
        unchanged = plan.unchanged,
        skipped_non_public = plan.skipped_non_public,
        "plan ready"
    );
    // Plans hold only public events, so their subjects may be logged.
    for c in &plan.creates {
        tracing::debug!(action = "create", start = %crate::check::start_text(&c.payload.start), subject = %c.payload.subject, "planned");
    }
    for u in &plan.updates {
        tracing::debug!(action = "update", start = %crate::check::start_text(&u.payload.start), subject = %u.payload.subject, "planned");
    }
    for d in &plan.deletes {
        tracing::debug!(action = "delete", start = %crate::check::start_text(&d.start), subject = %d.subject, reason = %d.reason, "planned");
    }
    if plan.deletions_withheld > 0 {
        tracing::warn!(
            withheld = plan.deletions_withheld,
            "the source calendar has no events in the window; deletions were withheld"
        );
    }
}

/// The mass-deletion guard: a refusal fails a real run (exit 6) unless
/// forced, and is only a warning in the report of a dry run.
fn guard(
    plan: &Plan,
    settings: &Settings,
    dry_run: bool,
    force: bool,
) -> anyhow::Result<Option<String>> {
    match planner::check_deletion_guard(plan, settings.max_delete_fraction) {
        Ok(()) => Ok(None),
        Err(refusal) if dry_run => Ok(Some(refusal.to_string())),
        Err(refusal) if force => {
            tracing::warn!("--force: {refusal}");
            Ok(None)
        }
        Err(refusal) => {
            // Under --json the error document says what was refused: the
            // counts a dry run would have reported.
            let planned = Counts {
                created: plan.creates.len(),
                updated: plan.updates.len(),
                deleted: plan.deletes.len(),
                unchanged: plan.unchanged,
                skipped_non_public: plan.skipped_non_public,
                skipped: plan.skipped.clone(),
                failed: 0,
            };
            let mut details = serde_json::Map::new();
            details.insert("counts".into(), serde_json::to_value(planned)?);
            details.insert(
                "guard".into(),
                serde_json::json!({
                    "deletes": plan.deletes.len(),
                    "managed_in_window": plan.managed_in_window,
                    "max_delete_fraction": settings.max_delete_fraction,
                }),
            );
            Err(crate::error::Detailed {
                failure: Failure::Guard(refusal.to_string()),
                details,
            }
            .into())
        }
    }
}

/// The counts of a plan of the state, when that plan writes nothing.
fn settled_after(pieces: &[Piece], copies: &[Copy], window: &Window) -> Option<Settled> {
    let plan = planner::plan(
        &incremental::source_events(pieces, window),
        &incremental::managed_events(copies),
        &incremental::stand_in_policy(),
        window,
    );
    (plan.is_empty() && plan.deletions_withheld == 0).then(|| Settled {
        unchanged: plan.unchanged,
        skipped_non_public: plan.skipped_non_public,
        skipped: incremental::skipped_by_reason(pieces),
    })
}

/// A run that learnt of no change in the source since a settled state, with
/// the target trusted: its plan is known to write nothing, so neither the
/// snapshot nor a plan is needed. Only the new cursors are saved.
fn settled_run(
    settings: &Settings,
    mut head: Head,
    changes: Vec<PieceChanges>,
    settled: Settled,
    run_id: &str,
    dry_run: bool,
) -> anyhow::Result<SyncReport> {
    tracing::info!(
        unchanged = settled.unchanged,
        "nothing changed in the source since the last run, which left the target up to date"
    );
    if !dry_run {
        head.cursors = changes.into_iter().map(|c| c.cursor).collect();
        if let Err(e) = incremental::save_head(&settings.state_dir, &head) {
            tracing::warn!(
                "could not save the incremental state ({e:#}); the next run reads both calendars in full"
            );
            incremental::remove(&settings.state_dir);
        }
    }
    let plan = Plan {
        unchanged: settled.unchanged,
        skipped_non_public: settled.skipped_non_public,
        skipped: settled.skipped,
        managed_in_window: settled.unchanged,
        ..Plan::default()
    };
    Ok(report_of(
        run_id,
        dry_run,
        "incremental",
        head.window,
        &plan,
        ApplyReport::default(),
        None,
    ))
}

/// Renders a report for a person: the plan (dry run) or the failures, then
/// one summary line.
pub fn render_text(report: &SyncReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let c = &report.counts;
    if report.dry_run {
        let _ = writeln!(
            out,
            "Dry run: nothing was written. Window {} to {}.",
            fmt_time(report.window.start),
            fmt_time(report.window.end)
        );
        for (verb, lines) in [
            ("create", &report.plan.create),
            ("update", &report.plan.update),
            ("delete", &report.plan.delete),
        ] {
            for l in lines {
                match &l.reason {
                    Some(r) => {
                        let _ = writeln!(out, "  {verb:<6}  {:<17}  {}  ({r})", l.start, l.subject);
                    }
                    None => {
                        let _ = writeln!(out, "  {verb:<6}  {:<17}  {}", l.start, l.subject);
                    }
                }
            }
        }
        if let Some(w) = &report.guard_warning {
            let _ = writeln!(out, "Warning: {w}");
        }
        let _ = writeln!(
            out,
            "Would create {}, update {}, delete {}; {} unchanged, {}; {}.",
            c.created,
            c.updated,
            c.deleted,
            c.unchanged,
            skipped_summary(c.skipped_non_public, &c.skipped),
            cost(report),
        );
        return out;
    }
    for f in &report.failures {
        let _ = writeln!(
            out,
            "failed to {} the event at {}: {}",
            f.action, f.start, f.error
        );
    }
    let _ = writeln!(
        out,
        "Created {}, updated {}, deleted {}, {} unchanged, {}{}; {}.{}",
        c.created,
        c.updated,
        c.deleted,
        c.unchanged,
        skipped_summary(c.skipped_non_public, &c.skipped),
        if c.failed > 0 {
            format!(", {} failed", c.failed)
        } else {
            String::new()
        },
        cost(report),
        report
            .target_file
            .as_ref()
            .map(|p| format!(" Public calendar: {}", p.display()))
            .unwrap_or_default(),
    );
    out
}

/// "2.4 s, 6 requests to Graph", or the duration alone when no side is a
/// Graph calendar.
fn cost(report: &SyncReport) -> String {
    let secs = report.duration_ms as f64 / 1000.0;
    if report.uses_graph {
        format!("{secs:.1} s, {} requests to Graph", report.metrics.requests)
    } else {
        format!("{secs:.1} s")
    }
}

fn fmt_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%MZ").to_string()
}
