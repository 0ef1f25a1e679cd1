//! From `Lib/test/test_concurrent_futures/test_process_pool.py` and
//! `executor.py`, for our spawn-only pool (CPython skips the reuse
//! tests under "fork", which we never use).
use super::*;

/// `test_force_shutdown_workers`, for `terminate_workers` and
/// `kill_workers`: a task running when the workers are stopped never
/// finishes, and the worker dies of the signal. (Python's queue from a
/// Manager is a pair of files here; the exit code, read by the pool,
/// is in the broken pool's reason.)
fn force_shutdown_workers(function_name: &str) {
    let dir = std::env::temp_dir().join(format!(
        "force-shutdown-{function_name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let marker = dir.join("q").display().to_string();
    let executor = ProcessPoolExecutor::new(1);
    executor.submit(square, (1,)).unwrap().result().unwrap(); // ensure a process is started
    let worker = executor.worker_pids()[0];
    let running = executor.submit(put_sleep_put, (marker.clone(),)).unwrap();
    let started = std::time::Instant::now();
    while !std::path::Path::new(&format!("{marker}.started")).exists() {
        assert!(started.elapsed() < Duration::from_secs(30), "never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    match function_name {
        "terminate_workers" => executor.terminate_workers(),
        _ => executor.kill_workers(),
    }
    let (signal, name) = match function_name {
        "terminate_workers" => (15, "SIGTERM"),
        _ => (9, "SIGKILL"),
    };
    match running.result() {
        Err(TaskError::Broken(reason)) => assert!(
            reason.contains(&format!("killed by signal {signal} ({name}")),
            "{reason}"
        ),
        other => panic!("expected a broken pool, got {other:?}"),
    }
    std::thread::sleep(Duration::from_millis(10));
    assert!(
        !std::path::Path::new(&format!("{marker}.finished")).exists(),
        "the task finished although its worker was stopped"
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{worker}")).exists()
            || executor.worker_pids().is_empty()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn test_force_shutdown_workers_terminate() {
    force_shutdown_workers("terminate_workers");
}

#[test]
fn test_force_shutdown_workers_kill() {
    force_shutdown_workers("kill_workers");
}

#[test]
fn test_force_shutdown_workers_dead_workers() {
    for function_name in ["terminate_workers", "kill_workers"] {
        let executor = ProcessPoolExecutor::new(1);
        let future = executor.submit(exit_now, (1,)).unwrap();
        assert!(matches!(future.result(), Err(TaskError::Broken(_))));
        // Even though the pool is broken, this does not fail.
        match function_name {
            "terminate_workers" => executor.terminate_workers(),
            _ => executor.kill_workers(),
        }
    }
}

#[test]
fn test_force_shutdown_workers_not_started_yet() {
    for function_name in ["terminate_workers", "kill_workers"] {
        let executor = ProcessPoolExecutor::new(1);
        // No worker has started: nothing to signal.
        match function_name {
            "terminate_workers" => executor.terminate_workers(),
            _ => executor.kill_workers(),
        }
        assert!(executor.worker_pids().is_empty());
    }
}

#[test]
fn test_force_shutdown_workers_stops_pool() {
    for function_name in ["terminate_workers", "kill_workers"] {
        let executor = ProcessPoolExecutor::new(1);
        assert_eq!(executor.submit(sleep_ms, (0,)).unwrap().result(), Ok(0));
        let worker = executor.worker_pids()[0];
        match function_name {
            "terminate_workers" => executor.terminate_workers(),
            _ => executor.kill_workers(),
        }
        // Python's RuntimeError("cannot schedule new futures after shutdown").
        assert!(matches!(
            executor.submit(sleep_ms, (0,)),
            Err(TaskError::ShutDown)
        ));
        // A signal sent is not a signal reacted to: wait for the end.
        let started = std::time::Instant::now();
        while std::path::Path::new(&format!("/proc/{worker}")).exists()
            && executor.worker_pids().contains(&worker)
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{function_name}: still alive"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

#[test]
fn test_idle_process_reuse_one() {
    let executor = ProcessPoolExecutor::new(4);
    executor.submit(mul, (21, 2)).unwrap().result().unwrap();
    executor.submit(mul, (6, 7)).unwrap().result().unwrap();
    executor.submit(mul, (3, 14)).unwrap().result().unwrap();
    assert_eq!(executor.worker_pids().len(), 1);
}

#[test]
fn test_idle_process_reuse_multiple() {
    let executor = ProcessPoolExecutor::new(4);
    executor.submit(mul, (12, 7)).unwrap().result().unwrap();
    let _ = executor.submit(mul, (33, 25));
    executor.submit(mul, (25, 26)).unwrap().result().unwrap();
    let _ = executor.submit(mul, (18, 29));
    executor.submit(mul, (1, 2)).unwrap().result().unwrap();
    let _ = executor.submit(mul, (0, 9));
    assert!(executor.worker_pids().len() <= 3);
    executor.shutdown(true, false);
}

#[test]
fn test_saturation() {
    // Python's tasks block on a semaphore; ours wait for a file that
    // the test creates once every task is submitted.
    let executor = ProcessPoolExecutor::new(4);
    let gate = std::env::temp_dir().join(format!("saturation-{}", std::process::id()));
    let _ = std::fs::remove_file(&gate);
    let job_count = 15 * executor.max_workers();
    let handles: Vec<_> = (0..job_count)
        .map(|_| {
            executor
                .submit(wait_for_file, (gate.display().to_string(),))
                .unwrap()
        })
        .collect();
    eventually("every process started", || {
        executor.worker_pids().len() == executor.max_workers()
    });
    assert_eq!(executor.worker_pids().len(), executor.max_workers());
    std::fs::write(&gate, b"").unwrap();
    for handle in handles {
        handle.result().unwrap();
    }
    let _ = std::fs::remove_file(&gate);
}

#[test]
#[should_panic(expected = "max_workers must be greater than 0")]
fn test_max_workers_negative() {
    let _ = ProcessPoolExecutor::new(0);
}
