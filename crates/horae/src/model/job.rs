//! Jobs: requests to run a task once.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{JobId, ScheduleId, TaskId};
use crate::duration::serde_human;
use crate::error::ValidationError;

/// One execution request of a task, with the lease of the node running it.
///
/// A job lives in the store from when it is added until its attempt is released (then a
/// [`JobResult`](super::JobResult) may be kept instead) or it is re-queued with
/// `attempt + 1` by a retry. JSON uses the field names below; unknown fields are rejected.
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
    /// The job is not acquired before this instant (used for retry backoff); `None` = at once.
    #[serde(default)]
    pub not_before: Option<Timestamp>,
    /// How long the job's result is kept; zero = not stored.
    #[serde(default, with = "serde_human")]
    pub result_expiration_time: Duration,
    /// Free-form JSON object for the user; horae does not interpret it.
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
            not_before: None,
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

    /// The fire time before jitter was added (`scheduled_fire_time − jitter`); `None` for
    /// an ad-hoc job, or if the subtraction leaves the supported time range.
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
                format!("job {}: attempt starts at 1, got 0", self.id),
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn job() -> Job {
        Job::new(TaskId::new("backup").unwrap(), ts("2026-01-01T00:00:00Z"))
    }

    #[test]
    fn new_jobs_follow_apscheduler_4() {
        let job = job();
        assert_eq!(job.attempt, 1);
        assert_eq!(
            job.result_expiration_time,
            Duration::ZERO,
            "result not stored"
        );
        assert_eq!(
            (job.schedule_id.as_ref(), job.scheduled_fire_time),
            (None, None)
        );
        assert_eq!(
            (job.start_deadline, job.not_before, job.started_at),
            (None, None, None)
        );
        assert_eq!(job.jitter, Duration::ZERO);
        assert_eq!(
            (
                job.acquired_by.as_deref(),
                job.acquired_until,
                job.lease_token
            ),
            (None, None, 0)
        );
        assert_eq!(job.created_at, ts("2026-01-01T00:00:00Z"));
        assert_eq!(
            job.id.timestamp(),
            Some(job.created_at),
            "the id carries the clock's time"
        );
        assert!(job.validate().is_ok());
    }

    #[test]
    fn original_scheduled_time_subtracts_the_jitter() {
        let mut job = job();
        assert_eq!(job.original_scheduled_time(), None, "ad-hoc job");
        job.scheduled_fire_time = Some(ts("2026-01-01T03:00:02.25Z"));
        job.jitter = Duration::from_millis(2250);
        assert_eq!(
            job.original_scheduled_time(),
            Some(ts("2026-01-01T03:00:00Z"))
        );
        job.jitter = Duration::ZERO;
        assert_eq!(job.original_scheduled_time(), job.scheduled_fire_time);
        job.jitter = Duration::MAX;
        assert_eq!(
            job.original_scheduled_time(),
            None,
            "out of range, no panic"
        );
    }

    #[test]
    fn json_uses_the_field_names() {
        let mut job = job();
        job.id = "0190b7a4-0000-7000-8000-000000000001".parse().unwrap();
        job.args = vec![json!("a")];
        job.kwargs.insert("n".into(), json!(2));
        job.schedule_id = Some(ScheduleId::new("nightly").unwrap());
        job.scheduled_fire_time = Some(ts("2026-01-01T03:00:01Z"));
        job.jitter = Duration::from_secs(1);
        job.start_deadline = Some(ts("2026-01-01T03:01:01Z"));
        job.not_before = Some(ts("2026-01-01T03:00:00Z"));
        job.result_expiration_time = Duration::from_secs(900);
        job.attempt = 2;
        job.started_at = Some(ts("2026-01-01T03:00:01.5Z"));
        job.acquired_by = Some("node-a".into());
        job.acquired_until = Some(ts("2026-01-01T03:00:31Z"));
        job.lease_token = 42;
        let expected = json!({
            "id": "0190b7a4-0000-7000-8000-000000000001",
            "task_id": "backup",
            "args": ["a"],
            "kwargs": {"n": 2},
            "schedule_id": "nightly",
            "scheduled_fire_time": "2026-01-01T03:00:01Z",
            "jitter": "1s",
            "start_deadline": "2026-01-01T03:01:01Z",
            "not_before": "2026-01-01T03:00:00Z",
            "result_expiration_time": "15m",
            "metadata": {},
            "created_at": "2026-01-01T00:00:00Z",
            "attempt": 2,
            "started_at": "2026-01-01T03:00:01.5Z",
            "acquired_by": "node-a",
            "acquired_until": "2026-01-01T03:00:31Z",
            "lease_token": 42,
        });
        assert_eq!(serde_json::to_value(&job).unwrap(), expected);
        assert_eq!(serde_json::from_value::<Job>(expected).unwrap(), job);
    }

    #[test]
    fn malformed_json_is_rejected() {
        let base = json!({"id": "0190b7a4-0000-7000-8000-000000000001", "task_id": "t",
                          "created_at": "2026-01-01T00:00:00Z", "attempt": 1});
        assert!(serde_json::from_value::<Job>(base.clone()).is_ok());
        for (key, value, why) in [
            ("id", json!("job-1"), "UUID parsing failed"),
            ("task_id", json!(""), "task id \"\" must not be empty"),
            ("attempt", json!(-1), "invalid value: integer `-1`"),
            ("lease_token", json!(-1), "invalid value: integer `-1`"),
            ("jitter", json!("-1s"), "invalid duration \"-1s\""),
            (
                "created_at",
                json!("2026-01-01T00:00:00"),
                "failed to find offset component",
            ),
            ("retries", json!(1), "unknown field `retries`"),
        ] {
            let mut bad = base.clone();
            bad[key] = value;
            let error = serde_json::from_value::<Job>(bad.clone())
                .unwrap_err()
                .to_string();
            assert!(error.contains(why), "{bad}: {error}");
        }
    }

    #[test]
    fn invalid_jobs_are_rejected_naming_the_field() {
        let mut job = job();
        job.attempt = 0;
        let error = job.validate().unwrap_err();
        assert_eq!(error.field(), "attempt");
        assert!(
            error.to_string().ends_with("attempt starts at 1, got 0"),
            "{error}"
        );
        job.attempt = 1;
        job.acquired_by = Some("node".into());
        assert_eq!(job.validate().unwrap_err().field(), "acquired_by");
        job.acquired_until = Some(job.created_at);
        assert!(job.validate().is_ok());
    }

    proptest! {
        #[test]
        fn jobs_round_trip(
            micros in 0i64..253_402_300_799_000_000,
            attempt in 1u32..100,
            token in any::<u64>(),
            jitter_us in 0u64..10_000_000,
            scheduled in any::<bool>(),
            node in "[a-z0-9-]{1,20}",
        ) {
            let now = Timestamp::from_microsecond(micros).unwrap();
            let mut job = Job::new(TaskId::new("t").unwrap(), now);
            job.attempt = attempt;
            job.lease_token = token;
            job.jitter = Duration::from_micros(jitter_us);
            if scheduled {
                job.schedule_id = Some(ScheduleId::new("s").unwrap());
                job.scheduled_fire_time = Some(now);
            }
            job.acquired_by = Some(node);
            job.acquired_until = Some(now);
            prop_assert!(job.validate().is_ok());
            let text = serde_json::to_string(&job).unwrap();
            prop_assert_eq!(serde_json::from_str::<Job>(&text).unwrap(), job);
        }
    }
}
