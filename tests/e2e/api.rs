//! End to end over real HTTP: the server on 127.0.0.1:0, a raw socket
//! client, and the bytes on the wire compared with what the original sends.

use std::collections::hash_map::Entry;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::{Connection, start_server};
use server::ServerConfig;

const NOT_FOUND_PAGE: &str = "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 3.2 Final//EN\">\n\
<title>404 Not Found</title>\n<h1>Not Found</h1>\n\
<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.</p>\n";

#[test]
fn every_key_answers_byte_for_byte_as_the_original() {
    let server = start_server(ServerConfig::default());
    let golden = crate::support::golden_prices();
    assert_eq!(golden.len(), 29_189);
    // Four keep-alive connections in parallel, a quarter of the keys each.
    let chunk = golden.len().div_ceil(4);
    std::thread::scope(|scope| {
        for keys in golden.chunks(chunk) {
            let addr = server.addr();
            scope.spawn(move || {
                let mut connection = Connection::open(addr);
                for (exchange, symbol, day, body) in keys {
                    let response = connection.get(&format!("/price/{exchange}/{symbol}/{day}"));
                    assert_eq!(response.status, 200);
                    assert_eq!(response.header("content-type"), Some("application/json"));
                    assert_eq!(response.text(), body, "/price/{exchange}/{symbol}/{day}");
                }
            });
        }
    });
}

#[test]
fn lists_answer_byte_for_byte_as_the_original() {
    let server = start_server(ServerConfig::default());
    let mut connection = Connection::open(server.addr());
    for (target, golden) in [
        ("/exchanges", crate::support::GOLDEN_EXCHANGES),
        ("/symbols", crate::support::GOLDEN_SYMBOLS),
    ] {
        let response = connection.get(target);
        assert_eq!(response.status, 200);
        assert_eq!(response.header("content-type"), Some("application/json"));
        assert_eq!(response.text(), golden);
    }
}

#[test]
fn duplicate_keys_answer_with_the_lowest_id_row() {
    // The reference data holds 25 keys twice. The golden test above already
    // compares them with Python; this one shows the rule itself.
    let table = prices::PriceTable::embedded().unwrap();
    let mut first_rows = std::collections::HashMap::new();
    let mut duplicated = Vec::new();
    for (id, row) in table.rows() {
        let key = (row.exchange, row.symbol, row.day);
        match first_rows.entry(key) {
            Entry::Occupied(_) => duplicated.push(key),
            Entry::Vacant(slot) => {
                slot.insert((id, row));
            }
        }
    }
    assert_eq!(duplicated.len(), 25);
    let server = start_server(ServerConfig::default());
    let mut connection = Connection::open(server.addr());
    for key @ (exchange, symbol, day) in duplicated {
        let (first_id, first_row) = first_rows[&key];
        assert!(
            table
                .rows()
                .filter(|(_, row)| (row.exchange, row.symbol, row.day) == key)
                .all(|(id, _)| id >= first_id)
        );
        let response = connection.get(&format!("/price/{exchange}/{symbol}/{day}"));
        assert_eq!(response.text(), first_row.to_json());
    }
}

#[test]
fn well_formed_keys_without_a_row_answer_null() {
    let server = start_server(ServerConfig::default());
    let mut connection = Connection::open(server.addr());
    for target in [
        "/price/bitstamp/btc/2010-01-01",  // before the data
        "/price/nasdaq/btc/2020-04-01",    // unknown exchange
        "/price/bitstamp/doge/2020-04-01", // unknown symbol
        "/price/Bitstamp/btc/2020-04-01",  // no case folding, like the original
    ] {
        let response = connection.get(target);
        assert_eq!(response.status, 200, "{target}");
        assert_eq!(response.header("content-type"), Some("application/json"));
        assert_eq!(response.text(), "null", "{target}");
    }
}

#[test]
fn percent_encoded_segments_are_decoded_like_flask() {
    let server = start_server(ServerConfig::default());
    let mut connection = Connection::open(server.addr());
    let plain = connection.get("/price/bitstamp/btc/2020-04-01");
    let encoded = connection.get("/price/bit%73tamp/btc/2020%2D04%2D01");
    assert_eq!(encoded.status, 200);
    assert_eq!(encoded.body, plain.body);
}

#[test]
fn malformed_dates_get_400_with_a_json_error() {
    let server = start_server(ServerConfig::default());
    let mut connection = Connection::open(server.addr());
    for (date, message) in [
        (
            "2020-4-1",
            r#"date \"2020-4-1\" is not in YYYY-MM-DD form (for example 2020-04-01)"#,
        ),
        (
            "yesterday",
            r#"date \"yesterday\" is not in YYYY-MM-DD form (for example 2020-04-01)"#,
        ),
        (
            "2020-13-01",
            r#"date \"2020-13-01\" has no such month (months are 01 to 12)"#,
        ),
        (
            "2021-02-29",
            r#"date \"2021-02-29\" has no such day in its month"#,
        ),
    ] {
        let response = connection.get(&format!("/price/bitstamp/btc/{date}"));
        assert_eq!(response.status, 400, "{date}");
        assert_eq!(response.header("content-type"), Some("application/json"));
        assert_eq!(response.text(), format!("{{\"error\": \"{message}\"}}"));
    }
    // A segment that is not UTF-8 once decoded is refused the same way.
    let response = connection.get("/price/bit%FFstamp/btc/2020-04-01");
    assert_eq!(response.status, 400);
    assert!(
        response.text().starts_with("{\"error\": "),
        "{}",
        response.text()
    );
}

#[test]
fn unknown_paths_get_the_original_404_page() {
    let server = start_server(ServerConfig::default());
    let mut connection = Connection::open(server.addr());
    for target in [
        "/nope",
        "/exchanges/", // a trailing slash is another path, as in Flask
        "/price/bitstamp/btc",
        "/price/bitstamp/btc/2020-04-01/extra",
        "/price//btc/2020-04-01",
    ] {
        let response = connection.get(target);
        assert_eq!(response.status, 404, "{target}");
        assert_eq!(
            response.header("content-type"),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(response.text(), NOT_FOUND_PAGE, "{target}");
    }
}

#[test]
fn other_methods_get_405_and_options_head_work() {
    let server = start_server(ServerConfig::default());
    let mut connection = Connection::open(server.addr());
    for (method, target) in [
        ("POST", "/exchanges"),
        ("DELETE", "/price/bitstamp/btc/2020-04-01"),
        ("PUT", "/"),
    ] {
        let response = connection.request_with(method, target, "Content-Length: 0\r\n");
        assert_eq!(response.status, 405, "{method} {target}");
        assert_eq!(response.header("allow"), Some("OPTIONS, GET, HEAD"));
        assert!(
            response
                .text()
                .contains("<title>405 Method Not Allowed</title>")
        );
    }

    let options = connection.request("OPTIONS", "/symbols");
    assert_eq!(options.status, 200);
    assert_eq!(options.header("allow"), Some("OPTIONS, GET, HEAD"));
    assert_eq!(
        options.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(options.header("content-length"), Some("0"));

    let get = connection.get("/exchanges");
    let head = connection.request("HEAD", "/exchanges");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), get.header("content-length"));
    // The connection is still in step: HEAD sent no body.
    assert_eq!(
        connection.get("/symbols").text(),
        crate::support::GOLDEN_SYMBOLS
    );
}

#[test]
fn over_long_targets_are_refused() {
    let server = start_server(ServerConfig::default());
    let mut connection = Connection::open(server.addr());
    let long = format!("/price/{}/btc/2020-04-01", "x".repeat(3000));
    let response = connection.get(&long);
    assert_eq!(response.status, 414);
    assert_eq!(
        response.text(),
        r#"{"error": "the request target is 3022 bytes; the limit is 2048"}"#
    );
    // Still usable afterwards.
    assert_eq!(connection.get("/symbols").status, 200);

    // Past the 16 KiB head-size cap hyper refuses before routing, with 431
    // (the head as a whole is too large), and closes the connection.
    let mut connection = Connection::open(server.addr());
    let huge = format!("/{}", "y".repeat(40_000));
    let response = connection.get(&huge);
    assert_eq!(response.status, 431);
    assert!(connection.is_closed_by_server());
}

#[test]
fn over_large_headers_are_refused() {
    let server = start_server(ServerConfig::default());
    let mut connection = Connection::open(server.addr());
    let header = format!("X-Padding: {}\r\n", "z".repeat(40_000));
    let response = connection.request_with("GET", "/symbols", &header);
    assert_eq!(response.status, 431);
    assert!(connection.is_closed_by_server());
}

#[test]
fn a_request_head_that_never_ends_is_timed_out() {
    let server = start_server(ServerConfig {
        header_read_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    });
    // A slowloris client: starts a request and never finishes its headers.
    let mut slow = Connection::open(server.addr());
    slow.send(b"GET /symbols HTTP/1.1\r\nHost: test\r\nX-Never: ending")
        .unwrap();
    // The server closes the connection (after the timeout; the socket's own
    // 60 s read timeout only guards against a hang of this test).
    assert!(slow.is_closed_by_server());
    // Meanwhile other clients are served as usual.
    assert_eq!(Connection::open(server.addr()).get("/symbols").status, 200);
}

/// `--sleep` must not hold a thread per request. With an hour-long sleep,
/// a thousand requests are all waiting at the same moment on a server with
/// two worker threads; stopping the server then answers every one of them.
/// Nothing here depends on how fast the machine is.
#[test]
fn sleeping_requests_wait_concurrently_without_threads() {
    const CLIENTS: usize = 1000;
    let server = start_server(ServerConfig {
        sleep: Duration::from_secs(3600),
        ..ServerConfig::default()
    });
    let mut clients: Vec<Connection> = (0..CLIENTS)
        .map(|_| Connection::open(server.addr()))
        .collect();
    for client in &mut clients {
        client
            .send(b"GET /price/bitstamp/btc/2020-04-01 HTTP/1.1\r\nHost: test\r\n\r\n")
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while server.stats().waiting() < CLIENTS {
        assert!(
            Instant::now() < deadline,
            "only {} waiting",
            server.stats().waiting()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(server.stats().peak_waiting(), CLIENTS);

    // /exchanges and /symbols never wait, even now.
    assert_eq!(Connection::open(server.addr()).get("/symbols").status, 200);

    server.stop();
    let expected = prices::PriceTable::embedded()
        .unwrap()
        .get("bitstamp", "btc", "2020-04-01")
        .unwrap()
        .to_json();
    for client in &mut clients {
        let response = client.read_response(false).unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.text(), expected);
    }
}

#[test]
fn the_page_is_self_contained() {
    let server = start_server(ServerConfig::default());
    let response = Connection::open(server.addr()).get("/");
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let page = response.text();
    assert!(page.contains(r#"<form id="priceForm""#));
    for endpoint in ["/exchanges", "/symbols", "/price/"] {
        assert!(page.contains(endpoint), "the page calls {endpoint}");
    }
    // Nothing fetched from the internet: no CDN script, no web font.
    assert!(!page.contains("http://") && !page.contains("https://"));

    let response = Connection::open(server.addr()).get("/docs");
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let docs = response.text();
    assert!(docs.contains(r#"fetch("/openapi.json")"#));
    assert!(!docs.contains("http://") && !docs.contains("https://"));
}

#[test]
fn a_stopped_server_refuses_connections() {
    let server = start_server(ServerConfig::default());
    let addr = server.addr();
    server.stop();
    assert!(TcpStream::connect(addr).is_err());
}
