//! The lessons' own Python (`requests`, `queue`, `threading`,
//! `concurrent.futures`) and Python's `http.client` and raw sockets, run
//! against the real `crypto_db` binary: `tests/python/lessons.py`.
//!
//! It needs a `python3` that can `import requests`; `.ci/run` installs
//! Debian's `python3-requests`. Without one the tests say so and skip
//! (and fail under CI).

use std::process::{Command, Stdio};

use crate::support::BIN;

/// The first of `python3` (on PATH) and Debian's `/usr/bin/python3` that
/// has `requests`, or `None` (and the line saying the test is skipped).
fn python_with_requests() -> Option<&'static str> {
    ["python3", "/usr/bin/python3"]
        .into_iter()
        .find(|python| {
            Command::new(python)
                .args(["-c", "import requests"])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success())
        })
        .or_else(|| {
            crate::support::skipped_without(
                "a python3 with `requests` (Debian: apt-get install python3-requests)",
            );
            None
        })
}

#[test]
fn the_lessons_python_runs_unchanged_against_the_real_server() {
    let Some(python) = python_with_requests() else {
        return;
    };
    let mut command = Command::new(BIN);
    command.args(["--port", "0"]);
    let (mut server, addr, _) = crate::support::spawn_server_process(command);
    let url = format!("http://{addr}");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/lessons.py");
    let output = Command::new(python)
        .arg(script)
        .env("CRYPTO_DB_URL", &url)
        .output()
        .expect("run the Python tests");
    let _ = server.kill();
    let _ = server.wait();
    let report = String::from_utf8_lossy(&output.stderr);
    println!("{report}");
    assert!(output.status.success(), "{report}");
    assert!(report.contains("\nOK"), "{report}");
}
