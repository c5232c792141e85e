//! `horae schedule add|list|show|pause|resume|remove`.

use std::time::Duration;

use clap::{ArgGroup, Args, Subcommand};
use horae::error::{ObjectKind, StoreError};
use horae::model::{CoalescePolicy, ConflictPolicy, Schedule, ScheduleId, TaskId};
use horae::scheduler::ScheduleOptions;
use horae::trigger::Trigger;
use serde_json::{Map, Value};

use super::task::parse_duration;
use super::{Admin, AdminArgs, block_on, failure, print_json, show, store_failure};
use crate::Failure;
use crate::config::Settings;
use crate::spec::{JsonArray, JsonObject, When, json_array, json_object};

/// `horae schedule ...`.
#[derive(Debug, Args)]
pub(crate) struct ScheduleArgs {
    #[command(flatten)]
    admin: AdminArgs,
    #[command(subcommand)]
    command: ScheduleCommand,
}

#[derive(Debug, Subcommand)]
enum ScheduleCommand {
    /// Add a schedule (its first fire time is computed now).
    Add(Box<AddArgs>),
    /// List the schedules.
    List,
    /// Show one schedule.
    Show {
        /// The schedule's id.
        id: ScheduleId,
    },
    /// Pause a schedule: it creates no jobs until resumed.
    Pause {
        /// The schedule's id.
        id: ScheduleId,
    },
    /// Resume a paused schedule.
    Resume {
        /// The schedule's id.
        id: ScheduleId,
        /// Skip the fire times that passed while it was paused (otherwise its coalesce
        /// policy decides which of them get a job).
        #[arg(long)]
        skip_missed: bool,
    },
    /// Remove a schedule (its queued jobs still run).
    Remove {
        /// The schedule's id.
        id: ScheduleId,
    },
}

/// `horae schedule add`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("when").required(true).args(["cron", "interval", "at", "trigger"])))]
struct AddArgs {
    /// The schedule's id (default: a generated UUID).
    #[arg(long)]
    id: Option<ScheduleId>,
    /// The task its jobs run.
    #[arg(long)]
    task: TaskId,
    /// A 5-field crontab line, e.g. "0 3 * * *".
    #[arg(long, value_name = "EXPR")]
    cron: Option<String>,
    /// A fixed interval, e.g. 30s.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    interval: Option<Duration>,
    /// Once, at an RFC 3339 time (or a civil time with --timezone).
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// A trigger specification in JSON (DESIGN.md section 4).
    #[arg(long, value_name = "JSON", value_parser = parse_trigger_json)]
    trigger: Option<Value>,
    /// The IANA time zone of a cron or calendar trigger (default UTC).
    #[arg(long, value_name = "TZ")]
    timezone: Option<String>,
    /// Positional arguments of every job, a JSON array.
    #[arg(long, value_name = "JSON", value_parser = json_array)]
    args: Option<JsonArray>,
    /// Keyword arguments of every job, a JSON object.
    #[arg(long, value_name = "JSON", value_parser = json_object)]
    kwargs: Option<JsonObject>,
    /// Add it paused.
    #[arg(long)]
    paused: bool,
    /// Which of several due fire times get a job: earliest, latest (default) or all.
    #[arg(long, value_name = "POLICY")]
    coalesce: Option<CoalescePolicy>,
    /// How late a job may start (default: the task's).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    misfire_grace_time: Option<Duration>,
    /// The largest random delay added to each fire time.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    max_jitter: Option<Duration>,
    /// How long job results are kept (default 0: not kept).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    job_result_expiration_time: Option<Duration>,
    /// Replace the schedule if it exists (otherwise an existing id is an error).
    #[arg(long)]
    replace: bool,
}

fn parse_trigger_json(text: &str) -> Result<Value, String> {
    match serde_json::from_str(text) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(other) => Err(format!("expected a JSON object, got {other}")),
        Err(error) => Err(format!("invalid JSON: {error}")),
    }
}

/// Runs `horae schedule ...`.
pub(crate) fn run(args: ScheduleArgs, mut settings: Settings) -> Result<(), Failure> {
    if let Some(store) = args.admin.store.clone() {
        settings.override_store(store);
    }
    // The timing is checked before anything is opened: a bad one is a usage error.
    let when = match &args.command {
        ScheduleCommand::Add(add) => Some(when(add)?),
        _ => None,
    };
    block_on(async move {
        let admin = Admin::open(&settings, args.admin.json).await?;
        let result = match args.command {
            ScheduleCommand::Add(add) => match when {
                Some(spec) => add_schedule(&admin, *add, &spec).await,
                None => Ok(()),
            },
            ScheduleCommand::List => list(&admin).await,
            ScheduleCommand::Show { id } => show_one(&admin, &id).await,
            ScheduleCommand::Pause { id } => {
                let schedule = admin.scheduler.pause_schedule(&id).await.map_err(failure)?;
                report(&admin, &schedule, "paused")
            }
            ScheduleCommand::Resume { id, skip_missed } => {
                let schedule = admin
                    .scheduler
                    .resume_schedule(&id, skip_missed)
                    .await
                    .map_err(failure)?;
                report(&admin, &schedule, "resumed")
            }
            ScheduleCommand::Remove { id } => {
                admin
                    .scheduler
                    .remove_schedule(&id)
                    .await
                    .map_err(failure)?;
                if admin.json {
                    print_json(&serde_json::json!({"id": id, "removed": true}))
                } else {
                    println!("schedule '{id}' removed");
                    Ok(())
                }
            }
        };
        admin.close().await;
        result
    })
}

/// The trigger specification of `schedule add`'s timing flags.
fn when(add: &AddArgs) -> Result<Value, Failure> {
    let when = if let Some(cron) = &add.cron {
        When::Cron(cron.clone())
    } else if let Some(interval) = add.interval {
        When::Interval(interval)
    } else if let Some(at) = &add.at {
        When::At(at.clone())
    } else if let Some(trigger) = &add.trigger {
        When::Trigger(trigger.clone())
    } else {
        return Err(Failure::Usage(
            "give one of --cron, --interval, --at or --trigger".to_owned(),
        ));
    };
    when.to_spec(add.timezone.as_deref(), jiff::Timestamp::now())
        .map_err(|error| Failure::Usage(format!("--{}: {}", error.key, error.message)))
}

async fn add_schedule(admin: &Admin, add: AddArgs, spec: &Value) -> Result<(), Failure> {
    // An omitted start time is the scheduler's now (checked already in `when`).
    let trigger = Trigger::from_json(spec, admin.scheduler.now()).map_err(|e| failure(e.into()))?;
    let options = ScheduleOptions {
        id: add.id,
        args: add.args.map(|a| a.0).unwrap_or_default(),
        kwargs: add.kwargs.map(|k| k.0).unwrap_or_default(),
        paused: add.paused,
        coalesce: add.coalesce.unwrap_or_default(),
        misfire_grace_time: add.misfire_grace_time,
        max_jitter: add.max_jitter,
        job_result_expiration_time: add.job_result_expiration_time.unwrap_or_default(),
        metadata: Map::new(),
        conflict_policy: if add.replace {
            ConflictPolicy::Replace
        } else {
            ConflictPolicy::Exception
        },
    };
    let id = admin
        .scheduler
        .add_schedule(&add.task, trigger, options)
        .await
        .map_err(failure)?;
    let schedule = get(admin, &id).await?;
    report(admin, &schedule, "added")
}

/// Prints what a command did to a schedule (the schedule itself with `--json`).
fn report(admin: &Admin, schedule: &Schedule, what: &str) -> Result<(), Failure> {
    if admin.json {
        return print_json(schedule);
    }
    let next = match (schedule.paused, schedule.next_fire_time) {
        (true, _) => "paused".to_owned(),
        (false, Some(at)) => format!("next fire time {}", show::time(Some(at))),
        (false, None) => "no further fire times".to_owned(),
    };
    println!("schedule '{}' {what} ({next})", schedule.id);
    Ok(())
}

async fn get(admin: &Admin, id: &ScheduleId) -> Result<Schedule, Failure> {
    admin
        .scheduler
        .store()
        .get_schedule(id)
        .await
        .map_err(store_failure)?
        .ok_or_else(|| {
            store_failure(StoreError::NotFound {
                kind: ObjectKind::Schedule,
                id: id.to_string(),
            })
        })
}

async fn list(admin: &Admin) -> Result<(), Failure> {
    let schedules = admin
        .scheduler
        .store()
        .get_schedules()
        .await
        .map_err(store_failure)?;
    if admin.json {
        return print_json(&schedules);
    }
    let rows: Vec<Vec<String>> = schedules
        .iter()
        .map(|s| {
            vec![
                s.id.to_string(),
                s.task_id.to_string(),
                show::clip(&describe(&s.trigger), 50),
                if s.paused { "yes" } else { "no" }.to_owned(),
                show::time(s.next_fire_time),
                show::time(s.last_fire_time),
            ]
        })
        .collect();
    show::table(
        &[
            "ID",
            "TASK",
            "TRIGGER",
            "PAUSED",
            "NEXT FIRE TIME",
            "LAST FIRE TIME",
        ],
        &rows,
    );
    Ok(())
}

async fn show_one(admin: &Admin, id: &ScheduleId) -> Result<(), Failure> {
    let schedule = get(admin, id).await?;
    if admin.json {
        return print_json(&schedule);
    }
    show::record(
        &schedule,
        &[("trigger", Value::String(describe(&schedule.trigger)))],
    )
    .map_err(|e| Failure::Runtime(e.into()))?;
    Ok(())
}

/// A trigger in a few words: `cron 0 3 * * * (Europe/Berlin)`, `interval 30s`,
/// `date 2026-12-01T03:00:00Z`, or the type and fields.
pub(crate) fn describe(trigger: &Trigger) -> String {
    let json = trigger.to_json();
    let get = |key: &str| json.get(key).filter(|v| !v.is_null());
    let zone = match get("timezone").and_then(Value::as_str) {
        Some(zone) if zone != "UTC" => format!(" ({zone})"),
        _ => String::new(),
    };
    match trigger.type_name() {
        "cron" => match get("expr").and_then(Value::as_str) {
            Some(expr) => format!("cron {expr}{zone}"),
            None => {
                let fields: Vec<String> = [
                    "year",
                    "month",
                    "day",
                    "week",
                    "day_of_week",
                    "hour",
                    "minute",
                    "second",
                ]
                .iter()
                .filter_map(|key| get(key).map(|v| format!("{key}={}", show::cell(v))))
                .collect();
                format!("cron {}{zone}", fields.join(" "))
            }
        },
        "interval" => {
            let micros: f64 = [
                ("weeks", 604_800e6),
                ("days", 86_400e6),
                ("hours", 3_600e6),
                ("minutes", 60e6),
                ("seconds", 1e6),
                ("microseconds", 1.0),
            ]
            .iter()
            .map(|(key, unit)| get(key).and_then(Value::as_f64).unwrap_or(0.0) * unit)
            .sum();
            format!(
                "interval {}",
                horae::duration::format_duration(Duration::from_micros(micros.max(0.0) as u64))
            )
        }
        "date" => format!(
            "date {}",
            get("run_time").map(show::cell).unwrap_or_default()
        ),
        other => format!("{other}{zone}"),
    }
}
