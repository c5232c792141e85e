//! `/api/v1/tasks`: list, create, read, replace and remove tasks.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use horae::error::{ObjectKind, StoreError};
use horae::model::{Task, TaskId};
use serde_json::{Map, Value};

use super::parse_task_id;
use crate::error::{ApiError, BodyErrors, CommonErrors, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::schema::{TaskBodyDoc, TaskDoc, TaskIdDoc};
use crate::state::AppState;

/// List tasks
///
/// Every task, sorted by id.
#[utoipa::path(
    get,
    path = "/tasks",
    tag = "tasks",
    responses((status = 200, description = "The tasks.", body = Vec<TaskDoc>), CommonErrors),
)]
pub(crate) async fn list_tasks(State(state): State<AppState>) -> Result<Json<Vec<Task>>, ApiError> {
    let tasks = state.scheduler().store().get_tasks().await?;
    Ok(Json(tasks))
}

/// Create a task
///
/// Adds a task; fails with 409 if one with its id exists (use `PUT /tasks/{id}` to replace).
#[utoipa::path(
    post,
    path = "/tasks",
    tag = "tasks",
    request_body = TaskDoc,
    responses(
        (status = 201, description = "The task was created.", body = TaskDoc),
        (status = 409, description = "A task with this id exists.", body = ErrorBody),
        CommonErrors, BodyErrors,
    ),
)]
pub(crate) async fn create_task(
    State(state): State<AppState>,
    ApiJson(task): ApiJson<Task>,
) -> Result<(StatusCode, Json<Task>), ApiError> {
    task.validate()?;
    let scheduler = state.scheduler();
    if scheduler.store().get_task(&task.id).await?.is_some() {
        return Err(StoreError::Conflict {
            kind: ObjectKind::Task,
            id: task.id.to_string(),
        }
        .into());
    }
    scheduler.put_task(task.clone()).await?;
    Ok((StatusCode::CREATED, Json(task)))
}

/// Get a task
#[utoipa::path(
    get,
    path = "/tasks/{id}",
    tag = "tasks",
    params(("id" = TaskIdDoc, Path, description = "The task's id.")),
    responses(
        (status = 200, description = "The task.", body = TaskDoc),
        (status = 404, description = "No such task.", body = ErrorBody),
        CommonErrors,
    ),
)]
pub(crate) async fn get_task(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Task>, ApiError> {
    let id = parse_task_id(&id)?;
    match state.scheduler().store().get_task(&id).await? {
        Some(task) => Ok(Json(task)),
        None => Err(not_found(&id)),
    }
}

/// Create or replace a task
///
/// Stores the task under the path's id: 201 when it was new, 200 when it replaced one. The
/// body is a task without `id` (an `id` equal to the path's is tolerated).
#[utoipa::path(
    put,
    path = "/tasks/{id}",
    tag = "tasks",
    params(("id" = TaskIdDoc, Path, description = "The task's id.")),
    request_body = TaskBodyDoc,
    responses(
        (status = 200, description = "The task was replaced.", body = TaskDoc),
        (status = 201, description = "The task was created.", body = TaskDoc),
        CommonErrors, BodyErrors,
    ),
)]
pub(crate) async fn put_task(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(mut body): ApiJson<Map<String, Value>>,
) -> Result<(StatusCode, Json<Task>), ApiError> {
    let id = parse_task_id(&id)?;
    match body.get("id") {
        None => {}
        Some(Value::String(given)) if given == id.as_str() => {}
        Some(other) => {
            return Err(ApiError::validation(format!(
                "id {other} in the body differs from the path's task id '{id}'"
            )));
        }
    }
    body.insert("id".into(), Value::String(id.to_string()));
    let task: Task = serde_json::from_value(Value::Object(body)).map_err(|e| {
        ApiError::validation(format!(
            "Failed to deserialize the JSON body into the target type: {e}"
        ))
    })?;
    task.validate()?;
    let created = state.scheduler().put_task(task.clone()).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(task)))
}

/// Remove a task
///
/// Its schedules and queued jobs stay (their jobs fail until it is added again).
#[utoipa::path(
    delete,
    path = "/tasks/{id}",
    tag = "tasks",
    params(("id" = TaskIdDoc, Path, description = "The task's id.")),
    responses(
        (status = 204, description = "The task was removed."),
        (status = 404, description = "No such task.", body = ErrorBody),
        CommonErrors,
    ),
)]
pub(crate) async fn delete_task(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_task_id(&id)?;
    let scheduler = state.scheduler();
    if scheduler.store().get_task(&id).await?.is_none() {
        return Err(not_found(&id));
    }
    scheduler.remove_task(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn not_found(id: &TaskId) -> ApiError {
    StoreError::NotFound {
        kind: ObjectKind::Task,
        id: id.to_string(),
    }
    .into()
}
