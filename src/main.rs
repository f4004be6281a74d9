//! The `anycast-healthchecker` command: flags to an action, and any error to one line
//! on stderr and exit status 1.

use std::io::Write;
use std::process::ExitCode;

use anycast_healthchecker::cli::{self, Action};
use anycast_healthchecker::config::{self, Loaded, Sources};
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
            load(&sources)?;
            print("OK\n")
        }
        Action::PrintConf(sources) => {
            let loaded = load(&sources)?;
            let text = loaded.config.print_conf().map_err(|e| e.to_string())?;
            print(&text)
        }
        Action::Status(sources) => {
            // Nagios: a configuration we cannot read is UNKNOWN (3).
            let loaded = match config::load(&sources) {
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
            let loaded = load(&sources)?;
            if daemon::run(sources, loaded.config) {
                Ok(())
            } else {
                // The daemon has logged why.
                std::process::exit(1)
            }
        }
    }
}

/// Loads the configuration; warnings go to stderr, one line each.
fn load(sources: &Sources) -> Result<Loaded, String> {
    let loaded = config::load(sources).map_err(|e| e.to_string())?;
    for warning in &loaded.warnings {
        eprintln!("{PROGRAM}: warning: {warning}");
    }
    Ok(loaded)
}

/// Prints `text`; a closed stdout is an error, not a panic.
fn print(text: &str) -> Result<(), String> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("cannot write to stdout: {e}"))
}
