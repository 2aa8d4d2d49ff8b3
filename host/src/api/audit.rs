//! The audit log: every request that changes something is logged with
//! the name of the token that made it (`admin` for the server's token):
//! at INFO when it comes from the dashboard (which says so in the
//! [`CLIENT_HEADER`]), where a person acts by hand, at DEBUG otherwise,
//! where a program may put thousands of jobs a second.

use axum::extract::{MatchedPath, OriginalUri, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use crate::model::Authority;

/// The header a client names itself in; the dashboard sends
/// [`DASHBOARD_CLIENT`].
pub const CLIENT_HEADER: &str = "x-wasync-client";
/// The dashboard's name in the [`CLIENT_HEADER`].
pub const DASHBOARD_CLIENT: &str = "dashboard";

/// The name an authority is logged under.
pub fn actor(authority: Option<&Authority>) -> String {
    match authority {
        Some(Authority::Admin) => "admin".to_owned(),
        Some(Authority::Token(token)) => token.name.clone(),
        Some(Authority::Revoked(id)) => format!("revoked token {id}"),
        None => "unknown".to_owned(),
    }
}

/// Logs a request that changes something once it is answered: who, what,
/// and the answer's status.
pub async fn record(request: Request, next: Next) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        return next.run(request).await;
    }
    let token = actor(request.extensions().get::<Authority>());
    let method = request.method().clone();
    // Inside `/v1`'s nested router the URI has lost its prefix.
    let path = request
        .extensions()
        .get::<OriginalUri>()
        .map_or_else(|| request.uri().path().to_owned(), |u| u.path().to_owned());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let from_dashboard = request
        .headers()
        .get(CLIENT_HEADER)
        .is_some_and(|v| v.as_bytes() == DASHBOARD_CLIENT.as_bytes());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    if from_dashboard {
        tracing::info!(target: "wasync::audit", %token, %method, %path, %route, status, "dashboard action");
    } else {
        tracing::debug!(target: "wasync::audit", %token, %method, %path, %route, status, "action");
    }
    response
}
