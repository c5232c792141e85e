//! The PostgreSQL broker against a real server (`HORAE_PG_URL`, default the local server,
//! database `horae_test`, created when missing): the broker conformance suite, large
//! payloads, connection errors, malformed messages and closing.
//!
//! Each test uses its own prefix (channel and payload table), so tests share the server.
//! When the server is unreachable the tests are skipped with a note, except under
//! `CI=true`, where they fail. The restart test lives in `pg_restart.rs`, its own binary,
//! and nextest runs the PostgreSQL test binaries one at a time (test group `postgres`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use horae::broker::EventBroker;
use horae::error::BrokerError;
use horae::event::Event;
use horae_sql::{PgBroker, PgBrokerOptions, PostgresStore};
use horae_testkit::broker::{event, next};
use horae_testkit::service::{available, unique_prefix, url_from_env};
use sqlx::postgres::PgPool;

fn url() -> String {
    url_from_env(
        "HORAE_PG_URL",
        "postgres://postgres@127.0.0.1:5432/horae_test",
    )
}

/// A broker with `options`, or `None` (with a note) when PostgreSQL is down outside CI.
async fn broker_with(options: PgBrokerOptions) -> Option<PgBroker> {
    let url = url();
    available(
        "PostgreSQL",
        PostgresStore::create_database_if_missing(&url).await,
    )?;
    available("PostgreSQL", PgBroker::connect(&url, options).await)
}

async fn broker(prefix: &str) -> Option<PgBroker> {
    broker_with(PgBrokerOptions::default().with_prefix(prefix)).await
}

async fn pair() -> Option<(PgBroker, PgBroker)> {
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

fn stopped_with_error(bytes: usize) -> Event {
    Event::SchedulerStopped {
        timestamp: jiff::Timestamp::from_second(1_800_000_000).unwrap(),
        node_id: "node-a".into(),
        error: Some("é".repeat(bytes / 2)),
    }
}

async fn admin_pool() -> PgPool {
    PgPool::connect(&url()).await.unwrap()
}

async fn stored_payloads(pool: &PgPool, prefix: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM \"{prefix}_event_payloads\""
    )))
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_payloads_arrive_intact_in_order() {
    let prefix = unique_prefix();
    let Some(first) = broker(&prefix).await else {
        return;
    };
    let Some(second) = broker(&prefix).await else {
        return;
    };
    let pool = admin_pool().await;
    // A payload left over from long ago is cleaned up by the next large publish.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "INSERT INTO \"{prefix}_event_payloads\" (payload, created_at) \
         VALUES ('old', now() - interval '1 hour')"
    )))
    .execute(&pool)
    .await
    .unwrap();

    let mut local = first.subscribe();
    let mut remote = second.subscribe();
    // 100 KB of error text, then envelopes just under and over the 8000-byte limit.
    let events = [
        event(0),
        stopped_with_error(100_000),
        event(1),
        stopped_with_error(7_800),
        stopped_with_error(8_000),
        event(2),
    ];
    for event in &events {
        first.publish(event.clone()).await.unwrap();
    }
    for expected in &events {
        assert_eq!(&next(&mut remote).await, expected, "on the other instance");
        assert_eq!(
            &next(&mut local).await,
            expected,
            "on the publishing instance"
        );
    }
    // The two envelopes over the limit were stored; the old row is gone.
    assert_eq!(stored_payloads(&pool, &prefix).await, 2);
    // Echoes are skipped for stored payloads too.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), local.recv())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn bad_urls_prefixes_and_unreachable_servers_are_clear_errors() {
    let error = PgBroker::connect("mysql://127.0.0.1/x", PgBrokerOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, BrokerError::Invalid(message)
            if message.starts_with("invalid PostgreSQL url 'mysql://127.0.0.1/x'")),
        "{error}"
    );
    let error = PgBroker::connect("postgres://x:y@[::1/db", PgBrokerOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(error, BrokerError::Invalid(_)), "{error}");
    for prefix in ["", "horae-events", "a;b"] {
        let error = PgBroker::connect(&url(), PgBrokerOptions::default().with_prefix(prefix))
            .await
            .unwrap_err();
        assert!(
            matches!(&error, BrokerError::Invalid(message) if message.contains("prefix")),
            "{error}"
        );
    }
    // Port 1 is never a PostgreSQL server.
    let mut options = PgBrokerOptions::default();
    options.connect_timeout = Duration::from_secs(2);
    let started = Instant::now();
    let error = PgBroker::connect("postgres://horae:s3cret@127.0.0.1:1/x", options)
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, BrokerError::Unavailable(_)), "{message}");
    assert!(
        message.starts_with("broker unavailable: cannot connect to PostgreSQL at 'postgres://horae:***@127.0.0.1:1/x': ") && message.contains("refused"),
        "{message}"
    );
    assert!(
        !message.contains("s3cret"),
        "the password leaked: {message}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_channel_is_named_after_the_prefix_and_malformed_messages_are_skipped() {
    let prefix = unique_prefix();
    let Some(receiving) = broker(&prefix).await else {
        return;
    };
    assert_eq!(receiving.channel(), format!("{prefix}_events"));
    let Some(publishing) = broker(&prefix).await else {
        return;
    };
    assert_ne!(receiving.origin(), publishing.origin());
    let mut subscription = receiving.subscribe();

    let pool = admin_pool().await;
    for garbage in [
        "not json",
        r#"{"event":{"type":"task_added"}}"#,
        r#"{"origin":"elsewhere","event":{"type":"job_exploded","timestamp":"2026-01-01T00:00:00Z"}}"#,
        r#"{"origin":"elsewhere","ref":999999999}"#,
        r#"{"origin":"elsewhere","ref":"one"}"#,
    ] {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(receiving.channel())
            .bind(garbage)
            .execute(&pool)
            .await
            .unwrap();
    }
    // A stored payload that is not an envelope is skipped too.
    let id: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "INSERT INTO \"{prefix}_event_payloads\" (payload) VALUES ('garbage') RETURNING id"
    )))
    .fetch_one(&pool)
    .await
    .unwrap();
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(receiving.channel())
        .bind(format!(r#"{{"origin":"elsewhere","ref":{id}}}"#))
        .execute(&pool)
        .await
        .unwrap();
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
    assert!(!broker.is_closed());
    clone.close();
    assert!(broker.is_closed());
    let error = broker.publish(event(0)).await.unwrap_err();
    assert!(matches!(error, BrokerError::Unavailable(_)), "{error}");
    let ended = tokio::time::timeout(Duration::from_secs(5), subscription.recv())
        .await
        .expect("subscription ended in time");
    assert!(ended.is_none());
    let mut late = broker.subscribe();
    assert!(late.recv().await.is_none());
}

/// Whether a connection's last statement was `LISTEN` on `channel`.
async fn listening(pool: &PgPool, channel: &str) -> bool {
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pg_stat_activity WHERE query = $1")
        .bind(format!("LISTEN \"{channel}\""))
        .fetch_one(pool)
        .await
        .unwrap();
    count > 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_last_clone_stops_listening() {
    let Some(broker) = broker(&unique_prefix()).await else {
        return;
    };
    let pool = admin_pool().await;
    let channel = broker.channel().to_owned();
    assert!(listening(&pool, &channel).await);
    let mut subscription = broker.subscribe();
    let clone = broker.clone();
    drop(broker);
    assert!(listening(&pool, &channel).await, "a clone is left");
    drop(clone);
    let ended = tokio::time::timeout(Duration::from_secs(5), subscription.recv())
        .await
        .expect("subscription ended in time");
    assert!(ended.is_none());
    let deadline = Instant::now() + Duration::from_secs(5);
    while listening(&pool, &channel).await {
        assert!(Instant::now() < deadline, "still listening on {channel}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_keep_a_live_listener() {
    let prefix = unique_prefix();
    let Some(publishing) = broker(&prefix).await else {
        return;
    };
    let mut options = PgBrokerOptions::default().with_prefix(&prefix);
    options.health_check_interval = Duration::from_millis(50);
    let receiving = broker_with(options).await.unwrap();
    let mut subscription = receiving.subscribe();
    // Several health checks ran on the listening connection, which keeps delivering.
    tokio::time::sleep(Duration::from_millis(400)).await;
    for n in 0..3 {
        publishing.publish(event(n)).await.unwrap();
        assert_eq!(next(&mut subscription).await, event(n));
        tokio::time::sleep(Duration::from_millis(120)).await;
    }
}
