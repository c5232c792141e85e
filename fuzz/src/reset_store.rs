//! A data store that can be emptied: it passes every call to an in-memory store, which
//! [`ResetStore::reset`] replaces with a new one. The API target builds its router (and
//! with it the OpenAPI document, the costly part) once, and gives every input a fresh store.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use horae::clock::BoxFuture;
use horae::model::{
    ConflictPolicy, Job, JobId, JobResult, NodeInfo, Schedule, ScheduleId, Task, TaskId,
};
use horae::store::{
    AddScheduleOutcome, CleanupReport, DataStore, JobBatch, JobRelease, JobReleaseRequest,
    MemoryStore, Reaped, ScheduleRelease, ScheduleReleaseReport, StoreResult,
};
use horae::trigger::Trigger;
use jiff::Timestamp;

/// A [`DataStore`] over a replaceable [`MemoryStore`].
pub struct ResetStore {
    current: Mutex<Arc<MemoryStore>>,
}

impl Default for ResetStore {
    fn default() -> ResetStore {
        ResetStore {
            current: Mutex::new(Arc::new(MemoryStore::new())),
        }
    }
}

impl ResetStore {
    /// Replaces the store with an empty one.
    pub fn reset(&self) {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Arc::new(MemoryStore::new());
    }

    fn current(&self) -> Arc<MemoryStore> {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl DataStore for ResetStore {
    fn put_task(&self, task: Task) -> BoxFuture<'_, StoreResult<bool>> {
        let s = self.current();
        Box::pin(async move { s.put_task(task).await })
    }
    fn remove_task<'a>(&'a self, id: &'a TaskId) -> BoxFuture<'a, StoreResult<()>> {
        let s = self.current();
        Box::pin(async move { s.remove_task(id).await })
    }
    fn get_task<'a>(&'a self, id: &'a TaskId) -> BoxFuture<'a, StoreResult<Option<Task>>> {
        let s = self.current();
        Box::pin(async move { s.get_task(id).await })
    }
    fn get_tasks(&self) -> BoxFuture<'_, StoreResult<Vec<Task>>> {
        let s = self.current();
        Box::pin(async move { s.get_tasks().await })
    }
    fn add_schedule(
        &self,
        schedule: Schedule,
        policy: ConflictPolicy,
    ) -> BoxFuture<'_, StoreResult<AddScheduleOutcome>> {
        let s = self.current();
        Box::pin(async move { s.add_schedule(schedule, policy).await })
    }
    fn set_paused<'a>(
        &'a self,
        id: &'a ScheduleId,
        paused: bool,
        next: Option<(Trigger, Option<Timestamp>)>,
    ) -> BoxFuture<'a, StoreResult<Schedule>> {
        let s = self.current();
        Box::pin(async move { s.set_paused(id, paused, next).await })
    }
    fn remove_schedules<'a>(
        &'a self,
        ids: &'a [ScheduleId],
    ) -> BoxFuture<'a, StoreResult<Vec<Schedule>>> {
        let s = self.current();
        Box::pin(async move { s.remove_schedules(ids).await })
    }
    fn get_schedule<'a>(
        &'a self,
        id: &'a ScheduleId,
    ) -> BoxFuture<'a, StoreResult<Option<Schedule>>> {
        let s = self.current();
        Box::pin(async move { s.get_schedule(id).await })
    }
    fn get_schedules(&self) -> BoxFuture<'_, StoreResult<Vec<Schedule>>> {
        let s = self.current();
        Box::pin(async move { s.get_schedules().await })
    }
    fn acquire_schedules<'a>(
        &'a self,
        node: &'a str,
        lease: Duration,
        limit: usize,
        now: Timestamp,
    ) -> BoxFuture<'a, StoreResult<Vec<Schedule>>> {
        let s = self.current();
        Box::pin(async move { s.acquire_schedules(node, lease, limit, now).await })
    }
    fn release_schedules<'a>(
        &'a self,
        node: &'a str,
        releases: Vec<ScheduleRelease>,
    ) -> BoxFuture<'a, StoreResult<ScheduleReleaseReport>> {
        let s = self.current();
        Box::pin(async move { s.release_schedules(node, releases).await })
    }
    fn next_schedule_run_time(&self) -> BoxFuture<'_, StoreResult<Option<Timestamp>>> {
        let s = self.current();
        Box::pin(async move { s.next_schedule_run_time().await })
    }
    fn add_jobs(&self, jobs: Vec<Job>) -> BoxFuture<'_, StoreResult<Vec<JobId>>> {
        let s = self.current();
        Box::pin(async move { s.add_jobs(jobs).await })
    }
    fn get_job<'a>(&'a self, id: &'a JobId) -> BoxFuture<'a, StoreResult<Option<Job>>> {
        let s = self.current();
        Box::pin(async move { s.get_job(id).await })
    }
    fn get_jobs(&self) -> BoxFuture<'_, StoreResult<Vec<Job>>> {
        let s = self.current();
        Box::pin(async move { s.get_jobs().await })
    }
    fn acquire_jobs<'a>(
        &'a self,
        node: &'a str,
        lease: Duration,
        limit: usize,
        now: Timestamp,
    ) -> BoxFuture<'a, StoreResult<JobBatch>> {
        let s = self.current();
        Box::pin(async move { s.acquire_jobs(node, lease, limit, now).await })
    }
    fn acquire_and_start_jobs<'a>(
        &'a self,
        node: &'a str,
        lease: Duration,
        limit: usize,
        now: Timestamp,
    ) -> BoxFuture<'a, StoreResult<JobBatch>> {
        let s = self.current();
        Box::pin(async move { s.acquire_and_start_jobs(node, lease, limit, now).await })
    }
    fn start_job<'a>(
        &'a self,
        node: &'a str,
        id: &'a JobId,
        token: u64,
        now: Timestamp,
    ) -> BoxFuture<'a, StoreResult<Job>> {
        let s = self.current();
        Box::pin(async move { s.start_job(node, id, token, now).await })
    }
    fn release_job<'a>(
        &'a self,
        node: &'a str,
        id: &'a JobId,
        token: u64,
        release: JobRelease,
    ) -> BoxFuture<'a, StoreResult<()>> {
        let s = self.current();
        Box::pin(async move { s.release_job(node, id, token, release).await })
    }
    fn release_jobs<'a>(
        &'a self,
        node: &'a str,
        releases: Vec<JobReleaseRequest>,
    ) -> BoxFuture<'a, StoreResult<Vec<JobId>>> {
        let s = self.current();
        Box::pin(async move { s.release_jobs(node, releases).await })
    }
    fn extend_leases<'a>(
        &'a self,
        node: &'a str,
        jobs: &'a [(JobId, u64)],
        schedules: &'a [ScheduleId],
        until: Timestamp,
    ) -> BoxFuture<'a, StoreResult<Vec<JobId>>> {
        let s = self.current();
        Box::pin(async move { s.extend_leases(node, jobs, schedules, until).await })
    }
    fn reap_expired(&self, now: Timestamp) -> BoxFuture<'_, StoreResult<Vec<Reaped>>> {
        let s = self.current();
        Box::pin(async move { s.reap_expired(now).await })
    }
    fn get_job_result<'a>(
        &'a self,
        id: &'a JobId,
    ) -> BoxFuture<'a, StoreResult<Option<JobResult>>> {
        let s = self.current();
        Box::pin(async move { s.get_job_result(id).await })
    }
    fn get_job_results(&self, limit: usize) -> BoxFuture<'_, StoreResult<Vec<JobResult>>> {
        let s = self.current();
        Box::pin(async move { s.get_job_results(limit).await })
    }
    fn record_node(&self, node: NodeInfo) -> BoxFuture<'_, StoreResult<()>> {
        let s = self.current();
        Box::pin(async move { s.record_node(node).await })
    }
    fn remove_node<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<()>> {
        let s = self.current();
        Box::pin(async move { s.remove_node(id).await })
    }
    fn get_nodes(&self) -> BoxFuture<'_, StoreResult<Vec<NodeInfo>>> {
        let s = self.current();
        Box::pin(async move { s.get_nodes().await })
    }
    fn cleanup(&self, now: Timestamp) -> BoxFuture<'_, StoreResult<CleanupReport>> {
        let s = self.current();
        Box::pin(async move { s.cleanup(now).await })
    }
}
