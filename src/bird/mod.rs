//! Everything that touches Bird: the prefix file it includes, how that file is stored,
//! how Bird is told to reload it, and the one thread that does all of it.

pub mod control;
pub mod file;
pub(crate) mod plan;
pub(crate) mod reconfigure;
pub(crate) mod store;
mod wake;
mod worker;
pub(crate) mod writer;

pub(crate) use plan::{Action, CustomCommand, Routing, ServiceEvent, ServiceRoutes};
pub(crate) use writer::{EventSender, Writer};
