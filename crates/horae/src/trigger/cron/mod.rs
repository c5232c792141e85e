//! The `cron` trigger: fires when the wall clock in its time zone matches every field.
//!
//! The search is APScheduler 4's: starting from the previous fire time plus one second (or
//! the start time), look at the fields from most to least significant; raise a field to its
//! next allowed value (resetting the less significant ones to their minimum) or, when none
//! is left, increment the next more significant field. This reproduces APScheduler 4's fire
//! times including its DST behaviour: a matching wall time inside a gap fires shifted forward
//! by the gap's length, and both occurrences of a wall time in a fold fire.
//!
//! Where APScheduler 4 is wrong, horae differs (DESIGN.md section 4):
//! - incrementing a day (or month/year) across a spring-forward transition re-reads the new
//!   date's wall time instead of adding the wall-clock difference as elapsed time, so no
//!   valid day is ever skipped (APScheduler loses e.g. the Monday after the change);
//! - `start_time` is converted to the trigger's zone before matching, and no fire time is
//!   ever earlier than it;
//! - `day_of_week` steps use crontab numbering (see [`field`]);
//! - the crontab form (`expr`) fires on days matching day-of-month **or** day-of-week when
//!   both are restricted, as cron does.

mod field;

use jiff::ZonedDateTime;
use serde_json::{Map, Value};

use self::field::{Field, FieldKind};
use super::civil::{MICROS_PER_SECOND, Wall};
use super::error::{TriggerError, TriggerErrorKind};
use super::json::{Obj, WrittenTime, format_instant, written_time_json};
use super::zone::{Moment, Zone};

/// How many times the search may be restarted by the monotonicity guard before giving up.
const MAX_GUARD_RESTARTS: usize = 16;

/// A cron trigger (`{"type":"cron", ...}`).
#[derive(Debug, Clone, PartialEq)]
pub struct CronTrigger {
    /// The fields as written, for serialization: either named fields or a crontab line.
    source: CronSource,
    /// One field set, or two (day-of-month branch, day-of-week branch) for a crontab line
    /// that restricts both.
    branches: Vec<[Field; 8]>,
    zone: Zone,
    start: WrittenTime,
    end: Option<WrittenTime>,
    /// The next fire time of each branch, once the first fire time has been asked for.
    pending: Option<Vec<Option<i64>>>,
}

#[derive(Debug, Clone, PartialEq)]
enum CronSource {
    Fields(Vec<(FieldKind, String)>),
    Crontab(String),
}

impl CronTrigger {
    pub(crate) fn from_obj(obj: &mut Obj<'_>, now: i64) -> Result<CronTrigger, TriggerError> {
        let zone = obj.timezone()?;
        let expr = obj.opt_str("expr")?;
        let mut given = Vec::new();
        for kind in FieldKind::ALL {
            if let Some(value) = obj.get(kind.name()) {
                let text = match value {
                    Value::String(s) => s.clone(),
                    Value::Number(n) if n.is_u64() => n.to_string(),
                    other => {
                        return Err(obj.wrong_type(
                            kind.name(),
                            "a cron expression string or a non-negative integer",
                            other,
                        ));
                    }
                };
                given.push((kind, text));
            }
        }
        let (source, branches) = match expr {
            Some(_) if !given.is_empty() => {
                return Err(obj.error(
                    "expr",
                    TriggerErrorKind::Conflict,
                    format!(
                        "give either expr or the named fields, not both (found {:?})",
                        given[0].0.name()
                    ),
                ));
            }
            Some(line) => {
                let branches = crontab_branches(line)
                    .map_err(|msg| obj.error("expr", TriggerErrorKind::Syntax, msg))?;
                (CronSource::Crontab(line.to_owned()), branches)
            }
            None => {
                let fields = named_fields(&given)
                    .map_err(|(kind, msg)| obj.error(kind.name(), TriggerErrorKind::Syntax, msg))?;
                (CronSource::Fields(given), vec![fields])
            }
        };
        let (start, end) = obj.start_and_end(WrittenTime {
            instant: now,
            offset: zone_offset(&zone, now),
        })?;
        let pending = read_pending(obj, branches.len())?;
        Ok(CronTrigger {
            source,
            branches,
            zone,
            start,
            end,
            pending,
        })
    }

    pub(crate) fn to_json(&self, out: &mut Map<String, Value>) {
        match &self.source {
            CronSource::Crontab(line) => {
                out.insert("expr".into(), line.clone().into());
            }
            CronSource::Fields(fields) => {
                for (kind, text) in fields {
                    out.insert(kind.name().into(), text.clone().into());
                }
            }
        }
        if let Some(name) = self.zone.name() {
            out.insert("timezone".into(), name.into());
        }
        out.insert("start_time".into(), written_time_json(&self.start));
        if let Some(end) = &self.end {
            out.insert("end_time".into(), written_time_json(end));
        }
        if let Some(pending) = &self.pending {
            let times = pending
                .iter()
                .map(|p| match p {
                    Some(t) => {
                        Value::String(format_instant(*t, zone_offset_micros(&self.zone, *t)))
                    }
                    None => Value::Null,
                })
                .collect();
            out.insert("next_fire_times".into(), Value::Array(times));
        }
    }

    /// The next fire time, or `None` when the trigger is exhausted.
    pub(crate) fn next(&mut self) -> Option<ZonedDateTime> {
        let pending = match self.pending.take() {
            Some(pending) => pending,
            None => self
                .branches
                .iter()
                .map(|fields| self.branch_next(fields, None))
                .collect(),
        };
        let earliest = pending.iter().flatten().min().copied();
        let pending = match earliest {
            None => pending,
            Some(fire) => pending
                .iter()
                .zip(&self.branches)
                .map(|(p, fields)| {
                    if *p == Some(fire) {
                        self.branch_next(fields, Some(fire))
                    } else {
                        *p
                    }
                })
                .collect(),
        };
        self.pending = Some(pending);
        self.zone.zoned(earliest?)
    }

    /// The first fire time of one field set after `after` (or from the start time).
    fn branch_next(&self, fields: &[Field; 8], after: Option<i64>) -> Option<i64> {
        let mut from = match after {
            Some(last) => last.checked_add(MICROS_PER_SECOND)?,
            None => self.start.instant,
        };
        for _ in 0..MAX_GUARD_RESTARTS {
            let found = search(
                fields,
                &self.zone,
                self.zone.normalize(from)?,
                self.end.map(|e| e.instant),
            )?;
            // The search never goes backwards, but exotic zone data could in principle make a
            // gap-shifted reading land before where it started; never fire before the start
            // time or twice at the same instant.
            let floor = after.map_or(self.start.instant, |last| last + 1);
            if found.instant >= floor {
                return Some(found.instant);
            }
            from = floor.max(found.instant + MICROS_PER_SECOND);
        }
        None
    }
}

fn read_pending(
    obj: &mut Obj<'_>,
    branches: usize,
) -> Result<Option<Vec<Option<i64>>>, TriggerError> {
    let Some(value) = obj.get("next_fire_times") else {
        return Ok(None);
    };
    let bad = |obj: &Obj<'_>| {
        obj.error(
            "next_fire_times",
            TriggerErrorKind::WrongType,
            format!("expected an array of {branches} RFC 3339 times or nulls"),
        )
    };
    let Value::Array(items) = value else {
        return Err(bad(obj));
    };
    if items.len() != branches {
        return Err(bad(obj));
    }
    items
        .iter()
        .map(|item| match item {
            Value::Null => Ok(None),
            Value::String(s) => super::json::parse_time(s)
                .map(|t| Some(t.instant))
                .map_err(|msg| obj.error("next_fire_times", TriggerErrorKind::Syntax, msg)),
            _ => Err(bad(obj)),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn zone_offset_micros(zone: &Zone, instant: i64) -> i64 {
    zone.offset_at(instant).unwrap_or(0)
}

fn zone_offset(zone: &Zone, instant: i64) -> jiff::tz::Offset {
    let seconds = zone_offset_micros(zone, instant) / MICROS_PER_SECOND;
    i32::try_from(seconds)
        .ok()
        .and_then(|s| jiff::tz::Offset::from_seconds(s).ok())
        .unwrap_or(jiff::tz::Offset::UTC)
}

/// Compiles named fields with APScheduler's defaults: fields more significant than the least
/// significant one given default to `*`, the rest to their minimum.
fn named_fields(given: &[(FieldKind, String)]) -> Result<[Field; 8], (FieldKind, String)> {
    let least_given = given.iter().map(|(kind, _)| *kind as usize).max();
    let compile = |kind: FieldKind| {
        let text = match given.iter().find(|(k, _)| *k == kind) {
            Some((_, text)) => text.as_str(),
            None if least_given.is_some_and(|least| (kind as usize) < least) => "*",
            None => kind.default_expr(),
        };
        Field::parse(kind, text).map_err(|msg| (kind, msg))
    };
    Ok([
        compile(FieldKind::Year)?,
        compile(FieldKind::Month)?,
        compile(FieldKind::Day)?,
        compile(FieldKind::Week)?,
        compile(FieldKind::DayOfWeek)?,
        compile(FieldKind::Hour)?,
        compile(FieldKind::Minute)?,
        compile(FieldKind::Second)?,
    ])
}

/// Compiles a 5-field crontab line into one field set, or two when both day-of-month and
/// day-of-week are restricted (a day matching either fires).
fn crontab_branches(line: &str) -> Result<Vec<[Field; 8]>, String> {
    const NAMES: [&str; 5] = ["minute", "hour", "day-of-month", "month", "day-of-week"];
    let parts: Vec<&str> = line.split_whitespace().collect();
    let [minute, hour, dom, month, dow] = parts[..] else {
        return Err(format!(
            "expected 5 fields (minute hour day-of-month month day-of-week), found {}",
            parts.len()
        ));
    };
    let compile = |index: usize, kind: FieldKind, text: &str| {
        Field::parse(kind, text).map_err(|msg| format!("{} field: {msg}", NAMES[index]))
    };
    let set = |day: &str, weekday: &str| -> Result<[Field; 8], String> {
        Ok([
            compile(0, FieldKind::Year, "*")?,
            compile(3, FieldKind::Month, month)?,
            compile(2, FieldKind::Day, day)?,
            compile(0, FieldKind::Week, "*")?,
            compile(4, FieldKind::DayOfWeek, weekday)?,
            compile(1, FieldKind::Hour, hour)?,
            compile(0, FieldKind::Minute, minute)?,
            compile(0, FieldKind::Second, "0")?,
        ])
    };
    if dom != "*" && dow != "*" {
        Ok(vec![set(dom, "*")?, set("*", dow)?])
    } else {
        Ok(vec![set(dom, dow)?])
    }
}

/// APScheduler 4's cron search from `from`, with horae's DST day-skip fix. Returns `None` when
/// no time matches before `end` or before the end of year 9999.
fn search(fields: &[Field; 8], zone: &Zone, from: Moment, end: Option<i64>) -> Option<Moment> {
    let mut time = from;
    let mut index = 0usize;
    while index < fields.len() {
        let field = &fields[index];
        let kind = FieldKind::ALL[index];
        let current = kind.value(&time.wall);
        match field.next_value(&time.wall) {
            None => {
                // Nothing left in this field: carry into the more significant field.
                let carry = index.checked_sub(1)?;
                (time, index) = increment(zone, time, carry)?;
            }
            Some(next) if next > current => {
                if kind.is_real() {
                    time = set_field(zone, time, index, next)?;
                    index += 1;
                } else {
                    (time, index) = increment(zone, time, index)?;
                }
            }
            Some(_) => index += 1,
        }
        if end.is_some_and(|end| time.instant > end) {
            return None;
        }
    }
    Some(time)
}

fn wall_from(values: [i32; 8]) -> Wall {
    Wall {
        year: values[FieldKind::Year as usize],
        month: values[FieldKind::Month as usize] as u8,
        day: values[FieldKind::Day as usize] as u8,
        hour: values[FieldKind::Hour as usize] as u8,
        minute: values[FieldKind::Minute as usize] as u8,
        second: values[FieldKind::Second as usize] as u8,
        micro: 0,
    }
}

/// Increments field `index` (carrying into more significant fields when it is at its
/// maximum, skipping the day-filter fields) and resets the less significant fields to their
/// minimum. Returns the new time and the index of the field actually incremented.
fn increment(zone: &Zone, time: Moment, index: usize) -> Option<(Moment, usize)> {
    let mut target = index;
    // Find the field that actually gets incremented: skip filters and carry past maxima.
    loop {
        let kind = FieldKind::ALL[target];
        if kind.is_real() && kind.value(&time.wall) < kind.max(&time.wall) {
            break;
        }
        target = target.checked_sub(1)?;
    }
    let mut values = [0i32; 8];
    for kind in FieldKind::ALL {
        let i = kind as usize;
        values[i] = match i.cmp(&target) {
            std::cmp::Ordering::Less => kind.value(&time.wall),
            std::cmp::Ordering::Equal => kind.value(&time.wall) + 1,
            std::cmp::Ordering::Greater => kind.min(),
        };
    }
    let wall = wall_from(values);
    // APScheduler adds the wall-clock difference as elapsed time ...
    let elapsed = wall.epoch_micros() - time.wall.epoch_micros();
    let moved = zone.normalize(time.instant.checked_add(elapsed)?)?;
    if moved.wall == wall {
        return Some((moved, target));
    }
    // ... which, across a spring-forward transition, lands the gap's length too late. When a
    // date-level field was incremented that can skip a whole valid day, so horae reads the
    // new date's wall time as it is (inside a gap: shifted forward by the gap).
    if target <= FieldKind::Day as usize && moved.offset_micros() > time.offset_micros() {
        return Some((zone.resolve(wall, false)?, target));
    }
    Some((moved, target))
}

/// Sets field `index` to `value` and the less significant fields to their minimum, keeping
/// the fold flag (APScheduler's `_set_field_value`).
fn set_field(zone: &Zone, time: Moment, index: usize, value: i32) -> Option<Moment> {
    let mut values = [0i32; 8];
    for kind in FieldKind::ALL {
        let i = kind as usize;
        values[i] = match i.cmp(&index) {
            std::cmp::Ordering::Less => kind.value(&time.wall),
            std::cmp::Ordering::Equal => value,
            std::cmp::Ordering::Greater => kind.min(),
        };
    }
    zone.resolve(wall_from(values), time.fold)
}
