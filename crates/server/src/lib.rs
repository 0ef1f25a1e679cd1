//! The `crypto_db` price server: the original Flask app's API, answered as
//! it answers, on the wire as well as in bodies, from memory, on tokio and
//! hyper.
//!
//! # Layout
//!
//! - `routes`: what each request answers ([`AppState::respond`]): the
//!   `--sleep` delay, fault injection, the error answers (400 JSON,
//!   Werkzeug's 404/405 pages and reason phrases, 414).
//! - `chaos` ([`ChaosConfig`]): the practice ground's faults on purpose (latency, errors,
//!   a rate limit, dropped, reset, hung, cut and dripped answers),
//!   reproducible from a seed.
//! - `metrics`: the counters at `/metrics`.
//! - `openapi`: the OpenAPI 3.1 document of every route (`/openapi.json`)
//!   and the page that renders it (`/docs`), checked against the router.
//! - `target`: reading a request path as the original's Werkzeug does
//!   (percent-decoding, leading and merged slashes, the 308 redirect).
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
mod first_request;
mod memory;
mod metrics;
mod openapi;
mod routes;
mod serve;
mod target;

pub use chaos::{ChaosConfig, ChaosParseError, FaultFlag, Latency, Rate, RateLimit};
pub use routes::{AppState, Stats};
pub use serve::{BackgroundServer, ServeError, Server, ServerConfig};
