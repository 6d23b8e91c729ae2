//! The `VEVENT`s of one `UID`, and which of its versions counts.

use super::Skip;
use crate::ics::doc::Comp;
use crate::ics::time::{Written, midnight, parse_written};
use chrono::NaiveDateTime;

/// The properties of a `VEVENT` calsync reads. A line naming one of them
/// that cannot be read makes the event unreadable; a broken line naming any
/// other property (`X-APPLE-RADIUS=…` without a colon, say) is ignored.
pub(super) const READ: [&str; 20] = [
    "UID",
    "DTSTART",
    "DTEND",
    "DURATION",
    "RRULE",
    "EXRULE",
    "RDATE",
    "EXDATE",
    "RECURRENCE-ID",
    "CLASS",
    "STATUS",
    "CATEGORIES",
    "SUMMARY",
    "DESCRIPTION",
    "LOCATION",
    "TRANSP",
    "X-MICROSOFT-CDO-BUSYSTATUS",
    "X-MICROSOFT-CDO-INTENDEDSTATUS",
    "SEQUENCE",
    "DTSTAMP",
];

/// Properties of which a `VEVENT` may hold one value only: two that
/// disagree make the event unreadable.
pub(super) const SINGLE: [&str; 4] = ["DTSTART", "DTEND", "DURATION", "RECURRENCE-ID"];

/// The first pair of disagreeing values of a single-valued property.
pub(super) fn disagreeing_singles(c: &Comp) -> Option<Skip> {
    for name in SINGLE {
        let mut all = c.all(name);
        if let Some(first) = all.next() {
            for p in all {
                if p.value.trim() != first.value.trim() || p.params != first.params {
                    return Some(Skip::at(
                        p.line,
                        format!("it has two {name} lines that disagree"),
                    ));
                }
            }
        }
    }
    None
}

/// One `VEVENT`, with only the properties calsync reads.
#[derive(Debug, Clone)]
pub(super) struct Ev {
    pub(super) comp: Comp,
    /// Why it cannot be read, found before its dates are.
    pub(super) problem: Option<Skip>,
}

impl Ev {
    /// `SEQUENCE` (missing sorts before 0), then `DTSTAMP`.
    fn version(&self) -> (i64, Option<NaiveDateTime>) {
        let seq = self
            .comp
            .value("SEQUENCE")
            .and_then(|s| s.trim().parse::<i64>().ok())
            .unwrap_or(-1);
        let stamp = self
            .comp
            .value("DTSTAMP")
            .and_then(|v| parse_written(v, false))
            .map(|w| match w {
                Written::Date(d) => midnight(d),
                Written::Utc(t) | Written::Local(t) => t,
            });
        (seq, stamp)
    }
}

/// The index of the version that counts: the highest `SEQUENCE`, then the
/// latest `DTSTAMP`, then the first.
pub(super) fn winner(versions: &[&Ev]) -> usize {
    let mut best = 0;
    for (i, v) in versions.iter().enumerate().skip(1) {
        if let Some(b) = versions.get(best)
            && v.version() > b.version()
        {
            best = i;
        }
    }
    best
}

/// The components of one `UID`.
pub(super) struct Group {
    pub(super) uid: String,
    /// The line of its first component.
    pub(super) line: usize,
    pub(super) masters: Vec<Ev>,
    pub(super) overrides: Vec<Ev>,
}
