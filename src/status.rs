//! `--status`: a Nagios-style check of a running daemon, replacing upstream's contrib
//! plugin (which miscounts threads whenever the exporter runs).
//!
//! The daemon keeps `<pidfile>.status` up to date (every few seconds): its pid, when it
//! last wrote, its service threads, and how long Bird has been behind each prefix file.
//! Whether a daemon runs is decided by its lock (who holds `<pidfile>.lock`, from
//! /proc/locks), never by a pid that may be a zombie or reused. The check exits 0 OK,
//! 1 WARNING, 2 CRITICAL or 3 UNKNOWN, with one line on stdout.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// After this long without an update the daemon counts as hung.
const STALE_AFTER: Duration = Duration::from_secs(30);

/// Bird behind its file for longer than this is a warning (a reconfigure keeps failing).
const BEHIND_WARNING: f64 = 5.0;

/// What the daemon reports about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub pid: u32,
    pub services: usize,
    pub threads_expected: usize,
    pub threads_alive: usize,
    /// Seconds Bird is behind, per IP version ("4", "6").
    pub bird_behind: Vec<(String, f64)>,
    /// Each service as the operator sees it.
    pub services_view: Vec<ServiceLine>,
}

/// One service in the report: its state, since when (seconds since the epoch), why.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceLine {
    pub name: String,
    pub state: String,
    pub since: u64,
    pub reason: String,
}

pub fn status_path(pidfile: &Path) -> PathBuf {
    let mut name = pidfile.as_os_str().to_owned();
    name.push(".status");
    PathBuf::from(name)
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Writes the report atomically.
pub fn write(pidfile: &Path, report: &Report) -> std::io::Result<()> {
    let mut text = format!(
        "pid={}\nupdated={}\nservices={}\nthreads_expected={}\nthreads_alive={}\n",
        report.pid,
        now(),
        report.services,
        report.threads_expected,
        report.threads_alive
    );
    for (version, behind) in &report.bird_behind {
        text.push_str(&format!("bird_behind_seconds_v{version}={behind:.1}\n"));
    }
    for line in &report.services_view {
        let clean = |text: &str| text.replace(['\n', '\t'], " ");
        text.push_str(&format!(
            "service={}\t{}\t{}\t{}\n",
            clean(&line.name),
            line.state,
            line.since,
            clean(&line.reason)
        ));
    }
    crate::atomic::replace(&status_path(pidfile), text.as_bytes())
}

pub fn remove(pidfile: &Path) {
    let _ = std::fs::remove_file(status_path(pidfile));
}

/// Nagios exit codes, in rising severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Ok = 0,
    Warning = 1,
    Critical = 2,
    Unknown = 3,
}

impl Severity {
    /// The word Nagios plugins print first.
    pub fn word(self) -> &'static str {
        match self {
            Severity::Ok => "OK",
            Severity::Warning => "WARNING",
            Severity::Critical => "CRITICAL",
            Severity::Unknown => "UNKNOWN",
        }
    }
}

/// Checks the daemon that uses `pidfile`; the verdict and one line for the operator.
pub fn check(pidfile: &Path) -> (Severity, String) {
    let lock = crate::daemon::pidfile_lock_path(pidfile);
    let Some(pid) = lock_holder(&lock) else {
        return (Severity::Critical, format!("not running: no process holds {}", lock.display()));
    };
    let text = match std::fs::read_to_string(status_path(pidfile)) {
        Ok(text) => text,
        Err(err) => {
            return (
                Severity::Unknown,
                format!("process {pid} runs but {} cannot be read: {err}", status_path(pidfile).display()),
            )
        }
    };
    let fields: BTreeMap<&str, &str> =
        text.lines().filter(|l| !l.starts_with("service=")).filter_map(|l| l.split_once('=')).collect();
    let services = service_lines(&text);
    let number = |key: &str| fields.get(key).and_then(|v| v.parse::<f64>().ok());
    let (Some(updated), Some(expected), Some(alive), Some(_)) =
        (number("updated"), number("threads_expected"), number("threads_alive"), number("services"))
    else {
        return (Severity::Unknown, format!("{} is incomplete", status_path(pidfile).display()));
    };
    let age = now() as f64 - updated;
    if age > STALE_AFTER.as_secs_f64() {
        return (Severity::Critical, format!("process {pid} has not reported for {age:.0}s: hung?"));
    }
    if alive < expected {
        return (
            Severity::Critical,
            format!("only {alive} of {expected} service threads of process {pid} are alive{services}"),
        );
    }
    let behind: Vec<String> = fields
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("bird_behind_seconds_v")?, v.parse::<f64>().ok()?)))
        .filter(|(_, seconds)| *seconds > BEHIND_WARNING)
        .map(|(version, seconds)| format!("IPv{version} {seconds:.0}s"))
        .collect();
    if !behind.is_empty() {
        return (
            Severity::Warning,
            format!("process {pid} runs {count} checks, but Bird is behind its prefix file ({}): reconfigure failing{services}", behind.join(", "), count = fields.get("services").copied().unwrap_or("?")),
        );
    }
    let count = fields.get("services").copied().unwrap_or("?");
    (Severity::Ok, format!("process {pid} runs {count} checks ({alive} threads), Bird in sync{services}"))
}

/// The services of a report, one line each after the summary (Nagios long output):
/// `web: up since 2026-11-30 00:01:02 (check passed)`.
fn service_lines(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines().filter_map(|l| l.strip_prefix("service=")) {
        let parts: Vec<&str> = line.splitn(4, '\t').collect();
        if let [name, state, since, reason] = parts[..] {
            let since = since.parse::<u64>().map_or_else(
                |_| "?".to_string(),
                |s| crate::localtime::LocalTime::at(UNIX_EPOCH + Duration::from_secs(s)).to_string(),
            );
            out.push_str(&format!("\n{name}: {state} since {since} ({reason})"));
        }
    }
    out
}

/// The pid holding a flock on `path`, from /proc/locks (read only: taking the lock to
/// test it could make a daemon starting at that moment refuse to start).
fn lock_holder(path: &Path) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    let device = format!("{:02x}:{:02x}:{}", libc::major(meta.dev()), libc::minor(meta.dev()), meta.ino());
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    // "1: FLOCK  ADVISORY  WRITE 31677 fe:00:10019260 0 EOF"; waiters have "->".
    locks.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) != Some(&"FLOCK") || fields.get(5) != Some(&device.as_str()) {
            return None;
        }
        fields.get(4)?.parse().ok()
    })
}
