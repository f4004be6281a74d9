//! A dead thread is never silent. A service thread that panics (a bug, injected here
//! through the debug build's test hook) is logged as CRITICAL with its service, its
//! prefixes are withdrawn and it is restarted; the Bird writer dying stops the daemon
//! with exit 1, for systemd to restart it.

mod common;

use std::time::Duration;

use common::{DaemonProcess, Setup};

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
    daemon.wait_for_log("status changed to DOWN", WAIT);
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
