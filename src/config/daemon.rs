//! The `[daemon]` section: typed settings and their rules.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::ConfigError;
use super::service::{command, parse_prefix, Programs};
use super::value::{parse_float, Fields, MAX_SECONDS};
use crate::config::prefix::{IpPrefix, IpVersion};
use crate::sys::argv::Argv;

/// Python `logging` level names upstream accepts for `loglevel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    NotSet,
    Debug,
    Info,
    Warning,
    Error,
    Critical,
}

/// The Bird file and reload settings of one IP version.
#[derive(Debug, Clone, PartialEq)]
pub struct BirdSettings {
    pub version: IpVersion,
    /// The prefix file as configured (it may be a symbolic link).
    pub conf: PathBuf,
    pub variable: String,
    /// Extension: the name of the degraded set the file also defines, if any.
    pub degraded_variable: Option<String>,
    /// Extension: the degraded set's own file (the prefix file is then upstream's
    /// alone, and upstream's program can write it again); None: in the prefix file.
    pub degraded_conf: Option<PathBuf>,
    pub reconfigure: Reconfigure,
    /// Always listed so the set is never empty (Bird 1.6 rejects an empty set); `None`
    /// when set to `none` (extension, for Bird 2 and later).
    pub dummy_ip_prefix: Option<IpPrefix>,
    pub keep_changes: bool,
    pub changes_counter: u32,
}

/// How Bird is told to load the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reconfigure {
    /// `bird_reconfigure_cmd`: a command such as `sudo birdc configure`.
    Command(Argv),
    /// `bird_control_socket` (extension): speak Bird's control protocol on this socket.
    Socket(PathBuf),
}

impl std::fmt::Display for Reconfigure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reconfigure::Command(argv) => write!(f, "{argv}"),
            Reconfigure::Socket(path) => write!(f, "'configure' on {}", path.display()),
        }
    }
}

/// Logging destinations and formats, as upstream's keys set them.
#[derive(Debug, Clone, PartialEq)]
pub struct LogSettings {
    pub level: LogLevel,
    pub file: Option<PathBuf>,
    pub stderr_file: Option<PathBuf>,
    pub server: Option<String>,
    pub server_port: u16,
    pub stderr_log_server: bool,
    pub json_stdout: bool,
    pub json_log_file: bool,
    pub json_log_server: bool,
    pub max_bytes: u64,
    pub backups: u32,
    pub format_journalctl: bool,
    /// Extension: log to the local syslog socket too.
    pub syslog: bool,
    /// Extension: upstream's lines for every check (false: events and transitions only).
    pub each_check: bool,
    /// Extension: `log_syslog_facility`, as a syslog facility code.
    pub syslog_facility: u8,
    /// Extension: `log_syslog_socket`.
    pub syslog_socket: PathBuf,
    /// Extension: log to journald over its native protocol, with fields.
    pub journald: bool,
    /// Extension: `log_journald_socket`.
    pub journald_socket: PathBuf,
    /// The UDP server's facility: `log_syslog_facility` when set, else upstream's user.
    pub server_facility: u8,
}

/// The Prometheus textfile exporter's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct PrometheusSettings {
    pub enabled: bool,
    pub textfile_dir: PathBuf,
    pub interval: Duration,
    /// Extension: serve `/metrics` over HTTP here.
    pub listen: Option<std::net::SocketAddr>,
}

/// Everything in `[daemon]`.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonSettings {
    pub pidfile: PathBuf,
    /// The abstract Unix socket name held as the one-instance lock.
    pub instance_lock: String,
    /// Extension: while this file exists, every service is withdrawn (maintenance).
    pub maintenance_file: Option<PathBuf>,
    /// The enabled IP versions' Bird settings: `ipv4` first, then `ipv6`.
    pub bird: Vec<BirdSettings>,
    /// How long `bird_reconfigure_cmd`/`bird6_reconfigure_cmd` may run (extension).
    pub bird_reconfigure_timeout: Duration,
    /// Bird behind its prefix file for this long is a CRITICAL event (extension).
    pub bird_behind_critical: Duration,
    pub purge_ip_prefixes: bool,
    pub splay_startup: Option<Duration>,
    pub log: LogSettings,
    pub prometheus: PrometheusSettings,
}

impl DaemonSettings {
    pub fn bird(&self, version: IpVersion) -> Option<&BirdSettings> {
        self.bird.iter().find(|b| b.version == version)
    }
}

pub fn parse_daemon(
    fields: &Fields,
    programs: Programs,
    warnings: &mut Vec<String>,
) -> Result<DaemonSettings, ConfigError> {
    let pidfile = file_in_existing_dir(fields, "pidfile")?;
    let instance_lock = non_empty(fields, "instance_lock")?.to_string();
    let maintenance_file = match fields.get("maintenance_file") {
        None => None,
        Some(_) => Some(
            absolute(Path::new(non_empty(fields, "maintenance_file")?))
                .map_err(|err| fields.error("maintenance_file", format!("cannot be made absolute: {err}")))?,
        ),
    };
    if instance_lock.len() > 107 || instance_lock.contains('\0') {
        return Err(
            fields.error("instance_lock", "must be at most 107 bytes with no NUL (an abstract socket name)")
        );
    }
    let log = parse_log(fields)?;
    let ipv4 = fields.boolean("ipv4")?;
    let ipv6 = fields.boolean("ipv6")?;
    let mut bird = Vec::new();
    for (version, enabled) in [(IpVersion::V4, ipv4), (IpVersion::V6, ipv6)] {
        let settings = parse_bird(fields, version, programs, warnings)?;
        if enabled {
            bird.push(settings?);
        }
    }
    // A degraded set's own file is no other file the daemon writes.
    for (index, settings) in bird.iter().enumerate() {
        let Some(degraded) = &settings.degraded_conf else { continue };
        let others = bird.iter().enumerate().filter(|(other, _)| *other != index);
        let clash = others
            .flat_map(|(_, other)| std::iter::once(&other.conf).chain(&other.degraded_conf))
            .any(|path| path == degraded);
        if clash {
            let key =
                if settings.version == IpVersion::V4 { "bird_degraded_conf" } else { "bird6_degraded_conf" };
            return Err(fields.error(key, "must differ from the other IP version's files"));
        }
    }
    let bird_reconfigure_timeout = fields.seconds("bird_reconfigure_timeout")?;
    let bird_behind_critical = fields.seconds("bird_behind_critical_seconds")?;
    let purge_ip_prefixes = fields.boolean("purge_ip_prefixes")?;
    let splay_startup = match fields.get("splay_startup") {
        None => None,
        Some(resolved) => {
            let seconds = parse_float(&resolved.value)
                .filter(|s| s.is_finite() && (0.0..=MAX_SECONDS).contains(s))
                .ok_or_else(|| {
                    fields.error(
                        "splay_startup",
                        format!("must be a finite number of seconds from 0 to {MAX_SECONDS}"),
                    )
                })?;
            Some(Duration::from_secs_f64(seconds))
        }
    };
    let prometheus = PrometheusSettings {
        enabled: fields.boolean("prometheus_exporter")?,
        textfile_dir: PathBuf::from(non_empty(fields, "prometheus_collector_textfile_dir")?),
        interval: Duration::from_secs(positive_u64(fields, "prometheus_exporter_interval")?),
        listen: match fields.get("prometheus_listen") {
            None => None,
            Some(_) => Some(fields.string("prometheus_listen")?.parse().map_err(|_| {
                fields.error("prometheus_listen", "is not ADDRESS:PORT (IPv6 as [ADDRESS]:PORT)")
            })?),
        },
    };
    if prometheus.enabled && !prometheus.textfile_dir.is_dir() {
        return Err(fields.error(
            "prometheus_collector_textfile_dir",
            "is not an existing directory, and prometheus_exporter = true writes its metrics there",
        ));
    }
    Ok(DaemonSettings {
        pidfile,
        instance_lock,
        maintenance_file,
        bird,
        bird_reconfigure_timeout,
        bird_behind_critical,
        purge_ip_prefixes,
        splay_startup,
        log,
        prometheus,
    })
}

/// The settings of one version. Types are checked for both versions; the rest only for
/// an enabled one (the inner result), as upstream does.
fn parse_bird(
    fields: &Fields,
    version: IpVersion,
    programs: Programs,
    warnings: &mut Vec<String>,
) -> Result<Result<BirdSettings, ConfigError>, ConfigError> {
    let (conf, variable, cmd, socket, dummy, keep, counter, degraded, degraded_file) = match version {
        IpVersion::V4 => (
            "bird_conf",
            "bird_variable",
            "bird_reconfigure_cmd",
            "bird_control_socket",
            "dummy_ip_prefix",
            "bird_keep_changes",
            "bird_changes_counter",
            "bird_degraded_variable",
            "bird_degraded_conf",
        ),
        IpVersion::V6 => (
            "bird6_conf",
            "bird6_variable",
            "bird6_reconfigure_cmd",
            "bird6_control_socket",
            "dummy_ip6_prefix",
            "bird6_keep_changes",
            "bird6_changes_counter",
            "bird6_degraded_variable",
            "bird6_degraded_conf",
        ),
    };
    let keep_changes = fields.boolean(keep)?;
    // Upstream keeps one file for a counter of 0; we keep that meaning.
    let changes_counter = fields.integer(counter, 0, i64::from(u32::MAX))?.max(1) as u32;
    let mut enabled = || -> Result<BirdSettings, ConfigError> {
        let conf = file_in_existing_dir(fields, conf)?;
        let variable_name = fields.string(variable)?.to_string();
        if !is_bird_symbol(&variable_name) {
            return Err(
                fields.error(variable, "must be a Bird symbol: a letter or '_' then letters, digits or '_'")
            );
        }
        let degraded_variable = match fields.get(degraded) {
            None => None,
            Some(_) => {
                let name = fields.string(degraded)?.to_string();
                if !is_bird_symbol(&name) {
                    return Err(fields.error(
                        degraded,
                        "must be a Bird symbol: a letter or '_' then letters, digits or '_'",
                    ));
                }
                if name == variable_name {
                    return Err(fields.error(degraded, format!("must differ from {variable}")));
                }
                Some(name)
            }
        };
        let degraded_conf = match fields.get(degraded_file) {
            None => None,
            Some(_) => {
                if degraded_variable.is_none() {
                    return Err(fields.error(
                        degraded_file,
                        format!("is set but {degraded} is not: name the set this file defines"),
                    ));
                }
                let path = file_in_existing_dir(fields, degraded_file)?;
                if path == conf {
                    return Err(fields.error(degraded_file, format!("must differ from {}", conf.display())));
                }
                Some(path)
            }
        };
        let reconfigure = match fields.get(socket) {
            Some(_) => Reconfigure::Socket(
                absolute(Path::new(non_empty(fields, socket)?))
                    .map_err(|err| fields.error(socket, format!("cannot be made absolute: {err}")))?,
            ),
            None => Reconfigure::Command(command(fields, cmd, programs, warnings)?),
        };
        let dummy_ip_prefix = match fields.string(dummy)? {
            none if none.eq_ignore_ascii_case("none") => None,
            text => {
                let prefix = parse_prefix(text).map_err(|why| fields.error(dummy, why))?;
                if prefix.version() != version {
                    return Err(fields.error(dummy, format!("must be an {version} prefix (or none)")));
                }
                Some(prefix)
            }
        };
        Ok(BirdSettings {
            version,
            conf,
            variable: variable_name,
            degraded_variable,
            degraded_conf,
            reconfigure,
            dummy_ip_prefix,
            keep_changes,
            changes_counter,
        })
    };
    Ok(enabled())
}

fn parse_log(fields: &Fields) -> Result<LogSettings, ConfigError> {
    let level = match fields.string("loglevel")?.to_ascii_lowercase().as_str() {
        "notset" => LogLevel::NotSet,
        "debug" => LogLevel::Debug,
        "info" => LogLevel::Info,
        "warning" | "warn" => LogLevel::Warning,
        "error" => LogLevel::Error,
        "critical" | "fatal" => LogLevel::Critical,
        _ => {
            return Err(fields.error("loglevel", "is not a log level (debug, info, warning, error, critical)"))
        }
    };
    let file = optional_file(fields, "log_file")?;
    let stderr_file = optional_file(fields, "stderr_file")?;
    let server = match fields.optional_string("log_server") {
        Some("") => return Err(fields.error("log_server", "is empty: name a host or IP address")),
        other => other.map(str::to_string),
    };
    let server_port = fields.integer("log_server_port", 1, 65535)? as u16;
    let facility_text = fields.string("log_syslog_facility")?;
    let syslog_facility = FACILITIES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(facility_text))
        .map(|(_, code)| *code)
        .ok_or_else(|| {
            let names: Vec<&str> = FACILITIES.iter().map(|(name, _)| *name).collect();
            fields.error("log_syslog_facility", format!("is not a syslog facility ({})", names.join(", ")))
        })?;
    let facility_set =
        fields.get("log_syslog_facility").is_some_and(|r| r.origin != super::error::Origin::Default);
    let server_facility = if facility_set { syslog_facility } else { 1 };
    let stderr_log_server = fields.optional_boolean("stderr_log_server")?.unwrap_or(false);
    if stderr_log_server && server.is_none() {
        return Err(fields.error("stderr_log_server", "is set but log_server is not: name the syslog server"));
    }
    Ok(LogSettings {
        level,
        file,
        stderr_file,
        server,
        server_port,
        stderr_log_server,
        json_stdout: fields.boolean("json_stdout")?,
        json_log_file: fields.boolean("json_log_file")?,
        json_log_server: fields.boolean("json_log_server")?,
        max_bytes: fields.integer("log_maxbytes", 0, i64::MAX)? as u64,
        backups: fields.integer("log_backups", 0, i64::from(u32::MAX))? as u32,
        format_journalctl: fields.boolean("log_format_journalctl")?,
        syslog: fields.boolean("log_syslog")?,
        each_check: fields.boolean("log_each_check")?,
        syslog_facility,
        syslog_socket: PathBuf::from(non_empty(fields, "log_syslog_socket")?),
        journald: fields.boolean("log_journald")?,
        journald_socket: PathBuf::from(non_empty(fields, "log_journald_socket")?),
        server_facility,
    })
}

/// Syslog facility names (RFC 5424 codes), as `logger -p` and rsyslog spell them.
const FACILITIES: &[(&str, u8)] = &[
    ("kern", 0),
    ("user", 1),
    ("mail", 2),
    ("daemon", 3),
    ("auth", 4),
    ("syslog", 5),
    ("lpr", 6),
    ("news", 7),
    ("uucp", 8),
    ("cron", 9),
    ("authpriv", 10),
    ("ftp", 11),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
];

fn non_empty<'a>(fields: &'a Fields, key: &str) -> Result<&'a str, ConfigError> {
    match fields.string(key)? {
        "" => Err(fields.error(key, "is empty")),
        text => Ok(text),
    }
}

fn positive_u64(fields: &Fields, key: &str) -> Result<u64, ConfigError> {
    Ok(fields.integer(key, 1, MAX_SECONDS as i64)? as u64)
}

fn optional_file(fields: &Fields, key: &str) -> Result<Option<PathBuf>, ConfigError> {
    match fields.get(key) {
        None => Ok(None),
        Some(_) => file_in_existing_dir(fields, key).map(Some),
    }
}

/// A file whose directory exists (we create files, not directories). A relative name is
/// taken from the working directory at load time and made absolute, so that it keeps
/// its meaning whatever the daemon does later.
fn file_in_existing_dir(fields: &Fields, key: &str) -> Result<PathBuf, ConfigError> {
    let path = absolute(Path::new(non_empty(fields, key)?))
        .map_err(|err| fields.error(key, format!("cannot be made absolute: {err}")))?;
    let dir = path.parent().unwrap_or(Path::new("/"));
    if !dir.is_dir() {
        return Err(fields.error(key, format!("directory {} does not exist", dir.display())));
    }
    if path.is_dir() {
        return Err(fields.error(key, "is a directory, not a file"));
    }
    Ok(path)
}

/// `path` joined to the working directory if it is relative.
pub fn absolute(path: &Path) -> std::io::Result<PathBuf> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    Ok(std::env::current_dir()?.join(path))
}

/// A name Bird's lexer reads as one symbol.
fn is_bird_symbol(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
