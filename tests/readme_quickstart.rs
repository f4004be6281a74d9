//! README.rst's "Quick start with real Bird", run as written: its shell blocks, in
//! order, in one bash, as root, with `AHC` set to the binary under test. If the README
//! drifts from what works, this fails.

use crate::common;

use std::path::Path;
use std::process::Command;

const SECTION: &str = "Quick start with real Bird";

/// The literal blocks (after a line ending in `::`) of the README section `title`.
fn shell_blocks(readme: &str, title: &str) -> Vec<String> {
    let start = readme.find(&format!("{title}\n")).expect("the section");
    let lines: Vec<&str> = readme[start..].lines().collect();
    // The section ends at the next heading (a line of '=' or '-' under a title).
    let end = (2..lines.len())
        .find(|&i| {
            let underline = lines[i].trim_end();
            !underline.is_empty()
                && underline.chars().all(|c| c == '-' || c == '=')
                && !lines[i - 1].trim().is_empty()
        })
        .map_or(lines.len(), |i| i - 1);
    // A literal block: the indented lines after a paragraph that ends in `::`, up to
    // the first line that is not indented.
    let mut blocks = Vec::new();
    let mut i = 2;
    while i < end {
        i += 1;
        if !lines[i - 1].trim_end().ends_with("::") {
            continue;
        }
        let mut block = Vec::new();
        while i < end && (lines[i].trim().is_empty() || lines[i].starts_with("    ")) {
            block.push(lines[i].strip_prefix("    ").unwrap_or("").to_string());
            i += 1;
        }
        blocks.push(block.join("\n").trim().to_string());
    }
    blocks
}

#[test]
fn the_readme_quick_start_with_real_bird_works_as_written() {
    if !common::root_or_skip() {
        return;
    }
    let _turn = common::default_instance_lock();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.rst")).unwrap();
    let blocks = shell_blocks(&readme, SECTION);
    assert_eq!(blocks.len(), 6, "the section has its six steps: {blocks:#?}");
    let script = format!("set -euo pipefail\n{}\n", blocks.join("\n"));
    let output = Command::new("bash")
        .args(["-c", &script])
        .current_dir(root)
        .env("AHC", common::binary())
        .output()
        .unwrap();
    let (out, err) = (common::stdout(&output), common::stderr(&output));
    assert!(
        output.status.success(),
        "the quick start failed:\n{script}\n--- stdout\n{out}\n--- stderr\n{err}"
    );
    // Step 5 printed the route Bird exports, and `-c` said OK.
    assert!(out.contains("OK\n"), "{out}");
    assert!(out.lines().any(|l| l.starts_with("10.52.12.1/32")), "{out}");
    assert!(!out.contains("10.189.200.255"), "a dummy passed the export filter: {out}");
}
