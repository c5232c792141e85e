//! Error types shared across horae: store errors with portable kinds, model validation
//! errors, and the crate-level [`Error`].

use crate::duration::DurationError;
use crate::trigger::TriggerError;

/// The kind of object an error is about.
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

impl std::fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ObjectKind::Task => "task",
            ObjectKind::Schedule => "schedule",
            ObjectKind::Job => "job",
            ObjectKind::Result => "result",
        })
    }
}

/// A data store operation failed. Every backend maps its errors onto these kinds, so the
/// engine reacts the same way on every store.
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
    /// An object with this id already exists (conflict policy `exception`).
    #[error("{kind} '{id}' already exists")]
    Conflict {
        /// What was added.
        kind: ObjectKind,
        /// Its id.
        id: String,
    },
    /// The caller no longer holds the job's lease (fenced release, DESIGN.md invariant 3).
    #[error("lease on job '{job_id}' was lost")]
    LeaseLost {
        /// The job whose lease was lost.
        job_id: String,
    },
    /// The store is unreachable or overloaded; retry with backoff.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be encoded or decoded.
    #[error("serialization failed: {0}")]
    Serialization(String),
    /// The request is invalid for the store.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// Any other failure.
    #[error("{0}")]
    Other(String),
}

impl StoreError {
    /// Whether retrying the same operation later may succeed (the store was unavailable).
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

/// A model value breaks a rule; the error names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ValidationError {
    field: &'static str,
    message: String,
}

impl ValidationError {
    /// An error about `field` with a full, human-readable message.
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
}

/// Any horae error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An invalid trigger or a failed trigger evaluation.
    #[error(transparent)]
    Trigger(#[from] TriggerError),
    /// A data store operation failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A model value is invalid.
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// A duration string is invalid.
    #[error(transparent)]
    Duration(#[from] DurationError),
}

/// `Result` with horae's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_short_and_lowercase() {
        let e = StoreError::Conflict {
            kind: ObjectKind::Schedule,
            id: "nightly".into(),
        };
        assert_eq!(e.to_string(), "schedule 'nightly' already exists");
        assert_eq!(
            StoreError::NotFound {
                kind: ObjectKind::Task,
                id: "x".into()
            }
            .to_string(),
            "task 'x' not found"
        );
        assert!(StoreError::Unavailable("connection refused".into()).is_transient());
        assert!(!StoreError::LeaseLost { job_id: "j".into() }.is_transient());
        let wrapped: Error =
            ValidationError::new("max_running_jobs", "max_running_jobs must be at least 1").into();
        assert_eq!(wrapped.to_string(), "max_running_jobs must be at least 1");
    }
}
