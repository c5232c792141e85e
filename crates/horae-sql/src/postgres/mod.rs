//! The PostgreSQL store: many nodes sharing one database.
//!
//! Work is handed out with `FOR UPDATE SKIP LOCKED`, so nodes acquiring at once take
//! different rows without waiting for each other (DESIGN.md invariant 1). A task's
//! `max_running_jobs` holds across nodes because acquisition first locks the rows of the
//! limited tasks it may take jobs of, then counts their leased jobs in a fresh snapshot.
//! Releases are single fenced statements (invariant 3); releasing schedules and inserting
//! their jobs share one transaction (invariant 6). The hot paths take one or two round
//! trips per batch: acquisition, start, release and lease extension are each one statement.
//! Releases and lease extensions lock their rows in id order, so the two never deadlock,
//! and the hot statements find rows by id or by a lateral index lookup rather than a join
//! the planner chooses: a queue table that was empty when last vacuumed or analyzed looks
//! empty to the planner, which would otherwise scan the whole table once per row. The
//! store vacuums its busy tables itself (`vacuum` module).

mod schema;
mod vacuum;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
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
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, Connection, Postgres, Row};

use crate::codec::{self, driver_error, micros, micros_opt};
use crate::common::{
    abandoned, add, dead_node_bound, first_releases, lease_lost, not_found, record_missed,
    redacted, release_result, settle_releases, split_missed,
};
use crate::lookup::{Lookups, NodeRecords};
use crate::prefix::TablePrefix;
use crate::rows::{self, JOB_COLUMNS, RESULT_COLUMNS, SCHEDULE_COLUMNS, TASK_COLUMNS};
use vacuum::Vacuums;

/// How a [`PostgresStore`] connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresOptions {
    /// The table prefix (default `horae_`).
    pub prefix: TablePrefix,
    /// Connections in the pool (default 10); up to two more, of their own, extend leases.
    pub max_connections: u32,
    /// How long an operation waits for a connection before failing with a transient error
    /// (default 5 s); it bounds how long a node hangs while the database is down.
    pub acquire_timeout: Duration,
    /// Vacuum the jobs or schedules table each time this store has left this many dead row
    /// versions in it (default 50,000; 0 leaves vacuuming to autovacuum). A busy queue
    /// outpaces autovacuum, and the dead index entries slow acquisition down.
    pub vacuum_every: u64,
}

impl Default for PostgresOptions {
    fn default() -> PostgresOptions {
        PostgresOptions {
            prefix: TablePrefix::default(),
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            vacuum_every: 50_000,
        }
    }
}

/// A data store in a PostgreSQL database (PostgreSQL 12 or later).
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// Connections of their own for extending leases, so a busy pool (a burst of
    /// acquisitions and releases) cannot hold a lease keeper back until its leases lapse
    /// (DESIGN.md invariant 2).
    lease_pool: PgPool,
    prefix: TablePrefix,
    vacuums: Arc<Vacuums>,
}

/// Makes a node record's `INSERT` an upsert: every column but the id is replaced.
const UPSERT_NODE: &str = "ON CONFLICT (id) DO UPDATE SET role = EXCLUDED.role, \
     started_at = EXCLUDED.started_at, last_heartbeat = EXCLUDED.last_heartbeat, \
     lease_duration_us = EXCLUDED.lease_duration_us, \
     max_concurrent_jobs = EXCLUDED.max_concurrent_jobs, running_jobs = EXCLUDED.running_jobs, \
     version = EXCLUDED.version";

/// Connections reserved for extending leases, besides the pool's `max_connections`: the
/// lease keeper's job leases and the schedule processor's schedule leases.
const LEASE_CONNECTIONS: u32 = 2;

/// Releases per statement (bounded for memory, not by a bind limit: arrays are one bind each).
const ROWS_PER_RELEASE: usize = 5_000;

/// Jobs per `INSERT` (bounded for memory likewise).
const ROWS_PER_INSERT: usize = 5_000;

impl PostgresStore {
    /// Connects to `url` (`postgres://user:password@host:port/database`) and brings the
    /// schema up to date.
    ///
    /// # Errors
    ///
    /// [`StoreError::Invalid`] for a malformed URL or a schema newer than this version of
    /// horae; [`StoreError::Unavailable`] naming the server (never the password) when it
    /// cannot be reached — retry later.
    pub async fn connect(url: &str) -> StoreResult<PostgresStore> {
        PostgresStore::connect_with(url, PostgresOptions::default()).await
    }

    /// [`PostgresStore::connect`] with explicit options.
    ///
    /// # Errors
    ///
    /// As [`PostgresStore::connect`].
    pub async fn connect_with(url: &str, options: PostgresOptions) -> StoreResult<PostgresStore> {
        let shown = redacted(url);
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(StoreError::Invalid(format!(
                "PostgreSQL URL {shown:?} must start with postgres:// or postgresql://"
            )));
        }
        let connect: PgConnectOptions = url
            .parse()
            .map_err(|e| StoreError::Invalid(format!("PostgreSQL URL {shown:?}: {e}")))?;
        // The store's statements are short and run thousands of times a second; the JIT,
        // which large row estimates (a long queue) switch on, would spend tens of
        // milliseconds compiling each of them. And each of them finds its rows through an
        // index, but a queue's statistics are always stale — vacuumed or analyzed while
        // nearly empty, the jobs table looks too small for an index to pay — so the planner
        // would scan the whole table (grown since by a backlog and dead rows) on every
        // acquisition and release: sequential scans are off for store connections.
        let connect = connect.options([("jit", "off"), ("enable_seqscan", "off")]);
        // Opened on first use: a node that runs no job never opens them.
        let lease_pool = PgPoolOptions::new()
            .max_connections(LEASE_CONNECTIONS)
            .min_connections(0)
            .acquire_timeout(options.acquire_timeout)
            .connect_lazy_with(connect.clone());
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await
            .map_err(|e| {
                let error = driver_error(e);
                StoreError::Unavailable(format!("cannot connect to PostgreSQL at {shown}: {error}"))
            })?;
        let vacuums = Arc::new(Vacuums::new(
            pool.clone(),
            &options.prefix,
            options.vacuum_every,
        ));
        let store = PostgresStore {
            pool,
            lease_pool,
            prefix: options.prefix,
            vacuums,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies the migrations the database lacks under an advisory lock (so several nodes
    /// may start at once); returns the schema version now in place.
    ///
    /// # Errors
    ///
    /// [`StoreError::Invalid`] when the database's schema is newer than this horae knows.
    pub async fn migrate(&self) -> StoreResult<u32> {
        let mut tx = self.pool.begin().await.map_err(driver_error)?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(format!("{}horae_migrate", self.prefix))
            .execute(&mut *tx)
            .await
            .map_err(driver_error)?;
        sqlx::raw_sql(
            self.sql("CREATE TABLE IF NOT EXISTS {p}schema_version (version BIGINT NOT NULL)"),
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
            sqlx::query(self.sql("INSERT INTO {p}schema_version (version) VALUES ($1)"))
                .bind(index as i64 + 1)
                .execute(&mut *tx)
                .await
                .map_err(driver_error)?;
            tracing::info!(version = index + 1, prefix = %self.prefix, "applied PostgreSQL migration");
        }
        tx.commit().await.map_err(driver_error)?;
        Ok(known as u32)
    }

    /// Creates the database named in `url` when it does not exist, connecting to the
    /// server's `postgres` database to do so (the role needs `CREATEDB`).
    ///
    /// # Errors
    ///
    /// [`StoreError::Invalid`] for a URL without a database name; the driver's error when
    /// the server refuses.
    pub async fn create_database_if_missing(url: &str) -> StoreResult<()> {
        let shown = redacted(url);
        let (server, database) = url
            .split('?')
            .next()
            .and_then(|base| base.rsplit_once('/'))
            .filter(|(server, name)| {
                server.contains("://") && !server.ends_with('/') && !name.is_empty()
            })
            .ok_or_else(|| {
                StoreError::Invalid(format!("PostgreSQL URL {shown:?} names no database"))
            })?;
        if !database
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(StoreError::Invalid(format!(
                "database name {database:?}: use ASCII letters, digits and underscores"
            )));
        }
        // One direct attempt: a server that is down fails fast (a pool would retry).
        let unavailable = |e: String| {
            StoreError::Unavailable(format!("cannot connect to PostgreSQL at {shown}: {e}"))
        };
        let connect = PgConnection::connect(&format!("{server}/postgres"));
        let mut admin = tokio::time::timeout(Duration::from_secs(5), connect)
            .await
            .map_err(|_| unavailable("timed out after 5 s".to_owned()))?
            .map_err(|e| unavailable(driver_error(e).to_string()))?;
        let exists: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
                .bind(database)
                .fetch_optional(&mut admin)
                .await
                .map_err(driver_error)?;
        if exists.is_none() {
            let created = sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE \"{database}\"")))
                .execute(&mut admin)
                .await;
            // Losing a race with another creator is fine: the database exists either way.
            if let Err(error) = created {
                let raced = matches!(&error, sqlx::Error::Database(db) if db.code().as_deref() == Some("42P04"));
                if !raced {
                    return Err(driver_error(error));
                }
            }
        }
        let _ = admin.close().await;
        Ok(())
    }

    /// Drops every table of this store's prefix — all its tasks, schedules, jobs, results
    /// and node records. For benchmarks and tests; irreversible.
    ///
    /// # Errors
    ///
    /// The driver's error.
    pub async fn drop_tables(&self) -> StoreResult<()> {
        sqlx::raw_sql(self.sql(
            "DROP FUNCTION IF EXISTS {p}acquire_jobs; \
             DROP TABLE IF EXISTS {p}nodes, {p}results, {p}jobs, {p}schedules, {p}tasks, {p}schema_version",
        ))
        .execute(&self.pool)
        .await
        .map_err(driver_error)?;
        Ok(())
    }

    /// The connection pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes the store's connections, waiting for those in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
        self.lease_pool.close().await;
    }

    fn sql(&self, template: &str) -> AssertSqlSafe<String> {
        AssertSqlSafe(self.prefix.apply(template))
    }

    async fn begin(&self) -> StoreResult<sqlx::Transaction<'static, Postgres>> {
        self.pool.begin().await.map_err(driver_error)
    }

    /// A transaction whose commit does not wait for its WAL to reach the disk
    /// (`synchronous_commit = off` for it alone), for the schedule leases and releases.
    ///
    /// Safe because nothing acts on their effects durably without a later synchronous
    /// commit, which flushes all earlier WAL first: a node starts a job only after its
    /// acquisition committed synchronously, so a job that started always has its schedule
    /// release on disk. A server crash can lose at most the last few hundred milliseconds
    /// of schedule leases and releases whose jobs never started; the schedules then fall
    /// back to their earlier state (a lease that expires, the same fire times still due)
    /// and are processed again: no fire time is lost or doubled. It takes one fsync wait
    /// out of every fire time's path to its job, which is what lets schedule lateness
    /// stay low when the disk is slow.
    async fn begin_without_flush(&self) -> StoreResult<sqlx::Transaction<'static, Postgres>> {
        let mut tx = self.begin().await?;
        sqlx::query("SET LOCAL synchronous_commit = off")
            .execute(&mut *tx)
            .await
            .map_err(driver_error)?;
        Ok(tx)
    }

    async fn fetch_task(&self, conn: &mut PgConnection, id: &TaskId) -> StoreResult<Option<Task>> {
        let sql = format!("SELECT {TASK_COLUMNS} FROM {{p}}tasks WHERE id = $1");
        let row = sqlx::query(self.sql(&sql))
            .bind(id.as_str())
            .fetch_optional(conn)
            .await
            .map_err(driver_error)?;
        row.as_ref().map(rows::task).transpose()
    }

    async fn insert_schedule(&self, conn: &mut PgConnection, s: &Schedule) -> StoreResult<()> {
        let sql = format!(
            "INSERT INTO {{p}}schedules ({SCHEDULE_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        );
        sqlx::query(self.sql(&sql))
            .bind(s.id.as_str())
            .bind(s.task_id.as_str())
            .bind(Json(&s.trigger))
            .bind(Json(&s.args))
            .bind(Json(&s.kwargs))
            .bind(s.paused)
            .bind(s.coalesce.as_str())
            .bind(codec::duration_micros_opt(s.misfire_grace_time))
            .bind(codec::duration_micros_opt(s.max_jitter))
            .bind(codec::duration_micros(s.job_result_expiration_time))
            .bind(Json(&s.metadata))
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
    async fn insert_jobs(&self, conn: &mut PgConnection, jobs: &[Job]) -> StoreResult<Vec<JobId>> {
        let mut inserted = Vec::with_capacity(jobs.len());
        for chunk in jobs.chunks(ROWS_PER_INSERT) {
            let mut arrays = rows::JobArrays::default();
            for job in chunk {
                arrays.push(rows::EncodedJob::new(job)?);
            }
            // One statement text for any number of rows: prepared once per connection.
            let sql = format!(
                "INSERT INTO {{p}}jobs ({JOB_COLUMNS}, ready_at) \
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::jsonb[], $4::jsonb[], \
                   $5::text[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], \
                   $10::bigint[], $11::jsonb[], $12::bigint[], $13::bigint[], $14::bigint[], \
                   $15::text[], $16::bigint[], $17::bigint[], $18::bigint[]) \
                 ON CONFLICT (schedule_id, scheduled_fire_time) WHERE schedule_id IS NOT NULL \
                 DO NOTHING RETURNING id"
            );
            let ids: Vec<String> = sqlx::query_scalar(self.sql(&sql))
                .bind(arrays.id)
                .bind(arrays.task_id)
                .bind(arrays.args)
                .bind(arrays.kwargs)
                .bind(arrays.schedule_id)
                .bind(arrays.scheduled_fire_time)
                .bind(arrays.jitter_us)
                .bind(arrays.start_deadline)
                .bind(arrays.not_before)
                .bind(arrays.result_expiration_time_us)
                .bind(arrays.metadata)
                .bind(arrays.created_at)
                .bind(arrays.attempt)
                .bind(arrays.started_at)
                .bind(arrays.acquired_by)
                .bind(arrays.acquired_until)
                .bind(arrays.lease_token)
                .bind(arrays.ready_at)
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

    /// The `INSERT` of a result row from `$1…$10`, replacing an older one of the job.
    fn result_insert(&self) -> String {
        self.prefix.apply(&format!(
            "INSERT INTO {{p}}results ({RESULT_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (job_id) DO UPDATE SET task_id = EXCLUDED.task_id, \
               schedule_id = EXCLUDED.schedule_id, outcome = EXCLUDED.outcome, \
               attempt = EXCLUDED.attempt, started_at = EXCLUDED.started_at, \
               finished_at = EXCLUDED.finished_at, expires_at = EXCLUDED.expires_at, \
               error = EXCLUDED.error, return_value = EXCLUDED.return_value \
             RETURNING job_id"
        ))
    }

    /// Binds a result as `$1…$10` of [`PostgresStore::result_insert`].
    fn bind_result<'q>(
        query: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
        result: &JobResult,
    ) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
        query
            .bind(result.job_id.to_string())
            .bind(result.task_id.to_string())
            .bind(result.schedule_id.as_ref().map(ToString::to_string))
            .bind(result.outcome.as_str())
            .bind(i64::from(result.attempt))
            .bind(micros_opt(result.started_at))
            .bind(micros(result.finished_at))
            .bind(micros(result.expires_at))
            .bind(result.error.clone())
            .bind(result.return_value.clone().map(Json))
    }

    async fn store_result(&self, conn: &mut PgConnection, result: &JobResult) -> StoreResult<()> {
        if !result.should_store() {
            return Ok(());
        }
        let sql = self.result_insert();
        Self::bind_result(sqlx::query(AssertSqlSafe(sql)), result)
            .execute(conn)
            .await
            .map_err(driver_error)?;
        Ok(())
    }

    /// Leases up to `limit` ready jobs until `until` in one call of the acquisition function
    /// (schema migration 2), recording them as started at `started` if given; jobs found
    /// past their start deadline are finished as `missed_start_deadline` instead.
    async fn acquire(
        &self,
        node: &str,
        lease: Duration,
        limit: usize,
        now: Timestamp,
        started: Option<Timestamp>,
    ) -> StoreResult<JobBatch> {
        let wanted = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = sqlx::query(self.sql("SELECT * FROM {p}acquire_jobs($1, $2, $3, $4, $5, $6)"))
            .bind(node)
            .bind(micros(add(now, lease)))
            .bind(micros(now))
            .bind(wanted.saturating_mul(4).max(16))
            .bind(wanted)
            .bind(micros_opt(started))
            .fetch_all(&self.pool)
            .await
            .map_err(driver_error)?;
        self.vacuums.jobs_changed(rows.len());
        let (mut batch, missed) = split_missed(rows::jobs_in_queue_order(&rows)?, now);
        if !missed.is_empty() {
            let lost = self.release_batch(node, &missed).await?;
            record_missed(&mut batch, missed, &lost);
        }
        Ok(batch)
    }

    /// Releases a batch in one transaction, each job fenced by `node` and its lease token;
    /// returns the ids `node` no longer held, in batch order.
    async fn release_batch(
        &self,
        node: &str,
        releases: &[JobReleaseRequest],
    ) -> StoreResult<Vec<JobId>> {
        let mut held = HashSet::with_capacity(releases.len());
        let mut tx = self.begin().await?;
        // In id order, so the whole batch locks its rows in id order.
        let mut firsts = first_releases(releases);
        firsts.sort_by_key(|request| request.id);
        for chunk in firsts.chunks(ROWS_PER_RELEASE) {
            held.extend(self.release_chunk(&mut tx, node, chunk).await?);
        }
        tx.commit().await.map_err(driver_error)?;
        self.vacuums.jobs_changed(held.len());
        Ok(settle_releases(releases, &held).0)
    }

    /// Releases distinct jobs in one statement: the fenced deletes (finished) and updates
    /// (retried) over the batch's arrays feed the insert of the results that ask to be kept,
    /// so a result is written only when its release is accepted. Returns the jobs released.
    async fn release_chunk(
        &self,
        conn: &mut PgConnection,
        node: &str,
        releases: &[&JobReleaseRequest],
    ) -> StoreResult<Vec<JobId>> {
        let ids: Vec<String> = releases.iter().map(|r| r.id.to_string()).collect();
        let tokens: Vec<i64> = releases
            .iter()
            .map(|r| codec::token(r.lease_token))
            .collect();
        let retry_at: Vec<Option<i64>> = releases
            .iter()
            .map(|r| match &r.release {
                JobRelease::Retry { at, .. } => Some(micros(*at)),
                JobRelease::Finish(_) => None,
            })
            .collect();
        let kept: Vec<&JobResult> = releases
            .iter()
            .map(|r| release_result(&r.release))
            .filter(|result| result.should_store())
            .collect();
        // The fenced rows are locked first, one index lookup each in the batch's order (by
        // id, as lease extension locks them, so the two never deadlock); the changes then
        // find them by id, a plan that holds whatever the table's statistics say.
        let changes = "WITH v AS (SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::bigint[]) \
               AS v(id, token, retry_at)), \
             held AS (SELECT h.id, v.retry_at FROM v CROSS JOIN LATERAL (SELECT j.id \
               FROM {p}jobs j WHERE j.id = v.id AND j.acquired_by = $4 \
               AND j.lease_token = v.token FOR UPDATE) h), \
             finished AS (DELETE FROM {p}jobs j \
               WHERE j.id = ANY(ARRAY(SELECT id FROM held WHERE retry_at IS NULL)) \
               RETURNING j.id), \
             retried AS (UPDATE {p}jobs j SET attempt = j.attempt + 1, started_at = NULL, \
               acquired_by = NULL, acquired_until = NULL, not_before = h.retry_at, \
               ready_at = GREATEST(j.created_at, h.retry_at) FROM held h WHERE j.id = h.id \
               AND j.id = ANY(ARRAY(SELECT id FROM held WHERE retry_at IS NOT NULL)) \
               RETURNING j.id), \
             released AS (SELECT id FROM finished UNION ALL SELECT id FROM retried)";
        let sql = if kept.is_empty() {
            format!("{changes} SELECT id FROM released")
        } else {
            format!(
                "{changes}, kept AS (INSERT INTO {{p}}results ({RESULT_COLUMNS}) \
                   SELECT r.* FROM UNNEST($5::text[], $6::text[], $7::text[], $8::text[], \
                     $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::text[], \
                     $14::jsonb[]) AS r({RESULT_COLUMNS}) \
                   JOIN released ON released.id = r.job_id \
                   ON CONFLICT (job_id) DO UPDATE SET task_id = EXCLUDED.task_id, \
                     schedule_id = EXCLUDED.schedule_id, outcome = EXCLUDED.outcome, \
                     attempt = EXCLUDED.attempt, started_at = EXCLUDED.started_at, \
                     finished_at = EXCLUDED.finished_at, expires_at = EXCLUDED.expires_at, \
                     error = EXCLUDED.error, return_value = EXCLUDED.return_value) \
                 SELECT id FROM released"
            )
        };
        let mut query = sqlx::query_scalar::<_, String>(self.sql(&sql))
            .bind(ids)
            .bind(tokens)
            .bind(retry_at)
            .bind(node);
        if !kept.is_empty() {
            query = query
                .bind(
                    kept.iter()
                        .map(|r| r.job_id.to_string())
                        .collect::<Vec<_>>(),
                )
                .bind(
                    kept.iter()
                        .map(|r| r.task_id.to_string())
                        .collect::<Vec<_>>(),
                )
                .bind(
                    kept.iter()
                        .map(|r| r.schedule_id.as_ref().map(ToString::to_string))
                        .collect::<Vec<_>>(),
                )
                .bind(kept.iter().map(|r| r.outcome.as_str()).collect::<Vec<_>>())
                .bind(
                    kept.iter()
                        .map(|r| i64::from(r.attempt))
                        .collect::<Vec<_>>(),
                )
                .bind(
                    kept.iter()
                        .map(|r| micros_opt(r.started_at))
                        .collect::<Vec<_>>(),
                )
                .bind(
                    kept.iter()
                        .map(|r| micros(r.finished_at))
                        .collect::<Vec<_>>(),
                )
                .bind(
                    kept.iter()
                        .map(|r| micros(r.expires_at))
                        .collect::<Vec<_>>(),
                )
                .bind(kept.iter().map(|r| r.error.clone()).collect::<Vec<_>>())
                .bind(
                    kept.iter()
                        .map(|r| r.return_value.clone().map(Json))
                        .collect::<Vec<_>>(),
                );
        }
        let released = query.fetch_all(conn).await.map_err(driver_error)?;
        released
            .iter()
            .map(|id| codec::parse("jobs.id", id))
            .collect()
    }

    async fn reap_in(&self, conn: &mut PgConnection, now: Timestamp) -> StoreResult<Vec<Reaped>> {
        // Never-started jobs whose lease expired are simply free again (invariant 8).
        sqlx::query(self.sql(
            "UPDATE {p}jobs SET acquired_by = NULL, acquired_until = NULL \
             WHERE acquired_until < $1 AND started_at IS NULL",
        ))
        .bind(micros(now))
        .execute(&mut *conn)
        .await
        .map_err(driver_error)?;
        // Rows another node is reaping right now are skipped: each is handled once.
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM {{p}}jobs WHERE acquired_until < $1 \
             ORDER BY acquired_until FOR UPDATE SKIP LOCKED"
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
            let result = abandoned(&job, now);
            self.store_result(conn, &result).await?;
            match reaped_retry_delay(task, &job) {
                Some(delay) => {
                    sqlx::query(self.sql(
                        "UPDATE {p}jobs SET attempt = attempt + 1, started_at = NULL, \
                         acquired_by = NULL, acquired_until = NULL, not_before = $1, \
                         ready_at = GREATEST(created_at, $1) WHERE id = $2",
                    ))
                    .bind(micros(add(now, delay)))
                    .bind(job.id.to_string())
                    .execute(&mut *conn)
                    .await
                    .map_err(driver_error)?;
                    reaped.push(Reaped::Requeued {
                        job: job.id,
                        task_id: job.task_id.clone(),
                        attempt: job.attempt + 1,
                    });
                }
                None => {
                    sqlx::query(self.sql("DELETE FROM {p}jobs WHERE id = $1"))
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

impl DataStore for PostgresStore {
    fn put_task(&self, task: Task) -> BoxFuture<'_, StoreResult<bool>> {
        Box::pin(async move {
            task.validate()
                .map_err(|e| StoreError::Invalid(e.to_string()))?;
            let sql = format!(
                "INSERT INTO {{p}}tasks ({TASK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (id) DO UPDATE SET executor = EXCLUDED.executor, \
                   max_running_jobs = EXCLUDED.max_running_jobs, \
                   misfire_grace_time_us = EXCLUDED.misfire_grace_time_us, \
                   retry = EXCLUDED.retry, timeout_us = EXCLUDED.timeout_us, \
                   metadata = EXCLUDED.metadata, action = EXCLUDED.action \
                 RETURNING (xmax = 0) AS inserted"
            );
            let inserted: bool = sqlx::query_scalar(self.sql(&sql))
                .bind(task.id.as_str())
                .bind(task.executor.as_str())
                .bind(task.max_running_jobs.map(i64::from))
                .bind(codec::duration_micros_opt(task.misfire_grace_time))
                .bind(task.retry.as_ref().map(Json))
                .bind(codec::duration_micros_opt(task.timeout))
                .bind(Json(&task.metadata))
                .bind(task.action.as_ref().map(Json))
                .fetch_one(&self.pool)
                .await
                .map_err(driver_error)?;
            Ok(inserted)
        })
    }

    fn remove_task<'a>(&'a self, id: &'a TaskId) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            let done = sqlx::query(self.sql("DELETE FROM {p}tasks WHERE id = $1"))
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
            let exists: Option<i32> =
                sqlx::query_scalar(self.sql("SELECT 1 FROM {p}schedules WHERE id = $1 FOR UPDATE"))
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
                    sqlx::query(self.sql("DELETE FROM {p}schedules WHERE id = $1"))
                        .bind(schedule.id.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(driver_error)?;
                    AddScheduleOutcome::Replaced
                }
            };
            match self.insert_schedule(&mut tx, &schedule).await {
                Ok(()) => {}
                // Another node added the same id between our check and insert.
                Err(_) if outcome == AddScheduleOutcome::Added => {
                    tx.rollback().await.map_err(driver_error)?;
                    return match policy {
                        ConflictPolicy::Exception => Err(StoreError::Conflict {
                            kind: ObjectKind::Schedule,
                            id: schedule.id.to_string(),
                        }),
                        _ => Ok(AddScheduleOutcome::Kept),
                    };
                }
                Err(error) => return Err(error),
            }
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
                "UPDATE {{p}}schedules SET paused = $1, trigger_state = COALESCE($2, trigger_state), \
                 next_fire_time = CASE WHEN $3 THEN $4 ELSE next_fire_time END \
                 WHERE id = $5 RETURNING {SCHEDULE_COLUMNS}"
            );
            let (trigger, replace, next_fire_time) = match &next {
                Some((trigger, at)) => (Some(Json(trigger)), true, micros_opt(*at)),
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
            let sql = format!(
                "DELETE FROM {{p}}schedules WHERE id = ANY($1) RETURNING {SCHEDULE_COLUMNS}"
            );
            let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
            let removed = sqlx::query(self.sql(&sql))
                .bind(ids)
                .fetch_all(&self.pool)
                .await
                .map_err(driver_error)?;
            removed.iter().map(rows::schedule).collect()
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
            let sql = format!(
                "UPDATE {{p}}schedules SET acquired_by = $1, acquired_until = $2 \
                 WHERE id = ANY(ARRAY(SELECT id FROM {{p}}schedules \
                   WHERE NOT paused AND next_fire_time <= $3 \
                     AND (acquired_by IS NULL OR acquired_until < $3) \
                   ORDER BY next_fire_time LIMIT $4 FOR UPDATE SKIP LOCKED)) \
                 RETURNING {SCHEDULE_COLUMNS}"
            );
            let mut tx = self.begin_without_flush().await?;
            let acquired = sqlx::query(self.sql(&sql))
                .bind(node)
                .bind(micros(add(now, lease)))
                .bind(micros(now))
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .fetch_all(&mut *tx)
                .await
                .map_err(driver_error)?;
            tx.commit().await.map_err(driver_error)?;
            self.vacuums.schedules_changed(acquired.len());
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
            let mut ids = Vec::with_capacity(releases.len());
            let mut triggers = Vec::with_capacity(releases.len());
            let mut next = Vec::with_capacity(releases.len());
            let mut last = Vec::with_capacity(releases.len());
            for release in &releases {
                ids.push(release.schedule_id.to_string());
                triggers.push(Json(
                    serde_json::to_value(&release.trigger)
                        .map_err(|e| StoreError::Serialization(e.to_string()))?,
                ));
                next.push(micros_opt(release.next_fire_time));
                last.push(micros_opt(release.last_fire_time));
            }
            let mut tx = self.begin_without_flush().await?;
            let released: Vec<String> = sqlx::query_scalar(self.sql(
                "UPDATE {p}schedules s SET trigger_state = v.trigger, next_fire_time = v.next, \
                   last_fire_time = v.last, acquired_by = NULL, acquired_until = NULL \
                 FROM UNNEST($1::text[], $2::jsonb[], $3::bigint[], $4::bigint[]) \
                   AS v(id, trigger, next, last) \
                 WHERE s.id = v.id AND s.acquired_by = $5 RETURNING s.id",
            ))
            .bind(ids)
            .bind(triggers)
            .bind(next)
            .bind(last)
            .bind(node)
            .fetch_all(&mut *tx)
            .await
            .map_err(driver_error)?;
            self.vacuums.schedules_changed(released.len());
            let released: HashSet<String> = released.into_iter().collect();
            let mut report = ScheduleReleaseReport::default();
            let mut jobs = Vec::new();
            for release in releases {
                if released.contains(release.schedule_id.as_str()) {
                    jobs.extend(release.jobs);
                    report.released.push(release.schedule_id);
                } else {
                    report.lost.push(release.schedule_id);
                }
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
                // A leased schedule is due (it was acquired at or after its next fire
                // time), so it can only come before the earliest unleased one in the
                // due-schedules index: that prefix holds every candidate.
                "SELECT MIN(CASE WHEN acquired_by IS NULL THEN next_fire_time \
                   ELSE GREATEST(next_fire_time, acquired_until) END) \
                 FROM {p}schedules \
                 WHERE NOT paused AND next_fire_time IS NOT NULL AND next_fire_time <= COALESCE( \
                   (SELECT MIN(next_fire_time) FROM {p}schedules \
                     WHERE NOT paused AND acquired_by IS NULL AND next_fire_time IS NOT NULL), \
                   9223372036854775807)",
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
            let mut conn = self.pool.acquire().await.map_err(driver_error)?;
            if jobs.len() <= ROWS_PER_INSERT {
                // One statement: atomic without a transaction.
                return self.insert_jobs(&mut conn, &jobs).await;
            }
            let mut tx = self.begin().await?;
            let added = self.insert_jobs(&mut tx, &jobs).await?;
            tx.commit().await.map_err(driver_error)?;
            Ok(added)
        })
    }

    fn get_job<'a>(&'a self, id: &'a JobId) -> BoxFuture<'a, StoreResult<Option<Job>>> {
        Box::pin(async move {
            let sql = format!("SELECT {JOB_COLUMNS} FROM {{p}}jobs WHERE id = $1");
            let row = sqlx::query(self.sql(&sql))
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(driver_error)?;
            row.as_ref().map(rows::job).transpose()
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
        Box::pin(self.acquire(node, lease, limit, now, None))
    }

    fn acquire_and_start_jobs<'a>(
        &'a self,
        node: &'a str,
        lease: Duration,
        limit: usize,
        now: Timestamp,
    ) -> BoxFuture<'a, StoreResult<JobBatch>> {
        Box::pin(self.acquire(node, lease, limit, now, Some(now)))
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
                "UPDATE {{p}}jobs SET started_at = COALESCE(started_at, $1) \
                 WHERE id = $2 AND acquired_by = $3 AND lease_token = $4 AND acquired_until >= $1 \
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
            let mut lost = Vec::new();
            if !jobs.is_empty() {
                // Locked first in id order, as releases lock them (the two never deadlock).
                let mut jobs = jobs.to_vec();
                jobs.sort_unstable();
                let ids: Vec<String> = jobs.iter().map(|(id, _)| id.to_string()).collect();
                let tokens: Vec<i64> = jobs.iter().map(|(_, t)| codec::token(*t)).collect();
                let kept: Vec<String> = sqlx::query_scalar(self.sql(
                    "WITH held AS (SELECT h.id FROM UNNEST($2::text[], $3::bigint[]) AS v(id, token) \
                       CROSS JOIN LATERAL (SELECT j.id FROM {p}jobs j WHERE j.id = v.id \
                       AND j.lease_token = v.token AND j.acquired_by = $4 FOR UPDATE) h) \
                     UPDATE {p}jobs j SET acquired_until = $1 \
                     WHERE j.id = ANY(ARRAY(SELECT id FROM held)) RETURNING j.id",
                ))
                .bind(micros(until))
                .bind(ids)
                .bind(tokens)
                .bind(node)
                .fetch_all(&self.lease_pool)
                .await
                .map_err(driver_error)?;
                self.vacuums.jobs_changed(kept.len());
                let kept: HashSet<String> = kept.into_iter().collect();
                lost.extend(
                    jobs.iter()
                        .map(|(id, _)| *id)
                        .filter(|id| !kept.contains(&id.to_string())),
                );
            }
            if !schedules.is_empty() {
                let ids: Vec<String> = schedules.iter().map(ToString::to_string).collect();
                sqlx::query(self.sql(
                    "UPDATE {p}schedules SET acquired_until = $1 \
                     WHERE id = ANY($2) AND acquired_by = $3",
                ))
                .bind(micros(until))
                .bind(ids)
                .bind(node)
                .execute(&self.lease_pool)
                .await
                .map_err(driver_error)?;
            }
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
                .record_node(&self.prefix, &node, "INSERT", UPSERT_NODE)
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
            let expired = sqlx::query(self.sql("DELETE FROM {p}results WHERE expires_at <= $1"))
                .bind(micros(now))
                .execute(&self.pool)
                .await
                .map_err(driver_error)?;
            let finished = sqlx::query(self.sql(
                "DELETE FROM {p}schedules s WHERE s.next_fire_time IS NULL \
                   AND s.acquired_by IS NULL \
                   AND NOT EXISTS (SELECT 1 FROM {p}jobs j WHERE j.schedule_id = s.id) \
                 RETURNING s.id, s.task_id",
            ))
            .fetch_all(&self.pool)
            .await
            .map_err(driver_error)?;
            // `last_heartbeat + lease + retention <= now`, arranged so no sum can overflow.
            let dead = sqlx::query(
                self.sql("DELETE FROM {p}nodes WHERE lease_duration_us <= $1 - last_heartbeat"),
            )
            .bind(dead_node_bound(now))
            .execute(&self.pool)
            .await
            .map_err(driver_error)?;
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
