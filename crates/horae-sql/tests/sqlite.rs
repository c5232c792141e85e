//! The SQLite store passes the store conformance suite, in memory and in a WAL file, and
//! keeps its data, schema version and table prefix across reopening.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use std::sync::Arc;
use std::time::Duration;

use horae::error::StoreError;
use horae::model::{ExecutorKind, Job, Task, TaskId};
use horae::store::DataStore;
use horae_sql::{SqliteOptions, SqliteStore, TablePrefix};
use horae_testkit::service::TempSqliteFile;
use jiff::Timestamp;
use sqlx::Row;

mod in_memory {
    use super::*;

    horae_testkit::store_conformance_tests!(|| async {
        Arc::new(SqliteStore::connect("sqlite::memory:").await.unwrap()) as Arc<dyn DataStore>
    });
}

mod in_a_file {
    use super::*;

    horae_testkit::store_conformance_tests!(|| async {
        // The factory hands out only the store, so the file stays (in target/tmp).
        let db = TempSqliteFile::new();
        let store = SqliteStore::connect(&db.url()).await.unwrap();
        std::mem::forget(db);
        Arc::new(store) as Arc<dyn DataStore>
    });
}

fn task(id: &str) -> Task {
    Task::new(TaskId::new(id).unwrap(), ExecutorKind::Async)
}

#[tokio::test]
async fn data_survives_reopening_and_migrations_run_once() {
    let db = TempSqliteFile::new();
    let now = Timestamp::now();
    {
        let store = SqliteStore::connect(&db.url()).await.unwrap();
        store.put_task(task("kept")).await.unwrap();
        store
            .add_jobs(vec![Job::new(TaskId::new("kept").unwrap(), now)])
            .await
            .unwrap();
        store.pool().close().await;
    }
    let store = SqliteStore::connect(&db.url()).await.unwrap();
    assert_eq!(
        store.migrate().await.unwrap(),
        2,
        "already at the latest version"
    );
    assert_eq!(store.get_tasks().await.unwrap().len(), 1);
    assert_eq!(store.get_jobs().await.unwrap().len(), 1);
}

#[tokio::test]
async fn prefixes_keep_installations_apart() {
    let db = TempSqliteFile::new();
    let with_prefix = |prefix: &str| SqliteOptions {
        prefix: TablePrefix::new(prefix).unwrap(),
        ..SqliteOptions::default()
    };
    let a = SqliteStore::connect_with(&db.url(), with_prefix("a_"))
        .await
        .unwrap();
    let b = SqliteStore::connect_with(&db.url(), with_prefix("b_"))
        .await
        .unwrap();
    a.put_task(task("only-in-a")).await.unwrap();
    assert_eq!(a.get_tasks().await.unwrap().len(), 1);
    assert!(b.get_tasks().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_newer_schema_is_refused_with_a_clear_error() {
    let db = TempSqliteFile::new();
    let store = SqliteStore::connect(&db.url()).await.unwrap();
    sqlx::query("INSERT INTO horae_schema_version (version) VALUES (99)")
        .execute(store.pool())
        .await
        .unwrap();
    let error = SqliteStore::connect(&db.url()).await.unwrap_err();
    assert!(
        matches!(&error, StoreError::Invalid(m) if m.contains("version 99")),
        "{error}"
    );
}

#[tokio::test]
async fn bad_urls_and_unopenable_files_are_clear_errors() {
    let error = SqliteStore::connect("postgres://nope").await.unwrap_err();
    assert!(matches!(error, StoreError::Invalid(_)), "{error}");
    let error = SqliteStore::connect("sqlite:///nonexistent-dir/x/horae.db")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, StoreError::Unavailable(m) if m.contains("nonexistent-dir")),
        "{error}"
    );
}

/// Two stores on one file stand for two processes: every job is handed out once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_sharing_a_file_never_get_the_same_job() {
    let db = TempSqliteFile::new();
    let first = Arc::new(SqliteStore::connect(&db.url()).await.unwrap());
    let second = Arc::new(SqliteStore::connect(&db.url()).await.unwrap());
    let mut unlimited = task("shared");
    unlimited.max_running_jobs = None;
    first.put_task(unlimited).await.unwrap();
    let now = Timestamp::now();
    let jobs: Vec<Job> = (0..400)
        .map(|_| Job::new(TaskId::new("shared").unwrap(), now))
        .collect();
    first.add_jobs(jobs).await.unwrap();
    let take = |store: Arc<SqliteStore>, node: &'static str| {
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
    };
    let (a, b) = (take(first, "a"), take(second, "b"));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    let mut all: Vec<_> = a.iter().chain(&b).copied().collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 400, "every job handed out");
    assert_eq!(a.len() + b.len(), 400, "none handed out twice");
}

/// A database at schema version 1 (before task actions, node records and the results'
/// finish-time index) is upgraded on connect, its data kept.
#[tokio::test]
async fn a_version_1_database_is_upgraded() {
    let db = TempSqliteFile::new();
    {
        let store = SqliteStore::connect(&db.url()).await.unwrap();
        store.put_task(task("kept")).await.unwrap();
        sqlx::raw_sql(
            "DROP TABLE horae_nodes; DROP INDEX horae_results_finished; \
             ALTER TABLE horae_tasks DROP COLUMN action; \
             DELETE FROM horae_schema_version WHERE version = 2;",
        )
        .execute(store.pool())
        .await
        .unwrap();
        store.pool().close().await;
    }
    let store = SqliteStore::connect(&db.url()).await.unwrap();
    let kept = store.get_task(&TaskId::new("kept").unwrap()).await.unwrap();
    assert_eq!(kept, Some(task("kept")));
    assert!(store.get_nodes().await.unwrap().is_empty());
    assert!(store.get_job_results(10).await.unwrap().is_empty());
}

/// Listing the latest results walks the finish-time index: no sort, no full scan.
#[tokio::test]
async fn the_latest_results_are_read_from_the_index() {
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    // The rows are (id, parent, notused, detail).
    let plan: Vec<String> = sqlx::query(
        "EXPLAIN QUERY PLAN SELECT job_id FROM horae_results \
         ORDER BY finished_at DESC, job_id DESC LIMIT 20",
    )
    .fetch_all(store.pool())
    .await
    .unwrap()
    .iter()
    .map(|row| row.get::<String, _>(3))
    .collect();
    let plan = plan.join("; ");
    assert!(plan.contains("horae_results_finished"), "{plan}");
    assert!(!plan.contains("TEMP B-TREE"), "{plan}");
}
