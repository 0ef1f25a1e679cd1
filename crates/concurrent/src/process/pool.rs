//! The parent's side of the process pool: [`ProcessPoolExecutor`], the
//! surface; `builder.rs` its options; `job.rs` a message of calls and
//! their handles; `manager.rs` the thread that owns each worker process;
//! `children.rs` starting, retiring and reaping the processes.
//!
//! Each worker process has a manager thread that owns it: the manager
//! takes a job from the pool's queue, sends it to its worker, waits for the
//! answer and completes the handles.
//!
//! A round trip to another process costs far more than a small task, so a
//! manager keeps its worker fed: while its jobs are quick (under
//! `PIPELINE_BELOW`) and more are queued than there are managers to take
//! them, it sends up to `PIPELINE_DEPTH` jobs ahead, and the worker finds
//! the next request already waiting when it finishes one. Long jobs go one
//! at a time, and a job is sent ahead only when every other manager still
//! finds one in the queue, so that work is not held back in one busy
//! process while another could run it. (Python's pool, likewise, moves up
//! to `max_workers + 1` calls ahead into the queue its workers read; those
//! calls, like ours sent ahead, can no longer be cancelled.)
//!
//! Processes start as CPython's do: a `submit` that finds no idle worker
//! wakes one more manager (up to `max_workers`), which starts its process;
//! a `submit` that finds one idle starts nothing, so sequential tasks run
//! in one process. While idle, a manager watches its process, so one that
//! dies between tasks (killed, out of memory) breaks the pool at once and
//! is reaped, instead of failing the next, unrelated task.
//!
//! When a worker dies (killed, aborted, out of memory), the pool is broken,
//! as Python's `BrokenProcessPool`: the dead worker's tasks, every task
//! still queued and every task running in the other workers fail with
//! [`TaskError::Broken`]; the other workers are killed and every process is
//! reaped (waited for), so nothing hangs and no zombie is left.

use std::ffi::OsString;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::builder::ProcessPoolBuilder;
use super::job::{Job, JobBuilder};
use super::manager::manage;
use super::protocol::{CHUNK, cannot};
use super::{RemoteTask, WORKER_TEST_NAME};
use crate::codec;
use crate::error::TaskError;
use crate::executor::{Executor, Map, Shutdown};
use crate::handle::TaskHandle;

/// A pool of worker processes running [`RemoteTask`]s (Python's
/// `ProcessPoolExecutor`), behind the same [`Executor`] interface as the
/// thread pool. See [`serve_if_worker`](crate::serve_if_worker) for how
/// workers start.
///
/// # Examples
///
/// ```no_run
/// use concurrent::{ProcessPoolExecutor, remote_fn};
///
/// remote_fn! {
///     fn check_price(exchange: String, symbol: String, date: String) -> String {
///         format!("{exchange}/{symbol}/{date}")
///     }
/// }
///
/// fn main() {
///     concurrent::serve_if_worker();
///     let ex = ProcessPoolExecutor::new(10);
///     let future = ex.submit(check_price, ("bitstamp".into(), "btc".into(), "2020-04-01".into())).unwrap();
///     println!("{}", future.result().unwrap());
/// }
/// ```
pub struct ProcessPoolExecutor {
    max_workers: usize,
    /// `None` once shut down: dropping it lets the managers run dry.
    jobs: Mutex<Option<Sender<Job>>>,
    /// Wakes one dormant manager to start a process; `None` once shut down
    /// (dropping it ends the dormant managers).
    spawns: Mutex<Option<Sender<()>>>,
    /// How many manager threads exist (normally `max_workers`).
    manager_count: usize,
    shared: Arc<PoolShared>,
    managers: Mutex<Vec<JoinHandle<()>>>,
}

/// What the managers share.
pub(super) struct PoolShared {
    /// Why the pool is broken, once it is.
    pub(super) broken: Mutex<Option<String>>,
    /// Each manager's current worker process, so that a broken pool can
    /// kill them all from any thread.
    pub(super) slots: Mutex<Vec<Arc<Mutex<Option<Child>>>>>,
    /// The queue's receiving end, to fail or cancel what is still queued.
    pub(super) jobs: Receiver<Job>,
    pub(super) launch: Launch,
    /// Jobs finished and not yet matched by a `submit`: a `submit` that
    /// takes one knows a worker is (or is about to be) free and starts no
    /// process (CPython's `_idle_worker_semaphore`).
    pub(super) idle: AtomicUsize,
    /// Managers woken to run a process (never more than `max_workers`).
    pub(super) active: AtomicUsize,
}

/// How to start and prepare a worker.
#[derive(Clone)]
pub(super) struct Launch {
    pub(super) program: PathBuf,
    pub(super) args: Vec<OsString>,
    pub(super) max_tasks_per_child: Option<NonZeroUsize>,
    /// The longest a worker may take over one call before it is taken for
    /// stuck (or stopped) and killed.
    pub(super) task_deadline: Option<Duration>,
    /// A task run once in each new worker: its name and the record of
    /// its arguments.
    pub(super) initializer: Option<(&'static str, Vec<u8>)>,
}

impl ProcessPoolExecutor {
    /// A pool of `max_workers` whose workers start as `launch` says, lazily,
    /// as tasks arrive ([`ProcessPoolBuilder::build`]).
    pub(super) fn start(max_workers: usize, launch: Launch) -> ProcessPoolExecutor {
        let (sender, receiver) = crossbeam_channel::unbounded();
        let (spawns, spawn_requests) = crossbeam_channel::unbounded();
        let shared = Arc::new(PoolShared {
            broken: Mutex::new(None),
            slots: Mutex::new(Vec::new()),
            jobs: receiver.clone(),
            launch,
            idle: AtomicUsize::new(0),
            active: AtomicUsize::new(0),
        });
        // Manager threads are cheap and sleep until a submit needs them;
        // their processes start then.
        let managers: Vec<_> = (0..max_workers)
            .filter_map(|index| {
                let (shared, jobs) = (Arc::clone(&shared), receiver.clone());
                let spawn_requests = spawn_requests.clone();
                std::thread::Builder::new()
                    .name(format!("process-pool-{index}"))
                    .spawn(move || {
                        // Dormant until woken; gone if the pool shuts down first.
                        if spawn_requests.recv().is_ok() {
                            manage(&shared, &jobs);
                        }
                    })
                    .ok()
            })
            .collect();
        ProcessPoolExecutor {
            max_workers,
            jobs: Mutex::new(Some(sender)),
            spawns: Mutex::new(Some(spawns)),
            manager_count: managers.len(),
            shared,
            managers: Mutex::new(managers),
        }
    }

    /// A pool of at most `max_workers` processes.
    ///
    /// # Panics
    ///
    /// Panics if `max_workers` is 0, as CPython raises `ValueError`.
    pub fn new(max_workers: usize) -> ProcessPoolExecutor {
        ProcessPoolExecutor::builder()
            .max_workers(max_workers)
            .build()
    }

    /// Options beyond the size; by default as many workers as CPUs, and
    /// workers started by re-running this executable.
    pub fn builder() -> ProcessPoolBuilder {
        let program = std::env::current_exe()
            .unwrap_or_else(|_| PathBuf::from(std::env::args_os().next().unwrap_or_default()));
        ProcessPoolBuilder {
            max_workers: std::thread::available_parallelism().map_or(1, usize::from),
            launch: Launch {
                program,
                // Ignored by a program that calls serve_if_worker() first;
                // in a test binary, they make the test harness run only the
                // entry point that process_worker_entry!() defines.
                args: [
                    WORKER_TEST_NAME,
                    "--exact",
                    "--ignored",
                    "--nocapture",
                    "--test-threads",
                    "1",
                ]
                .into_iter()
                .map(OsString::from)
                .collect(),
                max_tasks_per_child: None,
                task_deadline: None,
                initializer: None,
            },
        }
    }

    /// Schedules `task(args...)` in a worker process (Python's `submit`).
    ///
    /// # Errors
    ///
    /// [`TaskError::ShutDown`] after shutdown, [`TaskError::Broken`] once a
    /// worker has died, [`TaskError::Remote`] if the arguments
    /// cannot be serialised.
    pub fn submit<F, Args>(&self, task: F, args: Args) -> Result<TaskHandle<F::Output>, TaskError>
    where
        F: RemoteTask<Args>,
        Args: Serialize,
        F::Output: DeserializeOwned + Send + 'static,
    {
        self.submit_batch(task, vec![args])
            .pop()
            .expect("one handle per call")
    }

    /// Runs `task` on every item like [`Executor::map`], sending `chunksize`
    /// calls per message (Python's `chunksize`): for small tasks, the
    /// message round trip, not the work, is what costs.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # concurrent::remote_fn! { fn square(x: u64) -> u64 { x * x } }
    /// let ex = concurrent::ProcessPoolExecutor::new(2);
    /// let total: u64 = ex.map_chunked(square, (0..10_000u64).map(|n| (n,)), 500).map(Result::unwrap).sum();
    /// ```
    pub fn map_chunked<'i, F, Args, I>(
        &self,
        task: F,
        items: I,
        chunksize: usize,
    ) -> Map<'i, Args, F::Output>
    where
        F: RemoteTask<Args>,
        Args: Serialize + 'i,
        F::Output: DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = Args>,
    {
        // Every chunk is submitted now, as Python's map does.
        let chunksize = chunksize.max(1);
        let mut items = items.into_iter();
        let mut handles = Vec::new();
        loop {
            let chunk: Vec<Args> = items.by_ref().take(chunksize).collect();
            if chunk.is_empty() {
                break;
            }
            handles.extend(self.submit_batch(task, chunk));
        }
        Map::from_handles(handles)
    }

    fn submit_batch<F, Args>(
        &self,
        task: F,
        batch: Vec<Args>,
    ) -> Vec<Result<TaskHandle<F::Output>, TaskError>>
    where
        F: RemoteTask<Args>,
        Args: Serialize,
        F::Output: DeserializeOwned + Send + 'static,
    {
        // Only the marker's type is sent (`F::NAME`), as in `initializer`.
        let _ = task;
        let mut handles = Vec::with_capacity(batch.len());
        // Calls are grouped into jobs that each fit in one frame.
        let mut job = JobBuilder::new();
        let mut job_start = 0;
        let mut encoded = Vec::new();
        for args in batch {
            encoded.clear();
            if let Err(error) = codec::encode_into(&args, &mut encoded) {
                handles.push(Err(TaskError::Remote(cannot(
                    "send",
                    "the arguments",
                    &error,
                ))));
                continue;
            }
            // Encoded, the arguments are not needed twice over.
            drop(args);
            if !job.fits(encoded.len()) {
                self.send_or_fail(job.take(F::NAME), &mut handles[job_start..]);
                job_start = handles.len();
            }
            handles.push(Ok(job.push(&encoded)));
            if encoded.capacity() > CHUNK {
                encoded = Vec::new();
            }
        }
        if !job.ends.is_empty() {
            self.send_or_fail(job.take(F::NAME), &mut handles[job_start..]);
        }
        handles
    }

    /// Queues one job; if the pool cannot take it, the handles of its
    /// calls (among `handles`, whose errors stay as they are) become the
    /// reason.
    fn send_or_fail<T>(&self, job: Job, handles: &mut [Result<TaskHandle<T>, TaskError>]) {
        if let Err(error) = self.send(job) {
            for handle in handles.iter_mut().filter(|handle| handle.is_ok()) {
                *handle = Err(error.clone());
            }
        }
    }

    fn send(&self, job: Job) -> Result<(), TaskError> {
        if let Some(reason) = self.shared.broken.lock().clone() {
            return Err(TaskError::Broken(reason));
        }
        let jobs = self.jobs.lock();
        let sender = jobs.as_ref().ok_or(TaskError::ShutDown)?;
        // Before the job is queued: a busy manager deciding whether to
        // send it ahead to its worker counts the manager woken for it.
        self.adjust_process_count();
        sender.send(job).map_err(|_| TaskError::ShutDown)?;
        Ok(())
    }

    /// As a job is queued: wake one more manager (and so start one more
    /// process) unless a worker is idle or every manager is awake.
    fn adjust_process_count(&self) {
        let shared = &*self.shared;
        if crate::take_idle_worker(&shared.idle) {
            return;
        }
        let woke = shared
            .active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |active| {
                (active < self.manager_count).then_some(active + 1)
            })
            .is_ok();
        if woke && let Some(spawns) = self.spawns.lock().as_ref() {
            let _ = spawns.send(());
        }
    }

    /// Why the pool is broken, if it is.
    pub fn broken(&self) -> Option<String> {
        self.shared.broken.lock().clone()
    }

    /// Shuts the pool down at once and sends SIGTERM to every worker
    /// process alive (Python 3.14's `terminate_workers()`): queued tasks
    /// are cancelled, and the tasks running on those workers fail with
    /// [`TaskError::Broken`], naming the signal. Submit nothing after.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use concurrent::{ProcessPoolExecutor, TaskError, remote_fn};
    ///
    /// remote_fn! {
    ///     fn forever() -> () {
    ///         loop { std::thread::park(); }
    ///     }
    /// }
    ///
    /// let ex = ProcessPoolExecutor::new(1);
    /// let stuck = ex.submit(forever, ()).unwrap();
    /// ex.terminate_workers();
    /// assert!(matches!(stuck.result(), Err(TaskError::Broken(_))));
    /// ```
    pub fn terminate_workers(&self) {
        self.force_shutdown(rustix::process::Signal::TERM);
    }

    /// [`terminate_workers`](Self::terminate_workers) with SIGKILL, which
    /// a worker cannot catch or ignore (Python 3.14's `kill_workers()`).
    pub fn kill_workers(&self) {
        self.force_shutdown(rustix::process::Signal::KILL);
    }

    /// CPython's `_force_shutdown`: shut down without waiting, cancelling
    /// what is queued, then signal each worker still alive. Each manager
    /// then sees its worker die and fails what it was running.
    fn force_shutdown(&self, signal: rustix::process::Signal) {
        self.shutdown(false, true);
        for slot in self.shared.slots.lock().iter() {
            let mut slot = slot.lock();
            let Some(child) = slot.as_mut() else {
                continue;
            };
            if matches!(child.try_wait(), Ok(None)) {
                // Gone meanwhile (ESRCH): nothing left to stop.
                let _ =
                    rustix::process::kill_process(rustix::process::Pid::from_child(child), signal);
            }
        }
    }

    /// The process ids of the workers alive now (for tests and the curious).
    pub fn worker_pids(&self) -> Vec<u32> {
        self.shared
            .slots
            .lock()
            .iter()
            .filter_map(|slot| slot.lock().as_ref().map(Child::id))
            .collect()
    }
}

impl Shutdown for ProcessPoolExecutor {
    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        let sender = self.jobs.lock().take();
        // Dormant managers have nothing to do now.
        drop(self.spawns.lock().take());
        if cancel_futures {
            while let Ok(job) = self.shared.jobs.try_recv() {
                for index in 0..job.len() {
                    job.calls.cancel(index);
                }
            }
        }
        drop(sender);
        if wait {
            for manager in std::mem::take(&mut *self.managers.lock()) {
                let _ = manager.join();
            }
        }
    }

    fn max_workers(&self) -> usize {
        self.max_workers
    }
}

impl<F, Args> Executor<F, Args> for ProcessPoolExecutor
where
    F: RemoteTask<Args>,
    Args: Serialize,
    F::Output: DeserializeOwned + Send + 'static,
{
    type Output = F::Output;

    fn submit(&self, task: F, args: Args) -> Result<TaskHandle<F::Output>, TaskError> {
        ProcessPoolExecutor::submit(self, task, args)
    }
}

impl Drop for ProcessPoolExecutor {
    fn drop(&mut self) {
        self.shutdown(true, false);
    }
}

impl std::fmt::Debug for ProcessPoolExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessPoolExecutor")
            .field("max_workers", &self.max_workers)
            .field("workers", &self.worker_pids())
            .field("broken", &self.broken())
            .finish()
    }
}
