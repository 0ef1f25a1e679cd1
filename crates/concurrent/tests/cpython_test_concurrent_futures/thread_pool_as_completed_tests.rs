use super::*;

#[test]
fn test_no_timeout() {
    let executor = ThreadPoolExecutor::new(5);
    let future1 = executor.submit(mul, (2, 21)).unwrap();
    let future2 = executor.submit(mul, (7, 6)).unwrap();
    let (cancelled, exception, successful) = (
        states::cancelled(),
        states::exception(),
        states::successful(),
    );
    let all = [&cancelled, &exception, &successful, &future1, &future2];
    let mut completed: Vec<&TaskHandle<i32>> =
        as_completed(all, None).map(Result::unwrap).collect();
    assert_eq!(completed.len(), 5);
    for handle in all {
        assert!(completed.contains(&handle));
    }
    completed.dedup();
    assert_eq!(completed.len(), 5);
}

#[test]
fn test_correct_timeout_exception_msg() {
    let (cancelled, pending, running, successful) = (
        states::cancelled(),
        states::pending(),
        states::running(),
        states::successful(),
    );
    let futures_list = [&cancelled, &pending, &running, &successful];
    let error = as_completed(futures_list, Some(Duration::ZERO))
        .find_map(Result::err)
        .expect("a timeout");
    assert_eq!(error.to_string(), "2 (of 4) futures unfinished");
}

#[test]
fn test_future_times_out() {
    // Python's as_completed over already-completed futures plus one
    // that outlives the timeout, for timeouts of 0 and 100 ms.
    for timeout in [Duration::ZERO, Duration::from_millis(100)] {
        let executor = ThreadPoolExecutor::new(5);
        let (cancelled, exception, successful) = (
            states::cancelled(),
            states::exception(),
            states::successful(),
        );
        let (event, future) = Event::new(&executor, 0);
        let mut completed = Vec::new();
        let mut timed_out = false;
        for f in as_completed(
            [&cancelled, &exception, &successful, &future],
            Some(timeout),
        ) {
            match f {
                Ok(f) => completed.push(f),
                Err(error) => {
                    assert_eq!(
                        error,
                        TaskError::Unfinished {
                            unfinished: 1,
                            total: 4
                        }
                    );
                    timed_out = true;
                }
            }
        }
        assert!(timed_out);
        // `future` did not complete.
        assert_eq!(completed, [&cancelled, &exception, &successful]);
        event.set();
    }
}

#[test]
fn test_duplicate_futures() {
    // Issue 20367: duplicates are yielded once.
    let executor = ThreadPoolExecutor::new(5);
    let future1 = executor.submit(mul, (2, 3)).unwrap();
    let completed: Vec<_> = as_completed(std::iter::repeat_n(&future1, 3), None).collect();
    assert_eq!(completed.len(), 1);
}

#[test]
fn test_free_reference_yielded_future() {
    // Issue #14406: the iterator keeps no hold on the handles it
    // yielded. Here, owned handles are moved out to the caller.
    let mut futures_list: Vec<TaskHandle<&str>> = (0..8).map(|_| TaskHandle::pending()).collect();
    let setters: Vec<TaskHandle<&str>> = futures_list
        .iter()
        .map(TaskHandle::clone_for_worker)
        .collect();
    let cancelled = TaskHandle::pending();
    cancelled.cancel();
    futures_list.push(cancelled);
    let finished = TaskHandle::pending();
    finished.set_result("42").unwrap();
    futures_list.push(finished);

    let mut yielded = 0;
    let mut timed_out = false;
    for future in as_completed(futures_list, Some(Duration::ZERO)) {
        match future {
            Ok(future) => {
                yielded += 1;
                drop(future); // ours now, and gone
            }
            Err(_) => timed_out = true,
        }
    }
    assert_eq!((yielded, timed_out), (2, true));
    drop(setters);
}
