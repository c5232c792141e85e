//! A started in-memory scheduler and a small client for the router.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use horae::model::{ExecutorKind, Task, TaskId};
use horae::scheduler::Scheduler;
use horae::scheduler::handler::{Handler, HandlerError};
use horae_server::AppState;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// A started node with a memory store and a task `add` that sums its integer arguments
/// (and fails with an HTML-ish message when the first argument is negative).
pub(crate) async fn scheduler() -> Scheduler {
    let scheduler = Scheduler::builder()
        .node_id("it-node")
        .lease_duration(Duration::from_millis(600))
        .build()
        .unwrap();
    let mut task = Task::new(TaskId::new("add").unwrap(), ExecutorKind::Async);
    task.max_running_jobs = None;
    scheduler
        .configure_task(
            task,
            Handler::from_async(|ctx| async move {
                let numbers: Vec<i64> = ctx.args()?;
                if numbers.first().is_some_and(|n| *n < 0) {
                    return Err(HandlerError::failed("<b>negative</b> & bad"));
                }
                if let Some(ms) = numbers.get(1).filter(|ms| **ms > 1000) {
                    tokio::time::sleep(Duration::from_millis((*ms - 1000) as u64)).await;
                }
                Ok(serde_json::json!(numbers.iter().sum::<i64>()))
            }),
        )
        .await
        .unwrap();
    scheduler.start().await;
    scheduler
}

/// A response, read to the end.
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) text: String,
}

impl Reply {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.text))
    }

    pub(crate) fn header(&self, name: header::HeaderName) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts the `{"error", "detail"}` shape and the status; returns the body.
    #[track_caller]
    pub(crate) fn assert_error(&self, status: StatusCode, code: &str) -> Value {
        assert_eq!(self.status, status, "{}", self.text);
        let body = self.json();
        assert_eq!(body["error"], code, "{body}");
        assert!(
            body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{body}"
        );
        assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
        assert!(
            self.header(header::CONTENT_TYPE)
                .starts_with("application/json")
        );
        body
    }
}

/// The router over a state, with request helpers.
pub(crate) struct Client {
    pub(crate) app: Router,
    pub(crate) headers: Vec<(header::HeaderName, String)>,
}

impl Client {
    pub(crate) fn new(state: AppState) -> Client {
        Client {
            app: horae_server::router(state),
            headers: Vec::new(),
        }
    }

    pub(crate) async fn of(scheduler: &Scheduler) -> Client {
        Client::new(AppState::new(scheduler.clone()))
    }

    pub(crate) fn with_header(mut self, name: header::HeaderName, value: &str) -> Client {
        self.headers.push((name, value.to_owned()));
        self
    }

    pub(crate) async fn send(&self, request: Request<Body>) -> Reply {
        let mut request = request;
        for (name, value) in &self.headers {
            request
                .headers_mut()
                .insert(name.clone(), value.parse().unwrap());
        }
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub(crate) async fn call(&self, method: Method, uri: &str, body: Option<Value>) -> Reply {
        let builder = Request::builder().method(method).uri(uri);
        let request = match body {
            Some(body) => builder
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string())),
            None => builder.body(Body::empty()),
        };
        self.send(request.unwrap()).await
    }

    pub(crate) async fn get(&self, uri: &str) -> Reply {
        self.call(Method::GET, uri, None).await
    }

    pub(crate) async fn post(&self, uri: &str, body: Value) -> Reply {
        self.call(Method::POST, uri, Some(body)).await
    }

    pub(crate) async fn put(&self, uri: &str, body: Value) -> Reply {
        self.call(Method::PUT, uri, Some(body)).await
    }

    pub(crate) async fn delete(&self, uri: &str) -> Reply {
        self.call(Method::DELETE, uri, None).await
    }

    pub(crate) async fn post_empty(&self, uri: &str) -> Reply {
        self.call(Method::POST, uri, None).await
    }

    /// A form post (as a browser sends it).
    pub(crate) async fn post_form(&self, uri: &str, form: &str) -> Reply {
        let request = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form.to_owned()))
            .unwrap();
        self.send(request).await
    }
}
