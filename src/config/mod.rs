//! Configuration: merges the command line, the environment, the TOML file and
//! the built-in defaults into one [`Settings`] (README, "Configuration").
//!
//! Precedence is flag > environment > file > default, decided per key, and
//! [`Settings::origins`] records where each value came from. The file is the
//! one named by `--config`, else by `CALSYNC_CONFIG`, else
//! `$XDG_CONFIG_HOME/calsync/config.toml` (`$HOME/.config/calsync/config.toml`
//! when `XDG_CONFIG_HOME` is unset). A missing default file is fine; a missing
//! named file, an unreadable file or a malformed one is an error.
//!
//! The XDG base directories are resolved here from the environment passed to
//! [`load`] (the XDG layout on every platform, as etcetera's
//! `choose_base_strategy` does on Unix), so that loading is hermetic in tests.
//!
//! `[source]` and `[target]` choose what each side is ([`SourceSpec`],
//! [`TargetSpec`]): a Graph calendar (the default, named by
//! `source_calendar`/`target_calendar`) or an `.ics` file (`kind = "ics"`,
//! with `path`, or for the source `url`). Relative paths in the file
//! (`state_dir`, `source.path`, `target.path`) are relative to the file.
//!
//! Each key is one row of the key table ([`KEYS`], in `keys.rs`): its
//! table in the file, environment variables, default, parser, what `status`
//! shows and whether it is in the incremental state's fingerprint. Loading,
//! the unknown-key check, `status`, the key list of `--help` and the
//! fingerprint all go through it.
//!
//! Every error is a [`Failure::Config`] (exit 2) whose message is one
//! paragraph: the key, where its value came from (environment variable, or
//! file, line and column) and how to fix it. No error and no `Debug` output
//! ever shows the value of `client_secret`.

mod calendar;
mod duration;
mod file;
mod fingerprint;
mod keys;
mod load;
mod pairs;
pub mod shard;
mod value;

#[cfg(test)]
mod tests;

pub use calendar::CalendarRef;
pub use duration::{format_duration, parse_duration};
pub use fingerprint::fingerprint;
pub use keys::{HelpRow, KEYS, Key, Table, help_rows, key, keys_of, status_order};
pub use load::{load, load_from_process};
pub use pairs::{
    DEFAULT_PAIR, PairSettings, PairSource, Pairs, Selection, load_pairs, load_pairs_from_process,
    valid_name,
};
pub use value::parse_bool;

use crate::error::Failure;
use crate::ics::IcsLocation;
use crate::policy::Policy;
use secrecy::SecretString;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use url::Url;

/// The environment variable that names the config file.
pub const CONFIG_ENV: &str = "CALSYNC_CONFIG";

/// The largest window, in days, that `past_days + cutoff_days` may span.
pub const MAX_WINDOW_DAYS: u32 = 36500;

/// Where the value of a setting came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// A command-line option.
    Flag,
    /// The environment variable of that name (the `CALSYNC_` name or its
    /// fallback, whichever was used).
    Env(&'static str),
    /// The config file ([`Settings::config_path`]).
    File,
    /// The built-in default.
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag => f.write_str("command line"),
            Origin::Env(var) => write!(f, "environment ({var})"),
            Origin::File => f.write_str("config file"),
            Origin::Default => f.write_str("default"),
        }
    }
}

/// A Microsoft cloud: decides the default Graph and sign-in endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Cloud {
    /// The global service (also used by GCC, which is not GCC High).
    #[serde(rename = "global")]
    Global,
    /// US Government L4 (GCC High).
    #[serde(rename = "usgov")]
    UsGov,
    /// US Government L5 (DoD).
    #[serde(rename = "usgov-dod")]
    UsGovDod,
    /// China, operated by 21Vianet.
    #[serde(rename = "china")]
    China,
}

impl Cloud {
    pub const ALL: [Cloud; 4] = [Cloud::Global, Cloud::UsGov, Cloud::UsGovDod, Cloud::China];

    /// The spelling used in configuration.
    pub fn as_str(&self) -> &'static str {
        match self {
            Cloud::Global => "global",
            Cloud::UsGov => "usgov",
            Cloud::UsGovDod => "usgov-dod",
            Cloud::China => "china",
        }
    }

    /// Parses the configuration spelling, ignoring ASCII case.
    pub fn parse(s: &str) -> Option<Cloud> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// The Graph host, e.g. `https://graph.microsoft.com`. The scope of an
    /// app-only token is this host followed by `/.default`.
    pub fn graph_host(&self) -> &'static str {
        match self {
            Cloud::Global => "https://graph.microsoft.com",
            Cloud::UsGov => "https://graph.microsoft.us",
            Cloud::UsGovDod => "https://dod-graph.microsoft.us",
            Cloud::China => "https://microsoftgraph.chinacloudapi.cn",
        }
    }

    /// The sign-in (authority) host, e.g. `https://login.microsoftonline.com`.
    pub fn login_host(&self) -> &'static str {
        match self {
            Cloud::Global => "https://login.microsoftonline.com",
            Cloud::UsGov | Cloud::UsGovDod => "https://login.microsoftonline.us",
            Cloud::China => "https://login.chinacloudapi.cn",
        }
    }
}

impl fmt::Display for Cloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where tokens are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenStore {
    /// The OS keyring (Secret Service, macOS Keychain, Windows Credential Manager).
    Keyring,
    /// `tokens.json`, mode 0600, in the state dir.
    File,
}

impl TokenStore {
    pub fn as_str(&self) -> &'static str {
        match self {
            TokenStore::Keyring => "keyring",
            TokenStore::File => "file",
        }
    }

    /// Parses the configuration spelling, ignoring ASCII case.
    pub fn parse(s: &str) -> Option<TokenStore> {
        [TokenStore::Keyring, TokenStore::File]
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

impl fmt::Display for TokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of calendar one side of the sync is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A Microsoft 365 calendar through Microsoft Graph.
    Graph,
    /// An iCalendar (`.ics`) file, or (source only) an `https://` URL.
    Ics,
}

impl Kind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::Graph => "graph",
            Kind::Ics => "ics",
        }
    }

    /// Parses the configuration spelling, ignoring ASCII case.
    pub fn parse(s: &str) -> Option<Kind> {
        [Kind::Graph, Kind::Ics]
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The source calendar (`[source]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// `source_calendar` in `mailbox`, through Graph.
    Graph,
    /// An `.ics` file or URL.
    Ics(IcsLocation),
}

/// The target calendar (`[target]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSpec {
    /// `target_calendar` in `target_mailbox`, through Graph.
    Graph,
    /// An `.ics` file calsync publishes into; `name` is its `X-WR-CALNAME`.
    Ics { path: PathBuf, name: String },
}

/// The `[publish]` table: the agenda web page and JSON feed written after
/// each successful sync ([`crate::publish`]). Nothing is written unless
/// `html` or `json` is set.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishSettings {
    pub html: Option<PathBuf>,
    pub json: Option<PathBuf>,
    /// `None`: the target's name, else "Public events" (see
    /// [`Settings::publish_title`]).
    pub title: Option<String>,
    pub time_zone: chrono_tz::Tz,
    pub subscribe_url: Option<Url>,
    /// How many days ahead of today the page lists.
    pub days: u32,
    pub template: Option<PathBuf>,
}

impl Default for PublishSettings {
    fn default() -> Self {
        PublishSettings {
            html: None,
            json: None,
            title: None,
            time_zone: chrono_tz::UTC,
            subscribe_url: None,
            days: 60,
            template: None,
        }
    }
}

impl PublishSettings {
    /// Whether anything is to be published.
    pub fn enabled(&self) -> bool {
        self.html.is_some() || self.json.is_some()
    }
}

/// The configuration in effect.
///
/// `Debug` shows `client_secret` only as a redaction marker.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The config file actually read, if any.
    pub config_path: Option<PathBuf>,
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    /// When set, app-only (client-credentials) authentication is used.
    pub client_secret: Option<SecretString>,
    /// `None` means `me` with delegated auth; required with client credentials
    /// (see [`Settings::require_graph`]).
    pub mailbox: Option<String>,
    pub source_calendar: String,
    pub target_calendar: String,
    /// `None` means the same mailbox as the source.
    pub target_mailbox: Option<String>,
    pub past_days: u32,
    pub cutoff_days: u32,
    pub dry_run: bool,
    pub cloud: Cloud,
    /// The Graph base URL including the version path, without a trailing
    /// slash, e.g. `https://graph.microsoft.com/v1.0`.
    pub graph_url: Url,
    /// The sign-in authority, e.g. `https://login.microsoftonline.com`. Use
    /// [`Settings::authority_base`] to build endpoint URLs from it.
    pub authority_url: Url,
    pub token_store: TokenStore,
    pub state_dir: PathBuf,
    /// The largest fraction of managed target events one run may delete.
    pub max_delete_fraction: f64,
    /// A sync re-reads both calendars in full (repairing hand edits and
    /// deletions of copies) when its last full reconciliation is older than
    /// this; runs in between read only the source's changes.
    pub full_sync_interval: std::time::Duration,
    /// How long one HTTP request (to Graph or the sign-in endpoint) may take,
    /// from connecting to the last byte of the answer, before it counts as
    /// failed (and is retried, at most twice).
    pub request_timeout: std::time::Duration,
    /// How long a `sync` or `validate` may run in all before it stops at a
    /// safe point and exits 1.
    pub run_timeout: std::time::Duration,
    /// Where events are read from (`[source]`); Graph by default.
    pub source: SourceSpec,
    /// Where the public copies go (`[target]`); Graph by default.
    pub target: TargetSpec,
    pub policy: Policy,
    /// Where each `sync` and `validate` writes its metrics, in the
    /// Prometheus text format (for node_exporter's textfile collector).
    pub metrics_file: Option<PathBuf>,
    /// The Prometheus Pushgateway each `sync` and `validate` pushes its
    /// metrics to.
    pub metrics_push_url: Option<Url>,
    /// The dead-man's-switch URL a `sync` pings when it starts and ends
    /// ([`crate::observe::ping`]).
    pub ping_url: Option<Url>,
    /// The `[publish]` table.
    pub publish: PublishSettings,
    /// The name of the `[[pair]]` these settings are of; `None` for a
    /// config without `[[pair]]` tables (its one pair, `default`).
    pub pair: Option<String>,
    /// The sources of a pair with `sources = [...]`, in the order listed,
    /// read as one merged source; empty for a pair with one source (then
    /// `source`, `mailbox` and `source_calendar` name it).
    pub merged: Vec<PairSource>,
    /// Test and benchmark overrides read from the environment
    /// ([`HiddenKnobs`]).
    pub hidden: HiddenKnobs,
    /// Where each value came from, by key name: the top-level keys,
    /// `source.*`, `target.*`, `filter.*` and `copy.*`, and `config` for the
    /// config file itself.
    pub origins: BTreeMap<&'static str, Origin>,
}

/// What the command line contributes (the flag layer): the `--config` path,
/// `--request-timeout` and `--run-timeout`, and, for `sync`, `--dry-run`
/// (`Some(true)` when given, else `None`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlagOverrides {
    pub config: Option<PathBuf>,
    pub dry_run: Option<bool>,
    pub request_timeout: Option<std::time::Duration>,
    pub run_timeout: Option<std::time::Duration>,
    pub metrics_file: Option<PathBuf>,
    pub metrics_push_url: Option<String>,
    pub ping_url: Option<String>,
}

impl Settings {
    /// The title of the published page and feed: `publish.title`, else the
    /// target's name (an .ics target's `target.name`, a Graph target named
    /// by its name), else "Public events".
    pub fn publish_title(&self) -> String {
        if let Some(t) = &self.publish.title {
            return t.clone();
        }
        match &self.target {
            TargetSpec::Ics { name, .. } if !name.trim().is_empty() => name.clone(),
            _ => match CalendarRef::parse(&self.target_calendar) {
                CalendarRef::Name(n) if !n.trim().is_empty() => n,
                _ => "Public events".to_owned(),
            },
        }
    }

    /// Checks what a command that talks to Graph needs (call it only when
    /// [`Settings::uses_graph`]): `tenant_id` and
    /// `client_id`, and with `client_secret` set, `mailbox` (app-only auth has
    /// no "me") and a real tenant rather than `common`/`organizations`/`consumers`.
    pub fn require_graph(&self) -> anyhow::Result<()> {
        let file = self.file_hint();
        if self.tenant_id.is_none() {
            return Err(config_error(format!(
                "Configuration incomplete: `tenant_id` is not set, and calsync needs the Microsoft \
                 Entra tenant (directory) ID to sign in. Set CALSYNC_TENANT_ID (or TENANT_ID) in \
                 the environment, or `tenant_id = \"<tenant GUID or domain>\"` in {file}."
            )));
        }
        if self.client_id.is_none() {
            return Err(config_error(format!(
                "Configuration incomplete: `client_id` is not set, and calsync needs the \
                 application (client) ID of its app registration to sign in. Set \
                 CALSYNC_CLIENT_ID (or CLIENT_ID) in the environment, or `client_id = \
                 \"<application GUID>\"` in {file}."
            )));
        }
        if self.uses_client_credentials() {
            match self.mailbox.as_deref() {
                None => {
                    return Err(config_error(format!(
                        "Configuration incomplete: `mailbox` is not set, but `client_secret` is, \
                         so calsync signs in as the application, which has no \"me\" mailbox. \
                         Set CALSYNC_MAILBOX (or SHARED_MAILBOX) in the environment, or \
                         `mailbox = \"calendar@example.org\"` in {file}, to the mailbox whose \
                         calendar is the source."
                    )));
                }
                Some(m) if m.eq_ignore_ascii_case("me") => {
                    return Err(config_error(format!(
                        "Invalid configuration: `mailbox` is \"me\", but `client_secret` is set, \
                         so calsync signs in as the application, which has no \"me\" mailbox. \
                         Set `mailbox` (CALSYNC_MAILBOX, or in {file}) to the address of the \
                         source mailbox, or unset `client_secret` to sign in as a user."
                    )));
                }
                Some(_) => {}
            }
            if let Some(t) = self.tenant_id.as_deref()
                && ["common", "organizations", "consumers"]
                    .iter()
                    .any(|g| g.eq_ignore_ascii_case(t))
            {
                return Err(config_error(format!(
                    "Invalid configuration: `tenant_id` is \"{t}\", but app-only sign-in with \
                     `client_secret` needs a real tenant. Set CALSYNC_TENANT_ID (or TENANT_ID), \
                     or `tenant_id` in {file}, to the tenant's GUID or primary domain."
                )));
            }
        }
        Ok(())
    }

    /// The kind of the source calendar.
    pub fn source_kind(&self) -> Kind {
        match self.source {
            SourceSpec::Graph => Kind::Graph,
            SourceSpec::Ics(_) => Kind::Ics,
        }
    }

    /// The kind of the target calendar.
    pub fn target_kind(&self) -> Kind {
        match self.target {
            TargetSpec::Graph => Kind::Graph,
            TargetSpec::Ics { .. } => Kind::Ics,
        }
    }

    /// Whether either side is a Graph calendar, so that the Graph keys
    /// ([`Settings::require_graph`]) and a sign-in are needed.
    pub fn uses_graph(&self) -> bool {
        self.source_kind() == Kind::Graph
            || self.target_kind() == Kind::Graph
            || self.merged.iter().any(|s| s.spec == SourceSpec::Graph)
    }

    /// How `source_calendar` names the calendar read. Left unset, it is the
    /// mailbox's default calendar, whatever its name in the mailbox's
    /// language ("Calendar", "Kalender", "Calendrier").
    pub fn source_calendar_ref(&self) -> CalendarRef {
        let unset = self.origins.get("source_calendar").copied() == Some(Origin::Default);
        if unset {
            CalendarRef::Default
        } else {
            CalendarRef::parse(&self.source_calendar)
        }
    }

    /// How `target_calendar` names the public calendar.
    pub fn target_calendar_ref(&self) -> CalendarRef {
        CalendarRef::parse(&self.target_calendar)
    }

    /// The source mailbox as Graph addresses it: the configured mailbox, or
    /// `me` (delegated auth only; see [`Settings::require_graph`]).
    pub fn mailbox_or_me(&self) -> &str {
        self.mailbox.as_deref().unwrap_or("me")
    }

    /// The target mailbox: `target_mailbox`, else the source mailbox.
    pub fn target_mailbox_or_source(&self) -> &str {
        self.target_mailbox
            .as_deref()
            .unwrap_or_else(|| self.mailbox_or_me())
    }

    /// Whether app-only (client-credentials) authentication is configured.
    pub fn uses_client_credentials(&self) -> bool {
        self.client_secret.is_some()
    }

    /// [`Settings::graph_url`] as a string with no trailing slash, ready for
    /// `format!("{}/users/…", settings.graph_base())`.
    pub fn graph_base(&self) -> &str {
        self.graph_url.as_str().trim_end_matches('/')
    }

    /// [`Settings::authority_url`] as a string with no trailing slash, ready
    /// for `format!("{}/{tenant}/oauth2/v2.0/token", settings.authority_base())`.
    pub fn authority_base(&self) -> &str {
        self.authority_url.as_str().trim_end_matches('/')
    }

    /// Where a value could be set in a file, for messages.
    pub fn file_hint(&self) -> String {
        match &self.config_path {
            Some(p) => format!("the config file {}", p.display()),
            None => "the config file ($XDG_CONFIG_HOME/calsync/config.toml, or the file named \
                     by --config or CALSYNC_CONFIG)"
                .to_owned(),
        }
    }
}

/// A masked rendering of a secret for display: a short prefix of long values
/// and a marker, e.g. `abc…(masked)`. Short values show nothing of themselves.
pub fn mask(s: &str) -> String {
    if s.chars().count() >= 16 {
        let prefix: String = s.chars().take(3).collect();
        format!("{prefix}…(masked)")
    } else {
        "(masked)".to_owned()
    }
}

/// Every environment variable [`load`] reads, `CALSYNC_*` names and their
/// fallbacks alike (not `XDG_*`/`HOME`): handy to clear in tests.
pub fn env_var_names() -> Vec<&'static str> {
    let mut names = vec![CONFIG_ENV];
    for key in &KEYS {
        names.extend(key.env);
        names.extend(key.seed);
    }
    names
}

/// The default config file, `$XDG_CONFIG_HOME/calsync/config.toml` (else
/// `$HOME/.config/calsync/config.toml`), or `None` when neither is known.
pub fn default_config_path(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    xdg_dir(env, "XDG_CONFIG_HOME", ".config").map(|d| d.join("calsync").join("config.toml"))
}

/// The default state dir, `$XDG_STATE_HOME/calsync` (else
/// `$HOME/.local/state/calsync`), or `None` when neither is known.
pub fn default_state_dir(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    xdg_dir(env, "XDG_STATE_HOME", ".local/state").map(|d| d.join("calsync"))
}

/// The default of `full_sync_interval`: a day.
pub const DEFAULT_FULL_SYNC_INTERVAL: std::time::Duration =
    std::time::Duration::from_secs(24 * 3600);

/// The default of `request_timeout`: Graph answers within seconds; one that
/// has not answered in 30 is retried (twice) rather than waited for.
pub const DEFAULT_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The default of `run_timeout`: a run stops well before a schedule of every
/// 23 minutes would start another one an hour later. A first sync of a very
/// large calendar may need longer (Outlook allows 10,000 writes per 10
/// minutes); a run stopped by it loses nothing, and the next continues.
pub const DEFAULT_RUN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// The environment variables of [`HiddenKnobs`]. They are no configuration
/// keys: no file sets them and `--help` does not list them.
pub const HIDDEN_ENV: [&str; 2] = ["CALSYNC_TODAY", "CALSYNC_GRAPH_RATE_LIMIT"];

/// Overrides for tests and benchmarks, read from the environment only and
/// outside the configuration's contract. A value that does not read is
/// ignored, as if unset, so a stray one never stops a run.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HiddenKnobs {
    /// `CALSYNC_TODAY=YYYY-MM-DD`: the day the sync window is built around,
    /// instead of today.
    pub today: Option<chrono::NaiveDate>,
    /// `CALSYNC_GRAPH_RATE_LIMIT=OPS/SECONDS` (e.g. `60/1` or `60/1.5s`):
    /// requests allowed per window in place of Outlook's limit, for a Graph
    /// (or a stand-in) that counts over another window, such as a benchmark
    /// that compresses time. The window is at most a day.
    pub graph_rate_limit: Option<(u32, std::time::Duration)>,
}

pub(crate) fn config_error(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Failure::Config(msg.into()))
}

fn origin_of(origins: &BTreeMap<&'static str, Origin>, key: &str) -> Origin {
    origins.get(key).copied().unwrap_or(Origin::Default)
}

fn xdg_dir(env: &dyn Fn(&str) -> Option<String>, var: &str, fallback: &str) -> Option<PathBuf> {
    // The XDG spec says a relative value is invalid and is to be ignored.
    if let Some(dir) = env(var).filter(|v| !v.is_empty()).map(PathBuf::from)
        && dir.is_absolute()
    {
        return Some(dir);
    }
    let home = env("HOME")
        .filter(|v| !v.is_empty())
        .or_else(|| env("USERPROFILE").filter(|v| !v.is_empty()))?;
    Some(PathBuf::from(home).join(fallback))
}
