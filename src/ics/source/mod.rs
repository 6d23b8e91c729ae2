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

mod group;
mod profile;
mod reader;
mod series;
mod timing;

pub(crate) use profile::show_as;
pub(crate) use timing::Timing;

use super::IcsError;
use super::doc::Document;
use super::limits::{
    MAX_EVENTS_PER_FILE, MAX_INSTANCES_PER_EVENT, MAX_TEXT_PER_EVENT, MAX_TEXT_PER_FILE,
};
use super::text::clean_text;
use super::tz::Zones;
use crate::model::{Body, EventTime, Sensitivity, ShowAs, SourceEvent, SourceKey, Window};
use group::{Ev, Group, READ, disagreeing_singles};
use reader::Reader;
use std::collections::HashMap;

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
                // What the file shows of the UID, so that a merged source
                // can hide other readings of an event this file garbles.
                ical_uid: e.uid.clone(),
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
