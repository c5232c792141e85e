//! The part every networked broker shares: local fan-out, the envelope, echo skipping and
//! closing.
//!
//! A networked broker (Redis, MQTT, PostgreSQL, ...) owns a [`Relay`] and adds only its
//! transport: publishing sends the bytes [`Relay::outgoing`] returns (see
//! [`Relay::publish`]), and a background task hands what it receives to a [`RelayInbox`]. The inbox holds nothing that keeps the relay
//! alive, so the task ends — [`RelayInbox::stopped`] resolves — once the broker is closed
//! or its relay dropped.
//!
//! ```
//! use horae::broker::Relay;
//! use horae::event::EventKind;
//! # use horae::event::Event;
//! # let event = Event::TaskAdded {
//! #     timestamp: jiff::Timestamp::UNIX_EPOCH,
//! #     task_id: horae::model::TaskId::new("backup").unwrap(),
//! # };
//!
//! let (relay, inbox) = Relay::new("example", "example://server", "horae.events", 16);
//! let mut added = relay.subscribe_to(&[EventKind::TaskAdded]);
//! // Publishing: deliver locally, then send `payload` over the transport.
//! let payload = relay.outgoing(event).unwrap();
//! // Receiving: the echo of our own event is skipped, so `added` gets it only once.
//! inbox.incoming(&payload);
//! drop(relay);
//! assert!(inbox.is_stopped());
//! ```

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio_util::sync::CancellationToken;

use super::{EventBroker, LocalBroker, Subscription, envelope};
use crate::clock::BoxFuture;
use crate::error::BrokerError;
use crate::event::{Event, EventKind};

/// What names a relay in messages and logs, shared by the relay and its inbox.
#[derive(Debug)]
struct Names {
    transport: String,
    url: String,
    channel: String,
    origin: String,
}

/// The transport-independent core of a networked broker: it delivers published events to
/// the local subscribers, wraps them in the [`envelope`] tagged with this instance's
/// origin, and ends everything on [`close`](Relay::close) or when dropped.
///
/// A broker keeps one relay in the state its clones share; its receiving task gets the
/// [`RelayInbox`] made with it.
#[derive(Debug)]
pub struct Relay {
    names: Arc<Names>,
    /// `None` once closed.
    local: Mutex<Option<LocalBroker>>,
    stop: CancellationToken,
}

/// The receiving side of a [`Relay`], for a broker's background task: it delivers the
/// events of other instances to the local subscribers and tells when to stop.
///
/// It holds a clone of the local broker but nothing that keeps the relay alive: dropping
/// the relay (the broker's last clone) or closing it resolves [`stopped`](RelayInbox::stopped).
/// Subscriptions end once both the relay is closed and every inbox dropped.
#[derive(Debug, Clone)]
pub struct RelayInbox {
    names: Arc<Names>,
    local: LocalBroker,
    stop: CancellationToken,
}

impl Relay {
    /// A relay and its inbox, with a fresh origin id and `capacity` events buffered per
    /// local subscriber. `transport` (such as `redis`) and `url` name the broker in errors
    /// — pass a URL without its password; `channel` (the channel or topic) names it in logs.
    pub fn new(
        transport: &str,
        url: impl Into<String>,
        channel: impl Into<String>,
        capacity: usize,
    ) -> (Relay, RelayInbox) {
        let names = Arc::new(Names {
            transport: transport.to_owned(),
            url: url.into(),
            channel: channel.into(),
            origin: uuid::Uuid::now_v7().simple().to_string(),
        });
        let local = LocalBroker::with_capacity(capacity);
        let stop = CancellationToken::new();
        let inbox = RelayInbox {
            names: names.clone(),
            local: local.clone(),
            stop: stop.clone(),
        };
        let relay = Relay {
            names,
            local: Mutex::new(Some(local)),
            stop,
        };
        (relay, inbox)
    }

    /// This broker instance's id, which tags the events it publishes.
    pub fn origin(&self) -> &str {
        &self.names.origin
    }

    /// The URL given to [`Relay::new`].
    pub fn url(&self) -> &str {
        &self.names.url
    }

    /// The channel (or topic) given to [`Relay::new`].
    pub fn channel(&self) -> &str {
        &self.names.channel
    }

    /// Delivers `event` to the local subscribers and returns its envelope, for the broker
    /// to send to the other instances.
    ///
    /// # Errors
    ///
    /// [`BrokerError::Unavailable`] once closed (`the <transport> broker for '<url>' is
    /// closed`); [`BrokerError::Serialization`] when the event cannot be encoded, in which
    /// case nobody gets it.
    pub fn outgoing(&self, event: Event) -> Result<Vec<u8>, BrokerError> {
        let Some(local) = self.local() else {
            return Err(BrokerError::Unavailable(format!(
                "the {} broker for '{}' is closed",
                self.names.transport, self.names.url
            )));
        };
        let payload = envelope::encode(&self.names.origin, &event)?;
        local.deliver(event);
        Ok(payload)
    }

    /// [`EventBroker::publish`] for a broker whose transport sends an envelope with `send`:
    /// the [`outgoing`](Relay::outgoing) envelope of `event`, then `send`'s result.
    pub fn publish<'a, F>(
        &'a self,
        event: Event,
        send: impl FnOnce(Vec<u8>) -> F + Send + 'a,
    ) -> BoxFuture<'a, Result<(), BrokerError>>
    where
        F: Future<Output = Result<(), BrokerError>> + Send + 'a,
    {
        Box::pin(async move { send(self.outgoing(event)?).await })
    }

    /// A subscription to the events of `kinds`, local and received; one made once closed
    /// has already ended.
    pub fn subscribe_to(&self, kinds: &[EventKind]) -> Subscription {
        // A closed relay hands out a subscription of a local broker dropped at once.
        self.local().unwrap_or_default().subscribe_to(kinds)
    }

    /// Stops the inbox and refuses later publishes; subscriptions end once the inbox is
    /// dropped. Dropping the relay does the same.
    pub fn close(&self) {
        self.stop.cancel();
        self.lock_local().take();
    }

    /// Whether [`close`](Relay::close) was called.
    pub fn is_closed(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// The local broker, unless closed.
    fn local(&self) -> Option<LocalBroker> {
        self.lock_local().clone()
    }

    fn lock_local(&self) -> MutexGuard<'_, Option<LocalBroker>> {
        // Nothing panics while this is locked; a poisoned lock still holds a valid value.
        self.local
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl RelayInbox {
    /// Whether `origin` is the relay's own: a message with it is an echo, to skip.
    pub fn is_own(&self, origin: &str) -> bool {
        origin == self.names.origin
    }

    /// The URL given to [`Relay::new`], for logs.
    pub fn url(&self) -> &str {
        &self.names.url
    }

    /// The channel (or topic) given to [`Relay::new`].
    pub fn channel(&self) -> &str {
        &self.names.channel
    }

    /// Handles one received message: delivers the event of another instance to the local
    /// subscribers, skips the echo of the relay's own, and logs and skips a malformed one.
    pub fn incoming(&self, payload: &[u8]) {
        match envelope::decode(payload) {
            Ok((origin, _)) if self.is_own(&origin) => {}
            Ok((_, event)) => self.deliver(event),
            Err(error) => {
                tracing::warn!(channel = %self.names.channel, %error, "skipping a malformed event message");
            }
        }
    }

    /// Delivers an event already decoded (and known not to be an echo) to the local
    /// subscribers.
    pub fn deliver(&self, event: Event) {
        self.local.deliver(event);
    }

    /// Resolves once the relay is closed or dropped: the receiving task should end then.
    pub fn stopped(&self) -> impl Future<Output = ()> + '_ {
        self.stop.cancelled()
    }

    /// Whether the relay is closed or dropped.
    pub fn is_stopped(&self) -> bool {
        self.stop.is_cancelled()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::model::TaskId;

    fn event(n: u32) -> Event {
        Event::TaskAdded {
            timestamp: jiff::Timestamp::UNIX_EPOCH,
            task_id: TaskId::new(format!("task-{n}")).unwrap(),
        }
    }

    fn relay() -> (Relay, RelayInbox) {
        Relay::new("test", "test://server", "horae.events", 16)
    }

    /// The next event, or `None` when the subscription ended or nothing came soon.
    async fn next(subscription: &mut Subscription) -> Option<Event> {
        tokio::time::timeout(Duration::from_millis(200), subscription.recv())
            .await
            .ok()
            .flatten()
            .map(|event| (*event).clone())
    }

    /// Whether the subscription has nothing queued right now.
    async fn quiet(subscription: &mut Subscription) -> bool {
        tokio::time::timeout(Duration::from_millis(50), subscription.recv())
            .await
            .is_err()
    }

    #[tokio::test]
    async fn outgoing_events_are_delivered_once_and_their_echoes_skipped() {
        let (relay, inbox) = relay();
        assert!(inbox.is_own(relay.origin()) && !inbox.is_own("elsewhere"));
        assert_eq!(relay.origin().len(), 32);
        assert_eq!(
            (relay.url(), relay.channel()),
            (inbox.url(), inbox.channel())
        );
        let mut subscription = relay.subscribe_to(EventKind::ALL);
        let payload = relay.outgoing(event(1)).unwrap();
        assert_eq!(
            envelope::decode(&payload).unwrap(),
            (relay.origin().to_owned(), event(1))
        );
        inbox.incoming(&payload);
        assert_eq!(next(&mut subscription).await, Some(event(1)));
        assert!(quiet(&mut subscription).await);
    }

    #[tokio::test]
    async fn events_of_other_instances_are_delivered_and_malformed_ones_skipped() {
        let (relay, inbox) = relay();
        let (other, _) = Relay::new("test", "test://server", "horae.events", 16);
        assert_ne!(relay.origin(), other.origin());
        let mut subscription = relay.subscribe_to(&[EventKind::TaskAdded]);
        inbox.incoming(b"not json");
        inbox.incoming(br#"{"origin":"x","event":{"type":"job_exploded"}}"#);
        inbox.incoming(&other.outgoing(event(2)).unwrap());
        inbox.deliver(event(3));
        assert_eq!(next(&mut subscription).await, Some(event(2)));
        assert_eq!(next(&mut subscription).await, Some(event(3)));
        assert!(quiet(&mut subscription).await);
    }

    #[tokio::test]
    async fn publishing_sends_the_envelope_unless_closed() {
        let (relay, _inbox) = relay();
        let mut subscription = relay.subscribe_to(EventKind::ALL);
        let mut sent = Vec::new();
        relay
            .publish(event(1), |payload| {
                sent.push(payload);
                std::future::ready(Ok(()))
            })
            .await
            .unwrap();
        assert_eq!(sent.len(), 1);
        assert_eq!(next(&mut subscription).await, Some(event(1)));
        let failed = relay.publish(event(2), |_| {
            std::future::ready(Err(BrokerError::Unavailable("down".to_owned())))
        });
        assert!(matches!(failed.await, Err(BrokerError::Unavailable(_))));
        relay.close();
        let refused = relay.publish(event(3), |_| async { panic!("sent once closed") });
        assert!(matches!(refused.await, Err(BrokerError::Unavailable(_))));
    }

    #[tokio::test]
    async fn closing_refuses_publishes_and_ends_subscriptions() {
        let (relay, inbox) = relay();
        let mut subscription = relay.subscribe_to(EventKind::ALL);
        assert!(!relay.is_closed());
        relay.close();
        assert!(relay.is_closed());
        assert!(inbox.is_stopped());
        tokio::time::timeout(Duration::from_secs(1), inbox.stopped())
            .await
            .unwrap();
        let error = relay.outgoing(event(1)).unwrap_err();
        assert!(matches!(error, BrokerError::Unavailable(_)), "{error}");
        assert_eq!(
            error.to_string(),
            BrokerError::Unavailable("the test broker for 'test://server' is closed".to_owned())
                .to_string()
        );
        let mut late = relay.subscribe_to(EventKind::ALL);
        assert!(late.recv().await.is_none());
        // The receiving task ends once stopped, dropping its inbox: then subscriptions end.
        drop(inbox);
        assert!(subscription.recv().await.is_none());
    }

    #[tokio::test]
    async fn dropping_the_relay_stops_its_inbox() {
        let (relay, inbox) = relay();
        let task = tokio::spawn(async move {
            inbox.stopped().await;
            inbox.is_stopped()
        });
        tokio::task::yield_now().await;
        assert!(!task.is_finished());
        drop(relay);
        let stopped = tokio::time::timeout(Duration::from_secs(1), task)
            .await
            .unwrap()
            .unwrap();
        assert!(stopped);
    }
}
