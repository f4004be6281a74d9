//! Telling Bird to load the new prefix file.
//!
//! The daemon-level command (`birdc configure`) succeeds when it exits 0 **and** Bird's
//! reply says it took the configuration: `Reconfigured` (Bird 1.6 and 2 for a prefix
//! change), `Reconfiguration in progress` (Bird 3, or Bird 2 when a protocol restarts)
//! or `Reconfiguration already in progress, queueing new config`. Bird 1.6's birdc exits
//! 0 on a syntax error, so the exit code alone proves nothing. A custom per-service
//! command succeeds when it exits 0.

use std::time::Duration;

use super::control;
use crate::config::Reconfigure;
use crate::sys::argv::Argv;
use crate::sys::command::{self, Finished, Outcome};

/// The replies that mean Bird accepted the configuration, and what each means.
const ACCEPTED: [(&str, Accepted); 3] = [
    ("Reconfigured", Accepted::Reconfigured),
    ("Reconfiguration in progress", Accepted::InProgress { confirmed: false }),
    ("Reconfiguration already in progress, queueing new config", Accepted::Queued),
];

/// How Bird took a configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// `0003 Reconfigured`.
    Reconfigured,
    /// `0004 Reconfiguration in progress`: Bird 3 says it on every configure when BFD
    /// runs, any Bird when a protocol restarts. Upstream logs it as an error (#55); it
    /// is a success. `confirmed`: `configure status` then said Bird is done (control
    /// socket only).
    InProgress { confirmed: bool },
    /// `0005 ... queueing new config`: taken after the one in progress.
    Queued,
}

impl std::fmt::Display for Accepted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Accepted::Reconfigured => "reconfigured",
            Accepted::InProgress { confirmed: true } => "reconfiguration in progress, then confirmed done",
            Accepted::InProgress { confirmed: false } => "reconfiguration in progress (taken)",
            Accepted::Queued => "queued after the reconfiguration in progress",
        })
    }
}

/// Tells Bird to reload, by command or over its control socket. `Err` holds a one-line
/// reason with Bird's own words.
pub fn reconfigure_bird(how: &Reconfigure, timeout: Duration) -> Result<Accepted, String> {
    match how {
        Reconfigure::Command(argv) => run_bird_command(argv, timeout),
        Reconfigure::Socket(path) => control::configure(path, timeout),
    }
}

/// Runs a daemon-level reconfigure command. `Err` holds a one-line reason with Bird's
/// own words.
pub fn run_bird_command(argv: &Argv, timeout: Duration) -> Result<Accepted, String> {
    let done = command::run(argv, timeout);
    let output = combined_output(&done);
    match &done.outcome {
        Outcome::Exited(0) if bird_accepted(&output).is_some() => {
            Ok(bird_accepted(&output).unwrap_or(Accepted::Reconfigured))
        }
        Outcome::Exited(0) => Err(format!(
            "Bird did not accept the configuration (the prefix file or Bird's configuration is broken): {}",
            bird_error_text(&output)
        )),
        Outcome::Exited(code) => Err(format!(
            "exit status {code}: Bird is down or we may not reconfigure it (sudo?): {}",
            bird_error_text(&output)
        )),
        other => Err(describe_failure(other, timeout)),
    }
}

/// Runs a service's custom command with `up` or `down` appended.
pub fn run_custom_command(argv: &Argv, direction: &str, timeout: Duration) -> Result<(), String> {
    let done = command::run(&argv.with_arg(direction), timeout);
    match &done.outcome {
        Outcome::Exited(0) => Ok(()),
        Outcome::Exited(code) => Err(format!("exit status {code}: {}", combined_output(&done).trim())),
        other => Err(describe_failure(other, timeout)),
    }
}

fn describe_failure(outcome: &Outcome, timeout: Duration) -> String {
    match outcome {
        Outcome::TimedOut => {
            format!(
                "timed out after {}s; its process group was killed",
                crate::sys::duration_fmt::secs(timeout)
            )
        }
        Outcome::Signaled(signal) => format!("killed by {}", crate::sys::signal_name::signal_name(*signal)),
        Outcome::NotStarted(err) => format!("could not be started: {err}"),
        Outcome::Cancelled => "stopped: the daemon is stopping".to_string(),
        Outcome::Unknown(err) => format!("its exit status is lost: {err}"),
        Outcome::Exited(code) => format!("exit status {code}"),
    }
}

fn combined_output(done: &Finished) -> String {
    let mut text = done.stdout.text();
    let err = done.stderr.text();
    if !err.is_empty() {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&err);
    }
    text
}

/// How Bird took the configuration, if a line of its reply says it did.
pub fn bird_accepted(output: &str) -> Option<Accepted> {
    output
        .lines()
        .map(strip_reply_code)
        .find_map(|line| ACCEPTED.iter().find(|(text, _)| *text == line).map(|(_, accepted)| *accepted))
}

/// Bird's reply without the greeting and the "Reading configuration" line, on one line.
pub fn bird_error_text(output: &str) -> String {
    let lines: Vec<&str> = output
        .lines()
        .map(strip_reply_code)
        .filter(|l| !l.is_empty() && !l.starts_with("BIRD ") && !l.starts_with("Reading configuration from"))
        .collect();
    if lines.is_empty() {
        "no reply".to_string()
    } else {
        lines.join(" | ")
    }
}

/// `0003 Reconfigured` (the raw socket) and `Reconfigured` (birdc) read the same.
fn strip_reply_code(line: &str) -> &str {
    let line = line.trim();
    control::reply_code(line).map_or(line, |(_, _, text)| text.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_accepting_reply_counts() {
        for reply in [
            "BIRD 2.0.12 ready.\nReading configuration from a.conf\nReconfigured\n",
            "BIRD 3.0 ready.\nReading configuration from a.conf\nReconfiguration in progress\n",
            "Reconfiguration already in progress, queueing new config",
            "0002-Reading configuration from a.conf\n0003 Reconfigured",
        ] {
            assert!(bird_accepted(reply).is_some(), "{reply}");
        }
    }

    #[test]
    fn errors_are_not_success_and_keep_birds_words() {
        let reply = "BIRD 1.6.8 ready.\nReading configuration from /d/a.conf\n/d/p.conf:4:5 syntax error\n";
        assert_eq!(bird_accepted(reply), None);
        assert_eq!(bird_error_text(reply), "/d/p.conf:4:5 syntax error");
        assert_eq!(bird_accepted("Reconfigured? no"), None);
        assert_eq!(
            bird_accepted("BIRD 3.3.2 ready.\nReconfiguration in progress\n"),
            Some(Accepted::InProgress { confirmed: false })
        );
    }

    #[test]
    fn commands_are_judged_by_exit_and_reply() {
        let timeout = Duration::from_secs(5);
        let ok = Argv::parse("/bin/sh -c 'echo Reconfigured'").unwrap();
        assert_eq!(run_bird_command(&ok, timeout), Ok(Accepted::Reconfigured));
        let silent = Argv::parse("/bin/true").unwrap();
        assert!(run_bird_command(&silent, timeout).unwrap_err().contains("did not accept"));
        let down = Argv::parse("/bin/sh -c 'echo Unable to connect >&2; exit 1'").unwrap();
        assert!(run_bird_command(&down, timeout).unwrap_err().contains("Unable to connect"));
        let custom = Argv::parse("/bin/sh -c 'test \"$0\" = up' ").unwrap();
        assert_eq!(run_custom_command(&custom, "up", timeout), Ok(()));
        assert!(run_custom_command(&custom, "down", timeout).is_err());
    }
}
