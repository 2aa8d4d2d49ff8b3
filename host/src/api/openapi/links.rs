//! The document's links: which operation's answer names what another
//! takes (a put's job id → show, wait, cancel...). Clients and
//! schemathesis's stateful tests follow them.

use serde_json::{Value, json};

/// The operations whose answer (status) is a job.
const JOB_SOURCES: [(&str, &str); 6] = [
    ("jobs_put", "201"),
    ("queues_put", "201"),
    ("callbacks_add", "201"),
    ("callbacks_put_composite", "201"),
    ("callbacks_add_part", "201"),
    ("job_names_put_by_name", "201"),
];

/// The operations that take a job's `id` in their path.
const JOB_TARGETS: [&str; 12] = [
    "jobs_show",
    "jobs_wait",
    "jobs_patch",
    "jobs_annotations",
    "jobs_put_back",
    "failures_attempts",
    "callbacks_list",
    "callbacks_add",
    "callbacks_parts",
    "monitor_info",
    "monitor_failure",
    "cancel_cancel",
];

/// Other links: (source, status, target, parameter, where in the answer).
const OTHER_LINKS: [(&str, &str, &str, &str, &str); 6] = [
    (
        "modules_upload",
        "201",
        "modules_show",
        "reference",
        "$response.body#/digest",
    ),
    (
        "modules_upload",
        "201",
        "modules_delete",
        "reference",
        "$response.body#/digest",
    ),
    (
        "queues_create",
        "201",
        "queues_show",
        "name",
        "$response.body#/name",
    ),
    (
        "queues_create",
        "201",
        "queues_jobs",
        "name",
        "$response.body#/name",
    ),
    (
        "queues_create",
        "201",
        "queues_show_caps",
        "name",
        "$response.body#/name",
    ),
    (
        "queues_create",
        "201",
        "queues_delete",
        "name",
        "$response.body#/name",
    ),
];

/// Adds the links above to the answers they start from, in the document
/// as JSON: utoipa 5.5 writes a link's `operationId` as `operation_id`,
/// which no OpenAPI tool reads.
pub fn add(document: &mut Value) {
    for (source, status) in JOB_SOURCES {
        for target in JOB_TARGETS {
            link(document, source, status, target, "id", "$response.body#/id");
        }
    }
    for (source, status, target, parameter, value) in OTHER_LINKS {
        link(document, source, status, target, parameter, value);
    }
}

fn link(
    document: &mut Value,
    source: &str,
    status: &str,
    target: &str,
    parameter: &str,
    value: &str,
) {
    let Some(paths) = document["paths"].as_object_mut() else {
        return;
    };
    for operation in paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
    {
        if operation["operationId"] != source {
            continue;
        }
        let response = &mut operation["responses"][status];
        if response.is_object() {
            response["links"][target] = json!({
                "operationId": target,
                "parameters": {parameter: value},
            });
        }
    }
}
