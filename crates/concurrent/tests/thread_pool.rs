//! The behaviours the library promises beyond CPython's own tests: panics,
//! timeouts that expire and then succeed, `.await`, bounded `map`, and
//! property and stress tests of the queues. No test depends on how fast
//! the machine is: tasks that must be slow block on a channel instead.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::Duration;

use concurrent::{
    Executor, Queue, ReturnWhen, Shutdown, SimpleQueue, TaskError, TaskHandle, ThreadPoolExecutor,
    TryGetError, as_completed, wait,
};
use proptest::prelude::*;

/// A gate a task can wait behind until the test opens it.
fn gate() -> (
    crossbeam_channel::Sender<()>,
    crossbeam_channel::Receiver<()>,
) {
    crossbeam_channel::unbounded()
}

#[test]
fn a_pending_task_can_be_cancelled_a_running_one_cannot() {
    let ex = ThreadPoolExecutor::new(1);
    let (open, gated) = gate();
    let (started_tx, started) = gate();
    let running = ex
        .spawn(move || {
            started_tx.send(()).unwrap();
            gated.recv().unwrap();
            "ran"
        })
        .unwrap();
    let pending = ex.spawn(|| "never").unwrap();
    started.recv().unwrap();
    assert!(running.running());
    assert!(!running.cancel(), "a running task is never interrupted");
    assert!(pending.cancel());
    assert!(pending.cancelled() && pending.done());
    open.send(()).unwrap();
    assert_eq!(running.result(), Ok("ran"));
    assert_eq!(pending.result(), Err(TaskError::Cancelled));
}

#[test]
fn result_timeout_expires_then_the_result_comes_later() {
    let ex = ThreadPoolExecutor::new(1);
    let (open, gated) = gate();
    let handle = ex.spawn(move || gated.recv().map(|()| 42)).unwrap();
    assert_eq!(
        handle.result_timeout(Duration::from_millis(20)),
        Err(TaskError::TimedOut)
    );
    assert!(!handle.done(), "a timeout does not stop the task");
    open.send(()).unwrap();
    assert_eq!(handle.result(), Ok(Ok(42)));
}

#[test]
fn a_panic_is_the_tasks_error_and_the_worker_survives() {
    let ex = ThreadPoolExecutor::new(1);
    let failed = ex
        .spawn(|| -> u32 { panic!("no price for {}", "kraken") })
        .unwrap();
    assert_eq!(
        failed.result(),
        Err(TaskError::Panicked("no price for kraken".into()))
    );
    assert_eq!(
        failed.exception(),
        Some(TaskError::Panicked("no price for kraken".into()))
    );
    // The same single thread runs the next task.
    assert_eq!(ex.spawn(|| 7).unwrap().result(), Ok(7));
    assert_eq!(ex.thread_count(), 1);
    assert_eq!(
        TaskError::Panicked("boom".into()).to_string(),
        "the task panicked: boom",
        "the error says what happened"
    );
}

#[test]
fn into_result_needs_no_clone() {
    struct NotClone(u8);
    let ex = ThreadPoolExecutor::new(1);
    let handle = ex.spawn(|| NotClone(3)).unwrap();
    assert_eq!(handle.into_result().map(|v| v.0), Ok(3));
}

/// A minimal `block_on`: parks this thread until the waker is called.
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        match future.as_mut().poll(&mut context) {
            Poll::Ready(output) => return output,
            Poll::Pending => thread::park(),
        }
    }
}

#[test]
fn a_handle_can_be_awaited() {
    let ex = ThreadPoolExecutor::new(2);
    let (open, gated) = gate();
    let handle = ex.spawn(move || gated.recv().map(|()| "awaited")).unwrap();
    let opener = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        open.send(()).unwrap();
    });
    assert_eq!(block_on(handle), Ok(Ok("awaited")));
    opener.join().unwrap();
    let failed = ex.spawn(|| -> () { panic!("async failure") }).unwrap();
    assert_eq!(
        block_on(failed),
        Err(TaskError::Panicked("async failure".into()))
    );
}

#[test]
fn map_buffered_keeps_a_bounded_number_in_flight_on_an_endless_input() {
    let ex = ThreadPoolExecutor::new(2);
    let drawn = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&drawn);
    let endless = (0u64..).map(move |n| {
        counter.fetch_add(1, Ordering::SeqCst);
        (n,)
    });
    let buffersize = std::num::NonZeroUsize::new(4).unwrap();
    let first: Vec<u64> = Executor::map_buffered(&ex, |n: u64| n * n, endless, buffersize)
        .take(5)
        .map(Result::unwrap)
        .collect();
    assert_eq!(first, [0, 1, 4, 9, 16]);
    // 5 yielded plus at most `buffersize` = 4 in flight.
    assert!(
        drawn.load(Ordering::SeqCst) <= 9,
        "{} drawn",
        drawn.load(Ordering::SeqCst)
    );
}

#[test]
// Handles hash by identity, never by their (mutable) state: clippy cannot
// see that, hence the allowance.
#[allow(clippy::mutable_key_type)]
fn the_lessons_dict_of_handles_pattern() {
    fn check_price(exchange: &'static str, symbol: &'static str, date: &'static str) -> String {
        format!("{exchange}/{symbol}/{date}")
    }
    let ex = ThreadPoolExecutor::new(10);
    let futures: std::collections::HashMap<TaskHandle<String>, &str> =
        ["bitfinex", "bitstamp", "kraken"]
            .into_iter()
            .map(|exchange| {
                (
                    ex.submit(check_price, (exchange, "btc", "2020-04-01"))
                        .unwrap(),
                    exchange,
                )
            })
            .collect();
    let mut seen = Vec::new();
    for future in as_completed(futures.keys(), None) {
        let future = future.unwrap();
        let exchange = futures[future];
        assert_eq!(
            future.result().unwrap(),
            format!("{exchange}/btc/2020-04-01")
        );
        seen.push(exchange);
    }
    seen.sort();
    assert_eq!(seen, ["bitfinex", "bitstamp", "kraken"]);
}

#[test]
fn one_line_switches_the_executor_kind() {
    // Code written against the trait: the lesson's point that the API is
    // the same whatever executes it.
    fn run<E: Executor<fn(u32, u32) -> u32, (u32, u32), Output = u32>>(ex: &E) -> u32 {
        ex.submit(|a, b| a + b, (40, 2)).unwrap().result().unwrap()
    }
    assert_eq!(run(&ThreadPoolExecutor::new(2)), 42);
}

#[test]
fn shutdown_from_inside_a_task_does_not_deadlock() {
    let ex = Arc::new(ThreadPoolExecutor::new(1));
    let inner = Arc::clone(&ex);
    let handle = ex.spawn(move || inner.shutdown(true, false)).unwrap();
    assert_eq!(handle.result(), Ok(()));
    assert_eq!(ex.spawn(|| ()).err(), Some(TaskError::ShutDown));
}

#[test]
fn as_completed_and_wait_see_every_handle_once_under_stress() {
    // Repeated, with tasks finishing in scrambled order, to shake out
    // races between registering a waiter and a task finishing.
    let ex = ThreadPoolExecutor::new(8);
    for round in 0..50u64 {
        let handles: Vec<_> = (0..64u64)
            .map(|i| {
                ex.spawn(move || {
                    if (i * 7 + round) % 5 == 0 {
                        thread::yield_now();
                    }
                    i
                })
                .unwrap()
            })
            .collect();
        let mut seen: Vec<u64> = as_completed(&handles, None)
            .map(|h| h.unwrap().result().unwrap())
            .collect();
        seen.sort();
        assert_eq!(seen, (0..64).collect::<Vec<_>>());
        let (done, not_done) = wait(&handles, None, ReturnWhen::AllCompleted);
        assert_eq!((done.len(), not_done.len()), (64, 0));
    }
}

#[test]
fn a_full_queue_blocks_put_until_a_get() {
    let q = Queue::new(1);
    q.put("A").unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    thread::scope(|scope| {
        let putter = scope.spawn(|| {
            q.put("B").unwrap();
            log.lock().unwrap().push("B put");
        });
        thread::sleep(Duration::from_millis(20));
        log.lock().unwrap().push("getting A");
        assert_eq!(q.get(), Ok("A"));
        putter.join().unwrap();
    });
    assert_eq!(*log.lock().unwrap(), ["getting A", "B put"]);
    assert_eq!(q.get(), Ok("B"));
}

#[test]
fn join_returns_only_after_every_item_is_done() {
    let q = Queue::new(0);
    for i in 0..100 {
        q.put(i).unwrap();
    }
    let done = Arc::new(AtomicUsize::new(0));
    thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                while let Ok(_item) = q.get_nowait() {
                    done.fetch_add(1, Ordering::SeqCst);
                    q.task_done().unwrap();
                }
            });
        }
        q.join();
        assert_eq!(done.load(Ordering::SeqCst), 100);
    });
    assert!(q.task_done().is_err(), "one task_done too many");
}

#[derive(Debug, Clone, Copy)]
enum PutKind {
    Blocking,
    NoWait,
    Timeout,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// However producers and consumers interleave, and whichever kinds of
    /// put and get they use, every item put comes out exactly once.
    #[test]
    fn a_queue_never_loses_or_duplicates(
        maxsize in 0usize..4,
        producers in 1usize..4,
        consumers in 1usize..4,
        items_each in 0usize..60,
        kinds in proptest::collection::vec(0u8..3, 1..8),
    ) {
        let q = Queue::new(maxsize);
        let taken = Mutex::new(Vec::new());
        thread::scope(|scope| {
            for _ in 0..consumers {
                scope.spawn(|| {
                    loop {
                        match q.get_timeout(Duration::from_millis(1)) {
                            Ok(item) => {
                                taken.lock().unwrap().push(item);
                                q.task_done().unwrap();
                            }
                            Err(concurrent::GetTimeoutError::ShutDown) => break,
                            Err(concurrent::GetTimeoutError::Timeout) => {}
                        }
                    }
                });
            }
            let producer_threads: Vec<_> = (0..producers)
                .map(|p| {
                    let (q, kinds) = (&q, &kinds);
                    scope.spawn(move || {
                        for i in 0..items_each {
                            let mut item = p * 1000 + i;
                            let kind = match kinds[i % kinds.len()] {
                                0 => PutKind::Blocking,
                                1 => PutKind::NoWait,
                                _ => PutKind::Timeout,
                            };
                            loop {
                                let result = match kind {
                                    PutKind::Blocking => q.put(item).map_err(|e| e.0),
                                    PutKind::NoWait => q.put_nowait(item).map_err(|e| match e {
                                        concurrent::TryPutError::Full(item) | concurrent::TryPutError::ShutDown(item) => item,
                                    }),
                                    PutKind::Timeout => q.put_timeout(item, Duration::from_micros(50)).map_err(|e| match e {
                                        concurrent::PutTimeoutError::Timeout(item) | concurrent::PutTimeoutError::ShutDown(item) => item,
                                    }),
                                };
                                match result {
                                    Ok(()) => break,
                                    // The item came back: nothing lost, try again.
                                    Err(back) => {
                                        item = back;
                                        thread::yield_now();
                                    }
                                }
                            }
                        }
                    })
                })
                .collect();
            for producer in producer_threads {
                producer.join().unwrap();
            }
            q.join();
            q.shutdown(false);
        });
        let mut taken = taken.into_inner().unwrap();
        taken.sort();
        let mut expected: Vec<usize> = (0..producers).flat_map(|p| (0..items_each).map(move |i| p * 1000 + i)).collect();
        expected.sort();
        prop_assert_eq!(taken, expected);
        prop_assert_eq!(q.get_nowait(), Err(TryGetError::ShutDown));
    }

    /// A single producer and consumer see FIFO order on a bounded queue.
    #[test]
    fn one_producer_one_consumer_keep_fifo_order(maxsize in 1usize..5, count in 0usize..200) {
        let q = Queue::new(maxsize);
        let received = thread::scope(|scope| {
            let consumer = scope.spawn(|| (0..count).map(|_| q.get().unwrap()).collect::<Vec<_>>());
            for i in 0..count {
                q.put(i).unwrap();
            }
            consumer.join().unwrap()
        });
        prop_assert_eq!(received, (0..count).collect::<Vec<_>>());
    }

    /// SimpleQueue: many producers, one consumer, nothing lost.
    #[test]
    fn simple_queue_keeps_every_item(producers in 1usize..5, each in 0usize..100) {
        let q = SimpleQueue::new();
        thread::scope(|scope| {
            for p in 0..producers {
                let q = q.clone();
                scope.spawn(move || (0..each).for_each(|i| q.put(p * 1000 + i)));
            }
        });
        let mut got: Vec<usize> = std::iter::from_fn(|| q.get_nowait()).collect();
        got.sort();
        let mut expected: Vec<usize> = (0..producers).flat_map(|p| (0..each).map(move |i| p * 1000 + i)).collect();
        expected.sort();
        prop_assert_eq!(got, expected);
    }
}

// ---------------------------------------------------------------------------
// CPython's promises that tests written outside the project, from CPython's
// sources (`Lib/concurrent/futures/_base.py`, `thread.py`), found broken.
// Each is named after the behaviour. `HANG_GUARD` only stops a test that
// would otherwise hang forever; nothing depends on the machine's speed.

const HANG_GUARD: Duration = Duration::from_secs(60);

/// Runs `work` on a thread; its value, or a failure if it hangs.
fn finishes<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = crossbeam_channel::bounded(1);
    thread::spawn(move || tx.send(work()).unwrap());
    rx.recv_timeout(HANG_GUARD).expect("finished, not hung")
}

#[test]
fn wait_on_no_handles_returns_at_once_whatever_return_when_says() {
    // CPython: `if len(done) == len(fs): return` before any waiting.
    for return_when in [
        ReturnWhen::FirstCompleted,
        ReturnWhen::FirstException,
        ReturnWhen::AllCompleted,
    ] {
        let (done, not_done) =
            finishes(move || wait(Vec::<TaskHandle<()>>::new(), None, return_when));
        assert!(done.is_empty() && not_done.is_empty());
    }
}

#[test]
fn a_done_callback_may_submit_to_its_own_pool_and_wait() {
    // CPython counts a worker idle only after its work item, callbacks
    // included, has run; so the callback's task gets a thread of its own.
    let result = finishes(|| {
        let ex = Arc::new(ThreadPoolExecutor::new(4));
        let (tx, rx) = crossbeam_channel::bounded(1);
        let first = ex.spawn(|| 20).unwrap();
        let pool = Arc::clone(&ex);
        first.add_done_callback(move |done| {
            let first = done.result().unwrap();
            let second = pool.spawn(move || first + 22).unwrap();
            tx.send(second.result()).unwrap();
        });
        rx.recv().unwrap()
    });
    assert_eq!(result, Ok(42));
}

#[test]
fn every_caller_of_shutdown_wait_waits_for_the_running_task() {
    let ex = Arc::new(ThreadPoolExecutor::new(1));
    let (open, gated) = gate();
    let task = ex.spawn(move || gated.recv().unwrap()).unwrap();
    let task = Arc::new(task);
    let callers: Vec<_> = (0..2)
        .map(|_| {
            let (ex, task) = (Arc::clone(&ex), Arc::clone(&task));
            thread::spawn(move || {
                ex.shutdown(true, false);
                task.done()
            })
        })
        .collect();
    // Let both callers reach `shutdown` before the task may end.
    thread::sleep(Duration::from_millis(100));
    open.send(()).unwrap();
    for caller in callers {
        assert!(caller.join().unwrap(), "returned while the task still ran");
    }
}

#[test]
fn a_huge_timeout_means_no_limit() {
    let queue = Queue::new(1);
    queue.put_timeout(1, Duration::MAX).unwrap();
    assert_eq!(queue.get_timeout(Duration::MAX), Ok(1));
    queue.task_done().unwrap();
    assert!(queue.join_timeout(Duration::MAX));

    let ex = ThreadPoolExecutor::new(2);
    let handle = ex.spawn(|| 7).unwrap();
    assert_eq!(handle.result_timeout(Duration::MAX), Ok(7));
    let (done, _) = wait([&handle], Some(Duration::MAX), ReturnWhen::AllCompleted);
    assert_eq!(done.len(), 1);
    assert_eq!(as_completed([&handle], Some(Duration::MAX)).count(), 1);
    let squares: Vec<_> = ex
        .map(|n: u32| n * n, [(2,), (3,)])
        .timeout(Duration::MAX)
        .collect();
    assert_eq!(squares, [Ok(4), Ok(9)]);
}

#[test]
fn awaiting_a_handle_leaves_its_outcome_for_every_other_reader() {
    let ex = ThreadPoolExecutor::new(1);
    let mut failed = ex.spawn(|| -> u8 { panic!("boom") }).unwrap();
    let panicked = Err(TaskError::Panicked("boom".into()));
    assert_eq!(block_on(&mut failed), panicked);
    assert_eq!(failed.exception(), Some(TaskError::Panicked("boom".into())));
    assert_eq!(failed.result(), panicked);
    let mut fine = ex.spawn(|| 5u8).unwrap();
    assert_eq!(block_on(&mut fine), Ok(5));
    assert_eq!(fine.exception(), None);
    assert_eq!(fine.result(), Ok(5));
}

#[test]
fn into_result_takes_the_value_only_from_the_last_handle() {
    let handle = TaskHandle::<String>::pending();
    let other = handle.clone_for_worker();
    assert_eq!(handle.set_running_or_notify_cancel(), Ok(true));
    other
        .set_result("not Clone-free, but moved".into())
        .unwrap();
    let (tx, rx) = crossbeam_channel::bounded(1);
    let taker = thread::spawn(move || tx.send(handle.into_result()).unwrap());
    // While another handle can still read it, the value stays put.
    assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
    assert_eq!(other.result(), Ok("not Clone-free, but moved".to_owned()));
    drop(other);
    assert_eq!(
        rx.recv_timeout(HANG_GUARD).unwrap(),
        Ok("not Clone-free, but moved".to_owned())
    );
    taker.join().unwrap();
}

/// A value whose destructor panics.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("a destructor that panics");
    }
}

#[test]
fn a_cancelled_task_whose_captures_panic_on_drop_does_not_kill_its_worker() {
    let ex = ThreadPoolExecutor::new(1);
    let (open, gated) = gate();
    let blocker = ex.spawn(move || gated.recv().unwrap()).unwrap();
    let captured = PanicsOnDrop;
    let doomed = ex.spawn(move || drop(captured)).unwrap();
    assert!(doomed.cancel());
    open.send(()).unwrap();
    blocker.result().unwrap();
    // The worker dropped the cancelled task (and its panic); the pool's one
    // thread still runs tasks.
    assert_eq!(finishes_on(&ex), Ok(1));
}

#[test]
fn shutdown_cancelling_a_task_whose_captures_panic_on_drop_returns_normally() {
    let ex = ThreadPoolExecutor::new(1);
    let (open, gated) = gate();
    let blocker = ex.spawn(move || gated.recv().unwrap()).unwrap();
    let captured = PanicsOnDrop;
    let doomed = ex.spawn(move || drop(captured)).unwrap();
    while !blocker.running() {
        thread::yield_now();
    }
    ex.shutdown(false, true);
    assert!(doomed.cancelled());
    open.send(()).unwrap();
    assert_eq!(blocker.result(), Ok(()));
}

fn finishes_on(ex: &ThreadPoolExecutor) -> Result<i32, TaskError> {
    let handle = ex.spawn(|| 1).unwrap();
    match handle.result_timeout(HANG_GUARD) {
        Err(TaskError::TimedOut) => panic!("the pool no longer runs tasks"),
        other => other,
    }
}

#[test]
fn set_running_or_notify_cancel_on_a_running_or_finished_task_is_an_error() {
    let handle = TaskHandle::<u8>::pending();
    assert_eq!(handle.set_running_or_notify_cancel(), Ok(true));
    assert_eq!(
        handle.set_running_or_notify_cancel(),
        Err(concurrent::UnexpectedState)
    );
    handle.set_result(1).unwrap();
    assert_eq!(
        handle.set_running_or_notify_cancel(),
        Err(concurrent::UnexpectedState)
    );
    let cancelled = TaskHandle::<u8>::pending();
    assert!(cancelled.cancel());
    assert_eq!(cancelled.set_running_or_notify_cancel(), Ok(false));
    assert!(cancelled.cancelled());
}

#[test]
fn a_result_whose_drop_panics_does_not_kill_the_worker() {
    // One worker: had it died, every later task would wait forever.
    let ex = ThreadPoolExecutor::new(1);
    let (open, gate) = gate();
    let blocker = ex.spawn(move || gate.recv().unwrap()).unwrap();
    // Queued behind the gate, their handles dropped before they run: the
    // worker is the one to drop each result.
    for _ in 0..3 {
        drop(ex.spawn(|| PanicsOnDrop).unwrap());
    }
    open.send(()).unwrap();
    assert_eq!(blocker.result(), Ok(()));
    assert_eq!(finishes_on(&ex), Ok(1));
}

#[test]
fn a_map_dropped_after_its_first_result_cancels_what_has_not_started() {
    // CPython's result generator ends in `finally: for future in fs:
    // future.cancel()`: once read, closing it cancels the rest.
    let ex = ThreadPoolExecutor::new(1);
    let ran = Arc::new(AtomicUsize::new(0));
    let (open, gated) = gate();
    // The gate stays open to sends even once every task (each holding a
    // receiver) is gone: the second task may finish between two of the
    // sends below.
    let _held_open = gated.clone();
    let (started, starts) = gate();
    let task = {
        let ran = Arc::clone(&ran);
        move |n: u32| {
            started.send(()).unwrap();
            gated.recv().unwrap();
            ran.fetch_add(1, Ordering::SeqCst);
            n
        }
    };
    let mut results = ex.map(task, (0..10).map(|n| (n,)));
    open.send(()).unwrap();
    assert_eq!(results.next(), Some(Ok(0)));
    // Once the second task is running (behind the gate), the other eight
    // wait: dropping the map cancels those.
    starts.recv().unwrap();
    starts.recv().unwrap();
    drop(results);
    for _ in 0..9 {
        open.send(()).unwrap();
    }
    ex.shutdown(true, false);
    assert_eq!(ran.load(Ordering::SeqCst), 2, "only the first two ran");
}

#[test]
fn a_map_never_read_runs_every_task_even_when_dropped() {
    let ex = ThreadPoolExecutor::new(2);
    let ran = Arc::new(AtomicUsize::new(0));
    let task = {
        let ran = Arc::clone(&ran);
        move |n: u32| {
            ran.fetch_add(1, Ordering::SeqCst);
            n
        }
    };
    drop(ex.map(task, (0..10).map(|n| (n,))));
    ex.shutdown(true, false);
    assert_eq!(ran.load(Ordering::SeqCst), 10);
}

#[test]
fn into_result_waits_for_a_callback_that_reads_the_value_and_result_does_not() {
    // The documented difference from CPython: a callback may read the
    // value through its handle, so the value cannot move out before it
    // has run; `result()` clones and does not wait.
    let ex = ThreadPoolExecutor::new(1);
    let (start, task_gate) = gate();
    let (release, callback_gate) = gate();
    let seen = Arc::new(Mutex::new(None));
    let handle = ex
        .spawn(move || {
            task_gate.recv().unwrap();
            5
        })
        .unwrap();
    {
        let seen = Arc::clone(&seen);
        handle.add_done_callback(move |handle| {
            callback_gate.recv().unwrap();
            *seen.lock().unwrap() = Some(handle.result());
        });
    }
    start.send(()).unwrap();
    // The callback is held at its gate on the worker.
    assert_eq!(handle.result(), Ok(5), "result() does not wait for it");
    assert_eq!(*seen.lock().unwrap(), None);
    release.send(()).unwrap();
    assert_eq!(handle.into_result(), Ok(5));
    assert_eq!(
        *seen.lock().unwrap(),
        Some(Ok(5)),
        "the callback read it first"
    );
}
