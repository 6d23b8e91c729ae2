//! The JSON feed: every event of the window (not only `publish.days`),
//! sorted by start, subject and key. Its schema is in the README
//! ("Publishing a web page"). `location`, `categories` and `description`
//! are there only when the copy policy copies them (`copy.location`,
//! `copy.categories`, `copy.body`) and the event has them.

use super::{Input, description, event_id, sorted, time_attr};
use serde::Serialize;
use serde_json::Value;

#[derive(Serialize)]
struct Feed<'a> {
    title: String,
    generated: String,
    window: FeedWindow,
    time_zone: &'a str,
    events: Vec<FeedEvent<'a>>,
}

#[derive(Serialize)]
struct FeedWindow {
    start: String,
    end: String,
}

#[derive(Serialize)]
struct FeedEvent<'a> {
    id: String,
    subject: &'a str,
    start: String,
    end: String,
    all_day: bool,
    show_as: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    categories: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
}

/// Renders the feed, pretty-printed, with a final newline.
pub fn render(input: &Input<'_>) -> anyhow::Result<String> {
    let settings = input.settings;
    let copy = &settings.policy.copy;
    let events: Vec<FeedEvent<'_>> = sorted(input.events)
        .into_iter()
        .map(|(key, p)| FeedEvent {
            id: event_id(key),
            subject: &p.subject,
            start: time_attr(&p.start, &chrono::Utc),
            end: time_attr(&p.end, &chrono::Utc),
            all_day: p.is_all_day,
            show_as: p.show_as.as_str(),
            location: (copy.location && !p.location.trim().is_empty())
                .then_some(p.location.as_str()),
            categories: (copy.categories && !p.categories.is_empty())
                .then_some(p.categories.as_slice()),
            description: if copy.body { description(p) } else { None },
        })
        .collect();
    let rfc =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let feed = Feed {
        title: settings.publish_title(),
        generated: rfc(input.now),
        window: FeedWindow {
            start: rfc(input.window.start),
            end: rfc(input.window.end),
        },
        time_zone: settings.publish.time_zone.name(),
        events,
    };
    let mut text = serde_json::to_string_pretty(&feed)?;
    text.push('\n');
    Ok(text)
}

/// Whether two feeds are the same but for `generated`.
pub fn same_content(old: &str, new: &str) -> bool {
    let strip = |s: &str| -> Option<Value> {
        let mut v: Value = serde_json::from_str(s).ok()?;
        v.as_object_mut()?.remove("generated");
        Some(v)
    };
    match (strip(old), strip(new)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}
