//! A service section: its typed settings and every rule a section must pass.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::{ConfigError, Origin};
use super::value::{parse_float, Fields};
use crate::config::prefix::{IpPrefix, IpVersion, PrefixError};
use crate::service::health::damping::DampingSettings;
use crate::service::probe::dns::{self, DnsCheck, Rcode};
use crate::service::probe::http::{HttpCheck, Method, StatusSet, Url};
use crate::service::probe::tcp::{parse_target, TcpCheck};
use crate::service::probe::tls::{read_ca_file, Tls, Trust};
use crate::sys::argv::{find_program, Argv};

/// What to do with a service's prefixes while its check is disabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDisabled {
    Withdraw,
    Advertise,
}

/// What to do with a service's prefixes when the daemon stops (extension; upstream keeps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnExit {
    Keep,
    Withdraw,
    Advertise,
    /// Extension: degraded for `drain_seconds`, then withdrawn.
    Drain,
}

/// How a service is checked: exactly one way.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// `check_cmd`: a program; exit 0 is healthy.
    Command(Argv),
    /// `check_tcp` (extension): a TCP connect, and optionally a send and an expect.
    Tcp(TcpCheck),
    /// `check_http` (extension): one HTTP or HTTPS request.
    Http(HttpCheck),
    /// `check_dns` (extension): one DNS query.
    Dns(DnsCheck),
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Check::Command(argv) => write!(f, "{argv}"),
            Check::Tcp(tcp) => write!(f, "{tcp}"),
            Check::Http(http) => write!(f, "{http}"),
            Check::Dns(dns) => write!(f, "{dns}"),
        }
    }
}

/// One health-checked service, as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: String,
    pub check: Check,
    pub check_interval: Duration,
    pub check_timeout: Duration,
    pub check_rise: u32,
    pub check_fail: u32,
    pub check_disabled: bool,
    pub on_disabled: OnDisabled,
    /// One or more prefixes, all advertised or withdrawn together (extension: upstream
    /// takes exactly one).
    pub ip_prefixes: Vec<IpPrefix>,
    pub interface: String,
    pub ip_check_disabled: bool,
    pub custom_bird_reconfigure_cmd: Option<Argv>,
    pub custom_bird_reconfigure_cmd_timeout: Duration,
    pub on_exit: OnExit,
    /// Extension: the interval while a result differs from the state (ExaBGP's
    /// `--fast-interval`); `check_interval` unless set.
    pub check_fast_interval: Duration,
    /// Extension: flap damping, when `damping = true`.
    pub damping: Option<DampingSettings>,
    /// Extension: while one of these files exists (the service's own
    /// `maintenance_file`, `[daemon]`'s), the service is drained and not checked.
    pub maintenance_files: Vec<PathBuf>,
    /// Extension: exit codes of `check_cmd` that mean "degraded": advertised, in the
    /// degraded set, and a success for rise/fail.
    pub check_degraded_exit_codes: Vec<i32>,
    /// Extension: how long a drain keeps the prefixes degraded before withdrawing them.
    pub drain_seconds: Duration,
    /// `[daemon]`'s `log_each_check`: upstream's lines for every check, or (false) only
    /// events and transitions.
    pub log_each_check: bool,
}

impl Service {
    /// True when `other` differs only in what a running check can take without
    /// starting over: timing, rise/fail, damping and maintenance files. Its state, counters and damping
    /// penalty then survive a reload.
    pub fn retunable_to(&self, other: &Service) -> bool {
        let tuned = Service {
            check_interval: other.check_interval,
            check_timeout: other.check_timeout,
            check_rise: other.check_rise,
            check_fail: other.check_fail,
            check_fast_interval: other.check_fast_interval,
            damping: other.damping,
            maintenance_files: other.maintenance_files.clone(),
            drain_seconds: other.drain_seconds,
            log_each_check: other.log_each_check,
            ..self.clone()
        };
        tuned == *other
    }
}

/// Which IP versions the daemon handles, for the version gate on `ip_prefix`.
pub struct EnabledVersions {
    pub ipv4: bool,
    pub ipv6: bool,
    /// `[daemon]`'s `maintenance_file`, which holds every service.
    pub maintenance_file: Option<PathBuf>,
    /// `[daemon]`'s `log_each_check`.
    pub log_each_check: bool,
}

/// How strictly the programs that commands name are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Programs {
    /// `-c`: a missing program is an error (deploy pipelines validate with it).
    MustExist,
    /// Starting and reloading: a missing program is a warning. Only the part that needs
    /// it fails (that service's check, that IP version's reloads), and it heals when the
    /// program appears; refusing to start would withdraw every route on the host.
    MayBeMissing,
}

/// Reads and checks one service section; warnings go to `warnings`.
pub fn parse_service(
    fields: &Fields,
    enabled: &EnabledVersions,
    programs: Programs,
    warnings: &mut Vec<String>,
) -> Result<Service, ConfigError> {
    let check = check(fields, programs, warnings)?;
    let check_interval = fields.seconds("check_interval")?;
    let check_timeout = fields.seconds("check_timeout")?;
    // Equal is common and fine (Wikimedia runs both at 1 s): the next check starts when
    // a timed-out one is killed. Only a longer timeout pushes the schedule back.
    if check_timeout > check_interval {
        warnings.push(
            fields
                .error(
                    "check_timeout",
                    format!(
                        "is above check_interval ({}s): a slow check delays the next one",
                        check_interval.as_secs_f64()
                    ),
                )
                .to_string(),
        );
    }
    let check_rise = count(fields, "check_rise")?;
    let check_fail = count(fields, "check_fail")?;
    let check_disabled = fields.boolean("check_disabled")?;
    if check_disabled && fields.get("check_disabled").is_some_and(|v| v.origin == Origin::Default) {
        warnings.push(
            fields
                .section_error(
                    "check_disabled",
                    "is not set, and its default (true) disables this check: set check_disabled = false \
                     to run it",
                )
                .to_string(),
        );
    }
    let on_disabled = match fields.string("on_disabled")? {
        "withdraw" => OnDisabled::Withdraw,
        "advertise" => OnDisabled::Advertise,
        _ => return Err(fields.error("on_disabled", "must be 'withdraw' or 'advertise'")),
    };
    let ip_prefixes = ip_prefixes(fields, enabled, warnings)?;
    let ip_check_disabled = fields.boolean("ip_check_disabled")?;
    let interface = fields.string("interface")?.to_string();
    if let Err(why) = check_interface_name(&interface) {
        return Err(fields.error("interface", why));
    }
    let custom_bird_reconfigure_cmd_timeout = fields.seconds("custom_bird_reconfigure_cmd_timeout")?;
    let custom_bird_reconfigure_cmd = match fields.get("custom_bird_reconfigure_cmd") {
        Some(_) => Some(command(fields, "custom_bird_reconfigure_cmd", programs, warnings)?),
        None => None,
    };
    let check_fast_interval = match fields.get("check_fast_interval") {
        None => check_interval,
        Some(_) => {
            let fast = fields.seconds("check_fast_interval")?;
            if fast > check_interval {
                return Err(fields.error(
                    "check_fast_interval",
                    format!("must not be above check_interval ({}s)", check_interval.as_secs_f64()),
                ));
            }
            fast
        }
    };
    let damping = if fields.boolean("damping")? { Some(damping_settings(fields)?) } else { None };
    let check_degraded_exit_codes = exit_codes(fields, "check_degraded_exit_codes")?;
    let drain_seconds = match parse_float(fields.string("drain_seconds")?) {
        Some(seconds) if seconds.is_finite() && (0.0..=super::value::MAX_SECONDS).contains(&seconds) => {
            Duration::from_secs_f64(seconds)
        }
        _ => return Err(fields.error("drain_seconds", "must be a number of seconds, 0 or more")),
    };
    let mut maintenance_files = Vec::new();
    if let Some(path) = fields.optional_string("maintenance_file") {
        if path.is_empty() {
            return Err(fields.error("maintenance_file", "is empty: name a file (it need not exist)"));
        }
        let path = super::daemon::absolute(Path::new(path))
            .map_err(|err| fields.error("maintenance_file", format!("cannot be made absolute: {err}")))?;
        maintenance_files.push(path);
    }
    if let Some(global) = &enabled.maintenance_file {
        if !maintenance_files.contains(global) {
            maintenance_files.push(global.clone());
        }
    }
    let on_exit = match fields.string("on_exit")? {
        "keep" => OnExit::Keep,
        "withdraw" => OnExit::Withdraw,
        "advertise" => OnExit::Advertise,
        "drain" => OnExit::Drain,
        _ => return Err(fields.error("on_exit", "must be 'keep', 'withdraw', 'advertise' or 'drain'")),
    };
    Ok(Service {
        name: fields.section().to_string(),
        check,
        check_interval,
        check_timeout,
        check_rise,
        check_fail,
        check_disabled,
        on_disabled,
        ip_prefixes,
        interface,
        ip_check_disabled,
        custom_bird_reconfigure_cmd,
        custom_bird_reconfigure_cmd_timeout,
        on_exit,
        check_fast_interval,
        damping,
        maintenance_files,
        check_degraded_exit_codes,
        drain_seconds,
        log_each_check: enabled.log_each_check,
    })
}

/// The service's one check: `check_cmd` or one native probe, never two.
fn check(fields: &Fields, programs: Programs, warnings: &mut Vec<String>) -> Result<Check, ConfigError> {
    let set: Vec<&str> = std::iter::once("check_cmd")
        .chain(NATIVE_CHECKS.iter().map(|(key, _)| *key))
        .filter(|key| fields.get(key).is_some())
        .collect();
    if let [first, second, ..] = set[..] {
        return Err(
            fields.error(second, format!("and {first} are both set: a service has exactly one check"))
        );
    }
    // An option of another kind of check, set in this section, is a mistake; from
    // [DEFAULT] it is a default for the services that use that kind.
    for (kind, options) in NATIVE_CHECKS {
        for option in *options {
            let own = fields.get(option).is_some_and(|resolved| !resolved.inherited);
            if own && fields.get(kind).is_none() {
                return Err(fields.error(option, format!("is set but {kind} is not")));
            }
        }
    }
    match set.first().copied() {
        Some("check_tcp") => tcp_check(fields).map(Check::Tcp),
        Some("check_http") => http_check(fields, warnings).map(Check::Http),
        Some("check_dns") => dns_check(fields).map(Check::Dns),
        _ => {
            let argv = command(fields, "check_cmd", programs, warnings)?;
            shell_syntax_warning(fields, &argv, warnings);
            Ok(Check::Command(argv))
        }
    }
}

/// The native checks and the options that belong to each.
const NATIVE_CHECKS: &[(&str, &[&str])] = &[
    ("check_tcp", &["check_tcp_send", "check_tcp_expect"]),
    (
        "check_http",
        &[
            "check_http_method",
            "check_http_status",
            "check_http_body",
            "check_http_host",
            "check_http_follow",
            "check_tls_ca_file",
            "check_tls_verify",
            "check_tls_min_days",
        ],
    ),
    ("check_dns", &["check_dns_rcode", "check_dns_expect"]),
];

fn tcp_check(fields: &Fields) -> Result<TcpCheck, ConfigError> {
    let target = parse_target(fields.string("check_tcp")?).map_err(|why| fields.error("check_tcp", why))?;
    let send = fields.optional_string("check_tcp_send").map(String::from);
    let expect = fields.optional_string("check_tcp_expect").map(String::from);
    if expect.as_deref() == Some("") {
        return Err(fields.error("check_tcp_expect", "is empty: leave it out to only connect"));
    }
    Ok(TcpCheck { target, send, expect })
}

fn http_check(fields: &Fields, warnings: &mut Vec<String>) -> Result<HttpCheck, ConfigError> {
    let url = Url::parse(fields.string("check_http")?).map_err(|why| fields.error("check_http", why))?;
    let method = match fields.optional_string("check_http_method") {
        Some(text) => Method::parse(text).map_err(|why| fields.error("check_http_method", why))?,
        None => Method::Get,
    };
    let status = match fields.optional_string("check_http_status") {
        Some(text) => StatusSet::parse(text).map_err(|why| fields.error("check_http_status", why))?,
        None => StatusSet::default(),
    };
    let body = fields.optional_string("check_http_body").map(String::from);
    if body.as_deref() == Some("") {
        return Err(fields.error("check_http_body", "is empty: leave it out to check the status only"));
    }
    if body.is_some() && method == Method::Head {
        return Err(fields.error("check_http_body", "is set but a HEAD response has no body"));
    }
    let host = fields.optional_string("check_http_host").map(String::from);
    let host_name =
        |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_graphic() && b != b'/' && b != b'@');
    if host.as_deref().is_some_and(|text| !host_name(text)) {
        return Err(fields.error("check_http_host", "is not a host name (with an optional :PORT)"));
    }
    let follow = fields.optional_boolean("check_http_follow")?.unwrap_or(false);
    let verify = fields.optional_boolean("check_tls_verify")?.unwrap_or(true);
    let min_days = match fields.get("check_tls_min_days") {
        Some(_) => Some(fields.integer("check_tls_min_days", 0, 3650)? as u32),
        None => None,
    };
    let ca_file = fields.optional_string("check_tls_ca_file").map(PathBuf::from);
    let tls_keys = ["check_tls_ca_file", "check_tls_verify", "check_tls_min_days"];
    if !url.https && !follow {
        if let Some(key) = tls_keys.into_iter().find(|key| fields.get(key).is_some_and(|r| !r.inherited)) {
            return Err(fields.error(key, "is set but check_http is not an https:// URL"));
        }
    }
    if ca_file.is_some() && !verify {
        return Err(fields.error("check_tls_ca_file", "is set but check_tls_verify = false trusts anything"));
    }
    let trust = match (ca_file, verify) {
        (_, false) => {
            warnings.push(format!(
                "[{}] check_tls_verify = false: any certificate is accepted for {url}",
                fields.section()
            ));
            Trust::Anything
        }
        (Some(path), true) => {
            let certificates = read_ca_file(&path).map_err(|why| fields.error("check_tls_ca_file", why))?;
            Trust::CaFile { path, certificates }
        }
        (None, true) => Trust::System,
    };
    let tls = if url.https || follow {
        let key = if fields.get("check_tls_ca_file").is_some() { "check_tls_ca_file" } else { "check_http" };
        Some(Tls::new(trust, min_days).map_err(|why| fields.error(key, why))?)
    } else {
        None
    };
    Ok(HttpCheck { url, method, status, body, host, follow, tls })
}

fn dns_check(fields: &Fields) -> Result<DnsCheck, ConfigError> {
    let (server, name, record_type) =
        dns::parse_spec(fields.string("check_dns")?).map_err(|why| fields.error("check_dns", why))?;
    let rcodes = match fields.optional_string("check_dns_rcode") {
        Some(text) => {
            let codes = list(text).map(Rcode::parse).collect::<Result<Vec<_>, _>>();
            let codes = codes.map_err(|why| fields.error("check_dns_rcode", why))?;
            if codes.is_empty() {
                return Err(fields.error("check_dns_rcode", "is empty: give RCODEs such as NOERROR"));
            }
            codes
        }
        None => vec![Rcode::NOERROR],
    };
    let expect: Vec<String> = fields
        .optional_string("check_dns_expect")
        .map_or_else(Vec::new, |text| list(text).map(String::from).collect());
    Ok(DnsCheck { server, name, record_type, rcodes, expect })
}

/// Items separated by commas or whitespace.
fn list(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| c == ',' || c.is_whitespace()).filter(|item| !item.is_empty())
}

/// Exit codes separated by commas or spaces, 1 to 255 (0 is success); may be empty.
fn exit_codes(fields: &Fields, key: &str) -> Result<Vec<i32>, ConfigError> {
    let mut codes = Vec::new();
    for word in fields.string(key)?.split(|c: char| c == ',' || c.is_whitespace()).filter(|w| !w.is_empty()) {
        match word.parse::<i32>() {
            Ok(code) if (1..=255).contains(&code) => codes.push(code),
            _ => return Err(fields.error(key, format!("{word:?} is not an exit code from 1 to 255"))),
        }
    }
    Ok(codes)
}

/// The damping keys: `damping_suppress` above `damping_reuse` above 0.
fn damping_settings(fields: &Fields) -> Result<DampingSettings, ConfigError> {
    let number = |key: &str| -> Result<f64, ConfigError> {
        parse_float(fields.string(key)?)
            .filter(|n| n.is_finite() && *n > 0.0)
            .ok_or_else(|| fields.error(key, "must be a number above 0"))
    };
    let (suppress, reuse) = (number("damping_suppress")?, number("damping_reuse")?);
    if reuse >= suppress {
        return Err(fields.error("damping_reuse", format!("must be below damping_suppress ({suppress})")));
    }
    Ok(DampingSettings {
        half_life: fields.seconds("damping_half_life")?,
        suppress,
        reuse,
        max_hold: fields.seconds("damping_max_hold")?,
    })
}

/// A command line that splits, whose program exists and is executable. Checked without
/// running it: `-c` must have no side effects.
pub fn command(
    fields: &Fields,
    key: &str,
    programs: Programs,
    warnings: &mut Vec<String>,
) -> Result<Argv, ConfigError> {
    let argv = Argv::parse(fields.string(key)?).map_err(|err| fields.error(key, err.to_string()))?;
    if let Err(why) = find_program(argv.program()) {
        match programs {
            Programs::MustExist => return Err(fields.error(key, why)),
            Programs::MayBeMissing => warnings.push(
                fields.error(key, format!("{why}; what runs it fails until the program appears")).to_string(),
            ),
        }
    }
    Ok(argv)
}

/// Shell operators a command passed to no shell takes as literal arguments: `a | b`
/// runs `a` with the arguments `|` and `b`.
const SHELL_OPERATORS: [&str; 10] = ["|", "||", "&&", ";", ">", ">>", "<", "2>", "2>&1", "&"];

/// Warns when `check_cmd` looks like shell syntax but runs without a shell.
fn shell_syntax_warning(fields: &Fields, argv: &Argv, warnings: &mut Vec<String>) {
    let program = argv.program().rsplit('/').next().unwrap_or_default();
    if matches!(program, "sh" | "bash" | "dash" | "zsh" | "ksh" | "busybox" | "env") {
        return;
    }
    let operator = argv
        .args()
        .iter()
        .find(|word| SHELL_OPERATORS.contains(&word.as_str()) || word.contains("$(") || word.contains('`'));
    if let Some(operator) = operator {
        warnings.push(
            fields
                .error(
                    "check_cmd",
                    format!(
                        "{operator:?} is passed to {} as a literal argument: commands run without a \
                         shell; use /bin/sh -c '...' for shell syntax",
                        argv.program()
                    ),
                )
                .to_string(),
        );
    }
}

fn count(fields: &Fields, key: &str) -> Result<u32, ConfigError> {
    let number = fields.integer(key, 1, i64::from(u32::MAX))?;
    Ok(u32::try_from(number).unwrap_or(u32::MAX))
}

/// `ip_prefix`: one or more prefixes separated by commas or spaces.
/// A prefix written otherwise than the Bird file will have it (a netmask, a leading
/// zero, an address without a length) is said in `warnings`.
fn ip_prefixes(
    fields: &Fields,
    enabled: &EnabledVersions,
    warnings: &mut Vec<String>,
) -> Result<Vec<IpPrefix>, ConfigError> {
    let text = fields.string("ip_prefix")?;
    let mut prefixes: Vec<IpPrefix> = Vec::new();
    for word in text.split(|c: char| c == ',' || c.is_whitespace()).filter(|w| !w.is_empty()) {
        let prefix = parse_prefix(word).map_err(|why| fields.error("ip_prefix", why))?;
        let written = prefix.to_string();
        if word.contains('/') && written != word {
            let said = format!("{word} is written {written} in the Bird file (the same prefix)");
            warnings.push(fields.error("ip_prefix", said).to_string());
        }
        let version_on = match prefix.version() {
            IpVersion::V4 => enabled.ipv4,
            IpVersion::V6 => enabled.ipv6,
        };
        if !version_on {
            let flag = format!("ipv{}", prefix.version().number());
            return Err(fields.error(
                "ip_prefix",
                format!("{prefix} is an {} prefix but {flag} = false in [daemon]", prefix.version()),
            ));
        }
        if prefixes.contains(&prefix) {
            return Err(fields.error("ip_prefix", format!("{prefix} is listed twice")));
        }
        prefixes.push(prefix);
    }
    if prefixes.is_empty() {
        return Err(fields.error("ip_prefix", "names no prefix"));
    }
    Ok(prefixes)
}

/// A prefix, with an error that says what is wrong with `word`.
pub fn parse_prefix(word: &str) -> Result<IpPrefix, String> {
    word.parse().map_err(|err: PrefixError| format!("{word:?}: {err}"))
}

/// Linux interface names: 1 to 15 bytes, no '/', no white space, not `.` or `..`.
fn check_interface_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("is empty".into());
    }
    if name.len() > 15 {
        return Err("is longer than 15 bytes, the longest interface name Linux allows".into());
    }
    if name.contains('/') || name.contains(char::is_whitespace) || name == "." || name == ".." {
        return Err("is not a valid interface name".into());
    }
    Ok(())
}
