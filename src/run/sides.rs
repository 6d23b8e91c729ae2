//! The one place that opens the two sides of a run. [`open`] turns the
//! settings into a [`Source`] and a [`Target`]; [`with_sides`] runs the work
//! of `sync` or `validate` over them and, when Graph answers that a calendar
//! opened by a remembered id is gone, forgets the ids and opens the sides
//! once more. `doctor` looks the calendars up with the same
//! [`resolve_role`].
//!
//! A kind of calendar plugs in as one arm of [`Source`] and of [`Target`]:
//! each arm hands the provider calls to its calendar and says what a run
//! may do with it (read only the changes, keep what it wrote between runs).
//!
//! A Graph calendar is named by the settings and resolved to its id once;
//! the id is then taken from `calendars.json` ([`CalendarCache`]), with no
//! request, until Graph answers that the calendar is gone.

use super::merge::Merged;
use crate::auth::AuthConfig;
use crate::config::{CalendarRef, Origin, PairSource, Settings, SourceSpec, TargetSpec};
use crate::error::Failure;
use crate::graph::client::{self, ClientOptions, DEFAULT_RATE_LIMIT, GraphClient, http_client};
use crate::graph::provider::{CalendarRole, GraphCalendar, resolve_calendar};
use crate::ics::{IcsLocation, IcsSource, IcsTarget};
use crate::model::{ManagedEvent, SourceEvent, Window};
use crate::planner::Plan;
use crate::provider::{
    ApplyReport, IncrementalSource, InspectableTarget, InspectedCopy, PieceChanges, PieceRange,
    SeriesInstances, SourceProvider, TargetProvider,
};
use crate::state::incremental::CalendarCache;
use anyhow::Context as _;

/// Where a run reads the events from.
pub enum Source {
    Graph(GraphCalendar),
    Ics(IcsSource),
    /// Several sources read as one ([`super::merge`]).
    Merged(Merged<Member>),
}

/// One source of a [`Source::Merged`]: a Graph calendar or a file, never a
/// merged source itself.
pub enum Member {
    Graph(GraphCalendar),
    Ics(IcsSource),
}

impl SourceProvider for Member {
    async fn read(&self, window: &Window) -> anyhow::Result<Vec<SourceEvent>> {
        match self {
            Member::Graph(s) => s.read(window).await,
            Member::Ics(s) => s.read(window).await,
        }
    }
}

/// Where a run keeps the public copies.
pub enum Target {
    Graph(GraphCalendar),
    Ics(IcsTarget),
}

/// The source and the target of a run, as [`open`] opened them.
pub struct Sides {
    pub source: Source,
    pub target: Target,
    /// The ids of the Graph calendars among them (the incremental state is
    /// kept for one pair of calendars).
    pub source_id: Option<String>,
    pub target_id: Option<String>,
    /// Whether there is a Graph side and every one was opened by an id from
    /// `calendars.json`: only then can "gone" mean that the id is stale.
    cached: bool,
}

/// What a run does with the target.
#[derive(Debug, Clone, Copy)]
pub enum Access<'a> {
    /// Reads it only (`validate`).
    Read,
    /// Writes into it as the run `run_id` (`sync`).
    Write { run_id: &'a str },
}

impl Source {
    /// Whether the source can tell what changed since an earlier read
    /// ([`IncrementalSource`]); a file cannot, and is read whole every run.
    pub fn incremental(&self) -> bool {
        match self {
            Source::Graph(_) => true,
            // The winner of a meeting several members hold depends on every
            // member's whole read.
            Source::Ics(_) | Source::Merged(_) => false,
        }
    }
}

impl Target {
    /// Whether a run may take the target to be as the last run left it (the
    /// incremental state keeps its copies). A published file is rewritten
    /// whole every run, so it is read whole every run.
    pub fn incremental(&self) -> bool {
        match self {
            Target::Graph(_) => true,
            Target::Ics(_) => false,
        }
    }

    /// After a real run, a target file that still does not exist (nothing
    /// to write yet) is created empty: subscribers find a calendar, and the
    /// summary's "Public calendar: …" names a file that is there.
    pub fn publish(&self, dry_run: bool) -> anyhow::Result<()> {
        if let Target::Ics(target) = self
            && !dry_run
            && target.create_if_missing()?
        {
            tracing::info!(
                path = %target.path().display(),
                "no public event to write yet; published an empty calendar"
            );
        }
        Ok(())
    }

    /// Keeps what the run learnt of the target for the next run (a Graph
    /// target: the zone it read from its mailbox's settings).
    fn remember(&self, settings: &Settings) {
        if let Target::Graph(target) = self {
            remember_zone(settings, target);
        }
    }
}

impl SourceProvider for Source {
    async fn read(&self, window: &Window) -> anyhow::Result<Vec<SourceEvent>> {
        match self {
            Source::Graph(s) => s.read(window).await,
            Source::Ics(s) => s.read(window).await,
            Source::Merged(s) => s.read(window).await,
        }
    }
}

impl IncrementalSource for Source {
    async fn read_all(&self, window: &Window) -> anyhow::Result<Vec<PieceChanges>> {
        match self {
            Source::Graph(s) => s.read_all(window).await,
            Source::Ics(_) | Source::Merged(_) => Err(not_incremental()),
        }
    }

    async fn read_changes(
        &self,
        pieces: &[(PieceRange, String)],
    ) -> anyhow::Result<Vec<PieceChanges>> {
        match self {
            Source::Graph(s) => s.read_changes(pieces).await,
            Source::Ics(_) | Source::Merged(_) => Err(not_incremental()),
        }
    }

    async fn read_series(
        &self,
        wanted: &[(PieceRange, String)],
    ) -> anyhow::Result<Vec<Option<SeriesInstances>>> {
        match self {
            Source::Graph(s) => s.read_series(wanted).await,
            Source::Ics(_) | Source::Merged(_) => Err(not_incremental()),
        }
    }
}

fn not_incremental() -> anyhow::Error {
    anyhow::anyhow!("internal error: this source cannot tell what changed; it is read in full")
}

impl TargetProvider for Target {
    async fn read_managed(&self, window: &Window) -> anyhow::Result<Vec<ManagedEvent>> {
        match self {
            Target::Graph(t) => t.read_managed(window).await,
            Target::Ics(t) => t.read_managed(window).await,
        }
    }

    async fn apply(&self, plan: &Plan) -> anyhow::Result<ApplyReport> {
        match self {
            Target::Graph(t) => t.apply(plan).await,
            Target::Ics(t) => t.apply(plan).await,
        }
    }
}

impl InspectableTarget for Target {
    async fn read_for_validation(&self) -> anyhow::Result<Vec<InspectedCopy>> {
        match self {
            Target::Graph(t) => t.read_for_validation().await,
            Target::Ics(t) => t.read_for_validation().await,
        }
    }
}

/// Opens the source and the target the settings name; a Graph calendar by
/// the id `calendars.json` remembers, else looked up by name (the source
/// first) and remembered. Refuses a source that is also the target.
pub async fn open(
    settings: &Settings,
    graph: Option<&GraphClient>,
    access: Access<'_>,
) -> anyhow::Result<Sides> {
    let copy = settings.policy.copy;
    let mut graph_sides = 0;
    let mut all_cached = true;
    let mut member_ids: Vec<(String, String, String)> = Vec::new();
    let (source, source_id) = match &settings.source {
        _ if !settings.merged.is_empty() => {
            let mut members = Vec::with_capacity(settings.merged.len());
            for m in &settings.merged {
                let name = m.name.clone().ok_or_else(|| {
                    anyhow::anyhow!("internal error: a merged source without a name")
                })?;
                let member = match &m.spec {
                    SourceSpec::Graph => {
                        let client = graph.ok_or_else(no_client)?;
                        let mailbox = m.mailbox.as_deref().unwrap_or("me");
                        let calendar = member_calendar(m);
                        let (id, cached) = calendar_id_of(
                            settings,
                            client,
                            mailbox,
                            calendar,
                            CalendarRole::Source,
                        )
                        .await
                        .with_context(|| format!("opening the source `{name}`"))?;
                        graph_sides += 1;
                        all_cached &= cached;
                        member_ids.push((name.clone(), mailbox.to_owned(), id.clone()));
                        Member::Graph(GraphCalendar::new(client.clone(), mailbox, &id, copy))
                    }
                    SourceSpec::Ics(location) => Member::Ics(IcsSource::new(location.clone())),
                };
                members.push((name, member));
            }
            (Source::Merged(Merged::new(members)?), None)
        }
        SourceSpec::Graph => {
            let client = graph.ok_or_else(no_client)?;
            let (id, cached) = calendar_id(settings, client, CalendarRole::Source).await?;
            graph_sides += 1;
            all_cached &= cached;
            let mailbox = settings.mailbox_or_me();
            let calendar = GraphCalendar::new(client.clone(), mailbox, &id, copy);
            (Source::Graph(calendar), Some(id))
        }
        SourceSpec::Ics(location) => (Source::Ics(IcsSource::new(location.clone())), None),
    };
    let (target, target_id) = match &settings.target {
        TargetSpec::Graph => {
            let client = graph.ok_or_else(no_client)?;
            let (id, cached) = calendar_id(settings, client, CalendarRole::Target).await?;
            graph_sides += 1;
            all_cached &= cached;
            let mailbox = settings.target_mailbox_or_source();
            let calendar = GraphCalendar::new(client.clone(), mailbox, &id, copy);
            let calendar = match access {
                Access::Read => calendar,
                Access::Write { run_id } => calendar
                    .for_run(run_id)
                    .all_day_in(known_zone(settings).as_ref().map(Option::as_deref)),
            };
            (Target::Graph(calendar), Some(id))
        }
        TargetSpec::Ics { path, name } => (Target::Ics(IcsTarget::new(path, name)), None),
    };
    if let (Some(source_id), Some(target_id)) = (&source_id, &target_id) {
        refuse_same_calendar(settings, source_id, target_id)?;
    }
    if let Some(target_id) = &target_id {
        refuse_member_as_target(settings, &member_ids, target_id)?;
    }
    Ok(Sides {
        source,
        target,
        source_id,
        target_id,
        cached: graph_sides > 0 && all_cached,
    })
}

/// Opens the sides ([`open`]) and runs `work` over them. When Graph answers
/// that a calendar opened by a remembered id is gone, the ids are forgotten
/// and `work` runs once more over calendars looked up by name.
pub async fn with_sides<T>(
    settings: &Settings,
    graph: Option<&GraphClient>,
    access: Access<'_>,
    work: impl AsyncFn(&Sides) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let sides = open(settings, graph, access).await?;
    let result = work(&sides).await;
    sides.target.remember(settings);
    match result {
        Err(e) if sides.cached && calendar_gone(&e) => {
            let both = sides.source_id.is_some() && sides.target_id.is_some();
            tracing::info!(
                "Graph says a calendar calsync remembered is gone; looking {} up by name again",
                if both { "the calendars" } else { "it" }
            );
            CalendarCache::forget(&settings.state_dir);
            if let Some(client) = graph {
                client.forget_listings();
            }
            let sides = open(settings, graph, access).await?;
            let result = work(&sides).await;
            sides.target.remember(settings);
            result
        }
        other => other,
    }
}

/// Two Graph sides must be two calendars: a sync would otherwise copy a
/// calendar's public events into itself.
fn refuse_same_calendar(
    settings: &Settings,
    source_id: &str,
    target_id: &str,
) -> anyhow::Result<()> {
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
    Ok(())
}

/// How a member of a merged source names its calendar: unset, the
/// mailbox's default calendar.
fn member_calendar(member: &PairSource) -> CalendarRef {
    member
        .calendar
        .as_deref()
        .map_or(CalendarRef::Default, CalendarRef::parse)
}

/// No member of a merged source may be the target calendar itself.
fn refuse_member_as_target(
    settings: &Settings,
    members: &[(String, String, String)],
    target_id: &str,
) -> anyhow::Result<()> {
    let target_mailbox = settings.target_mailbox_or_source();
    if let Some((name, mailbox, id)) = members
        .iter()
        .find(|(_, m, id)| m.eq_ignore_ascii_case(target_mailbox) && id == target_id)
    {
        return Err(Failure::Config(format!(
            "The source `{name}` and the target of {} are the same calendar ({} of {mailbox}, \
             id {id}), so calsync would copy the calendar into itself. Point the source or \
             `target_calendar` at another calendar.",
            pair_label(settings),
            settings.target_calendar_ref(),
        ))
        .into());
    }
    Ok(())
}

/// How messages name the pair the settings are of.
pub fn pair_label(settings: &Settings) -> String {
    match &settings.pair {
        Some(name) => format!("pair \"{name}\""),
        None => "the config".to_owned(),
    }
}

fn no_client() -> anyhow::Error {
    anyhow::anyhow!("internal error: a Graph side without a Graph client")
}

/// The id of the source or target calendar, from `calendars.json` when it
/// knows it (no request), else through Graph (and then remembered); and
/// whether it came from the cache.
async fn calendar_id(
    settings: &Settings,
    client: &GraphClient,
    role: CalendarRole,
) -> anyhow::Result<(String, bool)> {
    let (mailbox, calendar) = role_calendar(settings, role);
    calendar_id_of(settings, client, mailbox, calendar, role).await
}

/// [`calendar_id`] of a calendar named apart from the settings' source
/// and target: a member of a merged source.
async fn calendar_id_of(
    settings: &Settings,
    client: &GraphClient,
    mailbox: &str,
    calendar: CalendarRef,
    role: CalendarRole,
) -> anyhow::Result<(String, bool)> {
    let dir = &settings.state_dir;
    let graph = settings.graph_base();
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
fn calendar_gone(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<client::GraphError>().is_some_and(|g| {
            g.status == Some(404)
                && g.code.eq_ignore_ascii_case("ErrorItemNotFound")
                && g.request.contains("/calendars/")
        })
    })
}

/// The time zone all-day copies are written in, as `calendars.json` knows
/// it for the target mailbox (see [`GraphCalendar::all_day_in`]).
fn known_zone(settings: &Settings) -> Option<Option<String>> {
    CalendarCache::load(&settings.state_dir)
        .zone(settings.graph_base(), settings.target_mailbox_or_source())
        .map(|z| z.map(str::to_owned))
}

/// Keeps the zone the target read from its mailbox's settings during the
/// run, if it did, and tells the operator, once, when Graph would not say.
fn remember_zone(settings: &Settings, target: &GraphCalendar) {
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

/// The Graph client for a run.
pub fn graph_client(settings: &Settings) -> anyhow::Result<GraphClient> {
    let http = http_client(settings.request_timeout)?;
    let tokens = crate::auth::token_source(&AuthConfig::from(settings), &http)?;
    Ok(GraphClient::new(http, tokens, client_options(settings)))
}

/// The Graph client's options the settings give: the Graph root, the
/// request timeout and the rate limit (Outlook's unless a stand-in counts
/// another).
pub fn client_options(settings: &Settings) -> ClientOptions {
    ClientOptions {
        timeout: settings.request_timeout,
        rate_limit: settings
            .hidden
            .graph_rate_limit
            .or(Some(DEFAULT_RATE_LIMIT)),
        ..ClientOptions::new(settings.graph_url.clone())
    }
}

impl From<&Settings> for AuthConfig {
    fn from(settings: &Settings) -> AuthConfig {
        AuthConfig {
            tenant_id: settings.tenant_id.clone(),
            client_id: settings.client_id.clone(),
            client_secret: settings.client_secret.clone(),
            authority_url: settings.authority_url.clone(),
            graph_url: settings.graph_url.clone(),
            token_store: settings.token_store,
            state_dir: settings.state_dir.clone(),
            mailbox: settings.mailbox.clone(),
            target_mailbox: settings.target_mailbox.clone(),
        }
    }
}

/// The file the target publishes, when it is one, for the summary to name.
pub fn target_file(settings: &Settings) -> Option<std::path::PathBuf> {
    match &settings.target {
        TargetSpec::Graph => None,
        TargetSpec::Ics { path, .. } => Some(path.clone()),
    }
}

/// A source file that must exist and be a file; `place` names where it
/// is set, `fix` says how to change it.
fn check_source_file(path: &std::path::Path, place: &str, fix: &str) -> anyhow::Result<()> {
    let shown = path.display();
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(Failure::Config(format!(
            "The source calendar {shown} ({place}) is a directory. Set it to the .ics file to \
             read."
        ))
        .into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Failure::Config(format!(
            "The source calendar file {shown} ({place}) does not exist. {fix}, or export the \
             calendar there; nothing was written."
        ))
        .into()),
        // Reading it says what is wrong (permissions, say).
        _ => Ok(()),
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
    if settings.merged.is_empty()
        && let SourceSpec::Ics(IcsLocation::Path(path)) = &settings.source
    {
        let place = format!("`source.path`, from {}", origin("source.path"));
        check_source_file(
            path,
            &place,
            "Fix `source.path` (a relative path in the config \
            file is relative to the file's directory, one in CALSYNC_SOURCE_PATH to the working \
            directory)",
        )?;
    }
    for m in &settings.merged {
        if let SourceSpec::Ics(IcsLocation::Path(path)) = &m.spec {
            let place = format!(
                "the source `{}` of {}, line {} of {}",
                m.name.as_deref().unwrap_or_default(),
                pair_label(settings),
                m.line.unwrap_or_default(),
                settings.file_hint()
            );
            check_source_file(
                path,
                &place,
                "Fix its `path` (relative to the config file's \
                directory)",
            )?;
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
