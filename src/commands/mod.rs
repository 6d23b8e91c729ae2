//! One module per subcommand. Each takes the shared [`Context`] and its own
//! arguments and returns the exit code; errors go back to `main`'s funnel.

pub mod doctor;
pub mod history;
pub mod login;
pub mod logout;
pub mod status;
pub mod stop;
pub mod sync;
pub mod validate;

use crate::cli::GlobalArgs;
use crate::config::{self, FlagOverrides, Settings};
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

/// Writes to stdout; a closed pipe (`calsync history | head`) is not an error.
pub fn print_stdout(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
