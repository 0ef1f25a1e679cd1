//! The sweep's plot: throughput and p99 latency against the worker count,
//! as SVG or PNG, drawn with plotters and a built-in font. Behind the
//! client's `plot` feature, so that a program using only the API client
//! does not build a plotting library and carry a font.

use std::path::Path;

use super::sweep::SweepPoint;
use super::{FetchError, RunOn};

/// Draws throughput and p99 latency against the worker count, one line per
/// executor, as an SVG or a PNG file (by the extension).
///
/// # Errors
///
/// [`FetchError::UnknownExtension`] for another extension,
/// [`FetchError::Plot`] if the plot cannot be drawn or written.
pub fn plot(points: &[SweepPoint], path: &Path) -> Result<(), FetchError> {
    write(&Sweep(points), path, (900, 420))
}

/// The error a drawing gives back, whatever its backend.
pub(super) type DrawError = Box<dyn std::error::Error + Send + Sync>;

/// A picture drawn the same way on any of plotters' backends.
pub(super) trait Picture {
    /// Draws the picture on `root`.
    fn draw<DB>(
        &self,
        root: plotters::drawing::DrawingArea<DB, plotters::coord::Shift>,
    ) -> Result<(), DrawError>
    where
        DB: plotters::prelude::DrawingBackend,
        DB::ErrorType: 'static;
}

/// Writes `picture` to `path` at `size` pixels, SVG or PNG by the file's
/// extension, with the built-in font.
///
/// # Errors
///
/// [`FetchError::UnknownExtension`] for another extension,
/// [`FetchError::Plot`] if it cannot be drawn or written.
pub(super) fn write(
    picture: &impl Picture,
    path: &Path,
    size: (u32, u32),
) -> Result<(), FetchError> {
    use plotters::prelude::*;

    let failed = |source: DrawError| FetchError::Plot {
        path: path.to_owned(),
        source,
    };
    let format = PlotFormat::of(path)?;
    register_font().map_err(|error| failed(Box::new(error)))?;
    match format {
        PlotFormat::Png => picture.draw(BitMapBackend::new(path, size).into_drawing_area()),
        PlotFormat::Svg => picture.draw(SVGBackend::new(path, size).into_drawing_area()),
    }
    .map_err(failed)
}

/// The formats a plot is written in, by the file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlotFormat {
    /// `.svg`: text, for a page.
    Svg,
    /// `.png`: a bitmap.
    Png,
}

impl PlotFormat {
    /// The format of a plot written to `path`, checked before any work.
    ///
    /// # Errors
    ///
    /// [`FetchError::UnknownExtension`] for an extension other than
    /// `.svg` or `.png` (in any case).
    ///
    /// # Examples
    ///
    /// ```
    /// use client::fetch::plot::PlotFormat;
    ///
    /// assert_eq!(PlotFormat::of("sweep.PNG".as_ref()).unwrap(), PlotFormat::Png);
    /// assert!(PlotFormat::of("sweep.pdf".as_ref()).is_err());
    /// ```
    pub fn of(path: &Path) -> Result<PlotFormat, FetchError> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("svg") => Ok(PlotFormat::Svg),
            Some("png") => Ok(PlotFormat::Png),
            _ => Err(FetchError::UnknownExtension {
                path: path.to_owned(),
                expected: "a plot is written as .svg or .png",
            }),
        }
    }
}

/// The built-in font could not be read (a broken build).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the built-in font is unreadable")]
struct FontUnreadable;

/// The plots' one font, built in (DejaVu Sans, under the Bitstream Vera
/// licence in `assets/`), so that drawing needs no font installed.
fn register_font() -> Result<(), FontUnreadable> {
    static REGISTERED: std::sync::OnceLock<Result<(), FontUnreadable>> = std::sync::OnceLock::new();
    *REGISTERED.get_or_init(|| {
        plotters::style::register_font(
            "sans-serif",
            plotters::style::FontStyle::Normal,
            include_bytes!("../../assets/DejaVuSans.ttf"),
        )
        .map_err(|_| FontUnreadable)
    })
}

/// The sweep's points, as a picture.
struct Sweep<'a>(&'a [SweepPoint]);

impl Picture for Sweep<'_> {
    fn draw<DB>(
        &self,
        root: plotters::drawing::DrawingArea<DB, plotters::coord::Shift>,
    ) -> Result<(), DrawError>
    where
        DB: plotters::prelude::DrawingBackend,
        DB::ErrorType: 'static,
    {
        draw(root, self.0)
    }
}

fn draw<DB>(
    root: plotters::drawing::DrawingArea<DB, plotters::coord::Shift>,
    points: &[SweepPoint],
) -> Result<(), DrawError>
where
    DB: plotters::prelude::DrawingBackend,
    DB::ErrorType: 'static,
{
    use plotters::prelude::*;

    let failed = |error: DrawingAreaErrorKind<DB::ErrorType>| -> DrawError { Box::new(error) };
    // A little room right of the last point, so that it is not on the edge.
    let max_workers = points.iter().map(|p| p.workers).max().unwrap_or(1).max(2) as f64 * 1.25;
    let max_rps = points
        .iter()
        .map(|p| p.requests_per_second)
        .fold(1.0, f64::max)
        * 1.1;
    let max_p99 = points
        .iter()
        .map(|p| p.p99.as_secs_f64() * 1e3)
        .fold(0.1, f64::max)
        * 1.1;
    let mut executors: Vec<RunOn> = Vec::new();
    for point in points {
        if !executors.contains(&point.executor) {
            executors.push(point.executor.clone());
        }
    }
    let colors = [
        RGBColor(31, 119, 180),
        RGBColor(214, 39, 40),
        RGBColor(44, 160, 44),
    ];

    root.fill(&WHITE).map_err(failed)?;
    let (left, right) = root.split_horizontally(450);
    type Value = fn(&SweepPoint) -> f64;
    let panels: [(&DrawingArea<DB, _>, &str, f64, Value); 2] = [
        (&left, "throughput (requests/s)", max_rps, |p| {
            p.requests_per_second
        }),
        (&right, "p99 latency (ms)", max_p99, |p| {
            p.p99.as_secs_f64() * 1e3
        }),
    ];
    for (area, title, top, value) in panels {
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d((1f64..max_workers).log_scale(), 0f64..top)
            .map_err(failed)?;
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .x_desc("workers")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .draw()
            .map_err(failed)?;
        for (index, executor) in executors.iter().enumerate() {
            let color = colors[index % colors.len()];
            let series: Vec<(f64, f64)> = points
                .iter()
                .filter(|p| p.executor == *executor)
                .map(|p| (p.workers as f64, value(p)))
                .collect();
            chart
                .draw_series(LineSeries::new(series.clone(), color.stroke_width(2)))
                .map_err(failed)?
                .label(executor.to_string())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            chart
                .draw_series(
                    series
                        .into_iter()
                        .map(|(x, y)| Circle::new((x, y), 3, color.filled())),
                )
                .map_err(failed)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(failed)?;
    }
    root.present().map_err(failed)?;
    Ok(())
}
