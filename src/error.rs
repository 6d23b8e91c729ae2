//! Failure kinds that decide the exit code (README, "Exit codes and
//! troubleshooting").
//!
//! Code inside calsync uses `anyhow` with context; where a failure of a known
//! kind arises it is wrapped in [`Failure`], and the exit funnel in `main`
//! finds it with `downcast_ref` to choose the exit code.

use std::process::ExitCode;

/// A failure of a kind that has its own exit code.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Usage or configuration error (exit 2).
    #[error("{0}")]
    Config(String),
    /// Authentication needed or refused (exit 3).
    #[error("{0}")]
    Auth(String),
    /// `validate` found problems, or `status --max-age` found the last sync too old (exit 4).
    #[error("{0}")]
    Problems(String),
    /// The sync finished but some writes failed (exit 5).
    #[error("{0}")]
    PartialWrite(String),
    /// Refused by the mass-deletion guard (exit 6).
    #[error("{0}")]
    Guard(String),
    /// Another run holds the lock (exit 75).
    #[error("{0}")]
    Locked(String),
    /// A signal stopped the run (exit 128 + the signal's number: 130 for
    /// SIGINT, 143 for SIGTERM, as a shell reports a process the signal
    /// killed).
    #[error("{message}")]
    Interrupted { message: String, exit_code: u8 },
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Config(_) => 2,
            Failure::Auth(_) => 3,
            Failure::Problems(_) => 4,
            Failure::PartialWrite(_) => 5,
            Failure::Guard(_) => 6,
            Failure::Locked(_) => 75,
            Failure::Interrupted { exit_code, .. } => *exit_code,
        }
    }
}

/// A [`Failure`] with what the one JSON document of `--json` adds to its
/// message, e.g. the counts of the plan the mass-deletion guard refused.
#[derive(Debug, thiserror::Error)]
#[error("{failure}")]
pub struct Detailed {
    pub failure: Failure,
    /// Fields merged into the `{"error", "causes", "exit_code"}` document.
    pub details: serde_json::Map<String, serde_json::Value>,
}

/// The exit code for any error: the code of the first [`Failure`] in its
/// chain, else 1 (unexpected failure).
pub fn code_of(err: &anyhow::Error) -> u8 {
    err.chain()
        .find_map(|c| {
            c.downcast_ref::<Failure>()
                .or_else(|| c.downcast_ref::<Detailed>().map(|d| &d.failure))
        })
        .map_or(1, Failure::exit_code)
}

/// The details an error's `--json` document carries besides its message.
pub fn details_of(err: &anyhow::Error) -> Option<&serde_json::Map<String, serde_json::Value>> {
    err.chain()
        .find_map(|c| c.downcast_ref::<Detailed>())
        .map(|d| &d.details)
}

/// [`code_of`] as a process exit code.
pub fn exit_code_of(err: &anyhow::Error) -> ExitCode {
    ExitCode::from(code_of(err))
}
