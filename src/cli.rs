//! The command line (README, "Commands"). Doc comments are the help text: the first
//! paragraph is the short help (`-h`), the rest the long help (`--help`).

use crate::config::FlagOverrides;
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

const MAIN_EXAMPLES: &str = "\
Examples:
  calsync login                  Sign in once, with a code shown here
  calsync sync --dry-run         Show what a run would change, change nothing
  calsync sync                   Copy the public events now
  calsync validate --json        Check the public calendar (for CI)
  calsync doctor                 Check sign-in, permissions and calendars before the first sync
  calsync status --max-age 1h    Exit 4 when the last good sync is older than 1h

Configuration comes from the command line, then CALSYNC_* environment variables,
then the TOML file (--config, CALSYNC_CONFIG, or $XDG_CONFIG_HOME/calsync/config.toml),
then defaults. The keys, with their environment variables:

  tenant_id            CALSYNC_TENANT_ID: the Microsoft Entra tenant (GUID or domain).
  client_id            CALSYNC_CLIENT_ID: the application (client) ID of the app registration.
  client_secret        CALSYNC_CLIENT_SECRET: the app secret; when set, calsync signs in as
                       the application instead of as a user. Keep it out of the file.
  mailbox              CALSYNC_MAILBOX: the mailbox of the source calendar (default: the
                       signed-in user; required with client_secret).
  source_calendar      CALSYNC_SOURCE_CALENDAR: the calendar read: \"default\" (the mailbox's
                       default calendar, whatever its name), \"id:<Graph id>\" or a display
                       name (default: the default calendar).
  target_calendar      CALSYNC_TARGET_CALENDAR: the public calendar written, named the same
                       ways (default \"Public Calendar\").
  target_mailbox       CALSYNC_TARGET_MAILBOX: the mailbox of the target (default: mailbox).
  past_days            CALSYNC_PAST_DAYS: days before today that are still synced (default 0).
  cutoff_days          CALSYNC_CUTOFF_DAYS: days after today that are synced (default 1825).
  dry_run              CALSYNC_DRY_RUN: true makes every sync a dry run (default false).
  cloud                CALSYNC_CLOUD: global, usgov, usgov-dod or china; sets both endpoints.
  graph_url            CALSYNC_GRAPH_URL: the Microsoft Graph root, version included.
  authority_url        CALSYNC_AUTHORITY_URL: the sign-in authority.
  token_store          CALSYNC_TOKEN_STORE: where `calsync login` keeps the sign-in: keyring
                       (default) or file (tokens.json, mode 0600, in the state dir; for
                       servers without a keyring). App-only runs keep no token.
  state_dir            CALSYNC_STATE_DIR: where the lock and history live
                       (default $XDG_STATE_HOME/calsync).
  max_delete_fraction  CALSYNC_MAX_DELETE_FRACTION: the largest share of the copies one run
                       may delete without --force (default 0.25).
  full_sync_interval   CALSYNC_FULL_SYNC_INTERVAL: how often a sync reads both calendars in
                       full, repairing copies edited or deleted by hand (default 24h).
  request_timeout      CALSYNC_REQUEST_TIMEOUT, --request-timeout: how long one request may
                       go unanswered before it is retried, at most twice (default 30s).
  run_timeout          CALSYNC_RUN_TIMEOUT, --run-timeout: how long a sync or validate may
                       run before it stops at a safe point and exits 1 (default 30m).
  [filter]             sensitivity, include_categories, exclude_categories, skip_cancelled,
                       show_as, subject_exclude: which source events count as public.
  [copy]               location, body, categories: optional fields copied (default false).
  [source]             kind: \"graph\" (default; source_calendar through Graph) or \"ics\",
                       then path (an .ics file) or url (https://…). CALSYNC_SOURCE_KIND,
                       CALSYNC_SOURCE_PATH, CALSYNC_SOURCE_URL.
  [target]             kind: \"graph\" (default; target_calendar through Graph) or \"ics\",
                       then path (the .ics file to publish) and name (its calendar name,
                       default target_calendar). CALSYNC_TARGET_KIND, CALSYNC_TARGET_PATH,
                       CALSYNC_TARGET_NAME.

Relative paths in the config file (state_dir, source.path, target.path) are relative to
the file's directory; relative paths in the environment, to the working directory.

Logs go to stderr: warnings only by default, more with -v, errors only with -q, or as
set by RUST_LOG; --log-format json writes one JSON object per line. Progress bars
appear only when stderr is a terminal. stdout carries only the result.

Exit codes: 0 success, 1 unexpected failure, 2 usage or configuration error,
3 sign-in needed or refused, 4 problems found, 5 some writes failed,
6 refused by the mass-deletion guard, 75 another run holds the lock.";

const LOGIN_EXAMPLES: &str = "\
Examples:
  calsync login                        Device-code sign-in as a user
  calsync login --client-credentials   Check the configured app secret";

const SYNC_EXAMPLES: &str = "\
Examples:
  calsync sync --dry-run      Print the plan and write nothing
  calsync sync --full         Re-read everything, ignoring incremental state
  calsync sync --force        Allow a run that deletes many events
  calsync sync --json         One JSON summary on stdout

A schedule (cron, a systemd timer, a CI job) runs `calsync -q sync` every 23 minutes
or so; a run that finds another one in progress exits 75 at once. Each run ends with
one summary line on stdout: created, updated, deleted, unchanged, skipped as not
public with the reasons (private, confidential, cancelled, …), the duration and,
when a side is a Microsoft 365 calendar, the number of requests made to Graph.";

const VALIDATE_EXAMPLES: &str = "\
Examples:
  calsync validate           A report of each problem, exit 4 if any
  calsync validate --json    The same as one JSON document";

const DOCTOR_EXAMPLES: &str = "\
Examples:
  calsync doctor                 The checklist, writing nothing
  calsync doctor --write-probe   Also create one probe event in the target and delete it
  calsync doctor --json          The checklist as one JSON document

Each line is [ok], [warn], [FAIL] or [info], with a fix under each warning and failure.
Exit 0 when everything sync needs is in place (warnings do not count); otherwise the
code of the first failure: 2 configuration (an unknown calendar name included),
3 sign-in, permission or access right, 1 anything else.";

const HISTORY_EXAMPLES: &str = "\
Examples:
  calsync history              The last 20 runs
  calsync history --limit 5    The last 5 runs";

const STATUS_EXAMPLES: &str = "\
Examples:
  calsync status                   Settings in effect, sign-in and last run
  calsync status --max-age 90m     Exit 4 when the last good sync is older than 90 minutes
  calsync -q status --max-age 1h   The same verdict as one line, for a monitoring check
  calsync status --json --max-age 1h30m

DURATION is a number followed by a unit, and may combine several: s (seconds),
m (minutes), h (hours), d (days), w (weeks), e.g. 45s, 90m, 2h, 1h30m, 1d.";

/// Copy the public events of an internal calendar into a public calendar.
///
/// calsync reads a source calendar (a Microsoft 365 calendar through
/// Microsoft Graph, or an iCalendar .ics file or URL), keeps the events that
/// the filter policy calls public and writes copies of them, with only the
/// fields the copy policy allows, into a target calendar (a Microsoft 365
/// calendar, or an .ics file that people subscribe to). It never touches
/// events it did not create. Each run syncs once and exits; scheduling
/// belongs to cron, a systemd timer or a CI schedule.
#[derive(Debug, Clone, Parser)]
#[command(name = "calsync", version, after_long_help = MAIN_EXAMPLES)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options that every command accepts.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Read the configuration from this TOML file.
    ///
    /// Without it, calsync reads the file named by CALSYNC_CONFIG, else
    /// $XDG_CONFIG_HOME/calsync/config.toml if it exists. A file named here or
    /// by CALSYNC_CONFIG must exist.
    #[arg(short, long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Format of the log lines written to stderr.
    ///
    /// text is for people. json writes one JSON object per line with the
    /// timestamp, level, target, message, the run id and the event's fields
    /// (counts, times in RFC 3339, Graph request ids), for log collectors;
    /// it also turns progress bars off. The final error of a failed command
    /// is one more line, with its causes as an array and its exit code.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t = LogFormat::Text,
        value_name = "FORMAT",
        env = "CALSYNC_LOG_FORMAT"
    )]
    pub log_format: LogFormat,

    /// When to colour log lines: auto, always or never.
    ///
    /// auto colours them only when stderr is a terminal and the NO_COLOR
    /// environment variable is not set (or empty), and TERM is not "dumb".
    /// JSON logs are never coloured.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    /// Log more: -v info, -vv debug, -vvv trace (the default is warnings).
    ///
    /// -v shows each step of a run with its counts; -vv adds every Graph
    /// request with its status, latency and request-id (useful in a support
    /// case) and each planned change with its start and subject (public
    /// events only). -v and -q override RUST_LOG. Keep debug and trace logs
    /// private.
    #[arg(short, long, global = true, action = ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// How long one request to Graph or the sign-in endpoint may take (e.g. 30s).
    ///
    /// A request with no complete answer by then is retried (at most twice);
    /// each retry is logged, the first at the default level. Overrides
    /// request_timeout and CALSYNC_REQUEST_TIMEOUT; the default is 30s.
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration)]
    pub request_timeout: Option<Duration>,

    /// How long a sync or validate may run in all (e.g. 30m).
    ///
    /// A run still going then stops at a safe point, as when interrupted:
    /// writes already made stay, the next run continues, and the run is
    /// recorded as timed_out with exit 1. Overrides run_timeout and
    /// CALSYNC_RUN_TIMEOUT; the default is 30m.
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration)]
    pub run_timeout: Option<Duration>,

    /// Log errors only, and show no progress bars.
    ///
    /// Meant for cron and timers: a run then prints only its errors (stderr)
    /// and its one-line summary (stdout). -q and -v override RUST_LOG.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

/// When log lines are coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless NO_COLOR is set or TERM is "dumb".
    Auto,
    /// Always, even into a pipe or a file.
    Always,
    /// Never.
    Never,
}

/// Format of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The commands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Sign in and store the refresh token.
    ///
    /// By default this runs the device-code flow: it prints a URL and a code,
    /// and waits while you enter the code in a browser and sign in. The
    /// refresh token goes to the OS keyring (or to tokens.json in the state
    /// dir with token_store = "file"). With an app secret configured
    /// (client_secret), --client-credentials checks that the secret works.
    /// Only a Microsoft 365 side needs a sign-in: with .ics files on both
    /// sides there is nothing to sign in to.
    #[command(after_long_help = LOGIN_EXAMPLES)]
    Login(LoginArgs),

    /// Remove the stored tokens.
    Logout,

    /// Copy public events to the target calendar once.
    ///
    /// Reads the source calendar within the window, plans the creates,
    /// updates and deletes, and applies them. A second run with no change in
    /// the source writes nothing. A run that would delete more than
    /// max_delete_fraction of the managed events (and more than 10) writes
    /// nothing and exits 6 unless --force is given.
    #[command(after_long_help = SYNC_EXAMPLES)]
    Sync(SyncArgs),

    /// Check the target calendar against the source; write nothing.
    ///
    /// Reports each missing, stale, orphan, duplicate, leaked and
    /// out-of-window event. Exits 0 when the target is as it must be and 4
    /// when any problem is found. Meant for CI.
    #[command(after_long_help = VALIDATE_EXAMPLES)]
    Validate(ValidateArgs),

    /// Show the last runs, newest first.
    #[command(after_long_help = HISTORY_EXAMPLES)]
    History(HistoryArgs),

    /// Show the settings in effect, sign-in state and the last run.
    ///
    /// Secrets are masked. With --max-age, exits 4 when the last successful
    /// sync is older than the given duration (or there is none), so that it
    /// can serve as a monitoring check.
    #[command(after_long_help = STATUS_EXAMPLES)]
    Status(StatusArgs),

    /// Check the sign-in, permissions and calendars against the real tenant.
    ///
    /// Run it once before the first sync. It signs in as sync does (with a
    /// new token) and checks: the configuration, the token's permissions,
    /// the source and target calendars (name, id, owner, whether the target
    /// can be edited), this machine's clock against Graph's, a small read of
    /// the source, how calendarView delta sends recurring meetings in this
    /// tenant, the query sync finds its copies with, and the target
    /// mailbox's time zone. Without --write-probe it writes nothing to
    /// Graph; it takes no lock, records no history and may run beside a
    /// sync. Only the Microsoft 365 sides are checked.
    #[command(after_long_help = DOCTOR_EXAMPLES)]
    Doctor(DoctorArgs),
}

impl Command {
    /// Whether the command was asked for JSON output on stdout.
    pub fn json(&self) -> bool {
        match self {
            Command::Login(_) | Command::Logout => false,
            Command::Sync(a) => a.json,
            Command::Validate(a) => a.json,
            Command::History(a) => a.json,
            Command::Status(a) => a.json,
            Command::Doctor(a) => a.json,
        }
    }

    /// The command's name, as typed.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Login(_) => "login",
            Command::Logout => "logout",
            Command::Sync(_) => "sync",
            Command::Validate(_) => "validate",
            Command::History(_) => "history",
            Command::Status(_) => "status",
            Command::Doctor(_) => "doctor",
        }
    }
}

/// Options of `login`.
#[derive(Debug, Clone, Default, Args)]
#[group(multiple = false)]
pub struct LoginArgs {
    /// Sign in as a user with the device-code flow (the default).
    #[arg(long)]
    pub device_code: bool,

    /// Check that the configured app secret (client_secret) obtains a token.
    #[arg(long)]
    pub client_credentials: bool,
}

/// Options of `sync`.
#[derive(Debug, Clone, Default, Args)]
pub struct SyncArgs {
    /// Write nothing to the target calendar; print the plan instead.
    ///
    /// Reads both calendars and lists each create, update and delete a real
    /// run would make. A dry run takes no lock, so it may run beside a
    /// scheduled one. The dry_run key (CALSYNC_DRY_RUN) does the same for
    /// every run.
    #[arg(long)]
    pub dry_run: bool,

    /// Ignore incremental state and re-read the whole window.
    #[arg(long)]
    pub full: bool,

    /// Apply the plan even when it trips the mass-deletion guard.
    ///
    /// Without it, a run that would delete more than max_delete_fraction of
    /// the copies (and more than 10) writes nothing and exits 6. Check the
    /// plan with --dry-run first.
    #[arg(long)]
    pub force: bool,

    /// Print one JSON document with the outcome on stdout.
    ///
    /// The document holds the run id, the window, the plan, the counts, any
    /// failed writes and the run's Graph metrics; on failure it is
    /// {"error", "causes", "exit_code"}. Logs stay on stderr and no progress
    /// bar is drawn.
    #[arg(long)]
    pub json: bool,
}

/// Options of `validate`.
#[derive(Debug, Clone, Default, Args)]
pub struct ValidateArgs {
    /// Print one JSON document with the problems on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Options of `history`.
#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    /// How many runs to show.
    #[arg(long, value_name = "N", default_value = "20", value_parser = parse_limit)]
    pub limit: usize,

    /// Print one JSON document (an array of runs) on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Options of `status`.
#[derive(Debug, Clone, Default, Args)]
pub struct StatusArgs {
    /// Print one JSON document on stdout.
    #[arg(long)]
    pub json: bool,

    /// Exit 4 when the last successful sync is older than this (e.g. 90m, 2h, 1h30m, 1d).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub max_age: Option<Duration>,
}

/// Options of `doctor`.
#[derive(Debug, Clone, Default, Args)]
pub struct DoctorArgs {
    /// Also write: create one probe event in the target, then delete it.
    ///
    /// The probe ("calsync doctor probe (safe to delete)", tomorrow
    /// 03:00-03:15 UTC, shown as free, no attendees) is created as sync
    /// creates a copy, created again with the same transactionId to show
    /// how this tenant answers a repeated create, and deleted, whatever
    /// happened in between.
    #[arg(long)]
    pub write_probe: bool,

    /// Print one JSON document with the checks on stdout.
    ///
    /// {"ok", "exit_code", "config_file", "graph_url", "write_probe",
    /// "counts", "checks": [{"id", "status", "summary", "fix"?,
    /// "details"?}]}; status is ok, warn, fail or info. Logs stay on stderr.
    #[arg(long)]
    pub json: bool,
}

impl Cli {
    /// What the command line contributes to the configuration.
    pub fn flag_overrides(&self) -> FlagOverrides {
        FlagOverrides {
            config: self.global.config.clone(),
            dry_run: match &self.command {
                Command::Sync(a) if a.dry_run => Some(true),
                _ => None,
            },
            request_timeout: self.global.request_timeout,
            run_timeout: self.global.run_timeout,
        }
    }
}

fn parse_limit(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("expected a whole number of 1 or more, got \"{s}\"")),
    }
}

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
    for (unit, size) in [("w", 604_800), ("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
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
    use clap::CommandFactory;

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

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("calsync").chain(args.iter().copied()))
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
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

    #[test]
    fn commands_and_flags_parse() {
        let cli = parse(&[
            "-c",
            "/x.toml",
            "-vv",
            "--log-format",
            "json",
            "sync",
            "--dry-run",
            "--full",
        ])
        .unwrap();
        assert_eq!(
            cli.global.config.as_deref(),
            Some(std::path::Path::new("/x.toml"))
        );
        assert_eq!(cli.global.log_format, LogFormat::Json);
        assert_eq!(cli.global.verbose, 2);
        let Command::Sync(s) = &cli.command else {
            panic!("expected sync, got {:?}", cli.command)
        };
        assert!(s.dry_run && s.full && !s.force && !s.json);
        assert_eq!(
            cli.flag_overrides(),
            FlagOverrides {
                config: Some(PathBuf::from("/x.toml")),
                dry_run: Some(true),
                ..FlagOverrides::default()
            }
        );

        // Global options after the subcommand too.
        let cli = parse(&["status", "--json", "--max-age", "1h30m", "-q"]).unwrap();
        let Command::Status(s) = &cli.command else {
            panic!("expected status")
        };
        assert!(s.json);
        assert_eq!(s.max_age, Some(Duration::from_secs(5400)));
        assert!(cli.global.quiet);
        assert!(cli.command.json());
        assert_eq!(cli.flag_overrides().dry_run, None);

        let cli = parse(&["history"]).unwrap();
        let Command::History(h) = &cli.command else {
            panic!("expected history")
        };
        assert_eq!(h.limit, 20);
        assert!(!cli.global.quiet && cli.global.verbose == 0);
        assert_eq!(cli.global.log_format, LogFormat::Text);

        assert!(matches!(
            parse(&["logout"]).unwrap().command,
            Command::Logout
        ));
        assert!(matches!(
            parse(&["validate", "--json"]).unwrap().command,
            Command::Validate(ValidateArgs { json: true })
        ));
        assert!(matches!(
            parse(&["doctor", "--write-probe", "--json"])
                .unwrap()
                .command,
            Command::Doctor(DoctorArgs {
                write_probe: true,
                json: true
            })
        ));
        let cli = parse(&["login", "--client-credentials"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Login(LoginArgs {
                device_code: false,
                client_credentials: true
            })
        ));
    }

    #[test]
    fn bad_usage_is_refused() {
        for args in [
            &["history", "--limit", "0"][..],
            &["history", "--limit", "-3"],
            &["history", "--limit", "ten"],
            &["status", "--max-age", "90"],
            &["login", "--device-code", "--client-credentials"],
            &["-v", "-q", "sync"],
            &["--log-format", "xml", "sync"],
            &["frobnicate"],
            &[],
        ] {
            assert!(parse(args).is_err(), "{args:?} should be refused");
        }
    }
}
