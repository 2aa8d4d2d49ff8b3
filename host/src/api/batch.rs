//! `POST /v1/jobs/batch`: many jobs in one request, put all or none.
//!
//! The body is a JSON array of put bodies (each as `POST /v1/jobs` takes
//! it), or, with `Content-Type: application/x-ndjson`, one put body per
//! line. At most [`PUT_MANY_MAX`] jobs (413 past it); no callbacks (put
//! such a job alone). The answer is 201 `{"ids": [...]}` in the order
//! given, once every job is committed; a refused batch stores nothing and
//! its error names the first item at fault (`item 3: ...`, counted from 0).

use axum::Json;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::RawBody;
use crate::service::{BatchError, PUT_MANY_MAX, Putter, too_many_in_batch};
use crate::wire::ErrorBody;
use crate::wire::jobs::{BatchPut, JobSpec};

/// The content types of a body with one put per line.
const NDJSON_TYPES: [&str; 3] = [
    "application/x-ndjson",
    "application/ndjson",
    "application/jsonl",
];

/// `POST /v1/jobs/batch`: puts every job of the body, all or none.
#[utoipa::path(
    post,
    path = "/v1/jobs/batch",
    tag = "jobs",
    operation_id = "batch_put",
    request_body(content = Vec<JobSpec>, description = "A JSON array of jobs (or, with `Content-Type: application/x-ndjson`, one per line)."),
    responses(
        (status = 201, description = "Every job, put (a unique item whose key was held answers with the job holding it, marked in `duplicate`).", body = BatchPut),
        (status = 409, description = "A put does not fit the current state.", body = ErrorBody),
        (status = 413, description = "More jobs than a batch takes.", body = ErrorBody),
        (status = 429, description = "A queue is at its pending cap (`queue_full`).", body = ErrorBody),
        (status = 422, description = "The job names a function its module does not export, or arguments its parameters cannot take.", body = ErrorBody)
    )
)]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<BatchPut>)> {
    let bodies = if is_ndjson(&headers) {
        parse_ndjson(&body)?
    } else {
        parse_array(&body)?
    };
    let specs = bodies.into_iter().map(JobSpec::into_spec).collect();
    let puts = state
        .service
        .put_many(specs, &Putter::with(caller.0))
        .await
        .map_err(refusal)?;
    let duplicate: Vec<bool> = puts.iter().map(|p| p.duplicate).collect();
    let ids = puts.into_iter().map(|p| p.job.id).collect();
    let duplicate = if duplicate.contains(&true) {
        duplicate
    } else {
        Vec::new()
    };
    Ok((StatusCode::CREATED, Json(BatchPut { ids, duplicate })))
}

fn is_ndjson(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim())
        .is_some_and(|kind| {
            NDJSON_TYPES
                .iter()
                .any(|ndjson| kind.eq_ignore_ascii_case(ndjson))
        })
}

fn too_large(count: usize) -> ApiError {
    ApiError::PayloadTooLarge(too_many_in_batch(count).to_string())
}

/// A JSON array of put bodies.
fn parse_array(body: &[u8]) -> ApiResult<Vec<JobSpec>> {
    let items: Vec<serde_json::Value> = serde_json::from_slice(body).map_err(|e| {
        ApiError::BadRequest(format!(
            "the body must be a JSON array of jobs, or one job per line with \
             `Content-Type: application/x-ndjson` ({e})"
        ))
    })?;
    if items.len() > PUT_MANY_MAX {
        return Err(too_large(items.len()));
    }
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            serde_path_to_error::deserialize(item).map_err(|e| {
                ApiError::BadRequest(format!("item {index}: {}", super::extract::described(e)))
            })
        })
        .collect()
}

/// One put body per line; blank lines are skipped.
fn parse_ndjson(body: &[u8]) -> ApiResult<Vec<JobSpec>> {
    let mut bodies = Vec::new();
    for (line, text) in body.split(|b| *b == b'\n').enumerate() {
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let index = bodies.len();
        if index == PUT_MANY_MAX {
            return Err(too_large(index + 1));
        }
        let mut deserializer = serde_json::Deserializer::from_slice(text);
        let item = serde_path_to_error::deserialize(&mut deserializer)
            .map_err(super::extract::described)
            .and_then(|item| deserializer.end().map(|()| item).map_err(|e| e.to_string()))
            .map_err(|e| ApiError::BadRequest(format!("item {index} (line {}): {e}", line + 1)))?;
        bodies.push(item);
    }
    Ok(bodies)
}

/// The answer to a refused batch: the item's own error (its status and
/// code, as a single put of it would get), its message naming the item.
fn refusal(refused: BatchError) -> ApiError {
    let error = ApiError::from(refused.error);
    let Some(index) = refused.index else {
        return error;
    };
    let at = |message: String| format!("item {index}: {message}");
    match error {
        ApiError::BadRequest(m) => ApiError::BadRequest(at(m)),
        ApiError::Forbidden(m) => ApiError::Forbidden(at(m)),
        ApiError::NotFound(m) => ApiError::NotFound(at(m)),
        ApiError::Conflict(m) => ApiError::Conflict(at(m)),
        ApiError::QueueFull(m) => ApiError::QueueFull(at(m)),
        ApiError::BadArguments(m) => ApiError::BadArguments(at(m)),
        ApiError::QuotaMismatch(m) => ApiError::QuotaMismatch(at(m)),
        ApiError::UnknownFunction { message, functions } => ApiError::UnknownFunction {
            message: at(message),
            functions,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndjson_items_are_counted_without_blank_lines() {
        let body = b"{\"module\": \"m\", \"function\": \"f\"}\n\n{\"module\": \"m\", \"fn\": 1}\n";
        let error = parse_ndjson(body).unwrap_err().to_string();
        assert!(
            error.starts_with("item 1 (line 3): unknown field `fn`"),
            "{error}"
        );
        assert_eq!(
            parse_ndjson(b"\n{\"module\": \"m\", \"function\": \"f\"}")
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn a_bad_item_of_an_array_is_named() {
        let error = parse_array(br#"[{"module": "m", "function": "f"}, {"module": 1}]"#)
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("item 1: "), "{error}");
        assert!(parse_array(br#"{"module": "m"}"#).is_err());
        assert!(parse_array(b"[]").unwrap().is_empty());
    }

    #[test]
    fn content_types_of_ndjson() {
        let mut headers = HeaderMap::new();
        assert!(!is_ndjson(&headers));
        headers.insert(
            CONTENT_TYPE,
            "application/x-ndjson; charset=utf-8".parse().unwrap(),
        );
        assert!(is_ndjson(&headers));
        headers.insert(CONTENT_TYPE, "application/json".parse().unwrap());
        assert!(!is_ndjson(&headers));
    }
}
