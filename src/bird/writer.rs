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
//! The writer's memory is the truth and the file is its output. At start it reads the
//! file to learn what is advertised now, so that a route stays until its check decides.

use std::collections::{BTreeMap, HashMap};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::file::{self, Header};
use super::{reconfigure, store};
use crate::argv::Argv;
use crate::config::BirdSettings;
use crate::metrics;
use crate::prefix::{IpPrefix, IpVersion};

/// The first wait before retrying a failed write or reconfigure; it doubles up to
/// [`RETRY_CAP`].
const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_CAP: Duration = Duration::from_secs(8);

/// What a service wants for its prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Advertise,
    Withdraw,
}

impl Action {
    /// The word a custom reconfigure command gets.
    fn direction(self) -> &'static str {
        match self {
            Action::Advertise => "up",
            Action::Withdraw => "down",
        }
    }
}

/// A service's decision, sent by its thread. `generation` tells a restarted service's
/// events from its predecessor's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub service: String,
    pub generation: u64,
    pub action: Action,
}

/// A service's own reconfigure command, run with `up`/`down` instead of the daemon's.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomCommand {
    pub argv: Argv,
    pub timeout: Duration,
}

/// What the writer knows of one service.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRoutes {
    pub generation: u64,
    pub prefixes: Vec<IpPrefix>,
    pub custom: Option<CustomCommand>,
}

/// Everything the writer is told by the daemon: the Bird settings and the services.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub bird: Vec<BirdSettings>,
    pub reconfigure_timeout: Duration,
    pub purge_ip_prefixes: bool,
    pub services: BTreeMap<String, ServiceRoutes>,
    /// Which service owns each prefix: looked up for every prefix of every batch.
    owners: HashMap<IpPrefix, String>,
}

impl Plan {
    pub fn new(
        bird: Vec<BirdSettings>,
        reconfigure_timeout: Duration,
        purge_ip_prefixes: bool,
        services: BTreeMap<String, ServiceRoutes>,
    ) -> Plan {
        let owners = services
            .iter()
            .flat_map(|(name, routes)| routes.prefixes.iter().map(move |prefix| (*prefix, name.clone())))
            .collect();
        Plan { bird, reconfigure_timeout, purge_ip_prefixes, services, owners }
    }

    /// The service that owns `prefix`, if any.
    fn owner(&self, prefix: &IpPrefix) -> Option<(&String, &ServiceRoutes)> {
        self.owners.get(prefix).and_then(|name| self.services.get_key_value(name))
    }
}

enum Message {
    Event(Event),
    Plan(Box<Plan>),
    Flush(Sender<()>),
    Stop,
}

/// Sends service events to the writer; cheap to clone, one per service thread.
#[derive(Clone)]
pub struct EventSender(Sender<Message>);

impl EventSender {
    /// Queues `event`. After the writer has stopped this does nothing.
    pub fn send(&self, event: Event) {
        let _ = self.0.send(Message::Event(event));
    }
}

/// The running writer thread.
pub struct Writer {
    tx: Sender<Message>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Runs the start-up pass over the files (fixing the variable name and dummy,
    /// purging prefixes without a service when asked), then starts the thread.
    pub fn start(plan: Plan) -> Result<Writer> {
        let mut state = State::new(plan);
        state.sync();
        let (tx, rx) = crossbeam_channel::unbounded();
        let thread = std::thread::Builder::new()
            .name("bird-writer".into())
            .spawn(move || state.run(&rx))
            .context("failed to start the Bird writer thread")?;
        Ok(Writer { tx, thread: Some(thread) })
    }

    pub fn events(&self) -> EventSender {
        EventSender(self.tx.clone())
    }

    /// Replaces the plan (a reload): removed services' prefixes are withdrawn, changed
    /// Bird settings rewrite the file.
    pub fn update(&self, plan: Plan) {
        let _ = self.tx.send(Message::Plan(Box::new(plan)));
    }

    /// Waits until everything sent before has been applied and one attempt made to
    /// bring Bird up to date, for at most `patience`. False if that took too long.
    pub fn flush(&self, patience: Duration) -> bool {
        let (done_tx, done_rx) = crossbeam_channel::bounded(1);
        if self.tx.send(Message::Flush(done_tx)).is_err() {
            return false;
        }
        done_rx.recv_timeout(patience).is_ok()
    }

    /// Stops the thread after it has handled what is queued.
    pub fn stop(&mut self) {
        let _ = self.tx.send(Message::Stop);
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
    /// The prefixes the file should list, dummy excluded, in file order.
    advertised: Vec<IpPrefix>,
    /// The file on disk lists `advertised`.
    file_current: bool,
    /// Bird has loaded the file as it is on disk (through the daemon-level command).
    bird_current: bool,
}

impl Family {
    /// Reads the existing file and decides what must be fixed at start.
    fn load(settings: BirdSettings, plan: &Plan) -> Family {
        let version = settings.version;
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
            return Family { settings, advertised: Vec::new(), file_current: false, bird_current: false };
        };
        let parsed = file::parse(&text);
        let mut fix_needed = false;
        for unreadable in &parsed.unreadable {
            log::warn!(
                "{path}:{}: cannot read {:?} as an IP prefix; it will not be kept",
                unreadable.line,
                unreadable.text
            );
            fix_needed = true;
        }
        match &parsed.variable {
            None => {
                log::warn!("failed to find variable name in {path}, going to add it");
                fix_needed = true;
            }
            Some(name) if *name != settings.variable => {
                log::warn!(
                    "found incorrect variable name {name} in {path}, going to use {}",
                    settings.variable
                );
                fix_needed = true;
            }
            Some(_) => {}
        }
        let dummy = settings.dummy_ip_prefix;
        if let Some(dummy) = dummy.filter(|d| !parsed.prefixes.contains(d)) {
            log::warn!("dummy IP prefix {dummy} is missing from bird configuration {path}, adding it");
            fix_needed = true;
        }
        let mut advertised: Vec<IpPrefix> =
            parsed.prefixes.into_iter().filter(|p| Some(*p) != dummy && p.version() == version).collect();
        let foreign: Vec<String> =
            advertised.iter().filter(|p| plan.owner(p).is_none()).map(ToString::to_string).collect();
        if !foreign.is_empty() {
            if plan.purge_ip_prefixes {
                log::warn!(
                    "removing IP prefix(es) {} from {path} because they don't have a service check configured",
                    foreign.join(",")
                );
                advertised.retain(|p| plan.owner(p).is_some());
                fix_needed = true;
            } else {
                log::warn!(
                    "found IP prefixes {} in {path} without a service check configured",
                    foreign.join(",")
                );
            }
        }
        Family { settings, advertised, file_current: !fix_needed, bird_current: !fix_needed }
    }

    fn render(&self) -> String {
        file::render(
            &self.settings.variable,
            self.settings.dummy_ip_prefix.as_ref(),
            &self.advertised,
            &Header::now(),
        )
    }

    fn write(&mut self) -> Result<()> {
        let path = &self.settings.conf;
        if self.settings.keep_changes {
            if let Err(err) = store::archive(path, self.settings.changes_counter) {
                log::warn!("failed to keep a copy of {} in history: {err:#}", path.display());
            }
        }
        store::write_atomically(path, &self.render())?;
        self.file_current = true;
        log::info!("Bird configuration for {} is updated", self.settings.version);
        if self.advertised.is_empty() {
            log::warn!(
                "Bird configuration doesn't have IP prefixes for any of the services we monitor! \
                 It means local node doesn't receive any traffic"
            );
        }
        Ok(())
    }
}

/// The writer's state between batches.
struct State {
    plan: Plan,
    families: Vec<Family>,
    /// Services whose custom command must still run, with the direction to pass.
    custom_pending: BTreeMap<String, Action>,
    backoff: Duration,
    retry_at: Option<Instant>,
}

impl State {
    fn new(plan: Plan) -> State {
        let families = plan.bird.iter().map(|settings| Family::load(settings.clone(), &plan)).collect();
        State { plan, families, custom_pending: BTreeMap::new(), backoff: RETRY_FIRST, retry_at: None }
    }

    fn run(mut self, rx: &Receiver<Message>) {
        loop {
            let first = match self.retry_at {
                Some(at) => rx.recv_deadline(at),
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            let batch: Vec<Message> = match first {
                Ok(message) => std::iter::once(message).chain(rx.try_iter()).collect(),
                Err(RecvTimeoutError::Timeout) => Vec::new(),
                Err(RecvTimeoutError::Disconnected) => return,
            };
            let mut flushes = Vec::new();
            let stop = self.apply(batch, &mut flushes);
            self.sync();
            for flush in flushes {
                let _ = flush.send(());
            }
            if stop {
                return;
            }
        }
    }

    /// Folds a batch into the desired lists; true if the batch asks to stop.
    fn apply(&mut self, batch: Vec<Message>, flushes: &mut Vec<Sender<()>>) -> bool {
        if batch.is_empty() {
            return false;
        }
        let before: Vec<(IpVersion, Vec<IpPrefix>)> =
            self.families.iter().map(|f| (f.settings.version, f.advertised.clone())).collect();
        let mut stop = false;
        let mut touched = false;
        let events = batch.iter().filter(|m| matches!(m, Message::Event(_))).count();
        if events > 0 {
            metrics::batch(events);
        }
        for message in batch {
            match message {
                Message::Event(event) => touched |= self.apply_event(&event),
                Message::Plan(plan) => {
                    self.set_plan(*plan);
                    touched = true;
                }
                Message::Flush(done) => flushes.push(done),
                Message::Stop => stop = true,
            }
        }
        if touched {
            // As upstream at run time: a prefix no service owns is not kept.
            let plan = &self.plan;
            for family in &mut self.families {
                family.advertised.retain(|p| plan.owner(p).is_some());
            }
        }
        self.note_changes(&before);
        stop
    }

    fn apply_event(&mut self, event: &Event) -> bool {
        let Some(routes) = self.plan.services.get(&event.service) else {
            log::debug!("ignoring an event of removed service {}", event.service);
            return false;
        };
        if routes.generation != event.generation {
            log::debug!("ignoring an event of a replaced instance of service {}", event.service);
            return false;
        }
        for prefix in &routes.prefixes {
            let Some(family) = self.families.iter_mut().find(|f| f.settings.version == prefix.version())
            else {
                continue;
            };
            match event.action {
                Action::Advertise if !family.advertised.contains(prefix) => family.advertised.push(*prefix),
                Action::Withdraw => family.advertised.retain(|p| p != prefix),
                Action::Advertise => {}
            }
        }
        true
    }

    fn set_plan(&mut self, plan: Plan) {
        let mut families = Vec::new();
        for settings in &plan.bird {
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
                None => families.push(Family::load(settings.clone(), &plan)),
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
        self.plan = plan;
        self.custom_pending.retain(|service, _| self.plan.services.contains_key(service));
    }

    /// Logs each change against `before` and marks what must be written and reloaded:
    /// a custom command for a prefix of a service that has one, the daemon's command
    /// for every other change.
    fn note_changes(&mut self, before: &[(IpVersion, Vec<IpPrefix>)]) {
        for family in &mut self.families {
            let old =
                before.iter().find(|(v, _)| *v == family.settings.version).map(|(_, old)| old.as_slice());
            let old = old.unwrap_or(&[]);
            let added =
                family.advertised.iter().filter(|p| !old.contains(p)).map(|p| (*p, Action::Advertise));
            let removed =
                old.iter().filter(|p| !family.advertised.contains(p)).map(|p| (*p, Action::Withdraw));
            let changes: Vec<(IpPrefix, Action)> = added.chain(removed).collect();
            if changes.is_empty() {
                continue;
            }
            family.file_current = false;
            for (prefix, action) in changes {
                let verb = if action == Action::Advertise { "announcing" } else { "withdrawing" };
                match self.plan.owner(&prefix) {
                    Some((service, routes)) => {
                        log::info!("{verb} {prefix} for {service}");
                        if routes.custom.is_some() {
                            self.custom_pending.insert(service.clone(), action);
                        } else {
                            family.bird_current = false;
                        }
                    }
                    None => {
                        log::info!("{verb} {prefix}: no service check is configured for it");
                        family.bird_current = false;
                    }
                }
            }
        }
    }

    /// Writes what is stale, reconfigures what Bird lacks, and schedules a retry for
    /// whatever failed.
    fn sync(&mut self) {
        let mut failed = false;
        for family in self.families.iter_mut().filter(|f| !f.file_current) {
            if let Err(err) = family.write() {
                log::error!("failed to update Bird configuration for {}: {err:#}", family.settings.version);
                failed = true;
            }
        }
        failed |= !self.reconfigure_bird();
        failed |= !self.run_custom_commands();
        for family in &self.families {
            metrics::bird_in_sync(family.settings.version, family.file_current && family.bird_current);
        }
        if failed {
            self.retry_at = Some(Instant::now() + self.backoff);
            log::warn!("Bird is behind its prefix file; retrying in {:.1}s", self.backoff.as_secs_f64());
            self.backoff = (self.backoff * 2).min(RETRY_CAP);
        } else {
            self.retry_at = None;
            self.backoff = RETRY_FIRST;
        }
    }

    /// Runs each distinct daemon-level command once for the families that need it (Bird
    /// 2 with one command for both versions reloads once). True if all succeeded.
    fn reconfigure_bird(&mut self) -> bool {
        while let Some(first) = self.families.iter().find(|f| f.file_current && !f.bird_current) {
            let how = first.settings.reconfigure.clone();
            log::info!("reconfiguring BIRD by running {how}");
            let started = Instant::now();
            let result = reconfigure::reconfigure_bird(&how, self.plan.reconfigure_timeout);
            for family in self
                .families
                .iter()
                .filter(|f| f.file_current && !f.bird_current && f.settings.reconfigure == how)
            {
                metrics::reconfigure_ran(family.settings.version, started.elapsed(), result.is_ok());
            }
            match &result {
                Ok(()) => log::info!("reconfigured BIRD daemon"),
                Err(why) => log::error!("reconfiguring BIRD with {how} failed: {why}"),
            }
            if result.is_err() {
                // The retry runs it again; don't loop on a failing command now.
                return false;
            }
            for family in &mut self.families {
                if family.file_current && family.settings.reconfigure == how {
                    family.bird_current = true;
                }
            }
        }
        true
    }

    /// Runs pending custom commands whose files are written. True if none failed.
    fn run_custom_commands(&mut self) -> bool {
        let mut all_ok = true;
        let pending: Vec<(String, Action)> =
            self.custom_pending.iter().map(|(s, a)| (s.clone(), *a)).collect();
        for (service, action) in pending {
            let Some(routes) = self.plan.services.get(&service) else { continue };
            let Some(custom) = &routes.custom else { continue };
            let written = routes
                .prefixes
                .iter()
                .all(|p| self.families.iter().any(|f| f.settings.version == p.version() && f.file_current));
            if !written {
                all_ok = false;
                continue;
            }
            log::info!("reconfiguring BIRD for {service} by running {} {}", custom.argv, action.direction());
            match reconfigure::run_custom_command(&custom.argv, action.direction(), custom.timeout) {
                Ok(()) => {
                    log::info!("custom command successfully reconfigured Bird for {service}");
                    self.custom_pending.remove(&service);
                }
                Err(why) => {
                    log::error!("reconfiguring BIRD for {service} failed: {why}");
                    all_ok = false;
                }
            }
        }
        all_ok
    }
}
