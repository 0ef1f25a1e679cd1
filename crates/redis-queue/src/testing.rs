//! A real Redis for tests: `redis-server` on 127.0.0.1, a free port, a
//! temporary directory, stopped when dropped.
//!
//! Debian's `redis-server` package provides it (`.ci/run` installs it).
//! A test that needs one starts it with [`RedisServer::try_start`]: on a
//! machine without `redis-server`, outside CI, the test says in one line
//! what to install and skips; under CI (`CI` set) it fails instead, so a
//! missing package never passes unseen.

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::QueueAddress;

/// A `redis-server` process of a test's own.
///
/// # Examples
///
/// ```no_run
/// use redis_queue::testing::RedisServer;
///
/// let redis = RedisServer::start();
/// let address = redis.queue("jobs");
/// assert!(address.to_string().starts_with("redis://127.0.0.1:"));
/// ```
pub struct RedisServer {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// For a server that speaks only TLS: its password.
    tls_password: Option<String>,
}

impl RedisServer {
    /// Starts one without persistence, or returns `None` (after one line
    /// on stderr saying what to install) when `redis-server` is not
    /// installed here and `CI` is not set.
    ///
    /// # Panics
    ///
    /// Under CI when `redis-server` is missing, and as [`start`](Self::start).
    pub fn try_start() -> Option<RedisServer> {
        installed().then(RedisServer::start)
    }

    /// [`start_persistent`](Self::start_persistent), or `None` as
    /// [`try_start`](Self::try_start).
    ///
    /// # Panics
    ///
    /// As [`try_start`](Self::try_start).
    pub fn try_start_persistent() -> Option<RedisServer> {
        installed().then(RedisServer::start_persistent)
    }

    /// Starts one, without persistence.
    ///
    /// # Panics
    ///
    /// If `redis-server` cannot be started, or does not answer within 10 s.
    pub fn start() -> RedisServer {
        RedisServer::start_with(false)
    }

    /// Starts one that appends every write to its AOF (fsync on each
    /// write), so that a restart keeps everything.
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start).
    pub fn start_persistent() -> RedisServer {
        RedisServer::start_with(true)
    }

    fn start_with(aof: bool) -> RedisServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut server = RedisServer {
            port,
            dir,
            child: None,
            tls_password: None,
        };
        server.spawn(aof);
        server
    }

    /// Starts one that speaks only TLS, with a certificate for 127.0.0.1
    /// signed by a CA made for it ([`ca_file`](Self::ca_file)), and that
    /// asks for `password`; or `None` as [`try_start`](Self::try_start)
    /// when `redis-server` or `openssl` is missing.
    ///
    /// # Panics
    ///
    /// Under CI when either is missing; if the certificates cannot be made
    /// or the server does not answer within 10 s.
    pub fn try_start_tls(password: &str) -> Option<RedisServer> {
        if !(installed() && openssl_installed()) {
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let dir = tempfile::tempdir().expect("a temporary directory");
        make_certificates(dir.path(), "ca", "server");
        let mut server = RedisServer {
            port,
            dir,
            child: None,
            tls_password: Some(password.to_owned()),
        };
        server.spawn(false);
        Some(server)
    }

    /// The PEM file of the CA that signed a TLS server's certificate.
    pub fn ca_file(&self) -> std::path::PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// A CA that did not sign the server's certificate, and its PEM file:
    /// what a client with the wrong certificate trusts.
    ///
    /// # Panics
    ///
    /// If `openssl` fails.
    pub fn other_ca_file(&self) -> std::path::PathBuf {
        make_certificates(self.dir.path(), "other-ca", "other-server");
        self.dir.path().join("other-ca.crt")
    }

    fn spawn(&mut self, aof: bool) {
        let mut command = Command::new("redis-server");
        command.args(["--bind", "127.0.0.1"]);
        match &self.tls_password {
            None => command.args(["--port", &self.port.to_string()]),
            Some(password) => command
                .args(["--port", "0", "--tls-port", &self.port.to_string()])
                .args([
                    "--tls-cert-file",
                    "server.crt",
                    "--tls-key-file",
                    "server.key",
                ])
                .args(["--tls-ca-cert-file", "ca.crt", "--tls-auth-clients", "no"])
                .args(["--requirepass", password]),
        };
        command
            .current_dir(self.dir.path())
            .arg("--dir")
            .arg(self.dir.path())
            .args(["--save", "", "--logfile", "redis.log"])
            .args(["--appendonly", if aof { "yes" } else { "no" }])
            .args(["--appendfsync", "always"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = command.spawn().unwrap_or_else(|error| {
            panic!("cannot start redis-server ({error}): install Debian's redis-server package")
        });
        self.child = Some(child);
        self.wait_until_ready();
    }

    fn wait_until_ready(&self) {
        let started = Instant::now();
        let ca = self
            .tls_password
            .as_ref()
            .map(|_| std::fs::read(self.ca_file()).expect("the CA file"));
        loop {
            let client = match (&self.tls_password, &ca) {
                (Some(password), Some(ca)) => redis::Client::build_with_tls(
                    format!("rediss://:{password}@127.0.0.1:{}", self.port),
                    redis::TlsCertificates {
                        client_tls: None,
                        root_cert: Some(ca.clone()),
                    },
                ),
                _ => redis::Client::open(self.url()),
            };
            let ready = client
                .and_then(|client| client.get_connection_with_timeout(Duration::from_secs(1)))
                .and_then(|mut connection| redis::cmd("PING").query::<String>(&mut connection));
            if ready.is_ok() {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server on port {} did not answer: {ready:?}; its log: {}",
                self.port,
                std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's URL, `redis://127.0.0.1:PORT` (`rediss://`, without
    /// the password, for a TLS server).
    pub fn url(&self) -> String {
        let scheme = if self.tls_password.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The address of the queue `name` on this server.
    pub fn queue(&self, name: &str) -> QueueAddress {
        format!("{}/{name}", self.url())
            .parse()
            .expect("a valid queue address")
    }

    /// A connection of the test's own, to look at the keys.
    ///
    /// # Panics
    ///
    /// If the server does not answer.
    pub fn connection(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .and_then(|client| client.get_connection_with_timeout(Duration::from_secs(5)))
            .expect("a connection to the test's redis-server")
    }

    /// The server's directory (its log is `redis.log`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Starts a stopped server again, on the same port and directory,
    /// with AOF on (what it had is kept only if it had AOF on before).
    pub fn start_again(&mut self) {
        self.spawn(true);
    }

    /// Stops the server the way an operator would (SHUTDOWN: the AOF is
    /// flushed), leaves it down for `down`, and starts it again on the
    /// same port and directory with AOF on.
    pub fn restart(&mut self, down: Duration) {
        self.stop();
        std::thread::sleep(down);
        self.spawn(true);
    }

    /// Stops the server and starts it again on the same port with
    /// nothing: what a restart without persistence does to the data.
    pub fn restart_empty(&mut self, down: Duration) {
        self.stop();
        for file in ["appendonly.aof", "dump.rdb", "appendonlydir"] {
            let path = self.dir.path().join(file);
            let _ = std::fs::remove_file(&path);
            let _ = std::fs::remove_dir_all(&path);
        }
        std::thread::sleep(down);
        self.spawn(false);
    }

    /// Stops the server (it stays down until [`start_again`](Self::start_again)).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Ok(mut connection) = redis::Client::open(self.url())
                .and_then(|client| client.get_connection_with_timeout(Duration::from_secs(1)))
            {
                // The connection closes as the server stops: no reply.
                let _ = redis::cmd("SHUTDOWN").query::<()>(&mut connection);
            }
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Whether `redis-server` runs here; see the module's documentation.
/// A CA (`CA.crt`, `CA.key`) and a certificate for 127.0.0.1 that it
/// signed (`SERVER.crt`, `SERVER.key`), in `dir`, made with `openssl`.
fn make_certificates(dir: &Path, ca: &str, server: &str) {
    let openssl = |args: &[&str]| {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .expect("openssl runs");
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let (ca_key, ca_crt) = (format!("{ca}.key"), format!("{ca}.crt"));
    let (key, csr, crt) = (
        format!("{server}.key"),
        format!("{server}.csr"),
        format!("{server}.crt"),
    );
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        &format!("/CN={ca}"),
        "-keyout",
        &ca_key,
        "-out",
        &ca_crt,
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        &key,
        "-out",
        &csr,
    ]);
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .expect("the extensions file");
    openssl(&[
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &ca_crt,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        &crt,
    ]);
}

fn openssl_installed() -> bool {
    on_path("openssl", "version")
}

fn installed() -> bool {
    on_path("redis-server", "--version")
}

/// Whether `program` runs here (asked for its version with `flag`).
/// Outside CI a missing one is a skip, said in one line; under CI (`CI`
/// set) it fails the test, so a missing package never passes unseen.
fn on_path(program: &str, flag: &str) -> bool {
    let found = Command::new(program)
        .arg(flag)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install {program} (Debian's package) for this test"
        );
        // Straight to the stream: the test harness captures `eprintln!` of
        // a passing test, and this line is for whoever runs the tests.
        let _ = writeln!(
            std::io::stderr(),
            "skipped: needs {program} on PATH (Debian: apt-get install {program})"
        );
    }
    found
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
