//! Every error the HTTP API returns: a status and a JSON body
//! `{"error": {"code": "...", "message": "..."}}`. Handlers return
//! `Result<_, ApiError>` and never build error bodies by hand.

use axum::Json;
use axum::http::header::{CONNECTION, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::service;
use crate::store::{Fault, FaultKind};
use crate::wire::ErrorBody;

/// What a fault's answer tells the client to wait before trying again, in
/// seconds (`Retry-After`).
pub const RETRY_AFTER_SECS: u32 = 5;

/// An API error. Each variant's doc gives its status and code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 `bad_request`: malformed JSON, bad arguments or names.
    #[error("{0}")]
    BadRequest(String),
    /// 401 `unauthorized`: a token is required and was missing, unknown or
    /// revoked.
    #[error("a valid bearer token is required (Authorization: Bearer <token>)")]
    Unauthorized,
    /// 403 `forbidden`: the token lacks a scope in a queue (the message
    /// names both).
    #[error("{0}")]
    Forbidden(String),
    /// 404 `not_found`: unknown job, module, queue, dispatcher or route.
    #[error("{0}")]
    NotFound(String),
    /// 405 `method_not_allowed`.
    #[error("method not allowed on this path")]
    MethodNotAllowed,
    /// 409 `conflict`: the request does not fit the current state.
    #[error("{0}")]
    Conflict(String),
    /// 409 `conflict`: a change of a job's arguments derived a uniqueness
    /// key another job of its queue holds. The error object also names
    /// that job (`holder`).
    #[error("{message}")]
    UniqueKeyHeld {
        /// What is wrong, naming both jobs.
        message: String,
        /// The job holding the key.
        holder: crate::model::JobId,
    },
    /// 429 `queue_full`: a put into a queue at its pending cap.
    #[error("{0}")]
    QueueFull(String),
    /// 413 `payload_too_large`: over the upload limit, or more jobs than a
    /// batch takes.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 422 `invalid_component`: the uploaded component was refused.
    #[error("{0}")]
    InvalidComponent(String),
    /// 422 `unknown_function`: a put names a function its module does not
    /// declare. The error object also lists the module's `functions`.
    #[error("{message}")]
    UnknownFunction {
        /// What is wrong, naming the module, the function and the
        /// functions it has.
        message: String,
        /// The functions the module declares.
        functions: Vec<String>,
    },
    /// 422 `bad_arguments`: a put's positional arguments are more or fewer
    /// than the function takes, as its module declares.
    #[error("{0}")]
    BadArguments(String),
    /// 422 `quota_mismatch`: a put names a partitioned quota without a key,
    /// or gives a key for a quota that is not partitioned.
    #[error("{0}")]
    QuotaMismatch(String),
    /// 503 `unavailable`: shutting down.
    #[error("wasync is shutting down")]
    Unavailable,
    /// The database failed, not the request: 507 `storage_full` when its
    /// storage is full, 503 `database_unavailable` when it cannot be
    /// reached. Nothing was written; the same request succeeds once the
    /// database recovers (`Retry-After` says when to try). Logged once per
    /// episode by the store's health, not once per request.
    #[error("{}; try again later", .0.kind.meaning())]
    StoreFault(Fault),
    /// 500 `internal`: the details are logged, not shown.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) | ApiError::UniqueKeyHeld { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::QueueFull(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::InvalidComponent(_)
            | ApiError::UnknownFunction { .. }
            | ApiError::BadArguments(_)
            | ApiError::QuotaMismatch(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::StoreFault(fault) => match fault.kind {
                FaultKind::StorageFull => StatusCode::INSUFFICIENT_STORAGE,
                FaultKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            },
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Conflict(_) | ApiError::UniqueKeyHeld { .. } => "conflict",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::QueueFull(_) => "queue_full",
            ApiError::InvalidComponent(_) => "invalid_component",
            ApiError::UnknownFunction { .. } => "unknown_function",
            ApiError::BadArguments(_) => "bad_arguments",
            ApiError::QuotaMismatch(_) => "quota_mismatch",
            ApiError::Unavailable => "unavailable",
            ApiError::StoreFault(fault) => fault.kind.code(),
            ApiError::Internal(_) => "internal",
        }
    }
}

impl From<service::Error> for ApiError {
    fn from(error: service::Error) -> Self {
        match error {
            service::Error::Invalid(message) => ApiError::BadRequest(message),
            service::Error::NotFound { .. } => ApiError::NotFound(error.to_string()),
            service::Error::UnknownFunction { ref functions, .. } => ApiError::UnknownFunction {
                functions: functions.clone(),
                message: error.to_string(),
            },
            service::Error::BadArguments { .. } => ApiError::BadArguments(error.to_string()),
            service::Error::Conflict(message) => ApiError::Conflict(message),
            service::Error::UniqueKeyHeld { holder, .. } => ApiError::UniqueKeyHeld {
                holder,
                message: error.to_string(),
            },
            service::Error::InvalidComponent(error) => {
                ApiError::InvalidComponent(error.to_string())
            }
            service::Error::ShuttingDown => ApiError::Unavailable,
            service::Error::QueueFull(message) => ApiError::QueueFull(message),
            service::Error::QuotaMismatch(message) => ApiError::QuotaMismatch(message),
            service::Error::Forbidden { .. } => ApiError::Forbidden(error.to_string()),
            service::Error::Store(crate::store::Error::Fault(fault)) => ApiError::StoreFault(fault),
            service::Error::Store(error) => ApiError::Internal(error.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(%detail, "internal error answering a request");
        }
        let mut body = ErrorBody::new(self.code(), self.to_string());
        if let ApiError::UnknownFunction { functions, .. } = &self {
            body.error.functions = Some(functions.clone());
        }
        if let ApiError::UniqueKeyHeld { holder, .. } = &self {
            body.error.holder = Some(*holder);
        }
        let mut response = (self.status(), Json(body)).into_response();
        if matches!(self, ApiError::Unauthorized | ApiError::PayloadTooLarge(_)) {
            // The request body was not read (or not all of it): the
            // connection cannot carry another request, and a client that
            // reused it would see it cut. Say so.
            response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
        if let ApiError::StoreFault(fault) = self {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
            // For the router's layer that reports it to the store's health.
            response.extensions_mut().insert(fault);
        }
        response
    }
}

/// The API's result.
pub type ApiResult<T> = Result<T, ApiError>;
