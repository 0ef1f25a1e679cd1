//! The bulk fetch job: the lessons' producer/consumer (every exchange x
//! symbol x day, a pool of workers pulling tasks off a queue) made into a
//! tool: bounded memory, retries, progress, output that survives a crash,
//! and `--resume`.
//!
//! A job is three separate answers, and the pipeline has a part for each:
//!
//! ```text
//! Plan (what)  --tasks-->  runner (how)  --outcomes-->  sink (where)
//! ```
//!
//! - [`Plan`]: which exchanges, symbols and days; checked against the
//!   server's lists and made into [`Task`]s.
//! - [`RunOn`]: where the requests run, the one switch: threads,
//!   processes, tokio tasks, the range API, or workers on other machines
//!   through Redis. Threads and processes go through one generic path
//!   over the library's `Executor` trait (the lesson's "change one line to
//!   switch executors"), the others through their own; each keeps a
//!   bounded window of tasks in flight, so a range of years never builds
//!   a huge queue.
//! - [`Output`]: where the records go; the sink appends each as it comes,
//!   resumes an earlier run, and writes the sorted copy at the end. When
//!   the sink stops listening (a failed write, the server gone), the
//!   runner stops: the one cancellation signal.

mod distributed;
pub mod lesson;
mod output;
#[cfg(feature = "plot")]
pub mod plot;
mod runner;
mod sink;
pub mod sweep;
pub mod timeline;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use prices::{Day, Price};

use crate::api::{Client, ClientConfig, ClientError};
pub use distributed::{SharedQueue, WorkerOptions, WorkerReport, work};
pub use output::Format;
use runner::Runner;
use sink::Sink;

/// Which exchanges or symbols to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Everything the server lists.
    All,
    /// These names (each checked against the server's list).
    Only(Vec<String>),
}

/// Where a job's requests run: the one switch, read from the command
/// line once ([`FromStr`](std::str::FromStr): `threads`, `processes`,
/// `async`, `ranges` or `redis://HOST:PORT/NAME`, `rediss://` over TLS) and used by
/// [`run`], [`sweep::sweep`] and [`work`] alike. Adding a place is one arm
/// here and one runner in `runner.rs`.
///
/// # Examples
///
/// ```
/// use client::fetch::RunOn;
///
/// assert_eq!("processes".parse::<RunOn>().unwrap(), RunOn::Processes);
/// let remote: RunOn = "redis://127.0.0.1:6379/march".parse().unwrap();
/// assert!(matches!(remote, RunOn::Redis(_)));
/// assert_eq!(remote.to_string(), "redis://127.0.0.1:6379/march");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOn {
    /// A [`ThreadPoolExecutor`](concurrent::ThreadPoolExecutor) of `workers` threads, a
    /// request per day, as in the lesson.
    Threads,
    /// A [`ProcessPoolExecutor`](concurrent::ProcessPoolExecutor) of `workers` processes (the
    /// program must call `concurrent::serve_if_worker()` first in `main`).
    Processes,
    /// tokio tasks, at most `workers` requests at a time.
    Async,
    /// The range API (`/prices`, a request per exchange x symbol per
    /// 1,000 days) instead of a request per day, `workers` ranges at a
    /// time on threads. The output is the same.
    Ranges,
    /// `crypto_db worker`s, on any machine, through this queue on Redis:
    /// this process only puts the tasks and writes the answers (`workers`
    /// is then the workers' business).
    Redis(SharedQueue),
}

impl RunOn {
    /// The places a sweep measures and a worker runs its tasks on: those
    /// of this machine.
    pub fn is_local(&self) -> bool {
        !matches!(self, RunOn::Redis(_))
    }
}

impl std::fmt::Display for RunOn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`, so that a table's `{:<10}` lines the names up.
        match self {
            RunOn::Threads => f.pad("threads"),
            RunOn::Processes => f.pad("processes"),
            RunOn::Async => f.pad("async"),
            RunOn::Ranges => f.pad("ranges"),
            RunOn::Redis(queue) => f.pad(&queue.address.to_string()),
        }
    }
}

/// A name that is not a place to run; see [`RunOn`].
#[derive(Debug, thiserror::Error)]
pub enum BadRunOn {
    /// Not one of the names.
    #[error(
        "{0:?} is not a place to run: write threads, processes, async, ranges or redis://HOST:PORT/NAME (rediss:// for TLS)"
    )]
    Unknown(String),
    /// A `redis://` address that does not name a queue.
    #[error(transparent)]
    Address(#[from] redis_queue::QueueError),
}

impl std::str::FromStr for RunOn {
    type Err = BadRunOn;

    fn from_str(text: &str) -> Result<RunOn, BadRunOn> {
        Ok(match text {
            "threads" => RunOn::Threads,
            "processes" => RunOn::Processes,
            "async" => RunOn::Async,
            "ranges" => RunOn::Ranges,
            _ if text.starts_with("redis://") || text.starts_with("rediss://") => {
                RunOn::Redis(SharedQueue {
                    address: text.parse()?,
                    lease: SharedQueue::DEFAULT_LEASE,
                })
            }
            _ => return Err(BadRunOn::Unknown(text.to_owned())),
        })
    }
}

/// What to fetch: every exchange x symbol x day of a selection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Which exchanges.
    pub exchanges: Selection,
    /// Which symbols.
    pub symbols: Selection,
    /// The first day.
    pub start: Day,
    /// The last day (included).
    pub end: Day,
    /// Fetch only this many tasks, drawn reproducibly from the plan.
    pub sample: Option<usize>,
}

impl Plan {
    /// The lesson's job: every exchange and symbol, March 2020.
    pub fn lesson() -> Plan {
        Plan {
            exchanges: Selection::All,
            symbols: Selection::All,
            start: Day::parse("2020-03-01").expect("a valid day"),
            end: Day::parse("2020-03-31").expect("a valid day"),
            sample: None,
        }
    }

    /// Every task of the plan, in the lesson's order (exchange, then day,
    /// then symbol), after checking the names against the server's lists.
    ///
    /// # Errors
    ///
    /// [`FetchError::UnknownNames`] or [`FetchError::EmptyRange`] for a job
    /// that cannot be, [`FetchError::Server`] if the server cannot be asked.
    pub fn tasks(&self, client: &Client) -> Result<Vec<Task>, FetchError> {
        if self.start > self.end {
            return Err(FetchError::EmptyRange {
                start: self.start,
                end: self.end,
            });
        }
        let exchanges = resolve("exchange", &self.exchanges, || client.exchanges())?;
        let symbols = resolve("symbol", &self.symbols, || client.symbols())?;
        let days: Vec<Day> = self.start.through(self.end).collect();
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
        if let Some(sample) = self.sample {
            // The same seed every run, so that a sweep compares like with like.
            let mut rng = fastrand::Rng::with_seed(7);
            rng.shuffle(&mut tasks);
            tasks.truncate(sample);
            tasks.sort();
        }
        Ok(tasks)
    }
}

/// Where the records go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The file; its extension says the format ([`Format::of`]).
    pub path: PathBuf,
    /// Keep the records already in the file and fetch only the rest.
    pub resume: bool,
}

/// Everything `crypto_db fetch` is asked to do.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// The server and how to talk to it.
    pub client: ClientConfig,
    /// What to fetch.
    pub plan: Plan,
    /// Where the requests run.
    pub run_on: RunOn,
    /// How many requests at a time.
    pub workers: usize,
    /// Where to; `None` collects the records for the caller to print.
    pub output: Option<Output>,
    /// Keep each task's span and tries for a timeline
    /// ([`FetchReport::timeline`]).
    pub timeline: bool,
}

impl FetchOptions {
    /// The lesson's job: every exchange and symbol of the server at
    /// `base_url`, March 2020, 32 workers on threads.
    pub fn lesson(base_url: &str) -> FetchOptions {
        FetchOptions {
            client: ClientConfig::new(base_url),
            plan: Plan::lesson(),
            run_on: RunOn::Threads,
            workers: 32,
            output: None,
            timeline: false,
        }
    }
}

/// One price to fetch. It crosses to worker processes as it is.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
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
    /// The request failed, wherever it ran (a thread, a worker process,
    /// a worker on another machine).
    #[error(transparent)]
    Request(#[from] ClientError),
    /// The worker running it failed: a worker process died or the pool
    /// broke, or (`--queue`) no worker finished it in the job's deliveries
    /// and it was moved to the dead-letter stream.
    #[error("worker")]
    Worker(#[source] concurrent::TaskError),
}

impl TaskFailure {
    /// Whether the server gave no answer at all (refused, reset, timed
    /// out): what stops a job whose server is gone.
    pub fn is_no_answer(&self) -> bool {
        match self {
            TaskFailure::Request(error) => error.is_no_answer(),
            TaskFailure::Worker(_) => false,
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
    /// A place to run that this part of the job cannot use: a sweep
    /// measures this machine's, a worker runs threads or async tasks.
    #[error("{what} runs on {places}, not on {run_on}")]
    CannotRunOn {
        /// What was asked: `a sweep`, `a worker`.
        what: &'static str,
        /// The places it can use.
        places: &'static str,
        /// The place asked for.
        run_on: RunOn,
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
    /// `--resume` found a line in the output that is not a record this
    /// tool writes: the file is left as it is rather than lose the line.
    #[error("cannot resume into {}: {}{why}; the file is left as it is", path.display(), line.map_or_else(String::new, |line| format!("line {line}: ")))]
    NotRecords {
        /// The file.
        path: PathBuf,
        /// The 1-based line, when one is to blame.
        line: Option<usize>,
        /// What is wrong with it.
        why: String,
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
    /// Redis stayed away mid-job (`--queue`) longer than the executor
    /// waits for it: the tasks without an answer are not written.
    #[error("the job's queue was lost")]
    QueueLost(#[source] concurrent::TaskError),
    /// The job's queue on Redis could not be made (`--queue`): Redis out
    /// of reach or refusing, or another producer on the name.
    #[error("the queue {address}")]
    Queue {
        /// `redis://HOST:PORT/NAME`.
        address: String,
        /// Why.
        source: redis_queue::QueueError,
    },
}

impl FetchError {
    /// Whether the request itself is wrong (a name, a range, a file name,
    /// a file in use): what the user must change, rather than a failure.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            FetchError::UnknownNames { .. }
                | FetchError::CannotRunOn { .. }
                | FetchError::EmptyRange { .. }
                | FetchError::UnknownExtension { .. }
                | FetchError::Locked { .. }
                | FetchError::NotRecords { .. }
                | FetchError::Queue {
                    source: redis_queue::QueueError::Held(_),
                    ..
                }
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
    /// How many records were kept from an earlier run (`--resume`),
    /// those of other jobs included.
    pub resumed: usize,
    /// With `--resume`: the file whose last line a crash cut short (no
    /// line break), and that line, which was dropped (its task, if this
    /// job's, was fetched again).
    pub cut_line: Option<(PathBuf, String)>,
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
    /// Each time a pool of worker processes broke (a worker killed, or
    /// past its deadline) and a new one took over its tasks.
    pub restarts: Vec<PoolRestart>,
    /// With [`FetchOptions::timeline`]: each task of this run, its span
    /// and tries, in the order they finished (see [`timeline::draw`]).
    pub timeline: Vec<timeline::TaskSpan>,
}

/// A pool of worker processes broke, and a new one took over.
#[derive(Debug, Clone)]
pub struct PoolRestart {
    /// Why the pool broke (the library's words: which signal, which
    /// deadline).
    pub reason: concurrent::TaskError,
    /// How many of its tasks were run again in the new pool (a task
    /// caught in more than three broken pools fails instead, with the
    /// reason).
    pub retried: usize,
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
/// silent for `GIVE_UP_AFTER_SILENCES` requests) before the job
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
    // A file name we cannot write is refused before the server is asked.
    if let Some(output) = &options.output {
        Format::of(&output.path)?;
    }
    let client = Client::new(options.client.clone())?;
    let mut tasks = options.plan.tasks(&client)?;
    // The runner first: a place that cannot run the job (Redis out of
    // reach, refusing the password) is said before the output is opened,
    // so an old file there is left as it was.
    let runner = runner::for_place(&client, &options.run_on, options.workers)?;
    let mut sink = match &options.output {
        Some(output) => Sink::open(output, &mut tasks)?,
        None => Sink::in_memory(),
    };
    if options.timeline {
        sink.keep_timeline();
    }
    pipe(&*runner, options.workers, tasks, sink, progress)
}

/// Connects a runner of `workers` to a sink: the runner on a thread of
/// its own, the sink on this one, an unbounded channel between them (the
/// runner's window bounds what is in it).
fn pipe(
    runner: &dyn Runner,
    workers: usize,
    tasks: Vec<Task>,
    mut sink: Sink,
    progress: &dyn Progress,
) -> Result<FetchReport, FetchError> {
    let total = tasks.len();
    progress.start(total);
    let (outcomes, received) = crossbeam_channel::unbounded();
    let started = Instant::now();
    sink.start_clock();
    let restarts = std::thread::scope(|scope| {
        let running = scope.spawn(move || runner.run(tasks, outcomes));
        // Returning drops `received`: a runner still busy (after a stop)
        // finds nobody listening and ends.
        let taken = sink.take(received, total, unreachable_limit(workers), progress);
        let ran = running.join().map_err(|_| FetchError::WorkerPanicked)?;
        taken?;
        ran
    })?;
    let mut report = sink.finish(started.elapsed());
    report.restarts = restarts;
    Ok(report)
}
