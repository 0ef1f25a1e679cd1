//! [`ThreadPoolExecutor`]: tasks run on a pool of reused OS threads.
//!
//! The design follows CPython's `ThreadPoolExecutor`: one shared queue of
//! work items; threads start lazily, one per `submit` that finds no idle
//! worker, up to `max_workers`; a finished worker counts itself idle, so the
//! next `submit` reuses it instead of starting another thread.

use std::num::NonZeroUsize;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::{JoinHandle, ThreadId};

use parking_lot::{Condvar, Mutex};

use crate::error::TaskError;
use crate::executor::{Call, Executor, Map, Shutdown};
use crate::handle::{QueuedTask, TaskHandle, drop_quietly};
use crate::job_queue::{self, JobQueue};

/// One unit of work in the pool's queue: a task beside its handle's state
/// ([`QueuedTask`]), whatever its types.
trait Job: Send + Sync {
    /// Runs the task (unless its handle was cancelled meanwhile), calling
    /// `settled` just before its outcome is announced.
    fn run(self: Arc<Self>, settled: &dyn Fn());
    /// Cancels the task without running it (shutdown with `cancel_futures`).
    fn cancel(self: Arc<Self>);
    /// Fails the task without running it (a broken pool).
    fn fail(self: Arc<Self>, error: &TaskError);
}

impl<F, T> Job for QueuedTask<T, F>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    fn run(self: Arc<Self>, settled: &dyn Fn()) {
        match self.start() {
            Some((handle, work)) => handle.run(work, settled),
            None => settled(),
        }
    }

    fn cancel(self: Arc<Self>) {
        self.cancel_queued();
    }

    fn fail(self: Arc<Self>, error: &TaskError) {
        if let Some((handle, work)) = self.start() {
            drop_quietly(work);
            handle.finish_as_worker(Err(error.clone()));
        }
    }
}

/// What each new thread runs first (Python's `initializer(*initargs)`).
type Initializer = Arc<dyn Fn() + Send + Sync>;

/// Why a pool whose initializer failed is broken: CPython's words.
const INITIALIZER_FAILED: &str =
    "A thread initializer failed, the thread pool is not usable anymore";

/// A pool of threads running submitted tasks (Python's
/// `concurrent.futures.ThreadPoolExecutor`).
///
/// Threads start as tasks arrive, up to `max_workers`, and are reused. A
/// task that panics does not kill its thread: the panic becomes the task's
/// [`TaskError::Panicked`]. Dropping the pool waits for the tasks already
/// submitted (Python's `with` block).
///
/// # Examples
///
/// The lesson's first example, `ex.submit(check_price, ...)` then
/// `.result()`:
///
/// ```
/// use concurrent::ThreadPoolExecutor;
///
/// fn check_price(exchange: &str, symbol: &str, date: &str) -> f64 {
///     // ... an HTTP request in the lesson ...
///     # let _ = (exchange, symbol, date);
///     6421.14
/// }
///
/// let ex = ThreadPoolExecutor::new(10);
/// let handle = ex.submit(check_price, ("bitstamp", "btc", "2020-04-01"))?;
/// println!("Price: ${}", handle.result()?);
/// # Ok::<(), concurrent::TaskError>(())
/// ```
pub struct ThreadPoolExecutor {
    max_workers: usize,
    thread_name_prefix: String,
    /// Closed at shutdown: the workers drain it, then exit.
    jobs: Arc<JobQueue<Arc<dyn Job>>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    /// The ids of every thread started, so a task that shuts its own pool
    /// down does not wait for itself.
    worker_ids: Mutex<Vec<ThreadId>>,
    /// How many worker threads have not exited yet: every caller of
    /// `shutdown(wait=true)` waits for it to reach zero, not only the one
    /// that got the join handles.
    alive: Arc<(Mutex<usize>, Condvar)>,
    counters: Arc<Counters>,
    initializer: Option<Initializer>,
    /// Set when an initializer failed (Python's `_broken`): every task
    /// queued then fails, and so does every later submit. Read by every
    /// submit: a `OnceLock`'s read is one atomic load.
    broken: Arc<OnceLock<String>>,
}

/// Options for a [`ThreadPoolExecutor`] (Python's constructor arguments:
/// `max_workers`, `thread_name_prefix`, `initializer`, `initargs`).
///
/// # Examples
///
/// ```
/// use concurrent::ThreadPoolExecutor;
///
/// let ex = ThreadPoolExecutor::builder()
///     .max_workers(4)
///     .thread_name_prefix("fetcher")
///     .initializer(|greeting: &str| println!("{greeting}"), ("ready",))
///     .build();
/// assert_eq!(ex.spawn(|| 2 + 2)?.result()?, 4);
/// # Ok::<(), concurrent::TaskError>(())
/// ```
#[derive(Clone)]
pub struct ThreadPoolBuilder {
    max_workers: usize,
    thread_name_prefix: String,
    initializer: Option<Initializer>,
}

impl ThreadPoolBuilder {
    /// At most `n` threads (default:
    /// [`ThreadPoolExecutor::default_max_workers`]).
    pub fn max_workers(mut self, n: usize) -> Self {
        self.max_workers = n;
        self
    }

    /// Threads named `{prefix}-{n}` (default `worker`).
    pub fn thread_name_prefix(mut self, prefix: &str) -> Self {
        prefix.clone_into(&mut self.thread_name_prefix);
        self
    }

    /// Runs `task(args...)` first in each new thread (Python's
    /// `initializer`, `initargs`). If it panics, the pool is broken, as
    /// CPython's `BrokenThreadPool`: the tasks waiting fail with
    /// [`TaskError::Broken`], and so does every later submit.
    pub fn initializer<F, Args>(mut self, task: F, args: Args) -> Self
    where
        F: Call<Args, Output = ()> + Send + Sync + 'static,
        Args: Clone + Send + Sync + 'static,
    {
        self.initializer = Some(Arc::new(move || task.call(args.clone())));
        self
    }

    /// The pool.
    ///
    /// # Panics
    ///
    /// If `max_workers` is 0, as [`ThreadPoolExecutor::new`].
    pub fn build(self) -> ThreadPoolExecutor {
        let mut pool = ThreadPoolExecutor::with_name(self.max_workers, &self.thread_name_prefix);
        pool.initializer = self.initializer;
        pool
    }
}

/// Counts a worker thread out when it exits, however it exits.
struct Alive(Arc<(Mutex<usize>, Condvar)>);

impl Drop for Alive {
    fn drop(&mut self) {
        let (count, exited) = &*self.0;
        *count.lock() -= 1;
        exited.notify_all();
    }
}

/// What `submit` reads to decide whether to start a thread, kept out of
/// any lock: a busy pool pays an atomic load per task, nothing more.
#[derive(Debug)]
struct Counters {
    max_workers: usize,
    /// Threads started so far.
    started: AtomicUsize,
    /// Workers that finished a task and are (or will shortly be) waiting
    /// for the next: `submit` takes one instead of starting a thread. Only
    /// kept while the pool can still grow; once it is full, nobody needs
    /// it, and workers stop touching this shared cache line.
    idle: AtomicUsize,
}

impl Counters {
    fn full(&self) -> bool {
        self.started.load(Ordering::Acquire) >= self.max_workers
    }
}

impl ThreadPoolExecutor {
    /// A pool of at most `max_workers` threads.
    ///
    /// # Panics
    ///
    /// Panics if `max_workers` is 0, as CPython raises `ValueError`: a pool
    /// that can run nothing is a mistake in the program.
    ///
    /// # Examples
    ///
    /// ```
    /// let ex = concurrent::ThreadPoolExecutor::new(32);
    /// assert_eq!(concurrent::Shutdown::max_workers(&ex), 32);
    /// ```
    pub fn new(max_workers: usize) -> ThreadPoolExecutor {
        ThreadPoolExecutor::with_name(max_workers, "worker")
    }

    /// A pool whose threads are named `{prefix}-{n}` (Python's
    /// `thread_name_prefix`), which shows in debuggers and panic messages.
    pub fn with_name(max_workers: usize, prefix: &str) -> ThreadPoolExecutor {
        assert!(max_workers > 0, "max_workers must be greater than 0");
        ThreadPoolExecutor {
            max_workers,
            thread_name_prefix: prefix.to_owned(),
            jobs: Arc::new(JobQueue::new(job_queue::RING)),
            workers: Mutex::new(Vec::new()),
            worker_ids: Mutex::new(Vec::new()),
            alive: Arc::new((Mutex::new(0), Condvar::new())),
            counters: Arc::new(Counters {
                max_workers,
                started: AtomicUsize::new(0),
                idle: AtomicUsize::new(0),
            }),
            initializer: None,
            broken: Arc::new(OnceLock::new()),
        }
    }

    /// Options beyond the size: a thread name prefix, an initializer.
    pub fn builder() -> ThreadPoolBuilder {
        ThreadPoolBuilder {
            max_workers: ThreadPoolExecutor::default_max_workers(),
            thread_name_prefix: "worker".to_owned(),
            initializer: None,
        }
    }

    /// Why the pool is broken (its initializer failed), if it is.
    pub fn broken(&self) -> Option<String> {
        self.broken.get().cloned()
    }

    /// Python's default size: `min(32, cpu_count + 4)`, enough threads to
    /// keep I/O-bound tasks overlapping without starting hundreds.
    pub fn default_max_workers() -> usize {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        32.min(cpus + 4)
    }

    /// Runs a closure on the pool: the Rust-natural form of `submit` for
    /// work that captures its inputs.
    ///
    /// # Errors
    ///
    /// [`TaskError::ShutDown`] after shutdown, [`TaskError::Broken`] once
    /// an initializer failed.
    ///
    /// # Examples
    ///
    /// ```
    /// let ex = concurrent::ThreadPoolExecutor::new(2);
    /// let name = String::from("kraken");
    /// let handle = ex.spawn(move || name.to_uppercase())?;
    /// assert_eq!(handle.result()?, "KRAKEN");
    /// # Ok::<(), concurrent::TaskError>(())
    /// ```
    pub fn spawn<T, F>(&self, work: F) -> Result<TaskHandle<T>, TaskError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        if let Some(reason) = self.broken.get() {
            return Err(TaskError::Broken(reason.clone()));
        }
        let (handle, job) = QueuedTask::new(work);
        self.jobs
            .push_then(job, || self.adjust_thread_count())
            .map_err(|_| TaskError::ShutDown)?;
        // An initializer that failed while this was being queued found no
        // job to fail: fail it now rather than leave it waiting forever.
        if let Some(reason) = self.broken.get() {
            fail_queued(&self.jobs, &TaskError::Broken(reason.clone()));
        }
        Ok(handle)
    }

    /// Schedules `task(args...)` (Python's `submit(fn, *args)`).
    ///
    /// # Errors
    ///
    /// [`TaskError::ShutDown`] after shutdown.
    pub fn submit<F, Args>(&self, task: F, args: Args) -> Result<TaskHandle<F::Output>, TaskError>
    where
        F: Call<Args> + Send + 'static,
        Args: Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn(move || task.call(args))
    }

    /// Runs `task` on every item (a tuple of arguments), results in input
    /// order, every item submitted now (Python's `map`); see
    /// [`Executor::map`].
    ///
    /// # Examples
    ///
    /// ```
    /// let ex = concurrent::ThreadPoolExecutor::new(4);
    /// let squares: Vec<u64> = ex.map(|n: u64| n * n, (1..=3).map(|n| (n,))).map(Result::unwrap).collect();
    /// assert_eq!(squares, [1, 4, 9]);
    /// ```
    pub fn map<'i, F, Args, I>(&self, task: F, items: I) -> Map<'i, Args, F::Output>
    where
        F: Call<Args> + Clone + Send + 'static,
        Args: Send + 'static,
        F::Output: Send + 'static,
        I: IntoIterator<Item = Args>,
    {
        Executor::map(self, task, items)
    }

    /// [`map`](ThreadPoolExecutor::map) with at most `buffersize` tasks
    /// submitted ahead of the reader (Python 3.14's `buffersize`); see
    /// [`Executor::map_buffered`].
    pub fn map_buffered<'a, F, Args, I>(
        &'a self,
        task: F,
        items: I,
        buffersize: NonZeroUsize,
    ) -> Map<'a, Args, F::Output>
    where
        F: Call<Args> + Clone + Send + 'static,
        Args: Send + 'static,
        F::Output: Send + 'static,
        I: IntoIterator<Item = Args>,
        I::IntoIter: 'a,
    {
        Executor::map_buffered(self, task, items, buffersize)
    }

    /// Starts a thread unless an idle one will pick the new job up.
    /// Called with the job queue's lock held, so two submits never both
    /// decide to start the last allowed thread.
    fn adjust_thread_count(&self) {
        let counters = &*self.counters;
        if counters.full() {
            return;
        }
        if crate::take_idle_worker(&counters.idle) {
            return;
        }
        let mut workers = self.workers.lock();
        if workers.len() >= self.max_workers {
            return;
        }
        let jobs = Arc::clone(&self.jobs);
        let counters = Arc::clone(&self.counters);
        let initializer = self.initializer.clone();
        let broken = Arc::clone(&self.broken);
        let name = format!("{}-{}", self.thread_name_prefix, workers.len());
        *self.alive.0.lock() += 1;
        let alive = Alive(Arc::clone(&self.alive));
        let spawned = std::thread::Builder::new().name(name).spawn(move || {
            let _alive = alive;
            if let Some(initializer) = initializer
                && let Err(panic) = catch_unwind(AssertUnwindSafe(|| initializer()))
            {
                // CPython logs "Exception in initializer" and breaks the
                // pool (`_initializer_failed`).
                eprintln!(
                    "concurrent: a thread initializer panicked: {}",
                    crate::handle::panic_message(&*panic)
                );
                let _ = broken.set(INITIALIZER_FAILED.to_owned());
                fail_queued(&jobs, &TaskError::Broken(INITIALIZER_FAILED.to_owned()));
                return;
            }
            // The loop ends when the pool is shut down and the queue is
            // empty.
            let mark_idle = || {
                if !counters.full() {
                    counters.idle.fetch_add(1, Ordering::AcqRel);
                }
            };
            while let Some(job) = jobs.take() {
                job.run(&mark_idle);
            }
        });
        // If the OS refuses a thread, the job still waits in the queue for
        // the workers that exist; with none at all, the next submit retries.
        if let Ok(worker) = spawned {
            self.worker_ids.lock().push(worker.thread().id());
            workers.push(worker);
            self.counters.started.fetch_add(1, Ordering::Release);
        }
    }

    /// How many threads the pool has started so far.
    pub fn thread_count(&self) -> usize {
        self.workers.lock().len()
    }
}

/// Fails every job still queued (a broken pool).
fn fail_queued(jobs: &JobQueue<Arc<dyn Job>>, error: &TaskError) {
    while let Some(job) = jobs.try_take() {
        job.fail(error);
    }
}

impl Default for ThreadPoolExecutor {
    /// A pool of [`ThreadPoolExecutor::default_max_workers`] threads.
    fn default() -> ThreadPoolExecutor {
        ThreadPoolExecutor::new(ThreadPoolExecutor::default_max_workers())
    }
}

impl Shutdown for ThreadPoolExecutor {
    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        self.jobs.close();
        if cancel_futures {
            while let Some(job) = self.jobs.try_take() {
                // Dropping the task may run a destructor that panics: that
                // is the task's business, not the caller's.
                let _ = catch_unwind(AssertUnwindSafe(|| job.cancel()));
            }
        }
        if wait {
            let me = std::thread::current().id();
            // A task that shuts its own pool down cannot wait for itself.
            let on_a_worker = self.worker_ids.lock().contains(&me);
            let workers = std::mem::take(&mut *self.workers.lock());
            for worker in workers {
                if worker.thread().id() != me {
                    let _ = worker.join();
                }
            }
            // Another caller may have taken the join handles first; every
            // caller waits, as in CPython, until the workers have exited.
            let (count, exited) = &*self.alive;
            let mut alive = count.lock();
            while *alive > usize::from(on_a_worker) {
                exited.wait(&mut alive);
            }
        }
    }

    fn max_workers(&self) -> usize {
        self.max_workers
    }
}

impl<F, Args> Executor<F, Args> for ThreadPoolExecutor
where
    F: Call<Args> + Send + 'static,
    Args: Send + 'static,
    F::Output: Send + 'static,
{
    type Output = F::Output;

    fn submit(&self, task: F, args: Args) -> Result<TaskHandle<F::Output>, TaskError> {
        ThreadPoolExecutor::submit(self, task, args)
    }
}

impl Drop for ThreadPoolExecutor {
    fn drop(&mut self) {
        self.shutdown(true, false);
    }
}

impl std::fmt::Debug for ThreadPoolExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadPoolExecutor")
            .field("max_workers", &self.max_workers)
            .field("threads", &self.thread_count())
            .field("queued", &self.jobs.len())
            .finish()
    }
}
