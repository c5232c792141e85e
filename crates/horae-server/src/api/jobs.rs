//! `/api/v1/jobs`, `/api/v1/results` and `/api/v1/nodes`.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use horae::duration::serde_human;
use horae::error::{ObjectKind, StoreError};
use horae::model::{Job, JobId, JobResult, NodeInfo, TaskId};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, BodyErrors, CommonErrors, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::schema::{DurationDoc, JobDoc, JobIdDoc, JobResultDoc, NodeDoc, TaskIdDoc};
use crate::state::AppState;

/// The largest `limit` of the list operations.
pub(crate) const MAX_LIMIT: usize = 1000;

/// The default `limit` of the list operations.
const DEFAULT_LIMIT: usize = 100;

/// How long the results of jobs added over the API are kept unless the request says.
const DEFAULT_RESULT_EXPIRATION: Duration = Duration::from_secs(15 * 60);

/// Query with a `limit`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct LimitQuery {
    /// The most items returned (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    #[serde(default)]
    limit: Option<usize>,
}

impl LimitQuery {
    fn limit(&self) -> Result<usize, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(n) => Err(ApiError::bad_request(format!(
                "limit must be between 1 and {MAX_LIMIT}, got {n}"
            ))),
        }
    }
}

fn parse_job_id(id: &str) -> Result<JobId, ApiError> {
    id.parse::<JobId>().map_err(|e| ApiError::invalid_id(&e))
}

/// List jobs
///
/// Queued and running jobs (finished ones leave the store), oldest first, up to `limit`.
#[utoipa::path(
    get,
    path = "/jobs",
    tag = "jobs",
    params(LimitQuery),
    responses((status = 200, description = "The jobs.", body = Vec<JobDoc>), CommonErrors),
)]
pub(crate) async fn list_jobs(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<LimitQuery>,
) -> Result<Json<Vec<Job>>, ApiError> {
    let limit = query.limit()?;
    let mut jobs = state.scheduler().store().get_jobs().await?;
    jobs.truncate(limit);
    Ok(Json(jobs))
}

/// A new ad-hoc job.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct JobCreate {
    /// The task to run (must exist).
    #[schema(value_type = TaskIdDoc)]
    task_id: TaskId,
    /// Positional arguments.
    #[serde(default)]
    args: Vec<Value>,
    /// Keyword arguments.
    #[serde(default)]
    kwargs: Map<String, Value>,
    /// Free-form JSON object for the user.
    #[serde(default)]
    metadata: Map<String, Value>,
    /// How long the result is kept (default "15m"; "0s": not kept).
    #[schema(value_type = DurationDoc)]
    #[serde(default = "default_expiration", with = "serde_human")]
    result_expiration_time: Duration,
}

fn default_expiration() -> Duration {
    DEFAULT_RESULT_EXPIRATION
}

/// Add a job
///
/// Queues a job of an existing task; the response is the job (with its `id`).
#[utoipa::path(
    post,
    path = "/jobs",
    tag = "jobs",
    request_body = JobCreate,
    responses(
        (status = 201, description = "The job was queued.", body = JobDoc),
        (status = 404, description = "The task does not exist.", body = ErrorBody),
        CommonErrors, BodyErrors,
    ),
)]
pub(crate) async fn create_job(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<JobCreate>,
) -> Result<(StatusCode, Json<Job>), ApiError> {
    let scheduler = state.scheduler();
    if scheduler.store().get_task(&body.task_id).await?.is_none() {
        return Err(StoreError::NotFound {
            kind: ObjectKind::Task,
            id: body.task_id.to_string(),
        }
        .into());
    }
    let mut job = scheduler.new_job(&body.task_id, body.args);
    job.kwargs = body.kwargs;
    job.metadata = body.metadata;
    job.result_expiration_time = body.result_expiration_time;
    job.validate()?;
    scheduler.add_job(job.clone()).await?;
    Ok((StatusCode::CREATED, Json(job)))
}

/// Get a job
///
/// A queued or running job; finished jobs leave the store (see `/results/{job_id}`).
#[utoipa::path(
    get,
    path = "/jobs/{id}",
    tag = "jobs",
    params(("id" = JobIdDoc, Path, description = "The job's id.")),
    responses(
        (status = 200, description = "The job.", body = JobDoc),
        (status = 404, description = "No such job (or it has finished).", body = ErrorBody),
        CommonErrors,
    ),
)]
pub(crate) async fn get_job(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Job>, ApiError> {
    let id = parse_job_id(&id)?;
    match state.scheduler().store().get_job(&id).await? {
        Some(job) => Ok(Json(job)),
        None => Err(StoreError::NotFound {
            kind: ObjectKind::Job,
            id: id.to_string(),
        }
        .into()),
    }
}

/// List results
///
/// Stored results, the most recently finished first, up to `limit`.
#[utoipa::path(
    get,
    path = "/results",
    tag = "jobs",
    params(LimitQuery),
    responses((status = 200, description = "The results.", body = Vec<JobResultDoc>), CommonErrors),
)]
pub(crate) async fn list_results(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<LimitQuery>,
) -> Result<Json<Vec<JobResult>>, ApiError> {
    let limit = query.limit()?;
    Ok(Json(
        state.scheduler().store().get_job_results(limit).await?,
    ))
}

/// Query of `GET /results/{job_id}`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ResultQuery {
    /// Wait until a queued or running job finishes (default false).
    #[serde(default)]
    wait: Option<bool>,
    /// With `wait`: the most seconds to wait (default 30, at most the server's limit of
    /// 60 by default).
    #[param(minimum = 0, maximum = 3600)]
    #[serde(default)]
    timeout: Option<f64>,
}

/// Get a job's result
///
/// The stored result of a job. Without a stored result: 404, whose detail tells whether the
/// job is still queued or running. With `wait=true` the request waits up to `timeout`
/// seconds for the job to finish.
#[utoipa::path(
    get,
    path = "/results/{job_id}",
    tag = "jobs",
    params(("job_id" = JobIdDoc, Path, description = "The job's id."), ResultQuery),
    responses(
        (status = 200, description = "The result.", body = JobResultDoc),
        (status = 404, description = "No stored result (yet).", body = ErrorBody),
        CommonErrors,
    ),
)]
pub(crate) async fn get_result(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<ResultQuery>,
) -> Result<Json<JobResult>, ApiError> {
    let id = parse_job_id(&id)?;
    let timeout = match query.timeout {
        None => Duration::from_secs(30),
        Some(secs) if secs.is_finite() && (0.0..=3600.0).contains(&secs) => {
            Duration::from_secs_f64(secs)
        }
        Some(secs) => {
            return Err(ApiError::bad_request(format!(
                "timeout must be between 0 and 3600 seconds, got {secs}"
            )));
        }
    }
    .min(state.result_wait_limit());
    let scheduler = state.scheduler();
    let found = if query.wait.unwrap_or(false) {
        match tokio::time::timeout(timeout, scheduler.get_job_result(&id, true)).await {
            Ok(found) => found?,
            Err(_elapsed) => None,
        }
    } else {
        scheduler.get_job_result(&id, false).await?
    };
    if let Some(result) = found {
        return Ok(Json(result));
    }
    let pending = scheduler.store().get_job(&id).await?.is_some();
    Err(ApiError::not_found(if pending {
        format!("job '{id}' has not finished yet")
    } else {
        format!("no result stored for job '{id}' (unknown job, result not kept, or expired)")
    }))
}

/// A node with its liveness.
#[derive(Debug, Serialize)]
pub(crate) struct NodeStatus {
    #[serde(flatten)]
    node: NodeInfo,
    alive: bool,
}

/// List nodes
///
/// Every node that shares the store, as it last reported itself, sorted by id.
#[utoipa::path(
    get,
    path = "/nodes",
    tag = "nodes",
    responses((status = 200, description = "The nodes.", body = Vec<NodeDoc>), CommonErrors),
)]
pub(crate) async fn list_nodes(
    State(state): State<AppState>,
) -> Result<Json<Vec<NodeStatus>>, ApiError> {
    let now = state.scheduler().now();
    let nodes = state.scheduler().store().get_nodes().await?;
    Ok(Json(
        nodes
            .into_iter()
            .map(|node| NodeStatus {
                alive: node.is_alive(now),
                node,
            })
            .collect(),
    ))
}
