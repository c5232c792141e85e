//! The `date` trigger: fires once.

use jiff::ZonedDateTime;
use serde_json::{Map, Value};

use super::error::{TriggerError, TriggerErrorKind};
use super::json::{Obj, WrittenTime, written_time_json};

/// Fires once at `run_time` (`{"type":"date","run_time":T}`).
#[derive(Debug, Clone, PartialEq)]
pub struct DateTrigger {
    run_time: WrittenTime,
    completed: bool,
}

impl DateTrigger {
    pub(crate) fn from_obj(obj: &mut Obj<'_>) -> Result<DateTrigger, TriggerError> {
        let run_time = obj.opt_time("run_time")?.ok_or_else(|| {
            obj.error(
                "run_time",
                TriggerErrorKind::MissingField,
                "required field is missing",
            )
        })?;
        let completed = match obj.get("completed") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => return Err(obj.wrong_type("completed", "a boolean", other)),
        };
        Ok(DateTrigger {
            run_time,
            completed,
        })
    }

    pub(crate) fn to_json(&self, out: &mut Map<String, Value>) {
        out.insert("run_time".into(), written_time_json(&self.run_time));
        if self.completed {
            out.insert("completed".into(), true.into());
        }
    }

    pub(crate) fn next(&mut self) -> Option<ZonedDateTime> {
        if std::mem::replace(&mut self.completed, true) {
            return None;
        }
        self.run_time.zoned()
    }
}
