//! The page at `/` in a real browser (headless Chromium): it loads the
//! lists, asks for a price and shows the answer, with no network beyond
//! this server. `.ci/run` installs Debian's `chromium`; elsewhere the test
//! says it is skipped when no browser is found (and fails under CI).

mod support;

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

/// The DOM after the page's scripts ran, as Chromium serialises it.
fn rendered_dom(browser: &str, url: &str) -> String {
    let profile = std::env::temp_dir().join(format!("crypto-db-chromium-{}", std::process::id()));
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
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(url)
        .output()
        .expect("run chromium");
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn the_page_shows_prices_in_a_real_browser() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install chromium for this test"
        );
        eprintln!("SKIPPED: no chromium found (set CHROMIUM=/path/to/chromium to run this test)");
        return;
    };
    let server = support::start_server(ServerConfig::default());
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
