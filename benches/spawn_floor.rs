//! What the design card's thread per check costs by itself, without the daemon:
//!
//!     cargo bench --bench spawn_floor                 # N = 1000, 3 rounds
//!     cargo bench --bench spawn_floor -- 200 5        # N, rounds
//!
//! Two floors start the daemon bench's checks (`/bin/true` and `/bin/sh -c 'exit 0'`,
//! alternately) N times a second with glibc's `posix_spawn` and wait for each: one
//! thread pacing them 1/N s apart, as the daemon bench's floor, and N threads each
//! starting one a second, all due at the same moment (the daemon's default phases).
//! Each runs in a process of its own (this bench, re-executed), alternately, and reports
//! its own CPU per spawn over 10 s (children excluded, as the daemon bench's "own CPU
//! per check"). The N-thread floor also maps and unmaps a child stack per spawn inside
//! `posix_spawn`, which the daemon does not (src/spawn/), so it is an upper bound of
//! what N sleeping threads cost, not a lower one. Prints medians; see
//! benches/RESULTS.md.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

const SECONDS: u64 = 10;

/// Runs one floor (`threads` = 1 or N) in this process and prints its own CPU per
/// spawn in ms and its spawns a second, measured after a 3 s warm-up.
fn run_floor(threads: usize, rate: usize) {
    let done = Arc::new(AtomicUsize::new(0));
    let start = Instant::now() + Duration::from_millis(500);
    // One thread: a spawn every 1/rate s. N threads: each one a second, all due together.
    let period = Duration::from_secs(threads as u64) / rate as u32;
    let checks: &'static [common::FloorArgv; 2] = Box::leak(Box::new(common::floor_checks()));
    for i in 0..threads {
        let done = Arc::clone(&done);
        let spawned = std::thread::Builder::new().stack_size(128 * 1024).spawn(move || {
            let mut next = start;
            for k in 0.. {
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
                next += period;
                // The one thread alternates the checks; N threads take one each.
                let which = if threads == 1 { k % 2 } else { i % 2 };
                common::spawn_and_wait(&checks[which]);
                done.fetch_add(1, Ordering::Relaxed);
            }
        });
        spawned.expect("a floor thread");
    }
    std::thread::sleep(Duration::from_secs(3));
    let pid = std::process::id() as i32;
    let (cpu0, n0, t0) = (common::process_cpu_seconds(pid), done.load(Ordering::Relaxed), Instant::now());
    std::thread::sleep(Duration::from_secs(SECONDS));
    let (cpu1, n1) = (common::process_cpu_seconds(pid), done.load(Ordering::Relaxed));
    let spawns = (n1 - n0).max(1) as f64;
    println!("{} {}", 1000.0 * (cpu1 - cpu0) / spawns, spawns / t0.elapsed().as_secs_f64());
    std::process::exit(0);
}

fn main() {
    if let Ok(spec) = std::env::var("AHC_SPAWN_FLOOR") {
        let mut parts = spec.split(',').filter_map(|p| p.parse().ok());
        let (threads, rate) = (parts.next().unwrap_or(1), parts.next().unwrap_or(1000));
        run_floor(threads, rate);
        return;
    }
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let rate = args.first().copied().unwrap_or(1000).max(1);
    let rounds = args.get(1).copied().unwrap_or(3).max(1);
    let me = std::env::current_exe().expect("the bench's own path");
    let mut results: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for round in 0..rounds {
        for (slot, threads) in [1, rate].into_iter().enumerate() {
            let output = Command::new(&me)
                .env("AHC_SPAWN_FLOOR", format!("{threads},{rate}"))
                .output()
                .expect("run a floor");
            let text = String::from_utf8_lossy(&output.stdout);
            let mut fields = text.split_whitespace().filter_map(|f| f.parse::<f64>().ok());
            let (per_spawn, per_second) = (fields.next().unwrap_or(f64::NAN), fields.next().unwrap_or(0.0));
            eprintln!(
                "round {}: {threads} thread(s): {per_spawn:.4} ms own CPU per spawn, {per_second:.0} spawns/s",
                round + 1
            );
            results[slot].push(per_spawn);
        }
    }
    let one = common::median(results[0].clone());
    let many = common::median(results[1].clone());
    println!("Machine: {}", common::machine());
    println!(
        "{rate} spawns a second, medians of {rounds} alternated rounds of {SECONDS} s, own CPU per spawn:"
    );
    println!("| one thread | {rate} threads, one each a second | ratio |");
    println!("|---:|---:|---:|");
    println!("| {one:.4} ms | {many:.4} ms | {:.2} |", many / one);
}
