//! The job processor: acquires jobs up to the node's capacity, runs them and releases their
//! results.
//!
//! Jobs are acquired in batches, as many as there are free places, and recorded as started
//! in the same step (`acquire_and_start_jobs`), so a busy node costs the store one round
//! trip per batch rather than per job. Two acquisitions may be under way at once, each for
//! up to half the places, reserved before the call: the store works on the next batch
//! while the node starts the last one. Every acquired job gets a run slot at once; a slot
//! that finishes a job takes the next one waiting, and the run loop tops the node up
//! whenever places free. A slot checks the job's lease before starting it, so a node that
//! stalled past its lease finds itself fenced off before starting anything (invariant 8).
//! Handlers run inside their slot (async) or on the blocking pool, so a panic becomes
//! outcome `error` and a timeout outcome `timed_out` (invariant 7); neither can stall the
//! lease keeper. Finished attempts are released in batches (`release_jobs`) by one flush
//! at a time, retried while the store is unavailable; releases are fenced (invariant 3): a
//! refused one becomes a `JobLeaseLost` event, never a crash. A job stays in the running
//! set, with its lease kept alive, until its release is written.

use std::any::Any;
use std::collections::VecDeque;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::handler::{Handler, HandlerError, HandlerResult, JobContext};
use super::registry::HandlerRegistry;
use super::running::{RunningJob, RunningJobs};
use super::task_cache::TaskCache;
use crate::backoff::Backoff;
use crate::broker::{EventBroker, publish_or_log};
use crate::clock::{BoxFuture, Clock, add};
use crate::error::StoreError;
use crate::event::{Event, EventKind};
use crate::model::{Job, JobId, JobOutcome, JobResult, Task, TaskId};
use crate::random;
use crate::store::{DataStore, JobRelease, JobReleaseRequest};

/// The most releases written in one `release_jobs` call.
const MAX_RELEASE_BATCH: usize = 1_000;

/// Acquisitions that may be under way at once (each for up to its share of the places):
/// the run loop's lanes.
const LANES: usize = 2;
const _: () = assert!(LANES == 2, "run_loop joins two lanes");

/// How a job processor works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobProcessorConfig {
    /// The node's id, recorded in leases.
    pub node_id: String,
    /// How long a job stays leased unless extended (default 30 s).
    pub lease_duration: Duration,
    /// The most jobs this node runs at once (default 100).
    pub max_concurrent_jobs: usize,
    /// How often to look for work when no event arrives (default 1 s).
    pub poll_interval: Duration,
}

impl JobProcessorConfig {
    /// The defaults for node `node_id`.
    pub fn new(node_id: impl Into<String>) -> JobProcessorConfig {
        JobProcessorConfig {
            node_id: node_id.into(),
            lease_duration: Duration::from_secs(30),
            max_concurrent_jobs: 100,
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// Runs jobs (see the module docs).
#[derive(Clone)]
pub struct JobProcessor {
    store: Arc<dyn DataStore>,
    broker: Arc<dyn EventBroker>,
    clock: Arc<dyn Clock>,
    handlers: HandlerRegistry,
    running: RunningJobs,
    /// Run slots and release flushes.
    tracker: TaskTracker,
    /// Acquired jobs waiting for a slot, and the open slots.
    slots: Arc<Mutex<Slots>>,
    /// Jobs acquired whose handler has not finished yet (waiting or running).
    in_hand: Arc<AtomicUsize>,
    /// Finished attempts waiting for their release to be written.
    releases: Arc<Mutex<Releases>>,
    /// Notified when places free up that the run loop waits for: a handler finished or a
    /// release was written while the node was full, or a release of a limited task's job
    /// (its `max_running_jobs` place) was written.
    freed: Arc<Notify>,
    /// Whether the last look found no free place.
    starved: Arc<AtomicBool>,
    /// Set by `drain` and `halt`: no further jobs are acquired.
    stopping: Arc<AtomicBool>,
    halted: Arc<AtomicBool>,
    tasks: Arc<TaskCache>,
    config: Arc<JobProcessorConfig>,
}

/// Acquired jobs waiting for a run slot, and how many slots are open. Every acquired job
/// gets a slot (the node never holds more than it can run), so jobs wait here only until a
/// slot takes them.
#[derive(Default)]
struct Slots {
    waiting: VecDeque<(Job, RunningJob)>,
    open: usize,
}

/// Finished attempts whose release is not written yet.
#[derive(Default)]
struct Releases {
    pending: Vec<PendingRelease>,
    /// Whether a flush is under way (one at a time; it takes everything pending).
    flushing: bool,
    /// Pending plus being written.
    unwritten: usize,
}

/// One finished attempt waiting for its release.
struct PendingRelease {
    request: JobReleaseRequest,
    task_id: TaskId,
    /// The `JobReleased` event to publish once written.
    event: Event,
    /// When to stop retrying: by then the lease has lapsed and another node reaps the job.
    give_up: Timestamp,
    /// Whether the job's task has a `max_running_jobs` limit (its release frees a place).
    limited: bool,
}

impl JobProcessor {
    /// A processor running the handlers in `handlers`; `running` is shared with the lease keeper.
    pub fn new(
        store: Arc<dyn DataStore>,
        broker: Arc<dyn EventBroker>,
        clock: Arc<dyn Clock>,
        handlers: HandlerRegistry,
        running: RunningJobs,
        config: JobProcessorConfig,
    ) -> JobProcessor {
        JobProcessor {
            store,
            broker,
            clock,
            handlers,
            running,
            tracker: TaskTracker::new(),
            slots: Arc::default(),
            in_hand: Arc::default(),
            releases: Arc::default(),
            freed: Arc::new(Notify::new()),
            starved: Arc::new(AtomicBool::new(false)),
            stopping: Arc::new(AtomicBool::new(false)),
            halted: Arc::new(AtomicBool::new(false)),
            tasks: Arc::default(),
            config: Arc::new(config),
        }
    }

    /// The jobs running on this node (including finished ones whose release is not written
    /// yet: their leases are kept alive until it is).
    pub fn running(&self) -> &RunningJobs {
        &self.running
    }

    /// How many more jobs this node may acquire with `in_hand` jobs in hand.
    fn free_places_at(&self, in_hand: usize) -> usize {
        let max = self.config.max_concurrent_jobs;
        // Back-pressure: stop taking work while releases for twice the node's capacity are
        // unwritten (the store does not take them); below that, acquiring overlaps the
        // writing of the previous batch's releases.
        if lock(&self.releases).unwritten >= max.saturating_mul(2) {
            return 0;
        }
        max.saturating_sub(in_hand)
    }

    /// Reserves up to half the node's places (two acquisitions overlap), as many as are free.
    fn reserve_places(&self) -> usize {
        let per_call = self.config.max_concurrent_jobs.div_ceil(LANES).max(1);
        let mut taken = 0;
        let _ = self
            .in_hand
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |in_hand| {
                taken = self.free_places_at(in_hand).min(per_call);
                Some(in_hand + taken)
            });
        taken
    }

    /// Acquires as many ready jobs as there are free places for and starts them; returns
    /// how many were acquired and how many were asked for.
    ///
    /// # Errors
    ///
    /// The store's error if acquisition fails.
    pub async fn acquire_and_start(&self) -> Result<(usize, usize), StoreError> {
        if self.is_stopping() {
            return Ok((0, 0));
        }
        // Places are reserved before the call, so overlapping acquisitions never overshoot.
        // Set before counting, so a place freed meanwhile still wakes the run loop.
        self.starved.store(true, Ordering::SeqCst);
        let wanted = self.reserve_places();
        if wanted == 0 {
            return Ok((0, 0));
        }
        self.starved.store(false, Ordering::SeqCst);
        let jobs = match self.acquire(wanted).await {
            Ok(jobs) => jobs,
            Err(error) => {
                self.in_hand.fetch_sub(wanted, Ordering::SeqCst);
                return Err(error);
            }
        };
        let count = jobs.len();
        self.in_hand
            .fetch_sub(wanted.saturating_sub(count), Ordering::SeqCst);
        let new_slots = {
            let mut slots = lock(&self.slots);
            slots.waiting.extend(jobs);
            let wanted_slots = slots
                .waiting
                .len()
                .min(self.config.max_concurrent_jobs.saturating_sub(slots.open));
            slots.open += wanted_slots;
            wanted_slots
        };
        for _ in 0..new_slots {
            let processor = self.clone();
            self.tracker
                .spawn(async move { processor.run_slot().await });
        }
        Ok((count, wanted))
    }

    /// Leases and starts up to `limit` jobs, publishes what happened, and claims them locally.
    async fn acquire(&self, limit: usize) -> Result<Vec<(Job, RunningJob)>, StoreError> {
        let now = self.clock.now();
        let node = self.config.node_id.as_str();
        let batch = self
            .store
            .acquire_and_start_jobs(node, self.config.lease_duration, limit, now)
            .await?;
        for result in batch.missed {
            metrics::counter!(
                "horae_jobs_finished_total",
                "task" => result.task_id.to_string(),
                "outcome" => result.outcome.as_str(),
            )
            .increment(1);
            self.publish(released_event(node, &result, None)).await;
        }
        let mut claimed = Vec::with_capacity(batch.acquired.len());
        for job in batch.acquired {
            self.publish(Event::JobAcquired {
                timestamp: now,
                job_id: job.id,
                node_id: node.to_owned(),
                task_id: job.task_id.clone(),
                schedule_id: job.schedule_id.clone(),
                scheduled_fire_time: job.scheduled_fire_time,
                attempt: job.attempt,
                lease_token: job.lease_token,
            })
            .await;
            match self.running.claim(job.id, job.lease_token) {
                Some(entry) => claimed.push((job, entry)),
                // Invariant 4: never start a job this node is already running.
                None => {
                    tracing::warn!(job = %job.id, "job is already running here; not started twice")
                }
            }
        }
        Ok(claimed)
    }

    /// Runs waiting jobs one after another until none is left, then closes the slot.
    async fn run_slot(&self) {
        loop {
            let next = {
                let mut slots = lock(&self.slots);
                let next = slots.waiting.pop_front();
                if next.is_none() {
                    slots.open -= 1;
                }
                next
            };
            let Some((job, entry)) = next else { break };
            self.run(job, entry).await;
            self.in_hand.fetch_sub(1, Ordering::SeqCst);
            self.wake_if_starved();
        }
    }

    /// Acquires and runs jobs until `shutdown`, woken by job events and freed places, with
    /// polling as the fallback; backs off while the store is unavailable (invariant 10).
    pub async fn run_loop(&self, shutdown: CancellationToken) {
        tokio::join!(self.lane(&shutdown), self.lane(&shutdown));
    }

    /// One of the run loop's acquisition lanes.
    async fn lane(&self, shutdown: &CancellationToken) {
        let wake_on = [
            EventKind::JobAdded,
            EventKind::JobReleased,
            EventKind::TaskUpdated,
            EventKind::TaskRemoved,
        ];
        let mut events = self.broker.subscribe_to(&wake_on);
        let mut backoff = Backoff::new();
        while !shutdown.is_cancelled() {
            // Registered before looking, so a place freed meanwhile is not missed.
            let freed = self.freed.notified();
            let wait = match self.acquire_and_start().await {
                // Jobs were handed out: more may be ready (a store may hand out fewer than
                // asked per call), so look again until a look comes back empty.
                Ok((acquired, _)) if acquired > 0 => {
                    backoff.reset();
                    continue;
                }
                Ok(_) => {
                    backoff.reset();
                    self.config.poll_interval
                }
                Err(error) => {
                    metrics::counter!("horae_store_errors_total", "operation" => "acquire_jobs")
                        .increment(1);
                    let wait = backoff.next_delay();
                    tracing::warn!(%error, retry_in = ?wait, "acquiring jobs failed");
                    wait
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = freed => {}
                () = self.clock.sleep(wait) => {}
                () = wait_for(&mut events, |event| self.worth_a_look(event)) => {}
            }
            // One look serves every event that arrived meanwhile (a batch of new jobs
            // publishes one event each).
            while let Some(event) = events.try_recv() {
                self.worth_a_look(&event);
            }
        }
    }

    /// Whether `event` may have made jobs acquirable here, forgetting cached tasks it
    /// changed. This node's own releases free places through `freed`; only new jobs and
    /// other nodes' releases (a task's `max_running_jobs` freed) need a look.
    fn worth_a_look(&self, event: &Event) -> bool {
        match event {
            Event::JobReleased { node_id, .. } => *node_id != self.config.node_id,
            Event::TaskUpdated { task_id, .. } | Event::TaskRemoved { task_id, .. } => {
                self.tasks.forget(task_id);
                false
            }
            _ => true,
        }
    }

    /// Waits for running jobs to finish for up to `grace`, then cancels the rest; returns
    /// once every release is written (invariant 9).
    pub async fn drain(&self, grace: Duration) {
        self.stopping.store(true, Ordering::SeqCst);
        self.tracker.close();
        tokio::select! {
            () = self.tracker.wait() => return,
            () = self.clock.sleep(grace) => {}
        }
        self.running.cancel_all();
        self.tracker.wait().await;
    }

    /// Stops as if the process had died: running handlers are abandoned and nothing more is
    /// written to the store or published (for failover tests; their leases lapse and other
    /// nodes reap the jobs).
    pub fn halt(&self) {
        self.halted.store(true, Ordering::SeqCst);
        self.stopping.store(true, Ordering::SeqCst);
        self.tracker.close();
        self.running.cancel_all();
    }

    fn is_halted(&self) -> bool {
        self.halted.load(Ordering::SeqCst)
    }

    fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Whether this node still holds `job`'s lease: by its own clock while the lease
    /// granted at acquisition runs, otherwise as the store says (the lease keeper may have
    /// extended it).
    async fn still_holds(&self, job: &Job, entry: &RunningJob) -> bool {
        if entry.lease_lost() {
            return false;
        }
        let now = self.clock.now();
        if job.acquired_until.is_some_and(|until| now < until) {
            return true;
        }
        let node = self.config.node_id.as_str();
        match self
            .store
            .start_job(node, &job.id, job.lease_token, now)
            .await
        {
            Ok(_) => true,
            Err(StoreError::LeaseLost { .. }) => false,
            Err(error) => {
                metrics::counter!("horae_store_errors_total", "operation" => "start_job")
                    .increment(1);
                // Unknown: do not start; the lease lapses and the job is reaped.
                tracing::warn!(job = %job.id, %error, "could not confirm the lease; not starting the job");
                false
            }
        }
    }

    async fn run(&self, job: Job, entry: RunningJob) {
        let id = job.id;
        if !self.still_holds(&job, &entry).await {
            self.lease_lost(&job.id, &job.task_id, job.lease_token)
                .await;
            self.running.release(&id);
            return;
        }
        let task = self
            .tasks
            .get(&*self.store, &*self.clock, &job.task_id)
            .await;
        record_start(&job);
        let running = RunningGauge::enter();
        let (outcome, error, value, retry_after) =
            self.execute(&job, task.as_deref(), &entry).await;
        drop(running);
        if self.is_halted() {
            self.running.release(&id);
            return;
        }
        if entry.lease_lost() {
            self.lease_lost(&job.id, &job.task_id, job.lease_token)
                .await;
            self.running.release(&id);
            return;
        }
        let finished_at = self.clock.now();
        let mut result = JobResult::new(&job, outcome, job.started_at, finished_at);
        result.error = error;
        result.return_value = value;
        record_finish(&result);
        let retry_at = retry_after.and_then(|explicit| {
            let policy = task.as_ref().and_then(|t| t.retry.as_ref())?;
            let delay = match explicit {
                Some(delay) => (job.attempt < policy.max_attempts).then_some(delay)?,
                None => policy.delay(
                    job.attempt,
                    random::unit_fraction(random::seed(&id.to_string(), i64::from(job.attempt))),
                )?,
            };
            Some(add(finished_at, delay))
        });
        let event = released_event(&self.config.node_id, &result, job.scheduled_fire_time);
        let release = match retry_at {
            Some(at) => JobRelease::Retry { result, at },
            None => JobRelease::Finish(result),
        };
        self.queue_release(PendingRelease {
            request: JobReleaseRequest {
                id,
                lease_token: job.lease_token,
                release,
            },
            task_id: job.task_id,
            event,
            give_up: add(finished_at, self.config.lease_duration),
            limited: task.as_ref().is_some_and(|t| t.max_running_jobs.is_some()),
        });
    }

    /// Runs the handler; returns the outcome, error text, return value, and whether (and
    /// after what explicit delay) the failure may be retried.
    async fn execute(
        &self,
        job: &Job,
        task: Option<&Task>,
        entry: &RunningJob,
    ) -> (
        JobOutcome,
        Option<String>,
        Option<serde_json::Value>,
        Option<Option<Duration>>,
    ) {
        let action = task.and_then(|t| t.action.clone());
        let handler = self
            .handlers
            .get(&job.task_id)
            .or_else(|| action.as_ref().and_then(|_| self.handlers.action_handler()));
        let Some(handler) = handler else {
            let message = format!(
                "no handler for task '{}' on node '{}'",
                job.task_id, self.config.node_id
            );
            return (JobOutcome::Error, Some(message), None, None);
        };
        let ctx = JobContext {
            job: job.clone(),
            node_id: self.config.node_id.clone(),
            action,
        };
        let mut handle: Pin<Box<dyn Future<Output = Joined> + Send>> = match handler {
            // Runs inside this task: no spawn per job; dropping the future cancels it.
            Handler::Async(function) => Box::pin(CatchPanic::new(move || function(ctx))),
            Handler::Blocking(function) => {
                let task = tokio::task::spawn_blocking(move || function(ctx));
                Box::pin(async move {
                    let mut task = AbortOnDrop(task);
                    match (&mut task.0).await {
                        Ok(result) => Ok(result),
                        Err(join) if join.is_panic() => Err(Ended::Panicked(join.into_panic())),
                        Err(join) => Err(Ended::Stopped(join.to_string())),
                    }
                })
            }
        };
        let timeout = task.and_then(|t| t.timeout);
        let deadline = async {
            match timeout {
                Some(limit) => self.clock.sleep(limit).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            joined = &mut handle => match joined {
                Ok(Ok(value)) => (JobOutcome::Success, None, Some(value), None),
                Ok(Err(HandlerError::Cancel(message))) => (JobOutcome::Error, Some(message), None, None),
                Ok(Err(HandlerError::RetryAfter(delay, message))) => (JobOutcome::Error, Some(message), None, Some(Some(delay))),
                Ok(Err(error)) => (JobOutcome::Error, Some(error.to_string()), None, Some(None)),
                Err(Ended::Panicked(payload)) => {
                    let message = panic_message(payload);
                    (JobOutcome::Error, Some(format!("handler panicked: {message}")), None, Some(None))
                }
                Err(Ended::Stopped(reason)) => (JobOutcome::Cancelled, Some(format!("handler task ended: {reason}")), None, None),
            },
            () = deadline => {
                let limit = timeout.map(crate::duration::format_duration).unwrap_or_default();
                (JobOutcome::TimedOut, Some(format!("timed out after {limit}")), None, Some(None))
            }
            () = entry.cancel.cancelled() => {
                let reason = if entry.lease_lost() { "lease lost" } else { "cancelled at shutdown" };
                (JobOutcome::Cancelled, Some(reason.to_owned()), None, None)
            }
        }
    }

    /// Queues a finished attempt's release; starts a flush unless one is under way.
    fn queue_release(&self, release: PendingRelease) {
        let start_flush = {
            let mut releases = lock(&self.releases);
            releases.pending.push(release);
            releases.unwritten += 1;
            !std::mem::replace(&mut releases.flushing, true)
        };
        if start_flush {
            let processor = self.clone();
            self.tracker
                .spawn(async move { processor.flush_releases().await });
        }
    }

    /// Writes pending releases in batches until none is left, retrying while the store is
    /// unavailable until a release's lease would have lapsed (then another node reaps the
    /// job). Releases queued meanwhile join the next batch.
    async fn flush_releases(&self) {
        let node = self.config.node_id.clone();
        let mut backoff = Backoff::new();
        loop {
            let batch = {
                let mut releases = lock(&self.releases);
                if releases.pending.is_empty() || self.is_halted() {
                    releases.unwritten -= releases.pending.len();
                    releases.pending.clear();
                    releases.flushing = false;
                    return;
                }
                let keep = releases.pending.len().saturating_sub(MAX_RELEASE_BATCH);
                releases.pending.split_off(keep)
            };
            let requests = batch.iter().map(|r| r.request.clone()).collect();
            match self.store.release_jobs(&node, requests).await {
                Ok(lost) => {
                    backoff.reset();
                    self.released(batch, &lost).await;
                }
                Err(error) => {
                    metrics::counter!("horae_store_errors_total", "operation" => "release_jobs")
                        .increment(1);
                    let now = self.clock.now();
                    let (retry, expired): (Vec<_>, Vec<_>) =
                        batch.into_iter().partition(|r| now < r.give_up);
                    for release in &expired {
                        tracing::error!(job = %release.request.id, %error, "could not release the job; its lease will lapse");
                        self.running.release(&release.request.id);
                    }
                    {
                        let mut releases = lock(&self.releases);
                        releases.unwritten -= expired.len();
                        releases.pending.extend(retry);
                    }
                    let wait = backoff.next_delay();
                    tracing::warn!(%error, retry_in = ?wait, "releasing jobs failed");
                    self.clock.sleep(wait).await;
                }
            }
        }
    }

    /// Publishes what a written batch did and frees its places.
    async fn released(&self, batch: Vec<PendingRelease>, lost: &[JobId]) {
        let count = batch.len();
        let limited = batch.iter().any(|release| release.limited);
        for release in batch {
            let id = release.request.id;
            if lost.contains(&id) {
                self.lease_lost(&id, &release.task_id, release.request.lease_token)
                    .await;
            } else {
                self.publish(release.event).await;
            }
            self.running.release(&id);
        }
        lock(&self.releases).unwritten -= count;
        if limited {
            self.freed.notify_one();
        } else {
            self.wake_if_starved();
        }
    }

    /// Wakes the run loop if it waits for free places (one waiter; a permit is kept if it
    /// is not waiting right now).
    fn wake_if_starved(&self) {
        if self.starved.load(Ordering::SeqCst) {
            self.freed.notify_one();
        }
    }

    async fn lease_lost(&self, id: &JobId, task_id: &TaskId, lease_token: u64) {
        metrics::counter!("horae_lease_losses_total").increment(1);
        tracing::warn!(job = %id, token = lease_token, "lease lost; the job belongs to another node now");
        self.publish(Event::JobLeaseLost {
            timestamp: self.clock.now(),
            job_id: *id,
            node_id: self.config.node_id.clone(),
            task_id: task_id.clone(),
            lease_token,
        })
        .await;
    }

    async fn publish(&self, event: Event) {
        publish_or_log(&*self.broker, event).await;
    }
}

/// Records a job attempt starting in the metrics: the started counter and, for a scheduled
/// job, how late it started after its fire time.
fn record_start(job: &Job) {
    let task = job.task_id.to_string();
    if let (Some(started), Some(fire)) = (job.started_at, job.scheduled_fire_time) {
        let late = started.duration_since(fire).as_secs_f64().max(0.0);
        metrics::histogram!("horae_job_start_lateness_seconds", "task" => task.clone())
            .record(late);
    }
    metrics::counter!("horae_jobs_started_total", "task" => task).increment(1);
}

/// Counts a job in the `horae_jobs_running` gauge while it runs; dropping it (the run ended
/// or its future was dropped when the node stopped) takes the job out again.
struct RunningGauge;

impl RunningGauge {
    fn enter() -> RunningGauge {
        metrics::gauge!("horae_jobs_running").increment(1.0);
        RunningGauge
    }
}

impl Drop for RunningGauge {
    fn drop(&mut self) {
        metrics::gauge!("horae_jobs_running").decrement(1.0);
    }
}

/// Records a finished attempt in the metrics: the finished counter and its run time.
fn record_finish(result: &JobResult) {
    let task = result.task_id.to_string();
    if let Some(started) = result.started_at {
        let run = result
            .finished_at
            .duration_since(started)
            .as_secs_f64()
            .max(0.0);
        metrics::histogram!("horae_job_run_seconds", "task" => task.clone()).record(run);
    }
    metrics::counter!(
        "horae_jobs_finished_total",
        "task" => task,
        "outcome" => result.outcome.as_str(),
    )
    .increment(1);
}

/// The `JobReleased` event of a result.
pub(crate) fn released_event(
    node: &str,
    result: &JobResult,
    scheduled_fire_time: Option<Timestamp>,
) -> Event {
    Event::JobReleased {
        timestamp: result.finished_at,
        job_id: result.job_id,
        node_id: node.to_owned(),
        task_id: result.task_id.clone(),
        schedule_id: result.schedule_id.clone(),
        scheduled_fire_time,
        started_at: result.started_at,
        finished_at: result.finished_at,
        outcome: result.outcome,
        attempt: result.attempt,
        error: result.error.clone(),
    }
}

/// Locks a mutex; no code path panics while holding these locks, so a poisoned one still
/// guards consistent state.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Waits until an event that `wanted` accepts arrives (forever if the broker is gone).
async fn wait_for(events: &mut crate::broker::Subscription, wanted: impl Fn(&Event) -> bool) {
    loop {
        match events.recv().await {
            Some(event) if wanted(&event) => return,
            Some(_) => {}
            None => std::future::pending().await,
        }
    }
}

/// How a handler's run ended when it returned no result.
enum Ended {
    /// It panicked, with this payload.
    Panicked(Box<dyn Any + Send>),
    /// Its blocking task was stopped by the runtime (shutdown).
    Stopped(String),
}

/// What running a handler yields.
type Joined = Result<HandlerResult, Ended>;

/// Runs an async handler in the polling task, turning a panic — while creating the future
/// or while polling it — into [`Ended::Panicked`] (invariant 7).
struct CatchPanic<F> {
    start: Option<F>,
    running: Option<BoxFuture<'static, HandlerResult>>,
}

impl<F> CatchPanic<F>
where
    F: FnOnce() -> BoxFuture<'static, HandlerResult>,
{
    fn new(start: F) -> CatchPanic<F> {
        CatchPanic {
            start: Some(start),
            running: None,
        }
    }
}

impl<F> Future for CatchPanic<F>
where
    F: FnOnce() -> BoxFuture<'static, HandlerResult> + Unpin,
{
    type Output = Joined;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Joined> {
        let this = &mut *self;
        let polled = std::panic::catch_unwind(AssertUnwindSafe(|| {
            if let Some(start) = this.start.take() {
                this.running = Some(start());
            }
            match this.running.as_mut() {
                Some(future) => future.as_mut().poll(cx),
                None => Poll::Ready(Err(HandlerError::failed("handler polled after it ended"))),
            }
        }));
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(result)) => {
                this.running = None;
                Poll::Ready(Ok(result))
            }
            Err(payload) => {
                this.running = None;
                Poll::Ready(Err(Ended::Panicked(payload)))
            }
        }
    }
}

/// Aborts a blocking handler's task handle when dropped (timeout, cancellation); the
/// thread itself runs on until the function returns, as blocking code cannot be interrupted.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned())
}
