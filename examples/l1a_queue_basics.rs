//! Lesson "The Producer / Consumer model", *the basic methods of a Queue*,
//! each Python line followed by its Rust counterpart.
//!
//! ```python
//! q = Queue(); q.empty(); q.put('A'); ...; q.get()
//! q.get(block=False)      # raises queue.Empty
//! q.get(timeout=1)        # raises queue.Empty after a second
//! q = Queue(maxsize=1); q.put('A'); q.put('B', block=False)   # raises queue.Full
//! ```
//!
//! Where Python raises an exception, Rust returns an error value, and a
//! `put` that fails hands the item back.

use std::time::Duration;

use concurrent::{GetTimeoutError, Queue, TryGetError, TryPutError};

fn main() {
    let q = Queue::new(0);
    println!("q.empty() -> {}", q.empty());
    for item in ["A", "B", "C"] {
        q.put(item).unwrap();
    }
    println!("q.empty() -> {}", q.empty());
    println!("q.qsize() -> {}", q.qsize());
    for _ in 0..3 {
        println!("q.get() -> {:?}", q.get().unwrap());
    }
    println!("q.empty() -> {}", q.empty());

    // An empty queue: `get()` would block until something is put; these
    // return instead.
    assert_eq!(q.get_nowait(), Err(TryGetError::Empty));
    println!("q.get_nowait() -> Err(Empty)        (Python: q.get(block=False) raises queue.Empty)");
    assert_eq!(
        q.get_timeout(Duration::from_millis(100)),
        Err(GetTimeoutError::Timeout)
    );
    println!(
        "q.get_timeout(0.1 s) -> Err(Timeout) (Python: q.get(timeout=0.1) raises queue.Empty)"
    );

    // A bounded queue: when full, `put()` would block; these return.
    let q = Queue::new(1);
    q.put("A").unwrap();
    println!("q.qsize() -> {}", q.qsize());
    assert_eq!(q.put_nowait("B"), Err(TryPutError::Full("B")));
    println!(
        "q.put_nowait(\"B\") -> Err(Full(\"B\"))  (Python: q.put('B', block=False) raises queue.Full)"
    );
    match q.put_timeout("B", Duration::from_millis(100)) {
        Err(error) => println!("q.put_timeout(\"B\", 0.1 s) -> Err({error})"),
        Ok(()) => unreachable!("the queue is full"),
    }

    // Tracking work done: every get() is matched by a task_done().
    let q = Queue::new(0);
    q.put("task").unwrap();
    let task = q.get().unwrap();
    println!("working on {task:?}...");
    q.task_done().unwrap();
    q.join(); // returns at once: every task is done
    println!("q.join() returned: all work done");
    println!("one task_done() too many -> {}", q.task_done().unwrap_err());
}
