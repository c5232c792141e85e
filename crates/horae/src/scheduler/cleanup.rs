//! Cleanup: deletes expired results and schedules whose trigger ended.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::broker::{EventBroker, publish_or_log};
use crate::clock::Clock;
use crate::error::StoreError;
use crate::event::Event;
use crate::store::{CleanupReport, DataStore};

/// The default time between cleanups (APScheduler 4's 15 minutes).
pub const DEFAULT_CLEANUP_INTERVAL: Duration = Duration::from_secs(15 * 60);

/// Periodic store cleanup.
pub struct Cleanup {
    store: Arc<dyn DataStore>,
    broker: Arc<dyn EventBroker>,
    clock: Arc<dyn Clock>,
    interval: Duration,
}

impl Cleanup {
    /// A cleanup service running every `interval`.
    pub fn new(
        store: Arc<dyn DataStore>,
        broker: Arc<dyn EventBroker>,
        clock: Arc<dyn Clock>,
        interval: Duration,
    ) -> Cleanup {
        Cleanup {
            store,
            broker,
            clock,
            interval,
        }
    }

    /// Cleans up once and announces finished schedules (`ScheduleRemoved`, `finished`).
    ///
    /// # Errors
    ///
    /// The store's error.
    pub async fn clean_once(&self) -> Result<CleanupReport, StoreError> {
        let now = self.clock.now();
        let report = self.store.cleanup(now).await?;
        for (schedule_id, task_id) in &report.finished_schedules {
            let event = Event::ScheduleRemoved {
                timestamp: now,
                schedule_id: schedule_id.clone(),
                task_id: task_id.clone(),
                finished: true,
            };
            publish_or_log(&*self.broker, event).await;
        }
        Ok(report)
    }

    /// Cleans up at start and then every `interval` until `shutdown`.
    pub async fn run_loop(&self, shutdown: CancellationToken) {
        loop {
            if let Err(error) = self.clean_once().await {
                tracing::warn!(%error, "cleanup failed");
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.clock.sleep(self.interval) => {}
            }
        }
    }
}
