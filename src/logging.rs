//! Logging to stderr through `tracing`: human text or one JSON object per line,
//! and the terminal's progress display that log lines must not tear.
//!
//! The default level is `warn`; `-v` raises it to info, `-vv` to debug, `-vvv`
//! to trace, `-q` lowers it to errors only. Without `-v`/`-q`, `RUST_LOG` is
//! honoured. Nothing calsync logs contains a token, a secret or an event body;
//! subjects appear only at debug level and below, and only of public events.
//!
//! With `--log-format json` each line is one object: `timestamp`, `level`,
//! `target`, `message`, the fields of the spans the event happened in (a sync
//! run's `run_id`) and the event's own fields (counts, Graph `request_id`s).
//!
//! Text lines are coloured only on a terminal, unless `NO_COLOR` is set or
//! `TERM` is `dumb`; `--color always|never` decides instead ([`colours`]).
//!
//! Progress bars are drawn on stderr only when it is a terminal, the log
//! format is text and `-q` was not given; [`progress_display`] hands the
//! display to a command, which also leaves it alone under `--json`. Log lines
//! written while bars are shown suspend them, so neither tears the other.

use crate::cli::{ColorChoice, GlobalArgs, LogFormat};
use indicatif::{MultiProgress, ProgressDrawTarget};
use serde_json::Value;
use std::fmt;
use std::io::{IsTerminal, Write};
use std::sync::OnceLock;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

/// The progress display, set by [`init`] when bars may be drawn.
static PROGRESS: OnceLock<MultiProgress> = OnceLock::new();

/// The id of the run this process records in the history, once known, for
/// the error line written after the run's span has closed.
static RUN_ID: OnceLock<String> = OnceLock::new();

/// Remembers the id of this process's run (see [`error_line`]).
pub fn note_run_id(run_id: &str) {
    let _ = RUN_ID.set(run_id.to_owned());
}

/// The final error of a command as one JSON log line (`--log-format
/// json`), on stderr: `timestamp`, `level` (`ERROR`), `target`, the
/// `run_id` when the command started a run, `message`, `causes` (an array
/// of strings) and `exit_code`.
pub fn error_line(message: &str, causes: &[String], exit_code: u8) {
    let mut fields = Fields::default();
    fields.put(
        "timestamp",
        Value::String(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
    );
    fields.put("level", Value::String("ERROR".into()));
    fields.put("target", Value::String("calsync".into()));
    if let Some(id) = RUN_ID.get() {
        fields.put("run_id", Value::String(id.clone()));
    }
    fields.put("message", Value::String(message.to_owned()));
    fields.put(
        "causes",
        Value::Array(causes.iter().cloned().map(Value::String).collect()),
    );
    fields.put("exit_code", Value::from(exit_code));
    let _ = StderrLines.write_all(format!("{}\n", fields.line()).as_bytes());
}

/// The filter for the flags given; `None` means "use `RUST_LOG`".
pub fn directives(verbose: u8, quiet: bool) -> Option<&'static str> {
    match (quiet, verbose) {
        (true, _) => Some("error"),
        (false, 0) => None,
        (false, 1) => Some("warn,calsync=info"),
        (false, 2) => Some("warn,calsync=debug"),
        (false, _) => Some("info,calsync=trace"),
    }
}

/// Whether progress bars may be drawn for these flags on a stderr that is
/// (`stderr_is_terminal`) or is not a terminal.
pub fn progress_allowed(global: &GlobalArgs, stderr_is_terminal: bool) -> bool {
    stderr_is_terminal && global.log_format == LogFormat::Text && !global.quiet
}

/// The display to draw progress bars in, when they may be drawn at all (see
/// the module documentation). Commands with `--json` must not use it.
pub fn progress_display() -> Option<MultiProgress> {
    PROGRESS.get().cloned()
}

/// A time as log fields carry it: RFC 3339 in UTC, e.g. `2026-12-06T00:00:00Z`.
pub fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Whether text log lines get colours: `--color`, else (auto) when stderr
/// is a terminal, `NO_COLOR` is unset or empty (no-color.org) and `TERM` is
/// not `dumb`. `env` looks a variable up.
pub fn colours(
    choice: ColorChoice,
    stderr_is_terminal: bool,
    env: &dyn Fn(&str) -> Option<String>,
) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            stderr_is_terminal
                && env("NO_COLOR").is_none_or(|v| v.is_empty())
                && env("TERM").is_none_or(|t| t != "dumb")
        }
    }
}

/// Installs the global subscriber. Safe to call once per process.
pub fn init(global: &GlobalArgs) {
    let terminal = std::io::stderr().is_terminal();
    let ansi = colours(global.color, terminal, &|k| std::env::var(k).ok());
    if progress_allowed(global, terminal) {
        let _ = PROGRESS.set(MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
    }
    let filter = match directives(global.verbose, global.quiet) {
        Some(d) => EnvFilter::new(d),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(StderrLines);
    let _ = match global.log_format {
        LogFormat::Json => builder
            .with_ansi(false)
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines)
            .try_init(),
        LogFormat::Text => builder.with_ansi(ansi).with_target(false).try_init(),
    };
}

/// Writes log lines to stderr, suspending the progress bars around each.
#[derive(Clone, Copy)]
struct StderrLines;

impl<'a> MakeWriter<'a> for StderrLines {
    type Writer = StderrLines;

    fn make_writer(&'a self) -> Self::Writer {
        StderrLines
    }
}

impl Write for StderrLines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // The formatter hands over a whole line in one call.
        self.write_all(buf)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let write = || std::io::stderr().lock().write_all(buf);
        match PROGRESS.get() {
            Some(bars) => bars.suspend(write),
            None => write(),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// One JSON object per line: `timestamp`, `level`, `target`, then the fields
/// of the enclosing spans (outermost first), then the event's fields, with
/// `message` among them. A later field of the same name wins.
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut fields = Fields::default();
        fields.put(
            "timestamp",
            Value::String(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
        );
        fields.put("level", Value::String(meta.level().to_string()));
        fields.put("target", Value::String(meta.target().to_owned()));
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let ext = span.extensions();
                let Some(formatted) = ext.get::<FormattedFields<N>>() else {
                    continue;
                };
                if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(formatted) {
                    for (k, v) in map {
                        fields.put(&k, v);
                    }
                }
            }
        }
        event.record(&mut fields);
        writeln!(writer, "{}", fields.line())
    }
}

/// Fields in the order first seen; a later value replaces an earlier one.
#[derive(Default)]
struct Fields(Vec<(String, Value)>);

impl Fields {
    /// One JSON object, the fields in their order.
    fn line(&self) -> String {
        let mut line = String::from("{");
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            line.push_str(&Value::String(k.clone()).to_string());
            line.push(':');
            line.push_str(&v.to_string());
        }
        line.push('}');
        line
    }

    fn put(&mut self, name: &str, value: Value) {
        match self.0.iter_mut().find(|(k, _)| k == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name.to_owned(), value)),
        }
    }
}

impl Visit for Fields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        let v = serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number);
        self.put(field.name(), v);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field.name(), Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field.name(), Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field.name(), Value::from(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field.name(), Value::from(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field.name(), Value::String(value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field.name(), Value::String(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::MakeWriter;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }

    fn json_lines(f: impl FnOnce()) -> Vec<Value> {
        let buf = Buffer::default();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::new("trace"))
            .with_writer(buf.clone())
            .with_ansi(false)
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines)
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    #[test]
    fn json_lines_carry_span_and_event_fields() {
        let lines = json_lines(|| {
            tracing::warn!("before the run");
            let span = tracing::error_span!("run", run_id = "r-1");
            let _g = span.enter();
            tracing::info!(created = 3, ratio = 0.5, ok = true, what = %"x\"y", "plan \"ready\"");
            let inner = tracing::debug_span!("page", run_id = "inner", page = 2);
            let _i = inner.enter();
            tracing::debug!(request_id = "rid-9", "graph request");
        });
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["message"], "before the run");
        assert_eq!(lines[0]["level"], "WARN");
        assert!(lines[0].get("run_id").is_none());
        let l = &lines[1];
        assert_eq!(l["run_id"], "r-1");
        assert_eq!(l["message"], "plan \"ready\"");
        assert_eq!(l["created"], 3);
        assert_eq!(l["ratio"], 0.5);
        assert_eq!(l["ok"], true);
        assert_eq!(l["what"], "x\"y");
        assert_eq!(l["level"], "INFO");
        assert_eq!(l["target"], "calsync::logging::tests");
        assert!(
            chrono::DateTime::parse_from_rfc3339(l["timestamp"].as_str().unwrap()).is_ok(),
            "{l}"
        );
        // The innermost span wins a name clash; other fields accumulate.
        assert_eq!(lines[2]["run_id"], "inner");
        assert_eq!(lines[2]["page"], 2);
        assert_eq!(lines[2]["request_id"], "rid-9");
    }

    #[test]
    fn colours_follow_the_flag_then_no_color_then_the_terminal() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let none = env(&[]);
        assert!(colours(ColorChoice::Auto, true, &none));
        assert!(!colours(ColorChoice::Auto, false, &none));
        assert!(!colours(
            ColorChoice::Auto,
            true,
            &env(&[("NO_COLOR", "1")])
        ));
        assert!(colours(ColorChoice::Auto, true, &env(&[("NO_COLOR", "")])));
        assert!(!colours(ColorChoice::Auto, true, &env(&[("TERM", "dumb")])));
        assert!(colours(
            ColorChoice::Always,
            false,
            &env(&[("NO_COLOR", "1")])
        ));
        assert!(!colours(ColorChoice::Never, true, &none));
    }

    #[test]
    fn flags_choose_the_level_and_progress() {
        assert_eq!(directives(0, true), Some("error"));
        assert_eq!(directives(0, false), None);
        assert_eq!(directives(1, false), Some("warn,calsync=info"));
        assert_eq!(directives(5, false), Some("info,calsync=trace"));
        let mut g = GlobalArgs {
            config: None,
            log_format: LogFormat::Text,
            verbose: 0,
            quiet: false,
            request_timeout: None,
            run_timeout: None,
            metrics_file: None,
            metrics_push_url: None,
            ping_url: None,
            color: ColorChoice::Auto,
        };
        assert!(progress_allowed(&g, true));
        assert!(!progress_allowed(&g, false));
        g.quiet = true;
        assert!(!progress_allowed(&g, true));
        g.quiet = false;
        g.log_format = LogFormat::Json;
        assert!(!progress_allowed(&g, true));
    }
}
