//! Triggers: serializable state machines that compute fire times.
//!
//! A trigger is written as JSON (DESIGN.md section 4) and produces fire times one after the
//! other through [`Trigger::next`]. Its JSON form includes the iteration state, so a schedule
//! can store its trigger and resume it exactly after a restart. The fire times are
//! APScheduler 4's, to the DST edge, except where APScheduler 4 is wrong (see [`CronTrigger`]
//! and [`AndTrigger`]).
//!
//! | type | fields |
//! |---|---|
//! | `date` | `run_time` |
//! | `interval` | `weeks`, `days`, `hours`, `minutes`, `seconds`, `microseconds`, `start_time`, `end_time` |
//! | `cron` | `year`, `month`, `day`, `week`, `day_of_week`, `hour`, `minute`, `second` — or `expr` (a 5-field crontab line) — and `timezone`, `start_time`, `end_time` |
//! | `calendar_interval` | `years`, `months`, `weeks`, `days`, `hour`, `minute`, `second`, `start_date`, `end_date`, `timezone` |
//! | `and` | `triggers`, `threshold` (seconds, default 1), `max_iterations` (default 10000) |
//! | `or` | `triggers` |
//!
//! Times are RFC 3339 with an explicit offset; `timezone` is an IANA name (default `UTC`); an
//! omitted `start_time`/`start_date` means the `now` given to [`Trigger::from_json`].
//!
//! # Example
//!
//! ```
//! use horae::trigger::{Trigger, format_fire_time};
//!
//! let spec = r#"{"type":"cron","day_of_week":"mon-fri","hour":9,"minute":30,
//!               "timezone":"Europe/Berlin","start_time":"2026-03-27T00:00:00+01:00"}"#;
//! let mut trigger = Trigger::parse(spec, jiff::Timestamp::UNIX_EPOCH)?;
//! let first = trigger.next()?.unwrap();
//! assert_eq!(format_fire_time(&first), "2026-03-27T09:30:00+01:00");
//! // Monday after the switch to summer time:
//! let second = trigger.next()?.unwrap();
//! assert_eq!(format_fire_time(&second), "2026-03-30T09:30:00+02:00");
//! # Ok::<(), horae::trigger::TriggerError>(())
//! ```

mod calendar;
mod civil;
mod combine;
mod cron;
mod date;
mod error;
mod interval;
mod json;
mod zone;

use jiff::{Timestamp, ZonedDateTime};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

pub use self::calendar::CalendarIntervalTrigger;
pub use self::combine::{AndTrigger, OrTrigger};
pub use self::cron::CronTrigger;
pub use self::date::DateTrigger;
pub use self::error::{TriggerError, TriggerErrorKind};
pub use self::interval::IntervalTrigger;
use self::json::{Obj, WrittenTime};

/// The trigger type names accepted in the `type` field.
pub const TRIGGER_TYPES: [&str; 6] = ["date", "interval", "cron", "calendar_interval", "and", "or"];

/// A trigger with its iteration state.
///
/// Build one with [`Trigger::from_json`] or [`Trigger::parse`]; serialize it (state included)
/// with [`Trigger::to_json`] or serde.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Trigger {
    /// Fires once.
    Date(DateTrigger),
    /// Fires every fixed amount of elapsed time.
    Interval(IntervalTrigger),
    /// Fires when the wall clock matches cron fields.
    Cron(CronTrigger),
    /// Fires at a wall time every so many years, months, weeks and days.
    CalendarInterval(CalendarIntervalTrigger),
    /// Fires when all sub-triggers agree within a threshold.
    And(AndTrigger),
    /// Fires whenever any sub-trigger fires.
    Or(OrTrigger),
}

impl Trigger {
    /// Builds a trigger from its JSON specification; an omitted start time means `now`.
    ///
    /// # Errors
    ///
    /// A [`TriggerError`] naming the offending field when the specification is invalid: wrong
    /// JSON types, missing or unknown fields, unknown `type` or time zone, bad cron syntax,
    /// out-of-range values, a zero interval, an end before the start.
    pub fn from_json(value: &Value, now: Timestamp) -> Result<Trigger, TriggerError> {
        let mut obj = Obj::new(value, "")?;
        let type_name = match obj.get("type") {
            None => {
                return Err(obj.error(
                    "type",
                    TriggerErrorKind::MissingField,
                    "required field is missing",
                ));
            }
            Some(Value::String(s)) => s.as_str(),
            Some(other) => return Err(obj.wrong_type("type", "a string", other)),
        };
        let now_micros = now.as_microsecond();
        let written_now = WrittenTime {
            instant: now_micros,
            offset: jiff::tz::Offset::UTC,
        };
        let trigger = match type_name {
            "date" => Trigger::Date(DateTrigger::from_obj(&mut obj)?),
            "interval" => Trigger::Interval(IntervalTrigger::from_obj(&mut obj, written_now)?),
            "cron" => Trigger::Cron(CronTrigger::from_obj(&mut obj, now_micros)?),
            "calendar_interval" => {
                Trigger::CalendarInterval(CalendarIntervalTrigger::from_obj(&mut obj, now_micros)?)
            }
            "and" => Trigger::And(AndTrigger::from_obj(&mut obj, now)?),
            "or" => Trigger::Or(OrTrigger::from_obj(&mut obj, now)?),
            other => {
                return Err(obj.error(
                    "type",
                    TriggerErrorKind::UnknownType,
                    format!(
                        "unknown trigger type {other:?} (expected one of: {})",
                        TRIGGER_TYPES.join(", ")
                    ),
                ));
            }
        };
        obj.finish()?;
        Ok(trigger)
    }

    /// Parses a JSON text and builds the trigger (see [`Trigger::from_json`]).
    ///
    /// # Errors
    ///
    /// A [`TriggerError`] when the text is not JSON or the specification is invalid.
    pub fn parse(text: &str, now: Timestamp) -> Result<Trigger, TriggerError> {
        let value: Value = serde_json::from_str(text).map_err(|e| {
            TriggerError::new("", TriggerErrorKind::Syntax, format!("invalid JSON: {e}"))
        })?;
        Trigger::from_json(&value, now)
    }

    /// The JSON form of the trigger, including its iteration state.
    ///
    /// `Trigger::from_json(&t.to_json(), _)` yields a trigger equal to `t` that continues
    /// with the same fire times.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("type".into(), self.type_name().into());
        match self {
            Trigger::Date(t) => t.to_json(&mut out),
            Trigger::Interval(t) => t.to_json(&mut out),
            Trigger::Cron(t) => t.to_json(&mut out),
            Trigger::CalendarInterval(t) => t.to_json(&mut out),
            Trigger::And(t) => t.to_json(&mut out),
            Trigger::Or(t) => t.to_json(&mut out),
        }
        Value::Object(out)
    }

    /// The value of the `type` field (`"cron"`, `"interval"`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            Trigger::Date(_) => "date",
            Trigger::Interval(_) => "interval",
            Trigger::Cron(_) => "cron",
            Trigger::CalendarInterval(_) => "calendar_interval",
            Trigger::And(_) => "and",
            Trigger::Or(_) => "or",
        }
    }

    /// Advances the trigger and returns its next fire time, or `None` once it is exhausted.
    ///
    /// Fire times strictly increase. Cron and calendar-interval fire times are in the
    /// trigger's zone; date and interval fire times carry the offset their time was written
    /// in; and/or return the time of the sub-trigger that produced it.
    ///
    /// # Errors
    ///
    /// [`TriggerErrorKind::MaxIterations`] when an `and` trigger finds no common fire time
    /// within its `max_iterations` rounds.
    #[allow(
        clippy::should_implement_trait,
        reason = "fallible, so not an Iterator; APScheduler's name"
    )]
    pub fn next(&mut self) -> Result<Option<ZonedDateTime>, TriggerError> {
        match self {
            Trigger::Date(t) => Ok(t.next()),
            Trigger::Interval(t) => Ok(t.next()),
            Trigger::Cron(t) => Ok(t.next()),
            Trigger::CalendarInterval(t) => Ok(t.next()),
            Trigger::And(t) => t.next(),
            Trigger::Or(t) => t.next(),
        }
    }
}

impl std::str::FromStr for Trigger {
    type Err = TriggerError;

    /// Parses a JSON specification, taking an omitted start time as the system's current time.
    fn from_str(text: &str) -> Result<Trigger, TriggerError> {
        Trigger::parse(text, Timestamp::now())
    }
}

impl Serialize for Trigger {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Trigger {
    /// Deserializes the JSON form; an omitted start time is taken as the system's current
    /// time (use [`Trigger::from_json`] to supply the engine's clock instead).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Trigger, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Trigger::from_json(&value, Timestamp::now()).map_err(serde::de::Error::custom)
    }
}

/// Formats a fire time as RFC 3339 in its own offset, the way APScheduler's `isoformat()`
/// does: `2026-03-08T03:30:00-04:00`, with `.ffffff` only when microseconds are non-zero and
/// `+00:00` for UTC.
pub fn format_fire_time(time: &ZonedDateTime) -> String {
    json::format_instant(
        time.timestamp().as_microsecond(),
        i64::from(time.offset().seconds()) * civil::MICROS_PER_SECOND,
    )
}
