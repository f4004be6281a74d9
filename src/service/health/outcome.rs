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

/// The operator's word for the service after a check (`--status`, the metric).
pub fn status_word(after: Seen, suppressed: bool) -> &'static str {
    match after.health {
        _ if suppressed => "suppressed",
        Health::Up if after.degraded => "degraded",
        Health::Up => "up",
        Health::Down => "down",
        Health::Unknown => "unknown",
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
            assert_eq!(status_word(after, suppressed), word, "{after:?} suppressed={suppressed}");
        }
    }
}
