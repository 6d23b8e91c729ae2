//! The configuration keys, one row each: where a key is written, which
//! environment variables set it, its default, how its value is read, what
//! `status` shows of it and whether it changes what a sync writes.
//!
//! Everything else that lists keys is made from [`KEYS`]: loading, the
//! unknown-key check of the file, `status`, the key list of `--help` and the
//! man page, and the incremental state's fingerprint. A new key is one new
//! row here, a field of [`Settings`] to keep its value, and its entry in
//! `examples/config.toml` (a test checks that one).

use super::load::Loader;
use super::{Cloud, Settings, SourceSpec, TargetSpec, TokenStore, mask};
use crate::ics::{IcsLocation, redact_url};
use crate::model::{Sensitivity, ShowAs};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

/// The table of the config file a key is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// Above the first `[table]` header.
    Top,
    /// `[filter]`: which source events count as public (file only).
    Filter,
    /// `[copy]`: which optional fields a copy carries (file only).
    Copy,
    /// `[source]`: where events are read from.
    Source,
    /// `[target]`: where the copies go.
    Target,
    /// `[publish]`: the agenda web page and JSON feed written after a
    /// successful sync.
    Publish,
}

impl Table {
    /// The tables, in the order of the file's sections.
    pub const ALL: [Table; 6] = [
        Table::Top,
        Table::Filter,
        Table::Copy,
        Table::Source,
        Table::Target,
        Table::Publish,
    ];

    /// The table's name in the file; empty for the top level.
    pub fn name(self) -> &'static str {
        match self {
            Table::Top => "",
            Table::Filter => "filter",
            Table::Copy => "copy",
            Table::Source => "source",
            Table::Target => "target",
            Table::Publish => "publish",
        }
    }

    /// The header, e.g. `[filter]`; empty for the top level.
    pub fn header(self) -> &'static str {
        match self {
            Table::Top => "",
            Table::Filter => "[filter]",
            Table::Copy => "[copy]",
            Table::Source => "[source]",
            Table::Target => "[target]",
            Table::Publish => "[publish]",
        }
    }

    /// The table whose name this is (not the top level).
    pub fn named(name: &str) -> Option<Table> {
        Table::ALL
            .into_iter()
            .find(|t| *t != Table::Top && t.name() == name)
    }

    /// What the table is, for the key list of `--help`. A table whose keys
    /// have no environment variables is listed with its keys' names first.
    pub fn help(self) -> &'static str {
        match self {
            Table::Top => "",
            Table::Filter => "which source events count as public.",
            Table::Copy => "optional fields copied (default false).",
            Table::Source => {
                "kind: \"graph\" (default; source_calendar through Graph) or \"ics\", then path \
                 (an .ics file) or url (https://…)."
            }
            Table::Target => {
                "kind: \"graph\" (default; target_calendar through Graph) or \"ics\", then path \
                 (the .ics file to publish) and name (its calendar name, default \
                 target_calendar)."
            }
            Table::Publish => {
                "after each successful sync: html (an agenda web page) and json (a feed) of the \
                 public events, with title, time_zone, subscribe_url, days and template."
            }
        }
    }

    /// Where `status` lists the table's keys: the two sides first, as they
    /// decide what the rest means, then the file's order.
    pub fn status_rank(self) -> u8 {
        match self {
            Table::Source => 0,
            Table::Target => 1,
            Table::Top => 2,
            Table::Filter => 3,
            Table::Copy => 4,
            Table::Publish => 5,
        }
    }
}

/// One configuration key.
pub struct Key {
    /// The name as messages and `status` write it: dotted for a key in a
    /// table (`filter.sensitivity`).
    pub name: &'static str,
    pub table: Table,
    /// The `CALSYNC_` environment variable, if the key has one.
    pub env: Option<&'static str>,
    /// The seed service's name for the same setting, read when `env` is not
    /// set.
    pub seed: Option<&'static str>,
    /// The command-line option that sets it too, if any.
    pub flag: Option<&'static str>,
    /// The default as it would be written in the file; `None` when the key
    /// is unset by default or its default depends on other settings.
    pub default: Option<&'static str>,
    /// What the key is, in one line. For a top-level key this is its text
    /// in `--help` and the man page.
    pub doc: &'static str,
    /// Whether the key changes which events are read, which count as public
    /// or what their copies hold: such keys are in the incremental state's
    /// fingerprint, so that changing one makes the next sync a full one.
    pub affects_plan: bool,
    /// Whether a `[[pair]]` table may set the key for its pair
    /// (docs/pairs.md): the keys that say what a pair reads, writes, keeps
    /// and deletes. The others (sign-in, endpoints, state dir, timeouts) are
    /// the run's.
    pub per_pair: bool,
    /// Reads the key's value (flag, environment, file or default) into the
    /// settings being built.
    pub(super) load: fn(&mut Loader<'_>, &'static Key) -> anyhow::Result<()>,
    /// The value in effect as `status` shows it: secrets masked, `null`
    /// when unset.
    pub show: fn(&Settings) -> Value,
}

impl Key {
    /// The name within its table (`sensitivity` for `filter.sensitivity`).
    pub fn short_name(&self) -> &'static str {
        self.name
            .split_once('.')
            .map_or(self.name, |(_, short)| short)
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key").field("name", &self.name).finish()
    }
}

/// The key of this (dotted) name.
pub fn key(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

/// The keys of one table, in order.
pub fn keys_of(table: Table) -> impl Iterator<Item = &'static Key> {
    KEYS.iter().filter(move |k| k.table == table)
}

/// The key written as `short` in `table`.
pub fn key_in(table: Table, short: &str) -> Option<&'static Key> {
    keys_of(table).find(|k| k.short_name() == short)
}

/// The key written as `short` in `table` of a `[[pair]]` table, if a pair
/// may set it.
pub fn pair_key_in(table: Table, short: &str) -> Option<&'static Key> {
    key_in(table, short).filter(|k| k.per_pair)
}

/// The keys in the order `status` lists them.
pub fn status_order() -> Vec<&'static Key> {
    let mut keys: Vec<&'static Key> = KEYS.iter().collect();
    keys.sort_by_key(|k| k.table.status_rank());
    keys
}

/// One line of the key list of `--help` and the man page: the key (or a
/// `[table]`), its environment variables and options, what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpRow {
    pub key: &'static str,
    pub env: String,
    pub text: String,
}

/// The key list of `--help`: every top-level key, then one line per table.
pub fn help_rows() -> Vec<HelpRow> {
    let mut rows: Vec<HelpRow> = keys_of(Table::Top)
        .map(|k| HelpRow {
            key: k.name,
            env: k
                .env
                .into_iter()
                .chain(k.flag)
                .collect::<Vec<_>>()
                .join(", "),
            text: k.doc.to_owned(),
        })
        .collect();
    for table in Table::ALL.into_iter().filter(|t| *t != Table::Top) {
        let env: Vec<&str> = keys_of(table).filter_map(|k| k.env).collect();
        let text = if env.is_empty() {
            let names: Vec<&str> = keys_of(table).map(Key::short_name).collect();
            format!("{}: {}", names.join(", "), table.help())
        } else {
            table.help().to_owned()
        };
        rows.push(HelpRow {
            key: table.header(),
            env: env.join(", "),
            text,
        });
    }
    rows
}

fn durations(d: std::time::Duration) -> Value {
    json!(super::format_duration(d))
}

fn words<T>(items: &[T], word: fn(&T) -> &'static str) -> Value {
    json!(items.iter().map(word).collect::<Vec<_>>())
}

/// Every key, in the order they are read: a bad value of an earlier key is
/// the one reported when several are bad.
pub static KEYS: [Key; 44] = [
    Key {
        name: "tenant_id",
        table: Table::Top,
        env: Some("CALSYNC_TENANT_ID"),
        seed: Some("TENANT_ID"),
        flag: None,
        default: None,
        doc: "the Microsoft Entra tenant (GUID or domain).",
        affects_plan: false,
        per_pair: false,
        load: |l, k| {
            l.d.tenant_id = l.r.get(k, None, |f| f.id_string())?;
            Ok(())
        },
        show: |s| json!(s.tenant_id),
    },
    Key {
        name: "client_id",
        table: Table::Top,
        env: Some("CALSYNC_CLIENT_ID"),
        seed: Some("CLIENT_ID"),
        flag: None,
        default: None,
        doc: "the application (client) ID of the app registration.",
        affects_plan: false,
        per_pair: false,
        load: |l, k| {
            l.d.client_id = l.r.get(k, None, |f| f.id_string())?;
            Ok(())
        },
        show: |s| json!(s.client_id),
    },
    Key {
        name: "client_secret",
        table: Table::Top,
        env: Some("CALSYNC_CLIENT_SECRET"),
        seed: Some("CLIENT_SECRET"),
        flag: None,
        default: None,
        doc: "the app secret; when set, calsync signs in as the application instead of as a \
              user. Keep it out of the file.",
        affects_plan: false,
        per_pair: false,
        load: |l, k| {
            l.d.client_secret = l.r.get(k, None, |f| f.string())?.map(Into::into);
            Ok(())
        },
        show: |s| json!(s.client_secret.as_ref().map(|v| mask(v.expose_secret()))),
    },
    Key {
        name: "mailbox",
        table: Table::Top,
        env: Some("CALSYNC_MAILBOX"),
        seed: Some("SHARED_MAILBOX"),
        flag: None,
        default: None,
        doc: "the mailbox of the source calendar (default: the signed-in user; required with \
              client_secret).",
        affects_plan: true,
        per_pair: true,
        load: |l, k| {
            l.d.mailbox = l.r.get(k, None, |f| f.string())?;
            Ok(())
        },
        show: |s| json!(s.mailbox),
    },
    Key {
        name: "source_calendar",
        table: Table::Top,
        env: Some("CALSYNC_SOURCE_CALENDAR"),
        seed: Some("SOURCE_CALENDAR"),
        flag: None,
        // Unset, it is the mailbox's default calendar, whatever its name.
        default: None,
        doc: "the calendar read: \"default\" (the mailbox's default calendar, whatever its \
              name), \"id:<Graph id>\" or a display name (default: the default calendar).",
        affects_plan: true,
        per_pair: true,
        load: |l, k| {
            l.d.source_calendar = l.r.get_or(k, "Calendar".to_owned(), |f| f.string())?;
            Ok(())
        },
        show: |s| json!(s.source_calendar),
    },
    Key {
        name: "target_calendar",
        table: Table::Top,
        env: Some("CALSYNC_TARGET_CALENDAR"),
        seed: Some("TARGET_CALENDAR"),
        flag: None,
        default: Some("\"Public Calendar\""),
        doc: "the public calendar written, named the same ways (default \"Public Calendar\").",
        affects_plan: true,
        per_pair: true,
        load: |l, k| {
            l.d.target_calendar =
                l.r.get_or(k, "Public Calendar".to_owned(), |f| f.string())?;
            Ok(())
        },
        show: |s| json!(s.target_calendar),
    },
    Key {
        name: "target_mailbox",
        table: Table::Top,
        env: Some("CALSYNC_TARGET_MAILBOX"),
        seed: None,
        flag: None,
        default: None,
        doc: "the mailbox of the target (default: mailbox).",
        affects_plan: true,
        per_pair: true,
        load: |l, k| {
            l.d.target_mailbox = l.r.get(k, None, |f| f.string())?;
            Ok(())
        },
        show: |s| json!(s.target_mailbox),
    },
    Key {
        name: "past_days",
        table: Table::Top,
        env: Some("CALSYNC_PAST_DAYS"),
        seed: None,
        flag: None,
        default: Some("0"),
        doc: "days before today that are still synced (default 0).",
        affects_plan: true,
        per_pair: true,
        load: |l, k| {
            l.d.past_days = l.r.get_or(k, 0, |f| f.days(0))?;
            Ok(())
        },
        show: |s| json!(s.past_days),
    },
    Key {
        name: "cutoff_days",
        table: Table::Top,
        env: Some("CALSYNC_CUTOFF_DAYS"),
        seed: Some("SYNC_CUTOFF_DAYS"),
        flag: None,
        default: Some("1825"),
        doc: "days after today that are synced (default 1825).",
        affects_plan: true,
        per_pair: true,
        load: |l, k| {
            l.d.cutoff_days = l.r.get_or(k, 1825, |f| f.days(1))?;
            Ok(())
        },
        show: |s| json!(s.cutoff_days),
    },
    Key {
        name: "dry_run",
        table: Table::Top,
        env: Some("CALSYNC_DRY_RUN"),
        seed: Some("DRY_RUN_MODE"),
        flag: None,
        default: Some("false"),
        doc: "true makes every sync a dry run (default false).",
        affects_plan: false,
        per_pair: false,
        load: |l, k| {
            let flag = l.flags.dry_run;
            l.d.dry_run = l.r.get_or_flag(k, flag, false, |f| f.boolean())?;
            Ok(())
        },
        show: |s| json!(s.dry_run),
    },
    Key {
        name: "cloud",
        table: Table::Top,
        env: Some("CALSYNC_CLOUD"),
        seed: None,
        flag: None,
        default: Some("\"global\""),
        doc: "global, usgov, usgov-dod or china; sets both endpoints.",
        // It decides graph_url, which is in the fingerprint.
        affects_plan: true,
        per_pair: false,
        load: |l, k| {
            l.d.cloud = l.r.get_or(k, Cloud::Global, |f| {
                let s = f.string()?;
                Cloud::parse(&s).ok_or_else(|| f.bad("one of global, usgov, usgov-dod, china"))
            })?;
            Ok(())
        },
        show: |s| json!(s.cloud.to_string()),
    },
    Key {
        name: "graph_url",
        table: Table::Top,
        env: Some("CALSYNC_GRAPH_URL"),
        seed: None,
        flag: None,
        // The cloud's.
        default: None,
        doc: "the Microsoft Graph root, version included.",
        affects_plan: true,
        per_pair: false,
        load: |l, k| {
            l.d.graph_url = l.r.get(k, None, |f| f.url(true))?;
            Ok(())
        },
        show: |s| json!(s.graph_base()),
    },
    Key {
        name: "authority_url",
        table: Table::Top,
        env: Some("CALSYNC_AUTHORITY_URL"),
        seed: None,
        flag: None,
        // The cloud's.
        default: None,
        doc: "the sign-in authority.",
        affects_plan: false,
        per_pair: false,
        load: |l, k| {
            l.d.authority_url = l.r.get(k, None, |f| f.url(false))?;
            Ok(())
        },
        show: |s| json!(s.authority_base()),
    },
    Key {
        name: "token_store",
        table: Table::Top,
        env: Some("CALSYNC_TOKEN_STORE"),
        seed: None,
        flag: None,
        default: Some("\"keyring\""),
        doc: "where `calsync login` keeps the sign-in: keyring (default) or file (tokens.json, \
              mode 0600, in the state dir; for servers without a keyring). App-only runs keep \
              no token.",
        affects_plan: false,
        per_pair: false,
        load: |l, k| {
            l.d.token_store = l.r.get_or(k, TokenStore::Keyring, |f| {
                let s = f.string()?;
                TokenStore::parse(&s).ok_or_else(|| f.bad("one of keyring, file"))
            })?;
            Ok(())
        },
        show: |s| json!(s.token_store.to_string()),
    },
    Key {
        name: "state_dir",
        table: Table::Top,
        env: Some("CALSYNC_STATE_DIR"),
        seed: None,
        flag: None,
        // From XDG_STATE_HOME or HOME.
        default: None,
        doc: "where the lock, history and incremental state live (default \
              $XDG_STATE_HOME/calsync); it must belong to the user calsync runs as and be \
              closed to others.",
        affects_plan: false,
        per_pair: false,
        load: |l, k| {
            l.d.state_dir = l.r.get(k, None, |f| f.path())?;
            Ok(())
        },
        show: |s| json!(s.state_dir.display().to_string()),
    },
    Key {
        name: "max_delete_fraction",
        table: Table::Top,
        env: Some("CALSYNC_MAX_DELETE_FRACTION"),
        seed: None,
        flag: None,
        default: Some("0.25"),
        doc: "the largest share of the copies one run may delete without --force (default \
              0.25).",
        affects_plan: false,
        per_pair: true,
        load: |l, k| {
            l.d.max_delete_fraction = l.r.get_or(k, 0.25, |f| f.fraction())?;
            Ok(())
        },
        show: |s| json!(s.max_delete_fraction),
    },
    Key {
        name: "full_sync_interval",
        table: Table::Top,
        env: Some("CALSYNC_FULL_SYNC_INTERVAL"),
        seed: None,
        flag: None,
        default: Some("\"24h\""),
        doc: "how often a sync reads both calendars in full, repairing copies edited or \
              deleted by hand (default 24h).",
        affects_plan: false,
        per_pair: false,
        load: |l, k| {
            l.d.full_sync_interval =
                l.r.get_or(k, super::DEFAULT_FULL_SYNC_INTERVAL, |f| f.duration())?;
            Ok(())
        },
        show: |s| durations(s.full_sync_interval),
    },
    Key {
        name: "request_timeout",
        table: Table::Top,
        env: Some("CALSYNC_REQUEST_TIMEOUT"),
        seed: None,
        flag: Some("--request-timeout"),
        default: Some("\"30s\""),
        doc: "how long one request may go unanswered before it is retried, at most twice \
              (default 30s).",
        affects_plan: false,
        per_pair: false,
        load: |l, k| {
            let flag = l.flags.request_timeout;
            l.d.request_timeout =
                l.r.get_or_flag(k, flag, super::DEFAULT_REQUEST_TIMEOUT, |f| f.duration())?;
            Ok(())
        },
        show: |s| durations(s.request_timeout),
    },
    Key {
        name: "run_timeout",
        table: Table::Top,
        env: Some("CALSYNC_RUN_TIMEOUT"),
        seed: None,
        flag: Some("--run-timeout"),
        default: Some("\"30m\""),
        doc: "how long a sync or validate may run before it stops at a safe point and exits 1 \
              (default 30m).",
        affects_plan: false,
        per_pair: false,
        load: |l, k| {
            let flag = l.flags.run_timeout;
            l.d.run_timeout =
                l.r.get_or_flag(k, flag, super::DEFAULT_RUN_TIMEOUT, |f| f.duration())?;
            Ok(())
        },
        show: |s| durations(s.run_timeout),
    },
    Key {
        name: "metrics_file",
        table: Table::Top,
        env: Some("CALSYNC_METRICS_FILE"),
        seed: None,
        flag: Some("--metrics-file"),
        default: None,
        doc: "after each sync and validate, write the run's metrics to this file in the \
              Prometheus text format, for node_exporter's textfile collector (name it *.prom).",
        affects_plan: false,
        per_pair: false,
        load: |l, k| {
            let flag = l.flags.metrics_file.clone();
            l.d.metrics_file = l.r.get(k, flag, |f| f.path())?;
            Ok(())
        },
        show: |s| match &s.metrics_file {
            Some(p) => json!(p.display().to_string()),
            None => Value::Null,
        },
    },
    Key {
        name: "metrics_push_url",
        table: Table::Top,
        env: Some("CALSYNC_METRICS_PUSH_URL"),
        seed: None,
        flag: Some("--metrics-push-url"),
        default: None,
        doc: "after each sync and validate, push the run's metrics to this Prometheus \
              Pushgateway (http(s)://host:9091); a failed push is a warning only.",
        affects_plan: false,
        per_pair: false,
        load: |l, k| {
            let flag = l.flags.metrics_push_url.as_deref();
            l.d.metrics_push_url = monitor_key(l, k, flag)?;
            Ok(())
        },
        // The user name and password a URL may carry are never shown.
        show: |s| {
            s.metrics_push_url
                .as_ref()
                .map_or(Value::Null, |u| json!(redact_url(u)))
        },
    },
    Key {
        name: "ping_url",
        table: Table::Top,
        env: Some("CALSYNC_PING_URL"),
        seed: None,
        flag: Some("--ping-url"),
        default: None,
        doc: "a dead-man's switch pinged when a sync starts and ends (healthchecks.io, \
              Cronitor or Uptime Kuma; README, \"Monitoring\"); a failed ping is a warning \
              only.",
        affects_plan: false,
        per_pair: false,
        load: |l, k| {
            let flag = l.flags.ping_url.as_deref();
            l.d.ping_url = monitor_key(l, k, flag)?;
            Ok(())
        },
        // Every part of a ping URL's path or query may be its secret token:
        // only the host is shown.
        show: |s| {
            s.ping_url
                .as_ref()
                .map_or(Value::Null, |u| json!(host_only(u)))
        },
    },
    Key {
        name: "filter.sensitivity",
        table: Table::Filter,
        env: None,
        seed: None,
        flag: None,
        default: Some("[\"normal\"]"),
        doc: "the sensitivities that count as public.",
        affects_plan: true,
        per_pair: true,
        load: |l, k| {
            let default = std::mem::take(&mut l.d.filter.sensitivity);
            l.d.filter.sensitivity = l.r.get_or(k, default, |f| {
                f.list_of(
                    "normal, personal, private, confidential",
                    Sensitivity::parse,
                )
            })?;
            Ok(())
        },
        show: |s| words(&s.policy.filter.sensitivity, Sensitivity::as_str),
    },
    Key {
        name: "filter.include_categories",
        table: Table::Filter,
        env: None,
        seed: None,
        flag: None,
        default: Some("[]"),
        doc: "when not empty, an event needs one of these categories.",
        affects_plan: true,
        per_pair: true,
        load: |l, k| {
            let default = std::mem::take(&mut l.d.filter.include_categories);
            l.d.filter.include_categories = l.r.get_or(k, default, |f| f.strings())?;
            Ok(())
        },
        show: |s| json!(s.policy.filter.include_categories),
    },
    Key {
        name: "filter.exclude_categories",
        table: Table::Filter,
        env: None,
        seed: None,
        flag: None,
        default: Some("[]"),
        doc: "an event with any of these categories is not public.",
        affects_plan: true,
        per_pair: true,
        load: |l, k| {
            let default = std::mem::take(&mut l.d.filter.exclude_categories);
            l.d.filter.exclude_categories = l.r.get_or(k, default, |f| f.strings())?;
            Ok(())
        },
        show: |s| json!(s.policy.filter.exclude_categories),
    },
    Key {
        name: "filter.skip_cancelled",
        table: Table::Filter,
        env: None,
        seed: None,
        flag: None,
        default: Some("true"),
        doc: "leave out cancelled events.",
        affects_plan: true,
        per_pair: true,
        load: |l, k| {
            let default = l.d.filter.skip_cancelled;
            l.d.filter.skip_cancelled = l.r.get_or(k, default, |f| f.boolean())?;
            Ok(())
        },
        show: |s| json!(s.policy.filter.skip_cancelled),
    },
    Key {
        name: "filter.show_as",
        table: Table::Filter,
        env: None,
        seed: None,
        flag: None,
        default: None,
        doc: "when set, only events shown as one of these are public.",
        affects_plan: true,
        per_pair: true,
        load: |l, k| {
            l.d.filter.show_as = l.r.get(k, None, |f| {
                f.list_of(
                    "free, tentative, busy, oof, workingElsewhere, unknown",
                    ShowAs::parse,
                )
            })?;
            Ok(())
        },
        show: |s| match &s.policy.filter.show_as {
            Some(v) => words(v, ShowAs::as_str),
            None => Value::Null,
        },
    },
    Key {
        name: "filter.subject_exclude",
        table: Table::Filter,
        env: None,
        seed: None,
        flag: None,
        default: None,
        doc: "leave out events whose subject matches this regular expression.",
        affects_plan: true,
        per_pair: true,
        load: |l, k| {
            l.d.filter.subject_exclude = l.r.get(k, None, |f| f.regex())?;
            Ok(())
        },
        show: |s| json!(s.policy.filter.subject_exclude.as_ref().map(|r| r.as_str())),
    },
    Key {
        name: "copy.location",
        table: Table::Copy,
        env: None,
        seed: None,
        flag: None,
        default: Some("false"),
        doc: "copy the location's display name.",
        affects_plan: true,
        per_pair: true,
        load: |l, k| {
            l.d.copy.location = l.r.get_or(k, false, |f| f.boolean())?;
            Ok(())
        },
        show: |s| json!(s.policy.copy.location),
    },
    Key {
        name: "copy.body",
        table: Table::Copy,
        env: None,
        seed: None,
        flag: None,
        default: Some("false"),
        doc: "copy the body (description).",
        affects_plan: true,
        per_pair: true,
        load: |l, k| {
            l.d.copy.body = l.r.get_or(k, false, |f| f.boolean())?;
            Ok(())
        },
        show: |s| json!(s.policy.copy.body),
    },
    Key {
        name: "copy.categories",
        table: Table::Copy,
        env: None,
        seed: None,
        flag: None,
        default: Some("false"),
        doc: "copy the categories.",
        affects_plan: true,
        per_pair: true,
        load: |l, k| {
            l.d.copy.categories = l.r.get_or(k, false, |f| f.boolean())?;
            Ok(())
        },
        show: |s| json!(s.policy.copy.categories),
    },
    Key {
        name: "source.kind",
        table: Table::Source,
        env: Some("CALSYNC_SOURCE_KIND"),
        seed: None,
        flag: None,
        default: Some("\"graph\""),
        doc: "\"graph\" (source_calendar through Microsoft Graph) or \"ics\".",
        affects_plan: true,
        per_pair: true,
        load: |l, k| {
            l.d.source_kind = l.r.get_or(k, super::Kind::Graph, |f| f.kind())?;
            Ok(())
        },
        show: |s| json!(s.source_kind().as_str()),
    },
    Key {
        name: "source.path",
        table: Table::Source,
        env: Some("CALSYNC_SOURCE_PATH"),
        seed: None,
        flag: None,
        default: None,
        doc: "with kind = \"ics\": the .ics file to read.",
        affects_plan: true,
        per_pair: true,
        // One setting with source.url: read together.
        load: |l, _| {
            l.d.source_location = l.r.source_location()?;
            Ok(())
        },
        show: |s| match &s.source {
            SourceSpec::Ics(IcsLocation::Path(p)) => json!(p.display().to_string()),
            _ => Value::Null,
        },
    },
    Key {
        name: "source.url",
        table: Table::Source,
        env: Some("CALSYNC_SOURCE_URL"),
        seed: None,
        flag: None,
        default: None,
        doc: "with kind = \"ics\", instead of path: the https:// address of the calendar.",
        affects_plan: true,
        per_pair: true,
        // Read with source.path.
        load: |_, _| Ok(()),
        // A published calendar's URL often holds a secret token: shown in
        // part only.
        show: |s| match &s.source {
            SourceSpec::Ics(IcsLocation::Url(u)) => json!(redact_url(u)),
            _ => Value::Null,
        },
    },
    Key {
        name: "target.kind",
        table: Table::Target,
        env: Some("CALSYNC_TARGET_KIND"),
        seed: None,
        flag: None,
        default: Some("\"graph\""),
        doc: "\"graph\" (target_calendar through Microsoft Graph) or \"ics\".",
        affects_plan: true,
        per_pair: true,
        load: |l, k| {
            l.d.target_kind = l.r.get_or(k, super::Kind::Graph, |f| f.kind())?;
            Ok(())
        },
        show: |s| json!(s.target_kind().as_str()),
    },
    Key {
        name: "target.path",
        table: Table::Target,
        env: Some("CALSYNC_TARGET_PATH"),
        seed: None,
        flag: None,
        default: None,
        doc: "with kind = \"ics\": the .ics file calsync publishes into.",
        affects_plan: true,
        per_pair: true,
        load: |l, k| {
            l.d.target_path = l.r.get(k, None, |f| f.path())?;
            Ok(())
        },
        show: |s| match &s.target {
            TargetSpec::Ics { path, .. } => json!(path.display().to_string()),
            TargetSpec::Graph => Value::Null,
        },
    },
    Key {
        name: "target.name",
        table: Table::Target,
        env: Some("CALSYNC_TARGET_NAME"),
        seed: None,
        flag: None,
        default: None,
        doc: "with kind = \"ics\": the calendar's name in subscribers' apps (default: \
              target_calendar).",
        affects_plan: true,
        per_pair: true,
        load: |l, k| {
            l.d.target_name = l.r.get(k, None, |f| f.string())?;
            Ok(())
        },
        show: |s| match &s.target {
            TargetSpec::Ics { name, .. } => json!(name),
            TargetSpec::Graph => Value::Null,
        },
    },
    Key {
        name: "publish.html",
        table: Table::Publish,
        env: Some("CALSYNC_PUBLISH_HTML"),
        seed: None,
        flag: None,
        default: None,
        doc: "the agenda web page written after each successful sync (relative to the config \
              file).",
        affects_plan: false,
        per_pair: true,
        load: |l, k| {
            l.d.publish.html = l.r.get(k, None, |f| f.path())?;
            Ok(())
        },
        show: |s| json!(s.publish.html.as_ref().map(|p| p.display().to_string())),
    },
    Key {
        name: "publish.json",
        table: Table::Publish,
        env: Some("CALSYNC_PUBLISH_JSON"),
        seed: None,
        flag: None,
        default: None,
        doc: "the JSON feed written after each successful sync (relative to the config file).",
        affects_plan: false,
        per_pair: true,
        load: |l, k| {
            l.d.publish.json = l.r.get(k, None, |f| f.path())?;
            Ok(())
        },
        show: |s| json!(s.publish.json.as_ref().map(|p| p.display().to_string())),
    },
    Key {
        name: "publish.title",
        table: Table::Publish,
        env: Some("CALSYNC_PUBLISH_TITLE"),
        seed: None,
        flag: None,
        default: None,
        doc: "the page's and feed's title (default: the target's name, else \"Public events\").",
        affects_plan: false,
        per_pair: true,
        load: |l, k| {
            l.d.publish.title = l.r.get(k, None, |f| f.string())?;
            Ok(())
        },
        show: |s| json!(s.publish_title()),
    },
    Key {
        name: "publish.time_zone",
        table: Table::Publish,
        env: Some("CALSYNC_PUBLISH_TIME_ZONE"),
        seed: None,
        flag: None,
        default: Some("\"UTC\""),
        doc: "the IANA time zone the page shows times in, such as \"Europe/Berlin\".",
        affects_plan: false,
        per_pair: true,
        load: |l, k| {
            l.d.publish.time_zone = l.r.get_or(k, chrono_tz::UTC, |f| f.time_zone())?;
            Ok(())
        },
        show: |s| json!(s.publish.time_zone.name()),
    },
    Key {
        name: "publish.subscribe_url",
        table: Table::Publish,
        env: Some("CALSYNC_PUBLISH_SUBSCRIBE_URL"),
        seed: None,
        flag: None,
        default: None,
        doc: "the https:// URL of the published .ics, shown as a Subscribe link (and webcal://).",
        affects_plan: false,
        per_pair: true,
        load: |l, k| {
            l.d.publish.subscribe_url = l.r.get(k, None, |f| f.subscribe_url())?;
            Ok(())
        },
        show: |s| json!(s.publish.subscribe_url.as_ref().map(redact_url)),
    },
    Key {
        name: "publish.days",
        table: Table::Publish,
        env: Some("CALSYNC_PUBLISH_DAYS"),
        seed: None,
        flag: None,
        default: Some("60"),
        doc: "how many days ahead the page lists (the feed lists the whole window).",
        affects_plan: false,
        per_pair: true,
        load: |l, k| {
            l.d.publish.days = l.r.get_or(k, 60, |f| f.days(1))?;
            Ok(())
        },
        show: |s| json!(s.publish.days),
    },
    Key {
        name: "publish.template",
        table: Table::Publish,
        env: Some("CALSYNC_PUBLISH_TEMPLATE"),
        seed: None,
        flag: None,
        default: None,
        doc: "a MiniJinja template of your own for the page (relative to the config file).",
        affects_plan: false,
        per_pair: true,
        load: |l, k| {
            l.d.publish.template = l.r.get(k, None, |f| f.path())?;
            Ok(())
        },
        show: |s| json!(s.publish.template.as_ref().map(|p| p.display().to_string())),
    },
];

/// Reads `metrics_push_url` or `ping_url`: the option `flag`, else the
/// environment or the file, each checked by [`monitor_url`].
fn monitor_key(
    l: &mut Loader<'_>,
    k: &'static Key,
    flag: Option<&str>,
) -> anyhow::Result<Option<url::Url>> {
    let flag = match (flag, k.flag) {
        (Some(text), Some(option)) => Some(monitor_url(text).map_err(|problem| {
            super::config_error(format!(
                "Invalid configuration: the option {option} {problem}. Correct the option, or \
                 leave it out to use `{}` from the environment or the config file.",
                k.name
            ))
        })?),
        _ => None,
    };
    l.r.get(k, flag, |f| {
        monitor_url(&f.string()?).map_err(|problem| f.error(&problem))
    })
}

/// A monitoring URL (Pushgateway or ping): absolute, http:// or https://,
/// with a host. The query stays (Cronitor and Uptime Kuma put settings
/// there); a fragment, which no server sees, is refused. The problem, when
/// there is one, is said without the URL itself, which may hold a token.
pub(super) fn monitor_url(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text.trim()).map_err(|e| {
        format!(
            "is not an absolute URL such as https://host/path (it does not parse: {e}; the \
             value is not shown, as it may hold a token)"
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err("must be an http:// or https:// URL with a host".to_owned());
    }
    if url.fragment().is_some() {
        return Err("must not end in a fragment (#…), which is never sent".to_owned());
    }
    if url.scheme() == "http" && url.password().is_some() && !super::value::is_loopback(&url) {
        return Err(
            "holds a password in a plain http:// URL, which would cross the network \
             unencrypted; use https://"
                .to_owned(),
        );
    }
    Ok(url)
}

/// `https://host/…`: a URL with nothing of its path, query or user name.
fn host_only(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or("");
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!("{}://{host}{port}/…", url.scheme())
}
