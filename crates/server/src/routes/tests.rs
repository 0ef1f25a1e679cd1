//! The API called directly, without a socket; the real-socket tests
//! live in the workspace's `tests/`.

use http_body_util::BodyExt;
use hyper::ext::ReasonPhrase;

use super::reply::{METHOD_NOT_ALLOWED_PAGE, NOT_FOUND_PAGE};
use prices::PriceTable;

use super::*;

const LOCAL: &str = "127.0.0.1:8080";

/// One state for every test: the table is loaded once.
fn state() -> AppState {
    static STATE: std::sync::LazyLock<(watch::Sender<bool>, AppState)> =
        std::sync::LazyLock::new(|| {
            let (stop, stopping) = watch::channel(false);
            let state = AppState::new(PriceTable::embedded().unwrap(), Duration::ZERO, stopping);
            (stop, state)
        });
    STATE.1.clone()
}

async fn call(method: &str, uri: &str) -> (StatusCode, String, String) {
    let request = Request::builder().method(method).uri(uri).body(()).unwrap();
    let response = state().respond(&request, LOCAL.parse().unwrap()).await;
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

#[tokio::test]
async fn a_price() {
    let (status, content_type, body) = call("GET", "/price/kraken/eth/2020-03-10").await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::OK, "application/json")
    );
    assert!(
        body.starts_with(r#"{"exchange": "kraken", "symbol": "eth", "open": "#),
        "{body}"
    );
    assert!(body.ends_with(r#", "day": "2020-03-10"}"#), "{body}");
}

#[tokio::test]
async fn a_bad_date() {
    let (status, _, body) = call("GET", "/price/kraken/eth/10-03-2020").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        r#"{"error": "date \"10-03-2020\" is not in YYYY-MM-DD form (for example 2020-04-01)"}"#
    );
}

#[tokio::test]
async fn the_page_and_the_fallbacks() {
    let (status, content_type, body) = call("GET", "/").await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::OK, "text/html; charset=utf-8")
    );
    assert!(body.contains("Crypto Price Examples"));
    assert_eq!(call("GET", "/missing").await.2, NOT_FOUND_PAGE);
    assert_eq!(call("PATCH", "/symbols").await.2, METHOD_NOT_ALLOWED_PAGE);
}

#[tokio::test]
async fn methods_are_read_case_insensitively_as_werkzeug_reads_them() {
    assert_eq!(call("get", "/exchanges").await.0, StatusCode::OK);
    assert_eq!(call("Get", "/symbols").await.0, StatusCode::OK);
    assert_eq!(call("options", "/symbols").await.0, StatusCode::OK);
    assert_eq!(
        call("patch", "/symbols").await.0,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test]
async fn a_redirect_is_byte_for_byte_the_originals() {
    // Captured from the original for this request (Host: x): 283 bytes.
    let request = Request::get("/price//bitstamp/btc/2020-04-01")
        .header("host", "x")
        .body(())
        .unwrap();
    let response = state().respond(&request, LOCAL.parse().unwrap()).await;
    assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(
        response.headers()[header::LOCATION],
        "http://x/price/bitstamp/btc/2020-04-01"
    );
    assert_eq!(
        response
            .extensions()
            .get::<ReasonPhrase>()
            .unwrap()
            .as_bytes(),
        b"PERMANENT REDIRECT"
    );
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body.len(), 283);
    assert!(body.ends_with(
        b"<a href=\"http://x/price/bitstamp/btc/2020-04-01\">http://x/price/bitstamp/btc/2020-04-01</a>.  If not click the link."
    ));
}

#[tokio::test]
async fn a_redirect_keeps_the_query_and_escapes_the_page() {
    // As the original: Host `h:80` loses its `:80`, the query is kept
    // as sent, and the page escapes it.
    let request = Request::get("/price/bit%20stamp//btc/2020-04-01?q=%20a&b=1")
        .header("host", "h:80")
        .body(())
        .unwrap();
    let response = state().respond(&request, LOCAL.parse().unwrap()).await;
    assert_eq!(
        response.headers()[header::LOCATION],
        "http://h/price/bit%2520stamp/btc/2020-04-01?q=%20a&b=1"
    );
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(
        std::str::from_utf8(&body)
            .unwrap()
            .contains("<a href=\"http://h/price/bit%2520stamp/btc/2020-04-01?q=%20a&amp;b=1\">")
    );
    // Without a Host header, the address the client reached. Werkzeug
    // names the address it is bound to (`0.0.0.0` by default), which
    // no client can reach: a difference on purpose (docs/server.md).
    let request = Request::get("/price/bitstamp/btc//2020-04-01")
        .body(())
        .unwrap();
    let response = state().respond(&request, LOCAL.parse().unwrap()).await;
    assert_eq!(
        response.headers()[header::LOCATION],
        "http://127.0.0.1:8080/price/bitstamp/btc/2020-04-01"
    );
}

async fn get(uri: &str, accept: Option<&str>) -> Response {
    let mut request = Request::get(uri).header("host", "x");
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    state()
        .respond(&request.body(()).unwrap(), LOCAL.parse().unwrap())
        .await
}

async fn text(response: Response) -> String {
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

#[tokio::test]
async fn a_range_is_each_row_as_price_renders_it_in_day_order() {
    let table = PriceTable::embedded().unwrap();
    let days = (1..=7).map(|d| format!("2020-04-0{d}"));
    let expected: Vec<String> = days
        .map(|day| table.get("bitstamp", "btc", &day).unwrap().to_json())
        .collect();
    let response = get("/prices/bitstamp/btc?start=2020-04-01&end=2020-04-07", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    assert!(response.headers().get(header::LINK).is_none());
    assert_eq!(text(response).await, format!("[{}]", expected.join(", ")));
}

#[tokio::test]
async fn a_page_links_to_the_next_with_the_rest_of_the_query() {
    let response = get(
        "/prices/bitstamp/btc?start=2020-04-01&end=2020-04-07&limit=3",
        None,
    )
    .await;
    assert_eq!(
        response.headers()[header::LINK],
        "<http://x/prices/bitstamp/btc?start=2020-04-04&end=2020-04-07&limit=3>; rel=\"next\""
    );
    let first = text(response).await;
    assert_eq!(first.matches("\"day\"").count(), 3);
    let last = get(
        "/prices/bitstamp/btc?start=2020-04-07&end=2020-04-07&limit=3",
        None,
    )
    .await;
    assert!(last.headers().get(header::LINK).is_none());
    assert!(get("/prices/mexbt/ltc", None).await.status() == StatusCode::OK);
}

#[tokio::test]
async fn a_range_as_csv_by_format_or_accept() {
    let expected = "exchange,symbol,day,open,high,low,close,volume\n\
        bitstamp,btc,2020-04-01,6408.95,6527.24,6337.42,6421.14,6342.29832651\n";
    let by_format = get(
        "/prices/bitstamp/btc?start=2020-04-01&end=2020-04-01&format=csv",
        None,
    )
    .await;
    assert_eq!(
        by_format.headers()[header::CONTENT_TYPE],
        "text/csv; charset=utf-8"
    );
    assert_eq!(text(by_format).await, expected);
    let by_accept = get(
        "/prices/bitstamp/btc?start=2020-04-01&end=2020-04-01",
        Some("text/csv"),
    )
    .await;
    assert_eq!(text(by_accept).await, expected);
}

#[tokio::test]
async fn a_range_says_what_is_wrong_with_it() {
    for (uri, status, message) in [
        (
            "/prices/nasdaq/btc",
            404,
            "no exchange \\\"nasdaq\\\" (see /exchanges)",
        ),
        (
            "/prices/bitstamp/doge",
            404,
            "no symbol \\\"doge\\\" (see /symbols)",
        ),
        (
            "/prices/btc/bitstamp",
            404,
            "no exchange \\\"btc\\\" (see /exchanges)",
        ),
        (
            "/prices/bitstamp/btc?start=2020-05-01&end=2020-04-01",
            400,
            "start 2020-05-01 is after end 2020-04-01",
        ),
        (
            "/prices/bitstamp/btc?start=2020-4-1",
            400,
            "start: date \\\"2020-4-1\\\" is not in YYYY-MM-DD form (for example 2020-04-01)",
        ),
        (
            "/prices/bitstamp/btc?limit=0",
            400,
            "limit \\\"0\\\" is not a whole number from 1 to 1000",
        ),
        (
            "/prices/bitstamp/btc?limit=1001",
            400,
            "limit \\\"1001\\\" is not a whole number from 1 to 1000",
        ),
        (
            "/prices/bitstamp/btc?format=xml",
            400,
            "format \\\"xml\\\" is not json or csv",
        ),
    ] {
        let response = get(uri, None).await;
        assert_eq!(response.status().as_u16(), status, "{uri}");
        assert_eq!(
            text(response).await,
            format!("{{\"error\": \"{message}\"}}"),
            "{uri}"
        );
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

    /// Any path and query, however odd: never a panic, and only the
    /// statuses the API documents.
    #[test]
    fn any_request_target_gets_a_documented_answer(
        path in "(/|//|price|prices|exchanges|symbols|bitstamp|btc|2020-04-01|%[0-9A-Fa-f]{0,2}|%2F|[a-z0-9.~+;:@!$&'()*,= _-]){0,12}",
        query in "(start|end|limit|format|=|&|2020-04-01|2021-13-01|csv|json|%[0-9A-Fa-f]{0,2}|[0-9]{1,5}|\\+|x){0,10}",
        method in proptest::sample::select(vec!["GET", "HEAD", "OPTIONS", "POST", "get", "DELETE"]),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let target = format!("/{path}?{query}");
        let Ok(request) = Request::builder().method(method).uri(&target).body(()) else {
            // Not a request target hyper would hand us at all.
            return Ok(());
        };
        let response = runtime.block_on(state().respond(&request, LOCAL.parse().unwrap()));
        let status = response.status().as_u16();
        proptest::prop_assert!(
            [200, 308, 400, 404, 405, 414].contains(&status),
            "{method} {target}: {status}"
        );
    }
}

#[tokio::test]
async fn a_sleep_ends_early_when_the_server_stops() {
    let (stop, stopping) = watch::channel(false);
    let state = AppState::new(
        PriceTable::embedded().unwrap(),
        Duration::from_secs(3600),
        stopping,
    );
    let waiting = tokio::spawn({
        let state = state.clone();
        async move { state.delay().await }
    });
    while state.stats().waiting() == 0 {
        tokio::task::yield_now().await;
    }
    stop.send(true).unwrap();
    waiting.await.unwrap();
    assert_eq!(state.stats().waiting(), 0);
    assert_eq!(state.stats().peak_waiting(), 1);
}
