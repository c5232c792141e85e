//! Retry policies: how many attempts a job gets and how long to wait between them.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::serde_human;
use crate::error::ValidationError;

/// Exponential backoff for failed jobs.
///
/// After attempt `n` (1-based) fails and `n < max_attempts`, the job is re-queued as attempt
/// `n + 1` after a delay of `initial × multiplier^(n−1)`, capped at `max`; with `jitter` on
/// the delay is drawn uniformly from zero to that ("full jitter"). See
/// [`delay`](RetryPolicy::delay).
///
/// Deserializes from the config form `{ max_attempts = 3, initial = "1s", max = "1m" }`
/// (durations as in [`crate::duration`]; `multiplier` and `jitter` may be omitted; unknown
/// keys are rejected). Deserializing does not validate; call
/// [`validate`](RetryPolicy::validate).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Total attempts including the first; at least 1 (1 = never retry).
    pub max_attempts: u32,
    /// Delay before the first retry (before jitter).
    #[serde(with = "serde_human")]
    pub initial: Duration,
    /// Upper bound on any delay; at least `initial`.
    #[serde(with = "serde_human")]
    pub max: Duration,
    /// Growth factor of the delay per attempt; finite and at least 1 (default 2).
    #[serde(default = "default_multiplier")]
    pub multiplier: f64,
    /// Whether each delay is drawn uniformly from zero to the computed delay (default true),
    /// which spreads retries of many failed jobs over time.
    #[serde(default = "default_jitter")]
    pub jitter: bool,
}

fn default_multiplier() -> f64 {
    2.0
}

fn default_jitter() -> bool {
    true
}

impl RetryPolicy {
    /// A policy with the default multiplier (2) and jitter on.
    pub fn new(max_attempts: u32, initial: Duration, max: Duration) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            initial,
            max,
            multiplier: default_multiplier(),
            jitter: default_jitter(),
        }
    }

    /// Checks the policy.
    ///
    /// # Errors
    ///
    /// A [`ValidationError`] naming the field (`retry.max_attempts`, `retry.multiplier`,
    /// `retry.initial`) when `max_attempts` is 0, `multiplier` is below 1 or not finite, or
    /// `initial` exceeds `max`.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.max_attempts == 0 {
            return Err(ValidationError::new(
                "retry.max_attempts",
                "retry.max_attempts must be at least 1 (1 means no retry), got 0",
            ));
        }
        if !(self.multiplier.is_finite() && self.multiplier >= 1.0) {
            return Err(ValidationError::new(
                "retry.multiplier",
                format!(
                    "retry.multiplier must be a finite number of at least 1, got {}",
                    self.multiplier
                ),
            ));
        }
        if self.initial > self.max {
            return Err(ValidationError::new(
                "retry.initial",
                format!(
                    "retry.initial ({}) must not exceed retry.max ({})",
                    crate::duration::format_duration(self.initial),
                    crate::duration::format_duration(self.max)
                ),
            ));
        }
        Ok(())
    }

    /// The delay before retrying after attempt `attempt` (1-based) failed, or `None` when
    /// no attempts are left (`attempt >= max_attempts`, or `attempt` is 0).
    ///
    /// The delay is `initial × multiplier^(attempt−1)`, capped at `max`; with jitter it is
    /// scaled by `rand01`, a caller-supplied random number in `[0, 1]` (clamped; NaN counts
    /// as 0), so tests control the randomness. Never panics, even for an unvalidated policy;
    /// the result never exceeds `max`.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// use horae::model::RetryPolicy;
    ///
    /// let mut policy = RetryPolicy::new(4, Duration::from_secs(1), Duration::from_secs(3));
    /// policy.jitter = false;
    /// assert_eq!(policy.delay(1, 0.0), Some(Duration::from_secs(1)));
    /// assert_eq!(policy.delay(2, 0.0), Some(Duration::from_secs(2)));
    /// assert_eq!(policy.delay(3, 0.0), Some(Duration::from_secs(3))); // capped
    /// assert_eq!(policy.delay(4, 0.0), None); // all 4 attempts used
    /// ```
    pub fn delay(&self, attempt: u32, rand01: f64) -> Option<Duration> {
        if attempt == 0 || attempt >= self.max_attempts {
            return None;
        }
        let exponent = i32::try_from(attempt - 1).unwrap_or(i32::MAX);
        let base = self.initial.as_secs_f64() * self.multiplier.powi(exponent);
        let factor = if self.jitter {
            if rand01.is_nan() {
                0.0
            } else {
                rand01.clamp(0.0, 1.0)
            }
        } else {
            1.0
        };
        let seconds = base * factor;
        let delay = Duration::try_from_secs_f64(seconds).unwrap_or(if seconds > 0.0 {
            self.max
        } else {
            Duration::ZERO
        });
        Some(delay.min(self.max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn reads_the_config_form() {
        let policy: RetryPolicy =
            serde_json::from_str(r#"{"max_attempts": 3, "initial": "1s", "max": "1m"}"#).unwrap();
        assert_eq!(policy, RetryPolicy::new(3, secs(1), secs(60)));
        assert_eq!((policy.multiplier, policy.jitter), (2.0, true));
        let policy: RetryPolicy = serde_json::from_str(
            r#"{"max_attempts": 5, "initial": 0.5, "max": "1h", "multiplier": 3, "jitter": false}"#,
        )
        .unwrap();
        assert_eq!(policy.initial, Duration::from_millis(500));
        assert_eq!((policy.multiplier, policy.jitter), (3.0, false));
        assert_eq!(
            serde_json::to_value(&policy).unwrap(),
            serde_json::json!({"max_attempts": 5, "initial": "500ms", "max": "1h", "multiplier": 3.0, "jitter": false})
        );
    }

    #[test]
    fn rejects_malformed_config() {
        for (text, why) in [
            (
                r#"{"max_attempts": 3, "initial": "1s", "max": "1m", "x": 1}"#,
                "unknown field `x`",
            ),
            (
                r#"{"max_attempts": 3, "initial": "1s"}"#,
                "missing field `max`",
            ),
            (
                r#"{"max_attempts": -1, "initial": "1s", "max": "1m"}"#,
                "invalid value: integer `-1`",
            ),
            (
                r#"{"max_attempts": 3, "initial": "soon", "max": "1m"}"#,
                "invalid duration \"soon\"",
            ),
            (
                r#"{"max_attempts": 3, "initial": -1, "max": "1m"}"#,
                "invalid value: integer `-1`",
            ),
            (
                r#"{"max_attempts": 3, "initial": "1s", "max": true}"#,
                "invalid type: boolean",
            ),
        ] {
            let error = serde_json::from_str::<RetryPolicy>(text)
                .unwrap_err()
                .to_string();
            assert!(error.contains(why), "{text}: {error}");
        }
    }

    #[test]
    fn backs_off_exponentially_up_to_the_cap() {
        let mut policy = RetryPolicy::new(10, secs(1), secs(5));
        policy.jitter = false;
        let delays: Vec<_> = (1..10).map(|a| policy.delay(a, 0.5).unwrap()).collect();
        assert_eq!(delays, [1, 2, 4, 5, 5, 5, 5, 5, 5].map(secs));
        assert_eq!(policy.delay(10, 0.5), None);
        assert_eq!(policy.delay(11, 0.5), None);
        assert_eq!(policy.delay(0, 0.5), None);
        assert_eq!(policy.delay(u32::MAX - 1, 0.5), None);
        policy.max_attempts = u32::MAX;
        assert_eq!(policy.delay(u32::MAX - 1, 0.5), Some(secs(5)));
    }

    #[test]
    fn full_jitter_scales_by_the_given_number() {
        let policy = RetryPolicy::new(5, secs(4), secs(60));
        assert_eq!(policy.delay(1, 0.25), Some(secs(1)));
        assert_eq!(policy.delay(2, 0.25), Some(secs(2)));
        assert_eq!(policy.delay(3, 0.5), Some(secs(8)));
        assert_eq!(policy.delay(3, 0.0), Some(Duration::ZERO));
        assert_eq!(policy.delay(3, 1.0), Some(secs(16)));
        assert_eq!(policy.delay(3, 7.0), Some(secs(16)), "clamped to 1");
        assert_eq!(policy.delay(3, -1.0), Some(Duration::ZERO), "clamped to 0");
        assert_eq!(policy.delay(3, f64::NAN), Some(Duration::ZERO));
    }

    #[test]
    fn one_attempt_means_no_retry() {
        let policy = RetryPolicy::new(1, secs(1), secs(1));
        assert!(policy.validate().is_ok());
        assert_eq!(policy.delay(1, 0.5), None);
    }

    #[test]
    fn invalid_policies_name_the_field() {
        let mut policy = RetryPolicy::new(0, secs(1), secs(5));
        let error = policy.validate().unwrap_err();
        assert_eq!(error.field(), "retry.max_attempts");
        assert_eq!(
            error.to_string(),
            "retry.max_attempts must be at least 1 (1 means no retry), got 0"
        );
        policy.max_attempts = 2;
        for multiplier in [0.5, -2.0, f64::NAN, f64::INFINITY] {
            policy.multiplier = multiplier;
            let error = policy.validate().unwrap_err();
            assert_eq!(error.field(), "retry.multiplier");
            assert!(
                error.to_string().starts_with("retry.multiplier must be"),
                "{error}"
            );
        }
        policy.multiplier = 1.0;
        assert!(policy.validate().is_ok(), "a constant delay is fine");
        policy.initial = secs(10);
        let error = policy.validate().unwrap_err();
        assert_eq!(error.field(), "retry.initial");
        assert_eq!(
            error.to_string(),
            "retry.initial (10s) must not exceed retry.max (5s)"
        );
    }

    proptest! {
        #[test]
        fn delays_never_panic_and_never_exceed_max(
            max_attempts in any::<u32>(),
            initial_ms in any::<u64>(),
            max_ms in any::<u64>(),
            multiplier in any::<f64>(),
            jitter in any::<bool>(),
            attempt in any::<u32>(),
            rand01 in any::<f64>(),
        ) {
            let policy = RetryPolicy {
                max_attempts,
                initial: Duration::from_millis(initial_ms),
                max: Duration::from_millis(max_ms),
                multiplier,
                jitter,
            };
            match policy.delay(attempt, rand01) {
                Some(delay) => {
                    prop_assert!(attempt >= 1 && attempt < max_attempts);
                    prop_assert!(delay <= policy.max);
                }
                None => prop_assert!(attempt == 0 || attempt >= max_attempts),
            }
        }

        #[test]
        fn delays_grow_until_the_cap(
            initial_ms in 0u64..10_000,
            extra_ms in 0u64..1_000_000,
            multiplier in 1.0f64..10.0,
            attempt in 1u32..60,
        ) {
            let mut policy = RetryPolicy::new(100, Duration::from_millis(initial_ms), Duration::from_millis(initial_ms + extra_ms));
            policy.multiplier = multiplier;
            policy.jitter = false;
            prop_assert!(policy.validate().is_ok());
            let (this, next) = (policy.delay(attempt, 0.0).unwrap(), policy.delay(attempt + 1, 0.0).unwrap());
            prop_assert!(this <= next);
            prop_assert!(policy.delay(1, 0.0).unwrap().abs_diff(policy.initial) < Duration::from_micros(1));
        }

        #[test]
        fn valid_policies_round_trip(
            max_attempts in 1u32..100,
            initial_ms in 0u64..100_000,
            extra_ms in 0u64..100_000_000,
            // Decimal multipliers as written in configs; serde_json (without its
            // `float_roundtrip` feature) may read other floats back one ULP off.
            multiplier_hundredths in 100u32..1000,
            jitter in any::<bool>(),
        ) {
            let multiplier = f64::from(multiplier_hundredths) / 100.0;
            let policy = RetryPolicy {
                max_attempts,
                initial: Duration::from_millis(initial_ms),
                max: Duration::from_millis(initial_ms + extra_ms),
                multiplier,
                jitter,
            };
            prop_assert!(policy.validate().is_ok());
            let json = serde_json::to_string(&policy).unwrap();
            prop_assert_eq!(serde_json::from_str::<RetryPolicy>(&json).unwrap(), policy);
        }
    }
}
