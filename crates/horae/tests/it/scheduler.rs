//! The scheduler end to end on the memory store: handlers, failures, retries, schedules,
//! leases and the APScheduler 4 lease bug.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use horae::broker::{EventBroker, LocalBroker};
use horae::clock::{Clock, VirtualClock};
use horae::event::Event;
use horae::model::{
    CoalescePolicy, ConflictPolicy, ExecutorKind, JobId, JobOutcome, RetryPolicy, Schedule,
    ScheduleId, Task, TaskId,
};
use horae::scheduler::handler::{Handler, HandlerError};
use horae::scheduler::{Scheduler, SchedulerConfig};
use horae::store::{DataStore, MemoryStore};
use horae::trigger::Trigger;
use serde_json::json;

fn task(id: &str) -> Task {
    Task::new(TaskId::new(id).unwrap(), ExecutorKind::Async)
}

fn fast(node: &str) -> SchedulerConfig {
    SchedulerConfig {
        node_id: node.to_owned(),
        poll_interval: Duration::from_millis(50),
        stop_grace_period: Duration::from_secs(1),
        ..SchedulerConfig::default()
    }
}

async fn started(config: SchedulerConfig) -> Scheduler {
    let scheduler = Scheduler::builder().config(config).build().unwrap();
    scheduler.start().await;
    scheduler
}

#[tokio::test]
async fn async_and_blocking_handlers_return_values() {
    let scheduler = started(fast("n1")).await;
    scheduler
        .configure_task(
            task("add"),
            Handler::from_async(|ctx| async move {
                let (a, b): (i64, i64) = ctx.args()?;
                Ok(a + b)
            }),
        )
        .await
        .unwrap();
    scheduler
        .configure_task(
            task("blocking"),
            Handler::from_blocking(|ctx| {
                std::thread::sleep(Duration::from_millis(20));
                Ok(ctx.job.attempt)
            }),
        )
        .await
        .unwrap();
    let sum = scheduler
        .run_job(&TaskId::new("add").unwrap(), vec![json!(2), json!(40)])
        .await
        .unwrap();
    assert_eq!(
        (sum.outcome, sum.return_value.clone()),
        (JobOutcome::Success, Some(json!(42)))
    );
    assert_eq!(sum.value::<i64>().unwrap(), 42, "typed return values");
    assert!(sum.value::<String>().is_err());
    let blocking = scheduler
        .run_job(&TaskId::new("blocking").unwrap(), vec![])
        .await
        .unwrap();
    assert_eq!(blocking.return_value, Some(json!(1)));
    scheduler
        .configure_task(
            task("unserializable"),
            Handler::from_async(|_| async {
                Ok(std::collections::HashMap::from([(
                    (1, 2),
                    "tuple keys are not JSON",
                )]))
            }),
        )
        .await
        .unwrap();
    let unserializable = scheduler
        .run_job(&TaskId::new("unserializable").unwrap(), vec![])
        .await
        .unwrap();
    assert_eq!(unserializable.outcome, JobOutcome::Error);
    assert!(
        unserializable
            .error
            .unwrap()
            .starts_with("the return value is not valid JSON")
    );
    let bad_args = scheduler
        .run_job(&TaskId::new("add").unwrap(), vec![json!("x")])
        .await
        .unwrap();
    assert_eq!(bad_args.outcome, JobOutcome::Error);
    assert!(bad_args.error.unwrap().contains("invalid job arguments"));
    scheduler.stop().await;
}

#[tokio::test]
async fn panics_and_timeouts_become_results_and_the_node_keeps_running() {
    let scheduler = started(fast("n1")).await;
    scheduler
        .configure_task(
            task("panics"),
            Handler::from_async::<_, _, ()>(|_| async { panic!("boom") }),
        )
        .await
        .unwrap();
    scheduler
        .configure_task(
            task("panics-early"),
            // Panics while making its future, before anything is polled.
            Handler::from_async(|_| {
                if true {
                    panic!("early boom");
                }
                async { Ok(json!(null)) }
            }),
        )
        .await
        .unwrap();
    scheduler
        .configure_task(
            task("blocking-panics"),
            Handler::from_blocking::<_, ()>(|_| panic!("blocking boom")),
        )
        .await
        .unwrap();
    let mut slow = task("slow");
    slow.timeout = Some(Duration::from_millis(100));
    scheduler
        .configure_task(
            slow,
            Handler::from_async(|_| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok(json!(null))
            }),
        )
        .await
        .unwrap();
    scheduler
        .configure_task(
            task("ok"),
            Handler::from_async(|_| async { Ok(json!("fine")) }),
        )
        .await
        .unwrap();

    let panicked = scheduler
        .run_job(&TaskId::new("panics").unwrap(), vec![])
        .await
        .unwrap();
    assert_eq!(panicked.outcome, JobOutcome::Error);
    assert_eq!(panicked.error.as_deref(), Some("handler panicked: boom"));
    let early = scheduler
        .run_job(&TaskId::new("panics-early").unwrap(), vec![])
        .await
        .unwrap();
    assert_eq!(early.error.as_deref(), Some("handler panicked: early boom"));
    let blocking = scheduler
        .run_job(&TaskId::new("blocking-panics").unwrap(), vec![])
        .await
        .unwrap();
    assert_eq!(
        blocking.error.as_deref(),
        Some("handler panicked: blocking boom")
    );
    let timed_out = scheduler
        .run_job(&TaskId::new("slow").unwrap(), vec![])
        .await
        .unwrap();
    assert_eq!(timed_out.outcome, JobOutcome::TimedOut);
    let ok = scheduler
        .run_job(&TaskId::new("ok").unwrap(), vec![])
        .await
        .unwrap();
    assert_eq!(ok.outcome, JobOutcome::Success, "the node survived");
    scheduler.stop().await;
}

#[tokio::test]
async fn failed_attempts_are_retried_per_the_task_policy() {
    let scheduler = started(fast("n1")).await;
    let mut flaky = task("flaky");
    flaky.retry = Some(RetryPolicy::new(
        3,
        Duration::from_millis(10),
        Duration::from_millis(50),
    ));
    scheduler
        .configure_task(
            flaky,
            Handler::from_async(|ctx| async move {
                if ctx.job.attempt < 3 {
                    Err(HandlerError::failed(format!(
                        "attempt {} failed",
                        ctx.job.attempt
                    )))
                } else {
                    Ok(json!("third time lucky"))
                }
            }),
        )
        .await
        .unwrap();
    let result = scheduler
        .run_job(&TaskId::new("flaky").unwrap(), vec![])
        .await
        .unwrap();
    assert_eq!((result.outcome, result.attempt), (JobOutcome::Success, 3));
    let mut cancel = task("gives-up");
    cancel.retry = Some(RetryPolicy::new(
        5,
        Duration::from_millis(10),
        Duration::from_millis(50),
    ));
    scheduler
        .configure_task(
            cancel,
            Handler::from_async::<_, _, ()>(|_| async {
                Err(HandlerError::Cancel("do not retry".into()))
            }),
        )
        .await
        .unwrap();
    let result = scheduler
        .run_job(&TaskId::new("gives-up").unwrap(), vec![])
        .await
        .unwrap();
    assert_eq!((result.outcome, result.attempt), (JobOutcome::Error, 1));
    scheduler.stop().await;
}

#[tokio::test]
async fn add_schedule_applies_its_options_and_conflict_policy() {
    let scheduler = started(fast("n1")).await;
    let (sender, mut received) = tokio::sync::mpsc::unbounded_channel();
    scheduler
        .configure_task(
            task("greet"),
            Handler::from_async(move |ctx| {
                let sender = sender.clone();
                async move {
                    let _ = sender.send((ctx.job.schedule_id.clone(), ctx.job.args.clone()));
                    Ok(json!(null))
                }
            }),
        )
        .await
        .unwrap();
    let greet = TaskId::new("greet").unwrap();
    let soon = |scheduler: &Scheduler| {
        let at = (scheduler.now() + jiff::SignedDuration::from_millis(50))
            .round(jiff::Unit::Millisecond)
            .unwrap();
        Trigger::parse(&format!(r#"{{"type":"date","run_time":"{at}"}}"#), at).unwrap()
    };

    let generated = scheduler
        .add_schedule(&greet, soon(&scheduler), Default::default())
        .await
        .unwrap();
    let other = scheduler
        .add_schedule(&greet, soon(&scheduler), Default::default())
        .await
        .unwrap();
    assert_ne!(generated, other, "every generated id is new");

    let id = ScheduleId::new("hello").unwrap();
    let options = horae::scheduler::ScheduleOptions {
        args: vec![json!("world")],
        coalesce: CoalescePolicy::All,
        misfire_grace_time: Some(Duration::from_secs(7)),
        conflict_policy: ConflictPolicy::Exception,
        ..horae::scheduler::ScheduleOptions::with_id(id.clone())
    };
    let added = scheduler
        .add_schedule(&greet, soon(&scheduler), options.clone())
        .await
        .unwrap();
    assert_eq!(added, id);
    let stored = scheduler.store().get_schedule(&id).await.unwrap().unwrap();
    assert_eq!(stored.coalesce, CoalescePolicy::All);
    assert_eq!(stored.misfire_grace_time, Some(Duration::from_secs(7)));
    assert!(stored.next_fire_time.is_some(), "first fire time computed");
    let conflict = scheduler
        .add_schedule(&greet, soon(&scheduler), options)
        .await;
    assert!(conflict.is_err(), "policy exception refuses an existing id");

    let mut seen = HashMap::new();
    while seen.len() < 3 {
        let (schedule, args) = tokio::time::timeout(Duration::from_secs(5), received.recv())
            .await
            .expect("all three schedules fire")
            .unwrap();
        seen.insert(schedule.unwrap(), args);
    }
    assert_eq!(seen[&id], vec![json!("world")]);
    assert_eq!(seen[&generated], Vec::<serde_json::Value>::new());
    scheduler.stop().await;
}

#[tokio::test]
async fn a_changed_task_applies_to_the_next_job() {
    let scheduler = started(fast("n1")).await;
    let sleepy = || {
        Handler::from_async(|_| async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok(())
        })
    };
    scheduler
        .configure_task(task("sleepy"), sleepy())
        .await
        .unwrap();
    let id = TaskId::new("sleepy").unwrap();
    let first = scheduler.run_job(&id, vec![]).await.unwrap();
    assert_eq!(first.outcome, JobOutcome::Success);
    // The job processor has the task cached now; the update event must evict it.
    let mut limited = task("sleepy");
    limited.timeout = Some(Duration::from_millis(50));
    scheduler.configure_task(limited, sleepy()).await.unwrap();
    let second = scheduler.run_job(&id, vec![]).await.unwrap();
    assert_eq!(
        second.outcome,
        JobOutcome::TimedOut,
        "the new timeout applies at once"
    );
    scheduler.stop().await;
}

#[tokio::test]
async fn a_job_for_a_task_without_handler_here_fails_with_a_clear_error() {
    let scheduler = started(fast("n1")).await;
    scheduler.store().put_task(task("elsewhere")).await.unwrap();
    let result = scheduler
        .run_job(&TaskId::new("elsewhere").unwrap(), vec![])
        .await
        .unwrap();
    assert_eq!(result.outcome, JobOutcome::Error);
    assert_eq!(
        result.error.as_deref(),
        Some("no handler for task 'elsewhere' on node 'n1'")
    );
    scheduler.stop().await;
}

/// One run of a job attempt: node, start, end.
type Run = (String, jiff::Timestamp, Option<jiff::Timestamp>);

/// Runs keyed by (job, attempt).
type RunsByAttempt = HashMap<(JobId, u32), Vec<Run>>;

/// Records every start of every job attempt.
#[derive(Clone, Default)]
struct Starts(Arc<Mutex<RunsByAttempt>>);

impl Starts {
    fn handler(&self, clock: Arc<dyn Clock>, run_for: Duration) -> Handler {
        let starts = self.clone();
        Handler::from_async(move |ctx| {
            let starts = starts.clone();
            let clock = clock.clone();
            async move {
                let key = (ctx.job.id, ctx.job.attempt);
                starts.0.lock().unwrap().entry(key).or_default().push((
                    ctx.node_id.clone(),
                    clock.now(),
                    None,
                ));
                clock.sleep(run_for).await;
                if let Some(last) = starts
                    .0
                    .lock()
                    .unwrap()
                    .get_mut(&key)
                    .and_then(|v| v.last_mut())
                {
                    last.2 = Some(clock.now());
                }
                Ok(json!(null))
            }
        })
    }

    fn assert_no_double_start(&self) -> usize {
        let starts = self.0.lock().unwrap();
        for (key, runs) in starts.iter() {
            assert_eq!(
                runs.len(),
                1,
                "job attempt {key:?} started {} times: {runs:?}",
                runs.len()
            );
        }
        starts.len()
    }
}

/// APScheduler 4's seed bug in virtual time (60 s of schedule time in milliseconds).
#[tokio::test(start_paused = true)]
async fn jobs_outliving_their_lease_are_never_started_twice() {
    let epoch: jiff::Timestamp = "2026-06-01T12:00:00Z".parse().unwrap();
    seed_bug_scenario(Arc::new(VirtualClock::new(epoch)), epoch).await;
}

/// The same on the real clock, for a real minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_outliving_their_lease_are_never_started_twice_in_real_time() {
    let epoch = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second()).unwrap();
    seed_bug_scenario(Arc::new(horae::clock::SystemClock), epoch).await;
}

/// APScheduler 4's seed bug: an interval schedule every second whose job takes 5 s, with a
/// 2 s lease, on two schedulers sharing one store, for 60 s. No job attempt starts twice,
/// leases are extended (no lease lost, nothing abandoned), and every fire time gets exactly
/// one job.
async fn seed_bug_scenario(clock: Arc<dyn Clock>, epoch: jiff::Timestamp) {
    let store: Arc<dyn DataStore> = Arc::new(MemoryStore::new());
    let broker: Arc<dyn EventBroker> = Arc::new(LocalBroker::new());
    let starts = Starts::default();
    let mut events = broker.subscribe();
    let mut nodes = Vec::new();
    for node in ["a", "b"] {
        let scheduler = Scheduler::builder()
            .store(store.clone())
            .broker(broker.clone())
            .clock(clock.clone())
            .config(SchedulerConfig {
                lease_duration: Duration::from_secs(2),
                ..fast(node)
            })
            .build()
            .unwrap();
        let mut seed = task("seed");
        seed.max_running_jobs = None;
        scheduler
            .configure_task(seed, starts.handler(clock.clone(), Duration::from_secs(5)))
            .await
            .unwrap();
        nodes.push(scheduler);
    }
    let first = epoch + jiff::SignedDuration::from_secs(1);
    let spec = format!(r#"{{"type":"interval","seconds":1,"start_time":"{first}"}}"#);
    let trigger = Trigger::parse(&spec, epoch).unwrap();
    let mut schedule = Schedule::new(
        ScheduleId::new("every-second").unwrap(),
        TaskId::new("seed").unwrap(),
        trigger,
    );
    schedule.coalesce = CoalescePolicy::All;
    nodes[0]
        .insert_schedule(schedule, ConflictPolicy::Exception)
        .await
        .unwrap();
    for node in &nodes {
        node.start().await;
    }
    clock.sleep(Duration::from_secs(60)).await;
    for node in &nodes {
        node.stop().await;
    }
    let mut lost = 0;
    let mut released = HashMap::new();
    while let Ok(Some(event)) = tokio::time::timeout(Duration::from_millis(1), events.recv()).await
    {
        match &*event {
            Event::JobLeaseLost { .. } => lost += 1,
            Event::JobReleased { outcome, .. } => *released.entry(*outcome).or_insert(0) += 1,
            _ => {}
        }
    }
    let started = starts.assert_no_double_start();
    assert!(started >= 55, "only {started} jobs started");
    assert_eq!(lost, 0, "leases were kept alive");
    assert_eq!(
        released.get(&JobOutcome::Abandoned),
        None,
        "nothing abandoned: {released:?}"
    );
    assert!(
        released.get(&JobOutcome::Success).copied().unwrap_or(0) >= 50,
        "{released:?}"
    );
    let mut fire_times: Vec<_> = store
        .get_jobs()
        .await
        .unwrap()
        .iter()
        .filter_map(|j| j.scheduled_fire_time)
        .collect();
    let queued = fire_times.len();
    fire_times.dedup();
    assert_eq!(fire_times.len(), queued);
}

/// A node never runs more jobs at once than its `max_concurrent_jobs`, however its
/// acquisitions overlap, and every job still runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_never_runs_more_jobs_at_once_than_its_capacity() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    const CAPACITY: usize = 3;
    let scheduler = started(SchedulerConfig {
        max_concurrent_jobs: CAPACITY,
        ..fast("n1")
    })
    .await;
    let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (now, peak) = (running.clone(), most.clone());
    let mut busy = task("busy");
    busy.max_running_jobs = None;
    scheduler
        .configure_task(
            busy,
            Handler::from_async(move |_| {
                let (now, peak) = (now.clone(), peak.clone());
                async move {
                    let at_once = now.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(at_once, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    now.fetch_sub(1, Ordering::SeqCst);
                    Ok(())
                }
            }),
        )
        .await
        .unwrap();
    let mut jobs = tokio::task::JoinSet::new();
    for _ in 0..40 {
        let scheduler = scheduler.clone();
        jobs.spawn(async move {
            scheduler
                .run_job(&TaskId::new("busy").unwrap(), vec![])
                .await
                .unwrap()
        });
    }
    let results = jobs.join_all().await;
    assert!(results.iter().all(|r| r.outcome == JobOutcome::Success));
    assert_eq!(results.len(), 40);
    let peak = most.load(Ordering::SeqCst);
    assert!(
        peak <= CAPACITY,
        "{peak} jobs ran at once on a node of capacity {CAPACITY}"
    );
    assert!(
        peak > 1,
        "jobs never overlapped, so the capacity was not exercised"
    );
    scheduler.stop().await;
}
