//! The `log` backend. Each line names the thread that logged it, which for a service
//! thread is the service's section name, as upstream does:
//!
//! `2026-11-24 12:16:02,731 anycast-healthchecker[4136] INFO     web  status changed to UP`
//!
//! For now lines go to stderr, which is upstream's console destination.

use std::io::Write;
use std::sync::OnceLock;

use crate::config::LogLevel;
use crate::localtime::LocalTime;
use crate::PROGRAM;

struct Logger {
    level: log::LevelFilter,
    /// Width of the thread-name column: the longest section name plus one.
    name_width: usize,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Upstream's level names map onto `log`'s; CRITICAL is logged as ERROR.
pub fn level_filter(level: LogLevel) -> log::LevelFilter {
    match level {
        LogLevel::NotSet | LogLevel::Debug => log::LevelFilter::Debug,
        LogLevel::Info => log::LevelFilter::Info,
        LogLevel::Warning => log::LevelFilter::Warn,
        LogLevel::Error | LogLevel::Critical => log::LevelFilter::Error,
    }
}

/// Installs the logger once; later calls only change the level (a reload).
pub fn init(level: LogLevel, section_names: &[&str]) {
    let name_width = section_names.iter().map(|n| n.len()).max().unwrap_or(0).max("MainThread".len()) + 1;
    let filter = level_filter(level);
    if LOGGER.set(Logger { level: log::LevelFilter::Trace, name_width }).is_ok() {
        if let Some(logger) = LOGGER.get() {
            let _ = log::set_logger(logger);
        }
    }
    log::set_max_level(filter);
}

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let now = LocalTime::now();
        let thread = std::thread::current();
        let name = match thread.name() {
            Some("main") | None => "MainThread",
            Some(name) => name,
        };
        let level = match record.level() {
            log::Level::Error => "ERROR",
            log::Level::Warn => "WARNING",
            log::Level::Info => "INFO",
            log::Level::Debug | log::Level::Trace => "DEBUG",
        };
        let line = format!(
            "{now},{:03} {PROGRAM}[{}] {level:<8} {name:<width$} {}\n",
            now.micros / 1000,
            std::process::id(),
            record.args(),
            width = self.name_width
        );
        // One write per line, so lines from threads never interleave; a failed write
        // to stderr is dropped, never fatal.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}
