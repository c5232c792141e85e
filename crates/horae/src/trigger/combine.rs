//! The `and` and `or` triggers, which combine other triggers by comparing instants.

use jiff::ZonedDateTime;
use serde_json::{Map, Value};

use super::Trigger;
use super::civil::MICROS_PER_SECOND;
use super::error::{TriggerError, TriggerErrorKind};
use super::json::Obj;

/// Fires when every sub-trigger's next fire time lies within `threshold` of the earliest of
/// them, at that earliest time; the sub-triggers whose times were within the threshold then
/// advance. Ends when any sub-trigger ends (`{"type":"and","triggers":[...],"threshold":1,
/// "max_iterations":10000}`). Unlike APScheduler 4, differences are measured between instants,
/// not wall-clock readings.
#[derive(Debug, Clone, PartialEq)]
pub struct AndTrigger {
    triggers: Vec<Trigger>,
    threshold: i64,
    threshold_json: Value,
    max_iterations: u64,
    pending: Pending,
}

/// Fires at every fire time of every sub-trigger in chronological order, once per instant,
/// until all sub-triggers end (`{"type":"or","triggers":[...]}`).
#[derive(Debug, Clone, PartialEq)]
pub struct OrTrigger {
    triggers: Vec<Trigger>,
    pending: Pending,
}

/// The next fire time of each sub-trigger, once the first fire time has been asked for.
type Pending = Option<Vec<Option<ZonedDateTime>>>;

/// Reads the `triggers` array (non-empty) and the `next_fire_times` state.
fn read_children(
    obj: &mut Obj<'_>,
    now: jiff::Timestamp,
) -> Result<(Vec<Trigger>, Pending), TriggerError> {
    let items = match obj.get("triggers") {
        None => {
            return Err(obj.error(
                "triggers",
                TriggerErrorKind::MissingField,
                "required field is missing",
            ));
        }
        Some(Value::Array(items)) => items,
        Some(other) => return Err(obj.wrong_type("triggers", "an array of triggers", other)),
    };
    if items.is_empty() {
        return Err(obj.error(
            "triggers",
            TriggerErrorKind::Range,
            "at least one trigger is required",
        ));
    }
    let triggers = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            Trigger::from_json(item, now)
                .map_err(|e| e.within(&obj.path_of(&format!("triggers[{i}]"))))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let pending = match obj.get("next_fire_times") {
        None => None,
        Some(Value::Array(times)) if times.len() == triggers.len() => Some(
            times
                .iter()
                .map(|t| match t {
                    Value::Null => Ok(None),
                    Value::String(s) => s.parse::<ZonedDateTime>().map(Some).map_err(|e| {
                        obj.error(
                            "next_fire_times",
                            TriggerErrorKind::Syntax,
                            format!("invalid zoned time {s:?}: {e}"),
                        )
                    }),
                    other => {
                        Err(obj.wrong_type("next_fire_times", "zoned time strings or nulls", other))
                    }
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => {
            return Err(obj.error(
                "next_fire_times",
                TriggerErrorKind::WrongType,
                format!(
                    "expected an array of {} zoned time strings or nulls",
                    triggers.len()
                ),
            ));
        }
    };
    if let Some(pending) = &pending {
        check_pending(obj, &triggers, pending)?;
    }
    Ok((triggers, pending))
}

/// Rejects a saved state whose next fire time of a sub-trigger is not before what that
/// sub-trigger produces next. `to_json` never writes one (the time was taken from the
/// sub-trigger, whose fire times strictly increase), but a hand-written one would make the
/// combined fire times go backwards or repeat.
fn check_pending(
    obj: &Obj<'_>,
    triggers: &[Trigger],
    pending: &[Option<ZonedDateTime>],
) -> Result<(), TriggerError> {
    for (i, (trigger, time)) in triggers.iter().zip(pending).enumerate() {
        let Some(time) = time else {
            continue;
        };
        if let Ok(Some(next)) = trigger.clone().next()
            && next.timestamp() <= time.timestamp()
        {
            return Err(obj.error(
                "next_fire_times",
                TriggerErrorKind::Range,
                format!(
                    "entry {i} ({time}) is not earlier than the next fire time of triggers[{i}] ({next}); the saved state is inconsistent"
                ),
            ));
        }
    }
    Ok(())
}

fn write_children(out: &mut Map<String, Value>, triggers: &[Trigger], pending: &Pending) {
    out.insert(
        "triggers".into(),
        triggers.iter().map(Trigger::to_json).collect(),
    );
    if let Some(pending) = pending {
        let times = pending
            .iter()
            .map(|t| {
                t.as_ref()
                    .map_or(Value::Null, |z| Value::String(lossless(z)))
            })
            .collect();
        out.insert("next_fire_times".into(), Value::Array(times));
    }
}

/// A saved fire time that reads back as the same instant. The zoned form writes offsets to
/// the minute, so a time whose offset has seconds (a historic local mean time, or a start
/// time written as `+00:00:02`) would come back as another instant: it is saved in UTC.
fn lossless(time: &ZonedDateTime) -> String {
    if time.offset().seconds() % 60 == 0 {
        time.to_string()
    } else {
        time.with_time_zone(jiff::tz::TimeZone::UTC).to_string()
    }
}

/// The first fire time of every sub-trigger.
fn first_times(triggers: &mut [Trigger]) -> Result<Vec<Option<ZonedDateTime>>, TriggerError> {
    triggers.iter_mut().map(Trigger::next).collect()
}

impl AndTrigger {
    pub(crate) fn from_obj(
        obj: &mut Obj<'_>,
        now: jiff::Timestamp,
    ) -> Result<AndTrigger, TriggerError> {
        let (triggers, pending) = read_children(obj, now)?;
        let threshold_json = obj.get("threshold").cloned().unwrap_or(Value::from(1));
        let threshold = obj
            .opt_micros("threshold", MICROS_PER_SECOND)?
            .unwrap_or(MICROS_PER_SECOND);
        let max_iterations = obj
            .opt_uint("max_iterations", u64::from(u32::MAX))?
            .unwrap_or(10_000);
        if max_iterations == 0 {
            return Err(obj.error(
                "max_iterations",
                TriggerErrorKind::Range,
                "max_iterations must be at least 1",
            ));
        }
        Ok(AndTrigger {
            triggers,
            threshold,
            threshold_json,
            max_iterations,
            pending,
        })
    }

    pub(crate) fn to_json(&self, out: &mut Map<String, Value>) {
        write_children(out, &self.triggers, &self.pending);
        out.insert("threshold".into(), self.threshold_json.clone());
        out.insert("max_iterations".into(), self.max_iterations.into());
    }

    pub(crate) fn next(&mut self) -> Result<Option<ZonedDateTime>, TriggerError> {
        let mut pending = match self.pending.take() {
            Some(pending) => pending,
            None => first_times(&mut self.triggers)?,
        };
        let result = self.advance(&mut pending);
        self.pending = Some(pending);
        result
    }

    fn advance(
        &mut self,
        pending: &mut [Option<ZonedDateTime>],
    ) -> Result<Option<ZonedDateTime>, TriggerError> {
        for _ in 0..self.max_iterations {
            let mut earliest: Option<&ZonedDateTime> = None;
            let mut latest: Option<&ZonedDateTime> = None;
            for time in pending.iter() {
                let Some(time) = time else {
                    return Ok(None);
                };
                if earliest.is_none_or(|e| time.timestamp() < e.timestamp()) {
                    earliest = Some(time);
                }
                if latest.is_none_or(|l| time.timestamp() > l.timestamp()) {
                    latest = Some(time);
                }
            }
            let (Some(earliest), Some(latest)) = (earliest.cloned(), latest.cloned()) else {
                return Ok(None);
            };
            let micros = |z: &ZonedDateTime| z.timestamp().as_microsecond();
            for (slot, trigger) in pending.iter_mut().zip(self.triggers.iter_mut()) {
                if slot
                    .as_ref()
                    .is_some_and(|t| micros(t) - micros(&earliest) <= self.threshold)
                {
                    *slot = trigger.next()?;
                }
            }
            if micros(&latest) - micros(&earliest) <= self.threshold {
                return Ok(Some(earliest));
            }
        }
        Err(TriggerError::new(
            "max_iterations",
            TriggerErrorKind::MaxIterations,
            format!(
                "no common fire time found within {} iterations",
                self.max_iterations
            ),
        ))
    }
}

impl OrTrigger {
    pub(crate) fn from_obj(
        obj: &mut Obj<'_>,
        now: jiff::Timestamp,
    ) -> Result<OrTrigger, TriggerError> {
        let (triggers, pending) = read_children(obj, now)?;
        Ok(OrTrigger { triggers, pending })
    }

    pub(crate) fn to_json(&self, out: &mut Map<String, Value>) {
        write_children(out, &self.triggers, &self.pending);
    }

    pub(crate) fn next(&mut self) -> Result<Option<ZonedDateTime>, TriggerError> {
        let mut pending = match self.pending.take() {
            Some(pending) => pending,
            None => first_times(&mut self.triggers)?,
        };
        let earliest = pending
            .iter()
            .flatten()
            .min_by_key(|t| t.timestamp())
            .cloned();
        let mut result = Ok(earliest.clone());
        if let Some(earliest) = &earliest {
            for (slot, trigger) in pending.iter_mut().zip(self.triggers.iter_mut()) {
                if slot
                    .as_ref()
                    .is_some_and(|t| t.timestamp() == earliest.timestamp())
                {
                    match trigger.next() {
                        Ok(next) => *slot = next,
                        Err(e) => result = Err(e),
                    }
                }
            }
        }
        self.pending = Some(pending);
        result
    }
}
