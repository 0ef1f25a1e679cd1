//! What the server saw, for `GET /metrics` in the OpenMetrics text format
//! that Prometheus scrapes: requests by route and status, how long they
//! took, how many are in flight, how many connections are open (a
//! learner's 32 workers show as 32), and the faults injected by kind.
//!
//! Built on `prometheus-client` (the Prometheus project's Rust client); the
//! latency is a real histogram with buckets from 100 µs to 30 s, so
//! `histogram_quantile` works on it.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::chaos::FaultKind;

/// The `Content-Type` of `/metrics`.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Latency buckets, in seconds: from a cached answer to a `--hang`.
const LATENCY_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    10.0, 30.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// The route's template (`/price/{exchange}/{symbol}/{date}`), or
    /// `unmatched`, or `redirect`.
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FaultLabels {
    kind: &'static str,
}

/// The server's counters.
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Histogram,
    in_flight: Gauge,
    connections: Gauge,
    faults: Family<FaultLabels, Counter>,
}

impl Metrics {
    pub(crate) fn new(chaos: bool) -> Metrics {
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Histogram::new(LATENCY_BUCKETS);
        let (in_flight, connections) = (Gauge::default(), Gauge::default());
        let faults = Family::<FaultLabels, Counter>::default();
        let mut registry = Registry::with_prefix("crypto_db");
        registry.register(
            "http_requests",
            "Requests answered, by route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's head to its answer (waits and injected latency included)",
            latency.clone(),
        );
        registry.register(
            "http_requests_in_flight",
            "Requests being answered now",
            in_flight.clone(),
        );
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
            requests,
            latency,
            in_flight,
            connections,
            faults,
        }
    }

    /// Counts a request in flight until the guard is dropped.
    pub(crate) fn in_flight(&self) -> GaugeGuard<'_> {
        self.in_flight.inc();
        GaugeGuard(&self.in_flight)
    }

    /// Counts a connection open until the returned guard is dropped.
    pub(crate) fn connection_opened(&self) -> OpenConnection {
        self.connections.inc();
        OpenConnection(self.connections.clone())
    }

    /// Records an answered request.
    pub(crate) fn answered(&self, route: &'static str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels { route, status })
            .inc();
        self.latency.observe(seconds);
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

/// Decrements a gauge when dropped, so a request whose future is dropped
/// (its client hung up) is not counted forever.
pub(crate) struct GaugeGuard<'a>(&'a Gauge);

impl Drop for GaugeGuard<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// One open connection, counted until dropped.
pub(crate) struct OpenConnection(Gauge);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}
