//! The listener: accepting connections, guarding them, and stopping cleanly.
//!
//! We drive hyper's HTTP/1 connections ourselves instead of `axum::serve`
//! because two protections need hyper's knobs: a deadline for the request
//! head (a client that trickles its headers forever, "slowloris", must not
//! hold a connection open) and a cap on the size of that head.
//!
//! Shutdown follows the pattern of tokio's mini-redis: one signal stops the
//! accept loop and is broadcast to everything still running (requests in a
//! `--sleep` wait answer at once), then we wait, with a deadline, for the
//! open connections to finish their current request.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use std::convert::Infallible;
use std::time::Instant;

use axum::Router;
use axum::response::Response;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use prices::PriceTable;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;
use tower::ServiceExt;

use crate::routes::{AppState, Stats, app, refuse_oversized_target};

/// How the server behaves; [`ServerConfig::default`] is what the command
/// line gives without flags.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Delay before every `/price` answer (the original's `--sleep`).
    pub sleep: Duration,
    /// How long a client may take to send a complete request head.
    pub header_read_timeout: Duration,
    /// The largest request head (request line and headers) read, in bytes;
    /// larger ones get `431`/`414` and the connection is closed.
    pub max_head_bytes: usize,
    /// How long shutdown waits for open connections before dropping them.
    pub shutdown_grace: Duration,
    /// Fault injection, for practising retries: every Nth `/price` request
    /// is answered `503 Service Unavailable` (with `Retry-After: 0`).
    pub fail_every: Option<std::num::NonZeroU64>,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            sleep: Duration::ZERO,
            header_read_timeout: Duration::from_secs(10),
            max_head_bytes: 16 * 1024,
            shutdown_grace: Duration::from_secs(5),
            fail_every: None,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The address could not be bound (in use, not permitted, not local).
    #[error("cannot listen on {addr}: {source}")]
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
    /// Binds `addr` and prepares to serve `table`.
    ///
    /// # Errors
    ///
    /// [`ServeError::Bind`] when the address cannot be bound, e.g. because
    /// the port is already in use.
    pub async fn bind(
        addr: SocketAddr,
        table: PriceTable,
        config: ServerConfig,
    ) -> Result<Server, ServeError> {
        let listener = listen(addr).map_err(|source| ServeError::Bind { addr, source })?;
        let (stop_waiting, stopping) = watch::channel(false);
        let state = AppState::new(table, config.sleep, stopping).with_faults(config.fail_every);
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
        let router = app(state);
        let service = service_fn(move |request| answer(router.clone(), request));
        let mut http = http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(config.header_read_timeout)
            .max_buf_size(config.max_head_bytes.max(8192));
        let graceful = GracefulShutdown::new();
        tokio::pin!(shutdown);

        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Usually out of file descriptors: back off briefly
                        // instead of spinning, and keep serving the rest.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            // Small JSON answers: send them now rather than wait for more.
            let _ = stream.set_nodelay(true);
            let connection = http.serve_connection(TokioIo::new(stream), service.clone());
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::debug!(%peer, %error, "connection ended with an error");
                }
            });
        }

        drop(listener);
        let _ = stop_waiting.send(true);
        if tokio::time::timeout(config.shutdown_grace, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("connections still open after the shutdown grace period; dropping them");
        }
    }
}

/// Answers one request: the guard that applies before routing, the router,
/// and, at debug level only, one log line. (Done here rather than as an axum
/// middleware, which boxes and clones per request: at tens of thousands of
/// requests a second that showed.)
async fn answer(router: Router, request: hyper::Request<Incoming>) -> Result<Response, Infallible> {
    if let Some(refusal) = refuse_oversized_target(request.uri()) {
        tracing::debug!(method = %request.method(), "refused: request target too long");
        return Ok(refusal);
    }
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return router.oneshot(request).await;
    }
    let started = Instant::now();
    let (method, uri) = (request.method().clone(), request.uri().clone());
    let response = router.oneshot(request).await?;
    tracing::debug!(
        %method,
        %uri,
        status = response.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    Ok(response)
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
    /// Starts serving `table` on an ephemeral port of 127.0.0.1.
    ///
    /// # Errors
    ///
    /// [`ServeError::Bind`] if no port could be bound.
    pub fn start(table: PriceTable, config: ServerConfig) -> Result<BackgroundServer, ServeError> {
        BackgroundServer::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), table, config)
    }

    /// Starts serving `table` on `addr`.
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
        table: PriceTable,
        config: ServerConfig,
    ) -> Result<BackgroundServer, ServeError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("crypto-db-server")
            .enable_all()
            .build()
            .expect("the OS starts a tokio runtime");
        let server = runtime.block_on(Server::bind(addr, table, config))?;
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
