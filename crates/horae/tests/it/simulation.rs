//! Deterministic simulation (DESIGN.md invariant 11): several nodes on one store for days of
//! virtual time, with jobs that outlive their lease, handlers that panic or hang, and nodes
//! that vanish mid-job. Afterwards every invariant of DESIGN.md section 3 that can be seen
//! from outside is checked.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use horae::broker::{EventBroker, LocalBroker};
use horae::clock::{Clock, VirtualClock};
use horae::event::Event;
use horae::model::{
    CoalescePolicy, ConflictPolicy, ExecutorKind, JobId, JobOutcome, RetryPolicy, Schedule,
    ScheduleId, Task, TaskId,
};
use horae::scheduler::handler::Handler;
use horae::scheduler::{Scheduler, SchedulerConfig};
use horae::store::{DataStore, MemoryStore};
use horae::trigger::Trigger;
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

const LEASE: Duration = Duration::from_secs(30);

type StartLog = Arc<Mutex<HashMap<(JobId, u32), Vec<(String, Timestamp)>>>>;

struct World {
    clock: Arc<dyn Clock>,
    store: Arc<dyn DataStore>,
    broker: Arc<dyn EventBroker>,
    starts: StartLog,
}

impl World {
    async fn node(&self, id: &str) -> Scheduler {
        let node = Scheduler::builder()
            .store(self.store.clone())
            .broker(self.broker.clone())
            .clock(self.clock.clone())
            .config(SchedulerConfig {
                node_id: id.to_owned(),
                lease_duration: LEASE,
                max_concurrent_jobs: 10,
                stop_grace_period: Duration::from_secs(5),
                ..SchedulerConfig::default()
            })
            .build()
            .unwrap();
        let tasks: [(&str, Option<Duration>, Option<RetryPolicy>, Handler); 4] = [
            (
                "long",
                None,
                Some(RetryPolicy::new(
                    3,
                    Duration::from_secs(10),
                    Duration::from_secs(60),
                )),
                self.sleeper(Duration::from_secs(90)),
            ),
            (
                "panics",
                None,
                None,
                Handler::from_async::<_, _, ()>(|_| async { panic!("simulated bug") }),
            ),
            (
                "hangs",
                Some(Duration::from_secs(60)),
                None,
                self.sleeper(Duration::from_secs(365 * 86_400)),
            ),
            (
                "quick",
                None,
                None,
                self.sleeper(Duration::from_millis(200)),
            ),
        ];
        for (name, timeout, retry, handler) in tasks {
            let mut task = Task::new(TaskId::new(name).unwrap(), ExecutorKind::Async);
            task.max_running_jobs = None;
            task.timeout = timeout;
            task.retry = retry;
            node.configure_task(task, handler).await.unwrap();
        }
        node.start().await;
        node
    }

    /// A handler that records its start and then takes `run_for` of virtual time.
    fn sleeper(&self, run_for: Duration) -> Handler {
        let (clock, starts) = (self.clock.clone(), self.starts.clone());
        Handler::from_async(move |ctx| {
            let (clock, starts) = (clock.clone(), starts.clone());
            async move {
                let key = (ctx.job.id, ctx.job.attempt);
                starts
                    .lock()
                    .unwrap()
                    .entry(key)
                    .or_default()
                    .push((ctx.node_id.clone(), clock.now()));
                clock.sleep(run_for).await;
                Ok(json!(null))
            }
        })
    }
}

#[tokio::test(start_paused = true)]
async fn days_of_failures_lose_nothing_and_run_nothing_twice() {
    let epoch: Timestamp = "2026-03-07T00:00:00Z".parse().unwrap();
    let world = World {
        clock: Arc::new(VirtualClock::new(epoch)),
        store: Arc::new(MemoryStore::new()),
        broker: Arc::new(LocalBroker::with_capacity(1 << 16)),
        starts: StartLog::default(),
    };
    let mut events = world.broker.subscribe();
    let released: Arc<Mutex<Vec<Arc<Event>>>> = Arc::default();
    let collector = {
        let released = released.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if matches!(*event, Event::JobReleased { .. } | Event::JobAdded { .. }) {
                    released.lock().unwrap().push(event);
                }
            }
        })
    };
    let mut nodes = vec![
        world.node("a").await,
        world.node("b").await,
        world.node("c").await,
    ];
    let schedules = [
        (
            "long-every-5m",
            "long",
            r#"{"type":"interval","minutes":5,"start_time":"2026-03-07T00:00:00Z"}"#,
        ),
        (
            "panics-every-10m",
            "panics",
            r#"{"type":"cron","minute":"*/10","timezone":"America/New_York","start_time":"2026-03-07T00:00:00Z"}"#,
        ),
        (
            "hangs-hourly",
            "hangs",
            r#"{"type":"cron","minute":7,"timezone":"Europe/Berlin","start_time":"2026-03-07T00:00:00Z"}"#,
        ),
        (
            "quick-every-minute",
            "quick",
            r#"{"type":"cron","expr":"* * * * *","timezone":"America/New_York","start_time":"2026-03-07T00:00:00Z"}"#,
        ),
    ];
    for (id, task, spec) in schedules {
        let trigger = Trigger::parse(spec, epoch).unwrap();
        let mut schedule = Schedule::new(
            ScheduleId::new(id).unwrap(),
            TaskId::new(task).unwrap(),
            trigger,
        );
        schedule.coalesce = CoalescePolicy::All;
        schedule.job_result_expiration_time = Duration::from_secs(7 * 86_400);
        nodes[0]
            .insert_schedule(schedule, ConflictPolicy::Exception)
            .await
            .unwrap();
    }
    // Two days, across New York's spring-forward; every few hours a node vanishes mid-job
    // and a fresh one takes its place.
    let mut next_id = 0;
    for hours in [5, 12, 21, 32, 40] {
        // 45 s into a run of the 90 s "long" job, which fires every 5 minutes.
        world
            .clock
            .sleep_until(epoch + SignedDuration::from_secs(hours * 3600 + 45))
            .await;
        let victim = next_id % nodes.len();
        nodes[victim].halt().await;
        next_id += 1;
        nodes[victim] = world.node(&format!("replacement-{next_id}")).await;
    }
    // Long enough for the survivors to reap the last victim's job (its lease lapses, then a
    // reaper pass runs within a third of a lease).
    world.clock.sleep(LEASE * 3).await;
    let end = world.clock.now();
    for node in &nodes {
        node.stop().await;
    }
    collector.abort();

    // Each (schedule, fire time) got exactly one job, and every fire time up to the end did.
    let events = released.lock().unwrap().clone();
    let mut jobs_per_fire: BTreeMap<(String, Timestamp), BTreeSet<JobId>> = BTreeMap::new();
    let mut final_outcome: HashMap<JobId, JobOutcome> = HashMap::new();
    for event in &events {
        if let Event::JobReleased {
            job_id,
            schedule_id: Some(schedule),
            scheduled_fire_time: Some(fire),
            outcome,
            ..
        } = &**event
        {
            jobs_per_fire
                .entry((schedule.to_string(), *fire))
                .or_default()
                .insert(*job_id);
            final_outcome.insert(*job_id, *outcome);
        }
    }
    for job in world.store.get_jobs().await.unwrap() {
        if let (Some(schedule), Some(fire)) = (&job.schedule_id, job.scheduled_fire_time) {
            jobs_per_fire
                .entry((schedule.to_string(), fire))
                .or_default()
                .insert(job.id);
        }
        assert_eq!(
            job.acquired_by, None,
            "a stopped node left job {} leased",
            job.id
        );
    }
    for ((schedule, fire), jobs) in &jobs_per_fire {
        assert_eq!(
            jobs.len(),
            1,
            "{schedule} at {fire} got {} jobs",
            jobs.len()
        );
    }
    for (id, _, spec) in schedules {
        let mut trigger = Trigger::parse(spec, epoch).unwrap();
        while let Some(fire) = trigger.next().unwrap().map(|t| t.timestamp()) {
            if fire > end - SignedDuration::from_secs(600) {
                break;
            }
            assert!(
                jobs_per_fire.contains_key(&(id.to_owned(), fire)),
                "{id} lost its fire time {fire}"
            );
        }
    }

    // No job attempt started twice (a retry or re-queue is a new attempt).
    let starts = world.starts.lock().unwrap();
    for (key, runs) in starts.iter() {
        assert_eq!(
            runs.len(),
            1,
            "job attempt {key:?} started {} times: {runs:?}",
            runs.len()
        );
    }

    // Failures became results; the long jobs on vanished nodes were retried.
    let outcomes = |task_prefix: &str| -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for ((schedule, _), jobs) in &jobs_per_fire {
            if schedule.starts_with(task_prefix) {
                for job in jobs {
                    if let Some(outcome) = final_outcome.get(job) {
                        *counts.entry(outcome.to_string()).or_default() += 1;
                    }
                }
            }
        }
        counts
    };
    let minutes = end.duration_since(epoch).as_secs() / 60;
    let at_least = |counts: &BTreeMap<String, usize>, outcome: &str, expected: i64| {
        let got = counts.get(outcome).copied().unwrap_or(0) as i64;
        assert!(
            got >= expected,
            "{outcome}: {got} < {expected} in {counts:?}"
        );
    };
    let panics = outcomes("panics");
    at_least(&panics, "error", minutes / 10 - 2);
    assert_eq!(
        panics.len(),
        1,
        "every panic is an error result: {panics:?}"
    );
    let hangs = outcomes("hangs");
    at_least(&hangs, "timed_out", minutes / 60 - 2);
    let quick = outcomes("quick");
    at_least(&quick, "success", minutes - 12);
    let long = outcomes("long");
    at_least(&long, "success", minutes / 5 - 3);
    let retried = starts.keys().filter(|(_, attempt)| *attempt > 1).count();
    assert!(
        retried >= 1,
        "vanished nodes' running jobs were retried elsewhere"
    );
}
