//! The `calsync` binary: parse, run, map the outcome to an exit code.
//! See the library's crate documentation for the architecture.

use calsync::cli::{Cli, Command};
use calsync::config;
use calsync::error::{Failure, exit_code_of};
use calsync::{logging, sync};
use clap::Parser;
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(&cli.global);
    let json = cli.command.json();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            let code = exit_code_of(&err);
            report_error(&err, json);
            code
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let env = |k: &str| std::env::var(k).ok();
    match &cli.command {
        Command::Sync(args) => {
            let settings = config::load(&cli.flag_overrides(), &env)?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            let report = runtime.block_on(sync::run(
                &settings,
                sync::SyncOptions {
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
                    "{} of the planned writes failed after retries (listed above); the rest \
                     were applied. The next run retries them.",
                    report.failures.len()
                ))
                .into())
            }
        }
        other => Err(Failure::Config(format!(
            "`calsync {}` is not available in this build; only `calsync sync` is.",
            other.name()
        ))
        .into()),
    }
}

/// Writes to stdout; a closed pipe (`calsync sync | head`) is not an error.
fn print_stdout(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// One paragraph on stderr: the error and its causes. Under `--json` the one
/// document on stdout is the error object instead.
fn report_error(err: &anyhow::Error, json: bool) {
    let message = err.to_string();
    let causes: Vec<String> = err.chain().skip(1).map(|c| c.to_string()).collect();
    if json {
        let doc = serde_json::json!({
            "error": message,
            "causes": causes,
            "exit_code": exit_code_of_u8(err),
        });
        let _ = print_stdout(&format!("{doc}\n"));
    }
    let mut text = format!("calsync: {message}");
    for c in &causes {
        text.push_str(&format!("\n  caused by: {c}"));
    }
    eprintln!("{text}");
}

fn exit_code_of_u8(err: &anyhow::Error) -> u8 {
    err.chain()
        .find_map(|c| c.downcast_ref::<Failure>())
        .map_or(1, Failure::exit_code)
}
