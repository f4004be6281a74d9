//! Storms as the BGP peer sees them (run as root, with Bird 2: it makes network
//! namespaces):
//!
//!     cargo bench --bench storm                        # N = 1000 and 200, 5 storms each
//!     cargo bench --bench storm -- --sizes 200 --storms 3
//!     cargo bench --bench storm -- --baseline /path/to/another/anycast-healthchecker
//!     cargo bench --bench storm -- --upstream          # and the Python program (PyPI 0.9.10)
//!     cargo bench --bench storm -- --deadline 900 --section storm-upstream ...
//!
//! A real Bird 2 speaker runs the shipped example (`conf.d/bird/bird2.conf`) with a
//! static route for each of N service prefixes, and a Bird 2 peer learns what it
//! exports over BGP (the lab of the end-to-end tests, `tests/common/bird.rs`). The
//! daemon runs beside the speaker, reconfiguring it over its control socket, with N
//! services `check_cmd = /bin/sh -c 'test -e FLAG'`, `check_interval = 1`,
//! `check_rise = check_fail = 1` and everything else as shipped (the service addresses
//! on `lo`, so the address check runs). A storm removes the flag (every service
//! fails) and then puts it back (every service recovers), each at a phase of the
//! checks' 1 s cycle drawn at random per round and the same for every build; the peer's
//! route count is polled every 10 ms. For each direction it reports:
//! - the time from the flag's change until the peer has none (all), what clients see;
//! - the `configure`s Bird ran and the time it spent in them (the daemon's log);
//! - the time until the Bird file was final (the daemon's log), a second figure.
//!
//! Every storm starts a fresh lab and daemon. With `--baseline BINARY` (or
//! `--build NAME=BINARY`, repeatable) the builds take turns storm by storm, so that
//! what the machine does meanwhile falls on all of them alike; `--upstream` adds the
//! Python anycast-healthchecker 0.9.10 (installed from PyPI into a virtual environment
//! under target/tmp), which reconfigures Bird with `birdc` as it must. The slowest storm of
//! each build and size is printed as a timeline (flag change = 0 s). The table is
//! written to benches/RESULTS.md with the machine and date.

use std::fmt::Write as _;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod common;
#[allow(unused_imports)]
#[path = "../tests/common/mod.rs"]
mod lab;

use anycast_healthchecker::bird::control;
use common::{machine, median};
use lab::bird::{Lab, Speaker};

/// One build of the daemon to storm.
struct Build {
    name: String,
    binary: PathBuf,
    /// The Python anycast-healthchecker: it reconfigures Bird with `birdc`.
    upstream: bool,
}

impl Build {
    fn ours(name: &str, binary: impl Into<PathBuf>) -> Build {
        Build { name: name.into(), binary: binary.into(), upstream: false }
    }
}

struct Options {
    sizes: Vec<usize>,
    storms: usize,
    /// How long a build may take to announce every service, or to finish a storm.
    deadline: Duration,
    /// The section of benches/RESULTS.md the table goes to.
    section: String,
    builds: Vec<Build>,
}

fn options() -> Options {
    let this = Build::ours("this build", env!("CARGO_BIN_EXE_anycast-healthchecker"));
    let mut options = Options {
        sizes: vec![1000, 200],
        storms: 5,
        deadline: Duration::from_secs(240),
        section: "storm".into(),
        builds: vec![this],
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--sizes" => options.sizes = value.split(',').filter_map(|n| n.parse().ok()).collect(),
            "--storms" => options.storms = value.parse().unwrap_or(5),
            "--deadline" => options.deadline = Duration::from_secs(value.parse().unwrap_or(240)),
            "--section" => options.section = value,
            "--baseline" => options.builds.push(Build::ours("baseline", value)),
            "--build" => match value.split_once('=') {
                Some((name, binary)) => options.builds.push(Build::ours(name, binary)),
                None => panic!("--build NAME=BINARY, not {value:?}"),
            },
            "--upstream" => {
                let binary = lab::upstream::upstream_or_skip().expect("the Python anycast-healthchecker");
                let name = format!("upstream {}", lab::upstream::VERSION);
                options.builds.push(Build { name, binary, upstream: true });
                i += 1;
                continue;
            }
            _ => {
                // cargo bench passes --bench; anything else is not ours either.
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    for build in &options.builds {
        assert!(build.binary.exists(), "{}: {} does not exist", build.name, build.binary.display());
    }
    options
}

/// A service's address: 10.200.0.1 onwards.
fn address(i: usize) -> String {
    format!("10.200.{}.{}", i / 250, i % 250 + 1)
}

/// Seconds since the epoch.
fn wall_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// The seconds since the epoch of a log line's `YYYY-MM-DD HH:MM:SS,mmm` (the daemon
/// runs with TZ=UTC0).
fn log_time(line: &str) -> Option<f64> {
    let stamp = line.get(..23)?;
    let number = |range: std::ops::Range<usize>| stamp.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second, millis) = (number(11..13)?, number(14..16)?, number(17..19)?, number(20..23)?);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + hour * 3600 + minute * 60 + second) as f64 + millis as f64 / 1000.0)
}

/// The daemon's log, read as it grows.
struct LogTail {
    path: PathBuf,
    offset: u64,
}

impl LogTail {
    /// The whole lines written since the last call.
    fn new_lines(&mut self) -> Vec<String> {
        let Ok(mut file) = std::fs::File::open(&self.path) else { return Vec::new() };
        let mut text = String::new();
        if file.seek(SeekFrom::Start(self.offset)).is_err() || file.read_to_string(&mut text).is_err() {
            return Vec::new();
        }
        let whole = text.rfind('\n').map_or(0, |end| end + 1);
        self.offset += whole as u64;
        text[..whole].lines().map(str::to_string).collect()
    }
}

/// One direction of one storm.
#[derive(Clone, Default)]
struct Storm {
    /// Seconds from the flag's change until the peer had none (all).
    peer: f64,
    /// Seconds until the last write of the Bird file.
    file: f64,
    configures: usize,
    /// Milliseconds Bird spent in those configures (the daemon's own measure).
    bird_ms: f64,
    /// Checks that timed out.
    timeouts: usize,
    timeline: String,
}

/// A lab, its addresses and a daemon running `count` services of `build`.
struct Setup {
    lab: Lab,
    daemon: Child,
    /// When the daemon was started: its services' checks keep their phase from it.
    spawned: Instant,
    dir: tempfile::TempDir,
    log: LogTail,
    count: usize,
    deadline: Duration,
}

impl Setup {
    fn start(build: &Build, count: usize, deadline: Duration) -> Setup {
        // Short: Bird's control sockets live here.
        let dir = tempfile::Builder::new().prefix("ahs").tempdir_in("/tmp").expect("temp dir");
        let root = dir.path().to_path_buf();
        let (p4, p6) = (root.join("p4.conf"), root.join("p6.conf"));
        let mut routes = String::from("protocol static storm4 {\n  ipv4;\n");
        for i in 0..count {
            let _ = writeln!(routes, "  route {}/32 blackhole;", address(i));
        }
        routes.push_str("}\n");
        let lab = Lab::start_with(Speaker::Bird2, &root, &p4, &p6, &routes);
        let mut batch = String::new();
        for i in 0..count {
            let _ = writeln!(batch, "addr add {}/32 dev lo", address(i));
        }
        ip_batch(lab.speaker_namespace(), &batch);
        let r = root.display();
        // Ours speaks Bird's control socket, as shipped; upstream runs birdc.
        let reconfigure = if build.upstream {
            let (birdc, birdc6) = lab.reconfigure_commands();
            format!("bird_reconfigure_cmd = {birdc}\nbird6_reconfigure_cmd = {birdc6}\n")
        } else {
            let (socket, _) = lab.speaker_sockets();
            let s = socket.display();
            format!("bird_control_socket = {s}\nbird6_control_socket = {s}\n")
        };
        std::fs::write(
            root.join("main.conf"),
            format!(
                "[DEFAULT]\ncheck_disabled = false\ncheck_interval = 1\ncheck_rise = 1\ncheck_fail = 1\n\
                 [daemon]\npidfile = {r}/ahc.pid\nbird_conf = {r}/p4.conf\nbird6_conf = {r}/p6.conf\n\
                 {reconfigure}log_file = {r}/daemon.log\nlog_maxbytes = 0\nstderr_file = {r}/stderr.log\n"
            ),
        )
        .expect("main.conf");
        let mut services = String::new();
        for i in 0..count {
            let _ = write!(
                services,
                "[svc{i}]\ncheck_cmd = /bin/sh -c 'test -e {r}/flag'\nip_prefix = {}/32\n\n",
                address(i)
            );
        }
        std::fs::write(root.join("services.conf"), services).expect("services.conf");
        std::fs::write(root.join("flag"), "").expect("flag");
        let spawned = Instant::now();
        let daemon = Command::new("ip")
            .args(["netns", "exec", lab.speaker_namespace()])
            .arg(&build.binary)
            .args(["-f", "main.conf", "-F", "services.conf"])
            .current_dir(&root)
            .env("TZ", "UTC0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the daemon");
        let log = LogTail { path: root.join("daemon.log"), offset: 0 };
        let mut setup = Setup { lab, daemon, spawned, dir, log, count, deadline };
        setup.wait_for_peer(count, deadline).expect("the peer never learned every service");
        setup
    }

    /// The number of IPv4 routes the peer has.
    fn peer_count(&self) -> Option<usize> {
        let socket = self.dir.path().join("b.ctl");
        let reply =
            control::request(&socket, "show route table master4 count", Duration::from_secs(2)).ok()?;
        reply.iter().find_map(|(_, text)| {
            let (count, rest) = text.trim().split_once(' ')?;
            rest.starts_with("of ").then(|| count.parse().ok()).flatten()
        })
    }

    /// Polls the peer every 10 ms until it has `want` routes; the changes it saw, as
    /// (seconds since the epoch, count).
    fn wait_for_peer(&mut self, want: usize, timeout: Duration) -> Result<Vec<(f64, usize)>, String> {
        let deadline = Instant::now() + timeout;
        let mut seen: Vec<(f64, usize)> = Vec::new();
        loop {
            let count = self.peer_count();
            if let Some(count) = count {
                if seen.last().map(|(_, c)| *c) != Some(count) {
                    seen.push((wall_now(), count));
                }
                if count == want {
                    return Ok(seen);
                }
            }
            if Instant::now() >= deadline {
                return Err(format!("the peer has {count:?} routes, not {want}\n{}", self.diagnostics()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The Bird logs and the ends of the daemon's, for a failure.
    fn diagnostics(&self) -> String {
        let tail = |name: &str| {
            let text = std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(20)..].join("\n")
        };
        format!(
            "{}\n--- daemon.log\n{}\n--- stderr.log\n{}",
            self.lab.logs(),
            tail("daemon.log"),
            tail("stderr.log")
        )
    }

    /// Fails every service (`up` false) or brings them back, and measures.
    /// `phase` (0 to 1) is where in a check interval, counted from the daemon's start,
    /// the flag changes: the same for every build of a round, so that they are
    /// compared at the same moment of their checks' cycle.
    fn storm(&mut self, up: bool, phase: f64) -> Storm {
        // Steady state first (2 s): the last storm's lines are read and left behind.
        // Then the round's phase: the services' checks run at fixed phases of a 1 s
        // interval from the daemon's start, and a flag changed at a fixed delay after
        // the last storm would meet the phase the last storm left.
        let earliest = Instant::now() + Duration::from_secs(2);
        let since_spawn = earliest.duration_since(self.spawned).as_secs_f64();
        let wait = (phase - since_spawn).rem_euclid(1.0);
        std::thread::sleep(earliest.duration_since(Instant::now()) + Duration::from_secs_f64(wait));
        self.log.new_lines();
        let flag = self.dir.path().join("flag");
        let started = wall_now();
        if up {
            std::fs::write(&flag, "").expect("flag");
        } else {
            std::fs::remove_file(&flag).expect("flag");
        }
        let want = if up { self.count } else { 0 };
        let peer = self.wait_for_peer(want, self.deadline).expect("the storm never reached the peer");
        let reached = peer.last().map_or(started, |(t, _)| *t);
        // What the writer did after the peer had it all (a configure that changed
        // nothing, a file rewritten) is logged within a second.
        std::thread::sleep(Duration::from_secs(1));
        let lines: Vec<(f64, String)> = self
            .log
            .new_lines()
            .into_iter()
            .filter_map(|line| Some((log_time(&line)?, line)))
            .filter(|(t, _)| *t >= started - 0.002)
            .collect();
        summarize(started, reached, &peer, &lines)
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        common::stop(&mut self.daemon);
    }
}

/// A number in [0, 1), different each call (no random crate for a bench: the clock's
/// nanoseconds, mixed): a round's phases.
fn jitter() -> f64 {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos() as u64);
    let mut x = nanos ^ 0x9E37_79B9_7F4A_7C15;
    x ^= x >> 33;
    x = x.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    x ^= x >> 33;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

fn ip_batch(namespace: &str, batch: &str) {
    use std::io::Write;
    let mut child = Command::new("ip")
        .args(["-n", namespace, "-batch", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("ip -batch");
    child.stdin.take().expect("stdin").write_all(batch.as_bytes()).expect("write the batch");
    assert!(child.wait().expect("wait for ip").success(), "ip -batch failed");
}

/// The figures and the timeline of one direction, from the log lines since `started`
/// and the peer's counts.
fn summarize(started: f64, reached: f64, peer: &[(f64, usize)], lines: &[(f64, String)]) -> Storm {
    let since = |t: f64| t - started;
    let mut storm = Storm { peer: since(reached), ..Storm::default() };
    let mut events: Vec<(f64, String)> = Vec::new();
    let changes: Vec<f64> = lines.iter().filter(|(_, l)| l.contains("changed to")).map(|(t, _)| *t).collect();
    if let (Some(first), Some(last)) = (changes.first(), changes.last()) {
        events.push((*first, format!("first of {} services changes state", changes.len())));
        events.push((*last, "last service changes state".to_string()));
    }
    let writes: Vec<f64> = lines
        .iter()
        .filter(|(_, l)| l.contains("Bird configuration for IPv4 is updated"))
        .map(|(t, _)| *t)
        .collect();
    storm.file = writes.last().map_or(f64::NAN, |t| since(*t));
    // Bird's time is read from the log's clock, start line to done line: upstream does
    // not log how long a configure took.
    let mut started_at: Option<f64> = None;
    for (t, line) in lines {
        if line.contains("reconfiguring BIRD by running") {
            let written = writes.iter().filter(|w| **w <= *t).count();
            events.push((*t, format!("configure starts ({written} file writes so far)")));
            started_at = Some(*t);
        } else if line.contains("reconfigured BIRD daemon") {
            let ms = started_at.take().map_or(0.0, |start| 1000.0 * (t - start));
            storm.configures += 1;
            storm.bird_ms += ms;
            events.push((*t, format!("configure done in {ms:.0} ms")));
        } else if line.contains("check timed out") {
            storm.timeouts += 1;
            if storm.timeouts == 1 {
                events.push((*t, "a check timed out (the first)".to_string()));
            }
        }
    }
    if let Some(last) = writes.last() {
        events.push((*last, format!("last of {} file writes", writes.len())));
    }
    let _ = writeln!(storm.timeline, "  (0 s is {started:.3} s since the epoch)");
    for (t, count) in peer {
        events.push((*t, format!("peer has {count}")));
    }
    events.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (t, what) in events {
        let _ = writeln!(storm.timeline, "  {:+7.3} s  {what}", since(t));
    }
    storm
}

/// Median and range of `values`, as `1.23 (1.05-4.18)`.
fn spread(values: &[f64]) -> String {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{:.2} ({min:.2}-{max:.2})", median(values.to_vec()))
}

fn main() {
    let options = options();
    assert!(
        lab::bird::lab_available(Speaker::Bird2),
        "the storm bench needs root and Bird 2 (apt-get install bird2)"
    );
    let steal_since = common::cpu_steal_ticks();
    // results[size][build] = (fail storms, recover storms)
    let mut results: Vec<Vec<(Vec<Storm>, Vec<Storm>)>> = options
        .sizes
        .iter()
        .map(|_| options.builds.iter().map(|_| (Vec::new(), Vec::new())).collect())
        .collect();
    for round in 0..options.storms {
        // Each size's two phases for this round, the same for every build.
        let phases: Vec<(f64, f64)> = options.sizes.iter().map(|_| (jitter(), jitter())).collect();
        for (s, &count) in options.sizes.iter().enumerate() {
            for (b, build) in options.builds.iter().enumerate() {
                let mut setup = Setup::start(build, count, options.deadline);
                let (down_phase, up_phase) = phases[s];
                let down = setup.storm(false, down_phase);
                let up = setup.storm(true, up_phase);
                eprintln!(
                    "storm {}/{} N={count} {}: peer has none {:.2} s ({} configures), all {:.2} s ({} configures)",
                    round + 1,
                    options.storms,
                    build.name,
                    down.peer,
                    down.configures,
                    up.peer,
                    up.configures
                );
                results[s][b].0.push(down);
                results[s][b].1.push(up);
            }
        }
    }
    let steal = common::steal_percent_since(steal_since);

    let mut table = String::new();
    let _ = writeln!(table, "## Storms at the BGP peer\n");
    let _ =
        writeln!(table, "Produced by `cargo bench --bench storm` (see benches/storm.rs and README.rst).\n");
    let _ = writeln!(table, "Machine: {}  ", machine());
    let _ = writeln!(
        table,
        "{} storms per build and size, each on a fresh lab: real Bird 2 speaker and BGP peer, N services \
         `/bin/sh -c 'test -e FLAG'`, check_interval = 1, rise = fail = 1; the flag removed (all fail), \
         then restored (all recover). Medians (range).\n",
        options.storms
    );
    let builds: Vec<String> =
        options.builds.iter().map(|b| format!("{}: `{}`", b.name, b.binary.display())).collect();
    let _ = writeln!(table, "Builds: {}.\n", builds.join("; "));
    let _ = writeln!(
        table,
        "| N | build | all fail: peer has none (s) | all recover: peer has all (s) | configures (fail / recover) | \
         Bird's time in them (ms, fail / recover) | final file (s, fail / recover) | check timeouts |"
    );
    let _ = writeln!(table, "|---:|---|---:|---:|---:|---:|---:|---:|");
    let mut timelines = String::new();
    for (s, &count) in options.sizes.iter().enumerate() {
        for (b, build) in options.builds.iter().enumerate() {
            let (down, up) = &results[s][b];
            let figure = |storms: &[Storm], f: fn(&Storm) -> f64| storms.iter().map(f).collect::<Vec<f64>>();
            let _ = writeln!(
                table,
                "| {count} | {} | {} | {} | {:.0} / {:.0} | {:.0} / {:.0} | {:.2} / {:.2} | {:.0} |",
                build.name,
                spread(&figure(down, |s| s.peer)),
                spread(&figure(up, |s| s.peer)),
                median(figure(down, |s| s.configures as f64)),
                median(figure(up, |s| s.configures as f64)),
                median(figure(down, |s| s.bird_ms)),
                median(figure(up, |s| s.bird_ms)),
                median(figure(down, |s| s.file)),
                median(figure(up, |s| s.file)),
                median(figure(down, |s| s.timeouts as f64)) + median(figure(up, |s| s.timeouts as f64)),
            );
            for (direction, storms) in [("all fail", down), ("all recover", up)] {
                if let Some(slowest) = storms.iter().max_by(|a, b| a.peer.total_cmp(&b.peer)) {
                    let _ = writeln!(
                        timelines,
                        "N={count}, {}, {direction}, the slowest of {} ({:.2} s at the peer):\n\n```\n{}```\n",
                        build.name,
                        storms.len(),
                        slowest.peer,
                        slowest.timeline
                    );
                }
            }
        }
    }
    let _ = writeln!(
        table,
        "\nCPU time stolen by the hypervisor during the bench (/proc/stat): {steal:.1}%.\n\n\
         The slowest storm of each build, size and direction, as the daemon's log and the peer saw it \
         (0 s is the flag's change):\n\n{timelines}"
    );
    println!("{table}");
    common::write_section(&options.section, table.trim_end());
}
