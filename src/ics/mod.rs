//! iCalendar (RFC 5545) files as a source and as a target calendar.
//!
//! [`parse_events`] reads the events of an `.ics` file that start in the
//! sync window, as [`SourceEvent`](crate::model::SourceEvent)s; a
//! [`TargetCalendar`] is an `.ics` file calsync publishes into, read back as
//! [`ManagedEvent`](crate::model::ManagedEvent)s and rewritten by a plan.
//! [`IcsSource`] and [`IcsTarget`] put them behind the provider traits, for
//! a file path or (source only) an `https://` URL.
//!
//! # Reading
//!
//! | iCalendar | model |
//! |---|---|
//! | `CLASS:PUBLIC` or none | `Sensitivity::Normal` |
//! | `CLASS:PRIVATE` | `Sensitivity::Private` |
//! | `CLASS:CONFIDENTIAL` | `Sensitivity::Confidential` |
//! | any other `CLASS` (`X-…`, empty) | `Sensitivity::Private`: never public by accident |
//! | `STATUS:CANCELLED` | `is_cancelled` |
//! | `X-MICROSOFT-CDO-BUSYSTATUS` (Outlook) | `show_as` (`FREE`, `TENTATIVE`, `BUSY`, `OOF`, `WORKINGELSEWHERE`) |
//! | otherwise `TRANSP:TRANSPARENT` / anything else | `ShowAs::Free` / `ShowAs::Busy` |
//! | `SUMMARY`, `LOCATION`, `DESCRIPTION` | subject, location, text body (TEXT escapes undone) |
//! | `CATEGORIES` (comma lists, repeated) | categories, in order, blanks dropped |
//! | `DTSTART;VALUE=DATE` | an all-day event (`EventTime::Date`) |
//! | `DTSTART` with `Z` / `TZID` / neither | an instant: UTC / that zone (see below) / the calendar's `X-WR-TIMEZONE` (Google), else UTC |
//!
//! An event ends at `DTEND`, else `DTSTART` + `DURATION` (days count in
//! local time, hours exactly), else one day later (all-day) or when it
//! starts (timed). An end before the start is read as the start.
//!
//! **Keys.** An event without recurrence is `SourceKey::single(UID)`. Each
//! instance of a recurring event is `SourceKey::occurrence(UID, original
//! start)`, the original start being the instant the rule gave it (for an
//! all-day series, midnight UTC of its date), so keys do not change when a
//! file is exported again, nor when one instance is moved.
//!
//! **Recurrence.** `RRULE` (expanded by the `rrule` crate, in local time, so
//! a 09:00 meeting stays at 09:00 across daylight-saving changes), `RDATE`
//! (dates, date-times, periods) and `DTSTART` itself give the instances;
//! `EXDATE` (lists, repeated, `VALUE=DATE` excluding the whole day) removes
//! them. A `VEVENT` with the same `UID` and a `RECURRENCE-ID` replaces the
//! instance it names, wherever it has moved to; one with `STATUS:CANCELLED`
//! is read as a cancelled instance; an `EXDATE` wins over an override of the
//! same instance. An override without `CLASS` takes its series' `CLASS`, so
//! that a private series stays private. Only instances that start in the
//! window are returned (both ends included), and expansion stops at the
//! window's end and fails past [`MAX_RECURRENCE_SCAN`] instances.
//!
//! # Time zones
//!
//! A `TZID` is resolved, in this order, as an IANA name (`Europe/Berlin`,
//! any case); a Windows name as Outlook writes them (`W. Europe Standard
//! Time`), through the CLDR `windowsZones` mapping of the
//! `windows-timezones` crate; a path ending in an IANA name, as Mozilla and
//! older Apple software write them (`/mozilla.org/20050126_1/Europe/Berlin`);
//! and last the file's `VTIMEZONE` of that `TZID`: its `X-LIC-LOCATION`
//! when that is an IANA name, otherwise its own `STANDARD`/`DAYLIGHT` rules
//! (Outlook's "Customized Time Zone", say). Anything else is an error naming
//! the `TZID` and its line: a guessed zone would move events silently. A
//! local time a daylight-saving change skips is read with the offset before
//! the change, and one that occurs twice is the first (RFC 5545 §3.3.5).
//!
//! # Errors and privacy
//!
//! A file that is not iCalendar, or an event that cannot be read, gives an
//! [`IcsError`] naming the file, the line and, for events, the `UID`. No
//! error ever quotes a summary, description or location: a source event
//! may be private.
//!
//! # Writing
//!
//! The target file is one `VCALENDAR` (`VERSION:2.0`, `PRODID`,
//! `CALSCALE:GREGORIAN`, `METHOD:PUBLISH`, `X-WR-CALNAME`) in CRLF lines
//! folded at 75 octets. Each copy is a `VEVENT` whose `UID` is derived from
//! its source key ([`copy_uid`]), so that subscribers see an update rather
//! than a new event, with `DTSTAMP`, `SEQUENCE`, `DTSTART`/`DTEND` (UTC, or
//! `VALUE=DATE`), `SUMMARY`, `TRANSP` and `X-MICROSOFT-CDO-BUSYSTATUS`,
//! `CLASS:PUBLIC`, `X-MICROSOFT-CDO-ALLDAYEVENT` (so that the all-day flag
//! reads back as written), `LOCATION`/`DESCRIPTION`/`CATEGORIES` only when
//! the payload holds them (an HTML body also as `X-ALT-DESC`), and
//! calsync's marker, `X-CALSYNC-SOURCE-KEY` and `X-CALSYNC-CONTENT-HASH`.
//! A show-as iCalendar has no word for (`unknown`) is kept in
//! `X-CALSYNC-SHOW-AS`. Instants are written to the second.
//!
//! Copies are sorted by start, then `UID`. A copy no write touches keeps its
//! bytes; one written gets `DTSTAMP` = now and its `SEQUENCE` raised. Every
//! component without calsync's marker (events made by hand, their
//! `VTIMEZONE`s) and every calendar property calsync does not set are kept
//! byte for byte. So a run with nothing to do leaves the file as it was,
//! and [`IcsTarget`] does not even rewrite it.
//!
//! Characters TEXT cannot hold (control characters other than tab and line
//! breaks) are dropped when written, and line breaks are written as `\n`.

mod doc;
mod provider;
mod recur;
mod source;
mod target;
mod text;
mod time;
mod tz;

pub use provider::{IcsLocation, IcsSource, IcsTarget, MAX_DOWNLOAD_BYTES, redact_url};
pub use recur::MAX_SCANNED as MAX_RECURRENCE_SCAN;
pub use source::parse_events;
pub use target::{IcsCopy, TargetCalendar, copy_uid};

use std::fmt;

/// The `PRODID` of files calsync writes.
pub const PRODID: &str = concat!("-//calsync//calsync ", env!("CARGO_PKG_VERSION"), "//EN");

/// An iCalendar file, or an event in it, that cannot be read. It names the
/// file, the line and the event's `UID` where known; never the event's
/// content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcsError {
    /// The file's path or URL.
    pub origin: String,
    /// The 1-based line of the file.
    pub line: Option<usize>,
    /// The `UID` of the event concerned.
    pub uid: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl IcsError {
    pub(crate) fn file(origin: &str, message: impl Into<String>) -> Self {
        IcsError {
            origin: origin.to_string(),
            line: None,
            uid: None,
            message: message.into(),
        }
    }

    pub(crate) fn at_line(origin: &str, line: usize, message: impl Into<String>) -> Self {
        IcsError {
            origin: origin.to_string(),
            line: (line > 0).then_some(line),
            uid: None,
            message: message.into(),
        }
    }

    pub(crate) fn event(origin: &str, uid: &str, line: usize, message: impl Into<String>) -> Self {
        IcsError {
            origin: origin.to_string(),
            line: (line > 0).then_some(line),
            uid: Some(uid.to_string()),
            message: message.into(),
        }
    }

    /// Names the event, when the error is about one and does not say which.
    pub(crate) fn for_event(mut self, uid: &str) -> Self {
        if self.uid.is_none() {
            self.uid = Some(uid.to_string());
        }
        self
    }
}

impl fmt::Display for IcsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin)?;
        if let Some(line) = self.line {
            write!(f, ", line {line}")?;
        }
        if let Some(uid) = &self.uid {
            write!(f, ", event UID \"{uid}\"")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for IcsError {}

#[cfg(test)]
mod tests;
