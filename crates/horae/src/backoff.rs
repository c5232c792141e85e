//! Exponential backoff with jitter for retrying an unavailable store or broker: 100 ms
//! doubling up to 10 s (DESIGN.md invariant 10).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// The first delay.
pub const MIN_DELAY: Duration = Duration::from_millis(100);
/// The longest delay.
pub const MAX_DELAY: Duration = Duration::from_secs(10);

/// Delays between attempts: 100 ms doubling to a 10 s cap, each drawn at random
/// from the upper half of its step so that nodes do not retry in lockstep.
#[derive(Debug, Clone)]
pub struct Backoff {
    step: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff::new()
    }
}

impl Backoff {
    /// A backoff at its first step.
    pub fn new() -> Backoff {
        Backoff { step: MIN_DELAY }
    }

    /// Back to the first step, after a success.
    pub fn reset(&mut self) {
        self.step = MIN_DELAY;
    }

    /// The delay before the next attempt; doubles the step.
    pub fn next_delay(&mut self) -> Duration {
        let step = self.step;
        self.step = (step * 2).min(MAX_DELAY);
        jittered(step)
    }
}

/// A random duration between half of `step` and `step`.
fn jittered(step: Duration) -> Duration {
    // A fresh `RandomState` is randomly keyed: enough randomness for jitter, no extra crate.
    let random = RandomState::new().build_hasher().finish();
    let fraction = (random >> 11) as f64 / (1u64 << 53) as f64;
    step / 2 + step.mul_f64(fraction / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_with_jitter() {
        let mut backoff = Backoff::new();
        let mut step = MIN_DELAY;
        for _ in 0..12 {
            let delay = backoff.next_delay();
            assert!(
                delay >= step / 2 && delay <= step,
                "{delay:?} for step {step:?}"
            );
            step = (step * 2).min(MAX_DELAY);
        }
        assert_eq!(step, MAX_DELAY);
        backoff.reset();
        assert!(backoff.next_delay() <= MIN_DELAY);
    }
}
