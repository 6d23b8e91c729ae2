//! Graph's `patternedRecurrence`: parsing, validation and expansion into dates.

use chrono::{Datelike, Duration, Months, NaiveDate, Weekday};
use serde_json::{Value, json};

use crate::timezone::format_date;

#[derive(Clone, Copy, Debug, PartialEq)]
enum PatternKind {
    Daily,
    Weekly,
    AbsoluteMonthly,
    RelativeMonthly,
    AbsoluteYearly,
    RelativeYearly,
}

impl PatternKind {
    fn name(self) -> &'static str {
        match self {
            PatternKind::Daily => "daily",
            PatternKind::Weekly => "weekly",
            PatternKind::AbsoluteMonthly => "absoluteMonthly",
            PatternKind::RelativeMonthly => "relativeMonthly",
            PatternKind::AbsoluteYearly => "absoluteYearly",
            PatternKind::RelativeYearly => "relativeYearly",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum WeekIndex {
    First,
    Second,
    Third,
    Fourth,
    Last,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum RangeEnd {
    EndDate(NaiveDate),
    NoEnd,
    Numbered(u32),
}

/// A validated recurrence rule.
#[derive(Clone, Debug)]
pub(crate) struct Rule {
    kind: PatternKind,
    interval: u32,
    days: Vec<Weekday>,
    day_of_month: u32,
    month: u32,
    index: WeekIndex,
    first_day: Weekday,
    pub start: NaiveDate,
    end: RangeEnd,
    recurrence_time_zone: Option<String>,
}

fn weekday(name: &str) -> Option<Weekday> {
    Some(match name.to_ascii_lowercase().as_str() {
        "sunday" => Weekday::Sun,
        "monday" => Weekday::Mon,
        "tuesday" => Weekday::Tue,
        "wednesday" => Weekday::Wed,
        "thursday" => Weekday::Thu,
        "friday" => Weekday::Fri,
        "saturday" => Weekday::Sat,
        _ => return None,
    })
}

fn weekday_name(d: Weekday) -> &'static str {
    match d {
        Weekday::Sun => "sunday",
        Weekday::Mon => "monday",
        Weekday::Tue => "tuesday",
        Weekday::Wed => "wednesday",
        Weekday::Thu => "thursday",
        Weekday::Fri => "friday",
        Weekday::Sat => "saturday",
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let first = NaiveDate::from_ymd_opt(year, month, 1).expect("valid month");
    let next = first + Months::new(1);
    u32::try_from((next - first).num_days()).expect("a month has under 32 days")
}

fn uint(v: &Value, key: &str) -> Result<Option<u32>, String> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(n) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| format!("recurrence: '{key}' must be a non-negative integer")),
    }
}

fn date(v: &Value, key: &str) -> Result<Option<NaiveDate>, String> {
    match v.get(key).and_then(Value::as_str) {
        None => Ok(None),
        Some("0001-01-01") => Ok(None),
        Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| format!("recurrence: '{key}' must be a date (YYYY-MM-DD), got '{s}'")),
    }
}

impl Rule {
    /// Parses and validates a `recurrence` object.
    pub fn parse(v: &Value) -> Result<Rule, String> {
        let pattern = v
            .get("pattern")
            .filter(|p| p.is_object())
            .ok_or("recurrence: 'pattern' is required")?;
        let range = v
            .get("range")
            .filter(|r| r.is_object())
            .ok_or("recurrence: 'range' is required")?;
        let kind = match pattern.get("type").and_then(Value::as_str) {
            Some("daily") => PatternKind::Daily,
            Some("weekly") => PatternKind::Weekly,
            Some("absoluteMonthly") => PatternKind::AbsoluteMonthly,
            Some("relativeMonthly") => PatternKind::RelativeMonthly,
            Some("absoluteYearly") => PatternKind::AbsoluteYearly,
            Some("relativeYearly") => PatternKind::RelativeYearly,
            other => return Err(format!("recurrence: unknown pattern type {other:?}")),
        };
        let interval = uint(pattern, "interval")?.unwrap_or(1);
        if interval == 0 {
            return Err("recurrence: 'interval' must be at least 1".into());
        }
        let days = match pattern.get("daysOfWeek") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|d| {
                    d.as_str()
                        .and_then(weekday)
                        .ok_or_else(|| format!("recurrence: bad day of week {d}"))
                })
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(format!(
                    "recurrence: 'daysOfWeek' must be an array, got {other}"
                ));
            }
        };
        let first_day = match pattern.get("firstDayOfWeek").and_then(Value::as_str) {
            None => Weekday::Sun,
            Some(d) => weekday(d).ok_or_else(|| format!("recurrence: bad firstDayOfWeek '{d}'"))?,
        };
        let index = match pattern.get("index").and_then(Value::as_str) {
            None | Some("first") => WeekIndex::First,
            Some("second") => WeekIndex::Second,
            Some("third") => WeekIndex::Third,
            Some("fourth") => WeekIndex::Fourth,
            Some("last") => WeekIndex::Last,
            Some(other) => return Err(format!("recurrence: bad index '{other}'")),
        };
        let day_of_month = uint(pattern, "dayOfMonth")?.unwrap_or(0);
        let month = uint(pattern, "month")?.unwrap_or(0);
        match kind {
            PatternKind::Weekly | PatternKind::RelativeMonthly | PatternKind::RelativeYearly
                if days.is_empty() =>
            {
                return Err(format!(
                    "recurrence: a {} pattern needs 'daysOfWeek'",
                    kind.name()
                ));
            }
            PatternKind::AbsoluteMonthly | PatternKind::AbsoluteYearly
                if !(1..=31).contains(&day_of_month) =>
            {
                return Err(format!(
                    "recurrence: a {} pattern needs 'dayOfMonth' 1-31",
                    kind.name()
                ));
            }
            _ => {}
        }
        if matches!(
            kind,
            PatternKind::AbsoluteYearly | PatternKind::RelativeYearly
        ) && !(1..=12).contains(&month)
        {
            return Err(format!(
                "recurrence: a {} pattern needs 'month' 1-12",
                kind.name()
            ));
        }
        let start = date(range, "startDate")?.ok_or("recurrence: 'range.startDate' is required")?;
        let end = match range.get("type").and_then(Value::as_str) {
            Some("endDate") => {
                let end = date(range, "endDate")?
                    .ok_or("recurrence: an endDate range needs 'endDate'")?;
                if end < start {
                    return Err("recurrence: 'endDate' is before 'startDate'".into());
                }
                RangeEnd::EndDate(end)
            }
            Some("noEnd") => RangeEnd::NoEnd,
            Some("numbered") => match uint(range, "numberOfOccurrences")? {
                Some(n) if n > 0 => RangeEnd::Numbered(n),
                _ => {
                    return Err(
                        "recurrence: a numbered range needs 'numberOfOccurrences' >= 1".into(),
                    );
                }
            },
            other => return Err(format!("recurrence: unknown range type {other:?}")),
        };
        Ok(Rule {
            kind,
            interval,
            days,
            day_of_month,
            month,
            index,
            first_day,
            start,
            end,
            recurrence_time_zone: range
                .get("recurrenceTimeZone")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }

    /// The rule as Graph writes it back, with every field filled in.
    pub fn to_json(&self, default_zone: &str) -> Value {
        let (range_type, end_date, count) = match self.end {
            RangeEnd::EndDate(d) => ("endDate", format_date(d), 0),
            RangeEnd::NoEnd => ("noEnd", "0001-01-01".to_string(), 0),
            RangeEnd::Numbered(n) => ("numbered", "0001-01-01".to_string(), n),
        };
        let index = match self.index {
            WeekIndex::First => "first",
            WeekIndex::Second => "second",
            WeekIndex::Third => "third",
            WeekIndex::Fourth => "fourth",
            WeekIndex::Last => "last",
        };
        json!({
            "pattern": {
                "type": self.kind.name(),
                "interval": self.interval,
                "month": self.month,
                "dayOfMonth": self.day_of_month,
                "daysOfWeek": self.days.iter().map(|d| weekday_name(*d)).collect::<Vec<_>>(),
                "firstDayOfWeek": weekday_name(self.first_day),
                "index": index,
            },
            "range": {
                "type": range_type,
                "startDate": format_date(self.start),
                "endDate": end_date,
                "recurrenceTimeZone": self.recurrence_time_zone.as_deref().unwrap_or(default_zone),
                "numberOfOccurrences": count,
            }
        })
    }

    fn relative_match(&self, d: NaiveDate) -> bool {
        if !self.days.contains(&d.weekday()) {
            return false;
        }
        let nth = (d.day() - 1) / 7;
        match self.index {
            WeekIndex::First => nth == 0,
            WeekIndex::Second => nth == 1,
            WeekIndex::Third => nth == 2,
            WeekIndex::Fourth => nth == 3,
            WeekIndex::Last => d.day() + 7 > days_in_month(d.year(), d.month()),
        }
    }

    fn matches(&self, d: NaiveDate) -> bool {
        let interval = i64::from(self.interval);
        let months_since = i64::from(d.year() - self.start.year()) * 12 + i64::from(d.month())
            - i64::from(self.start.month());
        let clamped_day = |year, month| self.day_of_month.min(days_in_month(year, month));
        match self.kind {
            PatternKind::Daily => (d - self.start).num_days() % interval == 0,
            PatternKind::Weekly => {
                let week_start = |x: NaiveDate| {
                    let back = (7 + x.weekday().num_days_from_sunday()
                        - self.first_day.num_days_from_sunday())
                        % 7;
                    x - Duration::days(i64::from(back))
                };
                let weeks = (week_start(d) - week_start(self.start)).num_days() / 7;
                self.days.contains(&d.weekday()) && weeks % interval == 0
            }
            PatternKind::AbsoluteMonthly => {
                months_since % interval == 0 && d.day() == clamped_day(d.year(), d.month())
            }
            PatternKind::RelativeMonthly => months_since % interval == 0 && self.relative_match(d),
            PatternKind::AbsoluteYearly => {
                i64::from(d.year() - self.start.year()) % interval == 0
                    && d.month() == self.month
                    && d.day() == clamped_day(d.year(), d.month())
            }
            PatternKind::RelativeYearly => {
                i64::from(d.year() - self.start.year()) % interval == 0
                    && d.month() == self.month
                    && self.relative_match(d)
            }
        }
    }

    /// Every occurrence date from the range start up to and including `until`.
    pub fn dates_until(&self, until: NaiveDate) -> Vec<NaiveDate> {
        let mut out = Vec::new();
        let mut d = self.start;
        let mut counted = 0;
        while d <= until {
            match self.end {
                RangeEnd::EndDate(end) if d > end => break,
                RangeEnd::Numbered(n) if counted >= n => break,
                _ => {}
            }
            if self.matches(d) {
                counted += 1;
                out.push(d);
            }
            d += Duration::days(1);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn weekly_every_other_week() {
        let rule = Rule::parse(&json!({
            "pattern": {"type": "weekly", "interval": 2, "daysOfWeek": ["monday", "thursday"], "firstDayOfWeek": "sunday"},
            "range": {"type": "endDate", "startDate": "2026-03-02", "endDate": "2026-03-31"}
        }))
        .unwrap();
        let dates = rule.dates_until(d("2026-12-31"));
        assert_eq!(
            dates,
            vec![
                d("2026-03-02"),
                d("2026-03-05"),
                d("2026-03-16"),
                d("2026-03-19"),
                d("2026-03-30")
            ]
        );
    }

    #[test]
    fn numbered_monthly_clamps_to_month_end() {
        let rule = Rule::parse(&json!({
            "pattern": {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 31},
            "range": {"type": "numbered", "startDate": "2026-01-01", "numberOfOccurrences": 3}
        }))
        .unwrap();
        assert_eq!(
            rule.dates_until(d("2027-01-01")),
            vec![d("2026-01-31"), d("2026-02-28"), d("2026-03-31")]
        );
    }

    #[test]
    fn relative_monthly_last_friday() {
        let rule = Rule::parse(&json!({
            "pattern": {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["friday"], "index": "last"},
            "range": {"type": "noEnd", "startDate": "2026-01-01"}
        }))
        .unwrap();
        assert_eq!(
            rule.dates_until(d("2026-03-31")),
            vec![d("2026-01-30"), d("2026-02-27"), d("2026-03-27")]
        );
    }

    #[test]
    fn invalid_patterns_are_refused() {
        assert!(Rule::parse(&json!({"pattern": {"type": "weekly"}, "range": {"type": "noEnd", "startDate": "2026-01-01"}})).is_err());
        assert!(Rule::parse(&json!({"pattern": {"type": "daily"}, "range": {"type": "numbered", "startDate": "2026-01-01"}})).is_err());
        assert!(
            Rule::parse(&json!({"pattern": {"type": "daily"}, "range": {"type": "noEnd"}}))
                .is_err()
        );
    }
}
