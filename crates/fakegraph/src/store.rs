//! The fake's data: mailboxes, calendars, events, and the expansion of series
//! into occurrences and exceptions.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{Map, Value};

use crate::behaviour::{Behaviour, DuplicateTransactionId};
use crate::delta::DeltaTokens;
use crate::error::GraphError;
use crate::event::{self, EventInput};
use crate::ids::{self, ParsedId};
use crate::recurrence::Rule;
use crate::timezone::Wall;

/// A named single-value extended property, as stored.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ExtProp {
    pub id: String,
    pub value: String,
}

/// The fields an event, a series master and an exception each carry.
#[derive(Clone, Debug)]
pub(crate) struct Item {
    pub change_key: String,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
    pub start: Wall,
    pub end: Wall,
    pub is_all_day: bool,
    /// Every other property in its Graph JSON form (subject, body, sensitivity, …).
    pub props: Map<String, Value>,
    pub ext: Vec<ExtProp>,
}

#[derive(Clone, Debug)]
pub(crate) struct Series {
    pub rule: Rule,
    /// Modified occurrences, by original start.
    pub exceptions: BTreeMap<DateTime<Utc>, Item>,
    /// Deleted occurrences, by original start.
    pub cancelled: BTreeSet<DateTime<Utc>>,
}

/// A stored event: a single instance or a series master.
#[derive(Clone, Debug)]
pub(crate) struct Event {
    pub id: String,
    pub calendar_id: String,
    /// `iCalUId` (`api-reference/v1.0/resources/event.md`): the meeting's
    /// iCalendar UID, shared by every calendar that holds the meeting; an
    /// occurrence's is the series' with its date filled in
    /// ([`crate::ids::occurrence_ical_uid`]).
    pub ical_uid: String,
    pub transaction_id: Option<String>,
    pub item: Item,
    pub series: Option<Series>,
    /// Bumped when the stored item itself is edited (not when one instance
    /// of its series is): what makes every unmodified occurrence count as
    /// changed in delta.
    pub revision: u64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Kind {
    SingleInstance,
    Occurrence,
    Exception,
    SeriesMaster,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::SingleInstance => "singleInstance",
            Kind::Occurrence => "occurrence",
            Kind::Exception => "exception",
            Kind::SeriesMaster => "seriesMaster",
        }
    }
}

/// One event as a client sees it: a stored event, or an instance of a series.
#[derive(Clone, Debug)]
pub(crate) struct View<'a> {
    pub id: String,
    pub kind: Kind,
    pub event: &'a Event,
    pub item: Cow<'a, Item>,
    pub original_start: Option<DateTime<Utc>>,
    pub ical_uid: String,
}

impl View<'_> {
    pub fn start(&self) -> DateTime<Utc> {
        self.item.start.instant()
    }

    pub fn end(&self) -> DateTime<Utc> {
        self.item.end.instant()
    }

    /// Whether the event overlaps `[from, to)`; an event of no duration
    /// counts when it starts inside the range.
    pub fn overlaps(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
        let (s, e) = (self.start(), self.end());
        s < to && (e > from || (s == e && s >= from))
    }
}

impl Event {
    pub fn view(&self) -> View<'_> {
        View {
            id: self.id.clone(),
            kind: if self.series.is_some() {
                Kind::SeriesMaster
            } else {
                Kind::SingleInstance
            },
            event: self,
            item: Cow::Borrowed(&self.item),
            original_start: None,
            ical_uid: self.ical_uid.clone(),
        }
    }

    /// The original start of the occurrence on `date` (series zone).
    fn original_start(&self, date: NaiveDate) -> DateTime<Utc> {
        let start = &self.item.start;
        start.zone.to_utc(date.and_time(start.local.time()))
    }

    /// The instance of the series on `date`, unless it was cancelled.
    fn instance(&self, date: NaiveDate, generation: u32) -> Option<View<'_>> {
        let series = self.series.as_ref()?;
        let original = self.original_start(date);
        if series.cancelled.contains(&original) {
            return None;
        }
        let (kind, item) = match series.exceptions.get(&original) {
            Some(exception) => (Kind::Exception, Cow::Borrowed(exception)),
            None => {
                let mut item = self.item.clone();
                let master = &self.item;
                item.start = Wall {
                    local: date.and_time(master.start.local.time()),
                    zone: master.start.zone.clone(),
                };
                if master.is_all_day {
                    let days = (master.end.local.date() - master.start.local.date()).num_days();
                    item.end = Wall {
                        local: item.start.local + Duration::days(days),
                        zone: master.end.zone.clone(),
                    };
                } else {
                    let length = master.end.instant() - master.start.instant();
                    let end = item.start.instant() + length;
                    item.end = Wall {
                        local: master.end.zone.local_time(end),
                        zone: master.end.zone.clone(),
                    };
                }
                (Kind::Occurrence, Cow::Owned(item))
            }
        };
        Some(View {
            id: ids::occurrence_id(&self.id, date, generation),
            kind,
            event: self,
            item,
            original_start: Some(original),
            ical_uid: ids::occurrence_ical_uid(&self.ical_uid, date),
        })
    }

    /// Every instance of a series whose original date is at most `until`,
    /// plus every exception (which may have moved anywhere).
    pub fn instances(&self, until: NaiveDate, generation: u32) -> Vec<View<'_>> {
        let Some(series) = &self.series else {
            return Vec::new();
        };
        let last_exception = series
            .exceptions
            .keys()
            .map(|t| self.item.start.zone.local_time(*t).date())
            .max();
        let until = last_exception.map_or(until, |d| d.max(until));
        series
            .rule
            .dates_until(until)
            .into_iter()
            .filter_map(|d| self.instance(d, generation))
            .collect()
    }

    /// The date of the occurrence that originally starts at `original`.
    fn occurrence_date(&self, original: DateTime<Utc>) -> Option<NaiveDate> {
        let series = self.series.as_ref()?;
        let date = self.item.start.zone.local_time(original).date();
        (self.original_start(date) == original
            && series.rule.dates_until(date).last() == Some(&date))
        .then_some(date)
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Calendar {
    pub id: String,
    pub name: String,
    pub change_key: String,
    pub is_default: bool,
    pub color: &'static str,
    pub hex_color: &'static str,
}

#[derive(Clone, Debug)]
pub(crate) struct Mailbox {
    pub upn: String,
    pub id: String,
    pub display_name: String,
    pub calendars: Vec<Calendar>,
    pub events: Vec<Event>,
    /// Every `transactionId` used to create an event here, with the id of
    /// the event first created with it (kept after that event is deleted).
    pub transactions: HashMap<String, String>,
    /// `mailboxSettings.timeZone`.
    pub time_zone: String,
}

impl Mailbox {
    pub fn calendar(&self, id: &str) -> Option<&Calendar> {
        self.calendars.iter().find(|c| c.id == id)
    }

    pub fn default_calendar(&self) -> &Calendar {
        self.calendars
            .iter()
            .find(|c| c.is_default)
            .expect("every mailbox has a default calendar")
    }

    pub fn event_index(&self, id: &str) -> Option<usize> {
        self.events.iter().position(|e| e.id == id)
    }
}

/// What an event id in a request refers to.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target {
    /// A stored event (single instance or series master), by index.
    Event(usize),
    /// One instance of the series at this index.
    Instance {
        event: usize,
        date: NaiveDate,
        original_start: DateTime<Utc>,
    },
}

/// Who is writing: a client over HTTP (counted, validated as Graph does) or a
/// test seeding data as a person would in Outlook (uncounted, may set
/// read-only fields such as `isCancelled` and `organizer`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Origin {
    Client,
    Person,
}

pub(crate) struct Store {
    pub mailboxes: Vec<Mailbox>,
    /// Salt of occurrence ids; bumped when Graph "re-issues" them.
    pub generation: u32,
    pub writes_applied: usize,
    pub invites_sent: usize,
    pub rng: fastrand::Rng,
    pub delta: DeltaTokens,
    pub behaviour: Behaviour,
}

const COLORS: &[(&str, &str)] = &[
    ("auto", ""),
    ("lightBlue", "#a6d1f5"),
    ("lightGreen", "#87d28e"),
    ("lightOrange", "#fcab73"),
    ("lightGray", "#c0c0c0"),
    ("lightYellow", "#f9e99c"),
];

impl Store {
    pub fn new(seed: u64) -> Store {
        Store {
            mailboxes: Vec::new(),
            generation: 1,
            writes_applied: 0,
            invites_sent: 0,
            rng: fastrand::Rng::with_seed(seed),
            delta: DeltaTokens::default(),
            behaviour: Behaviour::default(),
        }
    }

    /// The mailbox a `/users/{id|upn}` segment names (case-insensitive).
    pub fn mailbox_index(&self, user: &str) -> Option<usize> {
        self.mailboxes
            .iter()
            .position(|m| m.upn.eq_ignore_ascii_case(user) || m.id.eq_ignore_ascii_case(user))
    }

    /// Adds a mailbox whose default calendar is named `default_calendar`
    /// (a localized name such as "Kalender"), or "Calendar" if `None`. With
    /// a name, an existing mailbox's default calendar is renamed.
    pub fn add_mailbox(&mut self, upn: &str, default_calendar: Option<&str>) -> usize {
        if let Some(i) = self.mailbox_index(upn) {
            let mb = &mut self.mailboxes[i];
            if let Some(name) = default_calendar
                && let Some(c) = mb.calendars.iter_mut().find(|c| c.is_default)
            {
                c.name = name.to_string();
            }
            return i;
        }
        let local = upn.split('@').next().unwrap_or(upn);
        let display_name = local
            .split(['.', '-', '_'])
            .filter(|w| !w.is_empty())
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect::<String>())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join(" ");
        let id = ids::new_guid(&mut self.rng);
        self.mailboxes.push(Mailbox {
            upn: upn.to_string(),
            id,
            display_name,
            calendars: Vec::new(),
            events: Vec::new(),
            transactions: HashMap::new(),
            time_zone: "UTC".to_string(),
        });
        let index = self.mailboxes.len() - 1;
        self.add_calendar(index, default_calendar.unwrap_or("Calendar"), true);
        index
    }

    pub fn add_calendar(&mut self, mailbox: usize, name: &str, is_default: bool) -> String {
        let id = ids::new_item_id(&mut self.rng);
        let change_key = ids::new_change_key(&mut self.rng);
        let mb = &mut self.mailboxes[mailbox];
        let (color, hex_color) = COLORS[mb.calendars.len() % COLORS.len()];
        mb.calendars.push(Calendar {
            id: id.clone(),
            name: name.to_string(),
            change_key,
            is_default,
            color,
            hex_color,
        });
        id
    }

    /// Resolves an event id within a mailbox (and calendar, when the path names one).
    pub fn resolve(
        &self,
        mailbox: usize,
        id: &str,
        calendar: Option<&str>,
    ) -> Result<Target, GraphError> {
        let mb = &self.mailboxes[mailbox];
        let in_calendar = |index: usize| calendar.is_none_or(|c| mb.events[index].calendar_id == c);
        match ids::parse(id).ok_or_else(GraphError::malformed_id)? {
            ParsedId::Item => mb
                .event_index(id)
                .filter(|i| in_calendar(*i))
                .map(Target::Event)
                .ok_or_else(GraphError::not_found),
            ParsedId::Occurrence {
                master_id,
                date,
                generation,
            } => {
                let index = mb
                    .event_index(&master_id)
                    .filter(|i| in_calendar(*i) && generation == self.generation)
                    .ok_or_else(GraphError::not_found)?;
                let event = &mb.events[index];
                let original = event.original_start(date);
                if event.occurrence_date(original) != Some(date)
                    || event
                        .series
                        .as_ref()
                        .is_some_and(|s| s.cancelled.contains(&original))
                {
                    return Err(GraphError::not_found());
                }
                Ok(Target::Instance {
                    event: index,
                    date,
                    original_start: original,
                })
            }
        }
    }

    /// The instance of a series that originally starts at `original`.
    pub fn instance_target(
        &self,
        mailbox: usize,
        series_id: &str,
        original: DateTime<Utc>,
    ) -> Option<Target> {
        let mb = &self.mailboxes[mailbox];
        let index = mb.event_index(series_id)?;
        let date = mb.events[index].occurrence_date(original)?;
        Some(Target::Instance {
            event: index,
            date,
            original_start: original,
        })
    }

    pub fn view(&self, mailbox: usize, target: Target) -> Option<View<'_>> {
        let mb = &self.mailboxes[mailbox];
        match target {
            Target::Event(i) => Some(mb.events[i].view()),
            Target::Instance { event, date, .. } => {
                mb.events[event].instance(date, self.generation)
            }
        }
    }

    /// Creates an event (`Ok((id, true))`). A `transactionId` already used
    /// in the mailbox creates nothing: as [`Behaviour::duplicate_transaction_id`]
    /// says, it is refused with `ErrorDuplicateTransactionId`, or answered
    /// with the existing event (`Ok((id, false))`) while that exists.
    /// Seeding (a person's writes) always takes the second way.
    pub fn create_event(
        &mut self,
        mailbox: usize,
        calendar_id: &str,
        input: EventInput,
        origin: Origin,
    ) -> Result<(String, bool), GraphError> {
        let mb = &self.mailboxes[mailbox];
        if let Some(tid) = &input.transaction_id
            && let Some(first) = mb.transactions.get(tid)
        {
            let mode = match origin {
                Origin::Client => self.behaviour.duplicate_transaction_id,
                Origin::Person => DuplicateTransactionId::Created201,
            };
            let status = match mode {
                DuplicateTransactionId::Error400 => Some(400),
                DuplicateTransactionId::Error409 => Some(409),
                DuplicateTransactionId::Created201 => None,
            };
            if let Some(status) = status {
                // The body alcionai/corso#2490 reports; the id of the event
                // first created, even if it was deleted since.
                let mut e = GraphError::new(
                    status,
                    "ErrorDuplicateTransactionId",
                    "The TransactionId specified in the request has already been used to create a different event.",
                );
                // No report shows a 409 naming the event: a client must then
                // find it by other means.
                if status == 400 {
                    e.extra
                        .insert("@event.existingEventId".into(), Value::from(first.clone()));
                }
                return Err(e);
            }
            if mb.event_index(first).is_some() {
                return Ok((first.clone(), false));
            }
        }
        let (Some(start), Some(end)) = (input.start.clone(), input.end.clone()) else {
            return Err(GraphError::new(
                400,
                "ErrorInvalidRequest",
                "The start and end of an event are required.",
            ));
        };
        let now = Utc::now();
        let mut props = event::default_props(&mb.display_name, &mb.upn);
        if let Some(zone) = input.props.get("originalStartTimeZone").cloned() {
            props.insert("originalStartTimeZone".into(), zone);
        } else {
            props.insert(
                "originalStartTimeZone".into(),
                Value::from(start.zone.name.clone()),
            );
        }
        if !input.props.contains_key("originalEndTimeZone") {
            props.insert(
                "originalEndTimeZone".into(),
                Value::from(end.zone.name.clone()),
            );
        }
        let mut item = Item {
            change_key: ids::new_change_key(&mut self.rng),
            created: now,
            modified: now,
            start,
            end,
            is_all_day: false,
            props,
            ext: Vec::new(),
        };
        event::apply(&mut item, &input);
        event::validate(&item)?;
        let series = match &input.recurrence {
            Some(Some(rule)) => Some(Series {
                rule: rule.clone(),
                exceptions: BTreeMap::new(),
                cancelled: BTreeSet::new(),
            }),
            _ => None,
        };
        let id = ids::new_item_id(&mut self.rng);
        let ical_uid = ids::new_ical_uid(&mut self.rng);
        if origin == Origin::Client {
            self.writes_applied += 1;
            self.invites_sent += event::attendee_count(&input);
        }
        let mb = &mut self.mailboxes[mailbox];
        if let Some(tid) = &input.transaction_id {
            mb.transactions.insert(tid.clone(), id.clone());
        }
        mb.events.push(Event {
            id: id.clone(),
            calendar_id: calendar_id.to_string(),
            ical_uid,
            transaction_id: input.transaction_id,
            item,
            series,
            revision: 0,
        });
        Ok((id, true))
    }

    /// Applies a PATCH to an event or one instance of a series. For an
    /// occurrence the change turns it into an exception.
    pub fn update(
        &mut self,
        mailbox: usize,
        target: Target,
        input: &EventInput,
        if_match: Option<&str>,
        origin: Origin,
    ) -> Result<(), GraphError> {
        let change_key = ids::new_change_key(&mut self.rng);
        let generation_bump;
        {
            let current = self
                .view(mailbox, target)
                .ok_or_else(GraphError::not_found)?;
            check_if_match(if_match, &current.item.change_key)?;
            if let Some(tid) = &input.transaction_id
                && current.event.transaction_id.as_ref() != Some(tid)
            {
                return Err(GraphError::new(
                    400,
                    "ErrorInvalidRequest",
                    "The transactionId of an event can't be changed after it is created.",
                ));
            }
            if input.recurrence.is_some()
                && matches!(current.kind, Kind::Occurrence | Kind::Exception)
            {
                return Err(GraphError::new(
                    400,
                    "ErrorInvalidRequest",
                    "The recurrence of an occurrence or exception can't be changed.",
                ));
            }
            let mut item = current.item.into_owned();
            event::apply(&mut item, input);
            item.change_key = change_key;
            item.modified = Utc::now();
            event::validate(&item)?;
            generation_bump = input.recurrence.is_some();
            let mb = &mut self.mailboxes[mailbox];
            match target {
                Target::Event(i) => {
                    let stored = &mut mb.events[i];
                    stored.item = item;
                    stored.revision += 1;
                    match &input.recurrence {
                        Some(Some(rule)) => {
                            stored.series = Some(Series {
                                rule: rule.clone(),
                                exceptions: BTreeMap::new(),
                                cancelled: BTreeSet::new(),
                            });
                        }
                        Some(None) => stored.series = None,
                        None => {}
                    }
                }
                Target::Instance {
                    event,
                    original_start,
                    ..
                } => {
                    let master = &mut mb.events[event];
                    if let Some(series) = &mut master.series {
                        series.exceptions.insert(original_start, item);
                    }
                    touch_series(&mut master.item, &mut self.rng);
                }
            }
        }
        if generation_bump {
            self.generation += 1;
        }
        if origin == Origin::Client {
            self.writes_applied += 1;
            self.invites_sent += event::attendee_count(input);
        }
        Ok(())
    }

    /// Deletes an event, a whole series, or one instance of a series.
    pub fn delete(
        &mut self,
        mailbox: usize,
        target: Target,
        if_match: Option<&str>,
        origin: Origin,
    ) -> Result<(), GraphError> {
        {
            let current = self
                .view(mailbox, target)
                .ok_or_else(GraphError::not_found)?;
            check_if_match(if_match, &current.item.change_key)?;
        }
        let mb = &mut self.mailboxes[mailbox];
        match target {
            Target::Event(i) => {
                mb.events.remove(i);
            }
            Target::Instance {
                event,
                original_start,
                ..
            } => {
                let master = &mut mb.events[event];
                if let Some(series) = &mut master.series {
                    series.exceptions.remove(&original_start);
                    series.cancelled.insert(original_start);
                }
                touch_series(&mut master.item, &mut self.rng);
            }
        }
        if origin == Origin::Client {
            self.writes_applied += 1;
        }
        Ok(())
    }
}

/// A change to one instance of a series is a change to the series master:
/// Exchange keeps a series' modified and deleted occurrences on the master
/// item (its `ModifiedOccurrences` and `DeletedOccurrences`, learn.microsoft.com
/// `exchange/client-developer/exchange-web-services/how-to-create-a-recurring-series-by-using-ews-in-exchange`),
/// so the master gets a new change key and calendarView delta lists it again.
fn touch_series(master: &mut Item, rng: &mut fastrand::Rng) {
    master.change_key = ids::new_change_key(rng);
    master.modified = Utc::now();
}

/// `If-Match` accepts `*`, `W/"key"`, `"key"` or the bare key.
fn check_if_match(if_match: Option<&str>, change_key: &str) -> Result<(), GraphError> {
    let Some(header) = if_match else {
        return Ok(());
    };
    let matches = header.split(',').map(str::trim).any(|tag| {
        let tag = tag.strip_prefix("W/").unwrap_or(tag);
        tag == "*" || tag.trim_matches('"') == change_key
    });
    if matches {
        Ok(())
    } else {
        Err(GraphError::new(
            412,
            "ErrorIrresolvableConflict",
            "The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item.",
        ))
    }
}
