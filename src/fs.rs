//! Writing files so that a reader never sees half of one: [`replace_file`]
//! writes a new file beside the old and renames it over it, and
//! [`remove_leftovers`] clears what a killed writer left. The state dir
//! (state, history, tokens) and a published `.ics` calendar are written
//! this way.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Options that create a file only its owner may read (0600).
pub fn private_file_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

/// Who may read a file [`replace_file`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileMode {
    /// 0600: state, history and tokens.
    Private,
    /// The permissions of the file it replaces, or the usual ones for a new
    /// file (a published calendar).
    KeepExisting,
}

/// Replaces `path` atomically: `fill` writes the contents, through a buffer,
/// into a temporary file in the same directory, which is flushed to disk and
/// renamed over `path`; the directory is flushed too. A reader sees the old
/// file or the new one, never half of either; on failure the temporary file
/// is removed and `path` is left as it was.
pub fn replace_file(
    path: &Path,
    mode: FileMode,
    fill: impl FnOnce(&mut std::io::BufWriter<&mut File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        fastrand::u64(..)
    ));
    let keep = match mode {
        FileMode::KeepExisting => std::fs::metadata(path).ok().map(|m| m.permissions()),
        FileMode::Private => None,
    };
    let result = (|| -> std::io::Result<()> {
        let mut options = match mode {
            FileMode::Private => private_file_options(),
            FileMode::KeepExisting => OpenOptions::new(),
        };
        let mut file = options.write(true).create_new(true).open(&temp)?;
        let mut buffered = std::io::BufWriter::with_capacity(64 * 1024, &mut file);
        fill(&mut buffered)?;
        buffered.flush()?;
        drop(buffered);
        if let Some(p) = keep {
            file.set_permissions(p)?;
        }
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temp, path)?;
        #[cfg(unix)]
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// How old a temporary file of [`replace_file`] must be before
/// [`remove_leftovers`] takes it for a leftover even when it cannot tell
/// whether its writer still runs: no write takes this long.
const LEFTOVER_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Removes the temporary files [`replace_file`] left beside `path` when the
/// process writing them was killed: those whose process no longer runs (on
/// systems with `/proc`), or older than an hour. Only files named as
/// `replace_file` names them for `path` are touched; failures are ignored
/// (the next call tries again). Returns how many were removed.
pub fn remove_leftovers(path: &Path) -> usize {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return 0;
    };
    let prefix = format!(".{name}.");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return 0;
    };
    let own = std::process::id();
    let proc_fs = Path::new("/proc/self").exists();
    let mut removed = 0;
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(middle) = file_name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".tmp"))
        else {
            continue;
        };
        let Some((pid, random)) = middle.split_once('.') else {
            continue;
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if !digits(random) || pid == own {
            continue;
        }
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        let writer_gone = proc_fs && !Path::new(&format!("/proc/{pid}")).exists();
        let old = meta
            .modified()
            .ok()
            .and_then(|m| m.elapsed().ok())
            .is_some_and(|age| age > LEFTOVER_AGE);
        if (writer_gone || old) && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}
