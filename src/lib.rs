//! calsync copies the public events of an internal calendar into a
//! public-facing calendar, and nothing private with them. Either side is a
//! Microsoft 365 calendar, through Microsoft Graph, or an iCalendar (`.ics`)
//! file ([`config::SourceSpec`], [`config::TargetSpec`]).
//!
//! One run flows through these modules:
//!
//! 1. [`cli`] parses the command line; [`commands`] holds one module per
//!    subcommand, each a shell that prints and picks the exit code;
//!    [`config`] merges flags, environment, the TOML file and defaults into
//!    one [`config::Settings`].
//! 2. [`run`] starts the run ([`run::Run`]: run id, clock, window, metrics)
//!    for `sync` and `validate` alike; [`state`] takes the lock in the state
//!    dir (one sync at a time) and keeps the history, and
//!    [`state::incremental`] what the last run knew of both calendars, so
//!    that an unchanged run reads only the source's changes.
//! 3. [`auth`] obtains an access token (app secret, or the delegated sign-in
//!    of `calsync login` with its token store); [`graph::client`] owns every
//!    HTTP request to Graph (bearer auth, paging, batching, retries,
//!    throttling).
//! 4. [`run::sides`] opens the source and the target the settings name, one
//!    enum arm per kind of calendar, behind the abstractions of [`provider`]:
//!    [`graph::provider`] implements them over Graph, turning Graph events
//!    into the neutral [`model`] types; [`ics`] reads an iCalendar (`.ics`)
//!    file or URL as a source and publishes into an `.ics` file as a target.
//! 5. [`planner`] decides, with no I/O, what to create, update and delete,
//!    using the filter and copy [`policy`]; [`check`] turns the same decision
//!    into a report of problems for `calsync validate`.
//! 6. [`run::sync`] applies the plan through the target, incrementally
//!    ([`run::incremental`]) when the source tells its changes and the
//!    target stays as the last run left it, in full otherwise;
//!    [`run::validate`] checks instead of applying; [`run::Run::record`] writes the
//!    run's history line, [`run::report`] renders the outcome, and
//!    [`logging`] writes logs and progress to stderr. Files are replaced
//!    atomically through [`fs`].
//!
//! `docs/ARCHITECTURE.md` says how the parts fit, which rules every kind of
//! calendar keeps, and which files a new kind of calendar, filter rule or
//! subcommand touches; `docs/graph.md` lists the Graph behaviours relied on.

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
pub mod observe;
pub mod planner;
pub mod policy;
pub mod provider;
pub mod publish;
pub mod run;
pub mod state;
pub mod text;
