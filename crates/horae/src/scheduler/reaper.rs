//! The reaper: handles jobs whose node died or stalled (DESIGN.md invariant 8).
//!
//! Every `lease_duration / 3` it asks the store for started jobs whose lease expired; the
//! store hands each to exactly one reaper, which re-queues it as the next attempt (if the
//! task's retry policy allows) or finishes it as `abandoned`. So a dead node's jobs are dealt
//! with within about one lease duration, not at the cleanup interval.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::job_processor::released_event;
use crate::broker::{EventBroker, publish_or_log};
use crate::clock::Clock;
use crate::error::StoreError;
use crate::event::Event;
use crate::store::{DataStore, Reaped};

/// Reaps jobs of dead or stalled nodes (see the module docs).
pub struct Reaper {
    store: Arc<dyn DataStore>,
    broker: Arc<dyn EventBroker>,
    clock: Arc<dyn Clock>,
    node_id: String,
    interval: Duration,
}

impl Reaper {
    /// A reaper running every `interval` on behalf of `node_id`.
    pub fn new(
        store: Arc<dyn DataStore>,
        broker: Arc<dyn EventBroker>,
        clock: Arc<dyn Clock>,
        node_id: impl Into<String>,
        interval: Duration,
    ) -> Reaper {
        Reaper {
            store,
            broker,
            clock,
            node_id: node_id.into(),
            interval,
        }
    }

    /// Reaps once; returns what was done.
    ///
    /// # Errors
    ///
    /// The store's error.
    pub async fn reap_once(&self) -> Result<Vec<Reaped>, StoreError> {
        let now = self.clock.now();
        let reaped = self.store.reap_expired(now).await?;
        for item in &reaped {
            let event = match item {
                Reaped::Abandoned(result) => released_event(&self.node_id, result, None),
                Reaped::Requeued { job, task_id, .. } => Event::JobAdded {
                    timestamp: now,
                    job_id: *job,
                    task_id: task_id.clone(),
                    schedule_id: None,
                },
            };
            publish_or_log(&*self.broker, event).await;
        }
        if !reaped.is_empty() {
            tracing::info!(count = reaped.len(), "reaped jobs of dead or stalled nodes");
        }
        Ok(reaped)
    }

    /// Reaps every `interval` until `shutdown`.
    pub async fn run_loop(&self, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.clock.sleep(self.interval) => {}
            }
            if let Err(error) = self.reap_once().await {
                tracing::warn!(%error, "reaping expired jobs failed");
            }
        }
    }
}
