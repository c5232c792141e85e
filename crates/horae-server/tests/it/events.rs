//! `/api/v1/events`: Server-Sent Events.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::json;
use tower::ServiceExt;

use crate::support::{Client, scheduler};

/// Reads the body until `needle` appears (or fails after a few seconds).
async fn read_until(body: &mut Body, needle: &str) -> String {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains(needle) {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .unwrap_or_else(|_| panic!("no {needle:?} in {seen:?}"))
            .expect("the stream ended")
            .unwrap();
        if let Ok(data) = frame.into_data() {
            seen.push_str(&String::from_utf8_lossy(&data));
        }
    }
    seen
}

#[tokio::test]
async fn events_stream_as_sse_with_type_and_json() {
    let scheduler = scheduler().await;
    let client = Client::of(&scheduler).await;
    let request = Request::get("/api/v1/events?types=task_added,job_released")
        .body(Body::empty())
        .unwrap();
    let response = client.app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/event-stream"
    );
    let mut body = response.into_body();

    let created = client
        .post(
            "/api/v1/tasks",
            json!({"id": "streamed", "executor": "async"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let text = read_until(&mut body, "\n\n").await;
    assert!(text.starts_with("event: task_added\n"), "{text}");
    let data = text
        .lines()
        .find_map(|line| line.strip_prefix("data: "))
        .unwrap();
    let event: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(event["type"], "task_added");
    assert_eq!(event["task_id"], "streamed");

    // Schedule updates are filtered out; a job's release comes through.
    client
        .post(
            "/api/v1/schedules",
            json!({"id": "s", "task_id": "add", "trigger": {"type": "cron", "hour": 3}}),
        )
        .await;
    client
        .post("/api/v1/jobs", json!({"task_id": "add", "args": [1]}))
        .await;
    let text = read_until(&mut body, "event: job_released").await;
    assert!(!text.contains("schedule_added"), "{text}");
    scheduler.stop().await;
}

#[tokio::test]
async fn unknown_event_types_are_rejected() {
    let scheduler = scheduler().await;
    let client = Client::of(&scheduler).await;
    let reply = client
        .get("/api/v1/events?types=job_released,bogus")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(reply["detail"].as_str().unwrap().contains("bogus"));
    for bad in [",", "job_released,", " job_released", "JOB_RELEASED"] {
        client
            .get(&format!("/api/v1/events?types={}", bad.replace(' ', "%20")))
            .await
            .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    }
    scheduler.stop().await;
}
