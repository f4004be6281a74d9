//! Native probes: checks that run inside the service thread, with no process to fork.
//! Each answers whether the service is healthy, and if not why, in one line.

pub mod dns;
pub mod http;
pub mod tcp;
pub mod tls;

pub mod der;
mod net;

use std::fmt;
use std::time::Duration;

use crate::config::Check;
use crate::sys::argv::Argv;

/// Why a probe found its service unhealthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// One line for the log: "connection to 127.0.0.1:80 refused", "HTTP 503 from ...".
    pub reason: String,
    /// The probe ran out of time (counted as a timeout, like a killed check command).
    pub timed_out: bool,
}

impl Failure {
    pub fn new(reason: impl Into<String>) -> Failure {
        Failure { reason: reason.into(), timed_out: false }
    }

    pub fn timeout(reason: impl Into<String>) -> Failure {
        Failure { reason: reason.into(), timed_out: true }
    }
}

pub type ProbeResult = Result<(), Failure>;

/// How a check runs: in the service's own thread (a native probe), or as a process
/// (`check_cmd`, through `sys::command`).
pub(crate) enum CheckRun<'a> {
    Native(NativeProbe<'a>),
    Command(&'a Argv),
}

impl CheckRun<'_> {
    pub fn of(check: &Check) -> CheckRun<'_> {
        match check {
            Check::Command(argv) => CheckRun::Command(argv),
            Check::Tcp(tcp) => CheckRun::Native(NativeProbe::Tcp(tcp)),
            Check::Http(http) => CheckRun::Native(NativeProbe::Http(http)),
            Check::Dns(dns) => CheckRun::Native(NativeProbe::Dns(dns)),
        }
    }
}

/// A native probe of one kind.
pub(crate) enum NativeProbe<'a> {
    Tcp(&'a tcp::TcpCheck),
    Http(&'a http::HttpCheck),
    Dns(&'a dns::DnsCheck),
}

impl NativeProbe<'_> {
    /// Probes once, within `timeout`.
    pub fn run(&self, timeout: Duration) -> ProbeResult {
        match self {
            NativeProbe::Tcp(check) => tcp::probe(check, timeout),
            NativeProbe::Http(check) => http::probe(check, timeout),
            NativeProbe::Dns(check) => dns::probe(check, timeout),
        }
    }
}

/// What the probe does, for upstream's per-check line ("connecting to TCP 127.0.0.1:80").
impl fmt::Display for NativeProbe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NativeProbe::Tcp(check) => write!(f, "connecting to {check}"),
            NativeProbe::Http(check) => write!(f, "requesting {check}"),
            NativeProbe::Dns(check) => write!(f, "querying {check}"),
        }
    }
}
