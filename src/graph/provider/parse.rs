//! Graph's events turned into the model's, and the model's written as
//! Graph takes them.

use super::*;
use crate::graph::wire::{BodyField, CopyEvent, DateTimeTimeZone, Field, GraphEvent, Location};

/// Turns one target event into an inspected copy; `None` when it does not
/// carry calsync's marker. Keeps only whether the forbidden fields are
/// present, never their content.
pub fn inspected_copy(v: &CopyEvent) -> anyhow::Result<Option<InspectedCopy>> {
    let Some(managed) = managed_event(v)? else {
        return Ok(None);
    };
    let preview = v.body_preview.as_str().unwrap_or_default();
    let has_body = !preview.trim().is_empty()
        || v.body.get().is_some_and(|b| {
            let content = b.content.as_str().unwrap_or_default();
            if b.content_type
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("text"))
            {
                !content.trim().is_empty()
            } else {
                html_has_text(content)
            }
        });
    let attendees = v.attendees.get().map_or(0, Vec::len);
    let meeting_data = v.online_meeting.get().is_some_and(|o| {
        o.values().any(|x| match x {
            Value::Null => false,
            Value::String(s) => !s.trim().is_empty(),
            Value::Array(a) => !a.is_empty(),
            _ => true,
        })
    });
    let online_meeting = v.is_online_meeting.as_bool() == Some(true)
        || meeting_data
        || v.online_meeting_url
            .as_str()
            .is_some_and(|u| !u.trim().is_empty());
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
pub(super) fn parse_time(
    time: &Field<DateTimeTimeZone>,
    key: &str,
    all_day: bool,
) -> anyhow::Result<EventTime> {
    let obj = time.get().ok_or_else(|| malformed(key))?;
    let raw = obj.date_time.as_str().ok_or_else(|| malformed(key))?;
    let naive = NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| malformed(key))?;
    if all_day {
        // All-day events are floating dates whatever zone label they carry.
        return Ok(EventTime::Date(naive.date()));
    }
    let zone = obj.time_zone.as_str().unwrap_or("UTC");
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

pub(super) fn categories(categories: &Field<Vec<Field<String>>>) -> Vec<String> {
    categories
        .get()
        .map(|a| {
            a.iter()
                .filter_map(Field::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn location(location: &Field<Location>) -> String {
    location
        .get()
        .and_then(|l| l.display_name.as_str())
        .unwrap_or_default()
        .to_string()
}

/// The fields besides `sensitivity` that decide whether an event is public.
pub(super) const DECIDING_FIELDS: [&str; 4] = ["subject", "isCancelled", "showAs", "categories"];

/// The head of Exchange's global object id, the form Graph gives `iCalUId`
/// for meetings Exchange made (`[MS-OXOCAL]` PidLidGlobalObjectId): a class
/// id, then 8 hex digits of year, month and day, which are zero for the
/// series and hold the date for one occurrence.
const GLOBAL_OBJECT_ID_HEAD: &str = "040000008200E00074C5B7101A82E008";

/// The series' UID of an occurrence's `iCalUId`: Graph gives each
/// occurrence of an Exchange meeting its own, with the occurrence's date in
/// the id; with the date slot zeroed it is the series' UID, which a file
/// exported from the same mailbox, or another mailbox's copy of the meeting,
/// also holds. Any other form is the series' UID as it stands.
fn series_uid(uid: &str) -> String {
    let head = GLOBAL_OBJECT_ID_HEAD.len();
    match (uid.get(..head), uid.get(head + 8..)) {
        (Some(h), Some(tail)) if h.eq_ignore_ascii_case(GLOBAL_OBJECT_ID_HEAD) => {
            format!("{h}00000000{tail}")
        }
        _ => uid.to_owned(),
    }
}

/// Turns one calendarView item into a source event; `None` for items that
/// are not instances (series masters never come from calendarView, but a
/// server that sent one must not make calsync copy a whole series as one).
pub fn source_event<B: BodyField>(v: &GraphEvent<B>) -> anyhow::Result<Option<SourceEvent>> {
    let id =
        v.id.as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| malformed("id"))?;
    let kind = v.kind.as_str().unwrap_or("singleInstance");
    let key = match kind {
        "occurrence" | "exception" => {
            let series = v
                .series_master_id
                .as_str()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| malformed("seriesMasterId"))?;
            let original = v
                .original_start
                .as_str()
                .and_then(parse_instant)
                .ok_or_else(|| malformed("originalStart"))?;
            SourceKey::occurrence(series, original)
        }
        "seriesMaster" => return Ok(None),
        _ => SourceKey::single(id),
    };
    let ical_uid = v
        .ical_uid
        .as_str()
        .filter(|s| !s.is_empty())
        .map(|uid| match kind {
            "occurrence" | "exception" => series_uid(uid),
            _ => uid.to_owned(),
        });
    // Where an event falls depends on it: a missing flag is not taken as
    // "timed".
    let is_all_day = v
        .is_all_day
        .as_bool()
        .ok_or_else(|| malformed("isAllDay"))?;
    let start = parse_time(&v.start, "start", is_all_day)?;
    let end = parse_time(&v.end, "end", is_all_day)?;
    // An unknown or missing sensitivity is treated as private, and so is an
    // event that came without any other field the filter decides on: a
    // field Graph did not send is never taken to be public.
    let complete = DECIDING_FIELDS.iter().all(|f| v.has(f));
    let sensitivity = v
        .sensitivity
        .as_str()
        .and_then(Sensitivity::parse)
        .filter(|_| complete)
        .unwrap_or(Sensitivity::Private);
    let show_as = v
        .show_as
        .as_str()
        .and_then(ShowAs::parse)
        .unwrap_or(ShowAs::Unknown);
    // A body of another type than an object reads as an empty text body.
    let body = match v.body.body().and_then(Field::get) {
        Some(b) => Body {
            content_type: if b
                .content_type
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("html"))
            {
                BodyType::Html
            } else {
                BodyType::Text
            },
            content: b.content.as_str().unwrap_or_default().to_string(),
        },
        None => Body::default(),
    };
    Ok(Some(SourceEvent {
        key,
        ical_uid,
        subject: v.subject.as_str().unwrap_or_default().to_string(),
        start,
        end,
        is_all_day,
        show_as,
        sensitivity,
        is_cancelled: v.is_cancelled.as_bool().unwrap_or(false),
        categories: categories(&v.categories),
        location: location(&v.location),
        body,
    }))
}

/// The source key and content hash of calsync's marker on a target event;
/// `None` when it carries no source key.
pub(super) fn marker_of(v: &CopyEvent) -> Option<(SourceKey, String)> {
    let mut source_key = None;
    let mut content_hash = String::new();
    for p in v
        .single_value_extended_properties
        .get()?
        .iter()
        .filter_map(Field::get)
    {
        let pid = p.id.as_str().unwrap_or_default();
        let value = p.value.as_str().unwrap_or_default();
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
pub fn managed_event(v: &CopyEvent) -> anyhow::Result<Option<ManagedEvent>> {
    let Some((source_key, content_hash)) = marker_of(v) else {
        return Ok(None);
    };
    let id =
        v.id.as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| malformed("id"))?;
    let is_all_day = v.is_all_day.as_bool().unwrap_or(false);
    Ok(Some(ManagedEvent {
        target_id: id.to_string(),
        marker: Marker {
            source_key,
            content_hash,
        },
        current: EventPayload {
            subject: v.subject.as_str().unwrap_or_default().to_string(),
            start: parse_time(&v.start, "start", is_all_day)?,
            end: parse_time(&v.end, "end", is_all_day)?,
            is_all_day,
            show_as: v
                .show_as
                .as_str()
                .and_then(ShowAs::parse)
                .unwrap_or(ShowAs::Unknown),
            location: location(&v.location),
            body: Body::default(),
            categories: categories(&v.categories),
        },
    }))
}
