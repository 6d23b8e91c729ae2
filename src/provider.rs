//! The calendar abstractions the sync runs over.
//!
//! A source yields events (public and private alike: the planner filters); a
//! target yields only the events carrying calsync's ownership marker and
//! applies a plan. Microsoft Graph implements both ([`crate::graph::provider`]);
//! another kind of calendar (an `.ics` file) plugs in here without touching the
//! planner.
//!
//! A source may also be an [`IncrementalSource`]: one that reads the window
//! once and afterwards tells only what changed (Graph: calendarView delta).
//! The sync keeps the result between runs ([`crate::state::incremental`]); a
//! source without the capability is read in full every run.

use crate::model::{ManagedEvent, Marker, SourceEvent, SourceKey, Window};
use crate::planner::Plan;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::future::Future;

/// Where public events come from.
pub trait SourceProvider {
    /// Reads every event whose span touches the window. Fails rather than
    /// returning a partial list: an incomplete read must never cause deletions.
    fn read(
        &self,
        window: &Window,
    ) -> impl Future<Output = anyhow::Result<Vec<SourceEvent>>> + Send;
}

/// A source that can report what changed since an earlier read.
///
/// Reads are split into pieces (a provider may not read a long window at
/// once); each piece covers a [`PieceRange`], has its own cursor and reports
/// changes on its own. The items of a piece are named by the provider's item
/// id: a removal names only that id.
///
/// A change may be only a signal: "something in this series changed" with
/// no content ([`SourceChange::SeriesChanged`]; Graph sends the unmodified
/// occurrences of a series without their fields). The caller then reads the
/// series' instances in the piece with [`read_series`](Self::read_series)
/// and replaces what it kept of that series with them, so that occurrences
/// that are gone, cancelled or turned private go too.
pub trait IncrementalSource {
    /// Reads every event of the window, with a cursor per piece for
    /// [`read_changes`](Self::read_changes). Fails rather than returning a
    /// partial list.
    fn read_all(
        &self,
        window: &Window,
    ) -> impl Future<Output = anyhow::Result<Vec<PieceChanges>>> + Send;

    /// What changed in each piece since its cursor was handed out (the
    /// pieces of one earlier read, in its order). A cursor the source no
    /// longer accepts fails with [`CursorExpired`] in the error chain: the
    /// caller then reads everything again.
    fn read_changes(
        &self,
        pieces: &[(PieceRange, String)],
    ) -> impl Future<Output = anyhow::Result<Vec<PieceChanges>>> + Send;

    /// The instances of each series in its piece's range, in the order
    /// asked: `None` when the series no longer exists. Fails rather than
    /// returning a partial list.
    fn read_series(
        &self,
        wanted: &[(PieceRange, String)],
    ) -> impl Future<Output = anyhow::Result<Vec<Option<SeriesInstances>>>> + Send;
}

/// The instances of a series in a range, each with its item id.
pub type SeriesInstances = Vec<(String, SourceEvent)>;

/// The range `[start, end)` one piece of the source window covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PieceRange {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// The changes of one piece and the cursor that follows them.
#[derive(Debug)]
pub struct PieceChanges {
    pub range: PieceRange,
    /// In the order the source reported them; a later entry for an item
    /// wins over an earlier one.
    pub changes: Vec<SourceChange>,
    /// Where to continue next time.
    pub cursor: String,
}

/// One change reported by an [`IncrementalSource`].
#[derive(Debug)]
pub enum SourceChange {
    /// The item is in the piece, as it is now (new or changed). `event` is
    /// `None` for an item that is not an event instance to copy: it is then
    /// treated as absent.
    Upsert {
        item_id: String,
        event: Option<SourceEvent>,
    },
    /// The item is no longer in the piece: deleted, or moved out of it. When
    /// the item is a series, the series is read again.
    Remove { item_id: String },
    /// Something in the series changed, but its content did not come with
    /// the change: read the series' instances again.
    SeriesChanged { series_id: String },
}

/// An [`IncrementalSource`] no longer accepts a cursor (Graph: `410
/// SyncStateNotFound`): read everything again.
#[derive(Debug)]
pub struct CursorExpired(pub String);

impl std::fmt::Display for CursorExpired {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the source no longer accepts the stored change cursor ({})",
            self.0
        )
    }
}

impl std::error::Error for CursorExpired {}

/// Where public copies go.
pub trait TargetProvider {
    /// Reads the events that carry calsync's marker. Events made by hand are
    /// never returned, so no plan can touch them.
    fn read_managed(
        &self,
        window: &Window,
    ) -> impl Future<Output = anyhow::Result<Vec<ManagedEvent>>> + Send;

    /// Applies a plan. Individual failed writes are reported, not fatal.
    fn apply(&self, plan: &Plan) -> impl Future<Output = anyhow::Result<ApplyReport>> + Send;
}

/// A target `validate` can inspect: its managed events together with the
/// fields a copy must not hold (`validate`'s `leak`). Only `validate` reads this
/// way; `sync` reads no more than it needs.
pub trait InspectableTarget {
    /// Reads every event that carries calsync's marker, wherever it lies in
    /// time, noting whether it holds a body, a location, attendees or online
    /// meeting data. Fails rather than returning a partial list.
    fn read_for_validation(
        &self,
    ) -> impl Future<Output = anyhow::Result<Vec<InspectedCopy>>> + Send;
}

/// A managed target event as read for validation: what `sync` reads, plus
/// whether it holds the fields the copy policy may forbid. It holds no body
/// text, no attendee and no meeting link, only their presence.
#[derive(Debug, Clone, PartialEq)]
pub struct InspectedCopy {
    pub managed: ManagedEvent,
    /// Whether the event has a body with visible text.
    pub has_body: bool,
    /// How many attendees the event lists.
    pub attendees: usize,
    /// Whether the event is an online meeting or carries a join link.
    pub online_meeting: bool,
}

impl InspectedCopy {
    /// A copy holding nothing but the managed fields.
    pub fn plain(managed: ManagedEvent) -> Self {
        InspectedCopy {
            managed,
            has_body: false,
            attendees: 0,
            online_meeting: false,
        }
    }
}

/// What applying a plan achieved.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ApplyReport {
    pub created: usize,
    pub updated: usize,
    pub deleted: usize,
    pub failures: Vec<WriteFailure>,
    /// Each write that succeeded, so that a caller can keep its picture of
    /// the target up to date without reading it again.
    #[serde(skip)]
    pub done: Vec<Applied>,
}

/// One write that succeeded.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// A copy was created (or found created by an earlier attempt) with this
    /// id and marker.
    Created { target_id: String, marker: Marker },
    /// A copy was rewritten with the plan's payload and this marker.
    Updated { target_id: String, marker: Marker },
    /// A copy is gone.
    Deleted { target_id: String, key: SourceKey },
}

/// One write that failed after its retries.
#[derive(Debug, Clone, Serialize)]
pub struct WriteFailure {
    /// `create`, `update` or `delete`.
    pub action: &'static str,
    /// The start of the event concerned, for the operator to find it.
    pub start: String,
    pub error: String,
}
