//! The practice ground over real sockets: what a client sees of each fault
//! (`nc`-level: a status, a closed or reset connection, silence, a body
//! cut short), that a seed replays the same faults, `/chaos`, `/metrics`
//! and `/health`; and, for every mode and all of them at once, that
//! `crypto_db fetch` with `--timeout` and `--retries` comes through with
//! the same bytes as against a clean server. No test here asserts how long
//! anything took.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::{Connection, start_server};
use server::{ChaosConfig, ServerConfig};

use crate::support::BIN;
const PRICE: &str = "/price/bitstamp/btc/2020-04-01";
const PRICE_JSON: &str = r#"{"exchange": "bitstamp", "symbol": "btc", "open": 6408.95, "high": 6527.24, "low": 6337.42, "close": 6421.14, "volume": 6342.29832651, "day": "2020-04-01"}"#;

fn chaos_server(chaos: ChaosConfig) -> server::BackgroundServer {
    start_server(ServerConfig {
        chaos: ChaosConfig {
            seed: chaos.seed.or(Some(1)),
            ..chaos
        },
        ..ServerConfig::default()
    })
}

/// Sends one GET and reads everything until the server closes or resets
/// the connection (or `patience` passes): the bytes, and how it ended.
fn raw_get(
    server: &server::BackgroundServer,
    target: &str,
    patience: Duration,
) -> (Vec<u8>, ErrorKind) {
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    stream.set_read_timeout(Some(patience)).unwrap();
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return (received, ErrorKind::UnexpectedEof),
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(error) => return (received, error.kind()),
        }
    }
}

fn metric(server: &server::BackgroundServer, line_start: &str) -> f64 {
    let metrics = Connection::open(server.addr()).get("/metrics");
    let text = metrics.text();
    text.lines()
        .find_map(|line| line.strip_prefix(line_start)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {line_start} in\n{text}"))
}

#[test]
fn fail_first_fails_each_url_then_answers_as_usual() {
    let server = chaos_server(ChaosConfig {
        fail_first: 2,
        ..ChaosConfig::default()
    });
    let mut connection = Connection::open(server.addr());
    for _ in 0..2 {
        let response = connection.get(PRICE);
        assert_eq!(response.status, 500);
        assert_eq!(
            response.text(),
            r#"{"error": "injected failure (--fail-first)"}"#
        );
    }
    let response = connection.get(PRICE);
    assert_eq!((response.status, response.text()), (200, PRICE_JSON));
    // Another URL has its own count; other routes are left alone.
    assert_eq!(connection.get("/price/bitstamp/btc/2020-04-02").status, 500);
    assert_eq!(connection.get("/exchanges").status, 200);
}

#[test]
fn fail_rate_fails_about_that_share() {
    let server = chaos_server(ChaosConfig {
        fail_rate: "0.5".parse().unwrap(),
        ..ChaosConfig::default()
    });
    let mut connection = Connection::open(server.addr());
    let failed = (1..=28)
        .filter(|day| {
            let response = connection.get(&format!("/price/bitstamp/btc/2020-02-{day:02}"));
            assert!(matches!(response.status, 200 | 500), "{response:?}");
            response.status == 500
        })
        .count();
    assert!((4..=24).contains(&failed), "{failed} of 28");
    assert_eq!(
        metric(
            &server,
            r#"crypto_db_faults_injected_total{kind="fail_rate"}"#
        ),
        failed as f64
    );
}

#[test]
fn over_the_rate_limit_is_429_with_retry_after_and_ratelimit_headers() {
    let server = chaos_server(ChaosConfig {
        rate_limit: Some("0.01/s,burst=2".parse().unwrap()),
        ..ChaosConfig::default()
    });
    let mut connection = Connection::open(server.addr());
    for remaining in ["1", "0"] {
        let response = connection.get(PRICE);
        assert_eq!(response.status, 200);
        assert_eq!(response.header("RateLimit-Limit"), Some("2"));
        assert_eq!(response.header("RateLimit-Remaining"), Some(remaining));
    }
    let response = connection.get(PRICE);
    assert_eq!(response.status, 429);
    // A token every 100 s.
    assert_eq!(response.header("Retry-After"), Some("100"));
    assert_eq!(response.header("RateLimit-Remaining"), Some("0"));
    assert!(
        response.text().contains("rate limited"),
        "{}",
        response.text()
    );
    // The practice ground's own routes are never limited.
    assert_eq!(connection.get("/chaos").status, 200);
    assert_eq!(
        metric(
            &server,
            r#"crypto_db_faults_injected_total{kind="rate_limit"}"#
        ),
        1.0
    );
}

#[test]
fn a_dropped_request_gets_no_answer_and_a_closed_connection() {
    let server = chaos_server(ChaosConfig {
        drop_rate: "1".parse().unwrap(),
        ..ChaosConfig::default()
    });
    let (received, ended) = raw_get(&server, PRICE, Duration::from_secs(30));
    assert_eq!(
        (received.as_slice(), ended),
        (&b""[..], ErrorKind::UnexpectedEof)
    );
}

#[test]
fn a_reset_request_gets_a_tcp_reset() {
    let server = chaos_server(ChaosConfig {
        reset_rate: "1".parse().unwrap(),
        ..ChaosConfig::default()
    });
    let (received, ended) = raw_get(&server, PRICE, Duration::from_secs(30));
    assert_eq!(
        (received.as_slice(), ended),
        (&b""[..], ErrorKind::ConnectionReset)
    );
}

#[test]
fn a_hung_request_gets_nothing_until_the_server_stops() {
    let server = chaos_server(ChaosConfig {
        hang_rate: "1".parse().unwrap(),
        ..ChaosConfig::default()
    });
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    write!(stream, "GET {PRICE} HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut byte = [0u8; 1];
    let silent = stream.read(&mut byte).unwrap_err().kind();
    assert!(
        matches!(silent, ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{silent:?}"
    );
    // The hang is on purpose, but stopping the server ends it.
    assert_eq!(
        metric(&server, r#"crypto_db_faults_injected_total{kind="hang"}"#),
        1.0
    );
    server.stop();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    assert_eq!(stream.read(&mut byte).unwrap(), 0);
}

#[test]
fn a_truncated_body_is_shorter_than_its_content_length() {
    let server = chaos_server(ChaosConfig {
        truncate_rate: "1".parse().unwrap(),
        ..ChaosConfig::default()
    });
    let (received, ended) = raw_get(&server, PRICE, Duration::from_secs(30));
    let text = String::from_utf8(received).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(
        head.contains(&format!("Content-Length: {}", PRICE_JSON.len())),
        "{head}"
    );
    assert_eq!(body, &PRICE_JSON[..PRICE_JSON.len() / 2]);
    assert!(
        matches!(ended, ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset),
        "{ended:?}"
    );
}

#[test]
fn a_slow_body_arrives_whole() {
    let server = chaos_server(ChaosConfig {
        slow_body: Some(std::num::NonZeroU32::new(500).unwrap()),
        latency: Some("0.01".parse().unwrap()),
        ..ChaosConfig::default()
    });
    let response = Connection::open(server.addr()).get(PRICE);
    assert_eq!((response.status, response.text()), (200, PRICE_JSON));
    assert_eq!(
        response.header("Content-Length"),
        Some(PRICE_JSON.len().to_string().as_str())
    );
    for kind in ["slow_body", "latency"] {
        let line = format!(r#"crypto_db_faults_injected_total{{kind="{kind}"}}"#);
        assert_eq!(metric(&server, &line), 1.0, "{kind}");
    }
}

#[test]
fn the_same_seed_replays_the_same_faults() {
    let config = ChaosConfig {
        fail_rate: "0.3".parse().unwrap(),
        fail_first: 1,
        ..ChaosConfig::default()
    };
    let statuses = |config: ChaosConfig| {
        let server = chaos_server(config);
        let mut connection = Connection::open(server.addr());
        (1..=20)
            .flat_map(|day| [day, day])
            .map(|day| {
                connection
                    .get(&format!("/price/kraken/eth/2020-01-{day:02}"))
                    .status
            })
            .collect::<Vec<u16>>()
    };
    let first = statuses(config.clone());
    assert_eq!(first, statuses(config.clone()));
    assert!(first.contains(&200) && first.contains(&500), "{first:?}");
    let other_seed = statuses(ChaosConfig {
        seed: Some(2),
        ..config
    });
    assert_ne!(first, other_seed);
}

#[test]
fn chaos_all_reaches_every_route_and_the_default_reaches_only_price() {
    let only_price = chaos_server(ChaosConfig {
        fail_rate: "1".parse().unwrap(),
        ..ChaosConfig::default()
    });
    let everywhere = chaos_server(ChaosConfig {
        fail_rate: "1".parse().unwrap(),
        all_routes: true,
        ..ChaosConfig::default()
    });
    for target in [
        "/exchanges",
        "/symbols",
        "/prices/bitstamp/btc?limit=1",
        "/",
    ] {
        assert_eq!(Connection::open(only_price.addr()).get(target).status, 200);
        assert_eq!(Connection::open(everywhere.addr()).get(target).status, 500);
    }
    for target in ["/chaos", "/metrics", "/health"] {
        assert_eq!(Connection::open(everywhere.addr()).get(target).status, 200);
    }
}

#[test]
fn chaos_health_and_metrics_say_what_is_going_on() {
    let server = start_server(ServerConfig::default());
    let mut connection = Connection::open(server.addr());
    assert_eq!(connection.get("/chaos").text(), r#"{"active": false}"#);
    let health = connection.get("/health");
    assert_eq!(
        health.header("Content-Type"),
        Some("application/health+json")
    );
    assert_eq!(health.text(), r#"{"status": "pass"}"#);
    connection.get(PRICE);
    connection.get("/nope");
    let metrics = connection.get("/metrics");
    assert_eq!(
        metrics.header("Content-Type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let text = metrics.text();
    for line in [
        r#"crypto_db_http_requests_total{route="/price/{exchange}/{symbol}/{date}",status="200"} 1"#,
        r#"crypto_db_http_requests_total{route="unmatched",status="404"} 1"#,
        "# TYPE crypto_db_http_request_duration_seconds histogram",
        r#"crypto_db_http_request_duration_seconds_bucket{le="+Inf"} "#,
        // This request, on this connection.
        "crypto_db_http_requests_in_flight 1",
        "crypto_db_open_connections 1",
        "# EOF",
    ] {
        assert!(text.contains(line), "{line} not in\n{text}");
    }
    // No faults on a clean server: the family is not even there.
    assert!(!text.contains("faults_injected"), "{text}");

    let chaos = chaos_server(ChaosConfig {
        fail_rate: "0.2".parse().unwrap(),
        ..ChaosConfig::default()
    });
    assert_eq!(
        Connection::open(chaos.addr()).get("/chaos").text(),
        r#"{"active": true, "routes": "/price", "seed": 1, "latency": null, "fail_rate": 0.2, "fail_first": 0, "rate_limit": null, "drop_rate": 0, "reset_rate": 0, "hang_rate": 0, "truncate_rate": 0, "slow_body": null, "fail_every": null, "flags": "--fail-rate 0.2"}"#
    );
}

#[test]
fn bad_settings_are_one_clear_line_and_exit_2() {
    for (flags, says) in [
        (&["--latency", "fast"][..], "is not a latency"),
        (&["--latency", "lognormal:1,0.5"], "is not a latency"),
        (&["--fail-rate", "1.5"], "is not a rate"),
        (&["--drop-rate=-0.1"], "is not a rate"),
        (&["--rate-limit", "0/s"], "is not a rate limit"),
        (&["--slow-body", "0"], "--slow-body"),
    ] {
        let output = Command::new(BIN).args(flags).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{flags:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(stderr.contains(says), "{flags:?}: {stderr}");
    }
}

#[test]
fn the_startup_line_says_what_chaos_is_on() {
    let mut child = Command::new(BIN)
        .args(["--port", "0", "--fail-rate", "0.2", "--seed", "9"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let banner = lines.next().unwrap().unwrap();
    let chaos_line = lines.next().unwrap().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(banner.starts_with("crypto_db: serving "), "{banner}");
    assert_eq!(
        chaos_line,
        "crypto_db: chaos on /price: --fail-rate 0.2 --seed 9 (settings at /chaos, counts at /metrics)"
    );
}

/// `crypto_db fetch` of one exchange's 93 prices from a server started
/// with `server_flags`, into a CSV file; the file's bytes.
fn fetch_through(server_flags: &[&str], fetch_flags: &[&str], dir: &Path, name: &str) -> Vec<u8> {
    let mut command = Command::new(BIN);
    command.args(["--port", "0"]).args(server_flags);
    let (mut server, addr, _banner) = crate::support::spawn_server_process(command);
    let output_path: PathBuf = dir.join(format!("{name}.csv"));
    let fetched = Command::new(BIN)
        .args([
            "fetch",
            "--quiet",
            "--exchanges",
            "bitstamp",
            "--symbols",
            "btc,eth,ltc",
        ])
        .args(["--url", &format!("http://{addr}")])
        .arg("-o")
        .arg(&output_path)
        .args(fetch_flags)
        .output()
        .unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
    assert!(
        fetched.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&fetched.stderr)
    );
    std::fs::read(&output_path).unwrap()
}

#[test]
fn fetch_comes_through_every_mode_with_the_same_bytes() {
    let dir = crate::support::scratch("chaos");
    let clean = fetch_through(&[], &[], &dir, "clean");
    assert_eq!(clean.iter().filter(|&&b| b == b'\n').count(), 1 + 93);
    // Patient enough for a slow body, short enough that a hang costs
    // little; retries enough that a run of bad luck is survived.
    let client = ["--timeout", "1", "--retries", "30"];
    let modes: [(&str, &[&str]); 10] = [
        ("latency", &["--latency", "lognormal:0.01,0.2"]),
        ("fail-rate", &["--fail-rate", "0.3"]),
        ("fail-first", &["--fail-first", "2"]),
        ("rate-limit", &["--rate-limit", "60/s"]),
        ("drop", &["--drop-rate", "0.2"]),
        ("reset", &["--reset-rate", "0.2"]),
        ("hang", &["--hang-rate", "0.1"]),
        ("truncate", &["--truncate-rate", "0.3"]),
        ("slow-body", &["--slow-body", "2000"]),
        (
            "all at once",
            &[
                "--chaos-all",
                "--seed",
                "1",
                "--latency",
                "0..0.01",
                "--fail-rate",
                "0.1",
                "--fail-first",
                "1",
                "--rate-limit",
                "200/s",
                "--drop-rate",
                "0.05",
                "--reset-rate",
                "0.05",
                "--hang-rate",
                "0.02",
                "--truncate-rate",
                "0.05",
                "--slow-body",
                "20000",
            ],
        ),
    ];
    for (name, flags) in modes {
        let fetched = fetch_through(flags, &client, &dir, name);
        assert!(
            fetched == clean,
            "{name}: the output differs from a clean run"
        );
    }
}

#[test]
fn metrics_count_what_the_client_got_not_what_the_handler_meant() {
    // The real binary, one fault at a time on every /price request: each
    // request is counted under what reached its client.
    for (flag, label) in [
        ("--drop-rate", "dropped"),
        ("--reset-rate", "reset"),
        ("--truncate-rate", "truncated"),
        ("--hang-rate", "hung"),
    ] {
        let mut command = Command::new(BIN);
        command.args(["--port", "0", "--seed", "3", flag, "1"]);
        let (mut child, addr, _) = crate::support::spawn_server_process(command);
        for _ in 0..20 {
            let mut stream = TcpStream::connect(addr).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            write!(stream, "GET {PRICE} HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
            let mut received = Vec::new();
            let _ = stream.read_to_end(&mut received);
            // Never a whole answer: at most the head and part of a body.
            assert!(
                !String::from_utf8_lossy(&received).contains(PRICE_JSON),
                "{flag}: the whole answer came"
            );
        }
        // A hung request is counted when the server decides not to answer.
        let text = Connection::open(addr).get("/metrics").text().to_owned();
        let _ = child.kill();
        let _ = child.wait();
        let route = "/price/{exchange}/{symbol}/{date}";
        assert!(
            text.contains(&format!(
                "crypto_db_http_requests_total{{route=\"{route}\",status=\"{label}\"}} 20"
            )),
            "{flag}: {text}"
        );
        assert!(
            !text.contains(&format!("route=\"{route}\",status=\"200\"")),
            "{flag}: an answer never delivered counted as 200: {text}"
        );
    }
}

#[test]
fn a_slow_body_is_delivered_and_counted_by_its_status() {
    let server = chaos_server(ChaosConfig {
        slow_body: std::num::NonZeroU32::new(100_000),
        ..ChaosConfig::default()
    });
    let (bytes, _) = raw_get(&server, PRICE, Duration::from_secs(10));
    assert!(String::from_utf8_lossy(&bytes).ends_with(PRICE_JSON));
    assert_eq!(
        metric(
            &server,
            r#"crypto_db_http_requests_total{route="/price/{exchange}/{symbol}/{date}",status="200"}"#
        ),
        1.0
    );
}
