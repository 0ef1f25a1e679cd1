//! The end-to-end tests, one binary (as ripgrep's are): the real
//! `crypto_db` binary and the server crate over real sockets, real Python
//! clients, a real browser, a real Redis and the original server itself.
//! Each module is one area; `support` holds what they share.
//!
//! What each needs besides Rust, and what happens without it, is in
//! `docs/contributing.md`: outside CI a test whose service is missing
//! skips with one line saying what to install; under CI (`CI` set) it fails.

// The `crypto_db` binary starts process-pool workers by running itself;
// a test binary is run instead when fetch's process executor is driven
// through the library here, and this names the entry point it runs.
concurrent::process_worker_entry!();

mod support;

mod api;
mod chaos;
mod cli;
mod examples;
mod fetch;
mod live;
mod openapi_validator;
mod original;
mod page_browser;
mod python_clients;
mod range_api;
mod redis_queue;
mod sweep;
mod wire;
