//! `calsync history`.

use super::Context;
use std::process::ExitCode;

pub fn run(_ctx: &Context, _args: &crate::cli::HistoryArgs) -> anyhow::Result<ExitCode> {
    Err(super::unavailable("history"))
}
