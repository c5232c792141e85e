//! The data model: defaults, JSON shapes, validation, round-trips.

use std::time::Duration;

use horae::event::{Event, EventKind};
use horae::model::*;
use horae::trigger::Trigger;
use jiff::Timestamp;
use proptest::prelude::*;
use serde_json::{Value, json};

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn cron() -> Trigger {
    Trigger::parse(r#"{"type":"cron","hour":3,"timezone":"Europe/Berlin","start_time":"2026-01-01T00:00:00+01:00"}"#, Timestamp::UNIX_EPOCH)
        .unwrap()
}

#[test]
fn defaults_follow_apscheduler_4() {
    let task = Task::new(TaskId::new("backup").unwrap(), ExecutorKind::Command);
    assert_eq!(task.max_running_jobs, Some(1));
    assert_eq!(task.misfire_grace_time, None);
    assert_eq!(task.retry, None);
    let schedule = Schedule::new(ScheduleId::new("nightly").unwrap(), task.id.clone(), cron());
    assert_eq!(schedule.coalesce, CoalescePolicy::Latest);
    assert_eq!(schedule.job_result_expiration_time, Duration::ZERO);
    assert!(!schedule.paused);
    assert_eq!(ConflictPolicy::default(), ConflictPolicy::DoNothing);
    let job = Job::new(task.id.clone(), ts("2026-01-01T00:00:00Z"));
    assert_eq!(job.attempt, 1);
    assert_eq!(job.result_expiration_time, Duration::ZERO);
    let result = JobResult::new(&job, JobOutcome::Success, None, ts("2026-01-01T00:00:01Z"));
    assert!(!result.should_store(), "expiration 0 keeps no result");
}

#[test]
fn task_json_uses_field_names_and_human_durations() {
    let text = r#"{"id":"backup","executor":"command","timeout":"10m","misfire_grace_time":"1m",
                   "retry":{"max_attempts":3,"initial":"1s","max":"1m"}}"#;
    let task: Task = serde_json::from_str(text).unwrap();
    assert_eq!(task.timeout, Some(Duration::from_secs(600)));
    assert_eq!(
        task.max_running_jobs,
        Some(1),
        "missing means the default of 1"
    );
    let unlimited: Task =
        serde_json::from_str(r#"{"id":"t","executor":"async","max_running_jobs":null}"#).unwrap();
    assert_eq!(unlimited.max_running_jobs, None, "null means unlimited");
    let out = serde_json::to_value(&task).unwrap();
    assert_eq!(out["timeout"], json!("10m"));
    assert_eq!(out["retry"]["initial"], json!("1s"));
    assert_eq!(out["max_running_jobs"], json!(1));
    assert_eq!(serde_json::from_value::<Task>(out).unwrap(), task);
}

#[test]
fn schedule_json_round_trips_with_trigger_state() {
    let mut schedule = Schedule::new(
        ScheduleId::new("nightly").unwrap(),
        TaskId::new("backup").unwrap(),
        cron(),
    );
    schedule.next_fire_time = schedule.trigger.next().unwrap().map(|z| z.timestamp());
    schedule.args = vec![json!(1), json!("two")];
    schedule.max_jitter = Some(Duration::from_millis(1500));
    let value = serde_json::to_value(&schedule).unwrap();
    for key in [
        "id",
        "task_id",
        "trigger",
        "paused",
        "coalesce",
        "next_fire_time",
        "last_fire_time",
        "acquired_by",
    ] {
        assert!(value.get(key).is_some(), "missing {key} in {value}");
    }
    assert_eq!(value["next_fire_time"], json!("2026-01-01T02:00:00Z"));
    assert_eq!(value["max_jitter"], json!("1s500ms"));
    let mut back: Schedule = serde_json::from_value(value).unwrap();
    assert_eq!(back, schedule);
    let (a, b) = (
        schedule.trigger.next().unwrap(),
        back.trigger.next().unwrap(),
    );
    assert_eq!(a, b, "the restored trigger continues where it stopped");
}

#[test]
fn invalid_models_are_rejected_naming_the_field() {
    let mut task = Task::new(TaskId::new("t").unwrap(), ExecutorKind::Async);
    task.max_running_jobs = Some(0);
    assert_eq!(task.validate().unwrap_err().field(), "max_running_jobs");
    task.max_running_jobs = None;
    task.timeout = Some(Duration::ZERO);
    assert_eq!(task.validate().unwrap_err().field(), "timeout");
    task.timeout = None;
    task.retry = Some(RetryPolicy::new(
        0,
        Duration::from_secs(1),
        Duration::from_secs(1),
    ));
    assert_eq!(task.validate().unwrap_err().field(), "retry.max_attempts");

    let mut job = Job::new(TaskId::new("t").unwrap(), ts("2026-01-01T00:00:00Z"));
    job.attempt = 0;
    assert_eq!(job.validate().unwrap_err().field(), "attempt");
    job.attempt = 1;
    job.acquired_by = Some("node".into());
    assert_eq!(job.validate().unwrap_err().field(), "acquired_by");

    for bad in [
        r#"{"id":"a b","executor":"async"}"#,
        r#"{"id":"t","executor":"thread"}"#,
        r#"{"id":"t","executor":"async","timeout":"ten minutes"}"#,
        r#"{"id":"t","executor":"async","timeout":-1}"#,
        r#"{"id":"t","executor":"async","max_running_jobs":true}"#,
        r#"{"id":"t","executor":"async","unknown":1}"#,
    ] {
        assert!(serde_json::from_str::<Task>(bad).is_err(), "{bad}");
    }
}

#[test]
fn job_timings() {
    let mut job = Job::new(TaskId::new("t").unwrap(), ts("2026-01-01T00:00:00Z"));
    job.scheduled_fire_time = Some(ts("2026-01-01T03:00:02Z"));
    job.jitter = Duration::from_secs(2);
    assert_eq!(
        job.original_scheduled_time(),
        Some(ts("2026-01-01T03:00:00Z"))
    );
    job.result_expiration_time = Duration::from_secs(3600);
    let result = JobResult::new(
        &job,
        JobOutcome::TimedOut,
        Some(ts("2026-01-01T03:00:02Z")),
        ts("2026-01-01T03:10:00Z"),
    );
    assert_eq!(result.expires_at, ts("2026-01-01T04:10:00Z"));
    assert!(result.should_store());
    let back: JobResult = serde_json::from_value(serde_json::to_value(&result).unwrap()).unwrap();
    assert_eq!(back, result);
    assert_eq!(
        serde_json::to_value(&result).unwrap()["outcome"],
        json!("timed_out")
    );
}

#[test]
fn events_serialize_with_a_type_tag() {
    let at = ts("2026-01-01T00:00:00Z");
    let job_id: JobId = "0190b7a4-0000-7000-8000-000000000001".parse().unwrap();
    let task_id = TaskId::new("backup").unwrap();
    let schedule_id = ScheduleId::new("nightly").unwrap();
    let cases: Vec<(Event, Value)> = vec![
        (
            Event::TaskAdded {
                timestamp: at,
                task_id: task_id.clone(),
            },
            json!({"type": "task_added", "timestamp": "2026-01-01T00:00:00Z", "task_id": "backup"}),
        ),
        (
            Event::ScheduleUpdated {
                timestamp: at,
                schedule_id: schedule_id.clone(),
                task_id: task_id.clone(),
                next_fire_time: None,
            },
            json!({"type": "schedule_updated", "timestamp": "2026-01-01T00:00:00Z", "schedule_id": "nightly", "task_id": "backup", "next_fire_time": null}),
        ),
        (
            Event::ScheduleRemoved {
                timestamp: at,
                schedule_id: schedule_id.clone(),
                task_id: task_id.clone(),
                finished: true,
            },
            json!({"type": "schedule_removed", "timestamp": "2026-01-01T00:00:00Z", "schedule_id": "nightly", "task_id": "backup", "finished": true}),
        ),
        (
            Event::JobAcquired {
                timestamp: at,
                job_id,
                node_id: "n1".into(),
                task_id: task_id.clone(),
                schedule_id: Some(schedule_id.clone()),
                scheduled_fire_time: Some(at),
                attempt: 1,
                lease_token: 7,
            },
            json!({"type": "job_acquired", "timestamp": "2026-01-01T00:00:00Z", "job_id": "0190b7a4-0000-7000-8000-000000000001",
                "node_id": "n1", "task_id": "backup", "schedule_id": "nightly", "scheduled_fire_time": "2026-01-01T00:00:00Z",
                "attempt": 1, "lease_token": 7}),
        ),
        (
            Event::JobReleased {
                timestamp: at,
                job_id,
                node_id: "n1".into(),
                task_id: task_id.clone(),
                schedule_id: None,
                scheduled_fire_time: None,
                started_at: Some(at),
                finished_at: at,
                outcome: JobOutcome::Abandoned,
                attempt: 2,
                error: Some("node died".into()),
            },
            json!({"type": "job_released", "timestamp": "2026-01-01T00:00:00Z", "job_id": "0190b7a4-0000-7000-8000-000000000001",
                "node_id": "n1", "task_id": "backup", "schedule_id": null, "scheduled_fire_time": null,
                "started_at": "2026-01-01T00:00:00Z", "finished_at": "2026-01-01T00:00:00Z", "outcome": "abandoned",
                "attempt": 2, "error": "node died"}),
        ),
        (
            Event::JobLeaseLost {
                timestamp: at,
                job_id,
                node_id: "n2".into(),
                task_id: task_id.clone(),
                lease_token: 3,
            },
            json!({"type": "job_lease_lost", "timestamp": "2026-01-01T00:00:00Z", "job_id": "0190b7a4-0000-7000-8000-000000000001",
                "node_id": "n2", "task_id": "backup", "lease_token": 3}),
        ),
        (
            Event::SchedulerStarted {
                timestamp: at,
                node_id: "n1".into(),
                role: SchedulerRole::Worker,
            },
            json!({"type": "scheduler_started", "timestamp": "2026-01-01T00:00:00Z", "node_id": "n1", "role": "worker"}),
        ),
    ];
    for (event, expected) in cases {
        assert_eq!(serde_json::to_value(&event).unwrap(), expected);
        assert_eq!(serde_json::from_value::<Event>(expected).unwrap(), event);
        assert_eq!(event.timestamp(), at);
    }
    let released = Event::JobLeaseLost {
        timestamp: at,
        job_id,
        node_id: "n".into(),
        task_id,
        lease_token: 1,
    };
    assert_eq!(released.kind(), EventKind::JobLeaseLost);
    assert!(
        serde_json::from_value::<Event>(
            json!({"type": "job_exploded", "timestamp": "2026-01-01T00:00:00Z"})
        )
        .is_err()
    );
}

proptest! {
    #[test]
    fn tasks_round_trip(
        id in "[a-z][a-z0-9_.:@-]{0,40}",
        max_running in proptest::option::of(1u32..1000),
        grace_ms in proptest::option::of(0u64..10_000_000),
        timeout_ms in proptest::option::of(1u64..10_000_000),
        attempts in 1u32..10,
    ) {
        let mut task = Task::new(TaskId::new(id).unwrap(), ExecutorKind::Blocking);
        task.max_running_jobs = max_running;
        task.misfire_grace_time = grace_ms.map(Duration::from_millis);
        task.timeout = timeout_ms.map(Duration::from_millis);
        task.retry = Some(RetryPolicy::new(attempts, Duration::from_millis(250), Duration::from_secs(60)));
        prop_assert!(task.validate().is_ok());
        let text = serde_json::to_string(&task).unwrap();
        prop_assert_eq!(serde_json::from_str::<Task>(&text).unwrap(), task);
    }

    #[test]
    fn jobs_round_trip(seconds in 0i64..4_000_000_000, attempt in 1u32..100, token in any::<u64>(), jitter_us in 0u64..10_000_000) {
        let now = Timestamp::from_second(seconds).unwrap();
        let mut job = Job::new(TaskId::new("t").unwrap(), now);
        job.attempt = attempt;
        job.lease_token = token;
        job.jitter = Duration::from_micros(jitter_us);
        job.acquired_by = Some("node-1".into());
        job.acquired_until = Some(now);
        let text = serde_json::to_string(&job).unwrap();
        prop_assert_eq!(serde_json::from_str::<Job>(&text).unwrap(), job);
    }
}
