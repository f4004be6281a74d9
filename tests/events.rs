//! The event catalog is an interface: one run of the daemon emits every event of it
//! (no dead entries), each line with its `event=` token, the catalog's words (upstream's
//! where upstream logs the event), the catalog's syslog severity at the configured
//! facility, and a JSON `event` field.
//!
//! The daemon logs at once to a text file, to a UDP "syslog server" (JSON lines) and
//! to a local syslog socket the test binds; the test drives it through every event.

use crate::common;

use std::collections::BTreeSet;
use std::net::UdpSocket;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::{DaemonProcess, Setup};
use anycast_healthchecker::telemetry::catalog::{AlertSeverity, CATALOG};

const WAIT: Duration = Duration::from_secs(20);

/// Upstream's words for the events it logs too (upstream-behaviour: the state machine,
/// the IP check, timeouts, reconfigure failures): existing syslog rules match these.
const UPSTREAM_WORDS: &[(&str, &str)] = &[
    ("up", "changed to UP"),
    ("down", "changed to DOWN"),
    ("ip_not_assigned", "status DOWN because 10.52.12.9/32 isn't assigned to lo interface"),
    ("check_timed_out", "check timed out"),
    ("reconfigure_failed", "reconfiguring BIRD failed"),
];

/// Collects datagrams from a socket into shared lines.
fn collect(lines: &Arc<Mutex<Vec<String>>>, receive: impl Fn(&mut [u8]) -> Option<usize> + Send + 'static) {
    let lines = Arc::clone(lines);
    std::thread::spawn(move || {
        let mut buffer = vec![0u8; 65536];
        while let Some(n) = receive(&mut buffer) {
            lines
                .lock()
                .unwrap()
                .push(String::from_utf8_lossy(&buffer[..n]).trim_end_matches('\0').to_string());
        }
    });
}

fn bind_syslog(path: &Path, lines: &Arc<Mutex<Vec<String>>>) {
    let socket = UnixDatagram::bind(path).unwrap();
    collect(lines, move |buffer| socket.recv(buffer).ok());
}

fn severity_code(severity: AlertSeverity) -> u8 {
    match severity {
        AlertSeverity::Critical => 2,
        AlertSeverity::Error => 3,
        AlertSeverity::Warning => 4,
        AlertSeverity::Notice => 5,
    }
}

#[test]
fn every_event_is_emitted_with_its_token_words_severity_and_json_field() {
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp_port = udp.local_addr().unwrap().port();
    let json_lines: Arc<Mutex<Vec<String>>> = Arc::default();
    collect(&json_lines, move |buffer| udp.recv(buffer).ok());
    let syslog_lines: Arc<Mutex<Vec<String>>> = Arc::default();

    let setup = Setup::new(
        "log_file = events.log\nlog_server = 127.0.0.1\nlog_server_port = PORT\njson_log_server = true\n\
         log_syslog = true\nlog_syslog_socket = syslog.sock\nlog_syslog_facility = local3\n\
         bird_behind_critical_seconds = 0.5\nloglevel = info\nlog_each_check = false"
            .replace("PORT", &udp_port.to_string())
            .as_str(),
        "",
    );
    let syslog_path = setup.path("syslog.sock");
    bind_syslog(&syslog_path, &syslog_lines);
    let root = setup.root().display().to_string();
    setup.touch("web-ok");
    setup.flag_service("web", "10.52.12.1", "web-ok", "");
    setup.service(
        "deg",
        &format!(
            "check_cmd = /bin/sh -c 'test -e {root}/degraded && exit 3; exit 0'\ncheck_degraded_exit_codes = 3\n\
             ip_prefix = 10.52.12.2"
        ),
    );
    setup.service(
        "maint",
        &format!("check_cmd = /bin/true\nmaintenance_file = {root}/maint\nip_prefix = 10.52.12.3"),
    );
    setup.service(
        "drain",
        &format!("check_cmd = /bin/true\nmaintenance_file = {root}/drain\ndrain_seconds = 1\nip_prefix = 10.52.12.4"),
    );
    setup.touch("flappy-ok");
    setup.flag_service(
        "flappy",
        "10.52.12.5",
        "flappy-ok",
        "damping = true\ndamping_suppress = 0.5\ndamping_reuse = 0.1",
    );
    setup.service(
        "noip",
        "check_cmd = /bin/true\nip_check_disabled = false\ninterface = lo\nip_prefix = 10.52.12.9",
    );
    setup.service("slow", "check_cmd = /bin/sleep 5\ncheck_timeout = 0.1\nip_prefix = 10.52.12.6");
    let vanishing = setup.sandbox.write("vanishing.sh", "#!/bin/sh\nexit 0\n");
    common::make_executable(&vanishing);
    setup.service("gone", &format!("check_cmd = {}\nip_prefix = 10.52.12.7", vanishing.display()));
    setup.touch("doomed-ok");
    setup.flag_service("doomed", "10.52.12.8", "doomed-ok", "");

    let (panic, stall) = (setup.path("panic"), setup.path("stall"));
    let mut daemon = DaemonProcess::start_with_env(
        setup.root(),
        &["-f", "main.conf", "-d", "conf.d"],
        &[
            ("ANYCAST_HEALTHCHECKER_TEST_PANIC", panic.to_str().unwrap()),
            ("ANYCAST_HEALTHCHECKER_TEST_STALL", stall.to_str().unwrap()),
            // systemd's watchdog (no socket: the pings go nowhere), for writer_hung.
            ("WATCHDOG_USEC", "1000000"),
        ],
    );
    let log = || std::fs::read_to_string(setup.path("events.log")).unwrap_or_default();
    let wait_event = |name: &str| {
        let token = format!("event={name}");
        common::wait_for(&format!("{token} in the log"), WAIT, || log().contains(&token));
    };
    wait_event("started");
    wait_event("up");
    wait_event("ip_not_assigned");
    wait_event("check_timed_out");

    setup.remove("web-ok");
    wait_event("down");
    setup.touch("degraded");
    wait_event("degraded");
    setup.touch("maint");
    wait_event("maintenance");
    setup.touch("drain");
    wait_event("draining");
    setup.remove("flappy-ok");
    wait_event("suppressed");
    std::fs::remove_file(&vanishing).unwrap();
    wait_event("check_not_started");
    setup.touch("panic.doomed");
    wait_event("thread_died");
    setup.remove("panic.doomed");

    // Bird "down": the next change fails to reconfigure, stays behind, then recovers.
    setup.touch("bird-down");
    setup.touch("web-ok");
    wait_event("reconfigure_failed");
    wait_event("bird_behind");
    setup.remove("bird-down");
    wait_event("reconfigure_recovered");

    // The local syslog goes away and comes back: the lines lost are reported.
    std::fs::remove_file(&syslog_path).unwrap();
    setup.remove("web-ok");
    common::wait_for("the second down, unsent to syslog", WAIT, || {
        log().matches("event=down service=web").count() >= 2
    });
    bind_syslog(&syslog_path, &syslog_lines);
    setup.touch("web-ok");
    wait_event("log_lines_dropped");

    // Reloads: a bad one is rejected, a good one applied.
    let main = std::fs::read_to_string(setup.path("main.conf")).unwrap();
    setup.sandbox.write("main.conf", &format!("{main}\nloglevel = loud\n"));
    daemon.signal(libc::SIGHUP);
    wait_event("reload_rejected");
    setup.sandbox.write("main.conf", &main);
    daemon.signal(libc::SIGHUP);
    wait_event("reload_applied");

    // The writer stands still: the watchdog is no longer fed.
    setup.touch("stall.bird-writer");
    wait_event("writer_hung");
    setup.remove("stall.bird-writer");

    daemon.signal(libc::SIGTERM);
    assert_eq!(daemon.wait_exit(WAIT), Some(0));
    wait_event("stopped");

    // Every catalog entry: its token, its words, upstream's words, its severity.
    let text = log();
    for entry in CATALOG.iter() {
        let token = format!(" event={}", entry.name());
        let lines: Vec<&str> = text.lines().filter(|l| l.contains(&token)).collect();
        assert!(!lines.is_empty(), "{} was never emitted:\n{text}", entry.name());
        for line in &lines {
            assert!(line.contains(entry.text), "{line:?} lacks the catalog's words {:?}", entry.text);
        }
    }
    for (name, words) in UPSTREAM_WORDS {
        let token = format!(" event={name}");
        assert!(
            text.lines().any(|l| l.contains(&token) && l.contains(words)),
            "no {name} line with upstream's words {words:?}:\n{text}"
        );
    }
    // Service events name their service, from the thread or from whoever logs them.
    assert!(text.lines().any(|l| l.contains(" web ") && l.ends_with("event=down service=web")), "{text}");
    assert!(text.lines().any(|l| l.contains("event=thread_died service=doomed")), "{text}");

    // Syslog: facility local3 (19), the catalog's severity, ident and pid.
    let syslog = syslog_lines.lock().unwrap().clone();
    let header = format!("anycast-healthchecker[{}]: ", daemon.pid());
    for entry in CATALOG.iter().filter(|e| !["stopped", "log_lines_dropped"].contains(&e.name())) {
        let token = format!(" event={}", entry.name());
        let priority = format!("<{}>", 19 * 8 + severity_code(entry.severity));
        assert!(
            syslog.iter().any(|l| l.starts_with(&priority) && l.contains(&header) && l.contains(&token)),
            "no syslog line {priority}...{header}...{token} in {syslog:#?}"
        );
    }

    // JSON lines over UDP: an "event" field on each event line, none on the others.
    let json = json_lines.lock().unwrap().clone();
    let mut seen = BTreeSet::new();
    for packet in &json {
        // `<PRI>` then the JSON line (upstream's UDP packet).
        let line = packet.split_once('>').map_or(packet.as_str(), |(_, rest)| rest);
        let priority: u8 = packet[1..].split('>').next().and_then(|p| p.parse().ok()).unwrap_or(0);
        assert_eq!(priority / 8, 19, "facility local3 on UDP too: {packet}");
        let value: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        if let Some(event) = value.get("event").and_then(|e| e.as_str()) {
            seen.insert(event.to_string());
            assert!(!value["message"].as_str().unwrap_or_default().contains(" event="), "{line}");
        }
    }
    let all: BTreeSet<String> = CATALOG.iter().map(|e| e.name().to_string()).collect();
    let missing: Vec<&String> = all.difference(&seen).collect();
    assert!(
        missing.iter().all(|m| ["stopped", "log_lines_dropped"].contains(&m.as_str())),
        "JSON lines lack {missing:?}"
    );
}
