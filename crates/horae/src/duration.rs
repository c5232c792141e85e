//! Human-readable durations: `500ms`, `30s`, `10m`, `1h30m`, `2d`, `1w`, `1.5s`.
//!
//! This is the format of every duration in horae's config file, CLI flags and JSON
//! (DESIGN.md section 7). A duration is one or more `<number><unit>` parts with no spaces
//! and no sign, added up: `1h30m` is 90 minutes. A number is digits with an optional
//! fraction (`1.5`, not `.5` or `1.`); fractions finer than a nanosecond are dropped. Units:
//! `us`, `ms`, `s`, `m`, `h`, `d` (24 h), `w` (7 d). The largest accepted duration is
//! [`MAX`] (`i64::MAX` microseconds, about 292,000 years), so every duration fits the 64-bit
//! microsecond columns of the SQL stores.
//!
//! [`format_duration`] writes the canonical form (largest units first, each at most once:
//! `1h30m`, `1m500ms`, `0s`), which [`parse_duration`] reads back to the same value.
//! [`serde_human`] and [`serde_human_opt`] use that form for serde; on input they also
//! accept a non-negative number of seconds (`30`, `1.5`).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Unexpected, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The largest duration horae accepts: `i64::MAX` microseconds (about 292,000 years).
pub const MAX: Duration = Duration::new(9_223_372_036_854, 775_807_000);

/// [`MAX`] in nanoseconds.
const MAX_NANOS: u128 = MAX.as_nanos();

const NANOS_PER_MICRO: u128 = 1_000;

/// The units, largest first, with their length in nanoseconds.
const UNITS: [(&str, u128); 7] = [
    ("w", 604_800_000_000_000),
    ("d", 86_400_000_000_000),
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
    ("us", 1_000),
];

/// Why a duration string was rejected. Each variant but `Empty` carries the whole input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DurationError {
    /// The text is empty.
    #[error("empty duration (expected e.g. 30s, 500ms, 1h30m)")]
    Empty,
    /// A part does not start with a well-formed number (`-5s`, `.5s`, `1.s`, `1.2.3s`).
    #[error(
        "invalid duration {text:?}: expected a number such as 30 or 1.5 followed by a unit \
         (us, ms, s, m, h, d, w)"
    )]
    BadNumber {
        /// The whole input.
        text: String,
    },
    /// A number is followed by no unit (`30`) or by an unknown one (`10y`, `5 s`).
    #[error("invalid duration {text:?}: {}", describe_unit(unit))]
    UnknownUnit {
        /// The whole input.
        text: String,
        /// The unit found; empty when the number has none.
        unit: String,
    },
    /// The total exceeds [`MAX`].
    #[error("duration {text:?} is too long (at most about 292,000 years)")]
    Overflow {
        /// The whole input.
        text: String,
    },
}

fn describe_unit(unit: &str) -> String {
    if unit.is_empty() {
        "a number needs a unit (us, ms, s, m, h, d or w)".to_owned()
    } else {
        format!("unknown unit {unit:?} (expected us, ms, s, m, h, d or w)")
    }
}

/// Parses a human duration such as `30s`, `1h30m` or `1.5s`.
///
/// # Errors
///
/// A [`DurationError`] when the text is empty, a part lacks a well-formed number or a known
/// unit, or the total exceeds [`MAX`]. Never panics.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use horae::duration::parse_duration;
///
/// assert_eq!(parse_duration("1h30m")?, Duration::from_secs(5400));
/// assert_eq!(parse_duration("500ms")?, Duration::from_millis(500));
/// assert_eq!(parse_duration("1.5s")?, Duration::from_millis(1500));
/// assert!(parse_duration("30").is_err());
/// # Ok::<(), horae::duration::DurationError>(())
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    let mut total: u128 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let (nanos, next) = parse_part(text, rest)?;
        total = total
            .checked_add(nanos)
            .filter(|total| *total <= MAX_NANOS)
            .ok_or_else(|| DurationError::Overflow {
                text: text.to_owned(),
            })?;
        rest = next;
    }
    Ok(from_nanos(total))
}

/// Reads one `<number><unit>` part from the start of `rest` (a suffix of `text`); returns
/// its length in nanoseconds and what follows it.
fn parse_part<'a>(text: &str, rest: &'a str) -> Result<(u128, &'a str), DurationError> {
    let bad_number = || DurationError::BadNumber {
        text: text.to_owned(),
    };
    let (whole, after) = split(rest, leading_digits(rest));
    let (fraction, after) = match after.strip_prefix('.') {
        None => ("", after),
        Some(after_dot) => {
            let (fraction, after) = split(after_dot, leading_digits(after_dot));
            if fraction.is_empty() {
                return Err(bad_number());
            }
            (fraction, after)
        }
    };
    if whole.is_empty() || after.starts_with('.') {
        return Err(bad_number());
    }
    let unit_len = after
        .find(|c: char| c.is_ascii_digit() || c == '.')
        .unwrap_or(after.len());
    let (unit, next) = split(after, unit_len);
    let Some(&(_, unit_nanos)) = UNITS.iter().find(|(name, _)| *name == unit) else {
        return Err(DurationError::UnknownUnit {
            text: text.to_owned(),
            unit: unit.to_owned(),
        });
    };
    let nanos = scale(whole, fraction, unit_nanos).ok_or_else(|| DurationError::Overflow {
        text: text.to_owned(),
    })?;
    Ok((nanos, next))
}

/// The number of ASCII digits at the start of `text`.
fn leading_digits(text: &str) -> usize {
    text.bytes().take_while(u8::is_ascii_digit).count()
}

/// `text.split_at(at)`, but never panics (an invalid `at` keeps everything on the left).
fn split(text: &str, at: usize) -> (&str, &str) {
    text.split_at_checked(at).unwrap_or((text, ""))
}

/// `whole.fraction × unit` in nanoseconds, or `None` beyond [`MAX`]. Both parts are ASCII
/// digits; fraction digits finer than a nanosecond are dropped.
fn scale(whole: &str, fraction: &str, unit_nanos: u128) -> Option<u128> {
    let whole: u128 = whole.parse().ok()?;
    let mut nanos = whole.checked_mul(unit_nanos)?;
    let mut place = unit_nanos;
    for digit in fraction.bytes() {
        place /= 10;
        if place == 0 {
            break;
        }
        nanos = nanos.checked_add(u128::from(digit.saturating_sub(b'0')) * place)?;
    }
    (nanos <= MAX_NANOS).then_some(nanos)
}

/// A duration from nanoseconds known to be at most [`MAX_NANOS`].
fn from_nanos(nanos: u128) -> Duration {
    let secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
    let subsec = u32::try_from(nanos % 1_000_000_000).unwrap_or(0);
    Duration::new(secs, subsec)
}

/// Formats a duration canonically: largest units first, each at most once, zero parts left
/// out (`1h30m`, `1m500ms`, `1w1d`, `0s`); a part below one microsecond is written as a
/// fraction of `us` (`1.5us`).
///
/// For every duration up to [`MAX`], `parse_duration(&format_duration(d)) == Ok(d)`. A
/// longer duration is formatted the same way, but [`parse_duration`] rejects the text.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use horae::duration::format_duration;
///
/// assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
/// assert_eq!(format_duration(Duration::from_millis(1500)), "1s500ms");
/// ```
pub fn format_duration(duration: Duration) -> String {
    HumanDuration(duration).to_string()
}

/// A [`Duration`] that displays, parses and (de)serializes in the human form.
///
/// Serializing a duration longer than [`MAX`] is an error. Deserializing accepts a human
/// string or a non-negative number of seconds (integer or float); negative numbers, NaN,
/// booleans and anything else are rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HumanDuration(pub Duration);

impl From<Duration> for HumanDuration {
    fn from(duration: Duration) -> HumanDuration {
        HumanDuration(duration)
    }
}

impl From<HumanDuration> for Duration {
    fn from(duration: HumanDuration) -> Duration {
        duration.0
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.as_nanos();
        if nanos == 0 {
            return f.write_str("0s");
        }
        let mut rest = nanos;
        // Every unit but `us`, which takes the remainder (with a fraction below 1 us).
        let larger_units = UNITS
            .iter()
            .filter(|(_, unit_nanos)| *unit_nanos > NANOS_PER_MICRO);
        for (name, unit_nanos) in larger_units {
            if rest >= *unit_nanos {
                write!(f, "{}{name}", rest / unit_nanos)?;
                rest %= unit_nanos;
            }
        }
        if rest > 0 {
            let (micros, below) = (rest / NANOS_PER_MICRO, rest % NANOS_PER_MICRO);
            if below == 0 {
                write!(f, "{micros}us")?;
            } else {
                let fraction = format!("{below:03}");
                write!(f, "{micros}.{}us", fraction.trim_end_matches('0'))?;
            }
        }
        Ok(())
    }
}

impl FromStr for HumanDuration {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<HumanDuration, DurationError> {
        parse_duration(text).map(HumanDuration)
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0 > MAX {
            return Err(serde::ser::Error::custom(format!(
                "duration of {} s is too long to serialize (at most about 292,000 years)",
                self.0.as_secs()
            )));
        }
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<HumanDuration, D::Error> {
        deserializer.deserialize_any(HumanDurationVisitor)
    }
}

struct HumanDurationVisitor;

impl HumanDurationVisitor {
    fn checked<E: de::Error>(
        self,
        duration: Duration,
        unexpected: Unexpected<'_>,
    ) -> Result<HumanDuration, E> {
        if duration > MAX {
            return Err(E::invalid_value(unexpected, &self));
        }
        Ok(HumanDuration(duration))
    }
}

impl Visitor<'_> for HumanDurationVisitor {
    type Value = HumanDuration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration such as \"30s\" or \"1h30m\", or a non-negative number of seconds")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<HumanDuration, E> {
        parse_duration(text).map(HumanDuration).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, seconds: u64) -> Result<HumanDuration, E> {
        self.checked(Duration::from_secs(seconds), Unexpected::Unsigned(seconds))
    }

    fn visit_i64<E: de::Error>(self, seconds: i64) -> Result<HumanDuration, E> {
        match u64::try_from(seconds) {
            Ok(seconds) => self.visit_u64(seconds),
            Err(_) => Err(E::invalid_value(Unexpected::Signed(seconds), &self)),
        }
    }

    fn visit_f64<E: de::Error>(self, seconds: f64) -> Result<HumanDuration, E> {
        match Duration::try_from_secs_f64(seconds) {
            Ok(duration) => self.checked(duration, Unexpected::Float(seconds)),
            Err(_) => Err(E::invalid_value(Unexpected::Float(seconds), &self)),
        }
    }
}

/// For a `Duration` field: `#[serde(with = "horae::duration::serde_human")]`.
///
/// Serializes as the canonical human string; deserializes from a human string or a
/// non-negative number of seconds (see [`HumanDuration`]).
pub mod serde_human {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::HumanDuration;

    /// Serializes as the canonical human string (`"1h30m"`).
    ///
    /// # Errors
    ///
    /// When the duration exceeds [`MAX`](super::MAX), or the serializer fails.
    pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        HumanDuration(*duration).serialize(serializer)
    }

    /// Deserializes from a human string or a non-negative number of seconds.
    ///
    /// # Errors
    ///
    /// For an invalid string, a negative or non-finite number, a number beyond
    /// [`MAX`](super::MAX), or a value of another type.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        HumanDuration::deserialize(deserializer).map(|d| d.0)
    }
}

/// For an `Option<Duration>` field: `#[serde(default, with = "horae::duration::serde_human_opt")]`.
///
/// `None` is `null`; `Some` is handled as in [`serde_human`]. Add
/// `default` so that a missing field is `None`.
pub mod serde_human_opt {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::HumanDuration;

    /// Serializes `Some` as the canonical human string and `None` as `null`.
    ///
    /// # Errors
    ///
    /// When the duration exceeds [`MAX`](super::MAX), or the serializer fails.
    pub fn serialize<S: Serializer>(
        duration: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        duration.map(HumanDuration).serialize(serializer)
    }

    /// Deserializes `null` as `None`, anything else like [`serde_human`](super::serde_human).
    ///
    /// # Errors
    ///
    /// As [`serde_human::deserialize`](super::serde_human::deserialize).
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        Option::<HumanDuration>::deserialize(deserializer).map(|d| d.map(|d| d.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_config_formats() {
        for (text, expected) in [
            ("500ms", Duration::from_millis(500)),
            ("30s", Duration::from_secs(30)),
            ("10m", Duration::from_secs(600)),
            ("1h30m", Duration::from_secs(5400)),
            ("2d", Duration::from_secs(172_800)),
            ("1w", Duration::from_secs(604_800)),
            ("1.5s", Duration::from_millis(1500)),
            ("250us", Duration::from_micros(250)),
            ("0s", Duration::ZERO),
            ("0.5m", Duration::from_secs(30)),
            ("1.5us", Duration::from_nanos(1500)),
            ("30m1h", Duration::from_secs(5400)),
            ("1s1s", Duration::from_secs(2)),
            ("007s", Duration::from_secs(7)),
            ("1.0000000019s", Duration::from_nanos(1_000_000_001)),
        ] {
            assert_eq!(parse_duration(text), Ok(expected), "{text}");
        }
        assert_eq!(parse_duration("9223372036854775807us"), Ok(MAX));
    }

    #[test]
    fn rejects_bad_input_with_a_typed_error() {
        fn bad_number(text: &str) -> DurationError {
            DurationError::BadNumber { text: text.into() }
        }
        fn unknown_unit(text: &str, unit: &str) -> DurationError {
            DurationError::UnknownUnit {
                text: text.into(),
                unit: unit.into(),
            }
        }
        fn overflow(text: &str) -> DurationError {
            DurationError::Overflow { text: text.into() }
        }
        for (text, expected) in [
            ("", DurationError::Empty),
            ("s", bad_number("s")),
            ("-5s", bad_number("-5s")),
            ("+5s", bad_number("+5s")),
            (".5s", bad_number(".5s")),
            ("1.s", bad_number("1.s")),
            ("1.2.3s", bad_number("1.2.3s")),
            ("1h.5m", bad_number("1h.5m")),
            (" 5s", bad_number(" 5s")),
            ("30", unknown_unit("30", "")),
            ("1h30", unknown_unit("1h30", "")),
            ("5 s", unknown_unit("5 s", " s")),
            ("5s ", unknown_unit("5s ", "s ")),
            ("10y", unknown_unit("10y", "y")),
            ("10S", unknown_unit("10S", "S")),
            ("1µs", unknown_unit("1µs", "µs")),
            ("9223372036854775808us", overflow("9223372036854775808us")),
            ("15250285w", overflow("15250285w")),
            ("7625143w7625143w", overflow("7625143w7625143w")),
            (
                "999999999999999999999999999999999999999999s",
                overflow("999999999999999999999999999999999999999999s"),
            ),
        ] {
            assert_eq!(parse_duration(text), Err(expected), "{text:?}");
        }
    }

    #[test]
    fn error_messages_quote_the_input() {
        let message = |text: &str| parse_duration(text).unwrap_err().to_string();
        assert_eq!(
            message(""),
            "empty duration (expected e.g. 30s, 500ms, 1h30m)"
        );
        assert_eq!(
            message("30"),
            "invalid duration \"30\": a number needs a unit (us, ms, s, m, h, d or w)"
        );
        assert_eq!(
            message("10y"),
            "invalid duration \"10y\": unknown unit \"y\" (expected us, ms, s, m, h, d or w)"
        );
        assert!(message("-5s").starts_with("invalid duration \"-5s\": expected a number"));
        assert_eq!(
            message("99999999w"),
            "duration \"99999999w\" is too long (at most about 292,000 years)"
        );
    }

    #[test]
    fn formats_canonically() {
        for (duration, text) in [
            (Duration::ZERO, "0s"),
            (Duration::from_secs(5400), "1h30m"),
            (Duration::from_millis(60_500), "1m500ms"),
            (Duration::from_secs(691_200), "1w1d"),
            (Duration::from_micros(1_000_001), "1s1us"),
            (Duration::from_nanos(1), "0.001us"),
            (Duration::from_nanos(1_500), "1.5us"),
            (Duration::new(3_600, 120), "1h0.12us"),
            (MAX, "15250284w3d4h54s775ms807us"),
        ] {
            assert_eq!(format_duration(duration), text);
            assert_eq!(parse_duration(text), Ok(duration), "{text}");
        }
    }

    #[derive(Debug, PartialEq, serde::Deserialize, serde::Serialize)]
    struct Config {
        #[serde(with = "serde_human")]
        every: Duration,
        #[serde(with = "serde_human_opt", default)]
        timeout: Option<Duration>,
    }

    #[test]
    fn serde_writes_strings_and_reads_strings_or_seconds() {
        let config: Config = serde_json::from_str(r#"{"every": "1m", "timeout": 1.5}"#).unwrap();
        assert_eq!(
            config,
            Config {
                every: Duration::from_secs(60),
                timeout: Some(Duration::from_millis(1500)),
            }
        );
        assert_eq!(
            serde_json::to_value(&config).unwrap(),
            serde_json::json!({"every": "1m", "timeout": "1s500ms"})
        );
        for (text, every, timeout) in [
            (r#"{"every": 30}"#, Duration::from_secs(30), None),
            (r#"{"every": 0, "timeout": null}"#, Duration::ZERO, None),
            (
                r#"{"every": 0.25, "timeout": "2h"}"#,
                Duration::from_millis(250),
                Some(Duration::from_secs(7200)),
            ),
            (
                r#"{"every": 9223372036854}"#,
                Duration::from_secs(9_223_372_036_854),
                None,
            ),
        ] {
            assert_eq!(
                serde_json::from_str::<Config>(text).unwrap(),
                Config { every, timeout },
                "{text}"
            );
        }
    }

    #[test]
    fn serde_rejects_negative_non_finite_and_wrong_types() {
        for (text, why) in [
            (r#"{"every": -1}"#, "invalid value: integer `-1`"),
            (r#"{"every": -0.5}"#, "invalid value: floating point `-0.5`"),
            (r#"{"every": 1e300}"#, "invalid value: floating point"),
            (
                r#"{"every": 9223372036855}"#,
                "invalid value: integer `9223372036855`",
            ),
            (r#"{"every": true}"#, "invalid type: boolean `true`"),
            (r#"{"every": [1]}"#, "invalid type: sequence"),
            (r#"{"every": null}"#, "invalid type: null"),
            (r#"{"every": "1x"}"#, "unknown unit \"x\""),
            (
                r#"{"every": "1s", "timeout": false}"#,
                "invalid type: boolean `false`",
            ),
            (
                r#"{"every": "1s", "timeout": -3}"#,
                "invalid value: integer `-3`",
            ),
            (r#"{"timeout": "1s"}"#, "missing field `every`"),
        ] {
            let error = serde_json::from_str::<Config>(text)
                .unwrap_err()
                .to_string();
            assert!(error.contains(why), "{text}: {error}");
        }
        // NaN and infinities cannot be written in JSON; they reach the visitor from other
        // formats.
        for value in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let result: Result<HumanDuration, serde_json::Error> =
                HumanDurationVisitor.visit_f64(value);
            assert!(result.is_err(), "{value}");
        }
    }

    #[test]
    fn serializing_beyond_the_limit_is_an_error() {
        let too_long = Config {
            every: MAX + Duration::from_nanos(1),
            timeout: None,
        };
        assert!(serde_json::to_string(&too_long).is_err());
        let too_long_opt = Config {
            every: MAX,
            timeout: Some(Duration::MAX),
        };
        assert!(serde_json::to_string(&too_long_opt).is_err());
    }

    fn any_duration() -> impl Strategy<Value = Duration> {
        prop_oneof![
            (0u64..=MAX.as_secs(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
            (0u64..10_000_000_000_000).prop_map(Duration::from_nanos),
            (0u64..1_000_000).prop_map(Duration::from_millis),
        ]
        .prop_filter("at most MAX", |d| *d <= MAX)
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in any::<String>()) {
            if let Ok(duration) = parse_duration(&text) {
                prop_assert!(duration <= MAX);
            }
        }

        #[test]
        fn near_miss_text_never_panics(text in "[0-9.a-zµ -]{0,30}") {
            if let Ok(duration) = parse_duration(&text) {
                prop_assert!(duration <= MAX);
            }
        }

        #[test]
        fn format_round_trips(duration in any_duration()) {
            let text = format_duration(duration);
            prop_assert_eq!(parse_duration(&text), Ok(duration), "{}", text);
        }

        #[test]
        fn serde_round_trips(every in any_duration(), timeout in proptest::option::of(any_duration())) {
            let config = Config { every, timeout };
            let json = serde_json::to_string(&config).unwrap();
            prop_assert_eq!(serde_json::from_str::<Config>(&json).unwrap(), config);
        }

        #[test]
        fn whole_seconds_read_as_numbers(seconds in 0u64..=MAX.as_secs()) {
            let json = format!(r#"{{"every": {seconds}}}"#);
            let config: Config = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(config.every, Duration::from_secs(seconds));
        }

        #[test]
        fn parts_add_up(parts in proptest::collection::vec((0u64..1000, 0usize..7), 1..6)) {
            let text: String = parts.iter().map(|(n, u)| format!("{n}{}", UNITS[*u].0)).collect();
            let expected: u128 = parts.iter().map(|(n, u)| u128::from(*n) * UNITS[*u].1).sum();
            prop_assert_eq!(parse_duration(&text), Ok(from_nanos(expected)));
        }
    }
}
