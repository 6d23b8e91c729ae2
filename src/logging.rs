//! Logging to stderr through `tracing`: human text or one JSON object per line.
//!
//! The default level is `warn`; `-v` raises it to info, `-vv` to debug, `-vvv`
//! to trace, `-q` lowers it to errors only. Without `-v`/`-q`, `RUST_LOG` is
//! honoured. Nothing calsync logs contains a token, a secret or an event body.

use crate::cli::{GlobalArgs, LogFormat};
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// The filter for the flags given; `None` means "use `RUST_LOG`".
pub fn directives(verbose: u8, quiet: bool) -> Option<&'static str> {
    match (quiet, verbose) {
        (true, _) => Some("error"),
        (false, 0) => None,
        (false, 1) => Some("warn,calsync=info"),
        (false, 2) => Some("warn,calsync=debug"),
        (false, _) => Some("info,calsync=trace"),
    }
}

/// Installs the global subscriber. Safe to call once per process.
pub fn init(global: &GlobalArgs) {
    let filter = match directives(global.verbose, global.quiet) {
        Some(d) => EnvFilter::new(d),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match global.log_format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.with_target(false).try_init(),
    };
}
