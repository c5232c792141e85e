//! The REST API: round trips and error shapes.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use horae::model::{NodeInfo, SchedulerRole};
use serde_json::{Value, json};

use crate::support::{Client, scheduler};

fn ids(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn tasks_round_trip() {
    let scheduler = scheduler().await;
    let client = Client::of(&scheduler).await;
    let task = json!({
        "id": "backup", "executor": "command", "timeout": "10m", "misfire_grace_time": 60,
        "action": {"command": {"argv": ["true"]}},
    });
    let created = client.post("/api/v1/tasks", task.clone()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let body = created.json();
    assert_eq!(body["id"], "backup");
    assert_eq!(body["timeout"], "10m");
    assert_eq!(body["misfire_grace_time"], "1m");
    assert_eq!(body["max_running_jobs"], 1, "APScheduler's default");

    let fetched = client.get("/api/v1/tasks/backup").await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.json(), body);

    client
        .post("/api/v1/tasks", task)
        .await
        .assert_error(StatusCode::CONFLICT, "conflict");

    let replaced = client
        .put(
            "/api/v1/tasks/backup",
            json!({"executor": "command", "max_running_jobs": 3, "action": {"command": {"argv": ["false"]}}}),
        )
        .await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.text);
    assert_eq!(replaced.json()["max_running_jobs"], 3);
    assert_eq!(replaced.json()["timeout"], Value::Null, "replaced whole");

    let new = client
        .put(
            "/api/v1/tasks/report.daily",
            json!({"id": "report.daily", "executor": "async"}),
        )
        .await;
    assert_eq!(new.status, StatusCode::CREATED, "{}", new.text);

    let list = client.get("/api/v1/tasks").await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(ids(&list.json()), ["add", "backup", "report.daily"]);

    assert_eq!(
        client.delete("/api/v1/tasks/backup").await.status,
        StatusCode::NO_CONTENT
    );
    client
        .get("/api/v1/tasks/backup")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    client
        .delete("/api/v1/tasks/backup")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    scheduler.stop().await;
}

#[tokio::test]
async fn bad_task_input_is_a_4xx_with_the_error_shape() {
    let scheduler = scheduler().await;
    let client = Client::of(&scheduler).await;
    let unknown = client
        .post(
            "/api/v1/tasks",
            json!({"id": "t", "executor": "async", "running_jobs": 3}),
        )
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert!(
        unknown["detail"]
            .as_str()
            .unwrap()
            .contains("unknown field `running_jobs`"),
        "{unknown}"
    );
    client
        .post("/api/v1/tasks", json!({"id": "a b", "executor": "async"}))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let rule = client
        .post(
            "/api/v1/tasks",
            json!({"id": "t", "executor": "async", "max_running_jobs": 0}),
        )
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert!(
        rule["detail"]
            .as_str()
            .unwrap()
            .contains("max_running_jobs")
    );
    client
        .post(
            "/api/v1/tasks",
            json!({"id": "t", "executor": "http", "action": {"command": {"argv": ["x"]}}}),
        )
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    client
        .get("/api/v1/tasks/a%20b")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_id");
    client
        .put(
            "/api/v1/tasks/t",
            json!({"id": "other", "executor": "async"}),
        )
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    client
        .put("/api/v1/tasks/t", json!([1, 2]))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    let syntax = Request::post("/api/v1/tasks")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{\"id\": "))
        .unwrap();
    client
        .send(syntax)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    let text = Request::post("/api/v1/tasks")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from("{}"))
        .unwrap();
    client
        .send(text)
        .await
        .assert_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    let huge = json!({"id": "big", "executor": "async", "metadata": {"x": "y".repeat(2 << 20)}});
    client
        .post("/api/v1/tasks", huge)
        .await
        .assert_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    // Nothing was written on rejection.
    assert_eq!(ids(&client.get("/api/v1/tasks").await.json()), ["add"]);
    scheduler.stop().await;
}

#[tokio::test]
async fn unknown_routes_and_methods_get_the_error_shape() {
    let scheduler = scheduler().await;
    let client = Client::of(&scheduler).await;
    client
        .get("/api/v1/nope")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    client
        .call(Method::PATCH, "/api/v1/tasks", None)
        .await
        .assert_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    client
        .get("/api/v1/jobs?limit=0")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    client
        .get("/api/v1/jobs?limit=abc")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    client
        .get("/api/v1/results?limit=1001")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    client
        .get("/api/v1/jobs?bogus=1")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    scheduler.stop().await;
}

fn cron_schedule(id: &str) -> Value {
    json!({
        "id": id,
        "task_id": "add",
        "trigger": {"type": "cron", "hour": 3, "timezone": "Europe/Berlin"},
        "args": [1, 2],
        "job_result_expiration_time": "1h",
    })
}

#[tokio::test]
async fn schedules_round_trip_with_pause_resume_and_preview() {
    let scheduler = scheduler().await;
    let client = Client::of(&scheduler).await;
    let created = client
        .post("/api/v1/schedules", cron_schedule("nightly"))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let body = created.json();
    assert_eq!(body["id"], "nightly");
    assert_eq!(body["paused"], false);
    assert_eq!(body["coalesce"], "latest");
    assert_eq!(body["job_result_expiration_time"], "1h");
    assert_eq!(body["trigger"]["type"], "cron");
    let next = body["next_fire_time"].as_str().unwrap().to_owned();

    assert_eq!(client.get("/api/v1/schedules/nightly").await.json(), body);
    assert_eq!(
        ids(&client.get("/api/v1/schedules").await.json()),
        ["nightly"]
    );

    let preview = client
        .get("/api/v1/schedules/nightly/preview?count=3")
        .await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.text);
    let times: Vec<String> = serde_json::from_str(&preview.text).unwrap();
    assert_eq!(times.len(), 3);
    for time in &times {
        assert!(time.contains("T03:00:00+0"), "Berlin wall time: {time}");
    }
    let first: jiff::Timestamp = times[0].parse().unwrap();
    assert_eq!(first, next.parse::<jiff::Timestamp>().unwrap());
    let second: jiff::Timestamp = times[1].parse().unwrap();
    assert!(second > first);
    let default = client.get("/api/v1/schedules/nightly/preview").await.json();
    assert_eq!(default.as_array().unwrap().len(), 10);

    let paused = client.post_empty("/api/v1/schedules/nightly/pause").await;
    assert_eq!(paused.status, StatusCode::OK, "{}", paused.text);
    assert_eq!(paused.json()["paused"], true);
    assert_eq!(
        client.get("/api/v1/schedules/nightly").await.json()["paused"],
        true
    );
    let resumed = client
        .post_empty("/api/v1/schedules/nightly/resume?skip_missed=true")
        .await;
    assert_eq!(resumed.status, StatusCode::OK, "{}", resumed.text);
    assert_eq!(resumed.json()["paused"], false);

    assert_eq!(
        client.delete("/api/v1/schedules/nightly").await.status,
        StatusCode::NO_CONTENT
    );
    client
        .get("/api/v1/schedules/nightly")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    client
        .post_empty("/api/v1/schedules/nightly/pause")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    client
        .get("/api/v1/schedules/nightly/preview")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");

    let generated = client
        .post(
            "/api/v1/schedules",
            json!({"task_id": "add", "trigger": {"type": "interval", "hours": 1}}),
        )
        .await;
    assert_eq!(generated.status, StatusCode::CREATED, "{}", generated.text);
    assert_eq!(generated.json()["id"].as_str().unwrap().len(), 36, "a UUID");
    scheduler.stop().await;
}

#[tokio::test]
async fn bad_schedule_input_is_rejected_and_nothing_is_written() {
    let scheduler = scheduler().await;
    let client = Client::of(&scheduler).await;
    let bad_trigger = client
        .post(
            "/api/v1/schedules",
            json!({"id": "s", "task_id": "add", "trigger": {"type": "cron", "minute": "61"}}),
        )
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_trigger");
    assert!(
        bad_trigger["detail"].as_str().unwrap().contains("minute"),
        "names the field: {bad_trigger}"
    );
    client
        .post(
            "/api/v1/schedules",
            json!({"id": "s", "task_id": "add", "trigger": {"type": "sometimes"}}),
        )
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_trigger");
    let missing = client
        .post(
            "/api/v1/schedules",
            json!({"id": "s", "task_id": "nope", "trigger": {"type": "interval", "seconds": 5}}),
        )
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    assert!(missing["detail"].as_str().unwrap().contains("nope"));
    client
        .post(
            "/api/v1/schedules",
            json!({"id": "s", "task_id": "add", "trigger": {"type": "interval", "seconds": 5}, "when": 1}),
        )
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    client
        .post(
            "/api/v1/schedules",
            json!({"id": "s", "task_id": "add", "trigger": {"type": "interval", "seconds": 5}, "max_jitter": "soon"}),
        )
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    client
        .get("/api/v1/schedules/-x")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_id");
    assert_eq!(client.get("/api/v1/schedules").await.json(), json!([]));

    assert_eq!(
        client
            .post("/api/v1/schedules", cron_schedule("dup"))
            .await
            .status,
        StatusCode::CREATED
    );
    client
        .post("/api/v1/schedules", cron_schedule("dup"))
        .await
        .assert_error(StatusCode::CONFLICT, "conflict");
    let mut replace = cron_schedule("dup");
    replace["conflict_policy"] = json!("replace");
    replace["paused"] = json!(true);
    let replaced = client.post("/api/v1/schedules", replace).await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.text);
    assert_eq!(replaced.json()["paused"], true);

    for query in ["count=0", "count=1001", "count=x", "cnt=3"] {
        client
            .get(&format!("/api/v1/schedules/dup/preview?{query}"))
            .await
            .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    }
    scheduler.stop().await;
}

#[tokio::test]
async fn trigger_preview_follows_the_preview_contract() {
    let scheduler = scheduler().await;
    let client = Client::of(&scheduler).await;
    let reply = client
        .post(
            "/api/v1/triggers/preview",
            json!({"trigger": {"type": "interval", "minutes": 30, "start_time": "2026-01-01T00:00:00+01:00"}, "count": 3}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        reply.json(),
        json!([
            "2026-01-01T00:00:00+01:00",
            "2026-01-01T00:30:00+01:00",
            "2026-01-01T01:00:00+01:00"
        ])
    );
    let ends = client
        .post(
            "/api/v1/triggers/preview",
            json!({"trigger": {"type": "date", "run_time": "2030-01-01T00:00:00Z"}, "count": 5}),
        )
        .await;
    assert_eq!(ends.json(), json!(["2030-01-01T00:00:00+00:00"]));
    client
        .post(
            "/api/v1/triggers/preview",
            json!({"trigger": {"type": "interval"}}),
        )
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_trigger");
    client
        .post(
            "/api/v1/triggers/preview",
            json!({"trigger": {"type": "interval", "seconds": 1}, "count": 0}),
        )
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    scheduler.stop().await;
}

#[tokio::test]
async fn jobs_run_and_their_results_are_served() {
    let scheduler = scheduler().await;
    let client = Client::of(&scheduler).await;
    let created = client
        .post(
            "/api/v1/jobs",
            json!({"task_id": "add", "args": [2, 3], "kwargs": {"k": 1}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let job = created.json();
    let id = job["id"].as_str().unwrap().to_owned();
    assert_eq!(job["task_id"], "add");
    assert_eq!(job["args"], json!([2, 3]));
    assert_eq!(job["result_expiration_time"], "15m");

    let result = client
        .get(&format!("/api/v1/results/{id}?wait=true&timeout=20"))
        .await;
    assert_eq!(result.status, StatusCode::OK, "{}", result.text);
    let result = result.json();
    assert_eq!(result["job_id"], id.as_str());
    assert_eq!(result["outcome"], "success");
    assert_eq!(result["return_value"], 5);
    assert_eq!(
        client.get(&format!("/api/v1/results/{id}")).await.json(),
        result
    );
    let list = client.get("/api/v1/results?limit=5").await.json();
    assert_eq!(list[0]["job_id"], id.as_str());
    client
        .get(&format!("/api/v1/jobs/{id}"))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");

    let failing = client
        .post("/api/v1/jobs", json!({"task_id": "add", "args": [-1]}))
        .await
        .json();
    let failed = client
        .get(&format!(
            "/api/v1/results/{}?wait=true",
            failing["id"].as_str().unwrap()
        ))
        .await
        .json();
    assert_eq!(failed["outcome"], "error");
    assert!(
        failed["error"].as_str().unwrap().contains("negative"),
        "{failed}"
    );

    // A queued job is listed and readable until it runs; its result is not there yet.
    let slow = client
        .post("/api/v1/jobs", json!({"task_id": "add", "args": [0, 1800]}))
        .await
        .json();
    let slow_id = slow["id"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let fetched = client.get(&format!("/api/v1/jobs/{slow_id}")).await;
    assert_eq!(fetched.status, StatusCode::OK, "{}", fetched.text);
    assert!(
        ids(&client.get("/api/v1/jobs?limit=10").await.json()).contains(&slow_id),
        "listed"
    );
    let pending = client
        .get(&format!("/api/v1/results/{slow_id}?wait=true&timeout=0.1"))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    assert!(
        pending["detail"]
            .as_str()
            .unwrap()
            .contains("not finished yet"),
        "{pending}"
    );

    client
        .post("/api/v1/jobs", json!({"task_id": "nope"}))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    client
        .post("/api/v1/jobs", json!({"task_id": "add", "priority": 1}))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    client
        .get("/api/v1/jobs/not-a-uuid")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_id");
    client
        .get("/api/v1/results/not-a-uuid")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_id");
    client
        .get(&format!("/api/v1/results/{id}?timeout=-1"))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    scheduler.stop().await;
}

#[tokio::test]
async fn nodes_are_listed_with_their_liveness() {
    let scheduler = scheduler().await;
    let client = Client::of(&scheduler).await;
    let now = scheduler.now();
    let node = |id: &str, heartbeat: jiff::Timestamp| NodeInfo {
        id: id.to_owned(),
        role: SchedulerRole::Worker,
        started_at: heartbeat,
        last_heartbeat: heartbeat,
        lease_duration: Duration::from_secs(30),
        max_concurrent_jobs: 10,
        running_jobs: 2,
        version: "0.1.0".to_owned(),
    };
    let store = scheduler.store();
    store.record_node(node("fresh", now)).await.unwrap();
    let old = now - jiff::SignedDuration::from_secs(120);
    store.record_node(node("stale", old)).await.unwrap();
    let reply = client.get("/api/v1/nodes").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let nodes = reply.json();
    let find = |id: &str| {
        nodes
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} in {nodes}"))
    };
    assert_eq!(find("fresh")["alive"], true);
    assert_eq!(find("fresh")["lease_duration"], "30s");
    assert_eq!(find("fresh")["role"], "worker");
    assert_eq!(find("stale")["alive"], false);
    scheduler.stop().await;
}

#[tokio::test]
async fn health_and_readiness() {
    let scheduler = scheduler().await;
    let client = Client::of(&scheduler).await;
    let health = client.get("/healthz").await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.json(), json!({"status": "ok"}));
    let ready = client.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::OK);
    scheduler.stop().await;
}
