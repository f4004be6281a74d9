//! anycast-healthchecker: keeps a host's anycast routes honest. For each service it runs
//! a health check, and only while the check passes is the service's prefix listed in a
//! Bird include file, with Bird told to reconfigure.
//!
//! The binary (`main.rs`) is a thin CLI over these modules; the flow between them is
//! described in README.rst.

pub mod argv;
pub mod atomic;
pub mod bird;
pub mod cli;
pub mod command;
pub mod config;
pub mod daemon;
pub mod health;
pub mod localtime;
pub mod logging;
pub mod metrics;
pub mod netif;
pub mod notify;
pub mod prefix;
pub mod schedule;
pub mod service;
pub mod signal_name;
pub mod status;

/// The program name, used in messages and the Bird file header.
pub const PROGRAM: &str = "anycast-healthchecker";
