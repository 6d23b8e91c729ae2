//! A source made of several calendars (`sources = [...]`): each member is
//! read as it would be alone, and [`Merged`] hands the planner one list in
//! which no two members' keys can meet and a meeting that several members
//! hold is published once.
//!
//! The rules, which [`merge`] applies:
//!
//! - **Keys.** Each key becomes `<name>/<key>`, for every member, however
//!   many there are: a member's keys depend on its name alone, so adding,
//!   removing or reordering sources never renames another source's copies.
//!   A member's name is not empty and holds no `/`, `:` or control character
//!   ([`check_name`]); every key a provider makes starts with a one-letter
//!   kind and `:` (`i:`, `s:`, `u:`), so a namespaced key (whose first `/`
//!   comes before any `:`) is never the key of a pair with one source, and
//!   two members' keys never meet, whatever their ids. The key of an event
//!   a member could not read keeps its `u:` prefix (`u:<name>/<id>`), so
//!   that it is still never public and never a copy's. A pair with one
//!   source that is not a merged source keeps its keys as they were.
//! - **One meeting read twice.** Two readings are of one meeting when they
//!   have the same iCalendar UID ([`SourceEvent::ical_uid`]) and the same
//!   occurrence: both single, or both occurrences with the same original
//!   start (the part of the key after `@`). The UID alone is not enough: it
//!   is a series' for each of its occurrences. Every reading of the meeting
//!   takes the key of the first reading in the order of the members (the
//!   first source listed wins, and gives the copy its content); the
//!   planner then publishes the key only if every reading passes the
//!   filter, as it does for the several readings one file gives of an
//!   event. So a meeting private, cancelled or excluded in one member is
//!   published by none. A meeting one member holds twice is published once
//!   too.
//! - **An event a member could not read** hides, in every member, each
//!   event with the UID it shows: a file that garbles a meeting cannot say
//!   which occurrence, nor whether it is public. Those events are handed
//!   over as unreadable too, with no content.
//!   Graph and a file write the original start of a timed occurrence alike
//!   (the instant in UTC), but not that of an all-day one (Graph: the
//!   organizer's local midnight; a file: the date's midnight in UTC), so an
//!   all-day occurrence that a Graph calendar and a file both hold is taken
//!   for two meetings.
//! - **No UID, no match.** An event without a UID is never taken for
//!   another; a UID never makes an event public or private by itself.
//! - **A member that fails fails the read.** A partial read would look like
//!   removed events and delete their copies.
//!
//! A member removed from the list takes its keys with it: its copies are
//! then copies of events gone from the source, deleted under the deletion
//! guard like any others. A pair that turns from one source into a merged
//! source renames every key once, so its first merged run replaces every
//! copy (under the guard, which may ask for `--force`); the planner deletes
//! the old copies in the same plan as it creates the new ones, so none is
//! left twice.
//!
//! The planner withholds the deletions of a source that reads as empty in
//! the window (more likely wrong than emptied). A merged source reads as
//! empty only when every member does; a single member that reads as empty
//! while the others do not keeps its copies the same way: [`Merged`]
//! remembers which members read as empty ([`Merged::read_empty`]) and the
//! sync leaves their copies out of the plan.
//!
//! The merge needs every member's whole read to decide the winner of a
//! meeting, so a merged source is read in full every run: it does not tell
//! its changes ([`crate::provider::IncrementalSource`]), whatever its
//! members can do.

use crate::model::{Body, SourceEvent, SourceKey, Window};
use crate::provider::SourceProvider;
use anyhow::Context;
use std::collections::{HashMap, HashSet};

/// The separator between a member's name and its own key.
pub const SEPARATOR: char = '/';

/// Several sources read as one (see the module's documentation).
pub struct Merged<S> {
    members: Vec<(String, S)>,
    /// The members whose last read held no event in the window.
    empty: std::sync::Mutex<Vec<String>>,
}

impl<S> Merged<S> {
    /// A source made of `members`, in their order (the first wins a meeting
    /// several hold). Refuses an empty list, a name [`check_name`] refuses,
    /// and a name given twice.
    pub fn new(members: Vec<(String, S)>) -> anyhow::Result<Self> {
        if members.is_empty() {
            anyhow::bail!("a merged source needs at least one source");
        }
        let mut seen = HashSet::new();
        for (name, _) in &members {
            check_name(name)?;
            if !seen.insert(name.as_str()) {
                anyhow::bail!("the source name `{name}` is given twice; each source needs its own");
            }
        }
        Ok(Merged {
            members,
            empty: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// The members, in their order.
    pub fn members(&self) -> &[(String, S)] {
        &self.members
    }

    /// The names of the members whose last read held no event in the
    /// window.
    pub fn read_empty(&self) -> Vec<String> {
        self.empty.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

/// Whether `key` is the key of an event of the member `name`.
pub fn of_member(key: &SourceKey, name: &str) -> bool {
    let k = key.as_str();
    let k = k.strip_prefix("u:").unwrap_or(k);
    k.strip_prefix(name)
        .is_some_and(|rest| rest.starts_with(SEPARATOR))
}

/// Whether `name` can name a member: not empty, and no `/`, `:` or
/// control character, so that a namespaced key is never taken for a key of
/// one source, nor for another member's.
pub fn check_name(name: &str) -> anyhow::Result<()> {
    if name.is_empty() {
        anyhow::bail!("a source's name is empty");
    }
    if let Some(c) = name
        .chars()
        .find(|c| *c == SEPARATOR || *c == ':' || c.is_control())
    {
        anyhow::bail!(
            "the source name `{}` holds {c:?}, which a source's name may not hold (nor `/`, `:` \
             or a control character)",
            name.escape_default()
        );
    }
    Ok(())
}

impl<S: SourceProvider + Sync> SourceProvider for Merged<S> {
    /// Reads every member at once and merges their events ([`merge`]); any
    /// member that fails fails the whole read.
    async fn read(&self, window: &Window) -> anyhow::Result<Vec<SourceEvent>> {
        let reads = futures_util::future::try_join_all(self.members.iter().map(
            |(name, source)| async move {
                source
                    .read(window)
                    .await
                    .with_context(|| format!("reading the source `{name}`"))
            },
        ))
        .await?;
        if let Ok(mut empty) = self.empty.lock() {
            *empty = self
                .members
                .iter()
                .zip(&reads)
                .filter(|(_, events)| events.is_empty())
                .map(|((name, _), _)| name.clone())
                .collect();
        }
        Ok(merge(
            self.members
                .iter()
                .map(|(name, _)| name.as_str())
                .zip(reads)
                .collect(),
        ))
    }
}

/// What makes two readings one meeting: the UID and, for an occurrence,
/// its original start as its key writes it.
type Meeting<'a> = (&'a str, Option<&'a str>);

fn meeting(ev: &SourceEvent) -> Option<Meeting<'_>> {
    if ev.key.is_unreadable() {
        return None;
    }
    let uid = ev.ical_uid.as_deref().filter(|u| !u.is_empty())?;
    Some((uid, ev.key.original_start()))
}

/// `<name>/<key>`, or `u:<name>/<id>` for an unreadable event's key.
fn namespaced(name: &str, key: &SourceKey) -> SourceKey {
    match key.as_str().strip_prefix("u:") {
        Some(id) => SourceKey(format!("u:{name}{SEPARATOR}{id}")),
        None => SourceKey(format!("{name}{SEPARATOR}{key}")),
    }
}

/// The events of the members (name and events, in the members' order) as
/// one source's: see the module's documentation for the rules. The events
/// come out member by member, each member's in its order, so that the
/// first reading of a key is the winner's.
pub fn merge(reads: Vec<(&str, Vec<SourceEvent>)>) -> Vec<SourceEvent> {
    // The key of each meeting's first reading, and the UIDs of events some
    // member could not read.
    let mut winner: HashMap<Meeting<'_>, SourceKey> = HashMap::new();
    let mut garbled: HashSet<&str> = HashSet::new();
    for (name, events) in &reads {
        for ev in events {
            if ev.key.is_unreadable() {
                if let Some(uid) = ev.ical_uid.as_deref().filter(|u| !u.is_empty()) {
                    garbled.insert(uid);
                }
            } else if let Some(m) = meeting(ev) {
                winner.entry(m).or_insert_with(|| namespaced(name, &ev.key));
            }
        }
    }
    let mut out = Vec::with_capacity(reads.iter().map(|(_, e)| e.len()).sum());
    for (name, events) in &reads {
        for ev in events {
            let key = meeting(ev)
                .and_then(|m| winner.get(&m).cloned())
                .unwrap_or_else(|| namespaced(name, &ev.key));
            let hidden = !ev.key.is_unreadable()
                && ev
                    .ical_uid
                    .as_deref()
                    .is_some_and(|uid| garbled.contains(uid));
            out.push(if hidden {
                unreadable_reading(ev, &key)
            } else {
                SourceEvent { key, ..ev.clone() }
            });
        }
    }
    out
}

/// An event whose meeting some member could not read, as a reading that
/// is never public: the key of the meeting made unreadable, no content.
fn unreadable_reading(ev: &SourceEvent, key: &SourceKey) -> SourceEvent {
    SourceEvent {
        key: SourceKey(format!("u:{key}")),
        ical_uid: ev.ical_uid.clone(),
        subject: String::new(),
        start: ev.start,
        end: ev.start,
        is_all_day: ev.is_all_day,
        show_as: ev.show_as,
        sensitivity: ev.sensitivity,
        is_cancelled: ev.is_cancelled,
        categories: Vec::new(),
        location: String::new(),
        body: Body::default(),
    }
}

#[cfg(test)]
mod tests;
