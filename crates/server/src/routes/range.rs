//! `/prices/{exchange}/{symbol}`: a range of rows in day order, in pages,
//! as JSON or CSV. Ours, beyond the original's routes.

use std::net::SocketAddr;

use hyper::body::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Request, StatusCode};
use prices::{Day, DayError};

use super::reply::{CSV, JSON, base_url, json_error, response};
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
        let rows = match self
            .table()
            .range(exchange, symbol, start.as_deref(), end.as_deref())
        {
            Ok(rows) => rows,
            Err(unknown) => return json_error(StatusCode::NOT_FOUND, &unknown.to_string()),
        };
        let page = rows.clone().take(query.limit);
        let next_day = rows.clone().nth(query.limit).map(|row| row.day);
        let mut body = String::new();
        let content_type = if query.csv {
            body.push_str(prices::csv::HEADER);
            body.push('\n');
            for row in page {
                prices::csv::write_row(&mut body, row.exchange, row.symbol, row.day, row.numbers);
                body.push('\n');
            }
            CSV
        } else {
            body.push('[');
            for (i, row) in page.enumerate() {
                if i > 0 {
                    body.push_str(", ");
                }
                row.write_json(&mut body);
            }
            body.push(']');
            JSON
        };
        let mut response = response(StatusCode::OK, content_type, Bytes::from(body));
        if let Some(next_day) = next_day {
            let next =
                query.next_page_url(&base_url(request, local), request.uri().path(), next_day);
            if let Ok(link) = HeaderValue::from_str(&format!("<{next}>; rel=\"next\"")) {
                response.headers_mut().insert(header::LINK, link);
            }
        }
        response
    }
}

/// The most rows one `/prices` answer holds, and its default page size.
pub const MAX_PAGE: usize = 1000;

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
