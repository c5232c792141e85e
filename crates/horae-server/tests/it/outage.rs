//! A store that stops answering: 503 from the API and `/readyz`, a note on the dashboard.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use horae::clock::BoxFuture;
use horae::error::StoreError;
use horae::model::{
    ConflictPolicy, Job, JobId, JobResult, NodeInfo, Schedule, ScheduleId, Task, TaskId,
};
use horae::scheduler::Scheduler;
use horae::store::{
    AddScheduleOutcome, CleanupReport, DataStore, JobBatch, JobRelease, MemoryStore, Reaped,
    ScheduleRelease, ScheduleReleaseReport, StoreResult,
};
use horae::trigger::Trigger;
use horae_server::AppState;
use jiff::Timestamp;

use crate::support::Client;

/// A memory store whose lookups fail with `Unavailable` while `down` is set, and never
/// answer while `hang` is set.
#[derive(Default)]
struct DownStore {
    inner: MemoryStore,
    down: AtomicBool,
    hang: AtomicBool,
}

impl DownStore {
    fn lookup<'a, T: Send + 'a>(
        &'a self,
        call: BoxFuture<'a, StoreResult<T>>,
    ) -> BoxFuture<'a, StoreResult<T>> {
        if self.hang.load(Ordering::SeqCst) {
            Box::pin(std::future::pending())
        } else if self.down.load(Ordering::SeqCst) {
            Box::pin(async { Err(StoreError::Unavailable("connection refused".to_owned())) })
        } else {
            call
        }
    }
}

impl DataStore for DownStore {
    fn put_task(&self, task: Task) -> BoxFuture<'_, StoreResult<bool>> {
        self.inner.put_task(task)
    }
    fn remove_task<'a>(&'a self, id: &'a TaskId) -> BoxFuture<'a, StoreResult<()>> {
        self.inner.remove_task(id)
    }
    fn get_task<'a>(&'a self, id: &'a TaskId) -> BoxFuture<'a, StoreResult<Option<Task>>> {
        self.lookup(self.inner.get_task(id))
    }
    fn get_tasks(&self) -> BoxFuture<'_, StoreResult<Vec<Task>>> {
        self.lookup(self.inner.get_tasks())
    }
    fn add_schedule(
        &self,
        schedule: Schedule,
        policy: ConflictPolicy,
    ) -> BoxFuture<'_, StoreResult<AddScheduleOutcome>> {
        self.inner.add_schedule(schedule, policy)
    }
    fn set_paused<'a>(
        &'a self,
        id: &'a ScheduleId,
        paused: bool,
        next: Option<(Trigger, Option<Timestamp>)>,
    ) -> BoxFuture<'a, StoreResult<Schedule>> {
        self.lookup(self.inner.set_paused(id, paused, next))
    }
    fn remove_schedules<'a>(
        &'a self,
        ids: &'a [ScheduleId],
    ) -> BoxFuture<'a, StoreResult<Vec<Schedule>>> {
        self.inner.remove_schedules(ids)
    }
    fn get_schedule<'a>(
        &'a self,
        id: &'a ScheduleId,
    ) -> BoxFuture<'a, StoreResult<Option<Schedule>>> {
        self.lookup(self.inner.get_schedule(id))
    }
    fn get_schedules(&self) -> BoxFuture<'_, StoreResult<Vec<Schedule>>> {
        self.lookup(self.inner.get_schedules())
    }
    fn acquire_schedules<'a>(
        &'a self,
        node: &'a str,
        lease: Duration,
        limit: usize,
        now: Timestamp,
    ) -> BoxFuture<'a, StoreResult<Vec<Schedule>>> {
        self.inner.acquire_schedules(node, lease, limit, now)
    }
    fn release_schedules<'a>(
        &'a self,
        node: &'a str,
        releases: Vec<ScheduleRelease>,
    ) -> BoxFuture<'a, StoreResult<ScheduleReleaseReport>> {
        self.inner.release_schedules(node, releases)
    }
    fn next_schedule_run_time(&self) -> BoxFuture<'_, StoreResult<Option<Timestamp>>> {
        self.inner.next_schedule_run_time()
    }
    fn add_jobs(&self, jobs: Vec<Job>) -> BoxFuture<'_, StoreResult<Vec<JobId>>> {
        self.inner.add_jobs(jobs)
    }
    fn get_job<'a>(&'a self, id: &'a JobId) -> BoxFuture<'a, StoreResult<Option<Job>>> {
        self.lookup(self.inner.get_job(id))
    }
    fn get_jobs(&self) -> BoxFuture<'_, StoreResult<Vec<Job>>> {
        self.lookup(self.inner.get_jobs())
    }
    fn acquire_jobs<'a>(
        &'a self,
        node: &'a str,
        lease: Duration,
        limit: usize,
        now: Timestamp,
    ) -> BoxFuture<'a, StoreResult<JobBatch>> {
        self.inner.acquire_jobs(node, lease, limit, now)
    }
    fn start_job<'a>(
        &'a self,
        node: &'a str,
        id: &'a JobId,
        token: u64,
        now: Timestamp,
    ) -> BoxFuture<'a, StoreResult<Job>> {
        self.inner.start_job(node, id, token, now)
    }
    fn release_job<'a>(
        &'a self,
        node: &'a str,
        id: &'a JobId,
        token: u64,
        release: JobRelease,
    ) -> BoxFuture<'a, StoreResult<()>> {
        self.inner.release_job(node, id, token, release)
    }
    fn extend_leases<'a>(
        &'a self,
        node: &'a str,
        jobs: &'a [(JobId, u64)],
        schedules: &'a [ScheduleId],
        until: Timestamp,
    ) -> BoxFuture<'a, StoreResult<Vec<JobId>>> {
        self.inner.extend_leases(node, jobs, schedules, until)
    }
    fn reap_expired(&self, now: Timestamp) -> BoxFuture<'_, StoreResult<Vec<Reaped>>> {
        self.inner.reap_expired(now)
    }
    fn get_job_result<'a>(
        &'a self,
        id: &'a JobId,
    ) -> BoxFuture<'a, StoreResult<Option<JobResult>>> {
        self.lookup(self.inner.get_job_result(id))
    }
    fn get_job_results(&self, limit: usize) -> BoxFuture<'_, StoreResult<Vec<JobResult>>> {
        self.lookup(self.inner.get_job_results(limit))
    }
    fn record_node(&self, node: NodeInfo) -> BoxFuture<'_, StoreResult<()>> {
        self.inner.record_node(node)
    }
    fn remove_node<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<()>> {
        self.inner.remove_node(id)
    }
    fn get_nodes(&self) -> BoxFuture<'_, StoreResult<Vec<NodeInfo>>> {
        self.lookup(self.inner.get_nodes())
    }
    fn cleanup(&self, now: Timestamp) -> BoxFuture<'_, StoreResult<CleanupReport>> {
        self.inner.cleanup(now)
    }
}

#[tokio::test]
async fn an_unreachable_store_is_a_503_and_not_ready() {
    let store = Arc::new(DownStore::default());
    let scheduler = Scheduler::builder()
        .node_id("outage")
        .store(store.clone())
        .build()
        .unwrap();
    let client = Client::new(AppState::new(scheduler.clone()));
    assert_eq!(client.get("/readyz").await.status, StatusCode::OK);
    assert_eq!(client.get("/api/v1/tasks").await.status, StatusCode::OK);

    store.down.store(true, Ordering::SeqCst);
    for path in [
        "/readyz",
        "/api/v1/tasks",
        "/api/v1/tasks/backup",
        "/api/v1/schedules",
        "/api/v1/jobs",
        "/api/v1/results",
        "/api/v1/nodes",
        "/api/v1/schedules/nightly/preview",
    ] {
        let reply = client.get(path).await;
        let body = reply.assert_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("connection refused"),
            "{path}: {body}"
        );
    }
    client
        .post_empty("/api/v1/schedules/nightly/pause")
        .await
        .assert_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert_eq!(
        client.get("/healthz").await.status,
        StatusCode::OK,
        "alive anyway"
    );
    let page = client.get("/").await;
    assert_eq!(page.status, StatusCode::OK, "the dashboard still renders");
    assert!(
        page.text
            .contains("could not load schedules: store unavailable: connection refused"),
        "{}",
        page.text
    );

    store.down.store(false, Ordering::SeqCst);
    assert_eq!(client.get("/readyz").await.status, StatusCode::OK);
}

#[tokio::test]
async fn readiness_times_out_on_a_hanging_store() {
    let store = Arc::new(DownStore::default());
    let scheduler = Scheduler::builder()
        .node_id("slow")
        .store(store.clone())
        .build()
        .unwrap();
    let client =
        Client::new(AppState::new(scheduler).with_ready_timeout(Duration::from_millis(100)));
    assert_eq!(client.get("/readyz").await.status, StatusCode::OK);
    store.hang.store(true, Ordering::SeqCst);
    let started = std::time::Instant::now();
    let reply = client.get("/readyz").await;
    let body = reply.assert_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert!(
        body["detail"].as_str().unwrap().contains("did not answer"),
        "{body}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}
