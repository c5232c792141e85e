//! Schedules: a task plus a trigger.

use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{CoalescePolicy, ScheduleId, TaskId};
use crate::duration::{serde_human, serde_human_opt};
use crate::error::ValidationError;
use crate::trigger::Trigger;

/// Runs a task whenever its trigger fires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// The schedule's id.
    pub id: ScheduleId,
    /// The task its jobs run.
    pub task_id: TaskId,
    /// Computes the fire times; stored with its iteration state.
    pub trigger: Trigger,
    /// Positional arguments passed to every job.
    #[serde(default)]
    pub args: Vec<Value>,
    /// Keyword arguments passed to every job.
    #[serde(default)]
    pub kwargs: Map<String, Value>,
    /// Whether the schedule is paused (paused schedules create no jobs).
    #[serde(default)]
    pub paused: bool,
    /// Which jobs to create when several fire times are due at once (default `latest`).
    #[serde(default)]
    pub coalesce: CoalescePolicy,
    /// How late a job may start after its fire time; `None` = no limit. Copied from the
    /// task when the schedule is added unless given.
    #[serde(default, with = "serde_human_opt")]
    pub misfire_grace_time: Option<Duration>,
    /// The largest random delay added to each fire time; `None` = none.
    #[serde(default, with = "serde_human_opt")]
    pub max_jitter: Option<Duration>,
    /// How long the results of its jobs are kept; zero (the default) = not stored.
    #[serde(default, with = "serde_human")]
    pub job_result_expiration_time: Duration,
    /// Free-form data for the user.
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// When the schedule is next due; `None` once the trigger is exhausted.
    #[serde(default)]
    pub next_fire_time: Option<Timestamp>,
    /// The last fire time a job was created for.
    #[serde(default)]
    pub last_fire_time: Option<Timestamp>,
    /// The node processing the schedule right now, if any.
    #[serde(default)]
    pub acquired_by: Option<String>,
    /// When that node's lease on the schedule expires.
    #[serde(default)]
    pub acquired_until: Option<Timestamp>,
}

impl Schedule {
    /// A schedule with APScheduler 4's defaults (not paused, coalesce `latest`, no misfire
    /// limit, no jitter, results not stored) and no fire time computed yet.
    pub fn new(id: ScheduleId, task_id: TaskId, trigger: Trigger) -> Schedule {
        Schedule {
            id,
            task_id,
            trigger,
            args: Vec::new(),
            kwargs: Map::new(),
            paused: false,
            coalesce: CoalescePolicy::default(),
            misfire_grace_time: None,
            max_jitter: None,
            job_result_expiration_time: Duration::ZERO,
            metadata: Map::new(),
            next_fire_time: None,
            last_fire_time: None,
            acquired_by: None,
            acquired_until: None,
        }
    }

    /// Checks the schedule.
    ///
    /// # Errors
    ///
    /// A [`ValidationError`] when a lease is half set (`acquired_by` without
    /// `acquired_until` or the reverse).
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.acquired_by.is_some() != self.acquired_until.is_some() {
            return Err(ValidationError::new(
                "acquired_by",
                format!(
                    "schedule '{}': acquired_by and acquired_until must be set together",
                    self.id
                ),
            ));
        }
        Ok(())
    }
}
