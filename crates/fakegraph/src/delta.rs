//! calendarView delta: `GET …/calendarView/delta`
//! (`api-reference/v1.0/api/event-delta.md`, `concepts/delta-query-events.md`).
//!
//! The first call carries the window; later calls follow `$skiptoken` (next
//! page of a round) or `$deltatoken` (a new round) links exactly as given. A
//! round sends every item of the window that is new or changed since the
//! previous round, and `@removed` for each one that is gone or has left the
//! window. Tokens live on the server; unknown or invalidated ones get
//! `410 SyncStateNotFound`.
//!
//! What an item of a series looks like depends on [`DeltaOccurrences`]:
//!
//! - `Bare` (as reported: microsoftgraph/microsoft-graph-docs#7632,
//!   microsoftgraph/microsoft-graph-docs-contrib#34,
//!   microsoftgraph/microsoft-graph-docs#22197, ridafkih/keeper.sh#409): an
//!   unmodified occurrence carries only `@odata.type`, `@odata.etag`, `id`,
//!   `type`, `seriesMasterId`, `start` and `end`; exceptions are full; the
//!   series master is an item of the window (in full, with its recurrence)
//!   while any of its instances is in the window, so it is sent when the
//!   series enters the window or changes, and `@removed` when it leaves.
//! - `Full` (as documented): occurrences are full objects and masters are
//!   never listed.
//!
//! An unmodified occurrence counts as changed when its master itself was
//! edited (then every occurrence in the window comes again) or it moved; a
//! change to one instance changes the master only. A deleted occurrence is
//! `@removed` unless [`crate::Behaviour::delta_signals_deleted_occurrences`]
//! is off, when nothing at all is sent for it (as
//! microsoftgraph/microsoft-graph-docs#4501 found by experiment).
//!
//! The items of one series are never split across pages (also
//! microsoftgraph/microsoft-graph-docs#4501), so a page can hold more than
//! `odata.maxpagesize` items (microsoftgraph/msgraph-sdk-dotnet#1568 reports
//! such pages).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::behaviour::DeltaOccurrences;
use crate::error::GraphError;
use crate::store::{Kind, Store, View};

const DEFAULT_PAGE: usize = 10;

/// The fields a bare occurrence carries (besides `@odata.type`).
const BARE_FIELDS: &[&str] = &[
    "@odata.etag",
    "id",
    "type",
    "seriesMasterId",
    "start",
    "end",
];

#[derive(Clone, Debug)]
enum Entry {
    Changed(String),
    Removed(String),
}

/// What a round remembers of one item of the window.
#[derive(Clone, Debug, PartialEq)]
struct Seen {
    /// Changes whenever the item should be sent again.
    print: String,
    /// For an occurrence or exception: its series master and original start.
    instance_of: Option<(String, DateTime<Utc>)>,
}

type Snapshot = HashMap<String, Seen>;

#[derive(Clone, Debug)]
enum Stage {
    /// A round being paged through: its items, grouped so that a group (a
    /// series, or a single event) stays on one page.
    Round {
        pending: Vec<Vec<Entry>>,
        position: usize,
        next_snapshot: Snapshot,
    },
    /// A finished round; the next one compares against this.
    Done { snapshot: Snapshot },
}

#[derive(Clone, Debug)]
struct Session {
    mailbox: usize,
    calendar_id: String,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    stage: Stage,
}

/// The server-side state behind delta tokens.
#[derive(Default)]
pub(crate) struct DeltaTokens {
    sessions: HashMap<String, Session>,
    counter: u64,
}

/// How a delta request starts or continues.
pub(crate) enum Start {
    Window {
        mailbox: usize,
        calendar_id: String,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
    SkipToken(String),
    DeltaToken(String),
}

/// One page of a delta round, before rendering.
pub(crate) struct Page {
    pub mailbox: usize,
    pub calendar_id: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Ids to send (rendered by the caller) or as removed.
    pub items: Vec<(String, bool)>,
    pub next_skip: Option<String>,
    pub next_delta: Option<String>,
}

fn sync_state_not_found() -> GraphError {
    GraphError::new(
        410,
        "SyncStateNotFound",
        "The sync state generation is not found; the delta token is expired or invalid.",
    )
}

impl DeltaTokens {
    pub fn invalidate_all(&mut self) {
        self.sessions.clear();
    }

    /// The window a token's rounds cover, if the token is known.
    pub fn window_of(&self, token: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        self.sessions.get(token).map(|s| (s.start, s.end))
    }

    fn new_token(&mut self, rng: &mut fastrand::Rng) -> String {
        self.counter += 1;
        let noise: String = (0..24).map(|_| rng.alphanumeric()).collect();
        format!("{}{noise}", self.counter)
    }
}

/// The instances in a calendar's window.
pub(crate) fn window<'a>(
    store: &'a Store,
    mailbox: usize,
    calendar_id: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Vec<View<'a>> {
    crate::graph::expand(
        store.mailboxes[mailbox]
            .events
            .iter()
            .filter(|e| e.calendar_id == calendar_id),
        start,
        end,
        store.generation,
    )
}

/// What identifies a version of an instance. An unmodified occurrence
/// changes with its master's own edits and its times; anything else with its
/// change key and times.
fn fingerprint(view: &View<'_>) -> String {
    match view.kind {
        Kind::Occurrence => format!(
            "occurrence|{}|{}|{}",
            view.event.revision,
            view.start(),
            view.end()
        ),
        _ => format!("{}|{}|{}", view.item.change_key, view.start(), view.end()),
    }
}

/// The current items of a window, by id: its instances and, with bare
/// occurrences, the masters of its series.
fn current(
    store: &Store,
    mailbox: usize,
    calendar_id: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Snapshot {
    let views = window(store, mailbox, calendar_id, start, end);
    let mut now = Snapshot::new();
    let mut masters = BTreeMap::new();
    for v in &views {
        let instance_of = match v.kind {
            Kind::Occurrence | Kind::Exception => {
                masters.insert(v.event.id.clone(), v.event.item.change_key.clone());
                v.original_start.map(|o| (v.event.id.clone(), o))
            }
            Kind::SingleInstance | Kind::SeriesMaster => None,
        };
        now.insert(
            v.id.clone(),
            Seen {
                print: fingerprint(v),
                instance_of,
            },
        );
    }
    if store.behaviour.delta_occurrences == DeltaOccurrences::Bare {
        for (id, change_key) in masters {
            now.insert(
                id,
                Seen {
                    print: format!("master|{change_key}"),
                    instance_of: None,
                },
            );
        }
    }
    now
}

/// Whether the occurrence that originally starts at `original` was deleted:
/// its series is gone, or the occurrence is one of the series' deletions.
fn deleted_occurrence(
    store: &Store,
    mailbox: usize,
    master: &str,
    original: DateTime<Utc>,
) -> bool {
    let mb = &store.mailboxes[mailbox];
    match mb.event_index(master) {
        None => true,
        Some(i) => mb.events[i]
            .series
            .as_ref()
            .is_none_or(|s| s.cancelled.contains(&original)),
    }
}

/// Orders a round's entries and groups each series (master and instances)
/// together, so that a page never splits one.
fn group(entries: Vec<(Entry, Option<String>)>) -> Vec<Vec<Entry>> {
    let mut groups: BTreeMap<String, Vec<(bool, String, Entry)>> = BTreeMap::new();
    for (entry, series) in entries {
        let id = match &entry {
            Entry::Changed(id) | Entry::Removed(id) => id.clone(),
        };
        let key = series.clone().unwrap_or_else(|| id.clone());
        // The master (whose id is the group's key) first.
        groups
            .entry(key.clone())
            .or_default()
            .push((id != key, id, entry));
    }
    groups
        .into_values()
        .map(|mut g| {
            g.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
            g.into_iter().map(|(_, _, e)| e).collect()
        })
        .collect()
}

/// Advances a delta round by one page.
pub(crate) fn next_page(
    store: &mut Store,
    how: Start,
    page_size: Option<usize>,
) -> Result<Page, GraphError> {
    let page_size = page_size.unwrap_or(DEFAULT_PAGE).max(1);
    let mut session = match how {
        Start::Window {
            mailbox,
            calendar_id,
            start,
            end,
        } => {
            let now = current(store, mailbox, &calendar_id, start, end);
            let entries = now
                .iter()
                .map(|(id, seen)| {
                    (
                        Entry::Changed(id.clone()),
                        seen.instance_of.as_ref().map(|(m, _)| m.clone()),
                    )
                })
                .collect();
            Session {
                mailbox,
                calendar_id,
                start,
                end,
                stage: Stage::Round {
                    pending: group(entries),
                    position: 0,
                    next_snapshot: now,
                },
            }
        }
        Start::DeltaToken(token) => {
            let old = store
                .delta
                .sessions
                .get(&token)
                .cloned()
                .ok_or_else(sync_state_not_found)?;
            let Stage::Done { snapshot } = &old.stage else {
                return Err(sync_state_not_found());
            };
            let now = current(store, old.mailbox, &old.calendar_id, old.start, old.end);
            let signal_deleted = store.behaviour.delta_signals_deleted_occurrences;
            let mut entries = Vec::new();
            for (id, seen) in &now {
                if snapshot.get(id).map(|s| &s.print) != Some(&seen.print) {
                    let series = seen.instance_of.as_ref().map(|(m, _)| m.clone());
                    entries.push((Entry::Changed(id.clone()), series));
                }
            }
            for (id, seen) in snapshot {
                if now.contains_key(id) {
                    continue;
                }
                let silent = !signal_deleted
                    && seen.instance_of.as_ref().is_some_and(|(master, original)| {
                        deleted_occurrence(store, old.mailbox, master, *original)
                    });
                if !silent {
                    let series = seen.instance_of.as_ref().map(|(m, _)| m.clone());
                    entries.push((Entry::Removed(id.clone()), series));
                }
            }
            Session {
                stage: Stage::Round {
                    pending: group(entries),
                    position: 0,
                    next_snapshot: now,
                },
                ..old
            }
        }
        Start::SkipToken(token) => {
            let old = store
                .delta
                .sessions
                .get(&token)
                .cloned()
                .ok_or_else(sync_state_not_found)?;
            if !matches!(old.stage, Stage::Round { .. }) {
                return Err(sync_state_not_found());
            }
            old
        }
    };
    let Stage::Round {
        pending,
        position,
        next_snapshot,
    } = &mut session.stage
    else {
        unreachable!("every branch above yields a round");
    };
    // Whole groups, at least one, as many as fit in the page.
    let mut items = Vec::new();
    let mut stop = *position;
    while let Some(g) = pending.get(stop) {
        if !items.is_empty() && items.len() + g.len() > page_size {
            break;
        }
        items.extend(g.iter().map(|e| match e {
            Entry::Changed(id) => (id.clone(), false),
            Entry::Removed(id) => (id.clone(), true),
        }));
        stop += 1;
    }
    let (mailbox, calendar_id, start, end) = (
        session.mailbox,
        session.calendar_id.clone(),
        session.start,
        session.end,
    );
    let token = store.delta.new_token(&mut store.rng);
    if stop < pending.len() {
        *position = stop;
        store.delta.sessions.insert(token.clone(), session);
        Ok(Page {
            mailbox,
            calendar_id,
            start,
            end,
            items,
            next_skip: Some(token),
            next_delta: None,
        })
    } else {
        let snapshot = std::mem::take(next_snapshot);
        session.stage = Stage::Done { snapshot };
        store.delta.sessions.insert(token.clone(), session);
        Ok(Page {
            mailbox,
            calendar_id,
            start,
            end,
            items,
            next_skip: None,
            next_delta: Some(token),
        })
    }
}

/// The entry for an item that is gone or out of the window.
pub(crate) fn removed(id: &str) -> Value {
    json!({"@odata.type": "#microsoft.graph.event", "id": id, "@removed": {"reason": "deleted"}})
}

/// Marks a full delta item with its type, as Graph does.
pub(crate) fn changed(mut item: Map<String, Value>) -> Value {
    item.insert("@odata.type".into(), json!("#microsoft.graph.event"));
    Value::Object(item)
}

/// An unmodified occurrence as reported: its identity and times only.
pub(crate) fn bare(mut item: Map<String, Value>) -> Value {
    item.retain(|k, _| BARE_FIELDS.contains(&k.as_str()));
    changed(item)
}
