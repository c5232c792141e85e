//! What the commands that open a store share: the `--connect-timeout` flag, and opening an
//! SQL store while logging each failed attempt to reach its server on stderr.

use std::time::Duration;

use clap::Args;
use horae::error::StoreError;
use horae_sql::{OpenOptions, Opened, SqlStore, StoreUrl};

use crate::Failure;

/// Longest `--connect-timeout` (a week): longer is surely a typo.
const MAX_CONNECT_TIMEOUT: f64 = 7.0 * 86_400.0;

/// The `--connect-timeout` flag.
#[derive(Debug, Args)]
pub(crate) struct ConnectArgs {
    /// How long to keep retrying, with backoff, while the database server is unreachable:
    /// seconds (`60`, `0.5`) or a duration (`30s`, `2m`). 0 fails at the first refusal.
    /// Bad credentials, a bad URL or a database that cannot be created fail at once.
    #[arg(long, value_name = "SECONDS", default_value = "60", value_parser = parse_timeout)]
    pub(crate) connect_timeout: Duration,
}

/// Seconds as a number, or a horae duration (`30s`).
fn parse_timeout(text: &str) -> Result<Duration, String> {
    let too_long = || "at most a week (604800 seconds)".to_owned();
    match text.parse::<f64>() {
        Ok(secs) if secs.is_nan() || secs < 0.0 => {
            Err("expected a non-negative number of seconds".to_owned())
        }
        Ok(secs) if secs > MAX_CONNECT_TIMEOUT => Err(too_long()),
        Ok(secs) => Ok(Duration::from_secs_f64(secs)),
        Err(_) => match horae::duration::parse_duration(text) {
            Ok(duration) if duration.as_secs_f64() > MAX_CONNECT_TIMEOUT => Err(too_long()),
            Ok(duration) => Ok(duration),
            Err(error) => Err(error.to_string()),
        },
    }
}

/// Parses a store URL given on the command line or in the environment (`what` names it in
/// the message): exit 2 when it is malformed.
pub(crate) fn parse_url(what: &str, url: &str) -> Result<StoreUrl, Failure> {
    StoreUrl::parse(url).map_err(|e| usage(what, e))
}

/// A store's rejection of a flag's value as a usage error naming the flag.
pub(crate) fn usage(what: &str, error: StoreError) -> Failure {
    match error {
        StoreError::Invalid(message) => Failure::Usage(format!("{what}: {message}")),
        other => Failure::Usage(format!("{what}: {other}")),
    }
}

/// Opens the store at `url` (waiting for its server, creating the database if missing,
/// migrating), printing each failed attempt to reach the server on stderr.
pub(crate) async fn open(url: &StoreUrl, options: &OpenOptions) -> Result<Opened, Failure> {
    SqlStore::open(url, options, |unreachable| {
        eprintln!("warning: {unreachable}");
    })
    .await
    .map_err(|e| Failure::Runtime(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_are_seconds_or_durations() {
        assert_eq!(parse_timeout("60"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_timeout("0"), Ok(Duration::ZERO));
        assert_eq!(parse_timeout("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_timeout("2m"), Ok(Duration::from_secs(120)));
        for bad in ["-1", "NaN", "inf", "soon", "", "1e300", "8d"] {
            assert!(parse_timeout(bad).is_err(), "{bad}");
        }
    }
}
