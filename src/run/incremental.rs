//! The incremental engine of `calsync sync` (see [`super::sync`] for when
//! a run is full and when incremental): over any [`IncrementalSource`] and
//! [`TargetProvider`], it keeps both calendars' pictures in the state
//! ([`crate::state::incremental`]) between runs.

use super::report::{Previous, SyncReport, report_of};
use super::sync::{Job, guard, log_plan};
use crate::config::Settings;
use crate::model::Window;
use crate::planner::{self, Plan};
use crate::provider::{
    ApplyReport, CursorExpired, IncrementalSource, PieceChanges, PieceRange, TargetProvider,
};
use crate::state::incremental::{self, Copy, Head, Piece, Settled, SyncState};
use anyhow::Context;
use chrono::Utc;

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

/// One sync over a source that tells its changes and a target that stays
/// as the last run left it: reads what changed (or, when the state cannot
/// be used, both calendars in full), plans, guards, applies and saves the
/// state for the next run.
pub(super) async fn sync<S: IncrementalSource, T: TargetProvider>(
    job: &Job<'_>,
    source: &S,
    target: &T,
    fingerprint: String,
) -> anyhow::Result<SyncReport> {
    let Job {
        settings,
        run_id,
        window,
        dry_run,
        force,
        full,
        progress,
    } = *job;
    let head = incremental::load_head(&settings.state_dir);
    let mut reason = full_reason(settings, full, head.as_ref(), &fingerprint);
    let prior_last_full = head.as_ref().map(|p| p.last_full);
    progress.start_reading();

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
                            apply_changes(source, &mut kept, changes, settings, &window).await?;
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
                    pieces = Some(fresh_pieces(source, read, settings, &window).await?);
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
                        fresh_pieces(source, read, settings, &window).await?,
                        managed,
                    )
                }
            };
            (pieces, incremental::copies_of(&managed))
        }
    };
    progress.clear();

    let source_events = incremental::source_events(&pieces, &window);
    let managed = incremental::managed_events(&copies);
    let mut plan = planner::plan(
        &source_events,
        &managed,
        &incremental::stand_in_policy(),
        &window,
    );
    // The kept items hold each public event's payload as the copy policy
    // made it.
    let published = settings.publish.enabled().then(|| {
        planner::public_payloads(&source_events, &incremental::stand_in_policy(), &window)
    });
    // The incremental state keeps no body; a full read of the target does.
    let previous = Previous {
        copies: crate::state::audit::old_copies(
            &plan,
            managed.iter().map(|m| (m.target_id.as_str(), &m.current)),
        ),
        body_known: false,
    };
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
        progress.start_writing(plan.writes());
        // Should this run stop while writing, the next reads the target.
        incremental::mark_writing(&settings.state_dir)
            .context("cannot update the incremental state before writing")?;
        target
            .apply(&plan)
            .await
            .context("applying the plan to the target calendar")?
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
    let changes = previous.changes(run_id, dry_run, &plan, &applied);
    let mut report = report_of(
        run_id,
        dry_run,
        if is_full { "full" } else { "incremental" },
        window,
        &plan,
        applied,
        guard_warning,
    );
    report.changes = changes;
    report.published = published;
    Ok(report)
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
    // What to publish: the kept snapshot's public items (not read
    // otherwise). Without a snapshot, the page and feed stay as they are.
    let published = if settings.publish.enabled() {
        incremental::load_snapshot(&settings.state_dir, head.clone()).map(|state| {
            let events = incremental::source_events(&state.pieces, &head.window);
            planner::public_payloads(&events, &incremental::stand_in_policy(), &head.window)
        })
    } else {
        None
    };
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
    let mut report = report_of(
        run_id,
        dry_run,
        "incremental",
        head.window,
        &plan,
        ApplyReport::default(),
        None,
    );
    report.published = published;
    Ok(report)
}
