//! A data store that injects faults: every call passes through to a real store, fails with
//! an error, or never answers, as a closure decides per [`StoreOp`]. For tests of how
//! nodes, services and the HTTP API behave while the database is down or hangs.

use std::sync::Arc;
use std::time::Duration;

use horae::clock::BoxFuture;
use horae::error::StoreError;
use horae::model::{
    ConflictPolicy, Job, JobId, JobResult, NodeInfo, Schedule, ScheduleId, Task, TaskId,
};
use horae::store::{
    AddScheduleOutcome, CleanupReport, DataStore, JobBatch, JobRelease, JobReleaseRequest, Reaped,
    ScheduleRelease, ScheduleReleaseReport, StoreResult,
};
use horae::trigger::Trigger;
use jiff::Timestamp;

/// A [`DataStore`] method, named after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(
    missing_docs,
    reason = "each variant is the DataStore method of the same name"
)]
pub enum StoreOp {
    PutTask,
    RemoveTask,
    GetTask,
    GetTasks,
    AddSchedule,
    SetPaused,
    RemoveSchedules,
    GetSchedule,
    GetSchedules,
    AcquireSchedules,
    ReleaseSchedules,
    NextScheduleRunTime,
    AddJobs,
    GetJob,
    GetJobs,
    AcquireJobs,
    AcquireAndStartJobs,
    StartJob,
    ReleaseJob,
    ReleaseJobs,
    ExtendLeases,
    ReapExpired,
    GetJobResult,
    GetJobResults,
    RecordNode,
    RemoveNode,
    GetNodes,
    Cleanup,
}

impl StoreOp {
    /// The calls that only read.
    pub const LOOKUPS: &'static [StoreOp] = &[
        StoreOp::GetTask,
        StoreOp::GetTasks,
        StoreOp::GetSchedule,
        StoreOp::GetSchedules,
        StoreOp::NextScheduleRunTime,
        StoreOp::GetJob,
        StoreOp::GetJobs,
        StoreOp::GetJobResult,
        StoreOp::GetJobResults,
        StoreOp::GetNodes,
    ];
}

/// What one call does.
#[derive(Debug, Clone)]
pub enum Fault {
    /// The real store answers.
    Pass,
    /// The call fails with this error; the real store is not called.
    Fail(StoreError),
    /// The call never answers (a hung connection); the real store is not called.
    Hang,
}

impl Fault {
    /// A failure as a down database gives: [`StoreError::Unavailable`] with `message`.
    pub fn unavailable(message: &str) -> Fault {
        Fault::Fail(StoreError::Unavailable(message.to_owned()))
    }
}

type Decide = dyn Fn(StoreOp) -> Fault + Send + Sync;

/// Wraps a store; before every call `decide` says whether it passes, fails or hangs.
pub struct FaultyStore {
    inner: Arc<dyn DataStore>,
    decide: Box<Decide>,
}

impl FaultyStore {
    /// A store that asks `decide` before every call to `inner`.
    pub fn new(
        inner: Arc<dyn DataStore>,
        decide: impl Fn(StoreOp) -> Fault + Send + Sync + 'static,
    ) -> FaultyStore {
        FaultyStore {
            inner,
            decide: Box::new(decide),
        }
    }

    /// Runs `call` on the real store unless `op` is to fail or hang. `call` is only made
    /// when the fault is [`Fault::Pass`]: some stores do their work before the returned
    /// future is polled.
    fn guard<'a, T: Send + 'a>(
        &'a self,
        op: StoreOp,
        call: impl FnOnce(&'a dyn DataStore) -> BoxFuture<'a, StoreResult<T>>,
    ) -> BoxFuture<'a, StoreResult<T>> {
        match (self.decide)(op) {
            Fault::Pass => call(&*self.inner),
            Fault::Fail(error) => Box::pin(async move { Err(error) }),
            Fault::Hang => Box::pin(std::future::pending()),
        }
    }
}

impl DataStore for FaultyStore {
    fn put_task(&self, task: Task) -> BoxFuture<'_, StoreResult<bool>> {
        self.guard(StoreOp::PutTask, |s| s.put_task(task))
    }
    fn remove_task<'a>(&'a self, id: &'a TaskId) -> BoxFuture<'a, StoreResult<()>> {
        self.guard(StoreOp::RemoveTask, |s| s.remove_task(id))
    }
    fn get_task<'a>(&'a self, id: &'a TaskId) -> BoxFuture<'a, StoreResult<Option<Task>>> {
        self.guard(StoreOp::GetTask, |s| s.get_task(id))
    }
    fn get_tasks(&self) -> BoxFuture<'_, StoreResult<Vec<Task>>> {
        self.guard(StoreOp::GetTasks, |s| s.get_tasks())
    }
    fn add_schedule(
        &self,
        schedule: Schedule,
        policy: ConflictPolicy,
    ) -> BoxFuture<'_, StoreResult<AddScheduleOutcome>> {
        self.guard(StoreOp::AddSchedule, |s| s.add_schedule(schedule, policy))
    }
    fn set_paused<'a>(
        &'a self,
        id: &'a ScheduleId,
        paused: bool,
        next: Option<(Trigger, Option<Timestamp>)>,
    ) -> BoxFuture<'a, StoreResult<Schedule>> {
        self.guard(StoreOp::SetPaused, |s| s.set_paused(id, paused, next))
    }
    fn remove_schedules<'a>(
        &'a self,
        ids: &'a [ScheduleId],
    ) -> BoxFuture<'a, StoreResult<Vec<Schedule>>> {
        self.guard(StoreOp::RemoveSchedules, |s| s.remove_schedules(ids))
    }
    fn get_schedule<'a>(
        &'a self,
        id: &'a ScheduleId,
    ) -> BoxFuture<'a, StoreResult<Option<Schedule>>> {
        self.guard(StoreOp::GetSchedule, |s| s.get_schedule(id))
    }
    fn get_schedules(&self) -> BoxFuture<'_, StoreResult<Vec<Schedule>>> {
        self.guard(StoreOp::GetSchedules, |s| s.get_schedules())
    }
    fn acquire_schedules<'a>(
        &'a self,
        node: &'a str,
        lease: Duration,
        limit: usize,
        now: Timestamp,
    ) -> BoxFuture<'a, StoreResult<Vec<Schedule>>> {
        self.guard(StoreOp::AcquireSchedules, |s| {
            s.acquire_schedules(node, lease, limit, now)
        })
    }
    fn release_schedules<'a>(
        &'a self,
        node: &'a str,
        releases: Vec<ScheduleRelease>,
    ) -> BoxFuture<'a, StoreResult<ScheduleReleaseReport>> {
        self.guard(StoreOp::ReleaseSchedules, |s| {
            s.release_schedules(node, releases)
        })
    }
    fn next_schedule_run_time(&self) -> BoxFuture<'_, StoreResult<Option<Timestamp>>> {
        self.guard(StoreOp::NextScheduleRunTime, |s| s.next_schedule_run_time())
    }
    fn add_jobs(&self, jobs: Vec<Job>) -> BoxFuture<'_, StoreResult<Vec<JobId>>> {
        self.guard(StoreOp::AddJobs, |s| s.add_jobs(jobs))
    }
    fn get_job<'a>(&'a self, id: &'a JobId) -> BoxFuture<'a, StoreResult<Option<Job>>> {
        self.guard(StoreOp::GetJob, |s| s.get_job(id))
    }
    fn get_jobs(&self) -> BoxFuture<'_, StoreResult<Vec<Job>>> {
        self.guard(StoreOp::GetJobs, |s| s.get_jobs())
    }
    fn acquire_jobs<'a>(
        &'a self,
        node: &'a str,
        lease: Duration,
        limit: usize,
        now: Timestamp,
    ) -> BoxFuture<'a, StoreResult<JobBatch>> {
        self.guard(StoreOp::AcquireJobs, |s| {
            s.acquire_jobs(node, lease, limit, now)
        })
    }
    fn acquire_and_start_jobs<'a>(
        &'a self,
        node: &'a str,
        lease: Duration,
        limit: usize,
        now: Timestamp,
    ) -> BoxFuture<'a, StoreResult<JobBatch>> {
        self.guard(StoreOp::AcquireAndStartJobs, |s| {
            s.acquire_and_start_jobs(node, lease, limit, now)
        })
    }
    fn start_job<'a>(
        &'a self,
        node: &'a str,
        id: &'a JobId,
        token: u64,
        now: Timestamp,
    ) -> BoxFuture<'a, StoreResult<Job>> {
        self.guard(StoreOp::StartJob, |s| s.start_job(node, id, token, now))
    }
    fn release_job<'a>(
        &'a self,
        node: &'a str,
        id: &'a JobId,
        token: u64,
        release: JobRelease,
    ) -> BoxFuture<'a, StoreResult<()>> {
        self.guard(StoreOp::ReleaseJob, |s| {
            s.release_job(node, id, token, release)
        })
    }
    fn release_jobs<'a>(
        &'a self,
        node: &'a str,
        releases: Vec<JobReleaseRequest>,
    ) -> BoxFuture<'a, StoreResult<Vec<JobId>>> {
        self.guard(StoreOp::ReleaseJobs, |s| s.release_jobs(node, releases))
    }
    fn extend_leases<'a>(
        &'a self,
        node: &'a str,
        jobs: &'a [(JobId, u64)],
        schedules: &'a [ScheduleId],
        until: Timestamp,
    ) -> BoxFuture<'a, StoreResult<Vec<JobId>>> {
        self.guard(StoreOp::ExtendLeases, |s| {
            s.extend_leases(node, jobs, schedules, until)
        })
    }
    fn reap_expired(&self, now: Timestamp) -> BoxFuture<'_, StoreResult<Vec<Reaped>>> {
        self.guard(StoreOp::ReapExpired, |s| s.reap_expired(now))
    }
    fn get_job_result<'a>(
        &'a self,
        id: &'a JobId,
    ) -> BoxFuture<'a, StoreResult<Option<JobResult>>> {
        self.guard(StoreOp::GetJobResult, |s| s.get_job_result(id))
    }
    fn get_job_results(&self, limit: usize) -> BoxFuture<'_, StoreResult<Vec<JobResult>>> {
        self.guard(StoreOp::GetJobResults, |s| s.get_job_results(limit))
    }
    fn record_node(&self, node: NodeInfo) -> BoxFuture<'_, StoreResult<()>> {
        self.guard(StoreOp::RecordNode, |s| s.record_node(node))
    }
    fn remove_node<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<()>> {
        self.guard(StoreOp::RemoveNode, |s| s.remove_node(id))
    }
    fn get_nodes(&self) -> BoxFuture<'_, StoreResult<Vec<NodeInfo>>> {
        self.guard(StoreOp::GetNodes, |s| s.get_nodes())
    }
    fn cleanup(&self, now: Timestamp) -> BoxFuture<'_, StoreResult<CleanupReport>> {
        self.guard(StoreOp::Cleanup, |s| s.cleanup(now))
    }
}
