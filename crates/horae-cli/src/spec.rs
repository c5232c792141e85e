//! What the config file and the admin commands share: turning `cron` / `interval` / `at` /
//! `trigger` plus `timezone` into a trigger specification (DESIGN.md section 4), and
//! reading JSON or TOML values given for arguments and metadata.

use std::time::Duration;

use horae::duration::format_duration;
use horae::trigger::Trigger;
use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use serde_json::{Map, Value, json};

/// When a schedule fires, as written by the user.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum When {
    /// A 5-field crontab line (`cron = "0 3 * * *"`).
    Cron(String),
    /// A fixed interval of elapsed time from the schedule's creation (`interval = "30s"`).
    Interval(Duration),
    /// Once, at an RFC 3339 time (`at = "2026-12-01T03:00:00Z"`), or a civil time in
    /// `timezone`.
    At(String),
    /// A full trigger specification (`trigger = { type = "...", ... }`).
    Trigger(Value),
}

/// A rejected schedule timing: which key is wrong and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SpecError {
    /// The key at fault: `cron`, `interval`, `at`, `trigger`, `timezone`.
    pub(crate) key: &'static str,
    /// What is wrong (it does not repeat the key).
    pub(crate) message: String,
}

impl SpecError {
    fn new(key: &'static str, message: impl Into<String>) -> SpecError {
        SpecError {
            key,
            message: message.into(),
        }
    }
}

impl When {
    /// The key this timing was given under.
    pub(crate) fn key(&self) -> &'static str {
        match self {
            When::Cron(_) => "cron",
            When::Interval(_) => "interval",
            When::At(_) => "at",
            When::Trigger(_) => "trigger",
        }
    }

    /// The trigger specification (JSON, DESIGN.md section 4), checked by building the
    /// trigger at `now`.
    ///
    /// # Errors
    ///
    /// A [`SpecError`] naming the key: an invalid cron line, time, time zone or trigger
    /// field, a zero interval, or a time zone where the trigger takes none.
    pub(crate) fn to_spec(
        &self,
        timezone: Option<&str>,
        now: Timestamp,
    ) -> Result<Value, SpecError> {
        if let Some(zone) = timezone {
            TimeZone::get(zone).map_err(|_| {
                SpecError::new(
                    "timezone",
                    format!(
                        "unknown time zone {zone:?} (expected an IANA name such as Europe/Berlin)"
                    ),
                )
            })?;
        }
        let spec = match self {
            When::Cron(expr) => {
                let mut spec = json!({"type": "cron", "expr": expr});
                if let Some(zone) = timezone {
                    spec["timezone"] = json!(zone);
                }
                spec
            }
            When::Interval(interval) => {
                if timezone.is_some() {
                    return Err(SpecError::new(
                        "timezone",
                        "an interval is elapsed time and takes no time zone",
                    ));
                }
                let micros = i64::try_from(interval.as_micros()).unwrap_or(i64::MAX);
                if micros == 0 {
                    return Err(SpecError::new(
                        "interval",
                        format!("must be at least 1us, got {}", format_duration(*interval)),
                    ));
                }
                json!({
                    "type": "interval",
                    "seconds": micros / 1_000_000,
                    "microseconds": micros % 1_000_000,
                })
            }
            When::At(text) => json!({"type": "date", "run_time": run_time(text, timezone)?}),
            When::Trigger(value) => {
                let mut spec = value.clone();
                if let Some(zone) = timezone {
                    let Some(object) = spec.as_object_mut() else {
                        return Err(SpecError::new(
                            "trigger",
                            "expected a table (a JSON object)",
                        ));
                    };
                    if object.contains_key("timezone") {
                        return Err(SpecError::new(
                            "timezone",
                            "given both beside the trigger and inside it; keep one",
                        ));
                    }
                    object.insert("timezone".to_owned(), json!(zone));
                }
                spec
            }
        };
        Trigger::from_json(&spec, now).map_err(|error| {
            let key = match self {
                When::Trigger(_) => "trigger",
                _ if error.field() == "timezone" => "timezone",
                other => other.key(),
            };
            let message = match self {
                // Name the field inside the trigger: `trigger: hour: ...`.
                When::Trigger(_) => error.to_string(),
                _ => error.message().to_owned(),
            };
            SpecError::new(key, message)
        })?;
        Ok(spec)
    }
}

/// The RFC 3339 text of an `at` time: as given when it has an offset, else the civil time
/// in `timezone`.
fn run_time(text: &str, timezone: Option<&str>) -> Result<String, SpecError> {
    if let Ok(instant) = text.parse::<Timestamp>() {
        if timezone.is_some() {
            return Err(SpecError::new(
                "timezone",
                "the `at` time has an offset already; give a time without one to use a time zone",
            ));
        }
        // Validated; keep the text as written (its offset shows in fire times).
        let _ = instant;
        return Ok(text.to_owned());
    }
    let civil: DateTime = text.parse().map_err(|_| {
        SpecError::new(
            "at",
            format!("{text:?} is not a time (expected RFC 3339 such as 2026-12-01T03:00:00Z, or 2026-12-01T03:00:00 with a timezone)"),
        )
    })?;
    let Some(zone) = timezone else {
        return Err(SpecError::new(
            "at",
            format!("{text:?} has no offset: add one (2026-12-01T03:00:00Z) or give a timezone"),
        ));
    };
    let zone = TimeZone::get(zone)
        .map_err(|_| SpecError::new("timezone", format!("unknown time zone {zone:?}")))?;
    let zoned = civil
        .to_zoned_datetime(zone)
        .map_err(|error| SpecError::new("at", format!("{text:?}: {error}")))?;
    Ok(zoned
        .timestamp()
        .display_with_offset(zoned.offset())
        .to_string())
}

/// A JSON array given on the command line (one flag value, not a list of values).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct JsonArray(pub(crate) Vec<Value>);

/// A JSON object given on the command line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct JsonObject(pub(crate) Map<String, Value>);

/// A JSON array from the command line (`--args`).
///
/// # Errors
///
/// The message when the text is not JSON or not an array.
pub(crate) fn json_array(text: &str) -> Result<JsonArray, String> {
    match serde_json::from_str(text) {
        Ok(Value::Array(items)) => Ok(JsonArray(items)),
        Ok(other) => Err(format!(
            "expected a JSON array such as [1, \"a\"], got {other}"
        )),
        Err(error) => Err(format!("invalid JSON: {error}")),
    }
}

/// A JSON object from the command line (`--kwargs`).
///
/// # Errors
///
/// The message when the text is not JSON or not an object.
pub(crate) fn json_object(text: &str) -> Result<JsonObject, String> {
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => Ok(JsonObject(map)),
        Ok(other) => Err(format!(
            "expected a JSON object such as {{\"n\": 1}}, got {other}"
        )),
        Err(error) => Err(format!("invalid JSON: {error}")),
    }
}

/// A TOML value as JSON: datetimes become RFC 3339 strings.
///
/// # Errors
///
/// A float that JSON cannot hold (`nan`, `inf`).
pub(crate) fn toml_to_json(value: toml::Value) -> Result<Value, String> {
    Ok(match value {
        toml::Value::String(text) => Value::String(text),
        toml::Value::Integer(n) => Value::from(n),
        toml::Value::Float(x) => serde_json::Number::from_f64(x)
            .map(Value::Number)
            .ok_or_else(|| format!("{x} cannot be represented in JSON"))?,
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(time) => Value::String(time.to_string()),
        toml::Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(toml_to_json)
                .collect::<Result<_, _>>()?,
        ),
        toml::Value::Table(table) => Value::Object(
            table
                .into_iter()
                .map(|(key, value)| Ok((key, toml_to_json(value)?)))
                .collect::<Result<_, String>>()?,
        ),
    })
}

/// JSON text with object keys sorted at every level, whatever order the map keeps: the
/// same value always gives the same text (for fingerprints).
pub(crate) fn canonical_json(value: &Value) -> String {
    fn write(value: &Value, out: &mut String) {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                out.push('{');
                for (i, (key, value)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(key.clone()).to_string());
                    out.push(':');
                    write(value, out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(value, &mut out);
    out
}

/// A stable 64-bit FNV-1a hash of the value's canonical JSON, as 16 hex digits.
pub(crate) fn fingerprint(value: &Value) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in canonical_json(value).bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-06-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn each_form_becomes_a_trigger_spec() {
        assert_eq!(
            When::Cron("0 3 * * *".into())
                .to_spec(Some("Europe/Berlin"), now())
                .unwrap(),
            json!({"type": "cron", "expr": "0 3 * * *", "timezone": "Europe/Berlin"})
        );
        assert_eq!(
            When::Interval(Duration::from_millis(1500))
                .to_spec(None, now())
                .unwrap(),
            json!({"type": "interval", "seconds": 1, "microseconds": 500_000})
        );
        assert_eq!(
            When::At("2026-12-01T03:00:00Z".into())
                .to_spec(None, now())
                .unwrap(),
            json!({"type": "date", "run_time": "2026-12-01T03:00:00Z"})
        );
        assert_eq!(
            When::At("2026-12-01T03:00:00".into())
                .to_spec(Some("Europe/Berlin"), now())
                .unwrap(),
            json!({"type": "date", "run_time": "2026-12-01T03:00:00+01:00"})
        );
        assert_eq!(
            When::Trigger(json!({"type": "cron", "hour": 3}))
                .to_spec(Some("UTC"), now())
                .unwrap(),
            json!({"type": "cron", "hour": 3, "timezone": "UTC"})
        );
    }

    #[test]
    fn errors_name_the_key() {
        let key = |when: When, zone: Option<&str>| when.to_spec(zone, now()).unwrap_err().key;
        assert_eq!(key(When::Cron("61 * * * *".into()), None), "cron");
        assert_eq!(
            key(When::Cron("* * * * *".into()), Some("Mars/Base")),
            "timezone"
        );
        assert_eq!(key(When::Interval(Duration::ZERO), None), "interval");
        assert_eq!(
            key(When::Interval(Duration::from_secs(1)), Some("UTC")),
            "timezone"
        );
        assert_eq!(key(When::At("tomorrow".into()), None), "at");
        assert_eq!(key(When::At("2026-12-01T03:00:00".into()), None), "at");
        assert_eq!(
            key(When::Trigger(json!({"type": "cron", "hour": 25})), None),
            "trigger"
        );
        let error = When::Trigger(json!({"type": "cron", "hour": 25}))
            .to_spec(None, now())
            .unwrap_err();
        assert!(error.message.starts_with("hour: "), "{}", error.message);
        assert_eq!(
            key(
                When::Trigger(json!({"type": "cron", "timezone": "UTC"})),
                Some("UTC")
            ),
            "timezone"
        );
    }

    #[test]
    fn fingerprints_ignore_key_order() {
        let a: Value = serde_json::from_str(r#"{"b": 1, "a": {"y": [1, 2], "x": null}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a": {"x": null, "y": [1, 2]}, "b": 1}"#).unwrap();
        assert_eq!(canonical_json(&a), r#"{"a":{"x":null,"y":[1,2]},"b":1}"#);
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&json!({"b": 2})));
    }

    #[test]
    fn toml_values_become_json() {
        let table: toml::Table =
            toml::from_str("a = 1\nb = [true, 'x']\nc = 2026-01-01T00:00:00Z\nd = 1.5").unwrap();
        assert_eq!(
            toml_to_json(toml::Value::Table(table)).unwrap(),
            json!({"a": 1, "b": [true, "x"], "c": "2026-01-01T00:00:00Z", "d": 1.5})
        );
        assert!(toml_to_json(toml::Value::Float(f64::NAN)).is_err());
    }

    #[test]
    fn command_line_json_must_have_the_right_shape() {
        assert_eq!(
            json_array("[1, \"a\"]").unwrap().0,
            vec![json!(1), json!("a")]
        );
        assert!(
            json_array("{}")
                .unwrap_err()
                .contains("expected a JSON array")
        );
        assert!(json_array("[1,").unwrap_err().contains("invalid JSON"));
        assert_eq!(json_object("{\"n\": 1}").unwrap().0["n"], json!(1));
        assert!(json_object("[]").is_err());
    }
}
