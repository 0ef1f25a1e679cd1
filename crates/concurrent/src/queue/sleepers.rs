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
//!
//! How soon to retry is the one tuning choice, and no single answer fits
//! both ways queues are used. Handing one item back and forth (a request
//! and its reply) wants a retry at once: the item comes within a few
//! hundred nanoseconds, and every look that comes late adds to the round
//! trip. A stream of items wants the opposite: a consumer that catches up
//! with its producer finds the queue empty, and if it retries at once it
//! takes each item the moment it lands, so every item moves the ring's
//! cache lines from one core to the other and back, and each look takes
//! them from the producer mid-write. Measured on a pipeline whose consumer
//! is the faster side, that lock-step ran at a third to a half of
//! crossbeam's speed; letting a short batch build up before the first
//! look ran faster than crossbeam (BENCHMARKS.md, issue #12). So the
//! waiters learn which case they are in: a wait whose first retry
//! succeeded means the other side is streaming, and the next wait skips
//! its first few retries ([`PATIENT_FIRST_RETRY`]); a wait that needed a
//! later retry, or sleep, means it is not, and the next one retries at
//! once again. Only where a batch has room to build up: a queue bounded
//! to one or two items is a hand-off, however fast items flow, and its
//! waiters always retry at once ([`Retry`]).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use crossbeam_utils::{Backoff, CachePadded};
use parking_lot::{Condvar, Mutex};

/// The first retry of a wait that expects the other side to be streaming,
/// counted in rounds of backoff: rounds 1 to 4 spin 1, 2, 4 and 8 times,
/// so the first look comes after 15 spins instead of 1 (about half a
/// microsecond on the machine measured, where a spin took 36 ns).
const PATIENT_FIRST_RETRY: u32 = 4;

/// How soon a wait retries after its first try fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Retry {
    /// At once, every wait: where nothing can pile up while a waiter holds
    /// back (a hand-off through a queue of one or two items, or a join).
    AtOnce,
    /// At once, or after [`PATIENT_FIRST_RETRY`] rounds when the last
    /// wait found the other side streaming.
    LaterWhenStreaming,
}

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
    /// Whether the last wait that ended found its progress at its first
    /// retry: the other side is streaming, so the next wait waits a few
    /// rounds before its first retry (the module's docs say why). A hint:
    /// written only when it changes, and never needed for correctness.
    patient: AtomicBool,
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
            patient: AtomicBool::new(false),
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
        retry: Retry,
        mut attempt: impl FnMut() -> Option<R>,
    ) -> Option<R> {
        // The first try inline, where the caller's fast path is; the
        // waiting apart.
        attempt().or_else(|| self.wait_after_first_try(deadline, retry, attempt))
    }

    #[inline(never)]
    fn wait_after_first_try<R>(
        &self,
        deadline: Option<Instant>,
        retry: Retry,
        mut attempt: impl FnMut() -> Option<R>,
    ) -> Option<R> {
        let backoff = Backoff::new();
        let learns = retry == Retry::LaterWhenStreaming;
        let first_retry = self.first_retry(retry);
        let mut round = 0;
        loop {
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                // The last look may be some rounds old.
                return attempt();
            }
            if backoff.is_completed() {
                // Past the spinning: whatever this waits for is not
                // streaming.
                if learns {
                    self.set_patient(false);
                }
                let mut guard = self.lock.lock();
                self.count.fetch_add(1, Ordering::SeqCst);
                (self.after_registering)();
                if let Some(done) = attempt_holding_a_lock(&mut attempt) {
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
                round += 1;
                if round < first_retry {
                    continue;
                }
            }
            if let Some(done) = attempt() {
                // A wait that slept is many rounds past its first retry.
                if learns {
                    self.set_patient(round == first_retry);
                }
                return Some(done);
            }
        }
    }

    /// The round of backoff after which a wait makes its first retry.
    fn first_retry(&self, retry: Retry) -> u32 {
        if retry == Retry::LaterWhenStreaming && self.patient.load(Ordering::Relaxed) {
            PATIENT_FIRST_RETRY
        } else {
            1
        }
    }

    /// Records whether the next wait should be patient; a write only when
    /// that changes, as every waiter reads it.
    fn set_patient(&self, patient: bool) {
        if self.patient.load(Ordering::Relaxed) != patient {
            self.patient.store(patient, Ordering::Relaxed);
        }
    }

    /// Wakes one sleeper, if there is one. Cheap when nobody sleeps: one
    /// load. Never from an attempt (see [`attempt_holding_a_lock`]).
    #[inline]
    pub(crate) fn wake_one(&self) {
        debug_assert_no_lock_held();
        if self.count.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock();
            self.wake_locked();
        }
    }

    /// Wakes every sleeper. Never from an attempt.
    pub(crate) fn wake_all(&self) {
        debug_assert_no_lock_held();
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

#[cfg(debug_assertions)]
thread_local! {
    /// This thread is running an attempt under a sleepers' lock.
    static HOLDING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs an attempt while this sleepers' lock is held (the re-check after
/// registering). The attempt must not wake another sleepers: that takes
/// the other's lock under this one, and a thread of the other side doing
/// the same takes the two the other way round, a deadlock (a getter that
/// pops, waking putters, against a putter that pushes, waking getters).
/// The queue wakes once its wait has returned; debug builds check it.
fn attempt_holding_a_lock<R>(attempt: &mut impl FnMut() -> Option<R>) -> Option<R> {
    /// Clears the flag however the attempt ends (a comparison may panic).
    #[cfg(debug_assertions)]
    struct Holding;
    #[cfg(debug_assertions)]
    impl Drop for Holding {
        fn drop(&mut self) {
            HOLDING.with(|holding| holding.set(false));
        }
    }
    #[cfg(debug_assertions)]
    let _holding = {
        HOLDING.with(|holding| holding.set(true));
        Holding
    };
    attempt()
}

/// In debug builds, that this thread is not inside an attempt under a
/// sleepers' lock (see [`attempt_holding_a_lock`]).
#[inline]
fn debug_assert_no_lock_held() {
    #[cfg(debug_assertions)]
    HOLDING.with(|holding| {
        debug_assert!(
            !holding.get(),
            "a wake from inside a locked attempt: two sleepers' locks taken in either order can deadlock"
        );
    });
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::time::Duration;

    use super::*;

    /// Waits on `sleepers` with an attempt that fails `failures` times and
    /// then succeeds; what the wait gave, and how many attempts it made
    /// (the inline try included).
    fn wait(
        sleepers: &Sleepers,
        deadline: Option<Instant>,
        retry: Retry,
        failures: usize,
    ) -> (Option<()>, usize) {
        let calls = Cell::new(0);
        let waited = sleepers.wait_until(deadline, retry, || {
            calls.set(calls.get() + 1);
            (calls.get() > failures).then_some(())
        });
        (waited, calls.get())
    }

    fn is_patient(sleepers: &Sleepers) -> bool {
        sleepers.patient.load(Ordering::Relaxed)
    }

    #[test]
    fn a_wait_whose_first_retry_succeeds_makes_the_next_one_patient() {
        let sleepers = Sleepers::default();
        // The inline try fails, the first retry succeeds: streaming.
        let (waited, calls) = wait(&sleepers, None, Retry::LaterWhenStreaming, 1);
        assert_eq!(waited, Some(()));
        assert_eq!(calls, 2);
        assert!(is_patient(&sleepers));
        assert_eq!(
            sleepers.first_retry(Retry::LaterWhenStreaming),
            PATIENT_FIRST_RETRY
        );

        // Still patient when the patient wait's first retry succeeds.
        let (waited, _) = wait(&sleepers, None, Retry::LaterWhenStreaming, 1);
        assert_eq!(waited, Some(()));
        assert!(is_patient(&sleepers));

        // A wait that needs a later retry is not facing a stream.
        let (waited, calls) = wait(&sleepers, None, Retry::LaterWhenStreaming, 3);
        assert_eq!(waited, Some(()));
        assert_eq!(calls, 4);
        assert!(!is_patient(&sleepers));
        assert_eq!(sleepers.first_retry(Retry::LaterWhenStreaming), 1);
    }

    #[test]
    fn a_wait_that_needs_a_later_retry_or_sleep_stays_eager() {
        let sleepers = Sleepers::default();
        let (waited, _) = wait(&sleepers, None, Retry::LaterWhenStreaming, 2);
        assert_eq!(waited, Some(()));
        assert!(!is_patient(&sleepers));

        // Patient, then a wait that spins out and times out in its sleep.
        sleepers.set_patient(true);
        let deadline = Instant::now() + Duration::from_millis(20);
        let (waited, _) = wait(
            &sleepers,
            Some(deadline),
            Retry::LaterWhenStreaming,
            usize::MAX,
        );
        assert_eq!(waited, None);
        assert!(Instant::now() >= deadline);
        assert!(!is_patient(&sleepers));
    }

    #[test]
    fn a_wait_that_retries_at_once_neither_learns_nor_holds_back() {
        let sleepers = Sleepers::default();
        let (waited, _) = wait(&sleepers, None, Retry::AtOnce, 1);
        assert_eq!(waited, Some(()));
        assert!(!is_patient(&sleepers));

        // Patient from a queue's other waits, and still at once.
        sleepers.set_patient(true);
        assert_eq!(sleepers.first_retry(Retry::AtOnce), 1);
        let (waited, _) = wait(&sleepers, None, Retry::AtOnce, 2);
        assert_eq!(waited, Some(()));
        assert!(is_patient(&sleepers));
    }

    #[test]
    fn a_patient_wait_whose_deadline_passed_looks_once_more() {
        let sleepers = Sleepers::default();
        sleepers.set_patient(true);
        // The inline try fails; the deadline has passed before any retry
        // round, and the wait still looks once more before giving up.
        let passed = Instant::now();
        let (waited, calls) = wait(&sleepers, Some(passed), Retry::LaterWhenStreaming, 1);
        assert_eq!(waited, Some(()));
        assert_eq!(calls, 2);
    }
}
