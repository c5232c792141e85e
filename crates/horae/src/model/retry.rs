//! Retry policies: how many attempts a job gets and how long to wait between them.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::serde_human;
use crate::error::ValidationError;

/// Exponential backoff for failed jobs: attempt `n + 1` waits `initial × multiplierⁿ⁻¹`,
/// capped at `max`, with "full jitter" (a uniform draw from zero to that) when `jitter` is on.
///
/// Deserializes from the config form `{ max_attempts = 3, initial = "1s", max = "1m" }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Total attempts including the first (1 = never retry).
    pub max_attempts: u32,
    /// Delay before the first retry.
    #[serde(with = "serde_human")]
    pub initial: Duration,
    /// Upper bound on any delay.
    #[serde(with = "serde_human")]
    pub max: Duration,
    /// Growth factor of the delay per attempt (default 2).
    #[serde(default = "default_multiplier")]
    pub multiplier: f64,
    /// Whether to randomize delays between zero and the computed delay (default true).
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
    /// A [`ValidationError`] when `max_attempts` is 0, `multiplier` is below 1 or not finite,
    /// or `initial` exceeds `max`.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.max_attempts == 0 {
            return Err(ValidationError::new(
                "retry.max_attempts",
                "retry.max_attempts must be at least 1",
            ));
        }
        if !(self.multiplier.is_finite() && self.multiplier >= 1.0) {
            return Err(ValidationError::new(
                "retry.multiplier",
                "retry.multiplier must be a number >= 1",
            ));
        }
        if self.initial > self.max {
            return Err(ValidationError::new(
                "retry.initial",
                "retry.initial must not exceed retry.max",
            ));
        }
        Ok(())
    }

    /// The delay before attempt `attempt + 1` after attempt `attempt` (1-based) failed, or
    /// `None` when no attempts are left. `random` in `[0, 1)` drives the jitter, so callers
    /// (and tests) control the randomness.
    pub fn delay(&self, attempt: u32, random: f64) -> Option<Duration> {
        if attempt == 0 || attempt >= self.max_attempts {
            return None;
        }
        let exponent = i32::try_from(attempt - 1).unwrap_or(i32::MAX);
        let base = self.initial.as_secs_f64() * self.multiplier.powi(exponent);
        let capped = base.min(self.max.as_secs_f64());
        let seconds = if self.jitter {
            capped * random.clamp(0.0, 1.0)
        } else {
            capped
        };
        Some(Duration::from_secs_f64(seconds.max(0.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_config_form() {
        let policy: RetryPolicy =
            serde_json::from_str(r#"{"max_attempts": 3, "initial": "1s", "max": "1m"}"#).unwrap();
        assert_eq!(
            policy,
            RetryPolicy::new(3, Duration::from_secs(1), Duration::from_secs(60))
        );
        assert!(
            serde_json::from_str::<RetryPolicy>(
                r#"{"max_attempts": 3, "initial": "1s", "max": "1m", "x": 1}"#
            )
            .is_err()
        );
    }

    #[test]
    fn backs_off_exponentially_up_to_the_cap() {
        let mut policy = RetryPolicy::new(10, Duration::from_secs(1), Duration::from_secs(5));
        policy.jitter = false;
        let delays: Vec<_> = (1..10)
            .map(|a| policy.delay(a, 0.5).unwrap().as_secs_f64())
            .collect();
        assert_eq!(delays, [1.0, 2.0, 4.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0]);
        assert_eq!(policy.delay(10, 0.5), None);
        policy.jitter = true;
        assert_eq!(policy.delay(3, 0.25), Some(Duration::from_secs(1)));
    }

    #[test]
    fn invalid_policies_name_the_field() {
        let mut policy = RetryPolicy::new(0, Duration::from_secs(1), Duration::from_secs(5));
        assert_eq!(policy.validate().unwrap_err().field(), "retry.max_attempts");
        policy.max_attempts = 2;
        policy.multiplier = 0.5;
        assert_eq!(policy.validate().unwrap_err().field(), "retry.multiplier");
        policy.multiplier = 2.0;
        policy.initial = Duration::from_secs(10);
        assert_eq!(policy.validate().unwrap_err().field(), "retry.initial");
    }
}
