//! Where a queue's blocked threads wait: spin briefly, then sleep on a
//! condition variable, and only when someone is asleep does a wake-up
//! cost a lock.
//!
//! The queues' fast paths are lock-free; this is the slow path beside
//! them. A thread that finds nothing to do retries for a few microseconds
//! (on a busy queue the item or the room usually arrives that soon, and
//! sleeping and waking costs far more), then registers as a sleeper and
//! checks once more before it sleeps. A thread that makes progress
//! possible then looks at the sleeper count: either it sees the sleeper,
//! or the sleeper's last check sees its progress, so no wake-up is lost.
//!
//! That holds when the progress is published in one of three ways, which
//! every caller keeps to:
//!
//! - by a `SeqCst` read-modify-write that the sleeper's check reads
//!   `SeqCst` (or after a `SeqCst` fence): the lock-free stores' index
//!   CAS, the shutdown flag. The registration, the progress and the
//!   count's `SeqCst` load are then all in one total order, and whichever
//!   comes second sees the first (the store-buffer argument). No fence is
//!   needed on the hot path, which matters: a fence per item cost a fifth
//!   of a FIFO queue's time.
//! - under a lock that the sleeper's check takes too (the LIFO and
//!   priority stores' mutex), which orders the two sides by itself.
//! - by a plain store followed by a [`light`](super::barrier::light)
//!   barrier, for sleepers made [`with_barrier`](Sleepers::with_barrier)
//!   the matching heavy one, run between registering and the last check:
//!   the per-thread task counts that joiners wait on.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use crossbeam_utils::{Backoff, CachePadded};
use parking_lot::{Condvar, Mutex};

/// Threads waiting for one kind of progress (an item, room, or all tasks
/// done).
pub(crate) struct Sleepers {
    /// Threads registered to sleep and not yet woken. Read by every waker,
    /// so it sits on its own cache line; a waker takes a sleeper off the
    /// count as it wakes it, so that later wakers do not lock for a thread
    /// that is already on its way.
    count: CachePadded<AtomicUsize>,
    lock: Mutex<()>,
    wake: Condvar,
    /// Run between registering and the last check before sleeping.
    after_registering: fn(),
}

impl Default for Sleepers {
    /// Sleepers for progress published by `SeqCst` read-modify-writes or
    /// under a lock, which need no barrier of their own.
    fn default() -> Self {
        Sleepers::with_barrier(|| {})
    }
}

impl Sleepers {
    /// Sleepers that run `barrier` after registering, before their last
    /// check: for progress published by plain stores behind a
    /// [`light`](super::barrier::light) barrier, which `barrier` pairs with.
    pub(crate) fn with_barrier(barrier: fn()) -> Sleepers {
        Sleepers {
            count: CachePadded::default(),
            lock: Mutex::new(()),
            wake: Condvar::new(),
            after_registering: barrier,
        }
    }

    /// Calls `attempt` until it gives `Some`, spinning first and then
    /// sleeping between tries; `None` once `deadline` passes (after one
    /// last attempt). Every change that can make `attempt` succeed must be
    /// followed by [`wake_one`](Self::wake_one) or
    /// [`wake_all`](Self::wake_all).
    #[inline]
    pub(crate) fn wait_until<R>(
        &self,
        deadline: Option<Instant>,
        mut attempt: impl FnMut() -> Option<R>,
    ) -> Option<R> {
        // The first try inline, where the caller's fast path is; the
        // waiting apart.
        attempt().or_else(|| self.wait_after_first_try(deadline, attempt))
    }

    #[inline(never)]
    fn wait_after_first_try<R>(
        &self,
        deadline: Option<Instant>,
        mut attempt: impl FnMut() -> Option<R>,
    ) -> Option<R> {
        let backoff = Backoff::new();
        loop {
            // The last attempt failed.
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return None;
            }
            if backoff.is_completed() {
                let mut guard = self.lock.lock();
                self.count.fetch_add(1, Ordering::SeqCst);
                (self.after_registering)();
                if let Some(done) = attempt() {
                    self.count.fetch_sub(1, Ordering::SeqCst);
                    return Some(done);
                }
                // parking_lot's condition variable has no spurious
                // wake-ups: a wait that did not time out was ended by a
                // waker, which has taken this thread off the count already.
                let timed_out = match deadline {
                    Some(deadline) => self.wake.wait_until(&mut guard, deadline).timed_out(),
                    None => {
                        self.wake.wait(&mut guard);
                        false
                    }
                };
                if timed_out {
                    self.count.fetch_sub(1, Ordering::SeqCst);
                    drop(guard);
                    return attempt();
                }
            } else {
                backoff.snooze();
            }
            if let Some(done) = attempt() {
                return Some(done);
            }
        }
    }

    /// Wakes one sleeper, if there is one. Cheap when nobody sleeps: one
    /// load.
    #[inline]
    pub(crate) fn wake_one(&self) {
        if self.count.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock();
            self.wake_locked();
        }
    }

    /// Wakes every sleeper.
    pub(crate) fn wake_all(&self) {
        self.wake_all_if(|| true);
    }

    /// Wakes every sleeper if there is one and `worth_it()` says so (asked
    /// only when someone sleeps).
    #[inline]
    pub(crate) fn wake_all_if(&self, worth_it: impl FnOnce() -> bool) {
        if self.count.load(Ordering::SeqCst) > 0 && worth_it() {
            let _guard = self.lock.lock();
            while self.wake_locked() {}
        }
    }

    /// Wakes one sleeper and takes it off the count; `false` if none was
    /// waiting. With the lock held, every counted thread is either waiting
    /// or has timed out and will take itself off once it has the lock.
    fn wake_locked(&self) -> bool {
        let woke = self.wake.notify_one();
        if woke {
            self.count.fetch_sub(1, Ordering::SeqCst);
        }
        woke
    }
}
