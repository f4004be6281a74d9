//! Prometheus metrics for the textfile collector: every upstream metric (same names,
//! types and labels) and ours, written atomically to
//! `<prometheus_collector_textfile_dir>/anycast_healthchecker.prom` every
//! `prometheus_exporter_interval` seconds.
//!
//! The registry is process-wide: service threads and the writer record into it without
//! any plumbing, and the exporter thread reads it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::config::Service;
use crate::prefix::IpVersion;

/// The file name the textfile collector reads.
pub const FILE_NAME: &str = "anycast_healthchecker.prom";

#[derive(Debug, Default, Clone)]
struct ServiceMetrics {
    prefixes: Vec<String>,
    state: Option<f64>,
    check_duration_ms: Option<f64>,
    ip_assignment: Option<bool>,
    ip_check_disabled: bool,
    timeouts: u64,
    created: f64,
    transitions: u64,
}

#[derive(Debug, Default, Clone)]
struct BirdMetrics {
    runs: u64,
    failures: u64,
    last_duration: f64,
    behind_since: Option<Instant>,
}

struct Registry {
    started: Instant,
    services: Mutex<BTreeMap<String, ServiceMetrics>>,
    bird: Mutex<BTreeMap<IpVersion, BirdMetrics>>,
    batches: AtomicU64,
    events: AtomicU64,
    last_batch: AtomicU64,
}

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Registry {
        started: Instant::now(),
        services: Mutex::new(BTreeMap::new()),
        bird: Mutex::new(BTreeMap::new()),
        batches: AtomicU64::new(0),
        events: AtomicU64::new(0),
        last_batch: AtomicU64::new(0),
    })
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn now_epoch() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// Sets the configured services: unchanged ones keep their series, new ones start
/// empty, removed ones go.
pub fn set_services(services: &[Service]) {
    let mut map = lock(&registry().services);
    let mut next = BTreeMap::new();
    for service in services {
        let mut entry = map
            .remove(&service.name)
            .unwrap_or_else(|| ServiceMetrics { created: now_epoch(), ..Default::default() });
        let prefixes: Vec<String> = service.ip_prefixes.iter().map(ToString::to_string).collect();
        if entry.prefixes != prefixes || entry.ip_check_disabled != service.ip_check_disabled {
            entry = ServiceMetrics { created: now_epoch(), ..Default::default() };
        }
        entry.prefixes = prefixes;
        entry.ip_check_disabled = service.ip_check_disabled;
        next.insert(service.name.clone(), entry);
    }
    *map = next;
}

fn with_service(name: &str, update: impl FnOnce(&mut ServiceMetrics)) {
    if let Some(entry) = lock(&registry().services).get_mut(name) {
        update(entry);
    }
}

/// A check finished: its duration, or a timeout.
pub fn check_finished(service: &str, duration: Option<Duration>) {
    with_service(service, |m| match duration {
        Some(d) => m.check_duration_ms = Some(d.as_secs_f64() * 1000.0),
        None => m.timeouts += 1,
    });
}

/// The address check ran and found the address (or not).
pub fn ip_assignment(service: &str, assigned: bool) {
    with_service(service, |m| m.ip_assignment = Some(assigned));
}

/// A threshold decision: 0 when healthy, else the code of the deciding failure (126 a
/// timeout, 1 an address not assigned, negative a signal), as upstream.
pub fn service_state(service: &str, code: i64, changed: bool) {
    with_service(service, |m| {
        m.state = Some(code as f64);
        if changed {
            m.transitions += 1;
        }
    });
}

/// The writer ran a reconfigure for `version`.
pub fn reconfigure_ran(version: IpVersion, duration: Duration, ok: bool) {
    let mut bird = lock(&registry().bird);
    let entry = bird.entry(version).or_default();
    entry.runs += 1;
    entry.last_duration = duration.as_secs_f64();
    if !ok {
        entry.failures += 1;
    }
}

/// Whether Bird has the file's state for `version`; the time behind is exported.
pub fn bird_in_sync(version: IpVersion, in_sync: bool) {
    let mut bird = lock(&registry().bird);
    let entry = bird.entry(version).or_default();
    match (in_sync, entry.behind_since) {
        (true, _) => entry.behind_since = None,
        (false, None) => entry.behind_since = Some(Instant::now()),
        (false, Some(_)) => {}
    }
}

/// Seconds Bird has been behind its file, per version (0 when in sync).
pub fn bird_behind() -> Vec<(IpVersion, f64)> {
    lock(&registry().bird)
        .iter()
        .map(|(v, m)| (*v, m.behind_since.map_or(0.0, |s| s.elapsed().as_secs_f64())))
        .collect()
}

/// The writer applied a batch of `events` events.
pub fn batch(events: usize) {
    let registry = registry();
    registry.batches.fetch_add(1, Ordering::Relaxed);
    registry.events.fetch_add(events as u64, Ordering::Relaxed);
    registry.last_batch.store(events as u64, Ordering::Relaxed);
}

/// A number as prometheus_client prints it: `1.0`, `0.25`.
fn number(value: f64) -> String {
    if value.is_finite() && value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.1}")
    } else {
        format!("{value}")
    }
}

fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Writes one metric family: HELP, TYPE and the samples.
fn family(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, String, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (suffix, labels, value) in samples {
        let labels = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{name}{suffix}{labels} {}", number(*value));
    }
}

/// The exposition text of every metric now.
pub fn render(log_lines_dropped: u64) -> String {
    let registry = registry();
    let services = lock(&registry.services).clone();
    let bird = lock(&registry.bird).clone();
    let mut out = String::new();
    let per_prefix = |pick: &dyn Fn(&ServiceMetrics) -> Option<f64>| -> Vec<(String, String, f64)> {
        let mut samples = Vec::new();
        for (name, m) in &services {
            if let Some(value) = pick(m) {
                for prefix in &m.prefixes {
                    samples.push((
                        String::new(),
                        format!("ip_prefix=\"{prefix}\",service_name=\"{}\"", escape(name)),
                        value,
                    ));
                }
            }
        }
        samples
    };
    family(
        &mut out,
        "anycast_healthchecker_service_state",
        "gauge",
        "The status of the service check: 0 = healthy, any other value = unhealthy",
        &per_prefix(&|m| m.state),
    );
    family(
        &mut out,
        "anycast_healthchecker_service_check_duration_milliseconds",
        "gauge",
        "Service check duration in milliseconds",
        &per_prefix(&|m| m.check_duration_ms),
    );
    family(
        &mut out,
        "anycast_healthchecker_service_check_ip_assignment",
        "gauge",
        "Service IP assignment check: 0 = not assigned, 1 = assigned",
        &per_prefix(&|m| {
            if m.ip_check_disabled {
                None
            } else {
                m.ip_assignment.map(|a| if a { 1.0 } else { 0.0 })
            }
        }),
    );
    // As prometheus_client writes a counter: `x_total`, and `x_created` as a gauge.
    family(
        &mut out,
        "anycast_healthchecker_service_check_timeout_total",
        "counter",
        "The number of times a service check timed out",
        &per_prefix(&|m| Some(m.timeouts as f64)),
    );
    family(
        &mut out,
        "anycast_healthchecker_service_check_timeout_created",
        "gauge",
        "The number of times a service check timed out",
        &per_prefix(&|m| Some(m.created)),
    );
    family(
        &mut out,
        "anycast_healthchecker_service_transitions_total",
        "counter",
        "The number of state changes of the service",
        &per_prefix(&|m| Some(m.transitions as f64)),
    );
    family(
        &mut out,
        "anycast_healthchecker_service",
        "gauge",
        "A configured service check, enabled or disabled",
        &per_prefix(&|_| Some(1.0)),
    );
    family(
        &mut out,
        "anycast_healthchecker_uptime",
        "gauge",
        "Uptime of the process in seconds",
        &[(String::new(), String::new(), registry.started.elapsed().as_secs() as f64)],
    );
    family(
        &mut out,
        "anycast_healthchecker_state",
        "gauge",
        "The state of the process: 1 = running",
        &[(String::new(), String::new(), 1.0)],
    );
    family(
        &mut out,
        "anycast_healthchecker_version_info",
        "gauge",
        "Version of the software",
        &[(String::new(), format!("version=\"{}\"", env!("CARGO_PKG_VERSION")), 1.0)],
    );
    let per_version = |pick: &dyn Fn(&BirdMetrics) -> f64, suffix: &str| -> Vec<(String, String, f64)> {
        bird.iter()
            .map(|(v, m)| {
                let label = v.number();
                (suffix.to_string(), format!("ip_version=\"{label}\""), pick(m))
            })
            .collect()
    };
    family(
        &mut out,
        "anycast_healthchecker_bird_reconfigure_runs_total",
        "counter",
        "Bird reconfigure runs",
        &per_version(&|m| m.runs as f64, ""),
    );
    family(
        &mut out,
        "anycast_healthchecker_bird_reconfigure_failures_total",
        "counter",
        "Bird reconfigure runs that failed",
        &per_version(&|m| m.failures as f64, ""),
    );
    family(
        &mut out,
        "anycast_healthchecker_bird_reconfigure_duration_seconds",
        "gauge",
        "Duration of the last Bird reconfigure",
        &per_version(&|m| m.last_duration, ""),
    );
    family(
        &mut out,
        "anycast_healthchecker_bird_out_of_sync_seconds",
        "gauge",
        "Seconds since Bird last had the prefix file's state (0 = in sync)",
        &per_version(&|m| m.behind_since.map_or(0.0, |s| s.elapsed().as_secs_f64()), ""),
    );
    let counter =
        |value: &AtomicU64| vec![(String::new(), String::new(), value.load(Ordering::Relaxed) as f64)];
    family(
        &mut out,
        "anycast_healthchecker_writer_batches_total",
        "counter",
        "Batches of events the Bird writer applied",
        &counter(&registry.batches),
    );
    family(
        &mut out,
        "anycast_healthchecker_writer_events_total",
        "counter",
        "Events the Bird writer applied",
        &counter(&registry.events),
    );
    family(
        &mut out,
        "anycast_healthchecker_writer_last_batch_events",
        "gauge",
        "Events in the last batch the Bird writer applied",
        &[(String::new(), String::new(), registry.last_batch.load(Ordering::Relaxed) as f64)],
    );
    family(
        &mut out,
        "anycast_healthchecker_log_lines_dropped_total",
        "counter",
        "Log lines dropped because a destination failed or the queue was full",
        &[(String::new(), String::new(), log_lines_dropped as f64)],
    );
    out
}

/// Writes the metrics file now, atomically.
pub fn write(dir: &Path) -> std::io::Result<PathBuf> {
    let path = dir.join(FILE_NAME);
    crate::atomic::replace(&path, render(crate::logging::dropped_lines()).as_bytes())?;
    Ok(path)
}

/// Runs the exporter until `stop` is dropped: at once, then on a fixed phase.
pub fn run_exporter(dir: PathBuf, interval: Duration, stop: Receiver<()>) {
    let schedule = crate::schedule::Schedule::new(Instant::now(), interval);
    loop {
        match write(&dir) {
            Ok(path) => log::debug!("dumped Prometheus metrics to {}", path.display()),
            Err(err) => log::error!("failed to write metrics to {}: {err}", dir.join(FILE_NAME).display()),
        }
        match stop.recv_deadline(schedule.next_after(Instant::now())) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_like_prometheus_client() {
        assert_eq!(number(0.0), "0.0");
        assert_eq!(number(126.0), "126.0");
        assert_eq!(number(0.25), "0.25");
    }
}
