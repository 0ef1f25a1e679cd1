//! The job's results as the lessons print them: a table, and the sample
//! lines of the producer/consumer lesson,
//! `Bitstamp             price of  BTC  on 2020-03-10 was: $  7936.25`.

use std::fmt::Write as _;

use prices::Number;

use super::Record;

/// Python's `str.title()`: a capital after anything that is not a letter
/// (`coinbase-pro` -> `Coinbase-Pro`).
///
/// # Examples
///
/// ```
/// assert_eq!(client::fetch::lesson::title("coinbase-pro"), "Coinbase-Pro");
/// ```
pub fn title(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut after_letter = false;
    for c in text.chars() {
        if after_letter {
            out.extend(c.to_lowercase());
        } else {
            out.extend(c.to_uppercase());
        }
        after_letter = c.is_alphabetic();
    }
    out
}

/// `round(x, 4)` printed as Python prints it.
fn round4(number: Number) -> String {
    match number {
        Number::Integer(n) => n.to_string(),
        Number::Real(x) => {
            // Rust's `{:.4}` is correctly rounded, as Python's round() is;
            // the result is then printed with Python's repr.
            let rounded: f64 = format!("{x:.4}").parse().unwrap_or(x);
            Number::Real(rounded).to_string()
        }
    }
}

/// One sample line of the lesson: the closing price, or "No price of ...".
///
/// # Examples
///
/// ```
/// use client::fetch::{Record, Task};
///
/// let record = Record {
///     task: Task { exchange: "bitstamp".into(), symbol: "btc".into(), day: "2020-03-10".parse()? },
///     price: None,
/// };
/// assert_eq!(client::fetch::lesson::sample_line(&record), "No price of BTC for Bitstamp on 2020-03-10");
/// # Ok::<(), prices::DayError>(())
/// ```
pub fn sample_line(record: &Record) -> String {
    let (exchange, symbol, day) = (
        &record.task.exchange,
        record.task.symbol.to_uppercase(),
        record.task.day.to_string(),
    );
    match record.price.as_ref().and_then(|price| price.close) {
        Some(close) => format!(
            "{:<20} price of {:^5} on {:^10} was: ${:>9}",
            title(exchange),
            symbol,
            day,
            round4(close)
        ),
        None => format!("No price of {symbol} for {} on {day}", title(exchange)),
    }
}

/// All records as an aligned table, then `samples` sample lines picked
/// with a fixed seed (so two runs print the same).
pub fn render(records: &[Record], samples: usize) -> String {
    let headers = [
        "exchange", "symbol", "day", "open", "high", "low", "close", "volume",
    ];
    let rows: Vec<[String; 8]> = records
        .iter()
        .map(|record| {
            let numbers = record
                .price
                .as_ref()
                .map_or([None; 5], prices::Price::numbers);
            let cell = |n: Option<Number>| n.map_or_else(|| "-".to_owned(), |n| n.to_string());
            [
                record.task.exchange.clone(),
                record.task.symbol.clone(),
                record.task.day.to_string(),
                cell(numbers[0]),
                cell(numbers[1]),
                cell(numbers[2]),
                cell(numbers[3]),
                cell(numbers[4]),
            ]
        })
        .collect();
    let mut widths = headers.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let mut out = String::new();
    let mut push_row = |cells: &[&str]| {
        for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
            let separator = if i + 1 < cells.len() { "  " } else { "\n" };
            // Names left-aligned, numbers right-aligned.
            if i < 3 {
                let _ = write!(out, "{cell:<width$}{separator}");
            } else {
                let _ = write!(out, "{cell:>width$}{separator}");
            }
        }
    };
    push_row(&headers);
    for row in &rows {
        push_row(&row.each_ref().map(String::as_str));
    }
    if !records.is_empty() && samples > 0 {
        out.push('\n');
        let mut rng = fastrand::Rng::with_seed(20_200_301);
        for _ in 0..samples {
            out.push_str(&sample_line(&records[rng.usize(..records.len())]));
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::Task;

    #[test]
    fn the_lessons_line_format() {
        let record = Record {
            task: Task {
                exchange: "bitstamp".into(),
                symbol: "btc".into(),
                day: "2020-03-10".parse().unwrap(),
            },
            price: Some(prices::Price {
                exchange: "bitstamp".into(),
                symbol: "btc".into(),
                open: None,
                high: None,
                low: None,
                close: Some(Number::Real(7936.25)),
                volume: None,
                day: "2020-03-10".parse().unwrap(),
            }),
        };
        assert_eq!(
            sample_line(&record),
            "Bitstamp             price of  BTC  on 2020-03-10 was: $  7936.25"
        );
    }

    #[test]
    fn rounding_as_python() {
        assert_eq!(round4(Number::Real(95000.17599999999)), "95000.176");
        assert_eq!(round4(Number::Real(0.123456)), "0.1235");
        assert_eq!(round4(Number::Integer(600)), "600");
        assert_eq!(round4(Number::Real(600.0)), "600.0");
        assert_eq!(title("okex"), "Okex");
        assert_eq!(title("coinbase-pro"), "Coinbase-Pro");
    }
}
