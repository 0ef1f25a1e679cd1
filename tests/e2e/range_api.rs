//! `/prices/{exchange}/{symbol}`, our range API beyond the original's,
//! over real HTTP: every row of the dataset, page by page (following each
//! page's `Link: rel="next"`), compared with Python's golden `/price`
//! answers, as JSON and as CSV.

use std::collections::BTreeMap;

use crate::support::{Connection, start_server};
use server::ServerConfig;

/// The golden bodies grouped by (exchange, symbol), in day order.
fn golden_series() -> BTreeMap<(String, String), Vec<(String, String)>> {
    let mut series: BTreeMap<(String, String), Vec<(String, String)>> = BTreeMap::new();
    for (exchange, symbol, day, body) in crate::support::golden_prices() {
        series
            .entry((exchange, symbol))
            .or_default()
            .push((day, body));
    }
    for rows in series.values_mut() {
        rows.sort();
    }
    series
}

/// Every page of a range, following the links; the bodies, in order.
fn all_pages(connection: &mut Connection, first: &str) -> Vec<String> {
    let mut pages = Vec::new();
    let mut target = first.to_owned();
    loop {
        let response = connection.get(&target);
        assert_eq!(response.status, 200, "{target}: {}", response.text());
        pages.push(response.text().to_owned());
        let Some(link) = response.header("link") else {
            return pages;
        };
        let url = link
            .strip_prefix('<')
            .and_then(|rest| rest.strip_suffix(">; rel=\"next\""))
            .unwrap_or_else(|| panic!("a next link, got {link:?}"));
        // The tests' client sends `Host: test`, and the link is absolute.
        target = url
            .strip_prefix("http://test")
            .expect("our host")
            .to_owned();
    }
}

/// The numbers of a golden `/price` body, as CSV writes them.
fn csv_numbers(body: &str) -> String {
    ["open", "high", "low", "close", "volume"]
        .iter()
        .map(|name| {
            let start = body.find(&format!("\"{name}\": ")).unwrap() + name.len() + 4;
            let value = &body[start..start + body[start..].find(',').unwrap()];
            if value == "null" { "" } else { value }.to_owned()
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn every_row_comes_back_page_by_page_as_price_renders_it() {
    let server = start_server(ServerConfig::default());
    let mut connection = Connection::open(server.addr());
    let series = golden_series();
    assert_eq!(series.values().map(Vec::len).sum::<usize>(), 29_189);
    for ((exchange, symbol), rows) in &series {
        // Pages of 250, so most series take several.
        let pages = all_pages(
            &mut connection,
            &format!("/prices/{exchange}/{symbol}?limit=250"),
        );
        assert_eq!(
            pages.len(),
            rows.len().div_ceil(250).max(1),
            "{exchange}/{symbol}"
        );
        let bodies: Vec<&str> = rows.iter().map(|(_, body)| body.as_str()).collect();
        let expected: Vec<String> = bodies
            .chunks(250)
            .map(|page| format!("[{}]", page.join(", ")))
            .collect();
        assert_eq!(pages, expected, "{exchange}/{symbol}");
    }
}

#[test]
fn every_row_comes_back_as_csv_with_the_same_numbers() {
    let server = start_server(ServerConfig::default());
    let mut connection = Connection::open(server.addr());
    for ((exchange, symbol), rows) in golden_series() {
        let pages = all_pages(
            &mut connection,
            &format!("/prices/{exchange}/{symbol}?format=csv"),
        );
        let mut lines = Vec::new();
        for page in &pages {
            let mut page_lines = page.lines();
            assert_eq!(page_lines.next(), Some(prices::csv::HEADER));
            lines.extend(page_lines.map(str::to_owned));
        }
        let expected: Vec<String> = rows
            .iter()
            .map(|(day, body)| format!("{exchange},{symbol},{day},{}", csv_numbers(body)))
            .collect();
        assert_eq!(lines, expected, "{exchange}/{symbol}");
    }
}

#[test]
fn a_range_is_bounded_inclusive_and_errors_are_json() {
    let server = start_server(ServerConfig::default());
    let mut connection = Connection::open(server.addr());
    let march = connection.get("/prices/kraken/eth?start=2020-03-01&end=2020-03-31");
    assert_eq!(march.text().matches("\"day\": ").count(), 31);
    assert!(
        march.text().contains("\"day\": \"2020-03-01\"")
            && march.text().contains("\"day\": \"2020-03-31\"")
    );
    let unknown = connection.get("/prices/nasdaq/btc");
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.header("content-type"), Some("application/json"));
    let backwards = connection.get("/prices/kraken/eth?start=2020-04-01&end=2020-03-01");
    assert_eq!(backwards.status, 400);
    assert_eq!(
        backwards.text(),
        r#"{"error": "start 2020-04-01 is after end 2020-03-01"}"#
    );
}
