//! Every invalid specification is rejected with a typed error naming the field.

use horae::trigger::{Trigger, TriggerErrorKind as K};
use serde_json::{Value, json};

const START: &str = "2026-01-01T00:00:00+00:00";

fn cron(field: &str, value: Value) -> Value {
    json!({"type": "cron", field: value, "start_time": START})
}

/// (specification, field the error must name, kind)
fn cases() -> Vec<(Value, &'static str, K)> {
    let mut cases = vec![
        (json!("cron"), "", K::WrongType),
        (json!([1, 2]), "", K::WrongType),
        (json!({}), "type", K::MissingField),
        (json!({"type": 3}), "type", K::WrongType),
        (json!({"type": "crn"}), "type", K::UnknownType),
        (
            json!({"type": "cron", "minute": 5, "minutes": 5}),
            "minutes",
            K::UnknownField,
        ),
        (json!({"type": "date"}), "run_time", K::MissingField),
        (
            json!({"type": "date", "run_time": "2026-01-01T00:00:00"}),
            "run_time",
            K::Syntax,
        ),
        (
            json!({"type": "date", "run_time": "2026-13-01T00:00:00Z"}),
            "run_time",
            K::Syntax,
        ),
        (
            json!({"type": "date", "run_time": 1767225600}),
            "run_time",
            K::WrongType,
        ),
        (
            json!({"type": "interval", "start_time": START}),
            "seconds",
            K::Range,
        ),
        (
            json!({"type": "interval", "seconds": 0, "start_time": START}),
            "seconds",
            K::Range,
        ),
        (
            json!({"type": "interval", "seconds": -5, "start_time": START}),
            "seconds",
            K::Range,
        ),
        (
            json!({"type": "interval", "seconds": "5", "start_time": START}),
            "seconds",
            K::WrongType,
        ),
        (
            json!({"type": "interval", "seconds": true, "start_time": START}),
            "seconds",
            K::WrongType,
        ),
        (
            json!({"type": "interval", "weeks": 1e300, "start_time": START}),
            "weeks",
            K::Range,
        ),
        (
            json!({"type": "interval", "weeks": 9_000_000_000u64, "start_time": START}),
            "weeks",
            K::Range,
        ),
        (
            json!({"type": "interval", "seconds": 1, "start_time": "2026-01-02T00:00:00Z", "end_time": START}),
            "end_time",
            K::Range,
        ),
        (
            json!({"type": "interval", "seconds": 1, "start_time": "2026-01-01 00:00:00"}),
            "start_time",
            K::Syntax,
        ),
        (
            json!({"type": "calendar_interval", "start_date": "2026-01-01"}),
            "days",
            K::Range,
        ),
        (
            json!({"type": "calendar_interval", "days": 1, "hour": 24}),
            "hour",
            K::Range,
        ),
        (
            json!({"type": "calendar_interval", "days": 1, "minute": 60}),
            "minute",
            K::Range,
        ),
        (
            json!({"type": "calendar_interval", "days": -1}),
            "days",
            K::Range,
        ),
        (
            json!({"type": "calendar_interval", "days": 1, "start_date": "2026-02-30"}),
            "start_date",
            K::Syntax,
        ),
        (
            json!({"type": "calendar_interval", "days": 1, "start_date": "2026-01-02", "end_date": "2026-01-01"}),
            "end_date",
            K::Range,
        ),
        (
            json!({"type": "calendar_interval", "days": 1, "timezone": "Mars/Olympus"}),
            "timezone",
            K::UnknownTimeZone,
        ),
        (json!({"type": "and", "triggers": []}), "triggers", K::Range),
        (json!({"type": "or", "triggers": []}), "triggers", K::Range),
        (json!({"type": "or"}), "triggers", K::MissingField),
        (
            json!({"type": "or", "triggers": {}}),
            "triggers",
            K::WrongType,
        ),
        (
            json!({"type": "and", "triggers": [{"type": "date", "run_time": START}], "max_iterations": 0}),
            "max_iterations",
            K::Range,
        ),
        (
            json!({"type": "and", "triggers": [{"type": "date", "run_time": START}], "threshold": "1"}),
            "threshold",
            K::WrongType,
        ),
        (
            json!({"type": "or", "triggers": [{"type": "date", "run_time": START}, {"type": "cron", "hour": 25}]}),
            "triggers[1].hour",
            K::Syntax,
        ),
        (
            json!({"type": "and", "triggers": [{"type": "or", "triggers": [{"type": "cron", "timezone": "Nowhere/City"}]}]}),
            "triggers[0].triggers[0].timezone",
            K::UnknownTimeZone,
        ),
        (
            json!({"type": "cron", "expr": "* * * *"}),
            "expr",
            K::Syntax,
        ),
        (
            json!({"type": "cron", "expr": "* * * * * *"}),
            "expr",
            K::Syntax,
        ),
        (
            json!({"type": "cron", "expr": "60 * * * *"}),
            "expr",
            K::Syntax,
        ),
        (
            json!({"type": "cron", "expr": "* * * * MON#6"}),
            "expr",
            K::Syntax,
        ),
        (
            json!({"type": "cron", "expr": "* * * jan/2 *"}),
            "expr",
            K::Syntax,
        ),
        (json!({"type": "cron", "expr": 5}), "expr", K::WrongType),
        (
            json!({"type": "cron", "expr": "* * * * *", "minute": 5}),
            "expr",
            K::Conflict,
        ),
        (
            json!({"type": "cron", "timezone": "../../etc/passwd"}),
            "timezone",
            K::UnknownTimeZone,
        ),
        (
            json!({"type": "cron", "timezone": "/usr/share/zoneinfo/UTC"}),
            "timezone",
            K::UnknownTimeZone,
        ),
        (
            json!({"type": "cron", "timezone": ""}),
            "timezone",
            K::UnknownTimeZone,
        ),
        (
            json!({"type": "cron", "timezone": 5}),
            "timezone",
            K::WrongType,
        ),
        (
            json!({"type": "cron", "hour": 1, "start_time": "2026-01-01T00:00:00"}),
            "start_time",
            K::Syntax,
        ),
        (
            json!({"type": "cron", "hour": 1, "start_time": START, "end_time": "2025-01-01T00:00:00Z"}),
            "end_time",
            K::Range,
        ),
    ];
    let field_values: [(&str, Value); 33] = [
        ("minute", json!(60)),
        ("minute", json!(-1)),
        ("minute", json!(1.5)),
        ("minute", json!(true)),
        ("minute", json!([1])),
        ("minute", json!("*/0")),
        ("minute", json!("*/60")),
        ("minute", json!("5-3")),
        ("minute", json!("1,,2")),
        ("minute", json!("")),
        ("minute", json!("a")),
        ("minute", json!("1-2-3")),
        ("minute", json!("*/x")),
        ("hour", json!(24)),
        ("hour", json!("23/2")),
        ("second", json!("1 - 5")),
        ("day", json!(0)),
        ("day", json!(32)),
        ("day", json!("lastx")),
        ("day", json!("6th wed")),
        ("day", json!("last friday")),
        ("day", json!("2nd wed/2")),
        ("day", json!("2nd 3")),
        ("month", json!("jan/2")),
        ("month", json!("jan-jun/2")),
        ("month", json!("janx")),
        ("month", json!(13)),
        ("day_of_week", json!(8)),
        ("day_of_week", json!("monday")),
        ("day_of_week", json!("mon#0")),
        ("week", json!(54)),
        ("year", json!(1969)),
        ("year", json!("10000")),
    ];
    for (field, value) in field_values {
        let kind = if value.is_string() || value.as_u64().is_some() {
            K::Syntax
        } else {
            K::WrongType
        };
        cases.push((cron(field, value), field, kind));
    }
    cases
}

#[test]
fn invalid_specifications_name_their_field() {
    let now = jiff::Timestamp::UNIX_EPOCH;
    for (spec, field, kind) in cases() {
        match Trigger::from_json(&spec, now) {
            Ok(_) => panic!("accepted invalid spec {spec}"),
            Err(e) => {
                assert_eq!(e.field(), field, "wrong field for {spec}: {e}");
                assert_eq!(e.kind(), kind, "wrong kind for {spec}: {e}");
                assert!(!e.message().is_empty());
                if !field.is_empty() {
                    assert!(e.to_string().starts_with(&format!("{field}: ")), "{e}");
                }
            }
        }
    }
}

#[test]
fn error_messages_read_well() {
    let now = jiff::Timestamp::UNIX_EPOCH;
    let message = |spec: Value| Trigger::from_json(&spec, now).unwrap_err().to_string();
    assert_eq!(
        message(cron("minute", json!("*/60"))),
        "minute: invalid expression \"*/60\": the step value (60) is higher than the total range of the expression (59)"
    );
    assert_eq!(
        message(cron("month", json!("jan/2"))),
        "month: invalid expression \"jan/2\": steps are not allowed with month names; use numbers (e.g. 1-12/2)"
    );
    assert_eq!(
        message(json!({"type": "cron", "timezone": "../../etc/passwd"})),
        "timezone: unknown IANA time zone \"../../etc/passwd\""
    );
    assert_eq!(
        message(json!({"type": "interval", "seconds": true})),
        "seconds: expected a non-negative number, found a boolean"
    );
    assert_eq!(
        message(json!({"type": "crn"})),
        "type: unknown trigger type \"crn\" (expected one of: date, interval, cron, calendar_interval, and, or)"
    );
    assert!(
        message(json!({"type": "date", "run_time": "2026-01-01T00:00:00"}))
            .contains("has no UTC offset")
    );
}

#[test]
fn and_trigger_reports_max_iterations() {
    let spec = json!({"type": "and", "max_iterations": 5, "threshold": 0, "triggers": [
        {"type": "cron", "minute": "*/7", "start_time": START},
        {"type": "cron", "minute": "*/11", "second": 30, "start_time": START},
    ]});
    let mut trigger = Trigger::from_json(&spec, jiff::Timestamp::UNIX_EPOCH).unwrap();
    let error = trigger.next().unwrap_err();
    assert_eq!(error.kind(), K::MaxIterations);
    assert_eq!(error.field(), "max_iterations");
}

/// Found by the `trigger_json` fuzz target: an `or` (or `and`) trigger whose saved next fire
/// time of a sub-trigger is not before that sub-trigger's own next fire time fired backwards
/// (2027-01-01, then the interval's first fire time in 2026). Such a state is rejected; the
/// states `to_json` writes still read back.
#[test]
fn combined_trigger_state_keeps_an_offset_with_seconds() {
    // Found by the trigger_json fuzz target: the saved next fire time lost the offset's
    // seconds (10:19:58Z was saved as 10:20:00+00:00), so a resumed trigger fired 2 s late.
    let now: jiff::Timestamp = "2026-05-28T20:26:40Z".parse().unwrap();
    let spec = json!({"type": "or", "triggers": [
        {"type": "interval", "minutes": 5, "start_time": "2020-10-27T10:05:00+00:00:02"}]});
    let mut trigger = Trigger::from_json(&spec, now).unwrap();
    for _ in 0..3 {
        trigger.next().unwrap();
    }
    let mut resumed = Trigger::from_json(&trigger.to_json(), now).unwrap();
    let expected = trigger.next().unwrap().map(|z| z.timestamp());
    assert_eq!(resumed.next().unwrap().map(|z| z.timestamp()), expected);
    assert_eq!(expected, Some("2020-10-27T10:19:58Z".parse().unwrap()));
}

#[test]
fn combined_trigger_rejects_an_inconsistent_saved_state() {
    let now: jiff::Timestamp = "2026-05-28T20:26:40Z".parse().unwrap();
    for kind in ["or", "and"] {
        for saved in [
            "2027-01-01T00:00:00+00:00[UTC]",
            "2026-05-28T20:26:40+00:00[UTC]",
        ] {
            let spec = json!({"type": kind, "triggers": [{"type": "interval", "seconds": 1}],
                              "next_fire_times": [saved]});
            let error = Trigger::from_json(&spec, now).unwrap_err();
            assert_eq!(error.field(), "next_fire_times", "{spec}: {error}");
            assert_eq!(error.kind(), K::Range, "{spec}: {error}");
            assert!(error.message().contains("inconsistent"), "{error}");
        }
        // A date sub-trigger that has not fired yet would fire its saved time twice.
        let spec = json!({"type": kind, "triggers": [{"type": "date", "run_time": START}],
                          "next_fire_times": [START.replace("+00:00", "+00:00[UTC]")]});
        assert!(Trigger::from_json(&spec, now).is_err(), "{spec}");

        let spec = json!({"type": kind, "triggers": [
            {"type": "interval", "seconds": 1, "start_time": START},
            {"type": "date", "run_time": START},
        ]});
        let mut trigger = Trigger::from_json(&spec, now).unwrap();
        let mut previous = trigger.next().unwrap();
        for _ in 0..3 {
            let resumed = Trigger::from_json(&trigger.to_json(), now)
                .unwrap_or_else(|e| panic!("{}: {e}", trigger.to_json()));
            assert_eq!(resumed, trigger);
            let next = trigger.next().unwrap();
            if let (Some(a), Some(b)) = (&previous, &next) {
                assert!(b.timestamp() > a.timestamp(), "{a} then {b}");
            }
            previous = next;
        }
    }
}
