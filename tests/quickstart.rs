//! The quick start works as README.rst gives it, and the shipped example configurations
//! pass `-c`.

use crate::common;

use std::path::Path;
use std::time::Duration;

use crate::common::{file_prefixes, DaemonProcess, Sandbox};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The arguments of README's quick-start command (`cargo run --release -- ARGS`).
fn quick_start_args() -> Vec<String> {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.rst")).unwrap();
    let line = readme
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("cargo run --release -- "))
        .expect("README.rst has a quick-start command");
    line["cargo run --release -- ".len()..].split_whitespace().map(String::from).collect()
}

fn copy(from: &str, sandbox: &Sandbox) {
    let text = std::fs::read_to_string(Path::new(ROOT).join(from)).unwrap();
    sandbox.write(from, &text);
}

#[test]
fn the_quick_start_shows_transitions_within_seconds() {
    let _turn = common::default_instance_lock();
    let sandbox = Sandbox::new();
    copy("conf.d/demo.conf", &sandbox);
    copy("conf.d/demo.d/services.conf", &sandbox);
    copy("var/.gitignore", &sandbox);
    let args = quick_start_args();
    assert_eq!(args, ["-f", "conf.d/demo.conf", "-d", "conf.d/demo.d"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let daemon = DaemonProcess::start(sandbox.root(), &args);
    let file = sandbox.path("var/anycast-prefixes.conf");
    let prefixes = || file_prefixes(&file).unwrap_or_default();
    common::wait_for("always-up to be advertised", Duration::from_secs(10), || {
        prefixes() == ["10.189.200.255/32", "10.52.12.1/32"]
    });
    daemon.wait_for_log("always-down  changed to DOWN", Duration::from_secs(10));
    sandbox.write("var/flaky-is-up", "");
    common::wait_for("flaky to be advertised", Duration::from_secs(10), || prefixes().len() == 3);
    std::fs::remove_file(sandbox.path("var/flaky-is-up")).unwrap();
    common::wait_for("flaky to be withdrawn", Duration::from_secs(10), || prefixes().len() == 2);
    assert!(daemon.log().contains("reconfigured BIRD daemon"));
}

#[test]
fn the_example_configs_pass_check() {
    let sandbox = Sandbox::new();
    let root = sandbox.root().display().to_string();
    sandbox.mkdir("lib/6");
    sandbox.mkdir("run");
    let main = std::fs::read_to_string(Path::new(ROOT).join("conf.d/anycast-healthchecker.conf"))
        .unwrap()
        .replace("/var/lib/anycast-healthchecker", &format!("{root}/lib"))
        .replace("/var/run/anycast-healthchecker", &format!("{root}/run"))
        .replace("sudo /usr/sbin/birdc6 configure", "/bin/true")
        .replace("sudo /usr/sbin/birdc configure", "/bin/true")
        .replace("ipv6 = false", "ipv6 = true");
    sandbox.write("main.conf", &main);
    for example in ["web.conf", "dns6.conf"] {
        let mut text =
            std::fs::read_to_string(Path::new(ROOT).join("conf.d/anycast-healthchecker.d").join(example))
                .unwrap();
        // The examples' own programs may not be on a build machine.
        for program in ["/usr/bin/curl", "/usr/bin/dig"] {
            if !Path::new(program).exists() {
                text = text.replace(program, "/bin/true");
            }
        }
        sandbox.write(&format!("conf.d/{example}"), &text);
    }
    let output = sandbox.run(&["-f", "main.conf", "-d", "conf.d", "-c"]);
    assert_eq!(common::stdout(&output), "OK\n", "{}", common::stderr(&output));
    assert_eq!(common::stderr(&output), "", "the examples cause no warning");
    let demo = Sandbox::new();
    copy("conf.d/demo.conf", &demo);
    copy("conf.d/demo.d/services.conf", &demo);
    copy("var/.gitignore", &demo);
    let output = demo.run(&["-f", "conf.d/demo.conf", "-d", "conf.d/demo.d", "-c"]);
    assert_eq!(common::stdout(&output), "OK\n", "{}", common::stderr(&output));
}
