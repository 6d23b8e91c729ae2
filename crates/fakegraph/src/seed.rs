//! Seed documents: apps, mailboxes, calendars and events in one JSON file.
//!
//! ```json
//! {
//!   "apps": [{"tenant": "contoso", "client_id": "…", "client_secret": "…",
//!             "public_client": true}],
//!   "device_user": "events@contoso.example",
//!   "mailboxes": [{
//!     "upn": "events@contoso.example",
//!     "defaultCalendarName": "Kalender",
//!     "timeZone": "W. Europe Standard Time",
//!     "calendars": [
//!       {"name": "Calendar", "events": [
//!         {"subject": "…", "start": {"dateTime": "today+3T10:00:00", "timeZone": "UTC"}, "end": {…},
//!          "recurrence": {…},
//!          "modifiedOccurrences": [{"originalStart": "today+10T17:00:00Z", "patch": {…}}],
//!          "cancelledOccurrences": ["today+17T17:00:00Z"]}
//!       ]},
//!       {"name": "Public Calendar"}
//!     ]
//!   }]
//! }
//! ```
//!
//! Events are Graph-shaped, as [`crate::FakeGraph::insert_event`] takes them,
//! plus two seed-only keys: `modifiedOccurrences` and `cancelledOccurrences`
//! (original starts as UTC instants). So that a seed stays useful, any
//! `dateTime`, `startDate`, `endDate` or `originalStart` value (and each
//! `cancelledOccurrences` entry) may start with `today`, `today+N` or
//! `today-N`: it is replaced by the date N days from today (UTC), and the
//! rest (`T10:00:00`) is kept. The mailbox's default calendar exists
//! already ("Calendar", or the localized name `defaultCalendarName`
//! gives); naming it adds its events. `timeZone` (optional) is the
//! mailbox's `mailboxSettings.timeZone` (default "UTC").
//!
//! `public_client` (optional) allows the app's device-code sign-in, and
//! `device_user` (optional) approves every device code as that user on its
//! second poll, so `calsync login` can be tried by hand.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::Value;

use crate::FakeGraph;
use crate::timezone::parse_instant;

/// What a seed document set up.
#[derive(Clone, Debug, Default)]
pub struct SeedSummary {
    /// (tenant, client_id, client_secret)
    pub apps: Vec<(String, String, String)>,
    pub mailboxes: Vec<String>,
    /// (mailbox, calendar name, calendar id)
    pub calendars: Vec<(String, String, String)>,
    pub events: usize,
}

const DATE_KEYS: &[&str] = &["dateTime", "startDate", "endDate", "originalStart"];

fn relative(s: &str, today: NaiveDate) -> Option<String> {
    let rest = s.strip_prefix("today")?;
    let split = rest.find('T').unwrap_or(rest.len());
    let (offset, time) = rest.split_at(split);
    let days: i64 = if offset.is_empty() {
        0
    } else {
        offset.strip_prefix('+').unwrap_or(offset).parse().ok()?
    };
    Some(format!(
        "{}{time}",
        (today + Duration::days(days)).format("%Y-%m-%d")
    ))
}

/// Replaces relative dates in place.
fn resolve_dates(v: &mut Value, today: NaiveDate) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                match child {
                    Value::String(s) if DATE_KEYS.contains(&k.as_str()) => {
                        if let Some(r) = relative(s, today) {
                            *s = r;
                        }
                    }
                    Value::Array(items) if k == "cancelledOccurrences" => {
                        for item in items {
                            if let Value::String(s) = item
                                && let Some(r) = relative(s, today)
                            {
                                *s = r;
                            }
                        }
                    }
                    _ => resolve_dates(child, today),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| resolve_dates(i, today)),
        _ => {}
    }
}

fn text<'a>(v: &'a Value, key: &str, what: &str) -> Result<&'a str, String> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("seed: {what} needs a string '{key}'"))
}

fn instant(s: &str) -> Result<DateTime<Utc>, String> {
    parse_instant(s).ok_or_else(|| format!("seed: '{s}' is not an instant"))
}

pub(crate) fn load(fake: &FakeGraph, seed: &Value) -> Result<SeedSummary, String> {
    let mut seed = seed.clone();
    resolve_dates(&mut seed, Utc::now().date_naive());
    let mut summary = SeedSummary::default();
    for app in seed
        .get("apps")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let tenant = text(app, "tenant", "an app")?;
        let client_id = text(app, "client_id", "an app")?;
        let secret = text(app, "client_secret", "an app")?;
        fake.add_app(tenant, client_id, secret);
        if app.get("public_client").and_then(Value::as_bool) == Some(true) {
            fake.allow_public_client_flows(tenant, client_id);
        }
        summary.apps.push((
            tenant.to_string(),
            client_id.to_string(),
            secret.to_string(),
        ));
    }
    if let Some(user) = seed.get("device_user") {
        let user = user
            .as_str()
            .ok_or("seed: 'device_user' must be a user principal name")?;
        fake.approve_device_flows(Some(user));
    }
    for mailbox in seed
        .get("mailboxes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let upn = text(mailbox, "upn", "a mailbox")?;
        match mailbox.get("defaultCalendarName") {
            None => fake.add_mailbox(upn),
            Some(name) => fake.add_mailbox_localized(
                upn,
                name.as_str()
                    .ok_or("seed: 'defaultCalendarName' must be a string")?,
            ),
        }
        if let Some(zone) = mailbox.get("timeZone") {
            fake.set_mailbox_time_zone(
                upn,
                zone.as_str().ok_or("seed: 'timeZone' must be a string")?,
            );
        }
        summary.mailboxes.push(upn.to_string());
        for calendar in mailbox
            .get("calendars")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = text(calendar, "name", "a calendar")?;
            let id = match fake.calendar_id(upn, name) {
                Some(id) => id,
                None => fake.add_calendar(upn, name),
            };
            summary
                .calendars
                .push((upn.to_string(), name.to_string(), id.clone()));
            for event in calendar
                .get("events")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let mut event = event.clone();
                let obj = event
                    .as_object_mut()
                    .ok_or("seed: an event must be an object")?;
                let modified = obj.remove("modifiedOccurrences");
                let cancelled = obj.remove("cancelledOccurrences");
                let event_id = fake.insert_event(upn, &id, event);
                for m in modified
                    .as_ref()
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let original = instant(text(m, "originalStart", "a modified occurrence")?)?;
                    let patch = m
                        .get("patch")
                        .cloned()
                        .unwrap_or(Value::Object(Default::default()));
                    fake.modify_occurrence(upn, &event_id, original, patch);
                }
                for c in cancelled
                    .as_ref()
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let original = instant(
                        c.as_str()
                            .ok_or("seed: cancelledOccurrences holds instants")?,
                    )?;
                    fake.cancel_occurrence(upn, &event_id, original);
                }
                summary.events += 1;
            }
        }
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_dates_resolve() {
        let today = NaiveDate::from_ymd_opt(2026, 1, 30).unwrap();
        assert_eq!(
            relative("today+3T10:00:00", today).unwrap(),
            "2026-02-02T10:00:00"
        );
        assert_eq!(relative("today-1", today).unwrap(), "2026-01-29");
        assert_eq!(relative("today", today).unwrap(), "2026-01-30");
        assert_eq!(relative("2026-01-01", today), None);
    }
}
