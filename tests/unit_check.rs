//! `-c` knows the systemd unit the daemon will run under: with the package's unit
//! (found through `$SYSTEMD_UNIT_PATH`, as systemd itself looks it up) a reconfigure
//! command or a check that needs privileges or another network namespace is an error
//! naming file, section and key, with what would happen and the fix; a flag file in
//! `/tmp` is a warning; the shipped drop-in that relaxes the unit for sudo is honoured
//! (and half of it is not enough, as under systemd); an override in
//! `/etc/systemd/system` and a unit that is not ours are said. The daemon itself only
//! warns. Configurations that are safe pass untouched.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::{stderr, DaemonProcess, Setup};

/// upstream's contrib unit (`Type=simple`, no sandbox), as the Python package installs it.
const UPSTREAM_UNIT: &str = "[Unit]\nDescription=anycast-healthchecker\nAfter=network.target\n\
    Requires=network.target\n[Service]\nType=simple\nTimeoutStartSec=0\nUser=healthchecker\n\
    Group=healthchecker\nEnvironmentFile=/etc/sysconfig/anycast-healthchecker\n\
    ExecStart=/usr/bin/anycast-healthchecker $OPTIONS\nRestart=on-failure\n\
    [Install]\nWantedBy=multi-user.target\n";

fn shipped_unit() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/rpm/anycast-healthchecker.service"),
    )
    .expect("the shipped unit")
}

/// A directory the unit hides from the daemon with neither `PrivateTmp=yes` (/tmp,
/// /var/tmp) nor `ProtectHome=yes` (/home, /root): the target directory's, unless the
/// checkout itself is under one of those (a clone in `mktemp -d`); then one under
/// /var/lib (as root) or /srv.
fn outside_private_tmp() -> PathBuf {
    let hidden = ["/tmp", "/var/tmp", "/home", "/root", "/run/user"];
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    if !hidden.iter().any(|dir| target.starts_with(dir)) {
        return target;
    }
    for candidate in ["/var/lib/anycast-healthchecker-tests", "/srv/anycast-healthchecker-tests"] {
        if std::fs::create_dir_all(candidate).is_ok() {
            return PathBuf::from(candidate);
        }
    }
    panic!(
        "the checkout ({}) is under a directory the unit hides, and neither /var/lib nor /srv is \
         writable: run the tests from a checkout elsewhere, or as root",
        target.display()
    )
}

/// A sandbox whose `etc/` and `lib/` unit directories hold `package` (the package's
/// place) and, if given, `override_unit` (/etc/systemd/system's), with a drop-in that
/// lets the daemon write the sandbox (outside /tmp: the unit gives it a /tmp of its
/// own), as an operator's drop-in for files outside the unit's directories would.
fn with_units(package: &str, override_unit: Option<&str>) -> (Setup, String) {
    let setup = Setup::new_in(&outside_private_tmp(), "", "");
    setup.sandbox.write("units/lib/anycast-healthchecker.service", package);
    setup.sandbox.mkdir("units/etc");
    if let Some(unit) = override_unit {
        setup.sandbox.write("units/etc/anycast-healthchecker.service", unit);
    }
    setup.sandbox.write(
        "units/lib/anycast-healthchecker.service.d/paths.conf",
        &format!("[Service]\nReadWritePaths={}\n", setup.root().display()),
    );
    let path = format!("{}:{}", setup.path("units/etc").display(), setup.path("units/lib").display());
    (setup, path)
}

/// `-c` with the unit search path: (exit code, stderr).
fn check(setup: &Setup, unit_path: &str) -> (i32, String) {
    let output = std::process::Command::new(common::binary())
        .args(["-f", "main.conf", "-d", "conf.d", "-c"])
        .current_dir(setup.root())
        .env("SYSTEMD_UNIT_PATH", unit_path)
        .output()
        .expect("run -c");
    (output.status.code().unwrap_or(-1), stderr(&output))
}

/// A setuid program of the test's, as `sudo` is on a host.
fn setuid_program(setup: &Setup) -> String {
    let path = setup.sandbox.write("bin/birdc-as-root", "#!/bin/sh\necho Reconfigured\n");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o4755)).expect("chmod");
    path.display().to_string()
}

fn set_reconfigure(setup: &Setup, command: &str) {
    let main = std::fs::read_to_string(setup.path("main.conf")).unwrap();
    let main: String =
        main.lines().filter(|l| !l.starts_with("bird_reconfigure_cmd")).map(|l| format!("{l}\n")).collect();
    setup.sandbox.write("main.conf", &format!("{main}bird_reconfigure_cmd = {command}\n"));
}

#[test]
fn a_setuid_reconfigure_command_under_the_package_unit_is_an_error_naming_the_key_and_the_fix() {
    let (setup, units) = with_units(&shipped_unit(), None);
    set_reconfigure(&setup, &format!("{} configure", setuid_program(&setup)));
    setup.service("web", "check_cmd = /bin/true\nip_prefix = 10.52.12.1");
    let (code, err) = check(&setup, &units);
    assert_eq!(code, 1, "{err}");
    let errors: Vec<&str> = err.lines().filter(|l| !l.contains(": warning: ")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    let line = errors[0];
    for words in [
        "main.conf: [daemon] bird_reconfigure_cmd: runs ",
        "birdc-as-root, which gains privileges, but ",
        "units/lib/anycast-healthchecker.service runs the daemon with NoNewPrivileges=yes",
        "Bird would never be reconfigured",
        "bird_control_socket = /run/bird/bird.ctl",
    ] {
        assert!(line.contains(words), "{words:?} missing in {line}");
    }

    // A drop-in that gives privileges back (as the unit's comments say) is honoured.
    // NoNewPrivileges=no alone is not enough: systemd implies it for a user's unit
    // with any seccomp option.
    setup.sandbox.write(
        "units/etc/anycast-healthchecker.service.d/sudo.conf",
        "[Service]\nNoNewPrivileges=no\nCapabilityBoundingSet=~\nSystemCallFilter=\n",
    );
    let (code, err) = check(&setup, &units);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("which, for a unit with User=, implies NoNewPrivileges=yes"), "{err}");
    let drop_in =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/systemd/sudo.conf"));
    setup.sandbox.write("units/etc/anycast-healthchecker.service.d/sudo.conf", &drop_in.unwrap());
    let (code, err) = check(&setup, &units);
    assert_eq!(code, 0, "{err}");

    // The daemon itself starts, and says it.
    std::fs::remove_file(setup.path("units/etc/anycast-healthchecker.service.d/sudo.conf")).unwrap();
    let daemon = DaemonProcess::start_with_env(
        setup.root(),
        &["-f", "main.conf", "-d", "conf.d"],
        &[("SYSTEMD_UNIT_PATH", &units)],
    );
    daemon.wait_for_log("event=up", Duration::from_secs(20));
    let log = daemon.log();
    assert!(
        log.lines().any(|l| l.contains(": warning: main.conf: [daemon] bird_reconfigure_cmd: runs ")),
        "{log}"
    );
}

#[test]
fn checks_that_cannot_work_in_the_sandbox_are_errors_and_tmp_flags_warnings() {
    let (setup, units) = with_units(&shipped_unit(), None);
    setup.service(
        "web",
        "check_cmd = /bin/sh -c 'ip netns exec blue curl -sf http://10.52.12.1/'\nip_prefix = 10.52.12.1",
    );
    let (code, err) = check(&setup, &units);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("web.conf: [web] check_cmd: enters another network namespace (ip netns exec)")
            && err.contains("RestrictNamespaces=yes")
            && err.contains("the check could never pass"),
        "{err}"
    );

    setup.service("web", "check_cmd = /bin/sh -c 'test -e /tmp/web-is-up'\nip_prefix = 10.52.12.1");
    let (code, err) = check(&setup, &units);
    assert_eq!(code, 0, "a /tmp path may be the check's own: {err}");
    assert!(
        err.contains("warning: ")
            && err.contains("[web] check_cmd: names /tmp/web-is-up")
            && err.contains("PrivateTmp=yes"),
        "{err}"
    );

    setup.service("web", "check_cmd = /bin/true\nip_prefix = 10.52.12.1\nmaintenance_file = /tmp/web.down");
    let (code, err) = check(&setup, &units);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("[web] maintenance_file: /tmp/web.down would never be seen"), "{err}");

    // A safe configuration passes untouched: no word about the unit.
    setup.service(
        "web",
        "check_cmd = /bin/sh -c 'test -e /run/anycast-healthchecker/up'\nip_prefix = 10.52.12.1",
    );
    let (code, err) = check(&setup, &units);
    assert_eq!((code, err.as_str()), (0, ""));
}

#[test]
fn files_written_where_the_unit_allows_no_writes_are_errors() {
    let (setup, units) = with_units(&shipped_unit(), None);
    setup.service("web", "check_cmd = /bin/true\nip_prefix = 10.52.12.1");
    // Without the drop-in the sandbox is a directory the unit makes read-only.
    std::fs::remove_file(setup.path("units/lib/anycast-healthchecker.service.d/paths.conf")).unwrap();
    let (code, err) = check(&setup, &units);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("[daemon] bird_conf: ") && err.contains("cannot be written under"), "{err}");
    assert!(
        err.contains("ProtectSystem=strict makes it read-only (writable: /var/lib/anycast-healthchecker, ")
            && err.contains(&format!("add ReadWritePaths={}/lib in a drop-in", setup.root().display())),
        "{err}"
    );
    // A drop-in in /etc/systemd/system's directory counts as well as one beside the unit.
    setup.sandbox.write(
        "units/etc/anycast-healthchecker.service.d/paths.conf",
        &format!("[Service]\nReadWritePaths={}\n", setup.root().display()),
    );
    let (code, err) = check(&setup, &units);
    assert_eq!((code, err.as_str()), (0, ""));
}

#[test]
fn an_override_and_a_foreign_unit_are_said_and_the_package_unit_is_assumed() {
    // The Python program's unit installed where the package's goes: ours is assumed.
    let (setup, units) = with_units(UPSTREAM_UNIT, None);
    set_reconfigure(&setup, &format!("{} configure", setuid_program(&setup)));
    setup.service("web", "check_cmd = /bin/true\nip_prefix = 10.52.12.1");
    let (code, err) = check(&setup, &units);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("is not this package's unit (the Python program's?)"), "{err}");
    assert!(
        err.contains("the package's anycast-healthchecker.service runs the daemon with NoNewPrivileges=yes"),
        "{err}"
    );

    // An old unit in /etc/systemd/system overrides the package's: it is what runs.
    let (setup, units) = with_units(&shipped_unit(), Some(UPSTREAM_UNIT));
    setup.service("web", "check_cmd = /bin/true\nip_prefix = 10.52.12.1");
    let (code, err) = check(&setup, &units);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("units/etc/anycast-healthchecker.service overrides the package's")
            && err.contains("no Type=notify")
            && err.contains("systemctl revert anycast-healthchecker"),
        "{err}"
    );
}

#[test]
fn without_systemd_or_the_unit_nothing_is_said() {
    let (setup, _) = with_units(&shipped_unit(), None);
    set_reconfigure(&setup, &format!("{} configure", setuid_program(&setup)));
    setup.service("web", "check_cmd = /bin/true\nip_prefix = 10.52.12.1");
    let empty = setup.sandbox.mkdir("no-units");
    let (code, err) = check(&setup, &empty.display().to_string());
    assert_eq!((code, err.as_str()), (0, ""), "no unit installed: no sandbox to hold it against");
}
