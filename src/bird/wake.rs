//! Waking a Bird 2 older than 2.14 after a `configure`.
//!
//! Those Birds decide how long to sleep in `poll()` before they learn that a reload's
//! export work has queued BGP updates, and then sleep up to 3 s with the last updates
//! of the reload unsent (fixed in Bird 2.14: "IO: Fix race condition in event
//! processing"). Our `configure` changes a filter's prefix set, so every one reloads
//! the BGP channels: on such a Bird the last routes of a storm reached the peer about
//! 3 s late (`cargo bench --bench storm`). Any activity on one of Bird's sockets
//! wakes it, so after a `configure` the worker connects to its control socket a few
//! times (the configured socket, or the one a `birdc` command names), reads the
//! greeting and hangs up; the first greeting says which Bird answers, and a Bird
//! without the bug, or a socket we may not open, is left alone.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::sys::argv::Argv;

/// Where `birdc` connects when not told (`-s`): Bird's default control socket.
const BIRDC_DEFAULT_SOCKET: &str = "/run/bird/bird.ctl";

/// The control socket a reconfigure command talks to, when it runs `birdc` (also
/// under `sudo`): its `-s` argument, or Bird's default. None for anything else.
pub(crate) fn socket_of(argv: &Argv) -> Option<PathBuf> {
    let words: Vec<&str> =
        std::iter::once(argv.program()).chain(argv.args().iter().map(String::as_str)).collect();
    let birdc = words.iter().position(|w| Path::new(w).file_name().is_some_and(|name| name == "birdc"))?;
    let after = &words[birdc + 1..];
    let socket = after.iter().position(|w| *w == "-s").and_then(|i| after.get(i + 1));
    Some(PathBuf::from(socket.copied().unwrap_or(BIRDC_DEFAULT_SOCKET)))
}

/// The Bird version in a control-socket greeting (`0001 BIRD 2.0.12 ready.`), as
/// (major, minor).
pub(crate) fn bird_version(greeting: &str) -> Option<(u32, u32)> {
    let version = greeting.strip_prefix("0001 BIRD ")?.split_whitespace().next()?;
    let mut numbers = version.trim_start_matches('v').split(['.', '-']).map(str::parse::<u32>);
    Some((numbers.next()?.ok()?, numbers.next()?.ok()?))
}

/// Whether the Bird that greeted with `greeting` can hold a reload's last updates.
pub(crate) fn holds_updates(greeting: &str) -> bool {
    matches!(bird_version(greeting), Some((2, minor)) if minor < 14)
}

/// The `n`th wake-up after a `configure` (from 0), counted from its end: every 20 ms
/// for 0.2 s (a reload of a few thousand routes is done by then), then at 0.4, 0.8 and
/// 1.6 s for a Bird slowed by a busy machine; none after, as Bird wakes itself at 3 s.
pub(crate) fn wake_after(n: usize) -> Option<Duration> {
    const LATE: [u64; 3] = [400, 800, 1600];
    match n {
        0..=9 => Some(Duration::from_millis(20 * (n as u64 + 1))),
        _ => LATE.get(n - 10).map(|ms| Duration::from_millis(*ms)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn birds_before_2_14_hold_updates() {
        let table = [
            ("0001 BIRD 2.0.12 ready.", Some((2, 0)), true),
            ("0001 BIRD 2.13.1 ready.", Some((2, 13)), true),
            ("0001 BIRD 2.0.8-42-gdeadbeef ready.", Some((2, 0)), true),
            ("0001 BIRD 2.14 ready.", Some((2, 14)), false),
            ("0001 BIRD 2.17.1 ready.", Some((2, 17)), false),
            ("0001 BIRD 3.1.0 ready.", Some((3, 1)), false),
            ("0001 BIRD 1.6.8 ready.", Some((1, 6)), false),
            ("0001 BIRD ready.", None, false),
            ("hello", None, false),
        ];
        for (greeting, version, holds) in table {
            assert_eq!(bird_version(greeting), version, "{greeting}");
            assert_eq!(holds_updates(greeting), holds, "{greeting}");
        }
    }

    #[test]
    fn a_birdc_command_names_its_socket() {
        let table = [
            ("/usr/sbin/birdc configure", Some("/run/bird/bird.ctl")),
            ("sudo /usr/sbin/birdc configure", Some("/run/bird/bird.ctl")),
            ("birdc -s /var/run/bird/bird.ctl configure", Some("/var/run/bird/bird.ctl")),
            ("/usr/bin/sudo -n /usr/sbin/birdc -s /tmp/a.ctl configure", Some("/tmp/a.ctl")),
            ("/usr/sbin/birdc6 configure", None),
            ("/usr/local/bin/reload-bird", None),
            ("/bin/sh -c 'echo Reconfigured'", None),
        ];
        for (command, socket) in table {
            let argv = Argv::parse(command).unwrap();
            assert_eq!(socket_of(&argv), socket.map(PathBuf::from), "{command}");
        }
    }

    #[test]
    fn wake_ups_come_often_at_first_and_stop_before_birds_own_3_s() {
        let schedule: Vec<u64> = (0..).map_while(wake_after).map(|d| d.as_millis() as u64).collect();
        assert_eq!(schedule, [20, 40, 60, 80, 100, 120, 140, 160, 180, 200, 400, 800, 1600]);
    }
}
