//! Exponential backoff with jitter for retrying an unavailable store or broker: 100 ms
//! doubling up to 10 s (DESIGN.md invariant 10), and a [`Gate`] that fails calls fast
//! while a connection is known to be down.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

/// Fails calls fast while a connection is known to be down: after a failure, calls are
/// refused until a backoff delay has passed, then one is let through to try again.
#[derive(Debug)]
pub struct Gate {
    state: Mutex<GateState>,
}

#[derive(Debug)]
struct GateState {
    backoff: Backoff,
    closed_until: Option<Instant>,
}

impl Default for Gate {
    fn default() -> Gate {
        Gate::new()
    }
}

impl Gate {
    /// An open gate.
    pub fn new() -> Gate {
        Gate {
            state: Mutex::new(GateState {
                backoff: Backoff::new(),
                closed_until: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        // Nothing panics while this is locked; a poisoned lock still holds a valid state.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `Err(remaining)` while calls are refused after a failure.
    pub fn check(&self) -> Result<(), Duration> {
        match self.lock().closed_until {
            Some(until) => {
                let now = Instant::now();
                if now < until {
                    Err(until - now)
                } else {
                    Ok(())
                }
            }
            None => Ok(()),
        }
    }

    /// A call succeeded: open the gate and reset the backoff.
    pub fn succeeded(&self) {
        let mut state = self.lock();
        state.backoff.reset();
        state.closed_until = None;
    }

    /// A call failed: refuse calls for the next backoff delay, which is returned.
    pub fn failed(&self) -> Duration {
        let mut state = self.lock();
        let delay = state.backoff.next_delay();
        state.closed_until = Some(Instant::now() + delay);
        delay
    }
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

    #[test]
    fn the_gate_refuses_calls_after_a_failure_until_the_delay_passed() {
        let gate = Gate::new();
        assert!(gate.check().is_ok());
        let delay = gate.failed();
        assert!(delay <= MIN_DELAY);
        assert!(gate.check().is_err());
        std::thread::sleep(delay);
        assert!(gate.check().is_ok());
        gate.failed();
        gate.succeeded();
        assert!(gate.check().is_ok());
    }
}
