//! Queue throughput, bounded to 1,000 items, with one producer and one
//! consumer and with four of each: our `Queue` (which also tracks
//! `task_done`) against crossbeam-channel and `std::sync::mpsc`. Python's
//! `queue.Queue` is measured by `bench/lib/python_concurrency.py`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

mod common;

use common::{BOUND, ITEMS, pipe, through_queue};

fn throughput(c: &mut Criterion) {
    for pairs in [1u64, 4] {
        let mut group = c.benchmark_group(format!("queue_{pairs}p{pairs}c_bounded_{BOUND}"));
        group.throughput(Throughput::Elements(ITEMS));
        group.sample_size(20);

        group.bench_function(BenchmarkId::new("concurrent_queue", ITEMS), |b| {
            b.iter(|| black_box(through_queue(pairs, true)));
        });

        group.bench_function(BenchmarkId::new("crossbeam_channel", ITEMS), |b| {
            b.iter(|| {
                let (tx, rx) = crossbeam_channel::bounded(BOUND);
                black_box(pipe(
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
                black_box(pipe(
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
