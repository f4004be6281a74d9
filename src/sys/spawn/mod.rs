//! Starting a check's process: what glibc's `posix_spawn` does (a vfork-style clone
//! that borrows our memory until the child execs, so nothing is copied), but on a
//! stack taken from a small pool instead of one mapped and unmapped for every spawn.
//!
//! Why not `std::process::Command`: it calls `posix_spawn`, which maps a fresh stack
//! for the child and unmaps it afterwards. In one address space with a thousand service
//! threads, that pair takes the address space's lock for writing twice per check, and
//! the unmap's TLB shoot-down (an IPI to the other CPUs, slow in a VM) is done holding
//! it, so every other thread spawning or faulting waits, mostly spinning. `perf` at
//! 1000 checks a second put about half of the daemon's own CPU there. A reused stack
//! takes neither the lock nor a shoot-down, and faults no new pages.
//!
//! The child shares our descriptor table at first (see `slots` for why) and takes a
//! small one of its own before anything else.
//!
//! The child does only what is safe between a vfork-style clone and exec: reset the
//! handlers we installed, join its own process group, put /dev/null and the two pipes
//! on 0, 1 and 2, take back the timer slack the daemon started with, clear the signal
//! mask and exec. It allocates nothing and takes no
//! lock. If exec fails it leaves the error number in the parent's memory and exits.
#![allow(unsafe_code)] // the crate denies it; see the module docs for why here

use std::ffi::{c_char, c_int, c_uint, c_void, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::sys::argv::Argv;
use crate::sys::timer_slack;

mod slots;

use slots::Reserved;

/// Signals whose handler the child must drop before it unblocks signals, at the least:
/// the ones the daemon catches (a handler run in the child would run on our memory)
/// and SIGPIPE, which Rust's runtime ignores and a check should not inherit ignored.
/// [`prepare`] adds every other signal that has a handler by then.
const RESET_IN_CHILD: [c_int; 5] = [libc::SIGHUP, libc::SIGINT, libc::SIGTERM, libc::SIGURG, libc::SIGPIPE];

/// Set once a child could not take a descriptor table of its own (seccomp profiles
/// that refuse close_range and unshare): from then on no child shares ours.
static SHARED_TABLE_REFUSED: AtomicBool = AtomicBool::new(false);

/// The signals the child resets, one bit each (bit `n - 1` for signal `n`).
static RESET_MASK: AtomicU64 = AtomicU64::new(0);

/// The signals the child resets: as [`prepare`] found them, or found now if it was not
/// called (then once).
fn reset_mask() -> u64 {
    match RESET_MASK.load(Ordering::Relaxed) {
        0 => {
            let mask = signals_to_reset();
            RESET_MASK.store(mask, Ordering::Relaxed);
            mask
        }
        mask => mask,
    }
}

/// Tests only (debug builds, read once): act as if the kernel refused a private
/// descriptor table (`ANYCAST_HEALTHCHECKER_TEST_NO_UNSHARE`).
fn test_refuses_table() -> bool {
    static REFUSES: OnceLock<bool> = OnceLock::new();
    cfg!(debug_assertions)
        && *REFUSES.get_or_init(|| std::env::var_os("ANYCAST_HEALTHCHECKER_TEST_NO_UNSHARE").is_some())
}

/// [`RESET_IN_CHILD`] and every signal that has a handler now.
fn signals_to_reset() -> u64 {
    let floor = RESET_IN_CHILD.iter().fold(0u64, |mask, signal| mask | 1 << (signal - 1));
    (1..=64).filter(|signal| has_handler(*signal)).fold(floor, |mask, signal| mask | 1 << (signal - 1))
}

/// Whether `signal` has a handler (not the default action, not ignored).
fn has_handler(signal: c_int) -> bool {
    // SAFETY: sigaction only writes the current action into `current`, a live local;
    // an invalid signal number is an error, not undefined behaviour.
    unsafe {
        let mut current: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, std::ptr::null(), &mut current) == 0
            && current.sa_sigaction != libc::SIG_DFL
            && current.sa_sigaction != libc::SIG_IGN
    }
}

/// A child stack's usable size. The child runs a few libc calls; most of this is never
/// touched, so it costs address space, not memory.
const STACK_SIZE: usize = 64 * 1024;

/// A started process: its pid and the read ends of its stdout and stderr.
#[derive(Debug)]
pub struct Child {
    pid: libc::pid_t,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

impl Child {
    pub fn id(&self) -> u32 {
        self.pid as u32
    }

    /// The exit status if the child has exited (and reaps it), or None.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.wait_with(libc::WNOHANG)
    }

    /// Whether the child has exited, leaving it unreaped (a zombie keeps its pid and
    /// process group id from being reused).
    pub fn has_exited(&self) -> io::Result<bool> {
        loop {
            // SAFETY: waitid writes one siginfo_t through a valid pointer; WNOWAIT
            // leaves the child to be reaped later.
            let (result, info) = unsafe {
                let mut info: libc::siginfo_t = std::mem::zeroed();
                let result = libc::waitid(
                    libc::P_PID,
                    self.pid as libc::id_t,
                    &mut info,
                    libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
                );
                (result, info)
            };
            return match result {
                // With WNOHANG, no change is a zeroed si_pid.
                // SAFETY: si_pid is valid to read from a siginfo_t waitid filled (or
                // left zeroed).
                0 => Ok(unsafe { info.si_pid() } != 0),
                _ => match io::Error::last_os_error() {
                    err if err.kind() == io::ErrorKind::Interrupted => continue,
                    err => Err(err),
                },
            };
        }
    }

    /// Waits for the child to exit and reaps it.
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        loop {
            if let Some(status) = self.wait_with(0)? {
                return Ok(status);
            }
        }
    }

    fn wait_with(&mut self, flags: c_int) -> io::Result<Option<ExitStatus>> {
        let mut status: c_int = 0;
        loop {
            // SAFETY: waitpid writes one int through a valid pointer.
            let reaped = unsafe { libc::waitpid(self.pid, &mut status, flags) };
            return match reaped {
                0 => Ok(None),
                -1 => match io::Error::last_os_error() {
                    err if err.kind() == io::ErrorKind::Interrupted => continue,
                    err => Err(err),
                },
                _ => Ok(Some(ExitStatus::from_raw(status))),
            };
        }
    }
}

/// Starts `argv` in its own process group, stdin from /dev/null, stdout and stderr
/// into pipes. A program without a slash is looked up in PATH, as `execvp` does.
/// Never inlined, so that its frame and the output reader's are side by side, not
/// stacked, on a service thread's deepest call (the stack budget:
/// `service::thread::STACK_SIZE`).
#[inline(never)]
pub fn spawn(argv: &Argv) -> io::Result<Child> {
    let words = argv.c_words();
    let searched;
    let candidates = match words.first() {
        Some(program) if program.as_bytes().contains(&b'/') => std::slice::from_ref(program),
        _ => {
            searched = search_path(argv.program())?;
            &searched[..]
        }
    };
    let reserved = reserved()?;
    let (stdout, stdout_w) = pipe()?;
    let (stderr, stderr_w) = pipe()?;
    // A shared table needs the child to take its own (close_range or unshare); where
    // both are refused, every child gets a copy of the whole table instead.
    let slot = match SHARED_TABLE_REFUSED.load(Ordering::Relaxed) {
        false => reserved.claim(stdout_w.as_raw_fd(), stderr_w.as_raw_fd()),
        true => None,
    };
    let [child_stdout, child_stderr] =
        slot.as_ref().map_or([stdout_w.as_raw_fd(), stderr_w.as_raw_fd()], |slot| slot.fds());
    let mut plan = Plan {
        candidates,
        argv: words.iter().map(|w| w.as_ptr()).chain([std::ptr::null()]).collect(),
        // SAFETY: `environ` is the C library's environment; the daemon changes its
        // environment only at start, before any thread exists.
        envp: unsafe { environ },
        stdin: reserved.dev_null(),
        stdout: child_stdout,
        stderr: child_stderr,
        private_below: slot.as_ref().map(slots::Slot::limit),
        timer_slack: timer_slack::for_children(),
        reset: reset_mask(),
        exec_errno: 0,
        table_refused: false,
        refuse_table: test_refuses_table(),
    };
    let pid = clone_child(&mut plan)?;
    // Our copies of the write ends go, so the pipes close when the child's group does.
    drop((slot, stdout_w, stderr_w));
    // SAFETY: the child has exec'd or exited (CLONE_VFORK), so it no longer writes here.
    let errno = unsafe { std::ptr::read_volatile(&plan.exec_errno) };
    // SAFETY: as above.
    let table_refused = unsafe { std::ptr::read_volatile(&plan.table_refused) };
    let mut child = Child { pid, stdout: Some(stdout), stderr: Some(stderr) };
    if errno != 0 {
        let _ = child.wait();
        if table_refused && !SHARED_TABLE_REFUSED.swap(true, Ordering::Relaxed) {
            log::warn!(
                "the kernel refuses close_range and unshare(CLONE_FILES) ({}): checks now start \
                 with a copy of the whole descriptor table",
                io::Error::from_raw_os_error(errno)
            );
        }
        if table_refused {
            return spawn(argv);
        }
        return Err(io::Error::from_raw_os_error(errno));
    }
    Ok(child)
}

/// Everything the child needs, prepared by the parent: the child may not allocate.
struct Plan<'a> {
    candidates: &'a [CString],
    argv: Vec<*const c_char>,
    envp: *const *const c_char,
    stdin: RawFd,
    stdout: RawFd,
    stderr: RawFd,
    /// With a slot: the child shares our table and takes its own copy of the
    /// descriptors below this one; without, it gets a copy of all of them.
    private_below: Option<RawFd>,
    /// The timer slack the daemon started with, if this thread changed its own.
    timer_slack: Option<libc::c_ulong>,
    /// The signals to reset to their default action (bit `n - 1` for signal `n`).
    reset: u64,
    exec_errno: c_int,
    /// Set by the child: it could not take a table of its own.
    table_refused: bool,
    /// Tests only (debug builds): act as if close_range and unshare were refused.
    refuse_table: bool,
}

extern "C" {
    static environ: *const *const c_char;
}

/// Clones the child on a pooled stack with all signals blocked, and returns its pid
/// once it has exec'd or exited.
fn clone_child(plan: &mut Plan) -> io::Result<libc::pid_t> {
    let stack = Stack::take()?;
    let shared_table = if plan.private_below.is_some() { libc::CLONE_FILES } else { 0 };
    let blocked = BlockedSignals::all();
    // SAFETY: `child_main` only makes async-signal-safe calls and never returns while
    // `plan` is in use; CLONE_VFORK suspends this thread until the child execs or
    // exits, so `plan` and `stack` outlive the child's use of them.
    let pid = unsafe {
        libc::clone(
            child_main,
            stack.top(),
            libc::CLONE_VM | libc::CLONE_VFORK | shared_table | libc::SIGCHLD,
            (plan as *mut Plan).cast::<c_void>(),
        )
    };
    let error = io::Error::last_os_error();
    drop(blocked);
    stack.give_back();
    if pid < 0 {
        return Err(error);
    }
    Ok(pid)
}

/// The child, between clone and exec: on our memory, so no allocation, no locks.
extern "C" fn child_main(plan: *mut c_void) -> c_int {
    // SAFETY: the parent passed a valid `Plan` and stays suspended until we exec or
    // exit; every call below is async-signal-safe.
    unsafe {
        let plan = &mut *plan.cast::<Plan>();
        // First, before anything touches a descriptor: a table of our own. Kernels
        // before 5.9 have no close_range; unshare copies the whole table there.
        if let Some(limit) = plan.private_below {
            let own_table = !plan.refuse_table
                && (libc::syscall(
                    libc::SYS_close_range,
                    limit as c_uint,
                    c_uint::MAX,
                    libc::CLOSE_RANGE_UNSHARE,
                ) == 0
                    || libc::unshare(libc::CLONE_FILES) == 0);
            if !own_table {
                if plan.refuse_table {
                    *libc::__errno_location() = libc::EPERM;
                }
                std::ptr::write_volatile(&mut plan.table_refused, true);
                return fail(plan);
            }
        }
        let mut default: libc::sigaction = std::mem::zeroed();
        default.sa_sigaction = libc::SIG_DFL;
        let mut reset = plan.reset;
        while reset != 0 {
            let signal = reset.trailing_zeros() as c_int + 1;
            libc::sigaction(signal, &default, std::ptr::null_mut());
            reset &= reset - 1;
        }
        if libc::setpgid(0, 0) != 0
            || libc::dup2(plan.stdin, 0) < 0
            || libc::dup2(plan.stdout, 1) < 0
            || libc::dup2(plan.stderr, 2) < 0
        {
            return fail(plan);
        }
        // Nothing but 0, 1 and 2 goes to the check, whatever the daemon inherited
        // without close-on-exec. Kernels before 5.9: below the slots one by one (our
        // own descriptors there are close-on-exec anyway).
        if libc::syscall(libc::SYS_close_range, 3 as c_uint, c_uint::MAX, 0 as c_uint) != 0 {
            for fd in 3..plan.private_below.unwrap_or(3) {
                libc::close(fd);
            }
        }
        if let Some(slack) = plan.timer_slack {
            libc::prctl(libc::PR_SET_TIMERSLACK, slack);
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        // As execvp: a missing candidate tries the next; permission denied is kept as
        // the answer if nothing else runs; any other error ends the search.
        let mut denied = false;
        for path in plan.candidates {
            libc::execve(path.as_ptr(), plan.argv.as_ptr(), plan.envp);
            match *libc::__errno_location() {
                libc::EACCES => denied = true,
                libc::ENOENT | libc::ENOTDIR | libc::ESTALE | libc::ENODEV | libc::ETIMEDOUT => {}
                _ => return fail(plan),
            }
        }
        if denied {
            *libc::__errno_location() = libc::EACCES;
        }
        fail(plan)
    }
}

/// Leaves errno for the parent and exits as a shell does for a command it cannot run.
///
/// # Safety
/// Only from the child, with `plan` the parent's.
unsafe fn fail(plan: &mut Plan) -> c_int {
    // SAFETY: errno is this thread's (the child's) own int, always valid to read.
    let errno = match unsafe { *libc::__errno_location() } {
        0 => libc::ENOENT,
        errno => errno,
    };
    // SAFETY: `plan` is the parent's, shared through CLONE_VM and alive until the
    // child exits (CLONE_VFORK); a volatile write so it is not optimised away before
    // _exit, which ends the child at once.
    unsafe {
        std::ptr::write_volatile(&mut plan.exec_errno, errno);
        libc::_exit(127)
    }
}

/// The paths to try for `program`, which has no slash: each PATH entry's.
fn search_path(program: &str) -> io::Result<Vec<CString>> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/bin:/usr/bin".into());
    path.as_bytes()
        .split(|&b| b == b':')
        .map(|dir| {
            let dir = if dir.is_empty() { &b"."[..] } else { dir };
            let mut full = dir.to_vec();
            full.push(b'/');
            full.extend_from_slice(program.as_bytes());
            CString::new(full).map_err(|_| nul_error())
        })
        .collect()
}

fn nul_error() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "the command contains a NUL byte")
}

/// A pipe, close-on-exec, both ends above 0-2 (so the child's dup2 onto 0-2 cannot
/// clobber one end with another even when the daemon runs with those closed).
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 writes two fds into a valid array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just gave us these fds; nothing else owns them.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((slots::above_stdio(read)?, slots::above_stdio(write)?))
}

/// Reserves /dev/null and the slots now, while the daemon has few descriptors open:
/// the lower they are, the less a child copies. (The first spawn does it otherwise.)
/// And takes SIGCHLD back from a launcher that ignored it, so checks' exit statuses
/// reach us.
/// Also notes every signal that has a handler: the daemon installs its handlers before
/// it calls this, so the child resets them all, not only the ones named here.
/// And marks close-on-exec every descriptor above 2 that the daemon inherited, so none
/// reaches a check even where the child cannot close them itself (kernels before 5.9).
pub fn prepare() -> io::Result<()> {
    super::os::default_sigchld();
    RESET_MASK.store(signals_to_reset(), Ordering::Relaxed);
    close_inherited_on_exec();
    reserved().map(drop)
}

/// Sets FD_CLOEXEC on every open descriptor above 2 (listed in /proc/self/fd).
fn close_inherited_on_exec() {
    let Ok(listing) = std::fs::read_dir("/proc/self/fd") else { return };
    let fds: Vec<RawFd> =
        listing.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).filter(|fd| *fd > 2).collect();
    for fd in fds {
        // SAFETY: fcntl on a descriptor number only reads and sets its flags; one that
        // closed meanwhile (the listing's own) is an error, nothing more.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 && flags & libc::FD_CLOEXEC == 0 {
                libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
            }
        }
    }
}

/// /dev/null and the slots, reserved once.
fn reserved() -> io::Result<&'static Reserved> {
    static RESERVED: OnceLock<Reserved> = OnceLock::new();
    static OPENING: Mutex<()> = Mutex::new(());
    if let Some(reserved) = RESERVED.get() {
        return Ok(reserved);
    }
    // One thread opens them: a thousand service threads starting together must not
    // each open a set.
    let _opening = OPENING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(reserved) = RESERVED.get() {
        return Ok(reserved);
    }
    let opened = Reserved::open()?;
    Ok(RESERVED.get_or_init(|| opened))
}

/// Blocks every signal in this thread until dropped, so none is delivered to the child
/// before it has dropped our handlers. The kernel's 64-bit masks, not libc's 128-byte
/// `sigset_t`s (the stack budget: `service::thread::STACK_SIZE`), and the C library's
/// own signals blocked too, as its `posix_spawn` does.
struct BlockedSignals(u64);

impl BlockedSignals {
    fn all() -> BlockedSignals {
        let all = u64::MAX;
        let mut old = 0u64;
        // SAFETY: rt_sigprocmask reads and writes one kernel signal set (8 bytes, the
        // size passed) through valid pointers.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigprocmask,
                libc::SIG_SETMASK,
                &all as *const u64,
                &mut old as *mut u64,
                KERNEL_SIGSET_BYTES,
            );
        }
        BlockedSignals(old)
    }
}

impl Drop for BlockedSignals {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved by `all`, through a valid pointer.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigprocmask,
                libc::SIG_SETMASK,
                &self.0 as *const u64,
                std::ptr::null_mut::<u64>(),
                KERNEL_SIGSET_BYTES,
            );
        }
    }
}

/// The size of the kernel's signal set on Linux (64 signals).
const KERNEL_SIGSET_BYTES: libc::size_t = 8;

/// A child stack: mapped once with a guard page below it, reused, never unmapped.
struct Stack {
    base: *mut u8,
}

// SAFETY: a Stack is plain memory that only one spawn uses at a time (the pool hands it
// out under a lock).
unsafe impl Send for Stack {}

/// Stacks not in use, at most [`POOLED`]: a burst of spawns at the same moment (a
/// thousand services starting) maps more, and gives the extra ones back to the kernel.
static STACKS: Mutex<Vec<Stack>> = Mutex::new(Vec::new());

/// Enough for two CPUs' worth of spawns overlapping; each kept stack costs a page or two.
const POOLED: usize = 8;

/// The guard below a child stack: one page, of the kernel's real size.
fn guard() -> usize {
    super::os::page_size()
}

/// A child stack's mapping: the guard and [`STACK_SIZE`] rounded up to whole pages.
fn mapping_size() -> usize {
    guard() + STACK_SIZE.next_multiple_of(guard())
}

impl Stack {
    fn take() -> io::Result<Stack> {
        if let Some(stack) = STACKS.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).pop() {
            return Ok(stack);
        }
        // SAFETY: a fresh anonymous mapping; its lowest page is made inaccessible so an
        // overflow faults instead of writing into other memory.
        unsafe {
            let base = libc::mmap(
                std::ptr::null_mut(),
                mapping_size(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            );
            if base == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
            if libc::mprotect(base, guard(), libc::PROT_NONE) != 0 {
                let error = io::Error::last_os_error();
                libc::munmap(base, mapping_size());
                return Err(error);
            }
            Ok(Stack { base: base.cast() })
        }
    }

    /// The stack's top, where a downward-growing stack starts (16-byte aligned).
    fn top(&self) -> *mut c_void {
        // SAFETY: one past the end of the mapping, which is page-aligned.
        unsafe { self.base.add(mapping_size()).cast() }
    }

    fn give_back(self) {
        let mut pool = STACKS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if pool.len() < POOLED {
            pool.push(self);
            return;
        }
        drop(pool);
        // SAFETY: the mapping made in `take`, which no child uses any more (CLONE_VFORK
        // returned) and nothing else refers to.
        unsafe {
            libc::munmap(self.base.cast(), mapping_size());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::time::Duration;

    #[test]
    fn every_signal_with_a_handler_is_reset_in_the_child_not_only_the_named_ones() {
        let bit = |signal: c_int| 1u64 << (signal - 1);
        let floor = signals_to_reset();
        assert_eq!(floor & bit(libc::SIGPIPE), bit(libc::SIGPIPE), "SIGPIPE always");
        let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let id = signal_hook::flag::register(libc::SIGUSR2, flag).expect("a handler for SIGUSR2");
        assert_ne!(signals_to_reset() & bit(libc::SIGUSR2), 0, "a handler added beside ours");
        signal_hook::low_level::unregister(id);
    }

    #[test]
    fn an_exited_child_is_seen_and_left_a_zombie_until_reaped() {
        let mut child = spawn(&Argv::parse("/bin/true").expect("argv")).expect("spawn");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !child.has_exited().expect("waitid") {
            assert!(std::time::Instant::now() < deadline, "/bin/true did not exit");
            std::thread::sleep(Duration::from_millis(1));
        }
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", child.id())).expect("still there");
        assert_eq!(stat.rsplit_once(')').map(|(_, rest)| rest.trim_start().chars().next()), Some(Some('Z')));
        assert!(child.wait().expect("reaped").success());
        assert!(!std::path::Path::new(&format!("/proc/{}", child.id())).exists(), "reaped");
    }

    fn read_all(fd: OwnedFd) -> String {
        let mut text = String::new();
        std::fs::File::from(fd).read_to_string(&mut text).expect("read");
        text
    }

    fn sh(script: &str) -> Argv {
        Argv::parse(&format!("/bin/sh -c '{script}'")).expect("argv")
    }

    /// Runs `command` (no shell in between) and returns its stdout and pid.
    fn output_of(command: &str) -> (String, u32) {
        let mut child = spawn(&Argv::parse(command).expect("argv")).expect("spawn");
        let stdout = read_all(child.stdout.take().expect("stdout"));
        assert!(child.wait().expect("wait").success(), "{command}");
        (stdout, child.id())
    }

    #[test]
    fn the_child_gets_its_own_group_devnull_stdin_an_empty_mask_and_default_handlers() {
        let (stat, pid) = output_of("cat /proc/self/stat");
        let group = stat.rsplit(") ").next().and_then(|rest| rest.split(' ').nth(2)).expect("pgrp");
        assert_eq!(group, pid.to_string(), "the child leads its own group: {stat}");
        assert_eq!(output_of("wc -c").0.trim(), "0", "stdin is /dev/null");
        // SIGPIPE is ignored by Rust's runtime and SIGHUP gets a handler here, as the
        // daemon installs one: the check must see both at their defaults, and nothing
        // blocked (this thread blocks everything while it clones).
        let hook = signal_hook::flag::register(libc::SIGHUP, std::sync::Arc::default()).expect("hook");
        let (status, _) = output_of("cat /proc/self/status");
        signal_hook::low_level::unregister(hook);
        let mask = |name: &str| {
            let line = status.lines().find(|line| line.starts_with(name)).expect("status line");
            u64::from_str_radix(line[name.len()..].trim(), 16).expect("hex mask")
        };
        assert_eq!(mask("SigBlk:"), 0, "{status}");
        // (Whatever started the tests may ignore other signals; those stay ignored.)
        let ours = (1u64 << (libc::SIGPIPE - 1)) | (1 << (libc::SIGHUP - 1));
        assert_eq!(mask("SigIgn:") & ours, 0, "{status}");
        assert_eq!(mask("SigCgt:"), 0, "{status}");
    }

    #[test]
    fn the_spawning_threads_signal_mask_is_given_back() {
        let blocked = || {
            let status = std::fs::read_to_string("/proc/thread-self/status").expect("status");
            status.lines().find(|line| line.starts_with("SigBlk:")).expect("SigBlk").to_string()
        };
        std::thread::spawn(move || {
            // SAFETY: blocks SIGUSR1 in this test thread only.
            unsafe {
                let mut usr1: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut usr1);
                libc::sigaddset(&mut usr1, libc::SIGUSR1);
                libc::pthread_sigmask(libc::SIG_BLOCK, &usr1, std::ptr::null_mut());
            }
            let before = blocked();
            assert_ne!(before, "SigBlk:\t0000000000000000", "the test's own block took");
            output_of("/bin/true");
            assert_eq!(blocked(), before);
        })
        .join()
        .expect("the spawning thread");
    }

    #[test]
    fn stdout_and_stderr_are_separate_pipes_and_no_fd_of_ours_is_inherited() {
        let ours = std::fs::File::open("/dev/null").expect("open"); // close-on-exec, as all of ours
        let null = reserved().expect("reserved").dev_null();
        // `test -e` looks without opening an fd of its own.
        let script = format!(
            "echo out; echo err >&2; for fd in 0 1 2 {} {null}; do test -e /proc/$$/fd/$fd && echo $fd; done; true",
            ours.as_raw_fd()
        );
        let mut child = spawn(&sh(&script)).expect("spawn");
        let stdout = read_all(child.stdout.take().expect("stdout"));
        let stderr = read_all(child.stderr.take().expect("stderr"));
        assert!(child.wait().expect("wait").success());
        assert_eq!(stderr, "err\n");
        assert_eq!(stdout, "out\n0\n1\n2\n", "only 0-2 open of those");
    }

    #[test]
    fn a_service_threads_timer_slack_is_not_inherited_by_its_checks() {
        std::thread::spawn(|| {
            let started_with = timer_slack::of_this_thread();
            timer_slack::set_for_this_thread(Duration::from_millis(9));
            let (slack, _) = output_of("cat /proc/self/timerslack_ns");
            let slack = Duration::from_nanos(slack.trim().parse().expect("nanoseconds"));
            assert_eq!(slack, started_with, "the check's slack");
        })
        .join()
        .expect("the service-like thread");
    }

    #[test]
    fn programs_are_found_in_path_and_errors_are_the_exec_error() {
        let mut child = spawn(&Argv::parse("sh -c 'exit 7'").expect("argv")).expect("spawn via PATH");
        assert_eq!(child.wait().expect("wait").code(), Some(7));
        let missing = spawn(&Argv::parse("/nonexistent/check").expect("argv")).expect_err("missing");
        assert_eq!(missing.raw_os_error(), Some(libc::ENOENT), "{missing}");
        let unfound = spawn(&Argv::parse("no-such-check-anywhere").expect("argv")).expect_err("unfound");
        assert_eq!(unfound.raw_os_error(), Some(libc::ENOENT), "{unfound}");
        let dir = tempfile::tempdir().expect("tempdir");
        let script = dir.path().join("check");
        std::fs::write(&script, "#!/bin/sh\nexit 0\n").expect("write");
        let denied =
            spawn(&Argv::parse(&script.display().to_string()).expect("argv")).expect_err("not executable");
        assert_eq!(denied.raw_os_error(), Some(libc::EACCES), "{denied}");
    }

    /// FDSize in a /proc status: the size of that process's descriptor table.
    fn table_size(status: &str) -> usize {
        let line = status.lines().find(|l| l.starts_with("FDSize:")).expect("FDSize");
        line["FDSize:".len()..].trim().parse().expect("a number")
    }

    #[test]
    fn a_child_copies_only_the_low_descriptors_however_many_we_hold() {
        let reserved = reserved().expect("reserved");
        // Many descriptors of ours above the reserved ones, as a storm's pipes are (a
        // soft limit of 1024 is common).
        let many: Vec<OwnedFd> =
            (0..600).map(|_| OwnedFd::from(std::fs::File::open("/dev/null").expect("open"))).collect();
        let ours = table_size(&std::fs::read_to_string("/proc/self/status").expect("status"));
        assert!(ours >= 600, "our table: {ours}");
        let (status, _) = output_of("cat /proc/self/status");
        let limit = usize::try_from(reserved.limit()).expect("a descriptor");
        assert!(table_size(&status) <= limit.next_multiple_of(64), "the child's table: {status}");
        // With every slot taken, the child copies the whole table and still runs.
        let null = reserved.dev_null();
        let taken: Vec<_> = std::iter::from_fn(|| reserved.claim(null, null)).collect();
        assert_eq!(output_of("echo whole").0, "whole\n");
        drop((taken, many));
    }

    #[test]
    fn concurrent_spawns_share_a_few_stacks() {
        let threads: Vec<_> = (0..8)
            .map(|_| {
                std::thread::spawn(|| {
                    for _ in 0..50 {
                        let mut child = spawn(&Argv::parse("/bin/true").expect("argv")).expect("spawn");
                        assert!(child.wait().expect("wait").success());
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("thread");
        }
        // Stacks are given back (a pool left empty would show), never more than POOLED.
        let pooled = STACKS.lock().expect("lock").len();
        assert!((1..=POOLED).contains(&pooled), "{pooled} stacks kept");
    }
}
