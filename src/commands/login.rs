//! `calsync login`.

use super::Context;
use std::process::ExitCode;

pub fn run(_ctx: &Context, _args: &crate::cli::LoginArgs) -> anyhow::Result<ExitCode> {
    Err(super::unavailable("login"))
}
