//! "How many workers?" The lesson leaves it open: "it's very hard to know
//! upfront ... this is when profiling is necessary". A sweep is that
//! profile: the same job at several worker counts, per executor, measured
//! and compared, and the knee of the curve recommended.
//!
//! The knee is the smallest worker count whose throughput is within 5% of
//! the best measured: past it, more workers buy no speed, only more
//! connections and more waiting.

use std::fmt::Write as _;
use std::time::Duration;

use super::sink::Sink;
use super::timeline::TaskSpan;
use super::{FetchError, Plan, RunOn, Silent, pipe, runner};
use crate::api::{Client, ClientConfig};

/// Which worker counts to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Counts {
    /// Exactly these.
    List(Vec<usize>),
    /// 1, 2, 4, ... doubling until throughput stops improving by 5% (at
    /// most 4,096).
    Auto,
}

/// One measured run.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepPoint {
    /// Where the requests ran.
    pub executor: RunOn,
    /// How many workers.
    pub workers: usize,
    /// Wall time of the fetching.
    pub wall: Duration,
    /// Requests per second (answered or failed) over the wall time.
    pub requests_per_second: f64,
    /// Median request latency.
    pub p50: Duration,
    /// 99th-percentile request latency.
    pub p99: Duration,
    /// Requests that failed after their retries.
    pub errors: usize,
}

/// The recommended worker count for one executor, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Recommendation {
    /// Where the requests ran.
    pub executor: RunOn,
    /// The knee: the smallest count within 5% of the best throughput.
    pub workers: usize,
    /// One sentence saying why.
    pub why: String,
}

/// Runs `plan` at every worker count of `counts`, on each place of
/// `executors` (this machine's: [`RunOn::is_local`]), calling `measured`
/// after each run (to show progress, or draw it) with the point and,
/// with `timelines`, each task's span and tries (else none). The plan is
/// made once; each point is the same tasks through a runner of another
/// size, collected in memory.
///
/// # Errors
///
/// [`FetchError`] if a run cannot start at all (a bad name, a dead
/// server), [`FetchError::CannotRunOn`] for a place not on this machine.
pub fn sweep(
    client: &ClientConfig,
    plan: &Plan,
    executors: &[RunOn],
    counts: &Counts,
    timelines: bool,
    mut measured: impl FnMut(&SweepPoint, &[TaskSpan]),
) -> Result<Vec<SweepPoint>, FetchError> {
    if let Some(remote) = executors.iter().find(|place| !place.is_local()) {
        return Err(FetchError::CannotRunOn {
            what: "a sweep",
            places: "this machine's threads, processes, async tasks or ranges",
            run_on: remote.clone(),
        });
    }
    let tasks = plan.tasks(&Client::new(client.clone())?)?;
    let mut points = Vec::new();
    for executor in executors {
        let mut best = 0.0f64;
        let list: Box<dyn Iterator<Item = usize>> = match counts {
            Counts::List(list) => Box::new(list.clone().into_iter()),
            Counts::Auto => Box::new(
                std::iter::successors(Some(1usize), |n| Some(n * 2)).take_while(|&n| n <= 4096),
            ),
        };
        for workers in list {
            // A fresh client per point: no point inherits another's
            // warm connections.
            let runner = runner::for_place(&Client::new(client.clone())?, executor, workers)?;
            let mut sink = Sink::in_memory();
            if timelines {
                sink.keep_timeline();
            }
            let report = pipe(&*runner, workers, tasks.clone(), sink, &Silent)?;
            let point = measure(
                executor.clone(),
                workers,
                &report.latencies,
                report.elapsed,
                report.failures.len(),
            );
            measured(&point, &report.timeline);
            let improved = point.requests_per_second > best * 1.05;
            best = best.max(point.requests_per_second);
            points.push(point);
            if *counts == Counts::Auto && !improved && workers > 1 {
                break;
            }
        }
    }
    Ok(points)
}

fn measure(
    executor: RunOn,
    workers: usize,
    latencies: &[Duration],
    wall: Duration,
    errors: usize,
) -> SweepPoint {
    let mut sorted = latencies.to_vec();
    sorted.sort();
    let percentile = |p: f64| -> Duration {
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    };
    SweepPoint {
        executor,
        workers,
        wall,
        requests_per_second: latencies.len() as f64 / wall.as_secs_f64().max(1e-9),
        p50: percentile(0.50),
        p99: percentile(0.99),
        errors,
    }
}

/// The knee of each executor's curve.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use client::fetch::RunOn;
/// use client::fetch::sweep::{SweepPoint, recommend};
///
/// let point = |workers, rps| SweepPoint {
///     executor: RunOn::Threads, workers, wall: Duration::from_secs(1),
///     requests_per_second: rps, p50: Duration::ZERO, p99: Duration::ZERO, errors: 0,
/// };
/// let points = [point(1, 100.0), point(2, 190.0), point(4, 300.0), point(8, 310.0), point(16, 305.0)];
/// assert_eq!(recommend(&points)[0].workers, 4); // 300 is within 5% of the best, 310
/// ```
pub fn recommend(points: &[SweepPoint]) -> Vec<Recommendation> {
    let mut executors: Vec<RunOn> = Vec::new();
    for point in points {
        if !executors.contains(&point.executor) {
            executors.push(point.executor.clone());
        }
    }
    executors
        .into_iter()
        .filter_map(|executor| {
            let mine: Vec<&SweepPoint> = points.iter().filter(|p| p.executor == executor).collect();
            let best = mine.iter().copied().max_by(|a, b| a.requests_per_second.total_cmp(&b.requests_per_second))?;
            let knee = mine
                .iter()
                .copied()
                .filter(|p| p.requests_per_second >= 0.95 * best.requests_per_second)
                .min_by_key(|p| p.workers)?;
            let why = if knee.workers == best.workers {
                format!(
                    "{} workers gave the best throughput, {:.0} requests/s",
                    knee.workers, best.requests_per_second
                )
            } else {
                format!(
                    "{} workers reach {:.0} requests/s, within 5% of the best ({:.0} requests/s with {}); \
                     more workers add no speed, only waiting (p99 {:.1} ms against {:.1} ms)",
                    knee.workers,
                    knee.requests_per_second,
                    best.requests_per_second,
                    best.workers,
                    knee.p99.as_secs_f64() * 1e3,
                    best.p99.as_secs_f64() * 1e3
                )
            };
            Some(Recommendation { executor, workers: knee.workers, why })
        })
        .collect()
}

/// The measurements as a table.
pub fn table(points: &[SweepPoint]) -> String {
    let mut out =
        String::from("executor   workers     wall s   requests/s     p50 ms     p99 ms  errors\n");
    for p in points {
        let _ = writeln!(
            out,
            "{:<10} {:>7} {:>10.3} {:>12.0} {:>10.2} {:>10.2} {:>7}",
            p.executor,
            p.workers,
            p.wall.as_secs_f64(),
            p.requests_per_second,
            p.p50.as_secs_f64() * 1e3,
            p.p99.as_secs_f64() * 1e3,
            p.errors
        );
    }
    out
}

/// A compact text chart of throughput per worker count, for a terminal.
pub fn text_chart(points: &[SweepPoint]) -> String {
    let best = points
        .iter()
        .map(|p| p.requests_per_second)
        .fold(0.0, f64::max);
    let mut out = String::new();
    for p in points {
        let width = if best > 0.0 {
            (40.0 * p.requests_per_second / best).round() as usize
        } else {
            0
        };
        let _ = writeln!(
            out,
            "{:<9} {:>5} {} {:.0}/s",
            p.executor,
            p.workers,
            "█".repeat(width.max(1)),
            p.requests_per_second
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(executor: RunOn, workers: usize, rps: f64) -> SweepPoint {
        SweepPoint {
            executor,
            workers,
            wall: Duration::from_secs(1),
            requests_per_second: rps,
            p50: Duration::from_millis(workers as u64),
            p99: Duration::from_millis(2 * workers as u64),
            errors: 0,
        }
    }

    #[test]
    fn the_knee_is_the_smallest_count_near_the_best() {
        let points = [
            point(RunOn::Threads, 1, 10.0),
            point(RunOn::Threads, 2, 20.0),
            point(RunOn::Threads, 4, 39.0),
            point(RunOn::Threads, 8, 40.0),
            point(RunOn::Async, 1, 50.0),
            point(RunOn::Async, 2, 45.0),
        ];
        let recommended = recommend(&points);
        assert_eq!(recommended.len(), 2);
        assert_eq!(
            (recommended[0].executor.clone(), recommended[0].workers),
            (RunOn::Threads, 4)
        );
        assert!(
            recommended[0]
                .why
                .contains("within 5% of the best (40 requests/s with 8)"),
            "{}",
            recommended[0].why
        );
        assert_eq!(
            (recommended[1].executor.clone(), recommended[1].workers),
            (RunOn::Async, 1)
        );
        assert!(recommended[1].why.contains("gave the best throughput"));
    }

    #[test]
    fn the_text_chart_scales_bars_to_the_best() {
        let chart = text_chart(&[point(RunOn::Async, 1, 10.0), point(RunOn::Async, 2, 40.0)]);
        let lines: Vec<&str> = chart.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].matches('█').count(), 10);
        assert_eq!(lines[1].matches('█').count(), 40);
        assert!(
            lines[1].starts_with("async         2 ") && lines[1].ends_with(" 40/s"),
            "{chart}"
        );
    }

    #[test]
    fn percentiles_of_latencies() {
        let latencies: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let p = measure(RunOn::Threads, 4, &latencies, Duration::from_secs(2), 0);
        assert_eq!(p.p50, Duration::from_millis(50));
        assert_eq!(p.p99, Duration::from_millis(99));
        assert_eq!(p.requests_per_second, 50.0);
    }
}
