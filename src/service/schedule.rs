//! When a service's next check is due: a fixed phase on the monotonic clock.
//!
//! Checks land on `start + k * interval`. A check that overruns its slot skips to the
//! next free one (no burst of catch-up checks), and an extra run (SIGURG) does not move
//! the phase; it stands in for every slot less than an interval after it, so a
//! service's checks are never less than an interval apart and "check everything now"
//! adds no checks to the next moments (a storm's checks are not joined by regular
//! ones). The clock is `Instant`, so a wall-clock step changes nothing (upstream uses
//! `time.time()`).

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    start: Instant,
    interval: Duration,
}

impl Schedule {
    /// A schedule whose first slot is `start`. `interval` is above zero (the config
    /// checks).
    pub fn new(start: Instant, interval: Duration) -> Schedule {
        Schedule { start, interval: interval.max(Duration::from_micros(1)) }
    }

    /// The first slot strictly after `now`.
    pub fn next_after(&self, now: Instant) -> Instant {
        let elapsed = now.saturating_duration_since(self.start);
        let slots = elapsed.as_nanos() / self.interval.as_nanos() + 1;
        let offset = self.interval.as_nanos() * slots;
        // Saturate rather than overflow: far beyond any configurable interval.
        self.start.checked_add(duration_from_nanos(offset)).unwrap_or(now + Duration::from_secs(1 << 30))
    }

    /// The next slot after an extra run that started at `started`: the first slot at
    /// least an interval after it (and after `now`). Checks stay on the phase and are
    /// less than two intervals apart.
    pub fn next_after_extra(&self, started: Instant, now: Instant) -> Instant {
        self.next_after(now.max(started + self.interval) - Duration::from_nanos(1))
    }
}

fn duration_from_nanos(nanos: u128) -> Duration {
    let secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
    Duration::new(secs, (nanos % 1_000_000_000) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn slots_keep_a_fixed_phase() {
        let t0 = Instant::now();
        let schedule = Schedule::new(t0, 10 * SECOND);
        assert_eq!(schedule.next_after(t0), t0 + 10 * SECOND);
        // A check that took 300 ms does not push the next one back.
        assert_eq!(schedule.next_after(t0 + Duration::from_millis(300)), t0 + 10 * SECOND);
        assert_eq!(schedule.next_after(t0 + 10 * SECOND), t0 + 20 * SECOND);
    }

    #[test]
    fn an_overrun_skips_to_the_next_free_slot() {
        let t0 = Instant::now();
        let schedule = Schedule::new(t0, SECOND);
        // A check that ran 3.5 s: the next is at 4 s, not three catch-up runs.
        assert_eq!(schedule.next_after(t0 + Duration::from_millis(3500)), t0 + 4 * SECOND);
    }

    #[test]
    fn an_extra_run_does_not_move_the_phase() {
        let t0 = Instant::now();
        let schedule = Schedule::new(t0, 10 * SECOND);
        // SIGURG at 4.2 s: the next check is on the grid (20 s), not at 14.2 s.
        let extra = t0 + Duration::from_millis(4200);
        assert_eq!(schedule.next_after_extra(extra, extra + Duration::from_millis(50)), t0 + 20 * SECOND);
        // A check that is not an extra one keeps the slot at 10 s.
        assert_eq!(schedule.next_after(extra), t0 + 10 * SECOND);
    }

    #[test]
    fn an_extra_run_stands_in_for_the_slots_less_than_an_interval_later() {
        let t0 = Instant::now();
        let schedule = Schedule::new(t0, 10 * SECOND);
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // (extra run started, it ended, next check)
        let cases = [
            (8000, 8100, 20_000), // slot at 10 s is 2 s away: taken by this run
            (4200, 4300, 20_000), // 5.8 s away: taken too
            (100, 200, 20_000),   // 9.9 s away: taken
            (0, 100, 10_000),     // exactly an interval: kept
            (10_000, 10_100, 20_000),
            (9999, 10_100, 20_000), // the run itself overran the slot
            (4900, 25_500, 30_000), // and overran the next one too
        ];
        for (started, ended, next) in cases {
            assert_eq!(schedule.next_after_extra(at(started), at(ended)), at(next), "{started} ms");
        }
    }

    #[test]
    fn fractional_intervals_do_not_drift() {
        let t0 = Instant::now();
        let schedule = Schedule::new(t0, Duration::from_millis(333));
        let mut now = t0;
        for _ in 0..10_000 {
            now = schedule.next_after(now);
        }
        assert_eq!(now, t0 + Duration::from_millis(333) * 10_000);
    }

    /// A clock the test drives: monotonic time and wall time move separately, as when
    /// NTP or an operator steps the wall clock.
    struct FakeClock {
        monotonic: Instant,
        wall: std::time::SystemTime,
    }

    impl FakeClock {
        fn advance(&mut self, by: Duration) {
            self.monotonic += by;
            self.wall += by;
        }
    }

    /// The slots a service would use over `steps` checks of 120 ms each, stepping the
    /// wall clock by `wall_step` halfway.
    fn slots_with_wall_step(wall_step: Option<(bool, Duration)>) -> Vec<Duration> {
        let start = Instant::now();
        let mut clock = FakeClock { monotonic: start, wall: std::time::SystemTime::now() };
        let schedule = Schedule::new(clock.monotonic, Duration::from_millis(500));
        let mut slots = Vec::new();
        for step in 0..20 {
            if step == 10 {
                if let Some((forward, by)) = wall_step {
                    clock.wall = if forward { clock.wall + by } else { clock.wall - by };
                }
            }
            clock.advance(Duration::from_millis(120));
            let next = schedule.next_after(clock.monotonic);
            slots.push(next - start);
            clock.monotonic = next;
            clock.wall += Duration::from_millis(1);
        }
        slots
    }

    #[test]
    fn a_wall_clock_step_changes_nothing() {
        let steady = slots_with_wall_step(None);
        assert_eq!(slots_with_wall_step(Some((false, Duration::from_secs(3600)))), steady);
        assert_eq!(slots_with_wall_step(Some((true, Duration::from_secs(86_400)))), steady);
        // And the slots are the fixed phase: every 500 ms.
        assert!(steady.iter().all(|s| s.as_millis() % 500 == 0), "{steady:?}");
    }
}
