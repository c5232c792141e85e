//! `/metrics`: the engine's `horae_` metrics in Prometheus text format.

use std::time::Duration;

use axum::http::{StatusCode, header};
use horae_server::AppState;
use serde_json::json;

use crate::support::{Client, scheduler};

#[tokio::test]
async fn metrics_show_the_engine_counters_after_a_job_ran() {
    let handle = horae_server::install_metrics().unwrap();
    let scheduler = scheduler().await;
    let client = Client::new(AppState::new(scheduler.clone()).with_metrics(handle));

    // A scheduled job (start lateness) that runs past a third of the 600 ms lease (a lease
    // extension), then an ad-hoc one.
    let now = scheduler.now();
    let start = jiff::Timestamp::from_microsecond(now.as_microsecond())
        .unwrap()
        .to_string();
    let created = client
        .post(
            "/api/v1/schedules",
            json!({
                "id": "soon", "task_id": "add", "args": [1, 1500],
                "trigger": {"type": "date", "run_time": start},
                "job_result_expiration_time": "1h",
            }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let mut text = String::new();
    for _ in 0..100 {
        let results = client.get("/api/v1/results").await.json();
        if !results.as_array().unwrap().is_empty() {
            let reply = client.get("/metrics").await;
            assert_eq!(reply.status, StatusCode::OK);
            assert!(
                reply
                    .header(header::CONTENT_TYPE)
                    .starts_with("text/plain; version=0.0.4")
            );
            text = reply.text;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for name in [
        "horae_jobs_started_total{task=\"add\"}",
        "horae_jobs_finished_total{task=\"add\",outcome=\"success\"}",
        "horae_job_run_seconds_bucket{task=\"add\",le=",
        "horae_job_run_seconds_count{task=\"add\"}",
        "horae_job_start_lateness_seconds_bucket{task=\"add\",le=",
        "horae_jobs_running",
        "horae_schedules_due",
        "horae_schedules_processed_total",
        "horae_schedule_jobs_added_total",
        "horae_lease_extensions_total",
        "# HELP horae_jobs_started_total",
        "# TYPE horae_job_run_seconds histogram",
    ] {
        assert!(text.contains(name), "{name} missing in:\n{text}");
    }
    scheduler.stop().await;
}

#[tokio::test]
async fn metrics_are_404_when_not_enabled() {
    let scheduler = scheduler().await;
    let client = Client::of(&scheduler).await;
    client
        .get("/metrics")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    scheduler.stop().await;
}
