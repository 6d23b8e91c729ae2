//! Reading the events of a source `.ics` file for a window (no I/O).

use super::IcsError;
use super::doc::{Comp, Document, Prop};
use super::recur::{self, MAX_SCANNED};
use super::text::split_text_list;
use super::time::{Span, Written, parse_duration, parse_written};
use super::tz::{Zone, Zones};
use crate::model::{
    Body, BodyType, EventTime, Sensitivity, ShowAs, SourceEvent, SourceKey, Window,
};
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use std::collections::{HashMap, HashSet};

/// Reads the events of an iCalendar file that start in the window (both
/// ends included), recurring events expanded into their instances. Events
/// are sorted by start, then key. `origin` (a path or URL) names the file
/// in errors.
///
/// Fails on a file that is not iCalendar and on any event that cannot be
/// read, rather than returning a partial list.
pub fn parse_events(
    input: &[u8],
    window: &Window,
    origin: &str,
) -> Result<Vec<SourceEvent>, IcsError> {
    let doc = Document::parse(input, origin)?;
    let mut zones = Zones::new(&doc, origin);
    let vevents: Vec<&Comp> = doc
        .items
        .iter()
        .map(|i| &i.comp)
        .filter(|c| c.name == "VEVENT")
        .collect();

    // Overrides by UID, then by the key of the instance they replace.
    let mut masters: Vec<(&Comp, String)> = Vec::new();
    let mut override_comps: Vec<(&Comp, String)> = Vec::new();
    for c in vevents {
        let uid = uid_of(c, origin)?;
        if c.prop("RECURRENCE-ID").is_some() {
            override_comps.push((c, uid));
        } else {
            masters.push((c, uid));
        }
    }
    let mut master_by_uid: HashMap<&str, &Comp> = HashMap::new();
    for (c, uid) in &masters {
        master_by_uid.entry(uid.as_str()).or_insert(c);
    }

    let mut out = Vec::new();
    let mut overridden: HashSet<SourceKey> = HashSet::new();
    let mut series: HashMap<&str, Series> = HashMap::new();
    for (c, uid) in &masters {
        let timing = Timing::read(c, &mut zones, origin, uid)?;
        if series.contains_key(uid.as_str()) {
            continue;
        }
        let s = Series::read(c, timing, &mut zones, origin, uid)?;
        series.insert(uid.as_str(), s);
    }

    // Overrides first: they decide which instances the series no longer gives.
    for (c, uid) in &override_comps {
        let master = master_by_uid.get(uid.as_str()).copied();
        let s = series.get(uid.as_str());
        let rid = c
            .prop("RECURRENCE-ID")
            .ok_or_else(|| IcsError::event(origin, uid, c.line, "its RECURRENCE-ID is missing"))?;
        // A RECURRENCE-ID without zone is read in the override's own
        // DTSTART zone, else its series' (not as a floating time).
        let own_start_zone = c.prop("DTSTART").and_then(|p| {
            p.param("TZID")
                .filter(|t| !t.trim().is_empty())
                .map(|t| (t.to_string(), p.line))
        });
        let default_zone = match (&own_start_zone, s) {
            (Some((id, line)), _) => Some(zones.resolve(id, *line).map_err(|e| e.for_event(uid))?),
            (None, Some(s)) if s.timing.has_tzid => Some(s.timing.zone.clone()),
            _ => None,
        };
        let original = read_moment(rid, &mut zones, default_zone.as_ref())
            .map_err(|e| e.for_event(uid))?
            .ok_or_else(|| {
                IcsError::event(origin, uid, rid.line, "its RECURRENCE-ID cannot be read")
            })?;
        // An all-day series names its instances by date, however the
        // override writes its RECURRENCE-ID.
        let original_time = match (s, original.time) {
            (Some(s), EventTime::Instant(_)) if s.timing.all_day => {
                EventTime::Date(original.written_date)
            }
            (_, t) => t,
        };
        let key = SourceKey::occurrence(uid, original_time.as_utc());
        if !overridden.insert(key.clone()) {
            continue;
        }
        if s.is_some_and(|s| s.excludes(&original_time, original.written_date)) {
            continue;
        }
        let mut timing = Timing::read(c, &mut zones, origin, uid)?;
        if !timing.explicit_length
            && let Some(s) = s
        {
            timing.length = s.timing.length;
        }
        let start = timing.start_time();
        if !window.contains(&start) {
            continue;
        }
        out.push(event(
            c,
            master,
            key,
            start,
            timing.end_time(timing.wall),
            timing.all_day,
        ));
    }

    for (c, uid) in &masters {
        let Some(s) = series.get(uid.as_str()) else {
            continue;
        };
        if !std::ptr::eq(*c, s.comp) {
            // A second master with a UID already read: the first counts.
            continue;
        }
        if !s.recurring {
            let start = s.timing.start_time();
            if window.contains(&start) {
                out.push(event(
                    c,
                    None,
                    SourceKey::single(uid),
                    start,
                    s.timing.end_time(s.timing.wall),
                    s.timing.all_day,
                ));
            }
            continue;
        }
        for (wall, explicit_end) in s
            .instances(window)
            .map_err(|why| IcsError::event(origin, uid, c.line, why))?
        {
            let original = s.timing.time_at(wall);
            let key = SourceKey::occurrence(uid, original.as_utc());
            if overridden.contains(&key) || s.excludes(&original, wall.date()) {
                continue;
            }
            if !window.contains(&original) {
                continue;
            }
            let end = explicit_end.unwrap_or_else(|| s.timing.end_time(wall));
            out.push(event(c, None, key, original, end, s.timing.all_day));
        }
    }

    out.sort_by(|a, b| (a.start.as_utc(), &a.key).cmp(&(b.start.as_utc(), &b.key)));
    Ok(out)
}

fn uid_of(c: &Comp, origin: &str) -> Result<String, IcsError> {
    match c.value("UID").map(str::trim) {
        Some(uid) if !uid.is_empty() => Ok(uid.to_string()),
        _ => Err(IcsError::at_line(
            origin,
            c.line,
            "this VEVENT has no UID, which calsync needs to recognise the event on the next \
             run; the program that wrote the file must give every event a UID",
        )),
    }
}

/// A DATE or DATE-TIME property value, resolved.
struct Moment {
    time: EventTime,
    /// The date as written (before any zone is applied).
    written_date: NaiveDate,
}

/// Reads a DATE/DATE-TIME property: a `Z` value is UTC, a `TZID` names its
/// zone, and a floating value is read in `default_zone` when given, else the
/// calendar's floating zone. `None` when the value cannot be read.
fn read_moment(
    p: &Prop,
    zones: &mut Zones<'_>,
    default_zone: Option<&Zone>,
) -> Result<Option<Moment>, IcsError> {
    let want_date = p
        .param("VALUE")
        .is_some_and(|v| v.eq_ignore_ascii_case("DATE"));
    let Some(w) = parse_written(&p.value, want_date) else {
        return Ok(None);
    };
    Ok(Some(resolve_written(w, p, zones, default_zone)?))
}

fn resolve_written(
    w: Written,
    p: &Prop,
    zones: &mut Zones<'_>,
    default_zone: Option<&Zone>,
) -> Result<Moment, IcsError> {
    let time = match w {
        Written::Date(d) => EventTime::Date(d),
        Written::Utc(t) => EventTime::Instant(t.and_utc()),
        Written::Local(t) => {
            let zone = match (p.param("TZID"), default_zone) {
                (Some(id), _) if !id.trim().is_empty() => zones.resolve(id, p.line)?,
                (_, Some(z)) => z.clone(),
                _ => zones.floating()?,
            };
            EventTime::Instant(zone.instant(t))
        }
    };
    Ok(Moment {
        time,
        written_date: w.date(),
    })
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

impl Timing {
    /// Reads `DTSTART`, `DTEND` and `DURATION`.
    pub fn read(
        c: &Comp,
        zones: &mut Zones<'_>,
        origin: &str,
        uid: &str,
    ) -> Result<Timing, IcsError> {
        let err = |line: usize, msg: &str| IcsError::event(origin, uid, line, msg);
        let start = c.prop("DTSTART").ok_or_else(|| {
            err(
                c.line,
                "it has no DTSTART, so calsync cannot tell when it is",
            )
        })?;
        let want_date = start
            .param("VALUE")
            .is_some_and(|v| v.eq_ignore_ascii_case("DATE"));
        let written = parse_written(&start.value, want_date).ok_or_else(|| {
            err(
                start.line,
                "its DTSTART is not a readable date or date-time",
            )
        })?;
        let tzid = start.param("TZID").filter(|t| !t.trim().is_empty());
        let (all_day, zone, wall) = match written {
            Written::Date(d) => (true, Zone::Utc, midnight(d)),
            Written::Utc(t) => (false, Zone::Utc, t),
            Written::Local(t) => (
                false,
                zones
                    .of_value(&written, tzid, start.line)
                    .map_err(|e| e.for_event(uid))?,
                t,
            ),
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
            let end_written = parse_written(&end.value, all_day)
                .ok_or_else(|| err(end.line, "its DTEND is not a readable date or date-time"))?;
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
                                zones.resolve(id, end.line).map_err(|e| e.for_event(uid))?
                            }
                            (_, Some(z)) => z,
                            _ => zones.floating().map_err(|e| e.for_event(uid))?,
                        };
                        z.instant(t)
                    }
                };
                Length::Wall((timing.zone.local(end_at) - wall).max(Duration::zero()))
            };
        } else if let Some(d) = c.prop("DURATION") {
            let span = parse_duration(&d.value)
                .ok_or_else(|| err(d.line, "its DURATION is not a readable duration"))?;
            timing.explicit_length = true;
            timing.length = if all_day {
                Length::Days(span.whole_days())
            } else {
                Length::Span(span)
            };
        }
        Ok(timing)
    }

    /// The start, as the model wants it.
    pub fn start_time(&self) -> EventTime {
        self.time_at(self.wall)
    }

    /// A wall-clock start in this event's zone, as the model wants it.
    pub fn time_at(&self, wall: NaiveDateTime) -> EventTime {
        if self.all_day {
            EventTime::Date(wall.date())
        } else {
            EventTime::Instant(self.zone.instant(wall))
        }
    }

    /// The end of an instance starting at `wall`; never before its start.
    pub fn end_time(&self, wall: NaiveDateTime) -> EventTime {
        match self.length {
            Length::Days(n) => EventTime::Date(wall.date() + Duration::days(n.max(1))),
            Length::Wall(d) => EventTime::Instant(self.zone.instant(wall + d)),
            Length::Span(s) => {
                let start = self.zone.instant(wall);
                let end =
                    self.zone.instant(wall + Duration::days(s.days)) + Duration::seconds(s.seconds);
                EventTime::Instant(end.max(start))
            }
        }
    }
}

fn midnight(d: NaiveDate) -> NaiveDateTime {
    d.and_hms_opt(0, 0, 0).unwrap_or_default()
}

/// An instance `EXDATE` removes.
enum Exclusion {
    /// `VALUE=DATE`: every instance on that date.
    Date(NaiveDate),
    /// A date-time: the instance at that instant; for an all-day series, the
    /// instance on the date as written.
    At(DateTime<Utc>, NaiveDate),
}

/// A master event and what its recurrence properties say.
struct Series<'c> {
    comp: &'c Comp,
    timing: Timing,
    recurring: bool,
    rules: Vec<&'c str>,
    /// `RDATE`s on the series' wall clock, with the end a `PERIOD` gives.
    rdates: Vec<(NaiveDateTime, Option<EventTime>)>,
    exclusions: Vec<Exclusion>,
}

impl<'c> Series<'c> {
    fn read(
        c: &'c Comp,
        timing: Timing,
        zones: &mut Zones<'_>,
        origin: &str,
        uid: &str,
    ) -> Result<Series<'c>, IcsError> {
        let rules: Vec<&str> = c.all("RRULE").map(|p| p.value.as_str()).collect();
        let same_zone = timing.has_tzid.then(|| timing.zone.clone());
        let mut rdates = Vec::new();
        for p in c.all("RDATE") {
            let period = p
                .param("VALUE")
                .is_some_and(|v| v.eq_ignore_ascii_case("PERIOD"));
            let want_date = p
                .param("VALUE")
                .is_some_and(|v| v.eq_ignore_ascii_case("DATE"));
            for v in p.value.split(',').map(str::trim).filter(|v| !v.is_empty()) {
                let (start_text, end_text) = match v.split_once('/') {
                    Some((s, e)) if period || !e.is_empty() => (s, Some(e)),
                    _ => (v, None),
                };
                let bad = || IcsError::event(origin, uid, p.line, "an RDATE cannot be read");
                let w = parse_written(start_text, want_date || timing.all_day).ok_or_else(bad)?;
                let m = resolve_written(w, p, zones, same_zone.as_ref())
                    .map_err(|e| e.for_event(uid))?;
                let wall = match m.time {
                    EventTime::Date(d) => midnight(d),
                    EventTime::Instant(t) => timing.zone.local(t),
                };
                let end = match end_text {
                    None => None,
                    Some(e) => Some(if let Some(span) = parse_duration(e) {
                        let start = timing.time_at(wall);
                        match start {
                            EventTime::Date(d) => {
                                EventTime::Date(d + Duration::days(span.whole_days()))
                            }
                            EventTime::Instant(t) => {
                                EventTime::Instant(t + span.exact().max(Duration::zero()))
                            }
                        }
                    } else {
                        let we = parse_written(e, timing.all_day).ok_or_else(bad)?;
                        resolve_written(we, p, zones, same_zone.as_ref())
                            .map_err(|e| e.for_event(uid))?
                            .time
                    }),
                };
                rdates.push((wall, end));
            }
        }
        let mut exclusions = Vec::new();
        for p in c.all("EXDATE") {
            let want_date = p
                .param("VALUE")
                .is_some_and(|v| v.eq_ignore_ascii_case("DATE"));
            for v in p.value.split(',').map(str::trim).filter(|v| !v.is_empty()) {
                let w = parse_written(v, want_date).ok_or_else(|| {
                    IcsError::event(origin, uid, p.line, "an EXDATE cannot be read")
                })?;
                let m = resolve_written(w, p, zones, same_zone.as_ref())
                    .map_err(|e| e.for_event(uid))?;
                exclusions.push(match m.time {
                    EventTime::Date(d) => Exclusion::Date(d),
                    EventTime::Instant(t) => Exclusion::At(t, m.written_date),
                });
            }
        }
        Ok(Series {
            comp: c,
            recurring: !rules.is_empty() || !rdates.is_empty(),
            timing,
            rules,
            rdates,
            exclusions,
        })
    }

    /// Whether an `EXDATE` removes the instance originally at `original`
    /// (whose date on the series' wall clock is `wall_date`).
    fn excludes(&self, original: &EventTime, wall_date: NaiveDate) -> bool {
        self.exclusions.iter().any(|x| match (x, original) {
            (Exclusion::Date(d), EventTime::Date(o)) => d == o,
            (Exclusion::Date(d), EventTime::Instant(_)) => *d == wall_date,
            (Exclusion::At(_, written), EventTime::Date(o)) => written == o,
            (Exclusion::At(t, _), EventTime::Instant(o)) => t == o,
        })
    }

    /// The wall-clock starts of the instances near the window (`DTSTART`,
    /// the rules' and the `RDATE`s'), each once, in order, with the end an
    /// `RDATE` period gives.
    fn instances(
        &self,
        window: &Window,
    ) -> Result<Vec<(NaiveDateTime, Option<EventTime>)>, String> {
        let zone = &self.timing.zone;
        let from = zone.local(window.start) - Duration::days(1);
        let to = zone.local(window.end) + Duration::days(1);
        let until_wall = |w: Written| match w {
            Written::Utc(t) => zone.local(t.and_utc()),
            Written::Local(t) => t,
            Written::Date(d) => midnight(d),
        };
        let mut all: Vec<(NaiveDateTime, Option<EventTime>)> = vec![(self.timing.wall, None)];
        all.extend(
            recur::expand(
                self.timing.wall,
                &self.rules,
                &until_wall,
                from..=to,
                MAX_SCANNED,
            )?
            .into_iter()
            .map(|w| (w, None)),
        );
        all.extend(self.rdates.iter().cloned());
        // An RDATE's period end wins over the plain instance at its time.
        all.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.is_some().cmp(&a.1.is_some())));
        all.dedup_by_key(|(w, _)| *w);
        Ok(all)
    }
}

/// The fields of a `VEVENT` the model keeps. An override (`master` given)
/// without a `CLASS` takes its series' `CLASS`.
fn event(
    c: &Comp,
    master: Option<&Comp>,
    key: SourceKey,
    start: EventTime,
    end: EventTime,
    is_all_day: bool,
) -> SourceEvent {
    let class = c
        .prop("CLASS")
        .or_else(|| master.and_then(|m| m.prop("CLASS")));
    let end =
        if end < start && matches!((start, end), (EventTime::Instant(_), EventTime::Instant(_))) {
            start
        } else {
            end
        };
    SourceEvent {
        key,
        subject: c.value("SUMMARY").unwrap_or_default().to_string(),
        start,
        end,
        is_all_day,
        show_as: show_as(c),
        sensitivity: sensitivity(class),
        is_cancelled: c.value("STATUS").is_some_and(|s| {
            let s = s.trim();
            s.eq_ignore_ascii_case("CANCELLED") || s.eq_ignore_ascii_case("CANCELED")
        }),
        categories: categories(c),
        location: c.value("LOCATION").unwrap_or_default().to_string(),
        body: Body {
            content_type: BodyType::Text,
            content: c.value("DESCRIPTION").unwrap_or_default().to_string(),
        },
    }
}

/// `CLASS` as a sensitivity: anything but `PUBLIC` (or no `CLASS`) is
/// private or confidential, never public.
pub(crate) fn sensitivity(class: Option<&Prop>) -> Sensitivity {
    match class.map(|p| p.value.trim().to_ascii_uppercase()) {
        None => Sensitivity::Normal,
        Some(v) if v == "PUBLIC" => Sensitivity::Normal,
        Some(v) if v == "CONFIDENTIAL" => Sensitivity::Confidential,
        Some(_) => Sensitivity::Private,
    }
}

/// Outlook's `X-MICROSOFT-CDO-BUSYSTATUS`, else `TRANSP`.
pub(crate) fn show_as(c: &Comp) -> ShowAs {
    let cdo = c
        .value("X-MICROSOFT-CDO-BUSYSTATUS")
        .or_else(|| c.value("X-MICROSOFT-CDO-INTENDEDSTATUS"))
        .map(|v| v.trim().to_ascii_uppercase());
    match cdo.as_deref() {
        Some("FREE") => return ShowAs::Free,
        Some("TENTATIVE") => return ShowAs::Tentative,
        Some("BUSY") => return ShowAs::Busy,
        Some("OOF") => return ShowAs::Oof,
        Some("WORKINGELSEWHERE") => return ShowAs::WorkingElsewhere,
        _ => {}
    }
    match c.value("TRANSP") {
        Some(t) if t.trim().eq_ignore_ascii_case("TRANSPARENT") => ShowAs::Free,
        _ => ShowAs::Busy,
    }
}

/// Every `CATEGORIES` item, in order, trimmed, blanks dropped.
fn categories(c: &Comp) -> Vec<String> {
    c.all("CATEGORIES")
        .flat_map(|p| split_text_list(&p.value))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}
