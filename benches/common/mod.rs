//! What the benchmarks share: percentiles, the machine's description, CPU clocks,
//! and writing one bench's section of benches/RESULTS.md without touching the others.
#![allow(dead_code)]
#![allow(unsafe_code)] // the floor spawns with posix_spawn, as glibc does

use std::path::Path;
use std::process::Command;

pub fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let index = ((p / 100.0) * (values.len() - 1) as f64).round() as usize;
    values[index.min(values.len() - 1)]
}

pub fn median(mut values: Vec<f64>) -> f64 {
    percentile(&mut values, 50.0)
}

/// One of the floors' checks as a NULL-terminated argv for `posix_spawn`, its strings
/// leaked: a floor runs until its process ends.
pub struct FloorArgv(pub Vec<*mut libc::c_char>);

// SAFETY: the pointed-to strings are leaked, never written and never freed.
unsafe impl Send for FloorArgv {}
// SAFETY: as above; the pointers are only read.
unsafe impl Sync for FloorArgv {}

/// The floors' two checks, the daemon bench's own: `/bin/true` and `/bin/sh -c 'exit 0'`.
pub fn floor_checks() -> [FloorArgv; 2] {
    let argv = |words: &[&str]| {
        let pointers = words
            .iter()
            .map(|w| std::ffi::CString::new(*w).expect("no NUL").into_raw())
            .chain([std::ptr::null_mut()])
            .collect();
        FloorArgv(pointers)
    };
    [argv(&["/bin/true"]), argv(&["/bin/sh", "-c", "exit 0"])]
}

/// Starts `argv` with glibc's `posix_spawn` and waits for it, as a minimal spawner does.
pub fn spawn_and_wait(argv: &FloorArgv) {
    extern "C" {
        static environ: *const *mut libc::c_char;
    }
    let mut pid: libc::pid_t = 0;
    // SAFETY: argv is a NULL-terminated array of C strings that live as long as the
    // process; environ is the process's environment; no file actions or attributes.
    let spawned = unsafe {
        libc::posix_spawn(&mut pid, argv.0[0], std::ptr::null(), std::ptr::null(), argv.0.as_ptr(), environ)
    };
    if spawned == 0 {
        let mut status = 0;
        // SAFETY: waits for the child just spawned; status is a valid out pointer.
        unsafe { libc::waitpid(pid, &mut status, 0) };
    }
}

pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:").map(|v| v.trim().to_string()))
        .unwrap_or_default();
    let date = Command::new("date")
        .arg("+%Y-%m-%d")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!("{date}, {cores} cores ({cpu}), {memory} memory")
}

pub fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) as f64 }
}

/// CPU seconds of a process tree: one process's threads and every child it has reaped
/// (and theirs), from the process's utime, stime, cutime and cstime. Exact: the kernel
/// scales these to the tasks' real run time. /proc/stat's counts are sampled at each
/// tick instead, and a load woken by timers falls between ticks: the same daemon with
/// its checks spread over the second showed 26% of a core there and 106% here.
pub fn tree_cpu_seconds(pid: i32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    let ticks: f64 = (11..=14).filter_map(|i| fields.get(i).and_then(|v| v.parse::<f64>().ok())).sum();
    ticks / clock_ticks()
}

/// The machine's CPU time so far as (stolen by the hypervisor, all), from the `cpu`
/// line of /proc/stat: a virtual machine whose host is busy runs everything slower, so
/// the benches report how much was stolen while they measured.
pub fn cpu_steal_ticks() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<f64> = stat
        .lines()
        .find(|l| l.starts_with("cpu "))
        .map(|l| l.split_whitespace().skip(1).take(8).filter_map(|v| v.parse().ok()).collect())
        .unwrap_or_default();
    (fields.get(7).copied().unwrap_or(0.0), fields.iter().sum())
}

/// The share of CPU time stolen since `since` (a `cpu_steal_ticks`), in percent.
pub fn steal_percent_since(since: (f64, f64)) -> f64 {
    let now = cpu_steal_ticks();
    let all = now.1 - since.1;
    if all > 0.0 {
        100.0 * (now.0 - since.0) / all
    } else {
        0.0
    }
}

/// utime + stime of one process (its threads, not its children), in seconds.
pub fn process_cpu_seconds(pid: i32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    ticks / clock_ticks()
}

/// Stops a daemon as systemd would: SIGTERM, up to 20 s to exit, then SIGKILL.
pub fn stop(child: &mut std::process::Child) {
    // SAFETY: kill has no memory effects.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Replaces this bench's section of benches/RESULTS.md (between its markers), keeping
/// the other benches' sections.
pub fn write_section(bench: &str, text: &str) {
    let results = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/RESULTS.md");
    let (start, end) = (format!("<!-- bench:{bench} -->"), format!("<!-- /bench:{bench} -->"));
    let old = std::fs::read_to_string(&results).unwrap_or_else(|_| "# Benchmark results\n".to_string());
    let section = format!("{start}\n{text}\n{end}");
    let new = match (old.find(&start), old.find(&end)) {
        (Some(a), Some(b)) if a < b => format!("{}{section}{}", &old[..a], &old[b + end.len()..]),
        _ => format!("{}\n{section}\n", old.trim_end()),
    };
    if let Err(err) = std::fs::write(&results, new) {
        eprintln!("cannot write {}: {err}", results.display());
    }
}
