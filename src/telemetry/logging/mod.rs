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

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use crate::config::{LogLevel, LogSettings};
use crate::telemetry::catalog;

mod file;
mod format;
mod journald;
mod panic;
mod syslogd;

use crate::sys::localtime::LocalTime;
use file::RotatingFile;
use format::{render_into, Format};
pub use journald::stderr_is_journal;
use journald::Journald;
use panic::install_panic_hook;
use syslogd::{send, LocalSyslog, Upstream3164};

/// Lines waiting for the logging thread; beyond this they are dropped. The channel
/// itself is unbounded and this bound is kept by the sender: a bounded channel's array
/// takes its whole capacity up front (384 KiB), where an unbounded one allocates small
/// blocks as lines wait and frees them as they are written.
const QUEUE: usize = 16 * 1024;

/// A message's first allocation: per-check lines are shorter.
const MESSAGE_CAPACITY: usize = 96;

/// How long the logging thread rests after writing a batch.
const BATCH_PAUSE: Duration = Duration::from_millis(5);

/// What a service thread adds to each JSON line it logs. Cheap to copy onto every
/// line: a service thread logs about four lines a check.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceFields {
    pub ip_address: Arc<str>,
    pub prefix_length: u8,
    pub status: &'static str,
    pub ip_check_disabled: bool,
    /// Every prefix of the service (journald's `IP_PREFIX` fields).
    pub ip_prefixes: Arc<[String]>,
}

thread_local! {
    static SERVICE: RefCell<Option<ServiceFields>> = const { RefCell::new(None) };
}

/// Marks the calling thread as a service's: its lines carry `fields`.
pub fn set_service_fields(fields: ServiceFields) {
    SERVICE.with(|s| *s.borrow_mut() = Some(fields));
}

/// Updates the `status` field of the calling service thread.
pub fn set_service_status(status: &'static str) {
    SERVICE.with(|s| {
        if let Some(fields) = s.borrow_mut().as_mut() {
            fields.status = status;
        }
    });
}

/// One line, as handed to the logging thread.
/// The target that makes an error line CRITICAL (syslog `crit`), as upstream's
/// `logging.critical`: `log::error!(target: logging::CRITICAL, ...)`.
pub const CRITICAL: &str = "critical";

/// A line's severity: `log`'s levels plus CRITICAL, and NOTICE for the catalog's
/// events that say something is well again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineSeverity {
    Critical,
    Error,
    Warning,
    Notice,
    Info,
    Debug,
}

impl LineSeverity {
    fn of(record: &log::Record, event: Option<&catalog::AlertEntry>) -> LineSeverity {
        if let Some(entry) = event {
            return match entry.severity {
                catalog::AlertSeverity::Critical => LineSeverity::Critical,
                catalog::AlertSeverity::Error => LineSeverity::Error,
                catalog::AlertSeverity::Warning => LineSeverity::Warning,
                catalog::AlertSeverity::Notice => LineSeverity::Notice,
            };
        }
        match record.level() {
            log::Level::Error if record.target() == CRITICAL => LineSeverity::Critical,
            log::Level::Error => LineSeverity::Error,
            log::Level::Warn => LineSeverity::Warning,
            log::Level::Info => LineSeverity::Info,
            log::Level::Debug | log::Level::Trace => LineSeverity::Debug,
        }
    }
}

struct LogLine {
    time: LocalTime,
    level: LineSeverity,
    thread: Arc<str>,
    message: Cow<'static, str>,
    service: Option<ServiceFields>,
    /// The catalog's name, when the line is an event.
    event: Option<&'static str>,
    /// The service an event is about (the thread's own, or one named by the caller).
    about: Option<Arc<str>>,
}

impl LogLine {
    /// The message with the event's tokens, for text destinations:
    /// `changed to DOWN event=down service=web`.
    fn tagged_message(&self) -> Cow<'_, str> {
        match (self.event, &self.about) {
            (None, _) => Cow::Borrowed(&self.message),
            (Some(event), None) => format!("{} event={event}", self.message).into(),
            (Some(event), Some(service)) => {
                format!("{} event={event} service={service}", self.message).into()
            }
        }
    }
}

thread_local! {
    /// Set by `about_service` while its closure logs.
    static ABOUT: RefCell<Option<Arc<str>>> = const { RefCell::new(None) };
    /// This thread's name as its lines show it, made on its first line.
    static THREAD_NAME: Arc<str> = match std::thread::current().name() {
        Some("main") | None => "MainThread".into(),
        Some(name) => name.into(),
    };
}

/// Runs `log` (an `event!`) with `service` as the service the event is about, for
/// events one thread logs about another's service.
pub fn about_service<T>(service: &str, log: impl FnOnce() -> T) -> T {
    ABOUT.with(|about| *about.borrow_mut() = Some(service.into()));
    let result = log();
    ABOUT.with(|about| *about.borrow_mut() = None);
    result
}

enum LogMessage {
    LogLine(LogLine),
    Reconfigure(Box<Sinks>),
    Flush(Sender<()>),
}

struct Logger {
    tx: Sender<LogMessage>,
    dropped: AtomicU64,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Lines dropped so far (queue full or a destination failed).
pub fn dropped_lines() -> u64 {
    LOGGER.get().map_or(0, |l| l.dropped.load(Ordering::Relaxed))
}

fn count_dropped() {
    count_dropped_lines(1);
}

fn count_dropped_lines(lines: u64) {
    if let Some(logger) = LOGGER.get() {
        logger.dropped.fetch_add(lines, Ordering::Relaxed);
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
            let _ = logger.tx.send(LogMessage::Reconfigure(Box::new(sinks)));
        }
        None => {
            let (tx, rx) = crossbeam_channel::unbounded();
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
        if logger.tx.send_timeout(LogMessage::Flush(tx), patience).is_ok() {
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
        // Nothing here allocates but a message with arguments: a thousand services
        // log about four thousand lines a second.
        let event = catalog::by_target(record.target());
        let service = SERVICE.with(|s| s.borrow().clone());
        let thread_name = THREAD_NAME.with(Arc::clone);
        let about = event.and_then(|_| {
            ABOUT
                .with(|about| about.borrow().clone())
                .or_else(|| service.as_ref().map(|_| Arc::clone(&thread_name)))
        });
        let message = match record.args().as_str() {
            Some(text) => Cow::Borrowed(text),
            None => {
                // Room for a usual line at once, where `to_string` guesses and grows.
                let mut text = String::with_capacity(MESSAGE_CAPACITY);
                let _ = text.write_fmt(*record.args());
                Cow::Owned(text)
            }
        };
        let line = LogLine {
            time: LocalTime::now(),
            level: LineSeverity::of(record, event),
            thread: thread_name,
            message,
            service,
            event: event.map(catalog::AlertEntry::name),
            about,
        };
        // Several threads may pass this test at once: the bound is QUEUE plus at most
        // one line per thread.
        if self.tx.len() >= QUEUE || self.tx.send(LogMessage::LogLine(line)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn flush(&self) {}
}

/// Writes lines as they come, in batches: after draining the queue the thread pauses
/// a few milliseconds, so that a thousand services logging every second wake it a few
/// hundred times, not thousands (each wake-up of a channel receiver spins first).
fn run(mut sinks: Sinks, rx: &Receiver<LogMessage>) {
    let mut reported = 0;
    while let Ok(first) = rx.recv() {
        for message in std::iter::once(first).chain(rx.try_iter()) {
            match message {
                LogMessage::LogLine(line) => sinks.write(&line),
                LogMessage::Reconfigure(new) => sinks = *new,
                LogMessage::Flush(done) => {
                    sinks.flush();
                    let _ = done.send(());
                }
            }
        }
        sinks.flush();
        // Lines were lost (a destination failed, or the queue was full) and the
        // destinations work again: say how many, once.
        let dropped = dropped_lines();
        if dropped > reported && sinks.healthy {
            sinks.write(&dropped_report(dropped - reported));
            if sinks.healthy {
                reported = dropped;
            }
        }
        std::thread::sleep(BATCH_PAUSE);
    }
}

/// The catalog's `log_lines_dropped` event, written by the logging thread itself.
fn dropped_report(count: u64) -> LogLine {
    LogLine {
        time: LocalTime::now(),
        level: LineSeverity::Warning,
        thread: "MainThread".into(),
        message: Cow::Owned(format!(
            "{count} log lines were dropped while a log destination failed or was too slow; \
             anycast_healthchecker_log_lines_dropped_total counts them"
        )),
        service: None,
        event: Some(catalog::Alert::LogLinesDropped.entry().name()),
        about: None,
    }
}

/// Where lines go, opened from the settings.
struct Sinks {
    name_width: usize,
    console: Option<Format>,
    file: Option<(RotatingFile, Format)>,
    server: Option<(syslog::Logger<syslog::LoggerBackend, Upstream3164>, Format)>,
    local_syslog: Option<LocalSyslog>,
    journald: Option<Journald>,
    /// Console lines start with their syslog priority: stderr is the journal.
    console_priority: bool,
    /// Every destination took the last line: lines dropped before can be reported.
    healthy: bool,
    /// The line being written, rendered; reused.
    scratch: String,
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
                let format = Upstream3164 { facility: settings.server_facility };
                let logger = syslogd::udp_logger(format, host, settings.server_port).map_err(|err| {
                    format!("failed to set up syslog server {host}:{}: {err}", settings.server_port)
                })?;
                Some((logger, pick(settings.json_log_server)))
            }
            None => None,
        };
        let local_syslog = if settings.syslog {
            Some(
                LocalSyslog::open(settings.syslog_socket.clone(), settings.syslog_facility)
                    .map_err(|err| format!("failed to open a socket for the local syslog: {err}"))?,
            )
        } else {
            None
        };
        let journald = if settings.journald {
            Some(
                Journald::open(settings.journald_socket.clone(), settings.syslog_facility)
                    .map_err(|err| format!("failed to open a socket for journald: {err}"))?,
            )
        } else {
            None
        };
        let console = if file.is_none() && server.is_none() && local_syslog.is_none() && journald.is_none() {
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
        Ok(Sinks {
            name_width,
            console,
            file,
            server,
            local_syslog,
            journald,
            console_priority: stderr_is_journal(),
            healthy: true,
            scratch: String::new(),
        })
    }

    /// Writes `line` everywhere; a destination that fails loses it (counted once).
    fn write(&mut self, line: &LogLine) {
        let mut ok = true;
        let text = &mut self.scratch;
        if let Some(format) = self.console {
            render_into(text, line, format, self.name_width);
            if self.console_priority && format != Format::Journald {
                text.insert_str(0, &journald::priority_prefix(line.level));
            }
            text.push('\n');
            ok &= std::io::stderr().lock().write_all(text.as_bytes()).is_ok();
        }
        if let Some((file, format)) = &mut self.file {
            render_into(text, line, *format, self.name_width);
            if let Err(lost) = file.write_line(text) {
                // The line itself is counted below.
                count_dropped_lines(lost - 1);
                ok = false;
            }
        }
        if let Some((server, format)) = &mut self.server {
            render_into(text, line, *format, self.name_width);
            ok &= send(server, line.level, text.clone()).is_ok();
        }
        if let Some(local) = &self.local_syslog {
            let text = format!("{} {}", line.thread, line.tagged_message());
            ok &= local.send(line.level, &text).is_ok();
        }
        if let Some(journald) = &self.journald {
            ok &= journald.send(line).is_ok();
        }
        if !ok {
            count_dropped();
        }
        self.healthy = ok;
    }

    /// Ends a batch: the file's kept lines are written (lost ones counted).
    fn flush(&mut self) {
        if let Some((file, _)) = &mut self.file {
            if let Err(lost) = file.flush() {
                count_dropped_lines(lost);
                self.healthy = false;
            }
        }
        let _ = std::io::stderr().flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_beyond_the_queue_are_dropped_and_counted_not_queued() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let logger = Logger { tx, dropped: AtomicU64::new(0) };
        log::set_max_level(log::LevelFilter::Info);
        for n in 0..QUEUE + 10 {
            log::Log::log(
                &logger,
                &log::Record::builder().level(log::Level::Info).args(format_args!("{n}")).build(),
            );
        }
        assert_eq!(rx.len(), QUEUE);
        assert_eq!(logger.dropped.load(Ordering::Relaxed), 10);
        let Ok(LogMessage::LogLine(first)) = rx.try_recv() else { panic!("a line first") };
        assert_eq!(first.message, "0", "the oldest lines are kept");
        log::Log::log(
            &logger,
            &log::Record::builder().level(log::Level::Info).args(format_args!("again")).build(),
        );
        assert_eq!(rx.len(), QUEUE, "room made by the writer is used again");
    }
}
