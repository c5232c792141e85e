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
///
/// JSON uses the field names below; omitted fields take APScheduler 4's defaults (see
/// [`Schedule::new`]); unknown fields are rejected. Deserializing checks ids, durations and
/// the trigger but not the cross-field rules: call [`validate`](Schedule::validate).
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
    /// Free-form JSON object for the user; horae does not interpret it.
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// When the schedule is next due; `None` once the trigger is exhausted (the store
    /// computes the first value when the schedule is added).
    #[serde(default)]
    pub next_fire_time: Option<Timestamp>,
    /// The last fire time a job was created for, without jitter; `None` before the first.
    #[serde(default)]
    pub last_fire_time: Option<Timestamp>,
    /// The node whose lease on the schedule is current, if any (set together with
    /// `acquired_until`).
    #[serde(default)]
    pub acquired_by: Option<String>,
    /// When that lease expires unless extended; after it, any node may acquire the schedule.
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn trigger() -> Trigger {
        serde_json::from_value(json!({"type": "date", "run_time": "2026-01-01T03:00:00+00:00"}))
            .unwrap()
    }

    fn schedule() -> Schedule {
        Schedule::new(
            ScheduleId::new("nightly").unwrap(),
            TaskId::new("backup").unwrap(),
            trigger(),
        )
    }

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn defaults_follow_apscheduler_4() {
        let schedule = schedule();
        assert!(!schedule.paused);
        assert_eq!(schedule.coalesce, CoalescePolicy::Latest);
        assert_eq!(schedule.misfire_grace_time, None);
        assert_eq!(schedule.max_jitter, None);
        assert_eq!(schedule.job_result_expiration_time, Duration::ZERO);
        assert_eq!(
            (schedule.next_fire_time, schedule.last_fire_time),
            (None, None)
        );
        assert_eq!(
            (schedule.acquired_by.as_deref(), schedule.acquired_until),
            (None, None)
        );
        assert!(
            schedule.args.is_empty() && schedule.kwargs.is_empty() && schedule.metadata.is_empty()
        );
        assert!(schedule.validate().is_ok());
    }

    #[test]
    fn json_uses_the_field_names() {
        let mut schedule = schedule();
        schedule.args = vec![json!(1), json!("two")];
        schedule.kwargs.insert("dry_run".into(), json!(true));
        schedule.coalesce = CoalescePolicy::All;
        schedule.misfire_grace_time = Some(Duration::from_secs(30));
        schedule.max_jitter = Some(Duration::from_millis(1500));
        schedule.job_result_expiration_time = Duration::from_secs(3600);
        schedule.next_fire_time = Some(ts("2026-01-01T03:00:00Z"));
        schedule.last_fire_time = Some(ts("2025-12-31T03:00:00.5Z"));
        schedule.acquired_by = Some("node-a".into());
        schedule.acquired_until = Some(ts("2026-01-01T03:00:30Z"));
        let expected = json!({
            "id": "nightly",
            "task_id": "backup",
            "trigger": serde_json::to_value(&schedule.trigger).unwrap(),
            "args": [1, "two"],
            "kwargs": {"dry_run": true},
            "paused": false,
            "coalesce": "all",
            "misfire_grace_time": "30s",
            "max_jitter": "1s500ms",
            "job_result_expiration_time": "1h",
            "metadata": {},
            "next_fire_time": "2026-01-01T03:00:00Z",
            "last_fire_time": "2025-12-31T03:00:00.5Z",
            "acquired_by": "node-a",
            "acquired_until": "2026-01-01T03:00:30Z",
        });
        assert_eq!(serde_json::to_value(&schedule).unwrap(), expected);
        assert_eq!(
            serde_json::from_value::<Schedule>(expected).unwrap(),
            schedule
        );
    }

    #[test]
    fn omitted_fields_take_the_defaults() {
        let minimal: Schedule = serde_json::from_value(json!({
            "id": "nightly",
            "task_id": "backup",
            "trigger": {"type": "date", "run_time": "2026-01-01T03:00:00+00:00"},
        }))
        .unwrap();
        assert_eq!(minimal, schedule());
    }

    #[test]
    fn malformed_json_is_rejected() {
        for (bad, why) in [
            (
                json!({"id": "night ly", "task_id": "t", "trigger": {"type": "date", "run_time": "2026-01-01T03:00:00+00:00"}}),
                "schedule id \"night ly\"",
            ),
            (
                json!({"id": "n", "task_id": "t"}),
                "missing field `trigger`",
            ),
            (
                json!({"id": "n", "task_id": "t", "trigger": {"type": "date", "run_time": "2026-01-01T03:00:00+00:00"}, "coalesce": "first"}),
                "unknown variant `first`",
            ),
            (
                json!({"id": "n", "task_id": "t", "trigger": {"type": "date", "run_time": "2026-01-01T03:00:00+00:00"}, "next_fire_time": "tomorrow"}),
                "failed to parse four digit integer as year",
            ),
            (
                json!({"id": "n", "task_id": "t", "trigger": {"type": "date", "run_time": "2026-01-01T03:00:00+00:00"}, "job_result_expiration_time": null}),
                "invalid type: null",
            ),
            (
                json!({"id": "n", "task_id": "t", "trigger": {"type": "date", "run_time": "2026-01-01T03:00:00+00:00"}, "paused": "yes"}),
                "invalid type: string",
            ),
            (
                json!({"id": "n", "task_id": "t", "trigger": {"type": "date", "run_time": "2026-01-01T03:00:00+00:00"}, "task": "t"}),
                "unknown field `task`",
            ),
        ] {
            let error = serde_json::from_value::<Schedule>(bad.clone())
                .unwrap_err()
                .to_string();
            assert!(error.contains(why), "{bad}: {error}");
        }
    }

    #[test]
    fn a_half_set_lease_is_invalid() {
        let mut schedule = schedule();
        schedule.acquired_by = Some("node-a".into());
        let error = schedule.validate().unwrap_err();
        assert_eq!(error.field(), "acquired_by");
        assert_eq!(
            error.to_string(),
            "schedule 'nightly': acquired_by and acquired_until must be set together"
        );
        schedule.acquired_by = None;
        schedule.acquired_until = Some(ts("2026-01-01T00:00:00Z"));
        assert_eq!(schedule.validate().unwrap_err().field(), "acquired_by");
        schedule.acquired_by = Some("node-a".into());
        assert!(schedule.validate().is_ok());
    }

    proptest! {
        #[test]
        fn schedules_round_trip(
            paused in any::<bool>(),
            coalesce in proptest::sample::select(CoalescePolicy::ALL),
            grace_us in proptest::option::of(0u64..10_000_000_000),
            jitter_us in proptest::option::of(0u64..10_000_000_000),
            expiration_us in 0u64..10_000_000_000,
            next in proptest::option::of(0i64..253_402_300_799_000_000),
            last in proptest::option::of(0i64..253_402_300_799_000_000),
            args in proptest::collection::vec(any::<i64>(), 0..4),
        ) {
            let mut schedule = schedule();
            schedule.paused = paused;
            schedule.coalesce = coalesce;
            schedule.misfire_grace_time = grace_us.map(Duration::from_micros);
            schedule.max_jitter = jitter_us.map(Duration::from_micros);
            schedule.job_result_expiration_time = Duration::from_micros(expiration_us);
            schedule.next_fire_time = next.map(|us| Timestamp::from_microsecond(us).unwrap());
            schedule.last_fire_time = last.map(|us| Timestamp::from_microsecond(us).unwrap());
            schedule.args = args.into_iter().map(Value::from).collect();
            let text = serde_json::to_string(&schedule).unwrap();
            prop_assert_eq!(serde_json::from_str::<Schedule>(&text).unwrap(), schedule);
        }
    }
}
