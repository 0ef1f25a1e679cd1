//! The bulk fetch job: the lessons' producer/consumer (every exchange x
//! symbol x day, a pool of workers pulling tasks off a queue) made into a
//! tool: bounded memory, retries, progress, output that survives a crash,
//! and `--resume`.
//!
//! The shape is the lesson's, on our own library:
//!
//! ```text
//! producer thread --tasks--> Queue (bounded) --> N workers --results--> writer (this thread)
//! ```
//!
//! The task queue is bounded (twice the workers), so a range of years
//! never builds a huge queue in memory: the producer simply waits. Workers
//! are threads of a [`ThreadPoolExecutor`], or tokio tasks under a
//! concurrency limit with `Executor::Async`; both feed the same writer, so
//! the output is identical.

pub mod lesson;
pub mod output;
pub mod sweep;

use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use concurrent::{Executor, ProcessPoolExecutor, Queue, ThreadPoolExecutor};
use prices::{Day, Price};

use crate::api::{AsyncClient, Client, ClientConfig, ClientError};
pub use output::Format;

/// Which exchanges or symbols to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Everything the server lists.
    All,
    /// These names (each checked against the server's list).
    Only(Vec<String>),
}

/// How the requests are run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutorKind {
    /// A [`ThreadPoolExecutor`] of `workers` threads, as in the lesson.
    Threads,
    /// A [`ProcessPoolExecutor`] of `workers` processes (the program must
    /// call `concurrent::serve_if_worker()` first in `main`).
    Processes,
    /// tokio tasks, at most `workers` requests at a time.
    Async,
}

/// Everything `crypto_db fetch` is asked to do.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// The server and how to talk to it.
    pub client: ClientConfig,
    /// Which exchanges.
    pub exchanges: Selection,
    /// Which symbols.
    pub symbols: Selection,
    /// The first day.
    pub start: Day,
    /// The last day (included).
    pub end: Day,
    /// How many requests at a time.
    pub workers: usize,
    /// How they are run.
    pub executor: ExecutorKind,
    /// Fetch each exchange x symbol with the range API (`/prices`, a
    /// request per 1,000 days) instead of a request per day; `workers`
    /// ranges at a time on threads. The output is the same.
    pub range: bool,
    /// Where the records go; `None` collects them for the caller to print.
    pub output: Option<PathBuf>,
    /// Keep the records already in `output` and fetch only the rest.
    pub resume: bool,
    /// Fetch only this many tasks, drawn reproducibly from the plan.
    pub sample: Option<usize>,
}

impl FetchOptions {
    /// The lesson's job: every exchange and symbol of the server at
    /// `base_url`, March 2020, 32 workers on threads.
    pub fn lesson(base_url: &str) -> FetchOptions {
        FetchOptions {
            client: ClientConfig::new(base_url),
            exchanges: Selection::All,
            symbols: Selection::All,
            start: Day::parse("2020-03-01").expect("a valid day"),
            end: Day::parse("2020-03-31").expect("a valid day"),
            workers: 32,
            executor: ExecutorKind::Threads,
            range: false,
            output: None,
            resume: false,
            sample: None,
        }
    }
}

/// One price to fetch.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Task {
    /// The exchange.
    pub exchange: String,
    /// The symbol.
    pub symbol: String,
    /// The day.
    pub day: Day,
}

/// One fetched price: the task, and the price or `None` (no price that day).
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// What was asked.
    pub task: Task,
    /// What the server answered.
    pub price: Option<Price>,
}

/// Why one task has no price, after its retries.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TaskFailure {
    /// The request failed.
    #[error(transparent)]
    Request(#[from] ClientError),
    /// The request failed in a worker process (`--executor processes`),
    /// which said why.
    #[error("{message}")]
    InWorker {
        /// The worker's [`ClientError`], as text.
        message: String,
        /// Whether the server gave no answer at all
        /// ([`ClientError::is_no_answer`]).
        no_answer: bool,
    },
    /// The worker process running it failed: it died, or the pool broke.
    #[error("worker process")]
    Worker(#[source] concurrent::TaskError),
}

impl TaskFailure {
    /// Whether the server gave no answer at all (refused, reset, timed
    /// out): what stops a job whose server is gone.
    pub fn is_no_answer(&self) -> bool {
        match self {
            TaskFailure::Request(error) => error.is_no_answer(),
            TaskFailure::InWorker { no_answer, .. } => *no_answer,
            TaskFailure::Worker(_) => false,
        }
    }
}

/// A failed request as it crosses back from a worker process: the client's
/// error is an HTTP concern and does not cross; what the parent needs of
/// it does.
#[derive(serde::Serialize, serde::Deserialize)]
struct RemoteFailure {
    message: String,
    no_answer: bool,
}

impl From<&ClientError> for RemoteFailure {
    fn from(error: &ClientError) -> RemoteFailure {
        RemoteFailure {
            message: error.to_string(),
            no_answer: error.is_no_answer(),
        }
    }
}

/// Why the job could not run (nothing, or nothing more, was fetched).
///
/// The first variants are the request's fault (the user must change it),
/// the others the machine's; [`FetchError::is_bad_input`] tells them apart.
/// Each carries what went wrong with it, and its cause as its `source()`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// Names the server does not have.
    #[error("unknown {kind}{} {}; the server has: {}", if names.len() > 1 { "s" } else { "" }, names.join(", "), known.join(", "))]
    UnknownNames {
        /// `exchange` or `symbol`.
        kind: &'static str,
        /// The names asked for that the server does not have.
        names: Vec<String>,
        /// The server's list.
        known: Vec<String>,
    },
    /// The first day is after the last.
    #[error("--start {start} is after --end {end}")]
    EmptyRange {
        /// The first day asked for.
        start: Day,
        /// The last day asked for.
        end: Day,
    },
    /// A file name whose extension says no format we write.
    #[error("{}: {expected}", path.display())]
    UnknownExtension {
        /// The file asked for.
        path: PathBuf,
        /// What it should end with.
        expected: &'static str,
    },
    /// Another run is writing the same output.
    #[error("{} is writing {}; wait for it to finish, or stop it and use --resume", holder.map_or_else(|| "another crypto_db fetch".to_owned(), |pid| format!("another crypto_db fetch (process {pid})")), path.display())]
    Locked {
        /// The output.
        path: PathBuf,
        /// The process holding it, when it said.
        holder: Option<u32>,
    },
    /// The server could not be asked for its lists.
    #[error(transparent)]
    Server(#[from] ClientError),
    /// A file cannot be written (the output, its lock, a plot).
    #[error("cannot write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The output of an earlier run cannot be read (`--resume`).
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A plot cannot be drawn.
    #[error("cannot draw {}", path.display())]
    Plot {
        /// The file.
        path: PathBuf,
        /// Why (the plotting library's error).
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The workers could not be started.
    #[error("cannot start the workers")]
    Workers(#[source] concurrent::TaskError),
    /// The async runtime could not be started.
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    /// A worker thread of the job panicked (a bug).
    #[error("a fetch worker panicked")]
    WorkerPanicked,
}

impl FetchError {
    /// Whether the request itself is wrong (a name, a range, a file name,
    /// a file in use): what the user must change, rather than a failure.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            FetchError::UnknownNames { .. }
                | FetchError::EmptyRange { .. }
                | FetchError::UnknownExtension { .. }
                | FetchError::Locked { .. }
        )
    }
}

/// What a run did.
#[derive(Debug, Default)]
pub struct FetchReport {
    /// Every record, sorted by (exchange, symbol, day): those kept from an
    /// earlier run and those fetched now.
    pub records: Vec<Record>,
    /// How many tasks were fetched in this run.
    pub fetched: usize,
    /// How many records were kept from an earlier run (`--resume`).
    pub resumed: usize,
    /// Tasks that still failed after their retries, with why.
    pub failures: Vec<(Task, TaskFailure)>,
    /// How long each request of this run took (retries included), in the
    /// order they finished.
    pub latencies: Vec<Duration>,
    /// The wall time of the fetching, from the first request to the last
    /// answer.
    pub elapsed: Duration,
    /// Set when the job stopped early because the server could not be
    /// reached: that many tasks in a row got no answer (refused, reset,
    /// timed out), the last with `error`. What was fetched is kept; `--resume` finishes the rest.
    pub gave_up: Option<GaveUp>,
    /// Set when the final sorted copy could not be written (a full disk):
    /// the file that holds every record, in arrival order, and why.
    pub unsorted: Option<(PathBuf, FetchError)>,
}

/// Why a job stopped before its end: the server is gone.
#[derive(Debug, Clone)]
pub struct GaveUp {
    /// How many requests in a row could not reach the server.
    pub in_a_row: usize,
    /// The last of their errors.
    pub error: TaskFailure,
    /// Tasks never tried.
    pub untried: usize,
}

/// How many tasks in a row must get no answer from the server (each after
/// its retries, which the client cuts short once the server has been
/// silent for [`crate::GIVE_UP_AFTER_SILENCES`] requests) before the job
/// stops: twice the workers, so every worker
/// has failed about twice, and at least 16, so one unlucky moment of a
/// flaky server does not end a job.
fn unreachable_limit(workers: usize) -> usize {
    (2 * workers).max(16)
}

/// Hears of the job's progress (a progress bar, a log, a test).
pub trait Progress: Sync {
    /// The job starts with `total` tasks to fetch.
    fn start(&self, total: usize) {
        let _ = total;
    }
    /// One task ended; `failed` if it failed after its retries.
    fn advance(&self, failed: bool) {
        let _ = failed;
    }
}

/// No progress reporting.
pub struct Silent;

impl Progress for Silent {}

/// Every task of the job, in the lesson's order (exchange, then day, then
/// symbol), after checking the names against the server's lists.
///
/// # Errors
///
/// [`FetchError::UnknownNames`] or [`FetchError::EmptyRange`] for a job
/// that cannot be, [`FetchError::Server`] if the server cannot be asked.
pub fn plan(client: &Client, options: &FetchOptions) -> Result<Vec<Task>, FetchError> {
    if options.start > options.end {
        return Err(FetchError::EmptyRange {
            start: options.start,
            end: options.end,
        });
    }
    let exchanges = resolve("exchange", &options.exchanges, || client.exchanges())?;
    let symbols = resolve("symbol", &options.symbols, || client.symbols())?;
    let days: Vec<Day> = options.start.through(options.end).collect();
    let mut tasks = Vec::with_capacity(exchanges.len() * symbols.len() * days.len());
    for exchange in &exchanges {
        for day in &days {
            for symbol in &symbols {
                tasks.push(Task {
                    exchange: exchange.clone(),
                    symbol: symbol.clone(),
                    day: *day,
                });
            }
        }
    }
    if let Some(sample) = options.sample {
        // The same seed every run, so that a sweep compares like with like.
        let mut rng = fastrand::Rng::with_seed(7);
        rng.shuffle(&mut tasks);
        tasks.truncate(sample);
        tasks.sort();
    }
    Ok(tasks)
}

fn resolve(
    kind: &'static str,
    selection: &Selection,
    known: impl FnOnce() -> Result<Vec<String>, ClientError>,
) -> Result<Vec<String>, FetchError> {
    let known = known()?;
    match selection {
        Selection::All => Ok(known),
        Selection::Only(names) => {
            let unknown: Vec<String> = names
                .iter()
                .filter(|n| !known.contains(n))
                .cloned()
                .collect();
            if unknown.is_empty() {
                Ok(names.clone())
            } else {
                Err(FetchError::UnknownNames {
                    kind,
                    names: unknown,
                    known,
                })
            }
        }
    }
}

/// Runs the whole job: plans it, keeps what `--resume` finds, fetches the
/// rest, writes the output, and reports.
///
/// # Errors
///
/// [`FetchError`] when the job cannot run at all. Tasks that fail one by
/// one do not stop it: they are listed in [`FetchReport::failures`].
pub fn run(options: &FetchOptions, progress: &dyn Progress) -> Result<FetchReport, FetchError> {
    let format = options.output.as_deref().map(Format::of).transpose()?;
    let client = Client::new(options.client.clone())?;
    let mut tasks = plan(&client, options)?;

    // Before reading anything back (`--resume`) or writing: one run per file.
    let _lock = options
        .output
        .as_deref()
        .map(output::OutputLock::take)
        .transpose()?;
    let mut existing = output::Existing::default();
    if let (Some(path), Some(format), true) = (&options.output, format, options.resume) {
        existing = output::read_existing(path, format)?;
        let wanted: HashSet<&Task> = tasks.iter().collect();
        let mut seen = HashSet::new();
        // Only records of this job, each once.
        existing.retain(|record| wanted.contains(&record.task) && seen.insert(record.task.clone()));
        tasks.retain(|task| !seen.contains(task));
    }
    let mut appender = match (&options.output, format) {
        (Some(path), Some(format)) => Some(output::Appender::start(path, format, &existing)?),
        _ => None,
    };
    let kept = existing.records;

    let mut report = FetchReport {
        resumed: kept.len(),
        ..FetchReport::default()
    };
    let mut records = kept;
    progress.start(tasks.len());
    let total = tasks.len();
    let (results_tx, results) = crossbeam_channel::unbounded::<Fetched>();
    let started = Instant::now();
    let workers = options.workers.max(1);

    std::thread::scope(|scope| -> Result<(), FetchError> {
        let fetching = match options.executor {
            _ if options.range => {
                scope.spawn(move || fetch_ranges(client, tasks, workers, results_tx))
            }
            ExecutorKind::Threads => {
                scope.spawn(move || fetch_with_threads(client, tasks, workers, results_tx))
            }
            ExecutorKind::Processes => {
                scope.spawn(move || fetch_with_processes(options, tasks, workers, results_tx))
            }
            ExecutorKind::Async => {
                scope.spawn(move || fetch_async(options, tasks, workers, results_tx))
            }
        };
        // The writer: this thread, so output order is one place's concern.
        // Should writing fail (a full disk), returning drops `results`, and
        // the workers, finding nobody listening, stop.
        let results = results;
        let limit = unreachable_limit(workers);
        let mut unreachable_in_a_row = 0;
        for (task, result, latency) in results.iter().take(total) {
            report.latencies.push(latency);
            match &result {
                Err(error) if error.is_no_answer() => unreachable_in_a_row += 1,
                _ => unreachable_in_a_row = 0,
            }
            match result {
                Ok(price) => {
                    let record = Record { task, price };
                    if let Some(appender) = appender.as_mut() {
                        appender.append(&record)?;
                    }
                    records.push(record);
                    report.fetched += 1;
                    progress.advance(false);
                }
                Err(error) => {
                    report.failures.push((task, error.clone()));
                    progress.advance(true);
                    if unreachable_in_a_row >= limit {
                        // The server is gone: stop (dropping `results`
                        // stops the workers) rather than fail every task
                        // that is left, one timeout at a time.
                        let done = report.fetched + report.failures.len();
                        report.gave_up = Some(GaveUp {
                            in_a_row: unreachable_in_a_row,
                            error,
                            untried: total - done,
                        });
                        break;
                    }
                }
            }
        }
        // Hang up before waiting: workers still busy (after a stop) find
        // nobody listening and end.
        drop(results);
        fetching.join().map_err(|_| FetchError::WorkerPanicked)?
    })?;
    report.elapsed = started.elapsed();

    records.sort_by(|a, b| a.task.cmp(&b.task));
    report.failures.sort_by(|a, b| a.0.cmp(&b.0));
    if let (Some(path), Some(format)) = (&options.output, format)
        && let Err(error) = output::finish(path, format, &records)
    {
        // Every record is already in the file (or the journal), in the
        // order it came: valid, complete, and resumable in place. Only
        // the sorted copy could not be written.
        let holding = match format {
            output::Format::Json => output::journal_path(path),
            _ => path.clone(),
        };
        report.unsorted = Some((holding, error));
    }
    report.records = records;
    Ok(report)
}

/// The same job through the range API: the tasks grouped by exchange and
/// symbol, each group one `/prices` query (a request per 1,000 days) on a
/// pool of `workers` threads; each task then gets its day's row, or `None`
/// for a day without one, as `/price` would have said. A range that fails
/// fails every task of its group, with the same error. Each task reports
/// its range's time as its latency.
fn fetch_ranges(
    client: Client,
    tasks: Vec<Task>,
    workers: usize,
    results: ResultSender,
) -> Result<(), FetchError> {
    let mut groups: std::collections::BTreeMap<(String, String), Vec<Task>> = Default::default();
    for task in tasks {
        groups
            .entry((task.exchange.clone(), task.symbol.clone()))
            .or_default()
            .push(task);
    }
    let pool = ThreadPoolExecutor::with_name(workers, "fetch-range");
    for ((exchange, symbol), group) in groups {
        let (client, results) = (client.clone(), results.clone());
        let submitted = pool.spawn(move || {
            let first = group.iter().map(|task| task.day).min();
            let last = group.iter().map(|task| task.day).max();
            let (Some(first), Some(last)) = (first, last) else {
                return;
            };
            let started = Instant::now();
            let fetched = client.prices_range(&exchange, &symbol, first, last);
            let latency = started.elapsed();
            let mut by_day: std::collections::HashMap<String, Price> = match &fetched {
                Ok(prices) => prices.iter().map(|p| (p.day.clone(), p.clone())).collect(),
                Err(_) => Default::default(),
            };
            for task in group {
                let result = match &fetched {
                    Ok(_) => Ok(by_day.remove(&task.day.to_string())),
                    Err(error) => Err(error.clone()),
                };
                // The writer has stopped (a failed write): so do we.
                if results
                    .send((task, result.map_err(TaskFailure::from), latency))
                    .is_err()
                {
                    return;
                }
            }
        });
        if submitted.is_err() {
            break;
        }
    }
    // Dropping the pool waits for every range.
    drop(pool);
    Ok(())
}

/// One task's outcome and how long its request took (retries included).
type Fetched = (Task, Result<Option<Price>, TaskFailure>, Duration);
type ResultSender = crossbeam_channel::Sender<Fetched>;

/// The lesson's producer/consumer on threads: a producer fills a bounded
/// queue, `workers` threads of a pool drain it.
fn fetch_with_threads(
    client: Client,
    tasks: Vec<Task>,
    workers: usize,
    results: ResultSender,
) -> Result<(), FetchError> {
    // Twice the workers: enough that no worker waits for the producer,
    // little enough that memory does not grow with the date range.
    let queue: Queue<Task> = Queue::new(2 * workers);
    let pool = ThreadPoolExecutor::with_name(workers, "fetch");
    let client = Arc::new(client);
    for _ in 0..workers {
        let (queue, client, results) = (queue.clone(), Arc::clone(&client), results.clone());
        pool.spawn(move || {
            // `get` fails once the queue is shut down and drained: the
            // producer's way of saying "no more work".
            while let Ok(task) = queue.get() {
                let started = Instant::now();
                let result =
                    client.check_price(&task.exchange, &task.symbol, &task.day.to_string());
                if results
                    .send((task, result.map_err(TaskFailure::from), started.elapsed()))
                    .is_err()
                {
                    // The writer gave up: stop everyone, producer included.
                    queue.shutdown(true);
                    break;
                }
                let _ = queue.task_done();
            }
        })
        .map_err(FetchError::Workers)?;
    }
    for task in tasks {
        if queue.put(task).is_err() {
            break;
        }
    }
    queue.shutdown(false);
    // Dropping the pool waits for the workers (Python's `with` block).
    drop(pool);
    Ok(())
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
    /// feature). Also returns how long the request took, in microseconds.
    fn fetch_in_worker(exchange: String, symbol: String, day: String) -> (Result<Option<Price>, RemoteFailure>, u64) {
        let started = Instant::now();
        let result = match WORKER_CLIENT.get() {
            Some(Ok(client)) => client
                .check_price(&exchange, &symbol, &day)
                .map_err(|error| RemoteFailure::from(&error)),
            Some(Err(error)) => Err(RemoteFailure::from(error)),
            None => Err(RemoteFailure {
                message: "the worker has no client: the pool's initializer did not run".to_owned(),
                no_answer: false,
            }),
        };
        (result, u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX))
    }
}

/// The same job on worker processes: the pool's `map_buffered` keeps at most twice
/// the workers in flight, and yields in order, so results stream to the
/// writer as they come.
fn fetch_with_processes(
    options: &FetchOptions,
    tasks: Vec<Task>,
    workers: usize,
    results: ResultSender,
) -> Result<(), FetchError> {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(workers)
        .initializer(start_worker_client, (options.client.clone(),))
        .build();
    let calls = tasks.iter().map(|task| {
        (
            task.exchange.clone(),
            task.symbol.clone(),
            task.day.to_string(),
        )
    });
    for (task, outcome) in tasks.iter().zip(Executor::map_buffered(
        &pool,
        fetch_in_worker,
        calls,
        // Twice the workers in flight, as the thread path's queue: the
        // workers never wait, and a dropped writer cancels little.
        NonZeroUsize::new(2 * workers).expect("at least one worker"),
    )) {
        let (outcome, latency) = match outcome {
            Ok((result, micros)) => (Ok(result), Duration::from_micros(micros)),
            Err(error) => (Err(error), Duration::ZERO),
        };
        let result = match outcome {
            Ok(Ok(price)) => Ok(price),
            Ok(Err(RemoteFailure { message, no_answer })) => {
                Err(TaskFailure::InWorker { message, no_answer })
            }
            Err(error) => Err(TaskFailure::Worker(error)),
        };
        if results.send((task.clone(), result, latency)).is_err() {
            break; // the writer gave up; dropping the map cancels the rest
        }
    }
    Ok(())
}

/// The same job as tokio tasks: at most `workers` requests in flight.
fn fetch_async(
    options: &FetchOptions,
    tasks: Vec<Task>,
    workers: usize,
    results: ResultSender,
) -> Result<(), FetchError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(FetchError::Runtime)?;
    let client = AsyncClient::new(options.client.clone())?;
    runtime.block_on(async move {
        let limit = Arc::new(tokio::sync::Semaphore::new(workers));
        let writer_gone = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut running = tokio::task::JoinSet::new();
        for task in tasks {
            if writer_gone.load(std::sync::atomic::Ordering::Relaxed) {
                break;
            }
            // Waiting for a permit is the async form of the bounded queue:
            // tasks are not even created until a slot is free.
            let permit = Arc::clone(&limit)
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let (client, results, writer_gone) =
                (client.clone(), results.clone(), Arc::clone(&writer_gone));
            running.spawn(async move {
                let started = Instant::now();
                let result = client
                    .check_price(&task.exchange, &task.symbol, &task.day.to_string())
                    .await;
                if results
                    .send((task, result.map_err(TaskFailure::from), started.elapsed()))
                    .is_err()
                {
                    writer_gone.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                drop(permit);
            });
            // Reap finished tasks as we go, so the set stays small.
            while running.try_join_next().is_some() {}
        }
        while running.join_next().await.is_some() {}
    });
    Ok(())
}
