//! What `/live` draws and `/live.json` tells: the requests of the last
//! [`WINDOW`], lane by lane (a lane is one client connection: a thread of
//! a client's pool keeps to its own), the requests in flight now, and the
//! most ever in flight at once.
//!
//! Every request (but those of the live view itself) is noted twice: when
//! its head has been read (atomic writes on its connection's [`Lane`],
//! which the connection alone writes: no lock), and when its answer, or
//! the practice ground's fault instead of one, is decided (one short
//! lock, to keep it). The finished ones are kept in a ring bounded in time
//! ([`WINDOW`]) and in count ([`RING`], so that a storm cannot grow it),
//! and what is noted does not depend on whether anyone watches: a viewer
//! reads the ring and the lanes, so a reload or a second viewer sees the
//! same. A viewer's stream
//! (`/live/events`, Server-Sent Events) sends, four times a second, the
//! requests finished since its last event and those in flight.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use hyper::body::Bytes;
use parking_lot::Mutex;

/// How far back the live view sees.
pub(crate) const WINDOW: Duration = Duration::from_secs(30);

/// The most finished requests kept, whatever the load (about 40 bytes
/// each).
pub(crate) const RING: usize = 50_000;

/// The most finished requests one event or snapshot carries: more than a
/// page can draw, and a bound on what a viewer costs the server.
const MOST_SENT: usize = 5_000;

/// How a request ended, as the live view colors it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Answered with a 1xx, 2xx or 3xx.
    Answered,
    /// Answered with a 4xx other than 429.
    ClientError,
    /// Answered with a 5xx.
    ServerError,
    /// Answered 429 (`--rate-limit`).
    RateLimited,
    /// The connection closed instead (`--drop-rate`).
    Dropped,
    /// The connection reset instead (`--reset-rate`).
    Reset,
    /// No answer, ever (`--hang-rate`).
    Hung,
    /// Half the body, then the connection closed (`--truncate-rate`).
    Truncated,
    /// The body dripped slowly (`--slow-body-rate`).
    Slow,
}

impl Outcome {
    /// The name the page and `/live.json` use.
    fn name(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::ClientError => "4xx",
            Outcome::ServerError => "5xx",
            Outcome::RateLimited => "rate_limited",
            Outcome::Dropped => "dropped",
            Outcome::Reset => "reset",
            Outcome::Hung => "hung",
            Outcome::Truncated => "truncated",
            Outcome::Slow => "slow",
        }
    }

    /// The outcome of an answer with `status`.
    pub(crate) fn of_status(status: u16) -> Outcome {
        match status {
            429 => Outcome::RateLimited,
            400..=499 => Outcome::ClientError,
            500.. => Outcome::ServerError,
            _ => Outcome::Answered,
        }
    }
}

/// One finished request.
#[derive(Debug, Clone, Copy)]
struct Finished {
    /// Its number among finished requests: a stream's cursor.
    number: u64,
    lane: u64,
    /// Since the server started.
    start: Duration,
    end: Duration,
    outcome: Outcome,
    status: u16,
}

#[derive(Default)]
struct Ring {
    finished: VecDeque<Finished>,
    next_number: u64,
}

/// One client connection's lane: when its request in flight started (in
/// microseconds since the server started, plus one; 0 when none is),
/// written by the connection alone, read by the live view's readers.
/// HTTP/1.1 has at most one request in flight per connection.
#[derive(Debug)]
pub(crate) struct Lane {
    id: u64,
    in_flight_since: AtomicU64,
}

/// The live view's record; see the module's documentation.
pub(crate) struct Live {
    epoch: Instant,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
    /// The open connections' lanes, each dropped with its connection
    /// (dead ones are pruned as lanes are added).
    lanes: Mutex<Lanes>,
    ring: Mutex<Ring>,
}

#[derive(Default)]
struct Lanes {
    by_id: HashMap<u64, Weak<Lane>>,
    /// At this many, the dead are pruned (twice the living after each
    /// pruning, so that adding a lane costs O(1) on average).
    prune_at: usize,
}

/// A request being noted, until [`Noting::finish`]; dropped unfinished
/// (its client hung up while it waited), it is no longer in flight.
#[must_use = "a request being noted ends with Noting::finish"]
pub(crate) struct Noting<'a> {
    live: &'a Live,
    lane: &'a Lane,
    start: Duration,
    finished: bool,
}

impl Noting<'_> {
    /// Notes how the request ended.
    pub(crate) fn finish(mut self, outcome: Outcome, status: u16) {
        self.finished = true;
        self.live.left(self.lane);
        self.live
            .finished(self.lane.id, self.start, outcome, status);
    }
}

impl Drop for Noting<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.live.left(self.lane);
        }
    }
}

impl Live {
    pub(crate) fn new() -> Live {
        Live {
            epoch: Instant::now(),
            in_flight: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            lanes: Mutex::new(Lanes::default()),
            ring: Mutex::new(Ring::default()),
        }
    }

    /// The lane of a new connection numbered `id`, for as long as the
    /// connection holds it.
    pub(crate) fn lane(&self, id: u64) -> Arc<Lane> {
        let lane = Arc::new(Lane {
            id,
            in_flight_since: AtomicU64::new(0),
        });
        let mut lanes = self.lanes.lock();
        if lanes.by_id.len() >= lanes.prune_at {
            lanes.by_id.retain(|_, lane| lane.strong_count() > 0);
            lanes.prune_at = (2 * lanes.by_id.len()).max(64);
        }
        lanes.by_id.insert(id, Arc::downgrade(&lane));
        lane
    }

    /// Notes a request on `lane` whose head has just been read: two
    /// atomic writes, no lock.
    pub(crate) fn started<'a>(&'a self, lane: &'a Lane) -> Noting<'a> {
        let start = self.epoch.elapsed();
        let micros = u64::try_from(start.as_micros()).unwrap_or(u64::MAX - 1);
        lane.in_flight_since.store(micros + 1, Ordering::Relaxed);
        let in_flight = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        // Read first: most requests do not make a new peak, and a write
        // would make every core fight for the line.
        if in_flight > self.peak.load(Ordering::Relaxed) {
            self.peak.fetch_max(in_flight, Ordering::Relaxed);
        }
        Noting {
            live: self,
            lane,
            start,
            finished: false,
        }
    }

    /// `lane`'s request is no longer in flight.
    fn left(&self, lane: &Lane) {
        lane.in_flight_since.store(0, Ordering::Relaxed);
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    /// Keeps a finished request in the ring: the one lock a request takes.
    fn finished(&self, lane: u64, start: Duration, outcome: Outcome, status: u16) {
        let end = self.epoch.elapsed();
        let mut ring = self.ring.lock();
        let number = ring.next_number;
        ring.next_number += 1;
        ring.finished.push_back(Finished {
            number,
            lane,
            start,
            end,
            outcome,
            status,
        });
        let oldest_kept = end.saturating_sub(WINDOW);
        while ring.finished.len() > RING
            || ring
                .finished
                .front()
                .is_some_and(|first| first.end < oldest_kept)
        {
            ring.finished.pop_front();
        }
    }

    /// The requests in flight now: (lane, when it started).
    fn open(&self) -> Vec<(u64, Duration)> {
        self.lanes
            .lock()
            .by_id
            .values()
            .filter_map(Weak::upgrade)
            .filter_map(|lane| match lane.in_flight_since.load(Ordering::Relaxed) {
                0 => None,
                since => Some((lane.id, Duration::from_micros(since - 1))),
            })
            .collect()
    }

    /// The live view as JSON: the counters, latency percentiles and
    /// requests a second over the last ten seconds, and the requests
    /// finished after `after` (all kept when `None`, at most
    /// [`MOST_SENT`], the latest) and those in flight, by lane. Returns
    /// the number to pass as `after` next time.
    pub(crate) fn to_json(&self, after: Option<u64>) -> (String, Option<u64>) {
        let now = self.epoch.elapsed();
        let open = self.open();
        let (sent, last, latencies) = {
            let ring = self.ring.lock();
            let recent = now.saturating_sub(Duration::from_secs(10));
            let mut latencies: Vec<Duration> = ring
                .finished
                .iter()
                .rev()
                .take_while(|done| done.end >= recent)
                .map(|done| done.end - done.start)
                .collect();
            latencies.sort_unstable();
            let new: Vec<Finished> = ring
                .finished
                .iter()
                .rev()
                .take_while(|done| after.is_none_or(|after| done.number > after))
                .take(MOST_SENT)
                .copied()
                .collect();
            let last = ring.next_number.checked_sub(1).or(after);
            (new, last, latencies)
        };
        let mut lanes: BTreeMap<u64, Vec<String>> = BTreeMap::new();
        for done in sent.iter().rev() {
            lanes.entry(done.lane).or_default().push(format!(
                r#"{{"start": {:.4}, "end": {:.4}, "outcome": "{}", "status": {}}}"#,
                done.start.as_secs_f64(),
                done.end.as_secs_f64(),
                done.outcome.name(),
                done.status
            ));
        }
        for &(lane, start) in &open {
            lanes.entry(lane).or_default().push(format!(
                r#"{{"start": {:.4}, "end": null, "outcome": "in_flight", "status": null}}"#,
                start.as_secs_f64()
            ));
        }
        let percentile = |p: usize| {
            latencies
                .get((latencies.len() * p / 100).min(latencies.len().saturating_sub(1)))
                .map_or(0.0, |latency| latency.as_secs_f64() * 1000.0)
        };
        let window = Duration::from_secs(10).min(now).as_secs_f64().max(0.001);
        let mut json = format!(
            r#"{{"now": {:.4}, "window_seconds": {}, "in_flight": {}, "peak_in_flight": {}, "requests_per_second": {:.1}, "latency_ms": {{"p50": {:.3}, "p90": {:.3}, "p99": {:.3}}}, "lanes": ["#,
            now.as_secs_f64(),
            WINDOW.as_secs(),
            open.len(),
            self.peak.load(Ordering::Relaxed),
            latencies.len() as f64 / window,
            percentile(50),
            percentile(90),
            percentile(99),
        );
        for (i, (lane, requests)) in lanes.iter().enumerate() {
            let comma = if i == 0 { "" } else { ", " };
            let _ = write!(
                json,
                r#"{comma}{{"lane": {lane}, "requests": [{}]}}"#,
                requests.join(", ")
            );
        }
        json.push_str("]}");
        (json, last)
    }
}

/// How often a viewer's stream sends an event.
const EVERY: Duration = Duration::from_millis(250);

/// A viewer's stream (`/live/events`): an event at once with everything
/// kept, then every [`EVERY`] what finished since and what is in flight;
/// until the viewer goes (`events` closed) or the server stops.
pub(crate) async fn stream(state: crate::AppState, events: tokio::sync::mpsc::Sender<Bytes>) {
    let mut after = None;
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = state.until_stopping() => return,
        }
        let (json, last) = state.live().to_json(after);
        after = last;
        let event = Bytes::from(format!("data: {json}\n\n"));
        if events.send(event).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(live: &Live, after: Option<u64>) -> (serde_json::Value, Option<u64>) {
        let (json, last) = live.to_json(after);
        (serde_json::from_str(&json).expect("valid JSON"), last)
    }

    #[test]
    fn requests_in_flight_their_peak_and_the_finished_ones_by_lane() {
        let live = Live::new();
        let (seven, nine) = (live.lane(7), live.lane(9));
        let a = live.started(&seven);
        let b = live.started(&nine);
        let (json, _) = parsed(&live, None);
        assert_eq!(json["in_flight"], 2);
        assert_eq!(json["peak_in_flight"], 2);
        a.finish(Outcome::of_status(200), 200);
        b.finish(Outcome::of_status(429), 429);
        let c = live.started(&seven);
        let (json, last) = parsed(&live, None);
        assert_eq!(json["in_flight"], 1);
        assert_eq!(json["peak_in_flight"], 2);
        let lanes = json["lanes"].as_array().unwrap();
        assert_eq!(lanes.len(), 2);
        assert_eq!(lanes[0]["lane"], 7);
        let requests = lanes[0]["requests"].as_array().unwrap();
        assert_eq!(requests[0]["outcome"], "answered");
        assert_eq!(requests[1]["outcome"], "in_flight");
        assert!(requests[1]["end"].is_null());
        assert_eq!(lanes[1]["requests"][0]["outcome"], "rate_limited");
        assert_eq!(lanes[1]["requests"][0]["status"], 429);
        // A stream's next event carries only what finished since.
        c.finish(Outcome::Dropped, 0);
        let (json, _) = parsed(&live, last);
        let lanes = json["lanes"].as_array().unwrap();
        assert_eq!(lanes.len(), 1);
        assert_eq!(lanes[0]["requests"].as_array().unwrap().len(), 1);
        assert_eq!(lanes[0]["requests"][0]["outcome"], "dropped");
    }

    #[test]
    fn the_record_stays_within_its_bounds_under_a_storm() {
        let live = Live::new();
        for id in 0..(RING as u64 + 10_000) {
            let lane = live.lane(id);
            live.started(&lane).finish(Outcome::Answered, 200);
        }
        assert_eq!(live.ring.lock().finished.len(), RING);
        // The closed connections' lanes are pruned as new ones come.
        assert!(
            live.lanes.lock().by_id.len() <= 64,
            "lanes of closed connections kept"
        );
        let (json, _) = parsed(&live, None);
        let sent: usize = json["lanes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|lane| lane["requests"].as_array().unwrap().len())
            .sum();
        assert_eq!(sent, MOST_SENT, "the latest, at most MOST_SENT");
        assert_eq!(json["peak_in_flight"], 1);
    }

    #[test]
    fn a_request_whose_client_hung_up_is_no_longer_in_flight() {
        let live = Live::new();
        let lane = live.lane(3);
        let noting = live.started(&lane);
        assert_eq!(parsed(&live, None).0["in_flight"], 1);
        drop(noting);
        let (json, _) = parsed(&live, None);
        assert_eq!(json["in_flight"], 0);
        assert_eq!(json["lanes"].as_array().unwrap().len(), 0);
    }
}
