//! The API's wire types: the JSON of every request and reply, shared by
//! the server's handlers (`api/`) and the CLI (`cli/`), as atuin shares
//! `atuin-common/src/api.rs`. Each type derives `utoipa::ToSchema`, so
//! the OpenAPI document (`api/openapi.rs`, `docs/openapi.json`) is made
//! from the very types the server parses and the CLI sends.
//!
//! Where a request becomes the service's request, the conversion is a
//! method next to the wire type (`JobSpec::into_request`), in one place.

pub mod access;
pub mod activity;
pub mod deletion;
pub mod dispatchers;
pub mod error;
pub mod failures;
pub mod input;
pub mod jobs;
pub mod links;
pub mod modules;
pub mod names;
pub mod operators;
pub mod queues;
pub mod quotas;
pub mod schedules;
pub mod server;

pub use deletion::DeleteJobs;
pub use error::{ErrorBody, ErrorDetail};
pub use jobs::{JobPage, JobSpec, JobView};
pub use links::{CallbackView, CompositeSpec, LinkedSpec};
