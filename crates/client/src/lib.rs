//! The client side of `crypto_db`: a typed API client, and the bulk
//! `fetch` job built on the `concurrent` library.
//!
//! # Layout
//!
//! - `api` — [`Client`] (blocking) and [`AsyncClient`], sharing the
//!   server's data model ([`prices::Price`], with each number's INTEGER or
//!   REAL class kept), with timeouts and retries ([`RetryPolicy`]).
//! - [`fetch`] — the lessons' producer/consumer as a tool: plan, fetch
//!   with a pool of workers, write CSV/JSONL/JSON as results arrive,
//!   resume, report.

#![warn(missing_docs)]

mod api;
pub mod fetch;

pub use api::{AsyncClient, BodyError, Client, ClientConfig, ClientError, RetryPolicy, Tried, Try};
