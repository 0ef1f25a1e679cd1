//! Reading a price table from a SQLite file of the original's schema.
//!
//! This is how `--db PATH` serves other data and how the shipped dump was
//! made. It reads the file once; serving never touches SQLite again.

use std::path::{Path, PathBuf};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use crate::model::{Number, Price};
use crate::table::SourceRow;

/// Why a SQLite file could not be read as a price table.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The path does not exist (or is not a regular file).
    #[error("{}: no such file", path.display())]
    Missing {
        /// The path given.
        path: PathBuf,
    },
    /// SQLite refused the file: not a database, corrupt, unreadable.
    #[error("{}: not a readable SQLite database ({source})", path.display())]
    NotSqlite {
        /// The path given.
        path: PathBuf,
        /// SQLite's own message.
        source: rusqlite::Error,
    },
    /// The database has no `price` table, or it lacks a needed column.
    #[error(
        "{}: no `price` table with the columns exchange, symbol, open, high, low, close, volume, day ({source})",
        path.display()
    )]
    Schema {
        /// The path given.
        path: PathBuf,
        /// SQLite's own message.
        source: rusqlite::Error,
    },
    /// A cell holds a value of a type the API cannot serve.
    #[error("{}: row id {id}: {column} holds {found}, expected {expected}", path.display())]
    CellType {
        /// The path given.
        path: PathBuf,
        /// The row's id.
        id: i64,
        /// The column's name.
        column: &'static str,
        /// What the cell holds.
        found: &'static str,
        /// What the column must hold.
        expected: &'static str,
    },
}

const COLUMNS: [&str; 8] = [
    "exchange", "symbol", "open", "high", "low", "close", "volume", "day",
];

/// Reads every row of the `price` table of the SQLite file at `path`.
///
/// The file is opened read-only and never modified.
///
/// # Errors
///
/// [`LoadError`] says whether the file is missing, is not SQLite, lacks the
/// table or a column, or holds a cell of the wrong type (the first one met).
pub fn load(path: &Path) -> Result<Vec<SourceRow>, LoadError> {
    let mut rows = Vec::new();
    for_each_row(path, |row| {
        rows.push(row);
        Ok::<(), LoadError>(())
    })?;
    Ok(rows)
}

/// Calls `each` with every row of the `price` table of the SQLite file at
/// `path`, in id order, one at a time (memory stays flat whatever the
/// size), stopping at the first error, `each`'s or the file's. The file is
/// opened read-only and never modified.
///
/// # Errors
///
/// As [`load`], or `each`'s own.
pub fn for_each_row<E: From<LoadError>>(
    path: &Path,
    mut each: impl FnMut(SourceRow) -> Result<(), E>,
) -> Result<(), E> {
    if !path.is_file() {
        return Err(LoadError::Missing {
            path: path.to_owned(),
        }
        .into());
    }
    let not_sqlite = |source| LoadError::NotSqlite {
        path: path.to_owned(),
        source,
    };
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(not_sqlite)?;
    // Any read makes SQLite look at the header; do it before preparing the
    // query so that "not a database" is not reported as a schema problem.
    connection
        .query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
        .map_err(not_sqlite)?;

    // The original has no ORDER BY: its table scan goes in rowid order,
    // which is what makes "the lowest id wins" for duplicated keys. We ask
    // for that order rather than rely on the scan.
    let mut statement = connection
        .prepare(&format!(
            "SELECT rowid, {} FROM price ORDER BY rowid",
            COLUMNS.join(", ")
        ))
        .map_err(|source| LoadError::Schema {
            path: path.to_owned(),
            source,
        })?;
    let mut cursor = statement.query([]).map_err(not_sqlite)?;
    while let Some(row) = cursor.next().map_err(not_sqlite)? {
        let id: i64 = row.get(0).map_err(not_sqlite)?;
        let cell_error = |column: usize, found, expected| LoadError::CellType {
            path: path.to_owned(),
            id,
            column: COLUMNS[column],
            found,
            expected,
        };
        let text = |column: usize| -> Result<String, LoadError> {
            match row.get_ref(column + 1).map_err(not_sqlite)? {
                ValueRef::Text(bytes) => String::from_utf8(bytes.to_vec())
                    .map_err(|_| cell_error(column, "text that is not UTF-8", "text")),
                other => Err(cell_error(column, type_name(other), "text")),
            }
        };
        let number = |column: usize| -> Result<Option<Number>, LoadError> {
            match row.get_ref(column + 1).map_err(not_sqlite)? {
                ValueRef::Null => Ok(None),
                ValueRef::Integer(n) => Ok(Some(Number::Integer(n))),
                ValueRef::Real(x) => Ok(Some(Number::Real(x))),
                other => Err(cell_error(column, type_name(other), "a number or NULL")),
            }
        };
        each(SourceRow {
            id,
            exchange: text(0)?,
            symbol: text(1)?,
            numbers: [number(2)?, number(3)?, number(4)?, number(5)?, number(6)?],
            day: text(7)?,
        })?;
    }
    Ok(())
}

fn type_name(value: ValueRef<'_>) -> &'static str {
    match value {
        ValueRef::Null => "NULL",
        ValueRef::Integer(_) => "an INTEGER",
        ValueRef::Real(_) => "a REAL",
        ValueRef::Text(_) => "TEXT",
        ValueRef::Blob(_) => "a BLOB",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database path in a directory of its own, removed when the
    /// directory is dropped.
    fn scratch(name: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::Builder::new()
            .prefix(&format!("prices-sqlite-{name}-"))
            .tempdir()
            .unwrap();
        let path = dir.path().join("db.sqlite");
        (dir, path)
    }

    fn create(path: &Path, sql: &str) {
        let _ = std::fs::remove_file(path);
        Connection::open(path).unwrap().execute_batch(sql).unwrap();
    }

    const SCHEMA: &str = "CREATE TABLE price (id INTEGER PRIMARY KEY AUTOINCREMENT, \
        exchange TEXT NOT NULL, symbol TEXT NOT NULL, open DECIMAL(10,4), high DECIMAL(10,4), \
        low DECIMAL(10,4), close DECIMAL(10,4), volume DECIMAL(10,4), day DATE NOT NULL);";

    #[test]
    fn keeps_storage_classes_and_nulls() {
        let (_dir, path) = scratch("classes");
        create(
            &path,
            &format!(
                "{SCHEMA} INSERT INTO price VALUES (5, 'kraken', 'btc', 600, 600.5, NULL, 8.6e-05, 600.0, '2020-01-01');"
            ),
        );
        let rows = load(&path).unwrap();
        assert_eq!(rows.len(), 1);
        let [open, high, low, close, volume] = rows[0].numbers;
        assert_eq!(rows[0].id, 5);
        assert_eq!(open, Some(Number::Integer(600)));
        assert_eq!(high, Some(Number::Real(600.5)));
        assert_eq!(low, None);
        assert_eq!(close, Some(Number::Real(8.6e-05)));
        // DECIMAL columns have NUMERIC affinity: SQLite itself stores an
        // integral REAL as INTEGER, and we report what it stored.
        assert_eq!(volume, Some(Number::Integer(600)));
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = load(Path::new("/nonexistent/prices.db")).unwrap_err();
        assert_eq!(err.to_string(), "/nonexistent/prices.db: no such file");
    }

    #[test]
    fn a_file_that_is_not_sqlite() {
        let (_dir, path) = scratch("garbage");
        std::fs::write(
            &path,
            b"this is not a database, just some text that is long enough",
        )
        .unwrap();
        let err = load(&path).unwrap_err();
        assert!(matches!(err, LoadError::NotSqlite { .. }), "{err}");
        assert!(
            err.to_string().contains("not a readable SQLite database"),
            "{err}"
        );
    }

    #[test]
    fn a_database_without_the_table() {
        let (_dir, path) = scratch("no-table");
        create(&path, "CREATE TABLE other (x);");
        let err = load(&path).unwrap_err();
        assert!(matches!(err, LoadError::Schema { .. }), "{err}");
        assert!(err.to_string().contains("no such table: price"), "{err}");
    }

    #[test]
    fn a_table_missing_a_column() {
        let (_dir, path) = scratch("no-column");
        create(
            &path,
            "CREATE TABLE price (id INTEGER PRIMARY KEY, exchange, symbol, day);",
        );
        let err = load(&path).unwrap_err();
        assert!(err.to_string().contains("no such column"), "{err}");
    }

    #[test]
    fn a_text_price_is_refused_with_its_row() {
        let (_dir, path) = scratch("text-cell");
        create(
            &path,
            &format!(
                "{SCHEMA} INSERT INTO price VALUES (9, 'kraken', 'btc', 'n/a', 1, 1, 1, 1, '2020-01-01');"
            ),
        );
        let err = load(&path).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("row id 9: open holds TEXT, expected a number or NULL"),
            "{err}"
        );
    }
}

/// The original's table, as its own database file declares it.
const ORIGINAL_SCHEMA: &str = "CREATE TABLE price (
  id integer primary key autoincrement,
  exchange text not null,
  symbol text not null,
  open DECIMAL(10, 4),
  high DECIMAL(10, 4),
  low DECIMAL(10, 4),
  close DECIMAL(10, 4),
  volume DECIMAL(10, 4),
  day DATE not null
)";

/// Why a database could not be written.
#[derive(Debug, thiserror::Error)]
#[error("{}: cannot write the database", path.display())]
pub struct WriteError {
    /// The file being written.
    pub path: PathBuf,
    /// SQLite's reason.
    #[source]
    pub source: rusqlite::Error,
}

/// How many rows go in one transaction: large, so that a commit's cost
/// (and the journal's) is paid rarely; bounded, so that memory is too.
const ROWS_PER_TRANSACTION: u64 = 200_000;

/// The index that serving reads a price and a range through: every key's
/// rows in day order, the lowest id first (the row the original serves).
const KEY_INDEX: &str = "CREATE INDEX price_key ON price (exchange, symbol, day, id)";

/// The names `/exchanges` and `/symbols` list, kept beside the original's
/// table so that serving need not scan it; the original ignores them.
const NAME_TABLES: &str = "CREATE TABLE crypto_db_exchanges (name TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE crypto_db_symbols (name TEXT PRIMARY KEY) WITHOUT ROWID;";

/// A new SQLite file of the original's schema, written a row at a time:
/// memory stays flat whatever the number of rows (rows go to the file in
/// transactions of 200,000 rows; only the distinct names are
/// kept, for the name tables). The file carries what serving needs: the
/// original's `price` table (ids 1, 2, ... in the order given, so the
/// original can still read it), an index on (exchange, symbol, day, id),
/// and the lists of exchanges and symbols.
///
/// An INTEGER number is stored as an integer, a REAL one as a float; the
/// `DECIMAL` columns keep an integral REAL as an INTEGER (`600.0` is read
/// back as `600`), as in the original's own file.
///
/// # Examples
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("mine.db");
/// let mut writer = prices::sqlite::Writer::create(&path)?;
/// let day = prices::Day::parse("2020-01-01")?;
/// writer.insert(prices::Price::new("kraken", "btc", day, [None; 5]))?;
/// let report = writer.finish()?;
/// assert_eq!((report.rows, report.duplicates), (1, 0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Writer {
    connection: Connection,
    path: PathBuf,
    rows: u64,
    exchanges: std::collections::BTreeSet<String>,
    symbols: std::collections::BTreeSet<String>,
}

/// What a [`Writer`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// Rows written.
    pub rows: u64,
    /// Rows whose key (exchange, symbol, day) an earlier row already has:
    /// the original has no unique key and serves the lowest id, as
    /// `crypto_db` does.
    pub duplicates: u64,
    /// Distinct exchanges.
    pub exchanges: usize,
    /// Distinct symbols.
    pub symbols: usize,
}

impl Writer {
    /// Creates the file at `path` (which must not exist) with the
    /// original's table, and starts the first transaction.
    ///
    /// # Errors
    ///
    /// [`WriteError`] if the file cannot be created.
    pub fn create(path: &Path) -> Result<Writer, WriteError> {
        let fail = |source| WriteError {
            path: path.to_owned(),
            source,
        };
        let connection = Connection::open(path).map_err(fail)?;
        // The file is a temporary one until the caller renames it: a
        // crash leaves it to be removed, never to be read, so neither a
        // journal nor syncs buy anything. A 16 MiB page cache also bounds
        // the index build's sorting in memory (the rest spills to a file).
        connection
            .execute_batch(
                "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; \
                 PRAGMA cache_size = -16384; PRAGMA temp_store = FILE;",
            )
            .map_err(fail)?;
        connection.execute_batch(ORIGINAL_SCHEMA).map_err(fail)?;
        connection.execute_batch("BEGIN").map_err(fail)?;
        Ok(Writer {
            connection,
            path: path.to_owned(),
            rows: 0,
            exchanges: Default::default(),
            symbols: Default::default(),
        })
    }

    fn fail(&self) -> impl Fn(rusqlite::Error) -> WriteError + '_ {
        |source| WriteError {
            path: self.path.clone(),
            source,
        }
    }

    /// Appends one row.
    ///
    /// # Errors
    ///
    /// [`WriteError`] if it cannot be written (a full disk).
    pub fn insert(&mut self, price: Price) -> Result<(), WriteError> {
        self.insert_all(std::iter::once(price), |_| {})
    }

    /// Appends every price of `prices`, in order, calling `progress` with
    /// the rows written so far every 65,536 rows. One prepared statement
    /// serves them all (and is kept for the next call).
    ///
    /// # Errors
    ///
    /// [`WriteError`] if a row cannot be written (a full disk).
    pub fn insert_all(
        &mut self,
        prices: impl Iterator<Item = Price>,
        mut progress: impl FnMut(u64),
    ) -> Result<(), WriteError> {
        let Writer {
            connection,
            path,
            rows,
            exchanges,
            symbols,
        } = self;
        let fail = |source| WriteError {
            path: path.clone(),
            source,
        };
        // Cached: `insert`, a row at a time, finds it prepared.
        let mut insert = connection
            .prepare_cached(
                "INSERT INTO price (exchange, symbol, open, high, low, close, volume, day) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .map_err(fail)?;
        for price in prices {
            let [open, high, low, close, volume] = price.numbers().map(|number| match number {
                None => rusqlite::types::Value::Null,
                Some(Number::Integer(n)) => rusqlite::types::Value::Integer(n),
                Some(Number::Real(x)) => rusqlite::types::Value::Real(x),
            });
            insert
                .execute(rusqlite::params![
                    price.exchange,
                    price.symbol,
                    open,
                    high,
                    low,
                    close,
                    volume,
                    price.day.to_string()
                ])
                .map_err(fail)?;
            if !exchanges.contains(&price.exchange) {
                exchanges.insert(price.exchange);
            }
            if !symbols.contains(&price.symbol) {
                symbols.insert(price.symbol);
            }
            *rows += 1;
            if rows.is_multiple_of(ROWS_PER_TRANSACTION) {
                connection.execute_batch("COMMIT; BEGIN").map_err(fail)?;
            }
            if rows.is_multiple_of(1 << 16) {
                progress(*rows);
            }
        }
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Commits the last rows, builds the index and the name tables, and
    /// counts the duplicated keys (through the index: no memory per key).
    ///
    /// # Errors
    ///
    /// [`WriteError`] if any of it cannot be written.
    pub fn finish(self) -> Result<ImportReport, WriteError> {
        let fail = self.fail();
        self.connection.execute_batch("COMMIT").map_err(&fail)?;
        self.connection.execute_batch(KEY_INDEX).map_err(&fail)?;
        self.connection.execute_batch(NAME_TABLES).map_err(&fail)?;
        for (table, names) in [
            ("crypto_db_exchanges", &self.exchanges),
            ("crypto_db_symbols", &self.symbols),
        ] {
            let mut insert = self
                .connection
                .prepare(&format!("INSERT INTO {table} (name) VALUES (?1)"))
                .map_err(&fail)?;
            for name in names {
                insert.execute([name]).map_err(&fail)?;
            }
        }
        let distinct_keys: i64 = self
            .connection
            .query_row(
                "SELECT COUNT(*) FROM (SELECT 1 FROM price GROUP BY exchange, symbol, day)",
                [],
                |row| row.get(0),
            )
            .map_err(&fail)?;
        Ok(ImportReport {
            rows: self.rows,
            duplicates: self.rows - u64::try_from(distinct_keys).unwrap_or(0),
            exchanges: self.exchanges.len(),
            symbols: self.symbols.len(),
        })
    }
}
