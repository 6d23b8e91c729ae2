//! `calsync sync`: one run of the synchronisation, of one pair or of the
//! pairs the command line selects.

use super::{Context, nothing_selected, print_stdout, runtime};
use crate::cli::SyncArgs;
use crate::config::{Selection, Settings};
use crate::error::Failure;
use crate::logging;
use crate::observe::{self, Detail, Observer, PairEnd, RunEnd};
use crate::run::report::SyncReport;
use crate::run::{self, SyncOptions, pairs, pairs_report, report};
use std::process::ExitCode;
use std::time::Instant;

pub fn run(ctx: &Context, args: &SyncArgs) -> anyhow::Result<ExitCode> {
    let selection = ctx.selection(&args.select)?;
    if selection.pairs.is_empty() {
        return nothing_selected(&selection, args.json);
    }
    if !selection.from_tables {
        return run_one(ctx, args, &selection.pairs[0].settings);
    }
    run_pairs(ctx, args, &selection)
}

/// The one pair of a config without `[[pair]]` tables.
fn run_one(ctx: &Context, args: &SyncArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let observer = Observer::new(settings, "sync");
    let runtime = runtime()?;
    runtime.block_on(observer.started());
    let result = sync_one(ctx, args, settings, &runtime);
    let (code, outcome, detail) = match &result {
        Ok((code, report)) => (*code, sync_outcome(report), Detail::Sync(report)),
        Err(e) => {
            let (code, outcome) = pairs::failure_of(e);
            (code, outcome, Detail::Failed)
        }
    };
    let end = PairEnd {
        pair: None,
        state_dir: settings.state_dir.clone(),
        end: RunEnd {
            outcome,
            exit_code: code,
            finished: observe::now_seconds(),
            duration_seconds: observer.elapsed_seconds(),
            detail,
        },
    };
    runtime.block_on(observer.finished(&[end], code));
    result.map(|(code, _)| ExitCode::from(code))
}

/// The history-style outcome of a sync that returned its report.
fn sync_outcome(report: &SyncReport) -> &'static str {
    if !report.failures.is_empty() {
        "partial"
    } else if report.dry_run {
        "dry_run"
    } else {
        "success"
    }
}

/// The run of [`run_one`]: its exit code and report.
fn sync_one(
    ctx: &Context,
    args: &SyncArgs,
    settings: &Settings,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<(u8, SyncReport)> {
    let interrupt = {
        let _inside = runtime.enter();
        super::stop::listen()
    };
    let report = runtime.block_on(run::run(
        settings,
        SyncOptions {
            interrupt: Some(interrupt),
            progress: progress(args),
            shared_graph: None,
            ..options(args)
        },
    ))?;
    let text = if args.json {
        serde_json::to_string_pretty(&report)? + "\n"
    } else {
        report::render_sync(&report)
    };
    print_stdout(&text)?;
    let mut code = 0;
    if !report.failures.is_empty() {
        let partial = Failure::PartialWrite(String::new());
        if !args.json {
            // The report above lists each failure; under --json it is the one
            // document on stdout and holds them, so nothing more is printed.
            eprintln!(
                "calsync: {} of the planned writes failed after retries (listed above); the \
                 rest were applied. The next run retries them.",
                report.failures.len()
            );
        }
        code = partial.exit_code();
    }
    if let Some(message) = &report.history_error {
        // Even under -q and --json: a run nobody can see must not pass for
        // a success in cron's log.
        super::report_problem(ctx, message, report.history_exit_code);
        code = report.history_exit_code;
    }
    Ok((code, report))
}

/// The pairs of a config with `[[pair]]` tables, run together
/// ([`pairs::each`]).
fn run_pairs(ctx: &Context, args: &SyncArgs, selection: &Selection) -> anyhow::Result<ExitCode> {
    let clock = Instant::now();
    let observer = Observer::new(&selection.pairs[0].settings, "sync");
    let runtime = runtime()?;
    runtime.block_on(observer.started());
    let interrupt = {
        let _inside = runtime.enter();
        super::stop::listen()
    };
    // Bars of many pairs at once would only flicker; one pair gets its own.
    let progress = if selection.pairs.len() == 1 {
        progress(args)
    } else {
        None
    };
    let results = runtime.block_on(pairs::each(
        selection,
        Some(interrupt),
        |settings, interrupt, shared_graph| {
            let opts = SyncOptions {
                interrupt,
                progress: progress.clone(),
                shared_graph,
                ..options(args)
            };
            async move { run::run(&settings, opts).await }
        },
    ));
    let results = match results {
        Ok(r) => r,
        Err(e) => {
            // No pair ran: the run as a whole failed.
            let (code, _) = pairs::failure_of(&e);
            runtime.block_on(observer.finished(&[], code));
            return Err(e);
        }
    };
    let duration_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
    let code = pairs_report::sync_exit_code(&results);
    let text = if args.json {
        serde_json::to_string_pretty(&pairs_report::sync_json(
            &results,
            selection.shard,
            duration_ms,
        ))? + "\n"
    } else {
        pairs_report::render_sync_pairs(&results, selection.shard, duration_ms)
    };
    print_stdout(&text)?;
    let failed = results
        .iter()
        .filter(|r| {
            r.result.as_ref().map_or(true, |rep| {
                !rep.failures.is_empty() || rep.history_error.is_some()
            })
        })
        .count();
    if failed > 0 && !args.json {
        let message = if code >= 128 {
            format!(
                "the run was stopped by a signal; {failed} of {} pairs did not succeed \
                 (listed above), and the next run picks them up.",
                results.len()
            )
        } else {
            format!(
                "{failed} of {} pairs did not succeed (listed above); the others ran to the \
                 end. The exit code is the most severe of theirs.",
                results.len()
            )
        };
        super::report_problem(ctx, &message, code);
    }
    let finished = observe::now_seconds();
    let ends: Vec<PairEnd<'_>> = results
        .iter()
        .map(|r| {
            let (exit_code, outcome) = pairs_report::sync_code(&r.result);
            let detail = match &r.result {
                Ok(report) => Detail::Sync(report),
                Err(_) => Detail::Failed,
            };
            PairEnd {
                pair: Some(r.name.as_str()),
                state_dir: pair_state_dir(selection, &r.name),
                end: RunEnd {
                    outcome,
                    exit_code,
                    finished,
                    duration_seconds: observer.elapsed_seconds(),
                    detail,
                },
            }
        })
        .collect();
    runtime.block_on(observer.finished(&ends, code));
    Ok(ExitCode::from(code))
}

/// The state dir of the pair `name`, whose history holds its runs.
pub(super) fn pair_state_dir(selection: &Selection, name: &str) -> std::path::PathBuf {
    selection
        .pairs
        .iter()
        .find(|p| p.name == name)
        .map_or_else(std::path::PathBuf::new, |p| {
            pairs::run_settings(p).state_dir
        })
}

/// What the command line asks of each run.
fn options(args: &SyncArgs) -> SyncOptions {
    SyncOptions {
        dry_run: args.dry_run,
        force: args.force,
        full: args.full,
        ..SyncOptions::default()
    }
}

/// Where to draw progress: never under --json, whose one JSON document
/// progress must not mix with.
fn progress(args: &SyncArgs) -> Option<indicatif::MultiProgress> {
    if args.json {
        None
    } else {
        logging::progress_display()
    }
}
