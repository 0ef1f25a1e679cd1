//! [`RedisExecutor`]: the library's [`Executor`] over Redis Streams, so
//! that code written for a thread or process pool runs on many machines
//! by changing the line that builds the executor.
//!
//! ```text
//! your program (producer)            NAME            worker, worker, ... (any machine:
//!   submit -> handle   --tickets-->  stream  -->     the same program, in worker mode)
//!   handle <- answer   <--answers--  NAME:answers <--
//! ```
//!
//! Tasks are the functions the process pool runs ([`concurrent::remote_fn!`]),
//! found by name in the worker, which is the user's own program started in
//! worker mode ([`serve_if_worker`], or [`serve`]). Arguments and results
//! cross in the process pool's exact codec. Handles are the library's
//! [`TaskHandle`]s: `as_completed`, `wait`, `map`, callbacks and `.await`
//! work unchanged, and mix with thread and process handles.
//!
//! The guarantees are [`RedisExecutor`]'s documentation; `producer` is
//! the executor's side, `tasks` the worker's side ([`TaskQueue`]),
//! `worker` the worker mode built on it, `wire` what crosses.

mod producer;
mod tasks;
mod wire;
mod worker;

use std::sync::Arc;
use std::time::Duration;

use concurrent::{Executor, RemoteTask, Shutdown, TaskError, TaskHandle, codec};
use parking_lot::Mutex;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{JobSettings, QueueAddress, QueueError, QueueOptions};
use producer::{Producer, Slot};

pub use tasks::{Answered, Assignment, BatchSize, TaskQueue};
pub use worker::{WORKER_ENV, WorkerReport, serve, serve_if_worker, serve_until};

/// An executor whose workers are processes anywhere that reach one Redis:
/// tickets go to the stream `NAME`, answers come back on `NAME:answers`
/// (each a [`RedisQueue`](crate::RedisQueue), with its keys), live
/// workers are on the roll `NAME:workers` (a sorted set of when each
/// one's presence lapses) and `NAME:slots` (a hash of how many tasks each
/// runs at once), and workers are the program itself started in worker
/// mode ([`serve_if_worker`]).
///
/// # What carries over from CPython, and what does not
///
/// - **Cancel**: a task waits in this process until a worker has room for
///   it (the window: twice the live workers' slots while tasks take 2 ms
///   or more, 64 times while they are quicker), and only then goes to
///   Redis and is marked running, as CPython's process pool marks a task
///   running when it moves it to its call queue. `cancel()` before that
///   succeeds and the task never runs; after it, `cancel()` is `false`.
/// - **No worker alive**: tasks wait, cancellable, and a log line says so
///   after 10 s; [`RedisExecutor::live_workers`] counts them.
/// - **A worker that dies** holding a task (killed, cut off) stops renewing
///   its lease, and another worker runs the task about one lease later:
///   **at least once**. The first answer is the handle's; a second one
///   (from a worker that was only slow) is dropped. A task that kills every
///   worker that takes it fails its handle after
///   [`JobSettings::max_deliveries`](crate::JobSettings) deliveries.
/// - **Only this job's answers**: each ticket carries a token made when
///   the executor connects, and its answer carries it back; an answer
///   without it (left from an earlier job of the same name, or added by
///   hand) is dropped, and a log line at the end counts them.
/// - **A failing or panicking task** fails its own handle only.
/// - **A per-task deadline** ([`RedisExecutorBuilder::task_deadline`]): a
///   task without an answer that long after it was sent fails its handle
///   (it may still run on a worker; its late answer is dropped).
/// - **`shutdown(wait, cancel_futures)`** as CPython's: no new tasks;
///   `cancel_futures` cancels those not yet sent; `wait` returns once
///   every task sent has its answer. Then the workers are told to stop,
///   and the streams are deleted.
/// - **Redis lost everything** (a restart without persistence): the
///   executor finds its queues gone, puts them back, and sends every task
///   without an answer again. **Redis unreachable** for longer than
///   [`QueueOptions::reconnect_for`](crate::QueueOptions): every task
///   without an answer fails with [`TaskError::Broken`] naming Redis, and
///   so does every later `submit`; nothing waits forever.
///
/// # Examples
///
/// ```no_run
/// use concurrent::{Executor, remote_fn};
/// use redis_queue::RedisExecutor;
///
/// remote_fn! {
///     fn square(x: u64) -> u64 {
///         x * x
///     }
/// }
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     // In a worker (started with CONCURRENT_REDIS_WORKER=redis://HOST:PORT/NAME),
///     // this serves tasks until the executor shuts down, then exits.
///     redis_queue::serve_if_worker();
///     let ex = RedisExecutor::connect(&"redis://127.0.0.1:6379/squares".parse()?)?;
///     let squares: Vec<u64> = ex.map(square, (1..=3u64).map(|n| (n,))).collect::<Result<_, _>>()?;
///     assert_eq!(squares, [1, 4, 9]);
///     Ok(())
/// }
/// ```
pub struct RedisExecutor {
    producer: Arc<Producer>,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

/// How a [`RedisExecutor`] is built: its lease and retry settings.
#[derive(Debug, Clone)]
pub struct RedisExecutorBuilder {
    settings: JobSettings,
    options: QueueOptions,
    fixed_ahead: Option<usize>,
    deadline: Option<Duration>,
    no_worker_hint: Option<String>,
}

impl RedisExecutorBuilder {
    /// How long a worker may go silent before its tasks go to others
    /// (a minute unless set).
    pub fn lease(mut self, lease: Duration) -> RedisExecutorBuilder {
        self.settings.lease = lease;
        self
    }

    /// How long to keep retrying when Redis cannot be reached before the
    /// executor is broken (five minutes unless set).
    pub fn reconnect_for(mut self, reconnect_for: Duration) -> RedisExecutorBuilder {
        self.options.reconnect_for = reconnect_for;
        self
    }

    /// How many tasks go to Redis per live worker slot. Unless set, it
    /// follows the tasks: 2 while they take 2 ms or more (most waiting
    /// tasks stay cancellable), 64 while they are quicker (a worker is
    /// never starved by the round trips). More keeps workers fed; fewer
    /// keeps more tasks cancellable.
    pub fn tasks_ahead_per_slot(mut self, tasks: usize) -> RedisExecutorBuilder {
        self.fixed_ahead = Some(tasks.max(1));
        self
    }

    /// How long a task may go, from when it is sent to Redis, without an
    /// answer: past it, its handle fails with [`TaskError::Remote`]
    /// saying so (no deadline unless set). A worker cannot be stopped
    /// from here, so the task may still run; its late answer is dropped.
    /// Checked four times a second.
    pub fn task_deadline(mut self, deadline: Duration) -> RedisExecutorBuilder {
        self.deadline = Some(deadline);
        self
    }

    /// How to start a worker, as the log line says it when tasks wait
    /// and no worker is alive (unless set: the program itself in worker
    /// mode, with [`WORKER_ENV`]). For programs whose workers are another
    /// program, as `crypto_db worker` is for `crypto_db fetch`.
    pub fn no_worker_hint(mut self, hint: impl Into<String>) -> RedisExecutorBuilder {
        self.no_worker_hint = Some(hint.into());
        self
    }

    /// Starts the job on `address` as its one producer.
    ///
    /// # Errors
    ///
    /// [`QueueError::Held`] when another executor runs on that name,
    /// [`QueueError::Redis`] when Redis cannot be reached.
    pub fn connect(self, address: &QueueAddress) -> Result<RedisExecutor, QueueError> {
        let producer = Arc::new(Producer::start(
            address,
            self.settings,
            self.options,
            self.fixed_ahead,
            self.deadline,
            self.no_worker_hint,
        )?);
        let threads = producer::spawn_threads(&producer)?;
        Ok(RedisExecutor {
            producer,
            threads: Mutex::new(threads),
        })
    }
}

impl RedisExecutor {
    /// An executor on `address` (`redis://HOST:PORT/NAME`) with the
    /// default settings.
    ///
    /// # Errors
    ///
    /// As [`RedisExecutorBuilder::connect`].
    pub fn connect(address: &QueueAddress) -> Result<RedisExecutor, QueueError> {
        RedisExecutor::builder().connect(address)
    }

    /// Settings before connecting.
    pub fn builder() -> RedisExecutorBuilder {
        RedisExecutorBuilder {
            settings: JobSettings::default(),
            options: QueueOptions::default(),
            fixed_ahead: None,
            deadline: None,
            no_worker_hint: None,
        }
    }

    /// How many workers are alive on this executor's queue now (each
    /// renews its presence every third of a lease, at least once a second).
    ///
    /// # Errors
    ///
    /// [`QueueError::Redis`] when Redis cannot be reached.
    pub fn live_workers(&self) -> Result<usize, QueueError> {
        self.producer.live_workers().map(|(workers, _)| workers)
    }

    /// The executor's queue.
    pub fn address(&self) -> &QueueAddress {
        self.producer.address()
    }
}

impl Shutdown for RedisExecutor {
    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        self.producer.shut_down(cancel_futures);
        if wait {
            for thread in self.threads.lock().drain(..) {
                let _ = thread.join();
            }
        }
    }

    /// The live workers' slots: how many tasks run at once now.
    fn max_workers(&self) -> usize {
        self.producer.slots()
    }
}

impl<F, Args> Executor<F, Args> for RedisExecutor
where
    F: RemoteTask<Args>,
    Args: Serialize,
    F::Output: DeserializeOwned + Send + 'static,
{
    type Output = F::Output;

    fn submit(&self, _task: F, args: Args) -> Result<TaskHandle<F::Output>, TaskError> {
        let args = codec::encode(&args)
            .map_err(|error| TaskError::Remote(format!("cannot write the arguments: {error}")))?;
        let handle = TaskHandle::pending();
        let slot: Box<dyn Slot> = Box::new(producer::Typed(handle.clone_for_worker()));
        self.producer.submit(F::NAME, args, slot)?;
        Ok(handle)
    }
}

impl Drop for RedisExecutor {
    fn drop(&mut self) {
        self.shutdown(true, false);
    }
}

impl std::fmt::Debug for RedisExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisExecutor")
            .field("address", &self.producer.address().to_string())
            .finish()
    }
}
