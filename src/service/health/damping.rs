//! Flap damping for a service, after BGP's route flap damping (RFC 2439): each up->down
//! transition adds a penalty of 1; the penalty decays exponentially with the half-life;
//! above `suppress` the service is held withdrawn whatever its check says, until the
//! penalty falls under `reuse` or `max_hold` has passed since the suppression began.
//! Pure: the caller passes the time (a monotonic `Instant`).

use std::time::{Duration, Instant};

/// The damping settings of one service.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DampingSettings {
    pub half_life: Duration,
    pub suppress: f64,
    pub reuse: f64,
    pub max_hold: Duration,
}

/// A service's penalty and suppression.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Damping {
    settings: DampingSettings,
    /// The penalty as of `at`.
    penalty: f64,
    at: Instant,
    /// Since when the service is held withdrawn, if it is.
    suppressed_since: Option<Instant>,
}

/// What a flap or the passing of time changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DampingChange {
    None,
    /// The penalty passed `suppress`: hold the service withdrawn.
    Suppressed,
    /// The penalty fell under `reuse` (or `max_hold` passed): the check decides again.
    Released,
}

impl Damping {
    pub fn new(settings: DampingSettings, now: Instant) -> Damping {
        Damping { settings, penalty: 0.0, at: now, suppressed_since: None }
    }

    /// The same penalty and suppression under new settings (a reload).
    pub fn retune(&mut self, settings: DampingSettings) {
        self.settings = settings;
    }

    /// The penalty at `now`: halved every half-life since it was last changed.
    pub fn penalty(&self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.penalty * 0.5f64.powf(elapsed / self.settings.half_life.as_secs_f64())
    }

    pub fn is_suppressed(&self) -> bool {
        self.suppressed_since.is_some()
    }

    /// An up->down transition at `now`: one more penalty point.
    pub fn flap(&mut self, now: Instant) -> DampingChange {
        self.penalty = self.penalty(now) + 1.0;
        self.at = now;
        if self.suppressed_since.is_none() && self.penalty > self.settings.suppress {
            self.suppressed_since = Some(now);
            return DampingChange::Suppressed;
        }
        DampingChange::None
    }

    /// Whether the suppression ends at `now` (the penalty under `reuse`, or held for
    /// `max_hold`); call it at every check.
    pub fn tick(&mut self, now: Instant) -> DampingChange {
        let Some(since) = self.suppressed_since else { return DampingChange::None };
        let held_long_enough = now.saturating_duration_since(since) >= self.settings.max_hold;
        if self.penalty(now) < self.settings.reuse || held_long_enough {
            self.suppressed_since = None;
            if held_long_enough {
                // Released by max_hold: start from reuse, so the next flap does not
                // suppress again at once (as BGP implementations do).
                self.penalty = self.penalty(now).min(self.settings.reuse);
                self.at = now;
            }
            return DampingChange::Released;
        }
        DampingChange::None
    }

    /// How long from `now` until the penalty falls under `reuse` without new flaps.
    pub fn time_to_reuse(&self, now: Instant) -> Duration {
        let penalty = self.penalty(now);
        if penalty < self.settings.reuse {
            return Duration::ZERO;
        }
        let half_lives = (penalty / self.settings.reuse).log2();
        Duration::from_secs_f64(half_lives * self.settings.half_life.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn settings() -> DampingSettings {
        DampingSettings { half_life: MINUTE, suppress: 3.0, reuse: 1.0, max_hold: 30 * MINUTE }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn the_penalty_halves_every_half_life() {
        let t0 = Instant::now();
        let mut d = Damping::new(settings(), t0);
        d.flap(t0);
        d.flap(t0);
        // (time since, penalty)
        for (after, want) in [(0, 2.0), (60, 1.0), (120, 0.5), (30, 2.0 * 0.5f64.sqrt()), (600, 2.0 / 1024.0)]
        {
            let got = d.penalty(t0 + Duration::from_secs(after));
            assert!(close(got, want), "after {after}s: {got} != {want}");
        }
    }

    #[test]
    fn penalty_after_k_flaps_one_minute_apart() {
        // k flaps a half-life apart: p(k) = p(k-1) / 2 + 1 -> 1, 1.5, 1.75, 1.875, ...
        let t0 = Instant::now();
        let mut d = Damping::new(settings(), t0);
        let mut wanted = 0.0;
        for k in 0..6 {
            let at = t0 + MINUTE * k;
            d.flap(at);
            wanted = wanted / 2.0 + 1.0;
            assert!(close(d.penalty(at), wanted), "flap {k}: {} != {wanted}", d.penalty(at));
        }
        assert!(!d.is_suppressed(), "flaps a half-life apart never pass 2, below 3");
    }

    #[test]
    fn the_fourth_quick_flap_suppresses_and_reuse_comes_after_log2_half_lives() {
        let t0 = Instant::now();
        let mut d = Damping::new(settings(), t0);
        let changes: Vec<DampingChange> = (0..4).map(|k| d.flap(t0 + Duration::from_secs(k))).collect();
        assert_eq!(
            changes,
            [DampingChange::None, DampingChange::None, DampingChange::None, DampingChange::Suppressed]
        );
        let at = t0 + Duration::from_secs(3);
        let penalty = d.penalty(at);
        // 4 flaps a second apart: 1 + 2^(-1/60) + 2^(-2/60) + 2^(-3/60).
        let want: f64 = (0..4).map(|k| 0.5f64.powf(f64::from(k) / 60.0)).sum();
        assert!(close(penalty, want), "{penalty} != {want}");
        let wait = d.time_to_reuse(at);
        assert!(close(wait.as_secs_f64(), 60.0 * want.log2()), "{wait:?}");
        // Still suppressed a second before, released at the reuse time.
        assert_eq!(d.tick(at + wait - Duration::from_secs(1)), DampingChange::None);
        assert!(d.is_suppressed());
        assert_eq!(d.tick(at + wait + Duration::from_millis(1)), DampingChange::Released);
        assert!(!d.is_suppressed());
        assert_eq!(d.tick(at + wait + Duration::from_secs(2)), DampingChange::None);
    }

    #[test]
    fn max_hold_ends_a_suppression_kept_alive_by_flapping() {
        let t0 = Instant::now();
        let mut d = Damping::new(DampingSettings { max_hold: 5 * MINUTE, ..settings() }, t0);
        // A flap every 10 s keeps the penalty far above reuse.
        let mut now = t0;
        let mut released = None;
        for k in 0..60 {
            now = t0 + Duration::from_secs(10 * k);
            d.flap(now);
            if d.tick(now) == DampingChange::Released {
                released = Some(now);
                break;
            }
        }
        let suppressed_at = t0 + Duration::from_secs(30);
        assert_eq!(released, Some(suppressed_at + 5 * MINUTE), "released after exactly max_hold");
        assert!(d.penalty(now) <= 1.0 + 1e-9, "restarts from reuse: {}", d.penalty(now));
    }
}
