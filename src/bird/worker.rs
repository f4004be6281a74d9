//! A reconfigure worker: one thread per thing the writer tells Bird through (a Bird
//! daemon's command or control socket, or a service's custom command), running one job
//! at a time and reporting back to the writer.
//!
//! Why threads: a reconfigure can hang until its timeout. Run inline, a hung IPv4 Bird
//! would hold back the IPv6 one behind it. With a worker per target, each target keeps
//! its own pace and retries, and because a worker runs its jobs one after another and
//! the writer sends a job only when the last one has reported, no Bird ever gets two
//! `configure`s at once (Bird 3.3.2 aborts on overlapping configures).

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use crossbeam_channel::{Receiver, Sender};

use super::reconfigure::{self, Accepted};
use crate::argv::Argv;
use crate::config::Reconfigure;

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
pub(crate) struct Report {
    pub worker: usize,
    pub result: Result<Accepted, String>,
    pub duration: Duration,
}

/// A running worker; dropping it lets the thread end after its current job.
pub(crate) struct Worker {
    jobs: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    /// Starts worker number `index`, which reports to `reports`.
    pub(crate) fn start(index: usize, name: &str, reports: Sender<Report>) -> Result<Worker> {
        let (jobs, queue) = crossbeam_channel::unbounded();
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .stack_size(STACK_SIZE)
            .spawn(move || run(index, &queue, &reports))
            .with_context(|| format!("failed to start the {name} thread"))?;
        Ok(Worker { jobs: Some(jobs), thread: Some(thread) })
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

fn run(index: usize, queue: &Receiver<Job>, reports: &Sender<Report>) {
    for job in queue {
        let started = Instant::now();
        let result = match &job {
            Job::Bird { how, timeout } => reconfigure::reconfigure_bird(how, *timeout),
            Job::Custom { argv, direction, timeout } => {
                reconfigure::run_custom_command(argv, direction, *timeout).map(|()| Accepted::Reconfigured)
            }
        };
        let report = Report { worker: index, result, duration: started.elapsed() };
        if reports.send(report).is_err() {
            return;
        }
    }
}
