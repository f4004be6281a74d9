//! Durations printed with three decimals ("12.345ms", "0.500s") by integer arithmetic.
//!
//! `{:.3}` of an `f64` prints the same digits, but its exact-digit path keeps about
//! 2 KiB of big-number buffers on the stack, and each check logs a few of these: over
//! the stack budget (`service::thread::STACK_SIZE`).

use std::fmt;
use std::time::Duration;

/// A number of thousandths, shown as `units.thousandths`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thousandths(u64);

/// `duration` in seconds, rounded to the millisecond.
pub fn secs(duration: Duration) -> Thousandths {
    thousandths((duration.as_nanos() + 500_000) / 1_000_000)
}

/// `duration` in milliseconds, rounded to the microsecond.
pub fn millis(duration: Duration) -> Thousandths {
    thousandths((duration.as_nanos() + 500) / 1_000)
}

/// Narrowed to 64 bits (585 000 years of milliseconds), whose formatting is cheaper.
fn thousandths(count: u128) -> Thousandths {
    Thousandths(u64::try_from(count).unwrap_or(u64::MAX))
}

impl fmt::Display for Thousandths {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}", self.0 / 1000, self.0 % 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_what_three_decimals_of_the_float_print() {
        let table = [
            (Duration::ZERO, "0.000", "0.000"),
            (Duration::from_nanos(499_999), "0.000", "0.500"),
            (Duration::from_nanos(500_000), "0.001", "0.500"),
            (Duration::from_micros(1_234_567), "1.235", "1234.567"),
            (Duration::from_millis(500), "0.500", "500.000"),
            (Duration::from_secs(90), "90.000", "90000.000"),
            (Duration::from_nanos(12_345_678_901), "12.346", "12345.679"),
        ];
        for (duration, seconds, milliseconds) in table {
            assert_eq!(secs(duration).to_string(), seconds, "{duration:?} in seconds");
            assert_eq!(millis(duration).to_string(), milliseconds, "{duration:?} in milliseconds");
            // The float's own digits, where it is not on a rounding edge.
            if duration != Duration::from_nanos(500_000) {
                assert_eq!(format!("{:.3}", duration.as_secs_f64()), seconds);
            }
        }
    }
}
