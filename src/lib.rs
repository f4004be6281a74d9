//! anycast-healthchecker: keeps a host's anycast routes honest. For each service it runs
//! a health check, and only while the check passes is the service's prefix listed in a
//! Bird include file, with Bird told to reconfigure.
//!
//! The binary (`main.rs`) is a thin CLI over these modules; the flow between them is
//! described in README.rst.

//!
//! The library's API is what the binary and the integration tests use: the CLI, the
//! configuration, the daemon and `--status`, prefixes and the Bird file and control
//! protocol, and the native probes (whose parsers the fuzz tests drive). The rest is
//! `pub(crate)`.

pub mod allocator;
pub(crate) mod argv;
pub(crate) mod atomic;
pub mod bird;
pub mod catalog;
pub mod cli;
pub(crate) mod command;
pub mod config;
pub mod daemon;
pub(crate) mod fixed;
pub(crate) mod health;
pub(crate) mod localtime;
pub(crate) mod logging;
pub(crate) mod metrics;
pub(crate) mod netif;
pub mod notify;
pub mod prefix;
pub mod probe;
pub(crate) mod schedule;
pub(crate) mod scrape;
pub(crate) mod service;
pub(crate) mod signal_name;
pub(crate) mod spawn;
pub mod status;
pub(crate) mod timer_slack;

/// The program name, used in messages and the Bird file header.
pub const PROGRAM: &str = "anycast-healthchecker";
