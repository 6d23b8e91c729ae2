//! Microsoft Graph calendars as a [`SourceProvider`] and a [`TargetProvider`].
//!
//! This module translates between Graph's JSON and the neutral model. Every
//! request goes through [`GraphClient`], which owns paging, batching, retries
//! and throttling.

use crate::config::CalendarRef;
use crate::error::Failure;
use crate::graph::client::{BatchRequest, GraphClient, GraphError, PageError, PageOptions};
use crate::model::{
    Body, BodyType, EventPayload, EventTime, ManagedEvent, Marker, Sensitivity, ShowAs,
    SourceEvent, SourceKey, Window,
};
use crate::planner::Plan;
use crate::policy::CopyPolicy;
use crate::provider::InspectedCopy;
use crate::provider::{
    Applied, ApplyReport, CursorExpired, IncrementalSource, InspectableTarget, PieceChanges,
    PieceRange, SeriesInstances, SourceChange, SourceProvider, TargetProvider, WriteFailure,
};
use anyhow::{Context, anyhow};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashSet;

/// The GUID of calsync's named extended properties. Fixed forever: changing it
/// would orphan every copy calsync ever made.
macro_rules! property_set {
    () => {
        "{5d2c6a0e-8b1f-4e5a-9c3d-7a41f02b6e19}"
    };
}
/// Extended property holding the source key of a copy.
pub const SOURCE_KEY_PROPERTY: &str = concat!("String ", property_set!(), " Name calsyncSourceKey");
/// Extended property holding the hash of the fields calsync wrote.
pub const CONTENT_HASH_PROPERTY: &str =
    concat!("String ", property_set!(), " Name calsyncContentHash");

/// Graph refuses a calendarView range longer than this ("Maximum number of
/// days: 1825", `ErrorInvalidRequest`).
const MAX_VIEW_DAYS: i64 = 1825;
/// The largest page calendarView and /events accept.
const PAGE_SIZE: &str = "1000";
/// The page size asked of calendarView delta (`Prefer: odata.maxpagesize`;
/// delta ignores `$top`).
const DELTA_PAGE_SIZE: u32 = 1000;

/// Characters escaped in a path segment (a mailbox address or an id).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'@')
    .remove(b'=')
    .remove(b'+');

/// A mailbox address or an id as one segment of a request path.
pub fn segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// The path of a mailbox: `/users/{upn}`, or `/me` for the signed-in user.
pub fn mailbox_path(mailbox: &str) -> String {
    if mailbox.eq_ignore_ascii_case("me") {
        "/me".to_string()
    } else {
        format!("/users/{}", segment(mailbox))
    }
}

/// Which setting names the calendar, for error messages.
#[derive(Debug, Clone, Copy)]
pub enum CalendarRole {
    Source,
    Target,
}

impl CalendarRole {
    fn key(self) -> &'static str {
        match self {
            CalendarRole::Source => "source_calendar",
            CalendarRole::Target => "target_calendar",
        }
    }
    fn env(self) -> &'static str {
        match self {
            CalendarRole::Source => "CALSYNC_SOURCE_CALENDAR",
            CalendarRole::Target => "CALSYNC_TARGET_CALENDAR",
        }
    }
}

/// Maps a Graph failure about a mailbox to the exit code an operator needs.
pub fn classify(err: GraphError, mailbox: &str) -> anyhow::Error {
    let status = err.status;
    let code = err.code.clone();
    match (status, code.as_str()) {
        (_, "ErrorInvalidUser") | (_, "MailboxNotEnabledForRESTAPI") => {
            anyhow::Error::new(Failure::Config(format!(
                "Graph does not know the mailbox \"{mailbox}\" ({code}). Set `mailbox` \
                 (CALSYNC_MAILBOX) or `target_mailbox` (CALSYNC_TARGET_MAILBOX) to the address \
                 of a mailbox that exists in this tenant and has Exchange Online."
            )))
        }
        (Some(401), _) => anyhow::Error::new(Failure::Auth(format!(
            "Graph refused the access token ({err}). Check that the app registration \
             belongs to this tenant and cloud, then run again."
        ))),
        (Some(403), _) => anyhow::Error::new(Failure::Auth(format!(
            "Graph denied access to the mailbox \"{mailbox}\" ({err}). With an app secret \
             (app-only), the app needs the Calendars.ReadWrite application permission with \
             admin consent (and, if an application access policy limits it, this mailbox must \
             be in scope). Signed in as a user (`calsync login`), that user needs access to \
             the mailbox (delegate or calendar folder permission) and the app \
             Calendars.ReadWrite.Shared. `calsync doctor` shows what the sign-in grants."
        ))),
        _ => anyhow::Error::new(err),
    }
}

/// Finds the id of the calendar a setting names in a mailbox: its default
/// calendar (through `/calendar`, which a delegate can reach even where
/// listing the mailbox's calendars is refused), a calendar id (checked to
/// exist), or a display name. An unknown name is a configuration error
/// listing the names that exist.
pub async fn resolve_calendar(
    client: &GraphClient,
    mailbox: &str,
    calendar: &CalendarRef,
    role: CalendarRole,
) -> anyhow::Result<String> {
    let found = |v: Value| {
        str_field(&v, "id")
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| malformed("id"))
    };
    match calendar {
        CalendarRef::Default => {
            let path = format!("{}/calendar", mailbox_path(mailbox));
            let v = client
                .get(&path, &[("$select", "id,name")])
                .await
                .map_err(|e| classify(e, mailbox))?;
            found(v)
        }
        CalendarRef::Id(id) => {
            let path = format!("{}/calendars/{}", mailbox_path(mailbox), segment(id));
            match client.get(&path, &[("$select", "id,name")]).await {
                Ok(v) => found(v),
                Err(e)
                    if e.is_not_found()
                        || e.code.eq_ignore_ascii_case("ErrorInvalidIdMalformed") =>
                {
                    Err(anyhow::Error::new(Failure::Config(format!(
                        "The mailbox \"{mailbox}\" has no calendar with the id \"{id}\" (set by \
                         `{key}`; Graph answered {code}). Set `{key}` in the config file or {env} \
                         to `id:` and an id that `calsync doctor` lists, to `default` for the \
                         mailbox's default calendar, or to the calendar's name.",
                        key = role.key(),
                        env = role.env(),
                        code = e.code,
                    ))))
                }
                Err(e) => Err(classify(e, mailbox)),
            }
        }
        CalendarRef::Name(name) => resolve_name(client, mailbox, name, role).await,
    }
}

async fn resolve_name(
    client: &GraphClient,
    mailbox: &str,
    name: &str,
    role: CalendarRole,
) -> anyhow::Result<String> {
    let path = format!("{}/calendars", mailbox_path(mailbox));
    let calendars = match client
        .get_all(
            &path,
            &[("$select", "id,name,isDefaultCalendar"), ("$top", "100")],
        )
        .await
    {
        Ok(c) => c,
        // A delegate with rights on the calendar folder only may reach a
        // calendar but not list the mailbox's calendars
        // (concepts/outlook-get-shared-events-calendars.md).
        Err(e) if e.status == Some(403) => {
            return Err(anyhow::Error::new(Failure::Auth(format!(
                "Graph refused to list the calendars of the mailbox \"{mailbox}\" ({e}), so the \
                 name \"{name}\" (`{key}`) cannot be looked up. A delegate can often reach a \
                 calendar without being allowed to list them: set `{key}` (or {env}) to \
                 `default` for the mailbox's default calendar, or to `id:` and the calendar's \
                 id (`calsync doctor`, run by an account that may list the mailbox's \
                 calendars, shows each id). Otherwise the signed-in account or the app needs \
                 access to that mailbox.",
                key = role.key(),
                env = role.env(),
            ))));
        }
        Err(e) => return Err(classify(e, mailbox)),
    };
    let wanted = name.trim();
    let mut matches = Vec::new();
    let mut names = Vec::new();
    for cal in &calendars {
        let cal_name = cal.get("name").and_then(Value::as_str).unwrap_or_default();
        let id = cal.get("id").and_then(Value::as_str).unwrap_or_default();
        if cal_name.trim() == wanted && !id.is_empty() {
            matches.push(id.to_string());
        }
        let default = cal.get("isDefaultCalendar").and_then(Value::as_bool) == Some(true);
        names.push(if default {
            format!("\"{cal_name}\" (the default calendar)")
        } else {
            format!("\"{cal_name}\"")
        });
    }
    if matches.len() > 1 {
        tracing::warn!(
            calendar = wanted,
            mailbox,
            "several calendars share this name; using the first Graph lists"
        );
    }
    match matches.into_iter().next() {
        Some(id) => Ok(id),
        None => Err(anyhow::Error::new(Failure::Config(format!(
            "The mailbox \"{mailbox}\" has no calendar named \"{wanted}\" (set by `{key}`). \
             Calendars that exist: {list}. Set `{key}` in the config file or {env} to one of \
             these names (names are case-sensitive){default}.",
            key = role.key(),
            env = role.env(),
            default = match role {
                CalendarRole::Source => {
                    ", or to `default` for the mailbox's default calendar whatever its name"
                }
                CalendarRole::Target => "",
            },
            list = if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            },
        )))),
    }
}

/// One calendar in one mailbox, reached through Graph.
pub struct GraphCalendar {
    client: GraphClient,
    mailbox: String,
    calendar_id: String,
    /// The copy policy decides which fields are read from the source at all:
    /// a body that will not be copied is never even downloaded.
    copy: CopyPolicy,
    /// What the `transactionId` of a create is scoped to: one attempt of one
    /// run (see [`transaction_id`]).
    attempt: String,
    /// The zone all-day copies are written in (see
    /// [`GraphCalendar::all_day_in`]): not known yet, or the mailbox's zone
    /// (`None`: Graph would not tell it, so UTC).
    all_day_zone: std::sync::Mutex<AllDayZone>,
}

/// What a [`GraphCalendar`] knows of the zone to write all-day copies in.
#[derive(Debug, Clone, PartialEq)]
enum AllDayZone {
    /// To be read from the mailbox's settings when an all-day copy is
    /// written.
    Unknown,
    /// Given when the calendar was opened.
    Given(Option<String>),
    /// Read from the mailbox's settings during this run.
    Read(Option<String>),
}

impl GraphCalendar {
    pub fn new(client: GraphClient, mailbox: &str, calendar_id: &str, copy: CopyPolicy) -> Self {
        GraphCalendar {
            client,
            mailbox: mailbox.to_string(),
            calendar_id: calendar_id.to_string(),
            copy,
            attempt: format!("{:016x}", fastrand::u64(..)),
            all_day_zone: std::sync::Mutex::new(AllDayZone::Unknown),
        }
    }

    /// Writes all-day copies as midnight to midnight in the target mailbox's
    /// zone, not UTC: `Some(zone)` when it is known already, `Some(None)`
    /// when Graph would not tell it (UTC then), `None` to read it from the
    /// mailbox's settings the first time an all-day copy is written (see
    /// [`GraphCalendar::zone_read`]).
    ///
    /// Outlook ties an all-day event to the zone it was written in: one
    /// written in UTC spans two days for a viewer whose zone is not UTC
    /// (jasonjoh/php-calendar#9, microsoftgraph/msgraph-sdk-javascript#1158).
    /// Reading is unaffected: Graph returns all-day events midnight to
    /// midnight whatever zone is asked for (microsoft-graph-docs#1802), and
    /// calsync reads them as dates.
    pub fn all_day_in(self, zone: Option<Option<&str>>) -> Self {
        if let Some(zone) = zone {
            let zone = zone.map(str::trim).filter(|z| !z.is_empty());
            *self.zone_state() = AllDayZone::Given(zone.map(str::to_owned));
        }
        self
    }

    /// The zone read from the mailbox's settings during this run, if it was
    /// read (`Some(None)`: Graph would not tell it), for the caller to keep.
    pub fn zone_read(&self) -> Option<Option<String>> {
        match &*self.zone_state() {
            AllDayZone::Read(zone) => Some(zone.clone()),
            _ => None,
        }
    }

    fn zone_state(&self) -> std::sync::MutexGuard<'_, AllDayZone> {
        self.all_day_zone
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The zone to write this plan's all-day copies in, read from the
    /// mailbox's settings when the plan has one and it is not known yet.
    async fn zone_for(&self, plan: &Plan) -> String {
        let all_day = plan.creates.iter().any(|c| c.payload.is_all_day)
            || plan.updates.iter().any(|u| u.payload.is_all_day);
        let known = self.zone_state().clone();
        let zone = match known {
            AllDayZone::Given(zone) | AllDayZone::Read(zone) => zone,
            AllDayZone::Unknown if !all_day => None,
            AllDayZone::Unknown => match mailbox_zone(&self.client, &self.mailbox).await {
                Ok(zone) => {
                    *self.zone_state() = AllDayZone::Read(zone.clone());
                    zone
                }
                Err(e) => {
                    tracing::warn!(
                        "could not read the time zone of the mailbox {} ({e:#}); all-day \
                         copies are written in UTC this run",
                        self.mailbox
                    );
                    None
                }
            },
        };
        zone.unwrap_or_else(|| "UTC".to_owned())
    }

    /// Scopes the `transactionId`s of this calendar's creates to a run.
    pub fn for_run(mut self, run_id: &str) -> Self {
        self.attempt = format!("{run_id}/{:08x}", fastrand::u32(..));
        self
    }

    fn calendar_path(&self) -> String {
        format!(
            "{}/calendars/{}",
            mailbox_path(&self.mailbox),
            segment(&self.calendar_id)
        )
    }

    fn event_path(&self, id: &str) -> String {
        format!("{}/events/{}", mailbox_path(&self.mailbox), segment(id))
    }

    /// Every event of this calendar that carries calsync's source-key marker,
    /// with the marker expanded and the given fields selected, each turned
    /// into a `T` page by page by `convert` (`None` drops it). Events made by
    /// hand never match the filter.
    async fn read_marked<T: Send>(
        &self,
        select: &str,
        convert: impl Fn(&Value) -> anyhow::Result<Option<T>> + Send + Sync,
    ) -> anyhow::Result<Vec<T>> {
        let path = format!("{}/events", self.calendar_path());
        let filter = managed_filter();
        let expand = marker_expand();
        let mut out = Vec::new();
        self.client
            .for_each_page(
                &path,
                &[
                    ("$filter", filter.as_str()),
                    ("$expand", expand.as_str()),
                    ("$select", select),
                    ("$top", PAGE_SIZE),
                ],
                PageOptions::default(),
                |items| {
                    out.reserve(items.len());
                    for item in &items {
                        out.extend(convert(item)?);
                    }
                    Ok(())
                },
            )
            .await
            .map_err(|e| self.page_error(e))?;
        Ok(out)
    }

    fn page_error(&self, e: PageError) -> anyhow::Error {
        match e {
            PageError::Graph(e) => classify(e, &self.mailbox),
            PageError::Consumer(e) => e,
        }
    }

    /// A source event as kept: the fields the copy policy will not copy are
    /// dropped as soon as they are read (delta takes no `$select`), so the
    /// body of a private meeting is never held beyond its page.
    fn source_event(&self, v: &Value) -> anyhow::Result<Option<SourceEvent>> {
        Ok(source_event(v)?.map(|mut ev| {
            if !self.copy.body {
                ev.body = Body::default();
            }
            if !self.copy.location {
                ev.location = String::new();
            }
            ev
        }))
    }

    fn source_select(&self) -> String {
        let mut fields = vec![
            "id",
            "type",
            "seriesMasterId",
            "originalStart",
            "subject",
            "start",
            "end",
            "isAllDay",
            "showAs",
            "sensitivity",
            "isCancelled",
            "categories",
        ];
        if self.copy.location {
            fields.push("location");
        }
        if self.copy.body {
            fields.push("body");
        }
        fields.join(",")
    }
}

/// The pieces, each at most 1825 days long, that cover `[start, end)`.
pub fn view_pieces(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut pieces = Vec::new();
    let mut from = start;
    while from < end {
        let to = std::cmp::min(from + Duration::days(MAX_VIEW_DAYS), end);
        pieces.push((from, to));
        from = to;
    }
    pieces
}

fn z(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

impl SourceProvider for GraphCalendar {
    async fn read(&self, window: &Window) -> anyhow::Result<Vec<SourceEvent>> {
        let path = format!("{}/calendarView", self.calendar_path());
        let select = self.source_select();
        let mut seen = HashSet::new();
        let mut events = Vec::new();
        let mut ranges = Ranges::of(window);
        while let Some(range) = ranges.next() {
            let (from, to) = (z(range.start), z(range.end));
            let read = self
                .client
                .for_each_page(
                    &path,
                    &[
                        ("startDateTime", from.as_str()),
                        ("endDateTime", to.as_str()),
                        ("$top", PAGE_SIZE),
                        ("$orderby", "start/dateTime"),
                        ("$select", select.as_str()),
                    ],
                    ranges.options(&range),
                    |items| {
                        for item in &items {
                            if let Some(ev) = self.source_event(item)?
                                && seen.insert(ev.key.clone())
                            {
                                events.push(ev);
                            }
                        }
                        Ok(())
                    },
                )
                .await;
            if let Err(e) = read
                && !ranges.split(range, &e)
            {
                return Err(self.page_error(e))
                    .context("reading the source calendar failed; nothing was written");
            }
        }
        Ok(events)
    }
}

/// A range shorter than this is never split: Graph failing it is an outage.
const MIN_SPLIT_DAYS: i64 = 7;

/// The ranges a read of the window goes through: the pieces Graph accepts
/// (at most 1,825 days), and the halves of any piece Graph keeps answering
/// 503 or 504. Long windows with many series make Graph fail mid-paging
/// (microsoft-graph-docs#3657, #6499), and asking again for the same range
/// fails again; a shorter one is lighter. The halves are read depth first,
/// so that when Graph is down altogether the read fails after a few
/// requests, not after one per day of the window.
struct Ranges {
    /// Last to be read first.
    todo: Vec<PieceRange>,
}

impl Ranges {
    fn of(window: &Window) -> Ranges {
        // The window's end is included; the range's is not.
        let read_end = window.end + Duration::seconds(1);
        let mut todo: Vec<PieceRange> = view_pieces(window.start, read_end)
            .into_iter()
            .map(|(start, end)| PieceRange { start, end })
            .collect();
        todo.reverse();
        Ranges { todo }
    }

    fn next(&mut self) -> Option<PieceRange> {
        self.todo.pop()
    }

    fn splittable(range: &PieceRange) -> bool {
        range.end - range.start > Duration::days(MIN_SPLIT_DAYS)
    }

    /// How to read a range: one that can be split gets its 503 or 504 back
    /// after one retry.
    fn options(&self, range: &PieceRange) -> PageOptions<'static> {
        PageOptions {
            unavailable_retries: Self::splittable(range).then_some(1),
            ..PageOptions::default()
        }
    }

    /// After a failed read of `range`: whether it is read again as two
    /// halves (Graph answered 503 or 504, and the range is long enough).
    fn split(&mut self, range: PieceRange, e: &PageError) -> bool {
        let unavailable = matches!(e, PageError::Graph(g) if matches!(g.status, Some(503 | 504)));
        if !unavailable || !Self::splittable(&range) {
            return false;
        }
        let middle = range.start + (range.end - range.start) / 2;
        tracing::info!(
            from = %range.start,
            to = %range.end,
            "Graph keeps failing to read this range of the source; reading it in two halves"
        );
        self.todo.push(PieceRange {
            start: middle,
            end: range.end,
        });
        self.todo.push(PieceRange {
            start: range.start,
            end: middle,
        });
        true
    }
}

/// calendarView delta: the window goes on the first call of a piece only;
/// afterwards the stored `@odata.deltaLink` is followed exactly as given.
/// Delta takes no `$select`, so whole events come over the wire; only what
/// [`source_event`] keeps of them leaves this module.
///
/// Delta is a change signal for a series, not its content: Graph sends an
/// unmodified occurrence bare (id, type, seriesMasterId, start and end only)
/// and lists the series master as well (microsoft-graph-docs#7632,
/// microsoft-graph-docs#22197, microsoft-graph-docs-contrib#34), and it may
/// send nothing at all for a deleted occurrence (microsoft-graph-docs#4501).
/// So a listed master or an occurrence without its fields becomes
/// [`SourceChange::SeriesChanged`], and the series' instances are read again
/// ([`IncrementalSource::read_series`]); an occurrence or exception that came
/// whole is taken as it is.
impl IncrementalSource for GraphCalendar {
    async fn read_all(&self, window: &Window) -> anyhow::Result<Vec<PieceChanges>> {
        let path = format!("{}/calendarView/delta", self.calendar_path());
        let mut pieces = Vec::new();
        let mut ranges = Ranges::of(window);
        while let Some(range) = ranges.next() {
            let (from, to) = (z(range.start), z(range.end));
            let read = self
                .delta_round(
                    range,
                    &path,
                    &[
                        ("startDateTime", from.as_str()),
                        ("endDateTime", to.as_str()),
                    ],
                    ranges.options(&range).unavailable_retries,
                )
                .await;
            match read {
                Ok(piece) => pieces.push(piece),
                Err(e) if ranges.split(range, &e) => {}
                Err(e) => {
                    return Err(self.page_error(e))
                        .context("reading the source calendar failed; nothing was written");
                }
            }
        }
        Ok(pieces)
    }

    async fn read_changes(
        &self,
        cursors: &[(PieceRange, String)],
    ) -> anyhow::Result<Vec<PieceChanges>> {
        let mut pieces = Vec::with_capacity(cursors.len());
        for (range, link) in cursors {
            let piece = match self.delta_round(*range, link, &[], None).await {
                Ok(piece) => piece,
                Err(PageError::Graph(e)) if delta_link_refused(&e) => {
                    return Err(anyhow::Error::new(CursorExpired(e.to_string())));
                }
                Err(e) => {
                    return Err(self.page_error(e)).context(
                        "reading the source calendar's changes failed; nothing was written",
                    );
                }
            };
            pieces.push(piece);
        }
        Ok(pieces)
    }

    async fn read_series(
        &self,
        wanted: &[(PieceRange, String)],
    ) -> anyhow::Result<Vec<Option<SeriesInstances>>> {
        let context = "reading a recurring series of the source calendar failed; nothing was \
                       written";
        let select = self.source_select();
        let requests = wanted
            .iter()
            .map(|(range, series)| {
                let query = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("startDateTime", &z(range.start))
                    .append_pair("endDateTime", &z(range.end))
                    .append_pair("$select", &select)
                    .append_pair("$top", PAGE_SIZE)
                    .finish();
                // Under the calendar: a delegate with rights on that
                // calendar only reaches its events there
                // (`api-reference/v1.0/api/event-list-instances.md`).
                BatchRequest::bare(
                    Method::GET,
                    format!(
                        "{}/events/{}/instances?{query}",
                        self.calendar_path(),
                        segment(series)
                    ),
                )
            })
            .collect();
        let answers = self.client.batch_keeping(requests, None).await;
        let mut out = Vec::with_capacity(wanted.len());
        for answer in answers {
            let body = match answer {
                Ok(resp) => resp.body,
                // The series is gone (ErrorItemNotFound).
                Err(e) if e.is_not_found() => {
                    out.push(None);
                    continue;
                }
                Err(e) => return Err(classify(e, &self.mailbox)).context(context),
            };
            let mut instances = Vec::new();
            let mut take = |items: &[Value]| -> anyhow::Result<()> {
                for item in items {
                    let id = str_field(item, "id")
                        .filter(|s| !s.is_empty())
                        .ok_or_else(|| malformed("id"))?;
                    if let Some(ev) = self.source_event(item)? {
                        instances.push((id.to_owned(), ev));
                    }
                }
                Ok(())
            };
            let items = body
                .get("value")
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    anyhow!(
                        "Graph answered a request for a series' instances without a `value` \
                         array; the response is malformed or truncated."
                    )
                })
                .context(context)?;
            take(items).context(context)?;
            // A long series comes in pages.
            if let Some(next) = str_field(&body, "@odata.nextLink") {
                self.client
                    .for_each_page(next, &[], PageOptions::default(), |items| take(&items))
                    .await
                    .map_err(|e| self.page_error(e))
                    .context(context)?;
            }
            out.push(Some(instances));
        }
        Ok(out)
    }
}

/// The fields of an occurrence calsync reads besides its times: an
/// occurrence delta sends without them is only a signal that its series
/// changed.
const OCCURRENCE_FIELDS: [&str; 7] = [
    "originalStart",
    "subject",
    "sensitivity",
    "isAllDay",
    "isCancelled",
    "showAs",
    "categories",
];

impl GraphCalendar {
    /// One delta round of a piece, from its first call or a stored link,
    /// converted page by page.
    async fn delta_round(
        &self,
        range: PieceRange,
        path: &str,
        query: &[(&str, &str)],
        unavailable_retries: Option<u32>,
    ) -> Result<PieceChanges, PageError> {
        // Delta takes no `$select`: what is not needed is skipped as the page
        // is parsed.
        let select = self.source_select();
        let keep: Vec<&str> = select.split(',').chain(["@removed"]).collect();
        let options = PageOptions {
            max_page_size: Some(DELTA_PAGE_SIZE),
            keep: Some(&keep),
            unavailable_retries,
        };
        let mut changes = Vec::new();
        let delta_link = self
            .client
            .for_each_page(path, query, options, |items| {
                changes.reserve(items.len());
                for item in &items {
                    changes.push(self.delta_change(item)?);
                }
                Ok(())
            })
            .await?;
        let cursor = delta_link.ok_or_else(|| {
            PageError::Consumer(anyhow!(
                "Graph ended a calendarView delta round without an @odata.deltaLink; the \
                 response is malformed or truncated. Nothing was written. Run again; if it \
                 persists, run with -vv and report the request-id."
            ))
        })?;
        Ok(PieceChanges {
            range,
            changes,
            cursor,
        })
    }

    /// What one delta item says.
    fn delta_change(&self, item: &Value) -> anyhow::Result<SourceChange> {
        let item_id = str_field(item, "id")
            .filter(|s| !s.is_empty())
            .ok_or_else(|| malformed("id"))?
            .to_string();
        if item.get("@removed").is_some() {
            return Ok(SourceChange::Remove { item_id });
        }
        match str_field(item, "type") {
            Some("seriesMaster") => Ok(SourceChange::SeriesChanged { series_id: item_id }),
            Some("occurrence" | "exception")
                if OCCURRENCE_FIELDS.iter().any(|f| item.get(*f).is_none()) =>
            {
                let series_id = str_field(item, "seriesMasterId")
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| malformed("seriesMasterId"))?
                    .to_string();
                Ok(SourceChange::SeriesChanged { series_id })
            }
            _ => Ok(SourceChange::Upsert {
                item_id,
                event: self.source_event(item)?,
            }),
        }
    }
}

/// Whether Graph refused a stored delta link for good: `410`,
/// `SyncStateNotFound` and kin, or any other 4xx that is not about the
/// sign-in or throttling (`concepts/delta-query-overview.md`: drop the
/// state and read again).
fn delta_link_refused(e: &GraphError) -> bool {
    let code = e.code.to_ascii_lowercase();
    if matches!(
        code.as_str(),
        "syncstatenotfound" | "resyncrequired" | "syncstateinvalid"
    ) {
        return true;
    }
    matches!(e.status, Some(s) if (400..500).contains(&s) && !matches!(s, 401 | 403 | 429))
        || code == "foreign_next_link"
        || code == "invalid_url"
}

impl TargetProvider for GraphCalendar {
    async fn read_managed(&self, _window: &Window) -> anyhow::Result<Vec<ManagedEvent>> {
        self.read_marked(
            "id,subject,start,end,isAllDay,showAs,location,categories",
            managed_event,
        )
        .await
        .context("reading the target calendar failed; nothing was written")
    }

    async fn apply(&self, plan: &Plan) -> anyhow::Result<ApplyReport> {
        let events_path = format!("{}/events", self.calendar_path());
        let zone = self.zone_for(plan).await;
        let encoding = |e: serde_json::Error| anyhow!("could not encode an event for Graph: {e}");
        let request = |kind: Kind, index: usize| -> anyhow::Result<(BatchRequest, EventTime)> {
            Ok(match kind {
                Kind::Create => {
                    let c = &plan.creates[index];
                    let mut body = payload_json(&c.payload, &c.marker, &zone);
                    body["transactionId"] = json!(transaction_id(&self.attempt, &c.marker));
                    (
                        BatchRequest::with_body(Method::POST, events_path.clone(), &body)
                            .map_err(encoding)?,
                        c.payload.start,
                    )
                }
                Kind::Update => {
                    let u = &plan.updates[index];
                    (
                        BatchRequest::with_body(
                            Method::PATCH,
                            self.event_path(&u.target_id),
                            &payload_json(&u.payload, &u.marker, &zone),
                        )
                        .map_err(encoding)?,
                        u.payload.start,
                    )
                }
                Kind::Delete => {
                    let d = &plan.deletes[index];
                    (
                        BatchRequest::bare(Method::DELETE, self.event_path(&d.target_id)),
                        d.start,
                    )
                }
            })
        };
        let writes: Vec<(Kind, usize)> = (0..plan.creates.len())
            .map(|i| (Kind::Create, i))
            .chain((0..plan.updates.len()).map(|i| (Kind::Update, i)))
            .chain((0..plan.deletes.len()).map(|i| (Kind::Delete, i)))
            .collect();
        let mut report = ApplyReport::default();
        // The requests of a long plan are encoded a slice at a time, so that
        // a first sync of thousands of events does not hold every body at
        // once; a slice is long enough that the pause between two is rare.
        for slice in writes.chunks(APPLY_SLICE) {
            let mut requests = Vec::with_capacity(slice.len());
            let mut meta = Vec::with_capacity(slice.len());
            for &(kind, index) in slice {
                let (req, start) = request(kind, index)?;
                requests.push(req);
                meta.push((kind, start, index));
            }
            // Of an answer, only the id of a created event is used.
            let mut outcomes = self.client.batch_keeping(requests, Some(&["id"])).await;
            for ((kind, _, index), outcome) in meta.iter().zip(outcomes.iter_mut()) {
                if *kind == Kind::Create
                    && let Err(e) = outcome
                    && e.code == "ErrorDuplicateTransactionId"
                    && let Some(c) = plan.creates.get(*index)
                {
                    *outcome = self.created_earlier(e, &c.marker).await;
                }
            }
            record_outcomes(plan, meta, outcomes, &mut report);
        }
        Ok(report)
    }
}

impl GraphCalendar {
    /// A create Graph answered with `ErrorDuplicateTransactionId`: an
    /// earlier attempt of this POST (a retry after a lost answer) created the
    /// copy. Its id is the one Graph names, else the copy is looked up by its
    /// marker. Graph may answer a repeated `transactionId` with 201 or with
    /// this error (blog.rykoma.net 2020/10/05; alcionai/corso#2490), and both
    /// mean "created".
    async fn created_earlier(
        &self,
        err: &GraphError,
        marker: &Marker,
    ) -> Result<crate::graph::client::BatchResponse, GraphError> {
        let found = match err.existing_event_id() {
            Some(id) => Some(id.to_owned()),
            None => self.find_copy(&marker.source_key).await?,
        };
        match found {
            Some(id) => {
                tracing::debug!(
                    key = %marker.source_key,
                    "Graph says an earlier attempt created this copy already"
                );
                Ok(crate::graph::client::BatchResponse {
                    status: 201,
                    body: json!({ "id": id }),
                })
            }
            None => Err(err.clone()),
        }
    }

    /// The id of a copy carrying this source key, if there is one.
    async fn find_copy(&self, key: &SourceKey) -> Result<Option<String>, GraphError> {
        let path = format!("{}/events", self.calendar_path());
        let filter = format!(
            "singleValueExtendedProperties/Any(ep: ep/id eq '{SOURCE_KEY_PROPERTY}' and ep/value eq '{}')",
            key.as_str().replace('\'', "''")
        );
        let expand = marker_expand();
        let found = self
            .client
            .get_all(
                &path,
                &[
                    ("$filter", filter.as_str()),
                    ("$expand", expand.as_str()),
                    ("$select", "id"),
                ],
            )
            .await?;
        // The value comparison of the filter ignores case; keys do not.
        Ok(found
            .iter()
            .filter_map(|v| {
                marker_of(v)
                    .filter(|(k, _)| k == key)
                    .and(str_field(v, "id"))
            })
            .next()
            .map(str::to_owned))
    }
}

/// The `transactionId` of a create: a hash of the attempt it belongs to and
/// of the copy's marker. A retry within the attempt sends the same id, so
/// Graph creates no duplicate; another run sends another, so a copy deleted
/// by hand is created again whatever Graph still remembers (how long it does
/// is undocumented). Across runs, the marker is what finds a copy again.
pub fn transaction_id(attempt: &str, marker: &Marker) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in [
        "calsync-transaction/2",
        attempt,
        marker.source_key.as_str(),
        &marker.content_hash,
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let mut hex = hex::encode(h.finalize());
    hex.truncate(32);
    hex
}

/// What a write of [`GraphCalendar::apply`] is.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Create,
    Update,
    Delete,
}

/// Writes encoded and sent as one call of the batching client.
const APPLY_SLICE: usize = 2000;

/// Adds the outcomes of a slice of writes to the report.
fn record_outcomes(
    plan: &Plan,
    meta: Vec<(Kind, EventTime, usize)>,
    outcomes: Vec<Result<crate::graph::client::BatchResponse, GraphError>>,
    report: &mut ApplyReport,
) {
    for ((kind, start, index), outcome) in meta.into_iter().zip(outcomes) {
        let action = match kind {
            Kind::Create => "create",
            Kind::Update => "update",
            Kind::Delete => "delete",
        };
        let mut created_id = None;
        let error = match outcome {
            Ok(resp) if (200..300).contains(&resp.status) => {
                created_id = str_field(&resp.body, "id")
                    .filter(|id| !id.is_empty())
                    .map(str::to_string);
                None
            }
            // Already gone counts as deleted (`api-reference/v1.0/api/event-delete.md`:
            // 404 ErrorItemNotFound).
            Ok(resp) if kind == Kind::Delete && resp.status == 404 => None,
            Ok(resp) => Some(format!("Graph answered {}", resp.status)),
            Err(e) if kind == Kind::Delete && e.is_not_found() => None,
            Err(e) => Some(e.to_string()),
        };
        match error {
            None => match kind {
                Kind::Create => {
                    report.created += 1;
                    // A create answered without an id is counted but
                    // not reported as done: the caller must read the
                    // target to learn it.
                    if let (Some(target_id), Some(c)) = (created_id, plan.creates.get(index)) {
                        report.done.push(Applied::Created {
                            target_id,
                            marker: c.marker.clone(),
                        });
                    }
                }
                Kind::Update => {
                    report.updated += 1;
                    if let Some(u) = plan.updates.get(index) {
                        report.done.push(Applied::Updated {
                            target_id: u.target_id.clone(),
                            marker: u.marker.clone(),
                        });
                    }
                }
                Kind::Delete => {
                    report.deleted += 1;
                    if let Some(d) = plan.deletes.get(index) {
                        report.done.push(Applied::Deleted {
                            target_id: d.target_id.clone(),
                            key: d.key.clone(),
                        });
                    }
                }
            },
            Some(error) => report.failures.push(WriteFailure {
                action,
                start: start.to_string(),
                error,
            }),
        }
    }
}

impl InspectableTarget for GraphCalendar {
    async fn read_for_validation(&self) -> anyhow::Result<Vec<InspectedCopy>> {
        self.read_marked(VALIDATION_SELECT, inspected_copy)
            .await
            .context("reading the target calendar failed")
    }
}

/// What `validate` reads of a target event: what `sync` reads, and the fields
/// a copy must not hold. The body is read only to tell whether it has text;
/// it is never kept, printed or logged.
const VALIDATION_SELECT: &str = "id,subject,start,end,isAllDay,showAs,location,categories,\
body,bodyPreview,attendees,isOnlineMeeting,onlineMeeting,onlineMeetingUrl";

/// The `$filter` that selects the events carrying calsync's source-key marker.
pub fn managed_filter() -> String {
    format!(
        "singleValueExtendedProperties/Any(ep: ep/id eq '{SOURCE_KEY_PROPERTY}' and ep/value ne '')"
    )
}

/// The `$expand` that returns calsync's two marker properties.
pub fn marker_expand() -> String {
    format!(
        "singleValueExtendedProperties($filter=id eq '{SOURCE_KEY_PROPERTY}' or id eq '{CONTENT_HASH_PROPERTY}')"
    )
}

/// Turns one target event into an inspected copy; `None` when it does not
/// carry calsync's marker. Keeps only whether the forbidden fields are
/// present, never their content.
pub fn inspected_copy(v: &Value) -> anyhow::Result<Option<InspectedCopy>> {
    let Some(managed) = managed_event(v)? else {
        return Ok(None);
    };
    let preview = str_field(v, "bodyPreview").unwrap_or_default();
    let has_body = !preview.trim().is_empty()
        || v.get("body").is_some_and(|b| {
            let content = str_field(b, "content").unwrap_or_default();
            if str_field(b, "contentType").is_some_and(|t| t.eq_ignore_ascii_case("text")) {
                !content.trim().is_empty()
            } else {
                html_has_text(content)
            }
        });
    let attendees = v
        .get("attendees")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let meeting_data = v
        .get("onlineMeeting")
        .and_then(Value::as_object)
        .is_some_and(|o| {
            o.values().any(|x| match x {
                Value::Null => false,
                Value::String(s) => !s.trim().is_empty(),
                Value::Array(a) => !a.is_empty(),
                _ => true,
            })
        });
    let online_meeting = v.get("isOnlineMeeting").and_then(Value::as_bool) == Some(true)
        || meeting_data
        || str_field(v, "onlineMeetingUrl").is_some_and(|u| !u.trim().is_empty());
    Ok(Some(InspectedCopy {
        managed,
        has_body,
        attendees,
        online_meeting,
    }))
}

/// Whether an HTML body shows any text: tags, `head`, `style` and `script`
/// blocks, comments and whitespace (including `&nbsp;`) do not count.
fn html_has_text(html: &str) -> bool {
    let lower = html.to_ascii_lowercase();
    let mut rest = lower.as_str();
    let mut text = String::new();
    while let Some(open) = rest.find('<') {
        text.push_str(&rest[..open]);
        let after = &rest[open..];
        if let Some(comment) = after.strip_prefix("<!--") {
            rest = comment.find("-->").map_or("", |i| &comment[i + 3..]);
            continue;
        }
        let Some(close) = after.find('>') else {
            rest = "";
            break;
        };
        let tag = &after[1..close];
        let name = tag
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or("");
        rest = &after[close + 1..];
        if matches!(name, "head" | "style" | "script") {
            let end = format!("</{name}");
            rest = rest
                .find(&end)
                .and_then(|i| rest[i..].find('>').map(|j| &rest[i + j + 1..]))
                .unwrap_or("");
        }
    }
    text.push_str(rest);
    text.replace("&nbsp;", " ")
        .replace("&#160;", " ")
        .chars()
        .any(|c| !c.is_whitespace() && c != '\u{a0}')
}

/// The JSON body calsync writes for a copy. It never carries attendees, so no
/// invitation or cancellation is ever sent.
pub fn payload_json(p: &EventPayload, marker: &Marker, all_day_zone: &str) -> Value {
    json!({
        "subject": p.subject,
        "start": time_json(&p.start, all_day_zone),
        "end": time_json(&p.end, all_day_zone),
        "isAllDay": p.is_all_day,
        "showAs": p.show_as.as_str(),
        "sensitivity": "normal",
        "isReminderOn": false,
        "location": { "displayName": p.location },
        "body": {
            "contentType": match p.body.content_type { BodyType::Html => "html", BodyType::Text => "text" },
            "content": p.body.content,
        },
        "categories": p.categories,
        "singleValueExtendedProperties": [
            { "id": SOURCE_KEY_PROPERTY, "value": marker.source_key.as_str() },
            { "id": CONTENT_HASH_PROPERTY, "value": marker.content_hash },
        ],
    })
}

/// A time as Graph takes it: an instant in UTC, a date as midnight in
/// `all_day_zone`.
fn time_json(t: &EventTime, all_day_zone: &str) -> Value {
    match t {
        EventTime::Date(d) => json!({
            "dateTime": format!("{}T00:00:00", d.format("%Y-%m-%d")),
            "timeZone": all_day_zone,
        }),
        EventTime::Instant(i) => json!({
            "dateTime": i.format("%Y-%m-%dT%H:%M:%S").to_string(),
            "timeZone": "UTC",
        }),
    }
}

/// The time zone of a mailbox (`mailboxSettings.timeZone`), `None` when
/// Graph refuses to tell it (it needs `MailboxSettings.Read`:
/// `api-reference/v1.0/api/user-get-mailboxsettings.md`).
pub async fn mailbox_zone(client: &GraphClient, mailbox: &str) -> anyhow::Result<Option<String>> {
    let path = format!("{}/mailboxSettings/timeZone", mailbox_path(mailbox));
    match client.get(&path, &[]).await {
        Ok(v) => Ok(str_field(&v, "value")
            .map(str::trim)
            .filter(|z| !z.is_empty())
            .map(str::to_owned)),
        Err(e) if e.status == Some(403) || e.is_not_found() => Ok(None),
        Err(e) => Err(classify(e, mailbox)),
    }
}

fn malformed(what: &str) -> anyhow::Error {
    anyhow!(
        "Graph returned an event without a valid `{what}`; the response is malformed or \
         truncated. Nothing was written. Run again; if it persists, run with -vv and report \
         the request-id."
    )
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Parses a Graph `dateTimeTimeZone` into a time. calsync asks for UTC on
/// every request, so any other zone is converted if known and refused if not.
fn parse_time(v: &Value, key: &str, all_day: bool) -> anyhow::Result<EventTime> {
    let obj = v.get(key).ok_or_else(|| malformed(key))?;
    let raw = str_field(obj, "dateTime").ok_or_else(|| malformed(key))?;
    let naive = NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| malformed(key))?;
    if all_day {
        // All-day events are floating dates whatever zone label they carry.
        return Ok(EventTime::Date(naive.date()));
    }
    let zone = str_field(obj, "timeZone").unwrap_or("UTC");
    if zone.eq_ignore_ascii_case("UTC") || zone.eq_ignore_ascii_case("Etc/UTC") {
        return Ok(EventTime::Instant(naive.and_utc()));
    }
    let tz: chrono_tz::Tz = zone
        .parse()
        .map_err(|_| anyhow!("Graph returned a time in the unexpected zone \"{zone}\""))?;
    let local = naive
        .and_local_timezone(tz)
        .earliest()
        .ok_or_else(|| malformed(key))?;
    Ok(EventTime::Instant(local.with_timezone(&Utc)))
}

fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|n| n.and_utc())
        })
}

fn categories(v: &Value) -> Vec<String> {
    v.get("categories")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn location(v: &Value) -> String {
    v.get("location")
        .and_then(|l| l.get("displayName"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The fields besides `sensitivity` that decide whether an event is public.
const DECIDING_FIELDS: [&str; 4] = ["subject", "isCancelled", "showAs", "categories"];

/// Turns one calendarView item into a source event; `None` for items that
/// are not instances (series masters never come from calendarView, but a
/// server that sent one must not make calsync copy a whole series as one).
pub fn source_event(v: &Value) -> anyhow::Result<Option<SourceEvent>> {
    let id = str_field(v, "id")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| malformed("id"))?;
    let kind = str_field(v, "type").unwrap_or("singleInstance");
    let key = match kind {
        "occurrence" | "exception" => {
            let series = str_field(v, "seriesMasterId")
                .filter(|s| !s.is_empty())
                .ok_or_else(|| malformed("seriesMasterId"))?;
            let original = str_field(v, "originalStart")
                .and_then(parse_instant)
                .ok_or_else(|| malformed("originalStart"))?;
            SourceKey::occurrence(series, original)
        }
        "seriesMaster" => return Ok(None),
        _ => SourceKey::single(id),
    };
    // Where an event falls depends on it: a missing flag is not taken as
    // "timed".
    let is_all_day = v
        .get("isAllDay")
        .and_then(Value::as_bool)
        .ok_or_else(|| malformed("isAllDay"))?;
    let start = parse_time(v, "start", is_all_day)?;
    let end = parse_time(v, "end", is_all_day)?;
    // An unknown or missing sensitivity is treated as private, and so is an
    // event that came without any other field the filter decides on: a
    // field Graph did not send is never taken to be public.
    let complete = DECIDING_FIELDS.iter().all(|f| v.get(*f).is_some());
    let sensitivity = str_field(v, "sensitivity")
        .and_then(Sensitivity::parse)
        .filter(|_| complete)
        .unwrap_or(Sensitivity::Private);
    let show_as = str_field(v, "showAs")
        .and_then(ShowAs::parse)
        .unwrap_or(ShowAs::Unknown);
    let body = match v.get("body") {
        Some(b) => Body {
            content_type: if str_field(b, "contentType")
                .is_some_and(|t| t.eq_ignore_ascii_case("html"))
            {
                BodyType::Html
            } else {
                BodyType::Text
            },
            content: str_field(b, "content").unwrap_or_default().to_string(),
        },
        None => Body::default(),
    };
    Ok(Some(SourceEvent {
        key,
        subject: str_field(v, "subject").unwrap_or_default().to_string(),
        start,
        end,
        is_all_day,
        show_as,
        sensitivity,
        is_cancelled: v
            .get("isCancelled")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        categories: categories(v),
        location: location(v),
        body,
    }))
}

/// The source key and content hash of calsync's marker on a target event;
/// `None` when it carries no source key.
fn marker_of(v: &Value) -> Option<(SourceKey, String)> {
    let mut source_key = None;
    let mut content_hash = String::new();
    for p in v.get("singleValueExtendedProperties")?.as_array()? {
        let pid = str_field(p, "id").unwrap_or_default();
        let value = str_field(p, "value").unwrap_or_default();
        // Graph may return the GUID in another case.
        if pid.eq_ignore_ascii_case(SOURCE_KEY_PROPERTY) && !value.is_empty() {
            source_key = Some(SourceKey(value.to_string()));
        } else if pid.eq_ignore_ascii_case(CONTENT_HASH_PROPERTY) {
            content_hash = value.to_string();
        }
    }
    Some((source_key?, content_hash))
}

/// Turns one target event into a managed event; `None` when it does not carry
/// calsync's source-key marker (it was made by hand and is never touched).
pub fn managed_event(v: &Value) -> anyhow::Result<Option<ManagedEvent>> {
    let Some((source_key, content_hash)) = marker_of(v) else {
        return Ok(None);
    };
    let id = str_field(v, "id")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| malformed("id"))?;
    let is_all_day = v.get("isAllDay").and_then(Value::as_bool).unwrap_or(false);
    Ok(Some(ManagedEvent {
        target_id: id.to_string(),
        marker: Marker {
            source_key,
            content_hash,
        },
        current: EventPayload {
            subject: str_field(v, "subject").unwrap_or_default().to_string(),
            start: parse_time(v, "start", is_all_day)?,
            end: parse_time(v, "end", is_all_day)?,
            is_all_day,
            show_as: str_field(v, "showAs")
                .and_then(ShowAs::parse)
                .unwrap_or(ShowAs::Unknown),
            location: location(v),
            body: Body::default(),
            categories: categories(v),
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone};

    #[test]
    fn pieces_never_exceed_graph_limit_and_cover_the_range() {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let end = start + Duration::days(1825) + Duration::seconds(1);
        let pieces = view_pieces(start, end);
        assert_eq!(pieces.len(), 2);
        assert_eq!(pieces[0], (start, start + Duration::days(1825)));
        assert_eq!(pieces[1].1, end);
        assert!(view_pieces(start, start + Duration::days(10)).len() == 1);
        let long = view_pieces(start, start + Duration::days(4000));
        assert_eq!(long.len(), 3);
        assert!(long.iter().all(|(a, b)| *b - *a <= Duration::days(1825)));
    }

    /// A full occurrence as calendarView and instances send it.
    fn full_occurrence() -> Value {
        json!({"id":"occ-1","type":"occurrence","seriesMasterId":"M","originalStart":"2026-12-01T10:00:00Z",
            "start":{"dateTime":"2026-12-01T10:00:00.0000000","timeZone":"UTC"},
            "end":{"dateTime":"2026-12-01T11:00:00.0000000","timeZone":"UTC"},"sensitivity":"normal",
            "subject":"Open hour","isAllDay":false,"isCancelled":false,"showAs":"busy","categories":[]})
    }

    fn calendar() -> GraphCalendar {
        let url = url::Url::parse("http://127.0.0.1:9/v1.0").unwrap();
        let http = crate::graph::client::http_client(std::time::Duration::from_secs(1)).unwrap();
        let client = GraphClient::new(
            http,
            std::sync::Arc::new(crate::auth::StaticToken::new("t".to_string().into())),
            crate::graph::client::ClientOptions::new(url),
        );
        GraphCalendar::new(client, "a@b.example", "CAL", CopyPolicy::default())
    }

    #[test]
    fn delta_items_are_taken_whole_or_as_a_series_signal() {
        let cal = calendar();
        // Reported shape of an unmodified occurrence in delta.
        let bare = json!({"@odata.type":"#microsoft.graph.event","@odata.etag":"W/\"x\"","id":"occ-9",
            "type":"occurrence","seriesMasterId":"M",
            "start":{"dateTime":"2026-12-01T10:00:00.0000000","timeZone":"UTC"},
            "end":{"dateTime":"2026-12-01T11:00:00.0000000","timeZone":"UTC"}});
        assert!(matches!(cal.delta_change(&bare).unwrap(),
            SourceChange::SeriesChanged { series_id } if series_id == "M"));
        let master =
            json!({"id":"M","type":"seriesMaster","subject":"Open hour","sensitivity":"normal"});
        assert!(matches!(cal.delta_change(&master).unwrap(),
            SourceChange::SeriesChanged { series_id } if series_id == "M"));
        // One missing field is enough: nothing is defaulted.
        for field in OCCURRENCE_FIELDS {
            let mut partial = full_occurrence();
            partial.as_object_mut().unwrap().remove(field);
            assert!(
                matches!(
                    cal.delta_change(&partial).unwrap(),
                    SourceChange::SeriesChanged { .. }
                ),
                "{field}"
            );
        }
        let mut exception = full_occurrence();
        exception["type"] = json!("exception");
        assert!(matches!(cal.delta_change(&exception).unwrap(),
            SourceChange::Upsert { item_id, event: Some(ev) } if item_id == "occ-1"
                && ev.key.as_str() == "s:M@20261201T100000Z"));
        let removed = json!({"id":"occ-1","@removed":{"reason":"deleted"}});
        assert!(matches!(cal.delta_change(&removed).unwrap(),
            SourceChange::Remove { item_id } if item_id == "occ-1"));
    }

    #[test]
    fn an_all_day_occurrence_keeps_its_own_original_start() {
        // microsoft-graph-docs-contrib#7803: originalStart is the original
        // local midnight of the organizer's zone, not the start.
        let mut v = full_occurrence();
        v["isAllDay"] = json!(true);
        v["start"] = json!({"dateTime":"2018-06-05T00:00:00.0000000","timeZone":"UTC"});
        v["end"] = json!({"dateTime":"2018-06-06T00:00:00.0000000","timeZone":"UTC"});
        v["originalStart"] = json!("2018-06-05T07:00:00Z");
        let ev = source_event(&v).unwrap().unwrap();
        assert_eq!(ev.key.as_str(), "s:M@20180605T070000Z");
        assert_eq!(
            ev.start,
            EventTime::Date(NaiveDate::from_ymd_opt(2018, 6, 5).unwrap())
        );
    }

    #[test]
    fn a_missing_deciding_field_is_never_public() {
        for field in DECIDING_FIELDS {
            let mut v = full_occurrence();
            v["type"] = json!("singleInstance");
            v.as_object_mut().unwrap().remove(field);
            let ev = source_event(&v).unwrap().unwrap();
            assert_eq!(ev.sensitivity, Sensitivity::Private, "{field}");
        }
        let mut v = full_occurrence();
        v.as_object_mut().unwrap().remove("isAllDay");
        assert!(
            source_event(&v).is_err(),
            "where an event falls is never guessed"
        );
    }

    /// A delta or calendarView item as Graph might send it, or mangle it:
    /// each field present or not, with a plausible or an odd value.
    fn any_item() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let odd = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            ".{0,12}".prop_map(Value::from),
            Just(json!([])),
            Just(json!({})),
        ];
        let time = prop_oneof![
            Just(json!({"dateTime":"2026-12-01T10:00:00.0000000","timeZone":"UTC"})),
            Just(
                json!({"dateTime":"2026-12-01T00:00:00.0000000","timeZone":"Tokyo Standard Time"})
            ),
            Just(json!({"dateTime":"+275760-09-13T00:00:00","timeZone":"UTC"})),
            Just(json!({"dateTime":"2026-03-29T02:30:00","timeZone":"Europe/Berlin"})),
            odd.clone(),
        ];
        let field = |good: BoxedStrategy<Value>| prop_oneof![3 => good.prop_map(Some), 1 => odd.clone().prop_map(Some), 2 => Just(None)];
        (
            field(prop_oneof![Just(json!("occ")), Just(json!(""))].boxed()),
            field(
                prop_oneof![
                    Just(json!("singleInstance")),
                    Just(json!("occurrence")),
                    Just(json!("exception")),
                    Just(json!("seriesMaster"))
                ]
                .boxed(),
            ),
            field(Just(json!("M")).boxed()),
            field(prop_oneof![Just(json!("2026-12-01T10:00:00Z")), Just(json!("garbage"))].boxed()),
            field(
                prop_oneof![
                    Just(json!("normal")),
                    Just(json!("private")),
                    Just(json!("NORMAL"))
                ]
                .boxed(),
            ),
            field(any::<bool>().prop_map(Value::from).boxed()),
            field(any::<bool>().prop_map(Value::from).boxed()),
            (
                field(Just(json!("Open day")).boxed()),
                field(Just(json!("busy")).boxed()),
                field(Just(json!(["Public"])).boxed()),
                field(Just(json!({"reason":"deleted"})).boxed()),
                time.clone().prop_map(Some),
                time.prop_map(Some),
            ),
        )
            .prop_map(
                |(id, kind, series, original, sensitivity, all_day, cancelled, rest)| {
                    let (subject, show_as, categories, removed, start, end) = rest;
                    let mut m = serde_json::Map::new();
                    for (k, v) in [
                        ("id", id),
                        ("type", kind),
                        ("seriesMasterId", series),
                        ("originalStart", original),
                        ("sensitivity", sensitivity),
                        ("isAllDay", all_day),
                        ("isCancelled", cancelled),
                        ("subject", subject),
                        ("showAs", show_as),
                        ("categories", categories),
                        ("@removed", removed),
                        ("start", start),
                        ("end", end),
                    ] {
                        if let Some(v) = v {
                            m.insert(k.to_owned(), v);
                        }
                    }
                    Value::Object(m)
                },
            )
    }

    proptest::proptest! {
        /// Whatever Graph sends, reading it never panics, and an event is
        /// public only when Graph said all that decides it: a field it did
        /// not send is never taken to be public.
        #[test]
        fn no_item_is_public_unless_graph_said_so(item in any_item()) {
            let cal = calendar();
            let said_public = item.get("sensitivity").and_then(Value::as_str)
                .is_some_and(|s| s.eq_ignore_ascii_case("normal"))
                && DECIDING_FIELDS.iter().all(|f| item.get(*f).is_some());
            if let Ok(Some(ev)) = source_event(&item) {
                proptest::prop_assert!(ev.sensitivity != Sensitivity::Normal || said_public);
            }
            if let Ok(SourceChange::Upsert { event: Some(ev), .. }) = cal.delta_change(&item) {
                proptest::prop_assert!(ev.sensitivity != Sensitivity::Normal || said_public);
                if matches!(item.get("type").and_then(Value::as_str), Some("occurrence" | "exception")) {
                    proptest::prop_assert!(OCCURRENCE_FIELDS.iter().all(|f| item.get(*f).is_some()));
                }
            }
        }
    }

    #[test]
    fn transaction_ids_are_fixed_within_an_attempt_and_new_in_the_next() {
        let m = Marker {
            source_key: SourceKey::single("abc"),
            content_hash: "h1".into(),
        };
        let t = transaction_id("run-1/0a", &m);
        assert_eq!(t.len(), 32);
        assert_eq!(t, transaction_id("run-1/0a", &m));
        assert_ne!(t, transaction_id("run-2/0b", &m));
        let other = Marker {
            content_hash: "h2".into(),
            ..m.clone()
        };
        assert_ne!(t, transaction_id("run-1/0a", &other));
        let cal = calendar();
        assert_ne!(cal.attempt, calendar().attempt);
        assert!(
            calendar()
                .for_run("20261206T101500Z-ab12")
                .attempt
                .starts_with("20261206T101500Z-ab12/")
        );
    }

    #[test]
    fn occurrence_key_survives_new_occurrence_ids() {
        let a = full_occurrence();
        let mut b = a.clone();
        b["id"] = json!("occ-2-reissued");
        let ka = source_event(&a).unwrap().unwrap().key;
        let kb = source_event(&b).unwrap().unwrap().key;
        assert_eq!(ka, kb);
        assert_eq!(ka.as_str(), "s:M@20261201T100000Z");
    }

    #[test]
    fn unknown_sensitivity_fails_closed_and_all_day_is_a_date() {
        let v = json!({"id":"x","isAllDay":true,"sensitivity":"weird","subject":"","isCancelled":false,
            "showAs":"busy","categories":[],
            "start":{"dateTime":"2026-12-01T00:00:00.0000000","timeZone":"Tokyo Standard Time"},
            "end":{"dateTime":"2026-12-02T00:00:00.0000000","timeZone":"Tokyo Standard Time"}});
        let ev = source_event(&v).unwrap().unwrap();
        assert_eq!(ev.sensitivity, Sensitivity::Private);
        assert_eq!(
            ev.start,
            EventTime::Date(NaiveDate::from_ymd_opt(2026, 12, 1).unwrap())
        );
    }

    #[test]
    fn missing_start_is_malformed() {
        let v = json!({"id":"x","sensitivity":"normal"});
        assert!(source_event(&v).is_err());
    }

    #[test]
    fn events_without_marker_are_not_managed() {
        let v = json!({"id":"x","subject":"by hand",
            "start":{"dateTime":"2026-12-01T10:00:00.0000000","timeZone":"UTC"},
            "end":{"dateTime":"2026-12-01T11:00:00.0000000","timeZone":"UTC"}});
        assert!(managed_event(&v).unwrap().is_none());
    }

    #[test]
    fn payload_has_no_attendees_and_carries_marker() {
        let p = EventPayload {
            subject: "Open day".into(),
            start: EventTime::Date(NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()),
            end: EventTime::Date(NaiveDate::from_ymd_opt(2026, 12, 2).unwrap()),
            is_all_day: true,
            show_as: ShowAs::Free,
            location: String::new(),
            body: Body::default(),
            categories: vec![],
        };
        let m = Marker {
            source_key: SourceKey::single("abc"),
            content_hash: "h".into(),
        };
        let j = payload_json(&p, &m, "W. Europe Standard Time");
        assert!(j.get("attendees").is_none());
        assert_eq!(j["start"]["dateTime"], "2026-12-01T00:00:00");
        assert_eq!(j["start"]["timeZone"], "W. Europe Standard Time");
        assert_eq!(j["end"]["dateTime"], "2026-12-02T00:00:00");
        assert_eq!(j["singleValueExtendedProperties"][0]["value"], "i:abc");
    }

    fn marked(extra: Value) -> Value {
        let mut v = json!({"id":"t1","subject":"Open day",
            "start":{"dateTime":"2026-12-01T10:00:00.0000000","timeZone":"UTC"},
            "end":{"dateTime":"2026-12-01T11:00:00.0000000","timeZone":"UTC"},
            "singleValueExtendedProperties":[
                {"id": SOURCE_KEY_PROPERTY, "value": "i:abc"},
                {"id": CONTENT_HASH_PROPERTY, "value": "h"}]});
        if let (Some(obj), Some(more)) = (v.as_object_mut(), extra.as_object()) {
            for (k, x) in more {
                obj.insert(k.clone(), x.clone());
            }
        }
        v
    }

    #[test]
    fn a_copy_as_calsync_writes_it_holds_nothing_forbidden() {
        // What Exchange returns for an event written with an empty body.
        let c = inspected_copy(&marked(json!({
            "body": {"contentType": "html", "content": "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\"><style type=\"text/css\" style=\"display:none\">P {margin-top:0;margin-bottom:0;}</style></head><body dir=\"ltr\">&nbsp;<br></body></html>"},
            "bodyPreview": "",
            "attendees": [],
            "isOnlineMeeting": false,
            "onlineMeeting": null,
            "onlineMeetingUrl": null,
        })))
        .unwrap()
        .unwrap();
        assert!(!c.has_body);
        assert_eq!(c.attendees, 0);
        assert!(!c.online_meeting);
        assert_eq!(c.managed.marker.source_key.as_str(), "i:abc");
    }

    #[test]
    fn forbidden_fields_are_noticed_but_not_kept() {
        let c = inspected_copy(&marked(json!({
            "body": {"contentType": "html", "content": "<html><body><p>Door code 4711</p></body></html>"},
            "attendees": [{"emailAddress": {"address": "ceo@contoso.example"}}],
            "onlineMeeting": {"joinUrl": "https://teams.example/join/1"},
        })))
        .unwrap()
        .unwrap();
        assert!(c.has_body);
        assert_eq!(c.attendees, 1);
        assert!(c.online_meeting);
        let kept = format!("{c:?}");
        assert!(!kept.contains("4711") && !kept.contains("ceo@") && !kept.contains("teams"));

        let text = inspected_copy(&marked(
            json!({"body": {"contentType": "text", "content": " x "}}),
        ))
        .unwrap()
        .unwrap();
        assert!(text.has_body);
        let preview = inspected_copy(&marked(json!({"bodyPreview": "Agenda"})))
            .unwrap()
            .unwrap();
        assert!(preview.has_body);
        let flag = inspected_copy(&marked(json!({"isOnlineMeeting": true})))
            .unwrap()
            .unwrap();
        assert!(flag.online_meeting);
        let unmarked = json!({"id":"x","subject":"by hand",
            "start":{"dateTime":"2026-12-01T10:00:00","timeZone":"UTC"},
            "end":{"dateTime":"2026-12-01T11:00:00","timeZone":"UTC"}});
        assert!(inspected_copy(&unmarked).unwrap().is_none());
    }

    #[test]
    fn html_text_ignores_markup_styles_and_comments() {
        assert!(!html_has_text(""));
        assert!(!html_has_text("<p>&nbsp;</p><!-- note --><br/>"));
        assert!(!html_has_text(
            "<style>p { color: red }</style><script>x()</script>"
        ));
        assert!(html_has_text("<div>Hi</div>"));
        assert!(html_has_text("plain words"));
    }
}
