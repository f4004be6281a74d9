//! SIGKILL at random moments during a write storm never leaves a torn Bird file: after
//! every kill the file parses, holds the dummy and nothing it cannot read, and temp
//! files do not pile up (the next start removes what a kill left).

use std::time::Duration;

use crate::common::Setup;
use anycast_healthchecker::bird::file;

#[test]
fn kill_9_during_a_write_storm_never_tears_the_file() {
    let setup = Setup::new("", "check_interval = 0.01\ncheck_timeout = 0.009");
    // Twenty services whose checks pass or fail at random (the shell's pid parity), so
    // the writer rewrites the file all the time.
    for n in 0..20 {
        setup.service(
            &format!("flip{n}"),
            &format!("check_cmd = /bin/sh -c 'exit $(($$ %% 2))'\nip_prefix = 10.61.0.{}", n + 1),
        );
    }
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D ^ u64::from(std::process::id());
    let mut random_millis = |limit: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % limit
    };
    let bird_file = setup.path("lib/4.conf");
    let mut writes_seen = 0;
    let mut written_by_killed = 0;
    for iteration in 0..200 {
        let daemon = setup.start();
        let pid = daemon.pid();
        std::thread::sleep(Duration::from_millis(5 + random_millis(60)));
        daemon.signal(libc::SIGKILL);
        drop(daemon);
        let Ok(text) = std::fs::read_to_string(&bird_file) else {
            // Killed before the very first write; once written, the file never goes.
            assert_eq!(writes_seen, 0, "the file disappeared after iteration {iteration}");
            continue;
        };
        writes_seen += 1;
        if text.contains(&format!("(pid={pid})")) {
            written_by_killed += 1;
        }
        let parsed = file::parse(&text);
        assert!(parsed.unreadable.is_empty(), "iteration {iteration}: torn file:\n{text}");
        assert_eq!(parsed.variable.as_deref(), Some("ACAST_PS_ADVERTISE"), "iteration {iteration}:\n{text}");
        assert!(text.ends_with("    ];\n"), "iteration {iteration}: truncated file:\n{text}");
        assert!(
            parsed.prefixes.iter().any(|p| p.to_string() == "10.189.200.255/32"),
            "iteration {iteration}: no dummy:\n{text}"
        );
        let temps = temp_files(&setup);
        assert!(temps.len() <= 1, "iteration {iteration}: temp files pile up: {temps:?}");
    }
    println!("{writes_seen} files checked, {written_by_killed} last written by the killed daemon");
    assert!(written_by_killed >= 100, "the storm wrote too little to prove anything");
    // A clean run removes what the last kill left.
    let mut daemon = setup.start();
    daemon.wait_for_log("loading check for flip19", Duration::from_secs(10));
    daemon.signal(libc::SIGTERM);
    assert_eq!(daemon.wait_exit(Duration::from_secs(10)), Some(0));
    assert_eq!(temp_files(&setup), Vec::<String>::new());
}

fn temp_files(setup: &Setup) -> Vec<String> {
    std::fs::read_dir(setup.path("lib"))
        .expect("lib dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".tmp."))
        .collect()
}
