//! `calsync validate`: checks that the target calendar holds exactly what
//! the source says it must (README, "calsync validate"), writing nothing to
//! either. The run is [`crate::run::validate`]; this shell prints its report
//! and turns it into the exit code.

use super::{Context, nothing_selected, print_stdout, runtime};
use crate::cli::ValidateArgs;
use crate::config::{Selection, Settings};
use crate::error::Failure;
use crate::observe::{self, Detail, Observer, PairEnd, RunEnd};
use crate::run::report::ValidateReport;
use crate::run::{pairs, pairs_report, report, validate};
use std::process::ExitCode;
use std::time::Instant;

pub fn run(ctx: &Context, args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let selection = ctx.selection(&args.select)?;
    if selection.pairs.is_empty() {
        return nothing_selected(&selection, args.json);
    }
    if !selection.from_tables {
        return run_one(ctx, args, &selection.pairs[0].settings);
    }
    run_pairs(ctx, args, &selection)
}

fn run_one(ctx: &Context, args: &ValidateArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let observer = Observer::new(settings, "validate");
    let runtime = runtime()?;
    let result = validate_one(ctx, args, settings, &runtime);
    let (code, outcome, detail) = match &result {
        Ok((code, report)) => (*code, validate_outcome(report), Detail::Validate(report)),
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

/// The history-style outcome of a validate that returned its report.
fn validate_outcome(report: &ValidateReport) -> &'static str {
    if report.clean { "clean" } else { "problems" }
}

/// The run of [`run_one`]: its exit code and report.
fn validate_one(
    ctx: &Context,
    args: &ValidateArgs,
    settings: &Settings,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<(u8, ValidateReport)> {
    let interrupt = {
        let _inside = runtime.enter();
        super::stop::listen()
    };
    let report = runtime.block_on(validate::run(settings, Some(interrupt), None))?;
    let text = if args.json {
        serde_json::to_string_pretty(&report)? + "\n"
    } else {
        report::render_validate(&report)
    };
    print_stdout(&text)?;
    if let Some(message) = &report.history_error {
        super::report_problem(ctx, message, report.history_exit_code);
    }
    if report.clean {
        Ok((report.history_exit_code, report))
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
        Ok((failure.exit_code(), report))
    }
}

fn run_pairs(
    ctx: &Context,
    args: &ValidateArgs,
    selection: &Selection,
) -> anyhow::Result<ExitCode> {
    let clock = Instant::now();
    let observer = Observer::new(&selection.pairs[0].settings, "validate");
    let runtime = runtime()?;
    let interrupt = {
        let _inside = runtime.enter();
        super::stop::listen()
    };
    let results = runtime.block_on(pairs::each(
        selection,
        Some(interrupt),
        |settings, interrupt, shared| async move {
            validate::run(&settings, interrupt, shared.as_ref()).await
        },
    ))?;
    let finished = observe::now_seconds();
    let ends: Vec<PairEnd<'_>> = results
        .iter()
        .map(|r| {
            let (exit_code, outcome) = pairs_report::validate_code(&r.result);
            let detail = match &r.result {
                Ok(report) => Detail::Validate(report),
                Err(_) => Detail::Failed,
            };
            PairEnd {
                pair: Some(r.name.as_str()),
                state_dir: super::sync::pair_state_dir(selection, &r.name),
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
    let duration_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
    let code = pairs_report::validate_exit_code(&results);
    let text = if args.json {
        serde_json::to_string_pretty(&pairs_report::validate_json(
            &results,
            selection.shard,
            duration_ms,
        ))? + "\n"
    } else {
        pairs_report::render_validate_pairs(&results, selection.shard, duration_ms)
    };
    print_stdout(&text)?;
    if code != 0 && !args.json {
        super::report_problem(
            ctx,
            "validate found problems in some pairs, or could not check them (listed above). \
             The next scheduled `calsync sync` of a pair with problems reads both calendars in \
             full and repairs its copies in the window; run `calsync sync --full NAME` to do \
             it now.",
            code,
        );
    }
    runtime.block_on(observer.finished(&ends, code));
    Ok(ExitCode::from(code))
}
