//! Servers the native-probe tests probe, on loopback: a small HTTP(S) server whose
//! answer the test sets, certificates made by `openssl` (a CA, and leaves with chosen
//! names and dates), and NSD serving a test zone.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// What the HTTP server answers.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: String,
    /// Send the body with chunked transfer coding.
    pub chunked: bool,
    /// Accept, read the request, and never answer.
    pub stall: bool,
    /// Extra header lines (`Location: /ok`).
    pub headers: Vec<String>,
    /// Sent before the response: interim responses (`HTTP/1.1 103 Early Hints...`).
    pub interim: String,
    /// End the head's lines with a bare LF, as some servers do.
    pub bare_lf: bool,
}

impl Answer {
    pub fn ok(body: &str) -> Answer {
        Answer {
            status: 200,
            body: body.to_string(),
            chunked: false,
            stall: false,
            headers: Vec::new(),
            interim: String::new(),
            bare_lf: false,
        }
    }
}

/// A threaded HTTP/1.1 server (TLS when given a certificate); answers per path:
/// `/` and unknown paths get `default`, others what `route` set.
pub struct HttpServer {
    pub address: SocketAddr,
    routes: Arc<Mutex<Vec<(String, Answer)>>>,
    default: Arc<Mutex<Answer>>,
    /// Every request's first line and Host header, in order.
    pub seen: Arc<Mutex<Vec<(String, String)>>>,
    stop: Arc<AtomicBool>,
}

impl HttpServer {
    pub fn start(answer: Answer) -> HttpServer {
        HttpServer::start_on("127.0.0.1:0", answer, None)
    }

    pub fn start_tls(answer: Answer, certificate: &Path, key: &Path) -> HttpServer {
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(certificate).unwrap().collect::<Result<_, _>>().unwrap();
        let key = PrivateKeyDer::from_pem_file(key).unwrap();
        let config =
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .unwrap();
        HttpServer::start_on("127.0.0.1:0", answer, Some(Arc::new(config)))
    }

    pub fn start_on(address: &str, answer: Answer, tls: Option<Arc<rustls::ServerConfig>>) -> HttpServer {
        let listener = TcpListener::bind(address).unwrap();
        let address = listener.local_addr().unwrap();
        let server = HttpServer {
            address,
            routes: Arc::default(),
            default: Arc::new(Mutex::new(answer)),
            seen: Arc::default(),
            stop: Arc::default(),
        };
        let (routes, default, seen, stop) =
            (server.routes.clone(), server.default.clone(), server.seen.clone(), server.stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let (routes, default, seen, tls) =
                    (routes.clone(), default.clone(), seen.clone(), tls.clone());
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                    match tls {
                        Some(config) => {
                            let Ok(connection) = rustls::ServerConnection::new(config) else { return };
                            let mut stream = rustls::StreamOwned::new(connection, stream);
                            serve(&mut stream, &routes, &default, &seen);
                        }
                        None => serve(&mut { stream }, &routes, &default, &seen),
                    }
                });
            }
        });
        server
    }

    pub fn set(&self, answer: Answer) {
        *self.default.lock().unwrap() = answer;
    }

    pub fn route(&self, path: &str, answer: Answer) {
        self.routes.lock().unwrap().push((path.to_string(), answer));
    }

    pub fn requests(&self) -> Vec<(String, String)> {
        self.seen.lock().unwrap().clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.address); // wakes accept() so the thread ends
    }
}

fn serve(
    stream: &mut (impl Read + Write),
    routes: &Mutex<Vec<(String, Answer)>>,
    default: &Mutex<Answer>,
    seen: &Mutex<Vec<(String, String)>>,
) {
    let mut request = Vec::new();
    let mut buffer = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buffer[..n]),
        }
    }
    let text = String::from_utf8_lossy(&request).into_owned();
    let first = text.lines().next().unwrap_or_default().to_string();
    let host = text
        .lines()
        .find_map(|l| l.strip_prefix("Host: ").or_else(|| l.strip_prefix("host: ")))
        .unwrap_or_default()
        .to_string();
    seen.lock().unwrap().push((first.clone(), host));
    let path = first.split(' ').nth(1).unwrap_or("/");
    let answer = routes
        .lock()
        .unwrap()
        .iter()
        .rev()
        .find(|(p, _)| p == path)
        .map(|(_, a)| a.clone())
        .unwrap_or_else(|| default.lock().unwrap().clone());
    if answer.stall {
        std::thread::sleep(Duration::from_secs(5));
        return;
    }
    let mut head = format!("HTTP/1.1 {} Test\r\nConnection: close\r\n", answer.status);
    for header in &answer.headers {
        head.push_str(&format!("{header}\r\n"));
    }
    let body = if answer.chunked {
        head.push_str("Transfer-Encoding: chunked\r\n\r\n");
        let mut chunked = String::new();
        for piece in answer.body.as_bytes().chunks(7) {
            chunked.push_str(&format!("{:x}\r\n{}\r\n", piece.len(), String::from_utf8_lossy(piece)));
        }
        chunked.push_str("0\r\n\r\n");
        chunked
    } else {
        head.push_str(&format!("Content-Length: {}\r\n\r\n", answer.body.len()));
        answer.body.clone()
    };
    let head_only = first.starts_with("HEAD ");
    if answer.bare_lf {
        head = head.replace("\r\n", "\n");
    }
    let _ = stream.write_all(answer.interim.as_bytes());
    let _ = stream.write_all(head.as_bytes());
    if !head_only {
        let _ = stream.write_all(body.as_bytes());
    }
    let _ = stream.flush();
}

/// A test CA and the leaf certificates it signs, made with the `openssl` command.
pub struct Pki {
    dir: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl runs");
    assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// `date -u -d WHEN` as an X.509 time (`20261130120000Z`).
fn x509_time(when: &str) -> String {
    let output = Command::new("date").args(["-u", "-d", when, "+%Y%m%d%H%M%SZ"]).output().unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

impl Pki {
    pub fn new(dir: &Path) -> Pki {
        std::fs::create_dir_all(dir.join("issued")).unwrap();
        std::fs::write(dir.join("index.txt"), "").unwrap();
        std::fs::write(dir.join("serial"), "1000\n").unwrap();
        std::fs::write(
            dir.join("ca.cnf"),
            "[ca]\ndefault_ca = test\n[test]\ndir = .\ndatabase = ./index.txt\nnew_certs_dir = ./issued\n\
             serial = ./serial\ndefault_md = sha256\npolicy = any\nunique_subject = no\n\
             copy_extensions = none\n[any]\ncommonName = supplied\n",
        )
        .unwrap();
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "30",
                "-subj",
                "/CN=Test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        Pki { dir: dir.to_path_buf() }
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// A leaf for `names` (DNS names; IP addresses become IP SANs), valid from
    /// `not_before` to `not_after` (`date -d` phrases: "-2 days", "+3 days 1 hour").
    /// Returns (certificate, key).
    pub fn leaf(&self, label: &str, names: &[&str], not_before: &str, not_after: &str) -> (PathBuf, PathBuf) {
        let (key, csr, cert, ext) =
            (format!("{label}.key"), format!("{label}.csr"), format!("{label}.pem"), format!("{label}.ext"));
        let sans: Vec<String> =
            names
                .iter()
                .map(|n| {
                    if n.parse::<std::net::IpAddr>().is_ok() {
                        format!("IP:{n}")
                    } else {
                        format!("DNS:{n}")
                    }
                })
                .collect();
        std::fs::write(
            self.dir.join(&ext),
            format!(
                "subjectAltName={}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
                sans.join(",")
            ),
        )
        .unwrap();
        openssl(
            &self.dir,
            &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", &key],
        );
        openssl(
            &self.dir,
            &["req", "-new", "-key", &key, "-subj", &format!("/CN={}", names[0]), "-out", &csr],
        );
        let (start, end) = (x509_time(not_before), x509_time(not_after));
        openssl(
            &self.dir,
            &[
                "ca",
                "-batch",
                "-config",
                "ca.cnf",
                "-cert",
                "ca.pem",
                "-keyfile",
                "ca.key",
                "-notext",
                "-in",
                &csr,
                "-out",
                &cert,
                "-startdate",
                &start,
                "-enddate",
                &end,
                "-extfile",
                &ext,
            ],
        );
        (self.dir.join(cert), self.dir.join(key))
    }
}

/// NSD serving `ok.test` (A, AAAA, TXT, and a TXT set too big for 512 bytes) and
/// `broken.test` (configured, zone file missing: SERVFAIL), on a free loopback port.
pub struct Nsd {
    pub address: SocketAddr,
    child: Child,
}

/// Where NSD is; `NSD` overrides.
pub fn nsd_program() -> Option<PathBuf> {
    let program = std::env::var_os("NSD").map_or_else(|| PathBuf::from("/usr/sbin/nsd"), PathBuf::from);
    program.is_file().then_some(program)
}

impl Nsd {
    pub fn start(dir: &Path, program: &Path) -> Nsd {
        std::fs::create_dir_all(dir).unwrap();
        let mut zone = String::from(
            "$ORIGIN ok.test.\n$TTL 60\n@ IN SOA ns.ok.test. admin.ok.test. 1 3600 600 86400 60\n\
             @ IN NS ns.ok.test.\nns IN A 127.0.0.1\nwww IN A 192.0.2.10\nwww IN A 192.0.2.11\n\
             www IN AAAA 2001:db8::10\nalias IN CNAME www.ok.test.\ntxt IN TXT \"v=test1 ready\"\n",
        );
        for n in 0..20 {
            zone.push_str(&format!("big IN TXT \"record-{n:02}-{}\"\n", "y".repeat(50)));
        }
        zone.push_str("big IN TXT \"needle-in-the-tcp-answer\"\n");
        std::fs::write(dir.join("ok.zone"), zone).unwrap();
        // A free port for both UDP and TCP (NSD binds both).
        let port = loop {
            let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
            let port = udp.local_addr().unwrap().port();
            if TcpListener::bind(("127.0.0.1", port)).is_ok() {
                break port;
            }
        };
        let d = dir.display();
        std::fs::write(
            dir.join("nsd.conf"),
            format!(
                "server:\n  ip-address: 127.0.0.1@{port}\n  port: {port}\n  username: \"\"\n  chroot: \"\"\n  \
                 zonesdir: \"{d}\"\n  database: \"\"\n  pidfile: \"{d}/nsd.pid\"\n  xfrdfile: \"{d}/xfrd.state\"\n  \
                 zonelistfile: \"{d}/zone.list\"\n  server-count: 1\n  logfile: \"{d}/nsd.log\"\n  verbosity: 1\n\
                 remote-control:\n  control-enable: no\n\
                 zone:\n  name: ok.test\n  zonefile: ok.zone\n\
                 zone:\n  name: broken.test\n  zonefile: missing.zone\n"
            ),
        )
        .unwrap();
        let child = Command::new(program)
            .args(["-d", "-c"])
            .arg(dir.join("nsd.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nsd starts");
        let nsd = Nsd { address: SocketAddr::from(([127, 0, 0, 1], port)), child };
        let log = dir.join("nsd.log");
        super::wait_for("NSD to start", Duration::from_secs(20), || {
            std::fs::read_to_string(&log).is_ok_and(|l| l.contains("nsd started"))
        });
        nsd
    }
}

impl Drop for Nsd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
