//! The JSON feed: every event of the window (not only `publish.days`),
//! sorted by start, subject and key. Its schema is in the README
//! ("Publishing a web page"). `location`, `categories` and `description`
//! are there only when the copy policy copies them (`copy.location`,
//! `copy.categories`, `copy.body`) and the event has them.

use super::{Input, description, event_id, sorted, time_attr};
use serde_json::{Map, Value, json};

/// Renders the feed, pretty-printed, with a final newline.
pub fn render(input: &Input<'_>) -> anyhow::Result<String> {
    let settings = input.settings;
    let copy = &settings.policy.copy;
    let events: Vec<Value> = sorted(input.events)
        .into_iter()
        .map(|(key, p)| {
            let mut e = Map::new();
            e.insert("id".into(), json!(event_id(key)));
            e.insert("subject".into(), json!(p.subject));
            e.insert("start".into(), json!(time_attr(&p.start, &chrono::Utc)));
            e.insert("end".into(), json!(time_attr(&p.end, &chrono::Utc)));
            e.insert("all_day".into(), json!(p.is_all_day));
            e.insert("show_as".into(), json!(p.show_as.as_str()));
            if copy.location && !p.location.trim().is_empty() {
                e.insert("location".into(), json!(p.location));
            }
            if copy.categories && !p.categories.is_empty() {
                e.insert("categories".into(), json!(p.categories));
            }
            if copy.body
                && let Some(d) = description(p)
            {
                e.insert("description".into(), json!(d));
            }
            Value::Object(e)
        })
        .collect();
    let rfc =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let feed = json!({
        "title": settings.publish_title(),
        "generated": rfc(input.now),
        "window": {"start": rfc(input.window.start), "end": rfc(input.window.end)},
        "time_zone": settings.publish.time_zone.name(),
        "events": events,
    });
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
