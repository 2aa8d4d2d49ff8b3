//! Who is calling, and whether they may: the bearer token of a request
//! becomes an [`Authority`] (the admin token, a scoped token, or anyone
//! when the server has no token), and [`rule`] maps every route to the
//! scope and queue it needs (or none: the health check and the OpenAPI
//! document are open) — the table `docs/security.md` shows. A job
//! the caller may not read answers 404, exactly as a job that does not
//! exist; a queue it may not use answers 403 naming the scope and queue.
//! Puts check their queues in the service (every put, whoever makes it,
//! goes through one check); listings show only what the caller may read.

use axum::extract::{FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;
use super::error::ApiError;
use crate::model::{Authority, JobId, Scope};
use crate::service::{self, DEFAULT_QUEUE_ALIAS};

/// What a route needs of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// `scope` in the queue named by the path parameter.
    Queue(Scope, &'static str),
    /// `scope` in the queue of the job `{id}` (404 when the caller may not
    /// read that queue).
    Job(Scope),
    /// `scope` in the queue of the schedule `{name}`.
    Schedule(Scope),
    /// Any caller: the handler checks (puts, uploads, one module) or
    /// filters (listings) by the caller's authority.
    Handler,
    /// `admin` on every queue: server-wide operations.
    Server,
    /// Nobody's token: the health check and the API's OpenAPI document.
    Open,
}

/// What `method` on `path` (as routed, under `/v1`) needs.
pub fn rule(method: &Method, path: &str) -> Need {
    use Need::*;
    use Scope::*;
    let path = path.strip_prefix("/v1").unwrap_or(path);
    let get = *method == Method::GET;
    let read_or = |other| if get { Read } else { other };
    match path {
        "/health" | "/openapi.json" => Open,
        "/modules" | "/modules/{reference}" if *method != Method::DELETE => Handler,
        "/queues" | "/jobs" | "/jobs/batch" | "/composites" | "/schedules" => Handler,
        "/job-names/{name}/jobs" => Handler,
        // Each shows only what the caller may read, or the caller itself.
        "/activity" | "/caller" => Handler,
        // Held to the caller's queues by the handler (a queue it names
        // must be one it may read).
        "/jobs/query" | "/jobs/count" => Handler,
        "/queues/{name}" if get => Queue(Read, "name"),
        "/queues/{name}" => Queue(Admin, "name"),
        "/queues/{name}/jobs" => Queue(read_or(Put), "name"),
        "/queues/{name}/jobs/{id}" | "/queues/{name}/pull" => Queue(Manage, "name"),
        "/queues/{name}/pause" | "/queues/{name}/resume" => Queue(Manage, "name"),
        "/queues/{name}/retry" | "/queues/{name}/quotas" | "/queues/{name}/quotas/{quota}" => {
            Queue(read_or(Manage), "name")
        }
        "/queues/{name}/rate" => Queue(Manage, "name"),
        // Caps bound what a tenant's jobs may do: only an admin moves them.
        "/queues/{name}/caps" => Queue(read_or(Admin), "name"),
        "/queues/{name}/next" | "/queues/{name}/processing" => Queue(Read, "name"),
        "/jobs/{id}/annotations/{name}" => Job(read_or(Put)),
        "/jobs/{id}/callbacks" | "/jobs/{id}/parts" => Job(read_or(Put)),
        "/jobs/{id}" | "/jobs/{id}/cancel" | "/jobs/{id}/put" => Job(read_or(Manage)),
        "/jobs/{id}/wait" | "/jobs/{id}/attempts" | "/jobs/{id}/annotations" => Job(Read),
        "/jobs/{id}/failure" | "/jobs/{id}/info" => Job(Read),
        "/schedules/{name}" | "/schedules/{name}/pause" | "/schedules/{name}/resume" => {
            Schedule(read_or(Manage))
        }
        "/dispatchers/{id}/agents/{queue}/{name}" => Queue(Admin, "queue"),
        // Every queue's names and counts: a scraper holds the admin token.
        "/metrics" => Server,
        _ => Server,
    }
}

/// The caller's authority, as the middleware found it.
#[derive(Debug, Clone)]
pub struct Caller(pub Authority);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        // Fails closed: a route outside the middleware has no caller.
        parts
            .extensions
            .get::<Authority>()
            .cloned()
            .map(Caller)
            .ok_or(ApiError::Unauthorized)
    }
}

impl Caller {
    /// 403 unless the caller has `scope` in `queue` (`default` allowed).
    pub fn require(&self, scope: Scope, queue: &str) -> Result<(), ApiError> {
        let queue = queue_name(queue);
        if self.0.allows(scope, queue) {
            Ok(())
        } else {
            Err(service::Error::forbidden(scope, queue).into())
        }
    }

    /// Whether the caller may read `queue`.
    pub fn reads(&self, queue: &str) -> bool {
        self.0.allows(Scope::Read, queue_name(queue))
    }
}

fn queue_name(name: &str) -> &str {
    if name == DEFAULT_QUEUE_ALIAS {
        ""
    } else {
        name
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// The authority of a request: the admin for the server's token (or for
/// anyone when it has none, unless a scoped token is given), the token
/// whose secret it carries, else 401.
async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Authority, ApiError> {
    let given = bearer(headers);
    if let (Some(expected), Some(given)) = (&state.token, given)
        && constant_time_eq(given.as_bytes(), expected.as_bytes())
    {
        return Ok(Authority::Admin);
    }
    let token = match given {
        Some(given) => state.service.authenticate(given).await?,
        None => None,
    };
    match (token, &state.token) {
        (Some(token), _) => Ok(Authority::Token(token)),
        (None, None) => Ok(Authority::Admin),
        (None, Some(_)) => Err(ApiError::Unauthorized),
    }
}

/// Authenticates every request of the API and checks the route's
/// [`rule`]; the handler finds the authority as a [`Caller`].
pub async fn authorize(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let need = rule(request.method(), &path);
    if need == Need::Open {
        return Ok(next.run(request).await);
    }
    let authority = authenticate(&state, request.headers()).await?;
    let (mut parts, body) = request.into_parts();
    if authority != Authority::Admin {
        let params: Vec<(String, String)> =
            match RawPathParams::from_request_parts(&mut parts, &state).await {
                Ok(raw) => raw
                    .iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
                Err(_) => Vec::new(),
            };
        check(&state, &Caller(authority.clone()), need, &params).await?;
    }
    parts.extensions.insert(authority);
    Ok(next.run(Request::from_parts(parts, body)).await)
}

async fn check(
    state: &AppState,
    caller: &Caller,
    need: Need,
    params: &[(String, String)],
) -> Result<(), ApiError> {
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    match need {
        Need::Handler | Need::Open => Ok(()),
        Need::Server if caller.0.is_admin() => Ok(()),
        Need::Server => Err(service::Error::Forbidden {
            scope: Scope::Admin,
            queue: None,
        }
        .into()),
        Need::Queue(scope, name) => caller.require(scope, param(name).unwrap_or_default()),
        Need::Job(scope) => {
            let Some(Ok(id)) = param("id").map(str::parse::<JobId>) else {
                return Ok(()); // the handler answers the bad id
            };
            let job = match state.service.job_get(id).await {
                Ok(job) => job,
                Err(service::Error::NotFound { .. }) => return Ok(()),
                Err(e) => return Err(e.into()),
            };
            if !caller.reads(&job.queue) {
                return Err(service::Error::not_found(format!("job {id}")).into());
            }
            caller.require(scope, &job.queue)
        }
        Need::Schedule(scope) => {
            let name = param("name").unwrap_or_default();
            let schedule = match state.service.schedule_get(name).await {
                Ok(schedule) => schedule,
                Err(service::Error::NotFound { .. }) => return Ok(()),
                Err(e) => return Err(e.into()),
            };
            if !caller.reads(schedule.job.queue_ref()) {
                return Err(service::Error::not_found(format!("schedule `{name}`")).into());
            }
            caller.require(scope, schedule.job.queue_ref())
        }
    }
}

/// Compares without leaking where the first difference is.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
    }

    #[test]
    fn every_route_has_a_rule() {
        use Need::*;
        use Scope::*;
        assert_eq!(rule(&Method::GET, "/v1/jobs/{id}"), Job(Read));
        assert_eq!(rule(&Method::PATCH, "/v1/jobs/{id}"), Job(Manage));
        assert_eq!(
            rule(&Method::PUT, "/v1/jobs/{id}/annotations/{name}"),
            Job(Put)
        );
        assert_eq!(
            rule(&Method::POST, "/v1/queues/{name}/jobs"),
            Queue(Put, "name")
        );
        assert_eq!(
            rule(&Method::DELETE, "/v1/queues/{name}"),
            Queue(Admin, "name")
        );
        assert_eq!(rule(&Method::DELETE, "/v1/modules/{reference}"), Server);
        assert_eq!(rule(&Method::GET, "/v1/modules"), Handler);
        // Each job of a batch needs `put` in its queue: the service checks.
        assert_eq!(rule(&Method::POST, "/v1/jobs/batch"), Handler);
        assert_eq!(rule(&Method::POST, "/v1/tokens"), Server);
        assert_eq!(rule(&Method::GET, "/v1/dispatchers"), Server);
        assert_eq!(rule(&Method::GET, "/v1/jobs/query"), Handler);
        assert_eq!(rule(&Method::GET, "/v1/jobs/last-completed"), Server);
        assert_eq!(rule(&Method::POST, "/v1/jobs/delete"), Server);
        assert_eq!(rule(&Method::GET, "/metrics"), Server);
        assert_eq!(rule(&Method::GET, "/v1/openapi.json"), Open);
        assert_eq!(rule(&Method::GET, "/v1/health"), Open);
    }
}
