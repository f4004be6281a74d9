//! What the design card's thread per check costs by itself, without the daemon:
//!
//!     cargo bench --bench spawn_floor                 # N = 1000, 3 rounds
//!     cargo bench --bench spawn_floor -- 200 5        # N, rounds
//!
//! Three floors start the daemon bench's checks (`/bin/true` and `/bin/sh -c 'exit 0'`,
//! alternately) N times a second and wait for each:
//! - one thread pacing them 1/N s apart with glibc's `posix_spawn`, as the daemon
//!   bench's floor;
//! - N threads each starting one a second with `posix_spawn`, all due at the same
//!   moment (the daemon's default phases);
//! - N threads each asking a spawn helper for one a second: a single-threaded process
//!   forked before any thread exists, which starts every check with `posix_spawn` and
//!   reaps it (the helper issue 15 allows), the thread sleeping until it answers.
//!
//! Each runs in a process of its own (this bench, re-executed), alternately, and reports
//! its own CPU per spawn over 10 s (children excluded, as the daemon bench's "own CPU
//! per check"; the helper's CPU counts as its own). The N-thread floor also maps and
//! unmaps a child stack per spawn inside `posix_spawn`, which the daemon does not
//! (src/sys/spawn/), so it is an upper bound of what N sleeping threads cost, not a lower
//! one. The floors read no output and keep no pipes: the daemon does both. Prints
//! medians; see benches/RESULTS.md.
#![allow(unsafe_code)] // libc calls on the processes under test

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

const SECONDS: u64 = 10;

#[derive(Clone, Copy, PartialEq)]
enum Floor {
    OneThread,
    Threads,
    Helper,
}

impl Floor {
    const ALL: [Floor; 3] = [Floor::OneThread, Floor::Threads, Floor::Helper];

    fn name(self) -> &'static str {
        match self {
            Floor::OneThread => "one-thread",
            Floor::Threads => "threads",
            Floor::Helper => "helper",
        }
    }

    fn parse(name: &str) -> Option<Floor> {
        Floor::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// Runs one floor in this process and prints its own CPU per spawn in ms, its spawns
/// a second and the helper's share of that CPU, measured after a 3 s warm-up.
fn run_floor(floor: Floor, rate: usize) {
    let threads = if floor == Floor::OneThread { 1 } else { rate };
    // Forked first, while this process has one thread.
    let helper = (floor == Floor::Helper).then(|| helper::Helper::start(threads));
    let done = Arc::new(AtomicUsize::new(0));
    let start = Instant::now() + Duration::from_millis(500);
    // One thread: a spawn every 1/rate s. N threads: each one a second, all due together.
    let period = Duration::from_secs(threads as u64) / rate as u32;
    let checks: &'static [common::FloorArgv; 2] = Box::leak(Box::new(common::floor_checks()));
    for i in 0..threads {
        let done = Arc::clone(&done);
        let socket = helper.as_ref().map(|h| h.sockets[i]);
        let spawned = std::thread::Builder::new().stack_size(128 * 1024).spawn(move || {
            let mut next = start;
            for k in 0.. {
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
                next += period;
                // The one thread alternates the checks; N threads take one each.
                let which = if threads == 1 { k % 2 } else { i % 2 };
                match socket {
                    Some(socket) => helper::ask(socket, which as u8),
                    None => common::spawn_and_wait(&checks[which]),
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
        });
        spawned.expect("a floor thread");
    }
    std::thread::sleep(Duration::from_secs(3));
    let own_pid = std::process::id() as i32;
    let helper_cpu = || helper.as_ref().map_or(0.0, |h| common::process_cpu_seconds(h.pid));
    let sample = || (common::process_cpu_seconds(own_pid), helper_cpu(), done.load(Ordering::Relaxed));
    let ((own0, helper0, n0), t0) = (sample(), Instant::now());
    std::thread::sleep(Duration::from_secs(SECONDS));
    let (own1, helper1, n1) = sample();
    let spawns = (n1 - n0).max(1) as f64;
    let cpu = (own1 - own0) + (helper1 - helper0);
    let helper_share = if cpu > 0.0 { (helper1 - helper0) / cpu } else { 0.0 };
    println!("{} {} {}", 1000.0 * cpu / spawns, spawns / t0.elapsed().as_secs_f64(), helper_share);
    std::process::exit(0);
}

fn main() {
    if let Ok(spec) = std::env::var("AHC_SPAWN_FLOOR") {
        let (name, rate) = spec.split_once(',').unwrap_or((&spec, "1000"));
        let floor = Floor::parse(name).expect("a floor's name");
        run_floor(floor, rate.parse().unwrap_or(1000));
        return;
    }
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let rate = args.first().copied().unwrap_or(1000).max(1);
    let rounds = args.get(1).copied().unwrap_or(3).max(1);
    let me = std::env::current_exe().expect("the bench's own path");
    let mut per_spawn: [Vec<f64>; 3] = Default::default();
    let mut helper_share = Vec::new();
    for round in 0..rounds {
        for (slot, floor) in Floor::ALL.into_iter().enumerate() {
            let output = Command::new(&me)
                .env("AHC_SPAWN_FLOOR", format!("{},{rate}", floor.name()))
                .output()
                .expect("run a floor");
            let text = String::from_utf8_lossy(&output.stdout);
            let mut fields = text.split_whitespace().filter_map(|f| f.parse::<f64>().ok());
            let ms = fields.next().unwrap_or(f64::NAN);
            let (per_second, share) = (fields.next().unwrap_or(0.0), fields.next().unwrap_or(0.0));
            eprintln!(
                "round {}: {}: {ms:.4} ms own CPU per spawn, {per_second:.0} spawns/s",
                round + 1,
                floor.name()
            );
            per_spawn[slot].push(ms);
            if floor == Floor::Helper {
                helper_share.push(share);
            }
        }
    }
    let [one, many, helped] = per_spawn.map(common::median);
    println!("Machine: {}", common::machine());
    println!(
        "{rate} spawns a second, medians of {rounds} alternated rounds of {SECONDS} s, own CPU per spawn:"
    );
    println!("| one thread | {rate} threads, one each a second | {rate} threads and a spawn helper |");
    println!("|---:|---:|---:|");
    println!(
        "| {one:.4} ms | {many:.4} ms ({:.2}x) | {helped:.4} ms ({:.2}x; the helper {:.0}% of it) |",
        many / one,
        helped / one,
        100.0 * common::median(helper_share)
    );
}

/// The spawn helper as a floor: no output, no deadlines, no restarts; only the
/// requests, the spawns, the reaping and the answers, the least any helper does.
mod helper {
    use super::common;
    use std::collections::HashMap;

    pub struct Helper {
        pub pid: libc::pid_t,
        /// Thread i's end of its socket pair with the helper.
        pub sockets: Vec<i32>,
    }

    impl Helper {
        /// Forks the helper; call it while this process has one thread.
        pub fn start(threads: usize) -> Helper {
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            for _ in 0..threads {
                let mut pair = [0; 2];
                // SAFETY: pair is a valid out array of two descriptors.
                let made = unsafe {
                    libc::socketpair(
                        libc::AF_UNIX,
                        libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
                        0,
                        pair.as_mut_ptr(),
                    )
                };
                assert_eq!(made, 0, "socketpair: {}", std::io::Error::last_os_error());
                ours.push(pair[0]);
                theirs.push(pair[1]);
            }
            let checks = common::floor_checks();
            // SAFETY: the caller has one thread, so the child may run any code.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
            let (close, keep) = if pid == 0 { (&ours, &theirs) } else { (&theirs, &ours) };
            for fd in close {
                // SAFETY: the other side's ends, never used on this side.
                unsafe { libc::close(*fd) };
            }
            if pid == 0 {
                serve(keep, &checks);
            }
            Helper { pid, sockets: ours }
        }
    }

    /// Asks for check `which` and sleeps until the helper answers with its status.
    pub fn ask(socket: i32, which: u8) {
        let mut status = [0u8; 4];
        // SAFETY: a one-byte request and a four-byte answer, both buffers ours.
        unsafe {
            libc::write(socket, [which].as_ptr().cast(), 1);
            libc::read(socket, status.as_mut_ptr().cast(), status.len());
        }
    }

    /// The helper's loop: requests and SIGCHLD through one epoll, until the bench exits.
    fn serve(sockets: &[i32], checks: &[common::FloorArgv; 2]) -> ! {
        extern "C" {
            static environ: *const *mut libc::c_char;
        }
        const CHILDREN: u64 = u64::MAX;
        // SAFETY: syscalls on descriptors, sets and attributes this function owns; argv
        // pointers live as long as the process.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            let mut chld: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut chld);
            libc::sigaddset(&mut chld, libc::SIGCHLD);
            libc::sigprocmask(libc::SIG_BLOCK, &chld, std::ptr::null_mut());
            let children = libc::signalfd(-1, &chld, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK);
            let epoll = libc::epoll_create1(libc::EPOLL_CLOEXEC);
            let watch = |fd: i32, key: u64| {
                let mut event = libc::epoll_event { events: libc::EPOLLIN as u32, u64: key };
                libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, fd, &mut event);
            };
            watch(children, CHILDREN);
            for (i, fd) in sockets.iter().enumerate() {
                watch(*fd, i as u64);
            }
            // The checks start with SIGCHLD unblocked, as any spawner's children do.
            let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
            libc::posix_spawnattr_init(&mut attr);
            let unblocked: libc::sigset_t = std::mem::zeroed();
            libc::posix_spawnattr_setsigmask(&mut attr, &unblocked);
            libc::posix_spawnattr_setflags(&mut attr, libc::POSIX_SPAWN_SETSIGMASK as libc::c_short);
            let mut asked_by: HashMap<libc::pid_t, i32> = HashMap::new();
            let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
            loop {
                let ready = libc::epoll_wait(epoll, events.as_mut_ptr(), events.len() as i32, -1);
                for event in &events[..ready.max(0) as usize] {
                    if event.u64 == CHILDREN {
                        let mut info = [0u8; 128];
                        while libc::read(children, info.as_mut_ptr().cast(), info.len()) > 0 {}
                        let mut status = 0;
                        loop {
                            let pid = libc::waitpid(-1, &mut status, libc::WNOHANG);
                            if pid <= 0 {
                                break;
                            }
                            if let Some(socket) = asked_by.remove(&pid) {
                                libc::write(socket, status.to_ne_bytes().as_ptr().cast(), 4);
                            }
                        }
                        continue;
                    }
                    let socket = sockets[event.u64 as usize];
                    let mut which = [0u8; 1];
                    if libc::read(socket, which.as_mut_ptr().cast(), 1) != 1 {
                        libc::_exit(0);
                    }
                    let argv = &checks[usize::from(which[0] % 2)].0;
                    let mut pid = 0;
                    if libc::posix_spawn(&mut pid, argv[0], std::ptr::null(), &attr, argv.as_ptr(), environ)
                        == 0
                    {
                        asked_by.insert(pid, socket);
                    }
                }
            }
        }
    }
}
