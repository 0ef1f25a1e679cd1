//! The typed API client, blocking ([`Client`]) and async ([`AsyncClient`]),
//! with timeouts and retries.
//!
//! Both flavours share everything but the I/O: how URLs are built, how an
//! answer is classified (a price, `null`, an error worth retrying or not),
//! and how long to wait before the next try.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use prices::{Day, Number, Price};
use serde::{Deserialize, Serialize};

/// Why a request failed (after its retries, where it was retried).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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
    /// at most 5 s: enough that a server failing every second request
    /// (`crypto_db --fail-every 2`) still gives every price, while a server
    /// that is gone is given up on after [`GIVE_UP_AFTER_SILENCES`]
    /// requests, not after every task's ten retries.
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
fn price_path(exchange: &str, symbol: &str, date: &str) -> String {
    format!(
        "/price/{}/{}/{}",
        encode_segment(exchange),
        encode_segment(symbol),
        encode_segment(date)
    )
}

/// The most rows the server's `/prices` answers at once (its default page).
const RANGE_PAGE: usize = 1000;

fn range_path(exchange: &str, symbol: &str, first: Day, last: Day) -> String {
    format!(
        "/prices/{}/{}?start={first}&end={last}&limit={RANGE_PAGE}",
        encode_segment(exchange),
        encode_segment(symbol),
    )
}

/// Reads a `/prices` answer: an array of prices as `/price` renders them.
fn parse_prices(body: &str) -> Result<Vec<Price>, BodyError> {
    let wire: Vec<WirePrice> = serde_json::from_str(body)?;
    wire.into_iter().map(WirePrice::into_price).collect()
}

fn encode_segment(segment: &str) -> String {
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

/// The JSON object of a price as the API writes it (and as `fetch` writes
/// JSON lines: the same keys); numbers are read as `serde_json::Number` so
/// that `600` stays an INTEGER and `600.0` a REAL.
#[derive(Deserialize)]
pub(crate) struct WirePrice {
    exchange: String,
    symbol: String,
    open: Option<serde_json::Number>,
    high: Option<serde_json::Number>,
    low: Option<serde_json::Number>,
    close: Option<serde_json::Number>,
    volume: Option<serde_json::Number>,
    day: String,
}

/// A JSON number as a cell: an integer literal stays INTEGER, anything
/// else is REAL.
fn number(value: Option<serde_json::Number>) -> Result<Option<Number>, BodyError> {
    let Some(value) = value else { return Ok(None) };
    if let Some(n) = value.as_i64() {
        return Ok(Some(Number::Integer(n)));
    }
    if value.is_f64() {
        return Ok(value.as_f64().map(Number::Real));
    }
    Err(BodyError::NumberTooBig(value.to_string()))
}

/// What is wrong with a body that is not what the API sends. (Plain data,
/// not `serde_json`'s error, so that a [`ClientError`] can be cloned and
/// compared.)
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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

/// Reads the body of `GET /price/...`: a price, or `None` for `null`.
///
/// # Errors
///
/// [`BodyError`] saying what is wrong with the body.
///
/// # Examples
///
/// ```
/// let price = client::parse_price(r#"{"exchange": "kraken", "symbol": "btc", "open": 600, "high": 600.0, "low": 8.6e-05, "close": 1, "volume": null, "day": "2020-01-01"}"#)?.unwrap();
/// assert_eq!(price.open, Some(prices::Number::Integer(600)));
/// assert_eq!(price.high, Some(prices::Number::Real(600.0)));
/// assert_eq!(client::parse_price("null")?, None);
/// # Ok::<(), client::BodyError>(())
/// ```
pub fn parse_price(body: &str) -> Result<Option<Price>, BodyError> {
    let wire: Option<WirePrice> = serde_json::from_str(body)?;
    wire.map(WirePrice::into_price).transpose()
}

impl WirePrice {
    /// The price, with each number's INTEGER/REAL form kept.
    pub(crate) fn into_price(self) -> Result<Price, BodyError> {
        Ok(Price {
            exchange: self.exchange,
            symbol: self.symbol,
            open: number(self.open)?,
            high: number(self.high)?,
            low: number(self.low)?,
            close: number(self.close)?,
            volume: number(self.volume)?,
            day: Day::parse(&self.day)?,
        })
    }
}

fn parse_names(body: &str) -> Result<Vec<String>, BodyError> {
    Ok(serde_json::from_str(body)?)
}

/// After this many requests in a row got no answer at all (refused,
/// reset, timed out), counted across every clone of a client (all the
/// workers of a job), requests that get none are no longer retried: the
/// server is gone, and a job of thousands of tasks should learn it in
/// seconds, not after every task's retries. One answer of any kind, even
/// an error status, starts the count again. Against a server that only
/// drops some connections, 32 in a row never happen.
pub const GIVE_UP_AFTER_SILENCES: usize = 32;

/// The retry decisions the blocking and the async client share; only how
/// they wait differs.
#[derive(Debug, Clone)]
struct Retrier {
    policy: RetryPolicy,
    /// Requests in a row that got no answer, shared by every clone.
    silences: Arc<AtomicUsize>,
}

/// What to do after an attempt.
enum Attempt<T> {
    /// Return this.
    Done(Result<T, ClientError>),
    /// Try again after this wait.
    RetryAfter(Duration),
}

impl Retrier {
    fn new(policy: RetryPolicy) -> Retrier {
        Retrier {
            policy,
            silences: Arc::default(),
        }
    }

    /// Judges attempt number `attempt` (1 for the first try).
    fn after<T>(&self, attempt: u32, outcome: Result<T, ClientError>) -> Attempt<T> {
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

    fn heard(&self) {
        // Read first: on the hot path (every success) a store would make
        // every worker's core fight for the line.
        if self.silences.load(Ordering::Relaxed) != 0 {
            self.silences.store(0, Ordering::Relaxed);
        }
    }
}

/// One attempt's answer, before it is judged: status, the server's
/// `Retry-After`, body.
struct Answer {
    status: u16,
    retry_after: Option<Duration>,
    body: String,
}

/// What one attempt came to: the parsed value, or the error. The same for
/// both client flavours; only their I/O differs.
fn settle<R>(
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
fn classify(url: &str, answer: Answer) -> Result<String, ClientError> {
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

fn transport_error(url: &str, error: &reqwest::Error, timeout: Duration) -> ClientError {
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

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value
        .trim()
        .parse::<f64>()
        .ok()
        .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
}

/// The blocking client: one per program is enough (it pools connections,
/// and is cheap to clone and share between threads).
///
/// Do not use it inside an async runtime; use [`AsyncClient`] there.
///
/// # Examples
///
/// ```no_run
/// let client = client::Client::new(client::ClientConfig::new("http://127.0.0.1:8080"))?;
/// match client.check_price("bitstamp", "btc", "2020-04-01")? {
///     Some(price) => println!("close: {}", price.close.unwrap()),
///     None => println!("no price that day"),
/// }
/// # Ok::<(), client::ClientError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::blocking::Client,
    base: String,
    config: ClientConfig,
    retrier: Retrier,
}

impl Client {
    /// A client for the server of `config`.
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidUrl`] for a base URL that is not `http://HOST[:PORT]`.
    pub fn new(config: ClientConfig) -> Result<Client, ClientError> {
        let base = config.validated_base()?;
        let http = reqwest::blocking::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .build()
            .map_err(|error| config.build_error(&error))?;
        let retrier = Retrier::new(config.retry.clone());
        Ok(Client {
            http,
            base,
            config,
            retrier,
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// `GET /exchanges`.
    ///
    /// # Errors
    ///
    /// [`ClientError`], after retries where they apply.
    pub fn exchanges(&self) -> Result<Vec<String>, ClientError> {
        self.get_parsed("/exchanges", parse_names)
    }

    /// `GET /symbols`.
    ///
    /// # Errors
    ///
    /// [`ClientError`], after retries where they apply.
    pub fn symbols(&self) -> Result<Vec<String>, ClientError> {
        self.get_parsed("/symbols", parse_names)
    }

    /// `GET /price/{exchange}/{symbol}/{date}`: `Ok(None)` is "no price
    /// that day", which is not an error.
    ///
    /// # Errors
    ///
    /// [`ClientError`], after retries where they apply; a malformed date is
    /// [`ClientError::Status`] 400 with the server's explanation.
    pub fn check_price(
        &self,
        exchange: &str,
        symbol: &str,
        date: &str,
    ) -> Result<Option<Price>, ClientError> {
        self.get_parsed(&price_path(exchange, symbol, date), parse_price)
    }

    /// `GET /prices/{exchange}/{symbol}` from `first` to `last`, page after
    /// page: every row in that range, in day order (days without a row are
    /// simply absent). Each page is one request, with retries.
    ///
    /// # Errors
    ///
    /// [`ClientError`] of the first page that failed after its retries.
    pub fn prices_range(
        &self,
        exchange: &str,
        symbol: &str,
        first: Day,
        last: Day,
    ) -> Result<Vec<Price>, ClientError> {
        let mut prices = Vec::new();
        let mut from = first;
        loop {
            let page = self.get_parsed(&range_path(exchange, symbol, from, last), parse_prices)?;
            let full = page.len() == RANGE_PAGE;
            let next = page.last().map(|price| price.day.next());
            prices.extend(page);
            match next {
                Some(next) if full && next <= last => from = next,
                _ => return Ok(prices),
            }
        }
    }

    fn get_parsed<R>(
        &self,
        path: &str,
        parse: fn(&str) -> Result<R, BodyError>,
    ) -> Result<R, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut retry = 0;
        loop {
            let answer = self
                .http
                .get(&url)
                .send()
                .and_then(|response| {
                    let (status, retry_after) =
                        (response.status().as_u16(), retry_after(response.headers()));
                    response.text().map(|body| Answer {
                        status,
                        retry_after,
                        body,
                    })
                })
                .map_err(|error| transport_error(&url, &error, self.config.request_timeout));
            retry += 1;
            match self.retrier.after(retry, settle(&url, answer, parse)) {
                Attempt::Done(result) => return result,
                Attempt::RetryAfter(wait) => std::thread::sleep(wait),
            }
        }
    }
}

/// The async client, for tokio programs: the same API as [`Client`].
///
/// # Examples
///
/// ```no_run
/// # async fn run() -> Result<(), client::ClientError> {
/// let client = client::AsyncClient::new(client::ClientConfig::default())?;
/// let exchanges = client.exchanges().await?;
/// let price = client.check_price(&exchanges[0], "btc", "2020-04-01").await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct AsyncClient {
    http: reqwest::Client,
    base: String,
    config: ClientConfig,
    retrier: Retrier,
}

impl AsyncClient {
    /// A client for the server of `config`.
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidUrl`] for a base URL that is not `http://HOST[:PORT]`.
    pub fn new(config: ClientConfig) -> Result<AsyncClient, ClientError> {
        let base = config.validated_base()?;
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .build()
            .map_err(|error| config.build_error(&error))?;
        let retrier = Retrier::new(config.retry.clone());
        Ok(AsyncClient {
            http,
            base,
            config,
            retrier,
        })
    }

    /// `GET /exchanges`.
    ///
    /// # Errors
    ///
    /// As [`Client::exchanges`].
    pub async fn exchanges(&self) -> Result<Vec<String>, ClientError> {
        self.get_parsed("/exchanges", parse_names).await
    }

    /// `GET /symbols`.
    ///
    /// # Errors
    ///
    /// As [`Client::symbols`].
    pub async fn symbols(&self) -> Result<Vec<String>, ClientError> {
        self.get_parsed("/symbols", parse_names).await
    }

    /// `GET /price/{exchange}/{symbol}/{date}`; `Ok(None)` for no price.
    ///
    /// # Errors
    ///
    /// As [`Client::check_price`].
    pub async fn check_price(
        &self,
        exchange: &str,
        symbol: &str,
        date: &str,
    ) -> Result<Option<Price>, ClientError> {
        self.get_parsed(&price_path(exchange, symbol, date), parse_price)
            .await
    }

    async fn get_parsed<R>(
        &self,
        path: &str,
        parse: fn(&str) -> Result<R, BodyError>,
    ) -> Result<R, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut retry = 0;
        loop {
            let answer = async {
                let response = self.http.get(&url).send().await?;
                let (status, retry_after) =
                    (response.status().as_u16(), retry_after(response.headers()));
                let body = response.text().await?;
                Ok(Answer {
                    status,
                    retry_after,
                    body,
                })
            }
            .await
            .map_err(|error: reqwest::Error| {
                transport_error(&url, &error, self.config.request_timeout)
            });
            retry += 1;
            match self.retrier.after(retry, settle(&url, answer, parse)) {
                Attempt::Done(result) => return result,
                Attempt::RetryAfter(wait) => tokio::time::sleep(wait).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_price_whose_day_is_not_a_day_is_a_body_error_that_says_so() {
        let body = r#"{"exchange": "kraken", "symbol": "btc", "open": 1, "high": 1, "low": 1, "close": 1, "volume": 1, "day": "soon"}"#;
        let error = parse_price(body).unwrap_err();
        assert!(matches!(error, BodyError::Day(_)), "{error:?}");
        assert_eq!(
            error.to_string(),
            r#"date "soon" is not in YYYY-MM-DD form (for example 2020-04-01)"#
        );
    }

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(
            price_path("coinbase-pro", "btc", "2020-04-01"),
            "/price/coinbase-pro/btc/2020-04-01"
        );
        assert_eq!(price_path("a/b", "c d", "é"), "/price/a%2Fb/c%20d/%C3%A9");
    }

    #[test]
    fn base_urls_are_checked() {
        assert!(
            ClientConfig::new("http://127.0.0.1:8080/")
                .validated_base()
                .is_ok()
        );
        assert!(
            ClientConfig::new("127.0.0.1:8080")
                .validated_base()
                .is_err()
        );
        let https = ClientConfig::new("https://example.com")
            .validated_base()
            .unwrap_err();
        assert!(
            https
                .to_string()
                .contains("HTTPS is not built into this client"),
            "{https}"
        );
        assert!(
            ClientConfig::new("http://host/path")
                .validated_base()
                .is_err()
        );
    }

    #[test]
    fn backoff_doubles_and_respects_its_ceiling() {
        let policy = RetryPolicy {
            retries: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        let error = ClientError::Timeout {
            url: "u".into(),
            timeout: Duration::from_secs(1),
        };
        for retry in 1..=10 {
            let ceiling =
                Duration::from_millis(100 * (1 << (retry - 1))).min(Duration::from_secs(1));
            assert!(policy.delay(retry, &error).unwrap() <= ceiling);
        }
        assert_eq!(policy.delay(11, &error), None);
    }

    #[test]
    fn retry_after_is_a_lower_bound_never_a_replacement() {
        let policy = RetryPolicy {
            retries: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        let limited = |seconds| ClientError::Status {
            url: "u".into(),
            status: 429,
            message: "slow down".into(),
            retry_after: Some(Duration::from_secs(seconds)),
        };
        // Longer than the backoff: exactly what the server asked.
        assert_eq!(policy.delay(1, &limited(2)), Some(Duration::from_secs(2)));
        // Absurdly long: capped.
        assert_eq!(
            policy.delay(1, &limited(3600)),
            Some(RetryPolicy::MAX_RETRY_AFTER)
        );
        // `Retry-After: 0` keeps the jitter: waits differ from try to try,
        // so clients in lockstep fall out of it.
        let waits: std::collections::BTreeSet<Duration> = (0..20)
            .map(|_| policy.delay(3, &limited(0)).unwrap())
            .collect();
        assert!(waits.len() > 1, "{waits:?}");
        assert!(waits.iter().all(|wait| *wait <= Duration::from_millis(400)));
    }

    #[test]
    fn a_silent_server_is_given_up_on_and_one_answer_forgives_it() {
        let retrier = Retrier::new(RetryPolicy {
            retries: 1000,
            base_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
        });
        let refused = || {
            Err::<(), _>(ClientError::Unreachable {
                url: "u".into(),
                reason: "Connection refused".into(),
            })
        };
        let busy = || {
            Err::<(), _>(ClientError::Status {
                url: "u".into(),
                status: 503,
                message: "busy".into(),
                retry_after: None,
            })
        };
        let clone = retrier.clone(); // another worker of the same job
        for attempt in 1..GIVE_UP_AFTER_SILENCES as u32 {
            let by = if attempt % 2 == 0 { &retrier } else { &clone };
            assert!(matches!(
                by.after(attempt, refused()),
                Attempt::RetryAfter(_)
            ));
        }
        // The 32nd silence in a row, whoever met it: no more retries.
        assert!(matches!(
            retrier.after(1, refused()),
            Attempt::Done(Err(ClientError::Unreachable { .. }))
        ));
        // An answer, even an error, means the server is there again.
        assert!(matches!(clone.after(1, busy()), Attempt::RetryAfter(_)));
        assert!(matches!(
            retrier.after(1, refused()),
            Attempt::RetryAfter(_)
        ));
        assert!(matches!(retrier.after(1, Ok(())), Attempt::Done(Ok(()))));
    }

    #[test]
    fn what_is_retried() {
        let status = |status| ClientError::Status {
            url: "u".into(),
            status,
            message: String::new(),
            retry_after: None,
        };
        assert!(
            status(500).is_retryable() && status(503).is_retryable() && status(429).is_retryable()
        );
        assert!(!status(400).is_retryable() && !status(404).is_retryable());
        assert!(
            ClientError::Unreachable {
                url: "u".into(),
                reason: "refused".into()
            }
            .is_retryable()
        );
        assert!(
            !ClientError::Decode {
                url: "u".into(),
                reason: BodyError::Json("bad".into())
            }
            .is_retryable()
        );
    }

    #[test]
    fn bodies_that_are_not_prices() {
        assert!(parse_price("[1, 2]").is_err());
        assert!(parse_price(r#"{"exchange": "k"}"#).is_err());
        assert!(parse_price("").is_err());
        assert!(parse_price(r#"{"exchange": "k", "symbol": "b", "open": 1e400, "high": null, "low": null, "close": null, "volume": null, "day": "d"}"#).is_err());
    }

    #[test]
    fn error_bodies_give_the_servers_message() {
        let error = classify(
            "u",
            Answer {
                status: 400,
                retry_after: None,
                body: r#"{"error": "date \"x\" is not in YYYY-MM-DD form"}"#.into(),
            },
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            r#"u: HTTP 400: date "x" is not in YYYY-MM-DD form"#
        );
    }
}
