//! The one router: every route of the API in one place.

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use tower_http::trace::{DefaultOnFailure, TraceLayer};

use super::error::ApiError;
use super::{
    AppState, activity, audit, auth, batch, callbacks, cancel, deletion, failures, job_names, jobs,
    modules, monitor, pauses, queues, quotas, removal, schedules, tokens, workers,
};
use crate::wire::ErrorDetail;
use crate::wire::server::Health;

/// Builds the API: every route under `/v1`, bearer-token auth and the
/// scope each route needs on all but `/v1/health` (`auth.rs`), the upload limit, JSON errors for
/// unknown routes and methods, the report of database faults to the
/// store's health, and a trace span per request.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/modules", post(modules::upload).get(modules::list))
        .route(
            "/modules/{reference}",
            get(modules::show).delete(modules::delete),
        )
        .route("/queues", post(queues::create).get(queues::list))
        .route("/queues/{name}", get(queues::show).delete(queues::delete))
        .route("/queues/{name}/jobs", post(queues::put).get(queues::jobs))
        .route(
            "/queues/{name}/jobs/{id}",
            axum::routing::delete(queues::remove),
        )
        .route("/queues/{name}/pull", post(queues::pull))
        .route(
            "/queues/{name}/retry",
            get(failures::show_retry).put(failures::set_retry),
        )
        .route(
            "/queues/{name}/caps",
            get(queues::show_caps).put(queues::set_caps),
        )
        .route(
            "/queues/{name}/rate",
            axum::routing::put(queues::set_rate).delete(queues::clear_rate),
        )
        .route(
            "/queues/{name}/quotas",
            post(quotas::create).get(quotas::list),
        )
        .route(
            "/queues/{name}/quotas/{quota}",
            get(quotas::show)
                .patch(quotas::patch)
                .delete(quotas::delete),
        )
        .route("/jobs", post(jobs::put).get(jobs::list))
        .route("/jobs/batch", post(batch::put))
        .route("/jobs/{id}", get(jobs::show).patch(jobs::patch))
        .route("/jobs/{id}/wait", get(jobs::wait))
        .route("/jobs/{id}/attempts", get(failures::attempts))
        .route("/jobs/{id}/put", post(jobs::put_back))
        .route("/jobs/{id}/annotations", get(jobs::annotations))
        .route(
            "/jobs/{id}/callbacks",
            post(callbacks::add).get(callbacks::list),
        )
        .route(
            "/jobs/{id}/parts",
            post(callbacks::add_part).get(callbacks::parts),
        )
        .route("/composites", post(callbacks::put_composite))
        .route(
            "/jobs/{id}/annotations/{name}",
            get(jobs::annotation).put(jobs::set_annotation),
        )
        .route("/schedules", post(schedules::create).get(schedules::list))
        .route(
            "/schedules/{name}",
            get(schedules::show)
                .patch(schedules::update)
                .delete(schedules::delete),
        )
        .route("/schedules/{name}/pause", post(schedules::pause))
        .route("/schedules/{name}/resume", post(schedules::resume))
        .route("/dispatchers", get(workers::list))
        .route("/dispatchers/{id}", get(workers::show))
        .route("/dispatchers/{id}/agents", get(workers::agents))
        .route(
            "/dispatchers/{id}/agents/{queue}/{name}",
            put(workers::put_agent).delete(workers::delete_agent),
        )
        .route("/tokens", post(tokens::create).get(tokens::list))
        .route("/tokens/{name}", axum::routing::delete(tokens::revoke))
        .route("/activity", get(activity::activity))
        .route("/caller", get(activity::caller))
        .route("/openapi.json", get(openapi_json))
        .merge(operator_routes())
        // Inside the auth layer: the audit log sees the caller.
        .route_layer(middleware::from_fn(audit::record))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authorize,
        ));
    // Outside `/v1`, where Prometheus looks; behind the same auth (its
    // rule: `admin` when the server has a token).
    let metrics =
        Router::new()
            .route("/metrics", get(metrics))
            .route_layer(middleware::from_fn_with_state(
                state.clone(),
                auth::authorize,
            ));
    let upload_limit = state.upload_limit;
    Router::new()
        .route("/v1/health", get(health))
        .nest("/v1", api)
        .merge(metrics)
        .merge(crate::dashboard::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(refuse_empty_names))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            report_store_faults,
        ))
        .layer(DefaultBodyLimit::max(upload_limit))
        // A 5xx is not logged per request at ERROR: an internal error is
        // logged with its detail where it is answered (`error.rs`), and a
        // database fault once per episode by the store's health.
        .layer(
            TraceLayer::new_for_http()
                .on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)),
        )
        .with_state(state)
}

/// The operators' routes: cancel, removal, pauses, named jobs, job
/// queries and dispatcher introspection.
fn operator_routes() -> Router<AppState> {
    Router::new()
        .route("/jobs/query", get(monitor::query))
        .route("/jobs/count", get(monitor::count))
        .route("/jobs/last-completed", get(monitor::last_completed))
        .route("/jobs/remove", post(removal::remove))
        .route("/jobs/delete", post(deletion::delete))
        .route("/jobs/{id}/cancel", post(cancel::cancel))
        .route("/jobs/{id}/failure", get(monitor::failure))
        .route("/jobs/{id}/info", get(monitor::info))
        .route("/queues/{name}/next", get(monitor::next_pending))
        .route("/queues/{name}/pause", post(pauses::pause_queue))
        .route("/queues/{name}/resume", post(pauses::resume_queue))
        .route("/queues/{name}/processing", get(pauses::queue_processing))
        .route("/processing", get(pauses::processing))
        .route("/dispatchers/{id}/pause", post(pauses::pause_dispatcher))
        .route("/dispatchers/{id}/resume", post(pauses::resume_dispatcher))
        .route(
            "/dispatchers/{id}/processing",
            get(pauses::dispatcher_processing),
        )
        .route("/dispatchers/{id}/stats", get(monitor::stats))
        .route("/dispatchers/{id}/status", get(monitor::status))
        .route("/dispatchers/{id}/polls", get(monitor::polls))
        .route("/job-names", get(job_names::list_names))
        .route(
            "/job-names/{name}",
            get(job_names::show_name)
                .put(job_names::set_name)
                .delete(job_names::delete_name),
        )
        .route("/job-names/{name}/jobs", post(job_names::put_by_name))
}

#[utoipa::path(
    get,
    path = "/v1/health",
    tag = "server",
    operation_id = "health",
    security(()),
    responses(
        (status = 200, description = "The store takes writes.", body = Health),
        (status = 503, description = "Degraded: the store takes no writes; `error` says why.", body = Health,
            example = json!({"status": "degraded", "version": "0.1.0", "backend": "sqlite",
                "error": {"code": "storage_full", "message": "the database's storage is full"},
                "detail": "database or disk is full", "since": "2026-11-25T16:30:00Z",
                "failed_operations": 3})),
    )
)]
/// `GET /v1/health`: 200 `ok` while the store takes writes; 503
/// `degraded` while it does not (a full disk, an unreachable database),
/// with the cause as an error body (`storage_full`,
/// `database_unavailable`), the database's own words, since when and how
/// many operations failed. Reads nothing from the database.
pub(super) async fn health(State(state): State<AppState>) -> Response {
    let mut health = Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        backend: state.service.backend().into(),
        error: None,
        detail: None,
        since: None,
        failed_operations: None,
    };
    match state.service.health().degraded() {
        None => axum::Json(health).into_response(),
        Some(degraded) => {
            let fault = degraded.fault;
            health.status = "degraded".into();
            health.error = Some(ErrorDetail {
                code: fault.kind.code().into(),
                message: fault.kind.meaning().into(),
                functions: None,
                holder: None,
            });
            health.detail = Some(fault.detail);
            health.since = Some(degraded.since);
            health.failed_operations = Some(degraded.failures);
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(health)).into_response()
        }
    }
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "server",
    operation_id = "metrics",
    responses(
        (status = 200, description = "The metrics, in the OpenMetrics text format.",
            body = String, content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"),
    )
)]
/// `GET /metrics`: this process's metrics and the jobs by queue and
/// status, in the OpenMetrics text format Prometheus scrapes
/// (`docs/metrics.md`).
pub(super) async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let text = state.service.metrics_text().await?;
    let content_type = [(
        axum::http::header::CONTENT_TYPE,
        crate::metrics::CONTENT_TYPE,
    )];
    Ok((content_type, text).into_response())
}

#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "server",
    operation_id = "openapi_json",
    security(()),
    responses((status = 200, description = "This document (OpenAPI 3.1).", body = serde_json::Value))
)]
/// `GET /v1/openapi.json`: the API's OpenAPI document (`openapi.rs`); no
/// token needed.
pub(super) async fn openapi_json() -> Response {
    let content_type = [(axum::http::header::CONTENT_TYPE, "application/json")];
    (content_type, super::openapi::document_json()).into_response()
}

/// Reports the database faults that requests met (an [`ApiError::StoreFault`]
/// leaves its fault in the response) to the store's health, which logs
/// the episode once.
async fn report_store_faults(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    if let Some(fault) = response.extensions().get::<crate::store::Fault>() {
        state.service.health().fault(fault);
    }
    response
}

/// Refuses an API path with an empty segment (`/v1/queues//resume`): a
/// name in a path is never empty (the default queue is spelled `default`
/// there), and the router would otherwise match the path to a route whose
/// name parameter is empty.
async fn refuse_empty_names(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if path.starts_with("/v1/") && path.contains("//") {
        let message = format!("`{path}`: a name in a path is never empty");
        return ApiError::BadRequest(message).into_response();
    }
    next.run(request).await
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route; the API lives under /v1".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
