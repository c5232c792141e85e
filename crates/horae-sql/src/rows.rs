//! Rows to and from the model, for every SQL dialect: the column lists, the decoders
//! (through [`ReadRow`], implemented for each driver's row type) and the encoded job row.

use horae::error::StoreError;
use horae::model::{Job, JobResult, NodeInfo, Schedule, Task};
use serde::de::DeserializeOwned;
use serde_json::Value;
use sqlx::query_builder::Separated;
use sqlx::types::Json;
use sqlx::{Database, Encode, QueryBuilder, Row, Type};

use crate::codec::{self, driver_error, micros, micros_opt};
use crate::prefix::TablePrefix;

/// The task columns, in the order [`task`] reads them.
pub(crate) const TASK_COLUMNS: &str =
    "id, executor, max_running_jobs, misfire_grace_time_us, retry, timeout_us, metadata, action";

/// The schedule columns, in the order [`schedule`] reads them.
pub(crate) const SCHEDULE_COLUMNS: &str = "id, task_id, trigger_state, args, kwargs, paused, coalesce, \
     misfire_grace_time_us, max_jitter_us, job_result_expiration_time_us, metadata, \
     next_fire_time, last_fire_time, acquired_by, acquired_until";

/// The job columns, in the order [`job`] reads and [`EncodedJob`] writes them.
pub(crate) const JOB_COLUMNS: &str = "id, task_id, args, kwargs, schedule_id, scheduled_fire_time, \
     jitter_us, start_deadline, not_before, result_expiration_time_us, metadata, created_at, \
     attempt, started_at, acquired_by, acquired_until, lease_token";

/// The result columns, in the order [`result`] reads them.
pub(crate) const RESULT_COLUMNS: &str = "job_id, task_id, schedule_id, outcome, attempt, \
     started_at, finished_at, expires_at, error, return_value";

/// The node columns, in the order [`node`] reads them.
pub(crate) const NODE_COLUMNS: &str = "id, role, started_at, last_heartbeat, lease_duration_us, \
     max_concurrent_jobs, running_jobs, version";

/// Typed column access with the store's errors, for each driver's row type.
pub(crate) trait ReadRow {
    /// A text column.
    fn text(&self, column: &str) -> Result<String, StoreError>;
    /// A nullable text column.
    fn text_opt(&self, column: &str) -> Result<Option<String>, StoreError>;
    /// An integer column (`BIGINT`).
    fn int(&self, column: &str) -> Result<i64, StoreError>;
    /// A nullable integer column.
    fn int_opt(&self, column: &str) -> Result<Option<i64>, StoreError>;
    /// A boolean column.
    fn flag(&self, column: &str) -> Result<bool, StoreError>;
    /// A nullable JSON column.
    fn json_opt(&self, column: &str) -> Result<Option<Value>, StoreError>;

    /// A JSON column decoded as `T`.
    fn json<T: DeserializeOwned>(&self, column: &str) -> Result<T, StoreError> {
        let value = self
            .json_opt(column)?
            .ok_or_else(|| codec::corrupt(column, "is NULL".to_owned()))?;
        serde_json::from_value(value).map_err(|e| codec::corrupt(column, e.to_string()))
    }

    /// A text column parsed as `T` (ids, enum names).
    fn parsed<T>(&self, column: &str) -> Result<T, StoreError>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        codec::parse(column, &self.text(column)?)
    }
}

/// Implements [`ReadRow`] for a driver's row type.
macro_rules! read_row {
    ($row:ty) => {
        impl ReadRow for $row {
            fn text(&self, column: &str) -> Result<String, StoreError> {
                self.try_get(column).map_err(driver_error)
            }
            fn text_opt(&self, column: &str) -> Result<Option<String>, StoreError> {
                self.try_get(column).map_err(driver_error)
            }
            fn int(&self, column: &str) -> Result<i64, StoreError> {
                self.try_get(column).map_err(driver_error)
            }
            fn int_opt(&self, column: &str) -> Result<Option<i64>, StoreError> {
                self.try_get(column).map_err(driver_error)
            }
            fn flag(&self, column: &str) -> Result<bool, StoreError> {
                self.try_get(column).map_err(driver_error)
            }
            fn json_opt(&self, column: &str) -> Result<Option<Value>, StoreError> {
                let value: Option<Json<Value>> = self.try_get(column).map_err(driver_error)?;
                Ok(value.map(|Json(value)| value))
            }
        }
    };
}

read_row!(sqlx::sqlite::SqliteRow);
read_row!(sqlx::postgres::PgRow);
read_row!(sqlx::mysql::MySqlRow);

/// Decodes a task row.
pub(crate) fn task(row: &impl ReadRow) -> Result<Task, StoreError> {
    let max_running_jobs = row.int_opt("max_running_jobs")?;
    Ok(Task {
        id: row.parsed("id")?,
        executor: row.parsed("executor")?,
        max_running_jobs: max_running_jobs
            .map(|n| codec::unsigned("max_running_jobs", n))
            .transpose()?,
        misfire_grace_time: duration_opt(row, "misfire_grace_time_us")?,
        retry: row
            .json_opt("retry")?
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| codec::corrupt("retry", e.to_string()))?,
        timeout: duration_opt(row, "timeout_us")?,
        metadata: row.json("metadata")?,
        action: row
            .json_opt("action")?
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| codec::corrupt("action", e.to_string()))?,
    })
}

/// Decodes a schedule row.
pub(crate) fn schedule(row: &impl ReadRow) -> Result<Schedule, StoreError> {
    Ok(Schedule {
        id: row.parsed("id")?,
        task_id: row.parsed("task_id")?,
        trigger: row.json("trigger_state")?,
        args: row.json("args")?,
        kwargs: row.json("kwargs")?,
        paused: row.flag("paused")?,
        coalesce: row.parsed("coalesce")?,
        misfire_grace_time: duration_opt(row, "misfire_grace_time_us")?,
        max_jitter: duration_opt(row, "max_jitter_us")?,
        job_result_expiration_time: duration(row, "job_result_expiration_time_us")?,
        metadata: row.json("metadata")?,
        next_fire_time: timestamp_opt(row, "next_fire_time")?,
        last_fire_time: timestamp_opt(row, "last_fire_time")?,
        acquired_by: row.text_opt("acquired_by")?,
        acquired_until: timestamp_opt(row, "acquired_until")?,
    })
}

/// Decodes job rows that carry `ready_at` and `seq` as well, in hand-out order (oldest
/// ready first): acquisition statements return their rows in no particular order.
pub(crate) fn jobs_in_queue_order<R: ReadRow>(rows: &[R]) -> Result<Vec<Job>, StoreError> {
    let mut jobs = rows
        .iter()
        .map(|row| Ok(((row.int("ready_at")?, row.int("seq")?), job(row)?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    jobs.sort_by_key(|(order, _)| *order);
    Ok(jobs.into_iter().map(|(_, job)| job).collect())
}

/// Decodes a job row.
pub(crate) fn job(row: &impl ReadRow) -> Result<Job, StoreError> {
    let token = row.int("lease_token")?;
    Ok(Job {
        id: row.parsed("id")?,
        task_id: row.parsed("task_id")?,
        args: row.json("args")?,
        kwargs: row.json("kwargs")?,
        schedule_id: parsed_opt(row, "schedule_id")?,
        scheduled_fire_time: timestamp_opt(row, "scheduled_fire_time")?,
        jitter: duration(row, "jitter_us")?,
        start_deadline: timestamp_opt(row, "start_deadline")?,
        not_before: timestamp_opt(row, "not_before")?,
        result_expiration_time: duration(row, "result_expiration_time_us")?,
        metadata: row.json("metadata")?,
        created_at: codec::timestamp("created_at", row.int("created_at")?)?,
        attempt: codec::unsigned("attempt", row.int("attempt")?)?,
        started_at: timestamp_opt(row, "started_at")?,
        acquired_by: row.text_opt("acquired_by")?,
        acquired_until: timestamp_opt(row, "acquired_until")?,
        lease_token: u64::try_from(token)
            .map_err(|_| codec::corrupt("lease_token", format!("{token} is negative")))?,
    })
}

/// Decodes a result row.
pub(crate) fn result(row: &impl ReadRow) -> Result<JobResult, StoreError> {
    Ok(JobResult {
        job_id: row.parsed("job_id")?,
        task_id: row.parsed("task_id")?,
        schedule_id: parsed_opt(row, "schedule_id")?,
        outcome: row.parsed("outcome")?,
        attempt: codec::unsigned("attempt", row.int("attempt")?)?,
        started_at: timestamp_opt(row, "started_at")?,
        finished_at: codec::timestamp("finished_at", row.int("finished_at")?)?,
        expires_at: codec::timestamp("expires_at", row.int("expires_at")?)?,
        error: row.text_opt("error")?,
        return_value: row.json_opt("return_value")?,
    })
}

/// Decodes a node row.
pub(crate) fn node(row: &impl ReadRow) -> Result<NodeInfo, StoreError> {
    Ok(NodeInfo {
        id: row.text("id")?,
        role: row.parsed("role")?,
        started_at: codec::timestamp("started_at", row.int("started_at")?)?,
        last_heartbeat: codec::timestamp("last_heartbeat", row.int("last_heartbeat")?)?,
        lease_duration: duration(row, "lease_duration_us")?,
        max_concurrent_jobs: codec::unsigned(
            "max_concurrent_jobs",
            row.int("max_concurrent_jobs")?,
        )?,
        running_jobs: codec::unsigned("running_jobs", row.int("running_jobs")?)?,
        version: row.text("version")?,
    })
}

fn timestamp_opt(row: &impl ReadRow, column: &str) -> Result<Option<jiff::Timestamp>, StoreError> {
    codec::timestamp_opt(column, row.int_opt(column)?)
}

fn duration(row: &impl ReadRow, column: &str) -> Result<std::time::Duration, StoreError> {
    codec::duration(column, row.int(column)?)
}

fn duration_opt(
    row: &impl ReadRow,
    column: &str,
) -> Result<Option<std::time::Duration>, StoreError> {
    codec::duration_opt(column, row.int_opt(column)?)
}

fn parsed_opt<T>(row: &impl ReadRow, column: &str) -> Result<Option<T>, StoreError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    row.text_opt(column)?
        .map(|text| codec::parse(column, &text))
        .transpose()
}

/// A job's column values, encoded once so a multi-row insert can bind them.
pub(crate) struct EncodedJob {
    id: String,
    task_id: String,
    args: Json<Value>,
    kwargs: Json<Value>,
    schedule_id: Option<String>,
    scheduled_fire_time: Option<i64>,
    jitter_us: i64,
    start_deadline: Option<i64>,
    not_before: Option<i64>,
    result_expiration_time_us: i64,
    metadata: Json<Value>,
    created_at: i64,
    attempt: i64,
    started_at: Option<i64>,
    acquired_by: Option<String>,
    acquired_until: Option<i64>,
    lease_token: i64,
    ready_at: i64,
}

impl EncodedJob {
    pub(crate) fn new(job: &Job) -> Result<EncodedJob, StoreError> {
        let ready_at = job
            .not_before
            .map_or(job.created_at, |at| at.max(job.created_at));
        Ok(EncodedJob {
            id: job.id.to_string(),
            task_id: job.task_id.to_string(),
            args: Json(Value::Array(job.args.clone())),
            kwargs: Json(Value::Object(job.kwargs.clone())),
            schedule_id: job.schedule_id.as_ref().map(ToString::to_string),
            scheduled_fire_time: micros_opt(job.scheduled_fire_time),
            jitter_us: codec::duration_micros(job.jitter),
            start_deadline: micros_opt(job.start_deadline),
            not_before: micros_opt(job.not_before),
            result_expiration_time_us: codec::duration_micros(job.result_expiration_time),
            metadata: Json(Value::Object(job.metadata.clone())),
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
    pub(crate) fn bind_all<DB>(&self, row: &mut Separated<'_, DB, &'static str>)
    where
        DB: Database,
        for<'a> String: Encode<'a, DB> + Type<DB>,
        for<'a> Option<String>: Encode<'a, DB> + Type<DB>,
        for<'a> i64: Encode<'a, DB> + Type<DB>,
        for<'a> Option<i64>: Encode<'a, DB> + Type<DB>,
        for<'a> Json<Value>: Encode<'a, DB> + Type<DB>,
    {
        row.push_bind(self.id.clone())
            .push_bind(self.task_id.clone())
            .push_bind(self.args.clone())
            .push_bind(self.kwargs.clone())
            .push_bind(self.schedule_id.clone())
            .push_bind(self.scheduled_fire_time)
            .push_bind(self.jitter_us)
            .push_bind(self.start_deadline)
            .push_bind(self.not_before)
            .push_bind(self.result_expiration_time_us)
            .push_bind(self.metadata.clone())
            .push_bind(self.created_at)
            .push_bind(self.attempt)
            .push_bind(self.started_at)
            .push_bind(self.acquired_by.clone())
            .push_bind(self.acquired_until)
            .push_bind(self.lease_token)
            .push_bind(self.ready_at);
    }
}

/// Jobs' column values as one array per column ([`JOB_COLUMNS`], then `ready_at`), for an
/// insert from `UNNEST` (PostgreSQL): one statement text whatever the number of rows.
#[derive(Default)]
pub(crate) struct JobArrays {
    pub(crate) id: Vec<String>,
    pub(crate) task_id: Vec<String>,
    pub(crate) args: Vec<Json<Value>>,
    pub(crate) kwargs: Vec<Json<Value>>,
    pub(crate) schedule_id: Vec<Option<String>>,
    pub(crate) scheduled_fire_time: Vec<Option<i64>>,
    pub(crate) jitter_us: Vec<i64>,
    pub(crate) start_deadline: Vec<Option<i64>>,
    pub(crate) not_before: Vec<Option<i64>>,
    pub(crate) result_expiration_time_us: Vec<i64>,
    pub(crate) metadata: Vec<Json<Value>>,
    pub(crate) created_at: Vec<i64>,
    pub(crate) attempt: Vec<i64>,
    pub(crate) started_at: Vec<Option<i64>>,
    pub(crate) acquired_by: Vec<Option<String>>,
    pub(crate) acquired_until: Vec<Option<i64>>,
    pub(crate) lease_token: Vec<i64>,
    pub(crate) ready_at: Vec<i64>,
}

impl JobArrays {
    /// Appends one job's values.
    pub(crate) fn push(&mut self, job: EncodedJob) {
        self.id.push(job.id);
        self.task_id.push(job.task_id);
        self.args.push(job.args);
        self.kwargs.push(job.kwargs);
        self.schedule_id.push(job.schedule_id);
        self.scheduled_fire_time.push(job.scheduled_fire_time);
        self.jitter_us.push(job.jitter_us);
        self.start_deadline.push(job.start_deadline);
        self.not_before.push(job.not_before);
        self.result_expiration_time_us
            .push(job.result_expiration_time_us);
        self.metadata.push(job.metadata);
        self.created_at.push(job.created_at);
        self.attempt.push(job.attempt);
        self.started_at.push(job.started_at);
        self.acquired_by.push(job.acquired_by);
        self.acquired_until.push(job.acquired_until);
        self.lease_token.push(job.lease_token);
        self.ready_at.push(job.ready_at);
    }
}

/// The multi-row `REPLACE INTO`s (SQLite and MySQL syntax) that store the `results` asking
/// to be kept, each row replacing an older result of the same job: one statement per
/// `rows_per_statement` results (each binds 10 values), none when nothing is kept.
pub(crate) fn replace_results<DB>(
    prefix: &TablePrefix,
    results: &[&JobResult],
    rows_per_statement: usize,
) -> Vec<QueryBuilder<DB>>
where
    DB: Database,
    DB::Arguments: Default,
    for<'a> &'a str: Encode<'a, DB> + Type<DB>,
    for<'a> Option<&'a str>: Encode<'a, DB> + Type<DB>,
    for<'a> String: Encode<'a, DB> + Type<DB>,
    for<'a> i64: Encode<'a, DB> + Type<DB>,
    for<'a> Option<i64>: Encode<'a, DB> + Type<DB>,
    for<'a> Option<Json<&'a Value>>: Encode<'a, DB> + Type<DB>,
{
    let kept: Vec<&JobResult> = results
        .iter()
        .copied()
        .filter(|r| r.should_store())
        .collect();
    let head = prefix.apply(&format!("REPLACE INTO {{p}}results ({RESULT_COLUMNS}) "));
    kept.chunks(rows_per_statement.max(1))
        .map(|chunk| {
            let mut replace = QueryBuilder::new(head.as_str());
            replace.push_values(chunk, |mut row, result| {
                row.push_bind(result.job_id.to_string())
                    .push_bind(result.task_id.as_str())
                    .push_bind(result.schedule_id.as_ref().map(|id| id.as_str()))
                    .push_bind(result.outcome.as_str())
                    .push_bind(i64::from(result.attempt))
                    .push_bind(micros_opt(result.started_at))
                    .push_bind(micros(result.finished_at))
                    .push_bind(micros(result.expires_at))
                    .push_bind(result.error.as_deref())
                    .push_bind(result.return_value.as_ref().map(Json));
            });
            replace
        })
        .collect()
}

/// The statement that writes a node record: `{verb} INTO {p}nodes (...) VALUES (...)
/// {tail}`, where `verb` and `tail` make it the dialect's single-statement upsert
/// (`REPLACE` with no tail, or `INSERT` with an `ON CONFLICT` clause).
pub(crate) fn upsert_node<DB>(
    prefix: &TablePrefix,
    verb: &str,
    node: &NodeInfo,
    tail: &str,
) -> QueryBuilder<DB>
where
    DB: Database,
    DB::Arguments: Default,
    for<'a> &'a str: Encode<'a, DB> + Type<DB>,
    for<'a> i64: Encode<'a, DB> + Type<DB>,
{
    let mut upsert =
        QueryBuilder::new(prefix.apply(&format!("{verb} INTO {{p}}nodes ({NODE_COLUMNS}) ")));
    upsert.push_values([node], |mut row, node| {
        row.push_bind(node.id.as_str())
            .push_bind(node.role.as_str())
            .push_bind(micros(node.started_at))
            .push_bind(micros(node.last_heartbeat))
            .push_bind(codec::duration_micros(node.lease_duration))
            .push_bind(i64::from(node.max_concurrent_jobs))
            .push_bind(i64::from(node.running_jobs))
            .push_bind(node.version.as_str());
    });
    upsert.push(" ");
    upsert.push(prefix.apply(tail));
    upsert
}
