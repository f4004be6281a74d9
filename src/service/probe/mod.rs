//! Native probes: checks that run inside the service thread, with no process to fork.
//! Each answers whether the service is healthy, and if not why, in one line.

pub mod dns;
pub mod http;
pub mod tcp;
pub mod tls;

pub mod der;
mod net;

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
