//! The shipped logrotate file (packaging/logrotate) rotates a running daemon's
//! log_file with the real `logrotate`, as the daemon's user: the old lines move to
//! `.1`, the daemon goes on writing to the live file from its start (copytruncate and
//! append mode: no hole of NUL bytes, no line lost to a stale descriptor). The
//! root-owned event log that the shipped rsyslog drop-in writes beside it is rotated
//! too, as root, and never makes the daemon's rotation fail.
//!
//! Without logrotate or root the test prints one `SKIPPED:` line and passes, except
//! under CI=true.

use crate::common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::common::Setup;

const WAIT: Duration = Duration::from_secs(20);

#[test]
fn the_shipped_logrotate_file_rotates_a_running_daemons_log() {
    let program =
        std::env::var_os("LOGROTATE").map_or_else(|| PathBuf::from("/usr/sbin/logrotate"), PathBuf::from);
    if !program.is_file() {
        common::skip_or_fail("logrotate not found (apt-get install logrotate, or set LOGROTATE)");
        return;
    }
    if !common::root_or_skip() {
        return;
    }
    let setup =
        Setup::new("log_file = logs/anycast-healthchecker.log\nlog_maxbytes = 0\nloglevel = info", "");
    let logs = setup.sandbox.mkdir("logs");
    setup.touch("ok");
    setup.flag_service("web", "10.52.12.1", "ok", "");
    let _daemon = setup.start();
    let live = logs.join("anycast-healthchecker.log");
    let read = |path: &PathBuf| std::fs::read(path).unwrap_or_default();
    common::wait_for("the daemon to log", WAIT, || {
        String::from_utf8_lossy(&read(&live)).contains("changed to UP")
    });
    // As the package lays it out: the directory and the daemon's log are its user's
    // (nobody stands in for healthchecker); rsyslog's event log is root's, 0640.
    let chown = |path: &PathBuf| {
        let status = Command::new("chown").arg("nobody:nogroup").arg(path).status().unwrap();
        assert!(status.success(), "chown {}", path.display());
    };
    chown(&logs);
    chown(&live);
    std::fs::set_permissions(&logs, std::os::unix::fs::PermissionsExt::from_mode(0o750)).unwrap();
    let events = setup.sandbox.write(
        "logs/events.log",
        "Dec  2 10:00:00 anycast-healthchecker[1]: web changed to UP event=up service=web\n",
    );
    std::fs::set_permissions(&events, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();

    // The shipped file, pointed at this directory, with nobody as the daemon's user.
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/packaging/logrotate/anycast-healthchecker"
    ))
    .unwrap();
    let config = shipped
        .replace("/var/log/anycast-healthchecker", &logs.display().to_string())
        .replace("su healthchecker healthchecker", "su nobody nogroup");
    let config_path = setup.sandbox.write("logrotate.conf", &config);
    let output = Command::new(&program)
        .arg("-f")
        .arg("-s")
        .arg(setup.path("logrotate.state"))
        .arg(&config_path)
        .output()
        .unwrap();
    assert!(output.status.success(), "logrotate: {}", String::from_utf8_lossy(&output.stderr));

    let rotated = String::from_utf8_lossy(&read(&logs.join("anycast-healthchecker.log.1"))).into_owned();
    assert!(rotated.contains("changed to UP"), "the old lines moved: {rotated}");
    let events_rotated = String::from_utf8_lossy(&read(&logs.join("events.log.1"))).into_owned();
    assert!(events_rotated.contains("event=up"), "rsyslog's file rotated as root: {events_rotated}");
    // The daemon keeps writing, to the live file, from offset 0.
    setup.remove("ok");
    common::wait_for("new lines in the live file", WAIT, || {
        String::from_utf8_lossy(&read(&live)).contains("changed to DOWN")
    });
    let now = read(&live);
    assert!(!now.starts_with(b"\0"), "no hole before the new lines");
    assert!(!String::from_utf8_lossy(&now).contains("changed to UP"), "the live file starts afresh");
}
