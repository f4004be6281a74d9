//! `prometheus_listen` (extension): `/metrics` over HTTP from one small blocking thread,
//! for hosts that have no node_exporter to read the textfile. Each request is read and
//! answered with deadlines, one at a time, so a slow client delays scrapes by at most
//! its timeout and can never hold the daemon.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};

/// How long a client may take to send its request, or to take the answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);

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
                for stream in listener.incoming() {
                    if stopping.load(Ordering::Relaxed) {
                        return;
                    }
                    if let Ok(stream) = stream {
                        serve(stream, render);
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

/// Answers one request: `GET /metrics` (or `HEAD`) gets the metrics, anything else 404.
fn serve(mut stream: TcpStream, render: fn() -> String) {
    let _ = stream.set_read_timeout(Some(CLIENT_TIMEOUT));
    let _ = stream.set_write_timeout(Some(CLIENT_TIMEOUT));
    let mut request = Vec::new();
    let mut buffer = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < REQUEST_LIMIT {
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
    let _ = stream.write_all(head.as_bytes());
    if method != "HEAD" {
        let _ = stream.write_all(body.as_bytes());
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
}
