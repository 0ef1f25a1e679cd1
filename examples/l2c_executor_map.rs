//! Lesson "concurrent.futures", *The map method*: in Python, `ex.map`
//! passes one argument per call, so the lesson wraps `check_price` in a
//! function taking a tuple. Here `map` takes tuples of arguments to begin
//! with: no wrapper needed.
//!
//! ```python
//! def check_price_tuple(arg):
//!     exchange, symbol, date = arg
//!     ...
//! with ThreadPoolExecutor(max_workers=10) as ex:
//!     results = ex.map(check_price_tuple, [(exchange, 'btc', '2020-04-01') for exchange in EXCHANGES])
//!     print([price['close'] for price in results])
//! ```

mod common;

use concurrent::ThreadPoolExecutor;

const EXCHANGES: [&str; 3] = ["bitfinex", "bitstamp", "kraken"];

/// The lesson's workaround, for comparison: one tuple argument.
fn check_price_tuple(arg: (&'static str, &'static str, &'static str)) -> Option<prices::Price> {
    let (exchange, symbol, date) = arg;
    common::check_price(exchange, symbol, date)
}

fn main() {
    let _lesson = common::setup();
    let ex = ThreadPoolExecutor::new(10);

    // As in Python: a function of one tuple.
    let results = ex.map(
        check_price_tuple,
        EXCHANGES.map(|exchange| ((exchange, "btc", "2020-04-01"),)),
    );
    let closes: Vec<String> = results
        .map(|price| common::close(&price.unwrap().unwrap()))
        .collect();
    println!("[{}]", closes.join(", "));

    // Ours: the three-argument function itself, each item its arguments.
    let results = ex.map(
        common::check_price,
        EXCHANGES.map(|exchange| (exchange, "btc", "2020-04-01")),
    );
    let closes: Vec<String> = results
        .map(|price| common::close(&price.unwrap().unwrap()))
        .collect();
    println!("[{}]", closes.join(", "));
}
