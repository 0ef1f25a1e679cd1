//! The `crypto_db` price server: the original Flask app's API, answered byte
//! for byte, from memory, on tokio and axum.
//!
//! # Layout
//!
//! - [`routes`]: the router ([`app`]), the handlers, the `--sleep` delay
//!   and the error answers (400 JSON, Werkzeug's 404/405 pages, 414).
//! - [`serve`]: binding, the accept loop with hyper's head timeout and size
//!   cap, graceful shutdown, and [`BackgroundServer`] for tests and
//!   examples.
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

pub mod routes;
pub mod serve;

pub use routes::{AppState, MAX_TARGET_LEN, Stats, app};
pub use serve::{BackgroundServer, ServeError, Server, ServerConfig};
