//! `validate`'s decision, with no I/O: does the target calendar hold exactly
//! what the source says it must?
//!
//! Its input is what the providers read over the same window `sync` uses: the
//! source events (before any filtering) and every target event carrying
//! calsync's marker, with the fields the copy policy may forbid
//! ([`InspectedCopy`]). Its output is a list of [`Problem`]s and their counts.
//!
//! The verdict inside the window is the planner's: validate runs
//! [`planner::plan`] and reads its plan as problems, so that a calendar
//! validates clean exactly when the next `sync` would write nothing there.
//!
//! | kind | meaning |
//! |---|---|
//! | `missing` | a public source event in the window has no copy (sync would create one) |
//! | `stale` | a copy differs from what its public source says (sync would update it) |
//! | `orphan` | a copy in the window whose source event is gone from the window (sync would delete it; also reported when the source reads as empty, where sync withholds deletions) |
//! | `duplicate` | a further copy of a public source event that already has one |
//! | `leak` | a copy whose source event is not public, or a copy holding a field the copy policy forbids: `body`, `location` (unless `copy.body` / `copy.location`), `attendees`, `online_meeting` |
//! | `out_of_window` | a copy that starts outside the window, where sync never touches it, although it is not an ordinary past copy (see below) |
//!
//! **`out_of_window`.** A sync leaves copies outside the window alone,
//! so a copy in the past whose source is no longer read is normal and never
//! reported. A copy outside the window *is* reported when
//!
//! - its source event starts inside the window and is public: the source was
//!   moved into the window (or the copy was moved out of it by hand). Sync keeps
//!   or creates a copy at the right time and never removes this one, so the
//!   public calendar shows the event twice, once at the wrong time. (When that
//!   source is not public, the copy is reported as a `leak` instead.)
//! - it starts after the window's end: no run creates such a copy, so it is
//!   left over from a larger `cutoff_days` or was moved by hand, and sync will
//!   not look at it until the window reaches it.
//!
//! **Field leaks.** Attendees and online-meeting data are never allowed, on any
//! copy, wherever it lies. A body or a location is a leak only on copies in the
//! window and only when the copy policy forbids it: copies in the past may keep
//! what an earlier, looser policy allowed, since sync leaves them alone. A copy
//! whose only difference from its source is a forbidden location is reported
//! once, as a `leak`, not also as `stale`.
//!
//! **Privacy.** A problem names the event by its start and subject; the subject
//! is `None` whenever the source event is not public. No body, location or
//! attendee is ever copied into a problem: only the names of the fields.

use crate::model::{EventPayload, EventTime, ManagedEvent, SourceEvent, SourceKey, Window};
use crate::planner::{self, DeleteReason};
use crate::policy::Policy;
use crate::provider::InspectedCopy;
use serde::{Serialize, Serializer};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;

/// The kinds of problem, in the order reports list them within one start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    Leak,
    Missing,
    Stale,
    Orphan,
    Duplicate,
    OutOfWindow,
}

impl ProblemKind {
    pub const ALL: [ProblemKind; 6] = [
        ProblemKind::Missing,
        ProblemKind::Stale,
        ProblemKind::Orphan,
        ProblemKind::Duplicate,
        ProblemKind::Leak,
        ProblemKind::OutOfWindow,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            ProblemKind::Missing => "missing",
            ProblemKind::Stale => "stale",
            ProblemKind::Orphan => "orphan",
            ProblemKind::Duplicate => "duplicate",
            ProblemKind::Leak => "leak",
            ProblemKind::OutOfWindow => "out_of_window",
        }
    }
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem found in the target calendar.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    pub kind: ProblemKind,
    /// When the event starts: the source's start for `missing` and `stale`,
    /// the copy's start otherwise. Serialised as `YYYY-MM-DD` for all-day
    /// events and `YYYY-MM-DDTHH:MM:SSZ` for timed ones.
    #[serde(serialize_with = "serialize_start")]
    pub start: EventTime,
    /// The event's subject; `None` when the source event is not public.
    pub subject: Option<String>,
    /// For `stale`: the fields that differ; for `leak`: the forbidden fields
    /// the copy holds (`body`, `location`, `attendees`, `online_meeting`).
    /// Empty otherwise.
    pub fields: Vec<&'static str>,
    /// One sentence for the operator. Holds no private data.
    pub detail: String,
    /// The target calendar's id of the copy concerned; `None` for `missing`.
    pub target_id: Option<String>,
}

fn serialize_start<S: Serializer>(t: &EventTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&start_text(t))
}

/// A start as machines read it: `YYYY-MM-DD` (all-day) or RFC 3339 in UTC.
pub fn start_text(t: &EventTime) -> String {
    match t {
        EventTime::Date(d) => d.format("%Y-%m-%d").to_string(),
        EventTime::Instant(i) => i.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    }
}

/// How many problems of each kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProblemCounts {
    pub missing: usize,
    pub stale: usize,
    pub orphan: usize,
    pub duplicate: usize,
    pub leak: usize,
    pub out_of_window: usize,
    pub total: usize,
}

impl ProblemCounts {
    pub fn of(problems: &[Problem]) -> Self {
        let mut c = ProblemCounts::default();
        for p in problems {
            *c.slot(p.kind) += 1;
            c.total += 1;
        }
        c
    }

    fn slot(&mut self, kind: ProblemKind) -> &mut usize {
        match kind {
            ProblemKind::Missing => &mut self.missing,
            ProblemKind::Stale => &mut self.stale,
            ProblemKind::Orphan => &mut self.orphan,
            ProblemKind::Duplicate => &mut self.duplicate,
            ProblemKind::Leak => &mut self.leak,
            ProblemKind::OutOfWindow => &mut self.out_of_window,
        }
    }

    pub fn get(&self, kind: ProblemKind) -> usize {
        let mut c = self.clone();
        *c.slot(kind)
    }

    /// `2 problems: 1 missing, 1 leak`, or `no problems`.
    pub fn summary(&self) -> String {
        if self.total == 0 {
            return "no problems".to_string();
        }
        let parts: Vec<String> = ProblemKind::ALL
            .iter()
            .filter(|k| self.get(**k) > 0)
            .map(|k| format!("{} {k}", self.get(*k)))
            .collect();
        format!(
            "{} problem{}: {}",
            self.total,
            if self.total == 1 { "" } else { "s" },
            parts.join(", ")
        )
    }
}

/// What was looked at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Checked {
    /// Source events starting in the window that pass the filter (one per key).
    pub public_source_events: usize,
    /// Source events starting in the window that do not (one per key).
    pub non_public_source_events: usize,
    /// Managed target events read, wherever they lie.
    pub managed_copies: usize,
    /// Managed target events starting in the window.
    pub managed_in_window: usize,
}

/// The verdict.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Validation {
    /// Sorted by start, then kind, then target id.
    pub problems: Vec<Problem>,
    pub counts: ProblemCounts,
    pub checked: Checked,
}

impl Validation {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// What the source says about a key in the window.
enum SourceState {
    Public(EventPayload),
    NotPublic,
}

/// The fields of `cur` that differ from `desired`, as the planner compares
/// them; `content_hash` when only the marker's hash differs (a change in a
/// field the target does not show back, such as the body).
fn differing_fields(copy: &ManagedEvent, desired: &EventPayload) -> Vec<&'static str> {
    let cur = &copy.current;
    let mut f = Vec::new();
    if cur.subject != desired.subject {
        f.push("subject");
    }
    if cur.start != desired.start {
        f.push("start");
    }
    if cur.end != desired.end {
        f.push("end");
    }
    if cur.is_all_day != desired.is_all_day {
        f.push("all_day");
    }
    if cur.show_as != desired.show_as {
        f.push("show_as");
    }
    if cur.location != desired.location {
        f.push("location");
    }
    let set = |c: &[String]| c.iter().cloned().collect::<BTreeSet<String>>();
    if set(&cur.categories) != set(&desired.categories) {
        f.push("categories");
    }
    if f.is_empty() && copy.marker.content_hash != planner::content_hash(desired) {
        f.push("content_hash");
    }
    f
}

/// The forbidden fields a copy holds. `in_window` decides whether the
/// policy-governed fields (body, location) are checked.
fn forbidden_fields(c: &InspectedCopy, policy: &Policy, in_window: bool) -> Vec<&'static str> {
    let mut f = Vec::new();
    if in_window && !policy.copy.body && c.has_body {
        f.push("body");
    }
    if in_window && !policy.copy.location && !c.managed.current.location.trim().is_empty() {
        f.push("location");
    }
    if c.attendees > 0 {
        f.push("attendees");
    }
    if c.online_meeting {
        f.push("online_meeting");
    }
    f
}

/// A leak found on one copy, before it becomes a problem.
#[derive(Default)]
struct LeakNote {
    /// Why its source is not public, when that is the reason.
    not_public: Option<&'static str>,
    fields: Vec<&'static str>,
}

/// Checks the target against the source over `window` with `policy`.
pub fn validate(
    source: &[SourceEvent],
    target: &[InspectedCopy],
    policy: &Policy,
    window: &Window,
) -> Validation {
    // What the source says, per key (the first event of each key in the
    // window, as the planner does).
    let mut sources: BTreeMap<&SourceKey, SourceState> = BTreeMap::new();
    let mut checked = Checked::default();
    for ev in source.iter().filter(|ev| window.contains(&ev.start)) {
        if let Some(state) = sources.get_mut(&ev.key) {
            // As the planner: a later event of the key that fails the filter
            // makes it not public.
            if matches!(state, SourceState::Public(_)) && !planner::is_public(ev, &policy.filter) {
                *state = SourceState::NotPublic;
                checked.public_source_events = checked.public_source_events.saturating_sub(1);
                checked.non_public_source_events += 1;
            }
            continue;
        }
        let state = if planner::is_public(ev, &policy.filter) {
            checked.public_source_events += 1;
            SourceState::Public(planner::payload(ev, &policy.copy))
        } else {
            checked.non_public_source_events += 1;
            SourceState::NotPublic
        };
        sources.insert(&ev.key, state);
    }

    // The copies, first of each target id (as the planner does).
    let mut seen = HashSet::new();
    let copies: Vec<&InspectedCopy> = target
        .iter()
        .filter(|c| seen.insert(c.managed.target_id.as_str()))
        .collect();
    let by_id: HashMap<&str, &InspectedCopy> = copies
        .iter()
        .map(|c| (c.managed.target_id.as_str(), *c))
        .collect();
    checked.managed_copies = copies.len();

    let managed: Vec<ManagedEvent> = copies.iter().map(|c| c.managed.clone()).collect();
    let plan = planner::plan(source, &managed, policy, window);
    checked.managed_in_window = plan.managed_in_window;

    let public_subject = |key: &SourceKey| match sources.get(key) {
        Some(SourceState::Public(p)) => Some(p.subject.clone()),
        _ => None,
    };

    let mut problems = Vec::new();
    let mut leaks: BTreeMap<&str, LeakNote> = BTreeMap::new();

    // Field leaks, on every copy.
    for c in &copies {
        let in_window = window.contains(&c.managed.current.start);
        let fields = forbidden_fields(c, policy, in_window);
        if !fields.is_empty() {
            leaks
                .entry(c.managed.target_id.as_str())
                .or_default()
                .fields = fields;
        }
    }

    for create in &plan.creates {
        problems.push(Problem {
            kind: ProblemKind::Missing,
            start: create.payload.start,
            subject: Some(create.payload.subject.clone()),
            fields: Vec::new(),
            detail: "this public source event has no copy in the target calendar".to_string(),
            target_id: None,
        });
    }

    for update in &plan.updates {
        let Some(copy) = by_id.get(update.target_id.as_str()) else {
            continue;
        };
        let fields = differing_fields(&copy.managed, &update.payload);
        let leaked = leaks
            .get(update.target_id.as_str())
            .map(|l| l.fields.as_slice())
            .unwrap_or_default();
        if !fields.is_empty() && fields.iter().all(|f| leaked.contains(f)) {
            // Reported as a leak; nothing else differs.
            continue;
        }
        let detail = if fields.contains(&"start") {
            format!(
                "the copy differs from its source in: {}; the copy starts at {}",
                fields.join(", "),
                copy.managed.current.start
            )
        } else {
            format!("the copy differs from its source in: {}", fields.join(", "))
        };
        problems.push(Problem {
            kind: ProblemKind::Stale,
            start: update.payload.start,
            subject: Some(update.payload.subject.clone()),
            fields,
            detail,
            target_id: Some(update.target_id.clone()),
        });
    }

    let mut planned_deletes = HashSet::new();
    for d in &plan.deletes {
        planned_deletes.insert(d.target_id.as_str());
        let state = sources.get(&d.key);
        match (d.reason, state) {
            (DeleteReason::NotPublic, _)
            | (DeleteReason::Duplicate, Some(SourceState::NotPublic)) => {
                leaks.entry(d.target_id.as_str()).or_default().not_public =
                    Some("its source event is not public");
            }
            (DeleteReason::Duplicate, Some(SourceState::Public(p))) => problems.push(Problem {
                kind: ProblemKind::Duplicate,
                start: d.start,
                subject: Some(p.subject.clone()),
                fields: Vec::new(),
                detail: "another copy of the same source event is kept; this one is extra"
                    .to_string(),
                target_id: Some(d.target_id.clone()),
            }),
            (DeleteReason::SourceGone, _) | (DeleteReason::Duplicate, None) => {
                problems.push(orphan(d.start, &d.subject, &d.target_id));
            }
        }
    }
    // Copies whose deletion the planner withheld because the source read as
    // empty: orphans all the same.
    if plan.deletions_withheld > 0 {
        for c in &copies {
            let m = &c.managed;
            if window.contains(&m.current.start) && !planned_deletes.contains(m.target_id.as_str())
            {
                problems.push(orphan(m.current.start, &m.current.subject, &m.target_id));
            }
        }
    }

    // Copies outside the window that sync will never reconcile.
    for c in &copies {
        let m = &c.managed;
        if window.contains(&m.current.start) {
            continue;
        }
        match sources.get(&m.marker.source_key) {
            Some(SourceState::Public(p)) => problems.push(Problem {
                kind: ProblemKind::OutOfWindow,
                start: m.current.start,
                subject: Some(p.subject.clone()),
                fields: Vec::new(),
                detail: format!(
                    "the copy starts outside the window, where sync never touches it, while \
                     its source starts inside it at {}; the event shows twice",
                    p.start
                ),
                target_id: Some(m.target_id.clone()),
            }),
            Some(SourceState::NotPublic) => {
                leaks.entry(m.target_id.as_str()).or_default().not_public = Some(
                    "its source event is not public, and the copy starts outside the window, \
                     where sync never removes it",
                );
            }
            None if m.current.start.as_utc() > window.end => problems.push(Problem {
                kind: ProblemKind::OutOfWindow,
                start: m.current.start,
                subject: Some(m.current.subject.clone()),
                fields: Vec::new(),
                detail: "the copy starts after the window's end, where no run creates copies \
                         (a larger cutoff_days made it, or it was moved by hand); sync leaves it \
                         alone until the window reaches it"
                    .to_string(),
                target_id: Some(m.target_id.clone()),
            }),
            None => {} // An ordinary past copy.
        }
    }

    for (id, note) in leaks {
        let Some(copy) = by_id.get(id) else {
            continue;
        };
        let m = &copy.managed;
        let subject = if note.not_public.is_some() {
            None
        } else {
            public_subject(&m.marker.source_key).or_else(|| {
                // The source is not read (outside the window or gone): the
                // copy's own subject is what the public calendar shows.
                (!sources.contains_key(&m.marker.source_key)).then(|| m.current.subject.clone())
            })
        };
        let mut reasons = Vec::new();
        if let Some(r) = note.not_public {
            reasons.push(r.to_string());
        }
        if !note.fields.is_empty() {
            reasons.push(format!(
                "the copy holds fields the copy policy forbids: {}",
                note.fields.join(", ")
            ));
        }
        problems.push(Problem {
            kind: ProblemKind::Leak,
            start: m.current.start,
            subject,
            fields: note.fields,
            detail: reasons.join("; "),
            target_id: Some(id.to_string()),
        });
    }

    problems.sort_by(|a, b| {
        (a.start.as_utc(), a.start, a.kind, &a.target_id, &a.subject).cmp(&(
            b.start.as_utc(),
            b.start,
            b.kind,
            &b.target_id,
            &b.subject,
        ))
    });
    Validation {
        counts: ProblemCounts::of(&problems),
        problems,
        checked,
    }
}

fn orphan(start: EventTime, subject: &str, target_id: &str) -> Problem {
    Problem {
        kind: ProblemKind::Orphan,
        start,
        subject: Some(subject.to_string()),
        fields: Vec::new(),
        detail: "no source event with this copy's key starts in the window".to_string(),
        target_id: Some(target_id.to_string()),
    }
}

#[cfg(test)]
mod tests;
