//! What can go wrong with a request, as the client reports it: a
//! [`ClientError`], and a [`BodyError`] for an answer that is not what
//! the API sends.

use std::time::Duration;

/// Why a request failed (after its retries, where it was retried). It
/// crosses from a worker process or machine as it is (serde), so a
/// failure reads the same wherever the request ran.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum ClientError {
    /// No connection: the server is down, the port closed, the host unknown.
    #[error("cannot reach {url}: {reason}")]
    Unreachable {
        /// The URL asked for.
        url: String,
        /// What the network layer said.
        reason: String,
    },
    /// Connected, but no complete answer within the timeout.
    #[error("{url}: no answer within {timeout:?}")]
    Timeout {
        /// The URL asked for.
        url: String,
        /// The limit that ran out.
        timeout: Duration,
    },
    /// The server answered with an error status.
    #[error("{url}: HTTP {status}: {message}")]
    Status {
        /// The URL asked for.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// The server's explanation (its `{"error": ...}`), or the body.
        message: String,
        /// How long the server asked us to wait before trying again (its
        /// `Retry-After`, in seconds), if it said.
        retry_after: Option<Duration>,
    },
    /// The answer is not what the API sends.
    #[error("{url}: unexpected answer: {reason}")]
    Decode {
        /// The URL asked for.
        url: String,
        /// What was wrong with it.
        reason: BodyError,
    },
    /// The base URL cannot be used.
    #[error("invalid server URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// Why it is unusable.
        reason: String,
    },
}

impl ClientError {
    /// Whether trying again may help: connection failures, timeouts, 5xx
    /// and 429 (too many requests). Never a 4xx: asking again the same
    /// wrong thing gives the same answer.
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Unreachable { .. } | ClientError::Timeout { .. } => true,
            ClientError::Status { status, .. } => *status == 429 || *status >= 500,
            ClientError::Decode { .. } | ClientError::InvalidUrl { .. } => false,
        }
    }

    /// Whether the server gave no answer at all: the connection was
    /// refused, reset or closed, or the answer did not come in time.
    pub fn is_no_answer(&self) -> bool {
        matches!(
            self,
            ClientError::Unreachable { .. } | ClientError::Timeout { .. }
        )
    }

    /// The server's `Retry-After`, when it answered with one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ClientError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// What is wrong with a body that is not what the API sends. (Plain data,
/// not `serde_json`'s error, so that a [`ClientError`] can be cloned and
/// compared.)
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum BodyError {
    /// Not JSON, or JSON of another shape; `serde_json`'s explanation, with
    /// its line and column.
    #[error("{0}")]
    Json(String),
    /// A number that fits neither a 64-bit integer nor a double.
    #[error("{0} does not fit a 64-bit number")]
    NumberTooBig(String),
    /// A price whose day is not a day.
    #[error(transparent)]
    Day(#[from] prices::DayError),
}

impl From<serde_json::Error> for BodyError {
    fn from(error: serde_json::Error) -> BodyError {
        BodyError::Json(error.to_string())
    }
}
