//! Job results: how a run ended.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Job, JobId, JobOutcome, ScheduleId, TaskId};

/// The outcome of one attempt of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobResult {
    /// The job.
    pub job_id: JobId,
    /// The job's task.
    pub task_id: TaskId,
    /// The schedule that created the job, if any.
    #[serde(default)]
    pub schedule_id: Option<ScheduleId>,
    /// How the attempt ended.
    pub outcome: JobOutcome,
    /// Which attempt this was (1-based).
    pub attempt: u32,
    /// When the attempt started; `None` if it never started (e.g. a missed deadline).
    #[serde(default)]
    pub started_at: Option<Timestamp>,
    /// When the attempt ended.
    pub finished_at: Timestamp,
    /// When the stored result is deleted.
    pub expires_at: Timestamp,
    /// The error message for outcomes other than success.
    #[serde(default)]
    pub error: Option<String>,
    /// The handler's return value on success.
    #[serde(default)]
    pub return_value: Option<Value>,
}

impl JobResult {
    /// The result of `job`'s current attempt, expiring `job.result_expiration_time` after
    /// `finished_at`.
    pub fn new(
        job: &Job,
        outcome: JobOutcome,
        started_at: Option<Timestamp>,
        finished_at: Timestamp,
    ) -> JobResult {
        JobResult {
            job_id: job.id,
            task_id: job.task_id.clone(),
            schedule_id: job.schedule_id.clone(),
            outcome,
            attempt: job.attempt,
            started_at,
            finished_at,
            expires_at: add(finished_at, job.result_expiration_time),
            error: None,
            return_value: None,
        }
    }

    /// Whether the result is worth storing: only when it expires after it finished
    /// (APScheduler 4's rule; an expiration time of zero keeps no result).
    pub fn should_store(&self) -> bool {
        self.expires_at > self.finished_at
    }
}

/// `at + duration`, saturating at the largest timestamp.
fn add(at: Timestamp, duration: Duration) -> Timestamp {
    SignedDuration::try_from(duration)
        .ok()
        .and_then(|d| at.checked_add(d).ok())
        .unwrap_or(Timestamp::MAX)
}
