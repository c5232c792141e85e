//! The event broker conformance cases (DESIGN.md section 6).
//!
//! Networked brokers deliver asynchronously, so every receive waits up to [`DELIVERY`].

use std::sync::Arc;
use std::time::Duration;

use horae::broker::{EventBroker, Subscription};
use horae::event::Event;
use horae::model::TaskId;
use jiff::Timestamp;

/// The broker under test.
pub type Broker = Arc<dyn EventBroker>;

/// How long a published event may take to arrive.
pub const DELIVERY: Duration = Duration::from_secs(5);

fn event(n: i64) -> Event {
    Event::TaskAdded {
        timestamp: Timestamp::from_second(1_800_000_000 + n).unwrap(),
        task_id: TaskId::new(format!("task-{n}")).unwrap(),
    }
}

async fn next(subscription: &mut Subscription) -> Event {
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
