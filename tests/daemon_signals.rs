//! Signals: SIGHUP reloads as a diff (or keeps running on a bad config), SIGURG runs
//! every check now, SIGTERM applies `on_exit` and removes the pidfile; and a second
//! daemon refuses to start.

use crate::common;

use std::time::Duration;

use crate::common::{DaemonProcess, Setup};

const WAIT: Duration = Duration::from_secs(15);

#[test]
fn sighup_applies_the_diff_without_touching_unchanged_services() {
    let setup = Setup::new("", "check_interval = 0.2");
    setup.touch("ok");
    // "kept" needs five passes to rise: a restart would show as new "going up" lines.
    setup.flag_service("kept", "10.52.12.1", "ok", "check_rise = 5");
    setup.flag_service("changed", "10.52.12.2", "ok", "");
    setup.flag_service("removed", "10.52.12.3", "ok", "");
    let daemon = setup.start();
    setup.wait_for_prefixes(&["10.52.12.1/32", "10.52.12.2/32", "10.52.12.3/32"], WAIT);
    let kept_rising = daemon.service_lines("kept", "going up");
    assert_eq!(kept_rising, 4);

    // A new check command: a new thread (timing alone would keep the state: see
    // tests/damping.rs).
    setup.touch("ok-too");
    setup.flag_service("changed", "10.52.12.2", "ok-too", "");
    setup.remove_service("removed");
    setup.flag_service("added", "10.52.12.4", "ok", "");
    daemon.signal(libc::SIGHUP);
    daemon.wait_for_log(
        "reload applied: 1 services kept, 0 retuned (state kept), 1 changed, 1 added, 1 removed",
        WAIT,
    );
    // One summary line at start and one per reload.
    daemon.wait_for_log("3 services (3 checked, 0 disabled), 15.0 checks/s; IPv4: ", WAIT);
    assert!(
        daemon.log().contains("3 services (3 checked, 0 disabled), 15.0 checks/s; IPv4: "),
        "{}",
        daemon.log()
    );
    setup.wait_for_prefixes(&["10.52.12.1/32", "10.52.12.2/32", "10.52.12.4/32"], WAIT);
    // Five checks of "kept" after the reload: a restarted thread would be rising again.
    daemon.wait_for_more(" kept ", 10, WAIT);
    assert_eq!(daemon.service_lines("kept", "going up"), kept_rising, "kept did not start over");
    assert_eq!(daemon.service_lines("kept", "event=up"), 1);
    assert!(daemon.log().contains("withdrawing 10.52.12.3/32"));
}

#[test]
fn a_bad_config_on_sighup_is_logged_once_and_changes_nothing() {
    let setup = Setup::new("", "");
    setup.touch("ok");
    setup.flag_service("web", "10.52.12.1", "ok", "");
    let daemon = setup.start();
    setup.wait_for_prefixes(&["10.52.12.1/32"], WAIT);
    setup.flag_service("web", "10.52.12.1", "ok", "check_rise = 0");
    daemon.signal(libc::SIGHUP);
    daemon.wait_for_log("event=reload_rejected", WAIT);
    daemon.wait_for_more("running /bin/sh", 3, WAIT);
    assert_eq!(daemon.log_count("event=reload_rejected"), 1);
    assert!(daemon.log().contains("conf.d/web.conf: [web] check_rise: must be at least 1"));
    assert_eq!(setup.bird_prefixes(), ["10.189.200.255/32", "10.52.12.1/32"]);
    let runs = daemon.service_lines("web", "running");
    common::wait_for("the service to keep running", WAIT, || {
        daemon.service_lines("web", "running") >= runs + 3
    });
}

#[test]
fn sigurg_runs_every_check_now_even_while_one_runs() {
    let setup = Setup::new("", "check_interval = 100\ncheck_timeout = 50");
    setup.service("fast", "check_cmd = /bin/true\nip_prefix = 10.52.12.1");
    setup.service("slow", "check_cmd = sleep 1.5\nip_prefix = 10.52.12.2");
    let daemon = setup.start();
    setup.wait_for_prefixes(&["10.52.12.1/32"], WAIT);
    // Log lines are written in batches: wait for the line, not just the file.
    common::wait_for("fast's first check in the log", WAIT, || {
        daemon.service_lines("fast", "running /bin/true") == 1
    });
    // "slow" is in its first check now; SIGURG must not be lost.
    daemon.signal(libc::SIGURG);
    common::wait_for("fast to run again", Duration::from_secs(2), || {
        daemon.service_lines("fast", "running /bin/true") == 2
    });
    common::wait_for("slow to run again after its check", Duration::from_secs(5), || {
        daemon.service_lines("slow", "running sleep") == 2
    });
    setup.wait_for_prefixes(&["10.52.12.1/32", "10.52.12.2/32"], WAIT);
    // That a burst folds into one run is a unit test of the control requests
    // (src/service/thread.rs): it needs no timing.
}

#[test]
fn sigterm_applies_on_exit_and_removes_the_pidfile() {
    let setup = Setup::new("", "");
    setup.touch("ok");
    setup.flag_service("keep", "10.52.12.1", "ok", "");
    setup.flag_service("withdraw", "10.52.12.2", "ok", "on_exit = withdraw");
    setup.flag_service("advertise", "10.52.12.3", "no-such-flag", "on_exit = advertise");
    let mut daemon = setup.start();
    setup.wait_for_prefixes(&["10.52.12.1/32", "10.52.12.2/32"], WAIT);
    let pidfile = setup.path("run/ahc.pid");
    assert_eq!(std::fs::read_to_string(&pidfile).unwrap(), format!("{}\n", daemon.pid()));
    daemon.signal(libc::SIGTERM);
    assert_eq!(daemon.wait_exit(WAIT), Some(0));
    assert!(!pidfile.exists(), "the pidfile is removed");
    let mut prefixes = setup.bird_prefixes();
    prefixes.sort();
    assert_eq!(prefixes, ["10.189.200.255/32", "10.52.12.1/32", "10.52.12.3/32"]);
    assert!(setup.reconfigure_runs("done") >= 2, "Bird was told about the exit");
}

#[test]
fn sigint_stops_like_sigterm() {
    let setup = Setup::new("", "");
    setup.flag_service("web", "10.52.12.1", "ok", "");
    let mut daemon = setup.start();
    daemon.wait_for_log("event=down", WAIT);
    daemon.signal(libc::SIGINT);
    assert_eq!(daemon.wait_exit(WAIT), Some(0));
    assert!(!setup.path("run/ahc.pid").exists());
    // Signals by name, and commands with their quoting, as an operator would type them.
    let log = daemon.log();
    assert!(log.contains("received SIGINT, shutting down"), "{log}");
    let check = format!("running /bin/sh -c 'test -e {}/ok'", setup.root().display());
    assert!(log.contains(&check), "{check} in:\n{log}");
}

#[test]
fn a_second_instance_refuses_to_start_naming_the_first() {
    let setup = Setup::new("", "");
    setup.flag_service("web", "10.52.12.1", "ok", "");
    let first = setup.start();
    common::wait_for("the pidfile", WAIT, || setup.path("run/ahc.pid").exists());
    // The same config: the one-instance lock (upstream's abstract socket) refuses it.
    let mut second = setup.start();
    assert_eq!(second.wait_exit(WAIT), Some(1));
    let expected = format!("it is held by anycast-healthchecker (pid {}:", first.pid());
    assert!(second.log().contains(&expected), "{}", second.log());
    assert_eq!(std::fs::read_to_string(setup.path("run/ahc.pid")).unwrap(), format!("{}\n", first.pid()));

    // Another lock name but the same pidfile: the pidfile's lock refuses it.
    let main = std::fs::read_to_string(setup.path("main.conf")).unwrap();
    let other: Vec<String> = main
        .lines()
        .map(|l| {
            if l.starts_with("instance_lock") {
                format!("instance_lock = ahc-other-{}", std::process::id())
            } else {
                l.to_string()
            }
        })
        .collect();
    setup.sandbox.write("other.conf", &other.join("\n"));
    let mut third = DaemonProcess::start(setup.root(), &["-f", "other.conf", "-d", "conf.d"]);
    assert_eq!(third.wait_exit(WAIT), Some(1));
    let expected = format!(
        "process {} is already running with pidfile {}",
        first.pid(),
        setup.path("run/ahc.pid").display()
    );
    assert!(third.log().contains(&expected), "{}", third.log());
    assert_eq!(std::fs::read_to_string(setup.path("run/ahc.pid")).unwrap(), format!("{}\n", first.pid()));
}

#[test]
fn a_lock_name_held_by_another_process_refuses_the_start_and_touches_nothing() {
    use std::os::linux::net::SocketAddrExt;
    let name = format!("ahc-held-{}", std::process::id());
    let setup = Setup::new(&format!("instance_lock = {name}"), "");
    setup.flag_service("web", "10.52.12.1", "ok", "");
    let address = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let _held = std::os::unix::net::UnixDatagram::bind_addr(&address).unwrap();
    let mut daemon = setup.start();
    assert_eq!(daemon.wait_exit(WAIT), Some(1));
    let log = daemon.log();
    assert!(log.contains(&format!("abstract namespace socket @{name}")), "{log}");
    assert!(log.contains(&format!("held by another program (pid {}:", std::process::id())), "{log}");
    assert!(!setup.path("run/ahc.pid").exists(), "no pidfile");
    assert!(!setup.path("lib/4.conf").exists(), "no Bird file");
}

#[test]
fn a_pidfile_naming_a_running_python_healthchecker_refuses_the_start() {
    let setup = Setup::new("", "");
    setup.flag_service("web", "10.52.12.1", "ok", "");
    // A Python process that looks like upstream's daemon (but holds no lock of ours).
    let script = setup.sandbox.write("bin/anycast-healthchecker", "import time\ntime.sleep(120)\n");
    let mut python = std::process::Command::new("/usr/bin/python3").arg(&script).spawn().unwrap();
    setup.sandbox.write("run/ahc.pid", &format!("{}\n", python.id()));
    common::wait_for("python to run the script", WAIT, || {
        std::fs::read(format!("/proc/{}/cmdline", python.id()))
            .is_ok_and(|c| String::from_utf8_lossy(&c).contains("bin/anycast-healthchecker"))
    });
    let mut daemon = setup.start();
    let code = daemon.wait_exit(WAIT);
    let _ = python.kill();
    let _ = python.wait();
    assert_eq!(code, Some(1));
    let log = daemon.log();
    assert!(
        log.contains(&format!(
            "names process {}, which is running the Python anycast-healthchecker",
            python.id()
        )),
        "{log}"
    );
    assert!(!setup.path("lib/4.conf").exists(), "no Bird file");
}

#[test]
fn a_stale_pidfile_is_taken_over() {
    let setup = Setup::new("", "");
    setup.flag_service("web", "10.52.12.1", "ok", "");
    setup.sandbox.write("run/ahc.pid", "4194999\n");
    let daemon = setup.start();
    daemon.wait_for_log("taking over stale pidfile", WAIT);
    common::wait_for("our pid in the pidfile", WAIT, || {
        std::fs::read_to_string(setup.path("run/ahc.pid")).unwrap_or_default()
            == format!("{}\n", daemon.pid())
    });
}
