//! The local broker passes the broker conformance suite, and slow subscribers skip events
//! without blocking anyone.

use std::sync::Arc;

use horae::broker::{EventBroker, LocalBroker};
use horae::event::Event;
use horae::model::TaskId;

horae_testkit::broker_conformance_tests!(|| async {
    Arc::new(LocalBroker::new()) as Arc<dyn EventBroker>
});

#[tokio::test]
async fn slow_subscribers_skip_and_count_missed_events() {
    let broker = LocalBroker::with_capacity(4);
    let mut slow = broker.subscribe();
    for n in 0..10 {
        let event = Event::TaskRemoved {
            timestamp: jiff::Timestamp::from_second(n).unwrap(),
            task_id: TaskId::new("t").unwrap(),
        };
        broker.publish(event).await.unwrap();
    }
    for n in 0..4 {
        let event = slow.recv().await.unwrap();
        assert_eq!(event.timestamp(), jiff::Timestamp::from_second(n).unwrap());
    }
    assert_eq!(
        slow.missed(),
        6,
        "the events that found the queue full were skipped"
    );
    let next = Event::TaskRemoved {
        timestamp: jiff::Timestamp::from_second(10).unwrap(),
        task_id: TaskId::new("t").unwrap(),
    };
    broker.publish(next.clone()).await.unwrap();
    assert_eq!(
        *slow.recv().await.unwrap(),
        next,
        "delivery resumes once there is room"
    );
}
