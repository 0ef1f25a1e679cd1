//! Prices as CSV: one format for everything that writes or reads it (the
//! server's `/prices?format=csv`, `crypto_db fetch -o prices.csv`, and
//! `crypto_db import FILE.csv`).
//!
//! A header, then one row per price: `exchange,symbol,day,open,high,low,
//! close,volume`. Numbers are printed as Python prints them, so `600` (an
//! INTEGER cell) and `600.0` (a REAL one) stay apart; a missing number is
//! an empty field; a name is quoted only when it holds a comma, a quote or
//! a line break.

use std::io::BufRead;

use crate::day::Day;
use crate::model::{NUMERIC_COLUMNS, Number, Price};

/// The header line (without its line break).
pub const HEADER: &str = "exchange,symbol,day,open,high,low,close,volume";

/// Appends one row (without its line break).
///
/// # Examples
///
/// ```
/// use prices::Number;
///
/// let mut line = String::new();
/// prices::csv::write_row(&mut line, "kraken", "btc", "2020-01-01",
///     [Some(Number::Integer(600)), Some(Number::Real(600.0)), None, None, None]);
/// assert_eq!(line, "kraken,btc,2020-01-01,600,600.0,,,");
/// ```
pub fn write_row(
    out: &mut String,
    exchange: &str,
    symbol: &str,
    day: &str,
    numbers: [Option<Number>; 5],
) {
    for (i, text) in [exchange, symbol, day].into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if text.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&text.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(text);
        }
    }
    for number in numbers {
        out.push(',');
        if let Some(number) = number {
            number.write_json(out);
        }
    }
}

/// Splits one line into its fields, undoing [`write_row`]'s quoting;
/// `None` when a quote is left open.
///
/// # Examples
///
/// ```
/// assert_eq!(
///     prices::csv::split_line(r#""a,""b""",btc,,1"#),
///     Some(vec!["a,\"b\"".to_owned(), "btc".into(), "".into(), "1".into()])
/// );
/// ```
pub fn split_line(line: &str) -> Option<Vec<String>> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (false, ',') => fields.push(std::mem::take(&mut field)),
            (false, '"') if field.is_empty() => quoted = true,
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (_, c) => field.push(c),
        }
    }
    if quoted {
        return None;
    }
    fields.push(field);
    Some(fields)
}

/// Why a CSV file of prices was refused: where, and what is wrong there.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CsvError {
    /// The file could not be read.
    #[error("cannot read it")]
    Read(#[source] std::io::Error),
    /// The first line is not a header with the eight columns.
    #[error("line 1: the header must name the columns {HEADER} (in any order), found {found:?}")]
    Header {
        /// The first line as it is.
        found: String,
    },
    /// A row with something wrong in one column.
    #[error("line {line}, column {column}: {problem}")]
    Row {
        /// The 1-based line number.
        line: usize,
        /// The column's name from the header (or its 1-based position).
        column: String,
        /// What is wrong.
        problem: String,
    },
}

/// Reads a CSV of prices (see the module's documentation): the header
/// names the eight columns in any order; every row is checked.
///
/// # Errors
///
/// [`CsvError`] for the first problem: the header, or a row (its line and
/// column).
pub fn read_prices(input: impl BufRead) -> Result<Vec<Price>, CsvError> {
    PriceRows::new(input)?.collect()
}

/// The prices of a CSV, one row at a time, each checked as it is read:
/// what `crypto_db import` streams into a database, whatever the size.
///
/// # Examples
///
/// ```
/// let csv = "exchange,symbol,day,open,high,low,close,volume\nkraken,btc,2020-01-01,1,2,3,4,5\n";
/// let mut rows = prices::csv::PriceRows::new(csv.as_bytes())?;
/// assert_eq!(rows.next().unwrap()?.exchange, "kraken");
/// assert!(rows.next().is_none());
/// # Ok::<(), prices::csv::CsvError>(())
/// ```
pub struct PriceRows<R> {
    lines: std::iter::Enumerate<std::io::Lines<R>>,
    /// Where each of the eight columns of [`HEADER`] is in a row.
    columns: Vec<usize>,
    /// Set after an error: the iterator then ends.
    failed: bool,
}

impl<R: BufRead> PriceRows<R> {
    /// Reads the header (a UTF-8 byte-order mark before it is skipped).
    ///
    /// # Errors
    ///
    /// [`CsvError::Header`] when it does not name the eight columns,
    /// [`CsvError::Read`] when the input cannot be read.
    pub fn new(input: R) -> Result<PriceRows<R>, CsvError> {
        let mut lines = input.lines().enumerate();
        let header = match lines.next() {
            Some((_, line)) => line.map_err(CsvError::Read)?,
            None => String::new(),
        };
        let names = split_line(
            header
                .strip_prefix('\u{feff}')
                .unwrap_or(&header)
                .trim_end_matches('\r'),
        )
        .unwrap_or_default();
        let position = |wanted: &str| names.iter().position(|name| name.trim() == wanted);
        let columns: Option<Vec<usize>> = HEADER.split(',').map(position).collect();
        let Some(columns) = columns.filter(|_| names.len() == 8) else {
            return Err(CsvError::Header { found: header });
        };
        Ok(PriceRows {
            lines,
            columns,
            failed: false,
        })
    }

    /// One line's price (`line_number` counts from 1).
    fn parse(&self, line_number: usize, line: &str) -> Result<Price, CsvError> {
        let problem = |column: &str, problem: String| CsvError::Row {
            line: line_number,
            column: column.to_owned(),
            problem,
        };
        let fields = split_line(line)
            .ok_or_else(|| problem("(all)", "a quoted field is never closed".into()))?;
        if fields.len() != 8 {
            return Err(problem(
                "(all)",
                format!("{} fields where the header has 8", fields.len()),
            ));
        }
        let field = |i: usize| fields[self.columns[i]].as_str();
        let name = |i: usize, column: &str| {
            let value = field(i);
            if value.is_empty() {
                Err(problem(column, "is empty".into()))
            } else {
                Ok(value.to_owned())
            }
        };
        let exchange = name(0, "exchange")?;
        let symbol = name(1, "symbol")?;
        let day = Day::parse(field(2)).map_err(|error| problem("day", error.to_string()))?;
        let mut numbers = [None; 5];
        for (i, column) in NUMERIC_COLUMNS.iter().enumerate() {
            let text = field(3 + i);
            if !text.is_empty() {
                let number = Number::parse(text)
                    .filter(|n| n.as_f64().is_finite())
                    .ok_or_else(|| problem(column, format!("{text:?} is not a finite number")))?;
                numbers[i] = Some(number);
            }
        }
        Ok(Price::new(exchange, symbol, day, numbers))
    }
}

impl<R: BufRead> Iterator for PriceRows<R> {
    type Item = Result<Price, CsvError>;

    fn next(&mut self) -> Option<Result<Price, CsvError>> {
        if self.failed {
            return None;
        }
        for (index, line) in self.lines.by_ref() {
            let line = match line {
                Ok(line) => line,
                Err(error) => {
                    self.failed = true;
                    return Some(Err(CsvError::Read(error)));
                }
            };
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            let price = self.parse(index + 1, line);
            self.failed = price.is_err();
            return Some(price);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excel_csv_utf8_with_a_byte_order_mark_and_crlf_reads() {
        let csv = "\u{feff}exchange,symbol,day,open,high,low,close,volume\r\nkraken,btc,2020-01-01,1,2,3,4,5\r\n";
        let prices = read_prices(csv.as_bytes()).unwrap();
        assert_eq!(prices.len(), 1);
        assert_eq!(prices[0].exchange, "kraken");
        // Only at the very start: anywhere else it is a character of a name.
        let inside = "exchange,symbol,day,open,high,low,close,volume\n\u{feff}kraken,btc,2020-01-01,1,2,3,4,5\n";
        assert_eq!(
            read_prices(inside.as_bytes()).unwrap()[0].exchange,
            "\u{feff}kraken"
        );
    }

    #[test]
    fn a_bad_row_names_its_line_and_column() {
        let csv = format!(
            "{HEADER}\nkraken,btc,2020-01-01,1,2,3,4,5\n\nkraken,btc,2020-01-02,1,2,x,4,5\n"
        );
        let error = read_prices(csv.as_bytes()).unwrap_err();
        assert_eq!(
            error.to_string(),
            r#"line 4, column low: "x" is not a finite number"#
        );
        let csv = format!("{HEADER}\nkraken,btc,2020-02-30,1,2,3,4,5\n");
        assert_eq!(
            read_prices(csv.as_bytes()).unwrap_err().to_string(),
            r#"line 2, column day: date "2020-02-30" has no such day in its month"#
        );
        let csv = format!("{HEADER}\n,btc,2020-01-01,1,2,3,4,5\n");
        assert_eq!(
            read_prices(csv.as_bytes()).unwrap_err().to_string(),
            "line 2, column exchange: is empty"
        );
        let csv = format!("{HEADER}\nkraken,btc,2020-01-01,1,2,3,4\n");
        assert!(
            read_prices(csv.as_bytes())
                .unwrap_err()
                .to_string()
                .starts_with("line 2, column (all): 7 fields")
        );
        let csv = format!("{HEADER}\nkraken,btc,2020-01-01,1,2,3,4,inf\n");
        assert!(read_prices(csv.as_bytes()).is_err());
    }

    #[test]
    fn columns_may_come_in_any_order_and_numbers_keep_their_kind() {
        let csv = "day,exchange,symbol,volume,close,low,high,open\r\n2020-01-01,kraken,btc,1.5,600,,8.6e-05,600.0\r\n";
        let prices = read_prices(csv.as_bytes()).unwrap();
        assert_eq!(prices.len(), 1);
        let price = &prices[0];
        assert_eq!(
            (price.exchange.as_str(), price.day.to_string().as_str()),
            ("kraken", "2020-01-01")
        );
        assert_eq!(price.open, Some(Number::Real(600.0)));
        assert_eq!(price.close, Some(Number::Integer(600)));
        assert_eq!(price.low, None);
    }

    #[test]
    fn a_header_without_the_columns_is_refused() {
        let error = read_prices("exchange,symbol,day\n".as_bytes()).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("line 1: the header must name the columns")
        );
        assert!(read_prices("".as_bytes()).is_err());
    }
}
