//! One service's thread: wait for the next slot (or a control request), probe, run the
//! state machine, and tell the Bird writer when the state changes.
//!
//! The thread only ever talks to the writer through [`EventSender`] (a crossbeam
//! channel). It waits for its next slot on its own control requests with a deadline, so
//! a "check now" (SIGURG) is never lost, even when it arrives while a check runs;
//! stopping is immediate between checks and kills a running check. When the thread
//! ends, for whatever reason (a panic included), it says so on the daemon's exit
//! channel, so a dead thread is never silent.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use crossbeam_channel::Sender;

use crate::bird::{Action, EventSender, ServiceEvent};
use crate::config::{OnDisabled, Service};
use crate::service::health::outcome::{FileAction, ServiceStatus};
use crate::service::health::{CheckResult, Health, Verdict};
use crate::service::netif::{self, Assignment};
use crate::service::probe::{CheckRun, NativeProbe};
use crate::service::tracker::{Decision, MaintenanceStep, Tracker, Tuning};
use crate::sys::command::{self, Outcome};
use crate::sys::duration_fmt;
use crate::sys::timer_slack;
use crate::telemetry::catalog::{event, Alert};
use crate::telemetry::logging::{self, ServiceFields};
use crate::telemetry::metrics;

/// Logs one of upstream's per-check lines (at INFO), unless `log_each_check = false`
/// asks for events and transitions only.
macro_rules! per_check {
    ($worker:expr, $($arg:tt)*) => {
        if $worker.service.log_each_check {
            log::info!($($arg)*);
        }
    };
}

/// Stack size of a service thread: it runs a check and formats log lines, no more, and
/// thousands of them must fit.
///
/// **The stack budget**, the one rule for every frame a check goes through: a thread
/// keeps resident every stack page its deepest call ever touched, and glibc's thread
/// block and TLS sit above our frames, so a check's deepest call (spawn, reading the
/// output, a log line) stays under 8 KiB from the top: two resident pages per thread.
/// Hence the worker is boxed (std moves a thread's closure through its frames by
/// value), `sys::spawn::spawn` and `sys::command`'s output reader are never inlined
/// into one frame, the read buffer starts small, signal masks are the kernel's 8
/// bytes, and durations are printed without float formatting (`sys::duration_fmt`).
const STACK_SIZE: usize = 128 * 1024;

/// A service thread has ended: sent by the thread itself as it ends, panicking or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    pub service: String,
    pub generation: u64,
    pub panicked: bool,
}

/// Sends the thread's [`Exit`] when dropped: on return and on unwinding alike.
struct ExitNotice {
    exit: Exit,
    exits: Sender<Exit>,
}

impl Drop for ExitNotice {
    fn drop(&mut self) {
        self.exit.panicked = std::thread::panicking();
        let _ = self.exits.send(self.exit.clone());
    }
}

/// What the operator sees of a service (`--status`): its state, since when, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceView {
    /// Never disabled or dead: those have no thread.
    pub state: ServiceStatus,
    pub since: SystemTime,
    /// The last check's result or what holds the service, one line.
    pub reason: String,
    pub penalty: Option<f64>,
}

/// The view, shared by the thread (which writes it) and the daemon (which reports it).
#[derive(Clone)]
struct SharedView(Arc<Mutex<ServiceView>>);

impl SharedView {
    fn new() -> SharedView {
        SharedView(Arc::new(Mutex::new(ServiceView {
            state: ServiceStatus::Unknown,
            since: SystemTime::now(),
            reason: "no check yet".to_string(),
            penalty: None,
        })))
    }

    fn set(&self, state: ServiceStatus, reason: &str, penalty: Option<f64>) {
        let mut view = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if view.state != state {
            view.state = state;
            view.since = SystemTime::now();
        }
        // Rewritten in place: the reason is mostly the same as last time, and a new
        // string per check is one more block each thread's allocator cache keeps.
        view.reason.clear();
        view.reason.extend(reason.chars().map(|c| if c == '\n' || c == '\t' { ' ' } else { c }));
        view.penalty = penalty;
    }

    fn get(&self) -> ServiceView {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}

/// A running service thread.
pub struct ServiceThread {
    pub service: Arc<Service>,
    pub generation: u64,
    control: Arc<Control>,
    view: SharedView,
    thread: Option<JoinHandle<()>>,
}

impl ServiceThread {
    /// Starts checking `service`; its events carry `generation`; it sends an [`Exit`]
    /// on `exits` when it ends.
    pub fn spawn(
        service: Arc<Service>,
        generation: u64,
        events: EventSender,
        exits: Sender<Exit>,
        splay: Option<Duration>,
    ) -> Result<ServiceThread> {
        let control = Arc::new(Control::default());
        let view = SharedView::new();
        // Boxed: the stack budget (see `STACK_SIZE`).
        let worker = Box::new(ServiceWorker {
            service: Arc::clone(&service),
            generation,
            events,
            control: Arc::clone(&control),
            view: view.clone(),
        });
        let notice =
            ExitNotice { exit: Exit { service: service.name.clone(), generation, panicked: false }, exits };
        let thread = std::thread::Builder::new()
            .name(service.name.clone())
            .stack_size(STACK_SIZE)
            .spawn(move || {
                let _notice = notice;
                let mut worker = worker;
                worker.run(splay);
            })
            .with_context(|| format!("failed to start the thread of service {}", service.name))?;
        Ok(ServiceThread { service, generation, control, view, thread: Some(thread) })
    }

    /// Asks for a check as soon as the current one (if any) is done. Requests that
    /// arrive while one is pending are folded into it.
    pub fn run_now(&self) {
        self.control.request(|state| state.run_now = true);
    }

    /// Asks the thread to look at its maintenance files now (a reload; SIGURG looks too,
    /// as part of its check).
    pub fn check_maintenance(&self) {
        self.control.request(|state| state.maintenance = true);
    }

    /// Gives the thread new timing, rise/fail or damping settings: it keeps its state,
    /// counters and damping penalty (see [`Service::retunable_to`]).
    pub fn retune(&mut self, service: Arc<Service>) {
        self.service = Arc::clone(&service);
        self.control.request(|state| state.retune = Some(service));
    }

    /// Tells the thread to stop now: a running check is killed with its group (and
    /// counts for nothing), a waiting thread wakes. Its [`Exit`] follows.
    pub fn stop(&mut self) {
        self.control.cancel.store(true, Ordering::Relaxed);
        self.control.request(|state| state.stop = true);
    }

    /// The service as the operator sees it now.
    pub fn view(&self) -> ServiceView {
        self.view.get()
    }

    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().map_or(true, JoinHandle::is_finished)
    }

    /// Waits for the thread to end (call it once its [`Exit`] came). False if it
    /// ended by panicking.
    pub fn join(mut self) -> bool {
        self.stop();
        self.thread.take().map_or(true, |t| t.join().is_ok())
    }
}

/// The event for a disabled service: its prefixes follow `on_disabled` once.
pub fn disabled_event(service: &Service, generation: u64) -> ServiceEvent {
    let action = match service.on_disabled {
        OnDisabled::Withdraw => {
            log::info!("[{}] check is disabled and ip_prefix will be withdrawn", service.name);
            Action::Withdraw
        }
        OnDisabled::Advertise => {
            log::info!("[{}] check is disabled, ip_prefix wont be withdrawn", service.name);
            Action::Advertise
        }
    };
    ServiceEvent { service: service.name.clone(), generation, action }
}

struct ServiceWorker {
    service: Arc<Service>,
    generation: u64,
    events: EventSender,
    control: Arc<Control>,
    view: SharedView,
}

/// Requests for a service thread. A flag and a condition variable rather than a
/// channel: a waiting thread parks at once, where a channel's receive spins and yields
/// first, which costs CPU a thousand times over.
#[derive(Default)]
struct Control {
    state: Mutex<Requests>,
    changed: Condvar,
    /// Set on stop: a running check ends at once.
    cancel: AtomicBool,
}

#[derive(Default)]
struct Requests {
    /// A check is asked for; requests made while one is pending fold into it.
    run_now: bool,
    stop: bool,
    /// New timing, rise/fail or damping settings (a reload): taken between checks.
    retune: Option<Arc<Service>>,
    /// Look at the maintenance files now (a reload).
    maintenance: bool,
}

impl Control {
    fn request(&self, update: impl FnOnce(&mut Requests)) {
        update(&mut self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
        self.changed.notify_one();
    }

    /// Waits for `deadline`, a "check now" or a stop. Any number of "check now"
    /// requests made since the last wait are one.
    fn wait_until(&self, deadline: Instant) -> ServiceWake {
        let mut requests = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        loop {
            if requests.stop {
                return ServiceWake::Stop;
            }
            if let Some(service) = requests.retune.take() {
                return ServiceWake::Retune(service);
            }
            if requests.maintenance {
                requests.maintenance = false;
                return ServiceWake::Maintenance;
            }
            if requests.run_now {
                requests.run_now = false;
                return ServiceWake::Asked;
            }
            let now = Instant::now();
            if now >= deadline {
                return ServiceWake::Scheduled;
            }
            requests = match self.changed.wait_timeout(requests, deadline - now) {
                Ok((requests, _)) => requests,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }
}

/// What the wait between checks ended with.
#[derive(Debug, PartialEq)]
enum ServiceWake {
    /// The slot came.
    Scheduled,
    /// A check was asked for ("check now"); requests made meanwhile were folded in.
    Asked,
    /// New settings for the same service (a reload); the wait goes on with them.
    Retune(Arc<Service>),
    /// Look at the maintenance files now (a reload).
    Maintenance,
    Stop,
}

impl ServiceWorker {
    /// Waits for the next slot, checks, and carries out what the tracker decided,
    /// until stopped.
    fn run(&mut self, splay: Option<Duration>) {
        if !self.start(splay) {
            return;
        }
        let mut tracker = Tracker::new(Tuning::of(&self.service), Instant::now());
        let mut asked = false; // The last check was an extra one, not the schedule's.
        loop {
            let started = Instant::now();
            crate::sys::test_fault::inject(&self.service.name);
            let mut verdict = None;
            if !self.follow_maintenance(&mut tracker) {
                let Some(checked) = self.check() else {
                    return; // Stopped mid-check: that check counts for nothing.
                };
                let decision = tracker.after_check(checked.result, checked.degraded, Instant::now());
                self.carry_out(&decision, &checked);
                per_check!(self, "wall clock time {}ms", duration_fmt::millis(started.elapsed()));
                verdict = Some(decision.verdict);
            }
            let mut next = tracker.next_wake(started, Instant::now(), asked, verdict);
            asked = loop {
                self.say_sleeping_until(next);
                match self.wait_until(next) {
                    ServiceWake::Stop => return,
                    ServiceWake::Scheduled => break false,
                    ServiceWake::Asked => break true,
                    ServiceWake::Maintenance if !self.follow_maintenance(&mut tracker) => break true,
                    ServiceWake::Maintenance => next = tracker.drain_ends(next),
                    ServiceWake::Retune(service) => next = self.retune(&mut tracker, service).unwrap_or(next),
                }
            };
        }
    }

    /// Takes new settings (a reload) without starting over; the next wake-up if the
    /// schedule changed.
    fn retune(&mut self, tracker: &mut Tracker, service: Arc<Service>) -> Option<Instant> {
        log::info!("new settings for {}; its state and counters are kept", service.name);
        let retuned = tracker.retune(Tuning::of(&service), Instant::now());
        if let Some(action) = retuned.readvertise {
            log::warn!("flap damping is off for {}: announcing it again", service.name);
            self.send(bird_action(action));
        }
        timer_slack::set_for_this_thread(timer_slack::for_interval(service.check_fast_interval));
        self.service = service;
        retuned.next
    }

    /// Before the first check: the thread's timer slack and log fields, and the
    /// startup splay. False if stopped meanwhile.
    fn start(&self, splay: Option<Duration>) -> bool {
        timer_slack::set_for_this_thread(timer_slack::for_interval(self.service.check_fast_interval));
        if let Some(first) = self.service.ip_prefixes.first() {
            logging::set_service_fields(ServiceFields {
                ip_address: first.addr().to_string().into(),
                prefix_length: first.prefix_len(),
                status: ServiceStatus::Unknown.as_str(),
                ip_check_disabled: self.service.ip_check_disabled,
                ip_prefixes: self.service.ip_prefixes.iter().map(ToString::to_string).collect(),
            });
        }
        if let Some(splay) = splay.filter(|s| !s.is_zero()) {
            let delay = random_below(splay, &self.service.name);
            log::info!("delaying startup for {}secs", duration_fmt::secs(delay));
            return self.wait_until(Instant::now() + delay) != ServiceWake::Stop;
        }
        true
    }

    /// A native probe, in this thread: no process is forked.
    fn probe_natively(&self, probe: &NativeProbe<'_>) -> Checked {
        per_check!(self, "{probe}");
        let started = Instant::now();
        let result = probe.run(self.service.check_timeout);
        let duration = started.elapsed();
        let timed_out = result.as_ref().is_err_and(|failure| failure.timed_out);
        metrics::check_finished(&self.service.name, (!timed_out).then_some(duration));
        match result {
            Ok(()) => {
                per_check!(self, "check duration {}ms", duration_fmt::millis(duration));
                Checked {
                    result: CheckResult::Passed,
                    code: 0,
                    reason: Cow::Borrowed("check passed"),
                    degraded: false,
                }
            }
            Err(failure) => {
                if timed_out {
                    // Always logged, like a check command's timeout: it is an event.
                    event!(Alert::CheckTimedOut, "check timed out: {}", failure.reason);
                } else if self.service.log_each_check {
                    log::warn!("check failed: {}", failure.reason);
                }
                let code = if timed_out { 126 } else { 1 };
                Checked {
                    result: CheckResult::Failed,
                    code,
                    reason: Cow::Owned(failure.reason),
                    degraded: false,
                }
            }
        }
    }

    /// Follows the maintenance files (the tracker decides, see
    /// `Tracker::maintenance`) and says what it did. True while in maintenance.
    fn follow_maintenance(&self, tracker: &mut Tracker) -> bool {
        let found = self.service.maintenance_files.iter().find(|f| f.exists());
        let shown = || found.map(|f| f.display().to_string()).unwrap_or_default();
        let name = &self.service.name;
        match tracker.maintenance(found.map(PathBuf::as_path), Instant::now()) {
            MaintenanceStep::NotIn => return false,
            MaintenanceStep::Left(file) => {
                log::warn!(
                    "{name} leaves maintenance: {} is gone; the check decides again, from a new rise",
                    file.display()
                );
                return false;
            }
            MaintenanceStep::EnterWithdrawn => {
                event!(
                    Alert::Maintenance,
                    "{name} enters maintenance: {} exists; withdrawing its prefixes",
                    shown()
                );
                self.send(Action::Withdraw);
            }
            MaintenanceStep::EnterDraining => {
                let drain = self.service.drain_seconds.as_secs_f64();
                event!(
                    Alert::Draining,
                    "{name} enters maintenance: {} exists; draining for {drain:.0}s, then withdrawing",
                    shown()
                );
                self.send(Action::Drain);
            }
            MaintenanceStep::Drained => {
                log::warn!("{name} is drained; withdrawing its prefixes");
                self.send(Action::Withdraw);
            }
            MaintenanceStep::Held => {}
        }
        if let Some((status, file)) = tracker.in_maintenance() {
            logging::set_service_status(status.as_str());
            metrics::service_status(name, status.as_str());
            self.view.set(status, &format!("{} exists", file.display()), None);
        }
        true
    }

    /// Upstream's per-check line before a wait (at DEBUG).
    fn say_sleeping_until(&self, next: Instant) {
        if self.service.log_each_check {
            log::debug!(
                "sleeping for {}secs",
                duration_fmt::secs(next.saturating_duration_since(Instant::now()))
            );
        }
    }

    /// Waits for `deadline`, a "check now" or a stop.
    fn wait_until(&self, deadline: Instant) -> ServiceWake {
        let wake = self.control.wait_until(deadline);
        if wake == ServiceWake::Asked {
            per_check!(self, "running the check now, as asked");
        }
        wake
    }

    /// One probe: the addresses on the interface, then the check command. The code is
    /// what the state metric shows when this probe decides: 0 passed, the exit status,
    /// 126 a timeout, 1 an address not assigned, minus the signal number.
    fn check(&self) -> Option<Checked> {
        let service = &self.service;
        if service.ip_check_disabled {
            log::debug!("checking for IP assignment on interface {} is disabled", service.interface);
        } else {
            for prefix in &service.ip_prefixes {
                let assignment = netif::assignment(&service.interface, prefix.addr());
                metrics::ip_assignment(&service.name, assignment == Assignment::Assigned);
                let why = match assignment {
                    Assignment::Assigned => continue,
                    Assignment::NotAssigned => {
                        format!("{prefix} isn't assigned to {} interface", service.interface)
                    }
                    Assignment::NoSuchInterface => {
                        format!("interface {} does not exist, so {prefix} is not assigned", service.interface)
                    }
                    Assignment::Unknown(err) => {
                        format!(
                            "cannot read the addresses of {}: {err}; treating {prefix} as not assigned",
                            service.interface
                        )
                    }
                };
                event!(Alert::IpNotAssigned, "status DOWN because {why}");
                return Some(Checked {
                    result: CheckResult::AddressMissing,
                    code: 1,
                    reason: Cow::Owned(why),
                    degraded: false,
                });
            }
        }
        let argv = match CheckRun::of(&service.check) {
            CheckRun::Native(probe) => return Some(self.probe_natively(&probe)),
            CheckRun::Command(argv) => argv,
        };
        per_check!(self, "running {argv}");
        let done = command::run_cancellable(argv, service.check_timeout, &self.control.cancel);
        let timed_out = matches!(done.outcome, Outcome::TimedOut);
        metrics::check_finished(&service.name, (!timed_out).then_some(done.duration));
        let (probe, code, reason) = match &done.outcome {
            Outcome::Cancelled => return None,
            Outcome::Exited(code) if service.check_degraded_exit_codes.contains(code) => {
                per_check!(
                    self,
                    "check duration {}ms, exit status {code}: degraded",
                    duration_fmt::millis(done.duration)
                );
                return Some(Checked {
                    result: CheckResult::Passed,
                    code: 0,
                    reason: Cow::Owned(format!("check exited {code}: degraded")),
                    degraded: true,
                });
            }
            Outcome::Exited(0) => {
                per_check!(self, "check duration {}ms", duration_fmt::millis(done.duration));
                (CheckResult::Passed, 0, Cow::Borrowed("check passed"))
            }
            Outcome::Exited(code) => {
                per_check!(
                    self,
                    "check duration {}ms, exit status {code}",
                    duration_fmt::millis(done.duration)
                );
                for (name, stream) in [("stderr", &done.stderr), ("stdout", &done.stdout)] {
                    let text = stream.text();
                    if !text.is_empty() {
                        per_check!(self, "{name} from the check: {text}");
                    }
                }
                (CheckResult::Failed, i64::from(*code), Cow::Owned(format!("check exited {code}")))
            }
            Outcome::Signaled(signal) => {
                per_check!(self, "check was killed by {}", crate::sys::signal_name::signal_name(*signal));
                (
                    CheckResult::Failed,
                    -i64::from(*signal),
                    Cow::Owned(format!("check killed by {}", crate::sys::signal_name::signal_name(*signal))),
                )
            }
            Outcome::TimedOut => {
                event!(
                    Alert::CheckTimedOut,
                    "check timed out after {}s; its process group was killed",
                    duration_fmt::secs(service.check_timeout)
                );
                (
                    CheckResult::Failed,
                    126,
                    Cow::Owned(format!(
                        "check timed out after {}s",
                        duration_fmt::secs(service.check_timeout)
                    )),
                )
            }
            Outcome::NotStarted(err) => {
                event!(Alert::CheckNotStarted, "failed to run check command {argv}: {err}");
                (CheckResult::Failed, 127, Cow::Owned(format!("check could not be started: {err}")))
            }
            Outcome::Unknown(err) => {
                log::error!("the exit status of check command {argv} is lost: {err}");
                (CheckResult::Failed, 127, Cow::Owned(format!("check's exit status lost: {err}")))
            }
        };
        Some(Checked { result: probe, code, reason, degraded: false })
    }

    /// Says what a check decided, and tells the writer what the file must say: the
    /// metrics, the per-check and event lines, the file actions, the status word.
    fn carry_out(&self, decision: &Decision, checked: &Checked) {
        let name = &self.service.name;
        match decision.verdict {
            Verdict::Changed(health) => {
                metrics::service_state(name, checked.code, true);
                logging::set_service_status(health.as_str());
                match health {
                    Health::Down => event!(Alert::Down, "changed to DOWN"),
                    _ => event!(Alert::Up, "changed to {}", health.to_string().to_uppercase()),
                }
            }
            Verdict::Steady(health) => {
                metrics::service_state(name, checked.code, false);
                per_check!(self, "status {}", health.to_string().to_uppercase());
            }
            Verdict::Counting { to, count, needed } => {
                let direction = if to == Health::Up { "up" } else { "down" };
                per_check!(self, "going {direction} {count}/{needed}");
            }
        }
        if let Some(penalty) = decision.suppressed {
            event!(
                Alert::Suppressed,
                "flap damping suppresses {name}: penalty {penalty:.2} is above damping_suppress; held withdrawn"
            );
        }
        if let Some((penalty, reuse)) = decision.held {
            log::info!(
                "held withdrawn by flap damping (penalty {penalty:.2}, released in {:.0}s at the latest)",
                reuse.as_secs_f64()
            );
        }
        match decision.degraded {
            Some(true) => event!(Alert::Degraded, "status DEGRADED: still advertised, less preferred"),
            Some(false) => log::info!("no longer degraded"),
            None => {}
        }
        if let Some(action) = decision.action {
            self.send(bird_action(action));
        }
        if let Some(penalty) = decision.released {
            log::warn!("flap damping releases {name}: penalty {penalty:.2}; the check decides again");
        }
        if let Some(action) = decision.readvertise {
            self.send(bird_action(action));
        }
        if let Some(penalty) = decision.penalty {
            metrics::damping_penalty(name, penalty);
        }
        metrics::service_status(name, decision.status.as_str());
        self.view.set(decision.status, &checked.reason, decision.penalty);
    }

    fn send(&self, action: Action) {
        let prefixes: Vec<String> = self.service.ip_prefixes.iter().map(ToString::to_string).collect();
        log::info!("adding {} in the queue", prefixes.join(", "));
        self.events.send(ServiceEvent {
            service: self.service.name.clone(),
            generation: self.generation,
            action,
        });
    }
}

/// What a probe found: its result for rise/fail, the code the state metric shows (0
/// passed, the exit status, 126 a timeout, 1 an address not assigned, minus the signal
/// number), why, and whether the exit code is one of `check_degraded_exit_codes`.
struct Checked {
    result: CheckResult,
    code: i64,
    reason: Cow<'static, str>,
    degraded: bool,
}

/// The writer's word for a file action.
fn bird_action(action: FileAction) -> Action {
    match action {
        FileAction::Advertise => Action::Advertise,
        FileAction::AdvertiseDegraded => Action::AdvertiseDegraded,
        FileAction::Withdraw => Action::Withdraw,
    }
}

/// A random duration in `[0, limit)`, rounded to milliseconds like upstream's splay.
/// No random crate: std's randomly keyed hasher is plenty to spread start times.
fn random_below(limit: Duration, name: &str) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write(name.as_bytes());
    let millis = limit.as_millis().max(1) as u64;
    Duration::from_millis(hasher.finish() % millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_check_now_requests_is_one_check_and_stop_wins() {
        let control = Control::default();
        let past = Instant::now();
        for _ in 0..50 {
            control.request(|state| state.run_now = true);
        }
        assert_eq!(control.wait_until(past), ServiceWake::Asked, "a request is never lost");
        assert_eq!(control.wait_until(past), ServiceWake::Scheduled, "fifty requests are one check");
        control.request(|state| state.run_now = true);
        control.request(|state| state.stop = true);
        assert_eq!(control.wait_until(past + Duration::from_secs(3600)), ServiceWake::Stop);
    }
}
