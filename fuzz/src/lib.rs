//! What the fuzz targets share: the fixed "now", and the checks every parsed trigger must
//! pass (fire times strictly increase, stay within the trigger's start and end, and the JSON
//! form with its iteration state round-trips).

mod reset_store;

pub use reset_store::ResetStore;

use horae::trigger::{Trigger, TriggerErrorKind};
use jiff::Timestamp;
use serde_json::Value;

/// How many fire times are taken from each trigger that parses.
pub const FIRE_TIMES: usize = 20;

/// After how many fire times the trigger's JSON form (with its iteration state) is read back
/// and checked to continue identically.
const ROUND_TRIP_AT: usize = 3;

/// The "now" every target uses (an omitted start time means this), fixed so that every
/// input is reproducible.
pub fn now() -> Timestamp {
    Timestamp::from_second(1_780_000_000).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// A top-level RFC 3339 field of a trigger's JSON form, as an instant.
fn instant_field(json: &Value, key: &str) -> Option<Timestamp> {
    json.get(key)?.as_str()?.parse().ok()
}

/// Takes up to [`FIRE_TIMES`] fire times from `trigger` and checks the contracts of
/// `Trigger::next` and `Trigger::to_json`; panics (a fuzzer finding) when one is broken.
/// `spec` is the JSON the trigger was built from.
pub fn check_trigger(spec: &Value, mut trigger: Trigger) {
    let json = trigger.to_json();
    // `Trigger::from_json(&t.to_json(), _)` yields a trigger equal to `t`.
    let reread = Trigger::from_json(&json, now())
        .unwrap_or_else(|e| panic!("to_json does not read back: {e}\nspec {spec}\njson {json}"));
    assert_eq!(
        reread, trigger,
        "to_json round trip\nspec {spec}\njson {json}"
    );

    // For a fresh cron or interval trigger: no fire time before start_time or after end_time.
    let fresh = spec.get("next_fire_times").is_none() && spec.get("last_fire_time").is_none();
    let bounded = matches!(trigger, Trigger::Cron(_) | Trigger::Interval(_));
    let start = instant_field(&json, "start_time").filter(|_| bounded && fresh);
    let end = instant_field(&json, "end_time").filter(|_| bounded);

    let mut previous: Option<Timestamp> = None;
    let mut exhausted = false;
    for index in 0..FIRE_TIMES {
        if index == ROUND_TRIP_AT {
            check_resume(spec, &trigger);
        }
        let time = match trigger.next() {
            Ok(Some(time)) => time,
            Ok(None) => {
                exhausted = true;
                break;
            }
            Err(error) => {
                assert_eq!(
                    error.kind(),
                    TriggerErrorKind::MaxIterations,
                    "next() failed with an unexpected error: {error}\nspec {spec}"
                );
                return;
            }
        };
        let instant = time.timestamp();
        if let Some(previous) = previous {
            assert!(
                instant > previous,
                "fire times do not strictly increase: {previous} then {time} (fire time {index})\nspec {spec}"
            );
        }
        if let Some(start) = start {
            assert!(
                instant >= start,
                "fire time {time} before start_time {start}\nspec {spec}"
            );
        }
        if let Some(end) = end {
            assert!(
                instant <= end,
                "fire time {time} after end_time {end}\nspec {spec}"
            );
        }
        previous = Some(instant);
    }
    if exhausted {
        assert!(
            matches!(trigger.next(), Ok(None)),
            "an exhausted trigger fired again\nspec {spec}"
        );
    }
}

/// The trigger's JSON form read back continues with the same fire times.
fn check_resume(spec: &Value, trigger: &Trigger) {
    let json = trigger.to_json();
    let mut resumed = Trigger::from_json(&json, now()).unwrap_or_else(|e| {
        panic!("to_json with iteration state does not read back: {e}\nspec {spec}\njson {json}")
    });
    let mut original = trigger.clone();
    for _ in 0..3 {
        let (a, b) = (original.next(), resumed.next());
        match (a, b) {
            (Ok(a), Ok(b)) => {
                let (a, b) = (a.map(|t| t.timestamp()), b.map(|t| t.timestamp()));
                assert_eq!(
                    a, b,
                    "resumed trigger fires differently\nspec {spec}\njson {json}"
                );
                if a.is_none() {
                    return;
                }
            }
            (Err(a), Err(b)) => {
                assert_eq!(a.kind(), b.kind(), "spec {spec}\njson {json}");
                return;
            }
            (a, b) => panic!("resumed trigger differs: {a:?} vs {b:?}\nspec {spec}\njson {json}"),
        }
    }
}
