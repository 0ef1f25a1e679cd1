//! Beyond the lessons: the producer/consumer job of lesson 1 against a
//! server that misbehaves the way real APIs do, and the three habits that
//! get every price anyway.
//!
//! The server (started here unless `--url` names one) runs with
//! `--fail-rate 0.2 --latency lognormal:0.05,1 --rate-limit 200/s --seed 1`:
//! one answer in five is a `500`, most come in about 50 ms but one in a
//! hundred takes a second or more, and over 200 requests a second a
//! client is turned away with `429 Too Many Requests` and a `Retry-After`.
//!
//! 1. **A timeout on every request**, so a worker never waits forever on
//!    an answer that is not coming (try the server with `--hang-rate 0.05`).
//! 2. **Retries of what may succeed next time**: a 5xx, a 429, a timeout, a
//!    lost connection; never a 4xx, which would fail again the same way.
//! 3. **Backoff with jitter**, and never sooner than the server's
//!    `Retry-After`: waiting longer after each failure, by a random amount,
//!    so 32 workers that failed together do not all come back together.
//!
//! The retry loop is written out below (the client can also do it for you:
//! `ClientConfig::retry`, which `crypto_db fetch --retries` uses).

mod common;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use client::{Client, ClientConfig, ClientError, RetryPolicy};
use concurrent::Queue;
use prices::Price;
use server::{ChaosConfig, ServerConfig};

const MAX_WORKERS: usize = 32;

#[derive(Debug)]
struct Task {
    exchange: String,
    symbol: String,
    date: String,
}

/// What went wrong along the way, by kind: the faults the workers met and
/// survived.
#[derive(Default)]
struct Troubles(Mutex<BTreeMap<String, u32>>);

impl Troubles {
    fn count(&self, error: &ClientError) {
        let kind = match error {
            ClientError::Status { status, .. } => format!("HTTP {status}"),
            ClientError::Timeout { .. } => "timeout".to_owned(),
            ClientError::Unreachable { .. } => "connection lost".to_owned(),
            other => other.to_string(),
        };
        *self.0.lock().unwrap().entry(kind).or_default() += 1;
    }
}

/// One price, patiently: retried while the error is worth retrying and
/// the retries last, waiting as `policy` says between tries.
fn check_price_patiently(
    client: &Client,
    policy: &RetryPolicy,
    task: &Task,
    troubles: &Troubles,
) -> Result<Option<Price>, ClientError> {
    let mut retry = 0;
    loop {
        match client.check_price(&task.exchange, &task.symbol, &task.date) {
            Ok(price) => return Ok(price),
            Err(error) => {
                troubles.count(&error);
                retry += 1;
                // `None`: not worth retrying (a 4xx), or no retries left.
                let wait = policy.delay(retry, &error).ok_or(error)?;
                thread::sleep(wait);
            }
        }
    }
}

fn main() {
    let chaos = ChaosConfig {
        fail_rate: "0.2".parse().unwrap(),
        latency: Some("lognormal:0.05,1".parse().unwrap()),
        rate_limit: Some("200/s".parse().unwrap()),
        seed: Some(1),
        ..ChaosConfig::default()
    };
    let lesson = common::setup_with(ServerConfig {
        chaos,
        ..ServerConfig::default()
    });
    let flags = "--fail-rate 0.2 --latency lognormal:0.05,1 --rate-limit 200/s --seed 1";
    if lesson.is_embedded() {
        println!("(the embedded server misbehaves on purpose: {flags})");
    } else {
        println!("(for the faults, start that server as: crypto_db {flags})");
    }

    // The client tries each request once; the retrying is ours, below.
    let client = Client::new(ClientConfig {
        request_timeout: Duration::from_secs(3),
        retry: RetryPolicy {
            retries: 0,
            ..RetryPolicy::default()
        },
        ..ClientConfig::new(lesson.base_url.clone())
    })
    .expect("a valid URL");
    let policy = RetryPolicy {
        retries: 10,
        base_delay: Duration::from_millis(50),
        max_delay: Duration::from_secs(2),
    };

    let tasks: Queue<Task> = Queue::new(0);
    for exchange in common::exchanges() {
        for date in common::march_2020() {
            for symbol in common::symbols() {
                tasks
                    .put(Task {
                        exchange: exchange.clone(),
                        symbol,
                        date: date.clone(),
                    })
                    .unwrap();
            }
        }
    }
    let total = tasks.qsize();
    println!("{total} tasks, {MAX_WORKERS} workers; each request: a 3 s timeout, up to 10 retries");

    let started = Instant::now();
    let results = Mutex::new(BTreeMap::new());
    let failed = Mutex::new(Vec::new());
    let troubles = Troubles::default();
    thread::scope(|scope| {
        for _ in 0..MAX_WORKERS {
            scope.spawn(|| {
                while let Ok(task) = tasks.get_nowait() {
                    match check_price_patiently(&client, &policy, &task, &troubles) {
                        Ok(price) => {
                            let key = (task.exchange, task.symbol, task.date);
                            results.lock().unwrap().insert(key, price);
                        }
                        Err(error) => failed.lock().unwrap().push(error),
                    }
                    tasks.task_done().unwrap();
                }
            });
        }
        tasks.join();
    });

    let results = results.into_inner().unwrap();
    let failed = failed.into_inner().unwrap();
    println!(
        "{} of {total} answered, {} failed, in {:.1} s",
        results.len(),
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    let troubles = troubles.0.into_inner().unwrap();
    let met: Vec<String> = troubles
        .iter()
        .map(|(kind, n)| format!("{kind} x{n}"))
        .collect();
    println!("survived on the way: {}", met.join(", "));
    for error in &failed {
        println!("failed: {error}");
    }
    for (exchange, symbol, date) in [
        ("bitstamp", "btc", "2020-03-10"),
        ("kraken", "eth", "2020-03-31"),
    ] {
        let key = (exchange.to_owned(), symbol.to_owned(), date.to_owned());
        let close = results
            .get(&key)
            .and_then(|price| price.as_ref().map(common::close))
            .unwrap_or_else(|| "None".into());
        println!("{exchange:<10} {symbol} {date} close: {close}");
    }
}
