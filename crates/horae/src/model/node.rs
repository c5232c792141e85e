//! Nodes: the scheduler processes sharing a store, as they last reported themselves.

use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::SchedulerRole;
use crate::duration::serde_human;

/// A node's heartbeat record. Each running [`Scheduler`](crate::scheduler::Scheduler)
/// writes its own record when it starts and then every third of its lease duration, and
/// removes it when it stops; a node that died leaves a record that stops being refreshed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeInfo {
    /// The node's id.
    pub id: String,
    /// What it does.
    pub role: SchedulerRole,
    /// When it started.
    pub started_at: Timestamp,
    /// Its latest heartbeat.
    pub last_heartbeat: Timestamp,
    /// Its lease duration: the node counts as alive while `last_heartbeat + lease_duration`
    /// is in the future.
    #[serde(with = "serde_human")]
    pub lease_duration: Duration,
    /// The most jobs it runs at once.
    pub max_concurrent_jobs: u32,
    /// How many jobs it was running at its latest heartbeat.
    pub running_jobs: u32,
    /// The horae version it runs.
    pub version: String,
}

impl NodeInfo {
    /// Whether the node's latest heartbeat is recent enough to count it as alive at `now`.
    pub fn is_alive(&self, now: Timestamp) -> bool {
        let lease = jiff::SignedDuration::try_from(self.lease_duration)
            .unwrap_or(jiff::SignedDuration::MAX);
        self.last_heartbeat
            .checked_add(lease)
            .map_or(true, |until| until > now)
    }
}
