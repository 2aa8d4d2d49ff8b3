//! The API's OpenAPI 3.1 document, made by `utoipa` from the handlers'
//! `#[utoipa::path]` annotations and the wire types (`wire/`). Served at
//! `GET /v1/openapi.json` (no token needed) and checked in as
//! `docs/openapi.json` (a test fails when that copy is stale).

use std::sync::OnceLock;

use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, KnownFormat, OpenApi as Document, Ref, RefOr, SchemaFormat};
use utoipa::{Modify, OpenApi};

use super::{
    activity, batch, callbacks, cancel, deletion, failures, job_names, jobs, modules, monitor,
    pauses, queues, quotas, removal, router, schedules, tokens, workers,
};

mod links;

/// The errors any request may meet, with what each means; every
/// operation gets those it does not describe itself.
const COMMON_ERRORS: [(&str, &str); 8] = [
    (
        "400",
        "A malformed body, query or path parameter, or an empty name in a path (`bad_request`); the message names it.",
    ),
    (
        "401",
        "A token is required and was missing, unknown or revoked (`unauthorized`).",
    ),
    (
        "403",
        "The token lacks the scope in the queue (`forbidden`); the message names both.",
    ),
    (
        "404",
        "No such job, module, queue, schedule, dispatcher or name (`not_found`); a job the token may not read is not found either.",
    ),
    (
        "405",
        "The method is not allowed on the path (`method_not_allowed`).",
    ),
    ("500", "An internal error (`internal`); logged, not shown."),
    (
        "503",
        "Shutting down (`unavailable`) or the database cannot be reached (`database_unavailable`, with `Retry-After`).",
    ),
    (
        "507",
        "The database's storage is full (`storage_full`, with `Retry-After`); nothing was written.",
    ),
];

/// The document's own path.
pub const PATH: &str = "/v1/openapi.json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "wasync",
        description = "A durable job queue whose jobs are sandboxed WebAssembly components. \
            Every error answers `{\"error\": {\"code\", \"message\"}}` with its status.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        router::health, router::metrics, router::openapi_json,
        modules::upload, modules::list, modules::show, modules::delete,
        queues::create, queues::list, queues::show, queues::delete, queues::jobs, queues::put,
        queues::remove, queues::pull, queues::show_caps, queues::set_caps,
        queues::set_rate, queues::clear_rate,
        failures::show_retry, failures::set_retry, failures::attempts,
        quotas::create, quotas::list, quotas::show, quotas::patch, quotas::delete,
        jobs::put, jobs::list, jobs::show, jobs::patch, jobs::wait, jobs::put_back,
        jobs::annotations, jobs::annotation, jobs::set_annotation,
        batch::put,
        callbacks::add, callbacks::list, callbacks::put_composite, callbacks::add_part,
        callbacks::parts,
        schedules::create, schedules::list, schedules::show, schedules::update,
        schedules::pause, schedules::resume, schedules::delete,
        workers::list, workers::show, workers::agents, workers::put_agent, workers::delete_agent,
        tokens::create, tokens::list, tokens::revoke,
        monitor::query, monitor::count, monitor::last_completed, monitor::next_pending,
        monitor::failure, monitor::info, monitor::stats, monitor::status, monitor::polls,
        cancel::cancel, removal::remove, deletion::delete,
        pauses::pause_queue, pauses::resume_queue, pauses::queue_processing, pauses::processing,
        pauses::pause_dispatcher, pauses::resume_dispatcher, pauses::dispatcher_processing,
        job_names::list_names, job_names::show_name, job_names::set_name, job_names::delete_name,
        job_names::put_by_name,
        activity::activity, activity::caller,
    ),
    // A stored job's callbacks are described once, not followed from
    // each spec (they nest).
    components(schemas(crate::wire::ErrorBody, crate::model::CallbackSpec)),
    modifiers(&Security, &CommonErrors, &ScheduleFields),
    tags(
        (name = "server", description = "Health, metrics, this document, and who a token is."),
        (name = "modules", description = "Job components: upload, list, show, delete."),
        (name = "queues", description = "Queues, their jobs in order, caps, retry policies and quotas."),
        (name = "jobs", description = "Put, list, show, wait for, change and annotate jobs."),
        (name = "callbacks", description = "Callbacks and composites: jobs that hang on others."),
        (name = "schedules", description = "Jobs put on a delay or a cron."),
        (name = "job-names", description = "Named jobs: a module, function and defaults under a name."),
        (name = "dispatchers", description = "Dispatchers, their agents, statistics and pauses."),
        (name = "tokens", description = "Scoped tokens (admin only)."),
        (name = "operators", description = "Queries, cancel, removal and pauses."),
    ),
)]
struct ApiDoc;

/// The bearer token every operation but the open ones needs.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The admin token or a scoped token (`/v1/tokens`); \
                         not needed when the server has no token.",
                    ))
                    .build(),
            ),
        );
        openapi.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]);
    }
}

/// Adds [`COMMON_ERRORS`] to every operation.
struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut Document) {
        let error = || {
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            for operation in operations(item) {
                for (status, description) in COMMON_ERRORS {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| {
                            ResponseBuilder::new()
                                .description(description)
                                .content("application/json", error())
                                .into()
                        });
                }
            }
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// A job's `schedule_id` and `occurrence`, present when a schedule put
/// it. `model::Job` flattens them from an `Option` (its schema field is
/// skipped: utoipa would require them of every job); they are described
/// here as the optional properties they are.
struct ScheduleFields;

impl Modify for ScheduleFields {
    fn modify(&self, openapi: &mut Document) {
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        let Some(RefOr::T(Schema::Object(job))) = components.schemas.get_mut("Job") else {
            return;
        };
        job.properties.insert(
            "schedule_id".into(),
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
                .description(Some("The schedule that put it, if one did."))
                .into(),
        );
        job.properties.insert(
            "occurrence".into(),
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
                .description(Some("The occurrence of that schedule it was put for."))
                .into(),
        );
    }
}

/// The document as the server serves it and `docs/openapi.json` holds it:
/// pretty JSON with a final newline.
pub fn document_json() -> String {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let mut document =
            serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serializes");
        links::add(&mut document);
        let mut text =
            serde_json::to_string_pretty(&document).expect("the OpenAPI document serializes");
        text.push('\n');
        text
    })
    .clone()
}

#[cfg(test)]
mod coverage;
#[cfg(test)]
mod tests;
