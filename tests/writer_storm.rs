//! One Bird never gets a second reconfigure while one runs, even in a storm. In a test
//! binary of its own: 60 services checking 10 times a second load the machine, and the
//! batching counts of tests/daemon_batching.rs must not run beside it.

use crate::common;

use std::time::Duration;

use crate::common::Setup;

/// IPv4 and IPv6 share one command (one Bird 2 or 3): a storm of both versions
/// flipping together, with a slow reconfigure, never has two runs at once, and one run
/// serves both files.
#[test]
fn one_bird_never_gets_two_reconfigures_at_once_even_in_a_storm() {
    // Two results in a row decide and the check is a lone `test` (no shell), with most
    // of the interval to run: on a loaded machine a check that timed out once would
    // flip a service by itself, and services flapping on their own never let the
    // files settle. All sixty still flip together, 10 checks a second each.
    let setup = Setup::new("", "check_interval = 0.1\ncheck_timeout = 0.09\ncheck_rise = 2\ncheck_fail = 2");
    let root = setup.root().display().to_string();
    let main = std::fs::read_to_string(setup.path("main.conf")).unwrap();
    setup.sandbox.write(
        "main.conf",
        &format!("{main}\nipv6 = true\nbird6_conf = {root}/lib/6.conf\nbird6_reconfigure_cmd = {root}/reconfigure.sh\n"),
    );
    setup.sandbox.write("bird-delay", "0.05");
    let mut services = String::new();
    for n in 0..60 {
        let prefix = if n % 2 == 0 { format!("10.61.0.{}", n + 1) } else { format!("fd00:61::{:x}", n + 1) };
        services
            .push_str(&format!("[s{n}]\ncheck_cmd = /usr/bin/test -e {root}/flag\nip_prefix = {prefix}\n\n"));
    }
    setup.sandbox.write("conf.d/all.conf", &services);
    let daemon = setup.start();
    let listed = |file: &str| common::file_prefixes(&setup.path(file)).map_or(0, |p| p.len());
    for round in 0..6 {
        let up = round % 2 == 0;
        if up {
            setup.touch("flag");
        } else {
            setup.remove("flag");
        }
        let want = if up { 31 } else { 1 };
        common::wait_for("both files", Duration::from_secs(20), || {
            listed("lib/4.conf") == want && listed("lib/6.conf") == want
        });
        common::wait_for("Bird to have both files", Duration::from_secs(20), || {
            let log = daemon.log();
            let last_write = log.rfind("is updated").unwrap_or(0);
            log[last_write..].contains("reconfigured BIRD daemon with")
        });
    }
    let log = std::fs::read_to_string(setup.path("reconfigure.log")).unwrap();
    assert!(!log.contains("overlap"), "two reconfigures ran at once:\n{log}");
    assert!(setup.reconfigure_runs("start") >= 6, "{log}");
    assert_eq!(daemon.log_count("failed"), 0, "{}", daemon.log());
}
