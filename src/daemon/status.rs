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

use crate::config::prefix::IpPrefix;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::sys::localtime::LocalTime;

/// After this long without an update the daemon counts as hung.
const STALE_AFTER: Duration = Duration::from_secs(30);

/// Bird behind its file for longer than this is a warning (a reconfigure keeps failing).
const BEHIND_WARNING: f64 = 5.0;

/// What the daemon reports about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusReport {
    pub pid: u32,
    pub services: usize,
    pub threads_expected: usize,
    pub threads_alive: usize,
    /// Seconds Bird is behind, per IP version ("4", "6").
    pub bird_behind: Vec<(String, f64)>,
    /// Each service as the operator sees it.
    pub services_view: Vec<ServiceLine>,
}

/// One service in the report: its state, since when (seconds since the epoch), why,
/// and what the prefix files say of each of its prefixes.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceLine {
    pub name: String,
    pub state: String,
    pub since: u64,
    pub reason: String,
    pub prefixes: Vec<(IpPrefix, Listing)>,
}

/// What the prefix files say of a prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    Announced,
    /// Announced, in the degraded set: less preferred.
    Degraded,
    Withdrawn,
}

impl Listing {
    fn word(self) -> &'static str {
        match self {
            Listing::Announced => "announced",
            Listing::Degraded => "degraded",
            Listing::Withdrawn => "withdrawn",
        }
    }

    fn from_word(word: &str) -> Option<Listing> {
        [Listing::Announced, Listing::Degraded, Listing::Withdrawn].into_iter().find(|l| l.word() == word)
    }

    /// As `--status` says it.
    fn said(self) -> &'static str {
        match self {
            Listing::Announced => "announced",
            Listing::Degraded => "announced, less preferred (degraded set)",
            Listing::Withdrawn => "withdrawn",
        }
    }
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
pub fn write(pidfile: &Path, report: &StatusReport) -> std::io::Result<()> {
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
        let prefixes: Vec<String> =
            line.prefixes.iter().map(|(prefix, listing)| format!("{prefix}={}", listing.word())).collect();
        text.push_str(&format!(
            "service={}\t{}\t{}\t{}\t{}\n",
            clean(&line.name),
            line.state,
            line.since,
            clean(&line.reason),
            prefixes.join(",")
        ));
    }
    crate::sys::atomic_file::replace(&status_path(pidfile), text.as_bytes())
}

pub fn remove(pidfile: &Path) {
    let _ = std::fs::remove_file(status_path(pidfile));
}

/// Nagios exit codes, in rising severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NagiosCode {
    Ok = 0,
    Warning = 1,
    Critical = 2,
    Unknown = 3,
}

impl NagiosCode {
    /// The word Nagios plugins print first.
    pub fn word(self) -> &'static str {
        match self {
            NagiosCode::Ok => "OK",
            NagiosCode::Warning => "WARNING",
            NagiosCode::Critical => "CRITICAL",
            NagiosCode::Unknown => "UNKNOWN",
        }
    }
}

/// Checks the daemon that uses `pidfile`; the verdict and the text for the operator:
/// one line, then one per service (or only those whose prefixes cover `only`).
pub fn check(pidfile: &Path, only: Option<&IpPrefix>) -> (NagiosCode, String) {
    let lock = crate::daemon::pidfile_lock_path(pidfile);
    let Some(pid) = lock_holder(&lock) else {
        return (NagiosCode::Critical, format!("not running: no process holds {}", lock.display()));
    };
    let text = match std::fs::read_to_string(status_path(pidfile)) {
        Ok(text) => text,
        Err(err) => {
            return (
                NagiosCode::Unknown,
                format!("process {pid} runs but {} cannot be read: {err}", status_path(pidfile).display()),
            )
        }
    };
    let fields: BTreeMap<&str, &str> =
        text.lines().filter(|l| !l.starts_with("service=")).filter_map(|l| l.split_once('=')).collect();
    let services = service_lines(&text, only);
    let number = |key: &str| fields.get(key).and_then(|v| v.parse::<f64>().ok());
    let (Some(updated), Some(expected), Some(alive), Some(_)) =
        (number("updated"), number("threads_expected"), number("threads_alive"), number("services"))
    else {
        return (NagiosCode::Unknown, format!("{} is incomplete", status_path(pidfile).display()));
    };
    let age = now() as f64 - updated;
    if age > STALE_AFTER.as_secs_f64() {
        return (NagiosCode::Critical, format!("process {pid} has not reported for {age:.0}s: hung?"));
    }
    if alive < expected {
        return (
            NagiosCode::Critical,
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
            NagiosCode::Warning,
            format!("process {pid} runs {count} checks, but Bird is behind its prefix file ({}): reconfigure failing{services}", behind.join(", "), count = fields.get("services").copied().unwrap_or("?")),
        );
    }
    let count = fields.get("services").copied().unwrap_or("?");
    (NagiosCode::Ok, format!("process {pid} runs {count} checks ({alive} threads), Bird in sync{services}"))
}

/// The services of a report, one line each after the summary (Nagios long output):
/// `web: up since 2026-11-30 00:01:02 (check passed); 10.52.12.1/32 announced`. With
/// `only`, first what the prefix files say of it, then only the services whose
/// prefixes cover it (or that it covers).
fn service_lines(text: &str, only: Option<&IpPrefix>) -> String {
    let lines: Vec<ServiceLine> =
        text.lines().filter_map(|l| l.strip_prefix("service=")).filter_map(parse_line).collect();
    let mut out = String::new();
    if let Some(only) = only {
        let mut said: Vec<(IpPrefix, Listing)> = lines
            .iter()
            .flat_map(|line| line.prefixes.iter().copied())
            .filter(|(prefix, _)| prefix.overlaps(only))
            .collect();
        said.sort_by_key(|(prefix, _)| *prefix);
        said.dedup();
        if said.is_empty() {
            out.push_str(&format!("\n{only}: no service's ip_prefix covers it: it is not ours to announce"));
        }
        for (prefix, listing) in said {
            out.push_str(&format!("\n{prefix} is {}", listing.said()));
        }
    }
    let shown = lines
        .iter()
        .filter(|line| only.map_or(true, |only| line.prefixes.iter().any(|(p, _)| p.overlaps(only))));
    for line in shown {
        let since = LocalTime::at(UNIX_EPOCH + Duration::from_secs(line.since));
        out.push_str(&format!("\n{}: {} since {since} ({})", line.name, line.state, line.reason));
        let prefixes: Vec<String> =
            line.prefixes.iter().map(|(prefix, listing)| format!("{prefix} {}", listing.said())).collect();
        if !prefixes.is_empty() {
            out.push_str(&format!("; {}", prefixes.join(", ")));
        }
    }
    out
}

/// A `service=` line of the status file: `NAME\tSTATE\tSINCE\tREASON\tPREFIX=LISTING,...`.
fn parse_line(line: &str) -> Option<ServiceLine> {
    let parts: Vec<&str> = line.splitn(5, '\t').collect();
    let [name, state, since, reason, ref rest @ ..] = parts[..] else { return None };
    let prefixes = rest
        .first()
        .map(|listed| {
            listed
                .split(',')
                .filter_map(|item| item.split_once('='))
                .filter_map(|(prefix, word)| Some((prefix.parse().ok()?, Listing::from_word(word)?)))
                .collect()
        })
        .unwrap_or_default();
    Some(ServiceLine {
        name: name.to_string(),
        state: state.to_string(),
        since: since.parse().unwrap_or(0),
        reason: reason.to_string(),
        prefixes,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "pid=1\nupdated=2\nservices=3\nthreads_expected=3\nthreads_alive=3\n\
        service=web\tdown\t0\tcheck exited 7\t10.52.12.1/32=withdrawn\n\
        service=dns\tdegraded\t0\tcheck exited 3: degraded\t10.52.12.2/32=degraded,fd00::53/128=degraded\n\
        service=lb\tup\t0\tcheck passed\t10.52.0.0/16=announced\n";

    fn lines(only: Option<&str>) -> Vec<String> {
        let only = only.map(|p| p.parse::<IpPrefix>().unwrap());
        let text = service_lines(REPORT, only.as_ref());
        // Each line: everything but the local time in "since ...".
        text.lines()
            .skip(1)
            .map(|l| match l.split_once(" since ") {
                Some((head, rest)) => format!("{head} ({}", rest.split_once(" (").map_or("", |(_, r)| r)),
                None => l.to_string(),
            })
            .collect()
    }

    #[test]
    fn each_service_names_its_prefixes_and_what_the_files_say() {
        assert_eq!(
            lines(None),
            [
                "web: down (check exited 7); 10.52.12.1/32 withdrawn",
                "dns: degraded (check exited 3: degraded); 10.52.12.2/32 announced, less preferred (degraded set), \
                 fd00::53/128 announced, less preferred (degraded set)",
                "lb: up (check passed); 10.52.0.0/16 announced",
            ]
        );
    }

    #[test]
    fn a_prefix_or_address_shows_what_covers_it_and_why() {
        assert_eq!(
            lines(Some("10.52.12.1")),
            [
                "10.52.0.0/16 is announced",
                "10.52.12.1/32 is withdrawn",
                "web: down (check exited 7); 10.52.12.1/32 withdrawn",
                "lb: up (check passed); 10.52.0.0/16 announced",
            ]
        );
        assert_eq!(
            lines(Some("fd00::/64")),
            [
                "fd00::53/128 is announced, less preferred (degraded set)",
                "dns: degraded (check exited 3: degraded); 10.52.12.2/32 announced, less preferred (degraded set), \
                 fd00::53/128 announced, less preferred (degraded set)",
            ]
        );
        assert_eq!(
            lines(Some("192.0.2.1")),
            ["192.0.2.1/32: no service's ip_prefix covers it: it is not ours to announce"]
        );
    }
}
