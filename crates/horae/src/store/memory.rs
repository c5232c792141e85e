//! The in-memory data store: one lock over indexed state.
//!
//! Schedules are indexed by next fire time and by lease expiry, jobs by readiness and by
//! lease expiry, so acquisition touches only what it hands out (plus expired leases) — no
//! scans or sorts of the whole store. Running jobs per task are updated together with every
//! lease change under the same lock (invariant 5).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use jiff::Timestamp;

use super::{
    AddScheduleOutcome, CleanupReport, DEAD_NODE_RETENTION, DataStore, JobBatch, JobRelease,
    JobReleaseRequest, Reaped, ScheduleRelease, ScheduleReleaseReport, StoreResult,
};
use crate::clock::{BoxFuture, add};
use crate::error::{ObjectKind, StoreError};
use crate::model::{
    ConflictPolicy, Job, JobId, JobOutcome, JobResult, NodeInfo, Schedule, ScheduleId, Task, TaskId,
};
use crate::trigger::Trigger;

/// A data store in process memory; state is lost when the process ends.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    tasks: BTreeMap<TaskId, Task>,
    schedules: HashMap<ScheduleId, Schedule>,
    schedule_index: ScheduleIndex,
    jobs: HashMap<JobId, StoredJob>,
    job_index: JobIndex,
    next_sequence: u64,
    /// `(schedule, fire time)` of every queued or running job (invariant 6).
    fire_times: HashSet<(ScheduleId, Timestamp)>,
    /// Queued or running jobs per schedule (a finished schedule is removed only at zero).
    jobs_per_schedule: HashMap<ScheduleId, usize>,
    results: HashMap<JobId, JobResult>,
    result_expiry: BTreeSet<(Timestamp, JobId)>,
    nodes: BTreeMap<String, NodeInfo>,
}

/// A job with its insertion number (FIFO order among jobs ready at the same time).
#[derive(Debug)]
struct StoredJob {
    job: Job,
    sequence: u64,
}

/// Where a schedule is indexed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScheduleSlot {
    /// Unleased, unpaused, with a next fire time.
    Due(Timestamp),
    /// Leased until then.
    Leased(Timestamp),
    /// Paused or finished.
    Idle,
}

impl ScheduleSlot {
    fn of(schedule: &Schedule) -> ScheduleSlot {
        match (
            schedule.acquired_until,
            schedule.paused,
            schedule.next_fire_time,
        ) {
            (Some(until), _, _) => ScheduleSlot::Leased(until),
            (None, false, Some(next)) => ScheduleSlot::Due(next),
            _ => ScheduleSlot::Idle,
        }
    }
}

#[derive(Debug, Default)]
struct ScheduleIndex {
    /// Unleased, unpaused schedules by next fire time.
    due: BTreeSet<(Timestamp, ScheduleId)>,
    /// Leased schedules by lease expiry.
    leases: BTreeSet<(Timestamp, ScheduleId)>,
}

impl ScheduleIndex {
    fn insert(&mut self, id: &ScheduleId, slot: ScheduleSlot) {
        match slot {
            ScheduleSlot::Due(at) => self.due.insert((at, id.clone())),
            ScheduleSlot::Leased(until) => self.leases.insert((until, id.clone())),
            ScheduleSlot::Idle => false,
        };
    }

    fn remove(&mut self, id: &ScheduleId, slot: ScheduleSlot) {
        match slot {
            ScheduleSlot::Due(at) => self.due.remove(&(at, id.clone())),
            ScheduleSlot::Leased(until) => self.leases.remove(&(until, id.clone())),
            ScheduleSlot::Idle => false,
        };
    }
}

/// When a job becomes ready, its insertion number, and its id.
type ReadyKey = (Timestamp, u64, JobId);

/// Where a job is indexed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JobSlot {
    /// Queued: ready at the key's time.
    Ready(ReadyKey),
    /// Leased: lease expiry and id.
    Leased((Timestamp, JobId)),
}

impl JobSlot {
    fn of(stored: &StoredJob) -> JobSlot {
        let job = &stored.job;
        match job.acquired_until {
            Some(until) => JobSlot::Leased((until, job.id)),
            None => {
                let at = job
                    .not_before
                    .map_or(job.created_at, |at| at.max(job.created_at));
                JobSlot::Ready((at, stored.sequence, job.id))
            }
        }
    }
}

#[derive(Debug, Default)]
struct JobIndex {
    /// Unleased jobs per task, by the time they become ready, then insertion order (FIFO).
    ready: HashMap<TaskId, BTreeSet<ReadyKey>>,
    /// The first ready job of every task: acquisition walks these, skipping tasks at
    /// their `max_running_jobs` without looking at their queued jobs.
    heads: BTreeSet<(ReadyKey, TaskId)>,
    /// Leased jobs by lease expiry.
    leases: BTreeSet<(Timestamp, JobId)>,
    /// Leased jobs per task.
    running: HashMap<TaskId, u32>,
}

impl JobIndex {
    fn insert(&mut self, task: &TaskId, slot: JobSlot) {
        match slot {
            JobSlot::Leased(lease) => {
                self.leases.insert(lease);
                *self.running.entry(task.clone()).or_default() += 1;
            }
            JobSlot::Ready(key) => {
                let queue = self.ready.entry(task.clone()).or_default();
                let old_head = queue.first().copied();
                queue.insert(key);
                if old_head.is_none_or(|head| key < head) {
                    if let Some(head) = old_head {
                        self.heads.remove(&(head, task.clone()));
                    }
                    self.heads.insert((key, task.clone()));
                }
            }
        }
    }

    fn remove(&mut self, task: &TaskId, slot: JobSlot) {
        match slot {
            JobSlot::Leased(lease) => {
                self.leases.remove(&lease);
                if let Some(count) = self.running.get_mut(task) {
                    *count = count.saturating_sub(1);
                    if *count == 0 {
                        self.running.remove(task);
                    }
                }
            }
            JobSlot::Ready(key) => {
                let Some(queue) = self.ready.get_mut(task) else {
                    return;
                };
                let was_head = queue.first() == Some(&key);
                queue.remove(&key);
                if was_head {
                    self.heads.remove(&(key, task.clone()));
                    match queue.first().copied() {
                        Some(next) => {
                            self.heads.insert((next, task.clone()));
                        }
                        None => {
                            self.ready.remove(task);
                        }
                    }
                }
            }
        }
    }

    /// The oldest ready job (at `now`) of a task not in `blocked`.
    fn next_ready(&self, now: Timestamp, blocked: &HashSet<TaskId>) -> Option<JobId> {
        self.heads
            .iter()
            .take_while(|((at, _, _), _)| *at <= now)
            .find(|(_, task)| !blocked.contains(task))
            .map(|((_, _, id), _)| *id)
    }
}

impl State {
    /// Releases a job `node` holds with `token`; `false` (nothing written) otherwise.
    fn release_job(&mut self, node: &str, id: &JobId, token: u64, release: JobRelease) -> bool {
        let holds = self.job(id).is_some_and(|job| {
            job.acquired_by.as_deref() == Some(node) && job.lease_token == token
        });
        if !holds {
            return false;
        }
        match release {
            JobRelease::Finish(result) => {
                self.remove_job(id);
                self.store_result(result);
            }
            JobRelease::Retry { result, at } => {
                self.store_result(result);
                self.update_job(id, |job| {
                    job.attempt += 1;
                    job.started_at = None;
                    job.acquired_by = None;
                    job.acquired_until = None;
                    job.not_before = Some(at);
                });
            }
        }
        true
    }

    /// Applies `change` to a stored job, keeping the indexes in step.
    fn update_job(&mut self, id: &JobId, change: impl FnOnce(&mut Job)) -> Option<&Job> {
        let stored = self.jobs.get_mut(id)?;
        let before = JobSlot::of(stored);
        change(&mut stored.job);
        let after = JobSlot::of(stored);
        if before != after {
            self.job_index.remove(&stored.job.task_id, before);
            self.job_index.insert(&stored.job.task_id, after);
        }
        Some(&stored.job)
    }

    /// Applies `change` to a stored schedule, keeping the indexes in step.
    fn update_schedule(
        &mut self,
        id: &ScheduleId,
        change: impl FnOnce(&mut Schedule),
    ) -> Option<&Schedule> {
        let schedule = self.schedules.get_mut(id)?;
        let before = ScheduleSlot::of(schedule);
        change(schedule);
        let after = ScheduleSlot::of(schedule);
        if before != after {
            self.schedule_index.remove(&schedule.id, before);
            self.schedule_index.insert(&schedule.id, after);
        }
        Some(schedule)
    }

    fn insert_schedule(&mut self, schedule: Schedule) {
        self.schedule_index
            .insert(&schedule.id, ScheduleSlot::of(&schedule));
        self.schedules.insert(schedule.id.clone(), schedule);
    }

    fn remove_schedule(&mut self, id: &ScheduleId) -> Option<Schedule> {
        let schedule = self.schedules.remove(id)?;
        self.schedule_index
            .remove(&schedule.id, ScheduleSlot::of(&schedule));
        Some(schedule)
    }

    fn insert_job(&mut self, job: Job) -> Option<JobId> {
        if let (Some(schedule), Some(fire)) = (&job.schedule_id, job.scheduled_fire_time) {
            if !self.fire_times.insert((schedule.clone(), fire)) {
                return None;
            }
            *self.jobs_per_schedule.entry(schedule.clone()).or_default() += 1;
        }
        self.next_sequence += 1;
        let stored = StoredJob {
            job,
            sequence: self.next_sequence,
        };
        let id = stored.job.id;
        self.job_index
            .insert(&stored.job.task_id, JobSlot::of(&stored));
        self.jobs.insert(id, stored);
        Some(id)
    }

    fn remove_job(&mut self, id: &JobId) -> Option<Job> {
        let stored = self.jobs.remove(id)?;
        self.job_index
            .remove(&stored.job.task_id, JobSlot::of(&stored));
        let job = stored.job;
        if let (Some(schedule), Some(fire)) = (&job.schedule_id, job.scheduled_fire_time) {
            self.fire_times.remove(&(schedule.clone(), fire));
            if let Some(count) = self.jobs_per_schedule.get_mut(schedule) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    self.jobs_per_schedule.remove(schedule);
                }
            }
        }
        Some(job)
    }

    fn job(&self, id: &JobId) -> Option<&Job> {
        self.jobs.get(id).map(|stored| &stored.job)
    }

    fn store_result(&mut self, result: JobResult) {
        if result.should_store() {
            self.result_expiry
                .insert((result.expires_at, result.job_id));
            if let Some(old) = self.results.insert(result.job_id, result) {
                self.result_expiry.remove(&(old.expires_at, old.job_id));
            }
        }
    }

    /// Returns never-started jobs whose lease expired before `now` to the ready queue.
    fn free_unstarted_expired(&mut self, now: Timestamp) {
        let expired: Vec<JobId> = self
            .job_index
            .leases
            .range(..(now, JobId::from_uuid(uuid::Uuid::nil())))
            .map(|(_, id)| *id)
            .filter(|id| self.job(id).is_some_and(|job| job.started_at.is_none()))
            .collect();
        for id in expired {
            self.update_job(&id, |job| {
                job.acquired_by = None;
                job.acquired_until = None;
            });
        }
    }
}

fn not_found(kind: ObjectKind, id: &impl ToString) -> StoreError {
    StoreError::NotFound {
        kind,
        id: id.to_string(),
    }
}

fn lease_lost(id: &JobId) -> StoreError {
    StoreError::LeaseLost {
        job_id: id.to_string(),
    }
}

/// Wraps an already computed value as a finished future.
fn done<'a, T: Send + 'a>(value: T) -> BoxFuture<'a, T> {
    Box::pin(std::future::ready(value))
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No code path panics while holding the lock, so a poisoned lock still guards
        // consistent state.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Leases up to `limit` ready jobs (and records them as started when `start`).
    fn acquire(
        &self,
        node: &str,
        lease: Duration,
        limit: usize,
        now: Timestamp,
        start: bool,
    ) -> JobBatch {
        let mut state = self.lock();

        state.free_unstarted_expired(now);
        let until = add(now, lease);
        let mut batch = JobBatch::default();
        let mut blocked = HashSet::new();
        while batch.acquired.len() < limit {
            let Some(id) = state.job_index.next_ready(now, &blocked) else {
                break;
            };
            let Some(job) = state.job(&id) else {
                break;
            };
            if job.start_deadline.is_some_and(|deadline| deadline < now) {
                if let Some(job) = state.remove_job(&id) {
                    let mut result =
                        JobResult::new(&job, JobOutcome::MissedStartDeadline, None, now);
                    result.error =
                        Some("the job could not start before its start deadline".to_owned());
                    state.store_result(result.clone());
                    batch.missed.push(result);
                }
                continue;
            }
            let task_id = job.task_id.clone();
            let limit_reached = state
                .tasks
                .get(&task_id)
                .and_then(|task| task.max_running_jobs)
                .is_some_and(|max| {
                    state.job_index.running.get(&task_id).copied().unwrap_or(0) >= max
                });
            if limit_reached {
                blocked.insert(task_id);
                continue;
            }
            match state.update_job(&id, |job| {
                job.acquired_by = Some(node.to_owned());
                job.acquired_until = Some(until);
                job.lease_token += 1;
                if start {
                    job.started_at = Some(now);
                }
            }) {
                Some(job) => batch.acquired.push(job.clone()),
                None => break,
            }
        }
        batch
    }
}

impl DataStore for MemoryStore {
    fn put_task(&self, task: Task) -> BoxFuture<'_, StoreResult<bool>> {
        let result = task
            .validate()
            .map_err(|e| StoreError::Invalid(e.to_string()))
            .map(|()| self.lock().tasks.insert(task.id.clone(), task).is_none());
        done(result)
    }

    fn remove_task<'a>(&'a self, id: &'a TaskId) -> BoxFuture<'a, StoreResult<()>> {
        let removed = self.lock().tasks.remove(id);
        done(
            removed
                .map(|_| ())
                .ok_or_else(|| not_found(ObjectKind::Task, id)),
        )
    }

    fn get_task<'a>(&'a self, id: &'a TaskId) -> BoxFuture<'a, StoreResult<Option<Task>>> {
        done(Ok(self.lock().tasks.get(id).cloned()))
    }

    fn get_tasks(&self) -> BoxFuture<'_, StoreResult<Vec<Task>>> {
        done(Ok(self.lock().tasks.values().cloned().collect()))
    }

    fn add_schedule(
        &self,
        mut schedule: Schedule,
        policy: ConflictPolicy,
    ) -> BoxFuture<'_, StoreResult<AddScheduleOutcome>> {
        if let Err(e) = schedule.validate() {
            return done(Err(StoreError::Invalid(e.to_string())));
        }
        schedule.acquired_by = None;
        schedule.acquired_until = None;
        let mut state = self.lock();
        let outcome = match (state.schedules.contains_key(&schedule.id), policy) {
            (false, _) => AddScheduleOutcome::Added,
            (true, ConflictPolicy::DoNothing) => return done(Ok(AddScheduleOutcome::Kept)),
            (true, ConflictPolicy::Exception) => {
                return done(Err(StoreError::Conflict {
                    kind: ObjectKind::Schedule,
                    id: schedule.id.to_string(),
                }));
            }
            (true, ConflictPolicy::Replace) => {
                state.remove_schedule(&schedule.id);
                AddScheduleOutcome::Replaced
            }
        };
        state.insert_schedule(schedule);
        done(Ok(outcome))
    }

    fn set_paused<'a>(
        &'a self,
        id: &'a ScheduleId,
        paused: bool,
        next: Option<(Trigger, Option<Timestamp>)>,
    ) -> BoxFuture<'a, StoreResult<Schedule>> {
        let mut state = self.lock();
        let updated = state.update_schedule(id, |schedule| {
            schedule.paused = paused;
            if let Some((trigger, next_fire_time)) = next {
                schedule.trigger = trigger;
                schedule.next_fire_time = next_fire_time;
            }
        });
        done(
            updated
                .cloned()
                .ok_or_else(|| not_found(ObjectKind::Schedule, id)),
        )
    }

    fn remove_schedules<'a>(
        &'a self,
        ids: &'a [ScheduleId],
    ) -> BoxFuture<'a, StoreResult<Vec<Schedule>>> {
        let mut state = self.lock();
        let mut removed = Vec::new();
        for id in ids {
            if let Some(schedule) = state.remove_schedule(id) {
                removed.push(schedule);
            }
        }
        done(Ok(removed))
    }

    fn get_schedule<'a>(
        &'a self,
        id: &'a ScheduleId,
    ) -> BoxFuture<'a, StoreResult<Option<Schedule>>> {
        done(Ok(self.lock().schedules.get(id).cloned()))
    }

    fn get_schedules(&self) -> BoxFuture<'_, StoreResult<Vec<Schedule>>> {
        let mut all: Vec<Schedule> = self.lock().schedules.values().cloned().collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        done(Ok(all))
    }

    fn acquire_schedules<'a>(
        &'a self,
        node: &'a str,
        lease: Duration,
        limit: usize,
        now: Timestamp,
    ) -> BoxFuture<'a, StoreResult<Vec<Schedule>>> {
        let mut state = self.lock();
        // Leases that expired before now make their schedules acquirable again.
        let expired: Vec<ScheduleId> = state
            .schedule_index
            .leases
            .iter()
            .take_while(|(until, _)| *until < now)
            .map(|(_, id)| id.clone())
            .collect();
        for id in &expired {
            state.update_schedule(id, |s| {
                s.acquired_by = None;
                s.acquired_until = None;
            });
        }
        let due: Vec<ScheduleId> = state
            .schedule_index
            .due
            .iter()
            .take_while(|(next, _)| *next <= now)
            .take(limit)
            .map(|(_, id)| id.clone())
            .collect();
        let until = add(now, lease);
        let acquired = due
            .iter()
            .filter_map(|id| {
                state
                    .update_schedule(id, |s| {
                        s.acquired_by = Some(node.to_owned());
                        s.acquired_until = Some(until);
                    })
                    .cloned()
            })
            .collect();
        done(Ok(acquired))
    }

    fn release_schedules<'a>(
        &'a self,
        node: &'a str,
        releases: Vec<ScheduleRelease>,
    ) -> BoxFuture<'a, StoreResult<ScheduleReleaseReport>> {
        let mut state = self.lock();
        let mut report = ScheduleReleaseReport::default();
        for release in releases {
            let held = state
                .schedules
                .get(&release.schedule_id)
                .is_some_and(|s| s.acquired_by.as_deref() == Some(node));
            if !held {
                report.lost.push(release.schedule_id);
                continue;
            }
            state.update_schedule(&release.schedule_id, |s| {
                s.trigger = release.trigger;
                s.next_fire_time = release.next_fire_time;
                s.last_fire_time = release.last_fire_time;
                s.acquired_by = None;
                s.acquired_until = None;
            });
            for job in release.jobs {
                if let Some(id) = state.insert_job(job) {
                    report.jobs_added.push(id);
                }
            }
            report.released.push(release.schedule_id);
        }
        done(Ok(report))
    }

    fn next_schedule_run_time(&self) -> BoxFuture<'_, StoreResult<Option<Timestamp>>> {
        let state = self.lock();
        let due = state.schedule_index.due.first().map(|(at, _)| *at);
        let lease_end = state.schedule_index.leases.first().map(|(until, _)| *until);
        done(Ok(due.into_iter().chain(lease_end).min()))
    }

    fn add_jobs(&self, jobs: Vec<Job>) -> BoxFuture<'_, StoreResult<Vec<JobId>>> {
        if let Some(e) = jobs.iter().find_map(|job| job.validate().err()) {
            return done(Err(StoreError::Invalid(e.to_string())));
        }
        let mut state = self.lock();
        done(Ok(jobs
            .into_iter()
            .filter_map(|job| state.insert_job(job))
            .collect()))
    }

    fn get_job<'a>(&'a self, id: &'a JobId) -> BoxFuture<'a, StoreResult<Option<Job>>> {
        done(Ok(self.lock().job(id).cloned()))
    }

    fn get_jobs(&self) -> BoxFuture<'_, StoreResult<Vec<Job>>> {
        let mut all: Vec<Job> = self
            .lock()
            .jobs
            .values()
            .map(|stored| stored.job.clone())
            .collect();
        all.sort_by_key(|job| (job.created_at, job.id));
        done(Ok(all))
    }

    fn acquire_jobs<'a>(
        &'a self,
        node: &'a str,
        lease: Duration,
        limit: usize,
        now: Timestamp,
    ) -> BoxFuture<'a, StoreResult<JobBatch>> {
        done(Ok(self.acquire(node, lease, limit, now, false)))
    }

    fn acquire_and_start_jobs<'a>(
        &'a self,
        node: &'a str,
        lease: Duration,
        limit: usize,
        now: Timestamp,
    ) -> BoxFuture<'a, StoreResult<JobBatch>> {
        done(Ok(self.acquire(node, lease, limit, now, true)))
    }

    fn start_job<'a>(
        &'a self,
        node: &'a str,
        id: &'a JobId,
        token: u64,
        now: Timestamp,
    ) -> BoxFuture<'a, StoreResult<Job>> {
        let mut state = self.lock();
        let holds = state.job(id).is_some_and(|job| {
            job.acquired_by.as_deref() == Some(node)
                && job.lease_token == token
                && job.acquired_until.is_some_and(|until| until >= now)
        });
        if !holds {
            return done(Err(lease_lost(id)));
        }
        let started = state
            .update_job(id, |job| {
                job.started_at.get_or_insert(now);
            })
            .cloned();
        done(started.ok_or_else(|| lease_lost(id)))
    }

    fn release_job<'a>(
        &'a self,
        node: &'a str,
        id: &'a JobId,
        token: u64,
        release: JobRelease,
    ) -> BoxFuture<'a, StoreResult<()>> {
        let released = self.lock().release_job(node, id, token, release);
        done(if released {
            Ok(())
        } else {
            Err(lease_lost(id))
        })
    }

    fn release_jobs<'a>(
        &'a self,
        node: &'a str,
        releases: Vec<JobReleaseRequest>,
    ) -> BoxFuture<'a, StoreResult<Vec<JobId>>> {
        let mut state = self.lock();
        let lost = releases
            .into_iter()
            .filter(|request| {
                !state.release_job(
                    node,
                    &request.id,
                    request.lease_token,
                    request.release.clone(),
                )
            })
            .map(|request| request.id)
            .collect();
        done(Ok(lost))
    }

    fn extend_leases<'a>(
        &'a self,
        node: &'a str,
        jobs: &'a [(JobId, u64)],
        schedules: &'a [ScheduleId],
        until: Timestamp,
    ) -> BoxFuture<'a, StoreResult<Vec<JobId>>> {
        let mut state = self.lock();
        let mut lost = Vec::new();
        for (id, token) in jobs {
            let holds = state.job(id).is_some_and(|job| {
                job.acquired_by.as_deref() == Some(node) && job.lease_token == *token
            });
            if holds {
                state.update_job(id, |job| job.acquired_until = Some(until));
            } else {
                lost.push(*id);
            }
        }
        for id in schedules {
            if state
                .schedules
                .get(id)
                .is_some_and(|s| s.acquired_by.as_deref() == Some(node))
            {
                state.update_schedule(id, |s| s.acquired_until = Some(until));
            }
        }
        done(Ok(lost))
    }

    fn reap_expired(&self, now: Timestamp) -> BoxFuture<'_, StoreResult<Vec<Reaped>>> {
        let mut state = self.lock();
        state.free_unstarted_expired(now);
        let expired: Vec<JobId> = state
            .job_index
            .leases
            .iter()
            .take_while(|(until, _)| *until < now)
            .map(|(_, id)| *id)
            .collect();
        let mut reaped = Vec::new();
        for id in expired {
            let Some(job) = state.job(&id).cloned() else {
                continue;
            };
            let node = job.acquired_by.clone().unwrap_or_default();
            let retry_delay = super::reaped_retry_delay(state.tasks.get(&job.task_id), &job);
            let mut result = JobResult::new(&job, JobOutcome::Abandoned, job.started_at, now);
            result.error = Some(format!(
                "node '{node}' stopped renewing the lease while the job was running"
            ));
            match retry_delay {
                Some(delay) => {
                    state.store_result(result);
                    if let Some(job) = state.update_job(&id, |job| {
                        job.attempt += 1;
                        job.started_at = None;
                        job.acquired_by = None;
                        job.acquired_until = None;
                        job.not_before = Some(add(now, delay));
                    }) {
                        reaped.push(Reaped::Requeued {
                            job: id,
                            task_id: job.task_id.clone(),
                            attempt: job.attempt,
                        });
                    }
                }
                None => {
                    state.remove_job(&id);
                    state.store_result(result.clone());
                    reaped.push(Reaped::Abandoned(result));
                }
            }
        }
        done(Ok(reaped))
    }

    fn get_job_result<'a>(
        &'a self,
        id: &'a JobId,
    ) -> BoxFuture<'a, StoreResult<Option<JobResult>>> {
        done(Ok(self.lock().results.get(id).cloned()))
    }

    fn get_job_results(&self, limit: usize) -> BoxFuture<'_, StoreResult<Vec<JobResult>>> {
        let state = self.lock();
        let mut results: Vec<&JobResult> = state.results.values().collect();
        let newest_first = |a: &&JobResult, b: &&JobResult| {
            (b.finished_at, b.job_id).cmp(&(a.finished_at, a.job_id))
        };
        if results.len() > limit {
            results.select_nth_unstable_by(limit, newest_first);
            results.truncate(limit);
        }
        results.sort_unstable_by(newest_first);
        done(Ok(results.into_iter().cloned().collect()))
    }

    fn record_node(&self, node: NodeInfo) -> BoxFuture<'_, StoreResult<()>> {
        self.lock().nodes.insert(node.id.clone(), node);
        done(Ok(()))
    }

    fn remove_node<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<()>> {
        self.lock().nodes.remove(id);
        done(Ok(()))
    }

    fn get_nodes(&self) -> BoxFuture<'_, StoreResult<Vec<NodeInfo>>> {
        done(Ok(self.lock().nodes.values().cloned().collect()))
    }

    fn cleanup(&self, now: Timestamp) -> BoxFuture<'_, StoreResult<CleanupReport>> {
        let mut state = self.lock();
        let mut report = CleanupReport::default();
        let expired: Vec<(Timestamp, JobId)> = state
            .result_expiry
            .iter()
            .take_while(|(at, _)| *at <= now)
            .copied()
            .collect();
        for key in expired {
            state.result_expiry.remove(&key);
            state.results.remove(&key.1);
            report.expired_results += 1;
        }
        let finished: Vec<ScheduleId> = state
            .schedules
            .values()
            .filter(|s| {
                s.next_fire_time.is_none()
                    && s.acquired_by.is_none()
                    && !state.jobs_per_schedule.contains_key(&s.id)
            })
            .map(|s| s.id.clone())
            .collect();
        for id in finished {
            if let Some(schedule) = state.remove_schedule(&id) {
                report
                    .finished_schedules
                    .push((schedule.id, schedule.task_id));
            }
        }
        let before = state.nodes.len();
        state.nodes.retain(|_, node| {
            add(
                node.last_heartbeat,
                node.lease_duration.saturating_add(DEAD_NODE_RETENTION),
            ) > now
        });
        report.dead_nodes = before - state.nodes.len();
        done(Ok(report))
    }
}
