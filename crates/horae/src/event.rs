//! Events published by stores and schedulers and fanned out by event brokers.
//!
//! An event serializes as one flat JSON object: a snake_case `type` naming the variant, the
//! `timestamp` (RFC 3339, UTC) and the variant's fields under their Rust names, e.g.
//! `{"type":"job_released","timestamp":"2026-01-01T03:00:00Z","job_id":"...",...}`. Optional
//! fields are written as `null`. Unknown extra fields are ignored when reading, so nodes of
//! an older version still understand events from newer ones; an unknown `type` is an error.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::model::{JobId, JobOutcome, ScheduleId, SchedulerRole, TaskId, UnknownVariant};

/// Something that happened in horae. Every variant carries the `timestamp` when it
/// happened; [`kind`](Event::kind) gives the variant without its data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// A task was added.
    TaskAdded {
        /// When it happened.
        timestamp: Timestamp,
        /// The task.
        task_id: TaskId,
    },
    /// A task's definition changed.
    TaskUpdated {
        /// When it happened.
        timestamp: Timestamp,
        /// The task.
        task_id: TaskId,
    },
    /// A task was removed.
    TaskRemoved {
        /// When it happened.
        timestamp: Timestamp,
        /// The task.
        task_id: TaskId,
    },
    /// A schedule was added.
    ScheduleAdded {
        /// When it happened.
        timestamp: Timestamp,
        /// The schedule.
        schedule_id: ScheduleId,
        /// Its task.
        task_id: TaskId,
        /// When it is first due.
        next_fire_time: Option<Timestamp>,
    },
    /// A schedule changed (processed, paused, resumed or replaced).
    ScheduleUpdated {
        /// When it happened.
        timestamp: Timestamp,
        /// The schedule.
        schedule_id: ScheduleId,
        /// Its task.
        task_id: TaskId,
        /// When it is next due.
        next_fire_time: Option<Timestamp>,
    },
    /// A schedule was removed; `finished` when it was removed because its trigger ended.
    ScheduleRemoved {
        /// When it happened.
        timestamp: Timestamp,
        /// The schedule.
        schedule_id: ScheduleId,
        /// Its task.
        task_id: TaskId,
        /// Whether its trigger was exhausted.
        finished: bool,
    },
    /// A stored schedule could not be decoded.
    ScheduleDeserializationFailed {
        /// When it happened.
        timestamp: Timestamp,
        /// The schedule.
        schedule_id: ScheduleId,
        /// What went wrong.
        error: String,
    },
    /// A job was added.
    JobAdded {
        /// When it happened.
        timestamp: Timestamp,
        /// The job.
        job_id: JobId,
        /// Its task.
        task_id: TaskId,
        /// The schedule that created it, if any.
        schedule_id: Option<ScheduleId>,
    },
    /// A node acquired a job (took its lease).
    JobAcquired {
        /// When it happened.
        timestamp: Timestamp,
        /// The job.
        job_id: JobId,
        /// The node.
        node_id: String,
        /// Its task.
        task_id: TaskId,
        /// The schedule that created it, if any.
        schedule_id: Option<ScheduleId>,
        /// The fire time it was created for, if any.
        scheduled_fire_time: Option<Timestamp>,
        /// The attempt (1-based).
        attempt: u32,
        /// The fencing token of this acquisition.
        lease_token: u64,
    },
    /// A job attempt ended and its lease was released.
    JobReleased {
        /// When it happened.
        timestamp: Timestamp,
        /// The job.
        job_id: JobId,
        /// The node that ran it.
        node_id: String,
        /// Its task.
        task_id: TaskId,
        /// The schedule that created it, if any.
        schedule_id: Option<ScheduleId>,
        /// The fire time it was created for, if any.
        scheduled_fire_time: Option<Timestamp>,
        /// When the attempt started, if it did.
        started_at: Option<Timestamp>,
        /// When the attempt ended.
        finished_at: Timestamp,
        /// How it ended.
        outcome: JobOutcome,
        /// The attempt (1-based).
        attempt: u32,
        /// The error message, if it failed.
        error: Option<String>,
    },
    /// A node's release of a job was refused because its lease had been lost (fencing).
    JobLeaseLost {
        /// When it happened.
        timestamp: Timestamp,
        /// The job.
        job_id: JobId,
        /// The node that lost the lease.
        node_id: String,
        /// Its task.
        task_id: TaskId,
        /// The stale fencing token the node presented.
        lease_token: u64,
    },
    /// A scheduler node started.
    SchedulerStarted {
        /// When it happened.
        timestamp: Timestamp,
        /// The node.
        node_id: String,
        /// Its role.
        role: SchedulerRole,
    },
    /// A scheduler node stopped; `error` says why if it stopped on a failure.
    SchedulerStopped {
        /// When it happened.
        timestamp: Timestamp,
        /// The node.
        node_id: String,
        /// The failure that stopped it, if any.
        error: Option<String>,
    },
}

macro_rules! event_kinds {
    ($($(#[$doc:meta])* $variant:ident = $name:literal),+ $(,)?) => {
        /// The kinds of [`Event`], without their data, for subscription filters.
        ///
        /// `Display`, `FromStr` and [`as_str`](EventKind::as_str) use the event's JSON
        /// `type` value (`"job_released"`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum EventKind {
            $($(#[$doc])* $variant),+
        }

        impl EventKind {
            /// Every kind, in declaration order.
            pub const ALL: &'static [EventKind] = &[$(EventKind::$variant),+];

            /// The event's JSON `type` value.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(EventKind::$variant => $name),+
                }
            }
        }
    };
}

event_kinds! {
    /// [`Event::TaskAdded`].
    TaskAdded = "task_added",
    /// [`Event::TaskUpdated`].
    TaskUpdated = "task_updated",
    /// [`Event::TaskRemoved`].
    TaskRemoved = "task_removed",
    /// [`Event::ScheduleAdded`].
    ScheduleAdded = "schedule_added",
    /// [`Event::ScheduleUpdated`].
    ScheduleUpdated = "schedule_updated",
    /// [`Event::ScheduleRemoved`].
    ScheduleRemoved = "schedule_removed",
    /// [`Event::ScheduleDeserializationFailed`].
    ScheduleDeserializationFailed = "schedule_deserialization_failed",
    /// [`Event::JobAdded`].
    JobAdded = "job_added",
    /// [`Event::JobAcquired`].
    JobAcquired = "job_acquired",
    /// [`Event::JobReleased`].
    JobReleased = "job_released",
    /// [`Event::JobLeaseLost`].
    JobLeaseLost = "job_lease_lost",
    /// [`Event::SchedulerStarted`].
    SchedulerStarted = "scheduler_started",
    /// [`Event::SchedulerStopped`].
    SchedulerStopped = "scheduler_stopped",
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventKind {
    type Err = UnknownVariant;

    fn from_str(text: &str) -> Result<EventKind, UnknownVariant> {
        EventKind::ALL
            .iter()
            .copied()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| UnknownVariant {
                kind: "event type",
                value: text.to_owned(),
                expected: EventKind::ALL
                    .iter()
                    .map(|kind| kind.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

impl Event {
    /// The event's kind.
    pub fn kind(&self) -> EventKind {
        match self {
            Event::TaskAdded { .. } => EventKind::TaskAdded,
            Event::TaskUpdated { .. } => EventKind::TaskUpdated,
            Event::TaskRemoved { .. } => EventKind::TaskRemoved,
            Event::ScheduleAdded { .. } => EventKind::ScheduleAdded,
            Event::ScheduleUpdated { .. } => EventKind::ScheduleUpdated,
            Event::ScheduleRemoved { .. } => EventKind::ScheduleRemoved,
            Event::ScheduleDeserializationFailed { .. } => EventKind::ScheduleDeserializationFailed,
            Event::JobAdded { .. } => EventKind::JobAdded,
            Event::JobAcquired { .. } => EventKind::JobAcquired,
            Event::JobReleased { .. } => EventKind::JobReleased,
            Event::JobLeaseLost { .. } => EventKind::JobLeaseLost,
            Event::SchedulerStarted { .. } => EventKind::SchedulerStarted,
            Event::SchedulerStopped { .. } => EventKind::SchedulerStopped,
        }
    }

    /// When the event happened.
    pub fn timestamp(&self) -> Timestamp {
        match self {
            Event::TaskAdded { timestamp, .. }
            | Event::TaskUpdated { timestamp, .. }
            | Event::TaskRemoved { timestamp, .. }
            | Event::ScheduleAdded { timestamp, .. }
            | Event::ScheduleUpdated { timestamp, .. }
            | Event::ScheduleRemoved { timestamp, .. }
            | Event::ScheduleDeserializationFailed { timestamp, .. }
            | Event::JobAdded { timestamp, .. }
            | Event::JobAcquired { timestamp, .. }
            | Event::JobReleased { timestamp, .. }
            | Event::JobLeaseLost { timestamp, .. }
            | Event::SchedulerStarted { timestamp, .. }
            | Event::SchedulerStopped { timestamp, .. } => *timestamp,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const JOB: &str = "0190b7a4-0000-7000-8000-000000000001";
    const AT: &str = "2026-01-01T03:00:00Z";

    fn at() -> Timestamp {
        AT.parse().unwrap()
    }

    fn later() -> Timestamp {
        "2026-01-01T03:00:01.5Z".parse().unwrap()
    }

    /// One event of each kind with its exact JSON.
    fn samples() -> Vec<(Event, Value)> {
        let timestamp = at();
        let job_id: JobId = JOB.parse().unwrap();
        let task_id = TaskId::new("backup").unwrap();
        let schedule_id = ScheduleId::new("nightly").unwrap();
        vec![
            (
                Event::TaskAdded {
                    timestamp,
                    task_id: task_id.clone(),
                },
                json!({"type": "task_added", "timestamp": AT, "task_id": "backup"}),
            ),
            (
                Event::TaskUpdated {
                    timestamp,
                    task_id: task_id.clone(),
                },
                json!({"type": "task_updated", "timestamp": AT, "task_id": "backup"}),
            ),
            (
                Event::TaskRemoved {
                    timestamp,
                    task_id: task_id.clone(),
                },
                json!({"type": "task_removed", "timestamp": AT, "task_id": "backup"}),
            ),
            (
                Event::ScheduleAdded {
                    timestamp,
                    schedule_id: schedule_id.clone(),
                    task_id: task_id.clone(),
                    next_fire_time: Some(later()),
                },
                json!({"type": "schedule_added", "timestamp": AT, "schedule_id": "nightly",
                       "task_id": "backup", "next_fire_time": "2026-01-01T03:00:01.5Z"}),
            ),
            (
                Event::ScheduleUpdated {
                    timestamp,
                    schedule_id: schedule_id.clone(),
                    task_id: task_id.clone(),
                    next_fire_time: None,
                },
                json!({"type": "schedule_updated", "timestamp": AT, "schedule_id": "nightly",
                       "task_id": "backup", "next_fire_time": null}),
            ),
            (
                Event::ScheduleRemoved {
                    timestamp,
                    schedule_id: schedule_id.clone(),
                    task_id: task_id.clone(),
                    finished: true,
                },
                json!({"type": "schedule_removed", "timestamp": AT, "schedule_id": "nightly",
                       "task_id": "backup", "finished": true}),
            ),
            (
                Event::ScheduleDeserializationFailed {
                    timestamp,
                    schedule_id: schedule_id.clone(),
                    error: "trigger: unknown trigger type \"weekly\"".into(),
                },
                json!({"type": "schedule_deserialization_failed", "timestamp": AT,
                       "schedule_id": "nightly", "error": "trigger: unknown trigger type \"weekly\""}),
            ),
            (
                Event::JobAdded {
                    timestamp,
                    job_id,
                    task_id: task_id.clone(),
                    schedule_id: None,
                },
                json!({"type": "job_added", "timestamp": AT, "job_id": JOB, "task_id": "backup",
                       "schedule_id": null}),
            ),
            (
                Event::JobAcquired {
                    timestamp,
                    job_id,
                    node_id: "node-a".into(),
                    task_id: task_id.clone(),
                    schedule_id: Some(schedule_id.clone()),
                    scheduled_fire_time: Some(timestamp),
                    attempt: 1,
                    lease_token: 7,
                },
                json!({"type": "job_acquired", "timestamp": AT, "job_id": JOB, "node_id": "node-a",
                       "task_id": "backup", "schedule_id": "nightly", "scheduled_fire_time": AT,
                       "attempt": 1, "lease_token": 7}),
            ),
            (
                Event::JobReleased {
                    timestamp,
                    job_id,
                    node_id: "node-a".into(),
                    task_id: task_id.clone(),
                    schedule_id: Some(schedule_id.clone()),
                    scheduled_fire_time: Some(timestamp),
                    started_at: Some(timestamp),
                    finished_at: later(),
                    outcome: JobOutcome::Error,
                    attempt: 2,
                    error: Some("exit status 3".into()),
                },
                json!({"type": "job_released", "timestamp": AT, "job_id": JOB, "node_id": "node-a",
                       "task_id": "backup", "schedule_id": "nightly", "scheduled_fire_time": AT,
                       "started_at": AT, "finished_at": "2026-01-01T03:00:01.5Z",
                       "outcome": "error", "attempt": 2, "error": "exit status 3"}),
            ),
            (
                Event::JobLeaseLost {
                    timestamp,
                    job_id,
                    node_id: "node-b".into(),
                    task_id: task_id.clone(),
                    lease_token: 3,
                },
                json!({"type": "job_lease_lost", "timestamp": AT, "job_id": JOB, "node_id": "node-b",
                       "task_id": "backup", "lease_token": 3}),
            ),
            (
                Event::SchedulerStarted {
                    timestamp,
                    node_id: "node-a".into(),
                    role: SchedulerRole::Worker,
                },
                json!({"type": "scheduler_started", "timestamp": AT, "node_id": "node-a",
                       "role": "worker"}),
            ),
            (
                Event::SchedulerStopped {
                    timestamp,
                    node_id: "node-a".into(),
                    error: None,
                },
                json!({"type": "scheduler_stopped", "timestamp": AT, "node_id": "node-a",
                       "error": null}),
            ),
        ]
    }

    #[test]
    fn each_kind_has_its_exact_json() {
        for (event, expected) in samples() {
            assert_eq!(serde_json::to_value(&event).unwrap(), expected);
            assert_eq!(
                serde_json::from_value::<Event>(expected.clone()).unwrap(),
                event
            );
            let text = serde_json::to_string(&event).unwrap();
            assert!(text.starts_with(r#"{"type":""#), "{text}");
            assert_eq!(serde_json::from_str::<Event>(&text).unwrap(), event);
            assert_eq!(expected["type"], json!(event.kind().as_str()));
            assert_eq!(event.timestamp(), at());
        }
    }

    #[test]
    fn kinds_cover_every_variant_once() {
        let kinds: Vec<EventKind> = samples().iter().map(|(event, _)| event.kind()).collect();
        assert_eq!(kinds, EventKind::ALL);
        for kind in EventKind::ALL {
            assert_eq!(kind.to_string().parse::<EventKind>().unwrap(), *kind);
        }
        let error = "job_exploded".parse::<EventKind>().unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("unknown event type \"job_exploded\" (expected one of: task_added, "),
            "{error}"
        );
    }

    #[test]
    fn reading_tolerates_extra_fields_but_not_unknown_types_or_missing_fields() {
        let newer =
            json!({"type": "task_added", "timestamp": AT, "task_id": "backup", "added_in": "v2"});
        assert_eq!(
            serde_json::from_value::<Event>(newer).unwrap().kind(),
            EventKind::TaskAdded
        );
        for (bad, why) in [
            (
                json!({"type": "job_exploded", "timestamp": AT}),
                "unknown variant `job_exploded`",
            ),
            (
                json!({"timestamp": AT, "task_id": "backup"}),
                "missing field `type`",
            ),
            (
                json!({"type": "task_added", "task_id": "backup"}),
                "missing field `timestamp`",
            ),
            (
                json!({"type": "task_added", "timestamp": AT, "task_id": "no way"}),
                "task id \"no way\"",
            ),
            (
                json!({"type": "scheduler_started", "timestamp": AT, "node_id": "n", "role": "boss"}),
                "unknown variant `boss`",
            ),
        ] {
            let error = serde_json::from_value::<Event>(bad.clone())
                .unwrap_err()
                .to_string();
            assert!(error.contains(why), "{bad}: {error}");
        }
    }
}
