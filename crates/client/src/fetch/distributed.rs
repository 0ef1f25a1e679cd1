//! The fetch job beyond one machine: its tasks run on the library's third
//! executor, [`RedisExecutor`], through the same generic path that threads
//! and processes take (`runner::run_on`, with the process pool's function
//! `fetch_in_worker`), and `crypto_db worker`s anywhere are its workers.
//!
//! ```text
//! fetch (producer + sink)  --NAME-->           crypto_db worker, worker, ... (any machine)
//!                          <--NAME:answers--
//! ```
//!
//! What keeps the job whole is the executor's (its documentation has the
//! guarantees): one producer per job name, answers keyed by task with the
//! first one kept (a task run twice never makes a second row), answers of
//! another job dropped and counted, a task no worker can finish reported
//! as that task's failure, a Redis that forgot everything given the job
//! back, and nothing left in Redis at the end but keys that expire.
//!
//! The worker's side is here: [`work`] takes tasks from the executor's
//! queue ([`TaskQueue`]; one at a time, or a batch while requests are
//! quick, as the executor's own worker mode does), runs each request on
//! threads or async tasks with the worker's own client, and answers in
//! the executor's codec.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use concurrent::{RemoteTask, Shutdown, TaskError, ThreadPoolExecutor, codec};
use crossbeam_channel::Sender;
use prices::Price;
use redis_queue::{
    Answered, Assignment, BatchSize, QueueAddress, QueueError, QueueOptions, RedisExecutor,
    TaskQueue,
};

use super::runner::{Ended, Outcome, Runner, WorkerAnswer, fetch_in_worker, run_on};
use super::{FetchError, PoolRestart, RunOn, Task};
use crate::api::{AsyncClient, Client, ClientConfig, Tried};

/// A job's queue on Redis, as `fetch --queue` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedQueue {
    /// `redis://HOST:PORT/NAME`: the tasks go to `NAME`, the answers come
    /// back on `NAME:answers`.
    pub address: QueueAddress,
    /// How long a worker may go silent before its tasks are given to
    /// others; workers renew it every third of it while they run.
    pub lease: Duration,
}

impl SharedQueue {
    /// The lease when none is asked for: a minute.
    pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);
}

fn queue_error(address: &QueueAddress) -> impl Fn(QueueError) -> FetchError + '_ {
    move |source| FetchError::Queue {
        address: address.to_string(),
        source,
    }
}

/// At most this many tasks are submitted and unanswered at once: the
/// executor holds them until the live workers have room, and the bound
/// keeps a job of millions from holding a handle for each.
const SUBMITTED: usize = 10_000;

/// The producer's side: the job's tasks on a [`RedisExecutor`].
pub(crate) struct OnRedis {
    /// Made when the runner is: Redis out of reach, a wrong password or
    /// certificate, or another producer on the name, is said before the
    /// output is opened (and an old file there touched).
    executor: RedisExecutor,
}

impl OnRedis {
    /// Starts the job on Redis as its one producer.
    ///
    /// # Errors
    ///
    /// [`FetchError::Queue`] when Redis cannot be reached or refuses, or
    /// another producer runs a job of that name.
    pub(crate) fn connect(queue: SharedQueue) -> Result<OnRedis, FetchError> {
        let address = &queue.address;
        let executor = RedisExecutor::builder()
            .lease(queue.lease)
            .no_worker_hint(format!(
                "start some with `crypto_db worker --queue {address} --url SERVER`"
            ))
            .connect(address)
            .map_err(queue_error(address))?;
        Ok(OnRedis { executor })
    }
}

impl Runner for OnRedis {
    fn run(
        &self,
        tasks: Vec<Task>,
        outcomes: Sender<Outcome>,
    ) -> Result<Vec<PoolRestart>, FetchError> {
        let mut pending = VecDeque::from(tasks);
        let ended = run_on(
            &self.executor,
            fetch_in_worker,
            &mut pending,
            SUBMITTED,
            &outcomes,
        );
        // Every task answered, or the sink stopped listening (its tasks
        // not sent yet are cancelled): the workers are told the job is
        // over, and its streams go.
        self.executor.shutdown(true, true);
        match ended {
            Ended::Finished => Ok(Vec::new()),
            // Redis stayed away longer than the executor waits for it.
            Ended::Broken { error, .. } => Err(FetchError::QueueLost(error)),
        }
    }
}

/// What a `crypto_db worker` is asked to do.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// The job's queue, `redis://HOST:PORT/NAME`.
    pub queue: QueueAddress,
    /// The price server, and how to talk to it.
    pub client: ClientConfig,
    /// Where its tasks run: [`RunOn::Threads`] or [`RunOn::Async`] (a
    /// worker process is already one of many; the others are refused).
    pub run_on: RunOn,
    /// How many tasks at a time.
    pub workers: usize,
}

/// What a worker did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WorkerReport {
    /// Tasks answered (a price, no price, or the request's failure).
    pub answered: usize,
    /// Of those, answered with a failure.
    pub failed: usize,
    /// Tasks taken and given back undone because the worker was stopped.
    pub released: usize,
    /// Set when the worker was stopped while Redis could not be reached:
    /// what it was trying to do when it gave up waiting.
    pub stopped_in_outage: Option<String>,
    /// Tasks taken that could not be given back (Redis was away when the
    /// worker stopped): other workers take them over when their lease
    /// lapses.
    pub not_released: usize,
    /// The job's lease.
    pub lease: Duration,
}

/// What a worker's loops share: the executor's queue, the stop flag, and
/// the counts.
struct Shared {
    queue: TaskQueue,
    stop: Arc<AtomicBool>,
    answered: AtomicUsize,
    failed: AtomicUsize,
    released: AtomicUsize,
}

/// Serves the job at `options.queue` until it is over (the producer shut
/// it down once every task was answered) or `stop` is set (SIGTERM): then
/// each loop finishes the task it is running and gives back any it took
/// but had not started. A stop also ends any wait for a Redis that is
/// away: what could not be given back is then counted in the report.
///
/// # Errors
///
/// [`FetchError::Queue`] when Redis stays away longer than the queue
/// waits for it, [`FetchError::Server`] if the client cannot be built,
/// [`FetchError::Workers`]/[`FetchError::Runtime`] if the loops cannot
/// start, [`FetchError::CannotRunOn`] for a place other than threads or
/// async tasks.
pub fn work(options: &WorkerOptions, stop: Arc<AtomicBool>) -> Result<WorkerReport, FetchError> {
    if !matches!(options.run_on, RunOn::Threads | RunOn::Async) {
        return Err(FetchError::CannotRunOn {
            what: "a worker",
            places: "threads or async",
            run_on: options.run_on.clone(),
        });
    }
    let error = queue_error(&options.queue);
    let workers = options.workers.max(1);
    let shared = Arc::new(Shared {
        queue: TaskQueue::join(&options.queue, QueueOptions::default(), workers).map_err(&error)?,
        stop,
        answered: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        released: AtomicUsize::new(0),
    });
    let serving = AtomicBool::new(true);
    let ended = std::thread::scope(|scope| {
        // A stop request ends any wait for Redis: the loops' next call
        // fails at once instead of waiting out an outage of minutes.
        scope.spawn(|| {
            while serving.load(Ordering::Relaxed) {
                if shared.stop.load(Ordering::Relaxed) {
                    shared.queue.stop_waiting();
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let ended = match options.run_on {
            RunOn::Async => serve_async(&shared, &options.client, workers),
            _ => serve_on_threads(&shared, &options.client, workers),
        };
        serving.store(false, Ordering::Relaxed);
        ended
    })?;
    let stopped_in_outage = match ended {
        LoopsEnded::Done => None,
        // Asked to stop, and Redis was away: that is the stop, not a
        // failure; the report says what could not be given back.
        LoopsEnded::QueueFailed(QueueError::Redis { source, .. })
            if shared.stop.load(Ordering::Relaxed)
                && (source.is_connection_refusal()
                    || source.is_io_error()
                    || source.is_connection_dropped()
                    || source.is_timeout()) =>
        {
            Some(source.to_string())
        }
        LoopsEnded::QueueFailed(other) => return Err(error(other)),
    };
    Ok(WorkerReport {
        answered: shared.answered.load(Ordering::Relaxed),
        failed: shared.failed.load(Ordering::Relaxed),
        released: shared.released.load(Ordering::Relaxed),
        not_released: if stopped_in_outage.is_some() {
            shared.queue.holding()
        } else {
            0
        },
        stopped_in_outage,
        lease: shared.queue.lease(),
    })
}

/// How often a waiting loop looks at the stop flag.
const LOOK_AT_STOP: Duration = Duration::from_millis(200);

impl Shared {
    /// Takes the next tasks (one, or up to `size` while they are quick),
    /// or `None` when the loop should end: stopped (tasks taken meanwhile
    /// are given back), or the job over.
    fn next_batch(&self, size: BatchSize) -> Result<Option<Vec<Assignment>>, QueueError> {
        loop {
            if self.stopping() {
                return Ok(None);
            }
            match self.queue.take(size.get(), LOOK_AT_STOP) {
                Ok(taken) if self.stopping() => {
                    self.give_back(taken)?;
                    return Ok(None);
                }
                Ok(taken) if taken.is_empty() => continue,
                Ok(taken) => return Ok(Some(taken)),
                Err(QueueError::Empty) => continue,
                Err(QueueError::ShutDown | QueueError::Gone) => return Ok(None),
                Err(other) => return Err(other),
            }
        }
    }

    /// Whether the worker was asked to stop: the tasks of a batch not
    /// started yet then go back.
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Gives tasks taken and not started back, for other workers at once.
    fn give_back(&self, undone: impl IntoIterator<Item = Assignment>) -> Result<(), QueueError> {
        for assignment in undone {
            self.queue.release(assignment)?;
            self.released.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Notes how one loop ended (`None`: it panicked, a bug) in `ended`,
    /// the worker's end: a loop that lost Redis stops the others.
    fn loop_ended(
        &self,
        ended: &mut LoopsEnded,
        one: Option<Result<(), QueueError>>,
    ) -> Result<(), FetchError> {
        match one {
            None => Err(FetchError::WorkerPanicked),
            Some(Ok(())) => Ok(()),
            Some(Err(error)) => {
                self.stop.store(true, Ordering::Relaxed);
                if let LoopsEnded::Done = ended {
                    *ended = LoopsEnded::QueueFailed(error);
                }
                Ok(())
            }
        }
    }

    /// Ends a batch: gives back the tasks a stop left undone, then sends
    /// the answers of those done (one round trip) and marks their tasks
    /// done (another): in that order, so a worker killed between the two
    /// leaves tasks that run again (and second answers, which the producer
    /// drops), never a task with no answer.
    fn end_batch(&self, done: Vec<Done>, undone: Vec<Assignment>) -> Result<(), QueueError> {
        self.give_back(undone)?;
        let failed = done.iter().filter(|done| done.failed).count();
        let count = done.len();
        self.queue
            .answer(done.into_iter().map(|done| done.answered).collect())?;
        self.answered.fetch_add(count, Ordering::Relaxed);
        self.failed.fetch_add(failed, Ordering::Relaxed);
        Ok(())
    }
}

/// One task run: its answer for the executor, and whether it failed.
struct Done {
    answered: Answered,
    failed: bool,
}

impl Done {
    /// The answer to `assignment`: the request's result, how long it took
    /// and its tries, in the executor's codec, as `fetch_in_worker` gives
    /// it.
    fn of(assignment: Assignment, tried: Result<Tried<Option<Price>>, TaskError>) -> Done {
        let failed = !matches!(tried, Ok(Tried { result: Ok(_), .. }));
        let took = tried.as_ref().map_or(Duration::ZERO, |tried| tried.took);
        let outcome = tried.and_then(|tried| {
            let micros = u64::try_from(tried.took.as_micros()).unwrap_or(u64::MAX);
            let answer: WorkerAnswer =
                (tried.result, micros, tried.tries, tried.started_unix_micros);
            codec::encode(&answer)
                .map_err(|error| TaskError::Remote(format!("cannot write the result: {error}")))
        });
        Done {
            answered: Answered {
                assignment,
                outcome,
                took,
            },
            failed,
        }
    }
}

/// The task an assignment asks for: a fetch job's (the executor's ticket
/// names `fetch_in_worker` and carries its one argument), or why not.
fn fetch_task(assignment: &Assignment) -> Result<Task, TaskError> {
    let fetch = <fetch_in_worker as RemoteTask<(Task,)>>::NAME;
    if assignment.function() != fetch {
        return Err(TaskError::Remote(format!(
            "crypto_db worker runs fetch's tasks ({fetch}), not {}",
            assignment.function()
        )));
    }
    let (task,): (Task,) = codec::decode(&assignment.args()?)
        .map_err(|error| TaskError::Remote(format!("cannot read the arguments: {error}")))?;
    Ok(task)
}

/// How a worker's loops ended, once they all have.
enum LoopsEnded {
    /// The job is over, or the worker was asked to stop.
    Done,
    /// A loop's call to the queue failed (the others were then asked to
    /// stop): the first such error.
    QueueFailed(QueueError),
}

/// `workers` loops on the library's [`ThreadPoolExecutor`], sharing one
/// client (and its connections). Returns how the loops ended.
fn serve_on_threads(
    shared: &Arc<Shared>,
    config: &ClientConfig,
    workers: usize,
) -> Result<LoopsEnded, FetchError> {
    let client = Client::new(config.clone())?;
    let pool = ThreadPoolExecutor::with_name(workers, "worker");
    let loops = (0..workers)
        .map(|_| {
            let (shared, client) = (Arc::clone(shared), client.clone());
            pool.spawn(move || -> Result<(), QueueError> {
                let mut size = BatchSize::default();
                while let Some(taken) = shared.next_batch(size)? {
                    let started = Instant::now();
                    let mut done = Vec::with_capacity(taken.len());
                    let mut taken = taken.into_iter();
                    for assignment in taken.by_ref() {
                        let tried = fetch_task(&assignment).map(|task| {
                            client.check_price_tried(
                                &task.exchange,
                                &task.symbol,
                                &task.day.to_string(),
                            )
                        });
                        done.push(Done::of(assignment, tried));
                        if shared.stopping() {
                            break;
                        }
                    }
                    size.ran(done.len(), started.elapsed());
                    shared.end_batch(done, taken.collect())?;
                }
                Ok(())
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(FetchError::Workers)?;
    let mut ended = LoopsEnded::Done;
    for one in loops {
        shared.loop_ended(&mut ended, one.into_result().ok())?;
    }
    Ok(ended)
}

/// `workers` tokio tasks: the requests are async (one connection pool, no
/// thread per request); the queue's calls, which block, run on tokio's
/// blocking pool.
fn serve_async(
    shared: &Arc<Shared>,
    config: &ClientConfig,
    workers: usize,
) -> Result<LoopsEnded, FetchError> {
    let client = AsyncClient::new(config.clone())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(FetchError::Runtime)?;
    runtime.block_on(async {
        let mut loops = tokio::task::JoinSet::new();
        for _ in 0..workers {
            let (shared, client) = (Arc::clone(shared), client.clone());
            loops.spawn(async move {
                let mut size = BatchSize::default();
                loop {
                    let taker = Arc::clone(&shared);
                    let next = tokio::task::spawn_blocking(move || taker.next_batch(size))
                        .await
                        .expect("the queue does not panic")?;
                    let Some(taken) = next else {
                        return Ok(());
                    };
                    let started = Instant::now();
                    let mut done = Vec::with_capacity(taken.len());
                    let mut taken = taken.into_iter();
                    for assignment in taken.by_ref() {
                        let tried = match fetch_task(&assignment) {
                            Ok(task) => Ok(client
                                .check_price_tried(
                                    &task.exchange,
                                    &task.symbol,
                                    &task.day.to_string(),
                                )
                                .await),
                            Err(error) => Err(error),
                        };
                        done.push(Done::of(assignment, tried));
                        if shared.stopping() {
                            break;
                        }
                    }
                    size.ran(done.len(), started.elapsed());
                    let (ender, undone) = (Arc::clone(&shared), taken.collect());
                    tokio::task::spawn_blocking(move || ender.end_batch(done, undone))
                        .await
                        .expect("the queue does not panic")?;
                }
            });
        }
        let mut ended = LoopsEnded::Done;
        while let Some(one) = loops.join_next().await {
            shared.loop_ended(&mut ended, one.ok())?;
        }
        Ok(ended)
    })
}
