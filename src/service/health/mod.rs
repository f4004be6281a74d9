//! The rise/fail state machine of one service, exactly as upstream counts.
//!
//! A service changes state on the `rise`-th consecutive passing check or the `fail`-th
//! consecutive failing one. An address that is not on its interface makes the service
//! down at once. The first decided state is always reported, even if Bird already
//! agrees, so that a restarted daemon settles every prefix.

pub mod damping;
pub mod outcome;

use std::fmt;

/// What the daemon believes about a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Unknown,
    Up,
    Down,
}

impl Health {
    /// The state's name in logs and JSON fields: `up`, `down`, `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Up => "up",
            Health::Down => "down",
        }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of one probe of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckResult {
    Passed,
    Failed,
    /// The service's address is not on its interface: no check was run.
    AddressMissing,
}

/// What one probe did to the state, for the log and for the Bird writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The state changed to this one: tell the writer.
    Changed(Health),
    /// The threshold is reached and the state already is this one.
    Steady(Health),
    /// Counting towards a change: `count` of `needed` consecutive results toward `to`.
    Counting { to: Health, count: u32, needed: u32 },
}

/// Counters and state of one service.
#[derive(Debug, Clone)]
pub struct HealthState {
    health: Health,
    up_count: u32,
    down_count: u32,
    rise: u32,
    fail: u32,
}

impl HealthState {
    /// A service not yet decided. `rise` and `fail` are at least 1 (the config checks).
    pub fn new(rise: u32, fail: u32) -> HealthState {
        HealthState {
            health: Health::Unknown,
            up_count: 0,
            down_count: 0,
            rise: rise.max(1),
            fail: fail.max(1),
        }
    }

    pub fn health(&self) -> Health {
        self.health
    }

    /// New rise and fail counts (a reload): the state is kept, and so is a count in
    /// progress toward the other state. The count of the state the service is in stays
    /// at its threshold, so an up service does not count "going up" again.
    pub fn retune(&mut self, rise: u32, fail: u32) {
        self.rise = rise.max(1);
        self.fail = fail.max(1);
        match self.health {
            Health::Up => self.up_count = self.rise - 1,
            Health::Down => self.down_count = self.fail - 1,
            Health::Unknown => {}
        }
    }

    pub fn observe(&mut self, probe: CheckResult) -> Verdict {
        match probe {
            CheckResult::AddressMissing => {
                // Upstream resets only the up counter here.
                self.up_count = 0;
                self.settle(Health::Down)
            }
            CheckResult::Passed => {
                let verdict = match count(&mut self.up_count, self.rise, Health::Up) {
                    Some(counting) => counting,
                    None => self.settle(Health::Up),
                };
                self.down_count = 0;
                verdict
            }
            CheckResult::Failed => {
                let verdict = match count(&mut self.down_count, self.fail, Health::Down) {
                    Some(counting) => counting,
                    None => self.settle(Health::Down),
                };
                self.up_count = 0;
                verdict
            }
        }
    }

    fn settle(&mut self, target: Health) -> Verdict {
        if self.health == target {
            Verdict::Steady(target)
        } else {
            self.health = target;
            Verdict::Changed(target)
        }
    }
}

/// Upstream's counter step: at `needed - 1` the threshold is reached (None: settle);
/// below it the counter goes up by one.
fn count(counter: &mut u32, needed: u32, to: Health) -> Option<Verdict> {
    // The counter never passes `needed - 1`: it only grows below it.
    if *counter >= needed - 1 {
        None
    } else {
        *counter += 1;
        Some(Verdict::Counting { to, count: *counter, needed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CheckResult::*;

    fn run(rise: u32, fail: u32, probes: &[CheckResult]) -> Vec<Verdict> {
        let mut state = HealthState::new(rise, fail);
        probes.iter().map(|p| state.observe(*p)).collect()
    }

    #[test]
    fn a_service_goes_up_on_the_rise_th_consecutive_pass() {
        assert_eq!(
            run(2, 2, &[Passed, Passed, Passed]),
            [
                Verdict::Counting { to: Health::Up, count: 1, needed: 2 },
                Verdict::Changed(Health::Up),
                Verdict::Steady(Health::Up),
            ]
        );
    }

    #[test]
    fn rise_of_one_decides_on_the_first_check() {
        assert_eq!(run(1, 1, &[Passed]), [Verdict::Changed(Health::Up)]);
        assert_eq!(run(1, 1, &[Failed]), [Verdict::Changed(Health::Down)]);
    }

    #[test]
    fn a_service_goes_down_on_the_fail_th_consecutive_failure() {
        let verdicts = run(1, 3, &[Passed, Failed, Failed, Failed, Failed]);
        assert_eq!(
            verdicts,
            [
                Verdict::Changed(Health::Up),
                Verdict::Counting { to: Health::Down, count: 1, needed: 3 },
                Verdict::Counting { to: Health::Down, count: 2, needed: 3 },
                Verdict::Changed(Health::Down),
                Verdict::Steady(Health::Down),
            ]
        );
    }

    #[test]
    fn a_pass_between_failures_restarts_the_count() {
        let verdicts = run(1, 2, &[Passed, Failed, Passed, Failed, Failed]);
        assert_eq!(verdicts[3], Verdict::Counting { to: Health::Down, count: 1, needed: 2 });
        assert_eq!(verdicts[4], Verdict::Changed(Health::Down));
    }

    #[test]
    fn a_missing_address_is_down_at_once() {
        assert_eq!(
            run(2, 5, &[Passed, Passed, AddressMissing]).last(),
            Some(&Verdict::Changed(Health::Down))
        );
        assert_eq!(
            run(2, 5, &[AddressMissing, AddressMissing]),
            [Verdict::Changed(Health::Down), Verdict::Steady(Health::Down)]
        );
    }

    #[test]
    fn after_a_missing_address_the_service_must_rise_again() {
        let verdicts = run(2, 2, &[Passed, Passed, AddressMissing, Passed, Passed]);
        assert_eq!(verdicts[3], Verdict::Counting { to: Health::Up, count: 1, needed: 2 });
        assert_eq!(verdicts[4], Verdict::Changed(Health::Up));
    }

    #[test]
    fn health_reads_as_the_log_and_json_write_it() {
        let words: Vec<String> =
            [Health::Unknown, Health::Up, Health::Down].iter().map(ToString::to_string).collect();
        assert_eq!(words, ["unknown", "up", "down"]);
    }

    #[test]
    fn retuning_keeps_the_state_and_a_count_in_progress() {
        let mut state = HealthState::new(2, 3);
        for probe in [Passed, Passed, Failed] {
            state.observe(probe);
        }
        state.retune(5, 2);
        // Up stays up without counting up again; the failure already seen counts toward
        // the new fail of 2.
        assert_eq!(state.health(), Health::Up);
        assert_eq!(state.observe(Failed), Verdict::Changed(Health::Down));
        state.retune(1, 4);
        assert_eq!(state.observe(Failed), Verdict::Steady(Health::Down));
        assert_eq!(state.observe(Passed), Verdict::Changed(Health::Up));
    }

    #[test]
    fn the_first_decision_is_reported_from_unknown() {
        let mut state = HealthState::new(2, 2);
        assert_eq!(state.health(), Health::Unknown);
        state.observe(Failed);
        assert_eq!(state.observe(Failed), Verdict::Changed(Health::Down));
    }
}
