//! Thread-safe queues for producer/consumer (Python's `queue` module):
//! [`Queue`] (FIFO), [`LifoQueue`], [`PriorityQueue`], all bounded or not,
//! with `task_done`/`join` tracking and 3.13's `shutdown`; and
//! [`SimpleQueue`], unbounded and untracked.
//!
//! The three tracked queues share one type, `BaseQueue<T, D>`, whose `D`
//! says where items wait and in which order they come out
//! ([`discipline`]); everything else (blocking, bounds, task tracking,
//! shutdown) is shared.
//!
//! CPython guards all of it with one mutex and three conditions. Here the
//! FIFO queue's items are in a lock-free store, and an item pays for no
//! locked instruction beyond the store's own: the task count is kept per
//! thread, with plain stores, and summed only where someone needs the
//! total ([`tasks`]). Threads that must wait spin briefly and then sleep
//! ([`sleepers`]); waking costs a lock only when someone sleeps.

mod barrier;
mod discipline;
mod sleepers;
mod tasks;
mod thread_slot;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub use discipline::{Discipline, Fifo, Lifo, Priority};
use sleepers::{Retry, Sleepers};
use tasks::Tasks;

use crate::error::{
    GetError, GetTimeoutError, MaxsizeError, PutError, PutTimeoutError, TaskDoneError, TryGetError,
    TryPutError,
};

/// What [`Queue`], [`LifoQueue`] and [`PriorityQueue`] share: all their
/// methods, for any [`Discipline`] `D`. Not made directly; each queue type
/// dereferences to it.
pub struct BaseQueue<T, D: Discipline<T>> {
    shared: Arc<Shared<D::Store>>,
}

struct Shared<S> {
    items: S,
    /// The bound (`0`: none); changed only by `set_maxsize`.
    maxsize: AtomicUsize,
    /// Set first by `shutdown`: from then on every put fails.
    closed: AtomicBool,
    /// What getters go by: [`RUNNING`], [`SHUT_DOWN`] or [`SHUT_DOWN_NOW`],
    /// set by `shutdown` once the puts that began before `closed` was set
    /// have landed or failed, so that a getter told the queue is over can
    /// trust that no item will come after.
    shutdown: AtomicU8,
    tasks: Tasks,
    /// Waiting for an item (or shutdown).
    getters: Sleepers,
    /// Waiting for room (or shutdown).
    putters: Sleepers,
    /// Waiting for every task to be done.
    joiners: Sleepers,
}

/// The smallest bound at which a blocked put or get holds back its first
/// retries while the other side streams. Measured (BENCHMARKS.md, issue
/// #12): with the holding back, a 1P1C pipeline through a queue bounded
/// to 1 item took 1.4x the time, one bounded to 2 about 1.1x, and one
/// bounded to 4 about 0.7x.
const MIN_BATCH: usize = 4;

const RUNNING: u8 = 0;
/// `shutdown(false)`: no more puts; getters drain what is left.
const SHUT_DOWN: u8 = 1;
/// `shutdown(true)`: no more puts, and what is left is discarded.
const SHUT_DOWN_NOW: u8 = 2;

impl<T, D: Discipline<T>> BaseQueue<T, D> {
    fn with_maxsize(maxsize: usize) -> BaseQueue<T, D> {
        BaseQueue {
            shared: Arc::new(Shared {
                items: D::store(maxsize),
                maxsize: AtomicUsize::new(maxsize),
                closed: AtomicBool::new(false),
                shutdown: AtomicU8::new(RUNNING),
                tasks: Tasks::new(),
                getters: Sleepers::default(),
                putters: Sleepers::default(),
                joiners: Sleepers::with_barrier(barrier::heavy),
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
    #[inline]
    pub fn put_nowait(&self, item: T) -> Result<(), TryPutError<T>> {
        let put = self.try_put(item);
        if put.is_ok() {
            self.shared.getters.wake_one();
        }
        put
    }

    /// One try at a put, waking no getter: a blocked put makes its tries
    /// holding the putters' lock, and waking a getter would then take the
    /// getters' lock under it, while a getter doing the same takes the
    /// two the other way round (a deadlock). The caller wakes a getter
    /// once it holds no lock.
    #[inline]
    fn try_put(&self, item: T) -> Result<(), TryPutError<T>> {
        let shared = &*self.shared;
        // In flight from the look at the flag to the end of the push, for
        // a shutdown to wait out (`Tasks::wait_for_puts_in_flight`).
        let attempt = shared.tasks.begin_put();
        if self.is_shutdown() {
            return Err(TryPutError::ShutDown(item));
        }
        attempt.count_task();
        match self.try_push(item) {
            Ok(()) => {
                drop(attempt);
                Ok(())
            }
            Err(item) => {
                attempt.take_task_back();
                drop(attempt);
                self.wake_joiners();
                Err(TryPutError::Full(item))
            }
        }
    }

    /// Puts with [`put_nowait`](BaseQueue::put_nowait)'s attempts until one
    /// finds room (or the queue shut down, or `deadline` passed).
    fn put_until(&self, item: T, deadline: Option<Instant>) -> Result<(), PutTimeoutError<T>> {
        let mut item = Some(item);
        let put = self.shared.putters.wait_until(deadline, self.retry(), || {
            let attempt = item.take().expect("a full queue gives the item back");
            match self.try_put(attempt) {
                Ok(()) => Some(Ok(())),
                Err(TryPutError::ShutDown(back)) => Some(Err(back)),
                Err(TryPutError::Full(back)) => {
                    item = Some(back);
                    None
                }
            }
        });
        match put {
            Some(Ok(())) => {
                self.shared.getters.wake_one();
                Ok(())
            }
            Some(Err(item)) => Err(PutTimeoutError::ShutDown(item)),
            None => Err(PutTimeoutError::Timeout(
                item.expect("a put that timed out still holds its item"),
            )),
        }
    }

    /// How a blocked put or get retries: later while the other side
    /// streams, if the bound leaves room for a batch to build up
    /// meanwhile ([`sleepers`] says why).
    fn retry(&self) -> Retry {
        let maxsize = self.maxsize();
        if maxsize == 0 || maxsize >= MIN_BATCH {
            Retry::LaterWhenStreaming
        } else {
            Retry::AtOnce
        }
    }

    fn try_push(&self, item: T) -> Result<(), T> {
        let maxsize = self.shared.maxsize.load(Ordering::SeqCst);
        D::try_push(&self.shared.items, item, maxsize)
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
        let got = self.try_pop();
        self.after_get(&got);
        match got {
            Some(Ok(item)) => Ok(item),
            Some(Err(GetError)) => Err(TryGetError::ShutDown),
            None => Err(TryGetError::Empty),
        }
    }

    fn get_until(&self, deadline: Option<Instant>) -> Result<T, GetTimeoutError> {
        let got = self
            .shared
            .getters
            .wait_until(deadline, self.retry(), || self.try_pop());
        self.after_get(&got);
        match got {
            Some(Ok(item)) => Ok(item),
            Some(Err(GetError)) => Err(GetTimeoutError::ShutDown),
            None => Err(GetTimeoutError::Timeout),
        }
    }

    /// What a get does once it holds no lock: wakes a putter for the room
    /// it made, or, after an immediate shutdown, empties the queue (Python
    /// empties it at once; the shutting thread may not have got to it yet,
    /// and whoever comes first does it).
    fn after_get(&self, got: &Option<Result<T, GetError>>) {
        match got {
            Some(Ok(_)) => self.shared.putters.wake_one(),
            Some(Err(GetError)) if self.shared.shutdown.load(Ordering::SeqCst) == SHUT_DOWN_NOW => {
                self.discard_all();
            }
            _ => {}
        }
    }

    /// One try at a get: an item, the end (shut down and empty), or
    /// `None` (empty for now). It wakes no putter, for the reason
    /// [`try_put`](Self::try_put) wakes no getter: the caller does.
    #[inline]
    fn try_pop(&self) -> Option<Result<T, GetError>> {
        let shared = &*self.shared;
        let shutdown = shared.shutdown.load(Ordering::SeqCst);
        if shutdown == SHUT_DOWN_NOW {
            return Some(Err(GetError));
        }
        match D::pop(&shared.items) {
            Some(item) => {
                shared.tasks.taken();
                Some(Ok(item))
            }
            None if shutdown == SHUT_DOWN => Some(Err(GetError)),
            None => None,
        }
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
        self.shared.tasks.mark_done()?;
        self.wake_joiners();
        Ok(())
    }

    /// Wakes the joiners if no task is unfinished. Called after a count
    /// went down, behind a barrier that pairs with the joiners' own
    /// ([`tasks`] says why).
    fn wake_joiners(&self) {
        let shared = &*self.shared;
        shared
            .joiners
            .wake_all_if(|| shared.tasks.none_unfinished(|| D::len(&shared.items)));
    }

    /// Waits until every item put has been marked with `task_done`
    /// (Python's `join`).
    pub fn join(&self) {
        let tasks = &self.shared.tasks;
        self.shared.joiners.wait_until(None, Retry::AtOnce, || {
            (tasks.unfinished() == 0).then_some(())
        });
    }

    /// [`join`](BaseQueue::join), waiting at most `timeout`; `true` if every
    /// item was done in time.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        let tasks = &self.shared.tasks;
        self.shared
            .joiners
            .wait_until(crate::deadline_after(timeout), Retry::AtOnce, || {
                (tasks.unfinished() == 0).then_some(())
            })
            .is_some()
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
        let shared = &*self.shared;
        let state = if immediate { SHUT_DOWN_NOW } else { SHUT_DOWN };
        // A read-modify-write, as the putters' sleep protocol needs (see
        // `sleepers`).
        shared.closed.swap(true, Ordering::SeqCst);
        shared.tasks.wait_for_puts_in_flight();
        shared.shutdown.fetch_max(state, Ordering::SeqCst);
        if immediate {
            self.discard_all();
        }
        shared.getters.wake_all();
        shared.putters.wake_all();
    }

    /// Empties the queue, counting each item done (an immediate shutdown).
    fn discard_all(&self) {
        let shared = &*self.shared;
        let mut discarded = 0;
        while D::pop(&shared.items).is_some() {
            discarded += 1;
        }
        if discarded > 0 {
            shared.tasks.mark_discarded(discarded);
            shared.putters.wake_all();
        }
        self.wake_joiners();
    }

    /// Whether [`shutdown`](BaseQueue::shutdown) was called.
    pub fn is_shutdown(&self) -> bool {
        self.shared.closed.load(Ordering::SeqCst)
    }

    /// How many items wait in the queue (Python's `qsize`); a snapshot,
    /// which other threads may change at once.
    pub fn qsize(&self) -> usize {
        D::len(&self.shared.items)
    }

    /// Whether no item waits (Python's `empty`); a snapshot.
    pub fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// Whether the queue is at its bound (Python's `full`); a snapshot.
    pub fn full(&self) -> bool {
        let maxsize = self.maxsize();
        maxsize > 0 && self.qsize() >= maxsize
    }

    /// The bound (`0`: none).
    pub fn maxsize(&self) -> usize {
        self.shared.maxsize.load(Ordering::Relaxed)
    }

    /// Changes the bound (Python lets `q.maxsize` be assigned). Items
    /// already in stay; a smaller bound only makes `put` wait sooner.
    ///
    /// # Errors
    ///
    /// [`MaxsizeError`] when a bounded FIFO [`Queue`] would grow past the
    /// bound it was made with, or lose its bound: its items live in a
    /// ring of that size, allocated up front (what makes it fast).
    /// Python's queues have no such limit; this is the one place ours
    /// differs. Make the queue with the largest bound it will need, and
    /// shrink it.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent::{MaxsizeError, Queue, TryPutError};
    ///
    /// let q = Queue::new(3);
    /// q.set_maxsize(1)?;
    /// q.put(1)?;
    /// assert_eq!(q.put_nowait(2), Err(TryPutError::Full(2)));
    /// assert_eq!(q.set_maxsize(4), Err(MaxsizeError { requested: 4, capacity: 3 }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_maxsize(&self, maxsize: usize) -> Result<(), MaxsizeError> {
        if let Some(capacity) = D::capacity(&self.shared.items)
            && !(1..=capacity).contains(&maxsize)
        {
            return Err(MaxsizeError {
                requested: maxsize,
                capacity,
            });
        }
        // SeqCst, so that a putter about to sleep sees it or is woken.
        self.shared.maxsize.swap(maxsize, Ordering::SeqCst);
        self.shared.putters.wake_all();
        Ok(())
    }

    /// Items put and not yet marked with `task_done` (Python's
    /// `unfinished_tasks`).
    pub fn unfinished_tasks(&self) -> usize {
        self.shared.tasks.unfinished()
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
        f.debug_struct("Queue")
            .field("qsize", &self.qsize())
            .field("maxsize", &self.maxsize())
            .field("unfinished_tasks", &self.unfinished_tasks())
            .field("shutdown", &self.is_shutdown())
            .finish()
    }
}

/// Defines one public queue type over [`BaseQueue`]: a constructor named
/// `new` as in Python, and every other method through `Deref`.
macro_rules! queue_type {
    ($(#[$doc:meta])* $name:ident<T $(: $bound:path)?>, $discipline:ty, $what:literal) => {
        $(#[$doc])*
        pub struct $name<T: Send $(+ $bound)?>(BaseQueue<T, $discipline>);

        impl<T: Send $(+ $bound)?> $name<T> {
            #[doc = concat!("A ", $what, " queue holding at most `maxsize` items (`0`: no bound).")]
            pub fn new(maxsize: usize) -> $name<T> {
                $name(BaseQueue::with_maxsize(maxsize))
            }
        }

        impl<T: Send $(+ $bound)?> std::ops::Deref for $name<T> {
            type Target = BaseQueue<T, $discipline>;
            fn deref(&self) -> &Self::Target {
                &self.0
            }
        }

        impl<T: Send $(+ $bound)?> Clone for $name<T> {
            /// Another handle on the same queue (cheap: one `Arc`).
            fn clone(&self) -> Self {
                $name(self.0.clone())
            }
        }

        impl<T: Send $(+ $bound)?> Default for $name<T> {
            /// An unbounded queue.
            fn default() -> Self {
                $name::new(0)
            }
        }

        impl<T: Send $(+ $bound)?> fmt::Debug for $name<T> {
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
