//! The SQLite store: the embedded default, one file (WAL mode) or `:memory:`.
//!
//! Every operation that reads and then writes runs in a `BEGIN IMMEDIATE` transaction,
//! which takes SQLite's write lock up front: acquisitions are atomic across connections and
//! processes sharing the file (DESIGN.md invariant 1), and releases are fenced by node and
//! lease token in the same statement that changes the row (invariant 3).

mod jobs;
mod schema;

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::time::Duration;

use horae::clock::BoxFuture;
use horae::error::{ObjectKind, StoreError};
use horae::model::{
    ConflictPolicy, Job, JobId, JobResult, NodeInfo, Schedule, ScheduleId, Task, TaskId,
};
use horae::store::{
    AddScheduleOutcome, CleanupReport, DataStore, JobBatch, JobRelease, JobReleaseRequest, Reaped,
    ScheduleRelease, ScheduleReleaseReport, StoreResult, reaped_retry_delay,
};
use horae::trigger::Trigger;
use jiff::Timestamp;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, QueryBuilder, Row, Sqlite, SqliteConnection};

use crate::codec::{self, driver_error, micros, micros_opt};
use crate::common::{abandoned, add, dead_node_bound, lease_lost, not_found, requeue_assignments};
use crate::lookup::{Lookups, NodeRecords};
use crate::prefix::TablePrefix;
use crate::rows::{self, JOB_COLUMNS, SCHEDULE_COLUMNS, TASK_COLUMNS};

/// How a [`SqliteStore`] connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteOptions {
    /// The table prefix (default `horae_`).
    pub prefix: TablePrefix,
    /// How long a statement waits for another connection's write lock before failing with
    /// a transient error (default 5 s).
    pub busy_timeout: Duration,
    /// Connections in the pool (default 1: SQLite has one writer at a time anyway; an
    /// in-memory database always uses exactly one).
    pub max_connections: u32,
}

impl Default for SqliteOptions {
    fn default() -> SqliteOptions {
        SqliteOptions {
            prefix: TablePrefix::default(),
            busy_timeout: Duration::from_secs(5),
            max_connections: 1,
        }
    }
}

/// A data store in an SQLite database.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    prefix: TablePrefix,
}

/// The most rows one multi-row `INSERT` carries (SQLite allows 32,766 bound values).
const ROWS_PER_INSERT: usize = 500;

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` — `sqlite://path/to/horae.db`,
    /// `sqlite:horae.db` or `sqlite::memory:` — and brings its schema up to date.
    ///
    /// # Errors
    ///
    /// [`StoreError::Invalid`] for a malformed URL or a schema newer than this version of
    /// horae; [`StoreError::Unavailable`] when the file cannot be opened.
    pub async fn connect(url: &str) -> StoreResult<SqliteStore> {
        SqliteStore::connect_with(url, SqliteOptions::default()).await
    }

    /// [`SqliteStore::connect`] with explicit options.
    ///
    /// # Errors
    ///
    /// As [`SqliteStore::connect`].
    pub async fn connect_with(url: &str, options: SqliteOptions) -> StoreResult<SqliteStore> {
        if !url.starts_with("sqlite:") {
            return Err(StoreError::Invalid(format!(
                "SQLite URL {url:?} must start with sqlite: (sqlite://path/to/horae.db or sqlite::memory:)"
            )));
        }
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let mut connect = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Invalid(format!("SQLite URL {url:?}: {e}")))?
            .create_if_missing(true)
            .busy_timeout(options.busy_timeout);
        if !in_memory {
            connect = connect
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal);
        }
        let mut pool = SqlitePoolOptions::new().max_connections(options.max_connections.max(1));
        if in_memory {
            // Each connection to `:memory:` is its own database: keep exactly one, forever.
            pool = pool
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        }
        let pool = pool.connect_with(connect).await.map_err(|e| {
            let error = driver_error(e);
            StoreError::Unavailable(format!("cannot open SQLite database {url:?}: {error}"))
        })?;
        let store = SqliteStore {
            pool,
            prefix: options.prefix,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies the migrations the database lacks; returns the schema version now in place.
    /// Safe to run from several processes at once.
    ///
    /// # Errors
    ///
    /// [`StoreError::Invalid`] when the database's schema is newer than this horae knows.
    pub async fn migrate(&self) -> StoreResult<u32> {
        let mut tx = self.begin().await?;
        sqlx::raw_sql(
            self.sql("CREATE TABLE IF NOT EXISTS {p}schema_version (version INTEGER NOT NULL)"),
        )
        .execute(&mut *tx)
        .await
        .map_err(driver_error)?;
        let current: Option<i64> =
            sqlx::query_scalar(self.sql("SELECT MAX(version) FROM {p}schema_version"))
                .fetch_one(&mut *tx)
                .await
                .map_err(driver_error)?;
        let current = usize::try_from(current.unwrap_or(0)).unwrap_or(usize::MAX);
        let known = schema::MIGRATIONS.len();
        if current > known {
            return Err(StoreError::Invalid(format!(
                "the database schema is at version {current}, newer than this horae knows ({known}); upgrade horae"
            )));
        }
        for (index, migration) in schema::MIGRATIONS.iter().enumerate().skip(current) {
            sqlx::raw_sql(self.sql(migration))
                .execute(&mut *tx)
                .await
                .map_err(driver_error)?;
            sqlx::query(self.sql("INSERT INTO {p}schema_version (version) VALUES (?)"))
                .bind(index as i64 + 1)
                .execute(&mut *tx)
                .await
                .map_err(driver_error)?;
            tracing::info!(version = index + 1, prefix = %self.prefix, "applied SQLite migration");
        }
        tx.commit().await.map_err(driver_error)?;
        Ok(known as u32)
    }

    /// The connection pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    fn sql(&self, template: &str) -> AssertSqlSafe<String> {
        AssertSqlSafe(self.prefix.apply(template))
    }

    /// A write transaction holding SQLite's write lock from its first statement.
    async fn begin(&self) -> StoreResult<sqlx::Transaction<'static, Sqlite>> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(driver_error)
    }

    async fn fetch_job(&self, conn: &mut SqliteConnection, id: &JobId) -> StoreResult<Option<Job>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM {{p}}jobs WHERE id = ?");
        let row = sqlx::query(self.sql(&sql))
            .bind(id.to_string())
            .fetch_optional(conn)
            .await
            .map_err(driver_error)?;
        row.as_ref().map(rows::job).transpose()
    }

    async fn fetch_task(
        &self,
        conn: &mut SqliteConnection,
        id: &TaskId,
    ) -> StoreResult<Option<Task>> {
        let sql = format!("SELECT {TASK_COLUMNS} FROM {{p}}tasks WHERE id = ?");
        let row = sqlx::query(self.sql(&sql))
            .bind(id.as_str())
            .fetch_optional(conn)
            .await
            .map_err(driver_error)?;
        row.as_ref().map(rows::task).transpose()
    }

    async fn insert_schedule(&self, conn: &mut SqliteConnection, s: &Schedule) -> StoreResult<()> {
        let sql = format!(
            "INSERT INTO {{p}}schedules ({SCHEDULE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        );
        sqlx::query(self.sql(&sql))
            .bind(s.id.as_str())
            .bind(s.task_id.as_str())
            .bind(codec::json(&s.trigger)?)
            .bind(codec::json(&s.args)?)
            .bind(codec::json(&s.kwargs)?)
            .bind(s.paused)
            .bind(s.coalesce.as_str())
            .bind(codec::duration_micros_opt(s.misfire_grace_time))
            .bind(codec::duration_micros_opt(s.max_jitter))
            .bind(codec::duration_micros(s.job_result_expiration_time))
            .bind(codec::json(&s.metadata)?)
            .bind(micros_opt(s.next_fire_time))
            .bind(micros_opt(s.last_fire_time))
            .bind(s.acquired_by.as_deref())
            .bind(micros_opt(s.acquired_until))
            .execute(conn)
            .await
            .map_err(driver_error)?;
        Ok(())
    }

    /// Inserts jobs with multi-row statements, skipping any whose `(schedule, fire time)`
    /// already has a job; returns the ids inserted, in order.
    async fn insert_jobs(
        &self,
        conn: &mut SqliteConnection,
        jobs: &[Job],
    ) -> StoreResult<Vec<JobId>> {
        let mut inserted = Vec::with_capacity(jobs.len());
        for chunk in jobs.chunks(ROWS_PER_INSERT) {
            let encoded = chunk
                .iter()
                .map(rows::EncodedJob::new)
                .collect::<StoreResult<Vec<_>>>()?;
            let mut insert = QueryBuilder::<Sqlite>::new(
                self.prefix
                    .apply(&format!("INSERT INTO {{p}}jobs ({JOB_COLUMNS}, ready_at) ")),
            );
            insert.push_values(&encoded, |mut row, job| {
                job.bind_all(&mut row);
            });
            insert.push(" ON CONFLICT (schedule_id, scheduled_fire_time) DO NOTHING RETURNING id");
            let ids: Vec<String> = insert
                .build_query_scalar()
                .fetch_all(&mut *conn)
                .await
                .map_err(driver_error)?;
            let ids: HashSet<String> = ids.into_iter().collect();
            inserted.extend(
                chunk
                    .iter()
                    .filter(|job| ids.contains(&job.id.to_string()))
                    .map(|job| job.id),
            );
        }
        Ok(inserted)
    }

    /// Queues a job again as its next attempt, not before `at`.
    async fn requeue(
        &self,
        conn: &mut SqliteConnection,
        id: &JobId,
        at: Timestamp,
    ) -> StoreResult<()> {
        let sql = format!(
            "UPDATE {{p}}jobs SET {} WHERE id = ?2",
            requeue_assignments("?1", "MAX")
        );
        sqlx::query(self.sql(&sql))
            .bind(micros(at))
            .bind(id.to_string())
            .execute(conn)
            .await
            .map_err(driver_error)?;
        Ok(())
    }

    /// Makes never-started jobs whose lease expired before `now` acquirable again.
    async fn free_unstarted_expired(
        &self,
        conn: &mut SqliteConnection,
        now: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(self.sql(
            "UPDATE {p}jobs SET acquired_by = NULL, acquired_until = NULL \
             WHERE acquired_until < ? AND started_at IS NULL",
        ))
        .bind(micros(now))
        .execute(conn)
        .await
        .map_err(driver_error)?;
        Ok(())
    }

    async fn reap_in(
        &self,
        conn: &mut SqliteConnection,
        now: Timestamp,
    ) -> StoreResult<Vec<Reaped>> {
        self.free_unstarted_expired(conn, now).await?;
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM {{p}}jobs WHERE acquired_until < ? ORDER BY acquired_until"
        );
        let expired = sqlx::query(self.sql(&sql))
            .bind(micros(now))
            .fetch_all(&mut *conn)
            .await
            .map_err(driver_error)?;
        let mut reaped = Vec::with_capacity(expired.len());
        let mut tasks: HashMap<TaskId, Option<Task>> = HashMap::new();
        for row in &expired {
            let job = rows::job(row)?;
            if !tasks.contains_key(&job.task_id) {
                let task = self.fetch_task(conn, &job.task_id).await?;
                tasks.insert(job.task_id.clone(), task);
            }
            let task = tasks.get(&job.task_id).and_then(Option::as_ref);
            let retry_delay = reaped_retry_delay(task, &job);
            let result = abandoned(&job, now);
            self.store_results(conn, &[&result]).await?;
            match retry_delay {
                Some(delay) => {
                    self.requeue(conn, &job.id, add(now, delay)).await?;
                    reaped.push(Reaped::Requeued {
                        job: job.id,
                        task_id: job.task_id.clone(),
                        attempt: job.attempt + 1,
                    });
                }
                None => {
                    sqlx::query(self.sql("DELETE FROM {p}jobs WHERE id = ?"))
                        .bind(job.id.to_string())
                        .execute(&mut *conn)
                        .await
                        .map_err(driver_error)?;
                    reaped.push(Reaped::Abandoned(result));
                }
            }
        }
        Ok(reaped)
    }
}

impl DataStore for SqliteStore {
    fn put_task(&self, task: Task) -> BoxFuture<'_, StoreResult<bool>> {
        Box::pin(async move {
            task.validate()
                .map_err(|e| StoreError::Invalid(e.to_string()))?;
            let mut tx = self.begin().await?;
            let existed = self.fetch_task(&mut tx, &task.id).await?.is_some();
            let sql = format!(
                "INSERT OR REPLACE INTO {{p}}tasks ({TASK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            );
            sqlx::query(self.sql(&sql))
                .bind(task.id.as_str())
                .bind(task.executor.as_str())
                .bind(task.max_running_jobs.map(i64::from))
                .bind(codec::duration_micros_opt(task.misfire_grace_time))
                .bind(task.retry.as_ref().map(codec::json).transpose()?)
                .bind(codec::duration_micros_opt(task.timeout))
                .bind(codec::json(&task.metadata)?)
                .bind(task.action.as_ref().map(codec::json).transpose()?)
                .execute(&mut *tx)
                .await
                .map_err(driver_error)?;
            tx.commit().await.map_err(driver_error)?;
            Ok(!existed)
        })
    }

    fn remove_task<'a>(&'a self, id: &'a TaskId) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            let done = sqlx::query(self.sql("DELETE FROM {p}tasks WHERE id = ?"))
                .bind(id.as_str())
                .execute(&self.pool)
                .await
                .map_err(driver_error)?;
            if done.rows_affected() == 0 {
                return Err(not_found(ObjectKind::Task, id));
            }
            Ok(())
        })
    }

    fn get_task<'a>(&'a self, id: &'a TaskId) -> BoxFuture<'a, StoreResult<Option<Task>>> {
        Box::pin(async move {
            let mut conn = self.pool.acquire().await.map_err(driver_error)?;
            self.fetch_task(&mut conn, id).await
        })
    }

    fn get_tasks(&self) -> BoxFuture<'_, StoreResult<Vec<Task>>> {
        Box::pin(self.pool.tasks(&self.prefix))
    }

    fn add_schedule(
        &self,
        mut schedule: Schedule,
        policy: ConflictPolicy,
    ) -> BoxFuture<'_, StoreResult<AddScheduleOutcome>> {
        Box::pin(async move {
            schedule
                .validate()
                .map_err(|e| StoreError::Invalid(e.to_string()))?;
            schedule.acquired_by = None;
            schedule.acquired_until = None;
            let mut tx = self.begin().await?;
            let exists: Option<i64> =
                sqlx::query_scalar(self.sql("SELECT 1 FROM {p}schedules WHERE id = ?"))
                    .bind(schedule.id.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(driver_error)?;
            let outcome = match (exists.is_some(), policy) {
                (false, _) => AddScheduleOutcome::Added,
                (true, ConflictPolicy::DoNothing) => {
                    tx.rollback().await.map_err(driver_error)?;
                    return Ok(AddScheduleOutcome::Kept);
                }
                (true, ConflictPolicy::Exception) => {
                    tx.rollback().await.map_err(driver_error)?;
                    return Err(StoreError::Conflict {
                        kind: ObjectKind::Schedule,
                        id: schedule.id.to_string(),
                    });
                }
                (true, ConflictPolicy::Replace) => {
                    sqlx::query(self.sql("DELETE FROM {p}schedules WHERE id = ?"))
                        .bind(schedule.id.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(driver_error)?;
                    AddScheduleOutcome::Replaced
                }
            };
            self.insert_schedule(&mut tx, &schedule).await?;
            tx.commit().await.map_err(driver_error)?;
            Ok(outcome)
        })
    }

    fn set_paused<'a>(
        &'a self,
        id: &'a ScheduleId,
        paused: bool,
        next: Option<(Trigger, Option<Timestamp>)>,
    ) -> BoxFuture<'a, StoreResult<Schedule>> {
        Box::pin(async move {
            let sql = format!(
                "UPDATE {{p}}schedules SET paused = ?1, \
                 trigger_state = COALESCE(?2, trigger_state), \
                 next_fire_time = CASE WHEN ?3 THEN ?4 ELSE next_fire_time END \
                 WHERE id = ?5 RETURNING {SCHEDULE_COLUMNS}"
            );
            let (trigger, replace, next_fire_time) = match &next {
                Some((trigger, at)) => (Some(codec::json(trigger)?), true, micros_opt(*at)),
                None => (None, false, None),
            };
            let row = sqlx::query(self.sql(&sql))
                .bind(paused)
                .bind(trigger)
                .bind(replace)
                .bind(next_fire_time)
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(driver_error)?;
            match row {
                Some(row) => rows::schedule(&row),
                None => Err(not_found(ObjectKind::Schedule, id)),
            }
        })
    }

    fn remove_schedules<'a>(
        &'a self,
        ids: &'a [ScheduleId],
    ) -> BoxFuture<'a, StoreResult<Vec<Schedule>>> {
        Box::pin(async move {
            let mut tx = self.begin().await?;
            let mut removed = Vec::new();
            let sql =
                format!("DELETE FROM {{p}}schedules WHERE id = ? RETURNING {SCHEDULE_COLUMNS}");
            for id in ids {
                let row = sqlx::query(self.sql(&sql))
                    .bind(id.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(driver_error)?;
                if let Some(row) = row {
                    removed.push(rows::schedule(&row)?);
                }
            }
            tx.commit().await.map_err(driver_error)?;
            Ok(removed)
        })
    }

    fn get_schedule<'a>(
        &'a self,
        id: &'a ScheduleId,
    ) -> BoxFuture<'a, StoreResult<Option<Schedule>>> {
        Box::pin(self.pool.schedule(&self.prefix, id))
    }

    fn get_schedules(&self) -> BoxFuture<'_, StoreResult<Vec<Schedule>>> {
        Box::pin(self.pool.schedules(&self.prefix))
    }

    fn acquire_schedules<'a>(
        &'a self,
        node: &'a str,
        lease: Duration,
        limit: usize,
        now: Timestamp,
    ) -> BoxFuture<'a, StoreResult<Vec<Schedule>>> {
        Box::pin(async move {
            let mut tx = self.begin().await?;
            let until = add(now, lease);
            let sql = format!(
                "UPDATE {{p}}schedules SET acquired_by = ?1, acquired_until = ?2 \
                 WHERE id IN (SELECT id FROM {{p}}schedules \
                   WHERE paused = 0 AND next_fire_time <= ?3 \
                     AND (acquired_by IS NULL OR acquired_until < ?3) \
                   ORDER BY next_fire_time LIMIT ?4) \
                 RETURNING {SCHEDULE_COLUMNS}"
            );
            let acquired = sqlx::query(self.sql(&sql))
                .bind(node)
                .bind(micros(until))
                .bind(micros(now))
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .fetch_all(&mut *tx)
                .await
                .map_err(driver_error)?;
            tx.commit().await.map_err(driver_error)?;
            let mut schedules = acquired
                .iter()
                .map(rows::schedule)
                .collect::<StoreResult<Vec<_>>>()?;
            schedules.sort_by_key(|s| (s.next_fire_time, s.id.clone()));
            Ok(schedules)
        })
    }

    fn release_schedules<'a>(
        &'a self,
        node: &'a str,
        releases: Vec<ScheduleRelease>,
    ) -> BoxFuture<'a, StoreResult<ScheduleReleaseReport>> {
        Box::pin(async move {
            let mut tx = self.begin().await?;
            let mut report = ScheduleReleaseReport::default();
            let mut jobs = Vec::new();
            for release in releases {
                let done = sqlx::query(self.sql(
                    "UPDATE {p}schedules SET trigger_state = ?, next_fire_time = ?, last_fire_time = ?, \
                     acquired_by = NULL, acquired_until = NULL WHERE id = ? AND acquired_by = ?",
                ))
                .bind(codec::json(&release.trigger)?)
                .bind(micros_opt(release.next_fire_time))
                .bind(micros_opt(release.last_fire_time))
                .bind(release.schedule_id.as_str())
                .bind(node)
                .execute(&mut *tx)
                .await
                .map_err(driver_error)?;
                if done.rows_affected() == 0 {
                    report.lost.push(release.schedule_id);
                    continue;
                }
                jobs.extend(release.jobs);
                report.released.push(release.schedule_id);
            }
            // Invariant 6: the jobs are written in the same transaction as the fire times.
            report.jobs_added = self.insert_jobs(&mut tx, &jobs).await?;
            tx.commit().await.map_err(driver_error)?;
            Ok(report)
        })
    }

    fn next_schedule_run_time(&self) -> BoxFuture<'_, StoreResult<Option<Timestamp>>> {
        Box::pin(async move {
            let at: Option<i64> = sqlx::query_scalar(self.sql(
                "SELECT MIN(t) FROM ( \
                   SELECT MIN(next_fire_time) AS t FROM {p}schedules \
                     WHERE paused = 0 AND acquired_by IS NULL AND next_fire_time IS NOT NULL \
                   UNION ALL \
                   SELECT MIN(acquired_until) AS t FROM {p}schedules WHERE acquired_until IS NOT NULL)",
            ))
            .fetch_one(&self.pool)
            .await
            .map_err(driver_error)?;
            codec::timestamp_opt("next_fire_time", at)
        })
    }

    fn add_jobs(&self, jobs: Vec<Job>) -> BoxFuture<'_, StoreResult<Vec<JobId>>> {
        Box::pin(async move {
            if let Some(e) = jobs.iter().find_map(|job| job.validate().err()) {
                return Err(StoreError::Invalid(e.to_string()));
            }
            let mut tx = self.begin().await?;
            let added = self.insert_jobs(&mut tx, &jobs).await?;
            tx.commit().await.map_err(driver_error)?;
            Ok(added)
        })
    }

    fn get_job<'a>(&'a self, id: &'a JobId) -> BoxFuture<'a, StoreResult<Option<Job>>> {
        Box::pin(async move {
            let mut conn = self.pool.acquire().await.map_err(driver_error)?;
            self.fetch_job(&mut conn, id).await
        })
    }

    fn get_jobs(&self) -> BoxFuture<'_, StoreResult<Vec<Job>>> {
        Box::pin(self.pool.jobs(&self.prefix))
    }

    fn acquire_jobs<'a>(
        &'a self,
        node: &'a str,
        lease: Duration,
        limit: usize,
        now: Timestamp,
    ) -> BoxFuture<'a, StoreResult<JobBatch>> {
        Box::pin(self.acquire_jobs_in(node, lease, limit, now, false))
    }

    fn acquire_and_start_jobs<'a>(
        &'a self,
        node: &'a str,
        lease: Duration,
        limit: usize,
        now: Timestamp,
    ) -> BoxFuture<'a, StoreResult<JobBatch>> {
        Box::pin(self.acquire_jobs_in(node, lease, limit, now, true))
    }

    fn start_job<'a>(
        &'a self,
        node: &'a str,
        id: &'a JobId,
        token: u64,
        now: Timestamp,
    ) -> BoxFuture<'a, StoreResult<Job>> {
        Box::pin(async move {
            let sql = format!(
                "UPDATE {{p}}jobs SET started_at = COALESCE(started_at, ?1) \
                 WHERE id = ?2 AND acquired_by = ?3 AND lease_token = ?4 AND acquired_until >= ?1 \
                 RETURNING {JOB_COLUMNS}"
            );
            let row = sqlx::query(self.sql(&sql))
                .bind(micros(now))
                .bind(id.to_string())
                .bind(node)
                .bind(codec::token(token))
                .fetch_optional(&self.pool)
                .await
                .map_err(driver_error)?;
            match row {
                Some(row) => rows::job(&row),
                None => Err(lease_lost(id)),
            }
        })
    }

    fn release_job<'a>(
        &'a self,
        node: &'a str,
        id: &'a JobId,
        token: u64,
        release: JobRelease,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            let request = JobReleaseRequest {
                id: *id,
                lease_token: token,
                release,
            };
            let lost = self
                .release_batch(node, std::slice::from_ref(&request))
                .await?;
            if lost.is_empty() {
                Ok(())
            } else {
                Err(lease_lost(id))
            }
        })
    }

    fn release_jobs<'a>(
        &'a self,
        node: &'a str,
        releases: Vec<JobReleaseRequest>,
    ) -> BoxFuture<'a, StoreResult<Vec<JobId>>> {
        Box::pin(async move { self.release_batch(node, &releases).await })
    }

    fn extend_leases<'a>(
        &'a self,
        node: &'a str,
        jobs: &'a [(JobId, u64)],
        schedules: &'a [ScheduleId],
        until: Timestamp,
    ) -> BoxFuture<'a, StoreResult<Vec<JobId>>> {
        Box::pin(async move {
            let mut tx = self.begin().await?;
            let mut lost = Vec::new();
            for (id, token) in jobs {
                let done = sqlx::query(self.sql(
                    "UPDATE {p}jobs SET acquired_until = ? \
                     WHERE id = ? AND acquired_by = ? AND lease_token = ?",
                ))
                .bind(micros(until))
                .bind(id.to_string())
                .bind(node)
                .bind(codec::token(*token))
                .execute(&mut *tx)
                .await
                .map_err(driver_error)?;
                if done.rows_affected() == 0 {
                    lost.push(*id);
                }
            }
            for id in schedules {
                sqlx::query(self.sql(
                    "UPDATE {p}schedules SET acquired_until = ? WHERE id = ? AND acquired_by = ?",
                ))
                .bind(micros(until))
                .bind(id.as_str())
                .bind(node)
                .execute(&mut *tx)
                .await
                .map_err(driver_error)?;
            }
            tx.commit().await.map_err(driver_error)?;
            Ok(lost)
        })
    }

    fn reap_expired(&self, now: Timestamp) -> BoxFuture<'_, StoreResult<Vec<Reaped>>> {
        Box::pin(async move {
            let mut tx = self.begin().await?;
            let reaped = self.reap_in(&mut tx, now).await?;
            tx.commit().await.map_err(driver_error)?;
            Ok(reaped)
        })
    }

    fn get_job_result<'a>(
        &'a self,
        id: &'a JobId,
    ) -> BoxFuture<'a, StoreResult<Option<JobResult>>> {
        Box::pin(self.pool.result(&self.prefix, id))
    }

    fn get_job_results(&self, limit: usize) -> BoxFuture<'_, StoreResult<Vec<JobResult>>> {
        Box::pin(self.pool.results(&self.prefix, limit))
    }

    fn record_node(&self, node: NodeInfo) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async move {
            self.pool
                .record_node(&self.prefix, &node, "REPLACE", "")
                .await
        })
    }

    fn remove_node<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<()>> {
        self.pool.remove_node(&self.prefix, id)
    }

    fn get_nodes(&self) -> BoxFuture<'_, StoreResult<Vec<NodeInfo>>> {
        Box::pin(self.pool.nodes(&self.prefix))
    }

    fn cleanup(&self, now: Timestamp) -> BoxFuture<'_, StoreResult<CleanupReport>> {
        Box::pin(async move {
            let mut tx = self.begin().await?;
            let expired = sqlx::query(self.sql("DELETE FROM {p}results WHERE expires_at <= ?"))
                .bind(micros(now))
                .execute(&mut *tx)
                .await
                .map_err(driver_error)?;
            let finished = sqlx::query(self.sql(
                "DELETE FROM {p}schedules WHERE next_fire_time IS NULL AND acquired_by IS NULL \
                 AND NOT EXISTS (SELECT 1 FROM {p}jobs j WHERE j.schedule_id = {p}schedules.id) \
                 RETURNING id, task_id",
            ))
            .fetch_all(&mut *tx)
            .await
            .map_err(driver_error)?;
            // `last_heartbeat + lease + retention <= now`, arranged so no sum can overflow.
            let dead = sqlx::query(
                self.sql("DELETE FROM {p}nodes WHERE lease_duration_us <= ? - last_heartbeat"),
            )
            .bind(dead_node_bound(now))
            .execute(&mut *tx)
            .await
            .map_err(driver_error)?;
            tx.commit().await.map_err(driver_error)?;
            let mut report = CleanupReport {
                dead_nodes: usize::try_from(dead.rows_affected()).unwrap_or(usize::MAX),
                expired_results: usize::try_from(expired.rows_affected()).unwrap_or(usize::MAX),
                finished_schedules: Vec::with_capacity(finished.len()),
            };
            for row in &finished {
                let id: String = row.try_get(0).map_err(driver_error)?;
                let task: String = row.try_get(1).map_err(driver_error)?;
                report
                    .finished_schedules
                    .push((codec::parse("id", &id)?, codec::parse("task_id", &task)?));
            }
            Ok(report)
        })
    }
}
