//! The job processor: acquires jobs up to the node's capacity, runs them and releases their
//! results.
//!
//! A run starts only after the store confirms the lease (`start_job`), so a node that
//! stalled past its lease finds itself fenced off before starting anything (invariant 8).
//! Handlers run as their own tasks (async) or on the blocking pool, so a panic becomes
//! outcome `error` and a timeout outcome `timed_out` (invariant 7); neither can stall the
//! lease keeper. Failed attempts are retried per the task's retry policy. Releases are fenced
//! (invariant 3): a refused one becomes a `JobLeaseLost` event, never a crash.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::handler::{Handler, HandlerError, JobContext};
use super::registry::HandlerRegistry;
use super::running::{RunningJob, RunningJobs};
use crate::broker::{EventBroker, publish_or_log};
use crate::clock::{Clock, add};
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
    finished: Arc<Notify>,
    halted: Arc<AtomicBool>,
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
            finished: Arc::new(Notify::new()),
            halted: Arc::new(AtomicBool::new(false)),
            config: Arc::new(config),
        }
    }

    /// The jobs running on this node.
    pub fn running(&self) -> &RunningJobs {
        &self.running
    }

    /// Acquires as many ready jobs as there is capacity for and starts them; returns how many.
    ///
    /// # Errors
    ///
    /// The store's error if acquisition fails.
    pub async fn acquire_and_start(&self) -> Result<usize, StoreError> {
        if self.is_halted() {
            return Ok(0);
        }
        let capacity = self
            .config
            .max_concurrent_jobs
            .saturating_sub(self.running.len());
        if capacity == 0 {
            return Ok(0);
        }
        let now = self.clock.now();
        let node = self.config.node_id.as_str();
        let batch = self
            .store
            .acquire_jobs(node, self.config.lease_duration, capacity, now)
            .await?;
        for result in batch.missed {
            self.publish(released_event(node, &result, None)).await;
        }
        let count = batch.acquired.len();
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
                Some(entry) => {
                    let processor = self.clone();
                    self.tracker
                        .spawn(async move { processor.run(job, entry).await });
                }
                // Invariant 4: never start a job this node is already running.
                None => {
                    tracing::warn!(job = %job.id, "job is already running here; not started twice")
                }
            }
        }
        Ok(count)
    }

    /// Acquires and runs jobs until `shutdown`, woken by job events and finished runs, with
    /// polling as the fallback; backs off while the store is unavailable (invariant 10).
    pub async fn run_loop(&self, shutdown: CancellationToken) {
        let wake_on = [EventKind::JobAdded, EventKind::JobReleased];
        let mut events = self.broker.subscribe_to(&wake_on);
        let mut backoff = Backoff::new();
        while !shutdown.is_cancelled() {
            let wait = match self.acquire_and_start().await {
                Ok(started)
                    if started > 0 && self.running.len() < self.config.max_concurrent_jobs =>
                {
                    backoff.reset();
                    continue;
                }
                Ok(_) => {
                    backoff.reset();
                    self.config.poll_interval
                }
                Err(error) => {
                    let wait = backoff.next();
                    tracing::warn!(%error, retry_in = ?wait, "acquiring jobs failed");
                    wait
                }
            };
            let finished = self.finished.notified();
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = finished => {}
                () = self.clock.sleep(wait) => {}
                () = wait_for(&mut events, &wake_on) => {}
            }
        }
    }

    /// Waits for running jobs to finish for up to `grace`, then cancels the rest and waits for
    /// their releases (invariant 9).
    pub async fn drain(&self, grace: Duration) {
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
        self.tracker.close();
        self.running.cancel_all();
    }

    fn is_halted(&self) -> bool {
        self.halted.load(Ordering::SeqCst)
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
                self.finish_run(&id);
                return;
            }
        };
        let task = self.store.get_task(&job.task_id).await.ok().flatten();
        let (outcome, error, value, retry_after) = self.execute(&job, task.as_ref(), &entry).await;
        if self.is_halted() {
            self.running.release(&id);
            return;
        }
        if entry.lease_lost() {
            self.lease_lost(&job).await;
            self.finish_run(&id);
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
        self.finish_run(&id);
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
        let mut handle = match handler {
            Handler::Async(function) => tokio::spawn(function(ctx)),
            Handler::Blocking(function) => tokio::task::spawn_blocking(move || function(ctx)),
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
                Err(join) if join.is_panic() => {
                    let message = panic_message(join.into_panic());
                    (JobOutcome::Error, Some(format!("handler panicked: {message}")), None, Some(None))
                }
                Err(join) => (JobOutcome::Cancelled, Some(format!("handler task ended: {join}")), None, None),
            },
            () = deadline => {
                handle.abort();
                let limit = timeout.map(crate::duration::format_duration).unwrap_or_default();
                (JobOutcome::TimedOut, Some(format!("timed out after {limit}")), None, Some(None))
            }
            () = entry.cancel.cancelled() => {
                handle.abort();
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
                    let wait = backoff.next();
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

    fn finish_run(&self, id: &crate::model::JobId) {
        self.running.release(id);
        // One waiter (the run loop); a permit is kept if it is not waiting right now.
        self.finished.notify_one();
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

/// Waits until an event of one of `kinds` arrives (forever if the broker is gone).
pub(crate) async fn wait_for(events: &mut crate::broker::Subscription, kinds: &[EventKind]) {
    loop {
        match events.recv().await {
            Some(event) if kinds.contains(&event.kind()) => return,
            Some(_) => {}
            None => std::future::pending().await,
        }
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned())
}

/// Exponential backoff for store outages: 100 ms doubling to 10 s, with jitter.
#[derive(Debug)]
pub(crate) struct Backoff {
    attempt: u32,
}

impl Backoff {
    pub(crate) fn new() -> Backoff {
        Backoff { attempt: 0 }
    }

    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }

    pub(crate) fn next(&mut self) -> Duration {
        let base = Duration::from_millis(100)
            .saturating_mul(1 << self.attempt.min(7))
            .min(Duration::from_secs(10));
        self.attempt += 1;
        let fraction =
            random::unit_fraction(u128::from(self.attempt) ^ (std::process::id() as u128) << 32);
        base.mul_f64(0.5 + fraction / 2.0)
    }
}
