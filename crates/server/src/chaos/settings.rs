//! The values of the practice ground's settings: a latency distribution,
//! a probability, a rate limit, and how each is read from the command
//! line, shown in the startup line and written at `/chaos`.

use std::fmt;
use std::num::{NonZeroU32, NonZeroU64};
use std::str::FromStr;
use std::time::Duration;

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
    /// Not a whole number.
    #[error("{0:?} is not a count: write a whole number, 0 or more (2)")]
    Count(String),
    /// Not a whole number above 0.
    #[error("{0:?} must be a whole number above 0 (3)")]
    Positive(String),
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
    pub(super) fn sample(self, u1: f64, u2: f64) -> Duration {
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
pub struct Rate(pub(super) f64);

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

/// What a setting's type must say about itself for the faults' table
/// (`faults.rs`): whether it is on, how it reads and shows.
pub(crate) trait Setting: Sized + Default {
    /// Whether this value injects anything.
    fn is_on(&self) -> bool;
    /// The flag's value as the startup line shows it; `None` when off.
    fn shown(&self) -> Option<String>;
    /// The value at `/chaos`, as JSON.
    fn json(&self) -> String;
    /// The value of a flag.
    fn parse(text: &str) -> Result<Self, ChaosParseError>;
}

impl Setting for Rate {
    fn is_on(&self) -> bool {
        self.0 > 0.0
    }
    fn shown(&self) -> Option<String> {
        self.is_on().then(|| self.0.to_string())
    }
    fn json(&self) -> String {
        self.0.to_string()
    }
    fn parse(text: &str) -> Result<Rate, ChaosParseError> {
        text.parse()
    }
}

/// A count where 0 is off (`--fail-first`).
impl Setting for u32 {
    fn is_on(&self) -> bool {
        *self > 0
    }
    fn shown(&self) -> Option<String> {
        self.is_on().then(|| self.to_string())
    }
    fn json(&self) -> String {
        self.to_string()
    }
    fn parse(text: &str) -> Result<u32, ChaosParseError> {
        text.trim()
            .parse()
            .map_err(|_| ChaosParseError::Count(text.to_owned()))
    }
}

/// A value written as a string at `/chaos` (`"0.1..0.5"`, `"200/s"`).
macro_rules! text_setting {
    ($($ty:ty),*) => {$(
        impl Setting for Option<$ty> {
            fn is_on(&self) -> bool {
                self.is_some()
            }
            fn shown(&self) -> Option<String> {
                self.as_ref().map(ToString::to_string)
            }
            fn json(&self) -> String {
                self.as_ref()
                    .map_or_else(|| "null".to_owned(), |value| format!("\"{value}\""))
            }
            fn parse(text: &str) -> Result<Option<$ty>, ChaosParseError> {
                text.parse().map(Some)
            }
        }
    )*};
}
text_setting!(Latency, RateLimit);

/// A number above 0 (`--slow-body`, `--fail-every`); absent is off.
macro_rules! count_setting {
    ($($ty:ty),*) => {$(
        impl Setting for Option<$ty> {
            fn is_on(&self) -> bool {
                self.is_some()
            }
            fn shown(&self) -> Option<String> {
                self.map(|n| n.to_string())
            }
            fn json(&self) -> String {
                self.map_or_else(|| "null".to_owned(), |n| n.to_string())
            }
            fn parse(text: &str) -> Result<Option<$ty>, ChaosParseError> {
                text.trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| ChaosParseError::Positive(text.to_owned()))
            }
        }
    )*};
}
count_setting!(NonZeroU32, NonZeroU64);
