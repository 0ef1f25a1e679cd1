//! The thread pool's queue of jobs: unbounded and first in, first out, as
//! CPython's work queue, without the allocator traffic that a linked list
//! between threads brings.
//!
//! crossbeam's unbounded channel allocates a block for every 31 messages
//! on the sending side and frees it on the receiving side. With glibc's
//! allocator, a thread freeing what another thread allocated takes that
//! thread's arena lock, the very lock the submitting thread takes to
//! allocate each task; with more threads than cores, a holder is
//! preempted and the other side sleeps on the lock. Measured on the
//! submit + result benchmark: the futex calls that caused were half a
//! submit's time.
//!
//! So jobs ride a ring allocated once (crossbeam's bounded channel), and
//! only while the ring is full do they wait in an overflow list behind
//! the queue's lock. Order is kept: while the overflow holds anything,
//! new jobs go behind it, and whoever makes room (a worker taking a job)
//! or adds to the overflow moves its oldest jobs into the ring.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering, fence};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use crossbeam_utils::CachePadded;
use parking_lot::Mutex;

/// Jobs the ring holds; past that, they wait in the overflow. Enough for
/// a burst of submits far ahead of the workers, small enough to allocate
/// with every pool (16 bytes a slot for the pool's `Arc<dyn Job>`, plus
/// the ring's stamp).
pub(crate) const RING: usize = 4096;

/// An unbounded FIFO queue of jobs for a pool's workers, closed once
/// (no more pushes; takers drain what is left).
pub(crate) struct JobQueue<T> {
    receiver: Receiver<T>,
    /// Refill the ring from the overflow once it holds this few jobs: in
    /// bulk, not a lock per job taken.
    low_water: usize,
    /// Whether the overflow holds any job: read without the lock by every
    /// taker, to see whether the ring needs refilling. Written under the
    /// lock, and only when it changes, so that it stays in the takers'
    /// caches while the submitter pushes.
    overflowing: AtomicBool,
    /// Locked by every push; on a cache line of its own, so that the
    /// submitting thread's lock and unlock do not take from the takers
    /// the line they read on every take.
    state: CachePadded<Mutex<State<T>>>,
}

struct State<T> {
    /// `None` once closed: dropping it is what tells the blocked takers.
    sender: Option<Sender<T>>,
    /// Jobs that found the ring full, oldest first; all of them newer
    /// than every job in the ring.
    overflow: VecDeque<T>,
}

impl<T> JobQueue<T> {
    /// An empty queue whose ring holds `ring` jobs.
    pub(crate) fn new(ring: usize) -> JobQueue<T> {
        let (sender, receiver) = crossbeam_channel::bounded(ring);
        JobQueue {
            receiver,
            low_water: ring / 2,
            overflowing: AtomicBool::new(false),
            state: CachePadded::new(Mutex::new(State {
                sender: Some(sender),
                overflow: VecDeque::new(),
            })),
        }
    }

    /// Adds a job, then runs `while_locked` before another push can start
    /// (the pool decides there whether to start a thread).
    ///
    /// # Errors
    ///
    /// Gives the job back if the queue is closed.
    pub(crate) fn push_then(&self, job: T, while_locked: impl FnOnce()) -> Result<(), T> {
        let mut state = self.state.lock();
        let Some(sender) = &state.sender else {
            return Err(job);
        };
        let overflowed = if state.overflow.is_empty() {
            // (Never disconnected: the queue holds its own receiver.)
            match sender.try_send(job) {
                Ok(()) => None,
                Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) => Some(job),
            }
        } else {
            Some(job)
        };
        if let Some(job) = overflowed {
            state.overflow.push_back(job);
            if !self.overflowing.load(Ordering::Relaxed) {
                self.note_overflow(&state);
                // A taker may have made room just before the flag was
                // visible, and seen nothing overflowing: the fence pairs
                // with the one in `take`, so that either it sees the flag
                // or this sees its room. (While the flag stays set, every
                // taker that drains the ring to low water sees it.)
                fence(Ordering::SeqCst);
                self.refill(&mut state);
            }
        }
        while_locked();
        Ok(())
    }

    /// Takes the oldest job, waiting for one; `None` once the queue is
    /// closed and empty.
    pub(crate) fn take(&self) -> Option<T> {
        match self.receiver.recv() {
            Ok(job) => {
                fence(Ordering::SeqCst);
                // The taker that empties the ring always looks, so a job
                // never waits in the overflow while the workers sleep.
                if self.overflowing.load(Ordering::Relaxed) && self.receiver.len() <= self.low_water
                {
                    self.refill(&mut self.state.lock());
                }
                Some(job)
            }
            // Closed, and the ring is empty: what is left is in the
            // overflow (nothing moves into the ring after closing).
            Err(_) => self.take_overflow(),
        }
    }

    /// Takes the oldest job if there is one now.
    pub(crate) fn try_take(&self) -> Option<T> {
        self.receiver
            .try_recv()
            .ok()
            .or_else(|| self.take_overflow())
    }

    fn take_overflow(&self) -> Option<T> {
        let mut state = self.state.lock();
        let job = state.overflow.pop_front();
        self.note_overflow(&state);
        job
    }

    /// Moves the overflow's oldest jobs into the ring while it has room
    /// (none once closed: takers then drain the overflow themselves).
    fn refill(&self, state: &mut State<T>) {
        let Some(sender) = &state.sender else {
            return;
        };
        while let Some(job) = state.overflow.pop_front() {
            if let Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) =
                sender.try_send(job)
            {
                state.overflow.push_front(job);
                break;
            }
        }
        self.note_overflow(state);
    }

    /// Sets [`overflowing`](JobQueue::overflowing) to whether the overflow
    /// holds a job, if that changed. Called with the lock held (only lock
    /// holders write the flag).
    fn note_overflow(&self, state: &State<T>) {
        let overflowing = !state.overflow.is_empty();
        if self.overflowing.load(Ordering::Relaxed) != overflowing {
            self.overflowing.store(overflowing, Ordering::SeqCst);
        }
    }

    /// Refuses every push from now on; takers drain what is queued, then
    /// get `None`.
    pub(crate) fn close(&self) {
        self.state.lock().sender = None;
    }

    /// How many jobs wait; a snapshot.
    pub(crate) fn len(&self) -> usize {
        self.receiver.len() + self.state.lock().overflow.len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::thread;
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn jobs_past_the_ring_wait_in_order_behind_it() {
        let jobs = JobQueue::new(2);
        for n in 0..100 {
            jobs.push_then(n, || {}).unwrap();
        }
        assert_eq!(jobs.len(), 100);
        let taken: Vec<u32> = (0..100).map(|_| jobs.take().unwrap()).collect();
        assert_eq!(taken, (0..100).collect::<Vec<_>>());
        assert_eq!(jobs.len(), 0);
    }

    #[test]
    fn a_closed_queue_refuses_pushes_and_drains_the_ring_then_the_overflow() {
        let jobs = JobQueue::new(2);
        for n in 0..10 {
            jobs.push_then(n, || {}).unwrap();
        }
        jobs.close();
        assert_eq!(jobs.push_then(10, || unreachable!()), Err(10));
        assert_eq!(jobs.try_take(), Some(0));
        let rest: Vec<u32> = std::iter::from_fn(|| jobs.take()).collect();
        assert_eq!(rest, (1..10).collect::<Vec<_>>());
        assert_eq!(jobs.try_take(), None);
    }

    #[test]
    fn many_pushers_and_takers_through_a_tiny_ring_lose_nothing_and_keep_each_pushers_order() {
        const PUSHERS: usize = 3;
        const EACH: usize = 20_000;
        let jobs = JobQueue::new(4);
        let taken_so_far = AtomicUsize::new(0);
        let taken: Vec<Vec<(usize, usize)>> = thread::scope(|scope| {
            let takers: Vec<_> = (0..3)
                .map(|_| {
                    scope.spawn(|| {
                        std::iter::from_fn(|| jobs.take())
                            .inspect(|_| {
                                taken_so_far.fetch_add(1, Ordering::SeqCst);
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            let pushers: Vec<_> = (0..PUSHERS)
                .map(|p| {
                    let jobs = &jobs;
                    scope.spawn(move || {
                        for n in 0..EACH {
                            jobs.push_then((p, n), || {}).unwrap();
                        }
                    })
                })
                .collect();
            for pusher in pushers {
                pusher.join().unwrap();
            }
            // Every job must reach a taker while the queue is open: closing
            // would let the takers drain the overflow and hide a job left
            // there while they slept on the empty ring.
            let deadline = Instant::now() + Duration::from_secs(60);
            while taken_so_far.load(Ordering::SeqCst) < PUSHERS * EACH {
                assert!(Instant::now() < deadline, "a job was left in the overflow");
                thread::sleep(Duration::from_millis(1));
            }
            jobs.close();
            takers.into_iter().map(|t| t.join().unwrap()).collect()
        });
        for one_taker in &taken {
            let mut last = [None; PUSHERS];
            for &(p, n) in one_taker {
                assert!(
                    last[p] < Some(n),
                    "pusher {p}'s job {n} after {:?}",
                    last[p]
                );
                last[p] = Some(n);
            }
        }
        let mut all: Vec<_> = taken.concat();
        all.sort_unstable();
        let expected: Vec<_> = (0..PUSHERS)
            .flat_map(|p| (0..EACH).map(move |n| (p, n)))
            .collect();
        assert_eq!(all, expected, "every job exactly once");
    }
}
