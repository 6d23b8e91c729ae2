//! One run of `calsync sync`: lock, read both sides, plan, guard, apply, record.

use crate::config::Settings;
use crate::error::Failure;
use crate::graph::client::{ClientOptions, GraphClient, Metrics, http_client};
use crate::graph::provider::{CalendarRole, GraphCalendar, resolve_calendar};
use crate::model::Window;
use crate::planner::{self, Plan};
use crate::provider::{ApplyReport, SourceProvider, TargetProvider, WriteFailure};
use crate::state::{self, Counts, HistoryEntry, Lock, RunMetrics};
use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::time::{Duration, Instant};

/// What the command line asked of this run.
#[derive(Debug, Clone, Copy, Default)]
pub struct SyncOptions {
    pub dry_run: bool,
    pub force: bool,
}

/// The outcome of a run that got as far as a plan.
#[derive(Debug, Serialize)]
pub struct SyncReport {
    pub run_id: String,
    pub dry_run: bool,
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
    let http = http_client(Duration::from_secs(60))?;
    let tokens = crate::auth::token_source(settings, &http)?;
    Ok(GraphClient::new(
        http,
        tokens,
        ClientOptions::new(settings.graph_url.clone()),
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
    settings.require_graph()?;
    state::ensure_dir(&settings.state_dir)?;
    let run_id = state::new_run_id();
    let started = Utc::now();
    let clock = Instant::now();
    let dry_run = opts.dry_run || settings.dry_run;

    // A dry run writes nothing, so it may run beside a real one.
    let lock = if dry_run {
        None
    } else {
        Some(Lock::acquire(&settings.state_dir, &run_id)?)
    };

    let client = graph_client(settings)?;
    let result = sync_once(settings, &client, &run_id, dry_run, opts.force).await;
    let metrics = run_metrics(&client.metrics());
    let duration_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);

    let (outcome, counts, error) = match &result {
        Ok(report) if dry_run => ("dry_run", report.counts.clone(), None),
        Ok(report) if !report.failures.is_empty() => (
            "partial",
            report.counts.clone(),
            Some(format!("{} writes failed", report.failures.len())),
        ),
        Ok(report) => ("success", report.counts.clone(), None),
        Err(e) => {
            let refused = e
                .downcast_ref::<Failure>()
                .is_some_and(|f| matches!(f, Failure::Guard(_)));
            (
                if refused { "refused" } else { "failed" },
                Counts::default(),
                Some(first_line(&format!("{e:#}"))),
            )
        }
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
    if let Err(e) = state::append_history(&settings.state_dir, &entry) {
        tracing::warn!("could not record this run in the history: {e:#}");
    }
    drop(lock);

    let mut report = result?;
    report.duration_ms = duration_ms;
    report.metrics = metrics;
    Ok(report)
}

fn first_line(s: &str) -> String {
    s.lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect()
}

/// The sync window for today (SPEC §3 rule 1).
pub fn window(settings: &Settings) -> Window {
    Window::around(
        Utc::now().date_naive(),
        settings.past_days,
        settings.cutoff_days,
    )
}

/// Resolves the source and target calendars by name and opens both.
pub async fn open_calendars(
    settings: &Settings,
    client: &GraphClient,
) -> anyhow::Result<(GraphCalendar, GraphCalendar)> {
    let source_mailbox = settings.mailbox_or_me();
    let target_mailbox = settings.target_mailbox_or_source();
    let source_id = resolve_calendar(
        client,
        source_mailbox,
        &settings.source_calendar,
        CalendarRole::Source,
    )
    .await?;
    let target_id = resolve_calendar(
        client,
        target_mailbox,
        &settings.target_calendar,
        CalendarRole::Target,
    )
    .await?;
    if source_mailbox.eq_ignore_ascii_case(target_mailbox) && source_id == target_id {
        return Err(Failure::Config(format!(
            "source_calendar and target_calendar name the same calendar (\"{}\" in {}). \
             Set target_calendar to the public calendar.",
            settings.source_calendar, source_mailbox
        ))
        .into());
    }
    let copy = settings.policy.copy;
    Ok((
        GraphCalendar::new(client.clone(), source_mailbox, &source_id, copy),
        GraphCalendar::new(client.clone(), target_mailbox, &target_id, copy),
    ))
}

async fn sync_once(
    settings: &Settings,
    client: &GraphClient,
    run_id: &str,
    dry_run: bool,
    force: bool,
) -> anyhow::Result<SyncReport> {
    let (source, target) = open_calendars(settings, client).await?;
    let window = window(settings);
    tracing::info!(
        run_id,
        window_start = %window.start,
        window_end = %window.end,
        "reading both calendars"
    );
    let (source_events, managed) =
        tokio::try_join!(source.read(&window), target.read_managed(&window))?;

    let plan = planner::plan(&source_events, &managed, &settings.policy, &window);
    drop(source_events);
    tracing::info!(
        creates = plan.creates.len(),
        updates = plan.updates.len(),
        deletes = plan.deletes.len(),
        unchanged = plan.unchanged,
        skipped_non_public = plan.skipped_non_public,
        "plan ready"
    );
    if plan.deletions_withheld > 0 {
        tracing::warn!(
            withheld = plan.deletions_withheld,
            "the source calendar has no events in the window; deletions were withheld"
        );
    }

    let guard = planner::check_deletion_guard(&plan, settings.max_delete_fraction);
    let mut guard_warning = None;
    if let Err(refusal) = guard {
        if dry_run {
            guard_warning = Some(refusal.to_string());
        } else if force {
            tracing::warn!("--force: {refusal}");
        } else {
            return Err(Failure::Guard(refusal.to_string()).into());
        }
    }

    let mut counts = Counts {
        unchanged: plan.unchanged,
        skipped_non_public: plan.skipped_non_public,
        ..Counts::default()
    };
    let applied = if dry_run || plan.is_empty() {
        ApplyReport::default()
    } else {
        target
            .apply(&plan)
            .await
            .context("applying the plan to the target calendar")?
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
    Ok(SyncReport {
        run_id: run_id.to_string(),
        dry_run,
        window,
        plan: PlanView::of(&plan),
        counts,
        failures: applied.failures,
        guard_warning,
        deletions_withheld: plan.deletions_withheld,
        duration_ms: 0,
        metrics: RunMetrics::default(),
    })
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
            "Would create {}, update {}, delete {}; {} unchanged, {} skipped as non-public.",
            c.created, c.updated, c.deleted, c.unchanged, c.skipped_non_public
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
        "Created {}, updated {}, deleted {}, {} unchanged, {} skipped as non-public{}; {:.1} s, {} requests to Graph.",
        c.created,
        c.updated,
        c.deleted,
        c.unchanged,
        c.skipped_non_public,
        if c.failed > 0 {
            format!(", {} failed", c.failed)
        } else {
            String::new()
        },
        report.duration_ms as f64 / 1000.0,
        report.metrics.requests
    );
    out
}

fn fmt_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%MZ").to_string()
}
