//! Tasks: named units of work.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{ExecutorKind, RetryPolicy, TaskAction, TaskId};
use crate::duration::serde_human_opt;
use crate::error::ValidationError;

/// A named unit of work and the rules for running its jobs.
///
/// In Rust a task is bound to a handler; in the daemon it is a command or an HTTP call
/// (declared next to this record). How many of its jobs are running is deliberately not a
/// field: stores derive it from the acquired jobs (DESIGN.md invariant 5), so it cannot
/// drift.
///
/// JSON uses the field names below; omitted fields take APScheduler 4's defaults (see
/// [`Task::new`]); unknown fields are rejected. Deserializing checks ids and durations but
/// not the cross-field rules: call [`validate`](Task::validate).
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
    /// Free-form JSON object for the user; horae does not interpret it.
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// What the daemon runs for executor `command` or `http`; `None` for tasks bound to
    /// Rust handlers. Omitted from JSON when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<TaskAction>,
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
            action: None,
        }
    }

    /// Checks the task.
    ///
    /// # Errors
    ///
    /// A [`ValidationError`] when `max_running_jobs` is 0, the retry policy is invalid, the
    /// timeout is zero, or the action is invalid or does not match the executor.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.max_running_jobs == Some(0) {
            return Err(ValidationError::new(
                "max_running_jobs",
                format!(
                    "task '{}': max_running_jobs must be at least 1 (null means no limit)",
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
        if let Some(action) = &self.action {
            let matches = matches!(
                (action, self.executor),
                (TaskAction::Command(_), ExecutorKind::Command)
                    | (TaskAction::Http(_), ExecutorKind::Http)
            );
            if !matches {
                return Err(ValidationError::new(
                    "executor",
                    format!(
                        "task '{}': executor '{}' does not match its action",
                        self.id, self.executor
                    ),
                ));
            }
            action.validate()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn task() -> Task {
        Task::new(TaskId::new("backup").unwrap(), ExecutorKind::Command)
    }

    #[test]
    fn defaults_follow_apscheduler_4() {
        let task = task();
        assert_eq!(task.max_running_jobs, Some(1));
        assert_eq!(task.misfire_grace_time, None, "unlimited");
        assert_eq!(task.retry, None);
        assert_eq!(task.timeout, None);
        assert!(task.metadata.is_empty());
        assert!(task.validate().is_ok());
    }

    #[test]
    fn json_uses_the_field_names_and_human_durations() {
        let mut task = task();
        task.misfire_grace_time = Some(Duration::from_secs(60));
        task.timeout = Some(Duration::from_secs(600));
        task.retry = Some(RetryPolicy::new(
            3,
            Duration::from_secs(1),
            Duration::from_secs(60),
        ));
        task.metadata.insert("owner".into(), json!("ops"));
        let expected = json!({
            "id": "backup",
            "executor": "command",
            "max_running_jobs": 1,
            "misfire_grace_time": "1m",
            "retry": {"max_attempts": 3, "initial": "1s", "max": "1m", "multiplier": 2.0, "jitter": true},
            "timeout": "10m",
            "metadata": {"owner": "ops"},
        });
        assert_eq!(serde_json::to_value(&task).unwrap(), expected);
        assert_eq!(serde_json::from_value::<Task>(expected).unwrap(), task);
    }

    #[test]
    fn omitted_fields_take_the_defaults_and_null_means_unlimited() {
        let minimal: Task =
            serde_json::from_value(json!({"id": "backup", "executor": "command"})).unwrap();
        assert_eq!(minimal, task());
        let unlimited: Task = serde_json::from_value(
            json!({"id": "t", "executor": "async", "max_running_jobs": null}),
        )
        .unwrap();
        assert_eq!(unlimited.max_running_jobs, None);
        let config: Task = serde_json::from_value(json!({
            "id": "backup", "executor": "command", "timeout": "10m", "max_running_jobs": 1,
            "misfire_grace_time": "1m", "retry": {"max_attempts": 3, "initial": "1s", "max": "1m"},
        }))
        .unwrap();
        assert_eq!(config.retry.map(|r| r.max_attempts), Some(3));
        assert_eq!(config.timeout, Some(Duration::from_secs(600)));
    }

    #[test]
    fn malformed_json_is_rejected() {
        for (bad, why) in [
            (
                json!({"id": "a b", "executor": "async"}),
                "task id \"a b\" contains ' '",
            ),
            (
                json!({"id": "t", "executor": "thread"}),
                "unknown variant `thread`",
            ),
            (
                json!({"id": "t", "executor": "async", "timeout": "ten minutes"}),
                "invalid duration",
            ),
            (
                json!({"id": "t", "executor": "async", "timeout": -1}),
                "invalid value: integer `-1`",
            ),
            (
                json!({"id": "t", "executor": "async", "max_running_jobs": true}),
                "invalid type: boolean",
            ),
            (
                json!({"id": "t", "executor": "async", "max_running_jobs": -1}),
                "invalid value: integer `-1`",
            ),
            (
                json!({"id": "t", "executor": "async", "running_jobs": 3}),
                "unknown field `running_jobs`",
            ),
            (json!({"executor": "async"}), "missing field `id`"),
        ] {
            let error = serde_json::from_value::<Task>(bad.clone())
                .unwrap_err()
                .to_string();
            assert!(error.contains(why), "{bad}: {error}");
        }
    }

    #[test]
    fn invalid_tasks_are_rejected_naming_the_field() {
        let mut task = task();
        task.max_running_jobs = Some(0);
        let error = task.validate().unwrap_err();
        assert_eq!(error.field(), "max_running_jobs");
        assert!(
            error
                .to_string()
                .contains("max_running_jobs must be at least 1"),
            "{error}"
        );
        task.max_running_jobs = None;
        assert!(task.validate().is_ok(), "unlimited");
        task.timeout = Some(Duration::ZERO);
        let error = task.validate().unwrap_err();
        assert_eq!(error.field(), "timeout");
        assert!(
            error.to_string().contains("timeout must be positive"),
            "{error}"
        );
        task.timeout = None;
        task.retry = Some(RetryPolicy::new(
            0,
            Duration::from_secs(1),
            Duration::from_secs(1),
        ));
        assert_eq!(task.validate().unwrap_err().field(), "retry.max_attempts");
    }

    proptest! {
        #[test]
        fn tasks_round_trip(
            id in "[a-z0-9][a-z0-9_.:@-]{0,40}",
            executor in proptest::sample::select(ExecutorKind::ALL),
            max_running in proptest::option::of(1u32..1000),
            grace_us in proptest::option::of(0u64..10_000_000_000),
            timeout_us in proptest::option::of(1u64..10_000_000_000),
            attempts in proptest::option::of(1u32..10),
            note in ".{0,20}",
        ) {
            let mut task = Task::new(TaskId::new(id).unwrap(), executor);
            task.max_running_jobs = max_running;
            task.misfire_grace_time = grace_us.map(Duration::from_micros);
            task.timeout = timeout_us.map(Duration::from_micros);
            task.retry = attempts.map(|n| RetryPolicy::new(n, Duration::from_millis(250), Duration::from_secs(60)));
            task.metadata.insert("note".into(), Value::String(note));
            prop_assert!(task.validate().is_ok());
            let text = serde_json::to_string(&task).unwrap();
            prop_assert_eq!(serde_json::from_str::<Task>(&text).unwrap(), task);
        }
    }
}
