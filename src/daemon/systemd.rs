//! systemd's notify protocol, written to `$NOTIFY_SOCKET` directly (a datagram per
//! message; no libsystemd): `READY=1` after the start-up pass, `RELOADING=1` and
//! `READY=1` around a reload, `STOPPING=1`, and `WATCHDOG=1` when `$WATCHDOG_USEC` asks
//! for it. Without systemd (no `$NOTIFY_SOCKET`) every call does nothing.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::OnceLock;
use std::time::Duration;

/// The variables a child must not inherit: only we speak for this service.
const ENVIRONMENT: [&str; 3] = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"];

/// Their values, taken out of the environment at start.
static TAKEN: OnceLock<[Option<String>; 3]> = OnceLock::new();

/// Moves systemd's variables out of the process environment (as sd_notify's
/// `unset_environment` does), so that no check inherits them and each spawn passes
/// the environment as it is, without copying it to drop three names. Call first thing
/// in `main`, before any thread exists (the environment is not safe to change later).
pub fn take_from_environment() {
    let values = ENVIRONMENT.map(|name| std::env::var(name).ok());
    for name in ENVIRONMENT {
        std::env::remove_var(name);
    }
    let _ = TAKEN.set(values);
}

/// A variable as it was at start (from the environment if it was never taken).
fn variable(name: &str) -> Option<String> {
    let index = ENVIRONMENT.iter().position(|known| *known == name)?;
    match TAKEN.get() {
        Some(values) => values[index].clone(),
        None => std::env::var(name).ok(),
    }
}

pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// Reads `$NOTIFY_SOCKET` and `$WATCHDOG_USEC`/`$WATCHDOG_PID`.
    pub fn from_env() -> Notifier {
        let target = variable("NOTIFY_SOCKET").and_then(|path| {
            let address = match path.strip_prefix('@') {
                Some(name) => SocketAddr::from_abstract_name(name.as_bytes()),
                None => SocketAddr::from_pathname(&path),
            };
            match (UnixDatagram::unbound(), address) {
                (Ok(socket), Ok(address)) => Some((socket, address)),
                (Err(err), _) | (_, Err(err)) => {
                    log::error!("cannot notify systemd at {path}: {err}");
                    None
                }
            }
        });
        let for_us =
            variable("WATCHDOG_PID").map_or(true, |pid| pid.trim() == std::process::id().to_string());
        let watchdog = variable("WATCHDOG_USEC")
            .and_then(|usec| usec.trim().parse::<u64>().ok())
            .filter(|usec| *usec > 0 && for_us)
            .map(|usec| Duration::from_micros(usec) / 2);
        Notifier { target, watchdog }
    }

    /// How often to send `WATCHDOG=1` (half the timeout systemd set), if at all.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog
    }

    pub fn ready(&self) {
        self.send("READY=1");
    }

    pub fn reloading(&self) {
        self.send(&format!("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec()));
    }

    pub fn stopping(&self) {
        self.send("STOPPING=1");
    }

    /// Asks systemd for `more` time to stop (a drain), so that it does not kill us
    /// mid-drain at TimeoutStopSec.
    pub fn extend_timeout(&self, more: Duration) {
        self.send(&format!("EXTEND_TIMEOUT_USEC={}", more.as_micros()));
    }

    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }

    pub fn status(&self, text: &str) {
        self.send(&format!("STATUS={text}"));
    }

    fn send(&self, message: &str) {
        if let Some((socket, address)) = &self.target {
            if let Err(err) = socket.send_to_addr(message.as_bytes(), address) {
                log::warn!("failed to notify systemd ({message:?}): {err}");
            }
        }
    }
}

fn monotonic_usec() -> u128 {
    crate::sys::os::monotonic_clock().as_micros()
}
