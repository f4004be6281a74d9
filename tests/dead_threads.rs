//! A dead thread is never silent. A service thread that panics (a bug, injected here
//! through the debug build's test hook) is logged as CRITICAL with its service, its
//! prefixes are withdrawn and it is restarted; the Bird writer dying stops the daemon
//! with exit 1, for systemd to restart it.

use crate::common;

use std::time::Duration;

use crate::common::{DaemonProcess, Setup};

const WAIT: Duration = Duration::from_secs(20);

/// Starts the daemon with the fault hook pointed at `<root>/panic`.
fn start_with_fault_hook(setup: &Setup) -> DaemonProcess {
    let hook = setup.path("panic");
    DaemonProcess::start_with_env(
        setup.root(),
        &["-f", "main.conf", "-d", "conf.d"],
        &[("ANYCAST_HEALTHCHECKER_TEST_PANIC", hook.to_str().unwrap())],
    )
}

#[test]
fn a_service_thread_that_panics_is_said_withdrawn_and_restarted() {
    let setup = Setup::new("", "");
    setup.touch("ok");
    setup.flag_service("web", "10.52.12.1", "ok", "");
    setup.flag_service("dns", "10.52.12.2", "ok", "");
    let mut daemon = start_with_fault_hook(&setup);
    setup.wait_for_prefixes(&["10.52.12.1/32", "10.52.12.2/32"], WAIT);

    setup.touch("panic.web");
    daemon.wait_for_log("restarting the thread of service web", WAIT);
    common::wait_for("web announced again after its restart", WAIT, || {
        let log = daemon.log();
        log.find("restarting the thread of service web")
            .is_some_and(|at| log[at..].contains("announcing 10.52.12.1/32 for web"))
    });
    setup.wait_for_prefixes(&["10.52.12.1/32", "10.52.12.2/32"], WAIT);
    let log = daemon.log();
    let died = log.find("the thread of service web died (panicked)").expect("the death is logged");
    let critical = log
        .lines()
        .find(|l| {
            l.contains(
                "the thread of service web died (panicked); withdrawing its prefixes and restarting it in 1s",
            )
        })
        .expect("the CRITICAL line");
    assert!(critical.contains(" CRITICAL "), "{critical}");
    let withdrawn = log[died..].find("withdrawing 10.52.12.1/32 for web").expect("withdrawn") + died;
    let restarted = log.find("restarting the thread of service web").unwrap();
    let announced = log[restarted..].find("announcing 10.52.12.1/32 for web").expect("back") + restarted;
    assert!(withdrawn < restarted && restarted < announced, "withdrawn, restarted, announced:\n{log}");
    assert!(!log.contains("withdrawing 10.52.12.2/32"), "dns is untouched:\n{log}");
    assert_eq!(daemon.wait_exit_now(), None, "the daemon runs on");
}

#[test]
fn the_writer_dying_stops_the_daemon_with_exit_1() {
    let setup = Setup::new("", "");
    setup.flag_service("web", "10.52.12.1", "ok", "");
    let mut daemon = start_with_fault_hook(&setup);
    daemon.wait_for_log("event=down", WAIT);
    setup.touch("panic.bird-writer");
    setup.touch("ok");
    assert_eq!(daemon.wait_exit(WAIT), Some(1), "{}", daemon.log());
    let log = daemon.log();
    assert!(
        log.lines().any(|l| l.contains(" CRITICAL ") && l.contains("the Bird writer thread died")),
        "{log}"
    );
    assert!(!setup.path("run/ahc.pid").exists(), "the pidfile is removed");
    let prefixes = setup.bird_prefixes();
    assert_eq!(prefixes, ["10.189.200.255/32"], "the file is whole, as last written");
}

/// systemd's watchdog is fed only while the Bird writer answers: a writer stuck (a
/// write that never returns, injected here) goes unpinged, with a CRITICAL event and
/// the unit's status line saying so, so that systemd restarts the daemon; pings
/// resume when it answers again.
#[test]
fn a_stuck_writer_stops_the_watchdog_pings() {
    let setup = Setup::new("", "");
    setup.flag_service("web", "10.52.12.1", "ok", "");
    let socket_path = setup.path("notify.sock");
    let mut systemd = common::NotifySocket::bind(&socket_path);
    let stall = setup.path("stall");
    let daemon = DaemonProcess::start_with_env(
        setup.root(),
        &["-f", "main.conf", "-d", "conf.d"],
        &[
            ("NOTIFY_SOCKET", socket_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "1000000"),
            ("ANYCAST_HEALTHCHECKER_TEST_STALL", stall.to_str().unwrap()),
        ],
    );
    systemd.collect_until("two pings", WAIT, |m| m.iter().filter(|m| *m == "WATCHDOG=1").count() >= 2);

    setup.touch("stall.bird-writer");
    let stuck = |m: &String| m.starts_with("STATUS=the Bird writer does not answer");
    systemd.collect_until("the stuck status", WAIT, |m| m.iter().any(stuck));
    daemon.wait_for_log("event=writer_hung", WAIT);
    // The main loop goes on (its status file is rewritten every 2 s) while no ping
    // goes out: wait for two rewrites, where a daemon still pinging sends eight.
    let updated = || {
        let text = std::fs::read_to_string(setup.path("run/ahc.pid.status")).unwrap_or_default();
        text.lines().find_map(|l| l.strip_prefix("updated=")).map(str::to_string)
    };
    for _ in 0..2 {
        let before = updated();
        common::wait_for("the status file rewritten", WAIT, || updated() != before);
    }
    setup.remove("stall.bird-writer");
    let at = systemd.messages.iter().position(stuck).unwrap();
    systemd.collect_until("a ping after the writer answers", WAIT, |m| {
        m[at..].iter().any(|m| m == "WATCHDOG=1")
    });
    let after: Vec<&String> = systemd.messages[at..].iter().collect();
    let ping = after.iter().position(|m| *m == "WATCHDOG=1").unwrap();
    let recovered = after.iter().position(|m| m.starts_with("STATUS=") && !stuck(m));
    assert!(recovered.is_some_and(|r| r < ping), "no ping while stuck, the status line first: {after:?}");
    assert!(daemon.log().contains("the Bird writer answers again"), "{}", daemon.log());
}
