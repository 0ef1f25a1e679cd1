//! Lesson "concurrent.futures", *submit & as_completed*: a map from each
//! future to its exchange, then the results in the order they finish.
//!
//! ```python
//! with ThreadPoolExecutor(max_workers=10) as ex:
//!     futures = {ex.submit(check_price, exchange, 'btc', '2020-04-01'): exchange for exchange in EXCHANGES}
//!     for future in cf.as_completed(futures):
//!         exchange = futures[future]
//!         print(f"{exchange.title()}: ${future.result()['close']}")
//! ```
//!
//! The order of the lines may change from run to run: that is the point.

mod common;

use std::collections::HashMap;

use concurrent::{ThreadPoolExecutor, as_completed};

const EXCHANGES: [&str; 3] = ["bitfinex", "bitstamp", "kraken"];

// Handles hash by identity, never by their changing state.
#[allow(clippy::mutable_key_type)]
fn main() {
    let _lesson = common::setup();
    let ex = ThreadPoolExecutor::new(10);
    let futures: HashMap<_, _> = EXCHANGES
        .into_iter()
        .map(|exchange| {
            (
                ex.submit(common::check_price, (exchange, "btc", "2020-04-01"))
                    .unwrap(),
                exchange,
            )
        })
        .collect();
    for future in as_completed(futures.keys(), None) {
        let future = future.unwrap();
        let exchange = futures[future];
        let price = future.result().unwrap().unwrap();
        println!(
            "{}: ${}",
            client::fetch::lesson::title(exchange),
            common::close(&price)
        );
    }
}
