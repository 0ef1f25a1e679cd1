use super::*;

#[test]
fn test_20369() {
    let executor = ThreadPoolExecutor::new(5);
    let future = executor.submit(mul, (1, 2)).unwrap();
    let (done, not_done) = wait([&future, &future], None, ReturnWhen::AllCompleted);
    assert_eq!(done, [&future]);
    assert!(not_done.is_empty());
}

#[test]
fn test_first_completed() {
    let executor = ThreadPoolExecutor::new(5);
    let cancelled = states::cancelled();
    let future1 = executor.submit(mul, (21, 2)).unwrap();
    let (event, future2) = Event::new(&executor, 0);
    // Python's CANCELLED_FUTURE is a future whose cancellation has not
    // been announced yet, which `wait` does not count as done. Ours are
    // announced at once, so it counts; let future1 finish first so the
    // split is deterministic.
    future1.result().unwrap();
    let (done, not_done) = wait(
        [&cancelled, &future1, &future2],
        None,
        ReturnWhen::FirstCompleted,
    );
    assert_eq!(done, [&cancelled, &future1]);
    assert_eq!(not_done, [&future2]);
    event.set();
    future2.result().unwrap();
}

#[test]
fn test_first_completed_some_already_completed() {
    let executor = ThreadPoolExecutor::new(5);
    let (event, future1) = Event::new(&executor, 0);
    let (cancelled, successful) = (states::cancelled(), states::successful());
    let (finished, pending) = wait(
        [&cancelled, &successful, &future1],
        None,
        ReturnWhen::FirstCompleted,
    );
    assert_eq!(finished, [&cancelled, &successful]);
    assert_eq!(pending, [&future1]);
    event.set();
    future1.result().unwrap();
}

#[test]
fn test_first_exception() {
    let executor = ThreadPoolExecutor::new(5);
    let (event1, gate1) = mpsc::channel::<()>();
    let future1 = executor.submit(mul, (2, 21)).unwrap();
    let future2 = executor
        .spawn(move || {
            let _ = gate1.recv();
            panic!("this is an exception")
        })
        .unwrap();
    let (event2, future3) = Event::new(&executor, 0);
    // Make sure future1 is done before future2 fails.
    future1.result().unwrap();
    drop(event1);
    let (finished, pending) = wait(
        [&future1, &future2, &future3],
        None,
        ReturnWhen::FirstException,
    );
    assert_eq!(finished, [&future1, &future2]);
    assert_eq!(pending, [&future3]);
    event2.set();
    future3.result().unwrap();
}

#[test]
fn test_first_exception_some_already_complete() {
    let executor = ThreadPoolExecutor::new(5);
    let future1 = executor.spawn(|| divmod(21, 0).0).unwrap();
    let (event, future2) = Event::new(&executor, 0);
    let (successful, cancelled) = (states::successful(), states::cancelled());
    let (finished, pending) = wait(
        [&successful, &cancelled, &future1, &future2],
        None,
        ReturnWhen::FirstException,
    );
    assert_eq!(finished, [&successful, &cancelled, &future1]);
    assert_eq!(pending, [&future2]);
    event.set();
    future2.result().unwrap();
}

#[test]
fn test_first_exception_one_already_failed() {
    let executor = ThreadPoolExecutor::new(5);
    let (event, future1) = Event::new(&executor, 0);
    let exception = states::exception();
    let (finished, pending) = wait([&exception, &future1], None, ReturnWhen::FirstException);
    assert_eq!(finished, [&exception]);
    assert_eq!(pending, [&future1]);
    event.set();
    future1.result().unwrap();
}

#[test]
fn test_all_completed() {
    let executor = ThreadPoolExecutor::new(5);
    let future1 = executor.spawn(|| divmod(2, 0).0).unwrap();
    let future2 = executor.submit(mul, (2, 21)).unwrap();
    let (successful, cancelled, exception) = (
        states::successful(),
        states::cancelled(),
        states::exception(),
    );
    let all = [&successful, &cancelled, &exception, &future1, &future2];
    let (finished, pending) = wait(all, None, ReturnWhen::AllCompleted);
    assert_eq!(finished, all);
    assert!(pending.is_empty());
}

#[test]
fn test_timeout() {
    let executor = ThreadPoolExecutor::new(5);
    let (event, future) = Event::new(&executor, 0);
    let (cancelled, exception, successful) = (
        states::cancelled(),
        states::exception(),
        states::successful(),
    );
    let (finished, pending) = wait(
        [&cancelled, &exception, &successful, &future],
        Some(Duration::from_millis(50)),
        ReturnWhen::AllCompleted,
    );
    assert_eq!(finished, [&cancelled, &exception, &successful]);
    assert_eq!(pending, [&future]);
    event.set();
    future.result().unwrap();
}

#[test]
fn test_pending_calls_race() {
    // Issue #14406: a race when waiting on all futures.
    let executor = ThreadPoolExecutor::new(5);
    let barrier = Arc::new(Barrier::new(1));
    let fs: Vec<_> = (0..100)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            executor
                .spawn(move || {
                    barrier.wait();
                })
                .unwrap()
        })
        .collect();
    let (done, not_done) = wait(&fs, None, ReturnWhen::AllCompleted);
    assert_eq!((done.len(), not_done.len()), (100, 0));
}
