//! The MySQL 8 / MariaDB 10.6+ store (InnoDB).
//!
//! Sessions run at `READ COMMITTED`, so a plain read inside a transaction sees the latest
//! committed rows and InnoDB takes no gap locks. Acquisition locks candidate rows with
//! `SELECT ... FOR UPDATE SKIP LOCKED` (DESIGN.md invariant 1): nodes acquiring at once take
//! disjoint rows and never wait for each other. A task's `max_running_jobs` holds across
//! nodes because acquisition locks the rows of the tasks it hands out jobs of (in id order)
//! and counts their leased jobs under that lock. Releases are fenced by node and lease token
//! in the statement that changes the row (invariant 3).
//!
//! MySQL has no `RETURNING` (MariaDB only on `INSERT`/`DELETE`), so rows are locked and read
//! inside the transaction before they change, and the changed values are applied to what was
//! read. Transactions InnoDB aborts as deadlock victims are retried a few times.

mod acquire;
mod jobs;
mod schedules;
mod schema;

use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use horae::clock::BoxFuture;
use horae::error::{ObjectKind, StoreError};
use horae::model::{
    ConflictPolicy, Job, JobId, JobResult, NodeInfo, Schedule, ScheduleId, Task, TaskId,
};
use horae::store::{
    AddScheduleOutcome, CleanupReport, DataStore, JobBatch, JobRelease, JobReleaseRequest, Reaped,
    ScheduleRelease, ScheduleReleaseReport, StoreResult,
};
use horae::trigger::Trigger;
use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlPool, MySqlPoolOptions};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, Executor, MySql, Row};

use crate::codec::{self, driver_error};
use crate::common::{lease_lost, not_found, redacted};
use crate::lookup::{Lookups, NodeRecords};
use crate::prefix::TablePrefix;
use crate::rows::{self, JOB_COLUMNS, TASK_COLUMNS};

/// The most rows one multi-row statement or `IN (...)` list carries.
const BATCH: usize = 500;

/// How long `migrate` waits for another process's migration lock, in seconds.
const MIGRATION_LOCK_WAIT_SECS: i64 = 30;

/// The server-wide name of the migration lock: per database and table prefix (names are
/// limited to 64 characters; a truncated name only serializes more than needed).
const MIGRATION_LOCK: &str = "LEFT(CONCAT('horae:', IFNULL(DATABASE(), ''), ':', ?), 64)";

/// How often a transaction InnoDB rolled back as a deadlock victim is run again.
const DEADLOCK_RETRIES: u32 = 5;

/// How a [`MysqlStore`] connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MysqlOptions {
    /// The table prefix (default `horae_`).
    pub prefix: TablePrefix,
    /// Connections in the pool (default 10).
    pub max_connections: u32,
    /// How long connecting, or waiting for a free pooled connection, may take before the
    /// operation fails as unavailable (default 10 s).
    pub connect_timeout: Duration,
}

impl Default for MysqlOptions {
    fn default() -> MysqlOptions {
        MysqlOptions {
            prefix: TablePrefix::default(),
            max_connections: 10,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// A data store in a MySQL 8 or MariaDB 10.6+ database.
#[derive(Debug, Clone)]
pub struct MysqlStore {
    pool: MySqlPool,
    prefix: TablePrefix,
}

impl MysqlStore {
    /// Connects to `url` — `mysql://user:password@host:3306/database` — and brings the
    /// schema up to date.
    ///
    /// # Errors
    ///
    /// [`StoreError::Invalid`] for a malformed URL (or one naming no database) or a schema
    /// newer than this version of horae; [`StoreError::Unavailable`] when the server cannot
    /// be reached or refuses the connection (the message names the host, never the
    /// password).
    pub async fn connect(url: &str) -> StoreResult<MysqlStore> {
        MysqlStore::connect_with(url, MysqlOptions::default()).await
    }

    /// Creates the database `url` names on its server unless it exists
    /// (`CREATE DATABASE IF NOT EXISTS`, utf8mb4).
    ///
    /// # Errors
    ///
    /// [`StoreError::Invalid`] for a malformed URL or a database name other than ASCII
    /// letters, digits and underscores; [`StoreError::Unavailable`] when the server cannot
    /// be reached.
    pub async fn create_database_if_missing(url: &str) -> StoreResult<()> {
        crate::open::create_mysql_database(&crate::open::StoreUrl::parse(url)?).await
    }

    /// [`MysqlStore::connect`] with explicit options.
    ///
    /// # Errors
    ///
    /// As [`MysqlStore::connect`].
    pub async fn connect_with(url: &str, options: MysqlOptions) -> StoreResult<MysqlStore> {
        let shown = redacted(url);
        if !url.starts_with("mysql:") {
            return Err(StoreError::Invalid(format!(
                "MySQL URL {shown:?} must start with mysql: (mysql://user:password@host:3306/database)"
            )));
        }
        let connect = MySqlConnectOptions::from_str(url)
            .map_err(|e| StoreError::Invalid(format!("MySQL URL {shown:?}: {e}")))?;
        if connect.get_database().is_none_or(str::is_empty) {
            return Err(StoreError::Invalid(format!(
                "MySQL URL {shown:?} names no database (mysql://user:password@host:3306/database)"
            )));
        }
        let server = format!("{}:{}", connect.get_host(), connect.get_port());
        let pool = MySqlPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.connect_timeout)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                        .await?;
                    Ok(())
                })
            })
            .connect_with(connect)
            .await
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot connect to MySQL server {server}: {e}"))
            })?;
        let store = MysqlStore {
            pool,
            prefix: options.prefix,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies the migrations the database lacks; returns the schema version now in place.
    /// Safe to run from several processes at once: they take turns under a named lock
    /// (`GET_LOCK`).
    ///
    /// # Errors
    ///
    /// [`StoreError::Invalid`] when the database's schema is newer than this horae knows;
    /// [`StoreError::Unavailable`] when another process holds the migration lock for more
    /// than 30 s.
    pub async fn migrate(&self) -> StoreResult<u32> {
        let mut conn = self.pool.acquire().await.map_err(driver_error)?;
        let name = format!("{}migrate", self.prefix);
        let locked: Option<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT GET_LOCK({MIGRATION_LOCK}, ?)"
        )))
        .bind(&name)
        .bind(MIGRATION_LOCK_WAIT_SECS)
        .fetch_one(&mut *conn)
        .await
        .map_err(driver_error)?;
        if locked != Some(1) {
            return Err(StoreError::Unavailable(format!(
                "another process held the schema migration lock for {MIGRATION_LOCK_WAIT_SECS} s"
            )));
        }
        let migrated = self.migrate_locked(&mut conn).await;
        let released = sqlx::query(AssertSqlSafe(format!("DO RELEASE_LOCK({MIGRATION_LOCK})")))
            .bind(&name)
            .execute(&mut *conn)
            .await;
        if released.is_err() {
            // Closing the connection is what releases a named lock then.
            conn.close_on_drop();
        }
        migrated
    }

    async fn migrate_locked(&self, conn: &mut MySqlConnection) -> StoreResult<u32> {
        sqlx::raw_sql(self.sql(
            "CREATE TABLE IF NOT EXISTS {p}schema_version (version BIGINT NOT NULL) \
             ENGINE = InnoDB",
        ))
        .execute(&mut *conn)
        .await
        .map_err(driver_error)?;
        let current: Option<i64> =
            sqlx::query_scalar(self.sql("SELECT MAX(version) FROM {p}schema_version"))
                .fetch_one(&mut *conn)
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
            for statement in *migration {
                sqlx::raw_sql(self.sql(statement))
                    .execute(&mut *conn)
                    .await
                    .map_err(driver_error)?;
            }
            sqlx::query(self.sql("INSERT INTO {p}schema_version (version) VALUES (?)"))
                .bind(index as i64 + 1)
                .execute(&mut *conn)
                .await
                .map_err(driver_error)?;
            tracing::info!(version = index + 1, prefix = %self.prefix, "applied MySQL migration");
        }
        Ok(known as u32)
    }

    /// The connection pool.
    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    fn sql(&self, template: &str) -> AssertSqlSafe<String> {
        AssertSqlSafe(self.prefix.apply(template))
    }

    async fn begin(&self) -> StoreResult<sqlx::Transaction<'static, MySql>> {
        self.pool.begin().await.map_err(driver_error)
    }

    async fn fetch_job(&self, conn: &mut MySqlConnection, id: &JobId) -> StoreResult<Option<Job>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM {{p}}jobs WHERE id = ?");
        let row = sqlx::query(self.sql(&sql))
            .bind(id.to_string())
            .fetch_optional(conn)
            .await
            .map_err(driver_error)?;
        row.as_ref().map(rows::job).transpose()
    }
}

/// `n` comma-separated placeholders for an `IN (...)` list.
fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// A value as a JSON column value.
fn json<T: Serialize + ?Sized>(value: &T) -> StoreResult<Json<Value>> {
    serde_json::to_value(value)
        .map(Json)
        .map_err(|e| StoreError::Serialization(e.to_string()))
}

/// Whether InnoDB rolled the transaction back as a deadlock victim (error 1213): running
/// it again is safe and will usually succeed.
fn is_deadlock(error: &StoreError) -> bool {
    matches!(error, StoreError::Unavailable(message) if message.starts_with("1213 "))
}

/// Runs a transaction again (a few times, after a short pause) when InnoDB picks it as a
/// deadlock victim.
async fn retrying<T, F, Fut>(mut run: F) -> StoreResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = StoreResult<T>>,
{
    let mut attempt = 0;
    loop {
        match run().await {
            Err(error) if attempt < DEADLOCK_RETRIES && is_deadlock(&error) => {
                attempt += 1;
                tracing::debug!(attempt, %error, "retrying a MySQL transaction after a deadlock");
                tokio::time::sleep(Duration::from_millis(2 * u64::from(attempt))).await;
            }
            other => return other,
        }
    }
}

impl DataStore for MysqlStore {
    fn put_task(&self, task: Task) -> BoxFuture<'_, StoreResult<bool>> {
        Box::pin(async move {
            task.validate()
                .map_err(|e| StoreError::Invalid(e.to_string()))?;
            let sql =
                format!("REPLACE INTO {{p}}tasks ({TASK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
            let done = sqlx::query(self.sql(&sql))
                .bind(task.id.as_str())
                .bind(task.executor.as_str())
                .bind(task.max_running_jobs.map(i64::from))
                .bind(codec::duration_micros_opt(task.misfire_grace_time))
                .bind(task.retry.as_ref().map(json).transpose()?)
                .bind(codec::duration_micros_opt(task.timeout))
                .bind(json(&task.metadata)?)
                .bind(task.action.as_ref().map(json).transpose()?)
                .execute(&self.pool)
                .await
                .map_err(driver_error)?;
            // REPLACE counts the old row it deleted as well as the new one.
            Ok(done.rows_affected() == 1)
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
            let sql = format!("SELECT {TASK_COLUMNS} FROM {{p}}tasks WHERE id = ?");
            let row = sqlx::query(self.sql(&sql))
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(driver_error)?;
            row.as_ref().map(rows::task).transpose()
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
            retrying(|| self.add_schedule_once(&schedule, policy)).await
        })
    }

    fn set_paused<'a>(
        &'a self,
        id: &'a ScheduleId,
        paused: bool,
        next: Option<(Trigger, Option<Timestamp>)>,
    ) -> BoxFuture<'a, StoreResult<Schedule>> {
        Box::pin(async move { retrying(|| self.set_paused_once(id, paused, next.as_ref())).await })
    }

    fn remove_schedules<'a>(
        &'a self,
        ids: &'a [ScheduleId],
    ) -> BoxFuture<'a, StoreResult<Vec<Schedule>>> {
        Box::pin(async move { retrying(|| self.remove_schedules_once(ids)).await })
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
        Box::pin(
            async move { retrying(|| self.acquire_schedules_once(node, lease, limit, now)).await },
        )
    }

    fn release_schedules<'a>(
        &'a self,
        node: &'a str,
        releases: Vec<ScheduleRelease>,
    ) -> BoxFuture<'a, StoreResult<ScheduleReleaseReport>> {
        Box::pin(async move { retrying(|| self.release_schedules_once(node, &releases)).await })
    }

    fn next_schedule_run_time(&self) -> BoxFuture<'_, StoreResult<Option<Timestamp>>> {
        Box::pin(async move {
            let row = sqlx::query(self.sql(
                "SELECT \
                   (SELECT MIN(next_fire_time) FROM {p}schedules \
                     WHERE paused = 0 AND acquired_by IS NULL AND next_fire_time IS NOT NULL) AS due, \
                   (SELECT MIN(acquired_until) FROM {p}schedules \
                     WHERE acquired_until IS NOT NULL) AS lease_end",
            ))
            .fetch_one(&self.pool)
            .await
            .map_err(driver_error)?;
            let due: Option<i64> = row.try_get("due").map_err(driver_error)?;
            let lease_end: Option<i64> = row.try_get("lease_end").map_err(driver_error)?;
            codec::timestamp_opt("next_fire_time", due.into_iter().chain(lease_end).min())
        })
    }

    fn add_jobs(&self, jobs: Vec<Job>) -> BoxFuture<'_, StoreResult<Vec<JobId>>> {
        Box::pin(async move {
            if let Some(e) = jobs.iter().find_map(|job| job.validate().err()) {
                return Err(StoreError::Invalid(e.to_string()));
            }
            retrying(|| async {
                let mut tx = self.begin().await?;
                let added = self.insert_jobs(&mut tx, &jobs).await?;
                tx.commit().await.map_err(driver_error)?;
                Ok(added)
            })
            .await
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
        Box::pin(async move {
            retrying(|| self.acquire_jobs_once(node, lease, limit, now, false)).await
        })
    }

    fn acquire_and_start_jobs<'a>(
        &'a self,
        node: &'a str,
        lease: Duration,
        limit: usize,
        now: Timestamp,
    ) -> BoxFuture<'a, StoreResult<JobBatch>> {
        Box::pin(
            async move { retrying(|| self.acquire_jobs_once(node, lease, limit, now, true)).await },
        )
    }

    fn start_job<'a>(
        &'a self,
        node: &'a str,
        id: &'a JobId,
        token: u64,
        now: Timestamp,
    ) -> BoxFuture<'a, StoreResult<Job>> {
        Box::pin(async move { retrying(|| self.start_job_once(node, id, token, now)).await })
    }

    fn release_job<'a>(
        &'a self,
        node: &'a str,
        id: &'a JobId,
        token: u64,
        release: JobRelease,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            let request = [JobReleaseRequest {
                id: *id,
                lease_token: token,
                release,
            }];
            let lost = retrying(|| self.release_jobs_once(node, &request)).await?;
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
        Box::pin(async move { retrying(|| self.release_jobs_once(node, &releases)).await })
    }

    fn extend_leases<'a>(
        &'a self,
        node: &'a str,
        jobs: &'a [(JobId, u64)],
        schedules: &'a [ScheduleId],
        until: Timestamp,
    ) -> BoxFuture<'a, StoreResult<Vec<JobId>>> {
        Box::pin(
            async move { retrying(|| self.extend_leases_once(node, jobs, schedules, until)).await },
        )
    }

    fn reap_expired(&self, now: Timestamp) -> BoxFuture<'_, StoreResult<Vec<Reaped>>> {
        Box::pin(async move { retrying(|| self.reap_expired_once(now)).await })
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
        Box::pin(async move { retrying(|| self.cleanup_once(now)).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_comma_separated() {
        assert_eq!(marks(3), "?, ?, ?");
    }
}
