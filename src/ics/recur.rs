//! Recurrence rules (`RRULE`), expanded by the `rrule` crate over wall-clock
//! times.
//!
//! A rule is expanded on the local (wall-clock) times of its `DTSTART`, as
//! RFC 5545 §3.3.10 asks, so that a weekly 09:00 meeting stays at 09:00
//! local time across a daylight-saving change; the caller then turns each
//! wall-clock time into an instant with the event's zone. The `rrule`
//! crate is handed those wall-clock times as if they were UTC, which keeps
//! it away from the machine's local zone and lets zones it does not know
//! (a `VTIMEZONE` defined only by its rules) work the same way.
//!
//! Every expansion is bounded: it stops after the end of the range asked
//! for, and fails after [`MAX_SCANNED`] occurrences, so that a rule with no
//! end, or one that fires every second, cannot run forever.

use super::time::{Written, parse_written};
use chrono::{Duration, NaiveDateTime, NaiveTime, TimeZone};
use rrule::{Frequency, RRule, RRuleSet, Unvalidated};
use std::ops::RangeInclusive;

/// The most occurrences one rule set may produce before the end of the range
/// asked for (counted from its start, not only those inside the range).
pub const MAX_SCANNED: usize = 200_000;

/// Rewrites a rule for wall-clock expansion: `UNTIL` becomes the wall-clock
/// time `until_wall` gives (a DATE `UNTIL` includes its whole day), `X-`
/// parts are dropped, and a repeated part keeps its first value. Returns
/// `None` when the rule ends before `start` (it then adds nothing).
fn wall_clock_rule(
    value: &str,
    start: NaiveDateTime,
    until_wall: &dyn Fn(Written) -> NaiveDateTime,
) -> Result<Option<String>, String> {
    let mut seen: Vec<String> = Vec::new();
    let mut parts = Vec::new();
    for part in value.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, val) = part
            .split_once('=')
            .ok_or_else(|| format!("its RRULE part \"{part}\" is not NAME=VALUE"))?;
        let key = key.trim().to_ascii_uppercase();
        if key.starts_with("X-") || seen.contains(&key) {
            continue;
        }
        seen.push(key.clone());
        if key == "UNTIL" {
            let written = parse_written(val, false)
                .ok_or_else(|| format!("its RRULE has an unreadable UNTIL \"{val}\""))?;
            let wall = match written {
                Written::Date(d) => {
                    d.and_time(NaiveTime::from_hms_opt(23, 59, 59).unwrap_or_default())
                }
                w => until_wall(w),
            };
            if wall < start {
                return Ok(None);
            }
            parts.push(format!("UNTIL={}", wall.format("%Y%m%dT%H%M%SZ")));
        } else {
            parts.push(format!("{key}={}", val.trim()));
        }
    }
    Ok(Some(parts.join(";")))
}

/// The wall-clock times within `range` at which the rules fire, in order,
/// for a series whose first instance is at `start` (which itself is not
/// added unless a rule produces it). `until_wall` turns a `Z` or local
/// `UNTIL` into the series' wall-clock time.
pub(crate) fn expand(
    start: NaiveDateTime,
    rules: &[&str],
    until_wall: &dyn Fn(Written) -> NaiveDateTime,
    range: RangeInclusive<NaiveDateTime>,
    max_scanned: usize,
) -> Result<Vec<NaiveDateTime>, String> {
    let mut out = Vec::new();
    for value in rules {
        let Some(text) = wall_clock_rule(value, start, until_wall)? else {
            continue;
        };
        let rule: RRule<Unvalidated> = text
            .parse()
            .map_err(|e| format!("its RRULE cannot be read ({e})"))?;
        out.extend(expand_rule(rule, start, &range, max_scanned)?);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// One rule's wall-clock times within `range`.
///
/// A daily or weekly rule without `COUNT` repeats whole periods of
/// `INTERVAL` days or weeks, so it is started at the last such period
/// before the range rather than at `start`: a rule that began years ago
/// need not be walked through week by week.
fn expand_rule(
    rule: RRule<Unvalidated>,
    start: NaiveDateTime,
    range: &RangeInclusive<NaiveDateTime>,
    max_scanned: usize,
) -> Result<Vec<NaiveDateTime>, String> {
    let check = rule
        .clone()
        .validate(rrule::Tz::UTC.from_utc_datetime(&start))
        .map_err(|e| format!("its RRULE is not valid ({e})"))?;
    let period_days = match check.get_freq() {
        Frequency::Daily => Some(1),
        Frequency::Weekly => Some(7),
        _ => None,
    };
    let mut first = start;
    if let Some(days) = period_days
        && check.get_count().is_none()
    {
        let period = Duration::days(days * i64::from(check.get_interval().max(1)));
        let skip = (*range.start() - Duration::days(7)) - start;
        if skip > period {
            let periods = skip.num_seconds() / period.num_seconds();
            first = start + period * i32::try_from(periods).unwrap_or(0);
        }
    }
    if let Some(until) = check.get_until()
        && until.naive_utc() < first
    {
        return Ok(Vec::new());
    }
    let dt_start = rrule::Tz::UTC.from_utc_datetime(&first);
    let rule = rule
        .validate(dt_start)
        .map_err(|e| format!("its RRULE is not valid ({e})"))?;
    let mut out = Vec::new();
    for (n, occurrence) in RRuleSet::new(dt_start)
        .limit()
        .rrule(rule)
        .into_iter()
        .enumerate()
    {
        if n >= max_scanned {
            return Err(format!(
                "its RRULE gives more than {max_scanned} occurrences before the end of the \
                 sync window; calsync does not expand rules that dense"
            ));
        }
        let wall = occurrence.naive_utc();
        if wall > *range.end() {
            break;
        }
        if wall >= *range.start() {
            out.push(wall);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    fn same(w: Written) -> NaiveDateTime {
        match w {
            Written::Utc(t) | Written::Local(t) => t,
            Written::Date(d) => d.and_hms_opt(0, 0, 0).unwrap(),
        }
    }

    #[test]
    fn weekly_until_and_range() {
        let got = expand(
            at("2026-03-02 09:00"),
            &["FREQ=WEEKLY;BYDAY=MO;UNTIL=20260330T090000Z;X-EVOLUTION-ENDDATE=1"],
            &same,
            at("2026-03-09 00:00")..=at("2026-12-31 00:00"),
            MAX_SCANNED,
        )
        .unwrap();
        assert_eq!(
            got,
            [
                at("2026-03-09 09:00"),
                at("2026-03-16 09:00"),
                at("2026-03-23 09:00"),
                at("2026-03-30 09:00")
            ]
        );
    }

    #[test]
    fn an_endless_rule_stops_at_the_range_and_a_dense_one_fails() {
        let got = expand(
            at("2000-01-01 09:00"),
            &["FREQ=DAILY"],
            &same,
            at("2026-01-01 00:00")..=at("2026-01-03 23:00"),
            MAX_SCANNED,
        )
        .unwrap();
        assert_eq!(got.len(), 3);
        let err = expand(
            at("2000-01-01 09:00"),
            &["FREQ=MINUTELY"],
            &same,
            at("2026-01-01 00:00")..=at("2026-01-03 23:00"),
            1000,
        )
        .unwrap_err();
        assert!(err.contains("more than 1000"), "{err}");
    }

    #[test]
    fn a_date_until_includes_its_day_and_an_early_until_adds_nothing() {
        let got = expand(
            at("2026-01-01 00:00"),
            &["FREQ=DAILY;UNTIL=20260103"],
            &same,
            at("2026-01-01 00:00")..=at("2026-02-01 00:00"),
            MAX_SCANNED,
        )
        .unwrap();
        assert_eq!(got.len(), 3);
        let none = expand(
            at("2026-01-05 09:00"),
            &["FREQ=DAILY;UNTIL=20260101T000000Z"],
            &same,
            at("2026-01-01 00:00")..=at("2026-02-01 00:00"),
            MAX_SCANNED,
        )
        .unwrap();
        assert!(none.is_empty());
        assert!(
            expand(
                at("2026-01-05 09:00"),
                &["FREQ=SOMETIMES"],
                &same,
                at("2026-01-01 00:00")..=at("2026-02-01 00:00"),
                MAX_SCANNED
            )
            .is_err()
        );
    }

    #[test]
    fn starting_late_gives_the_same_instances_as_walking_from_the_start() {
        for rule in [
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH;WKST=SU",
            "FREQ=WEEKLY;INTERVAL=3",
            "FREQ=DAILY;INTERVAL=5;BYHOUR=9,17",
            "FREQ=DAILY;INTERVAL=2;UNTIL=20261020T000000Z",
        ] {
            let start = at("2015-01-06 09:00");
            let range = at("2026-10-01 00:00")..=at("2026-12-31 00:00");
            let late = expand(start, &[rule], &same, range.clone(), MAX_SCANNED).unwrap();
            let walked: Vec<NaiveDateTime> =
                expand(start, &[rule], &same, start..=*range.end(), MAX_SCANNED)
                    .unwrap()
                    .into_iter()
                    .filter(|t| range.contains(t))
                    .collect();
            assert!(!late.is_empty(), "{rule}");
            assert_eq!(late, walked, "{rule}");
        }
    }
}
