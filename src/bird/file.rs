//! The Bird include file that lists the prefixes to advertise: render it byte for byte
//! as upstream does, and read it back tolerantly.
//!
//! ```text
//! # Generated 2026-11-24 12:16:03.743099 by anycast-healthchecker (pid=4136)
//! # 10.189.200.255/32 is a dummy IP Prefix. It should NOT be used and REMOVED from the constant.
//! define ACAST_PS_ADVERTISE =
//!     [
//!         10.189.200.255/32,
//!         10.52.12.1/32
//!     ];
//! ```
//!
//! Upstream reads it line by line and silently drops what it does not expect (tabs, a
//! one-line list, a trailing comment), which at startup can rewrite the file with only
//! the dummy. We read every prefix wherever it stands, and report each word we cannot
//! read instead of dropping it.

use crate::config::prefix::IpPrefix;
use crate::sys::localtime::LocalTime;

/// What the file's header lines say: when and by which process it was written.
#[derive(Debug, Clone, Copy)]
pub struct Header {
    pub generated: LocalTime,
    pub pid: u32,
}

impl Header {
    pub fn now() -> Header {
        Header { generated: LocalTime::now(), pid: std::process::id() }
    }
}

/// The file's text: the header, then `define <variable> =` and the set, the dummy first
/// (if there is one), then `prefixes` in the order given.
pub fn render(variable: &str, dummy: Option<&IpPrefix>, prefixes: &[IpPrefix], header: &Header) -> String {
    let mut out = format!(
        "# Generated {} by anycast-healthchecker (pid={})\n",
        header.generated.python_str(),
        header.pid
    );
    if let Some(dummy) = dummy {
        out.push_str(&format!(
            "# {dummy} is a dummy IP Prefix. It should NOT be used and REMOVED from the constant.\n"
        ));
    }
    push_set(&mut out, variable, dummy, prefixes);
    out
}

/// `define VARIABLE = [ dummy, prefixes... ];`, upstream's layout.
fn push_set(out: &mut String, variable: &str, dummy: Option<&IpPrefix>, prefixes: &[IpPrefix]) {
    out.push_str(&format!("define {variable} =\n    [\n"));
    let entries: Vec<String> = dummy
        .into_iter()
        .chain(prefixes.iter().filter(|p| Some(*p) != dummy))
        .map(|p| format!("        {p}"))
        .collect();
    if !entries.is_empty() {
        out.push_str(&entries.join(",\n"));
        out.push('\n');
    }
    out.push_str("    ];\n");
}

/// [`render`], then a second set `degraded_variable` with the dummy and `degraded`:
/// the prefixes that are advertised but should be less preferred (extension; Bird 1.6
/// rejects an empty set, hence the dummy there too).
pub fn render_with_degraded(
    variable: &str,
    dummy: Option<&IpPrefix>,
    prefixes: &[IpPrefix],
    degraded_variable: &str,
    degraded: &[IpPrefix],
    header: &Header,
) -> String {
    let mut out = render(variable, dummy, prefixes, header);
    push_set(&mut out, degraded_variable, dummy, degraded);
    out
}

/// A word in the file that is neither Bird syntax we expect nor a prefix we can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub line: usize,
    pub text: String,
}

/// What a prefix file holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// The name after the first `define`, if there is one.
    pub variable: Option<String>,
    /// Every prefix found, normalised, in file order, each once.
    pub prefixes: Vec<IpPrefix>,
    pub unreadable: Vec<Unreadable>,
}

/// Reads a prefix file, whatever its layout: tabs or spaces, one line or many, `#` and
/// `/* */` comments, upper-case or uncompressed IPv6, a bare address for a host prefix.
pub fn parse(text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    let mut expect_variable = false;
    for (line, word) in words(text) {
        if expect_variable {
            expect_variable = false;
            if parsed.variable.is_none() {
                parsed.variable = Some(word.to_string());
            }
            continue;
        }
        if word == "define" {
            expect_variable = true;
            continue;
        }
        match word.parse::<IpPrefix>() {
            Ok(prefix) if !parsed.prefixes.contains(&prefix) => parsed.prefixes.push(prefix),
            Ok(_) => {}
            Err(_) => parsed.unreadable.push(Unreadable { line, text: word.to_string() }),
        }
    }
    parsed
}

/// The words of `text` with their line numbers, comments removed and `[ ] , ; =` taken
/// as separators.
fn words(text: &str) -> Vec<(usize, &str)> {
    let mut words = Vec::new();
    let mut in_block_comment = false;
    for (index, line) in text.lines().enumerate() {
        let mut rest = line;
        while !rest.is_empty() {
            if in_block_comment {
                match rest.find("*/") {
                    Some(end) => {
                        rest = &rest[end + 2..];
                        in_block_comment = false;
                    }
                    None => rest = "",
                }
                continue;
            }
            let hash = rest.find('#');
            let block = rest.find("/*");
            let code = match (hash, block) {
                (Some(h), Some(b)) if b < h => {
                    in_block_comment = true;
                    let code = &rest[..b];
                    rest = &rest[b + 2..];
                    code
                }
                (None, Some(b)) => {
                    in_block_comment = true;
                    let code = &rest[..b];
                    rest = &rest[b + 2..];
                    code
                }
                (Some(h), _) => {
                    let code = &rest[..h];
                    rest = "";
                    code
                }
                (None, None) => std::mem::take(&mut rest),
            };
            let separators = |c: char| c.is_whitespace() || matches!(c, '[' | ']' | ',' | ';' | '=');
            words.extend(code.split(separators).filter(|w| !w.is_empty()).map(|w| (index + 1, w)));
        }
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefixes(list: &[&str]) -> Vec<IpPrefix> {
        list.iter().map(|p| p.parse().expect(p)).collect()
    }

    fn header() -> Header {
        let generated =
            LocalTime { year: 2026, month: 11, day: 24, hour: 12, minute: 16, second: 3, micros: 743099 };
        Header { generated, pid: 4136 }
    }

    const UPSTREAM_V4: &str = "# Generated 2026-11-24 12:16:03.743099 by anycast-healthchecker (pid=4136)\n\
# 10.189.200.255/32 is a dummy IP Prefix. It should NOT be used and REMOVED from the constant.\n\
define ACAST_PS_ADVERTISE =\n    [\n        10.189.200.255/32,\n        10.52.12.1/32\n    ];\n";

    #[test]
    fn renders_upstreams_exact_bytes() {
        let dummy = "10.189.200.255/32".parse().unwrap();
        let text = render("ACAST_PS_ADVERTISE", Some(&dummy), &prefixes(&["10.52.12.1/32"]), &header());
        assert_eq!(text, UPSTREAM_V4);
    }

    #[test]
    fn renders_ipv6_and_a_dummy_only_set() {
        let dummy = "2001:db8::1/128".parse().unwrap();
        let text = render("ACAST6_PS_ADVERTISE", Some(&dummy), &[], &header());
        assert!(
            text.ends_with("define ACAST6_PS_ADVERTISE =\n    [\n        2001:db8::1/128\n    ];\n"),
            "{text}"
        );
    }

    #[test]
    fn the_dummy_is_written_once_and_first() {
        let dummy: IpPrefix = "10.189.200.255/32".parse().unwrap();
        let text = render("V", Some(&dummy), &prefixes(&["10.0.0.2/32", "10.189.200.255/32"]), &header());
        assert_eq!(parse(&text).prefixes, prefixes(&["10.189.200.255/32", "10.0.0.2/32"]));
    }

    #[test]
    fn renders_the_degraded_set_after_the_advertised_one() {
        let header = Header {
            generated: LocalTime {
                year: 2026,
                month: 11,
                day: 24,
                hour: 12,
                minute: 16,
                second: 2,
                micros: 731_000,
            },
            pid: 7,
        };
        let dummy: IpPrefix = "10.189.200.255/32".parse().unwrap();
        let (a, b): (IpPrefix, IpPrefix) =
            ("10.52.12.1/32".parse().unwrap(), "10.52.12.2/32".parse().unwrap());
        let text = render_with_degraded(
            "ACAST_PS_ADVERTISE",
            Some(&dummy),
            &[a, b],
            "ACAST_PS_DEGRADED",
            &[b],
            &header,
        );
        assert!(text.ends_with(
            "define ACAST_PS_ADVERTISE =\n    [\n        10.189.200.255/32,\n        10.52.12.1/32,\n        10.52.12.2/32\n    ];\n\
             define ACAST_PS_DEGRADED =\n    [\n        10.189.200.255/32,\n        10.52.12.2/32\n    ];\n"
        ), "{text}");
        // Read back: the first define names the file; every prefix once.
        let parsed = parse(&text);
        assert_eq!(parsed.variable.as_deref(), Some("ACAST_PS_ADVERTISE"));
        assert_eq!(parsed.prefixes, [dummy, a, b]);
        assert!(parsed.unreadable.is_empty());
    }

    #[test]
    fn renders_an_empty_set_without_a_dummy() {
        let text = render("V", None, &[], &header());
        assert!(text.ends_with("define V =\n    [\n    ];\n"), "{text}");
        assert!(!text.contains("dummy"));
    }

    #[test]
    fn round_trips() {
        let dummy: IpPrefix = "10.189.200.255/32".parse().unwrap();
        let list = prefixes(&["10.52.12.1/32", "10.0.0.0/24", "192.0.2.7/32"]);
        let text = render("ACAST_PS_ADVERTISE", Some(&dummy), &list, &header());
        let parsed = parse(&text);
        assert_eq!(parsed.variable.as_deref(), Some("ACAST_PS_ADVERTISE"));
        assert_eq!(parsed.prefixes[0], dummy);
        assert_eq!(&parsed.prefixes[1..], &list[..]);
        assert!(parsed.unreadable.is_empty());
        assert_eq!(render("ACAST_PS_ADVERTISE", Some(&dummy), &parsed.prefixes[1..], &header()), text);
    }

    #[test]
    fn reads_upstreams_file() {
        let parsed = parse(UPSTREAM_V4);
        assert_eq!(parsed.prefixes, prefixes(&["10.189.200.255/32", "10.52.12.1/32"]));
        assert!(parsed.unreadable.is_empty());
    }

    #[test]
    fn reads_what_upstream_silently_drops() {
        let cases = [
            ("tabs", "define V =\n\t[\n\t\t10.0.0.1/32,\n\t\t10.0.0.2/32\n\t];\n"),
            ("one line", "define V = [ 10.0.0.1/32, 10.0.0.2/32 ];\n"),
            ("no spaces", "define V=[10.0.0.1/32,10.0.0.2/32];"),
            (
                "trailing comments",
                "define V =\n    [\n        10.0.0.1/32, # web\n        10.0.0.2/32 /* dns */\n    ];\n",
            ),
            (
                "block comment over lines",
                "define V = [ 10.0.0.1/32, /* 10.9.9.9/32,\n 10.8.8.8/32, */ 10.0.0.2/32 ];",
            ),
            ("missing lengths", "define V =\n    [\n        10.0.0.1,\n        10.0.0.2\n    ];\n"),
            ("CRLF", "define V =\r\n    [\r\n        10.0.0.1/32,\r\n        10.0.0.2/32\r\n    ];\r\n"),
        ];
        for (name, text) in cases {
            let parsed = parse(text);
            assert_eq!(parsed.variable.as_deref(), Some("V"), "{name}");
            assert_eq!(parsed.prefixes, prefixes(&["10.0.0.1/32", "10.0.0.2/32"]), "{name}");
            assert!(parsed.unreadable.is_empty(), "{name}: {:?}", parsed.unreadable);
        }
    }

    #[test]
    fn ipv6_spellings_are_normalised() {
        let parsed =
            parse("define V6 = [ 2001:DB8::1/128, 2001:0db8:0:0:0:0:0:2, fd12:aba6:57db:ffff::1/128 ];");
        assert_eq!(
            parsed.prefixes,
            prefixes(&["2001:db8::1/128", "2001:db8::2/128", "fd12:aba6:57db:ffff::1/128"])
        );
    }

    #[test]
    fn reports_what_it_cannot_read_and_keeps_the_rest() {
        let parsed = parse("define V =\n    [\n        10.0.0.0/8+,\n        10.0.0.1/32,\n        10.0.0.300/32,\n        10.0.0.1/24\n    ];\n");
        assert_eq!(parsed.prefixes, prefixes(&["10.0.0.1/32"]));
        let unreadable: Vec<_> = parsed.unreadable.iter().map(|u| (u.line, u.text.as_str())).collect();
        assert_eq!(unreadable, [(3, "10.0.0.0/8+"), (5, "10.0.0.300/32"), (6, "10.0.0.1/24")]);
    }

    #[test]
    fn a_file_without_define_still_yields_its_prefixes() {
        let parsed = parse("10.0.0.1/32\n10.0.0.2/32\n");
        assert_eq!(parsed.variable, None);
        assert_eq!(parsed.prefixes.len(), 2);
        assert_eq!(parse(""), Parsed::default());
    }

    #[test]
    fn repeated_prefixes_are_kept_once() {
        assert_eq!(parse("define V = [ 10.0.0.1/32, 10.0.0.1 ];").prefixes, prefixes(&["10.0.0.1/32"]));
    }
}
