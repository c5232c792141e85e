//! Job results: how an attempt of a job ended.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Job, JobId, JobOutcome, ScheduleId, TaskId};
use crate::error::ValidationError;

/// The outcome of one attempt of a job.
///
/// Stores keep a result only while it has not expired, and only if it expires after it
/// finished ([`should_store`](JobResult::should_store)); with the default expiration time of
/// zero no result is kept, as in APScheduler 4. JSON uses the field names below; unknown
/// fields are rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobResult {
    /// The job.
    pub job_id: JobId,
    /// The job's task.
    pub task_id: TaskId,
    /// The schedule that created the job; `None` for an ad-hoc job.
    #[serde(default)]
    pub schedule_id: Option<ScheduleId>,
    /// How the attempt ended.
    pub outcome: JobOutcome,
    /// Which attempt this was (1-based).
    pub attempt: u32,
    /// When the attempt started; `None` if it never started (missed deadline, cancelled
    /// before it began).
    #[serde(default)]
    pub started_at: Option<Timestamp>,
    /// When the attempt ended.
    pub finished_at: Timestamp,
    /// When the stored result is deleted: `finished_at` plus the job's
    /// `result_expiration_time`.
    pub expires_at: Timestamp,
    /// The error message for outcomes other than success (handler error or panic text,
    /// timeout, reason for abandonment); `None` on success.
    #[serde(default)]
    pub error: Option<String>,
    /// The handler's JSON return value on success, if it returned one.
    #[serde(default)]
    pub return_value: Option<Value>,
}

impl JobResult {
    /// The result of `job`'s current attempt, with no error text or return value yet.
    ///
    /// `expires_at` is `finished_at + job.result_expiration_time` (saturating at the
    /// largest timestamp).
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
            expires_at: crate::clock::add(finished_at, job.result_expiration_time),
            error: None,
            return_value: None,
        }
    }

    /// The same result with an error message.
    pub fn with_error(mut self, error: impl Into<String>) -> JobResult {
        self.error = Some(error.into());
        self
    }

    /// The same result with a return value.
    pub fn with_return_value(mut self, value: Value) -> JobResult {
        self.return_value = Some(value);
        self
    }

    /// The return value decoded as `T` (JSON `null` when the handler returned none).
    ///
    /// # Errors
    ///
    /// The decoding error when the value does not fit `T`.
    pub fn value<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(self.return_value.as_ref().unwrap_or(&Value::Null))
    }

    /// Whether a store keeps this result: only when it expires after it finished, i.e. the
    /// expiration time is positive (APScheduler 4's rule).
    pub fn should_store(&self) -> bool {
        self.expires_at > self.finished_at
    }

    /// Checks the result.
    ///
    /// # Errors
    ///
    /// A [`ValidationError`] naming the field when `attempt` is 0, `started_at` is after
    /// `finished_at`, or `expires_at` is before `finished_at`.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.attempt == 0 {
            return Err(ValidationError::new(
                "attempt",
                format!("result of job {}: attempt starts at 1, got 0", self.job_id),
            ));
        }
        if self
            .started_at
            .is_some_and(|started| started > self.finished_at)
        {
            return Err(ValidationError::new(
                "started_at",
                format!(
                    "result of job {}: started_at must not be after finished_at",
                    self.job_id
                ),
            ));
        }
        if self.expires_at < self.finished_at {
            return Err(ValidationError::new(
                "expires_at",
                format!(
                    "result of job {}: expires_at must not be before finished_at",
                    self.job_id
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use jiff::SignedDuration;

    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn job() -> Job {
        let mut job = Job::new(TaskId::new("backup").unwrap(), ts("2026-01-01T00:00:00Z"));
        job.id = "0190b7a4-0000-7000-8000-000000000001".parse().unwrap();
        job
    }

    #[test]
    fn expiration_zero_keeps_no_result() {
        let result = JobResult::new(
            &job(),
            JobOutcome::Success,
            None,
            ts("2026-01-01T00:00:01Z"),
        );
        assert_eq!(result.expires_at, result.finished_at);
        assert!(!result.should_store());
        assert!(result.validate().is_ok());
    }

    #[test]
    fn expires_after_the_jobs_expiration_time() {
        let mut job = job();
        job.result_expiration_time = Duration::from_secs(3600);
        job.schedule_id = Some(ScheduleId::new("nightly").unwrap());
        job.attempt = 3;
        let result = JobResult::new(
            &job,
            JobOutcome::TimedOut,
            Some(ts("2026-01-01T03:00:02Z")),
            ts("2026-01-01T03:10:00Z"),
        )
        .with_error("timed out after 10m");
        assert_eq!(result.expires_at, ts("2026-01-01T04:10:00Z"));
        assert!(result.should_store());
        assert_eq!(
            (result.attempt, &result.schedule_id, &result.task_id),
            (3, &job.schedule_id, &job.task_id)
        );
        job.result_expiration_time = Duration::MAX;
        let forever = JobResult::new(&job, JobOutcome::Success, None, ts("2026-01-01T03:10:00Z"));
        assert_eq!(forever.expires_at, Timestamp::MAX, "saturates, no panic");
    }

    #[test]
    fn json_uses_the_field_names() {
        let mut job = job();
        job.result_expiration_time = Duration::from_secs(60);
        let result = JobResult::new(
            &job,
            JobOutcome::Success,
            Some(ts("2026-01-01T00:00:01Z")),
            ts("2026-01-01T00:00:02Z"),
        )
        .with_return_value(json!({"rows": 3}));
        let expected = json!({
            "job_id": "0190b7a4-0000-7000-8000-000000000001",
            "task_id": "backup",
            "schedule_id": null,
            "outcome": "success",
            "attempt": 1,
            "started_at": "2026-01-01T00:00:01Z",
            "finished_at": "2026-01-01T00:00:02Z",
            "expires_at": "2026-01-01T00:01:02Z",
            "error": null,
            "return_value": {"rows": 3},
        });
        assert_eq!(serde_json::to_value(&result).unwrap(), expected);
        assert_eq!(
            serde_json::from_value::<JobResult>(expected).unwrap(),
            result
        );
        let bad = json!({"job_id": "0190b7a4-0000-7000-8000-000000000001", "task_id": "backup",
                         "outcome": "exploded", "attempt": 1, "finished_at": "2026-01-01T00:00:02Z",
                         "expires_at": "2026-01-01T00:00:02Z"});
        let error = serde_json::from_value::<JobResult>(bad)
            .unwrap_err()
            .to_string();
        assert!(error.contains("unknown variant `exploded`"), "{error}");
    }

    #[test]
    fn invalid_results_are_rejected_naming_the_field() {
        let good = JobResult::new(
            &job(),
            JobOutcome::Error,
            Some(ts("2026-01-01T00:00:01Z")),
            ts("2026-01-01T00:00:02Z"),
        );
        assert!(good.validate().is_ok());
        let mut bad = good.clone();
        bad.attempt = 0;
        assert_eq!(bad.validate().unwrap_err().field(), "attempt");
        let mut bad = good.clone();
        bad.started_at = Some(ts("2026-01-01T00:00:03Z"));
        let error = bad.validate().unwrap_err();
        assert_eq!(error.field(), "started_at");
        assert!(
            error
                .to_string()
                .contains("started_at must not be after finished_at"),
            "{error}"
        );
        let mut bad = good;
        bad.expires_at = ts("2026-01-01T00:00:00Z");
        assert_eq!(bad.validate().unwrap_err().field(), "expires_at");
    }

    proptest! {
        #[test]
        fn results_round_trip(
            outcome in proptest::sample::select(JobOutcome::ALL),
            finished in 0i64..250_000_000_000_000_000,
            ran_us in proptest::option::of(0i64..1_000_000_000),
            expiration_us in 0u64..1_000_000_000_000,
            error in proptest::option::of(".{0,30}"),
            value in proptest::option::of(any::<i64>()),
        ) {
            let mut job = job();
            job.result_expiration_time = Duration::from_micros(expiration_us);
            let finished_at = Timestamp::from_microsecond(finished).unwrap();
            let started_at = ran_us.map(|us| finished_at - SignedDuration::from_micros(us));
            let mut result = JobResult::new(&job, outcome, started_at, finished_at);
            result.error = error;
            result.return_value = value.map(Value::from);
            prop_assert!(result.validate().is_ok());
            prop_assert_eq!(result.should_store(), expiration_us > 0);
            let text = serde_json::to_string(&result).unwrap();
            prop_assert_eq!(serde_json::from_str::<JobResult>(&text).unwrap(), result);
        }
    }
}
