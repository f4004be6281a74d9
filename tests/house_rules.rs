//! Rules of the source tree that no compiler holds: one name per type in the crate,
//! `unsafe` only in `src/sys/os.rs` and `src/sys/spawn/` (the `[lints]` table denies it
//! elsewhere, but an `allow` could creep in), and a module map in `src/lib.rs` that matches the
//! folders.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).expect("src/").map(|e| e.expect("entry").path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn relative(path: &Path) -> String {
    path.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap_or(path).display().to_string()
}

/// The type a line defines, if any: `struct`, `enum`, `trait`, `union` anywhere, and a
/// `type` alias at the top of a module (one inside a function or an impl is local).
fn defined_type(line: &str) -> Option<&str> {
    let indented = line.starts_with(' ');
    let mut words = line.split_whitespace().skip_while(|w| w.starts_with("pub"));
    let kind = words.next()?;
    let kind_ok = matches!(kind, "struct" | "enum" | "trait" | "union") || (kind == "type" && !indented);
    let word = words.next()?;
    let name = &word[..word.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(word.len())];
    (kind_ok && name.starts_with(|c: char| c.is_ascii_uppercase())).then_some(name)
}

#[test]
fn every_type_name_is_defined_once_in_the_crate() {
    let mut files = Vec::new();
    sources(&src(), &mut files);
    let mut defined: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read");
        for (number, line) in text.lines().enumerate() {
            if let Some(name) = defined_type(line) {
                defined.entry(name.to_string()).or_default().push(format!(
                    "{}:{}",
                    relative(file),
                    number + 1
                ));
            }
        }
    }
    assert!(defined.len() > 50, "the scan found the crate's types: {defined:?}");
    let twice: Vec<String> = defined
        .iter()
        .filter(|(_, places)| places.len() > 1)
        .map(|(name, places)| format!("{name}: {}", places.join(", ")))
        .collect();
    assert!(
        twice.is_empty(),
        "type names defined more than once (name one thing once):\n{}",
        twice.join("\n")
    );
}

#[test]
fn the_type_scan_sees_what_it_should() {
    let table = [
        ("pub struct Alert {", Some("Alert")),
        ("pub(crate) enum Target {", Some("Target")),
        ("    struct Local;", Some("Local")),
        ("pub type ProbeResult = Result<(), Failure>;", Some("ProbeResult")),
        ("    type Err = PrefixError;", None),
        ("pub trait Clock {", Some("Clock")),
        ("// struct Commented", None),
        ("let struct_like = 1;", None),
        ("pub fn enum_names() {}", None),
    ];
    for (line, name) in table {
        assert_eq!(defined_type(line), name, "{line:?}");
    }
}

#[test]
fn unsafe_code_lives_only_in_sys_os_and_sys_spawn() {
    let mut files = Vec::new();
    sources(&src(), &mut files);
    let outside: Vec<String> = files
        .iter()
        .filter(|file| **file != src().join("sys/os.rs") && !file.starts_with(src().join("sys/spawn")))
        .filter(|file| {
            std::fs::read_to_string(file).expect("read").lines().any(|line| {
                let code = line.split("//").next().unwrap_or("");
                code.contains("unsafe ") || code.contains("unsafe{")
            })
        })
        .map(|file| relative(file))
        .collect();
    assert!(
        outside.is_empty(),
        "unsafe outside src/sys/os.rs and src/sys/spawn/ (add a safe wrapper to sys::os): {outside:?}"
    );
}

#[test]
fn the_module_map_in_lib_rs_names_every_folder() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).expect("lib.rs");
    let mut folders: Vec<String> = std::fs::read_dir(src())
        .expect("src/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    folders.sort();
    for folder in &folders {
        assert!(lib.contains(&format!("//! - `{folder}`: ")), "src/lib.rs's module map lacks {folder}/");
        assert!(lib.contains(&format!("pub mod {folder};")), "src/lib.rs does not declare {folder}");
    }
    let loose: Vec<String> = std::fs::read_dir(src())
        .expect("src/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_file())
        .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
        .filter(|name| !["main.rs", "lib.rs", "cli.rs"].contains(&name.as_str()))
        .collect();
    assert!(loose.is_empty(), "src/ holds main.rs, lib.rs, cli.rs and folders only: {loose:?}");
}
