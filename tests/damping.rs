//! Flap damping, the fast interval, and a reload that keeps a service's state: with
//! real child checks, waiting on the daemon's log lines and the Bird file.

use std::time::Duration;

use crate::common::Setup;

const WAIT: Duration = Duration::from_secs(20);

/// A check flapping quickly is suppressed: held withdrawn while its check passes, until
/// the penalty decays under `damping_reuse`; then it is advertised again. (The exact
/// figures are unit tests of src/service/health/damping.rs, with an injected clock.)
#[test]
fn a_flapping_check_is_held_withdrawn_until_the_penalty_decays() {
    let setup = Setup::new("", "check_interval = 0.1\ncheck_timeout = 0.09");
    setup.touch("ok");
    setup.flag_service(
        "web",
        "10.52.12.1",
        "ok",
        "damping = true\ndamping_half_life = 6\ndamping_suppress = 1.5\ndamping_reuse = 1\ndamping_max_hold = 60",
    );
    let daemon = setup.start();
    setup.wait_for_prefixes(&["10.52.12.1/32"], WAIT);
    // First flap: penalty 1, below suppress: the check decides as usual.
    setup.remove("ok");
    setup.wait_for_prefixes(&[], WAIT);
    setup.touch("ok");
    setup.wait_for_prefixes(&["10.52.12.1/32"], WAIT);
    // Second flap soon after: penalty about 1.9 > 1.5: suppressed.
    setup.remove("ok");
    daemon.wait_for_log("event=suppressed service=web", WAIT);
    setup.wait_for_prefixes(&[], WAIT);
    setup.touch("ok");
    daemon.wait_for_log("held withdrawn by flap damping", WAIT);
    // Ten passing checks later (1 s) it is still withdrawn: the penalty needs about
    // 5.5 s (log2(1.9) half-lives of 6 s) to fall under reuse.
    daemon.wait_for_more(" web ", 10, WAIT);
    assert!(!daemon.log().contains("flap damping releases web"));
    assert_eq!(setup.bird_prefixes(), ["10.189.200.255/32"], "suppressed means withdrawn");
    daemon.wait_for_log("flap damping releases web", WAIT);
    setup.wait_for_prefixes(&["10.52.12.1/32"], WAIT);
    let log = daemon.log();
    let (held, released) =
        (log.find("held withdrawn").unwrap(), log.find("flap damping releases web").unwrap());
    let readvertised =
        log[released..].find("announcing 10.52.12.1/32 for web").expect("announced") + released;
    assert!(held < released && released < readvertised, "{log}");
    assert_eq!(daemon.service_lines("web", "flap damping suppresses"), 1);
}

/// `check_fast_interval`: after the first failure, the next checks come at the fast
/// interval; with `check_interval = 60` the service goes down three checks later
/// instead of two minutes later.
#[test]
fn the_fast_interval_confirms_a_change_quickly() {
    let setup = Setup::new("", "check_interval = 60\ncheck_timeout = 0.5\ncheck_fail = 3");
    setup.touch("ok");
    setup.flag_service("web", "10.52.12.1", "ok", "check_fast_interval = 0.1");
    let daemon = setup.start();
    setup.wait_for_prefixes(&["10.52.12.1/32"], WAIT);
    let runs = daemon.service_lines("web", "running /bin/sh");
    setup.remove("ok");
    daemon.signal(libc::SIGURG);
    daemon.wait_for_log("event=down", WAIT);
    setup.wait_for_prefixes(&[], WAIT);
    // Exactly check_fail checks: the SIGURG one and two at the fast interval.
    assert_eq!(daemon.service_lines("web", "running /bin/sh") - runs, 3, "{}", daemon.log());
    assert!(daemon.service_lines("web", "sleeping for 0.1") >= 2, "{}", daemon.log());
}

/// A reload that changes only timing, rise/fail or damping keeps the service's state,
/// counters and damping penalty: no new rise, no flap; the new settings apply.
#[test]
fn a_reload_of_timing_and_damping_keeps_state_and_penalty() {
    let damping = "damping = true\ndamping_suppress = 1.5\ndamping_reuse = 0.5";
    let setup = Setup::new("", "check_interval = 0.1\ncheck_timeout = 0.09");
    setup.touch("ok");
    setup.flag_service(
        "web",
        "10.52.12.1",
        "ok",
        &format!("check_rise = 2\n{damping}\ndamping_half_life = 600"),
    );
    let daemon = setup.start();
    setup.wait_for_prefixes(&["10.52.12.1/32"], WAIT);
    // One flap: penalty 1 (it decays slowly: a 600 s half-life).
    setup.remove("ok");
    setup.wait_for_prefixes(&[], WAIT);
    setup.touch("ok");
    setup.wait_for_prefixes(&["10.52.12.1/32"], WAIT);
    let rises = daemon.service_lines("web", "going up");

    setup.flag_service(
        "web",
        "10.52.12.1",
        "ok",
        &format!("check_rise = 4\ncheck_fail = 2\ncheck_interval = 0.15\n{damping}\ndamping_half_life = 900"),
    );
    daemon.signal(libc::SIGHUP);
    daemon.wait_for_log(
        "reload applied: 0 services kept, 1 retuned (state kept), 0 changed, 0 added, 0 removed",
        WAIT,
    );
    daemon.wait_for_log("new settings for web; its state and counters are kept", WAIT);
    daemon.wait_for_more(" web ", 10, WAIT);
    assert_eq!(daemon.service_lines("web", "going up"), rises, "no new rise after the reload");
    assert_eq!(setup.bird_prefixes(), ["10.189.200.255/32", "10.52.12.1/32"], "no flap");

    // The new check_fail (2) applies, and the kept penalty (about 1) plus this flap
    // passes suppress (1.5): a fresh penalty would not.
    setup.remove("ok");
    daemon.wait_for_log("going down 1/2", WAIT);
    daemon.wait_for_log("event=suppressed service=web", WAIT);
    setup.wait_for_prefixes(&[], WAIT);
}
