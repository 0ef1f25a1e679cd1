//! The cost of a task on the Redis executor, next to the process pool:
//! 10,000 trivial tasks submitted, then collected, with 1, 2 and 4 worker
//! processes of one thread each (this program started again in worker
//! mode), rounds alternated; prints one line per round and executor,
//! `executor workers microseconds-per-task`. Called by
//! `bench/redis_executor.sh`, which runs Dask's the same way beside it.
//!
//! With `scaling` instead of ROUNDS: tasks of 0.1 s, ten per worker, on
//! 8, 16 and 32 worker processes; prints `scaling workers seconds` (the
//! ideal is 1 s).
//!
//! `cargo run --release -p crypto-db-redis-queue --example executor_overhead -- redis://127.0.0.1:6379/bench [ROUNDS|scaling] [TASKS] [TASKS_AHEAD]`
//! (TASKS_AHEAD: the executor's tasks in Redis per worker slot; unless
//! given, the executor's own choice, which follows the tasks' run times).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use concurrent::{Executor, ProcessPoolExecutor, remote_fn};
use redis_queue::{QueueAddress, RedisExecutor, WORKER_ENV};

remote_fn! {
    fn increment(x: u64) -> u64 {
        x + 1
    }

    fn sleep_ms(ms: u64) -> u64 {
        std::thread::sleep(Duration::from_millis(ms));
        ms
    }
}

fn main() {
    concurrent::serve_if_worker();
    redis_queue::serve_if_worker();
    let mut args = std::env::args().skip(1);
    let base: QueueAddress = args
        .next()
        .expect("usage: executor_overhead redis://HOST:PORT/NAME [ROUNDS] [TASKS] [TASKS_AHEAD]")
        .parse()
        .expect("a queue address");
    let rounds = args.next();
    if rounds.as_deref() == Some("scaling") {
        for workers in [8, 16, 32] {
            let address = base.with_name(&format!("{}-scaling-{workers}", base.name()));
            let tasks = 10 * workers as u64;
            let seconds = scaling(&address, workers, tasks);
            // Ten rounds of 0.1 s whatever the workers: 1 s is the ideal.
            println!("scaling {workers} {seconds:.3}");
        }
        return;
    }
    let rounds: usize = rounds.map_or(5, |n| n.parse().expect("ROUNDS"));
    let tasks: u64 = args.next().map_or(10_000, |n| n.parse().expect("TASKS"));
    let ahead: Option<usize> = args.next().map(|n| n.parse().expect("TASKS_AHEAD"));
    for round in 1..=rounds {
        for workers in [1, 2, 4] {
            let address = base.with_name(&format!("{}-{round}-{workers}", base.name()));
            println!(
                "redis {workers} {:.1}",
                on_redis(&address, workers, tasks, ahead)
            );
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

/// Seconds for `tasks` tasks of 0.1 s on `workers` worker processes (the
/// ideal: tasks x 0.1 s / workers).
fn scaling(address: &QueueAddress, workers: usize, tasks: u64) -> f64 {
    let ex = RedisExecutor::connect(address).unwrap();
    let mut children = start_workers(&ex, address, workers);
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|_| ex.submit(sleep_ms, (100,)).unwrap())
        .collect();
    handles
        .iter()
        .for_each(|handle| assert_eq!(handle.result(), Ok(100)));
    let seconds = started.elapsed().as_secs_f64();
    drop(ex);
    for child in &mut children {
        child.wait().unwrap();
    }
    seconds
}

fn on_redis(address: &QueueAddress, workers: usize, tasks: u64, ahead: Option<usize>) -> f64 {
    let builder = RedisExecutor::builder();
    let builder = match ahead {
        Some(ahead) => builder.tasks_ahead_per_slot(ahead),
        None => builder,
    };
    let ex = builder.connect(address).unwrap();
    let mut children = start_workers(&ex, address, workers);
    let per_task = run(&ex, tasks);
    drop(ex);
    for child in &mut children {
        child.wait().unwrap();
    }
    per_task
}

/// `workers` worker processes of one thread, on the roll and in the window.
fn start_workers(ex: &RedisExecutor, address: &QueueAddress, workers: usize) -> Vec<Child> {
    let children: Vec<Child> = (0..workers)
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
    children
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
