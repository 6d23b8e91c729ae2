//! The planner: decides, with no I/O, what to create, update and delete in the
//! target calendar so that it mirrors the public source events of the window
//! (README, "How a sync decides").
//!
//! Its input is what the providers read: the source events (before any
//! filtering) and the target events that carry calsync's marker. Its output is a
//! [`Plan`] that holds only payloads built from public events, the keys, and
//! what the target already shows; a [`SourceEvent`] never leaves this module.

use crate::model::{
    Body, BodyType, EventPayload, EventTime, ManagedEvent, Marker, ShowAs, SourceEvent, SourceKey,
    Window,
};
use crate::policy::{CopyPolicy, Policy, SkipReason};
// The filter rule is part of the policy; the planner applies it.
pub use crate::policy::{is_public, skip_reason};
use chrono::{Datelike, SecondsFormat, Timelike};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;

/// Number of hex characters kept from a SHA-256 digest (128 bits).
const HASH_HEX_LEN: usize = 32;

/// Deletions up to this many are always allowed by the mass-deletion guard.
pub const GUARD_MIN_DELETES: usize = 10;

/// The payload to write for a public event: subject, start, end, all-day flag
/// and show-as always; location, body and categories only when the copy policy
/// allows them, otherwise empty (so that an update clears them).
pub fn payload(ev: &SourceEvent, copy: &CopyPolicy) -> EventPayload {
    PayloadRef::of_source(ev, copy).to_payload()
}

/// What the target holds once a plan is applied: each public source event
/// in the window (the first event of a key decides, and a later one of the
/// key that fails the filter makes it not public, as in [`plan`]) as its
/// copy's payload, by key. Sorted by key.
pub fn public_payloads(
    source: &[SourceEvent],
    policy: &Policy,
    window: &Window,
) -> Vec<(SourceKey, EventPayload)> {
    let mut first: BTreeMap<&str, Option<&SourceEvent>> = BTreeMap::new();
    for ev in source.iter().filter(|ev| window.contains(&ev.start)) {
        let public = skip_reason(ev, &policy.filter).is_none();
        match first.entry(ev.key.as_str()) {
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(public.then_some(ev));
            }
            std::collections::btree_map::Entry::Occupied(mut seen) => {
                if !public {
                    seen.insert(None);
                }
            }
        }
    }
    first
        .into_values()
        .flatten()
        .map(|ev| (ev.key.clone(), payload(ev, &policy.copy)))
        .collect()
}

/// The fields of a payload, borrowed: what [`payload`] would copy out of a
/// source event, or what an [`EventPayload`] holds. The planner hashes and
/// compares these, and copies strings only for the events it writes.
#[derive(Clone, Copy)]
struct PayloadRef<'a> {
    subject: &'a str,
    start: EventTime,
    end: EventTime,
    is_all_day: bool,
    show_as: ShowAs,
    location: &'a str,
    body_type: BodyType,
    body: &'a str,
    categories: &'a [String],
}

impl<'a> PayloadRef<'a> {
    /// The fields `copy` lets through, the others empty (see [`payload`]).
    fn of_source(ev: &'a SourceEvent, copy: &CopyPolicy) -> Self {
        let (body_type, body) = if copy.body {
            (ev.body.content_type, ev.body.content.as_str())
        } else {
            (BodyType::default(), "")
        };
        PayloadRef {
            subject: &ev.subject,
            start: ev.start,
            end: ev.end,
            is_all_day: ev.is_all_day,
            show_as: ev.show_as,
            location: if copy.location { &ev.location } else { "" },
            body_type,
            body,
            categories: if copy.categories { &ev.categories } else { &[] },
        }
    }

    fn of_payload(p: &'a EventPayload) -> Self {
        PayloadRef {
            subject: &p.subject,
            start: p.start,
            end: p.end,
            is_all_day: p.is_all_day,
            show_as: p.show_as,
            location: &p.location,
            body_type: p.body.content_type,
            body: &p.body.content,
            categories: &p.categories,
        }
    }

    fn to_payload(self) -> EventPayload {
        EventPayload {
            subject: self.subject.to_owned(),
            start: self.start,
            end: self.end,
            is_all_day: self.is_all_day,
            show_as: self.show_as,
            location: self.location.to_owned(),
            body: Body {
                content_type: self.body_type,
                content: self.body.to_owned(),
            },
            categories: self.categories.to_vec(),
        }
    }
}

/// A hash as lowercase hex, before it becomes a `String`.
type Hex = [u8; HASH_HEX_LEN];

fn hex_string(h: &Hex) -> String {
    // Hex digits are ASCII, so the conversion cannot fail.
    String::from_utf8(h.to_vec()).unwrap_or_default()
}

/// An unambiguous byte string: every field is written as `<len>:<bytes>;`, so
/// no two sequences of fields give the same bytes. One buffer serves any number
/// of hashes in turn.
struct Canonical(Vec<u8>);

impl Canonical {
    fn new() -> Self {
        Canonical(Vec::with_capacity(256))
    }

    /// Starts a new byte string with the field `tag`.
    fn start(&mut self, tag: &str) {
        self.0.clear();
        self.field(tag);
    }

    /// Writes `<len>:` for a field of `len` bytes, without allocating.
    fn header(&mut self, len: usize) {
        let mut digits = [0u8; 20];
        self.0.extend_from_slice(decimal(len, &mut digits));
        self.0.push(b':');
    }

    fn field(&mut self, s: &str) {
        self.prefixed_field(b"", s.as_bytes());
    }

    /// Writes the field `<prefix><s>`.
    fn prefixed_field(&mut self, prefix: &[u8], s: &[u8]) {
        self.header(prefix.len() + s.len());
        self.0.extend_from_slice(prefix);
        self.0.extend_from_slice(s);
        self.0.push(b';');
    }

    /// Writes `date YYYY-MM-DD` or `instant <RFC 3339 in UTC>`, the text chrono
    /// gives for `%Y-%m-%d` and `to_rfc3339_opts(AutoSi, true)`.
    fn time(&mut self, t: &EventTime) {
        let mut text = TimeText::default();
        match t {
            EventTime::Date(d) => {
                if text.date(d) {
                    self.prefixed_field(b"date ", text.as_bytes());
                } else {
                    let text = d.format("%Y-%m-%d").to_string();
                    self.prefixed_field(b"date ", text.as_bytes());
                }
            }
            EventTime::Instant(i) => {
                if text.instant(i) {
                    self.prefixed_field(b"instant ", text.as_bytes());
                } else {
                    let text = i.to_rfc3339_opts(SecondsFormat::AutoSi, true);
                    self.prefixed_field(b"instant ", text.as_bytes());
                }
            }
        }
    }

    /// The first [`HASH_HEX_LEN`] lowercase hex characters of the SHA-256 of
    /// the bytes written.
    fn digest(&self) -> Hex {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let digest = Sha256::digest(&self.0);
        let mut hex = [0u8; HASH_HEX_LEN];
        // Two hex characters per byte.
        for (pair, byte) in hex.chunks_exact_mut(2).zip(digest.iter()) {
            pair[0] = DIGITS[usize::from(byte >> 4)];
            pair[1] = DIGITS[usize::from(byte & 0xf)];
        }
        hex
    }

    /// See [`content_hash`].
    fn content_hash(&mut self, p: &PayloadRef<'_>) -> Hex {
        self.start("calsync-payload/1");
        self.field(p.subject);
        self.time(&p.start);
        self.time(&p.end);
        self.field(if p.is_all_day { "all-day" } else { "timed" });
        self.field(p.show_as.as_str());
        self.field(p.location);
        self.field(match p.body_type {
            BodyType::Text => "text",
            BodyType::Html => "html",
        });
        self.field(p.body);
        let mut digits = [0u8; 20];
        self.prefixed_field(b"", decimal(p.categories.len(), &mut digits));
        for cat in p.categories {
            self.field(cat);
        }
        self.digest()
    }
}

/// A date or an instant as text, written on the stack: `YYYY-MM-DD` and
/// `YYYY-MM-DDTHH:MM:SS[.fff|.ffffff|.fffffffff]Z`, exactly as chrono writes
/// them for years 0 to 9999 (the only ones handled here).
#[derive(Default)]
struct TimeText {
    buf: [u8; 32],
    len: usize,
}

impl TimeText {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    fn byte(&mut self, b: u8) {
        self.buf[self.len] = b;
        self.len += 1;
    }

    /// `n` with `width` digits, zero-padded; `n` has no more digits than that.
    fn digits(&mut self, n: u32, width: usize) {
        let mut n = n;
        for i in (0..width).rev() {
            // `n % 10` is below 10, so the cast is lossless.
            self.buf[self.len + i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
        self.len += width;
    }

    /// Writes `YYYY-MM-DD`; false, writing nothing, for a year outside 0–9999.
    fn date(&mut self, d: &chrono::NaiveDate) -> bool {
        let Ok(year) = u32::try_from(d.year()) else {
            return false;
        };
        if year > 9999 {
            return false;
        }
        self.digits(year, 4);
        self.byte(b'-');
        self.digits(d.month(), 2);
        self.byte(b'-');
        self.digits(d.day(), 2);
        true
    }

    /// Writes the instant as RFC 3339 with `Z` and as many fraction digits as
    /// it needs (none, 3, 6 or 9); a leap second reads as second 60. False,
    /// writing nothing, for a year outside 0–9999.
    fn instant(&mut self, t: &chrono::DateTime<chrono::Utc>) -> bool {
        let t = t.naive_utc();
        if !self.date(&t.date()) {
            return false;
        }
        self.byte(b'T');
        let mut sec = t.second();
        let mut nano = t.nanosecond();
        if nano >= 1_000_000_000 {
            sec += 1;
            nano -= 1_000_000_000;
        }
        self.digits(t.hour(), 2);
        self.byte(b':');
        self.digits(t.minute(), 2);
        self.byte(b':');
        self.digits(sec, 2);
        if nano != 0 {
            self.byte(b'.');
            if nano.is_multiple_of(1_000_000) {
                self.digits(nano / 1_000_000, 3);
            } else if nano.is_multiple_of(1_000) {
                self.digits(nano / 1_000, 6);
            } else {
                self.digits(nano, 9);
            }
        }
        self.byte(b'Z');
        true
    }
}

/// A stable hash (32 lowercase hex characters of SHA-256) of a payload's
/// canonical form: fields in a fixed order, times in a fixed textual form,
/// categories in their given order. Equal payloads give equal hashes, on every
/// run and every version that keeps the `calsync-payload/1` form.
pub fn content_hash(p: &EventPayload) -> String {
    hex_string(&Canonical::new().content_hash(&PayloadRef::of_payload(p)))
}

/// `n` in decimal, written into `buf`.
fn decimal(n: usize, buf: &mut [u8; 20]) -> &[u8] {
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
    &buf[i..]
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
#[derive(Clone, Copy)]
enum Wanted<'a> {
    /// The first source event of the key passes the filter.
    Public(&'a SourceEvent),
    NotPublic,
    /// No source event of the key starts in the window.
    Gone,
}

/// One key: what the source wants, and its managed copies in the window.
struct Group<'a> {
    wanted: Wanted<'a>,
    /// The last of its copies in [`plan`]'s chain of copies, or [`NO_COPY`].
    last_copy: usize,
}

const NO_COPY: usize = usize::MAX;

/// Hash maps keyed by ids read from the calendars: keys are short and the
/// tables large, so SipHash's cost shows. The seed is random per process.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
type FastSet<K> = HashSet<K, foldhash::fast::RandomState>;

/// Whether a managed copy differs from the desired payload: a stale marker
/// hash, a hand edit of an always-copied field, or a location or category set
/// that differs. Bodies are never compared (the server rewrites them); the
/// hash covers them.
fn needs_update(m: &ManagedEvent, desired: &PayloadRef<'_>, desired_hash: &Hex) -> bool {
    let cur = &m.current;
    m.marker.content_hash.as_bytes() != desired_hash
        || cur.subject != desired.subject
        || cur.start != desired.start
        || cur.end != desired.end
        || cur.is_all_day != desired.is_all_day
        || cur.show_as != desired.show_as
        || cur.location != desired.location
        || (cur.categories != desired.categories
            && category_set(&cur.categories) != category_set(desired.categories))
}

fn category_set(c: &[String]) -> BTreeSet<&str> {
    c.iter().map(String::as_str).collect()
}

/// Sort key placing times in UTC order first (a date counts as its midnight).
type TimeOrder = (chrono::DateTime<chrono::Utc>, EventTime);

fn time_order(t: &EventTime) -> TimeOrder {
    (t.as_utc(), *t)
}

/// A create or an update decided, built once the order is known.
struct PendingWrite<'a> {
    order: TimeOrder,
    source: &'a SourceEvent,
    hash: Hex,
    /// The copy to update; none for a create.
    copy: Option<&'a ManagedEvent>,
}

impl<'a> PendingWrite<'a> {
    /// The id of the copy an update rewrites.
    fn target_id(&self) -> Option<&'a str> {
        self.copy.map(|m| m.target_id.as_str())
    }
}

/// A delete decided, built once the order is known.
struct PendingDelete<'a> {
    order: TimeOrder,
    copy: &'a ManagedEvent,
    reason: DeleteReason,
}

impl<'a> PendingDelete<'a> {
    fn new(copy: &'a ManagedEvent, reason: DeleteReason) -> Self {
        PendingDelete {
            order: time_order(&copy.current.start),
            copy,
            reason,
        }
    }

    fn to_delete(&self) -> Delete {
        let m = self.copy;
        Delete {
            target_id: m.target_id.clone(),
            key: m.marker.source_key.clone(),
            start: m.current.start,
            subject: m.current.subject.clone(),
            reason: self.reason,
        }
    }
}

/// Decides what to write so that the target's managed events in the window
/// mirror exactly the public source events in the window.
///
/// - Only source events starting in the window count; of several with one key,
///   the first gives the content, and the key is public only if every one of
///   them passes the filter (a source may give other readings of an event it
///   has doubts about, see [`crate::ics`]).
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

    // One group per key, first those of the source events in the window (the
    // first event of each key decides), then those only copies have. The
    // order of the groups does not matter: the output is sorted at the end on
    // keys that are unique per entry.
    let mut group_of: FastMap<&str, usize> = FastMap::default();
    group_of.reserve(source.len());
    let mut groups: Vec<Group<'_>> = Vec::with_capacity(source.len());
    for ev in source.iter().filter(|ev| window.contains(&ev.start)) {
        let slot = match group_of.entry(ev.key.as_str()) {
            std::collections::hash_map::Entry::Vacant(slot) => slot,
            std::collections::hash_map::Entry::Occupied(seen) => {
                // A later event of the key that fails makes it not public.
                if let Some(group) = groups.get_mut(*seen.get())
                    && matches!(group.wanted, Wanted::Public(_))
                    && let Some(reason) = skip_reason(ev, &policy.filter)
                {
                    group.wanted = Wanted::NotPublic;
                    out.skipped_non_public += 1;
                    *out.skipped.entry(reason).or_default() += 1;
                }
                continue;
            }
        };
        slot.insert(groups.len());
        let wanted = if let Some(reason) = skip_reason(ev, &policy.filter) {
            out.skipped_non_public += 1;
            *out.skipped.entry(reason).or_default() += 1;
            Wanted::NotPublic
        } else {
            Wanted::Public(ev)
        };
        groups.push(Group {
            wanted,
            last_copy: NO_COPY,
        });
    }
    let source_empty = groups.is_empty();

    // The managed copies in the window, chained per group: each entry holds
    // the index of the group's previous copy.
    let mut seen_ids: FastSet<&str> = FastSet::default();
    seen_ids.reserve(managed.len());
    let mut copies: Vec<(usize, &ManagedEvent)> = Vec::with_capacity(managed.len());
    for m in managed {
        if !seen_ids.insert(m.target_id.as_str()) || !window.contains(&m.current.start) {
            continue;
        }
        out.managed_in_window += 1;
        let g = *group_of
            .entry(m.marker.source_key.as_str())
            .or_insert_with(|| {
                groups.push(Group {
                    wanted: Wanted::Gone,
                    last_copy: NO_COPY,
                });
                groups.len() - 1
            });
        if let Some(group) = groups.get_mut(g) {
            copies.push((group.last_copy, m));
            group.last_copy = copies.len() - 1;
        }
    }
    drop(seen_ids);
    drop(group_of);

    let mut canonical = Canonical::new();
    let mut writes: Vec<PendingWrite<'_>> = Vec::new();
    let mut deletes: Vec<PendingDelete<'_>> = Vec::new();
    // The copies of one group, sorted by target id.
    let mut group: Vec<&ManagedEvent> = Vec::new();
    for g in &groups {
        group.clear();
        let mut at = g.last_copy;
        while let Some(&(previous, m)) = copies.get(at) {
            group.push(m);
            at = previous;
        }
        // Target ids are unique here (the first of each was kept).
        group.sort_unstable_by(|a, b| a.target_id.cmp(&b.target_id));
        match g.wanted {
            Wanted::Public(ev) => {
                let desired = PayloadRef::of_source(ev, &policy.copy);
                let hash = canonical.content_hash(&desired);
                // Keep one that needs no update if any, else the smallest id.
                let up_to_date = group.iter().position(|m| !needs_update(m, &desired, &hash));
                let Some(keep) = up_to_date.or((!group.is_empty()).then_some(0)) else {
                    writes.push(PendingWrite {
                        order: time_order(&ev.start),
                        source: ev,
                        hash,
                        copy: None,
                    });
                    continue;
                };
                for (i, &m) in group.iter().enumerate() {
                    if i != keep {
                        deletes.push(PendingDelete::new(m, DeleteReason::Duplicate));
                    } else if up_to_date.is_none() {
                        writes.push(PendingWrite {
                            order: time_order(&ev.start),
                            source: ev,
                            hash,
                            copy: Some(m),
                        });
                    } else {
                        out.unchanged += 1;
                    }
                }
            }
            Wanted::NotPublic => {
                for (i, &m) in group.iter().enumerate() {
                    let reason = if i == 0 {
                        DeleteReason::NotPublic
                    } else {
                        DeleteReason::Duplicate
                    };
                    deletes.push(PendingDelete::new(m, reason));
                }
            }
            Wanted::Gone => {
                for (i, &m) in group.iter().enumerate() {
                    if i > 0 {
                        deletes.push(PendingDelete::new(m, DeleteReason::Duplicate));
                    } else if source_empty {
                        out.deletions_withheld += 1;
                    } else {
                        deletes.push(PendingDelete::new(m, DeleteReason::SourceGone));
                    }
                }
            }
        }
    }
    drop(groups);
    drop(copies);

    // Every entry has a distinct key (creates), (key, target id) (updates) or
    // target id (deletes), so an unstable sort gives the one total order. The
    // entries are sorted before they are built, so that the sort moves small
    // records.
    writes.sort_unstable_by(|a, b| {
        (&a.order, &a.source.key, a.target_id()).cmp(&(&b.order, &b.source.key, b.target_id()))
    });
    deletes.sort_unstable_by(|a, b| {
        (&a.order, &a.copy.marker.source_key, &a.copy.target_id).cmp(&(
            &b.order,
            &b.copy.marker.source_key,
            &b.copy.target_id,
        ))
    });

    let updates = writes.iter().filter(|w| w.copy.is_some()).count();
    out.creates.reserve_exact(writes.len() - updates);
    out.updates.reserve_exact(updates);
    for w in &writes {
        let payload = PayloadRef::of_source(w.source, &policy.copy).to_payload();
        let key = &w.source.key;
        let marker = Marker {
            source_key: key.clone(),
            content_hash: hex_string(&w.hash),
        };
        match w.copy {
            None => out.creates.push(Create {
                key: key.clone(),
                payload,
                marker,
            }),
            Some(m) => out.updates.push(Update {
                target_id: m.target_id.clone(),
                key: key.clone(),
                payload,
                marker,
            }),
        }
    }
    out.deletes = deletes.iter().map(PendingDelete::to_delete).collect();
    out
}

/// The mass-deletion guard refused a plan.
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
