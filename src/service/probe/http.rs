//! `check_http`: one HTTP/1.1 request (GET or HEAD) over a blocking socket, plain or
//! TLS, healthy when the status is in `check_http_status` and, if set, the body's
//! first 64 KiB contain `check_http_body`. A small client of our own: one request,
//! `Connection: close`, bounded reads, so every byte read and every second spent is
//! ours to limit; rustls does the TLS.

use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::ops::RangeInclusive;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};

use super::net::{is_timeout, parse_ip, parse_port, split_host_port, Deadline};
use super::tls::{self, Tls};
use super::{Failure, ProbeResult};

/// How much of the body is searched for `check_http_body`.
pub const BODY_LIMIT: usize = 64 * 1024;
/// The status line and headers must fit in this.
const HEAD_LIMIT: usize = 16 * 1024;
/// Redirects followed with `check_http_follow`, as curl's and browsers' order of size.
const MAX_REDIRECTS: usize = 5;

/// An HTTP check, as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpCheck {
    pub url: Url,
    pub method: Method,
    pub status: StatusSet,
    pub body: Option<String>,
    /// `check_http_host`: the Host header and TLS server name.
    pub host: Option<String>,
    pub follow: bool,
    /// Set for https URLs, and for http ones that may be redirected to https.
    pub tls: Option<Tls>,
}

impl fmt::Display for HttpCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {} {}", self.method, self.url)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
        })
    }
}

impl Method {
    pub fn parse(text: &str) -> Result<Method, String> {
        match text.to_ascii_uppercase().as_str() {
            "GET" => Ok(Method::Get),
            "HEAD" => Ok(Method::Head),
            _ => Err(format!("{text:?} is not GET or HEAD")),
        }
    }
}

/// A probe's URL: `http[s]://HOST[:PORT][/PATH]` with an IP literal or `localhost`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub https: bool,
    /// The authority as written (`127.0.0.1:8080`): the default Host header.
    pub authority: String,
    pub address: SocketAddr,
    /// Path and query, from the first `/` (`/` when the URL has none).
    pub path: String,
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.authority, self.path)
    }
}

impl Url {
    /// No name lookups (a probe must not wait on DNS): the host is an IP address or
    /// `localhost`; a virtual host's name goes in `check_http_host`.
    pub fn parse(text: &str) -> Result<Url, String> {
        let (https, rest) = if let Some(rest) = strip_prefix_ignore_case(text, "https://") {
            (true, rest)
        } else if let Some(rest) = strip_prefix_ignore_case(text, "http://") {
            (false, rest)
        } else {
            return Err(format!("{text:?} does not start with http:// or https://"));
        };
        let (authority, path) = split_authority(rest);
        check_path(path)?;
        let (host, port) = split_host_port(authority, false)?;
        if host.is_empty() {
            return Err(format!("{text:?} has no host"));
        }
        let ip = parse_ip(host).map_err(|why| {
            format!("{why}: the URL names the address to probe; put a virtual host's name in check_http_host")
        })?;
        let port = port.map_or(Ok(default_port(https)), parse_port)?;
        Ok(Url {
            https,
            authority: authority.to_string(),
            address: SocketAddr::new(ip, port),
            path: if path.is_empty() { "/".to_string() } else { path.to_string() },
        })
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

/// `host:port/path?q` → (`host:port`, `/path?q`); a fragment is dropped.
fn split_authority(rest: &str) -> (&str, &str) {
    let rest = rest.split('#').next().unwrap_or(rest);
    match rest.find(['/', '?']) {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, ""),
    }
}

fn check_path(path: &str) -> Result<(), String> {
    match path.bytes().find(|b| b.is_ascii_whitespace() || b.is_ascii_control()) {
        Some(_) => Err(format!("{path:?}: a URL has no spaces or control characters (write %20)")),
        None => Ok(()),
    }
}

fn default_port(https: bool) -> u16 {
    if https {
        443
    } else {
        80
    }
}

/// `check_http_status`: status codes and ranges, `200-399` by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet(Vec<RangeInclusive<u16>>);

impl Default for StatusSet {
    fn default() -> StatusSet {
        StatusSet(vec![200..=399])
    }
}

impl fmt::Display for StatusSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, range) in self.0.iter().enumerate() {
            let separator = if n == 0 { "" } else { "," };
            if range.start() == range.end() {
                write!(f, "{separator}{}", range.start())?;
            } else {
                write!(f, "{separator}{}-{}", range.start(), range.end())?;
            }
        }
        Ok(())
    }
}

impl StatusSet {
    /// `200`, `200-299`, `200,204 301-302`: codes 100 to 599, commas or spaces between.
    pub fn parse(text: &str) -> Result<StatusSet, String> {
        let code = |part: &str| -> Result<u16, String> {
            part.trim()
                .parse()
                .ok()
                .filter(|c| (100..=599).contains(c))
                .ok_or_else(|| format!("{part:?} is not an HTTP status from 100 to 599"))
        };
        let mut ranges = Vec::new();
        for part in text.split([',', ' ', '\t']).filter(|p| !p.is_empty()) {
            let range = match part.split_once('-') {
                Some((low, high)) => code(low)?..=code(high)?,
                None => code(part)?..=code(part)?,
            };
            if range.is_empty() {
                return Err(format!("{part:?} is an empty range"));
            }
            ranges.push(range);
        }
        if ranges.is_empty() {
            return Err("is empty: give status codes or ranges such as 200-399".to_string());
        }
        Ok(StatusSet(ranges))
    }

    pub fn contains(&self, status: u16) -> bool {
        self.0.iter().any(|range| range.contains(&status))
    }
}

/// A response's status line and headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// How the body is delimited (RFC 9112 §6.3, for a response to GET).
    fn framing(&self) -> Framing {
        let chunked = self.header("transfer-encoding").is_some_and(|te| {
            te.rsplit(',').next().is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
        });
        if chunked {
            return Framing::Chunked;
        }
        match self.header("content-length").and_then(|l| l.trim().parse().ok()) {
            Some(length) => Framing::Length(length),
            None => Framing::UntilClose,
        }
    }
}

/// Where the head ends (the blank line): the head's length and where the body starts.
/// Lines may end in CRLF or, as some servers send them, a bare LF (RFC 9112 §2.2).
pub fn head_end(raw: &[u8]) -> Option<(usize, usize)> {
    raw.iter().enumerate().filter(|(_, b)| **b == b'\n').find_map(|(at, _)| match &raw[at + 1..] {
        [b'\n', ..] => Some((at, at + 2)),
        [b'\r', b'\n', ..] => Some((at, at + 3)),
        _ => None,
    })
}

/// Parses the bytes before the blank line ending the headers: `HTTP/1.x NNN reason`
/// and `Name: value` lines. Never panics, whatever the bytes.
pub fn parse_head(bytes: &[u8]) -> Result<Head, String> {
    let text = String::from_utf8_lossy(bytes);
    let mut lines = text.split('\n').map(|line| line.strip_suffix('\r').unwrap_or(line));
    let status_line = lines.next().unwrap_or_default();
    let mut words = status_line.splitn(3, ' ');
    let version = words.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(format!("not an HTTP/1 status line: {:?}", truncate(status_line)));
    }
    let status = words
        .next()
        .filter(|code| code.len() == 3)
        .and_then(|code| code.parse::<u16>().ok())
        .filter(|code| (100..=999).contains(code))
        .ok_or_else(|| format!("no status code in {:?}", truncate(status_line)))?;
    let mut headers = Vec::new();
    for line in lines.filter(|line| !line.is_empty()) {
        let (name, value) =
            line.split_once(':').ok_or_else(|| format!("not a header line: {:?}", truncate(line)))?;
        if name.is_empty() || name.contains([' ', '\t']) {
            return Err(format!("bad header name in {:?}", truncate(line)));
        }
        headers.push((name.to_string(), value.trim().to_string()));
    }
    Ok(Head { status, headers })
}

fn truncate(text: &str) -> String {
    text.chars().take(80).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

/// The body decoded from what has arrived so far, and whether it is complete.
fn decode_body(framing: Framing, raw: &[u8]) -> (Vec<u8>, bool) {
    match framing {
        Framing::Length(length) => (raw[..raw.len().min(length)].to_vec(), raw.len() >= length),
        Framing::Chunked => dechunk(raw),
        Framing::UntilClose => (raw.to_vec(), false),
    }
}

/// Decodes chunked transfer coding as far as the bytes go: (data, saw the last chunk).
/// Malformed input ends the body where it stops making sense. Never panics.
pub fn dechunk(mut raw: &[u8]) -> (Vec<u8>, bool) {
    let mut body = Vec::new();
    loop {
        let Some(line_end) = raw.windows(2).position(|w| w == b"\r\n") else { return (body, false) };
        let size_text = String::from_utf8_lossy(&raw[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else { return (body, false) };
        if size == 0 {
            return (body, true);
        }
        let data = &raw[line_end + 2..];
        let take = size.min(data.len());
        body.extend_from_slice(&data[..take]);
        if take < size || body.len() >= BODY_LIMIT {
            return (body, false);
        }
        raw = data.get(size + 2..).unwrap_or_default();
    }
}

/// Where one request goes: the check's URL, or where a redirect sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RequestTarget {
    https: bool,
    address: SocketAddr,
    /// The Host header.
    authority: String,
    path: String,
}

impl RequestTarget {
    fn of(check: &HttpCheck) -> RequestTarget {
        RequestTarget {
            https: check.url.https,
            address: check.url.address,
            authority: check.host.clone().unwrap_or_else(|| check.url.authority.clone()),
            path: check.url.path.clone(),
        }
    }

    /// The URL as requested, and the address probed when the Host is a name:
    /// `http://www.example.com/health at 127.0.0.1:8080`.
    fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        let url = format!("{scheme}://{}{}", self.authority, self.path);
        match parse_ip(&self.server_name()) {
            Ok(_) => url,
            Err(_) => format!("{url} at {}", self.address),
        }
    }

    /// The TLS server name: the Host header without its port.
    fn server_name(&self) -> String {
        match split_host_port(&self.authority, true) {
            Ok((host, _)) => host.to_string(),
            Err(_) => self.authority.clone(),
        }
    }

    /// Where `Location` sends the next request. The probe stays on the probed host: a
    /// name in the Location becomes the Host header, the address is kept (unless the
    /// Location gives an IP address); scheme, port and path come from the Location.
    fn redirected(&self, location: &str) -> Result<RequestTarget, String> {
        let absolute = strip_prefix_ignore_case(location, "https://")
            .map(|rest| (true, rest))
            .or_else(|| strip_prefix_ignore_case(location, "http://").map(|rest| (false, rest)))
            .or_else(|| location.strip_prefix("//").map(|rest| (self.https, rest)));
        if let Some((https, rest)) = absolute {
            let (authority, path) = split_authority(rest);
            let (host, port) = split_host_port(authority, false)?;
            let port = port.map_or(Ok(default_port(https)), parse_port)?;
            let ip = parse_ip(host).unwrap_or(self.address.ip());
            return Ok(RequestTarget {
                https,
                address: SocketAddr::new(ip, port),
                authority: authority.to_string(),
                path: if path.is_empty() { "/".to_string() } else { path.to_string() },
            });
        }
        let path = if location.starts_with('/') {
            location.to_string()
        } else {
            let directory = self.path.split('?').next().unwrap_or("/");
            let directory = &directory[..directory.rfind('/').map_or(0, |at| at + 1)];
            format!("{}{location}", if directory.is_empty() { "/" } else { directory })
        };
        check_path(&path)?;
        Ok(RequestTarget { path, ..self.clone() })
    }
}

/// Sends the request and judges the answer, within `timeout` in all.
pub fn probe(check: &HttpCheck, timeout: Duration) -> ProbeResult {
    let deadline = Deadline::after(timeout);
    let mut target = RequestTarget::of(check);
    for hop in 0..=MAX_REDIRECTS {
        let want_body = check.method == Method::Get && check.body.is_some();
        let (head, body) = exchange(check, &target, want_body, &deadline)?;
        let redirect = matches!(head.status, 301 | 302 | 303 | 307 | 308);
        if check.follow && redirect {
            let location = head.header("location").ok_or_else(|| {
                Failure::new(format!("HTTP {} from {} without a Location", head.status, target.url()))
            })?;
            if hop == MAX_REDIRECTS {
                return Err(Failure::new(format!("more than {MAX_REDIRECTS} redirects from {}", check.url)));
            }
            target = target.redirected(location).map_err(|why| {
                Failure::new(format!(
                    "cannot follow the redirect from {} to {location:?}: {why}",
                    target.url()
                ))
            })?;
            continue;
        }
        if !check.status.contains(head.status) {
            return Err(Failure::new(format!(
                "HTTP {} from {} (expected {})",
                head.status,
                target.url(),
                check.status
            )));
        }
        if let Some(expected) = &check.body {
            if !contains(&body, expected.as_bytes()) {
                return Err(Failure::new(format!(
                    "body mismatch: {expected:?} not in the first {} bytes from {}",
                    body.len(),
                    target.url()
                )));
            }
        }
        return Ok(());
    }
    Err(Failure::new(format!("more than {MAX_REDIRECTS} redirects from {}", check.url)))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|window| window == needle)
}

/// A plain or TLS connection; every read and write is bounded by the deadline.
enum Connection {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Connection {
    fn socket(&self) -> &TcpStream {
        match self {
            Connection::Plain(stream) => stream,
            Connection::Tls(tls) => &tls.sock,
        }
    }
}

impl Read for Connection {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        match self {
            Connection::Plain(stream) => stream.read(buffer),
            Connection::Tls(tls) => tls.read(buffer),
        }
    }
}

impl Write for Connection {
    fn write(&mut self, buffer: &[u8]) -> io::Result<usize> {
        match self {
            Connection::Plain(stream) => stream.write(buffer),
            Connection::Tls(tls) => tls.write(buffer),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Connection::Plain(stream) => stream.flush(),
            Connection::Tls(tls) => tls.flush(),
        }
    }
}

/// One request and its response's head (and body, when it is to be searched).
fn exchange(
    check: &HttpCheck,
    target: &RequestTarget,
    want_body: bool,
    deadline: &Deadline,
) -> Result<(Head, Vec<u8>), Failure> {
    let stream = deadline.connect(target.address)?;
    deadline.arm(&stream)?;
    let mut connection = if target.https {
        Connection::Tls(Box::new(handshake(check, target, stream, deadline)?))
    } else {
        Connection::Plain(stream)
    };
    let request = format!(
        "{} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: anycast-healthchecker/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        check.method,
        target.path,
        target.authority,
        env!("CARGO_PKG_VERSION")
    );
    deadline.arm(connection.socket())?;
    connection
        .write_all(request.as_bytes())
        .and_then(|()| connection.flush())
        .map_err(|err| deadline.io_failure(&format!("sending the request to {}", target.address), &err))?;
    read_response(&mut connection, target, want_body, deadline)
}

fn handshake(
    check: &HttpCheck,
    target: &RequestTarget,
    mut stream: TcpStream,
    deadline: &Deadline,
) -> Result<StreamOwned<ClientConnection, TcpStream>, Failure> {
    let tls = check.tls.as_ref().ok_or_else(|| {
        Failure::new(format!("{} is https but this check has no TLS settings", target.url()))
    })?;
    let name = target.server_name();
    let server_name = ServerName::try_from(name.clone())
        .or_else(|_| name.parse::<IpAddr>().map(ServerName::from))
        .map_err(|_| Failure::new(format!("{name:?} is not a TLS server name")))?;
    let mut client = ClientConnection::new(tls.client(), server_name)
        .map_err(|err| Failure::new(format!("cannot start TLS with {name}: {err}")))?;
    while client.is_handshaking() {
        deadline.arm(&stream)?;
        if let Err(err) = client.complete_io(&mut stream) {
            let rustls_error = err.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>());
            return Err(match rustls_error {
                Some(tls_error) => Failure::new(tls::describe(tls_error, &name)),
                None => deadline.io_failure(&format!("in the TLS handshake with {}", target.address), &err),
            });
        }
    }
    if let Some(min_days) = tls.min_days {
        let leaf = client
            .peer_certificates()
            .and_then(|chain| chain.first())
            .ok_or_else(|| Failure::new(format!("TLS: {name} sent no certificate")))?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        tls::check_expiry(leaf, min_days, i64::try_from(now).unwrap_or(i64::MAX), &name)
            .map_err(Failure::new)?;
    }
    Ok(StreamOwned::new(client, stream))
}

fn read_response(
    connection: &mut Connection,
    target: &RequestTarget,
    want_body: bool,
    deadline: &Deadline,
) -> Result<(Head, Vec<u8>), Failure> {
    let reading = format!("reading the response from {}", target.address);
    let mut raw = Vec::with_capacity(1024);
    let mut buffer = [0u8; 4096];
    let mut closed = false;
    let (head, body_start) = loop {
        if let Some((end, body_start)) = head_end(&raw) {
            let head = parse_head(&raw[..end]).map_err(|why| {
                Failure::new(format!("malformed HTTP response from {}: {why}", target.url()))
            })?;
            // An interim response (100 Continue, 103 Early Hints): the real one follows.
            if (100..200).contains(&head.status) && head.status != 101 {
                raw.drain(..body_start);
                continue;
            }
            break (head, body_start);
        }
        if raw.len() > HEAD_LIMIT {
            return Err(Failure::new(format!(
                "response headers from {} over {HEAD_LIMIT} bytes",
                target.url()
            )));
        }
        if closed {
            return Err(Failure::new(format!(
                "{} closed the connection before the response headers ended",
                target.address
            )));
        }
        match read_some(connection, &mut buffer, deadline) {
            Ok(0) => closed = true,
            Ok(n) => raw.extend_from_slice(&buffer[..n]),
            Err(err) => return Err(deadline.io_failure(&reading, &err)),
        }
    };
    if !want_body {
        return Ok((head, Vec::new()));
    }
    let framing = head.framing();
    let mut body_raw = raw.split_off(body_start);
    loop {
        let (body, complete) = decode_body(framing, &body_raw);
        if complete || closed || body.len() >= BODY_LIMIT || body_raw.len() >= 2 * BODY_LIMIT {
            return Ok((head, body.into_iter().take(BODY_LIMIT).collect()));
        }
        match read_some(connection, &mut buffer, deadline) {
            Ok(0) => closed = true,
            Ok(n) => body_raw.extend_from_slice(&buffer[..n]),
            Err(err) => return Err(deadline.io_failure(&reading, &err)),
        }
    }
}

/// Reads once; a TLS peer that closes without close_notify has simply ended the body.
fn read_some(connection: &mut Connection, buffer: &mut [u8], deadline: &Deadline) -> io::Result<usize> {
    loop {
        if deadline.passed() {
            return Err(io::Error::new(ErrorKind::TimedOut, "deadline passed"));
        }
        connection.socket().set_read_timeout(Some(deadline.left()))?;
        match connection.read(buffer) {
            Err(err) if err.kind() == ErrorKind::Interrupted => continue,
            Err(err) if err.kind() == ErrorKind::UnexpectedEof => return Ok(0),
            Err(err) if is_timeout(&err) => return Err(err),
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_an_address_a_port_and_a_path() {
        let url = Url::parse("http://127.0.0.1:8080/health?full=1").unwrap();
        assert_eq!(
            (url.https, url.address, url.path.as_str(), url.authority.as_str()),
            (false, "127.0.0.1:8080".parse().unwrap(), "/health?full=1", "127.0.0.1:8080")
        );
        let url = Url::parse("HTTPS://[::1]").unwrap();
        assert_eq!((url.https, url.address, url.path.as_str()), (true, "[::1]:443".parse().unwrap(), "/"));
        assert_eq!(Url::parse("http://localhost/x#frag").unwrap().path, "/x");
        for bad in [
            "ftp://127.0.0.1/",
            "127.0.0.1/",
            "http://www.example.com/",
            "http://127.0.0.1:0/",
            "http:///x",
            "http://127.0.0.1/a b",
            "http://::1/",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn status_sets_take_codes_ranges_and_lists() {
        let set = StatusSet::parse("200, 204 301-302").unwrap();
        assert!(set.contains(200) && set.contains(204) && set.contains(301) && set.contains(302));
        assert!(!set.contains(201) && !set.contains(303) && !set.contains(503));
        assert_eq!(set.to_string(), "200,204,301-302");
        let default = StatusSet::default();
        assert!(
            default.contains(200)
                && default.contains(399)
                && !default.contains(400)
                && !default.contains(199)
        );
        for bad in ["", "2000", "99", "300-200", "ok", "200-", "600"] {
            assert!(StatusSet::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn heads_parse_status_and_headers() {
        let head =
            parse_head(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\nX-A:  b \r\n").unwrap();
        assert_eq!(head.status, 503);
        assert_eq!(head.header("content-length"), Some("5"));
        assert_eq!(head.header("x-a"), Some("b"));
        assert_eq!(head.framing(), Framing::Length(5));
        assert_eq!(parse_head(b"HTTP/1.0 200\r\n").unwrap().status, 200);
        let chunked = parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked").unwrap();
        assert_eq!(chunked.framing(), Framing::Chunked);
        assert_eq!(parse_head(b"HTTP/1.1 200 OK").unwrap().framing(), Framing::UntilClose);
        for bad in [
            &b"SSH-2.0-OpenSSH"[..],
            b"HTTP/1.1 2000 OK",
            b"HTTP/1.1 abc",
            b"HTTP/2 200",
            b"HTTP/1.1 200 OK\r\nno colon",
        ] {
            assert!(parse_head(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn heads_end_at_the_first_blank_line_with_or_without_carriage_returns() {
        // (bytes, (the head's length, where the body starts))
        type Case<'a> = (&'a [u8], Option<(usize, usize)>);
        let table: [Case; 5] = [
            (b"HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody", Some((22, 25))),
            (b"HTTP/1.1 200 OK\nA: b\n\nbody", Some((20, 22))),
            (b"HTTP/1.1 200 OK\r\nA: b\n\r\n", Some((21, 24))),
            (b"HTTP/1.1 200 OK\r\nA: b\r\n", None),
            (b"", None),
        ];
        for (raw, end) in table {
            assert_eq!(head_end(raw), end, "{:?}", String::from_utf8_lossy(raw));
        }
        let (end, _) = head_end(b"HTTP/1.1 204 No Content\nX-A: 1\n\n").unwrap();
        let head = parse_head(&b"HTTP/1.1 204 No Content\nX-A: 1\n\n"[..end]).unwrap();
        assert_eq!((head.status, head.header("x-a")), (204, Some("1")));
    }

    #[test]
    fn chunked_bodies_decode_as_far_as_they_arrived() {
        assert_eq!(dechunk(b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n"), (b"hello world".to_vec(), true));
        assert_eq!(dechunk(b"5\r\nhel"), (b"hel".to_vec(), false));
        assert_eq!(dechunk(b"5\r\nhello\r\n"), (b"hello".to_vec(), false));
        assert_eq!(dechunk(b"zz\r\nhello"), (Vec::new(), false));
        assert_eq!(decode_body(Framing::Length(3), b"abcdef"), (b"abc".to_vec(), true));
        assert_eq!(decode_body(Framing::Length(9), b"abc"), (b"abc".to_vec(), false));
    }

    #[test]
    fn redirects_stay_on_the_probed_address_unless_given_another() {
        let here = RequestTarget {
            https: false,
            address: "127.0.0.1:8080".parse().unwrap(),
            authority: "www.example.com:8080".into(),
            path: "/a/b?x=1".into(),
        };
        let to = |location: &str| here.redirected(location).unwrap();
        assert_eq!(to("/login").path, "/login");
        assert_eq!(to("/login").address, here.address);
        assert_eq!(to("c").path, "/a/c");
        let secure = to("https://www.example.com/x");
        assert_eq!(
            (secure.https, secure.address, secure.authority.as_str(), secure.path.as_str()),
            (true, "127.0.0.1:443".parse().unwrap(), "www.example.com", "/x")
        );
        assert_eq!(to("http://127.0.0.2:81").address, "127.0.0.2:81".parse().unwrap());
        assert_eq!(to("//other:9/").authority, "other:9");
        assert_eq!(secure.server_name(), "www.example.com");
        assert_eq!(here.server_name(), "www.example.com");
    }

    #[test]
    fn body_search_is_bytewise() {
        assert!(contains(b"status: ok\n", b"ok"));
        assert!(!contains(b"status: k", b"ok"));
        assert!(contains(b"", b""));
    }
}
