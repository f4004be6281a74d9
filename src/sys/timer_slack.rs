//! Timer slack for service threads.
//!
//! A thousand service threads each sleep toward their own next check, so without slack
//! the kernel programs a timer interrupt for each of them: a thousand wake-ups a second,
//! each one taking an idle CPU out of its sleep (costly in a VM) to run one short check.
//! With slack the kernel may fire a timer up to that much late, and fires every timer
//! then due with one interrupt, so the checks of nearby slots run back to back on a CPU
//! that is already awake. A check at most 1% of its interval late changes nothing an
//! operator can see; at 1000 checks a second it cut the host's CPU by a tenth
//! (benches/RESULTS.md).
//!
//! Children must not inherit it (a check that sleeps would sleep longer), so the value
//! a service thread started with is kept, and `spawn` puts it back in the child.

use std::sync::OnceLock;
use std::time::Duration;

use super::os;

/// The most a wake-up may be late, whatever the interval.
const MOST: Duration = Duration::from_millis(10);

/// The slack inherited from the thread that started the first service thread.
static INHERITED: OnceLock<libc::c_ulong> = OnceLock::new();

/// The slack for a service whose shortest wait between checks is `shortest`: 1% of it,
/// at most `MOST`.
pub fn for_interval(shortest: Duration) -> Duration {
    (shortest / 100).min(MOST)
}

/// Sets this thread's timer slack. The first call in the process keeps the slack it
/// replaces, for children. Best effort: without it the daemon only wakes more often.
pub fn set_for_this_thread(slack: Duration) {
    if let Some(current) = os::timer_slack() {
        INHERITED.get_or_init(|| current);
    }
    let nanos = libc::c_ulong::try_from(slack.as_nanos()).unwrap_or(libc::c_ulong::MAX).max(1);
    os::set_timer_slack(nanos);
}

/// The slack a child should have, if any thread changed its own: the inherited one.
pub fn for_children() -> Option<libc::c_ulong> {
    INHERITED.get().copied()
}

/// This thread's timer slack.
#[cfg(test)]
pub fn of_this_thread() -> Duration {
    Duration::from_nanos(os::timer_slack().map_or(0, u64::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_percent_of_the_shortest_wait_and_never_more_than_ten_milliseconds() {
        let table = [
            (Duration::from_millis(20), Duration::from_micros(200)),
            (Duration::from_millis(500), Duration::from_millis(5)),
            (Duration::from_secs(1), Duration::from_millis(10)),
            (Duration::from_secs(10), Duration::from_millis(10)),
            (Duration::from_secs(3600), Duration::from_millis(10)),
            (Duration::from_micros(1), Duration::from_nanos(10)),
        ];
        for (interval, slack) in table {
            assert_eq!(for_interval(interval), slack, "interval {interval:?}");
        }
    }

    #[test]
    fn sets_this_thread_only_and_keeps_what_it_replaced_for_children() {
        std::thread::spawn(|| {
            let before = of_this_thread();
            set_for_this_thread(Duration::from_millis(7));
            assert_eq!(of_this_thread(), Duration::from_millis(7));
            let kept = for_children();
            assert!(kept.is_some_and(|nanos| nanos != 7_000_000), "kept {kept:?} ns, was {before:?}");
        })
        .join()
        .expect("the setting thread");
        assert_ne!(of_this_thread(), Duration::from_millis(7), "another thread's slack changed");
    }
}
