//! The `log` backend, with every upstream destination and format.
//!
//! Destinations: the console (stderr, as upstream really does, only when no file and no
//! server is set), `log_file` with size rotation (`x.log`, `x.log.1`, ...), a UDP syslog
//! server (`log_server`), and (extension) the local syslog socket (`log_syslog`).
//! Formats: upstream's text line, JSON (one valid object per line, with the service's
//! fields on every line a service logs), and journald priority prefixes.
//!
//! Logging never blocks or kills the daemon (upstream #8 hung on a full disk): a line
//! is handed to a logging thread through a bounded queue; when the queue is full, or a
//! destination fails (disk full, server gone), the line is dropped and counted.

use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::config::{LogLevel, LogSettings};
use crate::localtime::LocalTime;
use crate::PROGRAM;

/// Lines waiting for the logging thread; beyond this they are dropped.
const QUEUE: usize = 16 * 1024;

/// How long the logging thread rests after writing a batch.
const BATCH_PAUSE: Duration = Duration::from_millis(5);

/// What a service thread adds to each JSON line it logs.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceFields {
    pub ip_address: String,
    pub prefix_length: u8,
    pub status: String,
    pub ip_check_disabled: bool,
}

thread_local! {
    static SERVICE: RefCell<Option<ServiceFields>> = const { RefCell::new(None) };
}

/// Marks the calling thread as a service's: its lines carry `fields`.
pub fn set_service_fields(fields: ServiceFields) {
    SERVICE.with(|s| *s.borrow_mut() = Some(fields));
}

/// Updates the `status` field of the calling service thread.
pub fn set_service_status(status: &str) {
    SERVICE.with(|s| {
        if let Some(fields) = s.borrow_mut().as_mut() {
            fields.status = status.to_string();
        }
    });
}

/// One line, as handed to the logging thread.
/// The target that makes an error line CRITICAL (syslog `crit`), as upstream's
/// `logging.critical`: `log::error!(target: logging::CRITICAL, ...)`.
pub const CRITICAL: &str = "critical";

/// A line's severity: `log`'s levels plus CRITICAL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Severity {
    Critical,
    Error,
    Warning,
    Info,
    Debug,
}

impl Severity {
    fn of(record: &log::Record) -> Severity {
        match record.level() {
            log::Level::Error if record.target() == CRITICAL => Severity::Critical,
            log::Level::Error => Severity::Error,
            log::Level::Warn => Severity::Warning,
            log::Level::Info => Severity::Info,
            log::Level::Debug | log::Level::Trace => Severity::Debug,
        }
    }
}

struct Line {
    time: LocalTime,
    level: Severity,
    thread: String,
    message: String,
    service: Option<ServiceFields>,
}

enum Message {
    Line(Box<Line>),
    Reconfigure(Box<Sinks>),
    Flush(Sender<()>),
}

struct Logger {
    tx: Sender<Message>,
    dropped: AtomicU64,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Lines dropped so far (queue full or a destination failed).
pub fn dropped_lines() -> u64 {
    LOGGER.get().map_or(0, |l| l.dropped.load(Ordering::Relaxed))
}

fn count_dropped() {
    if let Some(logger) = LOGGER.get() {
        logger.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

/// Upstream's level names map onto `log`'s; CRITICAL lines pass where ERROR does.
pub fn level_filter(level: LogLevel) -> log::LevelFilter {
    match level {
        LogLevel::NotSet | LogLevel::Debug => log::LevelFilter::Debug,
        LogLevel::Info => log::LevelFilter::Info,
        LogLevel::Warning => log::LevelFilter::Warn,
        LogLevel::Error | LogLevel::Critical => log::LevelFilter::Error,
    }
}

/// Sets up logging from `settings`; called again on a reload, it switches destinations.
/// `names` are the section names, for the width of the thread column.
pub fn init(settings: &LogSettings, names: &[&str]) -> Result<(), String> {
    let sinks = Sinks::open(settings, names)?;
    install_panic_hook(settings);
    match LOGGER.get() {
        Some(logger) => {
            let _ = logger.tx.send(Message::Reconfigure(Box::new(sinks)));
        }
        None => {
            let (tx, rx) = crossbeam_channel::bounded(QUEUE);
            std::thread::Builder::new()
                .name("logging".into())
                .stack_size(256 * 1024)
                .spawn(move || run(sinks, &rx))
                .map_err(|err| format!("failed to start the logging thread: {err}"))?;
            if LOGGER.set(Logger { tx, dropped: AtomicU64::new(0) }).is_ok() {
                if let Some(logger) = LOGGER.get() {
                    let _ = log::set_logger(logger);
                }
            }
        }
    }
    log::set_max_level(level_filter(settings.level));
    Ok(())
}

/// Waits until every line logged so far is written, for at most `patience`.
pub fn flush(patience: Duration) {
    if let Some(logger) = LOGGER.get() {
        let (tx, rx) = crossbeam_channel::bounded(1);
        if logger.tx.send_timeout(Message::Flush(tx), patience).is_ok() {
            let _ = rx.recv_timeout(patience);
        }
    }
}

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let thread = std::thread::current();
        let line = Line {
            time: LocalTime::now(),
            level: Severity::of(record),
            thread: match thread.name() {
                Some("main") | None => "MainThread".to_string(),
                Some(name) => name.to_string(),
            },
            message: record.args().to_string(),
            service: SERVICE.with(|s| s.borrow().clone()),
        };
        match self.tx.try_send(Message::Line(Box::new(line))) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => count_dropped(),
        }
    }

    fn flush(&self) {}
}

/// Writes lines as they come, in batches: after draining the queue the thread pauses
/// a few milliseconds, so that a thousand services logging every second wake it a few
/// hundred times, not thousands (each wake-up of a channel receiver spins first).
fn run(mut sinks: Sinks, rx: &Receiver<Message>) {
    while let Ok(first) = rx.recv() {
        for message in std::iter::once(first).chain(rx.try_iter()) {
            match message {
                Message::Line(line) => sinks.write(&line),
                Message::Reconfigure(new) => sinks = *new,
                Message::Flush(done) => {
                    sinks.flush();
                    let _ = done.send(());
                }
            }
        }
        std::thread::sleep(BATCH_PAUSE);
    }
}

/// How a line is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Text,
    Json,
    Journald,
}

/// Where lines go, opened from the settings.
struct Sinks {
    name_width: usize,
    console: Option<Format>,
    file: Option<(RotatingFile, Format)>,
    server: Option<(syslog::Logger<syslog::LoggerBackend, Upstream3164>, Format)>,
    local_syslog: Option<syslog::Logger<syslog::LoggerBackend, Local3164>>,
}

impl Sinks {
    fn open(settings: &LogSettings, names: &[&str]) -> Result<Sinks, String> {
        let name_width = names.iter().map(|n| n.len()).max().unwrap_or(0).max("MainThread".len()) + 1;
        let pick = |json: bool| if json { Format::Json } else { Format::Text };
        let file = match &settings.file {
            Some(path) => {
                let file = RotatingFile::open(path, settings.max_bytes, settings.backups)
                    .map_err(|err| format!("failed to open log file {}: {err}", path.display()))?;
                Some((file, pick(settings.json_log_file)))
            }
            None => None,
        };
        let server = match &settings.server {
            Some(host) => {
                let logger = syslog::udp(Upstream3164, "0.0.0.0:0", (host.as_str(), settings.server_port))
                    .map_err(|err| {
                        format!("failed to set up syslog server {host}:{}: {err}", settings.server_port)
                    })?;
                Some((logger, pick(settings.json_log_server)))
            }
            None => None,
        };
        let local_syslog = if settings.syslog {
            Some(
                syslog::unix(Local3164)
                    .map_err(|err| format!("failed to connect to the local syslog: {err}"))?,
            )
        } else {
            None
        };
        let console = if file.is_none() && server.is_none() && local_syslog.is_none() {
            Some(if settings.json_stdout {
                Format::Json
            } else if settings.format_journalctl {
                Format::Journald
            } else {
                Format::Text
            })
        } else {
            None
        };
        Ok(Sinks { name_width, console, file, server, local_syslog })
    }

    fn write(&mut self, line: &Line) {
        if let Some(format) = self.console {
            let text = render(line, format, self.name_width);
            if std::io::stderr().lock().write_all(format!("{text}\n").as_bytes()).is_err() {
                count_dropped();
            }
        }
        if let Some((file, format)) = &mut self.file {
            let text = render(line, *format, self.name_width);
            if file.write_line(&text).is_err() {
                count_dropped();
            }
        }
        if let Some((server, format)) = &mut self.server {
            let text = render(line, *format, self.name_width);
            if send(server, line.level, text).is_err() {
                count_dropped();
            }
        }
        if let Some(local) = &mut self.local_syslog {
            let text = format!("{} {}", line.thread, line.message);
            if send(local, line.level, text).is_err() {
                count_dropped();
            }
        }
    }

    fn flush(&mut self) {
        if let Some((file, _)) = &mut self.file {
            let _ = file.file.flush();
        }
        let _ = std::io::stderr().flush();
    }
}

fn send<F: syslog::LogFormat<String>>(
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
struct Upstream3164;

impl syslog::LogFormat<String> for Upstream3164 {
    fn format<W: Write>(&self, w: &mut W, severity: syslog::Severity, message: String) -> syslog::Result<()> {
        let priority = syslog::Facility::LOG_USER as u8 | severity as u8;
        w.write_all(format!("<{priority}>{message}\0").as_bytes()).map_err(syslog::Error::Write)
    }
}

/// RFC 3164 for the local syslog socket, with local time: `<PRI>Nov 24 12:16:02
/// anycast-healthchecker[pid]: message`, facility daemon.
#[derive(Clone)]
struct Local3164;

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

fn level_name(level: Severity) -> &'static str {
    match level {
        Severity::Critical => "CRITICAL",
        Severity::Error => "ERROR",
        Severity::Warning => "WARNING",
        Severity::Info => "INFO",
        Severity::Debug => "DEBUG",
    }
}

/// One line in `format`, without the newline.
fn render(line: &Line, format: Format, name_width: usize) -> String {
    let asctime = format!("{},{:03}", line.time, line.time.micros / 1000);
    match format {
        Format::Text => format!(
            "{asctime} {PROGRAM}[{}] {:<8} {:<name_width$} {}",
            std::process::id(),
            level_name(line.level),
            line.thread,
            line.message
        ),
        Format::Journald => {
            let priority = match line.level {
                Severity::Critical => 2,
                Severity::Error => 3,
                Severity::Warning => 4,
                Severity::Info => 6,
                Severity::Debug => 7,
            };
            format!("<{priority}>{} - {}", line.thread, line.message)
        }
        Format::Json => {
            let mut json = format!(
                "{{\"asctime\": {}, \"levelname\": {}, \"process\": {}, \"message\": {}",
                json_string(&asctime),
                json_string(level_name(line.level)),
                std::process::id(),
                json_string(&line.message)
            );
            if let Some(service) = &line.service {
                json.push_str(&format!(
                    ", \"ip_address\": {}, \"prefix_length\": {}, \"status\": {}, \"ip_check_disabled\": {}",
                    json_string(&service.ip_address),
                    service.prefix_length,
                    json_string(&service.status),
                    service.ip_check_disabled
                ));
            }
            json.push_str(&format!(
                ", \"version\": {}, \"program\": {}, \"service_name\": {}}}",
                json_string(env!("CARGO_PKG_VERSION")),
                json_string(PROGRAM),
                json_string(&line.thread)
            ));
            json
        }
    }
}

/// `text` as a JSON string literal.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A log file rotated by size, as Python's `RotatingFileHandler`: before a line that
/// would pass `max_bytes`, `x.log.N-1` becomes `x.log.N`, ..., `x.log` becomes
/// `x.log.1`, and a new `x.log` is started. `max_bytes` or `backups` of 0: never rotate.
struct RotatingFile {
    path: PathBuf,
    file: File,
    size: u64,
    max_bytes: u64,
    backups: u32,
}

impl RotatingFile {
    fn open(path: &Path, max_bytes: u64, backups: u32) -> std::io::Result<RotatingFile> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(RotatingFile { path: path.to_path_buf(), file, size, max_bytes, backups })
    }

    fn write_line(&mut self, text: &str) -> std::io::Result<()> {
        let bytes = format!("{text}\n");
        let length = bytes.len() as u64;
        if self.max_bytes > 0 && self.backups > 0 && self.size > 0 && self.size + length > self.max_bytes {
            self.rotate()?;
        }
        self.file.write_all(bytes.as_bytes())?;
        self.size += length;
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let numbered = |n: u32| PathBuf::from(format!("{}.{n}", self.path.display()));
        for n in (1..self.backups).rev() {
            let from = numbered(n);
            if from.exists() {
                std::fs::rename(&from, numbered(n + 1))?;
            }
        }
        std::fs::rename(&self.path, numbered(1))?;
        self.file = OpenOptions::new().create(true).append(true).open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

/// Panics are bugs; their message goes to the log, and to `stderr_file` and the syslog
/// server when `stderr_file` / `stderr_log_server` ask for it (upstream sends Python's
/// stderr there).
fn install_panic_hook(settings: &LogSettings) {
    /// Where a panic's message goes besides the log (they change on a reload).
    #[derive(Clone)]
    struct PanicTargets {
        file: Option<PathBuf>,
        server: Option<(String, u16)>,
    }
    static TARGETS: Mutex<Option<PanicTargets>> = Mutex::new(None);
    let server = if settings.stderr_log_server {
        settings.server.clone().map(|host| (host, settings.server_port))
    } else {
        None
    };
    let first = {
        let mut targets = TARGETS.lock().unwrap_or_else(|p| p.into_inner());
        let first = targets.is_none();
        *targets = Some(PanicTargets { file: settings.stderr_file.clone(), server });
        first
    };
    if !first {
        return;
    }
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current().name().unwrap_or("MainThread").to_string();
        let message = format!("{info}");
        log::error!("{message}");
        let t = LocalTime::now();
        let line = format!("{t},{:03} {PROGRAM}[{}] {thread} {message}", t.micros / 1000, std::process::id());
        let targets = TARGETS.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(PanicTargets { file, server }) = targets {
            if let Some(path) = file {
                if let Ok(mut file) = OpenOptions::new().create(true).append(true).open(path) {
                    let _ = writeln!(file, "{line}");
                }
            }
            if let Some((host, port)) = server {
                if let Ok(mut logger) = syslog::udp(Upstream3164, "0.0.0.0:0", (host.as_str(), port)) {
                    let _ = logger.crit(line.clone());
                }
            }
        }
        default_hook(info);
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(service: Option<ServiceFields>) -> Line {
        Line {
            time: LocalTime {
                year: 2026,
                month: 11,
                day: 24,
                hour: 12,
                minute: 16,
                second: 2,
                micros: 731_000,
            },
            level: Severity::Info,
            thread: "web".into(),
            message: "status \"changed\" to UP\n".into(),
            service,
        }
    }

    #[test]
    fn text_lines_look_like_upstreams() {
        let text = render(&line(None), Format::Text, 11);
        let expected = format!(
            "2026-11-24 12:16:02,731 anycast-healthchecker[{}] INFO     web         status",
            std::process::id()
        );
        assert!(text.starts_with(&expected), "{text}");
    }

    #[test]
    fn journald_lines_carry_the_priority() {
        assert_eq!(render(&line(None), Format::Journald, 11), "<6>web - status \"changed\" to UP\n");
    }

    #[test]
    fn json_lines_escape_and_carry_service_fields() {
        let fields = ServiceFields {
            ip_address: "10.0.0.1".into(),
            prefix_length: 32,
            status: "up".into(),
            ip_check_disabled: false,
        };
        let json = render(&line(Some(fields)), Format::Json, 11);
        assert!(json.contains("\"message\": \"status \\\"changed\\\" to UP\\n\""), "{json}");
        assert!(
            json.contains("\"ip_address\": \"10.0.0.1\", \"prefix_length\": 32, \"status\": \"up\""),
            "{json}"
        );
        assert!(json.ends_with("\"service_name\": \"web\"}"), "{json}");
    }

    #[test]
    fn files_rotate_by_size_keeping_the_backups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        let mut file = RotatingFile::open(&path, 100, 2).unwrap();
        for n in 0..20 {
            file.write_line(&format!("line {n:02} {}", "x".repeat(30))).unwrap();
        }
        assert!(std::fs::metadata(&path).unwrap().len() <= 100);
        assert!(dir.path().join("x.log.1").exists() && dir.path().join("x.log.2").exists());
        assert!(!dir.path().join("x.log.3").exists());
        let newest = std::fs::read_to_string(&path).unwrap();
        assert!(newest.contains("line 19"));
    }
}
