//! Jobs: requests to run a task once.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{JobId, ScheduleId, TaskId};
use crate::duration::serde_human;
use crate::error::ValidationError;

/// One execution request of a task, with the lease of the node running it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    /// The job's id (UUID v7).
    pub id: JobId,
    /// The task to run.
    pub task_id: TaskId,
    /// Positional arguments for the handler.
    #[serde(default)]
    pub args: Vec<Value>,
    /// Keyword arguments for the handler.
    #[serde(default)]
    pub kwargs: Map<String, Value>,
    /// The schedule that created the job; `None` for ad-hoc jobs.
    #[serde(default)]
    pub schedule_id: Option<ScheduleId>,
    /// The fire time the job was created for (jitter included); `None` for ad-hoc jobs.
    #[serde(default)]
    pub scheduled_fire_time: Option<Timestamp>,
    /// The random delay added to the fire time.
    #[serde(default, with = "serde_human")]
    pub jitter: Duration,
    /// The job is not started after this instant (outcome `missed_start_deadline`).
    #[serde(default)]
    pub start_deadline: Option<Timestamp>,
    /// How long the job's result is kept; zero = not stored.
    #[serde(default, with = "serde_human")]
    pub result_expiration_time: Duration,
    /// Free-form data for the user.
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// When the job was created.
    pub created_at: Timestamp,
    /// Which attempt this is, starting at 1; a retry re-queues the job with `attempt + 1`.
    pub attempt: u32,
    /// When the current attempt started running; `None` until it starts.
    #[serde(default)]
    pub started_at: Option<Timestamp>,
    /// The node holding the job's lease, if any.
    #[serde(default)]
    pub acquired_by: Option<String>,
    /// When that lease expires unless extended.
    #[serde(default)]
    pub acquired_until: Option<Timestamp>,
    /// Incremented by every acquisition; a release must present the current value (fencing,
    /// DESIGN.md invariant 3).
    #[serde(default)]
    pub lease_token: u64,
}

impl Job {
    /// A new ad-hoc job of `task_id` created at `now`: attempt 1, no schedule, no deadline,
    /// result not stored.
    pub fn new(task_id: TaskId, now: Timestamp) -> Job {
        Job {
            id: JobId::new(now),
            task_id,
            args: Vec::new(),
            kwargs: Map::new(),
            schedule_id: None,
            scheduled_fire_time: None,
            jitter: Duration::ZERO,
            start_deadline: None,
            result_expiration_time: Duration::ZERO,
            metadata: Map::new(),
            created_at: now,
            attempt: 1,
            started_at: None,
            acquired_by: None,
            acquired_until: None,
            lease_token: 0,
        }
    }

    /// The fire time before jitter was added.
    pub fn original_scheduled_time(&self) -> Option<Timestamp> {
        let jitter = SignedDuration::try_from(self.jitter).ok()?;
        self.scheduled_fire_time?.checked_sub(jitter).ok()
    }

    /// Checks the job.
    ///
    /// # Errors
    ///
    /// A [`ValidationError`] when `attempt` is 0 or a lease is half set.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.attempt == 0 {
            return Err(ValidationError::new(
                "attempt",
                format!("job {}: attempt starts at 1", self.id),
            ));
        }
        if self.acquired_by.is_some() != self.acquired_until.is_some() {
            return Err(ValidationError::new(
                "acquired_by",
                format!(
                    "job {}: acquired_by and acquired_until must be set together",
                    self.id
                ),
            ));
        }
        Ok(())
    }
}
