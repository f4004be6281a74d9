//! The configuration: which files are read, how they merge, and the typed, validated
//! result. Loading has no side effects: it creates no file and runs no program, so
//! `-c` and `-P` are safe to run anywhere.

mod daemon;
mod error;
mod ini;
mod keys;
pub mod prefix;
mod sandbox;
mod service;
mod value;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

pub use daemon::{
    absolute, BirdSettings, DaemonSettings, LogLevel, LogSettings, PrometheusSettings, Reconfigure,
};
pub use error::{ConfigError, Origin};
pub use keys::print_defaults;
pub use service::{Check, OnDisabled, OnExit, Programs, Service};

use crate::config::prefix::IpPrefix;
use ini::{Ini, DEFAULT_SECTION};
use service::EnabledVersions;
use value::Fields;

/// The section that holds daemon settings; every other section is a service.
pub const DAEMON_SECTION: &str = "daemon";

/// Where the service sections come from: every `*.conf` in a directory (`-d`), or one
/// file (`-F`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceSource {
    Dir(PathBuf),
    File(PathBuf),
}

/// The files to read: the main file (`-f`) and the service files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sources {
    pub main: PathBuf,
    pub services: ServiceSource,
}

/// A loaded, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub daemon: DaemonSettings,
    /// In the order their sections were first read. Shared with the service threads,
    /// so a running daemon holds one copy of each.
    pub services: Vec<Arc<Service>>,
}

/// A configuration, what was odd about it but not wrong, and the files as read (for
/// `-P`; a running daemon does not keep them).
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<String>,
    ini: Ini,
}

/// A configuration that cannot be used: the error, and the warnings found before it
/// (a typo such as `chek_cmd` is often the cause of the error, so both are shown).
#[derive(Debug)]
pub struct Rejected {
    pub error: ConfigError,
    pub warnings: Vec<String>,
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl From<ConfigError> for Rejected {
    fn from(error: ConfigError) -> Rejected {
        Rejected { error, warnings: Vec::new() }
    }
}

/// Reads, merges and validates the configuration named by `sources`; `programs` says
/// whether a program a command names must exist now.
pub fn load(sources: &Sources, programs: Programs) -> Result<Loaded, Rejected> {
    let mut ini = ini_with_defaults();
    for file in files_to_read(sources)? {
        ini.read_file(&file)?;
    }
    finish(ini, programs, sandbox::installed().as_ref())
}

/// Like [`load`], for texts already in memory, each named as the file it stands for
/// (the fuzz tests use it).
pub fn load_texts(files: &[(&std::path::Path, &str)]) -> Result<Loaded, Rejected> {
    let mut ini = ini_with_defaults();
    for (path, text) in files {
        ini.read_str(text, path)?;
    }
    finish(ini, Programs::MustExist, None)
}

/// Sections, each with its keys and values (see [`ini_view`]).
#[doc(hidden)]
pub type IniView = Vec<(String, Vec<(String, String)>)>;

/// What one INI text says, read as upstream's `configparser.ConfigParser()` reads it:
/// every section but DEFAULT with its keys and interpolated values (DEFAULT's shown
/// through), or the error. Only for the differential tests against Python
/// (tests/differential.rs); the daemon reads through [`load`].
#[doc(hidden)]
pub fn ini_view(text: &str) -> Result<IniView, String> {
    let mut ini = Ini::default();
    ini.read_str(text, std::path::Path::new("differential.conf")).map_err(|err| err.to_string())?;
    let names: Vec<String> = ini.section_names().map(String::from).collect();
    names
        .into_iter()
        .map(|name| {
            let resolved = ini.resolve(&name).map_err(|err| err.to_string())?;
            Ok((name, resolved.into_iter().map(|r| (r.key, r.value)).collect()))
        })
        .collect()
}

/// The pidfile as the main file (`-f`) sets it, or the default, without reading or
/// checking the service files: `--status` still finds a running daemon when a service
/// file on disk has since been broken. None if even the main file cannot be read.
pub fn pidfile_hint(sources: &Sources) -> Option<PathBuf> {
    let mut ini = ini_with_defaults();
    ini.read_file(&sources.main).ok()?;
    let resolved = ini.resolve(DAEMON_SECTION).ok()?;
    let pidfile = resolved.into_iter().find(|r| r.key == "pidfile")?.value;
    daemon::absolute(std::path::Path::new(&pidfile)).ok()
}

/// Upstream's `read_dict(DEFAULT_OPTIONS)`: the built-in defaults come first.
fn ini_with_defaults() -> Ini {
    let mut ini = Ini::default();
    for key in keys::SERVICE_KEYS {
        if let Some(default) = key.default {
            ini.set_default(DEFAULT_SECTION, key.name, default);
        }
    }
    for key in keys::DAEMON_KEYS {
        if let Some(default) = key.default {
            ini.set_default(DAEMON_SECTION, key.name, default);
        }
    }
    ini
}

/// Validates `ini`, and holds the result against the systemd unit the daemon will run
/// under (`unit`, if any): what it cannot allow is an error where `programs` must exist
/// (`-c`), a warning for the daemon itself.
fn finish(ini: Ini, programs: Programs, unit: Option<&sandbox::Installed>) -> Result<Loaded, Rejected> {
    let mut warnings = unknown_key_warnings(&ini);
    warnings.extend(redefinition_warnings(&ini));
    let config = match validate(&ini, programs, &mut warnings) {
        Ok((daemon, services)) => Config { daemon, services },
        Err(error) => return Err(Rejected { error, warnings }),
    };
    if let Some(unit) = unit {
        warnings.extend(unit.notes.iter().cloned());
        let mut first_error = None;
        for finding in sandbox::findings(&config, &unit.sandbox, &sandbox::inspect) {
            let error = match fields(&ini, &finding.section) {
                Ok(fields) => fields.error(&finding.key, finding.message),
                Err(error) => error,
            };
            if finding.breaks && programs == Programs::MustExist && first_error.is_none() {
                first_error = Some(error);
            } else {
                warnings.push(error.to_string());
            }
        }
        if let Some(error) = first_error {
            return Err(Rejected { error, warnings });
        }
    }
    Ok(Loaded { config, warnings, ini })
}

/// A service written in two files merges key by key, the later file winning: legal
/// (override files do it on purpose), but after a copy-and-edit it is rarely what was
/// meant, so it is said once. `[daemon]` is often split between files on purpose.
fn redefinition_warnings(ini: &Ini) -> Vec<String> {
    let mut warnings = Vec::new();
    for name in ini.section_names().filter(|name| *name != DAEMON_SECTION) {
        let files = ini.files_of(name);
        if let [.., last] = files {
            if files.len() > 1 {
                let listed: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
                warnings.push(format!(
                    "[{name}] is defined in {}; they merge key by key and {} wins where both set a key",
                    listed.join(" and "),
                    last.display()
                ));
            }
        }
    }
    warnings
}

/// The main file, then the service file or the directory's `*.conf` files in sorted
/// order (upstream's order is the directory's, so an override between files could win
/// or lose from one host to the next).
fn files_to_read(sources: &Sources) -> Result<Vec<PathBuf>, ConfigError> {
    let mut files = Vec::new();
    if !sources.main.is_file() {
        return Err(ConfigError::in_file(
            &sources.main,
            "configuration file does not exist or is not a regular file",
        ));
    }
    files.push(sources.main.clone());
    match &sources.services {
        ServiceSource::File(file) => {
            if !file.is_file() {
                return Err(ConfigError::in_file(
                    file,
                    "service configuration file does not exist or is not a regular file",
                ));
            }
            files.push(file.clone());
        }
        ServiceSource::Dir(dir) => {
            if dir.exists() && !dir.is_dir() {
                return Err(ConfigError::in_file(
                    dir,
                    "is not a directory: -d names a directory of *.conf files (-F takes one file)",
                ));
            }
            if !dir.is_dir() {
                return Err(ConfigError::in_file(
                    dir,
                    "directory with configuration files for service checks does not exist",
                ));
            }
            let entries = std::fs::read_dir(dir)
                .map_err(|err| ConfigError::in_file(dir, format!("cannot list directory: {err}")))?;
            let mut found = Vec::new();
            for entry in entries {
                let entry = entry
                    .map_err(|err| ConfigError::in_file(dir, format!("cannot list directory: {err}")))?;
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.ends_with(".conf") && !name.starts_with('.') && entry.path().is_file() {
                    found.push(entry.path());
                }
            }
            found.sort();
            files.extend(found);
        }
    }
    Ok(files)
}

/// A warning for each key that nothing uses: a typo like `chek_cmd` must not pass
/// unnoticed (upstream ignores it silently). A key that a `%(name)s` refers to is used.
fn unknown_key_warnings(ini: &Ini) -> Vec<String> {
    let sections: Vec<&str> = std::iter::once(DEFAULT_SECTION).chain(ini.section_names()).collect();
    let referenced: HashSet<String> = sections
        .iter()
        .flat_map(|section| ini.own_entries(section))
        .flat_map(|entry| ini::references(&entry.raw))
        .collect();
    let mut warnings = Vec::new();
    for section in sections {
        let known: fn(&str) -> bool = match section {
            DEFAULT_SECTION => |key| keys::is_service_key(key) || keys::is_daemon_key(key),
            DAEMON_SECTION => keys::is_daemon_key,
            _ => keys::is_service_key,
        };
        let legacy: Vec<&str> = match section {
            DEFAULT_SECTION => [keys::LEGACY_SERVICE_KEYS, keys::LEGACY_DAEMON_KEYS].concat(),
            DAEMON_SECTION => keys::LEGACY_DAEMON_KEYS.to_vec(),
            _ => keys::LEGACY_SERVICE_KEYS.to_vec(),
        };
        for entry in ini.own_entries(section) {
            if known(&entry.key) || referenced.contains(&entry.key) {
                continue;
            }
            let what = if legacy.contains(&entry.key.as_str()) {
                "is a key of an older anycast-healthchecker that no version reads now, ignored"
            } else {
                "unknown key, ignored"
            };
            let warning =
                ConfigError::new(what).origin(entry.origin.clone()).section(section).key(&entry.key);
            warnings.push(warning.to_string());
        }
    }
    warnings
}

fn validate(
    ini: &Ini,
    programs: Programs,
    warnings: &mut Vec<String>,
) -> Result<(DaemonSettings, Vec<Arc<Service>>), ConfigError> {
    let daemon_fields = fields(ini, DAEMON_SECTION)?;
    let daemon = daemon::parse_daemon(&daemon_fields, programs, warnings)?;
    let service_names: Vec<&str> = ini.section_names().filter(|name| *name != DAEMON_SECTION).collect();
    if daemon.bird.is_empty() && !service_names.is_empty() {
        return Err(
            daemon_fields.error("ipv4", "ipv4 and ipv6 are both false, so no service can be announced")
        );
    }
    let enabled = EnabledVersions {
        ipv4: daemon.bird(crate::config::prefix::IpVersion::V4).is_some(),
        ipv6: daemon.bird(crate::config::prefix::IpVersion::V6).is_some(),
        maintenance_file: daemon.maintenance_file.clone(),
        log_each_check: daemon.log.each_check,
    };
    let dummies: Vec<IpPrefix> = daemon.bird.iter().filter_map(|b| b.dummy_ip_prefix).collect();
    let mut owners: HashMap<IpPrefix, String> = HashMap::new();
    let mut services = Vec::new();
    for name in service_names {
        let fields = fields(ini, name)?;
        let service = service::parse_service(&fields, &enabled, programs, warnings)?;
        for prefix in &service.ip_prefixes {
            if dummies.contains(prefix) {
                return Err(fields
                    .error("ip_prefix", format!("{prefix} is the dummy prefix, which is always announced")));
            }
            if let Some(other) = owners.insert(*prefix, name.to_string()) {
                return Err(fields.error("ip_prefix", format!("{prefix} is also used by service [{other}]")));
            }
        }
        services.push(Arc::new(service));
    }
    services.shrink_to_fit();
    Ok((daemon, services))
}

/// The resolved keys of `section`, knowing which file the section was written in.
fn fields(ini: &Ini, section: &str) -> Result<Fields, ConfigError> {
    let origin = ini
        .own_entries(section)
        .iter()
        .map(|entry| entry.origin.clone())
        .find(|origin| matches!(origin, Origin::File(_)));
    Ok(Fields::new(section, ini.resolve(section)?, origin))
}

impl Loaded {
    /// The configuration alone: what was read is dropped now, not when the daemon
    /// that runs with it ends.
    pub fn into_config(self) -> Config {
        self.config
    }

    /// The `-P` output: the merged, interpolated configuration, `[DEFAULT]` first, then
    /// `[daemon]`, then the services; each section's own keys, then inherited ones.
    /// Prefixes are shown normalised, as the daemon uses them.
    pub fn print_conf(&self) -> Result<String, ConfigError> {
        let mut out = String::new();
        let sections = std::iter::once(DEFAULT_SECTION).chain(self.ini.section_names());
        for section in sections {
            out.push_str(&format!("[{section}]\n"));
            for resolved in self.ini.resolve(section)? {
                let value = self.normalised(section, &resolved.key).unwrap_or(resolved.value);
                out.push_str(&format!("{} = {value}\n", resolved.key));
            }
            out.push('\n');
        }
        Ok(out)
    }

    fn normalised(&self, section: &str, key: &str) -> Option<String> {
        let join =
            |prefixes: &[IpPrefix]| prefixes.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        match (section, key) {
            (DAEMON_SECTION, "dummy_ip_prefix") => self
                .config
                .daemon
                .bird(crate::config::prefix::IpVersion::V4)
                .map(|b| display_dummy(b.dummy_ip_prefix)),
            (DAEMON_SECTION, "dummy_ip6_prefix") => self
                .config
                .daemon
                .bird(crate::config::prefix::IpVersion::V6)
                .map(|b| display_dummy(b.dummy_ip_prefix)),
            (_, "ip_prefix") => self.config.service(section).map(|s| join(&s.ip_prefixes)),
            _ => None,
        }
    }
}

impl Config {
    pub fn service(&self, name: &str) -> Option<&Arc<Service>> {
        self.services.iter().find(|s| s.name == name)
    }
}

fn display_dummy(dummy: Option<IpPrefix>) -> String {
    dummy.map_or_else(|| "none".to_string(), |d| d.to_string())
}
