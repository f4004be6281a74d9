//! `check_dns`: the native DNS check against NSD (Debian's `nsd`, started by the test
//! on a free loopback port with a test zone): NOERROR with expected addresses, names
//! and strings, NXDOMAIN, SERVFAIL, an answer too big for UDP (asked again over TCP),
//! and against stand-ins that never answer or answer with the wrong id.
//!
//! Without NSD a test prints one `SKIPPED:` line and passes, except under CI=true.

use crate::common;

use std::net::UdpSocket;
use std::time::Duration;

use crate::common::servers::{nsd_program, Nsd};
use crate::common::Setup;

const WAIT: Duration = Duration::from_secs(20);

fn nsd(setup: &Setup) -> Option<Nsd> {
    match nsd_program() {
        Some(program) => Some(Nsd::start(&setup.path("nsd"), &program)),
        None => {
            common::skip_or_fail("NSD not found (apt-get install nsd, or set NSD)");
            None
        }
    }
}

fn setup() -> Setup {
    Setup::new("", "check_interval = 0.1\ncheck_timeout = 1\ncheck_rise = 1\ncheck_fail = 1")
}

#[test]
fn answers_rcodes_and_a_truncated_answer_over_tcp() {
    let setup = setup();
    let Some(nsd) = nsd(&setup) else { return };
    let server = nsd.address;
    let services = [
        (
            "www",
            format!("check_dns = {server} www.ok.test\ncheck_dns_expect = 192.0.2.10, 192.0.2.11"),
            "10.52.12.1",
        ),
        (
            "v6",
            format!("check_dns = {server} www.ok.test AAAA\ncheck_dns_expect = 2001:db8:0::10"),
            "10.52.12.2",
        ),
        ("txt", format!("check_dns = {server} txt.ok.test TXT\ncheck_dns_expect = ready"), "10.52.12.3"),
        (
            "alias",
            format!("check_dns = {server} alias.ok.test\ncheck_dns_expect = www.ok.test"),
            "10.52.12.4",
        ),
        (
            "big",
            format!("check_dns = {server} big.ok.test TXT\ncheck_dns_expect = needle-in-the-tcp-answer"),
            "10.52.12.5",
        ),
        (
            "nxok",
            format!("check_dns = {server} nope.ok.test\ncheck_dns_rcode = NOERROR NXDOMAIN"),
            "10.52.12.6",
        ),
        ("missing", format!("check_dns = {server} www.ok.test\ncheck_dns_expect = 192.0.2.99"), "10.52.12.7"),
        ("nx", format!("check_dns = {server} nope.ok.test"), "10.52.12.8"),
        ("servfail", format!("check_dns = {server} www.broken.test"), "10.52.12.9"),
    ];
    for (name, check, prefix) in &services {
        setup.service(name, &format!("{check}\nip_prefix = {prefix}"));
    }
    let daemon = setup.start();
    let up = [
        "10.52.12.1/32",
        "10.52.12.2/32",
        "10.52.12.3/32",
        "10.52.12.4/32",
        "10.52.12.5/32",
        "10.52.12.6/32",
    ];
    setup.wait_for_prefixes(&up, WAIT);
    for reason in [
        format!("DNS answer from {server} for www.ok.test A lacks 192.0.2.99 (got: 192.0.2.10, 192.0.2.11)"),
        format!("DNS NXDOMAIN from {server} for nope.ok.test A (expected NOERROR)"),
        format!("DNS SERVFAIL from {server} for www.broken.test A (expected NOERROR)"),
    ] {
        daemon.wait_for_log(&format!("check failed: {reason}"), WAIT);
    }
    assert!(daemon.log().contains(&format!("querying DNS {server} big.ok.test TXT")));
    daemon.wait_settled(WAIT);
    setup.wait_for_prefixes(&up, WAIT);

    // The server goes away: every check fails, refused.
    drop(nsd);
    setup.wait_for_prefixes(&[], WAIT);
    daemon.wait_for_log(&format!("DNS server {server} refused the query (port unreachable)"), WAIT);
}

#[test]
fn silence_and_replies_with_the_wrong_id_time_out() {
    // Stand-ins on loopback: one reads queries and never answers, one answers each
    // with the id off by one (a spoofed or stale reply: ignored, not believed).
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let liar = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (silent_address, liar_address) = (silent.local_addr().unwrap(), liar.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut buffer = [0u8; 512];
        while silent.recv_from(&mut buffer).is_ok() {}
    });
    std::thread::spawn(move || {
        let mut buffer = [0u8; 512];
        while let Ok((n, from)) = liar.recv_from(&mut buffer) {
            let mut reply = buffer[..n].to_vec();
            reply[1] = reply[1].wrapping_add(1);
            reply[2] |= 0x80;
            let _ = liar.send_to(&reply, from);
        }
    });
    let setup = Setup::new("", "check_interval = 0.3\ncheck_timeout = 0.2\ncheck_rise = 1\ncheck_fail = 1");
    setup.service("silent", &format!("check_dns = {silent_address} www.ok.test\nip_prefix = 10.52.12.1"));
    setup.service("liar", &format!("check_dns = {liar_address} www.ok.test\nip_prefix = 10.52.12.2"));
    let daemon = setup.start();
    daemon
        .wait_for_log(&format!("timed out waiting for the answer from {silent_address} after 0.200s"), WAIT);
    daemon.wait_for_log(
        &format!("timed out waiting for the answer from {liar_address} after 0.200s (ignored 1 reply: id mismatch)"),
        WAIT,
    );
    // Both keep their schedule: more timeouts follow, nothing is advertised, and each
    // query's socket is closed: the daemon's descriptors do not grow.
    daemon.wait_for_more("(ignored 1 reply: id mismatch)", 3, WAIT);
    let fds = || std::fs::read_dir(format!("/proc/{}/fd", daemon.pid())).map_or(0, |d| d.count());
    let before = fds();
    daemon.wait_for_more("(ignored 1 reply: id mismatch)", 10, WAIT);
    assert!(fds() <= before + 2, "sockets leak: {before} -> {}", fds());
    assert_eq!(setup.bird_prefixes(), ["10.189.200.255/32"]);
}

#[test]
fn configuration_errors_name_the_key() {
    let setup = Setup::new("", "");
    let cases = [
        ("check_dns = 127.0.0.1", "check_dns: \"127.0.0.1\" is not SERVER[:PORT] NAME [TYPE]"),
        ("check_dns = resolver.example www.example.com", "\"resolver.example\" is not an IP address"),
        ("check_dns = 127.0.0.1 www.example.com BOGUS", "\"BOGUS\" is not a record type"),
        ("check_dns = 127.0.0.1:70000 www.example.com", "\"70000\" is not a port from 1 to 65535"),
        (
            "check_dns = 127.0.0.1 www.example.com\ncheck_dns_rcode = FINE",
            "check_dns_rcode: \"FINE\" is not an RCODE",
        ),
        (
            "check_cmd = /bin/true\ncheck_dns_expect = 192.0.2.1",
            "check_dns_expect: is set but check_dns is not",
        ),
    ];
    for (body, expected) in cases {
        setup.service("svc", &format!("{body}\nip_prefix = 10.52.12.1"));
        let output = setup.sandbox.run(&["-f", "main.conf", "-d", "conf.d", "-c"]);
        let stderr = common::stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{body}: {stderr}");
        assert!(stderr.contains("conf.d/svc.conf: [svc] "), "{body}: {stderr}");
        assert!(stderr.contains(expected), "{body}: expected {expected:?} in {stderr}");
    }
}
