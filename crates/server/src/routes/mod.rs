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
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, StatusCode};
use prices::{Day, PriceSource};
use tokio::sync::watch;

use crate::chaos::{Chaos, ChaosConfig, Fate, FaultKind};
use crate::delivery::Delivery;
use crate::live::{Lane, Live, Outcome};
use crate::metrics::{Metrics, RouteLabel};
use crate::openapi::{DOCS_PAGE, OPENAPI_DOCUMENT};
use crate::target::{Route, Target};

mod range;
mod reply;
#[cfg(test)]
mod tests;

use reply::{
    INDEX_PAGE, LIVE_PAGE, TOO_MANY_HEADERS, html, json, json_error, lookup_failed,
    method_not_allowed, not_found, options, redirect, response, too_many_headers,
    with_werkzeug_reason,
};

/// The body of every answer: small and complete, never streamed.
pub(crate) type Body = Full<Bytes>;
/// One answer.
pub(crate) type Response = hyper::Response<Body>;

/// The longest request target (path and query) we read, in bytes. The
/// longest real one, `/price/coinbase-pro/btc/2020-04-01`, is 34.
pub(crate) const MAX_TARGET_LEN: usize = 2048;

/// Everything a request handler needs, cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

struct Shared {
    prices: PriceSource,
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
    /// The practice ground's faults; `None` (the default) costs nothing.
    chaos: Option<Chaos>,
    metrics: Metrics,
    /// What `/live` shows.
    live: Live,
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

    /// How many requests reached the practice ground's faults (past its
    /// rate limit) while `--fail-every` is on; always 0 otherwise, to keep
    /// a counter shared by every core off the hot path.
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
    /// State for serving `prices` (a [`prices::PriceTable`] or a lookup
    /// per request), delaying each `/price` answer by `sleep`; waits end
    /// early once `stopping` turns `true`.
    pub fn new(
        prices: impl Into<PriceSource>,
        sleep: Duration,
        stopping: watch::Receiver<bool>,
    ) -> AppState {
        let prices = prices.into();
        let (exchanges, symbols) = match &prices {
            PriceSource::Table(table) => (
                table.exchanges_json().to_owned(),
                table.symbols_json().to_owned(),
            ),
            PriceSource::Lookup(lookup) => (lookup.exchanges_json(), lookup.symbols_json()),
        };
        AppState {
            inner: Arc::new(Shared {
                exchanges: Bytes::from(exchanges),
                symbols: Bytes::from(symbols),
                prices,
                sleep,
                stopping,
                stats: Stats::default(),
                chaos: None,
                metrics: Metrics::new(false),
                live: Live::new(),
            }),
        }
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

    /// The prices being served.
    pub fn source(&self) -> &PriceSource {
        &self.inner.prices
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
        self.answer(request, local, local.ip(), None).await.0
    }

    /// What `/live` shows.
    pub(crate) fn live(&self) -> &Live {
        &self.inner.live
    }

    /// Answers one request from `client` on the connection whose lane is
    /// `lane`, and says how its bytes are to be delivered (the practice
    /// ground's connection faults are the connection's to carry out).
    /// Counted at `/metrics`, and noted for `/live` when it came on a
    /// connection (but for the live view's own requests).
    pub(crate) async fn answer<B>(
        &self,
        request: &Request<B>,
        local: SocketAddr,
        client: IpAddr,
        lane: Option<&Lane>,
    ) -> (Response, Delivery) {
        let shared = &*self.inner;
        let started = Instant::now();
        let _in_flight = shared.metrics.in_flight();
        let target = Target::of(request.uri());
        let route = target.route();
        let live_view = matches!(
            route,
            Some(Route::Live | Route::LiveJson | Route::LiveEvents)
        );
        let noting = lane
            .filter(|_| !live_view)
            .map(|lane| shared.live.started(lane));
        let label = match (&target, route) {
            (_, Some(route)) => RouteLabel::Route(route),
            (Target::Redirect(_) | Target::EmptyPath, None) => RouteLabel::Redirect,
            (_, None) => RouteLabel::Unmatched,
        };
        let chaos = shared.chaos.as_ref().filter(|chaos| match route {
            Some(Route::Price) => true,
            // The practice ground's own routes always answer, so the
            // learner can see what is going on.
            Some(
                Route::Chaos
                | Route::Metrics
                | Route::Health
                | Route::Live
                | Route::LiveJson
                | Route::LiveEvents,
            )
            | None => false,
            Some(_) => chaos.all_routes(),
        });
        let (response, delivery) = match chaos {
            None => {
                let response = self.route(request, local, target).await;
                // The stream's head is the answer; its events follow.
                let streams = route == Some(Route::LiveEvents)
                    && response.status() == StatusCode::OK
                    && Verb::of(request.method()) == Verb::Get;
                let delivery = if streams {
                    Delivery::LiveEvents
                } else {
                    Delivery::Whole
                };
                (response, delivery)
            }
            Some(chaos) => self.misbehave(chaos, request, local, client, target).await,
        };
        let response = with_werkzeug_reason(response);
        let delivered = delivery.delivered(&response);
        shared.metrics.answered(label, delivered, started.elapsed());
        if let Some(noting) = noting {
            let status = response.status().as_u16();
            let outcome = match delivery {
                Delivery::Whole | Delivery::LiveEvents => Outcome::of_status(status),
                Delivery::Slow(_) => Outcome::Slow,
                Delivery::Drop => Outcome::Dropped,
                Delivery::Reset => Outcome::Reset,
                Delivery::Hang => Outcome::Hung,
                Delivery::Truncate => Outcome::Truncated,
            };
            noting.finish(outcome, status);
        }
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
        let plan = chaos.plan(sent, client, &self.inner.stats.price_requests);
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
            Fate::Fail(FaultKind::FailEvery) => {
                metrics.fault(FaultKind::FailEvery);
                // Counted on arrival, so the Nth request to arrive is the
                // one that fails; it still waits out `--sleep` first.
                self.delay().await;
                let mut response = json_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "injected failure (--fail-every)",
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("0"));
                (response, Delivery::Whole)
            }
            Fate::Fail(kind) => {
                metrics.fault(kind);
                let message = format!("injected failure ({})", kind.flag());
                (
                    json_error(StatusCode::INTERNAL_SERVER_ERROR, &message),
                    Delivery::Whole,
                )
            }
            Fate::Answer(delivery) => {
                if let Some(kind) = delivery.fault() {
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
        if request.headers().len() >= TOO_MANY_HEADERS {
            return too_many_headers();
        }
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
        if let Target::EmptyPath = target {
            return match verb {
                Verb::Get | Verb::Head | Verb::Options => redirect(request, local, "/"),
                Verb::Other => method_not_allowed(),
            };
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
            Target::Fixed(Route::Index) => {
                html(StatusCode::OK, Bytes::from_static(INDEX_PAGE.as_bytes()))
            }
            Target::Fixed(Route::Exchanges) => json(StatusCode::OK, self.inner.exchanges.clone()),
            Target::Fixed(Route::Symbols) => json(StatusCode::OK, self.inner.symbols.clone()),
            Target::Price {
                exchange,
                symbol,
                date,
            } => {
                self.delay().await;
                self.price(Some((&exchange, &symbol, &date)))
            }
            Target::PriceNotUtf8 => {
                self.delay().await;
                self.price(None)
            }
            Target::Prices { exchange, symbol } => self.prices(request, local, &exchange, &symbol),
            Target::PricesNotUtf8 => json_error(
                StatusCode::BAD_REQUEST,
                "the path is not valid UTF-8 once percent-decoded",
            ),
            Target::Fixed(Route::OpenApi) => json(
                StatusCode::OK,
                Bytes::from_static(OPENAPI_DOCUMENT.as_bytes()),
            ),
            Target::Fixed(Route::Docs) => {
                html(StatusCode::OK, Bytes::from_static(DOCS_PAGE.as_bytes()))
            }
            Target::Fixed(Route::Chaos) => json(
                StatusCode::OK,
                Bytes::from(
                    self.inner
                        .chaos
                        .as_ref()
                        .map_or_else(|| String::from("{\"active\": false}"), Chaos::to_json),
                ),
            ),
            Target::Fixed(Route::Metrics) => response(
                StatusCode::OK,
                HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
                Bytes::from(self.inner.metrics.render()),
            ),
            Target::Fixed(Route::Live) => {
                // The page carries the view as it is now; the snapshot is
                // numbers and fixed names, `<` escaped all the same.
                let (snapshot, _) = self.inner.live.to_json(None);
                let page =
                    LIVE_PAGE.replacen("/*snapshot*/null", &snapshot.replace('<', "\\u003c"), 1);
                html(StatusCode::OK, Bytes::from(page))
            }
            Target::Fixed(Route::LiveJson) => {
                json(StatusCode::OK, Bytes::from(self.inner.live.to_json(None).0))
            }
            Target::Fixed(Route::LiveEvents) => {
                let mut events = response(
                    StatusCode::OK,
                    HeaderValue::from_static("text/event-stream"),
                    Bytes::new(),
                );
                events
                    .headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                events.headers_mut().remove(header::CONTENT_LENGTH);
                events
            }
            Target::Fixed(Route::Health) => response(
                StatusCode::OK,
                HeaderValue::from_static("application/health+json"),
                Bytes::from_static(br#"{"status": "pass"}"#),
            ),
            // `Route::fixed` never names a route with parameters.
            Target::Fixed(Route::Price | Route::Prices) => not_found(),
            Target::Redirect(_) | Target::EmptyPath | Target::Unknown => {
                unreachable!("answered above")
            }
        }
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
        // Well-formed but absent: `null`, as clients of the original expect.
        let body = match self.source() {
            PriceSource::Table(table) => match table.get(exchange, symbol, date) {
                Some(row) => Bytes::from(row.to_json()),
                None => Bytes::from_static(b"null"),
            },
            PriceSource::Lookup(lookup) => match lookup.price_json(exchange, symbol, date) {
                Ok(Some(body)) => Bytes::from(body),
                Ok(None) => Bytes::from_static(b"null"),
                Err(error) => return lookup_failed(&error),
            },
        };
        json(StatusCode::OK, body)
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
