//! The fetch job beyond one machine: the tasks go to a queue on Redis
//! Streams, `crypto_db worker`s anywhere take them, and the answers come
//! back on a second queue.
//!
//! ```text
//! fetch (producer + sink)  --NAME-->           worker, worker, ... (any machine)
//!                          <--NAME:results--
//! ```
//!
//! Both sides stand on [`redis_queue::RedisQueue`]: a worker that dies
//! loses nothing (its tasks are taken over when their lease lapses), and
//! since that means a task may run twice, the producer keys the answers
//! by task and keeps the first: a redelivered task never makes a second
//! row. A task that no worker could run (buried in the dead-letter
//! stream) comes back as a failure, so a job always ends.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use concurrent::ThreadPoolExecutor;
use crossbeam_channel::Sender;
use prices::Price;
use redis_queue::{Delivery, JobSettings, QueueAddress, QueueError, QueueOptions, RedisQueue};

use super::runner::{Outcome, RemoteFailure, Runner};
use super::{ExecutorKind, FetchError, PoolRestart, Task, TaskFailure};
use crate::api::{AsyncClient, Client, ClientConfig};

/// A job's queue on Redis, as `fetch --queue` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedQueue {
    /// `redis://HOST:PORT/NAME`: the tasks go to `NAME`, the answers come
    /// back on `NAME:results`.
    pub address: QueueAddress,
    /// How long a worker may go silent before its tasks are given to
    /// others; workers renew it every third of it while they run.
    pub lease: Duration,
}

/// One task's answer, as it crosses back from a worker.
#[derive(serde::Serialize, serde::Deserialize)]
struct Answer {
    task: Task,
    result: Result<Option<Price>, RemoteFailure>,
    /// How long the request took in the worker, in microseconds.
    micros: u64,
}

/// The answers' queue of the job at `address`.
fn results_address(address: &QueueAddress) -> QueueAddress {
    address.with_name(&format!("{}:results", address.name()))
}

fn queue_error(address: &QueueAddress) -> impl Fn(QueueError) -> FetchError + '_ {
    move |source| FetchError::Queue {
        address: address.to_string(),
        source,
    }
}

/// At most this many tasks are in Redis at once (put and not yet
/// answered), so a job of millions does not fill Redis's memory.
const IN_REDIS: usize = 10_000;

/// Tasks are put in batches of this many, one round trip each.
const BATCH: usize = 500;

/// How often the producer looks for tasks buried in the dead-letter
/// stream.
const LOOK_FOR_BURIED: Duration = Duration::from_secs(1);

/// After this long with no answer while tasks wait unread, the producer
/// says that it is waiting for workers.
const NO_WORKER_AFTER: Duration = Duration::from_secs(10);

/// The producer's side: puts the tasks, takes the answers, and gives each
/// task's first answer to the sink.
pub(crate) struct OnRedis {
    queue: SharedQueue,
}

impl OnRedis {
    pub(crate) fn new(queue: SharedQueue) -> OnRedis {
        OnRedis { queue }
    }
}

impl Runner for OnRedis {
    fn run(
        &self,
        tasks: Vec<Task>,
        outcomes: Sender<Outcome>,
    ) -> Result<Vec<PoolRestart>, FetchError> {
        let address = &self.queue.address;
        let error = queue_error(address);
        let settings = JobSettings {
            lease: self.queue.lease,
            ..JobSettings::default()
        };
        let options = QueueOptions::default();
        let answers: RedisQueue<Answer> =
            RedisQueue::create(&results_address(address), settings, options).map_err(&error)?;
        let to_do: RedisQueue<Task> =
            RedisQueue::create(address, settings, options).map_err(&error)?;
        let mut unsent = VecDeque::from(tasks);
        // Put and not yet answered: an answer for a task not here is a
        // second answer for a redelivered task, and is dropped.
        let mut waiting: HashSet<Task> = HashSet::new();
        let mut buried_after = "0-0".to_owned();
        let mut last_answer = Instant::now();
        let mut said_waiting = false;
        let mut last_look = Instant::now();
        while !(unsent.is_empty() && waiting.is_empty()) {
            let room = IN_REDIS.saturating_sub(waiting.len()).min(BATCH);
            if room > 0 && !unsent.is_empty() {
                let batch: Vec<Task> = unsent.drain(..room.min(unsent.len())).collect();
                to_do.put_many(&batch).map_err(&error)?;
                waiting.extend(batch);
            }
            let finished = match answers.get_many(BATCH, Duration::from_millis(200)) {
                Ok(deliveries) => {
                    last_answer = Instant::now();
                    let mut stop = false;
                    for delivery in &deliveries {
                        let Answer {
                            task,
                            result,
                            micros,
                        } = &delivery.item;
                        if stop || !waiting.remove(task) {
                            continue;
                        }
                        let first = Outcome {
                            task: task.clone(),
                            result: result.clone().map_err(RemoteFailure::into_failure),
                            latency: Duration::from_micros(*micros),
                        };
                        stop = outcomes.send(first).is_err();
                    }
                    answers.task_done_all(&deliveries).map_err(&error)?;
                    stop
                }
                Err(QueueError::Empty) => {
                    if !said_waiting && last_answer.elapsed() >= NO_WORKER_AFTER {
                        let unread = to_do.qsize().map_err(&error)?;
                        if unread as usize == waiting.len() {
                            said_waiting = true;
                            tracing::warn!(
                                "no worker has taken a task of {address} for {} s: start some with `crypto_db worker --queue {address} --url SERVER`",
                                NO_WORKER_AFTER.as_secs()
                            );
                        }
                    }
                    false
                }
                Err(other) => return Err(error(other)),
            };
            // Tasks no worker could run come back as failures (looked for
            // once a second: a round trip per answer would cost more than
            // the answers).
            let mut stop = finished;
            if !stop && last_look.elapsed() >= LOOK_FOR_BURIED {
                last_look = Instant::now();
                stop = report_buried(&to_do, &mut buried_after, &mut waiting, &outcomes)
                    .map_err(&error)?;
            }
            if stop {
                // The sink stopped listening (a failed write, the server
                // gone): stop the workers too.
                to_do.shutdown(true).map_err(&error)?;
                return Ok(Vec::new());
            }
        }
        // The job is done: the workers may go, and the streams are
        // trimmed to nothing. A worker acknowledges a task just after
        // sending its answer: wait a moment for the last acks, so the
        // trim can take every entry (a worker that died in between
        // leaves its entry to the others, who trim as they leave).
        to_do.shutdown(false).map_err(&error)?;
        to_do.join_timeout(Duration::from_secs(5)).map_err(&error)?;
        to_do.trim().map_err(&error)?;
        answers.trim().map_err(&error)?;
        Ok(Vec::new())
    }
}

/// Sends a failure for each task buried since `after`; returns whether
/// the sink stopped listening.
fn report_buried(
    to_do: &RedisQueue<Task>,
    after: &mut String,
    waiting: &mut HashSet<Task>,
    outcomes: &Sender<Outcome>,
) -> Result<bool, QueueError> {
    for dead in to_do.dead_letters(after, 100)? {
        after.clone_from(&dead.id);
        let Ok(task) = dead.decode::<Task>() else {
            // Not one of ours (something else wrote to the stream).
            continue;
        };
        if waiting.remove(&task) {
            let failed = Outcome {
                task,
                result: Err(TaskFailure::Buried {
                    deliveries: dead.deliveries,
                    reason: dead.reason,
                }),
                latency: Duration::ZERO,
            };
            if outcomes.send(failed).is_err() {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// What a `crypto_db worker` is asked to do.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// The job's queue, `redis://HOST:PORT/NAME`.
    pub queue: QueueAddress,
    /// The price server, and how to talk to it.
    pub client: ClientConfig,
    /// Threads, or tokio tasks ([`ExecutorKind::Processes`] runs as
    /// threads: a worker process is already one of many).
    pub executor: ExecutorKind,
    /// How many tasks at a time.
    pub workers: usize,
}

/// What a worker did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WorkerReport {
    /// Tasks answered (a price, no price, or the request's failure).
    pub answered: usize,
    /// Of those, answered with a failure.
    pub failed: usize,
    /// Tasks taken and given back undone because the worker was stopped.
    pub released: usize,
}

/// What a worker's loops share: its two queues, the stop flag, and the
/// counts.
struct Shared {
    to_do: RedisQueue<Task>,
    answers: RedisQueue<Answer>,
    stop: Arc<AtomicBool>,
    answered: AtomicUsize,
    failed: AtomicUsize,
    released: AtomicUsize,
}

/// Serves the job at `options.queue` until it is over (the producer shut
/// it down once every task was answered) or `stop` is set (SIGTERM): then
/// each loop finishes the task it is running and gives back any it took
/// but had not started.
///
/// # Errors
///
/// [`FetchError::Queue`] when Redis stays away longer than the queue
/// waits for it, [`FetchError::Server`] if the client cannot be built,
/// [`FetchError::Workers`]/[`FetchError::Runtime`] if the loops cannot
/// start.
pub fn work(options: &WorkerOptions, stop: Arc<AtomicBool>) -> Result<WorkerReport, FetchError> {
    let error = queue_error(&options.queue);
    let queue_options = QueueOptions::default();
    let shared = Arc::new(Shared {
        to_do: RedisQueue::open(&options.queue, queue_options).map_err(&error)?,
        answers: RedisQueue::open(&results_address(&options.queue), queue_options)
            .map_err(&error)?,
        stop,
        answered: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        released: AtomicUsize::new(0),
    });
    let workers = options.workers.max(1);
    let ended = match options.executor {
        ExecutorKind::Async => serve_async(&shared, &options.client, workers)?,
        ExecutorKind::Threads | ExecutorKind::Processes => {
            serve_on_threads(&shared, &options.client, workers)?
        }
    };
    ended.map_err(&error)?;
    Ok(WorkerReport {
        answered: shared.answered.load(Ordering::Relaxed),
        failed: shared.failed.load(Ordering::Relaxed),
        released: shared.released.load(Ordering::Relaxed),
    })
}

/// How often a waiting loop looks at the stop flag.
const LOOK_AT_STOP: Duration = Duration::from_millis(200);

impl Shared {
    /// Takes the next task, or `None` when the loop should end: stopped
    /// (a task taken meanwhile is given back), or the job over.
    fn next_task(&self) -> Result<Option<Delivery<Task>>, QueueError> {
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return Ok(None);
            }
            match self.to_do.get_timeout(LOOK_AT_STOP) {
                Ok(delivery) if self.stop.load(Ordering::Relaxed) => {
                    self.to_do.release(&delivery)?;
                    self.released.fetch_add(1, Ordering::Relaxed);
                    return Ok(None);
                }
                Ok(delivery) => return Ok(Some(delivery)),
                Err(QueueError::Empty) => continue,
                Err(QueueError::ShutDown) => return Ok(None),
                Err(other) => return Err(other),
            }
        }
    }

    /// Notes how one loop ended (`None`: it panicked, a bug) in `ended`,
    /// the worker's end: a loop that lost Redis stops the others.
    fn loop_ended(
        &self,
        ended: &mut Result<(), QueueError>,
        one: Option<Result<(), QueueError>>,
    ) -> Result<(), FetchError> {
        match one {
            None => Err(FetchError::WorkerPanicked),
            Some(Ok(())) => Ok(()),
            Some(Err(error)) => {
                self.stop.store(true, Ordering::Relaxed);
                *ended = Err(error);
                Ok(())
            }
        }
    }

    /// Sends a task's answer, then marks the task done: in that order, so
    /// a worker killed between the two leaves a task that runs again (and
    /// a second answer, which the producer drops), never a task with no
    /// answer.
    fn answer(
        &self,
        delivery: &Delivery<Task>,
        result: Result<Option<Price>, RemoteFailure>,
        took: Duration,
    ) -> Result<(), QueueError> {
        let failed = result.is_err();
        let sent = self.answers.put(&Answer {
            task: delivery.item.clone(),
            result,
            micros: u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
        });
        match sent {
            Ok(_) => {}
            // The producer closed the job (it stopped early): nobody
            // wants the answer.
            Err(QueueError::ShutDown) => return Ok(()),
            Err(other) => return Err(other),
        }
        self.to_do.task_done(delivery)?;
        self.answered.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// `workers` loops on the library's [`ThreadPoolExecutor`], sharing one
/// client (and its connections). Returns how the loops ended: the first
/// queue error, if any.
fn serve_on_threads(
    shared: &Arc<Shared>,
    config: &ClientConfig,
    workers: usize,
) -> Result<Result<(), QueueError>, FetchError> {
    let client = Client::new(config.clone())?;
    let pool = ThreadPoolExecutor::with_name(workers, "worker");
    let loops = (0..workers)
        .map(|_| {
            let (shared, client) = (Arc::clone(shared), client.clone());
            pool.spawn(move || -> Result<(), QueueError> {
                while let Some(delivery) = shared.next_task()? {
                    let task = &delivery.item;
                    let started = Instant::now();
                    let result = client
                        .check_price(&task.exchange, &task.symbol, &task.day.to_string())
                        .map_err(|error| RemoteFailure::from(&error));
                    shared.answer(&delivery, result, started.elapsed())?;
                }
                Ok(())
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(FetchError::Workers)?;
    let mut ended = Ok(());
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
) -> Result<Result<(), QueueError>, FetchError> {
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
                loop {
                    let taker = Arc::clone(&shared);
                    let next = tokio::task::spawn_blocking(move || taker.next_task())
                        .await
                        .expect("the queue does not panic")?;
                    let Some(delivery) = next else {
                        return Ok(());
                    };
                    let task = &delivery.item;
                    let started = Instant::now();
                    let result = client
                        .check_price(&task.exchange, &task.symbol, &task.day.to_string())
                        .await
                        .map_err(|error| RemoteFailure::from(&error));
                    let took = started.elapsed();
                    let answerer = Arc::clone(&shared);
                    tokio::task::spawn_blocking(move || answerer.answer(&delivery, result, took))
                        .await
                        .expect("the queue does not panic")?;
                }
            });
        }
        let mut ended = Ok(());
        while let Some(one) = loops.join_next().await {
            shared.loop_ended(&mut ended, one.ok())?;
        }
        Ok(ended)
    })
}
