//! `calsync logout`.

use super::Context;
use std::process::ExitCode;

pub fn run(_ctx: &Context) -> anyhow::Result<ExitCode> {
    Err(super::unavailable("logout"))
}
