//! The dump: a plain-text, lossless copy of the price table, the form in
//! which the dataset ships inside the binary.
//!
//! Why not embed the SQLite file itself? Reading a few megabytes of text is
//! faster at start than opening SQLite, the text diffs well in review, and it
//! keeps the serving path free of SQLite entirely. Nothing is lost: every
//! row (the 25 duplicate keys included) keeps its id, and every cell keeps
//! its storage class.
//!
//! The format, one row per line, fields separated by a tab:
//!
//! ```text
//! id  exchange  symbol  day  open  high  low  close  volume
//! ```
//!
//! A number with a `.` or an exponent (`600.0`, `8.6e-05`) is a REAL, digits
//! alone (`600`) an INTEGER, exactly as Python prints them; an empty cell is
//! NULL. Lines starting with `#` are comments.

use crate::model::Number;
use crate::table::{PriceTable, SourceRow, TableBuilder};

/// What can go wrong reading or writing a dump.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DumpError {
    /// A line does not have the nine tab-separated fields.
    #[error("dump line {line}: expected 9 tab-separated fields, found {found}")]
    FieldCount {
        /// 1-based line number.
        line: usize,
        /// How many fields the line has.
        found: usize,
    },
    /// A field that must be a number is not one.
    #[error("dump line {line}: {column} is {text:?}, which is not a number")]
    NotANumber {
        /// 1-based line number.
        line: usize,
        /// The column's name.
        column: &'static str,
        /// The offending text.
        text: String,
    },
    /// The embedded, compressed dump could not be decompressed.
    #[error("the embedded dataset is damaged: {0}")]
    Corrupt(String),
    /// A name holds a tab or a line break, which the format cannot carry.
    #[error("row {id}: {column} {text:?} holds a tab or line break, which a dump cannot store")]
    Unwritable {
        /// The row's id.
        id: i64,
        /// The column's name.
        column: &'static str,
        /// The offending text.
        text: String,
    },
}

const COLUMNS: [&str; 9] = [
    "id", "exchange", "symbol", "day", "open", "high", "low", "close", "volume",
];

/// Reads every row of a dump.
///
/// # Errors
///
/// [`DumpError`] names the first line that is malformed and why.
///
/// # Examples
///
/// ```
/// let rows = prices::dump::parse("# a comment\n7\tkraken\tbtc\t2020-01-01\t1\t2.5\t\t1e-08\t600.0\n")?;
/// assert_eq!(rows[0].id, 7);
/// assert_eq!(rows[0].numbers[0], Some(prices::Number::Integer(1)));
/// assert_eq!(rows[0].numbers[2], None);
/// # Ok::<(), prices::dump::DumpError>(())
/// ```
pub fn parse(text: &str) -> Result<Vec<SourceRow>, DumpError> {
    let mut rows = Vec::with_capacity(text.len() / 80);
    for_each_row(text, |id, [exchange, symbol, day], numbers| {
        rows.push(SourceRow {
            id,
            exchange: exchange.to_owned(),
            symbol: symbol.to_owned(),
            day: day.to_owned(),
            numbers,
        });
    })?;
    Ok(rows)
}

/// Reads a dump straight into a table, without an owned copy of each row.
///
/// # Errors
///
/// [`DumpError`] names the first line that is malformed and why.
pub fn parse_table(text: &str) -> Result<PriceTable, DumpError> {
    let mut builder = TableBuilder::with_capacity(text.len() / 80);
    for_each_row(text, |id, [exchange, symbol, day], numbers| {
        builder.push(id, exchange, symbol, day, numbers);
    })?;
    Ok(builder.finish())
}

/// Calls `row(id, [exchange, symbol, day], numbers)` for every row.
fn for_each_row<'a>(
    text: &'a str,
    mut row: impl FnMut(i64, [&'a str; 3], [Option<Number>; 5]),
) -> Result<(), DumpError> {
    for (index, line) in text.lines().enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line_number = index + 1;
        let mut fields = [""; 9];
        let mut found = 0;
        for field in line.split('\t') {
            if found < fields.len() {
                fields[found] = field;
            }
            found += 1;
        }
        if found != fields.len() {
            return Err(DumpError::FieldCount {
                line: line_number,
                found,
            });
        }
        let not_a_number = |column: usize| DumpError::NotANumber {
            line: line_number,
            column: COLUMNS[column],
            text: fields[column].to_owned(),
        };
        let id = fields[0].parse().map_err(|_| not_a_number(0))?;
        let mut numbers = [None; 5];
        for (offset, slot) in numbers.iter_mut().enumerate() {
            let column = 4 + offset;
            if !fields[column].is_empty() {
                *slot = Some(Number::parse(fields[column]).ok_or_else(|| not_a_number(column))?);
            }
        }
        row(id, [fields[1], fields[2], fields[3]], numbers);
    }
    Ok(())
}

/// Writes rows as a dump, with a header comment explaining the format.
///
/// # Errors
///
/// [`DumpError::Unwritable`] when a name contains a tab or line break.
///
/// # Examples
///
/// ```
/// let table = prices::PriceTable::embedded()?;
/// let text = prices::dump::write(table.rows().map(|(id, row)| (id, row)))?;
/// assert_eq!(prices::dump::parse(&text)?.len(), table.len());
/// # Ok::<(), prices::dump::DumpError>(())
/// ```
pub fn write<'a>(
    rows: impl IntoIterator<Item = (i64, crate::PriceView<'a>)>,
) -> Result<String, DumpError> {
    let mut out = String::from(
        "# crypto_db price dump: id, exchange, symbol, day, open, high, low, close, volume\n\
         # (tab-separated; 600 is an INTEGER cell, 600.0 a REAL one, an empty cell is NULL)\n",
    );
    for (id, row) in rows {
        for (column, text) in [
            ("exchange", row.exchange),
            ("symbol", row.symbol),
            ("day", row.day),
        ] {
            if text.contains(['\t', '\n', '\r']) {
                return Err(DumpError::Unwritable {
                    id,
                    column,
                    text: text.to_owned(),
                });
            }
        }
        crate::pyjson::write_int(&mut out, id);
        for text in [row.exchange, row.symbol, row.day] {
            out.push('\t');
            out.push_str(text);
        }
        for number in row.numbers {
            out.push('\t');
            if let Some(number) = number {
                number.write_json(&mut out);
            }
        }
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_lines_are_named() {
        assert_eq!(
            parse("1\tkraken\tbtc\n"),
            Err(DumpError::FieldCount { line: 1, found: 3 })
        );
        assert!(matches!(
            parse("#\n1\tk\tbtc\t2020-01-01\tx\t\t\t\t\n"),
            Err(DumpError::NotANumber {
                line: 2,
                column: "open",
                ..
            })
        ));
        assert!(matches!(
            parse("one\tk\tbtc\t2020-01-01\t\t\t\t\t\n"),
            Err(DumpError::NotANumber {
                line: 1,
                column: "id",
                ..
            })
        ));
    }

    #[test]
    fn names_with_tabs_are_refused_not_corrupted() {
        let row = SourceRow {
            id: 1,
            exchange: "a\tb".into(),
            symbol: "btc".into(),
            numbers: [None; 5],
            day: "2020-01-01".into(),
        };
        let err = write([(1, row.view())]).unwrap_err();
        assert!(matches!(
            err,
            DumpError::Unwritable {
                id: 1,
                column: "exchange",
                ..
            }
        ));
    }

    #[test]
    fn write_then_parse_is_identity() {
        let row = SourceRow {
            id: 42,
            exchange: "kraken".into(),
            symbol: "eth".into(),
            numbers: [
                Some(Number::Integer(-3)),
                Some(Number::Real(1e-08)),
                Some(Number::Real(f64::INFINITY)),
                Some(Number::Real(600.0)),
                None,
            ],
            day: "2020-01-01".into(),
        };
        let text = write([(42, row.view())]).unwrap();
        let rows = parse(&text).unwrap();
        assert_eq!(rows, [row]);
    }
}
