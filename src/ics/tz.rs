//! Time zones: what a `TZID` names, and how a local time becomes an instant.
//!
//! A `TZID` is resolved, in this order, as
//!
//! 1. an IANA name (`Europe/Berlin`; any case);
//! 2. a Windows name, as Outlook writes them (`W. Europe Standard Time`),
//!    through the CLDR `windowsZones` mapping of the `windows-timezones`
//!    crate;
//! 3. a path that ends in an IANA name, as Mozilla and older Apple software
//!    write them (`/mozilla.org/20050126_1/Europe/Berlin`);
//! 4. the file's `VTIMEZONE` of that `TZID`: its `X-LIC-LOCATION` when that
//!    is an IANA name, otherwise its own `STANDARD`/`DAYLIGHT` rules (a
//!    "Customized Time Zone" from Outlook, say).
//!
//! Anything else is an error naming the `TZID` and its line: calsync never
//! guesses a zone, since a guess would move events silently.
//!
//! A local time that a daylight-saving change skips is read with the offset
//! in force before the change, and one that occurs twice is the first of
//! the two (RFC 5545 §3.3.5).

use super::IcsError;
use super::doc::{Comp, Document};
use super::recur;
use super::time::{Written, parse_offset, parse_written};
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use std::collections::HashMap;
use std::sync::Arc;

/// A zone local times are read in.
#[derive(Debug, Clone)]
pub(crate) enum Zone {
    Utc,
    Named(Tz),
    /// Defined only by a `VTIMEZONE`'s rules.
    Rules(Arc<Rules>),
}

impl Zone {
    /// The instant of a wall-clock time in this zone.
    pub fn instant(&self, local: NaiveDateTime) -> DateTime<Utc> {
        match self {
            Zone::Utc => local.and_utc(),
            Zone::Named(tz) => match tz.from_local_datetime(&local) {
                chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
                chrono::LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
                chrono::LocalResult::None => {
                    let before = tz
                        .offset_from_utc_datetime(&(local - Duration::days(1)))
                        .fix()
                        .local_minus_utc();
                    (local - Duration::seconds(i64::from(before))).and_utc()
                }
            },
            Zone::Rules(r) => r.instant(local),
        }
    }

    /// The wall-clock time of an instant in this zone.
    pub fn local(&self, t: DateTime<Utc>) -> NaiveDateTime {
        match self {
            Zone::Utc => t.naive_utc(),
            Zone::Named(tz) => t.with_timezone(tz).naive_local(),
            Zone::Rules(r) => {
                t.naive_utc() + Duration::seconds(i64::from(r.offset_at(t.naive_utc())))
            }
        }
    }
}

/// A zone defined by a `VTIMEZONE`'s observances: the UTC instants at which
/// the offset changes, and the offset from each on.
#[derive(Debug)]
pub(crate) struct Rules {
    /// (UTC onset, offset in seconds from then on), sorted.
    onsets: Vec<(NaiveDateTime, i32)>,
    /// The offset before the first onset.
    initial: i32,
    /// Every offset the zone uses.
    offsets: Vec<i32>,
}

/// How far a `VTIMEZONE`'s yearly rules are expanded.
const RULES_HORIZON_YEAR: i32 = 2200;

impl Rules {
    fn offset_at(&self, utc: NaiveDateTime) -> i32 {
        let i = self.onsets.partition_point(|(t, _)| *t <= utc);
        if i == 0 {
            self.initial
        } else {
            self.onsets[i - 1].1
        }
    }

    fn instant(&self, local: NaiveDateTime) -> DateTime<Utc> {
        let valid = self
            .offsets
            .iter()
            .map(|o| local - Duration::seconds(i64::from(*o)))
            .filter(|t| {
                let o = self.offset_at(*t);
                *t + Duration::seconds(i64::from(o)) == local
            })
            .min();
        match valid {
            Some(t) => t.and_utc(),
            None => {
                let before = self.offset_at(local - Duration::days(1));
                (local - Duration::seconds(i64::from(before))).and_utc()
            }
        }
    }

    /// Reads a `VTIMEZONE`'s `STANDARD` and `DAYLIGHT` observances. `None`
    /// when it has none that can be read.
    fn of(vtz: &Comp) -> Result<Option<Rules>, String> {
        let mut onsets = Vec::new();
        let mut offsets = Vec::new();
        let horizon = NaiveDate::from_ymd_opt(RULES_HORIZON_YEAR, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .unwrap_or_default();
        for obs in vtz
            .children
            .iter()
            .filter(|c| c.name == "STANDARD" || c.name == "DAYLIGHT")
        {
            let from = obs.value("TZOFFSETFROM").and_then(parse_offset);
            let to = obs.value("TZOFFSETTO").and_then(parse_offset);
            let (Some(from), Some(to)) = (from, to) else {
                return Err(format!(
                    "its {} (line {}) lacks a readable TZOFFSETFROM or TZOFFSETTO",
                    obs.name, obs.line
                ));
            };
            let start = obs
                .value("DTSTART")
                .and_then(|v| parse_written(v, false))
                .map(|w| match w {
                    Written::Date(d) => d.and_hms_opt(0, 0, 0).unwrap_or_default(),
                    Written::Utc(t) | Written::Local(t) => t,
                })
                .ok_or_else(|| {
                    format!(
                        "its {} (line {}) lacks a readable DTSTART",
                        obs.name, obs.line
                    )
                })?;
            offsets.push(from);
            offsets.push(to);
            let shift = Duration::seconds(i64::from(from));
            let mut locals = vec![start];
            let rules: Vec<&str> = obs.all("RRULE").map(|p| p.value.as_str()).collect();
            let until_wall = |w: Written| match w {
                Written::Utc(t) => t + shift,
                Written::Local(t) => t,
                Written::Date(d) => d.and_hms_opt(0, 0, 0).unwrap_or_default(),
            };
            locals.extend(recur::expand(
                start,
                &rules,
                &until_wall,
                start..=horizon,
                5_000,
            )?);
            for rdate in obs.all("RDATE") {
                for v in rdate.value.split(',') {
                    if let Some(w) = parse_written(v, false) {
                        locals.push(until_wall(w));
                    }
                }
            }
            onsets.extend(locals.into_iter().map(|l| (l - shift, from, to)));
        }
        if onsets.is_empty() {
            return Ok(None);
        }
        onsets.sort();
        onsets.dedup_by_key(|(t, _, _)| *t);
        // The earliest observance's "from" is in force before any onset.
        let initial = onsets[0].1;
        let onsets = onsets.into_iter().map(|(t, _, to)| (t, to)).collect();
        offsets.sort_unstable();
        offsets.dedup();
        Ok(Some(Rules {
            onsets,
            initial,
            offsets,
        }))
    }
}

/// An IANA zone for a name, if the name is one: IANA (any case), Windows
/// (CLDR mapping), or a path ending in an IANA name.
pub(crate) fn named(name: &str) -> Option<Tz> {
    let name = name.trim().trim_matches('"').trim();
    if name.is_empty() {
        return None;
    }
    if let Ok(tz) = name.parse::<Tz>() {
        return Some(tz);
    }
    if let Some(tz) = chrono_tz::TZ_VARIANTS
        .iter()
        .find(|tz| tz.name().eq_ignore_ascii_case(name))
    {
        return Some(*tz);
    }
    if let Ok(w) = name.parse::<windows_timezones::WindowsTimezone>() {
        return w.tzdb_id().parse::<Tz>().ok();
    }
    let segments: Vec<&str> = name.split('/').filter(|s| !s.is_empty()).collect();
    (1..segments.len()).find_map(|i| segments[i..].join("/").parse::<Tz>().ok())
}

/// Resolves the `TZID`s of one file, each once.
pub(crate) struct Zones<'d> {
    origin: &'d str,
    vtimezones: HashMap<String, &'d Comp>,
    cache: HashMap<String, Zone>,
    /// `X-WR-TIMEZONE` and its line.
    calendar_zone: Option<(String, usize)>,
    floating: Option<Zone>,
}

impl<'d> Zones<'d> {
    pub fn new(doc: &'d Document, origin: &'d str) -> Self {
        let mut vtimezones = HashMap::new();
        for item in doc.items.iter().filter(|i| i.comp.name == "VTIMEZONE") {
            if let Some(id) = item.comp.value("TZID") {
                vtimezones
                    .entry(id.trim().to_string())
                    .or_insert(&item.comp);
            }
        }
        Zones {
            origin,
            vtimezones,
            cache: HashMap::new(),
            calendar_zone: doc
                .value("X-WR-TIMEZONE")
                .filter(|p| !p.value.trim().is_empty())
                .map(|p| (p.value.trim().to_string(), p.line)),
            floating: None,
        }
    }

    /// The zone a `TZID` names; `line` is where it is used.
    pub fn resolve(&mut self, tzid: &str, line: usize) -> Result<Zone, IcsError> {
        let tzid = tzid.trim();
        if let Some(z) = self.cache.get(tzid) {
            return Ok(z.clone());
        }
        let zone = self.find(tzid).map_err(|why| {
            IcsError::at_line(
                self.origin,
                line,
                format!("the time zone TZID=\"{tzid}\" cannot be used: {why}"),
            )
        })?;
        self.cache.insert(tzid.to_string(), zone.clone());
        Ok(zone)
    }

    fn find(&self, tzid: &str) -> Result<Zone, String> {
        if let Some(tz) = named(tzid) {
            return Ok(Zone::Named(tz));
        }
        let vtz = self.vtimezones.get(tzid).copied().or_else(|| {
            self.vtimezones
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(tzid))
                .map(|(_, v)| *v)
        });
        let Some(vtz) = vtz else {
            return Err(
                "it is not an IANA or Windows zone name, and the file has no VTIMEZONE \
                 that defines it"
                    .into(),
            );
        };
        if let Some(tz) = vtz.value("X-LIC-LOCATION").and_then(named) {
            return Ok(Zone::Named(tz));
        }
        match Rules::of(vtz) {
            Ok(Some(rules)) => Ok(Zone::Rules(Arc::new(rules))),
            Ok(None) => Err(format!(
                "its VTIMEZONE (line {}) has no STANDARD or DAYLIGHT rules",
                vtz.line
            )),
            Err(why) => Err(format!("its VTIMEZONE (line {}): {why}", vtz.line)),
        }
    }

    /// The zone of floating times (no `Z`, no `TZID`): the calendar's
    /// `X-WR-TIMEZONE` when it has one, else UTC.
    pub fn floating(&mut self) -> Result<Zone, IcsError> {
        if let Some(z) = &self.floating {
            return Ok(z.clone());
        }
        let zone = match self.calendar_zone.clone() {
            Some((name, line)) => self.resolve(&name, line)?,
            None => Zone::Utc,
        };
        self.floating = Some(zone.clone());
        Ok(zone)
    }

    /// The zone of a DATE-TIME property: UTC for a `Z` value, its `TZID`,
    /// or the floating zone.
    pub fn of_value(
        &mut self,
        written: &Written,
        tzid: Option<&str>,
        line: usize,
    ) -> Result<Zone, IcsError> {
        match (written, tzid) {
            (Written::Utc(_), _) => Ok(Zone::Utc),
            (_, Some(id)) if !id.trim().is_empty() => self.resolve(id, line),
            _ => self.floating(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn names_iana_windows_and_paths() {
        assert_eq!(named("Europe/Berlin"), Some(Tz::Europe__Berlin));
        assert_eq!(named("europe/berlin"), Some(Tz::Europe__Berlin));
        assert_eq!(named("W. Europe Standard Time"), Some(Tz::Europe__Berlin));
        assert_eq!(
            named("Pacific Standard Time"),
            Some(Tz::America__Los_Angeles)
        );
        assert_eq!(named("Tokyo Standard Time"), Some(Tz::Asia__Tokyo));
        assert_eq!(
            named("/mozilla.org/20050126_1/Europe/Berlin"),
            Some(Tz::Europe__Berlin)
        );
        assert_eq!(
            named("/softwarestudio.org/Olson_20011030_5/America/Argentina/Buenos_Aires"),
            Some(Tz::America__Argentina__Buenos_Aires)
        );
        assert_eq!(named("Customized Time Zone"), None);
        assert_eq!(named(""), None);
    }

    #[test]
    fn gaps_and_folds_follow_rfc_5545() {
        let berlin = Zone::Named(Tz::Europe__Berlin);
        // 02:30 does not exist on 2026-03-29: read with the winter offset.
        assert_eq!(
            berlin.instant(at("2026-03-29 02:30")),
            at("2026-03-29 01:30").and_utc()
        );
        // 02:30 occurs twice on 2026-10-25: the first.
        assert_eq!(
            berlin.instant(at("2026-10-25 02:30")),
            at("2026-10-25 00:30").and_utc()
        );
    }
}
