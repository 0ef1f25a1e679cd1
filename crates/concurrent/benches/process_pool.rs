//! Process pool costs, against the thread pool and a plain loop:
//!
//! - round trip of a trivial task on 2 worker processes, one message per
//!   task and in chunks of 100 (`map_chunked`);
//! - a CPU-bound job (hashing 64 MiB, generated in place, in 8 tasks) run
//!   sequentially, on 2 threads and on 2 processes.
//!
//! Python's `ProcessPoolExecutor` is timed by `bench/lib/python_process_pool.py`;
//! `bench/process_pool.sh` runs both and prints the table.
//!
//! This binary is its own worker: `main` calls `serve_if_worker` first.

use std::hint::black_box;

use concurrent::{Call, ProcessPoolExecutor, ThreadPoolExecutor, remote_fn};
use criterion::{BenchmarkId, Criterion, Throughput};

const TRIVIAL_BATCH: u64 = 2_000;
const CHUNK: usize = 100;
const HASH_TASKS: u64 = 8;
const HASH_BYTES_PER_TASK: u64 = 8 << 20;

remote_fn! {
    fn echo(x: u64) -> u64 {
        x
    }

    /// FNV-1a over `len` bytes of a xorshift stream seeded by `seed`: real
    /// CPU work with nothing to transfer but two numbers.
    fn hash_stream(seed: u64, len: u64) -> u64 {
        let mut state = seed | 1;
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for _ in 0..len / 8 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            for byte in state.to_le_bytes() {
                hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
            }
        }
        hash
    }
}

fn round_trip(c: &mut Criterion) {
    let pool = ProcessPoolExecutor::new(2);
    // Start both workers before timing.
    let _: Vec<u64> = pool
        .map_chunked(echo, (0..4u64).map(|n| (n,)), 1)
        .map(Result::unwrap)
        .collect();
    let mut group = c.benchmark_group("process_round_trip_2_workers");
    group.throughput(Throughput::Elements(TRIVIAL_BATCH));
    group.sample_size(20);
    group.bench_function(BenchmarkId::new("unchunked", TRIVIAL_BATCH), |b| {
        b.iter(|| {
            let handles: Vec<_> = (0..TRIVIAL_BATCH)
                .map(|i| pool.submit(echo, (i,)).unwrap())
                .collect();
            handles
                .into_iter()
                .map(|h| h.into_result().unwrap())
                .sum::<u64>()
        });
    });
    group.bench_function(BenchmarkId::new("chunked_100", TRIVIAL_BATCH), |b| {
        b.iter(|| {
            pool.map_chunked(echo, (0..TRIVIAL_BATCH).map(|i| (i,)), CHUNK)
                .map(Result::unwrap)
                .sum::<u64>()
        });
    });
    group.finish();
}

fn cpu_bound(c: &mut Criterion) {
    let mut group = c.benchmark_group("hash_64MiB_in_8_tasks");
    group.throughput(Throughput::Bytes(HASH_TASKS * HASH_BYTES_PER_TASK));
    group.sample_size(10);
    let tasks = || (0..HASH_TASKS).map(|seed| (seed, HASH_BYTES_PER_TASK));
    group.bench_function("sequential", |b| {
        b.iter(|| {
            tasks()
                .map(|args| hash_stream.call(args))
                .fold(0, u64::wrapping_add)
        });
    });
    let threads = ThreadPoolExecutor::new(2);
    group.bench_function("threads_2", |b| {
        b.iter(|| {
            threads
                .map(hash_stream, tasks())
                .map(Result::unwrap)
                .fold(0, u64::wrapping_add)
        });
    });
    let processes = ProcessPoolExecutor::new(2);
    group.bench_function("processes_2", |b| {
        b.iter(|| {
            processes
                .map_chunked(hash_stream, tasks(), 1)
                .map(Result::unwrap)
                .fold(0, u64::wrapping_add)
        });
    });
    group.finish();
    black_box(());
}

fn main() {
    concurrent::serve_if_worker();
    let mut criterion = Criterion::default().configure_from_args();
    round_trip(&mut criterion);
    cpu_bound(&mut criterion);
    criterion.final_summary();
}
