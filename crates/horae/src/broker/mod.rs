//! The event broker contract (DESIGN.md section 6) and the in-process local broker.
//!
//! A broker fans events out to every subscriber, in this process and — for the networked
//! brokers — in the other nodes sharing the store. Delivery is best effort: a subscriber
//! that falls behind skips events (and can see how many), because events only wake nodes
//! up early; correctness never depends on them. The networked brokers share their
//! transport-independent part, a [`Relay`].

pub mod envelope;
mod local;
mod relay;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;

pub use self::local::{DEFAULT_CAPACITY, LocalBroker};
pub use self::relay::{Relay, RelayInbox};
use crate::clock::BoxFuture;
use crate::error::BrokerError;
use crate::event::{Event, EventKind};

/// Fan-out of events between schedulers and to subscribers.
pub trait EventBroker: Send + Sync + 'static {
    /// Publishes an event to every subscriber (in every node, for networked brokers).
    fn publish(&self, event: Event) -> BoxFuture<'_, Result<(), BrokerError>>;

    /// A new subscription that receives the events of the given kinds published from now on.
    fn subscribe_to(&self, kinds: &[EventKind]) -> Subscription;

    /// A new subscription that receives every event published from now on.
    fn subscribe(&self) -> Subscription {
        self.subscribe_to(EventKind::ALL)
    }
}

/// Publishes an event, logging (not returning) a failure: events only wake nodes early, so
/// a lost one costs latency, never correctness (DESIGN.md section 6).
pub(crate) async fn publish_or_log(broker: &dyn EventBroker, event: Event) {
    if let Err(error) = broker.publish(event).await {
        tracing::warn!(%error, "could not publish an event");
    }
}

/// A stream of events from a broker, made by [`EventBroker::subscribe_to`].
#[derive(Debug)]
pub struct Subscription {
    receiver: mpsc::Receiver<Arc<Event>>,
    missed: Arc<AtomicU64>,
}

impl Subscription {
    /// The next event, or `None` once the broker is gone. Events that arrived while this
    /// subscriber's queue was full were skipped and are counted in [`Subscription::missed`].
    pub async fn recv(&mut self) -> Option<Arc<Event>> {
        self.receiver.recv().await
    }

    /// The next event if one is already waiting, without waiting for one.
    pub fn try_recv(&mut self) -> Option<Arc<Event>> {
        self.receiver.try_recv().ok()
    }

    /// How many events were skipped because this subscriber fell behind.
    pub fn missed(&self) -> u64 {
        self.missed.load(Ordering::Relaxed)
    }
}
