//! CPython's `Lib/test/test_queue.py`, ported test by test (3.11's file,
//! plus the `shutdown` tests added in 3.13). Each test keeps its original
//! name; the queue-type classes (`QueueTest`, `LifoQueueTest`,
//! `PriorityQueueTest`) become modules running the same shared tests.
//!
//! Not ported, and why:
//!
//! - `test_negative_timeout_raises_exception` (both mixins): a timeout is a
//!   `Duration`, which cannot be negative; the type system rules it out.
//! - `FailingQueueTest.test_failing_queue`: it subclasses `Queue` to make
//!   `_put`/`_get` raise; there is no subclassing here to inject a
//!   failure. The one way our storage can fail, a priority queue's item
//!   whose `Ord` panics, is tested in `tests/queue.rs`
//!   (`a_put_whose_comparison_panics_leaves_the_queue_consistent`).
//! - `CSimpleQueueTest.test_is_default`: about which of CPython's two
//!   implementations is exported; we have one.
//! - `CSimpleQueueTest.test_reentrancy`: `put` called from a garbage
//!   collector finaliser in the middle of `put`; Rust has no such
//!   re-entrant finalisers.
//! - The C/Python duplicate classes (`PyQueueTest`/`CQueueTest`, ...) run
//!   the same tests twice; once is enough here.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use concurrent::Discipline;
use concurrent::{
    BaseQueue, GetTimeoutError, PutTimeoutError, SimpleQueue, TryGetError, TryPutError,
};

const QUEUE_SIZE: usize = 5;

fn qfull<T, D: Discipline<T>>(q: &BaseQueue<T, D>) -> bool {
    q.maxsize() > 0 && q.qsize() == q.maxsize()
}

/// CPython's `do_blocking_test`: run `block` here while another thread,
/// after a pause meant to let `block` really block, marks that it started
/// and calls `trigger`, which must be what unblocks `block`. If `block`
/// returns before the trigger started, it did not block.
fn do_blocking_test<R>(block: impl FnOnce() -> R, trigger: impl FnOnce() + Send) -> R {
    let started = AtomicBool::new(false);
    thread::scope(|scope| {
        scope.spawn(|| {
            thread::sleep(Duration::from_millis(100));
            started.store(true, Ordering::SeqCst);
            trigger();
        });
        let result = block();
        assert!(
            started.load(Ordering::SeqCst),
            "blocking function appeared not to block"
        );
        result
    })
}

fn basic_queue_test<D: Discipline<i64>>(q: &BaseQueue<i64, D>, target_order: [i64; 3])
where
    D::Store: Send,
{
    assert_eq!(q.qsize(), 0, "call this function with an empty queue");
    assert!(q.empty());
    assert!(!q.full());
    q.put(111).unwrap();
    q.put(333).unwrap();
    q.put(222).unwrap();
    let actual_order = [q.get().unwrap(), q.get().unwrap(), q.get().unwrap()];
    assert_eq!(
        actual_order, target_order,
        "didn't seem to queue the correct data"
    );
    for i in 0..QUEUE_SIZE as i64 - 1 {
        q.put(i).unwrap();
        assert!(q.qsize() > 0, "queue should not be empty");
    }
    assert!(!qfull(q), "queue should not be full");
    let last = 2 * QUEUE_SIZE as i64;
    let full = 3 * 2 * QUEUE_SIZE as i64;
    q.put(last).unwrap();
    assert!(qfull(q), "queue should be full");
    assert!(!q.empty());
    assert!(q.full());
    assert_eq!(
        q.put_nowait(full),
        Err(TryPutError::Full(full)),
        "didn't appear to block with a full queue"
    );
    assert_eq!(
        q.put_timeout(full, Duration::from_millis(10)),
        Err(PutTimeoutError::Timeout(full)),
        "didn't appear to time out with a full queue"
    );
    // Test a blocking put.
    do_blocking_test(
        || q.put(full).unwrap(),
        || {
            q.get().unwrap();
        },
    );
    do_blocking_test(
        || q.put_timeout(full, Duration::from_secs(10)).unwrap(),
        || {
            q.get().unwrap();
        },
    );
    // Empty it.
    for _ in 0..QUEUE_SIZE {
        q.get().unwrap();
    }
    assert_eq!(q.qsize(), 0, "queue should be empty");
    assert_eq!(
        q.get_nowait(),
        Err(TryGetError::Empty),
        "didn't appear to block with an empty queue"
    );
    assert_eq!(
        q.get_timeout(Duration::from_millis(10)),
        Err(GetTimeoutError::Timeout),
        "didn't appear to time out with an empty queue"
    );
    // Test a blocking get.
    assert_eq!(
        do_blocking_test(|| q.get().unwrap(), || q.put(-7).unwrap()),
        -7
    );
    assert_eq!(
        do_blocking_test(
            || q.get_timeout(Duration::from_secs(10)).unwrap(),
            || q.put(-8).unwrap()
        ),
        -8
    );
}

/// CPython's `worker`: sums items until a negative one, marking each done.
fn worker<D: Discipline<i64>>(q: &BaseQueue<i64, D>, cum: &AtomicU64) {
    loop {
        let x = q.get().unwrap();
        if x < 0 {
            q.task_done().unwrap();
            return;
        }
        cum.fetch_add(x as u64, Ordering::SeqCst);
        q.task_done().unwrap();
    }
}

fn queue_join_test<D: Discipline<i64>>(q: &BaseQueue<i64, D>)
where
    D::Store: Send,
{
    let cum = AtomicU64::new(0);
    thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| worker(q, &cum));
        }
        for i in 0..100 {
            q.put(i).unwrap();
        }
        q.join();
        assert_eq!(
            cum.load(Ordering::SeqCst),
            (0..100).sum::<u64>(),
            "q.join() did not block until all tasks were done"
        );
        for _ in 0..2 {
            q.put(-1).unwrap(); // instruct the threads to close
        }
        q.join(); // verify that you can join twice
    });
}

/// The tests of CPython's `BaseQueueTestMixin`, for one queue type.
macro_rules! base_queue_tests {
    ($module:ident, $queue:ident, $order:expr) => {
        mod $module {
            use super::*;
            use concurrent::$queue;

            #[test]
            fn test_queue_task_done() {
                let q = $queue::<i64>::new(0);
                assert!(
                    q.task_done().is_err(),
                    "did not detect task count going negative"
                );
            }

            #[test]
            fn test_queue_join() {
                let q = $queue::<i64>::new(0);
                queue_join_test(&q);
                queue_join_test(&q);
                assert!(
                    q.task_done().is_err(),
                    "did not detect task count going negative"
                );
            }

            #[test]
            fn test_basic() {
                // Twice, to make sure it works with the same instance reused.
                let q = $queue::<i64>::new(QUEUE_SIZE);
                basic_queue_test(&q, $order);
                basic_queue_test(&q, $order);
            }

            #[test]
            fn test_nowait() {
                let q = $queue::<i64>::new(QUEUE_SIZE);
                for _ in 0..QUEUE_SIZE {
                    q.put_nowait(1).unwrap();
                }
                assert_eq!(q.put_nowait(1), Err(TryPutError::Full(1)));
                for _ in 0..QUEUE_SIZE {
                    q.get_nowait().unwrap();
                }
                assert_eq!(q.get_nowait(), Err(TryGetError::Empty));
            }

            #[test]
            fn test_shrinking_queue() {
                // CPython issue 10110.
                let q = $queue::<i64>::new(3);
                q.put(1).unwrap();
                q.put(2).unwrap();
                q.put(3).unwrap();
                assert_eq!(q.put_nowait(4), Err(TryPutError::Full(4)));
                assert_eq!(q.qsize(), 3);
                q.set_maxsize(2).unwrap(); // shrink the queue
                assert_eq!(q.put_nowait(4), Err(TryPutError::Full(4)));
            }

            #[test]
            fn test_shutdown_empty() {
                let q = $queue::<&str>::new(0);
                q.shutdown(false);
                assert!(q.put("data").is_err());
                assert!(q.get().is_err());
            }

            #[test]
            fn test_shutdown_nonempty() {
                let q = $queue::<&str>::new(0);
                q.put("data").unwrap();
                q.shutdown(false);
                q.get().unwrap();
                assert!(q.get().is_err());
            }

            #[test]
            fn test_shutdown_immediate() {
                let q = $queue::<&str>::new(0);
                q.put("data").unwrap();
                q.shutdown(true);
                assert!(q.get().is_err());
            }

            #[test]
            fn test_shutdown_allowed_transitions() {
                // From alive, via shutdown, to immediate.
                let q = $queue::<&str>::new(0);
                assert!(!q.is_shutdown());
                q.shutdown(false);
                assert!(q.is_shutdown());
                q.shutdown(true);
                assert!(q.is_shutdown());
                q.shutdown(false);
            }

            fn shutdown_all_methods_in_one_thread(immediate: bool) {
                let q = $queue::<&str>::new(2);
                q.put("L").unwrap();
                q.put_nowait("O").unwrap();
                q.shutdown(immediate);
                assert!(q.put("E").is_err());
                assert_eq!(q.put_nowait("W"), Err(TryPutError::ShutDown("W")));
                if immediate {
                    assert!(q.get().is_err());
                    assert_eq!(q.get_nowait(), Err(TryGetError::ShutDown));
                    assert!(q.task_done().is_err());
                    q.join();
                } else {
                    assert!("LO".contains(q.get().unwrap()));
                    q.task_done().unwrap();
                    assert!("LO".contains(q.get().unwrap()));
                    q.task_done().unwrap();
                    q.join();
                    // On shutdown(immediate=False), once the queue is empty,
                    // every kind of get fails.
                    assert!(q.get().is_err());
                    assert_eq!(q.get_nowait(), Err(TryGetError::ShutDown));
                    assert_eq!(
                        q.get_timeout(Duration::from_secs(1)),
                        Err(GetTimeoutError::ShutDown)
                    );
                }
            }

            #[test]
            fn test_shutdown_all_methods_in_one_thread() {
                shutdown_all_methods_in_one_thread(false);
            }

            #[test]
            fn test_shutdown_immediate_all_methods_in_one_thread() {
                shutdown_all_methods_in_one_thread(true);
            }

            /// A multi-producer/consumer run with shutdown in the middle:
            /// every thread ends, none hangs.
            fn shutdown_all_methods_in_many_threads(immediate: bool) {
                let q = $queue::<(usize, &str)>::new(0);
                let write_threads = 4;
                let read_threads = 6;
                let join_threads = 2;
                let nb_msgs = 1024 * 64;
                let nb_msgs_w = nb_msgs / write_threads;
                let when_exec_shutdown = nb_msgs_w / 2;
                let parties =
                    write_threads + read_threads + if immediate { join_threads } else { 0 };
                let barrier_start = Barrier::new(parties);
                let shutdown_triggered = (Mutex::new(false), std::sync::Condvar::new());
                let res_puts = Mutex::new(Vec::new());
                let res_gets = Mutex::new(Vec::new());
                let res_shutdown = Mutex::new(Vec::new());
                thread::scope(|scope| {
                    for _ in 0..write_threads {
                        scope.spawn(|| {
                            for i in 0..when_exec_shutdown / 2 {
                                q.put((i, "LOYD")).unwrap();
                            }
                            barrier_start.wait();
                            for i in when_exec_shutdown / 2..nb_msgs_w {
                                if q.put((i, "YDLO")).is_err() {
                                    res_puts.lock().unwrap().push(false);
                                    break;
                                }
                                if i == when_exec_shutdown {
                                    let mut triggered = shutdown_triggered.0.lock().unwrap();
                                    if !*triggered {
                                        *triggered = true;
                                        shutdown_triggered.1.notify_all();
                                        res_puts.lock().unwrap().push(true);
                                    }
                                }
                            }
                        });
                    }
                    for _ in 0..read_threads {
                        scope.spawn(|| {
                            q.get().unwrap();
                            q.task_done().unwrap();
                            barrier_start.wait();
                            loop {
                                match q.get_nowait() {
                                    Ok(_) => q.task_done().unwrap(),
                                    Err(TryGetError::ShutDown) => {
                                        res_gets.lock().unwrap().push(true);
                                        break;
                                    }
                                    Err(TryGetError::Empty) => thread::yield_now(),
                                }
                            }
                        });
                    }
                    scope.spawn(|| {
                        let mut triggered = shutdown_triggered.0.lock().unwrap();
                        while !*triggered {
                            triggered = shutdown_triggered.1.wait(triggered).unwrap();
                        }
                        drop(triggered);
                        q.shutdown(immediate);
                        res_shutdown.lock().unwrap().push(q.qsize() == 0);
                    });
                    if immediate {
                        for _ in 0..join_threads {
                            scope.spawn(|| {
                                barrier_start.wait();
                                q.join();
                            });
                        }
                    }
                });
                assert!(res_puts.lock().unwrap().contains(&true));
                assert_eq!(
                    res_gets.lock().unwrap().iter().filter(|&&got| got).count(),
                    read_threads
                );
                if immediate {
                    assert_eq!(*res_shutdown.lock().unwrap(), [true]);
                    assert!(q.empty());
                }
            }

            #[test]
            fn test_shutdown_all_methods_in_many_threads() {
                shutdown_all_methods_in_many_threads(false);
            }

            #[test]
            fn test_shutdown_immediate_all_methods_in_many_threads() {
                shutdown_all_methods_in_many_threads(true);
            }

            fn shutdown_get(immediate: bool) {
                let q = $queue::<&str>::new(2);
                q.put("Y").unwrap();
                q.put("D").unwrap(); // the queue is full
                let getters = if immediate { 2 } else { 3 };
                let go = Barrier::new(getters + 1);
                let results = Mutex::new(Vec::new());
                thread::scope(|scope| {
                    for _ in 0..getters {
                        scope.spawn(|| {
                            go.wait();
                            results.lock().unwrap().push(q.get().is_ok());
                        });
                    }
                    q.shutdown(immediate);
                    go.wait();
                });
                let mut results = results.into_inner().unwrap();
                results.sort();
                if immediate {
                    // Everything was discarded: every getter fails.
                    assert_eq!(results, [false, false]);
                } else {
                    // Two getters take the two items, one fails.
                    assert_eq!(results, [false, true, true]);
                }
            }

            #[test]
            fn test_shutdown_get() {
                shutdown_get(false);
            }

            #[test]
            fn test_shutdown_immediate_get() {
                shutdown_get(true);
            }

            fn shutdown_put(immediate: bool) {
                let q = $queue::<&str>::new(2);
                q.put("Y").unwrap();
                q.put("D").unwrap(); // the queue is full
                let go = Barrier::new(3);
                let results = Mutex::new(Vec::new());
                thread::scope(|scope| {
                    for item in ["E", "W"] {
                        let (q, go, results) = (&q, &go, &results);
                        scope.spawn(move || {
                            go.wait();
                            // Blocked on a full queue, or finding it shut: an
                            // error that gives the item back.
                            results
                                .lock()
                                .unwrap()
                                .push(q.put(item).err().map(|e| e.0) == Some(item));
                        });
                    }
                    q.shutdown(immediate);
                    go.wait();
                });
                assert_eq!(results.into_inner().unwrap(), [true, true]);
            }

            #[test]
            fn test_shutdown_put() {
                shutdown_put(false);
            }

            #[test]
            fn test_shutdown_immediate_put() {
                shutdown_put(true);
            }

            fn shutdown_join(immediate: bool) {
                let q = $queue::<&str>::new(0);
                q.put("Y").unwrap();
                let go = Barrier::new(2);
                thread::scope(|scope| {
                    for _ in 0..2 {
                        scope.spawn(|| q.join());
                    }
                    if !immediate {
                        scope.spawn(|| {
                            go.wait();
                            q.get().unwrap();
                            q.task_done().unwrap();
                        });
                    }
                    q.shutdown(immediate);
                    if !immediate {
                        go.wait();
                    }
                });
                // Both joins returned (the scope ended).
                assert_eq!(q.unfinished_tasks(), 0);
            }

            #[test]
            fn test_shutdown_immediate_join() {
                shutdown_join(true);
            }

            #[test]
            fn test_shutdown_join() {
                shutdown_join(false);
            }

            fn shutdown_put_join(immediate: bool) {
                let q = $queue::<&str>::new(2);
                q.put("Y").unwrap(); // not full
                let go = Barrier::new(2);
                let results = Mutex::new(Vec::new());
                thread::scope(|scope| {
                    scope.spawn(|| {
                        go.wait();
                        results.lock().unwrap().push(q.put("E").is_err());
                    });
                    scope.spawn(|| {
                        q.join();
                        results.lock().unwrap().push(true);
                    });
                    assert_eq!(q.unfinished_tasks(), 1);
                    q.shutdown(immediate);
                    go.wait();
                    if immediate {
                        assert_eq!(q.get_nowait(), Err(TryGetError::ShutDown));
                    } else {
                        assert_eq!(q.get().unwrap(), "Y");
                        q.task_done().unwrap();
                    }
                });
                assert_eq!(results.into_inner().unwrap(), [true, true]);
            }

            #[test]
            fn test_shutdown_immediate_put_join() {
                shutdown_put_join(true);
            }

            #[test]
            fn test_shutdown_put_join() {
                shutdown_put_join(false);
            }

            #[test]
            fn test_shutdown_get_task_done_join() {
                let q = $queue::<&str>::new(2);
                q.put("Y").unwrap();
                q.put("D").unwrap();
                assert_eq!(q.unfinished_tasks(), q.qsize());
                let go = Barrier::new(3);
                let results = Mutex::new(Vec::new());
                thread::scope(|scope| {
                    for _ in 0..2 {
                        scope.spawn(|| {
                            go.wait();
                            let got = q.get().is_ok();
                            if got {
                                q.task_done().unwrap();
                            }
                            results.lock().unwrap().push(got);
                        });
                    }
                    for _ in 0..2 {
                        scope.spawn(|| {
                            q.join();
                            results.lock().unwrap().push(true);
                        });
                    }
                    go.wait();
                    q.shutdown(false);
                });
                assert_eq!(results.into_inner().unwrap(), [true; 4]);
            }

            #[test]
            fn test_shutdown_pending_get() {
                let q = $queue::<&str>::new(0);
                thread::scope(|scope| {
                    let getter = scope.spawn(|| q.get());
                    q.shutdown(false);
                    assert!(
                        getter.join().unwrap().is_err(),
                        "a blocked get wakes up with ShutDown"
                    );
                });
            }
        }
    };
}

base_queue_tests!(queue_test, Queue, [111, 333, 222]);
base_queue_tests!(lifo_queue_test, LifoQueue, [222, 333, 111]);
base_queue_tests!(priority_queue_test, PriorityQueue, [111, 222, 333]);

/// CPython's `BaseSimpleQueueTest`.
mod simple_queue_test {
    use super::*;

    /// A tiny deterministic generator standing in for `random.Random(42)`.
    struct Lcg(u64);

    impl Lcg {
        fn next_f64(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    type Consumer = fn(&SimpleQueue<Option<u32>>, &Mutex<Vec<u32>>);

    fn feed(q: &SimpleQueue<Option<u32>>, seq: &Mutex<Vec<u32>>, rnd: &Mutex<Lcg>) {
        loop {
            let Some(val) = seq.lock().unwrap().pop() else {
                q.put(None); // the sentinel
                return;
            };
            q.put(Some(val));
            let pause = {
                let mut rnd = rnd.lock().unwrap();
                (rnd.next_f64() > 0.5).then(|| rnd.next_f64() * 1e-3)
            };
            if let Some(seconds) = pause {
                thread::sleep(Duration::from_secs_f64(seconds));
            }
        }
    }

    fn consume(q: &SimpleQueue<Option<u32>>, results: &Mutex<Vec<u32>>) {
        while let Some(val) = q.get() {
            results.lock().unwrap().push(val);
        }
    }

    fn consume_nonblock(q: &SimpleQueue<Option<u32>>, results: &Mutex<Vec<u32>>) {
        loop {
            let val = loop {
                match q.get_nowait() {
                    Some(val) => break val,
                    None => thread::sleep(Duration::from_micros(10)),
                }
            };
            let Some(val) = val else { return };
            results.lock().unwrap().push(val);
        }
    }

    fn consume_timeout(q: &SimpleQueue<Option<u32>>, results: &Mutex<Vec<u32>>) {
        loop {
            let val = loop {
                if let Some(val) = q.get_timeout(Duration::from_micros(10)) {
                    break val;
                }
            };
            let Some(val) = val else { return };
            results.lock().unwrap().push(val);
        }
    }

    fn run_threads(
        n_threads: usize,
        q: &SimpleQueue<Option<u32>>,
        inputs: &[u32],
        consumer: Consumer,
    ) -> Vec<u32> {
        let results = Mutex::new(Vec::new());
        let seq = Mutex::new(inputs.iter().rev().copied().collect::<Vec<_>>());
        let rnd = Mutex::new(Lcg(42));
        thread::scope(|scope| {
            for _ in 0..n_threads {
                scope.spawn(|| feed(q, &seq, &rnd));
                scope.spawn(|| consumer(q, &results));
            }
        });
        assert!(q.empty());
        assert_eq!(q.qsize(), 0);
        results.into_inner().unwrap()
    }

    #[test]
    fn test_basic() {
        let q = SimpleQueue::new();
        assert!(q.empty());
        assert_eq!(q.qsize(), 0);
        q.put(1);
        assert!(!q.empty());
        assert_eq!(q.qsize(), 1);
        q.put(2);
        q.put(3); // put_nowait is put: it never blocks
        q.put(4);
        assert!(!q.empty());
        assert_eq!(q.qsize(), 4);

        assert_eq!(q.get(), 1);
        assert_eq!(q.qsize(), 3);
        assert_eq!(q.get_nowait(), Some(2));
        assert_eq!(q.qsize(), 2);
        assert_eq!(q.get_nowait(), Some(3));
        assert!(!q.empty());
        assert_eq!(q.qsize(), 1);
        assert_eq!(q.get_timeout(Duration::from_millis(100)), Some(4));
        assert!(q.empty());
        assert_eq!(q.qsize(), 0);

        assert_eq!(q.get_nowait(), None);
        assert_eq!(q.get_timeout(Duration::from_millis(1)), None);
        assert!(q.empty());
        assert_eq!(q.qsize(), 0);
    }

    #[test]
    fn test_order() {
        // One producer, one consumer: results in a well-defined order.
        let inputs: Vec<u32> = (0..100).collect();
        let results = run_threads(1, &SimpleQueue::new(), &inputs, consume);
        assert_eq!(results, inputs);
    }

    #[test]
    fn test_many_threads() {
        let inputs: Vec<u32> = (0..10_000).collect();
        let mut results = run_threads(50, &SimpleQueue::new(), &inputs, consume);
        results.sort();
        assert_eq!(results, inputs);
    }

    #[test]
    fn test_many_threads_nonblock() {
        let inputs: Vec<u32> = (0..10_000).collect();
        let mut results = run_threads(50, &SimpleQueue::new(), &inputs, consume_nonblock);
        results.sort();
        assert_eq!(results, inputs);
    }

    #[test]
    fn test_many_threads_timeout() {
        let inputs: Vec<u32> = (0..1000).collect();
        let mut results = run_threads(50, &SimpleQueue::new(), &inputs, consume_timeout);
        results.sort();
        assert_eq!(results, inputs);
    }

    #[test]
    fn test_references() {
        // The queue should let go of each item as soon as it leaves.
        let q = SimpleQueue::new();
        let items: Vec<Arc<()>> = (0..20).map(|_| Arc::new(())).collect();
        for item in &items {
            q.put(Arc::clone(item));
        }
        for item in &items {
            drop(q.get());
            assert_eq!(Arc::strong_count(item), 1);
        }
    }
}
