//! calsync copies the public events of an internal calendar into a
//! public-facing calendar, and nothing private with them. Either side is a
//! Microsoft 365 calendar, through Microsoft Graph, or an iCalendar (`.ics`)
//! file ([`config::SourceSpec`], [`config::TargetSpec`]).
//!
//! One run flows through these modules:
//!
//! 1. [`cli`] parses the command line; [`commands`] holds one module per
//!    subcommand; [`config`] merges flags, environment, the TOML file and
//!    defaults into one [`config::Settings`].
//! 2. [`state`] takes the lock in the state dir (one sync at a time) and keeps
//!    the history; [`state::incremental`] keeps what the last run knew of both
//!    calendars, so that an unchanged run reads only the source's changes.
//! 3. [`auth`] obtains an access token (app secret, or the delegated sign-in of
//!    `calsync login` with its token store); [`graph::client`] owns every HTTP
//!    request to Graph (bearer auth, paging, batching, retries, throttling).
//! 4. [`provider`] defines the source and target abstractions; [`graph::provider`]
//!    implements them over Graph, turning Graph events into the neutral
//!    [`model`] types. [`ics`] reads an iCalendar (`.ics`) file or URL as a
//!    source and publishes into an `.ics` file as a target.
//! 5. [`planner`] decides, with no I/O, what to create, update and delete, using
//!    the filter and copy [`policy`]; [`validate`] turns the same decision into
//!    a report of problems for `calsync validate`.
//! 6. [`sync`] applies the plan through the target provider (incrementally
//!    for two Graph calendars, in full when a side is a file) and [`state`]
//!    records one history line for the run; [`logging`] writes logs and progress
//!    to stderr.

pub mod auth;
pub mod check;
pub mod cli;
pub mod commands;
pub mod config;
pub mod error;
pub mod fs;
pub mod graph;
pub mod ics;
pub mod logging;
pub mod model;
pub mod planner;
pub mod policy;
pub mod provider;
pub mod run;
pub mod state;
