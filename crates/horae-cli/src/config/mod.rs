//! The daemon's configuration: the TOML file of DESIGN.md section 7, `HORAE_*` environment
//! overrides, and the defaults.
//!
//! Precedence, lowest first: defaults, the file, the environment, command-line flags
//! (`--store`). Every value is checked before anything starts; an error names the file, the
//! line and column, and the key (`horae.toml, line 12, column 11: task.timeout: invalid
//! duration ...`), and the command exits with status 2.
//!
//! | key | default | environment |
//! |---|---|---|
//! | `node.id` | `hostname-pid` | `HORAE_NODE_ID` |
//! | `node.role` | `both` | `HORAE_NODE_ROLE` |
//! | `node.max_concurrent_jobs` | 100 | `HORAE_MAX_CONCURRENT_JOBS` |
//! | `node.lease_duration` | `30s` | `HORAE_LEASE_DURATION` |
//! | `node.stop_grace_period` | `30s` | `HORAE_STOP_GRACE_PERIOD` |
//! | `node.poll_interval` | `1s` | `HORAE_POLL_INTERVAL` |
//! | `store.url` | `sqlite://horae.db` | `HORAE_STORE_URL` |
//! | `store.prefix` | `horae_` | `HORAE_STORE_PREFIX` |
//! | `store.connect_timeout` | `60s` | `HORAE_CONNECT_TIMEOUT` |
//! | `broker.url` | `local` | `HORAE_BROKER_URL` |
//! | `http.bind` | `127.0.0.1:8731` | `HORAE_HTTP_BIND` |
//! | `http.token` | none (required for a non-loopback bind) | `HORAE_TOKEN` |
//!
//! `[[task]]` and `[[schedule]]` entries come from the file only.

mod file;

use std::collections::{BTreeSet, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use horae::duration::parse_duration;
use horae::model::{
    CoalescePolicy, CommandAction, ExecutorKind, ScheduleId, SchedulerRole, Task, TaskAction,
    TaskId,
};
use horae::scheduler::SchedulerConfig;
use jiff::Timestamp;
use serde_json::{Map, Value};
use toml::Spanned;

use self::file::{CommandSpec, FileConfig, ScheduleSection, TaskSection};
use crate::spec::{When, toml_to_json};

/// The default store: an SQLite file in the working directory.
pub(crate) const DEFAULT_STORE_URL: &str = "sqlite://horae.db";
/// The default HTTP address.
pub(crate) const DEFAULT_HTTP_BIND: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8731);
/// The default time to wait for an unreachable database at start.
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// A configuration that cannot be used; the message names where and why. Exit status 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigError(pub(crate) String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The resolved configuration of a node.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The file it was read from, if any.
    pub(crate) source: Option<PathBuf>,
    /// The node.
    pub(crate) node: NodeSettings,
    /// The data store.
    pub(crate) store: StoreSettings,
    /// The event broker URL: `local`, `postgres://...`, `redis://...`, `mqtt://...`.
    pub(crate) broker_url: String,
    /// The HTTP API and dashboard.
    pub(crate) http: HttpSettings,
    /// The tasks declared in the file.
    pub(crate) tasks: Vec<Task>,
    /// The schedules declared in the file.
    pub(crate) schedules: Vec<ScheduleDecl>,
}

/// `[node]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NodeSettings {
    /// `id`.
    pub(crate) id: String,
    /// `role`.
    pub(crate) role: SchedulerRole,
    /// `max_concurrent_jobs`.
    pub(crate) max_concurrent_jobs: usize,
    /// `lease_duration`.
    pub(crate) lease_duration: Duration,
    /// `stop_grace_period`: how long a stop waits for running jobs.
    pub(crate) stop_grace_period: Duration,
    /// `poll_interval`: the longest a node waits for work without an event.
    pub(crate) poll_interval: Duration,
}

/// `[store]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoreSettings {
    /// `url`: `memory://`, `sqlite://PATH`, `postgres://...`, `mysql://...`.
    pub(crate) url: String,
    /// `prefix`: the SQL table prefix.
    pub(crate) prefix: Option<String>,
    /// `connect_timeout`: how long to wait for an unreachable database at start.
    pub(crate) connect_timeout: Duration,
}

/// `[http]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpSettings {
    /// `bind`.
    pub(crate) bind: SocketAddr,
    /// `token`: required (as `Authorization: Bearer`) on every path when set.
    pub(crate) token: Option<String>,
}

/// A `[[schedule]]`, checked, with its trigger as a specification (the trigger itself is
/// built when the schedule is added, so an omitted start time means that moment).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ScheduleDecl {
    /// `id`.
    pub(crate) id: ScheduleId,
    /// `task`.
    pub(crate) task_id: TaskId,
    /// The trigger specification built from `cron` / `interval` / `at` / `trigger` and
    /// `timezone`.
    pub(crate) trigger: Value,
    /// `args`.
    pub(crate) args: Vec<Value>,
    /// `kwargs`.
    pub(crate) kwargs: Map<String, Value>,
    /// `paused`.
    pub(crate) paused: bool,
    /// `coalesce`.
    pub(crate) coalesce: CoalescePolicy,
    /// `misfire_grace_time` (`None`: the task's).
    pub(crate) misfire_grace_time: Option<Duration>,
    /// `max_jitter`.
    pub(crate) max_jitter: Option<Duration>,
    /// `job_result_expiration_time` (default 0: results are not kept).
    pub(crate) job_result_expiration_time: Duration,
    /// `metadata`.
    pub(crate) metadata: Map<String, Value>,
}

impl Settings {
    /// The defaults, as with no file and no environment.
    pub(crate) fn defaults() -> Settings {
        let node = SchedulerConfig::default();
        Settings {
            source: None,
            node: NodeSettings {
                id: node.node_id,
                role: node.role,
                max_concurrent_jobs: node.max_concurrent_jobs,
                lease_duration: node.lease_duration,
                stop_grace_period: node.stop_grace_period,
                poll_interval: node.poll_interval,
            },
            store: StoreSettings {
                url: DEFAULT_STORE_URL.to_owned(),
                prefix: None,
                connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            },
            broker_url: "local".to_owned(),
            http: HttpSettings {
                bind: DEFAULT_HTTP_BIND,
                token: None,
            },
            tasks: Vec::new(),
            schedules: Vec::new(),
        }
    }

    /// Reads the file at `path` (if any) over the defaults, then the environment (`env`
    /// looks a variable up), and checks the result.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the file, line and key, or the environment variable.
    pub(crate) fn load(
        path: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Settings, ConfigError> {
        let mut settings = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|error| {
                    ConfigError(format!(
                        "cannot read config file {}: {error}",
                        path.display()
                    ))
                })?;
                Settings::parse(&text, &path.display().to_string(), Timestamp::now())?
            }
            None => Settings::defaults(),
        };
        settings.source = path.map(Path::to_path_buf);
        settings.apply_env(env)?;
        settings.check()?;
        Ok(settings)
    }

    /// Parses config text (`name` is how messages refer to it) over the defaults; `now` is
    /// used to check the triggers.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the line and the key.
    pub(crate) fn parse(text: &str, name: &str, now: Timestamp) -> Result<Settings, ConfigError> {
        let source = Source { text, name };
        let deserializer =
            toml::Deserializer::parse(text).map_err(|e| source.toml_error(&e, ""))?;
        let file: FileConfig = serde_path_to_error::deserialize(deserializer).map_err(|error| {
            let key = key_path(error.path());
            source.toml_error(error.inner(), &key)
        })?;
        source.resolve(file, now)
    }

    /// Applies the `HORAE_*` overrides.
    fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let var = |name: &str| env(name).filter(|value| !value.is_empty());
        let bad = |name: &str, message: String| ConfigError(format!("{name}: {message}"));
        let duration = |name: &str, text: String| {
            parse_duration(&text).map_err(|error| bad(name, error.to_string()))
        };
        if let Some(id) = var("HORAE_NODE_ID") {
            self.node.id = id;
        }
        if let Some(role) = var("HORAE_NODE_ROLE") {
            self.node.role = role
                .parse()
                .map_err(|e: horae::model::UnknownVariant| bad("HORAE_NODE_ROLE", e.to_string()))?;
        }
        if let Some(max) = var("HORAE_MAX_CONCURRENT_JOBS") {
            self.node.max_concurrent_jobs = max.parse().map_err(|_| {
                bad(
                    "HORAE_MAX_CONCURRENT_JOBS",
                    format!("expected a non-negative integer, got {max:?}"),
                )
            })?;
        }
        if let Some(text) = var("HORAE_LEASE_DURATION") {
            self.node.lease_duration = duration("HORAE_LEASE_DURATION", text)?;
        }
        if let Some(text) = var("HORAE_STOP_GRACE_PERIOD") {
            self.node.stop_grace_period = duration("HORAE_STOP_GRACE_PERIOD", text)?;
        }
        if let Some(text) = var("HORAE_POLL_INTERVAL") {
            self.node.poll_interval = duration("HORAE_POLL_INTERVAL", text)?;
        }
        if let Some(url) = var("HORAE_STORE_URL") {
            self.store.url = url;
        }
        if let Some(prefix) = var("HORAE_STORE_PREFIX") {
            self.store.prefix = Some(prefix);
        }
        if let Some(text) = var("HORAE_CONNECT_TIMEOUT") {
            self.store.connect_timeout = duration("HORAE_CONNECT_TIMEOUT", text)?;
        }
        if let Some(url) = var("HORAE_BROKER_URL") {
            self.broker_url = url;
        }
        if let Some(bind) = var("HORAE_HTTP_BIND") {
            self.http.bind =
                parse_bind(&bind).map_err(|message| bad("HORAE_HTTP_BIND", message))?;
        }
        if let Some(token) = var("HORAE_TOKEN") {
            self.http.token = Some(token);
        }
        Ok(())
    }

    /// Replaces the store URL (the `--store` flag).
    pub(crate) fn override_store(&mut self, url: String) {
        self.store.url = url;
    }

    /// The checks that span several settings or sources; messages name the config key.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for an unusable node, store, broker or HTTP setting.
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, message: String| ConfigError(format!("{key}: {message}"));
        if self.node.id.trim().is_empty() {
            return Err(bad("node.id", "must not be empty".to_owned()));
        }
        if self.node.lease_duration < Duration::from_millis(3) {
            return Err(bad(
                "node.lease_duration",
                "must be at least 3ms".to_owned(),
            ));
        }
        if self.node.poll_interval.is_zero() {
            return Err(bad("node.poll_interval", "must be positive".to_owned()));
        }
        if self.node.role != SchedulerRole::Scheduler && self.node.max_concurrent_jobs == 0 {
            return Err(bad(
                "node.max_concurrent_jobs",
                "must be at least 1 on a node that runs jobs (role worker or both)".to_owned(),
            ));
        }
        check_store_url(&self.store.url).map_err(|message| bad("store.url", message))?;
        if let Some(prefix) = &self.store.prefix {
            horae_sql::TablePrefix::new(prefix.clone())
                .map_err(|error| bad("store.prefix", error.to_string()))?;
        }
        check_broker_url(&self.broker_url).map_err(|message| bad("broker.url", message))?;
        if !self.http.bind.ip().is_loopback()
            && self.http.token.as_deref().is_none_or(str::is_empty)
        {
            return Err(bad(
                "http.token",
                format!(
                    "required when http.bind is not a loopback address ({}); set it or HORAE_TOKEN",
                    self.http.bind
                ),
            ));
        }
        Ok(())
    }
}

/// Checks a store URL's scheme and syntax.
pub(crate) fn check_store_url(url: &str) -> Result<(), String> {
    if is_memory_url(url) {
        return Ok(());
    }
    horae_sql::StoreUrl::parse(url)
        .map(|_| ())
        .map_err(|error| match error {
            horae::error::StoreError::Invalid(message) => message,
            other => other.to_string(),
        })
        .map_err(|message| format!("{message} (or memory://)"))
}

/// Whether the URL names the in-memory store.
pub(crate) fn is_memory_url(url: &str) -> bool {
    matches!(url, "memory" | "memory:" | "memory://")
}

/// Checks a broker URL's scheme.
pub(crate) fn check_broker_url(url: &str) -> Result<(), String> {
    const SCHEMES: [&str; 6] = [
        "postgres://",
        "postgresql://",
        "redis://",
        "rediss://",
        "mqtt://",
        "tcp://",
    ];
    if url == "local" || SCHEMES.iter().any(|scheme| url.starts_with(scheme)) {
        Ok(())
    } else {
        Err(format!(
            "{url:?}: expected local, postgres://..., redis://... or mqtt://HOST:PORT"
        ))
    }
}

/// `IP:PORT`, or `localhost:PORT`.
fn parse_bind(text: &str) -> Result<SocketAddr, String> {
    if let Some(Ok(port)) = text.strip_prefix("localhost:").map(str::parse::<u16>) {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    text.parse().map_err(|_| {
        format!(
            "{text:?} is not an address (expected IP:PORT such as 127.0.0.1:8731 or 0.0.0.0:8731)"
        )
    })
}

/// The key path of a deserialization error: map keys joined with dots (array indices and
/// serde's private span keys left out; the line number tells which entry).
fn key_path(path: &serde_path_to_error::Path) -> String {
    path.iter()
        .filter_map(|segment| match segment {
            serde_path_to_error::Segment::Map { key } if !key.starts_with("$__") => {
                Some(key.as_str())
            }
            serde_path_to_error::Segment::Enum { variant } => Some(variant.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The config text, for locating errors.
struct Source<'a> {
    text: &'a str,
    name: &'a str,
}

impl Source<'_> {
    /// `horae.toml, line 3, column 7` and the line itself.
    fn locate(&self, offset: usize) -> (String, String) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = self.text[line_start..offset].chars().count() + 1;
        let content = self.text[line_start..].lines().next().unwrap_or_default();
        (
            format!("{}, line {line}, column {column}", self.name),
            format!("\n{line:>5} | {content}"),
        )
    }

    /// An error at `span` about `key`.
    fn error(
        &self,
        span: &Range<usize>,
        key: &str,
        message: impl std::fmt::Display,
    ) -> ConfigError {
        let (place, snippet) = self.locate(span.start);
        if key.is_empty() {
            ConfigError(format!("{place}: {message}{snippet}"))
        } else {
            ConfigError(format!("{place}: {key}: {message}{snippet}"))
        }
    }

    /// A TOML syntax or type error, at its span when it has one.
    fn toml_error(&self, error: &toml::de::Error, key: &str) -> ConfigError {
        let message = error.message().trim_end();
        match error.span() {
            Some(span) => self.error(&span, key, message),
            None if key.is_empty() => ConfigError(format!("{}: {message}", self.name)),
            None => ConfigError(format!("{}: {key}: {message}", self.name)),
        }
    }

    /// Checks and converts the file's sections.
    fn resolve(&self, file: FileConfig, now: Timestamp) -> Result<Settings, ConfigError> {
        let mut settings = Settings::defaults();
        let node = file.node;
        if let Some(id) = node.id {
            if id.get_ref().trim().is_empty() {
                return Err(self.error(&id.span(), "node.id", "must not be empty"));
            }
            settings.node.id = id.into_inner();
        }
        if let Some(role) = node.role {
            settings.node.role = role;
        }
        if let Some(max) = node.max_concurrent_jobs {
            settings.node.max_concurrent_jobs = *max.get_ref() as usize;
        }
        if let Some(lease) = node.lease_duration {
            if lease.get_ref().0 < Duration::from_millis(3) {
                return Err(self.error(
                    &lease.span(),
                    "node.lease_duration",
                    "must be at least 3ms",
                ));
            }
            settings.node.lease_duration = lease.into_inner().0;
        }
        if let Some(grace) = node.stop_grace_period {
            settings.node.stop_grace_period = grace.0;
        }
        if let Some(poll) = node.poll_interval {
            if poll.get_ref().0.is_zero() {
                return Err(self.error(&poll.span(), "node.poll_interval", "must be positive"));
            }
            settings.node.poll_interval = poll.into_inner().0;
        }
        if let Some(url) = file.store.url {
            check_store_url(url.get_ref()).map_err(|m| self.error(&url.span(), "store.url", m))?;
            settings.store.url = url.into_inner();
        }
        if let Some(prefix) = file.store.prefix {
            horae_sql::TablePrefix::new(prefix.get_ref().clone())
                .map_err(|e| self.error(&prefix.span(), "store.prefix", e))?;
            settings.store.prefix = Some(prefix.into_inner());
        }
        if let Some(timeout) = file.store.connect_timeout {
            settings.store.connect_timeout = timeout.0;
        }
        if let Some(url) = file.broker.url {
            check_broker_url(url.get_ref())
                .map_err(|m| self.error(&url.span(), "broker.url", m))?;
            settings.broker_url = url.into_inner();
        }
        if let Some(bind) = file.http.bind {
            settings.http.bind =
                parse_bind(bind.get_ref()).map_err(|m| self.error(&bind.span(), "http.bind", m))?;
        }
        settings.http.token = file.http.token.filter(|token| !token.is_empty());

        let mut task_ids = BTreeSet::new();
        for section in file.task {
            let task = self.task(section, &task_ids)?;
            task_ids.insert(task.id.clone());
            settings.tasks.push(task);
        }
        let mut schedule_ids = HashSet::new();
        for section in file.schedule {
            let schedule = self.schedule(section, &task_ids, &schedule_ids, now)?;
            schedule_ids.insert(schedule.id.clone());
            settings.schedules.push(schedule);
        }
        Ok(settings)
    }

    /// One `[[task]]`.
    fn task(
        &self,
        section: Spanned<TaskSection>,
        seen: &BTreeSet<TaskId>,
    ) -> Result<Task, ConfigError> {
        let span = section.span();
        let section = section.into_inner();
        let id = TaskId::new(section.id.get_ref().clone())
            .map_err(|e| self.error(&section.id.span(), "task.id", e))?;
        if seen.contains(&id) {
            return Err(self.error(
                &section.id.span(),
                "task.id",
                format!("task '{id}' is declared twice"),
            ));
        }
        let (executor, action) = match (section.command, section.http) {
            (Some(command), None) => {
                let shell_given = section.shell.as_ref().map(|s| *s.get_ref());
                let (argv, shell) = match command.get_ref() {
                    CommandSpec::Argv(argv) => (argv.clone(), shell_given.unwrap_or(false)),
                    CommandSpec::Line(line) => {
                        if shell_given == Some(false) {
                            return Err(self.error(
                                &command.span(),
                                "task.command",
                                "a string is a shell line; use an array for a command without a shell",
                            ));
                        }
                        (vec![line.clone()], true)
                    }
                };
                if argv.first().is_none_or(|program| program.trim().is_empty()) {
                    return Err(self.error(&command.span(), "task.command", "must name a program"));
                }
                let action = CommandAction {
                    argv,
                    shell,
                    env: section.env.map(Spanned::into_inner).unwrap_or_default(),
                    cwd: section.cwd.map(Spanned::into_inner),
                };
                (ExecutorKind::Command, TaskAction::Command(action))
            }
            (None, Some(http)) => {
                let stray = [
                    section.shell.as_ref().map(|s| ("task.shell", s.span())),
                    section.env.as_ref().map(|s| ("task.env", s.span())),
                    section.cwd.as_ref().map(|s| ("task.cwd", s.span())),
                ];
                if let Some((key, span)) = stray.into_iter().flatten().next() {
                    return Err(self.error(&span, key, "only for command tasks"));
                }
                (ExecutorKind::Http, TaskAction::Http(http.into_inner()))
            }
            (Some(command), Some(_)) => {
                return Err(self.error(
                    &command.span(),
                    "task.command",
                    format!("task '{id}' has both a command and an http request; keep one"),
                ));
            }
            (None, None) => {
                return Err(self.error(
                    &section.id.span(),
                    "task",
                    format!("task '{id}' needs a command = [...] or an http = {{ url = ... }}"),
                ));
            }
        };
        let mut task = Task::new(id, executor);
        task.action = Some(action);
        task.timeout = section.timeout.map(|t| t.0);
        if let Some(max) = section.max_running_jobs {
            task.max_running_jobs = max.0;
        }
        task.misfire_grace_time = section.misfire_grace_time.map(|t| t.0);
        if let Some(retry) = section.retry {
            retry
                .get_ref()
                .validate()
                .map_err(|e| self.error(&retry.span(), "task.retry", e))?;
            task.retry = Some(retry.into_inner());
        }
        if let Some(metadata) = section.metadata {
            task.metadata = self.table(metadata, "task.metadata")?;
        }
        task.validate().map_err(|error| {
            let key = match error.field() {
                field @ ("method" | "url" | "headers") => format!("task.http.{field}"),
                field => format!("task.{field}"),
            };
            self.error(&span, &key, error)
        })?;
        Ok(task)
    }

    /// One `[[schedule]]`.
    fn schedule(
        &self,
        section: Spanned<ScheduleSection>,
        tasks: &BTreeSet<TaskId>,
        seen: &HashSet<ScheduleId>,
        now: Timestamp,
    ) -> Result<ScheduleDecl, ConfigError> {
        let section = section.into_inner();
        let id = ScheduleId::new(section.id.get_ref().clone())
            .map_err(|e| self.error(&section.id.span(), "schedule.id", e))?;
        if seen.contains(&id) {
            return Err(self.error(
                &section.id.span(),
                "schedule.id",
                format!("schedule '{id}' is declared twice"),
            ));
        }
        let task_span = section.task.span();
        let task_id = TaskId::new(section.task.into_inner())
            .map_err(|e| self.error(&task_span, "schedule.task", e))?;
        if !tasks.contains(&task_id) {
            let declared: Vec<&str> = tasks.iter().map(TaskId::as_str).collect();
            return Err(self.error(
                &task_span,
                "schedule.task",
                format!(
                    "schedule '{id}' refers to task '{task_id}', which is not declared in this file (declared: {})",
                    if declared.is_empty() { "none".to_owned() } else { declared.join(", ") }
                ),
            ));
        }
        let mut given: Vec<(When, Range<usize>)> = Vec::new();
        if let Some(cron) = section.cron {
            given.push((When::Cron(cron.get_ref().clone()), cron.span()));
        }
        if let Some(interval) = section.interval {
            given.push((When::Interval(interval.get_ref().0), interval.span()));
        }
        if let Some(at) = section.at {
            let span = at.span();
            let text = match at.into_inner() {
                toml::Value::String(text) => text,
                toml::Value::Datetime(time) => time.to_string(),
                other => {
                    return Err(self.error(
                        &span,
                        "schedule.at",
                        format!(
                            "expected a time such as \"2026-12-01T03:00:00Z\", got {}",
                            other.type_str()
                        ),
                    ));
                }
            };
            given.push((When::At(text), span));
        }
        if let Some(trigger) = section.trigger {
            let span = trigger.span();
            let value = toml_to_json(trigger.into_inner())
                .map_err(|m| self.error(&span, "schedule.trigger", m))?;
            if !value.is_object() {
                return Err(self.error(
                    &span,
                    "schedule.trigger",
                    "expected a table such as { type = \"cron\", hour = 3 }",
                ));
            }
            given.push((When::Trigger(value), span));
        }
        let (when, when_span) = match given.len() {
            1 => given.remove(0),
            0 => {
                return Err(self.error(
                    &section.id.span(),
                    "schedule",
                    format!("schedule '{id}' needs one of cron, interval, at or trigger"),
                ));
            }
            _ => {
                let (second, span) = &given[1];
                return Err(self.error(
                    span,
                    &format!("schedule.{}", second.key()),
                    format!(
                        "schedule '{id}' has both {} and {}; give exactly one of cron, interval, at or trigger",
                        given[0].0.key(),
                        second.key()
                    ),
                ));
            }
        };
        let zone = section.timezone.as_ref().map(|z| z.get_ref().as_str());
        let trigger = when.to_spec(zone, now).map_err(|error| {
            let span = match (&section.timezone, error.key) {
                (Some(zone), "timezone") => zone.span(),
                _ => when_span.clone(),
            };
            self.error(&span, &format!("schedule.{}", error.key), error.message)
        })?;
        let args = match section.args {
            Some(args) => {
                let span = args.span();
                args.into_inner()
                    .into_iter()
                    .map(toml_to_json)
                    .collect::<Result<_, _>>()
                    .map_err(|m| self.error(&span, "schedule.args", m))?
            }
            None => Vec::new(),
        };
        let kwargs = match section.kwargs {
            Some(kwargs) => self.table(kwargs, "schedule.kwargs")?,
            None => Map::new(),
        };
        let metadata = match section.metadata {
            Some(metadata) => self.table(metadata, "schedule.metadata")?,
            None => Map::new(),
        };
        Ok(ScheduleDecl {
            id,
            task_id,
            trigger,
            args,
            kwargs,
            paused: section.paused.unwrap_or(false),
            coalesce: section.coalesce.unwrap_or_default(),
            misfire_grace_time: section.misfire_grace_time.map(|t| t.0),
            max_jitter: section.max_jitter.map(|t| t.0),
            job_result_expiration_time: section
                .job_result_expiration_time
                .map_or(Duration::ZERO, |t| t.0),
            metadata,
        })
    }

    /// A TOML table as a JSON object.
    fn table(
        &self,
        table: Spanned<toml::Table>,
        key: &str,
    ) -> Result<Map<String, Value>, ConfigError> {
        let span = table.span();
        match toml_to_json(toml::Value::Table(table.into_inner())) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(self.error(&span, key, "expected a table")),
            Err(message) => Err(self.error(&span, key, message)),
        }
    }
}

#[cfg(test)]
mod tests;
