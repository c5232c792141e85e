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

use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use horae::broker::{EventBroker, Subscription};
use horae::error::BrokerError;
use horae::event::Event;
use horae::model::TaskId;
use horae_redis::{RedisBroker, RedisBrokerOptions};

fn url() -> String {
    std::env::var("HORAE_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true")
}

fn unique_prefix() -> String {
    format!("horae-test-{}", uuid::Uuid::now_v7().simple())
}

/// A broker on `prefix`, or `None` (with a note) when Redis is down outside CI.
async fn broker(prefix: &str) -> Option<RedisBroker> {
    match RedisBroker::connect(&url(), RedisBrokerOptions::default().with_prefix(prefix)).await {
        Ok(broker) => Some(broker),
        Err(error) if !in_ci() => {
            eprintln!("note: skipping this test, Redis is not available: {error}");
            None
        }
        Err(error) => panic!("Redis is required under CI=true: {error}"),
    }
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

fn event(n: i64) -> Event {
    Event::TaskAdded {
        timestamp: jiff::Timestamp::from_second(1_800_000_000 + n).unwrap(),
        task_id: TaskId::new(format!("task-{n}")).unwrap(),
    }
}

async fn next(subscription: &mut Subscription) -> Event {
    let event = tokio::time::timeout(Duration::from_secs(5), subscription.recv())
        .await
        .expect("event delivered in time")
        .expect("broker still open");
    (*event).clone()
}

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

fn wait_for_port(address: SocketAddr, up: bool, within: Duration) {
    let deadline = Instant::now() + within;
    while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() != up {
        assert!(
            Instant::now() < deadline,
            "{address} did not go {} within {within:?}",
            if up { "up" } else { "down" }
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

const LOCAL_REDIS: &str = "127.0.0.1:6379";

/// Stops the local Redis server.
fn stop_redis() {
    // `shutdown` closes the connection instead of answering, so its exit status is noise.
    let _ = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", "6379", "shutdown", "nosave"])
        .output()
        .expect("redis-cli runs");
    wait_for_port(LOCAL_REDIS.parse().unwrap(), false, Duration::from_secs(10));
}

/// Starts the local Redis server as `.ci/run` does.
fn start_redis() {
    let status = Command::new("redis-server")
        .args([
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "--port",
            "6379",
        ])
        .args(["--save", "", "--appendonly", "no"])
        .status()
        .expect("redis-server runs");
    assert!(status.success(), "redis-server failed: {status}");
    wait_for_port(LOCAL_REDIS.parse().unwrap(), true, Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_resumes_after_the_server_restarts() {
    let Some((first, second)) = pair().await else {
        return;
    };
    if !url().contains(LOCAL_REDIS) && !url().contains("localhost:6379") {
        eprintln!("note: skipping the restart test, HORAE_REDIS_URL is not the local server");
        return;
    }
    let mut local = first.subscribe();
    let mut remote = second.subscribe();
    first.publish(event(0)).await.unwrap();
    assert_eq!(next(&mut remote).await, event(0));
    assert_eq!(next(&mut local).await, event(0));

    tokio::task::spawn_blocking(stop_redis).await.unwrap();
    // While the server is down, publishing fails without blocking for long, and local
    // subscribers still get the event.
    let started = Instant::now();
    let result = first.publish(event(1)).await;
    let outcome = format!("{result:?}");
    tokio::task::spawn_blocking(start_redis).await.unwrap();
    assert!(
        matches!(result, Err(BrokerError::Unavailable(_))),
        "publishing while redis is down: {outcome}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(next(&mut local).await, event(1));

    // Once the server is back, both the publisher and the subscriber reconnect by
    // themselves: keep publishing until an event gets through.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut n = 2;
    loop {
        let _ = first.publish(event(n)).await;
        if let Ok(received) = tokio::time::timeout(Duration::from_millis(250), remote.recv()).await
        {
            let received = received.expect("broker still open");
            assert!(received.timestamp() >= event(2).timestamp(), "{received:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no event reached the other broker within 15 s of the restart"
        );
        n += 1;
    }
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
