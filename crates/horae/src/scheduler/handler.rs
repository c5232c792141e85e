//! Task handlers: the Rust functions that run jobs.
//!
//! An async handler runs on the runtime; a blocking handler runs on tokio's blocking pool,
//! so it can never stall the lease keeper (DESIGN.md invariant 2). Either way a handler gets
//! a [`JobContext`] and returns a JSON value, or a [`HandlerError`]; a panic is caught and
//! becomes outcome `error` (invariant 7).

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::clock::BoxFuture;
use crate::model::{Job, TaskAction};

/// What a handler sees of the job it runs.
#[derive(Debug, Clone)]
pub struct JobContext {
    /// The job (id, task, arguments, schedule, attempt, ...).
    pub job: Job,
    /// The node running it.
    pub node_id: String,
    /// The task's action, for the handler that runs command and HTTP tasks (see
    /// [`SchedulerBuilder::action_handler`](super::SchedulerBuilder::action_handler)).
    pub action: Option<TaskAction>,
}

impl JobContext {
    /// The positional arguments decoded as `T` (e.g. a tuple or a `Vec`).
    ///
    /// # Errors
    ///
    /// A [`HandlerError`] describing the mismatch (the job then ends with outcome `error`).
    pub fn args<T: DeserializeOwned>(&self) -> Result<T, HandlerError> {
        serde_json::from_value(Value::Array(self.job.args.clone()))
            .map_err(|e| HandlerError::failed(format!("invalid job arguments: {e}")))
    }

    /// The keyword arguments decoded as `T` (e.g. a struct).
    ///
    /// # Errors
    ///
    /// A [`HandlerError`] describing the mismatch.
    pub fn kwargs<T: DeserializeOwned>(&self) -> Result<T, HandlerError> {
        serde_json::from_value(Value::Object(self.job.kwargs.clone()))
            .map_err(|e| HandlerError::failed(format!("invalid job keyword arguments: {e}")))
    }
}

/// How a handler reports that its job did not succeed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum HandlerError {
    /// The job failed (outcome `error`); it is retried if the task's retry policy allows.
    Failed(String),
    /// The job failed and should be retried after this delay, if attempts remain.
    RetryAfter(Duration, String),
    /// The job should not run again (outcome `error`, no retry).
    Cancel(String),
}

impl HandlerError {
    /// A failure with a message.
    pub fn failed(message: impl Into<String>) -> HandlerError {
        HandlerError::Failed(message.into())
    }

    /// The message.
    pub fn message(&self) -> &str {
        match self {
            HandlerError::Failed(m) | HandlerError::RetryAfter(_, m) | HandlerError::Cancel(m) => m,
        }
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for HandlerError {}

impl From<String> for HandlerError {
    fn from(message: String) -> HandlerError {
        HandlerError::Failed(message)
    }
}

impl From<&str> for HandlerError {
    fn from(message: &str) -> HandlerError {
        HandlerError::Failed(message.to_owned())
    }
}

/// What a handler returns.
pub type HandlerResult = Result<Value, HandlerError>;

/// A task's handler, as stored by the scheduler.
#[derive(Clone)]
pub enum Handler {
    /// Runs on the async runtime.
    Async(Arc<dyn Fn(JobContext) -> BoxFuture<'static, HandlerResult> + Send + Sync>),
    /// Runs on the blocking pool.
    Blocking(Arc<dyn Fn(JobContext) -> HandlerResult + Send + Sync>),
}

impl fmt::Debug for Handler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Handler::Async(_) => "Handler::Async",
            Handler::Blocking(_) => "Handler::Blocking",
        })
    }
}

impl Handler {
    /// Wraps an async function. Its success value is any `Serialize` type, stored as JSON
    /// (a value that fails to serialize makes the job end with outcome `error`).
    pub fn from_async<F, Fut, T>(function: F) -> Handler
    where
        F: Fn(JobContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, HandlerError>> + Send + 'static,
        T: Serialize,
    {
        let function = Arc::new(function);
        Handler::Async(Arc::new(move |ctx| {
            let future = function(ctx);
            Box::pin(async move { to_json(future.await?) })
        }))
    }

    /// Wraps a blocking function (run on the blocking pool); its success value is stored
    /// as JSON as with [`Handler::from_async`].
    pub fn from_blocking<F, T>(function: F) -> Handler
    where
        F: Fn(JobContext) -> Result<T, HandlerError> + Send + Sync + 'static,
        T: Serialize,
    {
        Handler::Blocking(Arc::new(move |ctx| to_json(function(ctx)?)))
    }
}

fn to_json<T: Serialize>(value: T) -> HandlerResult {
    serde_json::to_value(value)
        .map_err(|e| HandlerError::failed(format!("the return value is not valid JSON: {e}")))
}
