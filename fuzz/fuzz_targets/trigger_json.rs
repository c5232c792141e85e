//! The trigger JSON parser: any bytes as a trigger specification (`Trigger::from_json`).
//! Invalid input must be an error, never a panic; a trigger that parses must give strictly
//! increasing fire times within its bounds and round-trip through its JSON form.

#![no_main]

use horae::trigger::Trigger;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(spec) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    match Trigger::from_json(&spec, horae_fuzz::now()) {
        Ok(trigger) => horae_fuzz::check_trigger(&spec, trigger),
        Err(error) => {
            // The error's Display form names the field.
            let _ = error.to_string();
        }
    }
});
