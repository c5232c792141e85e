//! The HTTP API's request decoding and validation, through the real router
//! (`horae_server::router`) on a current-thread runtime. The router is built once; every
//! input starts from a fresh in-memory store that holds task `echo` and schedule
//! `every-minute`.
//!
//! The input is up to four requests separated by a line `###`. Each is written like
//! HTTP/1: a line `METHOD URI`, header lines `Name: value` up to an empty line, then the
//! body (sent as `application/json` unless a `Content-Type` header says otherwise). An
//! input starting with a line `token` runs against a node that requires a bearer token
//! (`fuzz-token`).
//!
//! Every answer must be below 500; a 4xx of the API must have the `{"error", "detail"}`
//! body and leave the store unchanged; a redirect must stay on the server.

#![no_main]

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Method, Request, header};
use horae::clock::{BoxFuture, Clock};
use horae::model::{
    CommandAction, ExecutorKind, ScheduleId, SchedulerRole, Task, TaskAction, TaskId,
};
use horae::scheduler::{ScheduleOptions, Scheduler};
use horae::trigger::Trigger;
use horae_fuzz::ResetStore;
use horae_server::AppState;
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tower::ServiceExt;

/// The most requests taken from one input.
const MAX_REQUESTS: usize = 4;

/// A clock that always reads the fuzzers' fixed "now" (reproducible inputs).
#[derive(Debug)]
struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> jiff::Timestamp {
        horae_fuzz::now()
    }

    fn sleep_until(&self, _deadline: jiff::Timestamp) -> BoxFuture<'static, ()> {
        Box::pin(std::future::ready(()))
    }
}

/// A worker-less node (nothing the fuzzer adds runs) and its router, built once per thread
/// and per token setting.
struct App {
    store: Arc<ResetStore>,
    scheduler: Scheduler,
    router: axum::Router,
}

impl App {
    fn new(token: Option<&str>) -> App {
        let store = Arc::new(ResetStore::default());
        let scheduler = Scheduler::builder()
            .node_id("fuzz")
            .role(SchedulerRole::Scheduler)
            .store(store.clone())
            .clock(Arc::new(FixedClock))
            .build()
            .unwrap_or_else(|e| panic!("scheduler: {e}"));
        let state = AppState::new(scheduler.clone())
            .with_token(token.map(str::to_owned))
            .with_result_wait_limit(Duration::ZERO)
            .with_ready_timeout(Duration::from_millis(100));
        let router = horae_server::router(state);
        App {
            store,
            scheduler,
            router,
        }
    }
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap_or_else(|e| panic!("no tokio runtime: {e}"));
    static OPEN: App = App::new(None);
    static GUARDED: App = App::new(Some("fuzz-token"));
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (apps, text) = match text.strip_prefix("token\n") {
        Some(rest) => (&GUARDED, rest),
        None => (&OPEN, text),
    };
    apps.with(|app| RUNTIME.with(|runtime| runtime.block_on(run(app, text))));
});

async fn run(app: &App, text: &str) {
    app.store.reset();
    seed(&app.scheduler).await;
    let scheduler = &app.scheduler;
    for raw in text.split("\n###\n").take(MAX_REQUESTS) {
        let Some((request, summary)) = request(raw) else {
            continue;
        };
        let path = request.uri().path().to_owned();
        let before = snapshot(scheduler).await;
        let response = match app.router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let status = response.status();
        assert!(
            !status.is_server_error(),
            "{status} for {summary}\nresponse: {}",
            body_text(response).await
        );
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            assert!(
                location.starts_with('/')
                    && !location.starts_with("//")
                    && !location.starts_with("/\\"),
                "redirect off the server to {location:?} for {summary}"
            );
        }
        if content_type.starts_with("text/event-stream") {
            // The event stream never ends; its headers are all there is to check.
            continue;
        }
        let body = body_text(response).await;
        if status.is_client_error() {
            let dashboard = content_type.starts_with("text/html") && is_dashboard(&path);
            if !dashboard {
                check_error_body(&body, &content_type, &summary);
            }
            let after = snapshot(scheduler).await;
            assert!(
                before == after,
                "a rejected request ({status}) changed the store: {summary}\nbefore {before}\nafter {after}"
            );
        } else if content_type.starts_with("application/json") {
            assert!(
                serde_json::from_str::<Value>(&body).is_ok(),
                "{status} with a body that is not JSON for {summary}: {body}"
            );
        }
    }
}

/// Adds task `echo` and schedule `every-minute` to the (empty) store.
async fn seed(scheduler: &Scheduler) {
    let id = TaskId::new("echo").unwrap_or_else(|e| panic!("{e}"));
    let mut task = Task::new(id.clone(), ExecutorKind::Command);
    task.action = Some(TaskAction::Command(CommandAction {
        argv: vec!["echo".into(), "hello".into()],
        shell: false,
        env: Default::default(),
        cwd: None,
    }));
    scheduler
        .put_task(task)
        .await
        .unwrap_or_else(|e| panic!("task: {e}"));
    let trigger = Trigger::parse(r#"{"type":"cron","expr":"* * * * *"}"#, horae_fuzz::now())
        .unwrap_or_else(|e| panic!("{e}"));
    let options =
        ScheduleOptions::with_id(ScheduleId::new("every-minute").unwrap_or_else(|e| panic!("{e}")));
    scheduler
        .add_schedule(&id, trigger, options)
        .await
        .unwrap_or_else(|e| panic!("schedule: {e}"));
}

/// One request from its text form, and a summary for failure messages.
fn request(raw: &str) -> Option<(Request<Body>, String)> {
    let (head, body) = match raw.split_once("\n\n") {
        Some((head, body)) => (head, body),
        None => (raw, ""),
    };
    let mut lines = head.lines();
    let (method, uri) = lines.next()?.split_once(' ')?;
    let mut builder = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).ok()?)
        .uri(uri);
    let mut content_type = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_str(value.trim()),
        ) else {
            continue;
        };
        content_type |= name == header::CONTENT_TYPE;
        builder = builder.header(name, value);
    }
    if !content_type && !body.is_empty() {
        builder = builder.header(header::CONTENT_TYPE, "application/json");
    }
    let request = builder.body(Body::from(body.to_owned())).ok()?;
    let summary = format!("{raw:?}");
    Some((request, summary))
}

/// Paths of the dashboard, whose errors are HTML pages.
fn is_dashboard(path: &str) -> bool {
    path == "/" || path.starts_with("/ui/") || path == "/login" || path == "/logout"
}

/// `{"error": code, "detail": message}` and nothing else, as JSON.
fn check_error_body(body: &str, content_type: &str, summary: &str) {
    assert!(
        content_type.starts_with("application/json"),
        "an error that is not JSON ({content_type:?}) for {summary}: {body}"
    );
    let value: Value = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("an error body that is not JSON ({e}) for {summary}: {body}"));
    let shape = value.as_object().is_some_and(|object| {
        object.len() == 2
            && object
                .get("error")
                .and_then(Value::as_str)
                .is_some_and(|code| !code.is_empty())
            && object
                .get("detail")
                .and_then(Value::as_str)
                .is_some_and(|detail| !detail.is_empty())
    });
    assert!(
        shape,
        "an error body without the error/detail shape for {summary}: {body}"
    );
}

/// The store's tasks, schedules and queued jobs, as JSON.
async fn snapshot(scheduler: &Scheduler) -> String {
    let store = scheduler.store();
    let tasks = store.get_tasks().await.unwrap_or_else(|e| panic!("{e}"));
    let schedules = store
        .get_schedules()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let jobs = store.get_jobs().await.unwrap_or_else(|e| panic!("{e}"));
    serde_json::json!({"tasks": tasks, "schedules": schedules, "jobs": jobs}).to_string()
}

async fn body_text(response: axum::response::Response) -> String {
    match response.into_body().collect().await {
        Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
        Err(e) => format!("(the body failed: {e})"),
    }
}
