//! DATE, DATE-TIME, DURATION and UTC-OFFSET values (RFC 5545 §3.3), and
//! the arithmetic on them.
//!
//! Every value is checked: a date or time is read only in the years
//! 0001–9999 that iCalendar can write (four digits), a duration only up to
//! [`MAX_DURATION_DAYS`], and sums that would leave those years fail
//! instead of wrapping or panicking ([`add`], [`in_range`]).

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};

/// The longest DURATION read (about 10,000 years): anything longer ends
/// after the year 9999 wherever it starts.
pub(crate) const MAX_DURATION_DAYS: i64 = 3_660_000;

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

/// Whether a time lies in the years 0001–9999, the ones iCalendar can
/// write.
pub(crate) fn in_range(t: &NaiveDateTime) -> bool {
    (1..=9999).contains(&t.year())
}

/// Whether an instant lies in the years 0001–9999 (in UTC).
pub(crate) fn instant_in_range(t: &DateTime<Utc>) -> bool {
    in_range(&t.naive_utc())
}

/// `t + d`, if the result lies in the years 0001–9999.
pub(crate) fn add(t: NaiveDateTime, d: Duration) -> Option<NaiveDateTime> {
    t.checked_add_signed(d).filter(in_range)
}

/// `date + days`, if the result lies in the years 0001–9999.
pub(crate) fn add_days(d: NaiveDate, days: i64) -> Option<NaiveDate> {
    d.checked_add_signed(Duration::try_days(days)?)
        .filter(|d| (1..=9999).contains(&d.year()))
}

/// Midnight of a date.
pub(crate) fn midnight(d: NaiveDate) -> NaiveDateTime {
    d.and_time(NaiveTime::MIN)
}

/// Parses one DATE or DATE-TIME. Forgives what real files get wrong: a
/// lower-case `z`, dashes and colons (`2026-12-01T09:00:00`), missing
/// seconds, and fractional seconds. A leap second (`:60`) is read as
/// `:59`. Years outside 0001–9999 are not read.
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
    let number = |s: &str| s.parse::<u32>().ok();
    let year = i32::try_from(number(date_part.get(0..4)?)?).ok()?;
    if year == 0 {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(
        year,
        number(date_part.get(4..6)?)?,
        number(date_part.get(6..8)?)?,
    )?;
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
    let (h, m, sec) = match time_part.len() {
        6 => (
            number(time_part.get(0..2)?)?,
            number(time_part.get(2..4)?)?,
            number(time_part.get(4..6)?)?,
        ),
        4 => (
            number(time_part.get(0..2)?)?,
            number(time_part.get(2..4)?)?,
            0,
        ),
        _ => return None,
    };
    let time = NaiveTime::from_hms_opt(h, m, if sec == 60 { 59 } else { sec })?;
    let t = date.and_time(time);
    Some(if utc {
        Written::Utc(t)
    } else {
        Written::Local(t)
    })
}

/// A DURATION: whole days (nominal: the same wall-clock time so many days
/// later) and seconds (exact), RFC 5545 §3.3.6. Both at most
/// [`MAX_DURATION_DAYS`] long.
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
        let days = Duration::try_days(self.days).unwrap_or_default();
        let seconds = Duration::try_seconds(self.seconds).unwrap_or_default();
        days.checked_add(&seconds).unwrap_or_default()
    }
}

/// Parses a DURATION such as `PT1H30M`, `P1D`, `P2W`, `-PT15M`, `P1DT12H`.
/// `None` for anything else, and for a span longer than
/// [`MAX_DURATION_DAYS`].
pub(crate) fn parse_duration(raw: &str) -> Option<Span> {
    let s = raw.trim().to_ascii_uppercase();
    let (negative, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest.to_string()),
        None => (false, s.strip_prefix('+').unwrap_or(&s).to_string()),
    };
    let s = s.strip_prefix('P')?;
    let max_seconds = MAX_DURATION_DAYS * 86_400;
    let mut span = Span::default();
    let mut in_time = false;
    let mut number = String::new();
    let mut any = false;
    for c in s.chars() {
        match c {
            '0'..='9' => {
                number.push(c);
                if number.len() > 18 {
                    return None;
                }
            }
            'T' if !in_time && number.is_empty() => in_time = true,
            unit => {
                let n: i64 = number.parse().ok()?;
                number.clear();
                any = true;
                let (days, seconds) = match (in_time, unit) {
                    (false, 'W') => (n.checked_mul(7)?, 0),
                    (false, 'D') => (n, 0),
                    (true, 'H') => (0, n.checked_mul(3600)?),
                    (true, 'M') => (0, n.checked_mul(60)?),
                    (true, 'S') => (0, n),
                    _ => return None,
                };
                span.days = span.days.checked_add(days)?;
                span.seconds = span.seconds.checked_add(seconds)?;
                if span.days > MAX_DURATION_DAYS || span.seconds > max_seconds {
                    return None;
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

/// Parses a UTC-OFFSET such as `+0100`, `-0530` or `+013045`, in seconds;
/// `None` for anything that is not less than a day.
pub(crate) fn parse_offset(raw: &str) -> Option<i32> {
    let s = raw.trim();
    let (sign, digits) = match s.as_bytes().first()? {
        b'+' => (1, s.get(1..)?),
        b'-' => (-1, s.get(1..)?),
        _ => (1, s),
    };
    let digits: String = digits.chars().filter(|c| *c != ':').collect();
    if !(digits.len() == 4 || digits.len() == 6) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let h: i32 = digits.get(0..2)?.parse().ok()?;
    let m: i32 = digits.get(2..4)?.parse().ok()?;
    let sec: i32 = if digits.len() == 6 {
        digits.get(4..6)?.parse().ok()?
    } else {
        0
    };
    if h >= 24 || m >= 60 || sec >= 60 {
        return None;
    }
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
        // Only the years iCalendar can write.
        assert_eq!(parse_written("00000101", false), None);
        assert_eq!(parse_written("+102401119T100000Z", false), None);
        assert_eq!(
            parse_written("99991231T235959Z", false),
            Some(Written::Utc(dt("9999-12-31 23:59:59")))
        );
        assert_eq!(
            parse_written("20261201T235960", false),
            Some(Written::Local(dt("2026-12-01 23:59:59")))
        );
        assert_eq!(parse_written("20261201T240000", false), None);
        assert_eq!(parse_written("2026120€T0900", false), None);
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
        // Huge spans are not read, and never overflow.
        for huge in [
            "P99999999W",
            "PT9999999999999S",
            "P9223372036854775807D",
            "PT99999999999999999999H",
        ] {
            assert_eq!(parse_duration(huge), None, "{huge}");
        }
        assert_eq!(parse_duration("PT9999999999S").unwrap().days, 0);
        // Read, but it ends past the year 9999 from any start (see `add`).
        let long = parse_duration("P3000000D").unwrap();
        assert_eq!(add(dt("2026-01-01 00:00:00"), long.exact()), None);
        assert_eq!(parse_duration("P2D").unwrap().whole_days(), 2);
    }

    #[test]
    fn offsets() {
        assert_eq!(parse_offset("+0100"), Some(3600));
        assert_eq!(parse_offset("-0530"), Some(-19800));
        assert_eq!(parse_offset("+013045"), Some(5445));
        assert_eq!(parse_offset("0100"), Some(3600));
        assert_eq!(parse_offset("+1"), None);
        assert_eq!(parse_offset("+9999"), None);
        assert_eq!(parse_offset("+€"), None);
    }
}
