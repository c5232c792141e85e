//! `horae job add|list|show|result`.

use std::time::Duration;

use clap::{Args, Subcommand};
use horae::error::{ObjectKind, StoreError};
use horae::model::{Job, JobId, TaskId};
use serde_json::Value;

use super::task::parse_duration;
use super::{Admin, AdminArgs, block_on, failure, print_json, show, store_failure};
use crate::Failure;
use crate::config::Settings;
use crate::spec::{JsonArray, JsonObject, json_array, json_object};

/// `horae job ...`.
#[derive(Debug, Args)]
pub(crate) struct JobArgs {
    #[command(flatten)]
    admin: AdminArgs,
    #[command(subcommand)]
    command: JobCommand,
}

#[derive(Debug, Subcommand)]
enum JobCommand {
    /// Queue a job of a task now; prints its id.
    Add {
        /// The task to run.
        #[arg(long)]
        task: TaskId,
        /// Positional arguments, a JSON array (the command gets them as HORAE_ARGS).
        #[arg(long, value_name = "JSON", value_parser = json_array)]
        args: Option<JsonArray>,
        /// Keyword arguments, a JSON object (HORAE_KWARGS).
        #[arg(long, value_name = "JSON", value_parser = json_object)]
        kwargs: Option<JsonObject>,
        /// How long its result is kept once it finished, for `horae job result`.
        #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_duration)]
        result_expiration: Duration,
    },
    /// List the queued and running jobs.
    List,
    /// Show a queued or running job.
    Show {
        /// The job's id.
        id: JobId,
    },
    /// Show a finished job's result; exit status 1 when it did not succeed.
    Result {
        /// The job's id.
        id: JobId,
        /// Wait until the job has finished.
        #[arg(long)]
        wait: bool,
        /// With --wait, give up after this long (exit status 1).
        #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "wait")]
        timeout: Option<Duration>,
    },
}

/// Runs `horae job ...`.
pub(crate) fn run(args: JobArgs, mut settings: Settings) -> Result<(), Failure> {
    if let Some(store) = args.admin.store.clone() {
        settings.override_store(store);
    }
    block_on(async move {
        let admin = Admin::open(&settings, args.admin.json).await?;
        let result = match args.command {
            JobCommand::Add {
                task,
                args,
                kwargs,
                result_expiration,
            } => add(&admin, &task, args, kwargs, result_expiration).await,
            JobCommand::List => list(&admin).await,
            JobCommand::Show { id } => show_one(&admin, &id).await,
            JobCommand::Result { id, wait, timeout } => result(&admin, &id, wait, timeout).await,
        };
        admin.close().await;
        result
    })
}

async fn add(
    admin: &Admin,
    task: &TaskId,
    args: Option<JsonArray>,
    kwargs: Option<JsonObject>,
    result_expiration: Duration,
) -> Result<(), Failure> {
    let store = admin.scheduler.store();
    if store.get_task(task).await.map_err(store_failure)?.is_none() {
        return Err(store_failure(StoreError::NotFound {
            kind: ObjectKind::Task,
            id: task.to_string(),
        }));
    }
    let mut job = admin
        .scheduler
        .new_job(task, args.map(|a| a.0).unwrap_or_default());
    job.kwargs = kwargs.map(|k| k.0).unwrap_or_default();
    job.result_expiration_time = result_expiration;
    let id = admin.scheduler.add_job(job).await.map_err(failure)?;
    if admin.json {
        return print_json(&serde_json::json!({"id": id}));
    }
    println!("{id}");
    Ok(())
}

/// `queued`, `waiting until T` (a retry's backoff), `running on NODE` or `acquired by NODE`.
fn state(job: &Job) -> String {
    match (&job.acquired_by, job.started_at) {
        (Some(node), Some(_)) => format!("running on {node}"),
        (Some(node), None) => format!("acquired by {node}"),
        (None, _) => match job.not_before {
            Some(at) if at > jiff::Timestamp::now() => {
                format!("waiting until {}", show::time(Some(at)))
            }
            _ => "queued".to_owned(),
        },
    }
}

async fn list(admin: &Admin) -> Result<(), Failure> {
    let jobs = admin
        .scheduler
        .store()
        .get_jobs()
        .await
        .map_err(store_failure)?;
    if admin.json {
        return print_json(&jobs);
    }
    let rows: Vec<Vec<String>> = jobs
        .iter()
        .map(|job| {
            vec![
                job.id.to_string(),
                job.task_id.to_string(),
                job.schedule_id
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), ToString::to_string),
                job.attempt.to_string(),
                state(job),
                show::time(job.scheduled_fire_time),
                show::time(Some(job.created_at)),
            ]
        })
        .collect();
    show::table(
        &[
            "ID",
            "TASK",
            "SCHEDULE",
            "ATTEMPT",
            "STATE",
            "FIRE TIME",
            "CREATED",
        ],
        &rows,
    );
    Ok(())
}

async fn show_one(admin: &Admin, id: &JobId) -> Result<(), Failure> {
    let store = admin.scheduler.store();
    let Some(job) = store.get_job(id).await.map_err(store_failure)? else {
        let finished = store
            .get_job_result(id)
            .await
            .map_err(store_failure)?
            .is_some();
        return Err(Failure::Runtime(anyhow::anyhow!(
            "job '{id}' not found{}",
            if finished {
                " (it finished: see `horae job result`)"
            } else {
                " (unknown, or finished without keeping a result)"
            }
        )));
    };
    if admin.json {
        return print_json(&job);
    }
    show::record(&job, &[("state", Value::String(state(&job)))])
        .map_err(|e| Failure::Runtime(e.into()))?;
    Ok(())
}

async fn result(
    admin: &Admin,
    id: &JobId,
    wait: bool,
    timeout: Option<Duration>,
) -> Result<(), Failure> {
    let fetch = admin.scheduler.get_job_result(id, wait);
    let result = match timeout {
        Some(limit) => match tokio::time::timeout(limit, fetch).await {
            Ok(result) => result,
            Err(_) => {
                return Err(Failure::Runtime(anyhow::anyhow!(
                    "job '{id}' did not finish within {}",
                    horae::duration::format_duration(limit)
                )));
            }
        },
        None => fetch.await,
    }
    .map_err(failure)?;
    let Some(result) = result else {
        return Err(Failure::Runtime(anyhow::anyhow!(
            "no result for job '{id}' (unknown job, {}or its result was not kept)",
            if wait { "" } else { "not finished yet, " }
        )));
    };
    if admin.json {
        print_json(&result)?;
    } else {
        show::record(&result, &[]).map_err(|e| Failure::Runtime(e.into()))?;
    }
    if result.outcome.is_success() {
        Ok(())
    } else {
        Err(Failure::Runtime(anyhow::anyhow!(
            "job '{id}' ended with outcome {}",
            result.outcome
        )))
    }
}
