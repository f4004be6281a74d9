//! Run a child process that cannot hang us: its own process group, a deadline after
//! which the whole group gets SIGTERM and then SIGKILL, always reaped, and its output
//! captured up to a bound (the rest is read and thrown away, so the child never blocks
//! on a full pipe).
//!
//! Like upstream's `communicate(timeout)`, a command is finished when it has exited and
//! closed its output; a background grandchild that keeps the output open holds the check
//! until its timeout.

use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::sys::argv::Argv;
use crate::sys::os;
use crate::sys::spawn::{self, Child};

/// How much of each stream is kept for the log.
pub const CAPTURE_LIMIT: usize = 4096;

/// One read from a check's pipe, once its output has shown it is more than a line.
const READ_CHUNK: usize = 4096;

/// One read from a check's pipe at first: most checks print nothing or a line.
const SMALL_READ: usize = 256;

/// How long a timed-out group has between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_millis(200);

/// How a command ended.
#[derive(Debug)]
pub enum Outcome {
    /// It exited with this status code.
    Exited(i32),
    /// A signal ended it (not ours).
    Signaled(i32),
    /// It ran past its deadline; its group was killed.
    TimedOut,
    /// It could not be started at all.
    NotStarted(io::Error),
    /// Its owner stopped it (the daemon is stopping); its group was killed.
    Cancelled,
    /// It ran, but its exit status could not be had (`waitpid` failed: ECHILD when
    /// something reaped it for us); its group was killed.
    Unknown(io::Error),
}

/// A finished command: how it ended, how long it took, and the start of its output.
#[derive(Debug)]
pub struct Finished {
    pub outcome: Outcome,
    pub duration: Duration,
    pub stdout: Captured,
    pub stderr: Captured,
}

impl Finished {
    #[cfg(test)]
    pub fn success(&self) -> bool {
        matches!(self.outcome, Outcome::Exited(0))
    }
}

/// The first [`CAPTURE_LIMIT`] bytes of a stream and how many bytes there were in all.
#[derive(Debug, Default)]
pub struct Captured {
    pub head: Vec<u8>,
    pub total: u64,
}

impl Captured {
    /// The kept bytes as text, marked when the stream was longer.
    pub fn text(&self) -> String {
        let mut text = String::from_utf8_lossy(&self.head).trim_end().to_string();
        if self.total > self.head.len() as u64 {
            text.push_str(&format!(" [... {} more bytes]", self.total - self.head.len() as u64));
        }
        text
    }

    fn keep(&mut self, bytes: &[u8]) {
        self.total += bytes.len() as u64;
        let room = CAPTURE_LIMIT.saturating_sub(self.head.len());
        self.head.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

/// How often a running command looks at its cancel flag. Only while a command runs,
/// and a stopping daemon waits at most this long for its checks to be killed.
const CANCEL_POLL: Duration = Duration::from_millis(50);

/// Runs `argv` with no stdin, capturing its output, for at most `timeout`.
pub fn run(argv: &Argv, timeout: Duration) -> Finished {
    run_cancellable(argv, timeout, &AtomicBool::new(false))
}

/// Like [`run`], and also ends the command's group as soon as `cancel` is set: a
/// stopping daemon ends the checks it owns instead of leaving them behind (upstream
/// orphans them).
pub fn run_cancellable(argv: &Argv, timeout: Duration, cancel: &AtomicBool) -> Finished {
    let started = Instant::now();
    let deadline = started + timeout;
    let mut child = match spawn::spawn(argv) {
        Ok(child) => child,
        Err(err) => {
            return Finished {
                outcome: Outcome::NotStarted(err),
                duration: started.elapsed(),
                stdout: Captured::default(),
                stderr: Captured::default(),
            }
        }
    };
    let (stdout, stderr, drained) = drain_until(&mut child, deadline, cancel);
    let outcome = if drained {
        match wait_until(&mut child, deadline, cancel) {
            Ok(Some(status)) => outcome_of(status),
            Ok(None) => kill_group(&mut child),
            Err(err) => {
                kill_group(&mut child);
                Outcome::Unknown(err)
            }
        }
    } else {
        kill_group(&mut child)
    };
    let outcome = match outcome {
        Outcome::TimedOut if cancel.load(Ordering::Relaxed) => Outcome::Cancelled,
        other => other,
    };
    Finished { outcome, duration: started.elapsed(), stdout, stderr }
}

fn outcome_of(status: ExitStatus) -> Outcome {
    match (status.code(), status.signal()) {
        (Some(code), _) => Outcome::Exited(code),
        (None, Some(signal)) => Outcome::Signaled(signal),
        (None, None) => Outcome::Exited(-1),
    }
}

/// Reads stdout and stderr until both are closed (true), or the deadline passes or
/// `cancel` is set (false). Never inlined: its read buffer then lives in its own
/// frame, beside `spawn`'s rather than under it (the stack budget:
/// `service::thread::STACK_SIZE`).
#[inline(never)]
fn drain_until(child: &mut Child, deadline: Instant, cancel: &AtomicBool) -> (Captured, Captured, bool) {
    let mut captured = [Captured::default(), Captured::default()];
    // One entry per stream; a closed one gets fd -1, which poll skips. Fixed arrays,
    // not vectors: nothing here allocates for a check that prints nothing.
    let mut polled = [&child.stdout, &child.stderr].map(|end| libc::pollfd {
        fd: end.as_ref().map_or(-1, |fd| fd.as_raw_fd()),
        events: libc::POLLIN,
        revents: 0,
    });
    let open = |polled: &[libc::pollfd; 2]| polled.iter().any(|p| p.fd >= 0);
    let mut buffer = ReadBuffer::new();
    while open(&polled) {
        let remaining = deadline.saturating_duration_since(Instant::now()).min(CANCEL_POLL);
        if remaining.is_zero() || cancel.load(Ordering::Relaxed) {
            break;
        }
        match os::poll(&mut polled, remaining) {
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
        for (which, poll) in polled.iter_mut().enumerate() {
            let end = [&child.stdout, &child.stderr][which];
            let (Some(end), true) = (end, poll.fd >= 0 && poll.revents != 0) else { continue };
            let into = buffer.space();
            match os::read(end.as_fd(), into) {
                Ok(n) if n > 0 => {
                    captured[which].keep(&into[..n]);
                    buffer.grow_if_filled(n);
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                _ => poll.fd = -1, // closed, or unreadable
            }
        }
    }
    let drained = !open(&polled);
    // Close our ends now: a killed group must not be kept alive by a full pipe.
    child.stdout.take();
    child.stderr.take();
    let [out, err] = captured;
    (out, err, drained)
}

/// Where a check's output is read into: a small array on the stack, and a heap block
/// only once a read has filled that. A 4 KiB heap block per check is too large for
/// glibc's per-thread cache, so every check took a lock on one of the two malloc
/// arenas that all service threads share (allocator.rs); a 4 KiB stack buffer would
/// keep its pages resident in every one of a thousand threads.
struct ReadBuffer {
    small: [u8; SMALL_READ],
    large: Vec<u8>,
}

impl ReadBuffer {
    fn new() -> ReadBuffer {
        ReadBuffer { small: [0; SMALL_READ], large: Vec::new() }
    }

    fn space(&mut self) -> &mut [u8] {
        if self.large.is_empty() {
            &mut self.small
        } else {
            &mut self.large
        }
    }

    /// A chatty command is read in larger pieces from its second read on.
    fn grow_if_filled(&mut self, read: usize) {
        if read == SMALL_READ && self.large.is_empty() {
            self.large = vec![0; READ_CHUNK];
        }
    }
}

/// Waits for the child to exit, up to the deadline or until `cancel` is set, and reaps
/// it. Its output is closed, so it is exiting or about to.
fn wait_until(child: &mut Child, deadline: Instant, cancel: &AtomicBool) -> io::Result<Option<ExitStatus>> {
    wait_for(child, deadline, cancel, Child::try_wait)
}

/// Asks `look` until it has an answer, the deadline passes or `cancel` is set. A pidfd
/// (Linux 5.3+) says exactly when the child exits; without one, poll with short,
/// growing sleeps.
fn wait_for<T>(
    child: &mut Child,
    deadline: Instant,
    cancel: &AtomicBool,
    mut look: impl FnMut(&mut Child) -> io::Result<Option<T>>,
) -> io::Result<Option<T>> {
    // Opened only if the first look finds it still running: most have exited by now.
    let mut pidfd: Option<Option<PidFd>> = None;
    let mut pause = Duration::from_micros(50);
    loop {
        if let Some(answer) = look(child)? {
            return Ok(Some(answer));
        }
        let now = Instant::now();
        if now >= deadline || cancel.load(Ordering::Relaxed) {
            return Ok(None);
        }
        match pidfd.get_or_insert_with(|| PidFd::open(child.id())) {
            Some(pidfd) => pidfd.wait_readable((deadline - now).min(CANCEL_POLL)),
            None => {
                std::thread::sleep(pause.min(deadline - now));
                pause = (pause * 2).min(Duration::from_millis(5));
            }
        }
    }
}

/// A process file descriptor: readable once the process has exited.
struct PidFd(std::os::fd::OwnedFd);

impl PidFd {
    fn open(pid: u32) -> Option<PidFd> {
        os::pidfd_open(pid).ok().map(PidFd)
    }

    fn wait_readable(&self, timeout: Duration) {
        let mut poll = [libc::pollfd { fd: self.0.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
        let _ = os::poll(&mut poll, timeout);
    }
}

/// Ends the child's whole process group: SIGTERM, a short grace, SIGKILL; then reaps
/// the child. Until the end the leader is left a zombie if it exits: while it is, its
/// group id cannot be given to another process, so no signal here reaches a stranger.
fn kill_group(child: &mut Child) -> Outcome {
    let group = child.id() as libc::pid_t;
    signal_group(group, libc::SIGTERM);
    let grace_end = Instant::now() + KILL_GRACE;
    // An error (the child already reaped) ends the grace as an exit would.
    let exited = |child: &mut Child| Ok(child.has_exited().unwrap_or(true).then_some(()));
    let _ = wait_for(child, grace_end, &AtomicBool::new(false), exited);
    // The leader (if SIGTERM did not end it) and members that outlived it.
    signal_group(group, libc::SIGKILL);
    let _ = child.wait();
    Outcome::TimedOut
}

fn signal_group(group: libc::pid_t, signal: libc::c_int) {
    // An error is a group already gone.
    let _ = os::signal_group(group, signal);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Argv {
        Argv::parse(&format!("/bin/sh -c '{script}'")).expect("argv")
    }

    #[test]
    fn exit_codes_and_output_are_reported() {
        let done = run(&sh("echo out; echo err >&2; exit 3"), Duration::from_secs(5));
        assert!(matches!(done.outcome, Outcome::Exited(3)), "{:?}", done.outcome);
        assert_eq!(done.stdout.text(), "out");
        assert_eq!(done.stderr.text(), "err");
    }

    #[test]
    fn a_missing_program_is_reported_not_panicked() {
        let done = run(&Argv::parse("/nonexistent/check").unwrap(), Duration::from_secs(1));
        assert!(matches!(done.outcome, Outcome::NotStarted(_)));
    }

    #[test]
    fn a_hung_command_is_killed_at_its_timeout() {
        let done = run(&sh("sleep 30"), Duration::from_millis(200));
        assert!(matches!(done.outcome, Outcome::TimedOut));
        assert!(done.duration < Duration::from_secs(2), "{:?}", done.duration);
    }

    #[test]
    fn output_is_bounded_but_fully_drained() {
        let done = run(&sh("head -c 1000000 /dev/zero; exit 0"), Duration::from_secs(10));
        assert!(done.success(), "{:?}", done.outcome);
        assert_eq!(done.stdout.head.len(), CAPTURE_LIMIT);
        assert_eq!(done.stdout.total, 1_000_000);
        assert!(done.stdout.text().ends_with("[... 995904 more bytes]"));
    }

    #[test]
    fn a_cancelled_command_is_killed_with_its_group() {
        let cancel = std::sync::Arc::new(AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&cancel);
        let setter = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            flag.store(true, Ordering::Relaxed);
        });
        let done = run_cancellable(&sh("sleep 30 & sleep 30"), Duration::from_secs(60), &cancel);
        setter.join().unwrap();
        assert!(matches!(done.outcome, Outcome::Cancelled), "{:?}", done.outcome);
    }

    #[test]
    fn signals_are_told_apart_from_exits() {
        let done = run(&sh("kill -9 $$"), Duration::from_secs(5));
        assert!(matches!(done.outcome, Outcome::Signaled(9)), "{:?}", done.outcome);
    }
}
