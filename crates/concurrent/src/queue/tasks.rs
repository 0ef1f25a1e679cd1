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
//! its own, written only by that thread, with plain stores. The tallies
//! are indexed by the thread's number ([`thread_slot`]), so finding one
//! costs a read of a thread-local integer and an index, and a thread that
//! exits leaves its counts where the next thread with its number goes on
//! adding to them: a queue keeps no registry of threads, and nothing is
//! ever moved or removed. The unfinished count is the sum over the
//! tallies, read by the rare paths that need it (`join`, a wake-up check,
//! `unfinished_tasks`). Threads beyond the first 256 alive at once, and
//! threads already giving their number back, share one more tally written
//! with locked instructions: slower, equally exact.
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
//!   and for good, to exact counting: under a lock, against
//!   the full sum. The switch is made safe against fast paths in flight by
//!   a heavy barrier ([`barrier`]): a fast path writes its count, then
//!   checks the mode, and takes its write back if the switch came first.
//! - *Waking a joiner* needs the write of a count and the joiner's
//!   registration ordered against each other: `task_done` writes, then a
//!   [`barrier::light`] barrier, then looks for joiners; a joiner registers,
//!   then a [`barrier::heavy`] barrier, then sums.
//!
//! The tallies also count put attempts begun and ended, for `shutdown`:
//! a put looks at the shutdown flag and then pushes, with no lock to make
//! the two one step, so a shutdown waits out the attempts that may have
//! looked before the flag was set (the same light/heavy pairing), and a
//! put after it has either landed or failed.

use std::iter;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};

use crossbeam_utils::{Backoff, CachePadded};
use parking_lot::Mutex;

use super::{barrier, thread_slot};
use crate::error::TaskDoneError;

/// Tallies per block; a queue allocates a block when the first thread
/// whose number falls in it counts.
const BLOCK: usize = 16;
/// Blocks per queue: threads numbered below `BLOCK * BLOCKS` (256) count
/// on tallies of their own, any others on [`Tasks::shared`].
const BLOCKS: usize = 16;

/// The counts of the thread holding one number ([`thread_slot`]), for one
/// queue; or [`Tasks::shared`], the counts of every thread without one.
#[derive(Default)]
struct Tally {
    /// Items counted in before pushing (less those taken back because
    /// the queue was full).
    put: AtomicUsize,
    /// Items taken out of the queue.
    taken: AtomicUsize,
    /// Items marked done on the fast path: never more than `taken`.
    done: AtomicUsize,
    /// Put attempts (a look at the shutdown flag, then a push) begun and
    /// ended, for a shutdown waiting out the attempts in flight.
    puts_begun: AtomicUsize,
    puts_ended: AtomicUsize,
}

impl Tally {
    /// Whether every put attempt this tally's thread began before the
    /// first look (`begun_before`) has ended. Only for a tally of one
    /// thread, whose attempts come one after another.
    fn puts_ended_since(&self, begun_before: usize) -> bool {
        let ended = self.puts_ended.load(Ordering::Acquire);
        // Wrapping: the counts run on forever.
        begun_before.wrapping_sub(ended) as isize <= 0
    }

    /// Whether no put attempt is in flight: the ended count, read first,
    /// equals the begun count read after it (so at the first read none
    /// was in flight). For the shared tally, where attempts that began
    /// later may end first.
    fn no_put_in_flight(&self) -> bool {
        let ended = self.puts_ended.load(Ordering::Acquire);
        self.puts_begun.load(Ordering::Acquire) == ended
    }
}

type Block = [CachePadded<Tally>; BLOCK];

/// A tally and how it may be written.
#[derive(Clone, Copy)]
struct Mine<'a> {
    tally: &'a Tally,
    /// Whether only this thread writes it, so that plain stores do; the
    /// shared tally takes locked instructions.
    own: bool,
}

impl Mine<'_> {
    /// Adds `by` (which may wrap, to subtract) to one of the counts.
    /// `Release`, so that a summer that reads the new value also sees what
    /// this thread did before (the put behind a take, the take behind a
    /// done).
    #[inline]
    fn add(self, count: fn(&Tally) -> &AtomicUsize, by: usize) {
        let count = count(self.tally);
        if self.own {
            count.store(
                count.load(Ordering::Relaxed).wrapping_add(by),
                Ordering::Release,
            );
        } else {
            count.fetch_add(by, Ordering::SeqCst);
        }
    }

    /// Counts one done if this tally has taken more items than it marked
    /// done; whether it did.
    #[inline]
    fn done_if_taken(self) -> bool {
        let Mine { tally, own } = self;
        if own {
            let done = tally.done.load(Ordering::Relaxed);
            if done >= tally.taken.load(Ordering::Relaxed) {
                return false;
            }
            tally.done.store(done + 1, Ordering::Release);
            true
        } else {
            tally
                .done
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |done| {
                    (done < tally.taken.load(Ordering::SeqCst)).then_some(done + 1)
                })
                .is_ok()
        }
    }
}

/// The task count of one queue.
pub(crate) struct Tasks {
    /// The tallies of numbered threads, block by block as they are needed.
    blocks: [OnceLock<Box<Block>>; BLOCKS],
    /// The tally of threads without a number: numbered past the blocks, or
    /// exiting (a queue used from a thread-local's destructor).
    shared: CachePadded<Tally>,
    /// Set, once and for good, when a `task_done` could not be counted on
    /// the fast path; from then on every one is counted under `lock`.
    exact: AtomicBool,
    /// Items marked done under `lock`: in exact mode, and discarded by
    /// `shutdown(immediate=True)`.
    exact_done: AtomicUsize,
    lock: Mutex<()>,
}

impl Tasks {
    pub(crate) fn new() -> Tasks {
        barrier::prepare();
        Tasks {
            blocks: Default::default(),
            shared: CachePadded::default(),
            exact: AtomicBool::new(false),
            exact_done: AtomicUsize::new(0),
            lock: Mutex::new(()),
        }
    }

    /// The calling thread's tally.
    #[inline]
    fn mine(&self) -> Mine<'_> {
        if let Some(number) = thread_slot::current()
            && let Some(block) = self.blocks.get(number / BLOCK)
        {
            let block = block.get_or_init(Box::default);
            return Mine {
                tally: &block[number % BLOCK],
                own: true,
            };
        }
        Mine {
            tally: &self.shared,
            own: false,
        }
    }

    /// Every tally allocated so far. Called afresh for each pass of a sum,
    /// so that a later pass sees the blocks allocated meanwhile.
    fn tallies(&self) -> impl Iterator<Item = &Tally> {
        self.numbered_tallies().chain(iter::once(&*self.shared))
    }

    /// The tallies of numbered threads allocated so far, each written by
    /// one thread at a time.
    fn numbered_tallies(&self) -> impl Iterator<Item = &Tally> {
        self.blocks
            .iter()
            .filter_map(OnceLock::get)
            .flat_map(|block| block.iter().map(|tally| &**tally))
    }

    /// Marks a put attempt in flight, until the returned guard drops: the
    /// caller looks at the shutdown flag, and counts in and pushes its item
    /// only if it is not set, while holding it. See
    /// [`wait_for_puts_in_flight`](Self::wait_for_puts_in_flight).
    #[inline]
    pub(crate) fn begin_put(&self) -> PutInFlight<'_> {
        let mine = self.mine();
        mine.add(|tally| &tally.puts_begun, 1);
        barrier::light();
        PutInFlight(mine)
    }

    /// Waits until every put attempt that may have missed a shutdown flag
    /// set before this call has ended: after it, no item can land that
    /// was put on the strength of a look at the flag before it was set.
    /// Python's lock gives the same: a put lands before the shutdown or
    /// fails.
    ///
    /// An attempt writes its begun count, then a light barrier, then
    /// reads the flag; this writes the flag (before the call), then a
    /// heavy barrier, then reads the counts: either the attempt sees the
    /// flag, or its count is seen here and waited for.
    pub(crate) fn wait_for_puts_in_flight(&self) {
        barrier::heavy();
        for tally in self.numbered_tallies() {
            let begun = tally.puts_begun.load(Ordering::Acquire);
            wait_for(|| tally.puts_ended_since(begun));
        }
        wait_for(|| self.shared.no_put_in_flight());
    }

    /// Counts an item taken out of the queue by this thread.
    #[inline]
    pub(crate) fn taken(&self) {
        self.mine().add(|tally| &tally.taken, 1);
    }

    /// Marks one task done.
    ///
    /// # Errors
    ///
    /// [`TaskDoneError`] if no task is unfinished (Python's `ValueError`:
    /// "task_done() called too many times"); nothing is counted then.
    #[inline]
    pub(crate) fn mark_done(&self) -> Result<(), TaskDoneError> {
        if !self.is_exact() {
            let mine = self.mine();
            if mine.done_if_taken() {
                barrier::light();
                if !self.is_exact() {
                    return Ok(());
                }
                // The queue switched to exact counting while this thread
                // was counting; whoever switched may have seen this count
                // or not, so take it back and count again the exact way.
                mine.add(|tally| &tally.done, usize::MAX);
            }
        }
        self.mark_done_exactly()
    }

    #[cold]
    fn mark_done_exactly(&self) -> Result<(), TaskDoneError> {
        let _counting = self.lock.lock();
        if !self.exact.load(Ordering::Relaxed) {
            self.exact.store(true, Ordering::SeqCst);
            // After this, a fast path either has its count where the sum
            // below sees it, or sees `exact` and takes its count back.
            barrier::heavy();
        }
        if self.unfinished() == 0 {
            return Err(TaskDoneError);
        }
        self.exact_done.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// Marks done up to `discarded` tasks whose items `shutdown(immediate)`
    /// threw away, as Python does: never below zero unfinished.
    pub(crate) fn mark_discarded(&self, discarded: usize) {
        let _counting = self.lock.lock();
        let unfinished = self.unfinished();
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
        // Two threads finishing the last two tasks at once each wrote their
        // count and then sum: with a fence between, at least one of them
        // sees the other's count (and wakes the joiners).
        fence(Ordering::SeqCst);
        // Every count only grows but `put`, which shrinks only for an item
        // that never entered. Done counts first: each one read was made
        // after its item's put (through the take behind it, or the lock),
        // so the puts read later include it, and a zero was true. The
        // later pass looks for blocks afresh: one allocated for that put
        // is seen too, as its allocation came before the put.
        let done = self
            .tallies()
            .map(|tally| tally.done.load(Ordering::Acquire))
            .fold(self.exact_done.load(Ordering::Acquire), usize::wrapping_add);
        let put = self
            .tallies()
            .map(|tally| tally.put.load(Ordering::Acquire))
            .fold(0, usize::wrapping_add);
        debug_assert!(put >= done, "{done} tasks done of {put} put");
        put.saturating_sub(done)
    }
}

/// A put attempt in flight ([`Tasks::begin_put`]); ends when dropped, so
/// that one that unwinds (an item's `Ord` panicking in a priority queue)
/// does not hold a shutdown up for ever.
pub(crate) struct PutInFlight<'a>(Mine<'a>);

impl PutInFlight<'_> {
    /// Counts in the item about to be pushed (before it can be taken, so
    /// that its `task_done` never finds it missing).
    #[inline]
    pub(crate) fn count_task(&self) {
        self.0.add(|tally| &tally.put, 1);
    }

    /// Takes back the count of an item that found no room; then a
    /// barrier, as after a `task_done`, for the joiners' check that
    /// follows. Until then, a `task_done` called once too often under
    /// exact counting may pass for that item (CPython's lock rules that
    /// out; here it needs a misuse racing a put that finds the queue
    /// full).
    pub(crate) fn take_task_back(&self) {
        self.0.add(|tally| &tally.put, usize::MAX);
        barrier::light();
    }
}

impl Drop for PutInFlight<'_> {
    #[inline]
    fn drop(&mut self) {
        self.0.add(|tally| &tally.puts_ended, 1);
    }
}

/// Spins, then yields, until `ended()`: attempts in flight last a few
/// instructions, unless their thread was switched out in the middle.
fn wait_for(ended: impl Fn() -> bool) {
    let backoff = Backoff::new();
    while !ended() {
        backoff.snooze();
    }
}

#[cfg(test)]
mod tests {
    use std::thread;

    use super::*;

    #[test]
    fn threads_that_come_and_go_leave_their_counts_behind() {
        let tasks = Tasks::new();
        for _ in 0..50 {
            thread::scope(|scope| {
                scope.spawn(|| tasks.begin_put().count_task());
                scope.spawn(|| tasks.begin_put().count_task());
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
    }

    #[test]
    fn a_done_without_a_take_switches_to_exact_counting_and_is_refused_past_zero() {
        let tasks = Tasks::new();
        tasks.begin_put().count_task();
        assert_eq!(tasks.mark_done(), Ok(()));
        assert!(tasks.is_exact());
        assert_eq!(tasks.mark_done(), Err(TaskDoneError));
        assert_eq!(tasks.unfinished(), 0);
    }

    #[test]
    fn the_shared_tally_counts_dones_backed_by_takes_without_switching() {
        let tasks = Tasks::new();
        let shared = Mine {
            tally: &tasks.shared,
            own: false,
        };
        shared.add(|tally| &tally.put, 2);
        shared.add(|tally| &tally.taken, 1);
        assert!(shared.done_if_taken());
        assert!(!shared.done_if_taken(), "one take, one done");
        assert_eq!(tasks.unfinished(), 1);
        assert!(!tasks.is_exact());
    }
}
