//! `calsync sync`: one run of the synchronisation.

use super::{Context, print_stdout, runtime};
use crate::cli::SyncArgs;
use crate::error::Failure;
use crate::sync::{self, SyncOptions};
use std::process::ExitCode;

pub fn run(ctx: &Context, args: &SyncArgs) -> anyhow::Result<ExitCode> {
    let settings = ctx.settings()?;
    let report = runtime()?.block_on(sync::run(
        &settings,
        SyncOptions {
            dry_run: args.dry_run,
            force: args.force,
        },
    ))?;
    let text = if args.json {
        serde_json::to_string_pretty(&report)? + "\n"
    } else {
        sync::render_text(&report)
    };
    print_stdout(&text)?;
    if report.failures.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(Failure::PartialWrite(format!(
            "{} of the planned writes failed after retries (listed above); the rest were \
             applied. The next run retries them.",
            report.failures.len()
        ))
        .into())
    }
}
