//! How a fetch's requests are run: the middle of the pipeline.
//!
//! A [`Runner`] takes the plan's tasks and sends one [`Outcome`] per task
//! to the sink, until every task is done or the sink hangs up (a dropped
//! receiver is the one cancellation signal). There is one for each
//! [`RunOn`], made by [`for_place`]:
//!
//! - threads, processes, and workers on other machines through Redis
//!   (`distributed.rs`), through one generic path over the library's
//!   [`Executor`] trait ([`run_on`]): what differs between them is the
//!   line that builds the executor and the function it runs, as in the
//!   lesson;
//! - tokio tasks under a concurrency limit;
//! - the range API, a request per exchange x symbol.
//!
//! The executor path keeps a window of twice the workers in flight and
//! takes results as they complete (each handle's done callback says so),
//! not in order as `map` yields them: in order, one slow or stuck task
//! would hold back every result behind it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use concurrent::{Executor, ProcessPoolExecutor, TaskError, TaskHandle, ThreadPoolExecutor};
use crossbeam_channel::Sender;
use prices::{Day, Price};

use super::distributed::OnRedis;
use super::{FetchError, PoolRestart, RunOn, Task, TaskFailure};
use crate::api::{AsyncClient, Client, ClientConfig, ClientError, Tried, Try};

/// One task's outcome, as a runner hands it to the sink.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// What was asked.
    pub task: Task,
    /// The price (or `None`: no price that day), or why there is none.
    pub result: Result<Option<Price>, TaskFailure>,
    /// How long the request took, retries included.
    pub latency: Duration,
    /// Its tries, from the start of the task (none where the runner does
    /// not see them: the range API's).
    pub tries: Vec<Try>,
    /// When the task started where it ran, in microseconds since the Unix
    /// epoch (`None` where the runner does not see it).
    pub started_unix_micros: Option<u64>,
}

impl Outcome {
    /// An outcome whose tries and start the runner does not see (the
    /// range API's, a task lost with its worker).
    fn untimed(
        task: Task,
        result: Result<Option<Price>, TaskFailure>,
        latency: Duration,
    ) -> Outcome {
        Outcome {
            task,
            result,
            latency,
            tries: Vec::new(),
            started_unix_micros: None,
        }
    }
}

/// Runs a job's tasks; see the module's documentation.
pub(crate) trait Runner: Sync {
    /// Runs `tasks`, sending each one's outcome to `outcomes`; returns
    /// once all are sent, or early when `outcomes`' receiver is gone.
    /// Returns the times a pool of workers broke and was started again.
    ///
    /// # Errors
    ///
    /// [`FetchError::Workers`] or [`FetchError::Runtime`] when the
    /// workers cannot run at all.
    fn run(
        &self,
        tasks: Vec<Task>,
        outcomes: Sender<Outcome>,
    ) -> Result<Vec<PoolRestart>, FetchError>;
}

/// The runner of `workers` that `place` asks for, on `client` (whose
/// connections the thread runners share; worker processes and tokio make
/// their own from its configuration).
///
/// # Errors
///
/// [`FetchError::Server`] if the async client cannot be built.
pub(crate) fn for_place(
    client: &Client,
    place: &RunOn,
    workers: usize,
) -> Result<Box<dyn Runner>, FetchError> {
    let workers = workers.max(1);
    Ok(match place {
        RunOn::Ranges => Box::new(ByRange {
            client: client.clone(),
            workers,
        }),
        RunOn::Redis(queue) => Box::new(OnRedis::connect(queue.clone())?),
        RunOn::Threads => Box::new(OnThreads {
            client: Arc::new(client.clone()),
            workers,
        }),
        RunOn::Processes => Box::new(OnProcesses {
            config: client.config().clone(),
            workers,
        }),
        RunOn::Async => Box::new(OnTokio {
            client: AsyncClient::new(client.config().clone())?,
            workers,
        }),
    })
}

/// What a fetch function gives back for one task, from wherever it ran.
pub(super) trait Answer {
    /// The outcome of `task`.
    fn into_outcome(self, task: Task) -> Outcome;
}

/// A thread's answer: the client's own result, with its tries and times.
impl Answer for Tried<Option<Price>> {
    fn into_outcome(self, task: Task) -> Outcome {
        Outcome {
            task,
            result: self.result.map_err(TaskFailure::from),
            latency: self.took,
            tries: self.tries,
            started_unix_micros: Some(self.started_unix_micros),
        }
    }
}

/// A worker's answer (a process, or a machine through Redis).
impl Answer for WorkerAnswer {
    fn into_outcome(self, task: Task) -> Outcome {
        let (result, micros, tries, started) = self;
        Outcome {
            task,
            result: result.map_err(TaskFailure::from),
            latency: Duration::from_micros(micros),
            tries,
            started_unix_micros: Some(started),
        }
    }
}

/// What `fetch_in_worker` answers: the request's result, how long it took
/// in microseconds, its tries, and when it started (microseconds since the
/// Unix epoch).
pub(super) type WorkerAnswer = (Result<Option<Price>, ClientError>, u64, Vec<Try>, u64);

/// A submitted task and its handle, which its outcome is reported
/// against.
struct InFlight<T> {
    task: Task,
    handle: TaskHandle<T>,
}

/// How [`run_on`] ended.
pub(super) enum Ended {
    /// Every task's outcome was sent, or the sink hung up.
    Finished,
    /// The executor broke: these tasks were lost with it (the rest are
    /// still in the queue), after `completed` tasks had finished on it.
    Broken {
        error: TaskError,
        lost: Vec<Task>,
        completed: usize,
    },
}

/// The generic path: runs `fetch` on `executor` for the tasks of
/// `pending` (taken from the front), at most `window` in flight, sending
/// outcomes as tasks complete.
///
/// Each handle's done callback (Python's `add_done_callback`) posts its
/// slot's number on a channel, so finding the next finished task costs one
/// message, whatever the window (`wait(..., FIRST_COMPLETED)` would look
/// at every handle in flight each time).
pub(super) fn run_on<E, F>(
    executor: &E,
    fetch: F,
    pending: &mut VecDeque<Task>,
    window: usize,
    outcomes: &Sender<Outcome>,
) -> Ended
where
    E: Executor<F, (Task,)>,
    E::Output: Answer + 'static,
    F: Clone,
{
    let (finished, next_finished) = crossbeam_channel::unbounded::<usize>();
    let mut slots: Vec<Option<InFlight<E::Output>>> = Vec::with_capacity(window);
    let mut free: Vec<usize> = Vec::with_capacity(window);
    let mut in_flight = 0;
    let mut lost = Vec::new();
    let mut broken = None;
    let mut completed = 0;
    loop {
        while broken.is_none() && in_flight < window {
            let Some(task) = pending.pop_front() else {
                break;
            };
            match executor.submit(fetch.clone(), (task.clone(),)) {
                Ok(handle) => {
                    let slot = free.pop().unwrap_or_else(|| {
                        slots.push(None);
                        slots.len() - 1
                    });
                    let finished = finished.clone();
                    handle.add_done_callback(move |_| {
                        let _ = finished.send(slot);
                    });
                    slots[slot] = Some(InFlight { task, handle });
                    in_flight += 1;
                }
                Err(error) => {
                    lost.push(task);
                    broken = Some(error);
                }
            }
        }
        if in_flight == 0 {
            break;
        }
        let slot = next_finished
            .recv()
            .expect("a sender is kept here while tasks are in flight");
        let InFlight { task, handle } = slots[slot].take().expect("a slot finishes once");
        free.push(slot);
        in_flight -= 1;
        let outcome = match handle.into_result() {
            Ok(answer) => answer.into_outcome(task),
            Err(error @ TaskError::Broken(_)) => {
                lost.push(task);
                broken.get_or_insert(error);
                continue;
            }
            Err(error) => Outcome::untimed(task, Err(TaskFailure::Worker(error)), Duration::ZERO),
        };
        completed += 1;
        if outcomes.send(outcome).is_err() {
            for waiting in slots.iter().flatten() {
                waiting.handle.cancel();
            }
            return Ended::Finished;
        }
    }
    match broken {
        None => Ended::Finished,
        Some(error) => Ended::Broken {
            error,
            lost,
            completed,
        },
    }
}

/// Twice the workers in flight: enough that no worker waits for the
/// next task, little enough that a stopped job cancels little and memory
/// does not grow with the date range.
fn window(workers: usize) -> usize {
    2 * workers
}

/// The lesson's executor: a pool of threads sharing one client (and its
/// connection pool).
struct OnThreads {
    client: Arc<Client>,
    workers: usize,
}

impl Runner for OnThreads {
    fn run(
        &self,
        tasks: Vec<Task>,
        outcomes: Sender<Outcome>,
    ) -> Result<Vec<PoolRestart>, FetchError> {
        let client = Arc::clone(&self.client);
        let fetch = move |task: Task| {
            client.check_price_tried(&task.exchange, &task.symbol, &task.day.to_string())
        };
        let pool = ThreadPoolExecutor::with_name(self.workers, "fetch");
        let mut pending = VecDeque::from(tasks);
        match run_on(&pool, fetch, &mut pending, window(self.workers), &outcomes) {
            Ended::Finished => Ok(Vec::new()),
            // A thread pool breaks only when it cannot start a thread.
            Ended::Broken { error, .. } => Err(FetchError::Workers(error)),
        }
    }
}

/// A worker process's client, made once by [`start_worker_client`] before
/// its first task: its connection pool then serves every later task.
static WORKER_CLIENT: std::sync::OnceLock<Result<Client, ClientError>> = std::sync::OnceLock::new();

concurrent::remote_fn! {
    /// The pool's initializer: runs once in each worker process, so the
    /// client's configuration crosses once per worker, not once per task.
    fn start_worker_client(config: ClientConfig) -> () {
        let _ = WORKER_CLIENT.set(Client::new(config));
    }

    /// One request, run in a worker process. The price crosses back with
    /// every number's exact value and INTEGER/REAL form (`prices`' serde
    /// feature), a failure as the client's own error. Also returns how
    /// long the request took, in microseconds, and its tries.
    pub(super) fn fetch_in_worker(task: Task) -> WorkerAnswer {
        let tried = match WORKER_CLIENT.get() {
            Some(Ok(client)) => {
                client.check_price_tried(&task.exchange, &task.symbol, &task.day.to_string())
            }
            Some(Err(error)) => Tried {
                result: Err(error.clone()),
                tries: Vec::new(),
                started_unix_micros: crate::api::unix_micros(),
                took: Duration::ZERO,
            },
            // The pool runs its initializer before any task: this is a
            // bug, and the panic is this task's failure, not the worker's.
            None => panic!("the worker has no client: the pool's initializer did not run"),
        };
        let micros = u64::try_from(tried.took.as_micros()).unwrap_or(u64::MAX);
        (tried.result, micros, tried.tries, tried.started_unix_micros)
    }
}

/// How many broken pools one task may be caught in before it fails.
const POOL_BREAKS_PER_TASK: u32 = 3;

/// How many pools in a row may break before finishing any task before
/// the job stops (a worker that cannot start, an initializer that fails).
const FRUITLESS_POOLS: u32 = 3;

/// Worker processes: the same generic path, on a process pool. A worker
/// that dies (killed, out of memory) or passes its deadline breaks the
/// pool, as in Python; this runner then starts a new one and runs the
/// lost tasks again, each at most [`POOL_BREAKS_PER_TASK`] times.
struct OnProcesses {
    config: ClientConfig,
    workers: usize,
}

impl Runner for OnProcesses {
    fn run(
        &self,
        tasks: Vec<Task>,
        outcomes: Sender<Outcome>,
    ) -> Result<Vec<PoolRestart>, FetchError> {
        let mut pending = VecDeque::from(tasks);
        let mut caught: std::collections::HashMap<Task, u32> = Default::default();
        let mut restarts = Vec::new();
        let mut fruitless = 0;
        loop {
            let pool = ProcessPoolExecutor::builder()
                .max_workers(self.workers)
                .initializer(start_worker_client, (self.config.clone(),))
                .task_deadline(task_deadline(&self.config))
                .build();
            let ended = run_on(
                &pool,
                fetch_in_worker,
                &mut pending,
                window(self.workers),
                &outcomes,
            );
            let Ended::Broken {
                error,
                lost,
                completed,
            } = ended
            else {
                return Ok(restarts);
            };
            drop(pool);
            fruitless = if completed == 0 { fruitless + 1 } else { 0 };
            if fruitless >= FRUITLESS_POOLS {
                return Err(FetchError::Workers(error));
            }
            let mut retried = 0;
            for task in lost.into_iter().rev() {
                let times = caught.entry(task.clone()).or_default();
                *times += 1;
                if *times > POOL_BREAKS_PER_TASK {
                    let failed = Outcome::untimed(
                        task,
                        Err(TaskFailure::Worker(error.clone())),
                        Duration::ZERO,
                    );
                    if outcomes.send(failed).is_err() {
                        return Ok(restarts);
                    }
                } else {
                    retried += 1;
                    pending.push_front(task);
                }
            }
            restarts.push(PoolRestart {
                reason: error,
                retried,
            });
        }
    }
}

/// The longest one task may run in a worker process before the worker is
/// taken for stuck: every try at the request timeout, every wait between
/// tries at its longest (a server's `Retry-After` included), and a few
/// seconds for the process itself.
pub(crate) fn task_deadline(config: &ClientConfig) -> Duration {
    let retry = &config.retry;
    let tries = retry.retries.saturating_add(1);
    let longest_wait = retry.max_delay.max(crate::RetryPolicy::MAX_RETRY_AFTER);
    // The request timeout covers a whole try, connecting included.
    config
        .request_timeout
        .saturating_mul(tries)
        .saturating_add(longest_wait.saturating_mul(retry.retries))
        .saturating_add(Duration::from_secs(5))
}

/// tokio tasks, at most `workers` requests in flight.
struct OnTokio {
    client: AsyncClient,
    workers: usize,
}

impl Runner for OnTokio {
    fn run(
        &self,
        tasks: Vec<Task>,
        outcomes: Sender<Outcome>,
    ) -> Result<Vec<PoolRestart>, FetchError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(FetchError::Runtime)?;
        let workers = self.workers;
        runtime.block_on(async move {
            let limit = Arc::new(tokio::sync::Semaphore::new(workers));
            let sink_gone = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let mut running = tokio::task::JoinSet::new();
            for task in tasks {
                if sink_gone.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                // Waiting for a permit is the async form of the bounded
                // window: tasks are not even created until a slot is free.
                let permit = Arc::clone(&limit)
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed");
                let (client, outcomes, sink_gone) = (
                    self.client.clone(),
                    outcomes.clone(),
                    Arc::clone(&sink_gone),
                );
                running.spawn(async move {
                    let outcome = client
                        .check_price_tried(&task.exchange, &task.symbol, &task.day.to_string())
                        .await
                        .into_outcome(task);
                    if outcomes.send(outcome).is_err() {
                        sink_gone.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                    drop(permit);
                });
                // Reap finished tasks as we go, so the set stays small.
                while running.try_join_next().is_some() {}
            }
            while running.join_next().await.is_some() {}
        });
        Ok(Vec::new())
    }
}

/// The range API: the tasks grouped by exchange and symbol, each group one
/// `/prices` query (a request per 1,000 days) on a pool of `workers`
/// threads; each task then gets its day's row, or `None` for a day without
/// one, as `/price` would have said. A range that fails fails every task
/// of its group, with the same error. Each task reports its range's time
/// as its latency.
struct ByRange {
    client: Client,
    workers: usize,
}

impl Runner for ByRange {
    fn run(
        &self,
        tasks: Vec<Task>,
        outcomes: Sender<Outcome>,
    ) -> Result<Vec<PoolRestart>, FetchError> {
        let mut groups: std::collections::BTreeMap<(String, String), Vec<Task>> =
            Default::default();
        for task in tasks {
            groups
                .entry((task.exchange.clone(), task.symbol.clone()))
                .or_default()
                .push(task);
        }
        let pool = ThreadPoolExecutor::with_name(self.workers, "fetch-range");
        for ((exchange, symbol), group) in groups {
            let (client, outcomes) = (self.client.clone(), outcomes.clone());
            let submitted =
                pool.spawn(move || fetch_range(&client, &exchange, &symbol, group, &outcomes));
            if let Err(error) = submitted {
                return Err(FetchError::Workers(error));
            }
        }
        // Dropping the pool waits for every range.
        drop(pool);
        Ok(Vec::new())
    }
}

/// One exchange x symbol's tasks through one range query.
fn fetch_range(
    client: &Client,
    exchange: &str,
    symbol: &str,
    group: Vec<Task>,
    outcomes: &Sender<Outcome>,
) {
    let (Some(first), Some(last)) = (
        group.iter().map(|task| task.day).min(),
        group.iter().map(|task| task.day).max(),
    ) else {
        return;
    };
    let started = Instant::now();
    let fetched = client.prices_range(exchange, symbol, first, last);
    let latency = started.elapsed();
    let mut by_day: std::collections::HashMap<Day, Price> = match &fetched {
        Ok(prices) => prices.iter().map(|p| (p.day, p.clone())).collect(),
        Err(_) => Default::default(),
    };
    for task in group {
        let result = match &fetched {
            Ok(_) => Ok(by_day.remove(&task.day)),
            Err(error) => Err(TaskFailure::from(error.clone())),
        };
        let outcome = Outcome::untimed(task, result, latency);
        // The sink has stopped (a failed write): so do we.
        if outcomes.send(outcome).is_err() {
            return;
        }
    }
}
