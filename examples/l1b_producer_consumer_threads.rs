//! Lesson "The Producer / Consumer model", *A real example*: a queue of
//! every exchange x symbol x day of March 2020, 32 worker threads taking
//! tasks until the queue is empty, a `PriceResults` table, and five random
//! lines.
//!
//! ```python
//! tasks = Queue()
//! for exchange in EXCHANGES: for date in DATES: for symbol in SYMBOLS: tasks.put({...})
//! def worker(task_queue, results):
//!     while True:
//!         try: task = task_queue.get(block=False)
//!         except queue.Empty: print('Queue is empty! My work here is done. Exiting.'); return
//!         results.put_price(check_price(...), exchange, symbol, date)
//!         task_queue.task_done()
//! threads = [Thread(target=worker, args=(tasks, results)) for _ in range(MAX_WORKERS)]
//! [t.start() for t in threads]; tasks.join()
//! ```
//!
//! Try `--sleep 0.1`: 1,116 requests of 0.1 s each take about 3.5 s with
//! 32 workers, not 112 s.

mod common;

use std::collections::HashMap;
use std::sync::Mutex;
use std::thread;
use std::time::Instant;

use concurrent::Queue;
use prices::Price;

const MAX_WORKERS: usize = 32;

#[derive(Debug)]
struct Task {
    exchange: String,
    symbol: String,
    date: String,
}

/// The lesson's `PriceResults`. Python can share a dict between threads
/// because each task writes its own slot; Rust asks us to say how the
/// table is shared, so it sits behind a mutex.
struct PriceResults {
    results: Mutex<HashMap<(String, String, String), Option<Price>>>,
}

impl PriceResults {
    fn put_price(&self, price: Option<Price>, exchange: &str, symbol: &str, date: &str) {
        self.results
            .lock()
            .unwrap()
            .insert((exchange.into(), date.into(), symbol.into()), price);
    }

    fn get_price(&self, exchange: &str, symbol: &str, date: &str) -> Option<Price> {
        self.results
            .lock()
            .unwrap()
            .get(&(exchange.into(), date.into(), symbol.into()))
            .cloned()
            .flatten()
    }
}

fn worker(task_queue: &Queue<Task>, results: &PriceResults) {
    loop {
        let Ok(task) = task_queue.get_nowait() else {
            println!("Queue is empty! My work here is done. Exiting.");
            return;
        };
        let price = common::check_price(&task.exchange, &task.symbol, &task.date);
        results.put_price(price, &task.exchange, &task.symbol, &task.date);
        task_queue.task_done().unwrap();
    }
}

fn main() {
    let _lesson = common::setup();
    let (exchanges, symbols, dates) =
        (common::exchanges(), common::symbols(), common::march_2020());
    println!("{} tasks", exchanges.len() * symbols.len() * dates.len());

    let tasks = Queue::new(0);
    for exchange in &exchanges {
        for date in &dates {
            for symbol in &symbols {
                tasks
                    .put(Task {
                        exchange: exchange.clone(),
                        symbol: symbol.clone(),
                        date: date.clone(),
                    })
                    .unwrap();
            }
        }
    }
    println!("tasks.qsize() -> {}", tasks.qsize());

    let results = PriceResults {
        results: Mutex::new(HashMap::new()),
    };
    let started = Instant::now();
    thread::scope(|scope| {
        for _ in 0..MAX_WORKERS {
            scope.spawn(|| worker(&tasks, &results));
        }
        tasks.join();
        println!(
            "tasks.join() returned after {:.2?}; tasks.qsize() -> {}",
            started.elapsed(),
            tasks.qsize()
        );
    });

    // Five random samples, as the lesson prints them (a fixed seed here).
    let mut rng = fastrand::Rng::with_seed(42);
    for _ in 0..5 {
        let exchange = &exchanges[rng.usize(..exchanges.len())];
        let symbol = &symbols[rng.usize(..symbols.len())];
        let date = &dates[rng.usize(..dates.len())];
        let record = client::fetch::Record {
            task: client::fetch::Task {
                exchange: exchange.clone(),
                symbol: symbol.clone(),
                day: date.parse().unwrap(),
            },
            price: results.get_price(exchange, symbol, date),
        };
        println!("{}", client::fetch::lesson::sample_line(&record));
    }
}
