//! The price data of `crypto_db`: the model that the server and the client
//! share, its Python-compatible JSON, and the shipped dataset.
//!
//! # Layout
//!
//! - [`model`]: [`Price`], one row, and [`Number`], a cell that remembers
//!   whether SQLite stored it as INTEGER or REAL (`600` versus `600.0`).
//! - [`pyjson`]: JSON written byte for byte as Python's `json.dumps` does,
//!   float `repr` included; what makes our answers identical to the
//!   original's.
//! - [`day`]: strict `YYYY-MM-DD` days, to tell a malformed date from a day
//!   without data.
//! - [`table`]: [`PriceTable`], every row in memory behind a hash index.
//! - [`dump`]: the lossless text form in which the dataset is embedded.
//! - [`sqlite`]: loading a table from a SQLite file of the original's schema.
//!
//! # Examples
//!
//! ```
//! let table = prices::PriceTable::embedded()?;
//! assert_eq!(table.len(), 29_214);
//! let body = table.get("bitstamp", "btc", "2020-04-01").unwrap().to_json();
//! assert!(body.starts_with(r#"{"exchange": "bitstamp", "symbol": "btc", "open": 6408.95"#));
//! # Ok::<(), prices::DumpError>(())
//! ```

#![warn(missing_docs)]

pub mod day;
pub mod dump;
pub mod model;
pub mod pyjson;
pub mod sqlite;
pub mod table;

pub use day::{Day, DayError};
pub use dump::DumpError;
pub use model::{Number, Price, PriceView};
pub use sqlite::LoadError;
pub use table::{PriceTable, SourceRow, TableBuilder};

/// The dataset shipped with `crypto_db` (the original's `prices.db`: 29,214
/// daily rows of btc, eth and ltc on 12 exchanges, 2013-04-24..2020-12-08),
/// as a dump. Made with `crypto_db import`.
pub const EMBEDDED_DUMP: &str = include_str!("../data/prices.tsv");

impl PriceTable {
    /// The shipped dataset, ready to serve.
    ///
    /// # Errors
    ///
    /// Only if the embedded dump were corrupt, which the tests rule out.
    pub fn embedded() -> Result<PriceTable, DumpError> {
        dump::parse_table(EMBEDDED_DUMP)
    }

    /// Reads the `price` table of a SQLite file.
    ///
    /// # Errors
    ///
    /// See [`sqlite::load`].
    pub fn from_sqlite(path: &std::path::Path) -> Result<PriceTable, LoadError> {
        Ok(PriceTable::from_rows(sqlite::load(path)?))
    }
}
