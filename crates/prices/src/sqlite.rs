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
    if !path.is_file() {
        return Err(LoadError::Missing {
            path: path.to_owned(),
        });
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
    let mut rows = Vec::new();
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
        rows.push(SourceRow {
            id,
            exchange: text(0)?,
            symbol: text(1)?,
            numbers: [number(2)?, number(3)?, number(4)?, number(5)?, number(6)?],
            day: text(7)?,
        });
    }
    Ok(rows)
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

/// Writes `prices` into a new SQLite file at `path` with the original's
/// schema (ids 1, 2, ... in the given order), which `crypto_db --db` and
/// the original both serve. An INTEGER number is stored as an integer, a
/// REAL one as a float; the `DECIMAL` columns keep an integral REAL as an
/// INTEGER (`600.0` is read back as `600`), as in the original's own file.
///
/// # Errors
///
/// [`WriteError`] if the file cannot be created or written (it may then be
/// left half-written: write to a temporary name and rename).
pub fn write(prices: &[Price], path: &Path) -> Result<(), WriteError> {
    let fail = |source| WriteError {
        path: path.to_owned(),
        source,
    };
    let mut connection = Connection::open(path).map_err(fail)?;
    let transaction = connection.transaction().map_err(fail)?;
    transaction.execute_batch(ORIGINAL_SCHEMA).map_err(fail)?;
    {
        let mut insert = transaction
            .prepare(
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
        }
    }
    transaction.commit().map_err(fail)
}
