//! A rule with dateutil's defaults filled in, ready to expand.

use super::pmod;
use crate::ics::rule::{Freq, Rule};
use chrono::{Datelike, NaiveDateTime, NaiveTime, Timelike};

/// A rule with dateutil's defaults filled in (`rrule.__init__`).
pub(super) struct Prepared {
    pub(super) freq: Freq,
    pub(super) interval: i64,
    pub(super) wkst: u32,
    pub(super) count: Option<u64>,
    pub(super) until: Option<NaiveDateTime>,
    pub(super) dtstart: NaiveDateTime,
    pub(super) by_month: Option<[bool; 13]>,
    pub(super) by_week_no: Vec<i32>,
    pub(super) by_year_day: Vec<i32>,
    pub(super) by_month_day: Vec<i32>,
    pub(super) by_n_month_day: Vec<i32>,
    pub(super) by_weekday: Option<[bool; 7]>,
    pub(super) by_n_weekday: Vec<(u32, i32)>,
    pub(super) by_hour: Vec<u32>,
    pub(super) by_minute: Vec<u32>,
    pub(super) by_second: Vec<u32>,
    pub(super) by_set_pos: Vec<i32>,
    /// For frequencies above `HOURLY`.
    pub(super) timeset: Vec<NaiveTime>,
}

pub(super) fn gcd(a: i64, b: i64) -> i64 {
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
    pub(super) fn new(
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
    pub(super) fn timeset_at(&self, hour: u32, minute: u32, second: u32) -> Vec<NaiveTime> {
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
