//! Parsing, defaults, environment overrides and error messages of the config file.

use std::collections::HashMap;

use serde_json::json;

use super::*;

fn now() -> Timestamp {
    "2026-06-01T00:00:00Z".parse().unwrap()
}

fn parse(text: &str) -> Result<Settings, ConfigError> {
    Settings::parse(text, "horae.toml", now())
}

fn error(text: &str) -> String {
    parse(text).unwrap_err().0
}

const FULL: &str = r#"
[node]
id = "node-a"
role = "worker"
max_concurrent_jobs = 7
lease_duration = "10s"
stop_grace_period = "5s"
poll_interval = "250ms"

[store]
url = "sqlite://data/horae.db"
prefix = "ops_"
connect_timeout = "2m"

[broker]
url = "redis://127.0.0.1:6379"

[http]
bind = "0.0.0.0:9000"
token = "s3cret"

[[task]]
id = "backup"
command = ["pg_dump", "-f", "/backups/db.sql"]
env = { PGHOST = "db" }
cwd = "/tmp"
timeout = "10m"
max_running_jobs = 2
misfire_grace_time = "1m"
retry = { max_attempts = 3, initial = "1s", max = "1m" }

[[task]]
id = "hook"
http = { method = "POST", url = "https://example.com/hook", headers = { "X-A" = "b" }, body = "{}", timeout = "5s" }
max_running_jobs = "unlimited"

[[task]]
id = "line"
command = "date >> /tmp/x.log"

[[schedule]]
id = "nightly"
task = "backup"
cron = "0 3 * * *"
timezone = "Europe/Berlin"
coalesce = "earliest"
args = [1, "two"]
kwargs = { dry_run = true }

[[schedule]]
id = "often"
task = "hook"
interval = "1m30s"
paused = true
max_jitter = "2s"
job_result_expiration_time = "1h"

[[schedule]]
id = "once"
task = "line"
at = 2026-12-01T03:00:00Z

[[schedule]]
id = "custom"
task = "line"
trigger = { type = "calendar_interval", months = 1, hour = 4, start_date = "2026-01-01" }
timezone = "UTC"
"#;

#[test]
fn a_full_file_is_read() {
    let settings = parse(FULL).unwrap();
    assert_eq!(
        settings.node,
        NodeSettings {
            id: "node-a".into(),
            role: SchedulerRole::Worker,
            max_concurrent_jobs: 7,
            lease_duration: Duration::from_secs(10),
            stop_grace_period: Duration::from_secs(5),
            poll_interval: Duration::from_millis(250),
        }
    );
    assert_eq!(settings.store.url, "sqlite://data/horae.db");
    assert_eq!(settings.store.prefix.as_deref(), Some("ops_"));
    assert_eq!(settings.store.connect_timeout, Duration::from_secs(120));
    assert_eq!(settings.broker_url, "redis://127.0.0.1:6379");
    assert_eq!(settings.http.bind, "0.0.0.0:9000".parse().unwrap());
    assert_eq!(settings.http.token.as_deref(), Some("s3cret"));
    assert!(settings.check().is_ok());

    let [backup, hook, line] = &settings.tasks[..] else {
        panic!("{:?}", settings.tasks)
    };
    assert_eq!(backup.executor, ExecutorKind::Command);
    assert_eq!(
        serde_json::to_value(backup.action.as_ref().unwrap()).unwrap(),
        json!({"command": {"argv": ["pg_dump", "-f", "/backups/db.sql"], "shell": false, "env": {"PGHOST": "db"}, "cwd": "/tmp"}})
    );
    assert_eq!(backup.timeout, Some(Duration::from_secs(600)));
    assert_eq!(backup.max_running_jobs, Some(2));
    assert_eq!(backup.misfire_grace_time, Some(Duration::from_secs(60)));
    assert_eq!(backup.retry.as_ref().map(|r| r.max_attempts), Some(3));
    assert_eq!(hook.executor, ExecutorKind::Http);
    assert_eq!(hook.max_running_jobs, None);
    let Some(TaskAction::Http(http)) = &hook.action else {
        panic!()
    };
    assert_eq!(
        (http.method.as_str(), http.timeout),
        ("POST", Some(Duration::from_secs(5)))
    );
    let Some(TaskAction::Command(command)) = &line.action else {
        panic!()
    };
    assert!(command.shell);
    assert_eq!(command.argv, ["date >> /tmp/x.log"]);
    assert_eq!(line.max_running_jobs, Some(1), "APScheduler's default");

    let [nightly, often, once, custom] = &settings.schedules[..] else {
        panic!()
    };
    assert_eq!(
        nightly.trigger,
        json!({"type": "cron", "expr": "0 3 * * *", "timezone": "Europe/Berlin"})
    );
    assert_eq!(nightly.coalesce, CoalescePolicy::Earliest);
    assert_eq!(nightly.args, vec![json!(1), json!("two")]);
    assert_eq!(nightly.kwargs["dry_run"], json!(true));
    assert_eq!(
        often.trigger,
        json!({"type": "interval", "seconds": 90, "microseconds": 0})
    );
    assert!(often.paused);
    assert_eq!(often.max_jitter, Some(Duration::from_secs(2)));
    assert_eq!(often.job_result_expiration_time, Duration::from_secs(3600));
    assert_eq!(
        once.trigger,
        json!({"type": "date", "run_time": "2026-12-01T03:00:00Z"})
    );
    assert_eq!(custom.trigger["timezone"], json!("UTC"));
    assert_eq!(nightly.coalesce, CoalescePolicy::Earliest);
    assert_eq!(often.coalesce, CoalescePolicy::Latest, "the default");
}

#[test]
fn an_empty_file_gives_the_defaults() {
    let settings = parse("").unwrap();
    assert_eq!(settings.store.url, "sqlite://horae.db");
    assert_eq!(settings.broker_url, "local");
    assert_eq!(settings.http.bind, DEFAULT_HTTP_BIND);
    assert_eq!(settings.node.role, SchedulerRole::Both);
    assert_eq!(settings.node.max_concurrent_jobs, 100);
    assert_eq!(settings.node.lease_duration, Duration::from_secs(30));
    assert!(!settings.node.id.is_empty());
    assert!(settings.tasks.is_empty() && settings.schedules.is_empty());
}

#[test]
fn the_environment_overrides_the_file() {
    let vars: HashMap<&str, &str> = [
        ("HORAE_NODE_ID", "env-node"),
        ("HORAE_NODE_ROLE", "scheduler"),
        ("HORAE_STORE_URL", "memory://"),
        ("HORAE_BROKER_URL", "mqtt://127.0.0.1:1883"),
        ("HORAE_HTTP_BIND", "localhost:0"),
        ("HORAE_TOKEN", "t"),
        ("HORAE_MAX_CONCURRENT_JOBS", "3"),
        ("HORAE_LEASE_DURATION", "5s"),
        ("HORAE_STOP_GRACE_PERIOD", "1s"),
    ]
    .into_iter()
    .collect();
    let mut settings = parse(FULL).unwrap();
    settings
        .apply_env(&|name| vars.get(name).map(|v| (*v).to_owned()))
        .unwrap();
    assert_eq!(settings.node.id, "env-node");
    assert_eq!(settings.node.role, SchedulerRole::Scheduler);
    assert_eq!(settings.store.url, "memory://");
    assert_eq!(settings.broker_url, "mqtt://127.0.0.1:1883");
    assert_eq!(settings.http.bind, "127.0.0.1:0".parse().unwrap());
    assert_eq!(settings.http.token.as_deref(), Some("t"));
    assert_eq!(settings.node.max_concurrent_jobs, 3);
    assert_eq!(settings.node.lease_duration, Duration::from_secs(5));
    assert_eq!(settings.node.stop_grace_period, Duration::from_secs(1));

    for (name, value, why) in [
        (
            "HORAE_LEASE_DURATION",
            "soon",
            "HORAE_LEASE_DURATION: invalid duration \"soon\"",
        ),
        (
            "HORAE_NODE_ROLE",
            "boss",
            "HORAE_NODE_ROLE: unknown role \"boss\"",
        ),
        (
            "HORAE_MAX_CONCURRENT_JOBS",
            "-1",
            "HORAE_MAX_CONCURRENT_JOBS: expected a non-negative integer",
        ),
        (
            "HORAE_HTTP_BIND",
            "nowhere",
            "HORAE_HTTP_BIND: \"nowhere\" is not an address",
        ),
    ] {
        let mut settings = Settings::defaults();
        let error = settings
            .apply_env(&|n| (n == name).then(|| value.to_owned()))
            .unwrap_err();
        assert!(error.0.starts_with(why), "{error}");
    }
}

#[test]
fn cross_checks_name_the_key() {
    let mut settings = Settings::defaults();
    settings.http.bind = "0.0.0.0:8731".parse().unwrap();
    assert!(
        settings
            .check()
            .unwrap_err()
            .0
            .starts_with("http.token: required")
    );
    settings.http.token = Some("x".into());
    assert!(settings.check().is_ok());
    settings.store.url = "ftp://x".into();
    assert!(settings.check().unwrap_err().0.starts_with("store.url: "));
    settings.store.url = "memory://".into();
    settings.broker_url = "kafka://x".into();
    assert!(settings.check().unwrap_err().0.starts_with("broker.url: "));
    settings.broker_url = "local".into();
    settings.node.max_concurrent_jobs = 0;
    assert!(
        settings
            .check()
            .unwrap_err()
            .0
            .starts_with("node.max_concurrent_jobs: ")
    );
    settings.node.role = SchedulerRole::Scheduler;
    assert!(settings.check().is_ok(), "a scheduler runs no jobs");
}

#[test]
fn errors_name_the_line_and_the_key() {
    let cases: &[(&str, &str)] = &[
        // Unknown keys, in every table.
        (
            "[node]\nname = \"x\"\n",
            "horae.toml, line 2, column 1: node.name: unknown field `name`",
        ),
        (
            "[[task]]\nid = \"t\"\ncommand = [\"true\"]\nretries = 3\n",
            "line 4, column 1: task.retries: unknown field `retries`",
        ),
        (
            "[storage]\n",
            "line 1, column 2: storage: unknown field `storage`",
        ),
        // Wrong values.
        (
            "[node]\nlease_duration = \"ten\"\n",
            "line 2, column 18: node.lease_duration: invalid duration \"ten\"",
        ),
        (
            "[node]\nlease_duration = 30\n",
            "line 2, column 18: node.lease_duration: invalid type: integer `30`, expected a duration string",
        ),
        (
            "[node]\nrole = \"boss\"\n",
            "line 2, column 8: node.role: unknown variant `boss`",
        ),
        (
            "[node]\nlease_duration = \"1ms\"\n",
            "line 2, column 18: node.lease_duration: must be at least 3ms",
        ),
        (
            "[store]\nurl = \"ftp://x\"\n",
            "line 2, column 7: store.url: ",
        ),
        (
            "[broker]\nurl = \"kafka://x\"\n",
            "line 2, column 7: broker.url: ",
        ),
        (
            "[http]\nbind = \"everywhere\"\n",
            "line 2, column 8: http.bind: \"everywhere\" is not an address",
        ),
        (
            "[[task]]\nid = \"t\"\ncommand = [\"true\"]\ntimeout = \"10 minutes\"\n",
            "line 4, column 11: task.timeout: invalid duration \"10 minutes\"",
        ),
        (
            "[[task]]\nid = \"t\"\ncommand = [\"true\"]\nmax_running_jobs = 0\n",
            "line 4, column 20: task.max_running_jobs: must be a positive integer",
        ),
        (
            "[[task]]\nid = \"t\"\ncommand = [\"true\"]\nretry = { max_attempts = 0, initial = \"1s\", max = \"1s\" }\n",
            "line 4, column 9: task.retry: retry.max_attempts must be at least 1",
        ),
        (
            "[[task]]\nid = \"t\"\ncommand = []\n",
            "line 3, column 11: task.command: must name a program",
        ),
        (
            "[[task]]\nid = \"t\"\n",
            "line 2, column 6: task: task 't' needs a command",
        ),
        (
            "[[task]]\nid = \"t\"\nhttp = { url = \"ftp://x\" }\n",
            "line 1, column 1: task.http.url: http.url: \"ftp://x\" is not an http:// or https:// URL",
        ),
        (
            "[[task]]\nid = \"t\"\nhttp = { url = \"http://x\" }\nshell = true\n",
            "line 4, column 9: task.shell: only for command tasks",
        ),
        (
            "[[task]]\nid = \"a b\"\ncommand = [\"true\"]\n",
            "line 2, column 6: task.id: task id \"a b\"",
        ),
        (
            "[[task]]\nid = \"t\"\ncommand = [\"true\"]\n[[task]]\nid = \"t\"\ncommand = [\"true\"]\n",
            "line 5, column 6: task.id: task 't' is declared twice",
        ),
        // Schedules.
        (
            "[[task]]\nid = \"t\"\ncommand = [\"true\"]\n[[schedule]]\nid = \"s\"\ntask = \"other\"\ncron = \"* * * * *\"\n",
            "line 6, column 8: schedule.task: schedule 's' refers to task 'other', which is not declared in this file (declared: t)",
        ),
        (
            "[[task]]\nid = \"t\"\ncommand = [\"true\"]\n[[schedule]]\nid = \"s\"\ntask = \"t\"\ncron = \"61 * * * *\"\n",
            "line 7, column 8: schedule.cron: ",
        ),
        (
            "[[task]]\nid = \"t\"\ncommand = [\"true\"]\n[[schedule]]\nid = \"s\"\ntask = \"t\"\ncron = \"* * * * *\"\ntimezone = \"Mars/Base\"\n",
            "line 8, column 12: schedule.timezone: unknown time zone \"Mars/Base\"",
        ),
        (
            "[[task]]\nid = \"t\"\ncommand = [\"true\"]\n[[schedule]]\nid = \"s\"\ntask = \"t\"\ninterval = \"0s\"\n",
            "line 7, column 12: schedule.interval: must be at least 1us",
        ),
        (
            "[[task]]\nid = \"t\"\ncommand = [\"true\"]\n[[schedule]]\nid = \"s\"\ntask = \"t\"\ntrigger = { type = \"cron\", hour = 25 }\n",
            "line 7, column 11: schedule.trigger: hour: ",
        ),
        (
            "[[task]]\nid = \"t\"\ncommand = [\"true\"]\n[[schedule]]\nid = \"s\"\ntask = \"t\"\n",
            "line 5, column 6: schedule: schedule 's' needs one of cron, interval, at or trigger",
        ),
        (
            "[[task]]\nid = \"t\"\ncommand = [\"true\"]\n[[schedule]]\nid = \"s\"\ntask = \"t\"\ncron = \"* * * * *\"\ninterval = \"1s\"\n",
            "line 8, column 12: schedule.interval: schedule 's' has both cron and interval",
        ),
        (
            "[[task]]\nid = \"t\"\ncommand = [\"true\"]\n[[schedule]]\nid = \"s\"\ntask = \"t\"\ninterval = \"1s\"\n[[schedule]]\nid = \"s\"\ntask = \"t\"\ninterval = \"1s\"\n",
            "line 9, column 6: schedule.id: schedule 's' is declared twice",
        ),
        (
            "[[task]]\nid = \"t\"\ncommand = [\"true\"]\n[[schedule]]\nid = \"s\"\ntask = \"t\"\ninterval = \"1s\"\ncoalesce = \"first\"\n",
            "line 8, column 12: schedule.coalesce: unknown variant `first`",
        ),
        // Syntax.
        ("[node\n", "horae.toml, line 1, column 6: "),
        ("a = \n", "horae.toml, line 1, column "),
    ];
    let mut wrong = Vec::new();
    for (text, expected) in cases {
        let message = error(text);
        if !message.contains(expected) || !message.starts_with("horae.toml, line ") {
            wrong.push(format!("{text:?}\n got: {message}\nwant: {expected}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

#[test]
fn an_error_shows_the_line() {
    let message = error("[node]\nid = \"a\"\nlease_duration = \"ten\"\n");
    assert!(
        message.ends_with("\n    3 | lease_duration = \"ten\""),
        "{message}"
    );
}

#[test]
fn the_example_config_parses() {
    let text = include_str!("../../../../examples/horae.toml");
    let settings = Settings::parse(text, "examples/horae.toml", now()).unwrap();
    settings.check().unwrap();
    assert_eq!(settings.tasks.len(), 3);
    assert_eq!(settings.schedules.len(), 4);
    assert!(settings.schedules.iter().any(|s| s.paused));
}
