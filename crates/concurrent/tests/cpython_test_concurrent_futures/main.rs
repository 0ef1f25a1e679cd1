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
mod states;

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

mod future_tests;

mod thread_pool_executor_test;

mod thread_pool_wait_tests;

mod thread_pool_as_completed_tests;

mod thread_pool_shutdown_test;

mod thread_pool_initializer_tests;
