//! Nodes that stall, vanish or stop: nothing is lost, nothing runs twice, nobody crashes.

use std::sync::Arc;
use std::time::Duration;

use horae::broker::{EventBroker, LocalBroker};
use horae::clock::{Clock, VirtualClock};
use horae::event::Event;
use horae::model::{ExecutorKind, JobOutcome, RetryPolicy, SchedulerRole, Task, TaskId};
use horae::scheduler::handler::Handler;
use horae::scheduler::{Scheduler, SchedulerConfig};
use horae::store::{DataStore, MemoryStore};
use serde_json::json;

fn config(node: &str, lease: Duration) -> SchedulerConfig {
    SchedulerConfig {
        node_id: node.to_owned(),
        lease_duration: lease,
        poll_interval: Duration::from_millis(50),
        stop_grace_period: Duration::from_secs(1),
        ..SchedulerConfig::default()
    }
}

fn task(id: &str) -> Task {
    Task::new(TaskId::new(id).unwrap(), ExecutorKind::Async)
}

/// How APScheduler 4.0.0a6 dies: a node's whole runtime stalls for longer than the lease (a
/// handler blocking the event loop, a paused process). Here node A's single runtime thread is
/// blocked for 3 leases; node B reaps the lapsed job as abandoned; when A wakes, its release
/// is fenced off (`JobLeaseLost`), and A keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_node_is_fenced_off_and_keeps_running() {
    let lease = Duration::from_millis(600);
    let store: Arc<dyn DataStore> = Arc::new(MemoryStore::new());
    let broker: Arc<dyn EventBroker> = Arc::new(LocalBroker::new());
    let mut events = broker.subscribe();
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let started_tx = Arc::new(std::sync::Mutex::new(Some(started_tx)));
    let node_a = {
        let (store, broker) = (store.clone(), broker.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let a = Scheduler::builder()
                    .store(store)
                    .broker(broker)
                    .config(config("a", lease))
                    .build()
                    .unwrap();
                a.configure_task(
                    task("stalls"),
                    Handler::from_async(move |_| {
                        let started_tx = started_tx.clone();
                        async move {
                            if let Some(tx) = started_tx.lock().unwrap().take() {
                                let _ = tx.send(());
                            }
                            // Blocks the node's only runtime thread: its lease keeper cannot run.
                            std::thread::sleep(Duration::from_millis(3 * 600));
                            Ok(json!("finished late"))
                        }
                    }),
                )
                .await
                .unwrap();
                a.configure_task(
                    task("quick"),
                    Handler::from_async(|_| async { Ok(json!("a is alive")) }),
                )
                .await
                .unwrap();
                a.start().await;
                let mut job = a.new_job(&TaskId::new("stalls").unwrap(), vec![]);
                job.result_expiration_time = Duration::from_secs(60);
                a.add_job(job).await.unwrap();
                // Once the stall has been dealt with elsewhere, A must still run new work.
                while done_rx.try_recv().is_err() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                let after = a
                    .run_job(&TaskId::new("quick").unwrap(), vec![])
                    .await
                    .unwrap();
                a.stop().await;
                after
            })
        })
    };
    started_rx.await.unwrap();
    // B only schedules and reaps (every role reaps), so all jobs run on A.
    let b = Scheduler::builder()
        .store(store.clone())
        .broker(broker.clone())
        .config(SchedulerConfig {
            role: SchedulerRole::Scheduler,
            ..config("b", lease)
        })
        .build()
        .unwrap();
    b.start().await;
    let (mut abandoned_by_b, mut lease_lost_on_a) = (false, false);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !(abandoned_by_b && lease_lost_on_a) && tokio::time::Instant::now() < deadline {
        let event = tokio::time::timeout(Duration::from_secs(1), events.recv()).await;
        match event.as_ref().map(|e| e.as_deref()) {
            Ok(Some(Event::JobReleased {
                outcome: JobOutcome::Abandoned,
                node_id,
                ..
            })) if *node_id == "b" => abandoned_by_b = true,
            Ok(Some(Event::JobLeaseLost { node_id, .. })) if *node_id == "a" => {
                lease_lost_on_a = true
            }
            _ => {}
        }
    }
    done_tx.send(()).unwrap();
    let after = tokio::task::spawn_blocking(move || node_a.join().unwrap())
        .await
        .unwrap();
    b.stop().await;
    assert!(abandoned_by_b, "the surviving node reaped the lapsed job");
    assert!(lease_lost_on_a, "the stalled node's release was fenced off");
    assert_eq!(
        after.return_value,
        Some(json!("a is alive")),
        "node A kept running: {after:?}"
    );
    assert!(
        store.get_jobs().await.unwrap().is_empty(),
        "nothing left behind"
    );
}

/// A graceful stop keeps renewing the leases of the jobs it waits for: a job running three
/// leases long finishes on the stopping node, and another node never takes it over.
#[tokio::test(start_paused = true)]
async fn jobs_finishing_during_a_graceful_stop_keep_their_lease() {
    let clock: Arc<dyn Clock> =
        Arc::new(VirtualClock::new("2026-06-01T12:00:00Z".parse().unwrap()));
    let store: Arc<dyn DataStore> = Arc::new(MemoryStore::new());
    let broker: Arc<dyn EventBroker> = Arc::new(LocalBroker::new());
    let lease = Duration::from_secs(2);
    let build = |node: &str| {
        let mut config = config(node, lease);
        config.stop_grace_period = Duration::from_secs(30);
        Scheduler::builder()
            .store(store.clone())
            .broker(broker.clone())
            .clock(clock.clone())
            .config(config)
            .build()
            .unwrap()
    };
    let (a, b) = (build("a"), build("b"));
    let mut retried = task("long");
    retried.retry = Some(RetryPolicy::new(
        3,
        Duration::from_millis(10),
        Duration::from_millis(10),
    ));
    let runs = Arc::new(std::sync::Mutex::new(Vec::new()));
    let handler = |node: &'static str| {
        let (clock, runs) = (clock.clone(), runs.clone());
        Handler::from_async(move |ctx| {
            let (clock, runs) = (clock.clone(), runs.clone());
            async move {
                runs.lock().unwrap().push((node, ctx.job.attempt));
                clock.sleep(Duration::from_secs(6)).await;
                Ok(json!(null))
            }
        })
    };
    a.configure_task(retried.clone(), handler("a"))
        .await
        .unwrap();
    b.configure_task(retried, handler("b")).await.unwrap();
    a.start().await;
    let mut job = a.new_job(&TaskId::new("long").unwrap(), vec![]);
    job.result_expiration_time = Duration::from_secs(3600);
    let id = a.add_job(job).await.unwrap();
    clock.sleep(Duration::from_secs(1)).await;
    b.start().await;
    a.stop().await;
    let result = store.get_job_result(&id).await.unwrap().unwrap();
    assert_eq!(
        result.outcome,
        JobOutcome::Success,
        "finished during the stop"
    );
    clock.sleep(Duration::from_secs(10)).await;
    b.stop().await;
    assert_eq!(
        *runs.lock().unwrap(),
        vec![("a", 1)],
        "the job ran once, on the stopping node"
    );
}

/// A node that vanishes mid-job: its job is retried on another node within about a lease.
#[tokio::test(start_paused = true)]
async fn a_vanished_nodes_job_is_retried_elsewhere() {
    let clock: Arc<dyn Clock> =
        Arc::new(VirtualClock::new("2026-06-01T12:00:00Z".parse().unwrap()));
    let store: Arc<dyn DataStore> = Arc::new(MemoryStore::new());
    let broker: Arc<dyn EventBroker> = Arc::new(LocalBroker::new());
    let lease = Duration::from_secs(30);
    let build = |node: &str| {
        Scheduler::builder()
            .store(store.clone())
            .broker(broker.clone())
            .clock(clock.clone())
            .config(config(node, lease))
            .build()
            .unwrap()
    };
    let (a, b) = (build("a"), build("b"));
    let mut retried = task("long");
    retried.retry = Some(RetryPolicy::new(
        2,
        Duration::from_secs(1),
        Duration::from_secs(1),
    ));
    for node in [&a, &b] {
        let clock = clock.clone();
        node.configure_task(
            retried.clone(),
            Handler::from_async(move |ctx| {
                let clock = clock.clone();
                async move {
                    clock.sleep(Duration::from_secs(120)).await;
                    Ok(json!(ctx.node_id))
                }
            }),
        )
        .await
        .unwrap();
    }
    a.start().await;
    let mut job = a.new_job(&TaskId::new("long").unwrap(), vec![]);
    job.result_expiration_time = Duration::from_secs(3600);
    let id = a.add_job(job).await.unwrap();
    clock.sleep(Duration::from_secs(10)).await;
    assert_eq!(
        store
            .get_job(&id)
            .await
            .unwrap()
            .unwrap()
            .acquired_by
            .as_deref(),
        Some("a")
    );
    a.halt().await;
    b.start().await;
    let vanished_at = clock.now();
    let result = b.get_job_result(&id, true).await.unwrap().unwrap();
    assert_eq!((result.outcome, result.attempt), (JobOutcome::Success, 2));
    assert_eq!(result.return_value, Some(json!("b")));
    let restarted = result.started_at.unwrap().duration_since(vanished_at);
    assert!(
        restarted <= jiff::SignedDuration::from_secs(45),
        "picked up {restarted:?} after the node vanished"
    );
    b.stop().await;
}

/// Stop waits for running jobs for the grace period, then cancels and releases them; jobs
/// not yet started stay queued for other nodes (invariant 9).
#[tokio::test(start_paused = true)]
async fn graceful_stop_releases_everything() {
    let clock: Arc<dyn Clock> =
        Arc::new(VirtualClock::new("2026-06-01T12:00:00Z".parse().unwrap()));
    let store: Arc<dyn DataStore> = Arc::new(MemoryStore::new());
    let node = Scheduler::builder()
        .store(store.clone())
        .clock(clock.clone())
        .config(config("n", Duration::from_secs(30)))
        .build()
        .unwrap();
    let slow_clock = clock.clone();
    node.configure_task(
        task("slow"),
        Handler::from_async(move |_| {
            let clock = slow_clock.clone();
            async move {
                clock.sleep(Duration::from_secs(600)).await;
                Ok(json!(null))
            }
        }),
    )
    .await
    .unwrap();
    node.start().await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let mut job = node.new_job(&TaskId::new("slow").unwrap(), vec![]);
        job.result_expiration_time = Duration::from_secs(3600);
        ids.push(node.add_job(job).await.unwrap());
    }
    clock.sleep(Duration::from_secs(5)).await;
    node.stop().await;
    let first = store.get_job_result(&ids[0]).await.unwrap().unwrap();
    assert_eq!(first.outcome, JobOutcome::Cancelled);
    let waiting = store.get_job(&ids[1]).await.unwrap().unwrap();
    assert_eq!(
        (waiting.acquired_by, waiting.started_at),
        (None, None),
        "still queued for others"
    );
}
