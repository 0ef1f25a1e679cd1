//! The Redis executor against a real `redis-server` of each test's own,
//! with workers that are this test program started again in worker mode
//! (as a user's program is): results exactly as on threads, cancel (and
//! cancel racing the dispatch), shutdown, a worker killed mid-task, Redis
//! restarted with its AOF, losing everything, or going away for good.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use concurrent::{
    Call, Executor, ReturnWhen, Shutdown, TaskError, ThreadPoolExecutor, as_completed, remote_fn,
    wait,
};
use redis_queue::testing::RedisServer;
use redis_queue::{QueueAddress, RedisExecutor, WORKER_ENV};

remote_fn! {
    fn square(x: u64) -> u64 {
        x * x
    }

    fn third(x: f64) -> f64 {
        x / 3.0
    }

    fn fails_on_odd(x: u64) -> u64 {
        assert!(x % 2 == 0, "odd: {x}");
        x
    }

    /// Leaves a file named after `mark` in `dir`, then sleeps: whether a
    /// task ran, and how long it holds its worker.
    fn mark_and_sleep(dir: PathBuf, mark: u64, millis: u64) -> u64 {
        std::fs::write(dir.join(format!("ran-{mark}")), b"").unwrap();
        std::thread::sleep(Duration::from_millis(millis));
        mark
    }
}

/// The entry point of the workers this file starts.
#[test]
#[ignore = "the entry point of the Redis executor's workers, started by the tests"]
fn redis_worker_entry() {
    redis_queue::serve_if_worker();
}

/// This test program, started as a worker of `address` running `threads`
/// tasks at a time.
fn worker(address: &QueueAddress, threads: usize) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "redis_worker_entry",
            "--ignored",
            "--test-threads=1",
        ])
        .env(WORKER_ENV, address.to_string())
        .env("CONCURRENT_REDIS_WORKER_THREADS", threads.to_string())
        .stdout(Stdio::null())
        .spawn()
        .expect("start a worker")
}

fn executor(address: &QueueAddress, lease: Duration) -> RedisExecutor {
    RedisExecutor::builder()
        .lease(lease)
        .connect(address)
        .expect("connect the executor")
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "waited {limit:?} for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn ran(dir: &Path, mark: u64) -> bool {
    dir.join(format!("ran-{mark}")).exists()
}

#[test]
fn lesson_calls_give_the_same_results_as_on_threads_floats_bit_for_bit() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let address = redis.queue("same");
    let ex = executor(&address, Duration::from_secs(5));
    let mut workers = [worker(&address, 2), worker(&address, 2)];
    wait_for("two workers", Duration::from_secs(10), || {
        ex.live_workers().unwrap() == 2
    });
    assert_eq!(Shutdown::max_workers(&ex), 4);

    let squares: Vec<u64> = ex
        .map(square, (0..200u64).map(|n| (n,)))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(squares, (0..200u64).map(|n| n * n).collect::<Vec<_>>());

    let inputs: Vec<f64> = (1..100).map(|n| 0.1 * f64::from(n) + 1e-17).collect();
    let handles: Vec<_> = inputs
        .iter()
        .map(|&x| ex.submit(third, (x,)).unwrap())
        .collect();
    let threads = ThreadPoolExecutor::new(2);
    let local: Vec<_> = inputs
        .iter()
        .map(|&x| threads.submit(third, (x,)).unwrap())
        .collect();
    // Redis and thread handles in one wait.
    let (done, not_done) = wait(handles.iter().chain(&local), None, ReturnWhen::AllCompleted);
    assert_eq!((done.len(), not_done.len()), (2 * inputs.len(), 0));
    for ((remote, here), &x) in handles.iter().zip(&local).zip(&inputs) {
        let (remote, here) = (remote.result().unwrap(), here.result().unwrap());
        assert_eq!(remote.to_bits(), here.to_bits(), "{x}");
        assert_eq!(remote.to_bits(), third.call((x,)).to_bits());
    }
    let finished: usize = as_completed(&handles, None).count();
    assert_eq!(finished, handles.len());

    ex.shutdown(true, false);
    for worker in &mut workers {
        let status = worker.wait().unwrap();
        assert!(
            status.success(),
            "a worker ends when its executor shuts down: {status}"
        );
    }
}

#[test]
fn a_worker_given_a_malformed_address_says_so_without_its_password() {
    let output = Command::new(std::env::current_exe().unwrap())
        // --nocapture: the worker's line goes to its stderr, not the harness.
        .args(["--exact", "redis_worker_entry", "--ignored", "--nocapture"])
        .env(WORKER_ENV, "rediss://:s3cret@db.example:6380")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("rediss://:***@db.example:6380"), "{said}");
    assert!(said.contains("it must end with the queue's name"), "{said}");
    assert!(!said.contains("s3cret"), "{said}");
}

#[test]
fn a_panicking_task_fails_only_its_own_handle() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let address = redis.queue("panics");
    let ex = executor(&address, Duration::from_secs(5));
    let mut worker = worker(&address, 2);
    let results: Vec<_> = ex.map(fails_on_odd, (0..10u64).map(|n| (n,))).collect();
    for (n, result) in results.into_iter().enumerate() {
        if n % 2 == 0 {
            assert_eq!(result, Ok(n as u64));
        } else {
            match result {
                Err(TaskError::Panicked(message)) => {
                    assert!(message.contains(&format!("odd: {n}")), "{message}")
                }
                other => panic!("task {n}: {other:?}"),
            }
        }
    }
    drop(ex);
    assert!(worker.wait().unwrap().success());
}

#[test]
fn tasks_wait_for_a_worker_cancellable_and_a_cancelled_one_never_runs() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let address = redis.queue("cancel");
    let ex = executor(&address, Duration::from_secs(5));
    assert_eq!(ex.live_workers().unwrap(), 0);
    let handles: Vec<_> = (0..4)
        .map(|mark| {
            ex.submit(mark_and_sleep, (dir.path().to_owned(), mark, 0))
                .unwrap()
        })
        .collect();
    std::thread::sleep(Duration::from_millis(600));
    assert!(
        handles
            .iter()
            .all(|handle| !handle.done() && !handle.running())
    );
    assert!(handles[1].cancel(), "no worker has taken it: it cancels");
    assert!(handles[3].cancel());
    let mut worker = worker(&address, 1);
    assert_eq!(handles[0].result(), Ok(0));
    assert_eq!(handles[2].result(), Ok(2));
    assert_eq!(handles[1].result(), Err(TaskError::Cancelled));
    ex.shutdown(true, false);
    assert!(worker.wait().unwrap().success());
    assert!(ran(dir.path(), 0) && ran(dir.path(), 2));
    assert!(
        !ran(dir.path(), 1) && !ran(dir.path(), 3),
        "cancelled tasks never run"
    );
}

#[test]
fn shutdown_with_cancel_futures_cancels_what_no_worker_took_and_submit_is_refused() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let address = redis.queue("shutdown");
    let ex = executor(&address, Duration::from_secs(5));
    let handles: Vec<_> = (0..5u64)
        .map(|n| ex.submit(square, (n,)).unwrap())
        .collect();
    ex.shutdown(true, true);
    for handle in &handles {
        assert_eq!(handle.result(), Err(TaskError::Cancelled));
    }
    assert_eq!(ex.submit(square, (1,)).err(), Some(TaskError::ShutDown));
}

#[test]
fn a_task_whose_worker_is_killed_runs_again_on_another_worker() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let address = redis.queue("killed");
    let ex = executor(&address, Duration::from_millis(900));
    let mut first = worker(&address, 1);
    let handle = ex
        .submit(mark_and_sleep, (dir.path().to_owned(), 7, 2_000))
        .unwrap();
    wait_for("the task to start", Duration::from_secs(10), || {
        ran(dir.path(), 7)
    });
    assert!(handle.running());
    std::fs::remove_file(dir.path().join("ran-7")).unwrap();
    first.kill().unwrap();
    first.wait().unwrap();
    let mut second = worker(&address, 1);
    assert_eq!(handle.result_timeout(Duration::from_secs(20)), Ok(7));
    assert!(ran(dir.path(), 7), "the second worker ran it again");
    drop(ex);
    assert!(second.wait().unwrap().success());
}

#[test]
fn sigterm_stops_a_worker_gracefully_its_task_answered_and_the_next_one_run_elsewhere_at_once() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let address = redis.queue("sigterm");
    // A long lease: a task left to a lapsing lease would not come back
    // within this test's patience.
    let ex = executor(&address, Duration::from_secs(60));
    let mut first = worker(&address, 1);
    let running = ex
        .submit(mark_and_sleep, (dir.path().to_owned(), 1, 1_500))
        .unwrap();
    let waiting = ex
        .submit(mark_and_sleep, (dir.path().to_owned(), 2, 0))
        .unwrap();
    wait_for("the first task to start", Duration::from_secs(10), || {
        ran(dir.path(), 1)
    });
    let signalled = Command::new("kill")
        .args(["-TERM", &first.id().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());
    let status = first.wait().unwrap();
    assert!(status.success(), "a graceful stop exits 0: {status}");
    assert_eq!(
        running.result(),
        Ok(1),
        "the task it held was finished and answered"
    );
    assert!(!ran(dir.path(), 2), "a stopping worker takes nothing more");
    let mut second = worker(&address, 1);
    assert_eq!(waiting.result_timeout(Duration::from_secs(10)), Ok(2));
    drop(ex);
    assert!(second.wait().unwrap().success());
}

#[test]
fn a_task_past_its_deadline_fails_its_handle_and_the_others_go_on() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let address = redis.queue("deadline");
    let ex = RedisExecutor::builder()
        .lease(Duration::from_secs(5))
        .task_deadline(Duration::from_millis(700))
        .connect(&address)
        .unwrap();
    let mut worker = worker(&address, 2);
    let slow = ex
        .submit(mark_and_sleep, (dir.path().to_owned(), 1, 3_000))
        .unwrap();
    let quick = ex
        .submit(mark_and_sleep, (dir.path().to_owned(), 2, 0))
        .unwrap();
    assert_eq!(quick.result(), Ok(2));
    let started = Instant::now();
    match slow.result() {
        Err(TaskError::Remote(message)) => {
            assert!(message.contains("deadline of 0.7 s"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "failed at the deadline, not at the end"
    );
    // The late answer, when it comes, changes nothing.
    assert_eq!(ex.submit(square, (5,)).unwrap().result(), Ok(25));
    drop(ex);
    assert!(worker.wait().unwrap().success());
    assert!(matches!(slow.result(), Err(TaskError::Remote(_))));
}

#[test]
fn cancel_racing_the_dispatch_either_never_runs_the_task_or_delivers_its_result() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let address = redis.queue("race");
    let ex = executor(&address, Duration::from_secs(30));
    let mut one = worker(&address, 4);
    wait_for("the worker on the roll", Duration::from_secs(20), || {
        ex.live_workers().unwrap() == 1
    });
    // Each cancel comes a little later after its submit than the one
    // before, from at once to well after the task went to Redis.
    let raced: Vec<_> = (0..300u64)
        .map(|mark| {
            let handle = ex
                .submit(mark_and_sleep, (dir.path().to_owned(), mark, 0))
                .unwrap();
            std::thread::sleep(Duration::from_micros(mark * 5));
            (mark, handle.cancel(), handle)
        })
        .collect();
    ex.shutdown(true, false);
    assert!(one.wait().unwrap().success());
    let mut cancelled = 0;
    for (mark, was_cancelled, handle) in &raced {
        if *was_cancelled {
            cancelled += 1;
            assert_eq!(handle.result(), Err(TaskError::Cancelled));
            assert!(!ran(dir.path(), *mark), "task {mark} cancelled and run");
        } else {
            assert_eq!(handle.result(), Ok(*mark));
            assert!(ran(dir.path(), *mark));
        }
    }
    assert!(
        cancelled > 0 && cancelled < raced.len(),
        "the race was met from both sides: {cancelled} of {} cancelled",
        raced.len()
    );
}

#[test]
fn redis_restarted_with_aof_mid_job_every_handle_gets_its_one_result() {
    let Some(mut redis) = RedisServer::try_start_persistent() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let address = redis.queue("aof");
    let ex = executor(&address, Duration::from_secs(5));
    let handles: Vec<_> = (0..60u64)
        .map(|mark| {
            ex.submit(mark_and_sleep, (dir.path().to_owned(), mark, 20))
                .unwrap()
        })
        .collect();
    let mut workers = [worker(&address, 2), worker(&address, 2)];
    assert_eq!(handles[0].result(), Ok(0));
    redis.restart(Duration::from_millis(800));
    for (mark, handle) in handles.iter().enumerate() {
        assert_eq!(
            handle.result_timeout(Duration::from_secs(60)),
            Ok(mark as u64)
        );
    }
    ex.shutdown(true, false);
    for worker in &mut workers {
        assert!(worker.wait().unwrap().success());
    }
}

#[test]
fn redis_losing_everything_mid_job_loses_no_task() {
    let Some(mut redis) = RedisServer::try_start() else {
        return;
    };
    let address = redis.queue("lost");
    let ex = executor(&address, Duration::from_millis(900));
    let handles: Vec<_> = (0..50u64)
        .map(|n| ex.submit(square, (n,)).unwrap())
        .collect();
    let mut first = worker(&address, 2);
    assert_eq!(handles[0].result(), Ok(0));
    redis.restart_empty(Duration::from_millis(200));
    let mut second = worker(&address, 2);
    for (n, handle) in handles.iter().enumerate() {
        assert_eq!(
            handle.result_timeout(Duration::from_secs(30)),
            Ok((n * n) as u64)
        );
    }
    drop(ex);
    for worker in [&mut first, &mut second] {
        let _ = worker.kill();
        let _ = worker.wait();
    }
}

#[test]
fn redis_gone_for_good_fails_every_waiting_handle_and_later_submits() {
    let Some(mut redis) = RedisServer::try_start() else {
        return;
    };
    let address = redis.queue("gone");
    let ex = RedisExecutor::builder()
        .reconnect_for(Duration::from_secs(1))
        .connect(&address)
        .unwrap();
    let handle = ex.submit(square, (3,)).unwrap();
    redis.stop();
    match handle.result_timeout(Duration::from_secs(20)) {
        Err(TaskError::Broken(why)) => assert!(why.contains(&address.to_string()), "{why}"),
        other => panic!("{other:?}"),
    }
    wait_for("submit to be refused", Duration::from_secs(5), || {
        matches!(ex.submit(square, (4,)), Err(TaskError::Broken(_)))
    });
}

/// The entry point of a producer started by the TLS tests: squares 1 to 5
/// on the executor at `$TEST_QUEUE`, printed; an error as one line.
#[test]
#[ignore = "a producer started by the TLS tests, with their environment"]
fn tls_producer_entry() {
    let Ok(queue) = std::env::var("TEST_QUEUE") else {
        return;
    };
    let run = || -> Result<Vec<u64>, Box<dyn std::error::Error>> {
        let ex = RedisExecutor::connect(&queue.parse()?)?;
        let squares = ex
            .map(square, (1..=5u64).map(|n| (n,)))
            .collect::<Result<_, _>>()?;
        Ok(squares)
    };
    match run() {
        Ok(squares) => println!("squares {squares:?}"),
        Err(error) => {
            let mut line = error.to_string();
            let mut source = error.source();
            while let Some(cause) = source {
                line.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            println!("error {line}");
        }
    }
}

/// Runs the producer entry with `env`; what it printed, and how long it took.
fn tls_producer(queue: &str, env: &[(&str, &Path)]) -> (String, Duration) {
    let started = Instant::now();
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "tls_producer_entry",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TEST_QUEUE", queue)
        .env_remove(redis_queue::PASSWORD_ENV)
        .env_remove(redis_queue::CA_FILE_ENV);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    let printed = String::from_utf8_lossy(&output.stdout)
        .lines()
        // The harness may print its "test ... " on the same line first.
        .find_map(|line| {
            ["squares ", "error "]
                .iter()
                .find_map(|start| line.find(start))
                .map(|at| line[at..].to_owned())
        })
        .unwrap_or_else(|| {
            format!(
                "(no line) {}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )
        });
    (printed, started.elapsed())
}

#[test]
fn over_tls_with_a_password_from_the_environment_or_the_url_and_clear_errors_when_wrong() {
    let password = "s3cret-pass";
    let Some(redis) = RedisServer::try_start_tls(password) else {
        return;
    };
    let ca = redis.ca_file();
    let tls_worker = |queue: &str, env: &[(&str, &Path)]| -> Child {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args([
                "--exact",
                "redis_worker_entry",
                "--ignored",
                "--test-threads=1",
            ])
            .env(WORKER_ENV, queue)
            .env_remove(redis_queue::PASSWORD_ENV)
            .stdout(Stdio::null());
        for (name, value) in env {
            command.env(name, value);
        }
        command.spawn().unwrap()
    };
    let with_env = [
        (redis_queue::PASSWORD_ENV, Path::new(password)),
        (redis_queue::CA_FILE_ENV, ca.as_path()),
    ];

    // The password from the environment.
    let queue = format!("{}/tls-env", redis.url());
    let mut worker = tls_worker(&queue, &with_env);
    let (printed, _) = tls_producer(&queue, &with_env);
    assert_eq!(printed, "squares [1, 4, 9, 16, 25]");
    assert!(worker.wait().unwrap().success());

    // The password in the URL.
    let queue = format!(
        "rediss://:{password}@{}/tls-url",
        &redis.url()["rediss://".len()..]
    );
    let ca_only = [(redis_queue::CA_FILE_ENV, ca.as_path())];
    let mut worker = tls_worker(&queue, &ca_only);
    let (printed, _) = tls_producer(&queue, &ca_only);
    assert_eq!(printed, "squares [1, 4, 9, 16, 25]");
    assert!(worker.wait().unwrap().success());

    // A wrong password, and a certificate from a CA not trusted: one line
    // each, at once, never showing the password.
    let queue = format!("{}/tls-wrong", redis.url());
    let wrong_password = [
        (redis_queue::PASSWORD_ENV, Path::new("not-the-password")),
        (redis_queue::CA_FILE_ENV, ca.as_path()),
    ];
    let (printed, took) = tls_producer(&queue, &wrong_password);
    assert!(
        printed.starts_with("error Redis at rediss://:***@127.0.0.1:"),
        "{printed}"
    );
    assert!(
        printed.contains("Password authentication failed"),
        "{printed}"
    );
    assert!(!printed.contains("not-the-password"), "{printed}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    let other_ca = redis.other_ca_file();
    let wrong_ca = [
        (redis_queue::PASSWORD_ENV, Path::new(password)),
        (redis_queue::CA_FILE_ENV, other_ca.as_path()),
    ];
    let (printed, took) = tls_producer(&queue, &wrong_ca);
    assert!(
        printed.starts_with("error Redis at rediss://:***@127.0.0.1:"),
        "{printed}"
    );
    assert!(printed.contains("certificate"), "{printed}");
    assert!(!printed.contains(password), "{printed}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    // A CA file that is not PEM (a DER file, a key, a path mixed up) is
    // said as such, not as an untrusted certificate.
    let not_pem = redis.dir().join("not-a-certificate.der");
    std::fs::write(&not_pem, b"\x30\x82\x01\x0a not PEM").unwrap();
    let (printed, took) = tls_producer(
        &queue,
        &[
            (redis_queue::PASSWORD_ENV, Path::new(password)),
            (redis_queue::CA_FILE_ENV, not_pem.as_path()),
        ],
    );
    assert!(
        printed.contains("not-a-certificate.der holds no PEM certificate"),
        "{printed}"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
}
