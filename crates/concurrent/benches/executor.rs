//! Per-task overhead of submit + result for a trivial task, on 4 workers:
//! our `ThreadPoolExecutor` against rayon (scope spawn) and the
//! `threadpool` crate. Python's `ThreadPoolExecutor` is measured by
//! `bench/lib/python_concurrency.py`; `bench/library.sh` runs both and
//! prints the table for BENCHMARKS.md.
//!
//! Each iteration submits a batch of tasks and collects every result, so
//! the time per task includes the hand-off both ways.

use std::hint::black_box;

use concurrent::ThreadPoolExecutor;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

mod common;

use common::{BATCH, WORKERS, rayon_spawn_and_collect, submit_and_collect};

fn submit_and_result(c: &mut Criterion) {
    let mut group = c.benchmark_group("submit_result_4_workers");
    group.throughput(Throughput::Elements(BATCH));

    let ours = ThreadPoolExecutor::new(WORKERS);
    group.bench_function(BenchmarkId::new("concurrent", BATCH), |b| {
        b.iter(|| submit_and_collect(&ours));
    });

    let rayon_pool = rayon::ThreadPoolBuilder::new()
        .num_threads(WORKERS)
        .build()
        .unwrap();
    group.bench_function(BenchmarkId::new("rayon_scope_spawn", BATCH), |b| {
        b.iter(|| rayon_spawn_and_collect(&rayon_pool));
    });

    let threadpool = threadpool::ThreadPool::new(WORKERS);
    group.bench_function(BenchmarkId::new("threadpool", BATCH), |b| {
        b.iter(|| {
            let (tx, rx) = crossbeam_channel::unbounded();
            for i in 0..BATCH {
                let tx = tx.clone();
                threadpool.execute(move || tx.send(black_box(i)).unwrap());
            }
            drop(tx);
            rx.iter().sum::<u64>()
        });
    });
    group.finish();
}

criterion_group!(benches, submit_and_result);
criterion_main!(benches);
