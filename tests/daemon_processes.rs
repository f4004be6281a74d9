//! Checks and reconfigure commands cannot hang the daemon: each is killed at its
//! timeout with its whole process group, nothing is left behind, output is bounded, and
//! a failing reconfigure is retried until it succeeds.
#![allow(unsafe_code)] // libc calls on the processes under test

use crate::common;

use std::time::Duration;

use crate::common::{processes_with, zombie_children, DaemonProcess, Setup};

const WAIT: Duration = Duration::from_secs(15);

#[test]
fn runaway_checks_are_killed_with_their_group_and_others_keep_their_schedule() {
    let marker = format!("{}{}", std::process::id(), common::unique());
    let setup = Setup::new("", "check_interval = 1\ncheck_timeout = 0.5");
    setup.service("sleeper", &format!("check_cmd = sleep 1000.{marker}1\nip_prefix = 10.52.12.1"));
    setup.service(
        "forker",
        &format!(
            "check_cmd = /bin/sh -c 'sleep 1000.{marker}2 & sleep 1000.{marker}3'\nip_prefix = 10.52.12.2"
        ),
    );
    setup.service(
        "chatty",
        &format!(
            "check_cmd = /bin/sh -c 'head -c 100000000 /dev/zero; sleep 1000.{marker}4'\nip_prefix = 10.52.12.3"
        ),
    );
    setup.service("steady", "check_cmd = /bin/true\nip_prefix = 10.52.12.4\ncheck_interval = 0.2");
    let mut daemon = setup.start();

    // Three rounds of timeouts.
    let mut peak_rss = 0;
    common::wait_for("three timeouts of each runaway", WAIT, || {
        peak_rss = peak_rss.max(daemon.rss_kib());
        daemon.log_count("event=check_timed_out") >= 9
    });
    assert!(peak_rss > 0 && peak_rss < 64 * 1024, "daemon RSS {peak_rss} KiB");

    // The runaways failed, the steady one kept running every 0.2 s throughout.
    setup.wait_for_prefixes(&["10.52.12.4/32"], WAIT);
    let steady_runs =
        daemon.log().lines().filter(|l| l.contains(" steady ") && l.contains("running /bin/true")).count();
    assert!(steady_runs >= 10, "steady ran {steady_runs} times in the meantime");
    // The 100 MB writer was drained (never blocked on a full pipe) and killed on time.
    let chatty_timeouts =
        daemon.log().lines().filter(|l| l.contains(" chatty ") && l.contains("check timed out")).count();
    assert!(chatty_timeouts >= 1, "{}", daemon.log());

    // Every process of one round, grandchildren included, is gone after its timeout.
    common::wait_for("a round to run", WAIT, || processes_with(&format!("1000.{marker}")).len() >= 4);
    let round: Vec<i32> = processes_with(&format!("1000.{marker}"));
    let timeouts = daemon.log_count("event=check_timed_out");
    common::wait_for("the next round of timeouts", WAIT, || {
        daemon.log_count("event=check_timed_out") >= timeouts + 3
    });
    let still: Vec<i32> =
        processes_with(&format!("1000.{marker}")).into_iter().filter(|p| round.contains(p)).collect();
    assert!(still.is_empty(), "left from an earlier round: {still:?}");
    assert!(zombie_children(daemon.pid()).is_empty(), "zombies: {:?}", zombie_children(daemon.pid()));

    daemon.signal(libc::SIGTERM);
    assert_eq!(daemon.wait_exit(WAIT), Some(0));
    common::wait_for("every runaway process to be gone", Duration::from_secs(5), || {
        processes_with(&format!("1000.{marker}")).is_empty()
    });
}

#[test]
fn a_check_whose_program_vanishes_is_a_failed_check_not_a_dead_thread() {
    let setup = Setup::new("", "");
    let program = setup.sandbox.write("check.sh", "#!/bin/sh\nexit 0\n");
    common::make_executable(&program);
    setup.service("vanish", &format!("check_cmd = {}\nip_prefix = 10.52.12.1", program.display()));
    let mut daemon = setup.start();
    setup.wait_for_prefixes(&["10.52.12.1/32"], WAIT);
    std::fs::remove_file(&program).unwrap();
    daemon.wait_for_log("event=check_not_started", WAIT);
    setup.wait_for_prefixes(&[], WAIT);
    // The thread keeps checking (and failing) instead of dying.
    daemon.wait_for_more("event=check_not_started", 2, WAIT);
    assert_eq!(daemon.wait_exit_now(), None, "the daemon is still running");
}

#[test]
fn a_failing_reconfigure_is_retried_until_it_succeeds() {
    let setup = Setup::new("", "");
    setup.touch("bird-down");
    setup.flag_service("web", "10.52.12.1", "ok", "");
    setup.touch("ok");
    let daemon = setup.start();
    setup.wait_for_prefixes(&["10.52.12.1/32"], WAIT);
    common::wait_for("two failed attempts", WAIT, || setup.reconfigure_runs("start") >= 3);
    assert!(daemon.log().contains("Unable to connect to server control socket"), "Bird's words are logged");
    assert_eq!(setup.reconfigure_runs("done"), 0);
    setup.remove("bird-down");
    common::wait_for("a successful retry", WAIT, || setup.reconfigure_runs("done") >= 1);
    setup.wait_bird_has_files(WAIT);
    let after = setup.reconfigure_runs("start");
    // Five more checks of web later, still no new run: Bird has the file.
    daemon.wait_for_more("running /bin/sh -c 'test -e", 5, WAIT);
    assert_eq!(setup.reconfigure_runs("start"), after, "no more runs once Bird has the file");
}

#[test]
fn a_hanging_reconfigure_is_killed_at_its_timeout() {
    let marker = format!("sleep 1000.{}", std::process::id());
    let setup = Setup::new("bird_reconfigure_timeout = 0.5", "");
    setup.touch("bird-hangs");
    setup.flag_service("web", "10.52.12.1", "ok", "");
    setup.touch("ok");
    let daemon = setup.start();
    daemon.wait_for_log("timed out after 0.500s; its process group was killed", WAIT);
    setup.remove("bird-hangs");
    common::wait_for("a successful retry", WAIT, || setup.reconfigure_runs("done") >= 1);
    assert!(processes_with(&marker).is_empty(), "the hung reconfigure is gone");
    assert!(zombie_children(daemon.pid()).is_empty());
}

#[test]
fn checks_inherit_no_file_descriptor_nor_systemd_variable_of_the_daemon() {
    use std::os::unix::process::CommandExt;
    let setup = Setup::new("", "");
    let listing = setup.path("fds");
    let environment = setup.path("env");
    // `env` first, then `ls -l /proc/self/fd` after `exec`: ls's own descriptors, one
    // of which is the directory it reads.
    setup.service(
        "fds",
        &format!(
            "check_cmd = /bin/sh -c 'env > {}; exec ls -l /proc/self/fd > {}'\nip_prefix = 10.52.12.1",
            environment.display(),
            listing.display()
        ),
    );
    // systemd's notify socket (a real one, so the daemon uses it) and watchdog.
    let socket_path = setup.path("notify.sock");
    let _socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    // Start the daemon with only 0, 1 and 2 open, as systemd does, so that whatever
    // else a check holds came from the daemon.
    let log = std::fs::File::create(setup.path("daemon.log")).unwrap();
    let mut command = std::process::Command::new(common::binary());
    command
        .args(["-f", "main.conf", "-d", "conf.d"])
        .current_dir(setup.root())
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "30000000")
        .env("AHC_TEST_MARKER", "inherited")
        // The daemon adds its own tunable for itself; the check gets this one.
        .env("GLIBC_TUNABLES", "glibc.malloc.perturb=0")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log);
    // SAFETY: close_range is async-signal-safe; it runs in the child before exec.
    unsafe {
        command.pre_exec(|| {
            libc::close_range(3, u32::MAX, 0);
            Ok(())
        });
    }
    let mut daemon = command.spawn().unwrap();
    common::wait_for("the listing", WAIT, || {
        std::fs::read_to_string(&listing).is_ok_and(|t| t.contains("->"))
    });
    // The daemon started itself again (same pid) with glibc's thread cache off,
    // keeping the operator's tunables to give back to checks. (glibc takes the
    // tunables it applied out of the string, so the mark is what shows.)
    let started_with = std::fs::read(format!("/proc/{}/environ", daemon.id())).unwrap();
    let _ = daemon.kill();
    let _ = daemon.wait();
    let started_with = String::from_utf8_lossy(&started_with);
    assert!(
        started_with.split('\0').any(|v| v == "ANYCAST_HEALTHCHECKER_GLIBC_TUNABLES==glibc.malloc.perturb=0"),
        "{started_with:?}"
    );
    let text = std::fs::read_to_string(&listing).unwrap();
    let mut fds: Vec<&str> = text
        .lines()
        .filter_map(|line| line.split_once(" -> "))
        .filter(|(_, target)| !target.starts_with("/proc/"))
        .filter_map(|(left, _)| left.split_whitespace().last())
        .collect();
    fds.sort();
    assert_eq!(fds, ["0", "1", "2"], "a check inherited other descriptors:\n{text}");
    let env = std::fs::read_to_string(&environment).unwrap();
    // The rest of the environment is passed on, as upstream does.
    assert!(env.contains("AHC_TEST_MARKER=inherited"), "{env}");
    for variable in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "ANYCAST_HEALTHCHECKER_GLIBC_TUNABLES"]
    {
        assert!(!env.contains(&format!("{variable}=")), "a check inherited {variable}:\n{env}");
    }
    assert!(env.lines().any(|line| line == "GLIBC_TUNABLES=glibc.malloc.perturb=0"), "{env}");
}

#[test]
fn a_daemon_started_with_sigchld_ignored_still_sees_its_checks_exit() {
    // Some launchers start their children with SIGCHLD ignored; then the kernel reaps
    // the checks itself and waitpid finds nothing (every check looked timed out).
    let setup = Setup::new("", "check_interval = 0.2\ncheck_timeout = 1\ncheck_rise = 2");
    setup.service("web", "check_cmd = /bin/true\nip_prefix = 10.52.12.1");
    setup.service("broken", "check_cmd = /bin/sh -c 'exit 3'\nip_prefix = 10.52.12.2");
    let script = format!("trap '' CHLD; exec {} -f main.conf -d conf.d", common::binary());
    // bash, not dash: dash keeps SIGCHLD for itself and does not pass "ignored" on.
    let daemon = DaemonProcess::start_via(setup.root(), "bash", &["-c", &script], &[]);
    setup.wait_for_prefixes(&["10.52.12.1/32"], WAIT);
    daemon.wait_for_log("check duration", WAIT);
    daemon.wait_for_log("exit status 3", WAIT);
    assert_eq!(daemon.log_count("event=check_timed_out"), 0, "{}", daemon.log());
}

#[test]
fn descriptors_the_daemon_inherited_never_reach_a_check() {
    // Launched with fd 7 open and not close-on-exec (a careless launcher): the check is
    // healthy only while it does not have it.
    let setup = Setup::new("", "check_interval = 0.2\ncheck_rise = 1");
    let listing = setup.path("fds");
    setup.service(
        "web",
        &format!(
            "check_cmd = /bin/sh -c 'ls /proc/$$/fd > {}; test ! -e /proc/$$/fd/7'\nip_prefix = 10.52.12.1",
            listing.display()
        ),
    );
    let script = format!("exec 7</dev/null; exec {} -f main.conf -d conf.d", common::binary());
    let daemon = DaemonProcess::start_via(setup.root(), "bash", &["-c", &script], &[]);
    common::wait_for("the check to run", WAIT, || listing.exists());
    setup.wait_for_prefixes(&["10.52.12.1/32"], WAIT);
    let fds = std::fs::read_to_string(&listing).unwrap_or_default();
    let fds: Vec<u32> = fds.split_whitespace().filter_map(|fd| fd.parse().ok()).collect();
    // 10 is dash's own (it keeps its stdout there around the redirect); nothing of ours.
    assert!(fds.iter().all(|fd| *fd <= 2 || *fd == 10), "the check's descriptors: {fds:?}\n{}", daemon.log());
    assert!(fds.len() >= 3, "{fds:?}");
}

#[test]
fn where_the_kernel_refuses_a_private_descriptor_table_checks_still_start_and_it_is_said_once() {
    // The debug build's hook acts as a seccomp profile that refuses close_range and
    // unshare(CLONE_FILES) would.
    let setup = Setup::new("", "check_interval = 0.2\ncheck_rise = 1");
    setup.service("web", "check_cmd = /bin/true\nip_prefix = 10.52.12.1");
    setup.service("dns", "check_cmd = /bin/true\nip_prefix = 10.52.12.2");
    let daemon = DaemonProcess::start_with_env(
        setup.root(),
        &["-f", "main.conf", "-d", "conf.d"],
        &[("ANYCAST_HEALTHCHECKER_TEST_NO_UNSHARE", "1")],
    );
    setup.wait_for_prefixes(&["10.52.12.1/32", "10.52.12.2/32"], WAIT);
    daemon.wait_for_more("running /bin/true", 6, WAIT);
    assert_eq!(daemon.log_count("refuses close_range and unshare"), 1, "{}", daemon.log());
    assert_eq!(daemon.log_count("event=check_not_started"), 0, "{}", daemon.log());
}
