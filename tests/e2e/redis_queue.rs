//! `crypto_db fetch --queue` and `crypto_db worker` end to end: the real
//! binary, a real `redis-server` of each test's own, our server on an
//! ephemeral port. The failures the issue trackers of Redis task queues
//! are full of, each made to happen: a worker SIGKILLed mid-task, Redis
//! restarted mid-run, a task longer than its lease, garbage in the
//! stream, a producer killed and resumed.

use std::collections::HashSet;
use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::slow_server;
use redis_queue::testing::RedisServer;

use crate::support::BIN;

/// A `crypto_db worker`, its standard error in `dir/NAME.err`.
fn worker(dir: &Path, name: &str, queue: &str, url: &str, extra: &[&str]) -> Child {
    Command::new(BIN)
        .args(["worker", "--queue", queue, "--url", url])
        .args(extra)
        .stderr(File::create(dir.join(format!("{name}.err"))).unwrap())
        .spawn()
        .unwrap()
}

fn log(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{name}.err"))).unwrap_or_default()
}

/// `crypto_db fetch` into `out`, running.
fn fetch(queue: Option<&str>, url: &str, out: &Path, extra: &[&str]) -> Child {
    let mut command = Command::new(BIN);
    command
        .args(["fetch", "--url", url, "-o"])
        .arg(out)
        .args(extra);
    if let Some(queue) = queue {
        command.args(["--queue", queue]);
    }
    command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(child: Child) -> Output {
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Waits for `child` to end by itself, at most `limit`.
fn exits_within(child: &mut Child, limit: Duration) -> ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The same job fetched in this process's way (no queue), for comparison.
fn expected(url: &str, dir: &Path, extra: &[&str]) -> Vec<u8> {
    let path = dir.join("expected.csv");
    let output = finish(fetch(None, url, &path, extra));
    assert!(output.status.success(), "{}", text(&output.stderr));
    std::fs::read(path).unwrap()
}

fn assert_no_duplicate_rows(csv: &[u8]) {
    let text = text(csv);
    let mut keys = HashSet::new();
    for line in text.lines().skip(1) {
        let key: Vec<&str> = line.split(',').take(3).collect();
        assert!(keys.insert(key.clone()), "a duplicate row for {key:?}");
    }
}

/// Waits until `done` holds, at most 20 s.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(20), "{what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn redis_len(redis: &RedisServer, key: &str) -> u64 {
    redis::cmd("XLEN")
        .arg(key)
        .query(&mut redis.connection())
        .unwrap()
}

/// Whether `key` exists: a producer has made its queues once
/// `NAME:answers` exists (its tasks go to Redis only when workers are
/// alive).
fn redis_has(redis: &RedisServer, key: &str) -> bool {
    redis::cmd("EXISTS")
        .arg(key)
        .query::<u32>(&mut redis.connection())
        .unwrap()
        == 1
}

fn signal(child: &Child, signal: &str) {
    let sent = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill {signal}");
}

/// The number in a worker's summary line: "N tasks answered".
fn answered(log: &str) -> usize {
    log.lines()
        .find_map(|line| {
            line.split(" tasks answered")
                .next()
                .filter(|_| line.contains(" tasks answered"))
        })
        .and_then(|start| start.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no summary in {log}"))
}

/// What a test of a job through Redis starts with: a Redis of its own, a
/// server answering `/price` after `sleep_ms`, a scratch directory and the
/// queue's address (`redis://127.0.0.1:PORT/NAME`).
struct Job {
    redis: RedisServer,
    server: server::BackgroundServer,
    dir: crate::support::ScratchDir,
    queue: String,
}

impl Job {
    /// `None` (the test skips) where `redis-server` is not installed,
    /// outside CI; see [`RedisServer::try_start`].
    fn start(dir: &str, queue: &str, sleep_ms: u64) -> Option<Job> {
        Job::with(RedisServer::try_start()?, dir, queue, sleep_ms)
    }

    /// The same, with a Redis that keeps every write in its AOF.
    fn start_persistent(dir: &str, queue: &str, sleep_ms: u64) -> Option<Job> {
        Job::with(RedisServer::try_start_persistent()?, dir, queue, sleep_ms)
    }

    fn with(redis: RedisServer, dir: &str, queue: &str, sleep_ms: u64) -> Option<Job> {
        let queue = format!("{}/{queue}", redis.url());
        Some(Job {
            redis,
            server: slow_server(sleep_ms),
            dir: crate::support::scratch(dir),
            queue,
        })
    }
}

#[test]
fn three_workers_share_one_job_and_the_result_is_complete_and_exact() {
    let Some(Job {
        redis,
        server,
        dir,
        queue,
    }) = Job::start("three-workers", "march", 5)
    else {
        return;
    };
    let mut workers: Vec<Child> = [("a", "threads"), ("b", "threads"), ("c", "async")]
        .iter()
        .map(|(name, executor)| {
            worker(
                &dir,
                name,
                &queue,
                &server.url(),
                &["--workers", "4", "--executor", executor],
            )
        })
        .collect();
    let out = dir.join("march.csv");
    let output = finish(fetch(Some(&queue), &server.url(), &out, &[]));
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("1116 prices fetched"),
        "{}",
        text(&output.stderr)
    );
    // The job over, each worker ends by itself, having done its share.
    let mut total = 0;
    for (worker, name) in workers.iter_mut().zip(["a", "b", "c"]) {
        let status = exits_within(worker, Duration::from_secs(20));
        assert!(status.success(), "worker {name}: {}", log(&dir, name));
        let done = answered(&log(&dir, name));
        assert!(done > 0, "worker {name} did nothing: {}", log(&dir, name));
        total += done;
    }
    assert_eq!(total, 1116, "every task answered once: no worker died");
    let got = std::fs::read(&out).unwrap();
    assert_eq!(got, expected(&server.url(), &dir, &[]));
    // Acknowledged entries do not pile up: both streams are trimmed.
    assert_eq!(redis_len(&redis, "march"), 0);
    assert_eq!(redis_len(&redis, "march:results"), 0);
}

#[test]
fn a_worker_killed_mid_task_loses_nothing_and_makes_no_duplicate_row() {
    let Some(Job {
        redis: _redis,
        server,
        dir,
        queue,
    }) = Job::start("sigkill", "killed", 300)
    else {
        return;
    };
    let job = ["--sample", "60", "--lease", "1"];
    let mut victim = worker(&dir, "victim", &queue, &server.url(), &["--workers", "4"]);
    let mut others: Vec<Child> = ["b", "c"]
        .iter()
        .map(|name| worker(&dir, name, &queue, &server.url(), &["--workers", "2"]))
        .collect();
    let out = dir.join("killed.csv");
    let fetching = fetch(Some(&queue), &server.url(), &out, &job);
    // Mid-request (each takes 0.3 s): the victim holds four tasks.
    std::thread::sleep(Duration::from_millis(1000));
    victim.kill().unwrap();
    victim.wait().unwrap();
    let output = finish(fetching);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let got = std::fs::read(&out).unwrap();
    assert_no_duplicate_rows(&got);
    assert_eq!(got, expected(&server.url(), &dir, &job[..2]));
    let survivors = format!("{}{}", log(&dir, "b"), log(&dir, "c"));
    assert!(survivors.contains("taking over entry"), "{survivors}");
    for other in &mut others {
        assert!(exits_within(other, Duration::from_secs(20)).success());
    }
}

#[test]
fn redis_restarted_mid_run_with_aof_loses_nothing() {
    let Some(Job {
        mut redis,
        server,
        dir,
        queue,
    }) = Job::start_persistent("restart", "restart", 50)
    else {
        return;
    };
    let job = ["--sample", "200"];
    let mut workers: Vec<Child> = ["a", "b"]
        .iter()
        .map(|name| worker(&dir, name, &queue, &server.url(), &["--workers", "4"]))
        .collect();
    let out = dir.join("restart.csv");
    let fetching = fetch(Some(&queue), &server.url(), &out, &job);
    std::thread::sleep(Duration::from_millis(600));
    redis.restart(Duration::from_millis(1000));
    let output = finish(fetching);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let got = std::fs::read(&out).unwrap();
    assert_no_duplicate_rows(&got);
    assert_eq!(got, expected(&server.url(), &dir, &job));
    // The workers said they lost Redis, and that it came back.
    let logs = format!("{}{}", log(&dir, "a"), log(&dir, "b"));
    assert!(logs.contains("lost Redis"), "{logs}");
    assert!(logs.contains("Redis is back"), "{logs}");
    for worker in &mut workers {
        assert!(exits_within(worker, Duration::from_secs(20)).success());
    }
}

#[test]
fn a_task_longer_than_its_lease_is_not_run_twice_while_its_worker_lives() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    // Each request takes three leases.
    let server = slow_server(1500);
    let dir = crate::support::scratch("long-task");
    let queue = format!("{}/long", redis.url());
    let mut workers: Vec<Child> = ["a", "b"]
        .iter()
        .map(|name| worker(&dir, name, &queue, &server.url(), &["--workers", "3"]))
        .collect();
    let out = dir.join("long.csv");
    let output = finish(fetch(
        Some(&queue),
        &server.url(),
        &out,
        &["--sample", "8", "--lease", "0.5"],
    ));
    assert!(output.status.success(), "{}", text(&output.stderr));
    let mut total = 0;
    for (worker, name) in workers.iter_mut().zip(["a", "b"]) {
        assert!(exits_within(worker, Duration::from_secs(20)).success());
        let log = log(&dir, name);
        assert!(!log.contains("taking over"), "{log}");
        total += answered(&log);
    }
    assert_eq!(total, 8, "no task ran twice");
}

#[test]
fn garbage_in_the_stream_is_dead_lettered_and_the_job_goes_on() {
    let Some(Job {
        redis,
        server,
        dir,
        queue,
    }) = Job::start("garbage", "garbage", 100)
    else {
        return;
    };
    let job = ["--sample", "20"];
    let mut one = worker(&dir, "a", &queue, &server.url(), &["--workers", "2"]);
    let out = dir.join("garbage.csv");
    let fetching = fetch(Some(&queue), &server.url(), &out, &job);
    // Once the job is under way, something else writes to its stream.
    wait_until("the job never started", || redis_len(&redis, "garbage") > 0);
    let _: String = redis::cmd("XADD")
        .arg(&["garbage", "*", "item", "{\"not\": \"a task\"}"])
        .query(&mut redis.connection())
        .unwrap();
    let output = finish(fetching);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        std::fs::read(&out).unwrap(),
        expected(&server.url(), &dir, &job)
    );
    assert!(exits_within(&mut one, Duration::from_secs(20)).success());
    assert_eq!(redis_len(&redis, "garbage:dead"), 1);
    let said = log(&dir, "a");
    assert!(said.contains("dead-letter stream garbage:dead"), "{said}");
    assert!(said.contains("cannot decode"), "{said}");
}

#[test]
fn sigterm_stops_a_worker_cleanly_and_the_others_finish_the_job() {
    let Some(Job {
        redis: _redis,
        server,
        dir,
        queue,
    }) = Job::start("sigterm", "term", 400)
    else {
        return;
    };
    // A lease far longer than the test: had the stopped worker left a task
    // behind unreleased, the job would wait for it.
    let job = ["--sample", "40", "--lease", "120"];
    let mut stopped = worker(&dir, "stopped", &queue, &server.url(), &["--workers", "2"]);
    let mut other = worker(&dir, "other", &queue, &server.url(), &["--workers", "2"]);
    let out = dir.join("term.csv");
    let started = Instant::now();
    let fetching = fetch(Some(&queue), &server.url(), &out, &job);
    std::thread::sleep(Duration::from_millis(900));
    signal(&stopped, "-TERM");
    let status = exits_within(&mut stopped, Duration::from_secs(10));
    assert!(status.success(), "{}", log(&dir, "stopped"));
    assert!(
        log(&dir, "stopped").contains("stopping"),
        "{}",
        log(&dir, "stopped")
    );
    let output = finish(fetching);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "a task waited for its lease"
    );
    assert_eq!(
        std::fs::read(&out).unwrap(),
        expected(&server.url(), &dir, &job[..2])
    );
    assert!(exits_within(&mut other, Duration::from_secs(20)).success());
}

#[test]
fn a_killed_producer_resumes_and_the_workers_carry_on() {
    let Some(Job {
        redis: _redis,
        server,
        dir,
        queue,
    }) = Job::start("producer-killed", "resumed", 100)
    else {
        return;
    };
    let job = ["--sample", "80"];
    let mut one = worker(&dir, "a", &queue, &server.url(), &["--workers", "4"]);
    let out = dir.join("resumed.csv");
    let mut first = fetch(Some(&queue), &server.url(), &out, &job);
    wait_until("nothing written", || {
        std::fs::read_to_string(&out).map_or(0, |text| text.lines().count()) >= 20
    });
    first.kill().unwrap();
    first.wait().unwrap();
    let output = finish(fetch(
        Some(&queue),
        &server.url(),
        &out,
        &[&job[..], &["--resume"]].concat(),
    ));
    assert!(output.status.success(), "{}", text(&output.stderr));
    let got = std::fs::read(&out).unwrap();
    assert_no_duplicate_rows(&got);
    assert_eq!(got, expected(&server.url(), &dir, &job));
    assert!(exits_within(&mut one, Duration::from_secs(20)).success());
}

#[test]
fn a_malformed_queue_address_is_refused_without_showing_its_password() {
    let address = "rediss://:s3cret-pw@127.0.0.1:1";
    for args in [
        &["fetch", "--queue", address][..],
        &["fetch", "--executor", address],
        &["fetch", "--executor", &format!("threads,{address}")],
        &["worker", "--url", "http://127.0.0.1:1", "--queue", address],
    ] {
        let output = Command::new(BIN).args(args).output().unwrap();
        let said = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {said}");
        assert!(
            said.contains("bad queue address \"rediss://:***@127.0.0.1:1\"")
                && said.contains("it must end with the queue's name"),
            "{args:?}: {said}"
        );
        assert!(!said.contains("s3cret-pw"), "{args:?}: {said}");
    }
}

#[test]
fn no_redis_is_a_clear_error_not_a_hang() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let queue = format!("{}/nobody", redis.url());
    drop(redis);
    let server = slow_server(0);
    let dir = crate::support::scratch("no-redis");
    let started = Instant::now();
    let output = finish(fetch(Some(&queue), &server.url(), &dir.join("x.csv"), &[]));
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    let said = text(&output.stderr);
    assert!(said.contains(&queue) && said.contains("refused"), "{said}");
    let mut lone = worker(&dir, "lone", &queue, &server.url(), &[]);
    assert_eq!(
        exits_within(&mut lone, Duration::from_secs(20)).code(),
        Some(1)
    );
    let said = log(&dir, "lone");
    assert!(said.contains(&queue) && said.contains("refused"), "{said}");
    assert!(started.elapsed() < Duration::from_secs(20));
    // A queue that is not a Redis URL is refused by the flags.
    let output = finish(fetch(
        Some("http://h/q"),
        &server.url(),
        &dir.join("x.csv"),
        &[],
    ));
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("must start with redis://"));
}

#[test]
fn a_task_that_no_worker_finishes_is_reported_failed_and_resume_retries_it() {
    let Some(Job {
        redis,
        server,
        dir,
        queue,
    }) = Job::start("poison", "poison", 0)
    else {
        return;
    };
    let job = ["--sample", "10"];
    let out = dir.join("poison.csv");
    let fetching = fetch(Some(&queue), &server.url(), &out, &job);
    // A worker that takes the first task and gives it back, again and
    // again (as one that crashes on it would, a lease at a time).
    let options = redis_queue::QueueOptions {
        poll: Duration::from_millis(50),
        ..redis_queue::QueueOptions::default()
    };
    let address: redis_queue::QueueAddress = queue.parse().unwrap();
    let bad = redis_queue::TaskQueue::join(&address, options, 1).unwrap();
    let take_one = || loop {
        if let Some(taken) = bad
            .take(1, Duration::from_secs(20))
            .unwrap()
            .into_iter()
            .next()
        {
            return taken;
        }
    };
    let poison = take_one();
    let (task,): (client::fetch::Task,) =
        concurrent::codec::decode(&poison.args().unwrap()).unwrap();
    bad.release(poison).unwrap();
    let started = Instant::now();
    while redis_len(&redis, "poison:dead") == 0 {
        assert!(started.elapsed() < Duration::from_secs(20), "never buried");
        // Past the poll interval, a take looks for released entries first.
        std::thread::sleep(Duration::from_millis(60));
        bad.release(take_one()).unwrap();
    }
    drop(bad);
    let mut one = worker(&dir, "a", &queue, &server.url(), &["--workers", "2"]);
    let output = finish(fetching);
    let said = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{said}");
    assert!(said.contains("1 of 10 prices failed"), "{said}");
    assert!(
        said.contains("moved to the dead-letter stream after 6 deliveries"),
        "{said}"
    );
    // The failure names the task that was poisoned.
    let key = format!("{}/{}/{}", task.exchange, task.symbol, task.day);
    assert!(said.contains(&key), "{key} in {said}");
    assert!(exits_within(&mut one, Duration::from_secs(20)).success());
    // Run again with --resume: only the failed task is fetched.
    let mut again = worker(&dir, "b", &queue, &server.url(), &["--workers", "2"]);
    let output = finish(fetch(
        Some(&queue),
        &server.url(),
        &out,
        &[&job[..], &["--resume"]].concat(),
    ));
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("1 prices fetched, 9 kept"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(
        std::fs::read(&out).unwrap(),
        expected(&server.url(), &dir, &job)
    );
    assert!(exits_within(&mut again, Duration::from_secs(20)).success());
}

/// The keys of Redis whose names start with `prefix`, each with its time
/// to live in ms (-1: none).
fn keys_with_ttl(redis: &RedisServer, prefix: &str) -> Vec<(String, i64)> {
    let mut connection = redis.connection();
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query(&mut connection)
        .unwrap();
    keys.sort();
    keys.into_iter()
        .map(|key| {
            let ttl: i64 = redis::cmd("PTTL").arg(&key).query(&mut connection).unwrap();
            (key, ttl)
        })
        .collect()
}

#[test]
fn redis_restarted_empty_mid_run_the_producer_puts_the_job_back_and_it_ends_exact() {
    let Some(Job {
        mut redis,
        server,
        dir,
        queue,
    }) = Job::start("restart-empty", "amnesia", 20)
    else {
        return;
    };
    let job = ["--sample", "300"];
    let mut workers: Vec<Child> = ["a", "b", "c"]
        .iter()
        .map(|name| worker(&dir, name, &queue, &server.url(), &["--workers", "4"]))
        .collect();
    let out = dir.join("amnesia.csv");
    let started = Instant::now();
    let fetching = fetch(Some(&queue), &server.url(), &out, &job);
    wait_until("nothing written before the restart", || {
        std::fs::read_to_string(&out).map_or(0, |text| text.lines().count()) >= 60
    });
    // Everything is lost: the streams, the groups, the settings, the lock.
    redis.restart_empty(Duration::from_millis(500));
    let output = finish(fetching);
    let said = text(&output.stderr);
    assert!(output.status.success(), "{said}");
    assert!(
        said.contains("Redis lost the job") && said.contains("sent again"),
        "{said}"
    );
    assert!(started.elapsed() < Duration::from_secs(90));
    let got = std::fs::read(&out).unwrap();
    assert_no_duplicate_rows(&got);
    assert_eq!(got, expected(&server.url(), &dir, &job));
    // The workers waited for the job to come back, and ended with it.
    for (worker, name) in workers.iter_mut().zip(["a", "b", "c"]) {
        let status = exits_within(worker, Duration::from_secs(20));
        assert!(status.success(), "worker {name}: {}", log(&dir, name));
    }
}

#[test]
fn a_second_producer_on_one_queue_is_refused_at_once_naming_the_first() {
    let Some(Job {
        redis,
        server,
        dir,
        queue,
    }) = Job::start("two-producers", "single", 0)
    else {
        return;
    };
    let job = ["--sample", "30"];
    // The first waits for workers; the second comes meanwhile.
    let first = fetch(Some(&queue), &server.url(), &dir.join("first.csv"), &job);
    wait_until("the first producer never started", || {
        redis_has(&redis, "single:answers")
    });
    let started = Instant::now();
    let second = finish(fetch(
        Some(&queue),
        &server.url(),
        &dir.join("second.csv"),
        &job,
    ));
    assert!(started.elapsed() < Duration::from_secs(10));
    let said = text(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{said}");
    assert_eq!(said.lines().count(), 1, "{said}");
    assert!(
        said.contains(&format!(
            "another producer runs this job: process {} on ",
            first.id()
        )) && said.contains("if it is gone, its lock lapses in"),
        "{said}"
    );
    // The first is unharmed, and ends exact once a worker comes.
    let mut one = worker(&dir, "a", &queue, &server.url(), &["--workers", "4"]);
    let output = finish(first);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        std::fs::read(dir.join("first.csv")).unwrap(),
        expected(&server.url(), &dir, &job)
    );
    assert!(exits_within(&mut one, Duration::from_secs(20)).success());
}

#[test]
fn sigterm_stops_a_worker_within_seconds_while_redis_is_down() {
    let Some(Job {
        mut redis,
        server,
        dir,
        queue,
    }) = Job::start("sigterm-outage", "outage", 100)
    else {
        return;
    };
    let mut stopped = worker(&dir, "w", &queue, &server.url(), &["--workers", "4"]);
    let mut fetching = fetch(
        Some(&queue),
        &server.url(),
        &dir.join("o.csv"),
        &["--sample", "200"],
    );
    wait_until("the worker never started", || {
        std::fs::read_to_string(dir.join("o.csv")).map_or(0, |text| text.lines().count()) >= 10
    });
    redis.stop();
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        stopped.try_wait().unwrap().is_none(),
        "it waits out the outage"
    );
    signal(&stopped, "-TERM");
    // Within seconds, where it used to wait out the whole 300 s.
    let status = exits_within(&mut stopped, Duration::from_secs(15));
    let said = log(&dir, "w");
    assert!(
        said.contains("stopped while Redis could not be reached"),
        "{said}"
    );
    // What it held and could not give back is said, with its lease.
    assert_eq!(
        status.success(),
        said.contains(": 0 tasks taken could not be given back"),
        "{said}"
    );
    let _ = fetching.kill();
    let _ = fetching.wait();
}

#[test]
fn an_answer_no_task_of_this_job_asked_for_is_not_written() {
    let Some(Job {
        redis,
        server,
        dir,
        queue,
    }) = Job::start("stray-answer", "stray", 0)
    else {
        return;
    };
    let job = [
        "--exchanges",
        "bitstamp",
        "--symbols",
        "btc",
        "--start",
        "2020-03-01",
        "--end",
        "2020-03-03",
    ];
    let out = dir.join("stray.csv");
    let fetching = fetch(Some(&queue), &server.url(), &out, &job);
    wait_until("the producer never started", || {
        redis_has(&redis, "stray:answers")
    });
    // Well-formed answers for a task of this job, but not from it: one
    // with another job's token (left from an earlier job of this name),
    // one with none (added by hand).
    // The answer is a price for the job's first task (task 0), encoded
    // as a worker encodes it.
    let one = Some(prices::Number::Integer(1));
    let bogus = prices::Price::new(
        "bitstamp",
        "btc",
        prices::Day::parse("2020-03-01").unwrap(),
        [one; 5],
    );
    let result: (Result<Option<prices::Price>, client::ClientError>, u64) = (Ok(Some(bogus)), 1);
    let encoded = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        concurrent::codec::encode(&result).unwrap(),
    );
    let mut connection = redis.connection();
    for answer in [
        format!(
            r#"{{"job":"0123456789abcdef","task":0,"outcome":{{"Ok":"{encoded}"}},"micros":1}}"#
        ),
        format!(r#"{{"task":0,"outcome":{{"Ok":"{encoded}"}},"micros":1}}"#),
    ] {
        redis::cmd("XADD")
            .arg("stray:answers")
            .arg("*")
            .arg("item")
            .arg(answer)
            .query::<String>(&mut connection)
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(600));
    let mut one = worker(&dir, "a", &queue, &server.url(), &[]);
    let output = finish(fetching);
    let said = text(&output.stderr);
    assert!(output.status.success(), "{said}");
    assert!(
        said.contains("dropped 1 answers that no task of this job asked for"),
        "{said}"
    );
    assert_eq!(
        std::fs::read(&out).unwrap(),
        expected(&server.url(), &dir, &job)
    );
    assert!(exits_within(&mut one, Duration::from_secs(20)).success());
}

#[test]
fn a_finished_job_leaves_no_stream_and_its_other_keys_expire() {
    let Some(Job {
        redis,
        server,
        dir,
        queue,
    }) = Job::start("leftovers", "tidy", 0)
    else {
        return;
    };
    let job = ["--sample", "20"];
    let mut one = worker(&dir, "a", &queue, &server.url(), &[]);
    let output = finish(fetch(Some(&queue), &server.url(), &dir.join("t.csv"), &job));
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(exits_within(&mut one, Duration::from_secs(20)).success());
    let left = keys_with_ttl(&redis, "tidy");
    let names: Vec<&str> = left.iter().map(|(key, _)| key.as_str()).collect();
    assert_eq!(
        names,
        [
            "tidy:answers:job",
            "tidy:answers:shutdown",
            "tidy:job",
            "tidy:shutdown"
        ],
        "no stream, no lock"
    );
    for (key, ttl) in &left {
        assert!(*ttl > 0 && *ttl <= 3_600_000, "{key} expires: {ttl}");
    }
    // A worker that comes after the end leaves at once, and makes nothing.
    let mut late = worker(&dir, "late", &queue, &server.url(), &[]);
    assert!(exits_within(&mut late, Duration::from_secs(20)).success());
    assert_eq!(
        keys_with_ttl(&redis, "tidy")
            .into_iter()
            .map(|(key, _)| key)
            .collect::<Vec<_>>(),
        names
    );
}

#[test]
fn fetch_and_workers_reach_a_redis_over_tls_with_a_password_never_shown() {
    let password = "e2e-s3cret";
    let Some(redis) = RedisServer::try_start_tls(password) else {
        return;
    };
    let server = slow_server(0);
    let dir = crate::support::scratch("tls");
    let queue = format!("{}/march-tls", redis.url());
    let ca = redis.ca_file();
    let with_secrets = |command: &mut Command| {
        command
            .env(redis_queue::PASSWORD_ENV, password)
            .env(redis_queue::CA_FILE_ENV, &ca);
    };
    let mut worker_command = Command::new(BIN);
    worker_command
        .args(["worker", "--queue", &queue, "--url", &server.url()])
        .stderr(File::create(dir.join("w.err")).unwrap());
    with_secrets(&mut worker_command);
    let mut worker = worker_command.spawn().unwrap();
    let out = dir.join("march.csv");
    let mut fetch_command = Command::new(BIN);
    fetch_command
        .args(["fetch", "--url", &server.url(), "--queue", &queue, "-o"])
        .arg(&out);
    with_secrets(&mut fetch_command);
    let output = fetch_command.output().unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(exits_within(&mut worker, Duration::from_secs(20)).success());
    assert_eq!(
        std::fs::read(&out).unwrap(),
        expected(&server.url(), &dir, &[])
    );

    // A wrong password: one line, at once, the password never in it, and
    // the file already at the output left as it was.
    std::fs::write(dir.join("never.csv"), "an earlier file\n").unwrap();
    let started = Instant::now();
    let output = Command::new(BIN)
        .args(["fetch", "--url", &server.url(), "--queue", &queue, "-o"])
        .arg(dir.join("never.csv"))
        .env(redis_queue::PASSWORD_ENV, "wrong-one")
        .env(redis_queue::CA_FILE_ENV, &ca)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    let said = text(&output.stderr);
    assert!(said.contains("Password authentication failed"), "{said}");
    assert!(
        !said.contains("wrong-one") && !said.contains(password),
        "{said}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        std::fs::read_to_string(dir.join("never.csv")).unwrap(),
        "an earlier file\n"
    );
}
