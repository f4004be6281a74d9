//! Many changes at once cost one write and one reconfigure: 200 services flipping
//! together, and a flap that cancels out inside one batch. (The storm of
//! tests/writer_storm.rs runs in its own binary: its load would change these counts.)

use crate::common;

use std::time::Duration;

use crate::common::Setup;

#[test]
fn two_hundred_services_flipping_together_reconfigure_at_most_three_times() {
    // A slow reconfigure (0.3 s), as a real birdc under load: events that arrive while
    // it runs form the next batch.
    let setup = Setup::new("", "check_interval = 2\ncheck_timeout = 1.5");
    setup.sandbox.write("bird-delay", "0.3");
    let mut services = String::new();
    let mut expected = Vec::new();
    let root = setup.root().display().to_string();
    for n in 0..200 {
        let prefix = format!("10.60.{}.{}/32", n / 250, n % 250 + 1);
        services.push_str(&format!(
            "[svc{n}]\ncheck_cmd = /bin/sh -c 'test -e {root}/flag'\nip_prefix = {prefix}\n\n"
        ));
        expected.push(prefix);
    }
    setup.sandbox.write("conf.d/all.conf", &services);
    let daemon = setup.start();
    common::wait_for("every service decided", Duration::from_secs(30), || {
        daemon.log_count("event=down") == 200
    });
    setup.wait_for_prefixes(&[], Duration::from_secs(10));
    // Count from a settled writer: no reconfigure running or due.
    setup.wait_bird_has_files(Duration::from_secs(10));
    let before_up = setup.reconfigure_runs("start");

    setup.touch("flag");
    daemon.signal(libc::SIGURG);
    let want: Vec<&str> = expected.iter().map(String::as_str).collect();
    setup.wait_for_prefixes(&want, Duration::from_secs(30));
    setup.wait_bird_has_files(Duration::from_secs(10));
    let up_runs = setup.reconfigure_runs("start") - before_up;

    setup.remove("flag");
    daemon.signal(libc::SIGURG);
    setup.wait_for_prefixes(&[], Duration::from_secs(30));
    setup.wait_bird_has_files(Duration::from_secs(10));
    let down_runs = setup.reconfigure_runs("start") - before_up - up_runs;

    println!("200 services: {up_runs} reconfigures going up, {down_runs} going down");
    assert!((1..=3).contains(&up_runs), "{up_runs} reconfigures for 200 services going up");
    assert!((1..=3).contains(&down_runs), "{down_runs} reconfigures for 200 services going down");
    assert_eq!(daemon.log_count("event=up"), 200);
}

#[test]
fn a_flap_that_cancels_within_a_batch_causes_no_reconfigure() {
    let setup = Setup::new("bird_reconfigure_timeout = 10", "check_interval = 0.05");
    setup.flag_service("slow", "10.52.12.1", "slow-ok", "");
    setup.flag_service("flappy", "10.52.12.2", "flappy-ok", "");
    let daemon = setup.start();
    setup.wait_for_prefixes(&[], Duration::from_secs(10));
    common::wait_for("both decided", Duration::from_secs(10), || daemon.log_count("event=down") == 2);
    setup.wait_bird_has_files(Duration::from_secs(10));
    let runs = setup.reconfigure_runs("start");

    // "slow" goes up and its reconfigure takes 2 s; meanwhile "flappy" goes up and
    // down again. Both of its events wait in the queue and cancel out.
    setup.sandbox.write("bird-delay", "2");
    setup.touch("slow-ok");
    common::wait_for("the slow reconfigure to start", Duration::from_secs(10), || {
        setup.reconfigure_runs("start") == runs + 1
    });
    setup.touch("flappy-ok");
    let flappy =
        |what: &str| daemon.log().lines().filter(|l| l.contains(" flappy ") && l.contains(what)).count();
    common::wait_for("flappy to go up", Duration::from_secs(5), || flappy("event=up") == 1);
    setup.remove("flappy-ok");
    common::wait_for("flappy to go down again", Duration::from_secs(5), || flappy("event=down") == 2);
    assert_eq!(setup.reconfigure_runs("done"), runs, "the slow reconfigure is still running");

    setup.wait_for_prefixes(&["10.52.12.1/32"], Duration::from_secs(10));
    common::wait_for("the slow reconfigure to end", Duration::from_secs(10), || {
        setup.reconfigure_runs("done") == runs + 1
    });
    // flappy checks on (every 0.05 s): ten more of its checks and the writer settled,
    // and still no second reconfigure.
    daemon.wait_for_more(" flappy ", 10, Duration::from_secs(10));
    setup.wait_bird_has_files(Duration::from_secs(10));
    assert_eq!(setup.reconfigure_runs("start"), runs + 1, "the cancelled flap caused no reconfigure");
    assert!(daemon.log().contains("announcing 10.52.12.1/32 for slow"));
    assert!(!daemon.log().contains("10.52.12.2/32 for flappy"));
}
