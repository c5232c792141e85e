//! `/api/v1/schedules`: list, create, read, remove, pause, resume and preview schedules.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use horae::duration::{serde_human, serde_human_opt};
use horae::error::{ObjectKind, StoreError};
use horae::model::{CoalescePolicy, ConflictPolicy, Schedule, ScheduleId, TaskId};
use horae::store::AddScheduleOutcome;
use horae::trigger::{Trigger, format_fire_time};
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::parse_schedule_id;
use crate::error::{ApiError, BodyErrors, CommonErrors, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::schema::{
    CoalescePolicyDoc, ConflictPolicyDoc, DurationDoc, ScheduleDoc, ScheduleIdDoc, TaskIdDoc,
    TriggerSpecDoc,
};
use crate::state::AppState;

/// The most fire times one preview returns.
pub(crate) const MAX_PREVIEW: usize = 1000;

/// A new schedule: a task, a trigger and the schedule's settings.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScheduleCreate {
    /// The schedule's id; omitted: a generated UUID.
    #[schema(value_type = Option<ScheduleIdDoc>)]
    #[serde(default)]
    id: Option<ScheduleId>,
    /// The task its jobs run (must exist).
    #[schema(value_type = TaskIdDoc)]
    task_id: TaskId,
    /// When it fires (DESIGN.md section 4).
    #[schema(value_type = TriggerSpecDoc)]
    trigger: Value,
    /// Positional arguments passed to every job.
    #[serde(default)]
    args: Vec<Value>,
    /// Keyword arguments passed to every job.
    #[serde(default)]
    kwargs: Map<String, Value>,
    /// Whether it starts paused (default false).
    #[serde(default)]
    paused: bool,
    /// Which due fire times get a job (default latest).
    #[schema(value_type = CoalescePolicyDoc)]
    #[serde(default)]
    coalesce: CoalescePolicy,
    /// How late a job may start; omitted or null: the task's.
    #[schema(value_type = Option<DurationDoc>)]
    #[serde(default, with = "serde_human_opt")]
    misfire_grace_time: Option<Duration>,
    /// The largest random delay added to each fire time; null = none.
    #[schema(value_type = Option<DurationDoc>)]
    #[serde(default, with = "serde_human_opt")]
    max_jitter: Option<Duration>,
    /// How long its jobs' results are kept (default "0s": not kept).
    #[schema(value_type = DurationDoc)]
    #[serde(default, with = "serde_human")]
    job_result_expiration_time: Duration,
    /// Free-form JSON object for the user.
    #[serde(default)]
    metadata: Map<String, Value>,
    /// What to do when a schedule with this id exists (default exception: 409 Conflict).
    #[schema(value_type = ConflictPolicyDoc)]
    #[serde(default = "exception")]
    conflict_policy: ConflictPolicy,
}

fn exception() -> ConflictPolicy {
    ConflictPolicy::Exception
}

/// List schedules
///
/// Every schedule, sorted by id.
#[utoipa::path(
    get,
    path = "/schedules",
    tag = "schedules",
    responses((status = 200, description = "The schedules.", body = Vec<ScheduleDoc>), CommonErrors),
)]
pub(crate) async fn list_schedules(
    State(state): State<AppState>,
) -> Result<Json<Vec<Schedule>>, ApiError> {
    Ok(Json(state.scheduler().store().get_schedules().await?))
}

/// Create a schedule
///
/// Adds a schedule of an existing task; its first fire time is computed from the trigger.
/// 201 when it was added; with `conflict_policy` `replace` 200 when it replaced one, with
/// `do_nothing` 200 and the existing schedule.
#[utoipa::path(
    post,
    path = "/schedules",
    tag = "schedules",
    request_body = ScheduleCreate,
    responses(
        (status = 201, description = "The schedule was added.", body = ScheduleDoc),
        (status = 200, description = "The schedule existed and was replaced or kept.", body = ScheduleDoc),
        (status = 404, description = "The task does not exist.", body = ErrorBody),
        (status = 409, description = "A schedule with this id exists (conflict_policy exception).", body = ErrorBody),
        CommonErrors, BodyErrors,
    ),
)]
pub(crate) async fn create_schedule(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ScheduleCreate>,
) -> Result<(StatusCode, Json<Schedule>), ApiError> {
    let scheduler = state.scheduler();
    let trigger = Trigger::from_json(&body.trigger, scheduler.now())?;
    let id = match body.id {
        Some(id) => id,
        None => ScheduleId::new(uuid::Uuid::now_v7().to_string())?,
    };
    let mut schedule = Schedule::new(id.clone(), body.task_id, trigger);
    schedule.args = body.args;
    schedule.kwargs = body.kwargs;
    schedule.paused = body.paused;
    schedule.coalesce = body.coalesce;
    schedule.misfire_grace_time = body.misfire_grace_time;
    schedule.max_jitter = body.max_jitter;
    schedule.job_result_expiration_time = body.job_result_expiration_time;
    schedule.metadata = body.metadata;
    schedule.validate()?;
    let outcome = scheduler
        .insert_schedule(schedule, body.conflict_policy)
        .await?;
    let stored = get(&state, &id).await?;
    let status = match outcome {
        AddScheduleOutcome::Added => StatusCode::CREATED,
        AddScheduleOutcome::Replaced | AddScheduleOutcome::Kept => StatusCode::OK,
    };
    Ok((status, Json(stored)))
}

async fn get(state: &AppState, id: &ScheduleId) -> Result<Schedule, ApiError> {
    state
        .scheduler()
        .store()
        .get_schedule(id)
        .await?
        .ok_or_else(|| {
            StoreError::NotFound {
                kind: ObjectKind::Schedule,
                id: id.to_string(),
            }
            .into()
        })
}

/// Get a schedule
#[utoipa::path(
    get,
    path = "/schedules/{id}",
    tag = "schedules",
    params(("id" = ScheduleIdDoc, Path, description = "The schedule's id.")),
    responses(
        (status = 200, description = "The schedule.", body = ScheduleDoc),
        (status = 404, description = "No such schedule.", body = ErrorBody),
        CommonErrors,
    ),
)]
pub(crate) async fn get_schedule(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Schedule>, ApiError> {
    let id = parse_schedule_id(&id)?;
    Ok(Json(get(&state, &id).await?))
}

/// Remove a schedule
///
/// Its queued jobs still run.
#[utoipa::path(
    delete,
    path = "/schedules/{id}",
    tag = "schedules",
    params(("id" = ScheduleIdDoc, Path, description = "The schedule's id.")),
    responses(
        (status = 204, description = "The schedule was removed."),
        (status = 404, description = "No such schedule.", body = ErrorBody),
        CommonErrors,
    ),
)]
pub(crate) async fn delete_schedule(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_schedule_id(&id)?;
    state.scheduler().remove_schedule(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Pause a schedule
///
/// It creates no jobs until resumed. Pausing a paused schedule changes nothing.
#[utoipa::path(
    post,
    path = "/schedules/{id}/pause",
    tag = "schedules",
    params(("id" = ScheduleIdDoc, Path, description = "The schedule's id.")),
    responses(
        (status = 200, description = "The paused schedule.", body = ScheduleDoc),
        (status = 404, description = "No such schedule.", body = ErrorBody),
        CommonErrors,
    ),
)]
pub(crate) async fn pause_schedule(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Schedule>, ApiError> {
    let id = parse_schedule_id(&id)?;
    Ok(Json(state.scheduler().pause_schedule(&id).await?))
}

/// Query of `POST /schedules/{id}/resume`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ResumeQuery {
    /// Skip the fire times that passed while the schedule was paused (default false: they
    /// are handled by its coalesce policy).
    #[serde(default)]
    skip_missed: Option<bool>,
}

/// Resume a schedule
#[utoipa::path(
    post,
    path = "/schedules/{id}/resume",
    tag = "schedules",
    params(("id" = ScheduleIdDoc, Path, description = "The schedule's id."), ResumeQuery),
    responses(
        (status = 200, description = "The resumed schedule.", body = ScheduleDoc),
        (status = 404, description = "No such schedule.", body = ErrorBody),
        (status = 422, description = "The trigger failed while skipping missed fire times.", body = ErrorBody),
        CommonErrors,
    ),
)]
pub(crate) async fn resume_schedule(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<ResumeQuery>,
) -> Result<Json<Schedule>, ApiError> {
    let id = parse_schedule_id(&id)?;
    let skip = query.skip_missed.unwrap_or(false);
    Ok(Json(state.scheduler().resume_schedule(&id, skip).await?))
}

/// Query of `GET /schedules/{id}/preview`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct PreviewQuery {
    /// How many fire times (default 10, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    #[serde(default)]
    count: Option<usize>,
}

/// Checks a preview count: 1 to [`MAX_PREVIEW`], default 10.
pub(crate) fn preview_count(count: Option<usize>) -> Result<usize, ApiError> {
    match count {
        None => Ok(10),
        Some(n) if (1..=MAX_PREVIEW).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(format!(
            "count must be between 1 and {MAX_PREVIEW}, got {n}"
        ))),
    }
}

/// The next `count` fire times of `trigger` as RFC 3339 strings (fewer if it ends).
pub(crate) fn fire_times(trigger: &mut Trigger, count: usize) -> Result<Vec<String>, ApiError> {
    let mut times = Vec::with_capacity(count.min(MAX_PREVIEW));
    while times.len() < count {
        match trigger.next()? {
            Some(time) => times.push(format_fire_time(&time)),
            None => break,
        }
    }
    Ok(times)
}

/// Preview a schedule's fire times
///
/// Its next `count` fire times from `next_fire_time` on, as RFC 3339 strings in the
/// trigger's time zone (fewer if the trigger ends; none once it has ended). Whether the
/// schedule is paused does not matter.
#[utoipa::path(
    get,
    path = "/schedules/{id}/preview",
    tag = "schedules",
    params(("id" = ScheduleIdDoc, Path, description = "The schedule's id."), PreviewQuery),
    responses(
        (status = 200, description = "The fire times.", body = Vec<String>,
            example = json!(["2026-01-01T03:00:00+00:00", "2026-01-02T03:00:00+00:00"])),
        (status = 404, description = "No such schedule.", body = ErrorBody),
        (status = 422, description = "The trigger failed to compute a fire time.", body = ErrorBody),
        CommonErrors,
    ),
)]
pub(crate) async fn preview_schedule(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<PreviewQuery>,
) -> Result<Json<Vec<String>>, ApiError> {
    let id = parse_schedule_id(&id)?;
    let count = preview_count(query.count)?;
    let schedule = get(&state, &id).await?;
    let Some(next) = schedule.next_fire_time else {
        return Ok(Json(Vec::new()));
    };
    // The stored trigger has already produced `next_fire_time`: it comes first, written in
    // the trigger's zone, followed by what the trigger produces next.
    let mut trigger = schedule.trigger.clone();
    let mut rest = Vec::new();
    while rest.len() + 1 < count {
        match trigger.next()? {
            Some(time) => rest.push(time),
            None => break,
        }
    }
    let mut times = vec![format_fire_time(&in_zone_of(
        &schedule.trigger,
        rest.first(),
        next,
    ))];
    times.extend(rest.iter().map(format_fire_time));
    Ok(Json(times))
}

/// `at` in the zone of the trigger's fire times: its `timezone` if it has one, else the
/// offset of its following fire time, else UTC.
fn in_zone_of(
    trigger: &Trigger,
    following: Option<&jiff::ZonedDateTime>,
    at: jiff::Timestamp,
) -> jiff::ZonedDateTime {
    let named = trigger
        .to_json()
        .get("timezone")
        .and_then(Value::as_str)
        .and_then(|name| jiff::tz::TimeZone::get(name).ok());
    let zone = named
        .or_else(|| following.map(|t| jiff::tz::TimeZone::fixed(t.offset())))
        .unwrap_or(jiff::tz::TimeZone::UTC);
    at.to_zoned_datetime(zone)
}

/// Body of `POST /triggers/preview`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TriggerPreview {
    /// The trigger to preview.
    #[schema(value_type = TriggerSpecDoc)]
    trigger: Value,
    /// How many fire times (default 10, at most 1000).
    #[schema(minimum = 1, maximum = 1000)]
    #[serde(default)]
    count: Option<usize>,
}

/// Preview a trigger
///
/// The first `count` fire times of a trigger specification, as `horae trigger preview`
/// prints them: RFC 3339 strings in the trigger's time zone, fewer if it ends.
#[utoipa::path(
    post,
    path = "/triggers/preview",
    tag = "schedules",
    request_body = TriggerPreview,
    responses(
        (status = 200, description = "The fire times.", body = Vec<String>),
        CommonErrors, BodyErrors,
    ),
)]
pub(crate) async fn preview_trigger(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<TriggerPreview>,
) -> Result<Json<Vec<String>>, ApiError> {
    let count = preview_count(body.count).map_err(|e| ApiError::validation(e.detail))?;
    let mut trigger = Trigger::from_json(&body.trigger, state.scheduler().now())?;
    Ok(Json(fire_times(&mut trigger, count)?))
}
