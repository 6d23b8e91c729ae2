//! The `calsync` binary: parse, run, map the outcome to an exit code.
//! See the library's crate documentation for the architecture.

use calsync::cli::{Cli, Command};
use calsync::commands::{self, Context, print_stdout};
use calsync::error::{Failure, exit_code_of};
use calsync::logging;
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(&cli.global);
    match run(&cli) {
        Ok(code) => code,
        Err(err) => {
            report_error(&err, cli.command.json());
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
    }
}

/// One paragraph on stderr: the error and its causes. Under `--json` the one
/// document on stdout is the error object instead.
fn report_error(err: &anyhow::Error, json: bool) {
    let message = err.to_string();
    let causes: Vec<String> = err.chain().skip(1).map(|c| c.to_string()).collect();
    if json {
        let code = err
            .chain()
            .find_map(|c| c.downcast_ref::<Failure>())
            .map_or(1, Failure::exit_code);
        let doc = serde_json::json!({ "error": message, "causes": causes, "exit_code": code });
        let _ = print_stdout(&format!("{doc}\n"));
    }
    let mut text = format!("calsync: {message}");
    for c in &causes {
        text.push_str(&format!("\n  caused by: {c}"));
    }
    eprintln!("{text}");
}
