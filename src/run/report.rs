//! What `sync` and `validate` report: the one JSON document of `--json`,
//! and the text for a person. Only public subjects ever appear; never a
//! body or a token.

use crate::check::{Checked, Problem, ProblemCounts};
use crate::model::Window;
use crate::planner::Plan;
use crate::policy::skipped_summary;
use crate::provider::{ApplyReport, WriteFailure};
use crate::state::{Counts, RunMetrics};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::fmt::Write as _;

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
    /// The writes applied, for the audit trail (none on a dry run).
    #[serde(skip)]
    pub changes: Vec<crate::state::audit::Change>,
    /// The events the target holds after the run (the public events of the
    /// window as their copies carry them), for `[publish]`; `None` when
    /// nothing is to be published.
    #[serde(skip)]
    pub published: Option<Vec<(crate::model::SourceKey, crate::model::EventPayload)>>,
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
        // Set by the caller, which knows what the copies showed before.
        changes: Vec::new(),
        // Set by the caller, which knows the events.
        published: None,
    }
}

/// What the copies a plan updates showed before, for the audit trail.
#[derive(Debug, Default)]
pub(super) struct Previous {
    /// By target id.
    pub copies: std::collections::HashMap<String, crate::model::EventPayload>,
    /// Whether the copies hold their bodies (a full read of the target).
    pub body_known: bool,
}

impl Previous {
    /// The changes of a run that applied (some of) `plan`; none on a dry run.
    pub fn changes(
        &self,
        run_id: &str,
        dry_run: bool,
        plan: &Plan,
        applied: &ApplyReport,
    ) -> Vec<crate::state::audit::Change> {
        if dry_run {
            return Vec::new();
        }
        crate::state::audit::changes_of(run_id, plan, &applied.done, &self.copies, self.body_known)
    }
}

/// Renders a report for a person: the plan (dry run) or the failures, then
/// one summary line.
pub fn render_sync(report: &SyncReport) -> String {
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

/// The one JSON document `validate --json` prints.
#[derive(Debug, Serialize)]
pub struct ValidateReport {
    /// `true` when there is no problem (exit 0).
    pub clean: bool,
    pub run_id: String,
    /// The window checked, as for `sync`.
    pub window: Window,
    pub checked: Checked,
    pub counts: ProblemCounts,
    pub problems: Vec<Problem>,
    pub duration_ms: u64,
    pub metrics: RunMetrics,
    /// Why the next sync could not be asked to repair the problems found
    /// (it reads both calendars in full when it is); `None` when it was, or
    /// when there was nothing to repair.
    #[serde(skip)]
    pub repair_error: Option<String>,
    /// Set when the run could not be recorded in the history (then the
    /// command exits non-zero, whatever it found).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history_error: Option<String>,
    #[serde(skip)]
    pub history_exit_code: u8,
}

/// The report for a person: one line per problem, then a summary line.
pub fn render_validate(report: &ValidateReport) -> String {
    let mut out = String::new();
    let c = &report.checked;
    let window = format!(
        "{} to {}",
        report.window.start.format("%Y-%m-%d %H:%MZ"),
        report.window.end.format("%Y-%m-%d %H:%MZ")
    );
    if report.clean {
        let _ = writeln!(
            out,
            "The target calendar matches the source: {} public source events, {} copies in \
             the window {window}; no problems.",
            c.public_source_events, c.managed_in_window
        );
        return out;
    }
    let kind_width = report
        .problems
        .iter()
        .map(|p| p.kind.as_str().len())
        .max()
        .unwrap_or(0);
    let starts: Vec<String> = report
        .problems
        .iter()
        .map(|p| p.start.to_string())
        .collect();
    let start_width = starts.iter().map(String::len).max().unwrap_or(0);
    let subjects: Vec<&str> = report
        .problems
        .iter()
        .map(|p| p.subject.as_deref().unwrap_or("(not public)"))
        .collect();
    let subject_width = subjects
        .iter()
        .map(|s| s.chars().count())
        .max()
        .unwrap_or(0)
        .min(50);
    for ((p, start), subject) in report.problems.iter().zip(&starts).zip(&subjects) {
        let _ = writeln!(
            out,
            "{:<kind_width$}  {:<start_width$}  {}  {}",
            p.kind.as_str(),
            start,
            pad(subject, subject_width),
            p.detail
        );
    }
    let _ = writeln!(
        out,
        "{} (window {window}; {} public source events, {} copies in the window, {} in all).",
        capitalise(&report.counts.summary()),
        c.public_source_events,
        c.managed_in_window,
        c.managed_copies
    );
    out
}

/// `s` cut or padded to `width` characters.
fn pad(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n > width {
        let mut cut: String = s.chars().take(width.saturating_sub(1)).collect();
        cut.push('…');
        cut
    } else {
        format!("{s}{}", " ".repeat(width - n))
    }
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
