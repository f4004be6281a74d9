//! anycast-healthchecker: keeps a host's anycast routes honest. For each service it runs
//! a health check, and only while the check passes is the service's prefix listed in a
//! Bird include file, with Bird told to reconfigure.
//!
//! # The flow, and where each step lives
//!
//! ```text
//! cli ─> config ─> daemon ──spawns──> service (one thread each) ──events──> bird (one writer) ─> Bird
//!                    │                   │ check: sys::command or service::probe
//!                    │                   └ decides: service::health
//!                    └ signals: SIGHUP reload, SIGURG check now, SIGTERM stop
//!                               (daemon::reload decides the diff)
//! telemetry: logs, events, metrics from every step        sys: the OS, behind safe calls
//! ```
//!
//! - `config`: reads and validates the files (upstream's keys and defaults), and IP
//!   prefixes.
//! - `daemon`: start-up, the signal loop, reload as a diff, shutdown, the pidfile,
//!   systemd's notify protocol and `--status`.
//! - `service`: each service's thread: schedule, check, rise/fail, damping,
//!   maintenance; it sends state changes to the writer.
//! - `bird`: the one writer: plans the prefix files from every service's state, writes
//!   them whole and tells each Bird to reconfigure (birdc or the control socket).
//! - `telemetry`: the event catalog, logging, metrics and the `/metrics` listener.
//! - `sys`: process spawning, file replacement and the other OS calls; the only module
//!   the crate's lints let leave safe Rust (`os.rs` and `spawn/`).
//!
//! The library's API is what the binary and the integration tests use: the CLI, the
//! configuration, the daemon and `--status`, prefixes and the Bird file and control
//! protocol, and the native probes (whose parsers the fuzz tests drive). The rest is
//! `pub(crate)`.

pub mod bird;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod service;
pub mod sys;
pub mod telemetry;

/// The program name, used in messages and the Bird file header.
pub const PROGRAM: &str = "anycast-healthchecker";
