//! The prefix file on disk: read it, replace it atomically, keep its history.
//!
//! A write takes an exclusive lock on `.<name>.lock` beside the file, writes a temp file
//! in the same directory (created exclusively), fsyncs it, renames it over the file and
//! fsyncs the directory, so Bird never reads a torn or half-written file and a crash
//! leaves the old or the new file, whole. The file's mode and owner are kept. A symbolic
//! link is followed on every write (upstream resolves it once at start) and left in
//! place.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use fs2::FileExt;

use crate::sys::atomic_file;

/// How long to wait for another holder of the lock before giving up (and retrying later).
const LOCK_PATIENCE: Duration = Duration::from_secs(2);

/// The file's contents, or None if there is no file.
pub fn read(path: &Path) -> Result<Option<String>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("failed to read {}", path.display())),
    }
}

/// Where the file really is: a symbolic link's target (followed on every call), or the
/// path itself.
pub fn real_path(path: &Path) -> PathBuf {
    match fs::canonicalize(path) {
        Ok(real) => real,
        // No file yet: resolve the directory, keep the name.
        Err(_) => match (path.parent().and_then(|dir| fs::canonicalize(dir).ok()), path.file_name()) {
            (Some(dir), Some(name)) => dir.join(name),
            _ => path.to_path_buf(),
        },
    }
}

/// Replaces the file at `path` with `contents`, atomically and durably, holding the
/// lock so that no other writer interleaves.
pub fn write_atomically(path: &Path, contents: &str) -> Result<()> {
    let real = real_path(path);
    let dir = real.parent().context("the prefix file has no directory")?;
    let _lock = lock(&dir.join(format!(".{}.lock", file_name(&real)?)))?;
    atomic_file::replace(&real, contents.as_bytes())
        .with_context(|| format!("failed to replace {}", real.display()))
}

/// Removes temp files that a killed process left beside the file.
pub fn remove_stale_temp_files(path: &Path) -> Result<usize> {
    let real = real_path(path);
    let dir = real.parent().context("the prefix file has no directory")?;
    let prefix = atomic_file::temp_prefix(&file_name(&real)?);
    let mut removed = 0;
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(err) => return Err(err).with_context(|| format!("failed to list {}", dir.display())),
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) && fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

/// Copies the current file into `history/` beside it, then keeps only the newest
/// `keep` copies of this file there (upstream keeps one more than asked and counts any
/// stray file).
pub fn archive(path: &Path, keep: u32) -> Result<()> {
    let real = real_path(path);
    if !real.exists() {
        return Ok(());
    }
    let dir = real.parent().context("the prefix file has no directory")?.join("history");
    fs::create_dir_all(&dir).with_context(|| format!("failed to create {}", dir.display()))?;
    let name = file_name(&real)?;
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let copy = dir.join(format!(
        "{name}.{:010}.{:09}.{}",
        since_epoch.as_secs(),
        since_epoch.subsec_nanos(),
        atomic_file::next_serial()
    ));
    fs::copy(&real, &copy)
        .with_context(|| format!("failed to copy {} to {}", real.display(), copy.display()))?;
    let mut copies: Vec<PathBuf> = fs::read_dir(&dir)
        .with_context(|| format!("failed to list {}", dir.display()))?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&format!("{name}.")))
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .collect();
    // Names carry a fixed-width time, so name order is age order.
    copies.sort();
    let excess = copies.len().saturating_sub(keep.max(1) as usize);
    for old in &copies[..excess] {
        fs::remove_file(old).with_context(|| format!("failed to remove {}", old.display()))?;
    }
    Ok(())
}

fn file_name(path: &Path) -> Result<String> {
    Ok(path.file_name().context("the prefix file has no name")?.to_string_lossy().into_owned())
}

/// Holds an exclusive lock on `path` until dropped.
fn lock(path: &Path) -> Result<File> {
    let file = atomic_file::open_lock_file(path)
        .with_context(|| format!("failed to open lock file {}", path.display()))?;
    let give_up = Instant::now() + LOCK_PATIENCE;
    loop {
        match file.try_lock_exclusive() {
            Ok(()) => return Ok(file),
            Err(err) if Instant::now() >= give_up => {
                return Err(err)
                    .with_context(|| format!("failed to lock {}: another process holds it", path.display()))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    use super::*;

    #[test]
    fn writes_replace_the_file_and_leave_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.conf");
        write_atomically(&path, "one\n").unwrap();
        write_atomically(&path, "two\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "two\n");
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into())
            .collect();
        assert!(names.iter().all(|n| !n.contains(".tmp.")), "{names:?}");
    }

    #[test]
    fn the_mode_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.conf");
        fs::write(&path, "old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        write_atomically(&path, "new").unwrap();
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o640);
    }

    #[test]
    fn a_symbolic_link_is_followed_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("real")).unwrap();
        let target = dir.path().join("real/p.conf");
        fs::write(&target, "old").unwrap();
        let link = dir.path().join("link.conf");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_atomically(&link, "new").unwrap();
        assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(fs::read_to_string(&target).unwrap(), "new");
    }

    #[test]
    fn history_keeps_exactly_the_newest_copies() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.conf");
        fs::write(dir.path().join("stray"), "").unwrap();
        for n in 0..6 {
            write_atomically(&path, &format!("{n}\n")).unwrap();
            archive(&path, 3).unwrap();
        }
        fs::write(dir.path().join("history/unrelated"), "").unwrap();
        archive(&path, 3).unwrap();
        let mut copies: Vec<String> = fs::read_dir(dir.path().join("history"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("p.conf."))
            .map(|p| fs::read_to_string(p).unwrap())
            .collect();
        copies.sort();
        assert_eq!(copies, ["4\n", "5\n", "5\n"]);
        assert!(dir.path().join("history/unrelated").exists());
    }

    #[test]
    fn stale_temp_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.conf");
        fs::write(dir.path().join(".p.conf.tmp.123.0"), "torn").unwrap();
        assert_eq!(remove_stale_temp_files(&path).unwrap(), 1);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
