//! The answers every route shares, written as the original writes them:
//! JSON with Python's separators, Werkzeug's error pages and reason
//! phrases, its `308` with an absolute `Location`.

use std::net::SocketAddr;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::ext::ReasonPhrase;
use hyper::header::{self, HeaderValue};
use hyper::{Request, StatusCode};

use super::Response;

/// The page at `/`: a form that calls the three endpoints, with no CDN, no
/// web font and no framework, so it works offline.
pub(super) const INDEX_PAGE: &str = include_str!("../page.html");

/// The page at `/live`: the requests of the last seconds drawn lane by
/// lane, from `/live/events`; offline, as the other pages.
pub(super) const LIVE_PAGE: &str = include_str!("../live.html");

/// Werkzeug 1.x's error pages, which the original (Flask 1.1) sends.
pub(super) const NOT_FOUND_PAGE: &str = "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 3.2 Final//EN\">\n\
<title>404 Not Found</title>\n<h1>Not Found</h1>\n\
<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.</p>\n";
pub(super) const BAD_REQUEST_PAGE: &str = "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 3.2 Final//EN\">\n\
<title>400 Bad Request</title>\n<h1>Bad Request</h1>\n\
<p>The browser (or proxy) sent a request that this server could not understand.</p>\n";
pub(super) const METHOD_NOT_ALLOWED_PAGE: &str = "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 3.2 Final//EN\">\n\
<title>405 Method Not Allowed</title>\n<h1>Method Not Allowed</h1>\n\
<p>The method is not allowed for the requested URL.</p>\n";

pub(super) const JSON: HeaderValue = HeaderValue::from_static("application/json");
pub(super) const CSV: HeaderValue = HeaderValue::from_static("text/csv; charset=utf-8");
pub(super) const HTML: HeaderValue = HeaderValue::from_static("text/html; charset=utf-8");
/// The original's `Allow` header as observed. Werkzeug builds it from a
/// Python set, so its order can change between runs of the original; no
/// client can rely on it, but we send one order seen.
pub(super) const ALLOWED: HeaderValue = HeaderValue::from_static("OPTIONS, GET, HEAD");

pub(super) fn response(status: StatusCode, content_type: HeaderValue, body: Bytes) -> Response {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, content_type);
    response
}

pub(super) fn json(status: StatusCode, body: Bytes) -> Response {
    response(status, JSON, body)
}

pub(super) fn html(status: StatusCode, body: Bytes) -> Response {
    response(status, HTML, body)
}

/// A `{"error": "..."}` body, written the way the rest of the API writes
/// JSON (Python's separators and escaping).
pub(super) fn json_error(status: StatusCode, message: &str) -> Response {
    let mut body = String::from("{\"error\": ");
    prices::pyjson::write_str(&mut body, message);
    body.push('}');
    json(status, Bytes::from(body))
}

/// A `500` for a lookup that failed in the store (a file that went away, a
/// cell of the wrong type); the reason goes to the log, once per request.
#[cold]
pub(super) fn lookup_failed(error: &prices::LookupError) -> Response {
    tracing::warn!("{error}: {:?}", std::error::Error::source(error));
    json_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the prices could not be read (the server's log says why)",
    )
}

pub(super) fn options() -> Response {
    let mut response = html(StatusCode::OK, Bytes::new());
    response.headers_mut().insert(header::ALLOW, ALLOWED);
    response
}

pub(super) fn not_found() -> Response {
    html(
        StatusCode::NOT_FOUND,
        Bytes::from_static(NOT_FOUND_PAGE.as_bytes()),
    )
}

pub(super) fn method_not_allowed() -> Response {
    let mut response = html(
        StatusCode::METHOD_NOT_ALLOWED,
        Bytes::from_static(METHOD_NOT_ALLOWED_PAGE.as_bytes()),
    );
    response.headers_mut().insert(header::ALLOW, ALLOWED);
    response
}

/// How many header fields Python's header reader refuses (it counts the
/// blank line that ends the head, and allows 100 lines in all). hyper
/// refuses more than 100 itself, with its own bare `431`.
pub(super) const TOO_MANY_HEADERS: usize = 100;

/// Python's `431` for [`TOO_MANY_HEADERS`]: `http.server`'s page (not
/// Werkzeug's), its message as the reason phrase, and the connection
/// closed after it.
pub(super) fn too_many_headers() -> Response {
    let page = crate::wire::error_page(431, "Too many headers", "got more than 100 headers", false);
    let mut response = response(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        HeaderValue::from_static("text/html;charset=utf-8"),
        Bytes::from(page),
    );
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
        .extensions_mut()
        .insert(ReasonPhrase::from_static(b"Too many headers"));
    response
}

/// `http://` and the host a client reached us by, as Werkzeug names it
/// (see within), or the server's own address when the request names
/// none; `None` for a name that is not ASCII and that IDNA cannot encode
/// (Werkzeug says `400`).
pub(super) fn base_url<B>(request: &Request<B>, local: SocketAddr) -> Option<String> {
    // Werkzeug's host: an absolute-form target's authority before any
    // `Host` header; several `Host` headers joined with commas (its WSGI
    // server joins a repeated header so), each read as Latin-1 (as
    // Python reads every header); lower-cased; the default port dropped
    // from the end; a name that is not ASCII IDNA-encoded.
    let host = match request.uri().authority() {
        Some(authority) => authority.as_str().to_owned(),
        None => {
            let hosts: Vec<String> = request
                .headers()
                .get_all(header::HOST)
                .iter()
                .map(|host| {
                    host.as_bytes()
                        .iter()
                        .map(|&byte| char::from(byte))
                        .collect()
                })
                .collect();
            if hosts.is_empty() {
                local.to_string()
            } else {
                hosts.join(",")
            }
        }
    };
    let host = host.to_lowercase();
    let host = host.strip_suffix(":80").unwrap_or(&host);
    if host.is_ascii() {
        return Some(format!("http://{host}"));
    }
    Some(format!("http://{}", idna_2003(host)?))
}

/// `host` (with its port, if any) as Python's `idna` codec (IDNA 2003)
/// writes it. The `idna` crate implements its successor (UTS 46), whose
/// "transitional" mapping is IDNA 2003's: `ß` is `ss`, final `ς` is `σ`,
/// the zero-width joiners go; that mapping is applied first.
fn idna_2003(host: &str) -> Option<String> {
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|byte| byte.is_ascii_digit()) => (name, Some(port)),
        _ => (host, None),
    };
    let mapped: String = name
        .chars()
        .filter(|&c| c != '\u{200c}' && c != '\u{200d}')
        .map(|c| match c {
            'ς' => "σ".to_owned(),
            'ß' => "ss".to_owned(),
            c => c.to_string(),
        })
        .collect();
    let ascii = idna::domain_to_ascii(&mapped).ok()?;
    Some(match port {
        Some(port) => format!("{ascii}:{port}"),
        None => ascii,
    })
}

/// Werkzeug's `308` for merged slashes: an absolute URL (see [`base_url`])
/// with the query string as it came, and its HTML page.
pub(super) fn redirect<B>(request: &Request<B>, local: SocketAddr, path: &str) -> Response {
    let query = match request.uri().query() {
        Some(query) if !query.is_empty() => format!("?{query}"),
        _ => String::new(),
    };
    let Some(base_url) = base_url(request, local) else {
        return html(
            StatusCode::BAD_REQUEST,
            Bytes::from_static(BAD_REQUEST_PAGE.as_bytes()),
        );
    };
    let location = format!("{base_url}{path}{query}");
    let shown = html_escape(&location);
    let page = format!(
        "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 3.2 Final//EN\">\n\
<title>Redirecting...</title>\n<h1>Redirecting...</h1>\n\
<p>You should be redirected automatically to target URL: <a href=\"{shown}\">{shown}</a>.  If not click the link."
    );
    let length = HeaderValue::from(page.len());
    let mut response = html(StatusCode::PERMANENT_REDIRECT, Bytes::from(page));
    match HeaderValue::from_str(&location) {
        Ok(location) => {
            // In Werkzeug's order: its response has its length before the
            // `Location` is added (hyper would write the length last).
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_LENGTH, length);
            headers.insert(header::LOCATION, location);
        }
        // Only a Host header with bytes a header cannot hold gets here;
        // such a request has no URL to send the client to.
        Err(_) => return json_error(StatusCode::BAD_REQUEST, "the Host header is not valid"),
    }
    response
}

/// Werkzeug 1.0's `escape`: `&`, `<`, `>` and `"`.
pub(super) fn html_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// Status lines as Werkzeug writes them: its reason phrase, upper-cased
/// (`404 NOT FOUND`). Python clients print it (`raise_for_status()`:
/// "404 Client Error: NOT FOUND for url: ..."). `200 OK` needs nothing.
pub(super) fn with_werkzeug_reason(mut response: Response) -> Response {
    let status = response.status().as_u16();
    if status == 200 || response.extensions().get::<ReasonPhrase>().is_some() {
        // Nothing to add, or a reason of its own (Python's 431).
        return response;
    }
    let reason: &'static [u8] = match status {
        308 => b"PERMANENT REDIRECT",
        400 => b"BAD REQUEST",
        404 => b"NOT FOUND",
        405 => b"METHOD NOT ALLOWED",
        414 => b"REQUEST URI TOO LONG",
        429 => b"TOO MANY REQUESTS",
        431 => b"REQUEST HEADER FIELDS TOO LARGE",
        500 => b"INTERNAL SERVER ERROR",
        503 => b"SERVICE UNAVAILABLE",
        _ => return response,
    };
    response
        .extensions_mut()
        .insert(ReasonPhrase::from_static(reason));
    response
}
