//! Beyond the lessons, *the same code on many machines*: the lesson's
//! snippets (`submit`, `map`, `as_completed`, the producer/consumer job)
//! written once against the `Executor` trait, run on threads, on
//! processes, or on workers anywhere that reach one Redis. Only the line
//! that builds the executor changes, as the lesson says of threads and
//! processes: "we're using the same logic with two completely different
//! executors; the API is the same."
//!
//! ```text
//! cargo run --example l4_beyond_one_machine -- --url URL --executor threads
//! cargo run --example l4_beyond_one_machine -- --url URL --executor processes
//! cargo run --example l4_beyond_one_machine -- --url URL --executor redis://HOST:6379/prices
//! cargo run --example l4_beyond_one_machine -- --url URL --worker redis://HOST:6379/prices   # on each machine
//! ```
//!
//! The output is the same lines whatever the executor (the results of
//! `as_completed` are sorted: they finish in any order); `--timings` adds
//! how long each snippet took. A worker serves until the executor shuts
//! down; `--threads N` sets how many tasks it runs at once, `--lease
//! SECONDS` how soon a dead worker's tasks go to others.

mod common;

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use client::{Client, ClientConfig};
use concurrent::{Executor, ProcessPoolExecutor, ThreadPoolExecutor, as_completed, remote_fn};
use prices::Price;
use redis_queue::{QueueAddress, QueueOptions, RedisExecutor};

remote_fn! {
    /// `check_price` for a worker anywhere: the server's URL comes with
    /// each task; the price crosses back whole.
    fn check_price_at(base_url: String, exchange: String, symbol: String, date: String) -> Option<Price> {
        client_for(&base_url)
            .check_price(&exchange, &symbol, &date)
            .unwrap_or_else(|error| panic!("check_price({exchange}, {symbol}, {date}): {error}"))
    }
}

/// One client per worker process, made on its first task.
fn client_for(base_url: &str) -> &'static Client {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    CLIENT.get_or_init(|| Client::new(ClientConfig::new(base_url)).expect("a valid URL"))
}

type Args = (String, String, String, String);

/// Where the snippets run.
enum Place {
    Threads,
    Processes,
    Redis(QueueAddress),
}

/// What this run of the program is.
enum Mode {
    Snippets {
        place: Place,
        timings: bool,
    },
    Worker {
        address: QueueAddress,
        threads: usize,
    },
}

struct Options {
    mode: Mode,
    url: String,
    lease: Duration,
}

fn parse() -> Options {
    let (mut url, mut place, mut worker) = (common::DEFAULT_URL.to_owned(), Place::Threads, None);
    let (mut timings, mut threads, mut lease) = (false, 2, Duration::from_secs(60));
    let address = |text: Option<String>| -> QueueAddress {
        let text = text.expect("a queue address, redis://HOST:PORT/NAME");
        text.parse()
            .unwrap_or_else(|error| panic!("{text:?}: {error}"))
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--url" => url = args.next().expect("--url needs a value"),
            "--executor" => {
                place = match args.next().as_deref() {
                    Some("threads") => Place::Threads,
                    Some("processes") => Place::Processes,
                    other => Place::Redis(address(other.map(str::to_owned))),
                }
            }
            "--worker" => worker = Some(address(args.next())),
            "--threads" => {
                threads = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--threads needs a number")
            }
            "--lease" => lease = common::seconds(args.next(), "--lease"),
            "--timings" => timings = true,
            other => panic!(
                "unknown argument {other:?} (expected --url, --executor, --worker, --threads, --lease, --timings)"
            ),
        }
    }
    let mode = match worker {
        Some(address) => Mode::Worker { address, threads },
        None => Mode::Snippets { place, timings },
    };
    Options { mode, url, lease }
}

fn main() {
    // Started by a process pool as its worker, this serves it.
    concurrent::serve_if_worker();
    let options = parse();
    let (place, timings) = match options.mode {
        Mode::Worker { address, threads } => {
            let report = redis_queue::serve(&address, threads, QueueOptions::default())
                .unwrap_or_else(|error| panic!("worker on {address}: {error}"));
            eprintln!(
                "worker on {address}: {} tasks answered, {} failed",
                report.answered, report.failed
            );
            return;
        }
        Mode::Snippets { place, timings } => (place, timings),
    };
    let lesson = common::setup_at(options.url, Duration::ZERO, server::ServerConfig::default());
    let url = lesson.base_url.clone();
    // The one line that differs.
    match place {
        Place::Threads => snippets(&ThreadPoolExecutor::new(10), &url, timings),
        Place::Processes => snippets(&ProcessPoolExecutor::new(10), &url, timings),
        Place::Redis(address) => {
            let ex = RedisExecutor::builder()
                .lease(options.lease)
                .connect(&address)
                .unwrap_or_else(|error| panic!("{address}: {error}"));
            snippets(&ex, &url, timings);
        }
    }
}

const EXCHANGES: [&str; 3] = ["bitfinex", "bitstamp", "kraken"];

fn args(url: &str, exchange: &str, symbol: &str, date: &str) -> Args {
    (url.into(), exchange.into(), symbol.into(), date.into())
}

/// The lesson's snippets, on any executor that runs `check_price_at`.
fn snippets<E>(ex: &E, url: &str, timings: bool)
where
    E: Executor<check_price_at, Args, Output = Option<Price>>,
{
    let timed = |name: &str, started: Instant| {
        if timings {
            println!("  ({name}: {:.3} s)", started.elapsed().as_secs_f64());
        }
    };

    // submit: one future, its result.
    let started = Instant::now();
    let future = ex
        .submit(check_price_at, args(url, "bitstamp", "btc", "2020-04-01"))
        .expect("submit");
    let price = future
        .result()
        .expect("the task")
        .expect("a price that day");
    println!("submit: Price: ${}", common::close(&price));
    timed("submit", started);

    // map: the results in the order of the inputs.
    let started = Instant::now();
    let inputs = EXCHANGES.map(|exchange| args(url, exchange, "btc", "2020-04-01"));
    for (exchange, price) in EXCHANGES.iter().zip(ex.map(check_price_at, inputs)) {
        let price = price.expect("the task").expect("a price that day");
        println!("map: {}: ${}", title(exchange), common::close(&price));
    }
    timed("map", started);

    // submit + as_completed: the results as they finish (sorted here, so
    // that every executor prints the same lines).
    let started = Instant::now();
    let futures: Vec<_> = EXCHANGES
        .iter()
        .map(|exchange| {
            ex.submit(check_price_at, args(url, exchange, "btc", "2020-04-01"))
                .expect("submit")
        })
        .collect();
    let mut lines = Vec::new();
    for future in as_completed(&futures, None) {
        let future = future.expect("no timeout");
        let exchange = EXCHANGES[futures.iter().position(|f| f == future).unwrap()];
        let price = future
            .result()
            .expect("the task")
            .expect("a price that day");
        lines.push(format!(
            "as_completed: {}: ${}",
            title(exchange),
            common::close(&price)
        ));
    }
    lines.sort();
    lines.iter().for_each(|line| println!("{line}"));
    timed("as_completed", started);

    // The producer/consumer job: every exchange, symbol and day of March
    // 2020, then the lesson's nested table.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for exchange in common::exchanges() {
        for date in common::march_2020() {
            for symbol in common::symbols() {
                tasks.push(args(url, &exchange, &symbol, &date));
            }
        }
    }
    let futures: Vec<_> = tasks
        .iter()
        .map(|task| ex.submit(check_price_at, task.clone()).expect("submit"))
        .collect();
    let mut results: BTreeMap<&str, BTreeMap<&str, BTreeMap<&str, Option<String>>>> =
        BTreeMap::new();
    let mut found = 0;
    for (task, future) in tasks.iter().zip(futures) {
        let price = future.into_result().expect("the task");
        found += usize::from(price.is_some());
        results
            .entry(&task.1)
            .or_default()
            .entry(&task.3)
            .or_default()
            .insert(&task.2, price.as_ref().map(common::close));
    }
    println!(
        "job: {} tasks, {found} prices, {} days without one",
        tasks.len(),
        tasks.len() - found
    );
    for exchange in ["bitfinex", "bitstamp", "coinbase-pro"] {
        let close = results[exchange]["2020-03-10"]["btc"]
            .clone()
            .unwrap_or_else(|| "None".into());
        println!("job: results['{exchange}']['2020-03-10']['btc'] -> {close}");
    }
    timed("job", started);
}

fn title(exchange: &str) -> String {
    client::fetch::lesson::title(exchange)
}
