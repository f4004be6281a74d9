//! A reconfigure worker: one thread per thing the writer tells Bird through (a Bird
//! daemon's command or control socket, or a service's custom command), running one job
//! at a time and reporting back to the writer.
//!
//! Why threads: a reconfigure can hang until its timeout. Run inline, a hung IPv4 Bird
//! would hold back the IPv6 one behind it. With a worker per target, each target keeps
//! its own pace and retries, and because a worker runs its jobs one after another and
//! the writer sends a job only when the last one has reported, no Bird ever gets two
//! `configure`s at once (Bird 3.3.2 aborts on overlapping configures). Between jobs a
//! worker that reconfigured a Bird 2 older than 2.14 wakes it a few times (see `wake`).

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::reconfigure::{self, Accepted};
use super::{control, wake};
use crate::config::Reconfigure;
use crate::sys::argv::Argv;

/// Stack size of a worker thread: it runs one command or speaks one socket.
const STACK_SIZE: usize = 128 * 1024;

/// What a worker is asked to run.
#[derive(Debug, Clone)]
pub(crate) enum Job {
    /// The daemon-level reconfigure of one Bird.
    Bird { how: Reconfigure, timeout: Duration },
    /// A service's own command, with `up` or `down` appended.
    Custom { argv: Argv, direction: &'static str, timeout: Duration },
}

/// A finished job, sent back to the writer with the worker's index.
#[derive(Debug)]
pub(crate) struct JobReport {
    pub worker: usize,
    pub result: Result<Accepted, String>,
    pub duration: Duration,
}

/// A running worker; dropping it lets the thread end after its current job.
pub(crate) struct ReconfigureWorker {
    jobs: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl ReconfigureWorker {
    /// Starts worker number `index`, which reports to `reports`.
    pub(crate) fn start(index: usize, name: &str, reports: Sender<JobReport>) -> Result<ReconfigureWorker> {
        let (jobs, queue) = crossbeam_channel::unbounded();
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .stack_size(STACK_SIZE)
            .spawn(move || run(index, &queue, &reports))
            .with_context(|| format!("failed to start the {name} thread"))?;
        Ok(ReconfigureWorker { jobs: Some(jobs), thread: Some(thread) })
    }

    /// Queues `job`. The writer sends one only when the last one has reported.
    pub(crate) fn send(&self, job: Job) {
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(job);
        }
    }

    /// Ends the thread after its current job (bounded by that job's timeout).
    pub(crate) fn stop(mut self) {
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(index: usize, queue: &Receiver<Job>, reports: &Sender<JobReport>) {
    let mut waking: Option<Waking> = None;
    let mut said_why = false;
    loop {
        let job = match &mut waking {
            Some(w) => match queue.recv_deadline(w.next_at) {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout) => {
                    let greeting = control::greet(&w.socket, GREET_TIMEOUT).ok();
                    waking = waking.take().and_then(|w| w.after(greeting.as_deref()));
                    if waking.is_some() && !said_why {
                        said_why = true;
                        let version = greeting.as_deref().and_then(|g| g.split_whitespace().nth(2));
                        log::info!(
                            "Bird {} can hold a reload's last BGP updates for up to 3s (fixed in Bird 2.14); \
                             waking it after each configure",
                            version.unwrap_or_default()
                        );
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            },
            None => match queue.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
        };
        let started = Instant::now();
        let result = match &job {
            Job::Bird { how, timeout } => reconfigure::reconfigure_bird(how, *timeout),
            Job::Custom { argv, direction, timeout } => {
                reconfigure::run_custom_command(argv, direction, *timeout).map(|()| Accepted::Reconfigured)
            }
        };
        let socket = match (&job, &result) {
            (Job::Bird { how: Reconfigure::Socket(socket), .. }, Ok(_)) => Some(socket.clone()),
            (Job::Bird { how: Reconfigure::Command(argv), .. }, Ok(_)) => wake::socket_of(argv),
            _ => None,
        };
        waking = socket.map(|socket| Waking::start(&socket, Instant::now()));
        let report = JobReport { worker: index, result, duration: started.elapsed() };
        if reports.send(report).is_err() {
            return;
        }
    }
}

/// How long a wake-up waits for Bird's greeting.
const GREET_TIMEOUT: Duration = Duration::from_millis(500);

/// The wake-ups still owed to a Bird after a `configure` (see `wake`).
struct Waking {
    socket: PathBuf,
    configured_at: Instant,
    /// The wake-ups done.
    done: usize,
    next_at: Instant,
}

impl Waking {
    /// The wake-ups owed after a `configure` over `socket` that finished `now`. The
    /// first also asks which Bird it is.
    fn start(socket: &Path, now: Instant) -> Waking {
        let first = wake::wake_after(0).unwrap_or_default();
        Waking { socket: socket.to_path_buf(), configured_at: now, done: 0, next_at: now + first }
    }

    /// After a wake-up that Bird answered with `greeting` (None: it did not answer):
    /// the next one, if this Bird holds updates and one is left.
    fn after(mut self, greeting: Option<&str>) -> Option<Waking> {
        if !greeting.is_some_and(wake::holds_updates) {
            return None;
        }
        self.done += 1;
        self.next_at = self.configured_at + wake::wake_after(self.done)?;
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_old_bird_is_woken_on_schedule_and_others_once() {
        let t0 = Instant::now();
        let old = Some("0001 BIRD 2.0.12 ready.");
        let mut waking = Waking::start(Path::new("/run/bird/bird.ctl"), t0);
        let mut wake_ups = vec![waking.next_at - t0];
        while let Some(next) = waking.after(old) {
            wake_ups.push(next.next_at - t0);
            waking = next;
        }
        let expected: Vec<Duration> = (0..).map_while(wake::wake_after).collect();
        assert_eq!(wake_ups, expected);

        for greeting in [Some("0001 BIRD 2.17.1 ready."), Some("0001 BIRD 3.1.0 ready."), None] {
            let waking = Waking::start(Path::new("/run/bird/bird.ctl"), t0);
            assert!(waking.after(greeting).is_none(), "{greeting:?}");
        }
    }

    /// A fake Bird 2.0.12 on a control socket: answers `configure`, and counts the
    /// connections that only took the greeting.
    #[test]
    fn a_worker_wakes_an_old_bird_after_configuring_it() {
        use std::io::{BufRead, BufReader, Write};
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("bird.ctl");
        let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let (seen_tx, seen) = crossbeam_channel::unbounded();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let _ = stream.write_all(b"0001 BIRD 2.0.12 ready.\n");
                let mut command = String::new();
                let _ = BufReader::new(stream.try_clone().unwrap()).read_line(&mut command);
                if command.trim() == "configure" {
                    let _ = stream.write_all(b"0003 Reconfigured\n");
                }
                let _ = seen_tx.send(command.trim().to_string());
            }
        });
        let (reports_tx, reports) = crossbeam_channel::unbounded();
        let worker = ReconfigureWorker::start(0, "test-worker", reports_tx).unwrap();
        let how = Reconfigure::Socket(socket.clone());
        worker.send(Job::Bird { how, timeout: Duration::from_secs(5) });
        let report = reports.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(report.result, Ok(Accepted::Reconfigured));
        assert_eq!(seen.recv_timeout(Duration::from_secs(10)).unwrap(), "configure");
        for _ in 0..3 {
            assert_eq!(seen.recv_timeout(Duration::from_secs(10)).unwrap(), "", "a wake-up sends no command");
        }
        worker.stop();
    }
}
