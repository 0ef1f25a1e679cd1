//! `crypto_db fetch`: flags in, the client crate's fetch job, results out.
//! The only things here are terminal concerns: the progress bar and how
//! the outcome is printed.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use client::fetch::plot::{self, PlotFormat};
use client::fetch::sweep::{self, Counts};
use client::fetch::{
    self, FetchError, FetchOptions, FetchReport, Output, Plan, Progress, RunOn, Selection,
    SharedQueue, TaskFailure,
};
use client::{ClientConfig, RetryPolicy};
use prices::Day;
use redis_queue::QueueAddress;

/// How the outcome ends the process.
pub enum Outcome {
    /// Everything fetched.
    Complete,
    /// Some tasks failed after their retries (exit code 1).
    SomeFailed,
    /// The job could not run (exit code 2).
    Refused,
}

/// How to reach the price server: `fetch`'s flags, and `worker`'s.
#[derive(Args)]
pub struct ClientArgs {
    /// The server to ask.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Retries of a request that failed for a reason worth retrying.
    #[arg(long, default_value_t = 10)]
    retries: u32,
    /// Seconds a request may take (fractions allowed).
    #[arg(long, default_value = "30", value_name = "SECONDS", value_parser = crate::parse_seconds)]
    timeout: Duration,
}

impl ClientArgs {
    pub fn config(&self) -> ClientConfig {
        ClientConfig {
            base_url: self.url.clone(),
            connect_timeout: self.timeout.min(Duration::from_secs(10)),
            request_timeout: self.timeout,
            retry: RetryPolicy {
                retries: self.retries,
                ..RetryPolicy::default()
            },
        }
    }
}

#[derive(Args)]
pub struct FetchArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Comma-separated exchanges, or `all` (the server's list).
    #[arg(long, default_value = "all", value_name = "LIST|all")]
    exchanges: String,
    /// Comma-separated symbols, or `all`.
    #[arg(long, default_value = "all", value_name = "LIST|all")]
    symbols: String,
    /// The first day, YYYY-MM-DD.
    #[arg(long, default_value = "2020-03-01")]
    start: Day,
    /// The last day (included), YYYY-MM-DD.
    #[arg(long, default_value = "2020-03-31")]
    end: Day,
    /// Requests at a time (the lesson's 32 threads).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    workers: u32,
    /// Where requests run: a thread pool, worker processes, async tasks,
    /// the range API (`ranges`, as --range) or workers through a queue on
    /// Redis (`redis://HOST:PORT/NAME`, as --queue). With --sweep,
    /// several of this machine's (comma-separated) are compared.
    #[arg(
        long,
        default_value = "threads",
        value_delimiter = ',',
        value_name = "threads|processes|async|ranges|redis://HOST:PORT/NAME",
        value_parser = crate::Unechoed(str::parse::<RunOn>)
    )]
    executor: Vec<RunOn>,
    /// Write the records here: .csv, .jsonl or .json, as they arrive;
    /// sorted when the run ends. Without it, a table goes to stdout.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Keep the records already in --output and fetch only the missing ones.
    #[arg(long, requires = "output")]
    resume: bool,
    /// No progress bar, no summary.
    #[arg(long, short)]
    quiet: bool,
    /// Run the job at each of these worker counts (comma-separated, or
    /// `auto`: doubling until throughput stops improving), measure, and
    /// recommend a count, instead of writing records.
    #[arg(long, value_name = "LIST|auto", conflicts_with_all = ["output", "resume"])]
    sweep: Option<String>,
    /// Fetch each exchange x symbol through the range API (/prices, one
    /// request per 1,000 days) instead of one request per day; the output
    /// is the same. Runs --workers ranges at a time on threads.
    #[arg(long, conflicts_with_all = ["sweep", "executor"])]
    range: bool,
    /// Fetch only N tasks, drawn reproducibly (handy with --sweep).
    #[arg(long, value_name = "N")]
    sample: Option<usize>,
    /// With --sweep: draw throughput and p99 latency against workers (.svg or .png).
    #[arg(long, value_name = "FILE.svg|FILE.png", requires = "sweep")]
    plot: Option<PathBuf>,
    /// Draw the run after it (.svg or .png): a lane per worker, a bar per
    /// try of each request, colored by what came back; the gaps between a
    /// task's bars are its retries' waits. With --sweep, one picture per
    /// point, named after FILE (run.svg gives run-threads-8.svg).
    #[arg(long, value_name = "FILE.svg|FILE.png")]
    timeline: Option<PathBuf>,
    /// Run the tasks on `crypto_db worker`s, on any machine, through this
    /// queue on Redis (redis://HOST:PORT/NAME); this process only puts the
    /// tasks and writes the answers. --workers and --executor are then
    /// the workers' flags.
    #[arg(
        long,
        value_name = "redis://HOST:PORT/NAME",
        conflicts_with_all = ["sweep", "range", "executor"],
        value_parser = crate::Unechoed(str::parse::<QueueAddress>)
    )]
    queue: Option<QueueAddress>,
    /// With a queue on Redis: seconds a worker may go silent (dead, cut
    /// off) before its tasks go to others. Workers renew it while they run
    /// a task, so a long task is not run twice.
    #[arg(long, value_name = "SECONDS", value_parser = crate::parse_seconds)]
    lease: Option<Duration>,
}

fn selection(text: &str) -> Selection {
    if text == "all" {
        Selection::All
    } else {
        Selection::Only(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }
}

/// A progress bar on stderr, shown only when stderr is a terminal.
struct Bar(indicatif::ProgressBar);

impl Progress for Bar {
    fn start(&self, total: usize) {
        self.0.set_length(total as u64);
        self.0.reset();
    }

    fn advance(&self, failed: bool) {
        if failed {
            let failures = self.0.message().parse::<u64>().unwrap_or(0) + 1;
            self.0.set_message(failures.to_string());
        }
        self.0.inc(1);
    }
}

/// What the command line asks for, every flag parsed and checked (the
/// habit of ripgrep's `HiArgs`): `run` then has one error path.
enum FetchRequest {
    /// Fetch the job and write (or print) its records, and draw it.
    Job {
        options: FetchOptions,
        timeline: Option<PathBuf>,
        quiet: bool,
    },
    /// Measure the job at several worker counts and recommend one.
    Sweep {
        client: ClientConfig,
        plan: Plan,
        executors: Vec<RunOn>,
        counts: Counts,
        plot: Option<PathBuf>,
        /// One picture per point, named after this one (see
        /// [`point_timeline`]).
        timeline: Option<PathBuf>,
        quiet: bool,
    },
}

/// Flags that do not make a request.
#[derive(Debug, thiserror::Error)]
enum BadFlags {
    #[error("name one --executor (several are for --sweep)")]
    SeveralExecutors,
    #[error("--lease is for a queue on Redis (--queue or --executor redis://...)")]
    LeaseWithoutQueue,
    #[error("--sweep takes worker counts like 1,2,4,8 or `auto`, not {0:?}")]
    Sweep(String),
    #[error(transparent)]
    Plot(FetchError),
}

impl TryFrom<FetchArgs> for FetchRequest {
    type Error = BadFlags;

    fn try_from(args: FetchArgs) -> Result<FetchRequest, BadFlags> {
        let executors = places(&args)?;
        let client = args.client.config();
        let plan = Plan {
            exchanges: selection(&args.exchanges),
            symbols: selection(&args.symbols),
            start: args.start,
            end: args.end,
            sample: args.sample,
        };
        if let Some(sweep) = args.sweep {
            let counts = parse_counts(&sweep).ok_or(BadFlags::Sweep(sweep))?;
            for path in args.plot.iter().chain(&args.timeline) {
                PlotFormat::of(path).map_err(BadFlags::Plot)?;
            }
            return Ok(FetchRequest::Sweep {
                client,
                plan,
                executors,
                counts,
                plot: args.plot,
                timeline: args.timeline,
                quiet: args.quiet,
            });
        }
        let Ok([run_on]) = <[RunOn; 1]>::try_from(executors) else {
            return Err(BadFlags::SeveralExecutors);
        };
        if let Some(path) = &args.timeline {
            PlotFormat::of(path).map_err(BadFlags::Plot)?;
        }
        Ok(FetchRequest::Job {
            options: FetchOptions {
                client,
                plan,
                run_on,
                workers: args.workers as usize,
                output: args.output.map(|path| Output {
                    path,
                    resume: args.resume,
                }),
                timeline: args.timeline.is_some(),
            },
            timeline: args.timeline,
            quiet: args.quiet,
        })
    }
}

/// Where the job runs, from the one switch (`--executor`) and its two
/// older spellings (`--range` for `ranges`, `--queue URL` for a
/// `redis://` place; clap refuses them beside an explicit `--executor`),
/// with `--lease` applied to a queue on Redis.
fn places(args: &FetchArgs) -> Result<Vec<RunOn>, BadFlags> {
    let mut places = if args.range {
        vec![RunOn::Ranges]
    } else if let Some(address) = &args.queue {
        vec![RunOn::Redis(SharedQueue {
            address: address.clone(),
            lease: SharedQueue::DEFAULT_LEASE,
        })]
    } else {
        args.executor.clone()
    };
    if let Some(lease) = args.lease {
        let mut on_redis = false;
        for place in &mut places {
            if let RunOn::Redis(queue) = place {
                queue.lease = lease;
                on_redis = true;
            }
        }
        if !on_redis {
            return Err(BadFlags::LeaseWithoutQueue);
        }
    }
    Ok(places)
}

/// `1,2,4,8` or `auto`.
fn parse_counts(text: &str) -> Option<Counts> {
    if text == "auto" {
        return Some(Counts::Auto);
    }
    let list = text
        .split(',')
        .map(|n| n.trim().parse::<usize>().ok().filter(|&n| n > 0))
        .collect::<Option<Vec<_>>>()?;
    (!list.is_empty()).then_some(Counts::List(list))
}

pub fn run(args: FetchArgs) -> anyhow::Result<Outcome> {
    match FetchRequest::try_from(args) {
        Err(error) => {
            say!("crypto_db: fetch: {}", with_causes(&error));
            Ok(Outcome::Refused)
        }
        Ok(FetchRequest::Job {
            options,
            timeline,
            quiet,
        }) => run_job(&options, timeline.as_deref(), quiet),
        Ok(FetchRequest::Sweep {
            client,
            plan,
            executors,
            counts,
            plot,
            timeline,
            quiet,
        }) => run_sweep(
            &client,
            &plan,
            &executors,
            &counts,
            Pictures {
                plot: plot.as_deref(),
                timeline: timeline.as_deref(),
            },
            quiet,
        ),
    }
}

fn progress_bar(quiet: bool) -> Bar {
    let show_progress = !quiet && std::io::stderr().is_terminal();
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(0),
        if show_progress {
            indicatif::ProgressDrawTarget::stderr()
        } else {
            indicatif::ProgressDrawTarget::hidden()
        },
    );
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:30} {pos}/{len} prices  {rate}  eta {eta}  failures: {msg}",
        )
        .expect("a valid progress template")
        .with_key(
            "rate",
            |state: &indicatif::ProgressState, out: &mut dyn std::fmt::Write| {
                let _ = write!(out, "{:.0}/s", state.per_sec());
            },
        ),
    );
    bar.set_message("0");
    Bar(bar)
}

fn run_job(
    options: &FetchOptions,
    timeline: Option<&std::path::Path>,
    quiet: bool,
) -> anyhow::Result<Outcome> {
    let progress = progress_bar(quiet);
    let report = fetch::run(options, &progress);
    progress.0.finish_and_clear();
    let report = match report {
        Ok(report) => report,
        Err(error) => {
            say!("crypto_db: fetch: {}", refusal(&error));
            return Ok(Outcome::Refused);
        }
    };
    let output = options.output.as_ref().map(|output| output.path.as_path());

    for restart in &report.restarts {
        let why = match &restart.reason {
            concurrent::TaskError::Broken(why) => why.clone(),
            other => other.to_string(),
        };
        let tasks = match restart.retried {
            1 => "1 unfinished task".to_owned(),
            n => format!("{n} unfinished tasks"),
        };
        say!("crypto_db: fetch: the worker pool broke ({why}); a new pool ran its {tasks} again");
    }

    // Drawn whatever the run came to: a stopped run's picture says why.
    let drawn = timeline.map(|path| (path, fetch::timeline::draw(&report.timeline, path)));
    match &drawn {
        Some((path, Ok(summary))) if !quiet => say!(
            "crypto_db: fetch: timeline written to {}: {} lanes, {} tries ({} retries)",
            path.display(),
            summary.lanes,
            summary.tries,
            summary.retries
        ),
        Some((_, Err(error))) => say!("crypto_db: fetch: {}", with_causes(error)),
        _ => {}
    }
    let timeline_failed = matches!(drawn, Some((_, Err(_))));

    if let Some((path, line)) = &report.cut_line {
        say!(
            "crypto_db: fetch: the last line of {} had no line break (a run cut short) and was dropped: {line}",
            path.display()
        );
    }

    if let Some(gave_up) = &report.gave_up {
        let kept = match output {
            Some(path) => format!(
                "{} prices are kept in {}; run the same command with --resume when the server is back",
                report.records.len(),
                path.display()
            ),
            None => format!(
                "{} prices were fetched (write them to a file with -o, and --resume finishes a stopped run)",
                report.fetched
            ),
        };
        say!(
            "crypto_db: fetch: stopped: {} requests in a row could not reach the server (last: {}); {} not tried. {kept}",
            gave_up.in_a_row,
            with_causes(&gave_up.error),
            gave_up.untried,
        );
        return Ok(Outcome::SomeFailed);
    }

    if let Some((holding, error)) = &report.unsorted {
        say!(
            "crypto_db: fetch: all {} records are in {}, in the order they came, but not sorted: {}. Run the same command with --resume to sort them when there is room",
            report.records.len(),
            holding.display(),
            refusal(error)
        );
        return Ok(Outcome::SomeFailed);
    }

    match output {
        Some(path) if !quiet => say!(
            "crypto_db: fetch: {} prices fetched, {} kept from the earlier run, {} failed; {} records in {}",
            report.fetched,
            report.resumed,
            report.failures.len(),
            report.records.len(),
            path.display()
        ),
        Some(_) => {}
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(fetch::lesson::render(&report.records, 5).as_bytes())?;
            stdout.flush()?;
        }
    }
    let outcome = report_failures(&report, options.client.retry.retries);
    Ok(match outcome {
        Outcome::Complete if timeline_failed => Outcome::SomeFailed,
        other => other,
    })
}

/// What a sweep draws: the curve, and a timeline of each point.
struct Pictures<'a> {
    plot: Option<&'a std::path::Path>,
    timeline: Option<&'a std::path::Path>,
}

/// Where a sweep draws the timeline of `executor` at `workers`: beside
/// `path`, its name suffixed (`run.svg` gives `run-threads-8.svg`).
fn point_timeline(path: &std::path::Path, executor: &RunOn, workers: usize) -> PathBuf {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let extension = path.extension().unwrap_or_default().to_string_lossy();
    let place: String = executor
        .to_string()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    path.with_file_name(format!("{stem}-{place}-{workers}.{extension}"))
}

fn run_sweep(
    client: &ClientConfig,
    plan: &Plan,
    executors: &[RunOn],
    counts: &Counts,
    pictures: Pictures<'_>,
    quiet: bool,
) -> anyhow::Result<Outcome> {
    let mut timelines_failed = false;
    let timelines = pictures.timeline.is_some();
    let points = match sweep::sweep(
        client,
        plan,
        executors,
        counts,
        timelines,
        |point, spans| {
            if !quiet {
                say!(
                    "crypto_db: sweep: {} x {}: {:.0} requests/s",
                    point.executor,
                    point.workers,
                    point.requests_per_second
                );
            }
            let Some(path) = pictures.timeline else {
                return;
            };
            let path = point_timeline(path, &point.executor, point.workers);
            match fetch::timeline::draw(spans, &path) {
                Ok(summary) if !quiet => say!(
                    "crypto_db: sweep: timeline written to {}: {} lanes, {} tries",
                    path.display(),
                    summary.lanes,
                    summary.tries
                ),
                Ok(_) => {}
                Err(error) => {
                    say!("crypto_db: fetch: {}", with_causes(&error));
                    timelines_failed = true;
                }
            }
        },
    ) {
        Ok(points) => points,
        Err(error) => {
            say!("crypto_db: fetch: {}", refusal(&error));
            return Ok(Outcome::Refused);
        }
    };
    let mut out = sweep::table(&points);
    if std::io::stdout().is_terminal() {
        out.push('\n');
        out.push_str(&sweep::text_chart(&points));
    }
    out.push('\n');
    for recommendation in sweep::recommend(&points) {
        out.push_str(&format!(
            "recommended for {}: {} workers. {}.\n",
            recommendation.executor, recommendation.workers, recommendation.why
        ));
    }
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(out.as_bytes())?;
    stdout.flush()?;
    if let Some(path) = pictures.plot {
        if let Err(error) = plot::plot(&points, path) {
            say!("crypto_db: fetch: {error}");
            return Ok(Outcome::Refused);
        }
        if !quiet {
            say!("crypto_db: sweep: plot written to {}", path.display());
        }
    }
    let errors: usize = points.iter().map(|p| p.errors).sum();
    Ok(if errors > 0 || timelines_failed {
        Outcome::SomeFailed
    } else {
        Outcome::Complete
    })
}

/// An error and its causes on one line (`cannot write x.csv: File too
/// large (os error 27)`).
pub fn with_causes(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(source) = cause {
        // Some errors print their cause in their own text too (the redis
        // crate's): said once.
        let text = source.to_string();
        if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = source.source();
    }
    line
}

/// Why the job could not run, with a hint when the server is not there.
fn refusal(error: &FetchError) -> String {
    let mut line = with_causes(error);
    if let FetchError::Server(_) = error {
        line.push_str(" (is the server running? start it with `crypto_db`)");
    }
    line
}

fn report_failures(report: &FetchReport, retries: u32) -> Outcome {
    if report.failures.is_empty() {
        return Outcome::Complete;
    }
    // "after N retries" only when it is true of every failure: a task lost
    // with its worker process was not retried N times.
    let after_retries = report
        .failures
        .iter()
        .all(|(_, failure)| !matches!(failure, TaskFailure::Worker(_)));
    say!(
        "crypto_db: fetch: {} of {} prices failed{} (everything else is kept):",
        report.failures.len(),
        report.failures.len() + report.fetched,
        if after_retries {
            format!(" after {retries} retries")
        } else {
            String::new()
        }
    );
    const SHOWN: usize = 20;
    for (task, error) in report.failures.iter().take(SHOWN) {
        let error = with_causes(error);
        say!("  {}/{}/{}: {error}", task.exchange, task.symbol, task.day);
    }
    if report.failures.len() > SHOWN {
        say!("  ... and {} more", report.failures.len() - SHOWN);
    }
    Outcome::SomeFailed
}
