//! Lesson "concurrent.futures", *Executors*: the same `check_price`, on a
//! thread pool and on a process pool. Only the executor's line changes.
//!
//! ```python
//! with ThreadPoolExecutor(max_workers=10) as ex:
//!     future = ex.submit(check_price, 'bitstamp', 'btc', '2020-04-01')
//!     print(f"Price: ${future.result()['close']}")
//! with ProcessPoolExecutor(max_workers=10, mp_context=mp.get_context('fork')) as ex:
//!     ...
//! ```
//!
//! `cargo run --example l2a_executors [-- --url URL] [-- --sleep SECONDS]`

mod common;

use concurrent::{ProcessPoolExecutor, ThreadPoolExecutor, remote_fn};
use prices::Price;

remote_fn! {
    /// `check_price` for a worker process, which has none of this
    /// process's globals: the server's URL comes as an argument. The price
    /// crosses back whole (`Price` is serialisable).
    fn check_price_at(base_url: String, exchange: String, symbol: String, date: String) -> Option<Price> {
        let client = client::Client::new(client::ClientConfig::new(base_url)).expect("a valid URL");
        client.check_price(&exchange, &symbol, &date).expect("the price server answers")
    }
}

fn main() {
    // A process pool starts this program again as its workers.
    concurrent::serve_if_worker();
    let lesson = common::setup();

    {
        let ex = ThreadPoolExecutor::new(10);
        let future = ex
            .submit(common::check_price, ("bitstamp", "btc", "2020-04-01"))
            .unwrap();
        println!(
            "Price: ${}",
            common::close(&future.result().unwrap().unwrap())
        );
    } // leaving the block shuts the pool down, like Python's `with`

    {
        let ex = ProcessPoolExecutor::new(10);
        let args = (
            lesson.base_url.clone(),
            "bitstamp".to_owned(),
            "btc".to_owned(),
            "2020-04-01".to_owned(),
        );
        let future = ex.submit(check_price_at, args).unwrap();
        println!(
            "Price: ${}",
            common::close(&future.result().unwrap().unwrap())
        );
    }
}
