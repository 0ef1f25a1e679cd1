//! Reading the API's answers: a price with each number's INTEGER/REAL
//! form kept, a range of them, a list of names.

use prices::{Day, Number, Price};
use serde::Deserialize;

use super::BodyError;

/// The JSON object of a price as the API writes it (and as `fetch` writes
/// JSON lines: the same keys); numbers are read as `serde_json::Number` so
/// that `600` stays an INTEGER and `600.0` a REAL.
#[derive(Deserialize)]
pub(crate) struct WirePrice {
    exchange: String,
    symbol: String,
    open: Option<serde_json::Number>,
    high: Option<serde_json::Number>,
    low: Option<serde_json::Number>,
    close: Option<serde_json::Number>,
    volume: Option<serde_json::Number>,
    day: String,
}

/// A JSON number as a cell: an integer literal stays INTEGER, anything
/// else is REAL.
pub(super) fn number(value: Option<serde_json::Number>) -> Result<Option<Number>, BodyError> {
    let Some(value) = value else { return Ok(None) };
    if let Some(n) = value.as_i64() {
        return Ok(Some(Number::Integer(n)));
    }
    if value.is_f64() {
        return Ok(value.as_f64().map(Number::Real));
    }
    Err(BodyError::NumberTooBig(value.to_string()))
}

/// Reads the body of `GET /price/...`: a price, or `None` for `null`.
///
/// # Errors
///
/// [`BodyError`] saying what is wrong with the body.
pub(crate) fn parse_price(body: &str) -> Result<Option<Price>, BodyError> {
    let wire: Option<WirePrice> = serde_json::from_str(body)?;
    wire.map(WirePrice::into_price).transpose()
}

impl WirePrice {
    /// The price, with each number's INTEGER/REAL form kept.
    pub(crate) fn into_price(self) -> Result<Price, BodyError> {
        Ok(Price {
            exchange: self.exchange,
            symbol: self.symbol,
            open: number(self.open)?,
            high: number(self.high)?,
            low: number(self.low)?,
            close: number(self.close)?,
            volume: number(self.volume)?,
            day: Day::parse(&self.day)?,
        })
    }
}

pub(super) fn parse_names(body: &str) -> Result<Vec<String>, BodyError> {
    Ok(serde_json::from_str(body)?)
}

/// Reads a `/prices` answer: an array of prices as `/price` renders them.
pub(super) fn parse_prices(body: &str) -> Result<Vec<Price>, BodyError> {
    let wire: Vec<WirePrice> = serde_json::from_str(body)?;
    wire.into_iter().map(WirePrice::into_price).collect()
}
