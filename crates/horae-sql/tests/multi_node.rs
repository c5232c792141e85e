//! Several nodes on one real database: three schedulers, each on its own Tokio runtime
//! with its own connection pool (as separate processes would be), share PostgreSQL (with
//! the LISTEN/NOTIFY broker) or MariaDB (each node with only its local broker, so wake-ups
//! fall back to polling). Jobs run 2.5 times longer than the lease, and one node vanishes
//! mid-job. Afterwards: every fire time got exactly one job, no job attempt started
//! twice, and the vanished node's jobs were retried by the others.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use horae::broker::{EventBroker, LocalBroker};
use horae::model::{
    CoalescePolicy, ConflictPolicy, ExecutorKind, JobId, RetryPolicy, Schedule, ScheduleId, Task,
    TaskId,
};
use horae::scheduler::handler::Handler;
use horae::scheduler::{Scheduler, SchedulerConfig};
use horae::store::DataStore;
use horae::trigger::Trigger;
use horae_sql::{
    MysqlOptions, MysqlStore, PgBroker, PgBrokerOptions, PostgresOptions, PostgresStore,
    TablePrefix,
};
use horae_testkit::service::{unique_prefix, url_from_env};
use jiff::Timestamp;
use tokio::sync::oneshot;

/// How long each node holds a lease unless it renews it.
const LEASE: Duration = Duration::from_secs(1);
/// How long each job runs: longer than a lease, so only renewal keeps it.
const RUN: Duration = Duration::from_millis(2500);

/// One start of a job attempt: (job, attempt) → (schedule, fire time, node, start).
type Starts = Arc<Mutex<BTreeMap<(JobId, u32), Vec<(String, Timestamp, String, Timestamp)>>>>;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Makes a node's store and broker (called on the node's own runtime).
type Backend = Arc<dyn Fn() -> BoxFuture<(Arc<dyn DataStore>, Arc<dyn EventBroker>)> + Send + Sync>;

/// What the test tells a node.
enum Order {
    /// Stop gracefully (finish or cancel running jobs, release leases).
    Stop,
    /// Vanish as if the process died: nothing more is written.
    Halt,
}

/// Starts node `id` on its own thread and runtime; returns its order channel and thread.
fn node(
    id: &str,
    backend: Backend,
    starts: Starts,
) -> (oneshot::Sender<Order>, std::thread::JoinHandle<()>) {
    let (orders, order) = oneshot::channel();
    let id = id.to_owned();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let (store, broker) = backend().await;
            let scheduler = Scheduler::builder()
                .store(store)
                .broker(broker)
                .config(SchedulerConfig {
                    node_id: id.clone(),
                    lease_duration: LEASE,
                    poll_interval: Duration::from_millis(200),
                    stop_grace_period: Duration::from_secs(5),
                    ..SchedulerConfig::default()
                })
                .build()
                .unwrap();
            let mut task = Task::new(TaskId::new("long").unwrap(), ExecutorKind::Async);
            task.max_running_jobs = None;
            task.retry = Some(RetryPolicy::new(
                3,
                Duration::from_millis(100),
                Duration::from_millis(200),
            ));
            let node = id.clone();
            let handler = Handler::from_async(move |ctx| {
                let (starts, node) = (starts.clone(), node.clone());
                async move {
                    let job = &ctx.job;
                    let schedule = job.schedule_id.as_ref().map(ToString::to_string);
                    let fire = job.scheduled_fire_time.unwrap_or(Timestamp::UNIX_EPOCH);
                    starts
                        .lock()
                        .unwrap()
                        .entry((job.id, job.attempt))
                        .or_default()
                        .push((schedule.unwrap_or_default(), fire, node, Timestamp::now()));
                    tokio::time::sleep(RUN).await;
                    Ok(())
                }
            });
            scheduler.configure_task(task, handler).await.unwrap();
            scheduler.start().await;
            match order.await {
                Ok(Order::Halt) => scheduler.halt().await,
                Ok(Order::Stop) | Err(_) => scheduler.stop().await,
            }
        });
        // Dropping the runtime ends whatever the node still had running.
    });
    (orders, thread)
}

/// Runs the scenario against `backend` (see the module docs).
async fn three_nodes_one_vanishing(backend: Backend) {
    let starts: Starts = Arc::default();
    let (store, _) = backend().await;
    let first_fire = Timestamp::now() + jiff::SignedDuration::from_secs(2);
    let first_fire = first_fire.round(jiff::Unit::Second).unwrap();
    let schedules = ["a", "b", "c", "d"];
    for id in schedules {
        let spec = format!(r#"{{"type":"interval","seconds":1,"start_time":"{first_fire}"}}"#);
        let trigger = Trigger::parse(&spec, first_fire).unwrap();
        let mut schedule = Schedule::new(
            ScheduleId::new(id).unwrap(),
            TaskId::new("long").unwrap(),
            trigger,
        );
        schedule.coalesce = CoalescePolicy::All;
        schedule.job_result_expiration_time = Duration::from_secs(3600);
        schedule.next_fire_time = Some(first_fire);
        store
            .add_schedule(schedule, ConflictPolicy::Exception)
            .await
            .unwrap();
    }
    let mut nodes: Vec<_> = ["n1", "n2", "n3"]
        .iter()
        .map(|id| node(id, backend.clone(), starts.clone()))
        .collect();
    // Let the cluster run, then make the node that started a job last vanish mid-job
    // (jobs last 2.5 s).
    tokio::time::sleep(Duration::from_secs(7)).await;
    let victim = starts
        .lock()
        .unwrap()
        .values()
        .flatten()
        .max_by_key(|(_, _, _, started)| *started)
        .map(|(_, _, node, _)| node.clone())
        .expect("the cluster ran jobs");
    let index = ["n1", "n2", "n3"]
        .iter()
        .position(|n| *n == victim)
        .unwrap();
    let (vanished, thread) = nodes.remove(index);
    let _ = vanished.send(Order::Halt);
    tokio::task::spawn_blocking(move || thread.join().unwrap())
        .await
        .unwrap();
    let halted_at = Timestamp::now();
    // The survivors reap n3's jobs within about a lease and go on firing.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let end = Timestamp::now();
    for (orders, thread) in nodes {
        let _ = orders.send(Order::Stop);
        tokio::task::spawn_blocking(move || thread.join().unwrap())
            .await
            .unwrap();
    }

    let starts = starts.lock().unwrap().clone();
    // No job attempt started twice.
    for (key, runs) in &starts {
        assert_eq!(
            runs.len(),
            1,
            "attempt {key:?} started {} times: {runs:?}",
            runs.len()
        );
    }
    // Each (schedule, fire time) got exactly one job: from the starts, the jobs still
    // queued, and nothing else.
    let mut jobs_per_fire: BTreeMap<(String, Timestamp), BTreeSet<JobId>> = BTreeMap::new();
    for ((job, _), runs) in &starts {
        for (schedule, fire, _, _) in runs {
            jobs_per_fire
                .entry((schedule.clone(), *fire))
                .or_default()
                .insert(*job);
        }
    }
    for job in store.get_jobs().await.unwrap() {
        if let (Some(schedule), Some(fire)) = (&job.schedule_id, job.scheduled_fire_time) {
            jobs_per_fire
                .entry((schedule.to_string(), fire))
                .or_default()
                .insert(job.id);
        }
    }
    for ((schedule, fire), jobs) in &jobs_per_fire {
        assert_eq!(
            jobs.len(),
            1,
            "{schedule} at {fire} got {} jobs",
            jobs.len()
        );
    }
    // Every fire time up to shortly before the end has its job.
    let last = end - jiff::SignedDuration::from_secs(2);
    let mut fire = first_fire;
    while fire < last {
        for schedule in schedules {
            assert!(
                jobs_per_fire.contains_key(&(schedule.to_owned(), fire)),
                "{schedule} lost its fire time {fire}"
            );
        }
        fire += jiff::SignedDuration::from_secs(1);
    }
    // Leases were kept alive: no job that a live node ran was ever taken from it and run
    // again (only the vanished node's jobs have a second attempt).
    for ((job, attempt), runs) in &starts {
        if *attempt == 2 {
            // Attempt 1 may have no record: the victim vanished between starting it in the
            // store and calling the handler.
            let first = starts.get(&(*job, 1)).and_then(|runs| runs.first());
            assert!(
                first.is_none_or(|(_, _, node, _)| *node == victim),
                "job {job} ran again although {first:?} did not vanish: {runs:?}"
            );
        }
    }
    // The vanished node's unfinished job was retried as attempt 2 by a survivor.
    let retried_elsewhere = starts
        .iter()
        .filter(|((_, attempt), runs)| {
            *attempt == 2 && runs.iter().all(|(_, _, node, _)| *node != victim)
        })
        .count();
    assert!(
        retried_elsewhere > 0,
        "no job of {victim} was retried by the survivors (halted at {halted_at})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_on_postgresql() {
    let url = url_from_env(
        "HORAE_PG_URL",
        "postgres://postgres@127.0.0.1:5432/horae_test",
    );
    PostgresStore::create_database_if_missing(&url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL is required for this test: {e}"));
    let prefix = unique_prefix();
    let backend: Backend = Arc::new(move || {
        let (url, prefix) = (url.clone(), prefix.clone());
        Box::pin(async move {
            let options = PostgresOptions {
                prefix: TablePrefix::new(format!("{prefix}_")).unwrap(),
                max_connections: 5,
                ..PostgresOptions::default()
            };
            let store = PostgresStore::connect_with(&url, options).await.unwrap();
            let broker = PgBroker::connect(&url, PgBrokerOptions::default().with_prefix(&prefix))
                .await
                .unwrap();
            (
                Arc::new(store) as Arc<dyn DataStore>,
                Arc::new(broker) as Arc<dyn EventBroker>,
            )
        })
    });
    three_nodes_one_vanishing(backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_on_mariadb() {
    let url = url_from_env("HORAE_MYSQL_URL", "mysql://root@127.0.0.1:3306/horae_test");
    MysqlStore::create_database_if_missing(&url)
        .await
        .unwrap_or_else(|e| panic!("MariaDB is required for this test: {e}"));
    let prefix = unique_prefix();
    let backend: Backend = Arc::new(move || {
        let (url, prefix) = (url.clone(), prefix.clone());
        Box::pin(async move {
            let options = MysqlOptions {
                prefix: TablePrefix::new(format!("{prefix}_")).unwrap(),
                max_connections: 5,
                ..MysqlOptions::default()
            };
            let store = MysqlStore::connect_with(&url, options)
                .await
                .unwrap_or_else(|e| panic!("MariaDB is required for this test: {e}"));
            (
                Arc::new(store) as Arc<dyn DataStore>,
                Arc::new(LocalBroker::new()) as Arc<dyn EventBroker>,
            )
        })
    });
    three_nodes_one_vanishing(backend).await;
}
