//! The `calsync` binary: parse, run, map the outcome to an exit code.
//! See the library's crate documentation for the architecture.

use calsync::cli::{Cli, Command, LogFormat};
use calsync::commands::{self, Context, print_stdout};
use calsync::error::{code_of, exit_code_of};
use calsync::logging;
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(&cli.global);
    match run(&cli) {
        Ok(code) => code,
        Err(err) => {
            report_error(&err, cli.command.json(), cli.global.log_format);
            exit_code_of(&err)
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    let env = |k: &str| std::env::var(k).ok();
    let ctx = Context {
        global: &cli.global,
        flags: cli.flag_overrides(),
        env: &env,
    };
    match &cli.command {
        Command::Sync(args) => commands::sync::run(&ctx, args),
        Command::Login(args) => commands::login::run(&ctx, args),
        Command::Logout => commands::logout::run(&ctx),
        Command::Validate(args) => commands::validate::run(&ctx, args),
        Command::History(args) => commands::history::run(&ctx, args),
        Command::Status(args) => commands::status::run(&ctx, args),
        Command::Doctor(args) => commands::doctor::run(&ctx, args),
    }
}

/// One paragraph on stderr: the error and its causes. Under `--json` the one
/// document on stdout is the error object instead.
fn report_error(err: &anyhow::Error, json: bool, log_format: LogFormat) {
    let message = err.to_string();
    let causes: Vec<String> = err.chain().skip(1).map(|c| c.to_string()).collect();
    if json {
        let doc =
            serde_json::json!({ "error": message, "causes": causes, "exit_code": code_of(err) });
        let _ = print_stdout(&format!("{doc}\n"));
    }
    if log_format == LogFormat::Json {
        // Log collectors get the error as one more JSON line.
        tracing::error!(causes = ?causes, exit_code = code_of(err), "{message}");
        return;
    }
    let mut text = format!("calsync: {message}");
    for c in &causes {
        text.push_str(&format!("\n  caused by: {c}"));
    }
    eprintln!("{text}");
}
