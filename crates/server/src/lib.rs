//! The `crypto_db` price server: the original Flask app's API, answered as
//! it answers, on the wire as well as in bodies, from memory, on tokio and
//! hyper.
//!
//! # Layout
//!
//! - `routes/`: what each request answers ([`AppState::respond`]):
//!   `mod.rs` the state and the dispatch (the `--sleep` delay, the
//!   practice ground's fate of a request, counting at `/metrics`);
//!   `reply.rs` the answers routes share (JSON errors, Werkzeug's 404, 405
//!   and 308 pages and reason phrases); `range.rs` `/prices`.
//! - `target`: reading a request path as the original's Werkzeug does
//!   (percent-decoding, leading and merged slashes, the 308 redirect), and
//!   the route table: a new route is a row there and an answer in
//!   `routes/mod.rs`.
//! - `chaos/` ([`ChaosConfig`]): the practice ground's faults on purpose,
//!   from one table (`faults.rs`: a new fault is a row there and its
//!   branch in `Chaos::plan`), reproducible from a seed.
//! - `delivery`: how an answer's bytes reach the client, whole or as a
//!   fault decided (dropped, reset, hung, cut short, dripped).
//! - `metrics`: the counters at `/metrics`.
//! - `live`: what `/live` draws and `/live.json` tells (the requests of
//!   the last seconds, lane by lane), and the stream that feeds the page.
//! - `openapi`: the OpenAPI 3.1 document of every route (`/openapi.json`)
//!   and the page that renders it (`/docs`), checked against the router.
//! - `wire/`: each request head read as Python's `http.server` reads it
//!   before hyper reads it (no version, extra white space, a target with
//!   bytes a URL cannot hold, a head cut short by the end of the input,
//!   Python's error page for a line it refuses); `framing.rs` finds where
//!   each request of a kept-alive connection begins.
//! - `connection`: one client connection's deadlines (a slow head, a long
//!   idle spell) and the registry of open connections.
//! - `memory`: giving the heap back to the operating system after a
//!   storm of connections.
//! - `serve`: binding, the accept loop with its connection cap, graceful
//!   shutdown, and [`BackgroundServer`] for tests and examples.
//!
//! # Examples
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let table = prices::PriceTable::embedded()?;
//! let server = server::Server::bind("127.0.0.1:8080".parse()?, table, Default::default()).await?;
//! server.run(async { let _ = tokio::signal::ctrl_c().await; }).await;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod chaos;
mod connection;
mod delivery;
mod live;
mod memory;
mod metrics;
mod openapi;
mod routes;
mod serve;
mod target;
mod wire;

pub use chaos::{ChaosConfig, ChaosParseError, FaultFlag, Latency, Rate, RateLimit};
pub use routes::{AppState, Stats};
pub use serve::{BackgroundServer, ServeError, Server, ServerConfig};
