//! A program that is missing fails only the part that runs it: the daemon starts (a
//! refused start would stop a Bird bound to us and withdraw every route on the host),
//! and heals when the program appears. `-c` stays strict (see config_errors.rs).

use crate::common;

use std::time::Duration;

use crate::common::Setup;

const WAIT: Duration = Duration::from_secs(20);

/// Debian's stock config on a Bird 2 host names `/usr/sbin/birdc6`, which Bird 2 does
/// not ship: IPv4 works, IPv6 reloads fail (said, retried, WARNING in --status) until
/// the program appears.
#[test]
fn a_missing_ipv6_reconfigure_program_fails_only_ipv6_until_it_appears() {
    let setup = Setup::new("", "");
    let root = setup.root().display().to_string();
    let birdc6 = setup.path("birdc6");
    let main = std::fs::read_to_string(setup.path("main.conf")).unwrap();
    setup.sandbox.write(
        "main.conf",
        &format!(
            "{main}\nipv6 = true\nbird6_conf = {root}/lib/6.conf\nbird6_reconfigure_cmd = {} configure\n",
            birdc6.display()
        ),
    );
    setup.touch("ok");
    setup.flag_service("web4", "10.52.12.1", "ok", "");
    setup.flag_service("web6", "fd12:aba6:57db:ffff::1", "ok", "");
    let daemon = setup.start();
    setup.wait_for_prefixes(&["10.52.12.1/32"], WAIT);
    common::wait_for("v4 reconfigured", WAIT, || setup.reconfigure_runs("done") >= 1);
    daemon.wait_for_log("could not be started", WAIT);
    let log = daemon.log();
    assert!(
        log.contains(&format!("reconfiguring BIRD failed with {} configure:", birdc6.display())),
        "{log}"
    );
    let v6 = common::file_prefixes(&setup.path("lib/6.conf")).unwrap();
    assert!(v6.contains(&"fd12:aba6:57db:ffff::1/128".to_string()), "the v6 file is written: {v6:?}");

    // --status says WARNING while IPv6 lags (after its 5 s grace), naming IPv6 only.
    common::wait_for("--status WARNING", WAIT, || {
        let output = setup.sandbox.run(&["-f", "main.conf", "-d", "conf.d", "--status"]);
        output.status.code() == Some(1) && common::stdout(&output).contains("IPv6")
    });
    let output = setup.sandbox.run(&["-f", "main.conf", "-d", "conf.d", "--status"]);
    assert!(!common::stdout(&output).contains("IPv4"), "{}", common::stdout(&output));

    // The program appears: the next retry works.
    std::fs::copy(setup.path("reconfigure.sh"), &birdc6).unwrap();
    common::make_executable(&birdc6);
    daemon.wait_for_log("event=reconfigure_recovered", WAIT);
    common::wait_for("--status OK", WAIT, || {
        setup.sandbox.run(&["-f", "main.conf", "-d", "conf.d", "--status"]).status.code() == Some(0)
    });
}

/// A check program that does not exist: that service fails closed (its prefix, listed
/// at start, is withdrawn, with the reason), the others run.
#[test]
fn a_missing_check_program_fails_only_its_service_closed() {
    let setup = Setup::new("", "");
    setup.sandbox.write(
        "lib/4.conf",
        "define ACAST_PS_ADVERTISE =\n    [\n        10.189.200.255/32,\n        10.52.12.2/32\n    ];\n",
    );
    setup.touch("ok");
    setup.flag_service("web", "10.52.12.1", "ok", "");
    let missing = setup.path("no-such-check");
    setup.service("gone", &format!("check_cmd = {} --quick\nip_prefix = 10.52.12.2", missing.display()));
    let daemon = setup.start();
    setup.wait_for_prefixes(&["10.52.12.1/32"], WAIT);
    daemon.wait_for_log("withdrawing 10.52.12.2/32 for gone", WAIT);
    let log = daemon.log();
    assert!(
        log.contains(&format!(
            "failed to run check command {} --quick: No such file or directory",
            missing.display()
        )),
        "{log}"
    );
    assert!(log.contains("what runs it fails until the program appears"), "the start says why: {log}");
}
