//! `calsync explain`: why an event is or is not published, and what runs
//! did to its copy.
//!
//! For each selected pair it reads the source and the target's managed
//! copies in the window (as `validate` does: nothing is written but the
//! calendar-id cache), and finds the source events whose subject holds TEXT
//! (case-insensitive) or that start on `--at` (both, when both are given),
//! and the copies likewise. For each source event it says whether the
//! filter publishes it, and if not the first rule it fails; its copy's
//! target id; and the runs of the audit trail that created, updated or
//! deleted that copy (matched by source key). A copy whose source event is
//! not in the source is an orphan.
//!
//! What a non-public event holds is never printed: such an event is shown
//! by its time and the rule that keeps it out, nothing else. TEXT never
//! matches the subject of an event whose sensitivity keeps it out
//! (private, confidential, personal, unreadable), so that explain cannot
//! be used to probe what such a subject says: those events are found by
//! `--at` only. An event whose sensitivity is allowed but another rule
//! keeps out (cancelled, a category, show-as, `subject_exclude`) is matched
//! by TEXT, and still shown by its time and rule only.

use super::{Context, print_stdout};
use crate::cli::{ExplainArgs, PairArgs};
use crate::error::Failure;
use crate::model::{EventTime, ManagedEvent, SourceEvent};
use crate::policy::{SkipReason, skip_reason};
use crate::provider::{SourceProvider, TargetProvider};
use crate::run::sides::{self, Access};
use crate::state::{self, audit};
use chrono::NaiveDate;
use serde::Serialize;
use std::fmt::Write as _;
use std::process::ExitCode;

/// What to look for.
struct Query {
    /// Lowercased.
    text: Option<String>,
    at: Option<NaiveDate>,
}

impl Query {
    fn on_day(&self, t: &EventTime) -> bool {
        self.at.is_none_or(|d| start_date(t) == d)
    }

    fn subject(&self, subject: &str) -> bool {
        self.text
            .as_deref()
            .is_none_or(|t| subject.to_lowercase().contains(t))
    }
}

fn start_date(t: &EventTime) -> NaiveDate {
    match t {
        EventTime::Date(d) => *d,
        EventTime::Instant(i) => i.date_naive(),
    }
}

/// A run of the audit trail that touched a copy.
#[derive(Debug, Serialize)]
struct Touch {
    run: String,
    action: String,
    /// For an update, the names of the fields it changed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    changed: Vec<String>,
}

/// One source event or orphan copy found.
#[derive(Debug, Serialize)]
struct Found {
    /// `public`, `not_public` or `orphan` (a copy without a source event).
    status: &'static str,
    start: String,
    /// Only for a public event and for a copy (what the target shows).
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<String>,
    /// For a non-public event: the first filter rule it fails.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<SkipReason>,
    /// The copy in the target, if there is one.
    target_id: Option<String>,
    runs: Vec<Touch>,
}

#[derive(Debug, Serialize)]
struct PairFound {
    pair: String,
    found: Vec<Found>,
}

pub fn run(ctx: &Context, args: &ExplainArgs) -> anyhow::Result<ExitCode> {
    let at = match args.at.as_deref() {
        Some(s) => Some(
            NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| {
                Failure::Config(format!(
                    "--at {s}: give the day as YYYY-MM-DD, e.g. 2026-03-02."
                ))
            })?,
        ),
        None => None,
    };
    let text = args
        .text
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase);
    if text.is_none() && at.is_none() {
        return Err(Failure::Config("Give TEXT, --at DATE, or both.".into()).into());
    }
    let query = Query { text, at };
    let selection = ctx.selection(&PairArgs {
        pairs: args.pairs.clone(),
        ..Default::default()
    })?;
    if selection.pairs.is_empty() {
        return super::nothing_selected(&selection, args.json);
    }
    let runtime = super::runtime()?;
    let mut all = Vec::new();
    // A pair that cannot be read is told of and the others explained.
    let mut failed: Vec<(String, anyhow::Error)> = Vec::new();
    for pair in &selection.pairs {
        let settings = crate::run::pairs::run_settings(pair);
        match runtime.block_on(explain_pair(&settings, &query)) {
            Ok(found) => all.push(PairFound {
                pair: pair.name.clone(),
                found,
            }),
            // One pair alone: its error is the command's.
            Err(e) if !selection.from_tables => return Err(e),
            Err(e) => failed.push((pair.name.clone(), e)),
        }
    }
    let text = if args.json {
        let errors: Vec<serde_json::Value> = failed
            .iter()
            .map(|(name, e)| crate::run::pairs::error_json(name, e))
            .collect();
        let doc = serde_json::json!({ "pairs": all, "failed": errors });
        serde_json::to_string_pretty(&doc)? + "\n"
    } else {
        render(&all, selection.from_tables)
    };
    print_stdout(&text)?;
    if failed.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    if !args.json {
        for (name, e) in &failed {
            eprintln!(
                "calsync: pair {name} could not be explained: {}",
                crate::run::pairs::one_line(e)
            );
        }
    }
    let code = crate::run::pairs::most_severe(failed.iter().map(|(_, e)| crate::error::code_of(e)));
    Ok(ExitCode::from(code))
}

/// Reads one pair's sides and explains what matches.
async fn explain_pair(
    settings: &crate::config::Settings,
    query: &Query,
) -> anyhow::Result<Vec<Found>> {
    if settings.uses_graph() {
        settings.require_graph()?;
    }
    sides::check_files(settings)?;
    state::ensure_dir(&settings.state_dir)?;
    let client = if settings.uses_graph() {
        Some(sides::graph_client(settings)?)
    } else {
        None
    };
    let window = crate::run::window(settings);
    let (source, managed) = sides::with_sides(settings, client.as_ref(), Access::Read, async |s| {
        Ok(tokio::try_join!(
            s.source.read(&window),
            s.target.read_managed(&window)
        )?)
    })
    .await?;
    let trail = audit::read_changes(&settings.state_dir)?;
    Ok(matches(
        &source,
        &managed,
        &trail,
        &settings.policy.filter,
        query,
    ))
}

/// Whether TEXT may be matched against this non-public event's subject
/// (see the module documentation).
fn text_may_match(reason: SkipReason) -> bool {
    !matches!(
        reason,
        SkipReason::Unreadable
            | SkipReason::Private
            | SkipReason::Confidential
            | SkipReason::Personal
    )
}

fn matches(
    source: &[SourceEvent],
    managed: &[ManagedEvent],
    trail: &[audit::Change],
    filter: &crate::policy::FilterPolicy,
    query: &Query,
) -> Vec<Found> {
    let touches = |key: &str, names_only: bool| -> Vec<Touch> {
        trail
            .iter()
            .filter(|c| c.source_key == key)
            .map(|c| Touch {
                run: c.run.clone(),
                action: c.action.clone(),
                changed: if names_only || c.action == "update" {
                    c.changed.iter().map(|f| f.field.clone()).collect()
                } else {
                    Vec::new()
                },
            })
            .collect()
    };
    let copy_of = |key: &str| {
        managed
            .iter()
            .find(|m| m.marker.source_key.as_str() == key)
            .map(|m| m.target_id.clone())
    };
    // A key is published only if every reading of it passes the filter
    // (an occurrence a file lists in its series and again as a cancelled
    // or private override is one event), as the planner decides.
    let mut hidden: std::collections::HashMap<&str, SkipReason> = std::collections::HashMap::new();
    for ev in source {
        if let Some(reason) = skip_reason(ev, filter) {
            hidden.entry(ev.key.as_str()).or_insert(reason);
        }
    }
    let mut out = Vec::new();
    let mut explained: Vec<&str> = Vec::new();
    for ev in source {
        let key = ev.key.as_str();
        if !query.on_day(&ev.start) || explained.contains(&key) {
            continue;
        }
        match hidden.get(key).copied() {
            None => {
                if !query.subject(&ev.subject) {
                    continue;
                }
                out.push(Found {
                    status: "public",
                    start: crate::check::start_text(&ev.start),
                    subject: Some(ev.subject.clone()),
                    reason: None,
                    target_id: copy_of(key),
                    runs: touches(key, true),
                });
            }
            Some(reason) => {
                if query.text.is_some() && !(text_may_match(reason) && query.subject(&ev.subject)) {
                    continue;
                }
                out.push(Found {
                    status: "not_public",
                    start: crate::check::start_text(&ev.start),
                    subject: None,
                    reason: Some(reason),
                    target_id: copy_of(key),
                    runs: touches(key, true),
                });
            }
        }
        explained.push(key);
    }
    for m in managed {
        let key = m.marker.source_key.as_str();
        if explained.contains(&key)
            || !query.on_day(&m.current.start)
            || !query.subject(&m.current.subject)
        {
            continue;
        }
        let source_event = source.iter().find(|e| e.key.as_str() == key);
        let (status, reason) = match source_event {
            None => ("orphan", None),
            Some(ev) => match skip_reason(ev, filter) {
                None => ("public", None),
                Some(r) => ("not_public", Some(r)),
            },
        };
        out.push(Found {
            status,
            start: crate::check::start_text(&m.current.start),
            // What the target shows, which is public.
            subject: Some(m.current.subject.clone()),
            reason,
            target_id: Some(m.target_id.clone()),
            runs: touches(key, true),
        });
    }
    out
}

fn render(all: &[PairFound], pairs: bool) -> String {
    let mut out = String::new();
    let mut any = false;
    for p in all {
        for f in &p.found {
            any = true;
            if pairs {
                let _ = write!(out, "[{}] ", p.pair);
            }
            let what = match (f.status, &f.subject) {
                ("orphan", Some(s)) => {
                    format!(
                        "Copy \"{s}\" at {}: an orphan (no source event in the window).",
                        f.start
                    )
                }
                ("not_public", Some(s)) => format!(
                    "Copy \"{s}\" at {}: its source event is not published ({}); the next sync deletes it.",
                    f.start,
                    f.reason.map(|r| r.label()).unwrap_or_default()
                ),
                ("not_public", None) => format!(
                    "A non-public event at {} matched: not published ({}).",
                    f.start,
                    f.reason.map(|r| r.label()).unwrap_or_default()
                ),
                (_, s) => format!(
                    "\"{}\" at {}: published.",
                    s.as_deref().unwrap_or_default(),
                    f.start
                ),
            };
            let _ = writeln!(out, "{what}");
            match &f.target_id {
                Some(id) => {
                    let _ = writeln!(out, "  copy: {id}");
                }
                None if f.status == "public" => {
                    let _ = writeln!(out, "  copy: none yet (the next sync creates it)");
                }
                None => {}
            }
            for t in &f.runs {
                let changed = if t.changed.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", t.changed.join(", "))
                };
                let _ = writeln!(out, "  run {}: {}{changed}", t.run, t.action);
            }
        }
    }
    if !any {
        out.push_str("Nothing matched in the window.\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Body, EventTime, Sensitivity, ShowAs, SourceKey};
    use chrono::TimeZone;

    fn reading(key: &str, subject: &str, cancelled: bool) -> SourceEvent {
        let start = EventTime::Instant(chrono::Utc.with_ymd_and_hms(2030, 7, 4, 17, 0, 0).unwrap());
        SourceEvent {
            key: SourceKey(key.into()),
            ical_uid: None,
            subject: subject.into(),
            start,
            end: start,
            is_all_day: false,
            show_as: ShowAs::Busy,
            sensitivity: Sensitivity::Normal,
            is_cancelled: cancelled,
            categories: Vec::new(),
            location: String::new(),
            body: Body::default(),
        }
    }

    #[test]
    fn an_occurrence_read_public_and_cancelled_is_one_unpublished_event() {
        // A file lists the occurrence in its series and again as a
        // cancelled override: the planner publishes neither.
        let source = [
            reading("s:concert@20300704T170000Z", "Summer concert", false),
            reading("s:concert@20300704T170000Z", "Summer concert", true),
        ];
        let query = Query {
            text: None,
            at: Some(chrono::NaiveDate::from_ymd_opt(2030, 7, 4).unwrap()),
        };
        let found = matches(
            &source,
            &[],
            &[],
            &crate::policy::FilterPolicy::default(),
            &query,
        );
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].status, "not_public");
        assert_eq!(found[0].subject, None);
        assert_eq!(found[0].reason, Some(SkipReason::Cancelled));
    }
}
