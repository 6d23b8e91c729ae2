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

use super::rule::{Freq, Rule};
use super::time::midnight;
use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use std::ops::RangeInclusive;

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

/// A rule with dateutil's defaults filled in (`rrule.__init__`).
struct Prepared {
    freq: Freq,
    interval: i64,
    wkst: u32,
    count: Option<u64>,
    until: Option<NaiveDateTime>,
    dtstart: NaiveDateTime,
    by_month: Option<[bool; 13]>,
    by_week_no: Vec<i32>,
    by_year_day: Vec<i32>,
    by_month_day: Vec<i32>,
    by_n_month_day: Vec<i32>,
    by_weekday: Option<[bool; 7]>,
    by_n_weekday: Vec<(u32, i32)>,
    by_hour: Vec<u32>,
    by_minute: Vec<u32>,
    by_second: Vec<u32>,
    by_set_pos: Vec<i32>,
    /// For frequencies above `HOURLY`.
    timeset: Vec<NaiveTime>,
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a.abs() } else { gcd(b, a % b) }
}

/// dateutil's `__construct_byset`: the values reachable from `start` in
/// steps of `interval` modulo `base`.
fn reachable(start: u32, values: &[u32], interval: i64, base: i64) -> Result<Vec<u32>, String> {
    let g = gcd(interval, base);
    let mut out: Vec<u32> = values
        .iter()
        .copied()
        .filter(|v| g == 1 || pmod(i64::from(*v) - i64::from(start), g) == 0)
        .collect();
    out.sort_unstable();
    if out.is_empty() {
        return Err(
            "can never occur (its INTERVAL never reaches the hours, minutes or seconds \
                    it lists)"
                .into(),
        );
    }
    Ok(out)
}

impl Prepared {
    fn new(
        rule: &Rule,
        dtstart: NaiveDateTime,
        until: Option<NaiveDateTime>,
    ) -> Result<Self, String> {
        let freq = rule.freq;
        let mut by_month: Vec<u32> = rule.by_month.clone();
        let mut month_days: Vec<i32> = rule.by_month_day.clone();
        let mut by_day = rule.by_day.clone();
        if rule.by_week_no.is_empty()
            && rule.by_year_day.is_empty()
            && rule.by_month_day.is_empty()
            && rule.by_day.is_empty()
        {
            match freq {
                Freq::Yearly => {
                    if by_month.is_empty() {
                        by_month = vec![dtstart.month()];
                    }
                    month_days = vec![i32::try_from(dtstart.day()).unwrap_or(1)];
                }
                Freq::Monthly => month_days = vec![i32::try_from(dtstart.day()).unwrap_or(1)],
                Freq::Weekly => by_day = vec![(0, dtstart.weekday().num_days_from_monday())],
                _ => {}
            }
        }
        let by_month = (!by_month.is_empty()).then(|| {
            let mut m = [false; 13];
            for v in &by_month {
                if let Some(slot) = m.get_mut(*v as usize) {
                    *slot = true;
                }
            }
            m
        });
        let mut weekdays = [false; 7];
        let mut any_weekday = false;
        let mut by_n_weekday = Vec::new();
        for (n, d) in &by_day {
            if *n == 0 || freq > Freq::Monthly {
                if let Some(slot) = weekdays.get_mut(*d as usize) {
                    *slot = true;
                    any_weekday = true;
                }
            } else {
                by_n_weekday.push((*d, *n));
            }
        }
        let interval = i64::from(rule.interval);
        let by_hour = if rule.by_hour.is_empty() {
            if freq < Freq::Hourly {
                vec![dtstart.hour()]
            } else {
                Vec::new()
            }
        } else if freq == Freq::Hourly {
            reachable(dtstart.hour(), &rule.by_hour, interval, 24)?
        } else {
            let mut v = rule.by_hour.clone();
            v.sort_unstable();
            v
        };
        let by_minute = if rule.by_minute.is_empty() {
            if freq < Freq::Minutely {
                vec![dtstart.minute()]
            } else {
                Vec::new()
            }
        } else if freq == Freq::Minutely {
            reachable(dtstart.minute(), &rule.by_minute, interval, 60)?
        } else {
            let mut v = rule.by_minute.clone();
            v.sort_unstable();
            v
        };
        let by_second = if rule.by_second.is_empty() {
            if freq < Freq::Secondly {
                vec![dtstart.second()]
            } else {
                Vec::new()
            }
        } else if freq == Freq::Secondly {
            reachable(dtstart.second(), &rule.by_second, interval, 60)?
        } else {
            let mut v = rule.by_second.clone();
            v.sort_unstable();
            v
        };
        let mut timeset = Vec::new();
        if freq < Freq::Hourly {
            for h in &by_hour {
                for m in &by_minute {
                    for s in &by_second {
                        if let Some(t) = NaiveTime::from_hms_opt(*h, *m, *s) {
                            timeset.push(t);
                        }
                    }
                }
            }
            timeset.sort_unstable();
        }
        Ok(Prepared {
            freq,
            interval,
            wkst: rule.wkst,
            count: rule.count,
            until,
            dtstart,
            by_month,
            by_week_no: rule.by_week_no.clone(),
            by_year_day: rule.by_year_day.clone(),
            by_month_day: month_days.iter().copied().filter(|d| *d > 0).collect(),
            by_n_month_day: month_days.iter().copied().filter(|d| *d < 0).collect(),
            by_weekday: any_weekday.then_some(weekdays),
            by_n_weekday,
            by_hour,
            by_minute,
            by_second,
            by_set_pos: rule.by_set_pos.clone(),
            timeset,
        })
    }

    /// dateutil's `htimeset`/`mtimeset`/`stimeset`.
    fn timeset_at(&self, hour: u32, minute: u32, second: u32) -> Vec<NaiveTime> {
        let mut out = Vec::new();
        match self.freq {
            Freq::Hourly => {
                for m in &self.by_minute {
                    for s in &self.by_second {
                        out.extend(NaiveTime::from_hms_opt(hour, *m, *s));
                    }
                }
            }
            Freq::Minutely => {
                for s in &self.by_second {
                    out.extend(NaiveTime::from_hms_opt(hour, minute, *s));
                }
            }
            _ => out.extend(NaiveTime::from_hms_opt(hour, minute, second)),
        }
        out.sort_unstable();
        out
    }
}

/// dateutil's `_iterinfo`: the masks of one year (and month).
struct YearInfo {
    year: i32,
    month: u32,
    len: usize,
    next_len: usize,
    /// Ordinal of 1 January.
    ordinal: i64,
    /// For each day index of the year and the 7 days after it: month,
    /// day of month, negative day of month, weekday.
    mmask: Vec<u32>,
    mdaymask: Vec<i32>,
    nmdaymask: Vec<i32>,
    wdaymask: Vec<u32>,
    /// Day index of the first of each month, and the year's length.
    mrange: [usize; 13],
    wnomask: Option<Vec<bool>>,
    nwdaymask: Option<Vec<bool>>,
}

impl YearInfo {
    fn new() -> Self {
        YearInfo {
            year: 0,
            month: 0,
            len: 0,
            next_len: 0,
            ordinal: 0,
            mmask: Vec::new(),
            mdaymask: Vec::new(),
            nmdaymask: Vec::new(),
            wdaymask: Vec::new(),
            mrange: [0; 13],
            wnomask: None,
            nwdaymask: None,
        }
    }

    fn rebuild(&mut self, p: &Prepared, year: i32, month: u32) -> Result<(), String> {
        let bad_year = || "reaches a year calsync cannot expand".to_string();
        if year != self.year {
            let jan1 = NaiveDate::from_ymd_opt(year, 1, 1).ok_or_else(bad_year)?;
            self.len = year_len(year);
            self.next_len = year_len(year + 1);
            self.ordinal = ordinal(jan1);
            let n = self.len + 7;
            self.mmask.clear();
            self.mdaymask.clear();
            self.nmdaymask.clear();
            self.wdaymask.clear();
            let mut d = jan1;
            for _ in 0..n {
                let dim = i32::try_from(days_in_month(d.year(), d.month())).unwrap_or(31);
                let day = i32::try_from(d.day()).unwrap_or(1);
                self.mmask.push(d.month());
                self.mdaymask.push(day);
                self.nmdaymask.push(day - dim - 1);
                self.wdaymask.push(d.weekday().num_days_from_monday());
                d = d.succ_opt().unwrap_or(d);
            }
            let mut acc = 0usize;
            self.mrange[0] = 0;
            for m in 1..=12u32 {
                acc += days_in_month(year, m) as usize;
                self.mrange[m as usize] = acc;
            }
            self.wnomask = if p.by_week_no.is_empty() {
                None
            } else {
                Some(self.week_numbers(p, year)?)
            };
        }
        if !p.by_n_weekday.is_empty() && (month != self.month || year != self.year) {
            let mut ranges: Vec<(usize, usize)> = Vec::new();
            match p.freq {
                Freq::Yearly => match &p.by_month {
                    Some(months) => {
                        for (m, wanted) in months.iter().enumerate().skip(1) {
                            if *wanted {
                                ranges.push((self.mrange[m - 1], self.mrange[m]));
                            }
                        }
                    }
                    None => ranges.push((0, self.len)),
                },
                Freq::Monthly => {
                    let m = month as usize;
                    ranges.push((self.mrange[m - 1], self.mrange[m]));
                }
                _ => {}
            }
            if !ranges.is_empty() {
                let mut mask = vec![false; self.len];
                for (first, last) in ranges {
                    let (first, last) = (first as i64, last as i64 - 1);
                    for (wday, n) in &p.by_n_weekday {
                        let (wday, n) = (i64::from(*wday), i64::from(*n));
                        let i = if n < 0 {
                            let i = last + (n + 1) * 7;
                            let Some(w) = self.weekday_at(i) else {
                                continue;
                            };
                            i - pmod(w - wday, 7)
                        } else {
                            let i = first + (n - 1) * 7;
                            let Some(w) = self.weekday_at(i) else {
                                continue;
                            };
                            i + pmod(7 - w + wday, 7)
                        };
                        if first <= i
                            && i <= last
                            && let Some(slot) =
                                usize::try_from(i).ok().and_then(|i| mask.get_mut(i))
                        {
                            *slot = true;
                        }
                    }
                }
                self.nwdaymask = Some(mask);
            }
        }
        self.year = year;
        self.month = month;
        Ok(())
    }

    fn weekday_at(&self, i: i64) -> Option<i64> {
        let i = usize::try_from(i).ok()?;
        self.wdaymask.get(i).map(|w| i64::from(*w))
    }

    /// dateutil's `wnomask`: the days in the weeks `BYWEEKNO` lists.
    fn week_numbers(&self, p: &Prepared, year: i32) -> Result<Vec<bool>, String> {
        let len = self.len as i64;
        let wkst = i64::from(p.wkst);
        let mut mask = vec![false; self.len + 7];
        let year_weekday = self.weekday_at(0).unwrap_or(0);
        let first_wkst = pmod(7 - year_weekday + wkst, 7);
        let (no1wkst, wyearlen) = if first_wkst >= 4 {
            (0, len + pmod(year_weekday - wkst, 7))
        } else {
            (first_wkst, len - first_wkst)
        };
        let numweeks = wyearlen / 7 + pmod(wyearlen, 7) / 4;
        let mark_week = |mask: &mut Vec<bool>, mut i: i64| {
            for _ in 0..7 {
                if let Some(slot) = usize::try_from(i).ok().and_then(|i| mask.get_mut(i)) {
                    *slot = true;
                }
                i += 1;
                if self.weekday_at(i) == Some(wkst) {
                    break;
                }
            }
        };
        for n in &p.by_week_no {
            let mut n = i64::from(*n);
            if n < 0 {
                n += numweeks + 1;
            }
            if !(0 < n && n <= numweeks) {
                continue;
            }
            let i = if n > 1 {
                let mut i = no1wkst + (n - 1) * 7;
                if no1wkst != first_wkst {
                    i -= 7 - first_wkst;
                }
                i
            } else {
                no1wkst
            };
            mark_week(&mut mask, i);
        }
        if p.by_week_no.contains(&1) {
            // Week 1 of next year may start in this one.
            let mut i = no1wkst + numweeks * 7;
            if no1wkst != first_wkst {
                i -= 7 - first_wkst;
            }
            if i < len {
                mark_week(&mut mask, i);
            }
        }
        if no1wkst != 0 {
            // The last week of last year may end in this one.
            let lnumweeks = if p.by_week_no.contains(&-1) {
                -1
            } else {
                let jan1 = NaiveDate::from_ymd_opt(year - 1, 1, 1)
                    .ok_or_else(|| "reaches a year calsync cannot expand".to_string())?;
                let lyear_weekday = i64::from(jan1.weekday().num_days_from_monday());
                let lno1wkst = pmod(7 - lyear_weekday + wkst, 7);
                let lyearlen = year_len(year - 1) as i64;
                if lno1wkst >= 4 {
                    52 + pmod(lyearlen + pmod(lyear_weekday - wkst, 7), 7) / 4
                } else {
                    52 + pmod(len - no1wkst, 7) / 4
                }
            };
            if p.by_week_no.iter().any(|n| i64::from(*n) == lnumweeks) {
                for i in 0..no1wkst {
                    if let Some(slot) = usize::try_from(i).ok().and_then(|i| mask.get_mut(i)) {
                        *slot = true;
                    }
                }
            }
        }
        Ok(mask)
    }

    /// Whether day index `i` of the year passes the `BY…` day filters.
    fn keeps(&self, p: &Prepared, i: usize) -> bool {
        let (Some(m), Some(md), Some(nmd), Some(wd)) = (
            self.mmask.get(i),
            self.mdaymask.get(i),
            self.nmdaymask.get(i),
            self.wdaymask.get(i),
        ) else {
            return false;
        };
        if p.by_month.is_some_and(|months| !months[*m as usize]) {
            return false;
        }
        if let Some(w) = &self.wnomask
            && !w.get(i).copied().unwrap_or(false)
        {
            return false;
        }
        if p.by_weekday.is_some_and(|days| !days[*wd as usize]) {
            return false;
        }
        if let Some(n) = &self.nwdaymask
            && !n.get(i).copied().unwrap_or(false)
        {
            return false;
        }
        if (!p.by_month_day.is_empty() || !p.by_n_month_day.is_empty())
            && !p.by_month_day.contains(md)
            && !p.by_n_month_day.contains(nmd)
        {
            return false;
        }
        if !p.by_year_day.is_empty() {
            let i = i as i64;
            let (len, next) = (self.len as i64, self.next_len as i64);
            let has = |d: i64| p.by_year_day.iter().any(|y| i64::from(*y) == d);
            let kept = if i < len {
                has(i + 1) || has(i - len)
            } else {
                has(i + 1 - len) || has(i - len - next)
            };
            if !kept {
                return false;
            }
        }
        true
    }
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
