//! What a sync reports, as JSON or for a person.

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

/// The report of a run that got as far as a plan: what it planned and, unless
/// it was a dry run, what applying it achieved.
pub(super) fn report_of(
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
pub(super) fn cost(report: &SyncReport) -> String {
    let secs = report.duration_ms as f64 / 1000.0;
    if report.uses_graph {
        format!("{secs:.1} s, {} requests to Graph", report.metrics.requests)
    } else {
        format!("{secs:.1} s")
    }
}

pub(super) fn fmt_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%MZ").to_string()
}
