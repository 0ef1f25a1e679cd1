//! Thread-safe queues for producer/consumer (Python's `queue` module):
//! [`Queue`] (FIFO), [`LifoQueue`], [`PriorityQueue`], all bounded or not,
//! with `task_done`/`join` tracking and 3.13's `shutdown`; and
//! [`SimpleQueue`], unbounded and untracked.
//!
//! The three tracked queues share one type, `BaseQueue<T, D>`, whose `D` says in
//! which order items come out; everything else (blocking, bounds, task
//! tracking, shutdown) is shared. It is CPython's design: one mutex, and
//! three conditions on it (`not_empty`, `not_full`, `all_tasks_done`).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_utils::Backoff;
use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::error::{
    GetError, GetTimeoutError, PutError, PutTimeoutError, TaskDoneError, TryGetError, TryPutError,
};

/// The order in which a [`Queue`] hands items out.
pub trait Discipline<T> {
    /// Where the items wait.
    type Store: Default;
    /// Adds an item.
    fn push(store: &mut Self::Store, item: T);
    /// Takes the next item, if any.
    fn pop(store: &mut Self::Store) -> Option<T>;
    /// How many items wait.
    fn len(store: &Self::Store) -> usize;
}

/// First in, first out ([`Queue`]).
#[derive(Debug)]
pub enum Fifo {}

/// Last in, first out ([`LifoQueue`]).
#[derive(Debug)]
pub enum Lifo {}

/// Smallest first ([`PriorityQueue`]), as Python's `heapq` orders them.
#[derive(Debug)]
pub enum Priority {}

impl<T> Discipline<T> for Fifo {
    type Store = VecDeque<T>;
    fn push(store: &mut VecDeque<T>, item: T) {
        store.push_back(item);
    }
    fn pop(store: &mut VecDeque<T>) -> Option<T> {
        store.pop_front()
    }
    fn len(store: &VecDeque<T>) -> usize {
        store.len()
    }
}

impl<T> Discipline<T> for Lifo {
    type Store = Vec<T>;
    fn push(store: &mut Vec<T>, item: T) {
        store.push(item);
    }
    fn pop(store: &mut Vec<T>) -> Option<T> {
        store.pop()
    }
    fn len(store: &Vec<T>) -> usize {
        store.len()
    }
}

impl<T: Ord> Discipline<T> for Priority {
    // `BinaryHeap` is a max-heap; Python's PriorityQueue gives the smallest.
    type Store = BinaryHeap<Reverse<T>>;
    fn push(store: &mut BinaryHeap<Reverse<T>>, item: T) {
        store.push(Reverse(item));
    }
    fn pop(store: &mut BinaryHeap<Reverse<T>>) -> Option<T> {
        store.pop().map(|Reverse(item)| item)
    }
    fn len(store: &BinaryHeap<Reverse<T>>) -> usize {
        store.len()
    }
}

/// What [`Queue`], [`LifoQueue`] and [`PriorityQueue`] share: all their
/// methods, for any [`Discipline`] `D`. Not made directly; each queue type
/// dereferences to it.
pub struct BaseQueue<T, D: Discipline<T>> {
    shared: Arc<Shared<D::Store>>,
}

struct Shared<S> {
    state: Mutex<State<S>>,
    /// Signalled when an item arrives, or at shutdown: wakes getters.
    not_empty: Condvar,
    /// Signalled when an item leaves, or at shutdown: wakes putters.
    not_full: Condvar,
    /// Signalled when the count of unfinished tasks reaches zero.
    all_tasks_done: Condvar,
}

struct State<S> {
    items: S,
    maxsize: usize,
    /// Items put and not yet marked done with `task_done`.
    unfinished_tasks: usize,
    shutdown: bool,
}

impl<T, D: Discipline<T>> BaseQueue<T, D> {
    fn with_maxsize(maxsize: usize) -> BaseQueue<T, D> {
        BaseQueue {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    items: D::Store::default(),
                    maxsize,
                    unfinished_tasks: 0,
                    shutdown: false,
                }),
                not_empty: Condvar::new(),
                not_full: Condvar::new(),
                all_tasks_done: Condvar::new(),
            }),
        }
    }

    /// Puts an item, waiting while the queue is full (Python's `put`).
    ///
    /// # Errors
    ///
    /// [`PutError`] with the item if the queue is shut down.
    pub fn put(&self, item: T) -> Result<(), PutError<T>> {
        match self.put_until(item, None) {
            Ok(()) => Ok(()),
            Err(PutTimeoutError::ShutDown(item) | PutTimeoutError::Timeout(item)) => {
                Err(PutError(item))
            }
        }
    }

    /// Puts an item, waiting at most `timeout` for room (Python's
    /// `put(item, timeout=...)`).
    ///
    /// # Errors
    ///
    /// [`PutTimeoutError::Timeout`] if it stayed full,
    /// [`PutTimeoutError::ShutDown`] if it is shut down; either way with
    /// the item.
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutTimeoutError<T>> {
        self.put_until(item, crate::deadline_after(timeout))
    }

    /// Puts an item only if there is room now (Python's `put_nowait`).
    ///
    /// # Errors
    ///
    /// [`TryPutError::Full`] or [`TryPutError::ShutDown`], with the item.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent::{Queue, TryPutError};
    ///
    /// let q = Queue::new(1);
    /// q.put_nowait("A").unwrap();
    /// assert_eq!(q.put_nowait("B"), Err(TryPutError::Full("B")));
    /// ```
    pub fn put_nowait(&self, item: T) -> Result<(), TryPutError<T>> {
        let mut state = self.shared.state.lock();
        if state.shutdown {
            return Err(TryPutError::ShutDown(item));
        }
        if state.is_full::<T, D>() {
            return Err(TryPutError::Full(item));
        }
        self.push(&mut state, item);
        Ok(())
    }

    fn put_until(&self, item: T, deadline: Option<Instant>) -> Result<(), PutTimeoutError<T>> {
        let backoff = Backoff::new();
        let mut state = self.shared.state.lock();
        loop {
            if state.shutdown {
                return Err(PutTimeoutError::ShutDown(item));
            }
            if !state.is_full::<T, D>() {
                break;
            }
            if !wait(&self.shared.not_full, &mut state, deadline, &backoff)
                && state.is_full::<T, D>()
                && !state.shutdown
            {
                return Err(PutTimeoutError::Timeout(item));
            }
        }
        self.push(&mut state, item);
        Ok(())
    }

    fn push(&self, state: &mut State<D::Store>, item: T) {
        D::push(&mut state.items, item);
        state.unfinished_tasks += 1;
        // One item, one getter to wake.
        self.shared.not_empty.notify_one();
    }

    /// Takes an item, waiting while the queue is empty (Python's `get`).
    ///
    /// # Errors
    ///
    /// [`GetError`] once the queue is shut down and empty.
    pub fn get(&self) -> Result<T, GetError> {
        self.get_until(None).map_err(|_| GetError)
    }

    /// Takes an item, waiting at most `timeout` (Python's
    /// `get(timeout=...)`).
    ///
    /// # Errors
    ///
    /// [`GetTimeoutError::Timeout`] if nothing came,
    /// [`GetTimeoutError::ShutDown`] if shut down and empty.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, GetTimeoutError> {
        self.get_until(crate::deadline_after(timeout))
    }

    /// Takes an item only if one is there now (Python's `get_nowait`).
    ///
    /// # Errors
    ///
    /// [`TryGetError::Empty`], or [`TryGetError::ShutDown`] if shut down
    /// and empty.
    pub fn get_nowait(&self) -> Result<T, TryGetError> {
        let mut state = self.shared.state.lock();
        match self.pop(&mut state) {
            Some(item) => Ok(item),
            None if state.shutdown => Err(TryGetError::ShutDown),
            None => Err(TryGetError::Empty),
        }
    }

    fn get_until(&self, deadline: Option<Instant>) -> Result<T, GetTimeoutError> {
        let backoff = Backoff::new();
        let mut state = self.shared.state.lock();
        loop {
            if let Some(item) = self.pop(&mut state) {
                return Ok(item);
            }
            // Shut down and drained: nothing will ever come.
            if state.shutdown {
                return Err(GetTimeoutError::ShutDown);
            }
            if !wait(&self.shared.not_empty, &mut state, deadline, &backoff)
                && D::len(&state.items) == 0
                && !state.shutdown
            {
                return Err(GetTimeoutError::Timeout);
            }
        }
    }

    fn pop(&self, state: &mut State<D::Store>) -> Option<T> {
        let item = D::pop(&mut state.items)?;
        self.shared.not_full.notify_one();
        Some(item)
    }

    /// Marks one item taken with `get` as fully processed (Python's
    /// `task_done`); [`join`](BaseQueue::join) returns once every item put has
    /// been marked.
    ///
    /// # Errors
    ///
    /// [`TaskDoneError`] when called more times than items were put (the
    /// count is left at zero).
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        let mut state = self.shared.state.lock();
        match state.unfinished_tasks {
            0 => Err(TaskDoneError),
            1 => {
                state.unfinished_tasks = 0;
                self.shared.all_tasks_done.notify_all();
                Ok(())
            }
            _ => {
                state.unfinished_tasks -= 1;
                Ok(())
            }
        }
    }

    /// Waits until every item put has been marked with `task_done`
    /// (Python's `join`).
    pub fn join(&self) {
        let mut state = self.shared.state.lock();
        while state.unfinished_tasks > 0 {
            self.shared.all_tasks_done.wait(&mut state);
        }
    }

    /// [`join`](BaseQueue::join), waiting at most `timeout`; `true` if every
    /// item was done in time.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        let Some(deadline) = crate::deadline_after(timeout) else {
            self.join();
            return true;
        };
        let mut state = self.shared.state.lock();
        while state.unfinished_tasks > 0 {
            if self
                .shared
                .all_tasks_done
                .wait_until(&mut state, deadline)
                .timed_out()
            {
                return state.unfinished_tasks == 0;
            }
        }
        true
    }

    /// Shuts the queue down (Python 3.13's `shutdown`): every `put` from
    /// now on fails, and blocked putters wake with the error. Getters take
    /// what is left, then fail instead of waiting forever: the clean way
    /// to tell consumers there is no more work.
    ///
    /// With `immediate`, what is left is discarded too (and counted done,
    /// so `join` returns).
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent::{GetError, Queue};
    ///
    /// let q = Queue::new(0);
    /// q.put("last job")?;
    /// q.shutdown(false);
    /// assert_eq!(q.get(), Ok("last job"));
    /// assert_eq!(q.get(), Err(GetError));
    /// assert!(q.put("too late").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shutdown(&self, immediate: bool) {
        let mut state = self.shared.state.lock();
        state.shutdown = true;
        if immediate {
            while D::pop(&mut state.items).is_some() {
                state.unfinished_tasks = state.unfinished_tasks.saturating_sub(1);
            }
            self.shared.all_tasks_done.notify_all();
        }
        self.shared.not_empty.notify_all();
        self.shared.not_full.notify_all();
    }

    /// Whether [`shutdown`](BaseQueue::shutdown) was called.
    pub fn is_shutdown(&self) -> bool {
        self.shared.state.lock().shutdown
    }

    /// How many items wait in the queue (Python's `qsize`); a snapshot,
    /// which other threads may change at once.
    pub fn qsize(&self) -> usize {
        D::len(&self.shared.state.lock().items)
    }

    /// Whether no item waits (Python's `empty`); a snapshot.
    pub fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// Whether the queue is at its bound (Python's `full`); a snapshot.
    pub fn full(&self) -> bool {
        self.shared.state.lock().is_full::<T, D>()
    }

    /// The bound (`0`: none).
    pub fn maxsize(&self) -> usize {
        self.shared.state.lock().maxsize
    }

    /// Changes the bound (Python lets `q.maxsize` be assigned). Items
    /// already in stay; a smaller bound only makes `put` wait sooner.
    pub fn set_maxsize(&self, maxsize: usize) {
        self.shared.state.lock().maxsize = maxsize;
        self.shared.not_full.notify_all();
    }

    /// Items put and not yet marked with `task_done` (Python's
    /// `unfinished_tasks`).
    pub fn unfinished_tasks(&self) -> usize {
        self.shared.state.lock().unfinished_tasks
    }
}

impl<S> State<S> {
    fn is_full<T, D: Discipline<T, Store = S>>(&self) -> bool {
        self.maxsize > 0 && D::len(&self.items) >= self.maxsize
    }
}

/// Waits on `condition` until notified or `deadline`; `false` if the
/// deadline passed. The caller re-checks its own condition either way
/// (wake-ups can be spurious, and another thread may have been first).
///
/// The first few waits do not sleep: they release the lock and spin or
/// yield briefly (`backoff`), because on a busy queue the item or the room
/// usually arrives within microseconds, and putting a thread to sleep and
/// waking it costs far more than that.
fn wait<S>(
    condition: &Condvar,
    state: &mut MutexGuard<'_, State<S>>,
    deadline: Option<Instant>,
    backoff: &Backoff,
) -> bool {
    if !backoff.is_completed() {
        MutexGuard::unlocked(state, || backoff.snooze());
        return deadline.is_none_or(|deadline| Instant::now() < deadline);
    }
    match deadline {
        Some(deadline) => !condition.wait_until(state, deadline).timed_out(),
        None => {
            condition.wait(state);
            true
        }
    }
}

impl<T, D: Discipline<T>> Clone for BaseQueue<T, D> {
    fn clone(&self) -> Self {
        BaseQueue {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T, D: Discipline<T>> fmt::Debug for BaseQueue<T, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.state.lock();
        f.debug_struct("Queue")
            .field("qsize", &D::len(&state.items))
            .field("maxsize", &state.maxsize)
            .field("unfinished_tasks", &state.unfinished_tasks)
            .field("shutdown", &state.shutdown)
            .finish()
    }
}

/// Defines one public queue type over [`BaseQueue`]: a constructor named
/// `new` as in Python, and every other method through `Deref`.
macro_rules! queue_type {
    ($(#[$doc:meta])* $name:ident<T $(: $bound:path)?>, $discipline:ty, $what:literal) => {
        $(#[$doc])*
        pub struct $name<T $(: $bound)?>(BaseQueue<T, $discipline>);

        impl<T $(: $bound)?> $name<T> {
            #[doc = concat!("A ", $what, " queue holding at most `maxsize` items (`0`: no bound).")]
            pub fn new(maxsize: usize) -> $name<T> {
                $name(BaseQueue::with_maxsize(maxsize))
            }
        }

        impl<T $(: $bound)?> std::ops::Deref for $name<T> {
            type Target = BaseQueue<T, $discipline>;
            fn deref(&self) -> &Self::Target {
                &self.0
            }
        }

        impl<T $(: $bound)?> Clone for $name<T> {
            /// Another handle on the same queue (cheap: one `Arc`).
            fn clone(&self) -> Self {
                $name(self.0.clone())
            }
        }

        impl<T $(: $bound)?> Default for $name<T> {
            /// An unbounded queue.
            fn default() -> Self {
                $name::new(0)
            }
        }

        impl<T $(: $bound)?> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

queue_type! {
    /// A thread-safe FIFO queue with optional bound, task tracking and
    /// shutdown (Python's `queue.Queue`). Its methods are those of
    /// [`BaseQueue`].
    ///
    /// Cloning is cheap and gives another handle on the same queue: give
    /// one to each producer and consumer thread.
    ///
    /// # Examples
    ///
    /// The lesson's worker loop: take tasks until the queue is empty, mark
    /// each done, and let the main thread `join` until all are.
    ///
    /// ```
    /// use concurrent::Queue;
    ///
    /// let tasks = Queue::new(0);
    /// for n in 1..=100u64 {
    ///     tasks.put(n)?;
    /// }
    /// let results = Queue::new(0);
    /// let workers: Vec<_> = (0..4)
    ///     .map(|_| {
    ///         let (tasks, results) = (tasks.clone(), results.clone());
    ///         std::thread::spawn(move || {
    ///             while let Ok(n) = tasks.get_nowait() {
    ///                 results.put(n * n).unwrap();
    ///                 tasks.task_done().unwrap();
    ///             }
    ///         })
    ///     })
    ///     .collect();
    /// tasks.join(); // every task_done() has been called
    /// assert_eq!(results.qsize(), 100);
    /// # for w in workers { w.join().unwrap(); }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    Queue<T>, Fifo, "FIFO"
}

queue_type! {
    /// A last-in, first-out queue (Python's `queue.LifoQueue`). Its
    /// methods are those of [`BaseQueue`].
    ///
    /// # Examples
    ///
    /// ```
    /// let q = concurrent::LifoQueue::new(0);
    /// q.put(1)?;
    /// q.put(2)?;
    /// assert_eq!(q.get()?, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    LifoQueue<T>, Lifo, "LIFO"
}

queue_type! {
    /// A queue handing out the smallest item first (Python's
    /// `queue.PriorityQueue`); put `(priority, item)` tuples to rank items.
    /// Its methods are those of [`BaseQueue`].
    ///
    /// # Examples
    ///
    /// ```
    /// let q = concurrent::PriorityQueue::new(0);
    /// q.put((2, "later"))?;
    /// q.put((1, "first"))?;
    /// assert_eq!(q.get()?, (1, "first"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    PriorityQueue<T: Ord>, Priority, "priority"
}

/// An unbounded FIFO queue with no task tracking (Python's
/// `queue.SimpleQueue`): `put` never blocks. Cheap to clone.
///
/// # Examples
///
/// ```
/// let q = concurrent::SimpleQueue::new();
/// q.put("A");
/// q.put("B");
/// assert_eq!(q.qsize(), 2);
/// assert_eq!(q.get(), "A");
/// assert_eq!(q.get_nowait(), Some("B"));
/// assert_eq!(q.get_nowait(), None); // Python raises queue.Empty
/// ```
pub struct SimpleQueue<T> {
    sender: crossbeam_channel::Sender<T>,
    receiver: crossbeam_channel::Receiver<T>,
}

impl<T> SimpleQueue<T> {
    /// An empty queue.
    pub fn new() -> SimpleQueue<T> {
        let (sender, receiver) = crossbeam_channel::unbounded();
        SimpleQueue { sender, receiver }
    }

    /// Adds an item; never blocks (Python's `put` and `put_nowait`).
    pub fn put(&self, item: T) {
        // Both ends live in `self`, so the channel cannot be disconnected.
        let _ = self.sender.send(item);
    }

    /// Takes an item, waiting as long as it takes (Python's `get`).
    pub fn get(&self) -> T {
        self.receiver
            .recv()
            .expect("a SimpleQueue holds its own sender, so it never disconnects")
    }

    /// Takes an item if one is there (`None`: Python's `queue.Empty`).
    pub fn get_nowait(&self) -> Option<T> {
        self.receiver.try_recv().ok()
    }

    /// Takes an item, waiting at most `timeout` (`None`: timed out).
    pub fn get_timeout(&self, timeout: Duration) -> Option<T> {
        self.receiver.recv_timeout(timeout).ok()
    }

    /// How many items wait; a snapshot.
    pub fn qsize(&self) -> usize {
        self.receiver.len()
    }

    /// Whether no item waits; a snapshot.
    pub fn empty(&self) -> bool {
        self.receiver.is_empty()
    }
}

impl<T> Default for SimpleQueue<T> {
    fn default() -> Self {
        SimpleQueue::new()
    }
}

impl<T> Clone for SimpleQueue<T> {
    fn clone(&self) -> Self {
        SimpleQueue {
            sender: self.sender.clone(),
            receiver: self.receiver.clone(),
        }
    }
}

impl<T> fmt::Debug for SimpleQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimpleQueue")
            .field("qsize", &self.qsize())
            .finish()
    }
}
