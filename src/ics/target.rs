//! The target `.ics` file: reading calsync's copies back, applying a plan,
//! and rendering the file (no I/O).

use super::doc::{Comp, Document};
use super::source::{Timing, show_as};
use super::text::{escape_text, fold, html_to_text, split_text_list};
use super::time::{Written, midnight, parse_written};
use super::tz::Zones;
use super::{IcsError, PRODID};
use crate::model::{
    Body, BodyType, EventPayload, EventTime, ManagedEvent, Marker, ShowAs, SourceKey, Window,
};
use crate::planner::Plan;
use crate::provider::InspectedCopy;
use crate::provider::{Applied, ApplyReport, WriteFailure};
use chrono::{DateTime, Datelike, Duration, NaiveDate, SubsecRound, Utc};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};

/// The property holding a copy's source key: calsync's ownership marker.
pub(crate) const SOURCE_KEY: &str = "X-CALSYNC-SOURCE-KEY";
/// The property holding the hash of the payload calsync wrote.
pub(crate) const CONTENT_HASH: &str = "X-CALSYNC-CONTENT-HASH";
/// The show-as of a copy, written only when iCalendar has no word for it
/// (`unknown`).
const SHOW_AS: &str = "X-CALSYNC-SHOW-AS";

/// Calendar properties calsync writes itself; every other one is kept.
const OWN_CALENDAR_PROPERTIES: [&str; 5] =
    ["VERSION", "PRODID", "CALSCALE", "METHOD", "X-WR-CALNAME"];

/// The `UID` of the copy of a source event: 32 hex characters of a SHA-256
/// of the key, then `@calsync`. The same key always gives the same `UID`,
/// so a subscriber sees a changed event as an update.
pub fn copy_uid(key: &SourceKey) -> String {
    let mut h = Sha256::new();
    h.update(b"calsync-uid/1\0");
    h.update(key.as_str().as_bytes());
    format!("{}@calsync", hex::encode(&h.finalize()[..16]))
}

/// One copy in a target file.
#[derive(Debug, Clone, PartialEq)]
pub struct IcsCopy {
    /// The `UID`, which is the copy's target id.
    pub uid: String,
    pub marker: Marker,
    pub payload: EventPayload,
    /// When this version of the copy was written.
    pub dtstamp: DateTime<Utc>,
    /// Raised each time the copy is rewritten.
    pub sequence: u32,
}

/// A copy as the file holds it.
#[derive(Debug, Clone)]
struct Entry {
    copy: IcsCopy,
    /// The bytes it was read from; `None` once rewritten.
    raw: Option<String>,
    has_body: bool,
    attendees: usize,
    online_meeting: bool,
    /// Its dates cannot be read (see [`TargetCalendar::parse`]).
    broken: bool,
}

impl Entry {
    fn fresh(copy: IcsCopy) -> Self {
        let has_body = body_has_text(&copy.payload.body);
        Entry {
            copy,
            raw: None,
            has_body,
            attendees: 0,
            online_meeting: false,
            broken: false,
        }
    }
}

/// A target `.ics` file: calsync's copies, and everything else in it kept
/// byte for byte.
#[derive(Debug, Clone, Default)]
pub struct TargetCalendar {
    /// Calendar-level properties calsync does not set, as read.
    props: Vec<String>,
    /// Components without calsync's marker (events made by hand, time
    /// zones, to-dos), as read.
    kept: Vec<String>,
    /// The `UID`s of the events made by hand, which no copy may take.
    hand_uids: HashSet<String>,
    entries: Vec<Entry>,
}

impl TargetCalendar {
    /// An empty calendar (a target file that does not exist yet).
    pub fn new() -> Self {
        TargetCalendar::default()
    }

    /// Reads a target file. `origin` names it in errors. A `VEVENT` carrying
    /// `X-CALSYNC-SOURCE-KEY` and a `UID` is a copy. A copy whose dates
    /// cannot be read (one an earlier version wrote past the year 9999,
    /// say) is still calsync's: it is read as a copy that needs rewriting,
    /// inside any window (see [`TargetCalendar::managed_in`]), so that the
    /// next run repairs the published file instead of refusing it. The file
    /// is refused only when its structure is broken.
    pub fn parse(input: &[u8], origin: &str) -> Result<TargetCalendar, IcsError> {
        let doc = Document::parse(input, origin)?;
        let mut zones = Zones::new(&doc, input, origin);
        let text =
            |r: &std::ops::Range<usize>| String::from_utf8_lossy(&input[r.clone()]).into_owned();
        let mut cal = TargetCalendar::new();
        for p in &doc.props {
            if !OWN_CALENDAR_PROPERTIES.contains(&p.name.as_str()) {
                cal.props.push(text(&p.raw));
            }
        }
        for item in &doc.items {
            if item.name != "VEVENT" {
                cal.kept.push(text(&item.raw));
                continue;
            }
            let c = Document::component(input, item);
            let uid = c
                .value("UID")
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_string);
            let marked = c.value(SOURCE_KEY).is_some_and(|k| !k.trim().is_empty());
            let (Some(uid), true) = (uid.clone(), marked) else {
                if let Some(uid) = uid {
                    cal.hand_uids.insert(uid);
                }
                cal.kept.push(text(&item.raw));
                continue;
            };
            let mut entry = read_copy(&c, uid, item.defect.is_some(), &mut zones);
            entry.raw = Some(text(&item.raw));
            cal.entries.push(entry);
        }
        Ok(cal)
    }

    /// Adds a copy (replacing any with its `UID`).
    pub fn insert(&mut self, copy: IcsCopy) {
        self.take(&copy.uid);
        self.entries.push(Entry::fresh(copy));
    }

    /// The copies, in the order the file lists them once rendered.
    pub fn copies(&self) -> Vec<&IcsCopy> {
        self.sorted().into_iter().map(|e| &e.copy).collect()
    }

    /// Every copy as a managed event, wherever it lies in time.
    pub fn managed(&self) -> Vec<ManagedEvent> {
        self.sorted()
            .into_iter()
            .map(|e| managed(&e.copy))
            .collect()
    }

    /// The copies that start in the window, as managed events; and every
    /// copy whose dates cannot be read, placed at the window's start, so
    /// that the plan rewrites or removes it.
    pub fn managed_in(&self, window: &Window) -> Vec<ManagedEvent> {
        self.sorted()
            .into_iter()
            .filter(|e| e.broken || window.contains(&e.copy.payload.start))
            .map(|e| {
                let mut m = managed(&e.copy);
                if e.broken && !window.contains(&m.current.start) {
                    m.current.start = EventTime::Instant(window.start);
                    m.current.end = m.current.start;
                }
                m
            })
            .collect()
    }

    /// Every copy as `validate` inspects it: whether it holds a body,
    /// attendees or online-meeting data (never their content).
    pub fn inspected(&self) -> Vec<InspectedCopy> {
        self.sorted()
            .into_iter()
            .map(|e| InspectedCopy {
                managed: managed(&e.copy),
                has_body: e.has_body,
                attendees: e.attendees,
                online_meeting: e.online_meeting,
            })
            .collect()
    }

    /// Applies a plan: creates, updates and deletes copies, and reports each
    /// write as the Graph provider does. A created copy takes
    /// [`copy_uid`] of its key (replacing a copy of the same key outside the
    /// window that has that `UID`, so subscribers see it move), or a
    /// variant of it when that `UID` belongs to an event made by hand or to
    /// another copy. A written copy gets `DTSTAMP` = `now` and a higher
    /// `SEQUENCE`. An update of a copy no longer in the file fails; a delete
    /// of one counts as done.
    pub fn apply(&mut self, plan: &Plan, now: DateTime<Utc>) -> ApplyReport {
        let now = now.trunc_subsecs(0);
        let mut report = ApplyReport::default();
        let targeted: HashSet<&str> = plan
            .updates
            .iter()
            .map(|u| u.target_id.as_str())
            .chain(plan.deletes.iter().map(|d| d.target_id.as_str()))
            .collect();
        // Every write looks copies up by UID in this index, so that a plan
        // of n writes costs O(n), not O(n) per write.
        let mut index = Index::new(std::mem::take(&mut self.entries));
        let mut created: HashSet<String> = HashSet::new();
        for c in &plan.creates {
            let uid = free_uid(&c.key, &index, &self.hand_uids, &targeted, &created);
            created.insert(uid.clone());
            let sequence = index.take(&uid).map_or(0, |s| s.saturating_add(1));
            index.push(Entry::fresh(IcsCopy {
                uid: uid.clone(),
                marker: c.marker.clone(),
                payload: c.payload.clone(),
                dtstamp: now,
                sequence,
            }));
            report.created += 1;
            report.done.push(Applied::Created {
                target_id: uid,
                marker: c.marker.clone(),
            });
        }
        for u in &plan.updates {
            let Some(old) = index.take(&u.target_id) else {
                report.failures.push(WriteFailure {
                    action: "update",
                    start: u.payload.start.to_string(),
                    error: "the copy is no longer in the target file".to_string(),
                });
                continue;
            };
            index.push(Entry::fresh(IcsCopy {
                uid: u.target_id.clone(),
                marker: u.marker.clone(),
                payload: u.payload.clone(),
                dtstamp: now,
                sequence: old.saturating_add(1),
            }));
            report.updated += 1;
            report.done.push(Applied::Updated {
                target_id: u.target_id.clone(),
                marker: u.marker.clone(),
            });
        }
        for d in &plan.deletes {
            // Already gone counts as deleted, as with Graph.
            index.take(&d.target_id);
            report.deleted += 1;
            report.done.push(Applied::Deleted {
                target_id: d.target_id.clone(),
                key: d.key.clone(),
            });
        }
        self.entries = index.into_entries();
        report
    }

    /// The file's text: CRLF lines folded at 75 octets, the calendar's own
    /// properties, then what calsync keeps as it was, then the copies by
    /// start and `UID`. The same calendar always renders to the same bytes.
    pub fn render(&self, calendar_name: &str) -> String {
        let mut out = String::new();
        for line in [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            &format!("PRODID:{PRODID}"),
            "CALSCALE:GREGORIAN",
            "METHOD:PUBLISH",
            &format!("X-WR-CALNAME:{}", escape_text(calendar_name)),
        ] {
            fold(line, &mut out);
        }
        for raw in self.props.iter().chain(&self.kept) {
            push_raw(raw, &mut out);
        }
        for e in self.sorted() {
            match &e.raw {
                Some(raw) => push_raw(raw, &mut out),
                None => render_copy(&e.copy, &mut out),
            }
        }
        out.push_str("END:VCALENDAR\r\n");
        out
    }

    fn sorted(&self) -> Vec<&Entry> {
        let mut v: Vec<&Entry> = self.entries.iter().collect();
        v.sort_by(|a, b| {
            let (a, b) = (&a.copy, &b.copy);
            (a.payload.start.as_utc(), a.payload.start, &a.uid).cmp(&(
                b.payload.start.as_utc(),
                b.payload.start,
                &b.uid,
            ))
        });
        v
    }

    /// Removes every copy with this `UID`; the highest `SEQUENCE` they had.
    fn take(&mut self, uid: &str) -> Option<u32> {
        let mut seq = None;
        self.entries.retain(|e| {
            if e.copy.uid == uid {
                seq = Some(seq.map_or(e.copy.sequence, |s: u32| s.max(e.copy.sequence)));
                false
            } else {
                true
            }
        });
        seq
    }
}

/// The copies of a calendar by `UID`, while a plan is applied.
struct Index {
    slots: Vec<Option<Entry>>,
    by_uid: HashMap<String, Vec<usize>>,
}

impl Index {
    fn new(entries: Vec<Entry>) -> Index {
        let mut index = Index {
            slots: Vec::with_capacity(entries.len()),
            by_uid: HashMap::with_capacity(entries.len()),
        };
        for e in entries {
            index.push(e);
        }
        index
    }

    fn push(&mut self, e: Entry) {
        self.by_uid
            .entry(e.copy.uid.clone())
            .or_default()
            .push(self.slots.len());
        self.slots.push(Some(e));
    }

    /// The copies with this `UID`.
    fn with_uid<'a>(&'a self, uid: &str) -> impl Iterator<Item = &'a Entry> + 'a {
        self.by_uid
            .get(uid)
            .into_iter()
            .flatten()
            .filter_map(|i| self.slots.get(*i).and_then(Option::as_ref))
    }

    /// Removes every copy with this `UID`; the highest `SEQUENCE` they had.
    fn take(&mut self, uid: &str) -> Option<u32> {
        let mut seq: Option<u32> = None;
        for i in self.by_uid.remove(uid).unwrap_or_default() {
            if let Some(e) = self.slots.get_mut(i).and_then(Option::take) {
                seq = Some(seq.map_or(e.copy.sequence, |s| s.max(e.copy.sequence)));
            }
        }
        seq
    }

    fn into_entries(self) -> Vec<Entry> {
        self.slots.into_iter().flatten().collect()
    }
}

/// The `UID` a new copy of `key` takes: [`copy_uid`] when no event made by
/// hand, no copy of another key and no other write of this plan has it,
/// else the first such variant of it.
fn free_uid(
    key: &SourceKey,
    index: &Index,
    hand_uids: &HashSet<String>,
    targeted: &HashSet<&str>,
    created: &HashSet<String>,
) -> String {
    let base = copy_uid(key);
    let hash = base.trim_end_matches("@calsync").to_string();
    let usable = |uid: &str| {
        !hand_uids.contains(uid)
            && !targeted.contains(uid)
            && !created.contains(uid)
            && index
                .with_uid(uid)
                .all(|e| e.copy.marker.source_key == *key)
    };
    if usable(&base) {
        return base;
    }
    (2u32..)
        .map(|n| format!("{hash}-{n}@calsync"))
        .find(|uid| usable(uid))
        .unwrap_or(base)
}

fn managed(c: &IcsCopy) -> ManagedEvent {
    ManagedEvent {
        target_id: c.uid.clone(),
        marker: c.marker.clone(),
        current: c.payload.clone(),
    }
}

fn push_raw(raw: &str, out: &mut String) {
    out.push_str(raw);
    if !raw.ends_with('\n') {
        out.push_str("\r\n");
    }
}

fn body_has_text(b: &Body) -> bool {
    match b.content_type {
        BodyType::Text => !b.content.trim().is_empty(),
        BodyType::Html => !html_to_text(&b.content).trim().is_empty(),
    }
}

fn stamp(t: &DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// The first and last days iCalendar can write.
fn first_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(1, 1, 1).unwrap_or_default()
}

fn last_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(9999, 12, 31).unwrap_or_default()
}

/// A copy's start and end as written: of one kind (a date-time start never
/// goes with a DATE end, RFC 5545 §3.8.2.2), the end after the start (a
/// day later for a date), and both in the years 0001–9999. Times from the
/// source already are; this keeps any other input from ever making the
/// published file unreadable.
fn writable_times(start: &EventTime, end: &EventTime) -> (EventTime, EventTime) {
    let clamp_date = |d: NaiveDate| d.clamp(first_day(), last_day());
    let clamp_instant = |t: DateTime<Utc>| {
        let lo = midnight(first_day()).and_utc();
        let hi = midnight(last_day()).and_utc() + Duration::seconds(86_399);
        t.clamp(lo, hi)
    };
    match *start {
        EventTime::Date(s) => {
            let s = clamp_date(s);
            let e = match *end {
                EventTime::Date(e) => e,
                EventTime::Instant(e) => e.date_naive(),
            };
            let e = if e > s {
                clamp_date(e)
            } else {
                s.succ_opt().unwrap_or(s)
            };
            (EventTime::Date(s), EventTime::Date(e))
        }
        EventTime::Instant(s) => {
            let s = clamp_instant(s);
            let e = match *end {
                EventTime::Instant(e) => e,
                EventTime::Date(d) => midnight(d).and_utc(),
            };
            (
                EventTime::Instant(s),
                EventTime::Instant(clamp_instant(e.max(s))),
            )
        }
    }
}

fn time_line(name: &str, t: &EventTime) -> String {
    match t {
        EventTime::Date(d) => format!(
            "{name};VALUE=DATE:{:04}{:02}{:02}",
            d.year(),
            d.month(),
            d.day()
        ),
        EventTime::Instant(i) => format!("{name}:{}", stamp(i)),
    }
}

/// Renders one copy as a `VEVENT`.
fn render_copy(c: &IcsCopy, out: &mut String) {
    let p = &c.payload;
    let (start, end) = writable_times(&p.start, &p.end);
    let mut lines = vec![
        "BEGIN:VEVENT".to_string(),
        format!("UID:{}", escape_text(&c.uid)),
        format!("DTSTAMP:{}", stamp(&c.dtstamp)),
        format!("SEQUENCE:{}", c.sequence),
        time_line("DTSTART", &start),
        time_line("DTEND", &end),
        format!("SUMMARY:{}", escape_text(&p.subject)),
    ];
    if !p.location.is_empty() {
        lines.push(format!("LOCATION:{}", escape_text(&p.location)));
    }
    if !p.body.content.is_empty() {
        match p.body.content_type {
            BodyType::Text => lines.push(format!("DESCRIPTION:{}", escape_text(&p.body.content))),
            BodyType::Html => {
                let text = html_to_text(&p.body.content);
                if !text.is_empty() {
                    lines.push(format!("DESCRIPTION:{}", escape_text(&text)));
                }
                lines.push(format!(
                    "X-ALT-DESC;FMTTYPE=text/html:{}",
                    escape_text(&p.body.content)
                ));
            }
        }
    }
    if !p.categories.is_empty() {
        let list: Vec<String> = p.categories.iter().map(|c| escape_text(c)).collect();
        lines.push(format!("CATEGORIES:{}", list.join(",")));
    }
    lines.push("CLASS:PUBLIC".to_string());
    lines.push(
        if p.show_as == ShowAs::Free {
            "TRANSP:TRANSPARENT"
        } else {
            "TRANSP:OPAQUE"
        }
        .to_string(),
    );
    match busy_status(p.show_as) {
        Some(s) => lines.push(format!("X-MICROSOFT-CDO-BUSYSTATUS:{s}")),
        None => lines.push(format!("{SHOW_AS}:{}", p.show_as.as_str())),
    }
    lines.push(format!(
        "X-MICROSOFT-CDO-ALLDAYEVENT:{}",
        if p.is_all_day { "TRUE" } else { "FALSE" }
    ));
    lines.push(format!(
        "{SOURCE_KEY}:{}",
        escape_text(c.marker.source_key.as_str())
    ));
    lines.push(format!(
        "{CONTENT_HASH}:{}",
        escape_text(&c.marker.content_hash)
    ));
    lines.push("END:VEVENT".to_string());
    for l in &lines {
        fold(l, out);
    }
}

/// Outlook's word for a show-as, if it has one.
fn busy_status(s: ShowAs) -> Option<&'static str> {
    match s {
        ShowAs::Free => Some("FREE"),
        ShowAs::Tentative => Some("TENTATIVE"),
        ShowAs::Busy => Some("BUSY"),
        ShowAs::Oof => Some("OOF"),
        ShowAs::WorkingElsewhere => Some("WORKINGELSEWHERE"),
        ShowAs::Unknown => None,
    }
}

/// Hosts whose links are meeting joins.
const MEETING_HOSTS: [&str; 7] = [
    "teams.microsoft.com",
    "teams.live.com",
    "zoom.us",
    "meet.google.com",
    "webex.com",
    "gotomeeting.com",
    "meet.jit.si",
];

/// Properties that carry online-meeting data.
const MEETING_PROPERTIES: [&str; 6] = [
    "CONFERENCE",
    "X-MICROSOFT-SKYPETEAMSMEETINGURL",
    "X-MICROSOFT-ONLINEMEETINGCONFLINK",
    "X-MICROSOFT-ONLINEMEETINGEXTERNALLINK",
    "X-GOOGLE-CONFERENCE",
    "X-GOOGLE-HANGOUT",
];

/// Reads a marked `VEVENT`. One whose structure is broken (`defective`)
/// or whose dates cannot be read is `broken`: a placeholder that any plan
/// rewrites or removes (an empty content hash never matches).
fn read_copy(c: &Comp, uid: String, defective: bool, zones: &mut Zones<'_>) -> Entry {
    let timing = Timing::read(c, zones).ok();
    let times = timing.as_ref().and_then(|t| {
        let start = t.start_time()?;
        Some((start, t.end_time(t.wall)?, t.all_day))
    });
    let broken = defective || times.is_none();
    let (start, end, all_day) = times.unwrap_or_else(|| {
        // The start as far as it can be read, else the Unix epoch.
        let start = c
            .value("DTSTART")
            .and_then(|v| parse_written(v, false))
            .map_or(EventTime::Date(NaiveDate::default()), |w| match w {
                Written::Date(d) => EventTime::Date(d),
                Written::Utc(t) | Written::Local(t) => EventTime::Instant(t.and_utc()),
            });
        (start, start, matches!(start, EventTime::Date(_)))
    });
    let is_all_day = match c.value("X-MICROSOFT-CDO-ALLDAYEVENT").map(str::trim) {
        Some(v) if v.eq_ignore_ascii_case("TRUE") => true,
        Some(v) if v.eq_ignore_ascii_case("FALSE") => false,
        _ => all_day,
    };
    let show_as = c
        .value(SHOW_AS)
        .and_then(|v| ShowAs::parse(v.trim()))
        .unwrap_or_else(|| show_as(c));
    let html = c.all("X-ALT-DESC").find(|p| {
        p.param("FMTTYPE")
            .is_some_and(|f| f.eq_ignore_ascii_case("text/html"))
    });
    let body = match (html, c.prop("DESCRIPTION")) {
        (Some(h), _) => Body {
            content_type: BodyType::Html,
            content: h.value.clone(),
        },
        (None, Some(d)) => Body {
            content_type: BodyType::Text,
            content: d.value.clone(),
        },
        (None, None) => Body::default(),
    };
    let has_body = c
        .prop("DESCRIPTION")
        .is_some_and(|d| !d.value.trim().is_empty())
        || html.is_some_and(|h| !html_to_text(&h.value).trim().is_empty());
    let online_meeting = MEETING_PROPERTIES
        .iter()
        .any(|name| c.all(name).any(|p| !p.value.trim().is_empty()))
        || c.all("URL").any(|p| {
            let v = p.value.to_ascii_lowercase();
            MEETING_HOSTS.iter().any(|h| v.contains(h))
        });
    let dtstamp = c
        .value("DTSTAMP")
        .and_then(|v| parse_written(v, false))
        .and_then(|w| match w {
            Written::Utc(t) | Written::Local(t) => Some(t.and_utc()),
            Written::Date(_) => None,
        })
        .unwrap_or_default();
    let content_hash = if broken {
        String::new()
    } else {
        c.value(CONTENT_HASH).unwrap_or_default().trim().to_string()
    };
    Entry {
        copy: IcsCopy {
            uid,
            marker: Marker {
                source_key: SourceKey(c.value(SOURCE_KEY).unwrap_or_default().trim().to_string()),
                content_hash,
            },
            payload: EventPayload {
                subject: c.value("SUMMARY").unwrap_or_default().to_string(),
                start,
                end,
                is_all_day,
                show_as,
                location: c.value("LOCATION").unwrap_or_default().to_string(),
                body,
                categories: c
                    .all("CATEGORIES")
                    .flat_map(|p| split_text_list(&p.value))
                    .collect(),
            },
            dtstamp,
            sequence: c
                .value("SEQUENCE")
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0),
        },
        raw: None,
        has_body,
        attendees: c.all("ATTENDEE").count(),
        online_meeting,
        broken,
    }
}
