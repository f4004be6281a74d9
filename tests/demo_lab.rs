//! The operator's demo, `packaging/lab/anycast-lab`, run as README.rst says: it builds
//! two anycast hosts behind a router and a client, tells its story (both healthy, A in
//! maintenance, A back, A's web server killed, restarted), prints the client's view and
//! removes everything; without what it needs, it says what is missing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::bird::tools;
use crate::common::{self, stderr, stdout};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/lab/anycast-lab")
}

/// One row of the demo's closing table: a state's requests (counted by when they
/// started), to A, to B, failed.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Counts {
    requests: u32,
    to_a: u32,
    to_b: u32,
    failed: u32,
}

/// The closing table, by state: rows of a 42-column name and four numbers (then how
/// the failures failed).
fn summary(out: &str) -> HashMap<String, Counts> {
    let table = out.split("state (requests counted by when they started)").nth(1).unwrap_or("");
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let (name, numbers) = (line.get(2..44)?.trim(), line.get(44..)?);
            let n: Vec<u32> = numbers.split_whitespace().take(4).map_while(|n| n.parse().ok()).collect();
            let &[requests, to_a, to_b, failed] = &n[..] else { return None };
            Some((name.to_string(), Counts { requests, to_a, to_b, failed }))
        })
        .collect()
}

fn lab_namespaces() -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().expect("ip netns list");
    stdout(&out).lines().filter(|l| l.starts_with("ahdemo-")).map(str::to_string).collect()
}

#[test]
fn the_demo_tells_its_story_and_leaves_nothing_behind() {
    if !common::root_or_skip() {
        return;
    }
    let tools = tools();
    let out: Output = Command::new(script())
        .args(["demo", "--seconds", "2", "--daemon", common::binary()])
        .env("BIRD", &tools.bird2)
        .env("BIRDC", &tools.birdc2)
        .output()
        .expect("run anycast-lab");
    let text = stdout(&out);
    println!("{text}");
    assert!(out.status.success(), "the demo failed:\n{text}\n{}", stderr(&out));
    let states = summary(&text);
    let state = |name: &str| *states.get(name).unwrap_or_else(|| panic!("no row for {name:?} in:\n{text}"));

    // Steady states begin once the router's route followed the change: every request
    // in them went where the route said, and none failed.
    for name in ["both healthy", "both healthy again", "A restored"] {
        let row = state(name);
        assert!(row.to_a > 0 && row.to_b > 0, "{name}: both hosts answer: {row:?}");
        assert_eq!(row.failed, 0, "{name}: {row:?}");
    }
    for name in ["A in maintenance", "A's web server down"] {
        let row = state(name);
        assert_eq!((row.to_a, row.failed), (0, 0), "{name}: B answers everything: {row:?}");
        assert!(row.to_b > 0, "{name}: {row:?}");
    }
    // The change itself: a dead server fails the requests hashed to A until the
    // daemon withdraws it; a drain fails none of them.
    assert!(state("A's web server killed").failed > 0, "the client saw the dead server");
    assert!(text.contains("refused x"), "a dead server refuses connections:\n{text}");

    let work = text
        .lines()
        .find_map(|line| line.strip_prefix("anycast-lab: building the lab in "))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the lab's directory");
    assert!(!Path::new(work).exists(), "{work} removed");
    assert!(lab_namespaces().is_empty(), "the lab's namespaces removed: {:?}", lab_namespaces());
}

#[test]
fn the_demo_says_what_is_missing() {
    let run = |bird: &Path, python: &str| {
        Command::new(script())
            .arg("check")
            .env("BIRD", bird)
            .env("BIRDC", bird.with_file_name("birdc"))
            .env("PYTHON", python)
            .output()
            .expect("run anycast-lab check")
    };
    let out = run(Path::new("/nonexistent/bird"), "/nonexistent/python3");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let said = stderr(&out);
    for missing in [
        "anycast-lab: missing: bird and birdc (Bird 2 or newer): apt-get install bird2 | dnf install bird (EPEL)",
        "anycast-lab: missing: python3: apt-get install python3 | dnf install python3",
    ] {
        assert!(said.lines().any(|line| line == missing), "{missing:?} in:\n{said}");
    }

    let bird16 = tools().bird16_dir.join("bird");
    let out = run(&bird16, "python3");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("missing: Bird 2 or newer: ") && stderr(&out).contains("BIRD version 1.6"),
        "Bird 1.6 is not enough: {}",
        stderr(&out)
    );
}

#[test]
fn the_demo_summary_is_read_by_state() {
    let out = "  state (requests counted by when they started) requests   to A   to B failed  how\n\
               \x20 both healthy                                    292    157    135      0  \n\
               \x20 A's web server killed                          196      0    107     89  refused x89\n";
    let states = summary(out);
    assert_eq!(states["both healthy"], Counts { requests: 292, to_a: 157, to_b: 135, failed: 0 });
    assert_eq!(states["A's web server killed"], Counts { requests: 196, to_a: 0, to_b: 107, failed: 89 });
    assert_eq!(states.len(), 2);
}
