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
//! Every error is a [`Failure::Config`] (exit 2) whose message is one
//! paragraph: the key, where its value came from (environment variable, or
//! file, line and column) and how to fix it. No error and no `Debug` output
//! ever shows the value of `client_secret`.

use crate::error::Failure;
use crate::ics::IcsLocation;
use crate::model::{Sensitivity, ShowAs};
use crate::policy::{CopyPolicy, FilterPolicy, Policy};
use regex::Regex;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use toml::{Spanned, Value};
use url::{Host, Url};

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

/// How `source_calendar` or `target_calendar` names a Graph calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CalendarRef {
    /// `default`: the mailbox's default calendar, read through
    /// `/users/{mailbox}/calendar`. Its name depends on the mailbox's
    /// language, and a delegate who may not list a mailbox's calendars can
    /// still reach it.
    Default,
    /// `id:AAMkAD…`: the calendar with this Graph id.
    Id(String),
    /// Any other value: the calendar with this display name (trimmed,
    /// case-sensitive).
    Name(String),
}

impl CalendarRef {
    /// Reads a configured value: `default`, `id:…`, else a display name.
    pub fn parse(value: &str) -> CalendarRef {
        let value = value.trim();
        if value.eq_ignore_ascii_case("default") {
            CalendarRef::Default
        } else if let Some(id) = value.strip_prefix("id:") {
            CalendarRef::Id(id.trim().to_owned())
        } else {
            CalendarRef::Name(value.to_owned())
        }
    }

    /// One canonical text per calendar reference, for the id cache.
    pub fn cache_key(&self) -> String {
        match self {
            CalendarRef::Default => "default:".to_owned(),
            CalendarRef::Id(id) => format!("id:{id}"),
            CalendarRef::Name(name) => format!("name:{name}"),
        }
    }
}

impl fmt::Display for CalendarRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CalendarRef::Default => f.write_str("the default calendar"),
            CalendarRef::Id(id) => write!(f, "the calendar with id {id}"),
            CalendarRef::Name(name) => write!(f, "the calendar \"{name}\""),
        }
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
}

impl Settings {
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
        self.source_kind() == Kind::Graph || self.target_kind() == Kind::Graph
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
    fn file_hint(&self) -> String {
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
    for key in TOP_KEYS.iter().chain(SIDE_KEYS.iter()) {
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

/// [`load`] with the process environment.
pub fn load_from_process(flags: &FlagOverrides) -> anyhow::Result<Settings> {
    load(flags, &|k| std::env::var(k).ok())
}

/// Builds the settings from the flags, the environment (`env` looks a
/// variable up; production passes `|k| std::env::var(k).ok()`), the config
/// file and the defaults. Reads the config file and nothing else.
pub fn load(
    flags: &FlagOverrides,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Settings> {
    let env = |k: &str| env(k).filter(|v| !v.is_empty());
    let mut origins = BTreeMap::new();

    // Which file, and read it.
    let (named, path) = match (&flags.config, env(CONFIG_ENV)) {
        (Some(p), _) => {
            origins.insert("config", Origin::Flag);
            (Some("given with --config"), Some(p.clone()))
        }
        (None, Some(p)) => {
            origins.insert("config", Origin::Env(CONFIG_ENV));
            (Some("named by CALSYNC_CONFIG"), Some(PathBuf::from(p)))
        }
        (None, None) => {
            origins.insert("config", Origin::Default);
            (None, default_config_path(&env))
        }
    };
    let file = match path {
        Some(path) => read_file(&path, named)?,
        None => None,
    };

    let mut r = Resolver {
        env: &env,
        file: file.as_ref(),
        origins,
    };

    let tenant_id = r.get(&TENANT_ID, None, |f| f.id_string())?;
    let client_id = r.get(&CLIENT_ID, None, |f| f.id_string())?;
    let client_secret = r
        .get(&CLIENT_SECRET, None, |f| f.string())?
        .map(SecretString::from);
    let mailbox = r.get(&MAILBOX, None, |f| f.string())?;
    let source_calendar = r.get_or(&SOURCE_CALENDAR, "Calendar".to_owned(), |f| f.string())?;
    let target_calendar = r.get_or(&TARGET_CALENDAR, "Public Calendar".to_owned(), |f| {
        f.string()
    })?;
    let target_mailbox = r.get(&TARGET_MAILBOX, None, |f| f.string())?;
    let past_days = r.get_or(&PAST_DAYS, 0, |f| f.days(0))?;
    let cutoff_days = r.get_or(&CUTOFF_DAYS, 1825, |f| f.days(1))?;
    let dry_run = r.get_or_flag(&DRY_RUN, flags.dry_run, false, |f| f.boolean())?;
    let cloud = r.get_or(&CLOUD, Cloud::Global, |f| {
        let s = f.string()?;
        Cloud::parse(&s).ok_or_else(|| f.bad("one of global, usgov, usgov-dod, china"))
    })?;
    let graph_url = r.get(&GRAPH_URL, None, |f| f.url(true))?;
    let authority_url = r.get(&AUTHORITY_URL, None, |f| f.url(false))?;
    let token_store = r.get_or(&TOKEN_STORE, TokenStore::Keyring, |f| {
        let s = f.string()?;
        TokenStore::parse(&s).ok_or_else(|| f.bad("one of keyring, file"))
    })?;
    let state_dir = r.get(&STATE_DIR, None, |f| f.path())?;
    let max_delete_fraction = r.get_or(&MAX_DELETE_FRACTION, 0.25, |f| f.fraction())?;
    let full_sync_interval = r.get_or(&FULL_SYNC_INTERVAL, DEFAULT_FULL_SYNC_INTERVAL, |f| {
        f.duration()
    })?;
    let request_timeout = r.get_or_flag(
        &REQUEST_TIMEOUT,
        flags.request_timeout,
        DEFAULT_REQUEST_TIMEOUT,
        |f| f.duration(),
    )?;
    let run_timeout = r.get_or_flag(&RUN_TIMEOUT, flags.run_timeout, DEFAULT_RUN_TIMEOUT, |f| {
        f.duration()
    })?;

    // [filter] and [copy]: file or default.
    let defaults = FilterPolicy::default();
    let sensitivity = r.get_or(&F_SENSITIVITY, defaults.sensitivity, |f| {
        f.list_of(
            "normal, personal, private, confidential",
            Sensitivity::parse,
        )
    })?;
    let include_categories = r.get_or(&F_INCLUDE_CATEGORIES, defaults.include_categories, |f| {
        f.strings()
    })?;
    let exclude_categories = r.get_or(&F_EXCLUDE_CATEGORIES, defaults.exclude_categories, |f| {
        f.strings()
    })?;
    let skip_cancelled = r.get_or(&F_SKIP_CANCELLED, defaults.skip_cancelled, |f| f.boolean())?;
    let show_as = r.get(&F_SHOW_AS, None, |f| {
        f.list_of(
            "free, tentative, busy, oof, workingElsewhere, unknown",
            ShowAs::parse,
        )
    })?;
    let subject_exclude = r.get(&F_SUBJECT_EXCLUDE, None, |f| f.regex())?;
    let copy = CopyPolicy {
        location: r.get_or(&C_LOCATION, false, |f| f.boolean())?,
        body: r.get_or(&C_BODY, false, |f| f.boolean())?,
        categories: r.get_or(&C_CATEGORIES, false, |f| f.boolean())?,
    };
    let source_kind = r.get_or(&SOURCE_KIND, Kind::Graph, |f| f.kind())?;
    let source_location = r.source_location()?;
    let target_kind = r.get_or(&TARGET_KIND, Kind::Graph, |f| f.kind())?;
    let target_path = r.get(&TARGET_PATH, None, |f| f.path())?;
    let target_name = r.get(&TARGET_NAME, None, |f| f.string())?;
    let mut origins = r.origins;
    let source = source_spec(source_kind, source_location, &origins, file.as_ref())?;
    let target = target_spec(
        target_kind,
        target_path,
        target_name,
        &target_calendar,
        &origins,
        file.as_ref(),
    )?;
    if let (SourceSpec::Ics(IcsLocation::Path(from)), TargetSpec::Ics { path: to, .. }) =
        (&source, &target)
        && same_path(from, to)
    {
        return Err(config_error(format!(
            "Invalid configuration: `source.path` (from {}) and `target.path` (from {}) are both \
             {}, so calsync would publish into the file it reads. Set `target.path` \
             (CALSYNC_TARGET_PATH) to the public calendar's file.",
            origin_of(&origins, "source.path"),
            origin_of(&origins, "target.path"),
            to.display(),
        )));
    }

    // Cross-key rules.
    if past_days.saturating_add(cutoff_days) > MAX_WINDOW_DAYS {
        return Err(config_error(format!(
            "Invalid configuration: `past_days` ({past_days}, from {}) plus `cutoff_days` \
             ({cutoff_days}, from {}) is more than {MAX_WINDOW_DAYS} days (100 years). Lower one \
             or both so that the window spans at most {MAX_WINDOW_DAYS} days.",
            origin_of(&origins, "past_days"),
            origin_of(&origins, "cutoff_days"),
        )));
    }
    let same_mailbox = match (&target_mailbox, &mailbox) {
        (None, _) => true,
        (Some(t), Some(m)) => t.eq_ignore_ascii_case(m),
        (Some(t), None) => t.eq_ignore_ascii_case("me"),
    };
    for (key, value) in [
        ("source_calendar", &source_calendar),
        ("target_calendar", &target_calendar),
    ] {
        if CalendarRef::parse(value) == CalendarRef::Id(String::new()) {
            return Err(config_error(format!(
                "Invalid configuration: `{key}` (from {}) is \"{}\", an `id:` with no id \
                 after it. Write `id:` followed by the calendar's Graph id (`calsync doctor` \
                 shows the ids), `default` for the mailbox's default calendar, or the \
                 calendar's name.",
                origin_of(&origins, key),
                value.trim(),
            )));
        }
    }
    let source_ref = if origin_of(&origins, "source_calendar") == Origin::Default {
        CalendarRef::Default
    } else {
        CalendarRef::parse(&source_calendar)
    };
    let same_calendar = match (&source_ref, &CalendarRef::parse(&target_calendar)) {
        (CalendarRef::Name(a), CalendarRef::Name(b)) => a.eq_ignore_ascii_case(b),
        (a, b) => a == b,
    };
    if same_mailbox && source == SourceSpec::Graph && target == TargetSpec::Graph && same_calendar {
        return Err(config_error(format!(
            "Invalid configuration: `source_calendar` (from {}) and `target_calendar` (from {}) \
             both name {source_ref} of the same mailbox, so calsync would copy a calendar onto \
             itself. Set `target_calendar` (CALSYNC_TARGET_CALENDAR) to the public calendar, \
             or `target_mailbox` to the mailbox that holds it.",
            origin_of(&origins, "source_calendar"),
            origin_of(&origins, "target_calendar"),
        )));
    }

    // Endpoints: an explicit URL beats the cloud's.
    let cloud_origin = origin_of(&origins, "cloud");
    let graph_url = match graph_url {
        Some(u) => u,
        None => {
            origins.insert("graph_url", cloud_origin);
            builtin_url(&format!("{}/v1.0", cloud.graph_host()))?
        }
    };
    let authority_url = match authority_url {
        Some(u) => u,
        None => {
            origins.insert("authority_url", cloud_origin);
            builtin_url(cloud.login_host())?
        }
    };

    let state_dir = match state_dir {
        Some(d) => d,
        None => {
            origins.insert("state_dir", Origin::Default);
            default_state_dir(&env).ok_or_else(|| {
                config_error(
                    "Configuration incomplete: `state_dir` is not set and there is no default \
                     for it, because neither XDG_STATE_HOME nor HOME is set. Set \
                     CALSYNC_STATE_DIR, or `state_dir = \"/var/lib/calsync\"` in the config \
                     file, to a directory calsync may write to.",
                )
            })?
        }
    };

    Ok(Settings {
        config_path: file.map(|f| f.path),
        tenant_id,
        client_id,
        client_secret,
        mailbox,
        source_calendar,
        target_calendar,
        target_mailbox,
        past_days,
        cutoff_days,
        dry_run,
        cloud,
        graph_url,
        authority_url,
        token_store,
        state_dir,
        max_delete_fraction,
        full_sync_interval,
        request_timeout,
        run_timeout,
        source,
        target,
        policy: Policy {
            filter: FilterPolicy {
                sensitivity,
                include_categories,
                exclude_categories,
                skip_cancelled,
                show_as,
                subject_exclude,
            },
            copy,
        },
        origins,
    })
}

// ---------------------------------------------------------------------------
// Keys

/// One configuration key: its name (dotted for `[filter]`/`[copy]`), its
/// environment variable and the seed's fallback name, if any.
struct Key {
    name: &'static str,
    env: Option<&'static str>,
    seed: Option<&'static str>,
}

const fn key(name: &'static str, env: &'static str, seed: Option<&'static str>) -> Key {
    Key {
        name,
        env: Some(env),
        seed,
    }
}

const fn file_key(name: &'static str) -> Key {
    Key {
        name,
        env: None,
        seed: None,
    }
}

const TENANT_ID: Key = key("tenant_id", "CALSYNC_TENANT_ID", Some("TENANT_ID"));
const CLIENT_ID: Key = key("client_id", "CALSYNC_CLIENT_ID", Some("CLIENT_ID"));
const CLIENT_SECRET: Key = key(
    "client_secret",
    "CALSYNC_CLIENT_SECRET",
    Some("CLIENT_SECRET"),
);
const MAILBOX: Key = key("mailbox", "CALSYNC_MAILBOX", Some("SHARED_MAILBOX"));
const SOURCE_CALENDAR: Key = key(
    "source_calendar",
    "CALSYNC_SOURCE_CALENDAR",
    Some("SOURCE_CALENDAR"),
);
const TARGET_CALENDAR: Key = key(
    "target_calendar",
    "CALSYNC_TARGET_CALENDAR",
    Some("TARGET_CALENDAR"),
);
const TARGET_MAILBOX: Key = key("target_mailbox", "CALSYNC_TARGET_MAILBOX", None);
const PAST_DAYS: Key = key("past_days", "CALSYNC_PAST_DAYS", None);
const CUTOFF_DAYS: Key = key(
    "cutoff_days",
    "CALSYNC_CUTOFF_DAYS",
    Some("SYNC_CUTOFF_DAYS"),
);
const DRY_RUN: Key = key("dry_run", "CALSYNC_DRY_RUN", Some("DRY_RUN_MODE"));
const CLOUD: Key = key("cloud", "CALSYNC_CLOUD", None);
const GRAPH_URL: Key = key("graph_url", "CALSYNC_GRAPH_URL", None);
const AUTHORITY_URL: Key = key("authority_url", "CALSYNC_AUTHORITY_URL", None);
const TOKEN_STORE: Key = key("token_store", "CALSYNC_TOKEN_STORE", None);
const STATE_DIR: Key = key("state_dir", "CALSYNC_STATE_DIR", None);
const MAX_DELETE_FRACTION: Key = key("max_delete_fraction", "CALSYNC_MAX_DELETE_FRACTION", None);
const FULL_SYNC_INTERVAL: Key = key("full_sync_interval", "CALSYNC_FULL_SYNC_INTERVAL", None);
const REQUEST_TIMEOUT: Key = key("request_timeout", "CALSYNC_REQUEST_TIMEOUT", None);
const RUN_TIMEOUT: Key = key("run_timeout", "CALSYNC_RUN_TIMEOUT", None);

const SOURCE_KIND: Key = key("source.kind", "CALSYNC_SOURCE_KIND", None);
const SOURCE_PATH: Key = key("source.path", "CALSYNC_SOURCE_PATH", None);
const SOURCE_URL: Key = key("source.url", "CALSYNC_SOURCE_URL", None);
const TARGET_KIND: Key = key("target.kind", "CALSYNC_TARGET_KIND", None);
const TARGET_PATH: Key = key("target.path", "CALSYNC_TARGET_PATH", None);
const TARGET_NAME: Key = key("target.name", "CALSYNC_TARGET_NAME", None);

/// The keys of the `[source]` and `[target]` tables.
const SIDE_KEYS: [&Key; 6] = [
    &SOURCE_KIND,
    &SOURCE_PATH,
    &SOURCE_URL,
    &TARGET_KIND,
    &TARGET_PATH,
    &TARGET_NAME,
];
const SOURCE_TABLE_KEYS: [&str; 3] = ["kind", "path", "url"];
const TARGET_TABLE_KEYS: [&str; 3] = ["kind", "path", "name"];

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

const TOP_KEYS: [&Key; 19] = [
    &TENANT_ID,
    &CLIENT_ID,
    &CLIENT_SECRET,
    &MAILBOX,
    &SOURCE_CALENDAR,
    &TARGET_CALENDAR,
    &TARGET_MAILBOX,
    &PAST_DAYS,
    &CUTOFF_DAYS,
    &DRY_RUN,
    &CLOUD,
    &GRAPH_URL,
    &AUTHORITY_URL,
    &TOKEN_STORE,
    &STATE_DIR,
    &MAX_DELETE_FRACTION,
    &FULL_SYNC_INTERVAL,
    &REQUEST_TIMEOUT,
    &RUN_TIMEOUT,
];

const F_SENSITIVITY: Key = file_key("filter.sensitivity");
const F_INCLUDE_CATEGORIES: Key = file_key("filter.include_categories");
const F_EXCLUDE_CATEGORIES: Key = file_key("filter.exclude_categories");
const F_SKIP_CANCELLED: Key = file_key("filter.skip_cancelled");
const F_SHOW_AS: Key = file_key("filter.show_as");
const F_SUBJECT_EXCLUDE: Key = file_key("filter.subject_exclude");
const C_LOCATION: Key = file_key("copy.location");
const C_BODY: Key = file_key("copy.body");
const C_CATEGORIES: Key = file_key("copy.categories");

const FILTER_KEYS: [&str; 6] = [
    "sensitivity",
    "include_categories",
    "exclude_categories",
    "skip_cancelled",
    "show_as",
    "subject_exclude",
];
const COPY_KEYS: [&str; 3] = ["location", "body", "categories"];

// ---------------------------------------------------------------------------
// The file

type Field = Option<Spanned<Value>>;

/// The config file as written. Values stay untyped (with their position) so
/// that every type and value error can name its key; `deny_unknown_fields`
/// rejects unknown keys.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table of calsync settings")]
struct FileConfig {
    tenant_id: Field,
    client_id: Field,
    client_secret: Field,
    mailbox: Field,
    source_calendar: Field,
    target_calendar: Field,
    target_mailbox: Field,
    past_days: Field,
    cutoff_days: Field,
    dry_run: Field,
    cloud: Field,
    graph_url: Field,
    authority_url: Field,
    token_store: Field,
    state_dir: Field,
    max_delete_fraction: Field,
    full_sync_interval: Field,
    request_timeout: Field,
    run_timeout: Field,
    #[serde(default)]
    filter: FilterFile,
    #[serde(default)]
    copy: CopyFile,
    #[serde(default)]
    source: SourceFile,
    #[serde(default)]
    target: TargetFile,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [source] table")]
struct SourceFile {
    kind: Field,
    path: Field,
    url: Field,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [target] table")]
struct TargetFile {
    kind: Field,
    path: Field,
    name: Field,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [filter] table")]
struct FilterFile {
    sensitivity: Field,
    include_categories: Field,
    exclude_categories: Field,
    skip_cancelled: Field,
    show_as: Field,
    subject_exclude: Field,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [copy] table")]
struct CopyFile {
    location: Field,
    body: Field,
    categories: Field,
}

impl FileConfig {
    fn get(&self, name: &str) -> Option<&Spanned<Value>> {
        let f = &self.filter;
        let c = &self.copy;
        match name {
            "tenant_id" => self.tenant_id.as_ref(),
            "client_id" => self.client_id.as_ref(),
            "client_secret" => self.client_secret.as_ref(),
            "mailbox" => self.mailbox.as_ref(),
            "source_calendar" => self.source_calendar.as_ref(),
            "target_calendar" => self.target_calendar.as_ref(),
            "target_mailbox" => self.target_mailbox.as_ref(),
            "past_days" => self.past_days.as_ref(),
            "cutoff_days" => self.cutoff_days.as_ref(),
            "dry_run" => self.dry_run.as_ref(),
            "cloud" => self.cloud.as_ref(),
            "graph_url" => self.graph_url.as_ref(),
            "authority_url" => self.authority_url.as_ref(),
            "token_store" => self.token_store.as_ref(),
            "state_dir" => self.state_dir.as_ref(),
            "max_delete_fraction" => self.max_delete_fraction.as_ref(),
            "full_sync_interval" => self.full_sync_interval.as_ref(),
            "request_timeout" => self.request_timeout.as_ref(),
            "run_timeout" => self.run_timeout.as_ref(),
            "filter.sensitivity" => f.sensitivity.as_ref(),
            "filter.include_categories" => f.include_categories.as_ref(),
            "filter.exclude_categories" => f.exclude_categories.as_ref(),
            "filter.skip_cancelled" => f.skip_cancelled.as_ref(),
            "filter.show_as" => f.show_as.as_ref(),
            "filter.subject_exclude" => f.subject_exclude.as_ref(),
            "copy.location" => c.location.as_ref(),
            "copy.body" => c.body.as_ref(),
            "copy.categories" => c.categories.as_ref(),
            "source.kind" => self.source.kind.as_ref(),
            "source.path" => self.source.path.as_ref(),
            "source.url" => self.source.url.as_ref(),
            "target.kind" => self.target.kind.as_ref(),
            "target.path" => self.target.path.as_ref(),
            "target.name" => self.target.name.as_ref(),
            _ => None,
        }
    }
}

struct LoadedFile {
    path: PathBuf,
    text: String,
    data: FileConfig,
}

/// Reads and parses the config file. `named` says how a named file was named;
/// `None` means the default location, where a missing file is fine.
fn read_file(path: &Path, named: Option<&str>) -> anyhow::Result<Option<LoadedFile>> {
    let shown = path.display();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return match named {
                None => Ok(None),
                Some(how) => Err(config_error(format!(
                    "Config file {shown} ({how}) does not exist. Fix the path, create the file, \
                     or leave out --config and CALSYNC_CONFIG to use the default \
                     ($XDG_CONFIG_HOME/calsync/config.toml)."
                ))),
            };
        }
        Err(e) => {
            return Err(config_error(format!(
                "Cannot read config file {shown}: {e}. Check that it is a readable UTF-8 text \
                 file (its permissions, and that it is not a directory)."
            )));
        }
    };
    let data = toml::from_str::<FileConfig>(&text).map_err(|e| toml_error(path, &text, &e))?;
    Ok(Some(LoadedFile {
        path: path.to_path_buf(),
        text,
        data,
    }))
}

/// One paragraph for a TOML syntax or structure error.
fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> anyhow::Error {
    let at = match e.span() {
        Some(span) => {
            let (line, col) = line_col(text, span.start);
            format!(", line {line}, column {col}")
        }
        None => String::new(),
    };
    let shown = path.display();
    let msg = e.message().trim();
    if let Some(rest) = msg.strip_prefix("unknown field `")
        && let Some((name, _)) = rest.split_once('`')
    {
        // Which table: serde lists the valid fields of the table it was filling.
        let expected = rest.split_once("expected").map_or("", |(_, e)| e);
        let top = expected.contains("`tenant_id`");
        let (table, valid): (&str, Vec<&str>) = if expected.contains("`skip_cancelled`") {
            ("[filter] ", FILTER_KEYS.to_vec())
        } else if expected.contains("`categories`") && !top {
            ("[copy] ", COPY_KEYS.to_vec())
        } else if expected.contains("`url`") && !top {
            ("[source] ", SOURCE_TABLE_KEYS.to_vec())
        } else if expected.contains("`name`") && !top {
            ("[target] ", TARGET_TABLE_KEYS.to_vec())
        } else {
            let mut v: Vec<&str> = TOP_KEYS.iter().map(|k| k.name).collect();
            v.extend(["[filter]", "[copy]", "[source]", "[target]"]);
            ("", v)
        };
        let dotted = match table {
            "[filter] " => format!("filter.{name}"),
            "[copy] " => format!("copy.{name}"),
            "[source] " => format!("source.{name}"),
            "[target] " => format!("target.{name}"),
            _ => name.to_owned(),
        };
        let mut hint = String::new();
        if let Some(close) = closest(name, &valid) {
            hint = format!(" Did you mean `{close}`?");
        }
        if !table.is_empty() && TOP_KEYS.iter().any(|k| k.name == name) {
            hint = format!(
                " `{name}` is a top-level key: move it above the first [table] header, because \
                 every key after [filter] or [copy] belongs to that table."
            );
        } else if table.is_empty() && FILTER_KEYS.contains(&name) {
            hint = format!(" `{name}` belongs in the [filter] table.");
        } else if table.is_empty() && COPY_KEYS.contains(&name) {
            hint = format!(" `{name}` belongs in the [copy] table.");
        } else if table.is_empty() && SOURCE_TABLE_KEYS.contains(&name) {
            hint = format!(
                " `{name}` belongs in the [source] table (where events are read from) or the \
                 [target] table (where the copies go)."
            );
        } else if table.is_empty() && TARGET_TABLE_KEYS.contains(&name) {
            hint = format!(" `{name}` belongs in the [target] table.");
        } else if table == "[target] " && name == "url" {
            hint = " A target is a file calsync writes: give its `path`; publish the file with \
                    a web server for subscribers."
                .to_owned();
        }
        return config_error(format!(
            "Invalid config file {shown}{at}: unknown key `{dotted}`.{hint} Valid keys {}are: \
             {}. Remove or rename it (keys are case-sensitive).",
            if table.is_empty() {
                "at the top level ".to_owned()
            } else {
                format!("in {table}")
            },
            valid.join(", "),
        ));
    }
    let msg = one_line(msg);
    config_error(format!(
        "Invalid config file {shown}{at}: {msg}. Fix the file so that it is valid TOML with the \
         keys described in calsync's documentation."
    ))
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

/// The valid name closest to a misspelt one, if it is close.
fn closest<'a>(name: &str, valid: &[&'a str]) -> Option<&'a str> {
    valid
        .iter()
        .map(|v| (edit_distance(name, v.trim_matches(['[', ']'])), *v))
        .filter(|(d, v)| *d <= 2.max(v.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Collapses a multi-line library message into one line.
fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

// ---------------------------------------------------------------------------
// Resolution

fn config_error(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Failure::Config(msg.into()))
}

fn origin_of(origins: &BTreeMap<&'static str, Origin>, key: &str) -> Origin {
    origins.get(key).copied().unwrap_or(Origin::Default)
}

fn builtin_url(s: &str) -> anyhow::Result<Url> {
    Url::parse(s).map_err(|e| anyhow::anyhow!("built-in endpoint {s} does not parse: {e}"))
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

struct Resolver<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
    file: Option<&'a LoadedFile>,
    origins: BTreeMap<&'static str, Origin>,
}

impl<'a> Resolver<'a> {
    /// The values set for `key` in the environment and the file, in order of
    /// precedence. Each is checked, so a bad value in the file is reported
    /// even when the environment overrides it.
    fn candidates(&self, key: &'static Key) -> Vec<Found<'a>> {
        let mut out = Vec::new();
        let from_env = key
            .env
            .and_then(|var| (self.env)(var).map(|v| (var, v)))
            .or_else(|| key.seed.and_then(|var| (self.env)(var).map(|v| (var, v))));
        if let Some((var, value)) = from_env {
            out.push(Found {
                key: key.name,
                raw: Raw::Text(value),
                origin: Origin::Env(var),
                place: format!("(from the environment variable {var})"),
                fix: format!("Correct or unset the environment variable {var}"),
                base: None,
            });
        }
        if let Some(file) = self.file
            && let Some(v) = file.data.get(key.name)
        {
            let (line, col) = line_col(&file.text, v.span().start);
            let shown = file.path.display();
            out.push(Found {
                key: key.name,
                raw: Raw::Toml(v.get_ref()),
                origin: Origin::File,
                place: format!("(in {shown}, line {line}, column {col})"),
                fix: format!("Correct it in {shown}, or remove the key to use the default"),
                base: file.path.parent(),
            });
        }
        out
    }

    fn get<T>(
        &mut self,
        key: &'static Key,
        flag: Option<T>,
        parse: impl Fn(&Found<'a>) -> anyhow::Result<T>,
    ) -> anyhow::Result<Option<T>> {
        let mut chosen = flag.map(|v| (v, Origin::Flag));
        for found in self.candidates(key) {
            let value = parse(&found)?;
            if chosen.is_none() {
                chosen = Some((value, found.origin));
            }
        }
        let (value, origin) = match chosen {
            Some((v, o)) => (Some(v), o),
            None => (None, Origin::Default),
        };
        self.origins.insert(key.name, origin);
        Ok(value)
    }

    /// The `.ics` source's location: `source.path` or `source.url`, which
    /// are one setting. The environment wins over the file as a whole (a URL
    /// in the environment replaces a path in the file); one layer setting
    /// both is an error. Every value found is checked.
    fn source_location(&mut self) -> anyhow::Result<Option<IcsLocation>> {
        let paths = self.candidates(&SOURCE_PATH);
        let urls = self.candidates(&SOURCE_URL);
        let mut layers: Vec<(Origin, Option<&Found<'a>>, Option<&Found<'a>>)> = Vec::new();
        for origin_is_env in [true, false] {
            let pick = |v: &'_ [Found<'a>]| -> Option<usize> {
                v.iter()
                    .position(|f| matches!(f.origin, Origin::Env(_)) == origin_is_env)
            };
            let p = pick(&paths).map(|i| &paths[i]);
            let u = pick(&urls).map(|i| &urls[i]);
            if let Some(origin) = p.or(u).map(|f| f.origin) {
                layers.push((origin, p, u));
            }
        }
        let mut chosen: Option<(IcsLocation, &'static str, Origin)> = None;
        for (_, p, u) in layers {
            let location = match (p, u) {
                (Some(p), Some(u)) => {
                    return Err(config_error(format!(
                        "Invalid configuration: both `source.path` {} and `source.url` {} are \
                         set, but an .ics source is one file or one URL. Remove one of them.",
                        p.place, u.place
                    )));
                }
                (Some(p), None) => (IcsLocation::Path(p.path()?), "source.path", p.origin),
                (None, Some(u)) => (u.ics_url()?, "source.url", u.origin),
                (None, None) => continue,
            };
            if chosen.is_none() {
                chosen = Some(location);
            }
        }
        self.origins.insert("source.path", Origin::Default);
        self.origins.insert("source.url", Origin::Default);
        Ok(chosen.map(|(location, key, origin)| {
            self.origins.insert(key, origin);
            location
        }))
    }

    fn get_or<T>(
        &mut self,
        key: &'static Key,
        default: T,
        parse: impl Fn(&Found<'a>) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        self.get_or_flag(key, None, default, parse)
    }

    fn get_or_flag<T>(
        &mut self,
        key: &'static Key,
        flag: Option<T>,
        default: T,
        parse: impl Fn(&Found<'a>) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        Ok(self.get(key, flag, parse)?.unwrap_or(default))
    }
}

enum Raw<'a> {
    /// From the environment: always text.
    Text(String),
    /// From the file: typed.
    Toml(&'a Value),
}

/// One value set for one key, with where it was set, for parsing and messages.
struct Found<'a> {
    key: &'static str,
    raw: Raw<'a>,
    origin: Origin,
    /// "(from the environment variable X)" or "(in FILE, line L, column C)".
    place: String,
    /// How to fix a bad value, one sentence without the full stop.
    fix: String,
    /// The directory of the config file, for relative paths in it.
    base: Option<&'a Path>,
}

impl Found<'_> {
    fn is_secret(&self) -> bool {
        self.key == "client_secret"
    }

    /// The value as shown in a message (never a secret's value).
    fn shown(&self) -> String {
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
    fn bad(&self, expected: &str) -> anyhow::Error {
        self.error(&format!("is {}, but it must be {expected}", self.shown()))
    }

    fn error(&self, problem: &str) -> anyhow::Error {
        config_error(format!(
            "Invalid configuration: `{}` {} {problem}. {}.",
            self.key, self.place, self.fix
        ))
    }

    /// A non-empty string.
    fn string(&self) -> anyhow::Result<String> {
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
    fn id_string(&self) -> anyhow::Result<String> {
        let s = self.string()?;
        if s.chars().any(char::is_whitespace) {
            return Err(self.bad("an identifier without spaces or line breaks (a GUID or domain)"));
        }
        Ok(s)
    }

    /// A whole number of days from `min` to [`MAX_WINDOW_DAYS`].
    fn days(&self, min: u32) -> anyhow::Result<u32> {
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
    fn boolean(&self) -> anyhow::Result<bool> {
        match &self.raw {
            Raw::Text(s) => {
                parse_bool(s).ok_or_else(|| self.bad("true or false (or 1/0, yes/no, on/off)"))
            }
            Raw::Toml(Value::Boolean(b)) => Ok(*b),
            Raw::Toml(_) => Err(self.bad("true or false, without quotes")),
        }
    }

    /// A number from 0 to 1.
    fn fraction(&self) -> anyhow::Result<f64> {
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
    fn url(&self, need_path: bool) -> anyhow::Result<Url> {
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
    /// [`crate::cli::parse_duration`]), at least a second.
    fn duration(&self) -> anyhow::Result<std::time::Duration> {
        let expected =
            "a duration in quotes such as \"24h\", \"90m\" or \"1d12h\" (units s, m, h, d, w)";
        let s = match &self.raw {
            Raw::Text(s) => s,
            Raw::Toml(Value::String(s)) => s,
            Raw::Toml(_) => return Err(self.bad(expected)),
        };
        crate::cli::parse_duration(s).map_err(|_| self.bad(expected))
    }

    /// `graph` or `ics`.
    fn kind(&self) -> anyhow::Result<Kind> {
        let s = self.string()?;
        Kind::parse(&s).ok_or_else(|| {
            self.bad("\"graph\" (a Microsoft 365 calendar) or \"ics\" (an iCalendar file)")
        })
    }

    /// The URL of an `.ics` source: `https://` (or `webcal://`, read as
    /// https), `http://` only on a loopback host, no user name or password.
    fn ics_url(&self) -> anyhow::Result<IcsLocation> {
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

    /// A path (a directory or a file). Relative paths in the file are
    /// relative to the file's directory; relative paths in the environment
    /// stay relative, to the working directory.
    fn path(&self) -> anyhow::Result<PathBuf> {
        let p = PathBuf::from(self.string()?);
        Ok(match self.base {
            Some(base) if p.is_relative() => base.join(p),
            _ => p,
        })
    }

    /// An array of non-empty strings.
    fn strings(&self) -> anyhow::Result<Vec<String>> {
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
    fn list_of<T>(
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
    fn regex(&self) -> anyhow::Result<Regex> {
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
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.trim_end_matches('.').eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Where a `[source]`/`[target]` key can be set, for messages.
fn side_hint(file: Option<&LoadedFile>, table: &str, var: &str) -> String {
    match file {
        Some(f) => format!("the [{table}] table of {} (or {var})", f.path.display()),
        None => format!("a [{table}] table in the config file (or {var})"),
    }
}

/// The source from its kind and location.
fn source_spec(
    kind: Kind,
    location: Option<IcsLocation>,
    origins: &BTreeMap<&'static str, Origin>,
    file: Option<&LoadedFile>,
) -> anyhow::Result<SourceSpec> {
    let kind_origin = origin_of(origins, "source.kind");
    match (kind, location) {
        (Kind::Graph, None) => Ok(SourceSpec::Graph),
        (Kind::Ics, Some(location)) => Ok(SourceSpec::Ics(location)),
        (Kind::Ics, None) => Err(config_error(format!(
            "Configuration incomplete: `source.kind` is \"ics\" (from {kind_origin}), but \
             neither `source.path` nor `source.url` says which calendar to read. Set \
             `path = \"internal.ics\"` (a file; relative to the config file) or \
             `url = \"https://…/calendar.ics\"` in {}.",
            side_hint(file, "source", "CALSYNC_SOURCE_PATH / CALSYNC_SOURCE_URL")
        ))),
        (Kind::Graph, Some(_)) => {
            let key = if origin_of(origins, "source.path") == Origin::Default {
                "source.url"
            } else {
                "source.path"
            };
            Err(config_error(format!(
                "Invalid configuration: `{key}` is set (from {}), but `source.kind` is \
                 \"graph\" (from {kind_origin}), which reads `source_calendar` through \
                 Microsoft Graph and no file. Set `kind = \"ics\"` in {} to read the \
                 .ics file, or remove `{key}`.",
                origin_of(origins, key),
                side_hint(file, "source", "CALSYNC_SOURCE_KIND=ics")
            )))
        }
    }
}

/// The target from its kind, file and calendar name.
fn target_spec(
    kind: Kind,
    path: Option<PathBuf>,
    name: Option<String>,
    target_calendar: &str,
    origins: &BTreeMap<&'static str, Origin>,
    file: Option<&LoadedFile>,
) -> anyhow::Result<TargetSpec> {
    let kind_origin = origin_of(origins, "target.kind");
    match (kind, path) {
        (Kind::Ics, Some(path)) => Ok(TargetSpec::Ics {
            path,
            name: name.unwrap_or_else(|| target_calendar.to_owned()),
        }),
        (Kind::Ics, None) => Err(config_error(format!(
            "Configuration incomplete: `target.kind` is \"ics\" (from {kind_origin}), but \
             `target.path` is not set, so calsync does not know which file to publish into. \
             Set `path = \"public.ics\"` (relative to the config file) in {}.",
            side_hint(file, "target", "CALSYNC_TARGET_PATH")
        ))),
        (Kind::Graph, path) => {
            let key = if path.is_some() {
                "target.path"
            } else if name.is_some() {
                "target.name"
            } else {
                return Ok(TargetSpec::Graph);
            };
            Err(config_error(format!(
                "Invalid configuration: `{key}` is set (from {}), but `target.kind` is \
                 \"graph\" (from {kind_origin}), which writes to `target_calendar` through \
                 Microsoft Graph and no file. Set `kind = \"ics\"` in {} to publish an .ics \
                 file, or remove `{key}`.",
                origin_of(origins, key),
                side_hint(file, "target", "CALSYNC_TARGET_KIND=ics")
            )))
        }
    }
}

/// Whether two configured paths name the same file, as far as can be told
/// without looking at the file system.
fn same_path(a: &Path, b: &Path) -> bool {
    let clean = |p: &Path| -> PathBuf { p.components().collect() };
    clean(a) == clean(b)
}

/// Booleans as accepted in the environment.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn describe(v: &Value) -> String {
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

fn shorten(s: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::collections::HashMap;

    /// An environment with a HOME and whatever pairs are given.
    fn env_of(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        let mut m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        m.entry("HOME".to_owned())
            .or_insert_with(|| "/nonexistent-home".to_owned());
        m
    }

    fn load_with(flags: &FlagOverrides, env: &HashMap<String, String>) -> anyhow::Result<Settings> {
        load(flags, &|k| env.get(k).cloned())
    }

    struct TempConfig {
        _dir: tempfile::TempDir,
        path: PathBuf,
    }

    fn file_with(text: &str) -> TempConfig {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        TempConfig { _dir: dir, path }
    }

    fn with_file(path: &Path) -> FlagOverrides {
        FlagOverrides {
            config: Some(path.to_path_buf()),
            ..FlagOverrides::default()
        }
    }

    /// The message of a config failure; panics on success or another kind.
    fn config_failure(r: anyhow::Result<Settings>) -> String {
        let err = match r {
            Ok(s) => panic!("expected a config error, got {s:?}"),
            Err(e) => e,
        };
        match err.downcast_ref::<Failure>() {
            Some(Failure::Config(msg)) => {
                assert!(!msg.contains('\n'), "not one paragraph: {msg}");
                msg.clone()
            }
            other => panic!("expected Failure::Config, got {other:?} ({err:#})"),
        }
    }

    #[test]
    fn defaults_with_no_file() {
        let s = load_with(&FlagOverrides::default(), &env_of(&[])).unwrap();
        assert_eq!(s.config_path, None);
        assert_eq!(s.tenant_id, None);
        assert_eq!(s.source_calendar, "Calendar");
        assert_eq!(s.target_calendar, "Public Calendar");
        assert_eq!((s.past_days, s.cutoff_days), (0, 1825));
        assert!(!s.dry_run);
        assert_eq!(s.cloud, Cloud::Global);
        assert_eq!(s.graph_url.as_str(), "https://graph.microsoft.com/v1.0");
        assert_eq!(s.graph_base(), "https://graph.microsoft.com/v1.0");
        assert_eq!(s.authority_base(), "https://login.microsoftonline.com");
        assert_eq!(s.token_store, TokenStore::Keyring);
        assert_eq!(
            s.state_dir,
            PathBuf::from("/nonexistent-home/.local/state/calsync")
        );
        assert_eq!(s.max_delete_fraction, 0.25);
        assert_eq!(s.full_sync_interval, DEFAULT_FULL_SYNC_INTERVAL);
        assert_eq!(s.policy.filter.sensitivity, vec![Sensitivity::Normal]);
        assert!(s.policy.filter.skip_cancelled);
        assert_eq!(s.policy.copy, CopyPolicy::default());
        assert_eq!(s.mailbox_or_me(), "me");
        assert_eq!(s.target_mailbox_or_source(), "me");
        assert!(!s.uses_client_credentials());
        for key in [
            "config",
            "tenant_id",
            "past_days",
            "graph_url",
            "state_dir",
            "filter.sensitivity",
            "copy.body",
        ] {
            assert_eq!(s.origins.get(key), Some(&Origin::Default), "{key}");
        }
        assert_eq!(s.origins.get("client_secret"), Some(&Origin::Default));
        assert_eq!(s.origins.len(), TOP_KEYS.len() + SIDE_KEYS.len() + 9 + 1);
        assert_eq!(s.source, SourceSpec::Graph);
        assert_eq!(s.target, TargetSpec::Graph);
        assert!(s.uses_graph());
    }

    #[test]
    fn precedence_table() {
        let cfg = file_with(
            r#"
tenant_id = "file-tenant"
client_id = "file-client"
mailbox = "file@example.org"
source_calendar = "File Source"
past_days = 3
cutoff_days = 30
dry_run = false
token_store = "file"

[filter]
sensitivity = ["normal", "personal"]

[copy]
location = true
"#,
        );
        let env = env_of(&[
            // CALSYNC_ name wins over the seed name.
            ("CALSYNC_TENANT_ID", "env-tenant"),
            ("TENANT_ID", "seed-tenant"),
            // Seed name alone beats the file.
            ("CLIENT_ID", "seed-client"),
            // An empty CALSYNC_ value is unset, so the seed applies.
            ("CALSYNC_MAILBOX", ""),
            ("SHARED_MAILBOX", "seed@example.org"),
            ("CALSYNC_CUTOFF_DAYS", "60"),
            ("SYNC_CUTOFF_DAYS", "90"),
            ("DRY_RUN_MODE", "Yes"),
            ("TARGET_CALENDAR", "Seed Target"),
            // Empty values are unset.
            ("CALSYNC_PAST_DAYS", ""),
        ]);
        let flags = FlagOverrides {
            config: Some(cfg.path.clone()),
            dry_run: Some(false),
            ..FlagOverrides::default()
        };
        let s = load_with(&flags, &env).unwrap();
        let o = |k: &str| s.origins.get(k).copied();

        let table: [(&str, String, Option<Origin>); 13] = [
            (
                "tenant_id",
                format!("{:?}", s.tenant_id),
                Some(Origin::Env("CALSYNC_TENANT_ID")),
            ),
            (
                "client_id",
                format!("{:?}", s.client_id),
                Some(Origin::Env("CLIENT_ID")),
            ),
            (
                "mailbox",
                format!("{:?}", s.mailbox),
                Some(Origin::Env("SHARED_MAILBOX")),
            ),
            (
                "source_calendar",
                s.source_calendar.clone(),
                Some(Origin::File),
            ),
            (
                "target_calendar",
                s.target_calendar.clone(),
                Some(Origin::Env("TARGET_CALENDAR")),
            ),
            ("past_days", s.past_days.to_string(), Some(Origin::File)),
            (
                "cutoff_days",
                s.cutoff_days.to_string(),
                Some(Origin::Env("CALSYNC_CUTOFF_DAYS")),
            ),
            ("dry_run", s.dry_run.to_string(), Some(Origin::Flag)),
            ("token_store", s.token_store.to_string(), Some(Origin::File)),
            ("cloud", s.cloud.to_string(), Some(Origin::Default)),
            (
                "filter.sensitivity",
                format!("{:?}", s.policy.filter.sensitivity),
                Some(Origin::File),
            ),
            (
                "copy.location",
                s.policy.copy.location.to_string(),
                Some(Origin::File),
            ),
            (
                "config",
                s.config_path.is_some().to_string(),
                Some(Origin::Flag),
            ),
        ];
        let expected = [
            "Some(\"env-tenant\")",
            "Some(\"seed-client\")",
            "Some(\"seed@example.org\")",
            "File Source",
            "Seed Target",
            "3",
            "60",
            "false",
            "file",
            "global",
            "[Normal, Personal]",
            "true",
            "true",
        ];
        for ((key, got, origin), want) in table.iter().zip(expected) {
            assert_eq!(got, want, "value of {key}");
            assert_eq!(&o(key), origin, "origin of {key}");
        }
        assert!(!s.policy.copy.body);
        assert_eq!(o("copy.body"), Some(Origin::Default));

        // Without the flag, the env seed DRY_RUN_MODE=Yes applies.
        let flags = with_file(&cfg.path);
        let s = load_with(&flags, &env).unwrap();
        assert!(s.dry_run);
        assert_eq!(s.origins["dry_run"], Origin::Env("DRY_RUN_MODE"));
        // CALSYNC_DRY_RUN beats the seed.
        let mut env2 = env.clone();
        env2.insert("CALSYNC_DRY_RUN".into(), "off".into());
        let s = load_with(&flags, &env2).unwrap();
        assert!(!s.dry_run);
        assert_eq!(s.origins["dry_run"], Origin::Env("CALSYNC_DRY_RUN"));
    }

    #[test]
    fn file_from_env_and_default_location() {
        let cfg = file_with("tenant_id = \"t\"\n");
        let env = env_of(&[("CALSYNC_CONFIG", cfg.path.to_str().unwrap())]);
        let s = load_with(&FlagOverrides::default(), &env).unwrap();
        assert_eq!(s.tenant_id.as_deref(), Some("t"));
        assert_eq!(s.config_path.as_deref(), Some(cfg.path.as_path()));
        assert_eq!(s.origins["config"], Origin::Env("CALSYNC_CONFIG"));

        // The default file under XDG_CONFIG_HOME is read when present.
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("calsync")).unwrap();
        std::fs::write(
            dir.path().join("calsync/config.toml"),
            "client_id = \"c\"\n",
        )
        .unwrap();
        let env = env_of(&[
            ("XDG_CONFIG_HOME", dir.path().to_str().unwrap()),
            ("XDG_STATE_HOME", "/state"),
        ]);
        let s = load_with(&FlagOverrides::default(), &env).unwrap();
        assert_eq!(s.client_id.as_deref(), Some("c"));
        assert_eq!(s.origins["config"], Origin::Default);
        assert_eq!(s.state_dir, PathBuf::from("/state/calsync"));
        assert_eq!(s.origins["client_id"], Origin::File);
    }

    #[test]
    fn missing_named_file_is_an_error_missing_default_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.toml");

        let msg = config_failure(load_with(&with_file(&missing), &env_of(&[])));
        assert!(
            msg.contains("nope.toml") && msg.contains("--config"),
            "{msg}"
        );

        let env = env_of(&[("CALSYNC_CONFIG", missing.to_str().unwrap())]);
        let msg = config_failure(load_with(&FlagOverrides::default(), &env));
        assert!(
            msg.contains("nope.toml") && msg.contains("CALSYNC_CONFIG"),
            "{msg}"
        );

        // The default location, empty: fine.
        let env = env_of(&[("XDG_CONFIG_HOME", dir.path().to_str().unwrap())]);
        let s = load_with(&FlagOverrides::default(), &env).unwrap();
        assert_eq!(s.config_path, None);
    }

    #[test]
    fn unreadable_file_is_an_error() {
        // A directory where the file should be cannot be read: an error even
        // at the default location, never "missing".
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("calsync/config.toml")).unwrap();
        let env = env_of(&[("XDG_CONFIG_HOME", dir.path().to_str().unwrap())]);
        let msg = config_failure(load_with(&FlagOverrides::default(), &env));
        assert!(msg.contains("Cannot read config file"), "{msg}");

        let cfg = file_with("");
        std::fs::write(&cfg.path, [0xff, 0xfe, 0x00]).unwrap();
        let msg = config_failure(load_with(&with_file(&cfg.path), &env_of(&[])));
        assert!(msg.contains("config.toml"), "{msg}");
    }

    #[test]
    fn unknown_keys_are_named() {
        let cases = [
            (
                "cuttoff_days = 3\n",
                "`cuttoff_days`",
                "Did you mean `cutoff_days`?",
            ),
            (
                "[filter]\nsensitivty = []\n",
                "`filter.sensitivty`",
                "`sensitivity`",
            ),
            (
                "[copy]\nattendees = true\n",
                "`copy.attendees`",
                "location, body, categories",
            ),
            (
                "[filter]\ntenant_id = \"x\"\n",
                "`filter.tenant_id`",
                "top-level key",
            ),
            (
                "skip_cancelled = true\n",
                "`skip_cancelled`",
                "[filter] table",
            ),
            ("[fliter]\n", "`fliter`", "Did you mean `[filter]`?"),
        ];
        for (text, named, hint) in cases {
            let cfg = file_with(text);
            let msg = config_failure(load_with(&with_file(&cfg.path), &env_of(&[])));
            assert!(msg.contains(named), "{text:?}: {msg}");
            assert!(msg.contains(hint), "{text:?}: {msg}");
            assert!(msg.contains("line "), "{text:?}: {msg}");
            assert!(msg.contains(cfg.path.to_str().unwrap()), "{text:?}: {msg}");
        }
    }

    #[test]
    fn syntax_errors_give_file_and_line() {
        let cfg = file_with("tenant_id = \"a\"\npast_days = = 3\n");
        let msg = config_failure(load_with(&with_file(&cfg.path), &env_of(&[])));
        assert!(msg.contains("line 2"), "{msg}");
        assert!(msg.contains(cfg.path.to_str().unwrap()), "{msg}");

        let cfg = file_with("filter = 3\n");
        let msg = config_failure(load_with(&with_file(&cfg.path), &env_of(&[])));
        assert!(msg.contains("[filter] table"), "{msg}");
    }

    #[test]
    fn bad_values_name_the_key() {
        // (file text, key named, words expected in the message)
        let file_cases: &[(&str, &str, &str)] = &[
            ("past_days = -1", "past_days", "from 0 to 36500"),
            ("past_days = \"3\"", "past_days", "whole number"),
            ("cutoff_days = 0", "cutoff_days", "from 1 to 36500"),
            ("cutoff_days = 1.5", "cutoff_days", "whole number"),
            (
                "max_delete_fraction = 1.5",
                "max_delete_fraction",
                "from 0 to 1",
            ),
            (
                "max_delete_fraction = -0.1",
                "max_delete_fraction",
                "from 0 to 1",
            ),
            (
                "max_delete_fraction = nan",
                "max_delete_fraction",
                "from 0 to 1",
            ),
            ("full_sync_interval = 3600", "full_sync_interval", "24h"),
            (
                "full_sync_interval = \"0s\"",
                "full_sync_interval",
                "duration",
            ),
            (
                "full_sync_interval = \"1 day\"",
                "full_sync_interval",
                "units",
            ),
            (
                "cloud = \"azure\"",
                "cloud",
                "global, usgov, usgov-dod, china",
            ),
            ("token_store = \"vault\"", "token_store", "keyring, file"),
            ("dry_run = \"yes\"", "dry_run", "true or false"),
            ("tenant_id = \"a b\"", "tenant_id", "without spaces"),
            ("client_id = \"\"", "client_id", "empty"),
            ("tenant_id = 42", "tenant_id", "string"),
            ("source_calendar = \" \"", "source_calendar", "empty"),
            ("graph_url = \"not a url\"", "graph_url", "does not parse"),
            (
                "graph_url = \"https://graph.microsoft.com\"",
                "graph_url",
                "/v1.0",
            ),
            (
                "graph_url = \"ftp://graph.microsoft.com/v1.0\"",
                "graph_url",
                "https://",
            ),
            (
                "graph_url = \"https://graph.microsoft.com/v1.0?x=1\"",
                "graph_url",
                "query",
            ),
            (
                "authority_url = \"https://u:p@login.example\"",
                "authority_url",
                "password",
            ),
            ("state_dir = \"\"", "state_dir", "empty"),
            (
                "[filter]\nsensitivity = [\"public\"]",
                "filter.sensitivity",
                "normal, personal",
            ),
            (
                "[filter]\nsensitivity = []",
                "filter.sensitivity",
                "non-empty array",
            ),
            (
                "[filter]\nsensitivity = \"normal\"",
                "filter.sensitivity",
                "array",
            ),
            (
                "[filter]\nshow_as = [\"busy\", \"away\"]",
                "filter.show_as",
                "\"away\"",
            ),
            (
                "[filter]\nsubject_exclude = \"(unclosed\"",
                "filter.subject_exclude",
                "regular expression",
            ),
            (
                "[filter]\ninclude_categories = [\"\"]",
                "filter.include_categories",
                "non-empty strings",
            ),
            (
                "[filter]\nexclude_categories = [1]",
                "filter.exclude_categories",
                "strings",
            ),
            (
                "[filter]\nskip_cancelled = 1",
                "filter.skip_cancelled",
                "true or false",
            ),
            ("[copy]\nbody = \"no\"", "copy.body", "true or false"),
            (
                "past_days = 20000\ncutoff_days = 20000",
                "past_days",
                "36500",
            ),
            (
                "source_calendar = \"Cal\"\ntarget_calendar = \"cal\"",
                "target_calendar",
                "onto itself",
            ),
        ];
        for (text, key, words) in file_cases {
            let cfg = file_with(text);
            let msg = config_failure(load_with(&with_file(&cfg.path), &env_of(&[])));
            assert!(msg.contains(&format!("`{key}`")), "{text:?}: {msg}");
            assert!(msg.contains(words), "{text:?}: {msg}");
        }

        let env_cases: &[(&str, &str, &str, &str)] = &[
            ("CALSYNC_PAST_DAYS", "x", "past_days", "CALSYNC_PAST_DAYS"),
            ("SYNC_CUTOFF_DAYS", "0", "cutoff_days", "SYNC_CUTOFF_DAYS"),
            ("CALSYNC_CUTOFF_DAYS", "-5", "cutoff_days", "whole number"),
            ("DRY_RUN_MODE", "maybe", "dry_run", "DRY_RUN_MODE"),
            (
                "CALSYNC_MAX_DELETE_FRACTION",
                "25%",
                "max_delete_fraction",
                "from 0 to 1",
            ),
            ("CALSYNC_CLOUD", "mars", "cloud", "usgov-dod"),
            ("CALSYNC_TOKEN_STORE", "x", "token_store", "keyring"),
            (
                "CALSYNC_GRAPH_URL",
                "http://graph.example.org/v1.0",
                "graph_url",
                "loopback",
            ),
            (
                "CALSYNC_AUTHORITY_URL",
                "http://10.0.0.1",
                "authority_url",
                "https://",
            ),
            ("TENANT_ID", "a\tb", "tenant_id", "TENANT_ID"),
            ("CALSYNC_CLIENT_ID", " x", "client_id", "without spaces"),
        ];
        for (var, value, key, words) in env_cases {
            let env = env_of(&[(var, value)]);
            let msg = config_failure(load_with(&FlagOverrides::default(), &env));
            assert!(msg.contains(&format!("`{key}`")), "{var}={value}: {msg}");
            assert!(msg.contains(words), "{var}={value}: {msg}");
            assert!(msg.contains(var), "{var}={value}: {msg}");
        }
    }

    #[test]
    fn bad_file_value_is_reported_even_when_env_overrides_it() {
        let cfg = file_with("past_days = \"ten\"\n");
        let env = env_of(&[("CALSYNC_PAST_DAYS", "3")]);
        let msg = config_failure(load_with(&with_file(&cfg.path), &env));
        assert!(
            msg.contains("`past_days`") && msg.contains("line 1, column 13"),
            "{msg}"
        );
    }

    #[test]
    fn env_booleans() {
        for (text, want) in [
            ("true", true),
            ("TRUE", true),
            ("1", true),
            ("yes", true),
            ("On", true),
            ("false", false),
            ("0", false),
            ("No", false),
            ("off", false),
            ("FaLsE", false),
        ] {
            let s = load_with(
                &FlagOverrides::default(),
                &env_of(&[("CALSYNC_DRY_RUN", text)]),
            )
            .unwrap();
            assert_eq!(s.dry_run, want, "{text}");
        }
    }

    #[test]
    fn http_only_on_loopback() {
        for ok in [
            "http://127.0.0.1:8080/v1.0",
            "http://127.10.0.3/v1.0",
            "http://localhost:9/v1.0/",
            "http://LOCALHOST/v1.0",
            "http://[::1]:8080/v1.0",
            "https://graph.example.org/beta",
        ] {
            let s = load_with(
                &FlagOverrides::default(),
                &env_of(&[("CALSYNC_GRAPH_URL", ok)]),
            )
            .unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert!(!s.graph_base().ends_with('/'), "{ok}");
            assert_eq!(s.origins["graph_url"], Origin::Env("CALSYNC_GRAPH_URL"));
        }
        for bad in [
            "http://graph.microsoft.com/v1.0",
            "http://128.0.0.1/v1.0",
            "http://[::2]/v1.0",
            "http://localhost.example.org/v1.0",
            "http://10.0.0.1/v1.0",
        ] {
            let msg = config_failure(load_with(
                &FlagOverrides::default(),
                &env_of(&[("CALSYNC_GRAPH_URL", bad)]),
            ));
            assert!(
                msg.contains("`graph_url`") && msg.contains("loopback"),
                "{bad}: {msg}"
            );
        }
        // Trailing slashes are stripped.
        let s = load_with(
            &FlagOverrides::default(),
            &env_of(&[
                ("CALSYNC_GRAPH_URL", "http://127.0.0.1:3000/v1.0///"),
                ("CALSYNC_AUTHORITY_URL", "http://127.0.0.1:3000/"),
            ]),
        )
        .unwrap();
        assert_eq!(s.graph_url.as_str(), "http://127.0.0.1:3000/v1.0");
        assert_eq!(s.authority_base(), "http://127.0.0.1:3000");
        let s = load_with(
            &FlagOverrides::default(),
            &env_of(&[("CALSYNC_AUTHORITY_URL", "http://127.0.0.1:3000/auth/")]),
        )
        .unwrap();
        assert_eq!(s.authority_base(), "http://127.0.0.1:3000/auth");
    }

    #[test]
    fn cloud_endpoints() {
        let cases = [
            (
                Cloud::Global,
                "https://graph.microsoft.com/v1.0",
                "https://login.microsoftonline.com",
            ),
            (
                Cloud::UsGov,
                "https://graph.microsoft.us/v1.0",
                "https://login.microsoftonline.us",
            ),
            (
                Cloud::UsGovDod,
                "https://dod-graph.microsoft.us/v1.0",
                "https://login.microsoftonline.us",
            ),
            (
                Cloud::China,
                "https://microsoftgraph.chinacloudapi.cn/v1.0",
                "https://login.chinacloudapi.cn",
            ),
        ];
        for (cloud, graph, login) in cases {
            let env = env_of(&[("CALSYNC_CLOUD", cloud.as_str())]);
            let s = load_with(&FlagOverrides::default(), &env).unwrap();
            assert_eq!(s.cloud, cloud);
            assert_eq!(s.graph_base(), graph);
            assert_eq!(s.authority_base(), login);
            assert_eq!(s.origins["graph_url"], Origin::Env("CALSYNC_CLOUD"));
        }
        // An explicit endpoint from a lower layer still beats the cloud's.
        let cfg = file_with("graph_url = \"https://graph.example.test/v1.0\"\n");
        let env = env_of(&[("CALSYNC_CLOUD", "USGov")]);
        let s = load_with(&with_file(&cfg.path), &env).unwrap();
        assert_eq!(s.cloud, Cloud::UsGov);
        assert_eq!(s.graph_base(), "https://graph.example.test/v1.0");
        assert_eq!(s.authority_base(), "https://login.microsoftonline.us");
        assert_eq!(s.origins["graph_url"], Origin::File);
    }

    #[test]
    fn state_dir_rules() {
        // Relative to the file when given in the file.
        let cfg = file_with("state_dir = \"state\"\n");
        let s = load_with(&with_file(&cfg.path), &env_of(&[])).unwrap();
        assert_eq!(s.state_dir, cfg.path.parent().unwrap().join("state"));
        // A relative XDG_STATE_HOME is ignored (XDG spec): HOME applies.
        let s = load_with(
            &FlagOverrides::default(),
            &env_of(&[("XDG_STATE_HOME", "rel"), ("HOME", "/h")]),
        )
        .unwrap();
        assert_eq!(s.state_dir, PathBuf::from("/h/.local/state/calsync"));
        // No XDG_STATE_HOME and no HOME: ask for state_dir.
        let msg = config_failure(load(&FlagOverrides::default(), &|_| None));
        assert!(
            msg.contains("`state_dir`") && msg.contains("CALSYNC_STATE_DIR"),
            "{msg}"
        );
        let s = load(&FlagOverrides::default(), &|k| {
            (k == "CALSYNC_STATE_DIR").then(|| "/var/lib/calsync".to_owned())
        })
        .unwrap();
        assert_eq!(s.state_dir, PathBuf::from("/var/lib/calsync"));
    }

    #[test]
    fn timeouts_follow_flag_env_file_default() {
        use std::time::Duration;
        let cfg = file_with("request_timeout = \"20s\"\nrun_timeout = \"10m\"\n");
        let file = load_with(&with_file(&cfg.path), &env_of(&[])).unwrap();
        assert_eq!(file.request_timeout, Duration::from_secs(20));
        assert_eq!(file.run_timeout, Duration::from_secs(600));
        assert_eq!(file.origins["run_timeout"], Origin::File);
        let env = env_of(&[
            ("CALSYNC_REQUEST_TIMEOUT", "5s"),
            ("CALSYNC_RUN_TIMEOUT", "2m"),
        ]);
        let from_env = load_with(&with_file(&cfg.path), &env).unwrap();
        assert_eq!(from_env.request_timeout, Duration::from_secs(5));
        assert_eq!(from_env.run_timeout, Duration::from_secs(120));
        assert_eq!(
            from_env.origins["request_timeout"],
            Origin::Env("CALSYNC_REQUEST_TIMEOUT")
        );
        let flags = FlagOverrides {
            request_timeout: Some(Duration::from_secs(1)),
            run_timeout: Some(Duration::from_secs(3)),
            ..with_file(&cfg.path)
        };
        let from_flags = load_with(&flags, &env).unwrap();
        assert_eq!(from_flags.request_timeout, Duration::from_secs(1));
        assert_eq!(from_flags.run_timeout, Duration::from_secs(3));
        assert_eq!(from_flags.origins["run_timeout"], Origin::Flag);
        let defaults = load_with(&FlagOverrides::default(), &env_of(&[])).unwrap();
        assert_eq!(defaults.request_timeout, DEFAULT_REQUEST_TIMEOUT);
        assert_eq!(defaults.run_timeout, DEFAULT_RUN_TIMEOUT);
        // A bad value names the key, even when a flag overrides it.
        let bad = file_with("run_timeout = 30\n");
        let msg = config_failure(load_with(&with_file(&bad.path), &env_of(&[])));
        assert!(
            msg.contains("run_timeout") && msg.contains("\"90m\""),
            "{msg}"
        );
    }

    #[test]
    fn full_file_is_accepted() {
        let cfg = file_with(
            r#"
tenant_id = "contoso.onmicrosoft.com"
client_id = "00000000-0000-0000-0000-000000000001"
client_secret = "s3cr3t-value-that-is-long"
mailbox = "events@contoso.org"
source_calendar = "Calendar"
target_calendar = "Public"
target_mailbox = "public@contoso.org"
past_days = 7
cutoff_days = 365
dry_run = true
cloud = "china"
graph_url = "https://graph.example.test/v1.0/"
authority_url = "https://login.example.test"
token_store = "file"
state_dir = "/var/lib/calsync"
max_delete_fraction = 1
full_sync_interval = "6h30m"
request_timeout = "45s"
run_timeout = "1h"

[filter]
sensitivity = ["normal", "personal"]
include_categories = ["Public"]
exclude_categories = ["Internal"]
skip_cancelled = false
show_as = ["busy", "workingElsewhere", "OOF"]
subject_exclude = '(?i)^\s*private:'

[copy]
location = true
body = true
categories = false
"#,
        );
        let s = load_with(&with_file(&cfg.path), &env_of(&[])).unwrap();
        assert_eq!(
            s.client_secret.as_ref().map(|x| x.expose_secret()),
            Some("s3cr3t-value-that-is-long")
        );
        assert!(s.uses_client_credentials());
        s.require_graph().unwrap();
        assert_eq!(s.target_mailbox_or_source(), "public@contoso.org");
        assert_eq!(s.max_delete_fraction, 1.0);
        assert_eq!(
            s.full_sync_interval,
            std::time::Duration::from_secs(6 * 3600 + 1800)
        );
        assert_eq!(s.request_timeout, std::time::Duration::from_secs(45));
        assert_eq!(s.run_timeout, std::time::Duration::from_secs(3600));
        assert_eq!(s.graph_base(), "https://graph.example.test/v1.0");
        let f = &s.policy.filter;
        assert_eq!(f.include_categories, ["Public"]);
        assert_eq!(f.exclude_categories, ["Internal"]);
        assert!(!f.skip_cancelled);
        assert_eq!(
            f.show_as.as_deref(),
            Some(&[ShowAs::Busy, ShowAs::WorkingElsewhere, ShowAs::Oof][..])
        );
        assert!(
            f.subject_exclude
                .as_ref()
                .is_some_and(|r| r.is_match("Private: x"))
        );
        assert!(s.policy.copy.location && s.policy.copy.body && !s.policy.copy.categories);
        for k in TOP_KEYS {
            assert_eq!(s.origins.get(k.name), Some(&Origin::File), "{}", k.name);
        }

        // The secret never shows in Debug.
        let debug = format!("{s:?}");
        assert!(!debug.contains("s3cr3t"), "{debug}");
    }

    #[test]
    fn secret_never_in_errors() {
        let cfg = file_with("client_secret = 12345\n");
        let msg = config_failure(load_with(&with_file(&cfg.path), &env_of(&[])));
        assert!(msg.contains("`client_secret`"), "{msg}");
        let cfg = file_with("client_secret = \"hunter2-secret\"\nfoo = 1\n");
        let msg = config_failure(load_with(&with_file(&cfg.path), &env_of(&[])));
        assert!(!msg.contains("hunter2"), "{msg}");
    }

    #[test]
    fn require_graph_rules() {
        let ok_env = [("CALSYNC_TENANT_ID", "t"), ("CALSYNC_CLIENT_ID", "c")];
        let s = load_with(&FlagOverrides::default(), &env_of(&ok_env)).unwrap();
        s.require_graph().unwrap();

        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("CALSYNC_CLIENT_ID", "c")], "CALSYNC_TENANT_ID"),
            (&[("CALSYNC_TENANT_ID", "t")], "CALSYNC_CLIENT_ID"),
            (
                &[
                    ("TENANT_ID", "t"),
                    ("CLIENT_ID", "c"),
                    ("CLIENT_SECRET", "x"),
                ],
                "CALSYNC_MAILBOX",
            ),
            (
                &[
                    ("TENANT_ID", "t"),
                    ("CLIENT_ID", "c"),
                    ("CLIENT_SECRET", "x"),
                    ("CALSYNC_MAILBOX", "me"),
                ],
                "`mailbox`",
            ),
            (
                &[
                    ("TENANT_ID", "common"),
                    ("CLIENT_ID", "c"),
                    ("CLIENT_SECRET", "x"),
                    ("SHARED_MAILBOX", "a@b.c"),
                ],
                "real tenant",
            ),
        ];
        for (pairs, words) in cases {
            let s = load_with(&FlagOverrides::default(), &env_of(pairs)).unwrap();
            let err = s.require_graph().unwrap_err();
            let msg = match err.downcast_ref::<Failure>() {
                Some(Failure::Config(m)) => m.clone(),
                other => panic!("{other:?}"),
            };
            assert!(msg.contains(words), "{pairs:?}: {msg}");
        }
    }

    #[test]
    fn mask_hides_secrets() {
        assert_eq!(mask("abcdefghijklmnopqrstuvwxyz"), "abc…(masked)");
        assert_eq!(mask("short"), "(masked)");
        assert_eq!(mask(""), "(masked)");
    }

    #[test]
    fn env_var_names_cover_seeds() {
        let names = env_var_names();
        for n in [
            "CALSYNC_CONFIG",
            "CALSYNC_TENANT_ID",
            "TENANT_ID",
            "SHARED_MAILBOX",
            "DRY_RUN_MODE",
        ] {
            assert!(names.contains(&n), "{n}");
        }
    }

    #[test]
    fn ics_sides_from_the_file_are_relative_to_it() {
        let cfg = file_with(
            r#"
state_dir = "state"
source_calendar = "Same"
target_calendar = "Same"

[source]
kind = "ICS"
path = "internal.ics"

[target]
kind = "ics"
path = "out/public.ics"
"#,
        );
        let s = load_with(&with_file(&cfg.path), &env_of(&[])).unwrap();
        let dir = cfg.path.parent().unwrap();
        assert_eq!(
            s.source,
            SourceSpec::Ics(IcsLocation::Path(dir.join("internal.ics")))
        );
        // The name defaults to target_calendar; the same calendar names on
        // both sides mean nothing when neither is Graph.
        assert_eq!(
            s.target,
            TargetSpec::Ics {
                path: dir.join("out/public.ics"),
                name: "Same".to_owned()
            }
        );
        assert_eq!(s.state_dir, dir.join("state"));
        assert!(!s.uses_graph());
        assert_eq!((s.source_kind(), s.target_kind()), (Kind::Ics, Kind::Ics));
        for key in ["source.kind", "source.path", "target.kind", "target.path"] {
            assert_eq!(s.origins[key], Origin::File, "{key}");
        }
        assert_eq!(s.origins["source.url"], Origin::Default);
        assert_eq!(s.origins["target.name"], Origin::Default);

        // Mixed sides need the Graph keys of their Graph side only.
        let cfg = file_with("[target]\nkind = \"ics\"\npath = \"p.ics\"\nname = \"Events\"\n");
        let s = load_with(&with_file(&cfg.path), &env_of(&[])).unwrap();
        assert!(s.uses_graph());
        assert_eq!(s.source, SourceSpec::Graph);
        assert!(matches!(&s.target, TargetSpec::Ics { name, .. } if name == "Events"));
    }

    #[test]
    fn ics_sides_from_the_environment() {
        let env = env_of(&[
            ("CALSYNC_SOURCE_KIND", "ics"),
            ("CALSYNC_SOURCE_PATH", "cal/internal.ics"),
            ("CALSYNC_TARGET_KIND", "ics"),
            ("CALSYNC_TARGET_PATH", "public.ics"),
            ("CALSYNC_TARGET_NAME", "Public events"),
        ]);
        let s = load_with(&FlagOverrides::default(), &env).unwrap();
        // Relative to the working directory.
        assert_eq!(
            s.source,
            SourceSpec::Ics(IcsLocation::Path(PathBuf::from("cal/internal.ics")))
        );
        assert_eq!(
            s.target,
            TargetSpec::Ics {
                path: PathBuf::from("public.ics"),
                name: "Public events".to_owned()
            }
        );
        assert_eq!(s.origins["source.path"], Origin::Env("CALSYNC_SOURCE_PATH"));
        assert_eq!(s.origins["target.name"], Origin::Env("CALSYNC_TARGET_NAME"));

        // A URL in the environment replaces a path in the file; webcal is https.
        let cfg = file_with("[source]\nkind = \"ics\"\npath = \"internal.ics\"\n");
        let env = env_of(&[(
            "CALSYNC_SOURCE_URL",
            "webcal://calendar.example.org/feeds/secret-token/basic.ics?key=abc",
        )]);
        let s = load_with(&with_file(&cfg.path), &env).unwrap();
        let SourceSpec::Ics(IcsLocation::Url(url)) = &s.source else {
            panic!("{:?}", s.source)
        };
        assert_eq!(url.scheme(), "https");
        assert_eq!(s.origins["source.url"], Origin::Env("CALSYNC_SOURCE_URL"));
        assert_eq!(s.origins["source.path"], Origin::Default);
        let shown = IcsLocation::Url(url.clone()).to_string();
        assert!(
            !shown.contains("secret-token") && !shown.contains("abc"),
            "{shown}"
        );
        // Loopback http is fine, as for the endpoints.
        let env = env_of(&[
            ("CALSYNC_SOURCE_KIND", "ics"),
            ("CALSYNC_SOURCE_URL", "http://127.0.0.1:8080/cal.ics"),
        ]);
        load_with(&FlagOverrides::default(), &env).unwrap();
    }

    #[test]
    fn bad_ics_sides_name_the_key_and_the_fix() {
        // (file text, words expected in the message)
        let cases: &[(&str, &[&str])] = &[
            (
                "[source]\nkind = \"caldav\"",
                &["`source.kind`", "line 2", "\"graph\"", "\"ics\""],
            ),
            (
                "[source]\nkind = \"ics\"",
                &[
                    "`source.path`",
                    "`source.url`",
                    "[source] table",
                    "config.toml",
                ],
            ),
            (
                "[source]\nkind = \"ics\"\npath = \"a.ics\"\nurl = \"https://h.example/a.ics\"",
                &[
                    "`source.path`",
                    "`source.url`",
                    "line 3",
                    "line 4",
                    "Remove one",
                ],
            ),
            (
                "[source]\npath = \"a.ics\"",
                &[
                    "`source.path`",
                    "`source.kind`",
                    "kind = \"ics\"",
                    "(or CALSYNC_SOURCE_KIND=ics)",
                ],
            ),
            (
                "[source]\nkind = \"ics\"\nurl = \"http://calendar.example.org/private-SECRET/basic.ics\"",
                &["`source.url`", "loopback", "https://"],
            ),
            (
                "[source]\nkind = \"ics\"\nurl = \"internal.ics\"",
                &["`source.url`", "`source.path`"],
            ),
            (
                "[source]\nkind = \"ics\"\nurl = \"ftp://h.example/a.ics\"",
                &["`source.url`", "https://"],
            ),
            (
                "[source]\nkind = \"ics\"\nurl = \"https://me:pw@h.example/a.ics\"",
                &["`source.url`", "password"],
            ),
            (
                "[source]\nkind = \"ics\"\npath = \"\"",
                &["`source.path`", "empty"],
            ),
            (
                "[target]\nkind = \"ics\"",
                &["`target.path`", "[target] table", "public.ics"],
            ),
            (
                "[target]\nname = \"Public\"",
                &["`target.name`", "`target.kind`", "\"graph\""],
            ),
            (
                "[target]\npath = \"p.ics\"",
                &["`target.path`", "`target.kind`"],
            ),
            (
                "[source]\nkind = \"ics\"\npath = \"same.ics\"\n[target]\nkind = \"ics\"\npath = \"./same.ics\"",
                &["`source.path`", "`target.path`", "the file it reads"],
            ),
            (
                "[source]\nkind = \"ics\"\nfile = \"a.ics\"",
                &["`source.file`", "kind, path, url"],
            ),
            (
                "[target]\nkind = \"ics\"\nurl = \"https://h.example/a.ics\"",
                &["`target.url`", "kind, path, name", "`path`"],
            ),
            (
                "path = \"a.ics\"",
                &["`path`", "[source] table", "[target] table"],
            ),
            (
                "[target]\nstate_dir = \"s\"",
                &["`target.state_dir`", "top-level key"],
            ),
            ("source = \"ics\"", &["[source] table"]),
        ];
        for (text, words) in cases {
            let cfg = file_with(text);
            let msg = config_failure(load_with(&with_file(&cfg.path), &env_of(&[])));
            for w in *words {
                assert!(msg.contains(w), "{text:?}: {w:?} missing from: {msg}");
            }
            assert!(!msg.contains("SECRET") && !msg.contains("pw@"), "{msg}");
        }

        type Pairs<'a> = &'a [(&'a str, &'a str)];
        let env_cases: &[(Pairs, &[&str])] = &[
            (
                &[("CALSYNC_TARGET_KIND", "file")],
                &["`target.kind`", "CALSYNC_TARGET_KIND"],
            ),
            (
                &[
                    ("CALSYNC_SOURCE_KIND", "ics"),
                    ("CALSYNC_SOURCE_PATH", "a.ics"),
                    ("CALSYNC_SOURCE_URL", "https://h.example/a.ics"),
                ],
                &["CALSYNC_SOURCE_PATH", "CALSYNC_SOURCE_URL"],
            ),
            (
                &[("CALSYNC_SOURCE_KIND", "ics")],
                &["CALSYNC_SOURCE_PATH", "CALSYNC_SOURCE_URL"],
            ),
            (
                &[("CALSYNC_SOURCE_PATH", "a.ics")],
                &["`source.path`", "CALSYNC_SOURCE_KIND=ics"],
            ),
        ];
        for (pairs, words) in env_cases {
            let msg = config_failure(load_with(&FlagOverrides::default(), &env_of(pairs)));
            for w in *words {
                assert!(msg.contains(w), "{pairs:?}: {w:?} missing from: {msg}");
            }
        }
    }
}
