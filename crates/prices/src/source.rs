//! Where served prices come from: the table in memory (the embedded
//! dataset, or a small file loaded at start), or a lookup per request in a
//! file that is never loaded whole (a database written by `crypto_db
//! import`, read through its index), so that start-up and memory do not
//! grow with the data.

use crate::model::Price;
use crate::table::{PriceTable, UnknownName};

/// A lookup failed for a reason of the store's own (a file that went
/// away, a cell of the wrong type): the request gets a `500`.
#[derive(Debug, thiserror::Error)]
#[error("reading the prices failed: {0}")]
pub struct LookupError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// A range that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum RangeError {
    /// The exchange or symbol is not in the data (a `404`).
    #[error(transparent)]
    Unknown(#[from] UnknownName),
    /// The store failed (a `500`).
    #[error(transparent)]
    Lookup(#[from] LookupError),
}

/// Prices looked up per request rather than held in memory.
pub trait PriceLookup: Send + Sync {
    /// `/exchanges`'s body: the names, sorted, as Python's `json.dumps`.
    fn exchanges_json(&self) -> String;
    /// `/symbols`'s body.
    fn symbols_json(&self) -> String;
    /// The row the original serves for this exact key (the lowest id), as
    /// `/price` renders it, or `None`.
    ///
    /// # Errors
    ///
    /// [`LookupError`] if the store cannot be read.
    fn price_json(
        &self,
        exchange: &str,
        symbol: &str,
        day: &str,
    ) -> Result<Option<String>, LookupError>;
    /// Up to `limit` rows of one exchange and symbol, in day order, the
    /// first row of each day, with days from `first` to `last` (inclusive,
    /// either open).
    ///
    /// # Errors
    ///
    /// [`RangeError::Unknown`] for a name the data does not have,
    /// [`RangeError::Lookup`] if the store cannot be read.
    fn range(
        &self,
        exchange: &str,
        symbol: &str,
        first: Option<&str>,
        last: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Price>, RangeError>;
}

/// The prices a server answers from.
// One per server, in its shared state: boxing the table would add a
// pointer to chase on every request and save nothing.
#[allow(clippy::large_enum_variant)]
pub enum PriceSource {
    /// Every row in memory.
    Table(PriceTable),
    /// Looked up per request.
    Lookup(Box<dyn PriceLookup>),
}

impl From<PriceTable> for PriceSource {
    fn from(table: PriceTable) -> PriceSource {
        PriceSource::Table(table)
    }
}

impl std::fmt::Debug for PriceSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PriceSource::Table(table) => write!(f, "PriceSource::Table({} rows)", table.len()),
            PriceSource::Lookup(_) => f.write_str("PriceSource::Lookup"),
        }
    }
}
