//! What one service's thread decides, as values: after each check, what the Bird file
//! must now say, what to tell the operator and which status word holds; while a
//! maintenance file exists, what to do about it; and when to wake next. The thread
//! (`thread.rs`) waits, checks, and carries out what the tracker says, so every
//! decision here takes the time as an argument and is table-tested.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::config::Service;
use crate::service::health::damping::{Damping, DampingChange, DampingSettings};
use crate::service::health::outcome::{file_action, status_after, FileAction, Seen, ServiceStatus};
use crate::service::health::{CheckResult, Health, HealthState, Verdict};
use crate::service::schedule::Schedule;

/// The settings a tracker follows; a reload can change them without a new thread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Tuning {
    pub rise: u32,
    pub fail: u32,
    pub interval: Duration,
    /// How soon a result that differs from the state is checked again.
    pub fast_interval: Duration,
    pub damping: Option<DampingSettings>,
    /// How long a service that is up and enters maintenance is drained first.
    pub drain: Duration,
}

impl Tuning {
    pub fn of(service: &Service) -> Tuning {
        Tuning {
            rise: service.check_rise,
            fail: service.check_fail,
            interval: service.check_interval,
            fast_interval: service.check_fast_interval,
            damping: service.damping,
            drain: service.drain_seconds,
        }
    }
}

/// What one check decided, in the order the thread reports it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Decision {
    pub verdict: Verdict,
    /// Flap damping began to hold the service withdrawn: its penalty.
    pub suppressed: Option<f64>,
    /// The service came up but damping holds it withdrawn: the penalty, and the
    /// longest it may still be held.
    pub held: Option<(f64, Duration)>,
    /// Up both before and after, and the "degraded" flag changed: to this.
    pub degraded: Option<bool>,
    /// What the Bird file must now say, if it changes.
    pub action: Option<FileAction>,
    /// Damping released the service: its penalty.
    pub released: Option<f64>,
    /// Sent after a release, for a service that is up.
    pub readvertise: Option<FileAction>,
    /// The damping penalty now, with damping configured.
    pub penalty: Option<f64>,
    pub status: ServiceStatus,
}

/// What new settings changed (see [`Tracker::retune`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Retuned {
    pub next: Option<Instant>,
    pub readvertise: Option<FileAction>,
}

/// What a look at the maintenance files decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MaintenanceStep {
    /// No file, and not in maintenance: check as usual.
    NotIn,
    /// A file appeared: withdraw now (the service was not up, or nothing is drained).
    EnterWithdrawn,
    /// A file appeared and the service is up: advertise less preferred for the drain.
    EnterDraining,
    /// The drain is over: withdraw.
    Drained,
    /// Still in maintenance, nothing new.
    Held,
    /// The file that held it is gone: the service rises again like a new one.
    Left(PathBuf),
}

/// Where a service is in its maintenance: the file that holds it, and when its drain
/// ends (None: withdrawn).
#[derive(Debug)]
struct Maintenance {
    file: PathBuf,
    withdraw_at: Option<Instant>,
}

/// One service's state between checks: rise/fail counters, damping, its schedule,
/// maintenance and whether its last check said "degraded".
#[derive(Debug)]
pub(crate) struct Tracker {
    tuning: Tuning,
    health: HealthState,
    damping: Option<Damping>,
    schedule: Schedule,
    maintenance: Option<Maintenance>,
    degraded: bool,
}

impl Tracker {
    pub fn new(tuning: Tuning, now: Instant) -> Tracker {
        Tracker {
            tuning,
            health: HealthState::new(tuning.rise, tuning.fail),
            damping: tuning.damping.map(|settings| Damping::new(settings, now)),
            schedule: Schedule::new(now, tuning.interval),
            maintenance: None,
            degraded: false,
        }
    }

    /// Folds in one check's result (`degraded`: it exited with one of
    /// `check_degraded_exit_codes`). With damping, an up->down transition adds to the
    /// penalty; above `damping_suppress` the service is held withdrawn whatever its
    /// check says, until released.
    pub fn after_check(&mut self, result: CheckResult, degraded: bool, now: Instant) -> Decision {
        let before = Seen { health: self.health.health(), degraded: self.degraded };
        let verdict = self.health.observe(result);
        self.degraded = degraded;
        let after = Seen { health: self.health.health(), degraded };
        let (mut suppressed, mut held) = (None, None);
        if let (Verdict::Changed(health), Some(d)) = (verdict, self.damping.as_mut()) {
            let flapped = before.health == Health::Up && health == Health::Down;
            if flapped && d.flap(now) == DampingChange::Suppressed {
                suppressed = Some(d.penalty(now));
            }
            if d.is_suppressed() && health == Health::Up {
                held = Some((d.penalty(now), d.time_to_reuse(now)));
            }
        }
        let is_suppressed = self.damping.as_ref().is_some_and(Damping::is_suppressed);
        let action = file_action(verdict, before, after, is_suppressed);
        let changed = matches!(verdict, Verdict::Changed(_));
        let degraded_changed = (action.is_some() && !changed).then_some(after.degraded);
        let (mut released, mut readvertise, mut penalty) = (None, None, None);
        if let Some(d) = self.damping.as_mut() {
            if d.tick(now) == DampingChange::Released {
                released = Some(d.penalty(now));
                if after.health == Health::Up {
                    readvertise = Some(if after.degraded {
                        FileAction::AdvertiseDegraded
                    } else {
                        FileAction::Advertise
                    });
                }
            }
            penalty = Some(d.penalty(now));
        }
        let status = status_after(after, self.damping.as_ref().is_some_and(Damping::is_suppressed));
        Decision {
            verdict,
            suppressed,
            held,
            degraded: degraded_changed,
            action,
            released,
            readvertise,
            penalty,
            status,
        }
    }

    /// Looks at the maintenance files: `found` is the first that exists. Entering
    /// maintenance drains a service that is up for `drain` (if any), then withdraws
    /// it; leaving starts a new rise.
    pub fn maintenance(&mut self, found: Option<&Path>, now: Instant) -> MaintenanceStep {
        match (self.maintenance.as_mut(), found) {
            (None, Some(file)) => {
                let drain = self.tuning.drain;
                let draining = !drain.is_zero() && self.health.health() == Health::Up;
                let withdraw_at = draining.then(|| now + drain);
                self.maintenance = Some(Maintenance { file: file.to_path_buf(), withdraw_at });
                if draining {
                    MaintenanceStep::EnterDraining
                } else {
                    MaintenanceStep::EnterWithdrawn
                }
            }
            (Some(current), Some(_)) => {
                if current.withdraw_at.is_some_and(|at| at <= now) {
                    current.withdraw_at = None;
                    MaintenanceStep::Drained
                } else {
                    MaintenanceStep::Held
                }
            }
            (Some(_), None) => {
                let left = self.maintenance.take().map(|m| m.file).unwrap_or_default();
                self.health = HealthState::new(self.tuning.rise, self.tuning.fail);
                MaintenanceStep::Left(left)
            }
            (None, None) => MaintenanceStep::NotIn,
        }
    }

    /// While in maintenance: its status word (draining or maintenance) and the file.
    pub fn in_maintenance(&self) -> Option<(ServiceStatus, &Path)> {
        self.maintenance.as_ref().map(|m| {
            let status =
                if m.withdraw_at.is_some() { ServiceStatus::Draining } else { ServiceStatus::Maintenance };
            (status, m.file.as_path())
        })
    }

    /// When to check next, after a check that started at `started` (or a look at the
    /// maintenance files) finished at `now`. `asked`: that check was an extra one
    /// ("check now", the end of a maintenance), not the schedule's. A result that
    /// differs from the state is confirmed at the fast interval; a drain's end wakes
    /// the thread too.
    pub fn next_wake(
        &self,
        started: Instant,
        now: Instant,
        asked: bool,
        verdict: Option<Verdict>,
    ) -> Instant {
        let mut next =
            if asked { self.schedule.next_after_extra(started, now) } else { self.schedule.next_after(now) };
        if let Some(Verdict::Counting { .. }) = verdict {
            next = next.min(now + self.tuning.fast_interval);
        }
        self.drain_ends(next)
    }

    /// `next`, or the end of a drain if it comes sooner.
    pub fn drain_ends(&self, next: Instant) -> Instant {
        match self.maintenance.as_ref().and_then(|m| m.withdraw_at) {
            Some(at) => next.min(at),
            None => next,
        }
    }

    /// New settings (a reload): the state, counters and damping penalty stay. A new
    /// interval starts a new schedule (`next`: its first slot). Damping turned off for a
    /// service it held withdrawn while up: it is announced again (`readvertise`).
    pub fn retune(&mut self, tuning: Tuning, now: Instant) -> Retuned {
        let was_suppressed = self.damping.as_ref().is_some_and(Damping::is_suppressed);
        self.health.retune(tuning.rise, tuning.fail);
        self.damping = match (tuning.damping, self.damping.take()) {
            (Some(settings), Some(mut current)) => {
                current.retune(settings);
                Some(current)
            }
            (Some(settings), None) => Some(Damping::new(settings, now)),
            (None, _) => None,
        };
        let released = was_suppressed && self.damping.is_none() && self.health.health() == Health::Up;
        let readvertise = released.then_some(if self.degraded {
            FileAction::AdvertiseDegraded
        } else {
            FileAction::Advertise
        });
        let rescheduled = tuning.interval != self.tuning.interval;
        self.tuning = tuning;
        let next = rescheduled.then(|| {
            self.schedule = Schedule::new(now, tuning.interval);
            self.schedule.next_after(now)
        });
        Retuned { next, readvertise }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CheckResult::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn tuning(rise: u32, fail: u32) -> Tuning {
        Tuning {
            rise,
            fail,
            interval: 10 * SECOND,
            fast_interval: SECOND,
            damping: None,
            drain: Duration::ZERO,
        }
    }

    fn damped() -> Tuning {
        Tuning {
            damping: Some(DampingSettings {
                half_life: Duration::from_secs(60),
                suppress: 2.5,
                reuse: 1.0,
                max_hold: Duration::from_secs(600),
            }),
            ..tuning(1, 1)
        }
    }

    #[test]
    fn checks_decide_the_file_the_status_and_what_is_said() {
        let t0 = Instant::now();
        // (results in order, degraded flags) -> the last decision's (action, status, degraded)
        type Case<'a> = (&'a [(CheckResult, bool)], Option<FileAction>, ServiceStatus, Option<bool>);
        let table: [Case; 6] = [
            (&[(Passed, false)], None, ServiceStatus::Unknown, None),
            (&[(Passed, false), (Passed, false)], Some(FileAction::Advertise), ServiceStatus::Up, None),
            (
                &[(Passed, false), (Passed, true)],
                Some(FileAction::AdvertiseDegraded),
                ServiceStatus::Degraded,
                None,
            ),
            (
                &[(Passed, false), (Passed, false), (Passed, true)],
                Some(FileAction::AdvertiseDegraded),
                ServiceStatus::Degraded,
                Some(true),
            ),
            (&[(Passed, false), (Passed, false), (Failed, false)], None, ServiceStatus::Up, None),
            (
                &[(Passed, false), (Passed, false), (AddressMissing, false)],
                Some(FileAction::Withdraw),
                ServiceStatus::Down,
                None,
            ),
        ];
        for (results, action, status, degraded) in table {
            let mut tracker = Tracker::new(tuning(2, 2), t0);
            let last = results.iter().map(|(r, d)| tracker.after_check(*r, *d, t0)).last().expect("a check");
            assert_eq!((last.action, last.status, last.degraded), (action, status, degraded), "{results:?}");
        }
    }

    #[test]
    fn damping_suppresses_a_flapping_service_then_releases_it() {
        let t0 = Instant::now();
        let mut tracker = Tracker::new(damped(), t0);
        assert_eq!(tracker.after_check(Passed, false, t0).action, Some(FileAction::Advertise));
        // Three flaps within seconds: the third down crosses 2.5 and suppresses.
        let mut suppressed = None;
        for k in 0..3 {
            let at = t0 + SECOND * (2 * k + 1);
            let down = tracker.after_check(Failed, false, at);
            assert_eq!(down.action, Some(FileAction::Withdraw), "a down is always sent");
            suppressed = suppressed.or(down.suppressed);
            tracker.after_check(Passed, false, at + SECOND);
        }
        assert!(suppressed.is_some_and(|p| p > 2.5), "suppressed with the penalty: {suppressed:?}");
        // Up again while suppressed: held withdrawn, not advertised.
        let at = t0 + 10 * SECOND;
        let up = tracker.after_check(Passed, false, at);
        assert_eq!((up.action, up.status), (None, ServiceStatus::Suppressed));
        // Long after: the penalty decays under reuse, released and advertised again.
        let later = tracker.after_check(Passed, false, at + Duration::from_secs(600));
        assert!(later.released.is_some());
        assert_eq!((later.readvertise, later.status), (Some(FileAction::Advertise), ServiceStatus::Up));
    }

    #[test]
    fn maintenance_drains_an_up_service_then_withdraws_and_leaving_starts_a_new_rise() {
        let t0 = Instant::now();
        let file = Path::new("/run/web.down");
        let mut tracker = Tracker::new(Tuning { drain: 30 * SECOND, ..tuning(2, 2) }, t0);
        tracker.after_check(Passed, false, t0);
        tracker.after_check(Passed, false, t0);
        let table = [
            (Some(file), t0, MaintenanceStep::EnterDraining, Some(ServiceStatus::Draining)),
            (Some(file), t0 + 10 * SECOND, MaintenanceStep::Held, Some(ServiceStatus::Draining)),
            (Some(file), t0 + 30 * SECOND, MaintenanceStep::Drained, Some(ServiceStatus::Maintenance)),
            (Some(file), t0 + 40 * SECOND, MaintenanceStep::Held, Some(ServiceStatus::Maintenance)),
            (None, t0 + 50 * SECOND, MaintenanceStep::Left(file.to_path_buf()), None),
            (None, t0 + 60 * SECOND, MaintenanceStep::NotIn, None),
        ];
        for (found, at, step, status) in table {
            assert_eq!(tracker.maintenance(found, at), step, "at {:?}", at - t0);
            assert_eq!(tracker.in_maintenance().map(|(s, _)| s), status, "at {:?}", at - t0);
        }
        // A new rise: one pass is counting, not up.
        let first = tracker.after_check(Passed, false, t0 + 61 * SECOND);
        assert_eq!(first.verdict, Verdict::Counting { to: Health::Up, count: 1, needed: 2 });
        // A service that is not up is withdrawn at once, drain or not.
        let mut down = Tracker::new(Tuning { drain: 30 * SECOND, ..tuning(2, 2) }, t0);
        assert_eq!(down.maintenance(Some(file), t0), MaintenanceStep::EnterWithdrawn);
    }

    #[test]
    fn the_next_wake_keeps_the_phase_confirms_fast_and_ends_a_drain_on_time() {
        let t0 = Instant::now();
        let mut tracker = Tracker::new(Tuning { drain: 3 * SECOND, ..tuning(2, 2) }, t0);
        let ms = Duration::from_millis;
        let counting = Some(Verdict::Counting { to: Health::Up, count: 1, needed: 2 });
        let steady = Some(Verdict::Steady(Health::Up));
        // (started, now, asked, verdict) -> next
        let table = [
            (t0, t0 + ms(300), false, steady, t0 + 10 * SECOND),
            (t0, t0 + ms(300), false, counting, t0 + ms(1300)),
            // An extra run at 4.2 s stands in for the slot at 10 s.
            (t0 + ms(4200), t0 + ms(4250), true, steady, t0 + 20 * SECOND),
        ];
        for (started, now, asked, verdict, next) in table {
            assert_eq!(tracker.next_wake(started, now, asked, verdict), next, "{verdict:?} asked {asked}");
        }
        tracker.after_check(Passed, false, t0);
        tracker.after_check(Passed, false, t0);
        assert_eq!(
            tracker.maintenance(Some(Path::new("/run/x")), t0 + SECOND),
            MaintenanceStep::EnterDraining
        );
        assert_eq!(
            tracker.next_wake(t0 + SECOND, t0 + SECOND, false, None),
            t0 + 4 * SECOND,
            "the drain's end"
        );
    }

    #[test]
    fn a_retune_keeps_the_state_and_only_a_new_interval_moves_the_schedule() {
        let t0 = Instant::now();
        let mut tracker = Tracker::new(tuning(2, 2), t0);
        tracker.after_check(Passed, false, t0);
        tracker.after_check(Passed, false, t0);
        assert_eq!(tracker.retune(tuning(3, 3), t0 + SECOND).next, None, "same interval: same schedule");
        let steady = tracker.after_check(Passed, false, t0 + 2 * SECOND);
        assert_eq!((steady.verdict, steady.status), (Verdict::Steady(Health::Up), ServiceStatus::Up));
        let faster = Tuning { interval: 2 * SECOND, ..tuning(3, 3) };
        assert_eq!(tracker.retune(faster, t0 + 5 * SECOND).next, Some(t0 + 7 * SECOND));
    }

    #[test]
    fn turning_damping_off_announces_a_service_it_held_withdrawn() {
        let t0 = Instant::now();
        let mut tracker = Tracker::new(damped(), t0);
        tracker.after_check(Passed, false, t0);
        for k in 0..3 {
            tracker.after_check(Failed, false, t0 + SECOND * (2 * k + 1));
            tracker.after_check(Passed, false, t0 + SECOND * (2 * k + 2));
        }
        assert_eq!(tracker.after_check(Passed, false, t0 + 10 * SECOND).status, ServiceStatus::Suppressed);
        // (damping kept, damping off) -> what is announced
        let kept = tracker.retune(damped(), t0 + 11 * SECOND);
        assert_eq!(kept.readvertise, None, "still damped: still held");
        let off = tracker.retune(tuning(1, 1), t0 + 12 * SECOND);
        assert_eq!(off.readvertise, Some(FileAction::Advertise));
        assert_eq!(tracker.retune(tuning(1, 1), t0 + 13 * SECOND).readvertise, None, "once");
    }
}
