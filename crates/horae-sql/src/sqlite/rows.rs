//! Rows of the SQLite tables to and from the model.

use horae::error::StoreError;
use horae::model::{Job, JobResult, Schedule, Task};
use sqlx::query_builder::Separated;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite};

use crate::codec::{self, driver_error, micros, micros_opt};

/// The task columns, in the order [`task`] reads them.
pub(super) const TASK_COLUMNS: &str =
    "id, executor, max_running_jobs, misfire_grace_time_us, retry, timeout_us, metadata";

/// The schedule columns, in the order [`schedule`] reads them.
pub(super) const SCHEDULE_COLUMNS: &str = "id, task_id, trigger, args, kwargs, paused, coalesce, \
     misfire_grace_time_us, max_jitter_us, job_result_expiration_time_us, metadata, \
     next_fire_time, last_fire_time, acquired_by, acquired_until";

/// The job columns, in the order [`job`] reads and [`EncodedJob`] writes them.
pub(super) const JOB_COLUMNS: &str = "id, task_id, args, kwargs, schedule_id, scheduled_fire_time, \
     jitter_us, start_deadline, not_before, result_expiration_time_us, metadata, created_at, \
     attempt, started_at, acquired_by, acquired_until, lease_token";

/// The result columns, in the order [`result`] reads them.
pub(super) const RESULT_COLUMNS: &str = "job_id, task_id, schedule_id, outcome, attempt, \
     started_at, finished_at, expires_at, error, return_value";

fn get<'r, T>(row: &'r SqliteRow, column: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>,
{
    row.try_get(column).map_err(driver_error)
}

fn text(row: &SqliteRow, column: &str) -> Result<String, StoreError> {
    get(row, column)
}

/// Decodes a task row.
pub(super) fn task(row: &SqliteRow) -> Result<Task, StoreError> {
    let retry: Option<String> = get(row, "retry")?;
    let max_running_jobs: Option<i64> = get(row, "max_running_jobs")?;
    Ok(Task {
        id: codec::parse("id", &text(row, "id")?)?,
        executor: codec::parse("executor", &text(row, "executor")?)?,
        max_running_jobs: max_running_jobs
            .map(|n| codec::unsigned("max_running_jobs", n))
            .transpose()?,
        misfire_grace_time: codec::duration_opt(
            "misfire_grace_time_us",
            get(row, "misfire_grace_time_us")?,
        )?,
        retry: retry
            .map(|json| codec::from_json("retry", &json))
            .transpose()?,
        timeout: codec::duration_opt("timeout_us", get(row, "timeout_us")?)?,
        metadata: codec::from_json("metadata", &text(row, "metadata")?)?,
    })
}

/// Decodes a schedule row.
pub(super) fn schedule(row: &SqliteRow) -> Result<Schedule, StoreError> {
    Ok(Schedule {
        id: codec::parse("id", &text(row, "id")?)?,
        task_id: codec::parse("task_id", &text(row, "task_id")?)?,
        trigger: codec::from_json("trigger", &text(row, "trigger")?)?,
        args: codec::from_json("args", &text(row, "args")?)?,
        kwargs: codec::from_json("kwargs", &text(row, "kwargs")?)?,
        paused: get(row, "paused")?,
        coalesce: codec::parse("coalesce", &text(row, "coalesce")?)?,
        misfire_grace_time: codec::duration_opt(
            "misfire_grace_time_us",
            get(row, "misfire_grace_time_us")?,
        )?,
        max_jitter: codec::duration_opt("max_jitter_us", get(row, "max_jitter_us")?)?,
        job_result_expiration_time: codec::duration(
            "job_result_expiration_time_us",
            get(row, "job_result_expiration_time_us")?,
        )?,
        metadata: codec::from_json("metadata", &text(row, "metadata")?)?,
        next_fire_time: codec::timestamp_opt("next_fire_time", get(row, "next_fire_time")?)?,
        last_fire_time: codec::timestamp_opt("last_fire_time", get(row, "last_fire_time")?)?,
        acquired_by: get(row, "acquired_by")?,
        acquired_until: codec::timestamp_opt("acquired_until", get(row, "acquired_until")?)?,
    })
}

/// Decodes a job row.
pub(super) fn job(row: &SqliteRow) -> Result<Job, StoreError> {
    let schedule_id: Option<String> = get(row, "schedule_id")?;
    let token: i64 = get(row, "lease_token")?;
    Ok(Job {
        id: codec::parse("id", &text(row, "id")?)?,
        task_id: codec::parse("task_id", &text(row, "task_id")?)?,
        args: codec::from_json("args", &text(row, "args")?)?,
        kwargs: codec::from_json("kwargs", &text(row, "kwargs")?)?,
        schedule_id: schedule_id
            .map(|id| codec::parse("schedule_id", &id))
            .transpose()?,
        scheduled_fire_time: codec::timestamp_opt(
            "scheduled_fire_time",
            get(row, "scheduled_fire_time")?,
        )?,
        jitter: codec::duration("jitter_us", get(row, "jitter_us")?)?,
        start_deadline: codec::timestamp_opt("start_deadline", get(row, "start_deadline")?)?,
        not_before: codec::timestamp_opt("not_before", get(row, "not_before")?)?,
        result_expiration_time: codec::duration(
            "result_expiration_time_us",
            get(row, "result_expiration_time_us")?,
        )?,
        metadata: codec::from_json("metadata", &text(row, "metadata")?)?,
        created_at: codec::timestamp("created_at", get(row, "created_at")?)?,
        attempt: codec::unsigned("attempt", get(row, "attempt")?)?,
        started_at: codec::timestamp_opt("started_at", get(row, "started_at")?)?,
        acquired_by: get(row, "acquired_by")?,
        acquired_until: codec::timestamp_opt("acquired_until", get(row, "acquired_until")?)?,
        lease_token: u64::try_from(token)
            .map_err(|_| codec::corrupt("lease_token", format!("{token} is negative")))?,
    })
}

/// Decodes a result row.
pub(super) fn result(row: &SqliteRow) -> Result<JobResult, StoreError> {
    let schedule_id: Option<String> = get(row, "schedule_id")?;
    let return_value: Option<String> = get(row, "return_value")?;
    Ok(JobResult {
        job_id: codec::parse("job_id", &text(row, "job_id")?)?,
        task_id: codec::parse("task_id", &text(row, "task_id")?)?,
        schedule_id: schedule_id
            .map(|id| codec::parse("schedule_id", &id))
            .transpose()?,
        outcome: codec::parse("outcome", &text(row, "outcome")?)?,
        attempt: codec::unsigned("attempt", get(row, "attempt")?)?,
        started_at: codec::timestamp_opt("started_at", get(row, "started_at")?)?,
        finished_at: codec::timestamp("finished_at", get(row, "finished_at")?)?,
        expires_at: codec::timestamp("expires_at", get(row, "expires_at")?)?,
        error: get(row, "error")?,
        return_value: return_value
            .map(|json| codec::from_json("return_value", &json))
            .transpose()?,
    })
}

/// A job's column values, encoded once so a multi-row insert can bind them.
pub(super) struct EncodedJob {
    id: String,
    task_id: String,
    args: String,
    kwargs: String,
    schedule_id: Option<String>,
    scheduled_fire_time: Option<i64>,
    jitter_us: i64,
    start_deadline: Option<i64>,
    not_before: Option<i64>,
    result_expiration_time_us: i64,
    metadata: String,
    created_at: i64,
    attempt: i64,
    started_at: Option<i64>,
    acquired_by: Option<String>,
    acquired_until: Option<i64>,
    lease_token: i64,
    ready_at: i64,
}

impl EncodedJob {
    pub(super) fn new(job: &Job) -> Result<EncodedJob, StoreError> {
        let ready_at = job
            .not_before
            .map_or(job.created_at, |at| at.max(job.created_at));
        Ok(EncodedJob {
            id: job.id.to_string(),
            task_id: job.task_id.to_string(),
            args: codec::json(&job.args)?,
            kwargs: codec::json(&job.kwargs)?,
            schedule_id: job.schedule_id.as_ref().map(ToString::to_string),
            scheduled_fire_time: micros_opt(job.scheduled_fire_time),
            jitter_us: codec::duration_micros(job.jitter),
            start_deadline: micros_opt(job.start_deadline),
            not_before: micros_opt(job.not_before),
            result_expiration_time_us: codec::duration_micros(job.result_expiration_time),
            metadata: codec::json(&job.metadata)?,
            created_at: micros(job.created_at),
            attempt: i64::from(job.attempt),
            started_at: micros_opt(job.started_at),
            acquired_by: job.acquired_by.clone(),
            acquired_until: micros_opt(job.acquired_until),
            lease_token: codec::token(job.lease_token),
            ready_at: micros(ready_at),
        })
    }

    /// Binds the [`JOB_COLUMNS`] values, then `ready_at`.
    pub(super) fn bind_all(&self, row: &mut Separated<'_, Sqlite, &'static str>) {
        row.push_bind(self.id.as_str())
            .push_bind(self.task_id.as_str())
            .push_bind(self.args.as_str())
            .push_bind(self.kwargs.as_str())
            .push_bind(self.schedule_id.as_deref())
            .push_bind(self.scheduled_fire_time)
            .push_bind(self.jitter_us)
            .push_bind(self.start_deadline)
            .push_bind(self.not_before)
            .push_bind(self.result_expiration_time_us)
            .push_bind(self.metadata.as_str())
            .push_bind(self.created_at)
            .push_bind(self.attempt)
            .push_bind(self.started_at)
            .push_bind(self.acquired_by.as_deref())
            .push_bind(self.acquired_until)
            .push_bind(self.lease_token)
            .push_bind(self.ready_at);
    }
}
