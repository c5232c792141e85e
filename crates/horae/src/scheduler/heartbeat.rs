//! The heartbeat: keeps this node's [`NodeInfo`] record in the store up to date, so that
//! operators (`horae node list`, `GET /api/v1/nodes`) see which nodes share the store.
//!
//! It records the node when it starts and then every `interval` (default a third of the
//! lease duration, like the lease keeper), with the number of jobs running at that moment.
//! A record that is not refreshed for a lease duration belongs to a node that died or
//! stalled ([`NodeInfo::is_alive`]); cleanup deletes it after
//! [`DEAD_NODE_RETENTION`](crate::store::DEAD_NODE_RETENTION). A failed write is logged and
//! retried after a backoff delay (never later than the next regular beat); the heartbeat
//! never stops on a store error. [`Heartbeat::remove`] deletes the record when the node
//! stops gracefully; a crashed node leaves it behind.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio_util::sync::CancellationToken;

use super::running::RunningJobs;
use crate::backoff::Backoff;
use crate::clock::Clock;
use crate::error::StoreError;
use crate::model::{NodeInfo, SchedulerRole};
use crate::store::DataStore;

/// The horae version a node reports.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What a heartbeat reports and how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatConfig {
    /// The node's id.
    pub node_id: String,
    /// The node's role (default both).
    pub role: SchedulerRole,
    /// The node's lease duration (default 30 s): its record counts as alive for that long
    /// after each beat.
    pub lease_duration: Duration,
    /// The most jobs the node runs at once (default 100).
    pub max_concurrent_jobs: u32,
    /// Time between beats (default 10 s, a third of the default lease: two beats may fail
    /// before the record looks dead). Less than 1 ms counts as 1 ms.
    pub interval: Duration,
}

impl HeartbeatConfig {
    /// The defaults for node `node_id`.
    pub fn new(node_id: impl Into<String>) -> HeartbeatConfig {
        let lease_duration = Duration::from_secs(30);
        HeartbeatConfig {
            node_id: node_id.into(),
            role: SchedulerRole::Both,
            lease_duration,
            max_concurrent_jobs: 100,
            interval: lease_duration / 3,
        }
    }
}

/// Writes this node's heartbeat record (see the module docs).
pub struct Heartbeat {
    store: Arc<dyn DataStore>,
    clock: Arc<dyn Clock>,
    running: RunningJobs,
    config: HeartbeatConfig,
    started_at: Timestamp,
}

impl Heartbeat {
    /// A heartbeat for a node started now, reporting the size of `running` as its running
    /// jobs.
    pub fn new(
        store: Arc<dyn DataStore>,
        clock: Arc<dyn Clock>,
        running: RunningJobs,
        config: HeartbeatConfig,
    ) -> Heartbeat {
        let started_at = clock.now();
        Heartbeat {
            store,
            clock,
            running,
            config,
            started_at,
        }
    }

    /// The record as of now.
    pub fn node_info(&self) -> NodeInfo {
        NodeInfo {
            id: self.config.node_id.clone(),
            role: self.config.role,
            started_at: self.started_at,
            last_heartbeat: self.clock.now(),
            lease_duration: self.config.lease_duration,
            max_concurrent_jobs: self.config.max_concurrent_jobs,
            running_jobs: u32::try_from(self.running.len()).unwrap_or(u32::MAX),
            version: VERSION.to_owned(),
        }
    }

    /// Writes the record once.
    ///
    /// # Errors
    ///
    /// The store's error.
    pub async fn beat_once(&self) -> Result<(), StoreError> {
        self.store.record_node(self.node_info()).await
    }

    /// Deletes the record (a graceful stop).
    ///
    /// # Errors
    ///
    /// The store's error.
    pub async fn remove(&self) -> Result<(), StoreError> {
        self.store.remove_node(&self.config.node_id).await
    }

    /// Beats at once and then every `interval` until `shutdown`; a failed beat is retried
    /// sooner, after a backoff delay. A beat under way when `shutdown` comes is finished
    /// first, so no write follows the return.
    pub async fn run_loop(&self, shutdown: CancellationToken) {
        let interval = self.config.interval.max(Duration::from_millis(1));
        let mut backoff = Backoff::new();
        loop {
            let wait = match self.beat_once().await {
                Ok(()) => {
                    backoff.reset();
                    interval
                }
                Err(error) => {
                    let retry_in = backoff.next_delay().min(interval);
                    tracing::warn!(
                        %error,
                        node_id = %self.config.node_id,
                        ?retry_in,
                        "recording the node's heartbeat failed; retrying"
                    );
                    retry_in
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.clock.sleep(wait) => {}
            }
        }
    }
}
