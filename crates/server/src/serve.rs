//! The listener: accepting connections, guarding them, and stopping cleanly.
//!
//! We drive hyper's HTTP/1 connections ourselves instead of `axum::serve`
//! or hyper-util's helpers because the guards need it:
//!
//! - a deadline for a request head that has started, and a much longer one
//!   for an idle kept-alive connection (the private `connection` module);
//! - a cap on the request head's size;
//! - half-closed connections still get their answers (`nc -q 1`, or any
//!   client that shuts down its side after sending), as the original's;
//! - a cap on open connections below the open-file limit: at the cap the
//!   oldest idle connection is closed to make room, and when none is idle,
//!   new clients wait in the kernel's backlog until one finishes, instead
//!   of the accept loop spinning on "too many open files".
//!
//! Shutdown follows the pattern of tokio's mini-redis: one signal stops the
//! accept loop and is broadcast to everything still running (requests in a
//! `--sleep` wait answer at once, idle connections close), then we wait,
//! with a deadline, for the open connections to finish their current
//! request.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use prices::PriceSource;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{Semaphore, watch};

use crate::chaos::ChaosConfig;
use crate::connection::{self, Activity, Ended, Limits, Registry, Watched};
use crate::delivery::{DeliveryBody, NoAnswer, deliver};
use crate::live::Lane;
use crate::routes::{AppState, Stats};
use crate::wire::AsPythonReads;

/// How the server behaves; [`ServerConfig::default`] is what the command
/// line gives without flags.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Delay before every `/price` answer (the original's `--sleep`).
    pub sleep: Duration,
    /// How long a client may take to send a request head, from its first
    /// byte.
    pub header_read_timeout: Duration,
    /// How long a kept-alive connection may sit idle between requests:
    /// unlimited unless set (`Duration::MAX`). An idle connection stays
    /// until the server needs room for a new one (the oldest idle one
    /// goes first) or stops, so a client that reuses a connection after
    /// any pause finds it open, as clients of the original always do (it
    /// closes after every answer, so they always reconnect).
    pub idle_timeout: Duration,
    /// The most connections open at once; `None` derives it from the
    /// open-file limit: the soft limit as it is at start, less 64 kept for
    /// files and the listener, and at least 16.
    pub max_connections: Option<usize>,
    /// The largest request head (request line and headers) read, in bytes;
    /// larger ones get `431`/`414` and the connection is closed.
    pub max_head_bytes: usize,
    /// How long shutdown waits for open connections before dropping them.
    pub shutdown_grace: Duration,
    /// The practice ground's faults (none by default).
    pub chaos: ChaosConfig,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            sleep: Duration::ZERO,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::MAX,
            max_connections: None,
            max_head_bytes: 16 * 1024,
            shutdown_grace: Duration::from_secs(5),
            chaos: ChaosConfig::default(),
        }
    }
}

/// File descriptors kept free for everything but client connections (the
/// listener, logs, a `--db` file, the one connection accepted while
/// waiting for room).
const RESERVED_FDS: u64 = 64;

/// The connection cap when none is configured: the process's open-file
/// limit (soft, as it is now) less a reserve, and at least 16.
pub(crate) fn default_max_connections() -> usize {
    let (soft, _hard) = rlimit::Resource::NOFILE.get().unwrap_or((1024, 1024));
    usize::try_from(soft.saturating_sub(RESERVED_FDS).max(16)).unwrap_or(usize::MAX)
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The address could not be bound (in use, not permitted, not local).
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's reason.
        source: std::io::Error,
    },
}

/// A bound, not yet running server.
///
/// Binding is separate from running so that the caller can learn the real
/// address (port 0 picks a free one) before the first request.
pub struct Server {
    listener: TcpListener,
    state: AppState,
    stop_waiting: watch::Sender<bool>,
    config: ServerConfig,
}

impl Server {
    /// Binds `addr` and prepares to serve `prices` (a table in memory, or
    /// a lookup per request).
    ///
    /// # Errors
    ///
    /// [`ServeError::Bind`] when the address cannot be bound, e.g. because
    /// the port is already in use.
    pub async fn bind(
        addr: SocketAddr,
        prices: impl Into<PriceSource>,
        config: ServerConfig,
    ) -> Result<Server, ServeError> {
        let listener = listen(addr).map_err(|source| ServeError::Bind { addr, source })?;
        let (stop_waiting, stopping) = watch::channel(false);
        let state = AppState::new(prices, config.sleep, stopping).with_chaos(config.chaos.clone());
        Ok(Server {
            listener,
            state,
            stop_waiting,
            config,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has an address")
    }

    /// The state shared by the handlers (table and live counters).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then stops accepting, lets open
    /// connections finish (up to [`ServerConfig::shutdown_grace`]) and
    /// returns.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let Server {
            listener,
            state,
            stop_waiting,
            config,
        } = self;
        let max_connections = config
            .max_connections
            .unwrap_or_else(default_max_connections)
            .max(1);
        let room = Arc::new(Semaphore::new(max_connections));
        let registry = Arc::new(Registry::default());
        let mut http = http1::Builder::new();
        // Our own head deadline replaces hyper's (see `connection`).
        http.header_read_timeout(None)
            .half_close(true)
            // `Content-Type`, as Werkzeug writes it, for whoever reads the
            // raw bytes (`nc`, `curl -i`).
            .title_case_headers(true)
            .max_buf_size(config.max_head_bytes.max(8192));
        let limits = Limits {
            head: config.header_read_timeout,
            idle: config.idle_timeout,
        };
        let epoch = tokio::time::Instant::now();
        let mut full_log = RateLimitedLog::default();
        let mut accept_log = RateLimitedLog::default();
        tokio::pin!(shutdown);

        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Usually out of file descriptors: make room if an
                        // idle connection can go, back off briefly instead
                        // of spinning, and keep serving the rest.
                        registry.shed_oldest_idle();
                        accept_log.warn(|suppressed| {
                            tracing::warn!(%error, suppressed, "accepting a connection failed");
                        });
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let permit = match room.clone().try_acquire_owned() {
                Ok(permit) => permit,
                Err(_) => {
                    registry.shed_oldest_idle();
                    full_log.warn(|suppressed| {
                        tracing::warn!(
                            open = registry.len(),
                            max_connections,
                            suppressed,
                            "at the connection cap: closing the oldest idle connection, or waiting for one to finish"
                        );
                    });
                    // Wait for a connection to end; every 50 ms, close one
                    // that has gone idle meanwhile.
                    let permit = loop {
                        tokio::select! {
                            permit = room.clone().acquire_owned() => {
                                break Some(permit.expect("the semaphore is never closed"));
                            }
                            () = tokio::time::sleep(Duration::from_millis(50)) => {
                                registry.shed_oldest_idle();
                            }
                            () = &mut shutdown => break None,
                        }
                    };
                    match permit {
                        Some(permit) => permit,
                        None => break,
                    }
                }
            };
            let activity = Arc::new(Activity::new(epoch));
            let id = registry.insert(activity.clone());
            let lane = state.live().lane(id);
            let connection =
                serve_connection(&http, stream, peer, lane, state.clone(), activity.clone());
            let registry = registry.clone();
            let open = state.connection_opened();
            tokio::spawn(async move {
                let _open = open;
                match connection::drive(connection, &activity, limits).await {
                    Ended::Closed => {}
                    Ended::Error(error) => {
                        tracing::debug!(%peer, %error, "connection ended with an error");
                    }
                    Ended::HeadTimedOut => {
                        tracing::debug!(%peer, "closed: the request head took too long");
                    }
                }
                registry.remove(id);
                drop(permit);
            });
        }

        drop(listener);
        let _ = stop_waiting.send(true);
        registry.close_all();
        // Every connection holds a permit until it ends.
        let all = u32::try_from(max_connections).unwrap_or(u32::MAX);
        if tokio::time::timeout(config.shutdown_grace, room.acquire_many(all))
            .await
            .is_err()
        {
            tracing::warn!("connections still open after the shutdown grace period; dropping them");
        }
    }
}

/// One hyper connection on `stream` from `peer` (its `lane` in the live
/// view), whose service tells `activity` when each request starts and
/// ends.
fn serve_connection(
    http: &http1::Builder,
    stream: TcpStream,
    peer: SocketAddr,
    lane: Arc<Lane>,
    state: AppState,
    activity: Arc<Activity>,
) -> impl connection::GracefulConnection + Send + use<> {
    // Small JSON answers: send them now rather than wait for more.
    let _ = stream.set_nodelay(true);
    let local = stream
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
    let io = TokioIo::new(AsPythonReads::new(Watched::new(stream, activity.clone())));
    let service = service_fn(move |request| {
        activity.request_started();
        let (state, activity, lane) = (state.clone(), activity.clone(), lane.clone());
        async move {
            let answered = answer(&state, request, local, peer, &lane, &activity).await;
            activity.request_finished();
            answered
        }
    });
    http.serve_connection(io, service)
}

/// Answers one request and, at debug level only, logs it; carries out
/// the practice ground's delivery faults.
async fn answer(
    state: &AppState,
    request: hyper::Request<Incoming>,
    local: SocketAddr,
    peer: SocketAddr,
    lane: &Lane,
    activity: &Activity,
) -> Result<hyper::Response<DeliveryBody>, NoAnswer> {
    let started = tracing::enabled!(tracing::Level::DEBUG).then(Instant::now);
    let (response, delivery) = state.answer(&request, local, peer.ip(), Some(lane)).await;
    if let Some(started) = started {
        tracing::debug!(
            method = %request.method(),
            uri = %request.uri(),
            status = response.status().as_u16(),
            ?delivery,
            micros = started.elapsed().as_micros() as u64,
            "request"
        );
    }
    deliver(delivery, response, state, activity).await
}

/// A warning at most once a second, saying how many were held back: a
/// flood of failing accepts must not become a flood of log lines.
#[derive(Default)]
struct RateLimitedLog {
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimitedLog {
    fn warn(&mut self, log: impl FnOnce(u64)) {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < Duration::from_secs(1))
        {
            self.suppressed += 1;
            return;
        }
        log(self.suppressed);
        self.last = Some(now);
        self.suppressed = 0;
    }
}

/// How many connections may wait to be accepted. The usual default, 1024,
/// is too few when a client opens over a thousand connections at once (the
/// lesson's job with one worker per request): the kernel then drops the
/// extra SYNs, and those clients retry only a second later.
const LISTEN_BACKLOG: u32 = 8192;

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As `TcpListener::bind` does: a restarted server can take its port
    // back at once instead of waiting out TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    // The kernel caps this at net.core.somaxconn.
    socket.listen(LISTEN_BACKLOG)
}

/// A server running on its own thread and runtime, for tests, examples and
/// any program that wants a local price server without being async itself.
/// Dropping it stops the server and waits for the thread.
///
/// # Examples
///
/// ```
/// let server = server::BackgroundServer::start(
///     prices::PriceTable::embedded()?,
///     server::ServerConfig::default(),
/// )?;
/// assert!(server.url().starts_with("http://127.0.0.1:"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct BackgroundServer {
    addr: SocketAddr,
    state: AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BackgroundServer {
    /// Starts serving `prices` on an ephemeral port of 127.0.0.1.
    ///
    /// # Errors
    ///
    /// [`ServeError::Bind`] if no port could be bound.
    pub fn start(
        prices: impl Into<PriceSource>,
        config: ServerConfig,
    ) -> Result<BackgroundServer, ServeError> {
        BackgroundServer::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), prices, config)
    }

    /// Starts serving `prices` on `addr`.
    ///
    /// # Errors
    ///
    /// [`ServeError::Bind`] if `addr` could not be bound.
    ///
    /// # Panics
    ///
    /// Panics if the operating system refuses to start a thread or a tokio
    /// runtime (out of resources).
    pub fn start_on(
        addr: SocketAddr,
        prices: impl Into<PriceSource>,
        config: ServerConfig,
    ) -> Result<BackgroundServer, ServeError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("crypto-db-server")
            .enable_all()
            .build()
            .expect("the OS starts a tokio runtime");
        let server = runtime.block_on(Server::bind(addr, prices, config))?;
        let addr = server.local_addr();
        let state = server.state().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("crypto-db-server".into())
            .spawn(move || {
                runtime.block_on(server.run(async {
                    let _ = stopped.await;
                }));
            })
            .expect("the OS starts a thread");
        Ok(BackgroundServer {
            addr,
            state,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The server's live counters.
    pub fn stats(&self) -> &Stats {
        self.state.stats()
    }

    /// Stops the server (waiting requests answer at once) and waits for it.
    pub fn stop(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}
