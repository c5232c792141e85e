//! Identifiers: user-chosen task and schedule ids, and time-ordered job ids.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

use crate::error::ValidationError;

/// The longest task or schedule id accepted.
pub const MAX_ID_LEN: usize = 128;

/// Checks the rule for user-chosen ids: 1–128 ASCII letters, digits and `_ - . : @`,
/// starting with a letter or digit.
fn validate(kind: &'static str, id: &str) -> Result<(), ValidationError> {
    let reason = if id.is_empty() {
        Some("must not be empty".to_owned())
    } else if id.len() > MAX_ID_LEN {
        Some(format!("must be at most {MAX_ID_LEN} characters"))
    } else if !id.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        Some("must start with a letter or digit".to_owned())
    } else {
        id.chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "_-.:@".contains(*c)))
            .map(|c| format!("must contain only letters, digits and _ - . : @ (found {c:?})"))
    };
    match reason {
        None => Ok(()),
        Some(reason) => Err(ValidationError::new(
            kind,
            format!("{kind} {id:?} {reason}"),
        )),
    }
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        ///
        /// Valid ids are 1–128 ASCII letters, digits and `_ - . : @`, starting with a letter
        /// or digit, so they are safe in URLs, file names and SQL without quoting.
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps an id.
            ///
            /// # Errors
            ///
            /// A [`ValidationError`] naming the rule the id breaks.
            pub fn new(id: impl Into<String>) -> Result<$name, ValidationError> {
                let id = id.into();
                validate($kind, &id)?;
                Ok($name(id))
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;

            fn from_str(id: &str) -> Result<$name, ValidationError> {
                $name::new(id)
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValidationError;

            fn try_from(id: String) -> Result<$name, ValidationError> {
                $name::new(id)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<$name, D::Error> {
                $name::new(String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_id!(
    /// The id of a task, chosen by the user (`"backup"`, `"reports:daily"`).
    TaskId,
    "task id"
);
string_id!(
    /// The id of a schedule, chosen by the user (`"nightly"`).
    ScheduleId,
    "schedule id"
);

/// The id of a job: a UUID version 7, so ids sort by creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(uuid::Uuid);

impl JobId {
    /// A new id whose time part is `now` (taken from the engine's clock, so a virtual clock
    /// yields ids ordered by virtual time).
    pub fn new(now: jiff::Timestamp) -> JobId {
        let secs = u64::try_from(now.as_second()).unwrap_or(0);
        let nanos = u32::try_from(now.subsec_nanosecond()).unwrap_or(0);
        let ts = uuid::Timestamp::from_unix(uuid::NoContext, secs, nanos);
        JobId(uuid::Uuid::new_v7(ts))
    }

    /// Wraps an existing UUID (as read back from a store).
    pub fn from_uuid(uuid: uuid::Uuid) -> JobId {
        JobId(uuid)
    }

    /// The underlying UUID.
    pub fn as_uuid(&self) -> uuid::Uuid {
        self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for JobId {
    type Err = ValidationError;

    fn from_str(text: &str) -> Result<JobId, ValidationError> {
        uuid::Uuid::parse_str(text)
            .map(JobId)
            .map_err(|_| ValidationError::new("job id", format!("job id {text:?} is not a UUID")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_follow_the_rule() {
        for ok in [
            "backup",
            "reports:daily",
            "a",
            "node-1.task_2@x",
            &"x".repeat(128),
        ] {
            assert!(TaskId::new(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("", "must not be empty"),
            ("-x", "must start with a letter or digit"),
            ("a b", "found ' '"),
            ("a/b", "found '/'"),
            ("x'; drop table", "found '\\''"),
            ("ü", "must start"),
        ] {
            let e = ScheduleId::new(bad).unwrap_err();
            assert!(e.to_string().contains(why), "{bad}: {e}");
            assert!(e.to_string().starts_with("schedule id"), "{e}");
        }
        assert!(TaskId::new("x".repeat(129)).is_err());
    }

    #[test]
    fn ids_deserialize_with_validation() {
        assert_eq!(
            serde_json::from_str::<TaskId>("\"ok\"").unwrap().as_str(),
            "ok"
        );
        assert!(serde_json::from_str::<TaskId>("\"not ok\"").is_err());
        assert!(serde_json::from_str::<TaskId>("5").is_err());
    }

    #[test]
    fn job_ids_are_v7_and_time_ordered() {
        let early = JobId::new(jiff::Timestamp::from_second(1_800_000_000).unwrap());
        let late = JobId::new(jiff::Timestamp::from_second(1_800_000_001).unwrap());
        assert_eq!(early.as_uuid().get_version_num(), 7);
        assert!(early < late);
        assert_eq!(early.to_string().parse::<JobId>().unwrap(), early);
        assert!("nope".parse::<JobId>().is_err());
    }
}
