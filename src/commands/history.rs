//! `calsync history`: the last runs, newest first, as an aligned table (times
//! in UTC) or, with `--json`, as one JSON array of the history's objects.
//!
//! Needs no sign-in configuration and no network. A line of the history that
//! does not parse (torn by a crash) is skipped with a warning on stderr.
//!
//! `calsync history RUN_ID` shows one run: its history line, then what it
//! changed in the target (the audit trail, [`state::audit`]). A positional
//! that is a pair's name selects that pair; one that is not, but is a run id
//! (16 lowercase hex characters), names the run, looked for in the selected
//! pairs' state directories.

use super::{Context, print_stdout};
use crate::cli::{HistoryArgs, PairArgs};
use crate::error::Failure;
use crate::state::audit::{self, Change};
use crate::state::{self, HistoryEntry};
use std::fmt::Write as _;
use std::process::ExitCode;

/// Whether `s` has the form of a run id ([`state::new_run_id`]).
pub fn is_run_id(s: &str) -> bool {
    s.len() == 16
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

pub fn run(ctx: &Context, args: &HistoryArgs) -> anyhow::Result<ExitCode> {
    // Positionals that are no pair's name but look like a run id name a run.
    let mut select = args.select.clone();
    let mut runs = Vec::new();
    if select.pairs.iter().any(|p| is_run_id(p)) {
        let pairs = crate::config::load_pairs(&ctx.flags, ctx.env)?;
        let known = |n: &str| pairs.pairs.iter().any(|p| p.name == n);
        let (ids, names): (Vec<String>, Vec<String>) = select
            .pairs
            .iter()
            .cloned()
            .partition(|p| is_run_id(p) && !known(p));
        select.pairs = names;
        runs = ids;
    }
    match &runs[..] {
        [] => list_runs(ctx, args, &select),
        [id] => show_run(ctx, args, &select, id),
        _ => Err(Failure::Config(format!(
            "Name one run at a time: {} are all run ids.",
            runs.join(", ")
        ))
        .into()),
    }
}

/// One run's history line and changes, found in the selected pairs.
fn show_run(
    ctx: &Context,
    args: &HistoryArgs,
    select: &PairArgs,
    id: &str,
) -> anyhow::Result<ExitCode> {
    let selection = ctx.selection(select)?;
    let mut found: Option<(HistoryEntry, Vec<Change>)> = None;
    for pair in &selection.pairs {
        let dir = pair.state_dir();
        if let Some(entry) = state::read_history(&dir)?.into_iter().find(|e| e.id == id) {
            let changes = audit::read_changes(&dir)?
                .into_iter()
                .filter(|c| c.run == id)
                .collect();
            found = Some((entry, changes));
            break;
        }
    }
    let Some((entry, changes)) = found else {
        let where_ = match &selection.pairs[..] {
            [one] => format!("in {}", state::history_path(&one.state_dir()).display()),
            many => format!("in the history of any of the {} pairs selected", many.len()),
        };
        return Err(Failure::Config(format!(
            "No run {id} {where_}. `calsync history` lists the runs kept (the newest {}).",
            state::MAX_HISTORY
        ))
        .into());
    };
    let text = if args.json {
        let doc = serde_json::json!({ "run": entry, "changes": changes });
        serde_json::to_string_pretty(&doc)? + "\n"
    } else {
        let mut out = render_table(std::slice::from_ref(&entry), selection.from_tables);
        out.push('\n');
        out.push_str(&render_changes(&entry, &changes));
        out
    };
    print_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// The changes of one run as an aligned table, or a sentence when it made
/// none (or made them before the audit trail was kept).
pub fn render_changes(entry: &HistoryEntry, changes: &[Change]) -> String {
    if changes.is_empty() {
        let c = &entry.counts;
        return if entry.command != "sync" {
            format!(
                "Run {} was a `{}`: it changed nothing in the target.\n",
                entry.id, entry.command
            )
        } else if c.created + c.updated + c.deleted > 0 {
            format!(
                "Run {} changed {} events, but the audit trail holds none of its changes.\n",
                entry.id,
                c.created + c.updated + c.deleted
            )
        } else {
            format!("Run {} changed nothing in the target.\n", entry.id)
        };
    }
    let header = ["ACTION", "START", "SUBJECT", "TARGET ID", "CHANGED"];
    let rows: Vec<[String; 5]> = changes
        .iter()
        .map(|c| {
            let changed = match c.action.as_str() {
                "update" => audit::changed_names(&c.changed),
                "delete" => c
                    .reason
                    .as_deref()
                    .map(|r| format!("({r})"))
                    .unwrap_or_default(),
                _ => String::new(),
            };
            [
                c.action.clone(),
                c.start.clone(),
                truncate(&c.subject, SUBJECT_WIDTH),
                c.target_id.clone(),
                changed,
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            s.push_str(cell);
            if i + 1 < cells.len() {
                s.push_str(&" ".repeat(widths[i].saturating_sub(cell.chars().count())));
            }
        }
        s.trim_end().to_string()
    };
    let mut out = String::new();
    let _ = writeln!(out, "{}", line(&header.map(String::from)));
    for row in &rows {
        let _ = writeln!(out, "{}", line(row));
    }
    out
}

/// Longest subject shown in the table of changes (the JSON has it whole).
const SUBJECT_WIDTH: usize = 60;

fn list_runs(ctx: &Context, args: &HistoryArgs, select: &PairArgs) -> anyhow::Result<ExitCode> {
    let selection = ctx.selection(select)?;
    let mut entries = Vec::new();
    for pair in &selection.pairs {
        entries.extend(state::read_history(&pair.state_dir())?);
    }
    // Newest first, across the pairs.
    entries.sort_by_key(|e| std::cmp::Reverse(e.started));
    entries.truncate(args.limit);
    let text = if args.json {
        serde_json::to_string_pretty(&entries)? + "\n"
    } else if entries.is_empty() {
        match &selection.pairs[..] {
            [one] => format!(
                "No runs recorded yet in {}.\n",
                state::history_path(&one.state_dir()).display()
            ),
            [] => format!(
                "Shard {} holds none of the {} pairs; no history to show.\n",
                selection.shard, selection.named
            ),
            many => format!(
                "No runs recorded yet for any of the {} pairs.\n",
                many.len()
            ),
        }
    } else {
        render_table(&entries, selection.from_tables)
    };
    print_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// Longest error text shown in the table (the JSON has it whole).
const ERROR_WIDTH: usize = 80;

/// An aligned table, one run per line, in the order given; with a PAIR
/// column first when `pairs` (a config with `[[pair]]` tables).
pub fn render_table(entries: &[HistoryEntry], pairs: bool) -> String {
    let mut header = vec![
        "STARTED (UTC)",
        "COMMAND",
        "OUTCOME",
        "DURATION",
        "CREATED",
        "UPDATED",
        "DELETED",
        "ERROR",
    ];
    // Numbers are right-aligned, text left-aligned; the last column is not padded.
    let mut numeric = vec![false, false, false, true, true, true, true, false];
    if pairs {
        header.insert(0, "PAIR");
        numeric.insert(0, false);
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            let mut row = vec![
                e.started.format("%Y-%m-%d %H:%M:%S").to_string(),
                e.command.clone(),
                e.outcome.clone(),
                human_duration_ms(e.duration_ms),
                e.counts.created.to_string(),
                e.counts.updated.to_string(),
                e.counts.deleted.to_string(),
                e.error
                    .as_deref()
                    .map(|s| truncate(s, ERROR_WIDTH))
                    .unwrap_or_default(),
            ];
            if pairs {
                row.insert(0, e.pair.clone().unwrap_or_default());
            }
            row
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            let fill = widths[i].saturating_sub(cell.chars().count());
            if i == cells.len() - 1 {
                s.push_str(cell);
            } else if numeric[i] {
                s.push_str(&" ".repeat(fill));
                s.push_str(cell);
            } else {
                s.push_str(cell);
                s.push_str(&" ".repeat(fill));
            }
        }
        s.trim_end().to_string()
    };
    let mut out = String::new();
    let header: Vec<String> = header.into_iter().map(String::from).collect();
    let _ = writeln!(out, "{}", line(&header));
    for row in &rows {
        let _ = writeln!(out, "{}", line(row));
    }
    out
}

/// `850 ms`, `12.3 s`, `2m 05s`, `1h 02m`.
pub fn human_duration_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        human_duration_secs(ms / 1000)
    }
}

/// `45s`, `2m 05s`, `1h 02m`, `3d 04h`.
pub fn human_duration_secs(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m {:02}s", secs / 60, secs % 60),
        3600..86_400 => format!("{}h {:02}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d {:02}h", secs / 86_400, secs % 86_400 / 3600),
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut cut: String = s.chars().take(max - 1).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Counts, RunMetrics};
    use chrono::{TimeZone, Utc};

    fn entry(id: &str, command: &str, outcome: &str, ms: u64, error: Option<&str>) -> HistoryEntry {
        let t = Utc.with_ymd_and_hms(2026, 3, 1, 8, 5, 9).unwrap();
        HistoryEntry {
            pair: None,
            id: id.into(),
            command: command.into(),
            started: t,
            finished: t,
            duration_ms: ms,
            outcome: outcome.into(),
            counts: Counts {
                created: 12,
                updated: 3,
                deleted: 0,
                ..Counts::default()
            },
            error: error.map(String::from),
            metrics: RunMetrics::default(),
        }
    }

    #[test]
    fn table_columns_line_up_whatever_the_cell_widths() {
        let text = render_table(
            &[
                entry("a", "sync", "success", 850, None),
                entry("b", "sync --dry-run", "dry_run", 125_000, None),
                entry(
                    "c",
                    "validate",
                    "problems",
                    4_200,
                    Some("2 problems: 1 missing, 1 leak"),
                ),
            ],
            false,
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[0].starts_with("STARTED (UTC)"));
        // Every column starts at the same character offset on every line.
        for heading in ["COMMAND", "OUTCOME", "ERROR"] {
            let col = lines[0].find(heading).unwrap();
            // Lines without an error end before that column.
            for l in lines[1..].iter().filter(|l| l.len() > col) {
                assert_eq!(&l[col - 2..col], "  ", "{heading} misaligned:\n{text}");
                assert_ne!(&l[col..=col], " ", "{heading} misaligned:\n{text}");
            }
        }
        // Right-aligned numbers end under their heading.
        let created_end = lines[0].find("CREATED").unwrap() + "CREATED".len();
        assert_eq!(&lines[1][created_end - 2..created_end], "12", "{text}");
        assert!(lines[1].contains("2026-03-01 08:05:09"));
        assert!(lines[1].contains("850 ms"));
        assert!(lines[2].contains("2m 05s"));
        assert!(lines[3].ends_with("2 problems: 1 missing, 1 leak"));
    }

    #[test]
    fn long_errors_are_cut_in_the_table() {
        let long = "x".repeat(500);
        let text = render_table(&[entry("a", "sync", "failed", 10, Some(&long))], false);
        let last = text.lines().last().unwrap();
        assert!(last.ends_with('…'));
        assert!(last.chars().count() < 200);
    }

    #[test]
    fn the_table_of_pairs_names_each_run_s_pair() {
        let mut a = entry("a", "sync", "success", 10, None);
        a.pair = Some("board".into());
        let mut b = entry("b", "sync", "refused", 10, Some("guard"));
        b.pair = Some("web-team".into());
        let text = render_table(&[a, b], true);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("PAIR      STARTED (UTC)"), "{text}");
        assert!(lines[1].starts_with("board     2026-"), "{text}");
        assert!(lines[2].starts_with("web-team  2026-"), "{text}");
        assert!(!render_table(&[entry("a", "sync", "success", 10, None)], false).contains("PAIR"));
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration_ms(0), "0 ms");
        assert_eq!(human_duration_ms(999), "999 ms");
        assert_eq!(human_duration_ms(1000), "1.0 s");
        assert_eq!(human_duration_ms(59_949), "59.9 s");
        assert_eq!(human_duration_ms(60_000), "1m 00s");
        assert_eq!(human_duration_secs(3599), "59m 59s");
        assert_eq!(human_duration_secs(3600), "1h 00m");
        assert_eq!(human_duration_secs(90_061), "1d 01h");
    }
}
