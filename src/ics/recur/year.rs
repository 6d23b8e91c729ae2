//! dateutil's year (and month) masks.

use super::prepared::Prepared;
use super::{days_in_month, ordinal, pmod, year_len};
use crate::ics::rule::Freq;
use chrono::{Datelike, NaiveDate};

/// dateutil's `_iterinfo`: the masks of one year (and month).
pub(super) struct YearInfo {
    year: i32,
    month: u32,
    pub(super) len: usize,
    next_len: usize,
    /// Ordinal of 1 January.
    pub(super) ordinal: i64,
    /// For each day index of the year and the 7 days after it: month,
    /// day of month, negative day of month, weekday.
    mmask: Vec<u32>,
    mdaymask: Vec<i32>,
    nmdaymask: Vec<i32>,
    pub(super) wdaymask: Vec<u32>,
    /// Day index of the first of each month, and the year's length.
    pub(super) mrange: [usize; 13],
    wnomask: Option<Vec<bool>>,
    nwdaymask: Option<Vec<bool>>,
}

impl YearInfo {
    pub(super) fn new() -> Self {
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

    pub(super) fn rebuild(&mut self, p: &Prepared, year: i32, month: u32) -> Result<(), String> {
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
    pub(super) fn keeps(&self, p: &Prepared, i: usize) -> bool {
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
