//! Graph's events turned into the model's, and the model's written as
//! Graph takes them.

use super::*;

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
pub(super) fn time_json(t: &EventTime, all_day_zone: &str) -> Value {
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

pub(super) fn malformed(what: &str) -> anyhow::Error {
    anyhow!(
        "Graph returned an event without a valid `{what}`; the response is malformed or \
         truncated. Nothing was written. Run again; if it persists, run with -vv and report \
         the request-id."
    )
}

pub(super) fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Parses a Graph `dateTimeTimeZone` into a time. calsync asks for UTC on
/// every request, so any other zone is converted if known and refused if not.
pub(super) fn parse_time(v: &Value, key: &str, all_day: bool) -> anyhow::Result<EventTime> {
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

pub(super) fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|n| n.and_utc())
        })
}

pub(super) fn categories(v: &Value) -> Vec<String> {
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

pub(super) fn location(v: &Value) -> String {
    v.get("location")
        .and_then(|l| l.get("displayName"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The fields besides `sensitivity` that decide whether an event is public.
pub(super) const DECIDING_FIELDS: [&str; 4] = ["subject", "isCancelled", "showAs", "categories"];

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
pub(super) fn marker_of(v: &Value) -> Option<(SourceKey, String)> {
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
