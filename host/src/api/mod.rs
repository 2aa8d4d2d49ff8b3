//! The HTTP API: JSON under `/v1`, built with axum.
//!
//! `router.rs` holds every route; `error.rs` the one error type, which
//! answers `{"error": {"code", "message"}}` with the right status; each
//! resource has its own file of handlers.

mod activity;
mod audit;
mod auth;
mod batch;
mod callbacks;
mod cancel;
mod deletion;
mod error;
mod extract;
mod failures;
pub use crate::wire::input;
mod job_names;
mod jobs;
mod modules;
mod monitor;
pub mod openapi;
mod pauses;
mod queues;
mod quotas;
mod removal;
mod router;
mod schedules;
mod tokens;
mod workers;

use std::net::SocketAddr;

use tokio::net::TcpListener;

pub use error::{ApiError, ApiResult};
pub use router::router;

use crate::service::Service;

/// The largest upload, by default: 50 MiB.
pub const UPLOAD_LIMIT_DEFAULT: usize = 50 << 20;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The queue's operations.
    pub service: Service,
    /// The admin token: every request but the health check needs it or
    /// a scoped token (`/v1/tokens`), if set; with none, the API is open.
    pub token: Option<String>,
    /// The largest request body, in bytes.
    pub upload_limit: usize,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("upload_limit", &self.upload_limit)
            .finish_non_exhaustive()
    }
}

/// Serves only `GET /metrics` (this process's metrics, without the
/// database's counts) on `listener` until `shutdown` completes: for a
/// worker, which has no API (`wasync worker --metrics-listen`).
pub async fn serve_metrics(
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    async fn metrics() -> impl axum::response::IntoResponse {
        let content_type = [(
            axum::http::header::CONTENT_TYPE,
            crate::metrics::CONTENT_TYPE,
        )];
        (content_type, crate::metrics::render(None))
    }
    async fn not_found() -> ApiError {
        ApiError::NotFound("no such route; a worker serves only /metrics".into())
    }
    let app = axum::Router::new()
        .route("/metrics", axum::routing::get(metrics))
        .fallback(not_found);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Serves the API on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
