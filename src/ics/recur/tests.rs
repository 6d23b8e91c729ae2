//! The expansion, checked against python-dateutil's (the reference many
//! calendar tools use): each expected list below is what
//! `dateutil.rrule.rrulestr` 2.9 gives for the rule and `DTSTART`, written
//! down by hand from its output.

use super::*;
use crate::ics::rule::parse_rule;
use crate::ics::time::{Written, parse_written};

fn at(s: &str) -> NaiveDateTime {
    match parse_written(s, false) {
        Some(Written::Local(t) | Written::Utc(t)) => t,
        other => panic!("{s}: {other:?}"),
    }
}

fn budget() -> Budget {
    Budget {
        steps: crate::ics::limits::MAX_RULE_STEPS,
        instances: crate::ics::limits::MAX_INSTANCES_PER_EVENT,
    }
}

/// The rule's times in `[from, to]`, as `YYYYMMDDTHHMMSS`.
fn times(rule: &str, start: &str, from: &str, to: &str) -> Result<Vec<String>, String> {
    let r = parse_rule(rule)?;
    let until = r.until.map(|w| match w {
        Written::Utc(t) | Written::Local(t) => t,
        Written::Date(d) => until_of_date(d),
    });
    Ok(
        expand(&r, at(start), until, &(at(from)..=at(to)), &mut budget())?
            .into_iter()
            .map(|t| t.format("%Y%m%dT%H%M%S").to_string())
            .collect(),
    )
}

/// Cases generated with random rules and expanded by dateutil, one JSON
/// object a line (`rule`, `start`, `from`, `to`, `got`), from the file
/// `CALSYNC_DATEUTIL_CASES` names; skipped without it. Run with
/// `cargo test --lib dateutil -- --ignored`.
#[test]
#[ignore = "needs a file of cases generated with python-dateutil"]
fn random_rules_agree_with_dateutil() {
    let Ok(path) = std::env::var("CALSYNC_DATEUTIL_CASES") else {
        return;
    };
    let text = std::fs::read_to_string(path).unwrap();
    let mut failed = 0;
    let mut total = 0;
    for line in text.lines() {
        let case: serde_json::Value = serde_json::from_str(line).unwrap();
        let s = |k: &str| case[k].as_str().unwrap().to_string();
        let want: Vec<String> = case["got"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        total += 1;
        match times(&s("rule"), &s("start"), &s("from"), &s("to")) {
            Ok(got) if got == want => {}
            other => {
                failed += 1;
                if failed <= 15 {
                    eprintln!(
                        "{} start {} [{}, {}]\n  dateutil {:?}\n  calsync  {:?}",
                        s("rule"),
                        s("start"),
                        s("from"),
                        s("to"),
                        want.iter().take(8).collect::<Vec<_>>(),
                        other.map(|g| g.into_iter().take(8).collect::<Vec<_>>())
                    );
                }
            }
        }
    }
    assert_eq!(failed, 0, "{failed} of {total} rules differ from dateutil");
}
