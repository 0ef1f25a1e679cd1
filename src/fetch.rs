//! `crypto_db fetch`: flags in, the client crate's fetch job, results out.
//! The only things here are terminal concerns: the progress bar and how
//! the outcome is printed.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use client::fetch::{
    self, ExecutorKind, FetchError, FetchOptions, FetchReport, Progress, Selection,
};
use client::{ClientConfig, RetryPolicy};
use prices::Day;

/// How the outcome ends the process.
pub enum Outcome {
    /// Everything fetched.
    Complete,
    /// Some tasks failed after their retries (exit code 1).
    SomeFailed,
    /// The job could not run (exit code 2).
    Refused,
}

#[derive(Args)]
pub struct FetchArgs {
    /// The server to ask.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
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
    /// How requests run: a thread pool, worker processes, or async tasks.
    #[arg(long, value_enum, default_value = "threads")]
    executor: Executor,
    /// Retries of a request that failed for a reason worth retrying.
    #[arg(long, default_value_t = 3)]
    retries: u32,
    /// Seconds a request may take (fractions allowed).
    #[arg(long, default_value = "30", value_name = "SECONDS", value_parser = crate::parse_seconds)]
    timeout: Duration,
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
}

#[derive(Clone, Copy, ValueEnum)]
enum Executor {
    Threads,
    Processes,
    Async,
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

pub fn run(args: FetchArgs) -> anyhow::Result<Outcome> {
    let options = FetchOptions {
        client: ClientConfig {
            base_url: args.url.clone(),
            connect_timeout: args.timeout.min(Duration::from_secs(10)),
            request_timeout: args.timeout,
            retry: RetryPolicy {
                retries: args.retries,
                ..RetryPolicy::default()
            },
        },
        exchanges: selection(&args.exchanges),
        symbols: selection(&args.symbols),
        start: args.start,
        end: args.end,
        workers: args.workers as usize,
        executor: match args.executor {
            Executor::Threads => ExecutorKind::Threads,
            Executor::Processes => ExecutorKind::Processes,
            Executor::Async => ExecutorKind::Async,
        },
        output: args.output.clone(),
        resume: args.resume,
    };
    let show_progress = !args.quiet && std::io::stderr().is_terminal();
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
            "{bar:30} {pos}/{len} prices  {per_sec}  eta {eta}  failures: {msg}",
        )
        .expect("a valid progress template"),
    );
    bar.set_message("0");
    let progress = Bar(bar);

    let report = match fetch::run(&options, &progress) {
        Ok(report) => report,
        Err(error) => {
            progress.0.finish_and_clear();
            eprintln!("crypto_db: fetch: {}", refusal(&error));
            return Ok(Outcome::Refused);
        }
    };
    progress.0.finish_and_clear();

    match &args.output {
        Some(path) if !args.quiet => eprintln!(
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
    Ok(report_failures(&report, args.retries))
}

fn refusal(error: &FetchError) -> String {
    match error {
        FetchError::Server(error) => {
            format!("{error} (is the server running? start it with `crypto_db`)")
        }
        other => other.to_string(),
    }
}

fn report_failures(report: &FetchReport, retries: u32) -> Outcome {
    if report.failures.is_empty() {
        return Outcome::Complete;
    }
    eprintln!(
        "crypto_db: fetch: {} of {} prices failed after {retries} retries (everything else is kept):",
        report.failures.len(),
        report.failures.len() + report.fetched
    );
    const SHOWN: usize = 20;
    for (task, error) in report.failures.iter().take(SHOWN) {
        eprintln!("  {}/{}/{}: {error}", task.exchange, task.symbol, task.day);
    }
    if report.failures.len() > SHOWN {
        eprintln!("  ... and {} more", report.failures.len() - SHOWN);
    }
    Outcome::SomeFailed
}
