//! The config file as written: one struct per table, unknown keys rejected, values that
//! need a location for later checks kept [`Spanned`].

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use horae::model::{CoalescePolicy, HttpAction, RetryPolicy, SchedulerRole};
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use toml::Spanned;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileConfig {
    #[serde(default)]
    pub(super) node: NodeSection,
    #[serde(default)]
    pub(super) store: StoreSection,
    #[serde(default)]
    pub(super) broker: BrokerSection,
    #[serde(default)]
    pub(super) http: HttpSection,
    #[serde(default)]
    pub(super) task: Vec<Spanned<TaskSection>>,
    #[serde(default)]
    pub(super) schedule: Vec<Spanned<ScheduleSection>>,
}

/// `[node]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NodeSection {
    pub(super) id: Option<Spanned<String>>,
    pub(super) role: Option<SchedulerRole>,
    pub(super) max_concurrent_jobs: Option<Spanned<u32>>,
    pub(super) lease_duration: Option<Spanned<Human>>,
    pub(super) stop_grace_period: Option<Human>,
    pub(super) poll_interval: Option<Spanned<Human>>,
}

/// `[store]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StoreSection {
    pub(super) url: Option<Spanned<String>>,
    pub(super) prefix: Option<Spanned<String>>,
    pub(super) connect_timeout: Option<Human>,
}

/// `[broker]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BrokerSection {
    pub(super) url: Option<Spanned<String>>,
}

/// `[http]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HttpSection {
    pub(super) bind: Option<Spanned<String>>,
    pub(super) token: Option<String>,
}

/// One `[[task]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TaskSection {
    pub(super) id: Spanned<String>,
    pub(super) command: Option<Spanned<CommandSpec>>,
    pub(super) shell: Option<Spanned<bool>>,
    pub(super) env: Option<Spanned<BTreeMap<String, String>>>,
    pub(super) cwd: Option<Spanned<String>>,
    pub(super) http: Option<Spanned<HttpAction>>,
    pub(super) timeout: Option<Human>,
    pub(super) max_running_jobs: Option<MaxRunning>,
    pub(super) misfire_grace_time: Option<Human>,
    pub(super) retry: Option<Spanned<RetryPolicy>>,
    pub(super) metadata: Option<Spanned<toml::Table>>,
}

/// One `[[schedule]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ScheduleSection {
    pub(super) id: Spanned<String>,
    pub(super) task: Spanned<String>,
    pub(super) cron: Option<Spanned<String>>,
    pub(super) interval: Option<Spanned<Human>>,
    pub(super) at: Option<Spanned<toml::Value>>,
    pub(super) trigger: Option<Spanned<toml::Value>>,
    pub(super) timezone: Option<Spanned<String>>,
    pub(super) coalesce: Option<CoalescePolicy>,
    pub(super) args: Option<Spanned<Vec<toml::Value>>>,
    pub(super) kwargs: Option<Spanned<toml::Table>>,
    pub(super) paused: Option<bool>,
    pub(super) misfire_grace_time: Option<Human>,
    pub(super) max_jitter: Option<Human>,
    pub(super) job_result_expiration_time: Option<Human>,
    pub(super) metadata: Option<Spanned<toml::Table>>,
}

/// A duration written as a string: `"30s"`, `"500ms"`, `"1h30m"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Human(pub(super) Duration);

impl<'de> Deserialize<'de> for Human {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Human, D::Error> {
        struct HumanVisitor;
        impl Visitor<'_> for HumanVisitor {
            type Value = Human;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string such as \"30s\", \"500ms\" or \"1h30m\"")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Human, E> {
                horae::duration::parse_duration(text)
                    .map(Human)
                    .map_err(E::custom)
            }
        }
        deserializer.deserialize_str(HumanVisitor)
    }
}

/// `command = ["prog", "arg"]` (run without a shell) or `command = "a shell line"` (the
/// same as `command = ["a shell line"]` with `shell = true`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum CommandSpec {
    /// A program and its arguments.
    Argv(Vec<String>),
    /// A shell line.
    Line(String),
}

impl<'de> Deserialize<'de> for CommandSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<CommandSpec, D::Error> {
        struct CommandVisitor;
        impl<'de> Visitor<'de> for CommandVisitor {
            type Value = CommandSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of strings (program and arguments) or a shell line")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<CommandSpec, E> {
                Ok(CommandSpec::Line(text.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<CommandSpec, A::Error> {
                let mut argv = Vec::new();
                while let Some(arg) = seq.next_element::<String>()? {
                    argv.push(arg);
                }
                Ok(CommandSpec::Argv(argv))
            }
        }
        deserializer.deserialize_any(CommandVisitor)
    }
}

/// `max_running_jobs`: a positive integer, or `"unlimited"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct MaxRunning(pub(super) Option<u32>);

impl<'de> Deserialize<'de> for MaxRunning {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<MaxRunning, D::Error> {
        struct MaxVisitor;
        impl Visitor<'_> for MaxVisitor {
            type Value = MaxRunning;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a positive integer or \"unlimited\"")
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<MaxRunning, E> {
                match u32::try_from(n) {
                    Ok(n) if n > 0 => Ok(MaxRunning(Some(n))),
                    _ => Err(E::custom(format!(
                        "must be a positive integer (or \"unlimited\"), got {n}"
                    ))),
                }
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<MaxRunning, E> {
                self.visit_i64(i64::try_from(n).unwrap_or(i64::MAX))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<MaxRunning, E> {
                if text == "unlimited" {
                    Ok(MaxRunning(None))
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(text), &self))
                }
            }
        }
        deserializer.deserialize_any(MaxVisitor)
    }
}
