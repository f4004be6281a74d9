//! Local wall-clock time for file headers and log lines, from the C library (the
//! system's time zone database), so that no date crate is needed.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// A broken-down local time with microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    pub year: i32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub micros: u32,
}

impl LocalTime {
    pub fn now() -> LocalTime {
        LocalTime::at(SystemTime::now())
    }

    pub fn at(time: SystemTime) -> LocalTime {
        let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        let seconds = libc::time_t::try_from(since_epoch.as_secs()).unwrap_or(libc::time_t::MAX);
        let micros = since_epoch.subsec_micros();
        match super::os::local_time(seconds) {
            Some(tm) => LocalTime {
                year: tm.tm_year + 1900,
                month: (tm.tm_mon + 1) as u32,
                day: tm.tm_mday as u32,
                hour: tm.tm_hour as u32,
                minute: tm.tm_min as u32,
                second: tm.tm_sec as u32,
                micros,
            },
            // A time the C library cannot represent: the epoch, rather than garbage.
            None => LocalTime { year: 1970, month: 1, day: 1, hour: 0, minute: 0, second: 0, micros },
        }
    }

    /// Python's `str(datetime.now())`: microseconds shown unless they are exactly 0.
    pub fn python_str(&self) -> PythonStr {
        PythonStr(*self)
    }
}

impl fmt::Display for LocalTime {
    /// `YYYY-MM-DD HH:MM:SS`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// Display adapter for [`LocalTime::python_str`].
pub struct PythonStr(LocalTime);

impl fmt::Display for PythonStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        if self.0.micros != 0 {
            write!(f, ".{:06}", self.0.micros)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_str_drops_zero_microseconds() {
        let mut t =
            LocalTime { year: 2026, month: 11, day: 24, hour: 12, minute: 16, second: 3, micros: 743099 };
        assert_eq!(t.python_str().to_string(), "2026-11-24 12:16:03.743099");
        t.micros = 0;
        assert_eq!(t.python_str().to_string(), "2026-11-24 12:16:03");
        t.micros = 5;
        assert_eq!(t.python_str().to_string(), "2026-11-24 12:16:03.000005");
    }

    #[test]
    fn now_is_a_plausible_date() {
        let now = LocalTime::now();
        assert!(now.year >= 2024 && (1..=12).contains(&now.month) && (1..=31).contains(&now.day));
    }
}
