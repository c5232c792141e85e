//! Events published by stores and schedulers and fanned out by event brokers.
//!
//! Events serialize as JSON objects with a snake_case `type` field:
//! `{"type":"job_released","timestamp":"...","job_id":"...",...}`.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::model::{JobId, JobOutcome, ScheduleId, SchedulerRole, TaskId};

/// Something that happened in horae.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
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

/// The kinds of [`Event`], for subscription filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[allow(
    missing_docs,
    reason = "each variant names the Event variant of the same name"
)]
pub enum EventKind {
    TaskAdded,
    TaskUpdated,
    TaskRemoved,
    ScheduleAdded,
    ScheduleUpdated,
    ScheduleRemoved,
    ScheduleDeserializationFailed,
    JobAdded,
    JobAcquired,
    JobReleased,
    JobLeaseLost,
    SchedulerStarted,
    SchedulerStopped,
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
