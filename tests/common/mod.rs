//! Helpers shared by the integration tests: a scratch directory and the real binary.
#![allow(dead_code)]
#![allow(unsafe_code)] // libc calls on the daemon under test (signals, fds)

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_anycast-healthchecker")
}

/// A scratch directory, removed when dropped.
pub struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox::new_in(&std::env::temp_dir())
    }

    /// A scratch directory under `parent` (a test that must not be in /tmp).
    pub fn new_in(parent: &Path) -> Sandbox {
        let dir = tempfile::Builder::new().prefix("ahc-").tempdir_in(parent).expect("temp dir");
        Sandbox { dir }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// Writes `text` to `relative`, making parent directories, and returns the path.
    pub fn write(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.path(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, text).expect("write");
        path
    }

    pub fn mkdir(&self, relative: &str) -> PathBuf {
        let path = self.path(relative);
        std::fs::create_dir_all(&path).expect("mkdir");
        path
    }

    /// Runs the binary with `args`, in this directory.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(binary()).args(args).current_dir(self.root()).output().expect("run the binary")
    }

    /// Every path below the root, sorted, to show that a command created nothing.
    pub fn listing(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let mut pending = vec![self.root().to_path_buf()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).expect("read dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    pending.push(path.clone());
                }
                found.push(path);
            }
        }
        found.sort();
        found
    }
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub mod bird;
pub mod random;
pub mod servers;
pub mod upstream;

/// A test that cannot run here (no root, no Bird): one loud line and a skip, except
/// with `CI=true`, where it fails, so CI can never go green by skipping.
pub fn skip_or_fail(why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{why} (CI=true: a test that would skip fails instead)");
    }
    eprintln!("SKIPPED: {why}");
}

/// True when running as root; else [`skip_or_fail`] and false.
pub fn root_or_skip() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    skip_or_fail("needs root (network namespaces, other users)");
    false
}

/// Waits until `done` holds, polling every 10 ms; panics with `what` after `timeout`.
pub fn wait_for(what: &str, timeout: std::time::Duration, done: impl FnMut() -> bool) {
    wait_until(what, std::time::Instant::now() + timeout, done);
}

/// Waits until `done` holds, polling every 10 ms; panics with `what` at `deadline`.
/// Tests wait for an observable event this way, never for a fixed time.
pub fn wait_until(what: &str, deadline: std::time::Instant, mut done: impl FnMut() -> bool) {
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// The prefixes a Bird file lists, normalised, or None if there is no file.
pub fn file_prefixes(path: &Path) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(anycast_healthchecker::bird::file::parse(&text).prefixes.iter().map(ToString::to_string).collect())
}

/// A daemon under test: a sandbox with `run/`, `lib/` (the Bird file `lib/4.conf`),
/// `conf.d/`, and a reconfigure script that logs each call to `reconfigure.log` and
/// answers like birdc.
pub struct Setup {
    pub sandbox: Sandbox,
}

impl Setup {
    /// `daemon_extra` is added to `[daemon]`; `defaults` to `[DEFAULT]`.
    pub fn new(daemon_extra: &str, defaults: &str) -> Setup {
        Setup::in_sandbox(Sandbox::new(), daemon_extra, defaults)
    }

    /// Like [`Setup::new`], in a sandbox under `parent`.
    pub fn new_in(parent: &Path, daemon_extra: &str, defaults: &str) -> Setup {
        Setup::in_sandbox(Sandbox::new_in(parent), daemon_extra, defaults)
    }

    fn in_sandbox(sandbox: Sandbox, daemon_extra: &str, defaults: &str) -> Setup {
        sandbox.mkdir("run");
        sandbox.mkdir("lib");
        sandbox.mkdir("conf.d");
        let root = sandbox.root().display().to_string();
        let script = sandbox.write(
            "reconfigure.sh",
            &format!(
                "#!/bin/sh\n\
                 # Logs each call; fails while 'bird-down' exists, hangs while 'bird-hangs' exists,\n\
                 # takes 'bird-delay' seconds if that file exists. Logs 'overlap' when a call\n\
                 # starts while another runs (a real Bird 3 aborts then).\n\
                 mkdir {root}/inflight 2>/dev/null || echo \"overlap $*\" >> {root}/reconfigure.log\n\
                 echo \"start $*\" >> {root}/reconfigure.log\n\
                 if [ -e {root}/bird-hangs ]; then rmdir {root}/inflight; exec sleep 1000.{marker}; fi\n\
                 if [ -e {root}/bird-delay ]; then sleep $(cat {root}/bird-delay); fi\n\
                 if [ -e {root}/bird-down ]; then echo \"failed $*\" >> {root}/reconfigure.log; rmdir {root}/inflight; echo 'Unable to connect to server control socket' >&2; exit 1; fi\n\
                 echo \"done $*\" >> {root}/reconfigure.log\n\
                 echo \"saw $(cat {root}/lib/*.conf 2>/dev/null | cksum)\" >> {root}/reconfigure.log\n\
                 rmdir {root}/inflight\n\
                 echo 'BIRD 2.0.12 ready.'\necho 'Reconfigured'\n",
                marker = std::process::id()
            ),
        );
        make_executable(&script);
        let base_defaults = [
            "check_disabled = false",
            "ip_check_disabled = true",
            "check_rise = 1",
            "check_fail = 1",
            "check_interval = 0.2",
            "check_timeout = 0.15",
        ];
        let base_daemon = [
            format!("pidfile = {root}/run/ahc.pid"),
            format!("bird_conf = {root}/lib/4.conf"),
            format!("bird_reconfigure_cmd = {root}/reconfigure.sh"),
            // Tests run daemons side by side in one network namespace.
            format!("instance_lock = ahc-test-{}-{}", std::process::id(), unique()),
            "loglevel = debug".to_string(),
        ];
        sandbox.write(
            "main.conf",
            &format!(
                "[DEFAULT]\n{}\n[daemon]\n{}\n",
                merge_keys(base_defaults.iter().map(|l| l.to_string()), defaults),
                merge_keys(base_daemon.into_iter(), daemon_extra)
            ),
        );
        Setup { sandbox }
    }

    pub fn root(&self) -> &Path {
        self.sandbox.root()
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.sandbox.path(relative)
    }

    /// A service whose check passes while the file `flag` exists in the sandbox.
    pub fn flag_service(&self, name: &str, prefix: &str, flag: &str, extra: &str) {
        let root = self.root().display();
        self.service(
            name,
            &format!("check_cmd = /bin/sh -c 'test -e {root}/{flag}'\nip_prefix = {prefix}\n{extra}"),
        );
    }

    pub fn service(&self, name: &str, body: &str) {
        self.sandbox.write(&format!("conf.d/{name}.conf"), &format!("[{name}]\n{body}\n"));
    }

    pub fn remove_service(&self, name: &str) {
        std::fs::remove_file(self.path(&format!("conf.d/{name}.conf"))).expect("remove service file");
    }

    pub fn touch(&self, relative: &str) {
        self.sandbox.write(relative, "");
    }

    pub fn remove(&self, relative: &str) {
        let _ = std::fs::remove_file(self.path(relative));
    }

    pub fn bird_prefixes(&self) -> Vec<String> {
        file_prefixes(&self.path("lib/4.conf")).unwrap_or_default()
    }

    /// Waits until the Bird file lists exactly the dummy and `expected` (in any order).
    pub fn wait_for_prefixes(&self, expected: &[&str], timeout: std::time::Duration) {
        let mut want: Vec<String> =
            std::iter::once("10.189.200.255/32").chain(expected.iter().copied()).map(String::from).collect();
        want.sort();
        wait_for(&format!("the Bird file to list {want:?}"), timeout, || {
            let mut have = self.bird_prefixes();
            have.sort();
            have == want
        });
    }

    /// Waits until "Bird" (the reconfigure script) has read the prefix files as they
    /// are now, and no reconfigure runs: ground truth, where the daemon's log may lag.
    pub fn wait_bird_has_files(&self, timeout: std::time::Duration) {
        let files_now = || {
            let output = std::process::Command::new("sh")
                .args(["-c", &format!("cat {}/lib/*.conf 2>/dev/null | cksum", self.root().display())])
                .output()
                .expect("cksum");
            String::from_utf8_lossy(&output.stdout).trim().to_string()
        };
        wait_for("Bird to have the files", timeout, || {
            let log = std::fs::read_to_string(self.path("reconfigure.log")).unwrap_or_default();
            let last_seen = log.lines().rev().find_map(|l| l.strip_prefix("saw ")).map(str::to_string);
            let ended = self.reconfigure_runs("done") + self.reconfigure_runs("failed");
            self.reconfigure_runs("start") == ended && last_seen == Some(files_now())
        });
    }

    /// The lines of reconfigure.log that start with `word` ("start" or "done").
    pub fn reconfigure_runs(&self, word: &str) -> usize {
        std::fs::read_to_string(self.path("reconfigure.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with(word))
            .count()
    }

    pub fn start(&self) -> DaemonProcess {
        DaemonProcess::start(self.root(), &["-f", "main.conf", "-d", "conf.d"])
    }
}

/// `base` lines with the keys `extra` sets replaced by its lines.
fn merge_keys(base: impl Iterator<Item = String>, extra: &str) -> String {
    let key = |line: &str| line.split(['=', ':']).next().unwrap_or("").trim().to_lowercase();
    let overridden: Vec<String> = extra.lines().map(key).collect();
    let mut lines: Vec<String> = base.filter(|l| !overridden.contains(&key(l))).collect();
    lines.extend(extra.lines().map(String::from));
    lines.join("\n")
}

pub fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// A running daemon; killed (SIGKILL) and reaped when dropped.
pub struct DaemonProcess {
    child: std::process::Child,
    log: PathBuf,
}

impl DaemonProcess {
    pub fn start(dir: &Path, args: &[&str]) -> DaemonProcess {
        DaemonProcess::start_with_env(dir, args, &[])
    }

    /// Starts the daemon with extra environment variables.
    pub fn start_with_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> DaemonProcess {
        DaemonProcess::start_via(dir, binary(), args, env)
    }

    /// Starts `program` with `args`, which must exec the daemon in the same process
    /// (e.g. `unshare -m sh -c '...; exec anycast-healthchecker ...'`).
    pub fn start_via(dir: &Path, program: &str, args: &[&str], env: &[(&str, &str)]) -> DaemonProcess {
        DaemonProcess::spawn(dir, program, args, env, false)
    }

    /// Starts the daemon with its stderr named by `$JOURNAL_STREAM`, as systemd does
    /// when a unit's stderr is a stream into the journal.
    pub fn start_into_journal(dir: &Path, args: &[&str]) -> DaemonProcess {
        DaemonProcess::spawn(dir, binary(), args, &[], true)
    }

    fn spawn(dir: &Path, program: &str, args: &[&str], env: &[(&str, &str)], journal: bool) -> DaemonProcess {
        use std::os::unix::fs::MetadataExt;
        let log = dir.join(format!("daemon-{}.log", unique()));
        let stderr = std::fs::File::create(&log).expect("log file");
        let meta = stderr.metadata().expect("stat the log file");
        let stream = format!("{}:{}", meta.dev(), meta.ino());
        let journal_env = journal.then_some(("JOURNAL_STREAM", stream.as_str()));
        let child = Command::new(program)
            .args(args)
            .envs(env.iter().copied().chain(journal_env))
            .current_dir(dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start the daemon");
        DaemonProcess { child, log }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill has no memory effects.
        unsafe {
            libc::kill(self.pid(), signal);
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Log lines of service `name` (its thread) that contain `text`.
    pub fn service_lines(&self, name: &str, text: &str) -> usize {
        self.log().lines().filter(|l| l.contains(&format!(" {name} ")) && l.contains(text)).count()
    }

    /// Log lines that contain `text`.
    pub fn log_count(&self, text: &str) -> usize {
        self.log().lines().filter(|l| l.contains(text)).count()
    }

    pub fn wait_for_log(&self, text: &str, timeout: std::time::Duration) {
        wait_for(&format!("{text:?} in the daemon's log"), timeout, || self.log().contains(text));
    }

    /// Waits until `n` more log lines contain `text` than now: the daemon's own work
    /// (checks run, retries) as the clock of a test, instead of a sleep.
    pub fn wait_for_more(&self, text: &str, n: usize, timeout: std::time::Duration) {
        let now = self.log_count(text);
        wait_for(&format!("{n} more {text:?} lines"), timeout, || self.log_count(text) >= now + n);
    }

    /// Waits until every reconfigure the daemon started has ended (logged as done or
    /// failed) and no file was written after the last one: Bird is as far as it gets
    /// for the changes so far.
    pub fn wait_settled(&self, timeout: std::time::Duration) {
        wait_for("the writer to settle", timeout, || {
            let log = self.log();
            let started = log.matches("reconfiguring BIRD by running").count();
            let ended = log.matches("reconfigured BIRD daemon").count()
                + log.lines().filter(|l| l.contains("reconfiguring BIRD failed with")).count();
            let last_end = log.rfind("reconfigured BIRD daemon").unwrap_or(0);
            started == ended && !log[last_end..].contains(" is updated")
        });
    }

    /// Waits for the daemon to exit; its exit code (None: killed by a signal).
    pub fn wait_exit(&mut self, timeout: std::time::Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code();
            }
            assert!(std::time::Instant::now() < deadline, "the daemon did not exit; log:\n{}", self.log());
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// The exit code if the daemon has exited, without waiting.
    pub fn wait_exit_now(&mut self) -> Option<i32> {
        self.child.try_wait().expect("try_wait").map(|status| status.code().unwrap_or(-1))
    }

    /// The daemon's resident memory in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

/// Stops the daemon as its service manager would: SIGTERM, so it ends its checks and
/// waits for a running reconfigure (whose script would otherwise go on writing into
/// the sandbox as it is removed), then SIGKILL if it has not exited within 10 s.
impl Drop for DaemonProcess {
    fn drop(&mut self) {
        terminate(&mut self.child, std::time::Duration::from_secs(10));
    }
}

/// SIGTERM, then SIGKILL if `child` has not exited within `patience`; reaps it.
pub fn terminate(child: &mut std::process::Child, patience: std::time::Duration) {
    if let Ok(None) = child.try_wait() {
        // SAFETY: kill has no memory effects.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = std::time::Instant::now() + patience;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A stand-in for systemd's notify socket: the daemon's messages, in order.
pub struct NotifySocket {
    socket: std::os::unix::net::UnixDatagram,
    pub messages: Vec<String>,
}

impl NotifySocket {
    /// Binds a datagram socket at `path` (give it to the daemon as `NOTIFY_SOCKET`).
    pub fn bind(path: &Path) -> NotifySocket {
        let socket = std::os::unix::net::UnixDatagram::bind(path).expect("notify socket");
        socket.set_read_timeout(Some(std::time::Duration::from_millis(200))).expect("timeout");
        NotifySocket { socket, messages: Vec::new() }
    }

    /// Reads messages until `done` holds for all received so far; panics naming `what`
    /// after `timeout`.
    pub fn collect_until(
        &mut self,
        what: &str,
        timeout: std::time::Duration,
        done: impl Fn(&[String]) -> bool,
    ) {
        let deadline = std::time::Instant::now() + timeout;
        let mut buffer = [0u8; 4096];
        while !done(&self.messages) {
            assert!(std::time::Instant::now() < deadline, "no {what} in {:?}", self.messages);
            if let Ok(n) = self.socket.recv(&mut buffer) {
                self.messages.push(String::from_utf8_lossy(&buffer[..n]).into_owned());
            }
        }
    }
}

/// A number unique within this test process.
pub fn unique() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Processes whose command line contains `marker`, other than this test process.
pub fn processes_with(marker: &str) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(marker) && pid != std::process::id() as i32 {
            found.push(pid);
        }
    }
    found
}

/// Held by a test whose daemon keeps the default `instance_lock` (the example and
/// shipped configurations): one daemon per lock name and network namespace, as on a
/// host, so such tests take turns within the one test binary.
pub fn default_instance_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Children of `parent` that have exited but were not reaped.
pub fn zombie_children(parent: i32) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // "pid (comm) S ppid ...": comm may hold spaces, so split after the last ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.first() == Some(&"Z") && fields.get(1).and_then(|p| p.parse::<i32>().ok()) == Some(parent) {
            found.push(pid);
        }
    }
    found
}
