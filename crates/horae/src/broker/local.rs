//! The local broker: fan-out within one process.
//!
//! Each subscription has its own bounded queue and the set of event kinds it asked for, so
//! an event is handed only to the subscribers that want it — and not even allocated when
//! nobody does. Networked brokers deliver what they receive through a `LocalBroker` too.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::{EventBroker, Subscription};
use crate::clock::BoxFuture;
use crate::error::BrokerError;
use crate::event::{Event, EventKind};

/// Events buffered per subscriber before a slow one starts skipping.
pub const DEFAULT_CAPACITY: usize = 4096;

/// Delivers events to subscribers in the same process. Clones share the subscribers.
#[derive(Debug, Clone)]
pub struct LocalBroker {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    capacity: usize,
    subscribers: Mutex<Vec<Subscriber>>,
}

#[derive(Debug)]
struct Subscriber {
    kinds: KindSet,
    sender: mpsc::Sender<Arc<Event>>,
    missed: Arc<AtomicU64>,
}

/// A set of event kinds as a bit mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct KindSet(u64);

impl KindSet {
    fn of(kinds: &[EventKind]) -> KindSet {
        KindSet(
            kinds
                .iter()
                .fold(0, |mask, kind| mask | KindSet::bit(*kind)),
        )
    }

    fn bit(kind: EventKind) -> u64 {
        let index = EventKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
        1 << index
    }

    fn contains(self, kind: EventKind) -> bool {
        self.0 & KindSet::bit(kind) != 0
    }
}

impl LocalBroker {
    /// A broker buffering [`DEFAULT_CAPACITY`] events per subscriber.
    pub fn new() -> LocalBroker {
        LocalBroker::with_capacity(DEFAULT_CAPACITY)
    }

    /// A broker buffering `capacity` (at least 1) events per subscriber.
    pub fn with_capacity(capacity: usize) -> LocalBroker {
        LocalBroker {
            inner: Arc::new(Inner {
                capacity: capacity.max(1),
                subscribers: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Hands `event` to every local subscriber that wants its kind, without waiting: a
    /// subscriber whose queue is full skips it (counted in [`Subscription::missed`]).
    pub fn deliver(&self, event: Event) {
        let kind = event.kind();
        let mut subscribers = self.lock();
        subscribers.retain(|s| !s.sender.is_closed());
        let mut shared: Option<Arc<Event>> = None;
        let mut event = Some(event);
        for subscriber in subscribers.iter().filter(|s| s.kinds.contains(kind)) {
            let item = match (&shared, event.take()) {
                (Some(arc), _) => arc.clone(),
                (None, Some(event)) => shared.insert(Arc::new(event)).clone(),
                (None, None) => break,
            };
            if subscriber.sender.try_send(item).is_err() {
                subscriber.missed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Subscriber>> {
        // Nothing panics while the list is locked; a poisoned lock still holds a valid list.
        self.inner
            .subscribers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
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
        self.deliver(event);
        Box::pin(std::future::ready(Ok(())))
    }

    fn subscribe_to(&self, kinds: &[EventKind]) -> Subscription {
        let (sender, receiver) = mpsc::channel(self.inner.capacity);
        let missed = Arc::new(AtomicU64::new(0));
        self.lock().push(Subscriber {
            kinds: KindSet::of(kinds),
            sender,
            missed: missed.clone(),
        });
        Subscription { receiver, missed }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_bit() {
        let all = KindSet::of(EventKind::ALL);
        assert_eq!(all.0.count_ones() as usize, EventKind::ALL.len());
        for kind in EventKind::ALL {
            assert!(KindSet::of(&[*kind]).contains(*kind));
        }
    }
}
