//! `log_each_check = false`: a quiet host logs nothing per check, only events and
//! transitions (upstream's per-check lines stay the default).

use std::time::Duration;

use crate::common::Setup;

const WAIT: Duration = Duration::from_secs(20);

#[test]
fn without_log_each_check_only_events_and_transitions_are_logged() {
    let setup = Setup::new("log_each_check = false\nloglevel = debug", "check_rise = 2\ncheck_fail = 2");
    setup.touch("ok");
    setup.flag_service("web", "10.52.12.1", "ok", "");
    setup.service("witness", "check_cmd = /bin/true\nip_prefix = 10.52.12.2");
    let daemon = setup.start();
    setup.wait_for_prefixes(&["10.52.12.1/32", "10.52.12.2/32"], WAIT);
    setup.remove("ok");
    setup.wait_for_prefixes(&["10.52.12.2/32"], WAIT);
    // Many checks later (the witness's status changed once, then it keeps checking).
    daemon.wait_for_log("withdrawing 10.52.12.1/32 for web", WAIT);
    let log = daemon.log();
    for transition in
        ["web         changed to UP", "web         changed to DOWN", "announcing 10.52.12.1/32 for web"]
    {
        assert!(log.contains(transition), "{transition} missing:\n{log}");
    }
    for per_check in [
        "running /bin/",
        "check duration",
        "going up",
        "going down",
        "wall clock time",
        "sleeping for",
        "status UP",
    ] {
        assert!(!log.contains(per_check), "{per_check:?} is a per-check line:\n{log}");
    }
}

#[test]
fn by_default_every_check_is_logged_as_upstream_does() {
    let setup = Setup::new("", "check_rise = 2");
    setup.touch("ok");
    setup.flag_service("web", "10.52.12.1", "ok", "");
    let daemon = setup.start();
    setup.wait_for_prefixes(&["10.52.12.1/32"], WAIT);
    daemon.wait_for_log("status UP", WAIT);
    let log = daemon.log();
    for per_check in ["running /bin/sh", "check duration", "going up 1/2", "wall clock time"] {
        assert!(log.contains(per_check), "{per_check:?} missing:\n{log}");
    }
}
