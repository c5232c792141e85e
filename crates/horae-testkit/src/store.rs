//! The data store conformance cases (DESIGN.md sections 3 and 5).
//!
//! Each case takes a fresh, empty store. Times are explicit (`now` arguments), so the cases
//! are deterministic and need no sleeping.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use horae::error::StoreError;
use horae::model::{
    CommandAction, ConflictPolicy, ExecutorKind, HttpAction, Job, JobId, JobOutcome, JobResult,
    NodeInfo, RetryPolicy, Schedule, ScheduleId, SchedulerRole, Task, TaskAction, TaskId,
};
use horae::store::{
    AddScheduleOutcome, DEAD_NODE_RETENTION, DataStore, JobRelease, JobReleaseRequest, Reaped,
    ScheduleRelease,
};
use horae::trigger::Trigger;
use jiff::{SignedDuration, Timestamp};

/// The store under test.
pub type Store = Arc<dyn DataStore>;

const LEASE: Duration = Duration::from_secs(30);

/// A fixed instant the cases count from.
pub fn t0() -> Timestamp {
    "2026-06-01T12:00:00Z".parse().unwrap()
}

/// `t0()` plus `seconds`.
pub fn at(seconds: i64) -> Timestamp {
    t0() + SignedDuration::from_secs(seconds)
}

fn task_id(id: &str) -> TaskId {
    TaskId::new(id).unwrap()
}

fn schedule_id(id: &str) -> ScheduleId {
    ScheduleId::new(id).unwrap()
}

fn task(id: &str, max_running: Option<u32>) -> Task {
    let mut task = Task::new(task_id(id), ExecutorKind::Async);
    task.max_running_jobs = max_running;
    task
}

fn trigger() -> Trigger {
    Trigger::parse(
        r#"{"type":"interval","seconds":60,"start_time":"2026-06-01T12:00:00Z"}"#,
        t0(),
    )
    .unwrap()
}

/// A schedule of task `t` due at `next` (or never).
fn schedule(id: &str, next: Option<Timestamp>) -> Schedule {
    let mut schedule = Schedule::new(schedule_id(id), task_id("t"), trigger());
    schedule.next_fire_time = next;
    schedule
}

/// A job of `task`, created at `created`.
fn job(task: &str, created: Timestamp) -> Job {
    Job::new(task_id(task), created)
}

fn scheduled_job(schedule: &str, fire: Timestamp) -> Job {
    let mut job = job("t", fire);
    job.schedule_id = Some(schedule_id(schedule));
    job.scheduled_fire_time = Some(fire);
    job
}

/// The jobs `node` acquires (up to `limit`, with the standard lease) at `now`.
async fn acquired(store: &Store, node: &str, limit: usize, now: Timestamp) -> Vec<Job> {
    store
        .acquire_jobs(node, LEASE, limit, now)
        .await
        .unwrap()
        .acquired
}

fn finish(job: &Job, outcome: JobOutcome, now: Timestamp) -> JobRelease {
    JobRelease::Finish(JobResult::new(job, outcome, job.started_at, now))
}

fn release_of(schedule: &Schedule, next: Option<Timestamp>, jobs: Vec<Job>) -> ScheduleRelease {
    ScheduleRelease {
        schedule_id: schedule.id.clone(),
        trigger: schedule.trigger.clone(),
        next_fire_time: next,
        last_fire_time: schedule.next_fire_time,
        jobs,
    }
}

/// Tasks are upserted (keeping their jobs), listed by id, and removed.
pub async fn tasks_are_upserted_listed_and_removed(store: Store) {
    assert!(
        store.put_task(task("b", Some(1))).await.unwrap(),
        "new task"
    );
    assert!(store.put_task(task("a", None)).await.unwrap());
    assert!(
        !store.put_task(task("b", Some(3))).await.unwrap(),
        "second put updates"
    );
    assert_eq!(
        store
            .get_task(&task_id("b"))
            .await
            .unwrap()
            .unwrap()
            .max_running_jobs,
        Some(3)
    );
    let ids: Vec<String> = store
        .get_tasks()
        .await
        .unwrap()
        .iter()
        .map(|t| t.id.to_string())
        .collect();
    assert_eq!(ids, ["a", "b"]);
    store.remove_task(&task_id("a")).await.unwrap();
    assert!(store.get_task(&task_id("a")).await.unwrap().is_none());
    assert!(matches!(
        store.remove_task(&task_id("a")).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.put_task(task("z", Some(0))).await,
        Err(StoreError::Invalid(_))
    ));
}

/// `do_nothing` keeps the existing schedule, `exception` fails, `replace` overwrites.
pub async fn schedule_conflict_policies(store: Store) {
    let first = schedule("s", Some(at(10)));
    assert_eq!(
        store
            .add_schedule(first, ConflictPolicy::Exception)
            .await
            .unwrap(),
        AddScheduleOutcome::Added
    );
    let second = schedule("s", Some(at(20)));
    assert_eq!(
        store
            .add_schedule(second.clone(), ConflictPolicy::DoNothing)
            .await
            .unwrap(),
        AddScheduleOutcome::Kept
    );
    assert_eq!(
        store
            .get_schedule(&schedule_id("s"))
            .await
            .unwrap()
            .unwrap()
            .next_fire_time,
        Some(at(10))
    );
    let conflict = store
        .add_schedule(second.clone(), ConflictPolicy::Exception)
        .await;
    assert_eq!(
        conflict.unwrap_err().to_string(),
        "schedule 's' already exists"
    );
    assert_eq!(
        store
            .add_schedule(second, ConflictPolicy::Replace)
            .await
            .unwrap(),
        AddScheduleOutcome::Replaced
    );
    assert_eq!(
        store
            .get_schedule(&schedule_id("s"))
            .await
            .unwrap()
            .unwrap()
            .next_fire_time,
        Some(at(20))
    );
    assert_eq!(store.get_schedules().await.unwrap().len(), 1);
    // The replaced time is what acquisition sees.
    assert!(
        store
            .acquire_schedules("n", LEASE, 10, at(15))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .acquire_schedules("n", LEASE, 10, at(20))
            .await
            .unwrap()
            .len(),
        1
    );
}

/// Acquisition takes due, unpaused schedules, earliest first, up to the limit.
pub async fn only_due_unpaused_schedules_are_acquired(store: Store) {
    for (id, next) in [
        ("late", Some(at(50))),
        ("b", Some(at(5))),
        ("a", Some(at(1))),
        ("never", None),
        ("c", Some(at(9))),
    ] {
        store
            .add_schedule(schedule(id, next), ConflictPolicy::Exception)
            .await
            .unwrap();
    }
    let mut paused = schedule("paused", Some(at(0)));
    paused.paused = true;
    store
        .add_schedule(paused, ConflictPolicy::Exception)
        .await
        .unwrap();
    assert_eq!(store.next_schedule_run_time().await.unwrap(), Some(at(1)));
    let got = store
        .acquire_schedules("n1", LEASE, 2, at(10))
        .await
        .unwrap();
    let ids: Vec<&str> = got.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["a", "b"]);
    assert!(
        got.iter()
            .all(|s| s.acquired_by.as_deref() == Some("n1") && s.acquired_until == Some(at(40)))
    );
    let rest = store
        .acquire_schedules("n2", LEASE, 10, at(10))
        .await
        .unwrap();
    assert_eq!(
        rest.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["c"]
    );
    assert!(
        store
            .acquire_schedules("n3", LEASE, 10, at(10))
            .await
            .unwrap()
            .is_empty()
    );
}

/// A schedule whose lease expired (its node died) can be acquired by another node.
pub async fn expired_schedule_leases_can_be_taken_over(store: Store) {
    store
        .add_schedule(schedule("s", Some(at(0))), ConflictPolicy::Exception)
        .await
        .unwrap();
    assert_eq!(
        store
            .acquire_schedules("n1", LEASE, 10, at(0))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .acquire_schedules("n2", LEASE, 10, at(30))
            .await
            .unwrap()
            .is_empty(),
        "lease still valid at its end"
    );
    let taken = store
        .acquire_schedules("n2", LEASE, 10, at(31))
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].acquired_by.as_deref(), Some("n2"));
}

/// Many nodes acquiring at once never get the same schedule.
pub async fn concurrent_schedule_acquisition_never_hands_out_twice(store: Store) {
    for i in 0..300 {
        store
            .add_schedule(
                schedule(&format!("s{i}"), Some(at(i % 7))),
                ConflictPolicy::Exception,
            )
            .await
            .unwrap();
    }
    let mut workers = Vec::new();
    for node in 0..8 {
        let store = store.clone();
        workers.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let batch = store
                    .acquire_schedules(&format!("n{node}"), LEASE, 7, at(10))
                    .await
                    .unwrap();
                if batch.is_empty() {
                    return got;
                }
                got.extend(batch.into_iter().map(|s| s.id));
                tokio::task::yield_now().await;
            }
        }));
    }
    let mut seen = HashSet::new();
    for worker in workers {
        for id in worker.await.unwrap() {
            assert!(seen.insert(id.clone()), "schedule {id} handed out twice");
        }
    }
    assert_eq!(seen.len(), 300);
}

/// Releasing writes the new fire times and inserts the jobs; a fire time never gets two jobs.
pub async fn released_schedules_insert_their_jobs_once(store: Store) {
    store
        .add_schedule(schedule("s", Some(at(0))), ConflictPolicy::Exception)
        .await
        .unwrap();
    let acquired = store
        .acquire_schedules("n1", LEASE, 1, at(0))
        .await
        .unwrap();
    let release = release_of(&acquired[0], Some(at(60)), vec![scheduled_job("s", at(0))]);
    let report = store.release_schedules("n1", vec![release]).await.unwrap();
    assert_eq!(report.released, [schedule_id("s")]);
    assert_eq!(report.jobs_added.len(), 1);
    let stored = store
        .get_schedule(&schedule_id("s"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            stored.next_fire_time,
            stored.last_fire_time,
            stored.acquired_by
        ),
        (Some(at(60)), Some(at(0)), None)
    );
    // Another pass producing the same fire time (e.g. after a crash between steps) adds nothing.
    store
        .add_schedule(schedule("s", Some(at(0))), ConflictPolicy::Replace)
        .await
        .unwrap();
    let again = store
        .acquire_schedules("n2", LEASE, 1, at(1))
        .await
        .unwrap();
    let report = store
        .release_schedules(
            "n2",
            vec![release_of(
                &again[0],
                Some(at(60)),
                vec![scheduled_job("s", at(0)), scheduled_job("s", at(60))],
            )],
        )
        .await
        .unwrap();
    assert_eq!(
        report.jobs_added.len(),
        1,
        "only the new fire time gets a job"
    );
    assert_eq!(store.get_jobs().await.unwrap().len(), 2);
    assert_eq!(
        store
            .add_jobs(vec![scheduled_job("s", at(60))])
            .await
            .unwrap(),
        Vec::<JobId>::new()
    );
}

/// A node whose schedule lease was taken over cannot write back or insert jobs.
pub async fn a_node_cannot_release_a_schedule_it_lost(store: Store) {
    store
        .add_schedule(schedule("s", Some(at(0))), ConflictPolicy::Exception)
        .await
        .unwrap();
    let stale = store
        .acquire_schedules("n1", LEASE, 1, at(0))
        .await
        .unwrap();
    let fresh = store
        .acquire_schedules("n2", LEASE, 1, at(31))
        .await
        .unwrap();
    assert_eq!(fresh.len(), 1);
    let report = store
        .release_schedules(
            "n1",
            vec![release_of(
                &stale[0],
                Some(at(60)),
                vec![scheduled_job("s", at(0))],
            )],
        )
        .await
        .unwrap();
    assert_eq!(report.lost, [schedule_id("s")]);
    assert!(report.jobs_added.is_empty());
    assert!(store.get_jobs().await.unwrap().is_empty());
    assert_eq!(
        store
            .get_schedule(&schedule_id("s"))
            .await
            .unwrap()
            .unwrap()
            .acquired_by
            .as_deref(),
        Some("n2")
    );
}

/// A task's `max_running_jobs` holds across nodes; other tasks' jobs are not blocked.
pub async fn max_running_jobs_holds_across_nodes(store: Store) {
    store.put_task(task("limited", Some(2))).await.unwrap();
    store.put_task(task("free", None)).await.unwrap();
    let mut jobs: Vec<Job> = (0..5).map(|i| job("limited", at(i))).collect();
    jobs.push(job("free", at(10)));
    store.add_jobs(jobs).await.unwrap();
    let a = acquired(&store, "a", 10, at(20)).await;
    assert_eq!(
        a.iter().filter(|j| j.task_id.as_str() == "limited").count(),
        2
    );
    assert_eq!(
        a.iter().filter(|j| j.task_id.as_str() == "free").count(),
        1,
        "not blocked behind the limited task"
    );
    assert!(acquired(&store, "b", 10, at(20)).await.is_empty());
    let first = &a[0];
    store
        .release_job(
            "a",
            &first.id,
            first.lease_token,
            finish(first, JobOutcome::Success, at(21)),
        )
        .await
        .unwrap();
    let b = acquired(&store, "b", 10, at(22)).await;
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].created_at, at(2), "oldest waiting job first");
}

/// Many nodes acquiring jobs at once never get the same job.
pub async fn concurrent_job_acquisition_never_hands_out_twice(store: Store) {
    store.put_task(task("t", None)).await.unwrap();
    store
        .add_jobs((0..500).map(|i| job("t", at(i % 13))).collect())
        .await
        .unwrap();
    let mut workers = Vec::new();
    for node in 0..8 {
        let store = store.clone();
        workers.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let batch = acquired(&store, &format!("n{node}"), 9, at(20)).await;
                if batch.is_empty() {
                    return got;
                }
                got.extend(batch.into_iter().map(|j| j.id));
                tokio::task::yield_now().await;
            }
        }));
    }
    let mut seen = HashSet::new();
    for worker in workers {
        for id in worker.await.unwrap() {
            assert!(seen.insert(id), "job {id} handed out twice");
        }
    }
    assert_eq!(seen.len(), 500);
}

/// `acquire_and_start_jobs` leases and starts in one step: the jobs carry their start
/// time, count against `max_running_jobs` across nodes, and once their lease lapses they
/// are reaped (their node died mid-run), never handed out again as they are.
pub async fn acquiring_and_starting_is_one_step(store: Store) {
    store.put_task(task("limited", Some(2))).await.unwrap();
    store.put_task(task("free", None)).await.unwrap();
    let mut jobs: Vec<Job> = (0..4).map(|i| job("limited", at(i))).collect();
    jobs.push(job("free", at(5)));
    store.add_jobs(jobs).await.unwrap();
    let batch = store
        .acquire_and_start_jobs("a", LEASE, 10, at(10))
        .await
        .unwrap();
    assert_eq!(batch.acquired.len(), 3, "two limited, one free");
    for job in &batch.acquired {
        assert_eq!(job.started_at, Some(at(10)));
        assert_eq!(job.acquired_by.as_deref(), Some("a"));
        let stored = store.get_job(&job.id).await.unwrap().unwrap();
        assert_eq!(stored.started_at, Some(at(10)), "the start is stored");
    }
    assert!(
        store
            .acquire_and_start_jobs("b", LEASE, 10, at(11))
            .await
            .unwrap()
            .acquired
            .is_empty(),
        "max_running_jobs counts started jobs of other nodes"
    );
    assert!(
        acquired(&store, "b", 10, at(41)).await.len() <= 2,
        "expired started jobs are not handed out again"
    );
    let reaped = store.reap_expired(at(41)).await.unwrap();
    assert_eq!(reaped.len(), 3, "their node died mid-run: reaped");
}

/// `release_jobs` writes every release it is allowed to and reports the jobs whose lease
/// the node no longer holds, writing nothing for them.
pub async fn batched_releases_are_fenced_per_job(store: Store) {
    store.put_task(task("t", None)).await.unwrap();
    let mut jobs: Vec<Job> = (0..6).map(|i| job("t", at(i))).collect();
    for j in &mut jobs {
        j.result_expiration_time = Duration::from_secs(3600);
    }
    store.add_jobs(jobs).await.unwrap();
    let held = store
        .acquire_and_start_jobs("a", LEASE, 6, at(10))
        .await
        .unwrap()
        .acquired;
    assert_eq!(held.len(), 6);
    let mut requests: Vec<JobReleaseRequest> = held
        .iter()
        .take(4)
        .map(|job| JobReleaseRequest {
            id: job.id,
            lease_token: job.lease_token,
            release: finish(job, JobOutcome::Success, at(11)),
        })
        .collect();
    // A stale token and another node's claim are refused.
    requests[1].lease_token += 1;
    let retried = &held[4];
    requests.push(JobReleaseRequest {
        id: retried.id,
        lease_token: retried.lease_token,
        release: JobRelease::Retry {
            result: JobResult::new(retried, JobOutcome::Error, retried.started_at, at(11)),
            at: at(100),
        },
    });
    let lost = store.release_jobs("a", requests).await.unwrap();
    assert_eq!(lost, vec![held[1].id]);
    let lost_elsewhere = store
        .release_jobs(
            "b",
            vec![JobReleaseRequest {
                id: held[5].id,
                lease_token: held[5].lease_token,
                release: finish(&held[5], JobOutcome::Success, at(11)),
            }],
        )
        .await
        .unwrap();
    assert_eq!(lost_elsewhere, vec![held[5].id]);
    for finished in [&held[0], &held[2], &held[3]] {
        assert!(store.get_job(&finished.id).await.unwrap().is_none());
        let result = store.get_job_result(&finished.id).await.unwrap().unwrap();
        assert_eq!(result.outcome, JobOutcome::Success);
    }
    for kept in [&held[1], &held[5]] {
        assert!(store.get_job(&kept.id).await.unwrap().is_some());
        assert!(store.get_job_result(&kept.id).await.unwrap().is_none());
    }
    let requeued = store.get_job(&retried.id).await.unwrap().unwrap();
    assert_eq!(
        (requeued.attempt, requeued.started_at),
        (retried.attempt + 1, None)
    );
    assert!(acquired(&store, "a", 10, at(99)).await.is_empty());
    assert_eq!(acquired(&store, "a", 10, at(100)).await.len(), 1);
    assert!(
        store
            .release_jobs("a", Vec::new())
            .await
            .unwrap()
            .is_empty(),
        "an empty batch is fine"
    );
}

/// A job whose node never started it and let the lease lapse is simply handed out again,
/// same attempt, with a new fencing token.
pub async fn unstarted_jobs_with_expired_leases_are_handed_out_again(store: Store) {
    store.put_task(task("t", Some(1))).await.unwrap();
    store.add_jobs(vec![job("t", at(0))]).await.unwrap();
    let first = acquired(&store, "n1", 1, at(0)).await.remove(0);
    assert!(
        acquired(&store, "n2", 1, at(30)).await.is_empty(),
        "lease still valid"
    );
    let second = acquired(&store, "n2", 1, at(31)).await.remove(0);
    assert_eq!(second.id, first.id);
    assert_eq!(second.attempt, first.attempt);
    assert!(second.lease_token > first.lease_token);
    assert!(
        store.reap_expired(at(100)).await.unwrap().is_empty(),
        "a never-started job is freed, not reaped"
    );
}

/// A stalled node that wakes up finds its start and release fenced off (invariants 3, 8).
pub async fn stale_nodes_are_fenced_off(store: Store) {
    store.put_task(task("t", Some(1))).await.unwrap();
    store.add_jobs(vec![job("t", at(0))]).await.unwrap();
    let stale = acquired(&store, "n1", 1, at(0)).await.remove(0);
    let fresh = acquired(&store, "n2", 1, at(31)).await.remove(0);
    assert!(matches!(
        store
            .start_job("n1", &stale.id, stale.lease_token, at(32))
            .await,
        Err(StoreError::LeaseLost { .. })
    ));
    store
        .start_job("n2", &fresh.id, fresh.lease_token, at(32))
        .await
        .unwrap();
    let refused = store
        .release_job(
            "n1",
            &stale.id,
            stale.lease_token,
            finish(&stale, JobOutcome::Success, at(33)),
        )
        .await;
    assert!(matches!(refused, Err(StoreError::LeaseLost { .. })));
    // The refused release changed nothing: the running count still blocks a second job.
    store.add_jobs(vec![job("t", at(1))]).await.unwrap();
    assert!(acquired(&store, "n1", 5, at(34)).await.is_empty());
    store
        .release_job(
            "n2",
            &fresh.id,
            fresh.lease_token,
            finish(&fresh, JobOutcome::Success, at(35)),
        )
        .await
        .unwrap();
    assert!(
        matches!(
            store
                .release_job(
                    "n2",
                    &fresh.id,
                    fresh.lease_token,
                    finish(&fresh, JobOutcome::Success, at(35))
                )
                .await,
            Err(StoreError::LeaseLost { .. })
        ),
        "a second release of the same job is refused, never double-counted"
    );
    assert_eq!(acquired(&store, "n1", 5, at(36)).await.len(), 1);
}

/// The same node acquiring its own lapsed job again gets a new token; the old token is
/// fenced off (APScheduler 4 hands the job to the same scheduler and crashes on release).
pub async fn a_node_reacquiring_its_own_job_is_fenced_by_token(store: Store) {
    store.put_task(task("t", Some(1))).await.unwrap();
    store.add_jobs(vec![job("t", at(0))]).await.unwrap();
    let old = acquired(&store, "n1", 1, at(0)).await.remove(0);
    let new = acquired(&store, "n1", 1, at(31)).await.remove(0);
    assert_eq!(new.id, old.id);
    assert!(matches!(
        store
            .start_job("n1", &old.id, old.lease_token, at(32))
            .await,
        Err(StoreError::LeaseLost { .. })
    ));
    let lost = store
        .extend_leases("n1", &[(old.id, old.lease_token)], &[], at(90))
        .await
        .unwrap();
    assert_eq!(lost, [old.id]);
    let stale = store
        .release_job(
            "n1",
            &old.id,
            old.lease_token,
            finish(&old, JobOutcome::Success, at(33)),
        )
        .await;
    assert!(matches!(stale, Err(StoreError::LeaseLost { .. })));
    store
        .start_job("n1", &new.id, new.lease_token, at(33))
        .await
        .unwrap();
    store
        .release_job(
            "n1",
            &new.id,
            new.lease_token,
            finish(&new, JobOutcome::Success, at(34)),
        )
        .await
        .unwrap();
    assert!(store.get_jobs().await.unwrap().is_empty());
}

/// Extending a lease keeps the job from being handed out; leases a node lost are reported.
pub async fn lease_extension_keeps_jobs_and_reports_lost_ones(store: Store) {
    store.put_task(task("t", None)).await.unwrap();
    store
        .add_jobs(vec![job("t", at(0)), job("t", at(1))])
        .await
        .unwrap();
    let jobs = acquired(&store, "n1", 2, at(2)).await;
    store
        .start_job("n1", &jobs[0].id, jobs[0].lease_token, at(3))
        .await
        .unwrap();
    let held = [
        (jobs[0].id, jobs[0].lease_token),
        (jobs[1].id, jobs[1].lease_token + 7),
    ];
    let lost = store
        .extend_leases("n1", &held, &[], at(100))
        .await
        .unwrap();
    assert_eq!(lost, [jobs[1].id], "wrong token: not extended");
    assert!(
        store.reap_expired(at(90)).await.unwrap().is_empty(),
        "extended lease protects the running job"
    );
    let again = acquired(&store, "n2", 5, at(90)).await;
    assert_eq!(
        again.iter().map(|j| j.id).collect::<Vec<_>>(),
        [jobs[1].id],
        "only the unextended one"
    );
}

/// A started job whose lease expired is finished as `abandoned` by exactly one of several
/// concurrent reapers; the dead node's late release is refused.
pub async fn started_jobs_with_expired_leases_are_reaped_exactly_once(store: Store) {
    store.put_task(task("t", None)).await.unwrap();
    let mut jobs: Vec<Job> = (0..20).map(|i| job("t", at(i))).collect();
    for j in &mut jobs {
        j.result_expiration_time = Duration::from_secs(3600);
    }
    store.add_jobs(jobs).await.unwrap();
    let running = acquired(&store, "dead", 20, at(20)).await;
    for j in &running {
        store
            .start_job("dead", &j.id, j.lease_token, at(21))
            .await
            .unwrap();
    }
    assert!(
        acquired(&store, "other", 20, at(60)).await.is_empty(),
        "started jobs are never re-run directly"
    );
    let mut reapers = Vec::new();
    for _ in 0..4 {
        let store = store.clone();
        reapers.push(tokio::spawn(async move {
            store.reap_expired(at(60)).await.unwrap()
        }));
    }
    let mut abandoned = HashSet::new();
    for reaper in reapers {
        for reaped in reaper.await.unwrap() {
            match reaped {
                Reaped::Abandoned(result) => {
                    assert_eq!(result.outcome, JobOutcome::Abandoned);
                    assert!(abandoned.insert(result.job_id), "reaped twice");
                }
                other => panic!("no retry policy, yet {other:?}"),
            }
        }
    }
    assert_eq!(abandoned.len(), 20);
    assert!(store.get_jobs().await.unwrap().is_empty());
    let stored = store.get_job_result(&running[0].id).await.unwrap().unwrap();
    assert_eq!(
        (stored.outcome, stored.started_at),
        (JobOutcome::Abandoned, Some(at(21)))
    );
    let late = store
        .release_job(
            "dead",
            &running[0].id,
            running[0].lease_token,
            finish(&running[0], JobOutcome::Success, at(61)),
        )
        .await;
    assert!(matches!(late, Err(StoreError::LeaseLost { .. })));
}

/// With a retry policy, the reaper re-queues the job as the next attempt after a backoff.
pub async fn reaped_jobs_are_retried_when_the_task_allows(store: Store) {
    let mut t = task("t", Some(1));
    let mut retry = RetryPolicy::new(2, Duration::from_secs(10), Duration::from_secs(10));
    retry.jitter = false;
    t.retry = Some(retry);
    store.put_task(t).await.unwrap();
    store.add_jobs(vec![job("t", at(0))]).await.unwrap();
    let first = acquired(&store, "dead", 1, at(0)).await.remove(0);
    store
        .start_job("dead", &first.id, first.lease_token, at(1))
        .await
        .unwrap();
    let reaped = store.reap_expired(at(31)).await.unwrap();
    assert!(
        matches!(&reaped[..], [Reaped::Requeued { attempt: 2, .. }]),
        "{reaped:?}"
    );
    assert!(
        acquired(&store, "n", 1, at(40)).await.is_empty(),
        "backoff not over"
    );
    let second = acquired(&store, "n", 1, at(41)).await.remove(0);
    assert_eq!(
        (second.id, second.attempt, second.started_at),
        (first.id, 2, None)
    );
    store
        .start_job("n", &second.id, second.lease_token, at(42))
        .await
        .unwrap();
    let last = store.reap_expired(at(100)).await.unwrap();
    assert!(
        matches!(&last[..], [Reaped::Abandoned(r)] if r.attempt == 2),
        "attempts exhausted: {last:?}"
    );
}

/// A released retry waits for its backoff and comes back as the next attempt.
pub async fn released_retries_wait_for_their_backoff(store: Store) {
    store.put_task(task("t", Some(1))).await.unwrap();
    store.add_jobs(vec![job("t", at(0))]).await.unwrap();
    let first = acquired(&store, "n", 1, at(0)).await.remove(0);
    store
        .start_job("n", &first.id, first.lease_token, at(0))
        .await
        .unwrap();
    let result = JobResult::new(&first, JobOutcome::Error, first.started_at, at(1));
    store
        .release_job(
            "n",
            &first.id,
            first.lease_token,
            JobRelease::Retry { result, at: at(5) },
        )
        .await
        .unwrap();
    assert!(acquired(&store, "n", 1, at(4)).await.is_empty());
    let second = acquired(&store, "n", 1, at(5)).await.remove(0);
    assert_eq!(second.attempt, 2);
}

/// Jobs past their start deadline are not handed out; they finish as `missed_start_deadline`.
pub async fn jobs_past_their_start_deadline_are_not_started(store: Store) {
    store.put_task(task("t", None)).await.unwrap();
    let mut late = job("t", at(0));
    late.start_deadline = Some(at(5));
    late.result_expiration_time = Duration::from_secs(60);
    let on_time = job("t", at(1));
    store
        .add_jobs(vec![late.clone(), on_time.clone()])
        .await
        .unwrap();
    let batch = store.acquire_jobs("n", LEASE, 10, at(6)).await.unwrap();
    assert_eq!(
        batch.acquired.iter().map(|j| j.id).collect::<Vec<_>>(),
        [on_time.id]
    );
    assert_eq!(
        batch
            .missed
            .iter()
            .map(|r| (r.job_id, r.outcome))
            .collect::<Vec<_>>(),
        [(late.id, JobOutcome::MissedStartDeadline)]
    );
    assert_eq!(
        store
            .get_job_result(&late.id)
            .await
            .unwrap()
            .unwrap()
            .outcome,
        JobOutcome::MissedStartDeadline
    );
    assert!(store.get_job(&late.id).await.unwrap().is_none());
}

/// Results are stored only when asked for, readable repeatedly, and deleted once expired.
pub async fn results_are_kept_until_they_expire(store: Store) {
    store.put_task(task("t", None)).await.unwrap();
    let mut kept = job("t", at(0));
    kept.result_expiration_time = Duration::from_secs(3600);
    let dropped = job("t", at(1));
    store
        .add_jobs(vec![kept.clone(), dropped.clone()])
        .await
        .unwrap();
    for j in acquired(&store, "n", 2, at(2)).await {
        let mut result = JobResult::new(&j, JobOutcome::Success, Some(at(2)), at(3));
        result.return_value = Some(serde_json::json!({"rows": 42}));
        store
            .release_job("n", &j.id, j.lease_token, JobRelease::Finish(result))
            .await
            .unwrap();
    }
    let result = store.get_job_result(&kept.id).await.unwrap().unwrap();
    assert_eq!(result.return_value, Some(serde_json::json!({"rows": 42})));
    assert!(
        store.get_job_result(&kept.id).await.unwrap().is_some(),
        "reading does not delete"
    );
    assert!(
        store.get_job_result(&dropped.id).await.unwrap().is_none(),
        "expiration 0 stores nothing"
    );
    assert_eq!(store.cleanup(at(3602)).await.unwrap().expired_results, 0);
    assert_eq!(store.cleanup(at(3603)).await.unwrap().expired_results, 1);
    assert!(store.get_job_result(&kept.id).await.unwrap().is_none());
}

/// Cleanup removes schedules whose trigger ended once none of their jobs remain.
pub async fn cleanup_removes_finished_schedules(store: Store) {
    store.put_task(task("t", None)).await.unwrap();
    store
        .add_schedule(schedule("done", None), ConflictPolicy::Exception)
        .await
        .unwrap();
    store
        .add_schedule(schedule("waiting", None), ConflictPolicy::Exception)
        .await
        .unwrap();
    store
        .add_schedule(schedule("live", Some(at(100))), ConflictPolicy::Exception)
        .await
        .unwrap();
    store
        .add_jobs(vec![scheduled_job("waiting", at(0))])
        .await
        .unwrap();
    let report = store.cleanup(at(1)).await.unwrap();
    assert_eq!(
        report.finished_schedules,
        [(schedule_id("done"), task_id("t"))]
    );
    let j = acquired(&store, "n", 1, at(1)).await.remove(0);
    store
        .release_job(
            "n",
            &j.id,
            j.lease_token,
            finish(&j, JobOutcome::Success, at(2)),
        )
        .await
        .unwrap();
    let report = store.cleanup(at(3)).await.unwrap();
    assert_eq!(
        report.finished_schedules,
        [(schedule_id("waiting"), task_id("t"))]
    );
    assert_eq!(store.get_schedules().await.unwrap().len(), 1);
}

/// A paused schedule is not acquired; resuming (optionally with a new trigger state) is.
pub async fn pausing_hides_a_schedule_from_acquisition(store: Store) {
    store
        .add_schedule(schedule("s", Some(at(0))), ConflictPolicy::Exception)
        .await
        .unwrap();
    assert!(
        store
            .set_paused(&schedule_id("s"), true, None)
            .await
            .unwrap()
            .paused
    );
    assert!(
        store
            .acquire_schedules("n", LEASE, 10, at(10))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.next_schedule_run_time().await.unwrap(), None);
    store
        .set_paused(&schedule_id("s"), false, Some((trigger(), Some(at(60)))))
        .await
        .unwrap();
    assert!(
        store
            .acquire_schedules("n", LEASE, 10, at(10))
            .await
            .unwrap()
            .is_empty(),
        "missed times skipped"
    );
    assert_eq!(
        store
            .acquire_schedules("n", LEASE, 10, at(60))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(matches!(
        store.set_paused(&schedule_id("nope"), true, None).await,
        Err(StoreError::NotFound { .. })
    ));
}

/// A command task and an HTTP task keep their actions through put, get and list; updating
/// a task replaces its action (or clears it), and a task without one reads back without.
pub async fn task_actions_round_trip(store: Store) {
    let mut command = Task::new(task_id("cmd"), ExecutorKind::Command);
    command.action = Some(TaskAction::Command(CommandAction {
        argv: vec![
            "pg_dump".into(),
            "-f".into(),
            "/backups/db \"x\".sql".into(),
        ],
        shell: true,
        env: BTreeMap::from([("PGHOST".to_owned(), "db.internal".to_owned())]),
        cwd: Some("/var/lib/ünïcode".to_owned()),
    }));
    let mut http = Task::new(task_id("hook"), ExecutorKind::Http);
    http.action = Some(TaskAction::Http(HttpAction {
        method: "POST".into(),
        url: "https://example.com/hook?a=1&b=2".into(),
        headers: BTreeMap::from([("X-Token".to_owned(), "s3cret".to_owned())]),
        body: Some(r#"{"hello": "world"}"#.into()),
        timeout: Some(Duration::from_millis(2500)),
    }));
    let plain = task("plain", None);
    for t in [&command, &http, &plain] {
        assert!(store.put_task(t.clone()).await.unwrap(), "new task");
        assert_eq!(
            store.get_task(&t.id).await.unwrap().as_ref(),
            Some(t),
            "task '{}' reads back as written",
            t.id
        );
    }
    let listed = store.get_tasks().await.unwrap();
    assert_eq!(listed, [command.clone(), http.clone(), plain]);

    let mut changed = command.clone();
    changed.action = Some(TaskAction::Command(CommandAction {
        argv: vec!["true".into()],
        shell: false,
        env: BTreeMap::new(),
        cwd: None,
    }));
    assert!(!store.put_task(changed.clone()).await.unwrap(), "an update");
    assert_eq!(
        store.get_task(&command.id).await.unwrap(),
        Some(changed.clone()),
        "the update replaces the action"
    );
    changed.action = None;
    store.put_task(changed.clone()).await.unwrap();
    assert_eq!(
        store.get_task(&command.id).await.unwrap(),
        Some(changed),
        "an update without an action clears it"
    );
    let mismatched = Task {
        action: http.action.clone(),
        ..task("wrong", None)
    };
    assert!(
        matches!(
            store.put_task(mismatched).await,
            Err(StoreError::Invalid(_))
        ),
        "an action must match the executor"
    );
    assert!(store.get_task(&task_id("wrong")).await.unwrap().is_none());
}

/// Stored results are listed newest `finished_at` first, ties by job id (descending), up
/// to the limit; results not kept are not listed.
pub async fn results_are_listed_newest_first_up_to_the_limit(store: Store) {
    store.put_task(task("t", None)).await.unwrap();
    // Created (so ids ascend) in an order unrelated to when they finish; two pairs tie.
    let mut finishes = std::collections::HashMap::new();
    let mut jobs = Vec::new();
    for (created, finished) in [(0, 5), (1, 1), (2, 9), (3, 5), (4, 3), (5, 9), (6, 7)] {
        let mut job = job("t", at(created));
        job.result_expiration_time = Duration::from_secs(3600);
        finishes.insert(job.id, at(100 + finished));
        jobs.push(job);
    }
    let not_kept = job("t", at(20));
    finishes.insert(not_kept.id, at(200));
    jobs.push(not_kept.clone());
    store.add_jobs(jobs.clone()).await.unwrap();
    let running = acquired(&store, "n", jobs.len(), at(30)).await;
    assert_eq!(running.len(), jobs.len());
    let mut expected = Vec::new();
    for j in &running {
        let finished = finishes[&j.id];
        if j.id != not_kept.id {
            expected.push((finished, j.id));
        }
        let result = JobResult::new(j, JobOutcome::Success, Some(at(30)), finished);
        store
            .release_job("n", &j.id, j.lease_token, JobRelease::Finish(result))
            .await
            .unwrap();
    }
    expected.sort_by(|a, b| b.cmp(a));
    let listed = |results: Vec<JobResult>| -> Vec<(Timestamp, JobId)> {
        results.iter().map(|r| (r.finished_at, r.job_id)).collect()
    };
    assert_eq!(
        listed(store.get_job_results(100).await.unwrap()),
        expected,
        "all kept results, newest first, ties by job id descending"
    );
    assert_eq!(
        listed(store.get_job_results(3).await.unwrap()),
        expected[..3],
        "the newest three"
    );
    assert!(store.get_job_results(0).await.unwrap().is_empty());
    let newest = store.get_job_results(1).await.unwrap();
    assert_eq!(
        newest,
        [store.get_job_result(&expected[0].1).await.unwrap().unwrap()],
        "listed results are complete"
    );
}

/// A node record as the heartbeat writes it (times with microseconds, which every store
/// keeps).
fn node(id: &str, last_heartbeat: Timestamp) -> NodeInfo {
    NodeInfo {
        id: id.to_owned(),
        role: SchedulerRole::Both,
        started_at: at(-600) + SignedDuration::from_micros(123_456),
        last_heartbeat,
        lease_duration: LEASE,
        max_concurrent_jobs: 100,
        running_jobs: 0,
        version: "0.1.0".to_owned(),
    }
}

fn node_ids(nodes: &[NodeInfo]) -> Vec<&str> {
    nodes.iter().map(|n| n.id.as_str()).collect()
}

/// Node records are inserted or replaced whole, listed by id (byte order, as Rust sorts
/// strings) and removed; removing a missing record is fine.
pub async fn node_records_are_upserted_listed_and_removed(store: Store) {
    assert!(store.get_nodes().await.unwrap().is_empty());
    let b = node("node-b", at(0));
    let mut a = node("node-a", at(1) + SignedDuration::from_micros(7));
    a.role = SchedulerRole::Worker;
    a.lease_duration = Duration::from_micros(1_500_001);
    a.max_concurrent_jobs = u32::MAX;
    a.running_jobs = 3;
    let mut c = node("Node-c ü", at(2));
    c.role = SchedulerRole::Scheduler;
    c.version = "1.2.3-beta.4+build.5".to_owned();
    for n in [&b, &a, &c] {
        store.record_node(n.clone()).await.unwrap();
    }
    assert_eq!(
        store.get_nodes().await.unwrap(),
        [c.clone(), a.clone(), b.clone()],
        "every field kept, sorted by id"
    );

    let mut a2 = node("node-a", at(11));
    a2.running_jobs = 7;
    a2.role = SchedulerRole::Scheduler;
    a2.version = "0.2.0".to_owned();
    store.record_node(a2.clone()).await.unwrap();
    assert_eq!(
        store.get_nodes().await.unwrap(),
        [c.clone(), a2, b.clone()],
        "a second record of a node replaces the first"
    );

    store.remove_node("node-a").await.unwrap();
    assert_eq!(store.get_nodes().await.unwrap(), [c.clone(), b.clone()]);
    store.remove_node("node-a").await.unwrap();
    store.remove_node("never-there").await.unwrap();
    assert_eq!(
        node_ids(&store.get_nodes().await.unwrap()),
        ["Node-c ü", "node-b"]
    );
}

/// Cleanup deletes the records of nodes silent for [`DEAD_NODE_RETENTION`] past their
/// lease (that long exactly included), keeps the rest — including nodes that are dead but
/// recently so, and a node whose lease is too long to add — and counts what it deleted.
pub async fn cleanup_removes_only_long_dead_nodes(store: Store) {
    let now = at(0);
    let retention = SignedDuration::try_from(DEAD_NODE_RETENTION).unwrap();
    let lease = SignedDuration::try_from(LEASE).unwrap();
    let gone_at = now - retention - lease;
    let micro = SignedDuration::from_micros(1);
    let mut forever = node("forever", at(-100_000));
    forever.lease_duration = Duration::MAX;
    for n in [
        node("alive", now),
        node("lapsed", now - lease - micro),
        node("just-kept", gone_at + micro),
        node("just-gone", gone_at),
        node("long-gone", gone_at - retention),
        forever,
    ] {
        store.record_node(n).await.unwrap();
    }
    let report = store.cleanup(now).await.unwrap();
    assert_eq!(report.dead_nodes, 2, "{report:?}");
    assert_eq!(
        node_ids(&store.get_nodes().await.unwrap()),
        ["alive", "forever", "just-kept", "lapsed"]
    );
    assert_eq!(store.cleanup(now).await.unwrap().dead_nodes, 0);
    let report = store.cleanup(now + micro).await.unwrap();
    assert_eq!(report.dead_nodes, 1, "one microsecond later: {report:?}");
    assert_eq!(
        node_ids(&store.get_nodes().await.unwrap()),
        ["alive", "forever", "lapsed"]
    );
}
