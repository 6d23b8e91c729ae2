//! A master event's recurrence: its rules, `RDATE`s and `EXDATE`s, expanded
//! into the wall-clock starts of its instances.

use super::Skip;
use super::timing::{PAST_9999, Timing, resolve_written};
use crate::ics::doc::{Comp, Prop};
use crate::ics::limits::{
    MAX_DATES_PER_EVENT, MAX_INSTANCES_PER_EVENT, MAX_RULE_STEPS, MAX_RULES_PER_EVENT,
};
use crate::ics::recur::{self, Budget};
use crate::ics::rule::{Rule, parse_rule};
use crate::ics::time::{
    Written, add_days, instant_in_range, midnight, parse_duration, parse_written,
};
use crate::ics::tz::{Zone, Zones};
use crate::model::EventTime;
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use std::collections::HashSet;

/// The `EXDATE`s of a series.
#[derive(Default)]
pub(super) struct Exclusions {
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
    pub(super) fn excludes(&self, original: &EventTime, wall: NaiveDateTime) -> bool {
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
pub(super) struct Series {
    pub(super) timing: Timing,
    pub(super) recurring: bool,
    /// The rules, each with its line.
    rules: Vec<(Rule, usize)>,
    exrules: Vec<(Rule, usize)>,
    /// `RDATE`s on the series' wall clock, with the end a `PERIOD` gives.
    rdates: Vec<(NaiveDateTime, Option<EventTime>)>,
    pub(super) exclusions: Exclusions,
}

impl Series {
    pub(super) fn read(c: &Comp, zones: &mut Zones<'_>) -> Result<Series, Skip> {
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
    pub(super) fn instances(
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
