//! One module per subcommand. Each takes the shared [`Context`] and its own
//! arguments and returns the exit code; errors go back to `main`'s funnel.

pub mod calendars;
pub mod doctor;
pub mod explain;
pub mod history;
pub mod login;
pub mod logout;
pub mod status;
pub mod stop;
pub mod sync;
pub mod validate;

use crate::cli::{GlobalArgs, PairArgs};
use crate::config::shard::Shard;
use crate::config::{self, FlagOverrides, Selection, Settings};
use std::io::Write;

/// What every command may need: the global flags and the environment.
pub struct Context<'a> {
    pub global: &'a GlobalArgs,
    pub flags: FlagOverrides,
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

impl Context<'_> {
    /// The settings in effect (flag > env > file > default).
    pub fn settings(&self) -> anyhow::Result<Settings> {
        config::load(&self.flags, self.env)
    }

    /// The pairs the command line selects: those named (all when none
    /// is) of this process's shard (`--shard`, else `--shards` or
    /// `CALSYNC_SHARDS` with `JOB_COMPLETION_INDEX`).
    pub fn selection(&self, args: &PairArgs) -> anyhow::Result<Selection> {
        let env = |k: &str| (self.env)(k).filter(|v| !v.trim().is_empty());
        let count_env = env("CALSYNC_SHARDS");
        let index_env = env("JOB_COMPLETION_INDEX");
        let shard = Shard::resolve(
            args.shard.as_deref().map(|s| (s, "--shard")),
            match (&args.shards, &count_env) {
                (Some(n), _) => Some((n.as_str(), "--shards")),
                (None, Some(n)) => Some((n.as_str(), "CALSYNC_SHARDS")),
                (None, None) => None,
            },
            index_env.as_deref().map(|k| (k, "JOB_COMPLETION_INDEX")),
        )?;
        config::load_pairs(&self.flags, self.env)?.select(&args.pairs, shard)
    }
}

/// The async runtime for commands that talk to Graph: one thread. A run
/// waits on Graph, not on the processor, and one thread keeps memory low
/// (each extra thread brings its own allocator arena).
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Tells the operator of a problem that decides the exit code of a command
/// whose result was printed: one line on stderr, whatever `-q` says (as a
/// JSON log line under `--log-format json`).
pub fn report_problem(ctx: &Context, message: &str, exit_code: u8) {
    if ctx.global.log_format == crate::cli::LogFormat::Json {
        crate::logging::error_line(message, &[], exit_code);
    } else {
        eprintln!("calsync: {message}");
    }
}

/// What a command prints when the selection holds no pair: this process's
/// shard has none of the pairs named. Not a failure (exit 0): the other
/// shards run them.
pub fn nothing_selected(
    selection: &Selection,
    json: bool,
) -> anyhow::Result<std::process::ExitCode> {
    if json {
        let doc = serde_json::json!({
            "pairs": [],
            "shard": selection.shard.to_string(),
            "exit_code": 0,
        });
        print_stdout(&(serde_json::to_string_pretty(&doc)? + "\n"))?;
    } else {
        print_stdout(&format!(
            "Shard {} holds none of the {} pair{}; nothing to do.\n",
            selection.shard,
            selection.named,
            if selection.named == 1 { "" } else { "s" }
        ))?;
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// Writes to stdout; a closed pipe (`calsync history | head`) is not an error.
pub fn print_stdout(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
