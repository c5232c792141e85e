//! Internals of the `horae` binary that tools outside it need; not a public contract.
//!
//! The binary (`src/main.rs`) does not use this library: it compiles the same modules
//! itself. The library exists so the fuzz targets in `fuzz/` can reach the `horae run`
//! config loader ([`check_config`]) the way the binary runs it.

#[allow(
    dead_code,
    reason = "the binary uses the rest of the module; the library only exposes the loader"
)]
mod config;
#[allow(
    dead_code,
    reason = "the binary uses the rest of the module; the library only the config's part"
)]
mod spec;

use jiff::Timestamp;
use serde_json::Value;

/// Parses and checks config file text exactly as `horae run --config` does before anything
/// starts (the TOML of DESIGN.md section 7 over the defaults, every value checked), with no
/// environment overrides; `name` is how error messages refer to the file and `now` is used
/// to check the schedules' triggers. Returns the trigger specification of each
/// `[[schedule]]`, in order.
///
/// # Errors
///
/// The message `horae run` prints for an unusable configuration: for a problem in the file
/// it names the file, the line and column, and the key.
#[doc(hidden)]
pub fn check_config(text: &str, name: &str, now: Timestamp) -> Result<Vec<Value>, String> {
    let settings = config::Settings::parse(text, name, now).map_err(|error| error.0)?;
    settings.check().map_err(|error| error.0)?;
    Ok(settings
        .schedules
        .into_iter()
        .map(|schedule| schedule.trigger)
        .collect())
}
