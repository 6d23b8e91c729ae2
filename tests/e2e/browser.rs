//! The published agenda page in a real browser: headless Chromium loads it
//! from disk, with no console message and no uncaught error; each public
//! event of the page's horizon is listed once, at its local time; nothing
//! private, confidential or cancelled is; and screenshots at phone and
//! desktop widths land in `target/test-artifacts/`.
//!
//! Chromium is driven through its command line only (`--dump-dom`,
//! `--screenshot`), each run with a fresh profile and killed after
//! [`TIMEOUT`]. Without Chromium (Debian's `chromium` package, which
//! `.ci/run` installs) the tests say they skipped and pass.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use regex::Regex;
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one Chromium run may take before it is killed.
const TIMEOUT: Duration = Duration::from_secs(20);

/// Phone and desktop viewports: (name, width, height).
const VIEWPORTS: [(&str, u32, u32); 2] = [("phone", 390, 844), ("desktop", 1280, 900)];

const SKIPPED: &str = "skipped: no Chromium (install the chromium package)";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Where the tests leave what a person may want to look at.
fn artifacts() -> PathBuf {
    let dir = root().join("target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct Chromium {
    program: PathBuf,
}

/// A page as Chromium saw it after loading.
struct Loaded {
    /// The DOM after scripts ran (`--dump-dom`).
    dom: String,
    /// Console messages and uncaught errors, one a line.
    console: Vec<String>,
}

impl Chromium {
    /// Debian's `/usr/bin/chromium`, else `chromium` or `chromium-browser`
    /// on `PATH`.
    fn find() -> Option<Chromium> {
        let fixed = PathBuf::from("/usr/bin/chromium");
        if fixed.is_file() {
            return Some(Chromium { program: fixed });
        }
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
            .find(|p| p.is_file())
            .map(|program| Chromium { program })
    }

    /// Runs Chromium headless on `page` with `args`, a fresh profile and no
    /// network chatter. Returns (stdout, stderr); panics on a failure or
    /// after [`TIMEOUT`], with what Chromium said.
    fn run(&self, page: &Path, args: &[OsString]) -> (String, String) {
        let profile = tempfile::tempdir().unwrap();
        let mut user_data_dir = OsString::from("--user-data-dir=");
        user_data_dir.push(profile.path());
        let mut cmd = Command::new(&self.program);
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(user_data_dir)
        .args(args)
        .arg(file_url(page))
        .env("HOME", profile.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        // Its own process group, so that a timeout ends its helpers too.
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", self.program.display()));
        let drain = |mut pipe: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                let _ = pipe.read_to_end(&mut bytes);
                String::from_utf8_lossy(&bytes).into_owned()
            })
        };
        let stdout = drain(Box::new(child.stdout.take().unwrap()));
        let stderr = drain(Box::new(child.stderr.take().unwrap()));
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if started.elapsed() > TIMEOUT {
                #[cfg(unix)]
                if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
                    let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
                }
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let (out, err) = (stdout.join().unwrap(), stderr.join().unwrap());
        match status {
            Some(s) if s.success() => (out, err),
            Some(s) => panic!("chromium {args:?} {}: {s}\n{err}", page.display()),
            None => panic!(
                "chromium {args:?} {}: killed after {TIMEOUT:?}\n{err}",
                page.display()
            ),
        }
    }

    /// The page's DOM after load, and what it wrote to the console.
    fn load(&self, page: &Path) -> Loaded {
        let (dom, log) = self.run(
            page,
            &["--enable-logging=stderr", "--v=0", "--dump-dom"].map(OsString::from),
        );
        let console = log
            .lines()
            .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
            .map(str::to_string)
            .collect();
        Loaded { dom, console }
    }

    /// A PNG of the page as a window of `width`×`height` shows it.
    fn screenshot(&self, page: &Path, width: u32, height: u32, png: &Path) {
        let _ = std::fs::remove_file(png);
        let mut shot = OsString::from("--screenshot=");
        shot.push(png);
        self.run(
            page,
            &[shot, format!("--window-size={width},{height}").into()],
        );
        let bytes = std::fs::read(png).unwrap_or_else(|e| panic!("{}: {e}", png.display()));
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{}", png.display());
        // Width and height, from the IHDR chunk.
        let dim = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
        assert_eq!((dim(16), dim(20)), (width, height), "{}", png.display());
    }

    /// Loads the page, insists that the console stayed quiet, and takes
    /// the phone and desktop screenshots as `<name>-<viewport>.png` in
    /// `dir`, all three at once. Returns the DOM.
    fn check(&self, page: &Path, dir: &Path, name: &str) -> String {
        std::thread::scope(|s| {
            let shots: Vec<_> = VIEWPORTS
                .iter()
                .map(|&(viewport, w, h)| {
                    let png = dir.join(format!("{name}-{viewport}.png"));
                    s.spawn(move || {
                        self.screenshot(page, w, h, &png);
                        png
                    })
                })
                .collect();
            let loaded = self.load(page);
            for shot in shots {
                let png = shot.join().unwrap();
                println!("screenshot: {}", png.display());
            }
            assert!(
                loaded.console.is_empty(),
                "{} wrote to the console:\n{}",
                page.display(),
                loaded.console.join("\n")
            );
            loaded.dom
        })
    }
}

fn file_url(path: &Path) -> String {
    let path = path.canonicalize().unwrap();
    url::Url::from_file_path(&path).unwrap().to_string()
}

/// Text with tags dropped, the usual entities decoded and white space
/// collapsed.
fn text_of(html: &str) -> String {
    let tags = Regex::new(r"(?s)<[^>]*>").unwrap();
    let text = tags
        .replace_all(html, " ")
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The visible text of the page's body (scripts and styles left out).
fn body_text(dom: &str) -> String {
    let hidden = Regex::new(r"(?is)<(script|style|head)\b.*?</(script|style|head)>").unwrap();
    text_of(&hidden.replace_all(dom, " "))
}

/// When an event starts: at an instant, or on a day (all day).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Start {
    At(DateTime<Utc>),
    Day(NaiveDate),
}

impl Start {
    /// A `datetime` attribute: RFC 3339, a local date and time (in `tz`),
    /// or a date.
    fn parse(value: &str, tz: Tz) -> Option<Start> {
        if let Ok(t) = DateTime::parse_from_rfc3339(value) {
            return Some(Start::At(t.with_timezone(&Utc)));
        }
        for format in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"] {
            if let Ok(t) = NaiveDateTime::parse_from_str(value, format) {
                return tz
                    .from_local_datetime(&t)
                    .earliest()
                    .map(|t| Start::At(t.with_timezone(&Utc)));
            }
        }
        NaiveDate::parse_from_str(value, "%Y-%m-%d")
            .ok()
            .map(Start::Day)
    }

    fn day(self, tz: Tz) -> NaiveDate {
        match self {
            Start::At(t) => t.with_timezone(&tz).date_naive(),
            Start::Day(d) => d,
        }
    }

    /// How the page shows the start's time of day: `19:00`; none all day.
    fn local_time(self, tz: Tz) -> Option<String> {
        match self {
            Start::At(t) => Some(t.with_timezone(&tz).format("%H:%M").to_string()),
            Start::Day(_) => None,
        }
    }
}

/// One event as the page lists it: the element holding a `<time>`.
#[derive(Debug)]
struct Listed {
    start: Start,
    text: String,
}

/// The page's events: each `<item>` element whose first `<time datetime>`
/// parses, in page order.
fn listed(dom: &str, item: &str, tz: Tz) -> Vec<Listed> {
    let items = Regex::new(&format!(r"(?is)<{item}\b[^>]*>(.*?)</{item}>")).unwrap();
    let time = Regex::new(r#"(?is)<time\b[^>]*\bdatetime="([^"]*)""#).unwrap();
    items
        .captures_iter(dom)
        .filter_map(|c| {
            let inner = c.get(1).unwrap().as_str();
            let value = time.captures(inner)?.get(1)?.as_str().to_string();
            let start = Start::parse(&value, tz)
                .unwrap_or_else(|| panic!("datetime={value:?} is not a date: {inner}"));
            Some(Listed {
                start,
                text: text_of(inner),
            })
        })
        .collect()
}

/// What is wrong with the page's listing, against the events it should
/// hold as (start, summary): each once, under its start, with its local
/// time of day; a heading for each month; nothing else listed; none of
/// `secrets` anywhere in its text.
fn listing_problems(
    dom: &str,
    item: &str,
    tz: Tz,
    expected: &[(Start, String)],
    secrets: &[&str],
) -> Vec<String> {
    let mut problems = Vec::new();
    let page = listed(dom, item, tz);
    for (start, summary) in expected {
        let matching: Vec<&Listed> = page
            .iter()
            .filter(|l| l.start == *start && l.text.contains(summary.as_str()))
            .collect();
        match matching[..] {
            [one] => {
                if let Some(hm) = start.local_time(tz)
                    && !one.text.contains(&hm)
                {
                    problems.push(format!(
                        "{summary:?} at {start:?} without {hm}: {}",
                        one.text
                    ));
                }
            }
            _ => problems.push(format!(
                "{summary:?} at {start:?} listed {} times",
                matching.len()
            )),
        }
    }
    for l in &page {
        if !expected
            .iter()
            .any(|(start, summary)| l.start == *start && l.text.contains(summary.as_str()))
        {
            problems.push(format!("listed but not expected: {:?} {}", l.start, l.text));
        }
    }
    let headings: Vec<String> = Regex::new(r"(?is)<h2\b[^>]*>(.*?)</h2>")
        .unwrap()
        .captures_iter(dom)
        .map(|c| text_of(&c[1]))
        .collect();
    for (start, summary) in expected {
        let day = start.day(tz);
        let (month, year) = (day.format("%B").to_string(), day.format("%Y").to_string());
        if !headings
            .iter()
            .any(|h| h.contains(&month) && h.contains(&year))
        {
            problems.push(format!(
                "no <h2> for {month} {year} ({summary:?}): {headings:?}"
            ));
        }
    }
    let text = body_text(dom);
    for secret in secrets {
        if text.contains(secret) {
            problems.push(format!("{secret:?} is on the page"));
        }
    }
    problems
}

fn assert_lists(dom: &str, item: &str, tz: Tz, expected: &[(Start, String)], secrets: &[&str]) {
    let problems = listing_problems(dom, item, tz, expected, secrets);
    assert!(
        problems.is_empty(),
        "{}\n\nthe page's text: {}",
        problems.join("\n"),
        body_text(dom)
    );
}

/// A page written by hand the way the agenda is, with one event more than
/// it should have: the checks find the extra event, a script error, and
/// nothing wrong once both are gone.
#[test]
fn the_browser_check_catches_what_it_should() {
    let Some(chromium) = Chromium::find() else {
        println!("{SKIPPED}");
        return;
    };
    let tz: Tz = "Europe/Berlin".parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let page = |extra: &str, script: &str| {
        format!(
            r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Public events</title>
<style>body {{ font-family: sans-serif; margin: 1rem auto; max-width: 40rem }}</style>
</head><body><h1>Public events</h1>
<h2>June 2027</h2><ul>
<li><time datetime="2027-06-03T17:00:00Z">Thu 3 June, 19:00</time>
<span>Summer concert in the park</span></li>
<li><time datetime="2027-06-10T19:00">Thu 10 June, 19:00</time>
<span>Summer concert in the park</span></li>
{extra}</ul>
<h2>September 2027</h2><ul>
<li><time datetime="2027-09-17">Fri 17 September</time>
<span>Founders&#39; Day (offices closed)</span></li></ul>
<script>{script}</script></body></html>"#
        )
    };
    let expected = [
        ("2027-06-03T17:00:00Z", "Summer concert in the park"),
        ("2027-06-10T17:00:00Z", "Summer concert in the park"),
        ("2027-09-17", "Founders' Day (offices closed)"),
    ]
    .map(|(start, summary)| (Start::parse(start, tz).unwrap(), summary.to_string()));
    let secrets = ["Winter gala", "Doctor"];
    let path = dir.path().join("agenda.html");

    std::fs::write(&path, page("", "document.title += ' ';")).unwrap();
    let dom = chromium.check(&path, &artifacts(), "sample");
    assert_lists(&dom, "li", tz, &expected, &secrets);

    let extra = r#"<li><time datetime="2027-06-20T18:00:00+02:00">18:00</time> Doctor</li>"#;
    std::fs::write(&path, page(extra, "")).unwrap();
    let dom = chromium.load(&path).dom;
    let problems = listing_problems(&dom, "li", tz, &expected, &secrets);
    assert_eq!(
        problems,
        [
            "listed but not expected: At(2027-06-20T16:00:00Z) 18:00 Doctor",
            "\"Doctor\" is on the page",
        ]
    );

    std::fs::write(&path, page("", "console.error('oops'); noSuchFunction();")).unwrap();
    let console = chromium.load(&path).console.join("\n");
    assert!(console.contains("oops"), "{console}");
    assert!(console.contains("Uncaught ReferenceError"), "{console}");
}

/// The day the demo's page is built on: before every dated event of the
/// demo, so that its horizon holds the first ones.
const DEMO_TODAY: &str = "2027-05-01";

/// The events of a published `.ics` file as (start, summary).
fn published_ics(path: &Path) -> Vec<(Start, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    let unfolded = text.replace("\r\n ", "").replace("\r\n\t", "");
    unfolded
        .split("BEGIN:VEVENT")
        .skip(1)
        .map(|block| {
            let value = |name: &str| {
                block
                    .lines()
                    .find(|l| l.starts_with(name))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
                    .unwrap_or_else(|| panic!("no {name} in {block}"))
            };
            let dtstart = value("DTSTART");
            let start = match NaiveDateTime::parse_from_str(&dtstart, "%Y%m%dT%H%M%SZ") {
                Ok(t) => Start::At(t.and_utc()),
                Err(_) => Start::Day(NaiveDate::parse_from_str(&dtstart, "%Y%m%d").unwrap()),
            };
            let summary = value("SUMMARY:")
                .replace("\\,", ",")
                .replace("\\;", ";")
                .replace("\\n", " ")
                .replace("\\\\", "\\");
            (start, summary)
        })
        .collect()
}

/// The demo as a stranger runs it, from a copy of `examples/demo/`: its
/// agenda page lists the public events of its horizon and nothing of the
/// private, confidential, cancelled or internal ones.
#[test]
fn the_demo_agenda_page_shows_the_public_events_in_a_browser() {
    let Some(chromium) = Chromium::find() else {
        println!("{SKIPPED}");
        return;
    };
    let copy = tempfile::tempdir().unwrap();
    for file in ["config.toml", "internal.ics"] {
        std::fs::copy(
            root().join("examples/demo").join(file),
            copy.path().join(file),
        )
        .unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_calsync"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", copy.path().join("home"))
        .env("CALSYNC_TODAY", DEMO_TODAY)
        .current_dir(copy.path())
        .arg("sync")
        .arg("--config")
        .arg(copy.path().join("config.toml"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");

    let config: toml::Table = std::fs::read_to_string(copy.path().join("config.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let publish = config
        .get("publish")
        .and_then(|p| p.as_table())
        .expect("the demo's config.toml has no [publish] table");
    let page = copy.path().join(publish["html"].as_str().unwrap());
    let days = publish
        .get("days")
        .and_then(|d| d.as_integer())
        .expect("[publish] days");
    let tz: Tz = publish
        .get("time_zone")
        .and_then(|t| t.as_str())
        .unwrap_or("Europe/Berlin")
        .parse()
        .unwrap();

    let today = NaiveDate::parse_from_str(DEMO_TODAY, "%Y-%m-%d").unwrap();
    let horizon = today + chrono::Days::new(days as u64);
    let mut expected: Vec<(Start, String)> = published_ics(&copy.path().join("public.ics"))
        .into_iter()
        .filter(|(start, _)| (today..horizon).contains(&start.day(tz)))
        .collect();
    expected.sort();
    assert!(
        !expected.is_empty(),
        "nothing within {days} days of {DEMO_TODAY}"
    );

    let dom = chromium.check(&page, &artifacts(), "demo");
    assert_lists(
        &dom,
        "li",
        tz,
        &expected,
        &[
            // Private, confidential, cancelled and internal events, and
            // what the public ones keep to themselves.
            "1:1 with the director",
            "Performance review",
            "Doctor's appointment",
            "Main Street",
            "Board meeting",
            "salary bands",
            "Winter gala",
            "Staff picnic",
            "Team offsite",
            "Stage crew",
            "badge list",
        ],
    );
}
