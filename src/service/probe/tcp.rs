//! `check_tcp`: healthy when a TCP connection to the target completes within the
//! timeout; with `check_tcp_send` that string is sent, and with `check_tcp_expect` the
//! first bytes read must contain that string. Blocking sockets with deadlines: the
//! whole probe never takes longer than its timeout.

use std::fmt;
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use super::net::{is_timeout, parse_ip, parse_port, split_host_port, Deadline};
use super::{Failure, ProbeResult};

/// How much is read looking for `check_tcp_expect`.
const READ_LIMIT: usize = 4096;

/// A TCP check, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpCheck {
    pub target: SocketAddr,
    pub send: Option<String>,
    pub expect: Option<String>,
}

impl fmt::Display for TcpCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TCP {}", self.target)
    }
}

/// Reads `HOST:PORT`: an IPv4 address, `[IPv6]`, or `localhost` (127.0.0.1), and a
/// port from 1 to 65535. No name lookups: a probe must not wait on DNS.
pub fn parse_target(text: &str) -> Result<SocketAddr, String> {
    let (host, port) = split_host_port(text, false)?;
    let port = port.ok_or_else(|| format!("{text:?} is not HOST:PORT (IPv6 as [ADDRESS]:PORT)"))?;
    Ok(SocketAddr::new(parse_ip(host)?, parse_port(port)?))
}

/// Connects (and sends, and reads) within `timeout`.
pub fn probe(check: &TcpCheck, timeout: Duration) -> ProbeResult {
    let deadline = Deadline::after(timeout);
    let mut stream = deadline.connect(check.target)?;
    if let Some(send) = &check.send {
        deadline.arm(&stream)?;
        stream
            .write_all(send.as_bytes())
            .map_err(|err| deadline.io_failure(&format!("sending to {}", check.target), &err))?;
    }
    let Some(expect) = &check.expect else { return Ok(()) };
    let mut seen = Vec::new();
    let mut buffer = [0u8; 1024];
    while seen.len() < READ_LIMIT {
        deadline.arm(&stream)?;
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => {
                seen.extend_from_slice(&buffer[..n]);
                if String::from_utf8_lossy(&seen).contains(expect.as_str()) {
                    return Ok(());
                }
            }
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) if is_timeout(&err) => {
                return Err(Failure::timeout(format!(
                    "timed out reading from {} {}: {expect:?} not seen",
                    check.target,
                    deadline.after_text()
                )))
            }
            Err(err) => return Err(Failure::new(format!("cannot read from {}: {err}", check.target))),
        }
    }
    Err(Failure::new(format!("{expect:?} not in the first {} bytes from {}", seen.len(), check.target)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn targets_are_ip_literals_or_localhost_with_a_port() {
        assert_eq!(parse_target("127.0.0.1:53"), Ok("127.0.0.1:53".parse().unwrap()));
        assert_eq!(parse_target("[::1]:8080"), Ok("[::1]:8080".parse().unwrap()));
        assert_eq!(parse_target("localhost:80"), Ok("127.0.0.1:80".parse().unwrap()));
        for bad in ["127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", "example.com:80", ":80", "::1:80"] {
            assert!(parse_target(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_listening_port_passes_and_a_closed_one_is_refused() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = listener.local_addr().unwrap();
        let check = TcpCheck { target, send: None, expect: None };
        assert_eq!(probe(&check, Duration::from_secs(2)), Ok(()));
        drop(listener);
        let err = probe(&check, Duration::from_secs(2)).unwrap_err();
        assert_eq!(err, Failure::new(format!("connection to {target} refused")));
    }

    #[test]
    fn send_and_expect_read_the_answer_and_a_silent_server_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(mut stream) = stream else { continue };
                let mut line = [0u8; 5];
                let _ = stream.read_exact(&mut line);
                if n == 0 {
                    let _ = stream.write_all(b"+PONG\r\n");
                }
                // The second connection gets no answer: it stays open, silent.
                std::thread::sleep(Duration::from_secs(2));
            }
        });
        let check = TcpCheck { target, send: Some("PING\n".into()), expect: Some("+PONG".into()) };
        assert_eq!(probe(&check, Duration::from_secs(2)), Ok(()));
        let err = probe(&check, Duration::from_millis(300)).unwrap_err();
        assert!(err.timed_out);
        let err = err.reason;
        assert!(err.starts_with(&format!("timed out reading from {target} after 0.300s")), "{err}");
    }
}
