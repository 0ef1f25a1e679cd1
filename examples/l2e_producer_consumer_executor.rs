//! Lesson "concurrent.futures", *Producer/Consumer with concurrent.futures*:
//! the same workers, submitted to a `ThreadPoolExecutor`, writing to a
//! results queue, then a nested table read back from it.
//!
//! ```python
//! work_to_do = Queue(); work_done = SimpleQueue()
//! with ThreadPoolExecutor(max_workers=32) as ex:
//!     futures = [ex.submit(worker, work_to_do, work_done) for _ in range(32)]
//!     work_to_do.join()
//! results = {}
//! while True: price, exchange, symbol, date = work_done.get(block=None) ... results[exchange][date][symbol] = price['close']
//! results['bitfinex']['2020-03-10']['btc']
//! ```

mod common;

use std::collections::BTreeMap;

use concurrent::{Queue, SimpleQueue, ThreadPoolExecutor};
use prices::Price;

type Task = (String, String, String);
type Done = (Option<Price>, String, String, String);

fn worker(task_queue: Queue<Task>, results_queue: SimpleQueue<Done>) {
    loop {
        let Ok((exchange, symbol, date)) = task_queue.get_nowait() else {
            return;
        };
        let price = common::check_price(&exchange, &symbol, &date);
        results_queue.put((price, exchange, symbol, date));
        task_queue.task_done().unwrap();
    }
}

fn main() {
    let _lesson = common::setup();
    let work_to_do: Queue<Task> = Queue::new(0);
    let work_done: SimpleQueue<Done> = SimpleQueue::new();
    for exchange in common::exchanges() {
        for date in common::march_2020() {
            for symbol in common::symbols() {
                work_to_do
                    .put((exchange.clone(), symbol, date.clone()))
                    .unwrap();
            }
        }
    }
    println!("work_to_do.qsize() -> {}", work_to_do.qsize());

    let futures = {
        let ex = ThreadPoolExecutor::new(32);
        let futures: Vec<_> = (0..32)
            .map(|_| {
                ex.submit(worker, (work_to_do.clone(), work_done.clone()))
                    .unwrap()
            })
            .collect();
        work_to_do.join();
        futures
    }; // the pool is shut down here, as at the end of Python's `with`
    println!("all futures done -> {}", futures.iter().all(|f| f.done()));
    println!("work_done.qsize() -> {}", work_done.qsize());

    let mut results: BTreeMap<String, BTreeMap<String, BTreeMap<String, Option<String>>>> =
        BTreeMap::new();
    while let Some((price, exchange, symbol, date)) = work_done.get_nowait() {
        let close = price.as_ref().map(common::close);
        results
            .entry(exchange)
            .or_default()
            .entry(date)
            .or_default()
            .insert(symbol, close);
    }
    for exchange in ["bitfinex", "bitstamp", "coinbase-pro"] {
        let close = results[exchange]["2020-03-10"]["btc"]
            .clone()
            .unwrap_or_else(|| "None".into());
        println!("results['{exchange}']['2020-03-10']['btc'] -> {close}");
    }
}
