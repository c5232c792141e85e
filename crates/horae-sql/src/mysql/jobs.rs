//! Writing jobs and results: inserting jobs in batches, starting, releasing (fenced by
//! node and lease token), re-queueing and extending leases.

use std::collections::{HashMap, HashSet};

use horae::model::{Job, JobId, JobResult, ScheduleId};
use horae::store::{JobRelease, JobReleaseRequest, StoreResult};
use jiff::Timestamp;
use sqlx::mysql::MySqlConnection;
use sqlx::{MySql, QueryBuilder, Row};

use super::{BATCH, MysqlStore, marks};
use crate::codec::{self, driver_error, micros};
use crate::common::{first_releases, lease_lost, requeue_assignments, settle_releases};
use crate::rows::{self, JOB_COLUMNS};

impl MysqlStore {
    /// Inserts jobs with multi-row statements, skipping any whose id or `(schedule, fire
    /// time)` is already taken; returns the ids inserted, in order.
    pub(super) async fn insert_jobs(
        &self,
        conn: &mut MySqlConnection,
        jobs: &[Job],
    ) -> StoreResult<Vec<JobId>> {
        let mut inserted = Vec::with_capacity(jobs.len());
        let mut reported = HashSet::new();
        for chunk in jobs.chunks(BATCH) {
            let ids: Vec<String> = chunk.iter().map(|job| job.id.to_string()).collect();
            // A job added again (e.g. a retried call that had committed) is not new.
            let existing = self.existing_job_ids(conn, &ids).await?;
            let fresh: Vec<&Job> = chunk
                .iter()
                .zip(&ids)
                .filter(|(_, id)| !existing.contains(*id))
                .map(|(job, _)| job)
                .collect();
            if fresh.is_empty() {
                continue;
            }
            let encoded = fresh
                .iter()
                .map(|job| rows::EncodedJob::new(job))
                .collect::<StoreResult<Vec<_>>>()?;
            let mut insert = QueryBuilder::<MySql>::new(
                self.prefix
                    .apply(&format!("INSERT INTO {{p}}jobs ({JOB_COLUMNS}, ready_at) ")),
            );
            insert.push_values(&encoded, |mut row, job| job.bind_all(&mut row));
            // A taken fire time (invariant 6) leaves the existing row as it is.
            insert.push(" ON DUPLICATE KEY UPDATE id = id");
            insert
                .build()
                .execute(&mut *conn)
                .await
                .map_err(driver_error)?;
            let fresh_ids: Vec<String> = fresh.iter().map(|job| job.id.to_string()).collect();
            let now_there = self.existing_job_ids(conn, &fresh_ids).await?;
            for job in fresh {
                if now_there.contains(&job.id.to_string()) && reported.insert(job.id) {
                    inserted.push(job.id);
                }
            }
        }
        Ok(inserted)
    }

    /// Which of `ids` (at most [`BATCH`]) are in the jobs table.
    pub(super) async fn existing_job_ids(
        &self,
        conn: &mut MySqlConnection,
        ids: &[String],
    ) -> StoreResult<HashSet<String>> {
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let sql = format!(
            "SELECT id FROM {{p}}jobs WHERE id IN ({})",
            marks(ids.len())
        );
        let mut query = sqlx::query_scalar(self.sql(&sql));
        for id in ids {
            query = query.bind(id);
        }
        let found: Vec<String> = query.fetch_all(conn).await.map_err(driver_error)?;
        Ok(found.into_iter().collect())
    }

    /// Stores the results that ask to be kept, replacing older ones for the same job.
    pub(super) async fn store_results(
        &self,
        conn: &mut MySqlConnection,
        results: &[&JobResult],
    ) -> StoreResult<()> {
        for mut replace in rows::replace_results::<MySql>(&self.prefix, results, BATCH) {
            replace
                .build()
                .execute(&mut *conn)
                .await
                .map_err(driver_error)?;
        }
        Ok(())
    }

    /// Queues a job (already locked by the caller) again as its next attempt, not before
    /// `at`.
    pub(super) async fn requeue(
        &self,
        conn: &mut MySqlConnection,
        id: &JobId,
        at: Timestamp,
    ) -> StoreResult<()> {
        let sql = format!(
            "UPDATE {{p}}jobs SET {} WHERE id = ?",
            requeue_assignments("?", "GREATEST")
        );
        sqlx::query(self.sql(&sql))
            .bind(micros(at))
            .bind(micros(at))
            .bind(id.to_string())
            .execute(conn)
            .await
            .map_err(driver_error)?;
        Ok(())
    }

    /// Releases a batch in one transaction: per chunk of [`BATCH`] jobs, one `SELECT ...
    /// FOR UPDATE` finds the rows `node` holds with the request's token, one `DELETE`
    /// removes the finished ones and one `UPDATE` re-queues the retried ones; then one
    /// `REPLACE` per chunk stores the results that ask to be kept. Returns the ids `node`
    /// no longer held (nothing is written for those).
    pub(super) async fn release_jobs_once(
        &self,
        node: &str,
        releases: &[JobReleaseRequest],
    ) -> StoreResult<Vec<JobId>> {
        if releases.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin().await?;
        let mut held = HashSet::with_capacity(releases.len());
        for chunk in first_releases(releases).chunks(BATCH) {
            let sql = format!(
                "SELECT id, lease_token FROM {{p}}jobs WHERE acquired_by = ? AND id IN ({}) \
                 FOR UPDATE",
                marks(chunk.len())
            );
            let mut select = sqlx::query(self.sql(&sql)).bind(node);
            for request in chunk {
                select = select.bind(request.id.to_string());
            }
            let mut tokens = HashMap::with_capacity(chunk.len());
            for row in select.fetch_all(&mut *tx).await.map_err(driver_error)? {
                let id: String = row.try_get("id").map_err(driver_error)?;
                let token: i64 = row.try_get("lease_token").map_err(driver_error)?;
                tokens.insert(id, token);
            }
            // The held rows stay locked until commit: the writes need no fence of their own.
            let (mut finished, mut retried) = (Vec::new(), Vec::new());
            for request in chunk {
                let id = request.id.to_string();
                if tokens.get(&id) != Some(&codec::token(request.lease_token)) {
                    continue;
                }
                held.insert(request.id);
                match &request.release {
                    JobRelease::Finish(_) => finished.push(id),
                    JobRelease::Retry { at, .. } => retried.push((id, micros(*at))),
                }
            }
            if !finished.is_empty() {
                let sql = format!(
                    "DELETE FROM {{p}}jobs WHERE id IN ({})",
                    marks(finished.len())
                );
                let mut delete = sqlx::query(self.sql(&sql));
                for id in finished {
                    delete = delete.bind(id);
                }
                delete.execute(&mut *tx).await.map_err(driver_error)?;
            }
            if !retried.is_empty() {
                self.requeue_many(&mut tx, retried).await?;
            }
        }
        let (lost, kept) = settle_releases(releases, &held);
        self.store_results(&mut tx, &kept).await?;
        tx.commit().await.map_err(driver_error)?;
        Ok(lost)
    }

    /// Queues jobs (already locked by the caller) again as their next attempt, each not
    /// before its own time (microseconds), with one statement.
    async fn requeue_many(
        &self,
        conn: &mut MySqlConnection,
        jobs: Vec<(String, i64)>,
    ) -> StoreResult<()> {
        // A derived table of (id, time) rows; the id is cast to the column's character set
        // so the join looks the jobs up by primary key.
        let mut update = QueryBuilder::<MySql>::new(self.prefix.apply("UPDATE {p}jobs j JOIN ("));
        let mut rows = update.separated(" UNION ALL ");
        for (id, at) in jobs {
            rows.push("SELECT CAST(")
                .push_bind_unseparated(id)
                .push_unseparated(
                    " AS CHAR(36) CHARACTER SET ascii) COLLATE ascii_bin AS id, CAST(",
                )
                .push_bind_unseparated(at)
                .push_unseparated(" AS SIGNED) AS at");
        }
        update.push(format!(
            ") v ON j.id = v.id SET {}",
            requeue_assignments("v.at", "GREATEST")
        ));
        update
            .build()
            .execute(&mut *conn)
            .await
            .map_err(driver_error)?;
        Ok(())
    }

    pub(super) async fn start_job_once(
        &self,
        node: &str,
        id: &JobId,
        token: u64,
        now: Timestamp,
    ) -> StoreResult<Job> {
        let mut tx = self.begin().await?;
        let sql = format!("SELECT {JOB_COLUMNS} FROM {{p}}jobs WHERE id = ? FOR UPDATE");
        let row = sqlx::query(self.sql(&sql))
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(driver_error)?;
        let mut job = match row.as_ref().map(rows::job).transpose()? {
            Some(job)
                if job.acquired_by.as_deref() == Some(node)
                    && job.lease_token == token
                    && job.acquired_until.is_some_and(|until| until >= now) =>
            {
                job
            }
            _ => {
                tx.rollback().await.map_err(driver_error)?;
                return Err(lease_lost(id));
            }
        };
        if job.started_at.is_none() {
            sqlx::query(self.sql("UPDATE {p}jobs SET started_at = ? WHERE id = ?"))
                .bind(micros(now))
                .bind(id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(driver_error)?;
            job.started_at = Some(now);
        }
        tx.commit().await.map_err(driver_error)?;
        Ok(job)
    }

    pub(super) async fn extend_leases_once(
        &self,
        node: &str,
        jobs: &[(JobId, u64)],
        schedules: &[ScheduleId],
        until: Timestamp,
    ) -> StoreResult<Vec<JobId>> {
        let mut tx = self.begin().await?;
        let mut lost = Vec::new();
        for chunk in jobs.chunks(BATCH) {
            let sql = format!(
                "SELECT id, lease_token FROM {{p}}jobs WHERE acquired_by = ? AND id IN ({}) \
                 FOR UPDATE",
                marks(chunk.len())
            );
            let mut select = sqlx::query(self.sql(&sql)).bind(node);
            for (id, _) in chunk {
                select = select.bind(id.to_string());
            }
            let mut tokens = HashMap::new();
            for row in select.fetch_all(&mut *tx).await.map_err(driver_error)? {
                let id: String = row.try_get("id").map_err(driver_error)?;
                let token: i64 = row.try_get("lease_token").map_err(driver_error)?;
                tokens.insert(id, token);
            }
            let mut held = Vec::new();
            for (id, token) in chunk {
                let id_text = id.to_string();
                if tokens.get(&id_text) == Some(&codec::token(*token)) {
                    held.push(id_text);
                } else {
                    lost.push(*id);
                }
            }
            if held.is_empty() {
                continue;
            }
            let sql = format!(
                "UPDATE {{p}}jobs SET acquired_until = ? WHERE id IN ({})",
                marks(held.len())
            );
            let mut update = sqlx::query(self.sql(&sql)).bind(micros(until));
            for id in held {
                update = update.bind(id);
            }
            update.execute(&mut *tx).await.map_err(driver_error)?;
        }
        for chunk in schedules.chunks(BATCH) {
            let sql = format!(
                "UPDATE {{p}}schedules SET acquired_until = ? WHERE acquired_by = ? AND id IN ({})",
                marks(chunk.len())
            );
            let mut update = sqlx::query(self.sql(&sql)).bind(micros(until)).bind(node);
            for id in chunk {
                update = update.bind(id.as_str());
            }
            update.execute(&mut *tx).await.map_err(driver_error)?;
        }
        tx.commit().await.map_err(driver_error)?;
        Ok(lost)
    }
}
