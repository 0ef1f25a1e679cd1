//! The manager threads: each owns one worker process, takes jobs from the
//! pool's queue, sends them, waits for the answers and completes the
//! handles; sends quick jobs ahead so that its worker never waits for the
//! parent; and breaks the pool when its worker dies.

use std::collections::VecDeque;
use std::io::{self, BufReader, BufWriter, Write};
use std::os::unix::net::UnixStream;
use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use parking_lot::Mutex;

use super::children::{describe, exited, reap, reap_after_kill, retire, start_worker};
use super::job::{Job, PendingCalls};
use super::pool::PoolShared;
use super::protocol::{Outcome, holds_messages, read_message, request_head, write_message};
use crate::error::TaskError;

/// How often an idle manager looks at its process (`waitpid` without
/// blocking): a worker that dies while idle is noticed within this.
const WATCH_INTERVAL: Duration = Duration::from_millis(20);

/// How many jobs a worker may hold at once: the one it runs and the next
/// ones, sent ahead so that it never waits for the parent between small
/// tasks.
pub(super) const PIPELINE_DEPTH: usize = 8;

/// Jobs are sent ahead only to a worker whose last job took less than
/// this. A job sent ahead waits its turn in that worker even if another
/// worker frees up first, which costs nothing next to a round trip when
/// tasks are short, and would hold back parallel work when they are long.
pub(super) const PIPELINE_BELOW: Duration = Duration::from_millis(2);

/// A live worker process, seen from its manager.
pub(super) struct Worker {
    pub(super) input: BufReader<UnixStream>,
    pub(super) output: BufWriter<UnixStream>,
    /// Calls sent to this process since it started (for
    /// `max_tasks_per_child`).
    pub(super) calls_sent: usize,
    /// Jobs sent and not yet answered, oldest first: the worker answers in
    /// order.
    pub(super) in_flight: VecDeque<SentJob>,
    /// When the last answer came: the worker started its next job then.
    pub(super) last_answer: Instant,
    /// How long the last job took in the worker; `None` before the first.
    pub(super) last_job_time: Option<Duration>,
    /// The answers to the job being received, one frame after another,
    /// and where each ends (buffers kept from job to job).
    pub(super) answers: Vec<u8>,
    pub(super) answer_ends: Vec<usize>,
}

/// A job in a worker's hands: its calls, waiting for their outcomes.
pub(super) struct SentJob {
    calls: Box<dyn PendingCalls>,
    /// Which of the job's calls were sent (those not cancelled while
    /// queued), in order: the worker answers one frame for each.
    sent: Vec<usize>,
    sent_at: Instant,
}

impl SentJob {
    fn fail(mut self, error: &TaskError) {
        for &index in &self.sent {
            self.calls.complete(index, Err(error.clone()));
        }
    }
}

/// Answers beyond this size are not kept between jobs: one huge result
/// must not pin its memory for the life of the worker.
pub(super) const ANSWERS_KEPT: usize = 1 << 20;

impl Worker {
    /// Writes one request into the output buffer (sent at the next flush):
    /// `calls` are its call records, encoded already, and the request is
    /// written around them (the worker reads it as a `protocol::Request`).
    pub(super) fn send(&mut self, task: &str, calls: &[u8]) -> io::Result<()> {
        write_message(&mut self.output, &[&request_head(task), calls])
    }

    /// Sends what is buffered, then reads the `count` answers to one
    /// request.
    pub(super) fn read_answers(&mut self, count: usize) -> io::Result<()> {
        self.output.flush()?;
        if self.answers.capacity() > ANSWERS_KEPT {
            self.answers = Vec::new();
        }
        self.answers.clear();
        self.answer_ends.clear();
        for _ in 0..count {
            if !read_message(&mut self.input, &mut self.answers)? {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.answer_ends.push(self.answers.len());
        }
        Ok(())
    }

    /// Whether every answer to the oldest job in flight has arrived
    /// already (is in the input buffer): reading them will not wait.
    pub(super) fn oldest_answered(&self) -> bool {
        self.in_flight
            .front()
            .is_some_and(|job| holds_messages(self.input.buffer(), job.sent.len()))
    }

    /// The `index`th answer read by [`Worker::read_answers`].
    pub(super) fn answer(&self, index: usize) -> io::Result<Outcome<'_>> {
        let start = match index {
            0 => 0,
            _ => self.answer_ends[index - 1],
        };
        Outcome::parse(&self.answers[start..self.answer_ends[index]]).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "an answer that is not an outcome",
            )
        })
    }
}

/// One manager thread: owns one worker process at a time, sends it jobs
/// and completes their handles with the answers.
pub(super) fn manage(shared: &PoolShared, jobs: &Receiver<Job>) {
    let slot = Arc::new(Mutex::new(None::<Child>));
    shared.slots.lock().push(Arc::clone(&slot));
    let mut manager = Manager {
        shared,
        jobs,
        slot,
        worker: None,
    };
    manager.run();
    retire(manager.worker.take(), &manager.slot);
}

pub(super) struct Manager<'a> {
    shared: &'a PoolShared,
    jobs: &'a Receiver<Job>,
    slot: Arc<Mutex<Option<Child>>>,
    worker: Option<Worker>,
}

impl Manager<'_> {
    /// Until the pool shuts down and nothing is left in flight: send a job
    /// when the worker has none, send more ahead while they are quick and
    /// plenty, otherwise wait for the oldest answer.
    ///
    /// Answers that have arrived are taken before more jobs are sent, so
    /// that a read that brought several answers is followed by one write
    /// of as many new jobs: a system call each way per batch, not per job.
    fn run(&mut self) {
        loop {
            if self.in_flight() == 0 {
                match self.wait_for_job() {
                    Some(job) => self.dispatch(job),
                    // The queue is closed and empty: the pool is shutting down.
                    None => return,
                }
            } else if self.worker.as_ref().is_some_and(Worker::oldest_answered) {
                self.receive_oldest();
            } else if let Some(job) = self.job_to_send_ahead() {
                self.dispatch(job);
            } else {
                self.receive_oldest();
            }
        }
    }

    fn in_flight(&self) -> usize {
        self.worker
            .as_ref()
            .map_or(0, |worker| worker.in_flight.len())
    }

    /// The next job, waiting for one; `None` once the pool shuts down.
    /// While it waits, it watches the idle worker, so that one that dies
    /// between tasks (killed, out of memory) breaks the pool at once.
    fn wait_for_job(&mut self) -> Option<Job> {
        loop {
            if self.worker.is_none() {
                return self.jobs.recv().ok();
            }
            match self.jobs.recv_timeout(WATCH_INTERVAL) {
                Ok(job) => return Some(job),
                Err(RecvTimeoutError::Timeout) => {
                    if let Some(status) = exited(&self.slot) {
                        self.worker = None;
                        self.shared.break_pool(format!(
                            "a worker process {} while idle",
                            describe(status)
                        ));
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// A queued job to send before the worker is done with the ones it
    /// has, if that takes nothing from anyone: the worker's jobs are quick,
    /// it has room and tasks to spare under `max_tasks_per_child`, and more
    /// jobs are queued than there are managers, so that every other
    /// manager still finds one when it frees up.
    fn job_to_send_ahead(&self) -> Option<Job> {
        let worker = self.worker.as_ref()?;
        let quick = worker
            .last_job_time
            .is_some_and(|time| time < PIPELINE_BELOW);
        let room = worker.in_flight.len() < PIPELINE_DEPTH
            && !self.shared.retires_after(worker.calls_sent);
        let plenty = self.jobs.len() > self.shared.active.load(Ordering::Acquire);
        if quick && room && plenty {
            self.jobs.try_recv().ok()
        } else {
            None
        }
    }

    /// Sends a job to the worker, starting the worker first if there is
    /// none; a pool broken meanwhile fails it instead.
    fn dispatch(&mut self, job: Job) {
        if let Some(reason) = self.shared.broken.lock().clone() {
            job.fail(&TaskError::Broken(reason));
            return;
        }
        // Calls cancelled while queued are dropped here, never sent.
        let sent: Vec<usize> = (0..job.len())
            .filter(|&index| job.calls.start(index))
            .collect();
        if sent.is_empty() {
            return;
        }
        // Usually every call is sent, and the arguments go as they are.
        let some_args = (sent.len() < job.len()).then(|| {
            let mut args = Vec::new();
            for &index in &sent {
                args.extend_from_slice(job.record_of(index));
            }
            args
        });
        let Job {
            task, args, calls, ..
        } = job;
        let sent_job = SentJob {
            calls,
            sent,
            sent_at: Instant::now(),
        };
        if self.worker.is_none() {
            match start_worker(&self.shared.launch, &self.slot) {
                Ok(started) => self.worker = Some(started),
                Err(reason) => {
                    sent_job.fail(&self.shared.break_pool(reason.to_string()));
                    return;
                }
            }
        }
        let worker = self.worker.as_mut().expect("a worker was just started");
        let written = worker.send(task, some_args.as_deref().unwrap_or(&args));
        worker.calls_sent += sent_job.sent.len();
        worker.in_flight.push_back(sent_job);
        if let Err(error) = written {
            self.lose_worker(&error);
        }
    }

    /// Waits for the answers to the oldest job in flight and completes its
    /// handles.
    fn receive_oldest(&mut self) {
        let worker = self.worker.as_mut().expect("jobs in flight have a worker");
        let count = worker.in_flight.front().map_or(0, |job| job.sent.len());
        if let Err(error) = worker.read_answers(count) {
            return self.lose_worker(&error);
        }
        let mut job = worker.in_flight.pop_front().expect("a job was in flight");
        let now = Instant::now();
        worker.last_job_time = Some(now - job.sent_at.max(worker.last_answer));
        worker.last_answer = now;
        // Every answer is read before any is delivered: one that cannot be
        // read means the worker talks nonsense, and the whole job fails
        // with the pool.
        let outcomes: io::Result<Vec<Outcome<'_>>> =
            (0..count).map(|index| worker.answer(index)).collect();
        let outcomes = match outcomes {
            Ok(outcomes) => outcomes,
            Err(error) => {
                worker.in_flight.push_front(job);
                return self.lose_worker(&error);
            }
        };
        // Counted idle before anyone hears the results: a caller that
        // submits again the moment it has one must find this worker free,
        // not start another process.
        self.shared.idle.fetch_add(1, Ordering::AcqRel);
        for (&index, outcome) in job.sent.iter().zip(outcomes) {
            let outcome = match outcome {
                Outcome::Ok(bytes) => Ok(bytes),
                Outcome::Panicked(message) => Err(TaskError::Panicked(message)),
                Outcome::Failed(message) => Err(TaskError::Remote(message)),
            };
            job.calls.complete(index, outcome);
        }
        if worker.in_flight.is_empty() && self.shared.retires_after(worker.calls_sent) {
            retire(self.worker.take(), &self.slot);
        }
    }

    /// The worker is gone (or talks nonsense, or is past its deadline):
    /// find out how it ended, break the pool, as Python does, and fail
    /// every job it held.
    fn lose_worker(&mut self, error: &io::Error) {
        let Some(Worker { in_flight, .. }) = self.worker.take() else {
            return;
        };
        let reason = match error.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                let _ = reap_after_kill(&self.slot);
                format!(
                    "a worker process took longer than {:?} over one task (stuck, or stopped) and was killed",
                    self.shared.launch.task_deadline.unwrap_or_default()
                )
            }
            // Alive, but not speaking our protocol: it will not end by itself.
            io::ErrorKind::InvalidData => {
                let _ = reap_after_kill(&self.slot);
                format!(
                    "a worker process sent an answer that cannot be read ({error}) and was killed"
                )
            }
            _ => match reap(&self.slot) {
                Some(status) => format!("a worker process {}", describe(status)),
                None => "a worker process stopped answering".to_owned(),
            },
        };
        let error = self.shared.break_pool(reason);
        for job in in_flight {
            job.fail(&error);
        }
    }
}

impl PoolShared {
    /// Whether a worker that was sent `calls_sent` calls is done
    /// (`max_tasks_per_child`).
    fn retires_after(&self, calls_sent: usize) -> bool {
        self.launch
            .max_tasks_per_child
            .is_some_and(|limit| calls_sent >= limit.get())
    }

    /// Marks the pool broken (the first reason wins), kills every worker,
    /// and fails everything still queued. Returns the error to report.
    fn break_pool(&self, reason: String) -> TaskError {
        let reason = {
            let mut broken = self.broken.lock();
            broken.get_or_insert(reason).clone()
        };
        for slot in self.slots.lock().iter() {
            if let Some(child) = slot.lock().as_mut() {
                // Its manager, reading from it, sees the end and reaps it.
                let _ = child.kill();
            }
        }
        let error = TaskError::Broken(reason);
        while let Ok(job) = self.jobs.try_recv() {
            job.fail(&error);
        }
        error
    }
}
