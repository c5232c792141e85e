//! The error type for invalid trigger specifications and failed evaluations.

use std::fmt;

/// What is wrong with a trigger specification, or why evaluation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TriggerErrorKind {
    /// The specification is not a JSON object, or a value has the wrong JSON type
    /// (for example a boolean where a number belongs).
    WrongType,
    /// A required field is missing.
    MissingField,
    /// The object has a field this trigger type does not know.
    UnknownField,
    /// The `type` field names no known trigger type.
    UnknownType,
    /// A cron field expression or a time string does not parse.
    Syntax,
    /// A value is outside its allowed range (a minute of 60, a zero interval, ...).
    Range,
    /// Fields that cannot be combined were given together (e.g. `expr` and `minute`).
    Conflict,
    /// The `timezone` field names no IANA time zone.
    UnknownTimeZone,
    /// An `and` trigger found no common fire time within `max_iterations` rounds.
    MaxIterations,
}

/// An invalid trigger specification or a failed trigger evaluation.
///
/// The error always names the offending field as a path from the root of the trigger JSON,
/// for example `minute` or `triggers[1].day_of_week`. Its `Display` form is
/// `"{field}: {message}"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerError {
    field: String,
    kind: TriggerErrorKind,
    message: String,
}

impl TriggerError {
    /// Creates an error about `field` (a path such as `triggers[0].hour`).
    pub fn new(
        field: impl Into<String>,
        kind: TriggerErrorKind,
        message: impl Into<String>,
    ) -> TriggerError {
        TriggerError {
            field: field.into(),
            kind,
            message: message.into(),
        }
    }

    /// The path of the offending field from the root of the trigger JSON (`""` for the root).
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The kind of problem.
    pub fn kind(&self) -> TriggerErrorKind {
        self.kind
    }

    /// The human-readable description, without the field name.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Returns the same error with `prefix` prepended to its field path (used for nesting).
    pub(crate) fn within(mut self, prefix: &str) -> TriggerError {
        self.field = join_path(prefix, &self.field);
        self
    }
}

/// Joins a parent path and a child key into `parent.child` (or just `child` at the root).
pub(crate) fn join_path(prefix: &str, key: &str) -> String {
    match (prefix.is_empty(), key.is_empty()) {
        (true, _) => key.to_owned(),
        (false, true) => prefix.to_owned(),
        (false, false) if key.starts_with('[') => format!("{prefix}{key}"),
        (false, false) => format!("{prefix}.{key}"),
    }
}

impl fmt::Display for TriggerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "trigger: {}", self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

impl std::error::Error for TriggerError {}
