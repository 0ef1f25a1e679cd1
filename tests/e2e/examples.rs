//! Every lesson example, run to completion against the embedded server
//! (`--url` points at a port where nothing listens), with its output
//! checked, so the examples never rot.

use std::path::PathBuf;
use std::process::Command;

/// The examples cargo built beside this test binary.
fn example(name: &str) -> PathBuf {
    let deps = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_owned();
    deps.parent().unwrap().join("examples").join(name)
}

/// Runs an example with no server at `--url`, so it starts its own.
fn run(name: &str, extra: &[&str]) -> String {
    let path = example(name);
    assert!(
        path.exists(),
        "{} was not built (cargo test builds examples)",
        path.display()
    );
    let output = Command::new(&path)
        .args(["--url", "http://127.0.0.1:9"])
        .args(extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{name} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.starts_with(
            "(no server at http://127.0.0.1:9; started the embedded one at http://127.0.0.1:"
        ),
        "{stdout}"
    );
    stdout
}

/// The closing price the dataset has for `exchange`, BTC, 2020-04-01.
fn close(exchange: &str) -> String {
    let table = prices::PriceTable::embedded().unwrap();
    table.get(exchange, "btc", "2020-04-01").unwrap().numbers[3]
        .unwrap()
        .to_string()
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().skip(1).collect() // the first line says which server
}

#[test]
fn l1a_queue_basics() {
    let path = example("l1a_queue_basics");
    let output = Command::new(path).output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    for expected in [
        "q.empty() -> true",
        "q.qsize() -> 3",
        "q.get() -> \"A\"",
        "q.get_nowait() -> Err(Empty)",
        "q.get_timeout(0.1 s) -> Err(Timeout)",
        "q.put_nowait(\"B\") -> Err(Full(\"B\"))",
        "q.put_timeout(\"B\", 0.1 s) -> Err(the queue stayed full until the timeout)",
        "q.join() returned: all work done",
        "one task_done() too many -> task_done() called more times than there were items in the queue",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn l1b_producer_consumer_threads() {
    let text = run("l1b_producer_consumer_threads", &[]);
    let lines = lines(&text);
    assert_eq!(lines[0], "1116 tasks");
    assert_eq!(lines[1], "tasks.qsize() -> 1116");
    assert_eq!(
        lines
            .iter()
            .filter(|l| **l == "Queue is empty! My work here is done. Exiting.")
            .count(),
        32
    );
    assert!(text.contains("tasks.qsize() -> 0"));
    let samples: Vec<&&str> = lines.iter().rev().take(5).collect();
    for sample in samples {
        assert!(
            sample.contains(" price of ") || sample.starts_with("No price of "),
            "{sample}"
        );
    }
}

#[test]
fn l2a_executors() {
    let text = run("l2a_executors", &[]);
    let price = format!("Price: ${}", close("bitstamp"));
    assert_eq!(lines(&text), [price.as_str(), price.as_str()]);
}

#[test]
fn l2b_future_result() {
    // With a sleep, the task is certainly still running at the first done().
    let text = run("l2b_future_result", &["--sleep", "0.3"]);
    assert_eq!(lines(&text), ["false", "Price: $6421.14", "true"]);
}

#[test]
fn l2c_executor_map() {
    let text = run("l2c_executor_map", &[]);
    let expected = format!(
        "[{}, {}, {}]",
        close("bitfinex"),
        close("bitstamp"),
        close("kraken")
    );
    assert_eq!(lines(&text), [expected.as_str(), expected.as_str()]);
}

#[test]
fn l2d_submit_as_completed() {
    let text = run("l2d_submit_as_completed", &[]);
    let mut got = lines(&text);
    got.sort();
    let expected = [
        format!("Bitfinex: ${}", close("bitfinex")),
        format!("Bitstamp: ${}", close("bitstamp")),
        format!("Kraken: ${}", close("kraken")),
    ];
    assert_eq!(got, expected);
}

#[test]
fn l2e_producer_consumer_executor() {
    let text = run("l2e_producer_consumer_executor", &[]);
    let lines = lines(&text);
    assert_eq!(lines[0], "work_to_do.qsize() -> 1116");
    assert_eq!(lines[1], "all futures done -> true");
    assert_eq!(lines[2], "work_done.qsize() -> 1116");
    assert!(
        lines[3].starts_with("results['bitfinex']['2020-03-10']['btc'] -> "),
        "{}",
        lines[3]
    );
    assert_eq!(lines.len(), 6);
}

#[test]
fn l3_retries_and_timeouts() {
    // The whole lesson job against a server that fails one answer in five,
    // rate-limits, and answers in a long tail: every price comes back.
    let text = run("l3_retries_and_timeouts", &[]);
    let lines = lines(&text);
    assert_eq!(
        lines[0],
        "(the embedded server misbehaves on purpose: --fail-rate 0.2 --latency lognormal:0.05,1 --rate-limit 200/s --seed 1)"
    );
    assert!(
        lines[2].starts_with("1116 of 1116 answered, 0 failed, in "),
        "{text}"
    );
    // The faults were really met: a fifth of 1,116 requests fail at least once.
    assert!(lines[3].contains("HTTP 500 x"), "{text}");
    assert_eq!(lines[4], "bitstamp   btc 2020-03-10 close: 7936.25");
    assert_eq!(lines[5], "kraken     eth 2020-03-31 close: 134.77");
}

/// `l4_beyond_one_machine` with `args`, against the server at `url`.
fn l4(url: &str, args: &[&str]) -> Command {
    let mut command = Command::new(example("l4_beyond_one_machine"));
    command.args(["--url", url]).args(args);
    command
}

fn stdout_of(mut command: Command) -> String {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn l4_beyond_one_machine_prints_the_same_lines_on_threads_processes_and_redis_workers_one_killed() {
    let Some(redis) = redis_queue::testing::RedisServer::try_start() else {
        return;
    };
    // 5 ms a price: the job's 1,116 requests last long enough on four
    // worker threads for one worker to be killed in the middle.
    let server = crate::support::slow_server(5);
    let url = server.url();
    let on_threads = stdout_of(l4(&url, &["--executor", "threads"]));
    let on_processes = stdout_of(l4(&url, &["--executor", "processes"]));
    assert_eq!(on_processes, on_threads);
    let price = format!("submit: Price: ${}", close("bitstamp"));
    assert_eq!(on_threads.lines().next(), Some(price.as_str()));
    assert!(on_threads.contains("job: 1116 tasks, "), "{on_threads}");
    assert_eq!(on_threads.lines().count(), 11, "{on_threads}");

    let queue = redis.queue("l4").to_string();
    let worker = |threads: &str| {
        l4(&url, &["--worker", &queue, "--threads", threads])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let producer = l4(&url, &["--executor", &queue, "--lease", "1"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = worker("2");
    let mut second = worker("2");
    std::thread::sleep(std::time::Duration::from_millis(800));
    first.kill().unwrap(); // SIGKILL, mid-job
    first.wait().unwrap();
    let mut third = worker("2");
    let output = producer.wait_with_output().unwrap();
    assert!(output.status.success());
    assert_eq!(String::from_utf8(output.stdout).unwrap(), on_threads);
    // The surviving workers leave once the executor shuts down.
    for worker in [&mut second, &mut third] {
        assert!(worker.wait().unwrap().success());
    }
}
