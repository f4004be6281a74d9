//! A real Bird lab for end-to-end tests: a speaker (the Bird the daemon reconfigures) in
//! one fresh network namespace and a Bird 2 peer in another, joined by a veth pair,
//! with one BGP session per IP version. The test asks the peer what it has learned.
//! Everything is stopped and the namespaces deleted when the lab is dropped, also when
//! the test panics.
//!
//! Bird 2 comes from Debian's `bird2` (`/usr/sbin/bird`, `birdc`); Bird 1.6 from
//! Debian's `bird` .deb unpacked into `/opt/bird16` (it conflicts with `bird2`); Bird 3
//! is built from source into `/opt/bird3` (see README.rst). `BIRD`, `BIRDC`,
//! `BIRD16_DIR` (the directory of `bird`, `bird6`, `birdc`, `birdc6`) and `BIRD3_DIR`
//! (the prefix holding `sbin/bird`) override the paths.
//!
//! The speakers run the Bird examples we ship (conf.d/bird/). The peer never learns a
//! dummy prefix: [`Lab::wait_for_peer`] waits for exactly the expected routes.
#![allow(unsafe_code)] // libc calls on the processes under test

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anycast_healthchecker::bird::control;

/// Which Bird the speaker runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speaker {
    /// One `bird` 2 daemon for IPv4 and IPv6, reconfigured once with `birdc`.
    Bird2,
    /// Bird 1.6: `bird` for IPv4 and `bird6` for IPv6, each with its own `birdc`.
    Bird16,
    /// Bird 3 (built from source), as speaker and peer, with the Bird 3 example.
    Bird3,
}

/// Where Bird 3 is installed (`BIRD3_DIR`, default /opt/bird3), or None after one loud
/// line when it is not, except under CI, where a missing Bird 3 fails the test.
pub fn bird3_or_skip() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("BIRD3_DIR").unwrap_or_else(|| "/opt/bird3".into()));
    if dir.join("sbin/bird").exists() && dir.join("sbin/birdc").exists() {
        return Some(dir);
    }
    let why = format!(
        "Bird 3 is not in {} (build it with build-bird3.sh, see README.rst, Test; or set BIRD3_DIR)",
        dir.display()
    );
    super::skip_or_fail(&why);
    None
}

/// Whether a lab of `kind` can run here: root, and that Bird's binaries. If not, one
/// loud `SKIPPED:` line (a failure under CI=true) and false.
pub fn lab_available(kind: Speaker) -> bool {
    if !super::root_or_skip() {
        return false;
    }
    let env_or =
        |name: &str, default: &str| PathBuf::from(std::env::var_os(name).unwrap_or_else(|| default.into()));
    let missing: Vec<(PathBuf, &str)> = match kind {
        Speaker::Bird3 => return bird3_or_skip().is_some() && lab_available(Speaker::Bird2),
        Speaker::Bird2 => vec![
            (env_or("BIRD", "/usr/sbin/bird"), "apt-get install bird2"),
            (env_or("BIRDC", "/usr/sbin/birdc"), "apt-get install bird2"),
        ],
        Speaker::Bird16 => ["bird", "bird6", "birdc", "birdc6"]
            .iter()
            .map(|name| {
                (
                    env_or("BIRD16_DIR", "/opt/bird16/usr/sbin").join(name),
                    "apt-get download bird && dpkg -x bird_*.deb /opt/bird16",
                )
            })
            .collect(),
    };
    if let Some((path, how)) = missing.iter().find(|(path, _)| !path.exists()) {
        super::skip_or_fail(&format!(
            "{} is missing; install it with: {how} (see README.rst, Test)",
            path.display()
        ));
        return false;
    }
    true
}

/// Paths of the Bird binaries; panics with install instructions when one is missing
/// (call [`lab_available`] first to skip instead).
pub struct Tools {
    pub bird2: PathBuf,
    pub birdc2: PathBuf,
    pub bird16_dir: PathBuf,
    /// Bird 3's prefix (sbin/bird, sbin/birdc), when a Bird 3 lab is asked for.
    pub bird3_dir: PathBuf,
}

pub fn tools() -> Tools {
    let env_or =
        |name: &str, default: &str| PathBuf::from(std::env::var_os(name).unwrap_or_else(|| default.into()));
    let tools = Tools {
        bird2: env_or("BIRD", "/usr/sbin/bird"),
        birdc2: env_or("BIRDC", "/usr/sbin/birdc"),
        bird16_dir: env_or("BIRD16_DIR", "/opt/bird16/usr/sbin"),
        bird3_dir: env_or("BIRD3_DIR", "/opt/bird3"),
    };
    for (path, how) in [
        (&tools.bird2, "apt-get install bird2"),
        (&tools.birdc2, "apt-get install bird2"),
        (&tools.bird16_dir.join("bird"), "apt-get download bird && dpkg -x bird_*.deb /opt/bird16"),
        (&tools.bird16_dir.join("bird6"), "apt-get download bird && dpkg -x bird_*.deb /opt/bird16"),
    ] {
        assert!(
            path.exists(),
            "{} is missing; install it with: {how} (see README.rst, Test)",
            path.display()
        );
    }
    assert!(
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() } == 0,
        "the Bird tests create network namespaces and need root (CI runs as root)"
    );
    tools
}

/// A route as the peer has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerRoute {
    pub path_length: usize,
    pub med: Option<u32>,
    pub communities: String,
}

/// The running lab.
pub struct Lab {
    pub kind: Speaker,
    dir: PathBuf,
    namespaces: [String; 2],
    speakers: Vec<Child>,
    peer: Option<Child>,
    tools: Tools,
    p4: PathBuf,
    p6: PathBuf,
    /// Appended to the speaker's config (e.g. `protocol bfd {}`).
    speaker_extra: String,
}

/// The degraded set's own file beside a prefix file: `lib/4.conf` -> `lib/4-degraded.conf`
/// (as the shipped `anycast-prefixes.conf` has `anycast-prefixes-degraded.conf`).
pub fn degraded_path(prefix_file: &Path) -> PathBuf {
    let stem = prefix_file.file_stem().expect("a file name").to_string_lossy();
    prefix_file.with_file_name(format!("{stem}-degraded.conf"))
}

/// Writes each prefix file and its degraded file, holding only the dummy, where missing.
pub fn write_prefix_files(p4: &Path, p6: &Path) {
    let set = |variable: &str, dummy: &str| format!("define {variable} =\n    [\n        {dummy}\n    ];\n");
    for (path, text) in [
        (p4.to_path_buf(), set("ACAST_PS_ADVERTISE", "10.189.200.255/32")),
        (p6.to_path_buf(), set("ACAST6_PS_ADVERTISE", "2001:db8::1/128")),
        (degraded_path(p4), set("ACAST_PS_DEGRADED", "10.189.200.255/32")),
        (degraded_path(p6), set("ACAST6_PS_DEGRADED", "2001:db8::1/128")),
    ] {
        if !path.exists() {
            std::fs::write(&path, text).expect("prefix file");
        }
    }
}

/// A shipped Bird example with its includes pointed at `p4`, `p6` and their degraded
/// files instead of /var/lib/anycast-healthchecker.
pub fn point_at_prefix_files(example: &str, p4: &Path, p6: &Path) -> String {
    let lib = "/var/lib/anycast-healthchecker";
    example
        .replace(&format!("{lib}/6/anycast-prefixes-degraded.conf"), &degraded_path(p6).display().to_string())
        .replace(&format!("{lib}/anycast-prefixes-degraded.conf"), &degraded_path(p4).display().to_string())
        .replace(&format!("{lib}/6/anycast-prefixes.conf"), &p6.display().to_string())
        .replace(&format!("{lib}/anycast-prefixes.conf"), &p4.display().to_string())
}

impl Lab {
    /// Starts a lab whose speaker includes the prefix files `p4` and `p6` (created with
    /// only the dummy if missing). `dir` holds configs, sockets and logs: keep it short.
    pub fn start(kind: Speaker, dir: &Path, p4: &Path, p6: &Path) -> Lab {
        Lab::start_with(kind, dir, p4, p6, "")
    }

    /// Like [`Lab::start`], with `speaker_extra` appended to the speaker's config.
    pub fn start_with(kind: Speaker, dir: &Path, p4: &Path, p6: &Path, speaker_extra: &str) -> Lab {
        let tools = tools();
        let id = format!("{}{}", std::process::id() % 100_000, super::unique());
        let namespaces = [format!("ahc{id}a"), format!("ahc{id}b")];
        let mut lab = Lab {
            kind,
            dir: dir.to_path_buf(),
            namespaces,
            speakers: Vec::new(),
            peer: None,
            tools,
            p4: p4.to_path_buf(),
            p6: p6.to_path_buf(),
            speaker_extra: speaker_extra.to_string(),
        };
        write_prefix_files(p4, p6);
        lab.make_network(&id);
        lab.write_configs();
        let peer_bird = match kind {
            Speaker::Bird3 => lab.tools.bird3_dir.join("sbin/bird"),
            _ => lab.tools.bird2.clone(),
        };
        lab.peer = Some(lab.spawn(1, &peer_bird, "peer.conf", "b.ctl"));
        wait_for_socket(&lab.dir.join("b.ctl"));
        lab.start_speaker();
        lab
    }

    fn make_network(&self, id: &str) {
        let [a, b] = &self.namespaces;
        let (va, vb) = (format!("ahv{id}a"), format!("ahv{id}b"));
        for args in [
            vec!["netns", "add", a],
            vec!["netns", "add", b],
            vec!["link", "add", &va, "type", "veth", "peer", "name", &vb],
            vec!["link", "set", &va, "netns", a],
            vec!["link", "set", &vb, "netns", b],
            vec!["-n", a, "addr", "add", "192.0.2.1/24", "dev", &va],
            vec!["-n", b, "addr", "add", "192.0.2.2/24", "dev", &vb],
            vec!["-n", a, "addr", "add", "fd00:ac::1/64", "dev", &va, "nodad"],
            vec!["-n", b, "addr", "add", "fd00:ac::2/64", "dev", &vb, "nodad"],
            vec!["-n", a, "link", "set", &va, "up"],
            vec!["-n", b, "link", "set", &vb, "up"],
            vec!["-n", a, "link", "set", "lo", "up"],
            vec!["-n", b, "link", "set", "lo", "up"],
        ] {
            let status = Command::new("ip").args(&args).status().expect("run ip");
            assert!(status.success(), "ip {} failed", args.join(" "));
        }
    }

    fn write_configs(&self) {
        let timers = "connect delay time 1; connect retry time 1; error wait time 1, 2;";
        let peer = "router id 192.0.2.2;\nprotocol device {}\n\
             protocol bgp to_a4 { local 192.0.2.2 as 65002; neighbor 192.0.2.1 as 65001; passive yes;\n  \
             ipv4 { import all; export none; }; }\n\
             protocol bgp to_a6 { local fd00:ac::2 as 65002; neighbor fd00:ac::1 as 65001; passive yes;\n  \
             ipv6 { import all; export none; }; }\n";
        std::fs::write(self.dir.join("peer.conf"), peer).expect("peer.conf");
        // The speakers run the example configs we ship (conf.d/bird/), pointed at this
        // lab's prefix files and with fast BGP reconnects.
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf.d/bird");
        let adapt = |example: &str| {
            point_at_prefix_files(
                &std::fs::read_to_string(examples.join(example)).expect("example Bird config"),
                &self.p4,
                &self.p6,
            )
            .replace("as 65002;", &format!("as 65002; {timers}"))
                + &self.speaker_extra
        };
        match self.kind {
            Speaker::Bird2 => std::fs::write(self.dir.join("a.conf"), adapt("bird2.conf")).expect("a.conf"),
            Speaker::Bird3 => std::fs::write(self.dir.join("a.conf"), adapt("bird3.conf")).expect("a.conf"),
            Speaker::Bird16 => {
                std::fs::write(self.dir.join("a4.conf"), adapt("bird16.conf")).expect("a4.conf");
                std::fs::write(self.dir.join("a6.conf"), adapt("bird16-6.conf")).expect("a6.conf");
            }
        }
    }

    fn spawn(&self, namespace: usize, bird: &Path, config: &str, socket: &str) -> Child {
        let log = std::fs::File::create(self.dir.join(format!("{config}.log"))).expect("log");
        let _ = std::fs::remove_file(self.dir.join(socket));
        Command::new("ip")
            .args(["netns", "exec", &self.namespaces[namespace]])
            .arg(bird)
            .args(["-f", "-c", config, "-s", socket, "-P", &format!("{socket}.pid")])
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start bird")
    }

    /// The network namespace the speaker runs in, where a daemon that binds
    /// upstream's fixed abstract socket name can run beside other tests.
    pub fn speaker_namespace(&self) -> &str {
        &self.namespaces[0]
    }

    /// The control sockets the daemon reconfigures: (IPv4, IPv6).
    pub fn speaker_sockets(&self) -> (PathBuf, PathBuf) {
        match self.kind {
            Speaker::Bird2 | Speaker::Bird3 => (self.dir.join("a.ctl"), self.dir.join("a.ctl")),
            Speaker::Bird16 => (self.dir.join("a4.ctl"), self.dir.join("a6.ctl")),
        }
    }

    /// `bird_reconfigure_cmd` and `bird6_reconfigure_cmd` for this speaker: the real
    /// `birdc` of its version.
    pub fn reconfigure_commands(&self) -> (String, String) {
        let (s4, s6) = self.speaker_sockets();
        match self.kind {
            Speaker::Bird2 => {
                let cmd = format!("{} -s {} configure", self.tools.birdc2.display(), s4.display());
                (cmd.clone(), cmd)
            }
            Speaker::Bird3 => {
                let birdc = self.tools.bird3_dir.join("sbin/birdc");
                let cmd = format!("{} -s {} configure", birdc.display(), s4.display());
                (cmd.clone(), cmd)
            }
            Speaker::Bird16 => (
                format!("{} -s {} configure", self.tools.bird16_dir.join("birdc").display(), s4.display()),
                format!("{} -s {} configure", self.tools.bird16_dir.join("birdc6").display(), s6.display()),
            ),
        }
    }

    pub fn start_speaker(&mut self) {
        match self.kind {
            Speaker::Bird2 => {
                let child = self.spawn(0, &self.tools.bird2.clone(), "a.conf", "a.ctl");
                self.speakers.push(child);
            }
            Speaker::Bird3 => {
                let child = self.spawn(0, &self.tools.bird3_dir.join("sbin/bird"), "a.conf", "a.ctl");
                self.speakers.push(child);
            }
            Speaker::Bird16 => {
                let dir = self.tools.bird16_dir.clone();
                let v4 = self.spawn(0, &dir.join("bird"), "a4.conf", "a4.ctl");
                let v6 = self.spawn(0, &dir.join("bird6"), "a6.conf", "a6.ctl");
                self.speakers.extend([v4, v6]);
            }
        }
        let (s4, s6) = self.speaker_sockets();
        wait_for_socket(&s4);
        wait_for_socket(&s6);
    }

    /// Stops the speaker (SIGTERM) and waits for it: Bird is "down".
    pub fn stop_speaker(&mut self) {
        for mut child in self.speakers.drain(..) {
            super::terminate(&mut child, Duration::from_secs(5));
        }
    }

    /// Bird 1.6 only: stops the IPv4 daemon (`bird`) and keeps `bird6` running.
    pub fn stop_bird16_v4(&mut self) {
        assert_eq!(self.kind, Speaker::Bird16);
        let mut v4 = self.speakers.remove(0);
        super::terminate(&mut v4, Duration::from_secs(5));
    }

    /// Bird 1.6 only: starts the IPv4 daemon again after [`Lab::stop_bird16_v4`].
    pub fn start_bird16_v4(&mut self) {
        assert_eq!(self.kind, Speaker::Bird16);
        let v4 = self.spawn(0, &self.tools.bird16_dir.join("bird"), "a4.conf", "a4.ctl");
        self.speakers.insert(0, v4);
        wait_for_socket(&self.dir.join("a4.ctl"));
    }

    /// The pids of the speaker daemons (Bird 1.6: `bird`, then `bird6`).
    pub fn speaker_pids(&self) -> Vec<i32> {
        self.speakers.iter().map(|c| c.id() as i32).collect()
    }

    /// True while every speaker daemon runs (Bird 3 aborts on overlapping configures).
    pub fn speakers_alive(&mut self) -> bool {
        self.speakers.iter_mut().all(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// The prefixes the peer has learned.
    pub fn peer_routes(&self) -> Vec<String> {
        let reply = match control::request(&self.dir.join("b.ctl"), "show route", Duration::from_secs(2)) {
            Ok(reply) => reply,
            Err(_) => return Vec::new(),
        };
        let mut routes: Vec<String> = reply
            .iter()
            .filter_map(|(_, text)| text.split_whitespace().next())
            .filter_map(|word| word.parse::<anycast_healthchecker::config::prefix::IpPrefix>().ok())
            .map(|p| p.to_string())
            .collect();
        routes.sort();
        routes.dedup();
        routes
    }

    /// What the peer learned with `prefix`: the AS path's length, the MED and the
    /// communities, from `show route for PREFIX all` (Bird 2 writes `BGP.as_path:`,
    /// Bird 3 `bgp_path:`). None if the peer has no such route.
    pub fn peer_route(&self, prefix: &str) -> Option<PeerRoute> {
        let command = format!("show route for {prefix} all");
        let reply = control::request(&self.dir.join("b.ctl"), &command, Duration::from_secs(2)).ok()?;
        let text: Vec<&str> = reply.iter().map(|(_, text)| text.as_str()).collect();
        if !text.iter().any(|l| l.trim_start().starts_with(prefix)) {
            return None;
        }
        let value = |names: &[&str]| {
            text.iter().find_map(|line| {
                let line = line.trim();
                names.iter().find_map(|name| line.strip_prefix(name)).map(|v| v.trim().to_string())
            })
        };
        Some(PeerRoute {
            path_length: value(&["BGP.as_path:", "bgp_path:"]).map_or(0, |p| p.split_whitespace().count()),
            med: value(&["BGP.med:", "bgp_med:"]).and_then(|m| m.parse().ok()),
            communities: value(&["BGP.community:", "bgp_community:"]).unwrap_or_default(),
        })
    }

    /// Waits until the peer has learned exactly `expected`: never a dummy prefix (they
    /// are documentation prefixes; announcing them would leak them to real peers).
    pub fn wait_for_peer(&self, expected: &[&str], timeout: Duration) {
        let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        want.sort();
        let deadline = Instant::now() + timeout;
        loop {
            let have = self.peer_routes();
            assert!(
                !have.iter().any(|r| r == "10.189.200.255/32" || r == "2001:db8::1/128"),
                "the peer learned a dummy prefix: {have:?}"
            );
            if have == want {
                return;
            }
            assert!(Instant::now() < deadline, "the peer has {have:?}, expected {want:?}\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The Bird logs, for failure messages.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        for name in ["peer.conf.log", "a.conf.log", "a4.conf.log", "a6.conf.log"] {
            if let Ok(log) = std::fs::read_to_string(self.dir.join(name)) {
                text.push_str(&format!("--- {name}\n{log}"));
            }
        }
        text
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.stop_speaker();
        if let Some(mut peer) = self.peer.take() {
            super::terminate(&mut peer, Duration::from_secs(5));
        }
        for namespace in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "del", namespace]).status();
        }
    }
}

fn wait_for_socket(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while control::request(path, "show status", Duration::from_secs(1)).is_err() {
        assert!(Instant::now() < deadline, "Bird did not answer on {}", path.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}
