//! Is a service's address on its interface? Read with `getifaddrs(3)` (netlink inside
//! the C library), so no `ip` process is forked per check as upstream does.
//!
//! The address counts as assigned when it is on the interface, whatever the mask
//! (upstream needs the exact prefix length, so `127.0.0.1/32` is "missing" on a `lo`
//! that has `127.0.0.1/8`). A missing interface counts as **not** assigned: upstream fails
//! open there, which would advertise a service whose interface is gone.

use std::ffi::{CStr, CString};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The answer for one address and interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignment {
    Assigned,
    NotAssigned,
    NoSuchInterface,
    /// The addresses could not be read; the error says why.
    Unknown(String),
}

/// Whether `addr` is configured on the interface named `interface`.
pub fn assignment(interface: &str, addr: IpAddr) -> Assignment {
    if !interface_exists(interface) {
        return Assignment::NoSuchInterface;
    }
    match addresses_of(interface) {
        Ok(addresses) if addresses.contains(&addr) => Assignment::Assigned,
        Ok(_) => Assignment::NotAssigned,
        Err(err) => Assignment::Unknown(err.to_string()),
    }
}

fn interface_exists(name: &str) -> bool {
    let Ok(name) = CString::new(name) else { return false };
    // SAFETY: `name` is a valid NUL-terminated string.
    unsafe { libc::if_nametoindex(name.as_ptr()) != 0 }
}

/// Every IPv4 and IPv6 address on the interface.
pub fn addresses_of(interface: &str) -> io::Result<Vec<IpAddr>> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a linked list we free below.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut found = Vec::new();
    let mut cursor = list;
    while !cursor.is_null() {
        // SAFETY: `cursor` points into the list getifaddrs returned, which stays valid
        // until freeifaddrs; each field is checked for null before use.
        let entry = unsafe { &*cursor };
        cursor = entry.ifa_next;
        if entry.ifa_addr.is_null() || entry.ifa_name.is_null() {
            continue;
        }
        let name = unsafe { CStr::from_ptr(entry.ifa_name) };
        // Alias labels (`lo:1`) are addresses of the base interface.
        let base = name.to_bytes().split(|b| *b == b':').next().unwrap_or_default();
        if base != interface.as_bytes() {
            continue;
        }
        if let Some(addr) = unsafe { ip_of(entry.ifa_addr) } {
            found.push(addr);
        }
    }
    // SAFETY: `list` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(list) };
    Ok(found)
}

/// The IP address in a `sockaddr`, if it is IPv4 or IPv6.
///
/// # Safety
/// `addr` must point to a valid sockaddr of the family it declares.
unsafe fn ip_of(addr: *const libc::sockaddr) -> Option<IpAddr> {
    match i32::from((*addr).sa_family) {
        libc::AF_INET => {
            let v4 = &*(addr as *const libc::sockaddr_in);
            Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr))))
        }
        libc::AF_INET6 => {
            let v6 = &*(addr as *const libc::sockaddr_in6);
            Some(IpAddr::V6(Ipv6Addr::from(v6.sin6_addr.s6_addr)))
        }
        _ => None,
    }
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
}
