//! What the crate's long-running stress tests share: how long to run, and
//! a seeded random source, so that a failing round can be replayed.

use std::time::{Duration, Instant};

/// When a stress test should stop: `seconds_var` seconds from now (the
/// environment variable its script sets), two minutes by default.
pub fn stress_until(seconds_var: &str) -> (Instant, u64) {
    let seconds = std::env::var(seconds_var)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    (Instant::now() + Duration::from_secs(seconds), seconds)
}

/// SplitMix64: fast, seeded, and the same sequence every run.
pub struct SplitMix(u64);

impl SplitMix {
    pub fn new(seed: u64) -> SplitMix {
        SplitMix(seed)
    }

    /// A number below `below`.
    pub fn below(&mut self, below: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % below
    }
}
