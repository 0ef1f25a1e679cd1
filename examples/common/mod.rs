//! What every lesson example shares: finding the price server (or starting
//! the embedded one), and the lessons' `check_price`.
//!
//! Each example takes `--url URL` (default `http://127.0.0.1:8080`, where
//! `crypto_db` serves) and `--sleep SECONDS` (the latency the lessons use
//! to show why concurrency helps; it applies to the embedded server).

#![allow(dead_code)] // Each example uses its own part of this module.

use std::sync::OnceLock;
use std::time::Duration;

use client::{Client, ClientConfig, RetryPolicy};
use prices::Price;

/// The server the lesson talks to. Keeps the embedded server alive, if one
/// was started, until the example ends.
pub struct Lesson {
    pub base_url: String,
    _embedded: Option<server::BackgroundServer>,
}

impl Lesson {
    /// Whether the example started the embedded server (none answered at
    /// `--url`).
    pub fn is_embedded(&self) -> bool {
        self._embedded.is_some()
    }
}

static CLIENT: OnceLock<Client> = OnceLock::new();

/// Finds the server at `--url`, or starts the embedded one and says so.
pub fn setup() -> Lesson {
    setup_with(server::ServerConfig::default())
}

/// As [`setup`], the embedded server started with `config` (and the
/// `--sleep` given).
pub fn setup_with(config: server::ServerConfig) -> Lesson {
    let mut url = DEFAULT_URL.to_owned();
    let mut sleep = Duration::ZERO;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--url" => url = args.next().expect("--url needs a value"),
            "--sleep" => sleep = seconds(args.next(), "--sleep"),
            other => panic!("unknown argument {other:?} (expected --url URL or --sleep SECONDS)"),
        }
    }
    setup_at(url, sleep, config)
}

/// Where the lessons' server listens unless `--url` says otherwise.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// The value of a flag taking seconds.
pub fn seconds(value: Option<String>, flag: &str) -> Duration {
    let seconds: f64 = value
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{flag} needs seconds"));
    Duration::from_secs_f64(seconds)
}

/// The server at `url`, or the embedded one started with `config` and
/// `sleep` when none answers there (for examples that read more flags).
pub fn setup_at(url: String, sleep: Duration, config: server::ServerConfig) -> Lesson {
    let quick = ClientConfig {
        connect_timeout: Duration::from_millis(500),
        retry: RetryPolicy {
            retries: 0,
            ..RetryPolicy::default()
        },
        ..ClientConfig::new(url.clone())
    };
    let reachable = Client::new(quick)
        .and_then(|client| client.exchanges())
        .is_ok();
    let (base_url, embedded) = if reachable {
        (url, None)
    } else {
        let config = server::ServerConfig { sleep, ..config };
        let table = prices::PriceTable::embedded().expect("the embedded dataset loads");
        let embedded =
            server::BackgroundServer::start(table, config).expect("a free port on 127.0.0.1");
        println!(
            "(no server at {url}; started the embedded one at {}, --sleep {:?})",
            embedded.url(),
            sleep
        );
        (embedded.url(), Some(embedded))
    };
    // On standard error, so that the lessons' printed results stay theirs.
    eprintln!("(watch the requests live: open {base_url}/live while this runs)");
    let client = Client::new(ClientConfig::new(base_url.clone())).expect("a valid URL");
    let _ = CLIENT.set(client);
    Lesson {
        base_url,
        _embedded: embedded,
    }
}

fn client() -> &'static Client {
    CLIENT.get().expect("setup() runs first")
}

/// The lessons' `check_price`: the price, or `None` (`null`) when there is
/// no data that day. A failed request ends the example with its reason.
pub fn check_price(exchange: &str, symbol: &str, date: &str) -> Option<Price> {
    client()
        .check_price(exchange, symbol, date)
        .unwrap_or_else(|error| panic!("check_price({exchange}, {symbol}, {date}): {error}"))
}

/// `GET /exchanges`.
pub fn exchanges() -> Vec<String> {
    client().exchanges().expect("GET /exchanges")
}

/// `GET /symbols`.
pub fn symbols() -> Vec<String> {
    client().symbols().expect("GET /symbols")
}

/// The lessons' 31 days of March 2020, as `YYYY-MM-DD`.
pub fn march_2020() -> Vec<String> {
    let first = prices::Day::parse("2020-03-01").unwrap();
    let last = prices::Day::parse("2020-03-31").unwrap();
    first.through(last).map(|day| day.to_string()).collect()
}

/// Python's `price['close']` printed as Python prints it.
pub fn close(price: &Price) -> String {
    price
        .close
        .map_or_else(|| "None".to_owned(), |close| close.to_string())
}
