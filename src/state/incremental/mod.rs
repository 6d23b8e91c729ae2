//! What a sync keeps between runs so that the next one reads only what
//! changed.
//!
//! Three files in the state dir, each written atomically (a temporary file in
//! the same directory, mode 0600, flushed to disk, then renamed over the old
//! one) and each safe to delete: without them the next run reads everything.
//!
//! `sync-state.json` ([`Head`]) holds
//! - the fingerprint of the settings it belongs to: graph_url, both mailboxes
//!   and calendar ids, past_days, cutoff_days and the filter and copy policy.
//!   A state whose fingerprint differs is ignored (the next run is full);
//! - the window it was read for, and the source's change cursor (Graph: the
//!   calendarView delta link) of each piece the source was read in (Graph
//!   reads at most 1825 days at once, so the default window, today to today
//!   + 1825 days with both ends included, is two pieces);
//! - when both calendars were last read in full, and whether the copies can be
//!   trusted: a run clears that flag on disk before it writes and sets it again
//!   when it saves what it wrote, so a run stopped in between makes the next
//!   one read the target again;
//! - whether the state is *settled* (planning it writes nothing), with the
//!   counts of that plan (skipped events by reason too), and the generation
//!   of the snapshot saved with it.
//!
//! `sync-snapshot.json` holds, per piece, its items by the source's item id:
//! a public event as the payload calsync copies of it (only the fields the
//! copy policy copies), a non-public event as its key and the filter rule it
//! fails (`private`, `cancelled`, …) and nothing else, so that no subject,
//! body, location or time of a private event is ever written here; and the managed copies in the target as the last run left them:
//! target id, marker and the fields calsync compares (never a body; left out
//! when they are the item's payload, as they are unless edited by hand).
//!
//! A run of the same window that learns of no change in the source, with the
//! state settled and the target trusted, reads and rewrites only the head: on
//! a calendar of 10,000 events the snapshot is megabytes, the head is not.
//!
//! `calendars.json` ([`CalendarCache`]) maps (Graph root, mailbox, calendar
//! as the settings name it) to the calendar id, so that a run spends no request resolving names.
//!
//! `full-sync-request.json` ([`FullSyncRequest`]) is left by a `validate`
//! that found problems in the target: the incremental path trusts what the
//! last run left and would not see copies edited or deleted by hand, so the
//! next sync reads both calendars in full and repairs them, and removes the
//! request once it has applied its plan in full.

use crate::model::{Body, EventPayload, ManagedEvent, Marker, SourceKey, Window};
use crate::policy::SkipReason;
use crate::provider::PieceRange;
use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

mod calendars;
mod changes;
#[cfg(test)]
mod tests;

pub use calendars::{CachedCalendar, CachedZone, CalendarCache};
pub use changes::{
    SeriesRead, after_writes, copies_of, ingest, managed_events, series_to_read, skipped_by_reason,
    source_events, stand_in_policy,
};

/// The incremental state file in the state dir.
pub const STATE_FILE: &str = "sync-state.json";
/// The source items and target copies of the incremental state.
pub const SNAPSHOT_FILE: &str = "sync-snapshot.json";
/// The calendar id cache in the state dir.
pub const CALENDARS_FILE: &str = "calendars.json";
/// Written by a `validate` that found problems: the next sync reads both
/// calendars in full ([`request_full_sync`]).
pub const REPAIR_FILE: &str = "full-sync-request.json";
/// The format of [`STATE_FILE`] and [`SNAPSHOT_FILE`]; files of another
/// version are ignored.
pub const STATE_VERSION: u32 = 3;

/// The incremental state of one state dir, as a run works with it.
#[derive(Debug, Clone)]
pub struct SyncState {
    pub version: u32,
    /// [`fingerprint`](crate::config::fingerprint) of the settings this state belongs to.
    pub fingerprint: String,
    /// The window the pieces were read for.
    pub window: Window,
    /// When both calendars were last read in full.
    pub last_full: DateTime<Utc>,
    /// Whether `copies` is what the target holds (as far as calsync's own
    /// writes go). False while a run writes, and after a run that could not
    /// account for every write.
    pub target_trusted: bool,
    /// Set when planning `pieces` against `copies` in `window` writes
    /// nothing: a later run of the same window that learns of no change
    /// needs neither the snapshot nor a plan.
    pub settled: Option<Settled>,
    /// The source, one piece per range read.
    pub pieces: Vec<Piece>,
    /// The managed copies in the target, as the last run left them.
    pub copies: Vec<Copy>,
}

/// What a plan of a settled state counts (it writes nothing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settled {
    /// Copies up to date.
    pub unchanged: usize,
    /// Source events that are not public.
    pub skipped_non_public: usize,
    /// The same by the first filter rule each fails (empty in a state of an
    /// earlier version).
    #[serde(default)]
    pub skipped: BTreeMap<SkipReason, usize>,
}

/// [`STATE_FILE`]: everything of the state but the items and copies, which
/// are in [`SNAPSHOT_FILE`]. A run that learns of no change rewrites only
/// this small file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Head {
    pub version: u32,
    pub fingerprint: String,
    pub window: Window,
    pub last_full: DateTime<Utc>,
    pub target_trusted: bool,
    #[serde(default)]
    pub settled: Option<Settled>,
    /// The change cursor of each piece.
    pub cursors: Vec<String>,
    /// The range of each piece.
    pub ranges: Vec<PieceRange>,
    /// The generation of the snapshot saved with this head.
    pub snapshot: String,
}

/// [`SNAPSHOT_FILE`] as read.
#[derive(Deserialize)]
struct Snapshot {
    version: u32,
    generation: String,
    items: Vec<BTreeMap<String, Item>>,
    copies: Vec<StoredCopyOwned>,
}

/// [`SNAPSHOT_FILE`] as written.
#[derive(Serialize)]
struct SnapshotRef<'a> {
    version: u32,
    generation: &'a str,
    items: Vec<&'a BTreeMap<String, Item>>,
    copies: Vec<StoredCopy<'a>>,
}

#[derive(Serialize)]
struct StoredCopy<'a> {
    target_id: &'a str,
    marker: &'a Marker,
    /// Absent when the copy holds its source item's payload.
    #[serde(skip_serializing_if = "Option::is_none")]
    current: Option<&'a EventPayload>,
}

#[derive(Deserialize)]
struct StoredCopyOwned {
    target_id: String,
    marker: Marker,
    #[serde(default)]
    current: Option<EventPayload>,
}

/// One range of the source window and what the source holds in it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Piece {
    /// The range of the window the piece covers.
    pub range: PieceRange,
    /// The source's change cursor for this range.
    pub cursor: String,
    /// By the source's item id.
    pub items: BTreeMap<String, Item>,
}

/// What the state keeps of one source item that starts in the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Item {
    /// A public event: the payload its copy must carry.
    Public {
        key: SourceKey,
        payload: EventPayload,
    },
    /// An event that does not pass the filter: its key and the first rule
    /// it fails (absent in a state of an earlier version), nothing else.
    NotPublic {
        key: SourceKey,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<SkipReason>,
    },
}

/// A managed copy in the target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Copy {
    pub target_id: String,
    pub marker: Marker,
    /// The fields the planner compares; the body is never kept.
    pub current: EventPayload,
}

impl Copy {
    fn of(m: &ManagedEvent) -> Copy {
        Copy {
            target_id: m.target_id.clone(),
            marker: m.marker.clone(),
            current: EventPayload {
                body: Body::default(),
                ..m.current.clone()
            },
        }
    }

    fn managed(&self) -> ManagedEvent {
        ManagedEvent {
            target_id: self.target_id.clone(),
            marker: self.marker.clone(),
            current: self.current.clone(),
        }
    }
}

impl Item {
    /// The key of the source event the item stands for.
    pub fn key(&self) -> &SourceKey {
        match self {
            Item::Public { key, .. } | Item::NotPublic { key, .. } => key,
        }
    }
}

/// The state file of a state dir.
pub fn state_path(dir: &Path) -> PathBuf {
    dir.join(STATE_FILE)
}

/// The snapshot file of a state dir.
pub fn snapshot_path(dir: &Path) -> PathBuf {
    dir.join(SNAPSHOT_FILE)
}

/// Reads what [`STATE_FILE`] holds; `None` when there is none or it cannot
/// be used (another version, unreadable, corrupt), which makes the run a
/// full one.
pub fn load_head(dir: &Path) -> Option<Head> {
    let path = state_path(dir);
    let head: Head = read_versioned(&path, "the incremental state")?;
    if head.version != STATE_VERSION {
        tracing::info!(file = %path.display(), "the incremental state is of another version; reading both calendars in full");
        return None;
    }
    Some(head)
}

/// Reads the whole state: the head and the snapshot it names. `None` when
/// either is missing or unusable, or the snapshot is not the one the head
/// was saved with (a run stopped between the two writes).
pub fn load_snapshot(dir: &Path, head: Head) -> Option<SyncState> {
    let path = snapshot_path(dir);
    let snapshot: Snapshot = read_versioned(&path, "the incremental snapshot")?;
    if snapshot.version != STATE_VERSION
        || snapshot.generation != head.snapshot
        || snapshot.items.len() != head.cursors.len()
        || head.ranges.len() != head.cursors.len()
    {
        tracing::info!(file = %path.display(), "the incremental snapshot does not belong to the state; reading both calendars in full");
        return None;
    }
    let pieces: Vec<Piece> = head
        .cursors
        .into_iter()
        .zip(head.ranges)
        .zip(snapshot.items)
        .map(|((cursor, range), items)| Piece {
            range,
            cursor,
            items,
        })
        .collect();
    let copies = {
        let payloads = public_payloads(&pieces);
        let mut copies = Vec::with_capacity(snapshot.copies.len());
        for c in snapshot.copies {
            let current = match c.current {
                Some(current) => current,
                None => match payloads.get(&c.marker.source_key) {
                    Some(payload) => EventPayload {
                        body: Body::default(),
                        ..(*payload).clone()
                    },
                    None => {
                        tracing::info!(file = %path.display(), "the incremental snapshot is inconsistent; reading both calendars in full");
                        return None;
                    }
                },
            };
            copies.push(Copy {
                target_id: c.target_id,
                marker: c.marker,
                current,
            });
        }
        copies
    };
    Some(SyncState {
        version: head.version,
        fingerprint: head.fingerprint,
        window: head.window,
        last_full: head.last_full,
        target_trusted: head.target_trusted,
        settled: head.settled,
        pieces,
        copies,
    })
}

/// Reads the whole state ([`load_head`], then [`load_snapshot`]).
pub fn load(dir: &Path) -> Option<SyncState> {
    load_snapshot(dir, load_head(dir)?)
}

fn read_versioned<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Option<T> {
    let text = match super::files::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(file = %path.display(), "cannot read {what} ({e}); reading both calendars in full");
            return None;
        }
    };
    match serde_json::from_slice::<T>(&text) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(file = %path.display(), "{what} is unreadable ({e}); reading both calendars in full");
            None
        }
    }
}

/// Replaces the state: first the snapshot, under a new generation, then the
/// head that names it, each atomically. A run stopped between the two leaves
/// a head naming a snapshot that is gone, and the next run reads in full.
pub fn save(dir: &Path, state: &SyncState) -> anyhow::Result<()> {
    let generation = format!("{:016x}", fastrand::u64(..));
    let payloads = public_payloads(&state.pieces);
    let copies: Vec<StoredCopy<'_>> = state
        .copies
        .iter()
        .map(|c| StoredCopy {
            target_id: &c.target_id,
            marker: &c.marker,
            // A copy that holds what its source item says (the usual case)
            // is stored without its fields: they are the item's.
            current: match payloads.get(&c.marker.source_key) {
                Some(p) if same_but_body(p, &c.current) => None,
                _ => Some(&c.current),
            },
        })
        .collect();
    let snapshot = SnapshotRef {
        version: STATE_VERSION,
        generation: &generation,
        items: state.pieces.iter().map(|p| &p.items).collect(),
        copies,
    };
    // Streamed to the file: on a large calendar the text is megabytes.
    write_atomically_with(&snapshot_path(dir), |w| {
        serde_json::to_writer(w, &snapshot).map_err(std::io::Error::from)
    })?;
    let head = Head {
        version: STATE_VERSION,
        fingerprint: state.fingerprint.clone(),
        window: state.window,
        last_full: state.last_full,
        target_trusted: state.target_trusted,
        settled: state.settled.clone(),
        cursors: state.pieces.iter().map(|p| p.cursor.clone()).collect(),
        ranges: state.pieces.iter().map(|p| p.range).collect(),
        snapshot: generation,
    };
    save_head(dir, &head)
}

/// Replaces the head alone (its snapshot stays as it is).
pub fn save_head(dir: &Path, head: &Head) -> anyhow::Result<()> {
    write_atomically(&state_path(dir), &serde_json::to_vec(head)?)
}

/// The payload of each public item, by its key: what a copy holds unless it
/// was edited by hand.
fn public_payloads(pieces: &[Piece]) -> HashMap<&SourceKey, &EventPayload> {
    pieces
        .iter()
        .flat_map(|p| p.items.values())
        .filter_map(|item| match item {
            Item::Public { key, payload } => Some((key, payload)),
            Item::NotPublic { .. } => None,
        })
        .collect()
}

/// Whether two payloads are equal but for their bodies (copies never keep
/// one).
fn same_but_body(a: &EventPayload, b: &EventPayload) -> bool {
    a.subject == b.subject
        && a.start == b.start
        && a.end == b.end
        && a.is_all_day == b.is_all_day
        && a.show_as == b.show_as
        && a.location == b.location
        && a.categories == b.categories
}

/// Why the next sync must read both calendars in full ([`REPAIR_FILE`]).
/// Holds counts only, never an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FullSyncRequest {
    /// When it was made.
    pub requested: DateTime<Utc>,
    /// The id of the run that made it (a `validate`, in the history).
    pub run_id: String,
    /// What that run found, e.g. `2 problems: 1 missing, 1 stale`.
    pub reason: String,
}

/// Asks the next sync of this state dir to read both calendars in full
/// (replacing any earlier request).
pub fn request_full_sync(dir: &Path, request: &FullSyncRequest) -> anyhow::Result<()> {
    write_atomically(&dir.join(REPAIR_FILE), &serde_json::to_vec(request)?)
}

/// The pending request for a full sync, if any (an unreadable one counts:
/// the next sync reads in full and replaces it by nothing).
pub fn full_sync_request(dir: &Path) -> Option<FullSyncRequest> {
    let path = dir.join(REPAIR_FILE);
    match super::files::read(&path) {
        Ok(bytes) => Some(serde_json::from_slice(&bytes).unwrap_or(FullSyncRequest {
            requested: DateTime::<Utc>::MIN_UTC,
            run_id: String::new(),
            reason: "an unreadable request".to_string(),
        })),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(_) => Some(FullSyncRequest {
            requested: DateTime::<Utc>::MIN_UTC,
            run_id: String::new(),
            reason: "an unreadable request".to_string(),
        }),
    }
}

/// Removes the request `seen` once a full sync has dealt with it; a newer
/// request (a `validate` that ran during the sync) stays for the next run.
pub fn clear_full_sync_request(dir: &Path, seen: &FullSyncRequest) {
    if full_sync_request(dir).as_ref() == Some(seen)
        && let Err(e) = std::fs::remove_file(dir.join(REPAIR_FILE))
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(
            file = %dir.join(REPAIR_FILE).display(),
            "could not remove validate's request for a full sync ({e}); the next run reads both \
             calendars in full again"
        );
    }
}

/// Removes both state files (after a failed save).
pub fn remove(dir: &Path) {
    let _ = std::fs::remove_file(state_path(dir));
    let _ = std::fs::remove_file(snapshot_path(dir));
}

/// Marks the state on disk, if any, as not knowing the target, before a run
/// writes to it: a run stopped before it saves makes the next read the target.
pub fn mark_writing(dir: &Path) -> anyhow::Result<()> {
    if let Some(mut head) = load_head(dir)
        && (head.target_trusted || head.settled.is_some())
    {
        head.target_trusted = false;
        head.settled = None;
        save_head(dir, &head)?;
    }
    Ok(())
}

/// Writes a file of the state dir atomically, mode 0600.
fn write_atomically(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    write_atomically_with(path, |w| w.write_all(contents))
}

/// [`write_atomically`], the contents written by `fill`.
fn write_atomically_with(
    path: &Path,
    fill: impl FnOnce(&mut std::io::BufWriter<&mut std::fs::File>) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    crate::fs::replace_file(path, crate::fs::FileMode::Private, fill)
        .with_context(|| format!("cannot write {}", path.display()))
}
