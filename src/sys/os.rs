//! Safe wrappers for the one-line C library calls the daemon makes. Every `unsafe`
//! block of the crate is here or in `spawn/`, where the child's side of a clone has to
//! be written against raw memory; other modules call these functions.
#![allow(unsafe_code)] // the crate denies it; this module is where it lives

use std::ffi::CStr;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// The monotonic clock (`CLOCK_MONOTONIC`), as systemd's `MONOTONIC_USEC` counts it.
pub(crate) fn monotonic_clock() -> Duration {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into `now`, which is a live local.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    Duration::new(u64::try_from(now.tv_sec).unwrap_or(0), u32::try_from(now.tv_nsec).unwrap_or(0))
}

/// Sets SIGCHLD back to its default. A launcher that starts the daemon with SIGCHLD
/// ignored (some do) makes the kernel reap our checks itself, and their exit status
/// is lost (`waitpid` answers ECHILD). Best effort.
pub(crate) fn default_sigchld() {
    // SAFETY: SIG_DFL installs no handler of ours; signal() only sets the disposition.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
}

/// The kernel's page size (4 KiB on x86_64; 64 KiB on some aarch64 kernels, RHEL's
/// among them), read once.
pub(crate) fn page_size() -> usize {
    static PAGE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *PAGE.get_or_init(|| {
        // SAFETY: sysconf takes a name and returns a number; no pointer.
        let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        usize::try_from(size).ok().filter(|s| s.is_power_of_two()).unwrap_or(4096)
    })
}

/// The real user id of the process.
pub(crate) fn uid() -> u32 {
    // SAFETY: getuid takes nothing and cannot fail.
    unsafe { libc::getuid() }
}

/// One address of an interface, as `getifaddrs` lists it: the interface's name (an
/// alias label such as `lo:1` as is), and its address if it is IPv4 or IPv6.
pub(crate) struct InterfaceAddress {
    pub name: String,
    pub address: Option<IpAddr>,
}

/// Every address of every interface (`getifaddrs`).
pub(crate) fn interface_addresses() -> io::Result<Vec<InterfaceAddress>> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a linked list that is freed below.
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
        if entry.ifa_name.is_null() {
            continue;
        }
        // SAFETY: `ifa_name` is not null (checked above) and getifaddrs gives a
        // NUL-terminated name that lives as long as the list.
        let name = unsafe { CStr::from_ptr(entry.ifa_name) }.to_string_lossy().into_owned();
        let address = if entry.ifa_addr.is_null() {
            None
        } else {
            // SAFETY: `ifa_addr` is not null (checked above) and points to a sockaddr
            // of the family it declares, as getifaddrs guarantees, valid until
            // freeifaddrs.
            unsafe { ip_of(entry.ifa_addr) }
        };
        found.push(InterfaceAddress { name, address });
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
    // SAFETY: the caller promises a valid sockaddr; the family says which larger
    // struct it is the start of.
    unsafe {
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
}

/// Fills `buffer` from the kernel's random pool (`getrandom`); false if it could not
/// (only before the pool is seeded, early at boot).
pub(crate) fn random_bytes(buffer: &mut [u8]) -> bool {
    // SAFETY: getrandom writes at most `buffer.len()` bytes into the buffer it is
    // given, which lives for the whole call.
    let filled = unsafe { libc::getrandom(buffer.as_mut_ptr().cast(), buffer.len(), 0) };
    usize::try_from(filled).is_ok_and(|n| n == buffer.len())
}

/// Makes closing `socket` reset the connection (`SO_LINGER` of 0), leaving no
/// `TIME_WAIT` behind. Best effort.
pub(crate) fn reset_on_close(socket: &impl AsFd) {
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: setsockopt reads `size_of::<linger>()` bytes from a live local value;
    // the descriptor is borrowed, so open during this call.
    unsafe {
        libc::setsockopt(
            socket.as_fd().as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// Waits until one of `fds` is ready or `timeout` passes (`poll`); the number ready.
/// A descriptor of -1 is skipped, as poll does.
pub(crate) fn poll(fds: &mut [libc::pollfd], timeout: Duration) -> io::Result<usize> {
    let millis = timeout.as_millis().clamp(1, i32::MAX as u128) as i32;
    // SAFETY: `fds` is a valid array of pollfd, of the length given, for the call.
    let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, millis) };
    usize::try_from(ready).map_err(|_| io::Error::last_os_error())
}

/// Reads what is there from `fd` into `buffer` (one `read`); 0 at its end.
pub(crate) fn read(fd: BorrowedFd<'_>, buffer: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buffer` is valid for writes of its length; `fd` is borrowed, so open.
    let read = unsafe { libc::read(fd.as_raw_fd(), buffer.as_mut_ptr().cast(), buffer.len()) };
    usize::try_from(read).map_err(|_| io::Error::last_os_error())
}

/// A descriptor that becomes readable when process `pid` exits (`pidfd_open`,
/// Linux 5.3); an error on older kernels.
pub(crate) fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = i32::try_from(fd).map_err(|_| io::Error::last_os_error())?;
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just gave us this fd; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sends `signal` to every process of group `group` (`killpg`). An error (the group
/// is gone) is the caller's to ignore.
pub(crate) fn signal_group(group: libc::pid_t, signal: libc::c_int) -> io::Result<()> {
    // SAFETY: killpg takes two integers and has no memory effects.
    if unsafe { libc::killpg(group, signal) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The local time of `seconds` since the epoch (`localtime_r`, the system's zone
/// database), or None if the C library cannot represent it.
pub(crate) fn local_time(seconds: libc::time_t) -> Option<libc::tm> {
    // SAFETY: `tm` is plain old data (integers and a pointer that may be null), so all
    // zeroes is a valid value.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are to live locals, valid for the call; localtime_r is the
    // thread-safe variant and keeps no pointer after it returns.
    let filled = unsafe { !libc::localtime_r(&seconds, &mut tm).is_null() };
    filled.then_some(tm)
}

/// This thread's timer slack in nanoseconds (`PR_GET_TIMERSLACK`).
pub(crate) fn timer_slack() -> Option<libc::c_ulong> {
    // SAFETY: PR_GET_TIMERSLACK reads this thread's slack; it takes no pointer.
    let nanos = unsafe { libc::prctl(libc::PR_GET_TIMERSLACK) };
    libc::c_ulong::try_from(nanos).ok()
}

/// Sets this thread's timer slack in nanoseconds (`PR_SET_TIMERSLACK`). Best effort.
pub(crate) fn set_timer_slack(nanos: libc::c_ulong) {
    // SAFETY: PR_SET_TIMERSLACK sets this thread's slack from a number; no pointer.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, nanos) };
}

/// Caps glibc's malloc arenas (`mallopt(M_ARENA_MAX)`). glibc asks that it be called
/// before any thread exists; elsewhere it does nothing.
pub(crate) fn set_malloc_arena_max(arenas: libc::c_int) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; no pointer.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, arenas);
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = arenas;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loopback_interface_has_its_address() {
        let all = interface_addresses().expect("getifaddrs");
        assert!(
            all.iter().any(|a| a.name == "lo" && a.address == Some(IpAddr::V4(Ipv4Addr::LOCALHOST))),
            "lo has 127.0.0.1"
        );
    }

    #[test]
    fn random_bytes_differ_between_calls() {
        let (mut a, mut b) = ([0u8; 16], [0u8; 16]);
        assert!(random_bytes(&mut a) && random_bytes(&mut b));
        assert_ne!(a, b, "sixteen random bytes twice alike");
    }

    #[test]
    fn the_page_size_is_the_kernels() {
        let size = page_size();
        assert!(size.is_power_of_two() && size >= 4096, "{size}");
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
        if let Some(line) = smaps.lines().find(|l| l.starts_with("KernelPageSize:")) {
            assert!(line.contains(&format!(" {} kB", size / 1024)), "{line}");
        }
    }

    #[test]
    fn the_monotonic_clock_moves_forward() {
        let before = monotonic_clock();
        assert!(before > Duration::ZERO);
        assert!(monotonic_clock() >= before);
    }

    #[test]
    fn a_pidfd_is_refused_for_a_pid_that_cannot_exist() {
        assert!(pidfd_open(u32::MAX).is_err());
        assert!(pidfd_open(std::process::id()).is_ok());
    }
}
