//! Everything that touches Bird: the prefix file it includes, how that file is stored,
//! how Bird is told to reload it, and the one thread that does all of it.

pub mod control;
pub mod file;
pub mod plan;
pub mod reconfigure;
pub mod store;
mod worker;
pub mod writer;

pub use plan::{Action, CustomCommand, Event, Routing, ServiceRoutes};
pub use writer::{EventSender, Writer};
