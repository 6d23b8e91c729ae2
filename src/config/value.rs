//! One value set for one key, with where it was set, and the parsers that
//! read it: each error names the key, where the value came from and how to
//! fix it.

use super::{Kind, MAX_WINDOW_DAYS, Origin, config_error};
use crate::ics::IcsLocation;
use regex::Regex;
use std::path::{Path, PathBuf};
use toml::Value;
use url::{Host, Url};

pub(super) enum Raw<'a> {
    /// From the environment: always text.
    Text(String),
    /// From the file: typed.
    Toml(&'a Value),
}

/// One value set for one key, with where it was set, for parsing and messages.
pub(super) struct Found<'a> {
    pub(super) key: &'static str,
    pub(super) raw: Raw<'a>,
    pub(super) origin: Origin,
    /// "(from the environment variable X)" or "(in FILE, line L, column C)".
    pub(super) place: String,
    /// How to fix a bad value, one sentence without the full stop.
    pub(super) fix: String,
    /// The directory of the config file, for relative paths in it.
    pub(super) base: Option<&'a Path>,
    /// Whether it was set in a `[[pair]]` table, which wins over the
    /// command line, the environment and the top level.
    pub(super) pair: bool,
}

impl Found<'_> {
    pub(super) fn is_secret(&self) -> bool {
        self.key == "client_secret"
    }

    /// The value as shown in a message (never a secret's value).
    pub(super) fn shown(&self) -> String {
        if self.key == "source.url"
            && let Raw::Text(v) | Raw::Toml(Value::String(v)) = &self.raw
        {
            // A published calendar's URL often holds a secret token.
            return match Url::parse(v.trim()) {
                Ok(url) => format!("\"{}\"", crate::ics::redact_url(&url)),
                Err(_) => "a string (value hidden: it may hold a secret)".to_owned(),
            };
        }
        if self.is_secret() {
            return match &self.raw {
                Raw::Text(_) | Raw::Toml(Value::String(_)) => "a string (value hidden)".to_owned(),
                Raw::Toml(v) => describe(v),
            };
        }
        match &self.raw {
            Raw::Text(s) => format!("\"{}\"", shorten(s)),
            Raw::Toml(v) => describe(v),
        }
    }

    /// An error: the value is not what was expected.
    pub(super) fn bad(&self, expected: &str) -> anyhow::Error {
        self.error(&format!("is {}, but it must be {expected}", self.shown()))
    }

    pub(super) fn error(&self, problem: &str) -> anyhow::Error {
        config_error(format!(
            "Invalid configuration: `{}` {} {problem}. {}.",
            self.key, self.place, self.fix
        ))
    }

    /// A non-empty string.
    pub(super) fn string(&self) -> anyhow::Result<String> {
        let s = match &self.raw {
            Raw::Text(s) => s,
            Raw::Toml(Value::String(s)) => s,
            Raw::Toml(_) => return Err(self.bad("a string in quotes")),
        };
        if s.trim().is_empty() {
            return Err(self.error(
                "is empty, but it must be a non-empty string (remove the key to leave it unset)",
            ));
        }
        Ok(s.clone())
    }

    /// A non-empty string without whitespace (tenant and client ids).
    pub(super) fn id_string(&self) -> anyhow::Result<String> {
        let s = self.string()?;
        if s.chars().any(char::is_whitespace) {
            return Err(self.bad("an identifier without spaces or line breaks (a GUID or domain)"));
        }
        Ok(s)
    }

    /// A whole number of days from `min` to [`MAX_WINDOW_DAYS`].
    pub(super) fn days(&self, min: u32) -> anyhow::Result<u32> {
        let expected = format!("a whole number of days from {min} to {MAX_WINDOW_DAYS}");
        let n: i64 = match &self.raw {
            Raw::Text(s) => s.trim().parse().map_err(|_| self.bad(&expected))?,
            Raw::Toml(Value::Integer(i)) => *i,
            Raw::Toml(_) => return Err(self.bad(&expected)),
        };
        match u32::try_from(n) {
            Ok(n) if (min..=MAX_WINDOW_DAYS).contains(&n) => Ok(n),
            _ => Err(self.bad(&expected)),
        }
    }

    /// true/false (in the environment also 1/0, yes/no, on/off, any case).
    pub(super) fn boolean(&self) -> anyhow::Result<bool> {
        match &self.raw {
            Raw::Text(s) => {
                parse_bool(s).ok_or_else(|| self.bad("true or false (or 1/0, yes/no, on/off)"))
            }
            Raw::Toml(Value::Boolean(b)) => Ok(*b),
            Raw::Toml(_) => Err(self.bad("true or false, without quotes")),
        }
    }

    /// A number from 0 to 1.
    pub(super) fn fraction(&self) -> anyhow::Result<f64> {
        let expected = "a number from 0 to 1, such as 0.25";
        let x = match &self.raw {
            Raw::Text(s) => s.trim().parse::<f64>().map_err(|_| self.bad(expected))?,
            Raw::Toml(Value::Float(f)) => *f,
            Raw::Toml(Value::Integer(i)) => *i as f64,
            Raw::Toml(_) => return Err(self.bad(expected)),
        };
        if x.is_finite() && (0.0..=1.0).contains(&x) {
            Ok(x)
        } else {
            Err(self.bad(expected))
        }
    }

    /// An endpoint URL: https, or http on a loopback host; no query,
    /// fragment or credentials; trailing slash removed. With `need_path`, the
    /// path must not be empty (the Graph version, `/v1.0`).
    pub(super) fn url(&self, need_path: bool) -> anyhow::Result<Url> {
        let s = self.string()?;
        let mut url = Url::parse(s.trim()).map_err(|e| {
            self.bad(&format!(
                "an absolute URL such as https://host/path (it does not parse: {e})"
            ))
        })?;
        if url.host().is_none() {
            return Err(self.bad("an absolute URL with a host, such as https://host/path"));
        }
        let loopback = is_loopback(&url);
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            "http" => {
                return Err(self.error(&format!(
                    "is {}, a plain http:// URL for a host that is not loopback; plain http is \
                     allowed only for 127.0.0.0/8, localhost and ::1, so use https://",
                    self.shown()
                )));
            }
            _ => return Err(self.bad("an https:// URL (http:// only for loopback hosts)")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(self.error("contains a user name or password, which it must not"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(self.bad("a URL without a query (?…) or fragment (#…)"));
        }
        let path = url.path().trim_end_matches('/').to_owned();
        if need_path && path.is_empty() {
            return Err(self.bad(
                "a URL that includes the API version path, such as \
                 https://graph.microsoft.com/v1.0",
            ));
        }
        url.set_path(&path);
        Ok(url)
    }

    /// A duration such as `30m`, `24h` or `1d12h` (see
    /// [`super::parse_duration`]), at least a second.
    pub(super) fn duration(&self) -> anyhow::Result<std::time::Duration> {
        let expected =
            "a duration in quotes such as \"24h\", \"90m\" or \"1d12h\" (units s, m, h, d, w)";
        let s = match &self.raw {
            Raw::Text(s) => s,
            Raw::Toml(Value::String(s)) => s,
            Raw::Toml(_) => return Err(self.bad(expected)),
        };
        super::parse_duration(s).map_err(|_| self.bad(expected))
    }

    /// `graph` or `ics`.
    pub(super) fn kind(&self) -> anyhow::Result<Kind> {
        let s = self.string()?;
        Kind::parse(&s).ok_or_else(|| {
            self.bad("\"graph\" (a Microsoft 365 calendar) or \"ics\" (an iCalendar file)")
        })
    }

    /// The URL of an `.ics` source: `https://` (or `webcal://`, read as
    /// https), `http://` only on a loopback host, no user name or password.
    pub(super) fn ics_url(&self) -> anyhow::Result<IcsLocation> {
        let s = self.string()?;
        let text = s.trim();
        let scheme = text
            .split_once("://")
            .map(|(scheme, _)| scheme.to_ascii_lowercase());
        match scheme.as_deref() {
            None => {
                return Err(self.error(
                    "is not a URL; for a file on this machine set `source.path` \
                     (CALSYNC_SOURCE_PATH) instead",
                ));
            }
            Some("file") => {
                return Err(self.error(
                    "is a file:// URL; for a file on this machine set `source.path` \
                     (CALSYNC_SOURCE_PATH) instead",
                ));
            }
            Some("https" | "webcal" | "http") => {}
            Some(_) => {
                return Err(self.bad("an https:// URL (http:// only for loopback hosts)"));
            }
        }
        let parsed = Url::parse(&text.replacen("webcal://", "https://", 1)).map_err(|e| {
            self.bad(&format!(
                "an absolute URL such as https://host/calendar.ics (it does not parse: {e})"
            ))
        })?;
        if parsed.host().is_none() {
            return Err(self.bad("an absolute URL with a host, such as https://host/calendar.ics"));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(self.error(
                "contains a user name or password, which calsync does not send; use a URL \
                 that carries its own access token, or download the file and set `source.path`",
            ));
        }
        if parsed.scheme() == "http" && !is_loopback(&parsed) {
            return Err(self.error(&format!(
                "is {}, a plain http:// URL for a host that is not loopback; plain http is \
                 allowed only for 127.0.0.0/8, localhost and ::1, so use https://",
                self.shown()
            )));
        }
        IcsLocation::parse(text)
            .map_err(|_| self.bad("an https:// URL (http:// only for loopback hosts)"))
    }

    /// An IANA time zone name, such as `Europe/Berlin` or `UTC`.
    pub(super) fn time_zone(&self) -> anyhow::Result<chrono_tz::Tz> {
        let s = self.string()?;
        s.trim().parse::<chrono_tz::Tz>().map_err(|_| {
            self.bad(
                "an IANA time zone name such as \"Europe/Berlin\", \"America/New_York\" or \"UTC\"",
            )
        })
    }

    /// The public https:// URL of a published calendar: no user name or
    /// password.
    pub(super) fn subscribe_url(&self) -> anyhow::Result<Url> {
        let s = self.string()?;
        let url = Url::parse(s.trim()).map_err(|e| {
            self.bad(&format!(
                "an absolute https:// URL such as https://example.org/public.ics (it does not \
                 parse: {e})"
            ))
        })?;
        if url.scheme() != "https" || url.host().is_none() {
            return Err(self.bad("an https:// URL such as https://example.org/public.ics"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(self.error("contains a user name or password, which it must not"));
        }
        Ok(url)
    }

    /// A path (a directory or a file). Relative paths in the file are
    /// relative to the file's directory; relative paths in the environment
    /// stay relative, to the working directory.
    pub(super) fn path(&self) -> anyhow::Result<PathBuf> {
        let p = PathBuf::from(self.string()?);
        Ok(match self.base {
            Some(base) if p.is_relative() => base.join(p),
            _ => p,
        })
    }

    /// An array of non-empty strings.
    pub(super) fn strings(&self) -> anyhow::Result<Vec<String>> {
        let expected = "an array of non-empty strings, such as [\"Public\"]";
        match &self.raw {
            Raw::Toml(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) if !s.trim().is_empty() => Ok(s.clone()),
                    _ => Err(self.bad(expected)),
                })
                .collect(),
            _ => Err(self.bad(expected)),
        }
    }

    /// A non-empty array of the allowed words.
    pub(super) fn list_of<T>(
        &self,
        allowed: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> anyhow::Result<Vec<T>> {
        let expected = format!("a non-empty array of: {allowed}");
        let words = self.strings().map_err(|_| self.bad(&expected))?;
        if words.is_empty() {
            return Err(self.bad(&expected));
        }
        words
            .iter()
            .map(|w| {
                parse(w).ok_or_else(|| {
                    self.error(&format!(
                        "contains \"{}\", but each entry must be one of: {allowed}",
                        shorten(w)
                    ))
                })
            })
            .collect()
    }

    /// A regular expression that compiles.
    pub(super) fn regex(&self) -> anyhow::Result<Regex> {
        let s = match &self.raw {
            Raw::Toml(Value::String(s)) => s,
            _ => return Err(self.bad("a regular expression in a string")),
        };
        Regex::new(s).map_err(|e| {
            let text = e.to_string();
            let why = text
                .lines()
                .find_map(|l| l.trim().strip_prefix("error:"))
                .map_or_else(|| one_line(&text), |w| w.trim().to_owned());
            self.error(&format!(
                "is not a valid regular expression ({why}); write it in the syntax of Rust's \
                 regex crate, and prefer a literal string ('…') so backslashes stay as written"
            ))
        })
    }
}

/// Whether a URL's host is loopback (127.0.0.0/8, `localhost`, `::1`).
pub(super) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.trim_end_matches('.').eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Booleans as accepted in the environment.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

pub(super) fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("the string \"{}\"", shorten(s)),
        Value::Integer(i) => format!("the integer {i}"),
        Value::Float(f) => format!("the number {f}"),
        Value::Boolean(b) => format!("the boolean {b}"),
        Value::Datetime(d) => format!("the date-time {d}"),
        Value::Array(_) => "an array".to_owned(),
        Value::Table(_) => "a table".to_owned(),
    }
}

pub(super) fn shorten(s: &str) -> String {
    let flat: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() > 60 {
        let head: String = flat.chars().take(57).collect();
        format!("{head}...")
    } else {
        flat
    }
}

/// Collapses a multi-line library message into one line.
pub(super) fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}
