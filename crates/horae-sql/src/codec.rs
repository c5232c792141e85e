//! Conversions between model values and column values shared by every SQL dialect:
//! timestamps and durations as microseconds, JSON as text, enums by their names.

use std::str::FromStr;
use std::time::Duration;

use horae::error::StoreError;
use jiff::Timestamp;
use serde::Serialize;

/// A timestamp as microseconds since the Unix epoch.
pub(crate) fn micros(at: Timestamp) -> i64 {
    at.as_microsecond()
}

/// An optional timestamp as microseconds.
pub(crate) fn micros_opt(at: Option<Timestamp>) -> Option<i64> {
    at.map(micros)
}

/// Microseconds since the Unix epoch as a timestamp.
pub(crate) fn timestamp(column: &str, value: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_microsecond(value)
        .map_err(|e| corrupt(column, format!("{value} is not a timestamp: {e}")))
}

/// Optional microseconds as a timestamp.
pub(crate) fn timestamp_opt(
    column: &str,
    value: Option<i64>,
) -> Result<Option<Timestamp>, StoreError> {
    value.map(|v| timestamp(column, v)).transpose()
}

/// A duration as microseconds (saturating at `i64::MAX`).
pub(crate) fn duration_micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// An optional duration as microseconds.
pub(crate) fn duration_micros_opt(duration: Option<Duration>) -> Option<i64> {
    duration.map(duration_micros)
}

/// Microseconds as a duration.
pub(crate) fn duration(column: &str, value: i64) -> Result<Duration, StoreError> {
    u64::try_from(value)
        .map(Duration::from_micros)
        .map_err(|_| corrupt(column, format!("{value} is not a duration")))
}

/// Optional microseconds as a duration.
pub(crate) fn duration_opt(
    column: &str,
    value: Option<i64>,
) -> Result<Option<Duration>, StoreError> {
    value.map(|v| duration(column, v)).transpose()
}

/// A value as JSON text.
pub(crate) fn json<T: Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Serialization(e.to_string()))
}

/// A name stored for an enum or id, parsed back.
pub(crate) fn parse<T>(column: &str, text: &str) -> Result<T, StoreError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    text.parse()
        .map_err(|e| corrupt(column, format!("{text:?}: {e}")))
}

/// A non-negative integer column as `u32`.
pub(crate) fn unsigned(column: &str, value: i64) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| corrupt(column, format!("{value} is out of range")))
}

/// A lease token as stored (tokens count acquisitions; they never reach `i64::MAX`).
pub(crate) fn token(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A row that cannot be read back into the model.
pub(crate) fn corrupt(column: &str, message: String) -> StoreError {
    StoreError::Serialization(format!("column {column}: {message}"))
}

/// Maps a driver error to the store's portable kinds: connection trouble is transient.
pub(crate) fn driver_error(error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(error.to_string()),
        sqlx::Error::Database(db) if is_transient_database_error(&*db) => {
            StoreError::Unavailable(db.to_string())
        }
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnNotFound(_) => StoreError::Serialization(error.to_string()),
        other => StoreError::Other(other.to_string()),
    }
}

/// SQLite busy/locked, PostgreSQL serialization failures, deadlocks and shutdowns, MySQL
/// lock wait timeouts and deadlocks: retrying later may succeed.
fn is_transient_database_error(error: &dyn sqlx::error::DatabaseError) -> bool {
    // MySQL reports most errors under SQLSTATE HY000; its own error number tells them apart.
    if let Some(mysql) = error.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        return matches!(mysql.number(), 1205 | 1213 | 2006 | 2013);
    }
    matches!(
        error.code().as_deref(),
        Some(
            "5" | "6" | "261" | "517" // SQLITE_BUSY, SQLITE_LOCKED and extended codes
            | "40001" | "40P01" | "57P01" | "57P02" | "57P03" | "08000" | "08003" | "08006"
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_and_durations_round_trip_through_micros() {
        let at: Timestamp = "2026-03-29T01:30:00.123456Z".parse().unwrap();
        assert_eq!(timestamp("t", micros(at)).unwrap(), at);
        let d = Duration::from_micros(1_500_001);
        assert_eq!(duration("d", duration_micros(d)).unwrap(), d);
        assert!(duration("d", -1).is_err());
        assert!(timestamp("t", i64::MAX).is_err());
    }
}
