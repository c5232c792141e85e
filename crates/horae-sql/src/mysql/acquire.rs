//! Handing out work: acquiring schedules and jobs, and reaping jobs whose node died.
//!
//! Each is one transaction that locks the rows it takes with `FOR UPDATE SKIP LOCKED`, so
//! concurrent nodes take disjoint rows without waiting for each other, and then changes
//! exactly the rows it locked.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use horae::model::{Job, JobResult, Schedule, Task};
use horae::store::{JobBatch, Reaped, StoreResult, reaped_retry_delay};
use jiff::Timestamp;
use sqlx::Row;

use super::{BATCH, MysqlStore, marks};
use crate::codec::{driver_error, micros};
use crate::common::{abandoned, add, missed_deadline, past_deadline};
use crate::rows::SCHEDULE_COLUMNS;
use crate::rows::{self, JOB_COLUMNS, TASK_COLUMNS};

/// Tasks at their `max_running_jobs` at `?`. A leased job counts as running unless it never
/// started and its lease expired (it is free to take).
const BLOCKED: &str = "SELECT t.id FROM {p}tasks t WHERE t.max_running_jobs IS NOT NULL \
     AND t.max_running_jobs <= (SELECT COUNT(*) FROM {p}jobs r WHERE r.task_id = t.id \
     AND r.acquired_by IS NOT NULL AND NOT (r.started_at IS NULL AND r.acquired_until < ?))";

impl MysqlStore {
    /// Leases up to `limit` due schedules, earliest first.
    pub(super) async fn acquire_schedules_once(
        &self,
        node: &str,
        lease: Duration,
        limit: usize,
        now: Timestamp,
    ) -> StoreResult<Vec<Schedule>> {
        let limit = limit.min(BATCH);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut tx = self.begin().await?;
        let now_us = micros(now);
        let wanted = limit as i64;
        // Two index range scans: unleased due schedules, and due ones whose lease lapsed.
        let unleased = format!(
            "SELECT {SCHEDULE_COLUMNS} FROM {{p}}schedules \
             WHERE paused = 0 AND acquired_by IS NULL AND next_fire_time <= ? \
             ORDER BY next_fire_time, id LIMIT ? FOR UPDATE SKIP LOCKED"
        );
        let lapsed = format!(
            "SELECT {SCHEDULE_COLUMNS} FROM {{p}}schedules \
             WHERE acquired_until < ? AND paused = 0 AND next_fire_time <= ? \
             ORDER BY next_fire_time, id LIMIT ? FOR UPDATE SKIP LOCKED"
        );
        let mut rows = sqlx::query(self.sql(&unleased))
            .bind(now_us)
            .bind(wanted)
            .fetch_all(&mut *tx)
            .await
            .map_err(driver_error)?;
        rows.extend(
            sqlx::query(self.sql(&lapsed))
                .bind(now_us)
                .bind(now_us)
                .bind(wanted)
                .fetch_all(&mut *tx)
                .await
                .map_err(driver_error)?,
        );
        let mut schedules = rows
            .iter()
            .map(rows::schedule)
            .collect::<StoreResult<Vec<_>>>()?;
        schedules.sort_by(|a, b| (a.next_fire_time, &a.id).cmp(&(b.next_fire_time, &b.id)));
        schedules.truncate(limit);
        if schedules.is_empty() {
            tx.commit().await.map_err(driver_error)?;
            return Ok(schedules);
        }
        let until = add(now, lease);
        let sql = format!(
            "UPDATE {{p}}schedules SET acquired_by = ?, acquired_until = ? WHERE id IN ({})",
            marks(schedules.len())
        );
        let mut update = sqlx::query(self.sql(&sql)).bind(node).bind(micros(until));
        for schedule in &schedules {
            update = update.bind(schedule.id.as_str());
        }
        update.execute(&mut *tx).await.map_err(driver_error)?;
        tx.commit().await.map_err(driver_error)?;
        for schedule in &mut schedules {
            schedule.acquired_by = Some(node.to_owned());
            schedule.acquired_until = Some(until);
        }
        Ok(schedules)
    }

    /// Leases up to `limit` ready jobs, oldest first: never-started jobs whose lease lapsed
    /// count as ready, and no task exceeds its `max_running_jobs` across all nodes. Jobs
    /// found past their start deadline are deleted and finished as `missed_start_deadline`.
    /// With `start`, the jobs leased are also recorded as started at `now`, by the same
    /// statement.
    pub(super) async fn acquire_jobs_once(
        &self,
        node: &str,
        lease: Duration,
        limit: usize,
        now: Timestamp,
        start: bool,
    ) -> StoreResult<JobBatch> {
        let limit = limit.min(BATCH);
        let mut batch = JobBatch::default();
        if limit == 0 {
            return Ok(batch);
        }
        let mut tx = self.begin().await?;
        let now_us = micros(now);
        // Tasks already at their limit are left out of the candidates; this is only a hint
        // (read without locks), the limit is enforced under the task locks below.
        let blocked: Vec<String> = sqlx::query_scalar(self.sql(BLOCKED))
            .bind(now_us)
            .fetch_all(&mut *tx)
            .await
            .map_err(driver_error)?;
        let not_blocked = if blocked.is_empty() {
            String::new()
        } else {
            format!(" AND task_id NOT IN ({})", marks(blocked.len()))
        };
        // A few spare candidates make up for jobs past their deadline or over a limit.
        let window = i64::try_from(limit.saturating_mul(2).max(16)).unwrap_or(i64::MAX);
        let ready = format!(
            "SELECT {JOB_COLUMNS}, ready_at, seq FROM {{p}}jobs \
             WHERE acquired_by IS NULL AND ready_at <= ?{not_blocked} \
             ORDER BY ready_at, seq LIMIT ? FOR UPDATE SKIP LOCKED"
        );
        let lapsed = format!(
            "SELECT {JOB_COLUMNS}, ready_at, seq FROM {{p}}jobs \
             WHERE acquired_until < ? AND started_at IS NULL AND ready_at <= ?{not_blocked} \
             ORDER BY ready_at, seq LIMIT ? FOR UPDATE SKIP LOCKED"
        );
        let mut query = sqlx::query(self.sql(&ready)).bind(now_us);
        for task in &blocked {
            query = query.bind(task);
        }
        let mut found = query
            .bind(window)
            .fetch_all(&mut *tx)
            .await
            .map_err(driver_error)?;
        let mut query = sqlx::query(self.sql(&lapsed)).bind(now_us).bind(now_us);
        for task in &blocked {
            query = query.bind(task);
        }
        found.extend(
            query
                .bind(window)
                .fetch_all(&mut *tx)
                .await
                .map_err(driver_error)?,
        );
        let candidates = rows::jobs_in_queue_order(&found)?;

        // Lock the rows of the tasks involved (in id order, so nodes never deadlock on
        // them) and count their running jobs: a second node waits here until this one
        // commits, then counts the jobs leased now.
        let tasks: BTreeSet<String> = candidates
            .iter()
            .filter(|job| !past_deadline(job, now))
            .map(|job| job.task_id.to_string())
            .collect();
        let limits = self.lock_task_limits(&mut tx, &tasks).await?;
        let mut running = self.running_jobs(&mut tx, &limits, now_us).await?;

        let mut missed = Vec::new();
        for job in candidates {
            if batch.acquired.len() == limit {
                break;
            }
            if past_deadline(&job, now) {
                missed.push(job);
                continue;
            }
            let task = job.task_id.to_string();
            if let Some(max) = limits.get(&task) {
                let count = running.entry(task).or_insert(0);
                if *count >= *max {
                    continue;
                }
                *count += 1;
            }
            batch.acquired.push(job);
        }

        let until = add(now, lease);
        if !batch.acquired.is_empty() {
            let started = if start {
                ", started_at = COALESCE(started_at, ?)"
            } else {
                ""
            };
            let sql = format!(
                "UPDATE {{p}}jobs SET lease_token = lease_token + 1, acquired_by = ?, \
                 acquired_until = ?{started} WHERE id IN ({})",
                marks(batch.acquired.len())
            );
            let mut update = sqlx::query(self.sql(&sql)).bind(node).bind(micros(until));
            if start {
                update = update.bind(now_us);
            }
            for job in &batch.acquired {
                update = update.bind(job.id.to_string());
            }
            update.execute(&mut *tx).await.map_err(driver_error)?;
        }
        if !missed.is_empty() {
            let sql = format!(
                "DELETE FROM {{p}}jobs WHERE id IN ({})",
                marks(missed.len())
            );
            let mut delete = sqlx::query(self.sql(&sql));
            for job in &missed {
                delete = delete.bind(job.id.to_string());
            }
            delete.execute(&mut *tx).await.map_err(driver_error)?;
            batch.missed = missed.iter().map(|job| missed_deadline(job, now)).collect();
            let results: Vec<&JobResult> = batch.missed.iter().collect();
            self.store_results(&mut tx, &results).await?;
        }
        tx.commit().await.map_err(driver_error)?;
        // The rows were locked from reading to commit: apply the update to what was read.
        for job in &mut batch.acquired {
            job.lease_token += 1;
            job.acquired_by = Some(node.to_owned());
            job.acquired_until = Some(until);
            if start {
                job.started_at.get_or_insert(now);
            }
        }
        Ok(batch)
    }

    /// Locks the rows of `tasks`; returns the `max_running_jobs` of those that have one.
    async fn lock_task_limits(
        &self,
        conn: &mut sqlx::MySqlConnection,
        tasks: &BTreeSet<String>,
    ) -> StoreResult<HashMap<String, i64>> {
        let mut limits = HashMap::new();
        let tasks: Vec<&String> = tasks.iter().collect();
        for chunk in tasks.chunks(BATCH) {
            let sql = format!(
                "SELECT id, max_running_jobs FROM {{p}}tasks WHERE id IN ({}) ORDER BY id FOR UPDATE",
                marks(chunk.len())
            );
            let mut query = sqlx::query(self.sql(&sql));
            for task in chunk {
                query = query.bind(*task);
            }
            for row in query.fetch_all(&mut *conn).await.map_err(driver_error)? {
                let max: Option<i64> = row.try_get("max_running_jobs").map_err(driver_error)?;
                if let Some(max) = max {
                    limits.insert(row.try_get("id").map_err(driver_error)?, max);
                }
            }
        }
        Ok(limits)
    }

    /// The running jobs of each task in `limits` (those absent have none).
    async fn running_jobs(
        &self,
        conn: &mut sqlx::MySqlConnection,
        limits: &HashMap<String, i64>,
        now_us: i64,
    ) -> StoreResult<HashMap<String, i64>> {
        let mut running = HashMap::new();
        let tasks: Vec<&String> = limits.keys().collect();
        for chunk in tasks.chunks(BATCH) {
            let sql = format!(
                "SELECT task_id, COUNT(*) AS n FROM {{p}}jobs \
                 WHERE task_id IN ({}) AND acquired_by IS NOT NULL \
                   AND NOT (started_at IS NULL AND acquired_until < ?) \
                 GROUP BY task_id",
                marks(chunk.len())
            );
            let mut query = sqlx::query(self.sql(&sql));
            for task in chunk {
                query = query.bind(*task);
            }
            for row in query
                .bind(now_us)
                .fetch_all(&mut *conn)
                .await
                .map_err(driver_error)?
            {
                let task: String = row.try_get("task_id").map_err(driver_error)?;
                running.insert(task, row.try_get("n").map_err(driver_error)?);
            }
        }
        Ok(running)
    }

    /// Handles started jobs whose lease expired before `now`: each is re-queued as its next
    /// attempt when its task's retry policy allows, or finished as `abandoned`. Concurrent
    /// reapers lock disjoint rows, so each job is handled once.
    pub(super) async fn reap_expired_once(&self, now: Timestamp) -> StoreResult<Vec<Reaped>> {
        let mut tx = self.begin().await?;
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM {{p}}jobs \
             WHERE acquired_until < ? AND started_at IS NOT NULL \
             ORDER BY acquired_until, id FOR UPDATE SKIP LOCKED"
        );
        let expired = sqlx::query(self.sql(&sql))
            .bind(micros(now))
            .fetch_all(&mut *tx)
            .await
            .map_err(driver_error)?
            .iter()
            .map(rows::job)
            .collect::<StoreResult<Vec<Job>>>()?;
        if expired.is_empty() {
            tx.commit().await.map_err(driver_error)?;
            return Ok(Vec::new());
        }
        let task_ids: BTreeSet<String> = expired.iter().map(|j| j.task_id.to_string()).collect();
        let mut tasks = HashMap::new();
        let task_ids: Vec<&String> = task_ids.iter().collect();
        for chunk in task_ids.chunks(BATCH) {
            let sql = format!(
                "SELECT {TASK_COLUMNS} FROM {{p}}tasks WHERE id IN ({})",
                marks(chunk.len())
            );
            let mut query = sqlx::query(self.sql(&sql));
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&mut *tx).await.map_err(driver_error)? {
                let task: Task = rows::task(&row)?;
                tasks.insert(task.id.clone(), task);
            }
        }
        let mut reaped = Vec::with_capacity(expired.len());
        let mut results = Vec::with_capacity(expired.len());
        let mut gone = Vec::new();
        for job in &expired {
            let result = abandoned(job, now);
            match reaped_retry_delay(tasks.get(&job.task_id), job) {
                Some(delay) => {
                    self.requeue(&mut tx, &job.id, add(now, delay)).await?;
                    reaped.push(Reaped::Requeued {
                        job: job.id,
                        task_id: job.task_id.clone(),
                        attempt: job.attempt + 1,
                    });
                }
                None => {
                    gone.push(job.id.to_string());
                    reaped.push(Reaped::Abandoned(result.clone()));
                }
            }
            results.push(result);
        }
        for chunk in gone.chunks(BATCH) {
            let sql = format!("DELETE FROM {{p}}jobs WHERE id IN ({})", marks(chunk.len()));
            let mut delete = sqlx::query(self.sql(&sql));
            for id in chunk {
                delete = delete.bind(id);
            }
            delete.execute(&mut *tx).await.map_err(driver_error)?;
        }
        let results: Vec<&JobResult> = results.iter().collect();
        self.store_results(&mut tx, &results).await?;
        tx.commit().await.map_err(driver_error)?;
        Ok(reaped)
    }
}
