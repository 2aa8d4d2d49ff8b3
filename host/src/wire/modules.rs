//! Modules on the wire: `/v1/modules`.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::model::ModuleInfo;

/// Query of `POST /v1/modules` (the component is the raw body).
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// The name to give the module (a later upload under it replaces
    /// what the name points to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Reply of `GET /v1/modules`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ModuleList {
    /// The modules the caller sees.
    pub modules: Vec<ModuleInfo>,
}

/// The body of `POST /v1/modules`: the component's bytes, as they are
/// (any content type; `application/wasm` or `application/octet-stream`).
#[derive(Debug, Clone, Copy)]
pub struct ComponentBytes;

impl utoipa::PartialSchema for ComponentBytes {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Binary,
            )))
            .description(Some("A WebAssembly component (a job), as a file holds it."))
            .into()
    }
}

impl ToSchema for ComponentBytes {}
