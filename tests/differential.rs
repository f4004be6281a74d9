//! Our parsers against Python's own, on generated input: upstream read its files with
//! `configparser.ConfigParser()`, `ip_prefix` with `ipaddress.ip_network` and commands
//! with `shlex.split`, so every
//! input it took must mean the same to us, and every input it refused must be refused,
//! except the deliberate differences pinned here (and listed in README.rst,
//! "Differences from upstream").
//!
//! A seeded generator makes the inputs; `AHC_DIFFERENTIAL_COUNT` asks for more than the
//! default, `AHC_DIFFERENTIAL_SEED` for another seed. The counts are printed.

use std::io::Write;
use std::process::{Command, Stdio};
use std::str::FromStr;

use anycast_healthchecker::config::prefix::IpPrefix;
use anycast_healthchecker::config::{ini_view, IniView};
use anycast_healthchecker::sys::shlex_words;

use crate::common;
use crate::common::random::Random;

/// Python's answer for each prefix (a JSON list on stdin): the network as
/// `str(ip_network(text))`, or `ERR`.
const PYTHON_PREFIXES: &str = r#"
import ipaddress, json, sys
for text in json.load(sys.stdin):
    try:
        print(ipaddress.ip_network(text))
    except Exception:
        print("ERR")
"#;

/// Python's view of each INI text (read from a JSON list on stdin): per text, `["OK",
/// {section: {key: value}}]` with values interpolated, or `["ERR", exception name]`.
const PYTHON_INI: &str = r#"
import configparser, json, sys
for text in json.load(sys.stdin):
    parser = configparser.ConfigParser()
    try:
        parser.read_string(text)
        view = {name: dict(parser.items(name)) for name in parser.sections()}
        print(json.dumps(["OK", view]))
    except Exception as err:
        print(json.dumps(["ERR", type(err).__name__]))
"#;

/// Runs `script` with `input` on stdin and returns its stdout's lines; None (after a
/// loud skip, or a failure under CI=true) without python3.
fn python(script: &str, input: &str) -> Option<Vec<String>> {
    let mut child = match Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(err) => {
            common::skip_or_fail(&format!("python3 is needed ({err})"));
            return None;
        }
    };
    // Python reads all of its input before it answers: no pipe can fill both ways.
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input.as_bytes()).expect("write to python3");
    drop(stdin);
    let output = child.wait_with_output().expect("python3");
    assert!(output.status.success(), "python3 failed");
    Some(String::from_utf8_lossy(&output.stdout).lines().map(String::from).collect())
}

fn count_and_seed() -> (usize, u64) {
    let count = std::env::var("AHC_DIFFERENTIAL_COUNT").ok().and_then(|c| c.parse().ok());
    let seed = std::env::var("AHC_DIFFERENTIAL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed);
    (count.unwrap_or(5000), seed)
}

/// One prefix-like string: mostly well-formed networks of every spelling Python takes
/// (lengths with leading zeros, netmasks, hostmasks, IPv6 forms), mixed with the near
/// misses real files hold (host bits, octets out of range, spaces, signs, scopes).
fn prefix_like(random: &mut Random) -> String {
    let v4 = random.below(2) == 0;
    let len = if v4 { random.below(33) } else { random.below(129) } as u32;
    let mut address = if v4 {
        let bits = random.next() as u32;
        let network =
            if random.below(4) == 0 { bits } else { bits & u32::MAX.checked_shl(32 - len).unwrap_or(0) };
        let octets = network.to_be_bytes();
        match random.below(10) {
            0 => format!("{:03}.{}.{}.{}", octets[0], octets[1], octets[2], octets[3]),
            1 => format!("{}.{}.{}.{}", random.below(300), octets[1], octets[2], octets[3]),
            2 => format!("{}.{}.{}", octets[0], octets[1], octets[2]),
            _ => format!("{}.{}.{}.{}", octets[0], octets[1], octets[2], octets[3]),
        }
    } else {
        let bits = (u128::from(random.next()) << 64) | u128::from(random.next());
        let bits = if random.below(3) == 0 { bits >> random.below(128) } else { bits };
        let network =
            if random.below(4) == 0 { bits } else { bits & u128::MAX.checked_shl(128 - len).unwrap_or(0) };
        let text = std::net::Ipv6Addr::from(network).to_string();
        match random.below(8) {
            0 => text.to_uppercase(),
            1 => format!("{text}%eth0"),
            2 => format!(
                "::ffff:{}.{}.{}.{}",
                random.below(256),
                random.below(256),
                random.below(256),
                random.below(256)
            ),
            3 => std::net::Ipv6Addr::from(network).segments().map(|s| format!("{s:04x}")).join(":"),
            _ => text,
        }
    };
    let suffix = match random.below(12) {
        0 => String::new(),
        1 => format!("/0{len}"),
        2 if v4 => {
            let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            format!("/{}", std::net::Ipv4Addr::from(mask))
        }
        3 if v4 => {
            let host = !u32::MAX.checked_shl(32 - len).unwrap_or(0);
            format!("/{}", std::net::Ipv4Addr::from(host))
        }
        4 => format!("/{}", std::net::Ipv4Addr::from(random.next() as u32)),
        5 => format!("/{}{len}", random.pick(&["+", "-", " ", "", "٣"])),
        6 => format!("/{}", random.below(300)),
        7 => format!("/{len}{}", random.pick(&[" ", "/1", "\t", ".0", ""])),
        _ => format!("/{len}"),
    };
    if random.below(20) == 0 {
        address.insert(0, ' ');
    }
    address + &suffix
}

/// Inputs where we answer otherwise than Python on purpose, with why.
fn deliberate(input: &str, python: &str) -> Option<&'static str> {
    (input.contains('%') && python != "ERR")
        .then_some("an IPv6 scope (fe80::1%eth0) cannot be in a Bird prefix set: refused")
}

#[test]
fn prefixes_mean_what_pythons_ip_network_says() {
    let (count, seed) = count_and_seed();
    let mut random = Random::new(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let inputs: Vec<String> = (0..count).map(|_| prefix_like(&mut random)).collect();
    let Some(answers) = ask_python(PYTHON_PREFIXES, &inputs) else { return };

    let (mut taken, mut differences, mut deliberate_ones) = (0, Vec::new(), 0);
    for (input, python) in inputs.iter().zip(&answers) {
        let ours = IpPrefix::from_str(input).ok();
        let theirs = (python != "ERR").then(|| IpPrefix::from_str(python).ok()).flatten();
        taken += usize::from(python != "ERR");
        if ours == theirs && (python == "ERR") == ours.is_none() {
            continue;
        }
        match deliberate(input, python) {
            Some(_) if ours.is_none() => deliberate_ones += 1,
            _ => differences
                .push(format!("{input:?}: Python {python:?}, ours {:?}", ours.map(|p| p.to_string()))),
        }
    }
    println!(
        "prefixes: {count} inputs (seed {seed:#x}), {taken} taken by Python, {} differences, {deliberate_ones} deliberate",
        differences.len()
    );
    assert!(taken > count / 4 && taken < count, "the generator reaches both answers: {taken} of {count}");
    assert!(differences.is_empty(), "{} differences:\n{}", differences.len(), differences.join("\n"));
}

/// One INI text: lines drawn from what real files hold and from the edges where
/// parsers part ways (section headers with extra text, `[x = 1`, indented comments,
/// continuation lines, `%` interpolation, duplicates, DEFAULT, keys with no value,
/// odd whitespace and Unicode).
fn ini_like(random: &mut Random) -> String {
    let names = ["web", "dns", "DEFAULT", "Web", "a b", "x"];
    let keys = ["check_cmd", "Check_Cmd", "ip_prefix", "a", "b", "key with space", "ä", "on"];
    let values = [
        "/bin/true",
        "10.0.0.1/32",
        "%(a)s",
        "x %(b)s y",
        "100%%",
        "5%",
        "%(missing)s",
        "%(A)s",
        "a # not a comment",
        "tab\there",
        "",
        "  spaced  ",
        "ünïcödé",
        "=",
        "[x]",
    ];
    let mut text = String::new();
    if random.below(4) != 0 {
        text.push_str(&format!("[{}]\n", random.pick(&names)));
    }
    for _ in 0..random.below(12) {
        let line = match random.below(20) {
            0 => format!("[{}]", random.pick(&names)),
            1 => format!("[{}] trailing", random.pick(&names)),
            2 => format!("[{} = 1", random.pick(&keys)),
            3 => format!("  [{}]", random.pick(&names)),
            4 => format!("{}# comment", random.pick(&["", "  ", "\t"])),
            5 => format!("{}; comment", random.pick(&["", "  "])),
            6 => format!("    {}", random.pick(&values)),
            7 => String::new(),
            8 => random.pick(&keys).to_string(),
            9 => format!("{}: {}", random.pick(&keys), random.pick(&values)),
            10 => format!("{}{}={}", random.pick(&keys), random.pick(&["", " ", "\t"]), random.pick(&values)),
            11 => format!(" {} = {}", random.pick(&keys), random.pick(&values)),
            12 => format!("{} = {}\u{a0}", random.pick(&keys), random.pick(&values)),
            _ => format!("{} = {}", random.pick(&keys), random.pick(&values)),
        };
        text.push_str(&line);
        text.push('\n');
    }
    text
}

/// INI texts we refuse on purpose where Python reads them, with why.
fn ini_deliberate(text: &str) -> Option<&'static str> {
    let lines = || text.lines().map(str::trim);
    if lines().any(|l| l.starts_with('[') && !l.contains(']') && l.contains(['=', ':'])) {
        return Some("`[web2 = 1` is a key named `[web2` to Python: refused as a header that lost its ']'");
    }
    None
}

/// Python's answer for each input, sent as a JSON list on its stdin: one line each.
fn ask_python(script: &str, inputs: &[String]) -> Option<Vec<String>> {
    let json = format!("[{}]", inputs.iter().map(|t| json_string(t)).collect::<Vec<_>>().join(","));
    let answers = python(script, &json)?;
    assert_eq!(answers.len(), inputs.len(), "one answer per input");
    Some(answers)
}

/// JSON string escaping for the texts sent to Python.
fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Python's answer as ours is shaped: sections in any order, keys sorted.
fn python_view(answer: &str) -> Option<IniView> {
    let value: serde_json::Value = serde_json::from_str(answer).expect("python's JSON");
    if value[0] != "OK" {
        return None;
    }
    let mut view: Vec<(String, Vec<(String, String)>)> = value[1]
        .as_object()
        .expect("sections")
        .iter()
        .map(|(name, keys)| {
            let mut keys: Vec<(String, String)> = keys
                .as_object()
                .expect("keys")
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect();
            keys.sort();
            (name.clone(), keys)
        })
        .collect();
    view.sort();
    Some(view)
}

#[test]
fn ini_files_read_as_pythons_configparser_reads_them() {
    let (count, seed) = count_and_seed();
    let mut random = Random::new(seed.wrapping_mul(0xbf58_476d_1ce4_e5b9));
    let texts: Vec<String> = (0..count).map(|_| ini_like(&mut random)).collect();
    let Some(answers) = ask_python(PYTHON_INI, &texts) else { return };
    let (mut taken, mut differences, mut deliberate_ones) = (0, Vec::new(), 0);
    for (text, answer) in texts.iter().zip(&answers) {
        let theirs = python_view(answer);
        let ours = ini_view(text).ok().map(|mut view| {
            for (_, keys) in &mut view {
                keys.sort();
            }
            view.sort();
            view
        });
        taken += usize::from(theirs.is_some());
        if ours.is_none() && theirs.is_some() && ini_deliberate(text).is_some() {
            deliberate_ones += 1;
            continue;
        }
        if ours != theirs {
            differences.push(format!("{text:?}\n  Python: {answer}\n  ours:   {:?}", ini_view(text)));
        }
    }
    println!(
        "INI: {count} texts (seed {seed:#x}), {taken} read by Python, {} differences, {deliberate_ones} deliberate",
        differences.len()
    );
    assert!(taken > count / 4 && taken < count, "the generator reaches both answers: {taken} of {count}");
    let shown: Vec<&String> = differences.iter().take(20).collect();
    assert!(
        differences.is_empty(),
        "{} differences, the first:\n{}",
        differences.len(),
        shown.iter().map(|d| d.as_str()).collect::<Vec<_>>().join("\n")
    );
}

/// Python's words for each command (a JSON list on stdin): `["OK", [words]]` or
/// `["ERR", exception name]`.
const PYTHON_SHLEX: &str = r#"
import json, shlex, sys
for line in json.load(sys.stdin):
    try:
        print(json.dumps(["OK", shlex.split(line)]))
    except Exception as err:
        print(json.dumps(["ERR", type(err).__name__]))
"#;

/// One command line: words, quotes, escapes and every kind of Unicode whitespace.
fn command_like(random: &mut Random) -> String {
    let pieces = [
        "/bin/sh",
        "-c",
        "curl",
        "'a b'",
        "\"a b\"",
        "\"a \\\" b\"",
        "\"a \\x\"",
        "'",
        "\"",
        "\\",
        "\\ ",
        "a\\b",
        "#",
        "x#y",
        "$HOME",
        "'it'\"'\"'s'",
        "\u{a0}",
        "\u{b}",
        "\u{c}",
        "\u{85}",
        "\u{2003}",
        "\u{3000}",
        " ",
        "\t",
        "\n",
        "\r",
        "ünï",
        "a=b",
        ";",
        "|",
        "&&",
        "''",
        "\"\"",
    ];
    (0..random.below(8)).map(|_| random.pick(&pieces)).collect::<Vec<_>>().join(random.pick(&[" ", "", "  "]))
}

#[test]
fn commands_split_as_pythons_shlex_splits_them() {
    let (count, seed) = count_and_seed();
    let mut random = Random::new(seed.wrapping_mul(0x94d0_49bb_1331_11eb));
    let lines: Vec<String> = (0..count).map(|_| command_like(&mut random)).collect();
    let Some(answers) = ask_python(PYTHON_SHLEX, &lines) else { return };
    let (mut split, mut differences) = (0, Vec::new());
    for (line, answer) in lines.iter().zip(&answers) {
        let value: serde_json::Value = serde_json::from_str(answer).expect("python's JSON");
        let theirs: Option<Vec<String>> = (value[0] == "OK").then(|| {
            value[1]
                .as_array()
                .expect("words")
                .iter()
                .map(|w| w.as_str().unwrap_or_default().to_string())
                .collect()
        });
        split += usize::from(theirs.is_some());
        let ours = shlex_words(line).ok();
        if ours != theirs {
            differences.push(format!("{line:?}\n  Python: {answer}\n  ours:   {ours:?}"));
        }
    }
    println!(
        "commands: {count} lines (seed {seed:#x}), {split} split by Python, {} differences, 0 deliberate",
        differences.len()
    );
    assert!(split > count / 4 && split < count, "the generator reaches both answers: {split} of {count}");
    let shown: Vec<&str> = differences.iter().take(20).map(String::as_str).collect();
    assert!(differences.is_empty(), "{} differences, the first:\n{}", differences.len(), shown.join("\n"));
}
