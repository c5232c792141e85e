//! The schedule processor on the memory store, with a virtual clock.

use std::sync::Arc;
use std::time::Duration;

use horae::broker::{EventBroker, LocalBroker};
use horae::clock::{Clock, VirtualClock};
use horae::event::EventKind;
use horae::model::{CoalescePolicy, ConflictPolicy, Schedule, ScheduleId, TaskId};
use horae::scheduler::schedule_processor::{ScheduleProcessor, ScheduleProcessorConfig};
use horae::store::{DataStore, MemoryStore};
use horae::trigger::Trigger;
use jiff::{SignedDuration, Timestamp};

fn t0() -> Timestamp {
    "2026-06-01T12:00:00Z".parse().unwrap()
}

fn at(seconds: i64) -> Timestamp {
    t0() + SignedDuration::from_secs(seconds)
}

struct Fixture {
    store: Arc<dyn DataStore>,
    broker: Arc<LocalBroker>,
    clock: Arc<VirtualClock>,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            store: Arc::new(MemoryStore::new()),
            broker: Arc::new(LocalBroker::new()),
            clock: Arc::new(VirtualClock::new(t0())),
        }
    }

    fn processor(&self, node: &str) -> ScheduleProcessor {
        ScheduleProcessor::new(
            self.store.clone(),
            self.broker.clone(),
            self.clock.clone(),
            ScheduleProcessorConfig::new(node),
        )
    }

    /// Adds a schedule, computing its first fire time as the engine does.
    async fn add(&self, id: &str, trigger: &str, setup: impl FnOnce(&mut Schedule)) {
        let mut trigger = Trigger::parse(trigger, self.clock.now()).unwrap();
        let first = trigger.next().unwrap().map(|t| t.timestamp());
        let mut schedule = Schedule::new(
            ScheduleId::new(id).unwrap(),
            TaskId::new("t").unwrap(),
            trigger,
        );
        schedule.next_fire_time = first;
        setup(&mut schedule);
        self.store
            .add_schedule(schedule, ConflictPolicy::Exception)
            .await
            .unwrap();
    }

    async fn fire_times(&self) -> Vec<Timestamp> {
        let mut times: Vec<Timestamp> = self
            .store
            .get_jobs()
            .await
            .unwrap()
            .iter()
            .filter_map(|j| j.scheduled_fire_time)
            .collect();
        times.sort();
        times
    }
}

const EVERY_MINUTE: &str = r#"{"type":"interval","minutes":1,"start_time":"2026-06-01T12:00:00Z"}"#;

async fn backlog_with(coalesce: CoalescePolicy) -> (Fixture, Schedule) {
    let fx = Fixture::new();
    fx.add("s", EVERY_MINUTE, |s| s.coalesce = coalesce).await;
    tokio::time::advance(Duration::from_secs(150)).await;
    let report = fx.processor("n1").process_due().await.unwrap();
    assert_eq!((report.acquired, report.released, report.lost), (1, 1, 0));
    let schedule = fx
        .store
        .get_schedule(&ScheduleId::new("s").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(schedule.next_fire_time, Some(at(180)));
    assert_eq!(schedule.acquired_by, None);
    (fx, schedule)
}

#[tokio::test(start_paused = true)]
async fn coalesce_latest_creates_one_job_for_the_last_due_time() {
    let (fx, schedule) = backlog_with(CoalescePolicy::Latest).await;
    assert_eq!(fx.fire_times().await, [at(120)]);
    assert_eq!(schedule.last_fire_time, Some(at(120)));
}

#[tokio::test(start_paused = true)]
async fn coalesce_earliest_creates_one_job_for_the_first_due_time() {
    let (fx, schedule) = backlog_with(CoalescePolicy::Earliest).await;
    assert_eq!(fx.fire_times().await, [at(0)]);
    assert_eq!(
        schedule.last_fire_time,
        Some(at(0)),
        "APScheduler 4 records the earliest"
    );
}

#[tokio::test(start_paused = true)]
async fn coalesce_all_creates_one_job_per_due_time() {
    let (fx, schedule) = backlog_with(CoalescePolicy::All).await;
    assert_eq!(fx.fire_times().await, [at(0), at(60), at(120)]);
    assert_eq!(schedule.last_fire_time, Some(at(120)));
}

#[tokio::test(start_paused = true)]
async fn nothing_happens_before_the_fire_time_and_the_trigger_resumes_where_it_stopped() {
    let fx = Fixture::new();
    fx.add(
        "s",
        r#"{"type":"cron","second":"*/10","start_time":"2026-06-01T12:00:05Z"}"#,
        |_| {},
    )
    .await;
    let processor = fx.processor("n1");
    let mut fired = Vec::new();
    for _ in 0..6 {
        processor.process_due().await.unwrap();
        tokio::time::advance(Duration::from_secs(5)).await;
        fired = fx.fire_times().await;
    }
    assert_eq!(fired, [at(10), at(20)], "one job per fire time, none early");
}

#[tokio::test(start_paused = true)]
async fn misfire_grace_time_sets_the_start_deadline_and_results_expiry_is_copied() {
    let fx = Fixture::new();
    fx.add("s", EVERY_MINUTE, |s| {
        s.misfire_grace_time = Some(Duration::from_secs(10));
        s.job_result_expiration_time = Duration::from_secs(3600);
        s.args = vec![serde_json::json!("x")];
    })
    .await;
    fx.processor("n1").process_due().await.unwrap();
    let job = fx.store.get_jobs().await.unwrap().remove(0);
    assert_eq!(job.start_deadline, Some(at(10)));
    assert_eq!(job.result_expiration_time, Duration::from_secs(3600));
    assert_eq!(job.args, [serde_json::json!("x")]);
    assert_eq!(job.not_before, None, "no jitter: ready at once");
}

#[tokio::test(start_paused = true)]
async fn jitter_delays_each_job_by_less_than_the_gap_to_the_next_fire_time() {
    let fx = Fixture::new();
    fx.add("s", EVERY_MINUTE, |s| {
        s.coalesce = CoalescePolicy::All;
        s.max_jitter = Some(Duration::from_secs(3600));
    })
    .await;
    tokio::time::advance(Duration::from_secs(300)).await;
    fx.processor("n1").process_due().await.unwrap();
    let jobs = fx.store.get_jobs().await.unwrap();
    assert_eq!(jobs.len(), 6);
    let jitters: Vec<Duration> = jobs.iter().map(|j| j.jitter).collect();
    for job in &jobs {
        assert!(
            job.jitter < Duration::from_secs(60),
            "capped by the 60 s gap: {:?}",
            job.jitter
        );
        assert_eq!(
            job.not_before, job.scheduled_fire_time,
            "jitter really delays the job"
        );
        let original = job.original_scheduled_time().unwrap();
        assert_eq!(
            original.as_second() % 60,
            0,
            "the fire time before jitter is on the minute"
        );
    }
    assert!(jitters.iter().any(|j| !j.is_zero()));
}

#[tokio::test(start_paused = true)]
async fn an_exhausted_trigger_leaves_no_next_fire_time() {
    let fx = Fixture::new();
    fx.add(
        "once",
        r#"{"type":"date","run_time":"2026-06-01T12:00:30Z"}"#,
        |_| {},
    )
    .await;
    tokio::time::advance(Duration::from_secs(31)).await;
    fx.processor("n1").process_due().await.unwrap();
    let schedule = fx
        .store
        .get_schedule(&ScheduleId::new("once").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (schedule.next_fire_time, schedule.last_fire_time),
        (None, Some(at(30)))
    );
    assert_eq!(fx.fire_times().await, [at(30)]);
    assert_eq!(fx.processor("n1").process_due().await.unwrap().acquired, 0);
}

#[tokio::test(start_paused = true)]
async fn events_announce_new_jobs_and_updated_schedules() {
    let fx = Fixture::new();
    let mut events = fx.broker.subscribe();
    fx.add("s", EVERY_MINUTE, |_| {}).await;
    fx.processor("n1").process_due().await.unwrap();
    let first = events.recv().await.unwrap();
    let second = events.recv().await.unwrap();
    assert_eq!(
        (first.kind(), second.kind()),
        (EventKind::JobAdded, EventKind::ScheduleUpdated)
    );
}

/// Several nodes processing the same store concurrently produce exactly one job per fire
/// time (DESIGN.md invariant 6).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_processors_create_one_job_per_fire_time() {
    let store: Arc<dyn DataStore> = Arc::new(MemoryStore::new());
    let broker: Arc<dyn EventBroker> = Arc::new(LocalBroker::new());
    // Real time, but every schedule's backlog is already due.
    let clock: Arc<dyn Clock> = Arc::new(horae::clock::SystemClock);
    let start = Timestamp::from_second(clock.now().as_second() - 3600).unwrap();
    for i in 0..200 {
        let spec = format!(
            r#"{{"type":"interval","seconds":{},"start_time":"{start}"}}"#,
            60 + i
        );
        let mut trigger = Trigger::parse(&spec, start).unwrap();
        let first = trigger.next().unwrap().map(|t| t.timestamp());
        let mut schedule = Schedule::new(
            ScheduleId::new(format!("s{i}")).unwrap(),
            TaskId::new("t").unwrap(),
            trigger,
        );
        schedule.next_fire_time = first;
        schedule.coalesce = CoalescePolicy::All;
        store
            .add_schedule(schedule, ConflictPolicy::Exception)
            .await
            .unwrap();
    }
    let mut nodes = Vec::new();
    for n in 0..4 {
        let processor = ScheduleProcessor::new(
            store.clone(),
            broker.clone(),
            clock.clone(),
            ScheduleProcessorConfig {
                batch_size: 7,
                ..ScheduleProcessorConfig::new(format!("n{n}"))
            },
        );
        nodes.push(tokio::spawn(async move {
            while processor.process_due().await.unwrap().acquired > 0 {}
        }));
    }
    for node in nodes {
        node.await.unwrap();
    }
    let jobs = store.get_jobs().await.unwrap();
    let mut keys: Vec<_> = jobs
        .iter()
        .map(|j| (j.schedule_id.clone(), j.scheduled_fire_time))
        .collect();
    let total = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), total, "a fire time got two jobs");
    let expected: usize = (0..200).map(|i| 3600 / (60 + i) + 1).sum();
    assert!(
        total >= expected,
        "{total} jobs, expected at least {expected}"
    );
}
