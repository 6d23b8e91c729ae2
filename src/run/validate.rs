//! `calsync validate`'s run: reads both calendars over the sync window,
//! writes nothing to either, and checks the target against the source with
//! the pure [`crate::check`]. Either side may be a Graph calendar or an
//! `.ics` file; they are opened as `sync` opens them ([`super::sides`]).
//!
//! It takes no lock (it writes nothing to either calendar), so it may run
//! beside a sync; it records one history line (`validate`, outcome `clean`,
//! `problems`, `failed`, or `interrupted`/`timed_out` when a signal or
//! `run_timeout` stops it). When it finds problems it also leaves a request
//! in the state dir that makes the next sync read both calendars in full
//! ([`incremental::FullSyncRequest`]), which repairs them.

use super::progress::RunProgress;
use super::report::ValidateReport;
use super::sides::{self, Access};
use super::{Interrupt, Outcome, Run, failed_outcome, first_line, unrecorded, until_stopped};
use crate::check::{self, Validation};
use crate::config::Settings;
use crate::model::Window;
use crate::provider::{InspectableTarget, SourceProvider};
use crate::state::{Counts, incremental};
use chrono::Utc;

/// Reads both calendars, checks them, and records the run in the history;
/// stops early (recorded as `interrupted` or `timed_out`) on `interrupt` or
/// when `run_timeout` passes.
pub async fn run(
    settings: &Settings,
    interrupt: Option<Interrupt>,
    shared_graph: Option<&crate::graph::client::GraphClient>,
) -> anyhow::Result<ValidateReport> {
    let mut run = Run::start(settings)?;
    run.connect(settings, shared_graph)?;
    let window = run.window;
    let tracker = RunProgress::new(None);
    let work = async {
        tracker.start_reading();
        sides::with_sides(settings, run.graph(), Access::Read, async |sides| {
            check_sides(settings, &sides.source, &sides.target, &window).await
        })
        .await
    };
    let result = until_stopped(settings, "validate", interrupt, &tracker, work).await;
    let done = run.done();

    let (outcome, error) = match &result {
        Ok(v) if v.is_clean() => ("clean", None),
        Ok(v) => ("problems", Some(v.counts.summary())),
        Err(e) => (failed_outcome(e), Some(first_line(&format!("{e:#}")))),
    };
    let recorded = run.record(
        &done,
        Outcome {
            command: "validate",
            outcome,
            counts: Counts::default(),
            error,
        },
    );
    if let (Err(e), Err(_)) = (&recorded, &result) {
        tracing::error!("{}", unrecorded(e));
    }

    let v = result?;
    // The incremental sync trusts what it last wrote: without this it would
    // not see copies edited or deleted by hand until its next full run.
    let repair_error = if v.is_clean() {
        None
    } else {
        let request = incremental::FullSyncRequest {
            requested: Utc::now(),
            run_id: run.id.clone(),
            reason: v.counts.summary(),
        };
        incremental::request_full_sync(&settings.state_dir, &request)
            .err()
            .map(|e| format!("{e:#}"))
    };
    Ok(ValidateReport {
        clean: v.is_clean(),
        run_id: run.id.clone(),
        window,
        checked: v.checked,
        counts: v.counts,
        problems: v.problems,
        duration_ms: done.duration_ms,
        metrics: done.metrics,
        repair_error,
        history_error: recorded.as_ref().err().map(unrecorded),
        history_exit_code: recorded.as_ref().err().map_or(0, crate::error::code_of),
    })
}

/// Reads the source and the target's copies and checks them.
async fn check_sides<S: SourceProvider, T: InspectableTarget>(
    settings: &Settings,
    source: &S,
    target: &T,
    window: &Window,
) -> anyhow::Result<Validation> {
    tracing::info!(
        window_start = %crate::logging::rfc3339(window.start),
        window_end = %crate::logging::rfc3339(window.end),
        "reading both calendars to validate"
    );
    let (source_events, copies) =
        tokio::try_join!(source.read(window), target.read_for_validation())?;
    Ok(check::validate(
        &source_events,
        &copies,
        &settings.policy,
        window,
    ))
}
