//! When an event starts and how long it lasts, and DATE or DATE-TIME
//! values resolved in their zones.

use crate::ics::IcsError;
use crate::ics::doc::{Comp, Prop};
use crate::ics::time::{
    Span, Written, add, add_days, instant_in_range, midnight, parse_duration, parse_written,
};
use crate::ics::tz::{Zone, Zones};
use crate::model::EventTime;
use chrono::{Duration, NaiveDate, NaiveDateTime};

/// A DATE or DATE-TIME property value, resolved.
pub(super) struct Moment {
    pub(super) time: EventTime,
    /// The date as written (before any zone is applied).
    pub(super) written_date: NaiveDate,
}

/// Resolves a DATE or DATE-TIME value of property `p`: a `Z` value is
/// UTC, a `TZID` names its zone, and a floating value is read in
/// `default_zone` when given, else the calendar's floating zone. `None`
/// when it falls outside the years 0001-9999.
pub(super) fn resolve_written(
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
pub(super) const PAST_9999: &str = "it would end after the year 9999 (or start before the year 1), which \
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
