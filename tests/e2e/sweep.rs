//! `crypto_db fetch --sweep`: the table, the recommendation and the plot,
//! on a small sweep against our server. No timing thresholds: the checks
//! are on structure and on the recommendation rule, whatever the numbers.

use crate::support::{fetch_cmd, start_server};
use server::ServerConfig;

struct Row {
    executor: String,
    workers: usize,
    requests_per_second: f64,
}

fn rows(stdout: &str) -> Vec<Row> {
    stdout
        .lines()
        .skip(1)
        .take_while(|line| !line.is_empty())
        .map(|line| {
            let cells: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(cells.len(), 7, "{line}");
            Row {
                executor: cells[0].into(),
                workers: cells[1].parse().unwrap(),
                requests_per_second: cells[3].parse().unwrap(),
            }
        })
        .collect()
}

#[test]
fn a_sweep_reports_every_point_and_recommends_the_knee() {
    let server = start_server(ServerConfig::default());
    let dir = crate::support::scratch("sweep");
    let plot = dir.join("sweep.svg");
    let output = fetch_cmd(
        &server.url(),
        &[
            "--sweep",
            "1,2,4",
            "--sample",
            "60",
            "--executor",
            "threads,async",
            "--plot",
            plot.to_str().unwrap(),
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.starts_with(
            "executor   workers     wall s   requests/s     p50 ms     p99 ms  errors\n"
        ),
        "{stdout}"
    );
    let rows = rows(&stdout);
    let measured: Vec<(String, usize)> = rows
        .iter()
        .map(|r| (r.executor.clone(), r.workers))
        .collect();
    assert_eq!(
        measured,
        [
            ("threads", 1),
            ("threads", 2),
            ("threads", 4),
            ("async", 1),
            ("async", 2),
            ("async", 4)
        ]
        .map(|(e, w)| (e.to_owned(), w))
    );

    for executor in ["threads", "async"] {
        let line = stdout
            .lines()
            .find(|line| line.starts_with(&format!("recommended for {executor}: ")))
            .unwrap_or_else(|| panic!("no recommendation for {executor}: {stdout}"));
        let workers: usize = line.split_whitespace().nth(3).unwrap().parse().unwrap();
        let mine: Vec<&Row> = rows.iter().filter(|r| r.executor == executor).collect();
        let best = mine
            .iter()
            .map(|r| r.requests_per_second)
            .fold(0.0, f64::max);
        // One of the measured counts, and the smallest within 5% of the best.
        let knee = mine
            .iter()
            .filter(|r| r.requests_per_second >= 0.95 * best)
            .map(|r| r.workers)
            .min()
            .unwrap();
        assert_eq!(workers, knee, "{line}");
    }

    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    for text in [
        "throughput (requests/s)",
        "p99 latency (ms)",
        "threads",
        "async",
        "workers",
    ] {
        assert!(svg.contains(text), "the plot has no {text:?}");
    }
    // Each executor's colour draws its line in both panels, plus its legend
    // key in each: four polylines per series.
    for colour in ["#1F77B4", "#D62728"] {
        let series = svg
            .lines()
            .filter(|line| {
                line.starts_with("<polyline") && line.contains(&format!("stroke=\"{colour}\""))
            })
            .count();
        assert_eq!(series, 4, "{colour}");
    }
}

#[test]
fn a_plot_can_be_a_png() {
    let server = start_server(ServerConfig::default());
    let dir = crate::support::scratch("sweep-png");
    let path = dir.join("sweep.png");
    let output = fetch_cmd(
        &server.url(),
        &[
            "--sweep",
            "1,2",
            "--sample",
            "20",
            "--quiet",
            "--plot",
            path.to_str().unwrap(),
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let png = std::fs::read(&path).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG file");
    // 900 x 420, from the IHDR chunk.
    assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 900);
    assert_eq!(u32::from_be_bytes(png[20..24].try_into().unwrap()), 420);
}

#[test]
fn a_sweep_draws_a_timeline_of_each_point() {
    // Answers that take 50 ms, so that a point's workers all overlap.
    let server = crate::support::slow_server(50);
    let dir = crate::support::scratch("sweep-timeline");
    let path = dir.join("run.svg");
    let output = fetch_cmd(
        &server.url(),
        &[
            "--sweep",
            "1,4",
            "--executor",
            "threads",
            "--executor",
            "async",
            "--sample",
            "24",
            "--timeline",
            path.to_str().unwrap(),
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    for (place, workers) in [("threads", 1), ("threads", 4), ("async", 1), ("async", 4)] {
        let drawn = dir.join(format!("run-{place}-{workers}.svg"));
        let svg = std::fs::read_to_string(&drawn)
            .unwrap_or_else(|error| panic!("{}: {error}; {stderr}", drawn.display()));
        assert!(svg.starts_with("<svg"), "{}", drawn.display());
        // Each point's lanes are its workers, and every task is drawn.
        assert!(
            stderr.contains(&format!(
                "timeline written to {}: {workers} lanes, 24 tries",
                drawn.display()
            )),
            "{stderr}"
        );
    }
    assert!(!path.exists(), "no picture under the name given itself");
}

#[test]
fn a_sweep_timeline_that_cannot_be_written_is_said_and_the_sweep_still_reports() {
    let server = start_server(ServerConfig::default());
    let dir = crate::support::scratch("sweep-timeline-unwritable");
    let path = dir.join("no-such-folder").join("run.svg");
    let output = fetch_cmd(
        &server.url(),
        &[
            "--sweep",
            "1,2",
            "--sample",
            "5",
            "--timeline",
            path.to_str().unwrap(),
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    for workers in [1, 2] {
        let drawn = path.with_file_name(format!("run-threads-{workers}.svg"));
        assert!(
            stderr.contains(&format!("cannot draw {}: ", drawn.display())),
            "{stderr}"
        );
    }
    // The measurements are still reported.
    assert_eq!(rows(&String::from_utf8(output.stdout).unwrap()).len(), 2);
}

#[test]
fn auto_doubles_until_throughput_stops_improving() {
    let server = start_server(ServerConfig::default());
    let output = fetch_cmd(
        &server.url(),
        &["--sweep", "auto", "--sample", "40", "--quiet"],
    );
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    let counts: Vec<usize> = rows(&stdout).iter().map(|r| r.workers).collect();
    assert!(!counts.is_empty() && counts.len() <= 13, "{counts:?}");
    for (i, count) in counts.iter().enumerate() {
        assert_eq!(*count, 1 << i, "doubling: {counts:?}");
    }
}

#[test]
fn bad_sweeps_are_refused_clearly() {
    let server = start_server(ServerConfig::default());
    for (args, expected) in [
        (
            &["--sweep", "0,2"][..],
            "--sweep takes worker counts like 1,2,4,8 or `auto`",
        ),
        (&["--sweep", "lots"], "--sweep takes worker counts"),
        (
            &["--sweep", "1", "--sample", "5", "--plot", "out.txt"],
            "a plot is written as .svg or .png",
        ),
        (
            &["--executor", "threads,async"],
            "name one --executor (several are for --sweep)",
        ),
    ] {
        let output = fetch_cmd(&server.url(), args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}
