//! The cost of a task on the Redis executor, next to the process pool:
//! 10,000 trivial tasks submitted, then collected, with 1, 2 and 4 worker
//! processes of one thread each (this program started again in worker
//! mode), rounds alternated; prints one line per round and executor,
//! `executor workers microseconds-per-task`. Called by
//! `bench/redis_executor.sh`, which runs Dask's the same way beside it.
//!
//! `cargo run --release -p crypto-db-redis-queue --example executor_overhead -- redis://127.0.0.1:6379/bench [ROUNDS] [TASKS]`

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use concurrent::{Executor, ProcessPoolExecutor, remote_fn};
use redis_queue::{QueueAddress, RedisExecutor, WORKER_ENV};

remote_fn! {
    fn increment(x: u64) -> u64 {
        x + 1
    }
}

fn main() {
    concurrent::serve_if_worker();
    redis_queue::serve_if_worker();
    let mut args = std::env::args().skip(1);
    let base: QueueAddress = args
        .next()
        .expect("usage: executor_overhead redis://HOST:PORT/NAME [ROUNDS] [TASKS]")
        .parse()
        .expect("a queue address");
    let rounds: usize = args.next().map_or(5, |n| n.parse().expect("ROUNDS"));
    let tasks: u64 = args.next().map_or(10_000, |n| n.parse().expect("TASKS"));
    for round in 1..=rounds {
        for workers in [1, 2, 4] {
            let address = base.with_name(&format!("{}-{round}-{workers}", base.name()));
            println!("redis {workers} {:.1}", on_redis(&address, workers, tasks));
            println!("processes {workers} {:.1}", on_processes(workers, tasks));
        }
    }
}

/// Microseconds a task, submit to the last result, once every worker is up.
fn run<E: Executor<increment, (u64,), Output = u64>>(ex: &E, tasks: u64) -> f64 {
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|n| ex.submit(increment, (n,)).unwrap())
        .collect();
    let sum: u64 = handles.iter().map(|handle| handle.result().unwrap()).sum();
    let elapsed = started.elapsed();
    assert_eq!(sum, tasks * (tasks + 1) / 2);
    elapsed.as_secs_f64() * 1e6 / tasks as f64
}

fn on_redis(address: &QueueAddress, workers: usize, tasks: u64) -> f64 {
    let ex = RedisExecutor::builder()
        .tasks_ahead_per_slot(64)
        .connect(address)
        .unwrap();
    let mut children: Vec<Child> = (0..workers)
        .map(|_| {
            Command::new(std::env::current_exe().unwrap())
                .env(WORKER_ENV, address.to_string())
                .env("CONCURRENT_REDIS_WORKER_THREADS", "1")
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let started = Instant::now();
    while ex.live_workers().unwrap() < workers {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "workers did not start"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // The window follows the roll, read four times a second.
    std::thread::sleep(Duration::from_millis(300));
    let per_task = run(&ex, tasks);
    drop(ex);
    for child in &mut children {
        child.wait().unwrap();
    }
    per_task
}

fn on_processes(workers: usize, tasks: u64) -> f64 {
    let ex = ProcessPoolExecutor::new(workers);
    // Start every worker first, as the Redis side's are.
    let warm: Vec<_> = (0..workers as u64 * 4)
        .map(|n| ex.submit(increment, (n,)).unwrap())
        .collect();
    warm.iter().for_each(|handle| drop(handle.result()));
    run(&ex, tasks)
}
