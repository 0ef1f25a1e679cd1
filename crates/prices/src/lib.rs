//! The price data of `crypto_db`: the model that the server and the client
//! share, its Python-compatible JSON, and the shipped dataset.
//!
//! # Layout
//!
//! The model is at the crate root, one path per item; the formats it is
//! read from and written to are modules of their own:
//!
//! - `model`: [`Price`], one checked price (a real [`Day`]), [`PriceView`],
//!   a row as stored, whose one JSON writer the server and `fetch` share
//!   ([`KeyOrder`]), and [`Number`], a cell that remembers whether SQLite
//!   stored it as INTEGER or REAL (`600` versus `600.0`).
//! - `day`: strict `YYYY-MM-DD` days ([`Day`]), to tell a malformed date
//!   from a day without data.
//! - `table`: [`PriceTable`], every row in memory behind a hash index.
//! - [`pyjson`]: JSON written byte for byte as Python's `json.dumps` does,
//!   float `repr` included; what makes our answers identical to the
//!   original's.
//! - [`csv`]: the CSV the range API and `fetch` write and `import` reads.
//! - [`dump`]: the lossless text form in which the dataset is embedded.
//! - `sqlite` (the `sqlite` feature, on by default): loading a table from
//!   a SQLite file of the original's schema, and writing one.
//!
//! # Examples
//!
//! ```
//! let table = prices::PriceTable::embedded()?;
//! assert_eq!(table.len(), 29_214);
//! let body = table.get("bitstamp", "btc", "2020-04-01").unwrap().to_json();
//! assert!(body.starts_with(r#"{"exchange": "bitstamp", "symbol": "btc", "open": 6408.95"#));
//! # Ok::<(), prices::dump::DumpError>(())
//! ```

#![warn(missing_docs)]

pub mod csv;
mod day;
pub mod dump;
mod model;
pub mod pyjson;
mod source;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(feature = "sqlite")]
mod sqlite_store;
mod table;

pub use day::{Day, DayError};
use dump::DumpError;
pub use model::{KeyOrder, NUMERIC_COLUMNS, Number, Price, PriceView};
pub use source::{LookupError, PriceLookup, PriceSource, RangeError};
#[cfg(feature = "sqlite")]
use sqlite::LoadError;
#[cfg(feature = "sqlite")]
pub use sqlite_store::SqliteStore;
pub use table::{PriceRange, PriceTable, SourceRow, TableBuilder, UnknownName};

/// The dataset shipped with `crypto_db` (the original's `prices.db`: 29,214
/// daily rows of btc, eth and ltc on 12 exchanges, 2013-04-24..2020-12-08),
/// as a gzip-compressed dump: `data/prices.tsv`, made with `crypto_db
/// import` and compressed by the build script.
pub const EMBEDDED_DUMP_GZ: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/prices.tsv.gz"));

/// The embedded dataset's dump, as text.
///
/// # Errors
///
/// [`DumpError::Corrupt`] only if the embedded bytes were damaged, which
/// the tests rule out.
pub fn embedded_dump() -> Result<String, DumpError> {
    use std::io::Read;

    let mut text = String::with_capacity(EMBEDDED_DUMP_GZ.len() * 3);
    flate2::read::GzDecoder::new(EMBEDDED_DUMP_GZ)
        .read_to_string(&mut text)
        .map_err(|error| DumpError::Corrupt(error.to_string()))?;
    Ok(text)
}

impl PriceTable {
    /// The shipped dataset, ready to serve.
    ///
    /// The text is decompressed, read and dropped: only the table stays in
    /// memory.
    ///
    /// # Errors
    ///
    /// Only if the embedded dump were corrupt, which the tests rule out.
    pub fn embedded() -> Result<PriceTable, DumpError> {
        dump::parse_table(&embedded_dump()?)
    }

    /// Reads the `price` table of a SQLite file.
    ///
    /// # Errors
    ///
    /// See [`sqlite::load`].
    #[cfg(feature = "sqlite")]
    pub fn from_sqlite(path: &std::path::Path) -> Result<PriceTable, LoadError> {
        Ok(PriceTable::from_rows(sqlite::load(path)?))
    }
}
