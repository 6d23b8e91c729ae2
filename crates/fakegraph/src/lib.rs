//! A stateful fake of Microsoft Graph (calendars and events) and of the
//! identity platform's token endpoint, served over real HTTP on loopback.
//!
//! It answers as Graph is *reported* to answer where reports of the real
//! service and the documentation disagree, and as documented elsewhere
//! (status codes, error bodies, paging, throttling with `Retry-After`), so a
//! client tested against it is tested against Graph rather than against its
//! own expectations. [`Behaviour`] switches each disputed point to the
//! documented variant.
//!
//! ```no_run
//! use fakegraph::FakeGraph;
//! use serde_json::json;
//!
//! let fake = FakeGraph::start();
//! fake.add_app("contoso", "client-id", "secret");
//! fake.add_mailbox("events@contoso.example");
//! let calendar = fake.default_calendar_id("events@contoso.example").unwrap();
//! fake.insert_event("events@contoso.example", &calendar, json!({
//!     "subject": "Open day",
//!     "start": {"dateTime": "2030-05-01T10:00:00", "timeZone": "W. Europe Standard Time"},
//!     "end": {"dateTime": "2030-05-01T12:00:00", "timeZone": "W. Europe Standard Time"},
//! }));
//! // Point the client at fake.graph_url() and fake.authority_url().
//! ```
//!
//! # What is served
//!
//! - `POST /{tenant}/oauth2/v2.0/devicecode`: device authorization, answered
//!   as scripted with [`FakeGraph::script_device_flow`].
//! - `POST /{tenant}/oauth2/v2.0/token`: the client-credentials, device-code
//!   and refresh-token grants (refresh tokens rotate on every use).
//! - `/v1.0/users/{id|upn}` and, with a delegated token, `/v1.0/me` (the
//!   signed-in user's mailbox): the user; `/mailboxSettings` and its
//!   settings (`/mailboxSettings/timeZone`, …); `/calendars` (list, create),
//!   `/calendars/{id}`, `/calendar`; `calendarView` under a calendar,
//!   `/calendar` or the user; `/events` (list, create) under a calendar,
//!   `/calendar` or the user; `/events/{id}` (get, patch, delete) and
//!   `/events/{id}/instances`.
//! - `calendarView/delta` under a calendar, `/calendar` or the user.
//! - `POST /v1.0/$batch`.
//!
//! `/me` with an app-only token is a 400, as on Graph. Delta on `/events`
//! (beta only) and attachments are not served.
//!
//! # Sign-in and permissions
//!
//! Apps registered with [`FakeGraph::add_app`] accept their secret;
//! [`FakeGraph::allow_public_client_flows`] lets them use the device code and
//! refresh tokens without one. Access tokens are unsigned JWT-shaped strings
//! carrying `aud` (this fake's origin, standing in for
//! `https://graph.microsoft.com`), `tid`, `appid`, `iat`, `nbf`, `exp`, and
//! `roles` (app-only: the app's application permissions, `Calendars.ReadWrite`
//! unless [`FakeGraph::set_app_roles`] says otherwise) or `scp` (delegated:
//! the scopes the sign-in asked for, as with dynamic consent, unless
//! [`FakeGraph::set_delegated_scopes`] fixed them) with `upn` and
//! `preferred_username`. With `openid` the token response carries an id
//! token too. What each route needs:
//!
//! - calendars and events: app-only a `Calendars.*` role; delegated
//!   `Calendars.*` on one's own mailbox, `Calendars.*.Shared` on anyone
//!   else's (`concepts/outlook-get-shared-events-calendars.md`), else
//!   `403 ErrorAccessDenied`. A delegate is refused (`403 ErrorAccessDenied`)
//!   on another mailbox's `/calendars` collection (list or create) while
//!   `/calendar` and `/calendars/{id}/…` work, unless
//!   [`Behaviour::delegate_can_list_calendars`].
//! - the user object (`GET /me`, `/users/{id}`): delegated `User.Read` for
//!   oneself or `User.ReadBasic.All`/`User.Read.All` for anyone; app-only
//!   `User.Read.All`; else `403 Authorization_RequestDenied`
//!   (`api-reference/v1.0/api/user-get.md`). Calendar scopes alone do not do.
//! - `mailboxSettings`: `MailboxSettings.Read` or `.ReadWrite`, delegated on
//!   one's own mailbox or app-only, else `403 ErrorAccessDenied`.
//!
//! # Behaviour worth knowing
//!
//! - Every `/v1.0` request needs `Authorization: Bearer <issued token>`;
//!   errors are `{"error":{"code","message","innerError":{date, request-id,
//!   client-request-id}}}` and every response carries `request-id` (and echoes
//!   `client-request-id`) and a `Date` header, whose clock
//!   [`FakeGraph::set_clock_offset`] can shift.
//! - Collections page 10 items by default; `$top` is 1..=1000; the nextLink is
//!   the request's own URL with `$skip`. calendarView is ordered by start.
//!   calendarView and instances need both bounds and at most 1825 days.
//! - `$filter` supports comparisons, `and`/`or`/`not`, `startswith`,
//!   `endswith`, `contains` and `any`/`all` lambdas (notably
//!   `singleValueExtendedProperties/Any(ep: ep/id eq '…' and ep/value eq '…')`);
//!   other forms get a 400. `$expand` supports only
//!   `singleValueExtendedProperties($filter=id eq '…' [or …])`.
//! - A `transactionId` is remembered per mailbox for the fake's lifetime,
//!   even after its event is deleted. Repeating it creates nothing and, by
//!   default, answers `400 ErrorDuplicateTransactionId` with
//!   `@event.existingEventId` (as alcionai/corso#2490 reports); see
//!   [`DuplicateTransactionId`] for 409 and for 201 with the existing event.
//! - Delta rounds are kept server-side; `Prefer: odata.maxpagesize` sets the
//!   page size (default 10), but a series is never split across pages.
//!   [`FakeGraph::invalidate_delta_tokens`] makes stored links answer
//!   `410 SyncStateNotFound`. By default ([`DeltaOccurrences::Bare`]) an
//!   unmodified occurrence comes with only `@odata.type`, `@odata.etag`,
//!   `id`, `type`, `seriesMasterId`, `start` and `end`, and its series master
//!   is listed in full whenever the series enters the window or changes
//!   (editing the master also brings every occurrence back; modifying or
//!   cancelling one occurrence brings the master and that instance);
//!   exceptions and single events are full. A deleted occurrence is
//!   `@removed`, or sends nothing with
//!   [`Behaviour::delta_signals_deleted_occurrences`] off.
//!   [`DeltaOccurrences::Full`] is the documented shape: full occurrences,
//!   no masters. Read a series' content from `/events/{id}/instances`.
//! - Throttling is per app + mailbox: more than 4 operations in flight get
//!   `429 ApplicationThrottled`; see [`Faults`] for injected failures
//!   (including [`Faults::fail_long_ranges`]) and [`Faults::graph_like`] for
//!   Graph's latency (operation times vary, [`OperationTime::Spread`]) and
//!   rate limit. A `$batch` envelope is not
//!   an operation itself; each inner request is, and the batch answers only
//!   after its last one finished. [`FakeGraph::throttling`] tells what was
//!   refused, the peak in flight and the peak a client held outstanding
//!   ([`Throttling::peak_outstanding`], a batch counting min(4, n)).
//! - A mailbox's default calendar may have a localized name
//!   ([`FakeGraph::add_mailbox_localized`]); find it with
//!   [`FakeGraph::default_calendar_id`] or `GET /calendar`.
//!
//! # Seed files
//!
//! [`FakeGraph::load_seed`] (and `fakegraph --seed FILE`) take
//! `{"apps":[{tenant, client_id, client_secret}], "mailboxes":[{upn,
//! defaultCalendarName?, timeZone?, calendars:[{name, events:[…]}]}]}`.
//! Events are Graph-shaped as for [`FakeGraph::insert_event`], plus
//! `modifiedOccurrences` (`[{originalStart, patch}]`) and
//! `cancelledOccurrences` (`[originalStart]`). Dates may be relative: a
//! `dateTime`, `startDate`, `endDate` or `originalStart` of
//! `today+3T10:00:00` means 10:00 three days from today (UTC). See
//! `examples/seed.json`.
//!
//! # Ids
//!
//! Ids are opaque, case-sensitive, URL-safe base64. Events never move between
//! calendars here, so ids are stable whether or not a client sends
//! `Prefer: IdType="ImmutableId"`; whether it did is recorded in
//! [`RecordedRequest::immutable_id`]. Occurrence ids are derived from the
//! series master id and the date, and change after
//! [`FakeGraph::reissue_occurrence_ids`] or a change to a series' recurrence.

mod batch;
mod behaviour;
mod delta;
mod error;
mod event;
mod faults;
mod graph;
mod http;
mod identity;
mod ids;
mod odata;
mod recurrence;
mod seed;
mod server;
mod store;
mod timezone;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::oneshot;

pub use behaviour::{Behaviour, DeltaOccurrences, DuplicateTransactionId};
pub use faults::{Faults, LatencyModel, OperationTime, Throttling};
pub use identity::DevicePoll;
pub use seed::SeedSummary;

use event::{ExtMode, RenderOpts};
use server::Shared;
use store::{Origin, Target};

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    /// Percent-decoded path; Graph paths without the `/v1.0` prefix (e.g.
    /// `/users/a@x/calendars/ID/events`, `/$batch`), token requests as sent
    /// (`/tenant/oauth2/v2.0/token`).
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    /// The status answered; 0 while the request is still being handled.
    pub status: u16,
    /// Whether it came inside a `$batch` (recorded after the batch itself).
    pub in_batch: bool,
    /// The raw `Authorization` header value.
    pub authorization: Option<String>,
    pub body: String,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    /// Whether it carried `Prefer: IdType="ImmutableId"`.
    pub immutable_id: bool,
    /// Whether the connection was dropped mid-response by an injected fault.
    pub dropped: bool,
    /// The `request-id` the fake answered with.
    pub request_id: String,
    /// When the fake received it.
    pub received: std::time::Instant,
}

struct Handle {
    shared: Arc<Shared>,
    stop: Mutex<Option<oneshot::Sender<()>>>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.lock().ok().and_then(|mut s| s.take()) {
            let _ = stop.send(());
        }
    }
}

/// A running fake. Clones share the server and its state; the server stops
/// when the last clone is dropped.
#[derive(Clone)]
pub struct FakeGraph {
    handle: Arc<Handle>,
}

impl FakeGraph {
    /// Starts on `127.0.0.1` on a free port, on its own runtime in a
    /// background thread (usable from plain `#[test]` functions).
    pub fn start() -> FakeGraph {
        FakeGraph::start_on(SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("fakegraph binds a loopback port")
    }

    /// Starts on the given address.
    pub fn start_on(addr: SocketAddr) -> std::io::Result<FakeGraph> {
        let (shared, stop) = server::start(addr)?;
        Ok(FakeGraph {
            handle: Arc::new(Handle {
                shared,
                stop: Mutex::new(Some(stop)),
            }),
        })
    }

    fn shared(&self) -> &Shared {
        &self.handle.shared
    }

    /// `http://127.0.0.1:PORT/v1.0`
    pub fn graph_url(&self) -> String {
        self.shared().graph_base()
    }

    /// `http://127.0.0.1:PORT`
    pub fn authority_url(&self) -> String {
        self.shared().base.clone()
    }

    /// Shifts the service's clock by `offset` (positive: the service is
    /// ahead of this machine), as seen in every response's `Date` header
    /// and in error bodies' `innerError.date`: for testing a client's
    /// clock-skew checks. Token lifetimes and event timestamps keep the
    /// machine's clock.
    pub fn set_clock_offset(&self, offset: chrono::Duration) {
        self.shared().set_clock_offset(offset);
    }

    /// Prints one line per request handled to stderr.
    pub fn set_verbose(&self, verbose: bool) {
        self.shared().verbose.store(verbose, Ordering::Relaxed);
    }

    // ------------------------------------------------------------ setup

    /// Registers an app whose client credentials the token endpoint accepts.
    pub fn add_app(&self, tenant: &str, client_id: &str, client_secret: &str) {
        self.shared()
            .identity()
            .add_app(tenant, client_id, client_secret);
    }

    /// Adds a mailbox with its default calendar, "Calendar".
    pub fn add_mailbox(&self, upn: &str) {
        self.shared().store().add_mailbox(upn, None);
    }

    /// Adds a mailbox whose default calendar has a localized name, as
    /// Exchange names it in the mailbox's language ("Kalender",
    /// "Calendrier"); a client must find it as `/calendar` or by
    /// `isDefaultCalendar`, not by the name "Calendar". An existing mailbox's
    /// default calendar is renamed.
    pub fn add_mailbox_localized(&self, upn: &str, default_calendar_name: &str) {
        self.shared()
            .store()
            .add_mailbox(upn, Some(default_calendar_name));
    }

    /// The id of a mailbox's default calendar.
    pub fn default_calendar_id(&self, upn: &str) -> Option<String> {
        let store = self.shared().store();
        let mb = store.mailbox_index(upn)?;
        Some(store.mailboxes[mb].default_calendar().id.clone())
    }

    /// The mailbox's `mailboxSettings.timeZone` (default "UTC"), e.g.
    /// "W. Europe Standard Time".
    pub fn set_mailbox_time_zone(&self, upn: &str, zone: &str) {
        let mb = self.mailbox(upn);
        self.shared().store().mailboxes[mb].time_zone = zone.to_string();
    }

    /// Adds a user who can sign in (with the device code): their mailbox,
    /// which is `/me` for their delegated tokens.
    pub fn add_user(&self, upn: &str) {
        self.add_mailbox(upn);
    }

    /// Turns on "Allow public client flows" for an app (registering it
    /// without a secret if needed): the device code and refresh grants then
    /// work without a client secret. Without it they answer `401
    /// invalid_client` (AADSTS7000218), as Entra does.
    pub fn allow_public_client_flows(&self, tenant: &str, client_id: &str) {
        self.shared()
            .identity()
            .set_public_client(tenant, client_id, true);
    }

    /// The application permissions (`roles`) an app's app-only tokens carry.
    pub fn set_app_roles(&self, tenant: &str, client_id: &str, roles: &[&str]) {
        self.shared().identity().set_roles(tenant, client_id, roles);
    }

    /// Fixes the delegated permissions (`scp`) the app's delegated tokens
    /// carry, as an administrator's consent to its configured permissions
    /// does: every sign-in and refresh gets exactly these (short names such
    /// as `Calendars.ReadWrite.Shared` or full ones with the Graph host),
    /// whatever it asks for. Without it consent is dynamic, as Entra's is
    /// for a person allowed to consent: a sign-in gets the resource scopes
    /// it asks for.
    pub fn set_delegated_scopes(&self, tenant: &str, client_id: &str, scopes: &[&str]) {
        self.shared()
            .identity()
            .set_delegated_scopes(tenant, client_id, scopes);
    }

    /// Scripts the next device code issued: each poll of the token endpoint
    /// takes the next outcome (then `authorization_pending` once they run
    /// out); [`DevicePoll::Approve`] signs `user` in. Scripts queue up, one
    /// per device code. Codes with no script stay pending until they expire
    /// (nobody is at the browser), unless [`FakeGraph::approve_device_flows`]
    /// is in force.
    pub fn script_device_flow(&self, user: &str, polls: &[DevicePoll]) {
        self.shared().identity().script_device_flow(user, polls);
    }

    /// Every unscripted device code is approved as `user` on its second
    /// poll (`None` turns this off). For trying calsync by hand.
    pub fn approve_device_flows(&self, user: Option<&str>) {
        self.shared().identity().approve_device_flows(user);
    }

    /// The `interval` (seconds) device authorizations ask clients to poll
    /// at; default 5, as on the real service. Tests use 0 or 1.
    pub fn set_device_code_interval(&self, secs: u64) {
        self.shared().identity().device_interval = secs;
    }

    /// The `expires_in` (seconds) of new device codes; default 900.
    pub fn set_device_code_lifetime(&self, secs: u64) {
        self.shared().identity().device_lifetime = secs;
    }

    /// The lifetime (seconds) of access tokens issued from now on; default
    /// 3599. Graph refuses them with `401` once it has passed.
    pub fn set_token_lifetime(&self, secs: u64) {
        self.shared().identity().token_lifetime = secs;
    }

    /// Every refresh token issued so far is revoked (as by a password change
    /// or an administrator): refreshing answers `invalid_grant` (AADSTS50173).
    pub fn revoke_refresh_tokens(&self) {
        self.shared().identity().revoke_refresh_tokens();
    }

    /// With `true`, a refresh token stops working once it has been rotated
    /// (the real service tolerates the old one): a client that did not keep
    /// the new one fails.
    pub fn set_strict_refresh_rotation(&self, strict: bool) {
        self.shared().identity().strict_rotation = strict;
    }

    /// The refresh tokens presented to the token endpoint, in order.
    pub fn refresh_tokens_presented(&self) -> Vec<String> {
        self.shared().identity().refresh_presented.clone()
    }

    fn mailbox(&self, mailbox: &str) -> usize {
        self.shared()
            .store()
            .mailbox_index(mailbox)
            .unwrap_or_else(|| panic!("fakegraph: no mailbox '{mailbox}' (add_mailbox first)"))
    }

    /// Adds a calendar and returns its id.
    pub fn add_calendar(&self, mailbox: &str, name: &str) -> String {
        let mb = self.mailbox(mailbox);
        self.shared().store().add_calendar(mb, name, false)
    }

    /// The id of the first calendar with this name.
    pub fn calendar_id(&self, mailbox: &str, name: &str) -> Option<String> {
        let store = self.shared().store();
        let mb = store.mailbox_index(mailbox)?;
        store.mailboxes[mb]
            .calendars
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.id.clone())
    }

    /// Seeds an event as a person would create it in Outlook, from Graph-shaped
    /// JSON (read-only fields such as `isCancelled` and `organizer` allowed;
    /// `recurrence` makes a series master). Not counted as a write; sends no
    /// invitations. Returns the event id. Panics on input Graph would refuse.
    pub fn insert_event(&self, mailbox: &str, calendar_id: &str, event: Value) -> String {
        let mb = self.mailbox(mailbox);
        let input = event::parse_input(&event, Origin::Person)
            .unwrap_or_else(|e| panic!("fakegraph: insert_event: {} {}", e.code, e.message));
        let mut store = self.shared().store();
        assert!(
            store.mailboxes[mb].calendar(calendar_id).is_some(),
            "fakegraph: insert_event: no calendar '{calendar_id}' in '{mailbox}'"
        );
        store
            .create_event(mb, calendar_id, input, Origin::Person)
            .unwrap_or_else(|e| panic!("fakegraph: insert_event: {} {}", e.code, e.message))
            .0
    }

    /// Seeds another calendar's copy of a meeting: an event as
    /// [`insert_event`](Self::insert_event) seeds it, with the `iCalUId`
    /// of `meeting_id` (an event in `meeting_mailbox`). Exchange gives every
    /// copy of one meeting (the organizer's, each attendee's) the same
    /// `iCalUId`: "a unique identifier for an event across calendars"
    /// (`api-reference/v1.0/resources/event.md`, property `iCalUId`).
    pub fn insert_meeting_copy(
        &self,
        meeting_mailbox: &str,
        meeting_id: &str,
        mailbox: &str,
        calendar_id: &str,
        event: Value,
    ) -> String {
        let from = self.mailbox(meeting_mailbox);
        let uid = {
            let store = self.shared().store();
            store.mailboxes[from]
                .events
                .iter()
                .find(|e| e.id == meeting_id)
                .map(|e| e.ical_uid.clone())
                .unwrap_or_else(|| {
                    panic!("fakegraph: insert_meeting_copy: no event '{meeting_id}'")
                })
        };
        let id = self.insert_event(mailbox, calendar_id, event);
        let mb = self.mailbox(mailbox);
        let mut store = self.shared().store();
        if let Some(e) = store.mailboxes[mb].events.iter_mut().find(|e| e.id == id) {
            e.ical_uid = uid;
        }
        id
    }

    /// Changes an event with PATCH semantics (new changeKey), as a person would.
    pub fn update_event(&self, mailbox: &str, event_id: &str, patch: Value) {
        let mb = self.mailbox(mailbox);
        let input = event::parse_input(&patch, Origin::Person)
            .unwrap_or_else(|e| panic!("fakegraph: update_event: {} {}", e.code, e.message));
        let mut store = self.shared().store();
        let target = store
            .resolve(mb, event_id, None)
            .unwrap_or_else(|e| panic!("fakegraph: update_event '{event_id}': {}", e.message));
        store
            .update(mb, target, &input, None, Origin::Person)
            .unwrap_or_else(|e| panic!("fakegraph: update_event: {} {}", e.code, e.message));
    }

    /// Deletes an event (or a whole series), as a person would.
    pub fn delete_event(&self, mailbox: &str, event_id: &str) {
        let mb = self.mailbox(mailbox);
        let mut store = self.shared().store();
        let target = store
            .resolve(mb, event_id, None)
            .unwrap_or_else(|e| panic!("fakegraph: delete_event '{event_id}': {}", e.message));
        store
            .delete(mb, target, None, Origin::Person)
            .unwrap_or_else(|e| panic!("fakegraph: delete_event: {}", e.message));
    }

    fn occurrence(&self, mb: usize, series_id: &str, original_start: DateTime<Utc>) -> Target {
        self.shared()
            .store()
            .instance_target(mb, series_id, original_start)
            .unwrap_or_else(|| {
                panic!(
                    "fakegraph: series '{series_id}' has no occurrence starting {original_start}"
                )
            })
    }

    /// Turns one occurrence of a series into an exception with these changes.
    pub fn modify_occurrence(
        &self,
        mailbox: &str,
        series_id: &str,
        original_start: DateTime<Utc>,
        patch: Value,
    ) {
        let mb = self.mailbox(mailbox);
        let target = self.occurrence(mb, series_id, original_start);
        let input = event::parse_input(&patch, Origin::Person)
            .unwrap_or_else(|e| panic!("fakegraph: modify_occurrence: {} {}", e.code, e.message));
        self.shared()
            .store()
            .update(mb, target, &input, None, Origin::Person)
            .unwrap_or_else(|e| panic!("fakegraph: modify_occurrence: {} {}", e.code, e.message));
    }

    /// Removes one occurrence from the series (as Outlook does when the
    /// organizer deletes or cancels it).
    pub fn cancel_occurrence(&self, mailbox: &str, series_id: &str, original_start: DateTime<Utc>) {
        let mb = self.mailbox(mailbox);
        let target = self.occurrence(mb, series_id, original_start);
        self.shared()
            .store()
            .delete(mb, target, None, Origin::Person)
            .unwrap_or_else(|e| panic!("fakegraph: cancel_occurrence: {}", e.message));
    }

    /// Every occurrence and exception id changes from now on (as when Graph
    /// re-creates a series); `seriesMasterId` and `originalStart` stay.
    pub fn reissue_occurrence_ids(&self) {
        self.shared().store().generation += 1;
    }

    /// Every delta token issued so far becomes unknown: following a stored
    /// delta or next link gets `410 SyncStateNotFound`.
    pub fn invalidate_delta_tokens(&self) {
        self.shared().store().delta.invalidate_all();
    }

    /// Loads a seed document (see the crate's `examples/seed.json`).
    pub fn load_seed(&self, seed: &Value) -> Result<SeedSummary, String> {
        seed::load(self, seed)
    }

    /// Chooses, point by point, whether the fake answers as Graph is
    /// reported to (the default) or as it is documented; see [`Behaviour`].
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        self.shared().store().behaviour = behaviour;
    }

    /// The behaviour in force.
    pub fn behaviour(&self) -> Behaviour {
        self.shared().store().behaviour.clone()
    }

    // ------------------------------------------------------------ inspection

    /// The stored events of a calendar (single instances and series masters,
    /// not expanded) as Graph JSON in UTC, with every extended property,
    /// `transactionId` (when set) and attendees.
    pub fn events(&self, mailbox: &str, calendar_id: &str) -> Vec<Value> {
        let mb = self.mailbox(mailbox);
        let store = self.shared().store();
        let m = &store.mailboxes[mb];
        let opts = RenderOpts {
            zone: None,
            text_body: false,
            ext: ExtMode::All,
        };
        m.events
            .iter()
            .filter(|e| e.calendar_id == calendar_id)
            .map(|e| Value::Object(event::render(&e.view(), m, &opts)))
            .collect()
    }

    /// Every request received, in arrival order (a batch's inner requests
    /// after the batch).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared().requests()
    }

    pub fn clear_requests(&self) {
        self.shared().clear_requests();
    }

    /// Writes (POST/PATCH/DELETE, top-level or in a batch) the store applied
    /// for HTTP clients. Seeding through this API does not count, nor does a
    /// POST refused or answered with an existing event because of its
    /// `transactionId`.
    pub fn writes_applied(&self) -> usize {
        self.shared().store().writes_applied
    }

    /// Invitations "sent": one per attendee of an event created or patched
    /// with attendees over HTTP.
    pub fn invites_sent(&self) -> usize {
        self.shared().store().invites_sent
    }

    /// Every token issued (access, refresh and id tokens, device codes) and
    /// every client secret registered, so tests can assert that none leaks.
    pub fn issued_tokens(&self) -> Vec<String> {
        let identity = self.shared().identity();
        identity
            .issued
            .iter()
            .cloned()
            .chain(
                identity
                    .apps
                    .iter()
                    .map(|a| a.client_secret.clone())
                    .filter(|s| !s.is_empty()),
            )
            .collect()
    }

    /// Every access token issued so far is expired from now on (Graph answers
    /// `401 InvalidAuthenticationToken`); new ones work.
    pub fn expire_tokens(&self) {
        self.shared().identity().expire_all();
    }

    // ------------------------------------------------------------ faults

    /// Replaces the injected faults (counters, rate windows and
    /// [`FakeGraph::throttling`] start afresh).
    pub fn set_faults(&self, faults: Faults) {
        self.shared().faults().set(faults);
    }

    /// The throttling done since the faults were last set: operations refused
    /// for concurrency or rate, the most operations of one app on one
    /// mailbox in flight at once, and the most a client held outstanding.
    pub fn throttling(&self) -> Throttling {
        self.shared().faults().throttling
    }
}
