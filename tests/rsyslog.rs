//! Syslog with a real rsyslogd (Debian's rsyslog, started by the test with its own
//! config and socket, no system service): the daemon's event lines arrive with the
//! facility, severity, ident, pid, `event=` token and upstream's words; with rsyslogd
//! killed the daemon keeps checking and writing the Bird file and counts the lines it
//! could not send, and says how many once rsyslogd is back.
//!
//! Without rsyslogd the test prints one `SKIPPED:` line and passes, except under CI=true.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::Setup;

const WAIT: Duration = Duration::from_secs(20);

struct Rsyslogd {
    child: Child,
}

impl Rsyslogd {
    /// rsyslogd in the foreground, reading `socket` and writing every message to `out`
    /// as `facility.severity programname[pid] message`.
    fn start(program: &Path, dir: &Path, socket: &Path, out: &Path, extra: &str) -> Rsyslogd {
        let _ = std::fs::remove_file(socket);
        let config = dir.join("rsyslog.conf");
        std::fs::write(
            &config,
            format!(
                "global(workDirectory=\"{dir}\")\n\
                 module(load=\"imuxsock\" SysSock.Use=\"off\")\n\
                 input(type=\"imuxsock\" Socket=\"{socket}\")\n\
                 template(name=\"line\" type=\"string\" \
                 string=\"%syslogfacility-text%.%syslogseverity-text% %programname%[%procid%]%msg%\\n\")\n\
                 *.* action(type=\"omfile\" file=\"{out}\" template=\"line\")\n{extra}\n",
                dir = dir.display(),
                socket = socket.display(),
                out = out.display()
            ),
        )
        .unwrap();
        let child = Command::new(program)
            .args(["-n", "-f"])
            .arg(&config)
            .arg("-i")
            .arg(dir.join("rsyslogd.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("rsyslogd starts");
        common::wait_for("rsyslogd's socket", WAIT, || socket.exists());
        Rsyslogd { child }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Rsyslogd {
    fn drop(&mut self) {
        self.kill();
    }
}

fn rsyslogd() -> Option<PathBuf> {
    let program =
        std::env::var_os("RSYSLOGD").map_or_else(|| PathBuf::from("/usr/sbin/rsyslogd"), PathBuf::from);
    if program.is_file() {
        Some(program)
    } else {
        common::skip_or_fail("rsyslogd not found (apt-get install rsyslog, or set RSYSLOGD)");
        None
    }
}

/// The value of an unlabelled metric in the textfile.
fn metric(setup: &Setup, name: &str) -> f64 {
    let text = std::fs::read_to_string(setup.path("metrics/anycast_healthchecker.prom")).unwrap_or_default();
    text.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok())).unwrap_or(0.0)
}

#[test]
fn events_reach_a_real_rsyslogd_and_its_death_costs_lines_not_checks() {
    let Some(program) = rsyslogd() else { return };
    let setup = Setup::new(
        "log_syslog = true\nlog_syslog_socket = syslog/log.sock\nlog_file = daemon.log\n\
         prometheus_exporter = true\nprometheus_collector_textfile_dir = metrics\nprometheus_exporter_interval = 1\n\
         loglevel = info",
        "",
    );
    setup.sandbox.mkdir("metrics");
    let dir = setup.sandbox.mkdir("syslog");
    let (socket, out) = (dir.join("log.sock"), dir.join("out.log"));
    // The shipped drop-in too: event lines to their own file, warnings and worse
    // forwarded over TCP (to a listener of the test's).
    let forwarded = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let forward_port = forwarded.local_addr().unwrap().port();
    let forwarded_text = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = std::sync::Arc::clone(&forwarded_text);
    std::thread::spawn(move || {
        for stream in forwarded.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buffer = [0u8; 4096];
            while let Ok(n) = std::io::Read::read(&mut stream, &mut buffer) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        }
    });
    let events_file = dir.join("events.log");
    let drop_in = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/packaging/rsyslog/anycast-healthchecker.conf"
    ))
    .unwrap()
    .replace("/var/log/anycast-healthchecker/events.log", &events_file.display().to_string())
    .replace("loghost.example.com", "127.0.0.1")
    .replace("port=\"514\"", &format!("port=\"{forward_port}\""));
    let mut rsyslog = Rsyslogd::start(&program, &dir, &socket, &out, &drop_in);
    setup.touch("ok");
    setup.flag_service("web", "10.52.12.1", "ok", "");
    let daemon = setup.start();
    let received = || std::fs::read_to_string(&out).unwrap_or_default();
    let pid = daemon.pid();

    setup.wait_for_prefixes(&["10.52.12.1/32"], WAIT);
    setup.remove("ok");
    setup.wait_for_prefixes(&[], WAIT);
    // Facility daemon (the default), severity warning (the catalog's for down), the
    // ident and pid, upstream's words and the event token.
    let down =
        format!("daemon.warning anycast-healthchecker[{pid}] web changed to DOWN event=down service=web");
    common::wait_for("the down event in rsyslog's file", WAIT, || received().contains(&down));
    let started =
        format!("daemon.notice anycast-healthchecker[{pid}] MainThread starting anycast-healthchecker");
    assert!(received().contains(&started), "{}", received());
    assert!(
        received().contains(&format!("daemon.info anycast-healthchecker[{pid}] web running ")),
        "per-check lines at info"
    );
    // The drop-in: only event lines in its file; only warnings and worse forwarded.
    let events = || std::fs::read_to_string(&events_file).unwrap_or_default();
    common::wait_for("the drop-in's file", WAIT, || events().contains("event=down service=web"));
    assert!(events().lines().all(|l| l.contains(" event=")), "{}", events());
    assert!(events().contains("event=up service=web"), "{}", events());
    common::wait_for("the forwarded down", WAIT, || {
        forwarded_text.lock().unwrap().contains("event=down service=web")
    });
    assert!(!forwarded_text.lock().unwrap().contains("event=up"), "a notice is not forwarded");

    // rsyslogd dies: checks go on, the Bird file follows them, lines are counted lost.
    rsyslog.kill();
    let log = || std::fs::read_to_string(setup.path("daemon.log")).unwrap_or_default();
    let checks = || log().lines().filter(|l| l.contains(" web ") && l.contains(" running ")).count();
    let before = checks();
    setup.touch("ok");
    setup.wait_for_prefixes(&["10.52.12.1/32"], WAIT);
    common::wait_for("ten more checks", WAIT, || checks() >= before + 10);
    common::wait_for("lost lines counted", WAIT, || {
        metric(&setup, "anycast_healthchecker_log_lines_dropped_total") >= 10.0
    });
    assert_eq!(
        received().matches("event=up").count(),
        1,
        "the second up was lost, not delivered:\n{}",
        received()
    );

    // rsyslogd is back: lines arrive again, starting with how many were lost.
    let _rsyslog = Rsyslogd::start(&program, &dir, &socket, &out, &drop_in);
    let report = format!("daemon.warning anycast-healthchecker[{pid}] MainThread ");
    common::wait_for("the report of lost lines", WAIT, || {
        received().lines().any(|l| {
            l.starts_with(&report)
                && l.contains("log lines were dropped")
                && l.ends_with("event=log_lines_dropped")
        })
    });
}
