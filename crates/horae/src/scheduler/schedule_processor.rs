//! The schedule processor: turns due schedules into jobs.
//!
//! One pass acquires up to `batch_size` due schedules under a lease, advances each trigger
//! past `now`, and writes the new fire times together with the jobs in one atomic release
//! (DESIGN.md invariant 6), then publishes `JobAdded` and `ScheduleUpdated`. Which due fire
//! times get a job follows the schedule's coalesce policy, as in APScheduler 4: `earliest`
//! and `latest` create one job (for the first or the last due time), `all` one per due time.
//!
//! Unlike APScheduler 4, jitter really delays the job (it is not acquired before its
//! jittered fire time), and a trigger that fails to compute its next fire time ends the
//! schedule (next fire time `None`) instead of making it due again at once.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::broker::{EventBroker, Subscription, publish_or_log};
use crate::clock::{Clock, add};
use crate::error::StoreError;
use crate::event::{Event, EventKind};
use crate::model::{CoalescePolicy, Job, JobId, Schedule, ScheduleId};
use crate::random;
use crate::store::{DataStore, ScheduleRelease};

/// How many times the configured batch size a pass may grow to while schedules are overdue.
const MAX_BATCH_GROWTH: usize = 10;

/// How a schedule processor works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleProcessorConfig {
    /// The node's id, recorded in leases.
    pub node_id: String,
    /// How long a schedule stays leased to this node while it is processed (default 30 s).
    pub lease_duration: Duration,
    /// The most schedules acquired per pass (default 100, as in APScheduler 4); while passes
    /// come back full, the next ones grow up to ten times this.
    pub batch_size: usize,
    /// The most jobs one schedule creates per pass under coalesce policy `all` (default
    /// 10,000); further due fire times are handled in the next pass.
    pub max_jobs_per_schedule: usize,
    /// The longest wait between passes when no event arrives (default 1 s).
    pub poll_interval: Duration,
}

impl ScheduleProcessorConfig {
    /// The defaults for node `node_id`.
    pub fn new(node_id: impl Into<String>) -> ScheduleProcessorConfig {
        ScheduleProcessorConfig {
            node_id: node_id.into(),
            lease_duration: Duration::from_secs(30),
            batch_size: 100,
            max_jobs_per_schedule: 10_000,
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Schedules acquired.
    pub acquired: usize,
    /// Schedules released with new fire times.
    pub released: usize,
    /// Schedules this node lost before releasing them (nothing written).
    pub lost: usize,
    /// Jobs inserted.
    pub jobs_added: usize,
}

/// Turns due schedules into jobs (see the module docs).
pub struct ScheduleProcessor {
    store: Arc<dyn DataStore>,
    broker: Arc<dyn EventBroker>,
    clock: Arc<dyn Clock>,
    config: ScheduleProcessorConfig,
}

impl ScheduleProcessor {
    /// A processor working on `store`, publishing to `broker`, timed by `clock`.
    pub fn new(
        store: Arc<dyn DataStore>,
        broker: Arc<dyn EventBroker>,
        clock: Arc<dyn Clock>,
        config: ScheduleProcessorConfig,
    ) -> ScheduleProcessor {
        ScheduleProcessor {
            store,
            broker,
            clock,
            config,
        }
    }

    /// Processes one batch of due schedules.
    ///
    /// # Errors
    ///
    /// The store's error if acquiring or releasing fails; acquired schedules are then left
    /// to their lease, and another pass (here or on another node) picks them up.
    pub async fn process_due(&self) -> Result<PassReport, StoreError> {
        self.process_batch(self.config.batch_size).await
    }

    /// Processes up to `limit` due schedules (see [`ScheduleProcessor::process_due`]).
    async fn process_batch(&self, limit: usize) -> Result<PassReport, StoreError> {
        let now = self.clock.now();
        let node = self.config.node_id.as_str();
        let schedules = self
            .store
            .acquire_schedules(node, self.config.lease_duration, limit, now)
            .await?;
        let mut report = PassReport {
            acquired: schedules.len(),
            ..PassReport::default()
        };
        metrics::gauge!("horae_schedules_due").set(schedules.len() as f64);
        if schedules.is_empty() {
            return Ok(report);
        }
        let releases: Vec<ScheduleRelease> = schedules
            .iter()
            .map(|schedule| plan(schedule, now, self.config.max_jobs_per_schedule))
            .collect();
        // What the events need, kept before the releases move into the store.
        let planned: Vec<(Vec<JobId>, Option<Timestamp>)> = releases
            .iter()
            .map(|r| (r.jobs.iter().map(|job| job.id).collect(), r.next_fire_time))
            .collect();
        let outcome = self.store.release_schedules(node, releases).await?;
        report.released = outcome.released.len();
        report.lost = outcome.lost.len();
        report.jobs_added = outcome.jobs_added.len();
        metrics::counter!("horae_schedules_processed_total").increment(report.released as u64);
        metrics::counter!("horae_schedule_jobs_added_total").increment(report.jobs_added as u64);

        let added: HashSet<JobId> = outcome.jobs_added.iter().copied().collect();
        let released: HashSet<&ScheduleId> = outcome.released.iter().collect();
        for (schedule, (job_ids, next_fire_time)) in schedules.iter().zip(planned) {
            for job_id in job_ids.into_iter().filter(|id| added.contains(id)) {
                self.publish(Event::JobAdded {
                    timestamp: now,
                    job_id,
                    task_id: schedule.task_id.clone(),
                    schedule_id: Some(schedule.id.clone()),
                })
                .await;
            }
            if released.contains(&schedule.id) {
                self.publish(Event::ScheduleUpdated {
                    timestamp: now,
                    schedule_id: schedule.id.clone(),
                    task_id: schedule.task_id.clone(),
                    next_fire_time,
                })
                .await;
            }
        }
        Ok(report)
    }

    /// Processes due schedules until `shutdown`: at once while full batches come back,
    /// otherwise at the next fire time, at an earlier one announced by an event, or after the
    /// poll interval; backs off while the store is unavailable (invariant 10).
    pub async fn run_loop(&self, shutdown: CancellationToken) {
        let mut events = self
            .broker
            .subscribe_to(&[EventKind::ScheduleAdded, EventKind::ScheduleUpdated]);
        let mut backoff = Backoff::new();
        // A backlog (a full pass) doubles the next pass, up to `MAX_BATCH_GROWTH` times the
        // configured size, so a node keeps up with many due schedules in fewer round trips.
        let base = self.config.batch_size.max(1);
        let mut limit = base;
        while !shutdown.is_cancelled() {
            let wait = match self.process_batch(limit).await {
                Ok(report) if report.acquired >= limit => {
                    backoff.reset();
                    limit = limit
                        .saturating_mul(2)
                        .min(base.saturating_mul(MAX_BATCH_GROWTH));
                    continue;
                }
                Ok(_) => {
                    backoff.reset();
                    limit = base;
                    let next = self.store.next_schedule_run_time().await.unwrap_or(None);
                    let now = self.clock.now();
                    let until_next = next.map_or(self.config.poll_interval, |at| {
                        Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO)
                    });
                    until_next.min(self.config.poll_interval)
                }
                Err(error) => {
                    metrics::counter!("horae_store_errors_total", "operation" => "process_schedules")
                        .increment(1);
                    limit = base;
                    let wait = backoff.next_delay();
                    tracing::warn!(%error, retry_in = ?wait, "processing schedules failed");
                    wait
                }
            };
            let deadline = add(self.clock.now(), wait);
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.clock.sleep_until(deadline) => {}
                () = earlier_schedule(&mut events, deadline) => {}
            }
        }
    }

    async fn publish(&self, event: Event) {
        publish_or_log(&*self.broker, event).await;
    }
}

/// Waits for an event announcing a schedule due before `deadline`.
async fn earlier_schedule(events: &mut Subscription, deadline: Timestamp) {
    loop {
        match events.recv().await.as_deref() {
            Some(
                Event::ScheduleAdded {
                    next_fire_time: Some(at),
                    ..
                }
                | Event::ScheduleUpdated {
                    next_fire_time: Some(at),
                    ..
                },
            ) if *at < deadline => {
                return;
            }
            Some(_) => {}
            None => std::future::pending().await,
        }
    }
}

/// Computes a due schedule's jobs, new next fire time and trigger state at `now`.
pub(crate) fn plan(schedule: &Schedule, now: Timestamp, max_jobs: usize) -> ScheduleRelease {
    let mut trigger = schedule.trigger.clone();
    let mut fires: Vec<Timestamp> = schedule.next_fire_time.into_iter().collect();
    let mut next = None;
    loop {
        if schedule.coalesce == CoalescePolicy::All && fires.len() >= max_jobs.max(1) {
            // Leave the rest of the backlog for the next pass.
            next = match trigger.next() {
                Ok(time) => time.map(|t| t.timestamp()),
                Err(_) => None,
            };
            break;
        }
        match trigger.next() {
            Ok(Some(time)) if time.timestamp() <= now => match schedule.coalesce {
                CoalescePolicy::All => fires.push(time.timestamp()),
                CoalescePolicy::Latest => fires = vec![time.timestamp()],
                CoalescePolicy::Earliest => {}
            },
            Ok(Some(time)) => {
                next = Some(time.timestamp());
                break;
            }
            Ok(None) => break,
            Err(error) => {
                tracing::error!(schedule = %schedule.id, %error, "trigger failed; the schedule ends");
                break;
            }
        }
    }
    let jitters = jitters(schedule, &fires, next);
    let jobs = fires
        .iter()
        .zip(jitters)
        .map(|(fire, jitter)| {
            let mut job = Job::new(schedule.task_id.clone(), now);
            let scheduled = add(*fire, jitter);
            job.args = schedule.args.clone();
            job.kwargs = schedule.kwargs.clone();
            job.metadata = schedule.metadata.clone();
            job.schedule_id = Some(schedule.id.clone());
            job.scheduled_fire_time = Some(scheduled);
            job.jitter = jitter;
            job.not_before = (jitter > Duration::ZERO).then_some(scheduled);
            job.start_deadline = schedule
                .misfire_grace_time
                .map(|grace| add(scheduled, grace));
            job.result_expiration_time = schedule.job_result_expiration_time;
            job
        })
        .collect();
    ScheduleRelease {
        schedule_id: schedule.id.clone(),
        trigger,
        next_fire_time: next,
        last_fire_time: fires.last().copied().or(schedule.last_fire_time),
        jobs,
    }
}

/// A random delay per fire time, at most `max_jitter` and always less than the gap to the
/// following fire time (APScheduler's rule, whose reduced cap carries over to later times).
fn jitters(schedule: &Schedule, fires: &[Timestamp], next: Option<Timestamp>) -> Vec<Duration> {
    let Some(mut cap) = schedule.max_jitter.filter(|j| !j.is_zero()) else {
        return vec![Duration::ZERO; fires.len()];
    };
    fires
        .iter()
        .enumerate()
        .map(|(i, fire)| {
            if let Some(following) = fires.get(i + 1).copied().or(next) {
                let gap = following.duration_since(*fire) - SignedDuration::from_micros(1);
                cap = cap.min(Duration::try_from(gap).unwrap_or(Duration::ZERO));
            }
            let fraction =
                random::unit_fraction(random::seed(schedule.id.as_str(), fire.as_microsecond()));
            let micros = (cap.as_micros() as f64 * fraction) as u64;
            Duration::from_micros(micros)
        })
        .collect()
}
