//! `crypto_db`: the command line. Thin glue: it parses flags and calls the
//! `prices`, `server` and `client` crates (and `concurrent`, whose process
//! pool re-runs this binary as its workers), which hold all the logic.
//!
//! With no subcommand it serves, accepting the original's flags exactly
//! (`crypto_db --port 8080 --sleep 1 --host 127.0.0.1`), so every existing
//! set of instructions keeps working.

/// `eprintln!` that never panics: with standard error closed (`2>&-`, or
/// a pipe whose reader is gone) the message is lost, but the exit code
/// still tells what happened.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

mod chaos_flags;
mod fetch;
mod mapped_file;
mod worker;

use anyhow::{Context, bail};
use chaos_flags::ChaosArgs;
use clap::{Args, Parser, Subcommand};
use prices::PriceTable;
use server::{Server, ServerConfig};

#[derive(Parser)]
#[command(
    name = "crypto_db",
    version,
    about = "A local crypto price server for learning concurrency (a drop-in for the original crypto_db)",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the price API (the default when no subcommand is given).
    Serve(ServeArgs),
    /// Fetch prices in bulk (the lessons' producer/consumer job): every
    /// exchange x symbol x day, with a pool of workers, retries, progress,
    /// and output that survives a crash (--resume).
    Fetch(fetch::FetchArgs),
    /// Answer the tasks of a `fetch --queue redis://HOST:PORT/NAME` job,
    /// from any machine that reaches Redis and the price server; start as
    /// many as you like. Ends when the job does.
    Worker(worker::WorkerArgs),
    /// Import prices: a CSV of your own (exchange, symbol, day, open, high,
    /// low, close, volume) into a SQLite file that `--db` serves; or a
    /// SQLite database into the text dump that the binary embeds (how
    /// crates/prices/data/prices.tsv was made).
    Import(ImportArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// Seconds every /price answer waits (fractions allowed, e.g. 0.25), to
    /// make latency visible. Waiting requests hold no thread.
    #[arg(long, value_name = "SECONDS", default_value = "0", value_parser = parse_seconds)]
    sleep: Duration,
    /// Address to listen on. The original listened on 0.0.0.0; we only do
    /// when asked, since the API is meant for this machine.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Serve this SQLite file (the original's schema) instead of the
    /// embedded dataset.
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,
    #[command(flatten)]
    chaos: ChaosArgs,
}

#[derive(Args)]
struct ImportArgs {
    /// The file to read: `*.csv` (a header naming the eight columns, then
    /// one price per row), or a SQLite database of the original's schema.
    input: PathBuf,
    /// Where to write: for a CSV, the SQLite file to create (required);
    /// for a database, the dump (standard output when absent).
    #[arg(long, short, value_name = "PATH")]
    output: Option<PathBuf>,
}

pub(crate) fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| format!("{text:?} must be a finite number of seconds, 0 or more"))
}

/// The value parser of a flag that may hold a password (`--queue`,
/// `--executor rediss://:PASSWORD@...`): clap's own error repeats the
/// value as typed; this one says only the parse error, whose text shows
/// an address with its password hidden.
pub(crate) struct Unechoed<T, E>(pub fn(&str) -> Result<T, E>);

// By hand: derived, they would ask `T` and `E` to be `Clone` too.
impl<T, E> Clone for Unechoed<T, E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T, E> Copy for Unechoed<T, E> {}

impl<T, E> clap::builder::TypedValueParser for Unechoed<T, E>
where
    T: Clone + Send + Sync + 'static,
    E: std::fmt::Display + 'static,
{
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<T, clap::Error> {
        let flag = arg.map_or_else(|| "the value".to_owned(), |arg| format!("'{arg}'"));
        let refuse = |kind, why: &dyn std::fmt::Display| {
            clap::Error::raw(kind, format!("invalid value for {flag}: {why}\n")).with_cmd(cmd)
        };
        let text = value
            .to_str()
            .ok_or_else(|| refuse(clap::error::ErrorKind::InvalidUtf8, &"not UTF-8"))?;
        (self.0)(text).map_err(|error| refuse(clap::error::ErrorKind::ValueValidation, &error))
    }
}

fn main() -> ExitCode {
    // `fetch --executor processes` starts this program again as its
    // workers: in a worker, this serves the pool and never returns.
    concurrent::serve_if_worker();
    let cli = Cli::parse();
    init_logging();
    let outcome = match cli.command {
        None => serve(cli.serve),
        Some(Command::Serve(args)) => serve(args),
        Some(Command::Import(args)) => match import(args) {
            // A bad row (or a missing -o) is the input's fault: one line,
            // exit 2, as every other bad input.
            Err(error) if error.chain().any(|cause| cause.is::<BadImport>()) => {
                say!("crypto_db: import: {error:#}");
                return ExitCode::from(2);
            }
            outcome => outcome,
        },
        Some(Command::Fetch(args)) => match fetch::run(args) {
            Ok(fetch::Outcome::Complete) => Ok(()),
            Ok(fetch::Outcome::SomeFailed) => return ExitCode::from(1),
            Ok(fetch::Outcome::Refused) => return ExitCode::from(2),
            Err(error) => Err(error),
        },
        Some(Command::Worker(args)) => match worker::run(args) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::FAILURE,
            Err(error) => Err(error),
        },
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            say!("crypto_db: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Quiet by default (warnings only); `RUST_LOG=debug` logs every request.
/// `RUST_LOG` takes a level (`debug`) or `target=level` pairs.
fn init_logging() {
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::prelude::*;

    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|spec| spec.parse::<Targets>().ok())
        // A queue on Redis says when it takes over a dead worker's task.
        .unwrap_or_else(|| {
            Targets::new()
                .with_default(tracing::Level::WARN)
                .with_target("redis_queue", tracing::Level::INFO)
        });
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .with(filter)
        .init();
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let addr = resolve(&args.host, args.port)?;
    let (prices, what) = match &args.db {
        Some(path) => open_db(path)?,
        None => {
            let table = PriceTable::embedded()?;
            let what = format!("{} prices from the embedded dataset", table.len());
            (table.into(), what)
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    raise_open_file_limit();
    runtime.block_on(async {
        let stop = shutdown_signal()?;
        let config = ServerConfig {
            sleep: args.sleep,
            chaos: args.chaos.0,
            ..ServerConfig::default()
        };
        let server = Server::bind(addr, prices, config).await?;
        println!(
            "crypto_db: serving {what} on http://{} (ready in {} ms; Ctrl-C to stop)",
            server.local_addr(),
            started.elapsed().as_millis()
        );
        if let Some(banner) = server.state().chaos_banner() {
            println!("crypto_db: {banner}");
        }
        if addr.ip().is_unspecified() {
            println!("crypto_db: listening on every interface: anyone who can reach this machine can query it");
        }
        let _ = std::io::stdout().flush();
        server.run(stop).await;
        println!("crypto_db: stopped");
        Ok(())
    })
}

/// The prices of a `--db` file, and how the banner names them: read per
/// request through the index a `crypto_db import` wrote (start-up and
/// memory do not grow with the file), or, for a file without it (the
/// original's own database, another tool's), loaded into memory as before,
/// with a note on how to make it fast. The file is never written.
fn open_db(path: &std::path::Path) -> anyhow::Result<(prices::PriceSource, String)> {
    if let Some(store) = prices::SqliteStore::open(path)? {
        mapped_file::stop_clearly_if_it_shrinks(path)
            .context("cannot watch the served file for changes")?;
        let what = format!("prices from {}, read through its index", path.display());
        return Ok((prices::PriceSource::Lookup(Box::new(store)), what));
    }
    let loading = Instant::now();
    let table = PriceTable::from_sqlite(path)?;
    // Said only when it shows: the lessons' own file loads in milliseconds.
    if loading.elapsed() > Duration::from_millis(500) {
        say!(
            "crypto_db: {} has no index, so its {} rows were loaded into memory first; `crypto_db import {} -o FAST.db` writes a copy that is served from the file, at once, at any size",
            path.display(),
            table.len(),
            path.display()
        );
    }
    let what = format!("{} prices from {}", table.len(), path.display());
    Ok((table.into(), what))
}

fn resolve(host: &str, port: u16) -> anyhow::Result<SocketAddr> {
    let mut addrs = (host, port)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve host {host:?}"))?;
    match addrs.next() {
        Some(addr) => Ok(addr),
        None => bail!("host {host:?} has no address"),
    }
}

/// Listens for Ctrl-C and SIGTERM (what `kill` and service managers send)
/// from now on, and returns a future that completes on the first of them.
/// Called before the ready banner: a signal sent the moment the banner
/// appears must stop the server cleanly, not kill it.
#[cfg(unix)]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for Ctrl-C")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

/// Lifts the soft open-file limit to the hard one: every client connection
/// is a file descriptor, and the usual soft limit (1024) is far below what
/// a storm of learners' workers opens. The server caps its connections
/// below whatever limit results.
fn raise_open_file_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open-file limit raised to the hard limit"),
        Err(error) => tracing::debug!(%error, "open-file limit left as it is"),
    }
}

/// An import refused because of its input (exit code 2).
#[derive(Debug, thiserror::Error)]
enum BadImport {
    #[error("importing a CSV writes a SQLite file: name it with -o OUT.db")]
    NoOutput,
    #[error("{}: the output is the input (the same file, or a link to it); write to another file", path.display())]
    OutputIsInput { path: PathBuf },
    #[error(transparent)]
    Csv(#[from] prices::csv::CsvError),
}

fn import(args: ImportArgs) -> anyhow::Result<()> {
    // Checked before anything is read or written: either kind of import
    // would replace its own input.
    if let Some(output) = &args.output
        && same_file::is_same_file(&args.input, output).unwrap_or(false)
    {
        return Err(BadImport::OutputIsInput {
            path: output.clone(),
        }
        .into());
    }
    let is_csv = args
        .input
        .extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("csv"));
    if is_csv {
        return import_csv(
            &args.input,
            args.output.as_deref().ok_or(BadImport::NoOutput)?,
        );
    }
    if let Some(output) = &args.output
        && is_database_name(output)
    {
        return import_database(&args.input, output);
    }
    let table = PriceTable::from_sqlite(&args.input)?;
    let dump = prices::dump::write(table.rows())?;
    match &args.output {
        Some(path) => write_whole(path, dump.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => std::io::stdout().lock().write_all(dump.as_bytes())?,
    }
    say!(
        "crypto_db: imported {} rows ({} distinct keys) from {}",
        table.len(),
        table.key_count(),
        args.input.display()
    );
    Ok(())
}

/// A CSV of prices into a new SQLite file at `output`, streamed: each row
/// is checked and written as it is read, so memory stays flat whatever the
/// size. The database is written under a temporary name beside `output`
/// and renamed at the end, so a bad row or a failed write leaves no file
/// behind. A progress bar (bytes of the file read, rows, rows a second)
/// shows on a terminal.
fn import_csv(input: &std::path::Path, output: &std::path::Path) -> anyhow::Result<()> {
    let file =
        std::fs::File::open(input).with_context(|| format!("cannot read {}", input.display()))?;
    let size = file.metadata().map_or(0, |metadata| metadata.len());
    let read = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = CountingReader {
        inner: file,
        read: std::sync::Arc::clone(&read),
    };
    let rows = prices::csv::PriceRows::new(std::io::BufReader::with_capacity(1 << 16, counted))
        .map_err(BadImport::from)
        .with_context(|| input.display().to_string())?;
    let bar = import_bar(size);
    let written = write_database(output, |temporary| {
        stream_rows(rows, temporary, &bar, &read).with_context(|| input.display().to_string())
    });
    bar.finish_and_clear();
    say_imported(&written?, input, output);
    Ok(())
}

/// Writes a new database at `output` through `fill`, which is given a
/// temporary path beside it: renamed to `output` once `fill` succeeds,
/// removed if it fails, so a bad row or a failed write leaves no file.
/// What killed imports left beside `output` is removed first.
fn write_database(
    output: &std::path::Path,
    fill: impl FnOnce(&std::path::Path) -> anyhow::Result<prices::sqlite::ImportReport>,
) -> anyhow::Result<prices::sqlite::ImportReport> {
    let temporary = partial_path(output);
    let _ = std::fs::remove_file(&temporary);
    let written = fill(&temporary).and_then(|report| {
        std::fs::rename(&temporary, output)
            .with_context(|| format!("cannot rename it to {}", output.display()))?;
        Ok(report)
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

/// The import's last line: what went in, and how many rows repeat a key.
fn say_imported(
    report: &prices::sqlite::ImportReport,
    input: &std::path::Path,
    output: &std::path::Path,
) {
    say!(
        "crypto_db: imported {} prices ({} exchanges, {} symbols{}) from {} into {}",
        report.rows,
        report.exchanges,
        report.symbols,
        match report.duplicates {
            0 => String::new(),
            n => format!(
                "; {n} rows repeat an earlier row's exchange, symbol and day: the first is served, as the original does"
            ),
        },
        input.display(),
        output.display()
    );
}

/// The temporary name a write to `output` goes through (`OUTPUT.partial-PID`),
/// after removing what killed imports into `output` left there.
fn partial_path(output: &std::path::Path) -> PathBuf {
    remove_abandoned_partials(output);
    let mut temporary = output.as_os_str().to_owned();
    temporary.push(format!("{PARTIAL}{}", std::process::id()));
    PathBuf::from(temporary)
}

/// Writes every row of `rows` into a new database at `path`.
fn stream_rows(
    rows: prices::csv::PriceRows<impl std::io::BufRead>,
    path: &std::path::Path,
    bar: &indicatif::ProgressBar,
    read: &std::sync::atomic::AtomicU64,
) -> anyhow::Result<prices::sqlite::ImportReport> {
    let mut writer = prices::sqlite::Writer::create(path)?;
    // The first bad row ends the stream; it is the import's error.
    let mut bad_row = None;
    let prices = rows.map_while(|row| row.map_err(|error| bad_row = Some(error)).ok());
    writer.insert_all(prices, |written| {
        bar.set_position(read.load(std::sync::atomic::Ordering::Relaxed));
        bar.set_message(format!("{written} rows"));
    })?;
    if let Some(error) = bad_row {
        return Err(BadImport::from(error).into());
    }
    bar.set_message("indexing");
    Ok(writer.finish()?)
}

/// The import's progress bar on stderr, only when it is a terminal.
fn import_bar(size: u64) -> indicatif::ProgressBar {
    let target = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        indicatif::ProgressDrawTarget::stderr()
    } else {
        indicatif::ProgressDrawTarget::hidden()
    };
    let bar = indicatif::ProgressBar::with_draw_target(Some(size), target);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:30} {bytes}/{total_bytes} read  {msg}  {per_sec}  eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// A reader that counts the bytes it hands out, for the progress bar.
struct CountingReader<R> {
    inner: R,
    read: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: std::io::Read> std::io::Read for CountingReader<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buffer)?;
        self.read
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// Whether `path` names a database file (`.db`, `.sqlite`, `.sqlite3`).
fn is_database_name(path: &std::path::Path) -> bool {
    path.extension()
        .and_then(|extension| extension.to_str())
        .is_some_and(|extension| {
            ["db", "sqlite", "sqlite3"]
                .iter()
                .any(|known| extension.eq_ignore_ascii_case(known))
        })
}

/// A database of the original's schema (the original's own, another
/// tool's) into a new one that `--db` serves from the file: its rows in
/// id order, streamed (flat memory), written as a CSV import writes them,
/// with the index and the name lists; through a temporary file and a
/// rename, as every import.
fn import_database(input: &std::path::Path, output: &std::path::Path) -> anyhow::Result<()> {
    let report = write_database(output, |temporary| {
        let mut writer = prices::sqlite::Writer::create(temporary)?;
        prices::sqlite::for_each_row(input, |row| -> anyhow::Result<()> {
            let day = prices::Day::parse(&row.day)
                .with_context(|| format!("row id {}: its day", row.id))?;
            Ok(writer.insert(prices::Price::new(
                row.exchange,
                row.symbol,
                day,
                row.numbers,
            ))?)
        })?;
        Ok(writer.finish()?)
    })?;
    say_imported(&report, input, output);
    Ok(())
}

/// Writes `bytes` to `path` through a temporary file beside it and a
/// rename: a killed or failed write leaves the old file as it was, never
/// half of the new one.
fn write_whole(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = partial_path(path);
    let written = std::fs::File::create(&temporary)
        .and_then(|mut file| file.write_all(bytes).and_then(|()| file.sync_all()))
        .and_then(|()| std::fs::rename(&temporary, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

/// What an import's temporary file adds to the output's name, before the
/// importing process's id.
const PARTIAL: &str = ".partial-";

/// Removes what killed imports into `output` left beside it: the
/// temporary database `OUTPUT.partial-PID` and SQLite's journal for it,
/// when process PID is gone. A partial whose process still runs is
/// another import at work, and is left alone. Without `/proc` (not
/// Linux) nothing can be told, and nothing is removed.
fn remove_abandoned_partials(output: &std::path::Path) {
    let Some(name) = output.file_name().and_then(|name| name.to_str()) else {
        return;
    };
    if !std::path::Path::new("/proc/self").exists() {
        return;
    }
    let directory = match output.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => std::path::Path::new("."),
    };
    let Ok(entries) = std::fs::read_dir(directory) else {
        return;
    };
    let prefix = format!("{name}{PARTIAL}");
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(rest) = file_name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        // `PID`, or `PID-journal` (and `-wal`, `-shm`) beside it.
        let pid = rest.split('-').next().unwrap_or("");
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() || std::path::Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        match std::fs::remove_file(entry.path()) {
            Ok(()) => tracing::debug!(
                "removed {}, left by an import (process {pid}) that was killed",
                entry.path().display()
            ),
            Err(error) => tracing::debug!("cannot remove {}: {error}", entry.path().display()),
        }
    }
}

/// A closed pipe on standard output (`crypto_db import x.db | head`) is the
/// reader's choice, not an error worth reporting.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|cause| cause.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}
