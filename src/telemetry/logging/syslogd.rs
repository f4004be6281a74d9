//! The two syslog paths: upstream's UDP packet for `log_server`, and RFC 3164 with
//! local time to the local socket (`log_syslog`, `log_syslog_socket`), each with the
//! facility of `log_syslog_facility` and the catalog's severities.

use std::io::{self, Write};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;

use super::LineSeverity;
use crate::sys::localtime::LocalTime;
use crate::PROGRAM;

/// The syslog severity code (RFC 5424); journald's console prefix uses it too.
pub(super) fn code(level: LineSeverity) -> u8 {
    match level {
        LineSeverity::Critical => 2,
        LineSeverity::Error => 3,
        LineSeverity::Warning => 4,
        LineSeverity::Notice => 5,
        LineSeverity::Info => 6,
        LineSeverity::Debug => 7,
    }
}

pub(super) fn send<F: syslog::LogFormat<String>>(
    logger: &mut syslog::Logger<syslog::LoggerBackend, F>,
    level: LineSeverity,
    text: String,
) -> syslog::Result<()> {
    match level {
        LineSeverity::Critical => logger.crit(text),
        LineSeverity::Error => logger.err(text),
        LineSeverity::Warning => logger.warning(text),
        LineSeverity::Notice => logger.notice(text),
        LineSeverity::Info => logger.info(text),
        LineSeverity::Debug => logger.debug(text),
    }
}

/// Upstream's syslog packet: `<PRI>` + the formatted line + a NUL byte (Python's
/// `SysLogHandler`); facility user unless `log_syslog_facility` is set.
#[derive(Clone)]
pub(super) struct Upstream3164 {
    pub facility: u8,
}

impl syslog::LogFormat<String> for Upstream3164 {
    fn format<W: Write>(&self, w: &mut W, severity: syslog::Severity, message: String) -> syslog::Result<()> {
        let priority = (self.facility << 3) | severity as u8;
        w.write_all(format!("<{priority}>{message}\0").as_bytes()).map_err(syslog::Error::Write)
    }
}

/// A local datagram socket a logging daemon reads (syslog's `/dev/log`, journald's
/// native socket). Each line is sent to the path, not over a connected socket, so a
/// restarted daemon (a new socket file) gets lines again at once. A reader that is
/// momentarily behind (Linux queues only `net.unix.max_dgram_qlen` datagrams, 10 by
/// default, and a storm logs thousands of lines at once) is waited for, briefly: the
/// logging thread waits, never a check. One that stays stuck, or is gone, loses the
/// line (counted).
pub(super) struct DatagramSink {
    socket: UnixDatagram,
    path: PathBuf,
}

/// How long one line may wait for a reader whose queue is full.
const SEND_PATIENCE: std::time::Duration = std::time::Duration::from_millis(250);

impl DatagramSink {
    pub fn open(path: PathBuf) -> io::Result<DatagramSink> {
        let socket = UnixDatagram::unbound()?;
        socket.set_write_timeout(Some(SEND_PATIENCE))?;
        Ok(DatagramSink { socket, path })
    }

    pub fn send(&self, datagram: &[u8]) -> io::Result<()> {
        self.socket.send_to(datagram, &self.path).map(drop)
    }
}

/// The local syslog socket (rsyslog's or journald's `/dev/log`).
pub(super) struct LocalSyslog {
    sink: DatagramSink,
    facility: u8,
}

impl LocalSyslog {
    pub fn open(path: PathBuf, facility: u8) -> io::Result<LocalSyslog> {
        Ok(LocalSyslog { sink: DatagramSink::open(path)?, facility })
    }

    /// `<PRI>Nov 24 12:16:02 anycast-healthchecker[pid]: message`.
    pub fn send(&self, level: LineSeverity, message: &str) -> io::Result<()> {
        self.sink.send(format_3164(self.facility, level, &LocalTime::now(), message).as_bytes())
    }
}

fn format_3164(facility: u8, level: LineSeverity, t: &LocalTime, message: &str) -> String {
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let priority = (facility << 3) | code(level);
    let month = MONTHS[(t.month.clamp(1, 12) - 1) as usize];
    format!(
        "<{priority}>{month} {:>2} {:02}:{:02}:{:02} {PROGRAM}[{}]: {message}",
        t.day,
        t.hour,
        t.minute,
        t.second,
        std::process::id()
    )
}

/// A UDP syslog logger to `host:port`, sent from a socket of the server's own address
/// family: an IPv6 server (or a name whose first address is IPv6) gets an IPv6 socket,
/// where one bound to `0.0.0.0` would fail every send.
pub(super) fn udp_logger(
    format: Upstream3164,
    host: &str,
    port: u16,
) -> std::io::Result<syslog::Logger<syslog::LoggerBackend, Upstream3164>> {
    use std::net::ToSocketAddrs;
    let server = (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "the name has no address"))?;
    let local = if server.is_ipv6() { "[::]:0" } else { "0.0.0.0:0" };
    syslog::udp(format, local, server).map_err(|err| std::io::Error::other(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_has_facility_severity_time_ident_and_pid() {
        let t = LocalTime { year: 2026, month: 11, day: 3, hour: 7, minute: 5, second: 9, micros: 0 };
        let line = format_3164(3, LineSeverity::Warning, &t, "changed to DOWN event=down service=web");
        assert_eq!(
            line,
            format!(
                "<28>Nov  3 07:05:09 anycast-healthchecker[{}]: changed to DOWN event=down service=web",
                std::process::id()
            )
        );
        assert!(format_3164(16, LineSeverity::Notice, &t, "x").starts_with("<133>"), "local0.notice");
        assert!(format_3164(3, LineSeverity::Critical, &t, "x").starts_with("<26>"), "daemon.crit");
    }
}
