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
use super::doc::{Comp, Document, Item};
use super::limits::{MAX_RULE_STEPS, MAX_TZ_OBSERVANCES, MAX_TZ_ONSETS};
use super::recur::{self, Budget};
use super::rule::parse_rule;
use super::time::{Written, midnight, parse_offset, parse_written};
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
                    let day_before = local.checked_sub_signed(Duration::days(1)).unwrap_or(local);
                    let before = tz
                        .offset_from_utc_datetime(&day_before)
                        .fix()
                        .local_minus_utc();
                    shift(local, -i64::from(before)).and_utc()
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
            Zone::Rules(r) => shift(t.naive_utc(), i64::from(r.offset_at(t.naive_utc()))),
        }
    }
}

/// `t` moved by an offset of less than a day; `t` itself in the (unreached)
/// case that leaves the calendar.
fn shift(t: NaiveDateTime, seconds: i64) -> NaiveDateTime {
    t.checked_add_signed(Duration::seconds(seconds))
        .unwrap_or(t)
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
        match i.checked_sub(1).and_then(|i| self.onsets.get(i)) {
            Some((_, offset)) => *offset,
            None => self.initial,
        }
    }

    fn instant(&self, local: NaiveDateTime) -> DateTime<Utc> {
        let valid = self
            .offsets
            .iter()
            .map(|o| shift(local, -i64::from(*o)))
            .filter(|t| shift(*t, i64::from(self.offset_at(*t))) == local)
            .min();
        match valid {
            Some(t) => t.and_utc(),
            None => {
                let day_before = local.checked_sub_signed(Duration::days(1)).unwrap_or(local);
                let before = self.offset_at(day_before);
                shift(local, -i64::from(before)).and_utc()
            }
        }
    }

    /// Reads a `VTIMEZONE`'s `STANDARD` and `DAYLIGHT` observances. `None`
    /// when it has none. At most [`MAX_TZ_OBSERVANCES`] observances and
    /// [`MAX_TZ_ONSETS`] changes of offset up to [`RULES_HORIZON_YEAR`].
    fn of(vtz: &Comp) -> Result<Option<Rules>, String> {
        let mut onsets = Vec::new();
        let mut offsets = Vec::new();
        let horizon = NaiveDate::from_ymd_opt(RULES_HORIZON_YEAR, 1, 1)
            .map(midnight)
            .unwrap_or_default();
        let observances: Vec<&Comp> = vtz
            .children
            .iter()
            .filter(|c| c.name == "STANDARD" || c.name == "DAYLIGHT")
            .collect();
        if observances.len() > MAX_TZ_OBSERVANCES {
            return Err(format!(
                "it has more than {MAX_TZ_OBSERVANCES} STANDARD and DAYLIGHT observances"
            ));
        }
        let mut budget = Budget {
            steps: MAX_RULE_STEPS,
            instances: MAX_TZ_ONSETS,
        };
        for obs in observances {
            if let Some(bad) = obs.bad.first() {
                return Err(format!(
                    "its {} (line {}) has a line that is not iCalendar (line {})",
                    obs.name, obs.line, bad.line
                ));
            }
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
                    Written::Date(d) => midnight(d),
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
            let to_wall = |w: Written| match w {
                Written::Utc(t) => shift(t, i64::from(from)),
                Written::Local(t) => t,
                Written::Date(d) => recur::until_of_date(d),
            };
            let mut locals = vec![start];
            for p in obs.all("RRULE") {
                let rule = parse_rule(&p.value)
                    .map_err(|why| format!("its RRULE (line {}) {why}", p.line))?;
                let until = rule.until.map(to_wall);
                locals.extend(
                    recur::expand(&rule, start, until, &(start..=horizon), &mut budget)
                        .map_err(|why| format!("its RRULE (line {}) {why}", p.line))?,
                );
            }
            for rdate in obs.all("RDATE") {
                for v in rdate.value.split(',') {
                    if let Some(w) = parse_written(v, false) {
                        budget.instances = budget.instances.checked_sub(1).ok_or_else(|| {
                            format!("it defines more than {MAX_TZ_ONSETS} changes of offset")
                        })?;
                        locals.push(to_wall(w));
                    }
                }
            }
            onsets.extend(
                locals
                    .into_iter()
                    .map(|l| (shift(l, -i64::from(from)), from, to)),
            );
            if onsets.len() > MAX_TZ_ONSETS {
                return Err(format!(
                    "it defines more than {MAX_TZ_ONSETS} changes of offset"
                ));
            }
        }
        if onsets.is_empty() {
            return Ok(None);
        }
        onsets.sort();
        onsets.dedup_by_key(|(t, _, _)| *t);
        // The earliest observance's "from" is in force before any onset.
        let initial = onsets.first().map_or(0, |o| o.1);
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
/// (CLDR mapping), or a path ending in an IANA name (`/Europe/Stockholm`,
/// `/mozilla.org/20050126_1/Europe/Berlin`).
pub(crate) fn named(name: &str) -> Option<Tz> {
    let name = name.trim().trim_matches('"').trim();
    if name.is_empty() || name.len() > 200 {
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
    (0..segments.len()).find_map(|i| {
        let tail = segments.get(i..)?.join("/");
        tail.parse::<Tz>().ok().or_else(|| {
            chrono_tz::TZ_VARIANTS
                .iter()
                .find(|tz| tz.name().eq_ignore_ascii_case(&tail))
                .copied()
        })
    })
}

/// A `TZID` as messages show it: quoted when it is short and printable,
/// else not at all (it comes from the file).
pub(crate) fn shown_tzid(tzid: &str) -> String {
    if !tzid.is_empty() && tzid.chars().count() <= 80 && !tzid.chars().any(char::is_control) {
        format!("TZID=\"{tzid}\"")
    } else {
        "its TZID".to_string()
    }
}

/// Resolves the `TZID`s of one file, each once.
pub(crate) struct Zones<'d> {
    origin: &'d str,
    input: &'d [u8],
    /// The `VTIMEZONE` components by `TZID` (the first of each), read only
    /// when a `TZID` needs one.
    vtimezones: HashMap<String, &'d Item>,
    cache: HashMap<String, Result<Zone, String>>,
    /// `X-WR-TIMEZONE` and its line.
    calendar_zone: Option<(String, usize)>,
    /// Whether the file has an `X-WR-TIMEZONE` line that cannot be read.
    calendar_zone_bad: bool,
    floating: Option<Zone>,
}

impl<'d> Zones<'d> {
    /// The zones of the file `input`, whose structure is `doc`.
    pub fn new(doc: &'d Document, input: &'d [u8], origin: &'d str) -> Self {
        let mut vtimezones = HashMap::new();
        for item in doc.items.iter().filter(|i| i.name == "VTIMEZONE") {
            // Only the TZID is needed now: read the component's own lines.
            let comp = Document::component(input, item);
            if let Some(id) = comp.value("TZID") {
                vtimezones.entry(id.trim().to_string()).or_insert(item);
            }
        }
        Zones {
            origin,
            input,
            vtimezones,
            cache: HashMap::new(),
            calendar_zone: doc
                .value("X-WR-TIMEZONE")
                .filter(|p| !p.value.trim().is_empty())
                .map(|p| (p.value.trim().to_string(), p.line)),
            calendar_zone_bad: doc.has_bad("X-WR-TIMEZONE"),
            floating: None,
        }
    }

    /// The zone a `TZID` names; `line` is where it is used.
    pub fn resolve(&mut self, tzid: &str, line: usize) -> Result<Zone, IcsError> {
        let tzid = tzid.trim();
        let found = match self.cache.get(tzid) {
            Some(z) => z.clone(),
            None => {
                let z = self.find(tzid);
                self.cache.insert(tzid.to_string(), z.clone());
                z
            }
        };
        found.map_err(|why| {
            IcsError::at_line(
                self.origin,
                line,
                format!("the time zone {} cannot be used: {why}", shown_tzid(tzid)),
            )
        })
    }

    fn find(&self, tzid: &str) -> Result<Zone, String> {
        if let Some(tz) = named(tzid) {
            return Ok(Zone::Named(tz));
        }
        let item = self.vtimezones.get(tzid).copied().or_else(|| {
            self.vtimezones
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(tzid))
                .map(|(_, v)| *v)
        });
        let Some(item) = item else {
            return Err(
                "it is not an IANA or Windows zone name, and the file has no VTIMEZONE \
                 that defines it"
                    .into(),
            );
        };
        if let Some(d) = &item.defect {
            return Err(format!(
                "its VTIMEZONE (line {}) cannot be read: {} (line {})",
                item.line, d.why, d.line
            ));
        }
        let vtz = Document::component(self.input, item);
        if let Some(tz) = vtz.value("X-LIC-LOCATION").and_then(named) {
            return Ok(Zone::Named(tz));
        }
        match Rules::of(&vtz) {
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
        if self.calendar_zone_bad {
            return Err(IcsError::file(
                self.origin,
                "the calendar's X-WR-TIMEZONE line cannot be read, so its floating times \
                 (no Z, no TZID) have no zone",
            ));
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
        assert_eq!(named("/Europe/Stockholm"), Some(Tz::Europe__Stockholm));
        assert_eq!(named("Europe/Stockholm/"), Some(Tz::Europe__Stockholm));
        assert_eq!(
            named("/citadel.org/20190914_1/europe/stockholm"),
            Some(Tz::Europe__Stockholm)
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
