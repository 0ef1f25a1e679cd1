//! A small number for each live thread, unique among the threads alive at
//! once and handed to a new thread when one exits: the index of the
//! thread's own task counts in every queue ([`super::tasks`]).
//!
//! The hot paths (`put`, `get`, `task_done`) need "this thread's counts
//! for this queue" on every item. A thread-local cache keyed by queue
//! costs a lookup each time; a number the queue can index with costs one
//! read of a thread-local integer that has no destructor (so the read
//! needs no check of whether the thread is exiting). Numbers are reused
//! lowest first, so a process's numbers stay about as small as its count
//! of threads alive at once.
//!
//! Whoever takes over a number takes over the counts behind it, which is
//! what lets a queue keep no per-thread registry: counts are never moved
//! or removed, only added to. The number passes from an exiting thread to
//! the next through [`POOL`]'s lock, which orders the old owner's last
//! write before the new owner's first.

use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use parking_lot::Mutex;

/// Not asked for yet.
const UNASSIGNED: usize = usize::MAX;
/// Given back: the thread is exiting, or its thread-local storage could
/// not hold the guard that gives the number back.
const GONE: usize = usize::MAX - 1;

thread_local! {
    /// This thread's number, or [`UNASSIGNED`] or [`GONE`].
    static NUMBER: Cell<usize> = const { Cell::new(UNASSIGNED) };
    /// Gives the number back when the thread exits.
    static OWNER: Owner = Owner::take();
}

/// The numbers of threads that have exited, for the next threads.
static POOL: Mutex<Pool> = Mutex::new(Pool::new());

/// The calling thread's number; `None` once it has given it back (from a
/// thread-local destructor) or when it cannot keep one.
#[inline]
pub(crate) fn current() -> Option<usize> {
    match NUMBER.get() {
        UNASSIGNED => assign(),
        GONE => None,
        number => Some(number),
    }
}

#[cold]
fn assign() -> Option<usize> {
    // Creating the owner takes the number; creating it fails if the
    // thread's thread-local storage is being torn down.
    if OWNER.try_with(|_| ()).is_err() {
        NUMBER.set(GONE);
    }
    current()
}

/// Holds the thread's number and gives it back on exit.
struct Owner(usize);

impl Owner {
    fn take() -> Owner {
        let number = POOL.lock().take();
        NUMBER.set(number);
        Owner(number)
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        // Anything this thread counts from now on (a queue used from
        // another thread-local's destructor) goes to the shared counts.
        NUMBER.set(GONE);
        POOL.lock().give_back(self.0);
    }
}

/// Which numbers are free: everything from `next` on, and those given
/// back.
struct Pool {
    next: usize,
    given_back: BinaryHeap<Reverse<usize>>,
}

impl Pool {
    const fn new() -> Pool {
        Pool {
            next: 0,
            given_back: BinaryHeap::new(),
        }
    }

    /// The smallest free number.
    fn take(&mut self) -> usize {
        match self.given_back.pop() {
            Some(Reverse(number)) => number,
            None => {
                self.next += 1;
                self.next - 1
            }
        }
    }

    fn give_back(&mut self, number: usize) {
        self.given_back.push(Reverse(number));
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::Barrier;
    use std::thread;

    use super::*;

    #[test]
    fn numbers_are_reused_smallest_first() {
        let mut pool = Pool::new();
        assert_eq!([pool.take(), pool.take(), pool.take()], [0, 1, 2]);
        pool.give_back(2);
        pool.give_back(0);
        assert_eq!([pool.take(), pool.take(), pool.take()], [0, 2, 3]);
    }

    #[test]
    fn threads_alive_at_once_have_different_numbers_and_keep_them() {
        let all_here = Barrier::new(8);
        let numbers: HashSet<usize> = thread::scope(|scope| {
            let threads: Vec<_> = (0..8)
                .map(|_| {
                    scope.spawn(|| {
                        let number = current().unwrap();
                        all_here.wait();
                        assert_eq!(current(), Some(number));
                        number
                    })
                })
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });
        assert_eq!(numbers.len(), 8);
    }
}
