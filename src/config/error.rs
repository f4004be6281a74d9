//! The one-line configuration error an operator sees:
//! `FILE: [SECTION] KEY: what is wrong (got VALUE)`, with the parts that are known.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where a value came from: a file, or the built-in defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    File(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("built-in default"),
            Origin::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// A configuration problem, located as precisely as we can. Boxed: it travels up
/// through many `Result`s and is rare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(Box<Details>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Details {
    origin: Option<Origin>,
    line: Option<usize>,
    section: Option<String>,
    key: Option<String>,
    message: String,
    value: Option<String>,
}

impl ConfigError {
    pub fn new(message: impl Into<String>) -> ConfigError {
        ConfigError(Box::new(Details {
            origin: None,
            line: None,
            section: None,
            key: None,
            message: message.into(),
            value: None,
        }))
    }

    /// An error about a whole file (it is missing, unreadable, or not INI).
    pub fn in_file(path: &Path, message: impl Into<String>) -> ConfigError {
        ConfigError::new(message).origin(Origin::File(path.to_path_buf()))
    }

    pub fn origin(mut self, origin: Origin) -> ConfigError {
        self.0.origin = Some(origin);
        self
    }

    pub fn line(mut self, line: usize) -> ConfigError {
        self.0.line = Some(line);
        self
    }

    pub fn section(mut self, section: &str) -> ConfigError {
        self.0.section = Some(section.to_string());
        self
    }

    pub fn key(mut self, key: &str) -> ConfigError {
        self.0.key = Some(key.to_string());
        self
    }

    pub fn value(mut self, value: &str) -> ConfigError {
        self.0.value = Some(value.to_string());
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.0;
        if let Some(origin) = &d.origin {
            write!(f, "{origin}")?;
            if let Some(line) = d.line {
                write!(f, ":{line}")?;
            }
            f.write_str(": ")?;
        }
        if let Some(section) = &d.section {
            write!(f, "[{section}] ")?;
        }
        if let Some(key) = &d.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&d.message)?;
        if let Some(value) = &d.value {
            write!(f, " (got {value:?})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}
