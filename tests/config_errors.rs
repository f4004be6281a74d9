//! Bad configurations: each is rejected with exit status 1 and one line on stderr that
//! names the file, the section and the key, and loading creates no file.

use crate::common::{stderr, stdout, Sandbox};

const GOOD_SERVICE: &str = "[svc]\ncheck_cmd = /bin/true\nip_prefix = 10.52.12.1/32\n";

/// One bad configuration: `[daemon]` keys to set (an empty value removes the key when it
/// is `None`), the service file's text, and the words the error must contain.
struct Case {
    name: &'static str,
    daemon: &'static [(&'static str, Option<&'static str>)],
    services: &'static str,
    expect: &'static [&'static str],
}

const fn case(
    name: &'static str,
    daemon: &'static [(&'static str, Option<&'static str>)],
    services: &'static str,
    expect: &'static [&'static str],
) -> Case {
    Case { name, daemon, services, expect }
}

/// `main.conf` for a case: a working `[daemon]` section with the case's changes.
fn main_conf(sandbox: &Sandbox, changes: &[(&str, Option<&str>)]) -> String {
    let root = sandbox.root().display().to_string();
    let mut keys: Vec<(String, String)> = vec![
        ("pidfile".into(), format!("{root}/run/ahc.pid")),
        ("bird_conf".into(), format!("{root}/lib/4.conf")),
        ("bird6_conf".into(), format!("{root}/lib/6/6.conf")),
        ("bird_reconfigure_cmd".into(), "/bin/true".into()),
        ("bird6_reconfigure_cmd".into(), "/bin/true".into()),
    ];
    for (key, value) in changes {
        keys.retain(|(k, _)| k != key);
        if let Some(value) = value {
            keys.push((key.to_string(), value.replace("@ROOT@", &root)));
        }
    }
    let mut text = String::from("[daemon]\n");
    for (key, value) in keys {
        text.push_str(&format!("{key} = {value}\n"));
    }
    text
}

const DAEMON_CASES: &[Case] = &[
    case(
        "bird_degraded_conf without its variable",
        &[("bird_degraded_conf", Some("@ROOT@/lib/4-degraded.conf"))],
        GOOD_SERVICE,
        &["main.conf: [daemon] bird_degraded_conf:", "bird_degraded_variable is not"],
    ),
    case(
        "bird_degraded_conf is the prefix file",
        &[
            ("bird_degraded_variable", Some("ACAST_PS_DEGRADED")),
            ("bird_degraded_conf", Some("@ROOT@/lib/4.conf")),
        ],
        GOOD_SERVICE,
        &["main.conf: [daemon] bird_degraded_conf:", "must differ from"],
    ),
    case(
        "bird6_degraded_conf is the IPv4 prefix file",
        &[
            ("ipv6", Some("true")),
            ("bird6_degraded_variable", Some("ACAST6_PS_DEGRADED")),
            ("bird6_degraded_conf", Some("@ROOT@/lib/4.conf")),
        ],
        GOOD_SERVICE,
        &["main.conf: [daemon] bird6_degraded_conf:", "other IP version"],
    ),
    case(
        "bird_degraded_conf in a missing directory",
        &[
            ("bird_degraded_variable", Some("ACAST_PS_DEGRADED")),
            ("bird_degraded_conf", Some("@ROOT@/nodir/d.conf")),
        ],
        GOOD_SERVICE,
        &["main.conf: [daemon] bird_degraded_conf:", "does not exist"],
    ),
    case(
        "prometheus textfile dir missing",
        &[("prometheus_exporter", Some("true")), ("prometheus_collector_textfile_dir", Some("@ROOT@/nodir"))],
        GOOD_SERVICE,
        &["main.conf: [daemon] prometheus_collector_textfile_dir:", "not an existing directory"],
    ),
    case(
        "ipv4 not boolean",
        &[("ipv4", Some("maybe"))],
        GOOD_SERVICE,
        &["main.conf: [daemon] ipv4:", "not a boolean", "(got \"maybe\")"],
    ),
    case(
        "ipv6 not boolean",
        &[("ipv6", Some("2"))],
        GOOD_SERVICE,
        &["main.conf: [daemon] ipv6:", "not a boolean"],
    ),
    case(
        "no IP version with services",
        &[("ipv4", Some("false"))],
        GOOD_SERVICE,
        &["main.conf: [daemon] ipv4:", "both false"],
    ),
    case(
        "pidfile dir missing",
        &[("pidfile", Some("/nonexistent/dir/x.pid"))],
        GOOD_SERVICE,
        &["main.conf: [daemon] pidfile:", "/nonexistent/dir does not exist"],
    ),
    case(
        "pidfile is a directory",
        &[("pidfile", Some("@ROOT@/run"))],
        GOOD_SERVICE,
        &["main.conf: [daemon] pidfile:", "is a directory"],
    ),
    case(
        "pidfile empty",
        &[("pidfile", Some(""))],
        GOOD_SERVICE,
        &["main.conf: [daemon] pidfile:", "is empty"],
    ),
    case(
        "bird_conf dir missing",
        &[("bird_conf", Some("/nonexistent/p.conf"))],
        GOOD_SERVICE,
        &["main.conf: [daemon] bird_conf:", "does not exist"],
    ),
    case(
        "bird6_conf dir missing",
        &[("ipv6", Some("true")), ("bird6_conf", Some("/nonexistent/6.conf"))],
        GOOD_SERVICE,
        &["main.conf: [daemon] bird6_conf:", "does not exist"],
    ),
    case(
        "bird_variable empty",
        &[("bird_variable", Some(""))],
        GOOD_SERVICE,
        &["main.conf: [daemon] bird_variable:", "Bird symbol"],
    ),
    case(
        "bird_variable digit first",
        &[("bird_variable", Some("9LIST"))],
        GOOD_SERVICE,
        &["main.conf: [daemon] bird_variable:", "Bird symbol"],
    ),
    case(
        "bird6_variable with space",
        &[("ipv6", Some("true")), ("bird6_variable", Some("MY LIST"))],
        GOOD_SERVICE,
        &["main.conf: [daemon] bird6_variable:", "Bird symbol"],
    ),
    case(
        "bird_reconfigure_cmd empty",
        &[("bird_reconfigure_cmd", Some(""))],
        GOOD_SERVICE,
        &["main.conf: [daemon] bird_reconfigure_cmd:", "empty"],
    ),
    case(
        "bird_reconfigure_cmd unbalanced",
        &[("bird_reconfigure_cmd", Some("birdc 'configure"))],
        GOOD_SERVICE,
        &["main.conf: [daemon] bird_reconfigure_cmd:", "no closing quotation"],
    ),
    case(
        "bird_reconfigure_cmd missing program",
        &[("bird_reconfigure_cmd", Some("/nonexistent/birdc configure"))],
        GOOD_SERVICE,
        &["main.conf: [daemon] bird_reconfigure_cmd:", "No such file"],
    ),
    case(
        "bird6_reconfigure_cmd missing program",
        &[("ipv6", Some("true")), ("bird6_reconfigure_cmd", Some("no-such-birdc6 configure"))],
        GOOD_SERVICE,
        &["main.conf: [daemon] bird6_reconfigure_cmd:", "not found in PATH"],
    ),
    case(
        "dummy host bits",
        &[("dummy_ip_prefix", Some("10.189.200.255/24"))],
        GOOD_SERVICE,
        &["main.conf: [daemon] dummy_ip_prefix:", "host bits"],
    ),
    case(
        "dummy wrong version",
        &[("dummy_ip_prefix", Some("2001:db8::1/128"))],
        GOOD_SERVICE,
        &["main.conf: [daemon] dummy_ip_prefix:", "must be an IPv4 prefix"],
    ),
    case(
        "dummy6 wrong version",
        &[("ipv6", Some("true")), ("dummy_ip6_prefix", Some("10.0.0.1/32"))],
        GOOD_SERVICE,
        &["main.conf: [daemon] dummy_ip6_prefix:", "must be an IPv6 prefix"],
    ),
    case(
        "dummy not a prefix",
        &[("dummy_ip_prefix", Some("dummy"))],
        GOOD_SERVICE,
        &["main.conf: [daemon] dummy_ip_prefix:", "not an IP prefix"],
    ),
    case(
        "keep_changes not boolean",
        &[("bird_keep_changes", Some("sometimes"))],
        GOOD_SERVICE,
        &["main.conf: [daemon] bird_keep_changes:", "not a boolean"],
    ),
    case(
        "changes_counter negative",
        &[("bird_changes_counter", Some("-1"))],
        GOOD_SERVICE,
        &["main.conf: [daemon] bird_changes_counter:", "must be at least 0"],
    ),
    case(
        "changes_counter fraction",
        &[("bird6_changes_counter", Some("1.5"))],
        GOOD_SERVICE,
        &["main.conf: [daemon] bird6_changes_counter:", "not an integer"],
    ),
    case(
        "purge not boolean",
        &[("purge_ip_prefixes", Some("nah"))],
        GOOD_SERVICE,
        &["main.conf: [daemon] purge_ip_prefixes:", "not a boolean"],
    ),
    case(
        "loglevel unknown",
        &[("loglevel", Some("verbose"))],
        GOOD_SERVICE,
        &["main.conf: [daemon] loglevel:", "not a log level"],
    ),
    case(
        "loglevel number",
        &[("loglevel", Some("10"))],
        GOOD_SERVICE,
        &["main.conf: [daemon] loglevel:", "(got \"10\")"],
    ),
    case(
        "log_file dir missing",
        &[("log_file", Some("/nonexistent/x.log"))],
        GOOD_SERVICE,
        &["main.conf: [daemon] log_file:", "does not exist"],
    ),
    case(
        "stderr_file dir missing",
        &[("stderr_file", Some("/nonexistent/e.log"))],
        GOOD_SERVICE,
        &["main.conf: [daemon] stderr_file:", "does not exist"],
    ),
    case(
        "log_server empty",
        &[("log_server", Some(""))],
        GOOD_SERVICE,
        &["main.conf: [daemon] log_server:", "is empty"],
    ),
    case(
        "log_server_port too big",
        &[("log_server_port", Some("70000"))],
        GOOD_SERVICE,
        &["main.conf: [daemon] log_server_port:", "from 1 to 65535"],
    ),
    case(
        "log_server_port text",
        &[("log_server_port", Some("syslog"))],
        GOOD_SERVICE,
        &["main.conf: [daemon] log_server_port:", "not an integer"],
    ),
    case(
        "stderr_log_server without log_server",
        &[("stderr_log_server", Some("true"))],
        GOOD_SERVICE,
        &["main.conf: [daemon] stderr_log_server:", "log_server is not"],
    ),
    case(
        "stderr_log_server not boolean",
        &[("log_server", Some("127.0.0.1")), ("stderr_log_server", Some("perhaps"))],
        GOOD_SERVICE,
        &["main.conf: [daemon] stderr_log_server:", "not a boolean"],
    ),
    case(
        "json_stdout not boolean",
        &[("json_stdout", Some("2"))],
        GOOD_SERVICE,
        &["main.conf: [daemon] json_stdout:", "not a boolean"],
    ),
    case(
        "json_log_file not boolean",
        &[("json_log_file", Some("json"))],
        GOOD_SERVICE,
        &["main.conf: [daemon] json_log_file:", "not a boolean"],
    ),
    case(
        "log_maxbytes negative",
        &[("log_maxbytes", Some("-5"))],
        GOOD_SERVICE,
        &["main.conf: [daemon] log_maxbytes:", "at least 0"],
    ),
    case(
        "log_backups text",
        &[("log_backups", Some("x"))],
        GOOD_SERVICE,
        &["main.conf: [daemon] log_backups:", "not an integer"],
    ),
    case(
        "log_format_journalctl not boolean",
        &[("log_format_journalctl", Some("maybe"))],
        GOOD_SERVICE,
        &["main.conf: [daemon] log_format_journalctl:", "not a boolean"],
    ),
    case(
        "prometheus_exporter not boolean",
        &[("prometheus_exporter", Some("yes please"))],
        GOOD_SERVICE,
        &["main.conf: [daemon] prometheus_exporter:", "not a boolean"],
    ),
    case(
        "prometheus interval fraction",
        &[("prometheus_exporter_interval", Some("2.5"))],
        GOOD_SERVICE,
        &["main.conf: [daemon] prometheus_exporter_interval:", "not an integer"],
    ),
    case(
        "prometheus interval zero",
        &[("prometheus_exporter_interval", Some("0"))],
        GOOD_SERVICE,
        &["main.conf: [daemon] prometheus_exporter_interval:", "must be from 1 to"],
    ),
    case(
        "prometheus dir empty",
        &[("prometheus_collector_textfile_dir", Some(""))],
        GOOD_SERVICE,
        &["main.conf: [daemon] prometheus_collector_textfile_dir:", "is empty"],
    ),
    case(
        "splay negative",
        &[("splay_startup", Some("-1"))],
        GOOD_SERVICE,
        &["main.conf: [daemon] splay_startup:", "from 0 to"],
    ),
    case(
        "splay infinite",
        &[("splay_startup", Some("inf"))],
        GOOD_SERVICE,
        &["main.conf: [daemon] splay_startup:", "finite"],
    ),
    case(
        "splay text",
        &[("splay_startup", Some("soon"))],
        GOOD_SERVICE,
        &["main.conf: [daemon] splay_startup:", "(got \"soon\")"],
    ),
];

const SERVICE_CASES: &[Case] = &[
    case("check_cmd missing", &[], "[svc]\nip_prefix = 10.52.12.1\n", &["svc.conf: [svc] check_cmd:", "required"]),
    case("check_cmd empty", &[], "[svc]\ncheck_cmd =\nip_prefix = 10.52.12.1\n", &["svc.conf: [svc] check_cmd:", "empty"]),
    case("check_cmd unbalanced quote", &[], "[svc]\ncheck_cmd = /bin/sh -c 'exit 0\nip_prefix = 10.52.12.1\n", &["svc.conf: [svc] check_cmd:", "no closing quotation"]),
    case("check_cmd with a NUL byte", &[], "[svc]\ncheck_cmd = /bin/echo a\0b\nip_prefix = 10.52.12.1\n", &["svc.conf: [svc] check_cmd:", "the command contains a NUL byte"]),
    case("check_cmd trailing backslash", &[], "[svc]\ncheck_cmd = /bin/true \\\nip_prefix = 10.52.12.1\n", &["svc.conf: [svc] check_cmd:", "backslash"]),
    case("check_cmd missing program", &[], "[svc]\ncheck_cmd = /nonexistent/check\nip_prefix = 10.52.12.1\n", &["svc.conf: [svc] check_cmd:", "No such file"]),
    case("check_cmd not executable", &[], "[svc]\ncheck_cmd = /etc/passwd\nip_prefix = 10.52.12.1\n", &["svc.conf: [svc] check_cmd:", "not executable"]),
    case("check_cmd unknown in PATH", &[], "[svc]\ncheck_cmd = no-such-check --x\nip_prefix = 10.52.12.1\n", &["svc.conf: [svc] check_cmd:", "not found in PATH"]),
    case("interval zero", &[], "[svc]\ncheck_cmd = /bin/true\ncheck_interval = 0\nip_prefix = 10.52.12.1\n", &["svc.conf: [svc] check_interval:", "above 0"]),
    case("interval negative", &[], "[svc]\ncheck_cmd = /bin/true\ncheck_interval = -1\nip_prefix = 10.52.12.1\n", &["svc.conf: [svc] check_interval:", "above 0"]),
    case("interval infinite", &[], "[svc]\ncheck_cmd = /bin/true\ncheck_interval = inf\nip_prefix = 10.52.12.1\n", &["svc.conf: [svc] check_interval:", "finite"]),
    case("interval nan", &[], "[svc]\ncheck_cmd = /bin/true\ncheck_interval = nan\nip_prefix = 10.52.12.1\n", &["svc.conf: [svc] check_interval:", "finite"]),
    case("interval too large", &[], "[svc]\ncheck_cmd = /bin/true\ncheck_interval = 1e19\nip_prefix = 10.52.12.1\n", &["svc.conf: [svc] check_interval:", "at most"]),
    case("interval text", &[], "[svc]\ncheck_cmd = /bin/true\ncheck_interval = abc\nip_prefix = 10.52.12.1\n", &["svc.conf: [svc] check_interval:", "not a number", "(got \"abc\")"]),
    case("timeout zero", &[], "[svc]\ncheck_cmd = /bin/true\ncheck_timeout = 0\nip_prefix = 10.52.12.1\n", &["svc.conf: [svc] check_timeout:", "above 0"]),
    case("timeout negative", &[], "[svc]\ncheck_cmd = /bin/true\ncheck_timeout = -2\nip_prefix = 10.52.12.1\n", &["svc.conf: [svc] check_timeout:", "above 0"]),
    case("rise zero", &[], "[svc]\ncheck_cmd = /bin/true\ncheck_rise = 0\nip_prefix = 10.52.12.1\n", &["svc.conf: [svc] check_rise:", "at least 1"]),
    case("fail zero", &[], "[svc]\ncheck_cmd = /bin/true\ncheck_fail = 0\nip_prefix = 10.52.12.1\n", &["svc.conf: [svc] check_fail:", "at least 1"]),
    case("rise fraction", &[], "[svc]\ncheck_cmd = /bin/true\ncheck_rise = 1.5\nip_prefix = 10.52.12.1\n", &["svc.conf: [svc] check_rise:", "not an integer"]),
    case("fail negative", &[], "[svc]\ncheck_cmd = /bin/true\ncheck_fail = -1\nip_prefix = 10.52.12.1\n", &["svc.conf: [svc] check_fail:", "at least 1"]),
    case("check_disabled not boolean", &[], "[svc]\ncheck_cmd = /bin/true\ncheck_disabled = maybe\nip_prefix = 10.52.12.1\n", &["svc.conf: [svc] check_disabled:", "not a boolean"]),
    case("on_disabled is case-sensitive", &[], "[svc]\ncheck_cmd = /bin/true\non_disabled = Withdraw\nip_prefix = 10.52.12.1\n", &["svc.conf: [svc] on_disabled:", "'withdraw' or 'advertise'"]),
    case("ip_prefix missing", &[], "[svc]\ncheck_cmd = /bin/true\n", &["svc.conf: [svc] ip_prefix:", "required"]),
    case("ip_prefix empty", &[], "[svc]\ncheck_cmd = /bin/true\nip_prefix =\n", &["svc.conf: [svc] ip_prefix:", "names no prefix"]),
    case("ip_prefix bad octet", &[], "[svc]\ncheck_cmd = /bin/true\nip_prefix = 10.0.0.300/32\n", &["svc.conf: [svc] ip_prefix:", "not an IP prefix"]),
    case("ip_prefix host bits v4", &[], "[svc]\ncheck_cmd = /bin/true\nip_prefix = 10.0.0.1/24\n", &["svc.conf: [svc] ip_prefix:", "host bits"]),
    case("ip_prefix host bits v6", &[("ipv6", Some("true"))], "[svc]\ncheck_cmd = /bin/true\nip_prefix = 2001:db8::5/64\n", &["svc.conf: [svc] ip_prefix:", "host bits"]),
    case("ip_prefix v6 while ipv6 off", &[], "[svc]\ncheck_cmd = /bin/true\nip_prefix = 2001:db8::5/128\n", &["svc.conf: [svc] ip_prefix:", "ipv6 = false"]),
    case("ip_prefix v4 while ipv4 off", &[("ipv4", Some("false")), ("ipv6", Some("true"))], GOOD_SERVICE, &["svc.conf: [svc] ip_prefix:", "ipv4 = false"]),
    case("ip_prefix listed twice", &[], "[svc]\ncheck_cmd = /bin/true\nip_prefix = 10.0.0.1, 10.0.0.1/32\n", &["svc.conf: [svc] ip_prefix:", "listed twice"]),
    case("duplicate after normalisation", &[], "[a]\ncheck_cmd = /bin/true\nip_prefix = 10.0.0.1\n[b]\ncheck_cmd = /bin/true\nip_prefix = 10.0.0.1/32\n", &["svc.conf: [b] ip_prefix:", "also used by service [a]"]),
    case("duplicate IPv6 spelling", &[("ipv6", Some("true"))], "[a]\ncheck_cmd = /bin/true\nip_prefix = 2001:DB8::1:0/128\n[b]\ncheck_cmd = /bin/true\nip_prefix = 2001:db8:0:0:0:0:1:0\n", &["svc.conf: [b] ip_prefix:", "2001:db8::1:0/128 is also used by service [a]"]),
    case("ip_prefix is the dummy", &[], "[svc]\ncheck_cmd = /bin/true\nip_prefix = 10.189.200.255\n", &["svc.conf: [svc] ip_prefix:", "dummy"]),
    case("ip_check_disabled not boolean", &[], "[svc]\ncheck_cmd = /bin/true\nip_check_disabled = perhaps\nip_prefix = 10.52.12.1\n", &["svc.conf: [svc] ip_check_disabled:", "not a boolean"]),
    case("interface empty", &[], "[svc]\ncheck_cmd = /bin/true\ninterface =\nip_prefix = 10.52.12.1\n", &["svc.conf: [svc] interface:", "is empty"]),
    case("interface too long", &[], "[svc]\ncheck_cmd = /bin/true\ninterface = a-very-long-interface\nip_prefix = 10.52.12.1\n", &["svc.conf: [svc] interface:", "15 bytes"]),
    case("custom reconfigure empty", &[], "[svc]\ncheck_cmd = /bin/true\nip_prefix = 10.52.12.1\ncustom_bird_reconfigure_cmd =\n", &["svc.conf: [svc] custom_bird_reconfigure_cmd:", "empty"]),
    case("custom reconfigure unbalanced", &[], "[svc]\ncheck_cmd = /bin/true\nip_prefix = 10.52.12.1\ncustom_bird_reconfigure_cmd = /bin/echo \"x\n", &["svc.conf: [svc] custom_bird_reconfigure_cmd:", "no closing quotation"]),
    case("custom reconfigure timeout zero", &[], "[svc]\ncheck_cmd = /bin/true\nip_prefix = 10.52.12.1\ncustom_bird_reconfigure_cmd_timeout = 0\n", &["svc.conf: [svc] custom_bird_reconfigure_cmd_timeout:", "above 0"]),
    case("on_exit unknown", &[], "[svc]\ncheck_cmd = /bin/true\nip_prefix = 10.52.12.1\non_exit = forget\n", &["svc.conf: [svc] on_exit:", "'keep', 'withdraw', 'advertise' or 'drain'"]),
    case("lone percent", &[], "[svc]\ncheck_cmd = /bin/sh -c 'test 5% -gt 1'\nip_prefix = 10.52.12.1\n", &["svc.conf: [svc] check_cmd:", "'%' must be followed by '%' or '('"]),
    case("interpolation of a missing key", &[], "[svc]\ncheck_cmd = /bin/true %(port)s\nip_prefix = 10.52.12.1\n", &["svc.conf: [svc] check_cmd:", "no key \"port\""]),
    case("bad value in DEFAULT", &[], "[DEFAULT]\ncheck_rise = none\n[svc]\ncheck_cmd = /bin/true\nip_prefix = 10.52.12.1\n", &["svc.conf: [svc] check_rise:", "not an integer"]),
    case("damping reuse not below suppress", &[], "[svc]\ncheck_cmd = /bin/true\nip_prefix = 10.52.12.1\ndamping = true\ndamping_reuse = 3\n", &["svc.conf: [svc] damping_reuse:", "must be below damping_suppress"]),
    case("damping half-life zero", &[], "[svc]\ncheck_cmd = /bin/true\nip_prefix = 10.52.12.1\ndamping = true\ndamping_half_life = 0\n", &["svc.conf: [svc] damping_half_life:", "above 0"]),
    case("fast interval above the interval", &[], "[svc]\ncheck_cmd = /bin/true\nip_prefix = 10.52.12.1\ncheck_fast_interval = 20\n", &["svc.conf: [svc] check_fast_interval:", "must not be above check_interval"]),
    case("repeated section", &[], "[svc]\ncheck_cmd = /bin/true\n[svc]\nip_prefix = 10.52.12.1\n", &["svc.conf:3:", "section [svc] already exists"]),
    case("repeated key, other case", &[], "[svc]\ncheck_cmd = /bin/true\nCHECK_CMD = /bin/false\n", &["svc.conf:3:", "key 'check_cmd' in section [svc] already exists"]),
    case("key before any section", &[], "check_cmd = /bin/true\n[svc]\n", &["svc.conf:1:", "before any [section]"]),
    case("line without separator", &[], "[svc]\ncheck_cmd /bin/true\n", &["svc.conf:2:", "no key name"]),
];

/// Runs one case with `-c` and with `-P`; the error says what did not hold.
fn run_case(case: &Case) -> Result<(), String> {
    let sandbox = Sandbox::new();
    sandbox.mkdir("run");
    sandbox.mkdir("lib/6");
    let main = sandbox.write("main.conf", &main_conf(&sandbox, case.daemon));
    sandbox.write("conf.d/svc.conf", case.services);
    let before = sandbox.listing();
    for mode in ["-c", "-P"] {
        let output = sandbox.run(&["-f", main.to_str().unwrap(), "-d", "conf.d", mode]);
        let err = stderr(&output);
        let errors: Vec<&str> = err.lines().filter(|l| !l.contains(": warning: ")).collect();
        let fail = |why: String| Err(format!("{} ({mode}): {why}; stderr: {err:?}", case.name));
        if output.status.code() != Some(1) {
            return fail(format!("exit status {:?}, not 1", output.status.code()));
        }
        if !stdout(&output).is_empty() {
            return fail("stdout is not empty".into());
        }
        if errors.len() != 1 || !errors[0].starts_with("anycast-healthchecker: ") {
            return fail("not exactly one error line".into());
        }
        if let Some(missing) = case.expect.iter().find(|words| !errors[0].contains(*words)) {
            return fail(format!("{missing:?} is missing"));
        }
    }
    if sandbox.listing() != before {
        return Err(format!("{}: loading created or removed files", case.name));
    }
    Ok(())
}

fn run_cases(cases: &[Case]) {
    let failures: Vec<String> = cases.iter().filter_map(|case| run_case(case).err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn every_bad_daemon_setting_is_rejected_with_one_clear_line() {
    run_cases(DAEMON_CASES);
}

#[test]
fn every_bad_service_setting_is_rejected_with_one_clear_line() {
    run_cases(SERVICE_CASES);
}

#[test]
fn missing_files_and_directories_are_named() {
    let sandbox = Sandbox::new();
    sandbox.mkdir("run");
    sandbox.mkdir("lib/6");
    sandbox.write("main.conf", &main_conf(&sandbox, &[]));
    sandbox.write("conf.d/svc.conf", GOOD_SERVICE);
    let cases: &[(&[&str], &str)] = &[
        (
            &["-f", "nope.conf", "-d", "conf.d", "-c"],
            "nope.conf: configuration file does not exist or is not a regular file",
        ),
        (
            &["-f", "conf.d", "-d", "conf.d", "-c"],
            "conf.d: configuration file does not exist or is not a regular file",
        ),
        (
            &["-f", "main.conf", "-d", "nodir", "-c"],
            "nodir: directory with configuration files for service checks does not exist",
        ),
        (
            &["-f", "main.conf", "-d", "main.conf", "-c"],
            "main.conf: is not a directory: -d names a directory of *.conf files (-F takes one file)",
        ),
        (
            &["-f", "main.conf", "-F", "nofile.conf", "-c"],
            "nofile.conf: service configuration file does not exist or is not a regular file",
        ),
    ];
    for (args, words) in cases {
        let output = sandbox.run(args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert_eq!(stderr(&output), format!("anycast-healthchecker: {words}\n"), "{args:?}");
    }
}

#[test]
fn usage_errors_print_the_usage_and_exit_1() {
    let sandbox = Sandbox::new();
    for args in [&["-d", "a", "-F", "b"][..], &["--bogus"], &["-f"], &["stray"]] {
        let output = sandbox.run(args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&output).contains("Usage:\n    anycast-healthchecker [ -f <file> -c -p -P ]"),
            "{args:?}"
        );
    }
}

/// Warnings (exit 0 with `-c`) for what runs but is probably not what was meant.
#[test]
fn likely_mistakes_are_warned_about_naming_file_section_and_key() {
    let sandbox = Sandbox::new();
    sandbox.mkdir("run");
    sandbox.mkdir("lib/6");
    sandbox.write("main.conf", &format!("{}[DEFAULT]\ncheck_disabled = false\n", main_conf(&sandbox, &[])));
    sandbox.write(
        "conf.d/a.conf",
        "[pipe]\ncheck_cmd = /usr/bin/curl -fsS http://127.0.0.1/ | grep ok\nip_prefix = 10.52.12.1\n\
         [subst]\ncheck_cmd = /bin/test -e $(cat /etc/flag)\nip_prefix = 10.52.12.2\n\
         [shell]\ncheck_cmd = /bin/sh -c 'true && true'\nip_prefix = 10.52.12.3\n\
         [twice]\ncheck_cmd = /bin/true\nip_prefix = 10.52.12.4\n",
    );
    sandbox.write("conf.d/b.conf", "[twice]\ncheck_interval = 5\n");
    sandbox.write(
        "c.conf",
        &"[daemon]\npidfile = @ROOT@/run/c.pid\nbird_conf = @ROOT@/lib/c.conf\nbird_reconfigure_cmd = /bin/true\n\
         [off]\ncheck_cmd = /bin/true\nip_prefix = 10.52.12.5\n"
            .replace("@ROOT@", &sandbox.root().display().to_string()),
    );
    let output = sandbox.run(&["-f", "main.conf", "-d", "conf.d", "-c"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let err = stderr(&output);
    let lines: Vec<&str> = err.lines().collect();
    let expected = [
        "anycast-healthchecker: warning: conf.d/a.conf: [pipe] check_cmd: \"|\" is passed to /usr/bin/curl as a literal argument",
        "anycast-healthchecker: warning: conf.d/a.conf: [subst] check_cmd: \"$(cat\" is passed to /bin/test as a literal argument",
        "anycast-healthchecker: warning: [twice] is defined in conf.d/a.conf and conf.d/b.conf; they merge key by key and conf.d/b.conf wins",
    ];
    for want in expected {
        assert!(lines.iter().any(|l| l.starts_with(want)), "no {want:?} in:\n{err}");
    }
    assert_eq!(lines.len(), expected.len(), "sh -c is a shell and warns of nothing:\n{err}");

    // A check disabled only by the built-in default (check_disabled = true) is named.
    let output = sandbox.run(&["-f", "c.conf", "-F", "c.conf", "-c"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        stderr(&output),
        "anycast-healthchecker: warning: c.conf: [off] check_disabled: is not set, and its default (true) \
         disables this check: set check_disabled = false to run it\n"
    );
}

#[test]
fn an_unknown_key_is_warned_about_also_when_an_error_stops_the_load() {
    let sandbox = Sandbox::new();
    sandbox.mkdir("run");
    sandbox.mkdir("lib/6");
    sandbox.write("main.conf", &main_conf(&sandbox, &[]));
    sandbox.write("conf.d/svc.conf", "[svc]\nchek_cmd = /bin/true\nip_prefix = 10.52.12.1\n");
    let output = sandbox.run(&["-f", "main.conf", "-d", "conf.d", "-c"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "anycast-healthchecker: warning: conf.d/svc.conf: [svc] chek_cmd: unknown key, ignored\n\
         anycast-healthchecker: conf.d/svc.conf: [svc] check_cmd: is required but not set\n"
    );
}
