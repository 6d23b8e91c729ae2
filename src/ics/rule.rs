//! The text of a recurrence rule (`RRULE`, RFC 5545 §3.3.10), read and
//! checked before anything expands it.
//!
//! Every part is checked against the RFC's grammar and ranges, the
//! combinations it forbids are refused (a numbered `BYDAY` outside
//! `MONTHLY`/`YEARLY`, `BYWEEKNO` outside `YEARLY`, …), and so are parts
//! calsync does not know (RFC 7529's `RSCALE`, say, changes what a rule
//! means): a rule that is read is one [`super::recur`] expands exactly.
//! `X-` parts are dropped. A rule is never more than [`MAX_RULE_LIST`]
//! values per list, and its `INTERVAL` at most [`MAX_INTERVAL`].
//!
//! Messages name a part (`BYDAY`), never quote a value.

use super::limits::{MAX_INTERVAL, MAX_RULE_LIST};
use super::text::is_token;
use super::time::{Written, parse_written};

/// A rule's frequency, in the order the expansion compares them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Freq {
    Yearly,
    Monthly,
    Weekly,
    Daily,
    Hourly,
    Minutely,
    Secondly,
}

/// A checked rule. Weekdays count from Monday = 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    pub freq: Freq,
    pub interval: u32,
    pub count: Option<u64>,
    pub until: Option<Written>,
    pub by_second: Vec<u32>,
    pub by_minute: Vec<u32>,
    pub by_hour: Vec<u32>,
    /// (n, weekday); n = 0 for every such weekday.
    pub by_day: Vec<(i32, u32)>,
    pub by_month_day: Vec<i32>,
    pub by_year_day: Vec<i32>,
    pub by_week_no: Vec<i32>,
    pub by_month: Vec<u32>,
    pub by_set_pos: Vec<i32>,
    pub wkst: u32,
}

fn weekday(s: &str) -> Option<u32> {
    ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
        .iter()
        .position(|d| s.eq_ignore_ascii_case(d))
        .and_then(|i| u32::try_from(i).ok())
}

/// A signed integer of at most 3 digits (`+5`, `-1`, `53`).
fn small_int(s: &str) -> Option<i32> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i32 = digits.parse().ok()?;
    Some(if s.starts_with('-') { -n } else { n })
}

/// A comma list, each item read by `item`; `None` when one is not.
fn list<T: PartialEq>(value: &str, item: impl Fn(&str) -> Option<T>) -> Option<Vec<T>> {
    let mut out: Vec<T> = Vec::new();
    for v in value.split(',').map(str::trim) {
        let x = item(v)?;
        if !out.contains(&x) {
            out.push(x);
        }
        if out.len() > MAX_RULE_LIST {
            return None;
        }
    }
    Some(out)
}

fn in_range(lo: i32, hi: i32, allow_negative: bool) -> impl Fn(&str) -> Option<i32> {
    move |s| {
        let n = small_int(s)?;
        let a = n.abs();
        (a >= lo && a <= hi && (allow_negative || n > 0) && n != 0).then_some(n)
    }
}

fn unsigned_in(lo: u32, hi: u32) -> impl Fn(&str) -> Option<u32> {
    move |s| {
        if s.is_empty() || s.len() > 2 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: u32 = s.parse().ok()?;
        (lo..=hi).contains(&n).then_some(n)
    }
}

/// Reads a rule. The error says which part is wrong and why, in words fit
/// for "its RRULE (line N) …".
pub(crate) fn parse_rule(text: &str) -> Result<Rule, String> {
    if !text.is_ascii() {
        return Err("holds characters no rule can hold".into());
    }
    let mut seen: Vec<(String, String)> = Vec::new();
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, value)) = part.split_once('=') else {
            return Err("has a part that is not NAME=VALUE".into());
        };
        let key = key.trim().to_ascii_uppercase();
        let value = value.trim().to_string();
        if !is_token(&key) {
            return Err("has a part whose name is not a name".into());
        }
        if key.starts_with("X-") {
            continue;
        }
        match seen.iter().find(|(k, _)| *k == key) {
            Some((_, v)) if *v == value => {}
            Some(_) => return Err(format!("gives {key} twice, with different values")),
            None => seen.push((key, value)),
        }
    }
    let get = |k: &str| {
        seen.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let bad = |k: &str, why: &str| Err(format!("has a {k} that {why}"));
    for (k, _) in &seen {
        const KNOWN: [&str; 14] = [
            "FREQ",
            "INTERVAL",
            "COUNT",
            "UNTIL",
            "BYSECOND",
            "BYMINUTE",
            "BYHOUR",
            "BYDAY",
            "BYMONTHDAY",
            "BYYEARDAY",
            "BYWEEKNO",
            "BYMONTH",
            "BYSETPOS",
            "WKST",
        ];
        if !KNOWN.contains(&k.as_str()) {
            let shown = if k.len() <= 20 { k.as_str() } else { "a part" };
            return Err(format!(
                "has {shown}, which RFC 5545 does not define and calsync cannot expand"
            ));
        }
    }
    let freq = match get("FREQ").map(str::to_ascii_uppercase).as_deref() {
        Some("YEARLY") => Freq::Yearly,
        Some("MONTHLY") => Freq::Monthly,
        Some("WEEKLY") => Freq::Weekly,
        Some("DAILY") => Freq::Daily,
        Some("HOURLY") => Freq::Hourly,
        Some("MINUTELY") => Freq::Minutely,
        Some("SECONDLY") => Freq::Secondly,
        Some(_) => return bad("FREQ", "is not a frequency"),
        None => return Err("has no FREQ".into()),
    };
    let interval = match get("INTERVAL") {
        None => 1,
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (1..=MAX_INTERVAL).contains(&n) && v.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => {
                return bad(
                    "INTERVAL",
                    &format!("is not a whole number from 1 to {MAX_INTERVAL}"),
                );
            }
        },
    };
    let count = match get("COUNT") {
        None => None,
        Some(v) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => {
            Some(v.parse::<u64>().unwrap_or(u64::MAX))
        }
        Some(_) => return bad("COUNT", "is not a whole number"),
    };
    let until = match get("UNTIL") {
        None => None,
        Some(v) => match parse_written(v, false) {
            Some(w) => Some(w),
            None => {
                return bad(
                    "UNTIL",
                    "is not a date or date-time from the years 0001-9999",
                );
            }
        },
    };
    let parse_list = |k: &str, why: &str, f: &dyn Fn(&str) -> Option<i32>| match get(k) {
        None => Ok(Vec::new()),
        Some(v) => list(v, f).ok_or_else(|| format!("has a {k} that {why}")),
    };
    let parse_ulist = |k: &str, why: &str, f: &dyn Fn(&str) -> Option<u32>| match get(k) {
        None => Ok(Vec::new()),
        Some(v) => list(v, f).ok_or_else(|| format!("has a {k} that {why}")),
    };
    let by_second = parse_ulist(
        "BYSECOND",
        "is not a list of seconds 0-59",
        &unsigned_in(0, 59),
    )?;
    let by_minute = parse_ulist(
        "BYMINUTE",
        "is not a list of minutes 0-59",
        &unsigned_in(0, 59),
    )?;
    let by_hour = parse_ulist("BYHOUR", "is not a list of hours 0-23", &unsigned_in(0, 23))?;
    let by_month = parse_ulist(
        "BYMONTH",
        "is not a list of months 1-12",
        &unsigned_in(1, 12),
    )?;
    let by_month_day = parse_list(
        "BYMONTHDAY",
        "is not a list of days of the month (1 to 31, or -31 to -1)",
        &in_range(1, 31, true),
    )?;
    let by_year_day = parse_list(
        "BYYEARDAY",
        "is not a list of days of the year (1 to 366, or -366 to -1)",
        &in_range(1, 366, true),
    )?;
    let by_week_no = parse_list(
        "BYWEEKNO",
        "is not a list of week numbers (1 to 53, or -53 to -1)",
        &in_range(1, 53, true),
    )?;
    let by_set_pos = parse_list(
        "BYSETPOS",
        "is not a list of positions (1 to 366, or -366 to -1)",
        &in_range(1, 366, true),
    )?;
    let by_day = match get("BYDAY") {
        None => Vec::new(),
        Some(v) => list(v, |item| {
            let split = item.len().checked_sub(2)?;
            let (n, day) = (item.get(..split)?, item.get(split..)?);
            let day = weekday(day)?;
            let n = if n.is_empty() {
                0
            } else {
                in_range(1, 53, true)(n)?
            };
            Some((n, day))
        })
        .ok_or_else(|| "has a BYDAY that is not a list of weekdays (MO, 1MO, -1FR…)".to_string())?,
    };
    let wkst = match get("WKST") {
        None => 0,
        Some(v) => match weekday(v) {
            Some(d) => d,
            None => return bad("WKST", "is not a weekday"),
        },
    };
    let numbered = by_day.iter().any(|(n, _)| *n != 0);
    if numbered && !matches!(freq, Freq::Monthly | Freq::Yearly) {
        return Err(
            "numbers a BYDAY weekday although its FREQ is not MONTHLY or YEARLY (RFC 5545 \
             §3.3.10 forbids it)"
                .into(),
        );
    }
    if numbered && freq == Freq::Yearly && !by_week_no.is_empty() {
        return Err(
            "numbers a BYDAY weekday together with BYWEEKNO (RFC 5545 §3.3.10 forbids it)".into(),
        );
    }
    if !by_month_day.is_empty() && freq == Freq::Weekly {
        return Err("has a BYMONTHDAY in a WEEKLY rule (RFC 5545 §3.3.10 forbids it)".into());
    }
    if !by_year_day.is_empty() && matches!(freq, Freq::Daily | Freq::Weekly | Freq::Monthly) {
        return Err(
            "has a BYYEARDAY in a DAILY, WEEKLY or MONTHLY rule (RFC 5545 §3.3.10 forbids it)"
                .into(),
        );
    }
    if !by_week_no.is_empty() && freq != Freq::Yearly {
        return Err(
            "has a BYWEEKNO in a rule that is not YEARLY (RFC 5545 §3.3.10 forbids it)".into(),
        );
    }
    let other_by = [
        by_second.len(),
        by_minute.len(),
        by_hour.len(),
        by_day.len(),
        by_month_day.len(),
        by_year_day.len(),
        by_week_no.len(),
        by_month.len(),
    ]
    .iter()
    .any(|n| *n > 0);
    if !by_set_pos.is_empty() && !other_by {
        return Err(
            "has a BYSETPOS without any other BY… part (RFC 5545 §3.3.10 forbids it)".into(),
        );
    }
    Ok(Rule {
        freq,
        interval,
        count,
        until,
        by_second,
        by_minute,
        by_hour,
        by_day,
        by_month_day,
        by_year_day,
        by_week_no,
        by_month,
        by_set_pos,
        wkst,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_real_files_write_are_read() {
        let r = parse_rule(
            "FREQ=WEEKLY;BYDAY=MO,we;UNTIL=20260330T090000Z;X-EVOLUTION-ENDDATE=1;WKST=SU",
        )
        .unwrap();
        assert_eq!(r.freq, Freq::Weekly);
        assert_eq!(r.by_day, [(0, 0), (0, 2)]);
        assert_eq!(r.wkst, 6);
        assert!(r.until.is_some());
        let r = parse_rule("freq=monthly;byday=-1FR,+2MO;bysetpos=-1;interval=2;").unwrap();
        assert_eq!(r.by_day, [(-1, 4), (2, 0)]);
        assert_eq!(r.interval, 2);
        assert_eq!(r.by_set_pos, [-1]);
        // A repeated part with the same value is harmless.
        assert!(parse_rule("FREQ=DAILY;COUNT=3;COUNT=3").is_ok());
        assert_eq!(
            parse_rule("FREQ=DAILY;COUNT=99999999999999999999999")
                .unwrap()
                .count,
            Some(u64::MAX)
        );
    }

    #[test]
    fn bad_rules_are_refused_without_quoting_them() {
        for (rule, words) in [
            ("", "no FREQ"),
            ("FREQ=DAILY;BYDAY=1€", "no rule can hold"),
            ("FREQ=SOMETIMES", "FREQ"),
            ("FREQ=DAILY;INTERVAL=0", "INTERVAL"),
            ("FREQ=DAILY;INTERVAL=99999999999", "INTERVAL"),
            ("FREQ=DAILY;COUNT=-1", "COUNT"),
            ("FREQ=DAILY;UNTIL=soon", "UNTIL"),
            ("FREQ=DAILY;UNTIL=+102401119T100000Z", "UNTIL"),
            ("FREQ=DAILY;BYHOUR=24", "BYHOUR"),
            ("FREQ=DAILY;BYSECOND=60", "BYSECOND"),
            ("FREQ=MONTHLY;BYMONTHDAY=0", "BYMONTHDAY"),
            ("FREQ=MONTHLY;BYDAY=99MO", "BYDAY"),
            ("FREQ=MONTHLY;BYDAY=MO,", "BYDAY"),
            ("FREQ=WEEKLY;BYDAY=1MO", "MONTHLY or YEARLY"),
            ("FREQ=DAILY;BYWEEKNO=1", "BYWEEKNO"),
            ("FREQ=WEEKLY;BYMONTHDAY=1", "BYMONTHDAY"),
            ("FREQ=MONTHLY;BYYEARDAY=1", "BYYEARDAY"),
            ("FREQ=DAILY;BYSETPOS=1", "BYSETPOS"),
            ("FREQ=DAILY;COUNT=3;COUNT=4", "twice"),
            ("FREQ=YEARLY;RSCALE=HEBREW", "RSCALE"),
            ("FREQ=DAILY;SECRET", "NAME=VALUE"),
        ] {
            let e = parse_rule(rule).unwrap_err();
            assert!(e.contains(words), "{rule}: {e}");
            assert!(!e.contains("€") && !e.contains("SECRET"), "{e}");
        }
        let long = format!(
            "FREQ=YEARLY;BYYEARDAY={}",
            (1..=366)
                .chain(1..=366)
                .map(|n| format!("-{n}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        assert!(parse_rule(&long).is_ok(), "duplicates are dropped");
    }
}
