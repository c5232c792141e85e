//! The PostgreSQL store passes the store conformance suite against the real server, and
//! keeps `max_running_jobs`, one job per fire time and fencing across several pools
//! standing for several nodes.
//!
//! The server comes from `HORAE_PG_URL` (default: the local server, database
//! `horae_test`, created when missing). Every test works under its own table prefix.

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
use horae_sql::{PostgresOptions, PostgresStore, TablePrefix};
use jiff::Timestamp;

fn url() -> String {
    std::env::var("HORAE_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/horae_test".to_owned())
}

fn fresh_prefix() -> TablePrefix {
    let id = uuid::Uuid::now_v7().simple().to_string();
    TablePrefix::new(format!("t{}_", &id[id.len() - 16..])).unwrap()
}

async fn store_with(prefix: TablePrefix) -> PostgresStore {
    connect(PostgresOptions {
        prefix,
        max_connections: 4,
        ..PostgresOptions::default()
    })
    .await
}

/// A store on the test database (created when missing) with `options`.
async fn connect(options: PostgresOptions) -> PostgresStore {
    let url = url();
    PostgresStore::create_database_if_missing(&url)
        .await
        .unwrap();
    PostgresStore::connect_with(&url, options)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL is required for these tests ({url}): {e}"))
}

horae_testkit::store_conformance_tests!(|| async {
    Arc::new(store_with(fresh_prefix()).await) as Arc<dyn DataStore>
});

fn task(id: &str, max_running_jobs: Option<u32>) -> Task {
    let mut task = Task::new(TaskId::new(id).unwrap(), ExecutorKind::Async);
    task.max_running_jobs = max_running_jobs;
    task
}

#[tokio::test]
async fn migrations_run_once_and_newer_schemas_are_refused() {
    let prefix = fresh_prefix();
    let store = store_with(prefix.clone()).await;
    store.put_task(task("kept", None)).await.unwrap();
    let again = store_with(prefix.clone()).await;
    assert_eq!(again.migrate().await.unwrap(), 3);
    assert_eq!(again.get_tasks().await.unwrap().len(), 1, "data kept");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {prefix}schema_version (version) VALUES (99)"
    )))
    .execute(store.pool())
    .await
    .unwrap();
    let options = PostgresOptions {
        prefix,
        ..PostgresOptions::default()
    };
    let error = PostgresStore::connect_with(&url(), options)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, StoreError::Invalid(m) if m.contains("version 99")),
        "{error}"
    );
}

#[tokio::test]
async fn bad_urls_and_unreachable_servers_are_clear_errors() {
    let error = PostgresStore::connect("mysql://x").await.unwrap_err();
    assert!(matches!(error, StoreError::Invalid(_)), "{error}");
    let options = PostgresOptions {
        acquire_timeout: Duration::from_secs(2),
        ..PostgresOptions::default()
    };
    let error = PostgresStore::connect_with("postgres://horae:s3cret@127.0.0.1:1/x", options)
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, StoreError::Unavailable(_)), "{message}");
    assert!(message.contains("127.0.0.1:1"), "{message}");
    assert!(
        !message.contains("s3cret"),
        "the password leaked: {message}"
    );
}

/// Several pools stand for several nodes: each job goes to exactly one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_acquiring_at_once_never_get_the_same_job() {
    let prefix = fresh_prefix();
    let first = Arc::new(store_with(prefix.clone()).await);
    first.put_task(task("shared", None)).await.unwrap();
    let now = Timestamp::now();
    let jobs: Vec<Job> = (0..600)
        .map(|_| Job::new(TaskId::new("shared").unwrap(), now))
        .collect();
    first.add_jobs(jobs).await.unwrap();
    let mut nodes = vec![first];
    for _ in 0..2 {
        nodes.push(Arc::new(store_with(prefix.clone()).await));
    }
    let takers: Vec<_> = nodes
        .into_iter()
        .enumerate()
        .map(|(n, store)| {
            tokio::spawn(async move {
                let node = format!("node-{n}");
                let mut ids = Vec::new();
                loop {
                    let batch = store
                        .acquire_jobs(&node, Duration::from_secs(30), 9, Timestamp::now())
                        .await
                        .unwrap();
                    if batch.acquired.is_empty() {
                        return ids;
                    }
                    ids.extend(batch.acquired.into_iter().map(|job| job.id));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for taker in takers {
        all.extend(taker.await.unwrap());
    }
    let taken = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 600, "every job handed out");
    assert_eq!(taken, 600, "none handed out twice");
}

/// `max_running_jobs` holds while nodes race for the same task's jobs: four nodes take
/// and finish 200 jobs of a task limited to one running job, and no two ever hold one at
/// the same moment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_running_jobs_holds_while_nodes_race() {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use horae::model::{JobOutcome, JobResult};
    use horae::store::JobRelease;

    let prefix = fresh_prefix();
    let first = store_with(prefix.clone()).await;
    first.put_task(task("limited", Some(1))).await.unwrap();
    let now = Timestamp::now();
    let jobs: Vec<Job> = (0..200)
        .map(|_| Job::new(TaskId::new("limited").unwrap(), now))
        .collect();
    first.add_jobs(jobs).await.unwrap();
    let holding = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(tokio::sync::Barrier::new(4));
    let mut racers = Vec::new();
    for n in 0..4 {
        let store = store_with(prefix.clone()).await;
        let (holding, finished, start) = (holding.clone(), finished.clone(), start.clone());
        racers.push(tokio::spawn(async move {
            let node = format!("n{n}");
            start.wait().await;
            while finished.load(Ordering::SeqCst) < 200 {
                let batch = store
                    .acquire_jobs(&node, Duration::from_secs(30), 2, Timestamp::now())
                    .await
                    .unwrap();
                assert!(batch.acquired.len() <= 1, "a batch exceeded the limit");
                let Some(job) = batch.acquired.into_iter().next() else {
                    tokio::task::yield_now().await;
                    continue;
                };
                let others = holding.fetch_add(1, Ordering::SeqCst);
                assert_eq!(others, 0, "two nodes held a job of a task limited to one");
                let result = JobResult::new(&job, JobOutcome::Success, None, Timestamp::now());
                holding.fetch_sub(1, Ordering::SeqCst);
                store
                    .release_job(&node, &job.id, job.lease_token, JobRelease::Finish(result))
                    .await
                    .unwrap();
                finished.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    for racer in racers {
        racer.await.unwrap();
    }
    assert_eq!(finished.load(Ordering::SeqCst), 200);
}

/// The store vacuums its jobs table itself once it has left `vacuum_every` dead rows in
/// it (autovacuum visits a database at most once a minute, and not at all where it is off).
#[tokio::test]
async fn the_jobs_table_is_vacuumed_after_enough_changes() {
    let prefix = fresh_prefix();
    let store = connect(PostgresOptions {
        prefix: prefix.clone(),
        max_connections: 4,
        vacuum_every: 40,
        ..PostgresOptions::default()
    })
    .await;
    let vacuums = || async {
        let count: i64 =
            sqlx::query_scalar("SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = $1")
                .bind(format!("{prefix}jobs"))
                .fetch_one(store.pool())
                .await
                .unwrap();
        count
    };
    store.put_task(task("t", None)).await.unwrap();
    let now = Timestamp::now();
    let jobs: Vec<Job> = (0..30)
        .map(|_| Job::new(TaskId::new("t").unwrap(), now))
        .collect();
    store.add_jobs(jobs).await.unwrap();
    // 30 acquisitions leave 30 dead row versions: not yet enough.
    let batch = store
        .acquire_and_start_jobs("n1", Duration::from_secs(30), 30, now)
        .await
        .unwrap();
    assert_eq!(batch.acquired.len(), 30);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(vacuums().await, 0, "vacuumed before 40 dead rows");
    // Releasing them makes 60.
    let releases = batch
        .acquired
        .iter()
        .map(|job| horae::store::JobReleaseRequest {
            id: job.id,
            lease_token: job.lease_token,
            release: horae::store::JobRelease::Finish(horae::model::JobResult::new(
                job,
                horae::model::JobOutcome::Success,
                Some(now),
                now,
            )),
        })
        .collect();
    assert!(store.release_jobs("n1", releases).await.unwrap().is_empty());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while vacuums().await == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the jobs table was not vacuumed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    store.drop_tables().await.unwrap();
}

/// Listing the latest results walks the finish-time index: no sort of the whole table.
#[tokio::test]
async fn the_latest_results_are_read_from_the_index() {
    let prefix = fresh_prefix();
    let store = store_with(prefix.clone()).await;
    let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "EXPLAIN SELECT job_id FROM {prefix}results \
         ORDER BY finished_at DESC, job_id DESC LIMIT 20"
    )))
    .fetch_all(store.pool())
    .await
    .unwrap();
    let plan = plan.join("\n");
    assert!(
        plan.contains(&format!("{prefix}results_finished")),
        "{plan}"
    );
    assert!(!plan.contains("Sort"), "{plan}");
}

/// Schedule leases and releases commit without waiting for the WAL flush, and only they:
/// the setting is local to their transactions, so the connection's next transaction — here
/// a job acquisition, whose commit must be durable before the job starts — commits
/// synchronously again.
#[tokio::test]
async fn only_schedule_transactions_skip_the_commit_flush() {
    let store = connect(PostgresOptions {
        prefix: fresh_prefix(),
        max_connections: 1,
        ..PostgresOptions::default()
    })
    .await;
    let now = Timestamp::now();
    store.put_task(task("t", None)).await.unwrap();
    let trigger =
        horae::trigger::Trigger::parse(r#"{"type":"interval","seconds":1}"#, now).unwrap();
    let mut schedule = horae::model::Schedule::new(
        horae::model::ScheduleId::new("s").unwrap(),
        TaskId::new("t").unwrap(),
        trigger.clone(),
    );
    schedule.next_fire_time = Some(now);
    store
        .add_schedule(schedule, horae::model::ConflictPolicy::Exception)
        .await
        .unwrap();
    let synchronous_commit = || async {
        let value: String = sqlx::query_scalar("SHOW synchronous_commit")
            .fetch_one(store.pool())
            .await
            .unwrap();
        value
    };
    assert_eq!(synchronous_commit().await, "on");
    let acquired = store
        .acquire_schedules("n1", Duration::from_secs(30), 10, now)
        .await
        .unwrap();
    assert_eq!(acquired.len(), 1);
    assert_eq!(synchronous_commit().await, "on", "after acquire_schedules");
    let mut job = Job::new(TaskId::new("t").unwrap(), now);
    job.schedule_id = Some(horae::model::ScheduleId::new("s").unwrap());
    job.scheduled_fire_time = Some(now);
    let report = store
        .release_schedules(
            "n1",
            vec![horae::store::ScheduleRelease {
                schedule_id: horae::model::ScheduleId::new("s").unwrap(),
                trigger,
                next_fire_time: None,
                last_fire_time: Some(now),
                jobs: vec![job],
            }],
        )
        .await
        .unwrap();
    assert_eq!(report.jobs_added.len(), 1);
    assert_eq!(synchronous_commit().await, "on", "after release_schedules");
    let batch = store
        .acquire_and_start_jobs("n1", Duration::from_secs(30), 10, now)
        .await
        .unwrap();
    assert_eq!(
        batch.acquired.len(),
        1,
        "the released schedule's job is there"
    );
    store.drop_tables().await.unwrap();
}

/// Taking a schedule's lease is a HOT update (no index entry, less WAL per fire time): no
/// index covers the lease columns and the table leaves room in its pages. The next
/// acquirable time still sees the leases.
#[tokio::test]
async fn schedule_leases_are_hot_updates() {
    let prefix = fresh_prefix();
    let store = connect(PostgresOptions {
        prefix: prefix.clone(),
        max_connections: 1,
        ..PostgresOptions::default()
    })
    .await;
    let now = Timestamp::now();
    store.put_task(task("t", None)).await.unwrap();
    for i in 0..20 {
        let trigger =
            horae::trigger::Trigger::parse(r#"{"type":"interval","seconds":1}"#, now).unwrap();
        let mut schedule = horae::model::Schedule::new(
            horae::model::ScheduleId::new(format!("s{i}")).unwrap(),
            TaskId::new("t").unwrap(),
            trigger,
        );
        schedule.next_fire_time = Some(now);
        store
            .add_schedule(schedule, horae::model::ConflictPolicy::Exception)
            .await
            .unwrap();
    }
    let lease = Duration::from_secs(30);
    let acquired = store.acquire_schedules("n1", lease, 20, now).await.unwrap();
    assert_eq!(acquired.len(), 20);
    let hot_updates = || async {
        let _ = sqlx::query("SELECT pg_stat_force_next_flush()")
            .execute(store.pool())
            .await;
        let count: i64 =
            sqlx::query_scalar("SELECT n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = $1")
                .bind(format!("{prefix}schedules"))
                .fetch_one(store.pool())
                .await
                .unwrap();
        count
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while hot_updates().await < 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "schedule leases were not HOT updates ({} of 20)",
            hot_updates().await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // All leased: the next acquirable time is when the leases run out.
    let expected = now.checked_add(lease).unwrap();
    let next = store.next_schedule_run_time().await.unwrap().unwrap();
    assert_eq!(next.as_microsecond(), expected.as_microsecond());
    store.drop_tables().await.unwrap();
}

/// DESIGN.md invariant 2: a lease keeper is not held back by a busy pool. With every pool
/// connection taken, extending a lease still goes through (on the store's lease
/// connections) instead of waiting for the acquire timeout while the lease lapses.
#[tokio::test]
async fn leases_are_extended_while_every_pool_connection_is_busy() {
    let store = connect(PostgresOptions {
        prefix: fresh_prefix(),
        max_connections: 1,
        acquire_timeout: Duration::from_secs(2),
        ..PostgresOptions::default()
    })
    .await;
    let now = Timestamp::now();
    store.put_task(task("busy", None)).await.unwrap();
    store
        .add_jobs(vec![Job::new(TaskId::new("busy").unwrap(), now)])
        .await
        .unwrap();
    let batch = store
        .acquire_jobs("n1", Duration::from_secs(30), 1, now)
        .await
        .unwrap();
    let job = &batch.acquired[0];
    // The pool's only connection, held as a long release or acquisition would hold it.
    let busy = store.pool().acquire().await.unwrap();
    let until = Timestamp::from_microsecond(now.as_microsecond() + 60_000_000).unwrap();
    let lost = tokio::time::timeout(
        Duration::from_secs(5),
        store.extend_leases("n1", &[(job.id, job.lease_token)], &[], until),
    )
    .await
    .expect("extending a lease waited for the busy pool")
    .expect("extending a lease failed while the pool was busy");
    assert!(lost.is_empty());
    drop(busy);
    let stored = store.get_job(&job.id).await.unwrap().unwrap();
    assert_eq!(stored.acquired_until, Some(until));
    store.close().await;
}
