//! The job processor: acquires jobs up to the node's capacity, runs them and releases their
//! results.
//!
//! A run starts only after the store confirms the lease (`start_job`), so a node that
//! stalled past its lease finds itself fenced off before starting anything (invariant 8).
//! Handlers run as their own tasks (async) or on the blocking pool, so a panic becomes
//! outcome `error` and a timeout outcome `timed_out` (invariant 7); neither can stall the
//! lease keeper. Failed attempts are retried per the task's retry policy. Releases are fenced
//! (invariant 3): a refused one becomes a `JobLeaseLost` event, never a crash.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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
use crate::model::{Job, JobOutcome, JobResult, Task};
use crate::random;
use crate::store::{DataStore, JobRelease};

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
    tracker: TaskTracker,
    /// Run slots in use: each runs one job at a time and, when it finishes, takes the next
    /// ready job itself, so a busy node needs no round trip through the run loop per job.
    slots: Arc<AtomicUsize>,
    /// Notified when a slot closes (capacity for the run loop).
    slot_closed: Arc<Notify>,
    /// Set by `drain` and `halt`: slots take no further jobs.
    stopping: Arc<AtomicBool>,
    halted: Arc<AtomicBool>,
    tasks: Arc<TaskCache>,
    config: Arc<JobProcessorConfig>,
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
            slots: Arc::new(AtomicUsize::new(0)),
            slot_closed: Arc::new(Notify::new()),
            stopping: Arc::new(AtomicBool::new(false)),
            tasks: Arc::default(),
            halted: Arc::new(AtomicBool::new(false)),
            config: Arc::new(config),
        }
    }

    /// The jobs running on this node.
    pub fn running(&self) -> &RunningJobs {
        &self.running
    }

    /// Acquires as many ready jobs as there are free run slots for and starts them; returns
    /// how many.
    ///
    /// # Errors
    ///
    /// The store's error if acquisition fails.
    pub async fn acquire_and_start(&self) -> Result<usize, StoreError> {
        if self.is_stopping() {
            return Ok(0);
        }
        // Only this method opens slots, and slots only close, so capacity never overshoots.
        let capacity = self
            .config
            .max_concurrent_jobs
            .saturating_sub(self.slots.load(Ordering::SeqCst));
        if capacity == 0 {
            return Ok(0);
        }
        let jobs = self.acquire(capacity).await?;
        let count = jobs.len();
        for (job, entry) in jobs {
            self.slots.fetch_add(1, Ordering::SeqCst);
            let processor = self.clone();
            self.tracker
                .spawn(async move { processor.run_slot(job, entry).await });
        }
        Ok(count)
    }

    /// Leases up to `limit` jobs, publishes what happened, and claims them locally.
    async fn acquire(&self, limit: usize) -> Result<Vec<(Job, RunningJob)>, StoreError> {
        let now = self.clock.now();
        let node = self.config.node_id.as_str();
        let batch = self
            .store
            .acquire_jobs(node, self.config.lease_duration, limit, now)
            .await?;
        for result in batch.missed {
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

    /// Runs `job`, then further ready jobs one at a time while there are any and the
    /// processor is not stopping; then closes the slot.
    async fn run_slot(&self, job: Job, entry: RunningJob) {
        let mut next = Some((job, entry));
        while let Some((job, entry)) = next.take() {
            self.run(job, entry).await;
            if self.is_stopping() {
                break;
            }
            match self.acquire(1).await {
                Ok(mut jobs) => next = jobs.pop(),
                // The run loop backs off and reports store failures.
                Err(error) => tracing::debug!(%error, "a run slot could not take the next job"),
            }
        }
        self.slots.fetch_sub(1, Ordering::SeqCst);
        // One waiter (the run loop); a permit is kept if it is not waiting right now.
        self.slot_closed.notify_one();
    }

    /// Acquires and runs jobs until `shutdown`, woken by job events and finished runs, with
    /// polling as the fallback; backs off while the store is unavailable (invariant 10).
    pub async fn run_loop(&self, shutdown: CancellationToken) {
        let wake_on = [
            EventKind::JobAdded,
            EventKind::JobReleased,
            EventKind::TaskUpdated,
            EventKind::TaskRemoved,
        ];
        let mut events = self.broker.subscribe_to(&wake_on);
        let mut backoff = Backoff::new();
        let node = self.config.node_id.as_str();
        while !shutdown.is_cancelled() {
            let wait = match self.acquire_and_start().await {
                Ok(started)
                    if started > 0
                        && self.slots.load(Ordering::SeqCst) < self.config.max_concurrent_jobs =>
                {
                    backoff.reset();
                    continue;
                }
                Ok(_) => {
                    backoff.reset();
                    self.config.poll_interval
                }
                Err(error) => {
                    let wait = backoff.next_delay();
                    tracing::warn!(%error, retry_in = ?wait, "acquiring jobs failed");
                    wait
                }
            };
            // This node's own releases are followed up by its run slots; only new jobs and
            // other nodes' releases (a task's `max_running_jobs` freed) need a look.
            let slot_closed = self.slot_closed.notified();
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = slot_closed => {}
                () = self.clock.sleep(wait) => {}
                () = wait_for(&mut events, |event| match event {
                    Event::JobReleased { node_id, .. } => node_id != node,
                    Event::TaskUpdated { task_id, .. } | Event::TaskRemoved { task_id, .. } => {
                        self.tasks.forget(task_id);
                        false
                    }
                    _ => true,
                }) => {}
            }
        }
    }

    /// Waits for running jobs to finish for up to `grace`, then cancels the rest and waits for
    /// their releases (invariant 9).
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

    async fn run(&self, job: Job, entry: RunningJob) {
        let node = self.config.node_id.clone();
        let id = job.id;
        let token = job.lease_token;
        let job = match self
            .store
            .start_job(&node, &id, token, self.clock.now())
            .await
        {
            Ok(job) => job,
            Err(error) => {
                if matches!(error, StoreError::LeaseLost { .. }) {
                    self.lease_lost(&job).await;
                } else {
                    // Not started: when the lease lapses the job is simply handed out again.
                    tracing::warn!(job = %id, %error, "could not start the job");
                }
                self.running.release(&id);
                return;
            }
        };
        let task = self
            .tasks
            .get(&*self.store, &*self.clock, &job.task_id)
            .await;
        let (outcome, error, value, retry_after) =
            self.execute(&job, task.as_deref(), &entry).await;
        if self.is_halted() {
            self.running.release(&id);
            return;
        }
        if entry.lease_lost() {
            self.lease_lost(&job).await;
            self.running.release(&id);
            return;
        }
        let finished_at = self.clock.now();
        let mut result = JobResult::new(&job, outcome, job.started_at, finished_at);
        result.error = error;
        result.return_value = value;
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
        let release = match retry_at {
            Some(at) => JobRelease::Retry {
                result: result.clone(),
                at,
            },
            None => JobRelease::Finish(result.clone()),
        };
        self.release(&job, release, &result).await;
        self.running.release(&id);
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
        let Some(handler) = self.handlers.get(&job.task_id) else {
            let message = format!(
                "no handler for task '{}' on node '{}'",
                job.task_id, self.config.node_id
            );
            return (JobOutcome::Error, Some(message), None, None);
        };
        let ctx = JobContext {
            job: job.clone(),
            node_id: self.config.node_id.clone(),
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

    /// Releases a finished attempt, retrying while the store is unavailable until the lease
    /// would have lapsed (after that another node reaps the job).
    async fn release(&self, job: &Job, release: JobRelease, result: &JobResult) {
        let node = self.config.node_id.as_str();
        let give_up = add(self.clock.now(), self.config.lease_duration);
        let mut backoff = Backoff::new();
        loop {
            match self
                .store
                .release_job(node, &job.id, job.lease_token, release.clone())
                .await
            {
                Ok(()) => {
                    self.publish(released_event(node, result, job.scheduled_fire_time))
                        .await;
                    return;
                }
                Err(StoreError::LeaseLost { .. }) => {
                    self.lease_lost(job).await;
                    return;
                }
                Err(error) if self.clock.now() < give_up => {
                    let wait = backoff.next_delay();
                    tracing::warn!(job = %job.id, %error, retry_in = ?wait, "releasing the job failed");
                    self.clock.sleep(wait).await;
                }
                Err(error) => {
                    tracing::error!(job = %job.id, %error, "could not release the job; its lease will lapse");
                    return;
                }
            }
        }
    }

    async fn lease_lost(&self, job: &Job) {
        tracing::warn!(job = %job.id, token = job.lease_token, "lease lost; the job belongs to another node now");
        self.publish(Event::JobLeaseLost {
            timestamp: self.clock.now(),
            job_id: job.id,
            node_id: self.config.node_id.clone(),
            task_id: job.task_id.clone(),
            lease_token: job.lease_token,
        })
        .await;
    }

    async fn publish(&self, event: Event) {
        publish_or_log(&*self.broker, event).await;
    }
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
