//! Tokens and callers on the wire: `/v1/tokens` (the admin's) and
//! `GET /v1/caller`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::model::{Scope, Token};
pub use crate::service::CreatedToken;

/// Body of `POST /v1/tokens`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "ci", "queues": ["builds*"], "scopes": ["read", "put"]}))]
pub struct TokenCreate {
    /// Its unique name.
    pub name: String,
    /// Queue globs (`*`, `?`; `default` is the default queue).
    pub queues: Vec<String>,
    /// What it may do there.
    pub scopes: Vec<Scope>,
}

/// Reply of `GET /v1/tokens`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenList {
    /// Every token, by name, without secrets.
    pub tokens: Vec<Token>,
}

/// Reply of `GET /v1/caller`: who a request acts as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"name": null, "admin": true, "queues": ["*"], "scopes": ["admin"]}))]
pub struct CallerView {
    /// The token's name; `null` for the admin token (or no token).
    pub name: Option<String>,
    /// Whether it may do server-wide operations.
    pub admin: bool,
    /// The queues it may use (globs).
    pub queues: Vec<String>,
    /// What it may do there.
    pub scopes: Vec<Scope>,
}
