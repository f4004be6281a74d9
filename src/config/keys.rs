//! Every configuration key we know, with its built-in default.
//!
//! The lists are in upstream's order, which `-p` prints; our extensions come last in
//! each section and default to upstream's behaviour.

/// A known key and its default (`None`: no default, the key is optional or required).
pub struct Key {
    pub name: &'static str,
    pub default: Option<&'static str>,
}

const fn key(name: &'static str, default: &'static str) -> Key {
    Key { name, default: Some(default) }
}

const fn no_default(name: &'static str) -> Key {
    Key { name, default: None }
}

/// Keys of a service section; their defaults live in `[DEFAULT]`.
pub const SERVICE_KEYS: &[Key] = &[
    key("interface", "lo"),
    key("check_interval", "10"),
    key("check_timeout", "2"),
    key("check_rise", "2"),
    key("check_fail", "2"),
    key("check_disabled", "true"),
    key("on_disabled", "withdraw"),
    key("ip_check_disabled", "false"),
    key("custom_bird_reconfigure_cmd_timeout", "2"),
    // Extension (upstream #27/#28): what happens to the prefixes when the daemon stops.
    key("on_exit", "keep"),
    // Extensions: flap damping (RFC 2439's idea for a service), off by default.
    key("damping", "false"),
    key("damping_half_life", "300"),
    key("damping_suppress", "3"),
    key("damping_reuse", "1"),
    key("damping_max_hold", "1800"),
    // Extension: the interval while a change is pending (default: check_interval).
    no_default("check_fast_interval"),
    // Extension: while this file exists, the service is withdrawn (maintenance).
    no_default("maintenance_file"),
    // Extensions: exit codes that mean "degraded" (advertised, less preferred), and
    // how long a drain keeps a prefix degraded before withdrawing it.
    key("check_degraded_exit_codes", ""),
    key("drain_seconds", "0"),
    no_default("check_cmd"),
    // Extension: a native TCP check instead of check_cmd.
    no_default("check_tcp"),
    no_default("check_tcp_send"),
    no_default("check_tcp_expect"),
    // Extension: a native HTTP(S) check (defaults in the code: GET, 200-399, verify).
    no_default("check_http"),
    no_default("check_http_method"),
    no_default("check_http_status"),
    no_default("check_http_body"),
    no_default("check_http_host"),
    no_default("check_http_follow"),
    no_default("check_tls_ca_file"),
    no_default("check_tls_verify"),
    no_default("check_tls_min_days"),
    // Extension: a native DNS check (defaults in the code: NOERROR).
    no_default("check_dns"),
    no_default("check_dns_rcode"),
    no_default("check_dns_expect"),
    no_default("ip_prefix"),
    no_default("custom_bird_reconfigure_cmd"),
];

/// Keys of the `[daemon]` section.
pub const DAEMON_KEYS: &[Key] = &[
    key("ipv4", "true"),
    key("ipv6", "false"),
    key("bird_conf", "/var/lib/anycast-healthchecker/anycast-prefixes.conf"),
    key("bird6_conf", "/var/lib/anycast-healthchecker/6/anycast-prefixes.conf"),
    key("bird_variable", "ACAST_PS_ADVERTISE"),
    key("bird6_variable", "ACAST6_PS_ADVERTISE"),
    key("bird_reconfigure_cmd", "sudo /usr/sbin/birdc configure"),
    key("bird6_reconfigure_cmd", "sudo /usr/sbin/birdc6 configure"),
    key("dummy_ip_prefix", "10.189.200.255/32"),
    key("dummy_ip6_prefix", "2001:db8::1/128"),
    key("bird_keep_changes", "false"),
    key("bird6_keep_changes", "false"),
    key("bird_changes_counter", "128"),
    key("bird6_changes_counter", "128"),
    key("purge_ip_prefixes", "false"),
    key("pidfile", "/var/run/anycast-healthchecker/anycast-healthchecker.pid"),
    key("loglevel", "debug"),
    key("log_server_port", "514"),
    key("json_stdout", "false"),
    key("json_log_file", "false"),
    key("json_log_server", "false"),
    key("log_maxbytes", "104857600"),
    key("log_backups", "8"),
    key("log_format_journalctl", "false"),
    key("prometheus_exporter", "false"),
    key("prometheus_collector_textfile_dir", "/var/cache/textfile_collector/"),
    key("prometheus_exporter_interval", "10"),
    // Extension: also log to the local syslog socket (/dev/log).
    key("log_syslog", "false"),
    // Extension: serve /metrics over HTTP on this address (ADDRESS:PORT).
    no_default("prometheus_listen"),
    // Extension: upstream's lines for every check (false: only events and transitions).
    key("log_each_check", "true"),
    // Extensions: the local syslog socket and facility (also the UDP server's
    // facility when set; upstream's UDP packets say user).
    key("log_syslog_facility", "daemon"),
    key("log_syslog_socket", "/dev/log"),
    // Extensions: log to journald over its native protocol (fields EVENT, SERVICE,
    // IP_PREFIX...), on this socket.
    key("log_journald", "false"),
    key("log_journald_socket", "/run/systemd/journal/socket"),
    // Extension: Bird behind its prefix file for this long is a CRITICAL event.
    key("bird_behind_critical_seconds", "60"),
    // Extension: upstream hard-codes 2 s for the daemon-level reconfigure command.
    key("bird_reconfigure_timeout", "2"),
    // Extension: upstream's one-instance lock, an abstract Unix socket, has a fixed name;
    // a second daemon in one network namespace (or a test) needs another.
    key("instance_lock", "anycast-healthchecker"),
    // Extensions: the names of the degraded sets (advertised, less preferred).
    no_default("bird_degraded_variable"),
    no_default("bird6_degraded_variable"),
    // Extensions: the degraded sets' own files (else they are in the prefix files).
    no_default("bird_degraded_conf"),
    no_default("bird6_degraded_conf"),
    // Extensions: reconfigure Bird over its control socket instead of a command.
    no_default("bird_control_socket"),
    no_default("bird6_control_socket"),
    // Extension: while this file exists, every service is withdrawn (maintenance).
    no_default("maintenance_file"),
    no_default("log_file"),
    no_default("stderr_file"),
    no_default("log_server"),
    no_default("stderr_log_server"),
    no_default("splay_startup"),
];

/// `[daemon]` keys that older upstream versions read and real files still carry:
/// accepted with a note that they do nothing, not flagged as typos.
pub const LEGACY_DAEMON_KEYS: &[&str] = &[
    "stdout_file",
    "json_logging",
    "http_server",
    "http_server_port",
    "http_server_protocol",
    "http_server_timeout",
    "keep_bird_changes",
    "changes_counter",
];

/// Service keys of older upstream versions (`on_disable` was a misspelt default).
pub const LEGACY_SERVICE_KEYS: &[&str] = &["on_disable"];

pub fn is_service_key(name: &str) -> bool {
    SERVICE_KEYS.iter().any(|k| k.name == name)
}

pub fn is_daemon_key(name: &str) -> bool {
    DAEMON_KEYS.iter().any(|k| k.name == name)
}

/// The `-p` output: the built-in defaults in upstream's layout.
pub fn print_defaults() -> String {
    let mut out = String::new();
    for (section, keys) in [("DEFAULT", SERVICE_KEYS), ("daemon", DAEMON_KEYS)] {
        out.push_str(&format!("[{section}]\n"));
        for key in keys {
            if let Some(default) = key.default {
                out.push_str(&format!("{} = {default}\n", key.name));
            }
        }
        out.push('\n');
    }
    out
}
