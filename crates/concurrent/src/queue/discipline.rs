//! Where a queue's items wait, and in which order they come out: the one
//! part that differs between [`Queue`](super::Queue),
//! [`LifoQueue`](super::LifoQueue) and
//! [`PriorityQueue`](super::PriorityQueue).
//!
//! A FIFO queue is the one that carries producer/consumer pipelines, so
//! its store is lock-free: a ring of fixed size when it is bounded (one
//! slot per item, allocated up front), a linked list of blocks when it is
//! not. The LIFO and priority stores are a `Vec` and a heap behind a
//! mutex held only for the push or pop itself.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crossbeam_queue::{ArrayQueue, SegQueue};
use parking_lot::Mutex;

/// The largest bound for which a FIFO queue allocates its ring up front;
/// above it, items go in a linked list and the bound is kept by counting.
pub(crate) const RING_LIMIT: usize = 1 << 16;

/// The order in which a [`Queue`](super::Queue) hands items out, and where
/// the items wait meanwhile. Implemented by `Fifo`, `Lifo` and
/// `Priority` (the orders of [`Queue`](super::Queue),
/// [`LifoQueue`](super::LifoQueue) and
/// [`PriorityQueue`](super::PriorityQueue)) for items that can be sent between threads (a queue is
/// for passing them); its methods are the queues' business, not a
/// caller's. Sealed: those three are all there is, so its hidden methods
/// can change without breaking anyone.
pub trait Discipline<T>: sealed::Sealed {
    /// Where the items wait; shared by every thread using the queue.
    #[doc(hidden)]
    type Store: Send + Sync;
    /// An empty store for a queue of at most `maxsize` items (`0`: no
    /// bound).
    #[doc(hidden)]
    fn store(maxsize: usize) -> Self::Store;
    /// Adds `item`, or gives it back if the store already holds `maxsize`
    /// items (`0`: no bound).
    #[doc(hidden)]
    fn try_push(store: &Self::Store, item: T, maxsize: usize) -> Result<(), T>;
    /// Takes the next item, if any.
    #[doc(hidden)]
    fn pop(store: &Self::Store) -> Option<T>;
    /// How many items wait; a snapshot.
    #[doc(hidden)]
    fn len(store: &Self::Store) -> usize;
    /// The largest bound the store can keep (`None`: any, including none).
    #[doc(hidden)]
    fn capacity(store: &Self::Store) -> Option<usize>;
}

mod sealed {
    /// Implemented only here: no discipline outside this crate.
    pub trait Sealed {}
    impl Sealed for super::Fifo {}
    impl Sealed for super::Lifo {}
    impl Sealed for super::Priority {}
}

/// First in, first out ([`Queue`](super::Queue)).
#[derive(Debug)]
pub enum Fifo {}

/// Last in, first out ([`LifoQueue`](super::LifoQueue)).
#[derive(Debug)]
pub enum Lifo {}

/// Smallest first ([`PriorityQueue`](super::PriorityQueue)), as Python's
/// `heapq` orders them.
#[derive(Debug)]
pub enum Priority {}

/// A FIFO queue's items.
#[doc(hidden)]
pub struct FifoStore<T> {
    items: FifoItems<T>,
    /// Held by putters only when the bound is not the ring's own size (a
    /// shrunk bound, or a bound on the list), so that checking the length
    /// and pushing are one step; getters never take it, as they only make
    /// room.
    put_lock: Mutex<()>,
}

enum FifoItems<T> {
    Ring(ArrayQueue<T>),
    List(SegQueue<T>),
}

impl<T: Send> Discipline<T> for Fifo {
    type Store = FifoStore<T>;

    fn store(maxsize: usize) -> FifoStore<T> {
        let items = if (1..=RING_LIMIT).contains(&maxsize) {
            FifoItems::Ring(ArrayQueue::new(maxsize))
        } else {
            FifoItems::List(SegQueue::new())
        };
        FifoStore {
            items,
            put_lock: Mutex::new(()),
        }
    }

    fn try_push(store: &FifoStore<T>, item: T, maxsize: usize) -> Result<(), T> {
        match &store.items {
            // The fast paths: the ring's size is the bound, or no bound.
            FifoItems::Ring(ring) if ring.capacity() == maxsize => ring.push(item),
            FifoItems::List(list) if maxsize == 0 => {
                list.push(item);
                Ok(())
            }
            items => {
                let _putting = store.put_lock.lock();
                if items.len() >= maxsize {
                    return Err(item);
                }
                match items {
                    FifoItems::Ring(ring) => ring.push(item),
                    FifoItems::List(list) => {
                        list.push(item);
                        Ok(())
                    }
                }
            }
        }
    }

    fn pop(store: &FifoStore<T>) -> Option<T> {
        match &store.items {
            FifoItems::Ring(ring) => ring.pop(),
            FifoItems::List(list) => list.pop(),
        }
    }

    fn len(store: &FifoStore<T>) -> usize {
        store.items.len()
    }

    fn capacity(store: &FifoStore<T>) -> Option<usize> {
        match &store.items {
            FifoItems::Ring(ring) => Some(ring.capacity()),
            FifoItems::List(_) => None,
        }
    }
}

impl<T> FifoItems<T> {
    fn len(&self) -> usize {
        match self {
            FifoItems::Ring(ring) => ring.len(),
            FifoItems::List(list) => list.len(),
        }
    }
}

impl<T: Send> Discipline<T> for Lifo {
    type Store = Mutex<Vec<T>>;

    fn store(_maxsize: usize) -> Mutex<Vec<T>> {
        Mutex::default()
    }

    fn try_push(store: &Mutex<Vec<T>>, item: T, maxsize: usize) -> Result<(), T> {
        let mut items = store.lock();
        if maxsize > 0 && items.len() >= maxsize {
            return Err(item);
        }
        items.push(item);
        Ok(())
    }

    fn pop(store: &Mutex<Vec<T>>) -> Option<T> {
        store.lock().pop()
    }

    fn len(store: &Mutex<Vec<T>>) -> usize {
        store.lock().len()
    }

    fn capacity(_store: &Mutex<Vec<T>>) -> Option<usize> {
        None
    }
}

impl<T: Ord + Send> Discipline<T> for Priority {
    // `BinaryHeap` is a max-heap; Python's PriorityQueue gives the smallest.
    type Store = Mutex<BinaryHeap<Reverse<T>>>;

    fn store(_maxsize: usize) -> Self::Store {
        Mutex::default()
    }

    fn try_push(store: &Self::Store, item: T, maxsize: usize) -> Result<(), T> {
        let mut items = store.lock();
        if maxsize > 0 && items.len() >= maxsize {
            return Err(item);
        }
        items.push(Reverse(item));
        Ok(())
    }

    fn pop(store: &Self::Store) -> Option<T> {
        store.lock().pop().map(|Reverse(item)| item)
    }

    fn len(store: &Self::Store) -> usize {
        store.lock().len()
    }

    fn capacity(_store: &Self::Store) -> Option<usize> {
        None
    }
}
