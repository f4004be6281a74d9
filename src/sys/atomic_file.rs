//! Replacing a file atomically: a temp file beside it (created exclusively), written and
//! fsynced, renamed over the file, and the directory fsynced. A reader sees the old file
//! or the new one, whole, and a crash leaves one of them. The old file's mode is kept,
//! and its owner where we may change it (as root).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// What the temp file's name starts with, for removing those a killed process left.
pub fn temp_prefix(name: &str) -> String {
    format!(".{name}.tmp.")
}

/// Replaces `path` with `contents`. On failure the temp file is removed.
pub fn replace(path: &Path, contents: &[u8]) -> io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = dir.join(format!("{}{}.{}", temp_prefix(&name), std::process::id(), next_serial()));
    let result = write_and_rename(path, &temp, contents).and_then(|()| File::open(dir)?.sync_all());
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

fn write_and_rename(path: &Path, temp: &PathBuf, contents: &[u8]) -> io::Result<()> {
    let old = fs::metadata(path).ok();
    let mut file = OpenOptions::new().write(true).create_new(true).mode(0o644).open(temp)?;
    if let Some(old) = &old {
        let _ = file.set_permissions(fs::Permissions::from_mode(old.mode() & 0o7777));
        if old.uid() != super::os::uid() {
            let _ = std::os::unix::fs::fchown(&file, Some(old.uid()), Some(old.gid()));
        }
    }
    file.write_all(contents)?;
    file.sync_all()?;
    drop(file);
    fs::rename(temp, path)
}

/// Opens (creating it, mode 0644) a file whose only job is to be `flock`ed: the
/// pidfile's lock and the prefix file's writer lock.
pub(crate) fn open_lock_file(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(0o644).open(path)
}

/// A number unique within this process, for temp and history names.
pub(crate) fn next_serial() -> u64 {
    static SERIAL: AtomicU64 = AtomicU64::new(0);
    SERIAL.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_keeps_its_mode_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, "old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        replace(&path, b"new").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o640);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_failed_replace_removes_its_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        // Renaming a file over a non-empty directory fails.
        let target = dir.path().join("d");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("x"), "").unwrap();
        assert!(replace(&target, b"new").is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
