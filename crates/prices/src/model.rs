//! The data model shared by the server and the client: one price row, and
//! the numbers in it with their SQLite storage class kept.
//!
//! The original database stores most prices as REAL but some as INTEGER,
//! and Python's JSON shows the difference (`600` versus `600.0`). A client
//! that reads `600` must be able to write `600` again, so a cell is a
//! [`Number`] that remembers which it was, never a bare `f64`.

use std::fmt;

use crate::Day;
use crate::pyjson;

/// The names of the five numeric columns, in the order the original server
/// writes them.
pub const NUMERIC_COLUMNS: [&str; 5] = ["open", "high", "low", "close", "volume"];

/// A numeric cell, as SQLite stored it.
///
/// # Examples
///
/// ```
/// use prices::Number;
///
/// assert_eq!(Number::Integer(600).to_string(), "600");
/// assert_eq!(Number::Real(600.0).to_string(), "600.0");
/// assert_eq!(Number::Real(8.6e-05).to_string(), "8.6e-05");
/// assert_eq!(Number::Integer(600).as_f64(), 600.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// Stored with SQLite's INTEGER class; printed without a decimal point.
    Integer(i64),
    /// Stored with SQLite's REAL class; printed as Python's `repr(float)`.
    Real(f64),
}

impl Number {
    /// The value as a float, whatever its storage class (for arithmetic).
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Integer(n) => n as f64,
            Number::Real(x) => x,
        }
    }

    /// Appends the number as Python's `json.dumps` prints it.
    pub fn write_json(self, out: &mut String) {
        match self {
            Number::Integer(n) => pyjson::write_int(out, n),
            Number::Real(x) => pyjson::write_float(out, x),
        }
    }

    /// Reads a number back from its printed form: digits alone (with an
    /// optional sign) are an INTEGER, anything else that parses as a float
    /// (`600.0`, `1e-08`, `Infinity`) is a REAL. This is the inverse of
    /// [`Number::write_json`] and of `Display`.
    ///
    /// # Examples
    ///
    /// ```
    /// use prices::Number;
    ///
    /// assert_eq!(Number::parse("600"), Some(Number::Integer(600)));
    /// assert_eq!(Number::parse("600.0"), Some(Number::Real(600.0)));
    /// assert_eq!(Number::parse("8.6e-05"), Some(Number::Real(8.6e-05)));
    /// assert_eq!(Number::parse("six"), None);
    /// ```
    pub fn parse(text: &str) -> Option<Number> {
        let unsigned = text.strip_prefix('-').unwrap_or(text);
        if !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit()) {
            return text.parse().ok().map(Number::Integer);
        }
        text.parse().ok().map(Number::Real)
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        self.write_json(&mut out);
        f.write_str(&out)
    }
}

/// One price, owned and checked: what a client receives (the server sends
/// rows as stored, [`PriceView`]s, whose day is whatever text the database
/// holds; a `Price` has a real [`Day`]).
///
/// # Examples
///
/// ```
/// use prices::{Number, Price};
///
/// let price = Price {
///     exchange: "bitstamp".into(),
///     symbol: "btc".into(),
///     open: Some(Number::Real(6408.95)),
///     high: Some(Number::Real(6527.24)),
///     low: Some(Number::Real(6337.42)),
///     close: Some(Number::Real(6421.14)),
///     volume: Some(Number::Real(6342.29832651)),
///     day: prices::Day::parse("2020-04-01")?,
/// };
/// assert_eq!(
///     price.to_json(),
///     r#"{"exchange": "bitstamp", "symbol": "btc", "open": 6408.95, "high": 6527.24, "low": 6337.42, "close": 6421.14, "volume": 6342.29832651, "day": "2020-04-01"}"#
/// );
/// # Ok::<(), prices::DayError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Price {
    /// The exchange's name, e.g. `bitstamp`.
    pub exchange: String,
    /// The coin's symbol, e.g. `btc`.
    pub symbol: String,
    /// Opening price of the day; `None` where the cell is NULL.
    pub open: Option<Number>,
    /// Highest price of the day.
    pub high: Option<Number>,
    /// Lowest price of the day.
    pub low: Option<Number>,
    /// Closing price of the day.
    pub close: Option<Number>,
    /// Volume traded that day.
    pub volume: Option<Number>,
    /// The day.
    pub day: Day,
}

impl Price {
    /// A price from its key and its five numbers (open, high, low, close,
    /// volume, in that order).
    ///
    /// # Examples
    ///
    /// ```
    /// use prices::{Day, Number, Price};
    ///
    /// let day = Day::parse("2020-01-01")?;
    /// let price = Price::new("kraken", "btc", day, [Some(Number::Integer(600)), None, None, None, None]);
    /// assert_eq!(price.open, Some(Number::Integer(600)));
    /// # Ok::<(), prices::DayError>(())
    /// ```
    pub fn new(
        exchange: impl Into<String>,
        symbol: impl Into<String>,
        day: Day,
        numbers: [Option<Number>; 5],
    ) -> Price {
        let [open, high, low, close, volume] = numbers;
        Price {
            exchange: exchange.into(),
            symbol: symbol.into(),
            open,
            high,
            low,
            close,
            volume,
            day,
        }
    }

    /// The five numeric cells in column order (see [`NUMERIC_COLUMNS`]).
    pub fn numbers(&self) -> [Option<Number>; 5] {
        [self.open, self.high, self.low, self.close, self.volume]
    }

    /// The price as the original server's JSON body.
    pub fn to_json(&self) -> String {
        let day = self.day.to_string();
        PriceView {
            exchange: &self.exchange,
            symbol: &self.symbol,
            numbers: self.numbers(),
            day: &day,
        }
        .to_json()
    }
}

/// The order of a price's keys in its JSON object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOrder {
    /// As the original server writes it, `json.dumps(dict(row))` in the
    /// table's column order: `exchange, symbol, open, high, low, close,
    /// volume, day`.
    Server,
    /// The key first: `exchange, symbol, day, open, high, low, close,
    /// volume`, as `crypto_db fetch` writes JSON lines (a file sorted by
    /// key reads in order).
    KeyFirst,
}

/// A borrowed price row: what the in-memory table hands out without
/// copying strings, and the one place the JSON object is written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PriceView<'a> {
    /// The exchange's name.
    pub exchange: &'a str,
    /// The coin's symbol.
    pub symbol: &'a str,
    /// open, high, low, close, volume.
    pub numbers: [Option<Number>; 5],
    /// The day, `YYYY-MM-DD`.
    pub day: &'a str,
}

impl PriceView<'_> {
    /// Copies the row into an owned [`Price`].
    ///
    /// # Errors
    ///
    /// [`DayError`](crate::DayError) when the stored day is not a day.
    pub fn to_price(&self) -> Result<Price, crate::DayError> {
        Ok(Price::new(
            self.exchange,
            self.symbol,
            Day::parse(self.day)?,
            self.numbers,
        ))
    }

    /// Appends the row as `json.dumps(dict(row))` writes it: keys in the
    /// order `exchange, symbol, open, high, low, close, volume, day`.
    pub fn write_json(&self, out: &mut String) {
        self.write_json_in(KeyOrder::Server, out);
    }

    /// Appends the row as a JSON object with its keys in `order`, numbers
    /// and strings as Python's `json.dumps` writes them: the one JSON
    /// writer of a price, for the server and for `fetch`'s output.
    ///
    /// # Examples
    ///
    /// ```
    /// use prices::{KeyOrder, Number, PriceView};
    ///
    /// let row = PriceView { exchange: "kraken", symbol: "btc", numbers: [Some(Number::Integer(600)), None, None, None, None], day: "2020-01-01" };
    /// let mut out = String::new();
    /// row.write_json_in(KeyOrder::KeyFirst, &mut out);
    /// assert_eq!(out, r#"{"exchange": "kraken", "symbol": "btc", "day": "2020-01-01", "open": 600, "high": null, "low": null, "close": null, "volume": null}"#);
    /// ```
    pub fn write_json_in(&self, order: KeyOrder, out: &mut String) {
        out.push_str("{\"exchange\": ");
        pyjson::write_str(out, self.exchange);
        out.push_str(", \"symbol\": ");
        pyjson::write_str(out, self.symbol);
        if order == KeyOrder::KeyFirst {
            out.push_str(", \"day\": ");
            pyjson::write_str(out, self.day);
        }
        for (name, number) in NUMERIC_COLUMNS.iter().zip(self.numbers) {
            out.push_str(", \"");
            out.push_str(name);
            out.push_str("\": ");
            match number {
                Some(number) => number.write_json(out),
                None => out.push_str("null"),
            }
        }
        if order == KeyOrder::Server {
            out.push_str(", \"day\": ");
            pyjson::write_str(out, self.day);
        }
        out.push('}');
    }

    /// The row as a JSON body.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(192);
        self.write_json(&mut out);
        out
    }
}

/// With the `serde` feature: in a human-readable format (JSON), an
/// INTEGER is written as an integer and a REAL as a float, so that `600`
/// and `600.0` read back as the class they were; a non-finite REAL, which
/// JSON has no number for, is written as the string `"inf"`, `"-inf"` or
/// `"nan"`. In a binary format (the process pool's codec), which cannot
/// tell an integer from a float by looking, a `Number` is what it is in
/// Rust: an enum of the two, the float bit for bit.
#[cfg(feature = "serde")]
mod serde_impls {
    use super::Number;

    /// A `Number` as a binary format carries it.
    #[derive(serde::Serialize, serde::Deserialize)]
    #[serde(rename = "Number")]
    enum Binary {
        Integer(i64),
        Real(f64),
    }

    impl serde::Serialize for Number {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            if !serializer.is_human_readable() {
                return match *self {
                    Number::Integer(n) => Binary::Integer(n),
                    Number::Real(x) => Binary::Real(x),
                }
                .serialize(serializer);
            }
            match *self {
                Number::Integer(n) => serializer.serialize_i64(n),
                Number::Real(x) if x.is_finite() => serializer.serialize_f64(x),
                Number::Real(x) if x.is_nan() => serializer.serialize_str("nan"),
                Number::Real(x) if x > 0.0 => serializer.serialize_str("inf"),
                Number::Real(_) => serializer.serialize_str("-inf"),
            }
        }
    }

    impl<'de> serde::Deserialize<'de> for Number {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Number, D::Error> {
            if !deserializer.is_human_readable() {
                return Ok(match Binary::deserialize(deserializer)? {
                    Binary::Integer(n) => Number::Integer(n),
                    Binary::Real(x) => Number::Real(x),
                });
            }
            deserializer.deserialize_any(NumberVisitor)
        }
    }

    struct NumberVisitor;

    impl serde::de::Visitor<'_> for NumberVisitor {
        type Value = Number;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an integer, a float, or \"inf\", \"-inf\", \"nan\"")
        }

        fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Number, E> {
            Ok(Number::Integer(n))
        }

        fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Number, E> {
            i64::try_from(n)
                .map(Number::Integer)
                .map_err(|_| E::custom(format!("{n} does not fit a 64-bit integer")))
        }

        fn visit_f64<E: serde::de::Error>(self, x: f64) -> Result<Number, E> {
            Ok(Number::Real(x))
        }

        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Number, E> {
            match text {
                "inf" => Ok(Number::Real(f64::INFINITY)),
                "-inf" => Ok(Number::Real(f64::NEG_INFINITY)),
                "nan" => Ok(Number::Real(f64::NAN)),
                other => Err(E::invalid_value(serde::de::Unexpected::Str(other), &self)),
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::super::{Number, Price};

        #[test]
        fn a_price_crosses_json_with_every_number_class_kept() {
            let price = Price::new(
                "kraken",
                "btc",
                crate::Day::parse("2020-01-01").unwrap(),
                [
                    Some(Number::Integer(600)),
                    Some(Number::Real(600.0)),
                    Some(Number::Real(8.6e-05)),
                    Some(Number::Real(f64::INFINITY)),
                    None,
                ],
            );
            let json = serde_json::to_string(&price).unwrap();
            assert_eq!(
                json,
                r#"{"exchange":"kraken","symbol":"btc","open":600,"high":600.0,"low":0.000086,"close":"inf","volume":null,"day":"2020-01-01"}"#
            );
            let back: Price = serde_json::from_str(&json).unwrap();
            assert_eq!(back, price);
            let nan: Number = serde_json::from_str(r#""nan""#).unwrap();
            assert!(matches!(nan, Number::Real(x) if x.is_nan()));
            assert!(serde_json::from_str::<Number>("18446744073709551615").is_err());
        }
    }
}
