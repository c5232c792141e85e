//! The MySQL / MariaDB store passes the store conformance suite, keeps its data and schema
//! version across reconnecting, migrates once when several processes connect at once, and
//! holds acquisition invariants between two pools standing for two processes.
//!
//! The server comes from `HORAE_MYSQL_URL` (default `mysql://root@127.0.0.1:3306/horae_test`);
//! its database is created if missing. Each test works under its own table prefix, so tests
//! run in parallel; tables of runs older than an hour are dropped as tests start. When the
//! server is unreachable the tests of this file skip with a note, except under `CI=true`,
//! where they fail — and the conformance cases always fail, as the testkit's store macro
//! cannot skip.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use horae::error::StoreError;
use horae::model::{ExecutorKind, Job, JobOutcome, JobResult, Task, TaskId};
use horae::store::{DataStore, JobRelease};
use horae_sql::{MysqlOptions, MysqlStore, TablePrefix};
use jiff::Timestamp;
use sqlx::mysql::MySqlConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};

const DEFAULT_URL: &str = "mysql://root@127.0.0.1:3306/horae_test";

/// Tables of test runs older than this are dropped.
const STALE_AFTER_SECS: u64 = 3600;

fn server_url() -> String {
    std::env::var("HORAE_MYSQL_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A fresh prefix: `t`, the creation time and 32 random bits, in hex.
fn fresh_prefix() -> TablePrefix {
    let random = uuid::Uuid::now_v7().as_u128() as u32;
    TablePrefix::new(format!("t{:08x}{random:08x}_", unix_secs())).unwrap()
}

/// Creates the test database if missing and drops tables left by old runs. `Err` when the
/// server cannot be reached.
async fn prepare_server() -> Result<(), String> {
    let url = server_url();
    let options = MySqlConnectOptions::from_str(&url).map_err(|e| e.to_string())?;
    let database = options.get_database().unwrap_or("horae_test").to_owned();
    assert!(
        database
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_'),
        "test database name {database:?}: use letters, digits and underscores"
    );
    let connect = options.clone().database("information_schema");
    let mut conn = tokio::time::timeout(Duration::from_secs(5), connect.connect())
        .await
        .map_err(|_| "timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE DATABASE IF NOT EXISTS `{database}` CHARACTER SET utf8mb4"
    )))
    .execute(&mut conn)
    .await
    .map_err(|e| e.to_string())?;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
         WHERE table_schema = ? AND table_name REGEXP '^t[0-9a-f]{16}_'",
    )
    .bind(&database)
    .fetch_all(&mut conn)
    .await
    .map_err(|e| e.to_string())?;
    let now = unix_secs();
    for table in tables {
        let created = u64::from_str_radix(&table[1..9], 16).unwrap_or(u64::MAX);
        if created.saturating_add(STALE_AFTER_SECS) < now {
            sqlx::raw_sql(AssertSqlSafe(format!(
                "DROP TABLE IF EXISTS `{database}`.`{table}`"
            )))
            .execute(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        }
    }
    conn.close().await.map_err(|e| e.to_string())
}

/// Whether the server is there: `false` (with a note) when it is not, outside CI.
async fn server_available() -> bool {
    match prepare_server().await {
        Ok(()) => true,
        Err(error) if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!("MySQL server from HORAE_MYSQL_URL is required in CI: {error}")
        }
        Err(error) => {
            eprintln!(
                "skipped: no MySQL/MariaDB server ({error}); start one or set HORAE_MYSQL_URL"
            );
            false
        }
    }
}

fn options(prefix: &TablePrefix) -> MysqlOptions {
    MysqlOptions {
        prefix: prefix.clone(),
        max_connections: 4,
        ..MysqlOptions::default()
    }
}

async fn connect(prefix: &TablePrefix) -> MysqlStore {
    MysqlStore::connect_with(&server_url(), options(prefix))
        .await
        .unwrap()
}

mod conformance {
    use super::*;

    horae_testkit::store_conformance_tests!(|| async {
        if let Err(error) = prepare_server().await {
            panic!("MySQL/MariaDB server from HORAE_MYSQL_URL unreachable: {error}");
        }
        Arc::new(connect(&fresh_prefix()).await) as Arc<dyn DataStore>
    });
}

fn task(id: &str, max_running_jobs: Option<u32>) -> Task {
    let mut task = Task::new(TaskId::new(id).unwrap(), ExecutorKind::Async);
    task.max_running_jobs = max_running_jobs;
    task
}

async fn schema_versions(store: &MysqlStore, prefix: &TablePrefix) -> i64 {
    sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM {prefix}schema_version"
    )))
    .fetch_one(store.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn data_survives_reconnecting_and_migrations_run_once() {
    if !server_available().await {
        return;
    }
    let prefix = fresh_prefix();
    {
        let store = connect(&prefix).await;
        store.put_task(task("kept", None)).await.unwrap();
        store
            .add_jobs(vec![Job::new(
                TaskId::new("kept").unwrap(),
                Timestamp::now(),
            )])
            .await
            .unwrap();
        store.pool().close().await;
    }
    let store = connect(&prefix).await;
    assert_eq!(store.migrate().await.unwrap(), 2, "already at the latest");
    assert_eq!(schema_versions(&store, &prefix).await, 2);
    assert_eq!(store.get_tasks().await.unwrap().len(), 1);
    assert_eq!(store.get_jobs().await.unwrap().len(), 1);
}

/// Processes starting together take turns migrating: the schema is created once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_connecting_at_once_migrate_once() {
    if !server_available().await {
        return;
    }
    let prefix = fresh_prefix();
    let connecting: Vec<_> = (0..4)
        .map(|_| {
            let prefix = prefix.clone();
            tokio::spawn(async move { connect(&prefix).await })
        })
        .collect();
    let mut stores = Vec::new();
    for store in connecting {
        stores.push(store.await.unwrap());
    }
    assert_eq!(schema_versions(&stores[0], &prefix).await, 2);
}

/// DDL commits as it goes in MySQL: a migration that a dying process left half done (or
/// not begun) runs again in full, whether its changes are already there or not.
#[tokio::test]
async fn migration_2_runs_again_over_a_half_done_upgrade() {
    if !server_available().await {
        return;
    }
    let prefix = fresh_prefix();
    let store = connect(&prefix).await;
    let run = |sql: String| {
        let pool = store.pool().clone();
        async move {
            sqlx::raw_sql(AssertSqlSafe(sql))
                .execute(&pool)
                .await
                .unwrap();
        }
    };
    let mut command = Task::new(TaskId::new("cmd").unwrap(), ExecutorKind::Command);
    command.action =
        Some(serde_json::from_value(serde_json::json!({"command": {"argv": ["true"]}})).unwrap());
    store.put_task(command.clone()).await.unwrap();
    // Every change of migration 2 in place, its version not recorded.
    run(format!(
        "DELETE FROM {prefix}schema_version WHERE version = 2"
    ))
    .await;
    assert_eq!(store.migrate().await.unwrap(), 2);
    assert_eq!(schema_versions(&store, &prefix).await, 2);
    assert_eq!(
        store.get_task(&command.id).await.unwrap(),
        Some(command),
        "data kept"
    );
    // None of them in place: a database at version 1.
    run(format!(
        "DELETE FROM {prefix}schema_version WHERE version = 2"
    ))
    .await;
    run(format!("DROP TABLE {prefix}nodes")).await;
    run(format!("DROP INDEX finished ON {prefix}results")).await;
    run(format!("ALTER TABLE {prefix}tasks DROP COLUMN action")).await;
    assert_eq!(store.migrate().await.unwrap(), 2);
    assert_eq!(schema_versions(&store, &prefix).await, 2);
    let task = store
        .get_task(&TaskId::new("cmd").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(task.action, None, "upgraded rows have no action");
    let index: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.statistics \
         WHERE table_schema = DATABASE() AND table_name = ? AND index_name = 'finished'",
    )
    .bind(format!("{prefix}results"))
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(
        index, 2,
        "the results index on (finished_at, job_id) is back"
    );
    assert!(store.get_nodes().await.unwrap().is_empty());
}

#[tokio::test]
async fn prefixes_keep_installations_apart() {
    if !server_available().await {
        return;
    }
    let a = connect(&fresh_prefix()).await;
    let b = connect(&fresh_prefix()).await;
    a.put_task(task("only-in-a", None)).await.unwrap();
    assert_eq!(a.get_tasks().await.unwrap().len(), 1);
    assert!(b.get_tasks().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_newer_schema_is_refused_with_a_clear_error() {
    if !server_available().await {
        return;
    }
    let prefix = fresh_prefix();
    let store = connect(&prefix).await;
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {prefix}schema_version (version) VALUES (99)"
    )))
    .execute(store.pool())
    .await
    .unwrap();
    let error = MysqlStore::connect_with(&server_url(), options(&prefix))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, StoreError::Invalid(m) if m.contains("version 99")),
        "{error}"
    );
}

/// Needs no server.
#[tokio::test]
async fn bad_urls_and_unreachable_servers_are_clear_errors() {
    let error = MysqlStore::connect("postgres://nope").await.unwrap_err();
    assert!(matches!(error, StoreError::Invalid(_)), "{error}");
    let error = MysqlStore::connect("mysql://root@127.0.0.1:3306")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, StoreError::Invalid(m) if m.contains("no database")),
        "{error}"
    );
    let unreachable = MysqlOptions {
        connect_timeout: Duration::from_secs(2),
        ..MysqlOptions::default()
    };
    let error = MysqlStore::connect_with("mysql://horae:hunter2@127.0.0.1:1/horae", unreachable)
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, StoreError::Unavailable(_)) && message.contains("127.0.0.1:1"),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");
}

/// JSON columns keep nested values and non-ASCII text (MariaDB stores JSON as text).
#[tokio::test]
async fn json_columns_round_trip() {
    if !server_available().await {
        return;
    }
    let store = connect(&fresh_prefix()).await;
    let mut job = Job::new(TaskId::new("t").unwrap(), Timestamp::now());
    job.args = vec![
        serde_json::json!("süß ✓"),
        serde_json::json!([1, 2.5, null]),
    ];
    job.kwargs = serde_json::json!({"nested": {"a": [true, {"b": "€"}]}, "n": -7})
        .as_object()
        .unwrap()
        .clone();
    store.add_jobs(vec![job.clone()]).await.unwrap();
    let stored = store.get_job(&job.id).await.unwrap().unwrap();
    assert_eq!((stored.args, stored.kwargs), (job.args, job.kwargs));
}

/// Acquires from `store` as `node` until nothing is left; returns the ids.
fn drain(
    store: Arc<MysqlStore>,
    node: &'static str,
) -> tokio::task::JoinHandle<Vec<horae::model::JobId>> {
    tokio::spawn(async move {
        let mut ids = Vec::new();
        loop {
            let batch = store
                .acquire_jobs(node, Duration::from_secs(30), 7, Timestamp::now())
                .await
                .unwrap();
            if batch.acquired.is_empty() {
                return ids;
            }
            ids.extend(batch.acquired.into_iter().map(|job| job.id));
        }
    })
}

/// Two pools stand for two processes: every job is handed out exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_never_get_the_same_job() {
    if !server_available().await {
        return;
    }
    let prefix = fresh_prefix();
    let first = Arc::new(connect(&prefix).await);
    let second = Arc::new(connect(&prefix).await);
    first.put_task(task("shared", None)).await.unwrap();
    let now = Timestamp::now();
    let jobs: Vec<Job> = (0..400)
        .map(|_| Job::new(TaskId::new("shared").unwrap(), now))
        .collect();
    assert_eq!(first.add_jobs(jobs).await.unwrap().len(), 400);
    let (a, b) = (drain(first, "a"), drain(second, "b"));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    let all: HashSet<_> = a.iter().chain(&b).copied().collect();
    assert_eq!(all.len(), 400, "every job handed out");
    assert_eq!(a.len() + b.len(), 400, "none handed out twice");
}

/// `max_running_jobs = 1` holds while two processes acquire, run and release at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_running_jobs_holds_between_two_processes() {
    if !server_available().await {
        return;
    }
    const JOBS: usize = 20;
    let prefix = fresh_prefix();
    let first = Arc::new(connect(&prefix).await);
    let second = Arc::new(connect(&prefix).await);
    first.put_task(task("single", Some(1))).await.unwrap();
    let now = Timestamp::now();
    let jobs: Vec<Job> = (0..JOBS)
        .map(|_| Job::new(TaskId::new("single").unwrap(), now))
        .collect();
    first.add_jobs(jobs).await.unwrap();
    let held = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let work = |store: Arc<MysqlStore>, node: &'static str| {
        let (held, done) = (Arc::clone(&held), Arc::clone(&done));
        tokio::spawn(async move {
            while done.load(Ordering::SeqCst) < JOBS {
                let batch = store
                    .acquire_jobs(node, Duration::from_secs(30), 5, Timestamp::now())
                    .await
                    .unwrap();
                assert!(
                    batch.acquired.len() <= 1,
                    "{node} got {}",
                    batch.acquired.len()
                );
                for job in batch.acquired {
                    assert_eq!(held.fetch_add(1, Ordering::SeqCst), 0, "two jobs running");
                    let job = store
                        .start_job(node, &job.id, job.lease_token, Timestamp::now())
                        .await
                        .unwrap();
                    tokio::task::yield_now().await;
                    // Counted down before the release commits, so the other process can
                    // only acquire after this.
                    held.fetch_sub(1, Ordering::SeqCst);
                    let result =
                        JobResult::new(&job, JobOutcome::Success, job.started_at, Timestamp::now());
                    store
                        .release_job(node, &job.id, job.lease_token, JobRelease::Finish(result))
                        .await
                        .unwrap();
                    done.fetch_add(1, Ordering::SeqCst);
                }
            }
        })
    };
    let (a, b) = (work(first, "a"), work(second, "b"));
    tokio::time::timeout(Duration::from_secs(60), async {
        a.await.unwrap();
        b.await.unwrap();
    })
    .await
    .expect("all jobs run within a minute");
    assert_eq!(done.load(Ordering::SeqCst), JOBS);
}
