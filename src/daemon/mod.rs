//! The daemon: start-up, the service threads, the signal loop, reload and shutdown.
//!
//! - SIGHUP reloads: the new configuration is loaded and validated first; if it is bad
//!   the daemon logs one line and keeps running as it was. Otherwise unchanged services
//!   keep their thread and state, removed ones stop and their prefixes are withdrawn,
//!   changed ones restart, new ones start, and the writer gets it all in one message.
//! - SIGURG runs every check now.
//! - SIGTERM and SIGINT stop: checks end (running ones are killed), each service's
//!   `on_exit` is applied, the writer flushes, the pidfile goes, exit 0.
//! - A service thread that dies (a bug) is logged as CRITICAL, its prefixes are
//!   withdrawn (nothing vouches for the service) and it is restarted with backoff. The
//!   Bird writer dying stops the daemon with exit 1, for systemd to restart it.

mod instance;
mod pidfile;
mod reload;
pub mod status;
mod status_text;
pub mod systemd;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context, Result};
use crossbeam_channel::{select, Receiver, Sender};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGURG};
use signal_hook::iterator::Signals;

use crate::bird::{Action, CustomCommand, Routing, ServiceEvent, ServiceRoutes, Writer};
use crate::config::prefix::{IpPrefix, IpVersion};
use crate::config::{self, Config, OnDisabled, OnExit, Programs, PrometheusSettings, Service, Sources};
use crate::daemon::systemd::Notifier;
use crate::service::{disabled_event, Exit, ServiceStatus, ServiceThread};
use crate::sys::localtime::LocalTime;
use crate::sys::signal_name::signal_name;
use crate::telemetry::catalog::{self, event};
use crate::telemetry::{logging, metrics, metrics_server};
use instance::InstanceLock;
pub use pidfile::{lock_path as pidfile_lock_path, Pidfile};
use reload::DaemonChange;
use status_text::{status_text, Facts, LastReload};

/// How often the main loop checks that every thread is alive.
const WATCH_INTERVAL: Duration = Duration::from_millis(500);

/// How often `<pidfile>.status` is rewritten.
const REPORT_INTERVAL: Duration = Duration::from_secs(2);

/// How long stopping may wait for running checks to end after they are killed.
const STOP_PATIENCE: Duration = Duration::from_secs(10);

/// How long a stop that changed the routes (`on_exit` other than keep) waits after
/// Bird took the last file, for Bird's sessions to send the change.
const STOP_LINGER: Duration = Duration::from_millis(250);

/// The first wait before restarting a service thread that died; it doubles up to
/// [`RESTART_CAP`] for a thread that keeps dying.
const RESTART_FIRST: Duration = Duration::from_secs(1);
const RESTART_CAP: Duration = Duration::from_secs(60);

/// Why the daemon stopped other than cleanly; it has been logged (exit 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fatal {
    /// Logging, the locks or the pidfile could not be set up: nothing was started.
    NotStarted,
    /// A fatal error while running (the writer died, a thread could not start).
    Failed,
}

/// Runs the daemon until it is told to stop: `Ok` for a clean stop (exit 0).
pub fn run(sources: Sources, config: Config) -> Result<(), Fatal> {
    if let Err(err) = logging::init(&config.daemon.log, &section_names(&config)) {
        eprintln!("{}", crate::cli::stderr_line(crate::cli::Gravity::Error, &err));
        return Err(Fatal::NotStarted);
    }
    // Before anything else: a HUP or TERM during start-up must not kill us unhandled.
    let started = listen_for_signals().and_then(|signals| {
        let lock = InstanceLock::acquire(&config.daemon.instance_lock)?;
        crate::sys::spawn::prepare().context("failed to reserve file descriptors for checks")?;
        Ok((signals, lock, Pidfile::acquire(&config.daemon.pidfile)?))
    });
    let (signals, _instance_lock, pidfile) = match started {
        Ok(started) => started,
        Err(err) => {
            log::error!("{err:#}");
            logging::flush(Duration::from_secs(2));
            return Err(Fatal::NotStarted);
        }
    };
    event!(catalog::Alert::Started, "starting {} version {}", crate::PROGRAM, env!("CARGO_PKG_VERSION"));
    let result = Daemon::start(sources, config).and_then(|mut daemon| daemon.serve(&signals));
    status::remove(pidfile.path());
    pidfile.remove();
    let outcome = result.map_err(|err| {
        log::error!("{err:#}");
        Fatal::Failed
    });
    logging::flush(Duration::from_secs(2));
    outcome
}

fn section_names(config: &Config) -> Vec<&str> {
    config.services.iter().map(|s| s.name.as_str()).chain(["DEFAULT", "daemon"]).collect()
}

/// Signals arrive on a channel, so the main loop can also watch its threads.
fn listen_for_signals() -> Result<Receiver<i32>> {
    let mut signals =
        Signals::new([SIGHUP, SIGINT, SIGTERM, SIGURG]).context("failed to set up signal handlers")?;
    let (tx, rx) = crossbeam_channel::unbounded();
    std::thread::Builder::new()
        .name("signals".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            for signal in signals.forever() {
                if tx.send(signal).is_err() {
                    return;
                }
            }
        })
        .context("failed to start the signal thread")?;
    Ok(rx)
}

struct Daemon {
    sources: Sources,
    config: Config,
    writer: Writer,
    /// Running service threads by name; disabled services have none.
    threads: BTreeMap<String, ServiceThread>,
    /// Each service's current generation; a restart gets a new one.
    generations: HashMap<String, u64>,
    next_generation: u64,
    /// Threads told to stop on a reload, reaped once their exit notice came.
    retiring: Vec<ServiceThread>,
    /// Every service thread's exit notice comes here.
    exits_tx: Sender<Exit>,
    exits: Receiver<Exit>,
    /// Services whose thread died, with when to restart them.
    restarts: BTreeMap<String, Instant>,
    /// The wait before the next restart of a service whose thread died.
    restart_backoff: HashMap<String, Duration>,
    notifier: Notifier,
    exporter: Option<Exporter>,
    /// When the daemon started (disabled services are "disabled" since then).
    started: SystemTime,
    /// When the status file and the watchdog were last served.
    last_report: Instant,
    /// IP versions whose Bird has been reported behind (once per episode).
    behind_alerted: Vec<IpVersion>,
    last_watchdog: Instant,
    /// How the last reload went, for the unit's status line.
    last_reload: LastReload,
    /// The status line systemd has now.
    status_sent: String,
    /// When the Bird writer last answered a ping, and whether the watchdog is withheld.
    writer_answered: Instant,
    watchdog_withheld: bool,
}

/// The running metrics exporters: the textfile thread (dropping `stop` ends it) and
/// the optional HTTP server.
struct Exporter {
    settings: PrometheusSettings,
    textfile: Option<(Sender<()>, JoinHandle<()>)>,
    http: Option<metrics_server::Server>,
}

impl Exporter {
    fn start(settings: &PrometheusSettings) -> Result<Option<Exporter>> {
        let textfile = if settings.enabled {
            let (stop, stopped) = crossbeam_channel::bounded(1);
            let (dir, interval) = (settings.textfile_dir.clone(), settings.interval);
            let thread = std::thread::Builder::new()
                .name("PrometheusExporter".into())
                .stack_size(256 * 1024)
                .spawn(move || metrics::run_exporter(dir, interval, stopped))
                .context("failed to start the metrics exporter")?;
            Some((stop, thread))
        } else {
            None
        };
        // A busy port fails only the HTTP metrics, never the daemon.
        let http = settings.listen.and_then(|address| {
            metrics_server::Server::start(address, || metrics::render(logging::dropped_lines()))
                .map_err(|err| log::error!("{err:#}; metrics are not served over HTTP"))
                .ok()
        });
        if textfile.is_none() && http.is_none() {
            return Ok(None);
        }
        Ok(Some(Exporter { settings: settings.clone(), textfile, http }))
    }

    /// Stops the threads, after one last write so the file shows the final state.
    fn stop(self) {
        if let Some((stop, thread)) = self.textfile {
            drop(stop);
            let _ = thread.join();
            let _ = metrics::write(&self.settings.textfile_dir);
        }
        if let Some(http) = self.http {
            http.stop();
        }
    }
}

impl Daemon {
    fn start(sources: Sources, config: Config) -> Result<Daemon> {
        if config.services.is_empty() {
            log::warn!("no service checks are configured");
        }
        let mut generations = HashMap::new();
        let mut next_generation = 1;
        for service in &config.services {
            generations.insert(service.name.clone(), next_generation);
            next_generation += 1;
        }
        metrics::set_services(&config.services);
        let exporter = Exporter::start(&config.daemon.prometheus)?;
        let writer = Writer::start(routing(&config, &generations))?;
        let (exits_tx, exits) = crossbeam_channel::unbounded();
        let mut daemon = Daemon {
            sources,
            writer,
            threads: BTreeMap::new(),
            generations,
            next_generation,
            retiring: Vec::new(),
            exits_tx,
            exits,
            restarts: BTreeMap::new(),
            restart_backoff: HashMap::new(),
            notifier: Notifier::from_env(),
            exporter,
            started: SystemTime::now(),
            last_report: Instant::now(),
            behind_alerted: Vec::new(),
            last_watchdog: Instant::now(),
            last_reload: LastReload::None,
            status_sent: String::new(),
            writer_answered: Instant::now(),
            watchdog_withheld: false,
            config,
        };
        let services = daemon.config.services.clone();
        for service in services {
            daemon.start_service(service)?;
        }
        log::info!("{}", summary(&daemon.config));
        // The status line goes first, so that systemd shows it when `start` returns.
        daemon.report();
        daemon.notifier.ready();
        Ok(daemon)
    }

    fn start_service(&mut self, service: Arc<Service>) -> Result<()> {
        let generation = self.generations.get(&service.name).copied().unwrap_or_default();
        if service.check_disabled {
            self.writer.events().send(disabled_event(&service, generation));
            return Ok(());
        }
        log::info!("loading check for {}", service.name);
        let splay = self.config.daemon.splay_startup;
        let thread =
            ServiceThread::spawn(service, generation, self.writer.events(), self.exits_tx.clone(), splay)?;
        self.threads.insert(thread.service.name.clone(), thread);
        Ok(())
    }

    fn serve(&mut self, signals: &Receiver<i32>) -> Result<()> {
        loop {
            let next_restart = self.restarts.values().min().copied();
            let wait = next_restart.map_or(WATCH_INTERVAL, |at| {
                at.saturating_duration_since(Instant::now()).min(WATCH_INTERVAL)
            });
            let exits = self.exits.clone();
            select! {
                recv(signals) -> signal => match signal {
                    Ok(SIGHUP) => self.reload(),
                    Ok(SIGURG) => self.run_all_checks_now(),
                    Ok(signal) => {
                        log::info!("received {}, shutting down", signal_name(signal));
                        return self.shutdown(signals);
                    }
                    Err(_) => return Err(anyhow!("the signal thread ended")),
                },
                recv(exits) -> exit => {
                    if let Ok(exit) = exit {
                        self.thread_ended(exit);
                    }
                }
                default(wait) => {}
            }
            self.restart_due();
            self.watch_writer()?;
            if let Some(interval) = self.notifier.watchdog_interval() {
                if self.last_watchdog.elapsed() >= interval.min(WATCH_INTERVAL * 2) {
                    self.feed_watchdog(interval);
                }
            }
            if self.last_report.elapsed() >= REPORT_INTERVAL {
                self.report();
            }
            let threshold = self.config.daemon.bird_behind_critical.as_secs_f64();
            for (version, seconds) in newly_behind(&self.writer.behind(), threshold, &mut self.behind_alerted)
            {
                event!(
                    catalog::Alert::BirdBehind,
                    "Bird is behind its prefix file for {version}: not reconfigured for {seconds:.0}s \
                     (bird_behind_critical_seconds = {threshold})"
                );
            }
        }
    }

    /// Tells systemd's watchdog that the daemon works, as long as the Bird writer
    /// answers: a writer stuck for half the watchdog's time (`interval`) goes unpinged,
    /// so systemd kills and restarts us (a dead writer stops the daemon at once).
    fn feed_watchdog(&mut self, interval: Duration) {
        let now = Instant::now();
        self.last_watchdog = now;
        if self.writer.answered_last_ping() {
            self.writer_answered = now;
            if self.watchdog_withheld {
                log::warn!("the Bird writer answers again; pinging systemd's watchdog again");
                self.watchdog_withheld = false;
                self.report();
            }
        }
        if now.duration_since(self.writer_answered) < interval {
            self.notifier.watchdog();
        } else if !self.watchdog_withheld {
            event!(
                catalog::Alert::WriterHung,
                "the Bird writer thread has not answered for {:.0}s; no longer pinging systemd's watchdog, \
                 so that systemd restarts the daemon",
                now.duration_since(self.writer_answered).as_secs_f64()
            );
            self.watchdog_withheld = true;
            self.report();
        }
    }

    /// Updates `<pidfile>.status` for `--status`, and systemd's status line when it
    /// changed.
    fn report(&mut self) {
        let behind = self.writer.behind();
        let services_view = self.services_view();
        let text = status_text(&Facts {
            states: services_view.iter().map(|line| line.state.as_str()).collect(),
            behind: &behind,
            reload: &self.last_reload,
            writer_stuck: self.watchdog_withheld,
        });
        let report = status::StatusReport {
            pid: std::process::id(),
            services: self.config.services.len(),
            threads_expected: self.config.services.iter().filter(|s| !s.check_disabled).count(),
            threads_alive: self.threads.values().filter(|t| !t.is_finished()).count(),
            bird_behind: behind
                .into_iter()
                .map(|(version, seconds)| (version.number().to_string(), seconds))
                .collect(),
            services_view,
        };
        if let Err(err) = status::write(&self.config.daemon.pidfile, &report) {
            log::warn!(
                "failed to write {}: {err}",
                status::status_path(&self.config.daemon.pidfile).display()
            );
        }
        if text != self.status_sent {
            self.notifier.status(&text);
            self.status_sent = text;
        }
        self.last_report = Instant::now();
    }

    /// `on_exit = drain`: every such service's advertised prefixes go into the degraded
    /// set at once; each is withdrawn after its `drain_seconds` (by the caller, for the
    /// last). systemd is asked for the time; a second SIGTERM or SIGINT ends the drain.
    fn drain_on_exit(&mut self, signals: &Receiver<i32>) {
        let mut draining: Vec<(Duration, String)> = self
            .config
            .services
            .iter()
            .filter(|s| s.on_exit == OnExit::Drain)
            .map(|s| (s.drain_seconds, s.name.clone()))
            .collect();
        if draining.is_empty() {
            return;
        }
        draining.sort();
        let events = self.writer.events();
        let generation = |name: &str| self.generations.get(name).copied().unwrap_or_default();
        for (_, name) in &draining {
            events.send(ServiceEvent {
                service: name.clone(),
                generation: generation(name),
                action: Action::Drain,
            });
        }
        let longest = draining.last().map(|(d, _)| *d).unwrap_or_default();
        self.notifier.extend_timeout(longest + Duration::from_secs(30));
        event!(
            catalog::Alert::Draining,
            "draining {} services for up to {:.0}s before stopping; SIGTERM again to stop at once",
            draining.len(),
            longest.as_secs_f64()
        );
        let started = Instant::now();
        for (seconds, name) in draining {
            let deadline = started + seconds;
            // Other signals (HUP, URG) wait: only TERM and INT cut the drain short.
            let cut_short = loop {
                match signals.recv_deadline(deadline) {
                    Ok(SIGTERM | SIGINT) => break true,
                    Ok(_) => continue,
                    Err(_) => break false,
                }
            };
            if cut_short {
                log::warn!("stopping at once, as asked: the drain is cut short");
                return; // The caller withdraws every drain service now.
            }
            log::info!("{name} is drained; withdrawing it");
            events.send(ServiceEvent {
                service: name.clone(),
                generation: generation(&name),
                action: Action::Withdraw,
            });
        }
    }

    /// Each service as the operator sees it, for `--status`.
    fn services_view(&self) -> Vec<status::ServiceLine> {
        let epoch = |time: SystemTime| time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let listed = self.writer.listed();
        let listing = |prefix: &IpPrefix| match listed.get(prefix) {
            Some(true) => status::Listing::Degraded,
            Some(false) => status::Listing::Announced,
            None => status::Listing::Withdrawn,
        };
        self.config
            .services
            .iter()
            .map(|service| {
                let (state, since, reason) = if service.check_disabled {
                    let on_disabled = match service.on_disabled {
                        OnDisabled::Withdraw => "withdraw",
                        OnDisabled::Advertise => "advertise",
                    };
                    (
                        ServiceStatus::Disabled.as_str().to_string(),
                        self.started,
                        format!("check_disabled = true, on_disabled = {on_disabled}"),
                    )
                } else if let Some(thread) = self.threads.get(&service.name) {
                    let view = thread.view();
                    let reason = match view.penalty {
                        Some(penalty) => format!("{}; damping penalty {penalty:.2}", view.reason),
                        None => view.reason,
                    };
                    (view.state.as_str().to_string(), view.since, reason)
                } else {
                    let dead = ServiceStatus::Dead.as_str().to_string();
                    (dead, SystemTime::now(), "its thread died; restarting it".to_string())
                };
                let prefixes = service.ip_prefixes.iter().map(|p| (*p, listing(p))).collect();
                status::ServiceLine {
                    name: service.name.clone(),
                    state,
                    since: epoch(since),
                    reason,
                    prefixes,
                }
            })
            .collect()
    }

    /// The writer dying is a bug we cannot recover from: exit and let systemd restart
    /// us (the prefix file stays as the writer last wrote it, whole).
    fn watch_writer(&mut self) -> Result<()> {
        if !self.writer.is_running() {
            event!(
                catalog::Alert::ThreadDied,
                "the Bird writer thread died; exiting so that systemd restarts us"
            );
            return Err(anyhow!("the Bird writer thread died"));
        }
        Ok(())
    }

    /// A service thread ended. Told to (a reload or a stop): reap it. Not told to (a
    /// panic, a bug): say so, withdraw its prefixes (nothing checks the service now)
    /// and restart it after a backoff.
    fn thread_ended(&mut self, exit: Exit) {
        if let Some(index) = self
            .retiring
            .iter()
            .position(|t| t.service.name == exit.service && t.generation == exit.generation)
        {
            self.retiring.swap_remove(index).join();
            return;
        }
        let current = self.threads.get(&exit.service).is_some_and(|t| t.generation == exit.generation);
        if !current {
            return;
        }
        if let Some(thread) = self.threads.remove(&exit.service) {
            thread.join();
        }
        let backoff = self.restart_backoff.get(&exit.service).copied().unwrap_or(RESTART_FIRST);
        let how = if exit.panicked { "panicked" } else { "ended" };
        event!(
            catalog::Alert::ThreadDied,
            service = &exit.service;
            "the thread of service {} died ({how}); withdrawing its prefixes and restarting it in {}s",
            exit.service,
            backoff.as_secs()
        );
        self.writer.events().send(ServiceEvent {
            service: exit.service.clone(),
            generation: exit.generation,
            action: Action::Withdraw,
        });
        self.restart_backoff.insert(exit.service.clone(), (backoff * 2).min(RESTART_CAP));
        self.restarts.insert(exit.service, Instant::now() + backoff);
    }

    /// Restarts the dead service threads whose backoff has passed, each as a new
    /// generation.
    fn restart_due(&mut self) {
        let now = Instant::now();
        let due: Vec<String> =
            self.restarts.iter().filter(|(_, at)| **at <= now).map(|(n, _)| n.clone()).collect();
        if due.is_empty() {
            return;
        }
        for name in &due {
            self.restarts.remove(name);
            self.generations.insert(name.clone(), self.next_generation);
            self.next_generation += 1;
        }
        self.writer.update(routing(&self.config, &self.generations));
        for name in due {
            let Some(service) = self.config.service(&name).cloned() else { continue };
            log::info!("restarting the thread of service {name}");
            if let Err(err) = self.start_service(service) {
                log::error!("failed to restart service {name}: {err:#}");
            }
        }
    }

    fn run_all_checks_now(&self) {
        log::info!("received SIGURG, running all checks now");
        for thread in self.threads.values() {
            thread.run_now();
        }
    }

    fn reload(&mut self) {
        log::info!("received SIGHUP, reloading the configuration");
        self.notifier.reloading();
        self.apply_reload();
        self.report();
        self.notifier.ready();
    }

    fn apply_reload(&mut self) {
        let loaded = match config::load(&self.sources, Programs::MayBeMissing) {
            Ok(loaded) => loaded,
            Err(rejected) => {
                for warning in &rejected.warnings {
                    log::warn!("{warning}");
                }
                event!(
                    catalog::Alert::ReloadRejected,
                    "reload failed, keeping the running configuration: {}",
                    rejected.error
                );
                self.last_reload = LastReload::Rejected(LocalTime::now(), rejected.error.to_string());
                return;
            }
        };
        for warning in &loaded.warnings {
            log::warn!("{warning}");
        }
        let new = loaded.config;
        let plan = reload::plan(&self.config, &new);
        for key in &plan.needs_restart {
            log::warn!("{key} changed; that takes a restart, the old value stays in force");
        }
        for change in &plan.apply {
            match change {
                DaemonChange::Logging => {
                    if let Err(err) = logging::init(&new.daemon.log, &section_names(&new)) {
                        log::error!("keeping the old logging settings: {err}");
                    }
                }
                DaemonChange::Prometheus => {
                    if let Some(exporter) = self.exporter.take() {
                        exporter.stop();
                    }
                    self.exporter = Exporter::start(&new.daemon.prometheus).unwrap_or_else(|err| {
                        log::error!("{err:#}");
                        None
                    });
                }
                // The writer gets the new routing below in any case.
                DaemonChange::Bird => {}
            }
        }
        for name in plan.restart.iter().chain(&plan.stop) {
            self.restarts.remove(name);
            self.restart_backoff.remove(name);
            if let Some(mut thread) = self.threads.remove(name) {
                thread.stop();
                self.retiring.push(thread);
            }
            self.generations.remove(name);
        }
        for name in plan.restart.iter().chain(&plan.start) {
            self.generations.insert(name.clone(), self.next_generation);
            self.next_generation += 1;
        }
        for name in &plan.retune {
            if let (Some(thread), Some(service)) = (self.threads.get_mut(name), new.service(name)) {
                thread.retune(service.clone());
            }
        }
        // A maintenance file made or removed before the SIGHUP takes effect now.
        for thread in self.threads.values() {
            thread.check_maintenance();
        }
        self.writer.update(routing(&new, &self.generations));
        metrics::set_services(&new.services);
        self.config = new;
        for name in plan.restart.iter().chain(&plan.start) {
            let Some(service) = self.config.service(name).cloned() else { continue };
            if let Err(err) = self.start_service(service) {
                log::error!("failed to start service {name}: {err:#}");
            }
        }
        event!(
            catalog::Alert::ReloadApplied,
            "reload applied: {} services kept, {} retuned (state kept), {} changed, {} added, {} removed",
            plan.keep.len(),
            plan.retune.len(),
            plan.restart.len(),
            plan.start.len(),
            plan.stop.len()
        );
        log::info!("{}", summary(&self.config));
        self.last_reload = LastReload::Applied(LocalTime::now());
    }

    fn shutdown(&mut self, signals: &Receiver<i32>) -> Result<()> {
        self.notifier.stopping();
        let mut threads: Vec<ServiceThread> =
            std::mem::take(&mut self.threads).into_values().chain(self.retiring.drain(..)).collect();
        // Each thread kills its own running check and sends its exit notice.
        for thread in &mut threads {
            thread.stop();
        }
        let deadline = Instant::now() + STOP_PATIENCE;
        while !threads.is_empty() {
            let Ok(exit) = self.exits.recv_deadline(deadline) else {
                log::error!("{} service threads did not stop in time; stopping anyway", threads.len());
                break;
            };
            if let Some(index) =
                threads.iter().position(|t| t.service.name == exit.service && t.generation == exit.generation)
            {
                threads.swap_remove(index).join();
            }
        }
        self.drain_on_exit(signals);
        let events = self.writer.events();
        for service in &self.config.services {
            let action = match service.on_exit {
                OnExit::Keep => continue,
                OnExit::Withdraw | OnExit::Drain => Action::Withdraw,
                OnExit::Advertise => Action::Advertise,
            };
            let generation = self.generations.get(&service.name).copied().unwrap_or_default();
            events.send(ServiceEvent { service: service.name.clone(), generation, action });
        }
        self.writer.forget_degraded();
        let patience = self.config.daemon.bird_reconfigure_timeout * 2 + Duration::from_secs(5);
        if !self.writer.flush(patience) {
            log::error!("the Bird writer did not finish in {}s; stopping anyway", patience.as_secs());
        } else if self.config.services.iter().any(|s| s.on_exit != OnExit::Keep) {
            // Bird answers `configure` before its sessions carry the change out (a few
            // ms later): a stop that changed the routes lingers, so that the peers
            // have them when the unit is inactive.
            std::thread::sleep(STOP_LINGER);
        }
        self.writer.stop();
        if let Some(exporter) = self.exporter.take() {
            exporter.stop();
        }
        status::remove(&self.config.daemon.pidfile);
        event!(catalog::Alert::Stopped, "shutdown is complete");
        Ok(())
    }
}

/// One line for the operator: what runs, how often, and where Bird gets it, e.g.
/// `12 services (10 checked, 2 disabled), 1.4 checks/s; IPv4: /var/lib/.../a.conf, reloaded by 'configure' on /run/bird/bird.ctl`.
/// The versions whose Bird has been behind its prefix file for `threshold` seconds
/// or more and not reported yet in this episode; a version back in sync may be
/// reported again later. `behind` is the writer's (version, seconds behind).
fn newly_behind(
    behind: &[(IpVersion, f64)],
    threshold: f64,
    alerted: &mut Vec<IpVersion>,
) -> Vec<(IpVersion, f64)> {
    alerted.retain(|version| behind.iter().any(|(v, seconds)| v == version && *seconds > 0.0));
    let mut report = Vec::new();
    for &(version, seconds) in behind {
        if seconds >= threshold && seconds > 0.0 && !alerted.contains(&version) {
            alerted.push(version);
            report.push((version, seconds));
        }
    }
    report
}

fn summary(config: &Config) -> String {
    let total = config.services.len();
    let checked: Vec<&Service> = config.services.iter().map(|s| &**s).filter(|s| !s.check_disabled).collect();
    // Folded from +0.0: an empty `sum()` of floats is -0.0, printed "-0.0".
    let rate = checked.iter().map(|s| 1.0 / s.check_interval.as_secs_f64()).fold(0.0, |a, b| a + b);
    let noun = if total == 1 { "service" } else { "services" };
    let mut line = format!(
        "{total} {noun} ({} checked, {} disabled), {} checks/s",
        checked.len(),
        total - checked.len(),
        format_rate(rate)
    );
    for bird in &config.daemon.bird {
        line.push_str(&format!(
            "; {}: {}, reloaded by {}",
            bird.version,
            bird.conf.display(),
            bird.reconfigure
        ));
    }
    line
}

/// A rate with one decimal, or two below 0.1 (a 60 s interval is 0.02 checks/s).
fn format_rate(rate: f64) -> String {
    if rate > 0.0 && rate < 0.1 {
        format!("{rate:.2}")
    } else {
        format!("{rate:.1}")
    }
}

/// What the writer must know: the Bird settings and each service's prefixes.
fn routing(config: &Config, generations: &HashMap<String, u64>) -> Routing {
    let services = config
        .services
        .iter()
        .map(|service| {
            let routes = ServiceRoutes {
                generation: generations.get(&service.name).copied().unwrap_or(0),
                prefixes: service.ip_prefixes.clone(),
                custom: service.custom_bird_reconfigure_cmd.as_ref().map(|argv| CustomCommand {
                    argv: argv.clone(),
                    timeout: service.custom_bird_reconfigure_cmd_timeout,
                }),
            };
            (service.name.clone(), routes)
        })
        .collect();
    Routing::new(
        config.daemon.bird.clone(),
        config.daemon.bird_reconfigure_timeout,
        config.daemon.purge_ip_prefixes,
        services,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bird_behind_is_reported_once_per_episode() {
        use IpVersion::{V4, V6};
        let mut alerted = Vec::new();
        // (behind, newly reported) in order, threshold 60 s.
        type Step<'a> = (&'a [(IpVersion, f64)], &'a [IpVersion]);
        let steps: &[Step] = &[
            (&[(V4, 0.0), (V6, 0.0)], &[]),
            (&[(V4, 59.9), (V6, 0.0)], &[]),
            (&[(V4, 60.0), (V6, 0.0)], &[V4]),
            (&[(V4, 600.0), (V6, 61.0)], &[V6]),
            (&[(V4, 0.0), (V6, 62.0)], &[]),
            (&[(V4, 60.5), (V6, 63.0)], &[V4]),
        ];
        for (n, (behind, expected)) in steps.iter().enumerate() {
            let reported: Vec<IpVersion> =
                newly_behind(behind, 60.0, &mut alerted).into_iter().map(|(v, _)| v).collect();
            assert_eq!(reported, *expected, "step {n}");
        }
    }

    fn load(text: &str) -> Config {
        let daemon =
            "[daemon]\npidfile = /tmp/x.pid\nbird_conf = /tmp/a.conf\nbird_reconfigure_cmd = /bin/true\n\
                      ipv6 = true\nbird6_conf = /tmp/b.conf\nbird6_control_socket = /run/bird/bird.ctl\n";
        config::load_texts(&[(std::path::Path::new("m.conf"), &format!("{daemon}{text}"))]).unwrap().config
    }

    #[test]
    fn the_summary_counts_services_rates_and_names_the_bird_files() {
        let config = load(
            "[DEFAULT]\ncheck_disabled = false\ncheck_cmd = /bin/true\n\
             [a]\nip_prefix = 10.0.0.1\ncheck_interval = 1\n\
             [b]\nip_prefix = 10.0.0.2\ncheck_interval = 2.5\n\
             [c]\nip_prefix = 10.0.0.3\ncheck_disabled = true\n",
        );
        assert_eq!(
            summary(&config),
            "3 services (2 checked, 1 disabled), 1.4 checks/s; IPv4: /tmp/a.conf, reloaded by /bin/true; \
             IPv6: /tmp/b.conf, reloaded by 'configure' on /run/bird/bird.ctl"
        );
        let one = load(
            "[a]\ncheck_cmd = /bin/true\nip_prefix = 10.0.0.1\ncheck_disabled = false\ncheck_interval = 60\n",
        );
        assert!(
            summary(&one).starts_with("1 service (1 checked, 0 disabled), 0.02 checks/s;"),
            "{}",
            summary(&one)
        );
        let none = load("");
        assert!(
            summary(&none).starts_with("0 services (0 checked, 0 disabled), 0.0 checks/s;"),
            "{}",
            summary(&none)
        );
    }
}
