//! `test_init.py`: `InitializerMixin` and `FailingInitializerMixin`
//! with the thread pool (`BrokenThreadPool` is [`TaskError::Broken`]).
//! Python's status is a global that each worker thread's initializer
//! sets; here it is per thread, which also shows that every thread
//! that ran a task ran the initializer first.
use std::cell::RefCell;

use concurrent::ThreadPoolExecutor;

use super::*;

thread_local! {
    static INITIALIZER_STATUS: RefCell<&'static str> = const { RefCell::new("uninitialized") };
}

fn init(x: &'static str) {
    INITIALIZER_STATUS.with(|status| *status.borrow_mut() = x);
}

fn get_init_status() -> &'static str {
    INITIALIZER_STATUS.with(|status| *status.borrow())
}

fn init_fail() {
    panic!("error in initializer");
}

#[test]
fn test_initializer() {
    let worker_count = 5;
    let executor = ThreadPoolExecutor::builder()
        .max_workers(worker_count)
        .initializer(init, ("initialized",))
        .build();
    let futures: Vec<_> = (0..worker_count)
        .map(|_| executor.spawn(get_init_status).unwrap())
        .collect();
    for f in futures {
        assert_eq!(f.result(), Ok("initialized"));
    }
}

#[test]
fn test_failing_initializer() {
    let executor = ThreadPoolExecutor::builder()
        .max_workers(2)
        .initializer(init_fail, ())
        .build();
    match executor.spawn(get_init_status) {
        // Perhaps the executor is already broken.
        Err(TaskError::Broken(_)) => {}
        Ok(future) => assert!(matches!(future.result(), Err(TaskError::Broken(_)))),
        Err(other) => panic!("{other:?}"),
    }
    // At some point, the executor should break...
    let started = std::time::Instant::now();
    while executor.broken().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "executor not broken"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(
        executor.broken().as_deref(),
        Some("A thread initializer failed, the thread pool is not usable anymore")
    );
    // ... and from this point submit() is guaranteed to fail.
    assert!(matches!(
        executor.spawn(get_init_status),
        Err(TaskError::Broken(_))
    ));
}
