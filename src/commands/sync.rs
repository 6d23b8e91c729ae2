//! `calsync sync`: one run of the synchronisation.

use super::{Context, print_stdout, runtime};
use crate::cli::SyncArgs;
use crate::error::Failure;
use crate::logging;
use crate::run::{self, SyncOptions, report};
use std::process::ExitCode;

pub fn run(ctx: &Context, args: &SyncArgs) -> anyhow::Result<ExitCode> {
    let settings = ctx.settings()?;
    let runtime = runtime()?;
    let interrupt = {
        let _inside = runtime.enter();
        super::stop::listen()
    };
    let report = runtime.block_on(run::run(
        &settings,
        SyncOptions {
            interrupt: Some(interrupt),
            dry_run: args.dry_run,
            force: args.force,
            full: args.full,
            // Progress never mixes with the one JSON document of --json.
            progress: if args.json {
                None
            } else {
                logging::progress_display()
            },
        },
    ))?;
    let text = if args.json {
        serde_json::to_string_pretty(&report)? + "\n"
    } else {
        report::render_sync(&report)
    };
    print_stdout(&text)?;
    let mut code = ExitCode::SUCCESS;
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
        code = ExitCode::from(partial.exit_code());
    }
    if let Some(message) = &report.history_error {
        // Even under -q and --json: a run nobody can see must not pass for
        // a success in cron's log.
        super::report_problem(ctx, message, report.history_exit_code);
        code = ExitCode::from(report.history_exit_code);
    }
    Ok(code)
}
