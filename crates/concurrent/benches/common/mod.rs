//! The workloads the library's benchmarks share, so that the criterion
//! benches and the interleaved A/B measure exactly the same thing.

// Each bench uses the part it needs.
#![allow(dead_code)]

use std::hint::black_box;
use std::thread;

use concurrent::{Queue, ThreadPoolExecutor};

/// Items moved through a queue in one run.
pub const ITEMS: u64 = 200_000;
/// The bounded queues' capacity.
pub const BOUND: usize = 1_000;
/// Items handed back and forth, one at a time, in one ping-pong run.
pub const ROUND_TRIPS: u64 = 20_000;
/// Workers of the executor benchmarks.
pub const WORKERS: usize = 4;
/// Tasks submitted (and collected) in one run.
pub const BATCH: u64 = 10_000;

/// Moves `ITEMS` items through a channel-like pair of closures with
/// `pairs` producers and `pairs` consumers; the sum of what was taken.
pub fn pipe(pairs: u64, put: impl Fn(u64) + Sync, get: impl Fn() -> u64 + Sync) -> u64 {
    thread::scope(|scope| {
        for p in 0..pairs {
            let put = &put;
            scope.spawn(move || {
                for i in 0..ITEMS / pairs {
                    put(p * ITEMS + i);
                }
            });
        }
        let consumers: Vec<_> = (0..pairs)
            .map(|_| {
                let get = &get;
                scope.spawn(move || {
                    (0..ITEMS / pairs)
                        .map(|_| get())
                        .fold(0u64, u64::wrapping_add)
                })
            })
            .collect();
        consumers
            .into_iter()
            .map(|c| c.join().unwrap())
            .fold(0, u64::wrapping_add)
    })
}

/// Sends `ROUND_TRIPS` items, one at a time, to a thread that sends each
/// back through a second channel, waiting for every reply before the next
/// item: the latency of a hand-off, where [`pipe`] measures throughput.
/// Each channel is a put and a get closure.
pub fn ping_pong(
    (put_there, get_there): (impl Fn(u64) + Sync, impl Fn() -> u64 + Sync),
    (put_back, get_back): (impl Fn(u64) + Sync, impl Fn() -> u64 + Sync),
) -> u64 {
    thread::scope(|scope| {
        scope.spawn(|| {
            for _ in 0..ROUND_TRIPS {
                put_back(get_there() + 1);
            }
        });
        (0..ROUND_TRIPS)
            .map(|i| {
                put_there(i);
                get_back()
            })
            .fold(0, u64::wrapping_add)
    })
}

/// Moves `ITEMS` items through a fresh `Queue` bounded to `BOUND`, the
/// consumers marking each one done with `task_done` when `tracked` (as the
/// lessons' workers do).
pub fn through_queue(pairs: u64, tracked: bool) -> u64 {
    let q = Queue::new(BOUND);
    pipe(
        pairs,
        |item| q.put(item).unwrap(),
        || {
            let item = q.get().unwrap();
            if tracked {
                q.task_done().unwrap();
            }
            item
        },
    )
}

/// Submits `BATCH` trivial tasks to our pool and collects every result.
pub fn submit_and_collect(pool: &ThreadPoolExecutor) -> u64 {
    let handles: Vec<_> = (0..BATCH)
        .map(|i| pool.spawn(move || black_box(i)).unwrap())
        .collect();
    handles.into_iter().map(|h| h.into_result().unwrap()).sum()
}

/// The same with rayon: a scope spawn per task, results over a channel.
pub fn rayon_spawn_and_collect(pool: &rayon::ThreadPool) -> u64 {
    let (tx, rx) = crossbeam_channel::unbounded();
    pool.scope(|scope| {
        for i in 0..BATCH {
            let tx = tx.clone();
            scope.spawn(move |_| tx.send(black_box(i)).unwrap());
        }
    });
    drop(tx);
    rx.iter().sum()
}
