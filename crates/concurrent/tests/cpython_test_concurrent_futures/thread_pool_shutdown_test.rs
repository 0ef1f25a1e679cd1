use super::*;

#[test]
fn test_run_after_shutdown() {
    let executor = ThreadPoolExecutor::new(5);
    executor.shutdown(true, false);
    assert_eq!(
        executor.submit(u64::pow, (2, 5)).err(),
        Some(TaskError::ShutDown)
    );
}

#[test]
fn test_hang_issue12364() {
    let executor = ThreadPoolExecutor::new(5);
    let fs: Vec<_> = (0..50)
        .map(|_| {
            executor
                .spawn(|| std::thread::sleep(Duration::from_millis(1)))
                .unwrap()
        })
        .collect();
    executor.shutdown(true, false);
    for f in fs {
        f.result().unwrap();
    }
}

#[test]
fn test_cancel_futures_wait_false() {
    // Python runs this in a child interpreter and checks that "apple"
    // is printed once the interpreter exits (joining the workers).
    // Here the pool's drop is that exit. Changed: the test waits until
    // the task is running before the shutdown, because without
    // Python's GIL the new worker may not have taken the task yet, and
    // `cancel_futures` would then rightly cancel it.
    let printed = Arc::new(Mutex::new(Vec::new()));
    {
        let t = ThreadPoolExecutor::default();
        let out = Arc::clone(&printed);
        let task = t
            .spawn(move || {
                std::thread::sleep(Duration::from_millis(100));
                out.lock().unwrap().push("apple");
            })
            .unwrap();
        while !task.running() {
            std::thread::yield_now();
        }
        t.shutdown(false, true);
    }
    assert_eq!(*printed.lock().unwrap(), ["apple"]);
}

#[test]
fn test_cancel_futures() {
    let executor = ThreadPoolExecutor::new(5);
    let (release, gate) = crossbeam_channel::unbounded::<()>();
    let fs: Vec<_> = (0..50)
        .map(|_| {
            let gate = gate.clone();
            executor
                .spawn(move || {
                    let _ = gate.recv();
                })
                .unwrap()
        })
        .collect();
    // At most five tasks are running; the rest wait in the queue.
    let shutdown = std::thread::scope(|scope| {
        let shutdown = scope.spawn(|| executor.shutdown(true, true));
        // Let the running ones finish once shutdown has cancelled the rest.
        while fs.iter().filter(|f| f.cancelled()).count() < 45 {
            std::thread::yield_now();
        }
        drop(release);
        shutdown.join()
    });
    shutdown.unwrap();
    let cancelled = fs.iter().filter(|f| f.cancelled()).count();
    assert!(cancelled >= 45, "{cancelled} cancelled");
    let others: Vec<_> = fs.iter().filter(|f| !f.cancelled()).collect();
    assert!(!others.is_empty());
    for f in others {
        assert!(f.done());
        assert_eq!(f.exception(), None);
    }
}

#[test]
fn test_hang_gh94440() {
    // shutdown(wait=true) does not hang when a task was submitted and
    // cancelled right before it.
    let executor = ThreadPoolExecutor::new(1);
    executor.spawn(|| 0).unwrap().result().unwrap();
    executor.spawn(|| 0).unwrap().cancel();
    executor.shutdown(true, false);
}

#[test]
fn test_threads_terminate() {
    let executor = ThreadPoolExecutor::new(5);
    let (release, gate) = crossbeam_channel::unbounded::<()>();
    for _ in 0..3 {
        let gate = gate.clone();
        executor.spawn(move || gate.recv().unwrap()).unwrap();
    }
    assert_eq!(executor.thread_count(), 3);
    for _ in 0..3 {
        release.send(()).unwrap();
    }
    executor.shutdown(true, false);
    assert_eq!(executor.thread_count(), 0, "every worker was joined");
}

#[test]
fn test_context_manager_shutdown() {
    let results: Vec<i32> = {
        let e = ThreadPoolExecutor::new(5);
        Executor::map(&e, i32::abs, (-5..5).map(|n| (n,)))
            .collect::<Result<_, _>>()
            .unwrap()
        // `e` is dropped here: shutdown(wait=true), like leaving `with`.
    };
    assert_eq!(results, [5, 4, 3, 2, 1, 0, 1, 2, 3, 4]);
}

#[test]
fn test_del_shutdown() {
    let executor = ThreadPoolExecutor::new(5);
    let res = executor.map(i32::abs, (-5..5).map(|v| (v,)));
    drop(executor); // `del executor`: waits for the tasks already submitted
    // Make sure the results were all computed before the executor got
    // shut down.
    assert!(res.zip(-5..5i32).all(|(r, v)| r == Ok(v.abs())));
}

#[test]
fn test_shutdown_no_wait() {
    let executor = ThreadPoolExecutor::new(5);
    let res = executor.map(i32::abs, (-5..5).map(|v| (v,)));
    executor.shutdown(false, false);
    // Make sure the results were all computed before the executor got
    // shut down.
    assert!(res.zip(-5..5i32).all(|(r, v)| r == Ok(v.abs())));
}

#[test]
fn test_thread_names_assigned() {
    let executor = ThreadPoolExecutor::with_name(5, "SpecialPool");
    let name = executor
        .spawn(|| std::thread::current().name().map(str::to_owned))
        .unwrap()
        .result()
        .unwrap()
        .unwrap();
    assert!(
        name.starts_with("SpecialPool-")
            && name["SpecialPool-".len()..].parse::<usize>().unwrap() < 5,
        "{name}"
    );
}

#[test]
fn test_thread_names_default() {
    let executor = ThreadPoolExecutor::new(5);
    let name = executor
        .spawn(|| std::thread::current().name().map(str::to_owned))
        .unwrap()
        .result()
        .unwrap()
        .unwrap();
    assert!(name.starts_with("worker-"), "{name}");
}
