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
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::config::{LogLevel, LogSettings};

mod file;
mod format;
mod panic;
mod syslogd;

use crate::localtime::LocalTime;
use file::RotatingFile;
use format::{render, Format};
use panic::install_panic_hook;
use syslogd::{send, Local3164, Upstream3164};

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
