//! The in-memory price table: every row, indexed by (exchange, symbol, day).
//!
//! The original opens SQLite and scans the whole, unindexed table on every
//! request (about 13 ms each). We load the rows once at start and answer
//! from a hash index, so a request costs a few hash look-ups and never
//! touches SQLite.
//!
//! Strings are interned: the 29,214 rows share 12 exchange names, 3 symbols
//! and about 2,800 days, so a row stores three small ids instead of three
//! heap strings. That keeps the whole table around 3 MB.

use std::collections::HashMap;

use crate::model::{Number, PriceView};
use crate::pyjson;

/// One row as a source (SQLite, the embedded dump) delivers it: its
/// text as stored, unchecked, because the original serves whatever its
/// database holds (a day column of `"soon"` included), and so must we.
/// A checked, owned price is a [`Price`](crate::Price).
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRow {
    /// The row's `id` (its SQLite rowid): among rows with the same key, the
    /// lowest id is the one served, as the original's table scan does.
    pub id: i64,
    /// The exchange's name.
    pub exchange: String,
    /// The coin's symbol.
    pub symbol: String,
    /// The day column's text.
    pub day: String,
    /// open, high, low, close, volume.
    pub numbers: [Option<Number>; 5],
}

impl SourceRow {
    /// Borrows the row as a [`PriceView`].
    pub fn view(&self) -> PriceView<'_> {
        PriceView {
            exchange: &self.exchange,
            symbol: &self.symbol,
            numbers: self.numbers,
            day: &self.day,
        }
    }
}

type NameId = u32;

#[derive(Debug)]
struct StoredRow {
    id: i64,
    numbers: PackedNumbers,
    exchange: NameId,
    symbol: NameId,
    day: NameId,
}

/// Five optional numbers in 42 bytes instead of 80: the payloads side by
/// side, and two bits per cell saying NULL, INTEGER or REAL. With 29,214
/// rows that is over a megabyte less to keep resident.
#[derive(Debug, Clone, Copy)]
struct PackedNumbers {
    payloads: [u64; 5],
    kinds: u16,
}

impl PackedNumbers {
    const NULL: u16 = 0;
    const INTEGER: u16 = 1;
    const REAL: u16 = 2;

    fn pack(numbers: [Option<Number>; 5]) -> PackedNumbers {
        let mut packed = PackedNumbers {
            payloads: [0; 5],
            kinds: 0,
        };
        for (i, number) in numbers.into_iter().enumerate() {
            let (kind, payload) = match number {
                None => (Self::NULL, 0),
                Some(Number::Integer(n)) => (Self::INTEGER, n as u64),
                Some(Number::Real(x)) => (Self::REAL, x.to_bits()),
            };
            packed.payloads[i] = payload;
            packed.kinds |= kind << (2 * i);
        }
        packed
    }

    fn unpack(self) -> [Option<Number>; 5] {
        std::array::from_fn(|i| match (self.kinds >> (2 * i)) & 0b11 {
            Self::INTEGER => Some(Number::Integer(self.payloads[i] as i64)),
            Self::REAL => Some(Number::Real(f64::from_bits(self.payloads[i]))),
            _ => None,
        })
    }
}

/// All price rows, indexed for exact (exchange, symbol, day) look-ups.
///
/// # Examples
///
/// ```
/// let table = prices::PriceTable::embedded()?;
/// let row = table.get("bitstamp", "btc", "2020-04-01").unwrap();
/// assert_eq!(row.numbers[3].unwrap().to_string(), "6421.14");
/// assert!(table.get("bitstamp", "btc", "1999-01-01").is_none());
/// assert!(table.exchanges_json().starts_with(r#"["bitfinex", "bitstamp", "#));
/// # Ok::<(), prices::dump::DumpError>(())
/// ```
#[derive(Debug)]
pub struct PriceTable {
    names: Vec<Box<str>>,
    name_ids: HashMap<Box<str>, NameId>,
    rows: Vec<StoredRow>,
    /// Key -> position in `rows` of the lowest-id row with that key.
    index: HashMap<[NameId; 3], u32>,
    /// (exchange, symbol) -> the positions of the rows `index` serves for
    /// that pair, in day order: what a range query slices.
    series: HashMap<[NameId; 2], Vec<u32>>,
    /// The names that are exchanges, and those that are symbols (names
    /// are interned together with days, so an id alone does not say).
    exchange_ids: Vec<NameId>,
    symbol_ids: Vec<NameId>,
    /// `json.dumps` of the sorted distinct exchanges, built once: the list
    /// never changes while serving.
    exchanges_json: String,
    symbols_json: String,
}

/// Collects rows one by one, without an owned copy of each row's strings,
/// then indexes them ([`TableBuilder::finish`]).
///
/// # Examples
///
/// ```
/// use prices::{Number, TableBuilder};
///
/// let mut builder = TableBuilder::default();
/// builder.push(1, "kraken", "btc", "2020-01-01", [Some(Number::Integer(600)), None, None, None, None]);
/// let table = builder.finish();
/// assert_eq!(table.get("kraken", "btc", "2020-01-01").unwrap().numbers[0], Some(Number::Integer(600)));
/// ```
#[derive(Debug, Default)]
pub struct TableBuilder {
    names: Vec<Box<str>>,
    name_ids: HashMap<Box<str>, NameId>,
    rows: Vec<StoredRow>,
}

impl TableBuilder {
    /// An empty builder with room for `rows` rows.
    pub fn with_capacity(rows: usize) -> TableBuilder {
        TableBuilder {
            rows: Vec::with_capacity(rows),
            ..TableBuilder::default()
        }
    }

    /// Adds one row, in any order of ids.
    ///
    /// # Panics
    ///
    /// Panics past `u32::MAX` distinct names, far beyond what fits in
    /// memory as rows anyway.
    pub fn push(
        &mut self,
        id: i64,
        exchange: &str,
        symbol: &str,
        day: &str,
        numbers: [Option<Number>; 5],
    ) {
        let row = StoredRow {
            id,
            numbers: PackedNumbers::pack(numbers),
            exchange: self.intern(exchange),
            symbol: self.intern(symbol),
            day: self.intern(day),
        };
        self.rows.push(row);
    }

    fn intern(&mut self, name: &str) -> NameId {
        if let Some(&id) = self.name_ids.get(name) {
            return id;
        }
        let id = NameId::try_from(self.names.len()).expect("fewer than 2^32 names");
        self.names.push(name.into());
        self.name_ids.insert(name.into(), id);
        id
    }

    /// Indexes the rows into a [`PriceTable`].
    ///
    /// # Panics
    ///
    /// Panics past `u32::MAX` rows.
    pub fn finish(self) -> PriceTable {
        let TableBuilder {
            names,
            name_ids,
            mut rows,
        } = self;
        // Stable sort: equal ids (impossible from SQLite) keep source order.
        rows.sort_by_key(|row| row.id);
        rows.shrink_to_fit();
        let mut index = HashMap::with_capacity(rows.len());
        for (position, row) in rows.iter().enumerate() {
            let position = u32::try_from(position).expect("fewer than 2^32 rows");
            // The first row with a key wins: rows are in id order, so that is
            // the lowest id, the row the original's table scan returns.
            index
                .entry([row.exchange, row.symbol, row.day])
                .or_insert(position);
        }
        index.shrink_to_fit();
        let mut series: HashMap<[NameId; 2], Vec<u32>> = HashMap::new();
        for (&[exchange, symbol, _], &position) in &index {
            series.entry([exchange, symbol]).or_default().push(position);
        }
        for positions in series.values_mut() {
            positions.sort_unstable_by_key(|&p| &*names[rows[p as usize].day as usize]);
        }
        let mut exchange_ids: Vec<NameId> = rows.iter().map(|row| row.exchange).collect();
        exchange_ids.sort_unstable();
        exchange_ids.dedup();
        let mut symbol_ids: Vec<NameId> = rows.iter().map(|row| row.symbol).collect();
        symbol_ids.sort_unstable();
        symbol_ids.dedup();
        let mut table = PriceTable {
            names,
            name_ids,
            rows,
            index,
            series,
            exchange_ids,
            symbol_ids,
            exchanges_json: String::new(),
            symbols_json: String::new(),
        };
        table.exchanges_json = table.sorted_names_json(|row| row.exchange);
        table.symbols_json = table.sorted_names_json(|row| row.symbol);
        table
    }
}

impl PriceTable {
    /// Builds the table from owned rows in any order.
    pub fn from_rows(rows: impl IntoIterator<Item = SourceRow>) -> PriceTable {
        let rows = rows.into_iter();
        let mut builder = TableBuilder::with_capacity(rows.size_hint().0);
        for row in rows {
            builder.push(row.id, &row.exchange, &row.symbol, &row.day, row.numbers);
        }
        builder.finish()
    }

    fn sorted_names_json(&self, column: impl Fn(&StoredRow) -> NameId) -> String {
        let mut ids: Vec<NameId> = self.rows.iter().map(column).collect();
        ids.sort_unstable();
        ids.dedup();
        // SQLite's default BINARY collation compares UTF-8 bytes, which is
        // exactly `str`'s `Ord`.
        let mut names: Vec<&str> = ids.iter().map(|&id| &*self.names[id as usize]).collect();
        names.sort_unstable();
        let mut json = String::new();
        pyjson::write_str_list(&mut json, names);
        json
    }

    /// The row the original would serve for this exact key, or `None`.
    ///
    /// Matching is exact string equality, like the original's SQL `=`.
    pub fn get(&self, exchange: &str, symbol: &str, day: &str) -> Option<PriceView<'_>> {
        let key = [
            *self.name_ids.get(exchange)?,
            *self.name_ids.get(symbol)?,
            *self.name_ids.get(day)?,
        ];
        let position = *self.index.get(&key)?;
        Some(self.view(&self.rows[position as usize]))
    }

    /// The rows of one exchange and symbol whose day is within `first` and
    /// `last` (inclusive, either open), in day order, each the row
    /// [`get`](PriceTable::get) serves for its key. Days compare as text,
    /// which for `YYYY-MM-DD` is calendar order.
    ///
    /// # Errors
    ///
    /// [`UnknownName`] when the exchange or the symbol is not in the table
    /// (a pair of known names with no rows is an empty range).
    ///
    /// # Examples
    ///
    /// ```
    /// let table = prices::PriceTable::embedded()?;
    /// let week = table.range("bitstamp", "btc", Some("2020-04-01"), Some("2020-04-07"))?;
    /// assert_eq!(week.len(), 7);
    /// assert_eq!(week.clone().next().unwrap().day, "2020-04-01");
    /// assert!(table.range("nasdaq", "btc", None, None).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn range<'a>(
        &'a self,
        exchange: &str,
        symbol: &str,
        first: Option<&str>,
        last: Option<&str>,
    ) -> Result<PriceRange<'a>, UnknownName> {
        let known = |name: &str, ids: &[NameId]| {
            self.name_ids
                .get(name)
                .copied()
                .filter(|id| ids.binary_search(id).is_ok())
        };
        let exchange_id = known(exchange, &self.exchange_ids)
            .ok_or_else(|| UnknownName::Exchange(exchange.to_owned()))?;
        let symbol_id = known(symbol, &self.symbol_ids)
            .ok_or_else(|| UnknownName::Symbol(symbol.to_owned()))?;
        let positions = self
            .series
            .get(&[exchange_id, symbol_id])
            .map_or(&[][..], Vec::as_slice);
        let day_of = |&position: &u32| &*self.names[self.rows[position as usize].day as usize];
        let from = first.map_or(0, |first| positions.partition_point(|p| day_of(p) < first));
        let to = last.map_or(positions.len(), |last| {
            positions.partition_point(|p| day_of(p) <= last)
        });
        Ok(PriceRange {
            table: self,
            positions: positions[from..to.max(from)].iter(),
        })
    }

    fn view<'a>(&'a self, row: &StoredRow) -> PriceView<'a> {
        PriceView {
            exchange: &self.names[row.exchange as usize],
            symbol: &self.names[row.symbol as usize],
            numbers: row.numbers.unpack(),
            day: &self.names[row.day as usize],
        }
    }

    /// Every row, duplicates included, in id order, with its id.
    pub fn rows(&self) -> impl ExactSizeIterator<Item = (i64, PriceView<'_>)> + '_ {
        self.rows.iter().map(|row| (row.id, self.view(row)))
    }

    /// How many rows the table holds, duplicates included.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the table has no rows at all.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// How many distinct (exchange, symbol, day) keys there are.
    pub fn key_count(&self) -> usize {
        self.index.len()
    }

    /// The body of `GET /exchanges`: the distinct exchanges, ascending.
    pub fn exchanges_json(&self) -> &str {
        &self.exchanges_json
    }

    /// The body of `GET /symbols`: the distinct symbols, ascending.
    pub fn symbols_json(&self) -> &str {
        &self.symbols_json
    }
}

/// The rows of a [`PriceTable::range`], in day order.
#[derive(Debug, Clone)]
pub struct PriceRange<'a> {
    table: &'a PriceTable,
    positions: std::slice::Iter<'a, u32>,
}

impl<'a> Iterator for PriceRange<'a> {
    type Item = PriceView<'a>;

    fn next(&mut self) -> Option<PriceView<'a>> {
        let &position = self.positions.next()?;
        Some(self.table.view(&self.table.rows[position as usize]))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.positions.size_hint()
    }
}

impl ExactSizeIterator for PriceRange<'_> {}

/// A range asked for a name the table does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnknownName {
    /// No such exchange.
    #[error("no exchange {0:?} (see /exchanges)")]
    Exchange(String),
    /// No such symbol.
    #[error("no symbol {0:?} (see /symbols)")]
    Symbol(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, exchange: &str, day: &str, close: Number) -> SourceRow {
        SourceRow {
            id,
            exchange: exchange.into(),
            symbol: "btc".into(),
            numbers: [None, None, None, Some(close), None],
            day: day.into(),
        }
    }

    #[test]
    fn the_lowest_id_wins_whatever_the_input_order() {
        let table = PriceTable::from_rows([
            row(7, "kraken", "2020-01-01", Number::Real(2.0)),
            row(3, "kraken", "2020-01-01", Number::Integer(1)),
        ]);
        let hit = table.get("kraken", "btc", "2020-01-01").unwrap();
        assert_eq!(hit.numbers[3], Some(Number::Integer(1)));
        assert_eq!(table.len(), 2);
        assert_eq!(table.key_count(), 1);
        let ids: Vec<i64> = table.rows().map(|(id, _)| id).collect();
        assert_eq!(ids, [3, 7]);
    }

    #[test]
    fn lists_are_distinct_and_sorted_bytewise() {
        let table = PriceTable::from_rows([
            row(1, "kraken", "2020-01-01", Number::Integer(1)),
            row(2, "Zeta", "2020-01-01", Number::Integer(1)),
            row(3, "bitfinex", "2020-01-02", Number::Integer(1)),
            row(4, "kraken", "2020-01-02", Number::Integer(1)),
        ]);
        // Upper case sorts before lower case in SQLite's BINARY collation.
        assert_eq!(table.exchanges_json(), r#"["Zeta", "bitfinex", "kraken"]"#);
        assert_eq!(table.symbols_json(), r#"["btc"]"#);
    }

    #[test]
    fn names_from_other_columns_do_not_match() {
        // "2020-01-01" is interned (as a day) but is not an exchange.
        let table = PriceTable::from_rows([row(1, "kraken", "2020-01-01", Number::Integer(1))]);
        assert!(table.get("2020-01-01", "btc", "2020-01-01").is_none());
        assert!(table.get("kraken", "btc", "kraken").is_none());
        assert!(table.get("Kraken", "btc", "2020-01-01").is_none());
    }

    #[test]
    fn an_empty_table() {
        let table = PriceTable::from_rows([]);
        assert!(table.is_empty());
        assert_eq!(table.exchanges_json(), "[]");
        assert!(table.get("a", "b", "c").is_none());
    }
}
