//! The `interval` trigger: fires every fixed amount of elapsed time.

use jiff::ZonedDateTime;
use serde_json::{Map, Value};

use super::civil::{MICROS_PER_DAY, MICROS_PER_SECOND};
use super::error::{TriggerError, TriggerErrorKind};
use super::json::{Obj, WrittenTime, written_time_json};

/// The interval components and their length in microseconds.
const UNITS: [(&str, i64); 6] = [
    ("weeks", 7 * MICROS_PER_DAY),
    ("days", MICROS_PER_DAY),
    ("hours", 3600 * MICROS_PER_SECOND),
    ("minutes", 60 * MICROS_PER_SECOND),
    ("seconds", MICROS_PER_SECOND),
    ("microseconds", 1),
];

/// Fires at `start_time` and then every interval of elapsed (not wall-clock) time, up to
/// `end_time` (`{"type":"interval","hours":1,...}`). Fire times carry `start_time`'s offset.
#[derive(Debug, Clone, PartialEq)]
pub struct IntervalTrigger {
    /// The components as given (weeks … microseconds), for serialization.
    components: Vec<(&'static str, Value)>,
    interval: i64,
    start: WrittenTime,
    end: Option<WrittenTime>,
    last: Option<i64>,
}

impl IntervalTrigger {
    pub(crate) fn from_obj(
        obj: &mut Obj<'_>,
        now: WrittenTime,
    ) -> Result<IntervalTrigger, TriggerError> {
        let mut components = Vec::new();
        let mut interval: i64 = 0;
        for (key, unit) in UNITS {
            if let Some(micros) = obj.opt_micros(key, unit)? {
                interval = interval
                    .checked_add(micros)
                    .filter(|total| *total < 10_000 * 366 * MICROS_PER_DAY)
                    .ok_or_else(|| {
                        obj.error(key, TriggerErrorKind::Range, "the interval is too long")
                    })?;
                if let Some(value) = obj.get(key) {
                    components.push((key, value.clone()));
                }
            }
        }
        if interval <= 0 {
            return Err(obj.error(
                "seconds",
                TriggerErrorKind::Range,
                "the interval must be positive (weeks, days, hours, minutes, seconds and microseconds are all zero)",
            ));
        }
        let (start, end) = obj.start_and_end(now)?;
        let last = obj.opt_time("last_fire_time")?.map(|t| t.instant);
        Ok(IntervalTrigger {
            components,
            interval,
            start,
            end,
            last,
        })
    }

    pub(crate) fn to_json(&self, out: &mut Map<String, Value>) {
        for (key, value) in &self.components {
            out.insert((*key).into(), value.clone());
        }
        out.insert("start_time".into(), written_time_json(&self.start));
        if let Some(end) = &self.end {
            out.insert("end_time".into(), written_time_json(end));
        }
        if let Some(last) = self.last {
            out.insert(
                "last_fire_time".into(),
                written_time_json(&self.start.at(last)),
            );
        }
    }

    pub(crate) fn next(&mut self) -> Option<ZonedDateTime> {
        let next = match self.last {
            None => self.start.instant,
            Some(last) => last.checked_add(self.interval)?,
        };
        if self.end.is_some_and(|end| next > end.instant) {
            return None;
        }
        let zoned = self.start.at(next).zoned()?;
        self.last = Some(next);
        Some(zoned)
    }
}
