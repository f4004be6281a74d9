//! Fault injection: the Bird file's directory full or read-only, the reconfigure
//! command missing, a check deleted while it runs, SIGHUP and SIGURG storms. Nothing
//! crashes, errors are logged and retried, and at the end the Bird file matches the
//! services' states. Needs root for the mount namespace (CI runs as root).

use crate::common;

use std::path::PathBuf;
use std::time::Duration;

use crate::common::{binary, file_prefixes, DaemonProcess, Setup};

const WAIT: Duration = Duration::from_secs(20);

/// Starts the daemon in a private mount namespace in which `lib/` (the Bird file's
/// directory) is a 1 MiB tmpfs. The test reaches that tmpfs through /proc/PID/root.
/// None (after a loud SKIPPED line) without root: the test mounts a tmpfs.
fn start_on_small_tmpfs(setup: &Setup) -> Option<(DaemonProcess, PathBuf)> {
    if !common::root_or_skip() {
        return None;
    }
    let lib = setup.path("lib");
    let script = format!(
        "mount --make-rprivate / && mount -t tmpfs -o size=1m tmpfs {} && exec {} -f main.conf -d conf.d",
        lib.display(),
        binary()
    );
    let daemon = DaemonProcess::start_via(setup.root(), "unshare", &["-m", "sh", "-c", &script], &[]);
    let inside = PathBuf::from(format!("/proc/{}/root{}", daemon.pid(), lib.display()));
    Some((daemon, inside))
}

fn prefixes_in(dir: &std::path::Path) -> Vec<String> {
    let mut prefixes = file_prefixes(&dir.join("4.conf")).unwrap_or_default();
    prefixes.sort();
    prefixes
}

fn temp_files(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains(".tmp."))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_full_bird_directory_is_retried_until_space_returns() {
    let setup = Setup::new("", "");
    setup.flag_service("web", "10.52.12.1", "ok", "");
    let Some((daemon, lib)) = start_on_small_tmpfs(&setup) else { return };
    common::wait_for("the first file", WAIT, || prefixes_in(&lib) == ["10.189.200.255/32"]);
    // Fill the tmpfs.
    let filler = lib.join("filler");
    let _ = std::fs::write(&filler, vec![0u8; 2 << 20]);
    setup.touch("ok");
    daemon.wait_for_log("No space left on device", WAIT);
    daemon.wait_for_log("retrying the Bird file in", WAIT);
    assert_eq!(prefixes_in(&lib), ["10.189.200.255/32"], "the old file is whole");
    std::fs::remove_file(&filler).unwrap();
    common::wait_for("the file once space returns", WAIT, || {
        prefixes_in(&lib) == ["10.189.200.255/32", "10.52.12.1/32"]
    });
    assert_eq!(temp_files(&lib), Vec::<String>::new(), "no temp file is left");
    assert_eq!(daemon.log_count("panicked"), 0);
}

#[test]
fn a_read_only_bird_directory_is_retried_until_it_is_writable() {
    let setup = Setup::new("", "");
    setup.flag_service("web", "10.52.12.1", "ok", "");
    let Some((daemon, lib)) = start_on_small_tmpfs(&setup) else { return };
    common::wait_for("the first file", WAIT, || prefixes_in(&lib) == ["10.189.200.255/32"]);
    let pid = daemon.pid().to_string();
    let remount = |mode: &str| {
        let status = std::process::Command::new("nsenter")
            .args([
                "-t",
                &pid,
                "-m",
                "mount",
                "-o",
                &format!("remount,{mode}"),
                &setup.path("lib").display().to_string(),
            ])
            .status()
            .expect("nsenter");
        assert!(status.success(), "remount {mode}");
    };
    remount("ro");
    setup.touch("ok");
    daemon.wait_for_log("Read-only file system", WAIT);
    daemon.wait_for_log("retrying the Bird file in", WAIT);
    remount("rw");
    common::wait_for("the file once writable", WAIT, || {
        prefixes_in(&lib) == ["10.189.200.255/32", "10.52.12.1/32"]
    });
    assert_eq!(temp_files(&lib), Vec::<String>::new());
}

#[test]
fn a_missing_reconfigure_command_is_retried_until_it_is_back() {
    let setup = Setup::new("", "");
    setup.flag_service("web", "10.52.12.1", "ok", "");
    let daemon = setup.start();
    setup.wait_for_prefixes(&[], WAIT);
    setup.wait_bird_has_files(WAIT);
    let script = setup.path("reconfigure.sh");
    let hidden = setup.path("reconfigure.sh.away");
    std::fs::rename(&script, &hidden).unwrap();
    let runs = setup.reconfigure_runs("done");
    setup.touch("ok");
    daemon.wait_for_log("could not be started", WAIT);
    daemon.wait_for_log("; retrying in", WAIT);
    std::fs::rename(&hidden, &script).unwrap();
    common::wait_for("a successful retry", WAIT, || setup.reconfigure_runs("done") > runs);
    setup.wait_for_prefixes(&["10.52.12.1/32"], WAIT);
}

#[test]
fn a_check_deleted_while_it_runs_fails_but_the_thread_lives() {
    let setup = Setup::new("", "check_interval = 0.5\ncheck_timeout = 0.4");
    let check = setup.sandbox.write("check.sh", "#!/bin/sh\nrm -f \"$0\"\nsleep 0.2\nexit 0\n");
    common::make_executable(&check);
    setup.service("selfdelete", &format!("check_cmd = {}\nip_prefix = 10.52.12.1", check.display()));
    setup.service("other", "check_cmd = /bin/true\nip_prefix = 10.52.12.2");
    let mut daemon = setup.start();
    daemon.wait_for_log("event=check_not_started", WAIT);
    setup.wait_for_prefixes(&["10.52.12.2/32"], WAIT);
    let failures = daemon.log_count("event=check_not_started");
    common::wait_for("the thread to keep checking", WAIT, || {
        daemon.log_count("event=check_not_started") > failures
    });
    assert_eq!(daemon.wait_exit_now(), None, "the daemon runs on");
}

#[test]
fn a_sighup_storm_while_checks_flip_loses_nothing() {
    let setup = Setup::new("", "check_interval = 0.05\ncheck_timeout = 0.04");
    for n in 0..10 {
        setup.flag_service(&format!("s{n}"), &format!("10.52.12.{}", n + 1), &format!("ok{n}"), "");
    }
    let daemon = setup.start();
    setup.wait_for_prefixes(&[], WAIT);
    // 100 HUPs in a second, while flags flip and a service comes and goes.
    for round in 0..100 {
        let n = round % 10;
        if round % 3 == 0 {
            setup.touch(&format!("ok{n}"));
        } else {
            setup.remove(&format!("ok{n}"));
        }
        if round % 10 == 0 {
            if round % 20 == 0 {
                setup.flag_service("extra", "10.52.12.99", "ok0", "");
            } else {
                setup.remove_service("extra");
            }
        }
        daemon.signal(libc::SIGHUP);
        std::thread::sleep(Duration::from_millis(10));
    }
    // The end state: even services up, odd down, no "extra".
    let _ = std::fs::remove_file(setup.path("conf.d/extra.conf"));
    for n in 0..10 {
        if n % 2 == 0 {
            setup.touch(&format!("ok{n}"));
        } else {
            setup.remove(&format!("ok{n}"));
        }
    }
    daemon.signal(libc::SIGHUP);
    let expected: Vec<String> =
        (0..10).filter(|n| n % 2 == 0).map(|n| format!("10.52.12.{}/32", n + 1)).collect();
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    setup.wait_for_prefixes(&expected, WAIT);
    // Every service checks twice more after the last reload: the file stays right.
    daemon.wait_for_more("running /bin/sh", 20, WAIT);
    setup.wait_for_prefixes(&expected, WAIT);
    assert!(daemon.log_count("event=reload_applied") >= 10, "reloads happened");
    assert_eq!(daemon.log_count("panicked"), 0);
}

#[test]
fn ten_thousand_sigurg_are_folded_and_lose_nothing() {
    let setup = Setup::new("", "check_interval = 30");
    for n in 0..5 {
        setup.flag_service(&format!("s{n}"), &format!("10.52.12.{}", n + 1), "ok", "");
    }
    let mut daemon = setup.start();
    setup.wait_for_prefixes(&[], WAIT);
    setup.touch("ok");
    for _ in 0..10_000 {
        daemon.signal(libc::SIGURG);
    }
    setup.wait_for_prefixes(
        &["10.52.12.1/32", "10.52.12.2/32", "10.52.12.3/32", "10.52.12.4/32", "10.52.12.5/32"],
        WAIT,
    );
    // Nothing lost (every service saw the flag) and the daemon runs on; that a burst
    // folds into one run is a unit test (src/service/thread.rs).
    daemon.signal(libc::SIGHUP);
    daemon.wait_for_log("event=reload_applied", WAIT);
    assert_eq!(daemon.wait_exit_now(), None, "the daemon runs on");
}
