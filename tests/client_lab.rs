//! What a client sees: two anycast hosts (A and B) behind a real router, and a client
//! behind the router making new TCP connections to the anycast address. The router
//! (Bird 2) learns 10.52.12.1/32 from both hosts over eBGP and installs both paths as
//! one multipath kernel route (ECMP, hashed on ports); each host runs a real HTTP server
//! on the address that answers its name, Bird with our shipped example (A Bird 2, B Bird
//! 3 where it is installed) and our daemon with a native `check_http` on that server.
//! Network namespaces R, A, B and C (the client), all made and removed by the test. The
//! whole-stack test gives each host 200 addresses, a service each, and one server.
//!
//! The client (this test's own code, four threads in C's namespace) sends 200 requests
//! a second, each on a new connection with short timeouts, and records when it started,
//! whether it failed (refused, reset, timed out, no route) and which host answered. The
//! router's kernel route is sampled beside it. Timings are printed, not asserted; the
//! assertions are the properties that must hold whatever the machine's speed.
#![allow(unsafe_code)] // setns(2) for the client's threads

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::common::bird::{point_at_prefix_files, tools, write_prefix_files};
use crate::common::{self, DaemonProcess, Sandbox};

const ANYCAST: &str = "10.52.12.1";
const WAIT: Duration = Duration::from_secs(30);
/// The daemons' detection: check_interval x check_fail.
const INTERVAL: f64 = 0.5;
const FAIL: u32 = 2;

/// The daemons' check timing (check_fail is `FAIL`).
#[derive(Clone, Copy)]
struct Timing {
    interval: f64,
    rise: u32,
}

impl Timing {
    /// check_timeout: most of the interval.
    fn timeout(self) -> f64 {
        self.interval * 0.8
    }
}

/// One anycast host: its namespace, addresses and processes.
struct Host {
    name: &'static str,
    namespace: String,
    dir: PathBuf,
    /// Its address on the link to the router, and the router's.
    address: &'static str,
    router_side: &'static str,
    /// Its Bird: the `bird` binary and the shipped example it runs.
    bird_binary: PathBuf,
    example: &'static str,
    /// The anycast addresses it serves, and its daemons' check timing.
    addresses: Vec<String>,
    timing: Timing,
    bird: Option<Child>,
    server: Option<Child>,
    daemon: Option<DaemonProcess>,
}

struct ClientLab {
    _sandbox: Sandbox,
    router: String,
    client: String,
    router_bird: Option<Child>,
    hosts: [Host; 2],
    /// The anycast addresses, each served by both hosts.
    addresses: Vec<String>,
    /// When the lab started, on the monotonic clock and on the wall clock (to place
    /// the daemons' log lines).
    epoch: Instant,
    epoch_wall: SystemTime,
}

/// The anycast addresses of a lab with `count` services: the shipped example's first
/// (it has its static route) or `count` from 10.53.0.1 (their static routes added).
fn anycast_addresses(count: usize) -> Vec<String> {
    match count {
        1 => vec![ANYCAST.to_string()],
        _ => (0..count).map(|i| format!("10.53.{}.{}", i / 250, i % 250 + 1)).collect(),
    }
}

fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().expect("run ip");
    assert!(status.success(), "ip {} failed", args.join(" "));
}

/// `ip -batch` in `namespace`: one command a line.
fn ip_batch(namespace: &str, commands: &str) {
    let mut child = Command::new("ip")
        .args(["-n", namespace, "-batch", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("run ip -batch");
    child.stdin.take().expect("stdin").write_all(commands.as_bytes()).expect("ip -batch input");
    assert!(child.wait().expect("ip -batch").success(), "ip -batch in {namespace} failed");
}

/// The hosts' web server (argument: the host's name): one event loop, as a thread per
/// connection falls behind two hundred checks a second on two cores.
const WEB_SERVER: &str = "
import asyncio, sys
ANSWER = ('HTTP/1.0 200 OK\\r\\nContent-Length: 2\\r\\nConnection: close\\r\\n\\r\\n' + sys.argv[1] + '\\n').encode()
async def answer(reader, writer):
    try:
        await reader.readuntil(b'\\r\\n\\r\\n')
        writer.write(ANSWER)
        await writer.drain()
    except Exception:
        pass
    writer.close()
async def main():
    server = await asyncio.start_server(answer, '0.0.0.0', 80, backlog=1024, reuse_address=True)
    await server.serve_forever()
asyncio.run(main())
";

const TIMERS: &str = "connect delay time 1; connect retry time 1; error wait time 1, 2;";

impl ClientLab {
    /// The lab with one anycast address, checked every `INTERVAL`; host B on Bird 3
    /// where it is installed.
    fn start() -> ClientLab {
        ClientLab::start_with(1, Timing { interval: INTERVAL, rise: 2 })
    }

    /// The lab with `services` anycast addresses on each host, one service each.
    fn start_with(services: usize, timing: Timing) -> ClientLab {
        let sandbox = Sandbox::new();
        let addresses = anycast_addresses(services);
        let tools = tools();
        let bird3 = common::bird::bird3_or_skip().map(|dir| dir.join("sbin/bird"));
        let id = format!("{}{}", std::process::id() % 10_000, common::unique());
        let ns = |role: &str| format!("ahl{id}{role}");
        let (router, client) = (ns("r"), ns("c"));
        let host = |name: &'static str, address, router_side, (bird_binary, example)| Host {
            name,
            namespace: ns(&name.to_lowercase()),
            dir: sandbox.path(name),
            address,
            router_side,
            bird_binary,
            example,
            addresses: addresses.clone(),
            timing,
            bird: None,
            server: None,
            daemon: None,
        };
        let b_bird = match bird3 {
            Some(bird3) => (bird3, "bird3.conf"),
            None => (tools.bird2.clone(), "bird2.conf"),
        };
        let hosts = [
            host("A", "10.91.0.2", "10.91.0.1", (tools.bird2.clone(), "bird2.conf")),
            host("B", "10.92.0.2", "10.92.0.1", b_bird),
        ];
        let mut lab = ClientLab {
            _sandbox: sandbox,
            router,
            client,
            router_bird: None,
            hosts,
            addresses,
            epoch: Instant::now(),
            epoch_wall: SystemTime::now(),
        };
        lab.wire();
        lab.start_router();
        for index in 0..2 {
            lab.start_host(index);
        }
        lab
    }

    fn wire(&self) {
        let (r, c, a, b) = (&self.router, &self.client, &self.hosts[0].namespace, &self.hosts[1].namespace);
        for namespace in [r, c, a, b] {
            ip(&["netns", "add", namespace]);
            ip(&["-n", namespace, "link", "set", "lo", "up"]);
        }
        for (near, far, subnet) in [(c, "vc", "10.90.0"), (a, "va", "10.91.0"), (b, "vb", "10.92.0")] {
            let router_end = format!("r{far}");
            ip(&["link", "add", far, "netns", near, "type", "veth", "peer", "name", &router_end, "netns", r]);
            ip(&["-n", r, "addr", "add", &format!("{subnet}.1/24"), "dev", &router_end]);
            ip(&["-n", near, "addr", "add", &format!("{subnet}.2/24"), "dev", far]);
            ip(&["-n", r, "link", "set", "dev", &router_end, "up"]);
            ip(&["-n", near, "link", "set", "dev", far, "up"]);
            ip(&["-n", near, "route", "add", "default", "via", &format!("{subnet}.1")]);
        }
        let batch: String = self.addresses.iter().map(|a| format!("addr add {a}/32 dev lo\n")).collect();
        for host in [a, b] {
            ip_batch(host, &batch);
        }
        let sysctl = Command::new("ip")
            .args(["netns", "exec", r, "sysctl", "-qw", "net.ipv4.ip_forward=1"])
            .arg("net.ipv4.fib_multipath_hash_policy=1")
            .status()
            .expect("sysctl");
        assert!(sysctl.success(), "sysctl in the router");
    }

    fn start_router(&mut self) {
        let dir = self._sandbox.root();
        let config = format!(
            "router id 10.90.0.1;\nprotocol device {{}}\n\
             protocol kernel {{ ipv4 {{ export all; }}; merge paths on; }}\n\
             protocol bgp a {{ local 10.91.0.1 as 65000; neighbor 10.91.0.2 as 65001; {TIMERS}\n  \
             ipv4 {{ import all; export none; }}; }}\n\
             protocol bgp b {{ local 10.92.0.1 as 65000; neighbor 10.92.0.2 as 65001; {TIMERS}\n  \
             ipv4 {{ import all; export none; }}; }}\n"
        );
        std::fs::write(dir.join("router.conf"), config).expect("router.conf");
        let router = self.router.clone();
        self.router_bird = Some(bird(&tools().bird2, &router, dir, "router"));
    }

    fn start_host(&mut self, index: usize) {
        let host = &mut self.hosts[index];
        std::fs::create_dir_all(host.dir.join("conf.d")).expect("host dir");
        let (p4, p6) = (host.dir.join("p4.conf"), host.dir.join("p6.conf"));
        write_prefix_files(&p4, &p6);
        // Our shipped example, pointed at this host's files and the router, IPv4 only,
        // with a static route for each address it does not have.
        let example = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("conf.d/bird").join(host.example),
        )
        .expect("the shipped Bird example");
        let example = &example[..example.find("protocol bgp upstream6").expect("the IPv6 session")];
        let last_route = "  route 10.52.12.6/32 blackhole;\n";
        let routes: String = host
            .addresses
            .iter()
            .filter(|a| !example.contains(&format!("route {a}/32 ")))
            .map(|a| format!("  route {a}/32 blackhole;\n"))
            .collect();
        assert!(example.contains(last_route), "the example's static routes");
        let config = point_at_prefix_files(example, &p4, &p6)
            .replace(last_route, &format!("{last_route}{routes}"))
            .replace("router id 192.0.2.1;", &format!("router id {};", host.address))
            .replace(
                "local 192.0.2.1 as 65001;\n  neighbor 192.0.2.2 as 65002;",
                &format!("local {} as 65001; neighbor {} as 65000; {TIMERS}", host.address, host.router_side),
            );
        assert!(config.contains(TIMERS), "the example's session was pointed at the router");
        std::fs::write(host.dir.join("host.conf"), config).expect("host.conf");
        host.bird = Some(bird(&host.bird_binary, &host.namespace, &host.dir, "host"));
        host.start_server();
        let dir = host.dir.display();
        std::fs::write(
            host.dir.join("main.conf"),
            format!(
                "[DEFAULT]\ncheck_disabled = false\ncheck_interval = {}\ncheck_timeout = {}\n\
                 check_rise = {}\ncheck_fail = {FAIL}\ninterface = lo\n\
                 [daemon]\npidfile = {dir}/ahc.pid\nipv6 = false\nbird_conf = {dir}/p4.conf\n\
                 bird_degraded_conf = {dir}/p4-degraded.conf\nbird_degraded_variable = ACAST_PS_DEGRADED\n\
                 bird_control_socket = {dir}/host.ctl\nloglevel = info\n\
                 instance_lock = ahc-lab-{}-{}\n",
                host.timing.interval,
                host.timing.timeout(),
                host.timing.rise,
                std::process::id(),
                common::unique()
            ),
        )
        .expect("main.conf");
        host.set_service(2, "keep");
        host.start_daemon();
    }

    /// Seconds since the lab started.
    fn now(&self) -> f64 {
        self.epoch.elapsed().as_secs_f64()
    }

    /// The hosts the router forwards the anycast address to now (its kernel route).
    fn router_hosts(&self) -> Vec<&'static str> {
        self.view().hosts_now()
    }

    /// What the router sampler needs, owned, so the lab can change meanwhile.
    fn view(&self) -> RouterView {
        RouterView {
            router: self.router.clone(),
            hosts: [0, 1].map(|i| (self.hosts[i].name, self.hosts[i].address)),
            addresses: self.addresses.clone(),
            epoch: self.epoch,
        }
    }

    /// Waits until the router forwards every address to `expected`.
    fn wait_for_router(&self, expected: &[&str]) {
        let view = self.view();
        let deadline = Instant::now() + WAIT;
        loop {
            let forwarding = view.forwarding();
            if forwarding.iter().all(|hosts| hosts == expected) {
                return;
            }
            if Instant::now() > deadline {
                let mut seen: std::collections::BTreeMap<&Vec<&str>, usize> = Default::default();
                for hosts in &forwarding {
                    *seen.entry(hosts).or_default() += 1;
                }
                let hosts: Vec<String> = self.hosts.iter().map(Host::announcing).collect();
                panic!(
                    "the router did not forward every address to {expected:?} in {WAIT:?}: {seen:?}; {}",
                    hosts.join(", ")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Host {
    /// The host's web server: answers every anycast address (it listens on all of
    /// them) with the host's name.
    fn start_server(&mut self) {
        let server = Command::new("ip")
            .args(["netns", "exec", &self.namespace, "python3", "-c", WEB_SERVER, self.name])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 web server");
        self.server = Some(server);
    }

    fn kill_server(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
    }

    fn set_service(&self, drain_seconds: u32, on_exit: &str) {
        self.set_service_with(drain_seconds, on_exit, "");
    }

    /// A service per address, with `extra` keys (damping).
    fn set_service_with(&self, drain_seconds: u32, on_exit: &str, extra: &str) {
        let dir = self.dir.display();
        let sections = self.sections(|address| {
            format!(
                "check_http = http://{address}/\nip_prefix = {address}/32\nmaintenance_file = {dir}/maintenance\n\
                 drain_seconds = {drain_seconds}\non_exit = {on_exit}\n{extra}"
            )
        });
        std::fs::write(self.dir.join("conf.d/web.conf"), sections).expect("web.conf");
    }

    /// A section per address with `body`'s keys: `[web]` for a single one, else
    /// `[web-1]`, `[web-2]` and so on.
    fn sections(&self, body: impl Fn(&str) -> String) -> String {
        let name =
            |i: usize| if self.addresses.len() == 1 { "web".to_string() } else { format!("web-{}", i + 1) };
        self.addresses
            .iter()
            .enumerate()
            .map(|(i, address)| format!("[{}]\n{}", name(i), body(address)))
            .collect()
    }

    fn start_daemon(&mut self) {
        let args = ["netns", "exec", &self.namespace, common::binary(), "-f", "main.conf", "-d", "conf.d"];
        self.daemon = Some(DaemonProcess::start_via(&self.dir, "ip", &args, &[("TZ", "UTC")]));
    }

    /// SIGHUP, and waits for the reload to be applied.
    fn reload(&self) {
        let daemon = self.daemon();
        let before = daemon.log_count("event=reload_applied");
        daemon.signal(libc::SIGHUP);
        common::wait_for("the reload", WAIT, || daemon.log_count("event=reload_applied") > before);
    }

    /// The Python program (`program`, upstream 0.9.10) in place of ours, on the same
    /// files and timing; its check is curl, as upstream has no native probe, and it
    /// reloads Bird with birdc.
    fn start_upstream(&mut self, program: &Path) {
        let dir = self.dir.display().to_string();
        let ours = std::fs::read_to_string(self.dir.join("main.conf")).expect("main.conf");
        let birdc = tools().birdc2;
        let main = ours
            .replace(&format!("pidfile = {dir}/ahc.pid"), &format!("pidfile = {dir}/upstream.pid"))
            + &format!("bird_reconfigure_cmd = {} -s {dir}/host.ctl configure\n", birdc.display());
        std::fs::write(self.dir.join("upstream.conf"), main).expect("upstream.conf");
        std::fs::create_dir_all(self.dir.join("upstream.d")).expect("upstream.d");
        let timeout = self.timing.timeout();
        let sections = self.sections(|address| {
            format!(
                "check_cmd = /usr/bin/curl -sf --max-time {timeout} -o /dev/null http://{address}/\n\
                 ip_prefix = {address}/32\n"
            )
        });
        std::fs::write(self.dir.join("upstream.d/web.conf"), sections).expect("upstream web.conf");
        let program = program.display().to_string();
        let args = ["netns", "exec", &self.namespace, &program, "-f", "upstream.conf", "-d", "upstream.d"];
        self.daemon = Some(DaemonProcess::start_via(&self.dir, "ip", &args, &[("TZ", "UTC")]));
    }

    /// What the host announces and why, for a failure's message: the prefixes in its
    /// file and its daemon's up and down decisions.
    fn announcing(&self) -> String {
        let listed = common::file_prefixes(&self.dir.join("p4.conf")).map_or(0, |p| p.len());
        let (ups, downs) =
            self.daemon.as_ref().map_or((0, 0), |d| (d.log_count("event=up"), d.log_count("event=down")));
        format!("{} lists {listed} prefixes (ups {ups}, downs {downs})", self.name)
    }

    /// "Bird 2" or "Bird 3".
    fn bird_name(&self) -> &'static str {
        if self.example == "bird3.conf" {
            "Bird 3"
        } else {
            "Bird 2"
        }
    }

    fn daemon(&self) -> &DaemonProcess {
        self.daemon.as_ref().expect("a daemon")
    }
}

impl Drop for ClientLab {
    fn drop(&mut self) {
        for host in &mut self.hosts {
            host.daemon.take();
            host.kill_server();
            if let Some(mut bird) = host.bird.take() {
                common::terminate(&mut bird, Duration::from_secs(5));
            }
        }
        if let Some(mut bird) = self.router_bird.take() {
            common::terminate(&mut bird, Duration::from_secs(5));
        }
        for namespace in [&self.router, &self.client, &self.hosts[0].namespace, &self.hosts[1].namespace] {
            let _ = Command::new("ip").args(["netns", "del", namespace]).status();
        }
    }
}

/// `binary` (a Bird) in `namespace`, on `dir/name.conf`, logging to `dir/name.log`.
fn bird(binary: &Path, namespace: &str, dir: &Path, name: &str) -> Child {
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).expect("bird log");
    Command::new("ip")
        .args(["netns", "exec", namespace])
        .arg(binary)
        .args(["-f", "-c", &format!("{name}.conf"), "-s", &format!("{name}.ctl")])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start bird")
}

/// One request: when it started (seconds since the lab started), and the host that
/// answered or why it failed.
#[derive(Debug, Clone)]
struct Sample {
    at: f64,
    /// Which of the lab's addresses it went to (an index).
    address: usize,
    answer: Result<char, String>,
}

/// The client: threads in C's namespace making new connections at a fixed rate, to
/// each of the lab's addresses in turn.
struct Client {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

const CLIENT_THREADS: u32 = 4;
const RATE: u32 = 200;

impl Client {
    fn start(lab: &ClientLab) -> Client {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let threads = (0..CLIENT_THREADS as usize)
            .map(|thread| {
                let (stop, samples) = (Arc::clone(&stop), Arc::clone(&samples));
                let namespace = PathBuf::from(format!("/run/netns/{}", lab.client));
                let epoch = lab.epoch;
                let addresses: Vec<SocketAddr> =
                    lab.addresses.iter().map(|a| format!("{a}:80").parse().expect("address")).collect();
                std::thread::spawn(move || {
                    let handle = std::fs::File::open(&namespace).expect("the client's namespace");
                    // SAFETY: setns on an open namespace file moves only this thread.
                    assert_eq!(unsafe { libc::setns(handle.as_raw_fd(), libc::CLONE_NEWNET) }, 0, "setns");
                    let period = Duration::from_secs(1) / (RATE / CLIENT_THREADS);
                    let mut next = Instant::now();
                    let mut address = thread % addresses.len();
                    while !stop.load(Ordering::Relaxed) {
                        let at = epoch.elapsed().as_secs_f64();
                        let answer = request(&addresses[address]);
                        samples.lock().expect("samples").push(Sample { at, address, answer });
                        address = (address + CLIENT_THREADS as usize) % addresses.len();
                        next += period;
                        std::thread::sleep(next.saturating_duration_since(Instant::now()));
                    }
                })
            })
            .collect();
        Client { stop, samples, threads }
    }

    fn stop(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            thread.join().expect("client thread");
        }
        let mut samples = self.samples.lock().expect("samples").clone();
        samples.sort_by(|a, b| a.at.total_cmp(&b.at));
        samples
    }
}

/// A request's timeouts: it lasts at most their sum.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(200);
const READ_TIMEOUT: Duration = Duration::from_millis(500);

/// One GET on a new connection; the answering host's letter, or why it failed.
fn request(address: &SocketAddr) -> Result<char, String> {
    let mut stream =
        TcpStream::connect_timeout(address, CONNECT_TIMEOUT).map_err(|e| e.kind().to_string())?;
    stream.set_read_timeout(Some(READ_TIMEOUT)).map_err(|e| e.to_string())?;
    stream.write_all(b"GET / HTTP/1.0\r\nHost: anycast\r\n\r\n").map_err(|e| e.kind().to_string())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).map_err(|e| match e.kind() {
        // SO_RCVTIMEO expiring reads as EAGAIN.
        std::io::ErrorKind::WouldBlock => "no answer in time".to_string(),
        kind => kind.to_string(),
    })?;
    match answer.lines().last().map(str::trim) {
        Some("A") => Ok('A'),
        Some("B") => Ok('B'),
        _ => Err(format!("unexpected answer {answer:?}")),
    }
}

/// The router's forwarding of the anycast addresses, as seen from outside.
struct RouterView {
    router: String,
    /// Each host's name and address on its link to the router.
    hosts: [(&'static str, &'static str); 2],
    addresses: Vec<String>,
    epoch: Instant,
}

impl RouterView {
    /// The hosts the router forwards the first address to.
    fn hosts_now(&self) -> Vec<&'static str> {
        self.forwarding().swap_remove(0)
    }

    /// For each address, the hosts its kernel route goes to (none: no route).
    fn forwarding(&self) -> Vec<Vec<&'static str>> {
        let out =
            Command::new("ip").args(["-n", &self.router, "-4", "route", "show"]).output().expect("ip route");
        let text = String::from_utf8_lossy(&out.stdout);
        let routes = next_hops(&text);
        let host = |via: &str| self.hosts.iter().find(|(_, address)| *address == via).map(|(name, _)| *name);
        self.addresses
            .iter()
            .map(|address| {
                let vias = routes.get(address.as_str()).map_or(&[][..], Vec::as_slice);
                let mut hosts: Vec<_> = vias.iter().filter_map(|via| host(via)).collect();
                hosts.sort_unstable();
                hosts
            })
            .collect()
    }
}

/// `ip route show`'s routes: destination to next hops, a multipath route's `nexthop`
/// lines included.
fn next_hops(text: &str) -> std::collections::HashMap<&str, Vec<&str>> {
    let mut routes: std::collections::HashMap<&str, Vec<&str>> = std::collections::HashMap::new();
    let mut destination = "";
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if !line.starts_with(char::is_whitespace) {
            destination = words.first().copied().unwrap_or("");
        }
        if let Some(at) = words.iter().position(|w| *w == "via") {
            if let Some(via) = words.get(at + 1) {
                routes.entry(destination).or_default().push(via);
            }
        }
    }
    routes
}

/// Samples `sample` every 20 ms while `during` runs: (seconds since `epoch`, value) at
/// the start and at each change.
fn changes_during<T: PartialEq + Send>(
    epoch: Instant,
    sample: impl Fn() -> T + Sync,
    during: impl FnOnce(),
) -> Vec<(f64, T)> {
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let sampler = scope.spawn(|| {
            let mut seen: Vec<(f64, T)> = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let now = sample();
                if seen.last().map_or(true, |(_, last)| *last != now) {
                    seen.push((epoch.elapsed().as_secs_f64(), now));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            seen
        });
        during();
        stop.store(true, Ordering::Relaxed);
        sampler.join().expect("sampler")
    })
}

/// The router's route to the first address, sampled while `during` runs.
fn routes_during(lab: &RouterView, during: impl FnOnce()) -> Vec<(f64, Vec<&'static str>)> {
    changes_during(lab.epoch, || lab.hosts_now(), during)
}

fn failures(samples: &[Sample]) -> Vec<&Sample> {
    samples.iter().filter(|s| s.answer.is_err()).collect()
}

/// Whether a request was in flight when the router's route changed at `switch`: it
/// started at most its longest life before (its two timeouts) or just after. When the multipath route loses A, the
/// kernel hashes A's established connections onto B, which answers them with a reset:
/// a request caught there fails whatever the daemon did.
fn at_switch(switch: f64, sample: &Sample) -> bool {
    let longest = (CONNECT_TIMEOUT + READ_TIMEOUT).as_secs_f64();
    (switch - longest..=switch + 0.05).contains(&sample.at)
}

fn in_flight_at(switch: f64, samples: &[Sample]) -> Vec<&Sample> {
    failures(samples).into_iter().filter(|s| at_switch(switch, s)).collect()
}

/// How the failures failed: `connection reset x2, timed out x1`.
fn kinds(failed: &[&Sample]) -> String {
    let mut counts: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for sample in failed {
        *counts.entry(sample.answer.as_ref().err().map_or("", String::as_str)).or_default() += 1;
    }
    let kinds: Vec<String> = counts.iter().map(|(kind, n)| format!("{kind} x{n}")).collect();
    if kinds.is_empty() {
        "none".to_string()
    } else {
        kinds.join(", ")
    }
}

fn share(samples: &[Sample], host: char) -> f64 {
    let answered: Vec<_> = samples.iter().filter(|s| s.answer.is_ok()).collect();
    answered.iter().filter(|s| s.answer == Ok(host)).count() as f64 / answered.len().max(1) as f64
}

#[test]
fn a_client_behind_a_router_reaches_a_healthy_host_through_drain_withdraw_and_a_dead_server() {
    if !common::root_or_skip() {
        return;
    }
    let mut lab = ClientLab::start();
    lab.wait_for_router(&["A", "B"]);
    let mut flaps: Vec<(usize, usize)> = Vec::new(); // (route changes, returns of A)
    let mut table =
        vec![format!("{:<44} {:>9} {:>7} {}", "what happened", "requests", "failed", "what the client saw")];

    // 1. Both healthy: ECMP spreads new connections over both hosts.
    let client = Client::start(&lab);
    std::thread::sleep(Duration::from_secs(2)); // the client's sample, not a wait for an event
    let both = client.stop();
    let a_share = share(&both, 'A');
    table.push(format!(
        "{:<44} {:>9} {:>7} A {:.0} %, B {:.0} %",
        "both healthy",
        both.len(),
        failures(&both).len(),
        100.0 * a_share,
        100.0 * (1.0 - a_share)
    ));
    assert!(failures(&both).is_empty(), "no failure while both are healthy: {:?}", failures(&both));
    assert!((0.1..=0.9).contains(&a_share), "both hosts get requests: A has {:.0} %", 100.0 * a_share);

    // 2. Planned maintenance of A with a drain: degraded (a longer AS path: the router
    // drops A from the multipath route), then withdrawn.
    let client = Client::start(&lab);
    let touched = lab.now();
    let routes = routes_during(&lab.view(), || {
        std::fs::write(lab.hosts[0].dir.join("maintenance"), "").expect("maintenance file");
        lab.hosts[0].daemon().wait_for_log("event=draining", WAIT);
        lab.hosts[0].daemon().wait_for_log("is drained; withdrawing", WAIT);
        lab.wait_for_router(&["B"]);
    });
    let drained = client.stop();
    let off_a =
        routes.iter().find(|(_, hosts)| !hosts.contains(&"A")).map(|(at, _)| *at).expect("A left the route");
    let last_a = drained.iter().filter(|s| s.answer == Ok('A')).map(|s| s.at).fold(touched, f64::max);
    table.push(format!(
        "{:<44} {:>9} {:>7} A left the router's route {:.2} s after the file, last request to A at {:.2} s; {} in flight at the switch",
        "A drained (maintenance_file, drain_seconds 2)",
        drained.len(),
        failures(&drained).len(),
        off_a - touched,
        last_a - touched,
        in_flight_at(off_a, &drained).len()
    ));
    let other: Vec<_> = failures(&drained).into_iter().filter(|s| !at_switch(off_a, s)).collect();
    assert!(other.is_empty(), "a drain fails no request but those in flight at the switch: {other:?}");
    let late: Vec<_> = drained.iter().filter(|s| s.answer == Ok('A') && s.at > off_a + 0.05).collect();
    assert!(late.is_empty(), "no new request reaches A once the router dropped it: {late:?}");

    // Back: the file goes, A rises again.
    std::fs::remove_file(lab.hosts[0].dir.join("maintenance")).expect("remove the file");
    lab.wait_for_router(&["A", "B"]);

    // 3. The same with a plain withdraw (drain_seconds = 0), applied by a reload.
    lab.hosts[0].set_service(0, "keep");
    lab.hosts[0].reload();
    let client = Client::start(&lab);
    let touched = lab.now();
    let routes = routes_during(&lab.view(), || {
        std::fs::write(lab.hosts[0].dir.join("maintenance"), "").expect("maintenance file");
        lab.wait_for_router(&["B"]);
        std::thread::sleep(Duration::from_millis(500)); // the client's view after the change
    });
    let withdrawn = client.stop();
    let off_a = routes.iter().find(|(_, hosts)| !hosts.contains(&"A")).map(|(at, _)| *at).expect("A left");
    table.push(format!(
        "{:<44} {:>9} {:>7} A left the router's route {:.2} s after the file; {} in flight at the switch",
        "A withdrawn at once (drain_seconds 0)",
        withdrawn.len(),
        failures(&withdrawn).len(),
        off_a - touched,
        in_flight_at(off_a, &withdrawn).len()
    ));
    std::fs::remove_file(lab.hosts[0].dir.join("maintenance")).expect("remove the file");
    lab.wait_for_router(&["A", "B"]);

    // 4. A's server dies: requests hashed to A fail until A's check fails check_fail
    // times and the router drops A.
    let died = kill_server_and_measure(&mut lab);
    table.push(format!(
        "{:<44} {:>9} {:>7} failures for {:.2} s (detection {INTERVAL} s x {FAIL}); A off the route at {:.2} s",
        "A's server killed",
        died.samples.len(),
        died.failed().len(),
        died.window(),
        died.off_a - died.killed
    ));

    // Back: a new server, A rises again.
    lab.hosts[0].start_server();
    lab.wait_for_router(&["A", "B"]);

    // 6. A flaps: its server goes down and up every 2 s for 12 s, without and with
    // flap damping (held withdrawn once the penalty passes damping_suppress: here the
    // second flap).
    for (label, extra) in [
        ("A flaps, no damping", ""),
        ("A flaps, damping (suppress 1.5)", "damping = true\ndamping_suppress = 1.5\ndamping_reuse = 0.5\n"),
    ] {
        lab.hosts[0].set_service_with(2, "keep", extra);
        lab.hosts[0].reload();
        lab.wait_for_router(&["A", "B"]);
        let client = Client::start(&lab);
        let routes = routes_during(&lab.view(), || {
            for _ in 0..3 {
                let mut server = lab.hosts[0].server.take().expect("A's server");
                let _ = server.kill();
                let _ = server.wait();
                std::thread::sleep(Duration::from_secs(2)); // the flap's own period
                lab.hosts[0].start_server();
                std::thread::sleep(Duration::from_secs(2));
            }
        });
        let flapping = client.stop();
        let updates = routes.len().saturating_sub(1);
        let returns = routes.windows(2).filter(|w| !w[0].1.contains(&"A") && w[1].1.contains(&"A")).count();
        table.push(format!(
            "{:<44} {:>9} {:>7} {updates} changes of the router's route in 12 s",
            label,
            flapping.len(),
            failures(&flapping).len()
        ));
        flaps.push((updates, returns));
    }
    // (route changes, times A came back): damped, A comes back once at most (the second
    // flap suppresses it).
    assert!(flaps[1].1 <= 1, "damping holds a flapping A withdrawn: {flaps:?}");
    // Damping off again: the A it held withdrawn is announced again.
    lab.hosts[0].set_service(2, "keep");
    lab.hosts[0].reload();
    lab.wait_for_router(&["A", "B"]);

    // 7. A's daemon killed with SIGKILL: Bird keeps the last file, so the router keeps
    // A and clients notice nothing; a restarted daemon takes over from its first checks.
    let client = Client::start(&lab);
    let daemon = lab.hosts[0].daemon.take();
    let routes = routes_during(&lab.view(), || {
        drop(daemon); // SIGKILL, reaped
        std::thread::sleep(Duration::from_secs(1)); // the client's view without a daemon
    });
    let unattended = client.stop();
    table.push(format!(
        "{:<44} {:>9} {:>7} the router kept {:?} throughout",
        "A's daemon killed (SIGKILL)",
        unattended.len(),
        failures(&unattended).len(),
        routes.iter().map(|(_, hosts)| hosts.clone()).collect::<Vec<_>>()
    ));
    assert!(routes.iter().all(|(_, hosts)| *hosts == ["A", "B"]), "Bird keeps the last file: {routes:?}");
    assert!(failures(&unattended).is_empty(), "{:?}", failures(&unattended));
    let restarted = lab.now();
    lab.hosts[0].start_daemon();
    lab.hosts[0].daemon().wait_for_log("event=up", WAIT);
    let took_over = lab.now() - restarted;
    table.push(format!(
        "{:<44} {:>9} {:>7} its first decision (up) {took_over:.2} s after the start; routes unchanged",
        "A's daemon restarted", "-", "-"
    ));
    assert_eq!(lab.router_hosts(), ["A", "B"]);

    // 8. A planned stop with on_exit = drain: A is degraded, then withdrawn, then the
    // daemon exits.
    lab.hosts[0].set_service(2, "drain");
    lab.hosts[0].reload();
    let client = Client::start(&lab);
    let stopped = lab.now();
    let routes = routes_during(&lab.view(), || {
        lab.hosts[0].daemon().signal(libc::SIGTERM);
        lab.wait_for_router(&["B"]);
        lab.hosts[0].daemon().wait_for_log("event=stopped", WAIT);
    });
    let stopping = client.stop();
    let off_a = routes.iter().find(|(_, hosts)| !hosts.contains(&"A")).map(|(at, _)| *at).expect("A left");
    table.push(format!(
        "{:<44} {:>9} {:>7} A left the router's route {:.2} s after SIGTERM",
        "A's daemon stopped, on_exit = drain",
        stopping.len(),
        failures(&stopping).len(),
        off_a - stopped
    ));
    let other: Vec<_> = failures(&stopping).into_iter().filter(|s| !at_switch(off_a, s)).collect();
    assert!(
        other.is_empty(),
        "a draining stop fails no request but those in flight at the switch: {other:?}"
    );

    for (what, samples) in [("withdraw", &withdrawn), ("dead server", &died.samples)] {
        table.push(format!("  failures, {what}: {}", kinds(&failures(samples))));
    }
    println!(
        "\nWhat a client sees (Bird 2 router with ECMP, host B on {}, {RATE} new connections a second):",
        lab.hosts[1].bird_name()
    );
    for row in &table {
        println!("  {row}");
    }
}

/// What the client saw when A's server was killed (at `killed`) until the router
/// dropped A (at `off_a`), seconds since the lab started.
struct DeadServer {
    samples: Vec<Sample>,
    killed: f64,
    off_a: f64,
}

impl DeadServer {
    fn failed(&self) -> Vec<&Sample> {
        failures(&self.samples)
    }

    /// From the kill to the last failed request.
    fn window(&self) -> f64 {
        self.failed().iter().map(|s| s.at).fold(self.killed, f64::max) - self.killed
    }
}

/// Kills A's server with the client running, until the router drops A: requests hashed
/// to A fail until A's check fails check_fail times, and none after.
fn kill_server_and_measure(lab: &mut ClientLab) -> DeadServer {
    lab.wait_for_router(&["A", "B"]);
    let client = Client::start(lab);
    let killed = lab.now();
    let mut server = lab.hosts[0].server.take().expect("A's server");
    let routes = routes_during(&lab.view(), || {
        let _ = server.kill();
        let _ = server.wait();
        lab.wait_for_router(&["B"]);
        std::thread::sleep(Duration::from_millis(500)); // the client's view after the change
    });
    let samples = client.stop();
    let off_a = routes.iter().find(|(_, hosts)| !hosts.contains(&"A")).map(|(at, _)| *at).expect("A left");
    let died = DeadServer { samples, killed, off_a };
    let after: Vec<_> = died.failed().into_iter().filter(|s| s.at > off_a + 0.05).collect();
    assert!(after.is_empty(), "no failure once the router dropped A: {after:?}");
    assert!(
        died.samples.iter().all(|s| s.answer != Ok('A') || s.at < off_a),
        "nothing answered from a dead A"
    );
    died
}

#[test]
fn a_dead_server_as_clients_see_it_with_this_program_and_with_the_python_one() {
    if !common::root_or_skip() {
        return;
    }
    let Some(upstream) = common::upstream::upstream_or_skip() else { return };
    let mut lab = ClientLab::start();
    let ours = kill_server_and_measure(&mut lab);
    lab.hosts[0].start_server();
    // The Python program takes A over, on the same files; A is announced as before.
    drop(lab.hosts[0].daemon.take());
    lab.hosts[0].start_upstream(&upstream);
    lab.hosts[0].daemon().wait_for_log("reconfigured BIRD daemon", WAIT);
    let theirs = kill_server_and_measure(&mut lab);
    println!("\nA's server killed, check every {INTERVAL} s, check_fail = {FAIL}, {RATE} new connections a second:");
    for (who, died) in [("this program", ours), ("Python 0.9.10", theirs)] {
        println!(
            "  {who:<14} {:>4} of {} failed, for {:.2} s; A off the router's route at {:.2} s",
            died.failed().len(),
            died.samples.len(),
            died.window(),
            died.off_a - died.killed
        );
    }
}

/// The whole-stack failure: services (one anycast address each) on every host, and
/// their timing. The interval is long enough that the Python program's checks (a curl
/// and an `ip address show` each, two processes a check) leave room on two cores shared
/// with the rest of the tests: the comparison is of the way to Bird, not of the load.
const STACK_SERVICES: usize = 200;
const STACK_TIMING: Timing = Timing { interval: 4.0, rise: 1 };

/// When each service `web-N` logged a line with `what` last, in seconds since `epoch`,
/// by address index (N - 1). The log is in upstream's format, time stamps in UTC (the
/// lab's daemons run with TZ=UTC): `2026-12-02 16:35:27,274 anycast-healthchecker[1]
/// INFO     web-55      changed to DOWN`.
fn logged_at(log: &str, what: &str, epoch: SystemTime) -> std::collections::HashMap<usize, f64> {
    let epoch = epoch.duration_since(SystemTime::UNIX_EPOCH).expect("after 1970").as_secs_f64();
    let mut at = std::collections::HashMap::new();
    for line in log.lines().filter(|line| line.contains(what)) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let (Some(date), Some(time), Some(thread)) = (words.first(), words.get(1), words.get(4)) else {
            continue;
        };
        let (Some(index), Some(seconds)) = (thread.strip_prefix("web-"), utc_seconds(date, time)) else {
            continue;
        };
        if let Ok(index) = index.parse::<usize>() {
            at.insert(index - 1, seconds - epoch);
        }
    }
    at
}

/// `2026-12-02` `16:35:27,274` (UTC) as seconds since 1970.
fn utc_seconds(date: &str, time: &str) -> Option<f64> {
    let numbers = |text: &str, separators: &[char]| -> Option<Vec<i64>> {
        text.split(separators).map(|n| n.parse().ok()).collect()
    };
    let (ymd, hms) = (numbers(date, &['-'])?, numbers(time, &[':', ','])?);
    let (&[year, month, day], &[hour, minute, second, milli]) = (&ymd[..], &hms[..]) else { return None };
    // Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    let year = if month <= 2 { year - 1 } else { year };
    let (era, year_of_era) = (year.div_euclid(400), year.rem_euclid(400));
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    Some((days * 86_400 + hour * 3600 + minute * 60 + second) as f64 + milli as f64 / 1000.0)
}

/// What the client and the router saw when every server on A died at once (at
/// `killed`, seconds since the lab started).
struct DeadStack {
    samples: Vec<Sample>,
    killed: f64,
    /// For each address, when the router's route to it lost A, and when A's daemon
    /// decided its service was down.
    off_a: Vec<f64>,
    decided: Vec<f64>,
    /// Bird reconfigures on A from the kill until the router had dropped A everywhere.
    configures: usize,
}

impl DeadStack {
    fn failed(&self) -> Vec<&Sample> {
        failures(&self.samples)
    }

    /// From the kill to the first and to the last address that lost A at the router.
    fn first_off(&self) -> f64 {
        self.off_a.iter().copied().fold(f64::INFINITY, f64::min) - self.killed
    }

    fn last_off(&self) -> f64 {
        self.off_a.iter().copied().fold(self.killed, f64::max) - self.killed
    }

    /// From the kill to the last request that failed.
    fn last_failure(&self) -> f64 {
        self.failed().iter().map(|s| s.at).fold(self.killed, f64::max) - self.killed
    }

    /// For each address, from the daemon's decision to the router dropping A, sorted:
    /// the time the decision spent on its way through the file, Bird and BGP.
    fn after_decision(&self) -> Vec<f64> {
        let mut delays: Vec<f64> =
            self.off_a.iter().zip(&self.decided).map(|(off, decided)| off - decided).collect();
        delays.sort_by(f64::total_cmp);
        delays
    }
}

/// Kills A's server, which serves every address, with the client running, until the
/// router has dropped A for every address; no request to an address fails once A is
/// off its route.
fn kill_stack_and_measure(lab: &mut ClientLab) -> DeadStack {
    lab.wait_for_router(&["A", "B"]);
    let daemon_configures = |lab: &ClientLab| lab.hosts[0].daemon().log_count("reconfigured BIRD daemon");
    let before = daemon_configures(lab);
    let view = lab.view();
    let client = Client::start(lab);
    let killed = lab.now();
    let mut server = lab.hosts[0].server.take().expect("A's server");
    let routes = changes_during(
        lab.epoch,
        || view.forwarding(),
        || {
            let _ = server.kill();
            let _ = server.wait();
            lab.wait_for_router(&["B"]);
            std::thread::sleep(Duration::from_millis(500)); // the client's view after the change
        },
    );
    let samples = client.stop();
    let off_a = (0..lab.addresses.len())
        .map(|i| {
            routes.iter().find(|(_, hosts)| !hosts[i].contains(&"A")).map(|(at, _)| *at).expect("A left")
        })
        .collect();
    let log = lab.hosts[0].daemon().log();
    let down = logged_at(&log, "changed to DOWN", lab.epoch_wall);
    let decided = (0..lab.addresses.len())
        .map(|i| *down.get(&i).filter(|at| **at > killed - 1.0).expect("a DOWN decision for each service"))
        .collect();
    let died = DeadStack { samples, killed, off_a, decided, configures: daemon_configures(lab) - before };
    let late: Vec<_> = died.failed().into_iter().filter(|s| s.at > died.off_a[s.address] + 0.05).collect();
    assert!(late.is_empty(), "no failure once the router dropped A for the address: {late:?}");
    let from_a: Vec<_> =
        died.samples.iter().filter(|s| s.answer == Ok('A') && s.at > died.off_a[s.address]).collect();
    assert!(from_a.is_empty(), "nothing answered from a dead A: {from_a:?}");
    died
}

#[test]
fn every_server_on_a_host_dies_at_once_as_clients_see_it_with_this_program_and_with_the_python_one() {
    if !common::root_or_skip() {
        return;
    }
    let mut lab = ClientLab::start_with(STACK_SERVICES, STACK_TIMING);
    let mut rows = vec![("this program".to_string(), kill_stack_and_measure(&mut lab))];
    if let Some(upstream) = common::upstream::upstream_or_skip() {
        lab.hosts[0].start_server();
        lab.wait_for_router(&["A", "B"]);
        // The Python program takes A over, on the same files: it decides each
        // service's first state and handles it (one queue item each); A stays announced.
        drop(lab.hosts[0].daemon.take());
        lab.hosts[0].start_upstream(&upstream);
        let daemon = lab.hosts[0].daemon();
        common::wait_for("the Python program's first decisions", WAIT * 4, || {
            daemon.log_count("reconfigured BIRD daemon")
                + daemon.log_count("no updates for bird configuration")
                >= STACK_SERVICES
        });
        rows.push((format!("Python {}", common::upstream::VERSION), kill_stack_and_measure(&mut lab)));
    }
    println!(
        "\nEvery server on A killed at once: {STACK_SERVICES} services, check every {} s, \
         check_fail = {FAIL}, {RATE} new connections a second over all addresses:",
        STACK_TIMING.interval
    );
    for (who, died) in &rows {
        let delays = died.after_decision();
        println!(
            "  {who:<14} {:>4} of {} failed; A off the router's route for the first address at {:.2} s, \
             for the last at {:.2} s; from each service's DOWN to the router: median {:.2} s, max {:.2} s \
             ({} Bird reconfigures); last failed request at {:.2} s",
            died.failed().len(),
            died.samples.len(),
            died.first_off(),
            died.last_off(),
            delays[delays.len() / 2],
            delays[delays.len() - 1],
            died.configures,
            died.last_failure()
        );
    }
}

#[test]
fn log_time_stamps_are_read_as_utc() {
    assert_eq!(utc_seconds("1970-01-01", "00:00:00,000"), Some(0.0));
    assert_eq!(utc_seconds("2000-02-29", "00:00:01,500"), Some(11_016.0 * 86_400.0 + 1.5));
    assert_eq!(utc_seconds("2026-12-02", "16:35:27,274"), Some(20_789.0 * 86_400.0 + 59_727.274));
    assert_eq!(utc_seconds("2026-12-02", "16:35"), None);
    let epoch = SystemTime::UNIX_EPOCH + Duration::from_secs(20_789 * 86_400);
    let log = "2026-12-02 00:00:02,500 anycast-healthchecker[1] INFO     web-55      changed to DOWN\n\
               2026-12-02 00:00:03,000 anycast-healthchecker[1] INFO     web-7       changed to UP\n";
    assert_eq!(logged_at(log, "changed to DOWN", epoch), [(54, 2.5)].into());
}

#[test]
fn the_router_view_reads_single_and_multipath_routes() {
    let text = "10.53.0.1 proto bird metric 32 \n\tnexthop via 10.91.0.2 dev rva weight 1 \n\
                \tnexthop via 10.92.0.2 dev rvb weight 1 \n\
                10.53.0.2 via 10.92.0.2 dev rvb proto bird metric 32 \n\
                10.90.0.0/24 dev rvc proto kernel scope link src 10.90.0.1 \n";
    let routes = next_hops(text);
    assert_eq!(routes["10.53.0.1"], ["10.91.0.2", "10.92.0.2"]);
    assert_eq!(routes["10.53.0.2"], ["10.92.0.2"]);
    assert!(!routes.contains_key("10.90.0.0/24"), "a route with no next hop: {routes:?}");
    assert!(!routes.contains_key("10.53.0.3"));
}
