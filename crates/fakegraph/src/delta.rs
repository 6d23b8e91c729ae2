//! calendarView delta: `GET …/calendarView/delta`.
//!
//! The first call carries the window; later calls follow `$skiptoken` (next
//! page of a round) or `$deltatoken` (a new round) links exactly as given. A
//! round sends every instance in the window that is new or changed since the
//! previous round as a full object, and `@removed` for each one that is gone
//! or has left the window. Tokens live on the server; unknown or invalidated
//! ones get `410 SyncStateNotFound`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::error::GraphError;
use crate::store::{Store, View};

const DEFAULT_PAGE: usize = 10;

#[derive(Clone, Debug)]
enum Entry {
    Changed(String),
    Removed(String),
}

#[derive(Clone, Debug)]
enum Stage {
    /// A round being paged through.
    Round {
        pending: Vec<Entry>,
        position: usize,
        next_snapshot: HashMap<String, String>,
    },
    /// A finished round; the next one compares against this.
    Done { snapshot: HashMap<String, String> },
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
    /// Ids to send in full (rendered by the caller) or as removed.
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

/// What identifies a version of an instance: any edit changes the change key
/// (an occurrence shares its master's), and its times.
fn fingerprint(view: &View<'_>) -> String {
    format!("{}|{}|{}", view.item.change_key, view.start(), view.end())
}

/// The current instances of a window, by id, with their fingerprints.
fn current(
    store: &Store,
    mailbox: usize,
    calendar_id: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> HashMap<String, String> {
    window(store, mailbox, calendar_id, start, end)
        .iter()
        .map(|v| (v.id.clone(), fingerprint(v)))
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
            let mut ids: Vec<String> = now.keys().cloned().collect();
            ids.sort();
            Session {
                mailbox,
                calendar_id,
                start,
                end,
                stage: Stage::Round {
                    pending: ids.into_iter().map(Entry::Changed).collect(),
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
            let mut changed: Vec<&String> = now
                .iter()
                .filter(|(id, print)| snapshot.get(*id) != Some(*print))
                .map(|(id, _)| id)
                .collect();
            changed.sort();
            let mut removed: Vec<&String> = snapshot
                .keys()
                .filter(|id| !now.contains_key(*id))
                .collect();
            removed.sort();
            let pending = changed
                .into_iter()
                .map(|id| Entry::Changed(id.clone()))
                .chain(removed.into_iter().map(|id| Entry::Removed(id.clone())))
                .collect();
            Session {
                stage: Stage::Round {
                    pending,
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
    let stop = (*position + page_size).min(pending.len());
    let items = pending[*position..stop]
        .iter()
        .map(|e| match e {
            Entry::Changed(id) => (id.clone(), false),
            Entry::Removed(id) => (id.clone(), true),
        })
        .collect();
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

/// The entry for an instance that is gone or out of the window.
pub(crate) fn removed(id: &str) -> Value {
    json!({"@odata.type": "#microsoft.graph.event", "id": id, "@removed": {"reason": "deleted"}})
}

/// Marks a full delta item with its type, as Graph does.
pub(crate) fn changed(mut item: Map<String, Value>) -> Value {
    item.insert("@odata.type".into(), json!("#microsoft.graph.event"));
    Value::Object(item)
}
