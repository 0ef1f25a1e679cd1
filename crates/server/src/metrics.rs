//! What the server saw, for `GET /metrics` in the OpenMetrics text format
//! that Prometheus scrapes: requests by route and status, how long they
//! took, how many are in flight, how many connections are open (a
//! learner's 32 workers show as 32), and the faults injected by kind.
//!
//! Built on `prometheus-client` (the Prometheus project's Rust client),
//! which writes the format; the latency is a real histogram with buckets
//! from 100 µs to 30 s, so `histogram_quantile` works on it.
//!
//! What every request touches is our own: counters sharded by thread, so
//! two cores counting at 150,000 requests a second never fight over a
//! cache line (`prometheus-client`'s labelled families take a lock and
//! hash the labels on every increment, and its histogram takes a mutex;
//! together they cost 3% of the server's throughput). They are summed
//! only when `/metrics` is read, and handed to the encoder by a
//! `Collector`.

use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::chaos::FaultKind;
use crate::target::Route;

/// The `Content-Type` of `/metrics`.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Latency buckets' upper bounds, in seconds: from a cached answer to a
/// `--hang`.
const LATENCY_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    10.0, 30.0,
];

/// The statuses the API answers with, each with a counter of its own;
/// any other is counted in a (slower) labelled family.
const STATUSES: [u16; 9] = [200, 308, 400, 404, 405, 414, 429, 500, 503];

/// What the client got, as the `status` label says it: one of
/// [`STATUSES`], or no whole answer, because the practice ground dropped,
/// reset, hung or truncated it (the handler's status is then not what
/// the client saw, so it is not what is counted).
const OUTCOMES: [&str; STATUSES.len() + 4] = [
    "200",
    "308",
    "400",
    "404",
    "405",
    "414",
    "429",
    "500",
    "503",
    "dropped",
    "reset",
    "hung",
    "truncated",
];

/// What reached the client of one request: an answer with its status, or
/// nothing whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivered {
    /// The whole answer (perhaps slowly), with this status.
    Status(u16),
    /// The connection was closed instead of answering (`--drop-rate`).
    Dropped,
    /// The connection was reset instead (`--reset-rate`).
    Reset,
    /// Nothing, ever (`--hang-rate`).
    Hung,
    /// The head and part of the body (`--truncate-rate`).
    Truncated,
}

impl Delivered {
    /// Its slot in [`OUTCOMES`], if it has one.
    fn slot(self) -> Option<usize> {
        match self {
            Delivered::Status(status) => STATUSES.iter().position(|&known| known == status),
            Delivered::Dropped => Some(STATUSES.len()),
            Delivered::Reset => Some(STATUSES.len() + 1),
            Delivered::Hung => Some(STATUSES.len() + 2),
            Delivered::Truncated => Some(STATUSES.len() + 3),
        }
    }
}

/// The label of a request with no route: a redirect, or nothing matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RouteLabel {
    Route(Route),
    Redirect,
    Unmatched,
}

impl RouteLabel {
    const COUNT: usize = Route::ALL.len() + 2;

    fn index(self) -> usize {
        match self {
            RouteLabel::Route(route) => route as usize,
            RouteLabel::Redirect => Route::ALL.len(),
            RouteLabel::Unmatched => Route::ALL.len() + 1,
        }
    }

    fn name(index: usize) -> &'static str {
        match Route::ALL.get(index) {
            Some(route) => route.template(),
            None if index == Route::ALL.len() => "redirect",
            None => "unmatched",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// The route's template (`/price/{exchange}/{symbol}/{date}`), or
    /// `redirect`, or `unmatched`.
    route: &'static str,
    /// The status the client got, or what kept it from getting one.
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FaultLabels {
    kind: &'static str,
}

/// How many shards: enough that each of the runtime's threads (one per
/// core) usually has its own.
const SHARDS: usize = 16;

/// One thread's counters, on cache lines of their own.
#[repr(align(128))]
struct Shard {
    requests: [AtomicU64; RouteLabel::COUNT * OUTCOMES.len()],
    /// Non-cumulative: `buckets[i]` counts answers in bucket `i` alone;
    /// the last is `+Inf`.
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    nanos: AtomicU64,
    /// Started here less finished here: one shard's value can go below
    /// zero (a request may end on another thread); the sum cannot.
    in_flight: AtomicI64,
}

impl Default for Shard {
    fn default() -> Shard {
        Shard {
            requests: std::array::from_fn(|_| AtomicU64::new(0)),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            nanos: AtomicU64::new(0),
            in_flight: AtomicI64::new(0),
        }
    }
}

/// This thread's shard.
fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    INDEX.with(|index| *index)
}

/// What every request touches: counts by route and status, the latency
/// histogram, requests in flight.
struct HotPath {
    shards: Box<[Shard; SHARDS]>,
    /// Statuses outside [`STATUSES`].
    other_statuses: Family<RequestLabels, Counter>,
}

impl fmt::Debug for HotPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HotPath")
    }
}

impl HotPath {
    fn shard(&self) -> &Shard {
        &self.shards[shard_index()]
    }

    fn sum(&self, read: impl Fn(&Shard) -> u64) -> u64 {
        self.shards.iter().map(read).sum()
    }
}

impl Collector for HotPath {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let mut requests = encoder.encode_descriptor(
            "http_requests",
            "Requests, by route and what the client got: its status, or dropped, reset, hung or truncated when the practice ground kept the answer from it",
            None,
            MetricType::Counter,
        )?;
        for route in 0..RouteLabel::COUNT {
            for (s, &status) in OUTCOMES.iter().enumerate() {
                let i = route * OUTCOMES.len() + s;
                let count = self.sum(|shard| load(&shard.requests[i]));
                if count > 0 {
                    let labels = RequestLabels {
                        route: RouteLabel::name(route),
                        status: status.to_owned(),
                    };
                    requests
                        .encode_family(&labels)?
                        .encode_counter::<NoLabelSet, _, u64>(&count, None)?;
                }
            }
        }
        self.other_statuses.encode(requests)?;

        let count = self.sum(|shard| shard.buckets.iter().map(load).sum());
        let seconds = self.sum(|shard| load(&shard.nanos)) as f64 / 1e9;
        let buckets: Vec<(f64, u64)> = LATENCY_BUCKETS
            .iter()
            .chain([&f64::INFINITY])
            .enumerate()
            .map(|(i, &bound)| (bound, self.sum(|shard| load(&shard.buckets[i]))))
            .collect();
        encoder
            .encode_descriptor(
                "http_request_duration_seconds",
                "Time from a request's head to its answer (waits and injected latency included)",
                None,
                MetricType::Histogram,
            )?
            .encode_histogram::<NoLabelSet>(seconds, count, &buckets, None)?;

        let in_flight: i64 = self
            .shards
            .iter()
            .map(|shard| shard.in_flight.load(Ordering::Relaxed))
            .sum();
        encoder
            .encode_descriptor(
                "http_requests_in_flight",
                "Requests being answered now",
                None,
                MetricType::Gauge,
            )?
            .encode_gauge(&in_flight)?;
        Ok(())
    }
}

/// The server's counters.
pub(crate) struct Metrics {
    registry: Registry,
    hot: std::sync::Arc<HotPath>,
    connections: Gauge,
    faults: Family<FaultLabels, Counter>,
}

impl Metrics {
    pub(crate) fn new(chaos: bool) -> Metrics {
        let hot = std::sync::Arc::new(HotPath {
            shards: Box::new(std::array::from_fn(|_| Shard::default())),
            other_statuses: Family::default(),
        });
        let connections = Gauge::default();
        let faults = Family::<FaultLabels, Counter>::default();
        let mut registry = Registry::with_prefix("crypto_db");
        registry.register_collector(Box::new(hot.clone()));
        registry.register(
            "open_connections",
            "Client connections open now",
            connections.clone(),
        );
        if chaos {
            // Every kind shows, at 0 until it happens.
            for kind in FaultKind::ALL {
                let _ = faults.get_or_create(&FaultLabels { kind: kind.name() });
            }
            registry.register(
                "faults_injected",
                "Faults injected on purpose, by kind (rate_limit: requests turned away with 429)",
                faults.clone(),
            );
        }
        Metrics {
            registry,
            hot,
            connections,
            faults,
        }
    }

    /// Counts a request in flight until the guard is dropped.
    pub(crate) fn in_flight(&self) -> InFlight<'_> {
        self.hot.shard().in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(&self.hot)
    }

    /// Counts a connection open until the returned guard is dropped.
    pub(crate) fn connection_opened(&self) -> OpenConnection {
        self.connections.inc();
        OpenConnection(self.connections.clone())
    }

    /// Records a request: what reached its client, and how long it took
    /// to answer (or to decide not to).
    pub(crate) fn answered(
        &self,
        route: RouteLabel,
        delivered: Delivered,
        elapsed: std::time::Duration,
    ) {
        let shard = self.hot.shard();
        match delivered.slot() {
            Some(s) => {
                shard.requests[route.index() * OUTCOMES.len() + s].fetch_add(1, Ordering::Relaxed);
            }
            None => {
                let status = match delivered {
                    Delivered::Status(status) => status.to_string(),
                    _ => unreachable!("every undelivered kind has a slot"),
                };
                let labels = RequestLabels {
                    route: RouteLabel::name(route.index()),
                    status,
                };
                self.hot.other_statuses.get_or_create(&labels).inc();
            }
        }
        let seconds = elapsed.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        shard.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        shard.nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Records an injected fault.
    pub(crate) fn fault(&self, kind: FaultKind) {
        self.faults
            .get_or_create(&FaultLabels { kind: kind.name() })
            .inc();
    }

    /// Everything, in the OpenMetrics text format.
    pub(crate) fn render(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

/// A request in flight, uncounted when dropped (also when its client hung
/// up and its future was dropped).
pub(crate) struct InFlight<'a>(&'a HotPath);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.shard().in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One open connection, counted until dropped.
pub(crate) struct OpenConnection(Gauge);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_every_thread_are_summed() {
        let metrics = Metrics::new(false);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..1000 {
                        let _in_flight = metrics.in_flight();
                        metrics.answered(
                            RouteLabel::Route(Route::Price),
                            Delivered::Status(200),
                            std::time::Duration::from_micros(300),
                        );
                    }
                });
            }
        });
        metrics.answered(
            RouteLabel::Unmatched,
            Delivered::Status(431),
            std::time::Duration::from_secs(40),
        );
        metrics.answered(
            RouteLabel::Route(Route::Price),
            Delivered::Dropped,
            std::time::Duration::ZERO,
        );
        let text = metrics.render();
        for line in [
            "crypto_db_http_requests_total{route=\"/price/{exchange}/{symbol}/{date}\",status=\"200\"} 4000",
            "crypto_db_http_requests_total{route=\"unmatched\",status=\"431\"} 1",
            "crypto_db_http_requests_total{route=\"/price/{exchange}/{symbol}/{date}\",status=\"dropped\"} 1",
            "crypto_db_http_request_duration_seconds_count 4002",
            // Cumulative: 4000 within 0.5 ms, the slow one only in +Inf.
            "crypto_db_http_request_duration_seconds_bucket{le=\"0.0001\"} 1",
            "crypto_db_http_request_duration_seconds_bucket{le=\"0.00025\"} 1",
            "crypto_db_http_request_duration_seconds_bucket{le=\"0.0005\"} 4001",
            "crypto_db_http_request_duration_seconds_bucket{le=\"30.0\"} 4001",
            "crypto_db_http_request_duration_seconds_bucket{le=\"+Inf\"} 4002",
            "crypto_db_http_requests_in_flight 0",
            "crypto_db_open_connections 0",
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
        assert!(
            text.contains("crypto_db_http_request_duration_seconds_sum 41.2"),
            "{text}"
        );
    }
}
