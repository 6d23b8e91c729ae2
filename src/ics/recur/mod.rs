//! Expanding a recurrence rule ([`Rule`]) into wall-clock times.
//!
//! A rule is expanded on the local (wall-clock) times of its `DTSTART`, as
//! RFC 5545 §3.3.10 asks, so that a weekly 09:00 meeting stays at 09:00
//! local time across a daylight-saving change; the caller then turns each
//! wall-clock time into an instant with the event's zone.
//!
//! The algorithm is python-dateutil's (`rrule._iter` and `_iterinfo`, which
//! python-recurring-ical-events and with it many calendar tools use), so
//! that calsync expands what they expand, `BYSETPOS`, `BYWEEKNO` and
//! negative positions included. It replaces the `rrule` crate, which (in
//! 0.14) gives every third Monday for
//! `FREQ=MINUTELY;INTERVAL=15;BYDAY=MO;BYHOUR=9;BYMINUTE=0`, ends a sparse
//! rule early in silence after 100,000 empty periods, and panics on a
//! multi-byte character in `BYDAY`.
//!
//! Every expansion is bounded: it stops at the end of the range asked for;
//! a rule without `COUNT` starts at the last of its periods before the
//! range rather than walking from `DTSTART`; and it fails, never stops
//! short in silence, when it would take more than the [`Budget`]'s steps or
//! give more instances than it allows.

mod prepared;
mod year;

use super::rule::{Freq, Rule};
use super::time::midnight;
use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use prepared::{Prepared, gcd};
use std::ops::RangeInclusive;
use year::YearInfo;

/// What one event's expansion may still spend.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    /// Periods walked (and, for the sub-daily frequencies, candidate
    /// times tried).
    pub steps: usize,
    /// Instances inside the range.
    pub instances: usize,
}

impl Budget {
    fn step(&mut self, n: usize) -> Result<(), String> {
        match self.steps.checked_sub(n) {
            Some(left) => {
                self.steps = left;
                Ok(())
            }
            None => Err(
                "is too sparse or too dense to expand (calsync gives up after \
                         walking more periods than a real calendar needs)"
                    .into(),
            ),
        }
    }
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(year) => 29,
        _ => 28,
    }
}

fn year_len(year: i32) -> usize {
    if is_leap(year) { 366 } else { 365 }
}

/// The proleptic Gregorian ordinal (0001-01-01 is 1), as Python counts.
fn ordinal(d: NaiveDate) -> i64 {
    i64::from(d.num_days_from_ce())
}

fn from_ordinal(n: i64) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(i32::try_from(n).ok()?)
}

/// Python's `%` for a positive divisor.
fn pmod(a: i64, b: i64) -> i64 {
    a.rem_euclid(b)
}

/// The state of the walk: the current period.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    year: i32,
    month: u32,
    day: u32,
    hour: i64,
    minute: i64,
    second: i64,
    weekday: u32,
}

impl Cursor {
    fn at(t: NaiveDateTime) -> Cursor {
        Cursor {
            year: t.year(),
            month: t.month(),
            day: t.day(),
            hour: i64::from(t.hour()),
            minute: i64::from(t.minute()),
            second: i64::from(t.second()),
            weekday: t.weekday().num_days_from_monday(),
        }
    }
}

/// The cursor of the last period of the rule that starts before `before`,
/// for a rule walked without `COUNT` (whose earlier periods change
/// nothing), or `DTSTART`'s when that is later.
fn skip_ahead(p: &Prepared, before: NaiveDateTime) -> Cursor {
    let start = p.dtstart;
    let first = Cursor::at(start);
    if before <= start {
        return first;
    }
    let interval = p.interval.max(1);
    match p.freq {
        Freq::Yearly => {
            let k = (i64::from(before.year()) - 1 - i64::from(start.year())) / interval;
            if k <= 0 {
                return first;
            }
            let year = i64::from(start.year()) + k * interval;
            Cursor {
                year: i32::try_from(year).unwrap_or(first.year),
                ..first
            }
        }
        Freq::Monthly => {
            let index = |y: i32, m: u32| i64::from(y) * 12 + i64::from(m) - 1;
            let k = (index(before.year(), before.month()) - 1 - index(start.year(), start.month()))
                / interval;
            if k <= 0 {
                return first;
            }
            let at = index(start.year(), start.month()) + k * interval;
            Cursor {
                year: i32::try_from(at.div_euclid(12)).unwrap_or(first.year),
                month: u32::try_from(at.rem_euclid(12) + 1).unwrap_or(first.month),
                ..first
            }
        }
        Freq::Weekly => {
            let back = pmod(
                i64::from(start.weekday().num_days_from_monday()) - i64::from(p.wkst),
                7,
            );
            let week0 = start.date() - Duration::days(back);
            let weeks = (before.date() - week0).num_days() / 7 - 1;
            let k = weeks / interval;
            if k <= 0 {
                return first;
            }
            let date = week0 + Duration::days(k * interval * 7);
            Cursor {
                year: date.year(),
                month: date.month(),
                day: date.day(),
                weekday: p.wkst,
                ..first
            }
        }
        Freq::Daily | Freq::Hourly | Freq::Minutely | Freq::Secondly => {
            let unit = match p.freq {
                Freq::Daily => 86_400,
                Freq::Hourly => 3_600,
                Freq::Minutely => 60,
                _ => 1,
            } * interval;
            let gap = (before - start).num_seconds() - 86_400;
            let k = gap / unit;
            if k <= 0 {
                return first;
            }
            match start.checked_add_signed(Duration::seconds(k * unit)) {
                Some(t) => Cursor::at(t),
                None => first,
            }
        }
    }
}

/// dateutil's `__mod_distance`: steps of `interval` from `value` until one
/// lands on a listed value; (carry, value).
fn mod_distance(value: i64, listed: &[u32], interval: i64, base: i64) -> Option<(i64, i64)> {
    let mut acc = 0;
    let mut v = value;
    for _ in 0..base {
        let next = v + interval;
        acc += next.div_euclid(base);
        v = next.rem_euclid(base);
        if listed.iter().any(|x| i64::from(*x) == v) {
            return Some((acc, v));
        }
    }
    None
}

/// The wall-clock times in `range` at which `rule` fires, in order, for a
/// series starting at `dtstart`, the rule's `UNTIL` already turned into
/// the series' wall-clock time (`until`). `DTSTART` itself is not added
/// unless the rule gives it.
pub(crate) fn expand(
    rule: &Rule,
    dtstart: NaiveDateTime,
    until: Option<NaiveDateTime>,
    range: &RangeInclusive<NaiveDateTime>,
    budget: &mut Budget,
) -> Result<Vec<NaiveDateTime>, String> {
    let p = Prepared::new(rule, dtstart, until)?;
    let mut out = Vec::new();
    if p.count == Some(0) {
        return Ok(out);
    }
    let mut c = if p.count.is_none() {
        skip_ahead(&p, *range.start())
    } else {
        Cursor::at(dtstart)
    };
    let mut count = p.count;
    let end_date = range.end().date();
    let mut ii = YearInfo::new();
    ii.rebuild(&p, c.year, c.month)?;
    let mut timeset: Vec<NaiveTime> = if p.freq < Freq::Hourly {
        p.timeset.clone()
    } else {
        let (h, m, s) = (c.hour, c.minute, c.second);
        let hour_out = !p.by_hour.is_empty() && !p.by_hour.iter().any(|x| i64::from(*x) == h);
        let minute_out = p.freq >= Freq::Minutely
            && !p.by_minute.is_empty()
            && !p.by_minute.iter().any(|x| i64::from(*x) == m);
        let second_out = p.freq >= Freq::Secondly
            && !p.by_second.is_empty()
            && !p.by_second.iter().any(|x| i64::from(*x) == s);
        if hour_out || minute_out || second_out {
            Vec::new()
        } else {
            p.timeset_at(hms(h), hms(m), hms(s))
        }
    };
    let mut days: Vec<usize> = Vec::new();
    loop {
        budget.step(1)?;
        // Stop once the period starts after the range.
        let period_start = match p.freq {
            Freq::Yearly => NaiveDate::from_ymd_opt(c.year, 1, 1),
            Freq::Monthly => NaiveDate::from_ymd_opt(c.year, c.month, 1),
            _ => NaiveDate::from_ymd_opt(c.year, c.month, c.day),
        };
        match period_start {
            Some(d) if d <= end_date => {}
            _ => break,
        }
        // The period's days (dateutil's dayset), filtered.
        let (start, end) = match p.freq {
            Freq::Yearly => (0, ii.len),
            Freq::Monthly => {
                let m = c.month as usize;
                (ii.mrange[m - 1], ii.mrange[m])
            }
            Freq::Weekly => {
                let i = day_index(&ii, c)?;
                let mut j = i;
                for _ in 0..7 {
                    j += 1;
                    if ii.wdaymask.get(j) == Some(&p.wkst) {
                        break;
                    }
                }
                (i, j)
            }
            _ => {
                let i = day_index(&ii, c)?;
                (i, i + 1)
            }
        };
        days.clear();
        let mut filtered = false;
        for i in start..end {
            if ii.keeps(&p, i) {
                days.push(i);
            } else {
                filtered = true;
            }
        }
        // The period's times, in order.
        // Each candidate is judged as it comes, never collected: a yearly
        // rule with every hour, minute and second listed has 31 million a
        // period, and each one costs a step.
        let mut judge = |t: NaiveDateTime| -> Result<bool, String> {
            budget.step(1)?;
            if p.until.is_some_and(|u| t > u) {
                return Ok(false);
            }
            if t >= p.dtstart {
                if let Some(left) = count.as_mut() {
                    if *left == 0 {
                        return Ok(false);
                    }
                    *left -= 1;
                }
                if t > *range.end() {
                    return Ok(false);
                }
                if t >= *range.start() {
                    budget.instances = budget.instances.checked_sub(1).ok_or_else(|| {
                        "gives more instances in the sync window than calsync copies for one \
                         event"
                            .to_string()
                    })?;
                    out.push(t);
                }
            }
            Ok(true)
        };
        if !p.by_set_pos.is_empty() && !timeset.is_empty() {
            // At most one candidate per listed position.
            let n = timeset.len() as i64;
            let mut found: Vec<NaiveDateTime> = Vec::new();
            for pos in &p.by_set_pos {
                let pos = i64::from(*pos);
                let (day_pos, time_pos) = if pos < 0 {
                    (pos.div_euclid(n), pos.rem_euclid(n))
                } else {
                    ((pos - 1).div_euclid(n), (pos - 1).rem_euclid(n))
                };
                let day = if day_pos < 0 {
                    usize::try_from(-day_pos)
                        .ok()
                        .and_then(|back| days.len().checked_sub(back))
                        .and_then(|k| days.get(k))
                } else {
                    usize::try_from(day_pos).ok().and_then(|k| days.get(k))
                };
                let (Some(day), Some(time)) = (
                    day,
                    usize::try_from(time_pos).ok().and_then(|k| timeset.get(k)),
                ) else {
                    continue;
                };
                let Some(date) = from_ordinal(ii.ordinal + *day as i64) else {
                    continue;
                };
                let t = date.and_time(*time);
                if !found.contains(&t) {
                    found.push(t);
                }
            }
            found.sort_unstable();
            for t in found {
                if !judge(t)? {
                    return Ok(out);
                }
            }
        } else {
            for day in &days {
                let Some(date) = from_ordinal(ii.ordinal + *day as i64) else {
                    continue;
                };
                for time in &timeset {
                    if !judge(date.and_time(*time))? {
                        return Ok(out);
                    }
                }
            }
        }
        // The next period.
        let mut fixday = false;
        match p.freq {
            Freq::Yearly => {
                c.year = next_year(c.year, p.interval)?;
                ii.rebuild(&p, c.year, c.month)?;
            }
            Freq::Monthly => {
                let m = i64::from(c.month) + p.interval;
                let (mut y, mut m) = (
                    i64::from(c.year) + (m - 1).div_euclid(12),
                    (m - 1).rem_euclid(12) + 1,
                );
                if m == 0 {
                    m = 12;
                    y -= 1;
                }
                c.year = i32::try_from(y)
                    .ok()
                    .filter(|y| *y <= 9999)
                    .ok_or_else(past_9999)?;
                c.month = u32::try_from(m).unwrap_or(1);
                ii.rebuild(&p, c.year, c.month)?;
            }
            Freq::Weekly => {
                let back = pmod(i64::from(c.weekday) - i64::from(p.wkst), 7);
                c.day = add_days(c.day, p.interval * 7 - back)?;
                c.weekday = p.wkst;
                fixday = true;
            }
            Freq::Daily => {
                c.day = add_days(c.day, p.interval)?;
                fixday = true;
            }
            Freq::Hourly => {
                if filtered {
                    c.hour += ((23 - c.hour) / p.interval) * p.interval;
                }
                let (ndays, hour) = if p.by_hour.is_empty() {
                    (
                        (c.hour + p.interval).div_euclid(24),
                        (c.hour + p.interval).rem_euclid(24),
                    )
                } else {
                    mod_distance(c.hour, &p.by_hour, p.interval, 24).ok_or_else(never_occurs)?
                };
                c.hour = hour;
                if ndays != 0 {
                    c.day = add_days(c.day, ndays)?;
                    fixday = true;
                }
                timeset = p.timeset_at(hms(c.hour), hms(c.minute), hms(c.second));
            }
            Freq::Minutely => {
                if filtered {
                    c.minute += ((1439 - (c.hour * 60 + c.minute)) / p.interval) * p.interval;
                }
                let tries = 1440 / gcd(p.interval, 1440);
                let mut valid = false;
                for _ in 0..tries {
                    budget.step(1)?;
                    let (nhours, minute) = if p.by_minute.is_empty() {
                        (
                            (c.minute + p.interval).div_euclid(60),
                            (c.minute + p.interval).rem_euclid(60),
                        )
                    } else {
                        mod_distance(c.minute, &p.by_minute, p.interval, 60)
                            .ok_or_else(never_occurs)?
                    };
                    c.minute = minute;
                    let h = c.hour + nhours;
                    let (div, hour) = (h.div_euclid(24), h.rem_euclid(24));
                    c.hour = hour;
                    if div != 0 {
                        c.day = add_days(c.day, div)?;
                        fixday = true;
                    }
                    if p.by_hour.is_empty() || p.by_hour.iter().any(|x| i64::from(*x) == c.hour) {
                        valid = true;
                        break;
                    }
                }
                if !valid {
                    return Err(never_occurs());
                }
                timeset = p.timeset_at(hms(c.hour), hms(c.minute), hms(c.second));
            }
            Freq::Secondly => {
                if filtered {
                    c.second += ((86_399 - (c.hour * 3600 + c.minute * 60 + c.second))
                        / p.interval)
                        * p.interval;
                }
                let tries = 86_400 / gcd(p.interval, 86_400);
                let mut valid = false;
                for _ in 0..tries {
                    budget.step(1)?;
                    let (nminutes, second) = if p.by_second.is_empty() {
                        (
                            (c.second + p.interval).div_euclid(60),
                            (c.second + p.interval).rem_euclid(60),
                        )
                    } else {
                        mod_distance(c.second, &p.by_second, p.interval, 60)
                            .ok_or_else(never_occurs)?
                    };
                    c.second = second;
                    let m = c.minute + nminutes;
                    c.minute = m.rem_euclid(60);
                    let carry = m.div_euclid(60);
                    if carry != 0 {
                        let h = c.hour + carry;
                        c.hour = h.rem_euclid(24);
                        let div = h.div_euclid(24);
                        if div != 0 {
                            c.day = add_days(c.day, div)?;
                            fixday = true;
                        }
                    }
                    if (p.by_hour.is_empty() || p.by_hour.iter().any(|x| i64::from(*x) == c.hour))
                        && (p.by_minute.is_empty()
                            || p.by_minute.iter().any(|x| i64::from(*x) == c.minute))
                        && (p.by_second.is_empty()
                            || p.by_second.iter().any(|x| i64::from(*x) == c.second))
                    {
                        valid = true;
                        break;
                    }
                }
                if !valid {
                    return Err(never_occurs());
                }
                timeset = p.timeset_at(hms(c.hour), hms(c.minute), hms(c.second));
            }
        }
        if fixday && c.day > 28 {
            let mut dim = days_in_month(c.year, c.month);
            if c.day > dim {
                while c.day > dim {
                    c.day -= dim;
                    c.month += 1;
                    if c.month == 13 {
                        c.month = 1;
                        c.year += 1;
                        if c.year > 9999 {
                            return Ok(out);
                        }
                    }
                    dim = days_in_month(c.year, c.month);
                }
                ii.rebuild(&p, c.year, c.month)?;
            }
        }
    }
    Ok(out)
}

fn hms(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

fn past_9999() -> String {
    "reaches past the year 9999".to_string()
}

fn never_occurs() -> String {
    "can never occur (its INTERVAL never meets the hours, minutes or seconds it lists)".into()
}

fn next_year(year: i32, interval: i64) -> Result<i32, String> {
    i32::try_from(i64::from(year) + interval)
        .ok()
        .filter(|y| *y <= 10_000)
        .ok_or_else(past_9999)
}

/// `day + n` as a day of the month to be normalised (dateutil lets it run
/// past the month's end).
fn add_days(day: u32, n: i64) -> Result<u32, String> {
    u32::try_from(i64::from(day) + n).map_err(|_| past_9999())
}

/// The day index in the year of the cursor's date.
fn day_index(ii: &YearInfo, c: Cursor) -> Result<usize, String> {
    let d = NaiveDate::from_ymd_opt(c.year, c.month, c.day).ok_or_else(past_9999)?;
    usize::try_from(ordinal(d) - ii.ordinal).map_err(|_| past_9999())
}

/// The wall-clock end of an `UNTIL`: a date includes its whole day.
pub(crate) fn until_of_date(d: NaiveDate) -> NaiveDateTime {
    midnight(d) + Duration::seconds(86_399)
}

#[cfg(test)]
mod tests;
