//! Command-line flags, as upstream's docopt usage defines them.

use std::path::PathBuf;

use crate::config::prefix::IpPrefix;
use crate::config::{ServiceSource, Sources};

pub const USAGE: &str = "Usage:
    anycast-healthchecker [ -f <file> -c -p -P ] [ -d <directory> | -F <file> ]
    anycast-healthchecker [ -f <file> ] --status [ <prefix> ] [ -d <directory> | -F <file> ]";

pub const HELP: &str = "A simple healthchecker for Anycasted services.

Usage:
    anycast-healthchecker [ -f <file> -c -p -P ] [ -d <directory> | -F <file> ]
    anycast-healthchecker [ -f <file> ] --status [ <prefix> ] [ -d <directory> | -F <file> ]

Options:
    -f, --file=<file>          read settings from <file>
                               [default: /etc/anycast-healthchecker.conf]
    -d, --dir=<dir>            read settings for service checks from files
                               under <dir> directory
                               [default: /etc/anycast-healthchecker.d]
    -F, --service-file=<file>  read <file> for settings of a single service
                               check
    -c, --check                perform a sanity check on configuration
    -p, --print                show default settings for anycast-healthchecker
                               and service checks
    -P, --print-conf           show running configuration with default settings
                               applied
    --status                   check a running daemon (Nagios exit codes); with
                               <prefix> (or an address), only the services
                               that announce or withhold it, and why
    -v, --version              show version
    -h, --help                 show this screen";

/// How bad a line on stderr is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gravity {
    Error,
    Warning,
}

/// A line for stderr: `anycast-healthchecker: [warning: ]MESSAGE`. When stderr is the
/// journal (`-c` run by the unit's `ExecReload`) it starts with its syslog priority, so
/// `journalctl -p err` shows a rejected configuration as an error.
pub fn stderr_line(gravity: Gravity, message: &str) -> String {
    stderr_line_to(gravity, message, crate::telemetry::logging::stderr_is_journal())
}

fn stderr_line_to(gravity: Gravity, message: &str, journal: bool) -> String {
    let (priority, word) = match gravity {
        Gravity::Error => ("<3>", ""),
        Gravity::Warning => ("<4>", "warning: "),
    };
    let priority = if journal { priority } else { "" };
    format!("{priority}{}: {word}{message}", crate::PROGRAM)
}

const DEFAULT_FILE: &str = "/etc/anycast-healthchecker.conf";
const DEFAULT_DIR: &str = "/etc/anycast-healthchecker.d";

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Help,
    Version,
    PrintDefaults,
    Check(Sources),
    PrintConf(Sources),
    /// `--status`, for every service or only those covering a prefix.
    Status(Sources, Option<IpPrefix>),
    Run(Sources),
}

/// Parses the arguments after the program name. An error is a usage error.
pub fn parse(args: impl IntoIterator<Item = std::ffi::OsString>) -> Result<Mode, String> {
    use lexopt::prelude::*;

    let mut parser = lexopt::Parser::from_args(args);
    let mut file = None;
    let mut dir = None;
    let mut service_file = None;
    let (mut check, mut print, mut print_conf, mut version, mut help) = (false, false, false, false, false);
    let mut status = false;
    let mut positional = Vec::new();
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Short('f') | Long("file") => file = Some(path_value(&mut parser)?),
            Short('d') | Long("dir") => dir = Some(path_value(&mut parser)?),
            Short('F') | Long("service-file") => service_file = Some(path_value(&mut parser)?),
            Short('c') | Long("check") => check = true,
            Short('p') | Long("print") => print = true,
            Short('P') | Long("print-conf") => print_conf = true,
            Long("status") => status = true,
            Short('v') | Long("version") => version = true,
            Short('h') | Long("help") => help = true,
            Value(value) => positional.push(value),
            other => return Err(other.unexpected().to_string()),
        }
    }
    if help {
        return Ok(Mode::Help);
    }
    let prefix = match (status, &positional[..]) {
        (_, []) => None,
        (true, [value]) => {
            let text = value.to_string_lossy();
            Some(text.parse::<IpPrefix>().map_err(|why| format!("--status {text}: {why}"))?)
        }
        (_, [first, ..]) => return Err(format!("unexpected argument {:?}", first.to_string_lossy())),
    };
    if version {
        return Ok(Mode::Version);
    }
    let services = match (dir, service_file) {
        (Some(_), Some(_)) => return Err("-d/--dir and -F/--service-file exclude each other".into()),
        (None, Some(file)) => ServiceSource::File(file),
        (dir, None) => ServiceSource::Dir(dir.unwrap_or_else(|| PathBuf::from(DEFAULT_DIR))),
    };
    let sources = Sources { main: file.unwrap_or_else(|| PathBuf::from(DEFAULT_FILE)), services };
    Ok(if print {
        Mode::PrintDefaults
    } else if status {
        Mode::Status(sources, prefix)
    } else if check {
        Mode::Check(sources)
    } else if print_conf {
        Mode::PrintConf(sources)
    } else {
        Mode::Run(sources)
    })
}

fn path_value(parser: &mut lexopt::Parser) -> Result<PathBuf, String> {
    let value = parser.value().map_err(|e| e.to_string())?;
    if value.is_empty() {
        return Err("an empty path was given".into());
    }
    Ok(PathBuf::from(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(args: &[&str]) -> Result<Mode, String> {
        parse(args.iter().map(std::ffi::OsString::from))
    }

    fn sources(main: &str, services: ServiceSource) -> Sources {
        Sources { main: main.into(), services }
    }

    #[test]
    fn defaults_match_upstream() {
        let expected = sources(DEFAULT_FILE, ServiceSource::Dir(DEFAULT_DIR.into()));
        assert_eq!(action(&[]), Ok(Mode::Run(expected)));
    }

    #[test]
    fn short_long_and_attached_values() {
        let expected = sources("a.conf", ServiceSource::File("s.conf".into()));
        assert_eq!(action(&["-f", "a.conf", "-F", "s.conf", "-c"]), Ok(Mode::Check(expected.clone())));
        assert_eq!(
            action(&["--file=a.conf", "--service-file", "s.conf", "--check"]),
            Ok(Mode::Check(expected.clone()))
        );
        assert_eq!(action(&["-fa.conf", "-Fs.conf", "-P"]), Ok(Mode::PrintConf(expected)));
    }

    #[test]
    fn mode_precedence() {
        assert_eq!(action(&["-c", "-P"]).map(|a| matches!(a, Mode::Check(_))), Ok(true));
        assert_eq!(action(&["-c", "-p"]), Ok(Mode::PrintDefaults));
        assert_eq!(action(&["-p", "-v"]), Ok(Mode::Version));
        assert_eq!(action(&["-v", "-h"]), Ok(Mode::Help));
    }

    #[test]
    fn stderr_lines_carry_a_priority_only_into_the_journal() {
        assert_eq!(
            stderr_line_to(Gravity::Error, "m.conf: bad", false),
            "anycast-healthchecker: m.conf: bad"
        );
        assert_eq!(
            stderr_line_to(Gravity::Error, "m.conf: bad", true),
            "<3>anycast-healthchecker: m.conf: bad"
        );
        assert_eq!(
            stderr_line_to(Gravity::Warning, "unknown key", true),
            "<4>anycast-healthchecker: warning: unknown key"
        );
    }

    #[test]
    fn status_takes_one_prefix_or_address() {
        let prefix = |text: &str| text.parse::<IpPrefix>().ok();
        assert!(matches!(action(&["--status"]), Ok(Mode::Status(_, None))));
        assert_eq!(
            action(&["--status", "10.52.12.1"])
                .map(|m| matches!(m, Mode::Status(_, p) if p == prefix("10.52.12.1/32"))),
            Ok(true)
        );
        assert!(matches!(action(&["-f", "a.conf", "--status", "fd00::/64"]), Ok(Mode::Status(_, Some(_)))));
        assert!(action(&["--status", "10.52.12.1/24"]).unwrap_err().contains("host bits"));
        assert!(action(&["--status", "a", "b"]).is_err());
        assert!(action(&["-c", "10.52.12.1"]).is_err());
    }

    #[test]
    fn usage_errors() {
        assert!(action(&["-d", "x", "-F", "y"]).unwrap_err().contains("exclude"));
        assert!(action(&["-x"]).is_err());
        assert!(action(&["stray"]).is_err());
        assert!(action(&["-f"]).is_err());
    }
}
