//! Durations as the configuration and the command line write them: `45s`,
//! `90m`, `1h30m`, `1d`.

use std::time::Duration;

/// Parses a duration such as `45s`, `90m`, `2h`, `1h30m`, `1d` or `1w`: one
/// or more parts of a whole number and a unit (s, m, h, d, w), largest unit
/// first, each unit at most once. Spaces between parts are allowed. Zero is
/// refused.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    const HINT: &str =
        "expected a number and a unit (s, m, h, d or w), e.g. 45s, 90m, 2h, 1h30m, 1d";
    let text = s.trim();
    if text.is_empty() {
        return Err(format!("empty duration; {HINT}"));
    }
    let mut total: u64 = 0;
    let mut last_unit_secs = u64::MAX;
    let mut rest = text;
    while !rest.is_empty() {
        let digits_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits_end == 0 {
            return Err(format!("\"{s}\" is not a duration; {HINT}"));
        }
        let (digits, after) = rest.split_at(digits_end);
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c.is_whitespace())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_end);
        let unit_secs: u64 = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            "w" => 604_800,
            "" => return Err(format!("\"{s}\" has a number without a unit; {HINT}")),
            other => return Err(format!("\"{s}\" has an unknown unit \"{other}\"; {HINT}")),
        };
        if unit_secs >= last_unit_secs {
            return Err(format!(
                "\"{s}\" repeats a unit or puts a smaller one first; {HINT}"
            ));
        }
        last_unit_secs = unit_secs;
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("\"{s}\" is too long a duration"))?;
        total = n
            .checked_mul(unit_secs)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("\"{s}\" is too long a duration"))?;
        rest = after.trim_start();
    }
    if total == 0 {
        return Err(format!("\"{s}\" is zero; give a duration of at least 1s"));
    }
    Ok(Duration::from_secs(total))
}

/// Writes a duration the way [`parse_duration`] reads it, exactly and as
/// briefly as it can: `45s`, `90m` → `1h30m`, `2h`, `1d`, `1w2d`. Fractions
/// of a second are dropped.
pub fn format_duration(d: Duration) -> String {
    let mut secs = d.as_secs();
    if secs == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("w", 604_800),
        ("d", 86_400),
        ("h", 3600),
        ("m", 60),
        ("s", 1),
    ] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_written_as_they_are_read() {
        for (secs, text) in [
            (45, "45s"),
            (60, "1m"),
            (3600, "1h"),
            (5400, "1h30m"),
            (86_400, "1d"),
            (90_061, "1d1h1m1s"),
            (1_814_400, "3w"),
        ] {
            assert_eq!(format_duration(Duration::from_secs(secs)), text);
            assert_eq!(parse_duration(text), Ok(Duration::from_secs(secs)));
        }
    }

    #[test]
    fn duration_forms() {
        let ok = [
            ("45s", 45),
            ("90m", 5400),
            ("2h", 7200),
            ("1h30m", 5400),
            ("1h 30m", 5400),
            ("1d", 86_400),
            ("1w", 604_800),
            ("1d2h3m4s", 86_400 + 7200 + 180 + 4),
            (" 5m ", 300),
        ];
        for (text, secs) in ok {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_secs(secs)),
                "{text}"
            );
        }
        for bad in [
            "",
            "90",
            "m",
            "1x",
            "1.5h",
            "-1h",
            "30m1h",
            "1h1h",
            "0s",
            "0h0m",
            "1 h",
            "h1",
            "99999999999999999999s",
            "18446744073709551615w",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
