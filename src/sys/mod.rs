//! The operating system, behind small safe functions: starting and reaping checks'
//! processes, replacing a file whole, the allocator, timer slack, local time, signal
//! names, duration formatting, and the tests' fault hook. Nothing here knows about
//! services or Bird.

pub mod allocator;
pub(crate) mod argv;
pub(crate) mod atomic_file;
pub(crate) mod command;
pub(crate) mod duration_fmt;
pub(crate) mod localtime;
pub(crate) mod os;
pub(crate) mod signal_name;
pub(crate) mod spawn;
pub(crate) mod test_fault;
pub(crate) mod timer_slack;

/// `line`'s words as upstream's `shlex.split` gives them, or why it cannot be split.
/// Only for the differential tests against Python (tests/differential.rs); commands
/// are read through `argv::Argv`.
#[doc(hidden)]
pub fn shlex_words(line: &str) -> Result<Vec<String>, String> {
    argv::split(line).map_err(|err| err.to_string())
}
