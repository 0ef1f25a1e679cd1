//! Python's `concurrent.futures` and `queue`, done the Rust way.
//!
//! The lessons this project grew from teach one model: executors run tasks
//! and hand back futures; thread-safe queues connect producers and
//! consumers. This crate is that model in Rust, name for name, so a lesson
//! can be followed line by line, and with the compiler's help where Python
//! only has conventions. It knows nothing of HTTP or prices.
//!
//! # From Python to Rust
//!
//! | Python | Rust |
//! |---|---|
//! | `ThreadPoolExecutor(max_workers=10)` | [`ThreadPoolExecutor::new(10)`](ThreadPoolExecutor::new) |
//! | `ThreadPoolExecutor()` (`min(32, cpu_count + 4)` workers) | [`ThreadPoolExecutor::default()`](ThreadPoolExecutor::default) |
//! | `concurrent.futures.Executor` | the [`Executor`] trait (plus [`Shutdown`]) |
//! | `ex.submit(fn, a, b)` | [`ex.submit(fn, (a, b))`](Executor::submit), or [`ex.spawn(move \|\| fn(a, b))`](ThreadPoolExecutor::spawn) |
//! | `ex.map(fn, iterable)` | [`ex.map(fn, items)`](Executor::map), each item a tuple of arguments |
//! | `ex.map(fn, iterable, buffersize=n)` (3.14) | [`ex.map_buffered(fn, items, n)`](Executor::map_buffered) |
//! | `ex.shutdown(wait=True, cancel_futures=False)` | [`ex.shutdown(true, false)`](Shutdown::shutdown) |
//! | `with ThreadPoolExecutor() as ex:` | a scope: dropping the executor is `shutdown(wait=True)` |
//! | `Future` | [`TaskHandle<T>`] |
//! | `future.result()` / `result(timeout=t)` | [`result()`](TaskHandle::result) / [`result_timeout(t)`](TaskHandle::result_timeout) |
//! | `future.exception()` / `exception(timeout=t)` | [`exception()`](TaskHandle::exception) / [`exception_timeout(t)`](TaskHandle::exception_timeout) |
//! | `future.done()`, `running()`, `cancelled()`, `cancel()` | the same names |
//! | `future.add_done_callback(fn)` | [`add_done_callback(fn)`](TaskHandle::add_done_callback) |
//! | `await asyncio.wrap_future(future)` | `handle.await` ([`TaskHandle`] is a `std::future::Future`) |
//! | `concurrent.futures.as_completed(fs, timeout)` | [`as_completed(handles, timeout)`](as_completed()) |
//! | `concurrent.futures.wait(fs, timeout, return_when)` | [`wait(handles, timeout, ReturnWhen::…)`](wait()) |
//! | `FIRST_COMPLETED`, `FIRST_EXCEPTION`, `ALL_COMPLETED` | [`ReturnWhen`] |
//! | `CancelledError`, `TimeoutError`, a task's exception, `BrokenExecutor` | [`TaskError`] |
//! | `queue.Queue(maxsize)`, `LifoQueue`, `PriorityQueue` | [`Queue::new(maxsize)`](Queue::new), [`LifoQueue`], [`PriorityQueue`] |
//! | `q.put(x)`, `put(x, timeout=t)`, `put_nowait(x)` | [`put`](BaseQueue::put), [`put_timeout`](BaseQueue::put_timeout), [`put_nowait`](BaseQueue::put_nowait) |
//! | `q.get()`, `get(timeout=t)`, `get_nowait()` / `get(block=False)` | [`get`](BaseQueue::get), [`get_timeout`](BaseQueue::get_timeout), [`get_nowait`](BaseQueue::get_nowait) |
//! | `queue.Full`, `queue.Empty`, `queue.ShutDown` | variants of [`TryPutError`], [`TryGetError`], … (a failed put gives the item back) |
//! | `q.task_done()`, `q.join()` | [`task_done`](BaseQueue::task_done), [`join`](BaseQueue::join), [`join_timeout`](BaseQueue::join_timeout) |
//! | `q.qsize()`, `empty()`, `full()` | the same names |
//! | `q.shutdown(immediate=False)` (3.13) | [`shutdown(false)`](BaseQueue::shutdown) |
//! | `queue.SimpleQueue()` | [`SimpleQueue::new()`](SimpleQueue::new) |
//!
//! What changes, and why:
//!
//! - A task's panic is its error ([`TaskError::Panicked`], with the
//!   message); the worker thread survives it.
//! - `submit` after shutdown is an `Err`, not an exception to remember.
//! - `map` takes tuples, so several arguments are natural. As in Python
//!   it submits the whole input at once; 3.14's `buffersize=n` is
//!   [`map_buffered`](Executor::map_buffered), with `n` a `NonZeroUsize`.
//!   A failed task is that item's `Err`, and the iteration goes on.
//! - `max_workers` of 0 panics (CPython raises `ValueError`).
//! - `as_completed`'s timeout is [`TaskError::Unfinished`], with CPython's
//!   message ("2 (of 4) futures unfinished").
//! - A `put` that fails gives the item back; nothing is lost.
//! - A bounded FIFO [`Queue`] keeps its items in a lock-free ring the size
//!   of its bound (up to 65,536; above that, a list and a count), so
//!   [`set_maxsize`](BaseQueue::set_maxsize) can shrink it and grow it
//!   back, but not past that size or to unbounded ([`MaxsizeError`]);
//!   Python's `q.maxsize = n` takes any value. Items must be `Send`.
//! - `result()` and `.await` need `T: Clone`, since every reader gets its
//!   own copy where Python hands out one shared object; for values that
//!   are not `Clone`, [`into_result`](TaskHandle::into_result) moves the
//!   value out once no other handle on the task is left to read it.
//! - `set_running_or_notify_cancel` returns `Err(UnexpectedState)` where
//!   CPython raises `RuntimeError`.
//! - A timeout too large for an `Instant` (`Duration::MAX`) means no limit.
//! - A process pool can be given a deadline per task
//!   ([`ProcessPoolBuilder::task_deadline`]): a worker stuck (or stopped)
//!   past it is killed, which breaks the pool as any worker's death does.
//!   Python's pool waits for such a worker forever.
//!
//! # Layout
//!
//! Every item is at the crate root, as Python's `concurrent.futures` and
//! `queue` export theirs; the source is split by subject:
//!
//! - `executor` — the [`Executor`] and [`Shutdown`] traits, [`Call`] (a
//!   function applied to a tuple of arguments) and [`Map`].
//! - `thread_pool` — [`ThreadPoolExecutor`]; `job_queue` — the ring its
//!   workers take jobs from (why it is a ring allocated once is there).
//! - `process` — [`ProcessPoolExecutor`], [`remote_fn!`] and
//!   [`serve_if_worker`]: how worker processes start and find their tasks
//!   (`pool.rs` the surface, `manager.rs` a worker's thread, `children.rs`
//!   the processes, `protocol.rs` the frames, `worker.rs` the other side).
//! - `codec` — how values cross a process (or machine) boundary, exactly.
//! - `handle` — [`TaskHandle`], the future of one task.
//! - `wait` — [`as_completed`] and [`wait`](fn@wait).
//! - `queue` — [`Queue`], [`LifoQueue`], [`PriorityQueue`] (their methods
//!   are [`BaseQueue`]'s), [`SimpleQueue`].
//! - `error` — [`TaskError`] and the queue errors.
//!
//! # Examples
//!
//! The lesson's producer/consumer: a queue of work, a pool of workers that
//! drain it, a queue of results.
//!
//! ```
//! use concurrent::{Queue, SimpleQueue, ThreadPoolExecutor};
//!
//! let work_to_do = Queue::new(0);
//! let work_done = SimpleQueue::new();
//! for day in 1..=31 {
//!     work_to_do.put(day)?;
//! }
//! let ex = ThreadPoolExecutor::new(8);
//! for _ in 0..8 {
//!     let (tasks, results) = (work_to_do.clone(), work_done.clone());
//!     ex.spawn(move || {
//!         while let Ok(day) = tasks.get_nowait() {
//!             results.put(day * 100);
//!             tasks.task_done().unwrap();
//!         }
//!     })?;
//! }
//! work_to_do.join();
//! assert_eq!(work_done.qsize(), 31);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

// Every item has one public path: the crate root, as Python's
// `concurrent.futures` and `queue` export theirs.
pub mod codec;
mod error;
mod executor;
mod handle;
mod job_queue;
#[cfg(unix)]
mod process;
mod queue;
mod thread_pool;
mod wait;

pub use error::{
    GetError, GetTimeoutError, MaxsizeError, PutError, PutTimeoutError, TaskDoneError, TaskError,
    TryGetError, TryPutError,
};
pub use executor::{Call, Executor, Map, Shutdown};
pub use handle::{TaskHandle, UnexpectedState};
#[cfg(unix)]
pub use process::{
    ProcessPoolBuilder, ProcessPoolExecutor, RemoteTask, call_remote_fn, serve_if_worker,
};
pub use queue::{BaseQueue, Discipline, LifoQueue, PriorityQueue, Queue, SimpleQueue};
pub use thread_pool::{ThreadPoolBuilder, ThreadPoolExecutor};
pub use wait::{AsCompleted, ReturnWhen, as_completed, wait};

/// What the `remote_fn!` and `process_worker_entry!` macros need from this
/// crate, so that callers need not depend on inventory themselves. Not
/// for direct use.
#[cfg(unix)]
#[doc(hidden)]
pub mod __private {
    pub use crate::handle::drop_quietly;
    pub use crate::process::Registration;
    pub use inventory;
}

/// Takes one from a count of idle workers if there is one (CPython's
/// `_idle_semaphore.acquire(blocking=False)`): `true` means an idle worker
/// will pick the new work up, so no thread or process needs starting.
pub(crate) fn take_idle_worker(idle: &std::sync::atomic::AtomicUsize) -> bool {
    use std::sync::atomic::Ordering;
    idle.fetch_update(Ordering::AcqRel, Ordering::Acquire, |idle| {
        idle.checked_sub(1)
    })
    .is_ok()
}

/// The instant `timeout` from now, or `None` when that is past what an
/// `Instant` can hold: a huge timeout (`Duration::MAX`) means "no limit",
/// as in Python, where `timeout=1e300` simply waits.
pub(crate) fn deadline_after(timeout: std::time::Duration) -> Option<std::time::Instant> {
    std::time::Instant::now().checked_add(timeout)
}
