//! How calsync treats the state directory, so that nobody but the user it
//! runs as can steer what it reads or writes there.
//!
//! - [`prepare_dir`] creates the directory (mode 0700) or checks the one
//!   that exists: a directory, owned by the user calsync runs as (or by
//!   root), not writable by other users (nor by a group other than the
//!   user's own), and writable by this user. Each file calsync keeps there
//!   ([`KNOWN_FILES`]) must be a regular file if it exists: a symbolic link,
//!   a directory or a device in its place is refused before anything is
//!   read or written, and the message names the path and the fix.
//! - Files in the directory are opened with [`no_follow`] (`O_NOFOLLOW`), so
//!   that a link planted between the check and the open fails instead of
//!   being followed. Files are replaced by writing a new file and renaming
//!   it over the old one ([`crate::fs::replace_file`]), which replaces a link
//!   rather than writing through it.
//!
//! Every refusal is a [`Failure::Config`] (exit 2): the operator, not the
//! next run, has to fix it.

use crate::error::Failure;
use std::fs::OpenOptions;
use std::io::ErrorKind;
use std::path::Path;

/// The files calsync keeps in the state directory, with what each is for
/// (for messages).
pub const KNOWN_FILES: [(&str, &str); 9] = [
    ("lock", "the run lock"),
    ("history.jsonl", "the run history"),
    (super::audit::CHANGES_FILE, "the audit trail"),
    ("history.lock", "the history's append lock"),
    (super::incremental::STATE_FILE, "the incremental state"),
    (
        super::incremental::SNAPSHOT_FILE,
        "the incremental snapshot",
    ),
    (super::incremental::CALENDARS_FILE, "the calendar ids"),
    (
        super::incremental::REPAIR_FILE,
        "validate's request for a full sync",
    ),
    ("tokens.json", "the file token store"),
];

/// Adds `O_NOFOLLOW` (on Unix): opening a symbolic link fails.
pub fn no_follow(options: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let flag = rustix::fs::OFlags::NOFOLLOW.bits();
        options.custom_flags(i32::try_from(flag).unwrap_or(0));
    }
    options
}

/// Reads a whole file of the state directory without following a link.
pub fn read(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut file = no_follow(OpenOptions::new().read(true)).open(path)?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut file, &mut bytes)?;
    Ok(bytes)
}

/// [`read`] as UTF-8 text.
pub fn read_to_string(path: &Path) -> std::io::Result<String> {
    String::from_utf8(read(path)?).map_err(|e| std::io::Error::new(ErrorKind::InvalidData, e))
}

/// Creates the state directory (mode 0700) if it does not exist, then
/// checks it and the files in it (see the module documentation).
pub fn prepare_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    if let Err(e) = builder.create(dir) {
        return Err(Failure::Config(format!(
            "Cannot create the state directory {} ({e}). {}",
            dir.display(),
            SET_STATE_DIR
        ))
        .into());
    }
    check_dir(dir)?;
    for (name, role) in KNOWN_FILES {
        check_file(&dir.join(name), role)?;
    }
    Ok(())
}

const SET_STATE_DIR: &str = "Or set `state_dir` (CALSYNC_STATE_DIR) to a directory that only the \
                             user calsync runs as may write; calsync creates a missing one with \
                             mode 700.";

#[cfg(unix)]
fn check_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let shown = dir.display();
    let meta = std::fs::metadata(dir).map_err(|e| {
        Failure::Config(format!(
            "Cannot inspect the state directory {shown} ({e}). {SET_STATE_DIR}"
        ))
    })?;
    if !meta.is_dir() {
        return Err(Failure::Config(format!(
            "The state directory {shown} is not a directory. {SET_STATE_DIR}"
        ))
        .into());
    }
    let uid = rustix::process::geteuid().as_raw();
    let gid = rustix::process::getegid().as_raw();
    let mode = meta.mode() & 0o7777;
    if meta.uid() != uid && meta.uid() != 0 {
        return Err(Failure::Config(format!(
            "The state directory {shown} belongs to another user (uid {}), not to the user \
             calsync runs as (uid {uid}), who could then change what calsync reads and writes \
             there. Run calsync as the directory's owner, or give it to this user (`chown -R \
             {uid} {shown}`). {SET_STATE_DIR}",
            meta.uid()
        ))
        .into());
    }
    let others_write = mode & 0o002 != 0;
    let foreign_group_write = mode & 0o020 != 0 && meta.gid() != gid;
    if others_write || foreign_group_write {
        let who = if others_write {
            "every user"
        } else {
            "the members of another group"
        };
        return Err(Failure::Config(format!(
            "The state directory {shown} can be written by {who} (mode {mode:o}), who could put \
             links or files there that calsync would then read or write through. Run `chmod \
             go-w {shown}` (or `chmod 700 {shown}`). {SET_STATE_DIR}"
        ))
        .into());
    }
    use rustix::fs::Access;
    if let Err(errno) = rustix::fs::access(dir, Access::WRITE_OK | Access::EXEC_OK) {
        let e = std::io::Error::from(errno);
        let fix = if e.kind() == ErrorKind::ReadOnlyFilesystem {
            "It is on a read-only file system: under systemd's ProtectSystem=, use \
             StateDirectory= or list it in ReadWritePaths=."
                .to_string()
        } else {
            format!(
                "Make it writable by that user (`chown {uid} {shown}` and `chmod 700 {shown}`)."
            )
        };
        return Err(Failure::Config(format!(
            "The state directory {shown} is not writable by the user calsync runs as (uid \
             {uid}): {e}. calsync keeps its lock, run history and incremental state there, and \
             runs without them would leave no trace. {fix} {SET_STATE_DIR}"
        ))
        .into());
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_dir(dir: &Path) -> anyhow::Result<()> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        _ => Err(Failure::Config(format!(
            "The state directory {} is not a directory. {SET_STATE_DIR}",
            dir.display()
        ))
        .into()),
    }
}

/// Refuses anything but a regular file (or nothing) at `path`.
fn check_file(path: &Path, role: &str) -> anyhow::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(failure(path, role, &e)),
    };
    let kind = meta.file_type();
    if kind.is_file() {
        return Ok(());
    }
    Err(not_a_file(path, role, kind.is_symlink(), kind.is_dir()))
}

fn not_a_file(path: &Path, role: &str, symlink: bool, dir: bool) -> anyhow::Error {
    let shown = path.display();
    let what = if symlink {
        "a symbolic link, and calsync never follows links in its state directory"
    } else if dir {
        "a directory"
    } else {
        "a device or another special file"
    };
    Failure::Config(format!(
        "{shown}, where calsync keeps {role}, is {what}. Remove it (`rm -r {shown}`); calsync \
         creates the file again."
    ))
    .into()
}

/// The error for an I/O failure on a file of the state directory: a
/// configuration error naming the path and the fix when the file or the
/// directory is what is wrong (no permission, a link, not a file, a
/// read-only file system), else the error itself (exit 1).
pub fn failure(path: &Path, role: &str, err: &std::io::Error) -> anyhow::Error {
    let shown = path.display();
    #[cfg(unix)]
    if err.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
        return not_a_file(path, role, true, false);
    }
    match err.kind() {
        ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem => Failure::Config(format!(
            "calsync may not write {shown}, where it keeps {role} ({err}). Make the state \
             directory and its files writable by the user calsync runs as. {SET_STATE_DIR}"
        ))
        .into(),
        ErrorKind::IsADirectory | ErrorKind::NotADirectory | ErrorKind::InvalidInput => {
            not_a_file(path, role, false, err.kind() == ErrorKind::IsADirectory)
        }
        _ => anyhow::anyhow!("cannot use {shown}, where calsync keeps {role}: {err}"),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn code(err: &anyhow::Error) -> u8 {
        crate::error::code_of(err)
    }

    #[test]
    fn a_new_directory_is_private_and_an_existing_one_is_checked() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b/state");
        prepare_dir(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);

        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = prepare_dir(&dir).unwrap_err();
        assert_eq!(code(&err), 2);
        assert!(err.to_string().contains("chmod go-w"), "{err}");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        prepare_dir(&dir).unwrap();
    }

    #[test]
    fn links_and_directories_in_place_of_state_files_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("state");
        prepare_dir(&dir).unwrap();
        let target = root.path().join("precious");
        std::fs::write(&target, "keep me").unwrap();
        std::os::unix::fs::symlink(&target, dir.join("history.jsonl")).unwrap();
        let err = prepare_dir(&dir).unwrap_err();
        assert_eq!(code(&err), 2);
        let msg = err.to_string();
        assert!(msg.contains("symbolic link"), "{msg}");
        assert!(msg.contains("history.jsonl"), "{msg}");
        // And opening it without following fails, whatever the check said.
        let e = no_follow(OpenOptions::new().append(true))
            .open(dir.join("history.jsonl"))
            .unwrap_err();
        let err = failure(&dir.join("history.jsonl"), "the run history", &e);
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");

        std::fs::remove_file(dir.join("history.jsonl")).unwrap();
        std::fs::create_dir(dir.join("lock")).unwrap();
        let err = prepare_dir(&dir).unwrap_err();
        assert!(err.to_string().contains("is a directory"), "{err}");
        assert!(err.to_string().contains("rm -r"), "{err}");
    }
}
