//! Helpers for tests that run several scheduler nodes in one process: each node on its own
//! thread and runtime, a process-wide panic count, polling for a condition instead of
//! sleeping for a fixed time, a log of every job start, interval schedules that keep every
//! fire time, and the check that every fire time got exactly one job.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use horae::model::{CoalescePolicy, JobId, ScheduleId, TaskId};
use horae::scheduler::handler::Handler;
use horae::scheduler::{ScheduleOptions, Scheduler};
use horae::store::DataStore;
use horae::trigger::Trigger;
use jiff::{SignedDuration, Timestamp};
use tokio::sync::oneshot;

/// One start of a job attempt, as its handler recorded it.
#[derive(Debug, Clone)]
pub struct Start {
    /// The node that started it.
    pub node: String,
    /// The job's schedule (`None` for an ad-hoc job).
    pub schedule: Option<ScheduleId>,
    /// The fire time the job was created for.
    pub fire: Option<Timestamp>,
    /// When the job was added.
    pub created: Timestamp,
    /// When the handler started.
    pub at: Timestamp,
}

impl Start {
    /// How long after being added the job started.
    pub fn latency(&self) -> Duration {
        Duration::try_from(self.at - self.created).unwrap_or_default()
    }
}

/// Every start of every job attempt: (job, attempt) → starts (more than one is a double
/// start).
pub type Starts = Arc<Mutex<BTreeMap<(JobId, u32), Vec<Start>>>>;

/// A handler that records each start in `starts`, then runs for `run`.
pub fn recording_handler(starts: &Starts, run: Duration) -> Handler {
    let starts = starts.clone();
    Handler::from_async(move |ctx| {
        let starts = starts.clone();
        async move {
            let job = &ctx.job;
            let start = Start {
                node: ctx.node_id.clone(),
                schedule: job.schedule_id.clone(),
                fire: job.scheduled_fire_time,
                created: job.created_at,
                at: Timestamp::now(),
            };
            starts
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .entry((job.id, job.attempt))
                .or_default()
                .push(start);
            tokio::time::sleep(run).await;
            Ok(serde_json::Value::Null)
        }
    })
}

/// Adds `count` interval schedules of `task` through `scheduler`, firing every `interval`
/// from the first whole second at least 1.5 s ahead, with coalesce `all`, no misfire grace
/// limit and results kept for an hour, so every fire time (even one missed during an
/// outage) gets a job. Returns the first fire time and the schedule ids.
///
/// # Panics
///
/// When the scheduler refuses a schedule.
pub async fn add_interval_schedules(
    scheduler: &Scheduler,
    task: &TaskId,
    count: usize,
    interval: Duration,
) -> (Timestamp, Vec<ScheduleId>) {
    let first_fire = (Timestamp::now() + SignedDuration::from_millis(1500))
        .round(jiff::Unit::Second)
        .expect("a timestamp rounds to the second");
    let spec = format!(
        r#"{{"type":"interval","microseconds":{},"start_time":"{first_fire}"}}"#,
        interval.as_micros()
    );
    let every = horae::duration::format_duration(interval);
    let ids: Vec<ScheduleId> = (0..count)
        .map(|n| ScheduleId::new(format!("every-{every}-{n:02}")).expect("a valid id"))
        .collect();
    for id in &ids {
        let options = ScheduleOptions {
            coalesce: CoalescePolicy::All,
            misfire_grace_time: None,
            job_result_expiration_time: Duration::from_secs(3600),
            ..ScheduleOptions::with_id(id.clone())
        };
        let trigger = Trigger::parse(&spec, Timestamp::now()).expect("a valid trigger");
        scheduler
            .add_schedule(task, trigger, options)
            .await
            .expect("the schedule is added");
    }
    (first_fire, ids)
}

/// A node on its own thread and Tokio runtime (two workers), as a separate process would
/// be: its connections and tasks live on its runtime, and whatever it still has running
/// ends when its runtime is dropped.
#[derive(Debug)]
pub struct NodeThread {
    name: String,
    stop: oneshot::Sender<()>,
    thread: JoinHandle<()>,
}

impl NodeThread {
    /// Runs `node` on a new thread and runtime. Its future gets a receiver that completes
    /// (or closes) when the test calls [`NodeThread::stop`]; it should then stop its
    /// scheduler and return.
    ///
    /// # Panics
    ///
    /// When the thread or the runtime cannot be created.
    pub fn spawn<F, Fut>(name: impl Into<String>, node: F) -> NodeThread
    where
        F: FnOnce(oneshot::Receiver<()>) -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        let name = name.into();
        let (stop, stopped) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("a node runtime");
                runtime.block_on(node(stopped));
            })
            .expect("a node thread");
        NodeThread { name, stop, thread }
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Tells the node to stop and waits until its thread has ended.
    ///
    /// # Panics
    ///
    /// Passes on the node's panic.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let thread = self.thread;
        let joined = tokio::task::spawn_blocking(move || thread.join())
            .await
            .expect("the joining task ran");
        if let Err(panic) = joined {
            std::panic::resume_unwind(panic);
        }
    }
}

/// Counts every panic in this process from the first call on, on any thread — including
/// those Tokio catches in spawned tasks, which would otherwise pass unnoticed. The previous
/// panic hook still runs (and prints the panic).
pub fn count_panics() -> &'static AtomicUsize {
    static PANICS: OnceLock<AtomicUsize> = OnceLock::new();
    PANICS.get_or_init(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Some(panics) = PANICS.get() {
                panics.fetch_add(1, Ordering::SeqCst);
            }
            previous(info);
        }));
        AtomicUsize::new(0)
    })
}

/// Polls `condition` every 50 ms until it holds; returns how long that took.
///
/// # Panics
///
/// When it does not hold within `limit`; the message names `what`.
pub async fn eventually<F, Fut>(what: &str, limit: Duration, mut condition: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if condition().await {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asserts that each of `schedules` got exactly one job for every fire time from `first`
/// up to (not including) its current next fire time, every `interval`, and no job for any
/// other time: none lost, none doubled. The jobs are those in `ran` (job, schedule, fire
/// time), which may repeat, and those still in `store`. Returns the earliest of the
/// schedules' next fire times.
///
/// # Panics
///
/// When the check fails, a schedule is missing or has no next fire time, or the store fails.
pub async fn assert_one_job_per_fire_time(
    store: &dyn DataStore,
    schedules: &[ScheduleId],
    first: Timestamp,
    interval: Duration,
    ran: impl IntoIterator<Item = (JobId, ScheduleId, Timestamp)>,
) -> Timestamp {
    let mut jobs: BTreeMap<(ScheduleId, Timestamp), BTreeSet<JobId>> = BTreeMap::new();
    let queued = store.get_jobs().await.expect("the store answers");
    let queued = queued.into_iter().filter_map(|job| {
        let fire = job.scheduled_fire_time?;
        Some((job.id, job.schedule_id?, fire))
    });
    for (job, schedule, fire) in ran.into_iter().chain(queued) {
        jobs.entry((schedule, fire)).or_default().insert(job);
    }
    let step = SignedDuration::try_from(interval).expect("a short interval");
    let mut earliest_next: Option<Timestamp> = None;
    for id in schedules {
        let schedule = store
            .get_schedule(id)
            .await
            .expect("the store answers")
            .unwrap_or_else(|| panic!("schedule {id} exists"));
        let next = schedule
            .next_fire_time
            .unwrap_or_else(|| panic!("schedule {id} has a next fire time"));
        earliest_next = Some(earliest_next.map_or(next, |earliest| earliest.min(next)));
        let fired: BTreeMap<Timestamp, &BTreeSet<JobId>> = jobs
            .iter()
            .filter(|((schedule, _), _)| schedule == id)
            .map(|((_, fire), jobs)| (*fire, jobs))
            .collect();
        let mut expected = BTreeSet::new();
        let mut fire = first;
        while fire < next {
            expected.insert(fire);
            fire += step;
        }
        let lost: Vec<_> = expected.iter().filter(|f| !fired.contains_key(f)).collect();
        assert!(lost.is_empty(), "{id} lost the fire times {lost:?}");
        let unexpected: Vec<_> = fired.keys().filter(|f| !expected.contains(f)).collect();
        assert!(
            unexpected.is_empty(),
            "{id} has jobs for times it never fired at: {unexpected:?} (next fire time {next})"
        );
        for (fire, jobs) in &fired {
            assert_eq!(
                jobs.len(),
                1,
                "{id} at {fire} got {} jobs: {jobs:?}",
                jobs.len()
            );
        }
    }
    earliest_next.expect("at least one schedule")
}
