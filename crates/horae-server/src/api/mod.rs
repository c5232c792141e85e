//! The REST API under `/api/v1`, with its OpenAPI document.

pub(crate) mod events;
pub(crate) mod jobs;
pub(crate) mod schedules;
pub(crate) mod tasks;

use horae::model::{ScheduleId, TaskId};
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::schema::{
    CommandActionDoc, DurationDoc, EventDoc, EventTypesDoc, HttpActionDoc, JobIdDoc,
    PositiveDurationDoc, ScheduleIdDoc, SseEventDoc, TaskBodyFieldsDoc, TaskFieldsDoc, TaskIdDoc,
};
use crate::state::AppState;

pub(crate) fn parse_task_id(id: &str) -> Result<TaskId, ApiError> {
    TaskId::new(id).map_err(|e| ApiError::invalid_id(&e))
}

pub(crate) fn parse_schedule_id(id: &str) -> Result<ScheduleId, ApiError> {
    ScheduleId::new(id).map_err(|e| ApiError::invalid_id(&e))
}

/// The OpenAPI document's fixed parts; the paths come from the routes.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "horae",
        description = "The HTTP API of a horae node: tasks, schedules, jobs, results, nodes and live events. \
            When the server has a token, every operation but /healthz requires `Authorization: Bearer <token>`. \
            Errors are `{\"error\": code, \"detail\": message}`.",
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0"),
    ),
    components(schemas(
        ErrorBody,
        CommandActionDoc,
        HttpActionDoc,
        TaskFieldsDoc,
        TaskBodyFieldsDoc,
        PositiveDurationDoc,
        DurationDoc,
        EventDoc,
        EventTypesDoc,
        SseEventDoc,
        TaskIdDoc,
        ScheduleIdDoc,
        JobIdDoc,
    )),
    modifiers(&Security),
    security((), ("bearer" = [])),
    tags(
        (name = "tasks", description = "Named units of work."),
        (name = "schedules", description = "Tasks plus triggers."),
        (name = "jobs", description = "Execution requests and their results."),
        (name = "nodes", description = "The nodes sharing the store."),
        (name = "events", description = "Live events."),
        (name = "operations", description = "Health, readiness and metrics."),
    ),
)]
struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The server's token ([http] token or HORAE_TOKEN); required only when one is configured.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The API routes (under `/api/v1`) and the operations routes, with their OpenAPI paths.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    let api = OpenApiRouter::new()
        .routes(routes!(tasks::list_tasks, tasks::create_task))
        .routes(routes!(
            tasks::get_task,
            tasks::put_task,
            tasks::delete_task
        ))
        .routes(routes!(
            schedules::list_schedules,
            schedules::create_schedule
        ))
        .routes(routes!(schedules::get_schedule, schedules::delete_schedule))
        .routes(routes!(schedules::pause_schedule))
        .routes(routes!(schedules::resume_schedule))
        .routes(routes!(schedules::preview_schedule))
        .routes(routes!(schedules::preview_trigger))
        .routes(routes!(jobs::list_jobs, jobs::create_job))
        .routes(routes!(jobs::get_job))
        .routes(routes!(jobs::list_results))
        .routes(routes!(jobs::get_result))
        .routes(routes!(jobs::list_nodes))
        .routes(routes!(events::events))
        .routes(routes!(crate::health::openapi_json));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", api)
        .routes(routes!(crate::health::healthz))
        .routes(routes!(crate::health::readyz))
        .routes(routes!(crate::metrics::metrics))
}
