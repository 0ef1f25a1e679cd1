//! The pages in a real browser (headless Chromium), with no network
//! beyond this server: `/` loads the lists, asks for a price and shows the
//! answer, and draws a candlestick chart of a range from `/prices`
//! (following its pages); `/docs` renders every operation of
//! `/openapi.json`; `/live` shows as many lanes busy at once as the job it
//! watched had workers. A screenshot of `/` is kept as a test artifact
//! (`target/tmp/page.png`). `.ci/run` installs Debian's `chromium`;
//! elsewhere the tests say they are skipped when no browser is found (and
//! fail under CI).

use std::process::Command;

use server::ServerConfig;

fn chromium() -> Option<String> {
    if let Ok(path) = std::env::var("CHROMIUM") {
        return Some(path);
    }
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find_map(|name| {
            let found = Command::new("sh")
                .arg("-c")
                .arg(format!("command -v {name}"))
                .output()
                .ok()?;
            found
                .status
                .success()
                .then(|| String::from_utf8_lossy(&found.stdout).trim().to_owned())
        })
}

/// The browser, or `None` (and a note) when there is none outside CI.
fn browser_or_skip() -> Option<String> {
    let browser = chromium();
    if browser.is_none() {
        crate::support::skipped_without(
            "chromium (Debian: apt-get install chromium; or set CHROMIUM=/path/to/chromium)",
        );
    }
    browser
}

/// Headless Chromium with its own throw-away profile, run to completion
/// on `url` with `action` (`--dump-dom` or `--screenshot=...`), after the
/// page's requests have settled.
fn run_chromium(browser: &str, action: &str, url: &str) -> std::process::Output {
    run_chromium_with(browser, &["--virtual-time-budget=10000"], action, url)
}

/// As [`run_chromium`], with `extra` flags.
fn run_chromium_with(
    browser: &str,
    extra: &[&str],
    action: &str,
    url: &str,
) -> std::process::Output {
    let profile = tempfile_dir("chromium-profile");
    let output = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1000,1250",
        ])
        .args(extra)
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(action)
        .arg(url)
        .output()
        .expect("run chromium");
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A fresh directory under cargo's scratch space for integration tests.
fn tempfile_dir(name: &str) -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{name}-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The DOM after the page's scripts ran, as Chromium serialises it.
fn rendered_dom(browser: &str, url: &str) -> String {
    String::from_utf8(run_chromium(browser, "--dump-dom", url).stdout).unwrap()
}

/// The `data-NAME="..."` value of the chart's `<svg>`.
fn chart_data<'a>(dom: &'a str, name: &str) -> &'a str {
    let svg = &dom[dom.find(r#"<svg id="chart""#).expect("the chart's <svg>")..];
    let svg = &svg[..svg.find('>').unwrap()];
    let key = format!(r#"data-{name}=""#);
    let value = &svg[svg
        .find(&key)
        .unwrap_or_else(|| panic!("no {key} in {svg}"))
        + key.len()..];
    &value[..value.find('"').unwrap()]
}

/// How many days `/prices` has for a range, read from the table itself.
fn days_with_a_price(exchange: &str, symbol: &str, start: &str, end: &str) -> usize {
    let table = prices::PriceTable::embedded().unwrap();
    table
        .range(exchange, symbol, Some(start), Some(end))
        .unwrap()
        .count()
}

#[test]
fn the_page_shows_prices_in_a_real_browser() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let server = crate::support::start_server(ServerConfig::default());
    let base = server.url();

    // A day with data: the lists are loaded, the answer shown.
    let dom = rendered_dom(
        &browser,
        &format!("{base}/?exchange=bitstamp&symbol=btc&date=2020-04-01"),
    );
    assert!(
        dom.contains(r#"<option value="coinbase-pro">coinbase-pro</option>"#),
        "{dom}"
    );
    assert!(dom.contains(r#"<option value="ltc">ltc</option>"#), "{dom}");
    assert!(
        dom.contains(r#"<div id="results">"#),
        "results are visible: {dom}"
    );
    assert!(dom.contains(r#"<span id="close">6421.14</span>"#), "{dom}");
    assert!(
        dom.contains(r#"<span id="volume">6342.29832651</span>"#),
        "{dom}"
    );

    // A well-formed day without data: "no price".
    let dom = rendered_dom(
        &browser,
        &format!("{base}/?exchange=bitstamp&symbol=btc&date=2001-01-01"),
    );
    assert!(
        dom.contains(r#"<p id="no-results">Sorry, no price for this day...</p>"#),
        "{dom}"
    );

    // A malformed date: the server's explanation is shown.
    let dom = rendered_dom(
        &browser,
        &format!("{base}/?exchange=bitstamp&symbol=btc&date=2020-4-1"),
    );
    assert!(dom.contains("is not in YYYY-MM-DD form"), "{dom}");
}

#[test]
fn the_page_draws_a_candle_and_a_volume_bar_per_day() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let server = crate::support::start_server(ServerConfig::default());
    let base = server.url();

    // The lessons' month.
    let dom = rendered_dom(
        &browser,
        &format!("{base}/?exchange=bitstamp&symbol=btc&start=2020-03-01&end=2020-03-31"),
    );
    let expected = days_with_a_price("bitstamp", "btc", "2020-03-01", "2020-03-31");
    assert_eq!(expected, 31);
    assert_eq!(chart_data(&dom, "candles"), expected.to_string(), "{dom}");
    assert_eq!(chart_data(&dom, "volume-bars"), expected.to_string());
    assert_eq!(dom.matches(r#"<g class="candle "#).count(), expected);
    assert_eq!(dom.matches(r#"<rect class="volume""#).count(), expected);
    assert!(dom.contains(r#"data-day="2020-03-12""#), "{dom}");
    // 2020-03-13, the crash: from 7956.29 down to 4841.67, a red candle.
    assert!(
        dom.contains(r#"<g class="candle down" data-day="2020-03-13">"#),
        "{dom}"
    );
    assert!(
        dom.contains("bitstamp btc: 31 days with a price, 2020-03-01 to 2020-03-31"),
        "{dom}"
    );

    // Every day there is: three pages of /prices, followed through `Link`.
    let expected = days_with_a_price("bitstamp", "btc", "2000-01-01", "2030-12-31");
    assert!(
        expected > 2 * 1000,
        "{expected} rows should need three pages"
    );
    let dom = rendered_dom(
        &browser,
        &format!("{base}/?exchange=bitstamp&symbol=btc&start=2000-01-01&end=2030-12-31"),
    );
    assert_eq!(chart_data(&dom, "candles"), expected.to_string());

    // No price in the range: said, and no chart.
    let dom = rendered_dom(
        &browser,
        &format!("{base}/?exchange=bitstamp&symbol=btc&start=2001-01-01&end=2001-12-31"),
    );
    assert!(
        dom.contains("No prices for bitstamp btc from 2001-01-01 to 2001-12-31."),
        "{dom}"
    );
    assert_eq!(chart_data(&dom, "candles"), "0");

    // A bad range: the server's explanation is shown.
    let dom = rendered_dom(
        &browser,
        &format!("{base}/?exchange=bitstamp&symbol=btc&start=2020-03-31&end=2020-03-01"),
    );
    assert!(
        dom.contains(
            r#"<p id="chart-error" class="error">start 2020-03-31 is after end 2020-03-01</p>"#
        ),
        "{dom}"
    );
}

#[test]
fn a_screenshot_of_the_page_is_kept() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let server = crate::support::start_server(ServerConfig::default());
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("page.png");
    let _ = std::fs::remove_file(&path);
    run_chromium(
        &browser,
        &format!("--screenshot={}", path.display()),
        &format!(
            "{}/?exchange=bitstamp&symbol=btc&date=2020-04-01&start=2020-02-01&end=2020-04-30",
            server.url()
        ),
    );
    let png = std::fs::read(&path).expect("chromium wrote the screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    // A blank 1000x1250 page compresses to a few kB; a drawn one does not.
    assert!(png.len() > 30_000, "{} bytes: a blank page?", png.len());
    eprintln!("screenshot: {}", path.display());
}

#[test]
fn the_docs_page_renders_every_operation_of_the_openapi_document() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let server = crate::support::start_server(ServerConfig::default());
    let base = server.url();
    let response = crate::support::Connection::open(server.addr()).get("/openapi.json");
    let document: serde_json::Value = serde_json::from_str(response.text()).unwrap();
    let templates: Vec<&String> = document["paths"].as_object().unwrap().keys().collect();
    assert_eq!(templates.len(), 13, "{templates:?}");

    let dom = rendered_dom(&browser, &format!("{base}/docs"));
    assert!(dom.contains(r#"data-operations="13""#), "{dom}");
    for template in templates {
        assert!(
            dom.contains(&format!(r#"data-path="{template}""#)),
            "{template} is not rendered: {dom}"
        );
    }
    assert!(
        dom.contains(r#"<a href="/price/bitstamp/btc/2020-04-01" class="try">"#),
        "{dom}"
    );
    assert!(
        dom.contains(r#"<p id="error" class="error" hidden="">"#),
        "an error is shown: {dom}"
    );
}

/// The text of the element `<b id="ID">` in `dom`.
fn element_text<'a>(dom: &'a str, id: &str) -> &'a str {
    let open = format!(r#"<b id="{id}">"#);
    let start = dom
        .find(&open)
        .unwrap_or_else(|| panic!("no {open} in {dom}"))
        + open.len();
    &dom[start..start + dom[start..].find('<').unwrap()]
}

/// The most `/live` bars that overlap in time, read from their
/// `data-start` and `data-end` (empty: in flight) in `dom`.
fn most_bars_at_once(dom: &str) -> usize {
    let attribute = |rect: &str, name: &str| -> Option<f64> {
        let key = format!(r#"{name}=""#);
        let value = &rect[rect.find(&key)? + key.len()..];
        value[..value.find('"')?].parse().ok()
    };
    let mut edges: Vec<(f64, i32)> = Vec::new();
    for rect in dom.split(r#"<rect class="req "#).skip(1) {
        let rect = &rect[..rect.find('>').unwrap()];
        let start = attribute(rect, "data-start").expect("a bar's start");
        let end = attribute(rect, "data-end").unwrap_or(f64::MAX);
        edges.push((start, 1));
        edges.push((end, -1));
    }
    edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut busy, mut most) = (0, 0);
    for (_, step) in edges {
        busy += step;
        most = most.max(busy);
    }
    most as usize
}

#[test]
fn the_live_page_shows_as_many_lanes_busy_at_once_as_the_job_had_workers() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    for workers in [1, 10, 32] {
        // The lesson's job, a few tasks per worker, against a server that
        // answers in 0.2 s.
        let server = crate::support::slow_server(200);
        let tasks = (3 * workers).to_string();
        let output = crate::support::fetch_cmd(
            &server.url(),
            &["--workers", &workers.to_string(), "--sample", &tasks, "-q"],
        );
        assert!(
            output.status.success(),
            "{}",
            crate::support::stderr(&output)
        );
        let response = crate::support::Connection::open(server.addr()).get("/live.json");
        let live: serde_json::Value = serde_json::from_str(response.text()).unwrap();
        assert_eq!(live["peak_in_flight"], workers, "{live}");

        // As the page stands when it has loaded: its event stream never
        // ends, so Chromium's virtual time (which waits for every
        // request) would never run out; the page arrives drawn.
        let live_page = format!("{}/live", server.url());
        let dom =
            String::from_utf8(run_chromium_with(&browser, &[], "--dump-dom", &live_page).stdout)
                .unwrap();
        assert_eq!(
            element_text(&dom, "busy-peak"),
            workers.to_string(),
            "{dom}"
        );
        // The drawing, not the script that draws it.
        let start = dom.find(r#"<svg id="waterfall""#).expect("the waterfall");
        let dom = &dom[start..start + dom[start..].find("</svg>").unwrap()];
        assert_eq!(most_bars_at_once(dom), workers, "{dom}");
        let lanes = dom.matches(r#"<g class="lane""#).count();
        assert!(lanes >= workers, "{lanes} lanes for {workers} workers");
        assert_eq!(
            dom.matches(r#"<rect class="req o-answered""#).count(),
            3 * workers + 2,
            "a bar per request: the tasks, and fetch's look at /exchanges and /symbols"
        );
        let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("live-{workers}-workers.png"));
        run_chromium_with(
            &browser,
            &[],
            &format!("--screenshot={}", path.display()),
            &live_page,
        );
        assert!(std::fs::read(&path).unwrap().starts_with(b"\x89PNG"));
        eprintln!("screenshot: {}", path.display());
    }
}
