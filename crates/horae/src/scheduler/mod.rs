//! The scheduling engine: a [`Scheduler`] node and its services.
//!
//! Each service is one module with its own configuration and tests (River's layout):
//! [`schedule_processor`] turns due schedules into jobs, [`job_processor`] runs jobs,
//! [`lease_keeper`] keeps running jobs' leases alive, [`reaper`] deals with jobs of dead
//! nodes, [`cleanup`] removes expired results and finished schedules, and [`heartbeat`]
//! keeps the node's record in the store ([`Scheduler::nodes`] lists them). A node runs the
//! services its [`SchedulerRole`] calls for; many nodes may share one store.
//!
//! # Example
//!
//! ```
//! use horae::model::{ExecutorKind, Task, TaskId};
//! use horae::scheduler::{Scheduler, handler::Handler};
//!
//! # tokio_test_block_on(async {
//! let scheduler = Scheduler::builder().node_id("example").build()?;
//! let task = Task::new(TaskId::new("add")?, ExecutorKind::Async);
//! scheduler
//!     .configure_task(task, Handler::from_async(|ctx| async move {
//!         let (a, b): (i64, i64) = ctx.args()?;
//!         Ok(serde_json::json!(a + b))
//!     }))
//!     .await?;
//! scheduler.start().await;
//! let result = scheduler.run_job(&TaskId::new("add")?, vec![2.into(), 3.into()]).await?;
//! assert_eq!(result.return_value, Some(serde_json::json!(5)));
//! scheduler.stop().await;
//! # Ok::<(), horae::Error>(())
//! # }).unwrap();
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
//! # }
//! ```

pub mod cleanup;
pub mod handler;
pub mod heartbeat;
pub mod job_processor;
pub mod lease_keeper;
pub mod reaper;
pub mod registry;
pub mod running;
pub mod schedule_processor;
mod task_cache;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use self::cleanup::{Cleanup, DEFAULT_CLEANUP_INTERVAL};
use self::handler::Handler;
use self::heartbeat::{Heartbeat, HeartbeatConfig};
use self::job_processor::{JobProcessor, JobProcessorConfig};
use self::lease_keeper::LeaseKeeper;
use self::reaper::Reaper;
use self::registry::HandlerRegistry;
use self::running::RunningJobs;
use self::schedule_processor::{ScheduleProcessor, ScheduleProcessorConfig};
pub use self::task_cache::TASK_CACHE_TTL;
use crate::broker::{EventBroker, LocalBroker, Subscription, publish_or_log};
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, ObjectKind, StoreError, ValidationError};
use crate::event::{Event, EventKind};
use crate::model::{
    CoalescePolicy, ConflictPolicy, Job, JobId, JobResult, NodeInfo, Schedule, ScheduleId,
    SchedulerRole, Task, TaskId,
};
use crate::store::{AddScheduleOutcome, DataStore, MemoryStore};
use crate::trigger::Trigger;

/// How long `run_job` keeps the job's result (APScheduler 4 uses 15 minutes).
const RUN_JOB_RESULT_EXPIRATION: Duration = Duration::from_secs(15 * 60);

/// A node's settings. Defaults follow APScheduler 4 (DESIGN.md section 7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerConfig {
    /// The node's id (default `hostname-pid`).
    pub node_id: String,
    /// What the node does (default both).
    pub role: SchedulerRole,
    /// How long schedule and job leases last unless extended (default 30 s).
    pub lease_duration: Duration,
    /// The most jobs this node runs at once (default 100).
    pub max_concurrent_jobs: usize,
    /// Time between cleanups (default 15 min).
    pub cleanup_interval: Duration,
    /// The longest the processors wait without an event before looking for work (default 1 s).
    pub poll_interval: Duration,
    /// How long `stop` waits for running jobs before cancelling them (default 30 s).
    pub stop_grace_period: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> SchedulerConfig {
        SchedulerConfig {
            node_id: default_node_id(),
            role: SchedulerRole::Both,
            lease_duration: Duration::from_secs(30),
            max_concurrent_jobs: 100,
            cleanup_interval: DEFAULT_CLEANUP_INTERVAL,
            poll_interval: Duration::from_secs(1),
            stop_grace_period: Duration::from_secs(30),
        }
    }
}

/// `hostname-pid`, as DESIGN.md section 7 specifies.
fn default_node_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "horae".to_owned());
    format!("{host}-{}", std::process::id())
}

/// Builds a [`Scheduler`]; unset parts default to an in-memory store, a local broker and the
/// system clock.
#[derive(Default)]
pub struct SchedulerBuilder {
    action_handler: Option<Handler>,
    store: Option<Arc<dyn DataStore>>,
    broker: Option<Arc<dyn EventBroker>>,
    clock: Option<Arc<dyn Clock>>,
    config: SchedulerConfig,
}

impl SchedulerBuilder {
    /// The data store (shared with other nodes for a cluster).
    pub fn store(mut self, store: Arc<dyn DataStore>) -> SchedulerBuilder {
        self.store = Some(store);
        self
    }

    /// The event broker.
    pub fn broker(mut self, broker: Arc<dyn EventBroker>) -> SchedulerBuilder {
        self.broker = Some(broker);
        self
    }

    /// The clock (a [`crate::clock::VirtualClock`] for simulations).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> SchedulerBuilder {
        self.clock = Some(clock);
        self
    }

    /// The node id.
    pub fn node_id(mut self, id: impl Into<String>) -> SchedulerBuilder {
        self.config.node_id = id.into();
        self
    }

    /// The node's role.
    pub fn role(mut self, role: SchedulerRole) -> SchedulerBuilder {
        self.config.role = role;
        self
    }

    /// The lease duration.
    pub fn lease_duration(mut self, lease: Duration) -> SchedulerBuilder {
        self.config.lease_duration = lease;
        self
    }

    /// The most jobs run at once on this node.
    pub fn max_concurrent_jobs(mut self, max: usize) -> SchedulerBuilder {
        self.config.max_concurrent_jobs = max;
        self
    }

    /// The handler that runs jobs of tasks with an [action](crate::model::TaskAction)
    /// (command or HTTP tasks) and no handler of their own; it finds the action in
    /// [`JobContext::action`](handler::JobContext::action). Without one, such jobs end
    /// with outcome `error` ("no handler").
    pub fn action_handler(mut self, handler: Handler) -> SchedulerBuilder {
        self.action_handler = Some(handler);
        self
    }

    /// All settings at once.
    pub fn config(mut self, config: SchedulerConfig) -> SchedulerBuilder {
        self.config = config;
        self
    }

    /// Builds the scheduler (not started yet).
    ///
    /// # Errors
    ///
    /// A [`ValidationError`] for an empty node id, a lease shorter than 3 ms, or no job
    /// capacity on a node that runs jobs.
    pub fn build(self) -> Result<Scheduler, Error> {
        let config = self.config;
        if config.node_id.trim().is_empty() {
            return Err(ValidationError::new("node_id", "node_id must not be empty").into());
        }
        if config.lease_duration < Duration::from_millis(3) {
            return Err(ValidationError::new(
                "lease_duration",
                "lease_duration must be at least 3ms",
            )
            .into());
        }
        if config.role != SchedulerRole::Scheduler && config.max_concurrent_jobs == 0 {
            return Err(ValidationError::new(
                "max_concurrent_jobs",
                "max_concurrent_jobs must be at least 1 on a worker",
            )
            .into());
        }
        let store = self.store.unwrap_or_else(|| Arc::new(MemoryStore::new()));
        let broker = self.broker.unwrap_or_else(|| Arc::new(LocalBroker::new()));
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let handlers = HandlerRegistry::new();
        if let Some(handler) = self.action_handler {
            handlers.set_action_handler(handler);
        }
        let jobs = JobProcessor::new(
            store.clone(),
            broker.clone(),
            clock.clone(),
            handlers.clone(),
            RunningJobs::new(),
            JobProcessorConfig {
                node_id: config.node_id.clone(),
                lease_duration: config.lease_duration,
                max_concurrent_jobs: config.max_concurrent_jobs,
                poll_interval: config.poll_interval,
            },
        );
        Ok(Scheduler {
            inner: Arc::new(Inner {
                store,
                broker,
                clock,
                config,
                handlers,
                jobs,
                shutdown: CancellationToken::new(),
                services: TaskTracker::new(),
                keeper_shutdown: CancellationToken::new(),
                keeper: TaskTracker::new(),
                started: AtomicBool::new(false),
            }),
        })
    }
}

/// One horae node: configure tasks, add schedules and jobs, start, stop.
#[derive(Clone)]
pub struct Scheduler {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn DataStore>,
    broker: Arc<dyn EventBroker>,
    clock: Arc<dyn Clock>,
    config: SchedulerConfig,
    handlers: HandlerRegistry,
    jobs: JobProcessor,
    /// Stops the services that take new work (and the reaper and cleanup).
    shutdown: CancellationToken,
    services: TaskTracker,
    /// Stops the lease keeper and the heartbeat, which outlive the other services: leases
    /// of jobs still running during a graceful stop must not lapse (invariants 2 and 9),
    /// and the node's record stays fresh while it finishes them.
    keeper_shutdown: CancellationToken,
    keeper: TaskTracker,
    started: AtomicBool,
}

impl Scheduler {
    /// A builder with the defaults.
    pub fn builder() -> SchedulerBuilder {
        SchedulerBuilder::default()
    }

    /// The node's settings.
    pub fn config(&self) -> &SchedulerConfig {
        &self.inner.config
    }

    /// The data store.
    pub fn store(&self) -> &Arc<dyn DataStore> {
        &self.inner.store
    }

    /// The heartbeat records of the nodes sharing the store (this one included once
    /// started), sorted by id; see [`NodeInfo::is_alive`].
    ///
    /// # Errors
    ///
    /// A store failure.
    pub async fn nodes(&self) -> Result<Vec<NodeInfo>, Error> {
        Ok(self.inner.store.get_nodes().await?)
    }

    /// Subscribes to events (from this node and, with a shared broker, all nodes).
    pub fn subscribe(&self) -> Subscription {
        self.inner.broker.subscribe()
    }

    /// Subscribes to the events of the given kinds only.
    pub fn subscribe_to(&self, kinds: &[EventKind]) -> Subscription {
        self.inner.broker.subscribe_to(kinds)
    }

    async fn publish(&self, event: Event) {
        publish_or_log(&*self.inner.broker, event).await;
    }

    /// Stores the task (adding or updating it) and runs its jobs with `handler` on this node.
    ///
    /// # Errors
    ///
    /// An invalid task or a store failure.
    pub async fn configure_task(&self, task: Task, handler: Handler) -> Result<(), Error> {
        task.validate()?;
        self.inner.handlers.insert(task.id.clone(), handler);
        self.put_task(task).await?;
        Ok(())
    }

    /// Stores a task without binding a handler here: a task with an action (run by nodes
    /// that have an [action handler](SchedulerBuilder::action_handler)), or one whose
    /// handler other nodes configure. Returns `true` when it was new.
    ///
    /// # Errors
    ///
    /// An invalid task or a store failure.
    pub async fn put_task(&self, task: Task) -> Result<bool, Error> {
        task.validate()?;
        let id = task.id.clone();
        let created = self.inner.store.put_task(task).await?;
        let timestamp = self.inner.clock.now();
        self.publish(if created {
            Event::TaskAdded {
                timestamp,
                task_id: id,
            }
        } else {
            Event::TaskUpdated {
                timestamp,
                task_id: id,
            }
        })
        .await;
        Ok(created)
    }

    /// Removes a task; its schedules and queued jobs stay (their jobs fail with "no such
    /// task" until it is added again).
    ///
    /// # Errors
    ///
    /// A store failure.
    pub async fn remove_task(&self, id: &TaskId) -> Result<(), Error> {
        self.inner.store.remove_task(id).await?;
        self.publish(Event::TaskRemoved {
            timestamp: self.inner.clock.now(),
            task_id: id.clone(),
        })
        .await;
        Ok(())
    }

    /// Schedules `task` to run whenever `trigger` fires; returns the schedule's id (the one
    /// in `options`, or a generated one).
    ///
    /// ```no_run
    /// # async fn demo(scheduler: horae::scheduler::Scheduler) -> Result<(), Box<dyn std::error::Error>> {
    /// use horae::model::{ScheduleId, TaskId};
    /// use horae::scheduler::ScheduleOptions;
    /// use horae::trigger::Trigger;
    ///
    /// let trigger = Trigger::parse(r#"{"type": "cron", "hour": 3}"#, scheduler.now())?;
    /// let options = ScheduleOptions::with_id(ScheduleId::new("nightly")?);
    /// scheduler.add_schedule(&TaskId::new("backup")?, trigger, options).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`insert_schedule`](Scheduler::insert_schedule).
    pub async fn add_schedule(
        &self,
        task: &TaskId,
        trigger: Trigger,
        options: ScheduleOptions,
    ) -> Result<ScheduleId, Error> {
        let id = match options.id {
            Some(id) => id,
            None => ScheduleId::new(JobId::new(self.inner.clock.now()).to_string())?,
        };
        let mut schedule = Schedule::new(id.clone(), task.clone(), trigger);
        schedule.args = options.args;
        schedule.kwargs = options.kwargs;
        schedule.paused = options.paused;
        schedule.coalesce = options.coalesce;
        schedule.misfire_grace_time = options.misfire_grace_time;
        schedule.max_jitter = options.max_jitter;
        schedule.job_result_expiration_time = options.job_result_expiration_time;
        schedule.metadata = options.metadata;
        self.insert_schedule(schedule, options.conflict_policy)
            .await?;
        Ok(id)
    }

    /// Adds a complete schedule under a conflict policy. Its first fire time is computed from
    /// the trigger, and a missing misfire grace time is copied from the task (APScheduler 4).
    ///
    /// # Errors
    ///
    /// Unknown task, a conflict under policy `exception`, a trigger failure or a store failure.
    pub async fn insert_schedule(
        &self,
        mut schedule: Schedule,
        policy: ConflictPolicy,
    ) -> Result<AddScheduleOutcome, Error> {
        let task = self
            .inner
            .store
            .get_task(&schedule.task_id)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                kind: ObjectKind::Task,
                id: schedule.task_id.to_string(),
            })?;
        if schedule.misfire_grace_time.is_none() {
            schedule.misfire_grace_time = task.misfire_grace_time;
        }
        if schedule.next_fire_time.is_none() && schedule.last_fire_time.is_none() {
            schedule.next_fire_time = schedule.trigger.next()?.map(|t| t.timestamp());
        }
        let (id, task_id, next_fire_time) = (
            schedule.id.clone(),
            schedule.task_id.clone(),
            schedule.next_fire_time,
        );
        let outcome = self.inner.store.add_schedule(schedule, policy).await?;
        let timestamp = self.inner.clock.now();
        match outcome {
            AddScheduleOutcome::Added => {
                self.publish(Event::ScheduleAdded {
                    timestamp,
                    schedule_id: id,
                    task_id,
                    next_fire_time,
                })
                .await;
            }
            AddScheduleOutcome::Replaced => {
                self.publish(Event::ScheduleUpdated {
                    timestamp,
                    schedule_id: id,
                    task_id,
                    next_fire_time,
                })
                .await;
            }
            AddScheduleOutcome::Kept => {}
        }
        Ok(outcome)
    }

    /// Pauses a schedule: it creates no jobs until resumed.
    ///
    /// # Errors
    ///
    /// Unknown schedule or a store failure.
    pub async fn pause_schedule(&self, id: &ScheduleId) -> Result<Schedule, Error> {
        let schedule = self.inner.store.set_paused(id, true, None).await?;
        self.announce_update(&schedule).await;
        Ok(schedule)
    }

    /// Resumes a schedule. With `skip_missed`, fire times that passed while it was paused are
    /// skipped; otherwise they are handled by its coalesce policy.
    ///
    /// # Errors
    ///
    /// Unknown schedule, a trigger failure or a store failure.
    pub async fn resume_schedule(
        &self,
        id: &ScheduleId,
        skip_missed: bool,
    ) -> Result<Schedule, Error> {
        let mut next = None;
        if skip_missed {
            let current =
                self.inner
                    .store
                    .get_schedule(id)
                    .await?
                    .ok_or_else(|| StoreError::NotFound {
                        kind: ObjectKind::Schedule,
                        id: id.to_string(),
                    })?;
            let now = self.inner.clock.now();
            let mut trigger = current.trigger;
            let mut fire = current.next_fire_time;
            while fire.is_some_and(|at| at < now) {
                fire = trigger.next()?.map(|t| t.timestamp());
            }
            next = Some((trigger, fire));
        }
        let schedule = self.inner.store.set_paused(id, false, next).await?;
        self.announce_update(&schedule).await;
        Ok(schedule)
    }

    async fn announce_update(&self, schedule: &Schedule) {
        self.publish(Event::ScheduleUpdated {
            timestamp: self.inner.clock.now(),
            schedule_id: schedule.id.clone(),
            task_id: schedule.task_id.clone(),
            next_fire_time: schedule.next_fire_time,
        })
        .await;
    }

    /// Removes a schedule (its queued jobs still run).
    ///
    /// # Errors
    ///
    /// Unknown schedule or a store failure.
    pub async fn remove_schedule(&self, id: &ScheduleId) -> Result<(), Error> {
        let removed = self
            .inner
            .store
            .remove_schedules(std::slice::from_ref(id))
            .await?;
        let Some(schedule) = removed.into_iter().next() else {
            return Err(StoreError::NotFound {
                kind: ObjectKind::Schedule,
                id: id.to_string(),
            }
            .into());
        };
        self.publish(Event::ScheduleRemoved {
            timestamp: self.inner.clock.now(),
            schedule_id: schedule.id,
            task_id: schedule.task_id,
            finished: false,
        })
        .await;
        Ok(())
    }

    /// Queues a job.
    ///
    /// # Errors
    ///
    /// An invalid job or a store failure.
    pub async fn add_job(&self, job: Job) -> Result<JobId, Error> {
        let (id, task_id) = (job.id, job.task_id.clone());
        self.inner.store.add_jobs(vec![job]).await?;
        self.publish(Event::JobAdded {
            timestamp: self.inner.clock.now(),
            job_id: id,
            task_id,
            schedule_id: None,
        })
        .await;
        Ok(id)
    }

    /// A new job of `task` with positional arguments, created now.
    pub fn new_job(&self, task: &TaskId, args: Vec<Value>) -> Job {
        let mut job = Job::new(task.clone(), self.inner.clock.now());
        job.args = args;
        job
    }

    /// The job's stored result; with `wait`, waits until a queued or running job finishes.
    /// `None` when the job finished without keeping a result (expiration 0) or is unknown.
    ///
    /// # Errors
    ///
    /// A store failure.
    pub async fn get_job_result(&self, id: &JobId, wait: bool) -> Result<Option<JobResult>, Error> {
        let mut events = self.inner.broker.subscribe_to(&[EventKind::JobReleased]);
        loop {
            if let Some(result) = self.inner.store.get_job_result(id).await? {
                let retried = self
                    .inner
                    .store
                    .get_job(id)
                    .await?
                    .is_some_and(|job| job.attempt > result.attempt);
                if !retried {
                    return Ok(Some(result));
                }
            }
            if !wait || self.inner.store.get_job(id).await?.is_none() {
                return Ok(None);
            }
            // Re-check now and then even without an event (another node's broker may be local).
            tokio::select! {
                () = wait_released(&mut events, *id) => {}
                () = self.inner.clock.sleep(self.inner.config.poll_interval) => {}
            }
        }
    }

    /// Queues a job of `task` and waits for its result (kept for 15 minutes).
    ///
    /// # Errors
    ///
    /// A store failure, or a `NotFound` error if the result could not be read back.
    pub async fn run_job(&self, task: &TaskId, args: Vec<Value>) -> Result<JobResult, Error> {
        let mut job = self.new_job(task, args);
        job.result_expiration_time = RUN_JOB_RESULT_EXPIRATION;
        let id = self.add_job(job).await?;
        self.get_job_result(&id, true).await?.ok_or_else(|| {
            StoreError::NotFound {
                kind: ObjectKind::Result,
                id: id.to_string(),
            }
            .into()
        })
    }

    /// Starts the node's services for its role, and its heartbeat (its record in the
    /// store). Calling it again does nothing.
    pub async fn start(&self) {
        if self.inner.started.swap(true, Ordering::SeqCst) {
            return;
        }
        let inner = &self.inner;
        let config = &inner.config;
        let shutdown = inner.shutdown.clone();
        let heartbeat = Heartbeat::new(
            inner.store.clone(),
            inner.clock.clone(),
            inner.jobs.running().clone(),
            HeartbeatConfig {
                role: config.role,
                lease_duration: config.lease_duration,
                max_concurrent_jobs: u32::try_from(config.max_concurrent_jobs).unwrap_or(u32::MAX),
                interval: config.lease_duration / 3,
                ..HeartbeatConfig::new(config.node_id.clone())
            },
        );
        let token = inner.keeper_shutdown.clone();
        inner
            .keeper
            .spawn(async move { heartbeat.run_loop(token).await });
        if config.role != SchedulerRole::Worker {
            let processor = ScheduleProcessor::new(
                inner.store.clone(),
                inner.broker.clone(),
                inner.clock.clone(),
                ScheduleProcessorConfig {
                    lease_duration: config.lease_duration,
                    poll_interval: config.poll_interval,
                    ..ScheduleProcessorConfig::new(config.node_id.clone())
                },
            );
            let token = shutdown.clone();
            inner
                .services
                .spawn(async move { processor.run_loop(token).await });
        }
        if config.role != SchedulerRole::Scheduler {
            let jobs = inner.jobs.clone();
            let token = shutdown.clone();
            inner
                .services
                .spawn(async move { jobs.run_loop(token).await });
            let keeper = LeaseKeeper::new(
                inner.store.clone(),
                inner.clock.clone(),
                inner.jobs.running().clone(),
                config.node_id.clone(),
                config.lease_duration,
            );
            let token = inner.keeper_shutdown.clone();
            inner
                .keeper
                .spawn(async move { keeper.run_loop(token).await });
        }
        let reaper = Reaper::new(
            inner.store.clone(),
            inner.broker.clone(),
            inner.clock.clone(),
            config.node_id.clone(),
            config.lease_duration / 3,
        );
        let token = shutdown.clone();
        inner
            .services
            .spawn(async move { reaper.run_loop(token).await });
        let cleanup = Cleanup::new(
            inner.store.clone(),
            inner.broker.clone(),
            inner.clock.clone(),
            config.cleanup_interval,
        );
        let token = shutdown;
        inner
            .services
            .spawn(async move { cleanup.run_loop(token).await });
        self.publish(Event::SchedulerStarted {
            timestamp: inner.clock.now(),
            node_id: config.node_id.clone(),
            role: config.role,
        })
        .await;
    }

    /// Stops gracefully (invariant 9): no new work is taken, running jobs get the grace
    /// period to finish and are then cancelled, every result is released, and the node's
    /// record is removed from the store (best effort: a failure is logged, and cleanup
    /// deletes the record later).
    pub async fn stop(&self) {
        let inner = &self.inner;
        inner.shutdown.cancel();
        inner.services.close();
        inner.services.wait().await;
        // The lease keeper and the heartbeat go on while running jobs finish.
        inner.jobs.drain(inner.config.stop_grace_period).await;
        self.stop_keeper().await;
        if inner.started.load(Ordering::SeqCst)
            && let Err(error) = inner.store.remove_node(&inner.config.node_id).await
        {
            tracing::warn!(
                %error,
                node_id = %inner.config.node_id,
                "removing the node's record failed; cleanup will delete it"
            );
        }
        self.publish(Event::SchedulerStopped {
            timestamp: inner.clock.now(),
            node_id: inner.config.node_id.clone(),
            error: None,
        })
        .await;
    }

    /// Stops at once as if the process had died: nothing is released, no event is sent and
    /// the node's record stays (no longer refreshed), so other nodes reap this node's jobs
    /// when their leases lapse (for failover tests).
    pub async fn halt(&self) {
        self.inner.jobs.halt();
        self.inner.shutdown.cancel();
        self.inner.services.close();
        self.inner.services.wait().await;
        self.stop_keeper().await;
    }

    async fn stop_keeper(&self) {
        self.inner.keeper_shutdown.cancel();
        self.inner.keeper.close();
        self.inner.keeper.wait().await;
    }

    /// The time according to this node's clock.
    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }
}

/// A new schedule's settings besides its task and trigger, for
/// [`Scheduler::add_schedule`]. The defaults are APScheduler 4's: a generated id, not
/// paused, coalesce `latest`, the task's misfire grace time, no jitter, results not kept,
/// conflict policy `do_nothing`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScheduleOptions {
    /// The schedule's id; `None` generates one (a UUID).
    pub id: Option<ScheduleId>,
    /// Positional arguments for every job.
    pub args: Vec<Value>,
    /// Keyword arguments for every job.
    pub kwargs: serde_json::Map<String, Value>,
    /// Whether the schedule starts paused.
    pub paused: bool,
    /// Which of several due fire times get a job.
    pub coalesce: CoalescePolicy,
    /// How late a job may start; `None` takes the task's.
    pub misfire_grace_time: Option<Duration>,
    /// The most random delay added to each fire time.
    pub max_jitter: Option<Duration>,
    /// How long job results are kept (zero: not stored).
    pub job_result_expiration_time: Duration,
    /// Free-form data copied to every job.
    pub metadata: serde_json::Map<String, Value>,
    /// What to do when a schedule with this id exists.
    pub conflict_policy: ConflictPolicy,
}

impl ScheduleOptions {
    /// The defaults with the given schedule id.
    pub fn with_id(id: ScheduleId) -> ScheduleOptions {
        ScheduleOptions {
            id: Some(id),
            ..ScheduleOptions::default()
        }
    }
}

async fn wait_released(events: &mut Subscription, id: JobId) {
    loop {
        match events.recv().await.as_deref() {
            Some(Event::JobReleased { job_id, .. }) if *job_id == id => return,
            Some(_) => {}
            None => std::future::pending().await,
        }
    }
}
