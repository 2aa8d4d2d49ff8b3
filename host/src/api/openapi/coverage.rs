//! The document cannot drift from the router: every route of
//! `router.rs` is an operation of the document with its method and every
//! operation a route, and no body or success reply is described as an
//! untyped object where a wire type exists.

use std::collections::BTreeSet;

use serde_json::Value;

use super::document_json;

/// The router's source: the routes are read from it as written.
const ROUTER: &str = include_str!("../router.rs");

/// The operations whose bodies are any JSON by nature: the document
/// itself, and annotations (a job's own values).
const ANY_JSON: [(&str, &str); 4] = [
    ("get", "/v1/openapi.json"),
    ("get", "/v1/jobs/{id}/annotations"),
    ("get", "/v1/jobs/{id}/annotations/{name}"),
    ("put", "/v1/jobs/{id}/annotations/{name}"),
];

/// The text between the parenthesis at `open` and the one closing it.
fn balanced(text: &str, open: usize) -> &str {
    let mut depth = 0;
    for (i, c) in text[open..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &text[open + 1..open + i];
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced parentheses in router.rs");
}

/// Every `(method, path)` that `router.rs` routes, with the `/v1` its
/// API router is nested under.
fn routed() -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for (at, _) in ROUTER.match_indices(".route(") {
        let call = balanced(ROUTER, at + ".route".len());
        let path = call
            .split('"')
            .nth(1)
            .expect("a route's first argument is its path");
        let path = if path.starts_with("/v1/") || path == "/metrics" {
            path.to_owned()
        } else {
            format!("/v1{path}")
        };
        let handlers = &call[call.find(',').expect("a route has handlers")..];
        for method in ["get", "post", "put", "patch", "delete"] {
            let called = handlers
                .match_indices(&format!("{method}("))
                .any(|(i, _)| !handlers[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_'));
            if called {
                routes.insert((method.to_owned(), path.clone()));
            }
        }
    }
    routes
}

fn document() -> Value {
    serde_json::from_str(&document_json()).unwrap()
}

/// Every `(method, path)` of the document.
fn documented(document: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            operations.insert((method.clone(), path.clone()));
        }
    }
    operations
}

#[test]
fn the_router_is_read_from_its_source() {
    let routes = routed();
    assert!(routes.contains(&("post".into(), "/v1/jobs".into())));
    assert!(routes.contains(&("get".into(), "/v1/health".into())));
    assert!(routes.contains(&("get".into(), "/metrics".into())));
    assert!(routes.contains(&("delete".into(), "/v1/queues/{name}/jobs/{id}".into())));
    assert!(routes.contains(&("patch".into(), "/v1/queues/{name}/quotas/{quota}".into())));
    assert!(routes.len() >= 80, "only {} routes read", routes.len());
}

#[test]
fn every_route_is_documented_and_every_operation_routed() {
    let routes = routed();
    let operations = documented(&document());
    let undocumented: Vec<_> = routes.difference(&operations).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from the OpenAPI document (add a #[utoipa::path] and list it in \
         api/openapi.rs): {undocumented:?}"
    );
    let unrouted: Vec<_> = operations.difference(&routes).collect();
    assert!(
        unrouted.is_empty(),
        "operations of the document that no route serves: {unrouted:?}"
    );
}

/// Whether a schema says nothing of its shape: `{}`, or an object with
/// no properties, reference or alternatives (an array of such too).
fn untyped(schema: &Value) -> bool {
    let Some(schema) = schema.as_object() else {
        return true;
    };
    if let Some(items) = schema.get("items") {
        return untyped(items);
    }
    let shaped = [
        "$ref",
        "properties",
        "oneOf",
        "anyOf",
        "allOf",
        "enum",
        "const",
    ]
    .iter()
    .any(|key| schema.contains_key(*key));
    let kind = schema.get("type").and_then(Value::as_str);
    !shaped && matches!(kind, None | Some("object"))
}

#[test]
fn no_body_or_success_reply_is_an_untyped_object() {
    let document = document();
    let mut untyped_bodies = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if ANY_JSON.contains(&(method.as_str(), path.as_str())) {
                continue;
            }
            let json = |body: &Value| body["content"]["application/json"]["schema"].clone();
            if let Some(body) = operation.get("requestBody") {
                let schema = json(body);
                if !schema.is_null() && untyped(&schema) {
                    untyped_bodies.push(format!("{method} {path}: request"));
                }
            }
            for (status, reply) in operation["responses"].as_object().unwrap() {
                let schema = json(reply);
                if status.starts_with('2') && !schema.is_null() && untyped(&schema) {
                    untyped_bodies.push(format!("{method} {path}: {status}"));
                }
            }
        }
    }
    assert!(
        untyped_bodies.is_empty(),
        "untyped bodies (give them a wire type in host/src/wire/): {untyped_bodies:#?}"
    );
}

#[test]
fn an_untyped_schema_is_told_from_a_typed_one() {
    assert!(untyped(&serde_json::json!({})));
    assert!(untyped(&serde_json::json!({"type": "object"})));
    assert!(untyped(&serde_json::json!({"type": "array", "items": {}})));
    assert!(!untyped(
        &serde_json::json!({"$ref": "#/components/schemas/Job"})
    ));
    assert!(!untyped(
        &serde_json::json!({"type": "object", "properties": {"count": {"type": "integer"}}})
    ));
    assert!(!untyped(&serde_json::json!({"type": "string"})));
}
