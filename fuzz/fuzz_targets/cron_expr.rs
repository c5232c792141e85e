//! The cron expression parser, in both forms, with the expressions given as raw strings (no
//! JSON syntax in the way). The input is lines:
//!
//! - `expr` followed by a line with a crontab expression: `{"type":"cron","expr": <line>}`;
//! - otherwise `key=value` lines for the per-field form: `year`, `month`, `day`, `week`,
//!   `day_of_week`, `hour`, `minute`, `second` (strings, or integers when the value is
//!   written `#N`), and `timezone`, `start_time`, `end_time`.
//!
//! Whatever parses must fire as `horae_fuzz::check_trigger` demands; a crontab line with a
//! bare `*` day-of-month or day-of-week must fire exactly as the same fields given by name.

#![no_main]

use horae::trigger::Trigger;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};

const FIELDS: [&str; 11] = [
    "year",
    "month",
    "day",
    "week",
    "day_of_week",
    "hour",
    "minute",
    "second",
    "timezone",
    "start_time",
    "end_time",
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(line) = text.strip_prefix("expr\n") {
        crontab(line);
    } else {
        fields(text);
    }
});

fn crontab(line: &str) {
    let spec = json!({"type": "cron", "expr": line, "start_time": "2026-01-01T00:00:00+00:00"});
    let Ok(trigger) = Trigger::from_json(&spec, horae_fuzz::now()) else {
        return;
    };
    horae_fuzz::check_trigger(&spec, trigger.clone());

    // Unless both day fields are restricted, a crontab line is the per-field form.
    let parts: Vec<&str> = line.split_whitespace().collect();
    let [minute, hour, day, month, day_of_week] = parts[..] else {
        panic!("a crontab line without 5 fields parsed: {line:?}");
    };
    if day != "*" && day_of_week != "*" {
        return;
    }
    let named = json!({
        "type": "cron", "minute": minute, "hour": hour, "day": day, "month": month,
        "day_of_week": day_of_week, "start_time": "2026-01-01T00:00:00+00:00",
    });
    let mut named = Trigger::from_json(&named, horae_fuzz::now())
        .unwrap_or_else(|e| panic!("{line:?} parses as expr but not as named fields: {e}"));
    let mut trigger = trigger;
    for _ in 0..5 {
        let (a, b) = (trigger.next(), named.next());
        let (Ok(a), Ok(b)) = (a, b) else {
            panic!("a cron trigger failed to compute a fire time for {line:?}");
        };
        let (a, b) = (a.map(|t| t.timestamp()), b.map(|t| t.timestamp()));
        assert_eq!(a, b, "expr {line:?} and its named fields fire differently");
        if a.is_none() {
            break;
        }
    }
}

fn fields(text: &str) {
    let mut spec = Map::new();
    spec.insert("type".into(), "cron".into());
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            return;
        };
        if !FIELDS.contains(&key) {
            return;
        }
        let value = match value.strip_prefix('#').map(str::parse::<u64>) {
            Some(Ok(n)) => Value::from(n),
            _ => Value::from(value),
        };
        spec.insert(key.into(), value);
    }
    let spec = Value::Object(spec);
    if let Ok(trigger) = Trigger::from_json(&spec, horae_fuzz::now()) {
        horae_fuzz::check_trigger(&spec, trigger);
    }
}
