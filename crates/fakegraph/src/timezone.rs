//! Time zones and Graph's date-time formats.
//!
//! Graph accepts Windows zone names ("Pacific Standard Time") and IANA names
//! ("America/Los_Angeles") wherever a `timeZone` is expected, and writes local
//! times as `YYYY-MM-DDTHH:MM:SS.0000000` (seven fractional digits, no offset)
//! and instants as the same plus `Z`.

use chrono::{DateTime, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// Windows zone names and the IANA zone of their "001" territory (CLDR windowsZones).
const WINDOWS_ZONES: &[(&str, &str)] = &[
    ("Dateline Standard Time", "Etc/GMT+12"),
    ("UTC-11", "Etc/GMT+11"),
    ("Hawaiian Standard Time", "Pacific/Honolulu"),
    ("Alaskan Standard Time", "America/Anchorage"),
    ("Pacific Standard Time (Mexico)", "America/Tijuana"),
    ("Pacific Standard Time", "America/Los_Angeles"),
    ("US Mountain Standard Time", "America/Phoenix"),
    ("Mountain Standard Time", "America/Denver"),
    ("Central America Standard Time", "America/Guatemala"),
    ("Central Standard Time", "America/Chicago"),
    ("Central Standard Time (Mexico)", "America/Mexico_City"),
    ("Canada Central Standard Time", "America/Regina"),
    ("SA Pacific Standard Time", "America/Bogota"),
    ("Eastern Standard Time", "America/New_York"),
    ("US Eastern Standard Time", "America/Indiana/Indianapolis"),
    ("Atlantic Standard Time", "America/Halifax"),
    ("Newfoundland Standard Time", "America/St_Johns"),
    ("E. South America Standard Time", "America/Sao_Paulo"),
    ("Argentina Standard Time", "America/Argentina/Buenos_Aires"),
    ("UTC-02", "Etc/GMT+2"),
    ("Azores Standard Time", "Atlantic/Azores"),
    ("UTC", "Etc/UTC"),
    ("Coordinated Universal Time", "Etc/UTC"),
    ("GMT Standard Time", "Europe/London"),
    ("Greenwich Standard Time", "Atlantic/Reykjavik"),
    ("W. Europe Standard Time", "Europe/Berlin"),
    ("Central Europe Standard Time", "Europe/Budapest"),
    ("Romance Standard Time", "Europe/Paris"),
    ("Central European Standard Time", "Europe/Warsaw"),
    ("W. Central Africa Standard Time", "Africa/Lagos"),
    ("GTB Standard Time", "Europe/Bucharest"),
    ("FLE Standard Time", "Europe/Kiev"),
    ("E. Europe Standard Time", "Europe/Chisinau"),
    ("Israel Standard Time", "Asia/Jerusalem"),
    ("South Africa Standard Time", "Africa/Johannesburg"),
    ("Egypt Standard Time", "Africa/Cairo"),
    ("Turkey Standard Time", "Europe/Istanbul"),
    ("Russian Standard Time", "Europe/Moscow"),
    ("Arab Standard Time", "Asia/Riyadh"),
    ("Arabian Standard Time", "Asia/Dubai"),
    ("Iran Standard Time", "Asia/Tehran"),
    ("Pakistan Standard Time", "Asia/Karachi"),
    ("India Standard Time", "Asia/Kolkata"),
    ("Nepal Standard Time", "Asia/Kathmandu"),
    ("Bangladesh Standard Time", "Asia/Dhaka"),
    ("SE Asia Standard Time", "Asia/Bangkok"),
    ("China Standard Time", "Asia/Shanghai"),
    ("Singapore Standard Time", "Asia/Singapore"),
    ("Taipei Standard Time", "Asia/Taipei"),
    ("W. Australia Standard Time", "Australia/Perth"),
    ("Tokyo Standard Time", "Asia/Tokyo"),
    ("Korea Standard Time", "Asia/Seoul"),
    ("Cen. Australia Standard Time", "Australia/Adelaide"),
    ("AUS Central Standard Time", "Australia/Darwin"),
    ("E. Australia Standard Time", "Australia/Brisbane"),
    ("AUS Eastern Standard Time", "Australia/Sydney"),
    ("New Zealand Standard Time", "Pacific/Auckland"),
    ("Samoa Standard Time", "Pacific/Apia"),
    ("Tonga Standard Time", "Pacific/Tongatapu"),
];

/// A zone as a client named it, with the rules it stands for.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Zone {
    /// The name exactly as given (Graph echoes it back).
    pub name: String,
    pub tz: Tz,
}

impl Zone {
    /// Resolves a Windows or IANA zone name (case-insensitive).
    pub fn parse(name: &str) -> Option<Zone> {
        let trimmed = name.trim();
        if trimmed.is_empty() {
            return None;
        }
        let tz = WINDOWS_ZONES
            .iter()
            .find(|(windows, _)| windows.eq_ignore_ascii_case(trimmed))
            .and_then(|(_, iana)| iana.parse::<Tz>().ok())
            .or_else(|| {
                if trimmed.eq_ignore_ascii_case("tzone://Microsoft/Utc") {
                    Some(Tz::UTC)
                } else {
                    trimmed.parse::<Tz>().ok().or_else(|| {
                        chrono_tz::TZ_VARIANTS
                            .iter()
                            .copied()
                            .find(|tz| tz.name().eq_ignore_ascii_case(trimmed))
                    })
                }
            })?;
        Some(Zone {
            name: trimmed.to_string(),
            tz,
        })
    }

    pub fn utc() -> Zone {
        Zone {
            name: "UTC".to_string(),
            tz: Tz::UTC,
        }
    }

    /// The instant of a wall-clock time in this zone. A time skipped by a DST
    /// jump is read as if the clock had not jumped yet (as Exchange does).
    pub fn to_utc(&self, local: NaiveDateTime) -> DateTime<Utc> {
        match self.tz.from_local_datetime(&local) {
            LocalResult::Single(t) => t.with_timezone(&Utc),
            LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
            LocalResult::None => self.to_utc(local + chrono::Duration::hours(1)),
        }
    }

    /// The wall-clock time of an instant in this zone.
    pub fn local_time(&self, instant: DateTime<Utc>) -> NaiveDateTime {
        instant.with_timezone(&self.tz).naive_local()
    }
}

/// A wall-clock time in a named zone, as Graph stores `start` and `end`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Wall {
    pub local: NaiveDateTime,
    pub zone: Zone,
}

impl Wall {
    pub fn instant(&self) -> DateTime<Utc> {
        self.zone.to_utc(self.local)
    }
}

/// `2024-05-01T09:00:00.0000000`
pub(crate) fn format_local(t: NaiveDateTime) -> String {
    format!(
        "{}.{:07}",
        t.format("%Y-%m-%dT%H:%M:%S"),
        t.and_utc().timestamp_subsec_nanos() / 100
    )
}

/// `2024-05-01T09:00:00.0000000Z`
pub(crate) fn format_utc(t: DateTime<Utc>) -> String {
    format!("{}Z", format_local(t.naive_utc()))
}

/// `2024-05-01`
pub(crate) fn format_date(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// Parses a Graph `dateTime` value: a local time with optional fraction, and
/// possibly (though Graph writes none) an offset or `Z`.
pub(crate) fn parse_date_time(s: &str) -> Option<(NaiveDateTime, Option<FixedOffset>)> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some((t.naive_local(), Some(*t.offset())));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Some((t, None));
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| (t, None))
}

/// Parses a query-string instant such as calendarView's bounds: the offset in
/// the value decides the instant; without one the value is UTC.
pub(crate) fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    let (local, offset) = parse_date_time(s)?;
    Some(match offset {
        Some(offset) => offset
            .from_local_datetime(&local)
            .single()?
            .with_timezone(&Utc),
        None => local.and_utc(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_iana_names_resolve() {
        for name in [
            "UTC",
            "Pacific Standard Time",
            "Eastern Standard Time",
            "GMT Standard Time",
            "W. Europe Standard Time",
            "Romance Standard Time",
            "Tokyo Standard Time",
            "AUS Eastern Standard Time",
            "India Standard Time",
            "Europe/Berlin",
            "america/new_york",
        ] {
            assert!(Zone::parse(name).is_some(), "{name}");
        }
        assert!(Zone::parse("Mars Standard Time").is_none());
    }

    #[test]
    fn formats_have_seven_fraction_digits() {
        let t = NaiveDate::from_ymd_opt(2024, 5, 1)
            .unwrap()
            .and_hms_milli_opt(9, 30, 0, 250)
            .unwrap();
        assert_eq!(format_local(t), "2024-05-01T09:30:00.2500000");
        assert_eq!(format_utc(t.and_utc()), "2024-05-01T09:30:00.2500000Z");
    }

    #[test]
    fn instants_without_offset_are_utc() {
        let a = parse_instant("2024-05-01T10:00:00").unwrap();
        let b = parse_instant("2024-05-01T12:00:00+02:00").unwrap();
        assert_eq!(a, b);
        assert_eq!(parse_instant("2024-05-01T10:00:00.0000000Z").unwrap(), a);
    }
}
