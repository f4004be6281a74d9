//! The events an operator may alert on: one table of stable names, syslog severities
//! and the words every line of the event carries. Where upstream logs the same event
//! the words are upstream's, so syslog rules written for the Python daemon keep
//! matching; every event line also ends in `event=<name>` (and `service=<name>` when
//! it is about one service), and JSON lines carry an `event` field.
//!
//! Log an event with `event!(Alert::Down, "changed to DOWN")`; README.rst's
//! table of events is this one (a test compares them).

/// A syslog severity (RFC 5424 names), as the event is sent to syslog and journald.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertSeverity {
    Critical,
    Error,
    Warning,
    Notice,
}

impl AlertSeverity {
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn name(self) -> &'static str {
        match self {
            AlertSeverity::Critical => "crit",
            AlertSeverity::Error => "err",
            AlertSeverity::Warning => "warning",
            AlertSeverity::Notice => "notice",
        }
    }

    /// The `log` level that lets the line through the `loglevel` filter.
    pub fn log_level(self) -> log::Level {
        match self {
            AlertSeverity::Critical | AlertSeverity::Error => log::Level::Error,
            AlertSeverity::Warning => log::Level::Warn,
            AlertSeverity::Notice => log::Level::Info,
        }
    }
}

/// One event of the catalog. README.rst's table is made from these (a unit test holds
/// them equal), hence the fields only tests read.
#[derive(Debug)]
#[cfg_attr(not(test), allow(dead_code))]
pub struct AlertEntry {
    /// The `log` target that marks the line: `event:` and the stable name.
    pub target: &'static str,
    pub severity: AlertSeverity,
    /// Words every line of this event contains (upstream's where it has them).
    pub text: &'static str,
    /// The text is upstream's own.
    pub upstream: bool,
    /// What happened, for README.rst's table.
    pub meaning: &'static str,
}

impl AlertEntry {
    pub fn name(&self) -> &'static str {
        &self.target["event:".len()..]
    }
}

/// The events, in the catalog's order (an index into [`CATALOG`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alert {
    Started,
    Stopped,
    Up,
    Down,
    Degraded,
    Draining,
    Maintenance,
    Suppressed,
    IpNotAssigned,
    CheckTimedOut,
    CheckNotStarted,
    ReconfigureFailed,
    ReconfigureRecovered,
    BirdBehind,
    ThreadDied,
    WriterHung,
    ReloadApplied,
    ReloadRejected,
    LogLinesDropped,
}

impl Alert {
    pub fn entry(self) -> &'static AlertEntry {
        &CATALOG[self as usize]
    }
}

const fn entry(
    target: &'static str,
    severity: AlertSeverity,
    text: &'static str,
    upstream: bool,
    meaning: &'static str,
) -> AlertEntry {
    AlertEntry { target, severity, text, upstream, meaning }
}

pub const CATALOG: [AlertEntry; 19] = [
    entry(
        "event:started",
        AlertSeverity::Notice,
        "starting anycast-healthchecker",
        false,
        "the daemon started",
    ),
    entry("event:stopped", AlertSeverity::Notice, "shutdown is complete", false, "the daemon stopped"),
    entry(
        "event:up",
        AlertSeverity::Notice,
        "changed to UP",
        true,
        "a service passed check_rise checks: its prefixes are advertised",
    ),
    entry(
        "event:down",
        AlertSeverity::Warning,
        "changed to DOWN",
        true,
        "a service failed check_fail checks: its prefixes are withdrawn",
    ),
    entry(
        "event:degraded",
        AlertSeverity::Warning,
        "status DEGRADED",
        false,
        "a check exited with a degraded code: still advertised, less preferred",
    ),
    entry(
        "event:draining",
        AlertSeverity::Warning,
        "draining",
        false,
        "a service is drained (degraded) before it is withdrawn",
    ),
    entry(
        "event:maintenance",
        AlertSeverity::Warning,
        "enters maintenance",
        false,
        "a maintenance file appeared: the service is withdrawn and not checked",
    ),
    entry(
        "event:suppressed",
        AlertSeverity::Warning,
        "flap damping suppresses",
        false,
        "a flapping service is held withdrawn",
    ),
    entry(
        "event:ip_not_assigned",
        AlertSeverity::Warning,
        "status DOWN because",
        true,
        "the service's address is not on its interface: withdrawn at once",
    ),
    entry(
        "event:check_timed_out",
        AlertSeverity::Error,
        "check timed out",
        true,
        "a check ran out of check_timeout and was killed (or a probe gave up)",
    ),
    entry(
        "event:check_not_started",
        AlertSeverity::Error,
        "failed to run check command",
        false,
        "a check program could not be started",
    ),
    entry(
        "event:reconfigure_failed",
        AlertSeverity::Error,
        "reconfiguring BIRD failed",
        true,
        "Bird could not be reconfigured; retried with backoff",
    ),
    entry(
        "event:reconfigure_recovered",
        AlertSeverity::Notice,
        "works again",
        false,
        "Bird was reconfigured after failures",
    ),
    entry(
        "event:bird_behind",
        AlertSeverity::Critical,
        "Bird is behind its prefix file",
        false,
        "Bird has not taken the prefix file for bird_behind_critical_seconds",
    ),
    entry(
        "event:thread_died",
        AlertSeverity::Critical,
        "died",
        false,
        "a service thread (or the writer) died; its prefixes are withdrawn and it is restarted",
    ),
    entry(
        "event:writer_hung",
        AlertSeverity::Critical,
        "has not answered",
        false,
        "the Bird writer is stuck: the watchdog is no longer pinged, so systemd restarts the daemon",
    ),
    entry(
        "event:reload_applied",
        AlertSeverity::Notice,
        "reload applied",
        false,
        "SIGHUP: the new configuration is in force",
    ),
    entry(
        "event:reload_rejected",
        AlertSeverity::Error,
        "reload failed, keeping the running configuration",
        false,
        "SIGHUP: the new configuration is invalid; nothing changed",
    ),
    entry(
        "event:log_lines_dropped",
        AlertSeverity::Warning,
        "log lines were dropped",
        false,
        "a log destination failed or was too slow; reported once it works again",
    ),
];

/// The catalog entry of a `log` target, if it marks an event.
pub fn by_target(target: &str) -> Option<&'static AlertEntry> {
    if !target.starts_with("event:") {
        return None;
    }
    CATALOG.iter().find(|entry| entry.target == target)
}

/// Logs an event: `event!(Alert::Down, "changed to {}", "DOWN")`, or with the
/// service it is about when another thread logs it:
/// `event!(Alert::ThreadDied, service = &name; "...")`.
macro_rules! event {
    ($event:expr, service = $service:expr; $($arg:tt)+) => {
        $crate::telemetry::logging::about_service($service, || $crate::telemetry::catalog::event!($event, $($arg)+))
    };
    ($event:expr, $($arg:tt)+) => {{
        let entry = $crate::telemetry::catalog::Alert::entry($event);
        log::log!(target: entry.target, entry.severity.log_level(), $($arg)+)
    }};
}
pub(crate) use event;

#[cfg(test)]
mod tests {
    use super::*;

    /// README.rst's table of events, as the catalog makes it.
    fn readme_table() -> String {
        let rows: Vec<[String; 4]> = std::iter::once([
            "event".to_string(),
            "severity".to_string(),
            "every line contains".to_string(),
            "when".to_string(),
        ])
        .chain(CATALOG.iter().map(|entry| {
            let upstream = if entry.upstream { " (upstream's)" } else { "" };
            [
                format!("``event={}``", entry.name()),
                entry.severity.name().to_string(),
                format!("``{}``{upstream}", entry.text),
                entry.meaning.to_string(),
            ]
        }))
        .collect();
        let widths: Vec<usize> = (0..4).map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0)).collect();
        let rule: String = widths.iter().map(|w| "=".repeat(*w)).collect::<Vec<_>>().join("  ");
        let line = |row: &[String; 4]| {
            let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
            cells.join("  ").trim_end().to_string()
        };
        let mut table = vec![rule.clone(), line(&rows[0]), rule.clone()];
        table.extend(rows[1..].iter().map(line));
        table.push(rule);
        table.join("\n")
    }

    #[test]
    fn the_readme_table_is_the_catalog() {
        let readme = include_str!("../../README.rst");
        let start =
            ".. The table of events, made from src/telemetry/catalog.rs (a unit test compares them).\n\n";
        let from = readme.find(start).map(|at| at + start.len());
        let table = from.and_then(|from| readme[from..].split("\n\n").next());
        assert_eq!(
            table,
            Some(readme_table().as_str()),
            "README.rst's table should be:\n\n{}\n",
            readme_table()
        );
    }

    #[test]
    fn every_event_indexes_its_own_entry_and_names_are_unique() {
        let events = [
            Alert::Started,
            Alert::Stopped,
            Alert::Up,
            Alert::Down,
            Alert::Degraded,
            Alert::Draining,
            Alert::Maintenance,
            Alert::Suppressed,
            Alert::IpNotAssigned,
            Alert::CheckTimedOut,
            Alert::CheckNotStarted,
            Alert::ReconfigureFailed,
            Alert::ReconfigureRecovered,
            Alert::BirdBehind,
            Alert::ThreadDied,
            Alert::WriterHung,
            Alert::ReloadApplied,
            Alert::ReloadRejected,
            Alert::LogLinesDropped,
        ];
        assert_eq!(events.len(), CATALOG.len());
        for (index, event) in events.iter().enumerate() {
            assert_eq!(*event as usize, index);
            let name = format!("{event:?}");
            let snake: String = name
                .chars()
                .enumerate()
                .flat_map(|(i, c)| {
                    let lower = c.to_ascii_lowercase();
                    if c.is_ascii_uppercase() && i > 0 {
                        vec!['_', lower]
                    } else {
                        vec![lower]
                    }
                })
                .collect();
            assert_eq!(event.entry().name(), snake, "the name is the variant's");
        }
        let mut names: Vec<&str> = CATALOG.iter().map(AlertEntry::name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CATALOG.len());
        assert_eq!(by_target("event:down").map(AlertEntry::name), Some("down"));
        assert!(by_target("event:nope").is_none() && by_target("anycast_healthchecker::service").is_none());
    }
}
