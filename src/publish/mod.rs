//! Publishing after a successful sync: a static agenda web page
//! (`publish.html`, [`html`]) and a JSON feed (`publish.json`, [`feed`]) of
//! the events the target holds, which are the public events of the window
//! as their copies carry them ([`crate::planner::public_payloads`]): nothing
//! the copy policy keeps out of the target is ever published.
//!
//! Both files are written atomically, and only when what they show changed:
//! the page carries a hash of its content (everything but the generation
//! time) in `<meta name="calsync-content-hash">`, and the feed is compared
//! with the old one without its `generated` field. So a run that changes
//! nothing leaves both files byte for byte as they were, and `generated` is
//! when the content last changed.

pub mod feed;
pub mod html;

use crate::config::Settings;
use crate::model::{EventPayload, EventTime, SourceKey, Window};
use anyhow::Context;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::path::Path;

/// What one publishing step needs: the settings of the pair, the run's
/// window and today's date (the window's "today"), the events.
pub struct Input<'a> {
    pub settings: &'a Settings,
    pub window: Window,
    pub events: &'a [(SourceKey, EventPayload)],
    pub now: DateTime<Utc>,
}

/// The feed's stable id of an event: the first 16 hex digits of the
/// SHA-256 of its source key, which names no source id.
pub fn event_id(key: &SourceKey) -> String {
    let digest = Sha256::digest(key.as_str().as_bytes());
    hex::encode(digest).chars().take(16).collect()
}

/// The events sorted as published: by start, then subject, then key.
pub fn sorted(events: &[(SourceKey, EventPayload)]) -> Vec<&(SourceKey, EventPayload)> {
    let mut out: Vec<&(SourceKey, EventPayload)> = events.iter().collect();
    out.sort_by(|a, b| {
        a.1.start
            .as_utc()
            .cmp(&b.1.start.as_utc())
            .then_with(|| a.1.subject.cmp(&b.1.subject))
            .then_with(|| a.0.as_str().cmp(b.0.as_str()))
    });
    out
}

/// A time as the feed and `<time datetime>` write it: `YYYY-MM-DD` for a
/// date, RFC 3339 for an instant.
pub fn time_attr<Tz: chrono::TimeZone>(t: &EventTime, tz: &Tz) -> String
where
    Tz::Offset: std::fmt::Display,
{
    match t {
        EventTime::Date(d) => d.format("%Y-%m-%d").to_string(),
        EventTime::Instant(i) => i
            .with_timezone(tz)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }
}

/// The event's description as text (an HTML body's text).
pub fn description(p: &EventPayload) -> Option<String> {
    let text = match p.body.content_type {
        crate::model::BodyType::Html => crate::text::html_to_text(&p.body.content),
        crate::model::BodyType::Text => p.body.content.clone(),
    };
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// Writes the page and the feed the settings ask for. Each file is
/// replaced only when its content changed.
pub fn publish(input: &Input<'_>) -> anyhow::Result<()> {
    let p = &input.settings.publish;
    if let Some(path) = &p.html {
        let page = html::render(input)?;
        write_if_changed(path, &page, |old| html::same_content(old, &page))
            .with_context(|| format!("cannot write the agenda page {}", path.display()))?;
    }
    if let Some(path) = &p.json {
        let feed = feed::render(input)?;
        write_if_changed(path, &feed, |old| feed::same_content(old, &feed))
            .with_context(|| format!("cannot write the JSON feed {}", path.display()))?;
    }
    Ok(())
}

/// Replaces `path` with `text` unless the file there has the same content
/// by `same`.
fn write_if_changed(path: &Path, text: &str, same: impl Fn(&str) -> bool) -> anyhow::Result<()> {
    if let Ok(old) = std::fs::read_to_string(path)
        && same(&old)
    {
        tracing::debug!(path = %path.display(), "published file unchanged");
        return Ok(());
    }
    crate::fs::replace_file(path, crate::fs::FileMode::KeepExisting, |w| {
        std::io::Write::write_all(w, text.as_bytes())
    })?;
    tracing::info!(path = %path.display(), "published");
    Ok(())
}

#[cfg(test)]
mod tests;
