//! `check_tcp`: a native TCP check in the service thread (no fork), against listeners
//! the test opens on loopback: one that accepts, a closed port (refused), and one that
//! accepts but never answers (the timeout holds, the schedule goes on, no socket leaks).

use crate::common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use crate::common::{DaemonProcess, Setup};

const WAIT: Duration = Duration::from_secs(20);

fn open_fds(daemon: &DaemonProcess) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", daemon.pid())).map_or(0, |d| d.count())
}

#[test]
fn a_listening_port_is_up_and_a_refused_one_is_withdrawn_with_the_reason() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = listener.local_addr().unwrap();
    let setup = Setup::new("", "check_interval = 0.1\ncheck_timeout = 0.5");
    setup.service("web", &format!("check_tcp = {target}\nip_prefix = 10.52.12.1"));
    let daemon = setup.start();
    setup.wait_for_prefixes(&["10.52.12.1/32"], WAIT);
    assert!(daemon.log().contains(&format!("connecting to TCP {target}")), "{}", daemon.log());
    drop(listener);
    setup.wait_for_prefixes(&[], WAIT);
    daemon.wait_for_log(&format!("check failed: connection to {target} refused"), WAIT);
    let log = daemon.log();
    assert!(
        !log.lines().any(|l| l.contains(" web ") && l.contains(" running ")),
        "no process is run:\n{log}"
    );
}

#[test]
fn send_and_expect_and_a_silent_server_that_times_out_without_leaking_sockets() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = listener.local_addr().unwrap();
    let answer = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let answering = std::sync::Arc::clone(&answer);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let answering = std::sync::Arc::clone(&answering);
            std::thread::spawn(move || {
                let mut ping = [0u8; 4];
                let _ = stream.read_exact(&mut ping);
                if answering.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = stream.write_all(b"+PONG\r\n");
                }
                // A stalled server: the connection stays open and silent (this thread
                // plays the server; the daemon gives up at its timeout).
                std::thread::sleep(Duration::from_secs(3));
                drop(stream);
            });
        }
    });
    let setup = Setup::new("", "check_interval = 0.2\ncheck_timeout = 0.15");
    setup.service(
        "redis",
        &format!(
            "check_tcp = {target}\ncheck_tcp_send = PING\ncheck_tcp_expect = +PONG\nip_prefix = 10.52.12.1"
        ),
    );
    let daemon = setup.start();
    setup.wait_for_prefixes(&["10.52.12.1/32"], WAIT);

    answer.store(false, std::sync::atomic::Ordering::Relaxed);
    setup.wait_for_prefixes(&[], WAIT);
    let expected = format!("timed out reading from {target} after 0.150s: \"+PONG\" not seen");
    common::wait_for("the timeout's reason", WAIT, || daemon.log().contains(&expected));
    // The schedule goes on (a check every 0.2 s, each stopped at 0.15 s) and each
    // timed-out connection is closed: the daemon's descriptors do not grow.
    daemon.wait_for_more("timed out reading from", 3, WAIT);
    let fds = open_fds(&daemon);
    daemon.wait_for_more("timed out reading from", 10, WAIT);
    assert!(open_fds(&daemon) <= fds + 2, "sockets leak: {} -> {}", fds, open_fds(&daemon));
}

#[test]
fn a_service_has_exactly_one_check() {
    let setup = Setup::new("", "");
    setup.service("both", "check_cmd = /bin/true\ncheck_tcp = 127.0.0.1:80\nip_prefix = 10.52.12.1");
    let output = setup.sandbox.run(&["-f", "main.conf", "-d", "conf.d", "-c"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        common::stderr(&output).contains("conf.d/both.conf: [both] check_tcp: and check_cmd are both set"),
        "{}",
        common::stderr(&output)
    );
    setup.remove_service("both");
    setup.service("v6", "check_tcp = ::1:80\nip_prefix = 10.52.12.1");
    let output = setup.sandbox.run(&["-f", "main.conf", "-d", "conf.d", "-c"]);
    assert!(
        common::stderr(&output).contains("write an IPv6 address as [ADDRESS]:PORT"),
        "{}",
        common::stderr(&output)
    );
    setup.remove_service("v6");
    setup.service("lonely", "check_cmd = /bin/true\ncheck_tcp_expect = OK\nip_prefix = 10.52.12.1");
    let output = setup.sandbox.run(&["-f", "main.conf", "-d", "conf.d", "-c"]);
    assert!(
        common::stderr(&output).contains("[lonely] check_tcp_expect: is set but check_tcp is not"),
        "{}",
        common::stderr(&output)
    );
}
