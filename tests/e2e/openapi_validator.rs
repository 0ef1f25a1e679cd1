//! `/openapi.json`, as the server sends it, checked by a validator nobody
//! on the team wrote: Python's `openapi-spec-validator` (the OpenAPI 3.1
//! meta-schema and its rules). `.ci/run` installs it when no Python has
//! it and names that Python in `CRYPTO_DB_OPENAPI_PYTHON`; elsewhere the
//! test says it is skipped when the validator is missing (and fails under
//! CI).

use std::process::Command;

use server::ServerConfig;

fn python_with_validator() -> Option<String> {
    let candidates = std::env::var("CRYPTO_DB_OPENAPI_PYTHON")
        .ok()
        .into_iter()
        .chain(["python3".to_owned()]);
    candidates.into_iter().find(|python| {
        Command::new(python)
            .args(["-c", "import openapi_spec_validator"])
            .output()
            .is_ok_and(|output| output.status.success())
    })
}

/// Runs the validator on `document` (written to a scratch file named by
/// `name`).
fn validate(python: &str, name: &str, document: &str) -> std::process::Output {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("openapi-{name}-{}.json", std::process::id()));
    std::fs::write(&path, document).unwrap();
    let output = Command::new(python)
        .args(["-m", "openapi_spec_validator"])
        .arg(&path)
        .output()
        .expect("run the validator");
    let _ = std::fs::remove_file(&path);
    output
}

#[test]
fn the_served_document_is_valid_openapi_3_1() {
    let Some(python) = python_with_validator() else {
        crate::support::skipped_without(
            "a Python with openapi_spec_validator (pip install openapi-spec-validator)",
        );
        return;
    };
    let server = crate::support::start_server(ServerConfig::default());
    let response = crate::support::Connection::open(server.addr()).get("/openapi.json");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("Content-Type"), Some("application/json"));
    let output = validate(&python, "served", response.text());
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && said.contains(": OK"),
        "{said}{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_validator_is_not_a_rubber_stamp() {
    // The same document made invalid (a path parameter not required) must
    // fail, or the test above proves nothing.
    let Some(python) = python_with_validator() else {
        return;
    };
    let server = crate::support::start_server(ServerConfig::default());
    let document = crate::support::Connection::open(server.addr())
        .get("/openapi.json")
        .text()
        .replacen(r#""required": true,"#, r#""required": false,"#, 1);
    let output = validate(&python, "broken", &document);
    assert!(!output.status.success(), "{output:?}");
}
