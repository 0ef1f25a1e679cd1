//! [`TaskHandle`]: a task that was submitted, and later its result
//! (Python's `concurrent.futures.Future`).
//!
//! A handle and the worker running its task share one small state behind a
//! mutex: the task's phase, its outcome once there is one, whoever must
//! hear of the outcome (threads blocked in `result`, `as_completed` and
//! `wait` iterators, async tasks, done-callbacks), and, for a task queued
//! in a thread pool, the work itself, so that a worker starts a task
//! (takes the work, marks it running) under one lock.
//!
//! The outcome stays in that state for every handle on the task to read:
//! nothing one handle does (awaiting it, `into_result`) changes what
//! another reads. `into_result`, the one way to move a value that is not
//! `Clone` out, takes it only once no other handle is left to read it.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::error::TaskError;

/// A task that was submitted to an executor, and later its result.
///
/// It is returned at once by `submit`; the task runs on a worker meanwhile.
/// [`result`](TaskHandle::result) waits for the outcome.
///
/// Handles compare and hash by identity, so they can be the keys of a map,
/// as in the lesson's `{ex.submit(...): exchange for exchange in EXCHANGES}`.
/// (Clippy's `mutable_key_type` lint cannot tell that the hash ignores the
/// task's changing state; it is safe to allow it there.)
/// A handle is also a [`std::future::Future`], so async code can `.await`
/// it.
///
/// # Examples
///
/// ```
/// use concurrent::ThreadPoolExecutor;
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// let ex = ThreadPoolExecutor::new(2);
/// let handle = ex.submit(square, (7,))?;
/// assert_eq!(handle.result()?, 49);
/// assert!(handle.done());
/// # Ok::<(), concurrent::TaskError>(())
/// ```
pub struct TaskHandle<T> {
    shared: Arc<Shared<T>>,
    /// Whether this handle is counted in `Shared::handles`. A worker's
    /// handle stops counting once the outcome is settled (it reads nothing
    /// after that), so `into_result` need not wait for it to be dropped.
    counted: bool,
}

/// The state shared by a handle and the worker that runs its task, and,
/// in a thread pool, the task itself ([`QueuedTask`]): one allocation per
/// submit, not one for the state and one for the task. In a handle, the
/// task's type is erased (`Work` is unsized): a handle reads only the
/// state.
pub(crate) struct Shared<T, Work: ?Sized = dyn Send> {
    /// Signalled when the task reaches a final phase, when it is settled,
    /// and when a handle goes while `into_result` waits for that.
    finished: Condvar,
    /// How many counted handles exist on the task.
    handles: AtomicUsize,
    /// An `into_result` is waiting for the other handles to go.
    taker_waiting: AtomicBool,
    /// Last, as it holds the work, whose type a handle erases.
    state: Mutex<State<T, Work>>,
}

impl<T, Work> Shared<T, Work> {
    /// A pending task's state with `handles` counted handles on it.
    fn pending(handles: usize, work: Work) -> Shared<T, Work> {
        Shared {
            finished: Condvar::new(),
            handles: AtomicUsize::new(handles),
            taker_waiting: AtomicBool::new(false),
            state: Mutex::new(State::pending(work)),
        }
    }
}

/// A task in a thread pool's queue: its state, with the work beside it
/// until a worker takes it out to run it (or a shutdown, to cancel it).
pub(crate) type QueuedTask<T, F> = Shared<T, Option<F>>;

impl<T, F> QueuedTask<T, F>
where
    T: 'static,
    F: Send + 'static,
{
    /// A pending handle and its queued task, in one allocation. The queued
    /// task counts as the worker's handle from the start.
    pub(crate) fn new(work: F) -> (TaskHandle<T>, Arc<QueuedTask<T, F>>) {
        let task = Arc::new(Shared::pending(2, Some(work)));
        let handle = TaskHandle {
            shared: Arc::clone(&task) as Arc<Shared<T>>,
            counted: true,
        };
        (handle, task)
    }

    /// Starts the task, for the worker that took it from the queue: takes
    /// the work out and marks the task running, in one lock (Python's
    /// `set_running_or_notify_cancel` and the work item's `fn`). `None` if
    /// the task was cancelled meanwhile: its work is dropped then.
    pub(crate) fn start(self: Arc<Self>) -> Option<(TaskHandle<T>, F)> {
        let mut state = self.state.lock();
        let work = state.work.take();
        let pending = state.phase == Phase::Pending;
        if pending {
            state.phase = Phase::Running;
        }
        drop(state);
        let handle = TaskHandle {
            shared: self as Arc<Shared<T>>,
            counted: true,
        };
        match work {
            Some(work) if pending => Some((handle, work)),
            cancelled => {
                // Dropping a cancelled task's closure drops what it
                // captured; a destructor that panics must not take the
                // worker with it.
                let _ = catch_unwind(AssertUnwindSafe(move || drop(cancelled)));
                None
            }
        }
    }

    /// Cancels the task without running it (a pool shut down with
    /// `cancel_futures`): its work is dropped, and its handle reports
    /// [`TaskError::Cancelled`].
    pub(crate) fn cancel_queued(self: Arc<Self>) {
        let work = self.state.lock().work.take();
        let handle = TaskHandle {
            shared: self as Arc<Shared<T>>,
            counted: true,
        };
        handle.cancel();
        // Dropped here, not under the lock: the destructor may be anything.
        drop(work);
    }
}

type Callback<T> = Box<dyn FnOnce(&TaskHandle<T>) + Send>;

/// The callbacks, multi-handle waiters (`wait`, `as_completed`) and async
/// wakers of a task.
struct Listeners<T> {
    callbacks: Vec<Callback<T>>,
    waiters: Vec<(Arc<Waiter>, usize)>,
    wakers: Vec<Waker>,
}

impl<T> Default for Listeners<T> {
    fn default() -> Listeners<T> {
        Listeners {
            callbacks: Vec::new(),
            waiters: Vec::new(),
            wakers: Vec::new(),
        }
    }
}

struct State<T, Work: ?Sized = dyn Send> {
    phase: Phase,
    /// The outcome, from the moment the phase is final until the last
    /// handle takes it (`into_result`).
    outcome: Option<Result<T, TaskError>>,
    /// Whether the task failed (panicked or broke), for
    /// `wait(FirstException)` without reading the outcome.
    failed: bool,
    /// The phase is final and every done-callback has run.
    settled: bool,
    /// Who else waits to hear of the end: out of line, as most tasks have
    /// nobody but the condition variable's waiters, so that a task's state
    /// stays small (every task allocates one; kept small, a batch of them
    /// freed is reused by the allocator instead of handed back to the
    /// kernel and faulted in again by the next batch).
    listeners: Option<Box<Listeners<T>>>,
    /// The work of a queued task, until a worker or a shutdown takes it;
    /// `()` for a handle made without one.
    work: Work,
}

impl<T, Work: ?Sized> State<T, Work> {
    /// The listeners, made on first use.
    fn listeners(&mut self) -> &mut Listeners<T> {
        self.listeners.get_or_insert_with(Box::default)
    }
}

impl<T, Work> State<T, Work> {
    fn pending(work: Work) -> State<T, Work> {
        State {
            phase: Phase::Pending,
            outcome: None,
            failed: false,
            settled: false,
            listeners: None,
            work,
        }
    }
}

impl<T, Work: ?Sized> State<T, Work> {
    fn is_final(&self) -> bool {
        matches!(self.phase, Phase::Finished | Phase::Cancelled)
    }

    /// Records the task's outcome: it is finished.
    fn finish(&mut self, outcome: Result<T, TaskError>) {
        self.phase = Phase::Finished;
        self.failed = outcome.is_err();
        self.outcome = Some(outcome);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Pending,
    Running,
    Finished,
    Cancelled,
}

/// A thread waiting for any of several handles (`as_completed`, `wait`):
/// each finishing handle pushes its index and signals.
#[derive(Default)]
pub(crate) struct Waiter {
    finished: Mutex<Vec<usize>>,
    signal: Condvar,
}

impl Waiter {
    /// Waits until at least one index arrives or `deadline` passes, then
    /// takes every index that arrived.
    pub(crate) fn take(&self, deadline: Option<Instant>) -> Vec<usize> {
        let mut finished = self.finished.lock();
        while finished.is_empty() {
            match deadline {
                Some(deadline) => {
                    if self.signal.wait_until(&mut finished, deadline).timed_out() {
                        break;
                    }
                }
                None => self.signal.wait(&mut finished),
            }
        }
        std::mem::take(&mut *finished)
    }

    fn notify(&self, index: usize) {
        self.finished.lock().push(index);
        self.signal.notify_all();
    }
}

impl<T> TaskHandle<T> {
    /// A pending handle attached to no executor, for code that runs the
    /// task itself and reports with [`set_result`](TaskHandle::set_result)
    /// (Python's `Future()`, "for use by executor implementations and unit
    /// tests").
    ///
    /// # Examples
    ///
    /// ```
    /// let handle = concurrent::TaskHandle::pending();
    /// assert_eq!(handle.set_running_or_notify_cancel(), Ok(true));
    /// let worker_side = handle.clone_for_worker();
    /// std::thread::spawn(move || worker_side.set_result(42).unwrap());
    /// assert_eq!(handle.result(), Ok(42));
    /// ```
    pub fn pending() -> TaskHandle<T> {
        TaskHandle::new_pending()
    }

    /// A second handle on the same task, for whoever will report its
    /// outcome. (Handles are not `Clone`: one owner waits, one reports.)
    pub fn clone_for_worker(&self) -> TaskHandle<T> {
        self.worker_side()
    }

    pub(crate) fn new_pending() -> TaskHandle<T> {
        TaskHandle {
            shared: Arc::new(Shared::pending(1, ())),
            counted: true,
        }
    }

    /// A second handle on the same task, for the worker side.
    pub(crate) fn worker_side(&self) -> TaskHandle<T> {
        self.shared.handles.fetch_add(1, Ordering::SeqCst);
        TaskHandle {
            shared: Arc::clone(&self.shared),
            counted: true,
        }
    }

    /// Whether the task finished, failed or was cancelled (Python's
    /// `done()`). Never blocks.
    pub fn done(&self) -> bool {
        self.shared.state.lock().is_final()
    }

    /// Whether the task is running right now (Python's `running()`).
    pub fn running(&self) -> bool {
        self.shared.state.lock().phase == Phase::Running
    }

    /// Whether the task was cancelled (Python's `cancelled()`).
    pub fn cancelled(&self) -> bool {
        self.shared.state.lock().phase == Phase::Cancelled
    }

    /// Cancels the task if it has not started: it will then never run, and
    /// its result is [`TaskError::Cancelled`]. Returns `false` when the
    /// task is running or finished (a running task is never interrupted),
    /// `true` when it is, or already was, cancelled. As Python's `cancel()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent::{TaskError, ThreadPoolExecutor};
    ///
    /// let ex = ThreadPoolExecutor::new(1);
    /// let (tx, rx) = std::sync::mpsc::channel::<()>();
    /// let busy = ex.spawn(move || rx.recv().unwrap())?; // holds the only worker
    /// let waiting = ex.spawn(|| "never runs")?;
    /// assert!(waiting.cancel());
    /// assert_eq!(waiting.result(), Err(TaskError::Cancelled));
    /// tx.send(()).unwrap();
    /// busy.result()?;
    /// assert!(!busy.cancel()); // finished: too late
    /// # Ok::<(), TaskError>(())
    /// ```
    pub fn cancel(&self) -> bool {
        let mut state = self.shared.state.lock();
        match state.phase {
            Phase::Cancelled => true,
            Phase::Running | Phase::Finished => false,
            Phase::Pending => {
                state.phase = Phase::Cancelled;
                state.outcome = Some(Err(TaskError::Cancelled));
                self.shared.announce(state, self, || {});
                true
            }
        }
    }

    /// Waits for the task and gives its result, or why there is none.
    /// Can be called again (Python's `result()`); for results that are
    /// not `Clone`, see [`into_result`](TaskHandle::into_result).
    ///
    /// # Errors
    ///
    /// [`TaskError::Panicked`] with the panic's message,
    /// [`TaskError::Cancelled`], or [`TaskError::Broken`].
    pub fn result(&self) -> Result<T, TaskError>
    where
        T: Clone,
    {
        self.wait_for_outcome(None, clone_outcome)
    }

    /// [`result`](TaskHandle::result), but waits at most `timeout`
    /// (Python's `result(timeout)`). The task goes on after a timeout.
    ///
    /// # Errors
    ///
    /// [`TaskError::TimedOut`] when the task did not finish in time; the
    /// errors of [`result`](TaskHandle::result) otherwise.
    pub fn result_timeout(&self, timeout: Duration) -> Result<T, TaskError>
    where
        T: Clone,
    {
        self.wait_for_outcome(crate::deadline_after(timeout), clone_outcome)
    }

    /// Waits for the task and gives its result, consuming the handle: for
    /// results that are not `Clone`. The value moves out only once no other
    /// handle on the task is left to read it: a worker's handle goes as the
    /// task ends, but one made with
    /// [`clone_for_worker`](TaskHandle::clone_for_worker) must be dropped
    /// by its owner, or this waits for it.
    ///
    /// For the same reason it waits for the done-callbacks, where CPython's
    /// `result()` returns as soon as the value is set and the callbacks run
    /// after: a callback is handed the task's handle and may read the
    /// outcome through it ([`result`](TaskHandle::result),
    /// [`exception`](TaskHandle::exception)). Python shares the value
    /// between the two; Rust can only move it, so moving it out first would
    /// take it from under the callback. [`result`](TaskHandle::result),
    /// the `_timeout` variants and `.await` do not wait for callbacks.
    ///
    /// # Errors
    ///
    /// As [`result`](TaskHandle::result).
    pub fn into_result(mut self) -> Result<T, TaskError> {
        let shared = &*self.shared;
        let mut state = shared.state.lock();
        let last = |state: &State<T>| state.settled && shared.handles.load(Ordering::SeqCst) == 1;
        // Usually the task is settled and its worker's handle gone by now;
        // otherwise, announce the wait before reading the count again: a
        // handle dropped in between then sees the flag and wakes us (see
        // `Drop`).
        if !last(&state) {
            loop {
                shared.taker_waiting.store(true, Ordering::SeqCst);
                if last(&state) {
                    break;
                }
                shared.finished.wait(&mut state);
            }
            shared.taker_waiting.store(false, Ordering::SeqCst);
        }
        let outcome = state
            .outcome
            .take()
            .expect("the last handle takes the outcome once");
        drop(state);
        // The last handle: nobody is left to hear that it goes.
        self.counted = false;
        outcome
    }

    /// Waits for the task and gives the error it ended with, if any
    /// (Python's `exception()`): `None` when it succeeded.
    pub fn exception(&self) -> Option<TaskError> {
        self.wait_for_outcome(None, |outcome| match outcome {
            Some(Err(error)) => Some(error.clone()),
            _ => None,
        })
    }

    /// [`exception`](TaskHandle::exception), waiting at most `timeout`
    /// (Python's `exception(timeout)`): `Some(TaskError::TimedOut)` when
    /// the task did not finish in time (it goes on).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use concurrent::{TaskError, TaskHandle};
    ///
    /// let handle = TaskHandle::<u8>::pending();
    /// assert_eq!(handle.exception_timeout(Duration::ZERO), Some(TaskError::TimedOut));
    /// ```
    pub fn exception_timeout(&self, timeout: Duration) -> Option<TaskError> {
        self.wait_for_outcome(crate::deadline_after(timeout), |outcome| match outcome {
            Some(Err(error)) => Some(error.clone()),
            _ => None,
        })
    }

    /// Waits until the task is in a final phase (or `deadline` passes),
    /// then applies `read` to the outcome slot.
    fn wait_for_outcome<R>(
        &self,
        deadline: Option<Instant>,
        read: impl FnOnce(&mut Option<Result<T, TaskError>>) -> R,
    ) -> R
    where
        R: From<TimedOut>,
    {
        let mut state = self.shared.state.lock();
        while !state.is_final() {
            match deadline {
                Some(deadline) => {
                    if self
                        .shared
                        .finished
                        .wait_until(&mut state, deadline)
                        .timed_out()
                        && !state.is_final()
                    {
                        return R::from(TimedOut);
                    }
                }
                None => self.shared.finished.wait(&mut state),
            }
        }
        read(&mut state.outcome)
    }

    /// Waits until the task is done or `timeout` passes; `true` if done.
    pub(crate) fn wait_done(&self, timeout: Duration) -> bool {
        let Some(deadline) = crate::deadline_after(timeout) else {
            let _: Option<TaskError> = self.wait_for_outcome(None, |_| None);
            return true;
        };
        let mut state = self.shared.state.lock();
        while !state.is_final() {
            if self
                .shared
                .finished
                .wait_until(&mut state, deadline)
                .timed_out()
            {
                return state.is_final();
            }
        }
        true
    }

    /// Runs `callback` with this handle once the task is done, on the
    /// thread that finishes it; at once, on this thread, if it is already
    /// done (Python's `add_done_callback`). A panicking callback is caught
    /// and does not disturb the executor.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent::ThreadPoolExecutor;
    ///
    /// let ex = ThreadPoolExecutor::new(1);
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// let handle = ex.spawn(|| 6 * 7)?;
    /// handle.add_done_callback(move |done| tx.send(done.result()).unwrap());
    /// assert_eq!(rx.recv().unwrap(), Ok(42));
    /// # Ok::<(), concurrent::TaskError>(())
    /// ```
    pub fn add_done_callback(&self, callback: impl FnOnce(&TaskHandle<T>) + Send + 'static) {
        let mut state = self.shared.state.lock();
        if state.is_final() {
            // Release the lock first: the callback may well look at this
            // handle (done(), result()), which takes the lock again.
            drop(state);
            run_callback(Box::new(callback), self);
        } else {
            state.listeners().callbacks.push(Box::new(callback));
        }
    }

    /// Marks the task running unless it was cancelled (Python's
    /// `set_running_or_notify_cancel`): `Ok(true)`, run it; `Ok(false)`, it
    /// was cancelled, do not. After `Ok(true)`, [`cancel`](TaskHandle::cancel)
    /// can no longer stop it.
    ///
    /// # Errors
    ///
    /// [`UnexpectedState`] when the task is already running or finished
    /// (CPython raises `RuntimeError('Future in unexpected state')`).
    ///
    /// # Examples
    ///
    /// ```
    /// let handle = concurrent::TaskHandle::<u8>::pending();
    /// assert_eq!(handle.set_running_or_notify_cancel(), Ok(true));
    /// assert!(handle.set_running_or_notify_cancel().is_err());
    /// ```
    pub fn set_running_or_notify_cancel(&self) -> Result<bool, UnexpectedState> {
        let mut state = self.shared.state.lock();
        match state.phase {
            Phase::Pending => {
                state.phase = Phase::Running;
                Ok(true)
            }
            Phase::Cancelled => Ok(false),
            Phase::Running | Phase::Finished => Err(UnexpectedState),
        }
    }

    /// Runs `work` as this handle's task, which [`QueuedTask::start`]
    /// marked running: catches a panic into [`TaskError::Panicked`], so a
    /// failing task never kills its worker. `settled` runs once the
    /// outcome is in and every done-callback has run, before anyone
    /// waiting hears of it when there are no callbacks. The pool marks the
    /// worker idle there, as CPython's worker does after
    /// `work_item.run()`: a caller that submits again as soon as it has
    /// the result finds the worker counted free, and a callback that
    /// submits to the same pool and waits is not counted on a worker that
    /// is busy running it.
    pub(crate) fn run(mut self, work: impl FnOnce() -> T, settled: impl FnOnce()) {
        let outcome = catch_unwind(AssertUnwindSafe(work))
            .map_err(|panic| TaskError::Panicked(panic_message(&*panic)));
        let mut state = self.shared.state.lock();
        state.finish(outcome);
        // This handle reads nothing once settled: stop counting it then, so
        // an `into_result` woken by the outcome does not wait for its drop.
        self.shared.announce(state, &self, || {
            settled();
            self.shared.handles.fetch_sub(1, Ordering::SeqCst);
        });
        self.counted = false;
        drop_as_worker(self);
    }

    /// Reports the task's value (Python's `set_result`), waking everyone
    /// waiting and running the callbacks.
    ///
    /// # Errors
    ///
    /// Gives the value back if the task is already done or cancelled
    /// (Python's `InvalidStateError`).
    pub fn set_result(&self, value: T) -> Result<(), T> {
        match self.finish(Ok(value)) {
            Ok(()) => Ok(()),
            Err(Ok(value)) => Err(value),
            Err(Err(_)) => unreachable!("finish gives back what it was given"),
        }
    }

    /// Reports that the task failed (Python's `set_exception`).
    ///
    /// # Errors
    ///
    /// Gives the error back if the task is already done or cancelled.
    pub fn set_exception(&self, error: TaskError) -> Result<(), TaskError> {
        match self.finish(Err(error)) {
            Ok(()) => Ok(()),
            Err(Err(error)) => Err(error),
            Err(Ok(_)) => unreachable!("finish gives back what it was given"),
        }
    }

    /// Records the outcome of a task and tells everyone waiting; gives the
    /// outcome back if the task already had one.
    pub(crate) fn finish(&self, outcome: Result<T, TaskError>) -> Result<(), Result<T, TaskError>> {
        let mut state = self.shared.state.lock();
        if state.is_final() {
            return Err(outcome);
        }
        state.finish(outcome);
        self.shared.announce(state, self, || {});
        Ok(())
    }

    /// [`finish`](TaskHandle::finish) by the worker's own handle, which
    /// is done with the task once the outcome is in: it stops counting as
    /// it settles, as in [`run`](TaskHandle::run), so an `into_result`
    /// woken by the outcome takes it at once instead of waiting for this
    /// handle's drop (a second wake-up).
    pub(crate) fn finish_as_worker(mut self, outcome: Result<T, TaskError>) {
        let mut state = self.shared.state.lock();
        if state.is_final() {
            return;
        }
        state.finish(outcome);
        self.shared.announce(state, &self, || {
            self.shared.handles.fetch_sub(1, Ordering::SeqCst);
        });
        self.counted = false;
        drop_as_worker(self);
    }

    /// Registers a multi-handle waiter under `index`; `false` if the task
    /// is already done (then nothing was registered).
    pub(crate) fn add_waiter(&self, waiter: &Arc<Waiter>, index: usize) -> bool {
        let mut state = self.shared.state.lock();
        if state.is_final() {
            return false;
        }
        state.listeners().waiters.push((Arc::clone(waiter), index));
        true
    }

    pub(crate) fn remove_waiter(&self, waiter: &Arc<Waiter>) {
        if let Some(listeners) = self.shared.state.lock().listeners.as_mut() {
            listeners.waiters.retain(|(w, _)| !Arc::ptr_eq(w, waiter));
        }
    }

    /// What makes two handles the same: the task state they share.
    pub(crate) fn identity(&self) -> *const () {
        Arc::as_ptr(&self.shared).cast()
    }

    /// Whether the task ended by panicking or breaking (not cancelled).
    pub(crate) fn failed(&self) -> bool {
        self.shared.state.lock().failed
    }
}

impl<T> Shared<T> {
    /// Called with the lock held, right after the phase became final: wakes
    /// every kind of waiter, then runs the callbacks without the lock (as
    /// CPython: waiters first, then callbacks). `settled` runs, under the
    /// lock, once every callback has run: before anyone is woken when there
    /// are none.
    fn announce(
        &self,
        mut state: parking_lot::MutexGuard<'_, State<T>>,
        handle: &TaskHandle<T>,
        settled: impl FnOnce(),
    ) {
        let Listeners {
            callbacks,
            waiters,
            wakers,
        } = state
            .listeners
            .take()
            .map(|listeners| *listeners)
            .unwrap_or_default();
        let mut settled = Some(settled);
        if callbacks.is_empty() {
            state.settled = true;
            if let Some(settled) = settled.take() {
                settled();
            }
        }
        self.finished.notify_all();
        // Nobody else's code may run while we hold the lock: a callback or
        // a woken task that touched this handle would deadlock.
        drop(state);
        for (waiter, index) in waiters {
            waiter.notify(index);
        }
        for waker in wakers {
            waker.wake();
        }
        if let Some(settled) = settled {
            for callback in callbacks {
                run_callback(callback, handle);
            }
            let mut state = self.state.lock();
            state.settled = true;
            settled();
            self.finished.notify_all();
        }
    }
}

/// Drops the worker's handle, which may be the last, and then drops the
/// task's result with it (its caller dropped theirs).
fn drop_as_worker<T>(handle: TaskHandle<T>) {
    drop_quietly(handle);
}

/// Drops a task's value (its result, or a handle that holds it) where a
/// worker does. A value whose `Drop` panics must not take the worker
/// down, any more than an exception in `__del__` does in Python, which
/// reports it and carries on: the panic is reported on stderr and
/// forgotten.
#[doc(hidden)]
pub fn drop_quietly<V>(value: V) {
    if let Err(panic) = catch_unwind(AssertUnwindSafe(move || drop(value))) {
        eprintln!(
            "concurrent: dropping a task's result panicked (ignored, as Python ignores an exception in __del__): {}",
            panic_message(&*panic)
        );
    }
}

fn run_callback<T>(callback: Callback<T>, handle: &TaskHandle<T>) {
    // As in Python, a failing callback is reported and forgotten: it must
    // not take the worker (or the other callbacks) down with it.
    if let Err(panic) = catch_unwind(AssertUnwindSafe(|| callback(handle))) {
        eprintln!(
            "concurrent: a done-callback panicked: {}",
            panic_message(&*panic)
        );
    }
}

/// The text of a panic payload (`panic!("...")` gives a `&str` or a
/// `String`; anything else is named as such).
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

fn clone_outcome<T: Clone>(outcome: &mut Option<Result<T, TaskError>>) -> Result<T, TaskError> {
    outcome
        .clone()
        .expect("only the last handle takes the outcome, and it is gone with it")
}

/// `set_running_or_notify_cancel` on a task that is already running or
/// finished (CPython: `RuntimeError('Future in unexpected state')`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the task is in an unexpected state: already running or finished")]
pub struct UnexpectedState;

impl<T> Drop for TaskHandle<T> {
    fn drop(&mut self) {
        if !self.counted {
            return;
        }
        let shared = &*self.shared;
        let before = shared.handles.fetch_sub(1, Ordering::SeqCst);
        // One handle left, and it may be an `into_result` waiting for that.
        if before == 2 && shared.taker_waiting.load(Ordering::SeqCst) {
            let _state = shared.state.lock();
            shared.finished.notify_all();
        }
    }
}

/// Marker for "the deadline passed" inside `wait_for_outcome`.
struct TimedOut;

impl<T> From<TimedOut> for Result<T, TaskError> {
    fn from(_: TimedOut) -> Self {
        Err(TaskError::TimedOut)
    }
}

impl From<TimedOut> for Option<TaskError> {
    fn from(_: TimedOut) -> Self {
        Some(TaskError::TimedOut)
    }
}

impl<T: Clone> std::future::Future for TaskHandle<T> {
    type Output = Result<T, TaskError>;

    /// Resolves to the task's result, as [`result`](TaskHandle::result)
    /// gives it: awaiting reads the outcome and leaves it for every other
    /// reader (`exception()`, `result()`, other handles).
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.shared.state.lock();
        if state.is_final() {
            return Poll::Ready(clone_outcome(&mut state.outcome));
        }
        let wakers = &mut state.listeners().wakers;
        if !wakers.iter().any(|waker| waker.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl<T> PartialEq for TaskHandle<T> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl<T> Eq for TaskHandle<T> {}

impl<T> Hash for TaskHandle<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::ptr::hash(Arc::as_ptr(&self.shared), state);
    }
}

impl<T> fmt::Debug for TaskHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.state.lock();
        let phase = match state.phase {
            Phase::Pending => "pending",
            Phase::Running => "running",
            Phase::Finished if state.failed => "failed",
            Phase::Finished => "finished",
            Phase::Cancelled => "cancelled",
        };
        f.debug_struct("TaskHandle").field("state", &phase).finish()
    }
}
