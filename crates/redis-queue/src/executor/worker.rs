//! The worker's side: the user's own program, started in worker mode,
//! takes tickets from the queue, runs their `remote_fn!` on N threads, and
//! sends each answer back; it stays on the roll of live workers while it
//! runs, and stops when the executor shuts the job down.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use super::tasks::{Answered, Assignment, BatchSize, TaskQueue};
use super::wire::{Roll, now_ms};
use crate::connections::Connections;
use crate::{QueueAddress, QueueError, QueueOptions};

/// The environment variable that starts a program as a worker: the queue
/// to serve, `redis://HOST:PORT/NAME`. `CONCURRENT_REDIS_WORKER_THREADS`
/// sets how many tasks it runs at once (the CPUs it has, unless set).
pub const WORKER_ENV: &str = "CONCURRENT_REDIS_WORKER";

/// What a worker did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WorkerReport {
    /// Tasks run and answered (with a result or a failure).
    pub answered: usize,
    /// Of those, answered with a failure (a panic, an unknown function).
    pub failed: usize,
}

/// When the program was started as a worker ([`WORKER_ENV`] is set),
/// serves the queue until its executor shuts it down, then exits the
/// process (status 0; 1 with a line on stderr when Redis cannot be
/// reached). Otherwise returns at once. Call it first thing in `main`.
///
/// SIGTERM or Ctrl-C stops the worker gracefully: it takes no more tasks,
/// finishes and answers those it holds, leaves the roll and exits 0, so
/// the tasks it had not taken go to other workers at once rather than a
/// lease later. A second signal exits at once (status 1).
pub fn serve_if_worker() {
    let Ok(given) = std::env::var(WORKER_ENV) else {
        return;
    };
    let code = match given.parse::<QueueAddress>() {
        // The error names the address itself, its password hidden.
        Err(error) => say_failed("worker", &error),
        Ok(address) => match run_from_env(&address) {
            Ok(report) => {
                tracing::info!(
                    "worker on {address}: {} tasks answered, {} failed",
                    report.answered,
                    report.failed
                );
                0
            }
            Err(error) => say_failed(&format!("worker on {address}"), &*error),
        },
    };
    std::process::exit(code);
}

/// Says on one line what failed and why (each cause once: some errors
/// print their cause in their own text too); the exit status, 1.
fn say_failed(what: &str, error: &dyn std::error::Error) -> i32 {
    let mut line = format!("{what}: {error}");
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !line.ends_with(&text) {
            line.push_str(&format!(": {text}"));
        }
        source = cause.source();
    }
    eprintln!("{line}");
    1
}

fn run_from_env(address: &QueueAddress) -> Result<WorkerReport, Box<dyn std::error::Error>> {
    let threads = match std::env::var("CONCURRENT_REDIS_WORKER_THREADS") {
        Ok(text) => text.parse::<usize>().map_err(|error| {
            format!("CONCURRENT_REDIS_WORKER_THREADS={text:?} is not a number: {error}")
        })?,
        Err(_) => std::thread::available_parallelism().map_or(1, usize::from),
    };
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        // The first signal sets `stop`; one that finds it set exits.
        signal_hook::flag::register_conditional_shutdown(signal, 1, Arc::clone(&stop))?;
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    Ok(serve_until(
        address,
        threads.max(1),
        QueueOptions::default(),
        &stop,
    )?)
}

/// Serves the executor's queue at `address` with `threads` tasks at a
/// time, until the executor shuts it down.
///
/// # Errors
///
/// [`QueueError::Redis`] when Redis cannot be reached (at once if it never
/// was, after `options.reconnect_for` in an outage).
pub fn serve(
    address: &QueueAddress,
    threads: usize,
    options: QueueOptions,
) -> Result<WorkerReport, QueueError> {
    serve_until(address, threads, options, &AtomicBool::new(false))
}

/// [`serve`], until the executor shuts the queue down or `stop` is set:
/// then no more tasks are taken, the ones held are finished and answered,
/// and the worker leaves the roll (within a second). Set while Redis
/// cannot be reached, `stop` ends the wait for it: what could not be
/// answered runs elsewhere once its lease lapses.
///
/// # Errors
///
/// As [`serve`].
pub fn serve_until(
    address: &QueueAddress,
    threads: usize,
    options: QueueOptions,
    stop: &AtomicBool,
) -> Result<WorkerReport, QueueError> {
    let queue = TaskQueue::join(address, options, threads)?;
    let (answered, failed) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let running = AtomicBool::new(true);
    let outcome = std::thread::scope(|scope| {
        // Asked to stop while Redis is away: the held tasks' answers
        // cannot be sent, and waiting out the outage (minutes) is not a
        // stop. Their lease lapses and other workers run them.
        scope.spawn(|| {
            while running.load(Ordering::Relaxed) {
                if stop.load(Ordering::Relaxed) {
                    queue.stop_waiting();
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let runners: Vec<_> = (0..threads.max(1))
            .map(|_| scope.spawn(|| run_tasks(&queue, &answered, &failed, stop)))
            .collect();
        let mut outcome = Ok(());
        for runner in runners {
            if let Ok(Err(error)) = runner.join() {
                outcome = Err(error);
            }
        }
        running.store(false, Ordering::Relaxed);
        outcome
    });
    // Off the roll at once, rather than a lease later.
    drop(queue);
    outcome.map(|()| WorkerReport {
        answered: answered.load(Ordering::Relaxed),
        failed: failed.load(Ordering::Relaxed),
    })
}

/// How long a thread waits for a task before looking again (for the
/// shutdown, and for tasks to take over).
const WAIT: Duration = Duration::from_secs(1);

/// One thread of a worker, until the queue is shut down or `stop` is
/// set: takes a batch (one task, or more while they are quick), runs it,
/// and answers it ([`TaskQueue::answer`]: two round trips a batch).
fn run_tasks(
    queue: &TaskQueue,
    answered: &AtomicUsize,
    failed: &AtomicUsize,
    stop: &AtomicBool,
) -> Result<(), QueueError> {
    let mut batch = BatchSize::default();
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let taken = match queue.take(batch.get(), WAIT) {
            Ok(taken) => taken,
            Err(QueueError::Empty) => continue,
            Err(QueueError::ShutDown | QueueError::Gone) => return Ok(()),
            Err(error) => return Err(error),
        };
        let count = taken.len();
        let started = std::time::Instant::now();
        let outcomes: Vec<Answered> = taken.into_iter().map(Assignment::run).collect();
        batch.ran(count, started.elapsed());
        let failures = outcomes.iter().filter(|done| done.outcome.is_err()).count();
        queue.answer(outcomes)?;
        answered.fetch_add(count, Ordering::Relaxed);
        failed.fetch_add(failures, Ordering::Relaxed);
    }
}

/// A worker's entry on the roll of live workers, renewed every third of
/// a lease (at least once a second) by a thread of its own until it is dropped (which takes it off
/// the roll at once).
pub(super) struct Presence {
    stop: Arc<AtomicBool>,
    connections: Arc<Connections>,
    renewer: Option<std::thread::JoinHandle<()>>,
}

impl Presence {
    pub(super) fn join(
        address: &QueueAddress,
        options: QueueOptions,
        name: &str,
        threads: usize,
        lease: Duration,
    ) -> Result<Presence, QueueError> {
        let connections = Arc::new(Connections::new(
            address,
            options.poll,
            options.reconnect_for,
        )?);
        let roll = Roll::of(address);
        let name = name.to_owned();
        let lease_ms = lease.as_millis() as u64;
        let renew = move |connections: &Connections, leaving: bool| {
            connections.run("renew the worker's presence", |connection| {
                let mut pipe = redis::pipe();
                if leaving {
                    // Off the roll at once, rather than a lease later.
                    pipe.zrem(&roll.lapses, &name).hdel(&roll.slots, &name);
                } else {
                    pipe.zadd(&roll.lapses, &name, now_ms() + lease_ms).hset(
                        &roll.slots,
                        &name,
                        threads,
                    );
                }
                pipe.query::<()>(connection)
            })
        };
        renew(&connections, false)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let renewing = Arc::clone(&connections);
        // Every third of a lease, and at least once a second: a Redis that
        // restarted empty has the roll back within a second, and with it
        // the executor's window.
        let renew_every = (lease / 3).min(Duration::from_secs(1));
        let renewer = std::thread::spawn(move || {
            let step = Duration::from_millis(50);
            let mut slept = Duration::ZERO;
            while !stopping.load(Ordering::Relaxed) {
                std::thread::sleep(step);
                slept += step;
                if slept >= renew_every {
                    slept = Duration::ZERO;
                    if let Err(error) = renew(&renewing, false) {
                        tracing::warn!("cannot renew this worker's presence: {error}");
                    }
                }
            }
            let _ = renew(&renewing, true);
        });
        Ok(Presence {
            stop,
            connections,
            renewer: Some(renewer),
        })
    }

    /// From now on the roll's calls fail at once when Redis cannot be
    /// reached (a worker asked to stop in an outage; its entry lapses).
    pub(super) fn stop_waiting(&self) {
        self.connections.stop_retrying();
    }
}

impl Drop for Presence {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(renewer) = self.renewer.take() {
            let _ = renewer.join();
        }
    }
}
