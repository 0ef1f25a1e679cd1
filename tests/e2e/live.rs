//! The live view over real sockets: `/live.json`'s counters and lanes
//! against requests made on known connections, `/live/events` as a
//! browser's `EventSource` reads it, and the view's own requests left out.
//! (The page in a real browser is in `page_browser.rs`.)

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::support::{Connection, slow_server};

fn snapshot(addr: std::net::SocketAddr) -> serde_json::Value {
    let response = Connection::open(addr).get("/live.json");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    serde_json::from_str(response.text()).expect("/live.json is JSON")
}

#[test]
fn ten_connections_at_once_are_ten_lanes_and_a_peak_of_ten() {
    let server = slow_server(200);
    let addr = server.addr();
    let threads: Vec<_> = (0..10)
        .map(|_| {
            std::thread::spawn(move || {
                let mut connection = Connection::open(addr);
                for _ in 0..3 {
                    let answer = connection.get("/price/bitstamp/btc/2020-04-01");
                    assert_eq!(answer.status, 200);
                }
                connection.get("/nowhere").status
            })
        })
        .collect();
    for thread in threads {
        assert_eq!(thread.join().unwrap(), 404);
    }
    let live = snapshot(addr);
    assert_eq!(live["in_flight"], 0);
    assert_eq!(live["peak_in_flight"], 10);
    let lanes = live["lanes"].as_array().unwrap();
    assert_eq!(lanes.len(), 10, "one lane per connection: {live}");
    for lane in lanes {
        let outcomes: Vec<&str> = lane["requests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|request| request["outcome"].as_str().unwrap())
            .collect();
        assert_eq!(outcomes, ["answered", "answered", "answered", "4xx"]);
        for request in lane["requests"].as_array().unwrap().iter().take(3) {
            let took = request["end"].as_f64().unwrap() - request["start"].as_f64().unwrap();
            assert!(took >= 0.2, "each waited out --sleep: {request}");
        }
    }
    assert!(live["latency_ms"]["p99"].as_f64().unwrap() >= 200.0);
    // The snapshots asked for meanwhile are not in it.
    assert_eq!(snapshot(addr)["lanes"].as_array().unwrap().len(), 10);
}

#[test]
fn the_event_stream_starts_with_everything_kept_then_shows_a_request_in_flight() {
    let server = slow_server(1000);
    let addr = server.addr();
    Connection::open(addr).get("/exchanges");
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET /live/events HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    while !head.ends_with("\r\n\r\n") {
        assert!(reader.read_line(&mut head).unwrap() > 0, "{head}");
    }
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    let head = head.to_ascii_lowercase();
    assert!(
        head.contains("content-type: text/event-stream\r\n"),
        "{head}"
    );
    assert!(head.contains("transfer-encoding: chunked\r\n"), "{head}");
    let mut next_event = || loop {
        let mut line = String::new();
        assert!(reader.read_line(&mut line).unwrap() > 0);
        if let Some(data) = line.strip_prefix("data: ") {
            return serde_json::from_str::<serde_json::Value>(data).unwrap();
        }
    };
    let first = next_event();
    assert_eq!(first["lanes"][0]["requests"][0]["outcome"], "answered");
    // A request that waits a second is seen in flight while it waits.
    let waiting = std::thread::spawn(move || {
        Connection::open(addr)
            .get("/price/bitstamp/btc/2020-04-01")
            .status
    });
    let mut seen_in_flight = false;
    for _ in 0..8 {
        let event = next_event();
        if event["in_flight"] == 1 {
            let lanes = event["lanes"].as_array().unwrap();
            seen_in_flight =
                lanes.iter().any(|lane| {
                    lane["requests"].as_array().unwrap().iter().any(|request| {
                        request["outcome"] == "in_flight" && request["end"].is_null()
                    })
                });
            break;
        }
    }
    assert!(seen_in_flight);
    assert_eq!(waiting.join().unwrap(), 200);
}
