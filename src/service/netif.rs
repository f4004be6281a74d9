//! Is a service's address on its interface? Read with `getifaddrs(3)` (netlink inside
//! the C library), so no `ip` process is forked per check as upstream does.
//!
//! The address counts as assigned when it is on the interface, whatever the mask
//! (upstream needs the exact prefix length, so `127.0.0.1/32` is "missing" on a `lo`
//! that has `127.0.0.1/8`). A missing interface counts as **not** assigned: upstream fails
//! open there, which would advertise a service whose interface is gone.
//!
//! One snapshot of all interfaces and addresses serves every service thread for
//! [`MAX_AGE`]: a thousand services checking in the same second cost one dump of the
//! kernel's address table, not a thousand (each of which would list every address).

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::sys::os;

/// How old a snapshot may be before it is taken again.
const MAX_AGE: Duration = Duration::from_millis(100);

/// The answer for one address and interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignment {
    Assigned,
    NotAssigned,
    NoSuchInterface,
    /// The addresses could not be read; the error says why.
    Unknown(String),
}

/// Every interface (by name, alias labels folded into their base) and its addresses.
#[derive(Debug, Default)]
struct Snapshot {
    interfaces: HashSet<String>,
    addresses: HashMap<String, Vec<IpAddr>>,
}

/// Whether `addr` is configured on the interface named `interface`.
pub fn assignment(interface: &str, addr: IpAddr) -> Assignment {
    let snapshot = match snapshot() {
        Ok(snapshot) => snapshot,
        Err(err) => return Assignment::Unknown(err.to_string()),
    };
    if !snapshot.interfaces.contains(interface) {
        return Assignment::NoSuchInterface;
    }
    match snapshot.addresses.get(interface) {
        Some(addresses) if addresses.contains(&addr) => Assignment::Assigned,
        _ => Assignment::NotAssigned,
    }
}

/// The current snapshot, taken anew when it is older than [`MAX_AGE`].
fn snapshot() -> io::Result<Arc<Snapshot>> {
    static CACHE: Mutex<Cache> = Mutex::new(Cache { entry: None });
    let mut cache = CACHE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    cache.get(Instant::now(), read_interfaces)
}

/// The last snapshot and when it was taken.
struct Cache {
    entry: Option<(Instant, Arc<Snapshot>)>,
}

impl Cache {
    /// The snapshot as of `now`: the cached one while younger than [`MAX_AGE`], else
    /// a new one from `read`.
    fn get(
        &mut self,
        now: Instant,
        read: impl FnOnce() -> io::Result<Snapshot>,
    ) -> io::Result<Arc<Snapshot>> {
        if let Some((taken, snapshot)) = &self.entry {
            if now.saturating_duration_since(*taken) < MAX_AGE {
                return Ok(Arc::clone(snapshot));
            }
        }
        let snapshot = Arc::new(read()?);
        self.entry = Some((now, Arc::clone(&snapshot)));
        Ok(snapshot)
    }
}

fn read_interfaces() -> io::Result<Snapshot> {
    let mut snapshot = Snapshot::default();
    for found in os::interface_addresses()? {
        // Alias labels (`lo:1`) are addresses of the base interface.
        let base = found.name.split(':').next().unwrap_or_default().to_string();
        snapshot.interfaces.insert(base.clone());
        if let Some(address) = found.address {
            snapshot.addresses.entry(base).or_default().push(address);
        }
    }
    Ok(snapshot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_has_127_0_0_1_whatever_the_mask() {
        assert_eq!(assignment("lo", "127.0.0.1".parse().unwrap()), Assignment::Assigned);
    }

    #[test]
    fn an_address_elsewhere_is_not_assigned() {
        assert_eq!(assignment("lo", "192.0.2.77".parse().unwrap()), Assignment::NotAssigned);
    }

    #[test]
    fn a_missing_interface_is_reported() {
        assert_eq!(assignment("nosuchif0", "127.0.0.1".parse().unwrap()), Assignment::NoSuchInterface);
    }

    #[test]
    fn snapshots_are_shared_while_fresh_and_taken_anew_when_old() {
        let mut cache = Cache { entry: None };
        let reads = std::cell::Cell::new(0);
        let read = || {
            reads.set(reads.get() + 1);
            read_interfaces()
        };
        let start = Instant::now();
        let first = cache.get(start, read).unwrap();
        let fresh = cache.get(start + MAX_AGE / 2, read).unwrap();
        assert!(Arc::ptr_eq(&first, &fresh), "a fresh snapshot is shared");
        assert_eq!(reads.get(), 1);
        let stale = cache.get(start + MAX_AGE, read).unwrap();
        assert!(!Arc::ptr_eq(&first, &stale), "an old snapshot is taken anew");
        assert_eq!(reads.get(), 2);
        assert!(stale.interfaces.contains("lo"));
    }
}
