//! A tracked queue's count of unfinished tasks (items put and not yet
//! marked done by `task_done`), kept so that no item pays for a locked
//! instruction on a cache line that other threads write.
//!
//! Python keeps one integer under the queue's lock. A shared atomic would
//! be the obvious Rust version, and it is what a pipeline feels most: every
//! put and every `task_done` a locked read-modify-write on one line that
//! every producer and consumer wants (measured: that alone takes
//! crossbeam's ring from its channel's speed to three quarters of it).
//! Here each thread has its own [`Tally`] per queue, in a cache line of
//! its own, found through a thread-local cache and written only by that
//! thread, with plain stores. The unfinished count is the sum over the
//! threads, read by the rare paths that need it (`join`, a wake-up check,
//! `unfinished_tasks`).
//!
//! Two things a sum of private counts cannot see by itself, and how they
//! are kept exact:
//!
//! - *Calling `task_done` too many times* is an error in Python, raised at
//!   the call that would take the count below zero. A thread that has
//!   marked done fewer items than it took can never be that call, so it
//!   only bumps its own count: the fast path, which is every call in the
//!   usual worker loop (get, work, `task_done`). Any other call (a thread
//!   marking done what another took, or a misuse) switches the queue, once
//!   and for good, to exact counting: under the registry's lock, against
//!   the full sum. The switch is made safe against fast paths in flight by
//!   a heavy barrier ([`barrier`]): a fast path writes its count, then
//!   checks the mode, and takes its write back if the switch came first.
//! - *Waking a joiner* needs the write of a count and the joiner's
//!   registration ordered against each other: `task_done` writes, then a
//!   [`barrier::light`] barrier, then looks for joiners; a joiner registers,
//!   then a [`barrier::heavy`] barrier, then sums.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence};
use std::sync::{Arc, Weak};

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;

use super::barrier;
use crate::error::TaskDoneError;

/// One thread's counts for one queue. Written by that thread only (except
/// [`Tasks::shared`], the tally of threads without thread-local storage),
/// read by anyone summing, and folded into the queue's retired counts when
/// the thread exits.
#[derive(Default)]
struct Tally {
    /// Items this thread counted in before putting (less those it took
    /// back because the put failed).
    put: AtomicUsize,
    /// Items this thread took out of the queue.
    taken: AtomicUsize,
    /// Items this thread marked done on the fast path.
    done: AtomicUsize,
}

type SharedTally = Arc<CachePadded<Tally>>;

impl Tally {
    /// Adds `by` (which may wrap, to subtract) to a count only this thread
    /// writes: a plain store, no locked instruction. `Release`, so that a
    /// summer that reads the new value also sees what this thread did
    /// before (the put behind a take, the take behind a done).
    #[inline]
    fn bump(count: &AtomicUsize, by: usize) {
        count.store(
            count.load(Ordering::Relaxed).wrapping_add(by),
            Ordering::Release,
        );
    }
}

/// Gives every queue its own key in the thread-local caches; an address
/// could be reused by a later queue, a number from this counter cannot.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's tallies, one per queue it used.
    static TALLIES: RefCell<Vec<CachedTally>> = const { RefCell::new(Vec::new()) };
}

/// One entry of a thread's cache: its tally for one queue, handed back to
/// the queue's registry when the thread exits.
struct CachedTally {
    id: u64,
    tally: SharedTally,
    registry: Weak<Mutex<Registry>>,
}

impl Drop for CachedTally {
    fn drop(&mut self) {
        if let Some(registry) = self.registry.upgrade() {
            registry.lock().retire(&self.tally);
        }
    }
}

/// Every tally of one queue, and what the threads that have exited left.
struct Registry {
    /// The tallies of the threads that may still count.
    live: Vec<SharedTally>,
    /// The puts and dones of threads that have exited, folded in as each
    /// one did, so that threads coming and going do not make the registry
    /// (and every sum over it) grow.
    retired_put: usize,
    retired_done: usize,
}

impl Registry {
    /// Folds the tally of a thread that is exiting into the retired counts
    /// (under the lock every summer takes, so no sum sees it twice or not
    /// at all).
    fn retire(&mut self, tally: &SharedTally) {
        if let Some(at) = self.live.iter().position(|live| Arc::ptr_eq(live, tally)) {
            self.live.swap_remove(at);
            self.retired_put = self
                .retired_put
                .wrapping_add(tally.put.load(Ordering::Acquire));
            self.retired_done = self
                .retired_done
                .wrapping_add(tally.done.load(Ordering::Acquire));
        }
    }
}

/// The task count of one queue.
pub(crate) struct Tasks {
    id: u64,
    registry: Arc<Mutex<Registry>>,
    /// The tally of threads whose thread-local storage is gone (a queue
    /// used from another thread-local's destructor); written with locked
    /// instructions, as several threads may share it.
    shared: SharedTally,
    /// Set, once and for good, when a `task_done` could not be counted on
    /// the fast path; from then on every one is counted under the lock.
    exact: AtomicBool,
    /// Items marked done under the lock: in exact mode, and discarded by
    /// `shutdown(immediate=True)`.
    exact_done: AtomicUsize,
}

impl Tasks {
    pub(crate) fn new() -> Tasks {
        barrier::prepare();
        let shared = SharedTally::default();
        let registry = Registry {
            live: vec![Arc::clone(&shared)],
            retired_put: 0,
            retired_done: 0,
        };
        Tasks {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            registry: Arc::new(Mutex::new(registry)),
            shared,
            exact: AtomicBool::new(false),
            exact_done: AtomicUsize::new(0),
        }
    }

    /// Runs `count` on this thread's tally for this queue, or, with
    /// `None`, where the thread has no thread-local storage left.
    #[inline]
    fn with_tally<R>(&self, count: impl FnOnce(Option<&Tally>) -> R) -> R {
        let mut count = Some(count);
        let mine = TALLIES.try_with(|tallies| {
            let mut tallies = tallies.borrow_mut();
            let found = tallies.iter().position(|cached| cached.id == self.id);
            let index = match found {
                Some(index) => index,
                None => self.register(&mut tallies),
            };
            let count = count.take().expect("called once");
            count(Some(&*tallies[index].tally))
        });
        match mine {
            Ok(result) => result,
            Err(_) => (count.take().expect("not called yet"))(None),
        }
    }

    /// Gives this thread a tally for this queue; its index in `tallies`.
    fn register(&self, tallies: &mut Vec<CachedTally>) -> usize {
        // Forget the tallies of queues that are gone, now and then, so
        // that a thread that uses many short-lived queues does not keep
        // them all.
        if tallies.len() >= 8 && tallies.len().is_power_of_two() {
            tallies.retain(|cached| cached.registry.strong_count() > 0);
        }
        let tally = SharedTally::default();
        self.registry.lock().live.push(Arc::clone(&tally));
        tallies.push(CachedTally {
            id: self.id,
            tally,
            registry: Arc::downgrade(&self.registry),
        });
        tallies.len() - 1
    }

    /// Counts in an item about to be put (before it can be taken, so that
    /// its `task_done` never finds it missing). A put that then fails
    /// (shut down, timed out) takes its count back; until it does, a
    /// `task_done` called once too often under exact counting may pass for
    /// that item (CPython's lock rules that out; here it needs a misuse
    /// racing a failing put).
    #[inline]
    pub(crate) fn put(&self) {
        self.with_tally(|tally| match tally {
            Some(tally) => Tally::bump(&tally.put, 1),
            None => {
                self.shared.put.fetch_add(1, Ordering::SeqCst);
            }
        });
    }

    /// Takes back the count of an item whose put failed; then a barrier,
    /// as after a `task_done`, for the joiners' check that follows.
    pub(crate) fn put_back(&self) {
        self.with_tally(|tally| match tally {
            Some(tally) => Tally::bump(&tally.put, usize::MAX),
            None => {
                self.shared.put.fetch_sub(1, Ordering::SeqCst);
            }
        });
        barrier::light();
    }

    /// Counts an item taken out of the queue by this thread.
    #[inline]
    pub(crate) fn taken(&self) {
        self.with_tally(|tally| {
            if let Some(tally) = tally {
                Tally::bump(&tally.taken, 1);
            }
        });
    }

    /// Marks one task done.
    ///
    /// # Errors
    ///
    /// [`TaskDoneError`] if no task is unfinished (Python's `ValueError`:
    /// "task_done() called too many times"); nothing is counted then.
    #[inline]
    pub(crate) fn mark_done(&self) -> Result<(), TaskDoneError> {
        let counted = self.with_tally(|tally| {
            let Some(tally) = tally else { return false };
            let done = tally.done.load(Ordering::Relaxed);
            if self.is_exact() || done >= tally.taken.load(Ordering::Relaxed) {
                return false;
            }
            Tally::bump(&tally.done, 1);
            barrier::light();
            if !self.is_exact() {
                return true;
            }
            // The queue switched to exact counting while this thread was
            // counting; whoever switched may have seen this count or not,
            // so take it back and count again the exact way.
            tally.done.store(done, Ordering::Release);
            false
        });
        if counted {
            Ok(())
        } else {
            self.mark_done_exactly()
        }
    }

    fn mark_done_exactly(&self) -> Result<(), TaskDoneError> {
        let registry = self.registry.lock();
        if !self.exact.load(Ordering::Relaxed) {
            self.exact.store(true, Ordering::SeqCst);
            // After this, a fast path either has its count where the sum
            // below sees it, or sees `exact` and takes its count back.
            barrier::heavy();
        }
        if Self::unfinished_of(&registry, &self.exact_done) == 0 {
            return Err(TaskDoneError);
        }
        self.exact_done.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// Marks done up to `discarded` tasks whose items `shutdown(immediate)`
    /// threw away, as Python does: never below zero unfinished.
    pub(crate) fn mark_discarded(&self, discarded: usize) {
        let registry = self.registry.lock();
        let unfinished = Self::unfinished_of(&registry, &self.exact_done);
        self.exact_done
            .fetch_add(discarded.min(unfinished), Ordering::SeqCst);
    }

    /// Whether no task is unfinished, for a waker deciding whether to wake
    /// the joiners; `waiting` is how many items the queue holds, asked
    /// first: an item still in the queue is a task unfinished, which
    /// spares the sum while a joiner waits out a busy pipeline. (Not in
    /// exact mode: there a `task_done` may have been counted without a
    /// take behind it, ahead of its item.)
    pub(crate) fn none_unfinished(&self, waiting: impl FnOnce() -> usize) -> bool {
        (self.is_exact() || waiting() == 0) && self.unfinished() == 0
    }

    #[inline]
    fn is_exact(&self) -> bool {
        self.exact.load(Ordering::Relaxed)
    }

    /// How many tasks are unfinished; a snapshot, exact when nothing moves.
    /// A joiner about to sleep puts its heavy barrier before it.
    pub(crate) fn unfinished(&self) -> usize {
        Self::unfinished_of(&self.registry.lock(), &self.exact_done)
    }

    fn unfinished_of(registry: &Registry, exact_done: &AtomicUsize) -> usize {
        // Two threads finishing the last two tasks at once each wrote their
        // count and then sum: with a fence between, at least one of them
        // sees the other's count (and wakes the joiners).
        fence(Ordering::SeqCst);
        // Every count only grows but `put`, which shrinks only for an item
        // that never entered. Done counts first: each one read was made
        // after its item's put (through the take behind it, or the lock),
        // so the puts read later include it, and a zero was true.
        let done = registry
            .live
            .iter()
            .map(|tally| tally.done.load(Ordering::Acquire))
            .fold(
                registry
                    .retired_done
                    .wrapping_add(exact_done.load(Ordering::Acquire)),
                usize::wrapping_add,
            );
        let put = registry
            .live
            .iter()
            .map(|tally| tally.put.load(Ordering::Acquire))
            .fold(registry.retired_put, usize::wrapping_add);
        debug_assert!(put >= done, "{done} tasks done of {put} put");
        put.saturating_sub(done)
    }
}

#[cfg(test)]
mod tests {
    use std::thread;

    use super::*;

    #[test]
    fn threads_that_come_and_go_leave_their_counts_but_not_their_tallies() {
        let tasks = Tasks::new();
        for _ in 0..50 {
            thread::scope(|scope| {
                scope.spawn(|| tasks.put());
                scope.spawn(|| tasks.put());
            });
        }
        assert_eq!(tasks.unfinished(), 100);
        for _ in 0..50 {
            thread::scope(|scope| {
                scope.spawn(|| {
                    tasks.taken();
                    tasks.mark_done().unwrap();
                });
            });
        }
        assert_eq!(tasks.unfinished(), 50);
        assert!(
            !tasks.is_exact(),
            "each done was backed by its thread's take"
        );
        let registry = tasks.registry.lock();
        assert_eq!(registry.live.len(), 1, "only the shared tally is left");
        assert_eq!((registry.retired_put, registry.retired_done), (100, 50));
    }

    #[test]
    fn a_done_without_a_take_switches_to_exact_counting_and_is_refused_past_zero() {
        let tasks = Tasks::new();
        tasks.put();
        assert_eq!(tasks.mark_done(), Ok(()));
        assert!(tasks.is_exact());
        assert_eq!(tasks.mark_done(), Err(TaskDoneError));
        assert_eq!(tasks.unfinished(), 0);
    }
}
