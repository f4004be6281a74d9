//! Typed access to one section's resolved values, with Python's literal rules (`int()`,
//! `float()`, `getboolean`) so that every value upstream accepts means the same here, and
//! errors that name the file, section and key.

use std::time::Duration;

use super::error::{ConfigError, Origin};
use super::ini::Resolved;

/// The longest interval or timeout we take (about 31 years): beyond it, deadlines
/// computed on the monotonic clock could overflow.
pub const MAX_SECONDS: f64 = 1e9;

/// The resolved keys of one section.
pub struct Fields {
    section: String,
    values: Vec<Resolved>,
    /// Where the section itself was written, to name in an error about a missing key.
    section_origin: Option<Origin>,
}

impl Fields {
    pub fn new(section: &str, values: Vec<Resolved>, section_origin: Option<Origin>) -> Fields {
        Fields { section: section.to_string(), values, section_origin }
    }

    pub fn section(&self) -> &str {
        &self.section
    }

    pub fn get(&self, key: &str) -> Option<&Resolved> {
        self.values.iter().find(|r| r.key == key)
    }

    /// An error about `key`, naming where its value came from and what it was.
    pub fn error(&self, key: &str, message: impl Into<String>) -> ConfigError {
        let error = ConfigError::new(message).section(&self.section).key(key);
        match (self.get(key), &self.section_origin) {
            (Some(resolved), _) => error.origin(resolved.origin.clone()).value(&resolved.value),
            (None, Some(origin)) => error.origin(origin.clone()),
            (None, None) => error,
        }
    }

    /// A note about `key` that the section's own file must fix (the key is unset or
    /// built in), naming that file rather than the built-in default.
    pub fn section_error(&self, key: &str, message: impl Into<String>) -> ConfigError {
        let error = ConfigError::new(message).section(&self.section).key(key);
        match &self.section_origin {
            Some(origin) => error.origin(origin.clone()),
            None => error,
        }
    }

    pub fn string(&self, key: &str) -> Result<&str, ConfigError> {
        self.optional_string(key).ok_or_else(|| self.error(key, "is required but not set"))
    }

    pub fn optional_string(&self, key: &str) -> Option<&str> {
        self.get(key).map(|r| r.value.as_str())
    }

    pub fn boolean(&self, key: &str) -> Result<bool, ConfigError> {
        parse_bool(self.string(key)?)
            .ok_or_else(|| self.error(key, "is not a boolean (use true/false, yes/no, on/off or 1/0)"))
    }

    pub fn optional_boolean(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(_) => self.boolean(key).map(Some),
        }
    }

    /// An integer in `min..=max`.
    pub fn integer(&self, key: &str, min: i64, max: i64) -> Result<i64, ConfigError> {
        let number = parse_int(self.string(key)?).ok_or_else(|| self.error(key, "is not an integer"))?;
        if number < min || number > max {
            let range = if max >= i64::from(u32::MAX) {
                format!("at least {min}")
            } else {
                format!("from {min} to {max}")
            };
            return Err(self.error(key, format!("must be {range}")));
        }
        Ok(number)
    }

    /// A number of seconds, finite and above zero.
    pub fn seconds(&self, key: &str) -> Result<Duration, ConfigError> {
        let number = parse_float(self.string(key)?).ok_or_else(|| self.error(key, "is not a number"))?;
        if !number.is_finite() || number <= 0.0 {
            return Err(self.error(key, "must be a finite number of seconds above 0"));
        }
        if number > MAX_SECONDS {
            return Err(self.error(key, format!("must be at most {MAX_SECONDS} seconds")));
        }
        Duration::try_from_secs_f64(number).map_err(|_| self.error(key, "is too large"))
    }
}

/// Python's `getboolean`.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => Some(true),
        "0" | "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

/// Python's `int(text)`: surrounding whitespace, a sign, and `_` between digits allowed.
pub fn parse_int(text: &str) -> Option<i64> {
    let text = text.trim();
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let cleaned = without_digit_underscores(digits)?;
    if cleaned.is_empty() || !cleaned.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let magnitude: i64 = cleaned.parse().ok()?;
    Some(if negative { -magnitude } else { magnitude })
}

/// Python's `float(text)`: also `1e3`, `.5`, `inf` and `nan`, and `_` between digits.
/// Rust's float grammar is Python's once the underscores are gone.
pub fn parse_float(text: &str) -> Option<f64> {
    without_digit_underscores(text.trim())?.parse().ok()
}

/// `text` with each `_` removed, if every `_` stands between two digits.
fn without_digit_underscores(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'_' {
            let before = i.checked_sub(1).map(|j| bytes[j]);
            let after = bytes.get(i + 1).copied();
            if !(before.is_some_and(|c| c.is_ascii_digit()) && after.is_some_and(|c| c.is_ascii_digit())) {
                return None;
            }
        }
    }
    Some(text.replace('_', ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        let values = pairs
            .iter()
            .map(|(key, value)| Resolved {
                key: key.to_string(),
                value: value.to_string(),
                origin: Origin::File("s.conf".into()),
                inherited: false,
            })
            .collect();
        Fields::new("svc", values, None)
    }

    #[test]
    fn integers_are_checked_against_an_inclusive_range() {
        let f = fields(&[("low", "1"), ("high", "5"), ("under", "0"), ("over", "6"), ("text", "x")]);
        assert_eq!(f.section(), "svc");
        assert_eq!(f.integer("low", 1, 5), Ok(1), "the minimum is allowed");
        assert_eq!(f.integer("high", 1, 5), Ok(5), "the maximum is allowed");
        let under = f.integer("under", 1, 5).unwrap_err().to_string();
        assert_eq!(under, "s.conf: [svc] under: must be from 1 to 5 (got \"0\")");
        assert!(f.integer("over", 1, 5).unwrap_err().to_string().contains("must be from 1 to 5"));
        assert!(f.integer("over", 1, i64::from(u32::MAX)).is_ok());
        let open_ended = f.integer("under", 1, i64::from(u32::MAX)).unwrap_err().to_string();
        assert!(open_ended.contains("must be at least 1"), "{open_ended}");
        assert!(f.integer("text", 1, 5).unwrap_err().to_string().contains("is not an integer"));
    }

    #[test]
    fn seconds_are_finite_above_zero_and_at_most_the_cap() {
        let f = fields(&[
            ("tiny", "0.001"),
            ("zero", "0"),
            ("negative", "-1"),
            ("cap", "1e9"),
            ("over", "1.5e9"),
            ("inf", "inf"),
            ("nan", "nan"),
        ]);
        assert_eq!(f.seconds("tiny"), Ok(Duration::from_millis(1)));
        assert_eq!(f.seconds("cap"), Ok(Duration::from_secs(1_000_000_000)));
        for bad in ["zero", "negative", "inf", "nan"] {
            let err = f.seconds(bad).unwrap_err().to_string();
            assert!(err.contains("must be a finite number of seconds above 0"), "{bad}: {err}");
        }
        assert!(f.seconds("over").unwrap_err().to_string().contains("must be at most"));
    }

    #[test]
    fn an_optional_boolean_is_none_only_when_unset() {
        let f = fields(&[("on", "yes"), ("off", "0"), ("bad", "maybe")]);
        assert_eq!(f.optional_boolean("on"), Ok(Some(true)));
        assert_eq!(f.optional_boolean("off"), Ok(Some(false)));
        assert_eq!(f.optional_boolean("unset"), Ok(None));
        assert!(f.optional_boolean("bad").is_err());
    }

    #[test]
    fn booleans_as_python() {
        for yes in ["1", "yes", "TRUE", "On"] {
            assert_eq!(parse_bool(yes), Some(true));
        }
        for no in ["0", "no", "False", "OFF"] {
            assert_eq!(parse_bool(no), Some(false));
        }
        assert_eq!(parse_bool("maybe"), None);
        assert_eq!(parse_bool(""), None);
    }

    #[test]
    fn integers_as_python() {
        assert_eq!(parse_int(" 1_000 "), Some(1000));
        assert_eq!(parse_int("-3"), Some(-3));
        assert_eq!(parse_int("+7"), Some(7));
        for bad in ["1.5", "", "1__0", "_1", "1_", "0x10", "1e3", "- 1", "+-1", "--1", "-"] {
            assert_eq!(parse_int(bad), None, "{bad}");
        }
    }

    #[test]
    fn floats_as_python() {
        assert_eq!(parse_float("1e3"), Some(1000.0));
        assert_eq!(parse_float(" .5 "), Some(0.5));
        assert_eq!(parse_float("1_0.2_5"), Some(10.25));
        assert_eq!(parse_float("inf"), Some(f64::INFINITY));
        assert!(parse_float("nan").is_some_and(f64::is_nan));
        for bad in ["abc", "", "1,5", "0x10", "1._5", "1 5", "--1", "1e"] {
            assert_eq!(parse_float(bad), None, "{bad}");
        }
    }
}
