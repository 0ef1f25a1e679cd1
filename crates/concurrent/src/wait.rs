//! Waiting on many handles at once: [`as_completed`] and [`wait`]
//! (Python's module-level functions of the same names).
//!
//! Both register one `Waiter` with every handle still running; each
//! handle, as it finishes, pushes its index to the waiter. No polling, and
//! no thread per handle.

use std::borrow::Borrow;
use std::collections::{HashSet, VecDeque};
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::TaskError;
use crate::handle::{TaskHandle, Waiter};

/// Yields each handle as its task finishes, in the order they finish
/// (Python's `as_completed`). Handles already done come first.
///
/// `handles` may be owned handles or references (`&TaskHandle<T>`, for
/// example the keys of a map from handle to exchange name); duplicates
/// are yielded once. With a `timeout`, counted from this call, the item
/// after the deadline is `Err(TaskError::TimedOut)` and the iteration ends.
///
/// # Examples
///
/// The lesson's dict of futures:
///
/// ```
/// use std::collections::HashMap;
/// use concurrent::{ThreadPoolExecutor, as_completed};
///
/// fn check_price(exchange: &str) -> usize {
///     exchange.len()
/// }
///
/// let ex = ThreadPoolExecutor::new(10);
/// let mut futures = HashMap::new();
/// for exchange in ["bitfinex", "bitstamp", "kraken"] {
///     futures.insert(ex.submit(check_price, (exchange,))?, exchange);
/// }
/// for handle in as_completed(futures.keys(), None) {
///     let handle = handle?;
///     let exchange = futures[handle];
///     println!("{exchange}: {}", handle.result()?);
/// }
/// # Ok::<(), concurrent::TaskError>(())
/// ```
pub fn as_completed<T, H>(
    handles: impl IntoIterator<Item = H>,
    timeout: Option<Duration>,
) -> AsCompleted<T, H>
where
    H: Borrow<TaskHandle<T>>,
{
    let handles = dedup(handles);
    let waiter = Arc::new(Waiter::default());
    let mut ready = VecDeque::new();
    for (index, handle) in handles.iter().enumerate() {
        if !handle.borrow().add_waiter(&waiter, index) {
            ready.push_back(index);
        }
    }
    let remaining = handles.len();
    AsCompleted {
        handles: handles.into_iter().map(Some).collect(),
        waiter,
        ready,
        remaining,
        deadline: timeout.and_then(crate::deadline_after),
        _result: PhantomData,
    }
}

/// The iterator of [`as_completed`].
pub struct AsCompleted<T, H: Borrow<TaskHandle<T>>> {
    /// Every handle, until it is yielded.
    handles: Vec<Option<H>>,
    waiter: Arc<Waiter>,
    /// Indices of finished handles not yet yielded.
    ready: VecDeque<usize>,
    /// Handles not yet yielded.
    remaining: usize,
    deadline: Option<Instant>,
    _result: PhantomData<fn() -> T>,
}

impl<T, H: Borrow<TaskHandle<T>>> Iterator for AsCompleted<T, H> {
    type Item = Result<H, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        if self.ready.is_empty() {
            let arrived = self.waiter.take(self.deadline);
            if arrived.is_empty() {
                // Python raises TimeoutError out of the loop: nothing after.
                let unfinished = self.remaining;
                self.remaining = 0;
                self.unregister();
                return Some(Err(TaskError::Unfinished {
                    unfinished,
                    total: self.handles.len(),
                }));
            }
            self.ready.extend(arrived);
        }
        let index = self.ready.pop_front()?;
        self.remaining -= 1;
        self.handles[index].take().map(Ok)
    }
}

impl<T, H: Borrow<TaskHandle<T>>> AsCompleted<T, H> {
    fn unregister(&mut self) {
        for handle in self.handles.iter().flatten() {
            handle.borrow().remove_waiter(&self.waiter);
        }
    }
}

impl<T, H: Borrow<TaskHandle<T>>> Drop for AsCompleted<T, H> {
    fn drop(&mut self) {
        // Handles outlive this iterator: leave no waiter behind in them.
        self.unregister();
    }
}

/// When [`wait`] returns (Python's `FIRST_COMPLETED`, `FIRST_EXCEPTION`,
/// `ALL_COMPLETED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnWhen {
    /// As soon as any task is done (or cancelled).
    FirstCompleted,
    /// As soon as any task fails (panics or breaks; cancelling is not
    /// failing), or when all are done if none fails.
    FirstException,
    /// When every task is done.
    AllCompleted,
}

/// Waits for tasks, then splits them into `(done, not_done)` (Python's
/// `wait`). Returns early at the `timeout` with whatever is done by then.
///
/// # Examples
///
/// ```
/// use concurrent::{ReturnWhen, ThreadPoolExecutor, wait};
///
/// let ex = ThreadPoolExecutor::new(2);
/// let handles = vec![ex.spawn(|| 1)?, ex.spawn(|| 2)?];
/// let (done, not_done) = wait(handles, None, ReturnWhen::AllCompleted);
/// assert_eq!((done.len(), not_done.len()), (2, 0));
/// # Ok::<(), concurrent::TaskError>(())
/// ```
pub fn wait<T, H>(
    handles: impl IntoIterator<Item = H>,
    timeout: Option<Duration>,
    return_when: ReturnWhen,
) -> (Vec<H>, Vec<H>)
where
    H: Borrow<TaskHandle<T>>,
{
    let handles = dedup(handles);
    let deadline = timeout.and_then(crate::deadline_after);
    let waiter = Arc::new(Waiter::default());
    let mut is_done = vec![false; handles.len()];
    for (index, handle) in handles.iter().enumerate() {
        is_done[index] = !handle.borrow().add_waiter(&waiter, index);
    }
    // As CPython: whatever `return_when` says, every handle done (which
    // includes none at all) ends the wait.
    let satisfied = |is_done: &[bool]| {
        let all = is_done.iter().all(|&done| done);
        match return_when {
            ReturnWhen::AllCompleted => all,
            ReturnWhen::FirstCompleted => all || is_done.iter().any(|&done| done),
            ReturnWhen::FirstException => {
                all || handles
                    .iter()
                    .zip(is_done)
                    .any(|(handle, &done)| done && handle.borrow().failed())
            }
        }
    };
    while !satisfied(&is_done) {
        let arrived = waiter.take(deadline);
        if arrived.is_empty() {
            break; // the deadline passed
        }
        for index in arrived {
            is_done[index] = true;
        }
    }
    for handle in &handles {
        handle.borrow().remove_waiter(&waiter);
    }
    // A task may have finished after its last signal was read: report what
    // is true now, not what was seen.
    handles
        .into_iter()
        .partition(|handle| handle.borrow().done())
}

/// The handles without repeats (by identity), in first-seen order, as
/// Python's `set(fs)` but keeping the order.
fn dedup<T, H: Borrow<TaskHandle<T>>>(handles: impl IntoIterator<Item = H>) -> Vec<H> {
    let mut seen = HashSet::new();
    handles
        .into_iter()
        .filter(|handle| seen.insert(handle.borrow().identity()))
        .collect()
}
