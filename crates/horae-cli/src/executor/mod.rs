//! The executors that run the daemon's command and HTTP tasks, installed as the scheduler's
//! [action handler](horae::scheduler::SchedulerBuilder::action_handler).
//!
//! The engine applies the task's timeout by dropping the handler's future, so everything an
//! executor starts is tied to that future: a command's process group is killed and an HTTP
//! request is aborted when the future is dropped.

pub(crate) mod command;
pub(crate) mod http;
mod tail;

use horae::model::TaskAction;
use horae::scheduler::handler::{Handler, HandlerError, JobContext};

pub(crate) use self::tail::MAX_OUTPUT;

/// The action handler for command and HTTP tasks.
///
/// # Errors
///
/// The HTTP client could not be built (no TLS provider, no root certificates).
pub(crate) fn action_handler() -> Result<Handler, reqwest::Error> {
    let http = http::HttpExecutor::new()?;
    Ok(Handler::from_async(move |ctx: JobContext| {
        let http = http.clone();
        async move {
            match ctx.action.clone() {
                Some(TaskAction::Command(action)) => command::run(&action, &ctx).await,
                Some(TaskAction::Http(action)) => http.run(&action, &ctx).await,
                None => Err(HandlerError::Cancel(format!(
                    "task '{}' has neither a command nor an HTTP action",
                    ctx.job.task_id
                ))),
            }
        }
    }))
}
