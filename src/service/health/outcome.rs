//! What a check means for the Bird file and for the operator, decided from values: the
//! verdict of the rise/fail machine, the service's state and "degraded" flag before and
//! after the check, and whether flap damping holds it. Pure, table-tested; the service
//! thread sends what this says.

use super::{Health, Verdict};

/// The service's state and whether its last check said "degraded".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub health: Health,
    pub degraded: bool,
}

/// What the Bird file must now say of the service's prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileAction {
    Advertise,
    AdvertiseDegraded,
    Withdraw,
}

/// The file action a check calls for, if any. `suppressed`: flap damping holds the
/// service withdrawn (a down transition is still sent; an up one is held).
pub fn file_action(verdict: Verdict, before: Seen, after: Seen, suppressed: bool) -> Option<FileAction> {
    let advertise = if after.degraded { FileAction::AdvertiseDegraded } else { FileAction::Advertise };
    match verdict {
        Verdict::Changed(Health::Down) => Some(FileAction::Withdraw),
        Verdict::Changed(Health::Up) if suppressed => None,
        Verdict::Changed(Health::Up) => Some(advertise),
        Verdict::Changed(Health::Unknown) => None,
        // Still up, but degraded now and not before (or the reverse): the set follows.
        Verdict::Steady(_) | Verdict::Counting { .. } => {
            let up = before.health == Health::Up && after.health == Health::Up;
            (up && before.degraded != after.degraded && !suppressed).then_some(advertise)
        }
    }
}

/// What the operator is told a service is: the one list of status words that
/// `--status`, the systemd status line, the `service_status` metric and the JSON log
/// lines' `status` field use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceStatus {
    Up,
    /// Up, advertised less preferred (a `check_degraded_exit_codes` exit).
    Degraded,
    /// In maintenance, advertised less preferred until `drain_seconds` pass.
    Draining,
    Down,
    /// No decision yet.
    Unknown,
    /// Held withdrawn by flap damping.
    Suppressed,
    /// In maintenance: withdrawn, not checked.
    Maintenance,
    /// `check_disabled = true`: no thread.
    Disabled,
    /// Its thread died (a bug); being restarted.
    Dead,
}

impl ServiceStatus {
    /// Every status, in the order the systemd status line counts them.
    pub const ALL: [ServiceStatus; 9] = [
        ServiceStatus::Up,
        ServiceStatus::Degraded,
        ServiceStatus::Draining,
        ServiceStatus::Down,
        ServiceStatus::Unknown,
        ServiceStatus::Suppressed,
        ServiceStatus::Maintenance,
        ServiceStatus::Disabled,
        ServiceStatus::Dead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ServiceStatus::Up => "up",
            ServiceStatus::Degraded => "degraded",
            ServiceStatus::Draining => "draining",
            ServiceStatus::Down => "down",
            ServiceStatus::Unknown => "unknown",
            ServiceStatus::Suppressed => "suppressed",
            ServiceStatus::Maintenance => "maintenance",
            ServiceStatus::Disabled => "disabled",
            ServiceStatus::Dead => "dead",
        }
    }
}

impl From<Health> for ServiceStatus {
    fn from(health: Health) -> ServiceStatus {
        match health {
            Health::Up => ServiceStatus::Up,
            Health::Down => ServiceStatus::Down,
            Health::Unknown => ServiceStatus::Unknown,
        }
    }
}

/// The operator's word for the service after a check.
pub fn status_after(after: Seen, suppressed: bool) -> ServiceStatus {
    match after.health {
        _ if suppressed => ServiceStatus::Suppressed,
        Health::Up if after.degraded => ServiceStatus::Degraded,
        health => health.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use FileAction::*;
    use Health::*;

    const fn seen(health: Health, degraded: bool) -> Seen {
        Seen { health, degraded }
    }

    #[test]
    fn checks_map_to_what_the_file_must_say() {
        let counting_down = Verdict::Counting { to: Down, count: 1, needed: 3 };
        // (verdict, before, after, suppressed, action, word)
        let cases = [
            (Verdict::Changed(Up), seen(Down, false), seen(Up, false), false, Some(Advertise), "up"),
            (
                Verdict::Changed(Up),
                seen(Unknown, false),
                seen(Up, true),
                false,
                Some(AdvertiseDegraded),
                "degraded",
            ),
            (Verdict::Changed(Down), seen(Up, true), seen(Down, false), false, Some(Withdraw), "down"),
            // Damping holds an up transition, never a down one.
            (Verdict::Changed(Up), seen(Down, false), seen(Up, false), true, None, "suppressed"),
            (Verdict::Changed(Down), seen(Up, false), seen(Down, false), true, Some(Withdraw), "suppressed"),
            // Up, and the degraded flag changes: the set follows...
            (
                Verdict::Steady(Up),
                seen(Up, false),
                seen(Up, true),
                false,
                Some(AdvertiseDegraded),
                "degraded",
            ),
            (Verdict::Steady(Up), seen(Up, true), seen(Up, false), false, Some(Advertise), "up"),
            // ...also while counting toward down (the first failure keeps it up)...
            (counting_down, seen(Up, true), seen(Up, false), false, Some(Advertise), "up"),
            // ...but not while suppressed, nor when nothing changed, nor when down.
            (Verdict::Steady(Up), seen(Up, false), seen(Up, true), true, None, "suppressed"),
            (Verdict::Steady(Up), seen(Up, true), seen(Up, true), false, None, "degraded"),
            (Verdict::Steady(Down), seen(Down, false), seen(Down, true), false, None, "down"),
        ];
        for (verdict, before, after, suppressed, action, word) in cases {
            assert_eq!(
                file_action(verdict, before, after, suppressed),
                action,
                "{verdict:?} {before:?} {after:?}"
            );
            assert_eq!(status_after(after, suppressed).as_str(), word, "{after:?} suppressed={suppressed}");
        }
    }

    #[test]
    fn every_status_has_its_own_word() {
        let words: std::collections::BTreeSet<&str> = ServiceStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(words.len(), ServiceStatus::ALL.len());
        for health in [Up, Down, Unknown] {
            assert_eq!(ServiceStatus::from(health).as_str(), health.as_str());
        }
    }
}
