//! The integration tests, as one test binary: each file beside this one is a module,
//! and `common/` is their shared helpers, compiled once. Run one file's tests with
//! `cargo test --test integration bird_e2e::` (or any part of a test's name).

mod common;

mod bird_e2e;
mod client_lab;
mod config_errors;
mod config_print;
mod daemon_batching;
mod daemon_crash;
mod daemon_processes;
mod daemon_signals;
mod daemon_transitions;
mod damping;
mod dead_threads;
mod degrade_and_drain;
mod demo_lab;
mod differential;
mod events;
mod faults;
mod fuzz;
mod house_rules;
mod logrotate;
mod maintenance;
mod missing_programs;
mod operations;
mod probe_dns;
mod probe_http;
mod probe_tcp;
mod prometheus_rules;
mod prometheus_scrape;
mod quickstart;
mod quiet_logs;
mod readme_quickstart;
mod rsyslog;
mod unit_check;
mod writer_storm;
