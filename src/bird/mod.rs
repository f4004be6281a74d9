//! Everything that touches Bird: the prefix file it includes.

pub mod file;
