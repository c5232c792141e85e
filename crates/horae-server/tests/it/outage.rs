//! A store that stops answering: 503 from the API and `/readyz`, a note on the dashboard.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use horae::scheduler::Scheduler;
use horae::store::MemoryStore;
use horae_server::AppState;
use horae_testkit::faulty::{Fault, FaultyStore, StoreOp};

use crate::support::Client;

/// Whether the store's lookups (and pausing) fail with `Unavailable` (`down`) or never
/// answer (`hang`).
#[derive(Default)]
struct Outage {
    down: AtomicBool,
    hang: AtomicBool,
}

/// A memory store behind `outage`.
fn store(outage: &Arc<Outage>) -> Arc<FaultyStore> {
    let outage = Arc::clone(outage);
    Arc::new(FaultyStore::new(Arc::new(MemoryStore::new()), move |op| {
        if !StoreOp::LOOKUPS.contains(&op) && op != StoreOp::SetPaused {
            Fault::Pass
        } else if outage.hang.load(Ordering::SeqCst) {
            Fault::Hang
        } else if outage.down.load(Ordering::SeqCst) {
            Fault::unavailable("connection refused")
        } else {
            Fault::Pass
        }
    }))
}

#[tokio::test]
async fn an_unreachable_store_is_a_503_and_not_ready() {
    let outage = Arc::new(Outage::default());
    let scheduler = Scheduler::builder()
        .node_id("outage")
        .store(store(&outage))
        .build()
        .unwrap();
    let client = Client::new(AppState::new(scheduler.clone()));
    assert_eq!(client.get("/readyz").await.status, StatusCode::OK);
    assert_eq!(client.get("/api/v1/tasks").await.status, StatusCode::OK);

    outage.down.store(true, Ordering::SeqCst);
    for path in [
        "/readyz",
        "/api/v1/tasks",
        "/api/v1/tasks/backup",
        "/api/v1/schedules",
        "/api/v1/jobs",
        "/api/v1/results",
        "/api/v1/nodes",
        "/api/v1/schedules/nightly/preview",
    ] {
        let reply = client.get(path).await;
        let body = reply.assert_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("connection refused"),
            "{path}: {body}"
        );
    }
    client
        .post_empty("/api/v1/schedules/nightly/pause")
        .await
        .assert_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert_eq!(
        client.get("/healthz").await.status,
        StatusCode::OK,
        "alive anyway"
    );
    let page = client.get("/").await;
    assert_eq!(page.status, StatusCode::OK, "the dashboard still renders");
    assert!(
        page.text
            .contains("could not load schedules: store unavailable: connection refused"),
        "{}",
        page.text
    );

    outage.down.store(false, Ordering::SeqCst);
    assert_eq!(client.get("/readyz").await.status, StatusCode::OK);
}

#[tokio::test]
async fn readiness_times_out_on_a_hanging_store() {
    let outage = Arc::new(Outage::default());
    let scheduler = Scheduler::builder()
        .node_id("slow")
        .store(store(&outage))
        .build()
        .unwrap();
    let client =
        Client::new(AppState::new(scheduler).with_ready_timeout(Duration::from_millis(100)));
    assert_eq!(client.get("/readyz").await.status, StatusCode::OK);
    outage.hang.store(true, Ordering::SeqCst);
    let started = std::time::Instant::now();
    let reply = client.get("/readyz").await;
    let body = reply.assert_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert!(
        body["detail"].as_str().unwrap().contains("did not answer"),
        "{body}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}
