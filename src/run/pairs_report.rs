//! What `sync` and `validate` report when they ran the pairs of a config
//! with `[[pair]]` tables: each pair's report as one pair alone has it, and
//! a summary with a total and one line per pair that did not succeed.

use super::pairs::{PairResult, error_json, failure_of, most_severe, one_line};
use super::report::{SyncReport, ValidateReport, render_sync, render_validate};
use crate::config::shard::Shard;
use crate::policy::skipped_summary;
use crate::state::Counts;
use serde_json::{Value, json};
use std::fmt::Write as _;

/// The exit code and outcome of one pair's sync.
pub fn sync_code(r: &anyhow::Result<SyncReport>) -> (u8, &'static str) {
    match r {
        Ok(report) => {
            let mut code = 0;
            let mut outcome = if report.dry_run { "dry_run" } else { "success" };
            if !report.failures.is_empty() {
                code = 5;
                outcome = "partial";
            }
            if report.history_error.is_some() {
                code = most_severe([code, report.history_exit_code]);
            }
            (code, outcome)
        }
        Err(e) => failure_of(e),
    }
}

/// The exit code and outcome of one pair's validate.
pub fn validate_code(r: &anyhow::Result<ValidateReport>) -> (u8, &'static str) {
    match r {
        Ok(report) => {
            let (mut code, outcome) = if report.clean {
                (0, "clean")
            } else {
                (4, "problems")
            };
            if report.history_error.is_some() {
                code = most_severe([code, report.history_exit_code]);
            }
            (code, outcome)
        }
        Err(e) => failure_of(e),
    }
}

/// The exit code of a sync of several pairs: the most severe of theirs.
pub fn sync_exit_code(results: &[PairResult<SyncReport>]) -> u8 {
    most_severe(results.iter().map(|r| sync_code(&r.result).0))
}

/// The exit code of a validate of several pairs.
pub fn validate_exit_code(results: &[PairResult<ValidateReport>]) -> u8 {
    most_severe(results.iter().map(|r| validate_code(&r.result).0))
}

fn add(total: &mut Counts, c: &Counts) {
    total.created += c.created;
    total.updated += c.updated;
    total.deleted += c.deleted;
    total.unchanged += c.unchanged;
    total.skipped_non_public += c.skipped_non_public;
    total.failed += c.failed;
    for (reason, n) in &c.skipped {
        *total.skipped.entry(*reason).or_default() += n;
    }
}

fn shard_value(shard: Shard) -> Value {
    if shard == Shard::ALL {
        Value::Null
    } else {
        shard.to_string().into()
    }
}

/// " of shard 1/4", or nothing when the run is not sharded.
fn shard_text(shard: Shard) -> String {
    if shard == Shard::ALL {
        String::new()
    } else {
        format!(" of shard {shard}")
    }
}

fn plural(n: usize, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {one}s")
    }
}

/// The one JSON document of `sync --json` over several pairs.
pub fn sync_json(results: &[PairResult<SyncReport>], shard: Shard, duration_ms: u64) -> Value {
    let mut total = Counts::default();
    let pairs: Vec<Value> = results
        .iter()
        .map(|r| {
            let (code, outcome) = sync_code(&r.result);
            match &r.result {
                Ok(report) => {
                    add(&mut total, &report.counts);
                    json!({
                        "pair": r.name,
                        "exit_code": code,
                        "outcome": outcome,
                        "report": report,
                    })
                }
                Err(e) => error_json(&r.name, e),
            }
        })
        .collect();
    json!({
        "pairs": pairs,
        "counts": total,
        "shard": shard_value(shard),
        "duration_ms": duration_ms,
        "exit_code": sync_exit_code(results),
    })
}

/// The one JSON document of `validate --json` over several pairs.
pub fn validate_json(
    results: &[PairResult<ValidateReport>],
    shard: Shard,
    duration_ms: u64,
) -> Value {
    let pairs: Vec<Value> = results
        .iter()
        .map(|r| {
            let (code, outcome) = validate_code(&r.result);
            match &r.result {
                Ok(report) => json!({
                    "pair": r.name,
                    "exit_code": code,
                    "outcome": outcome,
                    "report": report,
                }),
                Err(e) => error_json(&r.name, e),
            }
        })
        .collect();
    json!({
        "pairs": pairs,
        "shard": shard_value(shard),
        "duration_ms": duration_ms,
        "exit_code": validate_exit_code(results),
    })
}

/// `text` with every line indented by two spaces.
fn indented(text: &str) -> String {
    text.lines().fold(String::new(), |mut out, l| {
        let _ = writeln!(out, "  {l}");
        out
    })
}

/// The text of a sync over several pairs: the report of each pair that
/// has something to show (a plan on a dry run, writes, failures), then the
/// total, then a line per pair that did not succeed.
pub fn render_sync_pairs(
    results: &[PairResult<SyncReport>],
    shard: Shard,
    duration_ms: u64,
) -> String {
    let mut out = String::new();
    let mut total = Counts::default();
    let mut requests = 0u64;
    let mut dry_run = false;
    let mut uses_graph = false;
    let mut not_ok: Vec<String> = Vec::new();
    for r in results {
        let (code, _) = sync_code(&r.result);
        match &r.result {
            Ok(report) => {
                add(&mut total, &report.counts);
                requests += report.metrics.requests;
                dry_run |= report.dry_run;
                uses_graph |= report.uses_graph;
                let c = &report.counts;
                let shows = c.created + c.updated + c.deleted + c.failed > 0
                    || report.guard_warning.is_some();
                if shows {
                    let _ = write!(out, "pair {}:\n{}", r.name, indented(&render_sync(report)));
                }
                if !report.failures.is_empty() {
                    not_ok.push(format!(
                        "  {}: {} of its writes failed after retries; the next run retries \
                         them (exit {code})",
                        r.name,
                        report.failures.len()
                    ));
                }
                if let Some(h) = &report.history_error {
                    not_ok.push(format!("  {}: {h} (exit {code})", r.name));
                }
            }
            Err(e) => not_ok.push(format!("  {}: {} (exit {code})", r.name, one_line(e))),
        }
    }
    let c = &total;
    let secs = duration_ms as f64 / 1000.0;
    let cost = if uses_graph {
        format!("{secs:.1} s, {requests} requests to Graph")
    } else {
        format!("{secs:.1} s")
    };
    let what = plural(results.len(), "pair");
    let shard = shard_text(shard);
    if dry_run {
        let _ = writeln!(
            out,
            "Dry run of {what}{shard}: would create {}, update {}, delete {}; {} unchanged, {}; \
             {cost}.",
            c.created,
            c.updated,
            c.deleted,
            c.unchanged,
            skipped_summary(c.skipped_non_public, &c.skipped),
        );
    } else {
        let _ = writeln!(
            out,
            "{}{shard}: created {}, updated {}, deleted {}, {} unchanged, {}{}; {cost}.",
            capitalised(&what),
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
        );
    }
    if !not_ok.is_empty() {
        let _ = writeln!(
            out,
            "{} of {what} did not succeed:",
            not_ok_count(results, |r| sync_code(r).0)
        );
        for line in not_ok {
            let _ = writeln!(out, "{line}");
        }
    }
    out
}

/// The text of a validate over several pairs: each pair's report, then a
/// line per pair that did not come out clean.
pub fn render_validate_pairs(
    results: &[PairResult<ValidateReport>],
    shard: Shard,
    duration_ms: u64,
) -> String {
    let mut out = String::new();
    let mut not_ok: Vec<String> = Vec::new();
    for r in results {
        let (code, _) = validate_code(&r.result);
        match &r.result {
            Ok(report) => {
                let _ = write!(
                    out,
                    "pair {}:\n{}",
                    r.name,
                    indented(&render_validate(report))
                );
                if !report.clean {
                    not_ok.push(format!(
                        "  {}: {} (exit {code})",
                        r.name,
                        report.counts.summary()
                    ));
                }
                if let Some(h) = &report.history_error {
                    not_ok.push(format!("  {}: {h} (exit {code})", r.name));
                }
            }
            Err(e) => not_ok.push(format!("  {}: {} (exit {code})", r.name, one_line(e))),
        }
    }
    let what = plural(results.len(), "pair");
    let clean = results.len() - not_ok_count(results, |r| validate_code(r).0);
    let _ = writeln!(
        out,
        "Validated {what}{} in {:.1} s: {clean} clean.",
        shard_text(shard),
        duration_ms as f64 / 1000.0
    );
    if !not_ok.is_empty() {
        let _ = writeln!(
            out,
            "{} of {what} did not come out clean:",
            results.len() - clean
        );
        for line in not_ok {
            let _ = writeln!(out, "{line}");
        }
    }
    out
}

fn not_ok_count<R>(results: &[PairResult<R>], code: impl Fn(&anyhow::Result<R>) -> u8) -> usize {
    results.iter().filter(|r| code(&r.result) != 0).count()
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
