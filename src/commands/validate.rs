//! `calsync validate`: checks that the target calendar holds exactly what
//! the source says it must (README, "calsync validate"), writing nothing to
//! either. The run is [`crate::run::validate`]; this shell prints its report
//! and turns it into the exit code.

use super::{Context, print_stdout, runtime};
use crate::cli::ValidateArgs;
use crate::error::Failure;
use crate::run::{report, validate};
use std::process::ExitCode;

pub fn run(ctx: &Context, args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let settings = ctx.settings()?;
    let runtime = runtime()?;
    let interrupt = {
        let _inside = runtime.enter();
        super::stop::listen()
    };
    let report = runtime.block_on(validate::run(&settings, Some(interrupt)))?;
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
        Ok(ExitCode::from(report.history_exit_code))
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
        Ok(ExitCode::from(failure.exit_code()))
    }
}
