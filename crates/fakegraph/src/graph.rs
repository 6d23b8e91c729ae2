//! Microsoft Graph v1.0: authentication, routing and the handlers of users,
//! calendars, calendarView and events.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};

use crate::batch;
use crate::behaviour::DeltaOccurrences;
use crate::delta;
use crate::error::GraphError;
use crate::event::{self, ExtMode, RenderOpts};
use crate::faults;
use crate::http::{Req, Resp};
use crate::identity::{self, Resource};
use crate::odata::{Options, Prefer, Query, Subject};
use crate::server::{Meta, Shared, decode_path};
use crate::store::{Calendar, Kind, Mailbox, Origin, Store, Target, View};
use crate::timezone::parse_instant;

/// calendarView's maximum range.
const MAX_VIEW_DAYS: i64 = 1825;
const DEFAULT_PAGE: usize = 10;

const CALENDAR_PROPERTIES: &[&str] = &[
    "id",
    "name",
    "color",
    "hexColor",
    "isDefaultCalendar",
    "changeKey",
    "canShare",
    "canViewPrivateItems",
    "canEdit",
    "isRemovable",
    "isTallyingResponses",
    "allowedOnlineMeetingProviders",
    "defaultOnlineMeetingProvider",
    "owner",
];

#[derive(Clone, Debug)]
enum CalRef {
    Default,
    Id(String),
}

#[derive(Clone, Debug)]
enum Route {
    Batch,
    User(String),
    Calendars(String),
    Calendar(String, CalRef),
    CalendarView(String, Option<CalRef>),
    CalendarViewDelta(String, Option<CalRef>),
    Events(String, Option<CalRef>),
    Event(String, Option<CalRef>, String),
    Instances(String, Option<CalRef>, String),
    /// `mailboxSettings`, or one setting of it.
    MailboxSettings(String, Option<String>),
}

impl Route {
    fn user(&self) -> Option<&str> {
        match self {
            Route::Batch => None,
            Route::User(u)
            | Route::MailboxSettings(u, _)
            | Route::Calendars(u)
            | Route::Calendar(u, _)
            | Route::CalendarView(u, _)
            | Route::CalendarViewDelta(u, _)
            | Route::Events(u, _)
            | Route::Event(u, _, _)
            | Route::Instances(u, _, _) => Some(u),
        }
    }
}

fn not_found_segment(segment: &str) -> GraphError {
    GraphError::bad_request(format!("Resource not found for the segment '{segment}'."))
}

/// Parses a path after `/v1.0`. Fixed segments are case-insensitive.
fn parse_route(path: &str) -> Result<Route, GraphError> {
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode_path)
        .collect();
    let lower: Vec<String> = segments.iter().map(|s| s.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    match lower.first() {
        Some(&"$batch") if segments.len() == 1 => return Ok(Route::Batch),
        Some(&"me") => {
            return Err(GraphError::bad_request(
                "/me request is only valid with delegated authentication flow.",
            ));
        }
        Some(&"users") if segments.len() >= 2 => {}
        Some(_) => return Err(not_found_segment(&segments[0])),
        None => {
            return Err(GraphError::bad_request(
                "Invalid request: no resource in the path.",
            ));
        }
    }
    let user = segments[1].clone();
    let id = |i: usize| segments[i].clone();
    let route = match &lower[2..] {
        [] => Route::User(user),
        ["calendars"] => Route::Calendars(user),
        ["calendars", _] => Route::Calendar(user, CalRef::Id(id(3))),
        ["calendars", _, "calendarview"] => Route::CalendarView(user, Some(CalRef::Id(id(3)))),
        ["calendars", _, "calendarview", "delta"] => {
            Route::CalendarViewDelta(user, Some(CalRef::Id(id(3))))
        }
        ["calendars", _, "events"] => Route::Events(user, Some(CalRef::Id(id(3)))),
        ["calendars", _, "events", _] => Route::Event(user, Some(CalRef::Id(id(3))), id(5)),
        ["calendars", _, "events", _, "instances"] => {
            Route::Instances(user, Some(CalRef::Id(id(3))), id(5))
        }
        ["calendar"] => Route::Calendar(user, CalRef::Default),
        ["calendar", "calendarview"] => Route::CalendarView(user, Some(CalRef::Default)),
        ["calendar", "calendarview", "delta"] => {
            Route::CalendarViewDelta(user, Some(CalRef::Default))
        }
        ["calendar", "events"] => Route::Events(user, Some(CalRef::Default)),
        ["calendar", "events", _] => Route::Event(user, Some(CalRef::Default), id(4)),
        ["calendar", "events", _, "instances"] => {
            Route::Instances(user, Some(CalRef::Default), id(4))
        }
        ["calendarview"] => Route::CalendarView(user, None),
        ["calendarview", "delta"] => Route::CalendarViewDelta(user, None),
        ["events"] => Route::Events(user, None),
        ["events", _] => Route::Event(user, None, id(3)),
        ["events", _, "instances"] => Route::Instances(user, None, id(3)),
        ["mailboxsettings"] => Route::MailboxSettings(user, None),
        ["mailboxsettings", _] => Route::MailboxSettings(user, Some(id(3))),
        rest => {
            let known = [
                "calendars",
                "calendar",
                "calendarview",
                "events",
                "instances",
                "mailboxsettings",
            ];
            let bad = rest
                .iter()
                .position(|s| !known.contains(s))
                .map_or(segments.len() - 1, |i| i + 2);
            return Err(not_found_segment(&segments[bad]));
        }
    };
    Ok(route)
}

/// Handles a request under `/v1.0`.
pub(crate) async fn handle(shared: &Arc<Shared>, req: &Req, path: &str, meta: &Meta) -> Resp {
    let latency = shared.faults().cfg.latency;
    let error = |e: GraphError| {
        Resp::graph_error(
            &e,
            &meta.date,
            &meta.request_id,
            meta.client_request_id.as_deref(),
        )
    };

    let checked = shared.identity().check_bearer(req.header("authorization"));
    let grant = match checked {
        Ok(grant) => grant,
        Err(message) => {
            tokio::time::sleep(latency).await;
            return error(GraphError::unauthenticated(message));
        }
    };
    let fault = {
        let mut faults = shared.faults();
        let retry_after = faults.retry_after();
        faults
            .fail_path(&decode_path(path))
            .map(|status| GraphError::for_status(status, retry_after))
    };
    // `/me` is the signed-in user of a delegated token.
    let routed = match &grant.user {
        Some(user) => me_as_user(path, user),
        None => None,
    };
    let route = fault.map_or_else(|| parse_route(routed.as_deref().unwrap_or(path)), Err);
    let route = match route {
        Ok(route) => route,
        Err(e) => {
            tokio::time::sleep(latency).await;
            return error(e);
        }
    };
    if let Route::Batch = route {
        tokio::time::sleep(latency).await;
        return batch::handle(shared, req, meta).await.unwrap_or_else(error);
    }
    let mailbox = route.user().unwrap_or_default().to_string();
    let denied = {
        let store = shared.store();
        let own = match (&grant.user, store.mailbox_index(&mailbox)) {
            (Some(user), Some(mb)) => store.mailbox_index(user) == Some(mb),
            _ => false,
        };
        let resource = match route {
            Route::User(_) => Resource::User,
            Route::MailboxSettings(..) => Resource::MailboxSettings,
            _ => Resource::Calendars,
        };
        identity::authorize(&grant, own, resource)
            .err()
            .or_else(|| {
                // A delegate has rights on the other person's Calendar folder,
                // not on the mailbox root, so listing (or creating) its
                // calendars is refused while `/calendar` and `/calendars/{id}/…` work
                // (`concepts/outlook-get-shared-events-calendars.md` uses
                // only those paths for a shared calendar).
                let delegate = grant.user.is_some() && !own;
                (delegate
                    && matches!(route, Route::Calendars(_))
                    && !store.behaviour.delegate_can_list_calendars)
                    .then_some(identity::Denied {
                        code: "ErrorAccessDenied",
                        message: "Access is denied. Check credentials and try again.",
                    })
            })
    };
    if let Some(denied) = denied {
        tokio::time::sleep(latency).await;
        return error(GraphError::new(403, denied.code, denied.message));
    }
    let start = req.model_start.unwrap_or_else(std::time::Instant::now);
    let hold = req.model_hold.or_else(|| shared.faults().draw_operation());
    let flight = faults::admit(
        shared,
        &grant.client_id,
        &shared.mailbox_key(&mailbox),
        &meta.date,
        &meta.request_id,
        start,
        hold,
    );
    tokio::time::sleep(latency).await;
    let _flight = match flight {
        Ok(flight) => flight,
        Err(e) => return error(e),
    };
    // The modelled operation holds its slot for its drawn time in all,
    // however long the fake itself takes to handle it (up to that).
    let slot_until = hold.map(|h| tokio::time::Instant::from_std(start + h));
    let long_ranges = {
        let faults = shared.faults();
        faults
            .cfg
            .fail_long_ranges
            .map(|(days, status)| (days, status, faults.retry_after()))
    };
    let result = Prefer::parse(req.headers_named("prefer")).and_then(|prefer| {
        let ctx = Ctx {
            req,
            base: shared.graph_base(),
            path,
            query: Query::parse(&req.query),
            prefer,
            long_ranges,
        };
        let mut store = shared.store();
        let mut resp = dispatch(&mut store, route, &ctx)?;
        if let Some(raw) = &ctx.prefer.body_type_raw {
            resp.headers.push((
                "preference-applied".into(),
                format!("outlook.body-content-type=\"{raw}\""),
            ));
        }
        Ok(resp)
    });
    if let Some(until) = slot_until {
        tokio::time::sleep_until(until).await;
    }
    result.unwrap_or_else(error)
}

/// `/me/rest` → `/users/{user}/rest` (segment match ignores case).
fn me_as_user(path: &str, user: &str) -> Option<String> {
    let trimmed = path.trim_start_matches('/');
    let (first, rest) = trimmed.split_once('/').unwrap_or((trimmed, ""));
    if !first.eq_ignore_ascii_case("me") {
        return None;
    }
    let user = percent_encoding::utf8_percent_encode(user, percent_encoding::NON_ALPHANUMERIC);
    Some(if rest.is_empty() {
        format!("/users/{user}")
    } else {
        format!("/users/{user}/{rest}")
    })
}

struct Ctx<'a> {
    req: &'a Req,
    /// `http://127.0.0.1:PORT/v1.0`
    base: String,
    /// The request path after `/v1.0`, as sent.
    path: &'a str,
    query: Query,
    prefer: Prefer,
    /// `Faults::fail_long_ranges`, with the `Retry-After` to send.
    long_ranges: Option<(u32, u16, u64)>,
}

impl Ctx<'_> {
    /// The injected failure of a calendarView (or delta) range longer than
    /// `Faults::fail_long_ranges` allows: a year-long delta window over
    /// series without an end answered every nextLink with 504 `UnknownError`
    /// and an empty message (microsoftgraph/microsoft-graph-docs#3657), and
    /// delta over five endless series answered 504 at once
    /// (microsoftgraph/microsoft-graph-docs#6499).
    fn check_range(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Result<(), GraphError> {
        match self.long_ranges {
            Some((days, status, retry_after)) if end - start > Duration::days(i64::from(days)) => {
                Err(GraphError::for_status(status, retry_after))
            }
            _ => Ok(()),
        }
    }

    fn render_opts<'a>(&'a self, options: &'a Options) -> RenderOpts<'a> {
        RenderOpts {
            zone: self.prefer.zone.as_ref(),
            text_body: self.prefer.text_body.unwrap_or(false),
            ext: options
                .expand_ext
                .as_ref()
                .map_or(ExtMode::Omit, ExtMode::Matching),
        }
    }

    fn json_body(&self) -> Result<Value, GraphError> {
        let content_type = self.req.header("content-type").unwrap_or("");
        if !content_type.to_ascii_lowercase().contains("json") {
            return Err(GraphError::unreadable_body());
        }
        serde_json::from_slice(&self.req.body).map_err(|_| GraphError::unreadable_body())
    }

    fn context(&self, mailbox: &Mailbox, tail: &str) -> String {
        format!("{}/$metadata#users('{}'){tail}", self.base, mailbox.upn)
    }

    fn next_link(&self, skip: usize) -> String {
        format!("{}{}?{}", self.base, self.path, self.query.with_skip(skip))
    }
}

fn method_not_allowed(req: &Req) -> GraphError {
    GraphError::new(
        405,
        "ErrorInvalidRequest",
        format!(
            "The OData request is not supported: method {} on this resource.",
            req.method
        ),
    )
}

fn dispatch(store: &mut Store, route: Route, ctx: &Ctx<'_>) -> Result<Resp, GraphError> {
    let user = route.user().unwrap_or_default();
    let mb = store
        .mailbox_index(user)
        .ok_or_else(|| GraphError::invalid_user(user))?;
    let method = ctx.req.method.as_str();
    match (&route, method) {
        (Route::User(_), "GET") => {
            let m = &store.mailboxes[mb];
            Ok(Resp::odata(
                200,
                json!({
                    "@odata.context": format!("{}/$metadata#users/$entity", ctx.base),
                    "id": m.id, "userPrincipalName": m.upn, "displayName": m.display_name, "mail": m.upn,
                }),
            ))
        }
        (Route::Calendars(_), "GET") => list_calendars(&store.mailboxes[mb], ctx),
        (Route::Calendars(_), "POST") => create_calendar(store, mb, ctx),
        (Route::Calendar(_, cal), "GET") => {
            let m = &store.mailboxes[mb];
            let c = calendar(m, cal)?;
            let mut body = render_calendar(c, m);
            body.insert(
                "@odata.context".into(),
                json!(ctx.context(m, "/calendars/$entity")),
            );
            Ok(Resp::odata(200, Value::Object(body)))
        }
        (Route::CalendarView(_, cal), "GET") => calendar_view(store, mb, cal.as_ref(), ctx),
        (Route::CalendarViewDelta(_, cal), "GET") => {
            calendar_view_delta(store, mb, cal.as_ref(), ctx)
        }
        (Route::Events(_, cal), "GET") => list_events(store, mb, cal.as_ref(), ctx),
        (Route::Events(_, cal), "POST") => create_event(store, mb, cal.as_ref(), ctx),
        (Route::Event(_, cal, id), "GET") => get_event(store, mb, cal.as_ref(), id, ctx),
        (Route::Event(_, cal, id), "PATCH") => patch_event(store, mb, cal.as_ref(), id, ctx),
        (Route::Event(_, cal, id), "DELETE") => {
            let cal_id = cal
                .as_ref()
                .map(|c| calendar(&store.mailboxes[mb], c).map(|c| c.id.clone()))
                .transpose()?;
            let target = store.resolve(mb, id, cal_id.as_deref())?;
            store.delete(mb, target, ctx.req.header("if-match"), Origin::Client)?;
            Ok(Resp::empty(204))
        }
        (Route::Instances(_, cal, id), "GET") => instances(store, mb, cal.as_ref(), id, ctx),
        (Route::MailboxSettings(_, setting), "GET") => {
            mailbox_settings(&store.mailboxes[mb], setting.as_deref(), ctx)
        }
        _ => Err(method_not_allowed(ctx.req)),
    }
}

/// `GET /users/{id}/mailboxSettings[/{setting}]`
/// (`api-reference/v1.0/api/user-get-mailboxsettings.md`): the whole
/// object, or one setting; a string setting comes as `{"value": …}`.
fn mailbox_settings(
    mb: &Mailbox,
    setting: Option<&str>,
    ctx: &Ctx<'_>,
) -> Result<Resp, GraphError> {
    let all = json!({
        "archiveFolder": "",
        "timeZone": mb.time_zone,
        "automaticRepliesSetting": {
            "status": "disabled",
            "externalAudience": "all",
            "internalReplyMessage": "",
            "externalReplyMessage": "",
            "scheduledStartDateTime": {"dateTime": "2020-01-01T00:00:00.0000000", "timeZone": "UTC"},
            "scheduledEndDateTime": {"dateTime": "2020-01-02T00:00:00.0000000", "timeZone": "UTC"},
        },
        "language": {"locale": "en-US", "displayName": "English (United States)"},
        "workingHours": {
            "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
            "startTime": "08:00:00.0000000",
            "endTime": "17:00:00.0000000",
            "timeZone": {"name": mb.time_zone},
        },
        "userPurpose": {"value": "user"},
        "dateFormat": "M/d/yyyy",
        "timeFormat": "h:mm tt",
        "delegateMeetingMessageDeliveryOptions": "sendToDelegateOnly",
    });
    let Value::Object(all) = all else {
        unreachable!("a JSON object literal")
    };
    let Some(name) = setting else {
        let mut body = all;
        body.insert(
            "@odata.context".into(),
            json!(ctx.context(mb, "/mailboxSettings")),
        );
        return Ok(Resp::odata(200, Value::Object(body)));
    };
    let (key, value) = all
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .ok_or_else(|| not_found_segment(name))?;
    let context = json!(ctx.context(mb, &format!("/mailboxSettings/{key}")));
    let body = match value {
        Value::Object(fields) => {
            let mut body = fields.clone();
            body.insert("@odata.context".into(), context);
            Value::Object(body)
        }
        other => json!({"@odata.context": context, "value": other}),
    };
    Ok(Resp::odata(200, body))
}

fn calendar<'a>(mb: &'a Mailbox, cal: &CalRef) -> Result<&'a Calendar, GraphError> {
    match cal {
        CalRef::Default => Ok(mb.default_calendar()),
        CalRef::Id(id) => {
            crate::ids::parse(id).ok_or_else(GraphError::malformed_id)?;
            mb.calendar(id).ok_or_else(GraphError::not_found)
        }
    }
}

fn render_calendar(c: &Calendar, mb: &Mailbox) -> Map<String, Value> {
    let v = json!({
        "id": c.id,
        "name": c.name,
        "color": c.color,
        "hexColor": c.hex_color,
        "isDefaultCalendar": c.is_default,
        "changeKey": c.change_key,
        "canShare": true,
        "canViewPrivateItems": true,
        "canEdit": true,
        "isRemovable": !c.is_default,
        "isTallyingResponses": true,
        "allowedOnlineMeetingProviders": ["teamsForBusiness"],
        "defaultOnlineMeetingProvider": "teamsForBusiness",
        "owner": {"name": mb.display_name, "address": mb.upn},
    });
    match v {
        Value::Object(m) => m,
        _ => unreachable!("a JSON object literal"),
    }
}

/// Filters, sorts and pages rendered items, and wraps them in a collection.
fn page<T>(
    mut items: Vec<(Map<String, Value>, T)>,
    options: &Options,
    ctx: &Ctx<'_>,
    context: String,
    render: impl Fn(&T) -> Map<String, Value>,
) -> Resp {
    options.sort(&mut items);
    let total = items.len();
    let top = options.top.unwrap_or(DEFAULT_PAGE);
    let end = options.skip.saturating_add(top).min(total);
    let start = options.skip.min(total);
    let value: Vec<Value> = items[start..end]
        .iter()
        .map(|(_, t)| Value::Object(options.apply_select(render(t))))
        .collect();
    let mut body = Map::new();
    body.insert("@odata.context".into(), json!(context));
    if options.count {
        body.insert("@odata.count".into(), json!(total));
    }
    body.insert("value".into(), Value::Array(value));
    if end < total {
        body.insert("@odata.nextLink".into(), json!(ctx.next_link(end)));
    }
    Resp::odata(200, Value::Object(body))
}

fn list_calendars(mb: &Mailbox, ctx: &Ctx<'_>) -> Result<Resp, GraphError> {
    let options = Options::parse(&ctx.query, "calendar", CALENDAR_PROPERTIES)?;
    if options.expand_ext.is_some() {
        return Err(GraphError::bad_request(
            "fakegraph does not implement $expand on calendars.",
        ));
    }
    let mut items = Vec::new();
    for c in &mb.calendars {
        let json = render_calendar(c, mb);
        if let Some(filter) = &options.filter
            && !filter.matches(&Subject {
                json: &json,
                ext: &[],
            })?
        {
            continue;
        }
        items.push((json.clone(), json));
    }
    Ok(page(
        items,
        &options,
        ctx,
        ctx.context(mb, "/calendars"),
        Clone::clone,
    ))
}

fn create_calendar(store: &mut Store, mb: usize, ctx: &Ctx<'_>) -> Result<Resp, GraphError> {
    let body = ctx.json_body()?;
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| GraphError::new(400, "ErrorInvalidRequest", "A calendar needs a name."))?;
    if store.mailboxes[mb].calendars.iter().any(|c| c.name == name) {
        return Err(GraphError::new(
            409,
            "ErrorFolderExists",
            "A folder with the specified name already exists.",
        ));
    }
    let id = store.add_calendar(mb, name, false);
    store.writes_applied += 1;
    let m = &store.mailboxes[mb];
    let c = m.calendar(&id).expect("just added");
    let mut json = render_calendar(c, m);
    json.insert(
        "@odata.context".into(),
        json!(ctx.context(m, "/calendars/$entity")),
    );
    Ok(Resp::odata(201, Value::Object(json)))
}

/// Renders views for filtering and sorting (UTC, all fields) and pages them.
fn event_page(
    mb: &Mailbox,
    views: Vec<View<'_>>,
    options: &Options,
    ctx: &Ctx<'_>,
    context: String,
) -> Result<Resp, GraphError> {
    let plain = RenderOpts {
        zone: None,
        text_body: false,
        ext: ExtMode::Omit,
    };
    let mut items = Vec::with_capacity(views.len());
    for view in views {
        let json = event::render(&view, mb, &plain);
        if let Some(filter) = &options.filter
            && !filter.matches(&Subject {
                json: &json,
                ext: &view.item.ext,
            })?
        {
            continue;
        }
        items.push((json, view));
    }
    let opts = ctx.render_opts(options);
    Ok(page(items, options, ctx, context, |view| {
        event::render(view, mb, &opts)
    }))
}

fn bounds(ctx: &Ctx<'_>) -> Result<(DateTime<Utc>, DateTime<Utc>), GraphError> {
    let missing = || {
        GraphError::new(
            400,
            "ErrorInvalidParameter",
            "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.",
        )
    };
    let parse = |name: &str, canonical: &str| -> Result<DateTime<Utc>, GraphError> {
        let raw = ctx.query.get(name).ok_or_else(missing)?;
        parse_instant(raw).ok_or_else(|| {
            GraphError::new(
                400,
                "ErrorInvalidParameter",
                format!("The value '{raw}' of parameter '{canonical}' is invalid."),
            )
        })
    };
    let start = parse("startdatetime", "StartDateTime")?;
    let end = parse("enddatetime", "EndDateTime")?;
    if end - start > Duration::days(MAX_VIEW_DAYS) {
        return Err(GraphError::new(
            400,
            "ErrorInvalidRequest",
            format!(
                "The value of the parameters 'StartDateTime' and 'EndDateTime' are invalid. The range between the start and end dates is greater than the allowed range. Maximum number of days: {MAX_VIEW_DAYS}"
            ),
        ));
    }
    Ok((start, end))
}

/// Instances of the stored events of a calendar overlapping `[start, end)`.
pub(crate) fn expand<'a>(
    events: impl Iterator<Item = &'a crate::store::Event>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    generation: u32,
) -> Vec<View<'a>> {
    let mut views = Vec::new();
    for e in events {
        if e.series.is_some() {
            let until = e.item.start.zone.local_time(end).date() + Duration::days(1);
            views.extend(
                e.instances(until, generation)
                    .into_iter()
                    .filter(|v| v.overlaps(start, end)),
            );
        } else {
            let v = e.view();
            if v.overlaps(start, end) {
                views.push(v);
            }
        }
    }
    views.sort_by(|a, b| a.start().cmp(&b.start()).then_with(|| a.id.cmp(&b.id)));
    views
}

fn calendar_view(
    store: &Store,
    mb: usize,
    cal: Option<&CalRef>,
    ctx: &Ctx<'_>,
) -> Result<Resp, GraphError> {
    let m = &store.mailboxes[mb];
    let c = calendar(m, cal.unwrap_or(&CalRef::Default))?;
    let (start, end) = bounds(ctx)?;
    ctx.check_range(start, end)?;
    let options = Options::parse(&ctx.query, "event", event::PROPERTIES)?;
    let views = expand(
        m.events.iter().filter(|e| e.calendar_id == c.id),
        start,
        end,
        store.generation,
    );
    let tail = match cal {
        Some(CalRef::Id(id)) => format!("/calendars('{id}')/calendarView"),
        Some(CalRef::Default) => "/calendar/calendarView".to_string(),
        None => "/calendarView".to_string(),
    };
    event_page(m, views, &options, ctx, ctx.context(m, &tail))
}

fn calendar_view_delta(
    store: &mut Store,
    mb: usize,
    cal: Option<&CalRef>,
    ctx: &Ctx<'_>,
) -> Result<Resp, GraphError> {
    for option in ["$select", "$filter", "$expand", "$orderby", "$search"] {
        if ctx.query.get(option).is_some() {
            return Err(GraphError::bad_request(format!(
                "The query option '{option}' is not supported with change tracking over the 'event' resource."
            )));
        }
    }
    let how = if let Some(token) = ctx.query.get("$skiptoken") {
        if let Some((start, end)) = store.delta.window_of(token) {
            ctx.check_range(start, end)?;
        }
        delta::Start::SkipToken(token.to_string())
    } else if let Some(token) = ctx.query.get("$deltatoken") {
        if let Some((start, end)) = store.delta.window_of(token) {
            ctx.check_range(start, end)?;
        }
        delta::Start::DeltaToken(token.to_string())
    } else {
        let (start, end) = bounds(ctx)?;
        ctx.check_range(start, end)?;
        delta::Start::Window {
            mailbox: mb,
            calendar_id: calendar(&store.mailboxes[mb], cal.unwrap_or(&CalRef::Default))?
                .id
                .clone(),
            start,
            end,
        }
    };
    let page = delta::next_page(store, how, ctx.prefer.max_page_size)?;
    let m = &store.mailboxes[page.mailbox];
    let views = delta::window(store, page.mailbox, &page.calendar_id, page.start, page.end);
    let opts = RenderOpts {
        zone: ctx.prefer.zone.as_ref(),
        text_body: ctx.prefer.text_body.unwrap_or(false),
        ext: ExtMode::Omit,
    };
    let bare = store.behaviour.delta_occurrences == DeltaOccurrences::Bare;
    // A master is an item of the window while one of its instances is.
    let masters: HashSet<&str> = views
        .iter()
        .filter(|v| matches!(v.kind, Kind::Occurrence | Kind::Exception))
        .map(|v| v.event.id.as_str())
        .collect();
    let value: Vec<Value> = page
        .items
        .iter()
        .map(|(id, removed)| {
            if *removed {
                return delta::removed(id);
            }
            if let Some(view) = views.iter().find(|v| &v.id == id) {
                let item = event::render(view, m, &opts);
                return if bare && view.kind == Kind::Occurrence {
                    delta::bare(item)
                } else {
                    delta::changed(item)
                };
            }
            match m.event_index(id) {
                Some(i) if bare && masters.contains(id.as_str()) => {
                    delta::changed(event::render(&m.events[i].view(), m, &opts))
                }
                // Gone (or out of the window) since the round started.
                _ => delta::removed(id),
            }
        })
        .collect();
    let link_base = format!("{}{}", ctx.base, ctx.path);
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        json!(format!("{}/$metadata#Collection(event)", ctx.base)),
    );
    body.insert("value".into(), Value::Array(value));
    if let Some(skip) = page.next_skip {
        body.insert(
            "@odata.nextLink".into(),
            json!(format!("{link_base}?$skiptoken={skip}")),
        );
    }
    if let Some(token) = page.next_delta {
        body.insert(
            "@odata.deltaLink".into(),
            json!(format!("{link_base}?$deltatoken={token}")),
        );
    }
    Ok(Resp::odata(200, Value::Object(body)))
}

fn instances(
    store: &Store,
    mb: usize,
    cal: Option<&CalRef>,
    id: &str,
    ctx: &Ctx<'_>,
) -> Result<Resp, GraphError> {
    // `api-reference/v1.0/api/event-list-instances.md`: the range is
    // required and checked like calendarView's; occurrences and exceptions
    // come in full, with `originalStart`, `seriesMasterId` and `type`.
    let (start, end) = bounds(ctx)?;
    let options = Options::parse(&ctx.query, "event", event::PROPERTIES)?;
    let m = &store.mailboxes[mb];
    let cal_id = cal
        .map(|c| calendar(m, c).map(|c| c.id.clone()))
        .transpose()?;
    let Target::Event(index) = store.resolve(mb, id, cal_id.as_deref())? else {
        return Err(GraphError::new(
            400,
            "ErrorInvalidRequest",
            "The item is not a series master.",
        ));
    };
    let views = expand(
        std::iter::once(&m.events[index]),
        start,
        end,
        store.generation,
    );
    event_page(
        m,
        views,
        &options,
        ctx,
        ctx.context(m, &format!("/events('{id}')/instances")),
    )
}

fn list_events(
    store: &Store,
    mb: usize,
    cal: Option<&CalRef>,
    ctx: &Ctx<'_>,
) -> Result<Resp, GraphError> {
    let m = &store.mailboxes[mb];
    let c = calendar(m, cal.unwrap_or(&CalRef::Default))?;
    let options = Options::parse(&ctx.query, "event", event::PROPERTIES)?;
    let views = m
        .events
        .iter()
        .filter(|e| e.calendar_id == c.id)
        .map(|e| e.view())
        .collect();
    let tail = match cal {
        Some(CalRef::Id(id)) => format!("/calendars('{id}')/events"),
        Some(CalRef::Default) => "/calendar/events".to_string(),
        None => "/events".to_string(),
    };
    event_page(m, views, &options, ctx, ctx.context(m, &tail))
}

fn create_event(
    store: &mut Store,
    mb: usize,
    cal: Option<&CalRef>,
    ctx: &Ctx<'_>,
) -> Result<Resp, GraphError> {
    let calendar_id = calendar(&store.mailboxes[mb], cal.unwrap_or(&CalRef::Default))?
        .id
        .clone();
    let input = event::parse_input(&ctx.json_body()?, Origin::Client)?;
    let (id, _created) = store.create_event(mb, &calendar_id, input, Origin::Client)?;
    let target = Target::Event(store.mailboxes[mb].event_index(&id).expect("just created"));
    single_event(store, mb, target, ctx, 201, &Options::default())
}

fn single_event(
    store: &Store,
    mb: usize,
    target: Target,
    ctx: &Ctx<'_>,
    status: u16,
    options: &Options,
) -> Result<Resp, GraphError> {
    let m = &store.mailboxes[mb];
    let view = store.view(mb, target).ok_or_else(GraphError::not_found)?;
    let mut json = options.apply_select(event::render(&view, m, &ctx.render_opts(options)));
    json.insert(
        "@odata.context".into(),
        json!(ctx.context(m, "/events/$entity")),
    );
    Ok(Resp::odata(status, Value::Object(json)))
}

fn resolve(store: &Store, mb: usize, cal: Option<&CalRef>, id: &str) -> Result<Target, GraphError> {
    let cal_id = cal
        .map(|c| calendar(&store.mailboxes[mb], c).map(|c| c.id.clone()))
        .transpose()?;
    store.resolve(mb, id, cal_id.as_deref())
}

fn get_event(
    store: &Store,
    mb: usize,
    cal: Option<&CalRef>,
    id: &str,
    ctx: &Ctx<'_>,
) -> Result<Resp, GraphError> {
    let target = resolve(store, mb, cal, id)?;
    let options = Options::parse(&ctx.query, "event", event::PROPERTIES)?;
    single_event(store, mb, target, ctx, 200, &options)
}

fn patch_event(
    store: &mut Store,
    mb: usize,
    cal: Option<&CalRef>,
    id: &str,
    ctx: &Ctx<'_>,
) -> Result<Resp, GraphError> {
    let target = resolve(store, mb, cal, id)?;
    let input = event::parse_input(&ctx.json_body()?, Origin::Client)?;
    store.update(
        mb,
        target,
        &input,
        ctx.req.header("if-match"),
        Origin::Client,
    )?;
    // A patched series gets new occurrence ids; the item itself keeps its id.
    let target = resolve(store, mb, cal, id).unwrap_or(target);
    single_event(store, mb, target, ctx, 200, &Options::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_case_insensitive() {
        assert!(matches!(
            parse_route("/users/a%40b.example/calendars/AAMk/calendarview").unwrap(),
            Route::CalendarView(u, Some(CalRef::Id(id))) if u == "a@b.example" && id == "AAMk"
        ));
        assert!(matches!(parse_route("/$batch").unwrap(), Route::Batch));
        assert!(
            matches!(parse_route("/users/x/Events/ID").unwrap(), Route::Event(_, None, id) if id == "ID")
        );
        assert_eq!(
            parse_route("/users/x/contacts").unwrap_err().message,
            "Resource not found for the segment 'contacts'."
        );
        assert_eq!(parse_route("/me/events").unwrap_err().status, 400);
        assert!(matches!(
            parse_route("/users/x/calendarView/delta").unwrap(),
            Route::CalendarViewDelta(_, None)
        ));
    }
}
