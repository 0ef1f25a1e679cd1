//! [`SqliteStore`]: prices answered from a database file per request,
//! through the index `crypto_db import` writes, so that serving a file
//! starts at once and stays small whatever its size.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use crate::model::{Number, Price};
use crate::source::{LookupError, PriceLookup, RangeError};
use crate::sqlite::LoadError;
use crate::table::UnknownName;
use crate::{Day, pyjson};

/// The columns every query reads, in this order.
const COLUMNS: &str = "exchange, symbol, open, high, low, close, volume, day";

// The parameters are written `+?N`: compared bare with an indexed column,
// a parameter makes SQLite (built with STAT4) prepare the statement again
// whenever its value changes, on every request, in case the plan should
// change with it; `+` keeps the same plan (the index, see the tests) and
// lets the cached statement be reused.

/// The row the original serves for a key: one seek of the index.
const PRICE_QUERY: &str = "SELECT exchange, symbol, open, high, low, close, volume, day FROM price \
     WHERE exchange = +?1 AND symbol = +?2 AND day = +?3 ORDER BY id LIMIT 1";

/// A key's rows in day order, the lowest id first: one scan of the index.
const RANGE_QUERY: &str = "SELECT exchange, symbol, open, high, low, close, volume, day FROM price \
     WHERE exchange = +?1 AND symbol = +?2 AND day >= +?3 AND day <= +?4 ORDER BY day, id";

/// A database written by `crypto_db import`, read per request through its
/// index on (exchange, symbol, day, id): a price is one index seek, a range
/// one index scan. Connections are read-only (the file is never written),
/// one per thread that needs one at a time, each keeping its prepared
/// statements.
pub struct SqliteStore {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    exchanges: BTreeSet<String>,
    symbols: BTreeSet<String>,
}

impl SqliteStore {
    /// Opens `path` for serving, if it carries what serving needs (the
    /// index and the lists of names that `import` writes); `Ok(None)` for
    /// a database without them, such as the original's own file, which
    /// the caller may load into memory instead.
    ///
    /// # Errors
    ///
    /// [`LoadError`] if the file is missing, not SQLite, or has no `price`
    /// table with the needed columns.
    pub fn open(path: &Path) -> Result<Option<SqliteStore>, LoadError> {
        if !path.is_file() {
            return Err(LoadError::Missing {
                path: path.to_owned(),
            });
        }
        let connection = connect(path).map_err(|source| LoadError::NotSqlite {
            path: path.to_owned(),
            source,
        })?;
        let has = |kind: &str, name: &str| -> Result<bool, LoadError> {
            connection
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE type = ?1 AND name = ?2",
                    [kind, name],
                    |row| row.get::<_, i64>(0),
                )
                .map(|count| count > 0)
                .map_err(|source| LoadError::NotSqlite {
                    path: path.to_owned(),
                    source,
                })
        };
        if !(has("index", "price_key")?
            && has("table", "crypto_db_exchanges")?
            && has("table", "crypto_db_symbols")?)
        {
            return Ok(None);
        }
        // The columns are there (a query that names them prepares).
        connection
            .prepare(&format!("SELECT {COLUMNS} FROM price LIMIT 0"))
            .map_err(|source| LoadError::Schema {
                path: path.to_owned(),
                source,
            })?;
        let names = |table: &str| -> Result<BTreeSet<String>, LoadError> {
            let fail = |source| LoadError::Schema {
                path: path.to_owned(),
                source,
            };
            let mut statement = connection
                .prepare(&format!("SELECT name FROM {table}"))
                .map_err(fail)?;
            let rows = statement
                .query_map([], |row| row.get::<_, String>(0))
                .map_err(fail)?;
            rows.collect::<Result<_, _>>().map_err(fail)
        };
        let (exchanges, symbols) = (names("crypto_db_exchanges")?, names("crypto_db_symbols")?);
        Ok(Some(SqliteStore {
            path: path.to_owned(),
            idle: Mutex::new(vec![connection]),
            exchanges,
            symbols,
        }))
    }

    /// Runs `query` on a connection of its own (an idle one, or a new one),
    /// which goes back to the idle ones afterwards.
    fn with_connection<T>(
        &self,
        query: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, LookupError> {
        let connection = match self.idle.lock().pop() {
            Some(connection) => connection,
            None => connect(&self.path).map_err(|error| LookupError(Box::new(error)))?,
        };
        let result = query(&connection).map_err(|error| LookupError(Box::new(error)));
        self.idle.lock().push(connection);
        result
    }
}

/// A read-only connection, statements cached.
fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    // `immutable`: no file lock and no check for changes on every query
    // (two system calls each). The server never writes the file, and an
    // import writes a new file and renames it over the old, which leaves
    // the open one as it was; only a file changed in place under a running
    // server could mislead it.
    let connection = match path.to_str() {
        Some(text) => {
            let escaped = text
                .replace('%', "%25")
                .replace('?', "%3F")
                .replace('#', "%23");
            Connection::open_with_flags(
                format!("file:{escaped}?immutable=1"),
                flags | OpenFlags::SQLITE_OPEN_URI,
            )?
        }
        None => Connection::open_with_flags(path, flags)?,
    };
    // Any read makes SQLite look at the header: "not a database" here.
    connection.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))?;
    connection.set_prepared_statement_cache_capacity(8);
    // Pages are read through a memory map of the whole file (the OS's
    // cache, shared by every connection and not the server's memory)
    // rather than copied by a system call into each connection's cache:
    // with requests spread over a file far larger than any cache, 2.7x the
    // requests a second (bench/db.sh). The bundled SQLite's limit is
    // raised to 1 TiB in .cargo/config.toml; the pragma asks for all of it.
    connection.execute_batch(
        "PRAGMA cache_size = -2048; PRAGMA query_only = ON; PRAGMA mmap_size = 1099511627776;",
    )?;
    Ok(connection)
}

/// A row of [`COLUMNS`] as a price; a cell of the wrong type is an error.
fn price_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<Price> {
    let text = |column: usize| -> rusqlite::Result<String> { row.get(column) };
    let number = |column: usize| -> rusqlite::Result<Option<Number>> {
        match row.get_ref(column)? {
            ValueRef::Null => Ok(None),
            ValueRef::Integer(n) => Ok(Some(Number::Integer(n))),
            ValueRef::Real(x) => Ok(Some(Number::Real(x))),
            other => Err(rusqlite::Error::InvalidColumnType(
                column,
                "a number".to_owned(),
                other.data_type(),
            )),
        }
    };
    let day = text(7)?;
    let day = Day::parse(&day).map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(7, rusqlite::types::Type::Text, Box::new(error))
    })?;
    Ok(Price::new(
        text(0)?,
        text(1)?,
        day,
        [number(2)?, number(3)?, number(4)?, number(5)?, number(6)?],
    ))
}

impl PriceLookup for SqliteStore {
    fn exchanges_json(&self) -> String {
        let mut json = String::new();
        pyjson::write_str_list(&mut json, self.exchanges.iter().map(String::as_str));
        json
    }

    fn symbols_json(&self) -> String {
        let mut json = String::new();
        pyjson::write_str_list(&mut json, self.symbols.iter().map(String::as_str));
        json
    }

    fn price_json(
        &self,
        exchange: &str,
        symbol: &str,
        day: &str,
    ) -> Result<Option<String>, LookupError> {
        self.with_connection(|connection| {
            let mut statement = connection.prepare_cached(PRICE_QUERY)?;
            let mut rows = statement.query([exchange, symbol, day])?;
            rows.next()?.map(price_of).transpose()
        })
        .map(|price| price.map(|price| price.to_json()))
    }

    fn range(
        &self,
        exchange: &str,
        symbol: &str,
        first: Option<&str>,
        last: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Price>, RangeError> {
        if !self.exchanges.contains(exchange) {
            return Err(UnknownName::Exchange(exchange.to_owned()).into());
        }
        if !self.symbols.contains(symbol) {
            return Err(UnknownName::Symbol(symbol.to_owned()).into());
        }
        // Days compare as text; U+10FFFF sorts after any day.
        let (first, last) = (first.unwrap_or(""), last.unwrap_or("\u{10FFFF}"));
        Ok(self.with_connection(|connection| {
            let mut statement = connection.prepare_cached(RANGE_QUERY)?;
            let mut rows = statement.query([exchange, symbol, first, last])?;
            let mut prices: Vec<Price> = Vec::new();
            while prices.len() < limit {
                let Some(row) = rows.next()? else { break };
                let price = price_of(row)?;
                // The first row of each day: the one the original serves.
                if prices
                    .last()
                    .is_none_or(|previous| previous.day != price.day)
                {
                    prices.push(price);
                }
            }
            Ok(prices)
        })?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store over a file with the import's schema, and a few rows.
    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let mut writer = crate::sqlite::Writer::create(&path).unwrap();
        let day = |text| Day::parse(text).unwrap();
        let rows = [
            Price::new(
                "kraken",
                "btc",
                day("2020-01-01"),
                [Some(Number::Integer(1)); 5],
            ),
            Price::new(
                "kraken",
                "btc",
                day("2020-01-01"),
                [Some(Number::Integer(9)); 5],
            ),
            Price::new(
                "kraken",
                "btc",
                day("2020-01-02"),
                [Some(Number::Real(2.5)); 5],
            ),
            Price::new("kraken", "eth", day("2020-01-01"), [None; 5]),
        ];
        writer.insert_all(rows.into_iter(), |_| {}).unwrap();
        writer.finish().unwrap();
        let store = SqliteStore::open(&path)
            .unwrap()
            .expect("the import's index");
        (dir, store)
    }

    #[test]
    fn both_queries_read_the_index() {
        let (_dir, store) = store();
        for query in [PRICE_QUERY, RANGE_QUERY] {
            // The plan for constants written as the parameters are (`+`).
            let literal = (1..=4).fold(query.to_owned(), |query, n| {
                query.replace(&format!("?{n}"), "'x'")
            });
            let plan: String = store
                .with_connection(|connection| {
                    connection.query_row(&format!("EXPLAIN QUERY PLAN {literal}"), [], |row| {
                        row.get(3)
                    })
                })
                .unwrap();
            assert!(plan.contains("USING INDEX price_key"), "{query}: {plan}");
        }
    }

    #[test]
    fn files_past_2_gib_are_mapped_whole() {
        // The bundled SQLite maps 2 GiB at most unless built with the
        // workspace's LIBSQLITE3_FLAGS (.cargo/config.toml); the pragma
        // answers the size it settled for.
        let (_dir, store) = store();
        let mapped: i64 = store
            .with_connection(|connection| {
                connection.query_row("PRAGMA mmap_size", [], |row| row.get(0))
            })
            .unwrap();
        assert_eq!(mapped, 1 << 40);
    }

    #[test]
    fn a_key_answers_its_first_row_and_a_range_the_first_of_each_day() {
        let (_dir, store) = store();
        let first = store
            .price_json("kraken", "btc", "2020-01-01")
            .unwrap()
            .unwrap();
        assert!(first.contains(r#""open": 1,"#), "{first}");
        assert_eq!(
            store.price_json("kraken", "btc", "2020-01-03").unwrap(),
            None
        );
        let range = store.range("kraken", "btc", None, None, 10).unwrap();
        assert_eq!(range.len(), 2);
        assert_eq!(range[0].open, Some(Number::Integer(1)));
        assert_eq!(
            store
                .range("kraken", "btc", Some("2020-01-02"), None, 10)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            store.range("kraken", "btc", None, None, 1).unwrap().len(),
            1
        );
        assert!(matches!(
            store.range("bitstamp", "btc", None, None, 10),
            Err(RangeError::Unknown(UnknownName::Exchange(_)))
        ));
        assert_eq!(store.exchanges_json(), r#"["kraken"]"#);
        assert_eq!(store.symbols_json(), r#"["btc", "eth"]"#);
    }

    #[test]
    fn a_database_without_the_index_is_not_a_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plain.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch(
                "CREATE TABLE price (id INTEGER PRIMARY KEY, exchange, symbol, open, high, low, close, volume, day);",
            )
            .unwrap();
        assert!(SqliteStore::open(&path).unwrap().is_none());
    }
}
