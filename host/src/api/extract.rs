//! Extractors whose rejections are [`ApiError`]s, so a bad request always
//! gets the JSON error body (never axum's plain-text one).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A JSON body. The content type is not checked (so `curl -d` works);
/// the body must parse as `T`. An empty body parses as `null`. A body
/// that does not fit `T` is refused with a message naming the field's
/// path (`limits.fuel`, `callbacks[0].function`), so the client need not
/// guess which of its fields was wrong.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let RawBody(bytes) = RawBody::from_request(req, state).await?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"null"
        } else {
            &bytes
        };
        let mut deserializer = serde_json::Deserializer::from_slice(text);
        let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(body_error)?;
        // Trailing characters after the value are refused, as
        // `serde_json::from_slice` refuses them.
        deserializer
            .end()
            .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?;
        Ok(JsonBody(value))
    }
}

/// The refusal of a body that does not parse.
fn body_error(error: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    ApiError::BadRequest(format!("invalid JSON body: {}", described(error)))
}

/// A parse error in words: the path of the field it is in (when it is
/// inside one), then serde's message. An unknown field is named by serde
/// already: the path then says where it was (`in \`limits\``), if not at
/// the top.
pub(super) fn described<E: std::fmt::Display>(error: serde_path_to_error::Error<E>) -> String {
    let path = error.path().to_string();
    let inner = error.into_inner().to_string();
    let unknown = inner
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split('`').next());
    if let Some(name) = unknown {
        let parent = path
            .strip_suffix(name)
            .unwrap_or(&path)
            .trim_end_matches('.');
        return if parent.is_empty() || parent == "." {
            inner
        } else {
            format!("in `{parent}`: {inner}")
        };
    }
    if path == "." || path.is_empty() {
        inner
    } else {
        format!("field `{path}`: {inner}")
    }
}

/// The raw body, within the configured size limit.
#[derive(Debug)]
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        Bytes::from_request(req, state)
            .await
            .map(RawBody)
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge(
                        "the request body is larger than the server's upload limit \
                         (`--upload-limit` / WASYNC_UPLOAD_LIMIT)"
                            .into(),
                    )
                } else {
                    ApiError::BadRequest(rejection.body_text())
                }
            })
    }
}

/// Path parameters.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))
    }
}

/// Query parameters.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        #[allow(dead_code)]
        inner: Vec<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        #[allow(dead_code)]
        fuel: u64,
    }

    fn message(text: &str) -> String {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let error = serde_path_to_error::deserialize::<_, Outer>(&mut deserializer).unwrap_err();
        described(error)
    }

    #[test]
    fn a_parse_error_names_the_fields_path() {
        let text = message(r#"{"inner": [{"fuel": 1}, {"fuel": "lots"}]}"#);
        assert!(
            text.starts_with("field `inner[1].fuel`: invalid type"),
            "{text}"
        );
        let text = message("[]");
        assert!(!text.contains("field"), "{text}");
        let text = message(r#"{"inner": [{"fuel": 1, "fule": 2}]}"#);
        assert!(
            text.starts_with("in `inner[0]`: unknown field `fule`"),
            "{text}"
        );
        let text = message(r#"{"inner": [], "other": 1}"#);
        assert!(text.starts_with("unknown field `other`"), "{text}");
    }
}
