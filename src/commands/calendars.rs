//! `calsync calendars`: a mailbox's calendars, to choose `source_calendar`
//! and `target_calendar`.

use super::Context;
use crate::cli::CalendarsArgs;
use std::process::ExitCode;

pub fn run(_ctx: &Context, _args: &CalendarsArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("calsync calendars is not available in this build")
}
