//! DATE, DATE-TIME, DURATION and UTC-OFFSET values (RFC 5545 §3.3).

use chrono::{Duration, NaiveDate, NaiveDateTime, NaiveTime};

/// A DATE or DATE-TIME value as written, before any zone is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Written {
    /// `VALUE=DATE`, or 8 digits.
    Date(NaiveDate),
    /// Ends in `Z`.
    Utc(NaiveDateTime),
    /// No `Z`: local to the `TZID` parameter, or floating without one.
    Local(NaiveDateTime),
}

impl Written {
    /// The date part as written.
    pub fn date(&self) -> NaiveDate {
        match self {
            Written::Date(d) => *d,
            Written::Utc(t) | Written::Local(t) => t.date(),
        }
    }
}

/// Parses one DATE or DATE-TIME. Forgives what real files get wrong: a
/// lower-case `z`, dashes and colons (`2026-12-01T09:00:00`), missing
/// seconds, and fractional seconds.
pub(crate) fn parse_written(raw: &str, want_date: bool) -> Option<Written> {
    let s: String = raw
        .trim()
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    let (s, utc) = match s.strip_suffix(['Z', 'z']) {
        Some(rest) => (rest, true),
        None => (s.as_str(), false),
    };
    let (date_part, time_part) = match s.split_once(['T', 't']) {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    if date_part.len() != 8 || !date_part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let date = NaiveDate::parse_from_str(date_part, "%Y%m%d").ok()?;
    let Some(time_part) = time_part else {
        return Some(Written::Date(date));
    };
    if want_date {
        // `VALUE=DATE` with a time attached: the date is what counts.
        return Some(Written::Date(date));
    }
    let time_part = time_part.split(['.', ',']).next().unwrap_or("");
    if !time_part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let time = match time_part.len() {
        6 => NaiveTime::parse_from_str(time_part, "%H%M%S").ok()?,
        4 => NaiveTime::parse_from_str(time_part, "%H%M").ok()?,
        _ => return None,
    };
    let t = date.and_time(time);
    Some(if utc {
        Written::Utc(t)
    } else {
        Written::Local(t)
    })
}

/// A DURATION: whole days (nominal: the same wall-clock time so many days
/// later) and seconds (exact), RFC 5545 §3.3.6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Span {
    pub days: i64,
    pub seconds: i64,
}

impl Span {
    /// The span as whole days for an all-day event: a time part rounds up
    /// to a day, and an empty span is one day.
    pub fn whole_days(&self) -> i64 {
        let extra = if self.seconds > 0 {
            (self.seconds + 86_399) / 86_400
        } else {
            0
        };
        (self.days + extra).max(1)
    }

    /// The span as an exact duration, a day counting 24 hours.
    pub fn exact(&self) -> Duration {
        Duration::days(self.days) + Duration::seconds(self.seconds)
    }
}

/// Parses a DURATION such as `PT1H30M`, `P1D`, `P2W`, `-PT15M`, `P1DT12H`.
pub(crate) fn parse_duration(raw: &str) -> Option<Span> {
    let s = raw.trim().to_ascii_uppercase();
    let (negative, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest.to_string()),
        None => (false, s.strip_prefix('+').unwrap_or(&s).to_string()),
    };
    let s = s.strip_prefix('P')?;
    let mut span = Span::default();
    let mut in_time = false;
    let mut number = String::new();
    let mut any = false;
    for c in s.chars() {
        match c {
            '0'..='9' => number.push(c),
            'T' if !in_time && number.is_empty() => in_time = true,
            unit => {
                let n: i64 = number.parse().ok()?;
                number.clear();
                any = true;
                match (in_time, unit) {
                    (false, 'W') => span.days += n.checked_mul(7)?,
                    (false, 'D') => span.days += n,
                    (true, 'H') => span.seconds += n.checked_mul(3600)?,
                    (true, 'M') => span.seconds += n.checked_mul(60)?,
                    (true, 'S') => span.seconds += n,
                    _ => return None,
                }
            }
        }
    }
    if !number.is_empty() || !any {
        return None;
    }
    if negative {
        span.days = -span.days;
        span.seconds = -span.seconds;
    }
    Some(span)
}

/// Parses a UTC-OFFSET such as `+0100`, `-0530` or `+013045`, in seconds.
pub(crate) fn parse_offset(raw: &str) -> Option<i32> {
    let s = raw.trim();
    let (sign, digits) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => (1, s),
    };
    let digits: String = digits.chars().filter(|c| *c != ':').collect();
    if !(digits.len() == 4 || digits.len() == 6) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let h: i32 = digits[0..2].parse().ok()?;
    let m: i32 = digits[2..4].parse().ok()?;
    let sec: i32 = if digits.len() == 6 {
        digits[4..6].parse().ok()?
    } else {
        0
    };
    Some(sign * (h * 3600 + m * 60 + sec))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dt(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn dates_and_times_as_real_files_write_them() {
        let d = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        assert_eq!(parse_written("20261201", false), Some(Written::Date(d)));
        assert_eq!(
            parse_written("20261201T090000", true),
            Some(Written::Date(d))
        );
        assert_eq!(
            parse_written("20261201T090000Z", false),
            Some(Written::Utc(dt("2026-12-01 09:00:00")))
        );
        assert_eq!(
            parse_written("20261201t0900z", false),
            Some(Written::Utc(dt("2026-12-01 09:00:00")))
        );
        assert_eq!(
            parse_written("2026-12-01T09:00:00", false),
            Some(Written::Local(dt("2026-12-01 09:00:00")))
        );
        assert_eq!(parse_written("tomorrow", false), None);
        assert_eq!(parse_written("20261301", false), None);
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("PT1H30M"),
            Some(Span {
                days: 0,
                seconds: 5400
            })
        );
        assert_eq!(
            parse_duration("P1W"),
            Some(Span {
                days: 7,
                seconds: 0
            })
        );
        assert_eq!(
            parse_duration("P1DT12H"),
            Some(Span {
                days: 1,
                seconds: 43200
            })
        );
        assert_eq!(
            parse_duration("-PT15M"),
            Some(Span {
                days: 0,
                seconds: -900
            })
        );
        assert_eq!(parse_duration("P"), None);
        assert_eq!(parse_duration("PT"), None);
        assert_eq!(parse_duration("1H"), None);
        assert_eq!(parse_duration("PT24H").unwrap().whole_days(), 1);
        assert_eq!(parse_duration("P2D").unwrap().whole_days(), 2);
    }

    #[test]
    fn offsets() {
        assert_eq!(parse_offset("+0100"), Some(3600));
        assert_eq!(parse_offset("-0530"), Some(-19800));
        assert_eq!(parse_offset("+013045"), Some(5445));
        assert_eq!(parse_offset("0100"), Some(3600));
        assert_eq!(parse_offset("+1"), None);
    }
}
