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

use super::incremental::*;
use super::report::*;
use super::sides::*;
use super::*;
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

pub(super) async fn run_in_span(
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

pub(super) async fn sync_once(
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
pub(super) struct FullRun<'a> {
    settings: &'a Settings,
    run_id: &'a str,
    dry_run: bool,
    force: bool,
    progress: Option<&'a Arc<RunProgress>>,
}

/// A sync in which a side is an `.ics` file: both calendars are read in
/// full every run (a file cannot say what changed), with the Graph side, if
/// any, opened by id as a Graph-to-Graph run opens it.
pub(super) async fn sync_full(
    run: &FullRun<'_>,
    client: Option<&GraphClient>,
) -> anyhow::Result<SyncReport> {
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
pub(super) fn published(run: &FullRun<'_>, target: &IcsTarget) -> anyhow::Result<()> {
    if !run.dry_run && target.create_if_missing()? {
        tracing::info!(
            path = %target.path().display(),
            "no public event to write yet; published an empty calendar"
        );
    }
    Ok(())
}

/// One run over any source and target: read both in full, plan with the
/// filter and copy policy, guard, apply (not on a dry run).
pub(super) async fn run_full<S: SourceProvider, T: TargetProvider>(
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

/// Logs a plan's counts (info) and each planned write (debug).
pub(super) fn log_plan(plan: &Plan) {
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
pub(super) fn guard(
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
