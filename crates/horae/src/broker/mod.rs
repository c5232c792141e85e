//! The event broker contract (DESIGN.md section 6) and the in-process local broker.
//!
//! A broker fans events out to every subscriber, in this process and — for the networked
//! brokers — in the other nodes sharing the store. Delivery is best effort: a subscriber
//! that falls behind skips events (and can see how many), because events only wake nodes
//! up early; correctness never depends on them.

mod local;

use std::sync::Arc;

use tokio::sync::broadcast;

pub use self::local::{DEFAULT_CAPACITY, LocalBroker};
use crate::clock::BoxFuture;
use crate::error::BrokerError;
use crate::event::Event;

/// Fan-out of events between schedulers and to subscribers.
pub trait EventBroker: Send + Sync + 'static {
    /// Publishes an event to every subscriber (in every node, for networked brokers).
    fn publish(&self, event: Event) -> BoxFuture<'_, Result<(), BrokerError>>;

    /// A new subscription that receives every event published from now on.
    fn subscribe(&self) -> Subscription;
}

/// Publishes an event, logging (not returning) a failure: events only wake nodes early, so
/// a lost one costs latency, never correctness (DESIGN.md section 6).
pub(crate) async fn publish_or_log(broker: &dyn EventBroker, event: Event) {
    if let Err(error) = broker.publish(event).await {
        tracing::warn!(%error, "could not publish an event");
    }
}

/// A stream of events from a broker.
#[derive(Debug)]
pub struct Subscription {
    receiver: broadcast::Receiver<Arc<Event>>,
    missed: u64,
}

impl Subscription {
    /// Wraps a receiver of a broker's local fan-out channel (events are shared, not copied,
    /// between subscribers).
    pub fn new(receiver: broadcast::Receiver<Arc<Event>>) -> Subscription {
        Subscription {
            receiver,
            missed: 0,
        }
    }

    /// The next event, or `None` once the broker is gone. Events this subscriber was too
    /// slow to take are skipped and counted in [`Subscription::missed`].
    pub async fn recv(&mut self) -> Option<Arc<Event>> {
        loop {
            match self.receiver.recv().await {
                Ok(event) => return Some(event),
                Err(broadcast::error::RecvError::Lagged(skipped)) => self.missed += skipped,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// How many events were skipped because this subscriber fell behind.
    pub fn missed(&self) -> u64 {
        self.missed
    }
}
