//! Strict reading of trigger JSON objects: every error names its field, unknown fields and
//! wrong JSON types are rejected (booleans are never numbers, strings are never numbers).

use jiff::fmt::temporal::{Pieces, PiecesOffset};
use jiff::tz::Offset;
use serde_json::{Map, Value};

use super::civil::{MICROS_PER_SECOND, Wall};
use super::error::{TriggerError, TriggerErrorKind, join_path};
use super::zone::Zone;

/// A JSON object being read field by field.
pub(crate) struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: &'a str,
    seen: Vec<&'static str>,
}

/// A point in time as written in the trigger JSON: the instant and the offset it was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WrittenTime {
    pub(crate) instant: i64,
    pub(crate) offset: Offset,
}

impl WrittenTime {
    /// Another instant written in the same offset.
    pub(crate) fn at(&self, instant: i64) -> WrittenTime {
        WrittenTime {
            instant,
            offset: self.offset,
        }
    }

    /// The instant in a fixed zone of the written offset.
    pub(crate) fn zoned(&self) -> Option<jiff::ZonedDateTime> {
        let ts = jiff::Timestamp::from_microsecond(self.instant).ok()?;
        Some(ts.to_zoned_datetime(jiff::tz::TimeZone::fixed(self.offset)))
    }
}

/// The RFC 3339 JSON string of a written time, in its own offset.
pub(crate) fn written_time_json(time: &WrittenTime) -> Value {
    Value::String(format_instant(
        time.instant,
        i64::from(time.offset.seconds()) * MICROS_PER_SECOND,
    ))
}

impl<'a> Obj<'a> {
    /// Starts reading `value`, which must be an object, located at `path`.
    pub(crate) fn new(value: &'a Value, path: &'a str) -> Result<Obj<'a>, TriggerError> {
        match value {
            Value::Object(map) => Ok(Obj {
                map,
                path,
                seen: Vec::new(),
            }),
            other => Err(TriggerError::new(
                path,
                TriggerErrorKind::WrongType,
                format!("expected a JSON object, found {}", describe(other)),
            )),
        }
    }

    /// The path of `key` inside this object.
    pub(crate) fn path_of(&self, key: &str) -> String {
        join_path(self.path, key)
    }

    /// An error about `key`.
    pub(crate) fn error(
        &self,
        key: &str,
        kind: TriggerErrorKind,
        message: impl Into<String>,
    ) -> TriggerError {
        TriggerError::new(self.path_of(key), kind, message)
    }

    /// The raw value of `key`; JSON `null` counts as absent.
    pub(crate) fn get(&mut self, key: &'static str) -> Option<&'a Value> {
        self.seen.push(key);
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// Fails unless every field of the object has been read.
    pub(crate) fn finish(self) -> Result<(), TriggerError> {
        match self.map.keys().find(|k| !self.seen.contains(&k.as_str())) {
            Some(key) => Err(self.error(
                key,
                TriggerErrorKind::UnknownField,
                format!("unknown field {key:?} for this trigger type"),
            )),
            None => Ok(()),
        }
    }

    /// An optional string field.
    pub(crate) fn opt_str(&mut self, key: &'static str) -> Result<Option<&'a str>, TriggerError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.wrong_type(key, "a string", other)),
        }
    }

    /// An optional non-negative integer field no larger than `max`.
    pub(crate) fn opt_uint(
        &mut self,
        key: &'static str,
        max: u64,
    ) -> Result<Option<u64>, TriggerError> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let n = match value {
            Value::Number(n) => n,
            other => return Err(self.wrong_type(key, "a non-negative integer", other)),
        };
        match n.as_u64() {
            Some(v) if v <= max => Ok(Some(v)),
            Some(v) => Err(self.error(
                key,
                TriggerErrorKind::Range,
                format!("{v} is larger than the maximum {max}"),
            )),
            None => Err(self.error(
                key,
                TriggerErrorKind::Range,
                format!("expected a non-negative integer, found {n}"),
            )),
        }
    }

    /// An optional non-negative number of `unit` microseconds, rounded to whole microseconds.
    pub(crate) fn opt_micros(
        &mut self,
        key: &'static str,
        unit: i64,
    ) -> Result<Option<i64>, TriggerError> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let Value::Number(n) = value else {
            return Err(self.wrong_type(key, "a non-negative number", value));
        };
        if let Some(v) = n.as_u64() {
            return i64::try_from(v)
                .ok()
                .and_then(|v| v.checked_mul(unit))
                .map(Some)
                .ok_or_else(|| {
                    self.error(key, TriggerErrorKind::Range, format!("{n} is too large"))
                });
        }
        match n.as_f64() {
            Some(f) if f.is_finite() && f >= 0.0 => {
                let micros = (f * unit as f64).round_ties_even();
                if micros < 9.0e18 {
                    Ok(Some(micros as i64))
                } else {
                    Err(self.error(key, TriggerErrorKind::Range, format!("{n} is too large")))
                }
            }
            _ => Err(self.error(
                key,
                TriggerErrorKind::Range,
                format!("expected a non-negative number, found {n}"),
            )),
        }
    }

    /// An optional RFC 3339 time with an explicit UTC offset.
    pub(crate) fn opt_time(
        &mut self,
        key: &'static str,
    ) -> Result<Option<WrittenTime>, TriggerError> {
        match self.opt_str(key)? {
            None => Ok(None),
            Some(text) => parse_time(text)
                .map(Some)
                .map_err(|msg| self.error(key, TriggerErrorKind::Syntax, msg)),
        }
    }

    /// The `start_time` (default `default_start`) and `end_time` fields; the end may not
    /// precede the start.
    pub(crate) fn start_and_end(
        &mut self,
        default_start: WrittenTime,
    ) -> Result<(WrittenTime, Option<WrittenTime>), TriggerError> {
        let start = self.opt_time("start_time")?.unwrap_or(default_start);
        let end = self.opt_time("end_time")?;
        if end.is_some_and(|end| end.instant < start.instant) {
            return Err(self.error(
                "end_time",
                TriggerErrorKind::Range,
                "end_time cannot be earlier than start_time",
            ));
        }
        Ok((start, end))
    }

    /// An optional `YYYY-MM-DD` date, as a wall reading at midnight.
    pub(crate) fn opt_date(&mut self, key: &'static str) -> Result<Option<Wall>, TriggerError> {
        match self.opt_str(key)? {
            None => Ok(None),
            Some(text) => parse_date(text).map(Some).ok_or_else(|| {
                self.error(
                    key,
                    TriggerErrorKind::Syntax,
                    format!("expected a date as YYYY-MM-DD, found {text:?}"),
                )
            }),
        }
    }

    /// The `timezone` field: an IANA name, UTC when absent.
    pub(crate) fn timezone(&mut self) -> Result<Zone, TriggerError> {
        match self.opt_str("timezone")? {
            None => Ok(Zone::utc()),
            Some(name) => Zone::named(name).ok_or_else(|| {
                self.error(
                    "timezone",
                    TriggerErrorKind::UnknownTimeZone,
                    format!("unknown IANA time zone {name:?}"),
                )
            }),
        }
    }

    /// An error for a value of the wrong JSON type.
    pub(crate) fn wrong_type(&self, key: &str, expected: &str, found: &Value) -> TriggerError {
        self.error(
            key,
            TriggerErrorKind::WrongType,
            format!("expected {expected}, found {}", describe(found)),
        )
    }
}

/// A short description of a JSON value's type for error messages.
pub(crate) fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parses an RFC 3339 time that carries an explicit offset (`Z` counts as `+00:00`).
pub(crate) fn parse_time(text: &str) -> Result<WrittenTime, String> {
    let bad = || {
        format!(
            "expected an RFC 3339 time with a UTC offset (e.g. 2026-01-01T09:00:00+01:00), found {text:?}"
        )
    };
    let pieces = Pieces::parse(text).map_err(|_| bad())?;
    if pieces.time_zone_annotation().is_some() {
        return Err(bad());
    }
    let time = pieces.time().ok_or_else(bad)?;
    let offset = match pieces.offset() {
        Some(PiecesOffset::Zulu) => Offset::UTC,
        Some(PiecesOffset::Numeric(n)) => n.offset(),
        Some(_) => return Err(bad()),
        None => {
            return Err(format!(
                "time {text:?} has no UTC offset; write one explicitly (e.g. {text}+00:00)"
            ));
        }
    };
    let dt = pieces.date().to_datetime(time);
    let ts = offset.to_timestamp(dt).map_err(|_| bad())?;
    if ts.subsec_nanosecond() % 1000 != 0 {
        return Err(format!(
            "time {text:?} has a precision finer than microseconds"
        ));
    }
    Ok(WrittenTime {
        instant: ts.as_microsecond(),
        offset,
    })
}

/// Parses a strict `YYYY-MM-DD` date.
pub(crate) fn parse_date(text: &str) -> Option<Wall> {
    let bytes = text.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = text.get(range)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let year = i32::try_from(num(0..4)?).ok()?;
    let month = u8::try_from(num(5..7)?).ok()?;
    let day = u8::try_from(num(8..10)?).ok()?;
    let valid = (1..=12).contains(&month)
        && day >= 1
        && day <= super::civil::days_in_month(year, month)
        && year >= 1;
    valid.then(|| Wall::midnight(year, month, day))
}

/// Formats an instant like Python's `datetime.isoformat()`: `2026-03-08T03:30:00-04:00`,
/// with `.ffffff` only when the microseconds are non-zero.
pub(crate) fn format_instant(instant: i64, offset_micros: i64) -> String {
    let wall = Wall::from_epoch_micros(instant + offset_micros);
    let mut out = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        wall.year, wall.month, wall.day, wall.hour, wall.minute, wall.second
    );
    if wall.micro != 0 {
        out.push_str(&format!(".{:06}", wall.micro));
    }
    let total = offset_micros / MICROS_PER_SECOND;
    let sign = if total < 0 { '-' } else { '+' };
    let abs = total.abs();
    out.push_str(&format!("{sign}{:02}:{:02}", abs / 3600, abs / 60 % 60));
    if abs % 60 != 0 {
        out.push_str(&format!(":{:02}", abs % 60));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_need_an_offset() {
        assert!(parse_time("2026-01-01T00:00:00+01:00").is_ok());
        assert!(parse_time("2026-01-01T00:00:00Z").is_ok());
        assert!(
            parse_time("2026-01-01T00:00:00")
                .unwrap_err()
                .contains("no UTC offset")
        );
        assert!(parse_time("2026-01-01").is_err());
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("2026-01-01T00:00:00+01:00[Europe/Paris]").is_err());
    }

    #[test]
    fn formats_like_python_isoformat() {
        let t = parse_time("2026-03-08T03:30:00.5-04:00").unwrap();
        assert_eq!(
            format_instant(t.instant, -4 * 3600 * MICROS_PER_SECOND),
            "2026-03-08T03:30:00.500000-04:00"
        );
        assert_eq!(format_instant(0, 0), "1970-01-01T00:00:00+00:00");
        assert_eq!(
            format_instant(0, (12 * 3600 + 45 * 60) * MICROS_PER_SECOND),
            "1970-01-01T12:45:00+12:45"
        );
    }

    #[test]
    fn dates_are_strict() {
        assert!(parse_date("2024-02-29").is_some());
        for bad in [
            "2023-02-29",
            "2024-2-1",
            "2024-13-01",
            "+2024-01-01",
            "2024-01-01T00:00",
        ] {
            assert!(parse_date(bad).is_none(), "{bad}");
        }
    }
}
