//! A gate that fails publishing fast while the server is known to be down.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use horae::backoff::Backoff;

/// Fails calls fast while a connection is known to be down: after a failure, calls are
/// refused until a backoff delay has passed, then one is let through to try again.
#[derive(Debug)]
pub(super) struct Gate {
    state: Mutex<GateState>,
}

#[derive(Debug)]
struct GateState {
    backoff: Backoff,
    closed_until: Option<Instant>,
}

impl Gate {
    /// An open gate.
    pub(super) fn new() -> Gate {
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
    pub(super) fn check(&self) -> Result<(), Duration> {
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
    pub(super) fn succeeded(&self) {
        let mut state = self.lock();
        state.backoff.reset();
        state.closed_until = None;
    }

    /// A call failed: refuse calls for the next backoff delay, which is returned.
    pub(super) fn failed(&self) -> Duration {
        let mut state = self.lock();
        let delay = state.backoff.next_delay();
        state.closed_until = Some(Instant::now() + delay);
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use horae::backoff::MIN_DELAY;

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
