//! `prometheus_listen` (extension): `/metrics` over HTTP from small blocking threads,
//! for hosts that have no node_exporter to read the textfile. Each client gets a thread
//! of its own and one deadline for its whole exchange (request and answer), and at
//! most [`MOST_CLIENTS`] are served at once: a slow client (a byte every second) is
//! cut off at its deadline and never delays a scrape beside it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// How long a client may take for its whole exchange: sending its request, and taking
/// the answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);

/// Clients served at once; one more is answered 503 and closed at once.
const MOST_CLIENTS: usize = 4;

/// The most of a request that is read (its first line is all that matters).
const REQUEST_LIMIT: usize = 8192;

/// The running server; [`Server::stop`] ends it.
pub(crate) struct Server {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Listens on `address` and serves `/metrics` from `render`.
    pub(crate) fn start(address: SocketAddr, render: fn() -> String) -> Result<Server> {
        let listener = TcpListener::bind(address)
            .with_context(|| format!("failed to listen on {address} for Prometheus (prometheus_listen)"))?;
        let address = listener.local_addr().context("the listening address")?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("prometheus-http".into())
            .stack_size(256 * 1024)
            .spawn(move || {
                let serving = Arc::new(AtomicUsize::new(0));
                for stream in listener.incoming() {
                    if stopping.load(Ordering::Relaxed) {
                        return;
                    }
                    let Ok(mut stream) = stream else { continue };
                    if serving.fetch_add(1, Ordering::AcqRel) >= MOST_CLIENTS {
                        serving.fetch_sub(1, Ordering::AcqRel);
                        let _ = stream.set_write_timeout(Some(CLIENT_TIMEOUT));
                        let _ = stream.write_all(BUSY);
                        continue;
                    }
                    let done = Arc::clone(&serving);
                    let client =
                        std::thread::Builder::new().name("prometheus-client".into()).stack_size(256 * 1024);
                    let spawned = client.spawn(move || {
                        serve(stream, render);
                        done.fetch_sub(1, Ordering::AcqRel);
                    });
                    if spawned.is_err() {
                        serving.fetch_sub(1, Ordering::AcqRel);
                    }
                }
            })
            .context("failed to start the Prometheus HTTP thread")?;
        log::info!("serving Prometheus metrics on http://{address}/metrics");
        Ok(Server { address, stop, thread: Some(thread) })
    }

    /// Ends the thread: the flag, then a connection of our own wakes its `accept`.
    pub(crate) fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect_timeout(&self.address, CLIENT_TIMEOUT);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The answer when [`MOST_CLIENTS`] are being served.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// Answers one request: `GET /metrics` (or `HEAD`) gets the metrics, anything else 404.
/// Everything within one deadline: a client past it gets nothing more.
fn serve(mut stream: TcpStream, render: fn() -> String) {
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    let left = || Some(deadline.saturating_duration_since(Instant::now())).filter(|d| !d.is_zero());
    let mut request = Vec::new();
    let mut buffer = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < REQUEST_LIMIT {
        let Some(time) = left() else { return };
        let _ = stream.set_read_timeout(Some(time));
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => request.extend_from_slice(&buffer[..n]),
        }
    }
    let text = String::from_utf8_lossy(&request);
    let mut words = text.lines().next().unwrap_or_default().split_whitespace();
    let (method, path) = (words.next().unwrap_or_default(), words.next().unwrap_or_default());
    let path = path.split('?').next().unwrap_or_default();
    let (status, body) = match (method, path) {
        ("GET" | "HEAD", "/metrics") => ("200 OK", render()),
        _ => ("404 Not Found", "only /metrics is served here\n".to_string()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let answer = if method == "HEAD" { head } else { head + &body };
    for chunk in answer.as_bytes().chunks(64 * 1024) {
        let Some(time) = left() else { return };
        let _ = stream.set_write_timeout(Some(time));
        if stream.write_all(chunk).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(address: SocketAddr, path: &str) -> String {
        let mut stream = TcpStream::connect(address).unwrap();
        stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    }

    #[test]
    fn metrics_are_served_and_other_paths_are_not() {
        let server = Server::start("127.0.0.1:0".parse().unwrap(), || "up 1\n".to_string()).unwrap();
        let answer = get(server.address, "/metrics");
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.contains("Content-Length: 5\r\n") && answer.ends_with("\r\n\r\nup 1\n"), "{answer}");
        assert!(get(server.address, "/").starts_with("HTTP/1.1 404 Not Found\r\n"));
        // A client that connects and says nothing delays the next one, never blocks it.
        let _silent = TcpStream::connect(server.address).unwrap();
        assert!(get(server.address, "/metrics?x=1").starts_with("HTTP/1.1 200 OK"));
        server.stop();
    }

    #[test]
    fn a_client_sending_a_byte_at_a_time_is_cut_off_and_scrapes_beside_it_are_answered() {
        let server = Server::start("127.0.0.1:0".parse().unwrap(), || "up 1\n".to_string()).unwrap();
        let mut slow = TcpStream::connect(server.address).unwrap();
        let dribbler = std::thread::spawn(move || {
            // A byte every 0.5 s, each well within a per-read timeout: only a deadline
            // for the whole request ends it.
            for byte in b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: yes-yes-yes\r\n\r\n".iter().cycle() {
                std::thread::sleep(Duration::from_millis(500));
                if slow.write_all(&[*byte]).is_err() {
                    return true; // Cut off.
                }
            }
            false
        });
        // Accepted after the slow one (connections are accepted in order).
        let mut scrape = TcpStream::connect(server.address).unwrap();
        scrape.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        scrape.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut answer = String::new();
        scrape.read_to_string(&mut answer).expect("the scrape is answered");
        assert!(answer.starts_with("HTTP/1.1 200 OK") && answer.ends_with("up 1\n"), "{answer}");
        assert!(dribbler.join().unwrap(), "the slow client was cut off");
        server.stop();
    }

    #[test]
    fn clients_beyond_the_most_are_told_busy_not_queued() {
        let server = Server::start("127.0.0.1:0".parse().unwrap(), || "up 1\n".to_string()).unwrap();
        let silent: Vec<TcpStream> =
            (0..MOST_CLIENTS).map(|_| TcpStream::connect(server.address).unwrap()).collect();
        // Each silent client holds a slot until its deadline; the next is refused.
        let mut extra = TcpStream::connect(server.address).unwrap();
        extra.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut answer = String::new();
        let _ = extra.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        drop(silent);
        server.stop();
    }
}
