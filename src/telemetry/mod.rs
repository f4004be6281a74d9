//! What the daemon tells people: the event catalog (the `event=` tokens alerting keys
//! on), the log destinations and formats, the metrics file and the `/metrics`
//! listener.

pub mod catalog;
pub(crate) mod logging;
pub(crate) mod metrics;
pub(crate) mod metrics_server;
