//! The benchmark's baseline: the least a server on this stack can do. Every
//! GET gets the same constant JSON body from a one-line axum handler, served
//! by plain `axum::serve`: no table, no look-up, no formatting. Our server's
//! throughput is reported as a share of this one's, measured in the same
//! run (see `bench/server.sh`).
//!
//! `cargo run --release -p crypto-db-server --example fixed_body_baseline -- PORT`

use axum::Router;
use axum::http::header;
use axum::routing::get;

/// The very bytes our server answers to the benchmark's request
/// (`/price/bitstamp/btc/2020-04-01`, 155 bytes), so both send the same.
const BODY: &str = r#"{"exchange": "bitstamp", "symbol": "btc", "open": 6408.95, "high": 6527.24, "low": 6337.42, "close": 6421.14, "volume": 6342.29832651, "day": "2020-04-01"}"#;

#[tokio::main]
async fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(8090);
    let app = Router::new().fallback(get(|| async {
        ([(header::CONTENT_TYPE, "application/json")], BODY)
    }));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind the port");
    println!("fixed-body baseline on http://127.0.0.1:{port}");
    axum::serve(listener, app).await.expect("serve");
}
