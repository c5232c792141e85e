//! Identifiers: user-chosen task and schedule ids, and time-ordered job ids.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use jiff::Timestamp;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ValidationError;

/// The longest task or schedule id accepted, in characters (all ASCII).
pub const MAX_ID_LEN: usize = 128;

/// Checks the rule for user-chosen ids: 1–128 ASCII letters, digits and `_ - . : @`,
/// starting with a letter or digit. The error message starts with `kind` and quotes the id.
fn validate(kind: &'static str, id: &str) -> Result<(), ValidationError> {
    let reason = if id.is_empty() {
        Some("must not be empty".to_owned())
    } else if id.chars().count() > MAX_ID_LEN {
        Some(format!(
            "is {} characters long; at most {MAX_ID_LEN} are allowed",
            id.chars().count()
        ))
    } else if !id.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        Some("must start with an ASCII letter or digit".to_owned())
    } else {
        id.chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "_-.:@".contains(*c)))
            .map(|c| format!("contains {c:?}; allowed are ASCII letters, digits and _ - . : @"))
    };
    match reason {
        None => Ok(()),
        Some(reason) => {
            let shown: String = id.chars().take(MAX_ID_LEN + 1).collect();
            Err(ValidationError::new(
                kind,
                format!("{kind} {shown:?} {reason}"),
            ))
        }
    }
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        ///
        /// A valid id is 1 to 128 characters long, contains only ASCII letters, digits and
        /// `_ - . : @`, and starts with a letter or digit, so it is safe in URLs, file
        /// names, shell environments and log lines without quoting. Every constructor and
        /// `Deserialize` checks this rule; an invalid id is a [`ValidationError`] whose
        /// field and message name the kind of id and the broken rule.
        ///
        /// Cloning is cheap: the text is shared, not copied.
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Validates and wraps an id.
            ///
            /// # Errors
            ///
            /// A [`ValidationError`] naming the rule the id breaks.
            pub fn new(id: impl Into<String>) -> Result<$name, ValidationError> {
                let id = id.into();
                validate($kind, &id)?;
                Ok($name(Arc::from(id)))
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id as an owned string.
            pub fn into_string(self) -> String {
                String::from(&*self.0)
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

        impl TryFrom<&str> for $name {
            type Error = ValidationError;

            fn try_from(id: &str) -> Result<$name, ValidationError> {
                $name::new(id)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.into_string()
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
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

/// The id of a job: a UUID version 7, whose leading 48 bits are the creation time in Unix
/// milliseconds, so ids sort by creation time to the millisecond (ids made in the same
/// millisecond are ordered randomly).
///
/// Displays, parses and serializes as the hyphenated lowercase string
/// (`0190b7a4-0000-7000-8000-000000000001`). Parsing accepts any UUID, so ids made
/// elsewhere can be read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(uuid::Uuid);

impl JobId {
    /// A new id whose time part is `now`, taken from the engine's clock, so a virtual clock
    /// yields ids ordered by virtual time. Times before 1970 are taken as 1970-01-01.
    pub fn new(now: Timestamp) -> JobId {
        let millis = u64::try_from(now.as_millisecond()).unwrap_or(0);
        let mut random = [0; 10];
        random[..8].copy_from_slice(&random_u64().to_le_bytes());
        random[8..].copy_from_slice(&random_u64().to_le_bytes()[..2]);
        JobId(uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid())
    }

    /// Wraps an existing UUID (as read back from a store).
    pub fn from_uuid(uuid: uuid::Uuid) -> JobId {
        JobId(uuid)
    }

    /// The underlying UUID.
    pub fn as_uuid(&self) -> uuid::Uuid {
        self.0
    }

    /// The creation time embedded in a version 7 id, to the millisecond; `None` for other
    /// UUID versions.
    pub fn timestamp(&self) -> Option<Timestamp> {
        let (secs, nanos) = self.0.get_timestamp()?.to_unix();
        let secs = i64::try_from(secs).ok()?;
        let nanos = i32::try_from(nanos).ok()?;
        Timestamp::new(secs, nanos).ok()
    }
}

/// 64 unpredictable bits without a system call per id: SipHash with the process's random
/// keys (seeded once from the operating system) over a counter.
fn random_u64() -> u64 {
    static KEYS: OnceLock<RandomState> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    KEYS.get_or_init(RandomState::new)
        .hash_one(COUNTER.fetch_add(1, Ordering::Relaxed))
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl FromStr for JobId {
    type Err = ValidationError;

    /// Parses a UUID (hyphenated, simple, braced or URN form).
    fn from_str(text: &str) -> Result<JobId, ValidationError> {
        uuid::Uuid::parse_str(text).map(JobId).map_err(|_| {
            let shown: String = text.chars().take(64).collect();
            ValidationError::new("job id", format!("job id {shown:?} is not a UUID"))
        })
    }
}

impl From<uuid::Uuid> for JobId {
    fn from(uuid: uuid::Uuid) -> JobId {
        JobId(uuid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn user_ids_follow_the_rule() {
        let longest = "x".repeat(MAX_ID_LEN);
        for ok in [
            "backup",
            "reports:daily",
            "a",
            "0",
            "node-1.task_2@x",
            "A:B",
            longest.as_str(),
        ] {
            assert_eq!(TaskId::new(ok).unwrap().as_str(), ok);
            assert_eq!(ScheduleId::new(ok).unwrap().to_string(), ok);
        }
    }

    #[test]
    fn invalid_ids_name_the_kind_and_the_reason() {
        let too_long = "x".repeat(MAX_ID_LEN + 1);
        for (bad, reason) in [
            ("", "must not be empty"),
            ("-x", "must start with an ASCII letter or digit"),
            ("_x", "must start with an ASCII letter or digit"),
            ("a b", "contains ' '"),
            ("a/b", "contains '/'"),
            ("x'; drop table", "contains '\\''"),
            ("ü", "must start with an ASCII letter or digit"),
            ("aü", "contains 'ü'"),
            ("a\n", "contains '\\n'"),
            (
                too_long.as_str(),
                "is 129 characters long; at most 128 are allowed",
            ),
        ] {
            let error = ScheduleId::new(bad).unwrap_err();
            assert_eq!(error.field(), "schedule id");
            let message = error.to_string();
            assert!(message.starts_with("schedule id \""), "{message}");
            assert!(message.contains(reason), "{bad:?}: {message}");
            let error = TaskId::new(bad).unwrap_err();
            assert_eq!(error.field(), "task id");
            assert!(error.to_string().starts_with("task id "), "{error}");
        }
        assert_eq!(
            TaskId::new("a b").unwrap_err().to_string(),
            "task id \"a b\" contains ' '; allowed are ASCII letters, digits and _ - . : @"
        );
    }

    #[test]
    fn every_constructor_validates() {
        assert!(TaskId::try_from("ok".to_owned()).is_ok());
        assert!(TaskId::try_from("not ok".to_owned()).is_err());
        assert!(TaskId::try_from("not ok").is_err());
        assert!("not ok".parse::<ScheduleId>().is_err());
        assert_eq!("ok".parse::<ScheduleId>().unwrap().as_ref(), "ok");
        assert_eq!(String::from(TaskId::new("ok").unwrap()), "ok");
        assert_eq!(TaskId::new("ok").unwrap().into_string(), "ok");
    }

    #[test]
    fn ids_deserialize_with_validation() {
        assert_eq!(
            serde_json::from_str::<TaskId>("\"ok\"").unwrap(),
            TaskId::new("ok").unwrap()
        );
        assert_eq!(
            serde_json::to_string(&TaskId::new("ok").unwrap()).unwrap(),
            "\"ok\""
        );
        let error = serde_json::from_str::<TaskId>("\"not ok\"").unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("task id \"not ok\" contains ' '"),
            "{error}"
        );
        assert!(serde_json::from_str::<ScheduleId>("\"\"").is_err());
        assert!(serde_json::from_str::<TaskId>("5").is_err());
        assert!(serde_json::from_str::<TaskId>("null").is_err());
    }

    fn at(second: i64, nanos: i32) -> Timestamp {
        Timestamp::new(second, nanos).unwrap()
    }

    #[test]
    fn job_ids_are_v7_and_carry_the_given_time() {
        let now = at(1_800_000_000, 123_456_789);
        let id = JobId::new(now);
        assert_eq!(id.as_uuid().get_version_num(), 7);
        assert_eq!(id.timestamp(), Some(at(1_800_000_000, 123_000_000)));
        assert_eq!(
            JobId::new(at(-5, 0)).timestamp(),
            Some(Timestamp::UNIX_EPOCH)
        );
        assert_ne!(JobId::new(now), JobId::new(now), "the random part differs");
        assert_eq!(JobId::from_uuid(uuid::Uuid::nil()).timestamp(), None);
    }

    #[test]
    fn job_ids_made_in_one_millisecond_are_distinct() {
        let now = at(1_700_000_000, 0);
        let ids: std::collections::HashSet<JobId> = (0..10_000).map(|_| JobId::new(now)).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids.iter().all(|id| id.timestamp() == Some(now)));
    }

    #[test]
    fn job_ids_display_parse_and_serialize_hyphenated() {
        let text = "0190b7a4-0000-7000-8000-000000000001";
        let id: JobId = text.parse().unwrap();
        assert_eq!(id.to_string(), text);
        assert_eq!(serde_json::to_value(id).unwrap(), serde_json::json!(text));
        assert_eq!(
            serde_json::from_value::<JobId>(serde_json::json!(text)).unwrap(),
            id
        );
        assert_eq!(
            "0190B7A4000070008000000000000001".parse::<JobId>().unwrap(),
            id
        );
        let error = "nope".parse::<JobId>().unwrap_err();
        assert_eq!(error.field(), "job id");
        assert_eq!(error.to_string(), "job id \"nope\" is not a UUID");
        assert!(serde_json::from_str::<JobId>("\"nope\"").is_err());
        assert!(serde_json::from_str::<JobId>("7").is_err());
    }

    proptest! {
        #[test]
        fn job_ids_sort_by_time(a in 0i64..253_402_300_799_000, b in 0i64..253_402_300_799_000) {
            let (ta, tb) = (Timestamp::from_millisecond(a).unwrap(), Timestamp::from_millisecond(b).unwrap());
            let (ia, ib) = (JobId::new(ta), JobId::new(tb));
            if a != b {
                prop_assert_eq!(a < b, ia < ib);
            }
            prop_assert_eq!(ia.timestamp(), Some(ta));
            prop_assert_eq!(ia.to_string().parse::<JobId>().unwrap(), ia);
            let json = serde_json::to_string(&ia).unwrap();
            prop_assert_eq!(serde_json::from_str::<JobId>(&json).unwrap(), ia);
        }

        #[test]
        fn valid_ids_round_trip(id in "[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}") {
            let task = TaskId::new(id.clone()).unwrap();
            let json = serde_json::to_string(&task).unwrap();
            prop_assert_eq!(serde_json::from_str::<TaskId>(&json).unwrap(), task.clone());
            prop_assert_eq!(task.to_string(), id.clone());
            let schedule: ScheduleId = id.parse().unwrap();
            prop_assert_eq!(schedule.as_str(), id.as_str());
        }

        #[test]
        fn arbitrary_text_is_checked_against_the_rule(id in any::<String>()) {
            let expected = (1..=MAX_ID_LEN).contains(&id.len())
                && id.starts_with(|c: char| c.is_ascii_alphanumeric())
                && id.chars().all(|c| c.is_ascii_alphanumeric() || "_-.:@".contains(c));
            prop_assert_eq!(TaskId::new(id.clone()).is_ok(), expected);
            let json = serde_json::to_string(&id).unwrap();
            prop_assert_eq!(serde_json::from_str::<ScheduleId>(&json).is_ok(), expected);
        }
    }
}
