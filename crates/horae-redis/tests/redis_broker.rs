//! The Redis broker against a real server (`HORAE_REDIS_URL`, default
//! `redis://127.0.0.1:6379`): the broker conformance suite, connection errors, malformed
//! messages, and recovery from a server restart.
//!
//! Each test uses its own channel prefix, so tests share the server. When the server is
//! unreachable the tests are skipped with a note, except under `CI=true`, where they fail.
//! The restart test disturbs every other test on the server, so nextest runs this crate's
//! tests one at a time (test group `redis` in `.config/nextest.toml`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use std::sync::Arc;
use std::time::Duration;

use horae::broker::EventBroker;
use horae::error::BrokerError;
use horae_redis::{RedisBroker, RedisBrokerOptions};
use horae_testkit::broker::{event, next};
use horae_testkit::service::{
    available, is_local_server, start_local_redis, stop_local_redis, unique_prefix, url_from_env,
};

fn url() -> String {
    url_from_env("HORAE_REDIS_URL", "redis://127.0.0.1:6379")
}

/// A broker on `prefix`, or `None` (with a note) when Redis is down outside CI.
async fn broker(prefix: &str) -> Option<RedisBroker> {
    let options = RedisBrokerOptions::default().with_prefix(prefix);
    available("Redis", RedisBroker::connect(&url(), options).await)
}

async fn pair() -> Option<(RedisBroker, RedisBroker)> {
    let prefix = unique_prefix();
    Some((broker(&prefix).await?, broker(&prefix).await?))
}

horae_testkit::broker_conformance_tests!(
    || async {
        broker(&unique_prefix())
            .await
            .map(|broker| Arc::new(broker) as Arc<dyn EventBroker>)
    },
    pair = || async {
        pair().await.map(|(first, second)| {
            (
                Arc::new(first) as Arc<dyn EventBroker>,
                Arc::new(second) as Arc<dyn EventBroker>,
            )
        })
    },
);

#[tokio::test]
async fn bad_urls_and_unreachable_servers_are_clear_errors() {
    let error = RedisBroker::connect("http://127.0.0.1:6379", RedisBrokerOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, BrokerError::Invalid(message)
            if message.starts_with("invalid redis url 'http://127.0.0.1:6379'")),
        "{error}"
    );
    // Port 1 is never a Redis server.
    let error = RedisBroker::connect("redis://127.0.0.1:1", RedisBrokerOptions::default())
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("broker unavailable: cannot connect to redis at 'redis://127.0.0.1:1'"),
        "{error}"
    );
    let error = RedisBroker::connect(&url(), RedisBrokerOptions::default().with_prefix(""))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("prefix is empty"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_channel_is_named_after_the_prefix_and_malformed_messages_are_skipped() {
    let prefix = unique_prefix();
    let Some(receiving) = broker(&prefix).await else {
        return;
    };
    assert_eq!(receiving.channel(), format!("{prefix}.events"));
    let Some(publishing) = broker(&prefix).await else {
        return;
    };
    assert_ne!(receiving.origin(), publishing.origin());
    let mut subscription = receiving.subscribe();

    let client = redis::Client::open(url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    for garbage in [
        "not json",
        r#"{"event":{"type":"task_added"}}"#,
        r#"{"origin":"elsewhere","event":{"type":"job_exploded","timestamp":"2026-01-01T00:00:00Z"}}"#,
    ] {
        redis::cmd("PUBLISH")
            .arg(receiving.channel())
            .arg(garbage)
            .query_async::<()>(&mut connection)
            .await
            .unwrap();
    }
    publishing.publish(event(1)).await.unwrap();
    assert_eq!(next(&mut subscription).await, event(1));
}

#[tokio::test]
async fn closing_ends_subscriptions_and_publishing() {
    let Some(broker) = broker(&unique_prefix()).await else {
        return;
    };
    let mut subscription = broker.subscribe();
    let clone = broker.clone();
    clone.close();
    assert!(broker.is_closed());
    assert!(broker.publish(event(0)).await.is_err());
    let ended = tokio::time::timeout(Duration::from_secs(5), subscription.recv())
        .await
        .expect("subscription ended in time");
    assert!(ended.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_resumes_after_the_server_restarts() {
    let Some((first, second)) = pair().await else {
        return;
    };
    if !is_local_server(&url(), 6379) {
        eprintln!("note: skipping the restart test, HORAE_REDIS_URL is not the local server");
        return;
    }
    horae_testkit::broker::delivery_resumes_after_the_server_restarts(
        Arc::new(first),
        Arc::new(second),
        stop_local_redis,
        start_local_redis,
        Duration::from_secs(15),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_keep_a_live_subscription() {
    let prefix = unique_prefix();
    let Some(publishing) = broker(&prefix).await else {
        return;
    };
    let mut options = RedisBrokerOptions::default().with_prefix(&prefix);
    options.health_check_interval = Duration::from_millis(50);
    let receiving = RedisBroker::connect(&url(), options).await.unwrap();
    let mut subscription = receiving.subscribe();
    // Several pings answered on the subscriber connection, which keeps delivering.
    tokio::time::sleep(Duration::from_millis(400)).await;
    for n in 0..3 {
        publishing.publish(event(n)).await.unwrap();
        assert_eq!(next(&mut subscription).await, event(n));
        tokio::time::sleep(Duration::from_millis(120)).await;
    }
}
