//! Microsoft Graph calendars as a [`SourceProvider`] and a [`TargetProvider`].
//!
//! This module translates between Graph's JSON and the neutral model. Every
//! request goes through [`GraphClient`], which owns paging, batching, retries
//! and throttling. `calendars` finds the calendars, `read` reads the
//! source (whole, or its changes through delta), `write` applies a plan to
//! the target, and `parse` turns Graph's events into the model's.

use crate::config::CalendarRef;
use crate::error::Failure;
use crate::graph::client::{BatchRequest, GraphClient, GraphError, PageError, PageOptions};
use crate::graph::wire::{BodyField, CopyEvent, GraphEvent};
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
use crate::text::html_has_text;
use anyhow::{Context, anyhow};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashSet;

mod calendars;
mod parse;
mod read;
mod write;

pub use calendars::*;
pub use parse::*;
pub use write::*;

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
        convert: impl Fn(&CopyEvent) -> anyhow::Result<Option<T>> + Send + Sync,
    ) -> anyhow::Result<Vec<T>> {
        let path = format!("{}/events", self.calendar_path());
        let filter = managed_filter();
        let expand = marker_expand();
        let mut out = Vec::new();
        self.client
            .for_each_page_of::<CopyEvent, _>(
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
    fn source_event<B: BodyField>(&self, v: &GraphEvent<B>) -> anyhow::Result<Option<SourceEvent>> {
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
            "iCalUId",
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

#[cfg(test)]
mod tests;
