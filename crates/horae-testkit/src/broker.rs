//! The event broker conformance cases (DESIGN.md section 6).
//!
//! Networked brokers deliver asynchronously, so every receive waits up to [`DELIVERY`].

use std::sync::Arc;
use std::time::Duration;

use horae::broker::{EventBroker, Subscription};
use horae::event::{Event, EventKind};
use horae::model::TaskId;
use jiff::Timestamp;

/// The broker under test.
pub type Broker = Arc<dyn EventBroker>;

/// How long a published event may take to arrive.
pub const DELIVERY: Duration = Duration::from_secs(5);

/// What a broker factory may return: a broker, or `None` to skip the case (a backend whose
/// server is unreachable outside CI prints why and returns `None`).
pub trait BrokerFixture {
    /// The broker to test, or `None` to skip.
    fn into_broker(self) -> Option<Broker>;
}

impl BrokerFixture for Broker {
    fn into_broker(self) -> Option<Broker> {
        Some(self)
    }
}

impl BrokerFixture for Option<Broker> {
    fn into_broker(self) -> Option<Broker> {
        self
    }
}

/// What a pair factory may return: two broker instances sharing one channel (two nodes),
/// or `None` to skip the case.
pub trait BrokerPairFixture {
    /// The two brokers to test, or `None` to skip.
    fn into_pair(self) -> Option<(Broker, Broker)>;
}

impl BrokerPairFixture for (Broker, Broker) {
    fn into_pair(self) -> Option<(Broker, Broker)> {
        Some(self)
    }
}

impl BrokerPairFixture for Option<(Broker, Broker)> {
    fn into_pair(self) -> Option<(Broker, Broker)> {
        self
    }
}

/// A distinct test event (`task_added` of `task-<n>`).
pub fn event(n: i64) -> Event {
    Event::TaskAdded {
        timestamp: Timestamp::from_second(1_800_000_000 + n).unwrap(),
        task_id: TaskId::new(format!("task-{n}")).unwrap(),
    }
}

/// The next event, within [`DELIVERY`].
///
/// # Panics
///
/// When none arrives in time or the broker closed.
pub async fn next(subscription: &mut Subscription) -> Event {
    let event = tokio::time::timeout(DELIVERY, subscription.recv())
        .await
        .expect("event delivered in time")
        .expect("broker still open");
    (*event).clone()
}

/// Every subscriber receives every event, in publication order.
pub async fn every_subscriber_receives_every_event_in_order(broker: Broker) {
    let mut subscriptions: Vec<Subscription> = (0..3).map(|_| broker.subscribe()).collect();
    for n in 0..20 {
        broker.publish(event(n)).await.unwrap();
    }
    for subscription in &mut subscriptions {
        for n in 0..20 {
            assert_eq!(next(subscription).await, event(n));
        }
        assert_eq!(subscription.missed(), 0);
    }
}

/// A subscription sees only events published after it was made.
pub async fn subscribers_see_only_later_events(broker: Broker) {
    broker.publish(event(0)).await.unwrap();
    let mut late = broker.subscribe();
    broker.publish(event(1)).await.unwrap();
    assert_eq!(next(&mut late).await, event(1));
}

/// Dropping a subscription neither fails publishing nor disturbs other subscribers.
pub async fn closed_subscribers_get_nothing_and_block_nobody(broker: Broker) {
    let dropped = broker.subscribe();
    let mut kept = broker.subscribe();
    drop(dropped);
    for n in 0..100 {
        broker.publish(event(n)).await.unwrap();
    }
    for n in 0..100 {
        assert_eq!(next(&mut kept).await, event(n));
    }
}

/// Publishing with no subscriber at all succeeds.
pub async fn publishing_without_subscribers_succeeds(broker: Broker) {
    broker.publish(event(0)).await.unwrap();
    let mut subscription = broker.subscribe();
    broker.publish(event(1)).await.unwrap();
    assert_eq!(next(&mut subscription).await, event(1));
}

/// How long to wait before concluding that no further event is coming.
const QUIET: Duration = Duration::from_millis(300);

/// Asserts that `subscription` receives nothing more within [`QUIET`].
async fn assert_nothing_more(subscription: &mut Subscription, what: &str) {
    if let Ok(extra) = tokio::time::timeout(QUIET, subscription.recv()).await {
        panic!("{what} received an unexpected event: {extra:?}");
    }
}

/// Events published on one broker instance reach the subscribers of another instance
/// sharing its channel (another node), in order, and every subscriber — on either
/// instance — sees each event exactly once (a broker does not deliver its own events twice).
pub async fn events_reach_subscribers_of_another_broker_instance(first: Broker, second: Broker) {
    let mut local = first.subscribe();
    let mut remote = second.subscribe();
    for n in 0..10 {
        first.publish(event(n)).await.unwrap();
    }
    for n in 0..10 {
        assert_eq!(next(&mut remote).await, event(n), "on the other instance");
    }
    for n in 0..10 {
        assert_eq!(
            next(&mut local).await,
            event(n),
            "on the publishing instance"
        );
    }
    // And back the other way.
    second.publish(event(10)).await.unwrap();
    assert_eq!(next(&mut local).await, event(10), "on the first instance");
    assert_eq!(next(&mut remote).await, event(10), "on the second instance");
    assert_nothing_more(&mut local, "the first instance's subscriber").await;
    assert_nothing_more(&mut remote, "the second instance's subscriber").await;
    assert_eq!(local.missed() + remote.missed(), 0);
}

/// A subscription to some event kinds receives only events of those kinds, on the
/// publishing instance and on another one; a subscription to no kind receives nothing.
pub async fn subscribers_get_only_the_kinds_they_asked_for(first: Broker, second: Broker) {
    let task_id = TaskId::new("filtered").unwrap();
    let timestamp = Timestamp::from_second(1_800_000_000).unwrap();
    let events = [
        Event::TaskAdded {
            timestamp,
            task_id: task_id.clone(),
        },
        Event::TaskUpdated {
            timestamp,
            task_id: task_id.clone(),
        },
        Event::TaskRemoved {
            timestamp,
            task_id: task_id.clone(),
        },
        Event::SchedulerStopped {
            timestamp,
            node_id: "node-a".into(),
            error: None,
        },
        Event::TaskAdded {
            timestamp: Timestamp::from_second(1_800_000_001).unwrap(),
            task_id,
        },
    ];
    let added = [EventKind::TaskAdded];
    let removed_or_stopped = [EventKind::TaskRemoved, EventKind::SchedulerStopped];
    let mut subscriptions = [
        (first.subscribe_to(&added), &added[..], "first, task_added"),
        (
            second.subscribe_to(&added),
            &added[..],
            "second, task_added",
        ),
        (
            first.subscribe_to(&removed_or_stopped),
            &removed_or_stopped[..],
            "first, task_removed + scheduler_stopped",
        ),
        (
            second.subscribe_to(&removed_or_stopped),
            &removed_or_stopped[..],
            "second, task_removed + scheduler_stopped",
        ),
    ];
    let mut nothing = [first.subscribe_to(&[]), second.subscribe_to(&[])];
    for event in &events {
        first.publish(event.clone()).await.unwrap();
    }
    for (subscription, kinds, what) in &mut subscriptions {
        for expected in events.iter().filter(|event| kinds.contains(&event.kind())) {
            assert_eq!(&next(subscription).await, expected, "{what}");
        }
    }
    for (subscription, _, what) in &mut subscriptions {
        assert_nothing_more(subscription, what).await;
    }
    for subscription in &mut nothing {
        assert_nothing_more(subscription, "a subscription to no kind").await;
    }
}

/// Delivery between two instances resumes after their server restarts: `stop` takes the
/// server down; publishing then fails fast with `Unavailable` while local subscribers
/// still get the event; `start` brings it back; an event published afterwards reaches
/// the other instance within `recovery`. `stop` and `start` block until done.
pub async fn delivery_resumes_after_the_server_restarts(
    first: Broker,
    second: Broker,
    stop: impl FnOnce() + Send + 'static,
    start: impl FnOnce() + Send + 'static,
    recovery: Duration,
) {
    let mut local = first.subscribe();
    let mut remote = second.subscribe();
    first.publish(event(0)).await.unwrap();
    assert_eq!(next(&mut remote).await, event(0));
    assert_eq!(next(&mut local).await, event(0));

    tokio::task::spawn_blocking(stop).await.unwrap();
    let started = std::time::Instant::now();
    let result = first.publish(event(1)).await;
    let took = started.elapsed();
    let outcome = format!("{result:?}");
    tokio::task::spawn_blocking(start).await.unwrap();
    assert!(
        matches!(result, Err(horae::error::BrokerError::Unavailable(_))),
        "publishing while the server is down: {outcome}"
    );
    assert!(
        took < Duration::from_secs(3),
        "publishing hung for {took:?}"
    );
    assert_eq!(next(&mut local).await, event(1), "local delivery goes on");

    // Both sides reconnect by themselves: keep publishing until an event gets through.
    let deadline = std::time::Instant::now() + recovery;
    let mut n = 2;
    loop {
        let _ = first.publish(event(n)).await;
        let waited = tokio::time::timeout(Duration::from_millis(250), remote.recv()).await;
        if let Ok(received) = waited {
            let received = received.expect("broker still open");
            assert!(received.timestamp() >= event(2).timestamp(), "{received:?}");
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no event reached the other instance within {recovery:?} of the restart"
        );
        n += 1;
    }
}
