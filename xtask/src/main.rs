//! Maintenance tasks for calsync.
//!
//! `cargo run -p xtask -- gen-docs` regenerates the shell completions in
//! `completions/` and the man pages in `man/` from calsync's command-line
//! definition. Both folders are checked in; a test fails while they are stale.

use clap::CommandFactory;
use clap_complete::Shell;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "\
Usage: cargo run -p xtask -- <TASK>

Tasks:
  gen-docs   Write the shell completions to completions/ and the man pages to man/";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["gen-docs"] => match gen_docs(&workspace_root()) {
            Ok(written) => {
                println!("wrote {} files to completions/ and man/", written.len());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("xtask: {e}");
                ExitCode::FAILURE
            }
        },
        ["-h" | "--help" | "help"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// The repository root (the parent of this crate).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Every shell completions are generated for, and the file name of each.
const SHELLS: [(Shell, &str); 5] = [
    (Shell::Bash, "calsync.bash"),
    (Shell::Zsh, "_calsync"),
    (Shell::Fish, "calsync.fish"),
    (Shell::Elvish, "calsync.elv"),
    (Shell::PowerShell, "_calsync.ps1"),
];

/// The generated files: a path relative to the root and its bytes.
fn render() -> std::io::Result<Vec<(PathBuf, Vec<u8>)>> {
    let mut files = Vec::new();
    for (shell, name) in SHELLS {
        let mut buf = Vec::new();
        clap_complete::generate(
            shell,
            &mut calsync::cli::Cli::command(),
            "calsync",
            &mut buf,
        );
        files.push((Path::new("completions").join(name), buf));
    }
    let mut cmd = calsync::cli::Cli::command().disable_help_subcommand(true);
    cmd.build();
    man_pages(&cmd, &mut files)?;
    Ok(files)
}

/// `calsync.1`, then one page per subcommand (`calsync-sync.1`, …), as
/// `clap_mangen::generate_to` names them. Each page has clap_mangen's
/// sections, then the text after the help laid out for a man page (each
/// example as a tagged paragraph, other paragraphs filled), EXIT STATUS and
/// SEE ALSO; the main page also CONFIGURATION (one tagged paragraph per key,
/// which wraps at any width), OUTPUT, ENVIRONMENT and FILES.
fn man_pages(cmd: &clap::Command, files: &mut Vec<(PathBuf, Vec<u8>)>) -> std::io::Result<()> {
    let root = cmd.get_name().to_string();
    let pages: Vec<String> = std::iter::once(root.clone())
        .chain(
            cmd.get_subcommands()
                .filter(|s| !s.is_hide_set())
                .map(|s| format!("{root}-{}", s.get_name())),
        )
        .collect();
    files.push(man_page(cmd, true, &pages)?);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        files.push(man_page(sub, false, &pages)?);
    }
    Ok(())
}

/// One page, and its path under `man/`.
fn man_page(
    cmd: &clap::Command,
    main: bool,
    pages: &[String],
) -> std::io::Result<(PathBuf, Vec<u8>)> {
    // The version a page shows must not change with every commit.
    let cmd = cmd.clone().long_version(None::<&str>);
    let man = clap_mangen::Man::new(cmd.clone());
    let name = man.get_filename();
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    // Every render repeats the preamble that defines \*(Aq; once is enough.
    let section = |out: &mut Vec<u8>, render: &dyn Fn(&mut Vec<u8>) -> std::io::Result<()>| {
        let mut buf = Vec::new();
        render(&mut buf)?;
        let text = String::from_utf8_lossy(&buf).replace(APOSTROPHE_PREAMBLE, "");
        out.extend_from_slice(text.as_bytes());
        Ok::<(), std::io::Error>(())
    };
    section(&mut out, &|w| man.render_name_section(w))?;
    section(&mut out, &|w| man.render_synopsis_section(w))?;
    section(&mut out, &|w| man.render_description_section(w))?;
    section(&mut out, &|w| man.render_options_section(w))?;
    if cmd.get_subcommands().next().is_some() {
        section(&mut out, &|w| man.render_subcommands_section(w))?;
    }
    let mut text = String::new();
    if main {
        main_sections(&mut text);
    } else if let Some(after) = cmd.get_after_long_help() {
        after_help(&after.to_string(), &mut text);
    }
    exit_status(&mut text);
    if main {
        environment(&mut text);
        files_section(&mut text);
    }
    see_also(&mut text, name.trim_end_matches(".1"), pages);
    out.extend_from_slice(text.as_bytes());
    if cmd.get_version().is_some() {
        section(&mut out, &|w| man.render_version_section(w))?;
    }
    Ok((Path::new("man").join(name), out))
}

/// What clap_mangen puts at the start of every rendered piece.
const APOSTROPHE_PREAMBLE: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";

/// Text for roff: backslashes, dashes and apostrophes escaped, and a line
/// that would start with a control character guarded.
fn esc(text: &str) -> String {
    let mut s = text
        .replace('\\', "\\e")
        .replace('-', "\\-")
        .replace('\'', "\\*(Aq");
    if s.starts_with('.') {
        s.insert_str(0, "\\&");
    }
    s
}

fn heading(out: &mut String, title: &str) {
    out.push_str(&format!(".SH {title}\n"));
}

/// A tagged paragraph: `tag` in bold, then `body`.
fn tagged(out: &mut String, tag: &str, body: &str) {
    out.push_str(&format!(".TP\n\\fB{}\\fR\n{}\n", esc(tag), esc(body)));
}

fn paragraph(out: &mut String, text: &str) {
    out.push_str(&format!(".PP\n{}\n", esc(text)));
}

/// The main page's EXAMPLES, CONFIGURATION and OUTPUT, from the tables
/// `--help` is made of.
fn main_sections(out: &mut String) {
    use calsync::cli::{CONFIG_INTRO, KEY_HELP, LOGS_NOTE, MAIN_EXAMPLES, PATHS_NOTE};
    heading(out, "EXAMPLES");
    for (cmd, what) in MAIN_EXAMPLES {
        tagged(out, cmd, what);
    }
    heading(out, "CONFIGURATION");
    paragraph(out, CONFIG_INTRO);
    for (key, env, what) in KEY_HELP {
        let body = if env.is_empty() {
            what.to_string()
        } else {
            format!("{env}: {what}")
        };
        tagged(out, key, &body);
    }
    paragraph(out, PATHS_NOTE);
    heading(out, "OUTPUT");
    paragraph(out, LOGS_NOTE);
}

/// A subcommand's text after the help: its "Examples:" lines as tagged
/// paragraphs under EXAMPLES, the rest as filled paragraphs under NOTES.
fn after_help(text: &str, out: &mut String) {
    let mut notes = Vec::new();
    for block in text.split("\n\n") {
        let mut lines = block.lines();
        if block.starts_with("Examples:") {
            lines.next();
            heading(out, "EXAMPLES");
            for line in lines {
                let line = line.trim();
                match line.split_once("  ") {
                    Some((cmd, what)) => tagged(out, cmd.trim(), what.trim()),
                    None => tagged(out, line, ""),
                }
            }
        } else {
            notes.push(block.split_whitespace().collect::<Vec<_>>().join(" "));
        }
    }
    if !notes.is_empty() {
        heading(out, "NOTES");
        for n in notes {
            paragraph(out, &n);
        }
    }
}

fn exit_status(out: &mut String) {
    heading(out, "EXIT STATUS");
    for (code, what) in calsync::cli::EXIT_CODES {
        if code.is_empty() {
            paragraph(out, what);
        } else {
            tagged(out, code, what);
        }
    }
}

/// Every variable calsync reads: the configuration's (from its key table),
/// then the others.
fn environment(out: &mut String) {
    heading(out, "ENVIRONMENT");
    for (key, env, _) in calsync::cli::KEY_HELP {
        for var in env.split(", ").filter(|v| v.starts_with("CALSYNC_")) {
            tagged(out, var, &format!("Sets {key} (see CONFIGURATION)."));
        }
    }
    for (var, what) in calsync::cli::ENVIRONMENT {
        tagged(out, var, what);
    }
}

fn files_section(out: &mut String) {
    heading(out, "FILES");
    tagged(
        out,
        "$XDG_CONFIG_HOME/calsync/config.toml",
        "The config file when neither --config nor CALSYNC_CONFIG names one \
         (~/.config/calsync/config.toml without XDG_CONFIG_HOME).",
    );
    tagged(
        out,
        "$XDG_STATE_HOME/calsync/",
        "The state dir (state_dir; ~/.local/state/calsync without XDG_STATE_HOME), mode 700. \
         It must belong to the user calsync runs as and be closed to other users; nothing in \
         it is opened through a symbolic link. It holds:",
    );
    for (file, role) in calsync::state::files::KNOWN_FILES {
        tagged(
            out,
            &format!("$XDG_STATE_HOME/calsync/{file}"),
            &capitalised(role),
        );
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => format!("{}{}.", f.to_uppercase(), c.as_str()),
        None => String::new(),
    }
}

fn see_also(out: &mut String, this: &str, pages: &[String]) {
    heading(out, "SEE ALSO");
    let refs: Vec<String> = pages
        .iter()
        .filter(|p| p.as_str() != this)
        .map(|p| format!("\\fB{}\\fR(1)", esc(p)))
        .chain([
            "\\fBcrontab\\fR(5)".to_string(),
            "\\fBsystemd.timer\\fR(5)".to_string(),
        ])
        .collect();
    out.push_str(&refs.join(", "));
    out.push('\n');
}

/// Writes every generated file under `root`, removing files in `completions/`
/// and `man/` that are no longer generated. Returns the paths written.
fn gen_docs(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let files = render()?;
    for dir in ["completions", "man"] {
        let dir = root.join(dir);
        std::fs::create_dir_all(&dir)?;
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            let rel = path.strip_prefix(root).unwrap_or(&path);
            if path.is_file() && !files.iter().any(|(p, _)| p == rel) {
                std::fs::remove_file(&path)?;
            }
        }
    }
    let mut written = Vec::new();
    for (rel, bytes) in files {
        let path = root.join(&rel);
        std::fs::write(&path, bytes)?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The command that brings `completions/` and `man/` up to date.
    const GEN_DOCS: &str = "cargo run -p xtask -- gen-docs";

    fn listing(root: &Path) -> BTreeSet<PathBuf> {
        let mut set = BTreeSet::new();
        for dir in ["completions", "man"] {
            if let Ok(entries) = std::fs::read_dir(root.join(dir)) {
                for e in entries.flatten() {
                    if e.path().is_file() {
                        set.insert(Path::new(dir).join(e.file_name()));
                    }
                }
            }
        }
        set
    }

    #[test]
    fn checked_in_completions_and_man_pages_are_current() {
        let fresh = tempfile::tempdir().unwrap();
        gen_docs(fresh.path()).unwrap();
        let root = workspace_root();
        let expected = listing(fresh.path());
        let actual = listing(&root);
        let mut problems = Vec::new();
        for missing in expected.difference(&actual) {
            problems.push(format!("{} is missing", missing.display()));
        }
        for extra in actual.difference(&expected) {
            problems.push(format!("{} is no longer generated", extra.display()));
        }
        for rel in expected.intersection(&actual) {
            let want = std::fs::read(fresh.path().join(rel)).unwrap();
            let have = std::fs::read(root.join(rel)).unwrap();
            if want != have {
                problems.push(format!("{} is out of date", rel.display()));
            }
        }
        assert!(
            problems.is_empty(),
            "the checked-in completions and man pages do not match the command line:\n  {}\n\
             Regenerate them with `{GEN_DOCS}` and commit the result.",
            problems.join("\n  ")
        );
    }

    #[test]
    fn every_shell_and_every_subcommand_is_covered() {
        let files = render().unwrap();
        let names: BTreeSet<String> = files.iter().map(|(p, _)| p.display().to_string()).collect();
        for (_, file) in SHELLS {
            assert!(names.contains(&format!("completions/{file}")), "{names:?}");
        }
        let cmd = calsync::cli::Cli::command();
        for sub in cmd.get_subcommands() {
            let page = format!("man/calsync-{}.1", sub.get_name());
            assert!(names.contains(&page), "{page} not generated: {names:?}");
        }
        assert!(names.contains("man/calsync.1"));
        assert!(!names.iter().any(|n| n.contains("help")), "{names:?}");
        // The sync page explains its flags and shows the examples.
        let (_, sync) = files
            .iter()
            .find(|(p, _)| p.ends_with("calsync-sync.1"))
            .unwrap();
        let sync = String::from_utf8_lossy(sync);
        for needle in [
            "dry\\-run",
            "force",
            ".SH EXAMPLES",
            ".SH EXIT STATUS",
            ".SH SEE ALSO",
        ] {
            assert!(
                sync.contains(needle),
                "{needle} missing from calsync-sync.1"
            );
        }
    }

    /// The main page has the sections a man page reader looks for, every
    /// variable calsync reads and every exit code, and lays the keys out as
    /// tagged paragraphs (which wrap at any width), not as a table of
    /// fixed-width lines.
    #[test]
    fn the_main_page_has_exit_status_environment_files_and_see_also() {
        let files = render().unwrap();
        let (_, page) = files
            .iter()
            .find(|(p, _)| p.ends_with("calsync.1"))
            .unwrap();
        let page = String::from_utf8_lossy(page);
        for section in [
            "EXAMPLES",
            "CONFIGURATION",
            "EXIT STATUS",
            "ENVIRONMENT",
            "FILES",
            "SEE ALSO",
        ] {
            assert!(page.contains(&format!(".SH {section}\n")), "no {section}");
        }
        assert!(!page.contains(".SH EXTRA"), "the help's text table is back");
        for var in calsync::config::env_var_names() {
            assert!(page.contains(var), "{var} missing from ENVIRONMENT");
        }
        for var in [
            "NO_COLOR",
            "RUST_LOG",
            "CALSYNC_LOG_FORMAT",
            "XDG_STATE_HOME",
        ] {
            assert!(page.contains(var), "{var} missing from ENVIRONMENT");
        }
        for (code, _) in calsync::cli::EXIT_CODES {
            assert!(page.contains(code), "exit code {code} missing");
        }
        for (key, _, _) in calsync::cli::KEY_HELP {
            assert!(
                page.contains(&format!(".TP\n\\fB{}\\fR", esc(key))),
                "{key} is not a tagged paragraph"
            );
        }
        for (file, _) in calsync::state::files::KNOWN_FILES {
            assert!(page.contains(&esc(file)), "{file} missing from FILES");
        }
        assert!(
            !page.contains("(commit "),
            "the page would change with every commit"
        );
    }
}
