//! The `anycast-healthchecker` command: flags to a mode, and any error to one line
//! on stderr and exit status 1.

use std::io::Write;
use std::process::ExitCode;

use anycast_healthchecker::cli::{self, stderr_line, Gravity, Mode};
use anycast_healthchecker::config::{self, Loaded, Programs, Sources};
use anycast_healthchecker::daemon::{self, status};
use anycast_healthchecker::PROGRAM;

fn main() -> ExitCode {
    let mode = match cli::parse(std::env::args_os().skip(1)) {
        Ok(mode) => mode,
        Err(message) => {
            eprintln!("{}\n{}", stderr_line(Gravity::Error, &message), cli::USAGE);
            return ExitCode::FAILURE;
        }
    };
    // Before any thread, and for the daemon only: it may start itself again with
    // glibc's per-thread cache off, with the environment it was given.
    if let Mode::Run(_) = mode {
        anycast_healthchecker::sys::allocator::start_without_thread_cache();
    }
    anycast_healthchecker::sys::allocator::limit_arenas();
    // Before any thread: systemd's variables leave the environment (no check inherits
    // them); the notifier keeps their values.
    anycast_healthchecker::daemon::systemd::take_from_environment();
    match run(mode) {
        Ok(()) => ExitCode::SUCCESS,
        Err(RunFailure::Message(message)) => {
            eprintln!("{}", stderr_line(Gravity::Error, &message));
            ExitCode::FAILURE
        }
        Err(RunFailure::Logged) => ExitCode::FAILURE,
        Err(RunFailure::Status(severity)) => ExitCode::from(severity as u8),
    }
}

/// How a run ends when it does not succeed: the one exit path of the program.
enum RunFailure {
    /// One line for stderr, exit 1.
    Message(String),
    /// The daemon has logged why; exit 1.
    Logged,
    /// `--status` printed its line; the Nagios code is the exit status.
    Status(status::NagiosCode),
}

impl From<String> for RunFailure {
    fn from(message: String) -> RunFailure {
        RunFailure::Message(message)
    }
}

fn run(mode: Mode) -> Result<(), RunFailure> {
    match mode {
        Mode::Help => print(&format!("{}\n", cli::HELP)),
        Mode::Version => print(concat!(env!("CARGO_PKG_VERSION"), "\n")),
        Mode::PrintDefaults => print(&config::print_defaults()),
        Mode::Check(sources) => {
            load(&sources, Programs::MustExist)?;
            print("OK\n")
        }
        Mode::PrintConf(sources) => {
            let loaded = load(&sources, Programs::MustExist)?;
            let text = loaded.print_conf().map_err(|e| e.to_string())?;
            print(&text)
        }
        Mode::Status(sources, prefix) => {
            // What the running daemon published counts; a config broken on disk since
            // is said too (a reload would be refused), as a WARNING at least.
            let (pidfile, broken) = match config::load(&sources, Programs::MayBeMissing) {
                Ok(loaded) => (loaded.config.daemon.pidfile, None),
                Err(rejected) => match config::pidfile_hint(&sources) {
                    Some(pidfile) => (pidfile, Some(rejected.error)),
                    None => {
                        // Nagios: a configuration we cannot read is UNKNOWN (3).
                        println!("UNKNOWN: {}", rejected.error);
                        return Err(RunFailure::Status(status::NagiosCode::Unknown));
                    }
                },
            };
            let (mut severity, mut text) = status::check(&pidfile, prefix.as_ref());
            if let Some(error) = broken {
                severity = severity.max(status::NagiosCode::Warning);
                // On the first line, with the verdict; the services' lines follow.
                let end = text.find('\n').unwrap_or(text.len());
                text.insert_str(end, &format!("; on-disk config invalid: {error}"));
            }
            println!("{}: {PROGRAM} {text}", severity.word());
            match severity {
                status::NagiosCode::Ok => Ok(()),
                other => Err(RunFailure::Status(other)),
            }
        }
        Mode::Run(sources) => {
            // Only what makes every part wrong stops the start; a missing program fails
            // just the part that runs it (see config::Programs).
            let loaded = load(&sources, Programs::MayBeMissing)?;
            // The daemon has logged why it failed.
            daemon::run(sources, loaded.into_config()).map_err(|_| RunFailure::Logged)
        }
    }
}

/// Loads the configuration; warnings go to stderr, one line each, also when there is
/// an error (a typo'd key often explains it).
fn load(sources: &Sources, programs: Programs) -> Result<Loaded, String> {
    let warn = |warnings: &[String]| {
        for warning in warnings {
            eprintln!("{}", stderr_line(Gravity::Warning, warning));
        }
    };
    match config::load(sources, programs) {
        Ok(loaded) => {
            warn(&loaded.warnings);
            Ok(loaded)
        }
        Err(rejected) => {
            warn(&rejected.warnings);
            Err(rejected.error.to_string())
        }
    }
}

/// Prints `text`; a closed stdout is an error, not a panic.
fn print(text: &str) -> Result<(), RunFailure> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| RunFailure::Message(format!("cannot write to stdout: {e}")))
}
