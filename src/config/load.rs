//! Loading: the flags, the environment, the config file and the defaults,
//! key by key in the order of the key table, then the rules that involve
//! several keys.

use super::file::{LoadedFile, PairEntry, line_col, read_file};
use super::keys::{KEYS, Key, key};
use super::value::{Found, Raw};
use super::{
    CONFIG_ENV, CalendarRef, Cloud, FlagOverrides, HiddenKnobs, Kind, MAX_WINDOW_DAYS, Origin,
    Settings, SourceSpec, TargetSpec, TokenStore, config_error, default_config_path,
    default_state_dir, origin_of,
};
use crate::ics::IcsLocation;
use crate::policy::{CopyPolicy, FilterPolicy, Policy};
use secrecy::SecretString;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::Url;

/// [`load`] with the process environment.
pub fn load_from_process(flags: &FlagOverrides) -> anyhow::Result<Settings> {
    load(flags, &|k| std::env::var(k).ok())
}

/// Builds the settings from the flags, the environment (`env` looks a
/// variable up; production passes `|k| std::env::var(k).ok()`), the config
/// file and the defaults. Reads the config file and nothing else.
///
/// With `[[pair]]` tables these are the settings of the top level: what
/// the whole run shares (sign-in, endpoints, `state_dir`) and every pair's
/// defaults. The pairs themselves are read by [`super::load_pairs`].
pub fn load(
    flags: &FlagOverrides,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Settings> {
    let env = |k: &str| env(k).filter(|v| !v.is_empty());
    let (file, origins) = open(flags, &env)?;
    settings_for(flags, &env, file.as_ref(), origins, None)
}

/// Which config file, read; and the origin of `config`.
pub(super) fn open(
    flags: &FlagOverrides,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<(Option<LoadedFile>, BTreeMap<&'static str, Origin>)> {
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
    Ok((file, origins))
}

/// The settings of the top level (`pair` is `None`) or of one `[[pair]]`
/// table, named in messages by its label: a key the pair sets wins over
/// every other layer.
pub(super) fn settings_for(
    flags: &FlagOverrides,
    env: &dyn Fn(&str) -> Option<String>,
    file: Option<&LoadedFile>,
    origins: BTreeMap<&'static str, Origin>,
    pair: Option<(&PairEntry, &str)>,
) -> anyhow::Result<Settings> {
    let mut loader = Loader {
        r: Resolver {
            env,
            file,
            pair,
            origins,
        },
        flags,
        d: Draft::new(),
    };
    for key in &KEYS {
        (key.load)(&mut loader, key)?;
    }
    let Loader { r, d, .. } = loader;
    let Draft {
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
        filter,
        copy,
        source_kind,
        source_location,
        target_kind,
        target_path,
        target_name,
        metrics_file,
        metrics_push_url,
        ping_url,
        publish,
    } = d;
    let mut origins = r.origins;
    let source = source_spec(source_kind, source_location, &origins, file)?;
    let target = target_spec(
        target_kind,
        target_path,
        target_name,
        &target_calendar,
        &origins,
        file,
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
            default_state_dir(env).ok_or_else(|| {
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
        config_path: file.map(|f| f.path.clone()),
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
        policy: Policy { filter, copy },
        metrics_file,
        metrics_push_url,
        ping_url,
        publish,
        pair: None,
        merged: Vec::new(),
        hidden: hidden_knobs(env),
        origins,
    })
}

/// What [`load`] has read so far; each key's row in the key table fills in
/// its field. The values here before that are placeholders, except for the
/// filter policy, whose defaults the rows of `[filter]` keep when unset.
pub(super) struct Draft {
    pub(super) tenant_id: Option<String>,
    pub(super) client_id: Option<String>,
    pub(super) client_secret: Option<SecretString>,
    pub(super) mailbox: Option<String>,
    pub(super) source_calendar: String,
    pub(super) target_calendar: String,
    pub(super) target_mailbox: Option<String>,
    pub(super) past_days: u32,
    pub(super) cutoff_days: u32,
    pub(super) dry_run: bool,
    pub(super) cloud: Cloud,
    pub(super) graph_url: Option<Url>,
    pub(super) authority_url: Option<Url>,
    pub(super) token_store: TokenStore,
    pub(super) state_dir: Option<PathBuf>,
    pub(super) max_delete_fraction: f64,
    pub(super) full_sync_interval: Duration,
    pub(super) request_timeout: Duration,
    pub(super) run_timeout: Duration,
    pub(super) filter: FilterPolicy,
    pub(super) copy: CopyPolicy,
    pub(super) source_kind: Kind,
    pub(super) source_location: Option<IcsLocation>,
    pub(super) target_kind: Kind,
    pub(super) target_path: Option<PathBuf>,
    pub(super) target_name: Option<String>,
    pub(super) metrics_file: Option<PathBuf>,
    pub(super) metrics_push_url: Option<Url>,
    pub(super) ping_url: Option<Url>,
    pub(super) publish: super::PublishSettings,
}

impl Draft {
    fn new() -> Draft {
        Draft {
            tenant_id: None,
            client_id: None,
            client_secret: None,
            mailbox: None,
            source_calendar: String::new(),
            target_calendar: String::new(),
            target_mailbox: None,
            past_days: 0,
            cutoff_days: 0,
            dry_run: false,
            cloud: Cloud::Global,
            graph_url: None,
            authority_url: None,
            token_store: TokenStore::Keyring,
            state_dir: None,
            max_delete_fraction: 0.0,
            full_sync_interval: Duration::ZERO,
            request_timeout: Duration::ZERO,
            run_timeout: Duration::ZERO,
            filter: FilterPolicy::default(),
            copy: CopyPolicy::default(),
            source_kind: Kind::Graph,
            source_location: None,
            target_kind: Kind::Graph,
            target_path: None,
            target_name: None,
            metrics_file: None,
            metrics_push_url: None,
            ping_url: None,
            publish: super::PublishSettings::default(),
        }
    }
}

/// What a key's `load` works with: where values come from, and the
/// settings read so far.
pub(super) struct Loader<'a> {
    pub(super) r: Resolver<'a>,
    pub(super) flags: &'a FlagOverrides,
    pub(super) d: Draft,
}

/// The knobs of [`HiddenKnobs`], each as it reads or else `None`.
fn hidden_knobs(env: &dyn Fn(&str) -> Option<String>) -> HiddenKnobs {
    let today = env("CALSYNC_TODAY")
        .and_then(|d| chrono::NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").ok());
    HiddenKnobs {
        today,
        graph_rate_limit: env("CALSYNC_GRAPH_RATE_LIMIT").and_then(|v| rate_limit(&v)),
    }
}

/// `OPS/SECONDS`, e.g. `60/1` or `600/1.5s`: a positive count and a
/// positive window, which is cut to a day.
fn rate_limit(value: &str) -> Option<(u32, Duration)> {
    let (ops, secs) = value.trim().split_once('/')?;
    let ops: u32 = ops.trim().parse().ok()?;
    let secs: f64 = secs.trim().trim_end_matches('s').parse().ok()?;
    (ops > 0 && secs.is_finite() && secs > 0.0)
        .then(|| (ops, Duration::from_secs_f64(secs.min(86_400.0))))
}

fn builtin_url(s: &str) -> anyhow::Result<Url> {
    Url::parse(s).map_err(|e| anyhow::anyhow!("built-in endpoint {s} does not parse: {e}"))
}

pub(super) struct Resolver<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
    file: Option<&'a LoadedFile>,
    /// The `[[pair]]` table being read, and how messages name it.
    pair: Option<(&'a PairEntry, &'a str)>,
    origins: BTreeMap<&'static str, Origin>,
}

impl<'a> Resolver<'a> {
    /// The values set for `key` in the environment and the file, in order of
    /// precedence. Each is checked, so a bad value in the file is reported
    /// even when the environment overrides it.
    pub(super) fn candidates(&self, key: &'static Key) -> Vec<Found<'a>> {
        let mut out = Vec::new();
        if let (Some(file), Some((pair, label))) = (self.file, self.pair)
            && let Some(v) = pair.values.get(key.name)
        {
            let (line, col) = line_col(&file.text, v.span().start);
            let shown = file.path.display();
            out.push(Found {
                key: key.name,
                raw: Raw::Toml(v.get_ref()),
                origin: Origin::File,
                place: format!("(in {shown}, line {line}, column {col}, {label})"),
                fix: format!(
                    "Correct it in {shown}, or remove it from {label} to use the top-level value"
                ),
                base: file.path.parent(),
                pair: true,
            });
        }
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
                pair: false,
            });
        }
        if let Some(file) = self.file
            && let Some(v) = file.values.get(key.name)
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
                pair: false,
            });
        }
        out
    }

    pub(super) fn get<T>(
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
    pub(super) fn source_location(&mut self) -> anyhow::Result<Option<IcsLocation>> {
        let (Some(path_key), Some(url_key)) = (key("source.path"), key("source.url")) else {
            return Err(anyhow::anyhow!(
                "the key table lacks source.path or source.url"
            ));
        };
        let paths = self.candidates(path_key);
        let urls = self.candidates(url_key);
        let mut layers: Vec<(Origin, Option<&Found<'a>>, Option<&Found<'a>>)> = Vec::new();
        // The layers in order of precedence: a pair, the environment, the
        // file's top level.
        let layer = |f: &Found<'_>| match (f.pair, f.origin) {
            (true, _) => 0,
            (false, Origin::Env(_)) => 1,
            _ => 2,
        };
        for wanted in 0..3 {
            let pick =
                |v: &'_ [Found<'a>]| -> Option<usize> { v.iter().position(|f| layer(f) == wanted) };
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

    pub(super) fn get_or<T>(
        &mut self,
        key: &'static Key,
        default: T,
        parse: impl Fn(&Found<'a>) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        self.get_or_flag(key, None, default, parse)
    }

    pub(super) fn get_or_flag<T>(
        &mut self,
        key: &'static Key,
        flag: Option<T>,
        default: T,
        parse: impl Fn(&Found<'a>) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        Ok(self.get(key, flag, parse)?.unwrap_or(default))
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
