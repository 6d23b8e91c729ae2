//! `calsync explain`: why an event is or is not published, and what runs
//! did to its copy.

use super::Context;
use crate::cli::ExplainArgs;
use std::process::ExitCode;

pub fn run(_ctx: &Context, _args: &ExplainArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("calsync explain is not available in this build")
}
