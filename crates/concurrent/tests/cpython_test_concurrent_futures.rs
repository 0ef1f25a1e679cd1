//! CPython's `Lib/test/test_concurrent_futures/` for the thread pool,
//! ported test by test: `test_future.py` (`FutureTests`), `executor.py`
//! (`ExecutorTest`), `test_thread_pool.py`, `test_wait.py`,
//! `test_as_completed.py` and `test_shutdown.py`. Each test keeps its
//! original name, in a module named after its original class.
//!
//! Python's `time.sleep` and `threading.Event` tasks become tasks that
//! block on a channel until the test lets them go, so no test depends on
//! how fast the machine is.
//!
//! Not ported, and why:
//!
//! - `test_class_str`, `test_get_snapshot`: Python class names and a
//!   private method.
//! - `test_hang_global_shutdown_lock`, `test_process_fork_from_a_threadpool`:
//!   `fork()` in a threaded program; we never fork.
//! - `test_interpreter_shutdown`, `test_submit_after_interpreter_shutdown`,
//!   `test_hang_gh83386`: Python's atexit hooks; a Rust program's pool is
//!   shut down by `Drop`, tested below.
//! - `test_map_buffersize_type_validation`, and `test_max_workers_negative`
//!   for `-1`: the types refuse them (`NonZeroUsize`, `usize`) at compile
//!   time. `buffersize = 0` is refused by `NonZeroUsize` too; the
//!   `max_workers = 0` half is ported.
//! - `test_map_close`: a Rust iterator has no `close()`; dropping it is the
//!   counterpart, and cancels what has not started once a result has been
//!   read, or at once for a buffered map, as documented on `map`
//!   (`tests/thread_pool.rs` tests both).
//! - `test_submit_keyword` (tuples are positional), `test_no_stale_references`,
//!   `test_swallows_falsey_exceptions`, `test_map_timeout_from_callable`:
//!   keyword arguments, garbage collection, Python truthiness, and a task
//!   raising `TimeoutError` itself have no Rust counterpart.
//! - The process-pool variants: the process pool has its own issue.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use concurrent::{
    Executor, ReturnWhen, Shutdown, TaskError, TaskHandle, ThreadPoolExecutor, as_completed, wait,
};

fn mul(x: i32, y: i32) -> i32 {
    x * y
}

/// `divmod`, which in Python raises `ZeroDivisionError`; here it panics.
fn divmod(x: i32, y: i32) -> (i32, i32) {
    (x / y, x % y)
}

/// The futures of `util.py`, one per state.
mod states {
    use super::*;

    pub fn pending() -> TaskHandle<i32> {
        TaskHandle::pending()
    }

    pub fn running() -> TaskHandle<i32> {
        let handle = TaskHandle::pending();
        assert_eq!(handle.set_running_or_notify_cancel(), Ok(true));
        handle
    }

    pub fn cancelled() -> TaskHandle<i32> {
        let handle = TaskHandle::pending();
        assert!(handle.cancel());
        handle
    }

    pub fn exception() -> TaskHandle<i32> {
        let handle = running();
        handle
            .set_exception(TaskError::Panicked("OSError".into()))
            .unwrap();
        handle
    }

    pub fn successful() -> TaskHandle<i32> {
        let handle = running();
        handle.set_result(42).unwrap();
        handle
    }
}

/// A Python `threading.Event` for tasks: `waiting_task` blocks a worker
/// until `set` (or until the event is dropped).
struct Event {
    sender: Mutex<Option<mpsc::Sender<()>>>,
}

impl Event {
    fn new(ex: &ThreadPoolExecutor, result: i32) -> (Event, TaskHandle<i32>) {
        let (sender, receiver) = mpsc::channel::<()>();
        let handle = ex
            .spawn(move || {
                let _ = receiver.recv();
                result
            })
            .unwrap();
        (
            Event {
                sender: Mutex::new(Some(sender)),
            },
            handle,
        )
    }

    fn set(&self) {
        self.sender.lock().unwrap().take();
    }
}

mod future_tests {
    use super::*;

    #[test]
    fn test_done_callback_with_result() {
        let (tx, rx) = mpsc::channel();
        let f = TaskHandle::pending();
        f.add_done_callback(move |f| tx.send(f.result()).unwrap());
        f.set_result(5).unwrap();
        assert_eq!(rx.recv().unwrap(), Ok(5));
    }

    #[test]
    fn test_done_callback_with_exception() {
        let (tx, rx) = mpsc::channel();
        let f = TaskHandle::<i32>::pending();
        f.add_done_callback(move |f| tx.send(f.exception()).unwrap());
        f.set_exception(TaskError::Panicked("test".into())).unwrap();
        assert_eq!(rx.recv().unwrap(), Some(TaskError::Panicked("test".into())));
    }

    #[test]
    fn test_done_callback_with_cancel() {
        let (tx, rx) = mpsc::channel();
        let f = TaskHandle::<i32>::pending();
        f.add_done_callback(move |f| tx.send(f.cancelled()).unwrap());
        assert!(f.cancel());
        assert!(rx.recv().unwrap());
    }

    #[test]
    fn test_done_callback_raises() {
        let raising_was_called = Arc::new(AtomicUsize::new(0));
        let fn_was_called = Arc::new(AtomicUsize::new(0));
        let f = TaskHandle::pending();
        let raising = Arc::clone(&raising_was_called);
        f.add_done_callback(move |_| {
            raising.fetch_add(1, Ordering::SeqCst);
            panic!("doh!");
        });
        let called = Arc::clone(&fn_was_called);
        f.add_done_callback(move |_| {
            called.fetch_add(1, Ordering::SeqCst);
        });
        f.set_result(5).unwrap();
        assert_eq!(raising_was_called.load(Ordering::SeqCst), 1);
        assert_eq!(
            fn_was_called.load(Ordering::SeqCst),
            1,
            "a panicking callback does not stop the others"
        );
    }

    #[test]
    fn test_done_callback_already_successful() {
        let (tx, rx) = mpsc::channel();
        let f = TaskHandle::pending();
        f.set_result(5).unwrap();
        f.add_done_callback(move |f| tx.send(f.result()).unwrap());
        assert_eq!(rx.try_recv().unwrap(), Ok(5), "ran at once, on this thread");
    }

    #[test]
    fn test_done_callback_already_failed() {
        let (tx, rx) = mpsc::channel();
        let f = TaskHandle::<i32>::pending();
        f.set_exception(TaskError::Panicked("test".into())).unwrap();
        f.add_done_callback(move |f| tx.send(f.exception()).unwrap());
        assert_eq!(
            rx.try_recv().unwrap(),
            Some(TaskError::Panicked("test".into()))
        );
    }

    #[test]
    fn test_done_callback_already_cancelled() {
        let (tx, rx) = mpsc::channel();
        let f = TaskHandle::<i32>::pending();
        assert!(f.cancel());
        f.add_done_callback(move |f| tx.send(f.cancelled()).unwrap());
        assert!(rx.try_recv().unwrap());
    }

    #[test]
    fn test_done_callback_raises_already_succeeded() {
        let f = TaskHandle::pending();
        f.set_result(5).unwrap();
        // Runs at once and panics: caught, reported on stderr, not ours.
        f.add_done_callback(|_| panic!("doh!"));
        assert_eq!(f.result(), Ok(5));
    }

    #[test]
    fn test_repr() {
        assert_eq!(
            format!("{:?}", states::pending()),
            r#"TaskHandle { state: "pending" }"#
        );
        assert_eq!(
            format!("{:?}", states::running()),
            r#"TaskHandle { state: "running" }"#
        );
        assert_eq!(
            format!("{:?}", states::cancelled()),
            r#"TaskHandle { state: "cancelled" }"#
        );
        assert_eq!(
            format!("{:?}", states::exception()),
            r#"TaskHandle { state: "failed" }"#
        );
        assert_eq!(
            format!("{:?}", states::successful()),
            r#"TaskHandle { state: "finished" }"#
        );
    }

    #[test]
    fn test_cancel() {
        let f1 = states::pending();
        let f2 = states::running();
        let f3 = states::cancelled();
        let f5 = states::exception();
        let f6 = states::successful();
        assert!(f1.cancel());
        assert!(f1.cancelled());
        assert!(!f2.cancel());
        assert!(f2.running());
        assert!(f3.cancel());
        assert!(f3.cancelled());
        assert!(!f5.cancel());
        assert!(f5.done() && !f5.cancelled());
        assert!(!f6.cancel());
        assert!(f6.done() && !f6.cancelled());
    }

    #[test]
    fn test_cancelled() {
        assert!(!states::pending().cancelled());
        assert!(!states::running().cancelled());
        assert!(states::cancelled().cancelled());
        assert!(!states::exception().cancelled());
        assert!(!states::successful().cancelled());
    }

    #[test]
    fn test_done() {
        assert!(!states::pending().done());
        assert!(!states::running().done());
        assert!(states::cancelled().done());
        assert!(states::exception().done());
        assert!(states::successful().done());
    }

    #[test]
    fn test_running() {
        assert!(!states::pending().running());
        assert!(states::running().running());
        assert!(!states::cancelled().running());
        assert!(!states::exception().running());
        assert!(!states::successful().running());
    }

    #[test]
    fn test_result_with_timeout() {
        assert_eq!(
            states::pending().result_timeout(Duration::ZERO),
            Err(TaskError::TimedOut)
        );
        assert_eq!(
            states::running().result_timeout(Duration::ZERO),
            Err(TaskError::TimedOut)
        );
        assert_eq!(
            states::cancelled().result_timeout(Duration::ZERO),
            Err(TaskError::Cancelled)
        );
        assert_eq!(
            states::exception().result_timeout(Duration::ZERO),
            Err(TaskError::Panicked("OSError".into()))
        );
        assert_eq!(states::successful().result_timeout(Duration::ZERO), Ok(42));
    }

    #[test]
    fn test_result_with_success() {
        let f1 = states::pending();
        let setter = f1.clone_for_worker();
        let t = std::thread::spawn(move || {
            // Let the main thread start waiting for the result.
            std::thread::sleep(Duration::from_millis(100));
            setter.set_result(42).unwrap();
        });
        assert_eq!(f1.result_timeout(Duration::from_secs(30)), Ok(42));
        t.join().unwrap();
    }

    #[test]
    fn test_result_with_cancel() {
        let f1 = states::pending();
        let canceller = f1.clone_for_worker();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            canceller.cancel();
        });
        assert_eq!(
            f1.result_timeout(Duration::from_secs(30)),
            Err(TaskError::Cancelled)
        );
        t.join().unwrap();
    }

    #[test]
    fn test_exception_with_success() {
        let f1 = states::running();
        let setter = f1.clone_for_worker();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            setter
                .set_exception(TaskError::Panicked("OSError".into()))
                .unwrap();
        });
        assert_eq!(f1.exception(), Some(TaskError::Panicked("OSError".into())));
        t.join().unwrap();
    }

    #[test]
    fn test_exception_with_timeout() {
        assert_eq!(
            states::pending().exception_timeout(Duration::ZERO),
            Some(TaskError::TimedOut)
        );
        assert_eq!(
            states::running().exception_timeout(Duration::ZERO),
            Some(TaskError::TimedOut)
        );
        // Python raises CancelledError here; ours gives it as the error.
        assert_eq!(
            states::cancelled().exception_timeout(Duration::ZERO),
            Some(TaskError::Cancelled)
        );
        assert_eq!(
            states::exception().exception_timeout(Duration::ZERO),
            Some(TaskError::Panicked("OSError".into()))
        );
        assert_eq!(states::successful().exception_timeout(Duration::ZERO), None);

        let f = states::running();
        let setter = f.clone_for_worker();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            setter
                .set_exception(TaskError::Panicked("OSError".into()))
                .unwrap();
        });
        assert_eq!(
            f.exception_timeout(Duration::from_secs(30)),
            Some(TaskError::Panicked("OSError".into()))
        );
        t.join().unwrap();
    }

    #[test]
    fn test_multiple_set_result() {
        let f = states::pending();
        f.set_result(1).unwrap();
        assert_eq!(f.set_result(2), Err(2), "the second value comes back");
        assert!(f.done());
        assert_eq!(f.result(), Ok(1));
    }

    #[test]
    fn test_multiple_set_exception() {
        let f = states::pending();
        f.set_exception(TaskError::Panicked("ValueError".into()))
            .unwrap();
        assert_eq!(
            f.set_exception(TaskError::Panicked("Exception".into())),
            Err(TaskError::Panicked("Exception".into()))
        );
        assert_eq!(
            f.exception(),
            Some(TaskError::Panicked("ValueError".into()))
        );
    }
}

mod thread_pool_executor_test {
    use super::*;

    #[test]
    fn test_submit() {
        let executor = ThreadPoolExecutor::new(5);
        let future = executor.submit(u64::pow, (2, 8)).unwrap();
        assert_eq!(future.result(), Ok(256));
    }

    #[test]
    fn test_map() {
        let executor = ThreadPoolExecutor::new(5);
        let results: Vec<u64> = Executor::map(&executor, u64::pow, (0..10u64).zip(0..10u32))
            .collect::<Result<_, _>>()
            .unwrap();
        let expected: Vec<u64> = (0..10u64).zip(0..10u32).map(|(x, y)| x.pow(y)).collect();
        assert_eq!(results, expected);
        // Python's second run passes chunksize=3, which a thread pool
        // ignores; the thread pool's map has no chunksize to pass.
        let again: Vec<u64> = Executor::map(&executor, u64::pow, (0..10u64).zip(0..10u32))
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(again, expected);
    }

    #[test]
    fn test_map_exception() {
        let executor = ThreadPoolExecutor::new(5);
        let mut i = Executor::map(&executor, divmod, [(1, 2), (1, 3), (1, 0), (1, 5)]);
        assert_eq!(i.next(), Some(Ok((0, 1))));
        assert_eq!(i.next(), Some(Ok((0, 1))));
        assert!(
            matches!(i.next(), Some(Err(TaskError::Panicked(message))) if message.contains("divide by zero"))
        );
    }

    #[test]
    fn test_map_timeout() {
        let executor = ThreadPoolExecutor::new(5);
        // Python sleeps 0, 0 and 6 s with a 5 s timeout; here the third
        // task waits until the test releases it, so it cannot beat the
        // timeout however slow or fast the machine is.
        let (release, gate) = crossbeam_channel::unbounded::<()>();
        let sleep = move |wait: bool| {
            if wait {
                let _ = gate.recv();
            }
        };
        let mut results = Vec::new();
        for result in Executor::map(&executor, sleep, [(false,), (false,), (true,)])
            .timeout(Duration::from_millis(100))
        {
            results.push(result);
        }
        drop(release);
        assert_eq!(results, [Ok(()), Ok(()), Err(TaskError::TimedOut)]);
    }

    #[test]
    fn test_map_timeout_leaves_the_iterator_exhausted() {
        // The second half of CPython's test_map_timeout: "The remaining
        // calls are cancelled, so the iterator is exhausted."
        let executor = ThreadPoolExecutor::new(5);
        let (release, gate) = crossbeam_channel::unbounded::<()>();
        let sleep = move |wait: bool| {
            if wait {
                let _ = gate.recv();
            }
        };
        let mut i = Executor::map(&executor, sleep, [(false,), (false,), (true,), (false,)])
            .timeout(Duration::from_millis(100));
        let results: Vec<_> = i.by_ref().take_while(Result::is_ok).collect();
        assert!(results.len() <= 2);
        assert_eq!(i.next(), None);
        assert_eq!(i.next(), None);
        drop(release);
    }

    #[test]
    fn test_shutdown_race_issue12456() {
        let executor = ThreadPoolExecutor::new(5);
        let _ = Executor::map(&executor, |n: i32| n.to_string(), [(2,); 6]);
        executor.shutdown(true, false);
    }

    #[test]
    fn test_no_stale_references() {
        // Issue #16284: the executor must not keep what a finished task held.
        let executor = ThreadPoolExecutor::new(5);
        let my_object = Arc::new(());
        let held = Arc::clone(&my_object);
        drop(executor.spawn(move || drop(held)).unwrap()); // discard the handle
        executor.shutdown(true, false);
        assert_eq!(
            Arc::strong_count(&my_object),
            1,
            "stale reference not released"
        );
    }

    #[test]
    fn test_free_reference() {
        // Issue #14406: the result iterator keeps no reference to results.
        let executor = ThreadPoolExecutor::new(5);
        for obj in Executor::map(&executor, |_: i32| Arc::new(()), (0..10).map(|n| (n,))) {
            let obj = obj.unwrap();
            assert_eq!(Arc::strong_count(&obj), 1);
        }
    }

    #[test]
    fn test_map_submits_without_iteration() {
        // Issue 11777: map starts the work without waiting for iteration.
        let executor = ThreadPoolExecutor::new(5);
        let finished = Arc::new(Mutex::new(Vec::new()));
        let record = {
            let finished = Arc::clone(&finished);
            move |n: i32| finished.lock().unwrap().push(n)
        };
        let _ = Executor::map(&executor, record, (0..10).map(|n| (n,)));
        executor.shutdown(true, false);
        let mut finished = finished.lock().unwrap().clone();
        finished.sort();
        assert_eq!(finished, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn test_default_workers() {
        let executor = ThreadPoolExecutor::default();
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        assert_eq!(executor.max_workers(), 32.min(cpus + 4));
    }

    #[test]
    fn test_saturation() {
        let executor = ThreadPoolExecutor::new(4);
        let (release, gate) = crossbeam_channel::unbounded::<()>();
        for _ in 0..15 * executor.max_workers() {
            let gate = gate.clone();
            executor.spawn(move || gate.recv().unwrap()).unwrap();
        }
        assert_eq!(executor.thread_count(), executor.max_workers());
        for _ in 0..15 * executor.max_workers() {
            release.send(()).unwrap();
        }
        executor.shutdown(true, false);
    }

    #[test]
    #[should_panic(expected = "max_workers must be greater than 0")]
    fn test_max_workers_negative() {
        let _ = ThreadPoolExecutor::new(0);
    }

    #[test]
    fn test_map_buffersize() {
        let executor = ThreadPoolExecutor::new(5);
        for buffersize in [1, 2, 4, 8] {
            let buffersize = NonZeroUsize::new(buffersize).unwrap();
            let res =
                executor.map_buffered(|n: i32| n.to_string(), (0..4).map(|n| (n,)), buffersize);
            assert_eq!(
                res.collect::<Result<Vec<_>, _>>().unwrap(),
                ["0", "1", "2", "3"]
            );
        }
    }

    #[test]
    fn test_map_buffersize_on_multiple_iterables() {
        let executor = ThreadPoolExecutor::new(5);
        for buffersize in [1, 2, 4, 8] {
            let buffersize = NonZeroUsize::new(buffersize).unwrap();
            let res = executor.map_buffered(|a: i32, b: i32| a + b, (0..4).zip(0..4), buffersize);
            assert_eq!(res.collect::<Result<Vec<_>, _>>().unwrap(), [0, 2, 4, 6]);
        }
    }

    #[test]
    fn test_map_buffersize_on_infinite_iterable() {
        let executor = ThreadPoolExecutor::new(5);
        let two = NonZeroUsize::new(2).unwrap();
        let mut res = executor.map_buffered(|n: u64| n.to_string(), (0..).map(|n| (n,)), two);
        assert_eq!(res.next(), Some(Ok("0".to_owned())));
        assert_eq!(res.next(), Some(Ok("1".to_owned())));
        assert_eq!(res.next(), Some(Ok("2".to_owned())));
    }

    #[test]
    fn test_map_buffersize_on_multiple_infinite_iterables() {
        let executor = ThreadPoolExecutor::new(5);
        let two = NonZeroUsize::new(2).unwrap();
        let mut res = executor.map_buffered(|a: u64, b: u64| a + b, (0..).zip(0..), two);
        assert_eq!(res.next(), Some(Ok(0)));
        assert_eq!(res.next(), Some(Ok(2)));
        assert_eq!(res.next(), Some(Ok(4)));
    }

    #[test]
    fn test_map_buffersize_on_empty_iterable() {
        let executor = ThreadPoolExecutor::new(5);
        let two = NonZeroUsize::new(2).unwrap();
        let mut res =
            executor.map_buffered(|n: i32| n.to_string(), std::iter::empty::<(i32,)>(), two);
        assert_eq!(res.next(), None);
    }

    #[test]
    fn test_map_buffersize_when_buffer_is_full() {
        let executor = ThreadPoolExecutor::new(5);
        let mut ints = (0..4).map(|n| (n,));
        let buffersize = NonZeroUsize::new(2).unwrap();
        // Changed: the map borrows `ints` and the executor, so it is dropped
        // before the shutdown (which also cancels what has not started; the
        // test is about how many items were taken).
        drop(executor.map_buffered(|n: i32| n.to_string(), ints.by_ref(), buffersize));
        executor.shutdown(true, false);
        assert_eq!(
            ints.next(),
            Some((2,)),
            "should have fetched only `buffersize` elements from `ints`"
        );
    }

    #[test]
    fn test_idle_thread_reuse() {
        let executor = ThreadPoolExecutor::default();
        executor.submit(mul, (21, 2)).unwrap().result().unwrap();
        executor.submit(mul, (6, 7)).unwrap().result().unwrap();
        executor.submit(mul, (3, 14)).unwrap().result().unwrap();
        assert_eq!(executor.thread_count(), 1);
        executor.shutdown(true, false);
    }

    #[test]
    fn test_executor_map_current_future_cancel() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = crossbeam_channel::unbounded::<()>();
        let log_n_wait = {
            let log = Arc::clone(&log);
            move |ident: &'static str| {
                log.lock().unwrap().push(format!("{ident} started"));
                let _ = stopped.recv();
                log.lock().unwrap().push(format!("{ident} stopped"));
            }
        };
        {
            let pool = ThreadPoolExecutor::new(1);
            // Saturate the pool.
            let fut = pool.submit(log_n_wait.clone(), ("first",)).unwrap();
            {
                let mut results = Executor::map(&pool, log_n_wait, [("second",), ("third",)])
                    .timeout(Duration::ZERO);
                assert_eq!(results.next(), Some(Err(TaskError::TimedOut)));
            }
            drop(stop);
            fut.result().unwrap();
        }
        // "second" was cancelled by the timeout, "third" because it was
        // still in the map's collection of tasks.
        assert_eq!(*log.lock().unwrap(), ["first started", "first stopped"]);
    }
}

mod thread_pool_wait_tests {
    use super::*;

    #[test]
    fn test_20369() {
        let executor = ThreadPoolExecutor::new(5);
        let future = executor.submit(mul, (1, 2)).unwrap();
        let (done, not_done) = wait([&future, &future], None, ReturnWhen::AllCompleted);
        assert_eq!(done, [&future]);
        assert!(not_done.is_empty());
    }

    #[test]
    fn test_first_completed() {
        let executor = ThreadPoolExecutor::new(5);
        let cancelled = states::cancelled();
        let future1 = executor.submit(mul, (21, 2)).unwrap();
        let (event, future2) = Event::new(&executor, 0);
        // Python's CANCELLED_FUTURE is a future whose cancellation has not
        // been announced yet, which `wait` does not count as done. Ours are
        // announced at once, so it counts; let future1 finish first so the
        // split is deterministic.
        future1.result().unwrap();
        let (done, not_done) = wait(
            [&cancelled, &future1, &future2],
            None,
            ReturnWhen::FirstCompleted,
        );
        assert_eq!(done, [&cancelled, &future1]);
        assert_eq!(not_done, [&future2]);
        event.set();
        future2.result().unwrap();
    }

    #[test]
    fn test_first_completed_some_already_completed() {
        let executor = ThreadPoolExecutor::new(5);
        let (event, future1) = Event::new(&executor, 0);
        let (cancelled, successful) = (states::cancelled(), states::successful());
        let (finished, pending) = wait(
            [&cancelled, &successful, &future1],
            None,
            ReturnWhen::FirstCompleted,
        );
        assert_eq!(finished, [&cancelled, &successful]);
        assert_eq!(pending, [&future1]);
        event.set();
        future1.result().unwrap();
    }

    #[test]
    fn test_first_exception() {
        let executor = ThreadPoolExecutor::new(5);
        let (event1, gate1) = mpsc::channel::<()>();
        let future1 = executor.submit(mul, (2, 21)).unwrap();
        let future2 = executor
            .spawn(move || {
                let _ = gate1.recv();
                panic!("this is an exception")
            })
            .unwrap();
        let (event2, future3) = Event::new(&executor, 0);
        // Make sure future1 is done before future2 fails.
        future1.result().unwrap();
        drop(event1);
        let (finished, pending) = wait(
            [&future1, &future2, &future3],
            None,
            ReturnWhen::FirstException,
        );
        assert_eq!(finished, [&future1, &future2]);
        assert_eq!(pending, [&future3]);
        event2.set();
        future3.result().unwrap();
    }

    #[test]
    fn test_first_exception_some_already_complete() {
        let executor = ThreadPoolExecutor::new(5);
        let future1 = executor.spawn(|| divmod(21, 0).0).unwrap();
        let (event, future2) = Event::new(&executor, 0);
        let (successful, cancelled) = (states::successful(), states::cancelled());
        let (finished, pending) = wait(
            [&successful, &cancelled, &future1, &future2],
            None,
            ReturnWhen::FirstException,
        );
        assert_eq!(finished, [&successful, &cancelled, &future1]);
        assert_eq!(pending, [&future2]);
        event.set();
        future2.result().unwrap();
    }

    #[test]
    fn test_first_exception_one_already_failed() {
        let executor = ThreadPoolExecutor::new(5);
        let (event, future1) = Event::new(&executor, 0);
        let exception = states::exception();
        let (finished, pending) = wait([&exception, &future1], None, ReturnWhen::FirstException);
        assert_eq!(finished, [&exception]);
        assert_eq!(pending, [&future1]);
        event.set();
        future1.result().unwrap();
    }

    #[test]
    fn test_all_completed() {
        let executor = ThreadPoolExecutor::new(5);
        let future1 = executor.spawn(|| divmod(2, 0).0).unwrap();
        let future2 = executor.submit(mul, (2, 21)).unwrap();
        let (successful, cancelled, exception) = (
            states::successful(),
            states::cancelled(),
            states::exception(),
        );
        let all = [&successful, &cancelled, &exception, &future1, &future2];
        let (finished, pending) = wait(all, None, ReturnWhen::AllCompleted);
        assert_eq!(finished, all);
        assert!(pending.is_empty());
    }

    #[test]
    fn test_timeout() {
        let executor = ThreadPoolExecutor::new(5);
        let (event, future) = Event::new(&executor, 0);
        let (cancelled, exception, successful) = (
            states::cancelled(),
            states::exception(),
            states::successful(),
        );
        let (finished, pending) = wait(
            [&cancelled, &exception, &successful, &future],
            Some(Duration::from_millis(50)),
            ReturnWhen::AllCompleted,
        );
        assert_eq!(finished, [&cancelled, &exception, &successful]);
        assert_eq!(pending, [&future]);
        event.set();
        future.result().unwrap();
    }

    #[test]
    fn test_pending_calls_race() {
        // Issue #14406: a race when waiting on all futures.
        let executor = ThreadPoolExecutor::new(5);
        let barrier = Arc::new(Barrier::new(1));
        let fs: Vec<_> = (0..100)
            .map(|_| {
                let barrier = Arc::clone(&barrier);
                executor
                    .spawn(move || {
                        barrier.wait();
                    })
                    .unwrap()
            })
            .collect();
        let (done, not_done) = wait(&fs, None, ReturnWhen::AllCompleted);
        assert_eq!((done.len(), not_done.len()), (100, 0));
    }
}

mod thread_pool_as_completed_tests {
    use super::*;

    #[test]
    fn test_no_timeout() {
        let executor = ThreadPoolExecutor::new(5);
        let future1 = executor.submit(mul, (2, 21)).unwrap();
        let future2 = executor.submit(mul, (7, 6)).unwrap();
        let (cancelled, exception, successful) = (
            states::cancelled(),
            states::exception(),
            states::successful(),
        );
        let all = [&cancelled, &exception, &successful, &future1, &future2];
        let mut completed: Vec<&TaskHandle<i32>> =
            as_completed(all, None).map(Result::unwrap).collect();
        assert_eq!(completed.len(), 5);
        for handle in all {
            assert!(completed.contains(&handle));
        }
        completed.dedup();
        assert_eq!(completed.len(), 5);
    }

    #[test]
    fn test_correct_timeout_exception_msg() {
        let (cancelled, pending, running, successful) = (
            states::cancelled(),
            states::pending(),
            states::running(),
            states::successful(),
        );
        let futures_list = [&cancelled, &pending, &running, &successful];
        let error = as_completed(futures_list, Some(Duration::ZERO))
            .find_map(Result::err)
            .expect("a timeout");
        assert_eq!(error.to_string(), "2 (of 4) futures unfinished");
    }

    #[test]
    fn test_future_times_out() {
        // Python's as_completed over already-completed futures plus one
        // that outlives the timeout, for timeouts of 0 and 100 ms.
        for timeout in [Duration::ZERO, Duration::from_millis(100)] {
            let executor = ThreadPoolExecutor::new(5);
            let (cancelled, exception, successful) = (
                states::cancelled(),
                states::exception(),
                states::successful(),
            );
            let (event, future) = Event::new(&executor, 0);
            let mut completed = Vec::new();
            let mut timed_out = false;
            for f in as_completed(
                [&cancelled, &exception, &successful, &future],
                Some(timeout),
            ) {
                match f {
                    Ok(f) => completed.push(f),
                    Err(error) => {
                        assert_eq!(
                            error,
                            TaskError::Unfinished {
                                unfinished: 1,
                                total: 4
                            }
                        );
                        timed_out = true;
                    }
                }
            }
            assert!(timed_out);
            // `future` did not complete.
            assert_eq!(completed, [&cancelled, &exception, &successful]);
            event.set();
        }
    }

    #[test]
    fn test_duplicate_futures() {
        // Issue 20367: duplicates are yielded once.
        let executor = ThreadPoolExecutor::new(5);
        let future1 = executor.submit(mul, (2, 3)).unwrap();
        let completed: Vec<_> = as_completed(std::iter::repeat_n(&future1, 3), None).collect();
        assert_eq!(completed.len(), 1);
    }

    #[test]
    fn test_free_reference_yielded_future() {
        // Issue #14406: the iterator keeps no hold on the handles it
        // yielded. Here, owned handles are moved out to the caller.
        let mut futures_list: Vec<TaskHandle<&str>> =
            (0..8).map(|_| TaskHandle::pending()).collect();
        let setters: Vec<TaskHandle<&str>> = futures_list
            .iter()
            .map(TaskHandle::clone_for_worker)
            .collect();
        let cancelled = TaskHandle::pending();
        cancelled.cancel();
        futures_list.push(cancelled);
        let finished = TaskHandle::pending();
        finished.set_result("42").unwrap();
        futures_list.push(finished);

        let mut yielded = 0;
        let mut timed_out = false;
        for future in as_completed(futures_list, Some(Duration::ZERO)) {
            match future {
                Ok(future) => {
                    yielded += 1;
                    drop(future); // ours now, and gone
                }
                Err(_) => timed_out = true,
            }
        }
        assert_eq!((yielded, timed_out), (2, true));
        drop(setters);
    }
}

mod thread_pool_shutdown_test {
    use super::*;

    #[test]
    fn test_run_after_shutdown() {
        let executor = ThreadPoolExecutor::new(5);
        executor.shutdown(true, false);
        assert_eq!(
            executor.submit(u64::pow, (2, 5)).err(),
            Some(TaskError::ShutDown)
        );
    }

    #[test]
    fn test_hang_issue12364() {
        let executor = ThreadPoolExecutor::new(5);
        let fs: Vec<_> = (0..50)
            .map(|_| {
                executor
                    .spawn(|| std::thread::sleep(Duration::from_millis(1)))
                    .unwrap()
            })
            .collect();
        executor.shutdown(true, false);
        for f in fs {
            f.result().unwrap();
        }
    }

    #[test]
    fn test_cancel_futures_wait_false() {
        // Python runs this in a child interpreter and checks that "apple"
        // is printed once the interpreter exits (joining the workers).
        // Here the pool's drop is that exit. Changed: the test waits until
        // the task is running before the shutdown, because without
        // Python's GIL the new worker may not have taken the task yet, and
        // `cancel_futures` would then rightly cancel it.
        let printed = Arc::new(Mutex::new(Vec::new()));
        {
            let t = ThreadPoolExecutor::default();
            let out = Arc::clone(&printed);
            let task = t
                .spawn(move || {
                    std::thread::sleep(Duration::from_millis(100));
                    out.lock().unwrap().push("apple");
                })
                .unwrap();
            while !task.running() {
                std::thread::yield_now();
            }
            t.shutdown(false, true);
        }
        assert_eq!(*printed.lock().unwrap(), ["apple"]);
    }

    #[test]
    fn test_cancel_futures() {
        let executor = ThreadPoolExecutor::new(5);
        let (release, gate) = crossbeam_channel::unbounded::<()>();
        let fs: Vec<_> = (0..50)
            .map(|_| {
                let gate = gate.clone();
                executor
                    .spawn(move || {
                        let _ = gate.recv();
                    })
                    .unwrap()
            })
            .collect();
        // At most five tasks are running; the rest wait in the queue.
        let shutdown = std::thread::scope(|scope| {
            let shutdown = scope.spawn(|| executor.shutdown(true, true));
            // Let the running ones finish once shutdown has cancelled the rest.
            while fs.iter().filter(|f| f.cancelled()).count() < 45 {
                std::thread::yield_now();
            }
            drop(release);
            shutdown.join()
        });
        shutdown.unwrap();
        let cancelled = fs.iter().filter(|f| f.cancelled()).count();
        assert!(cancelled >= 45, "{cancelled} cancelled");
        let others: Vec<_> = fs.iter().filter(|f| !f.cancelled()).collect();
        assert!(!others.is_empty());
        for f in others {
            assert!(f.done());
            assert_eq!(f.exception(), None);
        }
    }

    #[test]
    fn test_hang_gh94440() {
        // shutdown(wait=true) does not hang when a task was submitted and
        // cancelled right before it.
        let executor = ThreadPoolExecutor::new(1);
        executor.spawn(|| 0).unwrap().result().unwrap();
        executor.spawn(|| 0).unwrap().cancel();
        executor.shutdown(true, false);
    }

    #[test]
    fn test_threads_terminate() {
        let executor = ThreadPoolExecutor::new(5);
        let (release, gate) = crossbeam_channel::unbounded::<()>();
        for _ in 0..3 {
            let gate = gate.clone();
            executor.spawn(move || gate.recv().unwrap()).unwrap();
        }
        assert_eq!(executor.thread_count(), 3);
        for _ in 0..3 {
            release.send(()).unwrap();
        }
        executor.shutdown(true, false);
        assert_eq!(executor.thread_count(), 0, "every worker was joined");
    }

    #[test]
    fn test_context_manager_shutdown() {
        let results: Vec<i32> = {
            let e = ThreadPoolExecutor::new(5);
            Executor::map(&e, i32::abs, (-5..5).map(|n| (n,)))
                .collect::<Result<_, _>>()
                .unwrap()
            // `e` is dropped here: shutdown(wait=true), like leaving `with`.
        };
        assert_eq!(results, [5, 4, 3, 2, 1, 0, 1, 2, 3, 4]);
    }

    #[test]
    fn test_del_shutdown() {
        let executor = ThreadPoolExecutor::new(5);
        let res = executor.map(i32::abs, (-5..5).map(|v| (v,)));
        drop(executor); // `del executor`: waits for the tasks already submitted
        // Make sure the results were all computed before the executor got
        // shut down.
        assert!(res.zip(-5..5i32).all(|(r, v)| r == Ok(v.abs())));
    }

    #[test]
    fn test_shutdown_no_wait() {
        let executor = ThreadPoolExecutor::new(5);
        let res = executor.map(i32::abs, (-5..5).map(|v| (v,)));
        executor.shutdown(false, false);
        // Make sure the results were all computed before the executor got
        // shut down.
        assert!(res.zip(-5..5i32).all(|(r, v)| r == Ok(v.abs())));
    }

    #[test]
    fn test_thread_names_assigned() {
        let executor = ThreadPoolExecutor::with_name(5, "SpecialPool");
        let name = executor
            .spawn(|| std::thread::current().name().map(str::to_owned))
            .unwrap()
            .result()
            .unwrap()
            .unwrap();
        assert!(
            name.starts_with("SpecialPool-")
                && name["SpecialPool-".len()..].parse::<usize>().unwrap() < 5,
            "{name}"
        );
    }

    #[test]
    fn test_thread_names_default() {
        let executor = ThreadPoolExecutor::new(5);
        let name = executor
            .spawn(|| std::thread::current().name().map(str::to_owned))
            .unwrap()
            .result()
            .unwrap()
            .unwrap();
        assert!(name.starts_with("worker-"), "{name}");
    }
}

mod thread_pool_initializer_tests {
    //! `test_init.py`: `InitializerMixin` and `FailingInitializerMixin`
    //! with the thread pool (`BrokenThreadPool` is [`TaskError::Broken`]).
    //! Python's status is a global that each worker thread's initializer
    //! sets; here it is per thread, which also shows that every thread
    //! that ran a task ran the initializer first.
    use std::cell::RefCell;

    use concurrent::ThreadPoolExecutor;

    use super::*;

    thread_local! {
        static INITIALIZER_STATUS: RefCell<&'static str> = const { RefCell::new("uninitialized") };
    }

    fn init(x: &'static str) {
        INITIALIZER_STATUS.with(|status| *status.borrow_mut() = x);
    }

    fn get_init_status() -> &'static str {
        INITIALIZER_STATUS.with(|status| *status.borrow())
    }

    fn init_fail() {
        panic!("error in initializer");
    }

    #[test]
    fn test_initializer() {
        let worker_count = 5;
        let executor = ThreadPoolExecutor::builder()
            .max_workers(worker_count)
            .initializer(init, ("initialized",))
            .build();
        let futures: Vec<_> = (0..worker_count)
            .map(|_| executor.spawn(get_init_status).unwrap())
            .collect();
        for f in futures {
            assert_eq!(f.result(), Ok("initialized"));
        }
    }

    #[test]
    fn test_failing_initializer() {
        let executor = ThreadPoolExecutor::builder()
            .max_workers(2)
            .initializer(init_fail, ())
            .build();
        match executor.spawn(get_init_status) {
            // Perhaps the executor is already broken.
            Err(TaskError::Broken(_)) => {}
            Ok(future) => assert!(matches!(future.result(), Err(TaskError::Broken(_)))),
            Err(other) => panic!("{other:?}"),
        }
        // At some point, the executor should break...
        let started = std::time::Instant::now();
        while executor.broken().is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "executor not broken"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(
            executor.broken().as_deref(),
            Some("A thread initializer failed, the thread pool is not usable anymore")
        );
        // ... and from this point submit() is guaranteed to fail.
        assert!(matches!(
            executor.spawn(get_init_status),
            Err(TaskError::Broken(_))
        ));
    }
}
