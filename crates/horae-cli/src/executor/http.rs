//! HTTP tasks: make a request; a 2xx status is success.
//!
//! The request carries the task's method, URL, headers and body, plus the headers
//! `X-Horae-Job-Id` and `X-Horae-Attempt` (so a receiver can recognise a retried delivery).
//! The task's `http.timeout` bounds the whole exchange (the task's own `timeout` applies
//! on top, as for every task). Redirects are followed (at most 10). Of the response body
//! only the last [`MAX_OUTPUT`] bytes are kept.
//!
//! A 2xx response gives the result `{"status": 200, "body": "..."}`; another status is a
//! failure whose message carries the status and the end of the body; a connection error or
//! timeout is a failure too (retried if the task's retry policy allows).

use std::error::Error as _;

use horae::duration::format_duration;
use horae::model::HttpAction;
use horae::scheduler::handler::{HandlerError, HandlerResult, JobContext};
use reqwest::Method;
use serde_json::json;

use super::MAX_OUTPUT;
use super::tail::Tail;

/// How much of the response body a failure's message carries.
const MESSAGE_TAIL: usize = 8 * 1024;

/// Makes the HTTP requests of HTTP tasks; clones share one connection pool.
#[derive(Debug, Clone)]
pub(crate) struct HttpExecutor {
    client: reqwest::Client,
}

/// Installs rustls' ring crypto provider as the process default (reqwest is built without
/// a provider of its own, so that aws-lc-rs stays out of the build). Idempotent.
pub(crate) fn install_crypto_provider() {
    // Err means a provider is installed already: fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl HttpExecutor {
    /// An executor with a fresh connection pool.
    ///
    /// # Errors
    ///
    /// reqwest's, when the TLS configuration cannot be built.
    pub(crate) fn new() -> Result<HttpExecutor, reqwest::Error> {
        install_crypto_provider();
        let client = reqwest::Client::builder()
            .user_agent(concat!("horae/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(HttpExecutor { client })
    }

    /// Makes the job's request and reads the response.
    ///
    /// # Errors
    ///
    /// [`HandlerError::Failed`] for a non-2xx status, a connection error or a timeout;
    /// [`HandlerError::Cancel`] (no retry) for a method or URL that cannot be sent.
    pub(crate) async fn run(&self, action: &HttpAction, ctx: &JobContext) -> HandlerResult {
        let method = Method::from_bytes(action.method.as_bytes()).map_err(|_| {
            HandlerError::Cancel(format!("{:?} is not an HTTP method", action.method))
        })?;
        let what = format!("{method} {}", action.url);
        let mut request = self
            .client
            .request(method, &action.url)
            .header("X-Horae-Job-Id", ctx.job.id.to_string())
            .header("X-Horae-Attempt", ctx.job.attempt.to_string());
        for (name, value) in &action.headers {
            request = request.header(name, value);
        }
        if let Some(body) = &action.body {
            request = request.body(body.clone());
        }
        if let Some(timeout) = action.timeout {
            request = request.timeout(timeout);
        }
        let failed = |error: reqwest::Error| {
            if error.is_builder() {
                HandlerError::Cancel(format!("{what}: {}", describe(&error)))
            } else if error.is_timeout() {
                let limit = action.timeout.map(format_duration).unwrap_or_default();
                HandlerError::failed(format!("{what}: timed out after {limit}"))
            } else {
                HandlerError::failed(format!("{what}: {}", describe(&error)))
            }
        };
        let mut response = request.send().await.map_err(failed)?;
        let status = response.status();
        let mut body = Tail::new(MAX_OUTPUT);
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            body.push(&chunk);
        }
        if status.is_success() {
            return Ok(json!({"status": status.as_u16(), "body": body.text()}));
        }
        let tail = body.text_tail(MESSAGE_TAIL);
        let tail = tail.trim_end();
        Err(HandlerError::failed(if tail.is_empty() {
            format!("{what}: HTTP {status}")
        } else {
            format!("{what}: HTTP {status}: {tail}")
        }))
    }
}

/// The error and its causes, without the URL reqwest repeats (the message names it).
fn describe(error: &reqwest::Error) -> String {
    let mut text = String::new();
    let mut cause: Option<&dyn std::error::Error> = error.source();
    while let Some(error) = cause {
        let part = error.to_string();
        if !text.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
        cause = error.source();
    }
    if text.is_empty() {
        // reqwest's own text repeats the URL the message names already.
        let text = error.to_string();
        match error.url() {
            Some(url) => text.replace(&format!(" ({url})"), ""),
            None => text,
        }
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use horae::model::{Job, TaskId};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    fn ctx() -> JobContext {
        JobContext {
            job: Job::new(TaskId::new("t").unwrap(), jiff::Timestamp::now()),
            node_id: "n".to_owned(),
            action: None,
        }
    }

    fn action(url: String) -> HttpAction {
        HttpAction {
            method: "POST".to_owned(),
            url,
            headers: BTreeMap::from([("X-Test".to_owned(), "yes".to_owned())]),
            body: Some("ping".to_owned()),
            timeout: Some(Duration::from_secs(5)),
        }
    }

    /// A one-request HTTP server answering `status` with `body` after `delay`; returns its
    /// URL and a handle yielding the request it received.
    async fn serve_once(
        status: &'static str,
        body: String,
        delay: Duration,
    ) -> (String, tokio::task::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let handle = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buffer = [0u8; 4096];
            // Headers, then the 4-byte body.
            while !request.ends_with(b"ping") {
                let n = socket.read(&mut buffer).await.unwrap();
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buffer[..n]);
            }
            tokio::time::sleep(delay).await;
            let response = format!(
                "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(response.as_bytes()).await;
            String::from_utf8_lossy(&request).into_owned()
        });
        (url, handle)
    }

    #[tokio::test]
    async fn a_2xx_response_is_success_with_status_and_body() {
        let (url, server) = serve_once("200 OK", "pong".into(), Duration::ZERO).await;
        let executor = HttpExecutor::new().unwrap();
        let ctx = ctx();
        let value = executor.run(&action(url), &ctx).await.unwrap();
        assert_eq!(value, json!({"status": 200, "body": "pong"}));
        let request = server.await.unwrap().to_lowercase();
        assert!(request.starts_with("post /hook http/1.1"), "{request}");
        assert!(request.contains("x-test: yes"), "{request}");
        assert!(
            request.contains(&format!("x-horae-job-id: {}", ctx.job.id)),
            "{request}"
        );
        assert!(request.contains("x-horae-attempt: 1"), "{request}");
    }

    #[tokio::test]
    async fn a_non_2xx_response_is_a_failure_with_status_and_body() {
        let (url, _server) = serve_once(
            "500 Internal Server Error",
            "it broke".into(),
            Duration::ZERO,
        )
        .await;
        let error = HttpExecutor::new()
            .unwrap()
            .run(&action(url.clone()), &ctx())
            .await
            .unwrap_err();
        assert_eq!(
            error,
            HandlerError::failed(format!(
                "POST {url}: HTTP 500 Internal Server Error: it broke"
            ))
        );
    }

    #[tokio::test]
    async fn a_long_body_keeps_its_last_64_kib() {
        let body = format!("{}end", "x".repeat(100_000));
        let (url, _server) = serve_once("200 OK", body, Duration::ZERO).await;
        let value = HttpExecutor::new()
            .unwrap()
            .run(&action(url), &ctx())
            .await
            .unwrap();
        let body = value["body"].as_str().unwrap();
        assert_eq!(body.len(), MAX_OUTPUT);
        assert!(body.ends_with("xend"));
    }

    #[tokio::test]
    async fn a_slow_server_times_out() {
        let (url, _server) = serve_once("200 OK", "late".into(), Duration::from_secs(10)).await;
        let mut action = action(url.clone());
        action.timeout = Some(Duration::from_millis(200));
        let error = HttpExecutor::new()
            .unwrap()
            .run(&action, &ctx())
            .await
            .unwrap_err();
        assert_eq!(
            error,
            HandlerError::failed(format!("POST {url}: timed out after 200ms"))
        );
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_failure() {
        // Bind and drop: nothing listens on the port any more.
        let port = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/");
        let error = HttpExecutor::new()
            .unwrap()
            .run(&action(url.clone()), &ctx())
            .await
            .unwrap_err();
        let HandlerError::Failed(message) = &error else {
            panic!("{error:?}")
        };
        assert!(message.starts_with(&format!("POST {url}: ")), "{message}");
        assert!(message.to_lowercase().contains("refused"), "{message}");
    }
}
