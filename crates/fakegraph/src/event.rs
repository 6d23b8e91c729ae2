//! The event resource's JSON: reading a client's body (POST/PATCH) and
//! writing Graph's representation of an event.

use chrono::{Duration, NaiveTime};
use serde_json::{Map, Value, json};

use crate::error::GraphError;
use crate::odata::{Expr, ext_id_eq, ext_id_valid};
use crate::recurrence::Rule;
use crate::store::{ExtProp, Item, Kind, Mailbox, Origin, View};
use crate::timezone::{Wall, Zone, format_local, format_utc, parse_date_time};

/// Every property of the v1.0 event type (for `$select`, `$orderby`, `$filter`).
pub(crate) const PROPERTIES: &[&str] = &[
    "id",
    "createdDateTime",
    "lastModifiedDateTime",
    "changeKey",
    "categories",
    "transactionId",
    "originalStartTimeZone",
    "originalEndTimeZone",
    "iCalUId",
    "reminderMinutesBeforeStart",
    "isReminderOn",
    "hasAttachments",
    "subject",
    "bodyPreview",
    "importance",
    "sensitivity",
    "isAllDay",
    "isCancelled",
    "isOrganizer",
    "responseRequested",
    "seriesMasterId",
    "showAs",
    "type",
    "webLink",
    "onlineMeetingUrl",
    "isOnlineMeeting",
    "onlineMeetingProvider",
    "allowNewTimeProposals",
    "isDraft",
    "hideAttendees",
    "responseStatus",
    "body",
    "start",
    "end",
    "originalStart",
    "location",
    "locations",
    "recurrence",
    "attendees",
    "organizer",
    "onlineMeeting",
    "singleValueExtendedProperties",
];

/// Properties a client may send but the server owns; they are ignored.
const READ_ONLY: &[&str] = &[
    "id",
    "createdDateTime",
    "lastModifiedDateTime",
    "changeKey",
    "iCalUId",
    "uid",
    "type",
    "seriesMasterId",
    "originalStart",
    "bodyPreview",
    "webLink",
    "onlineMeetingUrl",
    "hasAttachments",
    "isOrganizer",
    "occurrenceId",
];

/// Read-only properties a person's client (Outlook) effectively sets; the test
/// API accepts them, HTTP clients' values are ignored.
const PERSON_ONLY: &[&str] = &[
    "isCancelled",
    "organizer",
    "responseStatus",
    "onlineMeeting",
    "isDraft",
];

const ENUMS: &[(&str, &[&str])] = &[
    ("importance", &["low", "normal", "high"]),
    (
        "sensitivity",
        &["normal", "personal", "private", "confidential"],
    ),
    (
        "showAs",
        &[
            "free",
            "tentative",
            "busy",
            "oof",
            "workingElsewhere",
            "unknown",
        ],
    ),
    (
        "onlineMeetingProvider",
        &[
            "unknown",
            "teamsForBusiness",
            "skypeForBusiness",
            "skypeForConsumer",
        ],
    ),
];

const BOOLS: &[&str] = &[
    "isReminderOn",
    "responseRequested",
    "isOnlineMeeting",
    "allowNewTimeProposals",
    "hideAttendees",
];

const NO_TIME: &str = "0001-01-01T00:00:00Z";

/// A parsed POST or PATCH body.
#[derive(Clone, Debug, Default)]
pub(crate) struct EventInput {
    pub start: Option<Wall>,
    pub end: Option<Wall>,
    pub is_all_day: Option<bool>,
    /// Other properties, normalised to Graph's stored form.
    pub props: Map<String, Value>,
    pub ext: Vec<ExtProp>,
    /// `Some(None)` is an explicit `"recurrence": null`.
    pub recurrence: Option<Option<Rule>>,
    pub transaction_id: Option<String>,
}

fn convert_error(value: &Value, expected: &str) -> GraphError {
    GraphError::new(
        400,
        "RequestBodyRead",
        format!("Cannot convert the literal '{value}' to the expected type '{expected}'."),
    )
}

fn date_time_time_zone(value: &Value) -> Result<Wall, GraphError> {
    let obj = value
        .as_object()
        .ok_or_else(|| convert_error(value, "microsoft.graph.dateTimeTimeZone"))?;
    let raw = obj
        .get("dateTime")
        .and_then(Value::as_str)
        .ok_or_else(|| convert_error(value, "microsoft.graph.dateTimeTimeZone"))?;
    let zone = match obj.get("timeZone") {
        None | Some(Value::Null) => Zone::utc(),
        Some(Value::String(name)) => {
            Zone::parse(name).ok_or_else(|| GraphError::unsupported_zone(name))?
        }
        Some(other) => return Err(convert_error(other, "Edm.String")),
    };
    let (local, offset) = parse_date_time(raw)
        .ok_or_else(|| convert_error(&Value::from(raw), "Edm.DateTimeOffset"))?;
    let local = match offset {
        // An explicit offset fixes the instant; store it as wall time in the zone.
        Some(offset) => zone
            .local_time((local - Duration::seconds(i64::from(offset.local_minus_utc()))).and_utc()),
        None => local,
    };
    Ok(Wall { local, zone })
}

fn location(value: &Value) -> Result<Value, GraphError> {
    let obj = value
        .as_object()
        .ok_or_else(|| convert_error(value, "microsoft.graph.location"))?;
    let display = obj.get("displayName").and_then(Value::as_str).unwrap_or("");
    let mut out = Map::new();
    out.insert("displayName".into(), json!(display));
    out.insert(
        "locationType".into(),
        obj.get("locationType").cloned().unwrap_or(json!("default")),
    );
    if let Some(unique) = obj.get("uniqueId") {
        out.insert("uniqueId".into(), unique.clone());
    } else if !display.is_empty() {
        out.insert("uniqueId".into(), json!(display));
    }
    out.insert(
        "uniqueIdType".into(),
        obj.get("uniqueIdType")
            .cloned()
            .unwrap_or(json!(if display.is_empty() {
                "unknown"
            } else {
                "private"
            })),
    );
    out.insert(
        "address".into(),
        obj.get("address").cloned().unwrap_or(json!({})),
    );
    out.insert(
        "coordinates".into(),
        obj.get("coordinates").cloned().unwrap_or(json!({})),
    );
    for key in ["locationEmailAddress", "locationUri"] {
        if let Some(v) = obj.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    Ok(Value::Object(out))
}

fn attendee(value: &Value, origin: Origin) -> Result<Value, GraphError> {
    let bad = || convert_error(value, "microsoft.graph.attendee");
    let obj = value.as_object().ok_or_else(bad)?;
    let email = obj
        .get("emailAddress")
        .and_then(Value::as_object)
        .ok_or_else(bad)?;
    let address = email.get("address").and_then(Value::as_str).unwrap_or("");
    let name = email.get("name").and_then(Value::as_str).unwrap_or(address);
    let kind = obj
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("required");
    if !["required", "optional", "resource"].contains(&kind) {
        return Err(convert_error(&json!(kind), "microsoft.graph.attendeeType"));
    }
    let status = match (origin, obj.get("status")) {
        (Origin::Person, Some(status)) => status.clone(),
        _ => json!({"response": "none", "time": NO_TIME}),
    };
    Ok(json!({"type": kind, "status": status, "emailAddress": {"name": name, "address": address}}))
}

fn body(value: &Value) -> Result<Value, GraphError> {
    let obj = value
        .as_object()
        .ok_or_else(|| convert_error(value, "microsoft.graph.itemBody"))?;
    let content_type = match obj.get("contentType").and_then(Value::as_str) {
        None => "text",
        Some(t) if t.eq_ignore_ascii_case("text") => "text",
        Some(t) if t.eq_ignore_ascii_case("html") => "html",
        Some(t) => return Err(convert_error(&json!(t), "microsoft.graph.bodyType")),
    };
    let content = obj.get("content").and_then(Value::as_str).unwrap_or("");
    Ok(json!({"contentType": content_type, "content": content}))
}

/// Reads a POST or PATCH body. Unknown properties are refused as Graph does;
/// read-only ones are ignored.
pub(crate) fn parse_input(value: &Value, origin: Origin) -> Result<EventInput, GraphError> {
    let obj = value.as_object().ok_or_else(GraphError::unreadable_body)?;
    let mut input = EventInput::default();
    for (key, v) in obj {
        let k = key.as_str();
        if k.starts_with('@') || k.contains("@odata.") {
            continue;
        }
        match k {
            "subject" => {
                let s = match v {
                    Value::Null => "",
                    Value::String(s) => s,
                    other => return Err(convert_error(other, "Edm.String")),
                };
                input.props.insert(k.into(), json!(s));
            }
            "body" => {
                input.props.insert(k.into(), body(v)?);
            }
            "start" => input.start = Some(date_time_time_zone(v)?),
            "end" => input.end = Some(date_time_time_zone(v)?),
            "isAllDay" => {
                input.is_all_day =
                    Some(v.as_bool().ok_or_else(|| convert_error(v, "Edm.Boolean"))?);
            }
            "categories" => {
                let items = v
                    .as_array()
                    .ok_or_else(|| convert_error(v, "Collection(Edm.String)"))?;
                if items.iter().any(|c| !c.is_string()) {
                    return Err(convert_error(v, "Collection(Edm.String)"));
                }
                input.props.insert(k.into(), v.clone());
            }
            "location" => {
                let loc = location(v)?;
                let display = loc["displayName"].as_str().unwrap_or("").to_string();
                input.props.insert(
                    "locations".into(),
                    if display.is_empty() {
                        json!([])
                    } else {
                        json!([loc.clone()])
                    },
                );
                input.props.insert(k.into(), loc);
            }
            "locations" => {
                let items = v
                    .as_array()
                    .ok_or_else(|| convert_error(v, "Collection(microsoft.graph.location)"))?;
                let locs = items.iter().map(location).collect::<Result<Vec<_>, _>>()?;
                let first = locs.first().cloned().unwrap_or(location(&json!({}))?);
                input.props.insert("location".into(), first);
                input.props.insert(k.into(), Value::Array(locs));
            }
            "attendees" => {
                let items = v
                    .as_array()
                    .ok_or_else(|| convert_error(v, "Collection(microsoft.graph.attendee)"))?;
                if items.len() > 500 {
                    return Err(GraphError::new(
                        400,
                        "ErrorInvalidRequest",
                        "An event can have at most 500 attendees.",
                    ));
                }
                let list = items
                    .iter()
                    .map(|a| attendee(a, origin))
                    .collect::<Result<Vec<_>, _>>()?;
                input.props.insert(k.into(), Value::Array(list));
            }
            "reminderMinutesBeforeStart" => {
                let n = v.as_i64().ok_or_else(|| convert_error(v, "Edm.Int32"))?;
                input.props.insert(k.into(), json!(n));
            }
            "recurrence" => {
                input.recurrence =
                    Some(match v {
                        Value::Null => None,
                        other => Some(Rule::parse(other).map_err(|m| {
                            GraphError::new(400, "ErrorPropertyValidationFailure", m)
                        })?),
                    });
            }
            "transactionId" => {
                let s = v.as_str().ok_or_else(|| convert_error(v, "Edm.String"))?;
                input.transaction_id = Some(s.to_string());
            }
            "originalStartTimeZone" | "originalEndTimeZone" => {
                let s = v.as_str().ok_or_else(|| convert_error(v, "Edm.String"))?;
                input.props.insert(k.into(), json!(s));
            }
            "singleValueExtendedProperties" => {
                let items = v.as_array().ok_or_else(|| {
                    convert_error(
                        v,
                        "Collection(microsoft.graph.singleValueLegacyExtendedProperty)",
                    )
                })?;
                for p in items {
                    let id = p.get("id").and_then(Value::as_str).unwrap_or("");
                    if !ext_id_valid(id) {
                        return Err(GraphError::new(
                            400,
                            "ErrorInvalidProperty",
                            format!("The extended property id '{id}' is not valid."),
                        ));
                    }
                    let value = p.get("value").and_then(Value::as_str).ok_or_else(|| {
                        convert_error(p, "microsoft.graph.singleValueLegacyExtendedProperty")
                    })?;
                    input.ext.push(ExtProp {
                        id: id.to_string(),
                        value: value.to_string(),
                    });
                }
            }
            "multiValueExtendedProperties" => {}
            _ if BOOLS.contains(&k) => {
                input.props.insert(
                    k.into(),
                    json!(v.as_bool().ok_or_else(|| convert_error(v, "Edm.Boolean"))?),
                );
            }
            _ if ENUMS.iter().any(|(name, _)| *name == k) => {
                let (_, allowed) = ENUMS.iter().find(|(name, _)| *name == k).expect("checked");
                let canonical = v
                    .as_str()
                    .and_then(|s| allowed.iter().find(|a| a.eq_ignore_ascii_case(s)))
                    .ok_or_else(|| convert_error(v, &format!("microsoft.graph.{k}")))?;
                input.props.insert(k.into(), json!(canonical));
            }
            _ if PERSON_ONLY.contains(&k) => {
                if origin == Origin::Person {
                    input.props.insert(k.into(), v.clone());
                }
            }
            _ if READ_ONLY.contains(&k) => {}
            _ => return Err(GraphError::unknown_property(k)),
        }
    }
    Ok(input)
}

/// The properties a new event starts with, organised by the mailbox owner.
pub(crate) fn default_props(owner_name: &str, owner_address: &str) -> Map<String, Value> {
    let v = json!({
        "subject": "",
        "body": {"contentType": "html", "content": ""},
        "importance": "normal",
        "sensitivity": "normal",
        "showAs": "busy",
        "categories": [],
        "isReminderOn": true,
        "reminderMinutesBeforeStart": 15,
        "responseRequested": true,
        "isCancelled": false,
        "isDraft": false,
        "hideAttendees": false,
        "allowNewTimeProposals": true,
        "isOnlineMeeting": false,
        "onlineMeetingProvider": "unknown",
        "onlineMeeting": null,
        "responseStatus": {"response": "organizer", "time": NO_TIME},
        "organizer": {"emailAddress": {"name": owner_name, "address": owner_address}},
        "attendees": [],
        "location": {"displayName": "", "locationType": "default", "uniqueIdType": "unknown", "address": {}, "coordinates": {}},
        "locations": [],
    });
    match v {
        Value::Object(m) => m,
        _ => unreachable!("a JSON object literal"),
    }
}

/// Merges a PATCH (or create body) into an item: scalars and arrays are
/// replaced whole; extended properties are merged by id.
pub(crate) fn apply(item: &mut Item, input: &EventInput) {
    if let Some(start) = &input.start {
        item.start = start.clone();
    }
    if let Some(end) = &input.end {
        item.end = end.clone();
    }
    if let Some(all_day) = input.is_all_day {
        item.is_all_day = all_day;
    }
    for (k, v) in &input.props {
        item.props.insert(k.clone(), v.clone());
    }
    for prop in &input.ext {
        match item
            .ext
            .iter_mut()
            .find(|p| ext_id_eq(&p.id, &prop.id, true))
        {
            Some(existing) => existing.value = prop.value.clone(),
            None => item.ext.push(prop.clone()),
        }
    }
}

/// Graph's checks on an event's times.
pub(crate) fn validate(item: &Item) -> Result<(), GraphError> {
    if item.is_all_day {
        let midnight = NaiveTime::MIN;
        if item.start.local.time() != midnight
            || item.end.local.time() != midnight
            || item.start.zone.tz != item.end.zone.tz
        {
            return Err(GraphError::new(
                400,
                "ErrorInvalidRequest",
                "An event marked as All day must start and end at midnight, in the same time zone.",
            ));
        }
        if item.end.local - item.start.local < Duration::days(1) {
            return Err(GraphError::new(
                400,
                "ErrorInvalidRequest",
                "The duration of an event marked as All day must be at least 24 hours.",
            ));
        }
    }
    if item.end.instant() < item.start.instant() {
        return Err(GraphError::new(
            400,
            "ErrorPropertyValidationFailure",
            "At least one property failed validation.",
        ));
    }
    Ok(())
}

/// How many invitations a write sends: one per attendee it sets.
pub(crate) fn attendee_count(input: &EventInput) -> usize {
    input
        .props
        .get("attendees")
        .and_then(Value::as_array)
        .map_or(0, Vec::len)
}

/// Which extended properties a rendered event carries.
#[derive(Clone, Copy)]
pub(crate) enum ExtMode<'a> {
    /// None (write responses, plain reads).
    Omit,
    /// Those an `$expand=singleValueExtendedProperties($filter=…)` selects.
    Matching(&'a Expr),
    /// All of them (the test inspection API).
    All,
}

pub(crate) struct RenderOpts<'a> {
    /// `Prefer: outlook.timezone`; `None` is UTC.
    pub zone: Option<&'a Zone>,
    /// `Prefer: outlook.body-content-type="text"`.
    pub text_body: bool,
    pub ext: ExtMode<'a>,
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn wrap_html(inner: &str) -> String {
    format!(
        "<html><head>\r\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\r\n</head>\r\n<body>\r\n{inner}\r\n</body>\r\n</html>\r\n"
    )
}

/// A rough HTML-to-text conversion, as Exchange does for `bodyPreview` and
/// `outlook.body-content-type="text"`.
fn html_to_text(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open..];
        let Some(close) = after.find('>') else {
            rest = "";
            break;
        };
        let tag = after[1..close].trim().to_ascii_lowercase();
        let name = tag
            .trim_start_matches('/')
            .split_whitespace()
            .next()
            .unwrap_or("");
        rest = &after[close + 1..];
        if !tag.starts_with('/') && (name == "head" || name == "style" || name == "script") {
            let end = format!("</{name}");
            rest = rest
                .to_ascii_lowercase()
                .find(&end)
                .and_then(|i| rest[i..].find('>').map(|j| &rest[i + j + 1..]))
                .unwrap_or("");
            continue;
        }
        if matches!(name, "br" | "p" | "div" | "li" | "tr")
            && (tag.starts_with('/') || name == "br")
        {
            out.push('\n');
        }
    }
    out.push_str(rest);
    out.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
        .trim()
        .to_string()
}

fn render_body(stored: &Value, text: bool) -> (Value, String) {
    let content_type = stored["contentType"].as_str().unwrap_or("html");
    let content = stored["content"].as_str().unwrap_or("");
    let plain = if content_type == "text" {
        content.to_string()
    } else {
        html_to_text(content)
    };
    let preview: String = plain
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(255)
        .collect();
    let body = if text {
        json!({"contentType": "text", "content": plain})
    } else if content_type == "html" {
        let html = if content
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("<html")
        {
            content.to_string()
        } else {
            wrap_html(content)
        };
        json!({"contentType": "html", "content": html})
    } else {
        json!({"contentType": "html", "content": wrap_html(&html_escape(content).replace('\n', "<br>\r\n"))})
    };
    (body, preview)
}

fn render_time(wall: &Wall, all_day: bool, zone: Option<&Zone>) -> Value {
    let label = zone.map_or("UTC", |z| z.name.as_str());
    let local = if all_day {
        // All-day events stay midnight to midnight whatever zone is asked for.
        wall.local
    } else {
        zone.cloned()
            .unwrap_or_else(Zone::utc)
            .local_time(wall.instant())
    };
    json!({"dateTime": format_local(local), "timeZone": label})
}

/// Graph's JSON for one event.
pub(crate) fn render(
    view: &View<'_>,
    mailbox: &Mailbox,
    opts: &RenderOpts<'_>,
) -> Map<String, Value> {
    let item = &view.item;
    let mut m = item.props.clone();
    let (body, preview) = render_body(&item.props["body"], opts.text_body);
    m.insert("body".into(), body);
    m.insert("bodyPreview".into(), json!(preview));
    m.insert(
        "@odata.etag".into(),
        json!(format!("W/\"{}\"", item.change_key)),
    );
    m.insert("id".into(), json!(view.id));
    m.insert("changeKey".into(), json!(item.change_key));
    m.insert("createdDateTime".into(), json!(format_utc(item.created)));
    m.insert(
        "lastModifiedDateTime".into(),
        json!(format_utc(item.modified)),
    );
    m.insert("iCalUId".into(), json!(view.ical_uid));
    m.insert("type".into(), json!(view.kind.name()));
    m.insert("isAllDay".into(), json!(item.is_all_day));
    m.insert(
        "start".into(),
        render_time(&item.start, item.is_all_day, opts.zone),
    );
    m.insert(
        "end".into(),
        render_time(&item.end, item.is_all_day, opts.zone),
    );
    m.insert("hasAttachments".into(), json!(false));
    m.insert("onlineMeetingUrl".into(), Value::Null);
    let organizer = item.props["organizer"]["emailAddress"]["address"]
        .as_str()
        .unwrap_or("");
    m.insert(
        "isOrganizer".into(),
        json!(organizer.eq_ignore_ascii_case(&mailbox.upn)),
    );
    let encoded_id: String =
        percent_encoding::utf8_percent_encode(&view.id, percent_encoding::NON_ALPHANUMERIC)
            .collect();
    m.insert(
        "webLink".into(),
        json!(format!(
            "https://outlook.office365.com/owa/?itemid={encoded_id}&exvsurl=1&path=/calendar/item"
        )),
    );
    match view.kind {
        Kind::Occurrence | Kind::Exception => {
            m.insert("seriesMasterId".into(), json!(view.event.id));
            if let Some(original) = view.original_start {
                m.insert("originalStart".into(), json!(format_utc(original)));
            }
            m.insert("recurrence".into(), Value::Null);
        }
        Kind::SeriesMaster => {
            m.insert("seriesMasterId".into(), Value::Null);
            let zone = &view.event.item.start.zone.name;
            m.insert(
                "recurrence".into(),
                view.event
                    .series
                    .as_ref()
                    .map_or(Value::Null, |s| s.rule.to_json(zone)),
            );
        }
        Kind::SingleInstance => {
            m.insert("seriesMasterId".into(), Value::Null);
            m.insert("recurrence".into(), Value::Null);
        }
    }
    if matches!(view.kind, Kind::SingleInstance | Kind::SeriesMaster)
        && let Some(tid) = &view.event.transaction_id
    {
        m.insert("transactionId".into(), json!(tid));
    }
    let ext: Vec<Value> = match opts.ext {
        ExtMode::Omit => Vec::new(),
        ExtMode::All => item
            .ext
            .iter()
            .map(|p| json!({"id": p.id, "value": p.value}))
            .collect(),
        ExtMode::Matching(filter) => item
            .ext
            .iter()
            .filter(|p| filter.matches_ext(p))
            .map(|p| json!({"id": p.id, "value": p.value}))
            .collect(),
    };
    if !ext.is_empty() {
        m.insert("singleValueExtendedProperties".into(), Value::Array(ext));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_properties_are_refused_and_read_only_ignored() {
        let e = parse_input(&json!({"subjet": "x"}), Origin::Client).unwrap_err();
        assert_eq!(e.code, "RequestBodyRead");
        let ok = parse_input(
            &json!({"id": "x", "isCancelled": true, "subject": "s"}),
            Origin::Client,
        )
        .unwrap();
        assert!(!ok.props.contains_key("isCancelled"));
        let person = parse_input(&json!({"isCancelled": true}), Origin::Person).unwrap();
        assert_eq!(person.props["isCancelled"], json!(true));
    }

    #[test]
    fn text_bodies_are_wrapped_in_html() {
        let (body, preview) = render_body(
            &json!({"contentType": "text", "content": "a < b\nline"}),
            false,
        );
        let html = body["content"].as_str().unwrap();
        assert!(html.starts_with("<html><head>"), "{html}");
        assert!(html.contains("a &lt; b<br>"), "{html}");
        assert_eq!(preview, "a < b line");
        let (text, _) = render_body(
            &json!({"contentType": "html", "content": "<html><head><style>p{}</style></head><body><p>Hi &amp; bye</p></body></html>"}),
            true,
        );
        assert_eq!(text["content"], "Hi & bye");
    }

    #[test]
    fn unsupported_zone_is_refused() {
        let e = parse_input(
            &json!({"start": {"dateTime": "2026-01-01T10:00:00", "timeZone": "Mars"}}),
            Origin::Client,
        )
        .unwrap_err();
        assert_eq!(e.code, "TimeZoneNotSupportedException");
    }
}
