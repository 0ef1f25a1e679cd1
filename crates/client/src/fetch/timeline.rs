//! `fetch --timeline`: the client's side of a run, as a picture after it.
//! One lane per worker, a bar per try of each request on a time axis,
//! colored by what came back, the gaps between a task's bars its retries'
//! waits; so that 1, 10 and 32 workers, threads, processes and async, or
//! a run against `--fail-rate 0.2`, each look like what they are.
//!
//! A worker runs one task at a time, so the lanes are found from the
//! tasks themselves, whatever ran them (a thread, a process, a tokio
//! task, a machine through Redis): each task goes to the lowest lane free
//! when it starts. A task's start is read where it ran, on the wall clock
//! (which processes share; machines, as closely as their clocks agree),
//! and its tries from that start.

use std::time::Duration;

use crate::api::Try;

use super::Task;

/// One task as the timeline draws it.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSpan {
    /// What was asked.
    pub task: Task,
    /// When it started, from the start of the job.
    pub start: Duration,
    /// When its answer arrived, from the start of the job.
    pub end: Duration,
    /// Its tries, from its start (none where the runner does not see them:
    /// the range API's, a worker lost).
    pub tries: Vec<Try>,
    /// Whether it failed after its tries.
    pub failed: bool,
}

/// How early a span may start before the one before it on a lane ended
/// and still be taken for that worker's next task: a task's start is read
/// on the wall clock and its length on the monotonic one.
const SAME_WORKER: Duration = Duration::from_micros(500);

/// The lane of each span (in the order given): the lowest lane free at its
/// start.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use client::fetch::timeline::{TaskSpan, lanes};
///
/// let span = |start: u64, end: u64| TaskSpan {
///     task: client::fetch::Task { exchange: "x".into(), symbol: "y".into(), day: "2020-01-01".parse().unwrap() },
///     start: Duration::from_millis(start),
///     end: Duration::from_millis(end),
///     tries: Vec::new(),
///     failed: false,
/// };
/// // Two at once, then one after the first: two lanes.
/// assert_eq!(lanes(&[span(0, 100), span(0, 100), span(100, 200)]), [0, 1, 0]);
/// ```
pub fn lanes(spans: &[TaskSpan]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..spans.len()).collect();
    order.sort_by_key(|&i| (spans[i].start, spans[i].end));
    let mut free_at: Vec<Duration> = Vec::new();
    let mut lane_of = vec![0; spans.len()];
    for i in order {
        let span = &spans[i];
        let lane = match free_at
            .iter()
            .position(|&free| free <= span.start + SAME_WORKER)
        {
            Some(lane) => lane,
            None => {
                free_at.push(Duration::ZERO);
                free_at.len() - 1
            }
        };
        free_at[lane] = span.end;
        lane_of[i] = lane;
    }
    lane_of
}

/// What a timeline shows, said after it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelineSummary {
    /// Lanes: the most tasks at once.
    pub lanes: usize,
    /// Bars: tries (or tasks without tries).
    pub tries: usize,
    /// Tries beyond each task's first.
    pub retries: usize,
}

/// How a try is colored, by what came back.
#[cfg(feature = "plot")]
fn color_of(status: Option<u16>) -> plotters::style::RGBColor {
    use plotters::style::RGBColor;
    match status {
        Some(429) => RGBColor(128, 90, 213),
        Some(200..=399) => RGBColor(56, 161, 105),
        Some(400..=499) => RGBColor(221, 107, 32),
        Some(_) => RGBColor(229, 62, 62),
        None => RGBColor(113, 128, 150),
    }
}

/// Draws `spans` as a timeline, SVG or PNG by `path`'s extension.
///
/// # Errors
///
/// [`FetchError::UnknownExtension`](super::FetchError::UnknownExtension)
/// for another extension, [`FetchError::Plot`](super::FetchError::Plot)
/// if it cannot be drawn or written.
#[cfg(feature = "plot")]
pub fn draw(
    spans: &[TaskSpan],
    path: &std::path::Path,
) -> Result<TimelineSummary, super::FetchError> {
    let lane_of = lanes(spans);
    let lanes = lane_of.iter().max().map_or(0, |last| last + 1);
    let summary = TimelineSummary {
        lanes,
        tries: spans.iter().map(|span| span.tries.len().max(1)).sum(),
        retries: spans
            .iter()
            .map(|span| span.tries.len().saturating_sub(1))
            .sum(),
    };
    // A lane is at least 3 pixels, at most 24; the picture at most 2,000.
    let row = (1200 / lanes.max(1)).clamp(3, 24) as u32;
    let size = (1000, (90 + row * lanes.max(1) as u32).min(2000));
    let picture = Timeline {
        spans,
        lane_of: &lane_of,
        lanes,
    };
    super::plot::write(&picture, path, size)?;
    Ok(summary)
}

/// The spans on their lanes, as a picture.
#[cfg(feature = "plot")]
struct Timeline<'a> {
    spans: &'a [TaskSpan],
    lane_of: &'a [usize],
    lanes: usize,
}

#[cfg(feature = "plot")]
impl super::plot::Picture for Timeline<'_> {
    fn draw<DB>(
        &self,
        root: plotters::drawing::DrawingArea<DB, plotters::coord::Shift>,
    ) -> Result<(), super::plot::DrawError>
    where
        DB: plotters::prelude::DrawingBackend,
        DB::ErrorType: 'static,
    {
        draw_on(root, self.spans, self.lane_of, self.lanes)
    }
}

#[cfg(feature = "plot")]
fn draw_on<DB>(
    root: plotters::drawing::DrawingArea<DB, plotters::coord::Shift>,
    spans: &[TaskSpan],
    lane_of: &[usize],
    lanes: usize,
) -> Result<(), super::plot::DrawError>
where
    DB: plotters::prelude::DrawingBackend,
    DB::ErrorType: 'static,
{
    use plotters::prelude::*;

    let failed =
        |error: DrawingAreaErrorKind<DB::ErrorType>| -> super::plot::DrawError { Box::new(error) };
    let end = spans
        .iter()
        .map(|span| span.end.as_secs_f64())
        .fold(0.001, f64::max);
    root.fill(&WHITE).map_err(failed)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{} tasks on {lanes} lanes", spans.len()),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(34)
        .y_label_area_size(48)
        .build_cartesian_2d(0f64..end * 1.02, 0f64..lanes.max(1) as f64)
        .map_err(failed)?;
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .x_desc("seconds from the start")
        .y_desc("worker")
        .y_labels(lanes.clamp(1, 10))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()
        .map_err(failed)?;
    // Two pixels' worth of time (of the whole picture's width: a little
    // more of the plot's), left between a bar and the next, so that a
    // worker's tasks back to back read as separate bars.
    let pixel = end * 1.02 / f64::from(root.dim_in_pixel().0.max(1));
    let bar = |from: f64, to: f64| (from, (to - 2.0 * pixel).max(from + pixel / 2.0));
    let mut bars = Vec::new();
    let mut waits = Vec::new();
    for (span, &lane) in spans.iter().zip(lane_of) {
        let (top, bottom) = (lane as f64 + 0.1, lane as f64 + 0.9);
        let at = |micros: u64| span.start.as_secs_f64() + micros as f64 / 1e6;
        if span.tries.is_empty() {
            let color = if span.failed {
                color_of(Some(500))
            } else {
                color_of(Some(200))
            };
            let (from, to) = bar(span.start.as_secs_f64(), span.end.as_secs_f64());
            bars.push(Rectangle::new([(from, top), (to, bottom)], color.filled()));
            continue;
        }
        for (i, tried) in span.tries.iter().enumerate() {
            let (from, to) = bar(at(tried.start_micros), at(tried.end_micros));
            bars.push(Rectangle::new(
                [(from, top), (to, bottom)],
                color_of(tried.status).filled(),
            ));
            if let Some(next) = span.tries.get(i + 1) {
                let middle = lane as f64 + 0.5;
                waits.push(PathElement::new(
                    vec![
                        (at(tried.end_micros), middle),
                        (at(next.start_micros), middle),
                    ],
                    BLACK.mix(0.5).stroke_width(1),
                ));
            }
        }
    }
    chart.draw_series(bars).map_err(failed)?;
    chart.draw_series(waits).map_err(failed)?;
    root.present().map_err(failed)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(start: u64, end: u64) -> TaskSpan {
        TaskSpan {
            task: Task {
                exchange: "bitstamp".into(),
                symbol: "btc".into(),
                day: "2020-03-01".parse().unwrap(),
            },
            start: Duration::from_millis(start),
            end: Duration::from_millis(end),
            tries: Vec::new(),
            failed: false,
        }
    }

    #[test]
    fn a_worker_is_a_lane_whatever_order_the_answers_came_in() {
        // Three workers, each two tasks of 100 ms back to back, given
        // out of order.
        let spans = [
            span(101, 201),
            span(0, 100),
            span(0, 101),
            span(1, 101),
            span(102, 202),
            span(101, 201),
        ];
        let lanes = lanes(&spans);
        assert_eq!(lanes.iter().max(), Some(&2), "{lanes:?}");
    }

    #[test]
    fn overlapping_tasks_need_a_lane_each() {
        let spans: Vec<TaskSpan> = (0..32).map(|_| span(0, 200)).collect();
        let lanes = lanes(&spans);
        assert_eq!(lanes.iter().max(), Some(&31));
    }
}
