//! The parent's side of the process pool.
//!
//! Each worker process has a manager thread here that owns it: the manager
//! takes a job from the pool's queue, sends it to its worker, waits for the
//! answer and completes the handles.
//!
//! A round trip to another process costs far more than a small task, so a
//! manager keeps its worker fed: while its jobs are quick (under
//! [`PIPELINE_BELOW`]) and more are queued than there are managers to take
//! them, it sends up to [`PIPELINE_DEPTH`] jobs ahead, and the worker finds
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

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{self, BufReader, BufWriter, Write};
use std::num::NonZeroUsize;
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::Mutex;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::protocol::{
    CHUNK, Outcome, cannot, holds_messages, push_call, read_message, request_head, write_message,
};
use super::{RemoteTask, WORKER_SOCKET_ENV, WORKER_TEST_NAME};
use crate::codec;
use crate::error::TaskError;
use crate::executor::{Executor, Map, Shutdown};
use crate::handle::TaskHandle;

/// How long a new worker may take to connect before it is given up on.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// How often an idle manager looks at its process (`waitpid` without
/// blocking): a worker that dies while idle is noticed within this.
const WATCH_INTERVAL: Duration = Duration::from_millis(20);

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
struct PoolShared {
    /// Why the pool is broken, once it is.
    broken: Mutex<Option<String>>,
    /// Each manager's current worker process, so that a broken pool can
    /// kill them all from any thread.
    slots: Mutex<Vec<Arc<Mutex<Option<Child>>>>>,
    /// The queue's receiving end, to fail or cancel what is still queued.
    jobs: Receiver<Job>,
    launch: Launch,
    /// Jobs finished and not yet matched by a `submit`: a `submit` that
    /// takes one knows a worker is (or is about to be) free and starts no
    /// process (CPython's `_idle_worker_semaphore`).
    idle: AtomicUsize,
    /// Managers woken to run a process (never more than `max_workers`).
    active: AtomicUsize,
}

/// How to start and prepare a worker.
#[derive(Clone)]
struct Launch {
    program: PathBuf,
    args: Vec<OsString>,
    max_tasks_per_child: Option<NonZeroUsize>,
    /// The longest a worker may take over one call before it is taken for
    /// stuck (or stopped) and killed.
    task_deadline: Option<Duration>,
    /// A task run once in each new worker: its name and the record of
    /// its arguments.
    initializer: Option<(&'static str, Vec<u8>)>,
}

/// One message for a worker: a task and one or more calls of it.
struct Job {
    task: &'static str,
    /// The calls' records (each argument tuple encoded, after its length),
    /// as the request carries them.
    args: Vec<u8>,
    /// Where each call's record ends in `args`.
    ends: Vec<usize>,
    /// The handles waiting for the calls' outcomes, in the same order.
    calls: Box<dyn PendingCalls>,
}

/// The handles of a job's calls, whatever their result type.
trait PendingCalls: Send {
    /// Marks call `index` running; `false` if it was cancelled meanwhile.
    fn start(&self, index: usize) -> bool;
    /// Cancels call `index` (shutdown with `cancel_futures`).
    fn cancel(&self, index: usize);
    /// Delivers call `index`'s outcome: the encoded result, or why there
    /// is none. The worker's handle on the call is done then; a call that
    /// was completed before is left as it is.
    fn complete(&mut self, index: usize, outcome: Result<&[u8], TaskError>);
}

/// The worker's handles on a job's calls, each given up once its call
/// has its outcome.
impl<T: DeserializeOwned + Send> PendingCalls for Vec<Option<TaskHandle<T>>> {
    fn start(&self, index: usize) -> bool {
        self[index]
            .as_ref()
            .is_some_and(|handle| handle.set_running_or_notify_cancel() == Ok(true))
    }

    fn cancel(&self, index: usize) {
        if let Some(handle) = &self[index] {
            handle.cancel();
        }
    }

    fn complete(&mut self, index: usize, outcome: Result<&[u8], TaskError>) {
        let Some(handle) = self[index].take() else {
            return;
        };
        let result = outcome.and_then(|bytes| {
            codec::decode::<T>(bytes)
                .map_err(|error| TaskError::Remote(cannot("read", "the task's result", &error)))
        });
        handle.finish_as_worker(result);
    }
}

impl Job {
    fn len(&self) -> usize {
        self.ends.len()
    }

    /// The record of call `index` (its arguments, as a request carries
    /// them).
    fn record_of(&self, index: usize) -> &[u8] {
        let start = match index {
            0 => 0,
            _ => self.ends[index - 1],
        };
        &self.args[start..self.ends[index]]
    }

    fn fail(mut self, error: &TaskError) {
        for index in 0..self.len() {
            self.calls.complete(index, Err(error.clone()));
        }
    }
}

/// Calls being gathered into one job, up to about a chunk of arguments.
struct JobBuilder<T> {
    args: Vec<u8>,
    ends: Vec<usize>,
    handles: Vec<Option<TaskHandle<T>>>,
}

impl<T: DeserializeOwned + Send + 'static> JobBuilder<T> {
    fn new() -> Self {
        JobBuilder {
            args: Vec::new(),
            ends: Vec::new(),
            handles: Vec::new(),
        }
    }

    /// Whether a call whose arguments take `bytes` still fits in this job
    /// (a job always takes its first call, of any size).
    fn fits(&self, bytes: usize) -> bool {
        self.ends.is_empty() || self.args.len() + 8 + bytes <= CHUNK
    }

    /// Adds a call with these (encoded) arguments; its handle.
    fn push(&mut self, args: &[u8]) -> TaskHandle<T> {
        push_call(&mut self.args, args);
        self.ends.push(self.args.len());
        let handle = TaskHandle::new_pending();
        self.handles.push(Some(handle.worker_side()));
        handle
    }

    /// The job so far, leaving this builder empty for the next one.
    fn take(&mut self, task: &'static str) -> Job {
        let builder = std::mem::replace(self, JobBuilder::new());
        Job {
            task,
            args: builder.args,
            ends: builder.ends,
            calls: Box::new(builder.handles),
        }
    }
}

/// Options for a [`ProcessPoolExecutor`] (Python's constructor arguments).
///
/// # Examples
///
/// ```no_run
/// use concurrent::{ProcessPoolExecutor, remote_fn};
///
/// remote_fn! {
///     fn warm_up(greeting: String) -> () {
///         eprintln!("{greeting}");
///     }
/// }
///
/// let ex = ProcessPoolExecutor::builder()
///     .max_workers(4)
///     .max_tasks_per_child(100) // a fresh process after every 100 tasks
///     .initializer(warm_up, ("worker ready".to_owned(),))
///     .build();
/// ```
#[derive(Clone)]
pub struct ProcessPoolBuilder {
    max_workers: usize,
    launch: Launch,
}

impl ProcessPoolBuilder {
    /// At most `n` worker processes.
    ///
    /// # Panics
    ///
    /// Panics if `n` is 0, as CPython raises `ValueError`.
    pub fn max_workers(mut self, n: usize) -> Self {
        assert!(n > 0, "max_workers must be greater than 0");
        self.max_workers = n;
        self
    }

    /// Replaces a worker with a fresh process after `n` tasks (Python
    /// 3.11's `max_tasks_per_child`), to bound what a leaky task can hold.
    pub fn max_tasks_per_child(mut self, n: usize) -> Self {
        self.launch.max_tasks_per_child = NonZeroUsize::new(n);
        self
    }

    /// Kills a worker that takes longer than `deadline` over one call,
    /// which breaks the pool (as any worker's death does). Python's pool
    /// has no such limit and waits forever for a worker that is stuck,
    /// or stopped (`SIGSTOP`, Ctrl-Z in its terminal); a caller that knows
    /// how long a task can take sets one, and can then start a new pool
    /// and run the lost tasks again.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// let ex = concurrent::ProcessPoolExecutor::builder()
    ///     .task_deadline(Duration::from_secs(30))
    ///     .build();
    /// ```
    pub fn task_deadline(mut self, deadline: Duration) -> Self {
        self.launch.task_deadline = Some(deadline);
        self
    }

    /// Runs `task(args)` once in every new worker before its first task
    /// (Python's `initializer`, `initargs`). If it fails, the pool is
    /// broken, as in Python.
    ///
    /// # Panics
    ///
    /// Panics if `args` cannot be serialised (a bug in the argument type).
    pub fn initializer<F, Args>(mut self, task: F, args: Args) -> Self
    where
        F: RemoteTask<Args, Output = ()>,
        Args: Serialize,
    {
        // A `remote_fn!` value is a marker: only its type matters, whose
        // `F::NAME` tells the worker which function to run.
        let _ = task;
        let args = codec::encode(&args).expect("initializer arguments serialise");
        let mut record = Vec::new();
        push_call(&mut record, &args);
        self.launch.initializer = Some((F::NAME, record));
        self
    }

    /// Starts workers as `program args...` instead of re-running the
    /// current executable; the program must call
    /// [`serve_if_worker`](super::serve_if_worker) first thing.
    pub fn program(
        mut self,
        program: impl Into<PathBuf>,
        args: impl IntoIterator<Item = impl Into<OsString>>,
    ) -> Self {
        self.launch.program = program.into();
        self.launch.args = args.into_iter().map(Into::into).collect();
        self
    }

    /// The pool. Worker processes start lazily, as tasks arrive.
    pub fn build(self) -> ProcessPoolExecutor {
        let (sender, receiver) = crossbeam_channel::unbounded();
        let (spawns, spawn_requests) = crossbeam_channel::unbounded();
        let shared = Arc::new(PoolShared {
            broken: Mutex::new(None),
            slots: Mutex::new(Vec::new()),
            jobs: receiver.clone(),
            launch: self.launch,
            idle: AtomicUsize::new(0),
            active: AtomicUsize::new(0),
        });
        // Manager threads are cheap and sleep until a submit needs them;
        // their processes start then.
        let managers: Vec<_> = (0..self.max_workers)
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
            max_workers: self.max_workers,
            jobs: Mutex::new(Some(sender)),
            spawns: Mutex::new(Some(spawns)),
            manager_count: managers.len(),
            shared,
            managers: Mutex::new(managers),
        }
    }
}

impl ProcessPoolExecutor {
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

/// How many jobs a worker may hold at once: the one it runs and the next
/// ones, sent ahead so that it never waits for the parent between small
/// tasks.
const PIPELINE_DEPTH: usize = 8;

/// Jobs are sent ahead only to a worker whose last job took less than
/// this. A job sent ahead waits its turn in that worker even if another
/// worker frees up first, which costs nothing next to a round trip when
/// tasks are short, and would hold back parallel work when they are long.
const PIPELINE_BELOW: Duration = Duration::from_millis(2);

/// A live worker process, seen from its manager.
struct Worker {
    input: BufReader<UnixStream>,
    output: BufWriter<UnixStream>,
    /// Calls sent to this process since it started (for
    /// `max_tasks_per_child`).
    calls_sent: usize,
    /// Jobs sent and not yet answered, oldest first: the worker answers in
    /// order.
    in_flight: VecDeque<SentJob>,
    /// When the last answer came: the worker started its next job then.
    last_answer: Instant,
    /// How long the last job took in the worker; `None` before the first.
    last_job_time: Option<Duration>,
    /// The answers to the job being received, one frame after another,
    /// and where each ends (buffers kept from job to job).
    answers: Vec<u8>,
    answer_ends: Vec<usize>,
}

/// A job in a worker's hands: its calls, waiting for their outcomes.
struct SentJob {
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
const ANSWERS_KEPT: usize = 1 << 20;

impl Worker {
    /// Writes one request into the output buffer (sent at the next flush):
    /// `calls` are its call records, encoded already, and the request is
    /// written around them (the worker reads it as a `protocol::Request`).
    fn send(&mut self, task: &str, calls: &[u8]) -> io::Result<()> {
        write_message(&mut self.output, &[&request_head(task), calls])
    }

    /// Sends what is buffered, then reads the `count` answers to one
    /// request.
    fn read_answers(&mut self, count: usize) -> io::Result<()> {
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
    fn oldest_answered(&self) -> bool {
        self.in_flight
            .front()
            .is_some_and(|job| holds_messages(self.input.buffer(), job.sent.len()))
    }

    /// The `index`th answer read by [`Worker::read_answers`].
    fn answer(&self, index: usize) -> io::Result<Outcome<'_>> {
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
fn manage(shared: &PoolShared, jobs: &Receiver<Job>) {
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

struct Manager<'a> {
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
                    sent_job.fail(&self.shared.break_pool(reason));
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

/// How the process in `slot` ended, if it has (and then it is reaped).
fn exited(slot: &Mutex<Option<Child>>) -> Option<ExitStatus> {
    let mut slot = slot.lock();
    let status = slot.as_mut()?.try_wait().ok().flatten()?;
    slot.take();
    Some(status)
}

/// Starts a worker process and waits for it to connect (and initialise).
fn start_worker(launch: &Launch, slot: &Mutex<Option<Child>>) -> Result<Worker, String> {
    static NEXT_SOCKET: AtomicUsize = AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!(
        "concurrent-pool-{}-{}.sock",
        std::process::id(),
        NEXT_SOCKET.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)
        .map_err(|error| format!("cannot listen on {}: {error}", path.display()))?;
    let spawned = Command::new(&launch.program)
        .args(&launch.args)
        .env(WORKER_SOCKET_ENV, &path)
        .stdin(Stdio::null())
        // The test harness in a test binary talks on stdout; keep it quiet.
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn();
    let child = match spawned {
        Ok(child) => child,
        Err(error) => {
            let _ = std::fs::remove_file(&path);
            return Err(format!(
                "cannot start a worker process ({}): {error}",
                launch.program.display()
            ));
        }
    };
    *slot.lock() = Some(child);
    let connected = accept_from(&listener, slot);
    let _ = std::fs::remove_file(&path);
    let stream = connected?;
    let reading = stream
        .try_clone()
        .map_err(|error| format!("cannot read from a worker: {error}"))?;
    let mut worker = Worker {
        input: BufReader::new(reading),
        output: BufWriter::new(stream),
        calls_sent: 0,
        in_flight: VecDeque::new(),
        last_answer: Instant::now(),
        last_job_time: None,
        answers: Vec::new(),
        answer_ends: Vec::new(),
    };
    if let Some((task, args)) = &launch.initializer {
        let answer = worker
            .send(task, args)
            .and_then(|()| worker.read_answers(1))
            .and_then(|()| worker.answer(0));
        let failed = match answer {
            Ok(Outcome::Ok(_)) => None,
            Ok(Outcome::Panicked(message) | Outcome::Failed(message)) => Some(message),
            Err(error) => Some(error.to_string()),
        };
        if let Some(message) = failed {
            retire(Some(worker), slot);
            return Err(format!("the initializer {task} failed: {message}"));
        }
    }
    // After the initializer, which may take its time: the deadline is a
    // task's. A read that waits longer fails, and the manager kills it.
    if let Some(deadline) = launch.task_deadline {
        worker
            .input
            .get_ref()
            .set_read_timeout(Some(deadline.max(Duration::from_millis(1))))
            .map_err(|error| format!("cannot set the task deadline: {error}"))?;
    }
    Ok(worker)
}

/// Waits for the child in `slot` to connect, noticing if it exits first.
fn accept_from(listener: &UnixListener, slot: &Mutex<Option<Child>>) -> Result<UnixStream, String> {
    listener
        .set_nonblocking(true)
        .map_err(|error| error.to_string())?;
    let started = Instant::now();
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream
                    .set_nonblocking(false)
                    .map_err(|error| error.to_string())?;
                return Ok(stream);
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(error) => return Err(format!("cannot accept a worker: {error}")),
        }
        let exited = slot
            .lock()
            .as_mut()
            .and_then(|child| child.try_wait().ok().flatten());
        if let Some(status) = exited {
            slot.lock().take();
            return Err(format!(
                "a worker process {} before connecting: does main() call concurrent::serve_if_worker() first \
                 (in a test file: process_worker_entry!())?",
                describe(status)
            ));
        }
        if started.elapsed() > CONNECT_TIMEOUT {
            let _ = reap_after_kill(slot);
            return Err(format!(
                "a worker process did not connect within {CONNECT_TIMEOUT:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// How long a retired worker may take to exit before it is killed.
const RETIRE_GRACE: Duration = Duration::from_secs(5);

/// Ends a worker politely: closing the connection tells it to exit. One
/// that does not (stopped with SIGSTOP, or stuck) is killed after
/// [`RETIRE_GRACE`], so that a shutdown never waits on it forever.
fn retire(worker: Option<Worker>, slot: &Mutex<Option<Child>>) {
    drop(worker);
    let started = std::time::Instant::now();
    while started.elapsed() < RETIRE_GRACE {
        let exited = slot.lock().as_mut().map(Child::try_wait);
        match exited {
            None | Some(Ok(Some(_)) | Err(_)) => {
                slot.lock().take();
                return;
            }
            Some(Ok(None)) => {}
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let _ = reap_after_kill(slot);
}

/// Waits for the process in `slot` to end; its exit status.
fn reap(slot: &Mutex<Option<Child>>) -> Option<ExitStatus> {
    let mut child = slot.lock().take()?;
    child.wait().ok()
}

fn reap_after_kill(slot: &Mutex<Option<Child>>) -> Option<ExitStatus> {
    if let Some(child) = slot.lock().as_mut() {
        let _ = child.kill();
    }
    reap(slot)
}

/// "was killed by signal 9 (SIGKILL)", "exited with code 3".
fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(signal)) => {
            let name = match signal {
                6 => " (SIGABRT: the process aborted)",
                9 => " (SIGKILL: killed by a person, a supervisor or the out-of-memory killer)",
                11 => " (SIGSEGV)",
                15 => " (SIGTERM)",
                _ => "",
            };
            format!("was killed by signal {signal}{name}")
        }
        _ => format!("ended ({status})"),
    }
}
