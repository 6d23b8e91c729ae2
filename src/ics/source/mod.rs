//! Reading the events of a source `.ics` file for a window (no I/O).
//!
//! # One bad event never blocks the calendar
//!
//! A file is refused only when its structure is broken (see
//! [`super::doc`]). An event that cannot be read is skipped and reported in
//! [`SourceRead::unreadable`], naming its `UID` (or line) and why: no
//! `UID`, a `DTSTART` or `TZID` that cannot be read, a rule that cannot be
//! expanded or gives more than [`MAX_INSTANCES_PER_EVENT`] instances, a
//! broken line naming a property calsync reads, a broken component
//! structure, or an event hidden where no event may be. The provider turns
//! each into one warning and one never-public placeholder, so that the run
//! counts it as skipped (`unreadable`) and removes its earlier copy like
//! that of any event that left the source, under the deletion guard.
//!
//! What cannot be read of one part of a series is kept to that part when
//! that is safe: an override that cannot be read (but whose
//! `RECURRENCE-ID` can) suppresses the instance it replaces (with
//! `RANGE=THISANDFUTURE`, that instance and the following ones), since the
//! series' own version of it may be what the override made private. A
//! master that cannot be read, or an override whose `RECURRENCE-ID` cannot,
//! makes the whole `UID` unreadable.
//!
//! # Privacy: any doubt means not public
//!
//! The reader cannot apply the filter policy (the planner does), so it
//! hands the planner every reading it has doubts between: the first event
//! of a key carries the content, and [`SourceRead::witnesses`] with the same
//! key carry the other readings of the fields the filter looks at
//! (sensitivity, cancellation, categories, show-as, subject). The planner
//! publishes a key only if every one of them passes. Witnesses come from:
//!
//! - versions: several masters with one `UID` (or several overrides of one
//!   instance). The highest `SEQUENCE`, then the latest `DTSTAMP`, then
//!   the first in the file, gives the content, dates and rules; every other
//!   version is a witness, so a version that is not public makes the event
//!   not public;
//! - a moved instance (`RECURRENCE-ID`) is published only if it and its
//!   series pass: every version of its series is a witness. An override
//!   without `CLASS` takes its series' `CLASS`;
//! - duplicate properties: each other `SUMMARY`, show-as and `CLASS` value
//!   is a witness; `STATUS` is cancelled if any `STATUS` says so; repeated
//!   `CATEGORIES` are one list (RFC 5545 §3.8.1.2).
//!
//! # Expansion
//!
//! `DTSTART`, each `RRULE` ([`super::recur`]) and `RDATE` give the
//! instances; `EXDATE` and `EXRULE` remove them. A series all of whose
//! rules end before `DTSTART` (`UNTIL` earlier than it, Confluence's mark
//! of a deleted series, or `COUNT=0`) has no `DTSTART` instance. An override
//! with `RANGE=THISANDFUTURE` (RFC 5545 §3.8.4.4) applies to its instance
//! and all later ones: they take its properties and length, and move by as
//! much as it moved, until a later such override; a plain override of one
//! of them still wins for its instance.
//!
//! Times are read only in the years 0001–9999; an event that would end
//! after 9999 is unreadable. Text values are read as a copy will hold them
//! ([`clean_text`]).

use super::IcsError;
use super::doc::{Comp, Document, Prop};
use super::limits::{
    MAX_DATES_PER_EVENT, MAX_EVENTS_PER_FILE, MAX_INSTANCES_PER_EVENT, MAX_READINGS,
    MAX_RULE_STEPS, MAX_RULES_PER_EVENT, MAX_TEXT_PER_EVENT, MAX_TEXT_PER_FILE, MAX_VERSIONS,
};
use super::recur::{self, Budget};
use super::rule::{Rule, parse_rule};
use super::text::{clean_text, split_text_list};
use super::time::{
    Span, Written, add, add_days, instant_in_range, midnight, parse_duration, parse_written,
};
use super::tz::{Zone, Zones};
use crate::model::{
    Body, BodyType, EventTime, Sensitivity, ShowAs, SourceEvent, SourceKey, Window,
};
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use std::collections::{HashMap, HashSet};

/// The properties of a `VEVENT` calsync reads. A line naming one of them
/// that cannot be read makes the event unreadable; a broken line naming any
/// other property (`X-APPLE-RADIUS=…` without a colon, say) is ignored.
const READ: [&str; 20] = [
    "UID",
    "DTSTART",
    "DTEND",
    "DURATION",
    "RRULE",
    "EXRULE",
    "RDATE",
    "EXDATE",
    "RECURRENCE-ID",
    "CLASS",
    "STATUS",
    "CATEGORIES",
    "SUMMARY",
    "DESCRIPTION",
    "LOCATION",
    "TRANSP",
    "X-MICROSOFT-CDO-BUSYSTATUS",
    "X-MICROSOFT-CDO-INTENDEDSTATUS",
    "SEQUENCE",
    "DTSTAMP",
];

/// Properties of which a `VEVENT` may hold one value only: two that
/// disagree make the event unreadable.
const SINGLE: [&str; 4] = ["DTSTART", "DTEND", "DURATION", "RECURRENCE-ID"];

/// What a source file says for one window.
#[derive(Debug, Default)]
pub struct SourceRead {
    /// The instances that start in the window, sorted by start, then key;
    /// one per key.
    pub events: Vec<SourceEvent>,
    /// Other readings of the filtered fields of keys in `events` (see the
    /// module documentation): a key is public only if its event and every
    /// witness of it pass the filter.
    pub witnesses: Vec<SourceEvent>,
    /// The events that could not be read: one error each, naming the
    /// event's `UID` (or its line) and why.
    pub unreadable: Vec<IcsError>,
    /// What else was ignored (a stray `END`, text after `END:VCALENDAR`).
    pub notes: Vec<IcsError>,
}

impl SourceRead {
    /// The events a source provider returns: each instance, then the
    /// witnesses, then one placeholder per unreadable event, which is never
    /// public and counts as skipped (`unreadable`). A placeholder holds no
    /// content; its key matches no copy, so a copy of the event is removed
    /// like that of an event that left the source.
    pub fn into_source_events(self, window: &Window) -> Vec<SourceEvent> {
        let mut out = self.events;
        out.extend(self.witnesses);
        for (n, e) in self.unreadable.iter().enumerate() {
            let id = format!(
                "{}#{}#{n}",
                e.uid.as_deref().unwrap_or(""),
                e.line.unwrap_or(0)
            );
            let at = EventTime::Instant(window.start);
            out.push(SourceEvent {
                key: SourceKey::unreadable(&id),
                subject: String::new(),
                start: at,
                end: at,
                is_all_day: false,
                show_as: ShowAs::Busy,
                sensitivity: Sensitivity::Private,
                is_cancelled: false,
                categories: Vec::new(),
                location: String::new(),
                body: Body::default(),
            });
        }
        out
    }

    fn total(&self) -> usize {
        self.events.len() + self.witnesses.len() + self.unreadable.len()
    }
}

/// Reads the events of an iCalendar file that start in the window (both
/// ends included), recurring events expanded into their instances. `origin`
/// (a path or URL) names the file in errors.
///
/// Fails only on a file whose structure is broken, or that gives more than
/// [`MAX_EVENTS_PER_FILE`] events in the window; an event that cannot be
/// read is reported in [`SourceRead::unreadable`].
pub fn parse_events(input: &[u8], window: &Window, origin: &str) -> Result<SourceRead, IcsError> {
    let doc = Document::parse(input, origin)?;
    let mut zones = Zones::new(&doc, input, origin);
    let mut read = SourceRead::default();
    for (line, what) in &doc.notes {
        read.notes
            .push(IcsError::at_line(origin, *line, what.clone()));
    }
    // Events where no event may be: reported, and their UIDs are doubt
    // enough about any visible event with the same UID.
    let mut hidden_uids: HashMap<String, usize> = HashMap::new();
    for h in &doc.hidden {
        let why = format!("this VEVENT cannot be read: {}", h.why);
        read.unreadable.push(match &h.uid {
            Some(uid) => {
                hidden_uids.entry(clean_text(uid.trim())).or_insert(h.line);
                IcsError::event(origin, &shown_uid(uid), h.line, why)
            }
            None => IcsError::at_line(origin, h.line, why),
        });
    }
    // A component whose BEGIN names nothing may have been an event.
    for item in doc.items.iter().filter(|i| i.name.is_empty()) {
        read.unreadable.push(IcsError::at_line(
            origin,
            item.line,
            "this BEGIN line does not name a component, so calsync cannot tell whether it is \
             an event",
        ));
    }
    // Event properties directly in the calendar: an event whose BEGIN was
    // lost.
    for p in doc.props.iter().filter(|p| p.name == "UID") {
        let Some(prop) = &p.prop else { continue };
        let uid = clean_text(prop.value.trim());
        if uid.is_empty() {
            continue;
        }
        hidden_uids.entry(uid.clone()).or_insert(prop.line);
        read.unreadable.push(IcsError::event(
            origin,
            &shown_uid(&uid),
            prop.line,
            "this UID lies directly in the calendar, as if the BEGIN:VEVENT of its event were \
             lost; the event cannot be read",
        ));
    }
    // A UID anywhere but as the own UID of a readable VEVENT (in another
    // component, in a broken one, in a sub-component) leaves doubt about
    // the event with that UID: it may be a version whose BEGIN:VEVENT was
    // lost or mangled.
    for item in &doc.items {
        let clean_event = item.name == "VEVENT" && item.defect.is_none();
        for (uid, own) in &item.uids {
            if clean_event && *own {
                continue;
            }
            let uid = clean_text(uid.trim());
            if !uid.is_empty() {
                hidden_uids.entry(uid).or_insert(item.line);
            }
        }
    }

    // Each VEVENT, with only the properties read, grouped by UID in the
    // order the UIDs first appear.
    let mut groups: Vec<Group> = Vec::new();
    let mut group_of: HashMap<String, usize> = HashMap::new();
    for item in doc.items.iter().filter(|i| i.name == "VEVENT") {
        let mut comp = Document::component(input, item);
        let bad = comp
            .bad
            .iter()
            .find(|b| b.name.is_empty() || READ.contains(&b.name.as_str()))
            .cloned();
        comp.props.retain(|p| READ.contains(&p.name.as_str()));
        comp.children.clear();
        comp.bad.clear();
        let mut problem = match (&item.defect, bad) {
            (Some(d), _) => Some(Skip::at(d.line, d.why.clone())),
            (None, Some(b)) => Some(Skip::at(
                b.line,
                if b.name.is_empty() {
                    "a line of it is not iCalendar (NAME:VALUE), so calsync cannot tell what \
                     it says"
                        .to_string()
                } else {
                    format!(
                        "its {} line cannot be read (not NAME;PARAM=VALUE:VALUE)",
                        b.name
                    )
                },
            )),
            (None, None) => None,
        };
        if problem.is_none() {
            problem = disagreeing_singles(&comp);
        }
        let uids: Vec<String> = {
            let mut v: Vec<String> = Vec::new();
            for p in comp.all("UID") {
                let u = clean_text(p.value.trim());
                if !u.is_empty() && !v.contains(&u) {
                    v.push(u);
                }
            }
            v
        };
        if uids.is_empty() {
            read.unreadable.push(IcsError::at_line(
                origin,
                item.line,
                "this VEVENT has no UID, which calsync needs to recognise the event on the next \
                 run; the program that wrote the file must give every event a UID",
            ));
            continue;
        }
        if uids.len() > 1 {
            problem = Some(Skip::at(
                comp.all("UID").nth(1).map_or(item.line, |p| p.line),
                "it has two different UIDs",
            ));
        }
        let is_override = comp.prop("RECURRENCE-ID").is_some();
        let last = uids.len().saturating_sub(1);
        let mut comp = Some(comp);
        for (n, uid) in uids.into_iter().enumerate() {
            let g = *group_of.entry(uid.clone()).or_insert_with(|| {
                groups.push(Group {
                    uid,
                    line: item.line,
                    masters: Vec::new(),
                    overrides: Vec::new(),
                });
                groups.len() - 1
            });
            // Copied only for an event that names several UIDs.
            let comp = if n == last { comp.take() } else { comp.clone() };
            let (Some(comp), Some(group)) = (comp, groups.get_mut(g)) else {
                continue;
            };
            let ev = Ev {
                comp,
                problem: problem.clone(),
            };
            if is_override {
                group.overrides.push(ev);
            } else {
                group.masters.push(ev);
            }
        }
    }

    let mut reader = Reader {
        origin,
        window,
        zones: &mut zones,
        read: &mut read,
        emitted: 0,
        text: 0,
        file_text: 0,
    };
    for group in &groups {
        if let Some(line) = hidden_uids.get(&group.uid) {
            reader.skip(
                &group.uid,
                Skip::at(
                    group.line,
                    format!(
                        "another component with its UID (line {line}) is not a VEVENT calsync \
                         can read, so calsync cannot tell whether the event is public"
                    ),
                ),
            );
            continue;
        }
        // What a group that turns out unreadable gave is taken back.
        let before = (reader.read.events.len(), reader.read.witnesses.len());
        reader.emitted = 0;
        reader.text = 0;
        let mut outcome = reader.group(group);
        if outcome.is_ok() && reader.text > MAX_TEXT_PER_EVENT {
            outcome = Err(Skip::at(
                group.line,
                format!(
                    "its text (summary, location, description, categories) times its instances \
                     comes to more than {} MiB, more than calsync holds for one event",
                    MAX_TEXT_PER_EVENT / (1024 * 1024)
                ),
            ));
        }
        if outcome.is_ok() && reader.emitted > 2 * MAX_INSTANCES_PER_EVENT {
            outcome = Err(Skip::at(
                group.line,
                format!(
                    "its instances and their readings (versions, series, repeated properties) \
                     come to more than {} events, more than calsync weighs for one event",
                    2 * MAX_INSTANCES_PER_EVENT
                ),
            ));
        }
        if let Err(skip) = outcome {
            reader.read.events.truncate(before.0);
            reader.read.witnesses.truncate(before.1);
            reader.skip(&group.uid, skip);
        } else {
            reader.file_text = reader.file_text.saturating_add(reader.text);
        }
        if reader.file_text > MAX_TEXT_PER_FILE {
            return Err(IcsError::file(
                origin,
                format!(
                    "the events of the file in the sync window hold more than {} MiB of text, \
                     more than calsync holds; nothing was written. Shorten the window \
                     (cutoff_days) or the events' descriptions",
                    MAX_TEXT_PER_FILE / (1024 * 1024)
                ),
            ));
        }
        if reader.read.total() > MAX_EVENTS_PER_FILE {
            return Err(IcsError::file(
                origin,
                format!(
                    "the file gives more than {MAX_EVENTS_PER_FILE} events in the sync window, \
                     more than calsync publishes from one calendar; nothing was written. Shorten \
                     the window (cutoff_days) or split the calendar"
                ),
            ));
        }
    }
    read.events
        .sort_by(|a, b| (a.start.as_utc(), &a.key).cmp(&(b.start.as_utc(), &b.key)));
    Ok(read)
}

/// A `UID` as messages show it: at most 120 characters, without control
/// characters.
pub(crate) fn shown_uid(uid: &str) -> String {
    let clean: String = uid.chars().filter(|c| !c.is_control()).collect();
    if clean.chars().count() > 120 {
        let head: String = clean.chars().take(119).collect();
        format!("{head}…")
    } else {
        clean
    }
}

/// Why an event (or part of it) cannot be read, and the line that shows it.
#[derive(Debug, Clone)]
struct Skip {
    line: usize,
    why: String,
}

impl Skip {
    fn at(line: usize, why: impl Into<String>) -> Skip {
        Skip {
            line,
            why: why.into(),
        }
    }

    /// From an error of the time-zone or date layers.
    fn of(e: IcsError, fallback_line: usize) -> Skip {
        Skip::at(e.line.unwrap_or(fallback_line), e.message)
    }
}

/// The first pair of disagreeing values of a single-valued property.
fn disagreeing_singles(c: &Comp) -> Option<Skip> {
    for name in SINGLE {
        let mut all = c.all(name);
        if let Some(first) = all.next() {
            for p in all {
                if p.value.trim() != first.value.trim() || p.params != first.params {
                    return Some(Skip::at(
                        p.line,
                        format!("it has two {name} lines that disagree"),
                    ));
                }
            }
        }
    }
    None
}

/// One `VEVENT`, with only the properties calsync reads.
#[derive(Debug, Clone)]
struct Ev {
    comp: Comp,
    /// Why it cannot be read, found before its dates are.
    problem: Option<Skip>,
}

impl Ev {
    /// `SEQUENCE` (missing sorts before 0), then `DTSTAMP`.
    fn version(&self) -> (i64, Option<NaiveDateTime>) {
        let seq = self
            .comp
            .value("SEQUENCE")
            .and_then(|s| s.trim().parse::<i64>().ok())
            .unwrap_or(-1);
        let stamp = self
            .comp
            .value("DTSTAMP")
            .and_then(|v| parse_written(v, false))
            .map(|w| match w {
                Written::Date(d) => midnight(d),
                Written::Utc(t) | Written::Local(t) => t,
            });
        (seq, stamp)
    }
}

/// The index of the version that counts: the highest `SEQUENCE`, then the
/// latest `DTSTAMP`, then the first.
fn winner(versions: &[&Ev]) -> usize {
    let mut best = 0;
    for (i, v) in versions.iter().enumerate().skip(1) {
        if let Some(b) = versions.get(best)
            && v.version() > b.version()
        {
            best = i;
        }
    }
    best
}

/// The components of one `UID`.
struct Group {
    uid: String,
    /// The line of its first component.
    line: usize,
    masters: Vec<Ev>,
    overrides: Vec<Ev>,
}

/// The fields the filter policy looks at.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Profile {
    sensitivity: Sensitivity,
    is_cancelled: bool,
    categories: Vec<String>,
    show_as: ShowAs,
    subject: String,
}

/// `CLASS` as a sensitivity: anything but `PUBLIC` (or no `CLASS`) is
/// private or confidential, never public.
fn class_sensitivity(value: &str) -> Sensitivity {
    match value.trim().to_ascii_uppercase().as_str() {
        "PUBLIC" => Sensitivity::Normal,
        "CONFIDENTIAL" => Sensitivity::Confidential,
        _ => Sensitivity::Private,
    }
}

/// Every reading of a component's filtered fields: the first is the one
/// its content goes with, the others differ from it in one field each. An
/// override without `CLASS` reads `class_fallback`'s (its series').
fn profiles(c: &Comp, class_fallback: Option<&Comp>) -> Vec<Profile> {
    let class_of = if c.prop("CLASS").is_some() {
        c
    } else {
        class_fallback.unwrap_or(c)
    };
    let mut sensitivities: Vec<Sensitivity> = Vec::new();
    for p in class_of.all("CLASS") {
        let s = class_sensitivity(&p.value);
        if !sensitivities.contains(&s) {
            sensitivities.push(s);
        }
    }
    // The first value that is not public leads: doubt means not public.
    sensitivities.sort_by_key(|s| *s == Sensitivity::Normal);
    if sensitivities.is_empty() {
        sensitivities.push(Sensitivity::Normal);
    }
    let mut subjects: Vec<String> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for p in c.all("SUMMARY") {
        let s = clean_text(&p.value);
        if seen.insert(s.clone()) {
            subjects.push(s);
        }
    }
    if subjects.is_empty() {
        subjects.push(String::new());
    }
    let show_as = show_as_readings(c);
    let primary = Profile {
        sensitivity: sensitivities
            .first()
            .copied()
            .unwrap_or(Sensitivity::Private),
        is_cancelled: c.all("STATUS").any(|p| {
            let s = p.value.trim();
            s.eq_ignore_ascii_case("CANCELLED") || s.eq_ignore_ascii_case("CANCELED")
        }),
        categories: categories(c),
        show_as: show_as.first().copied().unwrap_or(ShowAs::Busy),
        subject: subjects.first().cloned().unwrap_or_default(),
    };
    let mut out = vec![primary.clone()];
    for s in sensitivities.iter().skip(1) {
        out.push(Profile {
            sensitivity: *s,
            ..primary.clone()
        });
    }
    for s in subjects.iter().skip(1) {
        out.push(Profile {
            subject: s.clone(),
            ..primary.clone()
        });
    }
    for s in show_as.iter().skip(1) {
        out.push(Profile {
            show_as: *s,
            ..primary.clone()
        });
    }
    out
}

/// The distinct readings of `all`, the first first; more than
/// [`MAX_READINGS`] make the event unreadable.
fn distinct(all: Vec<Profile>, line: usize) -> Result<Vec<Profile>, Skip> {
    let mut seen: HashSet<Profile> = HashSet::new();
    let mut out = Vec::new();
    for p in all {
        if seen.insert(p.clone()) {
            out.push(p);
            if out.len() > MAX_READINGS {
                return Err(Skip::at(
                    line,
                    format!(
                        "its versions, its series and its repeated properties give more than \
                         {MAX_READINGS} different readings of whether it is public"
                    ),
                ));
            }
        }
    }
    Ok(out)
}

/// Outlook's `X-MICROSOFT-CDO-BUSYSTATUS` (or `-INTENDEDSTATUS`), else
/// `TRANSP`: each distinct reading, the first first.
fn show_as_readings(c: &Comp) -> Vec<ShowAs> {
    let mut out: Vec<ShowAs> = Vec::new();
    let mut push = |s: ShowAs| {
        if !out.contains(&s) {
            out.push(s);
        }
    };
    let cdo: Vec<&Prop> = c
        .all("X-MICROSOFT-CDO-BUSYSTATUS")
        .chain(c.all("X-MICROSOFT-CDO-INTENDEDSTATUS"))
        .collect();
    let mut any_cdo = false;
    for p in &cdo {
        let s = match p.value.trim().to_ascii_uppercase().as_str() {
            "FREE" => ShowAs::Free,
            "TENTATIVE" => ShowAs::Tentative,
            "BUSY" => ShowAs::Busy,
            "OOF" => ShowAs::Oof,
            "WORKINGELSEWHERE" => ShowAs::WorkingElsewhere,
            _ => continue,
        };
        any_cdo = true;
        push(s);
    }
    if !any_cdo {
        for p in c.all("TRANSP") {
            push(if p.value.trim().eq_ignore_ascii_case("TRANSPARENT") {
                ShowAs::Free
            } else {
                ShowAs::Busy
            });
        }
    }
    if out.is_empty() {
        out.push(ShowAs::Busy);
    }
    out
}

/// Outlook's `X-MICROSOFT-CDO-BUSYSTATUS`, else `TRANSP` (the first reading).
pub(crate) fn show_as(c: &Comp) -> ShowAs {
    show_as_readings(c).first().copied().unwrap_or(ShowAs::Busy)
}

/// Every `CATEGORIES` item, in order, cleaned and trimmed, blanks dropped.
fn categories(c: &Comp) -> Vec<String> {
    c.all("CATEGORIES")
        .flat_map(|p| split_text_list(&p.value))
        .map(|s| clean_text(s.trim()).trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// A DATE or DATE-TIME property value, resolved.
struct Moment {
    time: EventTime,
    /// The date as written (before any zone is applied).
    written_date: NaiveDate,
}

/// Resolves a DATE or DATE-TIME value of property `p`: a `Z` value is
/// UTC, a `TZID` names its zone, and a floating value is read in
/// `default_zone` when given, else the calendar's floating zone. `None`
/// when it falls outside the years 0001-9999.
fn resolve_written(
    w: Written,
    p: &Prop,
    zones: &mut Zones<'_>,
    default_zone: Option<&Zone>,
) -> Result<Option<Moment>, IcsError> {
    let time = match w {
        Written::Date(d) => EventTime::Date(d),
        Written::Utc(t) => EventTime::Instant(t.and_utc()),
        Written::Local(t) => {
            let zone = match (p.param("TZID"), default_zone) {
                (Some(id), _) if !id.trim().is_empty() => zones.resolve(id, p.line)?,
                (_, Some(z)) => z.clone(),
                _ => zones.floating()?,
            };
            let at = zone.instant(t);
            if !instant_in_range(&at) {
                return Ok(None);
            }
            EventTime::Instant(at)
        }
    };
    Ok(Some(Moment {
        time,
        written_date: w.date(),
    }))
}

/// How long an event lasts, measured from a wall-clock start.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Length {
    /// All-day: so many dates (at least one).
    Days(i64),
    /// Timed: so much later on the wall clock of the start's zone (from
    /// `DTEND`).
    Wall(Duration),
    /// Timed: a `DURATION`, days on the wall clock and seconds exactly.
    Span(Span),
}

/// When an event starts and how long it lasts.
#[derive(Debug, Clone)]
pub(crate) struct Timing {
    pub all_day: bool,
    /// The zone of the start (UTC for all-day events).
    pub zone: Zone,
    /// Whether the start named its zone with a `TZID`.
    pub has_tzid: bool,
    /// The start on the wall clock (midnight for all-day events).
    pub wall: NaiveDateTime,
    pub length: Length,
    /// Whether the event says how long it lasts (`DTEND` or `DURATION`).
    pub explicit_length: bool,
}

/// Why a time cannot be written.
const PAST_9999: &str = "it would end after the year 9999 (or start before the year 1), which \
                         iCalendar cannot write";

impl Timing {
    /// Reads `DTSTART`, `DTEND` and `DURATION`. The error names the line.
    pub fn read(c: &Comp, zones: &mut Zones<'_>) -> Result<Timing, IcsError> {
        let origin = "";
        let err = |line: usize, msg: &str| IcsError::at_line(origin, line, msg);
        let start = c.prop("DTSTART").ok_or_else(|| {
            err(
                c.line,
                "it has no DTSTART, so calsync cannot tell when it is",
            )
        })?;
        let want_date = start.value_type_is("DATE");
        let written = parse_written(&start.value, want_date).ok_or_else(|| {
            err(
                start.line,
                "its DTSTART is not a readable date or date-time (years 0001-9999)",
            )
        })?;
        let tzid = start.param("TZID").filter(|t| !t.trim().is_empty());
        let (all_day, zone, wall) = match written {
            Written::Date(d) => (true, Zone::Utc, midnight(d)),
            Written::Utc(t) => (false, Zone::Utc, t),
            Written::Local(t) => (false, zones.of_value(&written, tzid, start.line)?, t),
        };
        let has_tzid = tzid.is_some() && !matches!(written, Written::Utc(_));
        let mut timing = Timing {
            all_day,
            zone,
            has_tzid,
            wall,
            length: if all_day {
                Length::Days(1)
            } else {
                Length::Wall(Duration::zero())
            },
            explicit_length: false,
        };
        if let Some(end) = c.prop("DTEND") {
            let end_written = parse_written(&end.value, all_day).ok_or_else(|| {
                err(
                    end.line,
                    "its DTEND is not a readable date or date-time (years 0001-9999)",
                )
            })?;
            timing.explicit_length = true;
            timing.length = if all_day {
                Length::Days((end_written.date() - wall.date()).num_days().max(1))
            } else {
                let end_at = match end_written {
                    Written::Date(d) => timing.zone.instant(midnight(d)),
                    Written::Utc(t) => t.and_utc(),
                    Written::Local(t) => {
                        let default = timing.has_tzid.then(|| timing.zone.clone());
                        let z = match (end.param("TZID"), default) {
                            (Some(id), _) if !id.trim().is_empty() => {
                                zones.resolve(id, end.line)?
                            }
                            (_, Some(z)) => z,
                            _ => zones.floating()?,
                        };
                        z.instant(t)
                    }
                };
                Length::Wall((timing.zone.local(end_at) - wall).max(Duration::zero()))
            };
        } else if let Some(d) = c.prop("DURATION") {
            let span = parse_duration(&d.value).ok_or_else(|| {
                err(
                    d.line,
                    "its DURATION is not a readable duration (or is longer than 10,000 years)",
                )
            })?;
            timing.explicit_length = true;
            timing.length = if all_day {
                Length::Days(span.whole_days())
            } else {
                Length::Span(span)
            };
        }
        if timing.start_time().is_none() || timing.end_time(timing.wall).is_none() {
            return Err(err(
                c.prop("DURATION").or(c.prop("DTEND")).unwrap_or(start).line,
                PAST_9999,
            ));
        }
        Ok(timing)
    }

    /// The start, as the model wants it.
    pub fn start_time(&self) -> Option<EventTime> {
        self.time_at(self.wall)
    }

    /// A wall-clock start in this event's zone, as the model wants it;
    /// `None` outside the years 0001–9999.
    pub fn time_at(&self, wall: NaiveDateTime) -> Option<EventTime> {
        if self.all_day {
            Some(EventTime::Date(wall.date()))
        } else {
            let at = self.zone.instant(wall);
            instant_in_range(&at).then_some(EventTime::Instant(at))
        }
    }

    /// The end of an instance starting at `wall`; never before its start;
    /// `None` when it would leave the years 0001–9999.
    pub fn end_time(&self, wall: NaiveDateTime) -> Option<EventTime> {
        match self.length {
            Length::Days(n) => add_days(wall.date(), n.max(1)).map(EventTime::Date),
            Length::Wall(d) => {
                let end = self.zone.instant(add(wall, d)?);
                instant_in_range(&end).then_some(EventTime::Instant(end))
            }
            Length::Span(s) => {
                let start = self.zone.instant(wall);
                let end = self
                    .zone
                    .instant(add(wall, Duration::try_days(s.days)?)?)
                    .checked_add_signed(Duration::try_seconds(s.seconds)?)?;
                let end = end.max(start);
                instant_in_range(&end).then_some(EventTime::Instant(end))
            }
        }
    }
}

/// The `EXDATE`s of a series.
#[derive(Default)]
struct Exclusions {
    /// `VALUE=DATE`: every instance on that date.
    dates: HashSet<NaiveDate>,
    /// Date-times: the instance at that instant.
    instants: HashSet<DateTime<Utc>>,
    /// The dates date-times were written on (for an all-day series).
    written_dates: HashSet<NaiveDate>,
    /// Wall-clock times `EXRULE`s give.
    walls: HashSet<NaiveDateTime>,
}

impl Exclusions {
    /// Whether the instance originally at `original` (on `wall_date` of the
    /// series' wall clock, at `wall`) is excluded.
    fn excludes(&self, original: &EventTime, wall: NaiveDateTime) -> bool {
        if self.walls.contains(&wall) {
            return true;
        }
        match original {
            EventTime::Date(o) => self.dates.contains(o) || self.written_dates.contains(o),
            EventTime::Instant(o) => self.instants.contains(o) || self.dates.contains(&wall.date()),
        }
    }
}

/// A master event and what its recurrence properties say.
struct Series {
    timing: Timing,
    recurring: bool,
    /// The rules, each with its line.
    rules: Vec<(Rule, usize)>,
    exrules: Vec<(Rule, usize)>,
    /// `RDATE`s on the series' wall clock, with the end a `PERIOD` gives.
    rdates: Vec<(NaiveDateTime, Option<EventTime>)>,
    exclusions: Exclusions,
}

impl Series {
    fn read(c: &Comp, zones: &mut Zones<'_>) -> Result<Series, Skip> {
        let timing = Timing::read(c, zones).map_err(|e| Skip::of(e, c.line))?;
        let rule_props: Vec<&Prop> = c.all("RRULE").collect();
        let exrule_props: Vec<&Prop> = c.all("EXRULE").collect();
        if rule_props.len() + exrule_props.len() > MAX_RULES_PER_EVENT {
            let line = rule_props
                .get(MAX_RULES_PER_EVENT)
                .map_or(c.line, |p| p.line);
            return Err(Skip::at(
                line,
                format!(
                    "it has more than {MAX_RULES_PER_EVENT} RRULE and EXRULE lines (RFC 5545 \
                     says one)"
                ),
            ));
        }
        let parse = |props: &[&Prop], what: &str| -> Result<Vec<(Rule, usize)>, Skip> {
            props
                .iter()
                .map(|p| {
                    parse_rule(&p.value)
                        .map(|r| (r, p.line))
                        .map_err(|why| Skip::at(p.line, format!("its {what} {why}")))
                })
                .collect()
        };
        let rules = parse(&rule_props, "RRULE")?;
        let exrules = parse(&exrule_props, "EXRULE")?;
        let same_zone = timing.has_tzid.then(|| timing.zone.clone());
        let mut rdates = Vec::new();
        let mut values = 0usize;
        for p in c.all("RDATE") {
            let period = p.value_type_is("PERIOD");
            let want_date = p.value_type_is("DATE");
            for v in p.value.split(',').map(str::trim).filter(|v| !v.is_empty()) {
                values += 1;
                if values > MAX_DATES_PER_EVENT {
                    return Err(Skip::at(
                        p.line,
                        format!("it has more than {MAX_DATES_PER_EVENT} RDATE values"),
                    ));
                }
                let bad = || Skip::at(p.line, "an RDATE cannot be read");
                let (start_text, end_text) = match v.split_once('/') {
                    Some((s, e)) if period || !e.is_empty() => (s, Some(e)),
                    _ => (v, None),
                };
                let w = parse_written(start_text, want_date || timing.all_day).ok_or_else(bad)?;
                let m = resolve_written(w, p, zones, same_zone.as_ref())
                    .map_err(|e| Skip::of(e, p.line))?
                    .ok_or_else(bad)?;
                let wall = match m.time {
                    EventTime::Date(d) => midnight(d),
                    EventTime::Instant(t) => timing.zone.local(t),
                };
                let end = match end_text {
                    None => None,
                    Some(e) => Some(period_end(&timing, wall, e, p, zones, same_zone.as_ref())?),
                };
                rdates.push((wall, end));
            }
        }
        let mut exclusions = Exclusions::default();
        let mut values = 0usize;
        for p in c.all("EXDATE") {
            let want_date = p.value_type_is("DATE");
            for v in p.value.split(',').map(str::trim).filter(|v| !v.is_empty()) {
                values += 1;
                if values > MAX_DATES_PER_EVENT {
                    return Err(Skip::at(
                        p.line,
                        format!("it has more than {MAX_DATES_PER_EVENT} EXDATE values"),
                    ));
                }
                let bad = || Skip::at(p.line, "an EXDATE cannot be read");
                let w = parse_written(v, want_date).ok_or_else(bad)?;
                let m = resolve_written(w, p, zones, same_zone.as_ref())
                    .map_err(|e| Skip::of(e, p.line))?
                    .ok_or_else(bad)?;
                match m.time {
                    EventTime::Date(d) => {
                        exclusions.dates.insert(d);
                    }
                    EventTime::Instant(t) => {
                        exclusions.instants.insert(t);
                        exclusions.written_dates.insert(m.written_date);
                    }
                }
            }
        }
        Ok(Series {
            recurring: !rules.is_empty() || !rdates.is_empty(),
            timing,
            rules,
            exrules,
            rdates,
            exclusions,
        })
    }

    /// A rule's `UNTIL` on the series' wall clock.
    fn until_wall(&self, rule: &Rule) -> Option<NaiveDateTime> {
        rule.until.map(|w| match w {
            Written::Utc(t) => self.timing.zone.local(t.and_utc()),
            Written::Local(t) => t,
            Written::Date(d) => recur::until_of_date(d),
        })
    }

    /// The wall-clock starts of the instances in `range` (`DTSTART`, the
    /// rules' and the `RDATE`s'), each once, in order, with the end an
    /// `RDATE` period gives; `EXRULE` times go into the exclusions.
    fn instances(
        &mut self,
        range: &std::ops::RangeInclusive<NaiveDateTime>,
    ) -> Result<Vec<(NaiveDateTime, Option<EventTime>)>, Skip> {
        let mut budget = Budget {
            steps: MAX_RULE_STEPS,
            instances: MAX_INSTANCES_PER_EVENT,
        };
        let start = self.timing.wall;
        // Every rule ends before DTSTART (a deleted series): no instance.
        let ended = !self.rules.is_empty()
            && self
                .rules
                .iter()
                .all(|(r, _)| r.count == Some(0) || self.until_wall(r).is_some_and(|u| u < start));
        let mut all: Vec<(NaiveDateTime, Option<EventTime>)> = Vec::new();
        if !ended {
            all.push((start, None));
        }
        for (rule, line) in &self.rules {
            let until = self.until_wall(rule);
            let got = recur::expand(rule, start, until, range, &mut budget)
                .map_err(|why| Skip::at(*line, format!("its RRULE {why}")))?;
            all.extend(got.into_iter().map(|w| (w, None)));
        }
        let mut exrule_budget = Budget {
            steps: MAX_RULE_STEPS,
            instances: MAX_INSTANCES_PER_EVENT,
        };
        for (rule, line) in &self.exrules {
            let until = self.until_wall(rule);
            let got = recur::expand(rule, start, until, range, &mut exrule_budget)
                .map_err(|why| Skip::at(*line, format!("its EXRULE {why}")))?;
            self.exclusions.walls.extend(got);
        }
        all.extend(self.rdates.iter().cloned());
        if all.len() > MAX_INSTANCES_PER_EVENT {
            return Err(Skip::at(
                0,
                format!(
                    "it gives more than {MAX_INSTANCES_PER_EVENT} instances, more than calsync \
                     copies for one event"
                ),
            ));
        }
        // An RDATE's period end wins over the plain instance at its time.
        all.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.is_some().cmp(&a.1.is_some())));
        all.dedup_by_key(|(w, _)| *w);
        Ok(all)
    }
}

/// The end of an `RDATE;VALUE=PERIOD` (or a value with `/`), as the same
/// kind of time as the series' start (RFC 5545 §3.8.2.2: a timed series'
/// instance never ends on a DATE), never before the start.
fn period_end(
    timing: &Timing,
    wall: NaiveDateTime,
    text: &str,
    p: &Prop,
    zones: &mut Zones<'_>,
    same_zone: Option<&Zone>,
) -> Result<EventTime, Skip> {
    let bad = || Skip::at(p.line, "an RDATE period cannot be read");
    let late = || Skip::at(p.line, PAST_9999);
    let start = timing.time_at(wall).ok_or_else(late)?;
    if let Some(span) = parse_duration(text) {
        return Ok(match start {
            EventTime::Date(d) => EventTime::Date(add_days(d, span.whole_days()).ok_or_else(late)?),
            EventTime::Instant(t) => EventTime::Instant(
                t.checked_add_signed(span.exact().max(Duration::zero()))
                    .filter(instant_in_range)
                    .ok_or_else(late)?,
            ),
        });
    }
    let w = parse_written(text, timing.all_day).ok_or_else(bad)?;
    Ok(match (start, w) {
        (EventTime::Date(d), w) => {
            let end = w.date();
            EventTime::Date(if end > d {
                end
            } else {
                add_days(d, 1).ok_or_else(late)?
            })
        }
        (EventTime::Instant(s), Written::Date(d)) => {
            let end = timing.zone.instant(midnight(d));
            EventTime::Instant(end.max(s))
        }
        (EventTime::Instant(s), w) => {
            let end = resolve_written(w, p, zones, same_zone)
                .map_err(|e| Skip::of(e, p.line))?
                .ok_or_else(bad)?;
            EventTime::Instant(end.time.as_utc().max(s))
        }
    })
}

/// An override that applies to its instance and the following ones.
struct Future<'e> {
    /// The original start of its instance.
    original: EventTime,
    /// `None` when it cannot be read: the instances it covers are then
    /// not published.
    read: Option<FutureRead<'e>>,
}

struct FutureRead<'e> {
    ev: &'e Ev,
    timing: Timing,
    /// How far it moved its instance.
    shift: Shift,
    profiles: Vec<Profile>,
}

#[derive(Clone, Copy)]
enum Shift {
    Days(i64),
    Exact(Duration),
}

/// The content of one instance and the readings it must pass.
struct Instance<'e> {
    comp: &'e Comp,
    key: SourceKey,
    start: EventTime,
    end: EventTime,
    all_day: bool,
    profiles: Vec<Profile>,
}

/// Reads the groups of one file into a [`SourceRead`].
struct Reader<'r, 'd> {
    origin: &'r str,
    window: &'r Window,
    zones: &'r mut Zones<'d>,
    read: &'r mut SourceRead,
    /// Events and witnesses the current group gave so far.
    emitted: usize,
    /// Bytes of text the current group gave so far.
    text: usize,
    /// Bytes of text the groups read so far gave.
    file_text: usize,
}

impl Reader<'_, '_> {
    fn skip(&mut self, uid: &str, skip: Skip) {
        self.read.unreadable.push(IcsError::event(
            self.origin,
            &shown_uid(uid),
            skip.line,
            skip.why,
        ));
    }

    fn emit(&mut self, i: Instance<'_>) {
        if !self.window.contains(&i.start) {
            return;
        }
        let Some(primary) = i.profiles.first() else {
            return;
        };
        // Past the cap, the group is unreadable: stop copying its text.
        if self.text > MAX_TEXT_PER_EVENT {
            return;
        }
        let c = i.comp;
        let location = c.value("LOCATION").map(clean_text).unwrap_or_default();
        let description = c.value("DESCRIPTION").map(clean_text).unwrap_or_default();
        let text_of =
            |p: &Profile| p.subject.len() + p.categories.iter().map(String::len).sum::<usize>();
        self.text = self
            .text
            .saturating_add(location.len() + description.len())
            .saturating_add(i.profiles.iter().map(text_of).sum::<usize>());
        let end = match (i.start, i.end) {
            (EventTime::Instant(s), EventTime::Instant(e)) if e < s => i.start,
            (EventTime::Date(s), EventTime::Date(e)) if e <= s => {
                add_days(s, 1).map_or(i.start, EventTime::Date)
            }
            _ => i.end,
        };
        self.read.events.push(SourceEvent {
            key: i.key.clone(),
            subject: primary.subject.clone(),
            start: i.start,
            end,
            is_all_day: i.all_day,
            show_as: primary.show_as,
            sensitivity: primary.sensitivity,
            is_cancelled: primary.is_cancelled,
            categories: primary.categories.clone(),
            location,
            body: Body {
                content_type: BodyType::Text,
                content: description,
            },
        });
        self.emitted += 1 + i.profiles.len().saturating_sub(1);
        for p in i.profiles.iter().skip(1) {
            self.read.witnesses.push(SourceEvent {
                key: i.key.clone(),
                subject: p.subject.clone(),
                start: i.start,
                end,
                is_all_day: i.all_day,
                show_as: p.show_as,
                sensitivity: p.sensitivity,
                is_cancelled: p.is_cancelled,
                categories: p.categories.clone(),
                location: String::new(),
                body: Body::default(),
            });
        }
    }

    /// Reads one `UID`'s components. `Err` makes the whole `UID` unreadable.
    fn group(&mut self, g: &Group) -> Result<(), Skip> {
        if g.masters.len() > MAX_VERSIONS {
            return Err(Skip::at(
                g.line,
                format!("it comes in more than {MAX_VERSIONS} versions (VEVENTs with its UID)"),
            ));
        }
        if g.overrides.len() > MAX_INSTANCES_PER_EVENT {
            return Err(Skip::at(
                g.line,
                format!(
                    "it has more than {MAX_INSTANCES_PER_EVENT} moved or changed instances \
                     (RECURRENCE-ID)"
                ),
            ));
        }
        if let Some(p) = g.masters.iter().find_map(|m| m.problem.clone()) {
            return Err(p);
        }
        let masters: Vec<&Ev> = g.masters.iter().collect();
        let master = masters.get(winner(&masters)).copied();
        let mut series = match master {
            Some(m) => Some(Series::read(&m.comp, self.zones)?),
            None => None,
        };
        // The readings every instance of the series must pass.
        let mut all: Vec<Profile> = Vec::new();
        if let Some(m) = master {
            all.extend(profiles(&m.comp, None));
            for other in masters.iter().filter(|o| !std::ptr::eq(**o, m)) {
                all.extend(profiles(&other.comp, None));
            }
        }
        let series_profiles = distinct(all, g.line)?;

        // The overrides, by the instance they replace.
        let mut by_key: Vec<(SourceKey, EventTime, Vec<&Ev>)> = Vec::new();
        let mut key_index: HashMap<SourceKey, usize> = HashMap::new();
        for o in &g.overrides {
            let original = self.original_of(o, series.as_ref())?;
            let key = SourceKey::occurrence(&g.uid, original.as_utc());
            let found = key_index.get(&key).copied();
            match found.and_then(|i| by_key.get_mut(i)) {
                Some(entry) => {
                    if entry.2.len() >= MAX_VERSIONS {
                        return Err(Skip::at(
                            o.comp.line,
                            format!("an instance of it comes in more than {MAX_VERSIONS} versions"),
                        ));
                    }
                    entry.2.push(o);
                }
                None => {
                    key_index.insert(key.clone(), by_key.len());
                    by_key.push((key, original, vec![o]));
                }
            }
        }
        let master_comp = master.map(|m| &m.comp);
        let mut overridden: HashSet<SourceKey> = HashSet::new();
        let mut futures: Vec<Future<'_>> = Vec::new();
        let single_start = series
            .as_ref()
            .filter(|s| !s.recurring)
            .and_then(|s| s.timing.start_time());
        for (key, original, versions) in &by_key {
            let w = versions.get(winner(versions)).copied();
            let Some(w) = w else { continue };
            let future = w
                .comp
                .prop("RECURRENCE-ID")
                .and_then(|p| p.param("RANGE"))
                .is_some();
            // A plain override of a single event replaces it.
            let key = if single_start == Some(*original) && !future {
                SourceKey::single(&g.uid)
            } else {
                key.clone()
            };
            overridden.insert(key.clone());
            if let Some(s) = &series
                && s.exclusions.excludes(original, wall_of(s, original))
            {
                continue;
            }
            let problem = versions.iter().find_map(|v| v.problem.clone());
            let read = match problem {
                Some(p) => Err(p),
                None => Timing::read(&w.comp, self.zones).map_err(|e| Skip::of(e, w.comp.line)),
            };
            let mut timing = match read {
                Ok(t) => t,
                Err(skip) => {
                    // Its instance (and, for THISANDFUTURE, the following
                    // ones) is not published: the override may be what
                    // made it private.
                    self.skip(&g.uid, skip);
                    if future {
                        futures.push(Future {
                            original: *original,
                            read: None,
                        });
                    }
                    continue;
                }
            };
            if !timing.explicit_length
                && let Some(s) = &series
            {
                timing.length = s.timing.length;
            }
            let mut all = profiles(&w.comp, master_comp);
            for v in versions.iter().filter(|v| !std::ptr::eq(**v, w)) {
                all.extend(profiles(&v.comp, master_comp));
            }
            all.extend(series_profiles.iter().cloned());
            let readings = distinct(all, w.comp.line)?;
            let (Some(start), Some(end)) = (timing.start_time(), timing.end_time(timing.wall))
            else {
                self.skip(&g.uid, Skip::at(w.comp.line, PAST_9999));
                continue;
            };
            if future {
                let shift = match (start, original) {
                    (EventTime::Date(s), EventTime::Date(o)) => Shift::Days((s - *o).num_days()),
                    (s, o) => Shift::Exact(s.as_utc() - o.as_utc()),
                };
                futures.push(Future {
                    original: *original,
                    read: Some(FutureRead {
                        ev: w,
                        timing: timing.clone(),
                        shift,
                        profiles: readings.clone(),
                    }),
                });
            }
            self.emit(Instance {
                comp: &w.comp,
                key,
                start,
                end,
                all_day: timing.all_day,
                profiles: readings,
            });
        }

        let Some(series) = series.as_mut() else {
            return Ok(());
        };
        let Some(master) = master else {
            return Ok(());
        };
        if !series.recurring {
            let key = SourceKey::single(&g.uid);
            if overridden.contains(&key) {
                return Ok(());
            }
            let t = &series.timing;
            let (Some(start), Some(end)) = (t.start_time(), t.end_time(t.wall)) else {
                return Err(Skip::at(master.comp.line, PAST_9999));
            };
            let all_day = t.all_day;
            self.emit(Instance {
                comp: &master.comp,
                key,
                start,
                end,
                all_day,
                profiles: series_profiles,
            });
            return Ok(());
        }
        futures.sort_by_key(|f| f.original.as_utc());
        let range = self.range(series, &futures);
        let instances = series.instances(&range)?;
        for (wall, period_end) in instances {
            let Some(original) = series.timing.time_at(wall) else {
                continue;
            };
            let key = SourceKey::occurrence(&g.uid, original.as_utc());
            if overridden.contains(&key) || series.exclusions.excludes(&original, wall) {
                continue;
            }
            // The last override of the future that precedes this instance.
            let before = futures.partition_point(|f| f.original.as_utc() < original.as_utc());
            let covering = before.checked_sub(1).and_then(|i| futures.get(i));
            let instance = match covering {
                Some(Future { read: None, .. }) => continue,
                Some(Future { read: Some(f), .. }) => {
                    let Some((start, end)) = shifted(f, &original) else {
                        return Err(Skip::at(f.ev.comp.line, PAST_9999));
                    };
                    Instance {
                        comp: &f.ev.comp,
                        key,
                        start,
                        end,
                        all_day: f.timing.all_day,
                        profiles: f.profiles.clone(),
                    }
                }
                None => {
                    let end = match period_end {
                        Some(e) => e,
                        None => match series.timing.end_time(wall) {
                            Some(e) => e,
                            None => return Err(Skip::at(master.comp.line, PAST_9999)),
                        },
                    };
                    Instance {
                        comp: &master.comp,
                        key,
                        start: original,
                        end,
                        all_day: series.timing.all_day,
                        profiles: series_profiles.clone(),
                    }
                }
            };
            self.emit(instance);
        }
        Ok(())
    }

    /// The wall-clock range a series is expanded over: the window with a
    /// day's margin, widened by the largest move of a THISANDFUTURE
    /// override.
    fn range(
        &self,
        series: &Series,
        futures: &[Future<'_>],
    ) -> std::ops::RangeInclusive<NaiveDateTime> {
        let zone = &series.timing.zone;
        let moved = futures
            .iter()
            .filter_map(|f| f.read.as_ref())
            .map(|f| match f.shift {
                Shift::Days(d) => Duration::try_days(d.abs()).unwrap_or_default(),
                Shift::Exact(d) => d.abs(),
            })
            .max()
            .unwrap_or_default();
        let margin = Duration::days(1)
            .checked_add(&moved)
            .unwrap_or(Duration::days(1));
        let from = zone.local(self.window.start);
        let to = zone.local(self.window.end);
        let from = from
            .checked_sub_signed(margin)
            .unwrap_or(NaiveDateTime::MIN);
        let to = to.checked_add_signed(margin).unwrap_or(NaiveDateTime::MAX);
        from..=to
    }

    /// The original start of the instance an override replaces. `Err`
    /// makes the whole `UID` unreadable: which instances it changes cannot
    /// be told.
    fn original_of(&mut self, o: &Ev, series: Option<&Series>) -> Result<EventTime, Skip> {
        let c = &o.comp;
        let Some(rid) = c.prop("RECURRENCE-ID") else {
            return Err(Skip::at(c.line, "its RECURRENCE-ID is missing"));
        };
        match rid.param("RANGE").map(str::trim) {
            None => {}
            Some(r) if r.eq_ignore_ascii_case("THISANDFUTURE") => {}
            Some(_) => {
                return Err(Skip::at(
                    rid.line,
                    "its RECURRENCE-ID has a RANGE other than THISANDFUTURE, which RFC 5545 \
                     §3.2.13 no longer allows",
                ));
            }
        }
        let written = parse_written(&rid.value, rid.value_type_is("DATE"))
            .ok_or_else(|| Skip::at(rid.line, "its RECURRENCE-ID cannot be read"))?;
        // A RECURRENCE-ID without zone is read in the override's own
        // DTSTART zone, else its series' (not as a floating time).
        let floating = matches!(written, Written::Local(_))
            && rid.param("TZID").is_none_or(|t| t.trim().is_empty());
        let own_start_zone = c.prop("DTSTART").and_then(|p| {
            p.param("TZID")
                .filter(|t| !t.trim().is_empty())
                .map(|t| (t.to_string(), p.line))
        });
        let default_zone = match (floating, &own_start_zone, series) {
            (false, _, _) => None,
            (true, Some((id, line)), _) => Some(
                self.zones
                    .resolve(id, *line)
                    .map_err(|e| Skip::of(e, *line))?,
            ),
            (true, None, Some(s)) if s.timing.has_tzid => Some(s.timing.zone.clone()),
            _ => None,
        };
        let original = resolve_written(written, rid, self.zones, default_zone.as_ref())
            .map_err(|e| Skip::of(e, rid.line))?
            .ok_or_else(|| Skip::at(rid.line, "its RECURRENCE-ID cannot be read"))?;
        // An all-day series names its instances by date, however the
        // override writes its RECURRENCE-ID.
        let time = match (series, original.time) {
            (Some(s), EventTime::Instant(_)) if s.timing.all_day => {
                EventTime::Date(original.written_date)
            }
            (_, t) => t,
        };
        Ok(time)
    }
}

/// The wall-clock time of an original start in a series' zone.
fn wall_of(s: &Series, original: &EventTime) -> NaiveDateTime {
    match original {
        EventTime::Date(d) => midnight(*d),
        EventTime::Instant(t) => s.timing.zone.local(*t),
    }
}

/// Where a THISANDFUTURE override puts an instance originally at
/// `original`: moved as much as the override moved its own, as long as the
/// override lasts.
fn shifted(f: &FutureRead<'_>, original: &EventTime) -> Option<(EventTime, EventTime)> {
    let t = &f.timing;
    if t.all_day {
        let date = match (original, f.shift) {
            (EventTime::Date(d), Shift::Days(n)) => add_days(*d, n)?,
            (o, Shift::Exact(d)) => o.as_utc().checked_add_signed(d)?.date_naive(),
            (EventTime::Instant(o), Shift::Days(n)) => add_days(o.date_naive(), n)?,
        };
        let wall = midnight(date);
        return Some((t.time_at(wall)?, t.end_time(wall)?));
    }
    let start = match f.shift {
        Shift::Exact(d) => original.as_utc().checked_add_signed(d)?,
        Shift::Days(n) => original
            .as_utc()
            .checked_add_signed(Duration::try_days(n)?)?,
    };
    if !instant_in_range(&start) {
        return None;
    }
    let wall = t.zone.local(start);
    Some((EventTime::Instant(start), t.end_time(wall)?))
}
