//! Test helpers: a deliberately small HTTP/1.1 client over a raw TCP
//! socket, so the tests see exactly the bytes on the wire (status line,
//! headers, body) with no client library smoothing anything over, and the
//! golden answers made by Python from the reference database.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::ops::Deref;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// The `crypto_db` binary cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_crypto_db");

/// `crypto_db fetch --url URL ARGS...`, run to its end.
pub fn fetch_cmd(url: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("fetch")
        .args(["--url", url])
        .args(args)
        .output()
        .unwrap()
}

/// Called by a test that cannot find a tool it needs, `what` naming the
/// tool and how to install it: outside CI, says in one line that the test
/// is skipped and why (the test then returns); under CI (`CI` set), fails
/// the test, so a missing package never passes unseen. `.ci/packages.sh`
/// installs every such tool.
///
/// # Panics
///
/// Under CI, always.
pub fn skipped_without(what: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must install {what} for this test (see .ci/packages.sh)"
    );
    // Straight to the stream: the test harness captures `eprintln!` of a
    // passing test, and this line is for whoever runs the tests.
    let _ = writeln!(std::io::stderr(), "skipped: needs {what}");
}

/// A finished command's stderr, as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// One HTTP response as it came off the wire.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("a UTF-8 body")
    }
}

/// A keep-alive connection to the server.
pub struct Connection {
    reader: BufReader<TcpStream>,
}

impl Connection {
    pub fn open(addr: SocketAddr) -> Connection {
        let stream = TcpStream::connect(addr).expect("connect to the test server");
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        Connection {
            reader: BufReader::new(stream),
        }
    }

    /// Sends raw bytes (a request, or part of one).
    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.reader.get_mut().write_all(bytes)
    }

    pub fn request(&mut self, method: &str, target: &str) -> Response {
        self.request_with(method, target, "")
    }

    /// `extra_headers` are complete header lines, each ending in `\r\n`.
    pub fn request_with(&mut self, method: &str, target: &str, extra_headers: &str) -> Response {
        let request = format!("{method} {target} HTTP/1.1\r\nHost: test\r\n{extra_headers}\r\n");
        self.send(request.as_bytes()).expect("send the request");
        self.read_response(method == "HEAD")
            .expect("read the response")
    }

    pub fn get(&mut self, target: &str) -> Response {
        self.request("GET", target)
    }

    pub fn read_response(&mut self, head: bool) -> std::io::Result<Response> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("a status line, got {line:?}"));
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let trimmed = line.trim_end_matches(['\r', '\n']);
            if trimmed.is_empty() {
                break;
            }
            let (name, value) = trimmed.split_once(':').expect("a header line");
            headers.push((name.to_owned(), value.trim().to_owned()));
        }
        let mut response = Response {
            status,
            headers,
            body: Vec::new(),
        };
        if !head {
            match response.header("content-length") {
                Some(length) => {
                    response.body = vec![0; length.parse().expect("a numeric length")];
                    self.reader.read_exact(&mut response.body)?;
                }
                None => {
                    self.reader.read_to_end(&mut response.body)?;
                }
            }
        }
        Ok(response)
    }

    /// True once the server has closed the connection (EOF or reset).
    pub fn is_closed_by_server(&mut self) -> bool {
        let mut byte = [0u8; 1];
        match self.reader.read(&mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(error) => !matches!(
                error.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        }
    }
}

/// Sends `request` on a new connection, shuts down the sending side (as
/// `nc -q 1` or `nc -N` do), and returns every byte the server sends back
/// until it closes.
pub fn send_and_half_close(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).expect("connect to the test server");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(request).unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .expect("read until the server closes");
    answer
}

/// The golden answers: `(exchange, symbol, day, body)` for every key of the
/// reference database, written by `tests/golden/make_golden.py` with
/// Python's own `json.dumps`.
pub fn golden_prices() -> Vec<(String, String, String, String)> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(&include_bytes!("../golden/prices.golden.gz")[..])
        .read_to_string(&mut text)
        .unwrap();
    text.lines()
        .map(|line| {
            let mut fields = line.splitn(4, '\t').map(str::to_owned);
            let mut next = || fields.next().expect("four fields");
            (next(), next(), next(), next())
        })
        .collect()
}

pub const GOLDEN_EXCHANGES: &str = include_str!("../golden/exchanges.json");

/// `/exchanges` asked for as hand-typing into `nc` asks, each of which the
/// original answers with its status line and the exchanges: no blank line
/// after the head, runs of white space, versions read as numbers, no
/// leading slash.
pub const HAND_TYPED_EXCHANGES: &[&str] = &[
    // `echo 'GET /exchanges HTTP/1.0' | nc -N`.
    "GET /exchanges HTTP/1.0\n",
    "GET /exchanges HTTP/1.1\r\nHost: x\r\n",
    "GET  /exchanges  HTTP/1.0\r\n\r\n",
    "GET\t/exchanges\tHTTP/1.0\r\n\r\n",
    " GET /exchanges HTTP/1.0\r\n\r\n",
    "GET /exchanges HTTP/1.2\r\n\r\n",
    "GET /exchanges HTTP/01.0\r\n\r\n",
    "GET exchanges HTTP/1.0\r\n\r\n",
];
pub const GOLDEN_SYMBOLS: &str = include_str!("../golden/symbols.json");

/// Starts the server on the embedded data, on an ephemeral port.
pub fn start_server(config: server::ServerConfig) -> server::BackgroundServer {
    server::BackgroundServer::start(prices::PriceTable::embedded().unwrap(), config).unwrap()
}

/// Starts the server with every `/price` answer waiting `sleep_ms`, so a
/// job lasts long enough to be harmed mid-run.
pub fn slow_server(sleep_ms: u64) -> server::BackgroundServer {
    start_server(server::ServerConfig {
        sleep: std::time::Duration::from_millis(sleep_ms),
        ..server::ServerConfig::default()
    })
}

/// Starts a `crypto_db` server process (`command`, with its arguments) and
/// returns it with the address its ready banner names, and the banner.
/// Its standard output and error are piped.
pub fn spawn_server_process(mut command: Command) -> (Child, SocketAddr, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start crypto_db");
    let mut banner = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut banner)
        .unwrap();
    let url = banner
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .unwrap_or_else(|| panic!("a URL in {banner:?}"));
    let addr = url.trim_start_matches("http://").parse().unwrap();
    (child, addr, banner)
}

/// A directory for one test's files, removed with everything in it when
/// dropped, whether the test passed or failed.
pub struct ScratchDir(tempfile::TempDir);

/// A fresh scratch directory, named after the test's `name` so that one
/// left by a crashed run says whose it was.
pub fn scratch(name: &str) -> ScratchDir {
    tempfile::Builder::new()
        .prefix(&format!("crypto-db-{name}-"))
        .tempdir()
        .map(ScratchDir)
        .expect("a scratch directory in the system's temporary directory")
}

impl Deref for ScratchDir {
    type Target = Path;

    fn deref(&self) -> &Path {
        self.0.path()
    }
}

impl AsRef<Path> for ScratchDir {
    fn as_ref(&self) -> &Path {
        self.0.path()
    }
}

impl AsRef<OsStr> for ScratchDir {
    fn as_ref(&self) -> &OsStr {
        self.0.path().as_os_str()
    }
}
