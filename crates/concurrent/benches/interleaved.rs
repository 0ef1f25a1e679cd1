//! Ours against the anchor, interleaved: each case runs ours, then the
//! anchor, then ours again, round by round, and prints the medians and
//! their ratio. Criterion runs its benchmarks one after another, so a
//! machine whose speed drifts (turbo, a neighbour, a CPU model that
//! changes between sessions) can favour whichever ran first; alternating
//! rounds spreads the drift over both sides.
//!
//! `cargo bench -p concurrent --bench interleaved [-- ROUNDS [alone]]` (11
//! rounds by default; `alone`: submit + result with each pool alone);
//! `bench/library.sh --interleaved` runs it.
//! The goals it measures are issue #12's: `Queue` at 0.9x
//! crossbeam-channel's throughput or better, `SimpleQueue` likewise
//! against crossbeam's unbounded channel, and submit + result within 1.2x
//! rayon's time per task.
//!
//! A ping-pong line watches the other side of the `Queue`'s waiting: one
//! item in flight, so every get waits, and what is timed is how soon a
//! waiting get sees its item (the latency that the waiters' patience must
//! not cost; see `queue/sleepers.rs`).
//!
//! Two more lines take the `Queue`'s gap apart: the queue without
//! `task_done` (the ring and the blocking around it), and crossbeam's own
//! ring with nothing added but one locked increment per item taken (what
//! any `task_done` that counts with an atomic pays).

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use crossbeam_utils::{Backoff, CachePadded};

use concurrent::{Queue, SimpleQueue, ThreadPoolExecutor};

mod common;

use common::{
    BATCH, BOUND, ITEMS, ROUND_TRIPS, WORKERS, ping_pong, pipe, rayon_spawn_and_collect,
    submit_and_collect, through_queue,
};

/// How long `run` takes (its result kept from the optimiser).
fn timed(run: impl FnOnce() -> u64) -> Duration {
    let started = Instant::now();
    black_box(run());
    started.elapsed()
}

fn queue(pairs: u64) -> Duration {
    timed(|| through_queue(pairs, true))
}

/// The queue alone, without `task_done`: what the ring and the blocking
/// around it cost, apart from the task count.
fn queue_untracked(pairs: u64) -> Duration {
    timed(|| through_queue(pairs, false))
}

/// crossbeam's ring (the one under `Queue`), waiting by spinning, with one
/// locked increment of a counter per item taken: a `task_done` reduced to
/// its count.
fn ring_counting_each_item(pairs: u64) -> Duration {
    let ring = ArrayQueue::new(BOUND);
    let done = CachePadded::new(AtomicU64::new(0));
    timed(|| {
        pipe(
            pairs,
            |mut item| {
                let backoff = Backoff::new();
                while let Err(back) = ring.push(item) {
                    item = back;
                    backoff.snooze();
                }
            },
            || {
                let backoff = Backoff::new();
                loop {
                    if let Some(item) = ring.pop() {
                        done.fetch_add(1, Ordering::SeqCst);
                        return item;
                    }
                    backoff.snooze();
                }
            },
        )
    })
}

fn crossbeam_bounded(pairs: u64) -> Duration {
    let (tx, rx) = crossbeam_channel::bounded(BOUND);
    timed(|| pipe(pairs, |item| tx.send(item).unwrap(), || rx.recv().unwrap()))
}

fn queue_ping_pong() -> Duration {
    let (there, back) = (Queue::new(BOUND), Queue::new(BOUND));
    timed(|| {
        ping_pong(
            (|item| there.put(item).unwrap(), || there.get().unwrap()),
            (|item| back.put(item).unwrap(), || back.get().unwrap()),
        )
    })
}

fn crossbeam_ping_pong() -> Duration {
    let (to_there, there) = crossbeam_channel::bounded(BOUND);
    let (to_back, back) = crossbeam_channel::bounded(BOUND);
    timed(|| {
        ping_pong(
            (
                |item| to_there.send(item).unwrap(),
                || there.recv().unwrap(),
            ),
            (|item| to_back.send(item).unwrap(), || back.recv().unwrap()),
        )
    })
}

fn simple_queue() -> Duration {
    let q = SimpleQueue::new();
    timed(|| pipe(1, |item| q.put(item), || q.get()))
}

fn crossbeam_unbounded() -> Duration {
    let (tx, rx) = crossbeam_channel::unbounded();
    timed(|| pipe(1, |item| tx.send(item).unwrap(), || rx.recv().unwrap()))
}

fn submit_result(pool: &ThreadPoolExecutor) -> Duration {
    timed(|| submit_and_collect(pool))
}

fn rayon_spawn(pool: &rayon::ThreadPool) -> Duration {
    timed(|| rayon_spawn_and_collect(pool))
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Runs `ours` and `anchor` alternately for `rounds` rounds (after one
/// warm-up each) and prints one line: per-item medians and ours/anchor.
fn compare(
    name: &str,
    items: u64,
    rounds: usize,
    mut ours: impl FnMut() -> Duration,
    mut anchor: impl FnMut() -> Duration,
) {
    ours();
    anchor();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        a.push(ours());
        b.push(anchor());
    }
    // Every round, for pooling over several runs (`bench/library.sh --rounds`):
    // one process tends to stay in one mode, so one run is not the figure.
    if let Some(path) = std::env::var_os("ROUNDS_OUT") {
        use std::io::Write as _;
        if let Ok(mut out) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            for (ours, anchor) in a.iter().zip(&b) {
                let _ = writeln!(out, "{name}\t{}\t{}", ours.as_nanos(), anchor.as_nanos());
            }
        }
    }
    // Each round's ratio, so the spread shows with the medians: a figure
    // is the median of every round, never of the rounds that suit it.
    let mut ratios: Vec<f64> = a
        .iter()
        .zip(&b)
        .map(|(ours, anchor)| ours.as_secs_f64() / anchor.as_secs_f64())
        .collect();
    ratios.sort_by(f64::total_cmp);
    let (a, b) = (median(&mut a), median(&mut b));
    let per_item = |d: Duration| d.as_nanos() as f64 / items as f64;
    println!(
        "{name:<40} ours {:>8.1} ns/item  anchor {:>8.1} ns/item  ours/anchor time {:.2}  (throughput {:.2}x; rounds {:.2}-{:.2})",
        per_item(a),
        per_item(b),
        a.as_secs_f64() / b.as_secs_f64(),
        b.as_secs_f64() / a.as_secs_f64(),
        ratios[0],
        ratios[ratios.len() - 1],
    );
}

/// submit + result with each pool alone in the process: ours for
/// `rounds` rounds back to back (the pool made first and dropped after),
/// then rayon's the same way. Two pools in one process on a small machine
/// disturb each other (the one that just ran still has threads spinning
/// or waking when the other starts), so this is the other half of the
/// picture.
fn submit_alone(rounds: usize) {
    let per_task = |d: Duration| d.as_nanos() as f64 / BATCH as f64;
    let ours = {
        let pool = ThreadPoolExecutor::new(WORKERS);
        submit_result(&pool);
        median(
            &mut (0..rounds)
                .map(|_| submit_result(&pool))
                .collect::<Vec<_>>(),
        )
    };
    let rayon_time = {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(WORKERS)
            .build()
            .unwrap();
        rayon_spawn(&pool);
        median(&mut (0..rounds).map(|_| rayon_spawn(&pool)).collect::<Vec<_>>())
    };
    println!(
        "submit+result, each pool alone           ours {:>8.1} ns/task  rayon {:>8.1} ns/task  ours/rayon time {:.2}",
        per_task(ours),
        per_task(rayon_time),
        ours.as_secs_f64() / rayon_time.as_secs_f64(),
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a number among the arguments is the
    // round count, and `alone` runs `submit_alone` instead.
    let rounds = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(11);
    if std::env::args().any(|arg| arg == "alone") {
        submit_alone(rounds);
        return;
    }
    println!("medians of {rounds} interleaved rounds (ours, anchor, ours, ...)");
    compare(
        "Queue 1P1C vs crossbeam bounded",
        ITEMS,
        rounds,
        || queue(1),
        || crossbeam_bounded(1),
    );
    compare(
        "Queue 4P4C vs crossbeam bounded",
        ITEMS,
        rounds,
        || queue(4),
        || crossbeam_bounded(4),
    );
    compare(
        "Queue 1P1C, no task_done, vs crossbeam",
        ITEMS,
        rounds,
        || queue_untracked(1),
        || crossbeam_bounded(1),
    );
    compare(
        "Queue 4P4C, no task_done, vs crossbeam",
        ITEMS,
        rounds,
        || queue_untracked(4),
        || crossbeam_bounded(4),
    );
    compare(
        "Queue ping-pong, per round trip",
        ROUND_TRIPS,
        rounds,
        queue_ping_pong,
        crossbeam_ping_pong,
    );
    compare(
        "ring + 1 locked add/item 1P1C vs crossbeam",
        ITEMS,
        rounds,
        || ring_counting_each_item(1),
        || crossbeam_bounded(1),
    );
    compare(
        "SimpleQueue 1P1C vs crossbeam unbounded",
        ITEMS,
        rounds,
        simple_queue,
        crossbeam_unbounded,
    );
    let ours = ThreadPoolExecutor::new(WORKERS);
    let rayon_pool = rayon::ThreadPoolBuilder::new()
        .num_threads(WORKERS)
        .build()
        .unwrap();
    compare(
        "submit+result, 4 workers vs rayon",
        BATCH,
        rounds,
        || submit_result(&ours),
        || rayon_spawn(&rayon_pool),
    );
}
