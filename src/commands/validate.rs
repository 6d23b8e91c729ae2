//! `calsync validate`.

use super::Context;
use std::process::ExitCode;

pub fn run(_ctx: &Context, _args: &crate::cli::ValidateArgs) -> anyhow::Result<ExitCode> {
    Err(super::unavailable("validate"))
}
