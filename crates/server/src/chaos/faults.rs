//! The practice ground's faults, from one table.
//!
//! Each row of `faults!` below is one fault: its [`ChaosConfig`] field
//! and type, its flag, what the flag's value is called, its help, and the
//! name it is counted under at `/metrics` and shown under at `/chaos`.
//! Everything that lists the faults is made from the table: the config
//! and [`ChaosConfig::is_active`], the startup line's flags, `/chaos`'s
//! JSON, the command line's flags ([`ChaosConfig::FLAGS`] and
//! [`ChaosConfig::set`], which the binary builds its flags from), and
//! [`FaultKind`] with its names at `/metrics`. What a fault *does* is
//! `Chaos::plan` (when it strikes) and, for the ones that change how the
//! bytes reach the client, `delivery.rs`.
//!
//! A new fault is a row here, a branch in `Chaos::plan`, and its answer or
//! delivery; then its line in `openapi.json`'s `/chaos` schema and in
//! `docs/practice.md`.

use std::num::{NonZeroU32, NonZeroU64};

use super::settings::{ChaosParseError, Latency, Rate, RateLimit, Setting};

/// One fault's flag on the command line, for the binary to declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultFlag {
    /// The flag without its dashes (`fail-rate`).
    pub name: &'static str,
    /// What its value is called in the help (`P`).
    pub value_name: &'static str,
    /// One paragraph of help.
    pub help: &'static str,
}

macro_rules! faults {
    ($(
        $(#[doc = $doc:literal])+
        $field:ident: $ty:ty, flag $flag:literal $value:literal, kind $kind:ident $metric:literal;
    )+) => {
        /// Which faults the server injects; the default injects none.
        /// Each field is a flag of the same name (`fail_rate`:
        /// `--fail-rate`); see `docs/practice.md` for what each teaches.
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct ChaosConfig {
            $( $(#[doc = $doc])+ pub $field: $ty, )+
            /// The seed of every random choice; `None` draws one at start.
            pub seed: Option<u64>,
            /// Every route of the API, not only `/price`.
            pub all_routes: bool,
        }

        impl ChaosConfig {
            /// Every fault's flag, in the table's order.
            pub const FLAGS: &[FaultFlag] = &[$(
                FaultFlag {
                    name: $flag,
                    value_name: $value,
                    help: concat!($($doc),+),
                },
            )+];

            /// Whether any fault is on.
            pub fn is_active(&self) -> bool {
                false $(|| self.$field.is_on())+
            }

            /// Sets the fault of flag `name` (one of [`FLAGS`](Self::FLAGS))
            /// from its value as typed.
            ///
            /// # Errors
            ///
            /// [`ChaosParseError`] saying what the value should look like.
            ///
            /// # Panics
            ///
            /// If `name` is not a fault's flag (a bug in the caller).
            pub fn set(&mut self, name: &str, value: &str) -> Result<(), ChaosParseError> {
                match name {
                    $( $flag => self.$field = Setting::parse(value)?, )+
                    other => panic!("--{other} is not a fault's flag"),
                }
                Ok(())
            }

            /// The faults that are on, as flags (`--latency 0.1 --fail-rate 0.2`).
            pub(crate) fn flags(&self) -> Vec<String> {
                let mut flags = Vec::new();
                $(
                    if let Some(value) = self.$field.shown() {
                        flags.push(format!("--{} {value}", $flag));
                    }
                )+
                flags
            }

            /// Every fault's setting as JSON members (`"fail_rate": 0.2, ...`).
            pub(crate) fn json_members(&self) -> String {
                let members: Vec<String> = vec![$(
                    format!("\"{}\": {}", stringify!($field), self.$field.json()),
                )+];
                members.join(", ")
            }
        }

        /// The faults, counted by kind at `/metrics`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub(crate) enum FaultKind {
            $( $kind, )+
        }

        impl FaultKind {
            /// Every kind, in the table's order.
            pub(crate) const ALL: &[FaultKind] = &[$( FaultKind::$kind, )+];

            /// The name at `/metrics`.
            pub(crate) fn name(self) -> &'static str {
                match self {
                    $( FaultKind::$kind => $metric, )+
                }
            }

            /// The flag that turns it on, as an error message names it.
            pub(crate) fn flag(self) -> &'static str {
                match self {
                    $( FaultKind::$kind => concat!("--", $flag), )+
                }
            }
        }
    };
}

faults! {
    /// Wait before answering: seconds (0.2), a uniform range (0.1..0.5),
    /// or a long tail, lognormal:MEDIAN,P99 (lognormal:0.05,1). Like
    /// --sleep, a wait holds no thread.
    latency: Option<Latency>, flag "latency" "DIST", kind Latency "latency";
    /// Answer 500 with this probability (0 to 1).
    fail_rate: Rate, flag "fail-rate" "P", kind FailRate "fail_rate";
    /// The first N requests for each URL fail with 500, then it succeeds.
    fail_first: u32, flag "fail-first" "N", kind FailFirst "fail_first";
    /// A token bucket per client address: over it, 429 with Retry-After
    /// and RateLimit-* headers (200/s, or 200/s,burst=50).
    rate_limit: Option<RateLimit>, flag "rate-limit" "N/s[,burst=B]", kind RateLimit "rate_limit";
    /// Close the connection without answering, with this probability.
    drop_rate: Rate, flag "drop-rate" "P", kind Drop "drop";
    /// Reset the connection (TCP RST) without answering, with this
    /// probability.
    reset_rate: Rate, flag "reset-rate" "P", kind Reset "reset";
    /// Read the request and never answer (what a client timeout is for),
    /// with this probability.
    hang_rate: Rate, flag "hang-rate" "P", kind Hang "hang";
    /// Send half the body of a promised Content-Length, then close, with
    /// this probability.
    truncate_rate: Rate, flag "truncate-rate" "P", kind Truncate "truncate";
    /// Drip every body at this many bytes a second.
    slow_body: Option<NonZeroU32>, flag "slow-body" "BYTES_PER_S", kind SlowBody "slow_body";
    /// Answer every Nth request with 503 and Retry-After: 0 (counted as
    /// they arrive; the 503 comes after any --sleep): the simplest flaky
    /// server.
    fail_every: Option<NonZeroU64>, flag "fail-every" "N", kind FailEvery "fail_every";
}
