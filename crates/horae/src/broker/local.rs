//! The local broker: fan-out within one process.

use std::sync::Arc;

use tokio::sync::broadcast;

use super::{EventBroker, Subscription};
use crate::clock::BoxFuture;
use crate::error::BrokerError;
use crate::event::Event;

/// Events buffered per subscriber before a slow one starts skipping.
pub const DEFAULT_CAPACITY: usize = 4096;

/// Delivers events to subscribers in the same process.
#[derive(Debug, Clone)]
pub struct LocalBroker {
    sender: broadcast::Sender<Arc<Event>>,
}

impl LocalBroker {
    /// A broker buffering [`DEFAULT_CAPACITY`] events per subscriber.
    pub fn new() -> LocalBroker {
        LocalBroker::with_capacity(DEFAULT_CAPACITY)
    }

    /// A broker buffering `capacity` (at least 1) events per subscriber.
    pub fn with_capacity(capacity: usize) -> LocalBroker {
        LocalBroker {
            sender: broadcast::channel(capacity.max(1)).0,
        }
    }
}

impl Default for LocalBroker {
    fn default() -> LocalBroker {
        LocalBroker::new()
    }
}

impl EventBroker for LocalBroker {
    fn publish(&self, event: Event) -> BoxFuture<'_, Result<(), BrokerError>> {
        // No subscribers is not an error: nobody needed the event.
        let _ = self.sender.send(Arc::new(event));
        Box::pin(std::future::ready(Ok(())))
    }

    fn subscribe(&self) -> Subscription {
        Subscription::new(self.sender.subscribe())
    }
}
