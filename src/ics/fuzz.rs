//! No panic, no hang, no leak and no unreadable output, whatever the file:
//! real-shaped calendars (the fixtures, and a calendar of private events
//! made here) mutated the ways hostile and broken files are (truncation,
//! byte flips, folds inside UTF-8 characters, huge numbers in numeric
//! fields, deep nesting, long lists, CR-only and LF-only line ends, lines
//! deleted, repeated or moved), each then read, planned with the default
//! policy, written as a target file and read back.
//!
//! The normal suite runs a bounded number of cases (`mutated_calendars_*`);
//! `cargo test --release --lib ics::fuzz -- --ignored` runs a million
//! (`CALSYNC_FUZZ_CASES` sets another count, `CALSYNC_FUZZ_SEED` the first
//! seed), and writes a failing case to `target/tmp/fuzz-failure.ics` (and
//! the one case of `CALSYNC_FUZZ_CASES=1` to `target/tmp/fuzz-case.ics`).

use super::limits::MAX_SOURCE_BYTES;
use super::target::TargetCalendar;
use super::{IcsError, parse_events};
use crate::model::Window;
use crate::planner;
use crate::policy::Policy;
use chrono::{TimeZone, Utc};
use proptest::prelude::*;

const FIXTURES: [&[u8]; 10] = [
    include_bytes!("../../tests/fixtures/ics/outlook.ics"),
    include_bytes!("../../tests/fixtures/ics/google.ics"),
    include_bytes!("../../tests/fixtures/ics/apple.ics"),
    include_bytes!("../../tests/fixtures/ics/thisandfuture.ics"),
    include_bytes!("../../tests/fixtures/ics/versions.ics"),
    include_bytes!("../../tests/fixtures/ics/overrides.ics"),
    include_bytes!("../../tests/fixtures/ics/duplicates.ics"),
    include_bytes!("../../tests/fixtures/ics/one-bad-event.ics"),
    include_bytes!("../../tests/fixtures/ics/confluence-deleted.ics"),
    include_bytes!("../../tests/fixtures/ics/cr-only-event.ics"),
];

/// What private events hold in their text, and what must never be
/// published nor quoted.
const CANARY: &str = "CANARY";

/// Private events, each `UID:private-N` directly followed by
/// `CLASS:PRIVATE`, amid public ones, in the shapes the fixtures use
/// (zones, series, overrides, all-day events).
fn private_calendar() -> String {
    let mut s = String::from(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calsync//fuzz//EN\r\nX-WR-TIMEZONE:Europe/Berlin\r\n",
    );
    let public = [
        "DTSTART;TZID=Europe/Berlin:20261005T090000\r\nDTEND;TZID=Europe/Berlin:20261005T100000\r\nRRULE:FREQ=WEEKLY;BYDAY=MO,WE;COUNT=20",
        "DTSTART;VALUE=DATE:20261224\r\nDTEND;VALUE=DATE:20261226",
        "DTSTART:20261110T180000Z\r\nDURATION:PT2H\r\nRDATE:20261117T180000Z,20261124T180000Z\r\nEXDATE:20261117T180000Z",
        "DTSTART:20261101T090000\r\nDTEND:20261101T100000\r\nRRULE:FREQ=MONTHLY;BYDAY=1SU;UNTIL=20270601T000000Z",
    ];
    let private = [
        "DTSTART;TZID=Europe/Berlin:20261006T120000\r\nDTEND;TZID=Europe/Berlin:20261006T130000\r\nRRULE:FREQ=DAILY;COUNT=30;BYDAY=TU,TH\r\nEXDATE;TZID=Europe/Berlin:20261008T120000",
        "DTSTART;VALUE=DATE:20261031\r\nDURATION:P2D",
        "DTSTART:20261115T150000Z\r\nDTEND:20261115T160000Z\r\nCATEGORIES:Board,Internal",
        "DTSTART;TZID=W. Europe Standard Time:20261201T083000\r\nDTEND;TZID=W. Europe Standard Time:20261201T093000\r\nRRULE:FREQ=WEEKLY;INTERVAL=2;UNTIL=20270301T000000Z",
    ];
    for (i, times) in public.iter().enumerate() {
        s.push_str(&format!(
            "BEGIN:VEVENT\r\nUID:public-{i}\r\nDTSTAMP:20260901T000000Z\r\n{times}\r\nSUMMARY:Public event {i}\r\nEND:VEVENT\r\n"
        ));
    }
    for (i, times) in private.iter().enumerate() {
        s.push_str(&format!(
            "BEGIN:VEVENT\r\nUID:private-{i}\r\nCLASS:PRIVATE\r\nDTSTAMP:20260901T000000Z\r\n{times}\r\n\
             SUMMARY:{CANARY}-PRIVATE-{i} salary review äöü €\r\nDESCRIPTION:{CANARY} notes\\, with \\n lines\r\n\
             LOCATION:{CANARY} room\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nEND:VALARM\r\nEND:VEVENT\r\n"
        ));
    }
    // A moved instance of a private series, without CLASS of its own.
    s.push_str(&format!(
        "BEGIN:VEVENT\r\nUID:private-0\r\nRECURRENCE-ID;TZID=Europe/Berlin:20261013T120000\r\n\
         DTSTART;TZID=Europe/Berlin:20261014T120000\r\nDTEND;TZID=Europe/Berlin:20261014T130000\r\n\
         SUMMARY:{CANARY}-MOVED moved review\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    ));
    s
}

fn window() -> Window {
    Window {
        start: Utc.with_ymd_and_hms(2026, 9, 1, 0, 0, 0).unwrap(),
        end: Utc.with_ymd_and_hms(2027, 6, 30, 0, 0, 0).unwrap(),
    }
}

/// The calendars cases start from.
fn bases() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = FIXTURES.iter().map(|f| f.to_vec()).collect();
    let private = private_calendar().into_bytes();
    // The private calendar is the one leaks are looked for in: weigh it.
    for _ in 0..5 {
        v.push(private.clone());
    }
    v
}

/// Byte positions just after each line end.
fn line_starts(s: &[u8]) -> Vec<usize> {
    let mut v = vec![0];
    for (i, b) in s.iter().enumerate() {
        if *b == b'\n' {
            v.push(i + 1);
        }
    }
    v
}

fn pick<T: Copy>(rng: &mut fastrand::Rng, items: &[T]) -> T {
    items[rng.usize(..items.len())]
}

/// Applies 1 to 4 mutations to `file`, as `rng` draws them.
fn mutate(rng: &mut fastrand::Rng, mut file: Vec<u8>) -> Vec<u8> {
    const HUGE: [&str; 9] = [
        "99999999999999999999",
        "4294967296",
        "9223372036854775807",
        "18446744073709551616",
        "0",
        "-1",
        "+102401119",
        "3000000",
        "99999999",
    ];
    const BYTES: [u8; 14] = [
        b'\r', b'\n', b' ', b':', b';', b',', b'=', b'"', b'\\', 0, 0x7f, 0xe2, 0x82, 0xac,
    ];
    for _ in 0..rng.usize(1..=4) {
        if file.is_empty() {
            break;
        }
        let len = file.len();
        match rng.u8(..12) {
            // Truncation.
            0 => file.truncate(rng.usize(..len)),
            // Byte flips.
            1 => {
                for _ in 0..rng.usize(1..=8) {
                    let at = rng.usize(..file.len());
                    file[at] = if rng.bool() {
                        pick(rng, &BYTES)
                    } else {
                        rng.u8(..)
                    };
                }
            }
            // A fold anywhere, inside UTF-8 characters too.
            2 => {
                let at = rng.usize(..=len);
                let fold: &[u8] = if rng.bool() { b"\r\n " } else { b"\n\t" };
                file.splice(at..at, fold.iter().copied());
            }
            // A huge number in place of a number.
            3 => {
                let digits: Vec<usize> = file
                    .iter()
                    .enumerate()
                    .filter(|(i, b)| {
                        b.is_ascii_digit() && (*i == 0 || !file[i - 1].is_ascii_digit())
                    })
                    .map(|(i, _)| i)
                    .collect();
                if digits.is_empty() {
                    continue;
                }
                let start = pick(rng, &digits);
                let end = start
                    + file[start..]
                        .iter()
                        .take_while(|b| b.is_ascii_digit())
                        .count();
                file.splice(start..end, pick(rng, &HUGE).bytes());
            }
            // Nesting, balanced or not.
            4 => {
                let starts = line_starts(&file);
                let at = pick(rng, &starts).min(file.len());
                let depth = if rng.u8(..20) == 0 {
                    rng.usize(..20_000)
                } else {
                    rng.usize(..300)
                };
                let name = pick(rng, &["VEVENT", "X-DEEP", "VCALENDAR", "VALARM"]);
                let mut nest = format!("BEGIN:{name}\r\n").repeat(depth);
                if rng.bool() {
                    nest.push_str(&format!("END:{name}\r\n").repeat(depth));
                }
                file.splice(at..at, nest.bytes());
            }
            // A long list, or a line many times.
            5 => {
                let starts = line_starts(&file);
                let i = rng.usize(..starts.len());
                let (s, e) = (starts[i], starts.get(i + 1).copied().unwrap_or(file.len()));
                let line: Vec<u8> = file[s..e].to_vec();
                let times = if rng.u8(..10) == 0 {
                    rng.usize(..5_000)
                } else {
                    rng.usize(..200)
                };
                if let Some(colon) = line.iter().position(|b| *b == b':')
                    && rng.bool()
                {
                    let value: Vec<u8> = line[colon + 1..]
                        .iter()
                        .copied()
                        .filter(|b| *b != b'\r' && *b != b'\n')
                        .collect();
                    let mut longer = line[..=colon].to_vec();
                    for k in 0..times {
                        if k > 0 {
                            longer.push(b',');
                        }
                        longer.extend_from_slice(&value);
                    }
                    longer.extend_from_slice(b"\r\n");
                    file.splice(s..e, longer);
                } else {
                    let repeated = line.repeat(times);
                    file.splice(s..s, repeated);
                }
            }
            // CR-only or LF-only line ends in a stretch of the file.
            6 => {
                let a = rng.usize(..len);
                let b = (a + rng.usize(..2_000)).min(len);
                let cr_only = rng.bool();
                let mut out = file[..a].to_vec();
                let mut k = a;
                while k < b {
                    if file[k] == b'\r' && file.get(k + 1) == Some(&b'\n') {
                        out.push(if cr_only { b'\r' } else { b'\n' });
                        k += 2;
                    } else {
                        out.push(file[k]);
                        k += 1;
                    }
                }
                out.extend_from_slice(&file[b.min(file.len())..]);
                file = out;
            }
            // A line deleted.
            7 => {
                let starts = line_starts(&file);
                let i = rng.usize(..starts.len());
                let (s, e) = (starts[i], starts.get(i + 1).copied().unwrap_or(file.len()));
                file.drain(s..e);
            }
            // A line copied elsewhere.
            8 => {
                let starts = line_starts(&file);
                let i = rng.usize(..starts.len());
                let (s, e) = (starts[i], starts.get(i + 1).copied().unwrap_or(file.len()));
                let line = file[s..e].to_vec();
                let at = pick(rng, &starts).min(file.len());
                file.splice(at..at, line);
            }
            // A line that is no content line, or one that names a property
            // calsync reads without a colon.
            9 => {
                let starts = line_starts(&file);
                let at = pick(rng, &starts).min(file.len());
                let junk = pick(
                    rng,
                    &[
                        "X-APPLE-RADIUS=49\r\n",
                        "CLASS PUBLIC\r\n",
                        "STATUS :CANCELLED\r\n",
                        "CLASS:PUBLIC\r\n",
                        "RRULE:\r\n",
                        "END:VTOOD\r\n",
                        "BEGIN:VTODO\r\n",
                        "RECURRENCE-ID;RANGE=THISANDFUTURE:20261020T120000Z\r\n",
                        "\u{0}\u{7}\r\n",
                        "DTEND:+102401119T100000Z\r\n",
                        "END:VCALENDAR\r\n",
                        "some words\r\n",
                    ],
                );
                file.splice(at..at, junk.bytes());
            }
            // Every line end LF only.
            10 => {
                file = String::from_utf8_lossy(&file)
                    .replace("\r\n", "\n")
                    .into_bytes();
            }
            // A rule or zone made dense or hostile.
            _ => {
                let starts = line_starts(&file);
                let at = pick(rng, &starts).min(file.len());
                let rule = pick(
                    rng,
                    &[
                        "RRULE:FREQ=SECONDLY\r\n",
                        "RRULE:FREQ=MINUTELY;COUNT=199999\r\n",
                        "RRULE:FREQ=MINUTELY;INTERVAL=15;BYDAY=MO;BYHOUR=9;BYMINUTE=0\r\n",
                        "RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30\r\n",
                        "RRULE:FREQ=HOURLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO\r\n",
                        "RRULE:FREQ=DAILY;UNTIL=19000101T000000Z\r\n",
                        "RRULE:FREQ=MONTHLY;BYDAY=53MO;BYSETPOS=-366\r\n",
                        "RRULE:FREQ=YEARLY;BYWEEKNO=53,-53,1;BYDAY=SU;WKST=SA\r\n",
                        "DURATION:P3000000D\r\n",
                        "RDATE;VALUE=PERIOD:19970101/19970102\r\n",
                        "EXDATE;VALUE=DATE:20261014,20261015\r\n",
                        "DTSTART;TZID=/Europe/Stockholm:20261104T190000\r\n",
                        "DTSTART;TZID=Customized Time Zone:20261104T190000\r\n",
                    ],
                );
                file.splice(at..at, rule.bytes());
            }
        }
    }
    file
}

/// Whether the mutated file still says plainly that the series
/// `private-N` is private: its `UID` line directly followed by
/// `CLASS:PRIVATE`, both whole lines, in a component (from the
/// `BEGIN:VEVENT` before to the `END:VEVENT` after) with no
/// `RECURRENCE-ID` (it is still the series, not one instance).
fn plainly_private(text: &str, n: usize) -> bool {
    let uid = format!("UID:private-{n}");
    [
        format!("\r\n{uid}\r\nCLASS:PRIVATE\r\n"),
        format!("\n{uid}\nCLASS:PRIVATE\n"),
        format!("\r{uid}\rCLASS:PRIVATE\r"),
    ]
    .iter()
    .any(|needle| {
        text.match_indices(needle.as_str()).any(|(i, m)| {
            let after = i + m.len();
            let rest = &text[after..];
            let start = text[..i].rfind("BEGIN:VEVENT").unwrap_or(0);
            let block = &text[start..after + rest.find("END:VEVENT").unwrap_or(rest.len())];
            // Neither line may continue on the next one.
            !matches!(text.as_bytes().get(after), Some(b' ' | b'\t'))
                && !block.to_ascii_uppercase().contains("RECURRENCE-ID")
        })
    })
}

/// A message without the parts that may legitimately come from the file
/// (the event's `UID` is a separate field; a `TZID` is quoted).
fn content_of_message(e: &IcsError) -> String {
    let mut m = e.message.clone();
    while let Some(start) = m.find("TZID=\"") {
        let end = m[start + 6..]
            .find('"')
            .map_or(m.len(), |i| start + 6 + i + 1);
        m.replace_range(start..end, "TZID");
    }
    m
}

/// Reads, plans, writes and reads back one file; the first property it
/// breaks.
fn check(file: &[u8]) -> Result<(), String> {
    let w = window();
    let read = match parse_events(file, &w, "fuzz.ics") {
        Ok(read) => read,
        Err(e) => {
            if content_of_message(&e).contains(CANARY) {
                return Err(format!("an error quotes the file: {e}"));
            }
            return Ok(());
        }
    };
    for e in read.unreadable.iter().chain(&read.notes) {
        if content_of_message(e).contains(CANARY) {
            return Err(format!("a warning quotes the file: {e}"));
        }
    }
    let text = String::from_utf8_lossy(file);
    let plainly: Vec<usize> = (0..4).filter(|n| plainly_private(&text, *n)).collect();
    let policy = Policy::default();
    let plan = planner::plan(&read.into_source_events(&w), &[], &policy, &w);
    for c in &plan.creates {
        let uid = c
            .key
            .series_id()
            .or_else(|| c.key.as_str().strip_prefix("i:"))
            .unwrap_or("");
        for n in &plainly {
            if uid == format!("private-{n}") {
                return Err(format!("private-{n} is published as {}", c.key));
            }
        }
    }
    // What is written can be read, by calsync and by a strict parser.
    let mut target = TargetCalendar::new();
    target.apply(&plan, w.start);
    let written = target.render("Fuzz");
    let again = TargetCalendar::parse(written.as_bytes(), "public.ics")
        .map_err(|e| format!("the written file does not read back: {e}"))?;
    if again.managed().len() != plan.creates.len() {
        return Err("the written file reads back with other copies".into());
    }
    if again
        .managed_in(&w)
        .iter()
        .any(|m| m.marker.content_hash.is_empty())
    {
        return Err("a written copy reads back as broken".into());
    }
    let unfolded = icalendar::parser::unfold(&written);
    icalendar::parser::read_calendar(&unfolded)
        .map_err(|e| format!("a strict parser refuses the written file: {e}"))?;
    Ok(())
}

/// The file of case `seed`, cut at the bytes a source is read up to (the
/// provider refuses a larger file before the reader sees it).
fn case(bases: &[Vec<u8>], seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let base = bases[rng.usize(..bases.len())].clone();
    let mut file = mutate(&mut rng, base);
    file.truncate(usize::try_from(MAX_SOURCE_BYTES).unwrap_or(usize::MAX));
    file
}

#[test]
fn the_unmutated_bases_pass() {
    for (i, base) in bases().iter().enumerate() {
        check(base).unwrap_or_else(|e| panic!("base {i}: {e}"));
    }
    // And the private calendar does hold private events in the window.
    let read = parse_events(private_calendar().as_bytes(), &window(), "p.ics").unwrap();
    assert!(read.unreadable.is_empty(), "{:?}", read.unreadable);
    assert!(
        read.events
            .iter()
            .filter(|e| e.subject.contains(CANARY))
            .count()
            > 20
    );
    assert!((0..4).all(|n| plainly_private(&private_calendar(), n)));
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 300,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// The bounded run of the normal suite (a few seconds).
    #[test]
    fn mutated_calendars_never_panic_leak_or_write_an_unreadable_file(seed in any::<u64>()) {
        let file = case(&bases(), seed);
        if let Err(e) = check(&file) {
            prop_assert!(false, "seed {}: {}", seed, e);
        }
    }
}

/// The long run: a million cases (or `CALSYNC_FUZZ_CASES`), in release.
#[test]
#[ignore = "runs a million cases; run it in release"]
fn a_million_mutated_calendars() {
    let count: u64 = std::env::var("CALSYNC_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let first: u64 = std::env::var("CALSYNC_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let bases = bases();
    if count == 1 {
        // One case asked for: keep it to look at.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tmp");
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(dir.join("fuzz-case.ics"), case(&bases, first));
    }
    let started = std::time::Instant::now();
    let mut slowest = (std::time::Duration::ZERO, 0u64);
    let mut bytes = 0u64;
    for seed in first..first + count {
        let file = case(&bases, seed);
        bytes += file.len() as u64;
        let t = std::time::Instant::now();
        let outcome = std::panic::catch_unwind(|| check(&file));
        let took = t.elapsed();
        if took > slowest.0 {
            slowest = (took, seed);
        }
        let failure = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(_) => Some("panicked".to_string()),
        };
        if let Some(e) = failure {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tmp");
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::write(dir.join("fuzz-failure.ics"), &file);
            panic!("seed {seed}: {e}");
        }
        if (seed - first + 1).is_multiple_of(100_000) {
            eprintln!(
                "{} cases, {:.0} s, slowest {:?} (seed {})",
                seed - first + 1,
                started.elapsed().as_secs_f64(),
                slowest.0,
                slowest.1
            );
        }
    }
    eprintln!(
        "{count} cases ({} MB of input) in {:.1} s; slowest case {:?} (seed {})",
        bytes / 1_000_000,
        started.elapsed().as_secs_f64(),
        slowest.0,
        slowest.1
    );
}
