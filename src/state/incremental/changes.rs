//! What the source's changes do to the kept items, and how the kept items
//! and copies stand in for both calendars when a run plans.

use super::{Copy, Item, Piece};
use crate::model::{
    Body, EventPayload, EventTime, ManagedEvent, Sensitivity, ShowAs, SourceEvent, SourceKey,
    Window,
};
use crate::planner::{self, Plan};
use crate::policy::{CopyPolicy, FilterPolicy, Policy, SkipReason, skip_reason};
use crate::provider::{Applied, SourceChange};
use std::collections::{BTreeMap, HashMap};

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
                    ical_uid: None,
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
                    ical_uid: None,
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
