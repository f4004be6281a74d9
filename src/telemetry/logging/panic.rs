//! Panics are bugs: their message goes to the log, and where upstream sends Python's
//! stderr.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use super::syslogd::Upstream3164;
use crate::config::LogSettings;
use crate::sys::localtime::LocalTime;
use crate::PROGRAM;

/// Panics are bugs; their message goes to the log, and to `stderr_file` and the syslog
/// server when `stderr_file` / `stderr_log_server` ask for it (upstream sends Python's
/// stderr there).
pub(super) fn install_panic_hook(settings: &LogSettings) {
    /// Where a panic's message goes besides the log (they change on a reload).
    #[derive(Clone)]
    struct PanicTargets {
        file: Option<PathBuf>,
        server: Option<(String, u16, u8)>,
    }
    static TARGETS: Mutex<Option<PanicTargets>> = Mutex::new(None);
    let server = if settings.stderr_log_server {
        settings.server.clone().map(|host| (host, settings.server_port, settings.server_facility))
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
            if let Some((host, port, facility)) = server {
                if let Ok(mut logger) = super::syslogd::udp_logger(Upstream3164 { facility }, &host, port) {
                    let _ = logger.crit(line.clone());
                }
            }
        }
        default_hook(info);
    }));
}
