//! Operations: what each log destination receives (rotated files, a UDP syslog server,
//! JSON, journald prefixes), logging to a full disk, the metrics file (checked by
//! promtool and by value), systemd notifications, and `--status`.

use crate::common;

use std::net::UdpSocket;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{binary, DaemonProcess, Setup};

const WAIT: Duration = Duration::from_secs(15);

fn json_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|err| panic!("not JSON ({err}): {line:?}")))
        .collect()
}

#[test]
fn the_log_file_rotates_by_size_and_keeps_the_backups() {
    let setup =
        Setup::new("log_maxbytes = 3000\nlog_backups = 2", "check_interval = 0.02\ncheck_timeout = 0.015");
    let log = setup.path("x.log");
    let main = std::fs::read_to_string(setup.path("main.conf")).unwrap();
    setup.sandbox.write("main.conf", &format!("{main}log_file = {}\n", log.display()));
    setup.service("busy", "check_cmd = /bin/true\nip_prefix = 10.52.12.1");
    let daemon = setup.start();
    common::wait_for("two rotations", WAIT, || setup.path("x.log.2").exists());
    // One more rotation (x.log.2 replaced by the old x.log.1), and still no third backup.
    use std::os::unix::fs::MetadataExt;
    let inode = |name: &str| std::fs::metadata(setup.path(name)).map(|m| m.ino()).unwrap_or(0);
    let second = inode("x.log.2");
    common::wait_for("another rotation", WAIT, || inode("x.log.2") != second && inode("x.log.2") != 0);
    assert!(!setup.path("x.log.3").exists(), "only log_backups files are kept");
    // Rotation goes on meanwhile: between its rename and its reopen a name can be
    // missing for a moment (as with upstream's RotatingFileHandler).
    for name in ["x.log", "x.log.1", "x.log.2"] {
        let size = std::fs::metadata(setup.path(name)).map_or(0, |m| m.len());
        assert!(size <= 3000, "{name} is {size} bytes");
    }
    let mut text = String::new();
    common::wait_for("x.log.1 between rotations", WAIT, || {
        std::fs::read_to_string(setup.path("x.log.1")).map(|t| text = t).is_ok()
    });
    assert!(
        text.lines().all(|l| l.contains(" anycast-healthchecker[") && l.contains(" busy ")
            || l.contains("MainThread")
            || l.contains("bird-writer")),
        "{text}"
    );
    assert_eq!(daemon.log(), "", "nothing on the console when a log file is set");
}

#[test]
fn json_log_lines_are_valid_and_carry_the_service_fields() {
    let setup = Setup::new("json_log_file = true", "");
    let log = setup.path("x.json");
    let main = std::fs::read_to_string(setup.path("main.conf")).unwrap();
    setup.sandbox.write("main.conf", &format!("{main}log_file = {}\n", log.display()));
    setup.touch("ok");
    setup.flag_service("web", "10.52.12.1", "ok", "");
    let _daemon = setup.start();
    common::wait_for("the service's lines", WAIT, || {
        json_lines(&log).iter().filter(|l| l["service_name"] == "web").count() > 5
    });
    let lines = json_lines(&log);
    for line in &lines {
        for field in ["asctime", "levelname", "process", "message", "version", "program", "service_name"] {
            assert!(line.get(field).is_some(), "{field} missing: {line}");
        }
    }
    let web: Vec<&serde_json::Value> = lines.iter().filter(|l| l["service_name"] == "web").collect();
    for line in &web {
        assert_eq!(line["ip_address"], "10.52.12.1", "{line}");
        assert_eq!(line["prefix_length"], 32);
        assert_eq!(line["ip_check_disabled"], true);
        assert!(line["status"].is_string());
    }
    assert!(web.iter().any(|l| l["status"] == "up"), "the status follows the service");
}

/// Receives syslog packets on 127.0.0.1 until `enough` says so.
fn receive(socket: &UdpSocket, mut enough: impl FnMut(&[String]) -> bool) -> Vec<String> {
    socket.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let deadline = Instant::now() + WAIT;
    let mut packets = Vec::new();
    let mut buffer = [0u8; 65536];
    while !enough(&packets) {
        assert!(Instant::now() < deadline, "syslog packets so far: {packets:?}");
        if let Ok(n) = socket.recv(&mut buffer) {
            packets.push(String::from_utf8_lossy(&buffer[..n]).into_owned());
        }
    }
    packets
}

#[test]
fn a_udp_syslog_server_gets_upstreams_packets() {
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let setup = Setup::new(&format!("log_server = 127.0.0.1\nlog_server_port = {port}"), "");
    setup.service("web", "check_cmd = /bin/false\nip_prefix = 10.52.12.1");
    let _daemon = setup.start();
    let packets = receive(&server, |p| p.iter().any(|l| l.contains("changed to DOWN")));
    for packet in &packets {
        assert!(packet.ends_with('\0'), "a NUL ends each packet: {packet:?}");
        assert!(packet.starts_with('<'), "{packet:?}");
        assert!(packet.contains(" anycast-healthchecker["), "{packet:?}");
    }
    assert!(packets.iter().any(|p| p.starts_with("<14>") && p.contains(" INFO ")), "INFO is <14>");
    assert!(packets.iter().any(|p| p.starts_with("<11>") || p.starts_with("<12>") || p.starts_with("<15>")));
}

#[test]
fn an_ipv6_syslog_server_gets_the_lines() {
    let server = UdpSocket::bind("[::1]:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let setup = Setup::new(&format!("log_server = ::1\nlog_server_port = {port}"), "");
    setup.service("web", "check_cmd = /bin/false\nip_prefix = 10.52.12.1");
    let _daemon = setup.start();
    let packets = receive(&server, |p| p.iter().any(|l| l.contains("event=down")));
    assert!(packets.iter().any(|p| p.starts_with("<1") && p.contains("event=down")), "{packets:?}");
}

#[test]
fn a_syslog_server_named_by_a_name_of_an_ipv6_address_gets_the_lines() {
    if !common::root_or_skip() {
        return;
    }
    // The name resolves to ::1 only, in a mount namespace of the daemon's own whose
    // /etc/hosts says so (the host's file is not touched).
    let server = UdpSocket::bind("[::1]:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let setup = Setup::new(&format!("log_server = syslog-six.test\nlog_server_port = {port}"), "");
    setup.service("web", "check_cmd = /bin/false\nip_prefix = 10.52.12.1");
    let hosts = setup.sandbox.write("hosts", "::1 syslog-six.test\n");
    let script = format!(
        "mount --make-rprivate / && mount --bind {} /etc/hosts && exec {} -f main.conf -d conf.d",
        hosts.display(),
        binary()
    );
    let _daemon = DaemonProcess::start_via(setup.root(), "unshare", &["-m", "sh", "-c", &script], &[]);
    let packets = receive(&server, |p| p.iter().any(|l| l.contains("event=down")));
    assert!(packets.iter().any(|p| p.contains("event=down")), "{packets:?}");
}

#[test]
fn a_udp_syslog_server_gets_json_when_asked() {
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let setup =
        Setup::new(&format!("log_server = 127.0.0.1\nlog_server_port = {port}\njson_log_server = true"), "");
    setup.service("web", "check_cmd = /bin/false\nip_prefix = 10.52.12.1");
    let _daemon = setup.start();
    let packets = receive(&server, |p| p.iter().any(|l| l.contains("changed to DOWN")));
    for packet in &packets {
        let body = packet.trim_end_matches('\0');
        let json = &body[body.find('>').unwrap() + 1..];
        let value: serde_json::Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
        assert_eq!(value["program"], "anycast-healthchecker");
    }
}

#[test]
fn journald_prefixes_on_the_console() {
    let setup = Setup::new("log_format_journalctl = true", "");
    setup.service("web", "check_cmd = /bin/false\nip_prefix = 10.52.12.1");
    let daemon = setup.start();
    // A down is a warning (the event catalog), with its event token.
    daemon.wait_for_log("<4>web - changed to DOWN event=down service=web", WAIT);
    daemon.wait_for_log("<7>web - sleeping for", WAIT);
    let log = daemon.log();
    assert!(log.lines().all(|l| l.starts_with('<')), "{log}");
    assert!(log.contains("<4>MainThread - ") || log.contains("<6>MainThread - "), "{log}");
}

/// With stderr a stream into the journal (as systemd runs the shipped unit, with
/// upstream's console settings), each line starts with its catalog priority, which
/// journald takes as the level; the rest of the line is upstream's.
#[test]
fn stderr_into_the_journal_carries_the_catalogs_priorities() {
    let setup = Setup::new("", "");
    setup.touch("ok");
    setup.flag_service("web", "10.52.12.1", "ok", "");
    let daemon = DaemonProcess::start_into_journal(setup.root(), &["-f", "main.conf", "-d", "conf.d"]);
    setup.wait_for_prefixes(&["10.52.12.1/32"], WAIT);
    setup.remove("ok");
    daemon.wait_for_log("event=down service=web", WAIT);
    let log = daemon.log();
    let line =
        |token: &str| log.lines().find(|l| l.contains(token)).unwrap_or_else(|| panic!("{token}:\n{log}"));
    let pid = daemon.pid();
    for (token, priority, level) in [
        ("event=started", "<5>", "INFO"),
        ("event=up service=web", "<5>", "INFO"),
        ("event=down service=web", "<4>", "WARNING"),
        ("running /bin/sh -c", "<6>", "INFO"),
        ("sleeping for", "<7>", "DEBUG"),
    ] {
        let line = line(token);
        assert!(line.starts_with(priority), "{token}: {line}");
        assert!(
            line.contains(&format!(" anycast-healthchecker[{pid}] {level} ")),
            "upstream's layout: {line}"
        );
    }
    assert!(log.lines().all(|l| l.starts_with('<')), "{log}");

    // A stream that is not our stderr changes nothing.
    let other = Setup::new("", "");
    other.service("web", "check_cmd = /bin/false\nip_prefix = 10.52.12.1");
    let plain = DaemonProcess::start_with_env(
        other.root(),
        &["-f", "main.conf", "-d", "conf.d"],
        &[("JOURNAL_STREAM", "0:1")],
    );
    plain.wait_for_log("event=down service=web", WAIT);
    assert!(plain.log().lines().all(|l| l.starts_with("20")), "{}", plain.log());
}

/// `-c`, as the unit's ExecReload runs it: an error into the journal is an error there.
#[test]
fn a_rejected_check_into_the_journal_is_logged_at_err() {
    use std::os::unix::fs::MetadataExt;
    let setup = Setup::new("", "");
    setup.service("web", "check_cmd = /bin/true\nip_prefix = 10.52.12.1\ncheck_rise = 0\nchek_fail = 1");
    let stderr_path = setup.path("stderr");
    let stderr = std::fs::File::create(&stderr_path).unwrap();
    let meta = stderr.metadata().unwrap();
    let status = Command::new(binary())
        .args(["-f", "main.conf", "-d", "conf.d", "-c"])
        .current_dir(setup.root())
        .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .stderr(stderr)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1));
    let text = std::fs::read_to_string(&stderr_path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("<4>anycast-healthchecker: warning: ") && lines[0].contains("chek_fail"),
        "{text}"
    );
    assert!(lines[1].starts_with("<3>anycast-healthchecker: ") && lines[1].contains("check_rise"), "{text}");
}

/// `log_journald = true`: each line is a native journald datagram whose fields name
/// the event, the service and its prefixes, at the catalog's priority; the console
/// is quiet.
#[test]
fn journald_gets_fields_over_its_native_protocol() {
    use std::os::unix::net::UnixDatagram;
    let setup = Setup::new(
        "log_journald = true\nlog_journald_socket = journal.sock\nlog_syslog_facility = local2",
        "",
    );
    let socket = UnixDatagram::bind(setup.path("journal.sock")).unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    setup.touch("ok");
    setup.flag_service("web", "10.52.12.1", "ok", "");
    setup.service("two", "check_cmd = /bin/true\nip_prefix = 10.52.12.2, 10.52.12.3");
    let daemon = setup.start();
    setup.wait_for_prefixes(&["10.52.12.1/32", "10.52.12.2/32", "10.52.12.3/32"], WAIT);
    setup.remove("ok");
    let parse = |datagram: &[u8]| -> Vec<(String, String)> {
        String::from_utf8_lossy(datagram)
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
            .collect()
    };
    let mut entries: Vec<Vec<(String, String)>> = Vec::new();
    let field = |entry: &[(String, String)], name: &str| -> Vec<String> {
        entry.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
    };
    let deadline = Instant::now() + WAIT;
    let mut buffer = vec![0u8; 65536];
    while !entries.iter().any(|e| field(e, "EVENT") == ["down"]) {
        assert!(Instant::now() < deadline, "no EVENT=down entry in {entries:#?}");
        if let Ok(n) = socket.recv(&mut buffer) {
            entries.push(parse(&buffer[..n]));
        }
    }
    let down = entries.iter().find(|e| field(e, "EVENT") == ["down"]).unwrap();
    assert_eq!(field(down, "SERVICE"), ["web"]);
    assert_eq!(field(down, "IP_PREFIX"), ["10.52.12.1/32"]);
    assert_eq!(field(down, "PRIORITY"), ["4"]);
    assert_eq!(field(down, "SYSLOG_FACILITY"), ["18"]);
    assert_eq!(field(down, "SYSLOG_IDENTIFIER"), ["anycast-healthchecker"]);
    assert_eq!(field(down, "SYSLOG_PID"), [daemon.pid().to_string()]);
    assert_eq!(field(down, "MESSAGE"), ["web changed to DOWN event=down service=web"]);
    let up_two = entries
        .iter()
        .find(|e| field(e, "EVENT") == ["up"] && field(e, "SERVICE") == ["two"])
        .unwrap_or_else(|| panic!("no up of two in {entries:#?}"));
    assert_eq!(field(up_two, "IP_PREFIX"), ["10.52.12.2/32", "10.52.12.3/32"], "one field per prefix");
    assert_eq!(field(up_two, "PRIORITY"), ["5"]);
    let per_check = entries.iter().find(|e| field(e, "MESSAGE").iter().any(|m| m.contains(" running ")));
    assert_eq!(per_check.map(|e| field(e, "PRIORITY")), Some(vec!["6".to_string()]), "{entries:#?}");
    assert!(per_check.is_some_and(|e| field(e, "EVENT").is_empty()));
    assert_eq!(daemon.log(), "", "the console is quiet");
}

#[test]
fn a_full_disk_for_the_log_does_not_stall_the_checks() {
    // /dev/full fails every write with ENOSPC.
    let dir = tempfile::tempdir().unwrap();
    let textfile = dir.path().display().to_string();
    let setup = Setup::new(
        &format!("log_file = /dev/full\nprometheus_exporter = true\nprometheus_collector_textfile_dir = {textfile}\nprometheus_exporter_interval = 1"),
        "check_interval = 0.1\ncheck_timeout = 0.09",
    );
    let runs = setup.path("runs");
    setup.service(
        "counter",
        &format!("check_cmd = /bin/sh -c 'echo x >> {}'\nip_prefix = 10.52.12.1", runs.display()),
    );
    setup.flag_service("web", "10.52.12.2", "ok", "");
    let _daemon = setup.start();
    // A log that blocks would stall the checks: twenty of them must still run.
    common::wait_for("twenty checks", WAIT, || {
        std::fs::read_to_string(&runs).unwrap_or_default().lines().count() >= 20
    });
    // Transitions still reach the Bird file.
    setup.touch("ok");
    setup.wait_for_prefixes(&["10.52.12.1/32", "10.52.12.2/32"], WAIT);
    let prom = dir.path().join("anycast_healthchecker.prom");
    common::wait_for("dropped log lines in the metrics", WAIT, || {
        std::fs::read_to_string(&prom)
            .unwrap_or_default()
            .lines()
            .any(|l| l.starts_with("anycast_healthchecker_log_lines_dropped_total ") && !l.ends_with(" 0.0"))
    });
}

/// The value of a sample line that starts with `prefix`.
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn metrics_pass_promtool_and_show_the_transitions() {
    let dir = tempfile::tempdir().unwrap();
    let setup = Setup::new(
        &format!(
            "prometheus_exporter = true\nprometheus_collector_textfile_dir = {}\nprometheus_exporter_interval = 1",
            dir.path().display()
        ),
        "",
    );
    setup.touch("ok");
    setup.flag_service("up", "10.52.12.1", "ok", "");
    setup.service("down", "check_cmd = /bin/sh -c 'exit 3'\nip_prefix = 10.52.12.2");
    setup.service("slow", "check_cmd = sleep 5\nip_prefix = 10.52.12.3\ncheck_timeout = 0.1");
    setup.service("nowhere", "check_cmd = /bin/true\nip_prefix = 10.52.12.4\nip_check_disabled = false");
    setup.service("off", "check_cmd = /bin/true\nip_prefix = 10.52.12.5\ncheck_disabled = true");
    let _daemon = setup.start();
    let prom = dir.path().join("anycast_healthchecker.prom");
    let read = || std::fs::read_to_string(&prom).unwrap_or_default();
    common::wait_for("every state decided", WAIT, || {
        read().matches("anycast_healthchecker_service_state{").count() == 4
    });
    common::wait_for("a second timeout", WAIT, || {
        sample(&read(), "anycast_healthchecker_service_check_timeout_total{ip_prefix=\"10.52.12.3/32\"")
            .unwrap_or(0.0)
            >= 2.0
    });
    let text = read();
    let state = |prefix: &str, name: &str| {
        sample(
            &text,
            &format!("anycast_healthchecker_service_state{{ip_prefix=\"{prefix}\",service_name=\"{name}\"}}"),
        )
    };
    assert_eq!(state("10.52.12.1/32", "up"), Some(0.0));
    assert_eq!(state("10.52.12.2/32", "down"), Some(3.0), "the exit code of the deciding check");
    assert_eq!(state("10.52.12.3/32", "slow"), Some(126.0), "126 for a timeout");
    assert_eq!(state("10.52.12.4/32", "nowhere"), Some(1.0), "1 for an address not assigned");
    assert_eq!(
        sample(&text, "anycast_healthchecker_service_check_ip_assignment{ip_prefix=\"10.52.12.4/32\""),
        Some(0.0)
    );
    assert_eq!(text.matches("anycast_healthchecker_service{").count(), 5, "disabled services are listed too");
    assert_eq!(
        sample(&text, "anycast_healthchecker_service_transitions_total{ip_prefix=\"10.52.12.1/32\""),
        Some(1.0)
    );
    assert_eq!(sample(&text, "anycast_healthchecker_state "), Some(1.0));
    // The operator's view: one state per service, disabled ones included.
    for (prefix, name, state) in [
        ("10.52.12.1/32", "up", "up"),
        ("10.52.12.2/32", "down", "down"),
        ("10.52.12.5/32", "off", "disabled"),
    ] {
        let series = format!(
            "anycast_healthchecker_service_status{{ip_prefix=\"{prefix}\",service_name=\"{name}\",state=\"{state}\"}}"
        );
        assert_eq!(sample(&text, &series), Some(1.0), "{series} in\n{text}");
    }
    assert!(
        sample(&text, "anycast_healthchecker_bird_reconfigure_runs_total{ip_version=\"4\"}").unwrap_or(0.0)
            >= 1.0
    );
    assert_eq!(sample(&text, "anycast_healthchecker_bird_out_of_sync_seconds{ip_version=\"4\"}"), Some(0.0));
    assert!(sample(&text, "anycast_healthchecker_writer_events_total").unwrap_or(0.0) >= 4.0);
    assert!(text.contains(&format!(
        "anycast_healthchecker_version_info{{version=\"{}\"}} 1.0",
        env!("CARGO_PKG_VERSION")
    )));

    let promtool = std::env::var("PROMTOOL").unwrap_or_else(|_| "promtool".into());
    let output = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&prom).unwrap())
        .output()
        .unwrap_or_else(|err| panic!("{promtool}: {err}; install it with: apt-get install prometheus"));
    // promtool exits 3 for lint findings; the only one allowed is upstream's metric
    // name, which we keep for compatibility.
    let findings =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    let unexpected: Vec<&str> = findings
        .lines()
        .filter(|l| !l.starts_with("anycast_healthchecker_service_check_duration_milliseconds use base unit"))
        .collect();
    assert!(unexpected.is_empty(), "promtool: {findings}");
    assert!(matches!(output.status.code(), Some(0) | Some(3)), "promtool failed: {findings}");
}

#[test]
fn systemd_hears_ready_reloading_watchdog_and_stopping_in_order() {
    let setup = Setup::new("", "");
    setup.flag_service("web", "10.52.12.1", "ok", "");
    let socket_path = setup.path("notify.sock");
    let mut systemd = common::NotifySocket::bind(&socket_path);
    let mut daemon = DaemonProcess::start_with_env(
        setup.root(),
        &["-f", "main.conf", "-d", "conf.d"],
        &[("NOTIFY_SOCKET", socket_path.to_str().unwrap()), ("WATCHDOG_USEC", "400000")],
    );
    systemd.collect_until("READY=1", WAIT, |m| m.iter().any(|m| m == "READY=1"));
    systemd.collect_until("WATCHDOG=1", WAIT, |m| m.iter().any(|m| m == "WATCHDOG=1"));
    daemon.signal(libc::SIGHUP);
    systemd.collect_until("RELOADING=1", WAIT, |m| m.iter().any(|m| m.starts_with("RELOADING=1")));
    let reloading = systemd.messages.iter().position(|m| m.starts_with("RELOADING=1")).unwrap();
    let messages = &systemd.messages;
    assert!(messages[reloading].contains("\nMONOTONIC_USEC="), "{messages:?}");
    systemd
        .collect_until("READY=1 after the reload", WAIT, |m| m[reloading..].iter().any(|m| m == "READY=1"));
    daemon.signal(libc::SIGTERM);
    systemd.collect_until("STOPPING=1", WAIT, |m| m.iter().any(|m| m == "STOPPING=1"));
    let messages = &systemd.messages;
    assert_eq!(daemon.wait_exit(WAIT), Some(0));
    let first_ready = messages.iter().position(|m| m == "READY=1").unwrap();
    assert!(first_ready < reloading);
    assert!(messages.iter().position(|m| m == "STOPPING=1").unwrap() > reloading);
}

/// The unit's status line (`systemctl status`) is there when READY comes and follows
/// the services and reloads.
#[test]
fn systemd_status_line_follows_services_and_reloads() {
    let setup = Setup::new("", "");
    setup.touch("ok");
    setup.flag_service("web", "10.52.12.1", "ok", "");
    let socket_path = setup.path("notify.sock");
    let mut systemd = common::NotifySocket::bind(&socket_path);
    let daemon = DaemonProcess::start_with_env(
        setup.root(),
        &["-f", "main.conf", "-d", "conf.d"],
        &[("NOTIFY_SOCKET", socket_path.to_str().unwrap())],
    );
    systemd.collect_until("READY=1", WAIT, |m| m.iter().any(|m| m == "READY=1"));
    let ready = systemd.messages.iter().position(|m| m == "READY=1").unwrap();
    assert!(
        systemd.messages[..ready].iter().any(|m| m.starts_with("STATUS=1 service: 1 ")),
        "the status line before READY: {:?}",
        systemd.messages
    );
    let status_with = |text: &'static str| {
        move |m: &[String]| m.iter().any(|m| m.starts_with("STATUS=") && m.contains(text))
    };
    systemd.collect_until("1 up", WAIT, status_with("1 service: 1 up; Bird in sync"));
    setup.remove("ok");
    systemd.collect_until("1 down", WAIT, status_with("1 service: 1 down; Bird in sync"));
    setup.flag_service("dns", "10.52.12.2", "dns-ok", "");
    daemon.signal(libc::SIGHUP);
    systemd.collect_until("2 services after the reload", WAIT, status_with("2 services: "));
    systemd.collect_until("reloaded", WAIT, status_with("; reloaded 20"));
    let main = std::fs::read_to_string(setup.path("main.conf")).unwrap();
    setup.sandbox.write("main.conf", &format!("{main}\nloglevel = loud\n"));
    daemon.signal(libc::SIGHUP);
    systemd.collect_until("rejected", WAIT, status_with("rejected, old config kept: "));
}

fn status(setup: &Setup) -> (i32, String) {
    let output = Command::new(binary())
        .args(["-f", "main.conf", "-d", "conf.d", "--status"])
        .current_dir(setup.root())
        .output()
        .unwrap();
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn status_exit_codes_follow_nagios() {
    let setup = Setup::new("", "");
    setup.touch("ok");
    setup.flag_service("web", "10.52.12.1", "ok", "");
    setup.service("off", "check_cmd = /bin/true\nip_prefix = 10.52.12.2\ncheck_disabled = true");
    let mut daemon = setup.start();
    setup.wait_for_prefixes(&["10.52.12.1/32"], WAIT);
    common::wait_for("OK", WAIT, || status(&setup).0 == 0);
    let (_, text) = status(&setup);
    assert!(text.starts_with("OK: anycast-healthchecker process"), "{text}");
    assert!(text.contains("runs 2 checks (1 threads), Bird in sync"), "{text}");
    // One line per service: its state, since when, and why (reported every 2 s).
    common::wait_for("web's line", WAIT, || status(&setup).1.contains("\nweb: up since "));
    let text = status(&setup).1;
    let lines: Vec<&str> = text.lines().collect();
    // ... and what the prefix files say of each of its prefixes.
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("web: up since 20")
                && l.ends_with(" (check passed); 10.52.12.1/32 announced")),
        "{text}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("off: disabled since ")
            && l.ends_with("(check_disabled = true, on_disabled = withdraw); 10.52.12.2/32 withdrawn")),
        "{text}"
    );
    // "Why is 10.52.12.2 withdrawn?": only what covers it, and why.
    let output = Command::new(binary())
        .args(["-f", "main.conf", "-d", "conf.d", "--status", "10.52.12.2"])
        .current_dir(setup.root())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("OK: anycast-healthchecker process"), "{text}");
    assert_eq!(lines[1], "10.52.12.2/32 is withdrawn", "{text}");
    assert!(
        lines[2].starts_with("off: disabled since ") && lines[2].contains("check_disabled = true"),
        "{text}"
    );

    // Bird's reconfigure starts failing: WARNING once it is more than 5 s behind.
    setup.touch("bird-down");
    setup.remove("ok");
    setup.wait_for_prefixes(&[], WAIT);
    common::wait_for("WARNING", Duration::from_secs(20), || status(&setup).0 == 1);
    assert!(status(&setup).1.contains("Bird is behind its prefix file (IPv4"), "{}", status(&setup).1);
    setup.remove("bird-down");
    common::wait_for("OK again", Duration::from_secs(20), || status(&setup).0 == 0);

    daemon.signal(libc::SIGTERM);
    assert_eq!(daemon.wait_exit(WAIT), Some(0));
    let (code, text) = status(&setup);
    assert_eq!(code, 2, "{text}");
    assert!(text.starts_with("CRITICAL: anycast-healthchecker not running"), "{text}");
}

#[test]
fn status_without_a_daemon_is_critical_also_with_a_broken_config_and_unknown_without_a_main_file() {
    let setup = Setup::new("", "");
    setup.service("bad", "check_cmd =\nip_prefix = 10.52.12.1");
    let (code, text) = status(&setup);
    assert_eq!(code, 2, "{text}");
    assert!(text.starts_with("CRITICAL: anycast-healthchecker not running"), "{text}");
    assert!(text.contains("; on-disk config invalid: conf.d/bad.conf: [bad] check_cmd:"), "{text}");
    std::fs::remove_file(setup.path("main.conf")).unwrap();
    let (code, text) = status(&setup);
    assert_eq!(code, 3, "{text}");
    assert!(text.starts_with("UNKNOWN: "), "{text}");
}

/// A live process named in the pidfile (a reused pid) and a fresh status file are not
/// a running daemon: only the lock says that.
#[test]
fn status_is_decided_by_the_lock_not_by_a_pid() {
    let setup = Setup::new("", "");
    setup.flag_service("web", "10.52.12.1", "ok", "");
    setup.sandbox.write("run/ahc.pid", &format!("{}\n", std::process::id()));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    setup.sandbox.write(
        "run/ahc.pid.status",
        &format!(
            "pid={}\nupdated={now}\nservices=1\nthreads_expected=1\nthreads_alive=1\n",
            std::process::id()
        ),
    );
    let (code, text) = status(&setup);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("not running: no process holds"), "{text}");
}

/// The running daemon's report counts even when the config on disk was broken since
/// it started: both are said, as a WARNING (a reload would be refused).
#[test]
fn status_of_a_running_daemon_with_a_config_broken_since_says_both() {
    let setup = Setup::new("", "");
    setup.touch("ok");
    setup.flag_service("web", "10.52.12.1", "ok", "");
    let daemon = setup.start();
    common::wait_for("OK", WAIT, || status(&setup).0 == 0);
    setup.service("web", "check_cmd = /bin/true\nip_prefix = 10.52.12.300");
    let (code, text) = status(&setup);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.starts_with(&format!("WARNING: anycast-healthchecker process {} runs 1 checks", daemon.pid())),
        "{text}"
    );
    assert!(text.contains("; on-disk config invalid: conf.d/web.conf: [web] ip_prefix:"), "{text}");
}
