//! `check_dns`: one query over UDP (TCP when the answer is truncated), healthy when
//! the RCODE is in `check_dns_rcode` and the answer holds every `check_dns_expect`.
//! A query and a reader of replies, written here: we need a few record types and a
//! parser that never trusts its input, not a DNS library.

use std::fmt;
use std::io::{ErrorKind, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use super::net::{is_timeout, parse_ip, parse_port, split_host_port, Deadline};
use super::{Failure, ProbeResult};

/// A DNS check, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsCheck {
    pub server: SocketAddr,
    /// The name queried, without its final dot.
    pub name: String,
    pub record_type: RecordType,
    /// `check_dns_rcode`: the answers that are healthy (NOERROR by default).
    pub rcodes: Vec<Rcode>,
    /// `check_dns_expect`: addresses or strings the answer must all contain.
    pub expect: Vec<String>,
}

impl fmt::Display for DnsCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DNS {} {} {}", self.server, self.name, self.record_type)
    }
}

/// Reads `SERVER[:PORT] NAME [TYPE]`: SERVER an IP address (`[IPv6]:PORT` with a
/// port) or localhost, PORT 53 by default, TYPE A by default.
pub fn parse_spec(text: &str) -> Result<(SocketAddr, String, RecordType), String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let (server, name, record_type) = match words[..] {
        [server, name] => (server, name, RecordType::A),
        [server, name, record_type] => (server, name, RecordType::parse(record_type)?),
        _ => return Err(format!("{text:?} is not SERVER[:PORT] NAME [TYPE]")),
    };
    let (host, port) = split_host_port(server, true)?;
    let server = SocketAddr::new(parse_ip(host)?, port.map_or(Ok(53), parse_port)?);
    encode_name(name)?;
    Ok((server, name.trim_end_matches('.').to_string(), record_type))
}

/// A record type by its mnemonic (or `TYPEnnn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordType(pub u16);

const TYPES: &[(&str, u16)] = &[
    ("A", 1),
    ("NS", 2),
    ("CNAME", 5),
    ("SOA", 6),
    ("PTR", 12),
    ("MX", 15),
    ("TXT", 16),
    ("AAAA", 28),
    ("SRV", 33),
    ("CAA", 257),
];

impl RecordType {
    pub const A: RecordType = RecordType(1);
    const AAAA: RecordType = RecordType(28);
    const TXT: RecordType = RecordType(16);

    pub fn parse(text: &str) -> Result<RecordType, String> {
        let upper = text.to_ascii_uppercase();
        if let Some((_, code)) = TYPES.iter().find(|(name, _)| *name == upper) {
            return Ok(RecordType(*code));
        }
        upper
            .strip_prefix("TYPE")
            .and_then(|n| n.parse().ok())
            .map(RecordType)
            .ok_or_else(|| format!("{text:?} is not a record type ({}, or TYPEnnn)", mnemonics(TYPES)))
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match TYPES.iter().find(|(_, code)| *code == self.0) {
            Some((name, _)) => f.write_str(name),
            None => write!(f, "TYPE{}", self.0),
        }
    }
}

/// A response code by its mnemonic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rcode(pub u8);

const RCODES: &[(&str, u8)] = &[
    ("NOERROR", 0),
    ("FORMERR", 1),
    ("SERVFAIL", 2),
    ("NXDOMAIN", 3),
    ("NOTIMP", 4),
    ("REFUSED", 5),
    ("YXDOMAIN", 6),
    ("YXRRSET", 7),
    ("NXRRSET", 8),
    ("NOTAUTH", 9),
    ("NOTZONE", 10),
];

impl Rcode {
    pub const NOERROR: Rcode = Rcode(0);

    pub fn parse(text: &str) -> Result<Rcode, String> {
        let upper = text.to_ascii_uppercase();
        RCODES
            .iter()
            .find(|(name, _)| *name == upper)
            .map(|(_, code)| Rcode(*code))
            .ok_or_else(|| format!("{text:?} is not an RCODE ({})", mnemonics(RCODES)))
    }
}

impl fmt::Display for Rcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match RCODES.iter().find(|(_, code)| *code == self.0) {
            Some((name, _)) => f.write_str(name),
            None => write!(f, "RCODE{}", self.0),
        }
    }
}

fn mnemonics<T>(table: &[(&str, T)]) -> String {
    table.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(" ")
}

/// A name in wire format (labels, then the root's zero).
fn encode_name(name: &str) -> Result<Vec<u8>, String> {
    let trimmed = name.trim_end_matches('.');
    let mut wire = Vec::with_capacity(trimmed.len() + 2);
    if !trimmed.is_empty() {
        for label in trimmed.split('.') {
            if label.is_empty() || label.len() > 63 {
                return Err(format!("{name:?} has an empty label or one over 63 bytes"));
            }
            if !label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                return Err(format!("{name:?} is not a domain name (letters, digits, - and _)"));
            }
            wire.push(label.len() as u8);
            wire.extend_from_slice(label.as_bytes());
        }
    }
    wire.push(0);
    if wire.len() > 255 {
        return Err(format!("{name:?} is longer than 255 bytes"));
    }
    Ok(wire)
}

/// A standard query with recursion desired and no EDNS: a UDP answer over 512
/// bytes comes back truncated, and is asked again over TCP.
pub fn encode_query(id: u16, name: &str, record_type: RecordType) -> Result<Vec<u8>, String> {
    let mut query = Vec::with_capacity(64);
    query.extend_from_slice(&id.to_be_bytes());
    query.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    query.extend_from_slice(&encode_name(name)?);
    query.extend_from_slice(&record_type.0.to_be_bytes());
    query.extend_from_slice(&1u16.to_be_bytes()); // class IN
    Ok(query)
}

/// What a reply says, as far as a health check cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub id: u16,
    pub truncated: bool,
    pub rcode: Rcode,
    /// The question echoed: name (lower case, no final dot), type, class.
    pub question: Option<(String, u16, u16)>,
    pub answers: Vec<Answer>,
}

/// One answer record, its data in presentation form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub record_type: RecordType,
    pub data: String,
}

/// Reads a reply. Never panics and never loops, whatever the bytes: every offset is
/// checked and compression pointers may only point backwards.
pub fn parse_reply(message: &[u8]) -> Result<Reply, String> {
    let u16_at = |at: usize| -> Result<u16, String> {
        message
            .get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "truncated".to_string())
    };
    if message.len() < 12 {
        return Err(format!("{} bytes is shorter than a DNS header", message.len()));
    }
    let id = u16_at(0)?;
    let flags = u16_at(2)?;
    if flags & 0x8000 == 0 {
        return Err("not a response (QR is 0)".to_string());
    }
    let (questions, answers) = (u16_at(4)?, u16_at(6)?);
    let mut at = 12;
    let mut question = None;
    for n in 0..questions {
        let (name, next) = read_name(message, at)?;
        let (qtype, qclass) = (u16_at(next)?, u16_at(next + 2)?);
        if n == 0 {
            question = Some((name.to_ascii_lowercase(), qtype, qclass));
        }
        at = next + 4;
    }
    let mut records = Vec::new();
    for _ in 0..answers {
        let (_, next) = read_name(message, at)?;
        let record_type = RecordType(u16_at(next)?);
        let length = usize::from(u16_at(next + 8)?);
        let start = next + 10;
        let data = message.get(start..start + length).ok_or("record data runs past the end")?;
        records.push(Answer { record_type, data: presentation(message, start, data, record_type)? });
        at = start + length;
    }
    Ok(Reply {
        id,
        truncated: flags & 0x0200 != 0,
        rcode: Rcode((flags & 0x000f) as u8),
        question,
        answers: records,
    })
}

/// The name at `at` (following compression pointers) and the offset after it.
fn read_name(message: &[u8], mut at: usize) -> Result<(String, usize), String> {
    let mut name = String::new();
    let mut after = None;
    let mut lowest_pointer = at;
    loop {
        let length = *message.get(at).ok_or("name runs past the end")?;
        match length {
            0 => break,
            1..=63 => {
                let label =
                    message.get(at + 1..at + 1 + usize::from(length)).ok_or("label runs past the end")?;
                if !name.is_empty() {
                    name.push('.');
                }
                name.extend(label.iter().map(|b| char::from(*b)));
                if name.len() > 255 {
                    return Err("name longer than 255 bytes".to_string());
                }
                at += 1 + usize::from(length);
            }
            0xc0..=0xff => {
                let low = *message.get(at + 1).ok_or("pointer runs past the end")?;
                let target = usize::from(length & 0x3f) << 8 | usize::from(low);
                if target >= lowest_pointer {
                    return Err("compression pointer does not point backwards".to_string());
                }
                after.get_or_insert(at + 2);
                lowest_pointer = target;
                at = target;
            }
            _ => return Err(format!("unknown label type {length:#x}")),
        }
    }
    Ok((name, after.unwrap_or(at + 1)))
}

fn presentation(
    message: &[u8],
    start: usize,
    data: &[u8],
    record_type: RecordType,
) -> Result<String, String> {
    let name_at = |offset: usize| read_name(message, start + offset).map(|(name, _)| name);
    let u16_of = |offset: usize| data.get(offset..offset + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let text = match record_type.0 {
        1 if data.len() == 4 => Ipv4Addr::new(data[0], data[1], data[2], data[3]).to_string(),
        28 if data.len() == 16 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(data);
            Ipv6Addr::from(octets).to_string()
        }
        2 | 5 | 12 => name_at(0)?,
        15 => format!("{} {}", u16_of(0).ok_or("short MX")?, name_at(2)?),
        33 => format!(
            "{} {} {} {}",
            u16_of(0).ok_or("short SRV")?,
            u16_of(2).ok_or("short SRV")?,
            u16_of(4).ok_or("short SRV")?,
            name_at(6)?
        ),
        16 => {
            let mut text = String::new();
            let mut rest = data;
            while let Some((&length, tail)) = rest.split_first() {
                let piece = tail.get(..usize::from(length)).ok_or("TXT string runs past its record")?;
                text.extend(piece.iter().map(|b| char::from(*b)));
                rest = &tail[usize::from(length)..];
            }
            text
        }
        _ => {
            let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
            format!("\\# {} {hex}", data.len())
        }
    };
    Ok(text)
}

/// Every expected item is in the answer: an address equal to an A or AAAA record's,
/// a name equal to a record's (any case, final dot or not), or a string in a TXT
/// record. Returns the items missing (empty: all there).
pub fn missing_expected<'a>(answers: &[Answer], expect: &'a [String]) -> Vec<&'a str> {
    let normal = |text: &str| text.trim_end_matches('.').to_ascii_lowercase();
    expect
        .iter()
        .filter(|wanted| {
            let found = match wanted.parse::<IpAddr>() {
                Ok(ip) => answers.iter().any(|answer| {
                    matches!(answer.record_type, RecordType::A | RecordType::AAAA)
                        && answer.data.parse::<IpAddr>() == Ok(ip)
                }),
                Err(_) => answers.iter().any(|answer| {
                    normal(&answer.data) == normal(wanted)
                        || (answer.record_type == RecordType::TXT && answer.data.contains(wanted.as_str()))
                }),
            };
            !found
        })
        .map(String::as_str)
        .collect()
}

/// Asks and judges, within `timeout` in all.
pub fn probe(check: &DnsCheck, timeout: Duration) -> ProbeResult {
    let deadline = Deadline::after(timeout);
    let id = random_id();
    let query = encode_query(id, &check.name, check.record_type).map_err(Failure::new)?;
    let mut reply = ask_udp(check, &query, id, &deadline)?;
    if reply.truncated {
        reply = ask_tcp(check, &query, id, &deadline)?;
    }
    judge(check, &reply)
}

/// The verdict on a reply that matched the query.
pub fn judge(check: &DnsCheck, reply: &Reply) -> ProbeResult {
    let asked = format!("{} {}", check.name, check.record_type);
    if !check.rcodes.contains(&reply.rcode) {
        let expected: Vec<String> = check.rcodes.iter().map(Rcode::to_string).collect();
        return Err(Failure::new(format!(
            "DNS {} from {} for {asked} (expected {})",
            reply.rcode,
            check.server,
            expected.join(" or ")
        )));
    }
    let missing = missing_expected(&reply.answers, &check.expect);
    if !missing.is_empty() {
        let got: Vec<&str> = reply.answers.iter().map(|a| a.data.as_str()).collect();
        return Err(Failure::new(format!(
            "DNS answer from {} for {asked} lacks {} (got: {})",
            check.server,
            missing.join(", "),
            if got.is_empty() { "no records".to_string() } else { got.join(", ") }
        )));
    }
    Ok(())
}

/// Why a reply is not the answer to our query, or `None` when it is.
fn mismatch(check: &DnsCheck, reply: &Reply, id: u16) -> Option<&'static str> {
    if reply.id != id {
        return Some("id mismatch");
    }
    let expected = (check.name.to_ascii_lowercase(), check.record_type.0, 1);
    match &reply.question {
        Some(question) if *question == expected => None,
        // Servers answering FORMERR, REFUSED or NOTIMP may leave the question out; the
        // id on our connected socket says it is ours, and its rcode is the answer.
        None => None,
        Some(_) => Some("question mismatch"),
    }
}

fn ask_udp(check: &DnsCheck, query: &[u8], id: u16, deadline: &Deadline) -> Result<Reply, Failure> {
    let server = check.server;
    let local: SocketAddr = match server.ip() {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    // The kernel picks a random source port; connect() keeps other senders out.
    let socket = UdpSocket::bind(local)
        .and_then(|socket| socket.connect(server).map(|()| socket))
        .map_err(|err| Failure::new(format!("cannot open a UDP socket to {server}: {err}")))?;
    socket.send(query).map_err(|err| Failure::new(format!("cannot send the query to {server}: {err}")))?;
    let mut ignored: Vec<String> = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        if deadline.passed() {
            return Err(udp_timeout(server, deadline, &ignored));
        }
        socket
            .set_read_timeout(Some(deadline.left()))
            .map_err(|err| Failure::new(format!("cannot set a socket timeout: {err}")))?;
        let length = match socket.recv(&mut buffer) {
            Ok(length) => length,
            Err(err) if is_timeout(&err) => return Err(udp_timeout(server, deadline, &ignored)),
            Err(err) if err.kind() == ErrorKind::Interrupted => continue,
            Err(err) if err.kind() == ErrorKind::ConnectionRefused => {
                return Err(Failure::new(format!("DNS server {server} refused the query (port unreachable)")))
            }
            Err(err) => return Err(Failure::new(format!("error reading from {server}: {err}"))),
        };
        match parse_reply(&buffer[..length]) {
            Ok(reply) => match mismatch(check, &reply, id) {
                None => return Ok(reply),
                Some(why) => ignored.push(why.to_string()),
            },
            Err(why) => ignored.push(format!("malformed: {why}")),
        }
    }
}

fn udp_timeout(server: SocketAddr, deadline: &Deadline, ignored: &[String]) -> Failure {
    let mut reason = format!("timed out waiting for the answer from {server} {}", deadline.after_text());
    if !ignored.is_empty() {
        let replies = if ignored.len() == 1 { "reply" } else { "replies" };
        reason.push_str(&format!(" (ignored {} {replies}: {})", ignored.len(), ignored.join(", ")));
    }
    Failure::timeout(reason)
}

fn ask_tcp(check: &DnsCheck, query: &[u8], id: u16, deadline: &Deadline) -> Result<Reply, Failure> {
    let server = check.server;
    let mut stream = deadline.connect(server)?;
    deadline.arm(&stream)?;
    let mut framed = (query.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(query);
    let over_tcp = format!("the truncated answer again over TCP from {server}");
    stream.write_all(&framed).map_err(|err| deadline.io_failure(&format!("asking for {over_tcp}"), &err))?;
    let mut length = [0u8; 2];
    deadline
        .read_exact(&mut stream, &mut length)
        .map_err(|err| deadline.io_failure(&format!("reading {over_tcp}"), &err))?;
    let mut message = vec![0u8; usize::from(u16::from_be_bytes(length))];
    deadline
        .read_exact(&mut stream, &mut message)
        .map_err(|err| deadline.io_failure(&format!("reading {over_tcp}"), &err))?;
    let reply = parse_reply(&message)
        .map_err(|why| Failure::new(format!("malformed DNS reply over TCP from {server}: {why}")))?;
    match mismatch(check, &reply, id) {
        None => Ok(reply),
        Some(why) => Err(Failure::new(format!("DNS reply over TCP from {server}: {why}"))),
    }
}

/// A query id nobody off the path can guess.
fn random_id() -> u16 {
    let mut bytes = [0u8; 2];
    if !crate::sys::os::random_bytes(&mut bytes) {
        // getrandom(2) only fails before the pool is seeded (early boot); fall back to
        // the clock's nanoseconds rather than a fixed id.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        return (nanos ^ (nanos >> 16)) as u16;
    }
    u16::from_ne_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(expect: &[&str]) -> DnsCheck {
        DnsCheck {
            server: "127.0.0.1:53".parse().unwrap(),
            name: "www.example.com".into(),
            record_type: RecordType::A,
            rcodes: vec![Rcode::NOERROR],
            expect: expect.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// A reply to `query` with these answer records (type, data), names compressed.
    pub(super) fn reply_to(query: &[u8], rcode: u8, truncated: bool, records: &[(u16, &[u8])]) -> Vec<u8> {
        let mut reply = query.to_vec();
        reply[2] = 0x81 | if truncated { 0x02 } else { 0 };
        reply[3] = 0x80 | rcode;
        reply[6..8].copy_from_slice(&(records.len() as u16).to_be_bytes());
        for (record_type, data) in records {
            reply.extend_from_slice(&[0xc0, 12]);
            reply.extend_from_slice(&record_type.to_be_bytes());
            reply.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
            reply.extend_from_slice(&(data.len() as u16).to_be_bytes());
            reply.extend_from_slice(data);
        }
        reply
    }

    #[test]
    fn specs_give_server_port_name_and_type() {
        let (server, name, record_type) = parse_spec("127.0.0.1 www.example.com.").unwrap();
        assert_eq!(
            (server, name.as_str(), record_type),
            ("127.0.0.1:53".parse().unwrap(), "www.example.com", RecordType::A)
        );
        let (server, _, record_type) = parse_spec("[::1]:5353 example.com aaaa").unwrap();
        assert_eq!((server, record_type), ("[::1]:5353".parse().unwrap(), RecordType::AAAA));
        assert_eq!(parse_spec("::1 example.com TYPE65").unwrap().0, "[::1]:53".parse().unwrap());
        assert_eq!(parse_spec("localhost:53 . NS").unwrap().1, "");
        for bad in [
            "127.0.0.1",
            "127.0.0.1 a b c d",
            "resolver.example www.example.com",
            "127.0.0.1:0 example.com",
            "127.0.0.1 example.com BOGUS",
            "127.0.0.1 exa..mple.com",
            "127.0.0.1 bad!name.com",
        ] {
            assert!(parse_spec(bad).is_err(), "{bad}");
        }
        assert_eq!(Rcode::parse("nxdomain"), Ok(Rcode(3)));
        assert!(Rcode::parse("SERVFAILED").is_err());
    }

    #[test]
    fn replies_are_read_with_compressed_names_and_typed_data() {
        let query = encode_query(0xbeef, "www.example.com", RecordType::A).unwrap();
        let reply =
            parse_reply(&reply_to(&query, 0, false, &[(1, &[192, 0, 2, 10]), (16, b"\x05hello\x06 world")]))
                .unwrap();
        assert_eq!(reply.id, 0xbeef);
        assert_eq!(reply.question, Some(("www.example.com".into(), 1, 1)));
        assert_eq!(reply.answers[0], Answer { record_type: RecordType::A, data: "192.0.2.10".into() });
        assert_eq!(reply.answers[1].data, "hello world");
        assert_eq!(reply.rcode, Rcode::NOERROR);
        assert!(!reply.truncated);
        let cname =
            parse_reply(&reply_to(&query, 0, false, &[(5, &[3, b'w', b'e', b'b', 0xc0, 16])])).unwrap();
        assert_eq!(cname.answers[0].data, "web.example.com");
        assert!(parse_reply(&reply_to(&query, 2, true, &[])).unwrap().truncated);
    }

    #[test]
    fn pointers_that_loop_or_point_forward_are_refused() {
        let query = encode_query(1, "a.b", RecordType::A).unwrap();
        let mut reply = reply_to(&query, 0, false, &[(5, &[0xc0, 0])]);
        let at = reply.len() - 2;
        reply[at + 1] = at as u8; // points at itself
        assert!(parse_reply(&reply).is_err());
        reply[at + 1] = (at + 1) as u8;
        assert!(parse_reply(&reply).is_err());
        assert!(parse_reply(&query).is_err(), "a query is not a reply");
    }

    #[test]
    fn judging_rcodes_and_expected_records() {
        let query = encode_query(7, "www.example.com", RecordType::A).unwrap();
        let answer =
            |rcode, records: &[(u16, &[u8])]| parse_reply(&reply_to(&query, rcode, false, records)).unwrap();
        let up = answer(0, &[(1, &[192, 0, 2, 10]), (1, &[192, 0, 2, 11])]);
        assert_eq!(judge(&check(&[]), &up), Ok(()));
        assert_eq!(judge(&check(&["192.0.2.11", "192.0.2.10"]), &up), Ok(()));
        let err = judge(&check(&["192.0.2.10", "192.0.2.99"]), &up).unwrap_err().reason;
        assert_eq!(err, "DNS answer from 127.0.0.1:53 for www.example.com A lacks 192.0.2.99 (got: 192.0.2.10, 192.0.2.11)");
        let err = judge(&check(&[]), &answer(2, &[])).unwrap_err().reason;
        assert_eq!(err, "DNS SERVFAIL from 127.0.0.1:53 for www.example.com A (expected NOERROR)");
        let mut nxdomain_ok = check(&[]);
        nxdomain_ok.rcodes = vec![Rcode::NOERROR, Rcode(3)];
        assert_eq!(judge(&nxdomain_ok, &answer(3, &[])), Ok(()));
        let names = [Answer { record_type: RecordType(5), data: "Web.Example.com".into() }];
        assert!(missing_expected(&names, &["web.example.com.".to_string()]).is_empty());
        let txt = [Answer { record_type: RecordType::TXT, data: "v=spf1 -all".into() }];
        assert!(missing_expected(&txt, &["spf1".to_string()]).is_empty());
        assert_eq!(missing_expected(&names, &["spf1".to_string()]), vec!["spf1"]);
    }

    #[test]
    fn replies_to_other_queries_are_not_ours() {
        let dns = check(&[]);
        let ours = parse_reply(&reply_to(
            &encode_query(9, "www.example.com", RecordType::A).unwrap(),
            0,
            false,
            &[],
        ))
        .unwrap();
        assert_eq!(mismatch(&dns, &ours, 9), None);
        assert_eq!(mismatch(&dns, &ours, 10), Some("id mismatch"));
        let other = parse_reply(&reply_to(
            &encode_query(9, "evil.example.com", RecordType::A).unwrap(),
            0,
            false,
            &[],
        ))
        .unwrap();
        assert_eq!(mismatch(&dns, &other, 9), Some("question mismatch"));
        let upper = parse_reply(&reply_to(
            &encode_query(9, "WWW.example.COM", RecordType::A).unwrap(),
            0,
            false,
            &[],
        ))
        .unwrap();
        assert_eq!(mismatch(&dns, &upper, 9), None, "names compare in any case");
        // REFUSED with no question section: ours, judged by its rcode (not a timeout).
        let refused = Reply { question: None, rcode: Rcode(5), ..upper.clone() };
        assert_eq!(mismatch(&dns, &refused, 9), None);
        assert!(judge(&dns, &refused).is_err_and(|f| !f.timed_out && f.reason.contains("REFUSED")));
    }

    #[test]
    fn ids_vary() {
        let ids: std::collections::HashSet<u16> = (0..64).map(|_| random_id()).collect();
        assert!(ids.len() > 32, "{ids:?}");
    }
}
