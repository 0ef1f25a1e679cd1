//! Connections to Redis, and what to do when Redis goes away.
//!
//! Every command of the queue goes through [`Connections::run`]: it takes
//! an idle connection (or opens one), and when the server cannot be
//! reached (refused, reset, timed out, still loading its data after a
//! restart) it drops that connection, says so once in the log, and tries
//! again with a growing pause, for as long as
//! [`QueueOptions::reconnect_for`](crate::QueueOptions::reconnect_for).
//! A Redis that was never reached is not waited for: the first command
//! fails at once, so a mistyped address is an error, not a hang.
//! A blocked reader needs its own connection, so the pool grows to as
//! many connections as threads use the queue at once, and no further.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use redis::{ErrorKind, RedisError, ServerErrorKind};

use crate::{QueueAddress, QueueError};

/// The environment variable naming a PEM file of the CA that signed a TLS
/// server's certificate, when the system's roots do not hold it.
pub const CA_FILE_ENV: &str = "REDIS_CA_FILE";

/// What opens a certificate in a PEM file.
const PEM_CERTIFICATE: &[u8] = b"-----BEGIN CERTIFICATE-----";

/// The first pause after a failure; it doubles up to [`LONGEST_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(50);
const LONGEST_PAUSE: Duration = Duration::from_secs(2);

/// How long to wait for Redis to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A pool of blocking connections to one server.
pub(crate) struct Connections {
    client: redis::Client,
    /// The server's URL, its password hidden, for errors and log lines.
    server: String,
    idle: Mutex<Vec<redis::Connection>>,
    /// A reply must come within this: the longest block a command asks
    /// for plus a margin. (The `redis` crate's own default would cut a
    /// blocking XREADGROUP short.)
    reply_timeout: Duration,
    reconnect_for: Duration,
    /// Set once a command has succeeded: from then on, Redis's absence is
    /// an outage to wait out.
    reached: AtomicBool,
    /// Set by [`Connections::stop_retrying`]: nothing is waited out.
    leaving: AtomicBool,
    /// When the current outage began, if Redis is away: every thread
    /// waits it out, but only the first to notice says so, and only the
    /// first to get through says it is over.
    outage: Mutex<Option<Instant>>,
}

impl Connections {
    /// A pool for the server of `address`; connects lazily. Over TLS
    /// (`rediss://`) the server's certificate is checked against the
    /// system's roots, or against the PEM file `REDIS_CA_FILE` names (a
    /// private CA, as managed Redis services and tests use).
    pub(crate) fn new(
        address: &QueueAddress,
        longest_block: Duration,
        reconnect_for: Duration,
    ) -> Result<Connections, QueueError> {
        let fail = |operation, source| QueueError::Redis {
            server: address.shown_server().to_owned(),
            operation,
            source,
        };
        let client = match std::env::var_os(CA_FILE_ENV) {
            Some(path) if address.is_tls() => {
                let operation = "read the CA certificate that REDIS_CA_FILE names";
                let root = std::fs::read(&path)
                    .map_err(|error| fail(operation, RedisError::from(error)))?;
                // Otherwise rustls finds no root in it, and the server's
                // certificate is then reported as untrusted: true, and no
                // help in finding the file's mistake.
                if !root
                    .windows(PEM_CERTIFICATE.len())
                    .any(|window| window == PEM_CERTIFICATE)
                {
                    return Err(fail(
                        operation,
                        RedisError::from((
                            redis::ErrorKind::InvalidClientConfig,
                            "not a CA certificate",
                            format!(
                                "{} holds no PEM certificate (a -----BEGIN CERTIFICATE----- block)",
                                std::path::Path::new(&path).display()
                            ),
                        )),
                    ));
                }
                let certificates = redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(root),
                };
                redis::Client::build_with_tls(address.server(), certificates)
            }
            _ => redis::Client::open(address.server()),
        }
        .map_err(|source| fail("parse the server's URL", source))?;
        Ok(Connections {
            client,
            server: address.shown_server().to_owned(),
            idle: Mutex::new(Vec::new()),
            reply_timeout: longest_block + Duration::from_secs(10),
            reconnect_for,
            reached: AtomicBool::new(false),
            leaving: AtomicBool::new(false),
            outage: Mutex::new(None),
        })
    }

    /// Runs `command` on a connection, retrying through an outage; see
    /// the module's documentation. `operation` names it in errors and
    /// log lines.
    ///
    /// A command that is retried may have run once already (its reply
    /// lost with the connection): callers rely only on at-least-once.
    pub(crate) fn run<R>(
        &self,
        operation: &'static str,
        mut command: impl FnMut(&mut redis::Connection) -> redis::RedisResult<R>,
    ) -> Result<R, QueueError> {
        let mut waiting_since: Option<Instant> = None;
        let mut pause = FIRST_PAUSE;
        loop {
            let attempt = self
                .take()
                .and_then(|mut connection| match command(&mut connection) {
                    Ok(reply) => Ok((reply, connection)),
                    Err(error) => {
                        // A server's error reply leaves the connection
                        // in step; anything else may not.
                        if error.code().is_some() && !is_transient(&error) {
                            self.idle.lock().push(connection);
                        }
                        Err(error)
                    }
                });
            match attempt {
                Ok((reply, connection)) => {
                    self.idle.lock().push(connection);
                    self.reached.store(true, Ordering::Relaxed);
                    if let Some(since) = self.outage.lock().take() {
                        tracing::info!(
                            server = %self.server,
                            "Redis is back after {:.1} s; carrying on",
                            since.elapsed().as_secs_f64()
                        );
                    }
                    return Ok(reply);
                }
                Err(source)
                    if is_transient(&source)
                        && self.reached.load(Ordering::Relaxed)
                        && !self.leaving.load(Ordering::Relaxed) =>
                {
                    let since = *waiting_since.get_or_insert_with(Instant::now);
                    self.outage.lock().get_or_insert_with(|| {
                        tracing::warn!(
                            server = %self.server,
                            "lost Redis while trying to {operation} ({source}); retrying for up to {} s",
                            self.reconnect_for.as_secs()
                        );
                        since
                    });
                    if since.elapsed() >= self.reconnect_for {
                        tracing::error!(
                            server = %self.server,
                            "gave up on Redis after {} s",
                            self.reconnect_for.as_secs()
                        );
                        return Err(self.error(operation, source));
                    }
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(LONGEST_PAUSE);
                }
                Err(source) => return Err(self.error(operation, source)),
            }
        }
    }

    /// From now on, a command fails at once when Redis is away (for a
    /// queue being dropped: a process that is leaving does not wait).
    pub(crate) fn stop_retrying(&self) {
        self.leaving.store(true, Ordering::Relaxed);
    }

    pub(crate) fn error(&self, operation: &'static str, source: RedisError) -> QueueError {
        QueueError::Redis {
            server: self.server.clone(),
            operation,
            source,
        }
    }

    fn take(&self) -> redis::RedisResult<redis::Connection> {
        if let Some(connection) = self.idle.lock().pop() {
            return Ok(connection);
        }
        let connection = self.client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
        connection.set_read_timeout(Some(self.reply_timeout))?;
        connection.set_write_timeout(Some(self.reply_timeout))?;
        Ok(connection)
    }
}

/// Whether `error` is Redis being away (and worth waiting for) rather
/// than a command it refused.
fn is_transient(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_timeout()
        || matches!(
            error.kind(),
            ErrorKind::Server(
                ServerErrorKind::BusyLoading
                    | ServerErrorKind::TryAgain
                    | ServerErrorKind::MasterDown
            )
        )
}
