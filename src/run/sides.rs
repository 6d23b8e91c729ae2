//! Opens the source and the target calendars the settings name.

use super::*;
use crate::config::{CalendarRef, Origin, Settings, SourceSpec, TargetSpec};
use crate::error::Failure;
use crate::graph::client::{self, ClientOptions, GraphClient, Metrics, http_client};
use crate::graph::provider::{CalendarRole, GraphCalendar, resolve_calendar};
use crate::ics::{IcsLocation, IcsSource, IcsTarget};
use crate::model::Window;
use crate::planner::{self, Plan};
use crate::policy::skipped_summary;
use crate::provider::{
    ApplyReport, CursorExpired, IncrementalSource, PieceChanges, PieceRange, SourceProvider,
    TargetProvider, WriteFailure,
};
use crate::state::incremental::{self, CalendarCache, Copy, Head, Piece, Settled, SyncState};
use crate::state::{self, Counts, HistoryEntry, Lock, RunMetrics};
use anyhow::Context;
use chrono::{DateTime, Utc};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::Serialize;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::Instrument;

/// The Graph client for a run.
pub fn graph_client(settings: &Settings) -> anyhow::Result<GraphClient> {
    let http = http_client(settings.request_timeout)?;
    let tokens = crate::auth::token_source(settings, &http)?;
    Ok(GraphClient::new(
        http,
        tokens,
        ClientOptions {
            timeout: settings.request_timeout,
            ..ClientOptions::new(settings.graph_url.clone())
        },
    ))
}

/// The calendar ids of a run and whether they came from the cache.
pub(super) struct CalendarIds {
    pub(super) source: String,
    pub(super) target: String,
    pub(super) cached: bool,
}

/// Resolves both calendars, from `calendars.json` when it knows them (no
/// request), else through Graph (and then remembers them).
pub(super) async fn calendar_ids(
    settings: &Settings,
    client: &GraphClient,
) -> anyhow::Result<CalendarIds> {
    let (source, source_cached) = graph_calendar_id(settings, client, CalendarRole::Source).await?;
    let (target, target_cached) = graph_calendar_id(settings, client, CalendarRole::Target).await?;
    Ok(CalendarIds {
        source,
        target,
        cached: source_cached && target_cached,
    })
}

/// The mailbox of the source or target calendar, and how the settings name
/// the calendar in it.
pub fn role_calendar(settings: &Settings, role: CalendarRole) -> (&str, CalendarRef) {
    match role {
        CalendarRole::Source => (settings.mailbox_or_me(), settings.source_calendar_ref()),
        CalendarRole::Target => (
            settings.target_mailbox_or_source(),
            settings.target_calendar_ref(),
        ),
    }
}

/// Looks the source or target calendar up through Graph (no cache).
pub async fn resolve_role(
    settings: &Settings,
    client: &GraphClient,
    role: CalendarRole,
) -> anyhow::Result<String> {
    let (mailbox, calendar) = role_calendar(settings, role);
    resolve_calendar(client, mailbox, &calendar, role).await
}

/// Whether a failure says that a calendar the run addressed by id is gone.
pub(super) fn calendar_gone(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<client::GraphError>().is_some_and(|g| {
            g.status == Some(404)
                && g.code.eq_ignore_ascii_case("ErrorItemNotFound")
                && g.request.contains("/calendars/")
        })
    })
}

/// Resolves the source and target calendars (no cache) and opens both.
pub async fn open_calendars(
    settings: &Settings,
    client: &GraphClient,
) -> anyhow::Result<(GraphCalendar, GraphCalendar)> {
    let source_id = resolve_role(settings, client, CalendarRole::Source).await?;
    let target_id = resolve_role(settings, client, CalendarRole::Target).await?;
    calendars(settings, client, &source_id, &target_id)
}

/// Opens both calendars by id, refusing a source that is also the target.
pub(super) fn calendars(
    settings: &Settings,
    client: &GraphClient,
    source_id: &str,
    target_id: &str,
) -> anyhow::Result<(GraphCalendar, GraphCalendar)> {
    let source_mailbox = settings.mailbox_or_me();
    let target_mailbox = settings.target_mailbox_or_source();
    if source_mailbox.eq_ignore_ascii_case(target_mailbox) && source_id == target_id {
        return Err(Failure::Config(format!(
            "source_calendar and target_calendar name the same calendar ({} of {}, id {}). \
             Set target_calendar to the public calendar.",
            settings.source_calendar_ref(),
            source_mailbox,
            source_id
        ))
        .into());
    }
    let copy = settings.policy.copy;
    Ok((
        GraphCalendar::new(client.clone(), source_mailbox, source_id, copy),
        GraphCalendar::new(client.clone(), target_mailbox, target_id, copy),
    ))
}

pub(super) fn no_client() -> anyhow::Error {
    anyhow::anyhow!("internal error: a Graph side without a Graph client")
}

pub(super) fn forget_calendar_ids(settings: &Settings) {
    tracing::info!("Graph says a calendar calsync remembered is gone; looking it up by name again");
    CalendarCache::forget(&settings.state_dir);
}

/// The id of the source or target calendar, from `calendars.json` when it
/// knows it (no request), else through Graph (and then remembered); and
/// whether it came from the cache.
pub(super) async fn graph_calendar_id(
    settings: &Settings,
    client: &GraphClient,
    role: CalendarRole,
) -> anyhow::Result<(String, bool)> {
    let dir = &settings.state_dir;
    let graph = settings.graph_base();
    let (mailbox, calendar) = role_calendar(settings, role);
    let key = calendar.cache_key();
    let mut cache = CalendarCache::load(dir);
    if let Some(id) = cache.get(graph, mailbox, &key) {
        return Ok((id.to_string(), true));
    }
    let id = resolve_calendar(client, mailbox, &calendar, role).await?;
    cache.put(graph, mailbox, &key, &id);
    if let Err(e) = cache.save(dir) {
        tracing::warn!(
            "could not remember the calendar id ({e:#}); the next run looks it up again"
        );
    }
    Ok((id, false))
}

/// The time zone all-day copies are written in, as `calendars.json` knows
/// it for the target mailbox (see [`GraphCalendar::all_day_in`]).
pub(super) fn known_zone(settings: &Settings) -> Option<Option<String>> {
    CalendarCache::load(&settings.state_dir)
        .zone(settings.graph_base(), settings.target_mailbox_or_source())
        .map(|z| z.map(str::to_owned))
}

/// Keeps the zone the target read from its mailbox's settings during the
/// run, if it did, and tells the operator, once, when Graph would not say.
pub(super) fn remember_zone(settings: &Settings, target: &GraphCalendar) {
    let Some(zone) = target.zone_read() else {
        return;
    };
    let mailbox = settings.target_mailbox_or_source();
    if zone.is_none() {
        tracing::warn!(
            mailbox,
            "Graph does not let calsync read this mailbox's time zone, so all-day copies are \
             written in UTC, and Outlook shows them across two days to people in other zones. \
             Grant the app MailboxSettings.Read to have them written in the mailbox's zone."
        );
    }
    let mut cache = CalendarCache::load(&settings.state_dir);
    cache.put_zone(settings.graph_base(), mailbox, zone.as_deref());
    if let Err(e) = cache.save(&settings.state_dir) {
        tracing::warn!("could not remember the mailbox's time zone ({e:#})");
    }
}

/// Checks the `.ics` files the settings name before anything is read or
/// written: the source file exists and is a file, the target's directory
/// exists and the target is not a directory, and they are not one file.
/// Each failure is a configuration error (exit 2) naming the key.
pub fn check_files(settings: &Settings) -> anyhow::Result<()> {
    let origin = |key: &str| {
        settings
            .origins
            .get(key)
            .copied()
            .unwrap_or(Origin::Default)
    };
    if let SourceSpec::Ics(IcsLocation::Path(path)) = &settings.source {
        let shown = path.display();
        let from = origin("source.path");
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => {
                return Err(Failure::Config(format!(
                    "The source calendar {shown} (`source.path`, from {from}) is a directory. \
                     Set `source.path` to the .ics file to read."
                ))
                .into());
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Failure::Config(format!(
                    "The source calendar file {shown} (`source.path`, from {from}) does not \
                     exist. Fix `source.path` (a relative path in the config file is relative to \
                     the file's directory, one in CALSYNC_SOURCE_PATH to the working directory), \
                     or export the calendar there; nothing was written."
                ))
                .into());
            }
            // Reading it says what is wrong (permissions, say).
            Err(_) => {}
        }
    }
    if let TargetSpec::Ics { path, .. } = &settings.target {
        let shown = path.display();
        let from = origin("target.path");
        if path.is_dir() {
            return Err(Failure::Config(format!(
                "The target file {shown} (`target.path`, from {from}) is a directory. Set \
                 `target.path` to the .ics file calsync publishes, e.g. {}.",
                path.join("public.ics").display()
            ))
            .into());
        }
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        if !dir.is_dir() {
            return Err(Failure::Config(format!(
                "The directory {} of the target file {shown} (`target.path`, from {from}) does \
                 not exist. Create it (calsync creates the file, not its directory), or fix \
                 `target.path`; nothing was written.",
                dir.display()
            ))
            .into());
        }
        if let SourceSpec::Ics(IcsLocation::Path(source)) = &settings.source
            && let (Ok(a), Ok(b)) = (std::fs::canonicalize(source), std::fs::canonicalize(path))
            && a == b
        {
            return Err(Failure::Config(format!(
                "`source.path` (from {}) and `target.path` (from {from}) are the same file, \
                 {shown}, so calsync would publish into the file it reads. Set `target.path` \
                 to the public calendar's file.",
                origin("source.path")
            ))
            .into());
        }
    }
    Ok(())
}
