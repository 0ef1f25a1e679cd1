//! The real `crypto_db` binary, as a user runs it: what it prints, how it
//! fails, how it stops.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use crate::support::{Connection, stderr};

use crate::support::BIN;

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run crypto_db")
}

/// Starts the server and returns it with the address from its first line.
fn spawn_server(args: &[&str]) -> (Child, SocketAddr, String) {
    let mut command = Command::new(BIN);
    command.args(args);
    crate::support::spawn_server_process(command)
}

fn terminate(child: &mut Child) -> Output {
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let mut output = Output {
        status: child.wait().unwrap(),
        stdout: Vec::new(),
        stderr: Vec::new(),
    };
    use std::io::Read;
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut output.stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut output.stderr)
        .unwrap();
    output
}

fn make_db(path: &Path, sql: &str) {
    let connection = rusqlite::Connection::open(path).unwrap();
    connection
        .execute_batch(
            "CREATE TABLE price (id INTEGER PRIMARY KEY AUTOINCREMENT, exchange TEXT NOT NULL, \
             symbol TEXT NOT NULL, open DECIMAL(10,4), high DECIMAL(10,4), low DECIMAL(10,4), \
             close DECIMAL(10,4), volume DECIMAL(10,4), day DATE NOT NULL);",
        )
        .unwrap();
    connection.execute_batch(sql).unwrap();
}

#[test]
fn serves_the_embedded_data_with_the_original_flags_and_stops_on_sigterm() {
    let (mut child, addr, banner) =
        spawn_server(&["--port", "0", "--sleep", "0", "--host", "127.0.0.1"]);
    assert!(
        banner.contains("serving 29214 prices from the embedded dataset"),
        "{banner}"
    );
    assert!(addr.ip().is_loopback());
    let response = Connection::open(addr).get("/exchanges");
    assert_eq!(response.text(), crate::support::GOLDEN_EXCHANGES);

    let output = terminate(&mut child);
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("crypto_db: stopped"));
    assert!(std::net::TcpStream::connect(addr).is_err());
}

#[test]
fn rust_log_debug_logs_one_line_per_request_and_the_default_is_quiet() {
    for (level, expect_line) in [("debug", true), ("", false)] {
        let mut child = Command::new(BIN)
            .args(["--port", "0"])
            .env("RUST_LOG", level)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr: SocketAddr = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap()[7..]
            .parse()
            .unwrap();
        assert_eq!(Connection::open(addr).get("/symbols").status, 200);
        let output = terminate(&mut child);
        let log = stderr(&output);
        assert_eq!(
            log.contains("uri=/symbols status=200"),
            expect_line,
            "RUST_LOG={level:?}: {log}"
        );
        if expect_line {
            assert!(
                !log.contains('\u{1b}'),
                "no colour codes when stderr is not a terminal"
            );
        } else {
            assert!(log.is_empty(), "quiet by default: {log}");
        }
    }
}

#[test]
fn the_serve_subcommand_is_the_same_as_no_subcommand() {
    let (mut child, addr, _) = spawn_server(&["serve", "--port", "0", "--sleep", "0.25"]);
    let response = Connection::open(addr).get("/price/bitstamp/btc/2020-04-01");
    assert_eq!(response.status, 200);
    assert!(terminate(&mut child).status.success());
}

#[test]
fn a_port_in_use_is_a_one_line_error() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let output = run(&["--port", &port]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(
        message.starts_with(&format!(
            "crypto_db: error: cannot listen on 127.0.0.1:{port}: "
        )),
        "{message}"
    );
    // The operating system's reason, said once (it was said twice, once by
    // our message and once as its source).
    assert_eq!(
        message.to_lowercase().matches("in use").count(),
        1,
        "{message}"
    );
}

#[test]
fn sigterm_right_after_the_banner_stops_cleanly() {
    // The signal handlers are installed before the banner is printed: a
    // SIGTERM sent the moment it appears is a clean stop (exit 0, "stopped"),
    // never death by signal.
    for attempt in 0..10 {
        let (mut child, _, _) = spawn_server(&["--port", "0"]);
        let output = terminate(&mut child);
        assert_eq!(
            output.status.code(),
            Some(0),
            "attempt {attempt}: {output:?}"
        );
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("crypto_db: stopped"),
            "attempt {attempt}"
        );
    }
}

#[test]
fn a_flood_of_idle_connections_under_a_low_open_file_limit_blocks_nobody() {
    // `ulimit -n 256` (soft and hard), then more idle keep-alive connections
    // than that: the server caps its connections below the limit and
    // closes the oldest idle ones to make room, so a newcomer is answered
    // at once, and the log says so a few times, not thousands.
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!("ulimit -n 256 && exec {BIN} --port 0"));
    let (mut child, addr, _) = crate::support::spawn_server_process(command);
    let mut flood: Vec<Connection> = (0..300).map(|_| Connection::open(addr)).collect();
    let mut newcomer = Connection::open(addr);
    assert_eq!(
        newcomer.get("/exchanges").text(),
        crate::support::GOLDEN_EXCHANGES
    );
    // The oldest idle connection was the one closed to make room.
    assert!(flood[0].is_closed_by_server());
    drop(flood);
    let output = terminate(&mut child);
    assert!(output.status.success(), "{output:?}");
    let log = stderr(&output);
    assert!(log.contains("at the connection cap"), "{log}");
    let warnings = log.lines().filter(|l| l.contains("WARN")).count();
    assert!(warnings <= 10, "{log}");
}

#[test]
fn bad_flags_are_refused_with_usage() {
    for args in [
        &["--sleep", "abc"][..],
        &["--sleep", "-1"],
        &["--sleep", "inf"],
        &["--port", "99999"],
        &["--bogus"],
    ] {
        let output = run(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&output).starts_with("error: "),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    let output = run(&["--host", "no-such-host.invalid", "--port", "0"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("cannot resolve host \"no-such-host.invalid\""));
}

#[test]
fn db_errors_say_what_is_wrong() {
    let dir = crate::support::scratch("db-errors");
    let missing = dir.join("missing.db");
    let garbage = dir.join("garbage.db");
    std::fs::write(&garbage, vec![b'x'; 4096]).unwrap();
    let no_table = dir.join("no-table.db");
    rusqlite::Connection::open(&no_table)
        .unwrap()
        .execute_batch("CREATE TABLE t (x);")
        .unwrap();

    for (path, expected) in [
        (&missing, "missing.db: no such file"),
        (&garbage, "garbage.db: not a readable SQLite database"),
        (&no_table, "no-table.db: no `price` table"),
    ] {
        let output = run(&["--port", "0", "--db", path.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(1), "{}", path.display());
        let message = stderr(&output);
        assert_eq!(message.lines().count(), 1, "{message}");
        assert!(message.contains(expected), "{message}");
    }
}

/// `crypto_db import INPUT -o OUTPUT`, run to its end.
fn import(input: &Path, output: &Path) -> Output {
    run(&[
        "import",
        input.to_str().unwrap(),
        "-o",
        output.to_str().unwrap(),
    ])
}

#[test]
fn db_serves_another_sqlite_file() {
    let dir = crate::support::scratch("db-serves");
    let db = dir.join("mine.db");
    make_db(
        &db,
        "INSERT INTO price VALUES (1, 'mybank', 'xyz', 1, 2.5, 0.5, 1e-08, 600, '2021-01-01');",
    );
    let (mut child, addr, banner) = spawn_server(&["--port", "0", "--db", db.to_str().unwrap()]);
    assert!(banner.contains("serving 1 prices from"), "{banner}");
    let mut connection = Connection::open(addr);
    assert_eq!(connection.get("/exchanges").text(), r#"["mybank"]"#);
    assert_eq!(
        connection.get("/price/mybank/xyz/2021-01-01").text(),
        r#"{"exchange": "mybank", "symbol": "xyz", "open": 1, "high": 2.5, "low": 0.5, "close": 1e-08, "volume": 600, "day": "2021-01-01"}"#
    );
    assert!(terminate(&mut child).status.success());
}

#[test]
fn a_database_without_the_index_imports_into_one_served_from_the_file_the_same_way() {
    let dir = crate::support::scratch("db-to-db");
    let original = dir.join("original.db");
    make_db(
        &original,
        "INSERT INTO price VALUES (3, 'mybank', 'xyz', 1, 2.5, 0.5, 1e-08, 600, '2021-01-01');
         INSERT INTO price VALUES (7, 'mybank', 'xyz', 9, 9, 9, 9, 9, '2021-01-01');
         INSERT INTO price VALUES (8, 'mybank', 'xyz', NULL, 2, 9e999, 4, 5, '2021-01-02');
         INSERT INTO price VALUES (9, 'other', 'abc', 1, 1, 1, 1, 1, '2021-01-01');",
    );
    let before = std::fs::read(&original).unwrap();
    let fast = dir.join("fast.db");
    let output = import(&original, &fast);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("imported 4 prices (2 exchanges, 2 symbols; 1 rows repeat"),
        "{}",
        stderr(&output)
    );
    let targets = [
        "/exchanges",
        "/symbols",
        "/price/mybank/xyz/2021-01-01",
        "/price/mybank/xyz/2021-01-02",
        "/price/mybank/xyz/2021-01-03",
        "/price/nobank/xyz/2021-01-01",
        "/prices/mybank/xyz",
        "/prices/mybank/xyz?format=csv&limit=1",
        "/prices/nobank/xyz",
    ];
    let answers = |db: &Path| -> (String, Vec<(u16, String)>) {
        let (mut child, addr, banner) =
            spawn_server(&["--port", "0", "--db", db.to_str().unwrap()]);
        let mut connection = Connection::open(addr);
        let answers = targets
            .iter()
            .map(|target| {
                let response = connection.get(target);
                let link = response
                    .header("Link")
                    .unwrap_or_default()
                    .replace(&addr.to_string(), "HOST");
                (response.status, format!("{link}\n{}", response.text()))
            })
            .collect();
        assert!(terminate(&mut child).status.success());
        (banner, answers)
    };
    let (from_memory_banner, from_memory) = answers(&original);
    let (from_file_banner, from_file) = answers(&fast);
    assert!(
        from_memory_banner.contains("serving 4 prices from"),
        "{from_memory_banner}"
    );
    assert!(
        from_file_banner.contains("read through its index"),
        "{from_file_banner}"
    );
    assert_eq!(from_file, from_memory);
    assert!(
        from_file[2].1.contains(r#""open": 1, "high": 2.5"#),
        "the lowest id is served"
    );
    assert_eq!(
        std::fs::read(&original).unwrap(),
        before,
        "the input is never written"
    );
}

#[test]
fn db_infinities_are_served_as_the_originals_json_dumps_serves_them() {
    // Python's json.dumps writes an infinite REAL as `Infinity`, which
    // Python's json (and so `requests`' `.json()`) reads back, though a
    // strict JSON parser does not. We serve what the original serves.
    // (The DECIMAL columns store `1.0` as the INTEGER 1, as SQLite does.)
    let dir = crate::support::scratch("db-infinity");
    let db = dir.join("inf.db");
    make_db(
        &db,
        "INSERT INTO price VALUES (1, 'x', 'y', 9e999, -9e999, 1.0, 1.0, 1.0, '2021-01-01');",
    );
    let (mut child, addr, _) = spawn_server(&["--port", "0", "--db", db.to_str().unwrap()]);
    assert_eq!(
        Connection::open(addr).get("/price/x/y/2021-01-01").text(),
        r#"{"exchange": "x", "symbol": "y", "open": Infinity, "high": -Infinity, "low": 1, "close": 1, "volume": 1, "day": "2021-01-01"}"#
    );
    assert!(terminate(&mut child).status.success());
}

#[test]
fn a_served_file_replaced_by_a_rename_keeps_serving_and_one_truncated_in_place_stops_with_a_line() {
    let dir = crate::support::scratch("db-changed");
    let csv = dir.join("prices.csv");
    let mut text = String::from("exchange,symbol,day,open,high,low,close,volume\n");
    for day in 1..=28 {
        for exchange in 0..50 {
            text.push_str(&format!("bank{exchange},xyz,2021-02-{day:02},1,2,3,4,5\n"));
        }
    }
    std::fs::write(&csv, &text).unwrap();
    let served = dir.join("served.db");
    assert!(import(&csv, &served).status.success());
    let (mut child, addr, _) = spawn_server(&["--port", "0", "--db", served.to_str().unwrap()]);
    let mut connection = Connection::open(addr);
    let key = "/price/bank7/xyz/2021-02-03";
    let before = connection.get(key).text().to_owned();
    assert!(before.contains(r#""open": 1,"#), "{before}");

    // A new import over it writes another file and renames it: the server
    // reads on from the file it opened.
    std::fs::write(&csv, text.replace(",1,2,3,4,5", ",9,9,9,9,9")).unwrap();
    assert!(import(&csv, &served).status.success());
    assert_eq!(connection.get(key).text(), before);

    assert!(terminate(&mut child).status.success());

    // Truncated in place (what `cp other.db served.db` does first): the
    // server stops with a line saying why, not "Bus error".
    let (child, addr, _) = spawn_server(&["--port", "0", "--db", served.to_str().unwrap()]);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&served)
        .unwrap()
        .set_len(0)
        .unwrap();
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .write_all(b"GET /price/bank9/xyz/2021-02-20 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!(
            "crypto_db: {} changed while it was served (truncated or rewritten in place); stopping. Replace a served file by renaming a new one over it, as `crypto_db import` does, or serve a copy\n",
            served.display()
        )
    );
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
}

#[test]
fn import_writes_a_dump_that_reads_back_the_same() {
    let dir = crate::support::scratch("import");
    let db = dir.join("in.db");
    make_db(
        &db,
        "INSERT INTO price VALUES (2, 'kraken', 'btc', 600, 600.5, NULL, 8.6e-05, 12, '2020-01-01');
         INSERT INTO price VALUES (1, 'kraken', 'btc', 1, 1, 1, 1, 1, '2020-01-01');",
    );
    let out = dir.join("out.tsv");
    let output = run(&[
        "import",
        db.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("imported 2 rows (1 distinct keys)"));
    let rows = prices::dump::parse(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let from_sqlite = prices::sqlite::load(&db).unwrap();
    assert_eq!(rows, from_sqlite);

    // To a path that cannot be written: a clear error, not a panic.
    let output = run(&[
        "import",
        db.to_str().unwrap(),
        "-o",
        "/nonexistent/dir/out.tsv",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("cannot write /nonexistent/dir/out.tsv"));

    // A dump that cannot be put in place (here, a directory is in the
    // way) leaves no half-written file behind, and the old one whole.
    let blocked = dir.join("blocked.tsv");
    std::fs::create_dir(&blocked).unwrap();
    std::fs::write(blocked.join("keep"), "mine").unwrap();
    let output = import(&db, &blocked);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(
        std::fs::read_to_string(blocked.join("keep")).unwrap(),
        "mine"
    );
    let partials: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.contains(".partial-"))
        .collect();
    assert!(partials.is_empty(), "{partials:?}");
}

#[test]
fn import_to_a_closed_pipe_exits_quietly() {
    let dir = crate::support::scratch("pipe");
    let db = dir.join("in.db");
    // Enough rows (about 250 KB of dump) to overflow the pipe's buffer, so
    // the write really meets the closed pipe.
    make_db(
        &db,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
         INSERT INTO price SELECT i, 'kraken', 'btc', 1, 1, 1, 1, 1, '2020-01-01' FROM n;",
    );
    let output = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "'{BIN}' import '{}' | head -c 1 > /dev/null; echo \"status=${{PIPESTATUS[0]}}\"",
            db.display()
        ))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "status=0");
    assert!(!stderr(&output).contains("error"), "{}", stderr(&output));
}

#[test]
fn a_csv_exported_from_prices_imports_into_a_db_that_serves_every_price_the_same() {
    // The round trip of the shipped dataset: every exchange and symbol out
    // through /prices?format=csv, into one CSV, `import` into SQLite,
    // served with --db, and every key's /price compared with Python's
    // golden answer (this also shows the CSV keeps INTEGER vs REAL).
    let dir = crate::support::scratch("import-csv");
    let embedded = crate::support::start_server(server::ServerConfig::default());
    let mut connection = Connection::open(embedded.addr());
    let mut csv = String::from(prices::csv::HEADER);
    csv.push('\n');
    let pairs: std::collections::BTreeSet<(String, String)> = crate::support::golden_prices()
        .into_iter()
        .map(|(exchange, symbol, _, _)| (exchange, symbol))
        .collect();
    for (exchange, symbol) in pairs {
        let mut target = format!("/prices/{exchange}/{symbol}?format=csv");
        loop {
            let page = connection.get(&target);
            assert_eq!(page.status, 200);
            csv.extend(page.text().lines().skip(1).map(|line| format!("{line}\n")));
            match page.header("link") {
                Some(link) => {
                    target = link[1..link.find('>').unwrap()]
                        .trim_start_matches("http://test")
                        .to_owned();
                }
                None => break,
            }
        }
    }
    let input = dir.join("all.csv");
    std::fs::write(&input, csv).unwrap();
    let db = dir.join("all.db");
    let output = import(&input, &db);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("imported 29189 prices"),
        "{}",
        stderr(&output)
    );

    let (mut child, addr, _) = spawn_server(&["--port", "0", "--db", db.to_str().unwrap()]);
    let mut served = Connection::open(addr);
    assert_eq!(
        served.get("/exchanges").text(),
        crate::support::GOLDEN_EXCHANGES
    );
    assert_eq!(
        served.get("/symbols").text(),
        crate::support::GOLDEN_SYMBOLS
    );
    for (exchange, symbol, day, body) in crate::support::golden_prices() {
        let response = served.get(&format!("/price/{exchange}/{symbol}/{day}"));
        assert_eq!(response.text(), body, "/price/{exchange}/{symbol}/{day}");
    }
    assert!(terminate(&mut child).status.success());
}

#[test]
fn a_bad_csv_row_is_named_by_line_and_column_and_leaves_no_file() {
    let dir = crate::support::scratch("import-bad-csv");
    let input = dir.join("mine.csv");
    std::fs::write(
        &input,
        "exchange,symbol,day,open,high,low,close,volume\n\
         mybank,xyz,2021-01-01,1,2,3,4,5\n\
         mybank,xyz,2021-01-02,1,2,three,4,5\n",
    )
    .unwrap();
    let db = dir.join("mine.db");
    let output = import(&input, &db);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(
        message.ends_with("mine.csv: line 3, column low: \"three\" is not a finite number\n"),
        "{message}"
    );
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["mine.csv"], "no database and no temporary file left");

    let output = run(&["import", input.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("name it with -o OUT.db"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn import_streams_into_the_originals_table_with_an_index_the_names_and_a_count_of_repeats() {
    let dir = crate::support::scratch("import-stream");
    let input = dir.join("mine.csv");
    std::fs::write(
        &input,
        "exchange,symbol,day,open,high,low,close,volume\n\
         mybank,xyz,2021-01-01,1,2,3,4,5\n\
         mybank,xyz,2021-01-02,1,2,3,4,5\n\
         mybank,xyz,2021-01-01,9,9,9,9,9\n\
         other,abc,2021-01-01,1,2,3,4,5\n",
    )
    .unwrap();
    let db = dir.join("mine.db");
    let output = import(&input, &db);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains(
            "imported 4 prices (2 exchanges, 2 symbols; 1 rows repeat an earlier row's exchange, symbol and day: the first is served, as the original does)"
        ),
        "{}",
        stderr(&output)
    );
    let connection = rusqlite::Connection::open(&db).unwrap();
    let ids: Vec<i64> = connection
        .prepare("SELECT id FROM price ORDER BY id")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(ids, [1, 2, 3, 4], "the original's table, ids in file order");
    let plan: String = connection
        .query_row(
            "EXPLAIN QUERY PLAN SELECT * FROM price WHERE exchange = 'mybank' AND symbol = 'xyz' AND day = '2021-01-01' ORDER BY id LIMIT 1",
            [],
            |row| row.get(3),
        )
        .unwrap();
    assert!(plan.contains("price_key"), "{plan}");
    let names = |table: &str| -> Vec<String> {
        connection
            .prepare(&format!("SELECT name FROM {table} ORDER BY name"))
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(names("crypto_db_exchanges"), ["mybank", "other"]);
    assert_eq!(names("crypto_db_symbols"), ["abc", "xyz"]);
    // Served, the first row of a repeated key is the one answered.
    let mut command = Command::new(BIN);
    command.args(["--port", "0", "--db", db.to_str().unwrap()]);
    let (mut child, addr, _) = crate::support::spawn_server_process(command);
    let answer = Connection::open(addr).get("/price/mybank/xyz/2021-01-01");
    let _ = child.kill();
    let _ = child.wait();
    assert!(answer.text().contains(r#""open": 1,"#), "{}", answer.text());
}

#[test]
fn import_refuses_to_write_over_its_input_even_through_a_link() {
    let dir = crate::support::scratch("import-onto-itself");
    let csv = dir.join("mine.csv");
    let text = "exchange,symbol,day,open,high,low,close,volume\nmybank,xyz,2021-01-01,1,2,3,4,5\n";
    std::fs::write(&csv, text).unwrap();
    let db = dir.join("mine.db");
    let made = run(&["import", csv.to_str().unwrap(), "-o", db.to_str().unwrap()]);
    assert!(made.status.success(), "{}", stderr(&made));
    let db_bytes = std::fs::read(&db).unwrap();
    std::os::unix::fs::symlink(&csv, dir.join("csv-link.csv")).unwrap();
    std::fs::hard_link(&csv, dir.join("csv-hard.csv")).unwrap();
    std::os::unix::fs::symlink(&db, dir.join("db-link.db")).unwrap();
    std::fs::hard_link(&db, dir.join("db-hard.db")).unwrap();
    for (input, output) in [
        ("mine.csv", "mine.csv"),
        ("mine.csv", "csv-link.csv"),
        ("mine.csv", "csv-hard.csv"),
        ("csv-link.csv", "mine.csv"),
        ("mine.db", "mine.db"),
        ("mine.db", "db-link.db"),
        ("mine.db", "db-hard.db"),
    ] {
        let output_path = dir.join(output);
        let result = run(&[
            "import",
            dir.join(input).to_str().unwrap(),
            "-o",
            output_path.to_str().unwrap(),
        ]);
        assert_eq!(result.status.code(), Some(2), "{input} -> {output}");
        assert_eq!(
            stderr(&result),
            format!(
                "crypto_db: import: {}: the output is the input (the same file, or a link to it); write to another file\n",
                output_path.display()
            )
        );
        assert_eq!(
            std::fs::read_to_string(&csv).unwrap(),
            text,
            "{input} -> {output}"
        );
        assert_eq!(std::fs::read(&db).unwrap(), db_bytes, "{input} -> {output}");
    }
}

#[test]
fn excel_csv_utf8_with_a_byte_order_mark_imports() {
    let dir = crate::support::scratch("import-excel");
    let csv = dir.join("excel.csv");
    std::fs::write(
        &csv,
        "\u{feff}exchange,symbol,day,open,high,low,close,volume\r\nmybank,xyz,2021-01-01,1,2.5,3,4,5\r\n",
    )
    .unwrap();
    let db = dir.join("excel.db");
    let output = run(&["import", csv.to_str().unwrap(), "-o", db.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("imported 1 prices"),
        "{}",
        stderr(&output)
    );
    let dump = run(&["import", db.to_str().unwrap()]);
    assert!(dump.status.success(), "{}", stderr(&dump));
    let dump = String::from_utf8(dump.stdout).unwrap();
    assert!(
        dump.contains("\tmybank\txyz\t2021-01-01\t1\t2.5\t3\t4\t5\n"),
        "{dump}"
    );
}

#[test]
fn partials_of_killed_imports_are_removed_by_the_next_import() {
    let dir = crate::support::scratch("import-partials");
    let csv = dir.join("mine.csv");
    std::fs::write(
        &csv,
        "exchange,symbol,day,open,high,low,close,volume\nmybank,xyz,2021-01-01,1,2,3,4,5\n",
    )
    .unwrap();
    // What a SIGKILLed import leaves: its temporary database and SQLite's
    // journal, named after a process that is gone.
    let mut gone = Command::new("true").spawn().unwrap();
    let dead = gone.id();
    gone.wait().unwrap();
    let left = [
        format!("big.db.partial-{dead}"),
        format!("big.db.partial-{dead}-journal"),
    ];
    for name in &left {
        std::fs::write(dir.join(name), "half a database").unwrap();
    }
    // One of a process still running (this test) is another import at
    // work, and stays.
    let alive = format!("big.db.partial-{}", std::process::id());
    std::fs::write(dir.join(&alive), "in progress").unwrap();
    let db = dir.join("big.db");
    let output = Command::new(BIN)
        .args(["import", csv.to_str().unwrap(), "-o", db.to_str().unwrap()])
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    for name in &left {
        assert!(!dir.join(name).exists(), "{name} is still there");
        assert!(
            stderr(&output).contains(&format!(
                "removed {}, left by an import (process {dead}) that was killed",
                dir.join(name).display()
            )),
            "{}",
            stderr(&output)
        );
    }
    assert!(
        dir.join(&alive).exists(),
        "a live import's partial was removed"
    );
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["big.db", alive.as_str(), "mine.csv"]);
}

/// A field of /proc/PID/status in kB (`VmHWM`, `RssAnon`...); `None`
/// once the process is gone, or off Linux.
fn status_kb(pid: u32, field: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches(" kB").parse().ok())
}

/// The largest resident memory `child` reached, read from /proc every few
/// milliseconds until it exits (Linux; 0 elsewhere), with its exit status.
fn peak_rss_mb(mut child: Child) -> (f64, std::process::ExitStatus) {
    let mut peak_kb = 0u64;
    loop {
        // VmHWM: the high-water mark, so no sample misses the peak.
        if let Some(kb) = status_kb(child.id(), "VmHWM") {
            peak_kb = peak_kb.max(kb);
        }
        if let Some(status) = child.try_wait().unwrap() {
            return (peak_kb as f64 / 1024.0, status);
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn two_hundred_thousand_rows_import_in_flat_memory_and_serve_from_the_file_as_from_memory() {
    let dir = crate::support::scratch("import-200k");
    let csv = dir.join("prices.csv");
    let mut text = String::from("exchange,symbol,day,open,high,low,close,volume\n");
    let first = prices::Day::parse("2000-01-01").unwrap();
    let days: Vec<String> = first
        .through(prices::Day::parse("2009-12-31").unwrap())
        .map(|day| day.to_string())
        .collect();
    let mut n = 0u32;
    'rows: for exchange in 0..20 {
        for symbol in 0..3 {
            for day in &days {
                if n == 200_000 {
                    break 'rows;
                }
                let base = 100.0 + f64::from(n % 997) * 0.25;
                text.push_str(&format!(
                    "bank{exchange},sym{symbol},{day},{base},{},{},{},{}\n",
                    base + 1.5,
                    base - 1.0,
                    n % 500,
                    n % 7
                ));
                n += 1;
            }
        }
    }
    std::fs::write(&csv, &text).unwrap();
    let db = dir.join("prices.db");
    let importing = Command::new(BIN)
        .args(["import", csv.to_str().unwrap(), "-o", db.to_str().unwrap()])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (peak, status) = peak_rss_mb(importing);
    assert!(status.success());
    assert!(peak < 64.0, "the import peaked at {peak:.1} MB");

    // The same rows without the index are loaded in memory: every answer
    // from the file must be that one's.
    let plain = dir.join("plain.db");
    std::fs::copy(&db, &plain).unwrap();
    rusqlite::Connection::open(&plain)
        .unwrap()
        .execute_batch("DROP INDEX price_key")
        .unwrap();
    let (mut from_file, file_addr, banner) =
        spawn_server(&["--port", "0", "--db", db.to_str().unwrap()]);
    assert!(banner.contains("read through its index"), "{banner}");
    let (mut in_memory, memory_addr, banner) =
        spawn_server(&["--port", "0", "--db", plain.to_str().unwrap()]);
    assert!(banner.contains("serving 200000 prices"), "{banner}");
    let (mut file, mut memory) = (Connection::open(file_addr), Connection::open(memory_addr));
    let mut seed = 7u64;
    for _ in 0..2_000 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let pick = (seed >> 33) as usize;
        let target = format!(
            "/price/bank{}/sym{}/{}",
            pick % 21,
            (pick / 21) % 3,
            days[(pick / 63) % days.len()]
        );
        assert_eq!(
            file.get(&target).text(),
            memory.get(&target).text(),
            "{target}"
        );
    }
    let range = "/prices/bank3/sym1?start=2003-02-01&limit=1000";
    assert_eq!(file.get(range).text(), memory.get(range).text());
    let own_memory_mb = status_kb(from_file.id(), "RssAnon").unwrap() as f64 / 1024.0;
    assert!(own_memory_mb < 64.0, "{own_memory_mb:.1} MB");
    assert!(terminate(&mut from_file).status.success());
    assert!(terminate(&mut in_memory).status.success());
}
