//! iCalendar (RFC 5545) files as a source and as a target calendar.
//!
//! [`parse_events`] reads the events of an `.ics` file that start in the
//! sync window, as [`SourceEvent`](crate::model::SourceEvent)s; a
//! [`TargetCalendar`] is an `.ics` file calsync publishes into, read back as
//! [`ManagedEvent`](crate::model::ManagedEvent)s and rewritten by a plan.
//! [`IcsSource`] and [`IcsTarget`] put them behind the provider traits, for
//! a file path or (source only) an `https://` URL.
//!
//! A source file is shaped by whoever can add an event to the internal
//! calendar or controls a published URL, so the reader treats it as
//! hostile: every quantity it decides is capped ([`limits`]), nothing in it
//! can make calsync panic, hang or run out of memory, one bad event is
//! skipped rather than blocking the calendar, and any doubt about a
//! privacy-relevant property means not public.
//!
//! The code is split by concern: content lines (`text`), the file's
//! structure (`doc`), values (`time`), rules (`rule`, read and checked;
//! `recur`, expanded), time zones (`tz`), then the source reader
//! (`source`) and the target file (`target`), all without I/O, and last
//! the providers (`provider`), which read with bounds and log. The
//! grammar, the expansion and the writer are hand-written; crates give the
//! time zones (`chrono-tz`, and `windows-timezones` for Outlook's names).
//! The recurrence expansion is python-dateutil's algorithm (see `recur`
//! for why not the `rrule` crate).
//!
//! # Reading
//!
//! | iCalendar | model |
//! |---|---|
//! | `CLASS:PUBLIC` or none | `Sensitivity::Normal` |
//! | `CLASS:PRIVATE` | `Sensitivity::Private` |
//! | `CLASS:CONFIDENTIAL` | `Sensitivity::Confidential` |
//! | any other `CLASS` (`X-…`, empty) | `Sensitivity::Private`: never public by accident |
//! | several `CLASS` lines | the first that is not public; the others as witnesses (below) |
//! | `STATUS:CANCELLED` (in any of its `STATUS` lines) | `is_cancelled` |
//! | `X-MICROSOFT-CDO-BUSYSTATUS` (Outlook) | `show_as` (`FREE`, `TENTATIVE`, `BUSY`, `OOF`, `WORKINGELSEWHERE`) |
//! | otherwise `TRANSP:TRANSPARENT` / anything else | `ShowAs::Free` / `ShowAs::Busy` |
//! | `SUMMARY`, `LOCATION`, `DESCRIPTION` | subject, location, text body (TEXT escapes undone, control characters dropped) |
//! | `CATEGORIES` (comma lists, repeated) | categories, in order, blanks dropped |
//! | `DTSTART;VALUE=DATE` | an all-day event (`EventTime::Date`) |
//! | `DTSTART` with `Z` / `TZID` / neither | an instant: UTC / that zone (see below) / the calendar's `X-WR-TIMEZONE` (Google), else UTC |
//!
//! An event ends at `DTEND`, else `DTSTART` + `DURATION` (days count in
//! local time, hours exactly), else one day later (all-day) or when it
//! starts (timed). An end before the start is read as the start. Only the
//! years 0001–9999 are read; an event that would end later is unreadable.
//!
//! **Keys.** An event without recurrence is `SourceKey::single(UID)`. Each
//! instance of a recurring event is `SourceKey::occurrence(UID, original
//! start)`, the original start being the instant the rule gave it (for an
//! all-day series, midnight UTC of its date), so keys do not change when a
//! file is exported again, nor when one instance is moved.
//!
//! **Recurrence, versions, overrides, witnesses, unreadable events**: see
//! the `source` module. In short: the highest `SEQUENCE` (then the latest
//! `DTSTAMP`) of several versions gives the content; an instance is public
//! only if every version, its series and every reading of a duplicated
//! property pass the filter (they go to the planner as witnesses with the
//! same key); `RANGE=THISANDFUTURE` applies to the following instances; a
//! series whose rules all end before `DTSTART` has no instance; an event
//! that cannot be read is skipped with a warning and counted as
//! `unreadable`.
//!
//! # Time zones
//!
//! A `TZID` is resolved, in this order, as an IANA name (`Europe/Berlin`,
//! any case); a Windows name as Outlook writes them (`W. Europe Standard
//! Time`), through the CLDR `windowsZones` mapping of the
//! `windows-timezones` crate; a path ending in an IANA name, as Mozilla and
//! older Apple software write them (`/mozilla.org/20050126_1/Europe/Berlin`,
//! `/Europe/Stockholm`); and last the file's `VTIMEZONE` of that `TZID`:
//! its `X-LIC-LOCATION` when that is an IANA name, otherwise its own
//! `STANDARD`/`DAYLIGHT` rules (Outlook's "Customized Time Zone", say).
//! Anything else makes the event unreadable, naming the `TZID` and its
//! line: a guessed zone would move events silently. A local time a
//! daylight-saving change skips is read with the offset before the change,
//! and one that occurs twice is the first (RFC 5545 §3.3.5).
//!
//! # Errors and privacy
//!
//! A file whose structure is broken (not iCalendar, truncated, unbalanced)
//! gives an [`IcsError`] naming the file and the line; an event that cannot
//! be read gives one naming its `UID` or line. No error ever quotes a
//! summary, description or location, nor any value of the file but a
//! `UID`, a short printable `TZID` or a component name: a source event may
//! be private.
//!
//! # Writing
//!
//! The target file is one `VCALENDAR` (`VERSION:2.0`, `PRODID`,
//! `CALSCALE:GREGORIAN`, `METHOD:PUBLISH`, `X-WR-CALNAME`) in CRLF lines
//! folded at 75 octets. Each copy is a `VEVENT` whose `UID` is derived from
//! its source key ([`copy_uid`]), so that subscribers see an update rather
//! than a new event, with `DTSTAMP`, `SEQUENCE`, `DTSTART`/`DTEND` (UTC, or
//! both `VALUE=DATE`, always in the years 0001–9999), `SUMMARY`, `TRANSP`
//! and `X-MICROSOFT-CDO-BUSYSTATUS`, `CLASS:PUBLIC`,
//! `X-MICROSOFT-CDO-ALLDAYEVENT` (so that the all-day flag reads back as
//! written), `LOCATION`/`DESCRIPTION`/`CATEGORIES` only when the payload
//! holds them (an HTML body also as `X-ALT-DESC`), and calsync's marker,
//! `X-CALSYNC-SOURCE-KEY` and `X-CALSYNC-CONTENT-HASH`. A show-as
//! iCalendar has no word for (`unknown`) is kept in `X-CALSYNC-SHOW-AS`.
//! Instants are written to the second.
//!
//! Copies are sorted by start, then `UID`. A copy no write touches keeps its
//! bytes; one written gets `DTSTAMP` = now and its `SEQUENCE` raised. Every
//! component without calsync's marker (events made by hand, their
//! `VTIMEZONE`s) and every calendar property calsync does not set are kept
//! byte for byte. So a run with nothing to do leaves the file as it was,
//! and [`IcsTarget`] does not even rewrite it. A copy whose dates cannot be
//! read is rewritten or removed by the next run, so a file an earlier
//! version broke is repaired rather than refused. Applying a plan looks
//! copies up by `UID` in an index: its cost grows with the plan, not with
//! the plan times the file. Temporary files a killed run left beside the
//! file are removed before the next write.
//!
//! Characters TEXT cannot hold (control characters other than tab and line
//! breaks) are dropped when written, and line breaks are written as `\n`;
//! source values are read the same way, so that what is compared is what
//! is written.

mod doc;
pub mod limits;
mod provider;
mod recur;
mod rule;
mod source;
mod target;
mod text;
mod time;
mod tz;

pub use provider::{IcsLocation, IcsSource, IcsTarget, MAX_DOWNLOAD_BYTES, redact_url};
pub use source::{SourceRead, parse_events};
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
mod fuzz;
#[cfg(test)]
mod hostile;
#[cfg(test)]
mod tests;
