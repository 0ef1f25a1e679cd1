//! Lesson "concurrent.futures", *Futures*: `submit` returns at once;
//! `done()` is false until the task ends; `result()` waits for it.
//!
//! ```python
//! with ThreadPoolExecutor(max_workers=10) as ex:
//!     future = ex.submit(check_price, 'bitstamp', 'btc', '2020-04-01')
//!     print(future.done())
//!     print(f"Price: ${future.result()['close']}")
//!     print(future.done())
//! ```
//!
//! With `--sleep 1` the first `done()` is certainly `false`: the request
//! is still waiting on the server.

mod common;

use concurrent::ThreadPoolExecutor;

fn main() {
    let _lesson = common::setup();
    let ex = ThreadPoolExecutor::new(10);
    let future = ex
        .submit(common::check_price, ("bitstamp", "btc", "2020-04-01"))
        .unwrap();
    println!("{}", future.done());
    println!(
        "Price: ${}",
        common::close(&future.result().unwrap().unwrap())
    );
    println!("{}", future.done());
}
