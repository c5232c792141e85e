//! The small enums of the model: roles, outcomes, policies, states, executor kinds.
//!
//! Each serializes as its snake_case name (`"missed_start_deadline"`), and `Display` /
//! `FromStr` use the same names.

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
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
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
    use super::*;

    #[test]
    fn names_match_serde_and_parse_back() {
        for outcome in JobOutcome::ALL {
            let json = serde_json::to_string(outcome).unwrap();
            assert_eq!(json, format!("\"{outcome}\""));
            assert_eq!(outcome.as_str().parse::<JobOutcome>().unwrap(), *outcome);
        }
        assert_eq!(JobOutcome::TimedOut.to_string(), "timed_out");
        let e = "sometimes".parse::<SchedulerRole>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown role \"sometimes\" (expected one of: scheduler, worker, both)"
        );
    }

    #[test]
    fn defaults_follow_apscheduler_4() {
        assert_eq!(SchedulerRole::default(), SchedulerRole::Both);
        assert_eq!(ConflictPolicy::default(), ConflictPolicy::DoNothing);
        assert_eq!(CoalescePolicy::default(), CoalescePolicy::Latest);
    }
}
