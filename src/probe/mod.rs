//! Native probes: checks that run inside the service thread, with no process to fork.
//! Each returns whether the service answered, and why not in one line.

pub mod tcp;
