//! Benchmarks of the real daemon (run as root: it makes a network namespace):
//!
//!     cargo bench --bench daemon                 # N = 10, 100, 1000, 2000; 3 runs each
//!     cargo bench --bench daemon -- --sizes 100 --runs 1 --seconds 10
//!
//! For each N it starts the daemon in a fresh network namespace whose interface `svc0`
//! (one end of a veth pair, since not every kernel has the dummy driver) holds the N
//! service addresses (so the address check runs), with checks `/bin/true`
//! and `/bin/sh -c 'exit 0'` every second, and reports medians over the runs of:
//! - CPU seconds the daemon itself spends per 1000 checks (its utime + stime; the
//!   checks' own time is not counted), its CPU share, RSS and thread count;
//! - a storm: all N services flip together (a flag file, then SIGURG): reconfigure runs
//!   and the time until the Bird file is final;
//! - failover latency (one service, 60 flips 0.25 s apart): the decisive check's exit
//!   -> the Bird file renamed -> the reconfigure finished, with a real Bird 2 when `/usr/sbin/bird`
//!   exists (`birdc configure`), else `/bin/echo Reconfigured`.
//!
//! The table is printed and written to benches/RESULTS.md with the machine and date.
#![allow(unsafe_code)] // libc calls on the processes under test

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, UNIX_EPOCH};

mod common;

use common::{machine, median, percentile};

const BINARY: &str = env!("CARGO_BIN_EXE_anycast-healthchecker");

struct Options {
    sizes: Vec<usize>,
    runs: usize,
    seconds: u64,
}

fn options() -> Options {
    let mut options = Options { sizes: vec![10, 100, 1000, 2000], runs: 3, seconds: 20 };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--sizes" => options.sizes = value.split(',').filter_map(|n| n.parse().ok()).collect(),
            "--runs" => options.runs = value.parse().unwrap_or(3),
            "--seconds" => options.seconds = value.parse().unwrap_or(20),
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    options
}

fn run(command: &mut Command) {
    let status = command.status().expect("run a command");
    assert!(status.success(), "{command:?} failed");
}

/// A network namespace with a dummy interface holding `count` service addresses.
struct Namespace {
    name: String,
}

impl Namespace {
    fn new(count: usize) -> Namespace {
        let name = format!("ahcbench{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).stderr(Stdio::null()).status();
        run(Command::new("ip").args(["netns", "add", &name]));
        // From here on, Drop deletes the namespace, also if a step below fails.
        let namespace = Namespace { name: name.clone() };
        run(Command::new("ip").args(["-n", &name, "link", "set", "lo", "up"]));
        // A veth pair stands in for a dummy interface: some kernels (this CI's) have no
        // dummy driver. The service addresses go on svc0.
        run(Command::new("ip")
            .args(["-n", &name, "link", "add", "svc0", "type", "veth", "peer", "name", "svc1"]));
        run(Command::new("ip").args(["-n", &name, "link", "set", "svc0", "up"]));
        run(Command::new("ip").args(["-n", &name, "link", "set", "svc1", "up"]));
        let mut batch = String::new();
        for i in 0..count {
            let _ = writeln!(batch, "addr add {}/32 dev svc0", address(i));
        }
        let mut child = Command::new("ip")
            .args(["-n", &name, "-batch", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("ip -batch");
        use std::io::Write;
        child.stdin.take().expect("stdin").write_all(batch.as_bytes()).expect("write batch");
        assert!(child.wait().expect("wait").success());
        namespace
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

fn address(i: usize) -> String {
    format!("10.200.{}.{}", i / 250, i % 250 + 1)
}

/// A daemon running `count` services in `namespace`.
struct Daemon {
    child: Child,
    dir: tempfile::TempDir,
}

impl Daemon {
    fn start(
        namespace: &Namespace,
        count: usize,
        check: &dyn Fn(usize, &Path) -> String,
        reconfigure: &str,
    ) -> Daemon {
        let dir = tempfile::Builder::new().prefix("ahcb").tempdir().expect("temp dir");
        let root = dir.path().display().to_string();
        std::fs::write(
            dir.path().join("main.conf"),
            format!(
                "[DEFAULT]\ncheck_disabled = false\ninterface = svc0\ncheck_interval = 1\ncheck_timeout = 0.9\n\
                 check_rise = 1\ncheck_fail = 1\n\
                 [daemon]\npidfile = {root}/ahc.pid\nbird_conf = {root}/p4.conf\nbird_reconfigure_cmd = {reconfigure}\n\
                 bird_reconfigure_timeout = 5\nloglevel = info\nlog_file = {root}/daemon.log\nlog_maxbytes = 0\n"
            ),
        )
        .expect("main.conf");
        let mut services = String::new();
        for i in 0..count {
            let _ = write!(
                services,
                "[svc{i}]\ncheck_cmd = {}\nip_prefix = {}/32\n\n",
                check(i, dir.path()),
                address(i)
            );
        }
        std::fs::write(dir.path().join("services.conf"), services).expect("services.conf");
        let child = Command::new("ip")
            .args(["netns", "exec", &namespace.name, BINARY, "-f", "main.conf", "-F", "services.conf"])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the daemon");
        Daemon { child, dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn signal(&self, signal: i32) {
        // SAFETY: kill has no memory effects.
        unsafe {
            libc::kill(self.pid(), signal);
        }
    }

    /// utime + stime of the daemon process itself, in seconds.
    fn cpu_seconds(&self) -> f64 {
        common::process_cpu_seconds(self.pid())
    }

    fn status_field(&self, field: &str) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok()))
            .unwrap_or(0.0)
    }

    fn log_count(&self, text: &str) -> usize {
        std::fs::read_to_string(self.path("daemon.log")).unwrap_or_default().matches(text).count()
    }

    fn prefix_count(&self) -> usize {
        let text = std::fs::read_to_string(self.path("p4.conf")).unwrap_or_default();
        anycast_healthchecker::bird::file::parse(&text).prefixes.len()
    }

    fn wait_for(&self, what: &str, timeout: Duration, done: impl Fn(&Daemon) -> bool) {
        let deadline = Instant::now() + timeout;
        while !done(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        common::stop(&mut self.child);
    }
}

/// Idle cost: (CPU s per 1000 checks, CPU %, RSS MiB, threads, checks per second
/// done, check timeouts per second, PSS MiB, whole-tree CPU % (the daemon and its
/// checks, see `common::tree_cpu_seconds`) at `count` checks a second, KiB of stack
/// resident per service thread).
fn steady(namespace: &Namespace, count: usize, seconds: u64) -> [f64; 9] {
    let check = |i: usize, _: &Path| {
        if i % 2 == 0 {
            "/bin/true".to_string()
        } else {
            "/bin/sh -c 'exit 0'".to_string()
        }
    };
    let daemon = Daemon::start(namespace, count, &check, "/bin/echo Reconfigured");
    // On a small machine N checks a second may be more than it can fork: then some
    // time out and never come up; measure all the same.
    let deadline = Instant::now() + Duration::from_secs(30);
    while daemon.prefix_count() < count + 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(2));
    let checks = |d: &Daemon| (d.log_count("check duration"), d.log_count("check timed out"));
    let (cpu0, (done0, timeouts0), t0) = (daemon.cpu_seconds(), checks(&daemon), Instant::now());
    let tree0 = common::tree_cpu_seconds(daemon.pid());
    std::thread::sleep(Duration::from_secs(seconds));
    let (cpu1, (done1, timeouts1), elapsed) = (daemon.cpu_seconds(), checks(&daemon), t0.elapsed());
    let tree1 = common::tree_cpu_seconds(daemon.pid());
    let pss = pss_kib(daemon.pid()) / 1024.0;
    let stack = service_stack_kib(daemon.pid());
    let rss = daemon.status_field("VmRSS:") / 1024.0;
    let threads = daemon.status_field("Threads:");
    let ran = (done1 - done0 + timeouts1 - timeouts0).max(1) as f64;
    let seconds = elapsed.as_secs_f64();
    [
        (cpu1 - cpu0) / (ran / 1000.0),
        100.0 * (cpu1 - cpu0) / seconds,
        rss,
        threads,
        ran / seconds,
        (timeouts1 - timeouts0) as f64 / seconds,
        pss,
        // As if every check had run: a daemon falling behind is compared per check.
        100.0 * (tree1 - tree0) / seconds * count as f64 / (ran / seconds),
        stack,
    ]
}

/// The median resident size of the service threads' stacks, KiB: the daemon maps
/// each one 128 KiB (src/service/thread.rs), and keeps resident the pages its deepest call
/// touched.
fn service_stack_kib(pid: i32) -> f64 {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut resident = Vec::new();
    let mut in_stack = false;
    for line in smaps.lines() {
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or_default();
        if let Some((start, end)) = first.split_once('-').filter(|_| !first.ends_with(':')) {
            let size = |hex: &str| u64::from_str_radix(hex, 16).unwrap_or(0);
            // An anonymous mapping (no path) of exactly the service stack's size.
            in_stack = size(end) - size(start) == 128 * 1024 && words.nth(4).is_none();
        } else if in_stack && first == "Rss:" {
            resident.push(words.next().and_then(|kib| kib.parse().ok()).unwrap_or(0.0));
        }
    }
    median(resident)
}

/// A process's proportional set size (its share of shared pages), KiB.
fn pss_kib(pid: i32) -> f64 {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    rollup
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(0.0)
}

/// The storm's floor: the time one thread takes to start `count` of the storm's checks
/// at once (std's `Command`, i.e. `posix_spawn`) and reap them all. The daemon's storm
/// cannot settle before the machine has run the same processes.
fn storm_floor(count: usize) -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = format!("test -e {}", dir.path().join("flag").display());
    let started = Instant::now();
    let children: Vec<_> = (0..count)
        .filter_map(|_| {
            Command::new("/bin/sh")
                .args(["-c", &script])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .ok()
        })
        .collect();
    for mut child in children {
        let _ = child.wait();
    }
    started.elapsed().as_secs_f64()
}

/// The floor: one thread that spawns the same checks (`/bin/true` and
/// `/bin/sh -c 'exit 0'`, alternately) at `rate` a second with `posix_spawn` and waits
/// for each, in a process of its own (this bench, re-executed). Returns (its own CPU
/// per spawn in ms, whole-tree CPU %: it and its children, at `rate` spawns a second),
/// over `seconds`.
fn floor(rate: usize, seconds: u64) -> (f64, f64) {
    let me = std::env::current_exe().expect("the bench's own path");
    let counter = tempfile::NamedTempFile::new().expect("a counter file");
    let spawned = || -> f64 {
        std::fs::read_to_string(counter.path()).ok().and_then(|t| t.trim().parse().ok()).unwrap_or(0.0)
    };
    let mut child = Command::new(me)
        .env("AHC_BENCH_FLOOR", format!("{rate},{}", seconds + 4))
        .env("AHC_BENCH_FLOOR_COUNT", counter.path())
        .stdout(Stdio::null())
        .spawn()
        .expect("start the floor");
    let pid = child.id() as i32;
    std::thread::sleep(Duration::from_secs(2));
    let (own0, tree0, t0, n0) =
        (common::process_cpu_seconds(pid), common::tree_cpu_seconds(pid), Instant::now(), spawned());
    std::thread::sleep(Duration::from_secs(seconds));
    let (own1, tree1, elapsed, n1) =
        (common::process_cpu_seconds(pid), common::tree_cpu_seconds(pid), t0.elapsed(), spawned());
    let _ = child.kill();
    let _ = child.wait();
    // Spawns actually made: a saturated floor falls behind its rate.
    let spawns = (n1 - n0).max(1.0);
    eprintln!("floor at {rate}/s: {:.0} spawns a second", spawns / elapsed.as_secs_f64());
    // Whole tree at `rate` spawns a second: a floor that falls behind (a busy machine)
    // would otherwise look cheaper than the daemon that keeps up.
    (1000.0 * (own1 - own0) / spawns, 100.0 * (tree1 - tree0) * rate as f64 / spawns)
}

/// The floor's loop (`AHC_BENCH_FLOOR=RATE,SECONDS`): posix_spawn and wait, on schedule.
fn floor_loop(spec: &str) {
    let mut parts = spec.split(',').filter_map(|p| p.parse::<u64>().ok());
    let (rate, seconds) = (parts.next().unwrap_or(1).max(1), parts.next().unwrap_or(10));
    let checks = common::floor_checks();
    let interval = Duration::from_secs(1) / rate as u32;
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut next = Instant::now();
    let mut n = 0usize;
    let counter = std::env::var_os("AHC_BENCH_FLOOR_COUNT");
    let mut last_report = Instant::now();
    while Instant::now() < end {
        if last_report.elapsed() >= Duration::from_millis(250) {
            if let Some(path) = &counter {
                let _ = std::fs::write(path, n.to_string());
            }
            last_report = Instant::now();
        }
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        next += interval;
        common::spawn_and_wait(&checks[n % 2]);
        n += 1;
    }
}

/// All services flip together: (reconfigure runs, seconds until the file is final),
/// worst of the two directions.
fn storm(namespace: &Namespace, count: usize) -> (f64, f64) {
    let check = |_: usize, dir: &Path| format!("/bin/sh -c 'test -e {}/flag'", dir.display());
    let reconfigure = "/bin/sh -c 'echo run >> runs.log; echo Reconfigured'";
    let daemon = Daemon::start(namespace, count, &check, reconfigure);
    daemon
        .wait_for("all services down", Duration::from_secs(90), |d| d.log_count("changed to DOWN") == count);
    daemon.wait_for("the file", Duration::from_secs(30), |d| d.prefix_count() == 1);
    let runs = || std::fs::read_to_string(daemon.path("runs.log")).unwrap_or_default().lines().count();
    // The file is read once per rename (inotify), not polled: on two cores, parsing a
    // thousand-line file every 2 ms took CPU from the storm being measured.
    let renames = watch_renames(daemon.dir.path(), "p4.conf");
    let wall_now = || std::time::SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as f64;
    let mut worst = (0.0f64, 0.0f64);
    for up in [true, false] {
        std::thread::sleep(Duration::from_millis(1500));
        let before = runs();
        if up {
            std::fs::write(daemon.path("flag"), "").expect("flag");
        } else {
            std::fs::remove_file(daemon.path("flag")).expect("flag");
        }
        let seen = renames.lock().unwrap().len();
        let started = wall_now();
        daemon.signal(libc::SIGURG);
        let want = if up { count + 1 } else { 1 };
        // More checks than the machine can start in a second time out and fail: then
        // the file never becomes final, which the table shows as "inf".
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut settled = f64::INFINITY;
        let mut looked = seen;
        while Instant::now() < deadline {
            let renamed = renames.lock().unwrap().len();
            if renamed == looked {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            looked = renamed;
            if daemon.prefix_count() == want {
                // The rename that made it final is the last one so far (one that came
                // while the file was read is counted: the file changes no more after).
                let last = renames.lock().unwrap().last().copied().unwrap_or(started);
                settled = (last - started) / 1e9;
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(500));
        worst = (worst.0.max((runs() - before) as f64), worst.1.max(settled));
    }
    worst
}

/// One service flipping 60 times: (check exit -> file renamed, check exit ->
/// reconfigure finished), p50 and p99 in ms.
fn failover(namespace: &Namespace, bird: bool) -> [f64; 4] {
    let check = |_: usize, dir: &Path| {
        let d = dir.display();
        format!("/bin/sh -c 'test -e {d}/flag; r=$?; date +%%s%%N > {d}/stamp; exit $r'")
    };
    let dir_holder = tempfile::Builder::new().prefix("ahcbb").tempdir().expect("temp dir");
    let mut bird_child = None;
    let reconfigure = if bird {
        let d = dir_holder.path().display();
        std::fs::write(
            dir_holder.path().join("p4.conf"),
            "define ACAST_PS_ADVERTISE = [ 10.189.200.255/32 ];\n",
        )
        .unwrap();
        std::fs::write(
            dir_holder.path().join("bird.conf"),
            "router id 192.0.2.1;\ninclude \"p4.conf\";\nprotocol device {}\n\
             protocol static static1 { ipv4; route 10.200.0.1/32 blackhole; }\n",
        )
        .unwrap();
        bird_child = Some(
            Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &namespace.name,
                    "/usr/sbin/bird",
                    "-f",
                    "-c",
                    "bird.conf",
                    "-s",
                    "b.ctl",
                    "-P",
                    "b.pid",
                ])
                .current_dir(dir_holder.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start bird"),
        );
        // A Bird that did not start would make every configure a fast failure, and the
        // figures would time that.
        let ctl = dir_holder.path().join("b.ctl");
        let up = (0..50).any(|_| {
            std::thread::sleep(Duration::from_millis(100));
            Command::new("/usr/sbin/birdc")
                .args(["-s", &ctl.display().to_string(), "show", "status"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success())
        });
        assert!(up, "Bird did not start for the failover bench (see {})", dir_holder.path().display());
        format!("/bin/sh -c '/usr/sbin/birdc -s {d}/b.ctl configure; date +%%s%%N > done'")
    } else {
        "/bin/sh -c 'echo Reconfigured; date +%%s%%N > done'".to_string()
    };
    let daemon = Daemon::start(namespace, 1, &check, &reconfigure);
    if bird {
        // Bird includes the daemon's file: point Bird at it.
        let p4 = daemon.path("p4.conf");
        daemon.wait_for("the file", Duration::from_secs(10), |d| d.prefix_count() == 1);
        let _ = std::fs::remove_file(dir_holder.path().join("p4.conf"));
        std::os::unix::fs::symlink(&p4, dir_holder.path().join("p4.conf")).unwrap();
    }
    daemon.wait_for("the first decision", Duration::from_secs(10), |d| d.log_count(" changed to ") == 1);
    let renames = watch_renames(daemon.dir.path(), "p4.conf");
    let (mut renamed, mut finished) = (Vec::new(), Vec::new());
    for flip in 0..60 {
        let up = flip % 2 == 0;
        let _ = std::fs::remove_file(daemon.path("done"));
        if up {
            std::fs::write(daemon.path("flag"), "").unwrap();
        } else {
            let _ = std::fs::remove_file(daemon.path("flag"));
        }
        daemon.signal(libc::SIGURG);
        // `date > file` truncates before it writes: wait until both stamps parse.
        let number = |d: &Daemon, name: &str| {
            std::fs::read_to_string(d.path(name)).ok().and_then(|t| t.trim().parse::<f64>().ok())
        };
        daemon.wait_for("the reconfigure", Duration::from_secs(10), |d| {
            number(d, "done").is_some() && number(d, "stamp").is_some()
        });
        let read = |name: &str| number(&daemon, name).unwrap_or(f64::NAN);
        let stamp = read("stamp");
        // The file's mtime has the kernel's coarse clock (milliseconds); the rename is
        // timed by an inotify watch instead.
        let renamed_at =
            renames.lock().unwrap().iter().copied().filter(|at| *at > stamp).fold(f64::INFINITY, f64::min);
        renamed.push((renamed_at - stamp) / 1e6);
        finished.push((read("done") - stamp) / 1e6);
        // Isolated flips: each finds Bird idle and rested (it rests as long as its last
        // configure took, see src/bird/plan.rs).
        std::thread::sleep(Duration::from_millis(250));
    }
    drop(daemon);
    if let Some(mut child) = bird_child.take() {
        // SAFETY: kill has no memory effects.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let _ = child.wait();
    }
    [
        percentile(&mut renamed, 50.0),
        percentile(&mut renamed, 99.0),
        percentile(&mut finished, 50.0),
        percentile(&mut finished, 99.0),
    ]
}

/// Wall-clock times (ns since the epoch) at which `name` was renamed into `dir`.
fn watch_renames(dir: &Path, name: &str) -> std::sync::Arc<std::sync::Mutex<Vec<f64>>> {
    use std::os::unix::ffi::OsStrExt;
    let times = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    // SAFETY: inotify_init1 takes flags and returns a new fd or -1.
    let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
    assert!(fd >= 0, "inotify_init1");
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).unwrap();
    // SAFETY: `path` is a NUL-terminated string that outlives the call.
    assert!(unsafe { libc::inotify_add_watch(fd, path.as_ptr(), libc::IN_MOVED_TO) } >= 0);
    let (name, sink) = (name.to_string(), std::sync::Arc::clone(&times));
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        loop {
            // SAFETY: `buffer` is valid for writes of its length; `fd` stays open.
            let n = unsafe { libc::read(fd, buffer.as_mut_ptr().cast(), buffer.len()) };
            if n <= 0 {
                return;
            }
            let at = std::time::SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as f64;
            let mut offset = 0;
            while offset + 16 <= n as usize {
                let length =
                    u32::from_ne_bytes(buffer[offset + 12..offset + 16].try_into().unwrap()) as usize;
                let raw = &buffer[offset + 16..offset + 16 + length];
                let event_name = raw.split(|b| *b == 0).next().unwrap_or_default();
                if event_name == name.as_bytes() {
                    sink.lock().unwrap().push(at);
                }
                offset += 16 + length;
            }
        }
    });
    times
}

/// The targets against the medians: met, or missed by how much. `side` holds, per N,
/// the medians of [PSS, RSS, own CPU per check, floor per spawn, host, floor host].
fn targets(table: &mut String, medians: &[(usize, [f64; 9])], side: &[(usize, [f64; 7])], failover_p50: f64) {
    let _ = writeln!(table, "\nTargets (2-core machine):\n");
    let _ = writeln!(table, "| target | measured | |");
    let _ = writeln!(table, "|---|---:|---|");
    let verdict = |ok: bool| if ok { "met" } else { "**missed**" };
    let mut row = |what: String, measured: String, ok: bool| {
        let _ = writeln!(table, "| {what} | {measured} | {} |", verdict(ok));
    };
    for (count, limit) in [(200, 6.0), (1000, 16.0)] {
        if let Some((_, m)) = side.iter().find(|(n, _)| *n == count) {
            row(format!("N={count}: PSS at most {limit:.0} MiB"), format!("{:.1} MiB", m[0]), m[0] <= limit);
        }
    }
    if let Some((_, m)) = medians.iter().find(|(n, _)| *n == 1000) {
        row(
            "N=1000 at 1 s: daemon's own CPU at most 5% of a core".into(),
            format!("{:.1}%", m[1]),
            m[1] <= 5.0,
        );
    }
    if let Some((_, m)) = side.iter().find(|(n, _)| *n == 1000) {
        let ratio = m[2] / m[3];
        row(
            "N=1000: own CPU per check / floor's per spawn at most 1.3".into(),
            format!("{ratio:.2}"),
            ratio <= 1.3,
        );
    }
    for count in [200, 1000] {
        if let Some((_, m)) = side.iter().find(|(n, _)| *n == count) {
            let ratio = m[4] / m[5];
            row(
                format!("N={count}: whole-host CPU / floor at most 1.1 (each process tree's exact CPU)"),
                format!("{ratio:.2}"),
                ratio <= 1.1,
            );
        }
    }
    if let Some((_, m)) = medians.iter().find(|(n, _)| *n == 1000) {
        row(
            "N=1000 storm: final file in under 1 s".into(),
            format!("{:.3} s (floor {:.3} s)", m[7], m[8]),
            m[7] < 1.0,
        );
        row("N=1000: RSS under 64 MiB".into(), format!("{:.1} MiB", m[2]), m[2] < 64.0);
    }
    row(
        "failover p50 under 10 ms (check exit to reconfigure done)".into(),
        format!("{failover_p50:.2} ms"),
        failover_p50 < 10.0,
    );
    let _ = writeln!(table, "\n{WHY}");
}

/// What the figures mean; see README.rst, Performance, and the profiles below.
const WHY: &str = "Whole host is each side's process tree, measured exactly (utime and stime of the \
process and of the children it reaped): /proc/stat samples each CPU at the 4 ms tick and counted a \
quarter of a timer-driven load. Each side's whole tree is given at N checks a second, from its CPU per \
check or spawn actually made: a side that falls behind its rate on a busy machine is not made to look \
cheaper by it. The floor spawns from a small single-threaded process. Per check \
the daemon also wakes a sleeping thread, reads the check's two pipes, logs upstream's four lines and decides; \
a thousand threads each woken once a second are cold where the floor's one thread is not. The \
floor's own CPU at N=1000 is above the 5% target by itself. The storm is timed from SIGURG (every \
check at once) to the final file; its floor is one thread starting the same checks at once and \
reaping them. A thousand service threads woken together take longer (they, their checks and the writer \
share two cores). A check asked for stands in for the service's slots less than an interval away, \
so no regular check joins the storm. The reconfigure here answers at once (`echo`), and one Bird's \
`configure`s are paced by their own time only (each waits for the last, and for a rest as long as it \
took), so the count above is the writer's pace, not a real Bird's: the `configure`s a real Bird 2 runs \
in a storm, and what its BGP peer sees, are `cargo bench --bench storm`'s.";

fn main() {
    if let Ok(spec) = std::env::var("AHC_BENCH_FLOOR") {
        floor_loop(&spec);
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("the benchmark creates a network namespace: run it as root");
        std::process::exit(1);
    }
    let options = options();
    let bird = Path::new("/usr/sbin/bird").exists() && Path::new("/usr/sbin/birdc").exists();
    let mut table = String::new();
    let _ = writeln!(table, "Machine: {}  ", machine());
    let bench_started = common::cpu_steal_ticks();
    let _ = writeln!(
        table,
        "Medians of {} runs; steady state over {} s at check_interval = 1 s.\n",
        options.runs, options.seconds
    );
    let _ = writeln!(
        table,
        "| N | CPU s / 1000 checks | daemon CPU (% of a core) | RSS (MiB) | threads | checks/s done | timeouts/s | storm: reconfigures | storm: time to final file (s) | storm floor: one thread starting the same checks (s) |"
    );
    let _ = writeln!(table, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut medians: Vec<(usize, [f64; 9])> = Vec::new();
    let mut side_by_side: Vec<(usize, [f64; 7])> = Vec::new();
    for &count in &options.sizes {
        let namespace = Namespace::new(count);
        let mut rows: Vec<[f64; 9]> = Vec::new();
        for run in 0..options.runs {
            let run_started = common::cpu_steal_ticks();
            let [per_1000, share, rss, threads, rate, timeouts, pss, host, stack] =
                steady(&namespace, count, options.seconds);
            let (floor_per_spawn, floor_host) = floor(count, options.seconds);
            eprintln!(
                "N={count} run {}: PSS {pss:.1} MiB ({stack:.0} KiB of stack per service thread); own CPU per check {per_1000:.4} ms vs the floor's per spawn \
                 {floor_per_spawn:.4} ms; whole tree {host:.1}% vs the floor's {floor_host:.1}% ({:.1}% of CPU time stolen)",
                run + 1,
                common::steal_percent_since(run_started)
            );
            side_by_side.push((count, [pss, rss, per_1000, floor_per_spawn, host, floor_host, stack]));
            let (runs, settle) = storm(&namespace, count);
            let settle_floor = storm_floor(count);
            eprintln!(
                "N={count} run {}: {per_1000:.4} CPU s/1000 checks, {share:.2}% CPU, {rss:.1} MiB, {threads} threads, \
                 {rate:.0} checks/s, {timeouts:.1} timeouts/s; storm {runs} reconfigures, {settle:.3} s \
                 (one thread starting the same {count} checks: {settle_floor:.3} s)",
                run + 1
            );
            rows.push([per_1000, share, rss, threads, rate, timeouts, runs, settle, settle_floor]);
        }
        let column = |i: usize| median(rows.iter().map(|r| r[i]).collect());
        medians.push((count, std::array::from_fn(column)));
        let _ = writeln!(
            table,
            "| {count} | {:.4} | {:.2} | {:.1} | {:.0} | {:.0} | {:.1} | {:.0} | {:.3} | {:.3} |",
            column(0),
            column(1),
            column(2),
            column(3),
            column(4),
            column(5),
            column(6),
            column(7),
            column(8)
        );
    }
    let _ = writeln!(
        table,
        "\nMemory, and the daemon against the floor (one thread that posix_spawns the same checks at the \
         same rate and waits for each), measured in the same runs:\n"
    );
    let _ = writeln!(
        table,
        "| N | PSS (MiB) | RSS (MiB) | stack resident per service thread (KiB) | own CPU per check (ms) | floor's own CPU per spawn (ms) | ratio | whole tree: daemon and checks (% of a core) | floor and its children | ratio |"
    );
    let _ = writeln!(table, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for &count in &options.sizes {
        let rows: Vec<[f64; 7]> = side_by_side.iter().filter(|(n, _)| *n == count).map(|(_, r)| *r).collect();
        let m = |i: usize| median(rows.iter().map(|r| r[i]).collect());
        let _ = writeln!(
            table,
            "| {count} | {:.1} | {:.1} | {:.0} | {:.4} | {:.4} | {:.2} | {:.1} | {:.1} | {:.2} |",
            m(0),
            m(1),
            m(6),
            m(2),
            m(3),
            m(2) / m(3),
            m(4),
            m(5),
            m(4) / m(5)
        );
    }
    let namespace = Namespace::new(1);
    let reconfigure =
        if bird { "Bird 2 (`birdc configure`)" } else { "`/bin/echo Reconfigured` (no Bird found)" };
    let [renamed50, renamed99, done50, done99] = failover(&namespace, bird);
    let _ = writeln!(
        table,
        "\nFailover latency, 60 isolated flips (0.25 s apart), reconfigure by {reconfigure}:\n"
    );
    let _ = writeln!(table, "| from the decisive check's exit to | p50 (ms) | p99 (ms) |");
    let _ = writeln!(table, "|---|---:|---:|");
    let _ = writeln!(table, "| the Bird file renamed | {renamed50:.2} | {renamed99:.2} |");
    let _ = writeln!(table, "| the reconfigure finished | {done50:.2} | {done99:.2} |");
    let side_medians: Vec<(usize, [f64; 7])> = options
        .sizes
        .iter()
        .map(|&count| {
            let rows: Vec<[f64; 7]> =
                side_by_side.iter().filter(|(n, _)| *n == count).map(|(_, r)| *r).collect();
            (count, std::array::from_fn(|i| median(rows.iter().map(|r| r[i]).collect())))
        })
        .collect();
    targets(&mut table, &medians, &side_medians, done50);
    let _ = writeln!(
        table,
        "\nCPU time stolen by the hypervisor during the bench (/proc/stat): {:.1}%. Above a few percent the \
         machine's host was busy: everything ran slower, a thousand threads more than one.",
        common::steal_percent_since(bench_started)
    );
    println!("{table}");
    common::write_section(
        "daemon",
        &format!("## Check commands\n\nProduced by `cargo bench --bench daemon` (see benches/daemon.rs and README.rst).\n\n{table}"),
    );
}
