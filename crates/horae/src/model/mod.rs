//! The data model: tasks, schedules, jobs and job results, with their ids and enums.
//!
//! Every type serializes to JSON with its Rust field names (the `--json` output and the
//! HTTP API use them); timestamps are RFC 3339 strings (UTC, `Z`) and durations human
//! strings such as `"30s"` (see [`crate::duration`]). Constructors and omitted JSON fields
//! take APScheduler 4's defaults; each type has a `validate` for the rules serde cannot
//! express.

mod action;
mod ids;
mod job;
mod kinds;
mod node;
mod result;
mod retry;
mod schedule;
mod task;

pub use self::action::{CommandAction, HttpAction, TaskAction};
pub use self::ids::{JobId, MAX_ID_LEN, ScheduleId, TaskId};
pub use self::job::Job;
pub use self::kinds::{
    CoalescePolicy, ConflictPolicy, ExecutorKind, JobOutcome, RunState, SchedulerRole,
    UnknownVariant,
};
pub use self::node::NodeInfo;
pub use self::result::JobResult;
pub use self::retry::RetryPolicy;
pub use self::schedule::Schedule;
pub use self::task::Task;
