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
//! makes it read the target. The engine is [`super::incremental`].
//!
//! # Runs with an `.ics` side
//!
//! A run is incremental only when the source can tell what changed and the
//! target stays as the last run left it ([`Source::incremental`],
//! [`Target::incremental`]): two Graph calendars. When either side is an
//! iCalendar file (`[source]`/`[target]` `kind = "ics"`), every run is full:
//! the source is read whole ([`SourceProvider::read`]), the target's copies
//! through [`TargetProvider::read_managed`], and the plan is made with the
//! real policy. There is no incremental state for such runs; a Graph side
//! among them is still opened by its cached calendar id ([`super::sides`]).
//! The lock, the deletion guard, the history line, the report and the exit
//! codes are the same.

use super::progress::RunProgress;
use super::report::{Previous, SyncReport, report_of};
use super::sides::{self, Access, Sides, Source, Target};
use super::{Interrupt, Outcome, Run, failed_outcome, first_line, unrecorded, until_stopped};
use crate::config::Settings;
use crate::error::Failure;
use crate::model::Window;
use crate::planner::{self, Plan};
use crate::provider::{ApplyReport, SourceProvider, TargetProvider};
use crate::state::{Counts, Lock, incremental};
use anyhow::Context;
use indicatif::MultiProgress;
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
    /// The Graph client the pairs of one process share, whose budget per
    /// mailbox this run keeps to; `None`: a client of its own.
    pub shared_graph: Option<crate::graph::client::GraphClient>,
}

/// What a run needs to know once its sides are open.
#[derive(Clone, Copy)]
pub(super) struct Job<'a> {
    pub settings: &'a Settings,
    pub run_id: &'a str,
    pub window: Window,
    pub dry_run: bool,
    pub force: bool,
    /// `--full`.
    pub full: bool,
    pub progress: &'a RunProgress,
}

/// Runs one sync and records it in the history, whatever its outcome.
pub async fn run(settings: &Settings, opts: SyncOptions) -> anyhow::Result<SyncReport> {
    let run = Run::start(settings)?;
    // At error level so that the span, and its run id, is there whenever
    // anything at all is logged.
    let span = tracing::error_span!("run", run_id = %run.id);
    run_in_span(settings, opts, run).instrument(span).await
}

async fn run_in_span(
    settings: &Settings,
    opts: SyncOptions,
    mut run: Run,
) -> anyhow::Result<SyncReport> {
    let dry_run = opts.dry_run || settings.dry_run;

    // A dry run writes nothing, so it may run beside a real one.
    let lock = if dry_run {
        None
    } else {
        Some(Lock::acquire(&settings.state_dir, &run.id)?)
    };

    // A validate that found problems asked for this run to read both
    // calendars in full (see `full_reason`); seen under the lock, so that
    // only this request is cleared when the run is done.
    let repair = incremental::full_sync_request(&settings.state_dir);

    run.connect(settings, opts.shared_graph.as_ref())?;
    let progress = RunProgress::new(opts.progress);
    if let Some(c) = run.graph() {
        c.set_progress(Some(progress.clone()));
    }
    let job = Job {
        settings,
        run_id: &run.id,
        window: run.window,
        dry_run,
        force: opts.force,
        full: opts.full,
        progress: &progress,
    };
    let work = async {
        progress.begin();
        let access = Access::Write { run_id: &run.id };
        sides::with_sides(settings, run.graph(), access, async |sides| {
            sync_sides(&job, sides).await
        })
        .await
    };
    let result = until_stopped(settings, "The sync", opts.interrupt, &progress, work).await;
    progress.clear();
    let done = run.done();

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
    let mut recorded = run.record(
        &done,
        Outcome {
            command: if dry_run { "sync --dry-run" } else { "sync" },
            outcome,
            counts,
            error,
        },
    );
    // The audit trail, after the history line it belongs to (so that a
    // rotation beside it keeps it).
    if let (Ok(()), Ok(report)) = (&recorded, &result)
        && !dry_run
    {
        recorded = crate::state::audit::append_changes(&settings.state_dir, &report.changes);
    }
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
    report.duration_ms = done.duration_ms;
    report.metrics = done.metrics;
    report.uses_graph = settings.uses_graph();
    report.target_file = sides::target_file(settings);
    if outcome == "success"
        && let Some(events) = report.published.take()
    {
        publish(settings, report.window, &events);
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
        duration_ms = done.duration_ms,
        requests = report.metrics.requests,
        retries = report.metrics.retries,
        throttled = report.metrics.throttled,
        "sync finished"
    );
    Ok(report)
}

/// Writes the `[publish]` page and feed after a successful run. A failure
/// is logged, not the run's: the calendar is synced.
fn publish(
    settings: &Settings,
    window: Window,
    events: &[(crate::model::SourceKey, crate::model::EventPayload)],
) {
    let input = crate::publish::Input {
        settings,
        window,
        events,
        now: chrono::Utc::now(),
    };
    if let Err(e) = crate::publish::publish(&input) {
        tracing::error!(
            "the sync succeeded, but publishing its events failed: {e:#}. The page and feed \
             keep their last content until a later run publishes them."
        );
    }
}

/// One sync over the open sides: incremental when both allow it, else in
/// full.
async fn sync_sides(job: &Job<'_>, sides: &Sides) -> anyhow::Result<SyncReport> {
    let (source, target) = (&sides.source, &sides.target);
    if source.incremental() && target.incremental() {
        let fingerprint = crate::config::fingerprint(
            job.settings,
            incremental::STATE_VERSION,
            sides.source_id.as_deref().unwrap_or_default(),
            sides.target_id.as_deref().unwrap_or_default(),
        );
        return super::incremental::sync(job, source, target, fingerprint).await;
    }
    if !job.dry_run && target.incremental() {
        // A later incremental run must not trust what it kept of this
        // calendar: this run may change it.
        incremental::mark_writing(&job.settings.state_dir)
            .context("cannot update the incremental state before writing")?;
    }
    let report = sync_full(job, source, target).await?;
    target.publish(job.dry_run)?;
    Ok(report)
}

/// One run over any source and target: read both in full, plan with the
/// filter and copy policy, guard, apply (not on a dry run).
async fn sync_full(job: &Job<'_>, source: &Source, target: &Target) -> anyhow::Result<SyncReport> {
    let window = job.window;
    job.progress.start_reading();
    tracing::info!(
        window_start = %crate::logging::rfc3339(window.start),
        window_end = %crate::logging::rfc3339(window.end),
        "reading both calendars in full"
    );
    let (source_events, mut managed) =
        tokio::try_join!(source.read(&window), target.read_managed(&window))?;
    job.progress.clear();
    let withheld = withhold_empty_members(source, &mut managed);
    let mut plan = planner::plan(&source_events, &managed, &job.settings.policy, &window);
    let published = job
        .settings
        .publish
        .enabled()
        .then(|| planner::public_payloads(&source_events, &job.settings.policy, &window));
    let previous = Previous {
        copies: crate::state::audit::old_copies(
            &plan,
            managed.iter().map(|m| (m.target_id.as_str(), &m.current)),
        ),
        body_known: true,
    };
    drop(source_events);
    drop(managed);
    log_plan(&plan);
    // Warned of apart: the rest of the source has events.
    plan.deletions_withheld += withheld;
    let guard_warning = guard(&plan, job.settings, job.dry_run, job.force)?;
    let applied = if job.dry_run || plan.is_empty() {
        ApplyReport::default()
    } else {
        job.progress.start_writing(plan.writes());
        target
            .apply(&plan)
            .await
            .context("applying the plan to the target calendar")?
    };
    let changes = previous.changes(job.run_id, job.dry_run, &plan, &applied);
    let mut report = report_of(
        job.run_id,
        job.dry_run,
        "full",
        window,
        &plan,
        applied,
        guard_warning,
    );
    report.changes = changes;
    report.published = published;
    Ok(report)
}

/// A member of a merged source that reads as empty while others do not is
/// more likely wrong (a calendar emptied by mistake, a file cut short) than
/// emptied, as the planner takes a whole source that reads as empty: its
/// copies are left as they are, neither updated nor deleted, until it
/// reads events again. Removing a member from `sources` is what deletes its
/// copies. Returns how many copies were left.
fn withhold_empty_members(source: &Source, managed: &mut Vec<crate::model::ManagedEvent>) -> usize {
    let Source::Merged(merged) = source else {
        return 0;
    };
    let empty = merged.read_empty();
    if empty.is_empty() || empty.len() == merged.members().len() {
        // None, or all of them: the planner's own rule covers a source
        // that reads as empty.
        return 0;
    }
    let before = managed.len();
    managed.retain(|c| {
        !empty
            .iter()
            .any(|name| super::merge::of_member(&c.marker.source_key, name))
    });
    let left = before - managed.len();
    if left > 0 {
        tracing::warn!(
            sources = %empty.join(", "),
            copies = left,
            "a source of this pair has no events in the window while the others have; its \
             copies were left as they are (remove the source from `sources` to delete them)"
        );
    }
    left
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
