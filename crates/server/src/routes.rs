//! The HTTP API: the original's four routes, answered as it answers them,
//! on the wire as well as in bodies, plus clear errors where the original
//! was silent; and ours beyond them, `/prices/{exchange}/{symbol}` (a
//! range of rows, in pages, as JSON or CSV), `/openapi.json` (every route
//! described in OpenAPI 3.1), `/docs` (that description rendered), and
//! the practice ground's `/chaos` (the faults on purpose, see [`ChaosConfig`]),
//! `/metrics` (for Prometheus) and `/health`.
//!
//! [`AppState::respond`] turns one request into one response, with no
//! socket involved, so tests call it directly as well as over real HTTP.
//! Routing is `Target::resolve` (the private `target` module), which
//! reads a path as Werkzeug does; this module decides what each target
//! answers.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::ext::ReasonPhrase;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, StatusCode};
use prices::{Day, PriceTable};
use tokio::sync::watch;

use crate::chaos::{Chaos, ChaosConfig, Delivery, Fate, FaultKind};
use crate::metrics::{Delivered, Metrics, RouteLabel};
use crate::openapi::{DOCS_PAGE, OPENAPI_DOCUMENT};
use crate::target::{Route, Target, percent_decode};

/// The body of every answer: small and complete, never streamed.
pub type Body = Full<Bytes>;
/// One answer.
pub type Response = hyper::Response<Body>;

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
const CSV: HeaderValue = HeaderValue::from_static("text/csv; charset=utf-8");
const HTML: HeaderValue = HeaderValue::from_static("text/html; charset=utf-8");
/// The original's `Allow` header as observed. Werkzeug builds it from a
/// Python set, so its order can change between runs of the original; no
/// client can rely on it, but we send one order seen.
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
    /// `/exchanges` and `/symbols`, rendered once.
    exchanges: Bytes,
    symbols: Bytes,
    /// How long every `/price` answer waits (the original's `--sleep`).
    sleep: Duration,
    /// Flips to `true` when the server is stopping: waiting requests then
    /// answer at once, so Ctrl-C never has to wait out a long `--sleep`.
    stopping: watch::Receiver<bool>,
    stats: Stats,
    /// Every Nth `/price` request fails with 503 (fault injection).
    fail_every: Option<std::num::NonZeroU64>,
    /// The practice ground's faults; `None` (the default) costs nothing.
    chaos: Option<Chaos>,
    metrics: Metrics,
}

/// Live counters, for tests and for the curious.
#[derive(Debug, Default)]
pub struct Stats {
    waiting: AtomicUsize,
    peak_waiting: AtomicUsize,
    price_requests: AtomicU64,
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

/// The request method as the original reads it: Werkzeug upper-cases it,
/// so `get /exchanges` is a GET. (hyper keeps `get` as an unknown method.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Get,
    Head,
    Options,
    Other,
}

impl Verb {
    fn of(method: &Method) -> Verb {
        match *method {
            Method::GET => Verb::Get,
            Method::HEAD => Verb::Head,
            Method::OPTIONS => Verb::Options,
            _ => match method.as_str() {
                m if m.eq_ignore_ascii_case("GET") => Verb::Get,
                m if m.eq_ignore_ascii_case("HEAD") => Verb::Head,
                m if m.eq_ignore_ascii_case("OPTIONS") => Verb::Options,
                _ => Verb::Other,
            },
        }
    }
}

impl AppState {
    /// State for serving `table`, delaying each `/price` answer by `sleep`;
    /// waits end early once `stopping` turns `true`.
    pub fn new(table: PriceTable, sleep: Duration, stopping: watch::Receiver<bool>) -> AppState {
        AppState {
            inner: Arc::new(Shared {
                exchanges: Bytes::copy_from_slice(table.exchanges_json().as_bytes()),
                symbols: Bytes::copy_from_slice(table.symbols_json().as_bytes()),
                table,
                sleep,
                stopping,
                stats: Stats::default(),
                fail_every: None,
                chaos: None,
                metrics: Metrics::new(false),
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

    /// Injects the faults of `config` (nothing when none is on).
    ///
    /// # Panics
    ///
    /// Panics if called after the state was cloned (it is set up once,
    /// before serving).
    pub fn with_chaos(mut self, config: ChaosConfig) -> AppState {
        let shared =
            Arc::get_mut(&mut self.inner).expect("chaos is set up before the state is shared");
        if config.is_active() {
            shared.chaos = Some(Chaos::new(config));
            shared.metrics = Metrics::new(true);
        }
        self
    }

    /// Counts a connection open (at `/metrics`) until the guard is dropped.
    pub(crate) fn connection_opened(&self) -> crate::metrics::OpenConnection {
        self.inner.metrics.connection_opened()
    }

    /// The startup line naming the faults that are on, if any.
    pub fn chaos_banner(&self) -> Option<String> {
        self.inner.chaos.as_ref().map(Chaos::banner)
    }

    /// The table being served.
    pub fn table(&self) -> &PriceTable {
        &self.inner.table
    }

    /// The live counters.
    pub fn stats(&self) -> &Stats {
        &self.inner.stats
    }

    /// Answers one request. `local` is the address the request came in on:
    /// a redirect names it when the request has no `Host` header, as
    /// Werkzeug names its own address.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (_stop, stopping) = tokio::sync::watch::channel(false);
    /// let state = server::AppState::new(
    ///     prices::PriceTable::embedded()?,
    ///     std::time::Duration::ZERO,
    ///     stopping,
    /// );
    /// let request = hyper::Request::get("/symbols").body(())?;
    /// let response = state.respond(&request, "127.0.0.1:8080".parse()?).await;
    /// assert_eq!(response.status(), 200);
    /// # Ok(()) }
    /// ```
    pub async fn respond<B>(&self, request: &Request<B>, local: SocketAddr) -> Response {
        self.answer(request, local, local.ip()).await.0
    }

    /// Answers one request from `client`, and says how its bytes are to
    /// be delivered (the practice ground's connection faults are the
    /// connection's to carry out). Counted at `/metrics`.
    pub(crate) async fn answer<B>(
        &self,
        request: &Request<B>,
        local: SocketAddr,
        client: IpAddr,
    ) -> (Response, Delivery) {
        let shared = &*self.inner;
        let started = Instant::now();
        let _in_flight = shared.metrics.in_flight();
        let target = Target::of(request.uri());
        let route = target.route();
        let label = match (&target, route) {
            (_, Some(route)) => RouteLabel::Route(route),
            (Target::Redirect(_), None) => RouteLabel::Redirect,
            (_, None) => RouteLabel::Unmatched,
        };
        let chaos = shared.chaos.as_ref().filter(|chaos| match route {
            Some(Route::Price) => true,
            // The practice ground's own routes always answer, so the
            // learner can see what is going on.
            Some(Route::Chaos | Route::Metrics | Route::Health) | None => false,
            Some(_) => chaos.all_routes(),
        });
        let (response, delivery) = match chaos {
            None => (self.route(request, local, target).await, Delivery::Whole),
            Some(chaos) => self.misbehave(chaos, request, local, client, target).await,
        };
        let response = with_werkzeug_reason(response);
        let delivered = match delivery {
            Delivery::Whole | Delivery::Slow(_) => Delivered::Status(response.status().as_u16()),
            Delivery::Drop => Delivered::Dropped,
            Delivery::Reset => Delivered::Reset,
            Delivery::Hang => Delivered::Hung,
            Delivery::Truncate => Delivered::Truncated,
        };
        shared.metrics.answered(label, delivered, started.elapsed());
        (response, delivery)
    }

    /// The practice ground: the request's fate, decided by `chaos`.
    async fn misbehave<B>(
        &self,
        chaos: &Chaos,
        request: &Request<B>,
        local: SocketAddr,
        client: IpAddr,
        target: Target<'_>,
    ) -> (Response, Delivery) {
        let metrics = &self.inner.metrics;
        let sent = request.uri().path_and_query().map_or("/", |t| t.as_str());
        let plan = chaos.plan(sent, client);
        if !plan.latency.is_zero() {
            metrics.fault(FaultKind::Latency);
            self.wait(plan.latency).await;
        }
        let (mut response, delivery) = match plan.fate {
            Fate::RateLimited { retry_after } => {
                metrics.fault(FaultKind::RateLimit);
                let mut response = json_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    &format!("rate limited (--rate-limit): retry after {retry_after} s"),
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
                (response, Delivery::Whole)
            }
            Fate::Fail(kind) => {
                metrics.fault(kind);
                let flag = match kind {
                    FaultKind::FailFirst => "--fail-first",
                    _ => "--fail-rate",
                };
                let message = format!("injected failure ({flag})");
                (
                    json_error(StatusCode::INTERNAL_SERVER_ERROR, &message),
                    Delivery::Whole,
                )
            }
            Fate::Answer(delivery) => {
                if let Some(kind) = FaultKind::of(delivery) {
                    metrics.fault(kind);
                }
                (self.route(request, local, target).await, delivery)
            }
        };
        for (name, value) in chaos.rate_limit_headers(client).into_iter().flatten() {
            response
                .headers_mut()
                .insert(name, HeaderValue::from(value));
        }
        (response, delivery)
    }

    /// Waits until the server stops, for an answer that never comes.
    pub(crate) async fn until_stopping(&self) {
        let mut stopping = self.inner.stopping.clone();
        let _ = stopping.wait_for(|stopping| *stopping).await;
    }

    async fn route<B>(
        &self,
        request: &Request<B>,
        local: SocketAddr,
        target: Target<'_>,
    ) -> Response {
        let uri = request.uri();
        let target_len = uri.path_and_query().map_or(0, |t| t.as_str().len());
        if target_len > MAX_TARGET_LEN {
            return json_error(
                StatusCode::URI_TOO_LONG,
                &format!("the request target is {target_len} bytes; the limit is {MAX_TARGET_LEN}"),
            );
        }
        let verb = Verb::of(request.method());
        // Werkzeug redirects merged slashes before it looks at the method.
        if let Target::Redirect(path) = &target {
            return redirect(request, local, path);
        }
        if matches!(target, Target::Unknown) {
            return not_found();
        }
        match verb {
            Verb::Options => return options(),
            Verb::Other => return method_not_allowed(),
            Verb::Get | Verb::Head => {}
        }
        match target {
            Target::Index => html(StatusCode::OK, Bytes::from_static(INDEX_PAGE.as_bytes())),
            Target::Exchanges => json(StatusCode::OK, self.inner.exchanges.clone()),
            Target::Symbols => json(StatusCode::OK, self.inner.symbols.clone()),
            Target::Price {
                exchange,
                symbol,
                date,
            } => self
                .before_price()
                .await
                .unwrap_or_else(|| self.price(Some((&exchange, &symbol, &date)))),
            Target::PriceNotUtf8 => self
                .before_price()
                .await
                .unwrap_or_else(|| self.price(None)),
            Target::Prices { exchange, symbol } => self.prices(request, local, &exchange, &symbol),
            Target::PricesNotUtf8 => json_error(
                StatusCode::BAD_REQUEST,
                "the path is not valid UTF-8 once percent-decoded",
            ),
            Target::OpenApi => json(
                StatusCode::OK,
                Bytes::from_static(OPENAPI_DOCUMENT.as_bytes()),
            ),
            Target::Docs => html(StatusCode::OK, Bytes::from_static(DOCS_PAGE.as_bytes())),
            Target::Chaos => json(
                StatusCode::OK,
                Bytes::from(
                    self.inner
                        .chaos
                        .as_ref()
                        .map_or_else(|| String::from("{\"active\": false}"), Chaos::to_json),
                ),
            ),
            Target::Metrics => response(
                StatusCode::OK,
                HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
                Bytes::from(self.inner.metrics.render()),
            ),
            Target::Health => response(
                StatusCode::OK,
                HeaderValue::from_static("application/health+json"),
                Bytes::from_static(br#"{"status": "pass"}"#),
            ),
            Target::Redirect(_) | Target::Unknown => unreachable!("answered above"),
        }
    }

    /// What every `/price` request goes through before its look-up: the
    /// `--sleep` wait, then fault injection. `Some` is an answer that
    /// replaces the look-up.
    async fn before_price(&self) -> Option<Response> {
        let shared = &*self.inner;
        // Counted on arrival, so the Nth request to arrive is the one
        // that fails, however long each one waits.
        let arrival = shared.fail_every.map(|every| {
            (
                every,
                shared.stats.price_requests.fetch_add(1, Ordering::SeqCst) + 1,
            )
        });
        self.delay().await;
        let (every, number) = arrival?;
        (number % every.get() == 0).then(|| {
            let mut response = json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "injected failure (--fail-every)",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("0"));
            response
        })
    }

    /// The `/price` answer for decoded segments (`None`: not UTF-8).
    fn price(&self, key: Option<(&str, &str, &str)>) -> Response {
        let Some((exchange, symbol, date)) = key else {
            return json_error(
                StatusCode::BAD_REQUEST,
                "the path is not valid UTF-8 once percent-decoded",
            );
        };
        // A date that is not a calendar day can never match: say so (400)
        // instead of the original's `null`, which looks like "no data that day".
        if let Err(error) = Day::parse(date) {
            return json_error(StatusCode::BAD_REQUEST, &error.to_string());
        }
        let body = match self.table().get(exchange, symbol, date) {
            Some(row) => Bytes::from(row.to_json()),
            // Well-formed but absent: `null`, as clients of the original expect.
            None => Bytes::from_static(b"null"),
        };
        json(StatusCode::OK, body)
    }

    /// `/prices/{exchange}/{symbol}?start=&end=&limit=&format=`: a page of
    /// rows in day order, each as `/price` renders it, as a JSON array or
    /// CSV; a `Link: <...>; rel="next"` header when more rows follow.
    fn prices<B>(
        &self,
        request: &Request<B>,
        local: SocketAddr,
        exchange: &str,
        symbol: &str,
    ) -> Response {
        let query = match RangeQuery::parse(request) {
            Ok(query) => query,
            Err(message) => return json_error(StatusCode::BAD_REQUEST, &message),
        };
        let (start, end) = (
            query.start.map(|d| d.to_string()),
            query.end.map(|d| d.to_string()),
        );
        let rows = match self
            .table()
            .range(exchange, symbol, start.as_deref(), end.as_deref())
        {
            Ok(rows) => rows,
            Err(unknown) => return json_error(StatusCode::NOT_FOUND, &unknown.to_string()),
        };
        let page = rows.clone().take(query.limit);
        let next_day = rows.clone().nth(query.limit).map(|row| row.day);
        let mut body = String::new();
        let content_type = if query.csv {
            body.push_str(prices::csv::HEADER);
            body.push('\n');
            for row in page {
                prices::csv::write_row(&mut body, row.exchange, row.symbol, row.day, row.numbers);
                body.push('\n');
            }
            CSV
        } else {
            body.push('[');
            for (i, row) in page.enumerate() {
                if i > 0 {
                    body.push_str(", ");
                }
                row.write_json(&mut body);
            }
            body.push(']');
            JSON
        };
        let mut response = response(StatusCode::OK, content_type, Bytes::from(body));
        if let Some(next_day) = next_day {
            let next =
                query.next_page_url(&base_url(request, local), request.uri().path(), next_day);
            if let Ok(link) = HeaderValue::from_str(&format!("<{next}>; rel=\"next\"")) {
                response.headers_mut().insert(header::LINK, link);
            }
        }
        response
    }

    /// The `--sleep` delay. It is a timer, not a blocked thread: ten
    /// thousand waiting requests cost ten thousand small futures, nothing
    /// more, which is the whole point the lessons make about latency.
    async fn delay(&self) {
        if !self.inner.sleep.is_zero() {
            self.wait(self.inner.sleep).await;
        }
    }

    /// Waits `duration`, or until the server stops, counted as waiting.
    async fn wait(&self, duration: Duration) {
        let _waiting = WaitingGuard::enter(&self.inner.stats);
        tokio::select! {
            () = tokio::time::sleep(duration) => {}
            () = self.until_stopping() => {}
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

fn response(status: StatusCode, content_type: HeaderValue, body: Bytes) -> Response {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, content_type);
    response
}

fn json(status: StatusCode, body: Bytes) -> Response {
    response(status, JSON, body)
}

fn html(status: StatusCode, body: Bytes) -> Response {
    response(status, HTML, body)
}

/// A `{"error": "..."}` body, written the way the rest of the API writes
/// JSON (Python's separators and escaping).
fn json_error(status: StatusCode, message: &str) -> Response {
    let mut body = String::from("{\"error\": ");
    prices::pyjson::write_str(&mut body, message);
    body.push('}');
    json(status, Bytes::from(body))
}

fn options() -> Response {
    let mut response = html(StatusCode::OK, Bytes::new());
    response.headers_mut().insert(header::ALLOW, ALLOWED);
    response
}

fn not_found() -> Response {
    html(
        StatusCode::NOT_FOUND,
        Bytes::from_static(NOT_FOUND_PAGE.as_bytes()),
    )
}

fn method_not_allowed() -> Response {
    let mut response = html(
        StatusCode::METHOD_NOT_ALLOWED,
        Bytes::from_static(METHOD_NOT_ALLOWED_PAGE.as_bytes()),
    );
    response.headers_mut().insert(header::ALLOW, ALLOWED);
    response
}

/// `http://` and the host a client reached us by, as Werkzeug names it:
/// the request's `Host` (without `:80`), or the server's own address when
/// there is none.
fn base_url<B>(request: &Request<B>, local: SocketAddr) -> String {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .map(|host| host.strip_suffix(":80").unwrap_or(host).to_owned())
        .unwrap_or_else(|| local.to_string());
    format!("http://{host}")
}

/// Werkzeug's `308` for merged slashes: an absolute URL (see [`base_url`])
/// with the query string as it came, and its HTML page.
fn redirect<B>(request: &Request<B>, local: SocketAddr, path: &str) -> Response {
    let query = match request.uri().query() {
        Some(query) if !query.is_empty() => format!("?{query}"),
        _ => String::new(),
    };
    let location = format!("{}{path}{query}", base_url(request, local));
    let shown = html_escape(&location);
    let page = format!(
        "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 3.2 Final//EN\">\n\
<title>Redirecting...</title>\n<h1>Redirecting...</h1>\n\
<p>You should be redirected automatically to target URL: <a href=\"{shown}\">{shown}</a>.  If not click the link."
    );
    let length = HeaderValue::from(page.len());
    let mut response = html(StatusCode::PERMANENT_REDIRECT, Bytes::from(page));
    match HeaderValue::from_str(&location) {
        Ok(location) => {
            // In Werkzeug's order: its response has its length before the
            // `Location` is added (hyper would write the length last).
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_LENGTH, length);
            headers.insert(header::LOCATION, location);
        }
        // Only a Host header with bytes a header cannot hold gets here;
        // such a request has no URL to send the client to.
        Err(_) => return json_error(StatusCode::BAD_REQUEST, "the Host header is not valid"),
    }
    response
}

/// The most rows one `/prices` answer holds, and its default page size.
pub const MAX_PAGE: usize = 1000;

/// The query of a `/prices` request, checked.
#[derive(Debug, PartialEq)]
struct RangeQuery {
    start: Option<Day>,
    end: Option<Day>,
    limit: usize,
    csv: bool,
}

impl RangeQuery {
    /// Reads `start`, `end`, `limit` and `format` (unknown parameters are
    /// ignored); `Accept: text/csv` asks for CSV too. The error says what
    /// is wrong, for a `400`.
    fn parse<B>(request: &Request<B>) -> Result<RangeQuery, String> {
        let accepts_csv = request
            .headers()
            .get(header::ACCEPT)
            .and_then(|accept| accept.to_str().ok())
            .is_some_and(|accept| accept.contains("text/csv"));
        let mut query = RangeQuery {
            start: None,
            end: None,
            limit: MAX_PAGE,
            csv: accepts_csv,
        };
        for pair in request.uri().query().unwrap_or_default().split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = String::from_utf8(percent_decode(value.as_bytes(), true).into_owned())
                .map_err(|_| format!("the value of {name:?} is not valid UTF-8 once decoded"))?;
            match name {
                "start" => {
                    query.start = Some(Day::parse(&value).map_err(|e| format!("start: {e}"))?)
                }
                "end" => query.end = Some(Day::parse(&value).map_err(|e| format!("end: {e}"))?),
                "limit" => {
                    query.limit = value
                        .parse()
                        .ok()
                        .filter(|limit| (1..=MAX_PAGE).contains(limit))
                        .ok_or_else(|| {
                            format!("limit {value:?} is not a whole number from 1 to {MAX_PAGE}")
                        })?;
                }
                "format" => {
                    query.csv = match &*value {
                        "csv" => true,
                        "json" => false,
                        other => return Err(format!("format {other:?} is not json or csv")),
                    };
                }
                _ => {}
            }
        }
        if let (Some(start), Some(end)) = (query.start, query.end)
            && start > end
        {
            return Err(format!("start {start} is after end {end}"));
        }
        Ok(query)
    }

    /// The URL of the page that starts at `next_day`, the rest of the query
    /// as it was.
    fn next_page_url(&self, base: &str, path: &str, next_day: &str) -> String {
        let mut url = format!("{base}{path}?start={next_day}");
        if let Some(end) = self.end {
            url.push_str(&format!("&end={end}"));
        }
        url.push_str(&format!("&limit={}", self.limit));
        if self.csv {
            url.push_str("&format=csv");
        }
        url
    }
}

/// Werkzeug 1.0's `escape`: `&`, `<`, `>` and `"`.
fn html_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// Status lines as Werkzeug writes them: its reason phrase, upper-cased
/// (`404 NOT FOUND`). Python clients print it (`raise_for_status()`:
/// "404 Client Error: NOT FOUND for url: ..."). `200 OK` needs nothing.
fn with_werkzeug_reason(mut response: Response) -> Response {
    let reason: &'static [u8] = match response.status().as_u16() {
        200 => return response,
        308 => b"PERMANENT REDIRECT",
        400 => b"BAD REQUEST",
        404 => b"NOT FOUND",
        405 => b"METHOD NOT ALLOWED",
        414 => b"REQUEST URI TOO LONG",
        429 => b"TOO MANY REQUESTS",
        431 => b"REQUEST HEADER FIELDS TOO LARGE",
        500 => b"INTERNAL SERVER ERROR",
        503 => b"SERVICE UNAVAILABLE",
        _ => return response,
    };
    response
        .extensions_mut()
        .insert(ReasonPhrase::from_static(reason));
    response
}

#[cfg(test)]
mod tests {
    //! The API called directly, without a socket; the real-socket tests
    //! live in the workspace's `tests/`.

    use http_body_util::BodyExt;

    use super::*;

    const LOCAL: &str = "127.0.0.1:8080";

    /// One state for every test: the table is loaded once.
    fn state() -> AppState {
        static STATE: std::sync::LazyLock<(watch::Sender<bool>, AppState)> =
            std::sync::LazyLock::new(|| {
                let (stop, stopping) = watch::channel(false);
                let state =
                    AppState::new(PriceTable::embedded().unwrap(), Duration::ZERO, stopping);
                (stop, state)
            });
        STATE.1.clone()
    }

    async fn call(method: &str, uri: &str) -> (StatusCode, String, String) {
        let request = Request::builder().method(method).uri(uri).body(()).unwrap();
        let response = state().respond(&request, LOCAL.parse().unwrap()).await;
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
    async fn methods_are_read_case_insensitively_as_werkzeug_reads_them() {
        assert_eq!(call("get", "/exchanges").await.0, StatusCode::OK);
        assert_eq!(call("Get", "/symbols").await.0, StatusCode::OK);
        assert_eq!(call("options", "/symbols").await.0, StatusCode::OK);
        assert_eq!(
            call("patch", "/symbols").await.0,
            StatusCode::METHOD_NOT_ALLOWED
        );
    }

    #[tokio::test]
    async fn a_redirect_is_byte_for_byte_the_originals() {
        // Captured from the original for this request (Host: x): 283 bytes.
        let request = Request::get("/price//bitstamp/btc/2020-04-01")
            .header("host", "x")
            .body(())
            .unwrap();
        let response = state().respond(&request, LOCAL.parse().unwrap()).await;
        assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(
            response.headers()[header::LOCATION],
            "http://x/price/bitstamp/btc/2020-04-01"
        );
        assert_eq!(
            response
                .extensions()
                .get::<ReasonPhrase>()
                .unwrap()
                .as_bytes(),
            b"PERMANENT REDIRECT"
        );
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body.len(), 283);
        assert!(body.ends_with(
            b"<a href=\"http://x/price/bitstamp/btc/2020-04-01\">http://x/price/bitstamp/btc/2020-04-01</a>.  If not click the link."
        ));
    }

    #[tokio::test]
    async fn a_redirect_keeps_the_query_and_escapes_the_page() {
        // As the original: Host `h:80` loses its `:80`, the query is kept
        // as sent, and the page escapes it.
        let request = Request::get("/price/bit%20stamp//btc/2020-04-01?q=%20a&b=1")
            .header("host", "h:80")
            .body(())
            .unwrap();
        let response = state().respond(&request, LOCAL.parse().unwrap()).await;
        assert_eq!(
            response.headers()[header::LOCATION],
            "http://h/price/bit%2520stamp/btc/2020-04-01?q=%20a&b=1"
        );
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert!(
            std::str::from_utf8(&body).unwrap().contains(
                "<a href=\"http://h/price/bit%2520stamp/btc/2020-04-01?q=%20a&amp;b=1\">"
            )
        );
        // Without a Host header, the address the client reached. Werkzeug
        // names the address it is bound to (`0.0.0.0` by default), which
        // no client can reach: a difference on purpose (docs/server.md).
        let request = Request::get("/price/bitstamp/btc//2020-04-01")
            .body(())
            .unwrap();
        let response = state().respond(&request, LOCAL.parse().unwrap()).await;
        assert_eq!(
            response.headers()[header::LOCATION],
            "http://127.0.0.1:8080/price/bitstamp/btc/2020-04-01"
        );
    }

    async fn get(uri: &str, accept: Option<&str>) -> Response {
        let mut request = Request::get(uri).header("host", "x");
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        state()
            .respond(&request.body(()).unwrap(), LOCAL.parse().unwrap())
            .await
    }

    async fn text(response: Response) -> String {
        let body = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(body.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn a_range_is_each_row_as_price_renders_it_in_day_order() {
        let table = PriceTable::embedded().unwrap();
        let days = (1..=7).map(|d| format!("2020-04-0{d}"));
        let expected: Vec<String> = days
            .map(|day| table.get("bitstamp", "btc", &day).unwrap().to_json())
            .collect();
        let response = get("/prices/bitstamp/btc?start=2020-04-01&end=2020-04-07", None).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        assert!(response.headers().get(header::LINK).is_none());
        assert_eq!(text(response).await, format!("[{}]", expected.join(", ")));
    }

    #[tokio::test]
    async fn a_page_links_to_the_next_with_the_rest_of_the_query() {
        let response = get(
            "/prices/bitstamp/btc?start=2020-04-01&end=2020-04-07&limit=3",
            None,
        )
        .await;
        assert_eq!(
            response.headers()[header::LINK],
            "<http://x/prices/bitstamp/btc?start=2020-04-04&end=2020-04-07&limit=3>; rel=\"next\""
        );
        let first = text(response).await;
        assert_eq!(first.matches("\"day\"").count(), 3);
        let last = get(
            "/prices/bitstamp/btc?start=2020-04-07&end=2020-04-07&limit=3",
            None,
        )
        .await;
        assert!(last.headers().get(header::LINK).is_none());
        assert!(get("/prices/mexbt/ltc", None).await.status() == StatusCode::OK);
    }

    #[tokio::test]
    async fn a_range_as_csv_by_format_or_accept() {
        let expected = "exchange,symbol,day,open,high,low,close,volume\n\
            bitstamp,btc,2020-04-01,6408.95,6527.24,6337.42,6421.14,6342.29832651\n";
        let by_format = get(
            "/prices/bitstamp/btc?start=2020-04-01&end=2020-04-01&format=csv",
            None,
        )
        .await;
        assert_eq!(
            by_format.headers()[header::CONTENT_TYPE],
            "text/csv; charset=utf-8"
        );
        assert_eq!(text(by_format).await, expected);
        let by_accept = get(
            "/prices/bitstamp/btc?start=2020-04-01&end=2020-04-01",
            Some("text/csv"),
        )
        .await;
        assert_eq!(text(by_accept).await, expected);
    }

    #[tokio::test]
    async fn a_range_says_what_is_wrong_with_it() {
        for (uri, status, message) in [
            (
                "/prices/nasdaq/btc",
                404,
                "no exchange \\\"nasdaq\\\" (see /exchanges)",
            ),
            (
                "/prices/bitstamp/doge",
                404,
                "no symbol \\\"doge\\\" (see /symbols)",
            ),
            (
                "/prices/btc/bitstamp",
                404,
                "no exchange \\\"btc\\\" (see /exchanges)",
            ),
            (
                "/prices/bitstamp/btc?start=2020-05-01&end=2020-04-01",
                400,
                "start 2020-05-01 is after end 2020-04-01",
            ),
            (
                "/prices/bitstamp/btc?start=2020-4-1",
                400,
                "start: date \\\"2020-4-1\\\" is not in YYYY-MM-DD form (for example 2020-04-01)",
            ),
            (
                "/prices/bitstamp/btc?limit=0",
                400,
                "limit \\\"0\\\" is not a whole number from 1 to 1000",
            ),
            (
                "/prices/bitstamp/btc?limit=1001",
                400,
                "limit \\\"1001\\\" is not a whole number from 1 to 1000",
            ),
            (
                "/prices/bitstamp/btc?format=xml",
                400,
                "format \\\"xml\\\" is not json or csv",
            ),
        ] {
            let response = get(uri, None).await;
            assert_eq!(response.status().as_u16(), status, "{uri}");
            assert_eq!(
                text(response).await,
                format!("{{\"error\": \"{message}\"}}"),
                "{uri}"
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// Any path and query, however odd: never a panic, and only the
        /// statuses the API documents.
        #[test]
        fn any_request_target_gets_a_documented_answer(
            path in "(/|//|price|prices|exchanges|symbols|bitstamp|btc|2020-04-01|%[0-9A-Fa-f]{0,2}|%2F|[a-z0-9.~+;:@!$&'()*,= _-]){0,12}",
            query in "(start|end|limit|format|=|&|2020-04-01|2021-13-01|csv|json|%[0-9A-Fa-f]{0,2}|[0-9]{1,5}|\\+|x){0,10}",
            method in proptest::sample::select(vec!["GET", "HEAD", "OPTIONS", "POST", "get", "DELETE"]),
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
            let target = format!("/{path}?{query}");
            let Ok(request) = Request::builder().method(method).uri(&target).body(()) else {
                // Not a request target hyper would hand us at all.
                return Ok(());
            };
            let response = runtime.block_on(state().respond(&request, LOCAL.parse().unwrap()));
            let status = response.status().as_u16();
            proptest::prop_assert!(
                [200, 308, 400, 404, 405, 414].contains(&status),
                "{method} {target}: {status}"
            );
        }
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
