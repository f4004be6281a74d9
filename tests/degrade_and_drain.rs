//! Degrade and drain, in the Bird file: `check_degraded_exit_codes` put an up service's
//! prefix in the degraded set; a maintenance file drains (degraded for `drain_seconds`,
//! then withdrawn); `on_exit = drain` drains on SIGTERM, asks systemd for the time, and
//! a second SIGTERM cuts it short. Without the new keys the file is upstream's, byte for
//! byte.

use crate::common;

use std::time::Duration;

use crate::common::{DaemonProcess, Setup};

const WAIT: Duration = Duration::from_secs(20);
const DEGRADED: &str = "bird_degraded_variable = ACAST_PS_DEGRADED";

/// The prefixes of the set `variable` in the Bird file, in file order, dummy included.
fn set_of(setup: &Setup, variable: &str) -> Vec<String> {
    let text = std::fs::read_to_string(setup.path("lib/4.conf")).unwrap_or_default();
    let Some(start) = text.find(&format!("define {variable} =")) else { return Vec::new() };
    let body = &text[start..];
    let body = &body[..body.find("];").unwrap_or(body.len())];
    body.split(['[', ',', '\n']).map(str::trim).filter(|w| w.contains('/')).map(String::from).collect()
}

/// A service whose check exits with the number in the file `code`.
fn coded_service(setup: &Setup, name: &str, prefix: &str, extra: &str) {
    setup.sandbox.write(&format!("{name}.code"), "0");
    let code = setup.path(&format!("{name}.code"));
    setup.service(
        name,
        &format!("check_cmd = /bin/sh -c 'exit $(cat {})'\nip_prefix = {prefix}\n{extra}", code.display()),
    );
}

#[test]
fn without_the_new_keys_the_file_is_upstreams_byte_for_byte() {
    let setup = Setup::new("", "");
    setup.touch("ok");
    setup.flag_service("web", "10.52.12.1", "ok", "check_degraded_exit_codes = 1");
    let _daemon = setup.start();
    setup.wait_for_prefixes(&["10.52.12.1/32"], WAIT);
    let text = std::fs::read_to_string(setup.path("lib/4.conf")).unwrap();
    let body: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(
        body.join("\n"),
        "# 10.189.200.255/32 is a dummy IP Prefix. It should NOT be used and REMOVED from the constant.\n\
         define ACAST_PS_ADVERTISE =\n    [\n        10.189.200.255/32,\n        10.52.12.1/32\n    ];"
    );
    assert!(text.starts_with("# Generated ") && text.ends_with("    ];\n"), "{text}");
}

#[test]
fn degraded_exit_codes_keep_the_prefix_advertised_in_the_degraded_set() {
    let setup = Setup::new(DEGRADED, "check_interval = 0.1\ncheck_timeout = 0.09");
    coded_service(&setup, "web", "10.52.12.1", "check_degraded_exit_codes = 1, 3");
    let daemon = setup.start();
    setup.wait_for_prefixes(&["10.52.12.1/32"], WAIT);
    assert_eq!(set_of(&setup, "ACAST_PS_DEGRADED"), ["10.189.200.255/32"], "the dummy keeps it non-empty");

    setup.sandbox.write("web.code", "3");
    common::wait_for("the degraded set", WAIT, || set_of(&setup, "ACAST_PS_DEGRADED").len() == 2);
    assert_eq!(
        set_of(&setup, "ACAST_PS_ADVERTISE"),
        ["10.189.200.255/32", "10.52.12.1/32"],
        "still advertised"
    );
    daemon.wait_for_log("event=degraded", WAIT);

    setup.sandbox.write("web.code", "0");
    common::wait_for("out of the degraded set", WAIT, || set_of(&setup, "ACAST_PS_DEGRADED").len() == 1);
    daemon.wait_for_log("no longer degraded", WAIT);

    // Another non-zero code is a failure as before.
    setup.sandbox.write("web.code", "2");
    setup.wait_for_prefixes(&[], WAIT);
}

#[test]
fn a_maintenance_file_drains_degraded_then_withdrawn() {
    let setup = Setup::new(DEGRADED, "check_interval = 0.1\ncheck_timeout = 0.09");
    setup.touch("ok");
    let flag = setup.path("web.maintenance");
    setup.flag_service(
        "web",
        "10.52.12.1",
        "ok",
        &format!("maintenance_file = {}\ndrain_seconds = 1", flag.display()),
    );
    let daemon = setup.start();
    setup.wait_for_prefixes(&["10.52.12.1/32"], WAIT);
    setup.touch("web.maintenance");
    // Degraded (still advertised) first...
    common::wait_for("the drain's degraded step", WAIT, || set_of(&setup, "ACAST_PS_DEGRADED").len() == 2);
    assert_eq!(set_of(&setup, "ACAST_PS_ADVERTISE"), ["10.189.200.255/32", "10.52.12.1/32"]);
    // ...then withdrawn.
    setup.wait_for_prefixes(&[], WAIT);
    assert_eq!(set_of(&setup, "ACAST_PS_DEGRADED"), ["10.189.200.255/32"]);
    // The file can be renamed before the logging thread has written the line.
    daemon.wait_for_log("web is drained; withdrawing its prefixes", WAIT);
    let log = daemon.log();
    let draining = log.find("web enters maintenance").unwrap();
    assert!(log[draining..].contains("draining for 1s, then withdrawing"), "{log}");
    assert!(log[draining..].contains("web is drained; withdrawing its prefixes"), "{log}");
}

#[test]
fn on_exit_drain_degrades_waits_then_withdraws() {
    let setup = Setup::new(DEGRADED, "");
    setup.touch("ok");
    setup.flag_service("web", "10.52.12.1", "ok", "on_exit = drain\ndrain_seconds = 1");
    setup.flag_service("kept", "10.52.12.2", "ok", "");
    let mut daemon = setup.start();
    setup.wait_for_prefixes(&["10.52.12.1/32", "10.52.12.2/32"], WAIT);
    daemon.signal(libc::SIGTERM);
    common::wait_for("the drain's degraded step", WAIT, || set_of(&setup, "ACAST_PS_DEGRADED").len() == 2);
    assert_eq!(daemon.wait_exit(WAIT), Some(0));
    assert_eq!(
        set_of(&setup, "ACAST_PS_ADVERTISE"),
        ["10.189.200.255/32", "10.52.12.2/32"],
        "drained, then withdrawn"
    );
    assert!(daemon.log().contains("web is drained; withdrawing it"), "{}", daemon.log());
}

#[test]
fn a_second_sigterm_cuts_the_drain_short_and_systemd_is_asked_for_time() {
    let setup = Setup::new(DEGRADED, "");
    setup.touch("ok");
    setup.flag_service("web", "10.52.12.1", "ok", "on_exit = drain\ndrain_seconds = 600");
    let socket_path = setup.path("notify.sock");
    let mut systemd = common::NotifySocket::bind(&socket_path);
    let mut daemon = DaemonProcess::start_with_env(
        setup.root(),
        &["-f", "main.conf", "-d", "conf.d"],
        &[("NOTIFY_SOCKET", socket_path.to_str().unwrap())],
    );
    setup.wait_for_prefixes(&["10.52.12.1/32"], WAIT);
    daemon.signal(libc::SIGTERM);
    common::wait_for("the drain's degraded step", WAIT, || set_of(&setup, "ACAST_PS_DEGRADED").len() == 2);
    systemd.collect_until("EXTEND_TIMEOUT_USEC", WAIT, |m| {
        m.iter().any(|m| m == "EXTEND_TIMEOUT_USEC=630000000")
    });
    daemon.signal(libc::SIGTERM);
    assert_eq!(daemon.wait_exit(WAIT), Some(0));
    assert!(daemon.log().contains("the drain is cut short"), "{}", daemon.log());
    assert_eq!(set_of(&setup, "ACAST_PS_ADVERTISE"), ["10.189.200.255/32"], "withdrawn at once");
}

/// The prefixes of `variable` in the file at `relative`.
fn set_in(setup: &Setup, relative: &str, variable: &str) -> Vec<String> {
    let text = std::fs::read_to_string(setup.path(relative)).unwrap_or_default();
    let Some(start) = text.find(&format!("define {variable} =")) else { return Vec::new() };
    let body = &text[start..];
    let body = &body[..body.find("];").unwrap_or(body.len())];
    body.split(['[', ',', '\n']).map(str::trim).filter(|w| w.contains('/')).map(String::from).collect()
}

/// `bird_degraded_conf`: the degraded set lives in a file of its own, so the prefix
/// file stays upstream's alone (the Python program can take it over again); a stale
/// degraded file is reset at start; a stop leaves it holding only the dummy, the kept
/// prefix announced plainly.
#[test]
fn a_degraded_set_in_its_own_file_leaves_the_prefix_file_upstreams_and_is_cleared_on_stop() {
    let setup = Setup::new(
        &format!("{DEGRADED}\nbird_degraded_conf = lib/4-degraded.conf"),
        "check_interval = 0.1\ncheck_timeout = 0.09",
    );
    // Left by a daemon that was killed while web was degraded.
    setup.sandbox.write(
        "lib/4-degraded.conf",
        "define ACAST_PS_DEGRADED =\n    [\n        10.189.200.255/32,\n        10.52.12.9/32\n    ];\n",
    );
    coded_service(&setup, "web", "10.52.12.1", "check_degraded_exit_codes = 3");
    let mut daemon = setup.start();
    setup.wait_for_prefixes(&["10.52.12.1/32"], WAIT);
    assert_eq!(
        set_in(&setup, "lib/4-degraded.conf", "ACAST_PS_DEGRADED"),
        ["10.189.200.255/32"],
        "reset at start"
    );
    setup.sandbox.write("web.code", "3");
    common::wait_for("web in the degraded file", WAIT, || {
        set_in(&setup, "lib/4-degraded.conf", "ACAST_PS_DEGRADED") == ["10.189.200.255/32", "10.52.12.1/32"]
    });
    let prefix_file = std::fs::read_to_string(setup.path("lib/4.conf")).unwrap();
    assert!(!prefix_file.contains("DEGRADED"), "the prefix file is upstream's alone:\n{prefix_file}");
    assert_eq!(set_in(&setup, "lib/4.conf", "ACAST_PS_ADVERTISE"), ["10.189.200.255/32", "10.52.12.1/32"]);

    daemon.signal(libc::SIGTERM);
    assert_eq!(daemon.wait_exit(WAIT), Some(0));
    assert_eq!(
        set_in(&setup, "lib/4-degraded.conf", "ACAST_PS_DEGRADED"),
        ["10.189.200.255/32"],
        "a stopped daemon leaves no degraded mark"
    );
    assert_eq!(
        set_in(&setup, "lib/4.conf", "ACAST_PS_ADVERTISE"),
        ["10.189.200.255/32", "10.52.12.1/32"],
        "on_exit = keep: still announced"
    );
}
