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

use crate::config::Settings;
use crate::model::{
    Body, EventPayload, EventTime, ManagedEvent, Marker, Sensitivity, ShowAs, SourceEvent,
    SourceKey, Window,
};
use crate::planner::{self, Plan};
use crate::policy::{CopyPolicy, FilterPolicy, Policy, SkipReason, skip_reason};
use crate::provider::{Applied, PieceRange, SourceChange};
use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

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
const CALENDARS_VERSION: u32 = 2;

/// The incremental state of one state dir, as a run works with it.
#[derive(Debug, Clone)]
pub struct SyncState {
    pub version: u32,
    /// [`fingerprint`] of the settings this state belongs to.
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

/// Identifies the settings a state belongs to. Anything that changes which
/// events are read, which are public or what their copies hold changes it:
/// every key the key table marks `affects_plan`, so a new key that shapes the
/// copies is in it without further thought.
///
/// The calendars are there as resolved: each side as its mailbox and the id
/// the caller resolved its calendar to (`source_id`, `target_id`), which
/// stands for the calendar keys and the `[source]`/`[target]` keys; `cloud`
/// is there through the Graph root it decides. The document's shape is that
/// of the first fingerprint, so the fingerprint of an existing state stays
/// the same; a key added later goes in under its own name, and changes every
/// fingerprint once (the next sync is then a full one).
pub fn fingerprint(settings: &Settings, source_id: &str, target_id: &str) -> String {
    use crate::config::{KEYS, Table};
    use serde_json::{Map, Value, json};
    let mut doc = Map::new();
    let mut filter = Map::new();
    let mut copy = Vec::new();
    for key in KEYS.iter().filter(|k| k.affects_plan) {
        match (key.table, key.name) {
            (_, "graph_url" | "cloud") => {
                doc.insert("graph".into(), json!(settings.graph_base()));
            }
            (Table::Source, _) | (_, "mailbox" | "source_calendar") => {
                let mailbox = settings.mailbox_or_me().to_lowercase();
                doc.insert("source".into(), json!([mailbox, source_id]));
            }
            (Table::Target, _) | (_, "target_mailbox" | "target_calendar") => {
                let mailbox = settings.target_mailbox_or_source().to_lowercase();
                doc.insert("target".into(), json!([mailbox, target_id]));
            }
            // The order of the sensitivities listed makes no difference.
            (_, "filter.sensitivity") => {
                let mut sensitivity: Vec<&str> = settings
                    .policy
                    .filter
                    .sensitivity
                    .iter()
                    .map(|s| s.as_str())
                    .collect();
                sensitivity.sort_unstable();
                filter.insert(key.short_name().into(), json!(sensitivity));
            }
            (Table::Filter, _) => {
                filter.insert(key.short_name().into(), (key.show)(settings));
            }
            (Table::Copy, _) => copy.push((key.show)(settings)),
            _ => {
                doc.insert(key.name.into(), (key.show)(settings));
            }
        }
    }
    doc.insert("filter".into(), Value::Object(filter));
    doc.insert("copy".into(), Value::Array(copy));
    let mut hex = hex::encode(Sha256::digest(Value::Object(doc).to_string().as_bytes()));
    hex.truncate(32);
    format!("{STATE_VERSION}:{hex}")
}

/// The series whose instances must be read again before the changes of a
/// piece can be applied: those the source signalled without content, and
/// those a removal names (a series master leaving the piece: whether the
/// series is gone or only moved, its instances say).
pub fn series_to_read(items: &BTreeMap<String, Item>, changes: &[SourceChange]) -> Vec<String> {
    let mut known: Option<std::collections::HashSet<&str>> = None;
    let mut out: Vec<String> = Vec::new();
    for change in changes {
        let wanted = match change {
            SourceChange::SeriesChanged { series_id } => Some(series_id.as_str()),
            SourceChange::Remove { item_id } => {
                let known = known.get_or_insert_with(|| {
                    items.values().filter_map(|i| i.key().series_id()).collect()
                });
                known.contains(item_id.as_str()).then_some(item_id.as_str())
            }
            SourceChange::Upsert { .. } => None,
        };
        if let Some(id) = wanted
            && !out.iter().any(|o| o == id)
        {
            out.push(id.to_owned());
        }
    }
    out
}

/// The instances of one series as read again: `None` when it is gone.
pub type SeriesRead = (String, Option<crate::provider::SeriesInstances>);

/// Applies a source's changes to the items of one piece: an upsert of an
/// event starting in the window is kept (as [`Item::Public`] or
/// [`Item::NotPublic`] by the filter), anything else drops the item. Then
/// each series read again replaces everything kept of that series: an
/// occurrence no longer among its instances (deleted, cancelled, moved out
/// of the window) is dropped, and a series that is gone loses all its items.
pub fn ingest(
    items: &mut BTreeMap<String, Item>,
    changes: Vec<SourceChange>,
    series: Vec<SeriesRead>,
    policy: &Policy,
    window: &Window,
) {
    for change in changes {
        match change {
            SourceChange::Remove { item_id } => {
                items.remove(&item_id);
            }
            SourceChange::Upsert { item_id, event } => match event {
                Some(ev) => keep(items, item_id, ev, policy, window),
                None => {
                    items.remove(&item_id);
                }
            },
            // Read again below.
            SourceChange::SeriesChanged { .. } => {}
        }
    }
    if series.is_empty() {
        return;
    }
    let replaced: std::collections::HashSet<&str> =
        series.iter().map(|(id, _)| id.as_str()).collect();
    items.retain(|_, item| item.key().series_id().is_none_or(|s| !replaced.contains(s)));
    for (_, instances) in series {
        for (item_id, ev) in instances.into_iter().flatten() {
            keep(items, item_id, ev, policy, window);
        }
    }
}

/// Keeps one event as an item when it starts in the window, else drops it.
fn keep(
    items: &mut BTreeMap<String, Item>,
    item_id: String,
    ev: SourceEvent,
    policy: &Policy,
    window: &Window,
) {
    if !window.contains(&ev.start) {
        items.remove(&item_id);
        return;
    }
    let item = match skip_reason(&ev, &policy.filter) {
        None => Item::Public {
            payload: planner::payload(&ev, &policy.copy),
            key: ev.key,
        },
        Some(reason) => Item::NotPublic {
            key: ev.key,
            reason: Some(reason),
        },
    };
    items.insert(item_id, item);
}

impl Item {
    /// The key of the source event the item stands for.
    pub fn key(&self) -> &SourceKey {
        match self {
            Item::Public { key, .. } | Item::NotPublic { key, .. } => key,
        }
    }
}

/// The policy under which [`source_events`] plan exactly as the real policy
/// planned the events they stand for: the real filter and copy policy were
/// applied when the items were kept, so here every stand-in of a public event
/// passes and its payload is copied as kept.
pub fn stand_in_policy() -> Policy {
    Policy {
        filter: FilterPolicy {
            sensitivity: vec![Sensitivity::Normal],
            include_categories: Vec::new(),
            exclude_categories: Vec::new(),
            skip_cancelled: false,
            show_as: None,
            subject_exclude: None,
        },
        copy: CopyPolicy {
            location: true,
            body: true,
            categories: true,
        },
    }
}

/// Stand-ins for the kept items, to plan with [`stand_in_policy`]. A
/// non-public item becomes a private event with no content at the window's
/// start (it is known to start in the window).
pub fn source_events(pieces: &[Piece], window: &Window) -> Vec<SourceEvent> {
    let mut out = Vec::new();
    for piece in pieces {
        for item in piece.items.values() {
            out.push(match item {
                Item::Public { key, payload } => SourceEvent {
                    key: key.clone(),
                    subject: payload.subject.clone(),
                    start: payload.start,
                    end: payload.end,
                    is_all_day: payload.is_all_day,
                    show_as: payload.show_as,
                    sensitivity: Sensitivity::Normal,
                    is_cancelled: false,
                    categories: payload.categories.clone(),
                    location: payload.location.clone(),
                    body: payload.body.clone(),
                },
                Item::NotPublic { key, .. } => SourceEvent {
                    key: key.clone(),
                    subject: String::new(),
                    start: EventTime::Instant(window.start),
                    end: EventTime::Instant(window.start),
                    is_all_day: false,
                    show_as: ShowAs::Unknown,
                    sensitivity: Sensitivity::Private,
                    is_cancelled: false,
                    categories: Vec::new(),
                    location: String::new(),
                    body: Body::default(),
                },
            });
        }
    }
    out
}

/// The non-public items by the filter rule each fails, counted as the
/// planner counts the [`source_events`] standing for them: once per key,
/// the first item of a key deciding. Items kept without a reason (a state of
/// an earlier version) are not counted.
pub fn skipped_by_reason(pieces: &[Piece]) -> BTreeMap<SkipReason, usize> {
    let mut seen = std::collections::HashSet::new();
    let mut out = BTreeMap::new();
    for item in pieces.iter().flat_map(|p| p.items.values()) {
        match item {
            Item::Public { key, .. } => {
                seen.insert(key);
            }
            Item::NotPublic { key, reason } => {
                if seen.insert(key)
                    && let Some(reason) = reason
                {
                    *out.entry(*reason).or_default() += 1;
                }
            }
        }
    }
    out
}

/// The copies as read from the target.
pub fn copies_of(managed: &[ManagedEvent]) -> Vec<Copy> {
    managed.iter().map(Copy::of).collect()
}

/// The copies as managed events, for the planner.
pub fn managed_events(copies: &[Copy]) -> Vec<ManagedEvent> {
    copies.iter().map(Copy::managed).collect()
}

/// The copies after a plan's writes: what was created is added, updated is
/// rewritten, deleted is removed; a write that failed leaves its copy as it
/// was. Copies that start before the window are dropped (no plan touches
/// them again).
pub fn after_writes(
    copies: Vec<Copy>,
    plan: &Plan,
    done: &[Applied],
    window: &Window,
) -> Vec<Copy> {
    let mut by_id: BTreeMap<String, Copy> = copies
        .into_iter()
        .map(|c| (c.target_id.clone(), c))
        .collect();
    let creates: HashMap<&SourceKey, &EventPayload> =
        plan.creates.iter().map(|c| (&c.key, &c.payload)).collect();
    let updates: HashMap<&str, &EventPayload> = plan
        .updates
        .iter()
        .map(|u| (u.target_id.as_str(), &u.payload))
        .collect();
    for d in done {
        match d {
            Applied::Created { target_id, marker } => {
                if let Some(payload) = creates.get(&marker.source_key) {
                    by_id.insert(
                        target_id.clone(),
                        Copy {
                            target_id: target_id.clone(),
                            marker: marker.clone(),
                            current: EventPayload {
                                body: Body::default(),
                                ..(*payload).clone()
                            },
                        },
                    );
                }
            }
            Applied::Updated { target_id, marker } => {
                if let Some(payload) = updates.get(target_id.as_str()) {
                    by_id.insert(
                        target_id.clone(),
                        Copy {
                            target_id: target_id.clone(),
                            marker: marker.clone(),
                            current: EventPayload {
                                body: Body::default(),
                                ..(*payload).clone()
                            },
                        },
                    );
                }
            }
            Applied::Deleted { target_id, .. } => {
                by_id.remove(target_id);
            }
        }
    }
    by_id
        .into_values()
        .filter(|c| c.current.start.as_utc() >= window.start)
        .collect()
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

// ------------------------------------------------------------ calendar ids

/// Calendar ids resolved from names, kept between runs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CalendarCache {
    pub version: u32,
    pub calendars: Vec<CachedCalendar>,
    /// The time zone all-day copies are written in, per target mailbox.
    #[serde(default)]
    pub zones: Vec<CachedZone>,
}

/// The time zone of a mailbox, as far as calsync may read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedZone {
    pub graph: String,
    /// The mailbox, lowercased.
    pub mailbox: String,
    /// Its `mailboxSettings.timeZone`; `None` when Graph refused to say.
    pub zone: Option<String>,
}

/// One calendar name resolved to its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedCalendar {
    /// The Graph root it was resolved at.
    pub graph: String,
    /// The mailbox, lowercased.
    pub mailbox: String,
    /// How the settings name the calendar (`default:`, `id:…` or
    /// `name:…`).
    pub name: String,
    pub id: String,
}

impl CalendarCache {
    /// Reads the cache; an absent or unusable one is empty.
    pub fn load(dir: &Path) -> CalendarCache {
        super::files::read(&dir.join(CALENDARS_FILE))
            .ok()
            .and_then(|t| serde_json::from_slice::<CalendarCache>(&t).ok())
            .filter(|c| c.version == CALENDARS_VERSION)
            .unwrap_or_default()
    }

    /// Replaces the cache file atomically.
    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        let cache = CalendarCache {
            version: CALENDARS_VERSION,
            calendars: self.calendars.clone(),
            zones: self.zones.clone(),
        };
        write_atomically(
            &dir.join(CALENDARS_FILE),
            &serde_json::to_vec_pretty(&cache)?,
        )
    }

    /// Removes the file, so that every name is resolved again.
    pub fn forget(dir: &Path) {
        let _ = std::fs::remove_file(dir.join(CALENDARS_FILE));
    }

    pub fn get(&self, graph: &str, mailbox: &str, name: &str) -> Option<&str> {
        let (mailbox, name) = (mailbox.to_lowercase(), name.trim());
        self.calendars
            .iter()
            .find(|c| c.graph == graph && c.mailbox == mailbox && c.name == name)
            .map(|c| c.id.as_str())
    }

    /// The time zone remembered for a mailbox: `Some(None)` when Graph
    /// refused to tell it.
    pub fn zone(&self, graph: &str, mailbox: &str) -> Option<Option<&str>> {
        let mailbox = mailbox.to_lowercase();
        self.zones
            .iter()
            .find(|z| z.graph == graph && z.mailbox == mailbox)
            .map(|z| z.zone.as_deref())
    }

    pub fn put_zone(&mut self, graph: &str, mailbox: &str, zone: Option<&str>) {
        let mailbox = mailbox.to_lowercase();
        self.zones
            .retain(|z| !(z.graph == graph && z.mailbox == mailbox));
        self.zones.push(CachedZone {
            graph: graph.to_owned(),
            mailbox,
            zone: zone.map(str::to_owned),
        });
    }

    pub fn put(&mut self, graph: &str, mailbox: &str, name: &str, id: &str) {
        let entry = CachedCalendar {
            graph: graph.to_string(),
            mailbox: mailbox.to_lowercase(),
            name: name.trim().to_string(),
            id: id.to_string(),
        };
        self.calendars.retain(|c| {
            !(c.graph == entry.graph && c.mailbox == entry.mailbox && c.name == entry.name)
        });
        self.calendars.push(entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, NaiveDate, TimeZone};
    use proptest::prelude::*;

    fn window() -> Window {
        Window::around(NaiveDate::from_ymd_opt(2030, 1, 1).unwrap(), 0, 100)
    }

    /// The fingerprint as it was first written, key by key: a state saved
    /// before the key table existed must still match.
    fn first_fingerprint(settings: &Settings, source_id: &str, target_id: &str) -> String {
        let f = &settings.policy.filter;
        let c = &settings.policy.copy;
        let mut sensitivity: Vec<&str> = f.sensitivity.iter().map(|s| s.as_str()).collect();
        sensitivity.sort_unstable();
        let doc = serde_json::json!({
            "graph": settings.graph_base(),
            "source": [settings.mailbox_or_me().to_lowercase(), source_id],
            "target": [settings.target_mailbox_or_source().to_lowercase(), target_id],
            "past_days": settings.past_days,
            "cutoff_days": settings.cutoff_days,
            "filter": {
                "sensitivity": sensitivity,
                "include_categories": f.include_categories,
                "exclude_categories": f.exclude_categories,
                "skip_cancelled": f.skip_cancelled,
                "show_as": f.show_as.as_ref().map(|v| v.iter().map(|s| s.as_str()).collect::<Vec<_>>()),
                "subject_exclude": f.subject_exclude.as_ref().map(|r| r.as_str()),
            },
            "copy": [c.location, c.body, c.categories],
        });
        let mut hex = hex::encode(Sha256::digest(doc.to_string().as_bytes()));
        hex.truncate(32);
        format!("{STATE_VERSION}:{hex}")
    }

    #[test]
    fn the_fingerprint_of_existing_states_is_unchanged() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .chain(&[("HOME", "/nonexistent-home")])
                    .find(|(name, _)| *name == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let cases: [&'static [(&'static str, &'static str)]; 3] = [
            &[],
            &[
                ("CALSYNC_MAILBOX", "Events@Contoso.example"),
                ("CALSYNC_TARGET_MAILBOX", "Public@Contoso.example"),
                ("CALSYNC_PAST_DAYS", "7"),
                ("CALSYNC_CUTOFF_DAYS", "30"),
                ("CALSYNC_CLOUD", "usgov"),
            ],
            &[("CALSYNC_GRAPH_URL", "http://127.0.0.1:9/v1.0")],
        ];
        let subject = regex::Regex::new("^x").unwrap();
        for pairs in cases {
            let mut s = crate::config::load(&Default::default(), &env(pairs)).unwrap();
            assert_eq!(fingerprint(&s, "S", "T"), first_fingerprint(&s, "S", "T"));
            s.policy.filter.sensitivity = vec![Sensitivity::Private, Sensitivity::Normal];
            s.policy.filter.include_categories = vec!["Public".into()];
            s.policy.filter.show_as = Some(vec![ShowAs::Busy, ShowAs::Oof]);
            s.policy.filter.subject_exclude = Some(subject.clone());
            s.policy.filter.skip_cancelled = false;
            s.policy.copy.body = true;
            assert_eq!(fingerprint(&s, "S", "T"), first_fingerprint(&s, "S", "T"));
            assert_ne!(fingerprint(&s, "S", "T"), fingerprint(&s, "S", "U"));
        }
    }

    fn range(w: &Window) -> PieceRange {
        PieceRange {
            start: w.start,
            end: w.end + Duration::seconds(1),
        }
    }

    /// An occurrence of series `series` on `day`, public unless `private`.
    fn occurrence(series: &str, day: i64, private: bool) -> SourceEvent {
        let mut ev = event(
            "x",
            day,
            if private {
                Sensitivity::Private
            } else {
                Sensitivity::Normal
            },
            false,
            &[],
            ShowAs::Busy,
            "Weekly open hour",
            false,
        );
        ev.key = SourceKey::occurrence(series, ev.start.as_utc());
        ev
    }

    #[allow(clippy::too_many_arguments)]
    fn event(
        key: &str,
        day: i64,
        sensitivity: Sensitivity,
        cancelled: bool,
        categories: &[&str],
        show_as: ShowAs,
        subject: &str,
        all_day: bool,
    ) -> SourceEvent {
        let base = Utc.with_ymd_and_hms(2030, 1, 1, 9, 0, 0).unwrap() + Duration::days(day);
        let (start, end) = if all_day {
            (
                EventTime::Date(base.date_naive()),
                EventTime::Date(base.date_naive() + Duration::days(1)),
            )
        } else {
            (
                EventTime::Instant(base),
                EventTime::Instant(base + Duration::hours(1)),
            )
        };
        SourceEvent {
            key: SourceKey::single(key),
            subject: subject.to_string(),
            start,
            end,
            is_all_day: all_day,
            show_as,
            sensitivity,
            is_cancelled: cancelled,
            categories: categories.iter().map(|c| c.to_string()).collect(),
            location: "Room 1".into(),
            body: Body {
                content_type: crate::model::BodyType::Text,
                content: "Agenda".into(),
            },
        }
    }

    fn upserts(events: &[SourceEvent]) -> Vec<SourceChange> {
        events
            .iter()
            .enumerate()
            .map(|(i, e)| SourceChange::Upsert {
                item_id: format!("id-{i}"),
                event: Some(e.clone()),
            })
            .collect()
    }

    fn strict_policy() -> Policy {
        Policy {
            filter: FilterPolicy {
                sensitivity: vec![Sensitivity::Normal, Sensitivity::Personal],
                include_categories: vec!["Public".into()],
                exclude_categories: vec!["Internal".into()],
                skip_cancelled: true,
                show_as: Some(vec![ShowAs::Busy, ShowAs::Free]),
                subject_exclude: Some(regex::Regex::new("(?i)^secret").unwrap()),
            },
            copy: CopyPolicy {
                location: true,
                body: false,
                categories: false,
            },
        }
    }

    proptest! {
        /// Planning from what the state keeps gives the plan the planner
        /// gives for the events themselves, whatever the policy.
        #[test]
        fn kept_items_plan_like_the_events_they_stand_for(
            specs in proptest::collection::vec(
                (0u8..6, -3i64..110, 0usize..4, any::<bool>(), 0usize..4, 0usize..3, any::<bool>(), any::<bool>()),
                0..25,
            ),
            strict in any::<bool>(),
        ) {
            let w = window();
            let policy = if strict { strict_policy() } else { Policy::default() };
            let cats: [&[&str]; 4] = [&[], &["Public"], &["Internal", "Public"], &["Other"]];
            let shows = [ShowAs::Busy, ShowAs::Free, ShowAs::Tentative];
            let events: Vec<SourceEvent> = specs
                .iter()
                .map(|(k, day, sens, cancelled, cat, show, secret, all_day)| {
                    event(
                        &format!("k{k}"),
                        *day,
                        Sensitivity::ALL[*sens],
                        *cancelled,
                        cats[*cat],
                        shows[*show],
                        if *secret { "Secret plans" } else { "Open day" },
                        *all_day,
                    )
                })
                .collect();
            // Dedupe by key as a source read does (first wins).
            let mut seen = std::collections::HashSet::new();
            let events: Vec<SourceEvent> =
                events.into_iter().filter(|e| seen.insert(e.key.clone())).collect();
            let mut items = BTreeMap::new();
            ingest(&mut items, upserts(&events), Vec::new(), &policy, &w);
            let pieces = vec![Piece { range: range(&w), cursor: "c".into(), items }];
            let direct = planner::plan(&events, &[], &policy, &w);
            let mut kept = planner::plan(&source_events(&pieces, &w), &[], &stand_in_policy(), &w);
            // The stand-ins read as private; the items know why each is not public.
            kept.skipped = skipped_by_reason(&pieces);
            prop_assert_eq!(direct, kept);
        }
    }

    #[test]
    fn series_signalled_or_removed_are_read_again() {
        let w = window();
        let mut items = BTreeMap::new();
        ingest(
            &mut items,
            vec![
                SourceChange::Upsert {
                    item_id: "o1".into(),
                    event: Some(occurrence("M", 1, false)),
                },
                SourceChange::Upsert {
                    item_id: "single".into(),
                    event: Some(event(
                        "s",
                        2,
                        Sensitivity::Normal,
                        false,
                        &[],
                        ShowAs::Busy,
                        "S",
                        false,
                    )),
                },
            ],
            Vec::new(),
            &Policy::default(),
            &w,
        );
        let changes = vec![
            SourceChange::SeriesChanged {
                series_id: "N".into(),
            },
            SourceChange::Remove {
                item_id: "M".into(),
            },
            SourceChange::Remove {
                item_id: "single".into(),
            },
            SourceChange::SeriesChanged {
                series_id: "N".into(),
            },
            SourceChange::Remove {
                item_id: "unknown".into(),
            },
        ];
        // A removed id is a series only when an item belongs to it.
        assert_eq!(series_to_read(&items, &changes), vec!["N", "M"]);
    }

    #[test]
    fn a_series_read_again_replaces_everything_kept_of_it() {
        let w = window();
        let mut items = BTreeMap::new();
        let first: Vec<SourceChange> = (1..=3)
            .map(|d| SourceChange::Upsert {
                item_id: format!("m{d}"),
                event: Some(occurrence("M", d, false)),
            })
            .chain((1..=2).map(|d| SourceChange::Upsert {
                item_id: format!("n{d}"),
                event: Some(occurrence("N", d, false)),
            }))
            .collect();
        ingest(&mut items, first, Vec::new(), &Policy::default(), &w);
        assert_eq!(items.len(), 5);
        // Series M: the 2nd occurrence is gone, the 3rd turned private, a
        // 4th is new and a 5th starts before the window. Series N is gone.
        let mut early = occurrence("M", 5, false);
        early.start = EventTime::Instant(w.start - Duration::days(1));
        let series = vec![
            (
                "M".to_owned(),
                Some(vec![
                    ("m1".to_owned(), occurrence("M", 1, false)),
                    ("m3".to_owned(), occurrence("M", 3, true)),
                    ("m4".to_owned(), occurrence("M", 4, false)),
                    ("m5".to_owned(), early),
                ]),
            ),
            ("N".to_owned(), None),
        ];
        ingest(
            &mut items,
            vec![SourceChange::SeriesChanged {
                series_id: "M".into(),
            }],
            series,
            &Policy::default(),
            &w,
        );
        let kept: Vec<(&str, bool)> = items
            .iter()
            .map(|(id, item)| (id.as_str(), matches!(item, Item::Public { .. })))
            .collect();
        assert_eq!(kept, vec![("m1", true), ("m3", false), ("m4", true)]);
    }

    #[test]
    fn states_of_the_earlier_version_still_load() {
        // Written before skipped events were counted by reason.
        let settled: Settled =
            serde_json::from_str(r#"{"unchanged": 2, "skipped_non_public": 1}"#).unwrap();
        assert!(settled.skipped.is_empty());
        let item = Item::NotPublic {
            key: SourceKey::single("p1"),
            reason: None,
        };
        let text = serde_json::to_string(&item).unwrap();
        assert!(!text.contains("reason"), "{text}");
        assert_eq!(serde_json::from_str::<Item>(&text).unwrap(), item);
        let pieces = vec![Piece {
            range: range(&window()),
            cursor: "c".into(),
            items: BTreeMap::from([("a".to_owned(), item)]),
        }];
        assert!(skipped_by_reason(&pieces).is_empty());
    }

    #[test]
    fn nothing_of_a_private_event_is_kept_but_its_key() {
        let w = window();
        let secret = event(
            "p1",
            3,
            Sensitivity::Private,
            false,
            &["CANARY-cat"],
            ShowAs::Busy,
            "CANARY subject",
            false,
        );
        let mut items = BTreeMap::new();
        ingest(
            &mut items,
            upserts(&[secret]),
            Vec::new(),
            &Policy::default(),
            &w,
        );
        let text = serde_json::to_string(&items).unwrap();
        assert!(!text.contains("CANARY"), "{text}");
        assert!(!text.contains("Room") && !text.contains("Agenda") && !text.contains("2030"));
        assert_eq!(
            items.values().next(),
            Some(&Item::NotPublic {
                key: SourceKey::single("p1"),
                reason: Some(SkipReason::Private),
            })
        );
    }

    #[test]
    fn removals_and_moves_out_of_the_window_drop_items() {
        let w = window();
        let a = event(
            "a",
            3,
            Sensitivity::Normal,
            false,
            &[],
            ShowAs::Busy,
            "A",
            false,
        );
        let mut items = BTreeMap::new();
        ingest(
            &mut items,
            upserts(&[a.clone(), a.clone()]),
            Vec::new(),
            &Policy::default(),
            &w,
        );
        assert_eq!(items.len(), 2);
        let mut moved = a.clone();
        moved.start = EventTime::Instant(w.start - Duration::days(2));
        ingest(
            &mut items,
            vec![
                SourceChange::Remove {
                    item_id: "id-0".into(),
                },
                SourceChange::Upsert {
                    item_id: "id-1".into(),
                    event: Some(moved),
                },
                SourceChange::Remove {
                    item_id: "never-seen".into(),
                },
            ],
            Vec::new(),
            &Policy::default(),
            &w,
        );
        assert!(items.is_empty(), "{items:?}");
    }

    #[test]
    fn writes_update_the_copies_and_failures_leave_them() {
        let w = window();
        let a = event(
            "a",
            3,
            Sensitivity::Normal,
            false,
            &[],
            ShowAs::Busy,
            "A",
            false,
        );
        let b = event(
            "b",
            4,
            Sensitivity::Normal,
            false,
            &[],
            ShowAs::Busy,
            "B",
            false,
        );
        let plan = planner::plan(&[a, b], &[], &Policy::default(), &w);
        assert_eq!(plan.creates.len(), 2);
        let done = vec![Applied::Created {
            target_id: "t-a".into(),
            marker: plan.creates[0].marker.clone(),
        }];
        let copies = after_writes(Vec::new(), &plan, &done, &w);
        assert_eq!(copies.len(), 1);
        assert_eq!(copies[0].target_id, "t-a");
        assert_eq!(copies[0].current.subject, "A");
        // Planning again from them creates only what failed.
        let a = event(
            "a",
            3,
            Sensitivity::Normal,
            false,
            &[],
            ShowAs::Busy,
            "A",
            false,
        );
        let b = event(
            "b",
            4,
            Sensitivity::Normal,
            false,
            &[],
            ShowAs::Busy,
            "B",
            false,
        );
        let again = planner::plan(&[a, b], &managed_events(&copies), &Policy::default(), &w);
        assert_eq!(again.creates.len(), 1);
        assert_eq!(again.creates[0].payload.subject, "B");
        assert_eq!(again.unchanged, 1);
    }

    #[test]
    fn state_and_cache_files_round_trip_atomically_and_privately() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).is_none());
        // Two public items; one copy as written, one edited by hand.
        let mut piece = Piece {
            range: range(&window()),
            cursor: "cursor-1".into(),
            items: BTreeMap::new(),
        };
        let events = [
            event(
                "a",
                1,
                Sensitivity::Normal,
                false,
                &["Public"],
                ShowAs::Busy,
                "A",
                false,
            ),
            event(
                "b",
                2,
                Sensitivity::Normal,
                false,
                &["Public"],
                ShowAs::Busy,
                "B",
                false,
            ),
        ];
        ingest(
            &mut piece.items,
            upserts(&events),
            Vec::new(),
            &strict_policy(),
            &window(),
        );
        let copy = |key: &str, subject: &str| {
            let ev = events.iter().find(|e| e.key.as_str() == key).unwrap();
            let mut payload = planner::payload(ev, &strict_policy().copy);
            let marker = Marker {
                source_key: ev.key.clone(),
                content_hash: planner::content_hash(&payload),
            };
            payload.subject = subject.to_string();
            Copy {
                target_id: format!("t-{key}"),
                marker,
                current: payload,
            }
        };
        let state = SyncState {
            version: STATE_VERSION,
            fingerprint: "f".into(),
            window: window(),
            last_full: Utc::now(),
            target_trusted: true,
            settled: Some(Settled {
                unchanged: 2,
                skipped_non_public: 1,
                skipped: BTreeMap::from([(SkipReason::Cancelled, 1)]),
            }),
            pieces: vec![piece],
            copies: vec![copy("i:a", "A"), copy("i:b", "B (edited)")],
        };
        save(dir.path(), &state).unwrap();
        let back = load(dir.path()).unwrap();
        assert_eq!(back.fingerprint, "f");
        assert_eq!(back.pieces[0].cursor, "cursor-1");
        assert_eq!(back.pieces[0].items, state.pieces[0].items);
        assert_eq!(back.copies, state.copies);
        assert_eq!(back.settled, state.settled);
        // The copy that holds its item's payload is stored without it.
        let snapshot = std::fs::read_to_string(snapshot_path(dir.path())).unwrap();
        assert_eq!(snapshot.matches("\"current\"").count(), 1, "{snapshot}");
        assert!(snapshot.contains("B (edited)"));

        // The head alone can move on; the snapshot still belongs to it.
        let mut head = load_head(dir.path()).unwrap();
        head.cursors = vec!["cursor-2".into()];
        save_head(dir.path(), &head).unwrap();
        assert_eq!(load(dir.path()).unwrap().pieces[0].cursor, "cursor-2");

        mark_writing(dir.path()).unwrap();
        let marked = load(dir.path()).unwrap();
        assert!(!marked.target_trusted);
        assert_eq!(marked.settled, None);

        // A head that names another snapshot (a run stopped between the
        // two writes) is not used.
        let old_head = std::fs::read(state_path(dir.path())).unwrap();
        save(dir.path(), &state).unwrap();
        std::fs::write(state_path(dir.path()), &old_head).unwrap();
        assert!(load_head(dir.path()).is_some());
        assert!(load(dir.path()).is_none());

        std::fs::write(state_path(dir.path()), b"{\"version\":2,\"trunc").unwrap();
        assert!(load(dir.path()).is_none());

        let mut cache = CalendarCache::default();
        cache.put("g", "Events@Contoso.example", " Calendar ", "id-1");
        cache.put("g", "events@contoso.example", "Calendar", "id-2");
        cache.save(dir.path()).unwrap();
        let cache = CalendarCache::load(dir.path());
        assert_eq!(cache.calendars.len(), 1);
        assert_eq!(
            cache.get("g", "EVENTS@contoso.example", "Calendar"),
            Some("id-2")
        );
        assert_eq!(
            cache.get("other", "events@contoso.example", "Calendar"),
            None
        );
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for f in [STATE_FILE, SNAPSHOT_FILE, CALENDARS_FILE] {
                let mode = std::fs::metadata(dir.path().join(f))
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o600, "{f}");
            }
        }
        CalendarCache::forget(dir.path());
        assert!(CalendarCache::load(dir.path()).calendars.is_empty());
    }
}
