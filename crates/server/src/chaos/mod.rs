//! The practice ground: a server that misbehaves on purpose, the way real
//! APIs do, so the patterns the lessons teach (bounded workers, timeouts,
//! retries, backoff) meet what they exist for.
//!
//! Everything is off by default, and then nothing here runs: the default
//! server answers byte for byte as the original. Each fault is a
//! [`ChaosConfig`] field (a command-line flag), and faults combine. They
//! apply to `/price` (or to every route of the API with `all_routes`),
//! never to `/chaos`, `/metrics` and `/health`, so a learner can always
//! see what is going on.
//!
//! # Reproducible
//!
//! Every random choice is a pure function of the seed, the request target
//! (path and query, as sent) and how many times that target was asked
//! before: the third request for `/price/bitstamp/btc/2020-03-01` meets
//! the same fate under the same seed, whatever else runs, in whatever
//! order, on however many threads. With no seed one is drawn at start and
//! shown (in the startup line and at `/chaos`), so any run can be replayed.
//! The rate limit alone depends on the clock, as rate limits do.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::delivery::Delivery;

mod faults;
mod settings;

pub(crate) use faults::FaultKind;
pub use faults::{ChaosConfig, FaultFlag};
pub use settings::{ChaosParseError, Latency, Rate, RateLimit};

/// What happens to one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Plan {
    /// Waited before anything else.
    pub(crate) latency: Duration,
    pub(crate) fate: Fate,
}

/// The fault a request meets, if any.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Fate {
    /// Answered as usual (perhaps slowly, see [`Delivery`]).
    Answer(Delivery),
    /// `500` (`--fail-rate` or `--fail-first`), or `503` (`--fail-every`).
    Fail(FaultKind),
    /// `429`: retry after this many whole seconds.
    RateLimited { retry_after: u64 },
}

/// The fault injector: the settings, the seed, and what it remembers
/// (requests per target, each client's bucket).
pub(crate) struct Chaos {
    config: ChaosConfig,
    seed: u64,
    /// How many times each target was asked, for `--fail-first` and the
    /// seeded choices. Bounded: cleared past a million targets, which
    /// only a client inventing targets reaches.
    asked: Mutex<HashMap<Box<str>, u32>>,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
    epoch: Instant,
}

const MAX_REMEMBERED: usize = 1 << 20;

struct Bucket {
    tokens: f64,
    /// Seconds since the epoch at the last refill.
    at: f64,
}

/// Independent streams of random numbers per request, one per decision.
#[derive(Clone, Copy)]
enum Draw {
    Latency1,
    Latency2,
    Fail,
    Drop,
    Reset,
    Hang,
    Truncate,
}

impl Chaos {
    pub(crate) fn new(config: ChaosConfig) -> Chaos {
        // No seed given: a random one (std's per-process hash keys), shown
        // at start so the run can be replayed.
        let seed = config
            .seed
            .unwrap_or_else(|| std::collections::hash_map::RandomState::new().hash_one(0u8));
        Chaos {
            config,
            seed,
            asked: Mutex::default(),
            buckets: Mutex::default(),
            epoch: Instant::now(),
        }
    }

    /// Whether faults apply to a route other than `/price`.
    pub(crate) fn all_routes(&self) -> bool {
        self.config.all_routes
    }

    /// One line for the startup banner: which faults are on, and the seed.
    pub(crate) fn banner(&self) -> String {
        let scope = if self.config.all_routes {
            "every route"
        } else {
            "/price"
        };
        format!(
            "chaos on {scope}: {} --seed {} (settings at /chaos, counts at /metrics)",
            self.config.flags().join(" "),
            self.seed
        )
    }

    /// The settings as JSON, for `GET /chaos`.
    pub(crate) fn to_json(&self) -> String {
        let c = &self.config;
        format!(
            "{{\"active\": {}, \"routes\": \"{}\", \"seed\": {}, {}, \"flags\": \"{}\"}}",
            c.is_active(),
            if c.all_routes { "all" } else { "/price" },
            self.seed,
            c.json_members(),
            c.flags().join(" "),
        )
    }

    /// Decides the fate of a request for `target` (path and query) from
    /// `client`; `arrivals` counts the requests that reach the faults
    /// (past the rate limit), for `--fail-every`.
    pub(crate) fn plan(&self, target: &str, client: IpAddr, arrivals: &AtomicU64) -> Plan {
        let config = &self.config;
        if let Some(limit) = config.rate_limit
            && let Err(retry_after) = self.take_token(client, limit)
        {
            // Turned away before anything else: a 429 costs the server
            // nothing, and is not counted as an attempt at the target.
            return Plan {
                latency: Duration::ZERO,
                fate: Fate::RateLimited { retry_after },
            };
        }
        if let Some(every) = config.fail_every {
            let arrival = arrivals.fetch_add(1, Ordering::Relaxed) + 1;
            if arrival.is_multiple_of(every.get()) {
                return Plan {
                    latency: Duration::ZERO,
                    fate: Fate::Fail(FaultKind::FailEvery),
                };
            }
        }
        let attempt = {
            let mut asked = self.asked.lock();
            if asked.len() >= MAX_REMEMBERED && !asked.contains_key(target) {
                asked.clear();
            }
            let count = asked.entry(target.into()).or_insert(0);
            *count = count.saturating_add(1);
            *count
        };
        let key = self.key(target, attempt);
        let draw = |which: Draw| unit(key ^ (which as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let hit = |which: Draw, rate: Rate| rate.get() > 0.0 && draw(which) < rate.get();
        let latency = config.latency.map_or(Duration::ZERO, |latency| {
            latency.sample(draw(Draw::Latency1), draw(Draw::Latency2))
        });
        let fate = if attempt <= config.fail_first {
            Fate::Fail(FaultKind::FailFirst)
        } else if hit(Draw::Drop, config.drop_rate) {
            Fate::Answer(Delivery::Drop)
        } else if hit(Draw::Reset, config.reset_rate) {
            Fate::Answer(Delivery::Reset)
        } else if hit(Draw::Hang, config.hang_rate) {
            Fate::Answer(Delivery::Hang)
        } else if hit(Draw::Fail, config.fail_rate) {
            Fate::Fail(FaultKind::FailRate)
        } else if hit(Draw::Truncate, config.truncate_rate) {
            Fate::Answer(Delivery::Truncate)
        } else if let Some(rate) = config.slow_body {
            Fate::Answer(Delivery::Slow(rate))
        } else {
            Fate::Answer(Delivery::Whole)
        };
        Plan { latency, fate }
    }

    /// The headers every answer under a rate limit carries:
    /// `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`
    /// (whole seconds until the bucket is full again).
    pub(crate) fn rate_limit_headers(&self, client: IpAddr) -> Option<[(&'static str, u64); 3]> {
        let limit = self.config.rate_limit?;
        let now = self.epoch.elapsed().as_secs_f64();
        let buckets = self.buckets.lock();
        let burst = f64::from(limit.burst.get());
        let tokens = buckets.get(&client).map_or(burst, |bucket| {
            (bucket.tokens + (now - bucket.at) * limit.per_second).min(burst)
        });
        let reset = ((burst - tokens) / limit.per_second).ceil() as u64;
        Some([
            ("ratelimit-limit", u64::from(limit.burst.get())),
            ("ratelimit-remaining", tokens.floor() as u64),
            ("ratelimit-reset", reset),
        ])
    }

    /// Takes a token from `client`'s bucket, or says in how many whole
    /// seconds (at least 1) the next one comes.
    fn take_token(&self, client: IpAddr, limit: RateLimit) -> Result<(), u64> {
        let now = self.epoch.elapsed().as_secs_f64();
        let burst = f64::from(limit.burst.get());
        let mut buckets = self.buckets.lock();
        if buckets.len() >= MAX_REMEMBERED && !buckets.contains_key(&client) {
            buckets.clear();
        }
        let bucket = buckets.entry(client).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        bucket.tokens = (bucket.tokens + (now - bucket.at) * limit.per_second).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / limit.per_second;
            Err((wait.ceil() as u64).max(1))
        }
    }

    /// A 64-bit key for the `attempt`th request for `target`, under the seed.
    fn key(&self, target: &str, attempt: u32) -> u64 {
        // FNV-1a: stable across runs and Rust versions, unlike std's
        // hasher, so a seed means the same thing everywhere.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in target.bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
        splitmix(self.seed ^ splitmix(hash ^ splitmix(u64::from(attempt))))
    }
}

/// SplitMix64's finaliser: a well-mixed 64-bit value from any input.
fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A uniform number in `[0, 1)` from a key.
fn unit(key: u64) -> f64 {
    (splitmix(key) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    fn chaos(config: ChaosConfig) -> Chaos {
        Chaos::new(ChaosConfig {
            seed: Some(7),
            ..config
        })
    }

    #[test]
    fn latencies_parse_and_print_back() {
        for text in ["0.2", "0.1..0.5", "lognormal:0.05,1", "0"] {
            let latency: Latency = text.parse().unwrap();
            assert_eq!(latency.to_string(), text);
        }
        for bad in [
            "",
            "fast",
            "-1",
            "0.5..0.1",
            "lognormal:1",
            "lognormal:1,0.5",
            "lognormal:0,1",
            "inf",
        ] {
            let error = bad.parse::<Latency>().unwrap_err();
            assert!(
                error.to_string().contains("lognormal:MEDIAN,P99"),
                "{error}"
            );
        }
    }

    #[test]
    fn a_lognormal_latency_has_its_median_and_p99() {
        let latency: Latency = "lognormal:0.05,1".parse().unwrap();
        let n = 20_000;
        let mut waits: Vec<f64> = (0..n)
            .map(|i| latency.sample(unit(i * 2), unit(i * 2 + 1)).as_secs_f64())
            .collect();
        waits.sort_by(f64::total_cmp);
        let (median, p99) = (waits[n as usize / 2], waits[n as usize * 99 / 100]);
        assert!((0.045..0.055).contains(&median), "median {median}");
        assert!((0.85..1.15).contains(&p99), "p99 {p99}");
    }

    #[test]
    fn rates_are_probabilities() {
        assert_eq!("0.25".parse::<Rate>().unwrap().get(), 0.25);
        for bad in ["-0.1", "1.5", "half", "NaN", ""] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
    }

    #[test]
    fn rate_limits_parse_with_a_default_burst() {
        let limit: RateLimit = "200/s".parse().unwrap();
        assert_eq!((limit.per_second, limit.burst.get()), (200.0, 200));
        let limit: RateLimit = "0.5/s,burst=3".parse().unwrap();
        assert_eq!((limit.per_second, limit.burst.get()), (0.5, 3));
        assert_eq!(limit.to_string(), "0.5/s,burst=3");
        for bad in [
            "0/s",
            "200",
            "200/m",
            "-1/s",
            "10/s,burst=0",
            "10/s,b=2",
            "x/s",
        ] {
            assert!(bad.parse::<RateLimit>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_faults_in_any_order() {
        let config = ChaosConfig {
            fail_rate: Rate(0.3),
            drop_rate: Rate(0.1),
            latency: Some("0.1..0.5".parse().unwrap()),
            ..ChaosConfig::default()
        };
        let targets: Vec<String> = (1..=28)
            .map(|day| format!("/price/bitstamp/btc/2020-02-{day:02}"))
            .collect();
        let forward = chaos(config.clone());
        let first: Vec<Plan> = targets
            .iter()
            .map(|t| forward.plan(t, CLIENT, &AtomicU64::new(0)))
            .collect();
        let backward = chaos(config.clone());
        let mut second: Vec<Plan> = targets
            .iter()
            .rev()
            .map(|t| backward.plan(t, CLIENT, &AtomicU64::new(0)))
            .collect();
        second.reverse();
        assert_eq!(first, second);
        // Another seed, other faults.
        let other = Chaos::new(ChaosConfig {
            seed: Some(8),
            ..config
        });
        let third: Vec<Plan> = targets
            .iter()
            .map(|t| other.plan(t, CLIENT, &AtomicU64::new(0)))
            .collect();
        assert_ne!(first, third);
        // And the seed means the same on every machine: the key is not
        // std's per-process hasher.
        assert_eq!(forward.key("/x", 1), 10_232_262_269_039_578_286);
    }

    #[test]
    fn rates_are_met_over_many_requests() {
        let chaos = chaos(ChaosConfig {
            fail_rate: Rate(0.2),
            ..ChaosConfig::default()
        });
        let failed = (0..10_000)
            .filter(|i| {
                matches!(
                    chaos
                        .plan(&format!("/price/x/y/{i}"), CLIENT, &AtomicU64::new(0))
                        .fate,
                    Fate::Fail(FaultKind::FailRate)
                )
            })
            .count();
        assert!((1_800..2_200).contains(&failed), "{failed}");
    }

    #[test]
    fn fail_first_fails_each_target_n_times_then_never() {
        let chaos = chaos(ChaosConfig {
            fail_first: 2,
            ..ChaosConfig::default()
        });
        for target in ["/a", "/b"] {
            for _ in 0..2 {
                assert_eq!(
                    chaos.plan(target, CLIENT, &AtomicU64::new(0)).fate,
                    Fate::Fail(FaultKind::FailFirst)
                );
            }
            for _ in 0..5 {
                assert_eq!(
                    chaos.plan(target, CLIENT, &AtomicU64::new(0)).fate,
                    Fate::Answer(Delivery::Whole)
                );
            }
        }
    }

    #[test]
    fn the_bucket_lets_a_burst_through_then_says_when_to_come_back() {
        let chaos = chaos(ChaosConfig {
            rate_limit: Some("0.01/s,burst=3".parse().unwrap()),
            ..ChaosConfig::default()
        });
        let other = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));
        for _ in 0..3 {
            assert_eq!(
                chaos.plan("/a", CLIENT, &AtomicU64::new(0)).fate,
                Fate::Answer(Delivery::Whole)
            );
        }
        // A token every 100 s.
        assert_eq!(
            chaos.plan("/a", CLIENT, &AtomicU64::new(0)).fate,
            Fate::RateLimited { retry_after: 100 }
        );
        // Each client has its own bucket.
        assert_eq!(
            chaos.plan("/a", other, &AtomicU64::new(0)).fate,
            Fate::Answer(Delivery::Whole)
        );
        let headers = chaos.rate_limit_headers(CLIENT).unwrap();
        assert_eq!(headers[0], ("ratelimit-limit", 3));
        assert_eq!(headers[1], ("ratelimit-remaining", 0));
        assert!((299..=300).contains(&headers[2].1), "{headers:?}");
    }

    #[test]
    fn the_banner_and_json_name_what_is_on() {
        let chaos = chaos(ChaosConfig {
            fail_rate: Rate(0.2),
            latency: Some("lognormal:0.05,1".parse().unwrap()),
            rate_limit: Some("200/s".parse().unwrap()),
            ..ChaosConfig::default()
        });
        assert_eq!(
            chaos.banner(),
            "chaos on /price: --latency lognormal:0.05,1 --fail-rate 0.2 --rate-limit 200/s,burst=200 --seed 7 (settings at /chaos, counts at /metrics)"
        );
        assert!(chaos.to_json().starts_with(
            r#"{"active": true, "routes": "/price", "seed": 7, "latency": "lognormal:0.05,1", "fail_rate": 0.2,"#
        ));
        assert!(!ChaosConfig::default().is_active());
    }
}
