//! The HTTP API: the original's four routes, answered byte for byte as it
//! answers them, plus clear errors where the original was silent.
//!
//! Built as a plain [`Router`] by [`app`], so tests can call it without a
//! socket (`tower::ServiceExt::oneshot`) as well as over real HTTP.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prices::{Day, PriceTable};
use tokio::sync::watch;

/// The page at `/`: a form that calls the three endpoints, with no CDN, no
/// web font and no framework, so it works offline.
const INDEX_PAGE: &str = include_str!("page.html");

/// Werkzeug 1.x's error pages, which the original (Flask 1.1) sends.
const NOT_FOUND_PAGE: &str = "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 3.2 Final//EN\">\n\
<title>404 Not Found</title>\n<h1>Not Found</h1>\n\
<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.</p>\n";
const METHOD_NOT_ALLOWED_PAGE: &str = "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 3.2 Final//EN\">\n\
<title>405 Method Not Allowed</title>\n<h1>Method Not Allowed</h1>\n\
<p>The method is not allowed for the requested URL.</p>\n";

const JSON: HeaderValue = HeaderValue::from_static("application/json");
const HTML: HeaderValue = HeaderValue::from_static("text/html; charset=utf-8");
/// The original's `Allow` header as observed. Werkzeug builds it from a
/// Python set, so its order can change between runs of the original; no
/// client can rely on it, but we send the order seen.
const ALLOWED: HeaderValue = HeaderValue::from_static("OPTIONS, GET, HEAD");

/// The longest request target (path and query) we read, in bytes. The
/// longest real one, `/price/coinbase-pro/btc/2020-04-01`, is 34.
pub const MAX_TARGET_LEN: usize = 2048;

/// Everything a request handler needs, cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

struct Shared {
    table: PriceTable,
    /// How long every `/price` answer waits (the original's `--sleep`).
    sleep: Duration,
    /// Flips to `true` when the server is stopping: waiting requests then
    /// answer at once, so Ctrl-C never has to wait out a long `--sleep`.
    stopping: watch::Receiver<bool>,
    stats: Stats,
    /// Every Nth `/price` request fails with 503 (fault injection).
    fail_every: Option<std::num::NonZeroU64>,
}

/// Live counters, for tests and for the curious.
#[derive(Debug, Default)]
pub struct Stats {
    waiting: AtomicUsize,
    peak_waiting: AtomicUsize,
    price_requests: std::sync::atomic::AtomicU64,
}

impl Stats {
    /// How many `/price` requests are in their `--sleep` wait right now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// The most `/price` requests ever waiting at the same moment.
    pub fn peak_waiting(&self) -> usize {
        self.peak_waiting.load(Ordering::SeqCst)
    }

    /// How many `/price` requests arrived while fault injection
    /// (`--fail-every`) is on; always 0 otherwise, to keep a counter shared
    /// by every core off the hot path.
    pub fn price_requests(&self) -> u64 {
        self.price_requests.load(Ordering::SeqCst)
    }
}

impl AppState {
    /// State for serving `table`, delaying each `/price` answer by `sleep`;
    /// waits end early once `stopping` turns `true`.
    pub fn new(table: PriceTable, sleep: Duration, stopping: watch::Receiver<bool>) -> AppState {
        AppState {
            inner: Arc::new(Shared {
                table,
                sleep,
                stopping,
                stats: Stats::default(),
                fail_every: None,
            }),
        }
    }

    /// Makes every `n`th `/price` request fail with `503`, to practise
    /// retries against (`crypto_db --fail-every N`).
    ///
    /// # Panics
    ///
    /// Panics if called after the state was cloned (it is set up once,
    /// before serving).
    pub fn with_faults(mut self, fail_every: Option<std::num::NonZeroU64>) -> AppState {
        Arc::get_mut(&mut self.inner)
            .expect("faults are set before the state is shared")
            .fail_every = fail_every;
        self
    }

    /// The table being served.
    pub fn table(&self) -> &PriceTable {
        &self.inner.table
    }

    /// The live counters.
    pub fn stats(&self) -> &Stats {
        &self.inner.stats
    }

    /// The `--sleep` delay. It is a timer, not a blocked thread: ten
    /// thousand waiting requests cost ten thousand small futures, nothing
    /// more, which is the whole point the lessons make about latency.
    async fn delay(&self) {
        let shared = &*self.inner;
        if shared.sleep.is_zero() {
            return;
        }
        let _waiting = WaitingGuard::enter(&shared.stats);
        let mut stopping = shared.stopping.clone();
        tokio::select! {
            () = tokio::time::sleep(shared.sleep) => {}
            _ = stopping.wait_for(|stopping| *stopping) => {}
        }
    }
}

/// Counts a request as waiting for as long as it lives, so a client that
/// hangs up mid-wait (its future dropped) is uncounted too.
struct WaitingGuard<'a>(&'a Stats);

impl<'a> WaitingGuard<'a> {
    fn enter(stats: &'a Stats) -> WaitingGuard<'a> {
        let now = stats.waiting.fetch_add(1, Ordering::SeqCst) + 1;
        stats.peak_waiting.fetch_max(now, Ordering::SeqCst);
        WaitingGuard(stats)
    }
}

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The whole API as a router.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tokio::sync::watch;
///
/// let (_stop, stopping) = watch::channel(false);
/// let state = server::AppState::new(prices::PriceTable::embedded()?, Duration::ZERO, stopping);
/// let router: axum::Router = server::app(state);
/// # Ok::<(), prices::DumpError>(())
/// ```
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/", get(index).options(options))
        .route("/exchanges", get(exchanges).options(options))
        .route("/symbols", get(symbols).options(options))
        .route(
            "/price/{exchange}/{symbol}/{date}",
            get(price).options(options),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn index() -> Response {
    ([(header::CONTENT_TYPE, HTML)], INDEX_PAGE).into_response()
}

async fn exchanges(State(state): State<AppState>) -> Response {
    json(StatusCode::OK, state.table().exchanges_json().to_owned())
}

async fn symbols(State(state): State<AppState>) -> Response {
    json(StatusCode::OK, state.table().symbols_json().to_owned())
}

async fn price(
    State(state): State<AppState>,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Response {
    if let Ok(Path((exchange, symbol, date))) = &path {
        // Flask's `<name>` needs at least one character: `/price//btc/x`
        // is not this route at all.
        if exchange.is_empty() || symbol.is_empty() || date.is_empty() {
            return not_found().await;
        }
    }
    let number = state
        .inner
        .stats
        .price_requests
        .fetch_add(1, Ordering::SeqCst)
        + 1;
    state.delay().await;
    if state
        .inner
        .fail_every
        .is_some_and(|every| number % every.get() == 0)
    {
        let mut response = json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "injected failure (--fail-every)",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("0"));
        return response;
    }
    let Ok(Path((exchange, symbol, date))) = path else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "the path is not valid UTF-8 once percent-decoded",
        );
    };
    // A date that is not a calendar day can never match: say so (400)
    // instead of the original's `null`, which looks like "no data that day".
    if let Err(error) = Day::parse(&date) {
        return json_error(StatusCode::BAD_REQUEST, &error.to_string());
    }
    let body = match state.table().get(&exchange, &symbol, &date) {
        Some(row) => row.to_json(),
        // Well-formed but absent: `null`, as clients of the original expect.
        None => "null".to_owned(),
    };
    json(StatusCode::OK, body)
}

async fn options() -> Response {
    ([(header::CONTENT_TYPE, HTML), (header::ALLOW, ALLOWED)], "").into_response()
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, HTML)],
        NOT_FOUND_PAGE,
    )
        .into_response()
}

async fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::CONTENT_TYPE, HTML), (header::ALLOW, ALLOWED)],
        METHOD_NOT_ALLOWED_PAGE,
    )
        .into_response()
}

fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, JSON)], body).into_response()
}

/// A `{"error": "..."}` body, written the way the rest of the API writes
/// JSON (Python's separators and escaping).
fn json_error(status: StatusCode, message: &str) -> Response {
    let mut body = String::from("{\"error\": ");
    prices::pyjson::write_str(&mut body, message);
    body.push('}');
    json(status, body)
}

/// Checked before any routing: a request target longer than
/// [`MAX_TARGET_LEN`] gets `414` with a JSON error, whatever the path.
pub fn refuse_oversized_target(uri: &Uri) -> Option<Response> {
    let target_len = uri
        .path_and_query()
        .map_or(0, |target| target.as_str().len());
    (target_len > MAX_TARGET_LEN).then(|| {
        json_error(
            StatusCode::URI_TOO_LONG,
            &format!("the request target is {target_len} bytes; the limit is {MAX_TARGET_LEN}"),
        )
    })
}

#[cfg(test)]
mod tests {
    //! The router called directly, without a socket (axum's `oneshot`
    //! pattern); the real-socket tests live in the workspace's `tests/`.

    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    async fn call(method: &str, uri: &str) -> (StatusCode, String, String) {
        let (_stop, stopping) = watch::channel(false);
        let state = AppState::new(PriceTable::embedded().unwrap(), Duration::ZERO, stopping);
        let request = axum::http::Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .unwrap();
        let response = app(state).oneshot(request).await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            content_type,
            String::from_utf8(body.to_vec()).unwrap(),
        )
    }

    #[tokio::test]
    async fn a_price() {
        let (status, content_type, body) = call("GET", "/price/kraken/eth/2020-03-10").await;
        assert_eq!(
            (status, content_type.as_str()),
            (StatusCode::OK, "application/json")
        );
        assert!(
            body.starts_with(r#"{"exchange": "kraken", "symbol": "eth", "open": "#),
            "{body}"
        );
        assert!(body.ends_with(r#", "day": "2020-03-10"}"#), "{body}");
    }

    #[tokio::test]
    async fn a_bad_date() {
        let (status, _, body) = call("GET", "/price/kraken/eth/10-03-2020").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body,
            r#"{"error": "date \"10-03-2020\" is not in YYYY-MM-DD form (for example 2020-04-01)"}"#
        );
    }

    #[tokio::test]
    async fn the_page_and_the_fallbacks() {
        let (status, content_type, body) = call("GET", "/").await;
        assert_eq!(
            (status, content_type.as_str()),
            (StatusCode::OK, "text/html; charset=utf-8")
        );
        assert!(body.contains("Crypto Price Examples"));
        assert_eq!(call("GET", "/missing").await.2, NOT_FOUND_PAGE);
        assert_eq!(call("PATCH", "/symbols").await.2, METHOD_NOT_ALLOWED_PAGE);
    }

    #[tokio::test]
    async fn a_sleep_ends_early_when_the_server_stops() {
        let (stop, stopping) = watch::channel(false);
        let state = AppState::new(
            PriceTable::embedded().unwrap(),
            Duration::from_secs(3600),
            stopping,
        );
        let waiting = tokio::spawn({
            let state = state.clone();
            async move { state.delay().await }
        });
        while state.stats().waiting() == 0 {
            tokio::task::yield_now().await;
        }
        stop.send(true).unwrap();
        waiting.await.unwrap();
        assert_eq!(state.stats().waiting(), 0);
        assert_eq!(state.stats().peak_waiting(), 1);
    }
}
