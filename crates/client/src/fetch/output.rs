//! Where fetched prices go: CSV, JSON Lines or JSON files, written so that
//! nothing is lost if the run dies, and read back for `--resume`.
//!
//! Every record is appended and flushed as it arrives, so a file cut short
//! by a crash is valid up to its last complete line. When the run ends,
//! the file is rewritten sorted by (exchange, symbol, day), through a
//! temporary file and a rename, so that it is never half-written. A JSON
//! array cannot be valid while it grows, so for `.json` the arriving
//! records go to a journal beside it (`FILE.partial.jsonl`) until the end.
//!
//! One fetch at a time writes a file: a run holds an exclusive lock on
//! `FILE.lock` (with its process id inside, for the message a second run
//! gets) from before its first write to after its last.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::api::WirePrice;
use prices::{Day, KeyOrder, Number, PriceView};

use super::{FetchError, Record, Task};

/// The file formats, chosen by the output's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.csv`: a header, then `exchange,symbol,day,open,high,low,close,volume`.
    Csv,
    /// `.jsonl`: one JSON object per line.
    JsonLines,
    /// `.json`: one JSON array.
    Json,
}

use prices::csv::HEADER as CSV_HEADER;

impl Format {
    /// The format for `path`, from its extension.
    ///
    /// # Errors
    ///
    /// [`FetchError::UnknownExtension`] for any other extension.
    pub fn of(path: &Path) -> Result<Format, FetchError> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("csv") => Ok(Format::Csv),
            Some("jsonl") => Ok(Format::JsonLines),
            Some("json") => Ok(Format::Json),
            _ => Err(FetchError::UnknownExtension {
                path: path.to_owned(),
                expected: "the output's extension must be .csv, .jsonl or .json",
            }),
        }
    }
}

/// One record as a line of its format (no line break).
pub(crate) fn line(format: Format, record: &Record) -> String {
    let numbers: [Option<Number>; 5] = record
        .price
        .as_ref()
        .map_or([None; 5], prices::Price::numbers);
    let mut out = String::with_capacity(160);
    match format {
        Format::Csv => prices::csv::write_row(
            &mut out,
            &record.task.exchange,
            &record.task.symbol,
            &record.task.day.to_string(),
            numbers,
        ),
        // The server's JSON writer, with the key first, so that a sorted
        // file reads in order; a day without a price has null numbers.
        Format::JsonLines | Format::Json => PriceView {
            exchange: &record.task.exchange,
            symbol: &record.task.symbol,
            numbers,
            day: &record.task.day.to_string(),
        }
        .write_json_in(KeyOrder::KeyFirst, &mut out),
    }
    out
}

/// A record read back from a complete line, or why the line is not one.
fn parse_line(format: Format, line: &str) -> Result<Record, String> {
    match format {
        Format::Csv => {
            let fields = prices::csv::split_line(line).ok_or("a quote is left open")?;
            let [exchange, symbol, day, numbers @ ..] = fields.as_slice() else {
                return Err(format!("{} fields, not 8", fields.len()));
            };
            if numbers.len() != 5 {
                return Err(format!("{} fields, not 8", fields.len()));
            }
            let mut parsed = [None; 5];
            for (slot, text) in parsed.iter_mut().zip(numbers) {
                if !text.is_empty() {
                    *slot = Some(
                        Number::parse(text).ok_or_else(|| format!("{text:?} is not a number"))?,
                    );
                }
            }
            let day = Day::parse(day).map_err(|error| error.to_string())?;
            Ok(record(exchange.clone(), symbol.clone(), day, parsed))
        }
        Format::JsonLines | Format::Json => {
            let line: WirePrice = serde_json::from_str(line.trim().trim_end_matches(','))
                .map_err(|error| error.to_string())?;
            Ok(from_wire(line)?)
        }
    }
}

fn from_wire(wire: WirePrice) -> Result<Record, String> {
    let price = wire.into_price().map_err(|error| error.to_string())?;
    Ok(record(
        price.exchange.clone(),
        price.symbol.clone(),
        price.day,
        price.numbers(),
    ))
}

fn record(exchange: String, symbol: String, day: Day, numbers: [Option<Number>; 5]) -> Record {
    // A row with no numbers at all is how "no price that day" is written.
    let price = numbers
        .iter()
        .any(Option::is_some)
        .then(|| prices::Price::new(&*exchange, &*symbol, day, numbers));
    Record {
        task: Task {
            exchange,
            symbol,
            day,
        },
        price,
    }
}

/// What `--resume` found in the output (and, for `.json`, its journal).
#[derive(Debug, Default)]
pub struct Existing {
    /// Every record found, each once, in the order written: those of this
    /// job and any others (a file of 2019 resumed with a job of 2020 keeps
    /// its 2019), so that resuming never deletes a row.
    pub records: Vec<Record>,
    /// The last line of the file the run appends to, when a crash cut it
    /// short (no line break): it is dropped, and the caller says so.
    pub cut_line: Option<(PathBuf, String)>,
    /// How many bytes the complete lines of the file the run appends to
    /// take (the output, or the journal for `.json`); `None` when it must
    /// be written afresh. The run then appends past a cut last line
    /// instead of rewriting the file, which would need room for a second
    /// copy (a full disk would make every resume fail).
    appendable: Option<u64>,
}

/// Reads the records of an earlier run at `path` (and its journal), for
/// `--resume`. Only a last line without its line break is dropped (a
/// crash can cut it anywhere, even inside a number); any other line that
/// is not a record refuses the resume, before anything is written.
///
/// # Errors
///
/// [`FetchError::Read`] if the file exists but cannot be read,
/// [`FetchError::NotRecords`] for a line that is not a record.
pub fn read_existing(path: &Path, format: Format) -> Result<Existing, FetchError> {
    let mut existing = Existing::default();
    let mut sources = vec![(path.to_owned(), format)];
    if format == Format::Json {
        // The finished array, then what a later run appended.
        sources.push((journal_path(path), Format::JsonLines));
        existing.appendable = Some(0);
    }
    let mut seen = std::collections::HashSet::new();
    for (source, format) in sources {
        let text = match fs::read(&source) {
            Ok(bytes) => String::from_utf8(bytes).map_err(|_| FetchError::NotRecords {
                path: source.clone(),
                line: None,
                why: "it is not UTF-8 text".to_owned(),
            })?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => {
                return Err(FetchError::Read {
                    path: source,
                    source: error,
                });
            }
        };
        let body = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let records = if format == Format::Json {
            read_array(&source, body)?
        } else {
            let (records, cut) = read_lines(&source, format, body)?;
            if let Some(cut) = cut {
                existing.cut_line = Some((source.clone(), cut.to_owned()));
            }
            // A CSV is appended to only past its header.
            existing.appendable = match text.rfind('\n') {
                Some(end) => Some(end as u64 + 1),
                None if format == Format::Csv => None,
                None => Some(0),
            };
            records
        };
        // A record written twice (a crash between the final copy and the
        // journal's removal) is kept once; two different answers for one
        // day are both kept: they are the user's to judge.
        for record in records {
            if seen.insert(line(Format::JsonLines, &record)) {
                existing.records.push(record);
            }
        }
    }
    Ok(existing)
}

/// The records of a CSV or JSON Lines file, and its last line if a crash
/// cut it short.
fn read_lines<'a>(
    path: &Path,
    format: Format,
    text: &'a str,
) -> Result<(Vec<Record>, Option<&'a str>), FetchError> {
    let (complete, cut) = match text.rfind('\n') {
        Some(end) => (&text[..=end], &text[end + 1..]),
        None => ("", text),
    };
    let refuse = |number: usize, why: String| FetchError::NotRecords {
        path: path.to_owned(),
        line: Some(number),
        why,
    };
    let mut records = Vec::new();
    for (index, line) in complete.lines().enumerate() {
        if format == Format::Csv && index == 0 {
            if line != CSV_HEADER {
                return Err(refuse(1, format!("the header must be {CSV_HEADER}")));
            }
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        records.push(parse_line(format, line).map_err(|why| refuse(index + 1, why))?);
    }
    // A header cut short is no record lost.
    let header_cut = format == Format::Csv && complete.is_empty() && CSV_HEADER.starts_with(cut);
    let cut = Some(cut).filter(|cut| !cut.trim().is_empty() && !header_cut);
    Ok((records, cut))
}

/// The records of a finished `.json` output: one array.
fn read_array(path: &Path, text: &str) -> Result<Vec<Record>, FetchError> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let wire: Vec<WirePrice> =
        serde_json::from_str(text).map_err(|error| FetchError::NotRecords {
            path: path.to_owned(),
            line: Some(error.line()),
            why: error.to_string(),
        })?;
    wire.into_iter()
        .map(from_wire)
        .collect::<Result<_, _>>()
        .map_err(|why| FetchError::NotRecords {
            path: path.to_owned(),
            line: None,
            why,
        })
}

/// The journal of a `.json` output: records as they arrive, until the end.
pub fn journal_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial.jsonl");
    PathBuf::from(name)
}

/// Appends records as they arrive, each flushed at once.
pub struct Appender {
    file: BufWriter<File>,
    format: Format,
    path: PathBuf,
}

impl Appender {
    /// Starts the output of a run: appends to the file that grows (the
    /// output, or the journal of a `.json`) when `--resume` found it can
    /// be kept as it is, else writes it afresh with the `kept` records
    /// (or none), then appends.
    ///
    /// # Errors
    ///
    /// [`FetchError::Write`] if the file cannot be created or written,
    /// before any request is made.
    pub fn start(path: &Path, format: Format, existing: &Existing) -> Result<Appender, FetchError> {
        let (target, target_format) = match format {
            Format::Json => (journal_path(path), Format::JsonLines),
            other => (path.to_owned(), other),
        };
        let cannot = |source| FetchError::Write {
            path: target.clone(),
            source,
        };
        if let Some(length) = existing.appendable {
            let file = OpenOptions::new()
                .append(true)
                .create(true)
                .open(&target)
                // Past the last complete line: a cut one is dropped.
                .and_then(|file| file.set_len(length).map(|()| file))
                .map_err(cannot)?;
            return Ok(Appender {
                file: BufWriter::new(file),
                format: target_format,
                path: target,
            });
        }
        // Rewrite what is kept, dropping any half-written last line.
        write_atomically(&target, target_format, &existing.records, false).map_err(cannot)?;
        let file = OpenOptions::new()
            .append(true)
            .open(&target)
            .map_err(cannot)?;
        Ok(Appender {
            file: BufWriter::new(file),
            format: target_format,
            path: target,
        })
    }

    /// Appends one record and flushes it to the operating system.
    ///
    /// # Errors
    ///
    /// [`FetchError::Write`] when the write fails (a full disk, say).
    pub fn append(&mut self, record: &Record) -> Result<(), FetchError> {
        let mut text = line(self.format, record);
        text.push('\n');
        self.file
            .write_all(text.as_bytes())
            .and_then(|()| self.file.flush())
            .map_err(|source| FetchError::Write {
                path: self.path.clone(),
                source,
            })
    }
}

/// A run's hold on its output file; released (and the lock file removed)
/// when dropped.
#[derive(Debug)]
pub struct OutputLock {
    file: File,
    path: PathBuf,
}

impl OutputLock {
    /// Takes the lock on `output`, or says which process holds it.
    ///
    /// # Errors
    ///
    /// [`FetchError::Locked`] when another run holds it,
    /// [`FetchError::Write`] when the lock file cannot be made.
    pub fn take(output: &Path) -> Result<OutputLock, FetchError> {
        let mut path = output.as_os_str().to_owned();
        path.push(".lock");
        let path = PathBuf::from(path);
        let cannot = |source| FetchError::Write {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(cannot)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                let holder = fs::read_to_string(&path).ok();
                return Err(FetchError::Locked {
                    path: output.to_owned(),
                    holder: holder.and_then(|pid| pid.trim().parse().ok()),
                });
            }
            Err(fs::TryLockError::Error(error)) => return Err(cannot(error)),
        }
        file.set_len(0)
            .and_then(|()| write!(file, "{}", std::process::id()))
            .map_err(cannot)?;
        Ok(OutputLock { file, path })
    }
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        // Removed while still held, so no run can lock a file that is
        // about to vanish; one that opened it just before then locks an
        // unlinked file, a window of microseconds we accept over leaving
        // a `.lock` beside every output.
        let _ = fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

/// Writes the final, sorted output through a temporary file and a rename,
/// and removes the `.json` journal.
///
/// # Errors
///
/// [`FetchError::Write`] when writing fails; the records appended so far
/// are then still in the file (or the journal).
pub fn finish(path: &Path, format: Format, records: &[Record]) -> Result<(), FetchError> {
    write_atomically(path, format, records, true).map_err(|source| FetchError::Write {
        path: path.to_owned(),
        source,
    })?;
    if format == Format::Json {
        let _ = fs::remove_file(journal_path(path));
    }
    Ok(())
}

fn write_atomically(
    path: &Path,
    format: Format,
    records: &[Record],
    sync: bool,
) -> std::io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    let written =
        write_to(&temporary, format, records, sync).and_then(|()| fs::rename(&temporary, path));
    if written.is_err() {
        // A full disk, or `path` a directory: leave no stray `.tmp` behind.
        let _ = fs::remove_file(&temporary);
    }
    written
}

fn write_to(
    temporary: &Path,
    format: Format,
    records: &[Record],
    sync: bool,
) -> std::io::Result<()> {
    {
        let mut out = BufWriter::new(File::create(temporary)?);
        match format {
            Format::Csv => writeln!(out, "{CSV_HEADER}")?,
            Format::Json => writeln!(out, "[")?,
            Format::JsonLines => {}
        }
        for (i, record) in records.iter().enumerate() {
            let separator = if format == Format::Json && i + 1 < records.len() {
                ","
            } else {
                ""
            };
            writeln!(out, "{}{separator}", line(format, record))?;
        }
        if format == Format::Json {
            writeln!(out, "]")?;
        }
        let file = out
            .into_inner()
            .map_err(std::io::IntoInnerError::into_error)?;
        if sync {
            file.sync_all()?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(price: bool) -> Record {
        let day = Day::parse("2020-03-01").unwrap();
        record(
            "coinbase-pro".into(),
            "btc".into(),
            day,
            if price {
                [
                    Some(Number::Integer(600)),
                    Some(Number::Real(600.0)),
                    Some(Number::Real(8.6e-05)),
                    None,
                    Some(Number::Real(1e16)),
                ]
            } else {
                [None; 5]
            },
        )
    }

    #[test]
    fn every_format_reads_back_what_it_wrote() {
        for format in [Format::Csv, Format::JsonLines, Format::Json] {
            for price in [true, false] {
                let written = sample(price);
                let text = line(format, &written);
                assert_eq!(parse_line(format, &text), Ok(written), "{format:?}: {text}");
            }
        }
        assert_eq!(
            line(Format::Csv, &sample(true)),
            "coinbase-pro,btc,2020-03-01,600,600.0,8.6e-05,,1e+16"
        );
        assert_eq!(
            line(Format::Csv, &sample(false)),
            "coinbase-pro,btc,2020-03-01,,,,,"
        );
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let mut tricky = sample(false);
        tricky.task.exchange = "a,\"b\"".into();
        let text = line(Format::Csv, &tricky);
        assert_eq!(text, "\"a,\"\"b\"\"\",btc,2020-03-01,,,,,");
        assert_eq!(parse_line(Format::Csv, &text), Ok(tricky));
    }

    #[test]
    fn cut_lines_are_not_records() {
        let full = line(Format::Csv, &sample(true));
        assert!(parse_line(Format::Csv, &full[..full.len() - 12]).is_err());
        let json = line(Format::JsonLines, &sample(true));
        assert!(parse_line(Format::JsonLines, &json[..json.len() - 3]).is_err());
        assert!(parse_line(Format::Csv, CSV_HEADER).is_err());
    }

    #[test]
    fn a_line_without_its_line_break_is_dropped_and_named() {
        // Cut inside the last number: the rest still parses, but is wrong.
        let text = "exchange,symbol,day,open,high,low,close,volume\nkraken,btc,2020-03-01,1,2,3,4,5.25\nkraken,btc,2020-03-02,1,2,3,4,5.2";
        let (records, cut) = read_lines(Path::new("x.csv"), Format::Csv, text).unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(cut, Some("kraken,btc,2020-03-02,1,2,3,4,5.2"));
        // A header cut short is no record.
        let (records, cut) = read_lines(Path::new("x.csv"), Format::Csv, "exchange,sym").unwrap();
        assert_eq!((records.len(), cut), (0, None));
    }

    #[test]
    fn a_line_that_is_not_a_record_is_refused_with_its_number() {
        let text = "exchange,symbol,day,open,high,low,close,volume\nkraken,btc,2020-03-01,1,2,3,4,5\nkraken,btc,March 2,1,2,3,4,5\n";
        let error = read_lines(Path::new("x.csv"), Format::Csv, text).unwrap_err();
        assert!(
            matches!(error, FetchError::NotRecords { line: Some(3), .. }),
            "{error:?}"
        );
        let error = read_lines(Path::new("x.csv"), Format::Csv, "a,b,c\n").unwrap_err();
        assert!(
            matches!(error, FetchError::NotRecords { line: Some(1), .. }),
            "{error:?}"
        );
    }

    #[test]
    fn formats_come_from_the_extension() {
        assert_eq!(Format::of(Path::new("a.CSV")).unwrap(), Format::Csv);
        assert_eq!(Format::of(Path::new("a.jsonl")).unwrap(), Format::JsonLines);
        assert!(Format::of(Path::new("a.txt")).is_err());
    }
}
