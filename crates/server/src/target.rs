//! Reading a request target the way the original reads it.
//!
//! The original is Flask 1.1 on Werkzeug 1.0.1, and its clients depend on
//! how Werkzeug turns a path into a route, not only on the route table.
//! Observed against the original (and in Werkzeug's `routing.py`):
//!
//! 1. The path is percent-decoded before routing: `/%65xchanges` is
//!    `/exchanges`, `%2F` becomes a real `/` (so it separates segments),
//!    and a `%` not followed by two hex digits stays as it is.
//! 2. Leading slashes are dropped: `//exchanges` and `//` route as
//!    `/exchanges` and `/`. This is what makes
//!    `BASE_URL = "http://localhost:8080/"` plus `"/exchanges"` work.
//! 3. Inside `/price/...`, a run of slashes still matches the route, but is
//!    answered `308` with the merged path (Werkzeug's `merge_slashes`).
//! 4. A trailing slash is another path (404), and every segment of
//!    `/price` needs at least one character.
//! 5. A target with no leading slash at all is routed as if it had one
//!    (`GET exchanges` is `/exchanges`; the socket reader adds the slash,
//!    see `wire`), and an absolute-form target with no path at all is
//!    redirected to `/` ([`Target::of`]).
//!
//! Our own routes beyond the original's (`/prices/{exchange}/{symbol}`,
//! `/openapi.json`, `/docs`, `/chaos`, `/metrics`, `/health`) follow the
//! same rules, so the whole URL space reads one way.
//!
//! [`Target::resolve`] does all of it without allocating for a target that
//! needs no decoding, which is every target a well-behaved client sends.

use std::borrow::Cow;
use std::fmt::Write;

use hyper::Uri;

/// What a request's path names.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Target<'a> {
    /// A route without parameters (`/exchanges`, `/chaos`, ...).
    Fixed(Route),
    /// `/price/{exchange}/{symbol}/{date}`, decoded.
    Price {
        exchange: Cow<'a, str>,
        symbol: Cow<'a, str>,
        date: Cow<'a, str>,
    },
    /// `/price/...` whose segments are not UTF-8 once decoded. The original
    /// reads them with replacement characters and answers `null`; we say
    /// `400` instead (a name that is not text can never match).
    PriceNotUtf8,
    /// `/prices/{exchange}/{symbol}` (ours, not the original's), decoded.
    Prices {
        exchange: Cow<'a, str>,
        symbol: Cow<'a, str>,
    },
    /// `/prices/...` whose segments are not UTF-8 once decoded: `400`.
    PricesNotUtf8,
    /// A `/price/...` or `/prices/...` path with merged slashes: answer
    /// `308` to this path, already quoted as Werkzeug quotes it.
    Redirect(String),
    /// An absolute-form target with no path at all: Werkzeug answers
    /// `308` to `/` for the methods `/` allows, `405` for the others.
    EmptyPath,
    /// No route.
    Unknown,
}

impl<'a> Target<'a> {
    /// Resolves a request's target: its path, except for an absolute-form
    /// target with an empty path (`http://localhost:8080`, which the
    /// socket reader hands on as `http://localhost:8080?`, see `wire`):
    /// Werkzeug redirects that to `/`.
    pub(crate) fn of(uri: &'a Uri) -> Target<'a> {
        match (uri.scheme(), uri.path_and_query()) {
            (Some(_), Some(empty)) if empty.as_str().starts_with('?') => Target::EmptyPath,
            _ => Target::resolve(uri.path()),
        }
    }

    /// Resolves the path of a request target (without its query).
    pub(crate) fn resolve(path: &'a str) -> Target<'a> {
        match percent_decode(path.as_bytes(), false) {
            // Nothing was decoded: every segment split at an ASCII `/` of
            // a `&str` is a `&str` too, borrowed, no copy.
            Cow::Borrowed(bytes) => resolve_bytes(bytes, |segment| {
                std::str::from_utf8(segment).ok().map(Cow::Borrowed)
            }),
            Cow::Owned(bytes) => resolve_bytes(&bytes, |segment| {
                String::from_utf8(segment.to_vec()).ok().map(Cow::Owned)
            }),
        }
    }

    /// The route this target was matched by, as the OpenAPI document
    /// and `/metrics` name it; `None` for a redirect or no route.
    pub(crate) fn route(&self) -> Option<Route> {
        match self {
            Target::Fixed(route) => Some(*route),
            Target::Price { .. } | Target::PriceNotUtf8 => Some(Route::Price),
            Target::Prices { .. } | Target::PricesNotUtf8 => Some(Route::Prices),
            Target::Redirect(_) | Target::EmptyPath | Target::Unknown => None,
        }
    }
}

/// The route table: every route the server answers, one row each, with
/// its path template as OpenAPI writes it and, for a route without
/// parameters, the path it is matched by. A new route is a row here, its
/// answer in `routes/mod.rs`, and its description in `openapi.json` (the
/// drift test in `openapi.rs` fails until it is there).
macro_rules! routes {
    ($( $(#[doc = $doc:literal])* $name:ident $template:literal $(=> $path:literal)?; )+) => {
        /// Every route the server answers, named by its path template.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub(crate) enum Route {
            $( $(#[doc = $doc])* $name, )+
        }

        impl Route {
            /// Every route, in the table's order (`Route::X as usize` is
            /// its index), for `/metrics` and for tests that walk the URL
            /// space.
            pub(crate) const ALL: &[Route] = &[$( Route::$name, )+];

            /// The path template, as OpenAPI writes it.
            pub(crate) fn template(self) -> &'static str {
                match self {
                    $( Route::$name => $template, )+
                }
            }

            /// The route without parameters whose path (leading slashes
            /// dropped) is `path`.
            fn fixed(path: &[u8]) -> Option<Route> {
                $( $( if path == $path { return Some(Route::$name); } )? )+
                None
            }
        }
    };
}

routes! {
    /// The page.
    Index "/" => b"";
    /// The exchanges' names.
    Exchanges "/exchanges" => b"exchanges";
    /// The symbols' names.
    Symbols "/symbols" => b"symbols";
    /// One price, the lessons' route.
    Price "/price/{exchange}/{symbol}/{date}";
    /// A range of prices (ours).
    Prices "/prices/{exchange}/{symbol}";
    /// The API described in OpenAPI 3.1 (ours).
    OpenApi "/openapi.json" => b"openapi.json";
    /// That description, rendered for people (ours).
    Docs "/docs" => b"docs";
    /// The faults injected on purpose (ours).
    Chaos "/chaos" => b"chaos";
    /// Counters for Prometheus (ours).
    Metrics "/metrics" => b"metrics";
    /// A health check (ours).
    Health "/health" => b"health";
    /// The requests of the last seconds, lane by lane, drawn live (ours).
    Live "/live" => b"live";
    /// The same, as a JSON snapshot (ours).
    LiveJson "/live.json" => b"live.json";
    /// The same, as a stream of Server-Sent Events (ours).
    LiveEvents "/live/events" => b"live/events";
}

/// Routes decoded path bytes; `text` turns a `/price` segment into a string
/// (`None` when it is not UTF-8).
fn resolve_bytes<'p, 't>(
    path: &'p [u8],
    text: impl Fn(&'p [u8]) -> Option<Cow<'t, str>>,
) -> Target<'t> {
    let start = path.iter().position(|&b| b != b'/').unwrap_or(path.len());
    let path = &path[start..];
    if let Some(route) = Route::fixed(path) {
        return Target::Fixed(route);
    }
    if let Some(rest) = path.strip_prefix(b"price/") {
        return match segments::<3>(rest) {
            None => Target::Unknown,
            Some((segments, true)) => Target::Redirect(redirect_path("/price", segments)),
            Some(([exchange, symbol, date], false)) => {
                match (text(exchange), text(symbol), text(date)) {
                    (Some(exchange), Some(symbol), Some(date)) => Target::Price {
                        exchange,
                        symbol,
                        date,
                    },
                    _ => Target::PriceNotUtf8,
                }
            }
        };
    }
    if let Some(rest) = path.strip_prefix(b"prices/") {
        return match segments::<2>(rest) {
            None => Target::Unknown,
            Some((segments, true)) => Target::Redirect(redirect_path("/prices", segments)),
            Some(([exchange, symbol], false)) => match (text(exchange), text(symbol)) {
                (Some(exchange), Some(symbol)) => Target::Prices { exchange, symbol },
                _ => Target::PricesNotUtf8,
            },
        };
    }
    Target::Unknown
}

/// The `N` non-empty segments after a route's `name/`, and whether any
/// separator was a run of slashes (to be merged, with a redirect). `None`
/// when there are not exactly `N`, or there is a trailing slash.
fn segments<const N: usize>(rest: &[u8]) -> Option<([&[u8]; N], bool)> {
    if rest.ends_with(b"/") {
        return None;
    }
    let mut parts = rest.split(|&b| b == b'/').filter(|s| !s.is_empty());
    let segments: [&[u8]; N] = std::array::from_fn(|_| parts.next().unwrap_or_default());
    if segments.iter().any(|segment| segment.is_empty()) || parts.next().is_some() {
        return None;
    }
    // `name/` was stripped with its slash, so a slash at the start of
    // `rest` is the second of a run, as is any `//` further on.
    let merged = rest.starts_with(b"/") || rest.windows(2).any(|pair| pair == b"//");
    Some((segments, merged))
}

/// Werkzeug's `url_unquote`: `%XX` becomes the byte `XX`; a `%` without
/// two hex digits after it is kept; with `plus_is_space` (a query string),
/// `+` is a space. Borrows when there is nothing to decode.
pub(crate) fn percent_decode(text: &[u8], plus_is_space: bool) -> Cow<'_, [u8]> {
    let needs_decoding = text.contains(&b'%') || (plus_is_space && text.contains(&b'+'));
    if !needs_decoding {
        return Cow::Borrowed(text);
    }
    let mut decoded = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let hex = |at: usize| text.get(at).and_then(|&b| (b as char).to_digit(16));
        match (text[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(high), Some(low)) => {
                decoded.push((high * 16 + low) as u8);
                i += 3;
            }
            (b'+', _, _) if plus_is_space => {
                decoded.push(b' ');
                i += 1;
            }
            (byte, _, _) => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    Cow::Owned(decoded)
}

/// The path a merged-slash `/price` request is redirected to, byte for byte
/// as Werkzeug 1.0.1 writes it. Werkzeug quotes each segment when it builds
/// the URL (keeping `A-Za-z0-9-._~` and `/:`), then quotes the whole path
/// again (keeping also `|+`), so every `%` of the first pass becomes `%25`:
/// a space is `%2520`. The double quoting is Werkzeug's, kept because
/// clients of the original see it; no real exchange, symbol or day has a
/// character it touches.
fn redirect_path<const N: usize>(route: &str, segments: [&[u8]; N]) -> String {
    let mut path = String::from(route);
    for segment in segments {
        path.push('/');
        // Werkzeug reads an undecodable byte as U+FFFD before quoting.
        for &byte in String::from_utf8_lossy(segment).as_bytes() {
            if byte.is_ascii_alphanumeric() || b"-._~:/".contains(&byte) {
                path.push(byte as char);
            } else {
                let _ = write!(path, "%25{byte:02X}");
            }
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price<'a>(exchange: &'a str, symbol: &'a str, date: &'a str) -> Target<'a> {
        Target::Price {
            exchange: exchange.into(),
            symbol: symbol.into(),
            date: date.into(),
        }
    }

    #[test]
    fn plain_paths_route_without_copying() {
        assert_eq!(Target::resolve("/"), Target::Fixed(Route::Index));
        assert_eq!(
            Target::resolve("/exchanges"),
            Target::Fixed(Route::Exchanges)
        );
        assert_eq!(Target::resolve("/symbols"), Target::Fixed(Route::Symbols));
        assert_eq!(
            Target::resolve("/openapi.json"),
            Target::Fixed(Route::OpenApi)
        );
        assert_eq!(Target::resolve("/docs"), Target::Fixed(Route::Docs));
        assert_eq!(Target::resolve("/chaos"), Target::Fixed(Route::Chaos));
        assert_eq!(Target::resolve("/metrics"), Target::Fixed(Route::Metrics));
        let with_path = Uri::from_static("http://localhost:8080/exchanges");
        assert_eq!(Target::of(&with_path), Target::Fixed(Route::Exchanges));
        assert_eq!(Target::resolve("/health"), Target::Fixed(Route::Health));
        let target = Target::resolve("/price/bitstamp/btc/2020-04-01");
        assert_eq!(target, price("bitstamp", "btc", "2020-04-01"));
        assert!(matches!(
            target,
            Target::Price {
                exchange: Cow::Borrowed(_),
                ..
            }
        ));
    }

    #[test]
    fn every_route_is_listed_at_its_own_index() {
        for (index, &route) in Route::ALL.iter().enumerate() {
            assert_eq!(route as usize, index, "{route:?}");
        }
    }

    #[test]
    fn leading_slashes_are_dropped_as_werkzeug_drops_them() {
        for path in ["//exchanges", "///exchanges", "////exchanges"] {
            assert_eq!(
                Target::resolve(path),
                Target::Fixed(Route::Exchanges),
                "{path}"
            );
        }
        assert_eq!(Target::resolve("//"), Target::Fixed(Route::Index));
        assert_eq!(
            Target::resolve("//price/bitstamp/btc/2020-04-01"),
            price("bitstamp", "btc", "2020-04-01")
        );
    }

    #[test]
    fn the_path_is_decoded_before_routing() {
        assert_eq!(
            Target::resolve("/%65xchanges"),
            Target::Fixed(Route::Exchanges)
        );
        assert_eq!(
            Target::resolve("//%65xchanges"),
            Target::Fixed(Route::Exchanges)
        );
        // %2F is a real slash: this is the canonical path, as on the original.
        assert_eq!(
            Target::resolve("/price/bitstamp%2Fbtc/2020-04-01"),
            price("bitstamp", "btc", "2020-04-01")
        );
        assert_eq!(
            Target::resolve("/price/bitstamp/btc/2020-04-01%2F"),
            Target::Unknown
        );
        // A lone % stays as it is.
        assert_eq!(
            Target::resolve("/price/bit%stamp/btc/2020-04-01"),
            price("bit%stamp", "btc", "2020-04-01")
        );
        assert_eq!(Target::resolve("/%zz"), Target::Unknown);
        assert_eq!(
            Target::resolve("/price/bit%FFstamp/btc/2020-04-01"),
            Target::PriceNotUtf8
        );
    }

    #[test]
    fn inner_double_slashes_redirect_to_the_merged_path() {
        for path in [
            "/price//bitstamp/btc/2020-04-01",
            "//price//bitstamp/btc/2020-04-01",
            "/price/bitstamp/btc//2020-04-01",
            "/price/bitstamp///btc/2020-04-01",
        ] {
            assert_eq!(
                Target::resolve(path),
                Target::Redirect("/price/bitstamp/btc/2020-04-01".into()),
                "{path}"
            );
        }
    }

    #[test]
    fn redirects_quote_twice_as_werkzeug_does() {
        // Observed on the original: `bit%20stamp` -> `bit%2520stamp`.
        assert_eq!(
            Target::resolve("/price/bit%20stamp//btc/2020-04-01"),
            Target::Redirect("/price/bit%2520stamp/btc/2020-04-01".into())
        );
        assert_eq!(
            Target::resolve("/price/%C3%A9~+:|@!$&()*,;=//btc/x"),
            Target::Redirect(
                "/price/%25C3%25A9~%252B:%257C%2540%2521%2524%2526%2528%2529%252A%252C%253B%253D/btc/x"
                    .into()
            )
        );
    }

    #[test]
    fn our_range_route_reads_the_same_way() {
        assert_eq!(
            Target::resolve("//prices/bit%73tamp/btc"),
            Target::Prices {
                exchange: "bitstamp".into(),
                symbol: "btc".into()
            }
        );
        assert_eq!(
            Target::resolve("/prices//bitstamp/btc"),
            Target::Redirect("/prices/bitstamp/btc".into())
        );
        assert_eq!(Target::resolve("/prices/%FF/btc"), Target::PricesNotUtf8);
        for path in [
            "/prices",
            "/prices/",
            "/prices/bitstamp",
            "/prices/bitstamp/btc/",
            "/prices/a/b/c",
        ] {
            assert_eq!(Target::resolve(path), Target::Unknown, "{path}");
        }
    }

    #[test]
    fn an_absolute_target_routes_by_its_path_and_an_empty_path_goes_to_the_root() {
        let of = |target: &str| format!("{:?}", Target::of(&target.parse().unwrap()));
        let is = |target: Target| format!("{target:?}");
        assert_eq!(of("/exchanges"), is(Target::Fixed(Route::Exchanges)));
        assert_eq!(
            of("http://localhost:8080/symbols"),
            is(Target::Fixed(Route::Symbols))
        );
        for empty in ["http://localhost:8080?", "http://localhost:8080?x=1"] {
            assert_eq!(of(empty), is(Target::EmptyPath), "{empty}");
        }
        assert_eq!(of("*"), is(Target::Unknown));
    }

    #[test]
    fn other_paths_are_unknown() {
        for path in [
            "/nope",
            "/exchanges/",
            "/exchanges//",
            "/EXCHANGES",
            "/price",
            "/price/",
            "/price/bitstamp/btc",
            "/price//btc/2020-04-01",
            "/price/bitstamp/btc/2020-04-01/",
            "/price/bitstamp/btc/2020-04-01/extra",
            "/pricex/bitstamp/btc/2020-04-01",
            "/docs/",
            "/openapi.json/",
            "/openapi",
        ] {
            assert_eq!(Target::resolve(path), Target::Unknown, "{path}");
        }
    }
}
