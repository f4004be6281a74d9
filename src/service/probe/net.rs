//! What every native probe shares: one deadline for the whole probe, IP-literal
//! targets (a probe never waits on a name lookup), and socket errors as reasons.

use std::io::{self, ErrorKind};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::Failure;

/// The instant a probe must be done by, and the timeout it came from (for messages).
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    end: Instant,
    timeout: Duration,
}

impl Deadline {
    pub fn after(timeout: Duration) -> Deadline {
        Deadline { end: Instant::now() + timeout, timeout }
    }

    /// Time left, never zero (a zero socket timeout means "block forever").
    pub fn left(&self) -> Duration {
        self.end.saturating_duration_since(Instant::now()).max(Duration::from_millis(1))
    }

    pub fn passed(&self) -> bool {
        Instant::now() >= self.end
    }

    /// "after 0.500s", for reasons.
    pub fn after_text(&self) -> String {
        format!("after {}s", crate::sys::duration_fmt::secs(self.timeout))
    }

    /// Connects within the time left; refused and timed out in words an operator greps.
    pub fn connect(&self, target: SocketAddr) -> Result<TcpStream, Failure> {
        let stream = TcpStream::connect_timeout(&target, self.left()).map_err(|err| match err.kind() {
            ErrorKind::TimedOut | ErrorKind::WouldBlock => {
                Failure::timeout(format!("timed out connecting to {target} {}", self.after_text()))
            }
            ErrorKind::ConnectionRefused => Failure::new(format!("connection to {target} refused")),
            _ => Failure::new(format!("cannot connect to {target}: {err}")),
        })?;
        close_with_reset(&stream);
        Ok(stream)
    }

    /// Sets the socket's read and write timeouts to the time left.
    pub fn arm(&self, stream: &TcpStream) -> Result<(), Failure> {
        let left = Some(self.left());
        stream
            .set_read_timeout(left)
            .and_then(|()| stream.set_write_timeout(left))
            .map_err(|err| Failure::new(format!("cannot set a socket timeout: {err}")))
    }

    /// Reads exactly `buffer.len()` bytes, all before the deadline: a timeout per read
    /// alone lets a peer that sends a byte at a time go on for ever.
    pub fn read_exact(&self, stream: &mut TcpStream, buffer: &mut [u8]) -> io::Result<()> {
        use std::io::Read;
        let mut filled = 0;
        while filled < buffer.len() {
            if self.passed() {
                return Err(ErrorKind::TimedOut.into());
            }
            stream.set_read_timeout(Some(self.left()))?;
            match stream.read(&mut buffer[filled..]) {
                Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
                Ok(n) => filled += n,
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }

    /// An I/O error while `doing` ("reading the response from 127.0.0.1:80").
    pub fn io_failure(&self, doing: &str, err: &io::Error) -> Failure {
        if is_timeout(err) {
            Failure::timeout(format!("timed out {doing} {}", self.after_text()))
        } else {
            Failure::new(format!("error {doing}: {err}"))
        }
    }
}

/// A probe's connection ends with a reset (SO_LINGER 0), as HAProxy's health checks
/// do: no side keeps it in TIME_WAIT. A thousand probes a second would otherwise hold
/// tens of thousands of TIME_WAIT sockets, close to the ephemeral port range, and make
/// every connect search past them. Best effort: if it cannot be set, the connection
/// closes normally.
fn close_with_reset(stream: &TcpStream) {
    crate::sys::os::reset_on_close(stream);
}

pub fn is_timeout(err: &io::Error) -> bool {
    matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// An IP address or `localhost` (127.0.0.1); IPv6 may be bracketed. No name lookups.
pub fn parse_ip(host: &str) -> Result<IpAddr, String> {
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if bare.eq_ignore_ascii_case("localhost") {
        return Ok(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    bare.parse().map_err(|_| format!("{host:?} is not an IP address (or localhost)"))
}

/// A port from 1 to 65535.
pub fn parse_port(text: &str) -> Result<u16, String> {
    text.parse().ok().filter(|p| *p > 0).ok_or_else(|| format!("{text:?} is not a port from 1 to 65535"))
}

/// Splits `HOST[:PORT]` where an IPv6 host is bracketed (`[::1]:53`) or, without a
/// port, may be bare (`::1`) when `bare_ipv6` allows it.
pub fn split_host_port(text: &str, bare_ipv6: bool) -> Result<(&str, Option<&str>), String> {
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(|| format!("{text:?}: no closing ]"))?;
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err(format!("{text:?}: expected :PORT after ]")),
            },
        };
    }
    match text.matches(':').count() {
        0 => Ok((text, None)),
        1 => text.rsplit_once(':').map(|(h, p)| (h, Some(p))).ok_or_else(|| text.to_string()),
        _ if bare_ipv6 => Ok((text, None)),
        _ => Err(format!("{text:?}: write an IPv6 address as [ADDRESS]:PORT")),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    #[test]
    fn a_peer_sending_a_byte_at_a_time_runs_out_of_one_deadline() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let dribbler = std::thread::spawn(move || {
            let (mut peer, _) = listener.accept().unwrap();
            // A byte every 100 ms, far within any one read's timeout.
            for _ in 0..100 {
                std::thread::sleep(Duration::from_millis(100));
                if peer.write_all(b"x").is_err() {
                    return;
                }
            }
        });
        let deadline = Deadline::after(Duration::from_millis(500));
        let mut stream = TcpStream::connect(address).unwrap();
        let mut buffer = [0u8; 64];
        let err = deadline.read_exact(&mut stream, &mut buffer).expect_err("64 bytes take 6.4 s");
        assert!(is_timeout(&err), "{err}");
        drop(stream);
        dribbler.join().unwrap();
    }
    use super::*;

    #[test]
    fn hosts_and_ports_split_with_ipv6_in_brackets() {
        assert_eq!(split_host_port("127.0.0.1:53", false), Ok(("127.0.0.1", Some("53"))));
        assert_eq!(split_host_port("[::1]:53", false), Ok(("::1", Some("53"))));
        assert_eq!(split_host_port("[::1]", false), Ok(("::1", None)));
        assert_eq!(split_host_port("::1", true), Ok(("::1", None)));
        assert_eq!(split_host_port("localhost", false), Ok(("localhost", None)));
        assert!(split_host_port("::1:53", false).is_err());
        assert!(split_host_port("[::1]53", false).is_err());
        assert!(split_host_port("[::1", false).is_err());
    }

    #[test]
    fn only_ip_literals_and_localhost() {
        assert_eq!(parse_ip("localhost"), Ok(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        assert_eq!(parse_ip("[::1]"), Ok("::1".parse().unwrap()));
        assert!(parse_ip("example.com").is_err());
        assert!(parse_port("0").is_err() && parse_port("65536").is_err() && parse_port("").is_err());
        assert_eq!(parse_port("65535"), Ok(65535));
    }
}
