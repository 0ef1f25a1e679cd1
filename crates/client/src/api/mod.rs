//! The typed API client, blocking ([`Client`]) and async ([`AsyncClient`]),
//! with timeouts and retries.
//!
//! Both flavours share everything but the I/O: how URLs are built, how an
//! answer is classified (a price, `null`, an error worth retrying or not),
//! and how long to wait before the next try.

use std::time::Duration;

use prices::Day;
use serde::{Deserialize, Serialize};

mod answers;
mod blocking;
mod error;
mod nonblocking;
mod retry;
#[cfg(test)]
mod tests;

pub(crate) use answers::{WirePrice, parse_price};
use answers::{parse_names, parse_prices};
pub use blocking::Client;
pub use error::{BodyError, ClientError};
pub use nonblocking::AsyncClient;
pub use retry::RetryPolicy;
use retry::{Answer, Attempt, Retrier, retry_after, settle, transport_error};

/// One try of a request, as a timeline draws it: when it started and
/// ended, in microseconds from the start of the call it belongs to (the
/// gaps between tries are the retries' waits), and the status that came
/// back (`None`: no answer: refused, reset, timed out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Try {
    /// Microseconds from the call's start to this try's start.
    pub start_micros: u64,
    /// Microseconds from the call's start to this try's end.
    pub end_micros: u64,
    /// The answer's status, or `None` when none came.
    pub status: Option<u16>,
}

/// A call's result and every try it took.
#[derive(Debug, Clone)]
pub struct Tried<T> {
    /// What the call returns.
    pub result: Result<T, ClientError>,
    /// Its tries, in order: one unless it was retried.
    pub tries: Vec<Try>,
    /// When the call started, in microseconds since the Unix epoch: the
    /// one clock that processes (and, roughly, machines) share.
    pub started_unix_micros: u64,
    /// How long the call took, retries and their waits included.
    pub took: std::time::Duration,
}

/// Notes the tries of one call, from its start.
struct TryLog {
    started: std::time::Instant,
    started_unix_micros: u64,
    tries: Vec<Try>,
}

/// Microseconds since the Unix epoch, now.
pub(crate) fn unix_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_micros()).unwrap_or(u64::MAX)
        })
}

impl TryLog {
    fn new() -> TryLog {
        TryLog {
            started: std::time::Instant::now(),
            started_unix_micros: unix_micros(),
            tries: Vec::with_capacity(1),
        }
    }

    /// The call's result, with its tries.
    fn into_tried<T>(self, result: Result<T, ClientError>) -> Tried<T> {
        Tried {
            result,
            tries: self.tries,
            started_unix_micros: self.started_unix_micros,
            took: self.started.elapsed(),
        }
    }

    /// Notes a try that began at `began` and just ended with `status`.
    fn tried(&mut self, began: std::time::Instant, status: Option<u16>) {
        let micros = |at: std::time::Instant| {
            u64::try_from(at.duration_since(self.started).as_micros()).unwrap_or(u64::MAX)
        };
        self.tries.push(Try {
            start_micros: micros(began),
            end_micros: micros(std::time::Instant::now()),
            status,
        });
    }
}

/// How a client reaches the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientConfig {
    /// The server, e.g. `http://127.0.0.1:8080` (no trailing slash needed).
    pub base_url: String,
    /// The longest wait for a connection.
    pub connect_timeout: Duration,
    /// The longest wait for a whole answer.
    pub request_timeout: Duration,
    /// When to retry.
    pub retry: RetryPolicy,
}

impl Default for ClientConfig {
    fn default() -> ClientConfig {
        ClientConfig {
            base_url: "http://127.0.0.1:8080".into(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
        }
    }
}

impl ClientConfig {
    /// How a reqwest builder failure is reported, for both client flavours.
    fn build_error(&self, error: &reqwest::Error) -> ClientError {
        ClientError::InvalidUrl {
            url: self.base_url.clone(),
            reason: error.to_string(),
        }
    }

    /// The default configuration for the server at `base_url`.
    pub fn new(base_url: impl Into<String>) -> ClientConfig {
        ClientConfig {
            base_url: base_url.into(),
            ..ClientConfig::default()
        }
    }

    fn validated_base(&self) -> Result<String, ClientError> {
        let base = self.base_url.trim_end_matches('/');
        let invalid = |reason: &str| ClientError::InvalidUrl {
            url: self.base_url.clone(),
            reason: reason.into(),
        };
        let Some(rest) = base.strip_prefix("http://") else {
            return Err(invalid(if base.starts_with("https://") {
                "HTTPS is not built into this client (the API it targets is local); use http://"
            } else {
                "it must start with http://"
            }));
        };
        if rest.is_empty() || rest.contains(['/', '?', '#', ' ']) {
            return Err(invalid("expected http://HOST[:PORT]"));
        }
        Ok(base.to_owned())
    }
}

/// The path of one price, each segment percent-encoded so that any name
/// reaches the server intact.
pub(super) fn price_path(exchange: &str, symbol: &str, date: &str) -> String {
    format!(
        "/price/{}/{}/{}",
        encode_segment(exchange),
        encode_segment(symbol),
        encode_segment(date)
    )
}

/// The most rows the server's `/prices` answers at once (its default page).
pub(super) const RANGE_PAGE: usize = 1000;

pub(super) fn range_path(exchange: &str, symbol: &str, first: Day, last: Day) -> String {
    format!(
        "/prices/{}/{}?start={first}&end={last}&limit={RANGE_PAGE}",
        encode_segment(exchange),
        encode_segment(symbol),
    )
}

pub(super) fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
