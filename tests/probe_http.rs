//! `check_http`: the native HTTP(S) check against servers the test runs on loopback:
//! status ranges, body search (plain and chunked), the Host header for a virtual host,
//! HEAD, redirects, a server that stalls (the timeout holds, no socket leaks), and TLS
//! with certificates made by `openssl` for the test: valid, for another name, expired,
//! expiring in three days, and signed by a CA the daemon does not trust.

use crate::common;

use std::time::Duration;

use crate::common::servers::{Answer, HttpServer, Pki};
use crate::common::{DaemonProcess, Setup};

const WAIT: Duration = Duration::from_secs(20);

fn open_fds(daemon: &DaemonProcess) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", daemon.pid())).map_or(0, |d| d.count())
}

fn setup() -> Setup {
    Setup::new("", "check_interval = 0.1\ncheck_timeout = 1\ncheck_rise = 1\ncheck_fail = 1")
}

#[test]
fn status_body_and_virtual_host_decide_and_every_failure_says_why() {
    let server = HttpServer::start(Answer::ok("service: ready\n"));
    let setup = setup();
    setup.service(
        "web",
        &format!(
            "check_http = {}\ncheck_http_host = www.example.com\ncheck_http_body = ready\nip_prefix = 10.52.12.1",
            server.url("/health")
        ),
    );
    let daemon = setup.start();
    setup.wait_for_prefixes(&["10.52.12.1/32"], WAIT);
    assert!(daemon.log().contains(&format!("requesting HTTP GET {}", server.url("/health"))));
    let (request, host) = server.requests()[0].clone();
    assert_eq!(request, "GET /health HTTP/1.1");
    assert_eq!(host, "www.example.com", "check_http_host is the Host header");
    assert_eq!(daemon.service_lines("web", " running "), 0, "no process is run:\n{}", daemon.log());

    let url = format!("http://www.example.com/health at {}", server.address);
    server.set(Answer { status: 503, ..Answer::ok("service: ready\n") });
    setup.wait_for_prefixes(&[], WAIT);
    daemon.wait_for_log(&format!("check failed: HTTP 503 from {url} (expected 200-399)"), WAIT);

    // 200 with the wrong body, chunked: still down, for the body.
    server.set(Answer { chunked: true, ..Answer::ok("service: starting, please wait\n") });
    daemon.wait_for_log(
        &format!("check failed: body mismatch: \"ready\" not in the first 31 bytes from {url}"),
        WAIT,
    );
    assert_eq!(setup.bird_prefixes(), ["10.189.200.255/32"], "still withdrawn");

    // The same body chunked across pieces passes.
    server.set(Answer { chunked: true, ..Answer::ok("service: is now ready\n") });
    setup.wait_for_prefixes(&["10.52.12.1/32"], WAIT);
}

#[test]
fn interim_responses_are_skipped_and_bare_newlines_parse() {
    let early = "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n";
    let cont = "HTTP/1.1 100 Continue\r\n\r\n";
    let server = HttpServer::start(Answer { interim: format!("{cont}{early}"), ..Answer::ok("ready") });
    let setup = setup();
    let check = format!("check_http = {}\ncheck_http_body = ready\nip_prefix = 10.52.12.1", server.url("/"));
    setup.service("web", &check);
    let daemon = setup.start();
    setup.wait_for_prefixes(&["10.52.12.1/32"], WAIT);
    // A 503 after an interim response is judged as 503, not as the 103.
    server.set(Answer { status: 503, interim: early.to_string(), ..Answer::ok("ready") });
    daemon.wait_for_log("HTTP 503 from", WAIT);
    setup.wait_for_prefixes(&[], WAIT);
    // Head lines ended by a bare LF.
    server.set(Answer { bare_lf: true, ..Answer::ok("ready") });
    setup.wait_for_prefixes(&["10.52.12.1/32"], WAIT);
    server.set(Answer { bare_lf: true, status: 500, ..Answer::ok("ready") });
    daemon.wait_for_log("HTTP 500 from", WAIT);
}

#[test]
fn status_lists_head_and_redirects() {
    let server = HttpServer::start(Answer::ok("ok"));
    server.route("/moved", Answer { status: 302, headers: vec!["Location: /ok".into()], ..Answer::ok("") });
    server.route("/ok", Answer::ok("arrived"));
    let setup = setup();
    // A redirect is a failure when only 200 counts and redirects are not followed...
    setup.service(
        "strict",
        &format!("check_http = {}\ncheck_http_status = 200\nip_prefix = 10.52.12.1", server.url("/moved")),
    );
    // ...and followed with check_http_follow, to a body that must be there.
    setup.service(
        "follow",
        &format!(
            "check_http = {}\ncheck_http_status = 200\ncheck_http_follow = true\ncheck_http_body = arrived\n\
             ip_prefix = 10.52.12.2",
            server.url("/moved")
        ),
    );
    // A 302 is in the default 200-399.
    setup.service("default", &format!("check_http = {}\nip_prefix = 10.52.12.3", server.url("/moved")));
    // HEAD: no body asked for.
    setup.service(
        "head",
        &format!("check_http = {}\ncheck_http_method = HEAD\nip_prefix = 10.52.12.4", server.url("/ok")),
    );
    let daemon = setup.start();
    setup.wait_for_prefixes(&["10.52.12.2/32", "10.52.12.3/32", "10.52.12.4/32"], WAIT);
    daemon
        .wait_for_log(&format!("check failed: HTTP 302 from {} (expected 200)", server.url("/moved")), WAIT);
    let requests = server.requests();
    assert!(requests.iter().any(|(r, _)| r == "HEAD /ok HTTP/1.1"), "{requests:?}");
    assert!(requests.iter().any(|(r, _)| r == "GET /ok HTTP/1.1"), "the redirect was followed: {requests:?}");
}

#[test]
fn a_stalled_server_fails_at_the_timeout_and_leaks_no_sockets() {
    let server = HttpServer::start(Answer::ok("ok"));
    let setup = Setup::new("", "check_interval = 0.2\ncheck_timeout = 0.15\ncheck_rise = 1\ncheck_fail = 1");
    setup.service("web", &format!("check_http = {}\nip_prefix = 10.52.12.1", server.url("/")));
    let daemon = setup.start();
    setup.wait_for_prefixes(&["10.52.12.1/32"], WAIT);
    server.set(Answer { stall: true, ..Answer::ok("") });
    setup.wait_for_prefixes(&[], WAIT);
    let reason = format!("timed out reading the response from {} after 0.150s", server.address);
    daemon.wait_for_log(&reason, WAIT);
    // The schedule goes on, a check every 0.2 s each stopped at 0.15 s, and each
    // timed-out connection is closed: the daemon's descriptors do not grow.
    daemon.wait_for_more(&reason, 3, WAIT);
    let fds = open_fds(&daemon);
    daemon.wait_for_more(&reason, 10, WAIT);
    assert!(open_fds(&daemon) <= fds + 2, "sockets leak: {} -> {}", fds, open_fds(&daemon));
}

#[test]
fn tls_certificates_valid_wrong_name_expired_expiring_and_untrusted() {
    let setup = setup();
    let pki = Pki::new(&setup.path("pki"));
    let ca = pki.ca();
    let names = ["www.example.com", "127.0.0.1"];
    let (good_cert, good_key) = pki.leaf("good", &names, "-1 day", "+60 days");
    let (other_cert, other_key) = pki.leaf("other", &["other.example.net"], "-1 day", "+60 days");
    let (old_cert, old_key) = pki.leaf("old", &names, "-30 days", "-2 days");
    let (soon_cert, soon_key) = pki.leaf("soon", &names, "-1 day", "+3 days 1 hour");
    let good = HttpServer::start_tls(Answer::ok("ok"), &good_cert, &good_key);
    let other = HttpServer::start_tls(Answer::ok("ok"), &other_cert, &other_key);
    let old = HttpServer::start_tls(Answer::ok("ok"), &old_cert, &old_key);
    let soon = HttpServer::start_tls(Answer::ok("ok"), &soon_cert, &soon_key);
    let https = |server: &HttpServer| format!("https://{}/", server.address);
    let trusting = format!("check_tls_ca_file = {}\ncheck_http_host = www.example.com", ca.display());
    let services = [
        ("valid", https(&good), trusting.clone(), "10.52.12.1"),
        ("ip-san", https(&good), format!("check_tls_ca_file = {}", ca.display()), "10.52.12.2"),
        ("wrongname", https(&other), trusting.clone(), "10.52.12.3"),
        ("expired", https(&old), trusting.clone(), "10.52.12.4"),
        ("expiring", https(&soon), format!("{trusting}\ncheck_tls_min_days = 7"), "10.52.12.5"),
        ("expiring-ok", https(&soon), format!("{trusting}\ncheck_tls_min_days = 2"), "10.52.12.6"),
        ("untrusted", https(&good), "check_http_host = www.example.com".to_string(), "10.52.12.7"),
        ("unverified", https(&other), "check_tls_verify = false".to_string(), "10.52.12.8"),
    ];
    for (name, url, extra, prefix) in &services {
        setup.service(name, &format!("check_http = {url}\n{extra}\nip_prefix = {prefix}"));
    }
    let check = setup.sandbox.run(&["-f", "main.conf", "-d", "conf.d", "-c"]);
    assert_eq!(check.status.code(), Some(0), "{}", common::stderr(&check));
    assert!(
        common::stderr(&check).contains("[unverified] check_tls_verify = false: any certificate is accepted"),
        "-c warns about an unverified check: {}",
        common::stderr(&check)
    );
    let daemon = setup.start();
    setup.wait_for_prefixes(&["10.52.12.1/32", "10.52.12.2/32", "10.52.12.6/32", "10.52.12.8/32"], WAIT);
    for reason in [
        "TLS: name mismatch: the certificate is not valid for www.example.com".to_string(),
        "TLS: the certificate of www.example.com has expired".to_string(),
        "TLS: the certificate of www.example.com expires in 3 days (check_tls_min_days = 7)".to_string(),
        "TLS: unknown CA: the certificate of www.example.com is not signed by a trusted CA".to_string(),
    ] {
        daemon.wait_for_log(&format!("check failed: {reason}"), WAIT);
    }
    // Only the valid, the IP-named, the not-yet-expiring and the unverified are up.
    daemon.wait_settled(WAIT);
    setup.wait_for_prefixes(&["10.52.12.1/32", "10.52.12.2/32", "10.52.12.6/32", "10.52.12.8/32"], WAIT);
}

#[test]
fn configuration_errors_name_the_key() {
    let setup = Setup::new("", "");
    let cases = [
        (
            "check_http = ftp://127.0.0.1/",
            "check_http: \"ftp://127.0.0.1/\" does not start with http:// or https://",
        ),
        ("check_http = http://www.example.com/", "put a virtual host's name in check_http_host"),
        (
            "check_http = http://127.0.0.1/\ncheck_http_status = 200-600",
            "check_http_status: \"600\" is not an HTTP status",
        ),
        (
            "check_http = http://127.0.0.1/\ncheck_http_method = POST",
            "check_http_method: \"POST\" is not GET or HEAD",
        ),
        (
            "check_http = http://127.0.0.1/\ncheck_tls_min_days = 7",
            "check_tls_min_days: is set but check_http is not an https:// URL",
        ),
        (
            "check_http = https://127.0.0.1/\ncheck_tls_ca_file = /nonexistent/ca.pem",
            "check_tls_ca_file: cannot read /nonexistent/ca.pem",
        ),
        ("check_cmd = /bin/true\ncheck_http_body = ok", "check_http_body: is set but check_http is not"),
        (
            "check_tcp = 127.0.0.1:80\ncheck_http = http://127.0.0.1/",
            "check_http: and check_tcp are both set",
        ),
        (
            "check_http = http://127.0.0.1/\ncheck_http_method = HEAD\ncheck_http_body = ok",
            "check_http_body: is set but a HEAD response has no body",
        ),
    ];
    for (body, expected) in cases {
        setup.service("svc", &format!("{body}\nip_prefix = 10.52.12.1"));
        let output = setup.sandbox.run(&["-f", "main.conf", "-d", "conf.d", "-c"]);
        let stderr = common::stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{body}: {stderr}");
        assert!(stderr.contains("conf.d/svc.conf: [svc] "), "{body}: names file and section: {stderr}");
        assert!(stderr.contains(expected), "{body}: expected {expected:?} in {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    }
}

/// Sockets of `port` in TIME_WAIT (state 06 in /proc/net/tcp), either side.
fn time_wait_sockets(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let port = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.len() > 3
                && fields[3] == "06"
                && (fields[1].ends_with(&port) || fields[2].ends_with(&port))
        })
        .count()
}

#[test]
fn probes_leave_no_time_wait_sockets_behind() {
    // The server closes first (Connection: close), so a normal close would leave each
    // probe's connection in TIME_WAIT for a minute: a thousand probes a second would
    // hold most of the ephemeral ports. Probes close with a reset instead.
    let server = HttpServer::start(Answer::ok("ok"));
    let setup = Setup::new("", "check_interval = 0.05\ncheck_timeout = 1\ncheck_rise = 1\ncheck_fail = 1");
    setup.service("web", &format!("check_http = {}\nip_prefix = 10.52.12.1", server.url("/")));
    let _daemon = setup.start();
    setup.wait_for_prefixes(&["10.52.12.1/32"], WAIT);
    common::wait_for("20 requests", WAIT, || server.requests().len() >= 20);
    assert_eq!(time_wait_sockets(server.address.port()), 0);
}
