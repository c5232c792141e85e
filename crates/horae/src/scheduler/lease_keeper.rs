//! The lease keeper: keeps this node's job leases alive (DESIGN.md invariant 2).
//!
//! On its own timer, independent of how busy the job processor is, it extends the lease of
//! every running job every `lease_duration / 3`. Jobs whose lease the store says this node
//! no longer holds are stopped at once (outcome `lease_lost`, nothing released). A store
//! error is retried at the next tick; two failed ticks still leave a third before a lease
//! can lapse.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::running::RunningJobs;
use crate::clock::{Clock, add};
use crate::error::StoreError;
use crate::store::DataStore;

/// Extends the leases of running jobs (see the module docs).
pub struct LeaseKeeper {
    store: Arc<dyn DataStore>,
    clock: Arc<dyn Clock>,
    running: RunningJobs,
    node_id: String,
    lease_duration: Duration,
}

impl LeaseKeeper {
    /// A keeper for `node_id`'s running jobs.
    pub fn new(
        store: Arc<dyn DataStore>,
        clock: Arc<dyn Clock>,
        running: RunningJobs,
        node_id: impl Into<String>,
        lease_duration: Duration,
    ) -> LeaseKeeper {
        LeaseKeeper {
            store,
            clock,
            running,
            node_id: node_id.into(),
            lease_duration,
        }
    }

    /// Extends every running job's lease once; returns how many leases were lost.
    ///
    /// # Errors
    ///
    /// The store's error; nothing is stopped then (the next tick tries again).
    pub async fn extend_once(&self) -> Result<usize, StoreError> {
        let leases = self.running.leases();
        if leases.is_empty() {
            return Ok(0);
        }
        let until = add(self.clock.now(), self.lease_duration);
        let lost = self
            .store
            .extend_leases(&self.node_id, &leases, &[], until)
            .await?;
        for id in &lost {
            self.running.lose_lease(id);
        }
        let extended = leases.len().saturating_sub(lost.len());
        metrics::counter!("horae_lease_extensions_total").increment(extended as u64);
        Ok(lost.len())
    }

    /// Extends leases every `lease_duration / 3` until `shutdown`.
    pub async fn run_loop(&self, shutdown: CancellationToken) {
        let period = self.lease_duration / 3;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.clock.sleep(period) => {}
            }
            if let Err(error) = self.extend_once().await {
                metrics::counter!("horae_store_errors_total", "operation" => "extend_leases")
                    .increment(1);
                tracing::warn!(%error, "extending job leases failed; retrying at the next tick");
            }
        }
    }
}
