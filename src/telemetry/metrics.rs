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
use std::sync::Arc;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::config::prefix::IpVersion;
use crate::config::Service;

/// The file name the textfile collector reads.
pub const FILE_NAME: &str = "anycast_healthchecker.prom";

#[derive(Debug, Default, Clone)]
struct ServiceMetrics {
    prefixes: Vec<String>,
    state: Option<f64>,
    check_duration_ms: Option<f64>,
    /// `check_timeout` in seconds (for "check duration near its timeout" alerts).
    check_timeout: f64,
    ip_assignment: Option<bool>,
    ip_check_disabled: bool,
    timeouts: u64,
    created: f64,
    transitions: u64,
    /// The operator's word for the service now: up, down, unknown, suppressed, disabled.
    status: &'static str,
    /// The flap damping penalty, when damping is on.
    penalty: Option<f64>,
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
pub fn set_services(services: &[Arc<Service>]) {
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
        entry.check_timeout = service.check_timeout.as_secs_f64();
        // The words are `service::health::outcome::ServiceStatus`'s (telemetry sits
        // below the services, so it takes words, not the type).
        entry.status = match (service.check_disabled, entry.status) {
            (true, _) => "disabled",
            (false, "" | "disabled") => "unknown",
            (false, status) => status,
        };
        if service.damping.is_none() {
            entry.penalty = None;
        }
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

/// The service's state in the operator's words (up, down, unknown, suppressed).
pub fn service_status(service: &str, status: &'static str) {
    with_service(service, |m| m.status = status);
}

/// The service's flap damping penalty.
pub fn damping_penalty(service: &str, penalty: f64) {
    with_service(service, |m| m.penalty = Some(penalty));
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

/// Writes one metric family: HELP, TYPE and the samples (labels, value).
fn family(out: &mut String, metric: &Metric, samples: &[(String, f64)]) {
    let _ = writeln!(out, "# HELP {} {}", metric.name, metric.help);
    let _ = writeln!(out, "# TYPE {} {}", metric.name, metric.kind);
    for (labels, value) in samples {
        let labels = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{}{labels} {}", metric.name, number(*value));
    }
}

/// Where a metric's samples come from.
enum Source {
    /// One sample per prefix of each service that has a value.
    Service(fn(&ServiceMetrics) -> Option<f64>),
    /// One sample per prefix of each service, 1 with its status as the `state` label.
    ServiceStatus,
    /// One sample per IP version the writer handles.
    Bird(fn(&BirdMetrics) -> f64),
    /// One sample for the process, with its labels.
    Process(fn(&Process) -> (String, f64)),
}

/// The process-wide values a render sees.
struct Process<'a> {
    registry: &'a Registry,
    log_lines_dropped: u64,
}

/// One metric family: the exposition's name, type and help, and its samples' source.
struct Metric {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    source: Source,
}

const fn metric(name: &'static str, kind: &'static str, help: &'static str, source: Source) -> Metric {
    Metric { name, kind, help, source }
}

fn counter(value: &AtomicU64) -> f64 {
    value.load(Ordering::Relaxed) as f64
}

/// Every metric, in the file's order: upstream's names and types first (a counter as
/// prometheus_client writes it: `x_total`, and `x_created` as a gauge), then ours.
const METRICS: &[Metric] = &[
    metric(
        "anycast_healthchecker_service_state",
        "gauge",
        "The status of the service check: 0 = healthy, any other value = unhealthy",
        Source::Service(|m| m.state),
    ),
    metric(
        "anycast_healthchecker_service_check_duration_milliseconds",
        "gauge",
        "Service check duration in milliseconds",
        Source::Service(|m| m.check_duration_ms),
    ),
    metric(
        "anycast_healthchecker_service_check_ip_assignment",
        "gauge",
        "Service IP assignment check: 0 = not assigned, 1 = assigned",
        Source::Service(|m| {
            if m.ip_check_disabled {
                None
            } else {
                m.ip_assignment.map(|a| if a { 1.0 } else { 0.0 })
            }
        }),
    ),
    metric(
        "anycast_healthchecker_service_check_timeout_total",
        "counter",
        "The number of times a service check timed out",
        Source::Service(|m| Some(m.timeouts as f64)),
    ),
    metric(
        "anycast_healthchecker_service_check_timeout_created",
        "gauge",
        "The number of times a service check timed out",
        Source::Service(|m| Some(m.created)),
    ),
    metric(
        "anycast_healthchecker_service_transitions_total",
        "counter",
        "The number of state changes of the service",
        Source::Service(|m| Some(m.transitions as f64)),
    ),
    metric(
        "anycast_healthchecker_service",
        "gauge",
        "A configured service check, enabled or disabled",
        Source::Service(|_| Some(1.0)),
    ),
    // Ours: the operator's view of each service, and its damping penalty.
    metric(
        "anycast_healthchecker_service_status",
        "gauge",
        "The service's state now (the state label): up, down, unknown, suppressed or disabled",
        Source::ServiceStatus,
    ),
    metric(
        "anycast_healthchecker_service_check_timeout_seconds",
        "gauge",
        "The service's check_timeout, for alerts on checks that come near it",
        Source::Service(|m| Some(m.check_timeout)),
    ),
    metric(
        "anycast_healthchecker_service_damping_penalty",
        "gauge",
        "Flap damping penalty of the service (services with damping = true)",
        Source::Service(|m| m.penalty),
    ),
    metric(
        "anycast_healthchecker_uptime",
        "gauge",
        "Uptime of the process in seconds",
        Source::Process(|p| (String::new(), p.registry.started.elapsed().as_secs() as f64)),
    ),
    metric(
        "anycast_healthchecker_state",
        "gauge",
        "The state of the process: 1 = running",
        Source::Process(|_| (String::new(), 1.0)),
    ),
    metric(
        "anycast_healthchecker_version_info",
        "gauge",
        "Version of the software",
        Source::Process(|_| (format!("version=\"{}\"", env!("CARGO_PKG_VERSION")), 1.0)),
    ),
    metric(
        "anycast_healthchecker_bird_reconfigure_runs_total",
        "counter",
        "Bird reconfigure runs",
        Source::Bird(|m| m.runs as f64),
    ),
    metric(
        "anycast_healthchecker_bird_reconfigure_failures_total",
        "counter",
        "Bird reconfigure runs that failed",
        Source::Bird(|m| m.failures as f64),
    ),
    metric(
        "anycast_healthchecker_bird_reconfigure_duration_seconds",
        "gauge",
        "Duration of the last Bird reconfigure",
        Source::Bird(|m| m.last_duration),
    ),
    metric(
        "anycast_healthchecker_bird_out_of_sync_seconds",
        "gauge",
        "Seconds since Bird last had the prefix file's state (0 = in sync)",
        Source::Bird(|m| m.behind_since.map_or(0.0, |s| s.elapsed().as_secs_f64())),
    ),
    metric(
        "anycast_healthchecker_writer_batches_total",
        "counter",
        "Batches of events the Bird writer applied",
        Source::Process(|p| (String::new(), counter(&p.registry.batches))),
    ),
    metric(
        "anycast_healthchecker_writer_events_total",
        "counter",
        "Events the Bird writer applied",
        Source::Process(|p| (String::new(), counter(&p.registry.events))),
    ),
    metric(
        "anycast_healthchecker_writer_last_batch_events",
        "gauge",
        "Events in the last batch the Bird writer applied",
        Source::Process(|p| (String::new(), counter(&p.registry.last_batch))),
    ),
    metric(
        "anycast_healthchecker_log_lines_dropped_total",
        "counter",
        "Log lines dropped because a destination failed or the queue was full",
        Source::Process(|p| (String::new(), p.log_lines_dropped as f64)),
    ),
];

/// The exposition text of every metric now.
pub fn render(log_lines_dropped: u64) -> String {
    let registry = registry();
    let services = lock(&registry.services).clone();
    let bird = lock(&registry.bird).clone();
    let process = Process { registry, log_lines_dropped };
    let mut out = String::new();
    for metric in METRICS {
        let samples: Vec<(String, f64)> = match &metric.source {
            Source::Service(pick) => services
                .iter()
                .filter_map(|(name, m)| pick(m).map(|value| (name, m, value)))
                .flat_map(|(name, m, value)| {
                    m.prefixes.iter().map(move |prefix| {
                        (format!("ip_prefix=\"{prefix}\",service_name=\"{}\"", escape(name)), value)
                    })
                })
                .collect(),
            Source::ServiceStatus => services
                .iter()
                .flat_map(|(name, m)| {
                    m.prefixes.iter().map(move |prefix| {
                        let labels = format!(
                            "ip_prefix=\"{prefix}\",service_name=\"{}\",state=\"{}\"",
                            escape(name),
                            m.status
                        );
                        (labels, 1.0)
                    })
                })
                .collect(),
            Source::Bird(pick) => {
                bird.iter().map(|(v, m)| (format!("ip_version=\"{}\"", v.number()), pick(m))).collect()
            }
            Source::Process(pick) => vec![pick(&process)],
        };
        family(&mut out, metric, &samples);
    }
    out
}

/// Writes the metrics file now, atomically.
pub fn write(dir: &Path) -> std::io::Result<PathBuf> {
    let path = dir.join(FILE_NAME);
    crate::sys::atomic_file::replace(&path, render(crate::telemetry::logging::dropped_lines()).as_bytes())?;
    Ok(path)
}

/// Runs the exporter until `stop` is dropped: at once, then on a fixed phase.
pub fn run_exporter(dir: PathBuf, interval: Duration, stop: Receiver<()>) {
    let schedule = crate::service::schedule::Schedule::new(Instant::now(), interval);
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

    /// `anycast_healthchecker_*` names in a text, as PromQL or JSON holds them.
    fn metric_names(text: &str) -> std::collections::BTreeSet<String> {
        let mut names = std::collections::BTreeSet::new();
        let mut rest = text;
        while let Some(at) = rest.find("anycast_healthchecker_") {
            let tail = &rest[at..];
            let end = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
            names.insert(tail[..end].to_string());
            rest = &tail[end..];
        }
        names
    }

    #[test]
    fn the_shipped_dashboard_and_rules_name_only_metrics_we_write() {
        let ours: std::collections::BTreeSet<&str> = METRICS.iter().map(|m| m.name).collect();
        for (file, text) in [
            (
                "packaging/grafana/anycast-healthchecker.json",
                include_str!("../../packaging/grafana/anycast-healthchecker.json"),
            ),
            (
                "packaging/prometheus/anycast-healthchecker.rules.yml",
                include_str!("../../packaging/prometheus/anycast-healthchecker.rules.yml"),
            ),
        ] {
            let named = metric_names(text);
            assert!(named.len() >= 5, "{file} names our metrics");
            for name in &named {
                assert!(ours.contains(name.as_str()), "{file} names {name}, which we do not write");
            }
        }
    }

    #[test]
    fn every_metric_has_help_and_type_in_table_order() {
        let text = render(7);
        let families: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .map(|l| l.split(' ').next().unwrap())
            .collect();
        let names: Vec<&str> = METRICS.iter().map(|m| m.name).collect();
        assert_eq!(families, names);
        assert!(text.contains("# TYPE anycast_healthchecker_service_check_timeout_total counter\n"));
        assert!(text.contains("\nanycast_healthchecker_log_lines_dropped_total 7.0\n"), "{text}");
        assert!(text.contains(&format!(
            "\nanycast_healthchecker_version_info{{version=\"{}\"}} 1.0\n",
            env!("CARGO_PKG_VERSION")
        )));
    }

    #[test]
    fn numbers_print_like_prometheus_client() {
        assert_eq!(number(0.0), "0.0");
        assert_eq!(number(126.0), "126.0");
        assert_eq!(number(0.25), "0.25");
    }
}
