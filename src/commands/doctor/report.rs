//! The checklist `calsync doctor` prints: each check's status, its finding
//! and, when something is wrong, the one thing to change; as lines for a
//! person or as one JSON document.

use crate::error::{Failure, code_of};
use serde::Serialize;
use serde_json::Value;
use std::fmt::Write as _;
use std::path::PathBuf;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// What `sync` needs is there.
    Ok,
    /// `sync` can run, but something deserves a look.
    Warn,
    /// `sync` cannot run (or cannot run correctly) until this is fixed.
    Fail,
    /// A fact about the tenant; nothing to fix.
    Info,
}

impl Status {
    /// The tag at the start of a text line, padded to one width.
    fn tag(self) -> &'static str {
        match self {
            Status::Ok => "[ok]  ",
            Status::Warn => "[warn]",
            Status::Fail => "[FAIL]",
            Status::Info => "[info]",
        }
    }
}

/// What a failed check means for the exit code: the same kinds as the
/// errors of the other commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The configuration is wrong (exit 2).
    Config,
    /// The sign-in, a permission or an access right is missing (exit 3).
    Auth,
    /// Anything else: an unreachable endpoint, an unexpected answer (exit 1).
    Other,
}

impl Cause {
    /// The kind of an error, as the exit funnel of `main` would see it.
    pub fn of(err: &anyhow::Error) -> Cause {
        match code_of(err) {
            2 => Cause::Config,
            3 => Cause::Auth,
            _ => Cause::Other,
        }
    }

    pub fn exit_code(self) -> u8 {
        match self {
            Cause::Config => Failure::Config(String::new()).exit_code(),
            Cause::Auth => Failure::Auth(String::new()).exit_code(),
            Cause::Other => 1,
        }
    }
}

/// Each check doctor can report, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    Configuration,
    SignIn,
    Permissions,
    OptionalPermissions,
    SourceCalendar,
    TargetCalendar,
    Clock,
    SourceReadable,
    DeltaOccurrences,
    MarkerQuery,
    MailboxTimeZone,
    WriteProbe,
    RepeatedTransactionId,
    ProbeDeleted,
}

impl Item {
    /// The stable id in the JSON document.
    pub fn id(self) -> &'static str {
        match self {
            Item::Configuration => "configuration",
            Item::SignIn => "sign_in",
            Item::Permissions => "permissions",
            Item::OptionalPermissions => "optional_permissions",
            Item::SourceCalendar => "source_calendar",
            Item::TargetCalendar => "target_calendar",
            Item::Clock => "clock",
            Item::SourceReadable => "source_readable",
            Item::DeltaOccurrences => "delta_occurrences",
            Item::MarkerQuery => "marker_query",
            Item::MailboxTimeZone => "mailbox_time_zone",
            Item::WriteProbe => "write_probe",
            Item::RepeatedTransactionId => "repeated_transaction_id",
            Item::ProbeDeleted => "probe_deleted",
        }
    }

    /// The label of the text line.
    pub fn title(self) -> &'static str {
        match self {
            Item::Configuration => "Configuration",
            Item::SignIn => "Sign-in",
            Item::Permissions => "Permissions",
            Item::OptionalPermissions => "Optional permissions",
            Item::SourceCalendar => "Source calendar",
            Item::TargetCalendar => "Target calendar",
            Item::Clock => "Clock",
            Item::SourceReadable => "Source readable",
            Item::DeltaOccurrences => "Delta and recurring meetings",
            Item::MarkerQuery => "Marker query",
            Item::MailboxTimeZone => "Mailbox time zone",
            Item::WriteProbe => "Write probe",
            Item::RepeatedTransactionId => "Repeated transactionId",
            Item::ProbeDeleted => "Probe deleted",
        }
    }
}

/// One line of the checklist.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub id: &'static str,
    #[serde(skip)]
    pub item: Item,
    pub status: Status,
    /// The finding, one line.
    pub summary: String,
    /// For `warn` and `fail`: the key, variable, permission or command to
    /// change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// What was found, for scripts (never a token or event content).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
    /// Further lines of the text rendering (e.g. the calendars that exist).
    #[serde(skip)]
    pub more: Vec<String>,
    /// Set for `fail`: what the failure means for the exit code.
    #[serde(skip)]
    pub cause: Option<Cause>,
}

impl Check {
    fn new(item: Item, status: Status, summary: impl Into<String>) -> Check {
        Check {
            id: item.id(),
            item,
            status,
            summary: summary.into(),
            fix: None,
            details: None,
            more: Vec::new(),
            cause: None,
        }
    }

    pub fn ok(item: Item, summary: impl Into<String>) -> Check {
        Check::new(item, Status::Ok, summary)
    }

    pub fn info(item: Item, summary: impl Into<String>) -> Check {
        Check::new(item, Status::Info, summary)
    }

    pub fn warn(item: Item, summary: impl Into<String>, fix: impl Into<String>) -> Check {
        let mut c = Check::new(item, Status::Warn, summary);
        c.fix = Some(fix.into());
        c
    }

    pub fn fail(
        item: Item,
        cause: Cause,
        summary: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        let mut c = Check::new(item, Status::Fail, summary);
        c.fix = Some(fix.into());
        c.cause = Some(cause);
        c
    }

    /// A check that could not run because an earlier one failed.
    pub fn not_run(item: Item, because: &str) -> Check {
        Check::info(item, format!("not checked: {because}"))
    }

    pub fn with_details(mut self, details: Value) -> Check {
        self.details = Some(details);
        self
    }

    pub fn with_more(mut self, lines: Vec<String>) -> Check {
        self.more = lines;
        self
    }
}

/// How many checks came out each way.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub ok: usize,
    pub warn: usize,
    pub fail: usize,
    pub info: usize,
}

/// The one JSON document `doctor --json` prints.
#[derive(Debug, Serialize)]
pub struct Report {
    /// `true` when every check `sync` needs passed (exit 0).
    pub ok: bool,
    pub exit_code: u8,
    /// The config file read, if any.
    pub config_file: Option<PathBuf>,
    /// The Graph root checked; `null` when no side is a Graph calendar or
    /// the configuration could not be read.
    pub graph_url: Option<String>,
    /// Whether `--write-probe` was given.
    pub write_probe: bool,
    pub counts: Counts,
    pub checks: Vec<Check>,
}

impl Report {
    pub fn new(
        checks: Vec<Check>,
        config_file: Option<PathBuf>,
        graph_url: Option<String>,
        write_probe: bool,
    ) -> Report {
        let mut counts = Counts::default();
        for c in &checks {
            match c.status {
                Status::Ok => counts.ok += 1,
                Status::Warn => counts.warn += 1,
                Status::Fail => counts.fail += 1,
                Status::Info => counts.info += 1,
            }
        }
        // The first failure is the one to fix first: the later ones often
        // follow from it.
        let exit_code = checks
            .iter()
            .find(|c| c.status == Status::Fail)
            .map_or(0, |c| c.cause.unwrap_or(Cause::Other).exit_code());
        Report {
            ok: counts.fail == 0,
            exit_code,
            config_file,
            graph_url,
            write_probe,
            counts,
            checks,
        }
    }

    /// The last line of the text rendering.
    pub fn verdict(&self) -> String {
        let c = &self.counts;
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let tally = format!(
            "{} ok, {}, {} failed, {} info",
            c.ok,
            plural(c.warn, "warning", "warnings"),
            c.fail,
            c.info
        );
        if c.fail > 0 {
            format!(
                "Not ready for `calsync sync`: {} ({tally}). Fix the first one, then run \
                 `calsync doctor` again.",
                plural(c.fail, "check failed", "checks failed")
            )
        } else if c.warn > 0 {
            format!("Ready for `calsync sync`, but see the warnings above ({tally}).")
        } else {
            format!("Ready for `calsync sync` ({tally}).")
        }
    }
}

/// The checklist for a person: one line per check, a `fix:` line under each
/// warning and failure, and the verdict.
pub fn render_text(report: &Report) -> String {
    let mut out = String::new();
    for c in &report.checks {
        let _ = writeln!(out, "{} {}: {}", c.status.tag(), c.item.title(), c.summary);
        if let Some(fix) = &c.fix {
            let _ = writeln!(out, "       fix: {fix}");
        }
        for line in &c.more {
            let _ = writeln!(out, "       {line}");
        }
    }
    let _ = writeln!(out, "\n{}", report.verdict());
    out
}

/// Splits one of calsync's one-paragraph error messages into its first
/// sentence (the finding, without its full stop) and the rest (what to do).
/// A full stop inside quotes, backticks or parentheses (a calendar name,
/// Graph's own message) does not end the sentence.
pub fn split_message(message: &str) -> (String, Option<String>) {
    let mut depth = 0i32;
    let mut quoted = false;
    let mut ticked = false;
    let chars: Vec<(usize, char)> = message.char_indices().collect();
    for (n, &(i, ch)) in chars.iter().enumerate() {
        match ch {
            '"' => quoted = !quoted,
            '`' => ticked = !ticked,
            '(' if !quoted && !ticked => depth += 1,
            ')' if !quoted && !ticked => depth -= 1,
            '.' if depth <= 0 && !quoted && !ticked => {
                let next_is_space = chars.get(n + 1).is_some_and(|&(_, c)| c == ' ');
                let then_upper = chars
                    .get(n + 2)
                    .is_some_and(|&(_, c)| c.is_uppercase() || c == '`');
                if next_is_space && then_upper {
                    let (head, tail) = message.split_at(i);
                    let rest = tail[1..].trim();
                    return (head.trim().to_owned(), Some(rest.to_owned()));
                }
            }
            _ => {}
        }
    }
    (message.trim().trim_end_matches('.').to_owned(), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_split_after_their_first_sentence() {
        let (s, f) = split_message(
            "Configuration incomplete: `tenant_id` is not set, and calsync needs the tenant. \
             Set CALSYNC_TENANT_ID in the environment.",
        );
        assert_eq!(
            s,
            "Configuration incomplete: `tenant_id` is not set, and calsync needs the tenant"
        );
        assert_eq!(
            f.as_deref(),
            Some("Set CALSYNC_TENANT_ID in the environment.")
        );

        // Full stops inside Graph's quoted message, a name or parentheses stay.
        let (s, f) = split_message(
            "Graph refused to list the calendars of the mailbox \"a.b@c.d\" (Graph answered \
             403 ErrorAccessDenied: Access is denied. Check credentials. (request-id x)), so \
             the name \"Dept. Events\" cannot be looked up. A delegate can use `default`.",
        );
        assert!(s.ends_with("cannot be looked up"), "{s}");
        assert!(s.contains("Access is denied. Check"), "{s}");
        assert_eq!(f.as_deref(), Some("A delegate can use `default`."));

        let (s, f) = split_message("Just one sentence.");
        assert_eq!((s.as_str(), f), ("Just one sentence", None));
    }

    fn check(status: Status, cause: Option<Cause>) -> Check {
        let mut c = Check::new(Item::Clock, status, "x");
        c.cause = cause;
        c
    }

    #[test]
    fn the_first_failure_decides_the_exit_code() {
        let r = Report::new(
            vec![check(Status::Ok, None), check(Status::Warn, None)],
            None,
            None,
            false,
        );
        assert!(r.ok);
        assert_eq!(r.exit_code, 0);
        assert!(r.verdict().starts_with("Ready"), "{}", r.verdict());
        let r = Report::new(
            vec![
                check(Status::Info, None),
                check(Status::Fail, Some(Cause::Auth)),
                check(Status::Fail, Some(Cause::Config)),
            ],
            None,
            None,
            false,
        );
        assert!(!r.ok);
        assert_eq!(r.exit_code, 3);
        assert_eq!(
            r.counts,
            Counts {
                ok: 0,
                warn: 0,
                fail: 2,
                info: 1
            }
        );
        assert!(r.verdict().contains("2 checks failed"), "{}", r.verdict());
        let r = Report::new(vec![check(Status::Fail, None)], None, None, false);
        assert_eq!(r.exit_code, 1);
    }

    #[test]
    fn text_puts_the_fix_under_its_check() {
        let r = Report::new(
            vec![
                Check::ok(Item::Configuration, "fine"),
                Check::fail(Item::Clock, Cause::Other, "off by 10 minutes", "Run NTP."),
            ],
            None,
            None,
            false,
        );
        let text = render_text(&r);
        assert!(text.starts_with("[ok]   Configuration: fine\n"), "{text}");
        assert!(
            text.contains("[FAIL] Clock: off by 10 minutes\n       fix: Run NTP.\n"),
            "{text}"
        );
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["checks"][1]["id"], "clock");
        assert_eq!(json["checks"][1]["status"], "fail");
        assert!(json["checks"][0].get("fix").is_none());
    }
}
