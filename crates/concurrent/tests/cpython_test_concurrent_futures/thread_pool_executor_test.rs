use super::*;

#[test]
fn test_submit() {
    let executor = ThreadPoolExecutor::new(5);
    let future = executor.submit(u64::pow, (2, 8)).unwrap();
    assert_eq!(future.result(), Ok(256));
}

#[test]
fn test_map() {
    let executor = ThreadPoolExecutor::new(5);
    let results: Vec<u64> = Executor::map(&executor, u64::pow, (0..10u64).zip(0..10u32))
        .collect::<Result<_, _>>()
        .unwrap();
    let expected: Vec<u64> = (0..10u64).zip(0..10u32).map(|(x, y)| x.pow(y)).collect();
    assert_eq!(results, expected);
    // Python's second run passes chunksize=3, which a thread pool
    // ignores; the thread pool's map has no chunksize to pass.
    let again: Vec<u64> = Executor::map(&executor, u64::pow, (0..10u64).zip(0..10u32))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(again, expected);
}

#[test]
fn test_map_exception() {
    let executor = ThreadPoolExecutor::new(5);
    let mut i = Executor::map(&executor, divmod, [(1, 2), (1, 3), (1, 0), (1, 5)]);
    assert_eq!(i.next(), Some(Ok((0, 1))));
    assert_eq!(i.next(), Some(Ok((0, 1))));
    assert!(
        matches!(i.next(), Some(Err(TaskError::Panicked(message))) if message.contains("divide by zero"))
    );
}

#[test]
fn test_map_timeout() {
    let executor = ThreadPoolExecutor::new(5);
    // Python sleeps 0, 0 and 6 s with a 5 s timeout; here the third
    // task waits until the test releases it, so it cannot beat the
    // timeout however slow or fast the machine is.
    let (release, gate) = crossbeam_channel::unbounded::<()>();
    let sleep = move |wait: bool| {
        if wait {
            let _ = gate.recv();
        }
    };
    let mut results = Vec::new();
    for result in Executor::map(&executor, sleep, [(false,), (false,), (true,)])
        .timeout(Duration::from_millis(100))
    {
        results.push(result);
    }
    drop(release);
    assert_eq!(results, [Ok(()), Ok(()), Err(TaskError::TimedOut)]);
}

#[test]
fn test_map_timeout_leaves_the_iterator_exhausted() {
    // The second half of CPython's test_map_timeout: "The remaining
    // calls are cancelled, so the iterator is exhausted."
    let executor = ThreadPoolExecutor::new(5);
    let (release, gate) = crossbeam_channel::unbounded::<()>();
    let sleep = move |wait: bool| {
        if wait {
            let _ = gate.recv();
        }
    };
    let mut i = Executor::map(&executor, sleep, [(false,), (false,), (true,), (false,)])
        .timeout(Duration::from_millis(100));
    let results: Vec<_> = i.by_ref().take_while(Result::is_ok).collect();
    assert!(results.len() <= 2);
    assert_eq!(i.next(), None);
    assert_eq!(i.next(), None);
    drop(release);
}

#[test]
fn test_shutdown_race_issue12456() {
    let executor = ThreadPoolExecutor::new(5);
    let _ = Executor::map(&executor, |n: i32| n.to_string(), [(2,); 6]);
    executor.shutdown(true, false);
}

#[test]
fn test_no_stale_references() {
    // Issue #16284: the executor must not keep what a finished task held.
    let executor = ThreadPoolExecutor::new(5);
    let my_object = Arc::new(());
    let held = Arc::clone(&my_object);
    drop(executor.spawn(move || drop(held)).unwrap()); // discard the handle
    executor.shutdown(true, false);
    assert_eq!(
        Arc::strong_count(&my_object),
        1,
        "stale reference not released"
    );
}

#[test]
fn test_free_reference() {
    // Issue #14406: the result iterator keeps no reference to results.
    let executor = ThreadPoolExecutor::new(5);
    for obj in Executor::map(&executor, |_: i32| Arc::new(()), (0..10).map(|n| (n,))) {
        let obj = obj.unwrap();
        assert_eq!(Arc::strong_count(&obj), 1);
    }
}

#[test]
fn test_map_submits_without_iteration() {
    // Issue 11777: map starts the work without waiting for iteration.
    let executor = ThreadPoolExecutor::new(5);
    let finished = Arc::new(Mutex::new(Vec::new()));
    let record = {
        let finished = Arc::clone(&finished);
        move |n: i32| finished.lock().unwrap().push(n)
    };
    let _ = Executor::map(&executor, record, (0..10).map(|n| (n,)));
    executor.shutdown(true, false);
    let mut finished = finished.lock().unwrap().clone();
    finished.sort();
    assert_eq!(finished, (0..10).collect::<Vec<_>>());
}

#[test]
fn test_default_workers() {
    let executor = ThreadPoolExecutor::default();
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    assert_eq!(executor.max_workers(), 32.min(cpus + 4));
}

#[test]
fn test_saturation() {
    let executor = ThreadPoolExecutor::new(4);
    let (release, gate) = crossbeam_channel::unbounded::<()>();
    for _ in 0..15 * executor.max_workers() {
        let gate = gate.clone();
        executor.spawn(move || gate.recv().unwrap()).unwrap();
    }
    assert_eq!(executor.thread_count(), executor.max_workers());
    for _ in 0..15 * executor.max_workers() {
        release.send(()).unwrap();
    }
    executor.shutdown(true, false);
}

#[test]
#[should_panic(expected = "max_workers must be greater than 0")]
fn test_max_workers_negative() {
    let _ = ThreadPoolExecutor::new(0);
}

#[test]
fn test_map_buffersize() {
    let executor = ThreadPoolExecutor::new(5);
    for buffersize in [1, 2, 4, 8] {
        let buffersize = NonZeroUsize::new(buffersize).unwrap();
        let res = executor.map_buffered(|n: i32| n.to_string(), (0..4).map(|n| (n,)), buffersize);
        assert_eq!(
            res.collect::<Result<Vec<_>, _>>().unwrap(),
            ["0", "1", "2", "3"]
        );
    }
}

#[test]
fn test_map_buffersize_on_multiple_iterables() {
    let executor = ThreadPoolExecutor::new(5);
    for buffersize in [1, 2, 4, 8] {
        let buffersize = NonZeroUsize::new(buffersize).unwrap();
        let res = executor.map_buffered(|a: i32, b: i32| a + b, (0..4).zip(0..4), buffersize);
        assert_eq!(res.collect::<Result<Vec<_>, _>>().unwrap(), [0, 2, 4, 6]);
    }
}

#[test]
fn test_map_buffersize_on_infinite_iterable() {
    let executor = ThreadPoolExecutor::new(5);
    let two = NonZeroUsize::new(2).unwrap();
    let mut res = executor.map_buffered(|n: u64| n.to_string(), (0..).map(|n| (n,)), two);
    assert_eq!(res.next(), Some(Ok("0".to_owned())));
    assert_eq!(res.next(), Some(Ok("1".to_owned())));
    assert_eq!(res.next(), Some(Ok("2".to_owned())));
}

#[test]
fn test_map_buffersize_on_multiple_infinite_iterables() {
    let executor = ThreadPoolExecutor::new(5);
    let two = NonZeroUsize::new(2).unwrap();
    let mut res = executor.map_buffered(|a: u64, b: u64| a + b, (0..).zip(0..), two);
    assert_eq!(res.next(), Some(Ok(0)));
    assert_eq!(res.next(), Some(Ok(2)));
    assert_eq!(res.next(), Some(Ok(4)));
}

#[test]
fn test_map_buffersize_on_empty_iterable() {
    let executor = ThreadPoolExecutor::new(5);
    let two = NonZeroUsize::new(2).unwrap();
    let mut res = executor.map_buffered(|n: i32| n.to_string(), std::iter::empty::<(i32,)>(), two);
    assert_eq!(res.next(), None);
}

#[test]
fn test_map_buffersize_when_buffer_is_full() {
    let executor = ThreadPoolExecutor::new(5);
    let mut ints = (0..4).map(|n| (n,));
    let buffersize = NonZeroUsize::new(2).unwrap();
    // Changed: the map borrows `ints` and the executor, so it is dropped
    // before the shutdown (which also cancels what has not started; the
    // test is about how many items were taken).
    drop(executor.map_buffered(|n: i32| n.to_string(), ints.by_ref(), buffersize));
    executor.shutdown(true, false);
    assert_eq!(
        ints.next(),
        Some((2,)),
        "should have fetched only `buffersize` elements from `ints`"
    );
}

#[test]
fn test_idle_thread_reuse() {
    let executor = ThreadPoolExecutor::default();
    executor.submit(mul, (21, 2)).unwrap().result().unwrap();
    executor.submit(mul, (6, 7)).unwrap().result().unwrap();
    executor.submit(mul, (3, 14)).unwrap().result().unwrap();
    assert_eq!(executor.thread_count(), 1);
    executor.shutdown(true, false);
}

#[test]
fn test_executor_map_current_future_cancel() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let (stop, stopped) = crossbeam_channel::unbounded::<()>();
    let log_n_wait = {
        let log = Arc::clone(&log);
        move |ident: &'static str| {
            log.lock().unwrap().push(format!("{ident} started"));
            let _ = stopped.recv();
            log.lock().unwrap().push(format!("{ident} stopped"));
        }
    };
    {
        let pool = ThreadPoolExecutor::new(1);
        // Saturate the pool.
        let fut = pool.submit(log_n_wait.clone(), ("first",)).unwrap();
        {
            let mut results =
                Executor::map(&pool, log_n_wait, [("second",), ("third",)]).timeout(Duration::ZERO);
            assert_eq!(results.next(), Some(Err(TaskError::TimedOut)));
        }
        drop(stop);
        fut.result().unwrap();
    }
    // "second" was cancelled by the timeout, "third" because it was
    // still in the map's collection of tasks.
    assert_eq!(*log.lock().unwrap(), ["first started", "first stopped"]);
}
