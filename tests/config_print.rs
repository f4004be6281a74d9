//! `-p`, `-P` and `-c` against golden files: the defaults in upstream's layout, and a
//! merged configuration that exercises DEFAULT inheritance, interpolation, key case,
//! continuation lines and a `-d` directory whose files override each other.
//!
//! Set `UPDATE_GOLDEN=1` to rewrite the golden files from the current output.

use std::path::Path;

use crate::common::{stderr, stdout, Sandbox};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden");

/// Compares `actual` with a golden file, or rewrites it when asked to.
fn assert_golden(name: &str, actual: &str) {
    let path = Path::new(GOLDEN).join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path).expect("golden file");
    assert_eq!(actual, expected, "output differs from {}", path.display());
}

/// A sandbox with the `print-conf` fixture and the directories its config names.
fn print_conf_fixture() -> Sandbox {
    let sandbox = Sandbox::new();
    install_fixture(&sandbox, "print-conf");
    sandbox.mkdir("run");
    sandbox.mkdir("lib");
    sandbox
}

/// Copies a fixture directory into the sandbox, with `@ROOT@` set to the sandbox.
fn install_fixture(sandbox: &Sandbox, name: &str) {
    let root = sandbox.root().display().to_string();
    let from = Path::new(FIXTURES).join(name);
    let mut pending = vec![from.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("fixture dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let relative = path.strip_prefix(&from).expect("below fixture");
            let text = std::fs::read_to_string(&path).expect("fixture file");
            sandbox.write(relative.to_str().expect("utf-8 name"), &text.replace("@ROOT@", &root));
        }
    }
}

#[test]
fn print_defaults_matches_upstream_layout() {
    let output = Sandbox::new().run(&["-p"]);
    assert!(output.status.success());
    assert_golden("print-defaults.txt", &stdout(&output));
}

#[test]
fn print_defaults_reads_no_configuration() {
    let output = Sandbox::new().run(&["-p", "-f", "/nonexistent.conf"]);
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn print_conf_shows_the_merged_interpolated_configuration() {
    let sandbox = print_conf_fixture();
    let output = sandbox.run(&["-f", "main.conf", "-d", "conf.d", "-P"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let root = sandbox.root().display().to_string();
    assert_golden("print-conf.txt", &stdout(&output).replace(&root, "@ROOT@"));
}

#[test]
fn the_merge_of_a_directory_is_the_same_every_run() {
    let sandbox = print_conf_fixture();
    let first = stdout(&sandbox.run(&["-f", "main.conf", "-d", "conf.d", "-P"]));
    assert!(
        first.contains("[web]\ncheck_cmd = /bin/true\nip_prefix = 10.52.13.1/32\ncheck_timeout = 3\n"),
        "{first}"
    );
    for _ in 0..5 {
        // A new file sorts first, so a directory listing in creation order would differ.
        assert_eq!(stdout(&sandbox.run(&["-f", "main.conf", "-d", "conf.d", "-P"])), first);
    }
}

#[test]
fn check_prints_ok_warns_about_typos_and_creates_nothing() {
    let sandbox = print_conf_fixture();
    sandbox.write("conf.d/30-typo.conf", "[web]\nchek_cmd = /bin/false\n");
    let before = sandbox.listing();
    let output = sandbox.run(&["-f", "main.conf", "-d", "conf.d", "-c"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "OK\n");
    // The fixture's [web] is spread over three files on purpose and left disabled by
    // the built-in default: both are said, once.
    assert_eq!(
        stderr(&output),
        "anycast-healthchecker: warning: conf.d/30-typo.conf: [web] chek_cmd: unknown key, ignored\n\
         anycast-healthchecker: warning: [web] is defined in conf.d/10-services.conf and \
         conf.d/20-override.conf and conf.d/30-typo.conf; they merge key by key and conf.d/30-typo.conf \
         wins where both set a key\n\
         anycast-healthchecker: warning: conf.d/10-services.conf: [web] check_disabled: is not set, and its \
         default (true) disables this check: set check_disabled = false to run it\n"
    );
    assert_eq!(sandbox.listing(), before);
}

#[test]
fn check_and_print_conf_together_print_only_ok() {
    let sandbox = print_conf_fixture();
    let output = sandbox.run(&["-f", "main.conf", "-d", "conf.d", "-c", "-P"]);
    assert_eq!(stdout(&output), "OK\n");
}

#[test]
fn only_a_timeout_above_the_interval_is_a_warning_once_per_service() {
    let sandbox = print_conf_fixture();
    // Equal (Wikimedia's 1 and 1) is fine; above is warned about, once, naming the key.
    sandbox.write(
        "svc.conf",
        "[DEFAULT]\ncheck_disabled = false\n\
         [equal]\ncheck_cmd = /bin/true\nip_prefix = 10.9.9.8\ncheck_interval = 1\ncheck_timeout = 1\n\
         [slow]\ncheck_cmd = /bin/true\nip_prefix = 10.9.9.9, 10.9.9.10\ncheck_interval = 2\ncheck_timeout = 3\n",
    );
    let output = sandbox.run(&["-f", "main.conf", "-F", "svc.conf", "-c"]);
    assert_eq!(stdout(&output), "OK\n");
    assert_eq!(
        own_warnings(&output),
        "anycast-healthchecker: warning: svc.conf: [slow] check_timeout: is above check_interval (2s): a slow check delays the next one (got \"3\")\n"
    );
}

#[test]
fn keys_of_older_upstream_versions_are_noted_not_called_typos() {
    let sandbox = print_conf_fixture();
    sandbox.write(
        "svc.conf",
        "[daemon]\nstdout_file = /var/log/x.log\njson_logging = false\nhttp_server_port = 80\n\
         [web]\ncheck_cmd = /bin/true\nip_prefix = 10.9.9.8\ncheck_disabled = false\nchek_cmd = /bin/false\n",
    );
    let output = sandbox.run(&["-f", "main.conf", "-F", "svc.conf", "-c"]);
    assert_eq!(stdout(&output), "OK\n", "{}", stderr(&output));
    let old = "is a key of an older anycast-healthchecker that no version reads now, ignored";
    assert_eq!(
        own_warnings(&output),
        format!(
            "anycast-healthchecker: warning: svc.conf: [daemon] stdout_file: {old}\n\
             anycast-healthchecker: warning: svc.conf: [daemon] json_logging: {old}\n\
             anycast-healthchecker: warning: svc.conf: [daemon] http_server_port: {old}\n\
             anycast-healthchecker: warning: svc.conf: [web] chek_cmd: unknown key, ignored\n"
        )
    );
}

/// Stderr without the fixture's own warning (its `port` key is there for `-P`).
fn own_warnings(output: &std::process::Output) -> String {
    stderr(output)
        .lines()
        .filter(|l| !l.contains("[DEFAULT] port: unknown key"))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn an_upper_case_daemon_section_is_a_service_like_upstream() {
    let sandbox = print_conf_fixture();
    sandbox.write("svc.conf", "[DAEMON]\nloglevel = info\n");
    let output = sandbox.run(&["-f", "main.conf", "-F", "svc.conf", "-c"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("svc.conf: [DAEMON] check_cmd: is required but not set"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn version_and_help() {
    let sandbox = Sandbox::new();
    assert_eq!(stdout(&sandbox.run(&["-v"])), format!("{}\n", env!("CARGO_PKG_VERSION")));
    let help = stdout(&sandbox.run(&["--help"]));
    assert!(help.starts_with("A simple healthchecker for Anycasted services.\n\nUsage:\n"));
    assert!(help.contains("-F, --service-file=<file>"));
}
