//! `crypto_db fetch` end to end: the real binary (or the fetch job) against
//! our server on an ephemeral port.

// `RunOn::Processes` starts this test binary again as its workers (the
// entry point is named in `main.rs`).

use std::collections::HashSet;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::{fetch_cmd, start_server, stderr};

mod resume;
use client::fetch::{self, FetchOptions, Record, RunOn, Silent};
use prices::PriceTable;
use server::{ChaosConfig, ServerConfig};

use crate::support::BIN;

/// What the lesson's job must find: every exchange x symbol x day of March
/// 2020, with the dataset's price or none, sorted.
fn expected_lesson_records() -> Vec<Record> {
    let table = PriceTable::embedded().unwrap();
    let exchanges: Vec<String> = serde_list(table.exchanges_json());
    let symbols: Vec<String> = serde_list(table.symbols_json());
    let first = prices::Day::parse("2020-03-01").unwrap();
    let last = prices::Day::parse("2020-03-31").unwrap();
    let mut records = Vec::new();
    for exchange in &exchanges {
        for symbol in &symbols {
            for day in first.through(last) {
                let price = table
                    .get(exchange, symbol, &day.to_string())
                    .map(|row| row.to_price().unwrap());
                records.push(Record {
                    task: fetch::Task {
                        exchange: exchange.clone(),
                        symbol: symbol.clone(),
                        day,
                    },
                    price,
                });
            }
        }
    }
    records
}

fn serde_list(json: &str) -> Vec<String> {
    json.trim_matches(['[', ']'])
        .split(", ")
        .map(|s| s.trim_matches('"').to_owned())
        .collect()
}

#[test]
fn the_lessons_job_gives_the_right_rows_with_every_executor() {
    let server = start_server(ServerConfig::default());
    let expected = expected_lesson_records();
    assert_eq!(expected.len(), 1116);
    for executor in [RunOn::Threads, RunOn::Async] {
        let mut options = FetchOptions::lesson(&server.url());
        options.run_on = executor.clone();
        let report = fetch::run(&options, &Silent).unwrap();
        assert!(
            report.failures.is_empty(),
            "{executor:?}: {:?}",
            report.failures
        );
        assert_eq!(report.fetched, 1116);
        assert_eq!(report.records, expected, "{executor:?}");
    }
}

#[test]
fn every_executor_writes_the_same_bytes_in_every_format() {
    let server = start_server(ServerConfig::default());
    let dir = crate::support::scratch("formats");
    for extension in ["csv", "jsonl", "json"] {
        let mut outputs = Vec::new();
        for executor in ["threads", "processes", "async"] {
            let path = dir.join(format!("{executor}.{extension}"));
            let output = fetch_cmd(
                &server.url(),
                &["--executor", executor, "-o", path.to_str().unwrap()],
            );
            assert!(
                output.status.success(),
                "{executor} {extension}: {}",
                stderr(&output)
            );
            outputs.push(std::fs::read(&path).unwrap());
        }
        assert_eq!(outputs[0], outputs[1], "{extension}: threads and processes");
        assert_eq!(outputs[0], outputs[2], "{extension}: threads and async");
        let text = String::from_utf8(outputs.swap_remove(0)).unwrap();
        match extension {
            "csv" => {
                assert_eq!(text.lines().count(), 1117);
                assert_eq!(
                    text.lines().next(),
                    Some("exchange,symbol,day,open,high,low,close,volume")
                );
                assert!(
                    text.contains("\nbitstamp,btc,2020-03-10,"),
                    "{}",
                    &text[..300]
                );
            }
            "jsonl" => assert_eq!(text.lines().count(), 1116),
            _ => {
                assert!(text.starts_with("[\n") && text.ends_with("]\n"));
                assert!(
                    !dir.join("threads.json.partial.jsonl").exists(),
                    "the journal is removed"
                );
            }
        }
    }
}

#[test]
fn stdout_shows_the_table_and_the_lessons_lines() {
    let server = start_server(ServerConfig::default());
    let output = fetch_cmd(
        &server.url(),
        &[
            "--exchanges",
            "bitstamp",
            "--symbols",
            "btc",
            "--start",
            "2020-03-10",
            "--end",
            "2020-03-10",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("exchange  symbol  day"), "{text}");
    assert!(
        lines[1].starts_with("bitstamp  btc     2020-03-10"),
        "{text}"
    );
    assert_eq!(
        lines[3],
        "Bitstamp             price of  BTC  on 2020-03-10 was: $  7936.25"
    );
}

#[test]
fn with_sleep_the_requests_overlap_but_never_exceed_the_workers() {
    // Shown on the server: how many requests waited at once.
    let server = crate::support::slow_server(20);
    for (executor, workers) in [
        (RunOn::Threads, 8),
        (RunOn::Processes, 4),
        (RunOn::Async, 16),
    ] {
        let mut options = FetchOptions::lesson(&server.url());
        options.run_on = executor.clone();
        options.workers = workers;
        options.plan.exchanges = fetch::Selection::Only(vec!["bitstamp".into(), "kraken".into()]);
        let report = fetch::run(&options, &Silent).unwrap();
        assert_eq!(report.records.len(), 2 * 3 * 31);
        let peak = server.stats().peak_waiting();
        assert!(peak > 1, "{executor:?}: requests never overlapped");
        assert!(
            peak <= 16,
            "{executor:?}: {peak} requests at once, more than the workers"
        );
    }
}

#[test]
fn retries_get_through_a_failing_server() {
    // Every 3rd request fails with 503: retries make the result complete.
    let server = start_server(ServerConfig {
        chaos: ChaosConfig {
            fail_every: NonZeroU64::new(3),
            ..ChaosConfig::default()
        },
        ..ServerConfig::default()
    });
    for executor in [RunOn::Threads, RunOn::Async] {
        let mut options = FetchOptions::lesson(&server.url());
        options.run_on = executor.clone();
        options.client.retry.base_delay = Duration::from_millis(1);
        options.client.retry.retries = 10;
        let report = fetch::run(&options, &Silent).unwrap();
        assert!(report.failures.is_empty(), "{:?}", report.failures.first());
        assert_eq!(report.records, expected_lesson_records());
    }
    assert!(
        server.stats().price_requests() > 2 * 1116,
        "failed requests were retried"
    );
}

#[test]
fn twenty_retries_get_every_price_from_a_server_failing_every_2nd_or_3rd_request() {
    // Every try is a coin toss against `--fail-every 2` (which request is
    // the failing one depends on how 32 workers interleave), so a task
    // fails after 1 + R tries with odds 2^-(1+R): the default 10 retries
    // left one of the 1,116 tasks failed in about one run in ten (measured;
    // docs/fetch.md says so). At 20 retries that is about one run in 2,000.
    for every in [2, 3] {
        let server = start_server(ServerConfig {
            chaos: ChaosConfig {
                fail_every: NonZeroU64::new(every),
                ..ChaosConfig::default()
            },
            ..ServerConfig::default()
        });
        let dir = crate::support::scratch(&format!("fail-every-{every}"));
        let path = dir.join("march.csv");
        let output = fetch_cmd(
            &server.url(),
            &["--retries", "20", "-o", path.to_str().unwrap()],
        );
        assert!(
            output.status.success(),
            "every {every}: {}",
            stderr(&output)
        );
        let clean_server = start_server(ServerConfig::default());
        assert_complete_and_sorted(&path, &clean_server.url(), &dir);
    }
}

#[test]
fn failures_are_reported_the_rest_kept_and_resume_completes() {
    let failing = start_server(ServerConfig {
        chaos: ChaosConfig {
            fail_every: NonZeroU64::new(5),
            ..ChaosConfig::default()
        },
        ..ServerConfig::default()
    });
    let dir = crate::support::scratch("failures");
    let path = dir.join("march.csv");
    let path_arg = path.to_str().unwrap();
    let output = fetch_cmd(&failing.url(), &["--retries", "0", "-o", path_arg]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("prices failed after 0 retries (everything else is kept)"),
        "{message}"
    );
    assert!(message.contains("HTTP 503: injected failure"), "{message}");
    let kept = std::fs::read_to_string(&path).unwrap().lines().count() - 1;
    assert!(kept > 800 && kept < 1116, "{kept} kept");

    let healthy = start_server(ServerConfig::default());
    let output = fetch_cmd(&healthy.url(), &["--resume", "-o", path_arg]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains(&format!(
        "{} prices fetched, {kept} kept from the earlier run, 0 failed",
        1116 - kept
    )));
    assert_complete_and_sorted(&path, &healthy.url(), &dir);
}

/// Waits until a running fetch has written `lines` lines to `path`.
fn wait_for_lines(path: &Path, lines: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read_to_string(path).map_or(0, |text| text.lines().count()) < lines {
        assert!(Instant::now() < deadline, "the fetch wrote nothing");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The file equals a clean run's: every row once, sorted.
fn assert_complete_and_sorted(path: &Path, url: &str, dir: &Path) {
    let clean = dir.join("clean.csv");
    let output = fetch_cmd(url, &["-o", clean.to_str().unwrap()]);
    assert!(output.status.success());
    let got = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = got.lines().collect();
    assert_eq!(
        lines.iter().collect::<HashSet<_>>().len(),
        lines.len(),
        "no duplicates"
    );
    assert_eq!(got, std::fs::read_to_string(&clean).unwrap());
}

#[test]
fn a_killed_fetch_resumes_to_a_complete_file() {
    let slow = crate::support::slow_server(10);
    let dir = crate::support::scratch("killed");
    let path = dir.join("march.jsonl");
    let mut child = Command::new(BIN)
        .args([
            "fetch",
            "--url",
            &slow.url(),
            "--workers",
            "4",
            "-o",
            path.to_str().unwrap(),
        ])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it (SIGKILL: no chance to tidy up) once part of the work is in.
    wait_for_lines(&path, 100);
    child.kill().unwrap();
    child.wait().unwrap();
    let partial = std::fs::read_to_string(&path).unwrap().lines().count();
    assert!(partial < 1116, "killed before the end ({partial} lines)");

    let fast = start_server(ServerConfig::default());
    let output = fetch_cmd(&fast.url(), &["--resume", "-o", path.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let clean = dir.join("clean.jsonl");
    assert!(
        fetch_cmd(&fast.url(), &["-o", clean.to_str().unwrap()])
            .status
            .success()
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        std::fs::read_to_string(&clean).unwrap()
    );
}

#[test]
fn a_server_that_dies_mid_run_stops_the_job_and_resume_finishes_it() {
    let slow = crate::support::slow_server(10);
    let dir = crate::support::scratch("gone");
    let path = dir.join("march.csv");
    let child = Command::new(BIN)
        .args(["fetch", "--url", &slow.url(), "--workers", "4", "-o"])
        .arg(&path)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_lines(&path, 100);
    // The server goes away for good: every request from now on is refused.
    slow.stop();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let message = stderr(&output);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(
        message.starts_with("crypto_db: fetch: stopped: ")
            && message.contains("requests in a row could not reach the server")
            && message.contains("Connection refused")
            && message.contains(&format!("are kept in {}", path.display()))
            && message.contains("--resume"),
        "{message}"
    );
    // Stopped, not run to the end one failure at a time.
    let not_tried: usize = message
        .split(" not tried")
        .next()
        .and_then(|head| head.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("how many were not tried: {message}"));
    assert!(not_tried > 0, "{message}");

    let back = start_server(ServerConfig::default());
    let output = fetch_cmd(&back.url(), &["--resume", "-o", path.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_complete_and_sorted(&path, &back.url(), &dir);
}

/// The worker processes of a running fetch: its children.
fn worker_processes(fetch: u32) -> Vec<u32> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let listed = Command::new("pgrep")
            .args(["-P", &fetch.to_string()])
            .output()
            .unwrap();
        let pids: Vec<u32> = String::from_utf8_lossy(&listed.stdout)
            .split_whitespace()
            .filter_map(|pid| pid.parse().ok())
            .collect();
        if !pids.is_empty() {
            return pids;
        }
        assert!(Instant::now() < deadline, "the fetch started no workers");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn signal(pid: u32, signal: &str) {
    let sent = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill {signal} {pid}");
}

/// Runs `fetch --executor processes` into a file, does `harm` to one of
/// its workers once part of the work is in, and gives the run's output.
fn fetch_with_a_harmed_worker(name: &str, extra: &[&str], harm: &str) -> (Output, PathBuf, String) {
    let slow = crate::support::slow_server(10);
    let dir = crate::support::scratch(name);
    let path = dir.join("march.csv");
    let child = Command::new(BIN)
        .args(["fetch", "--url", &slow.url(), "--executor", "processes"])
        .args(["--workers", "4", "-o"])
        .arg(&path)
        .args(extra)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_lines(&path, 100);
    let victim = worker_processes(child.id())[0];
    signal(victim, harm);
    let output = child.wait_with_output().unwrap();
    // Compared with a clean run against the same server, while it runs.
    assert_complete_and_sorted(&path, &slow.url(), &dir);
    (output, path, slow.url())
}

#[test]
fn a_killed_worker_process_is_replaced_and_its_tasks_fetched_again() {
    let (output, _, _) = fetch_with_a_harmed_worker("worker-killed", &[], "-KILL");
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{message}");
    assert!(
        message.contains("crypto_db: fetch: the worker pool broke (a worker process was killed by signal 9 (SIGKILL: killed by a person, a supervisor or the out-of-memory killer)")
            && message.contains("a new pool ran its"),
        "{message}"
    );
}

#[test]
fn a_stopped_worker_process_is_killed_at_its_deadline_and_the_job_finishes() {
    // --timeout 1 --retries 0: a task's deadline is 1 s + 5 s of margin.
    let started = Instant::now();
    let (output, _, _) = fetch_with_a_harmed_worker(
        "worker-stopped",
        &["--timeout", "1", "--retries", "0"],
        "-STOP",
    );
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{message}");
    assert!(
        message.contains("took longer than 6s over one task (stuck, or stopped) and was killed"),
        "{message}"
    );
    assert!(started.elapsed() < Duration::from_secs(60), "{message}");
}

#[test]
fn a_closed_stderr_is_no_panic() {
    // Nothing listens at port 9: the refusal cannot be said, but the exit
    // code still says it (2), where `eprintln!` would panic (101).
    let output = Command::new("bash")
        .arg("-c")
        .arg(format!("exec '{BIN}' fetch --url http://127.0.0.1:9 2>&-"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn an_output_that_cannot_be_written_leaves_nothing_behind() {
    let server = start_server(ServerConfig::default());
    let dir = crate::support::scratch("directory");
    // A directory where the file should go.
    let path = dir.join("march.csv");
    std::fs::create_dir(&path).unwrap();
    let output = fetch_cmd(&server.url(), &["-o", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains(&format!("cannot write {}", path.display())),
        "{}",
        stderr(&output)
    );
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(left, ["march.csv"], "a stray file was left");
}

#[test]
fn a_second_fetch_to_the_same_file_is_refused_while_the_first_runs() {
    let slow = crate::support::slow_server(10);
    let dir = crate::support::scratch("locked");
    let path = dir.join("march.csv");
    let mut first = Command::new(BIN)
        .args(["fetch", "--url", &slow.url(), "--workers", "2", "-o"])
        .arg(&path)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_lines(&path, 10);
    let second = fetch_cmd(&slow.url(), &["--resume", "-o", path.to_str().unwrap()]);
    assert_eq!(second.status.code(), Some(2), "{}", stderr(&second));
    assert_eq!(
        stderr(&second).trim_end(),
        format!(
            "crypto_db: fetch: another crypto_db fetch (process {}) is writing {}; wait for it to finish, or stop it and use --resume",
            first.id(),
            path.display()
        )
    );
    assert!(first.wait().unwrap().success());
    // The lock is gone with the run that held it.
    assert!(!dir.join("march.csv.lock").exists());
    assert_complete_and_sorted(&path, &slow.url(), &dir);
}

#[test]
fn bad_input_is_one_clear_line_and_exit_code_2() {
    let server = start_server(ServerConfig::default());
    let url = server.url();
    let dir = crate::support::scratch("bad");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--exchanges", "nasdaq,kraken"],
            "unknown exchange nasdaq; the server has: bitfinex",
        ),
        (vec!["--symbols", "doge"], "unknown symbol doge"),
        (
            vec!["--start", "2020-03-05", "--end", "2020-03-01"],
            "--start 2020-03-05 is after --end 2020-03-01",
        ),
        (
            vec!["-o", "/nonexistent/dir/out.csv"],
            "cannot write /nonexistent/dir/out.csv",
        ),
        (
            vec!["-o", "out.txt"],
            "the output's extension must be .csv, .jsonl or .json",
        ),
    ];
    for (args, expected) in cases {
        let output = fetch_cmd(&url, &args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        let message = stderr(&output);
        assert_eq!(message.lines().count(), 1, "{message}");
        assert!(message.contains(expected), "{args:?}: {message}");
    }
    // A dead server.
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let output = fetch_cmd(&format!("http://{dead}"), &["--retries", "0"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("cannot reach"),
        "{}",
        stderr(&output)
    );
    assert!(stderr(&output).contains("is the server running?"));
    // Clap's own checks: a malformed date, --resume without --output.
    for args in [
        &["--start", "2020-3-1"][..],
        &["--resume"],
        &["--workers", "0"],
    ] {
        let output = fetch_cmd(&url, args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
    }
    drop(dir);
}

#[test]
fn a_full_disk_stops_the_run_with_a_clear_error_and_resume_finishes_it() {
    // A file-size limit makes writes fail part-way (EFBIG), as a full disk
    // would (ENOSPC); the shell ignores SIGXFSZ so the write reports the
    // error instead of killing the process.
    let server = start_server(ServerConfig::default());
    let dir = crate::support::scratch("full");
    let path = dir.join("march.csv");
    let output = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f 16; exec '{BIN}' fetch --url {} -o '{}'",
            server.url(),
            path.display()
        ))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(
        message.contains(&format!("cannot write {}", path.display())),
        "{message}"
    );
    assert!(message.contains("File too large"), "{message}");
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(
        written.len() <= 16 * 1024 && written.lines().count() > 10,
        "{} bytes",
        written.len()
    );

    // Room again: --resume keeps what was written and completes it.
    let output = fetch_cmd(&server.url(), &["--resume", "-o", path.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_complete_and_sorted(&path, &server.url(), &dir);
}

#[test]
fn a_progress_bar_only_on_a_terminal_and_not_with_quiet() {
    // `script` (util-linux) runs the command on a pseudo-terminal.
    let slow = crate::support::slow_server(5);
    let dir = crate::support::scratch("bar");
    let on_terminal = |extra: &str| {
        let path = dir.join("bar.csv");
        let command = format!(
            "'{BIN}' fetch --url {} --exchanges kraken --workers 4 -o '{}' {extra}",
            slow.url(),
            path.display()
        );
        let output = Command::new("script")
            .args(["-qfec", &command, "/dev/null"])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let shown = on_terminal("");
    assert!(shown.contains("/93 prices"), "{shown}");
    assert!(shown.contains("failures: 0"), "{shown}");
    let quiet = on_terminal("--quiet");
    assert!(!quiet.contains("prices"), "{quiet}");
    // Off a terminal (every other test here), stderr has only the summary.
    let output = fetch_cmd(
        &slow.url(),
        &[
            "--exchanges",
            "kraken",
            "-o",
            dir.join("plain.csv").to_str().unwrap(),
        ],
    );
    assert_eq!(stderr(&output).lines().count(), 1, "{}", stderr(&output));
}

#[test]
fn the_range_api_writes_the_same_bytes_as_a_request_per_day() {
    // Two years of two exchanges (days without data included, which
    // /prices leaves out and fetch must still write), and the lesson's job.
    let server = start_server(ServerConfig::default());
    let dir = crate::support::scratch("range");
    let jobs: [&[&str]; 2] = [
        &[
            "--exchanges",
            "bitstamp,mexbt",
            "--start",
            "2019-01-01",
            "--end",
            "2020-12-31",
        ],
        &[],
    ];
    for (job, args) in jobs.iter().enumerate() {
        for extension in ["csv", "jsonl", "json"] {
            let per_day = dir.join(format!("{job}-per-day.{extension}"));
            let ranged = dir.join(format!("{job}-range.{extension}"));
            for (path, extra) in [(&per_day, None), (&ranged, Some("--range"))] {
                let mut all: Vec<&str> = args.to_vec();
                all.extend(["-o", path.to_str().unwrap()]);
                all.extend(extra);
                let output = fetch_cmd(&server.url(), &all);
                assert!(output.status.success(), "{all:?}: {}", stderr(&output));
            }
            let (per_day, ranged) = (
                std::fs::read(&per_day).unwrap(),
                std::fs::read(&ranged).unwrap(),
            );
            assert!(per_day.len() > 1000);
            assert_eq!(per_day, ranged, "job {job}, {extension}");
        }
    }
}

/// The bars of a timeline SVG: each `<rect>` of a bar's fill color, as
/// (x, y, width).
fn timeline_bars(svg: &str, fill: &str) -> Vec<(f64, f64, f64)> {
    let attribute = |rect: &str, name: &str| -> f64 {
        let key = format!(r#" {name}=""#);
        let value = &rect[rect.find(&key).unwrap() + key.len()..];
        value[..value.find('"').unwrap()].parse().unwrap()
    };
    svg.split("<rect")
        .skip(1)
        .map(|rect| &rect[..rect.find("/>").unwrap()])
        .filter(|rect| rect.contains(&format!(r#"fill="{fill}""#)))
        .map(|rect| {
            (
                attribute(rect, "x"),
                attribute(rect, "y"),
                attribute(rect, "width"),
            )
        })
        .collect()
}

/// The colors the timeline draws a try in: an answer, a 500.
const ANSWERED: &str = "#38A169";
const FAILED_500: &str = "#E53E3E";

#[test]
fn a_timeline_has_a_lane_per_worker_on_threads_processes_and_async() {
    let server = crate::support::slow_server(200);
    let dir = crate::support::scratch("timeline");
    for (executor, workers) in [
        ("threads", 1),
        ("threads", 10),
        ("async", 10),
        ("processes", 4),
    ] {
        let path = dir.join(format!("{executor}-{workers}.svg"));
        let tasks = 3 * workers;
        let output = fetch_cmd(
            &server.url(),
            &[
                "--executor",
                executor,
                "--workers",
                &workers.to_string(),
                "--sample",
                &tasks.to_string(),
                "--timeline",
                path.to_str().unwrap(),
                "-o",
                dir.join("out.csv").to_str().unwrap(),
            ],
        );
        let said = stderr(&output);
        assert!(output.status.success(), "{said}");
        assert!(
            said.contains(&format!(
                "timeline written to {}: {workers} lanes, {tasks} tries (0 retries)",
                path.display()
            )),
            "{executor} x {workers}: {said}"
        );
        let svg = std::fs::read_to_string(&path).unwrap();
        let bars = timeline_bars(&svg, ANSWERED);
        assert_eq!(bars.len(), tasks, "{executor} x {workers}: a bar a task");
        let lanes: HashSet<u64> = bars.iter().map(|&(_, y, _)| y as u64).collect();
        assert_eq!(lanes.len(), workers, "{executor} x {workers}: {svg}");
    }
}

#[test]
fn a_timeline_of_a_failing_server_shows_the_retries_and_their_waits() {
    let server = start_server(ServerConfig {
        sleep: Duration::from_millis(50),
        chaos: ChaosConfig {
            fail_every: NonZeroU64::new(3),
            ..ChaosConfig::default()
        },
        ..ServerConfig::default()
    });
    let dir = crate::support::scratch("timeline-failing");
    // The job, drawn to `picture`; what fetch said.
    let drawn = |picture: &Path| {
        let output = fetch_cmd(
            &server.url(),
            &[
                "--workers",
                "8",
                "--sample",
                "60",
                "--retries",
                "10",
                "--timeline",
                picture.to_str().unwrap(),
                "-o",
                dir.join("out.csv").to_str().unwrap(),
            ],
        );
        let said = stderr(&output);
        assert!(output.status.success(), "{said}");
        said
    };
    let path = dir.join("t.png");
    let said = drawn(&path);
    let summary = said
        .lines()
        .find(|line| line.contains("timeline written to"))
        .unwrap_or_else(|| panic!("{said}"));
    let retries: usize = summary
        .rsplit('(')
        .next()
        .and_then(|tail| tail.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(retries >= 10, "every third request failed: {summary}");
    let png = std::fs::read(&path).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG");

    // The same as SVG: the 503s (drawn as failures) beside the answers.
    let svg_path = dir.join("t.svg");
    drawn(&svg_path);
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert_eq!(timeline_bars(&svg, ANSWERED).len(), 60);
    assert!(timeline_bars(&svg, FAILED_500).len() >= 10, "{svg}");
}

#[test]
fn a_timeline_of_another_kind_is_refused_before_anything_runs() {
    let output = fetch_cmd(
        "http://127.0.0.1:1",
        &["--timeline", "t.pdf", "--sample", "1"],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("a plot is written as .svg or .png"));
}

#[test]
fn a_timeline_that_cannot_be_written_is_said_and_the_records_are_kept() {
    let server = crate::support::slow_server(0);
    let dir = crate::support::scratch("timeline-unwritable");
    let out = dir.join("kept.csv");
    let picture = dir.join("no-such-folder").join("t.svg");
    let output = fetch_cmd(
        &server.url(),
        &[
            "--sample",
            "5",
            "--timeline",
            picture.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
    );
    let said = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{said}");
    assert!(
        said.contains(&format!("cannot draw {}: ", picture.display()))
            && said.contains("No such file or directory"),
        "{said}"
    );
    assert!(said.contains("5 prices fetched"), "{said}");
    assert_eq!(
        std::fs::read_to_string(&out).unwrap().lines().count(),
        6,
        "the header and five records"
    );
}
