//! Hostile input through the HTTP API: a table of malformed requests, each of which must get
//! a 4xx with the `{"error", "detail"}` shape, leave the store unchanged and leave the server
//! answering.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};

use crate::support::{Client, scheduler};

/// What a case sends.
enum Payload {
    None,
    Json(Value),
    Raw(&'static str, Vec<u8>),
}

/// One row of the table: a label naming the input, the request and, when it matters, the
/// exact status expected (otherwise any 4xx).
struct Case {
    label: String,
    method: Method,
    uri: String,
    payload: Payload,
    status: Option<StatusCode>,
}

fn case(
    label: impl Into<String>,
    method: Method,
    uri: impl Into<String>,
    payload: Payload,
) -> Case {
    Case {
        label: label.into(),
        method,
        uri: uri.into(),
        payload,
        status: None,
    }
}

/// Percent-encodes every byte that is not an ASCII letter or digit.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn bad_strings() -> Vec<(&'static str, String)> {
    vec![
        ("empty", String::new()),
        ("blank", "   ".to_owned()),
        ("10KB", "x".repeat(10 * 1024)),
        ("emoji", "⏰🔥".to_owned()),
        ("rtl", "\u{202e}evil".to_owned()),
        ("nul", "a\0b".to_owned()),
        ("traversal", "../../etc/passwd".to_owned()),
        ("sql", "'; DROP TABLE x;--".to_owned()),
    ]
}

/// Invalid trigger specifications, labelled.
fn bad_triggers() -> Vec<(String, Value)> {
    let mut triggers: Vec<(String, Value)> = vec![
        ("not an object".into(), json!("cron")),
        ("array".into(), json!([1])),
        ("null".into(), Value::Null),
        ("number".into(), json!(5)),
        ("no type".into(), json!({"seconds": 5})),
        ("unknown type".into(), json!({"type": "sometimes"})),
        ("type number".into(), json!({"type": 3})),
        ("type empty".into(), json!({"type": ""})),
        ("interval no unit".into(), json!({"type": "interval"})),
        (
            "interval zero".into(),
            json!({"type": "interval", "seconds": 0}),
        ),
        (
            "interval negative".into(),
            json!({"type": "interval", "seconds": -5}),
        ),
        (
            "interval 1e308".into(),
            json!({"type": "interval", "seconds": 1e308}),
        ),
        (
            "interval 2^63 us".into(),
            json!({"type": "interval", "microseconds": 9_223_372_036_854_775_808_u64}),
        ),
        (
            "interval huge weeks".into(),
            json!({"type": "interval", "weeks": i64::MAX}),
        ),
        (
            "interval string".into(),
            json!({"type": "interval", "seconds": "5"}),
        ),
        (
            "interval unknown field".into(),
            json!({"type": "interval", "seconds": 5, "bogus": 1}),
        ),
        ("date no run_time".into(), json!({"type": "date"})),
        (
            "date garbage".into(),
            json!({"type": "date", "run_time": "tomorrow"}),
        ),
        (
            "date number".into(),
            json!({"type": "date", "run_time": 1e308}),
        ),
        ("and empty".into(), json!({"type": "and", "triggers": []})),
        ("or not array".into(), json!({"type": "or", "triggers": {}})),
        ("calendar zero".into(), json!({"type": "calendarinterval"})),
        (
            "calendar negative".into(),
            json!({"type": "calendarinterval", "days": -1}),
        ),
    ];
    for (label, field, value) in [
        ("step zero", "minute", "*/0"),
        ("out of range", "minute", "99"),
        ("hour 24", "hour", "24"),
        ("open range", "day_of_week", "mon-"),
        ("last xyz", "day", "last xyz"),
        ("huge step", "second", "*/99999999999999999999"),
        ("empty field", "month", ""),
        ("junk", "hour", "a,b,c"),
        ("reverse range", "minute", "50-10/0"),
        ("emoji", "minute", "⏰"),
        ("nul", "hour", "1\u{0}2"),
        ("10KB", "minute", &"1,".repeat(5 * 1024)),
    ] {
        triggers.push((
            format!("cron {label}"),
            json!({"type": "cron", field: value}),
        ));
    }
    triggers.push((
        "cron wrong type".into(),
        json!({"type": "cron", "minute": [1]}),
    ));
    triggers.push((
        "cron expr junk".into(),
        json!({"type": "cron", "expr": "* * *"}),
    ));
    triggers.push((
        "cron expr 6 fields".into(),
        json!({"type": "cron", "expr": "0 0 0 0 0 0"}),
    ));
    for (label, tz) in bad_strings() {
        triggers.push((
            format!("timezone {label}"),
            json!({"type": "cron", "hour": 3, "timezone": tz}),
        ));
    }
    triggers.push((
        "timezone nowhere".into(),
        json!({"type": "cron", "hour": 3, "timezone": "Europe/Nowhere"}),
    ));
    triggers.push((
        "timezone number".into(),
        json!({"type": "cron", "hour": 3, "timezone": 1}),
    ));
    triggers
}

fn bad_ids() -> Vec<(&'static str, String)> {
    let mut ids = bad_strings();
    ids.retain(|(label, _)| *label != "10KB");
    ids.extend([
        ("too long", "a".repeat(horae::model::MAX_ID_LEN + 1)),
        ("very long", "a".repeat(5000)),
        ("dotdot", "../x".to_owned()),
        ("pct00", "%00".to_owned()),
        ("leading dash", "-x".to_owned()),
        ("space inside", "a b".to_owned()),
        ("slash", "a/b".to_owned()),
        ("quote", "a\"b".to_owned()),
        ("unicode", "tâche".to_owned()),
        ("newline", "a\nb".to_owned()),
    ]);
    ids
}

const GOOD_TRIGGER: fn() -> Value = || json!({"type": "interval", "seconds": 5});

fn table() -> Vec<Case> {
    let mut cases = Vec::new();
    // Invalid triggers through every endpoint that takes one, alone and nested.
    for (label, trigger) in bad_triggers() {
        let nested = json!({"type": "and", "triggers": [GOOD_TRIGGER(), trigger.clone()]});
        for (how, trigger) in [("plain", trigger.clone()), ("nested", nested)] {
            cases.push(case(
                format!("schedule trigger {how} {label}"),
                Method::POST,
                "/api/v1/schedules",
                Payload::Json(json!({"id": "h", "task_id": "add", "trigger": trigger})),
            ));
            cases.push(case(
                format!("preview trigger {how} {label}"),
                Method::POST,
                "/api/v1/triggers/preview",
                Payload::Json(json!({"trigger": trigger})),
            ));
        }
    }
    // Hostile ids in paths and bodies.
    for (label, id) in bad_ids() {
        let path = encode(&id);
        for (method, uri) in [
            (Method::GET, format!("/api/v1/tasks/{path}")),
            (Method::DELETE, format!("/api/v1/tasks/{path}")),
            (Method::GET, format!("/api/v1/schedules/{path}")),
            (Method::DELETE, format!("/api/v1/schedules/{path}")),
            (Method::POST, format!("/api/v1/schedules/{path}/pause")),
            (Method::POST, format!("/api/v1/schedules/{path}/resume")),
            (Method::GET, format!("/api/v1/schedules/{path}/preview")),
            (Method::GET, format!("/api/v1/jobs/{path}")),
            (Method::GET, format!("/api/v1/results/{path}")),
        ] {
            cases.push(case(
                format!("{method} id {label} {uri:.40}"),
                method,
                uri,
                Payload::None,
            ));
        }
        cases.push(case(
            format!("PUT task id {label}"),
            Method::PUT,
            format!("/api/v1/tasks/{path}"),
            Payload::Json(json!({"executor": "async"})),
        ));
        cases.push(case(
            format!("POST task id {label}"),
            Method::POST,
            "/api/v1/tasks",
            Payload::Json(json!({"id": id, "executor": "async"})),
        ));
        cases.push(case(
            format!("POST schedule id {label}"),
            Method::POST,
            "/api/v1/schedules",
            Payload::Json(json!({"id": id, "task_id": "add", "trigger": GOOD_TRIGGER()})),
        ));
        cases.push(case(
            format!("POST schedule task_id {label}"),
            Method::POST,
            "/api/v1/schedules",
            Payload::Json(json!({"id": "h", "task_id": id, "trigger": GOOD_TRIGGER()})),
        ));
        cases.push(case(
            format!("POST job task_id {label}"),
            Method::POST,
            "/api/v1/jobs",
            Payload::Json(json!({"task_id": id})),
        ));
    }
    // Wrong JSON types (and bad values) for every field of the bodies.
    let durations = || {
        vec![
            json!("-5s"),
            json!("1e999s"),
            json!("forever"),
            json!(""),
            json!(-1),
            json!(1e308),
            json!(true),
            json!([]),
            json!({}),
        ]
    };
    let not_string = || vec![json!(1), json!(true), json!([]), json!({}), json!(1.5)];
    let not_int = || {
        vec![
            json!("1"),
            json!(true),
            json!([]),
            json!({}),
            json!(1.5),
            json!(-1),
            json!(1e20),
        ]
    };
    let not_object = || vec![json!("x"), json!(1), json!(true), json!([1])];
    let not_array = || vec![json!("[1]"), json!(1), json!(true), json!({"0": 1})];
    let not_bool = || vec![json!("true"), json!(1), json!([]), json!({})];
    let task = json!({"id": "h", "executor": "async"});
    let schedule = json!({"id": "h", "task_id": "add", "trigger": GOOD_TRIGGER()});
    let job = json!({"task_id": "add"});
    let fields: Vec<(&str, &str, Value, &str, Vec<Value>)> = vec![
        ("task", "/api/v1/tasks", task.clone(), "id", not_string()),
        (
            "task",
            "/api/v1/tasks",
            task.clone(),
            "executor",
            [not_string(), vec![json!("bogus"), json!("")]].concat(),
        ),
        (
            "task",
            "/api/v1/tasks",
            task.clone(),
            "max_running_jobs",
            [not_int(), vec![json!(0)]].concat(),
        ),
        (
            "task",
            "/api/v1/tasks",
            task.clone(),
            "misfire_grace_time",
            durations(),
        ),
        (
            "task",
            "/api/v1/tasks",
            task.clone(),
            "timeout",
            [durations(), vec![json!("0s")]].concat(),
        ),
        (
            "task",
            "/api/v1/tasks",
            task.clone(),
            "metadata",
            not_object(),
        ),
        (
            "task",
            "/api/v1/tasks",
            task.clone(),
            "action",
            [not_object(), vec![json!({"teleport": {}})]].concat(),
        ),
        (
            "task",
            "/api/v1/tasks",
            task.clone(),
            "bogus_field",
            vec![json!(1)],
        ),
        (
            "schedule",
            "/api/v1/schedules",
            schedule.clone(),
            "id",
            not_string(),
        ),
        (
            "schedule",
            "/api/v1/schedules",
            schedule.clone(),
            "task_id",
            not_string(),
        ),
        (
            "schedule",
            "/api/v1/schedules",
            schedule.clone(),
            "args",
            not_array(),
        ),
        (
            "schedule",
            "/api/v1/schedules",
            schedule.clone(),
            "kwargs",
            not_object(),
        ),
        (
            "schedule",
            "/api/v1/schedules",
            schedule.clone(),
            "paused",
            not_bool(),
        ),
        (
            "schedule",
            "/api/v1/schedules",
            schedule.clone(),
            "coalesce",
            [not_string(), vec![json!("sometimes")]].concat(),
        ),
        (
            "schedule",
            "/api/v1/schedules",
            schedule.clone(),
            "misfire_grace_time",
            durations(),
        ),
        (
            "schedule",
            "/api/v1/schedules",
            schedule.clone(),
            "max_jitter",
            durations(),
        ),
        (
            "schedule",
            "/api/v1/schedules",
            schedule.clone(),
            "job_result_expiration_time",
            durations(),
        ),
        (
            "schedule",
            "/api/v1/schedules",
            schedule.clone(),
            "metadata",
            not_object(),
        ),
        (
            "schedule",
            "/api/v1/schedules",
            schedule.clone(),
            "conflict_policy",
            [not_string(), vec![json!("overwrite")]].concat(),
        ),
        (
            "schedule",
            "/api/v1/schedules",
            schedule.clone(),
            "bogus_field",
            vec![json!(1)],
        ),
        ("job", "/api/v1/jobs", job.clone(), "task_id", not_string()),
        ("job", "/api/v1/jobs", job.clone(), "args", not_array()),
        ("job", "/api/v1/jobs", job.clone(), "kwargs", not_object()),
        ("job", "/api/v1/jobs", job.clone(), "metadata", not_object()),
        (
            "job",
            "/api/v1/jobs",
            job.clone(),
            "result_expiration_time",
            durations(),
        ),
        (
            "job",
            "/api/v1/jobs",
            job.clone(),
            "bogus_field",
            vec![json!(1)],
        ),
        (
            "preview",
            "/api/v1/triggers/preview",
            json!({"trigger": GOOD_TRIGGER()}),
            "count",
            [not_int(), vec![json!(0), json!(1001)]].concat(),
        ),
        (
            "preview",
            "/api/v1/triggers/preview",
            json!({"trigger": GOOD_TRIGGER()}),
            "bogus_field",
            vec![json!(1)],
        ),
    ];
    for (body_kind, uri, base, field, values) in fields {
        for value in values {
            let mut body = base.clone();
            body[field] = value.clone();
            cases.push(case(
                format!("{body_kind}.{field} = {value:.40}"),
                Method::POST,
                uri,
                Payload::Json(body),
            ));
        }
    }
    // Bodies that are not JSON objects at all, or not JSON.
    for uri in [
        "/api/v1/tasks",
        "/api/v1/schedules",
        "/api/v1/jobs",
        "/api/v1/triggers/preview",
        "/api/v1/tasks/h",
    ] {
        let method = if uri.ends_with("/h") {
            Method::PUT
        } else {
            Method::POST
        };
        for (label, content_type, bytes) in [
            ("array body", "application/json", b"[1,2]".to_vec()),
            ("string body", "application/json", b"\"x\"".to_vec()),
            ("null body", "application/json", b"null".to_vec()),
            ("empty body", "application/json", Vec::new()),
            ("truncated", "application/json", b"{\"id\": ".to_vec()),
            (
                "invalid utf-8",
                "application/json",
                vec![b'{', b'"', 0xff, 0xfe, b'"', b'}'],
            ),
            ("nul", "application/json", b"{\"id\":\"\0\"}".to_vec()),
            (
                "deep nesting",
                "application/json",
                format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes(),
            ),
            ("text/plain", "text/plain", b"{}".to_vec()),
            (
                "form",
                "application/x-www-form-urlencoded",
                b"id=x".to_vec(),
            ),
        ] {
            cases.push(case(
                format!("{method} {uri} {label}"),
                method.clone(),
                uri,
                Payload::Raw(content_type, bytes),
            ));
        }
        for size in [(1 << 20) + 1, 3 << 20] {
            let bytes =
                format!("{{\"id\": \"h\", \"pad\": \"{}\"}}", "y".repeat(size)).into_bytes();
            let mut row = case(
                format!("{method} {uri} {size} bytes"),
                method.clone(),
                uri,
                Payload::Raw("application/json", bytes),
            );
            row.status = Some(StatusCode::PAYLOAD_TOO_LARGE);
            cases.push(row);
        }
    }
    // Query values.
    for value in [
        "-1",
        "0",
        "1e12",
        "abc",
        "",
        "1001",
        "99999999999999999999999",
        "%00",
        "1.5",
    ] {
        for path in [
            "/api/v1/jobs?limit=",
            "/api/v1/results?limit=",
            "/api/v1/schedules/keep/preview?count=",
        ] {
            let uri = format!("{path}{}", encode(value));
            cases.push(case(
                format!("query {uri}"),
                Method::GET,
                uri,
                Payload::None,
            ));
        }
    }
    for uri in [
        "/api/v1/jobs?bogus=1",
        "/api/v1/results/00000000-0000-0000-0000-000000000000?timeout=-1",
        "/api/v1/results/00000000-0000-0000-0000-000000000000?wait=maybe",
        "/api/v1/schedules/keep/resume?skip_missed=2",
    ] {
        let method = if uri.contains("resume") {
            Method::POST
        } else {
            Method::GET
        };
        cases.push(case(format!("query {uri}"), method, uri, Payload::None));
    }
    // Bad methods on known paths.
    for (method, uri) in [
        (Method::PATCH, "/api/v1/tasks"),
        (Method::DELETE, "/api/v1/tasks"),
        (Method::PUT, "/api/v1/tasks"),
        (Method::PATCH, "/api/v1/tasks/add"),
        (Method::POST, "/api/v1/tasks/add"),
        (Method::PUT, "/api/v1/schedules"),
        (Method::DELETE, "/api/v1/schedules"),
        (Method::PUT, "/api/v1/schedules/keep"),
        (Method::PATCH, "/api/v1/schedules/keep"),
        (Method::GET, "/api/v1/schedules/keep/pause"),
        (Method::DELETE, "/api/v1/schedules/keep/resume"),
        (Method::POST, "/api/v1/schedules/keep/preview"),
        (Method::GET, "/api/v1/triggers/preview"),
        (Method::DELETE, "/api/v1/jobs"),
        (Method::PUT, "/api/v1/jobs"),
        (Method::DELETE, "/api/v1/results"),
        (Method::POST, "/api/v1/nodes"),
        (Method::POST, "/healthz"),
        (Method::DELETE, "/metrics"),
    ] {
        cases.push(case(format!("{method} {uri}"), method, uri, Payload::None));
    }
    cases
}

/// The store as the API lists it.
async fn snapshot(client: &Client) -> Vec<Value> {
    let mut state = Vec::new();
    for uri in [
        "/api/v1/tasks",
        "/api/v1/schedules",
        "/api/v1/jobs",
        "/api/v1/results",
    ] {
        let reply = client.get(uri).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.text);
        state.push(reply.json());
    }
    state
}

#[tokio::test]
async fn hostile_http_inputs_get_a_4xx_and_change_nothing() {
    let scheduler = scheduler().await;
    let client = Client::of(&scheduler).await;
    let keep = client
        .post(
            "/api/v1/schedules",
            json!({"id": "keep", "task_id": "add", "trigger": {"type": "cron", "hour": 3}, "paused": true}),
        )
        .await;
    assert_eq!(keep.status, StatusCode::CREATED, "{}", keep.text);
    let before = snapshot(&client).await;

    let cases = table();
    assert!(
        cases.len() >= 650,
        "the table shrank to {} cases",
        cases.len()
    );
    let mut failures = Vec::new();
    for row in &cases {
        let builder = Request::builder().method(row.method.clone()).uri(&row.uri);
        let request = match &row.payload {
            Payload::None => builder.body(Body::empty()),
            Payload::Json(value) => builder
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(value.to_string())),
            Payload::Raw(content_type, bytes) => builder
                .header(header::CONTENT_TYPE, *content_type)
                .body(Body::from(bytes.clone())),
        }
        .unwrap();
        let reply = client.send(request).await;
        let shape = serde_json::from_str::<Value>(&reply.text)
            .ok()
            .is_some_and(|body| {
                body["error"].as_str().is_some_and(|e| !e.is_empty())
                    && body["detail"].as_str().is_some_and(|d| !d.is_empty())
                    && body.as_object().is_some_and(|o| o.len() == 2)
            });
        let status_ok = match row.status {
            Some(status) => reply.status == status,
            None => reply.status.is_client_error(),
        };
        if !status_ok || !shape {
            failures.push(format!(
                "{}: {} {:.300}",
                row.label, reply.status, reply.text
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert_eq!(client.get("/healthz").await.status, StatusCode::OK);
    assert_eq!(snapshot(&client).await, before, "the store changed");
    // And it still takes valid writes.
    let after = client
        .post("/api/v1/tasks", json!({"id": "after", "executor": "async"}))
        .await;
    assert_eq!(after.status, StatusCode::CREATED, "{}", after.text);
    scheduler.stop().await;
}
