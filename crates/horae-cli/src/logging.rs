//! Logs: `tracing` events to standard error, filtered by `HORAE_LOG` (or `RUST_LOG`), in
//! `tracing-subscriber`'s `EnvFilter` syntax (`info`, `horae=debug,sqlx=warn`).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::Failure;

/// Installs the subscriber; `default` is the filter when neither variable is set.
///
/// # Errors
///
/// [`Failure::Usage`] naming the variable when its filter is malformed.
pub(crate) fn init(default: &str) -> Result<(), Failure> {
    let from_env = ["HORAE_LOG", "RUST_LOG"].into_iter().find_map(|name| {
        std::env::var(name)
            .ok()
            .filter(|value| !value.trim().is_empty())
            .map(|value| (name, value))
    });
    let filter = match &from_env {
        Some((name, value)) => EnvFilter::try_new(value).map_err(|error| {
            Failure::Usage(format!("{name}: invalid log filter {value:?}: {error}"))
        })?,
        None => EnvFilter::new(default),
    };
    // Already installed (tests call this more than once): keep the first.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
    Ok(())
}
