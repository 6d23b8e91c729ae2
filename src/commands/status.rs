//! `calsync status`.

use super::Context;
use std::process::ExitCode;

pub fn run(_ctx: &Context, _args: &crate::cli::StatusArgs) -> anyhow::Result<ExitCode> {
    Err(super::unavailable("status"))
}
