//! Tasks: named units of work.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{ExecutorKind, RetryPolicy, TaskId};
use crate::duration::serde_human_opt;
use crate::error::ValidationError;

/// A named unit of work and the rules for running its jobs.
///
/// How many of its jobs are running is not stored here: it is derived from the jobs that
/// are acquired (DESIGN.md invariant 5), so it cannot drift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Task {
    /// The task's id.
    pub id: TaskId,
    /// How its jobs run.
    pub executor: ExecutorKind,
    /// The most jobs of this task running at once across all nodes; `None` = unlimited.
    /// Default 1 (no overlapping runs), as in APScheduler 4.
    #[serde(default = "default_max_running_jobs")]
    pub max_running_jobs: Option<u32>,
    /// How late a scheduled job may start before it is skipped with outcome
    /// `missed_start_deadline`; `None` (the default) = no limit. Copied to schedules when
    /// they are added.
    #[serde(default, with = "serde_human_opt")]
    pub misfire_grace_time: Option<Duration>,
    /// Retries of failed runs; `None` = never retry.
    #[serde(default)]
    pub retry: Option<RetryPolicy>,
    /// How long one run may take before it is stopped with outcome `timed_out`; `None` = no limit.
    #[serde(default, with = "serde_human_opt")]
    pub timeout: Option<Duration>,
    /// Free-form data for the user.
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

fn default_max_running_jobs() -> Option<u32> {
    Some(1)
}

impl Task {
    /// A task with APScheduler 4's defaults: at most one running job, no misfire limit, no
    /// retries, no timeout.
    pub fn new(id: TaskId, executor: ExecutorKind) -> Task {
        Task {
            id,
            executor,
            max_running_jobs: default_max_running_jobs(),
            misfire_grace_time: None,
            retry: None,
            timeout: None,
            metadata: Map::new(),
        }
    }

    /// Checks the task.
    ///
    /// # Errors
    ///
    /// A [`ValidationError`] when `max_running_jobs` is 0, the retry policy is invalid or the
    /// timeout is zero.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.max_running_jobs == Some(0) {
            return Err(ValidationError::new(
                "max_running_jobs",
                format!(
                    "task '{}': max_running_jobs must be at least 1 (omit it for no limit)",
                    self.id
                ),
            ));
        }
        if self.timeout == Some(Duration::ZERO) {
            return Err(ValidationError::new(
                "timeout",
                format!("task '{}': timeout must be positive", self.id),
            ));
        }
        if let Some(retry) = &self.retry {
            retry.validate()?;
        }
        Ok(())
    }
}
