//! `calsync validate`: reads both calendars over the sync window, writes
//! nothing, and reports what the target gets wrong (README, "calsync validate"). Either side
//! may be a Graph calendar or an `.ics` file.
//!
//! It takes no lock (it writes nothing to either calendar), so it may run
//! beside a sync; it records one history line (`validate`, outcome `clean`,
//! `problems`, `failed`, or `interrupted`/`timed_out` when a signal or
//! `run_timeout` stops it). When it finds problems it also leaves a request
//! in the state dir that makes the next sync read both calendars in full
//! ([`incremental::FullSyncRequest`]), which repairs them. Only public subjects reach stdout; never a body or a token.

use super::{Context, print_stdout, runtime};
use crate::check::{self as validate, Checked, Problem, ProblemCounts};
use crate::cli::ValidateArgs;
use crate::config::{Settings, SourceSpec, TargetSpec};
use crate::error::Failure;
use crate::graph::client::{GraphClient, Metrics};
use crate::graph::provider::{CalendarRole, GraphCalendar};
use crate::ics::{IcsSource, IcsTarget};
use crate::model::Window;
use crate::provider::{InspectableTarget, SourceProvider};
use crate::run::{
    Interrupt, RunProgress, check_files, failed_outcome, graph_client, open_calendars,
    resolve_role, until_stopped, window,
};
use crate::state::{self, Counts, HistoryEntry, RunMetrics, incremental};
use chrono::Utc;
use serde::Serialize;
use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Instant;

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

pub fn run(ctx: &Context, args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let settings = ctx.settings()?;
    let runtime = runtime()?;
    let interrupt = {
        let _inside = runtime.enter();
        super::stop::listen()
    };
    let report = runtime.block_on(run_validation(&settings, Some(interrupt)))?;
    let text = if args.json {
        serde_json::to_string_pretty(&report)? + "\n"
    } else {
        render_text(&report)
    };
    print_stdout(&text)?;
    if let Some(message) = &report.history_error {
        super::report_problem(ctx, message, report.history_exit_code);
    }
    if report.clean {
        Ok(ExitCode::from(report.history_exit_code))
    } else {
        let repair = match &report.repair_error {
            None => format!(
                "The next `calsync sync` that keeps its state in {} (scheduled, or run now) \
                 reads both calendars in full, as validate asked it to, and repairs the copies \
                 in the window (a sync with another state dir does so with `calsync sync \
                 --full`)",
                settings.state_dir.display()
            ),
            Some(e) => format!(
                "Run `calsync sync --full`, which reads both calendars in full and repairs the \
                 copies in the window (validate could not ask the next scheduled sync to: {e})"
            ),
        };
        let failure = Failure::Problems(format!(
            "validate found {} in the target calendar. {repair}; copies outside it, and \
             attendees, online meetings or bodies added to a copy, need an edit by hand in the \
             target calendar.",
            report.counts.summary()
        ));
        eprintln!("calsync: {failure}");
        Ok(ExitCode::from(failure.exit_code()))
    }
}

/// Reads both calendars, checks them, and records the run in the history;
/// stops early (recorded as `interrupted` or `timed_out`) on `interrupt` or
/// when `run_timeout` passes.
pub async fn run_validation(
    settings: &Settings,
    interrupt: Option<Interrupt>,
) -> anyhow::Result<ValidateReport> {
    if settings.uses_graph() {
        settings.require_graph()?;
    }
    check_files(settings)?;
    state::ensure_dir(&settings.state_dir)?;
    let run_id = state::new_run_id();
    crate::logging::note_run_id(&run_id);
    let started = Utc::now();
    let clock = Instant::now();
    let window = window(settings);

    let client = if settings.uses_graph() {
        Some(graph_client(settings)?)
    } else {
        None
    };
    let tracker = RunProgress::new(None);
    let work = async {
        tracker.start_reading();
        check(settings, client.as_ref(), &window).await
    };
    let result = until_stopped(settings, "validate", interrupt, &tracker, work).await;
    let metrics = client
        .as_ref()
        .map(|c| run_metrics(&c.metrics()))
        .unwrap_or_default();
    let duration_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);

    let (outcome, error) = match &result {
        Ok(v) if v.is_clean() => ("clean", None),
        Ok(v) => ("problems", Some(v.counts.summary())),
        Err(e) => (failed_outcome(e), Some(first_line(&format!("{e:#}")))),
    };
    let entry = HistoryEntry {
        id: run_id.clone(),
        command: "validate".to_string(),
        started,
        finished: Utc::now(),
        duration_ms,
        outcome: outcome.to_string(),
        counts: Counts::default(),
        error,
        metrics: metrics.clone(),
    };
    let recorded = state::append_history(&settings.state_dir, &entry);
    if let (Err(e), Err(_)) = (&recorded, &result) {
        tracing::error!("{}", crate::run::unrecorded(e));
    }

    let v = result?;
    // The incremental sync trusts what it last wrote: without this it would
    // not see copies edited or deleted by hand until its next full run.
    let repair_error = if v.is_clean() {
        None
    } else {
        let request = incremental::FullSyncRequest {
            requested: Utc::now(),
            run_id: run_id.clone(),
            reason: v.counts.summary(),
        };
        incremental::request_full_sync(&settings.state_dir, &request)
            .err()
            .map(|e| format!("{e:#}"))
    };
    Ok(ValidateReport {
        clean: v.is_clean(),
        run_id,
        window,
        checked: v.checked,
        counts: v.counts,
        problems: v.problems,
        duration_ms,
        metrics,
        repair_error,
        history_error: recorded.as_ref().err().map(crate::run::unrecorded),
        history_exit_code: recorded.as_ref().err().map_or(0, crate::error::code_of),
    })
}

async fn check(
    settings: &Settings,
    client: Option<&GraphClient>,
    window: &Window,
) -> anyhow::Result<validate::Validation> {
    let graph = || client.ok_or_else(|| anyhow::anyhow!("internal error: no Graph client"));
    let copy = settings.policy.copy;
    match (&settings.source, &settings.target) {
        (SourceSpec::Graph, TargetSpec::Graph) => {
            let (source, target) = open_calendars(settings, graph()?).await?;
            check_with(settings, &source, &target, window).await
        }
        (SourceSpec::Graph, TargetSpec::Ics { path, name }) => {
            let client = graph()?;
            let mailbox = settings.mailbox_or_me();
            let id = resolve_role(settings, client, CalendarRole::Source).await?;
            let source = GraphCalendar::new(client.clone(), mailbox, &id, copy);
            check_with(settings, &source, &IcsTarget::new(path, name), window).await
        }
        (SourceSpec::Ics(location), TargetSpec::Graph) => {
            let client = graph()?;
            let mailbox = settings.target_mailbox_or_source();
            let id = resolve_role(settings, client, CalendarRole::Target).await?;
            let target = GraphCalendar::new(client.clone(), mailbox, &id, copy);
            check_with(settings, &IcsSource::new(location.clone()), &target, window).await
        }
        (SourceSpec::Ics(location), TargetSpec::Ics { path, name }) => {
            check_with(
                settings,
                &IcsSource::new(location.clone()),
                &IcsTarget::new(path, name),
                window,
            )
            .await
        }
    }
}

/// Reads the source and the target's copies and checks them.
async fn check_with<S: SourceProvider, T: InspectableTarget>(
    settings: &Settings,
    source: &S,
    target: &T,
    window: &Window,
) -> anyhow::Result<validate::Validation> {
    tracing::info!(
        window_start = %crate::logging::rfc3339(window.start),
        window_end = %crate::logging::rfc3339(window.end),
        "reading both calendars to validate"
    );
    let (source_events, copies) =
        tokio::try_join!(source.read(window), target.read_for_validation())?;
    Ok(validate::validate(
        &source_events,
        &copies,
        &settings.policy,
        window,
    ))
}

fn run_metrics(m: &Metrics) -> RunMetrics {
    let round1 = |ms: f64| (ms * 10.0).round() / 10.0;
    RunMetrics {
        requests: m.requests,
        operations: m.operations,
        retries: m.retries,
        throttled: m.throttled,
        mean_latency_ms: round1(m.mean_latency_ms()),
        p95_latency_ms: round1(m.p95_latency_ms()),
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

/// The report for a person: one line per problem, then a summary line.
pub fn render_text(report: &ValidateReport) -> String {
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
