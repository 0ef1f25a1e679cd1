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
use std::fmt;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// A setting that cannot be read; the message names the flag's syntax.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChaosParseError {
    /// Not a latency distribution.
    #[error(
        "{0:?} is not a latency: write seconds (0.2), a uniform range (0.1..0.5) or lognormal:MEDIAN,P99 (lognormal:0.05,1)"
    )]
    Latency(String),
    /// Not a probability.
    #[error("{0:?} is not a rate: write a probability from 0 to 1 (0.2)")]
    Rate(String),
    /// Not a rate limit.
    #[error(
        "{0:?} is not a rate limit: write N/s with N above 0, and optionally a burst (200/s or 200/s,burst=50)"
    )]
    RateLimit(String),
}

/// How long each affected answer waits before it is sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Latency {
    /// Always this long (`0.2`).
    Fixed(Duration),
    /// Uniformly between the two (`0.1..0.5`).
    Uniform(Duration, Duration),
    /// Log-normal, given by its median and its 99th percentile
    /// (`lognormal:0.05,1`): most answers quick, a long tail of slow ones.
    LogNormal {
        /// Half the answers are quicker.
        median: Duration,
        /// 99 in 100 answers are quicker.
        p99: Duration,
    },
}

/// The 99th percentile of the standard normal distribution.
const Z_99: f64 = 2.326_347_874_040_841;

impl Latency {
    /// The wait for two independent uniform numbers in `[0, 1)`.
    fn sample(self, u1: f64, u2: f64) -> Duration {
        match self {
            Latency::Fixed(wait) => wait,
            Latency::Uniform(low, high) => low + (high - low).mul_f64(u1),
            Latency::LogNormal { median, p99 } => {
                // ln(wait) is normal with mean ln(median); its standard
                // deviation puts p99 at Z_99 deviations above.
                let sigma = (p99.as_secs_f64() / median.as_secs_f64()).ln() / Z_99;
                // Box-Muller: a standard normal from two uniforms.
                let normal = (-2.0 * (1.0 - u1).ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                let seconds = median.as_secs_f64() * (sigma * normal).exp();
                // An hour at most: a tail, not a stuck request.
                Duration::from_secs_f64(seconds.min(3600.0))
            }
        }
    }
}

fn seconds(text: &str) -> Option<Duration> {
    let value: f64 = text.trim().parse().ok()?;
    Duration::try_from_secs_f64(value).ok()
}

impl FromStr for Latency {
    type Err = ChaosParseError;

    fn from_str(text: &str) -> Result<Latency, ChaosParseError> {
        let bad = || ChaosParseError::Latency(text.to_owned());
        if let Some(rest) = text.strip_prefix("lognormal:") {
            let (median, p99) = rest.split_once(',').ok_or_else(bad)?;
            let (median, p99) = (
                seconds(median).ok_or_else(bad)?,
                seconds(p99).ok_or_else(bad)?,
            );
            if median.is_zero() || p99 < median {
                return Err(bad());
            }
            return Ok(Latency::LogNormal { median, p99 });
        }
        if let Some((low, high)) = text.split_once("..") {
            let (low, high) = (
                seconds(low).ok_or_else(bad)?,
                seconds(high).ok_or_else(bad)?,
            );
            if high < low {
                return Err(bad());
            }
            return Ok(Latency::Uniform(low, high));
        }
        seconds(text).map(Latency::Fixed).ok_or_else(bad)
    }
}

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Latency::Fixed(wait) => write!(f, "{}", wait.as_secs_f64()),
            Latency::Uniform(low, high) => {
                write!(f, "{}..{}", low.as_secs_f64(), high.as_secs_f64())
            }
            Latency::LogNormal { median, p99 } => write!(
                f,
                "lognormal:{},{}",
                median.as_secs_f64(),
                p99.as_secs_f64()
            ),
        }
    }
}

/// A probability, from 0 to 1.
#[derive(Debug, Clone, Copy, Default, PartialEq, PartialOrd)]
pub struct Rate(f64);

impl Rate {
    /// The probability, from 0 to 1.
    pub fn get(self) -> f64 {
        self.0
    }
}

impl FromStr for Rate {
    type Err = ChaosParseError;

    fn from_str(text: &str) -> Result<Rate, ChaosParseError> {
        match text.trim().parse::<f64>() {
            Ok(p) if (0.0..=1.0).contains(&p) => Ok(Rate(p)),
            _ => Err(ChaosParseError::Rate(text.to_owned())),
        }
    }
}

/// A token bucket per client address: `per_second` requests a second on
/// average, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// The sustained rate, above 0.
    pub per_second: f64,
    /// The bucket's size: how many requests may come at once.
    pub burst: NonZeroU32,
}

impl FromStr for RateLimit {
    type Err = ChaosParseError;

    fn from_str(text: &str) -> Result<RateLimit, ChaosParseError> {
        let bad = || ChaosParseError::RateLimit(text.to_owned());
        let (rate, burst) = match text.split_once(',') {
            Some((rate, burst)) => (
                rate,
                Some(burst.trim().strip_prefix("burst=").ok_or_else(bad)?),
            ),
            None => (text, None),
        };
        let per_second: f64 = rate
            .trim()
            .strip_suffix("/s")
            .and_then(|n| n.trim().parse().ok())
            .filter(|n: &f64| n.is_finite() && *n > 0.0)
            .ok_or_else(bad)?;
        let burst = match burst {
            Some(burst) => burst.parse::<NonZeroU32>().map_err(|_| bad())?,
            // A second's worth by default.
            None => NonZeroU32::new(per_second.ceil().min(f64::from(u32::MAX)) as u32)
                .unwrap_or(NonZeroU32::MIN),
        };
        Ok(RateLimit { per_second, burst })
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/s,burst={}", self.per_second, self.burst)
    }
}

/// Which faults the server injects; the default injects none.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChaosConfig {
    /// A wait before each affected answer (like `--sleep`, it holds no
    /// thread).
    pub latency: Option<Latency>,
    /// The chance of a `500` with a JSON error.
    pub fail_rate: Rate,
    /// The first N requests for each target fail with `500`, the next
    /// succeed.
    pub fail_first: u32,
    /// A per-client token bucket; over it, `429` with `Retry-After` and the
    /// `RateLimit-*` headers.
    pub rate_limit: Option<RateLimit>,
    /// The chance that the connection is closed without an answer.
    pub drop_rate: Rate,
    /// The chance that the connection is reset (TCP RST) without an answer.
    pub reset_rate: Rate,
    /// The chance that the request is read and never answered (until the
    /// client gives up or the server stops).
    pub hang_rate: Rate,
    /// The chance that the body is cut short of its `Content-Length`.
    pub truncate_rate: Rate,
    /// Send affected bodies at this many bytes a second.
    pub slow_body: Option<NonZeroU32>,
    /// The seed of every random choice; `None` draws one at start.
    pub seed: Option<u64>,
    /// Every route of the API, not only `/price`.
    pub all_routes: bool,
}

impl ChaosConfig {
    /// Whether any fault is on.
    pub fn is_active(&self) -> bool {
        self.latency.is_some()
            || self.fail_rate.0 > 0.0
            || self.fail_first > 0
            || self.rate_limit.is_some()
            || self.drop_rate.0 > 0.0
            || self.reset_rate.0 > 0.0
            || self.hang_rate.0 > 0.0
            || self.truncate_rate.0 > 0.0
            || self.slow_body.is_some()
    }

    /// The faults that are on, as flags (`--fail-rate 0.2 --latency 0.1`).
    fn flags(&self) -> Vec<String> {
        let mut flags = Vec::new();
        if let Some(latency) = self.latency {
            flags.push(format!("--latency {latency}"));
        }
        for (name, rate) in [
            ("fail-rate", self.fail_rate),
            ("drop-rate", self.drop_rate),
            ("reset-rate", self.reset_rate),
            ("hang-rate", self.hang_rate),
            ("truncate-rate", self.truncate_rate),
        ] {
            if rate.0 > 0.0 {
                flags.push(format!("--{name} {}", rate.0));
            }
        }
        if self.fail_first > 0 {
            flags.push(format!("--fail-first {}", self.fail_first));
        }
        if let Some(limit) = self.rate_limit {
            flags.push(format!("--rate-limit {limit}"));
        }
        if let Some(rate) = self.slow_body {
            flags.push(format!("--slow-body {rate}"));
        }
        flags
    }
}

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
    /// `500` (`--fail-rate` or `--fail-first`).
    Fail(FaultKind),
    /// `429`: retry after this many whole seconds.
    RateLimited { retry_after: u64 },
}

/// How an answer's bytes reach the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// As usual.
    Whole,
    /// The connection is closed instead.
    Drop,
    /// The connection is reset (RST) instead.
    Reset,
    /// Nothing, ever (until the server stops).
    Hang,
    /// Half the body, then the connection is closed.
    Truncate,
    /// The body at this many bytes a second.
    Slow(NonZeroU32),
}

/// The faults counted by kind at `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum FaultKind {
    Latency,
    FailRate,
    FailFirst,
    RateLimit,
    Drop,
    Reset,
    Hang,
    Truncate,
    SlowBody,
}

impl FaultKind {
    pub(crate) const ALL: [FaultKind; 9] = [
        FaultKind::Latency,
        FaultKind::FailRate,
        FaultKind::FailFirst,
        FaultKind::RateLimit,
        FaultKind::Drop,
        FaultKind::Reset,
        FaultKind::Hang,
        FaultKind::Truncate,
        FaultKind::SlowBody,
    ];

    /// The name at `/metrics` and in error messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            FaultKind::Latency => "latency",
            FaultKind::FailRate => "fail_rate",
            FaultKind::FailFirst => "fail_first",
            FaultKind::RateLimit => "rate_limit",
            FaultKind::Drop => "drop",
            FaultKind::Reset => "reset",
            FaultKind::Hang => "hang",
            FaultKind::Truncate => "truncate",
            FaultKind::SlowBody => "slow_body",
        }
    }

    /// Which fault a delivery is, if it is one.
    pub(crate) fn of(delivery: Delivery) -> Option<FaultKind> {
        match delivery {
            Delivery::Whole => None,
            Delivery::Drop => Some(FaultKind::Drop),
            Delivery::Reset => Some(FaultKind::Reset),
            Delivery::Hang => Some(FaultKind::Hang),
            Delivery::Truncate => Some(FaultKind::Truncate),
            Delivery::Slow(_) => Some(FaultKind::SlowBody),
        }
    }
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
        let text = |value: Option<String>| match value {
            Some(value) => format!("\"{value}\""),
            None => "null".to_owned(),
        };
        format!(
            "{{\"active\": {}, \"routes\": \"{}\", \"seed\": {}, \"latency\": {}, \"fail_rate\": {}, \"fail_first\": {}, \"rate_limit\": {}, \"drop_rate\": {}, \"reset_rate\": {}, \"hang_rate\": {}, \"truncate_rate\": {}, \"slow_body\": {}, \"flags\": \"{}\"}}",
            c.is_active(),
            if c.all_routes { "all" } else { "/price" },
            self.seed,
            text(c.latency.map(|l| l.to_string())),
            c.fail_rate.0,
            c.fail_first,
            text(c.rate_limit.map(|l| l.to_string())),
            c.drop_rate.0,
            c.reset_rate.0,
            c.hang_rate.0,
            c.truncate_rate.0,
            c.slow_body.map_or("null".to_owned(), |b| b.to_string()),
            c.flags().join(" "),
        )
    }

    /// Decides the fate of a request for `target` (path and query) from
    /// `client`.
    pub(crate) fn plan(&self, target: &str, client: IpAddr) -> Plan {
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
        let hit = |which: Draw, rate: Rate| rate.0 > 0.0 && draw(which) < rate.0;
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
        let first: Vec<Plan> = targets.iter().map(|t| forward.plan(t, CLIENT)).collect();
        let backward = chaos(config.clone());
        let mut second: Vec<Plan> = targets
            .iter()
            .rev()
            .map(|t| backward.plan(t, CLIENT))
            .collect();
        second.reverse();
        assert_eq!(first, second);
        // Another seed, other faults.
        let other = Chaos::new(ChaosConfig {
            seed: Some(8),
            ..config
        });
        let third: Vec<Plan> = targets.iter().map(|t| other.plan(t, CLIENT)).collect();
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
                    chaos.plan(&format!("/price/x/y/{i}"), CLIENT).fate,
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
                    chaos.plan(target, CLIENT).fate,
                    Fate::Fail(FaultKind::FailFirst)
                );
            }
            for _ in 0..5 {
                assert_eq!(
                    chaos.plan(target, CLIENT).fate,
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
            assert_eq!(chaos.plan("/a", CLIENT).fate, Fate::Answer(Delivery::Whole));
        }
        // A token every 100 s.
        assert_eq!(
            chaos.plan("/a", CLIENT).fate,
            Fate::RateLimited { retry_after: 100 }
        );
        // Each client has its own bucket.
        assert_eq!(chaos.plan("/a", other).fate, Fate::Answer(Delivery::Whole));
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
