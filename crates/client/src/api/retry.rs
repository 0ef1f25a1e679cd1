//! When to try a request again and how long to wait: the [`RetryPolicy`],
//! and the decisions the blocking and the async client share.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{BodyError, ClientError};

/// When to try a failed request again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Tries after the first (0: never retry).
    pub retries: u32,
    /// The first wait; it doubles at each retry.
    pub base_delay: Duration,
    /// The longest backoff between tries. A server's `Retry-After` can
    /// ask for longer, up to [`RetryPolicy::MAX_RETRY_AFTER`].
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// Ten retries, waiting up to 0.1, 0.2, 0.4 s and so on (with jitter),
    /// at most 5 s: a task fails only when 11 tries in a row fail (against
    /// a server failing every second request, `crypto_db --fail-every 2`,
    /// about once in 2,000), while a server that is gone is given up on
    /// after 32 silent requests in a row, not after every task's ten
    /// retries.
    fn default() -> RetryPolicy {
        RetryPolicy {
            retries: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The longest `Retry-After` obeyed; a server asking for more gets
    /// this.
    pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

    /// How long to wait before retry number `retry` (1 for the first), or
    /// `None` when the error is not worth retrying or the retries are
    /// spent.
    ///
    /// The backoff is exponential with "full jitter": a random wait between
    /// zero and the doubled delay (at most `max_delay`), so that many
    /// clients failing together do not all come back at the same instant.
    /// The server's `Retry-After` ([`ClientError::retry_after`]) is a lower bound: we never come back
    /// sooner than it asked, and a `Retry-After: 0` does not turn the
    /// jitter off (clients retrying in lockstep meet the same fault
    /// again).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use client::{ClientError, RetryPolicy};
    ///
    /// let policy = RetryPolicy::default();
    /// let status = |status, retry_after| ClientError::Status {
    ///     url: "u".into(), status, message: "...".into(), retry_after,
    /// };
    /// let busy = status(503, None);
    /// assert!(policy.delay(1, &busy).unwrap() <= Duration::from_millis(100));
    /// assert_eq!(policy.delay(11, &busy), None); // ten retries only
    /// assert_eq!(policy.delay(1, &status(400, None)), None); // never a 4xx
    /// let limited = status(429, Some(Duration::from_secs(2)));
    /// assert_eq!(policy.delay(1, &limited), Some(Duration::from_secs(2))); // never sooner than asked
    /// ```
    pub fn delay(&self, retry: u32, error: &ClientError) -> Option<Duration> {
        if retry > self.retries || !error.is_retryable() {
            return None;
        }
        let ceiling = self
            .base_delay
            .saturating_mul(1 << (retry - 1).min(20))
            .min(self.max_delay);
        let backoff = ceiling.mul_f64(fastrand::f64());
        let asked = error
            .retry_after()
            .map_or(Duration::ZERO, |wait| wait.min(Self::MAX_RETRY_AFTER));
        Some(backoff.max(asked))
    }
}

/// After this many requests in a row got no answer at all (refused,
/// reset, timed out), counted across every clone of a client (all the
/// workers of a job), requests that get none are no longer retried: the
/// server is gone, and a job of thousands of tasks should learn it in
/// seconds, not after every task's retries. One answer of any kind, even
/// an error status, starts the count again. Against a server that only
/// drops some connections, 32 in a row never happen.
pub(crate) const GIVE_UP_AFTER_SILENCES: usize = 32;

/// The retry decisions the blocking and the async client share; only how
/// they wait differs.
#[derive(Debug, Clone)]
pub(super) struct Retrier {
    pub(super) policy: RetryPolicy,
    /// Requests in a row that got no answer, shared by every clone.
    pub(super) silences: Arc<AtomicUsize>,
}

/// What to do after an attempt.
pub(super) enum Attempt<T> {
    /// Return this.
    Done(Result<T, ClientError>),
    /// Try again after this wait.
    RetryAfter(Duration),
}

impl Retrier {
    pub(super) fn new(policy: RetryPolicy) -> Retrier {
        Retrier {
            policy,
            silences: Arc::default(),
        }
    }

    /// Judges attempt number `attempt` (1 for the first try).
    pub(super) fn after<T>(&self, attempt: u32, outcome: Result<T, ClientError>) -> Attempt<T> {
        let error = match outcome {
            Ok(value) => {
                self.heard();
                return Attempt::Done(Ok(value));
            }
            Err(error) => error,
        };
        if error.is_no_answer() {
            let silent = self.silences.fetch_add(1, Ordering::Relaxed) + 1;
            if silent >= GIVE_UP_AFTER_SILENCES {
                return Attempt::Done(Err(error));
            }
        } else {
            self.heard();
        }
        match self.policy.delay(attempt, &error) {
            Some(wait) => Attempt::RetryAfter(wait),
            None => Attempt::Done(Err(error)),
        }
    }

    pub(super) fn heard(&self) {
        // Read first: on the hot path (every success) a store would make
        // every worker's core fight for the line.
        if self.silences.load(Ordering::Relaxed) != 0 {
            self.silences.store(0, Ordering::Relaxed);
        }
    }
}

/// One attempt's answer, before it is judged: status, the server's
/// `Retry-After`, body.
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) retry_after: Option<Duration>,
    pub(super) body: String,
}

/// What one attempt came to: the parsed value, or the error. The same for
/// both client flavours; only their I/O differs.
pub(super) fn settle<R>(
    url: &str,
    answer: Result<Answer, ClientError>,
    parse: fn(&str) -> Result<R, BodyError>,
) -> Result<R, ClientError> {
    let body = classify(url, answer?)?;
    parse(&body).map_err(|reason| ClientError::Decode {
        url: url.to_owned(),
        reason,
    })
}

/// Turns an HTTP answer into the body, or the error it stands for.
pub(super) fn classify(url: &str, answer: Answer) -> Result<String, ClientError> {
    let Answer {
        status,
        retry_after,
        body,
    } = answer;
    if (200..300).contains(&status) {
        return Ok(body);
    }
    #[derive(Deserialize)]
    struct ErrorBody {
        error: String,
    }
    let message = serde_json::from_str::<ErrorBody>(&body)
        .map(|parsed| parsed.error)
        .unwrap_or_else(|_| body.chars().take(200).collect());
    Err(ClientError::Status {
        url: url.to_owned(),
        status,
        message,
        retry_after,
    })
}

pub(super) fn transport_error(url: &str, error: &reqwest::Error, timeout: Duration) -> ClientError {
    if error.is_timeout() {
        ClientError::Timeout {
            url: url.to_owned(),
            timeout,
        }
    } else {
        // reqwest's own message is generic ("error sending request for
        // url ..."); the innermost cause says what happened ("Connection
        // refused (os error 111)").
        let mut innermost: &dyn std::error::Error = error;
        while let Some(cause) = innermost.source() {
            innermost = cause;
        }
        ClientError::Unreachable {
            url: url.to_owned(),
            reason: innermost.to_string(),
        }
    }
}

pub(super) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value
        .trim()
        .parse::<f64>()
        .ok()
        .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
}
