//! The PostgreSQL broker recovers from a server restart: publishing while the server is
//! down fails fast, and once it is back events flow between nodes again by themselves.
//!
//! Restarting the server disturbs every other test using it, so this is its own test
//! binary, and nextest runs the PostgreSQL test binaries one at a time (test group
//! `postgres`). The test needs the local cluster (`pg_ctlcluster`, run as root or as the
//! `postgres` user); against another server it is skipped. Outside `CI=true` it is
//! skipped with a note when the server is unreachable.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use horae::broker::{EventBroker, Subscription};
use horae_sql::{PgBroker, PgBrokerOptions, PostgresStore};
use horae_testkit::broker::event;
use horae_testkit::service::{
    available, is_local_server, pg_ctlcluster, postgres_cluster_version, unique_prefix,
    url_from_env,
};
use sqlx::Connection;
use sqlx::postgres::PgConnection;

fn url() -> String {
    url_from_env(
        "HORAE_PG_URL",
        "postgres://postgres@127.0.0.1:5432/horae_test",
    )
}

/// Two broker instances on one fresh prefix, or `None` (with a note) when PostgreSQL is
/// down outside CI.
async fn pair() -> Option<(PgBroker, PgBroker)> {
    let url = url();
    available(
        "PostgreSQL",
        PostgresStore::create_database_if_missing(&url).await,
    )?;
    let options = PgBrokerOptions::default().with_prefix(unique_prefix());
    let first = available("PostgreSQL", PgBroker::connect(&url, options.clone()).await)?;
    let second = available("PostgreSQL", PgBroker::connect(&url, options).await)?;
    Some((first, second))
}

/// Waits until the server accepts connections (and queries) again.
async fn wait_until_up(within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let attempt = async {
            let mut connection = PgConnection::connect(&url()).await?;
            sqlx::query("SELECT 1").execute(&mut connection).await?;
            connection.close().await
        };
        if let Ok(Ok(())) = tokio::time::timeout(Duration::from_secs(2), attempt).await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "PostgreSQL did not come back within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_resumes_after_the_server_restarts() {
    let Some((first, second)) = pair().await else {
        return;
    };
    if !is_local_server(&url(), 5432) {
        eprintln!("note: skipping the restart test, HORAE_PG_URL is not the local server");
        return;
    }
    let Some(version) = postgres_cluster_version() else {
        eprintln!("note: skipping the restart test, no cluster in /etc/postgresql");
        return;
    };
    // Stop and start rather than `restart`, to publish while the server is down.
    let (stop, start) = (version.clone(), version.clone());
    horae_testkit::broker::delivery_resumes_after_the_server_restarts(
        Arc::new(first.clone()),
        Arc::new(second.clone()),
        move || pg_ctlcluster(&stop, "stop"),
        move || pg_ctlcluster(&start, "start"),
        Duration::from_secs(30),
    )
    .await;

    // And a plain `restart`: delivery resumes again, in both directions.
    tokio::task::spawn_blocking(move || pg_ctlcluster(&version, "restart"))
        .await
        .unwrap();
    wait_until_up(Duration::from_secs(30)).await;
    // Fresh subscriptions, each made when only the other instance publishes from then on.
    let mut on_second = second.subscribe();
    let mut n = 100;
    got_through(&first, &mut on_second, &mut n).await;
    let mut on_first = first.subscribe();
    got_through(&second, &mut on_first, &mut n).await;
}

/// Publishes on `from` until an event reaches `to` (a subscription of another instance),
/// within 20 s.
async fn got_through(from: &PgBroker, to: &mut Subscription, n: &mut i64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        *n += 1;
        let _ = from.publish(event(*n)).await;
        if let Ok(received) = tokio::time::timeout(Duration::from_millis(250), to.recv()).await {
            received.expect("broker still open");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no event got through within 20 s of the restart"
        );
    }
}
