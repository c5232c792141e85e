//! Error types shared across horae: store errors with portable kinds, broker errors, model
//! validation errors, and the crate-level [`Error`].
//!
//! Messages are short and lowercase (`schedule 'nightly' already exists`), so callers can
//! prefix them with context.

use std::fmt;

use crate::duration::DurationError;
use crate::trigger::TriggerError;

/// The kind of object an error is about; displays as `task`, `schedule`, `job`, `result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    /// A task.
    Task,
    /// A schedule.
    Schedule,
    /// A job.
    Job,
    /// A job result.
    Result,
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ObjectKind::Task => "task",
            ObjectKind::Schedule => "schedule",
            ObjectKind::Job => "job",
            ObjectKind::Result => "result",
        })
    }
}

/// A data store operation failed.
///
/// Every backend maps its own errors onto these variants, so the engine reacts the same way
/// on every store: it backs off and retries on [`is_transient`](StoreError::is_transient)
/// errors, reports the others.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The object does not exist.
    #[error("{kind} '{id}' not found")]
    NotFound {
        /// What was looked up.
        kind: ObjectKind,
        /// Its id.
        id: String,
    },
    /// An object with this id already exists (e.g. adding a schedule under conflict policy
    /// `exception`).
    #[error("{kind} '{id}' already exists")]
    Conflict {
        /// What was added.
        kind: ObjectKind,
        /// Its id.
        id: String,
    },
    /// The caller no longer holds the job's lease: another node acquired it, or the lease
    /// token is stale (fenced release, DESIGN.md invariant 3). The caller must not release
    /// or count the job again.
    #[error("lease on job '{job_id}' was lost")]
    LeaseLost {
        /// The job whose lease was lost.
        job_id: String,
    },
    /// The store is unreachable, overloaded or timed out; retry with backoff (transient).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be encoded or decoded.
    #[error("serialization failed: {0}")]
    Serialization(String),
    /// The request is invalid for the store (e.g. a limit of zero, a malformed row).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// Any other failure; not retried.
    #[error("{0}")]
    Other(String),
}

impl StoreError {
    /// Whether retrying the same operation later may succeed: true only for
    /// [`StoreError::Unavailable`].
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

/// An event broker operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// The broker is unreachable; publishing may be retried. A lost event costs latency,
    /// never correctness.
    #[error("broker unavailable: {0}")]
    Unavailable(String),
    /// The event could not be encoded or decoded.
    #[error("event serialization failed: {0}")]
    Serialization(String),
    /// The broker's settings are invalid (a malformed URL, an unusable channel name);
    /// retrying cannot help.
    #[error("invalid broker settings: {0}")]
    Invalid(String),
}

/// A model value breaks a rule. [`field`](ValidationError::field) names the offending field
/// (`max_running_jobs`, `retry.max_attempts`, `task id`); the message names it too.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ValidationError {
    field: &'static str,
    message: String,
}

impl ValidationError {
    /// An error about `field` with a full, human-readable message that names the field.
    pub fn new(field: &'static str, message: impl Into<String>) -> ValidationError {
        ValidationError {
            field,
            message: message.into(),
        }
    }

    /// The field (or id kind) the error is about, e.g. `max_running_jobs` or `task id`.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// The full message (the same text as `Display`).
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Any horae error. Each variant displays as the error it wraps.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An invalid trigger specification or a failed trigger evaluation.
    #[error(transparent)]
    Trigger(#[from] TriggerError),
    /// A data store operation failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An event broker operation failed.
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// A model value is invalid.
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// A duration string is invalid.
    #[error(transparent)]
    Duration(#[from] DurationError),
}

/// `Result` with horae's [`Error`] by default.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_messages_are_short_and_lowercase() {
        for (error, text) in [
            (
                StoreError::Conflict {
                    kind: ObjectKind::Schedule,
                    id: "nightly".into(),
                },
                "schedule 'nightly' already exists",
            ),
            (
                StoreError::NotFound {
                    kind: ObjectKind::Task,
                    id: "backup".into(),
                },
                "task 'backup' not found",
            ),
            (
                StoreError::NotFound {
                    kind: ObjectKind::Result,
                    id: "0190".into(),
                },
                "result '0190' not found",
            ),
            (
                StoreError::LeaseLost {
                    job_id: "0190".into(),
                },
                "lease on job '0190' was lost",
            ),
            (
                StoreError::Unavailable("connection refused".into()),
                "store unavailable: connection refused",
            ),
            (
                StoreError::Serialization("bad json".into()),
                "serialization failed: bad json",
            ),
            (
                StoreError::Invalid("limit is 0".into()),
                "invalid request: limit is 0",
            ),
            (StoreError::Other("disk full".into()), "disk full"),
        ] {
            assert_eq!(error.to_string(), text);
        }
    }

    #[test]
    fn only_unavailable_is_transient() {
        assert!(StoreError::Unavailable("timeout".into()).is_transient());
        for error in [
            StoreError::LeaseLost { job_id: "j".into() },
            StoreError::Conflict {
                kind: ObjectKind::Job,
                id: "j".into(),
            },
            StoreError::Serialization("x".into()),
            StoreError::Invalid("x".into()),
            StoreError::Other("x".into()),
        ] {
            assert!(!error.is_transient(), "{error}");
        }
    }

    #[test]
    fn the_crate_error_wraps_each_error_transparently() {
        let validation =
            ValidationError::new("max_running_jobs", "max_running_jobs must be at least 1");
        assert_eq!(validation.field(), "max_running_jobs");
        assert_eq!(validation.message(), "max_running_jobs must be at least 1");
        let wrapped: Error = validation.clone().into();
        assert_eq!(wrapped, Error::Validation(validation));
        assert_eq!(wrapped.to_string(), "max_running_jobs must be at least 1");

        let store: Error = StoreError::Unavailable("down".into()).into();
        assert_eq!(store.to_string(), "store unavailable: down");

        let broker: Error = BrokerError::Unavailable("connection reset".into()).into();
        assert_eq!(broker.to_string(), "broker unavailable: connection reset");
        assert_eq!(
            BrokerError::Serialization("eof".into()).to_string(),
            "event serialization failed: eof"
        );

        let duration: Error = DurationError::Empty.into();
        assert!(matches!(duration, Error::Duration(DurationError::Empty)));

        let trigger_error =
            crate::trigger::Trigger::parse("{", jiff::Timestamp::UNIX_EPOCH).unwrap_err();
        let trigger: Error = trigger_error.clone().into();
        assert_eq!(trigger.to_string(), trigger_error.to_string());
    }
}
