//! The lock-free FIFO `Queue` held to CPython's one-lock semantics: a
//! model-based property test (every sequence of calls answers as a plain
//! `VecDeque` with counters would), order and exactly-once delivery under
//! many producers and consumers, bounds that stay exact when shrunk, the
//! races around `shutdown`, and the one place we differ on purpose
//! (`set_maxsize` cannot grow a bounded FIFO queue past its ring).
//!
//! `stress_queue` is the long-running version for the lock-free parts,
//! run by `tests/queue_stress.sh`, not by CI.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Barrier, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use std::ops::Deref;

use concurrent::{
    BaseQueue, Discipline, GetError, GetTimeoutError, LifoQueue, MaxsizeError, PriorityQueue,
    Queue, TaskDoneError, TryGetError, TryPutError,
};
use proptest::prelude::*;

mod common;

/// One call on a queue, as the model-based test draws them.
#[derive(Debug, Clone)]
enum Call {
    PutNowait(u32),
    GetNowait,
    TaskDone,
    SetMaxsize(usize),
    Shutdown { immediate: bool },
}

fn call() -> impl Strategy<Value = Call> {
    prop_oneof![
        4 => any::<u32>().prop_map(Call::PutNowait),
        4 => Just(Call::GetNowait),
        2 => Just(Call::TaskDone),
        1 => (1usize..6).prop_map(Call::SetMaxsize),
        1 => any::<bool>().prop_map(|immediate| Call::Shutdown { immediate }),
    ]
}

/// What CPython's `queue.Queue` does, written plainly: one deque, two
/// numbers and a flag.
struct Model {
    items: VecDeque<u32>,
    maxsize: usize,
    unfinished: usize,
    shutdown: bool,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any sequence of calls, on a bounded queue (the ring) or an
    /// unbounded one (the list), answers as the model does, and the
    /// queue's counters agree with it after every call.
    #[test]
    fn a_queue_answers_as_cpythons_does(
        maxsize in prop_oneof![Just(0usize), 1usize..6],
        calls in proptest::collection::vec(call(), 0..80),
    ) {
        let q = Queue::new(maxsize);
        let mut model = Model { items: VecDeque::new(), maxsize, unfinished: 0, shutdown: false };
        for call in calls {
            match call {
                Call::PutNowait(item) => {
                    let expected = if model.shutdown {
                        Err(TryPutError::ShutDown(item))
                    } else if model.maxsize > 0 && model.items.len() >= model.maxsize {
                        Err(TryPutError::Full(item))
                    } else {
                        model.items.push_back(item);
                        model.unfinished += 1;
                        Ok(())
                    };
                    prop_assert_eq!(q.put_nowait(item), expected);
                }
                Call::GetNowait => {
                    let expected = match model.items.pop_front() {
                        Some(item) => Ok(item),
                        None if model.shutdown => Err(TryGetError::ShutDown),
                        None => Err(TryGetError::Empty),
                    };
                    prop_assert_eq!(q.get_nowait(), expected);
                }
                Call::TaskDone => {
                    let expected = if model.unfinished == 0 {
                        Err(TaskDoneError)
                    } else {
                        model.unfinished -= 1;
                        Ok(())
                    };
                    prop_assert_eq!(q.task_done(), expected);
                }
                Call::SetMaxsize(bound) => {
                    // A bounded FIFO queue can shrink and grow back up to
                    // the bound it was made with (our one difference).
                    let allowed = maxsize == 0 || bound <= maxsize;
                    if allowed {
                        model.maxsize = bound;
                        prop_assert_eq!(q.set_maxsize(bound), Ok(()));
                    } else {
                        prop_assert_eq!(
                            q.set_maxsize(bound),
                            Err(MaxsizeError { requested: bound, capacity: maxsize })
                        );
                    }
                }
                Call::Shutdown { immediate } => {
                    model.shutdown = true;
                    if immediate {
                        while model.items.pop_front().is_some() {
                            model.unfinished = model.unfinished.saturating_sub(1);
                        }
                    }
                    q.shutdown(immediate);
                }
            }
            prop_assert_eq!(q.qsize(), model.items.len());
            prop_assert_eq!(q.unfinished_tasks(), model.unfinished);
            prop_assert_eq!(q.is_shutdown(), model.shutdown);
            prop_assert_eq!(q.maxsize(), model.maxsize);
            prop_assert_eq!(q.full(), model.maxsize > 0 && model.items.len() >= model.maxsize);
            prop_assert_eq!(q.join_timeout(Duration::ZERO), model.unfinished == 0);
        }
    }
}

/// Producers put `each` numbered items into `q` and consumers take them
/// until it is shut down; returns what each consumer took, in order.
fn run_pipeline(
    q: &Queue<(usize, usize)>,
    producers: usize,
    consumers: usize,
    each: usize,
) -> Vec<Vec<(usize, usize)>> {
    thread::scope(|scope| {
        let takers: Vec<_> = (0..consumers)
            .map(|_| {
                scope.spawn(|| {
                    let mut taken = Vec::new();
                    while let Ok(item) = q.get() {
                        taken.push(item);
                        q.task_done().unwrap();
                    }
                    taken
                })
            })
            .collect();
        let putters: Vec<_> = (0..producers)
            .map(|p| scope.spawn(move || (0..each).for_each(|i| q.put((p, i)).unwrap())))
            .collect();
        putters.into_iter().for_each(|p| p.join().unwrap());
        q.join();
        q.shutdown(false);
        takers.into_iter().map(|t| t.join().unwrap()).collect()
    })
}

/// Every item comes out exactly once, and each consumer sees each
/// producer's items in the order they were put (FIFO per producer).
fn check_pipeline(taken: &[Vec<(usize, usize)>], producers: usize, each: usize) {
    let mut seen = vec![vec![false; each]; producers];
    for consumer in taken {
        let mut last = vec![None; producers];
        for &(p, i) in consumer {
            assert!(!seen[p][i], "item {i} of producer {p} came out twice");
            seen[p][i] = true;
            assert!(
                last[p] < Some(i),
                "producer {p}'s items out of order: {:?} then {i}",
                last[p]
            );
            last[p] = Some(i);
        }
    }
    for (p, items) in seen.iter().enumerate() {
        assert!(items.iter().all(|&s| s), "producer {p} lost items");
    }
}

#[test]
fn many_producers_and_consumers_lose_nothing_and_keep_each_producers_order() {
    // A bound of 3 keeps the ring full and both sides waiting; 0 is the
    // unbounded list.
    for maxsize in [1, 3, 1000, 0] {
        let q = Queue::new(maxsize);
        let taken = run_pipeline(&q, 4, 4, 20_000);
        check_pipeline(&taken, 4, 20_000);
        assert_eq!(q.unfinished_tasks(), 0);
        assert_eq!(q.qsize(), 0);
    }
}

#[test]
fn a_shrunk_bound_is_exact_with_producers_racing_for_the_last_place() {
    // Below the ring's size the bound is kept by checking the length and
    // pushing as one step; without that, two producers could both see one
    // place left and both take it.
    let q = Queue::new(64);
    q.set_maxsize(2).unwrap();
    let most = AtomicUsize::new(0);
    thread::scope(|scope| {
        for p in 0..4 {
            let (q, most) = (&q, &most);
            scope.spawn(move || {
                for i in 0..50_000 {
                    q.put((p, i)).unwrap();
                    most.fetch_max(q.qsize(), Ordering::Relaxed);
                }
            });
        }
        for _ in 0..200_000 {
            q.get().unwrap();
            q.task_done().unwrap();
        }
    });
    let most = most.load(Ordering::Relaxed);
    assert!(most <= 2, "the queue held {most} items under a bound of 2");
}

#[test]
fn a_bounded_fifo_queue_cannot_grow_past_the_ring_it_was_made_with() {
    // Python lets `q.maxsize` take any value. Our bounded FIFO queue keeps
    // its items in a ring allocated at its first bound, which is what
    // makes it lock-free; so it can shrink and grow back, not beyond.
    let q = Queue::<u8>::new(3);
    assert_eq!(q.set_maxsize(2), Ok(()));
    assert_eq!(q.set_maxsize(3), Ok(()));
    assert_eq!(
        q.set_maxsize(4),
        Err(MaxsizeError {
            requested: 4,
            capacity: 3
        })
    );
    assert_eq!(
        q.set_maxsize(0),
        Err(MaxsizeError {
            requested: 0,
            capacity: 3
        })
    );
    assert_eq!(q.maxsize(), 3, "a refused bound leaves the old one");
    assert_eq!(
        MaxsizeError {
            requested: 0,
            capacity: 3
        }
        .to_string(),
        "a FIFO queue made with room for 3 items can take a bound from 1 to 3, not 0"
    );
    // An unbounded queue, and the LIFO and priority queues, take any bound.
    let q = Queue::<u8>::new(0);
    assert_eq!(q.set_maxsize(2), Ok(()));
    assert_eq!(q.set_maxsize(1_000_000), Ok(()));
    assert_eq!(q.set_maxsize(0), Ok(()));
    let lifo = concurrent::LifoQueue::<u8>::new(3);
    assert_eq!(lifo.set_maxsize(0), Ok(()));
    assert_eq!(lifo.set_maxsize(10), Ok(()));
    // A bound too large for a ring is kept by counting, exactly.
    let q = Queue::new(1 << 20);
    assert_eq!(q.set_maxsize(2), Ok(()));
    q.put(1).unwrap();
    q.put(2).unwrap();
    assert_eq!(q.put_nowait(3), Err(TryPutError::Full(3)));
}

#[test]
fn growing_a_bound_wakes_a_blocked_putter() {
    let q = Queue::new(2);
    q.set_maxsize(1).unwrap();
    q.put(1).unwrap();
    thread::scope(|scope| {
        let putter = scope.spawn(|| q.put(2));
        thread::sleep(Duration::from_millis(50));
        assert!(!putter.is_finished(), "the put should wait for room");
        q.set_maxsize(2).unwrap();
        assert_eq!(putter.join().unwrap(), Ok(()));
    });
    assert_eq!(q.qsize(), 2);
}

#[test]
fn an_immediate_shutdown_racing_putters_leaves_nothing_behind() {
    // Putters that passed their check before `shutdown(true)` may land
    // their item after the queue was emptied; it must be discarded too,
    // so that `get` fails and `join` returns.
    for round in 0..200 {
        let q = Queue::new(if round % 2 == 0 { 0 } else { 8 });
        let start = Barrier::new(5);
        thread::scope(|scope| {
            for p in 0..4 {
                let (q, start) = (&q, &start);
                scope.spawn(move || {
                    start.wait();
                    for i in 0.. {
                        if q.put_timeout((p, i), Duration::from_millis(20)).is_err()
                            && q.is_shutdown()
                        {
                            break;
                        }
                    }
                });
            }
            start.wait();
            thread::sleep(Duration::from_micros(200));
            q.shutdown(true);
        });
        assert_eq!(q.get_nowait(), Err(TryGetError::ShutDown), "round {round}");
        assert_eq!(q.get(), Err(GetError));
        assert!(
            q.join_timeout(Duration::from_secs(5)),
            "round {round}: join waits for discarded items"
        );
        assert_eq!(q.unfinished_tasks(), 0);
    }
}

/// Putters hammering a queue while another thread shuts it down: what the
/// shutting thread sees once `shutdown` has returned, and what the getters
/// get. In Python the lock makes a put either land before the shutdown or
/// fail; a lock-free put must not land after it either, or an immediate
/// shutdown would return with an item in the queue, and a graceful one
/// could leave an item behind getters that were already told the queue
/// was over (a put that succeeded, and an item nobody ever gets).
fn shutdown_racing_putters<D: Discipline<(usize, usize)>>(
    make: impl Fn() -> BaseQueue<(usize, usize), D>,
    immediate: bool,
    rounds: usize,
) {
    const PUTTERS: usize = 3;
    for round in 0..rounds {
        let q = make();
        let put = AtomicUsize::new(0);
        let got = AtomicUsize::new(0);
        let start = Barrier::new(PUTTERS + 2);
        thread::scope(|scope| {
            for p in 0..PUTTERS {
                let (q, put, start) = (&q, &put, &start);
                scope.spawn(move || {
                    start.wait();
                    for i in 0.. {
                        match q.put_nowait((p, i)) {
                            Ok(()) => _ = put.fetch_add(1, Ordering::Relaxed),
                            Err(TryPutError::Full(_)) => thread::yield_now(),
                            Err(TryPutError::ShutDown(_)) => break,
                        }
                    }
                });
            }
            let (q, got, start) = (&q, &got, &start);
            scope.spawn(move || {
                start.wait();
                while q.get().is_ok() {
                    got.fetch_add(1, Ordering::Relaxed);
                }
            });
            start.wait();
            thread::sleep(Duration::from_micros(100 + round as u64 % 7 * 50));
            q.shutdown(immediate);
            if immediate {
                assert_eq!(
                    q.qsize(),
                    0,
                    "round {round}: items left after shutdown(true)"
                );
            }
        });
        let (put, got) = (put.into_inner(), got.into_inner());
        if immediate {
            assert!(got <= put, "round {round}");
            assert_eq!(q.qsize(), 0, "round {round}");
        } else {
            assert_eq!(
                (got, q.qsize()),
                (put, 0),
                "round {round}: every item put was got before the getter was told the queue is over"
            );
        }
        assert_eq!(q.get_nowait(), Err(TryGetError::ShutDown), "round {round}");
    }
}

/// [`shutdown_racing_putters`] on every kind of queue: FIFO unbounded and
/// bounded, LIFO, priority.
fn shutdown_racing_putters_on_every_kind(immediate: bool) {
    shutdown_racing_putters(|| Queue::new(0).deref().clone(), immediate, 300);
    shutdown_racing_putters(|| Queue::new(4).deref().clone(), immediate, 300);
    shutdown_racing_putters(|| LifoQueue::new(0).deref().clone(), immediate, 300);
    shutdown_racing_putters(|| PriorityQueue::new(4).deref().clone(), immediate, 300);
}

#[test]
fn a_graceful_shutdown_racing_putters_leaves_no_item_behind_the_getters() {
    shutdown_racing_putters_on_every_kind(false);
}

#[test]
fn an_immediate_shutdown_racing_putters_returns_with_the_queue_empty() {
    shutdown_racing_putters_on_every_kind(true);
}

/// Set to make the next comparison of two [`Touchy`] items panic.
static FAIL_NEXT_COMPARISON: AtomicBool = AtomicBool::new(false);

/// A priority queue's item whose `Ord` panics when told to: the one way
/// a queue's storage can fail here (CPython's `FailingQueueTest` makes
/// `_put` raise).
#[derive(Debug, PartialEq, Eq)]
struct Touchy(u32);

impl PartialOrd for Touchy {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Touchy {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        if FAIL_NEXT_COMPARISON.swap(false, Ordering::SeqCst) {
            panic!("comparison failed on purpose");
        }
        self.0.cmp(&other.0)
    }
}

#[test]
fn a_put_whose_comparison_panics_leaves_the_queue_consistent() {
    let q = PriorityQueue::new(5);
    for n in [3, 1, 2] {
        q.put(Touchy(n)).unwrap();
    }
    FAIL_NEXT_COMPARISON.store(true, Ordering::SeqCst);
    // Asserted unwind-safe: that the queue stays consistent is what is tested.
    let put = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| q.put_nowait(Touchy(0))));
    assert!(put.is_err(), "the panic reaches the caller");
    // The heap keeps an item whose sifting panicked, as Python's heappush
    // does; it was counted before the push, so its task is there too.
    // Here we differ on purpose: Python counts after `_put`, so its
    // `unfinished_tasks` stays one short of `qsize()` (checked with
    // CPython 3: qsize 4, unfinished 3), and the `task_done` for that
    // item is refused as one too many.
    assert_eq!(q.unfinished_tasks(), q.qsize());
    let mut got = Vec::new();
    while let Ok(Touchy(n)) = q.get_nowait() {
        got.push(n);
        q.task_done().unwrap();
    }
    // Nothing lost; the order may be off, as in Python, since the sift
    // that panicked stopped halfway.
    got.sort_unstable();
    assert_eq!(got, [0, 1, 2, 3]);
    assert!(q.join_timeout(Duration::from_secs(5)), "every task done");
    assert_eq!(q.task_done(), Err(TaskDoneError));
    // The failed put's attempt ended with the panic: a shutdown does not
    // wait for it.
    q.shutdown(false);
    assert_eq!(q.put(Touchy(9)).map_err(|e| e.0), Err(Touchy(9)));
}

#[test]
fn a_graceful_shutdown_wakes_every_blocked_getter_and_putter() {
    let empty = Queue::<u8>::new(1);
    let full = Queue::new(1);
    full.put(0u8).unwrap();
    thread::scope(|scope| {
        let getters: Vec<_> = (0..3)
            .map(|_| scope.spawn(|| empty.get_timeout(Duration::from_secs(60))))
            .collect();
        let putters: Vec<_> = (0..3)
            .map(|_| scope.spawn(|| full.put(1).map_err(|e| e.0)))
            .collect();
        thread::sleep(Duration::from_millis(50));
        let asked = Instant::now();
        empty.shutdown(false);
        full.shutdown(false);
        for getter in getters {
            assert_eq!(getter.join().unwrap(), Err(GetTimeoutError::ShutDown));
        }
        for putter in putters {
            assert_eq!(putter.join().unwrap(), Err(1));
        }
        assert!(
            asked.elapsed() < Duration::from_secs(30),
            "woken by the shutdown, not a timeout"
        );
    });
    assert_eq!(full.get(), Ok(0), "what was in stays for the getters");
    assert_eq!(full.unfinished_tasks(), 1, "failed puts are not counted");
}

/// The last tasks done by several threads at once, while a joiner goes to
/// sleep: each `task_done` writes its own thread's count with a plain
/// store, so this is where a lost wake-up would show (`join` would hang).
fn last_tasks_done_at_once(q: &Queue<usize>, workers: usize) {
    let start = Barrier::new(workers + 1);
    thread::scope(|scope| {
        for _ in 0..workers {
            let (q, start) = (&q, &start);
            scope.spawn(move || {
                start.wait();
                q.get().unwrap();
                q.task_done().unwrap();
            });
        }
        for i in 0..workers {
            q.put(i).unwrap();
        }
        start.wait();
        assert!(
            q.join_timeout(Duration::from_secs(10)),
            "a joiner missed the last task_done"
        );
    });
    assert_eq!(q.unfinished_tasks(), 0);
}

#[test]
fn join_wakes_when_several_threads_finish_the_last_tasks_at_once() {
    for round in 0..300 {
        let q = Queue::new(if round % 2 == 0 { 0 } else { 4 });
        last_tasks_done_at_once(&q, 1 + round % 4);
    }
}

#[test]
fn task_done_from_a_thread_that_took_nothing_counts_as_pythons_does() {
    // A dispatcher takes, workers mark done: Python counts calls, not
    // which thread took the item.
    let q = Queue::new(0);
    for i in 0..100 {
        q.put(i).unwrap();
    }
    let taken: Vec<_> = (0..100).map(|_| q.get().unwrap()).collect();
    thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| (0..25).for_each(|_| q.task_done().unwrap()));
        }
    });
    assert_eq!(taken.len(), 100);
    assert!(q.join_timeout(Duration::ZERO));
    // The 101st call is the one too many, whichever thread makes it, and
    // it leaves the count at zero.
    assert_eq!(q.task_done(), Err(TaskDoneError));
    assert_eq!(q.unfinished_tasks(), 0);

    // And once more with the calls split the other way: another thread
    // uses up the count of the items this one took, so this thread's own
    // next call is the one too many, though it took two and marked none.
    let q = Queue::new(0);
    q.put(1).unwrap();
    q.put(2).unwrap();
    q.get().unwrap();
    q.get().unwrap();
    thread::scope(|scope| {
        scope.spawn(|| {
            q.task_done().unwrap();
            q.task_done().unwrap();
        });
    });
    assert_eq!(q.task_done(), Err(TaskDoneError));
    assert_eq!(q.unfinished_tasks(), 0);
    q.put(3).unwrap();
    assert_eq!(
        q.unfinished_tasks(),
        1,
        "a refused call left nothing behind"
    );
}

#[test]
fn counts_of_threads_that_have_exited_still_count() {
    let q = Queue::new(0);
    thread::scope(|scope| {
        scope.spawn(|| (0..10).for_each(|i| q.put(i).unwrap()));
    });
    assert_eq!(q.unfinished_tasks(), 10);
    thread::scope(|scope| {
        scope.spawn(|| {
            for _ in 0..10 {
                q.get().unwrap();
                q.task_done().unwrap();
            }
        });
    });
    assert_eq!(q.unfinished_tasks(), 0);
    assert!(q.join_timeout(Duration::ZERO));
}

#[test]
fn one_thread_using_many_queues_keeps_each_ones_count() {
    // Each queue keeps this thread's counts under the thread's number;
    // queues made and dropped meanwhile must not disturb the live ones'.
    let kept: Vec<Queue<u32>> = (0..40).map(|_| Queue::new(0)).collect();
    for (n, q) in kept.iter().enumerate() {
        for i in 0..=n as u32 {
            q.put(i).unwrap();
        }
    }
    for _ in 0..100 {
        let short_lived = Queue::new(1);
        short_lived.put(0).unwrap();
        short_lived.get().unwrap();
        short_lived.task_done().unwrap();
        assert_eq!(short_lived.unfinished_tasks(), 0);
    }
    for (n, q) in kept.iter().enumerate() {
        assert_eq!(q.unfinished_tasks(), n + 1);
        q.get().unwrap();
        q.task_done().unwrap();
        assert_eq!(q.unfinished_tasks(), n);
    }
}

#[test]
fn more_threads_at_once_than_the_queue_has_tallies_for_still_count_exactly() {
    // A queue has tallies of their own for the first 256 threads alive at
    // once; the rest share one, written with locked instructions.
    const THREADS: usize = 300;
    let q = Queue::new(0);
    let all_here = Barrier::new(THREADS);
    thread::scope(|scope| {
        for i in 0..THREADS {
            let (q, all_here) = (&q, &all_here);
            scope.spawn(move || {
                all_here.wait();
                q.put(i).unwrap();
                q.get().unwrap();
                all_here.wait();
                q.task_done().unwrap();
            });
        }
    });
    assert_eq!(q.unfinished_tasks(), 0);
    assert!(q.join_timeout(Duration::ZERO));
    assert_eq!(q.task_done(), Err(TaskDoneError));
}

/// Works a queue from a thread-local's destructor: puts an item, takes
/// and marks done one, and reports what it took (times ten) plus the
/// count it left.
struct LateWorker(Option<(Queue<u32>, mpsc::Sender<usize>)>);

impl Drop for LateWorker {
    fn drop(&mut self) {
        if let Some((q, report)) = self.0.take() {
            q.put(7).unwrap();
            let item = q.get().unwrap();
            q.task_done().unwrap();
            let _ = report.send(item as usize * 10 + q.unfinished_tasks());
        }
    }
}

thread_local! {
    static LATE_WORKER: RefCell<LateWorker> = const { RefCell::new(LateWorker(None)) };
}

#[test]
fn a_queue_used_while_its_thread_exits_still_counts() {
    // The worker's thread-local is touched before the thread first uses
    // the queue, so it is destroyed after the one that holds the thread's
    // number: its queue calls run where the number is given back, and
    // count on the queue's shared tally.
    let q = Queue::new(0);
    let (report, reported) = mpsc::channel();
    let worker_q = q.clone();
    thread::spawn(move || {
        LATE_WORKER.with_borrow(|_| {});
        worker_q.put(1).unwrap();
        LATE_WORKER.with_borrow_mut(|late| late.0 = Some((worker_q, report)));
    })
    .join()
    .unwrap();
    assert_eq!(
        reported.recv(),
        Ok(10 + 1),
        "took the 1 (first in), left the 7"
    );
    assert_eq!(q.unfinished_tasks(), 1);
    assert_eq!(q.get(), Ok(7));
    q.task_done().unwrap();
    assert!(q.join_timeout(Duration::ZERO));
}

/// The long-running stress test of the lock-free parts: pipelines of
/// random shapes, bounds and lengths, over and over, each checked for
/// loss, duplication and per-producer order, and between them the race
/// of the last `task_done`s against a joiner going to sleep. Minutes by default
/// (`QUEUE_STRESS_SECONDS`); run by `tests/queue_stress.sh`.
#[test]
#[ignore = "long-running; tests/queue_stress.sh runs it"]
fn stress_queue() {
    let (until, seconds) = common::stress_until("QUEUE_STRESS_SECONDS");
    let mut rounds = 0u64;
    let mut random = common::SplitMix::new(0x9E37_79B9_7F4A_7C15);
    let mut next = |below: usize| random.below(below as u64) as usize;
    while Instant::now() < until {
        let maxsize = [0, 1, 2, 3, 7, 64, 1000, 1 << 17][next(8)];
        let (producers, consumers) = (1 + next(6), 1 + next(6));
        let each = 1 + next(50_000);
        let q = Queue::new(maxsize);
        let taken = run_pipeline(&q, producers, consumers, each);
        check_pipeline(&taken, producers, each);
        assert_eq!(q.unfinished_tasks(), 0, "round {rounds}");
        for _ in 0..20 {
            last_tasks_done_at_once(&Queue::new(0), 1 + next(6));
        }
        let immediate = next(2) == 1;
        shutdown_racing_putters(|| Queue::new(maxsize).deref().clone(), immediate, 5);
        rounds += 1;
    }
    eprintln!("stress_queue: {rounds} pipelines checked in {seconds} s");
}
