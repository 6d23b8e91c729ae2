//! `.ics` files behind the provider traits: [`IcsSource`] reads a file or
//! an `https://` URL, [`IcsTarget`] publishes into a file.

use super::limits::{MAX_SOURCE_BYTES, MAX_TARGET_BYTES, MAX_WARNINGS};
use super::{IcsError, SourceRead, TargetCalendar, parse_events};
use crate::error::Failure;
use crate::model::{ManagedEvent, SourceEvent, Window};
use crate::planner::Plan;
use crate::provider::InspectedCopy;
use crate::provider::{ApplyReport, InspectableTarget, SourceProvider, TargetProvider};
use anyhow::{Context, anyhow};
use chrono::Utc;
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::{Host, Url};

/// The largest source file calsync reads or downloads (see
/// [`MAX_SOURCE_BYTES`]).
pub const MAX_DOWNLOAD_BYTES: u64 = MAX_SOURCE_BYTES;

/// How long a download may take, connection included.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(60);

/// Redirects followed when downloading (each must stay on https, or on a
/// loopback host).
const MAX_REDIRECTS: usize = 5;

/// Where an `.ics` source lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IcsLocation {
    /// A local file.
    Path(PathBuf),
    /// An `https://` URL (`http://` only on a loopback host).
    Url(Url),
}

impl IcsLocation {
    /// Reads a location as written in a setting: `https://…` (or
    /// `webcal://…`, which means https) is a URL, `http://…` is one only for
    /// a loopback host, `file://…` is a path, any other scheme is refused,
    /// and anything else is a path.
    pub fn parse(s: &str) -> anyhow::Result<IcsLocation> {
        let s = s.trim();
        let lower = s.to_ascii_lowercase();
        let with_scheme = if let Some(rest) = lower.strip_prefix("webcal://") {
            format!("https://{}", &s[s.len() - rest.len()..])
        } else {
            s.to_string()
        };
        let looks_like_url = with_scheme.contains("://");
        if !looks_like_url {
            return Ok(IcsLocation::Path(PathBuf::from(s)));
        }
        let url = Url::parse(&with_scheme).map_err(|e| {
            anyhow!("\"{s}\" is not a valid URL ({e}); give an https:// URL or a file path")
        })?;
        if url.scheme() == "file" {
            return url
                .to_file_path()
                .map(IcsLocation::Path)
                .map_err(|()| anyhow!("\"{s}\" is not a file URL of this machine; give a path"));
        }
        check_url(&url)?;
        Ok(IcsLocation::Url(url))
    }
}

/// Whether a URL may be fetched: https, or http on a loopback host; no
/// user name or password in it.
fn check_url(url: &Url) -> anyhow::Result<()> {
    let shown = redact_url(url);
    if !url.username().is_empty() || url.password().is_some() {
        return Err(anyhow!(
            "the calendar URL {shown} holds a user name or password, which calsync does not send"
        ));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(anyhow!(
            "the calendar URL {shown} is plain http:// to a host that is not loopback; use https://"
        )),
        other => Err(anyhow!(
            "the calendar URL {shown} has the scheme \"{other}\"; calsync reads https:// URLs and files"
        )),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.trim_end_matches('.').eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// A URL as calsync shows it: scheme, host and port, the last path segment
/// only, and `?…` for a query. Published calendar URLs often carry a secret
/// token in their path or query, which must not end up in logs or output.
pub fn redact_url(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let segments: Vec<&str> = url
        .path_segments()
        .map(|s| s.filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let query = if url.query().is_some() { "?…" } else { "" };
    match segments.as_slice() {
        [] => format!("{}://{host}{port}/{query}", url.scheme()),
        [only] => format!("{}://{host}{port}/{only}{query}", url.scheme()),
        [.., last] => format!("{}://{host}{port}/…/{last}{query}", url.scheme()),
    }
}

impl fmt::Display for IcsLocation {
    /// The path, or the URL without the middle of its path (see
    /// [`IcsLocation::parse`]): a published calendar's URL is often secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IcsLocation::Path(p) => write!(f, "{}", p.display()),
            IcsLocation::Url(u) => f.write_str(&redact_url(u)),
        }
    }
}

/// An `.ics` file or URL as the source calendar. The whole file is read on
/// every run (it has no way to tell what changed).
#[derive(Debug, Clone)]
pub struct IcsSource {
    location: IcsLocation,
    timeout: Duration,
    max_bytes: u64,
}

impl IcsSource {
    /// A source read from `location`, with a 60-second download timeout and
    /// a [`MAX_DOWNLOAD_BYTES`] size cap.
    pub fn new(location: IcsLocation) -> Self {
        IcsSource {
            location,
            timeout: DOWNLOAD_TIMEOUT,
            max_bytes: MAX_DOWNLOAD_BYTES,
        }
    }

    /// Sets the download timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the size cap of a download or file.
    pub fn with_max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// Where the source is.
    pub fn location(&self) -> &IcsLocation {
        &self.location
    }

    /// The file's bytes, read or downloaded whole.
    pub async fn fetch(&self) -> anyhow::Result<Vec<u8>> {
        match &self.location {
            IcsLocation::Path(p) => read_file(p, self.max_bytes),
            IcsLocation::Url(u) => download(u, self.timeout, self.max_bytes).await,
        }
    }
}

/// Reads a regular file through a reader that stops after `max_bytes`
/// (whatever the file's metadata says, for a file that grows meanwhile).
/// Anything else (a directory, a FIFO, a device such as `/dev/zero`) is
/// refused as a configuration error before it is opened, since reading it
/// would block or never end while the run holds its lock. `what` and `fix`
/// name the setting in the messages.
fn read_regular(path: &Path, max_bytes: u64, what: &str, fix: &str) -> anyhow::Result<Vec<u8>> {
    let shown = path.display();
    let not_regular = || {
        anyhow::Error::new(Failure::Config(format!(
            "{what} {shown} is not a regular file (a directory, a pipe or a device), which \
             calsync does not read: it could block or never end. {fix}"
        )))
    };
    let meta = std::fs::metadata(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            anyhow!(
                "{what} {shown} does not exist; check the path (relative paths are read from \
                 the directory calsync runs in)"
            )
        } else {
            anyhow!("cannot read {what} {shown}: {e}")
        }
    })?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    if meta.len() > max_bytes {
        return Err(anyhow!(
            "{what} {shown} is {} bytes, more than the {max_bytes} calsync reads; nothing was \
             written",
            meta.len()
        ));
    }
    let file = std::fs::File::open(path).with_context(|| format!("cannot read {what} {shown}"))?;
    // The path may have been replaced between the two looks.
    if !file
        .metadata()
        .with_context(|| format!("cannot read {what} {shown}"))?
        .is_file()
    {
        return Err(not_regular());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {what} {shown}"))?;
    if bytes.len() as u64 > max_bytes {
        return Err(anyhow!(
            "{what} {shown} grew past the {max_bytes} bytes calsync reads while it was read; \
             nothing was written"
        ));
    }
    Ok(bytes)
}

fn read_file(path: &Path, max_bytes: u64) -> anyhow::Result<Vec<u8>> {
    read_regular(
        path,
        max_bytes,
        "the source calendar file",
        "Set `source.path` to an .ics file (export the calendar to one).",
    )
}

async fn download(url: &Url, timeout: Duration, max_bytes: u64) -> anyhow::Result<Vec<u8>> {
    check_url(url)?;
    let shown = redact_url(url);
    let policy = reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error("too many redirects")
        } else if check_url(attempt.url()).is_err() {
            attempt.error("a redirect left https")
        } else {
            attempt.follow()
        }
    });
    let client = reqwest::Client::builder()
        .user_agent(concat!("calsync/", env!("CARGO_PKG_VERSION")))
        .redirect(policy)
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(15)))
        .build()
        .map_err(|e| anyhow!("could not set up the HTTP client: {e}"))?;
    let fail = |e: reqwest::Error| {
        let why = if e.is_timeout() {
            format!("no answer within {} seconds", timeout.as_secs())
        } else if e.is_redirect() {
            "the server redirected too often, or away from https".to_string()
        } else if e.is_connect() {
            "could not connect".to_string()
        } else {
            "the transfer failed".to_string()
        };
        anyhow!(
            "downloading the source calendar from {shown} failed: {why}. Check the URL and the \
             network, then run again."
        )
    };
    let mut resp = client
        .get(url.clone())
        .header(reqwest::header::ACCEPT, "text/calendar, */*;q=0.5")
        .send()
        .await
        .map_err(fail)?;
    let status = resp.status();
    if !status.is_success() {
        return Err(anyhow!(
            "downloading the source calendar from {shown} failed: the server answered {status}. \
             Check the URL (a published calendar's address changes when it is reset)."
        ));
    }
    let too_big = || {
        anyhow!(
            "the source calendar at {shown} is larger than the {max_bytes} bytes calsync \
             downloads; nothing was written"
        )
    };
    if resp.content_length().is_some_and(|n| n > max_bytes) {
        return Err(too_big());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(fail)? {
        if body.len() as u64 + chunk.len() as u64 > max_bytes {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

impl IcsSource {
    /// Reads and parses the file, logging a warning for each event that
    /// cannot be read (at most [`MAX_WARNINGS`], then a count) and for
    /// what else was ignored.
    pub async fn read_events(&self, window: &Window) -> anyhow::Result<SourceRead> {
        let bytes = self.fetch().await?;
        let read = parse_events(&bytes, window, &self.location.to_string())?;
        drop(bytes);
        for note in &read.notes {
            tracing::warn!("{note}; the rest of the file was read");
        }
        for e in read.unreadable.iter().take(MAX_WARNINGS) {
            tracing::warn!(
                "{e}. The event is skipped (counted as unreadable) and a copy of it published \
                 earlier is removed; fix it in the source calendar for it to be copied again"
            );
        }
        if read.unreadable.len() > MAX_WARNINGS {
            tracing::warn!(
                "{} more events of {} cannot be read and are skipped (counted as unreadable), \
                 beyond the {MAX_WARNINGS} named above; fix those first, and the next run names \
                 the rest",
                read.unreadable.len() - MAX_WARNINGS,
                self.location
            );
        }
        Ok(read)
    }
}

impl SourceProvider for IcsSource {
    async fn read(&self, window: &Window) -> anyhow::Result<Vec<SourceEvent>> {
        let read = self
            .read_events(window)
            .await
            .context("reading the source calendar failed; nothing was written")?;
        Ok(read.into_source_events(window))
    }
}

/// An `.ics` file calsync publishes its copies into, for subscribers to
/// read. A file that does not exist is an empty calendar and is created by
/// the first write; its directory must exist.
#[derive(Debug, Clone)]
pub struct IcsTarget {
    path: PathBuf,
    calendar_name: String,
}

impl IcsTarget {
    /// A target file; `calendar_name` becomes its `X-WR-CALNAME`.
    pub fn new(path: impl Into<PathBuf>, calendar_name: impl Into<String>) -> Self {
        IcsTarget {
            path: path.into(),
            calendar_name: calendar_name.into(),
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The calendar as the file holds it now, and the file's bytes (`None`
    /// when it does not exist yet).
    pub fn load(&self) -> anyhow::Result<(TargetCalendar, Option<Vec<u8>>)> {
        let shown = self.path.display();
        match std::fs::symlink_metadata(&self.path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let dir = parent_dir(&self.path);
                if !dir.is_dir() {
                    return Err(anyhow!(
                        "the directory {} of the target file {shown} does not exist; create it \
                         first (calsync creates the file, not its directory)",
                        dir.display()
                    ));
                }
                return Ok((TargetCalendar::new(), None));
            }
            Err(e) => return Err(anyhow!("cannot read the target file {shown}: {e}")),
            Ok(_) => {}
        }
        let bytes = read_regular(
            &self.path,
            MAX_TARGET_BYTES,
            "the target file",
            "Set `target.path` to the .ics file calsync publishes.",
        )?;
        let cal = TargetCalendar::parse(&bytes, &shown.to_string()).map_err(|e: IcsError| {
            anyhow::Error::new(e).context(format!(
                "the target file {shown} is not an iCalendar file calsync can update; calsync \
                 does not overwrite it. Fix or move the file, or choose another path"
            ))
        })?;
        Ok((cal, Some(bytes)))
    }
}

impl IcsTarget {
    /// Writes an empty calendar when the file does not exist yet, so that
    /// subscribers find a calendar even before there is a public event.
    /// Returns whether it wrote one.
    pub fn create_if_missing(&self) -> anyhow::Result<bool> {
        let (cal, before) = self.load()?;
        if before.is_some() {
            return Ok(false);
        }
        write_atomically(&self.path, cal.render(&self.calendar_name).as_bytes())?;
        Ok(true)
    }
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

impl TargetProvider for IcsTarget {
    async fn read_managed(&self, window: &Window) -> anyhow::Result<Vec<ManagedEvent>> {
        let (cal, _) = self
            .load()
            .context("reading the target calendar failed; nothing was written")?;
        Ok(cal.managed_in(window))
    }

    /// Rereads the file (so that events added by hand since the read are
    /// kept), applies the plan and replaces the file in one rename. An empty
    /// plan, or one that changes nothing, leaves the file untouched.
    async fn apply(&self, plan: &Plan) -> anyhow::Result<ApplyReport> {
        if plan.is_empty() {
            return Ok(ApplyReport::default());
        }
        let (mut cal, before) = self.load()?;
        let report = cal.apply(plan, Utc::now());
        let after = cal.render(&self.calendar_name);
        if before.as_deref() != Some(after.as_bytes()) {
            write_atomically(&self.path, after.as_bytes())?;
        }
        Ok(report)
    }
}

impl InspectableTarget for IcsTarget {
    async fn read_for_validation(&self) -> anyhow::Result<Vec<InspectedCopy>> {
        let (cal, _) = self.load().context("reading the target calendar failed")?;
        Ok(cal.inspected())
    }
}

/// Replaces a file by writing a temporary file beside it and renaming it
/// over the old one, so that a reader sees the old file or the new one,
/// never half of either. An existing file keeps its permissions; a new one
/// gets the usual ones for a new file. A symbolic link is followed: the
/// file it points to is replaced.
pub(crate) fn write_atomically(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let target = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(path)
            .with_context(|| format!("cannot follow the link {}", path.display()))?,
        _ => path.to_path_buf(),
    };
    if target.file_name().is_none() {
        anyhow::bail!("the target path {} names no file", path.display());
    }
    // Temporary files of runs killed while writing.
    let removed = crate::fs::remove_leftovers(&target);
    if removed > 0 {
        tracing::info!(
            path = %target.display(),
            "removed {removed} temporary file(s) an interrupted run left beside the target"
        );
    }
    let result = crate::fs::replace_file(&target, crate::fs::FileMode::KeepExisting, |w| {
        w.write_all(contents)
    });
    result.with_context(|| format!("cannot write the target file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        assert_eq!(
            IcsLocation::parse("cal/public.ics").unwrap(),
            IcsLocation::Path(PathBuf::from("cal/public.ics"))
        );
        let IcsLocation::Url(u) = IcsLocation::parse("webcal://example.com/a/b.ics").unwrap()
        else {
            panic!("not a URL");
        };
        assert_eq!(u.as_str(), "https://example.com/a/b.ics");
        assert!(IcsLocation::parse("http://127.0.0.1:8080/x.ics").is_ok());
        assert!(IcsLocation::parse("http://localhost/x.ics").is_ok());
        let e = IcsLocation::parse("http://example.com/x.ics").unwrap_err();
        assert!(e.to_string().contains("https://"), "{e}");
        assert!(IcsLocation::parse("ftp://example.com/x.ics").is_err());
        #[cfg(unix)]
        assert_eq!(
            IcsLocation::parse("file:///srv/cal/public.ics").unwrap(),
            IcsLocation::Path(PathBuf::from("/srv/cal/public.ics"))
        );
        assert!(IcsLocation::parse("https://u:p@example.com/x.ics").is_err());
    }

    #[test]
    fn urls_are_shown_without_their_secret_part() {
        let loc = IcsLocation::parse(
            "https://calendar.example.com/calendar/ical/team%40example.com/private-0123456789abcdef/basic.ics",
        )
        .unwrap();
        let shown = loc.to_string();
        assert_eq!(shown, "https://calendar.example.com/…/basic.ics");
        assert!(!shown.contains("0123456789abcdef"));
    }
}
