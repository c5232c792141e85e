//! Node heartbeats on the virtual clock: a started node records itself and refreshes its
//! record every third of its lease, a stopped node removes it, a crashed (halted) node
//! leaves it behind to go stale, and store errors only delay the heartbeat.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use horae::clock::{Clock, VirtualClock};
use horae::model::{ExecutorKind, NodeInfo, SchedulerRole, Task, TaskId};
use horae::scheduler::handler::Handler;
use horae::scheduler::heartbeat::VERSION;
use horae::scheduler::{Scheduler, SchedulerConfig};
use horae::store::{DEAD_NODE_RETENTION, DataStore, MemoryStore};
use horae_testkit::faulty::{Fault, FaultyStore, StoreOp};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

const LEASE: Duration = Duration::from_secs(30);

fn epoch() -> Timestamp {
    "2026-06-01T12:00:00Z".parse().unwrap()
}

fn secs(seconds: i64) -> Timestamp {
    epoch() + SignedDuration::from_secs(seconds)
}

fn node(
    id: &str,
    store: &Arc<dyn DataStore>,
    clock: &Arc<dyn Clock>,
    role: SchedulerRole,
) -> Scheduler {
    Scheduler::builder()
        .store(store.clone())
        .clock(clock.clone())
        .config(SchedulerConfig {
            node_id: id.to_owned(),
            role,
            lease_duration: LEASE,
            max_concurrent_jobs: 7,
            poll_interval: Duration::from_millis(50),
            stop_grace_period: Duration::from_secs(1),
            ..SchedulerConfig::default()
        })
        .build()
        .unwrap()
}

fn virtual_clock() -> Arc<dyn Clock> {
    Arc::new(VirtualClock::new(epoch()))
}

async fn record(store: &Arc<dyn DataStore>, id: &str) -> Option<NodeInfo> {
    store
        .get_nodes()
        .await
        .unwrap()
        .into_iter()
        .find(|n| n.id == id)
}

#[tokio::test(start_paused = true)]
async fn a_started_node_records_itself_and_keeps_the_record_fresh() {
    let clock = virtual_clock();
    let store: Arc<dyn DataStore> = Arc::new(MemoryStore::new());
    let worker = node("w1", &store, &clock, SchedulerRole::Worker);
    let sleeper = clock.clone();
    worker
        .configure_task(
            Task::new(TaskId::new("long").unwrap(), ExecutorKind::Async),
            Handler::from_async(move |_| {
                let clock = sleeper.clone();
                async move {
                    clock.sleep(Duration::from_secs(600)).await;
                    Ok(json!(null))
                }
            }),
        )
        .await
        .unwrap();
    assert!(worker.nodes().await.unwrap().is_empty(), "not started yet");
    worker.start().await;
    clock.sleep(Duration::from_millis(1)).await;
    assert_eq!(
        worker.nodes().await.unwrap(),
        [NodeInfo {
            id: "w1".to_owned(),
            role: SchedulerRole::Worker,
            started_at: epoch(),
            last_heartbeat: epoch(),
            lease_duration: LEASE,
            max_concurrent_jobs: 7,
            running_jobs: 0,
            version: VERSION.to_owned(),
        }],
        "recorded as it starts"
    );
    assert_eq!(VERSION, env!("CARGO_PKG_VERSION"));

    // Beats at 0 s, 10 s, 20 s, ...: a third of the lease.
    clock.sleep(Duration::from_secs(25)).await;
    let fresh = record(&store, "w1").await.unwrap();
    assert_eq!(fresh.last_heartbeat, secs(20));
    assert_eq!(fresh.started_at, epoch(), "the start time stays");
    assert!(fresh.is_alive(clock.now()));

    worker
        .add_job(worker.new_job(&TaskId::new("long").unwrap(), vec![]))
        .await
        .unwrap();
    clock.sleep(Duration::from_secs(10)).await;
    let busy = record(&store, "w1").await.unwrap();
    assert_eq!(busy.last_heartbeat, secs(30));
    assert_eq!(busy.running_jobs, 1, "running jobs are reported");

    clock.sleep(Duration::from_secs(3600)).await;
    let later = record(&store, "w1").await.unwrap();
    assert_eq!(
        later.last_heartbeat,
        secs(3630),
        "still beating an hour later"
    );
    worker.stop().await;
}

#[tokio::test(start_paused = true)]
async fn stop_removes_the_record_and_a_crash_leaves_it_to_go_stale() {
    let clock = virtual_clock();
    let store: Arc<dyn DataStore> = Arc::new(MemoryStore::new());
    let stopping = node("a", &store, &clock, SchedulerRole::Both);
    let crashing = node("b", &store, &clock, SchedulerRole::Scheduler);
    stopping.start().await;
    crashing.start().await;
    clock.sleep(Duration::from_secs(15)).await;
    let ids = |nodes: Vec<NodeInfo>| nodes.into_iter().map(|n| n.id).collect::<Vec<_>>();
    assert_eq!(ids(crashing.nodes().await.unwrap()), ["a", "b"]);

    stopping.stop().await;
    assert_eq!(
        ids(store.get_nodes().await.unwrap()),
        ["b"],
        "a stopped node removes its record"
    );
    clock.sleep(Duration::from_secs(60)).await;
    assert!(
        record(&store, "a").await.is_none(),
        "and does not write it again"
    );

    crashing.halt().await;
    let halted_at = clock.now();
    let left = record(&store, "b")
        .await
        .expect("a crashed node's record stays");
    clock.sleep(Duration::from_secs(120)).await;
    let stale = record(&store, "b").await.unwrap();
    assert_eq!(stale, left, "no longer refreshed");
    assert!(stale.last_heartbeat <= halted_at);
    assert!(!stale.is_alive(clock.now()), "it looks dead after a lease");

    let retention = SignedDuration::try_from(DEAD_NODE_RETENTION).unwrap();
    let report = store.cleanup(clock.now() + retention).await.unwrap();
    assert_eq!(report.dead_nodes, 1);
    assert!(store.get_nodes().await.unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn store_errors_delay_the_heartbeat_but_never_stop_it() {
    let clock = virtual_clock();
    // Node records fail while `failing` is set; `attempts` counts the writes tried.
    let failing = Arc::new(AtomicBool::new(true));
    let attempts = Arc::new(AtomicUsize::new(0));
    let store: Arc<dyn DataStore> = Arc::new(FaultyStore::new(Arc::new(MemoryStore::new()), {
        let (failing, attempts) = (Arc::clone(&failing), Arc::clone(&attempts));
        move |op| {
            if op == StoreOp::RecordNode {
                attempts.fetch_add(1, Ordering::SeqCst);
            }
            let node_write = matches!(op, StoreOp::RecordNode | StoreOp::RemoveNode);
            if node_write && failing.load(Ordering::SeqCst) {
                Fault::unavailable("the database is down")
            } else {
                Fault::Pass
            }
        }
    }));
    let worker = node("w", &store, &clock, SchedulerRole::Worker);
    worker.start().await;
    clock.sleep(Duration::from_secs(60)).await;
    assert!(record(&store, "w").await.is_none());
    let attempts = attempts.load(Ordering::SeqCst);
    assert!(
        attempts >= 6,
        "retried, at least every 10 s: {attempts} attempts"
    );

    failing.store(false, Ordering::SeqCst);
    let recovered = clock.now();
    clock.sleep(Duration::from_secs(10)).await;
    let fresh = record(&store, "w")
        .await
        .expect("recorded once the store is back");
    assert!(fresh.last_heartbeat >= recovered, "{fresh:?}");
    assert_eq!(fresh.started_at, epoch());

    failing.store(true, Ordering::SeqCst);
    worker.stop().await;
    assert!(
        record(&store, "w").await.is_some(),
        "removal failed (logged); stop went on"
    );
}
