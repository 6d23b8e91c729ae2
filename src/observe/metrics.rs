//! The metrics of a run in the Prometheus text exposition format (version
//! 0.0.4), as node_exporter's textfile collector and the Pushgateway read it.
//!
//! A run is one process, so every metric is a gauge of the last run of its
//! command (and pair): `calsync_last_run_created`, not a `_total` counter,
//! which would have to add up across runs. Each series carries a `command`
//! label (`sync` or `validate`) and, for a config with `[[pair]]` tables, a
//! `pair` label; a config without pairs has no `pair` label.

use super::{Detail, RunEnd};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One metric family: its name and HELP text. Every family is a gauge.
struct Family {
    name: &'static str,
    help: &'static str,
}

const fn family(name: &'static str, help: &'static str) -> Family {
    Family { name, help }
}

/// Every family calsync writes, in the order written.
const FAMILIES: &[Family] = &[
    family(
        "calsync_last_run_timestamp_seconds",
        "When the last run of the command ended, in seconds since the Unix epoch.",
    ),
    family(
        "calsync_last_success_timestamp_seconds",
        "When the last successful run of the command (sync: success; validate: clean) ended, in seconds since the Unix epoch.",
    ),
    family(
        "calsync_last_run_outcome",
        "The outcome of the last run: 1 for the label that applies, 0 for the others.",
    ),
    family(
        "calsync_last_run_exit_code",
        "The exit code of the last run (of the pair, for a config with pairs).",
    ),
    family(
        "calsync_last_run_duration_seconds",
        "How long the last run took.",
    ),
    family("calsync_last_run_created", "Copies the last sync created."),
    family("calsync_last_run_updated", "Copies the last sync updated."),
    family("calsync_last_run_deleted", "Copies the last sync deleted."),
    family(
        "calsync_last_run_unchanged",
        "Copies the last sync left unchanged.",
    ),
    family(
        "calsync_last_run_failed_writes",
        "Writes of the last sync that failed after retries.",
    ),
    family(
        "calsync_last_run_skipped",
        "Source events the last sync did not copy, by the first filter rule each failed.",
    ),
    family(
        "calsync_last_run_problems",
        "Problems the last validate found in the target calendar, by kind.",
    ),
    family(
        "calsync_source_public_events",
        "Public source events in the window, as the last run saw them.",
    ),
    family(
        "calsync_target_copies",
        "Copies in the target calendar's window, as the last run left or found them.",
    ),
    family(
        "calsync_last_run_graph_requests",
        "HTTP requests the last run sent to Microsoft Graph, retries included.",
    ),
    family(
        "calsync_last_run_graph_retries",
        "Requests the last run sent to Microsoft Graph again.",
    ),
    family(
        "calsync_last_run_graph_throttled",
        "Throttled (429) answers of Microsoft Graph in the last run.",
    ),
    family(
        "calsync_last_run_graph_latency_mean_seconds",
        "Mean latency of the last run's Microsoft Graph requests.",
    ),
    family(
        "calsync_last_run_graph_latency_p95_seconds",
        "95th percentile latency of the last run's Microsoft Graph requests.",
    ),
];

/// The outcomes a command's runs can have (those of the run history, plus
/// `locked` for a run that found another holding the lock).
pub fn outcomes(command: &str) -> &'static [&'static str] {
    match command {
        "validate" => &[
            "clean",
            "problems",
            "failed",
            "interrupted",
            "timed_out",
            "locked",
        ],
        _ => &[
            "success",
            "dry_run",
            "partial",
            "refused",
            "failed",
            "interrupted",
            "timed_out",
            "locked",
        ],
    }
}

/// Whether an outcome counts for `calsync_last_success_timestamp_seconds`.
pub fn is_success(outcome: &str) -> bool {
    matches!(outcome, "success" | "clean")
}

/// Which command and pair a series is of.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Group {
    pub command: String,
    pub pair: Option<String>,
}

/// One sample: a family's name, its labels besides `command` and `pair`,
/// and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub group: Group,
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// The samples of one run that ended: `last_success` is when the last
/// successful run of its command and pair ended, if any did.
pub fn samples(end: &RunEnd<'_>, group: &Group, last_success: Option<f64>) -> Vec<Sample> {
    let mut out = Vec::new();
    let mut put = |name: &str, labels: &[(&str, &str)], value: f64| {
        out.push(Sample {
            group: group.clone(),
            name: name.to_owned(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            value,
        });
    };
    put("calsync_last_run_timestamp_seconds", &[], end.finished);
    if let Some(t) = last_success {
        put("calsync_last_success_timestamp_seconds", &[], t);
    }
    for outcome in outcomes(&group.command) {
        let one = if *outcome == end.outcome { 1.0 } else { 0.0 };
        put("calsync_last_run_outcome", &[("outcome", outcome)], one);
    }
    if !outcomes(&group.command).contains(&end.outcome) {
        put("calsync_last_run_outcome", &[("outcome", end.outcome)], 1.0);
    }
    put("calsync_last_run_exit_code", &[], f64::from(end.exit_code));
    put(
        "calsync_last_run_duration_seconds",
        &[],
        end.duration_seconds,
    );
    let metrics = match &end.detail {
        Detail::Failed => None,
        Detail::Sync(report) => {
            let c = &report.counts;
            put("calsync_last_run_created", &[], c.created as f64);
            put("calsync_last_run_updated", &[], c.updated as f64);
            put("calsync_last_run_deleted", &[], c.deleted as f64);
            put("calsync_last_run_unchanged", &[], c.unchanged as f64);
            put("calsync_last_run_failed_writes", &[], c.failed as f64);
            let mut recorded = 0;
            for (reason, n) in &c.skipped {
                recorded += n;
                let name = serde_json::to_value(reason)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_else(|| "other".to_owned());
                put("calsync_last_run_skipped", &[("reason", &name)], *n as f64);
            }
            let unrecorded = c.skipped_non_public.saturating_sub(recorded);
            if unrecorded > 0 {
                put(
                    "calsync_last_run_skipped",
                    &[("reason", "not_recorded")],
                    unrecorded as f64,
                );
            }
            // Every public source event in the window is created, updated
            // or left as it was (or its write failed).
            let public = c.created + c.updated + c.unchanged + c.failed;
            put("calsync_source_public_events", &[], public as f64);
            if !report.dry_run && c.failed == 0 {
                let copies = c.created + c.updated + c.unchanged;
                put("calsync_target_copies", &[], copies as f64);
            }
            Some(&report.metrics)
        }
        Detail::Validate(report) => {
            for kind in crate::check::ProblemKind::ALL {
                let name = serde_json::to_value(kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_else(|| kind.to_string());
                put(
                    "calsync_last_run_problems",
                    &[("kind", &name)],
                    report.counts.get(kind) as f64,
                );
            }
            let checked = &report.checked;
            put(
                "calsync_source_public_events",
                &[],
                checked.public_source_events as f64,
            );
            put(
                "calsync_target_copies",
                &[],
                checked.managed_in_window as f64,
            );
            Some(&report.metrics)
        }
    };
    if let Some(m) = metrics {
        put("calsync_last_run_graph_requests", &[], m.requests as f64);
        put("calsync_last_run_graph_retries", &[], m.retries as f64);
        put("calsync_last_run_graph_throttled", &[], m.throttled as f64);
        put(
            "calsync_last_run_graph_latency_mean_seconds",
            &[],
            m.mean_latency_ms / 1000.0,
        );
        put(
            "calsync_last_run_graph_latency_p95_seconds",
            &[],
            m.p95_latency_ms / 1000.0,
        );
    }
    out
}

/// The exposition text of `samples`: each family's HELP and TYPE lines,
/// then its samples, families in [`FAMILIES`] order, each family's
/// samples ordered by command and pair. Samples of unknown families are
/// left out.
pub fn render(samples: &[Sample]) -> String {
    let mut text = String::new();
    for family in FAMILIES {
        let mut of: Vec<&Sample> = samples.iter().filter(|s| s.name == family.name).collect();
        if of.is_empty() {
            continue;
        }
        of.sort_by(|a, b| a.group.cmp(&b.group));
        let _ = writeln!(text, "# HELP {} {}", family.name, family.help);
        let _ = writeln!(text, "# TYPE {} gauge", family.name);
        for s in of {
            let mut labels = vec![("command", s.group.command.as_str())];
            if let Some(pair) = &s.group.pair {
                labels.push(("pair", pair));
            }
            labels.extend(s.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            let inner: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            let _ = writeln!(
                text,
                "{}{{{}}} {}",
                s.name,
                inner.join(","),
                number(s.value)
            );
        }
    }
    text
}

/// A label value escaped as the text format wants: `\\`, `\"`, `\n`.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn unescape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A value as the text format writes it: integers without a fraction.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

/// Reads back the samples of a file [`render`] wrote: lines of known
/// families with a `command` label. Anything else is ignored (the file is
/// then rewritten without it).
pub fn parse(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(s) = parse_line(line) {
            out.push(s);
        }
    }
    out
}

fn parse_line(line: &str) -> Option<Sample> {
    let (name, rest) = line.split_once('{')?;
    if !FAMILIES.iter().any(|f| f.name == name) {
        return None;
    }
    let (inner, value) = rest.rsplit_once('}')?;
    let value: f64 = value.split_whitespace().next()?.parse().ok()?;
    let mut labels = BTreeMap::new();
    let mut order = Vec::new();
    let mut rest = inner;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"")?;
        // The value ends at the first quote that is not escaped.
        let mut end = None;
        let mut escaped = false;
        for (i, c) in after.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => {
                    end = Some(i);
                    break;
                }
                _ => escaped = false,
            }
        }
        let end = end?;
        let key = key.trim().to_owned();
        order.push(key.clone());
        labels.insert(key, unescape(&after[..end]));
        rest = after[end + 1..].trim_start_matches(',');
    }
    let command = labels.remove("command")?;
    let pair = labels.remove("pair");
    Some(Sample {
        group: Group { command, pair },
        name: name.to_owned(),
        labels: order
            .into_iter()
            .filter_map(|k| labels.remove(&k).map(|v| (k, v)))
            .collect(),
        value,
    })
}

#[cfg(test)]
mod tests;
