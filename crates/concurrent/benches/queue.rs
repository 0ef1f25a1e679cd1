//! Queue throughput, bounded to 1,000 items, with one producer and one
//! consumer and with four of each: our `Queue` (which also tracks
//! `task_done`) against crossbeam-channel and `std::sync::mpsc`. Python's
//! `queue.Queue` is measured by `bench/python_concurrency.py`.

use std::hint::black_box;
use std::thread;

use concurrent::Queue;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const ITEMS: u64 = 200_000;
const BOUND: usize = 1_000;

/// Moves `ITEMS` items through a channel-like pair of closures with
/// `pairs` producers and `pairs` consumers.
fn run(pairs: u64, put: impl Fn(u64) + Sync, get: impl Fn() -> u64 + Sync) -> u64 {
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

fn throughput(c: &mut Criterion) {
    for pairs in [1u64, 4] {
        let mut group = c.benchmark_group(format!("queue_{pairs}p{pairs}c_bounded_{BOUND}"));
        group.throughput(Throughput::Elements(ITEMS));
        group.sample_size(20);

        group.bench_function(BenchmarkId::new("concurrent_queue", ITEMS), |b| {
            b.iter(|| {
                let q = Queue::new(BOUND);
                black_box(run(
                    pairs,
                    |item| q.put(item).unwrap(),
                    || {
                        let item = q.get().unwrap();
                        q.task_done().unwrap();
                        item
                    },
                ))
            });
        });

        group.bench_function(BenchmarkId::new("crossbeam_channel", ITEMS), |b| {
            b.iter(|| {
                let (tx, rx) = crossbeam_channel::bounded(BOUND);
                black_box(run(
                    pairs,
                    |item| tx.send(item).unwrap(),
                    || rx.recv().unwrap(),
                ))
            });
        });

        group.bench_function(BenchmarkId::new("std_mpsc_sync_channel", ITEMS), |b| {
            b.iter(|| {
                let (tx, rx) = std::sync::mpsc::sync_channel(BOUND);
                let rx = std::sync::Mutex::new(rx); // std's receiver is single-consumer
                black_box(run(
                    pairs,
                    |item| tx.send(item).unwrap(),
                    || rx.lock().unwrap().recv().unwrap(),
                ))
            });
        });
        group.finish();
    }
}

criterion_group!(benches, throughput);
criterion_main!(benches);
