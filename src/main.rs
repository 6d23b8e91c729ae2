//! The `calsync` binary: parse, run, map the outcome to an exit code.
//! See the library's crate documentation for the architecture.

use calsync::cli::{Cli, Command, LogFormat, log_format_from_env};
use calsync::commands::{self, Context, print_stdout};
use calsync::error::{code_of, details_of, exit_code_of};
use calsync::logging;
use clap::{CommandFactory, FromArgMatches};
use std::process::ExitCode;

fn main() -> ExitCode {
    let parsed = Cli::command()
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m).map(|cli| (cli, m)));
    let (mut cli, matches) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => return usage_error(&e),
    };
    // --log-format beats CALSYNC_LOG_FORMAT, which (set and not empty)
    // beats the default.
    if matches.value_source("log_format") != Some(clap::parser::ValueSource::CommandLine) {
        match log_format_from_env(&|k| std::env::var(k).ok()) {
            Ok(Some(format)) => cli.global.log_format = format,
            Ok(None) => {}
            Err(message) => {
                let e = Cli::command().error(clap::error::ErrorKind::InvalidValue, message);
                return usage_error(&e);
            }
        }
    }
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
        Command::Explain(args) => commands::explain::run(&ctx, args),
        Command::Calendars(args) => commands::calendars::run(&ctx, args),
    }
}

/// A command line clap refused (or `--help`/`--version`, which it prints).
/// Under `--json` the one document on stdout is the error object, as for any
/// other failure; the usage text goes to stderr. Exit 2.
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
    }
    let json = std::env::args()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json");
    if json {
        let text = e.render().to_string();
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        let message = lines
            .next()
            .unwrap_or("invalid command line")
            .trim_start_matches("error: ")
            .to_string();
        let causes: Vec<String> = lines
            .filter(|l| l.starts_with("tip: "))
            .map(str::to_string)
            .collect();
        let doc = serde_json::json!({ "error": message, "causes": causes, "exit_code": 2 });
        let _ = print_stdout(&format!("{doc}\n"));
    }
    let _ = e.print();
    ExitCode::from(2)
}

/// One paragraph on stderr: the error and its causes. Under `--json` the one
/// document on stdout is the error object instead.
fn report_error(err: &anyhow::Error, json: bool, log_format: LogFormat) {
    let message = err.to_string();
    let causes: Vec<String> = err.chain().skip(1).map(|c| c.to_string()).collect();
    if json {
        let mut doc = serde_json::Map::new();
        doc.insert("error".into(), message.clone().into());
        doc.insert("causes".into(), causes.clone().into());
        doc.insert("exit_code".into(), code_of(err).into());
        if let Some(details) = details_of(err) {
            doc.extend(details.clone());
        }
        let _ = print_stdout(&format!("{}\n", serde_json::Value::Object(doc)));
    }
    if log_format == LogFormat::Json {
        // Log collectors get the error as one more JSON line.
        logging::error_line(&message, &causes, code_of(err));
        return;
    }
    let mut text = format!("calsync: {message}");
    for c in &causes {
        text.push_str(&format!("\n  caused by: {c}"));
    }
    eprintln!("{text}");
}
