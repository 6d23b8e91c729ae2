//! The agenda web page: the events from today to `publish.days` ahead,
//! grouped by month, rendered with MiniJinja from `templates/agenda.html`
//! or the operator's `publish.template`, with HTML auto-escaping.
//!
//! The template's variables:
//!
//! - `title`, `time_zone` (IANA name), `days`, `generated` (RFC 3339, UTC:
//!   when the content last changed), `content_hash` (put it in
//!   `<meta name="calsync-content-hash" content="…">` so that a run that
//!   changes nothing leaves the page as it is), `subscribe_url` and
//!   `webcal_url` (absent unless `publish.subscribe_url` is set);
//! - `months`: each with `heading` ("December 2026"), `month`
//!   ("2026-12") and `events`;
//! - each event: `id`, `subject`, `all_day`, `show_as`, `start_attr` and
//!   `end_attr` (for `<time datetime>`: `YYYY-MM-DD` for all-day events,
//!   RFC 3339 in `time_zone` otherwise), `date_text` ("Monday 7 December
//!   2026"), `time_text` ("14:00–15:30", "all day", …), and `location`,
//!   `categories` and `description` (text) only when the copy carries them.

use super::{Input, description, event_id, sorted, time_attr};
use crate::model::{EventPayload, EventTime, SourceKey};
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The default template.
pub const DEFAULT_TEMPLATE: &str = include_str!("../../templates/agenda.html");

#[derive(Serialize)]
struct Page {
    title: String,
    time_zone: String,
    days: u32,
    generated: String,
    content_hash: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscribe_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    webcal_url: Option<String>,
    months: Vec<Month>,
}

#[derive(Serialize)]
struct Month {
    heading: String,
    month: String,
    events: Vec<Event>,
}

#[derive(Serialize)]
struct Event {
    id: String,
    subject: String,
    all_day: bool,
    show_as: &'static str,
    start_attr: String,
    end_attr: String,
    date_text: String,
    time_text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    categories: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
}

/// Midnight at the start of `day` in `tz` (the earliest, or the first
/// instant after a gap).
fn midnight(tz: &Tz, day: NaiveDate) -> DateTime<Utc> {
    let naive = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    tz.from_local_datetime(&naive)
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&(naive + Duration::hours(1)))
                .earliest()
        })
        .map_or_else(|| naive.and_utc(), |t| t.with_timezone(&Utc))
}

/// The run's today: the window's start plus `past_days`.
pub(super) fn today(input: &Input<'_>) -> NaiveDate {
    (input.window.start + Duration::days(i64::from(input.settings.past_days))).date_naive()
}

fn long_date(d: NaiveDate) -> String {
    d.format("%A %-d %B %Y").to_string()
}

fn event_of(key: &SourceKey, p: &EventPayload, tz: &Tz) -> (NaiveDate, Event) {
    let (day, date_text, time_text) = match (p.start, p.end) {
        (EventTime::Date(s), end) => {
            let last = match end {
                EventTime::Date(e) if e > s + Duration::days(1) => Some(e - Duration::days(1)),
                _ => None,
            };
            let time = match last {
                Some(l) => format!("all day, until {}", long_date(l)),
                None => "all day".to_owned(),
            };
            (s, long_date(s), time)
        }
        (EventTime::Instant(s), end) => {
            let s = s.with_timezone(tz);
            let time = match end {
                EventTime::Instant(e) => {
                    let e = e.with_timezone(tz);
                    if e.date_naive() == s.date_naive() {
                        format!("{}–{}", s.format("%H:%M"), e.format("%H:%M"))
                    } else {
                        format!(
                            "{} – {}, {}",
                            s.format("%H:%M"),
                            long_date(e.date_naive()),
                            e.format("%H:%M")
                        )
                    }
                }
                EventTime::Date(_) => s.format("%H:%M").to_string(),
            };
            (s.date_naive(), long_date(s.date_naive()), time)
        }
    };
    let event = Event {
        id: event_id(key),
        subject: p.subject.clone(),
        all_day: p.is_all_day,
        show_as: p.show_as.as_str(),
        start_attr: time_attr(&p.start, tz),
        end_attr: time_attr(&p.end, tz),
        date_text,
        time_text,
        location: (!p.location.trim().is_empty()).then(|| p.location.clone()),
        categories: p.categories.clone(),
        description: description(p),
    };
    (day, event)
}

/// Whether the event is on the page: it ends after today's start and
/// starts before the end of the last day listed.
fn listed(p: &EventPayload, tz: &Tz, today: NaiveDate, days: u32) -> bool {
    let last = today + Duration::days(i64::from(days));
    match (p.start, p.end) {
        (EventTime::Date(s), EventTime::Date(e)) => {
            e.max(s + Duration::days(1)) > today && s < last
        }
        (start, end) => {
            let end = end.as_utc().max(start.as_utc());
            (end > midnight(tz, today) || start.as_utc() >= midnight(tz, today))
                && start.as_utc() < midnight(tz, last)
        }
    }
}

/// Renders the page.
pub fn render(input: &Input<'_>) -> anyhow::Result<String> {
    let settings = input.settings;
    let p = &settings.publish;
    let tz = p.time_zone;
    let today = today(input);
    let mut months: Vec<Month> = Vec::new();
    for (key, payload) in sorted(input.events) {
        if !listed(payload, &tz, today, p.days) {
            continue;
        }
        let (day, event) = event_of(key, payload, &tz);
        let month = day.format("%Y-%m").to_string();
        match months.last_mut() {
            Some(m) if m.month == month => m.events.push(event),
            _ => months.push(Month {
                heading: day.format("%B %Y").to_string(),
                month,
                events: vec![event],
            }),
        }
    }
    let template = match &p.template {
        Some(path) => std::fs::read_to_string(path).map_err(|e| {
            anyhow::anyhow!(
                "cannot read the page template {} (publish.template): {e}. Correct the path, or \
                 remove publish.template to use the built-in template.",
                path.display()
            )
        })?,
        None => DEFAULT_TEMPLATE.to_owned(),
    };
    let mut page = Page {
        title: settings.publish_title(),
        time_zone: tz.name().to_owned(),
        days: p.days,
        generated: String::new(),
        content_hash: String::new(),
        subscribe_url: p.subscribe_url.as_ref().map(|u| u.to_string()),
        webcal_url: p.subscribe_url.as_ref().map(|u| {
            let s = u.to_string();
            format!("webcal://{}", s.strip_prefix("https://").unwrap_or(&s))
        }),
        months,
    };
    let mut hasher = Sha256::new();
    hasher.update(template.as_bytes());
    hasher.update(serde_json::to_vec(&page)?);
    page.content_hash = hex::encode(hasher.finalize());
    page.generated = input.now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);

    let mut env = minijinja::Environment::new();
    // The name's extension turns on HTML auto-escaping, for an operator's
    // template too.
    env.add_template("agenda.html", &template).map_err(|e| {
        anyhow::anyhow!("the page template does not parse: {e}. Correct publish.template.")
    })?;
    let tmpl = env
        .get_template("agenda.html")
        .map_err(|e| anyhow::anyhow!("the page template is missing: {e}"))?;
    tmpl.render(&page)
        .map_err(|e| anyhow::anyhow!("cannot render the page template: {e}"))
}

/// The content hash a page carries, if any.
fn hash_of(page: &str) -> Option<&str> {
    const MARK: &str = "<meta name=\"calsync-content-hash\" content=\"";
    let at = page.find(MARK)? + MARK.len();
    let rest = page.get(at..)?;
    let hash = rest.get(..rest.find('"')?)?;
    (!hash.is_empty()).then_some(hash)
}

/// Whether `old` shows what `new` shows: the same content hash (pages of a
/// template without it are compared whole).
pub fn same_content(old: &str, new: &str) -> bool {
    match (hash_of(old), hash_of(new)) {
        (Some(a), Some(b)) => a == b,
        _ => old == new,
    }
}
