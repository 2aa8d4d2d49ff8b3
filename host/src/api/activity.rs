//! `GET /v1/activity` and `GET /v1/caller`: what the queues a caller may
//! read are doing, and who the caller is. The dashboard's overview and
//! its choice of buttons read them; a script can too.

use std::time::Duration;

use axum::Json;
use axum::extract::State;

use super::AppState;
use super::auth::Caller;
use super::error::ApiResult;
use super::extract::Query;
use crate::model::{Authority, Scope};
use crate::wire::access::CallerView;
use crate::wire::activity::{Activity, ActivityQuery};

/// The window an activity request reads when not told: the last hour.
pub const ACTIVITY_WINDOW_DEFAULT: Duration = Duration::from_secs(3600);
/// How many buckets it cuts it into when not told.
pub const ACTIVITY_BUCKETS_DEFAULT: u32 = 12;

/// `GET /v1/activity?window=1h&buckets=12`: every queue the caller may
/// read, with its jobs by state, whether it is paused, and the jobs
/// finished (succeeded, failed, cancelled) in each bucket of the window
/// with their mean wait.
#[utoipa::path(
    get,
    path = "/v1/activity",
    tag = "operators",
    operation_id = "activity",
    params(ActivityQuery),
    responses(
        (status = 200, description = "`{queues: [...]}`: each readable queue's jobs by state, whether it is paused, and the jobs finished per bucket of the window with their mean wait.", body = Activity)
    )
)]
pub async fn activity(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ActivityQuery>,
) -> ApiResult<Json<Activity>> {
    let window = query.window.map_or(ACTIVITY_WINDOW_DEFAULT, |w| w.0);
    let buckets = query.buckets.unwrap_or(ACTIVITY_BUCKETS_DEFAULT);
    Ok(Json(
        state.service.activity(&caller.0, window, buckets).await?,
    ))
}

/// `GET /v1/caller`: the caller's token: its name, queues and scopes.
#[utoipa::path(
    get,
    path = "/v1/caller",
    tag = "server",
    operation_id = "caller",
    responses(
        (status = 200, description = "`{name, admin, queues, scopes}`: who the request acts as (`name` null for the admin token or none).", body = CallerView)
    )
)]
pub async fn caller(caller: Caller) -> Json<CallerView> {
    let view = match &caller.0 {
        Authority::Admin => CallerView {
            name: None,
            admin: true,
            queues: vec!["*".to_owned()],
            scopes: vec![Scope::Admin],
        },
        Authority::Token(token) => CallerView {
            name: Some(token.name.clone()),
            admin: token.is_admin(),
            queues: token.queues.clone(),
            scopes: token.scopes.clone(),
        },
        Authority::Revoked(_) => CallerView {
            name: None,
            admin: false,
            queues: Vec::new(),
            scopes: Vec::new(),
        },
    };
    Json(view)
}
