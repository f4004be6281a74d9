//! The two syslog formats: upstream's UDP packet for `log_server`, and RFC 3164 with
//! local time for the local socket (`log_syslog`).

use std::io::Write;

use super::Severity;
use crate::localtime::LocalTime;
use crate::PROGRAM;

pub(super) fn send<F: syslog::LogFormat<String>>(
    logger: &mut syslog::Logger<syslog::LoggerBackend, F>,
    level: Severity,
    text: String,
) -> syslog::Result<()> {
    match level {
        Severity::Critical => logger.crit(text),
        Severity::Error => logger.err(text),
        Severity::Warning => logger.warning(text),
        Severity::Info => logger.info(text),
        Severity::Debug => logger.debug(text),
    }
}

/// Upstream's syslog packet: `<PRI>` + the formatted line + a NUL byte (Python's
/// `SysLogHandler`), facility user.
#[derive(Clone)]
pub(super) struct Upstream3164;

impl syslog::LogFormat<String> for Upstream3164 {
    fn format<W: Write>(&self, w: &mut W, severity: syslog::Severity, message: String) -> syslog::Result<()> {
        let priority = syslog::Facility::LOG_USER as u8 | severity as u8;
        w.write_all(format!("<{priority}>{message}\0").as_bytes()).map_err(syslog::Error::Write)
    }
}

/// RFC 3164 for the local syslog socket, with local time: `<PRI>Nov 24 12:16:02
/// anycast-healthchecker[pid]: message`, facility daemon.
#[derive(Clone)]
pub(super) struct Local3164;

impl syslog::LogFormat<String> for Local3164 {
    fn format<W: Write>(&self, w: &mut W, severity: syslog::Severity, message: String) -> syslog::Result<()> {
        const MONTHS: [&str; 12] =
            ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
        let priority = syslog::Facility::LOG_DAEMON as u8 | severity as u8;
        let t = LocalTime::now();
        let month = MONTHS[(t.month.clamp(1, 12) - 1) as usize];
        let line = format!(
            "<{priority}>{month} {:>2} {:02}:{:02}:{:02} {PROGRAM}[{}]: {message}",
            t.day,
            t.hour,
            t.minute,
            t.second,
            std::process::id()
        );
        w.write_all(line.as_bytes()).map_err(syslog::Error::Write)
    }
}
