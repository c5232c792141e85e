//! `horae task list|show|add|remove`.

use std::collections::BTreeMap;
use std::time::Duration;

use clap::{ArgGroup, Args, Subcommand};
use horae::error::{ObjectKind, StoreError};
use horae::model::{
    CommandAction, ExecutorKind, HttpAction, RetryPolicy, Task, TaskAction, TaskId,
};

use super::{Admin, AdminArgs, block_on, failure, print_json, show, store_failure};
use crate::Failure;
use crate::config::Settings;

/// `horae task ...`.
#[derive(Debug, Args)]
pub(crate) struct TaskArgs {
    #[command(flatten)]
    admin: AdminArgs,
    #[command(subcommand)]
    command: TaskCommand,
}

#[derive(Debug, Subcommand)]
enum TaskCommand {
    /// List the tasks.
    List,
    /// Show one task.
    Show {
        /// The task's id.
        id: TaskId,
    },
    /// Add a command or HTTP task.
    Add(Box<AddArgs>),
    /// Remove a task (its schedules stay; their jobs fail until it is added again).
    Remove {
        /// The task's id.
        id: TaskId,
    },
}

/// `horae task add`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("action").required(true).args(["command", "http_url"])))]
struct AddArgs {
    /// The task's id.
    #[arg(long)]
    id: TaskId,
    /// The program and its arguments, or with --shell one shell line and its positional
    /// parameters. It takes every argument after it, so give it last.
    #[arg(long, num_args = 1.., value_name = "ARG", allow_hyphen_values = true)]
    command: Option<Vec<String>>,
    /// Run the command through /bin/sh -c.
    #[arg(long, requires = "command")]
    shell: bool,
    /// An environment variable for the command (repeatable).
    #[arg(long, value_name = "NAME=VALUE", value_parser = parse_env, requires = "command")]
    env: Vec<(String, String)>,
    /// The command's working directory.
    #[arg(long, value_name = "DIR", requires = "command")]
    cwd: Option<String>,
    /// The URL of an HTTP task.
    #[arg(long, value_name = "URL")]
    http_url: Option<String>,
    /// The HTTP method (default GET).
    #[arg(long, value_name = "METHOD", requires = "http_url")]
    http_method: Option<String>,
    /// A request header (repeatable).
    #[arg(long, value_name = "NAME: VALUE", value_parser = parse_header, requires = "http_url")]
    http_header: Vec<(String, String)>,
    /// The request body.
    #[arg(long, value_name = "TEXT", requires = "http_url")]
    http_body: Option<String>,
    /// How long the HTTP request may take.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "http_url")]
    http_timeout: Option<Duration>,
    /// How long one run may take before it is stopped (outcome timed_out).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    timeout: Option<Duration>,
    /// The most jobs of the task running at once across all nodes: a positive number or
    /// "unlimited" (default 1).
    #[arg(long, value_name = "N", value_parser = parse_max_running)]
    max_running_jobs: Option<MaxRunning>,
    /// How late a scheduled job may start (default: no limit).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    misfire_grace_time: Option<Duration>,
    /// Attempts per job including the first (retries with exponential backoff).
    #[arg(long, value_name = "N")]
    retry_max_attempts: Option<u32>,
    /// The delay before the first retry (default 1s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "retry_max_attempts")]
    retry_initial: Option<Duration>,
    /// The longest delay between retries (default 5m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "retry_max_attempts")]
    retry_max: Option<Duration>,
    /// Replace the task if it exists (otherwise an existing id is an error).
    #[arg(long)]
    replace: bool,
}

/// `--max-running-jobs`: a limit or none.
#[derive(Debug, Clone, Copy)]
struct MaxRunning(Option<u32>);

/// A duration flag (`30s`, `500ms`).
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    horae::duration::parse_duration(text).map_err(|e| e.to_string())
}

fn parse_max_running(text: &str) -> Result<MaxRunning, String> {
    if text == "unlimited" {
        return Ok(MaxRunning(None));
    }
    match text.parse::<u32>() {
        Ok(n) if n > 0 => Ok(MaxRunning(Some(n))),
        _ => Err("expected a positive number or \"unlimited\"".to_owned()),
    }
}

fn parse_env(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err("expected NAME=VALUE".to_owned()),
    }
}

fn parse_header(text: &str) -> Result<(String, String), String> {
    match text.split_once(':') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_owned(), value.trim().to_owned()))
        }
        _ => Err("expected \"Name: value\"".to_owned()),
    }
}

/// Runs `horae task ...`.
pub(crate) fn run(args: TaskArgs, mut settings: Settings) -> Result<(), Failure> {
    if let Some(store) = args.admin.store.clone() {
        settings.override_store(store);
    }
    // Checked before anything is opened: a bad task is a usage error.
    let new_task = match &args.command {
        TaskCommand::Add(add) => Some(build(add)?),
        _ => None,
    };
    block_on(async move {
        let admin = Admin::open(&settings, args.admin.json).await?;
        let result = match args.command {
            TaskCommand::List => list(&admin).await,
            TaskCommand::Show { id } => show_one(&admin, &id).await,
            TaskCommand::Add(add) => match new_task {
                Some(task) => add_task(&admin, task, add.replace).await,
                None => Ok(()),
            },
            TaskCommand::Remove { id } => remove(&admin, &id).await,
        };
        admin.close().await;
        result
    })
}

/// The long flags of `task add`: `--command` takes every argument after it, so one of these
/// among its arguments was most likely meant for `task add`.
const ADD_FLAGS: [&str; 19] = [
    "--json",
    "--store",
    "--config",
    "--id",
    "--shell",
    "--env",
    "--cwd",
    "--http-url",
    "--http-method",
    "--http-header",
    "--http-body",
    "--http-timeout",
    "--timeout",
    "--max-running-jobs",
    "--misfire-grace-time",
    "--retry-max-attempts",
    "--retry-initial",
    "--retry-max",
    "--replace",
];

/// The task `horae task add` describes.
fn build(add: &AddArgs) -> Result<Task, Failure> {
    if let Some(flag) = add.command.iter().flatten().skip(1).find(|arg| {
        let name = arg.split_once('=').map_or(arg.as_str(), |(name, _)| name);
        ADD_FLAGS.contains(&name)
    }) {
        return Err(Failure::Usage(format!(
            "--command takes every argument after it: give {flag} before --command (or pass the command as one shell line with --shell)"
        )));
    }
    let (executor, action) = if let Some(argv) = &add.command {
        (
            ExecutorKind::Command,
            TaskAction::Command(CommandAction {
                argv: argv.clone(),
                shell: add.shell,
                env: add.env.iter().cloned().collect(),
                cwd: add.cwd.clone(),
            }),
        )
    } else if let Some(url) = &add.http_url {
        (
            ExecutorKind::Http,
            TaskAction::Http(HttpAction {
                method: add.http_method.clone().unwrap_or_else(|| "GET".to_owned()),
                url: url.clone(),
                headers: add.http_header.iter().cloned().collect::<BTreeMap<_, _>>(),
                body: add.http_body.clone(),
                timeout: add.http_timeout,
            }),
        )
    } else {
        return Err(Failure::Usage(
            "give --command ARG... or --http-url URL".to_owned(),
        ));
    };
    let mut task = Task::new(add.id.clone(), executor);
    task.action = Some(action);
    task.timeout = add.timeout;
    if let Some(max) = add.max_running_jobs {
        task.max_running_jobs = max.0;
    }
    task.misfire_grace_time = add.misfire_grace_time;
    if let Some(attempts) = add.retry_max_attempts {
        task.retry = Some(RetryPolicy::new(
            attempts,
            add.retry_initial.unwrap_or(Duration::from_secs(1)),
            add.retry_max.unwrap_or(Duration::from_secs(300)),
        ));
    }
    task.validate().map_err(|e| Failure::Usage(e.to_string()))?;
    Ok(task)
}

async fn list(admin: &Admin) -> Result<(), Failure> {
    let tasks = admin
        .scheduler
        .store()
        .get_tasks()
        .await
        .map_err(store_failure)?;
    if admin.json {
        return print_json(&tasks);
    }
    let rows: Vec<Vec<String>> = tasks
        .iter()
        .map(|task| {
            vec![
                task.id.to_string(),
                task.executor.to_string(),
                show::clip(&describe(task.action.as_ref()), 60),
                task.max_running_jobs
                    .map_or_else(|| "unlimited".to_owned(), |n| n.to_string()),
                show::duration(task.timeout),
                task.retry.as_ref().map_or_else(
                    || "-".to_owned(),
                    |r| format!("{} attempts", r.max_attempts),
                ),
            ]
        })
        .collect();
    show::table(
        &[
            "ID",
            "EXECUTOR",
            "ACTION",
            "MAX RUNNING",
            "TIMEOUT",
            "RETRY",
        ],
        &rows,
    );
    Ok(())
}

/// What a task runs, in one line.
fn describe(action: Option<&TaskAction>) -> String {
    match action {
        Some(TaskAction::Command(command)) => {
            let line = command.argv.join(" ");
            if command.shell {
                format!("sh -c {line:?}")
            } else {
                line
            }
        }
        Some(TaskAction::Http(http)) => format!("{} {}", http.method, http.url),
        None => "-".to_owned(),
    }
}

async fn get(admin: &Admin, id: &TaskId) -> Result<Task, Failure> {
    admin
        .scheduler
        .store()
        .get_task(id)
        .await
        .map_err(store_failure)?
        .ok_or_else(|| {
            store_failure(StoreError::NotFound {
                kind: ObjectKind::Task,
                id: id.to_string(),
            })
        })
}

async fn show_one(admin: &Admin, id: &TaskId) -> Result<(), Failure> {
    let task = get(admin, id).await?;
    if admin.json {
        return print_json(&task);
    }
    show::record(&task, &[]).map_err(|e| Failure::Runtime(e.into()))?;
    Ok(())
}

async fn add_task(admin: &Admin, task: Task, replace: bool) -> Result<(), Failure> {
    let store = admin.scheduler.store();
    if !replace
        && store
            .get_task(&task.id)
            .await
            .map_err(store_failure)?
            .is_some()
    {
        return Err(Failure::Runtime(anyhow::anyhow!(
            "task '{}' already exists (use --replace to overwrite it)",
            task.id
        )));
    }
    let id = task.id.clone();
    let created = admin
        .scheduler
        .put_task(task.clone())
        .await
        .map_err(failure)?;
    if admin.json {
        return print_json(&task);
    }
    println!("task '{id}' {}", if created { "added" } else { "replaced" });
    Ok(())
}

async fn remove(admin: &Admin, id: &TaskId) -> Result<(), Failure> {
    get(admin, id).await?;
    admin.scheduler.remove_task(id).await.map_err(failure)?;
    let schedules = admin
        .scheduler
        .store()
        .get_schedules()
        .await
        .map_err(store_failure)?;
    let users: Vec<String> = schedules
        .iter()
        .filter(|s| s.task_id == *id)
        .map(|s| s.id.to_string())
        .collect();
    if admin.json {
        return print_json(&serde_json::json!({"id": id, "removed": true}));
    }
    println!("task '{id}' removed");
    if !users.is_empty() {
        eprintln!(
            "note: schedules still refer to it (their jobs fail until it is added again): {}",
            users.join(", ")
        );
    }
    Ok(())
}
