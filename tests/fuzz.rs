//! Mutation fuzzing of the parsers that read input we do not control: the
//! configuration reader (INI semantics, interpolation, every key's rules), the Bird
//! prefix-file parser, and what the native probes read off the network (DNS replies,
//! HTTP status lines and headers, chunked bodies, certificates' expiry dates). Every
//! case must return (Ok or Err) without a panic and fast.
//!
//! CI runs a fixed number of cases. `FUZZ_SECONDS=600 cargo test --release --test integration fuzz::
//! -- --nocapture` runs each target for that long instead (README.rst, Test). A failing
//! input is saved under target/fuzz-failures/.

use crate::common::random::Random;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant};

use anycast_healthchecker::bird::file;
use anycast_healthchecker::config;
use anycast_healthchecker::service::probe::{der, dns, http};

/// Cases per target when FUZZ_SECONDS is not set.
const CI_CASES: u64 = 20_000;

/// A case slower than this is a hang.
const HANG: Duration = Duration::from_secs(2);

const TOKENS: &[&str] = &[
    "[",
    "]",
    "[DEFAULT]",
    "[daemon]",
    "[svc]",
    "=",
    ":",
    "\n",
    "\n  ",
    "#",
    ";",
    "%",
    "%%",
    "%(",
    ")s",
    "%(check_cmd)s",
    "%(a)s",
    "check_cmd",
    "ip_prefix",
    "check_interval",
    "1e309",
    "nan",
    "-1",
    "0",
    "1_0",
    "true",
    "maybe",
    "'",
    "\"",
    "\\",
    "10.0.0.1",
    "/32",
    "::",
    "2001:db8::1/128",
    "define",
    "ACAST_PS_ADVERTISE",
    ",",
    "/*",
    "*/",
    "\u{feff}",
    "\r\n",
    "é",
    "\0",
    "\t",
    "none",
    "/bin/true",
    "sh -c '",
    "interface",
    "on_exit",
    "dummy_ip_prefix",
];

/// One random edit of `input`, sometimes spliced with `other`.
fn mutate(rng: &mut Random, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut bytes = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(6) {
            0 if !bytes.is_empty() => {
                let i = rng.below(bytes.len());
                bytes[i] = rng.next() as u8;
            }
            1 => {
                let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
                bytes.splice(at..at, token.iter().copied());
            }
            2 if !bytes.is_empty() => {
                let end = (at + rng.below(16)).min(bytes.len());
                bytes.drain(at.min(end)..end);
            }
            3 if !bytes.is_empty() => {
                let start = rng.below(bytes.len());
                let end = (start + rng.below(64)).min(bytes.len());
                let copy = bytes[start..end].to_vec();
                bytes.splice(at..at, copy);
            }
            4 => {
                let cut = rng.below(other.len() + 1);
                bytes.truncate(at);
                bytes.extend_from_slice(&other[cut..]);
            }
            _ => bytes.insert(at.min(bytes.len()), b"\n=[]%:"[rng.below(6)]),
        }
    }
    bytes
}

/// Runs a text `target` on mutations of `seeds` (invalid UTF-8 replaced).
fn fuzz(name: &str, seeds: &[String], target: impl Fn(&str)) {
    let seeds: Vec<Vec<u8>> = seeds.iter().map(|s| s.as_bytes().to_vec()).collect();
    fuzz_bytes(name, &seeds, |bytes| target(&String::from_utf8_lossy(bytes)));
}

/// Runs `target` on mutations of `seeds` for the CI case count or FUZZ_SECONDS.
fn fuzz_bytes(name: &str, seeds: &[Vec<u8>], target: impl Fn(&[u8])) {
    let budget =
        std::env::var("FUZZ_SECONDS").ok().and_then(|s| s.parse::<u64>().ok()).map(Duration::from_secs);
    let started = Instant::now();
    let mut rng = Random::new(0x9E37_79B9_7F4A_7C15 ^ name.len() as u64);
    let mut corpus: Vec<Vec<u8>> = seeds.to_vec();
    let mut cases = 0u64;
    loop {
        let done = match budget {
            Some(budget) => started.elapsed() >= budget,
            None => cases >= CI_CASES,
        };
        if done {
            break;
        }
        let base = corpus[rng.below(corpus.len())].clone();
        let other = corpus[rng.below(corpus.len())].clone();
        let input = mutate(&mut rng, &base, &other);
        let case_started = Instant::now();
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| target(&input)));
        let took = case_started.elapsed();
        if outcome.is_err() || took > HANG {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-failures");
            let _ = std::fs::create_dir_all(&dir);
            let saved = dir.join(format!("{name}-{cases}.txt"));
            let _ = std::fs::write(&saved, &input);
            panic!(
                "{name}: case {cases} {} (input saved to {})",
                if took > HANG { "hung" } else { "panicked" },
                saved.display()
            );
        }
        // Keep some mutants as new seeds, so edits compound.
        if corpus.len() < 512 && rng.below(8) == 0 {
            corpus.push(input);
        }
        cases += 1;
    }
    println!("{name}: {cases} cases in {:.1} s, no panic, no hang", started.elapsed().as_secs_f64());
}

fn config_seeds() -> Vec<String> {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/print-conf");
    let mut seeds: Vec<String> = ["main.conf", "conf.d/10-services.conf", "conf.d/20-override.conf"]
        .iter()
        .map(|f| std::fs::read_to_string(fixtures.join(f)).unwrap().replace("@ROOT@", "/tmp"))
        .collect();
    seeds.push(
        std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("conf.d/anycast-healthchecker.conf"),
        )
        .unwrap(),
    );
    seeds.push(
        "[DEFAULT]\na = %(b)s\nb = %(a)s\n[s]\ncheck_cmd = /bin/true %(a)s\nip_prefix = 10.0.0.1, ::1\n"
            .into(),
    );
    seeds
}

#[test]
fn the_config_reader_never_panics_or_hangs() {
    let seeds = config_seeds();
    let daemon =
        "[daemon]\npidfile = /tmp/fuzz.pid\nbird_conf = /tmp/fuzz4.conf\nbird_reconfigure_cmd = /bin/true\n";
    fuzz("config", &seeds, |text| {
        let _ = config::load_texts(&[(Path::new("main.conf"), daemon), (Path::new("fuzz.conf"), text)]);
        let _ = config::load_texts(&[(Path::new("main.conf"), text)]);
    });
}

#[test]
fn the_prefix_file_parser_never_panics_or_hangs() {
    let seeds = vec![
        "# Generated 2026-11-24 12:16:03.743099 by anycast-healthchecker (pid=4136)\n\
         # 10.189.200.255/32 is a dummy IP Prefix. It should NOT be used and REMOVED from the constant.\n\
         define ACAST_PS_ADVERTISE =\n    [\n        10.189.200.255/32,\n        10.52.12.1/32\n    ];\n"
            .to_string(),
        "define ACAST6_PS_ADVERTISE = [ 2001:db8::1/128, fd12:aba6:57db:ffff::1/128 /* x */ ]; # y\n"
            .to_string(),
        "define V =\n\t[\n\t\t10.0.0.1,\n\t\t10.0.0.0/8+\n\t];\n".to_string(),
    ];
    fuzz("prefix-file", &seeds, |text| {
        let parsed = file::parse(text);
        // What was read renders and reads back the same.
        let header = file::Header::now();
        let again = file::parse(&file::render("V", None, &parsed.prefixes, &header));
        assert_eq!(again.prefixes, parsed.prefixes);
    });
}

#[test]
fn parsing_arbitrary_bytes_never_panics() {
    // Not mutations of real files: random bytes and random runs of the file's syntax.
    const PIECES: &[&str] = &[
        "define",
        " ",
        "\t",
        "\n",
        "\r\n",
        "[",
        "]",
        ",",
        ";",
        "=",
        "#",
        "/*",
        "*/",
        "/",
        "10.0.0.1",
        "::",
        "2001:db8::",
        "32",
        "128",
        "ACAST",
        ":",
        ".",
        "\u{feff}",
        "é",
        "\0",
        "%",
        "+",
        "{",
        "}",
    ];
    let mut rng = Random::new(0x2545_F491_4F6C_DD1D);
    for _ in 0..20_000 {
        let mut text = String::new();
        if rng.below(2) == 0 {
            let bytes: Vec<u8> = (0..rng.below(200)).map(|_| rng.next() as u8).collect();
            text.push_str(&String::from_utf8_lossy(&bytes));
        } else {
            for _ in 0..rng.below(60) {
                text.push_str(PIECES[rng.below(PIECES.len())]);
            }
        }
        let parsed = file::parse(&text);
        let again = file::parse(&file::render("V", None, &parsed.prefixes, &file::Header::now()));
        assert_eq!(again.prefixes, parsed.prefixes, "{text:?}");
    }
}

/// Hex to bytes, for replies captured from a real server.
fn unhex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

/// Replies NSD 4.6 sent to our queries (A with two records, NXDOMAIN with a SOA,
/// SOA, AAAA, TXT, NS), each with compressed names.
const DNS_REPLIES: &[&str] = &[
    "12348500000100020001000103777777026f6b04746573740000010001c00c000100010000003c0004c000020ac00c000100010000003c0004c000020bc010000200010000003c0005026e73c010c049000100010000003c00047f000001",
    "123485030001000000010000046e6f7065026f6b04746573740000010001c011000600010000003c0021026e73c0110561646d696ec0110000000100000e1000000258000151800000003c",
    "123485000001000100010001026f6b04746573740000060001c00c000600010000003c0021026e73c00c0561646d696ec00c0000000100000e1000000258000151800000003cc00c000200010000003c0002c025c025000100010000003c00047f000001",
    "12348500000100010001000103777777026f6b047465737400001c0001c00c001c00010000003c001020010db8000000000000000000000010c010000200010000003c0005026e73c010c045000100010000003c00047f000001",
    "12348500000100010001000103747874026f6b04746573740000100001c00c001000010000003c000c0b68656c6c6f20776f726c64c010000200010000003c0005026e73c010c041000100010000003c00047f000001",
    "123485000001000100000001026f6b04746573740000020001c00c000200010000003c0005026e73c00cc025000100010000003c00047f000001",
];

#[test]
fn the_dns_reply_parser_never_panics_or_hangs() {
    let seeds: Vec<Vec<u8>> = DNS_REPLIES.iter().map(|hex| unhex(hex)).collect();
    let first = dns::parse_reply(&seeds[0]).expect("a real reply parses");
    assert_eq!(first.answers.len(), 2);
    fuzz_bytes("dns-reply", &seeds, |bytes| {
        let _ = dns::parse_reply(bytes);
    });
    let mut rng = Random::new(0xD1B5_4A32_D192_ED03);
    for _ in 0..CI_CASES {
        let bytes: Vec<u8> = (0..rng.below(600)).map(|_| rng.next() as u8).collect();
        let _ = dns::parse_reply(&bytes);
    }
}

#[test]
fn the_http_response_parsers_never_panic_or_hang() {
    let seeds: Vec<Vec<u8>> = [
        &b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close"[..],
        b"HTTP/1.0 503 Service Unavailable\r\nRetry-After: 5",
        b"HTTP/1.1 301 Moved\r\nLocation: https://www.example.com/\r\nTransfer-Encoding: chunked",
        b"5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n",
        b"ffffffffffffffffff\r\nx\r\n",
    ]
    .iter()
    .map(|seed| seed.to_vec())
    .collect();
    fuzz_bytes("http-response", &seeds, |bytes| {
        let _ = http::parse_head(bytes);
        let (body, _) = http::dechunk(bytes);
        assert!(body.len() <= bytes.len(), "decoding never makes bytes up");
    });
}

#[test]
fn the_certificate_expiry_reader_never_panics() {
    // A real certificate (openssl req -x509, EC key), DER.
    let pem = "MIIBfTCCASOgAwIBAgIUffJZbPX0Eey2Zw3/35HeQ+oeY1UwCgYIKoZIzj0EAwIwFDESMBAGA1UEAwwJbG9jYWxob3N0MB4XDTI2MTEzMDAxMDczNFoXDTM2MTEyNzAxMDczNFowFDESMBAGA1UEAwwJbG9jYWxob3N0MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAESXXe0rwyjRFsGMawlMh6pv6rXk8Mwf5sgLV/u8oazLrjTsWh4hkI7XtbO2og7vs3Oun4l5qHWzX4a2XBVfzT/qNTMFEwHQYDVR0OBBYEFOlG9FTh2XQrUoAqesb6bam/NGhdMB8GA1UdIwQYMBaAFOlG9FTh2XQrUoAqesb6bam/NGhdMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIgDKdorlWU7WeIyN9rbxvAIoxKvJyM23cAcgBNXVOHjoMCIQCQP5nlJDAze06anw54yp5IMbDhncQGsotvDG909Lljyg==";
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let (mut bits, mut count, mut der_bytes) = (0u32, 0, Vec::new());
    for c in pem.bytes().filter(|c| *c != b'=') {
        bits = (bits << 6) | alphabet.iter().position(|a| *a == c).unwrap() as u32;
        count += 6;
        if count >= 8 {
            count -= 8;
            der_bytes.push((bits >> count) as u8);
        }
    }
    assert_eq!(der::not_after(&der_bytes), Some(2_111_360_854));
    fuzz_bytes("certificate", &[der_bytes], |bytes| {
        let _ = der::not_after(bytes);
    });
}
