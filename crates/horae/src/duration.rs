//! Human-readable durations: `500ms`, `30s`, `10m`, `1h30m`, `2d`, `1w`, `1.5s`.
//!
//! This is the format of every duration in horae's config file, CLI flags and JSON
//! (DESIGN.md section 7). Units: `us`, `ms`, `s`, `m`, `h`, `d` (24 h), `w` (7 d); several
//! `<number><unit>` parts may follow one another (`1h30m`). Serialized durations use the
//! canonical form of [`format_duration`]; JSON input may also give a number of seconds.

use std::fmt;
use std::time::Duration;

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DurationError {
    /// The text is empty.
    #[error("empty duration (expected e.g. 30s, 500ms, 1h30m)")]
    Empty,
    /// A part does not start with a number.
    #[error("invalid duration {0:?}: expected a number followed by a unit (us, ms, s, m, h, d, w)")]
    BadNumber(String),
    /// A number has no unit or an unknown one.
    #[error("invalid duration {text:?}: unknown unit {unit:?} (expected us, ms, s, m, h, d or w)")]
    UnknownUnit {
        /// The whole text.
        text: String,
        /// The unit found.
        unit: String,
    },
    /// The duration does not fit in 64-bit microseconds.
    #[error("duration {0:?} is too long")]
    Overflow(String),
}

const UNITS: [(&str, u128); 7] = [
    ("us", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("d", 86_400_000_000_000),
    ("w", 604_800_000_000_000),
];

/// The largest accepted duration: about 292,000 years, as microseconds fit in an `i64`.
const MAX_NANOS: u128 = i64::MAX as u128 * 1_000;

/// Parses a human duration such as `30s`, `1h30m` or `1.5s`.
///
/// # Errors
///
/// A [`DurationError`] when the text is empty, a part lacks a number or a known unit, or
/// the total overflows.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use horae::duration::parse_duration;
///
/// assert_eq!(parse_duration("1h30m")?, Duration::from_secs(5400));
/// assert_eq!(parse_duration("500ms")?, Duration::from_millis(500));
/// assert!(parse_duration("30").is_err());
/// # Ok::<(), horae::duration::DurationError>(())
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    let mut rest = text;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let Some(&(_, unit_nanos)) = UNITS.iter().find(|(name, _)| *name == unit) else {
            return Err(DurationError::UnknownUnit {
                text: text.to_owned(),
                unit: unit.to_owned(),
            });
        };
        let nanos = scaled(number, unit_nanos).ok_or_else(|| {
            if number.is_empty() || number.matches('.').count() > 1 || number == "." {
                DurationError::BadNumber(text.to_owned())
            } else {
                DurationError::Overflow(text.to_owned())
            }
        })?;
        total = total
            .checked_add(nanos)
            .filter(|t| *t <= MAX_NANOS)
            .ok_or_else(|| DurationError::Overflow(text.to_owned()))?;
        rest = next;
    }
    let secs = u64::try_from(total / 1_000_000_000)
        .map_err(|_| DurationError::Overflow(text.to_owned()))?;
    Ok(Duration::new(secs, (total % 1_000_000_000) as u32))
}

/// `number × unit` in nanoseconds for a decimal `number` (`"1.5"`), exact, or `None`.
fn scaled(number: &str, unit_nanos: u128) -> Option<u128> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.contains('.') || whole.len() > 30 {
        return None;
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut nanos = whole.checked_mul(unit_nanos)?;
    let mut scale = unit_nanos;
    for digit in fraction.bytes().take(30) {
        scale /= 10;
        nanos = nanos.checked_add(u128::from(digit - b'0') * scale)?;
    }
    (nanos <= MAX_NANOS).then_some(nanos)
}

/// Formats a duration canonically (`1h30m`, `500ms`, `1m0.5s` → `1m500ms`, `0s`);
/// [`parse_duration`] reads it back to the same value (below one microsecond is dropped).
pub fn format_duration(duration: Duration) -> String {
    let mut micros = duration.as_micros();
    if micros == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (name, unit_nanos) in UNITS.iter().rev() {
        let unit = unit_nanos / 1_000;
        if micros >= unit {
            out.push_str(&format!("{}{name}", micros / unit));
            micros %= unit;
        }
    }
    out
}

/// A duration that displays in the canonical human form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HumanDuration(pub Duration);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

impl std::str::FromStr for HumanDuration {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<HumanDuration, DurationError> {
        parse_duration(text).map(HumanDuration)
    }
}

/// Reads a duration from a human string or a non-negative number of seconds.
fn from_json_value<E: serde::de::Error>(value: serde_json::Value) -> Result<Duration, E> {
    match value {
        serde_json::Value::String(text) => parse_duration(&text).map_err(E::custom),
        serde_json::Value::Number(n) => {
            let seconds = n
                .as_f64()
                .filter(|s| s.is_finite() && *s >= 0.0 && *s < 9.2e12)
                .ok_or_else(|| {
                    E::custom(format!(
                        "invalid duration {n}: expected a non-negative number of seconds"
                    ))
                })?;
            Ok(Duration::from_secs_f64(seconds))
        }
        other => Err(E::custom(format!(
            "invalid duration: expected a string like \"30s\" or a number of seconds, found {}",
            crate::trigger::describe_json_type(&other)
        ))),
    }
}

/// `#[serde(with = "horae::duration::serde_human")]` for a `Duration` field.
pub mod serde_human {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes as the canonical human string.
    pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format_duration(*duration))
    }

    /// Deserializes from a human string or a non-negative number of seconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        super::from_json_value(serde_json::Value::deserialize(deserializer)?)
    }
}

/// `#[serde(with = "horae::duration::serde_human_opt")]` for an `Option<Duration>` field
/// (`null` is `None`).
pub mod serde_human_opt {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes `Some` as the canonical human string and `None` as `null`.
    pub fn serialize<S: Serializer>(
        duration: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match duration {
            Some(d) => serializer.serialize_str(&super::format_duration(*d)),
            None => serializer.serialize_none(),
        }
    }

    /// Deserializes `null` as `None`, otherwise like [`super::serde_human`].
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        match serde_json::Value::deserialize(deserializer)? {
            serde_json::Value::Null => Ok(None),
            value => super::from_json_value(value).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_config_formats() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse_duration("1w"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert!(matches!(
            parse_duration("30"),
            Err(DurationError::UnknownUnit { .. })
        ));
        assert!(matches!(
            parse_duration("s"),
            Err(DurationError::BadNumber(_))
        ));
        assert!(matches!(
            parse_duration("1.2.3s"),
            Err(DurationError::BadNumber(_))
        ));
        assert!(matches!(
            parse_duration("5 s"),
            Err(DurationError::UnknownUnit { .. })
        ));
        assert!(matches!(
            parse_duration("-5s"),
            Err(DurationError::UnknownUnit { .. })
        ));
        assert!(matches!(
            parse_duration("10y"),
            Err(DurationError::UnknownUnit { .. })
        ));
        assert!(matches!(
            parse_duration("99999999999999999999w"),
            Err(DurationError::Overflow(_))
        ));
    }

    #[test]
    fn formats_canonically() {
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_millis(60_500)), "1m500ms");
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_duration(Duration::from_secs(691_200)), "1w1d");
    }

    #[test]
    fn serde_accepts_strings_and_seconds() {
        #[derive(serde::Deserialize, serde::Serialize)]
        struct T {
            #[serde(with = "serde_human")]
            d: Duration,
            #[serde(with = "serde_human_opt", default)]
            o: Option<Duration>,
        }
        let t: T = serde_json::from_str(r#"{"d": "1m", "o": 1.5}"#).unwrap();
        assert_eq!(
            (t.d, t.o),
            (Duration::from_secs(60), Some(Duration::from_millis(1500)))
        );
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#"{"d":"1m","o":"1s500ms"}"#
        );
        for bad in [
            r#"{"d": -1}"#,
            r#"{"d": true}"#,
            r#"{"d": "1x"}"#,
            r#"{"d": [1]}"#,
        ] {
            assert!(serde_json::from_str::<T>(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(text in ".{0,40}") {
            let _ = parse_duration(&text);
        }

        #[test]
        fn format_round_trips(micros in 0u64..(1u64 << 62)) {
            let d = Duration::from_micros(micros);
            prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
    }
}
