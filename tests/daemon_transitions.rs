//! The daemon drives the Bird file from real checks: rise, fail, disabled services,
//! `on_disabled`, addresses missing from their interface, and several prefixes on one
//! check. Checks are scripts that test for a flag file the test creates and removes.

use crate::common;

use std::time::Duration;

use crate::common::Setup;

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn a_service_rises_and_falls_after_rise_and_fail_checks() {
    let setup = Setup::new("", "");
    setup.flag_service("web", "10.52.12.1", "web-ok", "check_rise = 3\ncheck_fail = 2\ncheck_interval = 0.1");
    let daemon = setup.start();
    daemon.wait_for_log("going down 1/2", WAIT);
    daemon.wait_for_log("event=down", WAIT);
    setup.wait_for_prefixes(&[], WAIT);

    setup.touch("web-ok");
    daemon.wait_for_log("going up 1/3", WAIT);
    daemon.wait_for_log("going up 2/3", WAIT);
    setup.wait_for_prefixes(&["10.52.12.1/32"], WAIT);
    daemon.wait_for_log("event=up", WAIT);
    let log = daemon.log();
    let up_at = log.find("event=up").expect("an up event");
    assert!(log.find("going up 2/3").expect("2/3") < up_at, "UP only after the third pass");

    setup.remove("web-ok");
    daemon.wait_for_log("going down 1/2", WAIT);
    setup.wait_for_prefixes(&[], WAIT);
}

#[test]
fn disabled_services_follow_on_disabled_and_run_no_check() {
    let setup = Setup::new("", "");
    setup.touch("ok");
    setup.flag_service("adv", "10.52.12.1", "ok", "check_disabled = true\non_disabled = advertise");
    setup.flag_service("wd", "10.52.12.2", "ok", "check_disabled = true\non_disabled = withdraw");
    // The withdrawn one is in the file from an earlier run: it must go.
    setup.sandbox.write(
        "lib/4.conf",
        "define ACAST_PS_ADVERTISE =\n    [\n        10.189.200.255/32,\n        10.52.12.2/32\n    ];\n",
    );
    // A running service as the test's clock.
    setup.service("witness", "check_cmd = /bin/true\nip_prefix = 10.52.12.9");
    let daemon = setup.start();
    setup.wait_for_prefixes(&["10.52.12.1/32", "10.52.12.9/32"], WAIT);
    daemon.wait_for_more("running /bin/true", 5, WAIT);
    assert_eq!(daemon.log_count("running /bin/sh"), 0, "a disabled service runs no check");
}

#[test]
fn an_address_missing_from_its_interface_means_withdrawn() {
    let setup = Setup::new("", "");
    setup.touch("ok");
    // 127.0.0.1 is on lo whatever its mask; 10.52.12.99 is not; nosuchif0 does not exist.
    setup.flag_service("on-lo", "127.0.0.1", "ok", "ip_check_disabled = false\ninterface = lo");
    setup.flag_service("not-on-lo", "10.52.12.99", "ok", "ip_check_disabled = false\ninterface = lo");
    setup.flag_service("no-iface", "10.52.12.98", "ok", "ip_check_disabled = false\ninterface = nosuchif0");
    let daemon = setup.start();
    daemon.wait_for_log("10.52.12.99/32 isn't assigned to lo interface", WAIT);
    daemon.wait_for_log("interface nosuchif0 does not exist", WAIT);
    setup.wait_for_prefixes(&["127.0.0.1/32"], WAIT);
    // Three more checks of each missing one later, they are still withdrawn.
    daemon.wait_for_more("10.52.12.99/32 isn't assigned to lo interface", 3, WAIT);
    daemon.wait_for_more("interface nosuchif0 does not exist", 3, WAIT);
    assert_eq!(setup.bird_prefixes().len(), 2);
}

#[test]
fn several_prefixes_of_one_check_move_together() {
    let setup = Setup::new("", "");
    setup.flag_service("multi", "10.52.12.1, 10.52.12.2 10.52.12.3", "ok", "");
    let daemon = setup.start();
    setup.wait_for_prefixes(&[], WAIT);
    setup.wait_bird_has_files(WAIT);
    let runs = setup.reconfigure_runs("done");
    setup.touch("ok");
    setup.wait_for_prefixes(&["10.52.12.1/32", "10.52.12.2/32", "10.52.12.3/32"], WAIT);
    common::wait_for("the reconfigure", WAIT, || setup.reconfigure_runs("done") > runs);
    setup.wait_bird_has_files(WAIT);
    assert_eq!(setup.reconfigure_runs("done"), runs + 1, "one reconfigure for all three");
    setup.remove("ok");
    setup.wait_for_prefixes(&[], WAIT);
    drop(daemon);
}

#[test]
fn an_advertised_prefix_stays_until_its_check_decides() {
    let setup = Setup::new("", "check_interval = 1");
    // The check needs three passes; until then the route from the last run stays.
    setup.flag_service("web", "10.52.12.1", "ok", "check_rise = 3");
    setup.touch("ok");
    setup.sandbox.write(
        "lib/4.conf",
        "define ACAST_PS_ADVERTISE =\n    [\n        10.189.200.255/32,\n        10.52.12.1/32\n    ];\n",
    );
    let daemon = setup.start();
    daemon.wait_for_log("going up 1/3", WAIT);
    assert_eq!(setup.bird_prefixes(), ["10.189.200.255/32", "10.52.12.1/32"]);
    assert_eq!(setup.reconfigure_runs("start"), 0, "a file that is right is not rewritten at start");
    daemon.wait_for_log("event=up", WAIT);
    assert_eq!(setup.bird_prefixes(), ["10.189.200.255/32", "10.52.12.1/32"]);
}

#[test]
fn the_start_up_pass_fixes_the_file_and_keeps_foreign_prefixes_unless_purging() {
    for (purge, expected) in [("false", 3), ("true", 2)] {
        let setup = Setup::new(&format!("purge_ip_prefixes = {purge}"), "check_interval = 30");
        // A passing check that needs five passes at 30 s: no event during the test.
        setup.flag_service("web", "10.52.12.1", "ok", "check_rise = 5");
        setup.touch("ok");
        setup.sandbox.write("lib/4.conf", "define WRONG_NAME = [ 10.52.12.1/32, 10.77.0.1/32 ];\n");
        let daemon = setup.start();
        common::wait_for("the start-up rewrite", WAIT, || setup.reconfigure_runs("done") == 1);
        daemon.wait_for_log("going up 1/5", WAIT);
        let text = std::fs::read_to_string(setup.path("lib/4.conf")).unwrap();
        assert!(text.contains("define ACAST_PS_ADVERTISE =\n    [\n        10.189.200.255/32,"), "{text}");
        assert_eq!(setup.bird_prefixes().len(), expected, "purge = {purge}: {text}");
        assert!(daemon.log().contains("found incorrect variable name WRONG_NAME"));
    }
}

#[test]
fn a_prefix_with_a_netmask_is_taken_as_python_takes_it_and_written_with_a_length() {
    let setup = Setup::new("", "");
    setup.touch("ok");
    setup.flag_service("web", "10.52.0.0/255.255.0.0", "ok", "");
    let check = setup.sandbox.run(&["-f", "main.conf", "-d", "conf.d", "-c"]);
    let (out, err) = (crate::common::stdout(&check), crate::common::stderr(&check));
    assert!(check.status.success(), "{out}{err}");
    assert!(out.contains("OK"), "{out}");
    assert!(
        err.contains("[web] ip_prefix: 10.52.0.0/255.255.0.0 is written 10.52.0.0/16 in the Bird file"),
        "-c says what was normalised: {err}"
    );
    let _daemon = setup.start();
    setup.wait_for_prefixes(&["10.52.0.0/16"], WAIT);
}
