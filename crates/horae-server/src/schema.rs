//! OpenAPI schemas of horae's model types as the API writes and reads them.
//!
//! The model types in `horae` carry their own serde rules (ids checked on input, durations
//! as human strings, triggers as tagged JSON); these schema-only types describe exactly that
//! JSON for the OpenAPI document. The tests at the bottom keep them in step with the model:
//! every property a model value serializes is in its schema, and nothing else.

#![allow(dead_code, reason = "schema-only types are never constructed")]

use std::borrow::Cow;

use serde_json::{Map, Value, json};
use utoipa::openapi::RefOr;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType};
use utoipa::{PartialSchema, ToSchema};

/// The pattern of task and schedule ids (DESIGN.md: 1–128 ASCII letters, digits and
/// `_ - . : @`, starting with a letter or digit).
pub(crate) const ID_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$";

/// One part of a human duration.
macro_rules! duration_part {
    () => {
        "[0-9]+(\\.[0-9]+)?(us|ms|s|m|h|d|w)"
    };
}

/// The pattern of a human duration (`500ms`, `30s`, `1h30m`). Durations above about
/// 292,000 years match it but are refused with 422.
pub(crate) const DURATION_PATTERN: &str = concat!("^(", duration_part!(), ")+$");

/// A duration with a non-zero digit somewhere in a number.
pub(crate) const POSITIVE_DURATION_PATTERN: &str = concat!(
    "^(",
    duration_part!(),
    ")*([0-9]*[1-9][0-9]*(\\.[0-9]+)?|[0-9]+\\.[0-9]*[1-9][0-9]*)(us|ms|s|m|h|d|w)(",
    duration_part!(),
    ")*$"
);

/// The largest number of seconds a duration may be (horae's maximum, `i64::MAX` µs).
const MAX_SECONDS: f64 = 9_223_372_036_854.775;

/// A schema written as JSON (for the parts derive macros cannot express), passed through
/// verbatim: utoipa's schema model lacks keywords such as `anyOf` next to `properties`, so
/// the JSON rides in a typeless object's extension map, which serializes flattened.
fn from_json(value: Value) -> RefOr<Schema> {
    let Value::Object(map) = value else {
        return RefOr::T(Schema::Object(ObjectBuilder::new().build()));
    };
    let object = ObjectBuilder::new()
        .schema_type(SchemaType::AnyValue)
        .extensions(Some(map.into_iter().collect::<Extensions>()))
        .build();
    RefOr::T(Schema::Object(object))
}

macro_rules! json_schema {
    ($(#[$doc:meta])* $name:ident, $title:literal, $json:expr) => {
        $(#[$doc])*
        pub(crate) struct $name;

        impl $name {
            /// The schema as written.
            fn json() -> Value {
                $json
            }
        }

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                from_json($name::json())
            }
        }

        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($title)
            }
        }
    };
}

json_schema!(
    /// A task id.
    TaskIdDoc,
    "TaskId",
    json!({
        "type": "string",
        "description": "A task id: 1–128 ASCII letters, digits and _ - . : @, starting with a letter or digit.",
        "pattern": ID_PATTERN,
        "minLength": 1,
        "maxLength": 128,
        "examples": ["backup"],
    })
);

json_schema!(
    /// A schedule id.
    ScheduleIdDoc,
    "ScheduleId",
    json!({
        "type": "string",
        "description": "A schedule id: 1–128 ASCII letters, digits and _ - . : @, starting with a letter or digit.",
        "pattern": ID_PATTERN,
        "minLength": 1,
        "maxLength": 128,
        "examples": ["nightly"],
    })
);

json_schema!(
    /// A job id.
    JobIdDoc,
    "JobId",
    json!({
        "type": "string",
        "format": "uuid",
        "description": "A job id: a UUID (version 7 for jobs made by horae).",
        "examples": ["0190b7a4-0000-7000-8000-000000000001"],
    })
);

json_schema!(
    /// A human duration.
    DurationDoc,
    "Duration",
    json!({
        "description": "A duration. Written as a human string such as \"500ms\", \"30s\" or \"1h30m\" (units us, ms, s, m, h, d, w); also read from a non-negative number of seconds.",
        "oneOf": [
            {"type": "string", "pattern": DURATION_PATTERN, "examples": ["30s"]},
            {"type": "number", "minimum": 0, "maximum": MAX_SECONDS},
        ],
    })
);

json_schema!(
    /// A human duration above zero.
    PositiveDurationDoc,
    "PositiveDuration",
    json!({
        "description": "A duration above zero, written as in Duration.",
        "oneOf": [
            {"type": "string", "pattern": POSITIVE_DURATION_PATTERN, "examples": ["10m"]},
            {"type": "number", "minimum": 0.000001, "maximum": MAX_SECONDS},
        ],
    })
);

json_schema!(
    /// A trigger as stored (with its iteration state).
    StoredTriggerDoc,
    "StoredTrigger",
    json!({
        "type": "object",
        "description": "A trigger as stored with its schedule: its specification (see TriggerSpec) plus iteration state such as last_fire_time, next_fire_times or completed.",
        "required": ["type"],
        "properties": {
            "type": {"type": "string", "enum": horae::trigger::TRIGGER_TYPES},
        },
        "additionalProperties": true,
    })
);

/// Makes a property schema also accept `null` (the trigger parser reads `null` as absent).
fn nullable(schema: Value) -> Value {
    match schema {
        Value::Object(mut map) => match map.get("type").cloned() {
            Some(Value::String(kind)) => {
                map.insert("type".into(), json!([kind, "null"]));
                Value::Object(map)
            }
            Some(Value::Array(mut kinds)) => {
                kinds.push("null".into());
                map.insert("type".into(), Value::Array(kinds));
                Value::Object(map)
            }
            _ => json!({"anyOf": [Value::Object(map), {"type": "null"}]}),
        },
        other => other,
    }
}

/// One trigger type's object schema: `type` plus `properties`, of which `required` are
/// required and the others may be `null`; `extra` (unless `null`) is a further schema the
/// object must match (e.g. an `anyOf`).
fn trigger_type(
    title: &str,
    type_name: &str,
    required: &[&str],
    properties: Vec<(&str, Value)>,
    extra: Value,
) -> Value {
    let mut props = Map::new();
    props.insert(
        "type".into(),
        json!({"type": "string", "enum": [type_name]}),
    );
    for (name, schema) in properties {
        let schema = if required.contains(&name) {
            schema
        } else {
            nullable(schema)
        };
        props.insert(name.to_owned(), schema);
    }
    let mut required_all = vec!["type"];
    required_all.extend_from_slice(required);
    let object = json!({
        "title": title,
        "type": "object",
        "required": required_all,
        "additionalProperties": false,
        "properties": props,
    });
    match extra {
        Value::Null => object,
        extra => json!({"title": title, "allOf": [object, extra]}),
    }
}

/// `anyOf` requiring one of `fields` to be a number above zero.
fn one_positive(fields: &[&str], integer: bool) -> Value {
    let kind = if integer { "integer" } else { "number" };
    let branches: Vec<Value> = fields
        .iter()
        .map(|field| {
            json!({
                "required": [field],
                "properties": {(*field): {"type": kind, "exclusiveMinimum": 0}},
            })
        })
        .collect();
    json!({"anyOf": branches})
}

/// The JSON schema of a trigger specification (DESIGN.md section 4).
fn trigger_spec() -> Value {
    let time = || json!({"type": "string", "format": "date-time", "description": "RFC 3339 with an offset."});
    let zone = || json!({"type": "string", "description": "An IANA time zone name (default UTC).", "examples": ["Europe/Berlin"]});
    let amount = || json!({"type": "number", "minimum": 0});
    let count = || json!({"type": "integer", "minimum": 0, "maximum": 100_000});
    let field = || json!({"type": ["string", "integer"], "description": "APScheduler cron field syntax: *, */n, a-b, a-b/n, a,b, names (jan, mon), last, \"last fri\", \"2nd wed\"."});
    let nested = || {
        json!({
            "type": "array",
            "minItems": 1,
            "items": {"$ref": "#/components/schemas/TriggerSpec"},
        })
    };
    let interval_units = [
        "weeks",
        "days",
        "hours",
        "minutes",
        "seconds",
        "microseconds",
    ];
    let mut interval: Vec<(&str, Value)> = interval_units.iter().map(|u| (*u, amount())).collect();
    interval.push(("start_time", time()));
    interval.push(("end_time", time()));
    let mut cron: Vec<(&str, Value)> = [
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
    .map(|name| (*name, field()))
    .collect();
    cron.extend([
        (
            "expr",
            json!({"type": "null", "description": "Absent (see the crontab-line form)."}),
        ),
        ("timezone", zone()),
        ("start_time", time()),
        ("end_time", time()),
    ]);
    json!({
        "description": "A trigger specification (DESIGN.md section 4): computes fire times. An omitted (or null) start_time / start_date means now.",
        "oneOf": [
            trigger_type("date", "date", &["run_time"], vec![("run_time", time())], Value::Null),
            trigger_type("interval", "interval", &[], interval, one_positive(&interval_units, false)),
            trigger_type("cron", "cron", &[], cron, Value::Null),
            trigger_type(
                "cron (crontab line)",
                "cron",
                &["expr"],
                vec![
                    ("expr", json!({
                        "type": "string",
                        "description": "A 5-field crontab line: minute hour day-of-month month day-of-week.",
                        "pattern": "^\\s*\\S+(\\s+\\S+){4}\\s*$",
                        "examples": ["*/5 * * * *"],
                    })),
                    ("timezone", zone()),
                    ("start_time", time()),
                    ("end_time", time()),
                ],
                Value::Null,
            ),
            trigger_type(
                "calendar_interval",
                "calendar_interval",
                &[],
                vec![
                    ("years", count()),
                    ("months", count()),
                    ("weeks", count()),
                    ("days", count()),
                    ("hour", json!({"type": "integer", "minimum": 0, "maximum": 23})),
                    ("minute", json!({"type": "integer", "minimum": 0, "maximum": 59})),
                    ("second", json!({"type": "integer", "minimum": 0, "maximum": 59})),
                    ("start_date", json!({"type": "string", "format": "date"})),
                    ("end_date", json!({"type": "string", "format": "date"})),
                    ("timezone", zone()),
                ],
                one_positive(&["years", "months", "weeks", "days"], true),
            ),
            trigger_type(
                "and",
                "and",
                &["triggers"],
                vec![
                    ("triggers", nested()),
                    ("threshold", json!({"type": "number", "minimum": 0, "description": "Seconds (default 1)."})),
                    ("max_iterations", json!({"type": "integer", "minimum": 1, "description": "Default 10000."})),
                ],
                Value::Null,
            ),
            trigger_type("or", "or", &["triggers"], vec![("triggers", nested())], Value::Null),
        ],
    })
}

json_schema!(
    /// A trigger specification.
    TriggerSpecDoc,
    "TriggerSpec",
    trigger_spec()
);

/// The event type names, in declaration order.
fn event_types() -> Vec<&'static str> {
    horae::event::EventKind::ALL
        .iter()
        .map(|kind| kind.as_str())
        .collect()
}

json_schema!(
    /// The `types` filter of the event stream.
    EventTypesDoc,
    "EventTypes",
    {
        let one = format!("({})", event_types().join("|"));
        json!({
            "type": "string",
            "description": "Comma-separated event types, without blanks (empty: all).",
            "pattern": format!("^({one}(,{one})*)?$"),
            "examples": ["job_released,schedule_updated"],
        })
    }
);

json_schema!(
    /// An event.
    EventDoc,
    "Event",
    json!({
        "type": "object",
        "description": "An event: a snake_case type, the RFC 3339 timestamp and the fields of its type (task_id, schedule_id, job_id, node_id, outcome, ...); optional fields are null.",
        "required": ["type", "timestamp"],
        "properties": {
            "type": {"type": "string", "enum": event_types()},
            "timestamp": {"type": "string", "format": "date-time"},
        },
        "additionalProperties": true,
    })
);

json_schema!(
    /// One Server-Sent Event of the event stream.
    SseEventDoc,
    "SseEvent",
    json!({
        "type": "object",
        "description": "One Server-Sent Event: `event:` is the event's type and `data:` the event as JSON (see Event). Comment lines keep the connection alive.",
        "required": ["event", "data"],
        "properties": {
            "event": {"type": "string", "enum": event_types()},
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": {"$ref": "#/components/schemas/Event"},
            },
        },
    })
);

/// How a task's jobs run.
#[derive(ToSchema)]
#[schema(as = ExecutorKind)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ExecutorKindDoc {
    /// A Rust async handler.
    Async,
    /// A Rust blocking handler.
    Blocking,
    /// A command (daemon tasks).
    Command,
    /// An HTTP request (daemon tasks).
    Http,
}

/// Which jobs a schedule creates when several of its fire times are due at once.
#[derive(ToSchema)]
#[schema(as = CoalescePolicy)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CoalescePolicyDoc {
    /// One job, for the earliest due fire time.
    Earliest,
    /// One job, for the latest due fire time (the default).
    Latest,
    /// One job per due fire time.
    All,
}

/// What adding a schedule whose id exists does.
#[derive(ToSchema)]
#[schema(as = ConflictPolicy)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ConflictPolicyDoc {
    /// Overwrite the existing schedule.
    Replace,
    /// Keep the existing schedule.
    DoNothing,
    /// Fail with 409 Conflict.
    Exception,
}

/// How a job attempt ended.
#[derive(ToSchema)]
#[schema(as = JobOutcome)]
#[serde(rename_all = "snake_case")]
pub(crate) enum JobOutcomeDoc {
    /// The handler returned normally.
    Success,
    /// The handler failed or panicked.
    Error,
    /// The job could not start before its deadline.
    MissedStartDeadline,
    /// The job was cancelled.
    Cancelled,
    /// The handler exceeded the task's timeout.
    TimedOut,
    /// The node running it died and retries are exhausted.
    Abandoned,
    /// The node's lease on the job was lost.
    LeaseLost,
}

/// What a node does.
#[derive(ToSchema)]
#[schema(as = SchedulerRole)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SchedulerRoleDoc {
    /// Turns due schedules into jobs only.
    Scheduler,
    /// Runs jobs only.
    Worker,
    /// Both.
    Both,
}

/// Exponential backoff for failed jobs.
#[derive(ToSchema)]
#[schema(as = RetryPolicy)]
#[serde(deny_unknown_fields)]
pub(crate) struct RetryPolicyDoc {
    /// Total attempts including the first (1 = never retry).
    #[schema(minimum = 1, maximum = 4294967295_u64)]
    max_attempts: u32,
    /// Delay before the first retry; at most `max`.
    #[schema(value_type = DurationDoc)]
    initial: (),
    /// Upper bound on any delay.
    #[schema(value_type = DurationDoc)]
    max: (),
    /// Growth factor per attempt (default 2).
    #[schema(minimum = 1)]
    #[serde(default)]
    multiplier: f64,
    /// Whether delays are drawn uniformly from zero to the computed delay (default true).
    #[serde(default)]
    jitter: bool,
}

json_schema!(
    /// A program to run (executor `command`).
    CommandActionDoc,
    "CommandAction",
    json!({
        "type": "object",
        "description": "A program to run (executor command). Exit code 0 is success; the job's details are in its environment (HORAE_JOB_ID, HORAE_ARGS, ...).",
        "required": ["argv"],
        "additionalProperties": false,
        "properties": {
            "argv": {
                "type": "array",
                "description": "The program and its arguments (with shell: one shell script line and its positional parameters).",
                "minItems": 1,
                "prefixItems": [{"type": "string", "pattern": "\\S"}],
                "items": {"type": "string", "pattern": "^[^\\x00]*$"},
            },
            "shell": {"type": "boolean", "description": "Run argv[0] through /bin/sh -c (default false)."},
            "env": {
                "type": "object",
                "description": "Extra environment variables.",
                "propertyNames": {"pattern": "^[^=\\x00]+$"},
                "additionalProperties": {"type": "string", "pattern": "^[^\\x00]*$"},
            },
            "cwd": {"type": ["string", "null"], "description": "The working directory (default: the daemon's).", "pattern": "^[^\\x00]+$"},
        },
    })
);

json_schema!(
    /// An HTTP request (executor `http`).
    HttpActionDoc,
    "HttpAction",
    json!({
        "type": "object",
        "description": "An HTTP request (executor http); a 2xx status is success.",
        "required": ["url"],
        "additionalProperties": false,
        "properties": {
            "method": {"type": "string", "description": "The method (default GET).", "pattern": TOKEN_PATTERN, "examples": ["POST"]},
            "url": {"type": "string", "description": "An http:// or https:// URL.", "pattern": "^https?://[^/\\s][^\\s]*$", "examples": ["https://example.com/hook"]},
            "headers": {
                "type": "object",
                "description": "Request headers.",
                "propertyNames": {"pattern": TOKEN_PATTERN},
                "additionalProperties": {"type": "string", "pattern": "^[^\\r\\n\\x00]*$"},
            },
            "body": {"type": ["string", "null"], "description": "The request body."},
            "timeout": {
                "description": "How long the request may take (default: the task's timeout).",
                "anyOf": [{"$ref": "#/components/schemas/PositiveDuration"}, {"type": "null"}],
            },
        },
    })
);

/// An HTTP token (method and header names).
const TOKEN_PATTERN: &str = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$";

json_schema!(
    /// What a daemon task does.
    TaskActionDoc,
    "TaskAction",
    json!({
        "description": "What a daemon task does: {\"command\": {...}} (executor command) or {\"http\": {...}} (executor http).",
        "oneOf": [
            {
                "type": "object",
                "title": "command",
                "required": ["command"],
                "additionalProperties": false,
                "properties": {"command": {"$ref": "#/components/schemas/CommandAction"}},
            },
            {
                "type": "object",
                "title": "http",
                "required": ["http"],
                "additionalProperties": false,
                "properties": {"http": {"$ref": "#/components/schemas/HttpAction"}},
            },
        ],
    })
);

macro_rules! task_fields {
    ($(#[$doc:meta])* $name:ident as $as:ident { $($id:tt)* }) => {
        $(#[$doc])*
        #[derive(ToSchema)]
        #[schema(as = $as)]
        #[serde(deny_unknown_fields)]
        pub(crate) struct $name {
            $($id)*
            /// How its jobs run.
            executor: ExecutorKindDoc,
            /// The most jobs of this task running at once across all nodes; null = unlimited
            /// (default 1).
            #[schema(minimum = 1, maximum = 4294967295_u64)]
            #[serde(default)]
            max_running_jobs: Option<u32>,
            /// How late a scheduled job may start; null = no limit (the default).
            #[schema(value_type = Option<DurationDoc>)]
            #[serde(default)]
            misfire_grace_time: (),
            /// Retries of failed runs; null = never retry.
            #[serde(default)]
            retry: Option<RetryPolicyDoc>,
            /// How long one run may take (more than zero); null = no limit.
            #[schema(value_type = Option<PositiveDurationDoc>)]
            #[serde(default)]
            timeout: (),
            /// Free-form JSON object for the user.
            #[serde(default)]
            metadata: Map<String, Value>,
            /// What the daemon runs for executor `command` or `http`; omitted for tasks
            /// bound to Rust handlers.
            #[serde(default)]
            action: Option<TaskActionDoc>,
        }
    };
}

task_fields!(
    /// A task's fields (see Task).
    TaskFieldsDoc as TaskFields {
        /// The task's id.
        id: TaskIdDoc,
    }
);

task_fields!(
    /// A task's fields without its id (see TaskBody).
    TaskBodyFieldsDoc as TaskBodyFields {}
);

/// A task schema: its fields plus the rule that an action matches the executor.
fn task_schema(fields: &str, description: &str) -> Value {
    let matches = |action: &str| {
        json!({
            "if": {
                "required": ["action"],
                "properties": {"action": {"type": "object", "required": [action]}},
            },
            "then": {"properties": {"executor": {"type": "string", "enum": [action]}}},
        })
    };
    json!({
        "description": description,
        "allOf": [
            {"$ref": format!("#/components/schemas/{fields}")},
            matches("command"),
            matches("http"),
        ],
    })
}

json_schema!(
    /// A task.
    TaskDoc,
    "Task",
    task_schema(
        "TaskFields",
        "A task: a named unit of work and the rules for running its jobs. An action's kind (command or http) must match the executor."
    )
);

json_schema!(
    /// A task without its id.
    TaskBodyDoc,
    "TaskBody",
    task_schema(
        "TaskBodyFields",
        "A task definition without its id (the id is in the path; an id equal to the path's is tolerated). An action's kind must match the executor."
    )
);

/// A schedule: runs a task whenever its trigger fires.
#[derive(ToSchema)]
#[schema(as = Schedule)]
pub(crate) struct ScheduleDoc {
    /// The schedule's id.
    id: ScheduleIdDoc,
    /// The task its jobs run.
    task_id: TaskIdDoc,
    /// The trigger with its iteration state.
    trigger: StoredTriggerDoc,
    /// Positional arguments passed to every job.
    args: Vec<Value>,
    /// Keyword arguments passed to every job.
    kwargs: Map<String, Value>,
    /// Whether the schedule is paused.
    paused: bool,
    /// Which due fire times get a job.
    coalesce: CoalescePolicyDoc,
    /// How late a job may start after its fire time; null = no limit.
    #[schema(value_type = Option<DurationDoc>)]
    misfire_grace_time: (),
    /// The largest random delay added to each fire time; null = none.
    #[schema(value_type = Option<DurationDoc>)]
    max_jitter: (),
    /// How long the results of its jobs are kept ("0s": not kept).
    #[schema(value_type = DurationDoc)]
    job_result_expiration_time: (),
    /// Free-form JSON object for the user.
    metadata: Map<String, Value>,
    /// When the schedule is next due; null once its trigger is exhausted.
    #[schema(value_type = Option<String>, format = DateTime)]
    next_fire_time: (),
    /// The last fire time a job was created for.
    #[schema(value_type = Option<String>, format = DateTime)]
    last_fire_time: (),
    /// The node whose lease on the schedule is current, if any.
    acquired_by: Option<String>,
    /// When that lease expires.
    #[schema(value_type = Option<String>, format = DateTime)]
    acquired_until: (),
}

/// One execution request of a task.
#[derive(ToSchema)]
#[schema(as = Job)]
pub(crate) struct JobDoc {
    /// The job's id.
    id: JobIdDoc,
    /// The task to run.
    task_id: TaskIdDoc,
    /// Positional arguments.
    args: Vec<Value>,
    /// Keyword arguments.
    kwargs: Map<String, Value>,
    /// The schedule that created the job; null for ad-hoc jobs.
    schedule_id: Option<ScheduleIdDoc>,
    /// The fire time the job was created for (jitter included).
    #[schema(value_type = Option<String>, format = DateTime)]
    scheduled_fire_time: (),
    /// The random delay added to the fire time.
    #[schema(value_type = DurationDoc)]
    jitter: (),
    /// The job is not started after this instant.
    #[schema(value_type = Option<String>, format = DateTime)]
    start_deadline: (),
    /// The job is not acquired before this instant.
    #[schema(value_type = Option<String>, format = DateTime)]
    not_before: (),
    /// How long the job's result is kept.
    #[schema(value_type = DurationDoc)]
    result_expiration_time: (),
    /// Free-form JSON object for the user.
    metadata: Map<String, Value>,
    /// When the job was created.
    #[schema(value_type = String, format = DateTime)]
    created_at: (),
    /// Which attempt this is (1-based).
    attempt: u32,
    /// When the current attempt started running.
    #[schema(value_type = Option<String>, format = DateTime)]
    started_at: (),
    /// The node holding the job's lease, if any.
    acquired_by: Option<String>,
    /// When that lease expires unless extended.
    #[schema(value_type = Option<String>, format = DateTime)]
    acquired_until: (),
    /// The fencing token of the current lease.
    lease_token: u64,
}

/// How one attempt of a job ended.
#[derive(ToSchema)]
#[schema(as = JobResult)]
pub(crate) struct JobResultDoc {
    /// The job.
    job_id: JobIdDoc,
    /// The job's task.
    task_id: TaskIdDoc,
    /// The schedule that created the job, if any.
    schedule_id: Option<ScheduleIdDoc>,
    /// How the attempt ended.
    outcome: JobOutcomeDoc,
    /// Which attempt this was (1-based).
    attempt: u32,
    /// When the attempt started; null if it never started.
    #[schema(value_type = Option<String>, format = DateTime)]
    started_at: (),
    /// When the attempt ended.
    #[schema(value_type = String, format = DateTime)]
    finished_at: (),
    /// When the stored result is deleted.
    #[schema(value_type = String, format = DateTime)]
    expires_at: (),
    /// The error message for outcomes other than success.
    error: Option<String>,
    /// The handler's JSON return value on success.
    return_value: Option<Value>,
}

/// A node sharing the store, as it last reported itself.
#[derive(ToSchema)]
#[schema(as = Node)]
pub(crate) struct NodeDoc {
    /// The node's id.
    id: String,
    /// What it does.
    role: SchedulerRoleDoc,
    /// When it started.
    #[schema(value_type = String, format = DateTime)]
    started_at: (),
    /// Its latest heartbeat.
    #[schema(value_type = String, format = DateTime)]
    last_heartbeat: (),
    /// Its lease duration: it counts as alive while last_heartbeat + lease_duration is in
    /// the future.
    #[schema(value_type = DurationDoc)]
    lease_duration: (),
    /// The most jobs it runs at once.
    max_concurrent_jobs: u32,
    /// How many jobs it was running at its latest heartbeat.
    running_jobs: u32,
    /// The horae version it runs.
    version: String,
    /// Whether its latest heartbeat is recent enough to count it as alive now.
    alive: bool,
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::time::Duration;

    use horae::model::{
        CommandAction, HttpAction, Job, JobOutcome, JobResult, NodeInfo, RetryPolicy, Schedule,
        ScheduleId, SchedulerRole, Task, TaskAction, TaskId,
    };
    use jiff::Timestamp;

    use super::*;

    fn schema_json<T: PartialSchema>() -> Value {
        serde_json::to_value(T::schema()).unwrap()
    }

    fn property_names<T: PartialSchema>() -> BTreeSet<String> {
        schema_json::<T>()["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    }

    fn keys(value: &Value) -> BTreeSet<String> {
        value.as_object().unwrap().keys().cloned().collect()
    }

    fn ts() -> Timestamp {
        "2026-01-01T03:00:00Z".parse().unwrap()
    }

    fn task() -> Task {
        let mut task = Task::new(
            TaskId::new("t").unwrap(),
            horae::model::ExecutorKind::Command,
        );
        task.retry = Some(RetryPolicy::new(
            2,
            Duration::from_secs(1),
            Duration::from_secs(2),
        ));
        task.action = Some(TaskAction::Command(CommandAction {
            argv: vec!["true".into()],
            shell: false,
            env: BTreeMap::new(),
            cwd: Some("/".into()),
        }));
        task
    }

    #[test]
    fn json_schemas_survive_the_conversion_whole() {
        fn same<T: PartialSchema>(written: Value) {
            assert_eq!(schema_json::<T>(), written);
        }
        same::<TaskIdDoc>(TaskIdDoc::json());
        same::<ScheduleIdDoc>(ScheduleIdDoc::json());
        same::<JobIdDoc>(JobIdDoc::json());
        same::<DurationDoc>(DurationDoc::json());
        same::<PositiveDurationDoc>(PositiveDurationDoc::json());
        same::<TaskDoc>(TaskDoc::json());
        same::<TaskBodyDoc>(TaskBodyDoc::json());
        same::<EventTypesDoc>(EventTypesDoc::json());
        same::<EventDoc>(EventDoc::json());
        same::<SseEventDoc>(SseEventDoc::json());
        same::<StoredTriggerDoc>(StoredTriggerDoc::json());
        same::<TriggerSpecDoc>(TriggerSpecDoc::json());
        same::<TaskActionDoc>(TaskActionDoc::json());
        same::<CommandActionDoc>(CommandActionDoc::json());
        same::<HttpActionDoc>(HttpActionDoc::json());
        assert_eq!(TriggerSpecDoc::json()["oneOf"].as_array().unwrap().len(), 7);
    }

    #[test]
    fn model_schemas_list_exactly_the_serialized_fields() {
        let task = task();
        let task_json = serde_json::to_value(&task).unwrap();
        assert_eq!(property_names::<TaskFieldsDoc>(), keys(&task_json));
        let mut body = keys(&task_json);
        body.remove("id");
        assert_eq!(property_names::<TaskBodyFieldsDoc>(), body);
        assert_eq!(
            property_names::<RetryPolicyDoc>(),
            keys(&task_json["retry"])
        );
        assert_eq!(
            property_names::<CommandActionDoc>(),
            keys(&task_json["action"]["command"])
        );
        let http = TaskAction::Http(HttpAction {
            method: "GET".into(),
            url: "http://x".into(),
            headers: BTreeMap::new(),
            body: None,
            timeout: None,
        });
        let http = serde_json::to_value(&http).unwrap();
        assert_eq!(property_names::<HttpActionDoc>(), keys(&http["http"]));

        let trigger = horae::trigger::Trigger::parse(r#"{"type":"cron","hour":3}"#, ts()).unwrap();
        let schedule = Schedule::new(ScheduleId::new("s").unwrap(), task.id.clone(), trigger);
        assert_eq!(
            property_names::<ScheduleDoc>(),
            keys(&serde_json::to_value(&schedule).unwrap())
        );
        let job = Job::new(task.id.clone(), ts());
        assert_eq!(
            property_names::<JobDoc>(),
            keys(&serde_json::to_value(&job).unwrap())
        );
        let result = JobResult::new(&job, JobOutcome::Success, Some(ts()), ts());
        assert_eq!(
            property_names::<JobResultDoc>(),
            keys(&serde_json::to_value(&result).unwrap())
        );
        let node = NodeInfo {
            id: "n".into(),
            role: SchedulerRole::Both,
            started_at: ts(),
            last_heartbeat: ts(),
            lease_duration: Duration::from_secs(30),
            max_concurrent_jobs: 1,
            running_jobs: 0,
            version: "0".into(),
        };
        let mut node_keys = keys(&serde_json::to_value(&node).unwrap());
        node_keys.insert("alive".into());
        assert_eq!(property_names::<NodeDoc>(), node_keys);
    }

    #[test]
    fn enum_schemas_list_every_variant() {
        fn values<T: PartialSchema>() -> Vec<String> {
            schema_json::<T>()["enum"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect()
        }
        fn names<T: Copy>(all: &[T], name: fn(T) -> &'static str) -> Vec<String> {
            all.iter().map(|v| name(*v).to_owned()).collect()
        }
        use horae::model::{CoalescePolicy, ConflictPolicy, ExecutorKind};
        assert_eq!(
            values::<ExecutorKindDoc>(),
            names(ExecutorKind::ALL, ExecutorKind::as_str)
        );
        assert_eq!(
            values::<CoalescePolicyDoc>(),
            names(CoalescePolicy::ALL, CoalescePolicy::as_str)
        );
        assert_eq!(
            values::<ConflictPolicyDoc>(),
            names(ConflictPolicy::ALL, ConflictPolicy::as_str)
        );
        assert_eq!(
            values::<JobOutcomeDoc>(),
            names(JobOutcome::ALL, JobOutcome::as_str)
        );
        assert_eq!(
            values::<SchedulerRoleDoc>(),
            names(SchedulerRole::ALL, SchedulerRole::as_str)
        );
    }

    #[test]
    fn the_largest_number_of_seconds_is_accepted() {
        let json = format!("{MAX_SECONDS}");
        let parsed: horae::model::RetryPolicy = serde_json::from_str(&format!(
            r#"{{"max_attempts": 1, "initial": 0, "max": {json}}}"#
        ))
        .unwrap();
        assert!(parsed.max <= horae::duration::MAX);
    }
}
