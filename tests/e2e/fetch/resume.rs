//! `--resume` after what can go wrong: no room to sort, a cut last line, a
//! killed `.json` run, another job's rows in the file, a line that is not
//! a record.

use super::*;

#[test]
fn with_no_room_to_sort_every_record_stays_and_resume_sorts_later() {
    let server = start_server(ServerConfig::default());
    let dir = crate::support::scratch("no-room");
    let clean = dir.join("clean.csv");
    assert!(
        fetch_cmd(&server.url(), &["-o", clean.to_str().unwrap()])
            .status
            .success()
    );
    let clean = std::fs::read_to_string(&clean).unwrap();
    // A complete run's records in the order they came (here: reversed).
    let path = dir.join("march.csv");
    let mut lines: Vec<&str> = clean.lines().collect();
    lines[1..].reverse();
    let arrived = format!("{}\n", lines.join("\n"));
    std::fs::write(&path, &arrived).unwrap();
    // Where the sorted copy would go, something that cannot be written:
    // as a full disk, every rewrite fails.
    let blocker = dir.join("march.csv.tmp");
    std::fs::create_dir(&blocker).unwrap();

    let output = fetch_cmd(&server.url(), &["--resume", "-o", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.starts_with(&format!(
            "crypto_db: fetch: all 1116 records are in {}, in the order they came, but not sorted: cannot write",
            path.display()
        )) && message.contains("--resume to sort them"),
        "{message}"
    );
    // Resumed in place: nothing rewritten, nothing lost.
    assert_eq!(std::fs::read_to_string(&path).unwrap(), arrived);

    std::fs::remove_dir(&blocker).unwrap();
    let output = fetch_cmd(&server.url(), &["--resume", "-o", path.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), clean);
}

#[test]
fn a_cut_last_line_is_dropped_named_and_refetched() {
    let server = start_server(ServerConfig::default());
    let dir = crate::support::scratch("cut");
    let path = dir.join("march.csv");
    assert!(
        fetch_cmd(&server.url(), &["-o", path.to_str().unwrap()])
            .status
            .success()
    );
    let full = std::fs::read_to_string(&path).unwrap();
    // Simulate a crash in the middle of writing the last line, inside its
    // last number: what is left still parses, but is not the record.
    let cut = &full[..full.len() - 5];
    std::fs::write(&path, cut).unwrap();
    let output = fetch_cmd(&server.url(), &["--resume", "-o", path.to_str().unwrap()]);
    assert!(output.status.success());
    assert!(
        stderr(&output).contains("1 prices fetched, 1115 kept"),
        "{}",
        stderr(&output)
    );
    // Dropped, but not silently: the line is named.
    let last = cut.rsplit('\n').next().unwrap();
    assert!(
        stderr(&output).contains(&format!(
            "the last line of {} had no line break (a run cut short) and was dropped: {last}",
            path.display()
        )),
        "{}",
        stderr(&output)
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), full);
}

/// Starts the lesson's job writing `path` against a slow server, waits
/// until `lines` lines of it are in `watched`, then sends `signal`.
fn fetch_killed_midway(url: &str, path: &Path, watched: &Path, lines: usize, signal_name: &str) {
    let child = Command::new(BIN)
        .args(["fetch", "--url", url, "--workers", "4", "-o"])
        .arg(path)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut child = child;
    wait_for_lines(watched, lines);
    signal(pid, signal_name);
    let status = child.wait().unwrap();
    assert!(!status.success(), "the fetch ended before it was killed");
}

#[test]
fn a_killed_json_fetch_resumes_to_a_complete_file() {
    let slow = crate::support::slow_server(10);
    let fast = start_server(ServerConfig::default());
    let dir = crate::support::scratch("killed-json");
    let clean = dir.join("clean.json");
    assert!(
        fetch_cmd(&fast.url(), &["-o", clean.to_str().unwrap()])
            .status
            .success()
    );
    for signal_name in ["-KILL", "-INT"] {
        let path = dir.join(format!("march{signal_name}.json"));
        let journal = dir.join(format!("march{signal_name}.json.partial.jsonl"));
        fetch_killed_midway(&slow.url(), &path, &journal, 100, signal_name);
        assert!(!path.exists(), "{signal_name}: no array yet");
        let output = fetch_cmd(&fast.url(), &["--resume", "-o", path.to_str().unwrap()]);
        assert!(
            output.status.success(),
            "{signal_name}: {}",
            stderr(&output)
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            std::fs::read_to_string(&clean).unwrap(),
            "{signal_name}"
        );
        assert!(
            !journal.exists(),
            "{signal_name}: the journal is removed at the end"
        );
    }
}

#[test]
fn a_json_output_killed_while_resumed_resumes_again() {
    // x.json holds a finished job; a second job resumed into it is killed:
    // the array and the journal together are resumed a third time.
    let slow = crate::support::slow_server(10);
    let fast = start_server(ServerConfig::default());
    let dir = crate::support::scratch("json-twice");
    let path = dir.join("prices.json");
    let p = path.to_str().unwrap();
    let first_job = bitstamp_btc_2019_until("2019-01-31");
    assert!(
        fetch_cmd(&fast.url(), &[&first_job[..], &["-o", p]].concat())
            .status
            .success()
    );
    let child = Command::new(BIN)
        .args([
            "fetch",
            "--url",
            &slow.url(),
            "--workers",
            "2",
            "--resume",
            "-o",
            p,
        ])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = child;
    wait_for_lines(&dir.join("prices.json.partial.jsonl"), 50);
    child.kill().unwrap();
    child.wait().unwrap();
    let output = fetch_cmd(&fast.url(), &["--resume", "-o", p]);
    assert!(output.status.success(), "{}", stderr(&output));
    let expected = union_of(&fast.url(), &dir, "json", &first_job);
    assert_same_text(&std::fs::read_to_string(&path).unwrap(), &expected, "json");
}

/// Two texts are equal; else the first line where they differ.
fn assert_same_text(got: &str, expected: &str, what: &str) {
    if got == expected {
        return;
    }
    let (got_lines, expected_lines): (Vec<&str>, Vec<&str>) =
        (got.lines().collect(), expected.lines().collect());
    let at = (0..got_lines.len().max(expected_lines.len()))
        .find(|&i| got_lines.get(i) != expected_lines.get(i))
        .unwrap_or(0);
    panic!(
        "{what}: {} lines, {} expected; line {} is {:?}, expected {:?}",
        got_lines.len(),
        expected_lines.len(),
        at + 1,
        got_lines.get(at),
        expected_lines.get(at)
    );
}

/// The flags of a job of another kind than the lesson's: bitstamp btc
/// from 2019-01-01 to `end`.
fn bitstamp_btc_2019_until(end: &'static str) -> [&'static str; 8] {
    [
        "--exchanges",
        "bitstamp",
        "--symbols",
        "btc",
        "--start",
        "2019-01-01",
        "--end",
        end,
    ]
}

/// The sorted union of a clean run of `first_job` and of the lesson's job,
/// as the file `fetch` writes in `extension`'s format.
fn union_of(url: &str, dir: &Path, extension: &str, first_job: &[&str]) -> String {
    let a = dir.join(format!("union-a.{extension}"));
    let b = dir.join(format!("union-b.{extension}"));
    assert!(
        fetch_cmd(url, &[first_job, &["-o", a.to_str().unwrap()]].concat())
            .status
            .success()
    );
    assert!(
        fetch_cmd(url, &["-o", b.to_str().unwrap()])
            .status
            .success()
    );
    let rows = |path: &Path| -> Vec<String> {
        let text = std::fs::read_to_string(path).unwrap();
        text.lines()
            .filter(|line| !matches!(*line, "[" | "]") && !line.starts_with("exchange,"))
            .map(|line| match extension {
                "json" => line.trim_end_matches(',').to_owned(),
                _ => line.to_owned(),
            })
            .collect()
    };
    let mut all = rows(&a);
    all.extend(rows(&b));
    // Sorted by (exchange, symbol, day), read from the row itself.
    let key = |row: &String| -> (String, String, String) {
        if extension == "csv" {
            let mut fields = row.splitn(4, ',').map(str::to_owned);
            (
                fields.next().unwrap(),
                fields.next().unwrap(),
                fields.next().unwrap(),
            )
        } else {
            let value: serde_json::Value = serde_json::from_str(row).unwrap();
            let field = |name: &str| value[name].as_str().unwrap().to_owned();
            (field("exchange"), field("symbol"), field("day"))
        }
    };
    all.sort_by_key(key);
    match extension {
        "csv" => format!(
            "exchange,symbol,day,open,high,low,close,volume\n{}\n",
            all.join("\n")
        ),
        "jsonl" => format!("{}\n", all.join("\n")),
        _ => format!("[\n{}\n]\n", all.join(",\n")),
    }
}

#[test]
fn resume_keeps_rows_of_another_job_and_adds_the_missing_ones() {
    let server = start_server(ServerConfig::default());
    let dir = crate::support::scratch("resume-keeps");
    let first_job = bitstamp_btc_2019_until("2019-12-31");
    for extension in ["csv", "jsonl", "json"] {
        let path = dir.join(format!("o.{extension}"));
        let p = path.to_str().unwrap();
        let output = fetch_cmd(&server.url(), &[&first_job[..], &["-o", p]].concat());
        assert!(output.status.success(), "{}", stderr(&output));
        // The lesson's job, resumed into the file of 2019.
        let output = fetch_cmd(&server.url(), &["-o", p, "--resume"]);
        assert!(output.status.success(), "{extension}: {}", stderr(&output));
        assert!(
            stderr(&output).contains(
                "1116 prices fetched, 365 kept from the earlier run, 0 failed; 1481 records"
            ),
            "{extension}: {}",
            stderr(&output)
        );
        let expected = union_of(&server.url(), &dir, extension, &first_job);
        assert_same_text(
            &std::fs::read_to_string(&path).unwrap(),
            &expected,
            extension,
        );
    }
}

#[test]
fn resume_refuses_a_line_that_is_not_a_record_and_leaves_the_file_as_it_is() {
    let server = start_server(ServerConfig::default());
    let dir = crate::support::scratch("resume-refuses");
    let cases = [
        (
            "o.csv",
            "exchange,symbol,day,open,high,low,close,volume\nkraken,btc,2020-03-01,1,2,3,4,5\nmy notes\n",
            "line 3: 1 fields, not 8",
        ),
        (
            "h.csv",
            "day,exchange,symbol,open,high,low,close,volume\n",
            "line 1: the header must be exchange,symbol,day,open,high,low,close,volume",
        ),
        (
            "o.jsonl",
            "{\"exchange\": \"kraken\"}\n",
            "line 1: missing field",
        ),
        ("o.json", "[{\"exchange\": 1}]", "line 1: invalid type"),
    ];
    for (name, text, why) in cases {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let output = fetch_cmd(&server.url(), &["-o", path.to_str().unwrap(), "--resume"]);
        assert_eq!(output.status.code(), Some(2), "{name}: {}", stderr(&output));
        let message = stderr(&output);
        assert!(
            message.starts_with(&format!(
                "crypto_db: fetch: cannot resume into {}: {why}",
                path.display()
            )) && message.trim_end().ends_with("the file is left as it is")
                && message.lines().count() == 1,
            "{name}: {message}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "{name}");
    }
}
