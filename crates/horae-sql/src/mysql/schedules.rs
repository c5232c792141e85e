//! Writing schedules: adding under a conflict policy, pausing, removing, releasing them
//! with their jobs, and cleaning up finished ones.

use std::collections::HashMap;

use horae::error::{ObjectKind, StoreError};
use horae::model::{ConflictPolicy, Schedule, ScheduleId};
use horae::store::{
    AddScheduleOutcome, CleanupReport, ScheduleRelease, ScheduleReleaseReport, StoreResult,
};
use horae::trigger::Trigger;
use jiff::Timestamp;
use sqlx::Row;
use sqlx::mysql::MySqlConnection;

use super::{BATCH, MysqlStore, json, marks};
use crate::codec::{self, driver_error, micros, micros_opt};
use crate::common::{dead_node_bound, not_found};
use crate::rows;
use crate::rows::SCHEDULE_COLUMNS;

impl MysqlStore {
    /// Inserts a schedule; `false` when its id is taken (a concurrent insert).
    pub(super) async fn insert_schedule(
        &self,
        conn: &mut MySqlConnection,
        s: &Schedule,
    ) -> StoreResult<bool> {
        let sql = format!(
            "INSERT INTO {{p}}schedules ({SCHEDULE_COLUMNS}) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        );
        let inserted = sqlx::query(self.sql(&sql))
            .bind(s.id.as_str())
            .bind(s.task_id.as_str())
            .bind(json(&s.trigger)?)
            .bind(json(&s.args)?)
            .bind(json(&s.kwargs)?)
            .bind(s.paused)
            .bind(s.coalesce.as_str())
            .bind(codec::duration_micros_opt(s.misfire_grace_time))
            .bind(codec::duration_micros_opt(s.max_jitter))
            .bind(codec::duration_micros(s.job_result_expiration_time))
            .bind(json(&s.metadata)?)
            .bind(micros_opt(s.next_fire_time))
            .bind(micros_opt(s.last_fire_time))
            .bind(s.acquired_by.as_deref())
            .bind(micros_opt(s.acquired_until))
            .execute(conn)
            .await;
        match inserted {
            Ok(_) => Ok(true),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
            Err(e) => Err(driver_error(e)),
        }
    }

    pub(super) async fn release_schedules_once(
        &self,
        node: &str,
        releases: &[ScheduleRelease],
    ) -> StoreResult<ScheduleReleaseReport> {
        let mut tx = self.begin().await?;
        let mut report = ScheduleReleaseReport::default();
        let mut jobs = Vec::new();
        for release in releases {
            let done = sqlx::query(self.sql(
                "UPDATE {p}schedules SET trigger_state = ?, next_fire_time = ?, last_fire_time = ?, \
                 acquired_by = NULL, acquired_until = NULL WHERE id = ? AND acquired_by = ?",
            ))
            .bind(json(&release.trigger)?)
            .bind(micros_opt(release.next_fire_time))
            .bind(micros_opt(release.last_fire_time))
            .bind(release.schedule_id.as_str())
            .bind(node)
            .execute(&mut *tx)
            .await
            .map_err(driver_error)?;
            if done.rows_affected() == 0 {
                report.lost.push(release.schedule_id.clone());
                continue;
            }
            jobs.extend(release.jobs.iter().cloned());
            report.released.push(release.schedule_id.clone());
        }
        // Invariant 6: the jobs are written in the same transaction as the fire times.
        report.jobs_added = self.insert_jobs(&mut tx, &jobs).await?;
        tx.commit().await.map_err(driver_error)?;
        Ok(report)
    }

    pub(super) async fn add_schedule_once(
        &self,
        schedule: &Schedule,
        policy: ConflictPolicy,
    ) -> StoreResult<AddScheduleOutcome> {
        let conflict = || StoreError::Conflict {
            kind: ObjectKind::Schedule,
            id: schedule.id.to_string(),
        };
        let mut tx = self.begin().await?;
        let exists: Option<i64> =
            sqlx::query_scalar(self.sql("SELECT 1 FROM {p}schedules WHERE id = ? FOR UPDATE"))
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
                return Err(conflict());
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
        if !self.insert_schedule(&mut tx, schedule).await? {
            // Another process inserted the same id since we looked.
            tx.rollback().await.map_err(driver_error)?;
            return match policy {
                ConflictPolicy::DoNothing => Ok(AddScheduleOutcome::Kept),
                _ => Err(conflict()),
            };
        }
        tx.commit().await.map_err(driver_error)?;
        Ok(outcome)
    }

    pub(super) async fn set_paused_once(
        &self,
        id: &ScheduleId,
        paused: bool,
        next: Option<&(Trigger, Option<Timestamp>)>,
    ) -> StoreResult<Schedule> {
        let mut tx = self.begin().await?;
        match next {
            Some((trigger, next_fire_time)) => sqlx::query(self.sql(
                "UPDATE {p}schedules SET paused = ?, trigger_state = ?, next_fire_time = ? WHERE id = ?",
            ))
            .bind(paused)
            .bind(json(trigger)?)
            .bind(micros_opt(*next_fire_time))
            .bind(id.as_str()),
            None => sqlx::query(self.sql("UPDATE {p}schedules SET paused = ? WHERE id = ?"))
                .bind(paused)
                .bind(id.as_str()),
        }
        .execute(&mut *tx)
        .await
        .map_err(driver_error)?;
        let sql = format!("SELECT {SCHEDULE_COLUMNS} FROM {{p}}schedules WHERE id = ?");
        let row = sqlx::query(self.sql(&sql))
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(driver_error)?;
        let schedule = match row {
            Some(row) => rows::schedule(&row)?,
            None => {
                tx.rollback().await.map_err(driver_error)?;
                return Err(not_found(ObjectKind::Schedule, id));
            }
        };
        tx.commit().await.map_err(driver_error)?;
        Ok(schedule)
    }

    pub(super) async fn remove_schedules_once(
        &self,
        ids: &[ScheduleId],
    ) -> StoreResult<Vec<Schedule>> {
        let mut tx = self.begin().await?;
        let mut found = HashMap::new();
        for chunk in ids.chunks(BATCH) {
            let list = marks(chunk.len());
            let sql = format!(
                "SELECT {SCHEDULE_COLUMNS} FROM {{p}}schedules WHERE id IN ({list}) FOR UPDATE"
            );
            let mut select = sqlx::query(self.sql(&sql));
            for id in chunk {
                select = select.bind(id.as_str());
            }
            for row in select.fetch_all(&mut *tx).await.map_err(driver_error)? {
                let schedule = rows::schedule(&row)?;
                found.insert(schedule.id.clone(), schedule);
            }
            let sql = format!("DELETE FROM {{p}}schedules WHERE id IN ({list})");
            let mut delete = sqlx::query(self.sql(&sql));
            for id in chunk {
                delete = delete.bind(id.as_str());
            }
            delete.execute(&mut *tx).await.map_err(driver_error)?;
        }
        tx.commit().await.map_err(driver_error)?;
        Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
    }

    pub(super) async fn cleanup_once(&self, now: Timestamp) -> StoreResult<CleanupReport> {
        let mut tx = self.begin().await?;
        let expired = sqlx::query(self.sql("DELETE FROM {p}results WHERE expires_at <= ?"))
            .bind(micros(now))
            .execute(&mut *tx)
            .await
            .map_err(driver_error)?;
        let finished = sqlx::query(self.sql(
            "SELECT id, task_id FROM {p}schedules s \
             WHERE next_fire_time IS NULL AND acquired_by IS NULL \
               AND NOT EXISTS (SELECT 1 FROM {p}jobs j WHERE j.schedule_id = s.id) \
             ORDER BY id FOR UPDATE SKIP LOCKED",
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
        let mut report = CleanupReport {
            dead_nodes: usize::try_from(dead.rows_affected()).unwrap_or(usize::MAX),
            expired_results: usize::try_from(expired.rows_affected()).unwrap_or(usize::MAX),
            finished_schedules: Vec::with_capacity(finished.len()),
        };
        for row in &finished {
            let id: String = row.try_get("id").map_err(driver_error)?;
            let task: String = row.try_get("task_id").map_err(driver_error)?;
            report
                .finished_schedules
                .push((codec::parse("id", &id)?, codec::parse("task_id", &task)?));
        }
        for chunk in report.finished_schedules.chunks(BATCH) {
            let sql = format!(
                "DELETE FROM {{p}}schedules WHERE id IN ({})",
                marks(chunk.len())
            );
            let mut delete = sqlx::query(self.sql(&sql));
            for (id, _) in chunk {
                delete = delete.bind(id.as_str());
            }
            delete.execute(&mut *tx).await.map_err(driver_error)?;
        }
        tx.commit().await.map_err(driver_error)?;
        Ok(report)
    }
}
