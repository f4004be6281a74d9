//! The pidfile, and the lock that makes this the only daemon using it.
//!
//! The lock is an fs2 (flock) lock on `<pidfile>.lock`, held for the life of the
//! process; the kernel drops it when we exit, even on SIGKILL, so a stale pidfile is
//! simply taken over. The pidfile itself is written atomically (temp file and rename)
//! with a trailing newline. Upstream locks an abstract socket with a fixed name instead,
//! which allows one daemon per network namespace whatever the config.

use std::fs::{self, File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use fs2::FileExt;

/// The pidfile of this running daemon; removed by [`Pidfile::remove`].
pub struct Pidfile {
    path: PathBuf,
    _lock: File,
}

impl Pidfile {
    /// Takes the lock and writes our pid, or says which process holds it.
    pub fn acquire(path: &Path) -> Result<Pidfile> {
        let lock_path = lock_path(path);
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(&lock_path)
            .with_context(|| format!("failed to open lock file {}", lock_path.display()))?;
        if lock.try_lock_exclusive().is_err() {
            let holder = match fs::read_to_string(path) {
                Ok(text) if !text.trim().is_empty() => format!("process {}", text.trim()),
                _ => "another process".to_string(),
            };
            bail!(
                "{holder} is already running with pidfile {} (it holds {})",
                path.display(),
                lock_path.display()
            );
        }
        if let Ok(old) = fs::read_to_string(path) {
            log::info!("taking over stale pidfile {} (it held {:?})", path.display(), old.trim());
        }
        crate::atomic::replace(path, format!("{}\n", std::process::id()).as_bytes())
            .with_context(|| format!("failed to write pidfile {}", path.display()))?;
        Ok(Pidfile { path: path.to_path_buf(), _lock: lock })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the pidfile (a missing one is fine); the lock goes when the process ends.
    pub fn remove(&self) {
        match fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(err) if err.kind() == ErrorKind::NotFound => {}
            Err(err) => log::error!("failed to remove pidfile {}: {err}", self.path.display()),
        }
    }
}

fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_pid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.pid");
        let first = Pidfile::acquire(&path).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), format!("{}\n", std::process::id()));
        let err = Pidfile::acquire(&path).err().unwrap().to_string();
        assert!(err.contains(&format!("process {} is already running", std::process::id())), "{err}");
        first.remove();
        assert!(!path.exists());
    }

    #[test]
    fn a_stale_pidfile_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.pid");
        fs::write(&path, "999999").unwrap();
        let pidfile = Pidfile::acquire(&path).unwrap();
        assert_eq!(fs::read_to_string(pidfile.path()).unwrap(), format!("{}\n", std::process::id()));
    }
}
