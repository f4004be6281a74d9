//! The line systemd shows as the unit's `Status:` (`systemctl status`, `systemctl show
//! -p StatusText`): how many services are in each state, whether Bird has the prefix
//! files, and how the last reload went. Made from values here, sent by the daemon
//! whenever it changes.

use crate::config::prefix::IpVersion;
use crate::service::ServiceStatus;
use crate::sys::localtime::LocalTime;

/// Bird behind its file for less than this is a reconfigure in flight, not news.
const BEHIND_SHOWN: f64 = 1.0;

/// A rejected reload's reason is cut to this many characters: the journal has it whole.
const REASON_LIMIT: usize = 160;

/// How the last reload (SIGHUP) went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LastReload {
    None,
    Applied(LocalTime),
    Rejected(LocalTime, String),
}

/// What the line says.
pub(crate) struct Facts<'a> {
    /// Each service's state word.
    pub states: Vec<&'a str>,
    /// Each IP version's seconds behind its file (0 in sync).
    pub behind: &'a [(IpVersion, f64)],
    pub reload: &'a LastReload,
    /// The Bird writer does not answer: the watchdog is no longer pinged.
    pub writer_stuck: bool,
}

/// `3 services: 2 up, 1 down; Bird in sync; reloaded 2026-12-02 10:35:02`.
pub(crate) fn status_text(facts: &Facts) -> String {
    let Facts { states, behind, reload, writer_stuck } = facts;
    let mut text = String::new();
    if *writer_stuck {
        text.push_str("the Bird writer does not answer, systemd's watchdog will restart the daemon; ");
    }
    let noun = if states.len() == 1 { "service" } else { "services" };
    text.push_str(&format!("{} {noun}", states.len()));
    let order = ServiceStatus::ALL.map(ServiceStatus::as_str);
    let mut counts: Vec<String> = order
        .iter()
        .map(|word| (word, states.iter().filter(|s| *s == word).count()))
        .filter(|(_, count)| *count > 0)
        .map(|(word, count)| format!("{count} {word}"))
        .collect();
    // A word the order does not know still counts (a state added later).
    let unknown = states.iter().filter(|s| !order.contains(s)).count();
    if unknown > 0 {
        counts.push(format!("{unknown} other"));
    }
    if !counts.is_empty() {
        text.push_str(": ");
        text.push_str(&counts.join(", "));
    }
    let lagging: Vec<String> = behind
        .iter()
        .filter(|(_, seconds)| *seconds >= BEHIND_SHOWN)
        .map(|(version, seconds)| format!("{version} for {seconds:.0}s"))
        .collect();
    if lagging.is_empty() {
        text.push_str("; Bird in sync");
    } else {
        text.push_str(&format!("; Bird behind its file: {}", lagging.join(", ")));
    }
    match reload {
        LastReload::None => {}
        LastReload::Applied(at) => text.push_str(&format!("; reloaded {at}")),
        LastReload::Rejected(at, why) => {
            let mut short: String = why.chars().take(REASON_LIMIT).collect();
            if short.len() < why.len() {
                short.push_str("...");
            }
            text.push_str(&format!("; reload at {at} rejected, old config kept: {short}"));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use IpVersion::{V4, V6};

    const AT: LocalTime =
        LocalTime { year: 2026, month: 12, day: 2, hour: 10, minute: 35, second: 2, micros: 7 };

    fn text(states: &[&str], behind: &[(IpVersion, f64)], reload: &LastReload) -> String {
        status_text(&Facts { states: states.to_vec(), behind, reload, writer_stuck: false })
    }

    #[test]
    fn the_line_counts_states_in_order_and_says_bird_and_reload() {
        let in_sync = [(V4, 0.0), (V6, 0.3)];
        // (states, behind, last reload, line)
        type Case<'a> = (Vec<&'a str>, Vec<(IpVersion, f64)>, LastReload, &'a str);
        let cases: Vec<Case> = vec![
            (vec![], vec![], LastReload::None, "0 services; Bird in sync"),
            (vec!["unknown"], in_sync.to_vec(), LastReload::None, "1 service: 1 unknown; Bird in sync"),
            (
                vec!["down", "up", "disabled", "up"],
                in_sync.to_vec(),
                LastReload::Applied(AT),
                "4 services: 2 up, 1 down, 1 disabled; Bird in sync; reloaded 2026-12-02 10:35:02",
            ),
            (
                vec!["draining", "degraded", "maintenance", "suppressed", "dead"],
                vec![(V4, 12.4), (V6, 0.0)],
                LastReload::None,
                "5 services: 1 degraded, 1 draining, 1 suppressed, 1 maintenance, 1 dead; \
                 Bird behind its file: IPv4 for 12s",
            ),
            (
                vec!["up", "sideways"],
                vec![(V4, 3.0), (V6, 61.0)],
                LastReload::Rejected(AT, "m.conf: [web] check_rise: must be at least 1".into()),
                "2 services: 1 up, 1 other; Bird behind its file: IPv4 for 3s, IPv6 for 61s; \
                 reload at 2026-12-02 10:35:02 rejected, old config kept: m.conf: [web] check_rise: \
                 must be at least 1",
            ),
        ];
        for (states, behind, reload, expected) in cases {
            assert_eq!(text(&states, &behind, &reload), expected);
        }
    }

    #[test]
    fn a_stuck_writer_comes_first() {
        let facts = Facts { states: vec!["up"], behind: &[], reload: &LastReload::None, writer_stuck: true };
        assert_eq!(
            status_text(&facts),
            "the Bird writer does not answer, systemd's watchdog will restart the daemon; \
             1 service: 1 up; Bird in sync"
        );
    }

    #[test]
    fn a_long_rejection_is_cut_short() {
        let why = "x".repeat(500);
        let text = text(&["up"], &[], &LastReload::Rejected(AT, why));
        assert!(text.ends_with(&format!("{}...", "x".repeat(REASON_LIMIT))), "{text}");
    }
}
