//! The API described for machines and for people: `/openapi.json`, an
//! OpenAPI 3.1 document of every route (the original's and ours), and
//! `/docs`, a page that renders it with no network.
//!
//! The document is kept by hand rather than derived from the handlers
//! (utoipa and the like derive from framework handlers with typed
//! extractors; our router is a hand-written `match` over Werkzeug's path
//! rules). What keeps it true is the drift test below: every route the
//! router knows is documented, every documented path routes where it
//! says, and every documented example, and each of its parameters made
//! wrong, answers with a status and content type the document lists.

/// `GET /openapi.json`.
pub(crate) const OPENAPI_DOCUMENT: &str = include_str!("openapi.json");

/// `GET /docs`: renders [`OPENAPI_DOCUMENT`] in the browser, offline.
pub(crate) const DOCS_PAGE: &str = include_str!("docs.html");

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::time::Duration;

    use http_body_util::BodyExt;
    use hyper::{Request, header};
    use serde_json::Value;

    use super::OPENAPI_DOCUMENT;
    use crate::AppState;
    use crate::target::{Route, Target};

    fn document() -> Value {
        serde_json::from_str(OPENAPI_DOCUMENT).expect("openapi.json is JSON")
    }

    /// Follows a local `$ref` (`#/components/...`) until a real value.
    fn resolve<'a>(document: &'a Value, mut value: &'a Value) -> &'a Value {
        while let Some(reference) = value.get("$ref").and_then(Value::as_str) {
            let pointer = reference.strip_prefix('#').expect("a local $ref");
            value = document
                .pointer(pointer)
                .unwrap_or_else(|| panic!("{reference} points nowhere"));
        }
        value
    }

    /// One documented operation, with its parameters resolved.
    struct Operation<'a> {
        template: &'a str,
        method: &'a str,
        parameters: Vec<&'a Value>,
        responses: &'a serde_json::Map<String, Value>,
    }

    fn operations(document: &Value) -> Vec<Operation<'_>> {
        let mut operations = Vec::new();
        for (template, item) in document["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("a path item") {
                let parameters = operation["parameters"]
                    .as_array()
                    .map(|list| list.iter().map(|p| resolve(document, p)).collect())
                    .unwrap_or_default();
                operations.push(Operation {
                    template,
                    method,
                    parameters,
                    responses: operation["responses"].as_object().expect("responses"),
                });
            }
        }
        operations
    }

    /// The operation's request target with every parameter at its
    /// example, except `changed`, whose value is `value`.
    fn target(operation: &Operation<'_>, changed: Option<(&str, &str)>) -> String {
        let mut path = operation.template.to_owned();
        let mut query = Vec::new();
        for parameter in &operation.parameters {
            let name = parameter["name"].as_str().expect("a parameter name");
            let value = match changed {
                Some((changed, value)) if changed == name => value.to_owned(),
                _ => match &parameter["example"] {
                    Value::String(text) => text.clone(),
                    Value::Number(number) => number.to_string(),
                    other => panic!("{name} in {}: example {other}", operation.template),
                },
            };
            match parameter["in"].as_str() {
                Some("path") => path = path.replace(&format!("{{{name}}}"), &value),
                Some("query") => query.push(format!("{name}={value}")),
                other => panic!("{name}: parameters in {other:?} are not used here"),
            }
        }
        if query.is_empty() {
            path
        } else {
            format!("{path}?{}", query.join("&"))
        }
    }

    /// Calls the real router; the status and the content type.
    async fn answer(target: &str) -> (String, String) {
        // One state for every call: the table is loaded once.
        type Shared = (tokio::sync::watch::Sender<bool>, AppState);
        static STATE: std::sync::LazyLock<Shared> = std::sync::LazyLock::new(|| {
            let (stop, stopping) = tokio::sync::watch::channel(false);
            let table = prices::PriceTable::embedded().unwrap();
            (stop, AppState::new(table, Duration::ZERO, stopping))
        });
        let state = &STATE.1;
        let request = Request::get(target).body(()).unwrap();
        let response = state
            .respond(&request, "127.0.0.1:8080".parse().unwrap())
            .await;
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|value| value.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let status = response.status().as_u16().to_string();
        let _ = response.into_body().collect().await.unwrap();
        (status, content_type)
    }

    /// Whether `operation` documents answering `status` with `content_type`.
    fn documents(document: &Value, operation: &Operation<'_>, status: &str, content_type: &str) {
        let response = operation.responses.get(status).unwrap_or_else(|| {
            panic!(
                "{} {} can answer {status}, which it does not document",
                operation.method, operation.template
            )
        });
        let content = resolve(document, response)["content"]
            .as_object()
            .unwrap_or_else(|| panic!("{} {status}: no content", operation.template));
        assert!(
            content.contains_key(content_type),
            "{} {status} answers {content_type}, documented: {:?}",
            operation.template,
            content.keys().collect::<Vec<_>>()
        );
    }

    #[test]
    fn the_document_is_openapi_3_1_and_names_every_operation() {
        let document = document();
        assert!(document["openapi"].as_str().unwrap().starts_with("3.1."));
        assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
        let mut ids = BTreeSet::new();
        for operation in operations(&document) {
            let id = &document["paths"][operation.template][operation.method]["operationId"];
            assert!(ids.insert(id.as_str().expect("an operationId")), "{id}");
        }
    }

    #[test]
    fn every_route_of_the_router_is_documented_and_nothing_else() {
        let document = document();
        let documented: BTreeSet<&str> = document["paths"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let routed: BTreeSet<&str> = Route::ALL.iter().map(|route| route.template()).collect();
        assert_eq!(documented, routed);
    }

    #[test]
    fn every_template_names_its_path_parameters_and_no_others() {
        let document = document();
        for operation in operations(&document) {
            let in_template: BTreeSet<&str> = operation
                .template
                .split('/')
                .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
                .collect();
            let declared: BTreeSet<&str> = operation
                .parameters
                .iter()
                .filter(|p| p["in"] == "path")
                .inspect(|p| assert_eq!(p["required"], true, "{p}"))
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            assert_eq!(in_template, declared, "{}", operation.template);
        }
    }

    #[tokio::test]
    async fn every_example_routes_where_documented_and_answers_as_documented() {
        let document = document();
        for operation in operations(&document) {
            assert_eq!(operation.method, "get", "only GET is documented");
            let target = target(&operation, None);
            let path = target.split('?').next().unwrap();
            assert_eq!(
                Target::resolve(path).route().map(Route::template),
                Some(operation.template),
                "{target}"
            );
            let (status, content_type) = answer(&target).await;
            assert_eq!(status, "200", "{target}");
            documents(&document, &operation, &status, &content_type);
        }
    }

    #[tokio::test]
    async fn every_parameter_made_wrong_answers_as_documented() {
        let document = document();
        let mut errors = BTreeSet::new();
        for operation in operations(&document) {
            for parameter in &operation.parameters {
                let name = parameter["name"].as_str().unwrap();
                for wrong in ["nope", "2020-02-30", "0", ""] {
                    let target = target(&operation, Some((name, wrong)));
                    let (status, content_type) = answer(&target).await;
                    if Target::resolve(target.split('?').next().unwrap()) == Target::Unknown {
                        // An empty path segment is no route: the 404 page
                        // every undocumented path gets.
                        assert_eq!(status, "404", "{target}");
                        continue;
                    }
                    documents(&document, &operation, &status, &content_type);
                    errors.insert((operation.template, status));
                }
            }
        }
        // The documented errors are really reached, not only allowed.
        for expected in [
            ("/price/{exchange}/{symbol}/{date}", "400"),
            ("/prices/{exchange}/{symbol}", "400"),
            ("/prices/{exchange}/{symbol}", "404"),
        ] {
            assert!(
                errors.contains(&(expected.0, expected.1.to_owned())),
                "{expected:?} never answered"
            );
        }
    }

    #[tokio::test]
    async fn the_csv_form_is_documented_too() {
        let document = document();
        let operation = operations(&document)
            .into_iter()
            .find(|operation| operation.template == "/prices/{exchange}/{symbol}")
            .unwrap();
        let target = target(&operation, Some(("format", "csv")));
        let (status, content_type) = answer(&target).await;
        documents(&document, &operation, &status, &content_type);
    }
}
