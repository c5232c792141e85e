//! Handing out and giving back jobs, with as few statements as SQLite allows: acquisition
//! (optionally starting the jobs) is one statement, and a batch of releases one fenced
//! statement per kind of release plus one for the results to keep.

use std::collections::HashSet;
use std::time::Duration;

use horae::model::{JobId, JobResult};
use horae::store::{JobBatch, JobRelease, JobReleaseRequest, StoreResult};
use jiff::Timestamp;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::{ROWS_PER_INSERT, SqliteStore};
use crate::codec::{self, driver_error, micros};
use crate::common::{
    add, first_releases, record_missed, release_keeps_result, requeue_assignments, settle_releases,
    split_missed,
};
use crate::rows::{self, JOB_COLUMNS};

/// The most releases one fenced `DELETE` or `UPDATE` carries: a retry binds three values
/// (id, token, time) and the statement one (the node), within SQLite's 32,766.
const RELEASES_PER_STATEMENT: usize = (32_766 - 1) / 3;

impl SqliteStore {
    /// Leases up to `limit` ready jobs in one statement: never-started jobs whose lease
    /// expired count as ready, tasks at their `max_running_jobs` are skipped, and within the
    /// batch no task gets more jobs than it has free places. With `start`, the same
    /// statement records the jobs as started at `now`. Jobs found past their start deadline
    /// (never started) are then finished as `missed_start_deadline`.
    pub(super) async fn acquire_jobs_in(
        &self,
        node: &str,
        lease: Duration,
        limit: usize,
        now: Timestamp,
        start: bool,
    ) -> StoreResult<JobBatch> {
        // `queued`: the tasks with unleased jobs, by a loose scan of the queue index;
        // `places`: how many more jobs each may start; `candidates`: each task's oldest
        // ready jobs (rowid lookups through the index) and never-started jobs whose lease
        // expired. The oldest candidates within each task's places are leased.
        let sql = format!(
            "WITH RECURSIVE queued(task_id) AS ( \
               SELECT (SELECT task_id FROM {{p}}jobs WHERE acquired_by IS NULL \
                 ORDER BY task_id LIMIT 1) \
               UNION ALL \
               SELECT (SELECT j.task_id FROM {{p}}jobs j \
                 WHERE j.acquired_by IS NULL AND j.task_id > q.task_id \
                 ORDER BY j.task_id LIMIT 1) \
               FROM queued q WHERE q.task_id IS NOT NULL), \
             places AS ( \
               SELECT q.task_id, MIN(?5, COALESCE(t.max_running_jobs - ( \
                 SELECT COUNT(*) FROM {{p}}jobs r WHERE r.task_id = q.task_id \
                   AND r.acquired_by IS NOT NULL \
                   AND NOT (r.started_at IS NULL AND r.acquired_until < ?3)), ?5)) AS free \
               FROM queued q LEFT JOIN {{p}}tasks t ON t.id = q.task_id \
               WHERE q.task_id IS NOT NULL), \
             candidates AS ( \
               SELECT j.seq, j.task_id, j.ready_at FROM places p, {{p}}jobs j \
               WHERE p.free > 0 AND j.seq IN (SELECT j2.seq FROM {{p}}jobs j2 \
                 WHERE j2.task_id = p.task_id AND j2.acquired_by IS NULL AND j2.ready_at <= ?3 \
                 ORDER BY j2.ready_at, j2.seq LIMIT ?5) \
               UNION ALL \
               SELECT * FROM (SELECT seq, task_id, ready_at FROM {{p}}jobs \
                 WHERE started_at IS NULL AND acquired_until < ?3 AND ready_at <= ?3 \
                 ORDER BY acquired_until LIMIT ?4)), \
             ranked AS ( \
               SELECT c.seq, c.ready_at, \
                 ROW_NUMBER() OVER (PARTITION BY c.task_id ORDER BY c.ready_at, c.seq) AS n, \
                 COALESCE((SELECT p.free FROM places p WHERE p.task_id = c.task_id), ?5) AS free \
               FROM candidates c) \
             UPDATE {{p}}jobs SET lease_token = lease_token + 1, acquired_by = ?1, \
               acquired_until = ?2, started_at = CASE WHEN ?6 \
                 AND (start_deadline IS NULL OR start_deadline >= ?3) \
                 THEN COALESCE(started_at, ?3) ELSE started_at END \
             WHERE seq IN (SELECT seq FROM ranked WHERE n <= free ORDER BY ready_at, seq LIMIT ?5) \
             RETURNING {JOB_COLUMNS}, ready_at, seq"
        );
        let until = add(now, lease);
        let wanted = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = sqlx::query(self.sql(&sql))
            .bind(node)
            .bind(micros(until))
            .bind(micros(now))
            .bind(wanted.saturating_mul(4).max(16))
            .bind(wanted)
            .bind(start)
            .fetch_all(&self.pool)
            .await
            .map_err(driver_error)?;
        let (mut batch, missed) = split_missed(rows::jobs_in_queue_order(&rows)?, now);
        if !missed.is_empty() {
            let lost = self.release_batch(node, &missed).await?;
            record_missed(&mut batch, missed, &lost);
        }
        Ok(batch)
    }

    /// Releases a batch, each job fenced by `node` and its lease token; returns the ids
    /// `node` no longer held, in batch order (nothing is written for those). Per chunk of
    /// [`RELEASES_PER_STATEMENT`], one `DELETE ... RETURNING` removes the finished jobs and
    /// one `UPDATE ... RETURNING` re-queues the retried ones, each telling which rows were
    /// held; multi-row `REPLACE`s then store the results those keep. A batch that takes a
    /// single statement runs without a transaction (it is atomic alone); any other runs in
    /// one `BEGIN IMMEDIATE` transaction.
    pub(super) async fn release_batch(
        &self,
        node: &str,
        releases: &[JobReleaseRequest],
    ) -> StoreResult<Vec<JobId>> {
        if releases.is_empty() {
            return Ok(Vec::new());
        }
        let (finished, retried): (Vec<_>, Vec<_>) = first_releases(releases)
            .into_iter()
            .partition(|request| matches!(request.release, JobRelease::Finish(_)));
        let statements = finished.len().div_ceil(RELEASES_PER_STATEMENT)
            + retried.len().div_ceil(RELEASES_PER_STATEMENT);
        let keeps_results = releases
            .iter()
            .any(|request| release_keeps_result(&request.release));
        let mut held = HashSet::with_capacity(releases.len());
        if statements == 1 && !keeps_results {
            let mut conn = self.pool.acquire().await.map_err(driver_error)?;
            self.finish_held(&mut conn, node, &finished, &mut held)
                .await?;
            self.requeue_held(&mut conn, node, &retried, &mut held)
                .await?;
            return Ok(settle_releases(releases, &held).0);
        }
        let mut tx = self.begin().await?;
        self.finish_held(&mut tx, node, &finished, &mut held)
            .await?;
        self.requeue_held(&mut tx, node, &retried, &mut held)
            .await?;
        let (lost, kept) = settle_releases(releases, &held);
        self.store_results(&mut tx, &kept).await?;
        tx.commit().await.map_err(driver_error)?;
        Ok(lost)
    }

    /// Deletes the finished jobs `node` holds with the request's token; adds their ids to
    /// `held`.
    async fn finish_held(
        &self,
        conn: &mut SqliteConnection,
        node: &str,
        finished: &[&JobReleaseRequest],
        held: &mut HashSet<JobId>,
    ) -> StoreResult<()> {
        for chunk in finished.chunks(RELEASES_PER_STATEMENT) {
            let mut delete = QueryBuilder::<Sqlite>::new("WITH v(job, token) AS (");
            delete.push_values(chunk, |mut row, request| {
                row.push_bind(request.id.to_string())
                    .push_bind(codec::token(request.lease_token));
            });
            delete.push(self.prefix.apply(
                ") DELETE FROM {p}jobs WHERE (id, lease_token) IN (SELECT job, token FROM v) \
                 AND acquired_by = ",
            ));
            delete.push_bind(node).push(" RETURNING id");
            collect_held(conn, delete, held).await?;
        }
        Ok(())
    }

    /// Queues the retried jobs `node` holds with the request's token again as their next
    /// attempt, each not before its own time; adds their ids to `held`.
    async fn requeue_held(
        &self,
        conn: &mut SqliteConnection,
        node: &str,
        retried: &[&JobReleaseRequest],
        held: &mut HashSet<JobId>,
    ) -> StoreResult<()> {
        for chunk in retried.chunks(RELEASES_PER_STATEMENT) {
            let mut update = QueryBuilder::<Sqlite>::new("WITH v(job, token, at) AS (");
            update.push_values(chunk, |mut row, request| {
                let at = match &request.release {
                    JobRelease::Retry { at, .. } => Some(micros(*at)),
                    JobRelease::Finish(_) => None,
                };
                row.push_bind(request.id.to_string())
                    .push_bind(codec::token(request.lease_token))
                    .push_bind(at);
            });
            update.push(self.prefix.apply(&format!(
                ") UPDATE {{p}}jobs SET {} FROM v \
                 WHERE id = v.job AND lease_token = v.token AND acquired_by = ",
                requeue_assignments("v.at", "MAX")
            )));
            update.push_bind(node).push(" RETURNING id");
            collect_held(conn, update, held).await?;
        }
        Ok(())
    }

    /// Stores the results that ask to be kept, replacing older ones for the same jobs.
    pub(super) async fn store_results(
        &self,
        conn: &mut SqliteConnection,
        results: &[&JobResult],
    ) -> StoreResult<()> {
        for mut replace in rows::replace_results::<Sqlite>(&self.prefix, results, ROWS_PER_INSERT) {
            replace
                .build()
                .execute(&mut *conn)
                .await
                .map_err(driver_error)?;
        }
        Ok(())
    }
}

/// Runs a fenced statement returning the ids of the rows `node` held; adds them to `held`.
async fn collect_held(
    conn: &mut SqliteConnection,
    mut statement: QueryBuilder<Sqlite>,
    held: &mut HashSet<JobId>,
) -> StoreResult<()> {
    let ids: Vec<String> = statement
        .build_query_scalar()
        .fetch_all(&mut *conn)
        .await
        .map_err(driver_error)?;
    for id in ids {
        held.insert(codec::parse("id", &id)?);
    }
    Ok(())
}
