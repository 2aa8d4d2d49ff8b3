//! The web dashboard: a page and its scripts and style, embedded in the
//! binary and served by `wasync serve` under `/` (the API stays under
//! `/v1`). It is a client of the public API only: the browser calls
//! `/v1` with the token the user typed, kept in the tab's
//! `sessionStorage`, so anything the dashboard does a script can do.
//! No build step: the assets are plain HTML, CSS and JavaScript modules
//! (`assets/`), read in at compile time (`docs/dashboard.md`).

use axum::Router;
use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// One embedded file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// Its name under `/assets/`.
    pub name: &'static str,
    /// Its media type.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static str,
}

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            body: include_str!(concat!("assets/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// The page every dashboard URL loads (the views are chosen by the
/// fragment: `#/jobs`, `#/jobs/ID`, …).
pub const INDEX: Asset = asset!("index.html", "text/html; charset=utf-8");

/// The files the page loads.
pub const ASSETS: &[Asset] = &[
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("ui.js", JS),
    asset!("chart.js", JS),
    asset!("graph.js", JS),
    asset!("overview.js", JS),
    asset!("jobs.js", JS),
    asset!("batch.js", JS),
    asset!("job.js", JS),
    asset!("modules.js", JS),
    asset!("schedules.js", JS),
    asset!("put.js", JS),
];

/// Nothing but this origin: no CDN, no inline script, no framing.
const POLICY: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; \
                      script-src 'self'; connect-src 'self'; frame-ancestors 'none'";

/// The dashboard's routes: `/` and `/assets/{name}`. They need no token:
/// the page holds no data; the API it calls does.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { respond(&INDEX) }))
        .route("/assets/{name}", get(asset))
}

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(asset) => respond(asset),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({"error": {
                "code": "not_found",
                "message": format!("no dashboard asset `{name}`"),
            }})),
        )
            .into_response(),
    }
}

fn respond(asset: &Asset) -> Response {
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static(asset.content_type)),
            // Revalidated each load: a new binary serves new assets.
            (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY)),
            (
                HeaderName::from_static("x-content-type-options"),
                HeaderValue::from_static("nosniff"),
            ),
        ],
        asset.body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_the_scripts_import_is_served() {
        let served: Vec<&str> = ASSETS.iter().map(|a| a.name).collect();
        for asset in ASSETS.iter().chain([&INDEX]) {
            for line in asset.body.lines() {
                let Some(rest) = line.split("from \"./").nth(1) else {
                    continue;
                };
                let name = rest.split('"').next().unwrap_or_default();
                assert!(served.contains(&name), "{} imports {name}", asset.name);
            }
        }
    }

    #[test]
    fn the_page_loads_no_outside_resource() {
        for asset in ASSETS.iter().chain([&INDEX]) {
            // The SVG namespace is a name, not a place the page loads.
            let body = asset.body.replace("http://www.w3.org/2000/svg", "");
            assert!(
                !body.contains("http://") && !body.contains("https://"),
                "{} names an outside URL",
                asset.name
            );
        }
    }
}
