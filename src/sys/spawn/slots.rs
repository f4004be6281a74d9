//! Low descriptor numbers kept for the pipe ends a child gets, so the child can take a
//! private descriptor table that copies only what is below them.
//!
//! Why: a clone without CLONE_FILES copies every descriptor the daemon has open into
//! the child, and exec closes each one again. In a storm a thousand checks are in
//! flight, each holding its pipes, so a late child copies and closes some three
//! thousand descriptors; `perf` put about a third of the service threads' CPU in a
//! thousand-service storm there (dup_fd and do_close_on_exec). With a slot, the child
//! starts on our table (CLONE_FILES) and its first call, `close_range(limit, ~0,
//! CLOSE_RANGE_UNSHARE)`, gives it a table of its own holding only the descriptors
//! below `limit`, one above its slot: what the daemon opened before the slots,
//! /dev/null and the slots below its own. Slots are handed out lowest first, so a
//! child copies a dozen descriptors unless many spawns are under way at once. (With
//! every child copying all the slots, 65 references to one /dev/null file, `perf` put
//! exec's closing them at 8% of the host's samples at 1000 checks a second; the exact
//! CPU of the process tree moved less than its run-to-run noise either way.)
//! Measured (8 threads spawning 2000 `/bin/true`, 3000 descriptors open): the
//! children's CPU 2.2 -> 1.5 s, ours 0.21 -> 0.15 s; with 20 open, no difference.
//!
//! A slot is a pair of descriptors held open on /dev/null while free (so the kernel
//! never hands their numbers out), and made the spawning thread's pipe ends with
//! `dup3` while its child starts. When every slot is taken the child copies the whole
//! table, as before.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU32, Ordering};

/// Slot pairs. A slot is held until the child execs, and in a storm a thousand
/// runnable threads make that long: with 16, half the storm's children found none;
/// with 32, 86% found one. (At most 32: the free mask is one word.)
pub const PAIRS: usize = 32;

/// The reserved descriptors: /dev/null (every child's stdin) and the slot pairs.
pub struct Reserved {
    dev_null: OwnedFd,
    pairs: [[OwnedFd; 2]; PAIRS],
    /// Bit i set: pair i is free.
    free: AtomicU32,
    /// For each pair: one above the highest of it, the pairs before it and /dev/null.
    limits: [RawFd; PAIRS],
}

/// A claimed pair, holding the child's stdout and stderr until dropped.
pub struct Slot<'a> {
    reserved: &'a Reserved,
    index: usize,
}

impl Reserved {
    /// Opens /dev/null and the slots, each above 0-2 (so the child's dup2 onto 0-2
    /// cannot clobber one with another even when the daemon runs with those closed).
    pub fn open() -> io::Result<Reserved> {
        let dev_null = above_stdio(OwnedFd::from(File::open("/dev/null")?))?;
        let mut fds = Vec::with_capacity(2 * PAIRS);
        for _ in 0..2 * PAIRS {
            fds.push(duplicate(&dev_null)?);
        }
        let mut highest = dev_null.as_raw_fd();
        let limits = std::array::from_fn(|index| {
            highest = highest.max(fds[2 * index].as_raw_fd()).max(fds[2 * index + 1].as_raw_fd());
            highest + 1
        });
        let mut fds = fds.into_iter();
        let pairs = std::array::from_fn(|_| [(); 2].map(|()| fds.next().expect("2 * PAIRS descriptors")));
        Ok(Reserved { dev_null, pairs, free: AtomicU32::new(all_free(PAIRS)), limits })
    }

    pub fn dev_null(&self) -> RawFd {
        self.dev_null.as_raw_fd()
    }

    /// One above every reserved descriptor.
    #[cfg(test)]
    pub fn limit(&self) -> RawFd {
        self.limits[PAIRS - 1]
    }

    /// Puts `stdout` and `stderr` on a free slot's descriptors; None when every slot is
    /// taken (or the kernel refuses, which leaves the slot free).
    pub fn claim(&self, stdout: RawFd, stderr: RawFd) -> Option<Slot<'_>> {
        let index = self.take_free()?;
        let slot = Slot { reserved: self, index };
        for (source, fd) in [stdout, stderr].into_iter().zip(&self.pairs[index]) {
            // SAFETY: dup3 onto a descriptor we own; both are open.
            if unsafe { libc::dup3(source, fd.as_raw_fd(), libc::O_CLOEXEC) } < 0 {
                return None; // Dropping `slot` puts /dev/null back.
            }
        }
        Some(slot)
    }

    fn take_free(&self) -> Option<usize> {
        let mut free = self.free.load(Ordering::Relaxed);
        loop {
            let index = first_free(free)?;
            match self.free.compare_exchange_weak(
                free,
                free & !(1 << index),
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(index),
                Err(now) => free = now,
            }
        }
    }
}

impl Slot<'_> {
    /// The child given this slot copies the descriptors below this one.
    pub fn limit(&self) -> RawFd {
        self.reserved.limits[self.index]
    }

    /// The descriptors the child takes for stdout and stderr.
    pub fn fds(&self) -> [RawFd; 2] {
        let [stdout, stderr] = &self.reserved.pairs[self.index];
        [stdout.as_raw_fd(), stderr.as_raw_fd()]
    }
}

impl Drop for Slot<'_> {
    /// Puts /dev/null back on the slot, dropping our reference to the pipe ends (or
    /// the pipes would never close), and frees it.
    fn drop(&mut self) {
        let mut restored = true;
        for fd in &self.reserved.pairs[self.index] {
            // SAFETY: dup3 onto a descriptor we own, from one we own.
            restored &= unsafe { libc::dup3(self.reserved.dev_null(), fd.as_raw_fd(), libc::O_CLOEXEC) } >= 0;
        }
        if restored {
            self.reserved.free.fetch_or(1 << self.index, Ordering::Release);
        } else {
            // Cannot happen short of a kernel bug; the pipe ends must not stay open.
            for fd in &self.reserved.pairs[self.index] {
                // SAFETY: the slot is never handed out again, so nothing uses it after.
                unsafe { libc::close(fd.as_raw_fd()) };
            }
        }
    }
}

/// The free mask with the first `pairs` slots free.
fn all_free(pairs: usize) -> u32 {
    if pairs >= 32 {
        u32::MAX
    } else {
        (1u32 << pairs) - 1
    }
}

/// The lowest free slot in `free`, if any.
fn first_free(free: u32) -> Option<usize> {
    (free != 0).then(|| free.trailing_zeros() as usize)
}

fn duplicate(fd: &OwnedFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC duplicates an fd we own to the lowest free fd >= 3.
    let copy = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if copy < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just gave us this fd; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(copy) })
}

/// `fd` itself if it is above 0-2, else a copy that is.
pub fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    duplicate(&fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_slots_are_found_lowest_first() {
        let cases: &[(u32, Option<usize>)] =
            &[(0, None), (1, Some(0)), (0b1010, Some(1)), (1 << 31, Some(31)), (u32::MAX, Some(0))];
        for &(free, want) in cases {
            assert_eq!(first_free(free), want, "{free:#b}");
        }
        assert_eq!(all_free(16), 0xffff);
        assert_eq!(all_free(32), u32::MAX);
    }

    #[test]
    fn a_claimed_slot_holds_the_ends_and_gets_dev_null_back() {
        let reserved = Reserved::open().expect("reserve");
        let (mut read, write) = pipe();
        let mut claimed = Vec::new();
        for _ in 0..PAIRS {
            claimed.push(reserved.claim(write.as_raw_fd(), write.as_raw_fd()).expect("a free slot"));
        }
        assert!(reserved.claim(write.as_raw_fd(), write.as_raw_fd()).is_none(), "all taken");
        let fds = claimed[3].fds();
        assert!(
            fds.iter().all(|&fd| fd > 2 && fd < claimed[3].limit()),
            "{fds:?} under {}",
            claimed[3].limit()
        );
        // Lower slots copy less: a child of the first copies only up to its pair.
        assert!(claimed[0].limit() < claimed[3].limit());
        assert!(claimed[3].limit() <= reserved.limit());
        // SAFETY: writes two bytes from a valid buffer to a slot holding the pipe.
        assert_eq!(unsafe { libc::write(fds[0], b"ok".as_ptr().cast(), 2) }, 2);
        drop(write);
        drop(claimed);
        // Every slot gave its copy of the write end back: the pipe is at its end.
        let mut text = String::new();
        std::io::Read::read_to_string(&mut read, &mut text).expect("read");
        assert_eq!(text, "ok");
        let again = reserved.claim(reserved.dev_null(), reserved.dev_null()).expect("slots freed");
        assert_eq!(again.index, 0);
    }

    fn pipe() -> (File, OwnedFd) {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: pipe2 writes two fds into a valid array.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: the kernel just gave us these fds.
        unsafe { (File::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
    }
}
