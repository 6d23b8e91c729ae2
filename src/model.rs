//! The provider-neutral event model.
//!
//! Providers (Microsoft Graph today, an `.ics` file later) translate their own
//! representation into these types; the planner only ever sees these.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// When an event starts or ends.
///
/// All-day events are floating dates (Graph returns them midnight to midnight
/// whatever zone was asked for); timed events are instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventTime {
    /// A calendar date (all-day events). The end date of an all-day event is exclusive.
    Date(NaiveDate),
    /// An instant (timed events).
    Instant(DateTime<Utc>),
}

impl EventTime {
    /// The instant used to place this time in the UTC sync window: a date counts
    /// as its midnight UTC.
    pub fn as_utc(&self) -> DateTime<Utc> {
        match self {
            EventTime::Date(d) => d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc(),
            EventTime::Instant(t) => *t,
        }
    }
}

impl fmt::Display for EventTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventTime::Date(d) => write!(f, "{}", d.format("%Y-%m-%d")),
            EventTime::Instant(t) => write!(f, "{}", t.format("%Y-%m-%d %H:%MZ")),
        }
    }
}

/// Graph's `sensitivity` values. Only `Normal` can ever count as public by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sensitivity {
    Normal,
    Personal,
    Private,
    Confidential,
}

impl Sensitivity {
    pub const ALL: [Sensitivity; 4] = [
        Sensitivity::Normal,
        Sensitivity::Personal,
        Sensitivity::Private,
        Sensitivity::Confidential,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Sensitivity::Normal => "normal",
            Sensitivity::Personal => "personal",
            Sensitivity::Private => "private",
            Sensitivity::Confidential => "confidential",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
    }
}

/// Graph's `showAs` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ShowAs {
    Free,
    Tentative,
    Busy,
    Oof,
    WorkingElsewhere,
    Unknown,
}

impl ShowAs {
    pub const ALL: [ShowAs; 6] = [
        ShowAs::Free,
        ShowAs::Tentative,
        ShowAs::Busy,
        ShowAs::Oof,
        ShowAs::WorkingElsewhere,
        ShowAs::Unknown,
    ];

    /// The spelling Graph uses on the wire.
    pub fn as_str(&self) -> &'static str {
        match self {
            ShowAs::Free => "free",
            ShowAs::Tentative => "tentative",
            ShowAs::Busy => "busy",
            ShowAs::Oof => "oof",
            ShowAs::WorkingElsewhere => "workingElsewhere",
            ShowAs::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
    }
}

/// The stable identity of a source event: the immutable id of a
/// single instance, or the series id plus the original start of an occurrence or
/// exception. Stored verbatim in the target's ownership marker.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SourceKey(pub String);

impl SourceKey {
    /// Key of a single-instance event.
    pub fn single(id: &str) -> Self {
        SourceKey(format!("i:{id}"))
    }

    /// Key of an occurrence or exception of a series.
    pub fn occurrence(series_id: &str, original_start: DateTime<Utc>) -> Self {
        SourceKey(format!(
            "s:{series_id}@{}",
            original_start.format("%Y%m%dT%H%M%SZ")
        ))
    }

    /// Key of a source event that could not be read (an `.ics` event, say):
    /// never public (the planner skips it as `unreadable`), and never the
    /// key of a copy, so that a copy of the event is removed like that of
    /// any event that left the source. `id` makes it unique in one read.
    pub fn unreadable(id: &str) -> Self {
        SourceKey(format!("u:{id}"))
    }

    /// Whether this is the key of an event that could not be read.
    pub fn is_unreadable(&self) -> bool {
        self.0.starts_with("u:")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The series an occurrence or exception belongs to; `None` for a
    /// single instance.
    pub fn series_id(&self) -> Option<&str> {
        let rest = self.0.strip_prefix("s:")?;
        rest.rsplit_once('@').map(|(series, _)| series)
    }

    /// The original start of an occurrence or exception, as its key writes
    /// it (`YYYYMMDDTHHMMSSZ`); `None` for a single instance.
    pub fn original_start(&self) -> Option<&str> {
        let rest = self.0.strip_prefix("s:")?;
        rest.rsplit_once('@').map(|(_, start)| start)
    }
}

impl fmt::Display for SourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An event as read from the source calendar, before any filtering.
///
/// It holds private data (the body of a private meeting, say): it must never be
/// logged, printed or written anywhere but through the planner, which only
/// lets public events and allowed fields through.
#[derive(Clone, PartialEq)]
pub struct SourceEvent {
    pub key: SourceKey,
    /// The event's iCalendar UID, where the source tells it (a file: the
    /// `UID` property; Graph: `iCalUId`). An occurrence or exception of a
    /// series carries the series' UID, so that the UID alone does not name
    /// one event: the occurrence is told by its key's original start (see
    /// [`SourceKey::original_start`]). It only ever tells two readings of one
    /// meeting apart from two meetings (a merged source publishes such a
    /// meeting once); it never makes an event public or private, is not part
    /// of the copy, its hash, or the incremental state.
    pub ical_uid: Option<String>,
    pub subject: String,
    pub start: EventTime,
    pub end: EventTime,
    pub is_all_day: bool,
    pub show_as: ShowAs,
    pub sensitivity: Sensitivity,
    pub is_cancelled: bool,
    pub categories: Vec<String>,
    /// Display name of the location, empty when none.
    pub location: String,
    pub body: Body,
}

// Deliberately prints no content: a source event may be private.
impl fmt::Debug for SourceEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceEvent")
            .field("key", &self.key)
            .field("start", &self.start)
            .field("sensitivity", &self.sensitivity)
            .finish_non_exhaustive()
    }
}

/// An event body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Body {
    /// `"html"` or `"text"`.
    pub content_type: BodyType,
    pub content: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BodyType {
    #[default]
    Text,
    Html,
}

/// What calsync writes for one public source event: only the fields the copy
/// policy allows. Fields the policy forbids are present but empty, so that an
/// update clears what an earlier, looser policy had copied.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EventPayload {
    pub subject: String,
    pub start: EventTime,
    pub end: EventTime,
    pub is_all_day: bool,
    pub show_as: ShowAs,
    /// Empty unless `copy.location`.
    pub location: String,
    /// Empty unless `copy.body`.
    pub body: Body,
    /// Empty unless `copy.categories`.
    pub categories: Vec<String>,
}

/// The ownership marker calsync puts on every event it creates.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Marker {
    pub source_key: SourceKey,
    /// Hash of the payload written (see `EventPayload::content_hash`).
    pub content_hash: String,
}

/// A target event that carries calsync's marker. Events without the marker are
/// never read into this type, and so can never be updated or deleted.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedEvent {
    /// The target provider's id for the event (Graph: immutable id).
    pub target_id: String,
    pub marker: Marker,
    /// What the target holds now (may differ from what calsync wrote, if someone
    /// edited it by hand).
    pub current: EventPayload,
}

/// The sync window, `[start, end]` in UTC, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Window {
    /// Whether an event starting at `t` is managed by this window.
    pub fn contains(&self, t: &EventTime) -> bool {
        let t = t.as_utc();
        self.start <= t && t <= self.end
    }

    /// `[start of today − past_days, start of today + cutoff_days]`, in UTC.
    pub fn around(today: NaiveDate, past_days: u32, cutoff_days: u32) -> Window {
        let midnight = today.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        Window {
            start: midnight - chrono::Duration::days(i64::from(past_days)),
            end: midnight + chrono::Duration::days(i64::from(cutoff_days)),
        }
    }
}
