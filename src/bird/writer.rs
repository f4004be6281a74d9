//! The one thread that owns the Bird files and runs the reconfigure commands.
//!
//! It blocks for one message, drains everything already queued, folds it into the
//! desired prefix lists (one per IP version) and, only where a list changed, rewrites
//! that file and reconfigures Bird once for the lot: N services flipping together cost
//! one write and one reconfigure per IP version, and a flap that cancels out within a
//! batch costs nothing. While a reconfigure runs, new events queue up and form the next
//! batch. A failed write or reconfigure is retried with capped backoff until Bird has
//! the file's state.
//!
//! Reconfigures run on one worker thread per target (see `worker.rs`): each Bird (one
//! for both versions when they share a command or socket, else one per version) and
//! each service's custom command has its own retry and backoff, so a hung or failing
//! IPv4 Bird never delays IPv6, and no Bird gets a second `configure` before it has
//! answered the first.
//!
//! The writer's memory is the truth and the file is its output. At start it reads the
//! file to learn what is advertised now, so that a route stays until its check decides.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use crossbeam_channel::{select, Receiver, Sender};

use super::file::{self, Header};
use super::plan::{self, Action, FileView, LaneView, Routing, ServiceEvent, Target, RETRY_CAP, RETRY_FIRST};
use super::store;
use super::worker::{self, Job, ReconfigureWorker};
use crate::config::prefix::{IpPrefix, IpVersion};
use crate::config::{BirdSettings, Reconfigure};
use crate::telemetry::catalog::{event, Alert};
use crate::telemetry::metrics;

enum WriterMessage {
    Event(ServiceEvent),
    Routing(Box<Routing>),
    Flush(Sender<()>),
    /// Liveness for systemd's watchdog: the thread stores the number as answered.
    Ping(u64),
    /// Stopping: nothing will judge a service degraded any more.
    ForgetDegraded,
    Stop,
}

/// Sends service events to the writer; cheap to clone, one per service thread.
#[derive(Clone)]
pub struct EventSender(Sender<WriterMessage>);

impl EventSender {
    /// Queues `event`. After the writer has stopped this does nothing.
    pub fn send(&self, event: ServiceEvent) {
        let _ = self.0.send(WriterMessage::Event(event));
    }
}

/// What the writer thread publishes for `--status`: since when each IP version's Bird
/// lacks its file (None: Bird has it), and what the files list (dummies aside), each
/// prefix with whether it is in the degraded set. The thread owns the truth.
#[derive(Default)]
struct Published {
    lag: BTreeMap<IpVersion, Option<Instant>>,
    listed: BTreeMap<IpPrefix, bool>,
}

type Lag = Arc<Mutex<Published>>;

/// The running writer thread.
pub struct Writer {
    tx: Sender<WriterMessage>,
    thread: Option<JoinHandle<()>>,
    lag: Lag,
    /// The last ping sent, and the last one the thread answered.
    pinged: u64,
    answered: Arc<AtomicU64>,
}

impl Writer {
    /// Runs the start-up pass over the files (fixing the variable name and dummy,
    /// purging prefixes without a service when asked), then starts the thread.
    pub fn start(routing: Routing) -> Result<Writer> {
        let (reports_tx, reports) = crossbeam_channel::unbounded();
        let lag = Lag::default();
        let answered = Arc::new(AtomicU64::new(0));
        let mut state = State::new(routing, reports_tx, Arc::clone(&lag), Arc::clone(&answered));
        state.sync();
        let (tx, rx) = crossbeam_channel::unbounded();
        let thread = std::thread::Builder::new()
            .name("bird-writer".into())
            .spawn(move || state.run(&rx, &reports))
            .context("failed to start the Bird writer thread")?;
        Ok(Writer { tx, thread: Some(thread), lag, pinged: 0, answered })
    }

    /// True if the thread answered the previous call's ping (or this is the first
    /// call); each call sends a new ping. A thread stuck in a write never answers, so
    /// the daemon stops telling systemd's watchdog that it works.
    pub fn answered_last_ping(&mut self) -> bool {
        let answered = self.answered.load(Ordering::Acquire) >= self.pinged;
        self.pinged += 1;
        let _ = self.tx.send(WriterMessage::Ping(self.pinged));
        answered
    }

    /// Seconds each IP version's Bird has been behind its file (0 when in sync).
    pub fn behind(&self) -> Vec<(IpVersion, f64)> {
        let published = self.lag.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        published
            .lag
            .iter()
            .map(|(v, since)| (*v, since.map_or(0.0, |s| s.elapsed().as_secs_f64())))
            .collect()
    }

    /// What the prefix files list (or are about to): each prefix, and whether it is in
    /// the degraded set. A prefix not here is withdrawn.
    pub fn listed(&self) -> BTreeMap<IpPrefix, bool> {
        self.lag.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).listed.clone()
    }

    pub fn events(&self) -> EventSender {
        EventSender(self.tx.clone())
    }

    /// Drops every degraded mark (the daemon is stopping): the prefixes it keeps are
    /// announced plainly, and a degraded set in a file of its own is left holding only
    /// the dummy, which the Python program's Bird setup still loads after a rollback.
    pub fn forget_degraded(&self) {
        let _ = self.tx.send(WriterMessage::ForgetDegraded);
    }

    /// Replaces the routing (a reload): removed services' prefixes are withdrawn,
    /// changed Bird settings rewrite the file.
    pub fn update(&self, routing: Routing) {
        let _ = self.tx.send(WriterMessage::Routing(Box::new(routing)));
    }

    /// Waits until everything sent before has been applied and every target that
    /// Bird lacks has finished one attempt, for at most `patience`. False if that took
    /// too long.
    pub fn flush(&self, patience: Duration) -> bool {
        let (done_tx, done_rx) = crossbeam_channel::bounded(1);
        if self.tx.send(WriterMessage::Flush(done_tx)).is_err() {
            return false;
        }
        done_rx.recv_timeout(patience).is_ok()
    }

    /// Stops the thread after it has handled what is queued.
    pub fn stop(&mut self) {
        let _ = self.tx.send(WriterMessage::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// True while the thread runs (it ends only on `stop` or a panic).
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }
}

/// One IP version's file and what Bird has of it.
struct Family {
    settings: BirdSettings,
    /// The prefixes the file should list, dummy excluded, in file order: events
    /// change this at once.
    advertised: Vec<IpPrefix>,
    /// The prefixes the file lists (or is about to): `advertised` as of the last
    /// commit. Changes are committed only while this family's Bird has no reconfigure
    /// running, so events that arrive meanwhile form one batch, and a flap that cancels
    /// out within it costs nothing.
    listed: Vec<IpPrefix>,
    /// The degraded set (a subset of `advertised`) where the file has one, and what the
    /// file lists of it; empty otherwise.
    degraded: Vec<IpPrefix>,
    listed_degraded: Vec<IpPrefix>,
    /// The file on disk lists `advertised`.
    file_current: bool,
    /// Bird has loaded the file as it is on disk (through the daemon-level command).
    bird_current: bool,
    /// Counts the writes of the file: a reconfigure that started before the last
    /// write does not make Bird current.
    writes: u64,
}

impl Family {
    /// Reads the existing file and decides what must be fixed at start.
    fn load(settings: BirdSettings, routing: &Routing) -> Family {
        let path = settings.conf.display().to_string();
        if let Ok(removed) = store::remove_stale_temp_files(&settings.conf) {
            if removed > 0 {
                log::warn!("removed {removed} temp file(s) left beside {path} by an earlier run");
            }
        }
        let text = match store::read(&settings.conf) {
            Ok(text) => text,
            Err(err) => {
                log::error!("{err:#}; treating it as empty");
                Some(String::new())
            }
        };
        let Some(text) = text else {
            log::warn!("{path} does not exist, creating it");
            return Family::new(settings, Vec::new(), false);
        };
        let startup = plan::startup(file::parse(&text), &settings, routing, &path);
        for note in &startup.notes {
            log::warn!("{note}");
        }
        let degraded_ok = Family::degraded_file_ok(&settings);
        Family::new(settings, startup.advertised, !startup.fix_needed && degraded_ok)
    }

    /// A degraded set in a file of its own starts as the dummy alone: nothing has been
    /// judged degraded yet. False if the file says otherwise (or is missing), so it is
    /// rewritten at start.
    fn degraded_file_ok(settings: &BirdSettings) -> bool {
        let (Some(path), Some(variable)) = (&settings.degraded_conf, &settings.degraded_variable) else {
            return true;
        };
        let text = match store::read(path) {
            Ok(Some(text)) => text,
            Ok(None) => {
                log::warn!("{} does not exist, creating it", path.display());
                return false;
            }
            Err(err) => {
                log::error!("{err:#}; rewriting it");
                return false;
            }
        };
        let parsed = file::parse(&text);
        let dummy_only: Vec<IpPrefix> = settings.dummy_ip_prefix.into_iter().collect();
        let ok = parsed.variable.as_deref() == Some(variable.as_str())
            && parsed.prefixes == dummy_only
            && parsed.unreadable.is_empty();
        if !ok {
            log::warn!("{} is not {variable} with only the dummy; rewriting it", path.display());
        }
        ok
    }

    fn new(settings: BirdSettings, advertised: Vec<IpPrefix>, current: bool) -> Family {
        let listed = advertised.clone();
        Family {
            settings,
            advertised,
            listed,
            degraded: Vec::new(),
            listed_degraded: Vec::new(),
            file_current: current,
            bird_current: current,
            writes: 0,
        }
    }

    fn view(&self) -> FileView<'_> {
        FileView {
            version: self.settings.version,
            reconfigure: &self.settings.reconfigure,
            file_current: self.file_current,
            bird_current: self.bird_current,
        }
    }

    /// The prefix file's text: byte for byte upstream's, unless the degraded set is
    /// in it too.
    fn render(&self) -> String {
        let (variable, dummy) = (&self.settings.variable, self.settings.dummy_ip_prefix.as_ref());
        match (&self.settings.degraded_variable, &self.settings.degraded_conf) {
            (Some(degraded), None) => file::render_with_degraded(
                variable,
                dummy,
                &self.listed,
                degraded,
                &self.listed_degraded,
                &Header::now(),
            ),
            _ => file::render(variable, dummy, &self.listed, &Header::now()),
        }
    }

    /// The degraded set's own file and its text, when it has one.
    fn render_degraded(&self) -> Option<(&std::path::Path, String)> {
        let (path, variable) =
            (self.settings.degraded_conf.as_ref()?, self.settings.degraded_variable.as_ref()?);
        let dummy = self.settings.dummy_ip_prefix.as_ref();
        Some((path, file::render(variable, dummy, &self.listed_degraded, &Header::now())))
    }

    /// The desired lists differ from what the file lists.
    fn uncommitted(&self) -> bool {
        self.advertised != self.listed || self.degraded != self.listed_degraded
    }

    fn write(&mut self) -> Result<()> {
        let path = &self.settings.conf;
        if self.settings.keep_changes {
            if let Err(err) = store::archive(path, self.settings.changes_counter) {
                log::warn!("failed to keep a copy of {} in history: {err:#}", path.display());
            }
        }
        // The degraded set first: Bird is told only after both are written.
        if let Some((degraded_path, text)) = self.render_degraded() {
            store::write_atomically(degraded_path, &text)?;
        }
        store::write_atomically(path, &self.render())?;
        self.file_current = true;
        self.writes += 1;
        log::info!("Bird configuration for {} is updated", self.settings.version);
        if self.listed.is_empty() {
            log::warn!(
                "Bird configuration doesn't have IP prefixes for any of the services we monitor! \
                 It means local node doesn't receive any traffic"
            );
        }
        Ok(())
    }
}

/// A service's custom command that must still run, with the direction to pass.
type CustomPending = BTreeMap<String, Action>;

/// A target's worker and its progress.
struct Lane {
    /// Names the lane in its worker's reports (positions change as lanes go).
    id: usize,
    target: Target,
    worker: ReconfigureWorker,
    /// The job running now: for a Bird, the write count of each of its files when it
    /// started; for a custom command, its direction.
    running: Option<Running>,
    backoff: Duration,
    /// When to try again after a failure; a new change tries at once.
    retry_at: Option<Instant>,
    /// A Bird's next `configure` starts no sooner (`plan::configure_not_before`).
    not_before: Option<Instant>,
    /// Jobs finished, so a flush can wait for one more attempt.
    finished: u64,
    /// The last attempt failed (for the "recovered" line).
    failing: bool,
}

enum Running {
    Bird { writes: Vec<(IpVersion, u64)>, started: Instant },
    Custom { action: Action },
}

/// A flush waits for the batch it came in and one attempt at every lagging target.
struct PendingFlush {
    done: Sender<()>,
    /// `finished` of each lane when the flush came.
    finished_then: Vec<(Target, u64)>,
}

/// The writer's state between batches.
struct State {
    routing: Routing,
    families: Vec<Family>,
    custom_pending: CustomPending,
    lanes: Vec<Lane>,
    next_lane_id: usize,
    reports: Sender<worker::JobReport>,
    /// A failed file write is retried on its own timer.
    write_backoff: Duration,
    write_retry_at: Option<Instant>,
    flushes: Vec<PendingFlush>,
    lag: Lag,
    /// The last ping answered (see [`Writer::answered_last_ping`]).
    answered: Arc<AtomicU64>,
}

/// What one wake-up of the writer brought.
enum WriterWake {
    Messages(Vec<WriterMessage>),
    Report(worker::JobReport),
    Timer,
    Closed,
}

impl State {
    fn new(
        routing: Routing,
        reports: Sender<worker::JobReport>,
        lag: Lag,
        answered: Arc<AtomicU64>,
    ) -> State {
        let families = routing.bird.iter().map(|settings| Family::load(settings.clone(), &routing)).collect();
        State {
            routing,
            families,
            custom_pending: BTreeMap::new(),
            lanes: Vec::new(),
            next_lane_id: 0,
            reports,
            write_backoff: RETRY_FIRST,
            write_retry_at: None,
            flushes: Vec::new(),
            lag,
            answered,
        }
    }

    fn run(mut self, rx: &Receiver<WriterMessage>, reports: &Receiver<worker::JobReport>) {
        loop {
            let wake = self.wait(rx, reports);
            crate::sys::test_fault::inject("bird-writer");
            let stop = match wake {
                WriterWake::Messages(batch) => self.apply(batch),
                WriterWake::Report(report) => {
                    self.finish(report);
                    // Reports that arrived meanwhile are folded in too.
                    while let Ok(report) = reports.try_recv() {
                        self.finish(report);
                    }
                    false
                }
                WriterWake::Timer => false,
                WriterWake::Closed => true,
            };
            if stop {
                break;
            }
            self.sync();
            self.answer_flushes();
        }
        for flush in self.flushes.drain(..) {
            let _ = flush.done.send(());
        }
        for lane in self.lanes.drain(..) {
            lane.worker.stop();
        }
    }

    /// Blocks for the next message (and drains what else is queued), a worker's
    /// report, or the earliest retry.
    fn wait(&self, rx: &Receiver<WriterMessage>, reports: &Receiver<worker::JobReport>) -> WriterWake {
        // A rest still set was in the future when `sync` last looked (it clears the
        // passed ones), so it is a wake-up owed even if it has passed since.
        let idle = self.lanes.iter().filter(|l| l.running.is_none());
        let spaced = idle.clone().filter_map(|l| l.not_before);
        let deadline = idle.filter_map(|l| l.retry_at).chain(spaced).chain(self.write_retry_at).min();
        let timeout =
            deadline.map_or(Duration::from_secs(3600), |at| at.saturating_duration_since(Instant::now()));
        select! {
            recv(rx) -> message => match message {
                Ok(message) => WriterWake::Messages(std::iter::once(message).chain(rx.try_iter()).collect()),
                Err(_) => WriterWake::Closed,
            },
            recv(reports) -> report => match report {
                Ok(report) => WriterWake::Report(report),
                Err(_) => WriterWake::Closed,
            },
            default(timeout) => WriterWake::Timer,
        }
    }

    /// Folds a batch into the desired lists; true if the batch asks to stop.
    fn apply(&mut self, batch: Vec<WriterMessage>) -> bool {
        let mut stop = false;
        let mut touched = false;
        let events = batch.iter().filter(|m| matches!(m, WriterMessage::Event(_))).count();
        if events > 0 {
            metrics::batch(events);
        }
        let mut flushes = Vec::new();
        for message in batch {
            match message {
                WriterMessage::Event(event) => touched |= self.apply_event(&event),
                WriterMessage::Routing(routing) => {
                    self.set_routing(*routing);
                    touched = true;
                }
                WriterMessage::Flush(done) => flushes.push(done),
                WriterMessage::Ping(number) => self.answered.store(number, Ordering::Release),
                WriterMessage::ForgetDegraded => {
                    for family in &mut self.families {
                        family.degraded.clear();
                    }
                }
                WriterMessage::Stop => stop = true,
            }
        }
        if touched {
            // As upstream at run time: a prefix no service owns is not kept.
            let routing = &self.routing;
            for family in &mut self.families {
                family.advertised.retain(|p| routing.owner(p).is_some());
                let advertised = &family.advertised;
                family.degraded.retain(|p| advertised.contains(p));
                if family.settings.degraded_variable.is_none() {
                    family.degraded.clear();
                    family.listed_degraded.clear();
                }
            }
        }
        if !flushes.is_empty() {
            // A flush (stopping, a test) wants one attempt now, not at the next retry.
            for lane in &mut self.lanes {
                lane.retry_at = None;
            }
        }
        for done in flushes {
            let finished_then = self.lanes.iter().map(|l| (l.target.clone(), l.finished)).collect();
            self.flushes.push(PendingFlush { done, finished_then });
        }
        if stop {
            // What is queued has been folded in; write it and give Bird one try.
            self.sync();
        }
        stop
    }
    fn apply_event(&mut self, event: &ServiceEvent) -> bool {
        let mut fresh = false;
        for family in &mut self.families {
            let degraded = family.settings.degraded_variable.is_some().then_some(&mut family.degraded);
            fresh =
                plan::fold(&mut family.advertised, degraded, family.settings.version, &self.routing, event);
        }
        if !fresh {
            log::debug!("ignoring an event of a removed or replaced instance of service {}", event.service);
        }
        fresh
    }

    fn set_routing(&mut self, routing: Routing) {
        let mut families = Vec::new();
        for settings in &routing.bird {
            match self.families.iter().position(|f| f.settings.version == settings.version) {
                Some(index) => {
                    let mut family = self.families.swap_remove(index);
                    if family.settings != *settings {
                        log::info!(
                            "Bird settings for {} changed; rewriting {}",
                            settings.version,
                            settings.conf.display()
                        );
                        family.settings = settings.clone();
                        family.file_current = false;
                        family.bird_current = false;
                    }
                    families.push(family);
                }
                None => families.push(Family::load(settings.clone(), &routing)),
            }
        }
        for dropped in &self.families {
            log::info!(
                "{} is disabled; no longer managing {}",
                dropped.settings.version,
                dropped.settings.conf.display()
            );
        }
        self.families = families;
        self.routing = routing;
        self.custom_pending.retain(|service, _| self.routing.services.contains_key(service));
        // A lane whose target is gone ends once its job is done; its report is ignored.
        let wanted = plan::targets(&self.views(), &self.routing);
        let (kept, gone): (Vec<Lane>, Vec<Lane>) =
            std::mem::take(&mut self.lanes).into_iter().partition(|lane| wanted.contains(&lane.target));
        self.lanes = kept;
        for lane in gone {
            drop(lane.worker);
        }
    }

    /// Commits each family's changes unless its Bird is being reconfigured: logs each
    /// change against what the file lists and marks what must be written and reloaded
    /// (a custom command for a prefix of a service that has one, the daemon's command
    /// for every other change).
    fn commit_changes(&mut self) {
        let busy: Vec<Reconfigure> = self
            .lanes
            .iter()
            .filter(|lane| lane.running.is_some())
            .filter_map(|lane| match &lane.target {
                Target::Bird(how) => Some(how.clone()),
                Target::Custom(_) => None,
            })
            .collect();
        for family in &mut self.families {
            if !family.uncommitted() || busy.contains(&family.settings.reconfigure) {
                continue;
            }
            let commit = plan::commit(&family.listed, &family.advertised, &self.routing);
            let degraded = plan::degraded_changes(&family.listed_degraded, &family.degraded);
            family.listed = family.advertised.clone();
            family.listed_degraded = family.degraded.clone();
            for (prefix, entering) in &degraded {
                let owner = self.routing.owner(prefix).map_or("no service", |(name, _)| name.as_str());
                let verb = if *entering { "degrading" } else { "no longer degrading" };
                log::info!("{verb} {prefix} for {owner}");
            }
            if commit.changes.is_empty() && degraded.is_empty() {
                continue; // Only the order differs.
            }
            family.file_current = false;
            family.bird_current &= !commit.reload_bird && degraded.is_empty();
            for change in &commit.changes {
                let verb = if change.action == Action::Advertise { "announcing" } else { "withdrawing" };
                match &change.owner {
                    Some(service) => log::info!("{verb} {} for {service}", change.prefix),
                    None => log::info!("{verb} {}: no service check is configured for it", change.prefix),
                }
            }
            for (service, action) in commit.custom {
                let target = Target::Custom(service.clone());
                if let Some(lane) = self.lanes.iter_mut().find(|l| l.target == target) {
                    lane.retry_at = None;
                }
                self.custom_pending.insert(service, action);
            }
        }
    }

    fn views(&self) -> Vec<FileView<'_>> {
        self.families.iter().map(Family::view).collect()
    }

    /// Writes what is stale, then starts a job on every idle target that Bird lacks.
    fn sync(&mut self) {
        self.commit_changes();
        let now = Instant::now();
        if self.write_retry_at.map_or(true, |at| at <= now) {
            let written = self.write_files();
            // A new file is worth trying at once, even to a Bird that failed a moment
            // ago (it may be back); a storm still sends one configure at a time.
            for lane in &mut self.lanes {
                if matches!(&lane.target, Target::Bird(how) if written.contains(how)) {
                    lane.retry_at = None;
                }
            }
        }
        for lane in &mut self.lanes {
            if lane.not_before.is_some_and(|at| at <= now) {
                lane.not_before = None;
            }
        }
        let lanes: Vec<LaneView> = self
            .lanes
            .iter()
            .map(|lane| LaneView {
                target: &lane.target,
                running: lane.running.is_some(),
                retry_at: lane.retry_at,
                not_before: lane.not_before,
            })
            .collect();
        let due = plan::due(&self.views(), &self.custom_pending, &self.routing, &lanes, now);
        for target in due {
            self.start_job(&target);
        }
        let mut published = self.lag.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        published.listed = self
            .families
            .iter()
            .flat_map(|f| f.listed.iter().map(|p| (*p, f.listed_degraded.contains(p))))
            .collect();
        let lag = &mut published.lag;
        lag.retain(|version, _| self.families.iter().any(|f| f.settings.version == *version));
        for family in &self.families {
            let in_sync = family.file_current && family.bird_current;
            metrics::bird_in_sync(family.settings.version, in_sync);
            let since = lag.entry(family.settings.version).or_insert(None);
            match (in_sync, *since) {
                (true, _) => *since = None,
                (false, None) => *since = Some(Instant::now()),
                (false, Some(_)) => {}
            }
        }
    }

    /// Writes every stale file; the reconfigure targets of those written.
    fn write_files(&mut self) -> Vec<Reconfigure> {
        let mut failed = false;
        let mut written = Vec::new();
        for family in self.families.iter_mut().filter(|f| !f.file_current) {
            match family.write() {
                Ok(()) => written.push(family.settings.reconfigure.clone()),
                Err(err) => {
                    log::error!(
                        "failed to update Bird configuration for {}: {err:#}",
                        family.settings.version
                    );
                    failed = true;
                }
            }
        }
        if failed {
            self.write_retry_at = Some(Instant::now() + self.write_backoff);
            log::warn!("retrying the Bird file in {:.1}s", self.write_backoff.as_secs_f64());
            self.write_backoff = plan::next_backoff(self.write_backoff);
        } else {
            self.write_retry_at = None;
            self.write_backoff = RETRY_FIRST;
        }
        written
    }

    /// Starts `target`'s job (`plan::due` found it may start).
    fn start_job(&mut self, target: &Target) {
        let index = match self.lanes.iter().position(|l| l.target == *target) {
            Some(index) => index,
            None => match self.open_lane(target) {
                Some(index) => index,
                None => return,
            },
        };
        let (job, running) = match target {
            Target::Bird(how) => {
                log::info!("reconfiguring BIRD by running {how}");
                let writes = self
                    .families
                    .iter()
                    .filter(|f| f.settings.reconfigure == *how && f.file_current)
                    .map(|f| (f.settings.version, f.writes))
                    .collect();
                let job = Job::Bird { how: how.clone(), timeout: self.routing.reconfigure_timeout };
                (job, Running::Bird { writes, started: Instant::now() })
            }
            Target::Custom(service) => {
                let (Some(action), Some(custom)) = (
                    self.custom_pending.get(service).copied(),
                    self.routing.services.get(service).and_then(|r| r.custom.clone()),
                ) else {
                    return;
                };
                log::info!(
                    "reconfiguring BIRD for {service} by running {} {}",
                    custom.argv,
                    action.direction()
                );
                let job =
                    Job::Custom { argv: custom.argv, direction: action.direction(), timeout: custom.timeout };
                (job, Running::Custom { action })
            }
        };
        let lane = &mut self.lanes[index];
        lane.worker.send(job);
        lane.running = Some(running);
    }

    fn open_lane(&mut self, target: &Target) -> Option<usize> {
        let name = match target {
            Target::Bird(_) => "bird-reconfigure".to_string(),
            Target::Custom(service) => format!("custom-{service}"),
        };
        let id = self.next_lane_id;
        self.next_lane_id += 1;
        match ReconfigureWorker::start(id, &name, self.reports.clone()) {
            Ok(worker) => {
                self.lanes.push(Lane {
                    id,
                    target: target.clone(),
                    worker,
                    running: None,
                    backoff: RETRY_FIRST,
                    retry_at: None,
                    not_before: None,
                    finished: 0,
                    failing: false,
                });
                Some(self.lanes.len() - 1)
            }
            Err(err) => {
                log::error!("{err:#}; retrying later");
                self.write_retry_at = Some(Instant::now() + RETRY_CAP);
                None
            }
        }
    }

    /// Takes a worker's report: marks what Bird now has, or schedules the retry.
    fn finish(&mut self, report: worker::JobReport) {
        // A lane removed by a reload reports into the void.
        let Some(lane) = self.lanes.iter_mut().find(|lane| lane.id == report.worker) else { return };
        let Some(running) = lane.running.take() else { return };
        lane.finished += 1;
        match (&report.result, lane.failing) {
            (Ok(_), true) => event!(Alert::ReconfigureRecovered, "{} works again", describe(&lane.target)),
            (Err(_), _) => {}
            (Ok(_), false) => {}
        }
        lane.failing = report.result.is_err();
        if report.result.is_err() {
            lane.retry_at = Some(Instant::now() + lane.backoff);
            lane.backoff = plan::next_backoff(lane.backoff);
        } else {
            lane.retry_at = None;
            lane.backoff = RETRY_FIRST;
        }
        if matches!(running, Running::Bird { .. }) {
            lane.not_before = Some(plan::configure_not_before(Instant::now(), report.duration));
        }
        let target = lane.target.clone();
        let retry_in = lane.retry_at.map(|at| at.saturating_duration_since(Instant::now()));
        match (target, running) {
            (Target::Bird(how), Running::Bird { writes, started }) => {
                for family in self.families.iter_mut().filter(|f| f.settings.reconfigure == how) {
                    let Some((_, written)) = writes.iter().find(|(v, _)| *v == family.settings.version)
                    else {
                        continue;
                    };
                    metrics::reconfigure_ran(family.settings.version, report.duration, report.result.is_ok());
                    if report.result.is_ok() && family.writes == *written && family.file_current {
                        family.bird_current = true;
                    }
                }
                match &report.result {
                    Ok(accepted) => log::info!(
                        "reconfigured BIRD daemon with {how} ({accepted}) in {:.1}ms",
                        started.elapsed().as_secs_f64() * 1000.0
                    ),
                    Err(why) => event!(
                        Alert::ReconfigureFailed,
                        "reconfiguring BIRD failed with {how}: {why}; retrying in {:.1}s",
                        retry_in.unwrap_or_default().as_secs_f64()
                    ),
                }
            }
            (Target::Custom(service), Running::Custom { action }) => match &report.result {
                Ok(_) => {
                    log::info!("custom command successfully reconfigured Bird for {service}");
                    if self.custom_pending.get(&service) == Some(&action) {
                        self.custom_pending.remove(&service);
                    }
                }
                Err(why) => event!(
                    Alert::ReconfigureFailed,
                    service = &service;
                    "reconfiguring BIRD failed for {service}: {why}; retrying in {:.1}s",
                    retry_in.unwrap_or_default().as_secs_f64()
                ),
            },
            _ => {}
        }
    }

    /// Answers each flush whose targets are all idle and either current or tried once
    /// since the flush came.
    fn answer_flushes(&mut self) {
        let mut waiting = Vec::new();
        for flush in std::mem::take(&mut self.flushes) {
            let committed = self.families.iter().all(|f| !f.uncommitted());
            let settled = committed
                && self.families.iter().all(|f| f.file_current || self.write_retry_at.is_some())
                && self.lanes.iter().all(|lane| {
                    let before =
                        flush.finished_then.iter().find(|(t, _)| *t == lane.target).map_or(0, |(_, n)| *n);
                    lane.running.is_none()
                        && (!plan::needs_run(
                            &lane.target,
                            &self.views(),
                            &self.custom_pending,
                            &self.routing,
                        ) || lane.finished > before)
                });
            if settled {
                let _ = flush.done.send(());
            } else {
                waiting.push(flush);
            }
        }
        self.flushes = waiting;
    }
}

/// A target in a log line.
fn describe(target: &Target) -> String {
    match target {
        Target::Bird(how) => format!("reconfiguring BIRD with {how}"),
        Target::Custom(service) => format!("the custom reconfigure command of {service}"),
    }
}
