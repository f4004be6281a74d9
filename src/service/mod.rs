//! A service: its own OS thread that waits for the next slot, runs the check and tells
//! the Bird writer when the service's state changes.
//!
//! - `thread`: the loop itself (wait, check, carry out), its control requests (check
//!   now, stop) and what it tells the writer and the operator.
//! - `tracker`: what the thread decides, as values: rise/fail, damping, maintenance,
//!   the next wake-up; pure, table-tested.
//! - `schedule`: when the next check is due (interval, fast interval, splay).
//! - `health`: the rise/fail state machine, flap damping and what a state means for
//!   the prefix file; pure.
//! - `probe`: the native TCP, HTTP(S) and DNS checks (a `check_cmd` is run by
//!   `sys::command`).
//! - `netif`: whether the service's address is on its interface.

pub mod health;
pub(crate) mod netif;
pub mod probe;
pub(crate) mod schedule;
mod thread;
pub(crate) mod tracker;

pub use health::outcome::ServiceStatus;
pub(crate) use thread::{disabled_event, Exit, ServiceThread};
