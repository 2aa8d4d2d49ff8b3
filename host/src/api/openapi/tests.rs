use super::*;

/// `docs/openapi.json`, from the crate's folder.
fn checked_in() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json")
}

/// The checked-in document is the one the server serves. Regenerate it
/// with `WASYNC_BLESS=1 cargo test -p wasync --lib api::openapi`.
#[test]
fn the_checked_in_document_is_current() {
    let current = document_json();
    let path = checked_in();
    if std::env::var_os("WASYNC_BLESS").is_some() {
        std::fs::write(&path, &current).expect("write docs/openapi.json");
        return;
    }
    let stored = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        stored == current,
        "docs/openapi.json is stale (or missing): the API's types or routes changed. \
         Regenerate it with `WASYNC_BLESS=1 cargo test -p wasync --lib api::openapi` \
         and commit it."
    );
}

#[test]
fn the_document_is_openapi_3_1_with_every_error_described() {
    let document: serde_json::Value = serde_json::from_str(&document_json()).unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().unwrap();
    assert!(paths.len() >= 50, "only {} paths", paths.len());
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            for status in ["400", "404", "500"] {
                let error = &responses[status]["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(
                    error, "#/components/schemas/ErrorBody",
                    "{method} {path}: {status}"
                );
            }
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{method} {path} has no success"
            );
        }
    }
    assert!(paths["/v1/jobs"]["post"]["requestBody"].is_object());
    assert_eq!(
        paths["/v1/health"]["get"]["security"],
        serde_json::json!([{}]),
        "the health check needs no token"
    );
}
