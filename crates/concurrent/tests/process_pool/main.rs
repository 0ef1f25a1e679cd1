//! The process pool with real worker processes: this test binary is
//! started again as each worker (through `process_worker_entry!`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use concurrent::{
    Call, Executor, ProcessPoolExecutor, ReturnWhen, Shutdown, TaskError, TaskHandle,
    ThreadPoolExecutor, as_completed, remote_fn, wait,
};

#[path = "../common/mod.rs"]
mod common;

concurrent::process_worker_entry!();

/// Set in a worker by the initializer.
static INITIALIZED: AtomicBool = AtomicBool::new(false);

remote_fn! {
    fn check_price(exchange: String, symbol: String, date: String) -> String {
        format!("{exchange}/{symbol}/{date}")
    }

    fn square(x: u64) -> u64 {
        x * x
    }

    fn worker_pid() -> u32 {
        std::process::id()
    }

    fn sleep_ms(ms: u64) -> u64 {
        std::thread::sleep(Duration::from_millis(ms));
        ms
    }

    fn fail(message: String) -> u32 {
        panic!("{message}")
    }

    fn abort() -> () {
        std::process::abort()
    }

    fn echo_floats(values: Vec<f64>) -> Vec<f64> {
        values
    }

    fn nested(value: Option<Option<()>>, pairs: std::collections::HashMap<(u32, u32), i128>) -> (Option<Option<()>>, std::collections::HashMap<(u32, u32), i128>) {
        (value, pairs)
    }

    fn depth(levels: Level) -> usize {
        let mut count = 0;
        let mut level = &levels;
        while let Some(inner) = &level.0 {
            count += 1;
            level = inner;
        }
        count
    }

    fn make_level(levels: usize) -> Level {
        let mut value = Level(None);
        for _ in 0..levels {
            value = Level(Some(Box::new(value)));
        }
        value
    }

    fn text_length(text: String) -> usize {
        text.len()
    }

    fn make_text(len: usize) -> String {
        "x".repeat(len)
    }

    fn badly_dropped() -> DropPanics {
        DropPanics
    }

    fn untyped() -> serde_json::Value {
        // Encodes, but reads back only through `deserialize_any`, which a
        // binary format has not got.
        serde_json::json!({"a": 1})
    }

    fn initialize(flag: bool) -> () {
        INITIALIZED.store(flag, Ordering::SeqCst);
    }

    fn initialized() -> bool {
        INITIALIZED.load(Ordering::SeqCst)
    }

    fn refuse_to_initialize() -> () {
        panic!("no database here")
    }

    fn byte_count(bytes: Vec<u8>) -> usize {
        bytes.len()
    }

    fn make_bytes(len: usize) -> Vec<u8> {
        vec![255; len]
    }

    fn mul(x: i64, y: i64) -> i64 {
        x * y
    }

    /// For the stress test: a panic when `n % 97 == 0`, a sleep of
    /// `n % 3` ms when `n % 89 == 0`, else the square.
    fn stress_call(n: u64) -> u64 {
        if n % 97 == 0 {
            panic!("call {n}");
        }
        if n % 89 == 0 {
            std::thread::sleep(Duration::from_millis(n % 3));
            return n % 3;
        }
        n * n
    }

    fn echo_text(text: String) -> String {
        text
    }

    fn pid_after_ms(ms: u64) -> u32 {
        std::thread::sleep(Duration::from_millis(ms));
        std::process::id()
    }

    fn put_sleep_put(path: String) -> () {
        std::fs::write(format!("{path}.started"), "").unwrap();
        std::thread::sleep(Duration::from_secs(2));
        std::fs::write(format!("{path}.finished"), "").unwrap();
    }

    fn exit_now(code: i32) -> () {
        std::process::exit(code)
    }

    fn wait_for_file(path: String) -> () {
        while !std::path::Path::new(&path).exists() {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Whether `pid` is still a process (a zombie counts: it was not reaped).
fn process_exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Stops process `pid` (SIGSTOP) and waits until it is stopped (state
/// `T` in `/proc/PID/stat`): `kill -STOP` returns before the process has
/// stopped, and on a busy machine it may yet answer a task first.
fn stop_process(pid: u32) {
    assert!(
        std::process::Command::new("kill")
            .args(["-STOP", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let started = std::time::Instant::now();
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // The state follows the command's closing parenthesis.
        let state = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .chars()
            .next();
        if state == Some('T') {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{pid} never stopped: {stat}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn the_lessons_submit_then_result_in_another_process() {
    let ex = ProcessPoolExecutor::new(2);
    let future = ex
        .submit(
            check_price,
            ("bitstamp".into(), "btc".into(), "2020-04-01".into()),
        )
        .unwrap();
    assert_eq!(future.result().unwrap(), "bitstamp/btc/2020-04-01");
    let worker = ex.submit(worker_pid, ()).unwrap().result().unwrap();
    assert_ne!(worker, std::process::id(), "it ran in another process");
}

#[test]
fn the_same_code_runs_on_either_executor() {
    fn total<E: Executor<square, (u64,), Output = u64>>(ex: &E) -> u64 {
        ex.map(square, (1..=10).map(|n| (n,)))
            .map(Result::unwrap)
            .sum()
    }
    assert_eq!(total(&ThreadPoolExecutor::new(2)), 385);
    assert_eq!(total(&ProcessPoolExecutor::new(2)), 385);
}

#[test]
fn map_chunked_keeps_the_input_order() {
    let ex = ProcessPoolExecutor::new(2);
    let squares: Vec<u64> = ex
        .map_chunked(square, (0..1000u64).map(|n| (n,)), 64)
        .map(Result::unwrap)
        .collect();
    assert_eq!(squares, (0..1000u64).map(|n| n * n).collect::<Vec<_>>());
}

/// Quick tasks are sent ahead, several per worker (the manager's
/// pipeline): each answer must still reach its own handle, panics and
/// failures included, in a long run of them.
#[test]
fn every_answer_reaches_its_own_handle_when_tasks_are_sent_ahead() {
    enum Sent {
        Square(TaskHandle<u64>),
        Fail(TaskHandle<u32>),
        Count(TaskHandle<usize>),
    }
    let ex = ProcessPoolExecutor::new(2);
    let sent: Vec<Sent> = (0..3000u64)
        .map(|n| match n % 100 {
            // A few panics (each prints its message in the worker).
            99 => Sent::Fail(ex.submit(fail, (format!("task {n}"),)).unwrap()),
            rest if rest % 2 == 0 => Sent::Square(ex.submit(square, (n,)).unwrap()),
            _ => Sent::Count(
                ex.submit(byte_count, (vec![7u8; n as usize % 50],))
                    .unwrap(),
            ),
        })
        .collect();
    for (n, handle) in (0..3000u64).zip(sent) {
        match handle {
            Sent::Square(handle) => assert_eq!(handle.result(), Ok(n * n)),
            Sent::Fail(handle) => assert_eq!(
                handle.result(),
                Err(TaskError::Panicked(format!("task {n}")))
            ),
            Sent::Count(handle) => assert_eq!(handle.result(), Ok(n as usize % 50)),
        }
    }
}

/// Jobs sent ahead with large arguments while large results come back
/// (40 KB each way, up to eight jobs in flight): every frame arrives
/// whole and in order, and nothing waits forever. (The worker writes its
/// outcomes on a thread of its own and so always comes back to reading;
/// a hang here would fail the test after two minutes, not stall the run.)
#[test]
fn large_arguments_and_results_both_ways_do_not_deadlock() {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let ex = ProcessPoolExecutor::new(2);
        let text = |n: u8| char::from(b'a' + n % 26).to_string().repeat(40_000);
        let handles: Vec<_> = (0..200u8)
            .map(|n| ex.submit(echo_text, (text(n),)).unwrap())
            .collect();
        for (n, handle) in (0..200u8).zip(handles) {
            assert_eq!(handle.result().unwrap(), text(n));
        }
        done.send(()).unwrap();
    });
    finished
        .recv_timeout(Duration::from_secs(120))
        .expect("the pool deadlocked (or a task failed; see the panic above)");
}

/// Sending ahead must not hold tasks back in a busy worker while another
/// worker could run them: four long tasks on two workers run two by two,
/// even in a pool whose worker has just answered many quick ones (and so
/// is sent jobs ahead).
#[test]
fn long_tasks_are_shared_out_not_sent_ahead_to_a_busy_worker() {
    let ex = ProcessPoolExecutor::new(2);
    for n in 0..200u64 {
        assert_eq!(ex.submit(square, (n,)).unwrap().result(), Ok(n * n));
    }
    let handles: Vec<_> = (0..4)
        .map(|_| ex.submit(pid_after_ms, (300,)).unwrap())
        .collect();
    let pids: Vec<u32> = handles.into_iter().map(|h| h.result().unwrap()).collect();
    for pid in &pids {
        let ran = pids.iter().filter(|p| *p == pid).count();
        assert!(
            ran <= 2,
            "one worker ran {ran} of the 4 long tasks: {pids:?}"
        );
    }
}

#[test]
fn as_completed_and_wait_work_on_process_handles() {
    let ex = ProcessPoolExecutor::new(2);
    let handles: Vec<_> = (0..8u64)
        .map(|n| ex.submit(square, (n,)).unwrap())
        .collect();
    let mut seen: Vec<u64> = as_completed(&handles, None)
        .map(|h| h.unwrap().result().unwrap())
        .collect();
    seen.sort();
    assert_eq!(seen, [0, 1, 4, 9, 16, 25, 36, 49]);
    let (done, not_done) = wait(&handles, None, ReturnWhen::AllCompleted);
    assert_eq!((done.len(), not_done.len()), (8, 0));
}

#[test]
fn a_panic_is_the_tasks_error_and_the_worker_lives_on() {
    let ex = ProcessPoolExecutor::new(1);
    let before = ex.submit(worker_pid, ()).unwrap().result().unwrap();
    let failed = ex
        .submit(fail, ("no price for kraken".to_owned(),))
        .unwrap();
    assert_eq!(
        failed.result(),
        Err(TaskError::Panicked("no price for kraken".into()))
    );
    let after = ex.submit(worker_pid, ()).unwrap().result().unwrap();
    assert_eq!(before, after, "the same worker process survived the panic");
    assert!(ex.broken().is_none());
}

#[test]
fn a_killed_worker_breaks_the_pool_and_nothing_hangs() {
    let ex = ProcessPoolExecutor::new(2);
    let running = ex.submit(sleep_ms, (60_000,)).unwrap();
    let other = ex.submit(sleep_ms, (60_000,)).unwrap();
    let pending = ex.submit(sleep_ms, (1,)).unwrap();
    // Wait for both tasks to be taken and both worker processes to exist
    // (a task is marked running just before its worker is started).
    while !(running.running() && other.running() && ex.worker_pids().len() == 2) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let workers = ex.worker_pids();
    assert_eq!(workers.len(), 2);
    let victim = workers[0];
    assert!(
        std::process::Command::new("kill")
            .args(["-KILL", &victim.to_string()])
            .status()
            .unwrap()
            .success()
    );

    for handle in [&running, &other, &pending] {
        match handle.result() {
            Err(TaskError::Broken(reason)) => {
                assert!(reason.contains("killed by signal 9"), "{reason}");
            }
            other => panic!("expected a broken pool, got {other:?}"),
        }
    }
    assert!(matches!(ex.submit(square, (2,)), Err(TaskError::Broken(_))));
    let broken = ex.broken().unwrap();
    assert!(
        broken.starts_with("a worker process was killed by signal 9"),
        "{broken}"
    );
    drop(ex);
    for pid in workers {
        assert!(
            !process_exists(pid),
            "worker {pid} was left behind (or left a zombie)"
        );
    }
}

/// A worker killed while it holds jobs sent ahead: every one of them, and
/// everything queued, fails with the reason; nothing hangs or is lost.
#[test]
fn a_worker_killed_with_jobs_sent_ahead_fails_every_one_of_them() {
    let ex = ProcessPoolExecutor::new(2);
    let handles: Vec<_> = (0..20_000u64)
        .map(|n| ex.submit(square, (n,)).unwrap())
        .collect();
    // Once answers flow, the workers have been sent jobs ahead.
    handles[100].result().unwrap();
    let victim = ex.worker_pids()[0];
    kill(victim);
    let (mut answered, mut broken) = (0, 0);
    for (n, handle) in (0..20_000u64).zip(&handles) {
        match handle.result() {
            Ok(value) => {
                assert_eq!(value, n * n);
                answered += 1;
            }
            Err(TaskError::Broken(reason)) => {
                assert!(reason.contains("killed by signal 9"), "{reason}");
                broken += 1;
            }
            Err(other) => panic!("task {n}: {other:?}"),
        }
    }
    assert_eq!(answered + broken, 20_000);
    assert!(broken > 0, "the kill came after every task was done");
    drop(ex);
    assert!(!process_exists(victim), "the killed worker was not reaped");
}

#[test]
fn an_aborting_worker_breaks_the_pool_with_a_clear_reason() {
    let ex = ProcessPoolExecutor::new(1);
    let handle = ex.submit(abort, ()).unwrap();
    match handle.result() {
        Err(TaskError::Broken(reason)) => assert!(reason.contains("SIGABRT"), "{reason}"),
        other => panic!("expected a broken pool, got {other:?}"),
    }
}

#[test]
fn dropping_the_pool_ends_its_workers() {
    let ex = ProcessPoolExecutor::new(2);
    let pids: Vec<u32> = (0..4)
        .map(|_| ex.submit(worker_pid, ()).unwrap().result().unwrap())
        .collect();
    drop(ex);
    for pid in pids {
        assert!(!process_exists(pid), "worker {pid} outlived its pool");
    }
}

/// A result whose `Drop` panics (Python: an exception in `__del__`), in
/// the worker that made it and in the parent that reads it.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct DropPanics;

impl Drop for DropPanics {
    fn drop(&mut self) {
        panic!("dropped badly");
    }
}

#[test]
fn a_result_whose_drop_panics_kills_neither_worker_nor_manager() {
    let ex = ProcessPoolExecutor::new(1);
    let first = ex.submit(sleep_ms, (300,)).unwrap();
    // Queued behind the first, their handles dropped before they finish:
    // the worker drops each result after sending it, the manager after
    // reading it.
    for _ in 0..3 {
        drop(ex.submit(badly_dropped, ()).unwrap());
    }
    assert_eq!(first.result(), Ok(300));
    let next = ex.submit(square, (3,)).unwrap();
    assert_eq!(next.result_timeout(Duration::from_secs(30)), Ok(9));
    // A caller that keeps its handle gets the value: the task did not fail.
    let kept = ex.submit(badly_dropped, ()).unwrap().into_result();
    assert!(kept.is_ok(), "{:?}", kept.as_ref().err());
    std::mem::forget(kept);
    assert_eq!(ex.broken(), None);
}

/// Nested as deep as asked: `Level(Some(Level(Some(... Level(None)))))`.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Level(Option<Box<Level>>);

#[test]
fn floats_come_back_bit_for_bit_both_ways() {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut floats: Vec<f64> = (0..3000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            f64::from_bits(state)
        })
        .collect();
    floats.extend([
        "123456789.123456789".parse().unwrap(),
        -0.0,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ]);
    let ex = ProcessPoolExecutor::new(1);
    let back = ex
        .submit(echo_floats, (floats.clone(),))
        .unwrap()
        .result()
        .unwrap();
    let bits = |values: &[f64]| values.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&back), bits(&floats));
}

#[test]
fn nested_options_and_maps_with_any_keys_come_back() {
    let ex = ProcessPoolExecutor::new(1);
    let pairs = std::collections::HashMap::from([((1, 2), i128::MIN), ((3, 4), i128::MAX)]);
    for value in [None, Some(None), Some(Some(()))] {
        let back = ex
            .submit(nested, (value, pairs.clone()))
            .unwrap()
            .result()
            .unwrap();
        assert_eq!(back, (value, pairs.clone()));
    }
}

#[test]
fn a_thousand_levels_of_nesting_cross_both_ways() {
    let ex = ProcessPoolExecutor::new(1);
    assert_eq!(
        ex.submit(make_level, (1000,))
            .unwrap()
            .into_result()
            .unwrap(),
        make_level.call((1000,))
    );
    assert_eq!(
        ex.submit(depth, (make_level.call((1000,)),))
            .unwrap()
            .result(),
        Ok(1000)
    );
}

/// 300 MB: more than a chunk, and more than the 256 MiB frame the pool
/// had when it spoke JSON.
const LARGE: usize = 300_000_000;

#[test]
fn payloads_larger_than_a_chunk_cross_whole_both_ways() {
    let ex = ProcessPoolExecutor::new(2);
    let running = ex.submit(sleep_ms, (200,)).unwrap();
    assert_eq!(
        ex.submit(text_length, ("y".repeat(LARGE),))
            .unwrap()
            .result(),
        Ok(LARGE)
    );
    let text = ex.submit(make_text, (LARGE,)).unwrap().result().unwrap();
    assert!(text.len() == LARGE && text.bytes().all(|byte| byte == b'x'));
    drop(text);
    assert_eq!(running.result(), Ok(200));
    assert_eq!(ex.broken(), None);
}

#[test]
fn a_result_that_cannot_be_read_is_that_tasks_error() {
    let ex = ProcessPoolExecutor::new(1);
    match ex.submit(untyped, ()).unwrap().result() {
        Err(TaskError::Remote(message)) => assert!(
            message.contains("cannot read the task's result"),
            "{message}"
        ),
        other => panic!("expected a remote error, got {other:?}"),
    }
    // The pool is fine.
    assert_eq!(ex.submit(square, (3,)).unwrap().result(), Ok(9));
}

#[test]
fn workers_are_replaced_after_max_tasks_per_child() {
    let ex = ProcessPoolExecutor::builder()
        .max_workers(1)
        .max_tasks_per_child(2)
        .build();
    let pids: Vec<u32> = (0..6)
        .map(|_| ex.submit(worker_pid, ()).unwrap().result().unwrap())
        .collect();
    assert_eq!(pids[0], pids[1]);
    assert_ne!(pids[1], pids[2]);
    assert_eq!(pids[2], pids[3]);
    assert_ne!(pids[3], pids[4]);
}

#[test]
fn the_initializer_runs_in_every_worker() {
    let ex = ProcessPoolExecutor::builder()
        .max_workers(2)
        .initializer(initialize, (true,))
        .build();
    for _ in 0..4 {
        assert_eq!(ex.submit(initialized, ()).unwrap().result(), Ok(true));
    }
    assert!(!INITIALIZED.load(Ordering::SeqCst), "not in this process");
}

#[test]
fn a_failing_initializer_breaks_the_pool() {
    let ex = ProcessPoolExecutor::builder()
        .max_workers(1)
        .initializer(refuse_to_initialize, ())
        .build();
    match ex.submit(square, (2,)).unwrap().result() {
        Err(TaskError::Broken(reason)) => assert!(reason.contains("no database here"), "{reason}"),
        other => panic!("expected a broken pool, got {other:?}"),
    }
}

#[test]
fn a_program_that_is_no_worker_is_named() {
    let ex = ProcessPoolExecutor::builder()
        .max_workers(1)
        .program("/bin/true", [] as [&str; 0])
        .build();
    match ex.submit(square, (2,)).unwrap().result() {
        Err(TaskError::Broken(reason)) => {
            assert!(
                reason
                    .contains("before connecting: does main() call concurrent::serve_if_worker()"),
                "{reason}"
            );
        }
        other => panic!("expected a broken pool, got {other:?}"),
    }
}

/// A worker that answers with something that is no outcome, and then
/// stays alive: the pool breaks with a clear reason and kills it, rather
/// than waiting for it to exit.
#[test]
fn a_worker_that_answers_nonsense_is_killed_and_breaks_the_pool() {
    const NONSENSE_WORKER: &str = r#"
import os, socket, struct, time
s = socket.socket(socket.AF_UNIX)
s.connect(os.environ["CONCURRENT_PROCESS_WORKER_SOCKET"])
s.recv(65536)
s.sendall(struct.pack("<I", 9) + b"not json!")
time.sleep(600)
"#;
    let ex = ProcessPoolExecutor::builder()
        .max_workers(1)
        .program("python3", ["-c", NONSENSE_WORKER])
        .build();
    let started = std::time::Instant::now();
    match ex.submit(square, (2,)).unwrap().result() {
        Err(TaskError::Broken(reason)) => assert!(
            reason.contains("sent an answer that cannot be read") && reason.contains("was killed"),
            "{reason}"
        ),
        other => panic!("expected a broken pool, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "it waited for the worker to exit"
    );
    assert!(ex.worker_pids().is_empty(), "the worker was left running");
}

#[test]
fn a_queued_task_can_be_cancelled_and_shutdown_can_cancel_the_rest() {
    let ex = ProcessPoolExecutor::new(1);
    let busy = ex.submit(sleep_ms, (300,)).unwrap();
    while !busy.running() {
        std::thread::sleep(Duration::from_millis(1));
    }
    let queued = ex.submit(sleep_ms, (1,)).unwrap();
    assert!(queued.cancel());
    let more: Vec<_> = (0..5).map(|_| ex.submit(sleep_ms, (1,)).unwrap()).collect();
    ex.shutdown(true, true);
    assert_eq!(
        busy.result(),
        Ok(300),
        "a running task is never interrupted"
    );
    assert_eq!(queued.result(), Err(TaskError::Cancelled));
    for handle in more {
        assert_eq!(handle.result(), Err(TaskError::Cancelled));
    }
    assert_eq!(ex.submit(square, (1,)).err(), Some(TaskError::ShutDown));
}

// ---------------------------------------------------------------------------
// CPython's promises for the process pool (issue #11), and the ports of
// `test_process_pool.py` that apply.

/// Waits for `condition`, failing the test if it never holds (a guard
/// against hanging, not a measure of speed).
fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !condition() {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn kill(pid: u32) {
    assert!(
        std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
}

#[test]
fn a_worker_killed_while_idle_breaks_the_pool_at_once_and_is_reaped() {
    let ex = ProcessPoolExecutor::new(2);
    assert_eq!(ex.submit(square, (3,)).unwrap().result(), Ok(9));
    let workers = ex.worker_pids();
    assert_eq!(workers.len(), 1);
    kill(workers[0]);
    // Noticed without any task being submitted, as CPython notices a
    // process sentinel.
    eventually("the pool is marked broken", || ex.broken().is_some());
    let broken = ex.broken().unwrap();
    assert!(
        broken.starts_with("a worker process was killed by signal 9")
            && broken.ends_with("while idle"),
        "{broken}"
    );
    eventually("the dead worker is reaped", || !process_exists(workers[0]));
    assert!(ex.worker_pids().is_empty());
    match ex.submit(square, (2,)) {
        Err(TaskError::Broken(reason)) => assert_eq!(reason, broken),
        other => panic!("expected a broken pool, got {other:?}"),
    }
}

#[test]
fn a_chunk_of_calls_larger_than_a_frame_is_split_not_refused() {
    // Each call is under a frame, the chunk of them is not: sent as more
    // than one request, every result arrives.
    let ex = ProcessPoolExecutor::new(2);
    let each = 20 * 1024 * 1024;
    let calls = (0..4).map(|_| (vec![255u8; each],));
    let counts: Vec<usize> = ex
        .map_chunked(byte_count, calls, 4)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(counts, [each; 4]);
}

mod cpython_process_pool_executor_test;

#[test]
fn a_task_past_its_deadline_has_its_worker_killed_and_breaks_the_pool() {
    let ex = ProcessPoolExecutor::builder()
        .max_workers(1)
        .task_deadline(Duration::from_millis(300))
        .build();
    // Well within the deadline: the worker lives on.
    assert_eq!(ex.submit(sleep_ms, (10,)).unwrap().result(), Ok(10));
    let pid = ex.worker_pids()[0];
    let started = std::time::Instant::now();
    match ex.submit(sleep_ms, (60_000,)).unwrap().result() {
        Err(TaskError::Broken(reason)) => assert!(
            reason.contains(
                "took longer than 300ms over one task (stuck, or stopped) and was killed"
            ),
            "{reason}"
        ),
        other => panic!("expected the deadline to break the pool, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(30));
    drop(ex);
    assert!(!process_exists(pid), "the overdue worker was left behind");
}

#[test]
fn a_stopped_worker_is_killed_at_the_deadline_instead_of_hanging_the_pool() {
    let ex = ProcessPoolExecutor::builder()
        .max_workers(1)
        .task_deadline(Duration::from_millis(500))
        .build();
    assert_eq!(ex.submit(square, (3,)).unwrap().result(), Ok(9));
    let pid = ex.worker_pids()[0];
    // SIGSTOP: the process cannot answer, or notice anything, until
    // continued; only the parent can end the wait.
    stop_process(pid);
    match ex.submit(square, (4,)).unwrap().result() {
        Err(TaskError::Broken(reason)) => assert!(reason.contains("stuck, or stopped"), "{reason}"),
        other => panic!("expected the deadline to break the pool, got {other:?}"),
    }
    drop(ex);
    assert!(!process_exists(pid), "the stopped worker was left behind");
}

#[test]
fn a_worker_stopped_while_idle_does_not_hang_the_shutdown() {
    let ex = ProcessPoolExecutor::new(1);
    assert_eq!(ex.submit(square, (3,)).unwrap().result(), Ok(9));
    let pid = ex.worker_pids()[0];
    stop_process(pid);
    // It cannot read the end of its connection: it is killed after a grace.
    let started = std::time::Instant::now();
    drop(ex);
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(!process_exists(pid), "the stopped worker was left behind");
}

mod stress;
