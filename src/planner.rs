//! The planner: decides, with no I/O, what to create, update and delete in the
//! target calendar so that it mirrors the public source events of the window
//! (SPEC §3 rules 1–6).
//!
//! Its input is what the providers read: the source events (before any
//! filtering) and the target events that carry calsync's marker. Its output is a
//! [`Plan`] that holds only payloads built from public events, the keys, and
//! what the target already shows; a [`SourceEvent`] never leaves this module.

use crate::model::{
    Body, BodyType, EventPayload, EventTime, ManagedEvent, Marker, SourceEvent, SourceKey, Window,
};
use crate::policy::{CopyPolicy, FilterPolicy, Policy, SkipReason};
use chrono::SecondsFormat;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;

/// Number of hex characters kept from a SHA-256 digest (128 bits).
const HASH_HEX_LEN: usize = 32;

/// Deletions up to this many are always allowed by the mass-deletion guard.
pub const GUARD_MIN_DELETES: usize = 10;

/// Whether a source event passes the filter policy (see [`skip_reason`]).
pub fn is_public(ev: &SourceEvent, filter: &FilterPolicy) -> bool {
    skip_reason(ev, filter).is_none()
}

/// The first rule of the filter policy a source event fails, in this order,
/// or `None` when it is public:
///
/// - its sensitivity is listed in `filter.sensitivity`;
/// - it is not cancelled, when `filter.skip_cancelled`;
/// - when `filter.include_categories` is not empty, at least one of its
///   categories is listed there (case-insensitive);
/// - none of its categories is listed in `filter.exclude_categories`
///   (case-insensitive);
/// - its show-as is listed in `filter.show_as`, when that is set;
/// - `filter.subject_exclude`, when set, does not match its subject.
pub fn skip_reason(ev: &SourceEvent, filter: &FilterPolicy) -> Option<SkipReason> {
    if !filter.sensitivity.contains(&ev.sensitivity) {
        return Some(SkipReason::sensitivity(ev.sensitivity));
    }
    if filter.skip_cancelled && ev.is_cancelled {
        return Some(SkipReason::Cancelled);
    }
    if !filter.include_categories.is_empty()
        && !ev
            .categories
            .iter()
            .any(|c| listed(&filter.include_categories, c))
    {
        return Some(SkipReason::CategoryNotIncluded);
    }
    if ev
        .categories
        .iter()
        .any(|c| listed(&filter.exclude_categories, c))
    {
        return Some(SkipReason::CategoryExcluded);
    }
    if let Some(allowed) = &filter.show_as
        && !allowed.contains(&ev.show_as)
    {
        return Some(SkipReason::ShowAs);
    }
    if let Some(re) = &filter.subject_exclude
        && re.is_match(&ev.subject)
    {
        return Some(SkipReason::SubjectExcluded);
    }
    None
}

/// Whether `category` is in `list`, ignoring case.
fn listed(list: &[String], category: &str) -> bool {
    if list.is_empty() {
        return false;
    }
    if list.iter().any(|c| c == category) {
        return true;
    }
    let wanted = category.to_lowercase();
    list.iter()
        .any(|c| c == category || c.to_lowercase() == wanted)
}

/// The payload to write for a public event: subject, start, end, all-day flag
/// and show-as always; location, body and categories only when the copy policy
/// allows them, otherwise empty (so that an update clears them).
pub fn payload(ev: &SourceEvent, copy: &CopyPolicy) -> EventPayload {
    EventPayload {
        subject: ev.subject.clone(),
        start: ev.start,
        end: ev.end,
        is_all_day: ev.is_all_day,
        show_as: ev.show_as,
        location: if copy.location {
            ev.location.clone()
        } else {
            String::new()
        },
        body: if copy.body {
            ev.body.clone()
        } else {
            Body::default()
        },
        categories: if copy.categories {
            ev.categories.clone()
        } else {
            Vec::new()
        },
    }
}

/// An unambiguous byte string: every field is written as `<len>:<bytes>;`, so
/// no two sequences of fields give the same bytes.
struct Canonical(Vec<u8>);

impl Canonical {
    fn new(tag: &str) -> Self {
        let mut c = Canonical(Vec::with_capacity(256));
        c.field(tag);
        c
    }

    /// Writes `<len>:` for a field of `len` bytes, without allocating.
    fn header(&mut self, len: usize) {
        let mut digits = [0u8; 20];
        self.0
            .extend_from_slice(decimal(len, &mut digits).as_bytes());
        self.0.push(b':');
    }

    fn field(&mut self, s: &str) {
        self.prefixed_field("", s);
    }

    /// Writes the field `<prefix><s>`.
    fn prefixed_field(&mut self, prefix: &str, s: &str) {
        self.header(prefix.len() + s.len());
        self.0.extend_from_slice(prefix.as_bytes());
        self.0.extend_from_slice(s.as_bytes());
        self.0.push(b';');
    }

    fn time(&mut self, t: &EventTime) {
        match t {
            EventTime::Date(d) => self.prefixed_field("date ", &d.format("%Y-%m-%d").to_string()),
            EventTime::Instant(i) => {
                self.prefixed_field("instant ", &i.to_rfc3339_opts(SecondsFormat::AutoSi, true))
            }
        }
    }

    fn digest(&self) -> String {
        let digest = Sha256::digest(&self.0);
        // Two hex characters per byte.
        hex::encode(&digest[..HASH_HEX_LEN / 2])
    }
}

/// A stable hash (32 lowercase hex characters of SHA-256) of a payload's
/// canonical form: fields in a fixed order, times in a fixed textual form,
/// categories in their given order. Equal payloads give equal hashes, on every
/// run and every version that keeps the `calsync-payload/1` form.
pub fn content_hash(p: &EventPayload) -> String {
    let mut c = Canonical::new("calsync-payload/1");
    c.field(&p.subject);
    c.time(&p.start);
    c.time(&p.end);
    c.field(if p.is_all_day { "all-day" } else { "timed" });
    c.field(p.show_as.as_str());
    c.field(&p.location);
    c.field(match p.body.content_type {
        BodyType::Text => "text",
        BodyType::Html => "html",
    });
    c.field(&p.body.content);
    let mut digits = [0u8; 20];
    c.field(decimal(p.categories.len(), &mut digits));
    for cat in &p.categories {
        c.field(cat);
    }
    c.digest()
}

/// The deterministic `transactionId` of a create: a hash of `calsync`, the
/// source key, the content hash and the date of the window's start.
///
/// Retries and interrupted runs of the same day send the same id, so the server
/// creates no duplicate; a change of content or a new day gives a new id, so a
/// copy deleted by hand can be created again even if the server still remembers
/// the old id.
pub fn transaction_id(key: &SourceKey, content_hash: &str, window: &Window) -> String {
    transaction_id_on(key, content_hash, &window_day(window))
}

/// The date of the window's start, as [`transaction_id`] hashes it.
fn window_day(window: &Window) -> String {
    window.start.date_naive().format("%Y-%m-%d").to_string()
}

/// [`transaction_id`] with the window's day already formatted.
fn transaction_id_on(key: &SourceKey, content_hash: &str, day: &str) -> String {
    let mut c = Canonical::new("calsync");
    c.field(key.as_str());
    c.field(content_hash);
    c.field(day);
    c.digest()
}

/// `n` in decimal, written into `buf`.
fn decimal(n: usize, buf: &mut [u8; 20]) -> &str {
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        // `n % 10` is below 10, so the cast is lossless.
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[i..]).unwrap_or_default()
}

/// What one run should write to the target calendar.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    pub creates: Vec<Create>,
    pub updates: Vec<Update>,
    pub deletes: Vec<Delete>,
    /// Managed events in the window that are already up to date.
    pub unchanged: usize,
    /// Source events in the window that failed the filter (one per key).
    pub skipped_non_public: usize,
    /// The same events by the first rule each failed.
    pub skipped: BTreeMap<SkipReason, usize>,
    /// Managed target events inside the window (the guard's denominator).
    pub managed_in_window: usize,
    /// Deletions not planned because the source read as empty in the window.
    pub deletions_withheld: usize,
}

impl Plan {
    /// Whether the plan writes nothing.
    pub fn is_empty(&self) -> bool {
        self.writes() == 0
    }

    /// Number of writes: creates, updates and deletes.
    pub fn writes(&self) -> usize {
        self.creates.len() + self.updates.len() + self.deletes.len()
    }
}

/// Create a copy of a public source event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Create {
    pub key: SourceKey,
    pub payload: EventPayload,
    pub marker: Marker,
    pub transaction_id: String,
}

/// Rewrite a managed copy (same target id) with the desired payload and marker.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Update {
    pub target_id: String,
    pub key: SourceKey,
    pub payload: EventPayload,
    pub marker: Marker,
}

/// Delete a managed copy. `start` and `subject` are what the target shows now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delete {
    pub target_id: String,
    pub key: SourceKey,
    pub start: EventTime,
    pub subject: String,
    pub reason: DeleteReason,
}

/// Why a managed copy is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeleteReason {
    /// No source event with its key starts in the window.
    SourceGone,
    /// Its source event is in the window but does not pass the filter.
    NotPublic,
    /// Another managed copy of the same source event is kept.
    Duplicate,
}

impl DeleteReason {
    pub fn as_str(&self) -> &'static str {
        match self {
            DeleteReason::SourceGone => "source_gone",
            DeleteReason::NotPublic => "not_public",
            DeleteReason::Duplicate => "duplicate",
        }
    }
}

impl fmt::Display for DeleteReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the source says about one key in the window.
enum Desired {
    Public { payload: EventPayload, hash: String },
    NotPublic,
}

/// Whether a managed copy differs from the desired payload: a stale marker
/// hash, a hand edit of an always-copied field, or a location or category set
/// that differs. Bodies are never compared (the server rewrites them); the
/// hash covers them.
fn needs_update(m: &ManagedEvent, desired: &EventPayload, desired_hash: &str) -> bool {
    let cur = &m.current;
    m.marker.content_hash != desired_hash
        || cur.subject != desired.subject
        || cur.start != desired.start
        || cur.end != desired.end
        || cur.is_all_day != desired.is_all_day
        || cur.show_as != desired.show_as
        || cur.location != desired.location
        || (cur.categories != desired.categories
            && category_set(&cur.categories) != category_set(&desired.categories))
}

fn category_set(c: &[String]) -> BTreeSet<&str> {
    c.iter().map(String::as_str).collect()
}

fn delete(m: &ManagedEvent, reason: DeleteReason) -> Delete {
    Delete {
        target_id: m.target_id.clone(),
        key: m.marker.source_key.clone(),
        start: m.current.start,
        subject: m.current.subject.clone(),
        reason,
    }
}

/// Sort key placing times in UTC order first (a date counts as its midnight).
fn time_order(t: &EventTime) -> (chrono::DateTime<chrono::Utc>, EventTime) {
    (t.as_utc(), *t)
}

/// Decides what to write so that the target's managed events in the window
/// mirror exactly the public source events in the window (SPEC §3).
///
/// - Only source events starting in the window count; of several with one key,
///   the first is used.
/// - Only managed events whose current start is in the window are considered;
///   of several with one target id, the first is used.
/// - A public source event with no copy is created; with copies, one is kept
///   (preferring one already up to date, then the smallest target id), updated
///   if it differs, and the others are deleted as duplicates.
/// - A copy whose source is not public is deleted; one whose source is gone is
///   deleted, unless the source has no event at all in the window, in which
///   case the deletion is withheld and counted.
///
/// Output is sorted by start, then key, then target id.
pub fn plan(
    source: &[SourceEvent],
    managed: &[ManagedEvent],
    policy: &Policy,
    window: &Window,
) -> Plan {
    let mut out = Plan::default();

    // What the source wants, per key (first event of each key in the window).
    // The order of the maps does not matter: the output is sorted at the end
    // on keys that are unique per entry.
    let mut desired: HashMap<&SourceKey, Desired> = HashMap::with_capacity(source.len());
    for ev in source.iter().filter(|ev| window.contains(&ev.start)) {
        let std::collections::hash_map::Entry::Vacant(slot) = desired.entry(&ev.key) else {
            continue;
        };
        let d = if let Some(reason) = skip_reason(ev, &policy.filter) {
            out.skipped_non_public += 1;
            *out.skipped.entry(reason).or_default() += 1;
            Desired::NotPublic
        } else {
            let payload = payload(ev, &policy.copy);
            let hash = content_hash(&payload);
            Desired::Public { payload, hash }
        };
        slot.insert(d);
    }
    let source_empty = desired.is_empty();

    // The managed copies in the window, grouped by key, each group sorted by
    // target id.
    let mut seen_ids: HashSet<&str> = HashSet::with_capacity(managed.len());
    let mut groups: HashMap<&SourceKey, Vec<&ManagedEvent>> = HashMap::with_capacity(managed.len());
    for m in managed {
        if !seen_ids.insert(m.target_id.as_str()) || !window.contains(&m.current.start) {
            continue;
        }
        out.managed_in_window += 1;
        groups.entry(&m.marker.source_key).or_default().push(m);
    }
    drop(seen_ids);
    for g in groups.values_mut() {
        if g.len() > 1 {
            g.sort_by(|a, b| a.target_id.cmp(&b.target_id));
        }
    }

    let day = window_day(window);
    for (key, d) in desired {
        let copies = groups.remove(key).unwrap_or_default();
        match d {
            Desired::Public { payload, hash } => {
                // Keep one that needs no update if any, else the smallest id.
                let up_to_date = copies
                    .iter()
                    .position(|m| !needs_update(m, &payload, &hash));
                let keep = up_to_date.or((!copies.is_empty()).then_some(0));
                let Some(keep) = keep else {
                    out.creates.push(Create {
                        key: key.clone(),
                        transaction_id: transaction_id_on(key, &hash, &day),
                        payload,
                        marker: Marker {
                            source_key: key.clone(),
                            content_hash: hash,
                        },
                    });
                    continue;
                };
                for (i, m) in copies.iter().enumerate() {
                    if i != keep {
                        out.deletes.push(delete(m, DeleteReason::Duplicate));
                    } else if up_to_date.is_none() {
                        out.updates.push(Update {
                            target_id: m.target_id.clone(),
                            key: key.clone(),
                            payload: payload.clone(),
                            marker: Marker {
                                source_key: key.clone(),
                                content_hash: hash.clone(),
                            },
                        });
                    } else {
                        out.unchanged += 1;
                    }
                }
            }
            Desired::NotPublic => {
                for (i, m) in copies.iter().enumerate() {
                    let reason = if i == 0 {
                        DeleteReason::NotPublic
                    } else {
                        DeleteReason::Duplicate
                    };
                    out.deletes.push(delete(m, reason));
                }
            }
        }
    }

    // Keys with copies but no source event in the window.
    for copies in groups.values() {
        for (i, m) in copies.iter().enumerate() {
            if i > 0 {
                out.deletes.push(delete(m, DeleteReason::Duplicate));
            } else if source_empty {
                out.deletions_withheld += 1;
            } else {
                out.deletes.push(delete(m, DeleteReason::SourceGone));
            }
        }
    }

    // Every entry has a distinct key (creates), (key, target id) (updates) or
    // target id (deletes), so an unstable sort gives the one total order.
    out.creates.sort_unstable_by(|a, b| {
        (time_order(&a.payload.start), &a.key).cmp(&(time_order(&b.payload.start), &b.key))
    });
    out.updates.sort_unstable_by(|a, b| {
        (time_order(&a.payload.start), &a.key, &a.target_id).cmp(&(
            time_order(&b.payload.start),
            &b.key,
            &b.target_id,
        ))
    });
    out.deletes.sort_unstable_by(|a, b| {
        (time_order(&a.start), &a.key, &a.target_id).cmp(&(
            time_order(&b.start),
            &b.key,
            &b.target_id,
        ))
    });
    out
}

/// The mass-deletion guard refused a plan (SPEC §3 rule 6).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GuardRefusal {
    /// Deletions the plan holds.
    pub deletes: usize,
    /// Managed target events in the window.
    pub managed: usize,
    /// The configured `max_delete_fraction`.
    pub max_fraction: f64,
}

impl fmt::Display for GuardRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "refusing to sync: the run would delete {} of the {} events calsync manages in \
             the target calendar's window, more than max_delete_fraction ({}) allows, so \
             nothing was written. This usually means the source calendar was read \
             incompletely, the filter or the source calendar setting changed, or the \
             events really were removed. Check the source and the [filter] settings; if \
             the deletions are intended, run again with --force, or raise \
             max_delete_fraction.",
            self.deletes, self.managed, self.max_fraction
        )
    }
}

impl std::error::Error for GuardRefusal {}

/// The mass-deletion guard: refuses a plan that deletes more than
/// `max_fraction` of the managed events in the window and more than 10 events.
/// A fraction that is not a number refuses every plan over 10 deletions.
pub fn check_deletion_guard(plan: &Plan, max_fraction: f64) -> Result<(), GuardRefusal> {
    let deletes = plan.deletes.len();
    let managed = plan.managed_in_window;
    // Written as "not within the limit" so that a NaN fraction refuses.
    let within = (deletes as f64) <= max_fraction * (managed as f64);
    if deletes > GUARD_MIN_DELETES && !within {
        Err(GuardRefusal {
            deletes,
            managed,
            max_fraction,
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
