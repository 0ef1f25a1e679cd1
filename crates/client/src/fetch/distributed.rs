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
//!
//! The producer is the one that knows the job, so it is the one that
//! keeps it whole:
//! - **One producer per job**: creating the queues takes their producer
//!   lock; a second `fetch` on the same name is refused, naming the first.
//! - **Only this job's answers**: each task carries the job's token (made
//!   at the start), and its answer carries it back. An answer without it
//!   (left from an earlier job of the same name, or added by hand) is
//!   dropped, and said. Redis's access control is what keeps strangers
//!   out; the token keeps stale and stray answers out.
//! - **A Redis that forgot everything** (restarted without persistence):
//!   the producer finds its queues gone (looked for once a second), puts
//!   them back, and puts every task without an answer again; the workers
//!   wait for the job to come back meanwhile.
//! - **Nothing left behind**: at the end both streams are deleted, and
//!   the flags, settings and dead letters expire an hour later (a worker
//!   that was paused still learns, meanwhile, that the job is over).

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use concurrent::ThreadPoolExecutor;
use crossbeam_channel::Sender;
use prices::Price;
use redis_queue::{Delivery, JobSettings, QueueAddress, QueueError, QueueOptions, RedisQueue};

use super::runner::{Outcome, Runner};
use super::{FetchError, PoolRestart, RunOn, Task, TaskFailure};
use crate::api::{AsyncClient, Client, ClientConfig, ClientError};

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

impl SharedQueue {
    /// The lease when none is asked for: a minute.
    pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);
}

/// One task as it crosses to a worker: with the token of the job that
/// put it, which its answer carries back.
#[derive(serde::Serialize, serde::Deserialize)]
struct Ticket {
    job: String,
    task: Task,
}

/// One task's answer, as it crosses back from a worker.
#[derive(serde::Serialize, serde::Deserialize)]
struct Answer {
    /// The token of the job whose ticket this answers.
    job: String,
    task: Task,
    result: Result<Option<Price>, ClientError>,
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
/// stream, and whether Redis lost the job.
const LOOK_AROUND: Duration = Duration::from_secs(1);

/// After this long with no answer while tasks wait unread, the producer
/// says that it is waiting for workers.
const NO_WORKER_AFTER: Duration = Duration::from_secs(10);

/// How long a finished job's flags, settings and dead letters stay.
const AFTER_THE_END: Duration = Duration::from_secs(3600);

/// A token no other job shares: random, with the time and process id
/// mixed in.
fn job_token() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() as u64);
    format!(
        "{:016x}",
        fastrand::u64(..) ^ nanos.rotate_left(17) ^ u64::from(std::process::id())
    )
}

/// The producer's side: puts the tasks, takes the answers, and gives each
/// task's first answer to the sink.
pub(crate) struct OnRedis {
    queue: SharedQueue,
    /// The job's two queues, made when the runner is: Redis out of reach,
    /// a wrong password or certificate, or another producer on the name,
    /// is said before the output is opened (and an old file there
    /// touched).
    queues: std::sync::Mutex<Option<(RedisQueue<Ticket>, RedisQueue<Answer>)>>,
}

impl OnRedis {
    /// Starts the job on Redis: takes its queues' producer locks.
    ///
    /// # Errors
    ///
    /// [`FetchError::Queue`] when Redis cannot be reached or refuses, or
    /// another producer runs a job of that name.
    pub(crate) fn connect(queue: SharedQueue) -> Result<OnRedis, FetchError> {
        let (address, error) = (&queue.address, queue_error(&queue.address));
        let settings = JobSettings {
            lease: queue.lease,
            ..JobSettings::default()
        };
        let options = QueueOptions::default();
        let answers: RedisQueue<Answer> =
            RedisQueue::create(&results_address(address), settings, options).map_err(&error)?;
        let to_do: RedisQueue<Ticket> =
            RedisQueue::create(address, settings, options).map_err(error)?;
        let queues = std::sync::Mutex::new(Some((to_do, answers)));
        Ok(OnRedis { queue, queues })
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
        let (to_do, answers) = self
            .queues
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
            .expect("a Redis runner runs one job");
        let mut producer = Producer {
            address,
            to_do,
            answers,
            job: job_token(),
            unsent: VecDeque::from(tasks),
            waiting: HashSet::new(),
            buried_after: "0-0".to_owned(),
            last_answer: Instant::now(),
            said_waiting: false,
            last_look: Instant::now(),
            strays: 0,
        };
        let ran = producer.run(&outcomes).map_err(&error);
        if producer.strays > 0 {
            tracing::warn!(
                "dropped {} answers that no task of this job asked for (left from an earlier job named {}, or added by hand)",
                producer.strays,
                address.name()
            );
        }
        ran?;
        Ok(Vec::new())
    }
}

/// One run of the producer: what it put, what it waits for.
struct Producer<'a> {
    address: &'a QueueAddress,
    to_do: RedisQueue<Ticket>,
    answers: RedisQueue<Answer>,
    /// This job's token, on every ticket.
    job: String,
    /// Not put yet.
    unsent: VecDeque<Task>,
    /// Put and not yet answered: an answer for a task not here is a
    /// second answer for a redelivered task, and is dropped.
    waiting: HashSet<Task>,
    buried_after: String,
    last_answer: Instant,
    said_waiting: bool,
    last_look: Instant,
    /// Answers dropped because they carried another job's token.
    strays: usize,
}

impl Producer<'_> {
    /// Runs the job to its end (every task answered, or the sink stopped
    /// listening), then ends it for every process.
    fn run(&mut self, outcomes: &Sender<Outcome>) -> Result<(), QueueError> {
        while !(self.unsent.is_empty() && self.waiting.is_empty()) {
            self.put_some()?;
            let mut stop = self.take_answers(outcomes)?;
            // Tasks no worker could run come back as failures, and a
            // Redis that lost the job is found out (looked for once a
            // second: a round trip per answer would cost more than the
            // answers).
            if !stop && self.last_look.elapsed() >= LOOK_AROUND {
                self.last_look = Instant::now();
                self.restore_if_lost()?;
                stop = self.report_buried(outcomes)?;
            }
            if stop {
                // The sink stopped listening (a failed write, the server
                // gone): stop the workers too.
                self.to_do.shutdown(true)?;
                return self.finish();
            }
        }
        // Every task is answered: the workers may go. A worker
        // acknowledges a task just after sending its answer: wait a
        // moment for the last acks before the streams are deleted.
        self.to_do.shutdown(false)?;
        self.to_do.join_timeout(Duration::from_secs(5))?;
        self.finish()
    }

    /// Deletes both streams; the rest expires after [`AFTER_THE_END`].
    fn finish(&self) -> Result<(), QueueError> {
        self.to_do.finish(AFTER_THE_END)?;
        self.answers.finish(AFTER_THE_END)
    }

    /// Puts the next batch, if there is room in Redis.
    fn put_some(&mut self) -> Result<(), QueueError> {
        let room = IN_REDIS.saturating_sub(self.waiting.len()).min(BATCH);
        if room == 0 || self.unsent.is_empty() {
            return Ok(());
        }
        let batch: Vec<Task> = self.unsent.drain(..room.min(self.unsent.len())).collect();
        let tickets = self.tickets(batch.iter());
        self.waiting.extend(batch);
        match self.to_do.put_many(&tickets) {
            // Redis lost the job since the last look: put it back, and
            // with it every task waiting, this batch among them.
            Err(QueueError::Gone) => {
                if !self.restore_if_lost()? {
                    self.to_do.put_many(&tickets)?;
                }
                Ok(())
            }
            other => other.map(drop),
        }
    }

    fn tickets<'t>(&self, tasks: impl Iterator<Item = &'t Task>) -> Vec<Ticket> {
        tasks
            .map(|task| Ticket {
                job: self.job.clone(),
                task: task.clone(),
            })
            .collect()
    }

    /// Takes the answers that came (waiting a moment for one), and gives
    /// each task's first to the sink; returns whether the sink stopped
    /// listening.
    fn take_answers(&mut self, outcomes: &Sender<Outcome>) -> Result<bool, QueueError> {
        let deliveries = match self.answers.get_many(BATCH, Duration::from_millis(200)) {
            Ok(deliveries) => deliveries,
            Err(QueueError::Empty) => {
                self.say_if_no_worker()?;
                return Ok(false);
            }
            Err(other) => return Err(other),
        };
        self.last_answer = Instant::now();
        let mut stop = false;
        for delivery in &deliveries {
            let Answer {
                job,
                task,
                result,
                micros,
            } = &delivery.item;
            if *job != self.job {
                self.strays += 1;
                continue;
            }
            if stop || !self.waiting.remove(task) {
                continue;
            }
            let first = Outcome {
                task: task.clone(),
                result: result.clone().map_err(TaskFailure::from),
                latency: Duration::from_micros(*micros),
            };
            stop = outcomes.send(first).is_err();
        }
        self.answers.task_done_all(&deliveries)?;
        Ok(stop)
    }

    /// Says, once, that tasks wait and no worker takes them.
    fn say_if_no_worker(&mut self) -> Result<(), QueueError> {
        if self.said_waiting || self.last_answer.elapsed() < NO_WORKER_AFTER {
            return Ok(());
        }
        let unread = self.to_do.qsize()?;
        if unread as usize == self.waiting.len() {
            self.said_waiting = true;
            let address = self.address;
            tracing::warn!(
                "no worker has taken a task of {address} for {} s: start some with `crypto_db worker --queue {address} --url SERVER`",
                NO_WORKER_AFTER.as_secs()
            );
        }
        Ok(())
    }

    /// When Redis lost the job (a restart without persistence), puts it
    /// back and every task without an answer again; returns whether it
    /// did.
    fn restore_if_lost(&mut self) -> Result<bool, QueueError> {
        let lost_tasks = self.to_do.restore_if_lost()?;
        let lost_answers = self.answers.restore_if_lost()?;
        if !(lost_tasks || lost_answers) {
            return Ok(false);
        }
        tracing::warn!(
            "Redis lost the job {} (restarted without persistence?): its queues are back, and its {} tasks without an answer are put again",
            self.address,
            self.waiting.len()
        );
        let waiting: Vec<Task> = self.waiting.iter().cloned().collect();
        for batch in waiting.chunks(BATCH) {
            self.to_do.put_many(&self.tickets(batch.iter()))?;
        }
        self.buried_after = "0-0".to_owned();
        self.last_answer = Instant::now();
        self.said_waiting = false;
        Ok(true)
    }

    /// Sends a failure for each task buried since the last look; returns
    /// whether the sink stopped listening.
    fn report_buried(&mut self, outcomes: &Sender<Outcome>) -> Result<bool, QueueError> {
        for dead in self.to_do.dead_letters(&self.buried_after, 100)? {
            self.buried_after.clone_from(&dead.id);
            let Ok(ticket) = dead.decode::<Ticket>() else {
                // Not one of ours (something else wrote to the stream).
                continue;
            };
            if ticket.job == self.job && self.waiting.remove(&ticket.task) {
                let failed = Outcome {
                    task: ticket.task,
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

/// What a worker's loops share: its two queues, the stop flag, and the
/// counts.
struct Shared {
    to_do: RedisQueue<Ticket>,
    answers: RedisQueue<Answer>,
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
    let serving = AtomicBool::new(true);
    let ended = std::thread::scope(|scope| {
        // A stop request ends any wait for Redis: the loops' next call
        // fails at once instead of waiting out an outage of minutes.
        scope.spawn(|| {
            while serving.load(Ordering::Relaxed) {
                if shared.stop.load(Ordering::Relaxed) {
                    shared.to_do.stop_waiting();
                    shared.answers.stop_waiting();
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
            shared.to_do.holding()
        } else {
            0
        },
        stopped_in_outage,
        lease: shared.to_do.settings().lease,
    })
}

/// How often a waiting loop looks at the stop flag.
const LOOK_AT_STOP: Duration = Duration::from_millis(200);

impl Shared {
    /// Takes the next task, or `None` when the loop should end: stopped
    /// (a task taken meanwhile is given back), or the job over.
    fn next_task(&self) -> Result<Option<Delivery<Ticket>>, QueueError> {
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

    /// Sends a task's answer, then marks the task done: in that order, so
    /// a worker killed between the two leaves a task that runs again (and
    /// a second answer, which the producer drops), never a task with no
    /// answer.
    fn answer(
        &self,
        delivery: &Delivery<Ticket>,
        result: Result<Option<Price>, ClientError>,
        took: Duration,
    ) -> Result<(), QueueError> {
        let failed = result.is_err();
        let Ticket { job, task } = &delivery.item;
        let sent = self.answers.put(&Answer {
            job: job.clone(),
            task: task.clone(),
            result,
            micros: u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
        });
        match sent {
            Ok(_) => {}
            // The producer closed the job (it stopped early): nobody
            // wants the answer.
            Err(QueueError::ShutDown) => return Ok(()),
            // The job is gone: it ended, or Redis lost it, and then its
            // producer puts this task again when it puts the job back.
            Err(QueueError::Gone) => {
                tracing::debug!(
                    "the answer to {}/{}/{} is dropped: its job's queue is gone",
                    task.exchange,
                    task.symbol,
                    task.day
                );
                return Ok(());
            }
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
                while let Some(delivery) = shared.next_task()? {
                    let task = &delivery.item.task;
                    let started = Instant::now();
                    let result =
                        client.check_price(&task.exchange, &task.symbol, &task.day.to_string());
                    shared.answer(&delivery, result, started.elapsed())?;
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
                loop {
                    let taker = Arc::clone(&shared);
                    let next = tokio::task::spawn_blocking(move || taker.next_task())
                        .await
                        .expect("the queue does not panic")?;
                    let Some(delivery) = next else {
                        return Ok(());
                    };
                    let task = &delivery.item.task;
                    let started = Instant::now();
                    let result = client
                        .check_price(&task.exchange, &task.symbol, &task.day.to_string())
                        .await;
                    let took = started.elapsed();
                    let answerer = Arc::clone(&shared);
                    tokio::task::spawn_blocking(move || answerer.answer(&delivery, result, took))
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
