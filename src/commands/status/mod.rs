//! `calsync status`: the configuration in effect (each value with where it
//! came from, secrets masked), the sign-in state, the last runs and how recent
//! runs went, and whether a run holds the lock. It sends no request anywhere
//! and works with an incomplete configuration (it says what is missing).
//!
//! `--max-age D` exits 4 when the last successful `sync` (command `sync`,
//! outcome `success`) finished more than `D` ago, or when there is none; a
//! sync exactly `D` old is recent enough.

mod pairs;

use super::history::{human_duration_ms, human_duration_secs};
use super::{Context, print_stdout};
use crate::auth::{AuthConfig, AuthState, auth_state};
use crate::cli::StatusArgs;
use crate::config::{self, Origin, Settings};
use crate::error::Failure;
use crate::state::{self, HistoryEntry, Holder, LockState};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// How many of the latest syncs the `recent` summary covers.
pub const RECENT_RUNS: usize = 20;

/// The one JSON document `status --json` prints.
#[derive(Debug, Serialize)]
pub struct StatusReport {
    /// The config file read, if any.
    pub config_file: Option<PathBuf>,
    /// Every setting, in the order of the configuration table.
    pub config: Vec<Setting>,
    /// Settings `sync` and `validate` need that are not set.
    pub missing: Vec<&'static str>,
    pub auth: AuthState,
    pub state_dir: PathBuf,
    /// What the state dir's history and lock say.
    #[serde(flatten)]
    pub runs: Runs,
}

/// What one state dir's history and lock say: the latest runs, the lock,
/// how recent syncs went, and the `--max-age` verdict.
#[derive(Debug, Serialize)]
pub struct Runs {
    /// The latest run of any command.
    pub last_run: Option<RunSummary>,
    /// The latest `sync` (not a dry run), whatever its outcome.
    pub last_sync: Option<RunSummary>,
    /// The latest `sync` whose outcome is `success`.
    pub last_success: Option<RunSummary>,
    pub lock: LockView,
    /// How the latest syncs went.
    pub recent: Recent,
    /// Present with `--max-age`.
    pub max_age: Option<MaxAge>,
}

/// One setting in effect.
#[derive(Debug, Serialize)]
pub struct Setting {
    pub key: &'static str,
    /// The value (masked for secrets); `null` when not set.
    pub value: Value,
    /// `flag`, `env`, `file` or `default`.
    pub origin: &'static str,
    /// The environment variable, when the origin is `env`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variable: Option<&'static str>,
    #[serde(skip)]
    origin_text: String,
}

/// One run from the history, with its age.
#[derive(Debug, Serialize)]
pub struct RunSummary {
    pub id: String,
    pub command: String,
    pub outcome: String,
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    pub duration_ms: u64,
    /// Seconds since it finished.
    pub age_seconds: i64,
    pub error: Option<String>,
}

/// Whether a run holds the lock.
#[derive(Debug, Serialize)]
pub struct LockView {
    pub held: bool,
    /// The holder, when held and readable.
    pub holder: Option<Holder>,
}

/// How the latest syncs went (at most [`RECENT_RUNS`]).
#[derive(Debug, Default, PartialEq, Serialize)]
pub struct Recent {
    /// Syncs counted (dry runs and other commands are not).
    pub runs: usize,
    pub succeeded: usize,
    /// `succeeded / runs`; `null` when there is no run.
    pub success_rate: Option<f64>,
    /// Median duration, in milliseconds.
    pub median_duration_ms: Option<u64>,
    /// Median of the runs' mean request latency, in milliseconds.
    pub median_mean_latency_ms: Option<f64>,
    /// Median of the runs' 95th-percentile request latency, in milliseconds.
    pub median_p95_latency_ms: Option<f64>,
    /// Requests sent again, and 429 answers, over these runs.
    pub retries: u64,
    pub throttled: u64,
}

/// The `--max-age` verdict.
#[derive(Debug, Serialize)]
pub struct MaxAge {
    pub limit_seconds: u64,
    /// Age of the last successful sync, `null` when there is none.
    pub last_success_age_seconds: Option<i64>,
    /// `false` makes the command exit 4.
    pub ok: bool,
}

pub fn run(ctx: &Context, args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let selection = ctx.selection(&args.select)?;
    if selection.from_tables {
        return pairs::run(ctx, args, &selection);
    }
    let settings = ctx.settings()?;
    let history = state::read_history(&settings.state_dir)?;
    let lock = state::lock_state(&settings.state_dir)?;
    let report = build(&settings, &history, lock, Utc::now(), args.max_age);
    // A monitoring check (`-q status --max-age D`) wants one line: the
    // verdict, whichever it is; the exit code says the rest.
    let check_only = ctx.global.quiet && !args.json;
    let text = match &report.runs.max_age {
        _ if args.json => serde_json::to_string_pretty(&report)? + "\n",
        Some(m) if check_only => verdict(m),
        _ => render_text(&report),
    };
    print_stdout(&text)?;
    match &report.runs.max_age {
        Some(m) if !m.ok && check_only => {
            Ok(ExitCode::from(Failure::Problems(String::new()).exit_code()))
        }
        Some(m) if !m.ok => {
            let failure = Failure::Problems(match m.last_success_age_seconds {
                Some(age) => format!(
                    "the last successful sync finished {} ago, longer than --max-age {}. \
                     Check `calsync history` for the runs since.",
                    human_duration_secs(age.max(0).unsigned_abs()),
                    limit(m)
                ),
                None => format!(
                    "no successful sync is recorded in {}; --max-age {} cannot be met. \
                     Check `calsync history`.",
                    state::history_path(&settings.state_dir).display(),
                    limit(m)
                ),
            });
            eprintln!("calsync: {failure}");
            Ok(ExitCode::from(failure.exit_code()))
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// The `--max-age` limit as it was given (`1h`, `90m` → `1h30m`).
pub(super) fn limit(m: &MaxAge) -> String {
    config::format_duration(Duration::from_secs(m.limit_seconds))
}

/// The `--max-age` verdict in one line.
fn verdict(m: &MaxAge) -> String {
    match m.last_success_age_seconds {
        Some(age_s) => format!(
            "Last successful sync {}: {} --max-age {}.\n",
            age(age_s),
            if m.ok { "within" } else { "OLDER than" },
            limit(m)
        ),
        None => format!(
            "No successful sync recorded: --max-age {} not met.\n",
            limit(m)
        ),
    }
}

/// Assembles the report; `history` is oldest first, as read.
pub fn build(
    settings: &Settings,
    history: &[HistoryEntry],
    lock: LockState,
    now: DateTime<Utc>,
    max_age: Option<Duration>,
) -> StatusReport {
    StatusReport {
        config_file: settings.config_path.clone(),
        config: settings_in_effect(settings),
        missing: missing(settings),
        auth: if settings.uses_graph() {
            auth_state(&AuthConfig::from(settings))
        } else {
            AuthState {
                method: "none".into(),
                account: None,
                token_store: None,
                token_location: None,
                access_token_expires: None,
                refresh_token_present: false,
                scopes: None,
                note: Some(
                    "no sign-in is needed: neither side is a Microsoft Graph calendar".into(),
                ),
            }
        },
        state_dir: settings.state_dir.clone(),
        runs: runs(history, lock, now, max_age),
    }
}

/// What `history` (oldest first, as read) and `lock` say at `now`.
pub fn runs(
    history: &[HistoryEntry],
    lock: LockState,
    now: DateTime<Utc>,
    max_age: Option<Duration>,
) -> Runs {
    let summary = |e: &HistoryEntry| RunSummary {
        id: e.id.clone(),
        command: e.command.clone(),
        outcome: e.outcome.clone(),
        started: e.started,
        finished: e.finished,
        duration_ms: e.duration_ms,
        age_seconds: (now - e.finished).num_seconds(),
        error: e.error.clone(),
    };
    let last_sync = history.iter().rev().find(|e| is_sync(e));
    let last_success = last_successful_sync(history);
    let max_age = max_age.map(|limit| MaxAge {
        limit_seconds: limit.as_secs(),
        last_success_age_seconds: last_success.map(|e| (now - e.finished).num_seconds()),
        ok: !too_old(last_success.map(|e| e.finished), now, limit),
    });
    Runs {
        last_run: history.last().map(summary),
        last_sync: last_sync.map(summary),
        last_success: last_success.map(summary),
        lock: match lock {
            LockState::Free => LockView {
                held: false,
                holder: None,
            },
            LockState::Held(holder) => LockView { held: true, holder },
        },
        recent: recent(history),
        max_age,
    }
}

/// A real sync: not a dry run, not another command.
fn is_sync(e: &HistoryEntry) -> bool {
    e.command == "sync"
}

/// The latest sync whose outcome is `success`.
pub fn last_successful_sync(history: &[HistoryEntry]) -> Option<&HistoryEntry> {
    history
        .iter()
        .rev()
        .find(|e| is_sync(e) && e.outcome == "success")
}

/// Whether a last success that finished at `finished` is older than `limit`
/// at `now`. No success at all is too old; exactly `limit` old is not.
pub fn too_old(finished: Option<DateTime<Utc>>, now: DateTime<Utc>, limit: Duration) -> bool {
    match finished {
        None => true,
        Some(t) => match chrono::Duration::from_std(limit) {
            Ok(limit) => now - t > limit,
            // A limit beyond chrono's range: nothing is that old.
            Err(_) => false,
        },
    }
}

/// The summary of the latest [`RECENT_RUNS`] syncs.
pub fn recent(history: &[HistoryEntry]) -> Recent {
    let runs: Vec<&HistoryEntry> = history
        .iter()
        .rev()
        .filter(|e| is_sync(e))
        .take(RECENT_RUNS)
        .collect();
    if runs.is_empty() {
        return Recent::default();
    }
    let succeeded = runs.iter().filter(|e| e.outcome == "success").count();
    let mut durations: Vec<u64> = runs.iter().map(|e| e.duration_ms).collect();
    durations.sort_unstable();
    let median_f = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        median(&v)
    };
    Recent {
        runs: runs.len(),
        succeeded,
        success_rate: Some(succeeded as f64 / runs.len() as f64),
        median_duration_ms: durations.get(durations.len() / 2).copied(),
        median_mean_latency_ms: median_f(runs.iter().map(|e| e.metrics.mean_latency_ms).collect()),
        median_p95_latency_ms: median_f(runs.iter().map(|e| e.metrics.p95_latency_ms).collect()),
        retries: runs.iter().map(|e| e.metrics.retries).sum(),
        throttled: runs.iter().map(|e| e.metrics.throttled).sum(),
    }
}

fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// What `sync` needs that is not set (as `Settings::require_graph` checks;
/// nothing when neither side is a Graph calendar).
fn missing(s: &Settings) -> Vec<&'static str> {
    let mut m = Vec::new();
    if !s.uses_graph() {
        return m;
    }
    if s.tenant_id.is_none() {
        m.push("tenant_id");
    }
    if s.client_id.is_none() {
        m.push("client_id");
    }
    if s.uses_client_credentials()
        && s.mailbox
            .as_deref()
            .is_none_or(|v| v.eq_ignore_ascii_case("me"))
    {
        m.push("mailbox");
    }
    m
}

/// The value of a setting as shown; secrets masked; `Null` when unset.
/// `config` is the config file; every other key is the key table's.
fn value_of(s: &Settings, key: &str) -> Value {
    match key {
        "config" => json!(s.config_path.as_ref().map(|p| p.display().to_string())),
        _ => config::key(key).map_or(Value::Null, |k| (k.show)(s)),
    }
}

fn settings_in_effect(s: &Settings) -> Vec<Setting> {
    // The config file, then the keys in the key table's status order, then
    // anything else the loader recorded an origin for.
    let mut keys: Vec<&'static str> = vec!["config"];
    keys.extend(config::status_order().iter().map(|k| k.name));
    let known = keys.clone();
    keys.extend(s.origins.keys().filter(|k| !known.contains(k)));
    keys.into_iter()
        .map(|key| {
            let origin = s.origins.get(key).copied().unwrap_or(Origin::Default);
            let (name, variable) = match origin {
                Origin::Flag => ("flag", None),
                Origin::Env(var) => ("env", Some(var)),
                Origin::File => ("file", None),
                Origin::Default => ("default", None),
            };
            Setting {
                key,
                value: value_of(s, key),
                origin: name,
                variable,
                origin_text: origin.to_string(),
            }
        })
        .collect()
}

fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%SZ").to_string()
}

pub(super) fn age(secs: i64) -> String {
    if secs < 0 {
        "in the future; check the clock".to_string()
    } else {
        format!("{} ago", human_duration_secs(secs.unsigned_abs()))
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::Null => "(not set)".to_string(),
        Value::String(s) => s.clone(),
        Value::Array(a) if a.is_empty() => "[]".to_string(),
        other => other.to_string(),
    }
}

/// The report for a person.
pub fn render_text(r: &StatusReport) -> String {
    let mut out = render_setup(r);
    runs_text(r, &mut out);
    out
}

/// The configuration and sign-in sections of the text.
pub(super) fn render_setup(r: &StatusReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Configuration");
    let values: Vec<String> = r.config.iter().map(|s| value_text(&s.value)).collect();
    let kw = r.config.iter().map(|s| s.key.len()).max().unwrap_or(0);
    let vw = values
        .iter()
        .map(|v| v.chars().count())
        .max()
        .unwrap_or(0)
        .min(60);
    for (s, v) in r.config.iter().zip(&values) {
        let pad = vw.saturating_sub(v.chars().count());
        let _ = writeln!(
            out,
            "  {:<kw$}  {v}{}  {}",
            s.key,
            " ".repeat(pad),
            s.origin_text
        );
    }
    if !r.missing.is_empty() {
        let _ = writeln!(
            out,
            "  Missing for sync and validate: {}",
            r.missing.join(", ")
        );
    }

    let a = &r.auth;
    let _ = writeln!(out, "\nSign-in");
    let store = a
        .token_store
        .as_deref()
        .map(|s| format!(", token store {s}"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "  method {}{store}{}",
        a.method,
        a.account
            .as_deref()
            .map(|acc| format!(", account {acc}"))
            .unwrap_or_default()
    );
    if let Some(place) = &a.token_location {
        let _ = writeln!(out, "  tokens in {place}");
    }
    if let Some(scopes) = &a.scopes {
        let _ = writeln!(out, "  permissions {scopes}");
    }
    if let Some(t) = a.access_token_expires {
        let _ = writeln!(out, "  access token expires {}", time(t));
    }
    if a.refresh_token_present {
        let _ = writeln!(out, "  refresh token stored");
    }
    if let Some(note) = &a.note {
        let _ = writeln!(out, "  {note}");
    }
    out
}

/// The runs section of the text.
fn runs_text(report: &StatusReport, out: &mut String) {
    let _ = writeln!(out, "\nRuns (state dir {})", report.state_dir.display());
    let r = &report.runs;
    let run_line = |label: &str, run: &Option<RunSummary>| match run {
        Some(e) => format!(
            "  {label:<13} {} {} at {} ({}), took {}{}",
            e.command,
            e.outcome,
            time(e.finished),
            age(e.age_seconds),
            human_duration_ms(e.duration_ms),
            e.error
                .as_deref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        ),
        None => format!("  {label:<13} none recorded"),
    };
    let _ = writeln!(out, "{}", run_line("last run", &r.last_run));
    let _ = writeln!(out, "{}", run_line("last sync", &r.last_sync));
    let _ = writeln!(out, "{}", run_line("last success", &r.last_success));
    let lock = match (&r.lock.holder, r.lock.held) {
        (_, false) => "free".to_string(),
        (Some(h), true) => format!(
            "held by process {} on {} (run {}, started {})",
            h.pid,
            h.host,
            h.run_id,
            time(h.started)
        ),
        (None, true) => "held (the holder is not readable)".to_string(),
    };
    let _ = writeln!(out, "  {:<13} {lock}", "lock");
    let rc = &r.recent;
    if rc.runs > 0 {
        let _ = writeln!(
            out,
            "  {:<13} {} of the last {} syncs succeeded ({:.0}%); typical duration {}; \
             request latency mean {:.0} ms, p95 {:.0} ms; {} retries, {} throttled",
            "recent",
            rc.succeeded,
            rc.runs,
            rc.success_rate.unwrap_or(0.0) * 100.0,
            human_duration_ms(rc.median_duration_ms.unwrap_or(0)),
            rc.median_mean_latency_ms.unwrap_or(0.0),
            rc.median_p95_latency_ms.unwrap_or(0.0),
            rc.retries,
            rc.throttled
        );
    }
    if let Some(m) = &r.max_age {
        let _ = write!(out, "\n{}", verdict(m));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Counts, RunMetrics};
    use chrono::TimeZone;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, h, m, s).unwrap()
    }

    fn entry(command: &str, outcome: &str, finished: DateTime<Utc>, ms: u64) -> HistoryEntry {
        HistoryEntry {
            pair: None,
            id: format!("{command}-{outcome}-{finished}"),
            command: command.into(),
            started: finished,
            finished,
            duration_ms: ms,
            outcome: outcome.into(),
            counts: Counts::default(),
            error: None,
            metrics: RunMetrics {
                mean_latency_ms: ms as f64 / 10.0,
                p95_latency_ms: ms as f64 / 5.0,
                retries: 1,
                ..RunMetrics::default()
            },
        }
    }

    #[test]
    fn max_age_boundary_is_inclusive_and_no_success_is_too_old() {
        let now = at(12, 0, 0);
        let limit = Duration::from_secs(2 * 3600);
        assert!(!too_old(Some(at(10, 0, 0)), now, limit), "exactly 2h");
        assert!(too_old(Some(at(9, 59, 59)), now, limit), "2h and 1s");
        assert!(!too_old(Some(at(10, 0, 1)), now, limit));
        assert!(too_old(None, now, limit));
        assert!(!too_old(
            Some(at(0, 0, 0)),
            now,
            Duration::from_secs(u64::MAX)
        ));
    }

    #[test]
    fn only_real_successful_syncs_count_as_the_last_success() {
        let history = vec![
            entry("sync", "success", at(8, 0, 0), 1000),
            entry("sync", "failed", at(9, 0, 0), 1000),
            entry("sync --dry-run", "dry_run", at(10, 0, 0), 1000),
            entry("validate", "clean", at(11, 0, 0), 1000),
            entry("sync", "partial", at(11, 30, 0), 1000),
        ];
        let last = last_successful_sync(&history).unwrap();
        assert_eq!(last.finished, at(8, 0, 0));
        assert!(last_successful_sync(&history[1..]).is_none());
    }

    #[test]
    fn recent_summarises_the_latest_syncs_only() {
        let mut history = vec![entry("sync", "failed", at(1, 0, 0), 99_000)];
        for i in 0..RECENT_RUNS as u32 {
            let outcome = if i % 4 == 0 { "failed" } else { "success" };
            history.push(entry("sync", outcome, at(2, i, 0), 1000 + u64::from(i)));
            history.push(entry("validate", "clean", at(2, i, 30), 5));
        }
        let r = recent(&history);
        assert_eq!(r.runs, RECENT_RUNS);
        assert_eq!(r.succeeded, 15);
        assert_eq!(r.success_rate, Some(0.75));
        assert_eq!(r.median_duration_ms, Some(1010));
        assert_eq!(r.retries, RECENT_RUNS as u64);
        assert_eq!(recent(&[]), Recent::default());
    }
}
