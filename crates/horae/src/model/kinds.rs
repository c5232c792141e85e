//! The small enums of the model: roles, outcomes, policies, states, executor kinds.
//!
//! Each serializes as its snake_case name (`"missed_start_deadline"`); `Display`, `FromStr`
//! and `as_str` use the same names (one literal per variant feeds all of them).

use serde::{Deserialize, Serialize};

/// Error returned by `FromStr` for an unknown enum name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?} (expected one of: {expected})")]
pub struct UnknownVariant {
    /// What was being parsed (`"role"`, `"outcome"`, ...).
    pub kind: &'static str,
    /// The text that was given.
    pub value: String,
    /// The accepted names, comma-separated.
    pub expected: String,
}

macro_rules! named_enum {
    ($(#[$doc:meta])* $name:ident ($kind:literal) { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The serialized name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownVariant;

            fn from_str(text: &str) -> Result<$name, UnknownVariant> {
                $name::ALL.iter().copied().find(|v| v.as_str() == text).ok_or_else(|| UnknownVariant {
                    kind: $kind,
                    value: text.to_owned(),
                    expected: $name::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", "),
                })
            }
        }
    };
}

named_enum!(
    /// What a node does.
    #[derive(Default)]
    SchedulerRole ("role") {
        /// Turns due schedules into jobs only.
        Scheduler = "scheduler",
        /// Runs jobs only.
        Worker = "worker",
        /// Both (the default).
        #[default]
        Both = "both",
    }
);

named_enum!(
    /// How one run of a job ended.
    JobOutcome ("outcome") {
        /// The handler returned normally.
        Success = "success",
        /// The handler returned an error or panicked.
        Error = "error",
        /// The job could not start before its start deadline (misfire grace time).
        MissedStartDeadline = "missed_start_deadline",
        /// The job was cancelled (e.g. by a shutdown after the grace period).
        Cancelled = "cancelled",
        /// The handler exceeded the task's timeout.
        TimedOut = "timed_out",
        /// The node running the job died or stalled past its lease, and retries are exhausted.
        Abandoned = "abandoned",
        /// This node's lease on the job was lost; another node owns the job now.
        LeaseLost = "lease_lost",
    }
);

impl JobOutcome {
    /// Whether the job succeeded.
    pub fn is_success(self) -> bool {
        self == JobOutcome::Success
    }
}

named_enum!(
    /// What adding a schedule whose id already exists does.
    #[derive(Default)]
    ConflictPolicy ("conflict policy") {
        /// Overwrite the existing schedule (its fire-time history is reset).
        Replace = "replace",
        /// Keep the existing schedule and do nothing (the default, as in APScheduler 4).
        #[default]
        DoNothing = "do_nothing",
        /// Fail with a conflict error.
        Exception = "exception",
    }
);

named_enum!(
    /// Which jobs a schedule creates when several of its fire times are due at once.
    #[derive(Default)]
    CoalescePolicy ("coalesce policy") {
        /// One job, for the earliest due fire time.
        Earliest = "earliest",
        /// One job, for the latest due fire time (the default, as in APScheduler 4).
        #[default]
        Latest = "latest",
        /// One job per due fire time.
        All = "all",
    }
);

named_enum!(
    /// The life-cycle state of a scheduler node.
    RunState ("run state") {
        /// Starting up.
        Starting = "starting",
        /// Running.
        Started = "started",
        /// Shutting down gracefully.
        Stopping = "stopping",
        /// Stopped.
        Stopped = "stopped",
    }
);

named_enum!(
    /// How a task's jobs are executed.
    ExecutorKind ("executor") {
        /// An async Rust function on the runtime.
        Async = "async",
        /// A blocking Rust function on the blocking pool (it cannot stall lease renewal).
        Blocking = "blocking",
        /// A command run by the daemon (`command = [...]` in the config).
        Command = "command",
        /// An HTTP request made by the daemon (`http = {...}` in the config).
        Http = "http",
    }
);

#[cfg(test)]
mod tests {
    use std::fmt::Debug;
    use std::str::FromStr;

    use serde::de::DeserializeOwned;

    use super::*;

    /// Display, FromStr and serde agree on every variant's name, and names are distinct.
    fn names_agree<T>(all: &[T], names: &[&str])
    where
        T: Copy + PartialEq + Debug + std::fmt::Display + Serialize + DeserializeOwned,
        T: FromStr<Err = UnknownVariant>,
    {
        assert_eq!(all.len(), names.len());
        for (value, name) in all.iter().zip(names) {
            assert_eq!(value.to_string(), *name);
            assert_eq!(
                serde_json::to_value(value).unwrap(),
                serde_json::json!(name)
            );
            assert_eq!(
                serde_json::from_value::<T>(serde_json::json!(name)).unwrap(),
                *value
            );
            assert_eq!(name.parse::<T>().unwrap(), *value);
        }
        assert!("".parse::<T>().is_err());
        assert!(
            names[0].to_uppercase().parse::<T>().is_err(),
            "names are case-sensitive"
        );
        assert!(serde_json::from_str::<T>("\"nope\"").is_err());
    }

    #[test]
    fn names_match_serde_and_parse_back() {
        names_agree(SchedulerRole::ALL, &["scheduler", "worker", "both"]);
        names_agree(
            JobOutcome::ALL,
            &[
                "success",
                "error",
                "missed_start_deadline",
                "cancelled",
                "timed_out",
                "abandoned",
                "lease_lost",
            ],
        );
        names_agree(ConflictPolicy::ALL, &["replace", "do_nothing", "exception"]);
        names_agree(CoalescePolicy::ALL, &["earliest", "latest", "all"]);
        names_agree(
            RunState::ALL,
            &["starting", "started", "stopping", "stopped"],
        );
        names_agree(ExecutorKind::ALL, &["async", "blocking", "command", "http"]);
    }

    #[test]
    fn unknown_names_list_the_choices() {
        let error = "sometimes".parse::<SchedulerRole>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown role \"sometimes\" (expected one of: scheduler, worker, both)"
        );
        assert_eq!(error.kind, "role");
        let error = "thread".parse::<ExecutorKind>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown executor \"thread\" (expected one of: async, blocking, command, http)"
        );
    }

    #[test]
    fn only_success_is_success() {
        let successes: Vec<_> = JobOutcome::ALL.iter().filter(|o| o.is_success()).collect();
        assert_eq!(successes, [&JobOutcome::Success]);
    }

    #[test]
    fn defaults_follow_apscheduler_4() {
        assert_eq!(SchedulerRole::default(), SchedulerRole::Both);
        assert_eq!(ConflictPolicy::default(), ConflictPolicy::DoNothing);
        assert_eq!(CoalescePolicy::default(), CoalescePolicy::Latest);
    }
}
