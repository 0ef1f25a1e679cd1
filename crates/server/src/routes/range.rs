//! `/prices/{exchange}/{symbol}`: a range of rows in day order, in pages,
//! as JSON or CSV. Ours, beyond the original's routes.

use std::net::SocketAddr;

use hyper::body::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Request, StatusCode};
use prices::{Day, DayError, PriceSource, PriceView, RangeError};

use super::reply::{CSV, JSON, base_url, json_error, lookup_failed, response};
use super::{AppState, Response};
use crate::target::percent_decode;

impl AppState {
    /// `/prices/{exchange}/{symbol}?start=&end=&limit=&format=`: a page of
    /// rows in day order, each as `/price` renders it, as a JSON array or
    /// CSV; a `Link: <...>; rel="next"` header when more rows follow.
    pub(super) fn prices<B>(
        &self,
        request: &Request<B>,
        local: SocketAddr,
        exchange: &str,
        symbol: &str,
    ) -> Response {
        let query = match RangeQuery::parse(request) {
            Ok(query) => query,
            Err(bad) => return json_error(StatusCode::BAD_REQUEST, &bad.to_string()),
        };
        let (start, end) = (
            query.start.map(|d| d.to_string()),
            query.end.map(|d| d.to_string()),
        );
        let (start, end) = (start.as_deref(), end.as_deref());
        // One row past the page says whether another page follows.
        let (body, next_day) = match self.source() {
            PriceSource::Table(table) => match table.range(exchange, symbol, start, end) {
                Ok(rows) => {
                    let next_day = rows.clone().nth(query.limit).map(|row| row.day.to_owned());
                    (render(rows.take(query.limit), query.csv), next_day)
                }
                Err(unknown) => return json_error(StatusCode::NOT_FOUND, &unknown.to_string()),
            },
            PriceSource::Lookup(lookup) => {
                match lookup.range(exchange, symbol, start, end, query.limit + 1) {
                    Ok(mut prices) => {
                        let next_day = (prices.len() > query.limit)
                            .then(|| prices.pop().map(|price| price.day.to_string()))
                            .flatten();
                        let days: Vec<String> =
                            prices.iter().map(|price| price.day.to_string()).collect();
                        let rows = prices.iter().zip(&days).map(|(price, day)| PriceView {
                            exchange: &price.exchange,
                            symbol: &price.symbol,
                            numbers: price.numbers(),
                            day,
                        });
                        (render(rows, query.csv), next_day)
                    }
                    Err(RangeError::Unknown(unknown)) => {
                        return json_error(StatusCode::NOT_FOUND, &unknown.to_string());
                    }
                    Err(RangeError::Lookup(error)) => return lookup_failed(&error),
                }
            }
        };
        let content_type = if query.csv { CSV } else { JSON };
        let mut response = response(StatusCode::OK, content_type, Bytes::from(body));
        if let Some(next_day) = next_day {
            let next = query.next_page_url(
                &base_url(request, local).unwrap_or_else(|| format!("http://{local}")),
                request.uri().path(),
                &next_day,
            );
            if let Ok(link) = HeaderValue::from_str(&format!("<{next}>; rel=\"next\"")) {
                response.headers_mut().insert(header::LINK, link);
            }
        }
        response
    }
}

/// The most rows one `/prices` answer holds, and its default page size.
pub const MAX_PAGE: usize = 1000;

/// A page of rows as `/prices` writes it: a JSON array of objects as
/// `/price` renders them, or CSV with its header.
fn render<'a>(rows: impl Iterator<Item = PriceView<'a>>, csv: bool) -> String {
    let mut body = String::new();
    if csv {
        body.push_str(prices::csv::HEADER);
        body.push('\n');
        for row in rows {
            prices::csv::write_row(&mut body, row.exchange, row.symbol, row.day, row.numbers);
            body.push('\n');
        }
    } else {
        body.push('[');
        for (i, row) in rows.enumerate() {
            if i > 0 {
                body.push_str(", ");
            }
            row.write_json(&mut body);
        }
        body.push(']');
    }
    body
}

/// What is wrong with a `/prices` query; its message is the `400`'s.
#[derive(Debug, thiserror::Error)]
enum BadRange {
    #[error("the value of {0:?} is not valid UTF-8 once decoded")]
    NotUtf8(String),
    #[error("start: {0}")]
    Start(#[source] DayError),
    #[error("end: {0}")]
    End(#[source] DayError),
    #[error("limit {0:?} is not a whole number from 1 to {MAX_PAGE}")]
    Limit(String),
    #[error("format {0:?} is not json or csv")]
    Format(String),
    #[error("start {start} is after end {end}")]
    Reversed { start: Day, end: Day },
}

/// The query of a `/prices` request, checked.
#[derive(Debug, PartialEq)]
struct RangeQuery {
    start: Option<Day>,
    end: Option<Day>,
    limit: usize,
    csv: bool,
}

impl RangeQuery {
    /// Reads `start`, `end`, `limit` and `format` (unknown parameters are
    /// ignored); `Accept: text/csv` asks for CSV too.
    fn parse<B>(request: &Request<B>) -> Result<RangeQuery, BadRange> {
        let accepts_csv = request
            .headers()
            .get(header::ACCEPT)
            .and_then(|accept| accept.to_str().ok())
            .is_some_and(|accept| accept.contains("text/csv"));
        let mut query = RangeQuery {
            start: None,
            end: None,
            limit: MAX_PAGE,
            csv: accepts_csv,
        };
        for pair in request.uri().query().unwrap_or_default().split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = String::from_utf8(percent_decode(value.as_bytes(), true).into_owned())
                .map_err(|_| BadRange::NotUtf8(name.to_owned()))?;
            match name {
                "start" => query.start = Some(Day::parse(&value).map_err(BadRange::Start)?),
                "end" => query.end = Some(Day::parse(&value).map_err(BadRange::End)?),
                "limit" => {
                    query.limit = value
                        .parse()
                        .ok()
                        .filter(|limit| (1..=MAX_PAGE).contains(limit))
                        .ok_or_else(|| BadRange::Limit(value.clone()))?;
                }
                "format" => {
                    query.csv = match &*value {
                        "csv" => true,
                        "json" => false,
                        other => return Err(BadRange::Format(other.to_owned())),
                    };
                }
                _ => {}
            }
        }
        if let (Some(start), Some(end)) = (query.start, query.end)
            && start > end
        {
            return Err(BadRange::Reversed { start, end });
        }
        Ok(query)
    }

    /// The URL of the page that starts at `next_day`, the rest of the query
    /// as it was.
    fn next_page_url(&self, base: &str, path: &str, next_day: &str) -> String {
        let mut url = format!("{base}{path}?start={next_day}");
        if let Some(end) = self.end {
            url.push_str(&format!("&end={end}"));
        }
        url.push_str(&format!("&limit={}", self.limit));
        if self.csv {
            url.push_str("&format=csv");
        }
        url
    }
}
