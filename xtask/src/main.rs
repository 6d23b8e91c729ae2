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
/// `clap_mangen::generate_to` names them.
fn man_pages(cmd: &clap::Command, files: &mut Vec<(PathBuf, Vec<u8>)>) -> std::io::Result<()> {
    let man = clap_mangen::Man::new(cmd.clone());
    let mut buf = Vec::new();
    man.render(&mut buf)?;
    files.push((Path::new("man").join(man.get_filename()), buf));
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        man_pages(sub, files)?;
    }
    Ok(())
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
        for needle in ["dry\\-run", "force", "Examples"] {
            assert!(
                sync.contains(needle),
                "{needle} missing from calsync-sync.1"
            );
        }
    }
}
