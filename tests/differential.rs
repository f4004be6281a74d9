//! Our parsers against Python's own, on generated input: upstream read `ip_prefix`
//! with `ipaddress.ip_network`, so every string it took must mean the same prefix to
//! us, and every string it refused must be refused, except the deliberate differences
//! pinned here (and listed in README.rst, "Differences from upstream").
//!
//! A seeded generator makes the inputs; `AHC_DIFFERENTIAL_COUNT` asks for more than the
//! default, `AHC_DIFFERENTIAL_SEED` for another seed. The counts are printed.

use std::io::Write;
use std::process::{Command, Stdio};
use std::str::FromStr;

use anycast_healthchecker::config::prefix::IpPrefix;

use crate::common;

/// Python's answer for each line: the network as `str(ip_network(line))`, or `ERR`.
const PYTHON_PREFIXES: &str = r#"
import ipaddress, sys
for line in sys.stdin.read().split("\n")[:-1]:
    try:
        print(ipaddress.ip_network(line))
    except Exception:
        print("ERR")
"#;

/// xorshift64*: small, seeded, the same sequence on every machine.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len() as u64) as usize]
    }
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
    let count: usize =
        std::env::var("AHC_DIFFERENTIAL_COUNT").ok().and_then(|c| c.parse().ok()).unwrap_or(5000);
    let seed: u64 =
        std::env::var("AHC_DIFFERENTIAL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed);
    let mut random = Random(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let inputs: Vec<String> = (0..count).map(|_| prefix_like(&mut random)).collect();
    let mut python = match Command::new("python3")
        .args(["-c", PYTHON_PREFIXES])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(err) => return common::skip_or_fail(&format!("python3 is needed ({err})")),
    };
    // Python reads all of its input before it answers: no pipe can fill both ways.
    let mut stdin = python.stdin.take().expect("stdin");
    for input in &inputs {
        writeln!(stdin, "{input}").expect("write to python3");
    }
    drop(stdin);
    let output = python.wait_with_output().expect("python3");
    assert!(output.status.success(), "python3 failed");
    let answers: Vec<String> = String::from_utf8_lossy(&output.stdout).lines().map(String::from).collect();
    assert_eq!(answers.len(), inputs.len(), "one answer per input");

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
