//! `calsync status` of a config with `[[pair]]` tables: the configuration
//! and sign-in once (they are the run's), then one line per selected pair
//! from its own state directory: its last sync, last success and lock.
//! `--max-age D` holds for every selected pair: the command exits 4 when
//! any pair's last successful sync is older than `D` (or there is none),
//! naming those pairs.

use super::{MaxAge, Runs, StatusReport, age, build, limit, print_stdout, render_setup, runs};
use crate::cli::StatusArgs;
use crate::commands::Context;
use crate::config::Selection;
use crate::error::Failure;
use crate::state::{self, LockState};
use chrono::Utc;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// One pair's part of `status --json`.
#[derive(Debug, Serialize)]
struct PairStatus {
    pair: String,
    /// Its own state directory.
    state_dir: PathBuf,
    #[serde(flatten)]
    runs: Runs,
}

/// `status --json` of a config with pairs: the configuration and sign-in of
/// the run, the shard, and every selected pair.
#[derive(Debug, Serialize)]
struct PairsStatusReport {
    config_file: Option<PathBuf>,
    config: Vec<super::Setting>,
    missing: Vec<&'static str>,
    auth: crate::auth::AuthState,
    state_dir: PathBuf,
    /// `K/N`, or `null` when not sharded.
    shard: Option<String>,
    pairs: Vec<PairStatus>,
    /// The pairs whose last success is older than `--max-age` (or that have
    /// none); present with `--max-age`.
    #[serde(skip_serializing_if = "Option::is_none")]
    too_old: Option<Vec<String>>,
}

pub fn run(ctx: &Context, args: &StatusArgs, selection: &Selection) -> anyhow::Result<ExitCode> {
    let top = ctx.settings()?;
    let now = Utc::now();
    // The run's configuration and sign-in; its runs are the pairs'.
    let setup = build(&top, &[], LockState::Free, now, None);
    let mut pairs = Vec::with_capacity(selection.pairs.len());
    for pair in &selection.pairs {
        let dir = pair.state_dir();
        let history = state::read_history(&dir)?;
        let lock = state::lock_state(&dir)?;
        pairs.push(PairStatus {
            pair: pair.name.clone(),
            state_dir: dir,
            runs: runs(&history, lock, now, args.max_age),
        });
    }
    let stale: Option<Vec<String>> = args.max_age.map(|_| {
        pairs
            .iter()
            .filter(|p| p.runs.max_age.as_ref().is_some_and(|m| !m.ok))
            .map(|p| p.pair.clone())
            .collect()
    });
    let shard =
        (selection.shard != crate::config::shard::Shard::ALL).then(|| selection.shard.to_string());
    let check_only = ctx.global.quiet && !args.json;
    let text = if args.json {
        let report = PairsStatusReport {
            config_file: setup.config_file,
            config: setup.config,
            missing: setup.missing,
            auth: setup.auth,
            state_dir: setup.state_dir,
            shard,
            pairs,
            too_old: stale.clone(),
        };
        serde_json::to_string_pretty(&report)? + "\n"
    } else if check_only && let Some(stale) = &stale {
        verdict(stale, pairs.len(), args)
    } else {
        render(
            &setup,
            &pairs,
            shard.as_deref(),
            selection,
            stale.as_deref(),
            args,
        )
    };
    print_stdout(&text)?;
    match &stale {
        Some(stale) if !stale.is_empty() => {
            if !check_only {
                let failure = Failure::Problems(format!(
                    "the last successful sync of {} is older than --max-age {} (or there is \
                     none). Check `calsync history {}` for the runs since.",
                    names(stale),
                    limit_text(args),
                    stale.join(" ")
                ));
                eprintln!("calsync: {failure}");
            }
            Ok(ExitCode::from(Failure::Problems(String::new()).exit_code()))
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}

fn limit_text(args: &StatusArgs) -> String {
    args.max_age
        .map(|d| {
            limit(&MaxAge {
                limit_seconds: d.as_secs(),
                last_success_age_seconds: None,
                ok: true,
            })
        })
        .unwrap_or_default()
}

/// "pair \"a\"" or "3 pairs (\"a\", \"b\", \"c\")".
fn names(stale: &[String]) -> String {
    let quoted: Vec<String> = stale.iter().map(|n| format!("\"{n}\"")).collect();
    match quoted.len() {
        1 => format!("pair {}", quoted[0]),
        n => format!("{n} pairs ({})", quoted.join(", ")),
    }
}

/// The `--max-age` verdict in one line, for `-q`.
fn verdict(stale: &[String], total: usize, args: &StatusArgs) -> String {
    if stale.is_empty() {
        format!(
            "Every one of the {total} pairs synced successfully within --max-age {}.\n",
            limit_text(args)
        )
    } else {
        format!(
            "{} of {total} pairs have no successful sync within --max-age {}: {}.\n",
            stale.len(),
            limit_text(args),
            stale.join(", ")
        )
    }
}

fn render(
    setup: &StatusReport,
    pairs: &[PairStatus],
    shard: Option<&str>,
    selection: &Selection,
    stale: Option<&[String]>,
    args: &StatusArgs,
) -> String {
    let mut out = render_setup(setup);
    let of_shard = shard.map(|s| format!(" of shard {s}")).unwrap_or_default();
    let _ = writeln!(
        out,
        "\nPairs: {} of {}{of_shard} (state in {})",
        pairs.len(),
        selection.total,
        setup.state_dir.join("pairs").display()
    );
    let width = pairs.iter().map(|p| p.pair.len()).max().unwrap_or(0);
    for p in pairs {
        let last = match &p.runs.last_sync {
            Some(e) => format!("last sync {} {}", e.outcome, age(e.age_seconds)),
            None => "no sync recorded".to_owned(),
        };
        let success = match &p.runs.last_success {
            Some(e) if p.runs.last_sync.as_ref().is_some_and(|l| l.id == e.id) => String::new(),
            Some(e) => format!(", last success {}", age(e.age_seconds)),
            None if p.runs.last_sync.is_some() => ", no success recorded".to_owned(),
            None => String::new(),
        };
        let lock = if p.runs.lock.held {
            ", running now"
        } else {
            ""
        };
        let error = p
            .runs
            .last_sync
            .as_ref()
            .and_then(|e| e.error.as_deref())
            .map(|m| format!(": {}", crate::run::pairs::cut(m, 100)))
            .unwrap_or_default();
        let _ = writeln!(out, "  {:<width$}  {last}{success}{lock}{error}", p.pair);
    }
    if let Some(stale) = stale {
        let _ = write!(out, "\n{}", verdict(stale, pairs.len(), args));
    }
    out
}
