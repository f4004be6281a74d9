//! The systemd unit the daemon will run under, as far as it limits what checks and
//! reconfigure commands may do, held against a configuration: `-c` says before a
//! switch what the sandbox would break (sudo, `ip netns exec`, a flag file in `/tmp`,
//! a file written where the unit allows no writes) instead of the daemon failing
//! quietly at run time (Bird never reloaded, a check that can never pass).
//!
//! The unit is read from its files: the one systemd would load (an override in
//! `/etc/systemd/system` wins over the package's), then its drop-ins. Where the
//! installed unit is not this package's (the Python program's, before a switch) the
//! package's own unit is assumed, as it will be installed. With no systemd and no
//! such unit (a test machine, a container) nothing is checked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Check, Config, Reconfigure};
use crate::sys::argv::Argv;

/// The unit the package installs.
pub const UNIT: &str = "anycast-healthchecker.service";

/// The package's unit, for a host where another one (the Python program's) is
/// installed now.
const SHIPPED_UNIT: &str = include_str!("../../packaging/rpm/anycast-healthchecker.service");

/// Where systemd looks for units, highest priority first (`$SYSTEMD_UNIT_PATH`
/// replaces it, as for systemd itself; a trailing `:` appends these).
const UNIT_PATH: [&str; 5] = [
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];

/// The options with which systemd sets no_new_privs for a service that runs as a user
/// (systemd.exec(5), NoNewPrivileges=): each uses seccomp or needs the flag.
const IMPLY_NO_NEW_PRIVILEGES: [&str; 16] = [
    "SystemCallFilter",
    "SystemCallArchitectures",
    "RestrictAddressFamilies",
    "RestrictNamespaces",
    "RestrictRealtime",
    "RestrictSUIDSGID",
    "LockPersonality",
    "MemoryDenyWriteExecute",
    "PrivateDevices",
    "ProtectKernelTunables",
    "ProtectKernelModules",
    "ProtectKernelLogs",
    "ProtectClock",
    "ProtectHostname",
    "RestrictFileSystems",
    "DynamicUser",
];

/// Programs that gain privileges by their setuid bit, known by name too (a host that
/// checks a config before installing them).
const PRIVILEGED_PROGRAMS: [&str; 5] = ["sudo", "su", "doas", "pkexec", "run0"];

/// What the unit allows, from its `[Service]` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Sandbox {
    /// The files the settings came from, for messages.
    pub files: Vec<PathBuf>,
    pub user: Option<String>,
    pub no_new_privileges: bool,
    /// The options in force that make systemd set no_new_privs for a service that
    /// runs as a user, as `NoNewPrivileges=yes` does (they use seccomp).
    pub implying_no_new_privileges: Vec<String>,
    pub capabilities: Capabilities,
    /// `SystemCallFilter=` takes away setuid() and friends (`~@privileged`, `~@setuid`).
    pub setuid_calls_blocked: bool,
    /// `RestrictNamespaces=` keeps the daemon from entering a network namespace.
    pub namespaces_restricted: bool,
    pub private_tmp: bool,
    pub protect_system: ProtectSystem,
    /// `ReadWritePaths=`, the exceptions to `ProtectSystem=`.
    pub read_write: Vec<PathBuf>,
    /// `ProtectHome=yes` or `tmpfs`: /home, /root and /run/user are out of sight.
    pub home_hidden: bool,
}

/// The capability bounding set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Capabilities {
    AllBut(Vec<String>),
    Only(Vec<String>),
}

impl Capabilities {
    /// One `CapabilityBoundingSet=` line, as systemd merges it: an empty list (`""`,
    /// `"~"`) or a set still at its initial "all" is replaced; otherwise a list adds
    /// to the set, and a `~list` takes from it.
    fn assign(&self, value: &str) -> Capabilities {
        let (invert, list) = match value.strip_prefix('~') {
            Some(rest) => (true, rest),
            None => (false, value),
        };
        let list: Vec<String> = list.split_whitespace().map(str::to_string).collect();
        let untouched = *self == Capabilities::AllBut(Vec::new());
        if list.is_empty() || untouched {
            return if invert { Capabilities::AllBut(list) } else { Capabilities::Only(list) };
        }
        let without = |set: &[String]| set.iter().filter(|c| !list.contains(c)).cloned().collect::<Vec<_>>();
        let with = |set: &[String]| set.iter().cloned().chain(list.iter().cloned()).collect::<Vec<_>>();
        match (self, invert) {
            (Capabilities::Only(kept), true) => Capabilities::Only(without(kept)),
            (Capabilities::Only(kept), false) => Capabilities::Only(with(kept)),
            (Capabilities::AllBut(removed), true) => Capabilities::AllBut(with(removed)),
            (Capabilities::AllBut(removed), false) => Capabilities::AllBut(without(removed)),
        }
    }

    fn has(&self, name: &str) -> bool {
        match self {
            Capabilities::AllBut(removed) => !removed.iter().any(|c| c == name),
            Capabilities::Only(kept) => kept.iter().any(|c| c == name),
        }
    }
}

/// `ProtectSystem=`: what is read-only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtectSystem {
    No,
    /// /usr and the boot loader.
    Yes,
    /// Also /etc.
    Full,
    /// Everything but /dev, /proc, /sys and `ReadWritePaths=`.
    Strict,
}

/// The unit this host would run the daemon under, with what is worth saying about how
/// it was found.
#[derive(Debug)]
pub struct Installed {
    pub sandbox: Sandbox,
    pub notes: Vec<String>,
}

/// Something in the configuration the unit's sandbox breaks, or may break.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub section: String,
    pub key: String,
    pub message: String,
    /// It cannot work under the unit (an error for `-c`); else it may not (a warning).
    pub breaks: bool,
}

/// What a command's word names on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Program {
    /// A program that gains privileges (setuid or setgid, or known as such).
    Privileged(String),
    Other,
}

/// The unit on this host, or None when the daemon would not run under systemd here.
pub fn installed() -> Option<Installed> {
    let search = unit_path()?;
    // Every copy of the unit, highest first: the first is what systemd loads. One file
    // seen through two directories (Debian's /lib is /usr/lib) is one copy.
    let mut copies: Vec<PathBuf> = Vec::new();
    let mut seen: Vec<PathBuf> = Vec::new();
    for path in search.iter().map(|dir| dir.join(UNIT)).filter(|path| path.symlink_metadata().is_ok()) {
        let real = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if !seen.contains(&real) {
            seen.push(real);
            copies.push(path);
        }
    }
    let main = copies.first()?.clone();
    let mut notes = Vec::new();
    if std::fs::read_link(&main).is_ok_and(|target| target == Path::new("/dev/null")) {
        notes.push(format!("{UNIT} is masked ({} links to /dev/null): it will not start", main.display()));
        return Some(Installed { sandbox: Sandbox::unconfined(), notes });
    }
    let text = std::fs::read_to_string(&main).unwrap_or_default();
    let ours = is_ours(&text);
    let mut files = Vec::new();
    if let Some(package) = copies.get(1) {
        // An override (/etc/systemd/system): it is what runs, whoever wrote it.
        let why = if ours { "" } else { " and was written for another program (no Type=notify)" };
        notes.push(format!(
            "{} overrides the package's {}{why}: systemd runs it instead; if it is the old program's, \
             remove it (systemctl revert anycast-healthchecker)",
            main.display(),
            package.display()
        ));
        files.push((main, text));
    } else if ours {
        files.push((main, text));
    } else {
        notes.push(format!(
            "{} is not this package's unit (the Python program's?): the package's own, checked here, \
             replaces it on install",
            main.display()
        ));
        files.push((PathBuf::from(format!("the package's {UNIT}")), SHIPPED_UNIT.to_string()));
    }
    files.extend(drop_ins(&search));
    let sandbox = Sandbox::from_files(&files);
    Some(Installed { sandbox, notes })
}

/// `$SYSTEMD_UNIT_PATH`, or systemd's own path when systemd runs this host.
fn unit_path() -> Option<Vec<PathBuf>> {
    let defaults = || UNIT_PATH.iter().map(PathBuf::from);
    match std::env::var("SYSTEMD_UNIT_PATH") {
        Ok(path) => {
            let mut dirs: Vec<PathBuf> =
                path.split(':').filter(|d| !d.is_empty()).map(PathBuf::from).collect();
            if path.ends_with(':') {
                dirs.extend(defaults());
            }
            Some(dirs)
        }
        Err(_) => Path::new("/run/systemd/system").is_dir().then(|| defaults().collect()),
    }
}

/// The unit's drop-ins (`NAME.d/*.conf` in every directory), in the order systemd
/// applies them: by file name, a name in a higher directory hiding the same name lower.
fn drop_ins(search: &[PathBuf]) -> Vec<(PathBuf, String)> {
    let mut by_name: BTreeMap<String, PathBuf> = BTreeMap::new();
    for dir in search.iter().rev() {
        let Ok(entries) = std::fs::read_dir(dir.join(format!("{UNIT}.d"))) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".conf") {
                by_name.insert(name, entry.path());
            }
        }
    }
    by_name
        .into_values()
        .filter_map(|path| Some((path.clone(), std::fs::read_to_string(&path).ok()?)))
        .collect()
}

/// This package's unit is `Type=notify`; the Python program's is `Type=simple`.
fn is_ours(text: &str) -> bool {
    settings(text).iter().any(|(key, value)| key == "Type" && value == "notify")
}

/// The `[Service]` settings of a unit file, in order: `Key=value`, comments and
/// continued lines (a trailing backslash) taken care of.
fn settings(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut pending = String::new();
    for raw in text.lines() {
        let line = raw.trim();
        if pending.is_empty() && (line.starts_with('#') || line.starts_with(';')) {
            continue;
        }
        if let Some(continued) = line.strip_suffix('\\') {
            pending.push_str(continued);
            pending.push(' ');
            continue;
        }
        let line = std::mem::take(&mut pending) + line;
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
        } else if section == "Service" {
            if let Some((key, value)) = line.split_once('=') {
                out.push((key.trim().to_string(), value.trim().to_string()));
            }
        }
    }
    out
}

fn boolean(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => Some(true),
        "0" | "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

impl Sandbox {
    /// A unit that limits nothing.
    fn unconfined() -> Sandbox {
        Sandbox {
            files: Vec::new(),
            user: None,
            no_new_privileges: false,
            implying_no_new_privileges: Vec::new(),
            capabilities: Capabilities::AllBut(Vec::new()),
            setuid_calls_blocked: false,
            namespaces_restricted: false,
            private_tmp: false,
            protect_system: ProtectSystem::No,
            read_write: Vec::new(),
            home_hidden: false,
        }
    }

    /// The unit file and its drop-ins, applied in order (a later setting wins; an empty
    /// list setting resets the list), as systemd reads them.
    pub fn from_files(files: &[(PathBuf, String)]) -> Sandbox {
        let mut sandbox = Sandbox::unconfined();
        for (path, text) in files {
            sandbox.files.push(path.clone());
            for (key, value) in settings(text) {
                sandbox.apply(&key, &value);
            }
        }
        sandbox
    }

    fn apply(&mut self, key: &str, value: &str) {
        if IMPLY_NO_NEW_PRIVILEGES.contains(&key) {
            let in_force = match boolean(value) {
                Some(on) => on,
                // A list (or a mode such as RestrictNamespaces=net): in force unless empty.
                None => !value.is_empty(),
            };
            self.implying_no_new_privileges.retain(|k| k != key);
            if in_force {
                self.implying_no_new_privileges.push(key.to_string());
            }
        }
        let words = || value.split_whitespace().map(str::to_string);
        match key {
            "User" => self.user = (!value.is_empty()).then(|| value.to_string()),
            "NoNewPrivileges" => self.no_new_privileges = boolean(value).unwrap_or(false),
            "PrivateTmp" => self.private_tmp = boolean(value).unwrap_or(false),
            "ProtectHome" => {
                self.home_hidden = boolean(value).unwrap_or(false) || value.eq_ignore_ascii_case("tmpfs")
            }
            "ProtectSystem" => {
                self.protect_system = match (value.to_ascii_lowercase().as_str(), boolean(value)) {
                    ("strict", _) => ProtectSystem::Strict,
                    ("full", _) => ProtectSystem::Full,
                    (_, Some(true)) => ProtectSystem::Yes,
                    _ => ProtectSystem::No,
                }
            }
            "ReadWritePaths" if value.is_empty() => self.read_write.clear(),
            "ReadWritePaths" => {
                self.read_write.extend(words().map(|w| PathBuf::from(w.trim_start_matches(['-', '+']))))
            }
            "CapabilityBoundingSet" => self.capabilities = self.capabilities.assign(value),
            "SystemCallFilter" if value.is_empty() => self.setuid_calls_blocked = false,
            "SystemCallFilter" => {
                if let Some(denied) = value.strip_prefix('~') {
                    self.setuid_calls_blocked |= denied
                        .split_whitespace()
                        .any(|group| matches!(group, "@privileged" | "@setuid" | "setuid" | "setresuid"));
                }
            }
            "RestrictNamespaces" => {
                self.namespaces_restricted = match (value.strip_prefix('~'), boolean(value)) {
                    (_, Some(restricted)) => restricted,
                    (Some(denied), None) => denied.split_whitespace().any(|t| t == "net" || t == "mnt"),
                    (None, None) => {
                        !(value.split_whitespace().any(|t| t == "net")
                            && value.split_whitespace().any(|t| t == "mnt"))
                    }
                }
            }
            _ => {}
        }
    }

    /// Runs the daemon as root (no `User=`, or `User=root`).
    fn as_root(&self) -> bool {
        self.user.as_deref().map_or(true, |user| user == "root" || user == "0")
    }

    /// Why a setuid program run by the daemon gains nothing, if it does not.
    fn setuid_blocked_by(&self) -> Option<String> {
        if self.as_root() {
            return None;
        }
        if self.no_new_privileges {
            Some("NoNewPrivileges=yes".to_string())
        } else if let Some(key) = self.implying_no_new_privileges.first() {
            Some(format!("{key}= (which, for a unit with User=, implies NoNewPrivileges=yes)"))
        } else if !self.capabilities.has("CAP_SETUID") {
            Some("a CapabilityBoundingSet= without CAP_SETUID".to_string())
        } else if self.setuid_calls_blocked {
            Some("a SystemCallFilter= without @privileged".to_string())
        } else {
            None
        }
    }

    /// Why entering another network namespace fails, if it does.
    fn namespaces_blocked_by(&self) -> Option<&'static str> {
        if self.namespaces_restricted {
            Some("RestrictNamespaces=yes")
        } else if !self.as_root() || !self.capabilities.has("CAP_SYS_ADMIN") {
            Some("no CAP_SYS_ADMIN for its user")
        } else {
            None
        }
    }

    /// Why the daemon could not write `path`, if it could not.
    fn unwritable_because(&self, path: &Path) -> Option<String> {
        if self.home_hidden && is_home(path) {
            return Some("ProtectHome=yes hides it".into());
        }
        let under = |dirs: &[&str]| dirs.iter().any(|dir| path.starts_with(dir));
        let read_only = match self.protect_system {
            ProtectSystem::No => false,
            ProtectSystem::Yes => under(&["/usr", "/boot", "/efi"]),
            ProtectSystem::Full => under(&["/usr", "/boot", "/efi", "/etc"]),
            ProtectSystem::Strict => !under(&["/dev", "/proc", "/sys"]),
        };
        if !read_only || self.read_write.iter().any(|dir| path.starts_with(dir)) {
            return None;
        }
        let writable: Vec<String> = self.read_write.iter().map(|d| d.display().to_string()).collect();
        let setting = match self.protect_system {
            ProtectSystem::Strict => "ProtectSystem=strict",
            ProtectSystem::Full => "ProtectSystem=full",
            _ => "ProtectSystem=yes",
        };
        Some(format!("{setting} makes it read-only (writable: {})", writable.join(", ")))
    }
}

/// `path` with its directory's symbolic links resolved (the file itself may not exist).
fn real_path(path: &Path) -> PathBuf {
    let real_dir = path.parent().and_then(|dir| std::fs::canonicalize(dir).ok());
    match (real_dir, path.file_name()) {
        (Some(dir), Some(name)) => dir.join(name),
        _ => path.to_path_buf(),
    }
}

fn is_home(path: &Path) -> bool {
    ["/home", "/root", "/run/user"].iter().any(|dir| path.starts_with(dir))
}

fn is_tmp(word: &str) -> bool {
    let path = word.rsplit_once('=').map_or(word, |(_, value)| value);
    path.starts_with("/tmp/") || path.starts_with("/var/tmp/") || path == "/tmp" || path == "/var/tmp"
}

/// Every word a command runs with: its own, and a shell script's (`sh -c '...'`).
fn words(argv: &Argv) -> Vec<String> {
    let mut words: Vec<String> =
        std::iter::once(argv.program().to_string()).chain(argv.args().iter().cloned()).collect();
    let shell = matches!(argv.program().rsplit('/').next(), Some("sh" | "bash" | "dash" | "zsh" | "ksh"));
    if shell {
        if let Some(script) =
            argv.args().iter().skip_while(|a| !a.starts_with('-') || !a.contains('c')).nth(1)
        {
            let separated = script.replace([';', '|', '&', '(', ')', '`', '\n'], " ");
            if let Ok(inner) = Argv::parse(&separated) {
                words.push(inner.program().to_string());
                words.extend(inner.args().iter().cloned());
            }
        }
    }
    words
}

/// Whether the words enter another network namespace: `ip netns exec`, `ip -n NAME`,
/// `ip vrf exec`, `nsenter`, `unshare`.
fn enters_namespace(words: &[String]) -> Option<String> {
    let base = |w: &String| w.rsplit('/').next().unwrap_or_default().to_string();
    for (i, word) in words.iter().enumerate() {
        match base(word).as_str() {
            "nsenter" | "unshare" => return Some(base(word)),
            "ip" => {
                let rest: Vec<&str> = words[i + 1..].iter().map(String::as_str).collect();
                if rest.windows(2).any(|w| w == ["netns", "exec"] || w == ["vrf", "exec"])
                    || rest.first().is_some_and(|w| *w == "-n" || *w == "-netns")
                {
                    return Some(format!(
                        "ip {}",
                        rest.iter().take(2).copied().collect::<Vec<_>>().join(" ")
                    ));
                }
            }
            _ => {}
        }
    }
    None
}

/// What of `config` the sandbox breaks. `inspect` says what a command's word names.
pub fn findings(config: &Config, sandbox: &Sandbox, inspect: &dyn Fn(&str) -> Program) -> Vec<Finding> {
    let unit = sandbox.files.first().map_or_else(|| UNIT.to_string(), |f| f.display().to_string());
    let mut found = Vec::new();
    let mut push = |section: &str, key: &str, message: String, breaks: bool| {
        found.push(Finding { section: section.into(), key: key.into(), message, breaks });
    };
    // Commands: (section, key, argv, what fails if it cannot run).
    let mut commands: Vec<(&str, &str, &Argv, &str)> = Vec::new();
    for bird in &config.daemon.bird {
        if let Reconfigure::Command(argv) = &bird.reconfigure {
            let key =
                if bird.version.number() == 4 { "bird_reconfigure_cmd" } else { "bird6_reconfigure_cmd" };
            commands.push(("daemon", key, argv, "Bird would never be reconfigured (its routes frozen)"));
        }
    }
    for service in &config.services {
        if let Check::Command(argv) = &service.check {
            commands.push((
                &service.name,
                "check_cmd",
                argv,
                "the check could never pass (its prefixes withdrawn)",
            ));
        }
        if let Some(custom) = &service.custom_bird_reconfigure_cmd {
            commands.push((
                &service.name,
                "custom_bird_reconfigure_cmd",
                custom,
                "Bird would never be reconfigured for it",
            ));
        }
    }
    for (section, key, argv, consequence) in commands {
        let words = words(argv);
        if let Some(blocked_by) = sandbox.setuid_blocked_by() {
            let privileged = words.iter().find_map(|w| match inspect(w) {
                Program::Privileged(name) => Some(name),
                Program::Other => None,
            });
            if let Some(name) = privileged {
                let fix = if key.contains("reconfigure") && !key.starts_with("custom") {
                    "reload Bird over its control socket instead (bird_control_socket = /run/bird/bird.ctl: \
                     the daemon's user is in Bird's group), or relax the unit in a drop-in"
                } else {
                    "run the check without it, or relax the unit in a drop-in"
                };
                push(
                    section,
                    key,
                    format!(
                        "runs {name}, which gains privileges, but {unit} runs the daemon with {blocked_by}: {consequence}; \
                         {fix} (the examples' systemd/sudo.conf turns off what it must)"
                    ),
                    true,
                );
            }
        }
        if let (Some(how), Some(blocked_by)) = (enters_namespace(&words), sandbox.namespaces_blocked_by()) {
            push(
                section,
                key,
                format!(
                    "enters another network namespace ({how}), which {unit} does not allow ({blocked_by}): \
                     {consequence}; run a second daemon in that namespace instead (a copy of the unit with \
                     NetworkNamespacePath=/run/netns/NAME and its own instance_lock, pidfile and prefix files)"
                ),
                true,
            );
        }
        if sandbox.home_hidden {
            if let Some(home) = words.iter().find(|w| is_home(Path::new(w))) {
                push(
                    section,
                    key,
                    format!("names {home}, which {unit} hides (ProtectHome=yes): {consequence}; move it, or set ProtectHome=read-only in a drop-in"),
                    true,
                );
            }
        }
        if sandbox.private_tmp && is_tmp(argv.program()) {
            push(
                section,
                key,
                format!(
                    "runs a program in /tmp, and {unit} gives the daemon a /tmp of its own (PrivateTmp=yes): \
                     it would not be found; {consequence}; install it elsewhere (/usr/local/bin)"
                ),
                true,
            );
        } else if sandbox.private_tmp {
            if let Some(tmp) = words.iter().find(|w| is_tmp(w)) {
                push(
                    section,
                    key,
                    format!(
                        "names {tmp}, and {unit} gives the daemon a /tmp of its own (PrivateTmp=yes): a file \
                         another program makes there is never seen by it; use /run/anycast-healthchecker or \
                         /var/lib/anycast-healthchecker, or set PrivateTmp=no in a drop-in"
                    ),
                    false,
                );
            }
        }
    }
    // Files the daemon writes.
    let mut written: Vec<(&str, &str, &Path)> = Vec::new();
    for bird in &config.daemon.bird {
        let v6 = bird.version.number() == 6;
        written.push(("daemon", if v6 { "bird6_conf" } else { "bird_conf" }, &bird.conf));
        if let Some(degraded) = &bird.degraded_conf {
            written.push(("daemon", if v6 { "bird6_degraded_conf" } else { "bird_degraded_conf" }, degraded));
        }
    }
    written.push(("daemon", "pidfile", &config.daemon.pidfile));
    let log = &config.daemon.log;
    written.extend(log.file.as_deref().map(|f| ("daemon", "log_file", f)));
    written.extend(log.stderr_file.as_deref().map(|f| ("daemon", "stderr_file", f)));
    let prometheus = &config.daemon.prometheus;
    if prometheus.enabled {
        written.push(("daemon", "prometheus_collector_textfile_dir", &prometheus.textfile_dir));
    }
    for (section, key, path) in written {
        // The unit names real directories: /var/run/x is /run/x.
        let path = &real_path(path);
        if let Some(why) = sandbox.unwritable_because(path) {
            let dir = if key.ends_with("_dir") { path.as_path() } else { path.parent().unwrap_or(path) };
            push(
                section,
                key,
                format!(
                    "{} cannot be written under {unit}: {why}; add ReadWritePaths={} in a drop-in",
                    path.display(),
                    dir.display()
                ),
                true,
            );
        }
    }
    // Maintenance files: one the daemon cannot see never takes effect.
    let mut maintenance: Vec<(&str, &Path)> = Vec::new();
    maintenance.extend(config.daemon.maintenance_file.as_deref().map(|f| ("daemon", f)));
    for service in &config.services {
        // The daemon-level file is in every service's list too; said once.
        for file in service
            .maintenance_files
            .iter()
            .filter(|f| Some(f.as_path()) != config.daemon.maintenance_file.as_deref())
        {
            maintenance.push((&service.name, file));
        }
    }
    for (section, file) in maintenance {
        let hidden = if sandbox.private_tmp && is_tmp(&file.display().to_string()) {
            Some("PrivateTmp=yes gives the daemon a /tmp of its own")
        } else if sandbox.home_hidden && is_home(file) {
            Some("ProtectHome=yes hides it")
        } else {
            None
        };
        if let Some(why) = hidden {
            push(
                section,
                "maintenance_file",
                format!(
                    "{} would never be seen under {unit} ({why}): a maintenance would never take effect; \
                     use /run/anycast-healthchecker/",
                    file.display()
                ),
                true,
            );
        }
    }
    found
}

/// What `word` names on this host: a privileged program if it is one of the known
/// names or, found as a program, has its setuid or setgid bit.
pub fn inspect(word: &str) -> Program {
    use std::os::unix::fs::PermissionsExt;
    let name = word.rsplit('/').next().unwrap_or(word);
    if PRIVILEGED_PROGRAMS.contains(&name) {
        return Program::Privileged(name.to_string());
    }
    let looks_like_program = !word.is_empty() && !word.starts_with('-') && !word.contains('=');
    let setuid = looks_like_program
        && crate::sys::argv::find_program(word)
            .ok()
            .and_then(|path| std::fs::metadata(path).ok())
            .is_some_and(|meta| meta.permissions().mode() & 0o6000 != 0);
    if setuid {
        Program::Privileged(word.to_string())
    } else {
        Program::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> Sandbox {
        Sandbox::from_files(&[(PathBuf::from("unit"), SHIPPED_UNIT.to_string())])
    }

    #[test]
    fn the_shipped_unit_reads_as_its_sandbox() {
        let sandbox = shipped();
        assert_eq!(sandbox.user.as_deref(), Some("healthchecker"));
        assert!(sandbox.no_new_privileges && sandbox.private_tmp && sandbox.home_hidden);
        assert!(sandbox.namespaces_restricted && sandbox.setuid_calls_blocked);
        assert_eq!(sandbox.capabilities, Capabilities::Only(Vec::new()));
        assert_eq!(sandbox.protect_system, ProtectSystem::Strict);
        let rw: Vec<&str> = sandbox.read_write.iter().filter_map(|p| p.to_str()).collect();
        assert_eq!(
            rw,
            [
                "/var/lib/anycast-healthchecker",
                "/run/anycast-healthchecker",
                "/var/log/anycast-healthchecker",
                "/var/cache/textfile_collector"
            ]
        );
    }

    #[test]
    fn drop_ins_apply_in_order_and_reset_lists() {
        // NoNewPrivileges=no alone: the seccomp options still imply it for a user's unit.
        let half = "[Service]\nNoNewPrivileges=no\nCapabilityBoundingSet=~\nSystemCallFilter=\n";
        let sandbox = Sandbox::from_files(&[
            (PathBuf::from("unit"), SHIPPED_UNIT.to_string()),
            (PathBuf::from("half.conf"), half.to_string()),
        ]);
        let blocked = sandbox.setuid_blocked_by().unwrap_or_default();
        assert!(
            blocked.contains("implies NoNewPrivileges=yes") && !blocked.starts_with("SystemCallFilter"),
            "{blocked}"
        );
        // The shipped sudo drop-in turns off all of it.
        let sudo = include_str!("../../packaging/systemd/sudo.conf");
        let files = [
            (PathBuf::from("unit"), SHIPPED_UNIT.to_string()),
            (PathBuf::from("sudo.conf"), sudo.to_string()),
        ];
        let sandbox = Sandbox::from_files(&files);
        assert!(!sandbox.no_new_privileges && !sandbox.setuid_calls_blocked);
        assert!(sandbox.capabilities.has("CAP_SETUID"), "{:?}", sandbox.capabilities);
        assert_eq!(sandbox.setuid_blocked_by(), None, "{:?}", sandbox.implying_no_new_privileges);
        assert!(sandbox.read_write.contains(&PathBuf::from("/run/sudo")));
        let reset = "[Service]\nReadWritePaths=\nReadWritePaths=/srv\nCapabilityBoundingSet=CAP_NET_RAW\n";
        let sandbox = Sandbox::from_files(&[
            (PathBuf::from("unit"), SHIPPED_UNIT.to_string()),
            (PathBuf::from("x.conf"), reset.to_string()),
        ]);
        assert_eq!(sandbox.read_write, [PathBuf::from("/srv")]);
        assert_eq!(sandbox.capabilities, Capabilities::Only(vec!["CAP_NET_RAW".to_string()]));
        // Continued lines and comments, as systemd reads them.
        let continued =
            "[Unit]\nNoNewPrivileges=yes\n[Service]\n# PrivateTmp=yes\nReadWritePaths=/a \\\n  /b\n";
        let sandbox = Sandbox::from_files(&[(PathBuf::from("u"), continued.to_string())]);
        assert!(!sandbox.no_new_privileges && !sandbox.private_tmp);
        assert_eq!(sandbox.read_write, [PathBuf::from("/a"), PathBuf::from("/b")]);
    }

    #[test]
    fn words_look_inside_shell_scripts_and_namespaces_are_found() {
        let argv =
            Argv::parse("/bin/sh -c 'sudo ip netns exec blue curl -sf http://x && test -e /tmp/up'").unwrap();
        let words = words(&argv);
        for word in ["sudo", "ip", "netns", "exec", "curl", "/tmp/up"] {
            assert!(words.iter().any(|w| w == word), "{word} in {words:?}");
        }
        assert_eq!(enters_namespace(&words).as_deref(), Some("ip netns exec"));
        let own = |line: &str| enters_namespace(&super::words(&Argv::parse(line).unwrap()));
        assert_eq!(own("ip -n blue link show").as_deref(), Some("ip -n blue"));
        assert_eq!(own("nsenter -t 1 -n true").as_deref(), Some("nsenter"));
        assert_eq!(own("ip addr show dev lo"), None);
        assert_eq!(own("/usr/bin/curl http://10.0.0.1/netns/exec"), None);
        assert!(
            is_tmp("/tmp/flag") && is_tmp("--file=/var/tmp/x") && !is_tmp("/tmpfoo") && !is_tmp("/run/tmp/x")
        );
    }

    /// What the shipped unit finds in a configuration: (section, key, breaks, words).
    fn found(daemon: &str, services: &str) -> Vec<(String, String, bool, String)> {
        // A writable directory of the test's (the unit's own do not exist here), and
        // `daemon`'s keys in place of these.
        let dir = tempfile::tempdir().expect("a temp dir");
        let (pidfile, conf) = (dir.path().join("a.pid"), dir.path().join("a.conf"));
        let base = [
            ("pidfile", pidfile.to_str().unwrap_or_default()),
            ("bird_conf", conf.to_str().unwrap_or_default()),
            ("bird_control_socket", "/run/bird/bird.ctl"),
        ];
        let set: Vec<&str> = daemon.lines().filter_map(|l| l.split('=').next()).map(str::trim).collect();
        let reconfigure_set = set.contains(&"bird_reconfigure_cmd");
        let kept = base
            .iter()
            .filter(|(key, _)| !(set.contains(key) || reconfigure_set && *key == "bird_control_socket"))
            .map(|(key, value)| format!("{key} = {value}\n"));
        let main = format!(
            "[daemon]\n{}{daemon}\n[DEFAULT]\ncheck_disabled = false\n{services}",
            kept.collect::<String>()
        );
        let loaded = crate::config::load_texts(&[(Path::new("m.conf"), &main)]).expect("a valid config");
        let privileged = |word: &str| match word {
            "sudo" | "/usr/local/bin/setuid-wrapper" => Program::Privileged(word.to_string()),
            _ => Program::Other,
        };
        let unit = [
            (PathBuf::from("unit"), SHIPPED_UNIT.to_string()),
            (PathBuf::from("test.conf"), format!("[Service]\nReadWritePaths={}\n", dir.path().display())),
        ];
        findings(&loaded.config, &Sandbox::from_files(&unit), &privileged)
            .into_iter()
            .map(|f| (f.section, f.key, f.breaks, f.message))
            .collect()
    }

    #[test]
    fn what_the_shipped_unit_breaks_in_a_configuration() {
        let service = |body: &str| format!("[web]\nip_prefix = 10.52.12.1\n{body}\n");
        // (daemon keys, service, the finding's section and key, breaks, words)
        let cases = [
            (
                "bird_reconfigure_cmd = /bin/sh -c 'sudo birdc configure'",
                service("check_cmd = /bin/true"),
                "daemon",
                "bird_reconfigure_cmd",
                true,
                "runs sudo, which gains privileges, but unit runs the daemon with NoNewPrivileges=yes: Bird would never",
            ),
            ("", service("check_cmd = /bin/sh -c 'sudo /usr/bin/true'"), "web", "check_cmd", true, "the check could never pass"),
            (
                "",
                service("check_cmd = /bin/sh -c 'ip netns exec blue curl -f http://x'"),
                "web",
                "check_cmd",
                true,
                "enters another network namespace (ip netns exec), which unit does not allow (RestrictNamespaces=yes)",
            ),
            ("", service("check_cmd = /bin/sh -c 'test -e /tmp/web-up'"), "web", "check_cmd", false, "PrivateTmp=yes"),
            ("", service("check_cmd = /bin/true\nmaintenance_file = /tmp/web.down"), "web", "maintenance_file", true, "never take effect"),
            ("maintenance_file = /tmp/all.down", service("check_cmd = /bin/true"), "daemon", "maintenance_file", true, "never be seen"),
            ("bird_conf = /etc/a.conf", service("check_cmd = /bin/true"), "daemon", "bird_conf", true, "add ReadWritePaths=/etc in a drop-in"),
            ("log_file = /var/log/ahc.log", service("check_cmd = /bin/true"), "daemon", "log_file", true, "ProtectSystem=strict"),
        ];
        for (daemon, services, section, key, breaks, words) in cases {
            let found = found(daemon, &services);
            assert_eq!(found.len(), 1, "{daemon} {services}: {found:#?}");
            let (got_section, got_key, got_breaks, message) = &found[0];
            assert_eq!(
                (got_section.as_str(), got_key.as_str(), *got_breaks),
                (section, key, breaks),
                "{message}"
            );
            assert!(message.contains(words), "{message}");
        }
        // Safe upstream-style configurations pass untouched.
        for (daemon, services) in [
            ("", service("check_cmd = /bin/sh -c 'curl -sf http://10.52.12.1/ && test -e /run/anycast-healthchecker/up'")),
            ("bird_reconfigure_cmd = /bin/true", service("check_cmd = /bin/true\nmaintenance_file = /run/anycast-healthchecker/web.down")),
            ("", service("check_cmd = /usr/bin/curl -sf --data tmp=/tmpx http://x/")),
        ] {
            assert_eq!(found(daemon, &services), [], "{daemon} {services}");
        }
    }

    #[test]
    fn writable_paths_follow_protect_system_and_read_write_paths() {
        let sandbox = shipped();
        assert_eq!(
            sandbox.unwritable_because(Path::new("/var/lib/anycast-healthchecker/anycast-prefixes.conf")),
            None
        );
        assert_eq!(sandbox.unwritable_because(Path::new("/run/anycast-healthchecker/x.pid")), None);
        let why = sandbox.unwritable_because(Path::new("/etc/bird/anycast-prefixes.conf")).unwrap();
        assert!(
            why.starts_with(
                "ProtectSystem=strict makes it read-only (writable: /var/lib/anycast-healthchecker, "
            ),
            "{why}"
        );
        assert!(sandbox.unwritable_because(Path::new("/home/ops/x.log")).unwrap().contains("ProtectHome"));
        let full = Sandbox { protect_system: ProtectSystem::Full, read_write: Vec::new(), ..shipped() };
        assert!(full.unwritable_because(Path::new("/etc/bird/x.conf")).is_some());
        assert_eq!(full.unwritable_because(Path::new("/srv/x.conf")), None);
    }
}
