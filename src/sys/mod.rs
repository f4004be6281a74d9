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
