//! The command line (README, "Commands"). Doc comments are the help text: the first
//! paragraph is the short help (`-h`), the rest the long help (`--help`).

pub use crate::config::{format_duration, parse_duration};

use crate::config::{FlagOverrides, HelpRow, help_rows};
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::Duration;

/// The examples of `calsync --help` and the man page: command, what it does.
pub const MAIN_EXAMPLES: [(&str, &str); 6] = [
    ("calsync login", "Sign in once, with a code shown here"),
    (
        "calsync sync --dry-run",
        "Show what a run would change, change nothing",
    ),
    ("calsync sync", "Copy the public events now"),
    (
        "calsync validate --json",
        "Check the public calendar (for CI)",
    ),
    (
        "calsync doctor",
        "Check sign-in, permissions and calendars first",
    ),
    (
        "calsync status --max-age 1h",
        "Exit 4 when the last good sync is older than 1h",
    ),
];

/// Where the configuration comes from.
pub const CONFIG_INTRO: &str = "Configuration comes from the command line, then CALSYNC_* \
environment variables, then the TOML file (--config, CALSYNC_CONFIG, or \
$XDG_CONFIG_HOME/calsync/config.toml), then defaults. The keys, with their environment \
variables:";

/// The configuration keys as `--help` and the man page list them: the key
/// (or a `[table]`), where else it is set, what it is. It is made from the
/// key table ([`crate::config::KEYS`]) and iterates as an array of
/// `(key, variables, text)` triples would.
pub const KEY_HELP: KeyHelp = KeyHelp;

/// The type of [`KEY_HELP`].
#[derive(Debug, Clone, Copy)]
pub struct KeyHelp;

impl IntoIterator for KeyHelp {
    type Item = (&'static str, &'static str, &'static str);
    type IntoIter =
        std::iter::Map<std::slice::Iter<'static, HelpRow>, fn(&'static HelpRow) -> Self::Item>;

    fn into_iter(self) -> Self::IntoIter {
        static ROWS: LazyLock<Vec<HelpRow>> = LazyLock::new(help_rows);
        fn triple(row: &'static HelpRow) -> (&'static str, &'static str, &'static str) {
            (row.key, &row.env, &row.text)
        }
        ROWS.iter().map(triple)
    }
}

/// How relative paths are read.
pub const PATHS_NOTE: &str = "Relative paths in the config file (state_dir, source.path, \
target.path) are relative to the file's directory; relative paths in the environment, to the \
working directory.";

/// Where logs and results go.
pub const LOGS_NOTE: &str = "Logs go to stderr: warnings only by default, more with -v, errors \
only with -q, or as set by RUST_LOG; --log-format json (CALSYNC_LOG_FORMAT) writes one JSON \
object per line. Log lines are coloured only on a terminal, unless NO_COLOR is set (--color \
decides instead). Progress bars appear only when stderr is a terminal. stdout carries only \
the result.";

/// The exit codes: code(s), meaning.
pub const EXIT_CODES: [(&str, &str); 10] = [
    ("0", "success"),
    (
        "1",
        "unexpected failure (unreachable endpoint, malformed answer, Graph unavailable or not \
         answering, a run longer than run_timeout); the next run retries",
    ),
    ("2", "usage or configuration error, the state dir included"),
    ("3", "sign-in needed or refused"),
    (
        "4",
        "validate found problems; status --max-age found the last sync too old",
    ),
    ("5", "the sync finished but some writes failed"),
    ("6", "refused by the mass-deletion guard"),
    ("75", "another run holds the lock; try later"),
    (
        "129, 130, 143",
        "stopped by SIGHUP, SIGINT or SIGTERM at a safe point, recorded as interrupted",
    ),
    (
        "",
        "On a failure under --json, the one document on stdout is {\"error\", \"causes\", \
         \"exit_code\"}.",
    ),
];

/// The environment variables calsync reads besides those of the keys
/// ([`KEY_HELP`]), for the man page.
pub const ENVIRONMENT: [(&str, &str); 8] = [
    (
        "CALSYNC_CONFIG",
        "The config file to read, when --config does not name one; it must exist.",
    ),
    (
        "CALSYNC_LOG_FORMAT",
        "text or json, as --log-format (which wins over it).",
    ),
    (
        "TENANT_ID, CLIENT_ID, CLIENT_SECRET, SHARED_MAILBOX, SOURCE_CALENDAR, TARGET_CALENDAR, \
         SYNC_CUTOFF_DAYS, DRY_RUN_MODE",
        "The seed service's names, read when the CALSYNC_ name of the same key is not set.",
    ),
    (
        "RUST_LOG",
        "The log filter when neither -v nor -q is given (e.g. calsync=debug).",
    ),
    (
        "NO_COLOR",
        "Set to anything but an empty string, keeps colour out of the log lines on a \
         terminal (--color always still colours).",
    ),
    ("TERM", "dumb keeps colour out of the log lines."),
    (
        "XDG_CONFIG_HOME, XDG_STATE_HOME",
        "Where the default config file and state dir are (see FILES).",
    ),
    (
        "HOME",
        "The base of the default config file and state dir when the XDG variables are unset.",
    ),
];

/// The log format `CALSYNC_LOG_FORMAT` asks for: `None` when it is unset
/// or empty (as for every variable calsync reads), an error naming the
/// variable when it is neither `text` nor `json`. `env` looks it up.
pub fn log_format_from_env(
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<LogFormat>, String> {
    let Some(value) = env("CALSYNC_LOG_FORMAT").filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    LogFormat::from_str(value.trim(), true).map(Some).map_err(|_| {
        format!(
            "CALSYNC_LOG_FORMAT is \"{value}\", but it must be text or json; correct or unset it"
        )
    })
}

/// Width `--help` text is laid out for.
const HELP_WIDTH: usize = 79;
/// Where the text of a key starts.
const KEY_COLUMN: usize = 23;

/// `text` wrapped to `HELP_WIDTH`, every line indented by `indent`
/// spaces but the first, which starts at `first` (already written).
fn wrap(text: &str, first: usize, indent: usize) -> String {
    let mut out = String::new();
    let mut col = first;
    for word in text.split_whitespace() {
        let len = word.chars().count();
        if col > indent && col + 1 + len > HELP_WIDTH {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            col = indent;
        } else if col > indent || (col == indent && !out.is_empty() && !out.ends_with(' ')) {
            out.push(' ');
            col += 1;
        }
        out.push_str(word);
        col += len;
    }
    out
}

/// The text after `calsync --help`: examples, the keys, logs, exit codes,
/// each line at most `HELP_WIDTH` columns wide.
pub fn main_help() -> String {
    let mut out = String::from("Examples:\n");
    for (cmd, what) in MAIN_EXAMPLES {
        out.push_str(&format!("  {cmd:<28}  {what}\n"));
    }
    out.push('\n');
    out.push_str(&wrap(CONFIG_INTRO, 0, 0));
    out.push_str("\n\n");
    for (key, env, what) in KEY_HELP {
        let head = format!("  {key:<width$}", width = KEY_COLUMN - 2);
        let text = if env.is_empty() {
            what.to_string()
        } else {
            format!("{env}: {what}")
        };
        let col = head.chars().count();
        out.push_str(&head);
        if col > KEY_COLUMN {
            out.push('\n');
            out.push_str(&" ".repeat(KEY_COLUMN));
            out.push_str(&wrap(&text, KEY_COLUMN, KEY_COLUMN));
        } else {
            out.push_str(&" ".repeat(KEY_COLUMN - col));
            out.push_str(&wrap(&text, KEY_COLUMN, KEY_COLUMN));
        }
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&wrap(PATHS_NOTE, 0, 0));
    out.push_str("\n\n");
    out.push_str(&wrap(LOGS_NOTE, 0, 0));
    out.push_str("\n\nExit codes:\n");
    for (code, what) in EXIT_CODES {
        if code.is_empty() {
            out.push_str(&format!("  {}\n", wrap(what, 2, 2)));
        } else {
            let head = format!("  {code:<13}  ");
            let col = head.chars().count();
            out.push_str(&head);
            out.push_str(&wrap(what, col, col));
            out.push('\n');
        }
    }
    out.truncate(out.trim_end().len());
    out
}

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

/// What `calsync --version` says: the version, the commit it was built
/// from and the target it was built for.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("CALSYNC_COMMIT"),
    ", ",
    env!("CALSYNC_TARGET"),
    ")"
);

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
#[command(name = "calsync", version, long_version = LONG_VERSION, after_long_help = main_help())]
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
    ///
    /// CALSYNC_LOG_FORMAT (text or json) sets it when the option is not
    /// given.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, value_name = "FORMAT")]
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

    /// Write each run's metrics to this file, for node_exporter's textfile collector.
    ///
    /// The file is replaced atomically after every sync and validate.
    /// Overrides metrics_file and CALSYNC_METRICS_FILE.
    #[arg(long, global = true, value_name = "PATH")]
    pub metrics_file: Option<PathBuf>,

    /// Push each run's metrics to this Prometheus Pushgateway.
    ///
    /// A failed push is a warning, never a failed run. Overrides
    /// metrics_push_url and CALSYNC_METRICS_PUSH_URL.
    #[arg(long, global = true, value_name = "URL")]
    pub metrics_push_url: Option<String>,

    /// Ping this dead-man's-switch URL when a sync starts, succeeds or fails.
    ///
    /// healthchecks.io, Cronitor and Uptime Kuma style: URL/start, URL, and
    /// URL/fail. A failed ping is a warning, never a failed run. Overrides
    /// ping_url and CALSYNC_PING_URL.
    #[arg(long, global = true, value_name = "URL")]
    pub ping_url: Option<String>,

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

    /// Say why an event is or is not published, and what runs did to it.
    ///
    /// Finds the source and target events whose subject holds TEXT, or that
    /// start on the day --at names, and says for each whether it is
    /// published and, if not, which filter rule keeps it out; for a copy,
    /// its id and the runs that created, changed or deleted it. A
    /// non-public source event is shown by its time and the reason only,
    /// never its subject.
    Explain(ExplainArgs),

    /// List a mailbox's calendars, to choose source_calendar and target_calendar.
    ///
    /// Shows each calendar's name, id, owner, whether calsync can write to
    /// it and which one is the default. For an .ics side, says what the
    /// file holds.
    Calendars(CalendarsArgs),
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
            Command::Explain(a) => a.json,
            Command::Calendars(a) => a.json,
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
            Command::Explain(_) => "explain",
            Command::Calendars(_) => "calendars",
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

/// Which pairs a command runs: the ones named (all when none is), of this
/// process's shard.
#[derive(Debug, Clone, Default, Args)]
pub struct PairArgs {
    /// The pairs to run, by name (all when none is named).
    ///
    /// A config that defines no pairs has one, named default.
    #[arg(value_name = "PAIR")]
    pub pairs: Vec<String>,

    /// Run only the pairs of shard K of N (counted from 0: 0/4 to 3/4).
    ///
    /// Pairs are assigned by their target mailbox (or file), so every pair
    /// that writes one mailbox is in one shard, and adding a pair moves no
    /// other.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,

    /// Split the pairs into N shards; this process runs the one
    /// JOB_COMPLETION_INDEX names (a Kubernetes indexed Job sets it).
    ///
    /// Also CALSYNC_SHARDS. Ignored when --shard is given.
    #[arg(long, value_name = "N")]
    pub shards: Option<String>,
}

/// Options of `sync`.
#[derive(Debug, Clone, Default, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub select: PairArgs,

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
    #[command(flatten)]
    pub select: PairArgs,

    /// Print one JSON document with the problems on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Options of `explain`.
#[derive(Debug, Clone, Default, Args)]
pub struct ExplainArgs {
    /// Text the event's subject holds (case does not matter).
    #[arg(value_name = "TEXT", required_unless_present = "at")]
    pub text: Option<String>,

    /// The day the event starts on (YYYY-MM-DD), instead of or beside TEXT.
    #[arg(long, value_name = "DATE")]
    pub at: Option<String>,

    /// Look in this pair only (repeatable; all pairs when absent).
    #[arg(long = "pair", value_name = "PAIR")]
    pub pairs: Vec<String>,

    /// Print one JSON document on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Options of `calendars`.
#[derive(Debug, Clone, Default, Args)]
pub struct CalendarsArgs {
    /// The mailbox whose calendars to list (default: the source mailbox,
    /// and the target mailbox when it is another).
    #[arg(long, value_name = "MAILBOX")]
    pub mailbox: Option<String>,

    /// The sides of this pair (repeatable; all pairs when absent).
    #[arg(long = "pair", value_name = "PAIR")]
    pub pairs: Vec<String>,

    /// Print one JSON document on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Options of `history`.
#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub select: PairArgs,

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
    #[command(flatten)]
    pub select: PairArgs,

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
    #[command(flatten)]
    pub select: PairArgs,

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
            metrics_file: self.global.metrics_file.clone(),
            metrics_push_url: self.global.metrics_push_url.clone(),
            ping_url: self.global.ping_url.clone(),
        }
    }
}

fn parse_limit(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("expected a whole number of 1 or more, got \"{s}\"")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_main_help_lists_every_key_and_fits_80_columns() {
        let help = main_help();
        for line in help.lines() {
            assert!(line.chars().count() <= HELP_WIDTH, "too wide: {line:?}");
        }
        for var in crate::config::env_var_names() {
            if var.starts_with("CALSYNC_") && var != crate::config::CONFIG_ENV {
                assert!(help.contains(var), "--help does not name {var}");
            }
        }
        for key in [
            "full_sync_interval",
            "request_timeout",
            "run_timeout",
            "state_dir",
        ] {
            assert!(help.contains(&format!("  {key} ")), "--help misses {key}");
        }
        for (code, _) in EXIT_CODES {
            assert!(help.contains(code), "--help misses exit code {code}");
        }
    }

    #[test]
    fn the_seed_names_in_environment_are_the_key_tables() {
        let seeds: Vec<&str> = crate::config::KEYS.iter().filter_map(|k| k.seed).collect();
        let listed = ENVIRONMENT
            .iter()
            .find(|(var, _)| var.starts_with("TENANT_ID"))
            .map(|(var, _)| *var);
        assert_eq!(listed, Some(seeds.join(", ").as_str()));
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("calsync").chain(args.iter().copied()))
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
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
            Command::Validate(ValidateArgs { json: true, .. })
        ));
        assert!(matches!(
            parse(&["doctor", "--write-probe", "--json"])
                .unwrap()
                .command,
            Command::Doctor(DoctorArgs {
                write_probe: true,
                json: true,
                ..
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
