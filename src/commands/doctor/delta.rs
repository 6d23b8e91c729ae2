//! How calendarView delta returns the occurrences of a recurring meeting in
//! this tenant.
//!
//! The documentation says delta returns what calendarView returns
//! (`api-reference/v1.0/api/event-delta.md`); several reports say an
//! unmodified occurrence comes bare, with only its id, type, series master
//! id, start and end, and that the series master is listed as well
//! (microsoftgraph/microsoft-graph-docs#7632, #22197,
//! microsoftgraph/microsoft-graph-docs-contrib#34). calsync copes with both;
//! this says which one the tenant at hand does. Nothing of the events read
//! is kept beyond the page, shown or logged.

use super::calendars::{Doctor, Opened, z};
use super::report::{Check, Item};
use crate::graph::client::{PageError, PageOptions};
use chrono::{Duration, Utc};
use serde_json::{Value, json};

/// How far ahead the round reads.
pub const DAYS: i64 = 60;
/// The page size asked for (`Prefer: odata.maxpagesize`).
const PAGE_SIZE: u32 = 100;
/// Pages read at most before giving up on finding an occurrence.
const MAX_PAGES: usize = 5;
/// The fields looked at; the rest of each item is skipped as it is parsed.
const KEEP: [&str; 6] = [
    "id",
    "type",
    "seriesMasterId",
    "originalStart",
    "subject",
    "sensitivity",
];

/// What the items read so far show.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// An occurrence without its own fields.
    pub bare: bool,
    /// An occurrence with its fields.
    pub whole: bool,
    /// A series master.
    pub master: bool,
}

impl Shape {
    /// Takes one delta item into account.
    pub fn see(&mut self, item: &Value) {
        match item.get("type").and_then(Value::as_str) {
            Some("seriesMaster") => self.master = true,
            Some("occurrence") => {
                let whole = ["originalStart", "subject", "sensitivity"]
                    .iter()
                    .all(|f| item.get(*f).is_some());
                if whole {
                    self.whole = true;
                } else {
                    self.bare = true;
                }
            }
            _ => {}
        }
    }

    /// Whether an occurrence has been seen.
    pub fn decided(&self) -> bool {
        self.bare || self.whole
    }

    /// The finding; `complete` says whether the whole round was read (else
    /// only its first pages).
    pub fn summary(&self, complete: bool) -> String {
        let masters = match (self.master, complete) {
            (true, _) => "series masters are listed",
            (false, true) => "no series master is listed",
            (false, false) => "no series master on the pages read",
        };
        match (self.bare, self.whole) {
            (true, false) => format!(
                "occurrences arrive bare (only id, type, seriesMasterId, start, end); {masters}. \
                 calsync reads a changed series' instances, so it copes"
            ),
            (false, true) => {
                format!("occurrences arrive whole; {masters}. calsync copes with either shape")
            }
            (true, true) => format!(
                "some occurrences arrive bare, others whole; {masters}. calsync copes with either"
            ),
            (false, false) if complete => {
                format!("no recurring meeting in the next {DAYS} days to tell")
            }
            (false, false) => {
                format!(
                    "no recurring meeting on the first {MAX_PAGES} pages of the next {DAYS} days to tell"
                )
            }
        }
    }

    pub fn label(&self) -> &'static str {
        match (self.bare, self.whole) {
            (true, false) => "bare",
            (false, true) => "whole",
            (true, true) => "mixed",
            (false, false) => "unknown",
        }
    }
}

/// Stops the reading once an occurrence was seen.
#[derive(Debug)]
struct Enough;

impl std::fmt::Display for Enough {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("enough pages read")
    }
}

impl std::error::Error for Enough {}

impl Doctor<'_> {
    /// One calendarView delta round on the source over the next days, read
    /// until a page shows an occurrence or a few pages were read. Its
    /// delta link is dropped: this stores nothing.
    pub async fn delta_occurrences(&self, source: &Opened) -> Check {
        let today = Utc::now()
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc();
        let (from, to) = (z(today), z(today + Duration::days(DAYS)));
        let path = format!("{}/calendarView/delta", source.path());
        let mut shape = Shape::default();
        let mut pages = 0usize;
        let read = self
            .client
            .for_each_page(
                &path,
                &[
                    ("startDateTime", from.as_str()),
                    ("endDateTime", to.as_str()),
                ],
                PageOptions {
                    max_page_size: Some(PAGE_SIZE),
                    keep: Some(&KEEP),
                    ..PageOptions::default()
                },
                |items| {
                    pages += 1;
                    for item in &items {
                        shape.see(item);
                    }
                    // A bare occurrence's master may come on a later page.
                    if (shape.decided() && shape.master) || pages >= MAX_PAGES {
                        return Err(anyhow::Error::new(Enough));
                    }
                    Ok(())
                },
            )
            .await;
        let complete = match read {
            Ok(_) => true,
            Err(PageError::Consumer(e)) if e.is::<Enough>() => false,
            Err(PageError::Consumer(e)) => {
                return Check::fail(
                    Item::DeltaOccurrences,
                    super::report::Cause::Other,
                    format!("reading calendarView delta of the source failed: {e:#}"),
                    super::calendars::outage_fix(),
                );
            }
            // sync reads the source through delta: a refusal here is one there.
            Err(PageError::Graph(e)) => {
                return self.graph_failure(
                    Item::DeltaOccurrences,
                    "calendarView delta of the source failed, and sync reads the source with it",
                    &e,
                    &source.mailbox,
                );
            }
        };
        Check::info(Item::DeltaOccurrences, shape.summary(complete)).with_details(json!({
            "occurrences": shape.label(),
            "series_masters_listed": shape.master,
            "pages_read": pages,
            "round_complete": complete,
            "days": DAYS,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn occurrences_are_told_bare_or_whole() {
        let mut s = Shape::default();
        s.see(&json!({"id": "a", "type": "singleInstance", "subject": "x"}));
        assert!(!s.decided());
        assert!(
            s.summary(true)
                .contains("no recurring meeting in the next 60 days")
        );
        assert!(s.summary(false).contains("on the first 5 pages"));
        s.see(&json!({"id": "m", "type": "seriesMaster", "subject": "x"}));
        s.see(&json!({"id": "o", "type": "occurrence", "seriesMasterId": "m"}));
        assert!(s.decided());
        assert_eq!(s.label(), "bare");
        assert!(s.summary(false).starts_with(
            "occurrences arrive bare (only id, type, seriesMasterId, start, end); series \
             masters are listed"
        ));

        let mut s = Shape::default();
        s.see(
            &json!({"id": "o", "type": "occurrence", "seriesMasterId": "m",
                      "originalStart": "2030-01-01T10:00:00Z", "subject": "x",
                      "sensitivity": "normal"}),
        );
        // An exception is always whole; it says nothing of occurrences.
        s.see(&json!({"id": "e", "type": "exception", "seriesMasterId": "m"}));
        assert_eq!(s.label(), "whole");
        assert!(
            s.summary(true)
                .starts_with("occurrences arrive whole; no series master is listed")
        );
    }
}
