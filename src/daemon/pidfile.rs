//! The pidfile, and the lock that makes this the only daemon using it.
//!
//! The lock is an fs2 (flock) lock on `<pidfile>.lock`, held for the life of the
//! process; the kernel drops it when we exit, even on SIGKILL, so a stale pidfile is
//! taken over. A pidfile naming a live anycast-healthchecker (ours, or the Python one,
//! which does not take our lock) is never stale. The pidfile itself is written
//! atomically (temp file and rename) with a trailing newline. The abstract-socket lock
//! that upstream uses is taken too (see `instance.rs`).

use std::fs::{self, File};
use std::io::ErrorKind;
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
        let lock = crate::sys::atomic_file::open_lock_file(&lock_path)
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
            if let Some((pid, cmdline)) = live_healthchecker(old.trim()) {
                bail!(
                    "pidfile {} names process {pid}, which is running {} ({cmdline}); stop it first \
                     (systemctl stop anycast-healthchecker), or remove the pidfile if that process is \
                     not the daemon",
                    path.display(),
                    super::instance::kind_of(&cmdline)
                );
            }
            log::info!("taking over stale pidfile {} (it held {:?})", path.display(), old.trim());
        }
        crate::sys::atomic_file::replace(path, format!("{}\n", std::process::id()).as_bytes())
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

/// The pid in `text` and its command line, if that process is alive, is not us, and
/// runs an anycast-healthchecker. A zombie has an empty command line: not alive.
fn live_healthchecker(text: &str) -> Option<(u32, String)> {
    let pid: u32 = text.parse().ok()?;
    if pid == std::process::id() {
        return None;
    }
    let cmdline = super::instance::cmdline_of(pid)?;
    cmdline.contains("anycast-healthchecker").then_some((pid, cmdline))
}

/// `<pidfile>.lock`, the file whose flock says a daemon runs.
pub fn lock_path(path: &Path) -> PathBuf {
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
    fn a_pidfile_naming_a_live_healthchecker_is_not_stale() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("anycast-healthchecker");
        fs::write(&script, "import time\ntime.sleep(60)\n").unwrap();
        let mut python = std::process::Command::new("/usr/bin/python3").arg(&script).spawn().unwrap();
        let path = dir.path().join("a.pid");
        fs::write(&path, format!("{}\n", python.id())).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !super::super::instance::cmdline_of(python.id())
            .unwrap_or_default()
            .contains("anycast-healthchecker")
        {
            assert!(std::time::Instant::now() < deadline, "python did not start");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let result = Pidfile::acquire(&path);
        let _ = python.kill();
        let _ = python.wait();
        let err = result.err().expect("refused").to_string();
        assert!(err.contains(&format!("names process {}", python.id())), "{err}");
        assert!(err.contains("the Python anycast-healthchecker"), "{err}");
        assert_eq!(fs::read_to_string(&path).unwrap(), format!("{}\n", python.id()), "untouched");
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
