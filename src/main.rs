//! The `anycast-healthchecker` command: flags to an action, and any error to one line
//! on stderr and exit status 1.

use std::io::Write;
use std::process::ExitCode;

use anycast_healthchecker::cli::{self, Action};
use anycast_healthchecker::config::{self, Loaded, Programs, Sources};
use anycast_healthchecker::PROGRAM;
use anycast_healthchecker::{daemon, status};

fn main() -> ExitCode {
    let action = match cli::parse(std::env::args_os().skip(1)) {
        Ok(action) => action,
        Err(message) => {
            eprintln!("{PROGRAM}: {message}\n{}", cli::USAGE);
            return ExitCode::FAILURE;
        }
    };
    match run(action) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{PROGRAM}: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(action: Action) -> Result<(), String> {
    match action {
        Action::Help => print(&format!("{}\n", cli::HELP)),
        Action::Version => print(concat!(env!("CARGO_PKG_VERSION"), "\n")),
        Action::PrintDefaults => print(&config::print_defaults()),
        Action::Check(sources) => {
            load(&sources, Programs::MustExist)?;
            print("OK\n")
        }
        Action::PrintConf(sources) => {
            let loaded = load(&sources, Programs::MustExist)?;
            let text = loaded.config.print_conf().map_err(|e| e.to_string())?;
            print(&text)
        }
        Action::Status(sources) => {
            // Nagios: a configuration we cannot read is UNKNOWN (3).
            let loaded = match config::load(&sources, Programs::MayBeMissing) {
                Ok(loaded) => loaded,
                Err(err) => {
                    println!("UNKNOWN: {err}");
                    std::process::exit(status::Verdict::Unknown as i32);
                }
            };
            let (verdict, text) = status::check(&loaded.config.daemon.pidfile);
            let word = match verdict {
                status::Verdict::Ok => "OK",
                status::Verdict::Warning => "WARNING",
                status::Verdict::Critical => "CRITICAL",
                status::Verdict::Unknown => "UNKNOWN",
            };
            println!("{word}: {PROGRAM} {text}");
            std::process::exit(verdict as i32)
        }
        Action::Run(sources) => {
            // Only what makes every part wrong stops the start; a missing program fails
            // just the part that runs it (see config::Programs).
            let loaded = load(&sources, Programs::MayBeMissing)?;
            if daemon::run(sources, loaded.config) {
                Ok(())
            } else {
                // The daemon has logged why.
                std::process::exit(1)
            }
        }
    }
}

/// Loads the configuration; warnings go to stderr, one line each, also when there is
/// an error (a typo'd key often explains it).
fn load(sources: &Sources, programs: Programs) -> Result<Loaded, String> {
    let warn = |warnings: &[String]| {
        for warning in warnings {
            eprintln!("{PROGRAM}: warning: {warning}");
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
fn print(text: &str) -> Result<(), String> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("cannot write to stdout: {e}"))
}
