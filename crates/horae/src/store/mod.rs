//! The data store contract (DESIGN.md section 5) and the in-memory store.
//!
//! A store persists tasks, schedules, jobs and results, and hands out work atomically: a
//! schedule or job is given to one node at a time under a lease, and every release is fenced
//! by the node id and the job's `lease_token` (invariants 1, 3, 6). Stores do not publish
//! events; they report what happened and the engine publishes. Every method takes the
//! caller's `now`, so a virtual clock drives the store too.
//!
//! Every backend passes the conformance suite in `horae-testkit`.

mod memory;

use std::time::Duration;

use jiff::Timestamp;

pub use self::memory::MemoryStore;
use crate::clock::BoxFuture;
use crate::error::StoreError;
use crate::model::{
    ConflictPolicy, Job, JobId, JobResult, NodeInfo, Schedule, ScheduleId, Task, TaskId,
};
use crate::trigger::Trigger;

/// `Result` with [`StoreError`].
pub type StoreResult<T> = Result<T, StoreError>;

/// What `add_schedule` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddScheduleOutcome {
    /// The schedule was new.
    Added,
    /// An existing schedule was overwritten (policy `replace`).
    Replaced,
    /// An existing schedule was kept (policy `do_nothing`).
    Kept,
}

/// A processed schedule handed back by the node that acquired it, with the jobs it produced.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleRelease {
    /// The schedule.
    pub schedule_id: ScheduleId,
    /// The trigger with its advanced iteration state.
    pub trigger: Trigger,
    /// The new next fire time (`None` when the trigger is exhausted).
    pub next_fire_time: Option<Timestamp>,
    /// The last fire time a job was created for.
    pub last_fire_time: Option<Timestamp>,
    /// The jobs for the due fire times; a job whose `(schedule_id, scheduled_fire_time)`
    /// already exists is skipped (invariant 6).
    pub jobs: Vec<Job>,
}

/// The outcome of `release_schedules`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScheduleReleaseReport {
    /// Schedules updated and released.
    pub released: Vec<ScheduleId>,
    /// Schedules this node no longer held (lease lost, removed or replaced): nothing written.
    pub lost: Vec<ScheduleId>,
    /// Jobs inserted.
    pub jobs_added: Vec<JobId>,
}

/// The outcome of `acquire_jobs`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobBatch {
    /// Jobs now leased to the caller, each with a fresh `lease_token`.
    pub acquired: Vec<Job>,
    /// Jobs found past their start deadline: removed and finished with outcome
    /// `missed_start_deadline` (stored if their expiration asks for it).
    pub missed: Vec<JobResult>,
}

/// How a job's attempt ends when it is released.
#[derive(Debug, Clone, PartialEq)]
pub enum JobRelease {
    /// The job is done: store the result (if it asks to be kept) and remove the job.
    Finish(JobResult),
    /// Record the result and queue the job again as attempt `attempt + 1`, not before `at`.
    Retry {
        /// The result of the failed attempt (stored like a finished one).
        result: JobResult,
        /// The earliest start of the next attempt.
        at: Timestamp,
    },
}

/// One finished attempt handed to [`DataStore::release_jobs`].
#[derive(Debug, Clone, PartialEq)]
pub struct JobReleaseRequest {
    /// The job.
    pub id: JobId,
    /// The lease token the job was acquired with (the fence).
    pub lease_token: u64,
    /// How the attempt ends.
    pub release: JobRelease,
}

/// What the reaper did with one job whose node died or stalled past its lease.
#[derive(Debug, Clone, PartialEq)]
pub enum Reaped {
    /// Queued again as the next attempt (the task's retry policy allows it).
    Requeued {
        /// The job.
        job: JobId,
        /// Its task.
        task_id: TaskId,
        /// The new attempt number.
        attempt: u32,
    },
    /// Finished with outcome `abandoned`.
    Abandoned(JobResult),
}

/// The outcome of `cleanup`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CleanupReport {
    /// Results deleted because they expired.
    pub expired_results: usize,
    /// Schedules removed because their trigger is exhausted and no job of theirs remains.
    pub finished_schedules: Vec<(ScheduleId, TaskId)>,
    /// Node records removed because the node has been silent for [`DEAD_NODE_RETENTION`]
    /// past its lease.
    pub dead_nodes: usize,
}

/// How long the record of a node that stopped heartbeating without removing it (it died)
/// is kept after its lease ran out, so operators can see it in `horae node list`.
pub const DEAD_NODE_RETENTION: Duration = Duration::from_secs(60 * 60);

/// How long a job whose node died waits before its next attempt: `None` when its task's
/// retry policy allows no further attempt (the job is then `abandoned`). The jitter is
/// derived from the job id and attempt, so every store and every replay agree.
pub fn reaped_retry_delay(task: Option<&Task>, job: &Job) -> Option<Duration> {
    let fraction =
        crate::random::unit_fraction(job.id.as_uuid().as_u128() ^ (u128::from(job.attempt) << 64));
    task?.retry.as_ref()?.delay(job.attempt, fraction)
}

/// Persistence and atomic hand-out of work (DESIGN.md section 5).
pub trait DataStore: Send + Sync + 'static {
    /// Adds or replaces a task; `true` when it was new. Replacing never touches the jobs.
    fn put_task(&self, task: Task) -> BoxFuture<'_, StoreResult<bool>>;
    /// Removes a task.
    fn remove_task<'a>(&'a self, id: &'a TaskId) -> BoxFuture<'a, StoreResult<()>>;
    /// A task by id.
    fn get_task<'a>(&'a self, id: &'a TaskId) -> BoxFuture<'a, StoreResult<Option<Task>>>;
    /// All tasks, sorted by id.
    fn get_tasks(&self) -> BoxFuture<'_, StoreResult<Vec<Task>>>;

    /// Adds a schedule under a conflict policy (`exception` fails with `Conflict`).
    fn add_schedule(
        &self,
        schedule: Schedule,
        policy: ConflictPolicy,
    ) -> BoxFuture<'_, StoreResult<AddScheduleOutcome>>;
    /// Pauses or resumes a schedule; when resuming, `next` may replace the trigger state and
    /// next fire time (to skip missed fire times).
    fn set_paused<'a>(
        &'a self,
        id: &'a ScheduleId,
        paused: bool,
        next: Option<(Trigger, Option<Timestamp>)>,
    ) -> BoxFuture<'a, StoreResult<Schedule>>;
    /// Removes schedules; returns those that existed. Their queued jobs stay.
    fn remove_schedules<'a>(
        &'a self,
        ids: &'a [ScheduleId],
    ) -> BoxFuture<'a, StoreResult<Vec<Schedule>>>;
    /// A schedule by id.
    fn get_schedule<'a>(
        &'a self,
        id: &'a ScheduleId,
    ) -> BoxFuture<'a, StoreResult<Option<Schedule>>>;
    /// All schedules, sorted by id.
    fn get_schedules(&self) -> BoxFuture<'_, StoreResult<Vec<Schedule>>>;
    /// Leases up to `limit` due schedules (`next_fire_time <= now`, not paused, not leased or
    /// lease expired) to `node` until `now + lease`, earliest first.
    fn acquire_schedules<'a>(
        &'a self,
        node: &'a str,
        lease: Duration,
        limit: usize,
        now: Timestamp,
    ) -> BoxFuture<'a, StoreResult<Vec<Schedule>>>;
    /// Writes back processed schedules and inserts their jobs in one atomic step; schedules
    /// `node` no longer holds are skipped (reported as lost).
    fn release_schedules<'a>(
        &'a self,
        node: &'a str,
        releases: Vec<ScheduleRelease>,
    ) -> BoxFuture<'a, StoreResult<ScheduleReleaseReport>>;
    /// The earliest time a schedule can next be acquired (due and unpaused; a leased one
    /// counts from its lease expiry), or `None`.
    fn next_schedule_run_time(&self) -> BoxFuture<'_, StoreResult<Option<Timestamp>>>;

    /// Queues jobs. A job of a schedule whose fire time already has a job is skipped;
    /// returns the ids inserted.
    fn add_jobs(&self, jobs: Vec<Job>) -> BoxFuture<'_, StoreResult<Vec<JobId>>>;
    /// A job by id.
    fn get_job<'a>(&'a self, id: &'a JobId) -> BoxFuture<'a, StoreResult<Option<Job>>>;
    /// All jobs, oldest first.
    fn get_jobs(&self) -> BoxFuture<'_, StoreResult<Vec<Job>>>;
    /// Leases up to `limit` ready jobs to `node` until `now + lease`, oldest first, never
    /// exceeding a task's `max_running_jobs` across all nodes. A ready job is unleased (or
    /// leased, never started and expired) and past its `not_before`.
    fn acquire_jobs<'a>(
        &'a self,
        node: &'a str,
        lease: Duration,
        limit: usize,
        now: Timestamp,
    ) -> BoxFuture<'a, StoreResult<JobBatch>>;
    /// Like [`DataStore::acquire_jobs`], and records every acquired job as started at `now`
    /// in the same atomic step, for a node that runs them at once: one round trip instead of
    /// one per job. An expired lease on such a job means its node died or stalled, so the
    /// reaper handles it (invariant 8). The default acquires, then starts each job.
    fn acquire_and_start_jobs<'a>(
        &'a self,
        node: &'a str,
        lease: Duration,
        limit: usize,
        now: Timestamp,
    ) -> BoxFuture<'a, StoreResult<JobBatch>> {
        Box::pin(async move {
            let mut batch = self.acquire_jobs(node, lease, limit, now).await?;
            let mut started = Vec::with_capacity(batch.acquired.len());
            for job in std::mem::take(&mut batch.acquired) {
                match self.start_job(node, &job.id, job.lease_token, now).await {
                    Ok(job) => started.push(job),
                    // Lapsed already: it is simply acquirable again.
                    Err(StoreError::LeaseLost { .. }) => {}
                    Err(error) => return Err(error),
                }
            }
            batch.acquired = started;
            Ok(batch)
        })
    }
    /// Records that `node` starts the job now; fails with `LeaseLost` unless `node` still
    /// holds the lease with `token` and it has not expired.
    fn start_job<'a>(
        &'a self,
        node: &'a str,
        id: &'a JobId,
        token: u64,
        now: Timestamp,
    ) -> BoxFuture<'a, StoreResult<Job>>;
    /// Releases a job (fenced: `LeaseLost` unless `node` holds it with `token`).
    fn release_job<'a>(
        &'a self,
        node: &'a str,
        id: &'a JobId,
        token: u64,
        release: JobRelease,
    ) -> BoxFuture<'a, StoreResult<()>>;
    /// Releases many jobs, each fenced like [`DataStore::release_job`]; returns the ids
    /// `node` no longer held (nothing is written for those). The SQL stores write the whole
    /// batch in one transaction; the default releases one job at a time and stops at the
    /// first error other than `LeaseLost`, so a retried batch may report the jobs it already
    /// released as lost.
    fn release_jobs<'a>(
        &'a self,
        node: &'a str,
        releases: Vec<JobReleaseRequest>,
    ) -> BoxFuture<'a, StoreResult<Vec<JobId>>> {
        Box::pin(async move {
            let mut lost = Vec::new();
            for request in releases {
                match self
                    .release_job(node, &request.id, request.lease_token, request.release)
                    .await
                {
                    Ok(()) => {}
                    Err(StoreError::LeaseLost { .. }) => lost.push(request.id),
                    Err(error) => return Err(error),
                }
            }
            Ok(lost)
        })
    }
    /// Extends `node`'s leases on the given jobs (with their tokens) and schedules until
    /// `until`; returns the jobs whose lease `node` no longer holds.
    fn extend_leases<'a>(
        &'a self,
        node: &'a str,
        jobs: &'a [(JobId, u64)],
        schedules: &'a [ScheduleId],
        until: Timestamp,
    ) -> BoxFuture<'a, StoreResult<Vec<JobId>>>;
    /// Handles started jobs whose lease expired before `now` (their node died or stalled):
    /// each is re-queued with `attempt + 1` if its task's retry policy allows, or finished
    /// as `abandoned`. Each such job is handled exactly once, by whichever node gets here first.
    fn reap_expired(&self, now: Timestamp) -> BoxFuture<'_, StoreResult<Vec<Reaped>>>;

    /// A stored result (results are kept until they expire).
    fn get_job_result<'a>(&'a self, id: &'a JobId)
    -> BoxFuture<'a, StoreResult<Option<JobResult>>>;
    /// Up to `limit` stored results, the latest `finished_at` first (ties by job id).
    fn get_job_results(&self, limit: usize) -> BoxFuture<'_, StoreResult<Vec<JobResult>>>;

    /// Inserts or replaces a node's heartbeat record.
    fn record_node(&self, node: NodeInfo) -> BoxFuture<'_, StoreResult<()>>;
    /// Removes a node's record; a missing one is not an error.
    fn remove_node<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<()>>;
    /// Every node record, sorted by id.
    fn get_nodes(&self) -> BoxFuture<'_, StoreResult<Vec<NodeInfo>>>;

    /// Deletes expired results, finished schedules and the records of nodes whose lease ran
    /// out more than [`DEAD_NODE_RETENTION`] ago.
    fn cleanup(&self, now: Timestamp) -> BoxFuture<'_, StoreResult<CleanupReport>>;
}
