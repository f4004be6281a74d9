//! The maintenance switch: while a service's `maintenance_file` (or `[daemon]`'s, for
//! every service) exists, the service is withdrawn and not checked; when it is removed
//! the service comes back through its normal rise. Looked at every check, at once on
//! SIGURG and on SIGHUP.

use crate::common;

use std::time::Duration;

use crate::common::Setup;

const WAIT: Duration = Duration::from_secs(20);

#[test]
fn a_service_maintenance_file_withdraws_it_until_removed_then_it_rises_again() {
    // A long interval: SIGURG is what makes the daemon look at once.
    let setup = Setup::new("", "check_interval = 60\ncheck_timeout = 1\ncheck_rise = 2");
    setup.touch("ok");
    let flag = setup.path("web.maintenance");
    setup.flag_service(
        "web",
        "10.52.12.1",
        "ok",
        &format!("maintenance_file = {}\ncheck_fast_interval = 0.1", flag.display()),
    );
    setup.flag_service("dns", "10.52.12.2", "ok", "check_fast_interval = 0.1");
    let daemon = setup.start();
    setup.wait_for_prefixes(&["10.52.12.1/32", "10.52.12.2/32"], WAIT);

    setup.touch("web.maintenance");
    daemon.signal(libc::SIGURG);
    daemon.wait_for_log(
        &format!("web enters maintenance: {} exists; withdrawing its prefixes", flag.display()),
        WAIT,
    );
    setup.wait_for_prefixes(&["10.52.12.2/32"], WAIT);
    // Not checked while in maintenance: two more SIGURGs run dns, not web.
    let web_runs = daemon.service_lines("web", "running /bin/sh");
    for _ in 0..2 {
        let dns_runs = daemon.service_lines("dns", "running /bin/sh");
        daemon.signal(libc::SIGURG);
        common::wait_for("dns to run", WAIT, || daemon.service_lines("dns", "running /bin/sh") > dns_runs);
    }
    assert_eq!(daemon.service_lines("web", "running /bin/sh"), web_runs, "no check in maintenance");
    // --status says so, with the file and the prefix it withdrew, once the daemon has
    // reported (every 2 s).
    let expected = format!("({} exists); 10.52.12.1/32 withdrawn", flag.display());
    common::wait_for("--status to show the maintenance", WAIT, || {
        let output = setup.sandbox.run(&["-f", "main.conf", "-d", "conf.d", "--status"]);
        common::stdout(&output)
            .lines()
            .any(|l| l.starts_with("web: maintenance since ") && l.ends_with(&expected))
    });

    setup.remove("web.maintenance");
    daemon.signal(libc::SIGURG);
    daemon.wait_for_log("web leaves maintenance", WAIT);
    setup.wait_for_prefixes(&["10.52.12.1/32", "10.52.12.2/32"], WAIT);
    let log = daemon.log();
    let left = log.find("web leaves maintenance").unwrap();
    assert!(log[left..].contains("going up 1/2"), "it rises again like a new service:\n{log}");
    assert_eq!(daemon.service_lines("dns", "event=up"), 1, "dns was never touched");
}

#[test]
fn the_daemon_maintenance_file_holds_every_service_and_sighup_looks_at_once() {
    let setup = Setup::new("", "check_interval = 60\ncheck_timeout = 1\ncheck_rise = 1");
    let flag = setup.path("host.maintenance");
    let main = std::fs::read_to_string(setup.path("main.conf")).unwrap();
    setup.sandbox.write("main.conf", &format!("{main}\nmaintenance_file = {}\n", flag.display()));
    setup.touch("ok");
    setup.flag_service("web", "10.52.12.1", "ok", "");
    setup.flag_service("dns", "10.52.12.2", "ok", "");
    let daemon = setup.start();
    setup.wait_for_prefixes(&["10.52.12.1/32", "10.52.12.2/32"], WAIT);

    setup.touch("host.maintenance");
    daemon.signal(libc::SIGHUP);
    setup.wait_for_prefixes(&[], WAIT);
    daemon.wait_for_log("web enters maintenance", WAIT);
    daemon.wait_for_log("dns enters maintenance", WAIT);

    setup.remove("host.maintenance");
    daemon.signal(libc::SIGHUP);
    setup.wait_for_prefixes(&["10.52.12.1/32", "10.52.12.2/32"], WAIT);
    daemon.wait_for_log("web leaves maintenance", WAIT);
}
